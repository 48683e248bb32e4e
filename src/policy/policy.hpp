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
// "federated" is how a token got through a trusted external issuer's token alone (JWT
// bearer grant, or token exchange without client authentication) is authenticated; a
// condition may name it, a service may not.
inline constexpr std::string_view kKnownAuthMethods[] = {
    "client_secret_basic", "client_secret_post",          "private_key_jwt",
    "tls_client_auth",     "self_signed_tls_client_auth", "federated",
};
inline constexpr std::string_view kFederated = "federated";

// How sensitive an API is. High-sensitivity audiences get just-in-time tokens: their
// lifetime is capped at kHighSensitivityLifetime unless the audience sets max_lifetime.
enum class Sensitivity { kLow, kMedium, kHigh };
inline constexpr Seconds kHighSensitivityLifetime{300};

// The longest max_lifetime (grant, audience) or default_lifetime a file may set: a token
// that outlives a day is no longer a short-lived credential.
inline constexpr Seconds kMaxLifetime{86400};

// What a service's certificates from sigil's CA say (X509-SVIDs).
struct CertificateSettings {
  // The path of its SPIFFE ID (spiffe://<trust domain><spiffe_path>): "/" and segments of
  // [A-Za-z0-9._-], none "." or ".." (SPIFFE-ID §2.2). "/<service name>" when the file
  // gives none; unique across services.
  std::string spiffe_path;
  // DNS SANs it may ask for, sorted and unique: exact lowercase LDH names, or "*." + a
  // name, which stands for exactly one more label in front of it (dns_name_allowed()).
  std::vector<std::string> dns_names;
  Seconds lifetime{3600};  // of each certificate; at most kMaxCertificateLifetime
};
inline constexpr Seconds kMaxCertificateLifetime{86400};

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
  // Where the service's public keys are published, for private_key_jwt (RFC 7523 §2.2);
  // an https URL (http only on loopback). Empty: none (keys may be registered through
  // the admin API instead).
  std::string jwks_uri;
  CertificateSettings certificate;
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
  // Tokens for it are issued only bound to a client certificate (RFC 8705 §3): to a client
  // that asks over mutual TLS with its certificate.
  bool require_mtls = false;
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
  // Token exchange (RFC 8693): the caller may get a token for the subject with no "act"
  // claim (impersonation). Without it, an exchanged token always names the caller as
  // actor (delegation).
  bool impersonation = false;
  int line = 0;
};

// One condition of an issuer rule: the external token's claim `claim` (a top-level name,
// or a path into nested objects with '/': "kubernetes.io/namespace") must match one of
// `patterns` (globs, as for selectors). For a claim holding an array of strings, one of
// its values must match. true/false and numbers are matched as their JSON text.
struct ClaimMatch {
  std::string claim;
  std::vector<std::string> patterns;  // non-empty
};

// Claims that every token of an issuer carries or that sigil checks itself: a rule that
// matches only these lets in every token of the issuer.
inline constexpr std::string_view kRegisteredClaims[] = {"iss", "aud", "exp", "nbf", "iat", "jti"};

// A rule of a trusted issuer: which external tokens it accepts, and what they stand for.
struct IssuerRule {
  // Unique among all rules; given, or "<issuer name>#<n>" (1-based position).
  std::string name;
  // Every match must hold. At least one must constrain: a claim other than iss, aud, exp,
  // nbf, iat and jti, with a pattern that is not "*" alone. A rule that constrains only
  // the issuer (every repository of GitHub!) is a validation error.
  std::vector<ClaimMatch> claims;
  // What a matching token stands for; exactly one of the two:
  std::string service;  // a declared service: the token acts as that workload (CI job, pod)
  bool user = false;    // a person: its external "sub" is the subject (token exchange only)
  int line = 0;

  // Some match names a claim outside kRegisteredClaims and none of its patterns is made of
  // wildcards alone ("*", "?*"), which would match any value.
  bool constrains() const;
};

// The JOSE algorithms an issuer may be trusted with (RFC 7518 §3, RFC 8037): asymmetric
// only. "none" and the HS* family are never accepted for an external token: an HMAC key
// would be a secret shared with every verifier.
inline constexpr std::string_view kExternalAlgorithms[] = {"RS256", "PS256", "ES256", "ES384",
                                                           "EdDSA"};
// What an issuer that names no algorithms accepts (sorted): what GitHub Actions, GitLab
// and Kubernetes sign with.
inline constexpr std::string_view kDefaultExternalAlgorithms[] = {"ES256", "RS256"};

// An external OpenID Connect issuer whose signed tokens sigil accepts (workload identity
// federation: GitHub Actions, GitLab CI, Kubernetes service accounts).
struct TrustedIssuer {
  std::string name;      // [a-z0-9][a-z0-9._-]{0,62}, unique
  std::string issuer;    // the exact "iss": an https URL (http only on loopback), unique
  std::string audience;  // the "aud" its tokens must carry for sigil, e.g. sigil's issuer URL
  // Where its keys are: the JWKS given inline (JSON text of {"keys": [...]}, public keys),
  // or a jwks_uri, or neither: discovered from the issuer's OpenID configuration.
  std::string jwks;
  std::string jwks_uri;
  // Allowed JOSE algorithms among kExternalAlgorithms, sorted; kDefaultExternalAlgorithms
  // when the file names none (parse_policy and CompiledPolicy::compile fill it in).
  std::vector<std::string> algorithms;
  std::vector<IssuerRule> rules;  // in file order; the first that matches decides
  // A token of this issuer may be presented again until it expires. Off by default: a
  // token's jti is accepted once (GitHub and GitLab mint a token per request). Kubernetes
  // hands a pod one projected token for most of its lifetime, so it needs this on.
  bool reuse = false;
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
  std::vector<Service> services;       // in file order
  std::vector<Audience> audiences;     // in file order
  std::vector<GrantRule> grants;       // in file order
  std::vector<TrustedIssuer> issuers;  // in file order
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
// nothing, grant scopes the audience does not declare, grants across environments, and
// trusted issuers that are not https URLs, hold private keys, allow none/HS* or have a
// rule that constrains only the issuer (see IssuerRule::constrains), certificate settings
// with a bad SPIFFE path, DNS name or lifetime, and two services with one SPIFFE path.
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

// A DNS name as certificates carry it: RFC 1035 §2.3.1 labels of lowercase letters,
// digits and hyphens, not starting or ending with a hyphen, at most 63 bytes each; the
// name at most 253 bytes. No wildcard.
bool is_valid_dns_name(std::string_view name);

bool matches(const Selector& selector, const Service& service);
bool matches(const Selector& selector, const Audience& audience);

std::string_view to_string(Sensitivity sensitivity);  // "low", "medium", "high"

}  // namespace sigil::policy
