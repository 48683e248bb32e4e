#include "oauth/dpop.hpp"

#include <gtest/gtest.h>

#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

#include "base/base64url.hpp"
#include "jose/jwk.hpp"
#include "oauth/testing/dpop.hpp"

namespace sigil::oauth {
namespace {

namespace json = boost::json;

const TimePoint kNow = from_unix(1'700'000'000);
constexpr std::string_view kHtu = "https://sigil.example/oauth2/token";

class DpopTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto key = jose::Jwk::generate(jose::Algorithm::kES256);
    ASSERT_TRUE(key.has_value());
    key_.emplace(std::move(*key));
  }

  json::object header() const { return testing::dpop_header(*key_); }

  json::object claims(std::string jti = "proof-1") const {
    return testing::dpop_claims(jti, kHtu, kNow);
  }

  std::string sign(const json::object& h, const json::object& c) const {
    return testing::sign_dpop_proof(*key_, h, c);
  }

  std::string proof() const { return sign(header(), claims()); }

  std::expected<std::string, Denial> verify(
      const std::string& p, std::string_view method = "POST", std::string_view htu = kHtu,
      TimePoint now = kNow, std::optional<std::string_view> access_token = std::nullopt) {
    return verify_dpop_proof(p, method, htu, now, replays_, Seconds{30}, Seconds{300},
                             access_token);
  }

  void expect_refused(const std::expected<std::string, Denial>& result, std::string_view reason) {
    ASSERT_FALSE(result.has_value());
    EXPECT_EQ(result.error().error, OAuthError::kInvalidDpopProof);
    EXPECT_EQ(to_string(result.error().error), "invalid_dpop_proof");
    EXPECT_EQ(result.error().reason, reason);
    EXPECT_FALSE(result.error().description.empty());
  }

