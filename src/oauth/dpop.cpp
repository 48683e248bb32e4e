#include "oauth/dpop.hpp"

#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/url.hpp>

#include <algorithm>
#include <array>
#include <cstdint>

#include "base/base64url.hpp"
#include "crypto/digest.hpp"
#include "jose/jwk.hpp"
#include "jose/jwt.hpp"

namespace sigil::oauth {

namespace {

namespace json = boost::json;

constexpr std::string_view kDpopType = "dpop+jwt";
// Proofs are small: a header with one public key, and five claims.
constexpr std::size_t kMaxProofBytes = 8 * 1024;

std::unexpected<Denial> refuse(std::string description, std::string reason,
                               std::string detail = {}) {
  return std::unexpected(Denial{OAuthError::kInvalidDpopProof, std::move(description),
                                std::move(reason), std::move(detail)});
}

// The decoded JOSE header of a compact JWS, or nullopt when it is not one.
std::optional<json::object> decode_header(std::string_view compact) {
  const std::size_t dot = compact.find('.');
  if (dot == std::string_view::npos) return std::nullopt;
  auto bytes = base64url_decode(compact.substr(0, dot));
  if (!bytes) return std::nullopt;
  boost::system::error_code ec;
  json::value value = json::parse(*bytes, ec);
  if (ec || !value.is_object()) return std::nullopt;
  return std::move(value.as_object());
}

// RFC 9449 §4.3: "To reduce the likelihood of false negatives, servers SHOULD employ
// syntax-based normalization (Section 6.2.2 of [RFC3986]) and scheme-based normalization
// (Section 6.2.3 of [RFC3986]) before comparing the htu claim." Query and fragment are
// dropped (§4.3 step 9: "ignoring any query and fragment parts"). nullopt: not an
// absolute http(s) URI.
std::optional<std::string> normalise_htu(std::string_view uri) {
  auto parsed = boost::urls::parse_uri(uri);
  if (!parsed) return std::nullopt;
  boost::urls::url url(*parsed);
  url.remove_query();
  url.remove_fragment();
  url.normalize();
  const auto scheme = url.scheme_id();
  if (scheme != boost::urls::scheme::http && scheme != boost::urls::scheme::https) {
    return std::nullopt;
  }
  if (!url.has_authority() || url.host().empty()) return std::nullopt;
  if (url.has_port()) {
    const bool default_port = (scheme == boost::urls::scheme::http && url.port() == "80") ||
                              (scheme == boost::urls::scheme::https && url.port() == "443");
    if (default_port || url.port().empty()) url.remove_port();
  }
  if (url.path().empty()) url.set_path("/");
  return std::string(url.buffer());
}

bool has_private_members(const json::object& jwk) {
  // RSA (RFC 7518 §6.3.2), EC and OKP ("d"), and symmetric keys ("k").
  static constexpr std::array<std::string_view, 8> kPrivate = {"d",  "p",  "q",   "dp",
                                                               "dq", "qi", "oth", "k"};
  return std::any_of(kPrivate.begin(), kPrivate.end(),
                     [&](std::string_view name) { return jwk.contains(name); });
}

}  // namespace

const std::vector<jose::Algorithm>& dpop_algorithms() {
  static const std::vector<jose::Algorithm> kAlgorithms = {
      jose::Algorithm::kES256, jose::Algorithm::kES384, jose::Algorithm::kEdDSA,
      jose::Algorithm::kRS256, jose::Algorithm::kPS256};
  return kAlgorithms;
}

std::string dpop_access_token_hash(std::string_view access_token) {
  return base64url_encode(crypto::sha256(access_token));
}

std::expected<std::string, Denial> verify_dpop_proof(std::string_view proof,
                                                     std::string_view method, std::string_view htu,
                                                     TimePoint now, ReplayCache& replays,
                                                     Seconds leeway, Seconds max_age,
                                                     std::optional<std::string_view> access_token) {
  // RFC 9449 §4.3 step 1: "There is not more than one DPoP HTTP request header field."
  // (the edge's part); step 2: "The DPoP HTTP request header field value is a single and
  // well-formed JWT."
  if (proof.size() > kMaxProofBytes) {
    return refuse("the DPoP proof is too large", "dpop_malformed");
  }
  auto header = decode_header(proof);
  if (!header) return refuse("the DPoP proof is not a JWT", "dpop_malformed");

  // Step 4: "the typ JOSE Header Parameter has the value dpop+jwt".
  const auto* typ = header->if_contains("typ");
  if (typ == nullptr || !typ->is_string() || typ->as_string() != kDpopType) {
    return refuse("the DPoP proof's typ must be dpop+jwt", "dpop_wrong_type");
  }
  // Step 5: "the alg JOSE Header Parameter indicates a registered asymmetric digital
  // signature algorithm [IANA.JOSE.ALGS], is not none, is supported by the application,
  // and is acceptable per local policy".
  const auto* alg_value = header->if_contains("alg");
  std::optional<jose::Algorithm> alg;
  if (alg_value != nullptr && alg_value->is_string()) {
    alg = jose::algorithm_from_string(alg_value->as_string());
  }
  const auto& allowed = dpop_algorithms();
  if (!alg || std::find(allowed.begin(), allowed.end(), *alg) == allowed.end()) {
    return refuse("the DPoP proof's alg is not supported", "dpop_bad_alg");
  }
  // Step 7: "the jwk JOSE Header Parameter does not contain a private key". This is the
  // one place a "jwk" header names a key: the proof proves possession of it.
  const auto* jwk_value = header->if_contains("jwk");
  if (jwk_value == nullptr || !jwk_value->is_object()) {
    return refuse("the DPoP proof has no jwk header", "dpop_bad_jwk");
  }
  if (has_private_members(jwk_value->as_object())) {
    return refuse("the DPoP proof's jwk must be a public key", "dpop_private_jwk");
  }
  // verify_jws() picks the key by the header's "kid" when there is one: give the key
  // that name, so that a proof naming its key is not refused for it.
  json::object jwk = jwk_value->as_object();
  if (const auto* kid = header->if_contains("kid"); kid != nullptr && kid->is_string()) {
    jwk["kid"] = *kid;
  }
  auto key = jose::Jwk::from_json(jwk, *alg);
  if (!key) {
    return refuse("the DPoP proof's jwk is not usable", "dpop_bad_jwk", key.error().message);
  }

  // Step 6: "the JWT signature verifies with the public key contained in the jwk JOSE
  // Header Parameter".
  const jose::JwkSet keys(std::vector<jose::Jwk>{*key});
  auto verified = jose::verify_jws(proof, keys, allowed);
  if (!verified) {
    switch (verified.error().reason) {
      case jose::Reason::kBadSignature:
        return refuse("the DPoP proof's signature does not verify", "dpop_bad_signature");
      case jose::Reason::kUnknownKey:
        return refuse("the DPoP proof's jwk does not suit its alg", "dpop_bad_jwk",
                      verified.error().detail);
      default:
        return refuse("the DPoP proof is not a valid JWS", "dpop_malformed",
                      verified.error().detail);
    }
  }
  boost::system::error_code ec;
  json::value payload = json::parse(verified->payload(), ec);
  if (ec || !payload.is_object()) {
    return refuse("the DPoP proof's claims are not a JSON object", "dpop_malformed");
  }
  const json::object& claims = payload.as_object();
  auto string_claim = [&](std::string_view name) -> std::optional<std::string_view> {
    const auto* v = claims.if_contains(name);
    if (v == nullptr || !v->is_string() || v->as_string().empty()) return std::nullopt;
    return std::string_view(v->as_string());
  };

  // Step 3: "All required claims per Section 4.2 are contained in the JWT."
  const auto jti = string_claim("jti");
  const auto htm = string_claim("htm");
  const auto proof_htu = string_claim("htu");
  const auto* iat_value = claims.if_contains("iat");
  std::optional<std::int64_t> iat;
  if (iat_value != nullptr && iat_value->is_int64()) iat = iat_value->as_int64();
  if (iat_value != nullptr && iat_value->is_uint64() && iat_value->as_uint64() <= INT64_MAX) {
    iat = static_cast<std::int64_t>(iat_value->as_uint64());
  }
  if (!jti || !htm || !proof_htu || !iat) {
    return refuse("the DPoP proof lacks jti, htm, htu or iat", "dpop_missing_claim");
  }
  // Step 8: "The htm claim matches the HTTP method of the current request."
  if (*htm != method) {
    return refuse("the DPoP proof's htm does not match the request", "dpop_wrong_htm");
  }
  // Step 9: "The htu claim matches the HTTP URI value for the HTTP request in which the
  // JWT was received, ignoring any query and fragment parts."
  const auto want_htu = normalise_htu(htu);
  const auto got_htu = normalise_htu(*proof_htu);
  if (!want_htu || !got_htu || *want_htu != *got_htu) {
    return refuse("the DPoP proof's htu does not match the request", "dpop_wrong_htu");
  }
  // Step 11: "the creation time of the JWT, as determined by either the iat claim or a
  // server managed timestamp via the nonce claim, is within an acceptable window".
  const std::int64_t now_s = to_unix(now);
  if (*iat > now_s + leeway.count()) {
    return refuse("the DPoP proof is issued in the future", "dpop_iat_in_future");
  }
  if (now_s - *iat > max_age.count() + leeway.count()) {
    return refuse("the DPoP proof is too old", "dpop_stale");
  }
  // Step 12: "if presented to a protected resource in conjunction with an access token,
  // ensure that the value of the ath claim equals the hash of that access token".
  if (access_token) {
    const auto ath = string_claim("ath");
    if (!ath || *ath != dpop_access_token_hash(*access_token)) {
      return refuse("the DPoP proof's ath does not match the access token", "dpop_wrong_ath");
    }
  }
  // RFC 9449 §11.1: "the server MUST only accept DPoP proofs for a limited time after
  // their creation" and keep "a list of received jti values" for that window. Last, so
  // that a proof refused for another reason is not spent.
  std::string jkt = key->thumbprint();
  const TimePoint accepted_until = from_unix(*iat) + max_age + leeway;
  if (!replays.first_use("dpop\n" + jkt + "\n" + std::string(*jti), accepted_until, now)) {
    return refuse("the DPoP proof was already used", "dpop_replayed");
  }
  return jkt;
}

}  // namespace sigil::oauth
