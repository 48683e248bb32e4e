// The storage API keys need, declared here and implemented by store/sqlite (and later
// store/postgres). Every method is thread-safe and durable when it returns. Errors:
// kNotFound for a missing record, kAlreadyExists for a duplicate id (or digest),
// kInternal/kUnavailable for the backend's failures.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "apikeys/model.hpp"
#include "base/error.hpp"

namespace sigil::apikeys {

class KeySpaceStore {
 public:
  virtual ~KeySpaceStore() = default;
  virtual Result<void> create_key_space(const KeySpace& space) = 0;  // id and prefix unique
  virtual Result<KeySpace> get_key_space(std::string_view id) = 0;
  virtual Result<std::vector<KeySpace>> list_key_spaces() = 0;  // ordered by id
};

// One page of a listing: keys whose id is greater than `after_id`, ordered by id.
struct ApiKeyQuery {
  std::string key_space;             // required
  std::optional<std::string> owner;  // only this owner's keys
  std::string after_id;              // "" for the first page
  std::size_t limit = 100;           // 1..1000
};

class ApiKeyStore {
 public:
  virtual ~ApiKeyStore() = default;
  virtual Result<void> create_api_key(const ApiKey& key) = 0;
  virtual Result<ApiKey> get_api_key(std::string_view id) = 0;
  virtual Result<std::vector<ApiKey>> list_api_keys(const ApiKeyQuery& query) = 0;
  // Calls `visit` for every key of every space (to fill a cache at start-up), streaming:
  // the backend does not hold them all at once. Stops early if `visit` returns false.
  virtual Result<void> for_each_api_key(const std::function<bool(ApiKey&&)>& visit) = 0;
  // Replaces every field but id, digest, key_space, created_at and remaining: credits
  // change only through consume_credit and set_remaining, so a concurrent verification's
  // credit is never given back by an unrelated change.
  virtual Result<void> update_api_key(const ApiKey& key) = 0;
  // Sets the credits (nullopt: unlimited). kInvalidArgument when negative; kNotFound.
  virtual Result<void> set_remaining(std::string_view id,
                                     std::optional<std::int64_t> remaining) = 0;
  // Atomically: creates `new_key` and updates `old_key` (its grace_until), or neither.
  virtual Result<void> rotate_api_key(const ApiKey& old_key, const ApiKey& new_key) = 0;
  // Atomically takes one credit: remaining = remaining - 1 where remaining > 0. Returns the
  // credits left after taking one; kResourceExhausted when none was left (nothing
  // changes); kFailedPrecondition when the key has unlimited credits; kNotFound.
  virtual Result<std::int64_t> consume_credit(std::string_view id) = 0;
  // Records last-use times in one write (the service batches them).
  virtual Result<void> record_last_used(
      const std::vector<std::pair<std::string, TimePoint>>& uses) = 0;
  // Revokes every active or disabled key of `owner` in `key_space`; returns their ids.
  virtual Result<std::vector<std::string>> revoke_owner_keys(std::string_view key_space,
                                                             std::string_view owner,
                                                             TimePoint now) = 0;
};

}  // namespace sigil::apikeys
