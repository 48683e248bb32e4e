#include "pki/certificate.hpp"

#include <gtest/gtest.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <set>
#include <string>

#include "base/secrets.hpp"
#include "base/testing/temp_dir.hpp"
#include "crypto/digest.hpp"
#include "pki/csr.hpp"
#include "pki/testing.hpp"

namespace sigil::pki {
namespace {

using std::chrono::hours;
using std::chrono::seconds;

// 2026-01-01T00:00:00Z.
const TimePoint kNow = std::chrono::system_clock::from_time_t(1767225600);

std::string serial(unsigned char first) {
  std::string s(kSerialBytes, '\x11');
  s[0] = static_cast<char>(first);
  return s;
}

SpiffeId id(const char* text) {
  return *SpiffeId::parse(text);
}

crypto::Key key(crypto::KeyType type) {
  return std::move(*crypto::Key::generate(type));
}

// root (P-256, pathlen 1) -> intermediate (P-384, pathlen 0) -> leaves.
class IssuerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    crypto::Key root_key = key(crypto::KeyType::kEcP256);
    auto root =
        Issuer::self_signed_root(root_key, {.common_name = "sigil root CA",
                                            .organization = "example",
                                            .trust_domain = *TrustDomain::parse("example.org"),
                                            .path_length = 1,
                                            .not_before = kNow - hours(1),
                                            .not_after = kNow + hours(24 * 3650),
                                            .serial = serial(0x01)});
    ASSERT_TRUE(root.has_value()) << root.error().message;
    root_cert_ = root->certificate();
    auto root_issuer = Issuer::create(*root_cert_, std::move(root_key));
    ASSERT_TRUE(root_issuer.has_value()) << root_issuer.error().message;

    crypto::Key inter_key = key(crypto::KeyType::kEcP384);
    auto inter_pub = inter_key.public_key();
    ASSERT_TRUE(inter_pub.has_value());
    auto inter = root_issuer->issue_intermediate(
        *inter_pub, {.common_name = "sigil intermediate CA",
                     .trust_domain = *TrustDomain::parse("example.org"),
                     .path_length = 0,
                     .not_before = kNow - hours(1),
                     .not_after = kNow + hours(24 * 365),
                     .serial = serial(0x02)});
    ASSERT_TRUE(inter.has_value()) << inter.error().message;
    inter_cert_ = inter->certificate();
    auto inter_issuer = Issuer::create(*inter_cert_, std::move(inter_key));
    ASSERT_TRUE(inter_issuer.has_value()) << inter_issuer.error().message;
    root_.emplace(std::move(*root_issuer));
    inter_.emplace(std::move(*inter_issuer));
  }

  SvidProfile profile() const {
    return {.id = id("spiffe://example.org/ns/prod/sa/payments"),
            .dns_names = {"payments.prod.svc", "payments"},
            .not_before = kNow,
            .not_after = kNow + hours(1),
            .serial = serial(0x83)};
  }

  // The leaf's path through the intermediate to the root, at time at.
  int verify_chain(const Certificate& leaf, TimePoint at, int* error = nullptr) const {
    return testing::verify_path(leaf, {*inter_cert_}, {*root_cert_}, at, error);
  }

  std::optional<Certificate> root_cert_;
  std::optional<Certificate> inter_cert_;
  std::optional<Issuer> root_;
  std::optional<Issuer> inter_;
};

