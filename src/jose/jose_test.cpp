#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <cstdio>
#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <thread>

#include "base/base64url.hpp"
#include "base/testing/test_data.hpp"
#include "crypto/key.hpp"
#include "jose/jws.hpp"
#include "jose/jwt.hpp"

namespace sigil::jose {
namespace {

namespace json = boost::json;

const std::vector<Algorithm> kAll = {Algorithm::kES256, Algorithm::kES384, Algorithm::kEdDSA,
                                     Algorithm::kRS256, Algorithm::kPS256};

json::object load(const std::string& relative) {
  return testing::load_test_json(relative);
}

std::string str(const json::value& v) {
  return std::string(v.as_string());
}

JwkSet set_of(const Jwk& key) {
  return JwkSet({key.public_key()});
}

// ---------------------------------------------------------------- RFC examples

TEST(Rfc7515, A2Rs256ResignReproducesAndVerifies) {
  json::object v = load("jose/rfc7515_a2_rs256.json");
  auto key = Jwk::from_json(v["jwk"].as_object(), Algorithm::kRS256);
  ASSERT_TRUE(key.has_value()) << key.error().message;
  EXPECT_TRUE(key->is_private());
  auto sig = key->key().sign(crypto::SignatureScheme::kRsaPkcs1Sha256, str(v["signing_input"]));
  ASSERT_TRUE(sig.has_value());
  EXPECT_EQ(base64url_encode(*sig), str(v["signature_b64u"]));

  auto pub = Jwk::from_json(v["jwk_public"].as_object(), Algorithm::kRS256);
  ASSERT_TRUE(pub.has_value());
  auto jws = verify_jws(str(v["compact"]), JwkSet({*pub}), {Algorithm::kRS256});
  ASSERT_TRUE(jws.has_value()) << jws.error().detail;
  EXPECT_EQ(jws->payload(), str(v["payload"]));
  EXPECT_EQ(jws->alg(), Algorithm::kRS256);
  // The same key and token, but PS256 is what the caller allows: refused.
  EXPECT_EQ(verify_jws(str(v["compact"]), JwkSet({*pub}), {Algorithm::kPS256}).error().reason,
            Reason::kAlgorithmNotAllowed);
}

TEST(Rfc7515, A3Es256Verifies) {
  json::object v = load("jose/rfc7515_a3_es256.json");
  auto pub = Jwk::from_json(v["jwk_public"].as_object());
  ASSERT_TRUE(pub.has_value()) << pub.error().message;
  EXPECT_EQ(pub->alg(), Algorithm::kES256);
  auto jws = verify_jws(str(v["compact"]), JwkSet({*pub}), {Algorithm::kES256});
  ASSERT_TRUE(jws.has_value()) << jws.error().detail;
  EXPECT_EQ(jws->payload(), str(v["payload"]));
  auto priv = Jwk::from_json(v["jwk"].as_object());
  ASSERT_TRUE(priv.has_value());
  EXPECT_EQ(priv->thumbprint(), pub->thumbprint());
}

TEST(Rfc7515, A1Hs256IsRefused) {
  json::object v = load("jose/rfc7515_a1_hs256.json");
  EXPECT_FALSE(Jwk::from_json(v["jwk"].as_object()).has_value());
  auto any = Jwk::generate(Algorithm::kES256).value();
  EXPECT_EQ(verify_jws(str(v["compact"]), set_of(any), kAll).error().reason,
            Reason::kAlgorithmNotAllowed);
}

TEST(Rfc8037, Ed25519SignThumbprintVerify) {
  json::object v = load("jose/rfc8037_a_ed25519.json");
  auto key = Jwk::from_json(v["a1_private_jwk"].as_object());
  ASSERT_TRUE(key.has_value()) << key.error().message;
  EXPECT_EQ(key->alg(), Algorithm::kEdDSA);
  EXPECT_EQ(key->thumbprint(), str(v["a3_thumbprint"].as_object()["thumbprint_b64u"]));
  EXPECT_EQ(key->kid(), key->thumbprint());
  json::object& a4 = v["a4_sign"].as_object();
  auto sig = key->key().sign(crypto::SignatureScheme::kEd25519, str(a4["signing_input"]));
  ASSERT_TRUE(sig.has_value());
  EXPECT_EQ(base64url_encode(*sig), str(a4["signature_b64u"]));

  auto pub = Jwk::from_json(v["a2_public_jwk"].as_object());
  ASSERT_TRUE(pub.has_value());
  json::object& a5 = v["a5_verify"].as_object();
  auto jws = verify_jws(str(a5["compact"]), JwkSet({*pub}), {Algorithm::kEdDSA});
  ASSERT_TRUE(jws.has_value()) << jws.error().detail;
  EXPECT_EQ(jws->payload(), str(a5["expected"].as_object()["payload"]));
}

TEST(Rfc7638, Thumbprint) {
  json::object v = load("jose/rfc7638_s3_1_thumbprint.json");
  auto key = Jwk::from_json(v["jwk"].as_object());
  ASSERT_TRUE(key.has_value()) << key.error().message;
  EXPECT_EQ(key->thumbprint(), str(v["thumbprint_b64u"]));
  EXPECT_EQ(key->kid(), "2011-04-29");
}

TEST(Cookbook, Rs256AndEd25519Reproduce) {
  for (const char* file :
       {"jose/cookbook/jws/4_1.rsa_v15_signature.json", "jose/cookbook/curve25519/jws.json"}) {
    json::object v = load(file);
    json::object& input = v["input"].as_object();
    auto alg = algorithm_from_string(str(input["alg"]));
    ASSERT_TRUE(alg.has_value()) << file;
    auto key = Jwk::from_json(input["key"].as_object(), alg);
    ASSERT_TRUE(key.has_value()) << file << key.error().message;
    json::object& signing = v["signing"].as_object();
    auto sig = key->key().sign(*alg == Algorithm::kRS256 ? crypto::SignatureScheme::kRsaPkcs1Sha256
                                                         : crypto::SignatureScheme::kEd25519,
                               str(signing["sig-input"]));
    ASSERT_TRUE(sig.has_value());
    EXPECT_EQ(base64url_encode(*sig), str(signing["sig"])) << file;
    auto jws = verify_jws(str(v["output"].as_object()["compact"]), set_of(*key), {*alg});
    ASSERT_TRUE(jws.has_value()) << file << jws.error().detail;
    EXPECT_EQ(jws->payload(), str(input["payload"]));
  }
}

TEST(Cookbook, HmacIsRefused) {
  json::object v = load("jose/cookbook/jws/4_4.hmac-sha2_integrity_protection.json");
  auto any = Jwk::generate(Algorithm::kES256).value();
  EXPECT_EQ(verify_jws(str(v["output"].as_object()["compact"]), set_of(any), kAll).error().reason,
            Reason::kAlgorithmNotAllowed);
  EXPECT_FALSE(Jwk::from_json(v["input"].as_object()["key"].as_object()).has_value());
}

// ---------------------------------------------------------------- Wycheproof JOSE

std::string header_alg(const std::string& compact) {
  auto header = base64url_decode(compact.substr(0, compact.find('.')));
  if (!header) return "";
  boost::system::error_code ec;
  auto v = json::parse(*header, ec);
  if (ec || !v.is_object() || !v.as_object().contains("alg")) return "";
  return v.as_object().at("alg").is_string() ? str(v.as_object().at("alg")) : "";
}

struct Tally {
  int valid = 0, invalid = 0, failures = 0;
  std::map<std::string, int> skipped;
  void report(const char* file) {
    int total_skipped = 0;
    for (auto& [why, n] : skipped) total_skipped += n;
    std::printf("[wycheproof] %s: %d valid verified, %d invalid rejected, %d valid skipped\n", file,
                valid, invalid, total_skipped);
    for (auto& [why, n] : skipped) std::printf("[wycheproof]   skipped %d: %s\n", n, why.c_str());
    ::testing::Test::RecordProperty(std::string(file) + ".valid", valid);
    ::testing::Test::RecordProperty(std::string(file) + ".invalid", invalid);
    ::testing::Test::RecordProperty(std::string(file) + ".skipped", total_skipped);
  }
  // A "valid" case may be skipped only when it needs an algorithm sigil does not support.
  void check(const json::object& test, bool accepted, const std::string& alg, bool json_form) {
    int64_t id = test.at("tcId").as_int64();
    if (test.at("result") == "invalid") {
      EXPECT_FALSE(accepted) << "tcId " << id << " " << test.at("comment");
      accepted ? ++failures : ++invalid;
      return;
    }
    if (accepted) {
      ++valid;
      return;
    }
    if (json_form) {
      ++skipped["JSON serialization (sigil reads compact JWS only)"];
    } else if (!algorithm_from_string(alg)) {
      ++skipped["alg " + alg + " not supported"];
    } else {
      ADD_FAILURE() << "tcId " << id << " valid but refused: " << test.at("comment");
      ++failures;
    }
  }
};

TEST(Wycheproof, JsonWebSignature) {
  json::object doc = load("wycheproof/json_web_signature_test.json");
  Tally tally;
  int seen = 0;
  for (const auto& g : doc["testGroups"].as_array()) {
    const json::object& group = g.as_object();
    const json::value* jwk = group.if_contains("public");
    if (jwk == nullptr) jwk = group.if_contains("private");
    ASSERT_NE(jwk, nullptr);
    auto key = Jwk::from_json(jwk->as_object());
    JwkSet keys = key ? JwkSet({*key}) : JwkSet();
    for (const auto& t : group.at("tests").as_array()) {
      ++seen;
      const json::object& test = t.as_object();
      bool json_form = !test.at("jws").is_string();
      std::string compact = json_form ? json::serialize(test.at("jws")) : str(test.at("jws"));
      bool accepted = verify_jws(compact, keys, kAll).has_value();
      // A header our strict base64url refuses names its alg through the group's key.
      std::string alg = header_alg(compact);
      if (alg.empty() && jwk->as_object().contains("alg")) alg = str(jwk->as_object().at("alg"));
      tally.check(test, accepted, alg, json_form);
    }
  }
  EXPECT_EQ(seen, 401);
  EXPECT_EQ(tally.failures, 0);
  EXPECT_EQ(tally.invalid, 355);
  tally.report("json_web_signature_test.json");
}

TEST(Wycheproof, JsonWebKey) {
  json::object doc = load("wycheproof/json_web_key_test.json");
  Tally tally;
  int seen = 0;
  for (const auto& g : doc["testGroups"].as_array()) {
    const json::object& group = g.as_object();
    const json::value* jwks = group.if_contains("public");
    if (jwks == nullptr) jwks = group.if_contains("private");
    ASSERT_NE(jwks, nullptr);
    auto keys = JwkSet::parse(json::serialize(*jwks));
    for (const auto& t : group.at("tests").as_array()) {
      ++seen;
      const json::object& test = t.as_object();
      std::string compact = str(test.at("jws"));
      bool accepted = keys.has_value() && verify_jws(compact, *keys, kAll).has_value();
      tally.check(test, accepted, header_alg(compact), false);
    }
  }
  EXPECT_EQ(seen, 26);
  EXPECT_EQ(tally.failures, 0);
  EXPECT_EQ(tally.invalid, 21);
  tally.report("json_web_key_test.json");
}

// ---------------------------------------------------------------- JWK / JWKS

TEST(Jwk, GenerateExportImportEveryAlgorithm) {
  for (Algorithm alg : kAll) {
    auto key = Jwk::generate(alg);
    ASSERT_TRUE(key.has_value()) << to_string(alg);
    EXPECT_EQ(key->kid(), key->thumbprint());
    EXPECT_EQ(key->kid().size(), 43u);
    json::object pub = key->public_json();
    EXPECT_EQ(pub["alg"], json::value(to_string(alg)));
    EXPECT_EQ(pub["use"], "sig");
    for (const char* secret : {"d", "p", "q", "dp", "dq", "qi"}) EXPECT_FALSE(pub.contains(secret));
    auto back = Jwk::from_json(pub);
    ASSERT_TRUE(back.has_value()) << back.error().message;
    EXPECT_FALSE(back->is_private());
    EXPECT_EQ(back->thumbprint(), key->thumbprint());
    EXPECT_EQ(back->alg(), alg);

    auto der = key->private_pkcs8();
    ASSERT_TRUE(der.has_value());
    auto restored = Jwk::from_private_pkcs8(*der, alg);
    ASSERT_TRUE(restored.has_value());
    EXPECT_EQ(restored->kid(), key->kid());
    EXPECT_EQ(Jwk::from_private_pkcs8(*der, alg, "k1")->kid(), "k1");
    EXPECT_FALSE(key->public_key().is_private());
  }
  auto ec = Jwk::generate(Algorithm::kES256).value();
  EXPECT_FALSE(Jwk::from_private_pkcs8(ec.private_pkcs8().value(), Algorithm::kES384).has_value());
  EXPECT_FALSE(Jwk::from_private_pkcs8(ec.private_pkcs8().value(), Algorithm::kRS256).has_value());
}

TEST(Jwk, RefusesMismatchesAndBadMembers) {
  json::object pub = Jwk::generate(Algorithm::kES256)->public_json();
  auto with = [&](const char* name, json::value v) {
    json::object o = pub;
    o[name] = std::move(v);
    return Jwk::from_json(o);
  };
  EXPECT_FALSE(with("alg", "ES384").has_value());
  EXPECT_FALSE(with("alg", "RS256").has_value());
  EXPECT_FALSE(with("alg", "none").has_value());
  EXPECT_FALSE(with("alg", 7).has_value());
  EXPECT_FALSE(with("crv", "P-384").has_value());
  EXPECT_FALSE(with("kty", "RSA").has_value());
  EXPECT_FALSE(with("use", "enc").has_value());
  EXPECT_FALSE(with("key_ops", json::array{"encrypt"}).has_value());
  EXPECT_FALSE(with("x", "not base64!").has_value());
  EXPECT_FALSE(with("x", 1).has_value());
  EXPECT_FALSE(with("kid", 1).has_value());
  EXPECT_TRUE(with("key_ops", json::array{"verify"}).has_value());

  json::object rsa = Jwk::generate(Algorithm::kRS256)->public_json();
  rsa.erase("alg");
  EXPECT_FALSE(Jwk::from_json(rsa).has_value());
  EXPECT_EQ(Jwk::from_json(rsa, Algorithm::kPS256)->alg(), Algorithm::kPS256);
  EXPECT_FALSE(Jwk::from_json(rsa, Algorithm::kES256).has_value());
}

TEST(JwkSet, ParseSkipsUnsupportedRefusesMalformed) {
  auto a = Jwk::generate(Algorithm::kES256).value();
  auto b = Jwk::generate(Algorithm::kEdDSA).value();
  JwkSet set({a.public_key(), b.public_key()});
  auto parsed = JwkSet::parse(set.to_json());
  ASSERT_TRUE(parsed.has_value());
  ASSERT_EQ(parsed->keys().size(), 2u);
  EXPECT_NE(parsed->find(a.kid(), Algorithm::kES256), nullptr);
  EXPECT_EQ(parsed->find(a.kid(), Algorithm::kES384), nullptr);
  EXPECT_EQ(parsed->find("other", Algorithm::kES256), nullptr);

  auto with_extra =
      R"({"keys":[{"kty":"oct","k":"AAAA"},{"kty":"EC","crv":"P-521","x":"AA","y":"AA"},)"
      R"({"kty":"EC","crv":"P-256","alg":"ES512","x":"AA","y":"AA"},)" +
      json::serialize(a.public_json()) + "]}";
  auto skipped = JwkSet::parse(with_extra);
  ASSERT_TRUE(skipped.has_value());
  EXPECT_EQ(skipped->keys().size(), 1u);

  EXPECT_FALSE(JwkSet::parse("{").has_value());
  EXPECT_FALSE(JwkSet::parse("[]").has_value());
  EXPECT_FALSE(JwkSet::parse(R"({"keys":{}})").has_value());
  EXPECT_FALSE(JwkSet::parse(R"({"keys":[1]})").has_value());
  EXPECT_FALSE(
      JwkSet::parse(R"({"keys":[{"kty":"EC","crv":"P-256","x":"AA","y":"AA"}]})").has_value());
  std::string dup = "{\"keys\":[" + json::serialize(a.public_json()) + "," +
                    json::serialize(a.public_json()) + "]}";
  EXPECT_FALSE(JwkSet::parse(dup).has_value());
  EXPECT_FALSE(JwkSet::parse(R"({"keys":[],"keys":[]})").has_value());
}

// ---------------------------------------------------------------- JWT claims

constexpr std::int64_t kNow = 1'700'000'000;

struct Fixture {
  Jwk key = Jwk::generate(Algorithm::kES256).value();
  Signer signer = Signer::create(key, "at+jwt").value();
  JwkSet keys = set_of(key);
  Expectations want{.algorithms = {Algorithm::kES256},
                    .issuer = "https://sigil.example",
                    .audience = "orders",
                    .typ = "at+jwt"};

