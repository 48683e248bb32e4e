// Sender-constrained tokens at a resource: a token bound to a client certificate (RFC 8705
// §3, "cnf": {"x5t#S256"}) is good only on a mutual-TLS connection with that certificate;
// a token bound to a DPoP key (RFC 9449 §6, "cnf": {"jkt"}) only with a valid DPoP proof
// by that key for this request. A bearer token (no "cnf") needs neither.
//
// Pure apart from the replay cache (the proofs' jti).
//
//   auto bound = check_token_binding(jwt->claims(), token, presented, now, replays);
//   if (!bound) return 401 with bound.error()   // invalid_token / invalid_dpop_proof
#pragma once

#include <boost/json/object.hpp>

#include <expected>
#include <optional>
#include <string>
#include <string_view>

#include "base/clock.hpp"
#include "oauth/oauth_error.hpp"
#include "oauth/replay_cache.hpp"

namespace sigil::oauth {

// RFC 8705 §3.1 x5t#S256: base64url (no padding) of the SHA-256 of the certificate's DER.
std::string certificate_thumbprint(std::string_view der);

// What a request to a resource carried besides the access token.
struct PresentedBinding {
  // The DER of the client certificate of the mutual-TLS connection; empty: none.
  std::string_view certificate_der;
  // The DPoP header (RFC 9449 §7.1), with the request's method and URL (its "htm"/"htu").
  std::optional<std::string_view> dpop_proof;
  std::string_view method;
  std::string_view url;
  // The token came as "Authorization: DPoP <token>" (RFC 9449 §7.1) rather than Bearer.
  bool dpop_scheme = false;
};

// Checks that `claims` (of the verified `access_token`) are used as their "cnf" demands:
//   cnf.x5t#S256  certificate_der must be present and its thumbprint equal it
//                 (reasons "certificate_required", "certificate_mismatch");
//   cnf.jkt       a DPoP proof must be present, the token sent with the DPoP scheme
//                 (RFC 9449 §7.2), the proof valid for method/url with "ath" of the
//                 token (verify_dpop_proof), by the key with that thumbprint
//                 (reasons "dpop_proof_required", "dpop_scheme_required",
//                 "dpop_key_mismatch", the dpop_* reasons of verify_dpop_proof);
//   no cnf        nothing (a DPoP proof sent with a bearer token is not checked), but a
//                 token sent with the DPoP scheme must be DPoP-bound ("not_dpop_bound",
//                 also for a cnf without jkt).
// Both members: both checks, the certificate first. A "cnf" that is not an object, has
// neither member, a member of the wrong type or empty, or a member sigil does not know
// (a confirmation it cannot check) is refused ("malformed_cnf"). Denials: kInvalidToken,
// except proof failures (kInvalidDpopProof).
std::expected<void, Denial> check_token_binding(const boost::json::object& claims,
                                                std::string_view access_token,
                                                const PresentedBinding& presented, TimePoint now,
                                                ReplayCache& replays, Seconds leeway = Seconds{30});

}  // namespace sigil::oauth
