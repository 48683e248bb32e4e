// Tokens from trusted external issuers (workload identity federation): a GitHub Actions
// or GitLab CI job's OIDC token, a Kubernetes service account token, a person's ID token.
// The policy file declares the issuers and the rules that say what their tokens stand for
// (policy::TrustedIssuer); this verifies one token against them.
//
// Strict, in this order: the unverified payload's "iss" only picks the declared issuer
// (nothing else is read before the signature is checked); the signature must be by a key
// of that issuer (its inline JWKS, its jwks_uri, or the jwks_uri its OpenID discovery
// document names; fetched keys are asked again once when the token names an unknown
// "kid") with one of the issuer's algorithms (RS256 and ES256 unless declared; never
// "none" or HS*); "iss" exact; "aud" must contain the issuer's declared audience; "exp"
// required; "nbf" and "iat" with the leeway; "sub" required; then the first rule whose
// claims all match decides; a "jti" seen before is refused (replay) until the token
// expires.
//
// Pure apart from the ports in AssertionContext (key source, replay cache).
//
//   auto token = verify_external_token(assertion, *policy, *assertions, now);
//   if (!token) return std::unexpected(token.error());   // invalid_grant + reason
//   if (!token->rule().service.empty()) ... act as that service
#pragma once

#include <expected>
#include <optional>
#include <string>
#include <string_view>

#include "base/clock.hpp"
#include "oauth/client_authentication.hpp"
#include "oauth/oauth_error.hpp"
#include "policy/engine.hpp"
#include "policy/policy.hpp"

namespace sigil::oauth {

// The token types of RFC 8693 §3 that name a JWT from an external issuer.
inline constexpr std::string_view kTokenTypeJwt = "urn:ietf:params:oauth:token-type:jwt";
inline constexpr std::string_view kTokenTypeIdToken = "urn:ietf:params:oauth:token-type:id_token";

// A verified external token and the rule that accepted it. Only verify_external_token()
// makes one. The issuer and rule point into the policy the token was verified against:
// valid as long as that policy (the caller's snapshot) lives.
class ExternalToken {
 public:
  const policy::TrustedIssuer& issuer() const { return *issuer_; }
  const policy::IssuerRule& rule() const { return *rule_; }
  const std::string& subject() const { return subject_; }  // the external "sub"
  const std::string& jti() const { return jti_; }          // empty when the token has none
  TimePoint expires_at() const { return expires_at_; }     // its "exp"
  const policy::FlatClaims& claims() const { return claims_; }

 private:
  friend std::expected<ExternalToken, Denial> verify_external_token(std::string_view,
                                                                    const policy::CompiledPolicy&,
                                                                    const AssertionContext&,
                                                                    TimePoint);
  ExternalToken() = default;

  const policy::TrustedIssuer* issuer_ = nullptr;
  const policy::IssuerRule* rule_ = nullptr;
  std::string subject_;
  std::string jti_;
  TimePoint expires_at_{};
  policy::FlatClaims claims_;
};

// Verifies `jwt` against the policy's trusted issuers. Every refusal is invalid_grant
// (RFC 7523 §3.1: "If the JWT is not valid, or the current time is not within the token's
// valid time window for use, the authorization server constructs an error response ...
// the value of the error parameter MUST be the "invalid_grant" error code"), with one of
// these reasons for the audit:
//   malformed             not a JWS compact JWT, or its payload has no string "iss"
//   unknown_issuer        no trusted issuer has this "iss"
//   issuer_unavailable    the issuer's keys were never fetched and cannot be now (no
//                         key source, or it is unreachable); the description says so
//   issuer_keys_invalid   the issuer's inline JWKS, or what its URL serves, is not a JWKS
//   a jose reason         as jose::to_string() names them: algorithm_not_allowed,
//                         unknown_key, bad_signature, expired, not_yet_valid,
//                         issued_in_future, wrong_audience, missing_claim, too_large, ...
//   no_rule_matched       no rule of the issuer accepts the claims (Denial::detail says
//                         why each rule did not)
//   assertion_replayed    the jti was used before (or no replay cache is configured, or
//                         it is full: fail closed)
std::expected<ExternalToken, Denial> verify_external_token(std::string_view jwt,
                                                           const policy::CompiledPolicy& policy,
                                                           const AssertionContext& context,
                                                           TimePoint now);

// A verified token's claims, flattened for policy::CompiledPolicy::match_external: each
// top-level claim under its name, members of nested objects under their '/' path
// ("kubernetes.io/serviceaccount/name"); a string as itself, true/false and numbers as
// their JSON text, an array as its string, boolean and number elements. Nulls, objects
// inside arrays, and members whose name contains '/' (their path would be ambiguous) are
// left out.
policy::FlatClaims flatten_claims(const boost::json::object& claims);

}  // namespace sigil::oauth
