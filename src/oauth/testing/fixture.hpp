// A test fixture wiring the token service over MemoryStore and a FakeClock, with one
// signing key initialised. For the oauth unit tests only.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "base/clock.hpp"
#include "jose/jwt.hpp"
#include "oauth/client_registry.hpp"
#include "oauth/introspection.hpp"
#include "oauth/key_ring.hpp"
#include "oauth/revocation.hpp"
#include "oauth/settings.hpp"
#include "oauth/testing/memory_store.hpp"
#include "oauth/token_endpoint.hpp"

namespace sigil::oauth::testing {

inline const std::string kTestMasterKey(32, '\x5a');
inline const std::string kIssuer = "https://sigil.test";
inline const std::string kApi = "https://api.example.com";
inline const std::string kOther = "https://other.example.com";

inline TokenSettings test_settings() {
  TokenSettings s;
  s.issuer = kIssuer;
  return s;
}

class OAuthFixture : public ::testing::Test {
 protected:
  void SetUp() override { build(test_settings(), /*initialise=*/true); }

  void build(TokenSettings settings, bool initialise) {
    settings_ = std::move(settings);
    auto clients = ClientRegistry::load(store_);
    ASSERT_TRUE(clients.has_value());
    clients_ = std::move(*clients);
    auto keys = KeyRing::load(store_, kTestMasterKey, settings_);
    ASSERT_TRUE(keys.has_value()) << keys.error().message;
    keys_ = std::move(*keys);
    if (initialise) {
      auto first = keys_->initialise(settings_.signing_alg, clock_.now());
      ASSERT_TRUE(first.has_value()) << first.error().message;
    }
    auto revoked = RevocationList::load(store_, settings_.leeway, clock_.now());
    ASSERT_TRUE(revoked.has_value());
    revoked_ = std::move(*revoked);
    endpoint_ = std::make_unique<TokenEndpoint>(*clients_, *keys_);
    introspection_ = std::make_unique<Introspection>(*keys_, *revoked_, *clients_);
    revocation_ = std::make_unique<TokenRevocation>(*keys_, *revoked_);
  }

  // A client allowed scopes {read, write} and the given audiences.
  CreatedClient make_client(std::string id, std::vector<std::string> audiences = {kApi},
                            std::vector<std::string> auth_methods = {}) {
    NewClient n;
    n.id = std::move(id);
    n.name = "test client";
    n.attributes = {{"team", "payments"}, {"env", "test"}};
    n.allowed_scopes = {"write", "read"};
    n.allowed_audiences = std::move(audiences);
    n.auth_methods = std::move(auth_methods);
    auto created = clients_->create(std::move(n), clock_.now());
    EXPECT_TRUE(created.has_value()) << created.error().message;
    return std::move(*created);
  }

  static TokenRequest basic_request(const CreatedClient& c,
                                    std::vector<std::pair<std::string, std::string>> params) {
    TokenRequest r;
    r.params = std::move(params);
    r.credentials.basic = ClientCredentials{c.client.id, SecretString(c.secret.reveal())};
    return r;
  }

  static TokenRequest post_request(const CreatedClient& c,
                                   std::vector<std::pair<std::string, std::string>> params) {
    TokenRequest r;
    r.params = std::move(params);
    r.params.emplace_back("client_id", c.client.id);
    r.params.emplace_back("client_secret", c.secret.reveal());
    return r;
  }

  // Issues a client_credentials token for c with default scope and audience.
  TokenSuccess issue(const CreatedClient& c,
                     std::vector<std::pair<std::string, std::string>> extra = {}) {
    extra.emplace_back("grant_type", "client_credentials");
    auto outcome = endpoint_->handle(basic_request(c, std::move(extra)), clock_.now());
    EXPECT_TRUE(outcome.ok()) << (outcome.ok() ? "" : outcome.failure().denial.reason);
    return outcome.ok() ? outcome.success() : TokenSuccess{};
  }

  AuthenticatedClient authenticated(const CreatedClient& c) {
    auto a =
        clients_->authenticate(c.client.id, c.secret.reveal(), kClientSecretBasic, clock_.now());
    EXPECT_TRUE(a.has_value());
    return std::move(*a);
  }

  std::expected<jose::VerifiedJwt, jose::VerifyError> verify(const std::string& token) {
    jose::Expectations want;
    want.algorithms = {jose::Algorithm::kES256, jose::Algorithm::kEdDSA};
    want.issuer = kIssuer;
    want.typ = "at+jwt";
    return jose::verify_jwt(token, *keys_->jwks(clock_.now()), want, clock_.now());
  }

  MemoryStore store_;
  FakeClock clock_;
  TokenSettings settings_;
  std::unique_ptr<ClientRegistry> clients_;
  std::unique_ptr<KeyRing> keys_;
  std::unique_ptr<RevocationList> revoked_;
  std::unique_ptr<TokenEndpoint> endpoint_;
  std::unique_ptr<Introspection> introspection_;
  std::unique_ptr<TokenRevocation> revocation_;
};

}  // namespace sigil::oauth::testing
