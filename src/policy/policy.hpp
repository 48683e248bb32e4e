// The policy document (sigil.yaml): services, audiences and the grants between them, as
// parsed and validated from YAML. Plain data; decisions are made by CompiledPolicy
// (engine.hpp). The schema, with a full example, is documented in docs/policy.md.
//
// Pure: no I/O, no clock. parse_policy() takes the file's text.
//
//   auto policy = policy::parse_policy(text);
//   if (!policy) std::cerr << policy::format(policy.error(), "sigil.yaml");
#pragma once

#include <cstdint>
#include <expected>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/clock.hpp"
#include "policy/cidr.hpp"

namespace sigil::policy {

// The client authentication methods a service or a condition may name (RFC 7591 names).
inline constexpr std::string_view kKnownAuthMethods[] = {
    "client_secret_basic", "client_secret_post",          "private_key_jwt",
    "tls_client_auth",     "self_signed_tls_client_auth",
};

// How sensitive an API is. High-sensitivity audiences get just-in-time tokens: their
// lifetime is capped at kHighSensitivityLifetime unless the audience sets max_lifetime.
enum class Sensitivity { kLow, kMedium, kHigh };
inline constexpr Seconds kHighSensitivityLifetime{300};

// The longest max_lifetime (grant, audience) or default_lifetime a file may set: a token
// that outlives a day is no longer a short-lived credential.
inline constexpr Seconds kMaxLifetime{86400};

// A workload identity. Its name is also the id of its client (same syntax as a client
// id chosen by an operator: [a-z0-9][a-z0-9._-]{0,62}).
struct Service {
  std::string name;
  std::string description;
  // e.g. environment, team, owner. Names (and labels) are [A-Za-z0-9][A-Za-z0-9._/-]{0,63};
  // values at most 1024 bytes without control characters; at most 64 attributes.
  std::map<std::string, std::string> attributes;
  std::vector<std::string> labels;  // sorted, unique
  // Client authentication methods the service may use; empty means the default
  // (client_secret_basic and client_secret_post).
  std::vector<std::string> auth_methods;
  int line = 0;  // where it is declared (1-based), for messages
};

// An API that tokens are issued for.
struct Audience {
  std::string name;  // [a-z0-9][a-z0-9._-]{0,62}
  std::string description;
  // The token's "aud" and what a client may ask for with resource=/audience=; the name
  // when not given. Unique across audiences, and never equal to another audience's name.
  std::string uri;
  std::vector<std::string> scopes;  // every scope a grant for this audience may give; sorted
  Sensitivity sensitivity = Sensitivity::kMedium;
  std::optional<Seconds> max_lifetime;  // cap on tokens for this audience
  std::map<std::string, std::string> attributes;
  // Authentication methods a caller must have used to get a token for this audience;
  // empty: any.
  std::vector<std::string> auth_methods;
  int line = 0;

  // max_lifetime, or kHighSensitivityLifetime for a high-sensitivity audience without one.
  std::optional<Seconds> lifetime_cap() const;
};

// Which services (or audiences) a grant names. Every part present must match:
//   name        a glob over the name ('*' any run of characters, '?' one); exact when it
//               has no wildcard, and then it must name a declared service/audience
//   attributes  each attribute must exist and match the value, a glob
//   labels      (services only) each must be among the service's labels
// A selector with no part is invalid (it would match everything by accident); "*" as the
// name says "every" on purpose.
struct Selector {
  std::optional<std::string> name;
  std::map<std::string, std::string> attributes;
  std::vector<std::string> labels;

