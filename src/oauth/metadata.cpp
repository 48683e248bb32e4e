#include "oauth/metadata.hpp"

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

#include <initializer_list>

#include "oauth/client_authentication.hpp"
#include "oauth/dpop.hpp"

namespace sigil::oauth {

namespace {

boost::json::array strings(std::initializer_list<std::string_view> values) {
  boost::json::array out;
  for (auto v : values) out.emplace_back(v);
  return out;
}

}  // namespace

std::string authorization_server_metadata(std::string_view issuer,
                                          const std::vector<jose::Algorithm>& signing_algs,
                                          std::string_view mtls_base_url) {
  const std::string base(issuer);
  boost::json::array algs;
  for (auto alg : signing_algs) algs.emplace_back(jose::to_string(alg));
  const auto auth_methods = strings({"client_secret_basic", "client_secret_post", "private_key_jwt",
                                     "tls_client_auth", "self_signed_tls_client_auth"});
  // RFC 8414 §2: the JWS algorithms "supported by the token endpoint for the signature on
  // the JWT used to authenticate the client at the token endpoint for the
  // "private_key_jwt" and "client_secret_jwt" authentication methods".
  boost::json::array assertion_algs;
  for (auto alg : client_assertion_algorithms()) assertion_algs.emplace_back(jose::to_string(alg));

  boost::json::object m;
  m["issuer"] = base;
  m["token_endpoint"] = base + "/oauth2/token";
  m["jwks_uri"] = base + "/.well-known/jwks.json";
  m["introspection_endpoint"] = base + "/oauth2/introspect";
  m["revocation_endpoint"] = base + "/oauth2/revoke";
  m["grant_types_supported"] =
      strings({"client_credentials", "urn:ietf:params:oauth:grant-type:jwt-bearer",
               "urn:ietf:params:oauth:grant-type:token-exchange"});
  m["token_endpoint_auth_methods_supported"] = auth_methods;
  m["introspection_endpoint_auth_methods_supported"] = auth_methods;
  m["revocation_endpoint_auth_methods_supported"] = auth_methods;
  m["token_endpoint_auth_signing_alg_values_supported"] = assertion_algs;
  m["introspection_endpoint_auth_signing_alg_values_supported"] = assertion_algs;
  m["revocation_endpoint_auth_signing_alg_values_supported"] = assertion_algs;
  // RFC 9449 §5.1: "dpop_signing_alg_values_supported: A JSON array containing a list of
  // the JWS alg values (from the [IANA.JOSE.ALGS] registry) supported by the authorization
  // server for DPoP proof JWTs."
  boost::json::array dpop_algs;
  for (auto alg : dpop_algorithms()) dpop_algs.emplace_back(jose::to_string(alg));
  m["dpop_signing_alg_values_supported"] = std::move(dpop_algs);
  // RFC 8705 §3.3: "tls_client_certificate_bound_access_tokens ... Boolean value
  // indicating server support for mutual-TLS client certificate-bound access tokens."
  m["tls_client_certificate_bound_access_tokens"] = true;
  // RFC 8705 §5: "mtls_endpoint_aliases ... a JSON object containing alternative
  // authorization server endpoints that, when present, an OAuth client intending to do
  // mutual TLS uses in preference to the conventional endpoints."
  if (!mtls_base_url.empty()) {
    const std::string mtls(mtls_base_url);
    m["mtls_endpoint_aliases"] =
        boost::json::object{{"token_endpoint", mtls + "/oauth2/token"},
                            {"introspection_endpoint", mtls + "/oauth2/introspect"},
                            {"revocation_endpoint", mtls + "/oauth2/revoke"}};
  }
  // OpenID Connect Discovery 1.0 §3 makes response_types_supported,
  // subject_types_supported and id_token_signing_alg_values_supported REQUIRED, and OIDC
  // client libraries (openid-client) refuse a document without them. sigil has no
  // authorization endpoint and issues no ID tokens; these values are the minimal truthful
  // ones that satisfy the schema: no response types (there is no authorization endpoint).
  m["response_types_supported"] = boost::json::array();
  m["subject_types_supported"] = strings({"public"});
  m["id_token_signing_alg_values_supported"] = algs;
  return boost::json::serialize(m);
}

}  // namespace sigil::oauth
