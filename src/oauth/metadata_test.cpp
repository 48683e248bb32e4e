#include "oauth/metadata.hpp"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>

namespace sigil::oauth {
namespace {

std::vector<std::string> strings(const boost::json::value& v) {
  std::vector<std::string> out;
  for (const auto& s : v.as_array()) out.emplace_back(s.as_string());
  return out;
}

TEST(MetadataTest, DescribesTheEndpoints) {
  const auto text = authorization_server_metadata(
      "https://sigil.test", {jose::Algorithm::kES256, jose::Algorithm::kEdDSA});
  const auto m = boost::json::parse(text).as_object();
  const std::vector<std::string> methods{"client_secret_basic", "client_secret_post",
                                         "private_key_jwt", "tls_client_auth",
                                         "self_signed_tls_client_auth"};
  const std::vector<std::string> assertion_algs{"ES256", "ES384", "EdDSA", "RS256", "PS256"};
  EXPECT_EQ(m.at("issuer").as_string(), "https://sigil.test");
  EXPECT_EQ(m.at("token_endpoint").as_string(), "https://sigil.test/oauth2/token");
  EXPECT_EQ(m.at("jwks_uri").as_string(), "https://sigil.test/.well-known/jwks.json");
  EXPECT_EQ(m.at("introspection_endpoint").as_string(), "https://sigil.test/oauth2/introspect");
  EXPECT_EQ(m.at("revocation_endpoint").as_string(), "https://sigil.test/oauth2/revoke");
  EXPECT_EQ(
      strings(m.at("grant_types_supported")),
      (std::vector<std::string>{"client_credentials", "urn:ietf:params:oauth:grant-type:jwt-bearer",
                                "urn:ietf:params:oauth:grant-type:token-exchange"}));
  EXPECT_EQ(strings(m.at("token_endpoint_auth_methods_supported")), methods);
  EXPECT_EQ(strings(m.at("introspection_endpoint_auth_methods_supported")), methods);
  EXPECT_EQ(strings(m.at("revocation_endpoint_auth_methods_supported")), methods);
  EXPECT_EQ(strings(m.at("token_endpoint_auth_signing_alg_values_supported")), assertion_algs);
  EXPECT_EQ(strings(m.at("introspection_endpoint_auth_signing_alg_values_supported")),
            assertion_algs);
  EXPECT_EQ(strings(m.at("revocation_endpoint_auth_signing_alg_values_supported")), assertion_algs);
  EXPECT_TRUE(m.at("response_types_supported").as_array().empty());
  EXPECT_EQ(strings(m.at("subject_types_supported")), std::vector<std::string>{"public"});
  EXPECT_EQ(strings(m.at("id_token_signing_alg_values_supported")),
            (std::vector<std::string>{"ES256", "EdDSA"}));
  EXPECT_FALSE(m.contains("scopes_supported"));
  // RFC 9449 §5.1: every asymmetric algorithm a DPoP proof may use.
  EXPECT_EQ(strings(m.at("dpop_signing_alg_values_supported")), assertion_algs);
  // RFC 8705 §3.3.
  EXPECT_EQ(m.at("tls_client_certificate_bound_access_tokens"), true);
  // RFC 8705 §5: no mutual-TLS listener, no aliases.
  EXPECT_FALSE(m.contains("mtls_endpoint_aliases"));
  EXPECT_EQ(m.size(), 17u);
}

TEST(MetadataTest, NamesTheMutualTlsEndpoints) {
  const auto text = authorization_server_metadata("https://sigil.test", {jose::Algorithm::kES256},
                                                  "https://mtls.sigil.test:8443");
  const auto m = boost::json::parse(text).as_object();
  const auto& aliases = m.at("mtls_endpoint_aliases").as_object();
  EXPECT_EQ(aliases.at("token_endpoint").as_string(), "https://mtls.sigil.test:8443/oauth2/token");
  EXPECT_EQ(aliases.at("introspection_endpoint").as_string(),
            "https://mtls.sigil.test:8443/oauth2/introspect");
  EXPECT_EQ(aliases.at("revocation_endpoint").as_string(),
            "https://mtls.sigil.test:8443/oauth2/revoke");
  EXPECT_EQ(aliases.size(), 3u);
  // The conventional endpoints stay on the issuer.
  EXPECT_EQ(m.at("token_endpoint").as_string(), "https://sigil.test/oauth2/token");
  EXPECT_EQ(m.size(), 18u);
}

}  // namespace
}  // namespace sigil::oauth
