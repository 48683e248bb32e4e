#include "oauth/external_token.hpp"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>

#include "oauth/replay_cache.hpp"
#include "oauth/testing/federation.hpp"

namespace sigil::oauth {
namespace {

using testing::FakeIssuer;
using testing::kClusterIssuer;
using testing::kClusterJwksUri;
using testing::kGitHubIssuer;
using testing::kLoginIssuer;

const std::string kSigil = "https://sigil.test";

policy::Service service(std::string name) {
  policy::Service s;
  s.name = std::move(name);
  return s;
}

class ExternalTokenTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    github_ = new FakeIssuer(kGitHubIssuer, jose::Algorithm::kRS256);
    cluster_ = new FakeIssuer(kClusterIssuer, jose::Algorithm::kES256);
    login_ = new FakeIssuer(kLoginIssuer, jose::Algorithm::kES256);
  }
  static void TearDownTestSuite() {
    delete github_;
    delete cluster_;
    delete login_;
  }

  void SetUp() override {
    policy::Policy p;
    p.services = {service("web-deployer"), service("ledger")};
    p.issuers = {testing::github_issuer(kSigil), testing::cluster_issuer(kSigil),
                 testing::login_issuer(kSigil, login_->jwks_json())};
    compile(std::move(p));
    keys_.publish(kGitHubIssuer, github_->jwks());
    keys_.publish(kClusterJwksUri, cluster_->jwks());
    context_.keys = &keys_;
    context_.replays = &replays_;
    context_.audiences = {kSigil};
  }

  void compile(policy::Policy p) {
    auto compiled = policy::CompiledPolicy::compile(std::move(p));
    ASSERT_TRUE(compiled.has_value()) << compiled.error().message;
    policy_ = std::move(*compiled);
  }

  std::expected<ExternalToken, Denial> verify(std::string_view jwt) {
    return verify_external_token(jwt, *policy_, context_, clock_.now());
  }

  void expect_refused(std::string_view jwt, std::string_view reason) {
    auto token = verify(jwt);
    ASSERT_FALSE(token.has_value()) << "accepted, expected " << reason;
    EXPECT_EQ(token.error().error, OAuthError::kInvalidGrant);
    EXPECT_EQ(token.error().reason, reason);
    EXPECT_FALSE(token.error().description.empty());
  }

  boost::json::object github() { return testing::github_claims(clock_.now(), kSigil); }

  static FakeIssuer* github_;
  static FakeIssuer* cluster_;
  static FakeIssuer* login_;
  FakeClock clock_;
  std::shared_ptr<const policy::CompiledPolicy> policy_;
  testing::FakeKeySource keys_;
  ReplayCache replays_;
  AssertionContext context_;
};

FakeIssuer* ExternalTokenTest::github_ = nullptr;
FakeIssuer* ExternalTokenTest::cluster_ = nullptr;
FakeIssuer* ExternalTokenTest::login_ = nullptr;

TEST_F(ExternalTokenTest, GitHubJobTokenMapsToItsService) {
  auto claims = github();
  const std::string jti(claims.at("jti").as_string());
  auto token = verify(github_->mint(claims));
  ASSERT_TRUE(token.has_value()) << token.error().reason << ": " << token.error().detail;
  EXPECT_EQ(token->issuer().name, "github");
  EXPECT_EQ(token->rule().name, "deploy-main");
  EXPECT_EQ(token->rule().service, "web-deployer");
  EXPECT_EQ(token->subject(), "repo:acme/web:environment:production");
  EXPECT_EQ(token->jti(), jti);
  EXPECT_EQ(to_unix(token->expires_at()), to_unix(clock_.now()) + 300);
  EXPECT_EQ(token->claims().at("repository"), std::vector<std::string>{"acme/web"});
  EXPECT_EQ(token->claims().at("ref_protected"), std::vector<std::string>{"true"});
  EXPECT_EQ(token->claims().at("run_id"), std::vector<std::string>{"4242"});
  // The keys were discovered from the issuer once, not asked again.
  EXPECT_EQ(keys_.fetches(), 1);
  EXPECT_TRUE(verify(github_->mint(github())).has_value());
  EXPECT_EQ(keys_.fetches(), 1);
}

