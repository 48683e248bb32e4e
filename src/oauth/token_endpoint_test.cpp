#include "oauth/token_endpoint.hpp"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>

#include "base/base64url.hpp"
#include "oauth/testing/fixture.hpp"

namespace sigil::oauth {
namespace {

using testing::kApi;
using testing::kIssuer;
using testing::kOther;
using Params = std::vector<std::pair<std::string, std::string>>;

class TokenEndpointTest : public testing::OAuthFixture {
 protected:
  void expect_denied(const TokenOutcome& outcome, OAuthError error, std::string_view reason) {
    ASSERT_FALSE(outcome.ok());
    EXPECT_EQ(outcome.failure().denial.error, error);
    EXPECT_EQ(outcome.failure().denial.reason, reason);
    EXPECT_FALSE(outcome.failure().denial.description.empty());
  }
  TokenOutcome handle(TokenRequest r) { return endpoint_->handle(r, clock_.now()); }
};

TEST_F(TokenEndpointTest, BasicAuthIssuesAnRfc9068Token) {
  auto c = make_client("billing");
  const std::int64_t now = to_unix(clock_.now());
  auto outcome = handle(basic_request(c, {{"grant_type", "client_credentials"}}));
  ASSERT_TRUE(outcome.ok()) << outcome.failure().denial.reason;
  EXPECT_TRUE(outcome.tried_basic);
  const TokenSuccess& s = outcome.success();
  EXPECT_EQ(s.token_type, "Bearer");
  EXPECT_EQ(s.expires_in, 300);
  EXPECT_EQ(s.scope, "read write");
  EXPECT_EQ(s.scopes, (std::vector<std::string>{"read", "write"}));
  EXPECT_EQ(s.audience, std::vector<std::string>{kApi});
  EXPECT_EQ(s.client_id, "billing");
  EXPECT_EQ(s.auth_method, "client_secret_basic");
  EXPECT_EQ(to_unix(s.exp), now + 300);

  auto jwt = verify(s.access_token);
  ASSERT_TRUE(jwt.has_value()) << jose::to_string(jwt.error().reason);
  const auto& h = jwt->header();
  EXPECT_EQ(h.at("typ").as_string(), "at+jwt");
  EXPECT_EQ(h.at("alg").as_string(), "ES256");
  EXPECT_EQ(h.at("kid").as_string(), (*keys_->signer(clock_.now()))->key().kid());
  const auto& claims = jwt->claims();
  EXPECT_EQ(claims.size(), 10u);
  EXPECT_EQ(claims.at("iss").as_string(), kIssuer);
  EXPECT_EQ(claims.at("sub").as_string(), "billing");
  EXPECT_EQ(claims.at("aud").as_string(), kApi);
  EXPECT_EQ(claims.at("iat").as_int64(), now);
  EXPECT_EQ(claims.at("nbf").as_int64(), now);
  EXPECT_EQ(claims.at("exp").as_int64(), now + 300);
  EXPECT_EQ(claims.at("jti").as_string(), s.jti);
  EXPECT_EQ(s.jti.size(), 22u);  // 128 bits, base64url
  EXPECT_EQ(base64url_decode(s.jti).value_or("").size(), 16u) << s.jti;
  EXPECT_EQ(claims.at("client_id").as_string(), "billing");
  EXPECT_EQ(claims.at("scope").as_string(), "read write");
  const auto& attributes = claims.at("https://sigil.dev/attributes").as_object();
  EXPECT_EQ(attributes.size(), 2u);
  EXPECT_EQ(attributes.at("team").as_string(), "payments");
  EXPECT_EQ(attributes.at("env").as_string(), "test");

  // Every token has its own jti.
  EXPECT_NE(issue(c).jti, s.jti);
}

TEST_F(TokenEndpointTest, ResponseBodyIsRfc6749Section51) {
  auto c = make_client("billing");
  auto s = issue(c, {{"scope", "read"}});
  auto body = boost::json::parse(to_json(s)).as_object();
  EXPECT_EQ(body.size(), 4u);
  EXPECT_EQ(body.at("access_token").as_string(), s.access_token);
  EXPECT_EQ(body.at("token_type").as_string(), "Bearer");
  EXPECT_EQ(body.at("expires_in").as_int64(), 300);
  EXPECT_EQ(body.at("scope").as_string(), "read");
}

TEST_F(TokenEndpointTest, PostAuthIssues) {
  auto c = make_client("billing");
  auto outcome = handle(post_request(c, {{"grant_type", "client_credentials"}}));
  ASSERT_TRUE(outcome.ok());
  EXPECT_FALSE(outcome.tried_basic);
  EXPECT_EQ(outcome.success().auth_method, "client_secret_post");
}

TEST_F(TokenEndpointTest, TwoAuthMethodsAreRefused) {
  auto c = make_client("billing");
  auto r = basic_request(c, {{"grant_type", "client_credentials"},
                             {"client_id", "billing"},
                             {"client_secret", c.secret.reveal()}});
  auto outcome = handle(std::move(r));
  expect_denied(outcome, OAuthError::kInvalidRequest, "multiple_auth_methods");
  EXPECT_EQ(outcome.failure().client_id, "billing");
}

TEST_F(TokenEndpointTest, BasicWithMatchingBodyClientIdIsAccepted) {
  auto c = make_client("billing");
  EXPECT_TRUE(
      handle(basic_request(c, {{"grant_type", "client_credentials"}, {"client_id", "billing"}}))
          .ok());
  expect_denied(
      handle(basic_request(c, {{"grant_type", "client_credentials"}, {"client_id", "other"}})),
      OAuthError::kInvalidRequest, "client_id_mismatch");
}

TEST_F(TokenEndpointTest, NoAuthenticationIsInvalidClient) {
  make_client("billing");
  TokenRequest none;
  none.params = {{"grant_type", "client_credentials"}};
  auto outcome = handle(std::move(none));
  expect_denied(outcome, OAuthError::kInvalidClient, "no_client_authentication");
  EXPECT_FALSE(outcome.tried_basic);

  TokenRequest id_only;
  id_only.params = {{"grant_type", "client_credentials"}, {"client_id", "billing"}};
  auto outcome2 = handle(std::move(id_only));
  expect_denied(outcome2, OAuthError::kInvalidClient, "missing_client_secret");
  EXPECT_EQ(outcome2.failure().client_id, "billing");
}

TEST_F(TokenEndpointTest, BadCredentials) {
  auto c = make_client("billing");
  TokenRequest r;
  r.params = {{"grant_type", "client_credentials"}};
  r.credentials.basic = ClientCredentials{"billing", SecretString("wrong")};
  auto outcome = handle(std::move(r));
  expect_denied(outcome, OAuthError::kInvalidClient, "bad_secret");
  EXPECT_TRUE(outcome.tried_basic);
  EXPECT_EQ(outcome.failure().client_id, "billing");
  EXPECT_EQ(outcome.failure().auth_method, "client_secret_basic");
  EXPECT_EQ(outcome.failure().denial.description, "client authentication failed");

  TokenRequest unknown;
  unknown.params = {
      {"grant_type", "client_credentials"}, {"client_id", "nobody"}, {"client_secret", "x"}};
  expect_denied(handle(std::move(unknown)), OAuthError::kInvalidClient, "unknown_client");

  TokenRequest garbled;
  garbled.params = {{"grant_type", "client_credentials"}};
  garbled.credentials.authorization_header_present = true;
  auto outcome2 = handle(std::move(garbled));
  expect_denied(outcome2, OAuthError::kInvalidClient, "malformed_authorization_header");
  EXPECT_TRUE(outcome2.tried_basic);
}

TEST_F(TokenEndpointTest, RotatedSecretWithinAndAfterOverlap) {
  auto c = make_client("billing");
  auto fresh = clients_->rotate_secret("billing", Seconds{60}, clock_.now());
  ASSERT_TRUE(fresh.has_value());
  EXPECT_TRUE(handle(basic_request(c, {{"grant_type", "client_credentials"}})).ok());
  clock_.advance(Seconds{60});
  expect_denied(handle(basic_request(c, {{"grant_type", "client_credentials"}})),
                OAuthError::kInvalidClient, "expired_secret");
  TokenRequest r;
  r.params = {{"grant_type", "client_credentials"}};
  r.credentials.basic = ClientCredentials{"billing", SecretString(fresh->reveal())};
  EXPECT_TRUE(handle(std::move(r)).ok());
}

TEST_F(TokenEndpointTest, DisabledClientAndWrongMethod) {
  auto c = make_client("billing");
  auto post_only = make_client("poster", {kApi}, {"client_secret_post"});
  expect_denied(handle(basic_request(post_only, {{"grant_type", "client_credentials"}})),
                OAuthError::kInvalidClient, "auth_method_not_allowed");
  EXPECT_TRUE(handle(post_request(post_only, {{"grant_type", "client_credentials"}})).ok());

  ASSERT_TRUE(clients_->set_status("billing", ClientStatus::kDisabled, clock_.now()));
  expect_denied(handle(basic_request(c, {{"grant_type", "client_credentials"}})),
                OAuthError::kInvalidClient, "client_disabled");
}

TEST_F(TokenEndpointTest, GrantTypeRules) {
  auto c = make_client("billing");
  expect_denied(handle(basic_request(c, {})), OAuthError::kInvalidRequest, "missing_grant_type");
  expect_denied(handle(basic_request(c, {{"grant_type", ""}})), OAuthError::kInvalidRequest,
                "missing_grant_type");
  expect_denied(handle(basic_request(c, {{"grant_type", "password"}})),
                OAuthError::kUnsupportedGrantType, "unsupported_grant_type");
  expect_denied(handle(basic_request(c, {{"grant_type", "client_credentials"},
                                         {"grant_type", "client_credentials"}})),
                OAuthError::kInvalidRequest, "repeated_parameter");
}

TEST_F(TokenEndpointTest, RepeatedParametersAreRefused) {
  auto c = make_client("billing");
  auto outcome = handle(basic_request(
      c, {{"grant_type", "client_credentials"}, {"scope", "read"}, {"scope", "write"}}));
  expect_denied(outcome, OAuthError::kInvalidRequest, "repeated_parameter");
  EXPECT_EQ(outcome.failure().denial.description, "the scope parameter is repeated");
  auto odd = handle(
      basic_request(c, {{"grant_type", "client_credentials"}, {"x\"y", "1"}, {"x\"y", "2"}}));
  expect_denied(odd, OAuthError::kInvalidRequest, "repeated_parameter");
  EXPECT_EQ(odd.failure().denial.description, "a parameter is repeated");
  // An empty value counts as omitted (RFC 6749 §3.1).
  EXPECT_TRUE(
      handle(basic_request(
                 c, {{"grant_type", "client_credentials"}, {"scope", ""}, {"scope", "read"}}))
          .ok());
}

TEST_F(TokenEndpointTest, ScopeRules) {
  auto c = make_client("billing");
  EXPECT_EQ(issue(c, {{"scope", "write read read"}}).scope, "read write");
  EXPECT_EQ(issue(c, {{"scope", "write"}}).scope, "write");
  // Omitted: every allowed scope.
  EXPECT_EQ(issue(c).scopes, (std::vector<std::string>{"read", "write"}));
  EXPECT_EQ(issue(c, {{"scope", ""}}).scope, "read write");

  auto outcome =
      handle(basic_request(c, {{"grant_type", "client_credentials"}, {"scope", "read admin"}}));
  expect_denied(outcome, OAuthError::kInvalidScope, "scope_not_allowed");
  EXPECT_EQ(outcome.failure().requested_scopes, (std::vector<std::string>{"admin", "read"}));
  EXPECT_EQ(outcome.failure().client_id, "billing");
  for (std::string bad : {"read  write", " read", "read ", "re\"ad", "read\twrite"}) {
    expect_denied(handle(basic_request(c, {{"grant_type", "client_credentials"}, {"scope", bad}})),
                  OAuthError::kInvalidScope, "malformed_scope");
  }
}

TEST_F(TokenEndpointTest, ClientWithoutScopesGetsATokenWithoutScope) {
  NewClient n;
  n.id = "bare";
  n.allowed_audiences = {kApi};
  auto c = clients_->create(std::move(n), clock_.now());
  ASSERT_TRUE(c.has_value());
  auto s = issue(*c);
  EXPECT_EQ(s.scope, "");
  auto jwt = verify(s.access_token);
  ASSERT_TRUE(jwt.has_value());
  EXPECT_FALSE(jwt->claims().contains("scope"));
  EXPECT_EQ(boost::json::parse(to_json(s)).as_object().size(), 3u);
}

TEST_F(TokenEndpointTest, AudienceRules) {
  auto one = make_client("one");
  EXPECT_EQ(issue(one).audience, std::vector<std::string>{kApi});
  EXPECT_EQ(issue(one, {{"resource", kApi}}).audience, std::vector<std::string>{kApi});
  EXPECT_EQ(issue(one, {{"audience", kApi}}).audience, std::vector<std::string>{kApi});

  auto two = make_client("two", {kApi, kOther, "billing-service"});
  auto both =
      issue(two, {{"resource", kOther}, {"audience", "billing-service"}, {"resource", kApi}});
  EXPECT_EQ(both.audience, (std::vector<std::string>{"billing-service", kApi, kOther}));
  auto jwt = verify(both.access_token);
  ASSERT_TRUE(jwt.has_value());
  const auto& aud = jwt->claims().at("aud").as_array();
  ASSERT_EQ(aud.size(), 3u);
  EXPECT_EQ(aud[0].as_string(), "billing-service");
  EXPECT_EQ(aud[1].as_string(), kApi);
  EXPECT_EQ(aud[2].as_string(), kOther);

  auto missing = handle(basic_request(two, {{"grant_type", "client_credentials"}}));
  expect_denied(missing, OAuthError::kInvalidTarget, "audience_required");
  EXPECT_EQ(missing.failure().denial.description.rfind("resource required", 0), 0u);

  auto not_allowed = handle(basic_request(
      one, {{"grant_type", "client_credentials"}, {"resource", kApi}, {"audience", kOther}}));
  expect_denied(not_allowed, OAuthError::kInvalidTarget, "audience_not_allowed");
  EXPECT_EQ(not_allowed.failure().requested_audience, (std::vector<std::string>{kApi, kOther}));

  for (std::string bad : {"relative/path", "https://api.example.com/#frag", "/abs", "a b:c"}) {
    expect_denied(
        handle(basic_request(one, {{"grant_type", "client_credentials"}, {"resource", bad}})),
        OAuthError::kInvalidTarget, "malformed_resource");
  }
  expect_denied(
      handle(basic_request(one, {{"grant_type", "client_credentials"}, {"audience", "has space"}})),
      OAuthError::kInvalidTarget, "malformed_audience");

  auto none = make_client("none", {});
  expect_denied(handle(basic_request(none, {{"grant_type", "client_credentials"}})),
                OAuthError::kInvalidTarget, "audience_required");
}

TEST_F(TokenEndpointTest, LifetimeIsCappedByMaxLifetime) {
  auto s = testing::test_settings();
  s.default_lifetime = Seconds{600};
  s.max_lifetime = Seconds{120};
  build(s, /*initialise=*/false);  // the key from SetUp stays
  auto c = make_client("billing");
  auto token = issue(c);
  EXPECT_EQ(token.expires_in, 120);
  auto jwt = verify(token.access_token);
  ASSERT_TRUE(jwt.has_value());
  EXPECT_EQ(jwt->claims().at("exp").as_int64(), to_unix(clock_.now()) + 120);
}

class NoSigningKeyTest : public testing::OAuthFixture {
 protected:
  void SetUp() override { build(testing::test_settings(), /*initialise=*/false); }
};

TEST_F(NoSigningKeyTest, IssuingIsAServerError) {
  auto handle = [&](TokenRequest r) { return endpoint_->handle(r, clock_.now()); };
  auto c = make_client("billing");
  auto outcome = handle(basic_request(c, {{"grant_type", "client_credentials"}}));
  ASSERT_FALSE(outcome.ok());
  EXPECT_EQ(outcome.failure().denial.error, OAuthError::kServerError);
  EXPECT_EQ(outcome.failure().denial.reason, "issue_failed");
  EXPECT_FALSE(outcome.failure().log_detail.empty());
  EXPECT_EQ(outcome.failure().client_id, "billing");
}

TEST(OAuthErrorTest, WireNames) {
  EXPECT_EQ(to_string(OAuthError::kInvalidRequest), "invalid_request");
  EXPECT_EQ(to_string(OAuthError::kInvalidClient), "invalid_client");
  EXPECT_EQ(to_string(OAuthError::kInvalidGrant), "invalid_grant");
  EXPECT_EQ(to_string(OAuthError::kUnauthorizedClient), "unauthorized_client");
  EXPECT_EQ(to_string(OAuthError::kUnsupportedGrantType), "unsupported_grant_type");
  EXPECT_EQ(to_string(OAuthError::kInvalidScope), "invalid_scope");
  EXPECT_EQ(to_string(OAuthError::kInvalidTarget), "invalid_target");
  EXPECT_EQ(to_string(OAuthError::kServerError), "server_error");
}

}  // namespace
}  // namespace sigil::oauth
