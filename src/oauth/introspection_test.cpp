#include "oauth/introspection.hpp"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>

#include "base/base64url.hpp"
#include "oauth/testing/fixture.hpp"

namespace sigil::oauth {
namespace {

using testing::kApi;
using testing::kIssuer;
using testing::kOther;

class IntrospectionTest : public testing::OAuthFixture {
 protected:
  void SetUp() override {
    OAuthFixture::SetUp();
    caller_ = std::make_unique<CreatedClient>(make_client("resource-server"));
  }

  IntrospectionResult introspect(std::string_view token) {
    return introspection_->introspect(token, authenticated(*caller_), clock_.now());
  }

  // The payload of one of our tokens, signed by `key` instead of the ring.
  static std::string resign(const std::string& token, jose::Jwk key) {
    const auto first = token.find('.');
    const auto second = token.find('.', first + 1);
    auto payload = base64url_decode(token.substr(first + 1, second - first - 1));
    auto signer = jose::Signer::create(std::move(key), "at+jwt");
    EXPECT_TRUE(signer.has_value());
    auto forged = signer->sign(*payload);
    EXPECT_TRUE(forged.has_value());
    return *forged;
  }

  std::unique_ptr<CreatedClient> caller_;
};

TEST_F(IntrospectionTest, ActiveTokenReportsItsClaims) {
  auto c = make_client("billing", {kApi, kOther});
  auto token = issue(c, {{"resource", kApi}, {"resource", kOther}, {"scope", "read"}});
  const std::int64_t now = to_unix(clock_.now());
  auto r = introspect(token.access_token);
  ASSERT_TRUE(r.active) << r.reason_if_inactive;
  EXPECT_EQ(r.reason_if_inactive, "");
  EXPECT_EQ(r.claims.scope, "read");
  EXPECT_EQ(r.claims.client_id, "billing");
  EXPECT_EQ(r.claims.sub, "billing");
  EXPECT_EQ(r.claims.aud, (std::vector<std::string>{kApi, kOther}));
  EXPECT_EQ(r.claims.iss, kIssuer);
  EXPECT_EQ(r.claims.exp, now + 300);
  EXPECT_EQ(r.claims.iat, now);
  EXPECT_EQ(r.claims.nbf, now);
  EXPECT_EQ(r.claims.jti, token.jti);
  EXPECT_EQ(r.claims.token_type, "Bearer");

  auto body = boost::json::parse(to_json(r)).as_object();
  EXPECT_EQ(body.size(), 11u);
  EXPECT_EQ(body.at("active").as_bool(), true);
  EXPECT_EQ(body.at("scope").as_string(), "read");
  EXPECT_EQ(body.at("client_id").as_string(), "billing");
  EXPECT_EQ(body.at("token_type").as_string(), "Bearer");
  EXPECT_EQ(body.at("exp").as_int64(), now + 300);
  EXPECT_EQ(body.at("iat").as_int64(), now);
  EXPECT_EQ(body.at("nbf").as_int64(), now);
  EXPECT_EQ(body.at("sub").as_string(), "billing");
  EXPECT_EQ(body.at("aud").as_array().size(), 2u);
  EXPECT_EQ(body.at("iss").as_string(), kIssuer);
  EXPECT_EQ(body.at("jti").as_string(), token.jti);

  auto single = introspect(issue(c, {{"resource", kApi}}).access_token);
  ASSERT_TRUE(single.active);
  EXPECT_EQ(boost::json::parse(to_json(single)).as_object().at("aud").as_string(), kApi);
}

TEST_F(IntrospectionTest, ExpiredTokenIsInactive) {
  auto token = issue(make_client("billing")).access_token;
  clock_.advance(Seconds{300 + 30 - 1});
  EXPECT_TRUE(introspect(token).active);
  clock_.advance(Seconds{1});
  auto r = introspect(token);
  EXPECT_FALSE(r.active);
  EXPECT_EQ(r.reason_if_inactive, "expired");
  EXPECT_EQ(to_json(r), "{\"active\":false}");
}

TEST_F(IntrospectionTest, RevokedTokenIsInactive) {
  auto c = make_client("billing");
  auto token = issue(c);
  ASSERT_TRUE(revoked_->revoke(token.jti, token.exp, clock_.now()).has_value());
  auto r = introspect(token.access_token);
  EXPECT_FALSE(r.active);
  EXPECT_EQ(r.reason_if_inactive, "revoked");
  EXPECT_TRUE(introspect(issue(c).access_token).active);
}

TEST_F(IntrospectionTest, MalformedAndForgedTokensAreInactive) {
  auto token = issue(make_client("billing")).access_token;
  EXPECT_EQ(introspect("").reason_if_inactive, "malformed");
  EXPECT_EQ(introspect("abc").reason_if_inactive, "malformed");
  EXPECT_EQ(introspect("a.b.c").reason_if_inactive, "malformed");

  // Same kid, another key.
  const std::string kid = (*keys_->signer(clock_.now()))->key().kid();
  auto other = jose::Jwk::generate(jose::Algorithm::kES256);
  ASSERT_TRUE(other.has_value());
  auto der = other->private_pkcs8();
  ASSERT_TRUE(der.has_value());
  auto impostor = jose::Jwk::from_private_pkcs8(*der, jose::Algorithm::kES256, kid);
  ASSERT_TRUE(impostor.has_value());
  auto forged = introspect(resign(token, *impostor));
  EXPECT_FALSE(forged.active);
  EXPECT_EQ(forged.reason_if_inactive, "bad_signature");

  // A key the ring does not know.
  auto unknown = introspect(resign(token, *other));
  EXPECT_FALSE(unknown.active);
  EXPECT_EQ(unknown.reason_if_inactive, "unknown_key");

  // A flipped signature byte.
  std::string tampered = token;
  tampered.back() = tampered.back() == 'A' ? 'B' : 'A';
  EXPECT_FALSE(introspect(tampered).active);
}

TEST_F(IntrospectionTest, TokenOfAnotherIssuerIsInactive) {
  // Same keys, another issuer name: as if a second installation shared the key store.
  auto other_settings = testing::test_settings();
  other_settings.issuer = "https://elsewhere.test";
  auto other_ring = KeyRing::load(store_, testing::kTestMasterKey, other_settings);
  ASSERT_TRUE(other_ring.has_value());
  TokenEndpoint other_endpoint(*clients_, **other_ring);
  auto c = make_client("billing");
  auto outcome =
      other_endpoint.handle(basic_request(c, {{"grant_type", "client_credentials"}}), clock_.now());
  ASSERT_TRUE(outcome.ok());
  auto r = introspect(outcome.success().access_token);
  EXPECT_FALSE(r.active);
  EXPECT_EQ(r.reason_if_inactive, "wrong_issuer");
}

TEST_F(IntrospectionTest, DisabledClientsTokensStopAtOnce) {
  auto c = make_client("billing");
  auto token = issue(c).access_token;
  ASSERT_TRUE(clients_->set_status("billing", ClientStatus::kDisabled, clock_.now()));
  auto r = introspect(token);
  EXPECT_FALSE(r.active);
  EXPECT_EQ(r.reason_if_inactive, "client_disabled");
  ASSERT_TRUE(clients_->set_status("billing", ClientStatus::kActive, clock_.now()));
  EXPECT_TRUE(introspect(token).active);
}

TEST_F(IntrospectionTest, TokensOfARetiredKeyStayActiveUntilTheyExpire) {
  auto c = make_client("billing");
  const std::string old_kid = (*keys_->signer(clock_.now()))->key().kid();
  auto rotated = keys_->rotate(clock_.now());
  ASSERT_TRUE(rotated.has_value());
  // Just before the switch the old key still signs.
  clock_.advance(Seconds{299});
  auto old_token = issue(c);
  ASSERT_EQ(verify(old_token.access_token)->kid(), old_kid);
  clock_.advance(Seconds{1});
  auto new_token = issue(c);
  ASSERT_EQ(verify(new_token.access_token)->kid(), rotated->kid);
  EXPECT_TRUE(introspect(old_token.access_token).active);
  EXPECT_TRUE(introspect(new_token.access_token).active);
  clock_.advance(Seconds{298 + 30});
  EXPECT_TRUE(introspect(old_token.access_token).active);
  clock_.advance(Seconds{1});
  EXPECT_EQ(introspect(old_token.access_token).reason_if_inactive, "expired");
  EXPECT_TRUE(introspect(issue(c).access_token).active);
}

}  // namespace
}  // namespace sigil::oauth
