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
  SIGIL_TRY(signer, keys.signer(now));
  const TokenSettings& settings = keys.settings();
  const Seconds lifetime =
      std::min({grant.default_lifetime.value_or(settings.default_lifetime),
                grant.lifetime.value_or(settings.max_lifetime), settings.max_lifetime});
  const std::int64_t iat = to_unix(now);
  const std::int64_t exp = iat + lifetime.count();

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
  if (!client.attributes.empty()) {
    boost::json::object attributes;
    for (const auto& [k, v] : client.attributes) attributes[k] = v;
    claims[kAttributesClaim] = std::move(attributes);
  }
  SIGIL_TRY(compact, signer->sign(boost::json::serialize(claims)));
  token.compact = std::move(compact);
  return token;
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
