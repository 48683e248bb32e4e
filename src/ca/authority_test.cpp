#include "ca/authority.hpp"

#include <gtest/gtest.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>
#include <boost/json/parse.hpp>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "base/base64url.hpp"
#include "base/hex.hpp"
#include "ca/testing/memory_ca_store.hpp"
#include "crypto/aead.hpp"
#include "pki/csr.hpp"
#include "pki/testing.hpp"

namespace sigil::ca {
namespace {

using std::chrono::hours;
using std::chrono::seconds;

namespace json = boost::json;

// 2026-01-01T00:00:00Z.
const TimePoint kNow = std::chrono::system_clock::from_time_t(1767225600);
const std::string kMasterKey(32, '\x42');

pki::TrustDomain domain(const char* name = "example.org") {
  return *pki::TrustDomain::parse(name);
}

crypto::Key workload_key(crypto::KeyType type = crypto::KeyType::kEcP256) {
  return std::move(*crypto::Key::generate(type));
}

IssueRequest request(std::string path = "/ns/prod/sa/payments") {
  return IssueRequest{
      .subject = "payments", .spiffe_path = std::move(path), .dns_names = {"payments.prod.svc"}};
}

std::string serial_of(unsigned char first) {
  std::string s(pki::kSerialBytes, '\x22');
  s[0] = static_cast<char>(first);
  return s;
}

int verify(const pki::Certificate& leaf, const std::vector<pki::Certificate>& intermediates,
           const std::vector<pki::Certificate>& roots, TimePoint at, int* error = nullptr) {
  return pki::testing::verify_path(leaf, intermediates, roots, at, error);
}

class AuthorityTest : public ::testing::Test {
 protected:
  std::unique_ptr<CertificateAuthority> load(std::string_view master_key = kMasterKey) {
    auto ca = CertificateAuthority::load(store_, store_, master_key);
    EXPECT_TRUE(ca.has_value()) << ca.error().message;
    return ca ? std::move(*ca) : nullptr;
  }

  std::unique_ptr<CertificateAuthority> initialised(CaOptions options = {}) {
    auto ca = load();
    if (!ca) return nullptr;
    auto done = ca->initialise(domain(), options, kNow);
    EXPECT_TRUE(done.has_value()) << done.error().message;
    return ca;
  }

  // Verifies an issued chain against the authority's own trust bundle.
  int verify_issued(const CertificateAuthority& ca, const IssuedSvid& svid, TimePoint at,
                    int* error = nullptr) {
    auto chain = pki::Certificate::chain_from_pem(svid.chain_pem);
    EXPECT_TRUE(chain.has_value());
    if (!chain || chain->size() != 2) return 0;
    auto roots = pki::Certificate::chain_from_pem(ca.trust_bundle_pem(at));
    EXPECT_TRUE(roots.has_value());
    if (!roots) return 0;
    return verify((*chain)[0], {(*chain)[1]}, *roots, at, error);
  }

  std::string state_of(const CertificateAuthority& ca, std::string_view id, TimePoint at) {
    for (const auto& info : ca.list(at)) {
      if (info.record.id == id) return info.state;
    }
    return "missing";
  }

