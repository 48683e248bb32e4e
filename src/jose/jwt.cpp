#include "jose/jwt.hpp"

#include <algorithm>
#include <cctype>
#include <limits>

#include "base/base64url.hpp"
#include "crypto/key.hpp"
#include "jose/key_mapping.hpp"
#include "jose/strict_json.hpp"

#include <boost/json/parse.hpp>

namespace sigil::jose {
namespace {

namespace json = boost::json;

std::unexpected<VerifyError> refuse(Reason reason, std::string detail) {
  return std::unexpected(VerifyError{reason, std::move(detail)});
}

// What verify_jws and verify_jwt share: the checked header, the key and the payload.
struct CheckedJws {
  json::object header;
  std::string payload;
  std::string kid;
  Algorithm alg = Algorithm::kES256;
};

std::expected<CheckedJws, VerifyError> check_jws(std::string_view compact, const JwkSet& keys,
                                                 const std::vector<Algorithm>& algorithms,
                                                 const Limits& limits) {
  if (compact.size() > limits.max_token_bytes) return refuse(Reason::kTooLarge, "token too large");
  std::size_t first = compact.find('.');
  std::size_t second = first == std::string_view::npos ? first : compact.find('.', first + 1);
  if (second == std::string_view::npos || compact.find('.', second + 1) != std::string_view::npos) {
    return refuse(Reason::kMalformed, "not three dot-separated parts");
  }
  std::string_view header_b64 = compact.substr(0, first);
  std::string_view payload_b64 = compact.substr(first + 1, second - first - 1);
  std::string_view signature_b64 = compact.substr(second + 1);

  if (header_b64.size() / 4 * 3 > limits.max_header_bytes + 3) {
    return refuse(Reason::kTooLarge, "header too large");
  }
  auto header_text = base64url_decode(header_b64);
  if (!header_text) return refuse(Reason::kMalformed, "header is not base64url");
  if (header_text->size() > limits.max_header_bytes) {
    return refuse(Reason::kTooLarge, "header too large");
  }
  auto header_value = internal::parse_strict_json(*header_text);
  if (!header_value || !header_value->is_object()) {
    return refuse(Reason::kMalformed, "header is not a JSON object (or repeats a member)");
  }
  CheckedJws out;
  out.header = std::move(header_value->as_object());
  const json::object& header = out.header;

  // RFC 7515 §4.1.11: extensions we do not understand must make the JWS invalid; sigil
  // understands none, so any "crit" is refused.
  if (header.contains("crit")) return refuse(Reason::kUnsupportedHeader, "crit header present");
  if (auto it = header.find("b64"); it != header.end() && it->value() != json::value(true)) {
    return refuse(Reason::kUnsupportedHeader, "unencoded payload (b64) not supported");
  }

  auto alg_it = header.find("alg");
  if (alg_it == header.end() || !alg_it->value().is_string()) {
    return refuse(Reason::kAlgorithmNotAllowed, "alg missing");
  }
  std::string_view alg_name = alg_it->value().as_string();
  auto alg = algorithm_from_string(alg_name);
  if (!alg) return refuse(Reason::kAlgorithmNotAllowed, "alg not supported");
  if (std::find(algorithms.begin(), algorithms.end(), *alg) == algorithms.end()) {
    return refuse(Reason::kAlgorithmNotAllowed, "alg " + std::string(alg_name) + " not allowed");
  }
  out.alg = *alg;

  // The key comes only from the caller's set, by "kid"; "jku", "x5u", "jwk" and "x5c"
  // are never consulted (RFC 8725 §3.10).
  const Jwk* key = nullptr;
  if (auto kid_it = header.find("kid"); kid_it != header.end()) {
    if (!kid_it->value().is_string()) return refuse(Reason::kMalformed, "kid is not a string");
    out.kid = std::string(kid_it->value().as_string());
    key = keys.find(out.kid, *alg);
  } else if (keys.keys().size() == 1 && keys.keys().front().alg() == *alg) {
    key = &keys.keys().front();
    out.kid = key->kid();
  }
  if (key == nullptr) return refuse(Reason::kUnknownKey, "no key for this kid and alg");

  auto signature = base64url_decode(signature_b64);
  if (!signature) return refuse(Reason::kMalformed, "signature is not base64url");
  auto payload = base64url_decode(payload_b64);
  if (!payload) return refuse(Reason::kMalformed, "payload is not base64url");

  // The key's type is fixed by its algorithm, and the scheme by the token's; both were
  // matched above, and crypto::Key refuses a scheme that does not suit it besides.
  auto verified =
      key->key().verify(internal::scheme_for(*alg), compact.substr(0, second), *signature);
  if (!verified) return refuse(Reason::kBadSignature, "signature does not verify");
  out.payload = std::move(*payload);
  return out;
}

bool ascii_iequal(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

// RFC 7515 §4.1.9: "typ" values compare case-insensitively, "application/" optional.
std::string_view media_type(std::string_view t) {
  constexpr std::string_view kPrefix = "application/";
  if (t.size() > kPrefix.size() && ascii_iequal(t.substr(0, kPrefix.size()), kPrefix)) {
    t.remove_prefix(kPrefix.size());
  }
  return t;
}

// An integer NumericDate: absent -> nullopt; present but not an int64 -> error.
std::expected<std::optional<std::int64_t>, VerifyError> numeric_date(const json::object& claims,
                                                                     std::string_view name) {
  auto it = claims.find(name);
  if (it == claims.end()) return std::nullopt;
  if (it->value().is_int64()) return it->value().as_int64();
  if (it->value().is_uint64() &&
      it->value().as_uint64() <= std::uint64_t(std::numeric_limits<std::int64_t>::max())) {
    return static_cast<std::int64_t>(it->value().as_uint64());
  }
  return refuse(Reason::kMissingClaim, std::string(name) + " is not an integer NumericDate");
}

// Saturating, so huge claim values cannot overflow the comparisons.
std::int64_t add_sat(std::int64_t a, std::int64_t b) {
  if (b > 0 && a > std::numeric_limits<std::int64_t>::max() - b) {
    return std::numeric_limits<std::int64_t>::max();
  }
  if (b < 0 && a < std::numeric_limits<std::int64_t>::min() - b) {
    return std::numeric_limits<std::int64_t>::min();
  }
  return a + b;
}

}  // namespace

std::string_view to_string(Reason reason) {
  switch (reason) {
    case Reason::kMalformed:
      return "malformed";
    case Reason::kTooLarge:
      return "too_large";
    case Reason::kAlgorithmNotAllowed:
      return "algorithm_not_allowed";
    case Reason::kUnsupportedHeader:
      return "unsupported_header";
    case Reason::kUnknownKey:
      return "unknown_key";
    case Reason::kBadSignature:
      return "bad_signature";
    case Reason::kWrongType:
      return "wrong_type";
    case Reason::kMissingClaim:
      return "missing_claim";
    case Reason::kExpired:
      return "expired";
    case Reason::kNotYetValid:
      return "not_yet_valid";
    case Reason::kIssuedInFuture:
      return "issued_in_future";
    case Reason::kWrongIssuer:
      return "wrong_issuer";
    case Reason::kWrongAudience:
      return "wrong_audience";
  }
  return "unknown";
}

std::optional<std::string_view> VerifiedJwt::string_claim(std::string_view name) const {
  auto it = claims_.find(name);
  if (it == claims_.end() || !it->value().is_string()) return std::nullopt;
  return std::string_view(it->value().as_string());
}

std::optional<std::int64_t> VerifiedJwt::time_claim(std::string_view name) const {
  auto value = numeric_date(claims_, name);
  return value ? *value : std::nullopt;
}

std::expected<VerifiedJws, VerifyError> verify_jws(std::string_view compact, const JwkSet& keys,
                                                   const std::vector<Algorithm>& algorithms,
                                                   const Limits& limits) {
  auto checked = check_jws(compact, keys, algorithms, limits);
  if (!checked) return std::unexpected(std::move(checked.error()));
  VerifiedJws out;
  out.header_ = std::move(checked->header);
  out.payload_ = std::move(checked->payload);
  out.kid_ = std::move(checked->kid);
  out.alg_ = checked->alg;
  return out;
}

std::expected<VerifiedJwt, VerifyError> verify_jwt(std::string_view compact, const JwkSet& keys,
                                                   const Expectations& want, TimePoint now) {
  auto checked = check_jws(compact, keys, want.algorithms, want.limits);
  if (!checked) return std::unexpected(std::move(checked.error()));

  if (want.typ) {
    auto it = checked->header.find("typ");
    if (it == checked->header.end() || !it->value().is_string() ||
        !ascii_iequal(media_type(it->value().as_string()), media_type(*want.typ))) {
      return refuse(Reason::kWrongType, "typ does not match");
    }
  }

  auto claims_value = internal::parse_strict_json(checked->payload);
  if (!claims_value || !claims_value->is_object()) {
    return refuse(Reason::kMalformed, "claims are not a JSON object (or repeat a member)");
  }
  json::object& claims = claims_value->as_object();

  auto exp = numeric_date(claims, "exp");
  if (!exp) return std::unexpected(std::move(exp.error()));
  auto nbf = numeric_date(claims, "nbf");
  if (!nbf) return std::unexpected(std::move(nbf.error()));
  auto iat = numeric_date(claims, "iat");
  if (!iat) return std::unexpected(std::move(iat.error()));

  const std::int64_t now_s = to_unix(now);
  const std::int64_t leeway = want.leeway.count();
  if (!*exp && want.require_exp) return refuse(Reason::kMissingClaim, "exp missing");
  // RFC 7519 §4.1.4: not accepted on or after exp (plus leeway).
  if (*exp && now_s >= add_sat(**exp, leeway)) return refuse(Reason::kExpired, "expired");
  if (*nbf && now_s < add_sat(**nbf, -leeway)) return refuse(Reason::kNotYetValid, "before nbf");
  if (*iat && **iat > add_sat(now_s, leeway)) {
    return refuse(Reason::kIssuedInFuture, "iat in the future");
  }

  if (want.issuer) {
    auto it = claims.find("iss");
    if (it == claims.end() || !it->value().is_string()) {
      return refuse(Reason::kMissingClaim, "iss missing");
    }
    if (it->value().as_string() != *want.issuer) return refuse(Reason::kWrongIssuer, "wrong iss");
  }

  if (want.audience) {
    auto it = claims.find("aud");
    if (it == claims.end()) return refuse(Reason::kMissingClaim, "aud missing");
    bool found = false;
    if (it->value().is_string()) {
      found = it->value().as_string() == *want.audience;
    } else if (it->value().is_array()) {
      for (const auto& entry : it->value().as_array()) {
        if (!entry.is_string()) return refuse(Reason::kMissingClaim, "aud entry not a string");
        found |= entry.as_string() == *want.audience;
      }
    } else {
      return refuse(Reason::kMissingClaim, "aud is neither string nor array");
    }
    if (!found) return refuse(Reason::kWrongAudience, "audience not in aud");
  }

  VerifiedJwt out;
  out.header_ = std::move(checked->header);
  out.claims_ = std::move(claims);
  out.kid_ = std::move(checked->kid);
  return out;
}

std::optional<std::string> unverified_string_claim(std::string_view compact,
                                                   std::string_view name) {
  if (compact.size() > Limits{}.max_token_bytes) return std::nullopt;
  const auto first = compact.find('.');
  if (first == std::string_view::npos) return std::nullopt;
  const auto second = compact.find('.', first + 1);
  if (second == std::string_view::npos) return std::nullopt;
  auto payload = base64url_decode(compact.substr(first + 1, second - first - 1));
  if (!payload) return std::nullopt;
  boost::system::error_code ec;
  boost::json::value value = boost::json::parse(*payload, ec);
  if (ec || !value.is_object()) return std::nullopt;
  const auto* claim = value.as_object().if_contains(name);
  if (claim == nullptr || !claim->is_string() || claim->get_string().empty()) return std::nullopt;
  return std::string(claim->get_string());
}

}  // namespace sigil::jose
