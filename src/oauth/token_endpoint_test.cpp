#include "oauth/token_endpoint.hpp"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>

#include "base/base64url.hpp"
#include "oauth/binding.hpp"
#include "oauth/testing/certificates.hpp"
#include "oauth/testing/dpop.hpp"
#include "oauth/testing/fixture.hpp"
#include "policy/cidr.hpp"
#include "policy/engine.hpp"
#include "policy/policy.hpp"

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
  NewClient n{.id = "bare"};
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

// --- With a policy in force ---------------------------------------------------------------

const std::string kAnalytics = "https://analytics.example.com";
const std::string kUsers = "https://users.example.com";
const std::string kSocial = "https://social.example.com";
const std::string kNotifications = "https://notifications.example.com";
const std::string kPayments = "https://payments.example.com";

policy::Service service(std::string name, std::string environment = "production") {
  policy::Service s;
  s.name = std::move(name);
  s.attributes = {{"environment", std::move(environment)}};
  return s;
}

policy::Audience audience(std::string name, std::string uri, std::vector<std::string> scopes) {
  policy::Audience a;
  a.name = std::move(name);
  a.uri = std::move(uri);
  a.scopes = std::move(scopes);
  a.attributes = {{"environment", "production"}};
  return a;
}

policy::GrantRule grant(const std::string& caller, const std::string& audience,
                        std::vector<std::string> scopes) {
  policy::GrantRule g;
  g.name = caller + "->" + audience;
  g.caller.name = caller;
  g.audience.name = audience;
  g.scopes = std::move(scopes);
  return g;
}

// The video platform of the design notes: video-service may get analytics:write for
// analytics and profile:read for user-service; notification-worker may get social:read
// and notifications:send; nothing else.
policy::Policy video_platform() {
  policy::Policy p;
  p.services = {service("video-service"), service("notification-worker")};
  p.audiences = {audience("analytics", kAnalytics, {"analytics:read", "analytics:write"}),
                 audience("user-service", kUsers, {"profile:read", "profile:write"}),
                 audience("social", kSocial, {"social:read", "social:write"}),
                 audience("notifications", kNotifications, {"notifications:send"})};
  p.grants = {grant("video-service", "analytics", {"analytics:write"}),
              grant("video-service", "user-service", {"profile:read"}),
              grant("notification-worker", "social", {"social:read"}),
              grant("notification-worker", "notifications", {"notifications:send"})};
  return p;
}

// The video platform plus payments, a high-sensitivity audience video-service may call
// from 10.0.0.0/8 only.
policy::Policy with_payments() {
  policy::Policy p = video_platform();
  policy::Audience payments = audience("payments", kPayments, {"payments:charge"});
  payments.sensitivity = policy::Sensitivity::kHigh;
  p.audiences.push_back(std::move(payments));
  policy::GrantRule charge = grant("video-service", "payments", {"payments:charge"});
  charge.when.source = {*policy::parse_cidr("10.0.0.0/8")};
  p.grants.push_back(std::move(charge));
  return p;
}

// Every scope and audience above: client bounds wide enough that the policy decides.
const std::vector<std::string> kEveryScope = {
    "analytics:read", "analytics:write", "notifications:send", "payments:charge",
    "profile:read",   "profile:write",   "social:read",        "social:write"};
const std::vector<std::string> kEveryAudience = {kAnalytics, kUsers, kSocial, kNotifications,
                                                 kPayments};

class PolicyTokenTest : public testing::OAuthFixture {
 protected:
  void SetUp() override {
    OAuthFixture::SetUp();
    endpoint_ = std::make_unique<TokenEndpoint>(*clients_, *keys_, &holder_);
    enforce(video_platform());
  }

  void enforce(policy::Policy p) {
    auto compiled = policy::CompiledPolicy::compile(std::move(p));
    ASSERT_TRUE(compiled.has_value()) << compiled.error().message;
    holder_.set(std::move(*compiled));
  }

  CreatedClient service_client(std::string id, std::vector<std::string> scopes = kEveryScope,
                               std::vector<std::string> audiences = kEveryAudience) {
    NewClient n;
    n.id = std::move(id);
    n.allowed_scopes = std::move(scopes);
    n.allowed_audiences = std::move(audiences);
    auto created = clients_->create(std::move(n), clock_.now());
    EXPECT_TRUE(created.has_value()) << created.error().message;
    return std::move(*created);
  }

  TokenOutcome ask(const CreatedClient& c, Params params, std::string source = "10.1.2.3") {
    params.emplace_back("grant_type", "client_credentials");
    TokenRequest r = basic_request(c, std::move(params));
    r.source_address = std::move(source);
    return endpoint_->handle(r, clock_.now());
  }

  TokenSuccess granted(const CreatedClient& c, Params params, std::string source = "10.1.2.3") {
    auto outcome = ask(c, std::move(params), std::move(source));
    EXPECT_TRUE(outcome.ok()) << (outcome.ok() ? "" : outcome.failure().denial.reason);
    return outcome.ok() ? outcome.success() : TokenSuccess{};
  }

