#include "oauth/binding.hpp"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>

#include "jose/jwk.hpp"
#include "oauth/dpop.hpp"
#include "oauth/testing/dpop.hpp"

namespace sigil::oauth {
namespace {

namespace json = boost::json;

const TimePoint kNow = from_unix(1'700'000'000);
constexpr std::string_view kUrl = "https://api.example.com/orders";
constexpr std::string_view kToken = "header.claims.signature";
constexpr std::string_view kCertificate = "certificate DER";
constexpr std::string_view kOtherCertificate = "another certificate DER";

class BindingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto key = jose::Jwk::generate(jose::Algorithm::kES256);
    auto other = jose::Jwk::generate(jose::Algorithm::kES256);
    ASSERT_TRUE(key.has_value() && other.has_value());
    key_.emplace(std::move(*key));
    other_.emplace(std::move(*other));
  }

  // A proof for a GET of kUrl with "ath" of kToken, by `key`.
  std::string proof(const jose::Jwk& key, std::string jti = "proof-1",
                    std::string_view token = kToken) const {
    json::object claims = testing::dpop_claims(jti, kUrl, kNow, "GET");
    claims["ath"] = dpop_access_token_hash(token);
    return testing::sign_dpop_proof(key, testing::dpop_header(key), claims);
  }

  static json::object claims_with(json::value cnf) {
    return json::object{{"sub", "billing"}, {"cnf", std::move(cnf)}};
  }
  json::object certificate_bound() const {
    return claims_with(json::object{{"x5t#S256", certificate_thumbprint(kCertificate)}});
  }
  json::object dpop_bound() const { return claims_with(json::object{{"jkt", key_->thumbprint()}}); }

  static PresentedBinding presented(std::string_view certificate = {},
                                    std::optional<std::string_view> dpop = std::nullopt,
                                    bool dpop_scheme = false) {
    return PresentedBinding{.certificate_der = certificate,
                            .dpop_proof = dpop,
                            .method = "GET",
                            .url = kUrl,
                            .dpop_scheme = dpop_scheme};
  }

  std::expected<void, Denial> check(const json::object& claims, const PresentedBinding& p) {
    return check_token_binding(claims, kToken, p, kNow, replays_);
  }

  static void expect_refused(const std::expected<void, Denial>& result, std::string_view reason,
                             OAuthError error = OAuthError::kInvalidToken) {
    ASSERT_FALSE(result.has_value());
    EXPECT_EQ(result.error().reason, reason);
    EXPECT_EQ(result.error().error, error);
    EXPECT_FALSE(result.error().description.empty());
  }

