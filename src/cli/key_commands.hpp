// The pure pieces of `sigil key ...` (API keys) and `sigil keyspace ...`: how flags become
// an admin API request (docs/openapi.yaml, /v1/key-spaces and /v1/keys) and how an answer
// becomes a table. No I/O; the tests drive these directly.
//
// Every builder checks its input before anything is sent and reports a bad flag as
// kInvalidArgument (a usage error, exit 2) with a one-line message naming the flag. No
// message ever holds an API key: the key given to `key verify` is never quoted.
#pragma once

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/clock.hpp"
#include "base/error.hpp"

namespace sigil::cli {

inline constexpr std::int64_t kMaxGraceSeconds = 2'592'000;    // openapi.yaml: grace_seconds
inline constexpr std::int64_t kMaxListLimit = 1000;            // openapi.yaml: limit maximum
inline constexpr std::int64_t kMaxRateLimit = 1'000'000'000;   // RateLimit.limit maximum
inline constexpr std::int64_t kMaxRateWindowSeconds = 86'400;  // RateLimit.window_seconds
inline constexpr std::size_t kMaxOwnerBytes = 256;
inline constexpr std::size_t kMaxMetadataBytes = 64 * 1024;

// ---- Syntax checks ----

// [a-z0-9][a-z0-9_-]{0,62}, as KeySpace.id.
bool is_valid_key_space_id(std::string_view id);
// [a-z][a-z0-9]{0,15} optionally followed by "_" and [a-z0-9]{1,16}: "sk_live".
bool is_valid_key_prefix(std::string_view prefix);
// An API key's id as it may go into a URL path: 1-64 of [A-Za-z0-9_-] ("key_3jx8...").
bool is_valid_api_key_id(std::string_view id);

// "N/SECONDS" -> {"limit": N, "window_seconds": SECONDS}; N in 1..1e9, SECONDS in 1..86400,
// both plain decimal digits.
Result<boost::json::object> parse_rate_limit(std::string_view text);

// --metadata: must parse as a JSON object (at most 64 KiB).
Result<boost::json::object> parse_metadata(std::string_view text);

// --expires-at: returned as given when it is an RFC 3339 date-time.
Result<std::string> check_expires_at(std::string_view text);

// --expires-in: now + seconds (> 0) as RFC 3339 UTC.
Result<std::string> expires_in_to_rfc3339(TimePoint now, std::int64_t seconds);

// "application/x-www-form-urlencoded"-compatible query component: unreserved characters as
// they are, every other byte (space included) as %XX, so that a server reads it the same
// way whether or not it takes '+' for a space.
std::string query_encode(std::string_view text);

// ---- keyspace ----

struct NewKeySpaceArgs {
  std::string id;
  std::string prefix;
  std::optional<std::string> name;
};

// The POST /v1/key-spaces body; kInvalidArgument for a bad id or prefix.
Result<boost::json::object> new_key_space_body(const NewKeySpaceArgs& args);

// "/v1/key-spaces/<id>"; kInvalidArgument for a bad id.
Result<std::string> key_space_path(std::string_view id);

std::string render_key_space_list(const boost::json::value& answer);
std::string render_key_space(const boost::json::object& key_space);

// ---- key ----

struct NewApiKeyArgs {
  std::string key_space;
  std::string owner;
  std::optional<std::string> name;
  std::vector<std::string> scopes;
  std::optional<std::string> metadata;     // JSON object text
  std::optional<std::string> expires_at;   // RFC 3339
  std::optional<std::int64_t> expires_in;  // seconds from `now`; not with expires_at
  std::optional<std::int64_t> credits;     // >= 0
  std::optional<std::string> rate_limit;   // N/SECONDS
};

// The POST /v1/keys body. `now` is used only for expires_in. kInvalidArgument for a bad key
// space or owner, a scope that is empty or holds white space, metadata that is not a JSON
// object, a bad expiry (or both forms), negative credits, or a bad rate limit.
Result<boost::json::object> new_api_key_body(const NewApiKeyArgs& args, TimePoint now);

struct KeyListQuery {
  std::string key_space;
  std::optional<std::string> owner;
  std::optional<std::string> after;
  std::optional<std::int64_t> limit;  // 1..1000
};

// "/v1/keys?key_space=...[&owner=...][&after=...][&limit=N]", each value query_encode()d.
Result<std::string> key_list_path(const KeyListQuery& query);

// "/v1/keys/<id>" or "/v1/keys/<id>/<action>"; kInvalidArgument for a bad id.
Result<std::string> api_key_path(std::string_view id, std::string_view action = {});

// What `key update` was given. A clearing flag (clear_scopes, no_expiry,
// unlimited_credits, no_rate_limit) and its setting flag exclude each other.
struct ApiKeyUpdateArgs {
  std::optional<std::string> name;
  std::vector<std::string> scopes;
  bool clear_scopes = false;
  std::optional<std::string> metadata;
  std::optional<std::string> expires_at;
  bool no_expiry = false;
  std::optional<std::int64_t> credits;
  bool unlimited_credits = false;
  std::optional<std::string> rate_limit;
  bool no_rate_limit = false;
};

// The PATCH /v1/keys/{id} body with only what was given: --clear-scopes sends "scopes": []
// (the key then has none); --no-expiry, --unlimited-credits and --no-rate-limit send null.
// kInvalidArgument when nothing is given, for a flag with its clearing flag, or a bad value.
Result<boost::json::object> update_api_key_body(const ApiKeyUpdateArgs& args);

// The POST /v1/keys/{id}/rotate body: {} or {"grace_seconds": n}, n in 0..30 days.
Result<boost::json::object> rotate_api_key_body(std::optional<std::int64_t> grace_seconds);

// The POST /v1/keys/revoke-owner body.
Result<boost::json::object> revoke_owner_body(std::string_view key_space, std::string_view owner);

// The POST /v1/keys/verify body. kInvalidArgument for an empty key (the message never
// quotes the key), a bad scope or key space.
Result<boost::json::object> verify_key_body(std::string_view key,
                                            const std::vector<std::string>& scopes,
                                            const std::optional<std::string>& key_space);

// `text` with every occurrence of `secret` replaced by "[key]"; for server messages that
// might echo what was sent.
std::string redact(std::string text, std::string_view secret);

std::string render_api_key_list(const boost::json::value& answer);
std::string render_api_key(const boost::json::object& key);
// The key's record, then "key: <the key>" last, for a CreatedApiKey answer.
std::string render_created_api_key(const boost::json::object& answer);
// The ids of a revoke-owner answer as a one-column table.
std::string render_revoked_keys(const boost::json::value& answer);

// True when a verify answer says {"valid": true}.
bool verify_answer_is_valid(const boost::json::value& answer);
// "valid" or the refusal code on the first line, then what the answer says about the key
// (key id, key space, owner, scopes, expiry, remaining credits, rate-limit headroom).
std::string render_verify_answer(const boost::json::value& answer);

}  // namespace sigil::cli