  // A refusal tells the client what it asked for is refused, never which rule, condition
  // or other audience is behind it.
  void expect_denied(const TokenOutcome& outcome, OAuthError error, std::string_view reason,
                     std::string_view description) {
    ASSERT_FALSE(outcome.ok());
    const Denial& denial = outcome.failure().denial;
    EXPECT_EQ(denial.error, error);
    EXPECT_EQ(denial.reason, reason);
    EXPECT_EQ(denial.description, description);
    EXPECT_EQ(denial.description.find("->"), std::string::npos) << denial.description;
  }

  policy::PolicyHolder holder_;
};

constexpr std::string_view kNotGrantedAudience =
    "the requested audience is not granted to this client";

TEST_F(PolicyTokenTest, VideoPlatformAllowedPairs) {
  struct Pair {
    std::string caller, audience, scope, uri;
  };
  const Pair allowed[] = {
      {"video-service", "analytics", "analytics:write", kAnalytics},
      {"video-service", "user-service", "profile:read", kUsers},
      {"notification-worker", "social", "social:read", kSocial},
      {"notification-worker", "notifications", "notifications:send", kNotifications},
  };
  const auto video = service_client("video-service");
  const auto worker = service_client("notification-worker");
  for (const Pair& p : allowed) {
    SCOPED_TRACE(p.caller + " -> " + p.audience);
    auto s = granted(p.caller == "video-service" ? video : worker,
                     {{"audience", p.audience}, {"scope", p.scope}});
    EXPECT_EQ(s.audience, std::vector<std::string>{p.uri});
    EXPECT_EQ(s.scope, p.scope);
    EXPECT_EQ(s.rules, std::vector<std::string>{p.caller + "->" + p.audience});
    EXPECT_EQ(s.expires_in, 300);  // the settings' default: the policy sets none
    auto jwt = verify(s.access_token);
    ASSERT_TRUE(jwt.has_value());
    EXPECT_EQ(jwt->claims().at("aud").as_string(), p.uri);
    EXPECT_EQ(jwt->claims().at("sub").as_string(), p.caller);
    EXPECT_EQ(jwt->claims().at("scope").as_string(), p.scope);
  }
}

TEST_F(PolicyTokenTest, VideoPlatformDeniedPairs) {
  const auto video = service_client("video-service");
  const auto worker = service_client("notification-worker");
  struct Pair {
    const CreatedClient& client;
    std::string audience, scope;
  };
  // Every pair without a grant, although both clients' own bounds would allow it.
  const Pair no_grant[] = {
      {video, "social", "social:read"},
      {video, "notifications", "notifications:send"},
      {worker, "analytics", "analytics:write"},
      {worker, "user-service", "profile:read"},
  };
  for (const Pair& p : no_grant) {
    SCOPED_TRACE(p.client.client.id + " -> " + p.audience);
    auto outcome = ask(p.client, {{"audience", p.audience}, {"scope", p.scope}});
    expect_denied(outcome, OAuthError::kInvalidTarget, "no_grant", kNotGrantedAudience);
    EXPECT_FALSE(outcome.failure().detail.empty());
    EXPECT_EQ(outcome.failure().requested_audience, std::vector<std::string>{p.audience});
  }
  // Granted pairs, scopes they do not grant.
  const Pair no_scope[] = {
      {video, "analytics", "analytics:read"},
      {video, "user-service", "profile:write"},
      {worker, "social", "social:write"},
  };
  for (const Pair& p : no_scope) {
    SCOPED_TRACE(p.client.client.id + " -> " + p.audience);
    expect_denied(ask(p.client, {{"audience", p.audience}, {"scope", p.scope}}),
                  OAuthError::kInvalidScope, "scope_not_granted",
                  "scope " + p.scope + " is not granted for this audience");
  }
  // A client the policy does not declare gets nothing but tokens for the issuer.
  const auto legacy = service_client("legacy");
  expect_denied(ask(legacy, {{"audience", "analytics"}, {"scope", "analytics:write"}}),
                OAuthError::kInvalidTarget, "unknown_caller", kNotGrantedAudience);
  // An audience the policy does not declare.
  expect_denied(ask(video, {{"resource", kApi}}), OAuthError::kInvalidTarget, "unknown_audience",
                kNotGrantedAudience);
}

TEST_F(PolicyTokenTest, ScopesAreTheIntersectionOfRequestedAndGranted) {
  const auto video = service_client("video-service");
  // One scope granted, one not: the whole request is refused, naming the scope asked for.
  auto partly =
      ask(video, {{"audience", "analytics"}, {"scope", "analytics:write analytics:read"}});
  expect_denied(partly, OAuthError::kInvalidScope, "scope_not_granted",
                "scope analytics:read is not granted for this audience");
  EXPECT_EQ(partly.failure().requested_scopes,
            (std::vector<std::string>{"analytics:read", "analytics:write"}));
  EXPECT_EQ(partly.failure().rules, std::vector<std::string>{"video-service->analytics"});
  // A scope of an audience not requested is granted by none of the request's audiences.
  auto elsewhere =
      ask(video, {{"audience", "analytics"}, {"scope", "analytics:write profile:read"}});
  expect_denied(elsewhere, OAuthError::kInvalidScope, "scope_not_granted",
                "scope profile:read is not granted for this audience");
  EXPECT_FALSE(elsewhere.failure().detail.empty());

  // Two audiences: each grants its own scopes, the token carries both (RFC 8707 §2.2).
  auto both = granted(video, {{"audience", "analytics"},
                              {"audience", "user-service"},
                              {"scope", "analytics:write profile:read"}});
  EXPECT_EQ(both.scope, "analytics:write profile:read");
  EXPECT_EQ(both.audience, (std::vector<std::string>{kAnalytics, kUsers}));
  EXPECT_EQ(both.rules,
            (std::vector<std::string>{"video-service->analytics", "video-service->user-service"}));
  expect_denied(ask(video, {{"audience", "analytics"},
                            {"audience", "user-service"},
                            {"scope", "analytics:write profile:write"}}),
                OAuthError::kInvalidScope, "scope_not_granted",
                "scope profile:write is not granted for this audience");
  // A scope that only one of two audiences declares still needs the other's grant.
  expect_denied(
      ask(video, {{"audience", "analytics"}, {"audience", "social"}, {"scope", "analytics:write"}}),
      OAuthError::kInvalidTarget, "no_grant", kNotGrantedAudience);
}