  testing::MemoryCaStore store_;
};

void expect_id(const std::string& id, const std::string& prefix) {
  ASSERT_TRUE(id.starts_with(prefix)) << id;
  const std::string digits = id.substr(prefix.size());
  EXPECT_EQ(digits.size(), 16u) << id;
  EXPECT_EQ(digits.find_first_not_of("0123456789abcdef"), std::string::npos) << id;
}

// ---- initialise ----

TEST_F(AuthorityTest, InitialiseMakesARootAndAnIntermediate) {
  auto ca = initialised();
  ASSERT_NE(ca, nullptr);
  EXPECT_TRUE(ca->ready(kNow));
  ASSERT_TRUE(ca->trust_domain().has_value());
  EXPECT_EQ(ca->trust_domain()->name(), "example.org");

  auto infos = ca->list(kNow);
  ASSERT_EQ(infos.size(), 2u);
  const CaKeyInfo* root = nullptr;
  const CaKeyInfo* inter = nullptr;
  for (const auto& info : infos) {
    EXPECT_TRUE(info.record.sealed_private_key.empty());
    (info.record.kind == CaKeyKind::kRoot ? root : inter) = &info;
  }
  ASSERT_NE(root, nullptr);
  ASSERT_NE(inter, nullptr);
  expect_id(root->record.id, "root-");
  expect_id(inter->record.id, "int-");
  EXPECT_EQ(root->state, "root");
  EXPECT_EQ(inter->state, "active");
  EXPECT_EQ(inter->record.parent_id, root->record.id);
  EXPECT_TRUE(root->record.parent_id.empty());
  EXPECT_EQ(root->record.not_after, kNow + CaOptions{}.root_lifetime);
  EXPECT_EQ(inter->record.not_after, kNow + CaOptions{}.intermediate_lifetime);

  auto root_cert = pki::Certificate::from_pem(root->record.certificate_pem);
  auto inter_cert = pki::Certificate::from_pem(inter->record.certificate_pem);
  ASSERT_TRUE(root_cert.has_value());
  ASSERT_TRUE(inter_cert.has_value());
  EXPECT_EQ(root_cert->subject(), "CN=sigil root CA");
  EXPECT_EQ(inter_cert->subject(), "CN=sigil intermediate CA");
  EXPECT_EQ(inter_cert->issuer(), "CN=sigil root CA");
  EXPECT_EQ(root_cert->uri_sans(), std::vector<std::string>{"spiffe://example.org"});
  EXPECT_EQ(inter_cert->uri_sans(), std::vector<std::string>{"spiffe://example.org"});
  EXPECT_EQ(root_cert->path_length(), std::optional<int>(1));
  EXPECT_EQ(inter_cert->path_length(), std::optional<int>(0));
  EXPECT_TRUE(inter_cert->verify_signed_by(*root_cert).has_value());
  EXPECT_EQ(root_cert->serial().size(), pki::kSerialBytes);

  // The stored keys are sealed under the master key, bound to their ids.
  for (const auto& record : store_.keys()) {
    ASSERT_FALSE(record.sealed_private_key.empty());
    auto der = crypto::open(kMasterKey, record.sealed_private_key, "ca_key:" + record.id);
    ASSERT_TRUE(der.has_value()) << record.id;
    EXPECT_TRUE(crypto::Key::from_private_pkcs8(*der).has_value());
    EXPECT_FALSE(crypto::open(kMasterKey, record.sealed_private_key, "ca_key:other").has_value());
  }
}

TEST_F(AuthorityTest, OrganizationNamesTheCaCertificates) {
  auto ca = initialised(CaOptions{.organization = "Example Corp"});
  ASSERT_NE(ca, nullptr);
  for (const auto& info : ca->list(kNow)) {
    auto cert = pki::Certificate::from_pem(info.record.certificate_pem);
    ASSERT_TRUE(cert.has_value());
    EXPECT_TRUE(cert->subject().ends_with(",O=Example Corp")) << cert->subject();
  }
}

TEST_F(AuthorityTest, InitialiseTwiceIsRefused) {
  auto ca = initialised();
  ASSERT_NE(ca, nullptr);
  const auto before = store_.keys();
  auto again = ca->initialise(domain("other.org"), {}, kNow + hours(1));
  ASSERT_FALSE(again.has_value());
  EXPECT_EQ(again.error().code, Code::kFailedPrecondition);
  auto external = ca->initialise_external(domain(), {}, kNow + hours(1));
  ASSERT_FALSE(external.has_value());
  EXPECT_EQ(external.error().code, Code::kFailedPrecondition);
  EXPECT_EQ(store_.keys().size(), before.size());
  EXPECT_EQ(ca->trust_domain()->name(), "example.org");
}

TEST_F(AuthorityTest, InitialiseByAnotherInstanceIsRefused) {
  // Both loaded before either initialised: the store decides.
  auto first = load();
  auto second = load();
  ASSERT_NE(first, nullptr);
  ASSERT_NE(second, nullptr);
  ASSERT_TRUE(first->initialise(domain(), {}, kNow).has_value());
  auto late = second->initialise(domain("other.org"), {}, kNow);
  ASSERT_FALSE(late.has_value());
  EXPECT_EQ(late.error().code, Code::kFailedPrecondition);
  EXPECT_EQ(store_.keys().size(), 2u);
  // reload() brings the second instance up to date.
  ASSERT_TRUE(second->reload().has_value());
  EXPECT_TRUE(second->ready(kNow));
}

TEST_F(AuthorityTest, BadOptionsAreRefused) {
  auto ca = load();
  ASSERT_NE(ca, nullptr);
  auto ed = ca->initialise(domain(), CaOptions{.key_type = crypto::KeyType::kEd25519}, kNow);
  ASSERT_FALSE(ed.has_value());
  EXPECT_EQ(ed.error().code, Code::kInvalidArgument);
  auto rsa = ca->initialise(domain(), CaOptions{.key_type = crypto::KeyType::kRsa}, kNow);
  ASSERT_FALSE(rsa.has_value());
  EXPECT_EQ(rsa.error().code, Code::kInvalidArgument);
  auto outlives = ca->initialise(
      domain(), CaOptions{.root_lifetime = hours(24), .intermediate_lifetime = hours(48)}, kNow);
  ASSERT_FALSE(outlives.has_value());
  EXPECT_EQ(outlives.error().code, Code::kInvalidArgument);
  auto zero = ca->initialise(domain(), CaOptions{.intermediate_lifetime = seconds(0)}, kNow);
  ASSERT_FALSE(zero.has_value());
  EXPECT_EQ(zero.error().code, Code::kInvalidArgument);
  EXPECT_FALSE(ca->trust_domain().has_value());
  EXPECT_TRUE(store_.keys().empty());
}

TEST_F(AuthorityTest, StoreFailureLeavesItUninitialised) {
  auto ca = load();
  ASSERT_NE(ca, nullptr);
  store_.fail_next();
  auto r = ca->initialise(domain(), {}, kNow);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, Code::kUnavailable);
  EXPECT_FALSE(ca->ready(kNow));
  EXPECT_TRUE(ca->initialise(domain(), {}, kNow).has_value());
}

TEST_F(AuthorityTest, UninitialisedIssuesNothing) {
  auto ca = load();
  ASSERT_NE(ca, nullptr);
  EXPECT_FALSE(ca->ready(kNow));
  EXPECT_FALSE(ca->trust_domain().has_value());
  EXPECT_TRUE(ca->list(kNow).empty());
  EXPECT_EQ(ca->trust_bundle_pem(kNow), "");
  EXPECT_TRUE(ca->trusted_certificates(kNow).empty());
  auto key = workload_key();
  auto issued = ca->issue(key, request(), kNow);
  ASSERT_FALSE(issued.has_value());
  EXPECT_EQ(issued.error().code, Code::kFailedPrecondition);
  auto rotated = ca->rotate_intermediate({}, kNow);
  ASSERT_FALSE(rotated.has_value());
  EXPECT_EQ(rotated.error().code, Code::kFailedPrecondition);
  auto requested = ca->request_intermediate({}, kNow);
  ASSERT_FALSE(requested.has_value());
  EXPECT_EQ(requested.error().code, Code::kFailedPrecondition);
  auto imported = ca->import_intermediate("", "", kNow);
  ASSERT_FALSE(imported.has_value());
  EXPECT_EQ(imported.error().code, Code::kFailedPrecondition);
}

// ---- issue ----

TEST_F(AuthorityTest, IssuesAnSvidAndRecordsIt) {
  auto ca = initialised();
  ASSERT_NE(ca, nullptr);
  auto key = workload_key();
  auto svid = ca->issue(key, request(), kNow + seconds(30));
  ASSERT_TRUE(svid.has_value()) << svid.error().message;
  const pki::Certificate& cert = svid->certificate;
  EXPECT_EQ(cert.uri_sans(), std::vector<std::string>{"spiffe://example.org/ns/prod/sa/payments"});
  EXPECT_EQ(cert.dns_sans(), std::vector<std::string>{"payments.prod.svc"});
  EXPECT_FALSE(cert.is_ca());
  auto cert_key = cert.public_key();
  ASSERT_TRUE(cert_key.has_value());
  EXPECT_EQ(*cert_key->spki_der(), *key.spki_der());
  EXPECT_EQ(cert.not_before(), kNow + seconds(30));
  EXPECT_EQ(cert.not_after(), kNow + seconds(30) + kDefaultCertificateLifetime);

  // The chain: the leaf, then the intermediate that signed it; it verifies against the
  // trust bundle's roots only.
  auto chain = pki::Certificate::chain_from_pem(svid->chain_pem);
  ASSERT_TRUE(chain.has_value());
  ASSERT_EQ(chain->size(), 2u);
  EXPECT_EQ((*chain)[0].der(), cert.der());
  EXPECT_TRUE(cert.verify_signed_by((*chain)[1]).has_value());
  int error = 0;
  EXPECT_EQ(verify_issued(*ca, *svid, kNow + seconds(60), &error), 1)
      << X509_verify_cert_error_string(error);
  EXPECT_NE(verify_issued(*ca, *svid, kNow + hours(2), &error), 1);
  EXPECT_EQ(error, X509_V_ERR_CERT_HAS_EXPIRED);

  const CertificateRecord& record = svid->record;
  EXPECT_EQ(record.serial_hex, hex_encode(cert.serial()));
  EXPECT_EQ(record.serial_hex.size(), 32u);
  EXPECT_EQ(record.spiffe_id, "spiffe://example.org/ns/prod/sa/payments");
  EXPECT_EQ(record.subject, "payments");
  EXPECT_EQ(record.dns_names, std::vector<std::string>{"payments.prod.svc"});
  EXPECT_EQ(record.fingerprint_hex, hex_encode(cert.fingerprint_sha256()));
  EXPECT_EQ(record.not_before, cert.not_before());
  EXPECT_EQ(record.not_after, cert.not_after());
  EXPECT_EQ(record.issued_at, kNow + seconds(30));
  std::string active_id;
  for (const auto& info : ca->list(kNow)) {
    if (info.state == "active") active_id = info.record.id;
  }
  EXPECT_EQ(record.issuer_id, active_id);

  auto stored = store_.get_certificate(record.serial_hex);
  ASSERT_TRUE(stored.has_value());
  EXPECT_EQ(stored->fingerprint_hex, record.fingerprint_hex);
  EXPECT_EQ(stored->subject, "payments");
}

TEST_F(AuthorityTest, IssuesForEveryCsrKeyType) {
  auto ca = initialised();
  ASSERT_NE(ca, nullptr);
  for (auto type : {crypto::KeyType::kEcP256, crypto::KeyType::kEcP384, crypto::KeyType::kEd25519,
                    crypto::KeyType::kRsa}) {
    auto key = workload_key(type);
    auto csr = pki::CertificateRequest::parse(*pki::make_csr_der(key, "workload"));
    ASSERT_TRUE(csr.has_value());
    auto svid = ca->issue(csr->public_key(), request(), kNow);
    ASSERT_TRUE(svid.has_value()) << svid.error().message;
    EXPECT_EQ(verify_issued(*ca, *svid, kNow + seconds(1)), 1);
  }
  EXPECT_EQ(store_.certificate_count(), 4u);
}

TEST_F(AuthorityTest, LifetimeIsClamped) {
  auto ca = initialised();
  ASSERT_NE(ca, nullptr);
  auto key = workload_key();
  auto lifetime_of = [&](Seconds asked, TimePoint at) -> Seconds {
    IssueRequest r = request();
    r.lifetime = asked;
    auto svid = ca->issue(key, r, at);
    EXPECT_TRUE(svid.has_value()) << svid.error().message;
    if (!svid) return Seconds{-1};
    return std::chrono::duration_cast<Seconds>(svid->certificate.not_after() -
                                               svid->certificate.not_before());
  };
  EXPECT_EQ(lifetime_of(hours(48), kNow), kMaxCertificateLifetime);
  EXPECT_EQ(lifetime_of(hours(24), kNow), hours(24));
  EXPECT_EQ(lifetime_of(seconds(10), kNow), kMinCertificateLifetime);
  EXPECT_EQ(lifetime_of(seconds(0), kNow), kMinCertificateLifetime);
  EXPECT_EQ(lifetime_of(seconds(-5), kNow), kMinCertificateLifetime);
  EXPECT_EQ(lifetime_of(seconds(600), kNow), seconds(600));

  // Never past the intermediate's notAfter.
  const TimePoint inter_end = kNow + CaOptions{}.intermediate_lifetime;
  const TimePoint late = inter_end - hours(2);
  EXPECT_EQ(lifetime_of(hours(24), late), hours(2));
  IssueRequest r = request();
  r.lifetime = hours(24);
  auto svid = ca->issue(key, r, late);
  ASSERT_TRUE(svid.has_value());
  EXPECT_EQ(svid->certificate.not_after(), inter_end);

  // Less than a minute left: nothing worth issuing.
  auto too_late = ca->issue(key, request(), inter_end - seconds(30));
  ASSERT_FALSE(too_late.has_value());
  EXPECT_EQ(too_late.error().code, Code::kFailedPrecondition);
  // Past it: not ready.
  EXPECT_FALSE(ca->ready(inter_end + seconds(1)));
  auto expired = ca->issue(key, request(), inter_end + seconds(1));
  ASSERT_FALSE(expired.has_value());
  EXPECT_EQ(expired.error().code, Code::kFailedPrecondition);
}

TEST_F(AuthorityTest, RefusesAnEmptySubject) {
  auto ca = initialised();
  ASSERT_NE(ca, nullptr);
  IssueRequest r = request();
  r.subject.clear();
  auto svid = ca->issue(workload_key(), r, kNow);
  ASSERT_FALSE(svid.has_value());
  EXPECT_EQ(svid.error().code, Code::kInvalidArgument);
}

TEST_F(AuthorityTest, RefusesAnEmptyPath) {
  auto ca = initialised();
  ASSERT_NE(ca, nullptr);
  auto svid = ca->issue(workload_key(), request(""), kNow);
  ASSERT_FALSE(svid.has_value());
  EXPECT_EQ(svid.error().code, Code::kInvalidArgument);
}

TEST_F(AuthorityTest, RefusesABadPath) {
  auto ca = initialised();
  ASSERT_NE(ca, nullptr);
  for (const char* path : {"no-slash", "/a//b", "/a/../b", "/a?b", "/", "/caf\xc3\xa9"}) {
    auto svid = ca->issue(workload_key(), request(path), kNow);
    ASSERT_FALSE(svid.has_value()) << path;
    EXPECT_EQ(svid.error().code, Code::kInvalidArgument) << path;
  }
  EXPECT_EQ(store_.certificate_count(), 0u);
}

TEST_F(AuthorityTest, RefusesABadDnsName) {
  auto ca = initialised();
  ASSERT_NE(ca, nullptr);
  IssueRequest r = request();
  r.dns_names = {"*.example.org"};
  auto svid = ca->issue(workload_key(), r, kNow);
  ASSERT_FALSE(svid.has_value());
  EXPECT_EQ(svid.error().code, Code::kInvalidArgument);
  EXPECT_EQ(store_.certificate_count(), 0u);
}

TEST_F(AuthorityTest, UnrecordedCertificateIsNotReturned) {
  auto ca = initialised();
  ASSERT_NE(ca, nullptr);
  store_.fail_next();
  auto svid = ca->issue(workload_key(), request(), kNow);
  ASSERT_FALSE(svid.has_value());
  EXPECT_EQ(svid.error().code, Code::kUnavailable);
}

// ---- rotation ----

TEST_F(AuthorityTest, RotationHandsOverSigningAndKeepsOldCertificatesValid) {
  auto ca = initialised();
  ASSERT_NE(ca, nullptr);
  auto key = workload_key();
  auto before = ca->issue(key, request(), kNow);
  ASSERT_TRUE(before.has_value());
  const std::string old_id = before->record.issuer_id;
  const std::string bundle = ca->trust_bundle_pem(kNow);

  const TimePoint later = kNow + seconds(600);
  auto rotated = ca->rotate_intermediate({}, later);
  ASSERT_TRUE(rotated.has_value()) << rotated.error().message;
  expect_id(rotated->record.id, "int-");
  EXPECT_EQ(rotated->state, "active");
  EXPECT_TRUE(rotated->record.sealed_private_key.empty());
  EXPECT_EQ(state_of(*ca, old_id, later), "rotated");
  EXPECT_EQ(state_of(*ca, old_id, later - seconds(1)), "active");

  auto after = ca->issue(key, request(), later);
  ASSERT_TRUE(after.has_value());
  EXPECT_EQ(after->record.issuer_id, rotated->record.id);
  EXPECT_NE(after->chain_pem, before->chain_pem);

  // The roots did not change; both chains verify against them.
  EXPECT_EQ(ca->trust_bundle_pem(later), bundle);
  EXPECT_EQ(verify_issued(*ca, *before, later + seconds(1)), 1);
  EXPECT_EQ(verify_issued(*ca, *after, later + seconds(1)), 1);
  EXPECT_EQ(ca->trusted_certificates(later).size(), 3u);
  EXPECT_EQ(ca->list(later).size(), 3u);
}

TEST_F(AuthorityTest, RotationInTheSameSecondWaitsOneSecond) {
  auto ca = initialised();
  ASSERT_NE(ca, nullptr);
  auto rotated = ca->rotate_intermediate({}, kNow);
  ASSERT_TRUE(rotated.has_value()) << rotated.error().message;
  EXPECT_EQ(rotated->state, "next");
  EXPECT_EQ(rotated->record.activates_at, kNow + seconds(1));
  auto key = workload_key();
  auto now_svid = ca->issue(key, request(), kNow);
  ASSERT_TRUE(now_svid.has_value());
  EXPECT_NE(now_svid->record.issuer_id, rotated->record.id);
  auto next_svid = ca->issue(key, request(), kNow + seconds(1));
  ASSERT_TRUE(next_svid.has_value());
  EXPECT_EQ(next_svid->record.issuer_id, rotated->record.id);
  EXPECT_EQ(state_of(*ca, now_svid->record.issuer_id, kNow + seconds(1)), "rotated");
}

TEST_F(AuthorityTest, RotatesByItselfAtTwoThirdsOfTheIntermediatesLife) {
  auto ca = initialised();
  ASSERT_NE(ca, nullptr);
  // CaOptions' default intermediate lifetime is a year: due after about eight months.
  const TimePoint due = kNow + seconds(243LL * 86400 + 8 * 3600);
  auto early = ca->rotate_if_due({}, due - seconds(86400));
  ASSERT_TRUE(early.has_value()) << early.error().message;
  EXPECT_FALSE(early->has_value());
  EXPECT_EQ(ca->list(kNow).size(), 2u);

  auto rotated = ca->rotate_if_due({}, due);
  ASSERT_TRUE(rotated.has_value()) << rotated.error().message;
  ASSERT_TRUE(rotated->has_value());
  EXPECT_EQ((*rotated)->state, "active");
  auto key = workload_key();
  auto svid = ca->issue(key, request(), due);
  ASSERT_TRUE(svid.has_value());
  EXPECT_EQ(svid->record.issuer_id, (*rotated)->record.id);

  // The new one is young: nothing more is due.
  auto again = ca->rotate_if_due({}, due + seconds(1));
  ASSERT_TRUE(again.has_value());
  EXPECT_FALSE(again->has_value());
}

TEST_F(AuthorityTest, ListShowsExpiredKeys) {
  auto ca = initialised(CaOptions{.intermediate_lifetime = hours(48)});
  ASSERT_NE(ca, nullptr);
  std::string first;
  for (const auto& info : ca->list(kNow)) {
    if (info.record.kind == CaKeyKind::kIntermediate) first = info.record.id;
  }
  auto rotated =
      ca->rotate_intermediate(CaOptions{.intermediate_lifetime = hours(96)}, kNow + hours(24));
  ASSERT_TRUE(rotated.has_value());
  EXPECT_EQ(state_of(*ca, first, kNow + hours(49)), "expired");
  EXPECT_EQ(state_of(*ca, rotated->record.id, kNow + hours(49)), "active");
  EXPECT_EQ(ca->trusted_certificates(kNow + hours(49)).size(), 2u);
}

TEST_F(AuthorityTest, ANewInstanceLoadsTheSameState) {
  auto ca = initialised();
  ASSERT_NE(ca, nullptr);
  ASSERT_TRUE(ca->rotate_intermediate({}, kNow + hours(1)).has_value());
  auto other = load();
  ASSERT_NE(other, nullptr);
  EXPECT_TRUE(other->ready(kNow + hours(1)));
  EXPECT_EQ(other->trust_bundle_pem(kNow), ca->trust_bundle_pem(kNow));
  EXPECT_EQ(other->spiffe_bundle_json(kNow), ca->spiffe_bundle_json(kNow));
  auto a = other->list(kNow + hours(1));
  auto b = ca->list(kNow + hours(1));
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].record.id, b[i].record.id);
    EXPECT_EQ(a[i].state, b[i].state);
  }
}