  json::object claims() const {
    return {{"iss", "https://sigil.example"},
            {"sub", "svc-a"},
            {"aud", "orders"},
            {"exp", kNow + 300},
            {"iat", kNow},
            {"nbf", kNow},
            {"jti", "j1"},
            {"client_id", "svc-a"}};
  }
  std::string token(const json::object& c) const { return signer.sign(json::serialize(c)).value(); }
  std::expected<VerifiedJwt, VerifyError> verify(const std::string& t, std::int64_t now = kNow) {
    return verify_jwt(t, keys, want, from_unix(now));
  }
  Reason reason(const json::object& c, std::int64_t now = kNow) {
    auto r = verify(token(c), now);
    EXPECT_FALSE(r.has_value());
    return r ? Reason::kMalformed : r.error().reason;
  }
};

TEST(Jwt, ValidTokenAndAccessors) {
  Fixture f;
  auto jwt = f.verify(f.token(f.claims()));
  ASSERT_TRUE(jwt.has_value()) << jwt.error().detail;
  EXPECT_EQ(jwt->kid(), f.key.kid());
  EXPECT_EQ(jwt->string_claim("sub"), "svc-a");
  EXPECT_EQ(jwt->string_claim("exp"), std::nullopt);
  EXPECT_EQ(jwt->time_claim("exp"), kNow + 300);
  EXPECT_EQ(jwt->time_claim("sub"), std::nullopt);
  EXPECT_EQ(jwt->header().at("typ"), "at+jwt");
}

TEST(Jwt, TimeBoundariesWithLeeway) {
  Fixture f;
  auto c = f.claims();
  c["exp"] = kNow;
  EXPECT_TRUE(f.verify(f.token(c), kNow + 29).has_value());
  EXPECT_EQ(f.reason(c, kNow + 30), Reason::kExpired);
  c = f.claims();
  c["nbf"] = kNow + 100;
  EXPECT_EQ(f.reason(c, kNow + 69), Reason::kNotYetValid);
  EXPECT_TRUE(f.verify(f.token(c), kNow + 70).has_value());
  c = f.claims();
  c["iat"] = kNow + 31;
  EXPECT_EQ(f.reason(c), Reason::kIssuedInFuture);
  c["iat"] = kNow + 30;
  EXPECT_TRUE(f.verify(f.token(c)).has_value());
  f.want.leeway = Seconds{0};
  c = f.claims();
  c["exp"] = kNow;
  EXPECT_EQ(f.reason(c), Reason::kExpired);
  c["exp"] = kNow + 1;
  EXPECT_TRUE(f.verify(f.token(c)).has_value());
}

TEST(Jwt, ClaimTypesAndPresence) {
  Fixture f;
  auto c = f.claims();
  c.erase("exp");
  EXPECT_EQ(f.reason(c), Reason::kMissingClaim);
  f.want.require_exp = false;
  EXPECT_TRUE(f.verify(f.token(c)).has_value());
  f.want.require_exp = true;
  for (json::value bad : {json::value(1.7e9), json::value("1700000300"), json::value(1e300),
                          json::value(std::uint64_t(1) << 63), json::value(nullptr)}) {
    c = f.claims();
    c["exp"] = bad;
    EXPECT_EQ(f.reason(c), Reason::kMissingClaim) << bad;
  }
  c = f.claims();
  c["exp"] = std::numeric_limits<std::int64_t>::max();
  EXPECT_TRUE(f.verify(f.token(c)).has_value());
  c["nbf"] = std::numeric_limits<std::int64_t>::min();
  EXPECT_TRUE(f.verify(f.token(c)).has_value());
  c = f.claims();
  c["nbf"] = "soon";
  EXPECT_EQ(f.reason(c), Reason::kMissingClaim);
  // A huge integer literal Boost.JSON turns into a double.
  std::string huge = f.signer.sign(R"({"exp":123456789012345678901234567890,"iss":"x"})").value();
  EXPECT_EQ(f.verify(huge).error().reason, Reason::kMissingClaim);
}

TEST(Jwt, IssuerAudienceType) {
  Fixture f;
  auto c = f.claims();
  c["iss"] = "https://evil.example";
  EXPECT_EQ(f.reason(c), Reason::kWrongIssuer);
  c.erase("iss");
  EXPECT_EQ(f.reason(c), Reason::kMissingClaim);
  c = f.claims();
  c["aud"] = json::array{"billing", "orders"};
  EXPECT_TRUE(f.verify(f.token(c)).has_value());
  c["aud"] = json::array{"billing"};
  EXPECT_EQ(f.reason(c), Reason::kWrongAudience);
  c["aud"] = "Orders";
  EXPECT_EQ(f.reason(c), Reason::kWrongAudience);
  c["aud"] = json::array{};
  EXPECT_EQ(f.reason(c), Reason::kWrongAudience);
  c["aud"] = 5;
  EXPECT_EQ(f.reason(c), Reason::kMissingClaim);
  c.erase("aud");
  EXPECT_EQ(f.reason(c), Reason::kMissingClaim);

  for (const char* typ : {"at+jwt", "application/at+jwt", "AT+JWT", "Application/At+Jwt"}) {
    auto s = Signer::create(f.key, typ).value();
    EXPECT_TRUE(f.verify(s.sign(json::serialize(f.claims())).value()).has_value()) << typ;
  }
  for (const char* typ : {"JWT", "application/jwt", "at+jwt2", "application/"}) {
    auto s = Signer::create(f.key, typ).value();
    EXPECT_EQ(f.verify(s.sign(json::serialize(f.claims())).value()).error().reason,
              Reason::kWrongType)
        << typ;
  }
  auto no_typ = Signer::create(f.key, "").value();
  EXPECT_EQ(f.verify(no_typ.sign(json::serialize(f.claims())).value()).error().reason,
            Reason::kWrongType);
  f.want.typ = "application/at+jwt";
  EXPECT_TRUE(f.verify(f.token(f.claims())).has_value());
}

// ---------------------------------------------------------------- attacks

// A token with the given header and payload, signed with key over exactly those bytes.
std::string forge(const Jwk& key, const std::string& header, const std::string& payload) {
  std::string input = base64url_encode(header) + "." + base64url_encode(payload);
  Algorithm alg = key.alg();
  crypto::SignatureScheme scheme[] = {
      crypto::SignatureScheme::kEcdsaP256Sha256, crypto::SignatureScheme::kEcdsaP384Sha384,
      crypto::SignatureScheme::kEd25519, crypto::SignatureScheme::kRsaPkcs1Sha256,
      crypto::SignatureScheme::kRsaPssSha256};
  auto sig = key.key().sign(scheme[static_cast<int>(alg)], input);
  return input + "." + base64url_encode(sig.value_or(""));
}

TEST(Attack, AlgNoneInAnyCase) {
  Fixture f;
  std::string payload = json::serialize(f.claims());
  for (const char* none : {"none", "None", "NONE", "nOnE"}) {
    std::string header = std::string(R"({"alg":")") + none + R"(","kid":")" + f.key.kid() + "\"}";
    std::string t = base64url_encode(header) + "." + base64url_encode(payload) + ".";
    EXPECT_EQ(f.verify(t).error().reason, Reason::kAlgorithmNotAllowed) << none;
    EXPECT_EQ(f.verify(t + "AAAA").error().reason, Reason::kAlgorithmNotAllowed) << none;
  }
  EXPECT_EQ(f.verify(forge(f.key, R"({"kid":"x"})", payload)).error().reason,
            Reason::kAlgorithmNotAllowed);
  EXPECT_EQ(f.verify(forge(f.key, R"({"alg":256})", payload)).error().reason,
            Reason::kAlgorithmNotAllowed);
  EXPECT_EQ(f.verify(forge(f.key, R"({"alg":"HS256"})", payload)).error().reason,
            Reason::kAlgorithmNotAllowed);
  EXPECT_EQ(f.verify(forge(f.key, R"({"alg":"es256"})", payload)).error().reason,
            Reason::kAlgorithmNotAllowed);
}

TEST(Attack, AlgorithmKeyTypeConfusion) {
  auto ec256 = Jwk::generate(Algorithm::kES256).value();
  auto ec384 = Jwk::generate(Algorithm::kES384).value();
  auto rsa = Jwk::generate(Algorithm::kRS256).value();
  std::string payload = R"({"sub":"x"})";
  // ES256 token checked against an RSA key with the same kid.
  std::string es = forge(ec256, R"({"alg":"ES256","kid":"k"})", payload);
  auto rsa_k = Jwk::from_json([&] {
    auto o = rsa.public_json();
    o["kid"] = "k";
    return o;
  }());
  ASSERT_TRUE(rsa_k.has_value());
  EXPECT_EQ(verify_jws(es, JwkSet({*rsa_k}), kAll).error().reason, Reason::kUnknownKey);
  // RS256 header over an EC key's signature, EC key published under that kid.
  auto ec_k = Jwk::from_json([&] {
    auto o = ec256.public_json();
    o["kid"] = "k";
    return o;
  }());
  std::string rs = forge(rsa, R"({"alg":"RS256","kid":"k"})", payload);
  EXPECT_EQ(verify_jws(rs, JwkSet({*ec_k}), kAll).error().reason, Reason::kUnknownKey);
  // ES384 header with a P-256 key (no kid: single key set).
  std::string es384 = forge(ec384, R"({"alg":"ES384"})", payload);
  EXPECT_EQ(verify_jws(es384, set_of(ec256), kAll).error().reason, Reason::kUnknownKey);
  // RS256 and PS256 on one RSA modulus are still different keys in a set.
  auto ps = Jwk::from_json(
      [&] {
        auto o = rsa.public_json();
        o.erase("alg");
        return o;
      }(),
      Algorithm::kPS256);
  std::string rs_token = forge(rsa, R"({"alg":"RS256"})", payload);
  EXPECT_EQ(verify_jws(rs_token, JwkSet({*ps}), kAll).error().reason, Reason::kUnknownKey);
  EXPECT_TRUE(verify_jws(rs_token, set_of(rsa), kAll).has_value());
}

TEST(Attack, EmbeddedKeysNeverSelectAKey) {
  Fixture f;
  auto attacker = Jwk::generate(Algorithm::kES256).value();
  std::string payload = json::serialize(f.claims());
  std::string jwk = json::serialize(attacker.public_json());
  for (std::string extra :
       {R"("jwk":)" + jwk, std::string(R"("jku":"https://evil/jwks")"),
        std::string(R"("x5u":"https://evil/cert")"), std::string(R"("x5c":["MIIB"])")}) {
    std::string header = R"({"alg":"ES256","typ":"at+jwt",)" + extra + "}";
    auto r = f.verify(forge(attacker, header, payload));
    ASSERT_FALSE(r.has_value()) << extra;
    EXPECT_EQ(r.error().reason, Reason::kBadSignature) << extra;
  }
  // Two keys and no kid: no key is guessed.
  JwkSet two({f.key.public_key(), attacker.public_key()});
  std::string no_kid = forge(f.key, R"({"alg":"ES256","typ":"at+jwt"})", payload);
  EXPECT_EQ(verify_jwt(no_kid, two, f.want, from_unix(kNow)).error().reason, Reason::kUnknownKey);
  EXPECT_TRUE(f.verify(no_kid).has_value());
}

TEST(Attack, HeaderAndStructure) {
  Fixture f;
  std::string payload = json::serialize(f.claims());
  std::string kid = f.key.kid();
  auto hdr = [&](const std::string& extra) {
    return R"({"alg":"ES256","typ":"at+jwt","kid":")" + kid + "\"" + extra + "}";
  };
  EXPECT_EQ(f.verify(forge(f.key, hdr(R"(,"crit":["exp"])"), payload)).error().reason,
            Reason::kUnsupportedHeader);
  EXPECT_EQ(f.verify(forge(f.key, hdr(R"(,"crit":[])"), payload)).error().reason,
            Reason::kUnsupportedHeader);
  EXPECT_EQ(f.verify(forge(f.key, hdr(R"(,"b64":false)"), payload)).error().reason,
            Reason::kUnsupportedHeader);
  EXPECT_EQ(f.verify(forge(f.key, hdr(R"(,"alg":"none")"), payload)).error().reason,
            Reason::kMalformed);
  EXPECT_EQ(f.verify(forge(f.key, hdr(R"(,"\u0061lg":"ES256")"), payload)).error().reason,
            Reason::kMalformed);
  EXPECT_EQ(f.verify(forge(f.key, hdr(""), R"({"exp":1,"exp":99999999999})")).error().reason,
            Reason::kMalformed);
  EXPECT_EQ(f.verify(forge(f.key, hdr(""), "[1,2]")).error().reason, Reason::kMalformed);
  EXPECT_EQ(f.verify(forge(f.key, hdr(""), "not json")).error().reason, Reason::kMalformed);
  EXPECT_EQ(f.verify(forge(f.key, "[]", payload)).error().reason, Reason::kMalformed);
  EXPECT_EQ(f.verify(forge(f.key, hdr(R"(,"x":1,})"), payload)).error().reason, Reason::kMalformed);
  EXPECT_EQ(f.verify(forge(f.key, R"({"alg":"ES256","kid":7})", payload)).error().reason,
            Reason::kMalformed);

  std::string good = f.token(f.claims());
  ASSERT_TRUE(f.verify(good).has_value());
  std::size_t d1 = good.find('.'), d2 = good.rfind('.');
  EXPECT_EQ(f.verify(good.substr(0, d2)).error().reason, Reason::kMalformed);
  EXPECT_EQ(f.verify(good + ".x").error().reason, Reason::kMalformed);
  EXPECT_EQ(f.verify(good + ".").error().reason, Reason::kMalformed);
  EXPECT_EQ(f.verify("").error().reason, Reason::kMalformed);
  EXPECT_EQ(f.verify("..").error().reason, Reason::kMalformed);
  EXPECT_EQ(f.verify("a*b." + good.substr(d1 + 1)).error().reason, Reason::kMalformed);
  EXPECT_EQ(f.verify(good.substr(0, d1) + ".e30=." + good.substr(d2 + 1)).error().reason,
            Reason::kMalformed);
  EXPECT_EQ(f.verify(good.substr(0, d2) + ".!!!!").error().reason, Reason::kMalformed);
  EXPECT_EQ(f.verify(good.substr(0, d2) + ".AAAA").error().reason, Reason::kBadSignature);
  EXPECT_EQ(
      f.verify(good.substr(0, d1 + 1) + base64url_encode(R"({"sub":"admin"})") + good.substr(d2))
          .error()
          .reason,
      Reason::kBadSignature);

  // Size limits: whole token, and decoded header.
  json::object big = f.claims();
  big["pad"] = std::string(20000, 'a');
  EXPECT_EQ(f.verify(f.token(big)).error().reason, Reason::kTooLarge);
  EXPECT_EQ(f.verify(forge(f.key, hdr(R"(,"pad":")" + std::string(3000, 'a') + "\""), payload))
                .error()
                .reason,
            Reason::kTooLarge);
  EXPECT_EQ(f.verify(std::string(20000, '.')).error().reason, Reason::kTooLarge);
}

TEST(Attack, RandomMutationsNeverCrashNorPass) {
  Fixture f;
  const std::string good = f.token(f.claims());
  ASSERT_TRUE(f.verify(good).has_value());
  std::mt19937 rng(20240611);
  const std::string alphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/ \"{}\x00\xff";
  int accepted_changed = 0;
  for (int i = 0; i < 4000; ++i) {
    std::string t = good;
    int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits; ++e) {
      std::size_t pos = rng() % (t.size() + 1);
      switch (rng() % 4) {
        case 0:
          if (pos < t.size()) t[pos] = alphabet[rng() % alphabet.size()];
          break;
        case 1:
          t.insert(pos, 1, alphabet[rng() % alphabet.size()]);
          break;
        case 2:
          if (pos < t.size()) t.erase(pos, 1 + rng() % 8);
          break;
        case 3:
          if (pos < t.size()) t[pos] ^= static_cast<char>(1 << (rng() % 8));
          break;
      }
    }
    auto r = f.verify(t);
    if (r.has_value() && t != good) ++accepted_changed;
  }
  EXPECT_EQ(accepted_changed, 0);
}

TEST(Signer, RequiresPrivateKeyAndIsDeterministicHeader) {
  auto key = Jwk::generate(Algorithm::kEdDSA).value();
  EXPECT_EQ(Signer::create(key.public_key(), "at+jwt").error().code, Code::kInvalidArgument);
  auto signer = Signer::create(key, "at+jwt").value();
  std::string t = signer.sign("{}").value();
  auto header = base64url_decode(t.substr(0, t.find('.')));
  EXPECT_EQ(*header, R"({"alg":"EdDSA","kid":")" + key.kid() + R"(","typ":"at+jwt"})");
  EXPECT_EQ(t, signer.sign("{}").value()) << "Ed25519 is deterministic";
}

TEST(Signer, ConcurrentSignAndVerify) {
  for (Algorithm alg : {Algorithm::kES256, Algorithm::kEdDSA, Algorithm::kPS256}) {
    auto key = Jwk::generate(alg).value();
    const Signer signer = Signer::create(key, "at+jwt").value();
    const JwkSet keys = set_of(key);
    std::vector<int> failures(4, 0);
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < 50; ++i) {
          std::string payload = "{\"n\":" + std::to_string(t * 1000 + i) + "}";
          auto token = signer.sign(payload);
          auto jws = token ? verify_jws(*token, keys, {alg}) : std::unexpected(VerifyError{});
          if (!jws || jws->payload() != payload) ++failures[t];
        }
      });
    }
    for (auto& th : threads) th.join();
    EXPECT_EQ(failures, std::vector<int>(4, 0)) << to_string(alg);
  }
}

