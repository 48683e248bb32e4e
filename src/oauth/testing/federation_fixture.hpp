// A token endpoint with a policy that trusts three external issuers (GitHub Actions, a
// Kubernetes cluster, the company's identity provider), and the services, audiences and
// grants of a small shop: for the JWT bearer and token exchange grant tests.
#pragma once

#include <gtest/gtest.h>

#include <boost/json/object.hpp>

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "oauth/client_authentication.hpp"
#include "oauth/replay_cache.hpp"
#include "oauth/testing/federation.hpp"
#include "oauth/testing/fixture.hpp"
#include "oauth/token_endpoint.hpp"
#include "policy/engine.hpp"
#include "policy/policy.hpp"

namespace sigil::oauth::testing {

inline const std::string kDeploy = "https://deploy.example.com";
inline const std::string kPayments = "https://payments.example.com";
inline const std::string kCheckout = "https://checkout.example.com";
inline const std::string kInventory = "https://inventory.example.com";

inline constexpr std::string_view kTypeJwt = "urn:ietf:params:oauth:token-type:jwt";
inline constexpr std::string_view kTypeIdToken = "urn:ietf:params:oauth:token-type:id_token";
inline constexpr std::string_view kTypeAccessToken =
    "urn:ietf:params:oauth:token-type:access_token";

class FederationFixture : public OAuthFixture {
 protected:
  using Params = std::vector<std::pair<std::string, std::string>>;

  static void SetUpTestSuite() {
    github_ = new FakeIssuer(kGitHubIssuer, jose::Algorithm::kRS256);
    cluster_ = new FakeIssuer(kClusterIssuer, jose::Algorithm::kES256);
    login_ = new FakeIssuer(kLoginIssuer, jose::Algorithm::kES256);
  }
  static void TearDownTestSuite() {
    delete github_;
    delete cluster_;
    delete login_;
    github_ = cluster_ = login_ = nullptr;
  }

  void SetUp() override {
    OAuthFixture::SetUp();
    key_source_.publish(kGitHubIssuer, github_->jwks());
    key_source_.publish(kClusterJwksUri, cluster_->jwks());
    assertions_.keys = &key_source_;
    assertions_.replays = &replays_;
    assertions_.audiences = {kIssuer, kIssuer + "/oauth2/token"};
    endpoint_ =
        std::make_unique<TokenEndpoint>(*clients_, *keys_, &holder_, &assertions_, revoked_.get());
    introspection_ = std::make_unique<Introspection>(*keys_, *revoked_, *clients_);
    enforce(shop());
    for (const char* name : {"web-deployer", "ledger", "frontend", "checkout", "support"}) {
      service_clients_.emplace(name, service_client(name));
    }
  }

  // web-deployer deploys; ledger charges payments; frontend calls checkout-api for users,
  // checkout calls inventory; support may act as a user at checkout-api (impersonation).
  policy::Policy shop() {
    policy::Policy p;
    for (const char* name : {"web-deployer", "ledger", "frontend", "checkout", "support"}) {
      policy::Service s;
      s.name = name;
      s.attributes = {{"environment", "production"}};
      p.services.push_back(std::move(s));
    }
    auto audience = [](std::string name, std::string uri, std::vector<std::string> scopes) {
      policy::Audience a;
      a.name = std::move(name);
      a.uri = std::move(uri);
      a.scopes = std::move(scopes);
      a.attributes = {{"environment", "production"}};
      return a;
    };
    p.audiences = {
        audience("deploy", kDeploy, {"deploy:read", "deploy:write"}),
        audience("payments", kPayments, {"payments:charge", "payments:refund"}),
        audience("checkout-api", kCheckout, {"inventory:read", "orders:read", "orders:write"}),
        audience("inventory", kInventory, {"inventory:read", "inventory:write"})};
    auto grant = [](std::string caller, std::string audience, std::vector<std::string> scopes) {
      policy::GrantRule g;
      g.name = caller + "->" + audience;
      g.caller.name = std::move(caller);
      g.audience.name = std::move(audience);
      g.scopes = std::move(scopes);
      return g;
    };
    p.grants = {
        grant("web-deployer", "deploy", {"deploy:read", "deploy:write"}),
        grant("ledger", "payments", {"payments:charge"}),
        grant("frontend", "checkout-api", {"inventory:read", "orders:read", "orders:write"}),
        grant("checkout", "inventory", {"inventory:read", "inventory:write"}),
        grant("support", "checkout-api", {"orders:read"})};
    p.grants.back().impersonation = true;
    p.issuers = {github_issuer(kIssuer), cluster_issuer(kIssuer),
                 login_issuer(kIssuer, login_->jwks_json())};
    return p;
  }