// ---- the master key ----

TEST_F(AuthorityTest, WrongMasterKeyIsRefusedAtLoad) {
  ASSERT_NE(initialised(), nullptr);
  auto wrong = CertificateAuthority::load(store_, store_, std::string(32, '\x43'));
  ASSERT_FALSE(wrong.has_value());
  EXPECT_EQ(wrong.error().code, Code::kFailedPrecondition);
  EXPECT_NE(wrong.error().message.find("master key does not open CA key"), std::string::npos);
}

TEST_F(AuthorityTest, ShortMasterKeyIsRefused) {
  auto r = CertificateAuthority::load(store_, store_, std::string(31, '\x42'));
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, Code::kInvalidArgument);
}

TEST_F(AuthorityTest, SealedKeyMovedToAnotherIdIsRefused) {
  ASSERT_NE(initialised(), nullptr);
  auto keys = store_.keys();
  ASSERT_EQ(keys.size(), 2u);
  std::swap(keys[0].sealed_private_key, keys[1].sealed_private_key);
  ASSERT_TRUE(store_.update_ca_key(keys[0]).has_value());
  auto r = CertificateAuthority::load(store_, store_, kMasterKey);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, Code::kFailedPrecondition);
  EXPECT_NE(r.error().message.find("master key does not open CA key"), std::string::npos);
}

