// Decisions: may this caller have these scopes for this audience, now, from here?
//
// A Policy is compiled once into an index: selectors over attributes are resolved against
// the declared services and audiences at compile time, so every grant is filed under the
// (service, audience) pairs it can apply to. A decision is two hash lookups and a walk
// over the few grants of one pair: its cost does not grow with the number of rules.
//
// Deny by default: a caller not declared as a service, an audience not declared, a pair
// with no grant, a pair across environments, or grants whose conditions do not hold all
// deny. Pure: the time and the request context are passed in.
//
// Thread safety: a CompiledPolicy is immutable; decide() may run on any thread.
//
//   auto compiled = policy::CompiledPolicy::compile(std::move(*parsed));
//   auto d = (*compiled)->decide({.caller = "video-service", .audience = "analytics",
//                                 .scopes = {"analytics:write"}, .context = ctx});
//   if (d.allowed) ... d.scopes, d.lifetime_cap, d.rules
#pragma once

#include <atomic>
#include <cstddef>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/clock.hpp"
#include "base/error.hpp"
#include "policy/policy.hpp"

namespace sigil::policy {

// What is known about the request besides who asks for what.
struct RequestContext {
  TimePoint now{};
  std::string_view source_address;  // the peer's IP address as text; empty: unknown
  std::string_view auth_method;     // how the caller authenticated, e.g. "client_secret_basic"
};

struct DecisionRequest {
  std::string_view caller;    // service name (= client id)
  std::string_view audience;  // audience name or URI
  // The scopes asked for; empty: every scope the applicable grants give.
  std::span<const std::string> scopes;
  RequestContext context;
  // Fill Decision::trace with every grant considered and why it did or did not apply
  // (for `sigil policy explain`; costs allocations, so off on the token path).
  bool trace = false;
};

enum class DenyReason {
  kNone,                 // allowed
  kUnknownCaller,        // the caller is not a service of the policy
  kUnknownAudience,      // no audience has this name or URI
  kNoGrant,              // no grant names this caller and audience
  kEnvironmentMismatch,  // caller and audience are in different environments
  kConditionsNotMet,     // grants exist, but none applies now (source, time, auth method...)
  kScopeNotGranted,      // a requested scope is not given by any applicable grant
};

// "unknown_caller", "unknown_audience", "no_grant", "environment_mismatch",
// "conditions_not_met", "scope_not_granted" (audit and metrics reasons); "" for kNone.
std::string_view to_string(DenyReason reason);

// One grant looked at for a traced decision.
struct RuleTrace {
  std::string rule;
  bool applied = false;
  std::string why;  // e.g. "source 192.0.2.7 is not in 10.0.0.0/8", or "applies"
};

struct Decision {
  bool allowed = false;
  DenyReason reason = DenyReason::kNoGrant;
  // For people (explain, audit detail), never sent to the client: which condition failed,
  // which scope was not granted.
  std::string detail;
  // Allowed: the grants that gave the scopes (sorted). Denied: the grants that came
  // closest (named the pair but failed a condition or lacked a scope); may be empty.
  std::vector<std::string> rules;
  std::vector<std::string> scopes;      // allowed: the scopes granted, sorted, unique
  std::string audience_uri;             // the audience's URI when it is known
  std::optional<Seconds> lifetime_cap;  // allowed: min of the grants' and the audience's caps
  std::vector<RuleTrace> trace;         // when requested
};

// What a service could ever be granted, whatever the conditions: the upper bound written
// on its client when the policy is applied.
struct Reach {
  std::vector<std::string> audiences;  // URIs, sorted
  std::vector<std::string> scopes;     // sorted
};

// One edge of the service graph: `caller` may call `audience` with `scopes` through
// `rules`.
struct Edge {
  std::string caller;
  std::string audience;             // audience name
  std::vector<std::string> scopes;  // union over the rules, sorted
  std::vector<std::string> rules;   // sorted
  bool conditional = false;         // some rule has conditions
};

// The most (service, audience, grant) entries a policy may expand to. Selectors such as
// `caller: {name: "*"}` file a grant under every pair they match; the limit keeps a broad
// file from exhausting memory.
inline constexpr std::size_t kMaxIndexEntries = 10'000'000;

// The external token's claims, flattened for matching: a claim name (or a '/' path into
// nested objects) to its values as text (one for a string, number or boolean; each
// string of an array).
using FlatClaims = std::map<std::string, std::vector<std::string>, std::less<>>;

// What an external token stands for under an issuer's rules.
struct ExternalIdentity {
  const IssuerRule* rule = nullptr;  // the first rule whose claims all match; null: none
  // For people (audit detail, explain), when no rule matched: each rule's first
  // mismatch, e.g. "rule ci-deploy: repository \"evil/repo\" does not match acme/*".
  std::string detail;
};

class CompiledPolicy {
 public:
  // Builds the index. The policy must have passed parse_policy's validation;
  // kInvalidArgument if the index finds it inconsistent anyway (duplicate names, an empty
  // selector, a time window out of range; an issuer without name, URL or audience, with
  // both jwks and jwks_uri or an algorithm outside kExternalAlgorithms, a duplicate issuer
  // URL or rule name, a rule naming an undeclared service, both or neither of service and
  // user, or not constraining; a spiffe_path that is not a SPIFFE ID path or is another
  // service's, a certificate DNS name that is not one, a certificate lifetime that is not
  // positive or above kMaxCertificateLifetime) or it would exceed kMaxIndexEntries.
  // Scopes, labels, issuer algorithms and certificate DNS names are sorted and made unique
  // in the policy kept; empty algorithms become kDefaultExternalAlgorithms, an empty
  // spiffe_path "/<service name>". A grant is filed only under audiences that declare at
  // least one of its scopes, and gives only declared scopes.
  static Result<std::shared_ptr<const CompiledPolicy>> compile(Policy policy);

