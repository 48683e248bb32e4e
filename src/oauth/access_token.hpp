// JWT access tokens (RFC 9068): building and signing them, and verifying ours.
#pragma once

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
};

struct IssuedToken {
  std::string compact;
  std::string jti;
  TimePoint issued_at{};
  TimePoint expires_at{};
};

// Signs an access token for `client` with the key ring's active key. Claims: iss, sub,
// aud (a string when one audience, else an array), exp (iat + the lifetime: the
// shortest of grant.default_lifetime or else the settings' default_lifetime,
// grant.lifetime and the settings' max_lifetime), iat, nbf (= iat), jti (128 random bits,
// base64url), client_id, scope (when any), and the client's attributes under
// kAttributesClaim (when any).
// kInternal for a grant without audience or with a lifetime that is not positive;
// kFailedPrecondition when no key is active; signing failures as they come.
Result<IssuedToken> issue_access_token(const KeyRing& keys, const Client& client,
                                       const Grant& grant, TimePoint now);

// Verifies one of our access tokens: signature by a key of keys.jwks(now) with its
// algorithm, typ at+jwt, iss = the issuer, exp/nbf/iat with the leeway; no audience check
// (introspection and revocation serve every audience).
std::expected<jose::VerifiedJwt, jose::VerifyError> verify_access_token(std::string_view token,
                                                                        const KeyRing& keys,
                                                                        TimePoint now);

}  // namespace sigil::oauth