TEST_F(IssuerTest, IssuesAnX509SvidThatSaysExactlyWhatWasAsked) {
  crypto::Key leaf_key = key(crypto::KeyType::kEcP256);
  auto issued = inter_->issue_svid(leaf_key, profile());
  ASSERT_TRUE(issued.has_value()) << issued.error().message;
  const Certificate& cert = issued->certificate();
  X509* x = cert.x509();

  EXPECT_EQ(cert.uri_sans(), std::vector<std::string>{"spiffe://example.org/ns/prod/sa/payments"});
  EXPECT_EQ(cert.dns_sans(), (std::vector<std::string>{"payments.prod.svc", "payments"}));
  EXPECT_FALSE(cert.is_ca());
  EXPECT_EQ(X509_get_version(x), X509_VERSION_3);

  uint32_t flags = X509_get_extension_flags(x);
  ASSERT_TRUE(flags & EXFLAG_KUSAGE);
  EXPECT_EQ(X509_get_key_usage(x), static_cast<uint32_t>(KU_DIGITAL_SIGNATURE));
  ASSERT_TRUE(flags & EXFLAG_XKUSAGE);
  EXPECT_EQ(X509_get_extended_key_usage(x), static_cast<uint32_t>(XKU_SSL_SERVER | XKU_SSL_CLIENT));
  ASSERT_TRUE(flags & EXFLAG_BCONS);
  EXPECT_EQ(X509_EXTENSION_get_critical(X509_get_ext(x, X509_get_ext_by_NID(x, NID_key_usage, -1))),
            1);
  EXPECT_EQ(X509_EXTENSION_get_critical(
                X509_get_ext(x, X509_get_ext_by_NID(x, NID_basic_constraints, -1))),
            1);

  EXPECT_EQ(cert.not_before(), kNow);
  EXPECT_EQ(cert.not_after(), kNow + hours(1));
  EXPECT_EQ(cert.serial(), serial(0x83));
  EXPECT_EQ(issued->serial(), serial(0x83));
  EXPECT_EQ(cert.issuer(), inter_cert_->subject());
  EXPECT_EQ(cert.issuer(), "CN=sigil intermediate CA");
  EXPECT_EQ(issued->fingerprint_sha256(), crypto::sha256(issued->der()));
  EXPECT_EQ(issued->fingerprint_sha256().size(), 32u);

  // The certificate carries the requested key; the CA's key verifies the signature.
  EXPECT_EQ(EVP_PKEY_eq(X509_get0_pubkey(x), leaf_key.evp_pkey()), 1);
  auto inter_pub = inter_cert_->public_key();
  ASSERT_TRUE(inter_pub.has_value());
  EXPECT_EQ(X509_verify(x, inter_pub->evp_pkey()), 1);
  auto root_pub = root_cert_->public_key();
  EXPECT_NE(X509_verify(x, root_pub->evp_pkey()), 1);

  // An AKI that names the intermediate's SKI.
  const ASN1_OCTET_STRING* aki = X509_get0_authority_key_id(x);
  const ASN1_OCTET_STRING* ski = X509_get0_subject_key_id(inter_cert_->x509());
  ASSERT_NE(aki, nullptr);
  ASSERT_NE(ski, nullptr);
  EXPECT_EQ(ASN1_OCTET_STRING_cmp(aki, ski), 0);
}

TEST_F(IssuerTest, ChainVerifiesFromRootThroughIntermediate) {
  crypto::Key leaf_key = key(crypto::KeyType::kEcP256);
  auto issued = inter_->issue_svid(leaf_key, profile());
  ASSERT_TRUE(issued.has_value()) << issued.error().message;
  int error = 0;
  EXPECT_EQ(verify_chain(issued->certificate(), kNow + seconds(60), &error), 1)
      << X509_verify_cert_error_string(error);

  EXPECT_NE(verify_chain(issued->certificate(), kNow + hours(2), &error), 1);
  EXPECT_EQ(error, X509_V_ERR_CERT_HAS_EXPIRED);
  EXPECT_NE(verify_chain(issued->certificate(), kNow - seconds(60), &error), 1);
  EXPECT_EQ(error, X509_V_ERR_CERT_NOT_YET_VALID);
}

TEST_F(IssuerTest, CaCertificatesHaveTheCaProfile) {
  for (const Certificate* ca : {&*root_cert_, &*inter_cert_}) {
    X509* x = ca->x509();
    EXPECT_TRUE(ca->is_ca());
    EXPECT_EQ(X509_get_key_usage(x), static_cast<uint32_t>(KU_KEY_CERT_SIGN | KU_CRL_SIGN));
    EXPECT_EQ(ca->uri_sans(), std::vector<std::string>{"spiffe://example.org"});
    EXPECT_TRUE(X509_get_extension_flags(x) & EXFLAG_BCONS);
  }
  EXPECT_EQ(X509_get_pathlen(root_cert_->x509()), 1);
  EXPECT_EQ(X509_get_pathlen(inter_cert_->x509()), 0);
  EXPECT_EQ(root_cert_->subject(), "CN=sigil root CA,O=example");
  EXPECT_EQ(root_cert_->issuer(), root_cert_->subject());
  EXPECT_TRUE(X509_get_extension_flags(root_cert_->x509()) & EXFLAG_SS);
  EXPECT_EQ(inter_cert_->issuer(), root_cert_->subject());
  EXPECT_EQ(inter_cert_->serial(), serial(0x02));
}