TEST_F(PolicyTokenTest, NoScopeRequestedGetsEveryGrantedScope) {
  // The client may have analytics:read and profile:write; the policy grants neither.
  const auto video = service_client("video-service");
  auto one = granted(video, {{"audience", "analytics"}});
  EXPECT_EQ(one.scopes, std::vector<std::string>{"analytics:write"});
  auto two = granted(video, {{"audience", "analytics"}, {"resource", kUsers}});
  EXPECT_EQ(two.scope, "analytics:write profile:read");
  EXPECT_EQ(two.audience, (std::vector<std::string>{kAnalytics, kUsers}));
}

TEST_F(PolicyTokenTest, LifetimeIsTheShortestOfRequestedGrantAndAudience) {
  policy::Policy p = with_payments();
  p.settings.default_lifetime = Seconds{900};
  for (auto& g : p.grants) {
    if (g.name == "video-service->user-service") g.max_lifetime = Seconds{120};
  }
  enforce(std::move(p));
  const auto video = service_client("video-service");
  const std::int64_t now = to_unix(clock_.now());

  // The policy's default lifetime replaces the settings' (300).
  auto plain = granted(video, {{"audience", "analytics"}});
  EXPECT_EQ(plain.expires_in, 900);
  auto jwt = verify(plain.access_token);
  ASSERT_TRUE(jwt.has_value());
  EXPECT_EQ(jwt->claims().at("exp").as_int64(), now + 900);
  // What is asked for replaces the default, within the caps: here only the server's
  // max_lifetime bounds the analytics audience.
  EXPECT_EQ(granted(video, {{"audience", "analytics"}, {"expires_in", "60"}}).expires_in, 60);
  EXPECT_EQ(granted(video, {{"audience", "analytics"}, {"expires_in", "2000"}}).expires_in, 2000);
  EXPECT_EQ(granted(video, {{"audience", "analytics"}, {"expires_in", "5000"}}).expires_in, 3600);
  EXPECT_EQ(granted(video, {{"audience", "user-service"}, {"expires_in", "5000"}}).expires_in, 120);
  // The grant's max_lifetime, and shorter still when asked.
  EXPECT_EQ(granted(video, {{"audience", "user-service"}}).expires_in, 120);
  EXPECT_EQ(granted(video, {{"audience", "user-service"}, {"expires_in", "30"}}).expires_in, 30);
  // A high-sensitivity audience: just-in-time, five minutes.
  EXPECT_EQ(granted(video, {{"audience", "payments"}}).expires_in, 300);
  // Several audiences: the shortest cap of all.
  EXPECT_EQ(granted(video, {{"audience", "analytics"}, {"audience", "payments"}}).expires_in, 300);
  EXPECT_EQ(granted(video, {{"audience", "analytics"}, {"audience", "user-service"}}).expires_in,
            120);
}

TEST_F(PolicyTokenTest, ExpiresInMustBeAPositiveNumberOfSeconds) {
  const auto video = service_client("video-service");
  for (std::string bad : {"0", "000", "-5", "abc", "1234567890", "+5", "5s", "1.5", "0x10", " 5"}) {
    SCOPED_TRACE(bad);
    auto outcome = ask(video, {{"audience", "analytics"}, {"expires_in", bad}});
    expect_denied(outcome, OAuthError::kInvalidRequest, "malformed_expires_in",
                  "the expires_in parameter must be a positive number of seconds");
    EXPECT_EQ(outcome.failure().requested_audience, std::vector<std::string>{"analytics"});
  }
  EXPECT_EQ(granted(video, {{"audience", "analytics"}, {"expires_in", "000000045"}}).expires_in,
            45);
  EXPECT_EQ(granted(video, {{"audience", "analytics"}, {"expires_in", "999999999"}}).expires_in,
            3600);
  expect_denied(ask(video, {{"audience", "analytics"}, {"expires_in", "60"}, {"expires_in", "30"}}),
                OAuthError::kInvalidRequest, "repeated_parameter",
                "the expires_in parameter is repeated");

  // Without a policy the parameter is honoured alike.
  holder_.set(nullptr);
  auto billing = make_client("billing");
  EXPECT_EQ(issue(billing, {{"expires_in", "42"}}).expires_in, 42);
  expect_denied(ask(billing, {{"expires_in", "forever"}}), OAuthError::kInvalidRequest,
                "malformed_expires_in",
                "the expires_in parameter must be a positive number of seconds");
}