TEST_F(ExternalTokenTest, KubernetesTokenMatchesNestedClaims) {
  auto token = verify(
      cluster_->mint(testing::kubernetes_claims(clock_.now(), kSigil, "payments", "ledger")));
  ASSERT_TRUE(token.has_value()) << token.error().reason << ": " << token.error().detail;
  EXPECT_EQ(token->rule().name, "ledger-pods");
  EXPECT_EQ(token->rule().service, "ledger");
  EXPECT_EQ(token->subject(), "system:serviceaccount:payments:ledger");
  EXPECT_EQ(token->claims().at("kubernetes.io/serviceaccount/name"),
            std::vector<std::string>{"ledger"});

  auto elsewhere =
      verify(cluster_->mint(testing::kubernetes_claims(clock_.now(), kSigil, "default", "ledger")));
  ASSERT_FALSE(elsewhere.has_value());
  EXPECT_EQ(elsewhere.error().reason, "no_rule_matched");
  EXPECT_NE(elsewhere.error().detail.find("default"), std::string::npos)
      << elsewhere.error().detail;
}

TEST_F(ExternalTokenTest, InlineKeysAndAUserRule) {
  auto token = verify(login_->mint(testing::id_token_claims(clock_.now(), kSigil, "alice")));
  ASSERT_TRUE(token.has_value()) << token.error().reason << ": " << token.error().detail;
  EXPECT_TRUE(token->rule().user);
  EXPECT_EQ(token->subject(), "alice");
  EXPECT_TRUE(token->jti().empty());
  EXPECT_EQ(keys_.fetches(), 0);  // inline keys need no key source
}

TEST_F(ExternalTokenTest, WrongRepositoryBranchOrEnvironmentMatchNoRule) {
  for (auto [claim, value] :
       {std::pair{"repository", "acme/other"}, std::pair{"repository", "evil/web"},
        std::pair{"ref", "refs/heads/feature"}, std::pair{"ref", "refs/pull/7/merge"},
        std::pair{"environment", "staging"}}) {
    SCOPED_TRACE(std::string(claim) + "=" + value);
    auto claims = github();
    claims[claim] = value;
    auto token = verify(github_->mint(claims));
    ASSERT_FALSE(token.has_value());
    EXPECT_EQ(token.error().reason, "no_rule_matched");
    EXPECT_NE(token.error().detail.find("deploy-main"), std::string::npos) << token.error().detail;
    // The client is not told which rule or claim.
    EXPECT_EQ(token.error().description.find("deploy-main"), std::string::npos);
  }
  auto claims = github();
  claims.erase("environment");
  expect_refused(github_->mint(claims), "no_rule_matched");
}

TEST_F(ExternalTokenTest, ClaimChecks) {
  auto wrong_audience = github();
  wrong_audience["aud"] = "https://someone-else.example.com";
  expect_refused(github_->mint(wrong_audience), "wrong_audience");

  auto audiences = github();
  audiences["aud"] = boost::json::array{"https://someone-else.example.com", kSigil};
  EXPECT_TRUE(verify(github_->mint(audiences)).has_value());

  auto expired = github();
  expired["exp"] = to_unix(clock_.now()) - 31;  // beyond the 30 s leeway
  expect_refused(github_->mint(expired), "expired");

  auto within_leeway = github();
  within_leeway["exp"] = to_unix(clock_.now()) - 10;
  EXPECT_TRUE(verify(github_->mint(within_leeway)).has_value());

  auto early = github();
  early["nbf"] = to_unix(clock_.now()) + 120;
  expect_refused(github_->mint(early), "not_yet_valid");

  auto future = github();
  future["iat"] = to_unix(clock_.now()) + 120;
  expect_refused(github_->mint(future), "issued_in_future");

  auto no_exp = github();
  no_exp.erase("exp");
  expect_refused(github_->mint(no_exp), "missing_claim");

  auto no_sub = github();
  no_sub.erase("sub");
  expect_refused(github_->mint(no_sub), "missing_claim");

  auto numeric_jti = github();
  numeric_jti["jti"] = 7;
  expect_refused(github_->mint(numeric_jti), "missing_claim");
}