TEST(Reason, Names) {
  EXPECT_EQ(to_string(Reason::kExpired), "expired");
  EXPECT_EQ(to_string(Reason::kAlgorithmNotAllowed), "algorithm_not_allowed");
  EXPECT_EQ(algorithm_from_string("EdDSA"), Algorithm::kEdDSA);
  EXPECT_EQ(algorithm_from_string("none"), std::nullopt);
  EXPECT_EQ(algorithm_from_string("es256"), std::nullopt);
}

}  // namespace
}  // namespace sigil::jose

namespace sigil::jose {
namespace {

TEST(UnverifiedStringClaim, ReadsOnlyANonEmptyStringClaimOfAJwtShape) {
  const std::string payload = base64url_encode(R"({"iss":"https://a","sub":"","n":1})");
  const std::string token = "e30." + payload + ".sig";
  EXPECT_EQ(unverified_string_claim(token, "iss"), "https://a");
  EXPECT_EQ(unverified_string_claim(token, "sub"), std::nullopt);  // empty
  EXPECT_EQ(unverified_string_claim(token, "n"), std::nullopt);    // not a string
  EXPECT_EQ(unverified_string_claim(token, "aud"), std::nullopt);  // absent
  EXPECT_EQ(unverified_string_claim("e30." + payload, "iss"), std::nullopt);
  EXPECT_EQ(unverified_string_claim("e30.!!!.x", "iss"), std::nullopt);
  EXPECT_EQ(unverified_string_claim("e30." + base64url_encode("[1]") + ".x", "iss"), std::nullopt);
  EXPECT_EQ(unverified_string_claim(std::string(Limits{}.max_token_bytes, 'a') + token, "iss"),
            std::nullopt);
}

}  // namespace
}  // namespace sigil::jose