TEST_F(PolicyTokenTest, AudienceByNameOrUriTokenNamesTheUri) {
  const auto video = service_client("video-service");
  auto by_name = granted(video, {{"audience", "analytics"}});
  EXPECT_EQ(by_name.audience, std::vector<std::string>{kAnalytics});
  auto by_uri = granted(video, {{"resource", kAnalytics}});
  EXPECT_EQ(by_uri.audience, std::vector<std::string>{kAnalytics});
  // Both at once name one audience once.
  auto both = granted(video, {{"audience", "analytics"}, {"resource", kAnalytics}});
  EXPECT_EQ(both.audience, std::vector<std::string>{kAnalytics});
  auto jwt = verify(both.access_token);
  ASSERT_TRUE(jwt.has_value());
  EXPECT_EQ(jwt->claims().at("aud").as_string(), kAnalytics);

  // Nothing named: the client's only allowed audience, decided by the policy.
  const auto single = service_client("notification-worker", kEveryScope, {kSocial});
  auto fallback = granted(single, {});
  EXPECT_EQ(fallback.audience, std::vector<std::string>{kSocial});
  EXPECT_EQ(fallback.scope, "social:read");
  expect_denied(ask(video, {}), OAuthError::kInvalidTarget, "audience_required",
                "resource required: name the audience with the resource or audience parameter");

  expect_denied(ask(video, {{"audience", "billing"}}), OAuthError::kInvalidTarget,
                "unknown_audience", kNotGrantedAudience);
}

TEST_F(PolicyTokenTest, FailedConditionIsInvalidScopeWithRuleAndDetailForTheAudit) {
  policy::Policy p = with_payments();
  p.settings.default_lifetime = Seconds{900};
  enforce(std::move(p));
  const auto video = service_client("video-service");

  for (std::string outside : {"192.0.2.7", "11.0.0.1", ""}) {
    SCOPED_TRACE(outside);
    auto outcome = ask(video, {{"audience", "payments"}, {"scope", "payments:charge"}}, outside);
    expect_denied(outcome, OAuthError::kInvalidScope, "conditions_not_met",
                  "the requested scope is not granted");
    EXPECT_EQ(outcome.failure().rules, std::vector<std::string>{"video-service->payments"});
    EXPECT_EQ(outcome.failure().denial.rules, outcome.failure().rules);
    EXPECT_FALSE(outcome.failure().detail.empty());
    EXPECT_EQ(outcome.failure().denial.detail, outcome.failure().detail);
    EXPECT_EQ(outcome.failure().denial.description.find("10.0.0.0"), std::string::npos);
  }
  auto inside =
      granted(video, {{"audience", "payments"}, {"scope", "payments:charge"}}, "10.9.8.7");
  EXPECT_EQ(inside.rules, std::vector<std::string>{"video-service->payments"});
  EXPECT_EQ(inside.expires_in, 300);
}

TEST_F(PolicyTokenTest, EnvironmentsAreSeparated) {
  policy::Policy p = video_platform();
  p.services.push_back(service("video-staging", "staging"));
  policy::GrantRule any_video;
  any_video.name = "video-any";
  any_video.caller.name = "video-*";
  any_video.audience.name = "analytics";
  any_video.scopes = {"analytics:write"};
  p.grants.push_back(std::move(any_video));
  enforce(std::move(p));

  const auto staging = service_client("video-staging");
  expect_denied(ask(staging, {{"audience", "analytics"}}), OAuthError::kInvalidTarget,
                "environment_mismatch", kNotGrantedAudience);
  const auto video = service_client("video-service");
  EXPECT_EQ(granted(video, {{"audience", "analytics"}}).rules,
            (std::vector<std::string>{"video-any", "video-service->analytics"}));
}

TEST_F(PolicyTokenTest, IssuerAudienceBypassesThePolicy) {
  // An operator's client the policy does not know, for sigil's own API.
  NewClient n{.id = "ops"};
  n.allowed_scopes = {"sigil:admin"};
  n.allowed_audiences = {kIssuer};
  auto ops = clients_->create(std::move(n), clock_.now());
  ASSERT_TRUE(ops.has_value());
  auto admin = granted(*ops, {});
  EXPECT_EQ(admin.audience, std::vector<std::string>{kIssuer});
  EXPECT_EQ(admin.scope, "sigil:admin");
  EXPECT_TRUE(admin.rules.empty());
  EXPECT_EQ(granted(*ops, {{"resource", kIssuer}, {"scope", "sigil:admin"}}).scope, "sigil:admin");
  // Its own bounds still apply.
  expect_denied(ask(*ops, {{"scope", "sigil:root"}}), OAuthError::kInvalidScope,
                "scope_not_allowed", "scope sigil:root is not allowed for this client");

  // A service may get an admin token within its bounds, but not one also usable elsewhere.
  std::vector<std::string> audiences = kEveryAudience;
  audiences.push_back(kIssuer);
  const auto video = service_client("video-service", kEveryScope, audiences);
  auto own = granted(video, {{"resource", kIssuer}, {"scope", "social:write"}});
  EXPECT_EQ(own.audience, std::vector<std::string>{kIssuer});
  EXPECT_EQ(own.scope, "social:write");
  expect_denied(ask(video, {{"resource", kIssuer}, {"audience", "analytics"}}),
                OAuthError::kInvalidTarget, "issuer_audience_not_alone",
                "a token for this server's own API cannot name other audiences");
}