TEST_F(ExternalTokenTest, SignatureAndKeyChecks) {
  // Signed by another key that claims the issuer's kid.
  auto impostor_key = jose::Jwk::generate(jose::Algorithm::kRS256);
  ASSERT_TRUE(impostor_key.has_value());
  auto der = impostor_key->private_pkcs8();
  ASSERT_TRUE(der.has_value());
  auto impostor =
      jose::Jwk::from_private_pkcs8(*der, jose::Algorithm::kRS256, github_->key().kid());
  ASSERT_TRUE(impostor.has_value());
  expect_refused(FakeIssuer::sign_with(*impostor, github()), "bad_signature");

  // A key the issuer never published: the source is asked again, once.
  const int refreshes = keys_.refreshes();
  expect_refused(FakeIssuer::sign_with(*impostor_key, github()), "unknown_key");
  EXPECT_EQ(keys_.refreshes(), refreshes + 1);

  // alg none and HMAC are never accepted, whatever the token says.
  boost::json::object none{{"alg", "none"}, {"typ", "JWT"}};
  expect_refused(FakeIssuer::unsigned_token(none, github(), ""), "algorithm_not_allowed");
  boost::json::object hs256{{"alg", "HS256"}, {"kid", github_->key().kid()}};
  expect_refused(FakeIssuer::unsigned_token(hs256, github(), std::string(32, 'x')),
                 "algorithm_not_allowed");
  // The issuer allows RS256 only: an ES256 token of a published key is refused too.
  FakeIssuer es256(kGitHubIssuer, jose::Algorithm::kES256);
  keys_.publish(kGitHubIssuer, es256.jwks());
  expect_refused(es256.mint(github()), "algorithm_not_allowed");
}

TEST_F(ExternalTokenTest, RotatedIssuerKeyIsFetchedOnItsFirstUse) {
  ASSERT_TRUE(verify(github_->mint(github())).has_value());  // the old set is cached
  FakeIssuer rotated(kGitHubIssuer, jose::Algorithm::kRS256);
  keys_.publish(kGitHubIssuer, rotated.jwks());
  auto token = verify(rotated.mint(github()));
  ASSERT_TRUE(token.has_value()) << token.error().reason;
  EXPECT_EQ(keys_.refreshes(), 1);
  EXPECT_EQ(keys_.fetches(), 2);
}

TEST_F(ExternalTokenTest, IssuerDownWithAndWithoutCachedKeys) {
  keys_.set_down(true);
  auto claims = github();
  auto refused = verify(github_->mint(claims));
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().error, OAuthError::kInvalidGrant);  // not server_error
  EXPECT_EQ(refused.error().reason, "issuer_unavailable");
  EXPECT_NE(refused.error().description.find("cannot be fetched now"), std::string::npos);
  EXPECT_NE(refused.error().detail.find(kGitHubIssuer), std::string::npos);
  // A refusal before the rule check does not use up the jti.
  keys_.set_down(false);
  EXPECT_TRUE(verify(github_->mint(claims)).has_value());

  // Fetched once: the last good set serves while the issuer is down.
  keys_.set_down(true);
  EXPECT_TRUE(verify(github_->mint(github())).has_value());
  // Another issuer whose keys were never fetched is refused cleanly.
  expect_refused(
      cluster_->mint(testing::kubernetes_claims(clock_.now(), kSigil, "payments", "ledger")),
      "issuer_unavailable");

  // No key source at all: the same clean refusal.
  context_.keys = nullptr;
  expect_refused(github_->mint(github()), "issuer_unavailable");
  // Inline keys do not need one.
  EXPECT_TRUE(verify(login_->mint(testing::id_token_claims(clock_.now(), kSigil, "bob"))));
}

TEST_F(ExternalTokenTest, InvalidInlineKeysAreRefused) {
  policy::Policy p;
  p.services = {service("web-deployer"), service("ledger")};
  p.issuers = {testing::login_issuer(kSigil, R"({"keys": "not a list"})")};
  compile(std::move(p));
  expect_refused(login_->mint(testing::id_token_claims(clock_.now(), kSigil, "alice")),
                 "issuer_keys_invalid");
}