  std::optional<jose::Jwk> key_;
  std::optional<jose::Jwk> other_;
  ReplayCache replays_;
};

TEST_F(BindingTest, ThumbprintIsBase64urlSha256OfTheDer) {
  // SHA-256("abc"), FIPS 180-2 appendix B.1.
  EXPECT_EQ(certificate_thumbprint("abc"), "ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0");
  EXPECT_EQ(certificate_thumbprint(kCertificate).size(), 43u);
}

TEST_F(BindingTest, BearerTokenNeedsNothing) {
  const json::object claims{{"sub", "billing"}};
  EXPECT_TRUE(check(claims, presented()).has_value());
  EXPECT_TRUE(check(claims, presented(kCertificate)).has_value());
  // A proof sent along with a bearer token is not looked at.
  EXPECT_TRUE(check(claims, presented({}, std::string_view("not a proof"))).has_value());
}

TEST_F(BindingTest, BearerTokenWithTheDpopSchemeIsRefused) {
  const std::string p = proof(*key_);
  expect_refused(check(json::object{{"sub", "billing"}}, presented({}, p, true)), "not_dpop_bound");
}

TEST_F(BindingTest, CertificateBoundTokenWithItsCertificate) {
  EXPECT_TRUE(check(certificate_bound(), presented(kCertificate)).has_value());
}

TEST_F(BindingTest, CertificateBoundTokenWithoutACertificateIsRefused) {
  expect_refused(check(certificate_bound(), presented()), "certificate_required");
}

TEST_F(BindingTest, CertificateBoundTokenWithAnotherCertificateIsRefused) {
  expect_refused(check(certificate_bound(), presented(kOtherCertificate)), "certificate_mismatch");
}

TEST_F(BindingTest, CertificateBoundTokenWithTheDpopSchemeIsRefused) {
  const std::string p = proof(*key_);
  expect_refused(check(certificate_bound(), presented(kCertificate, p, true)), "not_dpop_bound");
}

TEST_F(BindingTest, DpopBoundTokenWithAProofByItsKey) {
  const std::string p = proof(*key_);
  EXPECT_TRUE(check(dpop_bound(), presented({}, p, true)).has_value());
}

TEST_F(BindingTest, DpopBoundTokenWithoutAProofIsRefused) {
  expect_refused(check(dpop_bound(), presented({}, std::nullopt, true)), "dpop_proof_required");
  expect_refused(check(dpop_bound(), presented()), "dpop_proof_required");
}

TEST_F(BindingTest, DpopBoundTokenWithTheBearerSchemeIsRefused) {
  const std::string p = proof(*key_);
  expect_refused(check(dpop_bound(), presented({}, p, false)), "dpop_scheme_required");
}

TEST_F(BindingTest, DpopBoundTokenWithAProofByAnotherKeyIsRefused) {
  const std::string p = proof(*other_);
  expect_refused(check(dpop_bound(), presented({}, p, true)), "dpop_key_mismatch");
}

TEST_F(BindingTest, ProofForAnotherTokenIsRefused) {
  const std::string p = proof(*key_, "proof-1", "another.access.token");
  expect_refused(check(dpop_bound(), presented({}, p, true)), "dpop_wrong_ath",
                 OAuthError::kInvalidDpopProof);
}

TEST_F(BindingTest, ProofForAnotherRequestIsRefused) {
  const std::string p = proof(*key_);
  PresentedBinding post = presented({}, p, true);
  post.method = "POST";
  expect_refused(check(dpop_bound(), post), "dpop_wrong_htm", OAuthError::kInvalidDpopProof);
}

TEST_F(BindingTest, ReplayedProofIsRefused) {
  const std::string p = proof(*key_);
  ASSERT_TRUE(check(dpop_bound(), presented({}, p, true)).has_value());
  expect_refused(check(dpop_bound(), presented({}, p, true)), "dpop_replayed",
                 OAuthError::kInvalidDpopProof);
}

TEST_F(BindingTest, MalformedProofIsRefused) {
  expect_refused(check(dpop_bound(), presented({}, std::string_view("garbage"), true)),
                 "dpop_malformed", OAuthError::kInvalidDpopProof);
}

TEST_F(BindingTest, TokenBoundToBothNeedsBoth) {
  json::object claims = claims_with(json::object{{"x5t#S256", certificate_thumbprint(kCertificate)},
                                                 {"jkt", key_->thumbprint()}});
  const std::string first = proof(*key_, "proof-1");
  EXPECT_TRUE(check(claims, presented(kCertificate, first, true)).has_value());
  const std::string second = proof(*key_, "proof-2");
  expect_refused(check(claims, presented({}, second, true)), "certificate_required");
  expect_refused(check(claims, presented(kCertificate, std::nullopt, true)), "dpop_proof_required");
}

TEST_F(BindingTest, MalformedCnfIsRefused) {
  const std::string p = proof(*key_);
  const std::vector<json::value> bad = {
      json::value("x5t"),
      json::object{},
      json::object{{"x5t#S256", 5}},
      json::object{{"x5t#S256", ""}},
      json::object{{"jkt", json::array{"a"}}},
      json::object{{"jwk", json::object{{"kty", "EC"}}}},
      json::object{{"x5t#S256", certificate_thumbprint(kCertificate)}, {"kid", "k1"}},
  };
  for (const auto& cnf : bad) {
    SCOPED_TRACE(json::serialize(cnf));
    expect_refused(check(claims_with(cnf), presented(kCertificate, p, true)), "malformed_cnf");
  }
}

}  // namespace
}  // namespace sigil::oauth