TEST_F(AuthorityTest, CertificateForAnotherKeyIsRefusedAtLoad) {
  ASSERT_NE(initialised(), nullptr);
  auto keys = store_.keys();
  ASSERT_EQ(keys.size(), 2u);
  std::swap(keys[0].certificate_pem, keys[1].certificate_pem);
  ASSERT_TRUE(store_.update_ca_key(keys[0]).has_value());
  ASSERT_TRUE(store_.update_ca_key(keys[1]).has_value());
  auto r = CertificateAuthority::load(store_, store_, kMasterKey);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, Code::kFailedPrecondition);
}

// ---- an external root ----

// A root kept elsewhere ("offline"), made here with pki, signing the CSRs sigil makes.
class ExternalRootTest : public AuthorityTest {
 protected:
  void SetUp() override {
    root_ = make_root(crypto::KeyType::kEcP256, std::nullopt, 0x01);
    ca_ = load();
    ASSERT_NE(ca_, nullptr);
    auto csr = ca_->initialise_external(domain(), {}, kNow);
    ASSERT_TRUE(csr.has_value()) << csr.error().message;
    csr_pem_ = *csr;
  }

  static std::optional<pki::Issuer> make_root(crypto::KeyType type,
                                              std::optional<pki::TrustDomain> td,
                                              unsigned char serial, int path_length = 1,
                                              TimePoint not_before = kNow - hours(24)) {
    crypto::Key key = workload_key(type);
    auto root = pki::Issuer::self_signed_root(key, {.common_name = "Example Offline Root",
                                                    .organization = "Example Corp",
                                                    .trust_domain = std::move(td),
                                                    .path_length = path_length,
                                                    .not_before = not_before,
                                                    .not_after = kNow + hours(24 * 3650),
                                                    .serial = serial_of(serial)});
    EXPECT_TRUE(root.has_value()) << root.error().message;
    auto issuer = pki::Issuer::create(root->certificate(), std::move(key));
    EXPECT_TRUE(issuer.has_value());
    return std::move(*issuer);
  }

