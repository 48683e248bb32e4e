// The JWT bearer grant (RFC 7523 §2.1) through the token endpoint: CI jobs and pods trade
// their platform's token for a sigil token of the service a policy rule maps them to.
#include <gtest/gtest.h>

#include <boost/json/parse.hpp>

#include <functional>

#include "oauth/testing/dpop.hpp"
#include "oauth/testing/federation_fixture.hpp"

namespace sigil::oauth {
namespace {

using testing::FakeIssuer;
using testing::kDeploy;
using testing::kGitHubIssuer;
using testing::kIssuer;
using testing::kPayments;

class JwtBearerTest : public testing::FederationFixture {};

TEST_F(JwtBearerTest, GitHubJobGetsATokenForItsService) {
  const std::int64_t now = to_unix(clock_.now());
  auto outcome = bearer(github_->mint(github()), {{"audience", "deploy"}});
  const TokenSuccess& s = ok(outcome);
  EXPECT_FALSE(outcome.tried_basic);
  EXPECT_EQ(s.grant_type, "urn:ietf:params:oauth:grant-type:jwt-bearer");
  EXPECT_EQ(s.client_id, "web-deployer");
  EXPECT_EQ(s.auth_method, "federated");
  EXPECT_EQ(s.subject, "web-deployer");
  EXPECT_EQ(s.actor, "");
  EXPECT_EQ(s.federated, kGitHubIssuer + " repo:acme/web:environment:production");
  EXPECT_EQ(s.audience, std::vector<std::string>{kDeploy});
  EXPECT_EQ(s.scope, "deploy:read deploy:write");
  EXPECT_EQ(s.rules, (std::vector<std::string>{"deploy-main", "web-deployer->deploy"}));
  EXPECT_EQ(s.issued_token_type, "");
  EXPECT_EQ(boost::json::parse(to_json(s)).as_object().size(), 4u);  // RFC 6749 §5.1 only

  auto claims = claims_of(s.access_token);
  EXPECT_EQ(claims.at("sub").as_string(), "web-deployer");
  EXPECT_EQ(claims.at("client_id").as_string(), "web-deployer");
  EXPECT_EQ(claims.at("aud").as_string(), kDeploy);
  EXPECT_EQ(claims.at("scope").as_string(), "deploy:read deploy:write");
  EXPECT_EQ(claims.at("exp").as_int64(), now + 300);
  EXPECT_FALSE(claims.contains("act"));
  const auto& federated = claims.at("https://sigil.dev/federated").as_object();
  EXPECT_EQ(federated.size(), 3u);
  EXPECT_EQ(federated.at("iss").as_string(), kGitHubIssuer);
  EXPECT_EQ(federated.at("sub").as_string(), "repo:acme/web:environment:production");
  EXPECT_EQ(federated.at("rule").as_string(), "deploy-main");
  // The service's client attributes travel as for client credentials.
  EXPECT_EQ(claims.at("https://sigil.dev/attributes").as_object().at("team").as_string(), "shop");

  // Introspection sees an active token of an active client.
  auto introspected = introspection_->check(s.access_token, clock_.now());
  EXPECT_TRUE(introspected.active) << introspected.reason_if_inactive;
}

TEST_F(JwtBearerTest, ScopeAndDefaultAudienceAreDecidedByThePolicy) {
  // A narrower scope.
  EXPECT_EQ(
      ok(bearer(github_->mint(github()), {{"resource", kDeploy}, {"scope", "deploy:read"}})).scope,
      "deploy:read");
  // A scope the service's grants do not give.
  expect_denied(
      bearer(github_->mint(github()), {{"audience", "deploy"}, {"scope", "deploy:admin"}}),
      OAuthError::kInvalidScope, "scope_not_granted");
  // An audience the service has no grant for.
  expect_denied(bearer(github_->mint(github()), {{"audience", "payments"}}),
                OAuthError::kInvalidTarget, "no_grant");
  // Nothing named: the service's only allowed audience, or a clean refusal.
  expect_denied(bearer(github_->mint(github())), OAuthError::kInvalidTarget, "audience_required");
  // Never a token for sigil's own API.
  expect_denied(bearer(github_->mint(github()), {{"resource", kIssuer}}),
                OAuthError::kInvalidTarget, "issuer_audience");
}

TEST_F(JwtBearerTest, KubernetesPodGetsATokenForItsService) {
  auto s = ok(bearer(cluster_->mint(kubernetes("payments", "ledger")), {{"audience", "payments"}}));
  EXPECT_EQ(s.subject, "ledger");
  EXPECT_EQ(s.scope, "payments:charge");
  EXPECT_EQ(s.audience, std::vector<std::string>{kPayments});
  // The Kubernetes token lives an hour; the sigil token keeps the default five minutes.
  EXPECT_EQ(s.expires_in, 300);

  expect_denied(bearer(cluster_->mint(kubernetes("default", "ledger")), {{"audience", "payments"}}),
                OAuthError::kInvalidGrant, "no_rule_matched");
  expect_denied(
      bearer(cluster_->mint(kubernetes("payments", "intruder")), {{"audience", "payments"}}),
      OAuthError::kInvalidGrant, "no_rule_matched");
}

TEST_F(JwtBearerTest, RefusedGitHubTokens) {
  struct Case {
    const char* name;
    std::function<void(boost::json::object&)> change;
    const char* reason;
  };
  const std::int64_t now = to_unix(clock_.now());
  const Case cases[] = {
      {"wrong repository", [](auto& c) { c["repository"] = "acme/fork"; }, "no_rule_matched"},
      {"wrong branch", [](auto& c) { c["ref"] = "refs/heads/dev"; }, "no_rule_matched"},
      {"wrong environment", [](auto& c) { c["environment"] = "staging"; }, "no_rule_matched"},
      {"wrong audience", [](auto& c) { c["aud"] = "https://sts.amazonaws.com"; }, "wrong_audience"},
      {"expired", [now](auto& c) { c["exp"] = now - 60; }, "expired"},
      {"not yet valid", [now](auto& c) { c["nbf"] = now + 60; }, "not_yet_valid"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    auto claims = github();
    c.change(claims);
    auto outcome = bearer(github_->mint(claims), {{"audience", "deploy"}});
    expect_denied(outcome, OAuthError::kInvalidGrant, c.reason);
    EXPECT_EQ(outcome.failure().auth_method, "federated");
    EXPECT_EQ(outcome.failure().grant_type, "urn:ietf:params:oauth:grant-type:jwt-bearer");
    EXPECT_EQ(outcome.failure().denial.description.rfind("assertion: ", 0), 0u)
        << outcome.failure().denial.description;
  }
  // Why no rule matched is kept for the audit.
  auto fork = github();
  fork["repository"] = "acme/fork";
  auto no_rule = bearer(github_->mint(fork), {{"audience", "deploy"}});
  ASSERT_FALSE(no_rule.ok());
  EXPECT_NE(no_rule.failure().detail.find("acme/fork"), std::string::npos)
      << no_rule.failure().detail;
}

TEST_F(JwtBearerTest, RefusedSignatures) {
  // Signed by a key that is not the issuer's, under the issuer's kid.
  auto other = jose::Jwk::generate(jose::Algorithm::kRS256);
  ASSERT_TRUE(other.has_value());
  auto forged = jose::Jwk::from_private_pkcs8(*other->private_pkcs8(), jose::Algorithm::kRS256,
                                              github_->key().kid());
  ASSERT_TRUE(forged.has_value());
  expect_denied(bearer(FakeIssuer::sign_with(*forged, github()), {{"audience", "deploy"}}),
                OAuthError::kInvalidGrant, "bad_signature");
  // Under a kid the issuer never published.
  expect_denied(bearer(FakeIssuer::sign_with(*other, github()), {{"audience", "deploy"}}),
                OAuthError::kInvalidGrant, "unknown_key");
  // alg none.
  expect_denied(
      bearer(FakeIssuer::unsigned_token({{"alg", "none"}}, github(), ""), {{"audience", "deploy"}}),
      OAuthError::kInvalidGrant, "algorithm_not_allowed");
}

TEST_F(JwtBearerTest, ReplayedAssertionIsRefused) {
  const std::string assertion = github_->mint(github());
  ok(bearer(assertion, {{"audience", "deploy"}}));
  expect_denied(bearer(assertion, {{"audience", "deploy"}}), OAuthError::kInvalidGrant,
                "assertion_replayed");
}

// RFC 9449 §5: "This is applicable for all access token requests regardless of grant
// type". A bad proof is refused before the assertion is spent.
TEST_F(JwtBearerTest, ADpopProofBindsTheToken) {
  auto key = jose::Jwk::generate(jose::Algorithm::kEdDSA);
  ASSERT_TRUE(key.has_value());
  const std::string url = kIssuer + "/oauth2/token";
  const std::string assertion = github_->mint(github());
  TokenRequest r;
  r.params = {{"grant_type", std::string(kJwtBearerGrantType)},
              {"assertion", assertion},
              {"audience", "deploy"}};
  r.endpoint_url = url;
  r.dpop_proof = testing::dpop_proof(*key, "p-1", url + "/elsewhere", clock_.now());
  auto refused = endpoint_->handle(r, clock_.now());
  expect_denied(refused, OAuthError::kInvalidDpopProof, "dpop_wrong_htu");

  r.dpop_proof = testing::dpop_proof(*key, "p-2", url, clock_.now());
  const TokenOutcome outcome = endpoint_->handle(r, clock_.now());
  const TokenSuccess& s = ok(outcome);
  EXPECT_EQ(s.token_type, "DPoP");
  EXPECT_EQ(s.jkt, key->thumbprint());
  EXPECT_EQ(claims_of(s.access_token).at("cnf").at("jkt").as_string(), key->thumbprint());
}

TEST_F(JwtBearerTest, IssuerDownWithAndWithoutCachedKeys) {
  // Never fetched, and the issuer is down: a clean invalid_grant, not a server error.
  key_source_.set_down(true);
  auto down = bearer(github_->mint(github()), {{"audience", "deploy"}});
  expect_denied(down, OAuthError::kInvalidGrant, "issuer_unavailable");
  EXPECT_NE(down.failure().denial.description.find("cannot be fetched now"), std::string::npos);
  // Fetched once: the cached keys keep working while the issuer is down.
  key_source_.set_down(false);
  ok(bearer(github_->mint(github()), {{"audience", "deploy"}}));
  key_source_.set_down(true);
  ok(bearer(github_->mint(github()), {{"audience", "deploy"}}));
}

TEST_F(JwtBearerTest, TheTokenNeverOutlivesTheAssertion) {
  auto claims = github();
  claims["exp"] = to_unix(clock_.now()) + 42;
  auto s = ok(bearer(github_->mint(claims), {{"audience", "deploy"}}));
  EXPECT_EQ(s.expires_in, 42);
  EXPECT_EQ(claims_of(s.access_token).at("exp").as_int64(), to_unix(clock_.now()) + 42);
  // Within the leeway after exp the assertion still verifies, but there is no time left.
  auto late = github();
  late["exp"] = to_unix(clock_.now()) - 5;
  expect_denied(bearer(github_->mint(late), {{"audience", "deploy"}}), OAuthError::kInvalidGrant,
                "expired");
}

TEST_F(JwtBearerTest, ClientAuthenticationIsOptionalButChecked) {
  // The mapped service may authenticate too.
  auto as_service =
      ok(bearer(github_->mint(github()), {{"audience", "deploy"}}, &client("web-deployer")));
  EXPECT_EQ(as_service.auth_method, "client_secret_basic");
  EXPECT_EQ(as_service.client_id, "web-deployer");
  // Another client may not use the service's token.
  auto other = bearer(github_->mint(github()), {{"audience", "deploy"}}, &client("frontend"));
  expect_denied(other, OAuthError::kInvalidGrant, "client_mismatch");
  EXPECT_EQ(other.failure().client_id, "frontend");
  // Credentials that are present must be right.
  TokenRequest wrong;
  wrong.params = {{"grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"},
                  {"assertion", github_->mint(github())},
                  {"audience", "deploy"}};
  wrong.credentials.basic = ClientCredentials{"web-deployer", SecretString("wrong")};
  expect_denied(endpoint_->handle(wrong, clock_.now()), OAuthError::kInvalidClient, "bad_secret");
  // A client_id alone is an attempt at authentication, not "no credentials".
  expect_denied(bearer(github_->mint(github()), {{"audience", "deploy"}, {"client_id", "x"}}),
                OAuthError::kInvalidClient, "missing_client_secret");
  // Client credentials still requires a client.
  expect_denied(post({{"grant_type", "client_credentials"}}), OAuthError::kInvalidClient,
                "no_client_authentication");
}

TEST_F(JwtBearerTest, TheServiceMustBeAnActiveClient) {
  ASSERT_TRUE(clients_->set_status("web-deployer", ClientStatus::kDisabled, clock_.now()));
  expect_denied(bearer(github_->mint(github()), {{"audience", "deploy"}}),
                OAuthError::kInvalidGrant, "client_disabled");
  ASSERT_TRUE(clients_->set_status("web-deployer", ClientStatus::kActive, clock_.now()));
  ok(bearer(github_->mint(github()), {{"audience", "deploy"}}));

  // A service of the policy that has no client (the policy was never applied).
  policy::Policy p = shop();
  policy::Service orphan;
  orphan.name = "orphan";
  orphan.attributes = {{"environment", "production"}};
  p.services.push_back(orphan);
  p.issuers[0].rules[0].service = "orphan";
  policy::GrantRule deploys;
  deploys.name = "orphan->deploy";
  deploys.caller.name = "orphan";
  deploys.audience.name = "deploy";
  deploys.scopes = {"deploy:read"};
  p.grants.push_back(deploys);
  enforce(std::move(p));
  expect_denied(bearer(github_->mint(github()), {{"audience", "deploy"}}),
                OAuthError::kInvalidGrant, "unknown_client");
}

TEST_F(JwtBearerTest, AssertionParameterRules) {
  expect_denied(
      post({{"grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"}, {"audience", "deploy"}}),
      OAuthError::kInvalidRequest, "missing_assertion");
  // RFC 7523 §2.1: "The value of the "assertion" parameter MUST contain a single JWT."
  expect_denied(bearer(github_->mint(github()), {{"assertion", github_->mint(github())}}),
                OAuthError::kInvalidRequest, "repeated_parameter");
  expect_denied(bearer("not-a-jwt", {{"audience", "deploy"}}), OAuthError::kInvalidGrant,
                "malformed");
  auto stranger = github();
  stranger["iss"] = "https://gitlab.example.com";
  expect_denied(bearer(github_->mint(stranger), {{"audience", "deploy"}}),
                OAuthError::kInvalidGrant, "unknown_issuer");
}

TEST_F(JwtBearerTest, APersonsTokenIsNotAServiceAssertion) {
  auto outcome = bearer(id_token("alice"), {{"audience", "checkout-api"}});
  expect_denied(outcome, OAuthError::kInvalidGrant, "rule_maps_to_user");
  EXPECT_EQ(outcome.failure().federated, testing::kLoginIssuer + " alice");
}

TEST_F(JwtBearerTest, WithoutAPolicyNoIssuerIsTrusted) {
  holder_.set(nullptr);
  expect_denied(bearer(github_->mint(github()), {{"audience", "deploy"}}),
                OAuthError::kInvalidGrant, "unknown_issuer");
}

}  // namespace
}  // namespace sigil::oauth
