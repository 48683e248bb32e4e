// In-memory implementations of the API-key ports, for unit tests and benchmarks. Maps under
// a mutex; every method is thread-safe and consume_credit is atomic. fail_next() makes the
// next call of any method fail with kUnavailable, to test error paths.
#pragma once

#include <algorithm>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "apikeys/ports.hpp"

namespace sigil::apikeys::testing {

class MemoryStore final : public KeySpaceStore, public ApiKeyStore {
 public:
  void fail_next() {
    std::lock_guard lock(mu_);
    fail_next_ = true;
  }

  // KeySpaceStore
  Result<void> create_key_space(const KeySpace& space) override {
    std::lock_guard lock(mu_);
    SIGIL_CHECK(injected_failure());
    for (const auto& [id, s] : spaces_) {
      if (s.prefix == space.prefix) return std::unexpected(Error::already_exists("prefix"));
    }
    if (!spaces_.emplace(space.id, space).second) {
      return std::unexpected(Error::already_exists("key space " + space.id));
    }
    return Ok();
  }
  Result<KeySpace> get_key_space(std::string_view id) override {
    std::lock_guard lock(mu_);
    SIGIL_CHECK(injected_failure());
    auto it = spaces_.find(id);
    if (it == spaces_.end()) return std::unexpected(Error::not_found("key space"));
    return it->second;
  }
  Result<std::vector<KeySpace>> list_key_spaces() override {
    std::lock_guard lock(mu_);
    SIGIL_CHECK(injected_failure());
    std::vector<KeySpace> out;
    for (const auto& [id, s] : spaces_) out.push_back(s);
    return out;
  }

  // ApiKeyStore
  Result<void> create_api_key(const ApiKey& key) override {
    std::lock_guard lock(mu_);
    SIGIL_CHECK(injected_failure());
    return insert(key);
  }
  Result<ApiKey> get_api_key(std::string_view id) override {
    std::lock_guard lock(mu_);
    SIGIL_CHECK(injected_failure());
    auto it = keys_.find(id);
    if (it == keys_.end()) return std::unexpected(Error::not_found("API key"));
    return it->second;
  }
  Result<std::vector<ApiKey>> list_api_keys(const ApiKeyQuery& query) override {
    std::lock_guard lock(mu_);
    SIGIL_CHECK(injected_failure());
    std::vector<ApiKey> out;
    for (auto it = keys_.upper_bound(query.after_id); it != keys_.end(); ++it) {
      if (out.size() >= query.limit) break;
      const ApiKey& k = it->second;
      if (k.key_space != query.key_space) continue;
      if (query.owner && k.owner != *query.owner) continue;
      out.push_back(k);
    }
    return out;
  }
  Result<void> for_each_api_key(const std::function<bool(ApiKey&&)>& visit) override {
    std::lock_guard lock(mu_);
    SIGIL_CHECK(injected_failure());
    for (const auto& [id, k] : keys_) {
      ApiKey copy = k;
      if (!visit(std::move(copy))) break;
    }
    return Ok();
  }
  Result<void> update_api_key(const ApiKey& key) override {
    std::lock_guard lock(mu_);
    SIGIL_CHECK(injected_failure());
    auto it = keys_.find(key.id);
    if (it == keys_.end()) return std::unexpected(Error::not_found("API key"));
    ApiKey updated = key;
    updated.digest = it->second.digest;
    updated.key_space = it->second.key_space;
    updated.created_at = it->second.created_at;
    updated.remaining = it->second.remaining;
    it->second = std::move(updated);
    return Ok();
  }
  Result<void> set_remaining(std::string_view id, std::optional<std::int64_t> remaining) override {
    std::lock_guard lock(mu_);
    SIGIL_CHECK(injected_failure());
    if (remaining && *remaining < 0) return std::unexpected(Error::invalid_argument("credits"));
    auto it = keys_.find(std::string(id));
    if (it == keys_.end()) return std::unexpected(Error::not_found("API key"));
    it->second.remaining = remaining;
    return Ok();
  }
  Result<void> rotate_api_key(const ApiKey& old_key, const ApiKey& new_key) override {
    std::lock_guard lock(mu_);
    SIGIL_CHECK(injected_failure());
    auto it = keys_.find(old_key.id);
    if (it == keys_.end()) return std::unexpected(Error::not_found("API key"));
    SIGIL_CHECK(insert(new_key));
    it->second.grace_until = old_key.grace_until;
    it->second.updated_at = old_key.updated_at;
    return Ok();
  }
  Result<std::int64_t> consume_credit(std::string_view id) override {
    std::lock_guard lock(mu_);
    SIGIL_CHECK(injected_failure());
    auto it = keys_.find(id);
    if (it == keys_.end()) return std::unexpected(Error::not_found("API key"));
    auto& remaining = it->second.remaining;
    if (!remaining) return std::unexpected(Error::failed_precondition("unlimited credits"));
    if (*remaining <= 0) return std::unexpected(Error::resource_exhausted("no credits left"));
    return --*remaining;
  }
  Result<void> record_last_used(
      const std::vector<std::pair<std::string, TimePoint>>& uses) override {
    std::lock_guard lock(mu_);
    SIGIL_CHECK(injected_failure());
    for (const auto& [id, t] : uses) {
      auto it = keys_.find(id);
      if (it != keys_.end()) it->second.last_used_at = t;
    }
    return Ok();
  }
  Result<std::vector<std::string>> revoke_owner_keys(std::string_view key_space,
                                                     std::string_view owner,
                                                     TimePoint now) override {
    std::lock_guard lock(mu_);
    SIGIL_CHECK(injected_failure());
    std::vector<std::string> ids;
    for (auto& [id, k] : keys_) {
      if (k.key_space != key_space || k.owner != owner || k.status == KeyStatus::kRevoked) {
        continue;
      }
      k.status = KeyStatus::kRevoked;
      k.updated_at = now;
      ids.push_back(id);
    }
    return ids;
  }

  // Direct access for tests and benchmarks (no failure injection).
  // Adds a record as it is, e.g. to fill the store with many keys quickly.
  Result<void> insert_unchecked(ApiKey key) {
    std::lock_guard lock(mu_);
    return insert(std::move(key));
  }
  std::vector<ApiKey> all_keys() const {
    std::lock_guard lock(mu_);
    std::vector<ApiKey> out;
    for (const auto& [id, k] : keys_) out.push_back(k);
    return out;
  }
  std::vector<KeySpace> all_key_spaces() const {
    std::lock_guard lock(mu_);
    std::vector<KeySpace> out;
    for (const auto& [id, s] : spaces_) out.push_back(s);
    return out;
  }

 private:
  Result<void> injected_failure() {
    if (!fail_next_) return Ok();
    fail_next_ = false;
    return std::unexpected(Error::unavailable("injected failure"));
  }
  Result<void> insert(ApiKey key) {
    if (digests_.contains(key.digest) || keys_.contains(key.id)) {
      return std::unexpected(Error::already_exists("API key"));
    }
    digests_.insert(key.digest);
    std::string id = key.id;
    keys_.emplace(std::move(id), std::move(key));
    return Ok();
  }

  mutable std::mutex mu_;
  bool fail_next_ = false;                               // guarded by mu_
  std::map<std::string, KeySpace, std::less<>> spaces_;  // guarded by mu_
  std::map<std::string, ApiKey, std::less<>> keys_;      // guarded by mu_
  std::set<std::string, std::less<>> digests_;           // guarded by mu_
};

}  // namespace sigil::apikeys::testing
