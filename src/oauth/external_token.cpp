#include "oauth/external_token.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include <memory>
#include <optional>
#include <vector>

#include "base/base64url.hpp"
#include "jose/jwt.hpp"

namespace sigil::oauth {

namespace {

// As jose::Limits: a larger token is refused before anything is decoded.
constexpr std::size_t kMaxTokenBytes = jose::Limits{}.max_token_bytes;

Denial refuse(std::string description, std::string reason, std::string detail = {}) {
  Denial d{OAuthError::kInvalidGrant, std::move(description), std::move(reason)};
  d.detail = std::move(detail);
  return d;
}

// The issuer's algorithms; RS256 and ES256 when it declares none (what GitHub, GitLab and
// Kubernetes sign with). Names the policy does not know were refused when it was parsed;
// "none" and HS* have no Algorithm at all.
std::vector<jose::Algorithm> algorithms_of(const policy::TrustedIssuer& issuer) {
  if (issuer.algorithms.empty()) return {jose::Algorithm::kRS256, jose::Algorithm::kES256};
  std::vector<jose::Algorithm> out;
  for (const auto& name : issuer.algorithms) {
    if (auto alg = jose::algorithm_from_string(name)) out.push_back(*alg);
  }
  return out;
}

Denial key_source_denial(const Error& error) {
  if (error.code == Code::kUnavailable) {
    return refuse("the keys of the token's issuer cannot be fetched now; try again later",
                  "issuer_unavailable", error.message);
  }
  return refuse("the keys of the token's issuer cannot be used", "issuer_keys_invalid",
                error.message);
}

// The issuer's published keys: at its jwks_uri, or at the one its discovery document names.
Result<std::shared_ptr<const jose::JwkSet>> published_keys(const policy::TrustedIssuer& issuer,
                                                           KeySource& source, bool refresh) {
  if (!issuer.jwks_uri.empty()) return source.keys_at(issuer.jwks_uri, refresh);
  return source.keys_of_issuer(issuer.issuer, refresh);
}

std::string describe(jose::Reason reason) {
  switch (reason) {
    case jose::Reason::kExpired:
      return "the token has expired";
    case jose::Reason::kNotYetValid:
    case jose::Reason::kIssuedInFuture:
      return "the token is not valid yet";
    case jose::Reason::kWrongAudience:
      return "the token is not meant for this server (aud)";
    case jose::Reason::kBadSignature:
    case jose::Reason::kUnknownKey:
      return "the token's signature cannot be verified with its issuer's keys";
    case jose::Reason::kAlgorithmNotAllowed:
      return "the token's signing algorithm is not accepted for its issuer";
    case jose::Reason::kMissingClaim:
      return "the token lacks a required claim";
    case jose::Reason::kMalformed:
    case jose::Reason::kTooLarge:
    case jose::Reason::kUnsupportedHeader:
    case jose::Reason::kWrongType:
    case jose::Reason::kWrongIssuer:
      break;
  }
  return "the token is malformed";
}

void flatten_into(policy::FlatClaims& out, const std::string& path, const boost::json::value& v) {
  switch (v.kind()) {
    case boost::json::kind::string:
      out[path].emplace_back(v.get_string());
      break;
    case boost::json::kind::bool_:
    case boost::json::kind::int64:
    case boost::json::kind::uint64:
    case boost::json::kind::double_:
      out[path].push_back(boost::json::serialize(v));
      break;
    case boost::json::kind::array:
      for (const auto& element : v.get_array()) {
        if (element.is_string() || element.is_bool() || element.is_number()) {
          flatten_into(out, path, element);
        }
      }
      break;
    case boost::json::kind::object:
      for (const auto& member : v.get_object()) {
        const std::string_view name = member.key();
        if (name.empty() || name.find('/') != std::string_view::npos) continue;
        flatten_into(out, path + "/" + std::string(name), member.value());
      }
      break;
    case boost::json::kind::null:
      break;
  }
}

}  // namespace

policy::FlatClaims flatten_claims(const boost::json::object& claims) {
  policy::FlatClaims out;
  for (const auto& member : claims) {
    const std::string_view name = member.key();
    if (name.empty() || name.find('/') != std::string_view::npos) continue;
    flatten_into(out, std::string(name), member.value());
  }
  return out;
}

std::expected<ExternalToken, Denial> verify_external_token(std::string_view jwt,
                                                           const policy::CompiledPolicy& policy,
                                                           const AssertionContext& context,
                                                           TimePoint now) {
  if (jwt.size() > kMaxTokenBytes) {
    return std::unexpected(refuse("the token is malformed", "too_large"));
  }
  const auto iss = jose::unverified_string_claim(jwt, "iss");
  if (!iss) {
    return std::unexpected(refuse("the token is malformed", "malformed",
                                  "not a JWT with a string \"iss\" in its payload"));
  }
  const policy::TrustedIssuer* issuer = policy.find_issuer(*iss);
  if (issuer == nullptr) {
    // The issuer is the token's own claim: the detail may name it, the description not.
    return std::unexpected(refuse("the token's issuer is not trusted", "unknown_issuer",
                                  "no trusted issuer is " + *iss));
  }

  jose::Expectations want;
  want.algorithms = algorithms_of(*issuer);
  want.issuer = issuer->issuer;
  want.audience = issuer->audience;
  want.leeway = context.leeway;
  want.require_exp = true;

  std::expected<jose::VerifiedJwt, jose::VerifyError> verified =
      std::unexpected(jose::VerifyError{jose::Reason::kUnknownKey, "no keys"});
  if (!issuer->jwks.empty()) {
    auto keys = jose::JwkSet::parse(issuer->jwks);
    if (!keys) return std::unexpected(key_source_denial(keys.error()));
    verified = jose::verify_jwt(jwt, *keys, want, now);
  } else {
    if (context.keys == nullptr) {
      return std::unexpected(key_source_denial(
          Error::unavailable("no key source is configured for " + issuer->issuer)));
    }
    auto keys = published_keys(*issuer, *context.keys, /*refresh=*/false);
    if (!keys) return std::unexpected(key_source_denial(keys.error()));
    verified = jose::verify_jwt(jwt, **keys, want, now);
    // A kid we do not know may be a key the issuer published since we fetched its set:
    // ask once more (the key source rate-limits these refreshes).
    if (!verified && verified.error().reason == jose::Reason::kUnknownKey) {
      auto fresh = published_keys(*issuer, *context.keys, /*refresh=*/true);
      if (fresh && *fresh != *keys) verified = jose::verify_jwt(jwt, **fresh, want, now);
    }
  }
  if (!verified) {
    const auto& error = verified.error();
    return std::unexpected(
        refuse(describe(error.reason), std::string(jose::to_string(error.reason)), error.detail));
  }

  ExternalToken token;
  token.issuer_ = issuer;
  auto sub = verified->string_claim("sub");
  if (!sub || sub->empty()) {
    return std::unexpected(refuse("the token lacks a required claim", "missing_claim",
                                  "the token has no string \"sub\""));
  }
  token.subject_ = std::string(*sub);
  const auto& claims = verified->claims();
  if (const auto* jti = claims.if_contains("jti"); jti != nullptr) {
    if (!jti->is_string() || jti->get_string().empty()) {
      return std::unexpected(refuse("the token lacks a required claim", "missing_claim",
                                    "\"jti\" is not a non-empty string"));
    }
    token.jti_ = std::string(jti->get_string());
  }
  // verify_jwt required exp as an integer NumericDate.
  token.expires_at_ = from_unix(*verified->time_claim("exp"));
  token.claims_ = flatten_claims(claims);

  const policy::ExternalIdentity identity = policy.match_external(*issuer, token.claims_);
  if (identity.rule == nullptr) {
    return std::unexpected(refuse("no rule of the token's issuer accepts this token",
                                  "no_rule_matched", identity.detail));
  }
  token.rule_ = identity.rule;

  // RFC 7523 §3: "The authorization server MAY ensure that JWTs are not replayed by
  // maintaining the set of used "jti" values for the length of time for which the JWT
  // would be considered valid based on the applicable "exp" instant." Without a cache
  // nothing is accepted (AssertionContext: fail closed).
  if (context.replays == nullptr) {
    return std::unexpected(refuse("the token cannot be accepted now", "assertion_replayed",
                                  "no replay cache is configured"));
  }
  // An issuer marked `reuse` hands one token to a workload for most of its lifetime.
  if (!token.jti_.empty() && !issuer->reuse &&
      !context.replays->first_use(issuer->issuer + '\n' + token.jti_,
                                  token.expires_at_ + context.leeway, now)) {
    return std::unexpected(refuse("the token was used before", "assertion_replayed",
                                  "jti " + token.jti_ + " of " + issuer->issuer + " seen before"));
  }
  return token;
}

}  // namespace sigil::oauth
