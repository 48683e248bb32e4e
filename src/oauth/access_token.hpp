// JWT access tokens (RFC 9068): building and signing them, and verifying ours.
#pragma once

#include <boost/json/object.hpp>

#include <expected>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/clock.hpp"
#include "base/error.hpp"
#include "jose/jwt.hpp"
#include "oauth/key_ring.hpp"
#include "oauth/model.hpp"
#include "oauth/settings.hpp"

namespace sigil::oauth {

// The claim under which a client's attributes travel (an object of strings).
inline constexpr std::string_view kAttributesClaim = "https://sigil.dev/attributes";

// The claim that names the external identity a token came from (federation): an object
// {"iss": the external issuer, "sub": the external subject, "rule": the issuer rule that
// accepted it}.
inline constexpr std::string_view kFederatedClaim = "https://sigil.dev/federated";

// An external identity as the kFederatedClaim records it.
struct FederatedIdentity {
  std::string issuer;   // the external token's "iss"
  std::string subject;  // its "sub"
  std::string rule;     // the policy's issuer rule that accepted it
};

// What a grant decided: who the token is about and what it may do.
struct Grant {
  std::string subject;                // "sub"
  std::vector<std::string> scopes;    // sorted, unique
  std::vector<std::string> audience;  // sorted, unique, at least one
  // The longest the token may live, as the grant decided it: the policy's caps and the
  // lifetime the client asked for, whichever is shortest. nullopt: no cap of its own.
  std::optional<Seconds> lifetime;
  // The lifetime when nothing shorter applies, in place of the settings' default (the
  // policy's settings.default_lifetime). nullopt: the settings' default_lifetime.
  std::optional<Seconds> default_lifetime;
  std::vector<std::string> rules;  // the policy rules that allowed the token, sorted
  // RFC 8693 §4.1: the "act" claim of a delegated token, {"sub": actor} with the subject
  // token's own "act" nested inside for a chain. nullopt: no actor.
  std::optional<boost::json::object> act;
  // The external identity the token stands for, written as kFederatedClaim.
  std::optional<FederatedIdentity> federated;
  // The token never outlives this (the external or subject token it was exchanged for).
  std::optional<TimePoint> not_after;
  // The client the token is issued to when it is not the authenticated one: a token
  // obtained with an external token alone is issued to the service the token maps to, a
  // token whose actor comes from an actor_token to the actor's service.
  std::optional<Client> client;
  // RFC 8693 §2.2.1 issued_token_type, for the token exchange response; empty for every
  // other grant.
  std::string issued_token_type;
  // RFC 9449 §6.1: the JWK SHA-256 thumbprint of the DPoP proof's key, written as
  // "cnf": {"jkt": ...}. nullopt: a bearer token.
  std::optional<std::string> jkt;
  // RFC 8705 §3.1: the x5t#S256 thumbprint of the client certificate of the mutual-TLS
  // connection the token was asked for over, written as "cnf": {"x5t#S256": ...} (beside
  // "jkt" when both). nullopt: not bound to a certificate.
  std::optional<std::string> x5t_s256;
};

struct IssuedToken {
  std::string compact;
  std::string jti;
  TimePoint issued_at{};
  TimePoint expires_at{};
};

// Signs an access token for `client` with the key ring's active key. `client` is the one
// the token is issued to: the client that made the request, or for a token obtained with
// an external token alone, the service it maps to. Claims: iss, sub, aud (a string when
// one audience, else an array), exp (iat + the lifetime: the shortest of
// grant.default_lifetime or else the settings' default_lifetime, grant.lifetime and the
// settings' max_lifetime; never after grant.not_after), iat, nbf (= iat), jti (128 random
// bits, base64url), client_id (client.id), scope (when any), act (when any),
// kFederatedClaim (when federated), cnf {"jkt"} and/or {"x5t#S256"} (when bound, RFC 9449
// §6.1, RFC 8705 §3.1), and the client's
// attributes under kAttributesClaim (when any). kInternal for a grant without audience, with a
// lifetime that is not positive, or with a not_after that is not after now; kFailedPrecondition
// when no key is active; signing failures as they come.
Result<IssuedToken> issue_access_token(const KeyRing& keys, const Client& client,
                                       const Grant& grant, TimePoint now);

// The actors of an "act" claim, outermost first, comma-separated: {"sub":"B","act":{"sub":
// "A"}} is "B,A". Stops at a level without a string "sub".
std::string actor_chain(const boost::json::object& act);

// The kFederatedClaim of verified claims, or nullopt when absent or not of that shape.
std::optional<FederatedIdentity> federated_identity(const boost::json::object& claims);

// Verifies one of our access tokens: signature by a key of keys.jwks(now) with its
// algorithm, typ at+jwt, iss = the issuer, exp/nbf/iat with the leeway; no audience check
// (introspection and revocation serve every audience).
std::expected<jose::VerifiedJwt, jose::VerifyError> verify_access_token(std::string_view token,
                                                                        const KeyRing& keys,
                                                                        TimePoint now);

}  // namespace sigil::oauth