  // The external root's certificate for the CSR's key.
  static std::string sign(const pki::Issuer& root, const std::string& csr_pem,
                          std::optional<pki::TrustDomain> td = domain(),
                          TimePoint not_before = kNow - hours(1),
                          TimePoint not_after = kNow + hours(24 * 365)) {
    auto csr = pki::CertificateRequest::parse(csr_pem);
    EXPECT_TRUE(csr.has_value()) << csr.error().message;
    auto cert = root.issue_intermediate(csr->public_key(), {.common_name = "sigil intermediate",
                                                            .trust_domain = std::move(td),
                                                            .path_length = 0,
                                                            .not_before = not_before,
                                                            .not_after = not_after,
                                                            .serial = serial_of(0x31)});
    EXPECT_TRUE(cert.has_value()) << cert.error().message;
    return cert ? cert->pem() : std::string();
  }

  void expect_refused(const Result<CaKeyInfo>& r, std::string_view reason) {
    ASSERT_FALSE(r.has_value()) << reason;
    EXPECT_EQ(r.error().code, Code::kInvalidArgument) << r.error().message;
    EXPECT_NE(r.error().message.find(reason), std::string::npos) << r.error().message;
    // Nothing changed: the key still waits.
    EXPECT_FALSE(ca_->ready(kNow));
    EXPECT_EQ(ca_->list(kNow).size(), 1u);
    EXPECT_EQ(ca_->list(kNow)[0].state, "pending");
  }