TEST_F(IssuerTest, IssuesForKeysFromCsrs) {
  struct Case {
    const char* type;
    const char* curve;
    std::size_t bits;
  };
  for (Case c : {Case{"EC", "P-256", 0}, Case{"EC", "P-384", 0}, Case{"ED25519", nullptr, 0},
                 Case{"RSA", nullptr, 2048}}) {
    auto pkey = testing::make_key(c.type, c.curve, c.bits);
    auto csr = CertificateRequest::parse(testing::make_csr_der(pkey.get()));
    ASSERT_TRUE(csr.has_value()) << c.type << ": " << csr.error().message;
    auto issued = inter_->issue_svid(csr->public_key(), profile());
    ASSERT_TRUE(issued.has_value()) << c.type << ": " << issued.error().message;
    EXPECT_EQ(verify_chain(issued->certificate(), kNow + seconds(1)), 1) << c.type;
    // Nothing from the CSR's subject ("CN=admin") reaches the certificate.
    EXPECT_EQ(issued->certificate().subject(), "O=sigil") << c.type;
  }
}

TEST_F(IssuerTest, SerialsCarryTheRandomBytesGiven) {
  crypto::Key leaf_key = key(crypto::KeyType::kEcP256);
  std::set<std::string> seen;
  for (int i = 0; i < 8; ++i) {
    SvidProfile p = profile();
    p.serial = random_bytes(kSerialBytes);
    auto issued = inter_->issue_svid(leaf_key, p);
    ASSERT_TRUE(issued.has_value()) << issued.error().message;
    // Big-endian without leading zero octets: the 128 random bits, all kept.
    std::string expected = p.serial.substr(p.serial.find_first_not_of('\0'));
    EXPECT_EQ(issued->serial(), expected);
    seen.insert(issued->serial());
  }
  EXPECT_EQ(seen.size(), 8u);
}

TEST_F(IssuerTest, RefusesBadProfiles) {
  crypto::Key leaf_key = key(crypto::KeyType::kEcP256);
  auto refused = [&](SvidProfile p, const char* reason) {
    auto r = inter_->issue_svid(leaf_key, p);
    ASSERT_FALSE(r.has_value()) << reason;
    EXPECT_EQ(r.error().code, Code::kInvalidArgument);
    EXPECT_NE(r.error().message.find(reason), std::string::npos) << r.error().message;
  };
  SvidProfile p = profile();
  p.id = id("spiffe://example.org");
  refused(p, "needs a path");
  p = profile();
  p.id = id("spiffe://other.org/ns/prod");
  refused(p, "outside this CA's trust domain");
  for (const char* dns :
       {"", "UPPER.example", "-a.example", "a..b", "*.example.org", "a b", "a_b.example"}) {
    p = profile();
    p.dns_names = {dns};
    refused(p, "invalid DNS name");
  }
  p = profile();
  p.dns_names.assign(kMaxDnsNames + 1, "a.example");
  refused(p, "too many DNS names");
  p = profile();
  p.serial = std::string(kSerialBytes - 1, '\x11');
  refused(p, "16 random bytes");
  p.serial = std::string(kSerialBytes, '\0');
  refused(p, "zero");
  p = profile();
  p.not_after = p.not_before;
  refused(p, "notAfter");
  p = profile();
  p.not_after = kNow + hours(24 * 366);
  refused(p, "outlive");
}

TEST_F(IssuerTest, PathLengthIsEnforced) {
  crypto::Key sub_key = key(crypto::KeyType::kEcP256);
  CaProfile sub{.common_name = "too deep",
                .not_before = kNow,
                .not_after = kNow + hours(1),
                .serial = serial(0x05)};
  auto r = inter_->issue_intermediate(sub_key, sub);
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message.find("path length"), std::string::npos);
  // The root (pathlen 1) may issue a CA with pathlen 0, but not one without a limit.
  sub.path_length = 0;
  EXPECT_TRUE(root_->issue_intermediate(sub_key, sub).has_value());
  sub.path_length.reset();
  EXPECT_FALSE(root_->issue_intermediate(sub_key, sub).has_value());
}