TEST_F(PolicyTokenTest, ClientBoundsStillApply) {
  const auto video = service_client("video-service", {"profile:read"}, {kAnalytics, kUsers});
  // Granted by the policy, beyond the client's allowed scopes: refused when asked for...
  auto asked = ask(video, {{"audience", "analytics"}, {"scope", "analytics:write"}});
  expect_denied(asked, OAuthError::kInvalidScope, "scope_not_allowed",
                "scope analytics:write is not allowed for this client");
  EXPECT_FALSE(asked.failure().detail.empty());
  // ...and left out of a default.
  EXPECT_EQ(granted(video, {{"audience", "analytics"}}).scope, "");
  EXPECT_EQ(granted(video, {{"audience", "analytics"}, {"audience", "user-service"}}).scope,
            "profile:read");

  // Granted by the policy, beyond the client's allowed audiences.
  const auto worker = service_client("notification-worker", kEveryScope, {kSocial});
  auto elsewhere = ask(worker, {{"audience", "notifications"}});
  expect_denied(elsewhere, OAuthError::kInvalidTarget, "audience_not_allowed",
                "a requested audience is not allowed for this client");
  EXPECT_EQ(elsewhere.failure().rules,
            std::vector<std::string>{"notification-worker->notifications"});
}

TEST_F(PolicyTokenTest, WithoutAPolicyTheClientDecides) {
  auto billing = make_client("billing");
  holder_.set(nullptr);
  auto s = issue(billing);
  EXPECT_EQ(s.scope, "read write");
  EXPECT_EQ(s.audience, std::vector<std::string>{kApi});
  EXPECT_EQ(s.expires_in, 300);
  EXPECT_TRUE(s.rules.empty());

  // Each request takes the policy in force when it arrives.
  enforce(video_platform());
  expect_denied(ask(billing, {}), OAuthError::kInvalidTarget, "unknown_caller",
                kNotGrantedAudience);
  holder_.set(nullptr);
  EXPECT_TRUE(ask(billing, {}).ok());
}

TEST_F(PolicyTokenTest, FromAPolicyFile) {
  auto parsed = policy::parse_policy(R"(version: 1
services:
  - name: video-service
    attributes: {environment: production}
  - name: notification-worker
    attributes: {environment: production}
audiences:
  - name: analytics
    uri: https://analytics.example.com
    scopes: [analytics:write, analytics:read]
  - name: user-service
    scopes: [profile:read]
grants:
  - caller: video-service
    audience: analytics
    scopes: [analytics:write]
  - caller: video-service
    audience: user-service
    scopes: [profile:read]
    max_lifetime: 2m
)");
  ASSERT_TRUE(parsed.has_value()) << policy::format(parsed.error(), "sigil.yaml");
  enforce(std::move(*parsed));
  const auto video = service_client("video-service", kEveryScope, {kAnalytics, "user-service"});
  auto analytics = granted(video, {{"audience", "analytics"}});
  EXPECT_EQ(analytics.audience, std::vector<std::string>{kAnalytics});
  EXPECT_EQ(analytics.rules, std::vector<std::string>{"video-service->analytics"});
  // An audience without a URI is named by its name.
  auto users = granted(video, {{"audience", "user-service"}});
  EXPECT_EQ(users.audience, std::vector<std::string>{"user-service"});
  EXPECT_EQ(users.scope, "profile:read");
  EXPECT_EQ(users.expires_in, 120);
  const auto worker = service_client("notification-worker");
  expect_denied(ask(worker, {{"resource", kAnalytics}}), OAuthError::kInvalidTarget, "no_grant",
                kNotGrantedAudience);
}

// RFC 9449 §5: a token request with a DPoP proof gets a token bound to the proof's key.
class DpopTokenTest : public testing::OAuthFixture {
 protected:
  static constexpr std::string_view kTokenUrl = "https://sigil.test/oauth2/token";

  void SetUp() override {
    OAuthFixture::SetUp();
    assertions_.replays = &replays_;
    endpoint_ = std::make_unique<TokenEndpoint>(*clients_, *keys_, nullptr, &assertions_);
    auto key = jose::Jwk::generate(jose::Algorithm::kES256);
    ASSERT_TRUE(key.has_value());
    key_.emplace(std::move(*key));
  }

  TokenRequest request(const CreatedClient& c, std::optional<std::string> proof) {
    TokenRequest r = basic_request(c, {{"grant_type", "client_credentials"}});
    r.dpop_proof = std::move(proof);
    r.endpoint_url = std::string(kTokenUrl);
    return r;
  }

  std::string proof(std::string_view jti, std::string_view htu = kTokenUrl) {
    return testing::dpop_proof(*key_, jti, htu, clock_.now());
  }

  ReplayCache replays_;
  AssertionContext assertions_;
  std::optional<jose::Jwk> key_;
};