  std::optional<pki::Issuer> root_;
  std::unique_ptr<CertificateAuthority> ca_;
  std::string csr_pem_;
};

TEST_F(ExternalRootTest, PendingUntilImported) {
  EXPECT_TRUE(csr_pem_.starts_with("-----BEGIN CERTIFICATE REQUEST-----\n"));
  auto csr = pki::CertificateRequest::parse(csr_pem_);
  ASSERT_TRUE(csr.has_value()) << csr.error().message;
  EXPECT_EQ(csr->public_key().type(), crypto::KeyType::kEcP256);
  EXPECT_FALSE(ca_->ready(kNow));
  EXPECT_EQ(ca_->trust_domain()->name(), "example.org");
  auto infos = ca_->list(kNow);
  ASSERT_EQ(infos.size(), 1u);
  EXPECT_EQ(infos[0].state, "pending");
  expect_id(infos[0].record.id, "int-");
  EXPECT_TRUE(infos[0].record.certificate_pem.empty());
  EXPECT_EQ(ca_->trust_bundle_pem(kNow), "");
  auto issued = ca_->issue(workload_key(), request(), kNow);
  ASSERT_FALSE(issued.has_value());
  EXPECT_EQ(issued.error().code, Code::kFailedPrecondition);
}

TEST_F(ExternalRootTest, ImportActivatesTheIntermediate) {
  const std::string root_pem = root_->certificate().pem();
  auto imported = ca_->import_intermediate(sign(*root_, csr_pem_), root_pem, kNow);
  ASSERT_TRUE(imported.has_value()) << imported.error().message;
  EXPECT_EQ(imported->state, "active");
  EXPECT_TRUE(ca_->ready(kNow));
  EXPECT_EQ(ca_->trust_bundle_pem(kNow), root_pem);

  auto infos = ca_->list(kNow);
  ASSERT_EQ(infos.size(), 2u);
  const CaKeyInfo* root = nullptr;
  for (const auto& info : infos) {
    if (info.record.kind == CaKeyKind::kRoot) root = &info;
  }
  ASSERT_NE(root, nullptr);
  EXPECT_EQ(root->state, "root");
  EXPECT_EQ(imported->record.parent_id, root->record.id);
  // sigil never holds the external root's key.
  for (const auto& record : store_.keys()) {
    if (record.kind == CaKeyKind::kRoot) {
      EXPECT_TRUE(record.sealed_private_key.empty());
    }
  }

  auto svid = ca_->issue(workload_key(), request(), kNow);
  ASSERT_TRUE(svid.has_value()) << svid.error().message;
  EXPECT_EQ(svid->record.issuer_id, imported->record.id);
  int error = 0;
  EXPECT_EQ(verify_issued(*ca_, *svid, kNow + seconds(1), &error), 1)
      << X509_verify_cert_error_string(error);

  // sigil does not sign intermediates for a root it does not hold.
  auto rotated = ca_->rotate_intermediate({}, kNow + hours(1));
  ASSERT_FALSE(rotated.has_value());
  EXPECT_EQ(rotated.error().code, Code::kFailedPrecondition);
  // And nothing is waiting any more.
  auto again = ca_->import_intermediate(sign(*root_, csr_pem_), root_pem, kNow);
  ASSERT_FALSE(again.has_value());
  EXPECT_EQ(again.error().code, Code::kFailedPrecondition);
}

TEST_F(ExternalRootTest, RequestIntermediateRotatesUnderTheSameRoot) {
  const std::string root_pem = root_->certificate().pem();
  auto first = ca_->import_intermediate(sign(*root_, csr_pem_), root_pem, kNow);
  ASSERT_TRUE(first.has_value()) << first.error().message;
  const TimePoint later = kNow + hours(24);
  auto csr = ca_->request_intermediate(CaOptions{.key_type = crypto::KeyType::kEcP384}, later);
  ASSERT_TRUE(csr.has_value()) << csr.error().message;
  EXPECT_NE(*csr, csr_pem_);
  // Until the new one is imported, the first one signs.
  EXPECT_TRUE(ca_->ready(later));
  EXPECT_EQ(ca_->list(later).size(), 3u);

  auto second = ca_->import_intermediate(sign(*root_, *csr), root_pem, later);
  ASSERT_TRUE(second.has_value()) << second.error().message;
  EXPECT_EQ(second->record.parent_id, first->record.parent_id);
  EXPECT_EQ(state_of(*ca_, first->record.id, later), "rotated");
  EXPECT_EQ(second->state, "active");
  auto svid = ca_->issue(workload_key(), request(), later);
  ASSERT_TRUE(svid.has_value());
  EXPECT_EQ(svid->record.issuer_id, second->record.id);
  EXPECT_EQ(verify_issued(*ca_, *svid, later + seconds(1)), 1);
  // Still one root.
  EXPECT_EQ(ca_->list(later).size(), 3u);
}

