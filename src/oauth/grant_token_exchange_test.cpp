// Token exchange (RFC 8693) through the token endpoint: CI jobs without a client, delegation
// chains with nested act, scope narrowing, impersonation, actor tokens, parameter errors.
#include <gtest/gtest.h>

#include <boost/json/parse.hpp>

#include "oauth/testing/federation_fixture.hpp"

namespace sigil::oauth {
namespace {

using testing::kCheckout;
using testing::kDeploy;
using testing::kGitHubIssuer;
using testing::kInventory;
using testing::kIssuer;
using testing::kLoginIssuer;
using testing::kTypeAccessToken;
using testing::kTypeIdToken;
using testing::kTypeJwt;

constexpr std::string_view kAccessTokenType = "urn:ietf:params:oauth:token-type:access_token";

class TokenExchangeTest : public testing::FederationFixture {
 protected:
  // alice's ID token exchanged by frontend for checkout-api.
  TokenSuccess frontend_for_alice(Params extra = {}) {
    extra.emplace_back("audience", "checkout-api");
    return ok(exchange(id_token("alice"), kTypeIdToken, std::move(extra), &client("frontend")));
  }
};

TEST_F(TokenExchangeTest, CiJobWithoutAClientGetsItsServicesOwnToken) {
  auto outcome = exchange(github_->mint(github()), kTypeJwt, {{"audience", "deploy"}});
  const TokenSuccess& s = ok(outcome);
  EXPECT_EQ(s.grant_type, "urn:ietf:params:oauth:grant-type:token-exchange");
  EXPECT_EQ(s.subject, "web-deployer");
  EXPECT_EQ(s.client_id, "web-deployer");
  EXPECT_EQ(s.auth_method, "federated");
  EXPECT_EQ(s.actor, "");
  EXPECT_EQ(s.federated, kGitHubIssuer + " repo:acme/web:environment:production");
  EXPECT_EQ(s.scope, "deploy:read deploy:write");
  EXPECT_EQ(s.rules, (std::vector<std::string>{"deploy-main", "web-deployer->deploy"}));

  // RFC 8693 §2.2.1: issued_token_type is REQUIRED in the response.
  auto body = boost::json::parse(to_json(s)).as_object();
  EXPECT_EQ(body.at("issued_token_type").as_string(), kAccessTokenType);
  EXPECT_EQ(body.at("token_type").as_string(), "Bearer");
  EXPECT_EQ(body.size(), 5u);

  auto claims = claims_of(s.access_token);
  EXPECT_EQ(claims.at("sub").as_string(), "web-deployer");
  EXPECT_EQ(claims.at("aud").as_string(), kDeploy);
  EXPECT_FALSE(claims.contains("act"));
  EXPECT_EQ(claims.at("https://sigil.dev/federated").as_object().at("rule").as_string(),
            "deploy-main");

  // requested_token_type jwt: the same token, announced as a JWT.
  auto as_jwt = ok(exchange(
      github_->mint(github()), kTypeJwt,
      {{"audience", "deploy"}, {"requested_token_type", "urn:ietf:params:oauth:token-type:jwt"}}));
  EXPECT_EQ(as_jwt.issued_token_type, "urn:ietf:params:oauth:token-type:jwt");
  auto as_access_token = ok(
      exchange(github_->mint(github()), kTypeJwt,
               {{"audience", "deploy"}, {"requested_token_type", std::string(kAccessTokenType)}}));
  EXPECT_EQ(as_access_token.issued_token_type, kAccessTokenType);

  // A Kubernetes pod likewise.
  auto pod = ok(exchange(cluster_->mint(kubernetes("payments", "ledger")), kTypeJwt,
                         {{"resource", testing::kPayments}}));
  EXPECT_EQ(pod.subject, "ledger");
  EXPECT_EQ(pod.scope, "payments:charge");
}

TEST_F(TokenExchangeTest, CiJobRefusals) {
  auto fork = github();
  fork["repository"] = "acme/fork";
  expect_denied(exchange(github_->mint(fork), kTypeJwt, {{"audience", "deploy"}}),
                OAuthError::kInvalidRequest, "no_rule_matched");
  auto expired = github();
  expired["exp"] = to_unix(clock_.now()) - 120;
  expect_denied(exchange(github_->mint(expired), kTypeJwt, {{"audience", "deploy"}}),
                OAuthError::kInvalidRequest, "expired");
  auto other_audience = github();
  other_audience["aud"] = "https://elsewhere.example.com";
  expect_denied(exchange(github_->mint(other_audience), kTypeJwt, {{"audience", "deploy"}}),
                OAuthError::kInvalidRequest, "wrong_audience");
  const std::string once = github_->mint(github());
  ok(exchange(once, kTypeJwt, {{"audience", "deploy"}}));
  auto replayed = exchange(once, kTypeJwt, {{"audience", "deploy"}});
  expect_denied(replayed, OAuthError::kInvalidRequest, "assertion_replayed");
  EXPECT_EQ(replayed.failure().denial.description.rfind("subject_token: ", 0), 0u);
  key_source_.forget();
  key_source_.set_down(true);
  expect_denied(exchange(github_->mint(github()), kTypeJwt, {{"audience", "deploy"}}),
                OAuthError::kInvalidRequest, "issuer_unavailable");
}

TEST_F(TokenExchangeTest, APersonsTokenNeedsAnActor) {
  auto outcome = exchange(id_token("alice"), kTypeIdToken, {{"audience", "checkout-api"}});
  expect_denied(outcome, OAuthError::kInvalidRequest, "actor_required");
  EXPECT_EQ(outcome.failure().subject, "alice");
  EXPECT_EQ(outcome.failure().federated, kLoginIssuer + " alice");
}

TEST_F(TokenExchangeTest, DelegationChainNestsAct) {
  // frontend exchanges alice's ID token for checkout-api: alice is the subject, frontend acts.
  const TokenSuccess first = frontend_for_alice();
  EXPECT_EQ(first.subject, "alice");
  EXPECT_EQ(first.actor, "frontend");
  EXPECT_EQ(first.client_id, "frontend");
  EXPECT_EQ(first.auth_method, "client_secret_basic");
  EXPECT_EQ(first.federated, kLoginIssuer + " alice");
  EXPECT_EQ(first.audience, std::vector<std::string>{kCheckout});
  EXPECT_EQ(first.scope, "inventory:read orders:read orders:write");
  EXPECT_EQ(first.rules, (std::vector<std::string>{"frontend->checkout-api", "staff"}));
  auto one = claims_of(first.access_token);
  EXPECT_EQ(one.at("sub").as_string(), "alice");
  EXPECT_EQ(one.at("client_id").as_string(), "frontend");
  EXPECT_EQ(boost::json::serialize(one.at("act")), R"({"sub":"frontend"})");
  // The ID token lives 10 minutes; the exchanged token the default 5.
  EXPECT_EQ(first.expires_in, 300);

  // checkout, which received that token, exchanges it for inventory: checkout acts for
  // alice through frontend.
  auto second_outcome =
      exchange(first.access_token, kTypeAccessToken,
               {{"audience", "inventory"}, {"scope", "inventory:read"}}, &client("checkout"));
  const TokenSuccess& second = ok(second_outcome);
  EXPECT_EQ(second.subject, "alice");
  EXPECT_EQ(second.actor, "checkout,frontend");
  EXPECT_EQ(second.client_id, "checkout");
  EXPECT_EQ(second.federated, kLoginIssuer + " alice");
  EXPECT_EQ(second.scope, "inventory:read");
  EXPECT_EQ(second.rules, std::vector<std::string>{"checkout->inventory"});
  auto two = claims_of(second.access_token);
  EXPECT_EQ(two.at("sub").as_string(), "alice");
  EXPECT_EQ(boost::json::serialize(two.at("act")),
            R"({"sub":"checkout","act":{"sub":"frontend"}})");
  EXPECT_EQ(two.at("https://sigil.dev/federated").as_object().at("sub").as_string(), "alice");
  // Never past the token it came from.
  EXPECT_LE(two.at("exp").as_int64(), one.at("exp").as_int64());

  // Introspection shows the chain (RFC 8693 §4.1).
  auto introspected = introspection_->check(second.access_token, clock_.now());
  ASSERT_TRUE(introspected.active) << introspected.reason_if_inactive;
  auto body = boost::json::parse(to_json(introspected)).as_object();
  EXPECT_EQ(boost::json::serialize(body.at("act")),
            R"({"sub":"checkout","act":{"sub":"frontend"}})");
  EXPECT_EQ(body.at("sub").as_string(), "alice");
  // A token without act introspects without it.
  auto plain = introspection_->check(
      issue(client("frontend"), {{"audience", "checkout-api"}}).access_token, clock_.now());
  EXPECT_FALSE(boost::json::parse(to_json(plain)).as_object().contains("act"));
}

TEST_F(TokenExchangeTest, ScopesOnlyNarrow) {
  const TokenSuccess first = frontend_for_alice({{"scope", "inventory:read orders:read"}});
  EXPECT_EQ(first.scope, "inventory:read orders:read");
  // checkout's grant gives inventory:read and inventory:write; the subject token carries only
  // inventory:read: the default is what both allow.
  auto narrowed = ok(exchange(first.access_token, kTypeAccessToken, {{"audience", "inventory"}},
                              &client("checkout")));
  EXPECT_EQ(narrowed.scope, "inventory:read");
  // Widening is refused, even where the actor's grant would allow it.
  auto widened =
      exchange(first.access_token, kTypeAccessToken,
               {{"audience", "inventory"}, {"scope", "inventory:write"}}, &client("checkout"));
  expect_denied(widened, OAuthError::kInvalidScope, "scope_beyond_subject_token");
  EXPECT_EQ(widened.failure().actor, "checkout,frontend");
  // A scope the subject token has but the actor's grants do not give.
  auto beyond_grant =
      exchange(first.access_token, kTypeAccessToken,
               {{"audience", "checkout-api"}, {"scope", "orders:read"}}, &client("checkout"));
  expect_denied(beyond_grant, OAuthError::kInvalidTarget, "no_grant");
  // Nothing in common between the subject token and the grant.
  const TokenSuccess orders_only = frontend_for_alice({{"scope", "orders:read"}});
  expect_denied(exchange(orders_only.access_token, kTypeAccessToken, {{"audience", "inventory"}},
                         &client("checkout")),
                OAuthError::kInvalidScope, "scope_beyond_subject_token");
  // And the policy still decides for external subjects: frontend's grant lacks orders:delete.
  expect_denied(
      exchange(id_token("alice"), kTypeIdToken,
               {{"audience", "checkout-api"}, {"scope", "orders:delete"}}, &client("frontend")),
      OAuthError::kInvalidScope, "scope_not_granted");
}

TEST_F(TokenExchangeTest, ImpersonationOnlyWithTheGrantFlag) {
  // support's grant allows impersonation: without an actor_token, the token is alice's own.
  auto impersonated = ok(exchange(id_token("alice"), kTypeIdToken, {{"audience", "checkout-api"}},
                                  &client("support")));
  EXPECT_EQ(impersonated.subject, "alice");
  EXPECT_EQ(impersonated.actor, "");
  EXPECT_EQ(impersonated.client_id, "support");
  EXPECT_EQ(impersonated.scope, "orders:read");
  EXPECT_FALSE(claims_of(impersonated.access_token).contains("act"));

  // With an actor_token, support is named as actor after all.
  const TokenSuccess support_token = issue(client("support"), {{"audience", "checkout-api"}});
  auto delegated = ok(exchange(id_token("alice"), kTypeIdToken,
                               {{"audience", "checkout-api"},
                                {"actor_token", support_token.access_token},
                                {"actor_token_type", std::string(kTypeAccessToken)}},
                               &client("support")));
  EXPECT_EQ(delegated.actor, "support");
  EXPECT_EQ(boost::json::serialize(claims_of(delegated.access_token).at("act")),
            R"({"sub":"support"})");

  // frontend's grant has no flag: frontend is always named.
  EXPECT_EQ(frontend_for_alice().actor, "frontend");
}

TEST_F(TokenExchangeTest, ActorTokenVariants) {
  // No client: the actor comes from the actor_token, a service's own sigil token.
  const TokenSuccess frontend_token = issue(client("frontend"), {{"audience", "checkout-api"}});
  auto by_token = ok(exchange(id_token("alice"), kTypeIdToken,
                              {{"audience", "checkout-api"},
                               {"actor_token", frontend_token.access_token},
                               {"actor_token_type", std::string(kTypeAccessToken)}}));
  EXPECT_EQ(by_token.subject, "alice");
  EXPECT_EQ(by_token.actor, "frontend");
  EXPECT_EQ(by_token.client_id, "frontend");
  EXPECT_EQ(by_token.auth_method, "federated");

  // No client: the actor is a CI job, by its platform token.
  auto by_ci = ok(exchange(id_token("alice"), kTypeIdToken,
                           {{"audience", "deploy"},
                            {"actor_token", github_->mint(github())},
                            {"actor_token_type", std::string(kTypeJwt)}}));
  EXPECT_EQ(by_ci.actor, "web-deployer");
  EXPECT_EQ(by_ci.client_id, "web-deployer");
  EXPECT_EQ(by_ci.rules,
            (std::vector<std::string>{"deploy-main", "staff", "web-deployer->deploy"}));

  // A person is never an actor.
  expect_denied(exchange(id_token("alice"), kTypeIdToken,
                         {{"audience", "checkout-api"},
                          {"actor_token", id_token("mallory")},
                          {"actor_token_type", std::string(kTypeIdToken)}}),
                OAuthError::kInvalidRequest, "actor_not_a_service");
  // Nor a token that is someone else's delegation.
  const TokenSuccess delegated = frontend_for_alice();
  expect_denied(exchange(id_token("bob"), kTypeIdToken,
                         {{"audience", "checkout-api"},
                          {"actor_token", delegated.access_token},
                          {"actor_token_type", std::string(kTypeAccessToken)}}),
                OAuthError::kInvalidRequest, "actor_not_a_service");
  // An authenticated client cannot name another service as actor.
  expect_denied(exchange(id_token("alice"), kTypeIdToken,
                         {{"audience", "checkout-api"},
                          {"actor_token", frontend_token.access_token},
                          {"actor_token_type", std::string(kTypeAccessToken)}},
                         &client("checkout")),
                OAuthError::kInvalidRequest, "actor_mismatch");
  // An invalid actor token says so, apart from the subject's reasons.
  auto bad_actor = exchange(id_token("alice"), kTypeIdToken,
                            {{"audience", "checkout-api"},
                             {"actor_token", "garbage"},
                             {"actor_token_type", std::string(kTypeAccessToken)}});
  expect_denied(bad_actor, OAuthError::kInvalidRequest, "actor_token_malformed");
  EXPECT_EQ(bad_actor.failure().denial.description.rfind("actor_token: ", 0), 0u);
}

TEST_F(TokenExchangeTest, AServiceMayNarrowItsOwnToken) {
  const TokenSuccess own = issue(
      client("frontend"), {{"audience", "checkout-api"}, {"scope", "orders:read orders:write"}});
  // Without a client, the token itself proves the service: no act.
  auto narrowed = ok(exchange(own.access_token, kTypeAccessToken,
                              {{"audience", "checkout-api"}, {"scope", "orders:read"}}));
  EXPECT_EQ(narrowed.subject, "frontend");
  EXPECT_EQ(narrowed.actor, "");
  EXPECT_EQ(narrowed.scope, "orders:read");
  // By the service itself: still no act (it does not act for anyone else).
  auto by_itself = ok(exchange(own.access_token, kTypeAccessToken, {{"audience", "checkout-api"}},
                               &client("frontend")));
  EXPECT_EQ(by_itself.actor, "");
  EXPECT_EQ(by_itself.scope, "orders:read orders:write");
  // A delegated token without client or actor: who would act?
  expect_denied(
      exchange(frontend_for_alice().access_token, kTypeAccessToken, {{"audience", "checkout-api"}}),
      OAuthError::kInvalidRequest, "actor_required");
}

TEST_F(TokenExchangeTest, SigilSubjectTokensMustBeActive) {
  const TokenSuccess first = frontend_for_alice();
  // Revoked.
  ASSERT_TRUE(revoked_->revoke(first.jti, first.exp, clock_.now()).has_value());
  auto revoked = exchange(first.access_token, kTypeAccessToken, {{"audience", "inventory"}},
                          &client("checkout"));
  expect_denied(revoked, OAuthError::kInvalidRequest, "revoked");
  EXPECT_EQ(revoked.failure().client_id, "checkout");

  // Issued to a client that was disabled since (the kill switch).
  const TokenSuccess second = frontend_for_alice();
  ASSERT_TRUE(clients_->set_status("frontend", ClientStatus::kDisabled, clock_.now()));
  expect_denied(exchange(second.access_token, kTypeAccessToken, {{"audience", "inventory"}},
                         &client("checkout")),
                OAuthError::kInvalidRequest, "client_disabled");
  ASSERT_TRUE(clients_->set_status("frontend", ClientStatus::kActive, clock_.now()));

  // Expired.
  const TokenSuccess third = frontend_for_alice();
  clock_.advance(Seconds{third.expires_in + 60});
  expect_denied(exchange(third.access_token, kTypeAccessToken, {{"audience", "inventory"}},
                         &client("checkout")),
                OAuthError::kInvalidRequest, "expired");

  // Not ours.
  expect_denied(exchange(cluster_->mint(kubernetes("payments", "ledger")), kTypeAccessToken,
                         {{"audience", "inventory"}}, &client("checkout")),
                OAuthError::kInvalidRequest, "unknown_key");
}

TEST_F(TokenExchangeTest, Rfc8693ParameterErrors) {
  const auto& frontend = client("frontend");
  const Params exchange_type = {{"grant_type", "urn:ietf:params:oauth:grant-type:token-exchange"}};
  auto with = [&](Params extra) {
    Params params = exchange_type;
    params.insert(params.end(), extra.begin(), extra.end());
    return post(std::move(params), &frontend);
  };
  const std::string alice = id_token("alice");
  const std::string id_type(kTypeIdToken);
  expect_denied(with({{"subject_token_type", id_type}}), OAuthError::kInvalidRequest,
                "missing_subject_token");
  expect_denied(with({{"subject_token", alice}}), OAuthError::kInvalidRequest,
                "missing_subject_token_type");
  expect_denied(with({{"subject_token", alice},
                      {"subject_token_type", "urn:ietf:params:oauth:token-type:saml2"}}),
                OAuthError::kInvalidRequest, "unsupported_token_type");
  expect_denied(
      with({{"subject_token", alice}, {"subject_token_type", id_type}, {"actor_token", alice}}),
      OAuthError::kInvalidRequest, "missing_actor_token_type");
  expect_denied(with({{"subject_token", alice},
                      {"subject_token_type", id_type},
                      {"actor_token_type", id_type}}),
                OAuthError::kInvalidRequest, "unexpected_actor_token_type");
  expect_denied(with({{"subject_token", alice},
                      {"subject_token_type", id_type},
                      {"actor_token", alice},
                      {"actor_token_type", "urn:ietf:params:oauth:token-type:refresh_token"}}),
                OAuthError::kInvalidRequest, "unsupported_token_type");
  expect_denied(with({{"subject_token", alice},
                      {"subject_token_type", id_type},
                      {"requested_token_type", "urn:ietf:params:oauth:token-type:refresh_token"}}),
                OAuthError::kInvalidRequest, "unsupported_requested_token_type");
  expect_denied(
      with({{"subject_token", alice}, {"subject_token_type", id_type}, {"subject_token", alice}}),
      OAuthError::kInvalidRequest, "repeated_parameter");
  // One audience per exchange; naming one audience twice (by name and URI) is one.
  auto two = with({{"subject_token", alice},
                   {"subject_token_type", id_type},
                   {"audience", "checkout-api"},
                   {"audience", "inventory"}});
  expect_denied(two, OAuthError::kInvalidTarget, "one_audience_per_exchange");
  EXPECT_EQ(two.failure().denial.description, "one audience per exchange");
  EXPECT_EQ(two.failure().requested_audience,
            (std::vector<std::string>{"checkout-api", "inventory"}));
  ok(with({{"subject_token", id_token("alice")},
           {"subject_token_type", id_type},
           {"audience", "checkout-api"},
           {"resource", kCheckout}}));
  expect_denied(with({{"subject_token", id_token("alice")},
                      {"subject_token_type", id_type},
                      {"resource", kIssuer}}),
                OAuthError::kInvalidTarget, "issuer_audience");
  expect_denied(with({{"subject_token", id_token("alice")},
                      {"subject_token_type", id_type},
                      {"resource", kInventory}}),
                OAuthError::kInvalidTarget, "no_grant");
  expect_denied(with({{"subject_token", id_token("alice")},
                      {"subject_token_type", id_type},
                      {"audience", "checkout-api"},
                      {"scope", "bad\"scope"}}),
                OAuthError::kInvalidScope, "malformed_scope");
}

TEST_F(TokenExchangeTest, DelegationChainsAreBounded) {
  // Each hop adds an actor; a chain longer than eight is refused.
  TokenSuccess token = frontend_for_alice({{"scope", "orders:read"}});
  policy::Policy p = shop();
  for (auto& g : p.grants) {
    if (g.name == "frontend->checkout-api") g.caller.name = "*";  // anyone may hop
  }
  enforce(std::move(p));
  const char* hops[] = {"checkout", "support", "ledger", "web-deployer"};
  int actors = 1;
  for (int i = 0; actors < 8; ++i, ++actors) {
    token = ok(exchange(token.access_token, kTypeAccessToken, {{"audience", "checkout-api"}},
                        &client(hops[i % 4])));
  }
  EXPECT_EQ(claims_of(token.access_token).at("sub").as_string(), "alice");
  expect_denied(exchange(token.access_token, kTypeAccessToken, {{"audience", "checkout-api"}},
                         &client("checkout")),
                OAuthError::kInvalidRequest, "delegation_too_deep");
}

}  // namespace
}  // namespace sigil::oauth