TEST_F(ExternalTokenTest, ReplayedTokenIsRefusedUntilItExpires) {
  const std::string token = github_->mint(github());
  ASSERT_TRUE(verify(token).has_value());
  auto again = verify(token);
  ASSERT_FALSE(again.has_value());
  EXPECT_EQ(again.error().reason, "assertion_replayed");
  EXPECT_EQ(again.error().error, OAuthError::kInvalidGrant);

  // Another issuer may use the same jti.
  auto k8s = testing::kubernetes_claims(clock_.now(), kSigil, "payments", "ledger");
  auto gh = github();
  k8s["jti"] = gh.at("jti");
  EXPECT_TRUE(verify(github_->mint(gh)).has_value());
  EXPECT_TRUE(verify(cluster_->mint(k8s)).has_value());

  // Without a jti there is nothing to remember: the token may be presented again.
  const std::string id_token = login_->mint(testing::id_token_claims(clock_.now(), kSigil, "al"));
  EXPECT_TRUE(verify(id_token).has_value());
  EXPECT_TRUE(verify(id_token).has_value());

  // Without a replay cache nothing is accepted (fail closed).
  context_.replays = nullptr;
  expect_refused(github_->mint(github()), "assertion_replayed");
}

TEST_F(ExternalTokenTest, AnIssuerMarkedReuseMayPresentATokenAgain) {
  const std::string token =
      cluster_->mint(testing::kubernetes_claims(clock_.now(), kSigil, "payments", "ledger"));
  ASSERT_TRUE(verify(token).has_value());
  EXPECT_EQ(verify(token).error().reason, "assertion_replayed");

  policy::Policy p = policy_->policy();
  for (auto& issuer : p.issuers) issuer.reuse = issuer.name == "cluster";
  compile(std::move(p));
  ASSERT_TRUE(verify(token).has_value());
  EXPECT_TRUE(verify(token).has_value());
  // Only that issuer: GitHub tokens are still accepted once.
  const std::string job = github_->mint(github());
  ASSERT_TRUE(verify(job).has_value());
  EXPECT_EQ(verify(job).error().reason, "assertion_replayed");
}

TEST_F(ExternalTokenTest, MalformedAndUnknown) {
  expect_refused("", "malformed");
  expect_refused("abc", "malformed");
  expect_refused("a.b.c", "malformed");
  expect_refused(FakeIssuer::unsigned_token({{"alg", "RS256"}}, {{"iss", 42}}, "x"), "malformed");
  expect_refused(std::string(20000, 'a'), "too_large");

  auto stranger = github();
  stranger["iss"] = "https://token.actions.githubusercontent.com.evil.example";
  auto refused = verify(github_->mint(stranger));
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().reason, "unknown_issuer");
  EXPECT_EQ(refused.error().description.find("evil"), std::string::npos);
  // The issuer is matched exactly: a trailing slash is another issuer.
  stranger["iss"] = kGitHubIssuer + "/";
  expect_refused(github_->mint(stranger), "unknown_issuer");
}

TEST(FlattenClaims, NestedObjectsArraysAndScalars) {
  auto claims = boost::json::parse(R"({
    "sub": "system:serviceaccount:payments:ledger",
    "aud": ["https://sigil.test", "https://other"],
    "kubernetes.io": {"namespace": "payments", "serviceaccount": {"name": "ledger"}},
    "ref_protected": false, "run_attempt": 3, "ratio": 1.5,
    "mixed": ["a", 1, true, null, {"x": "y"}],
    "nothing": null,
    "a/b": "ambiguous", "outer": {"c/d": "ambiguous too", "e": "kept"}
  })")
                    .as_object();
  const policy::FlatClaims flat = flatten_claims(claims);
  EXPECT_EQ(flat.at("sub"), std::vector<std::string>{"system:serviceaccount:payments:ledger"});
  EXPECT_EQ(flat.at("aud"), (std::vector<std::string>{"https://sigil.test", "https://other"}));
  EXPECT_EQ(flat.at("kubernetes.io/namespace"), std::vector<std::string>{"payments"});
  EXPECT_EQ(flat.at("kubernetes.io/serviceaccount/name"), std::vector<std::string>{"ledger"});
  EXPECT_EQ(flat.at("ref_protected"), std::vector<std::string>{"false"});
  EXPECT_EQ(flat.at("run_attempt"), std::vector<std::string>{"3"});
  EXPECT_EQ(flat.count("ratio"), 1u);
  EXPECT_EQ(flat.at("mixed"), (std::vector<std::string>{"a", "1", "true"}));
  EXPECT_EQ(flat.count("nothing"), 0u);
  EXPECT_EQ(flat.count("a/b"), 0u);
  EXPECT_EQ(flat.count("outer/c/d"), 0u);
  EXPECT_EQ(flat.at("outer/e"), std::vector<std::string>{"kept"});
}

}  // namespace
}  // namespace sigil::oauth