TEST_F(ExternalRootTest, NeverRotatesByItself) {
  auto imported =
      ca_->import_intermediate(sign(*root_, csr_pem_), root_->certificate().pem(), kNow);
  ASSERT_TRUE(imported.has_value()) << imported.error().message;
  auto due = ca_->rotate_if_due({}, kNow + seconds(300LL * 86400));
  ASSERT_TRUE(due.has_value()) << due.error().message;
  EXPECT_FALSE(due->has_value());
}

TEST_F(ExternalRootTest, RequestIntermediateIsRefusedWithSigilsOwnRoot) {
  testing::MemoryCaStore other_store;
  auto own = CertificateAuthority::load(other_store, other_store, kMasterKey);
  ASSERT_TRUE(own.has_value());
  ASSERT_TRUE((*own)->initialise(domain(), {}, kNow).has_value());
  auto csr = (*own)->request_intermediate({}, kNow + hours(1));
  ASSERT_FALSE(csr.has_value());
  EXPECT_EQ(csr.error().code, Code::kFailedPrecondition);
}

TEST_F(ExternalRootTest, RefusesACertificateForAnotherKey) {
  auto other = pki::make_csr_der(workload_key(), "someone else");
  ASSERT_TRUE(other.has_value());
  expect_refused(
      ca_->import_intermediate(sign(*root_, pki::pem_encode("CERTIFICATE REQUEST", *other)),
                               root_->certificate().pem(), kNow),
      "not for a pending intermediate key");
}

TEST_F(ExternalRootTest, RefusesANonCa) {
  auto csr = pki::CertificateRequest::parse(csr_pem_);
  ASSERT_TRUE(csr.has_value());
  auto root_with_td = make_root(crypto::KeyType::kEcP256, domain(), 0x02);
  auto leaf = root_with_td->issue_svid(csr->public_key(), {.id = *domain().id("/not/a/ca"),
                                                           .not_before = kNow - hours(1),
                                                           .not_after = kNow + hours(24),
                                                           .serial = serial_of(0x41)});
  ASSERT_TRUE(leaf.has_value()) << leaf.error().message;
  expect_refused(ca_->import_intermediate(leaf->pem(), root_with_td->certificate().pem(), kNow),
                 "not a CA");
}

TEST_F(ExternalRootTest, RefusesAnotherTrustDomain) {
  expect_refused(ca_->import_intermediate(sign(*root_, csr_pem_, domain("other.org")),
                                          root_->certificate().pem(), kNow),
                 "spiffe://other.org");
}

TEST_F(ExternalRootTest, RefusesARootOfAnotherTrustDomain) {
  auto other_root = make_root(crypto::KeyType::kEcP256, domain("other.org"), 0x03);
  expect_refused(ca_->import_intermediate(sign(*other_root, csr_pem_, std::nullopt),
                                          other_root->certificate().pem(), kNow),
                 "another trust domain");
}

TEST_F(ExternalRootTest, AcceptsAnIntermediateWithoutUriSan) {
  auto imported = ca_->import_intermediate(sign(*root_, csr_pem_, std::nullopt),
                                           root_->certificate().pem(), kNow);
  ASSERT_TRUE(imported.has_value()) << imported.error().message;
  auto svid = ca_->issue(workload_key(), request(), kNow);
  ASSERT_TRUE(svid.has_value()) << svid.error().message;
  EXPECT_EQ(verify_issued(*ca_, *svid, kNow + seconds(1)), 1);
}

TEST_F(ExternalRootTest, RefusesAnExpiredIntermediate) {
  expect_refused(
      ca_->import_intermediate(sign(*root_, csr_pem_, domain(), kNow - hours(48), kNow - hours(24)),
                               root_->certificate().pem(), kNow),
      "not valid now");
}

TEST_F(ExternalRootTest, RefusesAnIntermediateNotYetValid) {
  expect_refused(
      ca_->import_intermediate(sign(*root_, csr_pem_, domain(), kNow + hours(1), kNow + hours(48)),
                               root_->certificate().pem(), kNow),
      "not valid now");
}

TEST_F(ExternalRootTest, RefusesAnIntermediateOfAnotherRoot) {
  auto other_root = make_root(crypto::KeyType::kEcP256, std::nullopt, 0x04);
  expect_refused(
      ca_->import_intermediate(sign(*other_root, csr_pem_), root_->certificate().pem(), kNow),
      "does not verify against the root");
}

TEST_F(ExternalRootTest, RefusesARootThatIsNotSelfSigned) {
  // The intermediate offered as its own root.
  const std::string inter = sign(*root_, csr_pem_);
  expect_refused(ca_->import_intermediate(inter, inter, kNow), "not self-signed");
}

TEST_F(ExternalRootTest, RefusesARootWithoutRoomForAnIntermediate) {
  auto tight = make_root(crypto::KeyType::kEcP256, std::nullopt, 0x05, /*path_length=*/0);
  // pki will not sign below a pathlen-0 root; sigil would not trust it either.
  auto csr = pki::CertificateRequest::parse(csr_pem_);
  ASSERT_TRUE(csr.has_value());
  auto refused = tight->issue_intermediate(csr->public_key(), {.common_name = "x",
                                                               .path_length = 0,
                                                               .not_before = kNow,
                                                               .not_after = kNow + hours(1),
                                                               .serial = serial_of(0x51)});
  EXPECT_FALSE(refused.has_value());
  expect_refused(ca_->import_intermediate(sign(*root_, csr_pem_), tight->certificate().pem(), kNow),
                 "path length");
}

TEST_F(ExternalRootTest, RefusesARootNotYetValid) {
  auto future = make_root(crypto::KeyType::kEcP256, std::nullopt, 0x06, 1, kNow + hours(1));
  expect_refused(
      ca_->import_intermediate(sign(*future, csr_pem_), future->certificate().pem(), kNow),
      "root certificate is not valid now");
}

