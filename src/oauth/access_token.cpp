#include "oauth/access_token.hpp"

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

#include <algorithm>

#include "base/base64url.hpp"
#include "base/secrets.hpp"
#include "oauth/validation.hpp"

namespace sigil::oauth {

Result<IssuedToken> issue_access_token(const KeyRing& keys, const Client& client,
                                       const Grant& grant, TimePoint now) {
  if (grant.audience.empty()) {
    return std::unexpected(Error::internal("an access token needs an audience"));
  }
  const bool positive = (!grant.lifetime || *grant.lifetime > Seconds{0}) &&
                        (!grant.default_lifetime || *grant.default_lifetime > Seconds{0});
  if (!positive) {
    return std::unexpected(Error::internal("an access token's lifetime must be positive"));
  }
  const std::int64_t iat = to_unix(now);
  if (grant.not_after && to_unix(*grant.not_after) <= iat) {
    return std::unexpected(Error::internal("an access token's not_after must be after now"));
  }
  SIGIL_TRY(signer, keys.signer(now));
  const TokenSettings& settings = keys.settings();
  const Seconds lifetime =
      std::min({grant.default_lifetime.value_or(settings.default_lifetime),
                grant.lifetime.value_or(settings.max_lifetime), settings.max_lifetime});
  std::int64_t exp = iat + lifetime.count();
  if (grant.not_after) exp = std::min(exp, to_unix(*grant.not_after));

  IssuedToken token;
  token.jti = base64url_encode(random_bytes(16));
  token.issued_at = from_unix(iat);
  token.expires_at = from_unix(exp);

  boost::json::object claims;
  claims["iss"] = settings.issuer;
  claims["sub"] = grant.subject;
  if (grant.audience.size() == 1) {
    claims["aud"] = grant.audience.front();
  } else {
    boost::json::array aud;
    for (const auto& a : grant.audience) aud.emplace_back(a);
    claims["aud"] = std::move(aud);
  }
  claims["exp"] = exp;
  claims["iat"] = iat;
  claims["nbf"] = iat;
  claims["jti"] = token.jti;
  claims["client_id"] = client.id;
  if (!grant.scopes.empty()) claims["scope"] = join_scope(grant.scopes);
  if (grant.act) claims["act"] = *grant.act;
  // RFC 9449 §6.1: "the JWK SHA-256 Thumbprint confirmation method ... jkt"; RFC 8705
  // §3.1: x5t#S256 is "a base64url-encoded [RFC4648] SHA-256 [SHS] hash ... of the DER
  // encoding [X690] of the X.509 certificate".
  if (grant.jkt || grant.x5t_s256) {
    boost::json::object cnf;
    if (grant.jkt) cnf["jkt"] = *grant.jkt;
    if (grant.x5t_s256) cnf["x5t#S256"] = *grant.x5t_s256;
    claims["cnf"] = std::move(cnf);
  }
  if (grant.federated) {
    claims[kFederatedClaim] = boost::json::object{{"iss", grant.federated->issuer},
                                                  {"sub", grant.federated->subject},
                                                  {"rule", grant.federated->rule}};
  }
  if (!client.attributes.empty()) {
    boost::json::object attributes;
    for (const auto& [k, v] : client.attributes) attributes[k] = v;
    claims[kAttributesClaim] = std::move(attributes);
  }
  SIGIL_TRY(compact, signer->sign(boost::json::serialize(claims)));
  token.compact = std::move(compact);
  return token;
}

std::string actor_chain(const boost::json::object& act) {
  std::string chain;
  const boost::json::object* level = &act;
  while (level != nullptr) {
    const auto* sub = level->if_contains("sub");
    if (sub == nullptr || !sub->is_string()) break;
    if (!chain.empty()) chain += ',';
    chain += sub->get_string();
    const auto* inner = level->if_contains("act");
    level = inner != nullptr && inner->is_object() ? &inner->get_object() : nullptr;
  }
  return chain;
}

std::optional<FederatedIdentity> federated_identity(const boost::json::object& claims) {
  const auto* claim = claims.if_contains(kFederatedClaim);
  if (claim == nullptr || !claim->is_object()) return std::nullopt;
  const auto& o = claim->get_object();
  auto text = [&](std::string_view name) -> std::optional<std::string> {
    const auto* v = o.if_contains(name);
    if (v == nullptr || !v->is_string()) return std::nullopt;
    return std::string(v->get_string());
  };
  auto issuer = text("iss");
  auto subject = text("sub");
  auto rule = text("rule");
  if (!issuer || !subject || !rule) return std::nullopt;
  return FederatedIdentity{std::move(*issuer), std::move(*subject), std::move(*rule)};
}

std::expected<jose::VerifiedJwt, jose::VerifyError> verify_access_token(std::string_view token,
                                                                        const KeyRing& keys,
                                                                        TimePoint now) {
  const TokenSettings& settings = keys.settings();
  jose::Expectations want;
  want.algorithms = keys.algorithms(now);
  want.issuer = settings.issuer;
  want.typ = std::string(kAccessTokenTyp);
  want.leeway = settings.leeway;
  want.require_exp = true;
  return jose::verify_jwt(token, *keys.jwks(now), want, now);
}

}  // namespace sigil::oauth
