#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <boost/json.hpp>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include "base/hex.hpp"
#include "base/testing/test_data.hpp"
#include "crypto/aead.hpp"
#include "crypto/digest.hpp"
#include "crypto/gcm.hpp"
#include "crypto/key.hpp"

namespace sigil::crypto {
namespace {

namespace json = boost::json;

json::object load(const std::string& relative) {
  return testing::load_test_json(relative);
}

std::string hex(const json::value& v) {
  auto bytes = hex_decode(std::string_view(v.as_string()));
  EXPECT_TRUE(bytes.has_value()) << v;
  return bytes.value_or("");
}

// Wycheproof big-endian integers may carry a leading 00; JOSE wants fixed width.
std::string fixed_width(std::string v, std::size_t width) {
  while (v.size() > width && v.front() == '\0') v.erase(0, 1);
  if (v.size() < width) v.insert(0, width - v.size(), '\0');
  return v;
}

struct Counts {
  int valid = 0, invalid = 0, acceptable = 0, skipped = 0, failures = 0;
  void report(const char* file) const {
    std::printf(
        "[wycheproof] %s: %d valid verified, %d invalid rejected, %d acceptable, %d skipped\n",
        file, valid, invalid, acceptable, skipped);
    ::testing::Test::RecordProperty(std::string(file) + ".valid", valid);
    ::testing::Test::RecordProperty(std::string(file) + ".invalid", invalid);
  }
};

// Runs a signature-verification vector file: each group's key, each test's msg/sig.
template <typename MakeKey>
Counts run_signature_file(const char* file, SignatureScheme scheme, MakeKey make_key,
                          int expected_tests) {
  json::object doc = load(std::string("wycheproof/") + file);
  Counts counts;
  int seen = 0;
  for (const auto& group_value : doc["testGroups"].as_array()) {
    const json::object& group = group_value.as_object();
    Result<Key> key = make_key(group);
    for (const auto& test_value : group.at("tests").as_array()) {
      const json::object& test = test_value.as_object();
      ++seen;
      std::string result(test.at("result").as_string());
      int64_t id = test.at("tcId").as_int64();
      bool ok = key.has_value() &&
                key->verify(scheme, hex(test.at("msg")), hex(test.at("sig"))).has_value();
      if (result == "valid") {
        EXPECT_TRUE(ok) << file << " tcId " << id << " " << test.at("comment");
        ok ? ++counts.valid : ++counts.failures;
      } else if (result == "invalid") {
        EXPECT_FALSE(ok) << file << " tcId " << id << " " << test.at("comment");
        !ok ? ++counts.invalid : ++counts.failures;
      } else {
        ++counts.acceptable;
      }
    }
  }
  EXPECT_EQ(seen, expected_tests) << file;
  EXPECT_EQ(counts.failures, 0);
  counts.report(file);
  return counts;
}

auto ec_key(KeyType curve, std::size_t width) {
  return [curve, width](const json::object& group) {
    const json::object& pub = group.at("publicKey").as_object();
    return Key::from_ec(
        curve, {fixed_width(hex(pub.at("wx")), width), fixed_width(hex(pub.at("wy")), width), {}});
  };
}

Result<Key> rsa_key(const json::object& group) {
  const json::object& pub = group.at("publicKey").as_object();
  RsaComponents c;
  c.n = hex(pub.at("modulus"));
  c.e = hex(pub.at("publicExponent"));
  while (c.n.size() > 1 && c.n.front() == '\0') c.n.erase(0, 1);
  return Key::from_rsa(c);
}

TEST(Wycheproof, EcdsaP256Sha256P1363) {
  Counts c =
      run_signature_file("ecdsa_secp256r1_sha256_p1363_test.json",
                         SignatureScheme::kEcdsaP256Sha256, ec_key(KeyType::kEcP256, 32), 262);
  EXPECT_EQ(c.valid, 173);
  EXPECT_EQ(c.invalid, 89);
}

TEST(Wycheproof, EcdsaP384Sha384P1363) {
  Counts c =
      run_signature_file("ecdsa_secp384r1_sha384_p1363_test.json",
                         SignatureScheme::kEcdsaP384Sha384, ec_key(KeyType::kEcP384, 48), 280);
  EXPECT_EQ(c.valid, 193);
  EXPECT_EQ(c.invalid, 87);
}

TEST(Wycheproof, Ed25519) {
  Counts c = run_signature_file(
      "ed25519_test.json", SignatureScheme::kEd25519,
      [](const json::object& group) {
        return Key::from_ed25519({hex(group.at("publicKey").as_object().at("pk")), {}});
      },
      151);
  EXPECT_EQ(c.valid, 88);
  EXPECT_EQ(c.invalid, 63);
}

TEST(Wycheproof, RsaPkcs1Sha256) {
  Counts c = run_signature_file("rsa_signature_2048_sha256_test.json",
                                SignatureScheme::kRsaPkcs1Sha256, rsa_key, 259);
  EXPECT_EQ(c.valid, 9);
  EXPECT_EQ(c.invalid, 249);
  EXPECT_EQ(c.acceptable, 1);
}

TEST(Wycheproof, RsaPssSha256Mgf1Salt32) {
  Counts c = run_signature_file("rsa_pss_2048_sha256_mgf1_32_test.json",
                                SignatureScheme::kRsaPssSha256, rsa_key, 108);
  EXPECT_EQ(c.valid, 63);
  EXPECT_EQ(c.invalid, 45);
}

TEST(Wycheproof, AesGcm256) {
  json::object doc = load("wycheproof/aes_gcm_test.json");
  Counts counts;
  for (const auto& group_value : doc["testGroups"].as_array()) {
    const json::object& group = group_value.as_object();
    bool applies = group.at("keySize").as_int64() == 256 && group.at("ivSize").as_int64() == 96 &&
                   group.at("tagSize").as_int64() == 128;
    for (const auto& test_value : group.at("tests").as_array()) {
      const json::object& t = test_value.as_object();
      if (!applies) {
        ++counts.skipped;
        continue;
      }
      int64_t id = t.at("tcId").as_int64();
      std::string key = hex(t.at("key")), iv = hex(t.at("iv")), aad = hex(t.at("aad"));
      std::string msg = hex(t.at("msg")), ct = hex(t.at("ct")) + hex(t.at("tag"));
      auto opened = internal::gcm_decrypt(key, iv, ct, aad);
      if (t.at("result").as_string() == "valid") {
        ASSERT_TRUE(opened.has_value()) << "tcId " << id;
        EXPECT_EQ(*opened, msg) << "tcId " << id;
        auto sealed = internal::gcm_encrypt(key, iv, msg, aad);
        ASSERT_TRUE(sealed.has_value()) << "tcId " << id;
        EXPECT_EQ(*sealed, ct) << "tcId " << id;
        ++counts.valid;
      } else {
        ASSERT_FALSE(opened.has_value()) << "tcId " << id;
        EXPECT_EQ(opened.error().code, Code::kUnauthenticated) << "tcId " << id;
        ++counts.invalid;
      }
    }
  }
  std::printf(
      "[wycheproof] aes_gcm_test.json: skipped %d cases that are not AES-256 with a "
      "96-bit IV and 128-bit tag\n",
      counts.skipped);
  counts.report("aes_gcm_test.json");
  EXPECT_GT(counts.valid, 20);
  EXPECT_GT(counts.invalid, 10);
}

TEST(Digest, Sha256KnownAnswer) {
  EXPECT_EQ(hex_encode(sha256("abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(hex_encode(sha256("")),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST(Aead, RoundTripTamperWrongAadWrongKey) {
  std::string key(32, 'k');
  auto sealed = seal(key, "signing key bytes", "signing_key:a");
  ASSERT_TRUE(sealed.has_value());
  EXPECT_EQ(sealed->size(), 12 + 17 + 16u);
  auto opened = open(key, *sealed, "signing_key:a");
  ASSERT_TRUE(opened.has_value());
  EXPECT_EQ(*opened, "signing key bytes");

  auto second = seal(key, "signing key bytes", "signing_key:a");
  ASSERT_TRUE(second.has_value());
  EXPECT_NE(*second, *sealed) << "nonce must be fresh";

  EXPECT_EQ(open(key, *sealed, "signing_key:b").error().code, Code::kUnauthenticated);
  EXPECT_EQ(open(std::string(32, 'x'), *sealed, "signing_key:a").error().code,
            Code::kUnauthenticated);
  for (std::size_t i = 0; i < sealed->size(); ++i) {
    std::string tampered = *sealed;
    tampered[i] ^= 0x01;
    EXPECT_EQ(open(key, tampered, "signing_key:a").error().code, Code::kUnauthenticated) << i;
  }
  EXPECT_EQ(open(key, sealed->substr(0, 27), "signing_key:a").error().code, Code::kUnauthenticated);
  EXPECT_EQ(seal(std::string(16, 'k'), "x", "").error().code, Code::kInvalidArgument);
  EXPECT_EQ(open(std::string(31, 'k'), *sealed, "").error().code, Code::kInvalidArgument);

  auto empty = seal(key, "", "");
  ASSERT_TRUE(empty.has_value());
  EXPECT_EQ(open(key, *empty, "").value(), "");
}

struct SchemeCase {
  KeyType type;
  SignatureScheme scheme;
  std::size_t sig_bytes;
};

class KeySchemes : public ::testing::TestWithParam<SchemeCase> {};

TEST_P(KeySchemes, SignVerifyTamperPkcs8PublicKey) {
  const SchemeCase& p = GetParam();
  auto key = Key::generate(p.type);
  ASSERT_TRUE(key.has_value()) << key.error().message;
  EXPECT_TRUE(key->is_private());
  auto sig = key->sign(p.scheme, "header.payload");
  ASSERT_TRUE(sig.has_value()) << sig.error().message;
  EXPECT_EQ(sig->size(), p.sig_bytes);
  EXPECT_TRUE(key->verify(p.scheme, "header.payload", *sig).has_value());
  EXPECT_EQ(key->verify(p.scheme, "header.payloaD", *sig).error().code, Code::kUnauthenticated);
  std::string bad = *sig;
  bad[bad.size() / 2] ^= 0x40;
  EXPECT_EQ(key->verify(p.scheme, "header.payload", bad).error().code, Code::kUnauthenticated);
  EXPECT_EQ(key->verify(p.scheme, "header.payload", *sig + '\0').error().code,
            Code::kUnauthenticated);
  EXPECT_EQ(key->verify(p.scheme, "header.payload", "").error().code, Code::kUnauthenticated);

  auto pub = key->public_key();
  ASSERT_TRUE(pub.has_value());
  EXPECT_FALSE(pub->is_private());
  EXPECT_TRUE(pub->verify(p.scheme, "header.payload", *sig).has_value());
  EXPECT_EQ(pub->sign(p.scheme, "x").error().code, Code::kFailedPrecondition);
  EXPECT_EQ(pub->private_pkcs8().error().code, Code::kFailedPrecondition);

  auto der = key->private_pkcs8();
  ASSERT_TRUE(der.has_value());
  auto back = Key::from_private_pkcs8(*der);
  ASSERT_TRUE(back.has_value()) << back.error().message;
  EXPECT_EQ(back->type(), p.type);
  auto sig2 = back->sign(p.scheme, "m");
  ASSERT_TRUE(sig2.has_value());
  EXPECT_TRUE(pub->verify(p.scheme, "m", *sig2).has_value());
  EXPECT_FALSE(Key::from_private_pkcs8(der->substr(0, der->size() - 1)).has_value());
  EXPECT_FALSE(Key::from_private_pkcs8(*der + "x").has_value());
}

INSTANTIATE_TEST_SUITE_P(
    All, KeySchemes,
    ::testing::Values(SchemeCase{KeyType::kEcP256, SignatureScheme::kEcdsaP256Sha256, 64},
                      SchemeCase{KeyType::kEcP384, SignatureScheme::kEcdsaP384Sha384, 96},
                      SchemeCase{KeyType::kEd25519, SignatureScheme::kEd25519, 64},
                      SchemeCase{KeyType::kRsa, SignatureScheme::kRsaPkcs1Sha256, 256},
                      SchemeCase{KeyType::kRsa, SignatureScheme::kRsaPssSha256, 256}));

TEST(Key, SchemeMustSuitKeyType) {
  auto ec = Key::generate(KeyType::kEcP256).value();
  auto rsa = Key::generate(KeyType::kRsa).value();
  auto sig = ec.sign(SignatureScheme::kEcdsaP256Sha256, "m").value();
  EXPECT_EQ(ec.sign(SignatureScheme::kEcdsaP384Sha384, "m").error().code, Code::kInvalidArgument);
  EXPECT_EQ(ec.sign(SignatureScheme::kRsaPkcs1Sha256, "m").error().code, Code::kInvalidArgument);
  EXPECT_EQ(ec.verify(SignatureScheme::kEd25519, "m", sig).error().code, Code::kInvalidArgument);
  EXPECT_EQ(rsa.verify(SignatureScheme::kEcdsaP256Sha256, "m", sig).error().code,
            Code::kInvalidArgument);
  EXPECT_TRUE(rsa.supports(SignatureScheme::kRsaPssSha256));
  EXPECT_FALSE(rsa.supports(SignatureScheme::kEd25519));
}

// DER encoding of a raw r||s signature, as a confused signer would send it.
std::string to_der(const std::string& raw) {
  auto integer = [](std::string v) {
    while (v.size() > 1 && v[0] == '\0' && !(v[1] & 0x80)) v.erase(0, 1);
    if (v[0] & 0x80) v.insert(0, 1, '\0');
    return std::string("\x02", 1) + static_cast<char>(v.size()) + v;
  };
  std::string body = integer(raw.substr(0, 32)) + integer(raw.substr(32));
  return std::string("\x30", 1) + static_cast<char>(body.size()) + body;
}

TEST(Key, EcdsaRefusesDerSignatures) {
  auto key = Key::generate(KeyType::kEcP256).value();
  auto raw = key.sign(SignatureScheme::kEcdsaP256Sha256, "m").value();
  EXPECT_EQ(key.verify(SignatureScheme::kEcdsaP256Sha256, "m", to_der(raw)).error().code,
            Code::kUnauthenticated);
  EXPECT_EQ(key.verify(SignatureScheme::kEcdsaP256Sha256, "m", raw.substr(0, 63)).error().code,
            Code::kUnauthenticated);
}

TEST(Key, EcComponentsRoundTripAndChecks) {
  auto key = Key::generate(KeyType::kEcP256).value();
  auto c = key.ec_components(true).value();
  EXPECT_EQ(c.x.size(), 32u);
  EXPECT_EQ(c.d.size(), 32u);
  auto back = Key::from_ec(KeyType::kEcP256, c);
  ASSERT_TRUE(back.has_value()) << back.error().message;
  EXPECT_TRUE(back->is_private());
  EXPECT_EQ(key.ec_components(false).value().d, "");

  EcComponents off_curve = c;
  off_curve.d.clear();
  off_curve.y[31] ^= 1;
  EXPECT_EQ(Key::from_ec(KeyType::kEcP256, off_curve).error().code, Code::kInvalidArgument);

  EcComponents wrong_d = c;
  wrong_d.d = Key::generate(KeyType::kEcP256).value().ec_components(true).value().d;
  EXPECT_EQ(Key::from_ec(KeyType::kEcP256, wrong_d).error().code, Code::kInvalidArgument);

  EXPECT_EQ(Key::from_ec(KeyType::kEcP384, c).error().code, Code::kInvalidArgument);
  EcComponents short_x = c;
  short_x.x.pop_back();
  EXPECT_EQ(Key::from_ec(KeyType::kEcP256, short_x).error().code, Code::kInvalidArgument);
}

TEST(Key, Ed25519PrivateMustMatchPublic) {
  auto key = Key::generate(KeyType::kEd25519).value();
  auto c = key.okp_components(true).value();
  EXPECT_TRUE(Key::from_ed25519(c).has_value());
  c.x[0] ^= 1;
  EXPECT_EQ(Key::from_ed25519(c).error().code, Code::kInvalidArgument);
  EXPECT_EQ(Key::from_ed25519({std::string(31, 'a'), {}}).error().code, Code::kInvalidArgument);
}

TEST(Key, RsaComponentsAndChecks) {
  auto key = Key::generate(KeyType::kRsa).value();
  EXPECT_EQ(key.bits(), 2048);
  auto c = key.rsa_components(true).value();
  auto back = Key::from_rsa(c);
  ASSERT_TRUE(back.has_value()) << back.error().message;
  EXPECT_TRUE(back->is_private());
  RsaComponents pub{c.n, c.e, {}, {}, {}, {}, {}, {}};
  EXPECT_FALSE(Key::from_rsa(pub).value().is_private());

  RsaComponents partial = c;
  partial.qi.clear();
  EXPECT_EQ(Key::from_rsa(partial).error().code, Code::kInvalidArgument);
  RsaComponents e_one = pub;
  e_one.e = std::string("\x01", 1);
  EXPECT_EQ(Key::from_rsa(e_one).error().code, Code::kInvalidArgument);
  RsaComponents small = pub;
  small.n = small.n.substr(0, 128);
  small.n.back() |= 1;
  EXPECT_EQ(Key::from_rsa(small).error().code, Code::kInvalidArgument);
  RsaComponents wrong_d = c;
  wrong_d.d[5] ^= 1;
  EXPECT_EQ(Key::from_rsa(wrong_d).error().code, Code::kInvalidArgument);
  EXPECT_EQ(Key::generate(KeyType::kRsa, 1024).error().code, Code::kInvalidArgument);
}

// Made with: openssl ecparam -genkey -name prime256v1 -noout
constexpr std::string_view kEcPem = R"(-----BEGIN EC PRIVATE KEY-----
MHcCAQEEIBeB+iOKYjoVL8cmXl5Kiv0Bgho/08FlriCvzpiHuwnMoAoGCCqGSM49
AwEHoUQDQgAEy4gut5ZEge/aB5KVOFJkKWGnei+3EDcUcbzupB4zo+AqLrAGr9gd
9gHVkQpOceOHISJajdxFa8wtL9JsFJo+aw==
-----END EC PRIVATE KEY-----
)";
// Made with: openssl genpkey -algorithm ed25519
constexpr std::string_view kEd25519Pem = R"(-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEIOB6nLmeKQAZHWpXoJQTO+c8GtgwSUy81PCzYqF7du3L
-----END PRIVATE KEY-----
)";
// Made with: openssl genpkey -algorithm ed25519 -aes256 -pass pass:test
constexpr std::string_view kEncryptedPem = R"(-----BEGIN ENCRYPTED PRIVATE KEY-----
MIGbMFcGCSqGSIb3DQEFDTBKMCkGCSqGSIb3DQEFDDAcBAhuabIxNhpQfwICCAAw
DAYIKoZIhvcNAgkFADAdBglghkgBZQMEASoEENKCr5P7e6R6JNXA+gLlw6MEQDum
l8IzJ0VPayZ3K86YdiHu6jGaddA+4KLpBf6nR2QveMV2jXJwKqO2GQ4oB9ye4PUd
ieDn5mDI8GTfkmVtKv8=
-----END ENCRYPTED PRIVATE KEY-----
)";
// Made with: openssl genpkey -algorithm ed25519 | openssl pkey -pubout
constexpr std::string_view kPublicPem = R"(-----BEGIN PUBLIC KEY-----
MCowBQYDK2VwAyEA0qhjSVydugmKXr6qN3qTjHT8SI49tKqhK8cDIF57x0M=
-----END PUBLIC KEY-----
)";

TEST(Key, FromPublicEvpPkeySharesTheKeyAndChecksIt) {
  auto p256 = Key::generate(KeyType::kEcP256);
  ASSERT_TRUE(p256);
  auto shared = Key::from_public_evp_pkey(p256->evp_pkey());
  ASSERT_TRUE(shared) << shared.error().message;
  EXPECT_EQ(shared->evp_pkey(), p256->evp_pkey());  // shared, not decoded again
  EXPECT_EQ(shared->type(), KeyType::kEcP256);
  EXPECT_EQ(shared->spki_der().value(), p256->spki_der().value());

  EXPECT_FALSE(Key::from_public_evp_pkey(nullptr));
  // The import rules hold: a 1024-bit RSA key or a P-521 key is refused.
  EVP_PKEY* weak = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(1024));
  ASSERT_NE(weak, nullptr);
  EXPECT_FALSE(Key::from_public_evp_pkey(weak));
  EVP_PKEY_free(weak);
  EVP_PKEY* p521 = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-521");
  ASSERT_NE(p521, nullptr);
  EXPECT_FALSE(Key::from_public_evp_pkey(p521));
  EVP_PKEY_free(p521);
}