TEST_F(ExternalRootTest, RefusesGarbageAndChains) {
  const std::string inter = sign(*root_, csr_pem_);
  const std::string root_pem = root_->certificate().pem();
  expect_refused(ca_->import_intermediate("not a certificate", root_pem, kNow),
                 "intermediate certificate");
  expect_refused(ca_->import_intermediate(inter, "", kNow), "root certificate");
  expect_refused(ca_->import_intermediate(inter + root_pem, root_pem, kNow), "exactly one");
  expect_refused(ca_->import_intermediate(inter, root_pem + root_pem, kNow), "exactly one");
  expect_refused(ca_->import_intermediate(std::string(64 * 1024 + 1, 'a'), root_pem, kNow),
                 "64 KiB");
}

// ---- trust bundles ----

TEST_F(AuthorityTest, SpiffeBundleHasTheShapeOfTheStandard) {
  auto ca = initialised();
  ASSERT_NE(ca, nullptr);
  const std::string text = ca->spiffe_bundle_json(kNow);
  json::value doc = json::parse(text);
  const json::object& bundle = doc.as_object();
  EXPECT_EQ(bundle.size(), 3u) << text;
  EXPECT_EQ(bundle.at("spiffe_sequence").as_int64(), 2);
  EXPECT_EQ(bundle.at("spiffe_refresh_hint").as_int64(), 300);
  const json::array& keys = bundle.at("keys").as_array();
  ASSERT_EQ(keys.size(), 1u);
  const json::object& jwk = keys[0].as_object();
  EXPECT_EQ(jwk.at("kty").as_string(), "EC");
  EXPECT_EQ(jwk.at("crv").as_string(), "P-256");
  EXPECT_EQ(jwk.at("use").as_string(), "x509-svid");
  EXPECT_FALSE(jwk.contains("d"));
  EXPECT_FALSE(jwk.contains("alg"));

  // x5c: exactly the root, standard base64 of its DER.
  const json::array& x5c = jwk.at("x5c").as_array();
  ASSERT_EQ(x5c.size(), 1u);
  auto der = base64_decode(std::string(x5c[0].as_string()));
  ASSERT_TRUE(der.has_value());
  auto root = pki::Certificate::from_der(*der);
  ASSERT_TRUE(root.has_value());
  EXPECT_EQ(root->pem(), ca->trust_bundle_pem(kNow));
  auto root_key = root->public_key();
  ASSERT_TRUE(root_key.has_value());
  auto ec = root_key->ec_components();
  ASSERT_TRUE(ec.has_value());
  EXPECT_EQ(jwk.at("x").as_string(), base64url_encode(ec->x));
  EXPECT_EQ(jwk.at("y").as_string(), base64url_encode(ec->y));

  // Each change of the CA keys raises the sequence.
  ASSERT_TRUE(ca->rotate_intermediate({}, kNow + hours(1)).has_value());
  json::value after = json::parse(ca->spiffe_bundle_json(kNow + hours(1)));
  EXPECT_EQ(after.as_object().at("spiffe_sequence").as_int64(), 3);
  EXPECT_EQ(after.as_object().at("keys").as_array().size(), 1u);

  // An expired root leaves the bundle.
  json::value late =
      json::parse(ca->spiffe_bundle_json(kNow + CaOptions{}.root_lifetime + seconds(1)));
  EXPECT_TRUE(late.as_object().at("keys").as_array().empty());
  EXPECT_EQ(ca->trust_bundle_pem(kNow + CaOptions{}.root_lifetime + seconds(1)), "");
}

TEST_F(AuthorityTest, EmptyBundleBeforeInitialisation) {
  auto ca = load();
  ASSERT_NE(ca, nullptr);
  json::value doc = json::parse(ca->spiffe_bundle_json(kNow));
  EXPECT_TRUE(doc.as_object().at("keys").as_array().empty());
  EXPECT_EQ(doc.as_object().at("spiffe_sequence").as_int64(), 0);
}

TEST_F(AuthorityTest, P384) {
  auto ca = initialised(CaOptions{.key_type = crypto::KeyType::kEcP384});
  ASSERT_NE(ca, nullptr);
  for (const auto& cert : ca->trusted_certificates(kNow)) {
    auto key = cert.public_key();
    ASSERT_TRUE(key.has_value());
    EXPECT_EQ(key->type(), crypto::KeyType::kEcP384);
  }
  auto svid = ca->issue(workload_key(), request(), kNow);
  ASSERT_TRUE(svid.has_value()) << svid.error().message;
  // RFC 5758 §3.2: a P-384 CA signs with ecdsa-with-SHA384.
  EXPECT_EQ(X509_get_signature_nid(svid->certificate.x509()), NID_ecdsa_with_SHA384);
  EXPECT_EQ(verify_issued(*ca, *svid, kNow + seconds(1)), 1);
  json::value doc = json::parse(ca->spiffe_bundle_json(kNow));
  const json::object& jwk = doc.as_object().at("keys").as_array()[0].as_object();
  EXPECT_EQ(jwk.at("crv").as_string(), "P-384");
  EXPECT_EQ(jwk.at("x").as_string().size(), 64u);  // 48 bytes, base64url

  auto rotated =
      ca->rotate_intermediate(CaOptions{.key_type = crypto::KeyType::kEcP384}, kNow + hours(1));
  ASSERT_TRUE(rotated.has_value());
  auto again = ca->issue(workload_key(), request(), kNow + hours(1));
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(verify_issued(*ca, *again, kNow + hours(1) + seconds(1)), 1);
}

TEST_F(AuthorityTest, IssuesConcurrently) {
  auto ca = initialised();
  ASSERT_NE(ca, nullptr);
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      auto key = workload_key();
      for (int i = 0; i < 5; ++i) {
        if (ca->issue(key, request(), kNow).has_value()) ++ok;
      }
    });
  }
  // A rotation while issuing: every call sees one snapshot or the other.
  ASSERT_TRUE(ca->rotate_intermediate({}, kNow + seconds(1)).has_value());
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 20);
  EXPECT_EQ(store_.certificate_count(), 20u);
}

}  // namespace
}  // namespace sigil::ca
