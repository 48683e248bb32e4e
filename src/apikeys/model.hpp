// API keys that a SaaS issues to its customers: key spaces and keys. Plain data; the
// rules live in the services. A key itself is never stored: only its SHA-256 digest and
// the first characters for display.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/clock.hpp"

namespace sigil::apikeys {

// A namespace of keys with its own prefix (e.g. "sk_live", "sk_test"). An admin may be
// scoped to one key space (scope "sigil:keys:<id>").
struct KeySpace {
  std::string id;      // [a-z0-9][a-z0-9_-]{0,62}
  std::string prefix;  // [a-z][a-z0-9]{0,15}, optionally "_" and [a-z0-9]{1,16}: "sk_live"
  std::string name;
  TimePoint created_at{};
};

enum class KeyStatus { kActive, kDisabled, kRevoked };

// A token bucket: up to `limit` requests, refilled at limit/window.
struct RateLimit {
  std::int64_t limit = 0;  // >= 1
  Seconds window{0};       // >= 1 s
};

struct ApiKey {
  std::string id;         // "key_" + 20 base32 characters; how logs and audit name a key
  std::string key_space;  // KeySpace::id
  std::string digest;     // SHA-256 of the whole key, 32 raw bytes; unique
  std::string start;      // the key's first characters (prefix + 4), for display
  std::string owner;      // the customer's id, free text (1-256 printable characters)
  std::string name;
  std::vector<std::string> scopes;        // sorted, unique
  std::string metadata = "{}";            // a JSON object, as text
  std::optional<TimePoint> expires_at;    // none: does not expire
  std::optional<std::int64_t> remaining;  // credits left; none: unlimited
  std::optional<RateLimit> rate_limit;    // none: unlimited
  KeyStatus status = KeyStatus::kActive;
  std::optional<std::string> rotated_from;  // the id of the key this one replaced
  // Set on a key that was rotated out: it keeps working until then, then stops.
  std::optional<TimePoint> grace_until;
  TimePoint created_at{};
  TimePoint updated_at{};
  std::optional<TimePoint> last_used_at;
};

}  // namespace sigil::apikeys