  bool is_exact_name() const;  // a name without wildcards and nothing else
};

// A daily window in UTC on some days of the week. from == to means all day; to < from
// wraps past midnight (22:00-06:00).
struct TimeWindow {
  std::uint8_t days = 0x7f;  // bit 0 Monday ... bit 6 Sunday
  int from_minute = 0;       // 0..1439
  int to_minute = 0;         // 0..1439
};

// Conditions on the request, checked at the moment of use. Every present condition must
// hold for the grant to apply.
struct Conditions {
  std::vector<Cidr> source;               // the caller's address is in one of them
  std::vector<std::string> auth_methods;  // the caller authenticated with one of them
  std::optional<TimeWindow> time;         // the request falls in the window
  std::optional<TimePoint> not_before;    // the grant starts to apply
  std::optional<TimePoint> not_after;     // the grant stops applying (just-in-time access)
};

// One rule: callers matching `caller` may get tokens for audiences matching `audience`,
// with at most `scopes`, living at most `max_lifetime`, when `when` holds.
struct GrantRule {
  // Unique. Given in the file, or made from the selectors: "video-service->analytics"
  // for exact names, "grant-<n>" (1-based position) otherwise; a made-up name that
  // collides gets "#<n>" appended.
  std::string name;
  std::string description;
  Selector caller;
  Selector audience;
  std::vector<std::string> scopes;  // sorted, unique, non-empty
  std::optional<Seconds> max_lifetime;
  Conditions when;
  int line = 0;
};

struct Settings {
  // Environment separation: when a caller and an audience both have this attribute and
  // its values differ, no grant applies (a staging caller never gets a production
  // audience). A grant naming both by exact name across environments is a validation
  // error. Empty disables the separation.
  std::string environment_attribute = "environment";
  // Lifetime when the request names none (before the caps).
  std::optional<Seconds> default_lifetime;
};

struct Policy {
  int version = 1;  // the schema version; only 1 exists
  Settings settings;
  std::vector<Service> services;    // in file order
  std::vector<Audience> audiences;  // in file order
  std::vector<GrantRule> grants;    // in file order
};

// A problem in the file. line is 1-based (0 when not tied to a line).
struct Diagnostic {
  int line = 0;
  std::string message;  // e.g. "unknown field \"scoeps\" in grant (did you mean scopes?)"
  bool operator==(const Diagnostic&) const = default;
};

// Limits on what a file may hold, so that a hostile or broken file cannot exhaust memory.
// Besides the size: a list holds at most 256 items and an attribute map 64 entries (a
// client's bounds), descriptions are at most 200 bytes, and the nodes walked (aliases
// included) are bounded by the size of the text.
inline constexpr std::size_t kMaxPolicyBytes = 64 * 1024 * 1024;

// Parses and validates a policy document. Every problem is reported (in line order), not
// just the first: YAML syntax errors, unknown fields, wrong types, missing required
// fields, bad names/scopes/durations/CIDRs/times/auth methods/sensitivity, duplicate
// names or URIs, references to undefined services or audiences, selectors that match
// nothing, grant scopes the audience does not declare, and grants across environments.
// A YAML syntax error is reported alone: nothing after it can be read.
std::expected<Policy, std::vector<Diagnostic>> parse_policy(std::string_view yaml);

// "sigil.yaml:12: unknown field ..." one per line, each ending in '\n'.
std::string format(const std::vector<Diagnostic>& diagnostics, std::string_view file_name);

// "5m", "1h", "90s", "2d", or a plain number of seconds; nullopt when malformed, zero or
// negative.
std::optional<Seconds> parse_duration(std::string_view text);
// The shortest of those forms that is exact: 300 -> "5m", 90 -> "90s".
std::string format_duration(Seconds d);

// Glob matching for selectors: '*' matches any run of characters (also empty), '?' one
// character (byte); everything else literally. O(pattern x text) at worst: a hostile
// pattern cannot make it backtrack exponentially.
bool glob_match(std::string_view pattern, std::string_view text);

bool matches(const Selector& selector, const Service& service);
bool matches(const Selector& selector, const Audience& audience);

std::string_view to_string(Sensitivity sensitivity);  // "low", "medium", "high"

}  // namespace sigil::policy