TEST_F(DpopTokenTest, AValidProofBindsTheToken) {
  auto c = make_client("billing");
  auto outcome = endpoint_->handle(request(c, proof("p-1")), clock_.now());
  ASSERT_TRUE(outcome.ok()) << outcome.failure().denial.reason;
  const TokenSuccess& s = outcome.success();
  EXPECT_EQ(s.token_type, "DPoP");
  EXPECT_EQ(s.jkt, key_->thumbprint());
  EXPECT_EQ(s.auth_method, "client_secret_basic");
  EXPECT_EQ(boost::json::parse(to_json(s)).at("token_type").as_string(), "DPoP");

  auto jwt = verify(s.access_token);
  ASSERT_TRUE(jwt.has_value());
  const auto& cnf = jwt->claims().at("cnf").as_object();
  EXPECT_EQ(cnf.size(), 1u);
  EXPECT_EQ(cnf.at("jkt").as_string(), key_->thumbprint());

  // RFC 9449 §6.2: introspection reports the binding.
  auto introspected = introspection_->check(s.access_token, clock_.now());
  ASSERT_TRUE(introspected.active);
  EXPECT_EQ(introspected.claims.jkt, key_->thumbprint());
  auto body = boost::json::parse(to_json(introspected)).as_object();
  EXPECT_EQ(body.at("cnf").at("jkt").as_string(), key_->thumbprint());
  EXPECT_EQ(body.at("token_type").as_string(), "DPoP");
}

TEST_F(DpopTokenTest, WithoutAProofTheTokenIsABearerToken) {
  auto c = make_client("billing");
  auto outcome = endpoint_->handle(request(c, std::nullopt), clock_.now());
  ASSERT_TRUE(outcome.ok());
  EXPECT_EQ(outcome.success().token_type, "Bearer");
  EXPECT_TRUE(outcome.success().jkt.empty());
  auto jwt = verify(outcome.success().access_token);
  ASSERT_TRUE(jwt.has_value());
  EXPECT_FALSE(jwt->claims().contains("cnf"));
  auto introspected = introspection_->check(outcome.success().access_token, clock_.now());
  EXPECT_FALSE(boost::json::parse(to_json(introspected)).as_object().contains("cnf"));
}

TEST_F(DpopTokenTest, BadProofsAreRefused) {
  auto c = make_client("billing");
  auto refused = [&](std::string p, std::string_view reason) {
    auto outcome = endpoint_->handle(request(c, std::move(p)), clock_.now());
    ASSERT_FALSE(outcome.ok());
    EXPECT_EQ(outcome.failure().denial.error, OAuthError::kInvalidDpopProof);
    EXPECT_EQ(outcome.failure().denial.reason, reason);
    EXPECT_EQ(outcome.failure().client_id, "billing");
  };
  refused(proof("p-1", "https://sigil.test/oauth2/introspect"), "dpop_wrong_htu");
  refused("not-a-proof", "dpop_malformed");
  const std::string p = proof("p-2");
  ASSERT_TRUE(endpoint_->handle(request(c, p), clock_.now()).ok());
  refused(p, "dpop_replayed");
}

TEST_F(DpopTokenTest, BadClientCredentialsComeFirst) {
  auto c = make_client("billing");
  TokenRequest r = request(c, proof("p-1", "https://elsewhere.test/"));
  r.credentials.basic->secret = SecretString("wrong");
  auto outcome = endpoint_->handle(r, clock_.now());
  ASSERT_FALSE(outcome.ok());
  EXPECT_EQ(outcome.failure().denial.error, OAuthError::kInvalidClient);
}

TEST_F(TokenEndpointTest, WithoutAReplayCacheProofsAreRefused) {
  auto c = make_client("billing");
  TokenRequest r = basic_request(c, {{"grant_type", "client_credentials"}});
  r.dpop_proof = "anything";
  r.endpoint_url = "https://sigil.test/oauth2/token";
  expect_denied(handle(std::move(r)), OAuthError::kInvalidDpopProof, "dpop_unavailable");
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
  EXPECT_EQ(to_string(OAuthError::kInvalidDpopProof), "invalid_dpop_proof");
  EXPECT_EQ(to_string(OAuthError::kInvalidToken), "invalid_token");
  EXPECT_EQ(to_string(OAuthError::kServerError), "server_error");
}

// RFC 8705: tokens asked for over mutual TLS, by clients that authenticate with their
// certificate or otherwise; every such token is bound to the certificate.
class MutualTlsTokenTest : public DpopTokenTest {
 protected:
  void SetUp() override {
    DpopTokenTest::SetUp();
    certificate_ = testing::make_certificate_der(
        {.subject = {{"CN", "payments"}}, .uris = {"spiffe://example.org/payments"}});
    other_ = testing::make_certificate_der(
        {.subject = {{"CN", "payments"}}, .uris = {"spiffe://example.org/intruder"}});
    ASSERT_FALSE(certificate_.empty());
    ASSERT_FALSE(other_.empty());
  }

  void register_client(NewClient n) {
    n.allowed_scopes = {"read"};
    n.allowed_audiences = {kApi};
    auto created = clients_->create(std::move(n), clock_.now());
    ASSERT_TRUE(created.has_value()) << created.error().message;
  }
  void register_by_uri(std::string id) {
    NewClient n;
    n.id = std::move(id);
    n.tls_client_auth_san_uri = "spiffe://example.org/payments";
    register_client(std::move(n));
  }
  void register_self_signed(std::string id, std::string thumbprint) {
    NewClient n;
    n.id = std::move(id);
    n.tls_client_certificates = {std::move(thumbprint)};
    register_client(std::move(n));
  }

