#include "oauth/introspection.hpp"

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

#include "oauth/access_token.hpp"

namespace sigil::oauth {

namespace {

IntrospectionResult inactive(std::string reason) {
  IntrospectionResult r;
  r.reason_if_inactive = std::move(reason);
  return r;
}

}  // namespace

IntrospectionResult Introspection::introspect(std::string_view token,
                                              const AuthenticatedClient& /*caller*/,
                                              TimePoint now) const {
  return check(token, now);
}

IntrospectionResult Introspection::check(std::string_view token, TimePoint now) const {
  // RFC 7662 §2.2 active: "Boolean indicator of whether or not the presented token is
  // currently active. ... this will indicate that a given token has been issued by this
  // authorization server, has not been revoked by the resource owner, and is within its
  // given time window of validity (e.g., after its issuance time and before its
  // expiration time)."
  auto jwt = verify_access_token(token, keys_, now);
  if (!jwt) return inactive(std::string(jose::to_string(jwt.error().reason)));

  const auto& claims = jwt->claims();
  IntrospectedClaims out;
  auto text = [&](std::string_view name) {
    auto v = jwt->string_claim(name);
    return v ? std::string(*v) : std::string();
  };
  out.jti = text("jti");
  out.client_id = text("client_id");
  out.sub = text("sub");
  out.iss = text("iss");
  out.scope = text("scope");
  out.exp = jwt->time_claim("exp").value_or(0);
  out.iat = jwt->time_claim("iat").value_or(0);
  out.nbf = jwt->time_claim("nbf").value_or(out.iat);
  if (auto it = claims.find("aud"); it != claims.end()) {
    if (it->value().is_string()) {
      out.aud.emplace_back(it->value().get_string());
    } else if (it->value().is_array()) {
      for (const auto& a : it->value().get_array()) {
        if (a.is_string()) out.aud.emplace_back(a.get_string());
      }
    }
  }
  if (auto it = claims.find("act"); it != claims.end() && it->value().is_object()) {
    out.act = it->value().get_object();
  }
  out.federated = federated_identity(claims);
  if (auto it = claims.find("cnf"); it != claims.end() && it->value().is_object()) {
    const auto* jkt = it->value().get_object().if_contains("jkt");
    if (jkt != nullptr && jkt->is_string()) {
      out.jkt = std::string(jkt->get_string());
      out.token_type = "DPoP";
    }
    const auto* x5t = it->value().get_object().if_contains("x5t#S256");
    if (x5t != nullptr && x5t->is_string()) out.x5t_s256 = std::string(x5t->get_string());
  }
  if (out.jti.empty() || out.client_id.empty() || out.aud.empty()) return inactive("missing_claim");

  if (revoked_.is_revoked(out.jti)) return inactive("revoked");
  // The kill switch: a disabled client's tokens stop at once, before they expire.
  if (!clients_.is_active(out.client_id)) return inactive("client_disabled");

  IntrospectionResult result;
  result.active = true;
  result.claims = std::move(out);
  return result;
}

std::string to_json(const IntrospectionResult& result) {
  boost::json::object body;
  body["active"] = result.active;
  // RFC 7662 §2.2: "If the introspection call is properly authorized but the token is not
  // active, does not exist on this server, or the protected resource is not allowed to
  // introspect this particular token, then the authorization server MUST return an
  // introspection response with the "active" field set to "false"." ... "the
  // authorization server SHOULD NOT include any additional information about an inactive
  // token".
  if (!result.active) return boost::json::serialize(body);
  const auto& c = result.claims;
  if (!c.scope.empty()) body["scope"] = c.scope;
  body["client_id"] = c.client_id;
  body["token_type"] = c.token_type;
  body["exp"] = c.exp;
  body["iat"] = c.iat;
  body["nbf"] = c.nbf;
  body["sub"] = c.sub;
  if (c.aud.size() == 1) {
    body["aud"] = c.aud.front();
  } else {
    boost::json::array aud;
    for (const auto& a : c.aud) aud.emplace_back(a);
    body["aud"] = std::move(aud);
  }
  body["iss"] = c.iss;
  body["jti"] = c.jti;
  if (c.act) body["act"] = *c.act;
  // RFC 9449 §6.2: "the introspection response MUST include a cnf member with a jkt";
  // RFC 8705 §3.2: a certificate-bound token's thumbprint goes in the same cnf member, as
  // x5t#S256, so that the resource can check the certificate.
  if (c.jkt || c.x5t_s256) {
    boost::json::object cnf;
    if (c.jkt) cnf["jkt"] = *c.jkt;
    if (c.x5t_s256) cnf["x5t#S256"] = *c.x5t_s256;
    body["cnf"] = std::move(cnf);
  }
  return boost::json::serialize(body);
}

}  // namespace sigil::oauth
