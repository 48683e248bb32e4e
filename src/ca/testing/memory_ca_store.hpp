// An in-memory implementation of the certificate authority's ports, for unit tests. Maps
// under a mutex; every method is thread-safe. fail_next() makes the next call of any
// method fail with kUnavailable, to test error paths. initialise_ca is all or nothing, as
// the port requires.
#pragma once

#include <algorithm>
#include <cstddef>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "ca/ports.hpp"

namespace sigil::ca::testing {

class MemoryCaStore final : public CaStore, public CertificateStore {
 public:
  void fail_next() {
    std::lock_guard lock(mu_);
    fail_next_ = true;
  }

  // CaStore
  Result<void> initialise_ca(std::string_view trust_domain,
                             const std::vector<CaKeyRecord>& keys) override {
    std::lock_guard lock(mu_);
    SIGIL_CHECK(injected_failure());
    if (trust_domain_) return std::unexpected(Error::already_exists("trust domain"));
    auto copy = keys_;
    for (const auto& key : keys) {
      if (!copy.emplace(key.id, key).second) {
        return std::unexpected(Error::already_exists("CA key " + key.id));
      }
    }
    keys_ = std::move(copy);
    trust_domain_ = std::string(trust_domain);
    return Ok();
  }
  Result<std::optional<std::string>> get_trust_domain() override {
    std::lock_guard lock(mu_);
    SIGIL_CHECK(injected_failure());
    return trust_domain_;
  }
  Result<void> create_ca_key(const CaKeyRecord& key) override {
    std::lock_guard lock(mu_);
    SIGIL_CHECK(injected_failure());
    if (!keys_.emplace(key.id, key).second) {
      return std::unexpected(Error::already_exists("CA key " + key.id));
    }
    return Ok();
  }
  Result<void> update_ca_key(const CaKeyRecord& key) override {
    std::lock_guard lock(mu_);
    SIGIL_CHECK(injected_failure());
    auto it = keys_.find(key.id);
    if (it == keys_.end()) return std::unexpected(Error::not_found("CA key " + key.id));
    it->second = key;
    return Ok();
  }
  Result<void> import_ca_keys(const std::optional<CaKeyRecord>& new_root,
                              const CaKeyRecord& intermediate) override {
    std::lock_guard lock(mu_);
    SIGIL_CHECK(injected_failure());
    if (new_root && keys_.contains(new_root->id)) {
      return std::unexpected(Error::already_exists("CA key " + new_root->id));
    }
    auto it = keys_.find(intermediate.id);
    if (it == keys_.end()) return std::unexpected(Error::not_found("CA key " + intermediate.id));
    it->second = intermediate;
    if (new_root) keys_.emplace(new_root->id, *new_root);
    return Ok();
  }
  Result<std::vector<CaKeyRecord>> list_ca_keys() override {
    std::lock_guard lock(mu_);
    SIGIL_CHECK(injected_failure());
    std::vector<CaKeyRecord> out;
    for (const auto& [id, key] : keys_) out.push_back(key);
    std::stable_sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
      return std::tie(a.created_at, a.id) < std::tie(b.created_at, b.id);
    });
    return out;
  }

  // CertificateStore
  Result<void> record_certificate(const CertificateRecord& certificate) override {
    std::lock_guard lock(mu_);
    SIGIL_CHECK(injected_failure());
    if (!certificates_.emplace(certificate.serial_hex, certificate).second) {
      return std::unexpected(Error::already_exists("certificate " + certificate.serial_hex));
    }
    return Ok();
  }
  Result<CertificateRecord> get_certificate(std::string_view serial_hex) override {
    std::lock_guard lock(mu_);
    SIGIL_CHECK(injected_failure());
    auto it = certificates_.find(serial_hex);
    if (it == certificates_.end()) return std::unexpected(Error::not_found("certificate"));
    return it->second;
  }
  Result<std::vector<CertificateRecord>> list_certificates(
      std::optional<std::string_view> spiffe_id, std::size_t limit) override {
    if (limit < 1 || limit > 1000) {
      return std::unexpected(Error::invalid_argument("listing limit must be 1..1000"));
    }
    std::lock_guard lock(mu_);
    SIGIL_CHECK(injected_failure());
    std::vector<CertificateRecord> out;
    for (const auto& [serial, c] : certificates_) {
      if (!spiffe_id || c.spiffe_id == *spiffe_id) out.push_back(c);
    }
    std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
      return std::tie(b.issued_at, b.serial_hex) < std::tie(a.issued_at, a.serial_hex);
    });
    if (out.size() > limit) out.resize(limit);
    return out;
  }

  // For tests that tamper with what is stored.
  std::vector<CaKeyRecord> keys() {
    std::lock_guard lock(mu_);
    std::vector<CaKeyRecord> out;
    for (const auto& [id, key] : keys_) out.push_back(key);
    return out;
  }
  std::size_t certificate_count() {
    std::lock_guard lock(mu_);
    return certificates_.size();
  }

 private:
  Result<void> injected_failure() {
    if (!fail_next_) return Ok();
    fail_next_ = false;
    return std::unexpected(Error::unavailable("injected failure"));
  }

  std::mutex mu_;
  std::optional<std::string> trust_domain_;                             // guarded by mu_
  std::map<std::string, CaKeyRecord, std::less<>> keys_;                // guarded by mu_
  std::map<std::string, CertificateRecord, std::less<>> certificates_;  // guarded by mu_
  bool fail_next_ = false;                                              // guarded by mu_
};

}  // namespace sigil::ca::testing