  // client_credentials for `id` over mutual TLS with `der`, no secret.
  TokenOutcome over_mtls(std::string id, const std::string& der, bool chain_verified = true,
                         std::optional<std::string> dpop = std::nullopt) {
    TokenRequest r;
    r.params = {{"grant_type", "client_credentials"}, {"client_id", std::move(id)}};
    r.credentials.certificate = PresentedCertificate{der, chain_verified};
    r.dpop_proof = std::move(dpop);
    r.endpoint_url = std::string(kTokenUrl);
    return endpoint_->handle(r, clock_.now());
  }

  static void expect_client_denied(const TokenOutcome& outcome, std::string_view reason) {
    ASSERT_FALSE(outcome.ok());
    EXPECT_EQ(outcome.failure().denial.error, OAuthError::kInvalidClient);
    EXPECT_EQ(outcome.failure().denial.reason, reason);
    EXPECT_EQ(outcome.failure().denial.description, "client authentication failed");
  }

  std::string certificate_;
  std::string other_;
};

TEST_F(MutualTlsTokenTest, TlsClientAuthIssuesACertificateBoundToken) {
  register_by_uri("payments");
  auto outcome = over_mtls("payments", certificate_);
  ASSERT_TRUE(outcome.ok()) << outcome.failure().denial.reason;
  const TokenSuccess& s = outcome.success();
  EXPECT_EQ(s.auth_method, "tls_client_auth");
  EXPECT_EQ(s.client_id, "payments");
  // RFC 8705 §3: still a bearer token by type.
  EXPECT_EQ(s.token_type, "Bearer");
  EXPECT_EQ(boost::json::parse(to_json(s)).at("token_type").as_string(), "Bearer");
  EXPECT_EQ(s.x5t_s256, certificate_thumbprint(certificate_));
  EXPECT_TRUE(s.jkt.empty());

  auto jwt = verify(s.access_token);
  ASSERT_TRUE(jwt.has_value());
  const auto& cnf = jwt->claims().at("cnf").as_object();
  EXPECT_EQ(cnf.size(), 1u);
  EXPECT_EQ(cnf.at("x5t#S256").as_string(), certificate_thumbprint(certificate_));

  // RFC 8705 §3.2: introspection reports the binding.
  auto introspected = introspection_->check(s.access_token, clock_.now());
  ASSERT_TRUE(introspected.active);
  EXPECT_EQ(introspected.claims.x5t_s256, certificate_thumbprint(certificate_));
  auto body = boost::json::parse(to_json(introspected)).as_object();
  EXPECT_EQ(body.at("cnf").as_object().size(), 1u);
  EXPECT_EQ(body.at("cnf").at("x5t#S256").as_string(), certificate_thumbprint(certificate_));
  EXPECT_EQ(body.at("token_type").as_string(), "Bearer");
}

TEST_F(MutualTlsTokenTest, TlsClientAuthRefusals) {
  register_by_uri("payments");
  expect_client_denied(over_mtls("payments", other_), "certificate_mismatch");
  expect_client_denied(over_mtls("payments", certificate_, /*chain_verified=*/false),
                       "certificate_not_trusted");
  expect_client_denied(over_mtls("nobody", certificate_), "unknown_client");
  ASSERT_TRUE(clients_->set_status("payments", ClientStatus::kDisabled, clock_.now()));
  auto disabled = over_mtls("payments", certificate_);
  expect_client_denied(disabled, "client_disabled");
  EXPECT_EQ(disabled.failure().client_id, "payments");
  EXPECT_EQ(disabled.failure().auth_method, "tls_client_auth");
}

TEST_F(MutualTlsTokenTest, CertificateOnlyClientWithoutACertificateIsRefused) {
  register_by_uri("payments");
  TokenRequest r;
  r.params = {{"grant_type", "client_credentials"}, {"client_id", "payments"}};
  expect_client_denied(endpoint_->handle(r, clock_.now()), "certificate_required");
}

TEST_F(MutualTlsTokenTest, SelfSignedClientAuthenticatesByThumbprint) {
  register_self_signed("edge", certificate_thumbprint(certificate_));
  auto outcome = over_mtls("edge", certificate_, /*chain_verified=*/false);
  ASSERT_TRUE(outcome.ok()) << outcome.failure().denial.reason;
  EXPECT_EQ(outcome.success().auth_method, "self_signed_tls_client_auth");
  EXPECT_EQ(outcome.success().x5t_s256, certificate_thumbprint(certificate_));
  expect_client_denied(over_mtls("edge", other_, false), "certificate_mismatch");
}