  std::optional<jose::Jwk> key_;
  ReplayCache replays_;
};

TEST_F(DpopTest, ValidProofReturnsTheKeysThumbprint) {
  auto jkt = verify(proof());
  ASSERT_TRUE(jkt.has_value()) << jkt.error().reason;
  EXPECT_EQ(*jkt, key_->thumbprint());
}

TEST_F(DpopTest, HtuIsComparedAfterNormalisation) {
  auto c = claims();
  c["htu"] = "HTTPS://Sigil.Example:443/oauth2/./token";
  EXPECT_TRUE(verify(sign(header(), c)).has_value());
  // Query and fragment of the request are ignored.
  c["jti"] = "proof-2";
  EXPECT_TRUE(verify(sign(header(), c), "POST", std::string(kHtu) + "?a=b#c").has_value());
}

TEST_F(DpopTest, AKidInTheHeaderNamesTheJwk) {
  auto h = header();
  h["kid"] = "device-key-1";
  auto jkt = verify(sign(h, claims()));
  ASSERT_TRUE(jkt.has_value()) << jkt.error().reason;
  EXPECT_EQ(*jkt, key_->thumbprint());
}

TEST_F(DpopTest, WrongTypeIsRefused) {
  auto h = header();
  h["typ"] = "JWT";
  expect_refused(verify(sign(h, claims())), "dpop_wrong_type");
  h.erase("typ");
  expect_refused(verify(sign(h, claims())), "dpop_wrong_type");
}

TEST_F(DpopTest, AlgNoneIsRefused) {
  auto h = header();
  h["alg"] = "none";
  const std::string input =
      base64url_encode(json::serialize(h)) + "." + base64url_encode(json::serialize(claims()));
  expect_refused(verify(input + "."), "dpop_bad_alg");
}

TEST_F(DpopTest, Hs256IsRefused) {
  auto h = header();
  h["alg"] = "HS256";
  expect_refused(verify(sign(h, claims())), "dpop_bad_alg");
}

TEST_F(DpopTest, PrivateJwkIsRefused) {
  auto h = header();
  h["jwk"].as_object()["d"] = "c2VjcmV0";
  expect_refused(verify(sign(h, claims())), "dpop_private_jwk");
}

TEST_F(DpopTest, MissingJwkIsRefused) {
  auto h = header();
  h.erase("jwk");
  expect_refused(verify(sign(h, claims())), "dpop_bad_jwk");
}

TEST_F(DpopTest, BadSignatureIsRefused) {
  // Signed by another key than the one in the header.
  auto other = jose::Jwk::generate(jose::Algorithm::kES256);
  ASSERT_TRUE(other.has_value());
  auto h = header();
  json::object jwk = other->public_json();
  jwk.erase("kid");
  h["jwk"] = jwk;
  expect_refused(verify(sign(h, claims())), "dpop_bad_signature");
}

TEST_F(DpopTest, MalformedProofIsRefused) {
  expect_refused(verify("not-a-jwt"), "dpop_malformed");
  expect_refused(verify(proof() + ".extra"), "dpop_malformed");
}

TEST_F(DpopTest, WrongMethodIsRefused) {
  expect_refused(verify(proof(), "GET"), "dpop_wrong_htm");
}

TEST_F(DpopTest, WrongUrlIsRefused) {
  expect_refused(verify(proof(), "POST", "https://sigil.example/oauth2/introspect"),
                 "dpop_wrong_htu");
  expect_refused(verify(proof(), "POST", "https://other.example/oauth2/token"), "dpop_wrong_htu");
  expect_refused(verify(proof(), "POST", "http://sigil.example/oauth2/token"), "dpop_wrong_htu");
}

TEST_F(DpopTest, MissingClaimIsRefused) {
  for (const char* name : {"jti", "htm", "htu", "iat"}) {
    auto c = claims();
    c.erase(name);
    expect_refused(verify(sign(header(), c)), "dpop_missing_claim");
  }
}

TEST_F(DpopTest, StaleIatIsRefused) {
  // max_age 300 s plus 30 s leeway.
  expect_refused(verify(proof(), "POST", kHtu, kNow + Seconds{331}), "dpop_stale");
  EXPECT_TRUE(verify(proof(), "POST", kHtu, kNow + Seconds{330}).has_value());
}

TEST_F(DpopTest, FutureIatIsRefused) {
  expect_refused(verify(proof(), "POST", kHtu, kNow - Seconds{31}), "dpop_iat_in_future");
  EXPECT_TRUE(verify(proof(), "POST", kHtu, kNow - Seconds{30}).has_value());
}

TEST_F(DpopTest, ReplayedJtiIsRefused) {
  const std::string p = proof();
  EXPECT_TRUE(verify(p).has_value());
  expect_refused(verify(p, "POST", kHtu, kNow + Seconds{1}), "dpop_replayed");
  // A refused proof is not spent: the same jti still works once all else is right.
  auto c = claims("proof-9");
  expect_refused(verify(sign(header(), c), "GET"), "dpop_wrong_htm");
  EXPECT_TRUE(verify(sign(header(), c)).has_value());
}

TEST_F(DpopTest, AthIsCheckedWithAnAccessToken) {
  const std::string token = "eyJhbGciOiJFUzI1NiJ9.e30.sig";
  auto c = claims();
  c["ath"] = dpop_access_token_hash(token);
  EXPECT_TRUE(verify(sign(header(), c), "POST", kHtu, kNow, token).has_value());
  c["jti"] = "proof-2";
  expect_refused(verify(sign(header(), c), "POST", kHtu, kNow, "another-token"), "dpop_wrong_ath");
  c["jti"] = "proof-3";
  c.erase("ath");
  expect_refused(verify(sign(header(), c), "POST", kHtu, kNow, token), "dpop_wrong_ath");
}

TEST(DpopAccessTokenHash, IsBase64urlSha256) {
  // RFC 9449 §7.1's example token and ath.
  EXPECT_EQ(dpop_access_token_hash("Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU"),
            "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo");
}

}  // namespace
}  // namespace sigil::oauth
