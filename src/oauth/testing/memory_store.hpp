// In-memory implementations of the token service's ports, for unit tests. Maps under a
// mutex; every method is thread-safe. fail_next() makes the next call of any method fail
// with kUnavailable, to test error paths.
#pragma once

#include <algorithm>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "oauth/ports.hpp"

namespace sigil::oauth::testing {

class MemoryStore final : public ClientStore,
                          public SigningKeyStore,
                          public RevocationStore,
                          public SettingStore {
 public:
  void fail_next() {
    std::lock_guard lock(mu_);
    fail_next_ = true;
  }

  // ClientStore
  Result<void> create_client(const Client& client) override {
    std::lock_guard lock(mu_);
    SIGIL_CHECK(injected_failure());
    if (!clients_.emplace(client.id, client).second) {
      return std::unexpected(Error::already_exists("client " + client.id));
    }
    return Ok();
  }
  Result<Client> get_client(std::string_view id) override {
    std::lock_guard lock(mu_);
    SIGIL_CHECK(injected_failure());
    auto it = clients_.find(id);
    if (it == clients_.end()) return std::unexpected(Error::not_found("client"));
    return it->second;
  }
  Result<std::vector<Client>> list_clients() override {
    std::lock_guard lock(mu_);
    SIGIL_CHECK(injected_failure());
    std::vector<Client> out;
    for (const auto& [id, c] : clients_) out.push_back(c);
    return out;
  }
  Result<void> update_client(const Client& client) override {
    std::lock_guard lock(mu_);
    SIGIL_CHECK(injected_failure());
    auto it = clients_.find(client.id);
    if (it == clients_.end()) return std::unexpected(Error::not_found("client"));
    it->second = client;
    return Ok();
  }

  // SigningKeyStore
  Result<void> create_signing_key(const SigningKeyRecord& key) override {
    std::lock_guard lock(mu_);
    SIGIL_CHECK(injected_failure());
    if (!keys_.emplace(key.kid, key).second) {
      return std::unexpected(Error::already_exists("signing key " + key.kid));
    }
    return Ok();
  }
  Result<std::vector<SigningKeyRecord>> list_signing_keys() override {
    std::lock_guard lock(mu_);
    SIGIL_CHECK(injected_failure());
    std::vector<SigningKeyRecord> out;
    for (const auto& [kid, k] : keys_) out.push_back(k);
    std::stable_sort(out.begin(), out.end(),
                     [](const auto& a, const auto& b) { return a.activates_at < b.activates_at; });
    return out;
  }
  Result<void> update_signing_key(const SigningKeyRecord& key) override {
    std::lock_guard lock(mu_);
    SIGIL_CHECK(injected_failure());
    auto it = keys_.find(key.kid);
    if (it == keys_.end()) return std::unexpected(Error::not_found("signing key"));
    it->second = key;
    return Ok();
  }
  Result<void> delete_signing_key(std::string_view kid) override {
    std::lock_guard lock(mu_);
    SIGIL_CHECK(injected_failure());
    auto it = keys_.find(kid);
    if (it == keys_.end()) return std::unexpected(Error::not_found("signing key"));
    keys_.erase(it);
    return Ok();
  }

  // RevocationStore
  Result<void> revoke_token(const RevokedToken& token) override {
    std::lock_guard lock(mu_);
    SIGIL_CHECK(injected_failure());
    auto& exp = revoked_[token.jti];
    exp = std::max(exp, token.expires_at);
    return Ok();
  }
  Result<std::vector<RevokedToken>> list_revoked_tokens(TimePoint now) override {
    std::lock_guard lock(mu_);
    SIGIL_CHECK(injected_failure());
    std::vector<RevokedToken> out;
    for (const auto& [jti, exp] : revoked_) {
      if (exp > now) out.push_back({jti, exp});
    }
    return out;
  }
  Result<void> purge_revoked_tokens(TimePoint expired_before) override {
    std::lock_guard lock(mu_);
    SIGIL_CHECK(injected_failure());
    std::erase_if(revoked_, [&](const auto& e) { return e.second < expired_before; });
    return Ok();
  }

  // SettingStore
  Result<std::optional<std::string>> get_setting(std::string_view name) override {
    std::lock_guard lock(mu_);
    SIGIL_CHECK(injected_failure());
    auto it = settings_.find(name);
    if (it == settings_.end()) return std::optional<std::string>{};
    return std::optional<std::string>{it->second};
  }
  Result<void> put_setting(std::string_view name, std::string_view value) override {
    std::lock_guard lock(mu_);
    SIGIL_CHECK(injected_failure());
    settings_.insert_or_assign(std::string(name), std::string(value));
    return Ok();
  }

  // Direct access for tests (no failure injection).
  std::map<std::string, SigningKeyRecord, std::less<>> signing_keys() const {
    std::lock_guard lock(mu_);
    return keys_;
  }
  std::size_t revoked_count() const {
    std::lock_guard lock(mu_);
    return revoked_.size();
  }

 private:
  Result<void> injected_failure() {
    if (!fail_next_) return Ok();
    fail_next_ = false;
    return std::unexpected(Error::unavailable("injected failure"));
  }

  mutable std::mutex mu_;
  bool fail_next_ = false;                                     // guarded by mu_
  std::map<std::string, Client, std::less<>> clients_;         // guarded by mu_
  std::map<std::string, SigningKeyRecord, std::less<>> keys_;  // guarded by mu_
  std::map<std::string, TimePoint, std::less<>> revoked_;      // guarded by mu_
  std::map<std::string, std::string, std::less<>> settings_;   // guarded by mu_
};

}  // namespace sigil::oauth::testing
