// DPoP proofs (RFC 9449): checking the proof a client sends in the DPoP header, and the
// JWK thumbprint (RFC 7638) a token is then bound to (cnf.jkt, RFC 9449 §6.1).
//
// Pure: no I/O, time passed in. The replay cache is the one the client assertions use;
// proof keys are prefixed "dpop\n" so they never meet an assertion's.
//
//   auto jkt = verify_dpop_proof(*proof, "POST", issuer + "/oauth2/token", now, replays);
//   if (!jkt) return deny(jkt.error());            // invalid_dpop_proof
//   grant.jkt = *jkt;                               // the token carries cnf.jkt
#pragma once

#include <expected>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/clock.hpp"
#include "jose/algorithm.hpp"
#include "oauth/oauth_error.hpp"
#include "oauth/replay_cache.hpp"

namespace sigil::oauth {

// The algorithms a proof may be signed with: every asymmetric one sigil verifies (ES256,
// ES384, EdDSA, RS256, PS256); never "none" or HS*. Advertised in the metadata as
// dpop_signing_alg_values_supported (RFC 9449 §5.1).
const std::vector<jose::Algorithm>& dpop_algorithms();

// The "ath" of a proof sent with `access_token`: base64url SHA-256 of its ASCII bytes
// (RFC 9449 §4.2).
std::string dpop_access_token_hash(std::string_view access_token);

// The RFC 9449 §4.3 checks, for a proof received with an HTTP request of `method` to
// `htu` (the request's URL; any query and fragment are ignored). One JWS whose header has
// "typ" dpop+jwt, an allowed "alg" and a public "jwk" (the key that must verify the
// signature); claims "jti", "htm" = method, "htu" = the URL after syntax- and scheme-based
// normalisation (scheme and host lower case, default port and dot segments removed), "iat"
// no more than `leeway` ahead of now and no more than `max_age` (+ leeway) behind it.
// With `access_token` (a proof at a resource), "ath" must be its hash. The jti is
// recorded in `replays` until the proof would no longer be accepted; a second use is
// refused.
// Returns the RFC 7638 SHA-256 thumbprint (base64url) of the proof's key. Every refusal is
// a Denial with kInvalidDpopProof and a reason starting "dpop_".
std::expected<std::string, Denial> verify_dpop_proof(
    std::string_view proof, std::string_view method, std::string_view htu, TimePoint now,
    ReplayCache& replays, Seconds leeway = Seconds{30}, Seconds max_age = Seconds{300},
    std::optional<std::string_view> access_token = std::nullopt);

}  // namespace sigil::oauth