TEST_F(IssuerTest, CreateChecksTheCaAndItsKey) {
  // Wrong key for the certificate.
  auto wrong = Issuer::create(*inter_cert_, key(crypto::KeyType::kEcP384));
  ASSERT_FALSE(wrong.has_value());
  EXPECT_NE(wrong.error().message.find("does not match"), std::string::npos);
  // A public key cannot sign.
  auto pub = inter_cert_->public_key();
  ASSERT_TRUE(pub.has_value());
  EXPECT_FALSE(Issuer::create(*inter_cert_, std::move(*pub)).has_value());
  // A CA key must be ECDSA.
  EXPECT_FALSE(Issuer::create(*inter_cert_, key(crypto::KeyType::kEd25519)).has_value());
  // A leaf is no CA.
  crypto::Key leaf_key = key(crypto::KeyType::kEcP256);
  auto leaf = inter_->issue_svid(leaf_key, profile());
  ASSERT_TRUE(leaf.has_value());
  auto not_ca = Issuer::create(leaf->certificate(), std::move(leaf_key));
  ASSERT_FALSE(not_ca.has_value());
  EXPECT_NE(not_ca.error().message.find("not a CA"), std::string::npos);
  // Roots need a name and an EC key.
  crypto::Key ed = key(crypto::KeyType::kEd25519);
  EXPECT_FALSE(Issuer::self_signed_root(ed, {.common_name = "r",
                                             .not_before = kNow,
                                             .not_after = kNow + hours(1),
                                             .serial = serial(1)})
                   .has_value());
  crypto::Key ec = key(crypto::KeyType::kEcP256);
  EXPECT_FALSE(Issuer::self_signed_root(
                   ec, {.not_before = kNow, .not_after = kNow + hours(1), .serial = serial(1)})
                   .has_value());
}

TEST_F(IssuerTest, PemAndDerRoundTrip) {
  crypto::Key leaf_key = key(crypto::KeyType::kEcP256);
  auto issued = inter_->issue_svid(leaf_key, profile());
  ASSERT_TRUE(issued.has_value());
  std::string pem = issued->pem();
  EXPECT_TRUE(pem.starts_with("-----BEGIN CERTIFICATE-----\n"));
  auto again = Certificate::from_pem(pem);
  ASSERT_TRUE(again.has_value()) << again.error().message;
  EXPECT_EQ(again->der(), issued->der());
  auto from_der = Certificate::from_der(issued->der());
  ASSERT_TRUE(from_der.has_value());
  EXPECT_EQ(from_der->fingerprint_sha256(), issued->fingerprint_sha256());

  auto chain = Certificate::chain_from_pem(pem + inter_cert_->pem() + root_cert_->pem());
  ASSERT_TRUE(chain.has_value());
  ASSERT_EQ(chain->size(), 3u);
  EXPECT_EQ((*chain)[1].der(), inter_cert_->der());
  EXPECT_EQ((*chain)[2].der(), root_cert_->der());

  EXPECT_FALSE(Certificate::from_der(issued->der() + "x").has_value());
  EXPECT_FALSE(Certificate::from_der("garbage").has_value());
  EXPECT_FALSE(Certificate::from_pem("no pem here").has_value());
}

// The openssl command, an independent path validator, accepts what was issued.
TEST_F(IssuerTest, OpensslCommandVerifiesTheChain) {
  crypto::Key leaf_key = key(crypto::KeyType::kEcP256);
  auto issued = inter_->issue_svid(leaf_key, profile());
  ASSERT_TRUE(issued.has_value());
  sigil::testing::TempDir dir("sigil-pki");
  ASSERT_FALSE(dir.path().empty());
  auto write = [&](const char* name, const std::string& text) {
    std::ofstream(dir.path() / name) << text;
    return (dir.path() / name).string();
  };
  std::string root = write("root.pem", root_cert_->pem());
  std::string inter = write("inter.pem", inter_cert_->pem());
  std::string leaf = write("leaf.pem", issued->pem());
  std::string out = (dir.path() / "out.txt").string();
  std::string at = std::to_string(std::chrono::system_clock::to_time_t(kNow + seconds(60)));

  std::string verify = "openssl verify -attime " + at + " -purpose sslclient -CAfile " + root +
                       " -untrusted " + inter + " " + leaf + " > " + out + " 2>&1";
  EXPECT_EQ(std::system(verify.c_str()), 0);
  std::string expired = "openssl verify -attime " +
                        std::to_string(std::chrono::system_clock::to_time_t(kNow + hours(2))) +
                        " -CAfile " + root + " -untrusted " + inter + " " + leaf + " > " + out +
                        " 2>&1";
  EXPECT_NE(std::system(expired.c_str()), 0);
  // The intermediate alone, as a trust anchor.
  std::string partial = "openssl verify -attime " + at + " -partial_chain -CAfile " + inter + " " +
                        leaf + " > /dev/null 2>&1";
  EXPECT_EQ(std::system(partial.c_str()), 0);
  // Without the intermediate there is no path to the root.
  std::string no_chain =
      "openssl verify -attime " + at + " -CAfile " + root + " " + leaf + " > /dev/null 2>&1";
  EXPECT_NE(std::system(no_chain.c_str()), 0);

  std::string text_cmd = "openssl x509 -noout -text -in " + leaf + " > " + out + " 2>&1";
  ASSERT_EQ(std::system(text_cmd.c_str()), 0);
  std::ifstream in(out);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  for (const char* want :
       {"URI:spiffe://example.org/ns/prod/sa/payments", "DNS:payments.prod.svc, DNS:payments",
        "X509v3 Key Usage: critical\n                Digital Signature\n",
        "TLS Web Server Authentication, TLS Web Client Authentication",
        "X509v3 Basic Constraints: critical\n                CA:FALSE",
        "Serial Number:\n            83:11:11:11", "Not Before: Jan  1 00:00:00 2026 GMT",
        "Not After : Jan  1 01:00:00 2026 GMT", "Issuer: CN = sigil intermediate CA",
        "Signature Algorithm: ecdsa-with-SHA384", "X509v3 Subject Key Identifier",
        "X509v3 Authority Key Identifier"}) {
    EXPECT_NE(text.find(want), std::string::npos) << want << "\n" << text;
  }
}

