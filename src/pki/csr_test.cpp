#include "pki/csr.hpp"

#include <gtest/gtest.h>
#include <openssl/objects.h>
#include <openssl/x509.h>

#include <string>

#include "pki/testing.hpp"

namespace sigil::pki {
namespace {

using testing::make_csr_der;
using testing::make_key;

Result<CertificateRequest> parse_for(const char* type, const char* curve = nullptr,
                                     std::size_t bits = 0) {
  auto key = make_key(type, curve, bits);
  EXPECT_TRUE(key != nullptr) << type;
  return CertificateRequest::parse(make_csr_der(key.get()));
}

TEST(CertificateRequest, AcceptsStrongKeys) {
  auto rsa = parse_for("RSA", nullptr, 2048);
  ASSERT_TRUE(rsa.has_value()) << rsa.error().message;
  EXPECT_EQ(rsa->public_key().type(), crypto::KeyType::kRsa);
  EXPECT_EQ(rsa->public_key().bits(), 2048);
  EXPECT_FALSE(rsa->public_key().is_private());

  auto p256 = parse_for("EC", "P-256");
  ASSERT_TRUE(p256.has_value()) << p256.error().message;
  EXPECT_EQ(p256->public_key().type(), crypto::KeyType::kEcP256);

  auto p384 = parse_for("EC", "P-384");
  ASSERT_TRUE(p384.has_value()) << p384.error().message;
  EXPECT_EQ(p384->public_key().type(), crypto::KeyType::kEcP384);

  auto ed = parse_for("ED25519");
  ASSERT_TRUE(ed.has_value()) << ed.error().message;
  EXPECT_EQ(ed->public_key().type(), crypto::KeyType::kEd25519);
}

TEST(CertificateRequest, ExposesTheRequestersKey) {
  auto key = make_key("EC", "P-256");
  auto csr = CertificateRequest::parse(make_csr_der(key.get()));
  ASSERT_TRUE(csr.has_value());
  EXPECT_EQ(EVP_PKEY_eq(csr->public_key().evp_pkey(), key.get()), 1);
}

TEST(CertificateRequest, AcceptsPemWithEitherLabel) {
  auto key = make_key("EC", "P-256");
  std::string der = make_csr_der(key.get());
  auto pem = CertificateRequest::parse(testing::pem_of("CERTIFICATE REQUEST", der));
  ASSERT_TRUE(pem.has_value()) << pem.error().message;
  auto old = CertificateRequest::parse(testing::pem_of("NEW CERTIFICATE REQUEST", der));
  ASSERT_TRUE(old.has_value()) << old.error().message;
}

void expect_refused(const Result<CertificateRequest>& r, const char* reason) {
  ASSERT_FALSE(r.has_value()) << reason;
  EXPECT_EQ(r.error().code, Code::kInvalidArgument);
  EXPECT_NE(r.error().message.find(reason), std::string::npos) << r.error().message;
}

TEST(CertificateRequest, RefusesWeakOrUnsupportedKeys) {
  expect_refused(parse_for("RSA", nullptr, 1024), "weak or unsupported key");
  expect_refused(parse_for("EC", "P-521"), "weak or unsupported key");
  expect_refused(parse_for("EC", "secp256k1"), "weak or unsupported key");
  expect_refused(parse_for("ED448"), "weak or unsupported key");
}

TEST(CertificateRequest, RefusesATamperedSignature) {
  auto key = make_key("EC", "P-256");
  std::string der = make_csr_der(key.get());
  // The signature BIT STRING ends the DER: flip its last byte.
  std::string bad_sig = der;
  bad_sig.back() = static_cast<char>(bad_sig.back() ^ 0x01);
  expect_refused(CertificateRequest::parse(bad_sig), "signature");

  // Change the signed subject ("admin" -> "admim") and keep the signature.
  std::string bad_body = der;
  std::size_t at = bad_body.find("admin");
  ASSERT_NE(at, std::string::npos);
  bad_body[at + 4] = 'm';
  expect_refused(CertificateRequest::parse(bad_body), "signature");

  auto rsa = make_key("RSA", nullptr, 2048);
  std::string rsa_der = make_csr_der(rsa.get());
  rsa_der[rsa_der.size() - 10] = static_cast<char>(rsa_der[rsa_der.size() - 10] ^ 0x80);
  expect_refused(CertificateRequest::parse(rsa_der), "signature");
}

TEST(CertificateRequest, RefusesGarbage) {
  expect_refused(CertificateRequest::parse(""), "empty");
  expect_refused(CertificateRequest::parse("hello"), "not a DER");
  expect_refused(CertificateRequest::parse(std::string(100, '\x30')), "not a DER");
  expect_refused(CertificateRequest::parse("-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n"
                                           "-----END CERTIFICATE REQUEST-----\n"),
                 "not a PEM");
  expect_refused(CertificateRequest::parse(std::string(kMaxCsrBytes + 1, 'a')), "64 KiB");

  auto key = make_key("EC", "P-256");
  std::string der = make_csr_der(key.get());
  expect_refused(CertificateRequest::parse(der + "x"), "trailing");
  expect_refused(CertificateRequest::parse(der.substr(0, der.size() - 1)), "not a DER");
  // A certificate is not a request.
  expect_refused(CertificateRequest::parse(testing::pem_of("CERTIFICATE", der)), "not a PEM");
}

TEST(MakeCsr, ParsesBackWithTheSameKey) {
  struct Case {
    crypto::KeyType type;
    int signature_nid;
  };
  for (Case c : {Case{crypto::KeyType::kEcP256, NID_ecdsa_with_SHA256},
                 Case{crypto::KeyType::kEcP384, NID_ecdsa_with_SHA384},
                 Case{crypto::KeyType::kEd25519, NID_ED25519},
                 Case{crypto::KeyType::kRsa, NID_sha256WithRSAEncryption}}) {
    auto key = crypto::Key::generate(c.type);
    ASSERT_TRUE(key.has_value());
    auto der = pki::make_csr_der(*key, "sigil intermediate CA");
    ASSERT_TRUE(der.has_value()) << der.error().message;
    auto csr = CertificateRequest::parse(*der);
    ASSERT_TRUE(csr.has_value()) << csr.error().message;
    EXPECT_EQ(EVP_PKEY_eq(csr->public_key().evp_pkey(), key->evp_pkey()), 1);
    EXPECT_FALSE(csr->public_key().is_private());

    const unsigned char* p = reinterpret_cast<const unsigned char*>(der->data());
    X509_REQ* req = d2i_X509_REQ(nullptr, &p, static_cast<long>(der->size()));
    ASSERT_NE(req, nullptr);
    EXPECT_EQ(X509_REQ_get_signature_nid(req), c.signature_nid);
    EXPECT_EQ(X509_REQ_get_version(req), 0);
    char cn[80] = {};
    X509_NAME_get_text_by_NID(X509_REQ_get_subject_name(req), NID_commonName, cn, sizeof cn);
    EXPECT_STREQ(cn, "sigil intermediate CA");
    EXPECT_EQ(X509_NAME_entry_count(X509_REQ_get_subject_name(req)), 1);
    X509_REQ_free(req);

    // PEM as `sigil cert` writes it parses too.
    EXPECT_TRUE(CertificateRequest::parse(testing::pem_of("CERTIFICATE REQUEST", *der)));
  }
}

TEST(MakeCsr, RefusesAPublicKey) {
  auto key = crypto::Key::generate(crypto::KeyType::kEcP256);
  ASSERT_TRUE(key.has_value());
  auto pub = key->public_key();
  ASSERT_TRUE(pub.has_value());
  auto r = pki::make_csr_der(*pub, "workload");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, Code::kInvalidArgument);
  EXPECT_NE(r.error().message.find("private key"), std::string::npos);
}

TEST(MakeCsr, RefusesBadCommonNames) {
  auto key = crypto::Key::generate(crypto::KeyType::kEcP256);
  ASSERT_TRUE(key.has_value());
  auto empty = pki::make_csr_der(*key, "");
  ASSERT_FALSE(empty.has_value());
  EXPECT_EQ(empty.error().code, Code::kInvalidArgument);
  auto too_long = pki::make_csr_der(*key, std::string(65, 'a'));
  ASSERT_FALSE(too_long.has_value());
  EXPECT_EQ(too_long.error().code, Code::kInvalidArgument);
  EXPECT_TRUE(pki::make_csr_der(*key, std::string(64, 'a')).has_value());
  auto not_utf8 = pki::make_csr_der(*key, "caf\xe9");
  ASSERT_FALSE(not_utf8.has_value());
  EXPECT_EQ(not_utf8.error().code, Code::kInvalidArgument);
  EXPECT_NE(not_utf8.error().message.find("UTF-8"), std::string::npos);
}

}  // namespace
}  // namespace sigil::pki