  // Conditions are checked in the order not_before, not_after, time window, source,
  // the grant's auth methods, the audience's auth methods. A window that wraps past
  // midnight belongs to the day it opens: Fri 22:00-06:00 covers Saturday 03:00. A source
  // condition fails when the source address is empty or not an IP address; an auth
  // method condition fails when the method is empty.
  Decision decide(const DecisionRequest& request) const;

  const Policy& policy() const { return policy_; }
  const Service* find_service(std::string_view name) const;
  // The service whose certificate.spiffe_path is exactly `path` ("/ns/prod/sa/payments"),
  // or null.
  const Service* find_service_by_spiffe_path(std::string_view path) const;
  // By name or by URI.
  const Audience* find_audience(std::string_view name_or_uri) const;

  // The trusted issuer whose "iss" is exactly `iss`, or null.
  const TrustedIssuer* find_issuer(std::string_view iss) const;
  // Matches a verified external token's claims against `issuer`'s rules, in order.
  ExternalIdentity match_external(const TrustedIssuer& issuer, const FlatClaims& claims) const;

  // Empty for an unknown service.
  Reach reach(std::string_view service) const;
  // Every (caller, audience) pair with at least one grant, sorted by caller then audience.
  std::vector<Edge> edges() const;

  // Index size, for benchmarks and logs: number of (service, audience, grant) entries.
  std::size_t index_entries() const { return index_entries_; }

 private:
  explicit CompiledPolicy(Policy policy) : policy_(std::move(policy)) {}

  Policy policy_;
  std::size_t index_entries_ = 0;
  // Implementation-defined index (hash maps keyed by service and audience index,
  // holding indices into policy_.grants).
  struct Index;
  std::shared_ptr<const Index> index_;
};

// Whether a certificate for a service with `settings` may carry the DNS SAN `name`: the
// name (a valid lowercase DNS name, is_valid_dns_name) is one of settings.dns_names, or
// one label followed by what a "*." entry names ("*.payments.svc" allows
// "a.payments.svc", neither "payments.svc" nor "a.b.payments.svc").
bool dns_name_allowed(const CertificateSettings& settings, std::string_view name);

// The policy in force, swapped atomically on apply, rollback and reload. Readers take a
// snapshot and keep using it for a whole request.
class PolicyHolder {
 public:
  std::shared_ptr<const CompiledPolicy> current() const;  // null: no policy in force
  void set(std::shared_ptr<const CompiledPolicy> policy);

 private:
  std::atomic<std::shared_ptr<const CompiledPolicy>> current_;
};

}  // namespace sigil::policy