TEST_F(IssuerTest, VerifySignedByChecksTheIssuer) {
  crypto::Key leaf_key = key(crypto::KeyType::kEcP256);
  auto leaf = inter_->issue_svid(leaf_key, profile());
  ASSERT_TRUE(leaf.has_value());
  auto ok = [](const Result<void>& r) { return r.has_value(); };
  EXPECT_TRUE(ok(leaf->certificate().verify_signed_by(*inter_cert_)));
  EXPECT_TRUE(ok(inter_cert_->verify_signed_by(*root_cert_)));
  EXPECT_TRUE(ok(root_cert_->verify_signed_by(*root_cert_)));

  auto by_root = leaf->certificate().verify_signed_by(*root_cert_);
  ASSERT_FALSE(by_root.has_value());
  EXPECT_EQ(by_root.error().code, Code::kInvalidArgument);
  EXPECT_NE(by_root.error().message.find("not issued by that CA"), std::string::npos);
  EXPECT_FALSE(ok(root_cert_->verify_signed_by(*inter_cert_)));
  EXPECT_FALSE(ok(inter_cert_->verify_signed_by(*inter_cert_)));
  // A leaf signs nothing, even when it is named as the issuer.
  EXPECT_FALSE(ok(leaf->certificate().verify_signed_by(leaf->certificate())));
}

TEST_F(IssuerTest, VerifySignedByRefusesALookalikeRoot) {
  // Same name as the real root, another key: the intermediate is not its child.
  crypto::Key other_key = key(crypto::KeyType::kEcP256);
  auto lookalike = Issuer::self_signed_root(other_key, {.common_name = "sigil root CA",
                                                        .organization = "example",
                                                        .path_length = 1,
                                                        .not_before = kNow - hours(1),
                                                        .not_after = kNow + hours(24 * 3650),
                                                        .serial = serial(0x09)});
  ASSERT_TRUE(lookalike.has_value()) << lookalike.error().message;
  EXPECT_EQ(lookalike->certificate().subject(), root_cert_->subject());
  auto r = inter_cert_->verify_signed_by(lookalike->certificate());
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, Code::kInvalidArgument);
}

TEST_F(IssuerTest, KeyCertSignAndPathLength) {
  crypto::Key leaf_key = key(crypto::KeyType::kEcP256);
  auto leaf = inter_->issue_svid(leaf_key, profile());
  ASSERT_TRUE(leaf.has_value());
  EXPECT_TRUE(root_cert_->has_key_cert_sign());
  EXPECT_TRUE(inter_cert_->has_key_cert_sign());
  EXPECT_FALSE(leaf->certificate().has_key_cert_sign());
  EXPECT_EQ(root_cert_->path_length(), std::optional<int>(1));
  EXPECT_EQ(inter_cert_->path_length(), std::optional<int>(0));
  EXPECT_EQ(leaf->certificate().path_length(), std::nullopt);

  crypto::Key unlimited_key = key(crypto::KeyType::kEcP256);
  auto unlimited = Issuer::self_signed_root(unlimited_key, {.common_name = "no limit",
                                                            .not_before = kNow,
                                                            .not_after = kNow + hours(1),
                                                            .serial = serial(0x0a)});
  ASSERT_TRUE(unlimited.has_value());
  EXPECT_EQ(unlimited->certificate().path_length(), std::nullopt);
  EXPECT_TRUE(unlimited->certificate().is_ca());
}

}  // namespace
}  // namespace sigil::pki