TEST_F(MutualTlsTokenTest, AnyCertificateBindsTheToken) {
  // The client authenticates with its secret; the connection's certificate still binds.
  auto c = make_client("billing");
  TokenRequest r = basic_request(c, {{"grant_type", "client_credentials"}});
  r.credentials.certificate = PresentedCertificate{other_, false};
  auto outcome = endpoint_->handle(r, clock_.now());
  ASSERT_TRUE(outcome.ok()) << outcome.failure().denial.reason;
  EXPECT_EQ(outcome.success().auth_method, "client_secret_basic");
  EXPECT_EQ(outcome.success().x5t_s256, certificate_thumbprint(other_));
  auto jwt = verify(outcome.success().access_token);
  ASSERT_TRUE(jwt.has_value());
  EXPECT_EQ(jwt->claims().at("cnf").at("x5t#S256").as_string(), certificate_thumbprint(other_));
}

TEST_F(MutualTlsTokenTest, DpopAndCertificateBindTogether) {
  register_by_uri("payments");
  auto outcome = over_mtls("payments", certificate_, true, proof("p-1"));
  ASSERT_TRUE(outcome.ok()) << outcome.failure().denial.reason;
  const TokenSuccess& s = outcome.success();
  EXPECT_EQ(s.token_type, "DPoP");
  EXPECT_EQ(s.jkt, key_->thumbprint());
  EXPECT_EQ(s.x5t_s256, certificate_thumbprint(certificate_));
  auto jwt = verify(s.access_token);
  ASSERT_TRUE(jwt.has_value());
  const auto& cnf = jwt->claims().at("cnf").as_object();
  EXPECT_EQ(cnf.size(), 2u);
  EXPECT_EQ(cnf.at("jkt").as_string(), key_->thumbprint());
  EXPECT_EQ(cnf.at("x5t#S256").as_string(), certificate_thumbprint(certificate_));

  auto introspected = introspection_->check(s.access_token, clock_.now());
  ASSERT_TRUE(introspected.active);
  auto body = boost::json::parse(to_json(introspected)).as_object();
  EXPECT_EQ(body.at("cnf").at("jkt").as_string(), key_->thumbprint());
  EXPECT_EQ(body.at("cnf").at("x5t#S256").as_string(), certificate_thumbprint(certificate_));
  EXPECT_EQ(body.at("token_type").as_string(), "DPoP");
}

// An audience with require_mtls: tokens for it only bound to a certificate.
class RequireMtlsTest : public MutualTlsTokenTest {
 protected:
  void SetUp() override {
    MutualTlsTokenTest::SetUp();
    endpoint_ = std::make_unique<TokenEndpoint>(*clients_, *keys_, &holder_, &assertions_);
    policy::Policy p = video_platform();
    p.services.push_back(service("payments"));
    policy::Audience ledger = audience("ledger", kPayments, {"ledger:write"});
    ledger.require_mtls = true;
    p.audiences.push_back(std::move(ledger));
    p.grants.push_back(grant("payments", "ledger", {"ledger:write"}));
    auto compiled = policy::CompiledPolicy::compile(std::move(p));
    ASSERT_TRUE(compiled.has_value()) << compiled.error().message;
    holder_.set(std::move(*compiled));

    NewClient n{.id = "payments"};
    n.tls_client_auth_san_uri = "spiffe://example.org/payments";
    n.auth_methods = {"tls_client_auth", "client_secret_basic"};
    n.allowed_scopes = {"ledger:write"};
    n.allowed_audiences = {kPayments};
    auto created = clients_->create(std::move(n), clock_.now());
    ASSERT_TRUE(created.has_value()) << created.error().message;
    payments_ = std::move(*created);
  }

  policy::PolicyHolder holder_;
  CreatedClient payments_;
};

TEST_F(RequireMtlsTest, RefusedWithoutACertificate) {
  auto outcome = endpoint_->handle(
      basic_request(payments_, {{"grant_type", "client_credentials"}, {"audience", "ledger"}}),
      clock_.now());
  ASSERT_FALSE(outcome.ok());
  const TokenFailure& failure = outcome.failure();
  EXPECT_EQ(failure.denial.error, OAuthError::kInvalidRequest);
  EXPECT_EQ(failure.denial.reason, "mtls_required");
  EXPECT_NE(failure.denial.description.find("mutual TLS"), std::string::npos);
  EXPECT_NE(failure.detail.find("require_mtls"), std::string::npos);
  EXPECT_EQ(failure.rules, std::vector<std::string>{"payments->ledger"});
}

TEST_F(RequireMtlsTest, AllowedWithACertificate) {
  // Over mutual TLS: with the certificate as credential, or with a secret beside it.
  auto by_certificate = over_mtls("payments", certificate_);
  ASSERT_TRUE(by_certificate.ok()) << by_certificate.failure().denial.reason;
  EXPECT_EQ(by_certificate.success().audience, std::vector<std::string>{kPayments});
  EXPECT_EQ(by_certificate.success().x5t_s256, certificate_thumbprint(certificate_));

  TokenRequest r =
      basic_request(payments_, {{"grant_type", "client_credentials"}, {"audience", "ledger"}});
  r.credentials.certificate = PresentedCertificate{certificate_, true};
  auto by_secret = endpoint_->handle(r, clock_.now());
  ASSERT_TRUE(by_secret.ok()) << by_secret.failure().denial.reason;
  EXPECT_EQ(by_secret.success().auth_method, "client_secret_basic");
  EXPECT_EQ(by_secret.success().x5t_s256, certificate_thumbprint(certificate_));
}

}  // namespace
}  // namespace sigil::oauth