TEST(Key, PrivatePemTraditionalAndPkcs8) {
  auto ec = Key::from_private_pem(kEcPem);
  ASSERT_TRUE(ec.has_value()) << ec.error().message;
  EXPECT_EQ(ec->type(), KeyType::kEcP256);
  EXPECT_TRUE(ec->is_private());
  auto sig = ec->sign(SignatureScheme::kEcdsaP256Sha256, "message");
  ASSERT_TRUE(sig.has_value());
  EXPECT_TRUE(ec->public_key()->verify(SignatureScheme::kEcdsaP256Sha256, "message", *sig));
  // The key read is the key written: the private scalar from the PEM text.
  EXPECT_EQ(hex_encode(ec->ec_components(true)->d),
            "1781fa238a623a152fc7265e5e4a8afd01821a3fd3c165ae20afce9887bb09cc");

  auto ed = Key::from_private_pem(kEd25519Pem);
  ASSERT_TRUE(ed.has_value()) << ed.error().message;
  EXPECT_EQ(ed->type(), KeyType::kEd25519);
  EXPECT_EQ(hex_encode(ed->okp_components(true)->d),
            "e07a9cb99e2900191d6a57a094133be73c1ad830494cbcd4f0b362a17b76edcb");

  // Leading text (as `openssl` writes with -text) is skipped, as PEM readers do.
  auto with_text = Key::from_private_pem("comment line\n" + std::string(kEd25519Pem));
  ASSERT_TRUE(with_text.has_value());
}

TEST(Key, PrivatePemRefusals) {
  auto encrypted = Key::from_private_pem(kEncryptedPem);
  ASSERT_FALSE(encrypted.has_value());
  EXPECT_EQ(encrypted.error().code, Code::kInvalidArgument);
  EXPECT_NE(encrypted.error().message.find("encrypted"), std::string::npos);
  EXPECT_EQ(Key::from_private_pem(kPublicPem).error().code, Code::kInvalidArgument);
  EXPECT_EQ(Key::from_private_pem("").error().code, Code::kInvalidArgument);
  EXPECT_EQ(Key::from_private_pem("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
                .error()
                .code,
            Code::kInvalidArgument);
  // The error queue is left empty for the next caller.
  EXPECT_TRUE(Key::generate(KeyType::kEcP256).has_value());
}

}  // namespace
}  // namespace sigil::crypto
