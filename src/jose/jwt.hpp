// Verifying JWS compact tokens and validating JWT claims (RFC 7519, RFC 8725).
//
// Strict by construction: the caller gives the key set and the allowed algorithms; the
// token's "alg" must be allowed and match the type of the key its "kid" names; "jku",
// "x5u", "jwk" and "x5c" headers never select a key; "crit" naming anything is refused;
// sizes are capped. A VerifiedJwt can only come out of verify(), so holding one means the
// signature and the claims were checked.
//
//   jose::Expectations want{.algorithms = {Algorithm::kES256}, .issuer = iss,
//                           .audience = aud, .typ = "at+jwt"};
//   auto jwt = jose::verify_jwt(compact, jwks, want, clock.now());
//   if (!jwt) return deny(jwt.error().reason);
#pragma once

#include <boost/json/object.hpp>

#include <cstdint>
#include <expected>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/clock.hpp"
#include "jose/jwk.hpp"

namespace sigil::jose {

// Why a token was refused. Exactly one reason per refusal, so tests can assert it.
enum class Reason {
  kMalformed,            // not three base64url parts, bad base64url, bad or non-object JSON
  kTooLarge,             // token or a part over the size limits
  kAlgorithmNotAllowed,  // "alg" missing, unknown, "none", or not in Expectations::algorithms
  kUnsupportedHeader,    // "crit" present, or "b64": false
  kUnknownKey,      // no key with this "kid" and "alg" in the set ("kid" required when the set has
                    // several keys)
  kBadSignature,    // the signature does not verify
  kWrongType,       // "typ" differs from Expectations::typ
  kMissingClaim,    // a required claim (exp, iss, aud per Expectations) is absent or of the wrong
                    // JSON type
  kExpired,         // now >= exp + leeway
  kNotYetValid,     // now < nbf - leeway
  kIssuedInFuture,  // iat > now + leeway
  kWrongIssuer,     // iss differs
  kWrongAudience,   // aud (string or array) does not contain the expected audience
};

std::string_view to_string(Reason reason);

struct VerifyError {
  Reason reason;
  std::string detail;  // for logs; never the token itself
};

struct Limits {
  std::size_t max_token_bytes = 16 * 1024;
  std::size_t max_header_bytes = 2 * 1024;  // decoded
};

struct Expectations {
  std::vector<Algorithm> algorithms;    // allowed; empty allows none
  std::optional<std::string> issuer;    // when set, "iss" must equal it
  std::optional<std::string> audience;  // when set, "aud" must contain it
  std::optional<std::string> typ;       // when set, header "typ" must match (case-insensitive,
                                        // "application/" prefix allowed, RFC 7515 §4.1.9)
  Seconds leeway{30};
  bool require_exp = true;
  Limits limits{};
};

// A JWS whose signature verified: header and raw payload bytes.
class VerifiedJws {
 public:
  const boost::json::object& header() const { return header_; }
  const std::string& payload() const { return payload_; }
  const std::string& kid() const { return kid_; }
  Algorithm alg() const { return alg_; }

 private:
  friend std::expected<VerifiedJws, VerifyError> verify_jws(std::string_view, const JwkSet&,
                                                            const std::vector<Algorithm>&,
                                                            const Limits&);
  VerifiedJws() = default;
  boost::json::object header_;
  std::string payload_;
  std::string kid_;
  Algorithm alg_ = Algorithm::kES256;
};

// A JWT whose signature and claims were checked.
class VerifiedJwt {
 public:
  const boost::json::object& header() const { return header_; }
  const boost::json::object& claims() const { return claims_; }
  const std::string& kid() const { return kid_; }

  // A string claim, or nullopt when absent or not a string.
  std::optional<std::string_view> string_claim(std::string_view name) const;
  // A NumericDate claim (integer seconds), or nullopt.
  std::optional<std::int64_t> time_claim(std::string_view name) const;

 private:
  friend std::expected<VerifiedJwt, VerifyError> verify_jwt(std::string_view, const JwkSet&,
                                                            const Expectations&, TimePoint);
  VerifiedJwt() = default;
  boost::json::object header_;
  boost::json::object claims_;
  std::string kid_;
};

// Signature only: the key is chosen by "kid" (or is the single key of the set when the
// token has no "kid") and must be of the token's "alg".
std::expected<VerifiedJws, VerifyError> verify_jws(std::string_view compact, const JwkSet& keys,
                                                   const std::vector<Algorithm>& algorithms,
                                                   const Limits& limits = {});

// Signature, then "typ", then claims: the payload must be a JSON object; exp/nbf/iat are
// integer NumericDates when present.
std::expected<VerifiedJwt, VerifyError> verify_jwt(std::string_view compact, const JwkSet& keys,
                                                   const Expectations& expectations, TimePoint now);

// A non-empty string claim of a compact JWT's payload, read WITHOUT verifying anything:
// only to choose whose keys are to verify it ("iss" of an external token, "sub" of a client
// assertion). nullopt when the token is not of that shape.
std::optional<std::string> unverified_string_claim(std::string_view compact, std::string_view name);

}  // namespace sigil::jose
