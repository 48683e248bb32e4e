// JWT access tokens (RFC 9068): building and signing them, and verifying ours.
#pragma once

#include <expected>
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
};

struct IssuedToken {
  std::string compact;
  std::string jti;
  TimePoint issued_at{};
  TimePoint expires_at{};
};

// Signs an access token for `client` with the key ring's active key. Claims: iss, sub,
// aud (a string when one audience, else an array), exp (iat + default_lifetime, capped
// by max_lifetime), iat, nbf (= iat), jti (128 random bits, base64url), client_id, scope
// (when any), and the client's attributes under kAttributesClaim (when any).
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
