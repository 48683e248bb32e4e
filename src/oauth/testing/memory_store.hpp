// In-memory implementations of the token service's ports, for unit tests. Maps under a
// mutex; every method is thread-safe. fail_next() makes the next call of any method fail
// with kUnavailable, to test error paths. commit_policy is all or nothing, as the port
// requires: it works on copies and swaps them in only when every part succeeded.
#pragma once

#include <algorithm>
#include <cstdint>
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
                          public SettingStore,
                          public PolicyStore {
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

  // PolicyStore
  Result<void> commit_policy(const PolicyVersion& version, const std::vector<Client>& create,
                             const std::vector<Client>& update,
                             const std::vector<std::string>& remove) override {
    std::lock_guard lock(mu_);
    SIGIL_CHECK(injected_failure());
    SIGIL_CHECK(check_policy_version(version));
    const std::int64_t next = versions_.empty() ? 1 : versions_.rbegin()->first + 1;
    if (version.version != next) {
      return std::unexpected(
          Error::already_exists("policy version " + std::to_string(version.version)));
    }
    auto clients = clients_;
    for (const auto& c : create) {
      if (c.id.empty()) return std::unexpected(Error::invalid_argument("client id is empty"));
      if (!clients.emplace(c.id, c).second) {
        return std::unexpected(Error::already_exists("client " + c.id));
      }
    }
    for (const auto& c : update) {
      auto it = clients.find(c.id);
      if (it == clients.end()) return std::unexpected(Error::not_found("client " + c.id));
      it->second = c;
    }
    for (const auto& id : remove) {
      if (clients.erase(id) == 0) return std::unexpected(Error::not_found("client " + id));
    }
    clients_.swap(clients);
    versions_.emplace(version.version, version);
    return Ok();
  }
  Result<std::optional<PolicyVersion>> latest_policy_version() override {
    std::lock_guard lock(mu_);
    SIGIL_CHECK(injected_failure());
    if (versions_.empty()) return std::optional<PolicyVersion>{};
    return std::optional<PolicyVersion>{versions_.rbegin()->second};
  }
  Result<PolicyVersion> get_policy_version(std::int64_t version) override {
    std::lock_guard lock(mu_);
    SIGIL_CHECK(injected_failure());
    auto it = versions_.find(version);
    if (it == versions_.end()) return std::unexpected(Error::not_found("policy version"));
    return it->second;
  }
  Result<std::vector<PolicyVersion>> list_policy_versions() override {
    std::lock_guard lock(mu_);
    SIGIL_CHECK(injected_failure());
    std::vector<PolicyVersion> out;
    for (auto it = versions_.rbegin(); it != versions_.rend(); ++it) {
      out.push_back(it->second);
      out.back().document.clear();
    }
    return out;
  }

  // Direct access for tests (no failure injection).
  std::map<std::string, Client, std::less<>> clients() const {
    std::lock_guard lock(mu_);
    return clients_;
  }
  std::size_t policy_version_count() const {
    std::lock_guard lock(mu_);
    return versions_.size();
  }
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

  // The checks of PolicyStore::commit_policy (oauth/ports.hpp).
  static Result<void> check_policy_version(const PolicyVersion& v) {
    const bool hex = v.sha256_hex.size() == 64 &&
                     std::all_of(v.sha256_hex.begin(), v.sha256_hex.end(), [](char c) {
                       return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
                     });
    const bool known_origin = v.origin == "apply" || v.origin == "rollback" || v.origin == "file";
    const bool rollback = v.origin == "rollback";
    if (v.version < 1 || !hex || v.applied_by.empty() || !known_origin ||
        rollback != v.rolled_back_from.has_value() ||
        (v.rolled_back_from && (*v.rolled_back_from < 1 || *v.rolled_back_from >= v.version))) {
      return std::unexpected(Error::invalid_argument("invalid policy version record"));
    }
    return Ok();
  }

  mutable std::mutex mu_;
  bool fail_next_ = false;                                     // guarded by mu_
  std::map<std::string, Client, std::less<>> clients_;         // guarded by mu_
  std::map<std::string, SigningKeyRecord, std::less<>> keys_;  // guarded by mu_
  std::map<std::string, TimePoint, std::less<>> revoked_;      // guarded by mu_
  std::map<std::string, std::string, std::less<>> settings_;   // guarded by mu_
  std::map<std::int64_t, PolicyVersion> versions_;             // guarded by mu_
};

}  // namespace sigil::oauth::testing