  void enforce(policy::Policy p) {
    auto compiled = policy::CompiledPolicy::compile(std::move(p));
    ASSERT_TRUE(compiled.has_value()) << compiled.error().message;
    holder_.set(std::move(*compiled));
  }

  // A service's client, with bounds wide enough that the policy decides.
  CreatedClient service_client(std::string id) {
    NewClient n;
    n.id = std::move(id);
    n.attributes = {{"team", "shop"}};
    n.allowed_scopes = {"deploy:read", "deploy:write", "inventory:read",  "inventory:write",
                        "orders:read", "orders:write", "payments:charge", "payments:refund"};
    n.allowed_audiences = {kDeploy, kPayments, kCheckout, kInventory};
    auto created = clients_->create(std::move(n), clock_.now());
    EXPECT_TRUE(created.has_value()) << created.error().message;
    return std::move(*created);
  }
  const CreatedClient& client(const std::string& id) const { return service_clients_.at(id); }

  // A request with the given parameters, from `c` (client_secret_basic) or from nobody.
  TokenOutcome post(Params params, const CreatedClient* c = nullptr) {
    TokenRequest r;
    if (c != nullptr) {
      r = basic_request(*c, std::move(params));
    } else {
      r.params = std::move(params);
    }
    r.source_address = "10.1.2.3";
    return endpoint_->handle(r, clock_.now());
  }

  TokenOutcome bearer(const std::string& assertion, Params extra = {},
                      const CreatedClient* c = nullptr) {
    extra.emplace_back("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer");
    extra.emplace_back("assertion", assertion);
    return post(std::move(extra), c);
  }

  TokenOutcome exchange(const std::string& subject_token, std::string_view subject_type,
                        Params extra = {}, const CreatedClient* c = nullptr) {
    extra.emplace_back("grant_type", "urn:ietf:params:oauth:grant-type:token-exchange");
    extra.emplace_back("subject_token", subject_token);
    extra.emplace_back("subject_token_type", std::string(subject_type));
    return post(std::move(extra), c);
  }

  static const TokenSuccess& ok(const TokenOutcome& outcome) {
    static const TokenSuccess none;
    EXPECT_TRUE(outcome.ok()) << (outcome.ok() ? std::string()
                                               : outcome.failure().denial.reason + ": " +
                                                     outcome.failure().denial.description + " (" +
                                                     outcome.failure().detail + ")");
    return outcome.ok() ? outcome.success() : none;
  }

  static void expect_denied(const TokenOutcome& outcome, OAuthError error,
                            std::string_view reason) {
    ASSERT_FALSE(outcome.ok()) << "granted, expected " << reason;
    EXPECT_EQ(outcome.failure().denial.error, error) << outcome.failure().denial.reason;
    EXPECT_EQ(outcome.failure().denial.reason, reason) << outcome.failure().denial.description;
    EXPECT_FALSE(outcome.failure().denial.description.empty());
  }

  // The verified claims of one of our tokens.
  boost::json::object claims_of(const std::string& token) {
    auto jwt = verify(token);
    EXPECT_TRUE(jwt.has_value()) << (jwt ? "" : jose::to_string(jwt.error().reason));
    return jwt ? jwt->claims() : boost::json::object{};
  }

  boost::json::object github() { return github_claims(clock_.now(), kIssuer); }
  boost::json::object kubernetes(const std::string& ns, const std::string& name) {
    return kubernetes_claims(clock_.now(), kIssuer, ns, name);
  }
  std::string id_token(const std::string& sub) {
    return login_->mint(id_token_claims(clock_.now(), kIssuer, sub));
  }

  static inline FakeIssuer* github_ = nullptr;
  static inline FakeIssuer* cluster_ = nullptr;
  static inline FakeIssuer* login_ = nullptr;
  FakeKeySource key_source_;
  ReplayCache replays_;
  AssertionContext assertions_;
  policy::PolicyHolder holder_;
  std::map<std::string, CreatedClient> service_clients_;
};

}  // namespace sigil::oauth::testing
