#include "cli/certificates.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/json/parse.hpp>

#include <filesystem>
#include <fstream>

#include "base/secrets.hpp"

namespace sigil::cli {
namespace {

namespace json = boost::json;
using std::chrono::seconds;

std::optional<Code> code_of(const auto& result) {
  return result.has_value() ? std::nullopt : std::optional<Code>(result.error().code);
}

TEST(CertFlags, KeyTypes) {
  EXPECT_EQ(parse_key_type("P-256", false), crypto::KeyType::kEcP256);
  EXPECT_EQ(parse_key_type("p-384", false), crypto::KeyType::kEcP384);
  EXPECT_EQ(parse_key_type("Ed25519", true), crypto::KeyType::kEd25519);
  // A CA key signs with ECDSA only.
  EXPECT_EQ(code_of(parse_key_type("Ed25519", false)), Code::kInvalidArgument);
  EXPECT_EQ(code_of(parse_key_type("RSA", true)), Code::kInvalidArgument);
  EXPECT_EQ(code_of(parse_key_type("", true)), Code::kInvalidArgument);
  EXPECT_EQ(key_type_name(crypto::KeyType::kEcP384), "P-384");
}

TEST(CertFlags, Lifetimes) {
  EXPECT_EQ(parse_lifetime("90"), seconds(90));
  EXPECT_EQ(parse_lifetime("90s"), seconds(90));
  EXPECT_EQ(parse_lifetime("30m"), seconds(1800));
  EXPECT_EQ(parse_lifetime("2h"), seconds(7200));
  EXPECT_EQ(parse_lifetime("24h"), seconds(86400));
  EXPECT_EQ(parse_lifetime("1m"), seconds(60));
}

TEST(CertFlags, LifetimeRefusals) {
  for (const char* bad : {"", "s", "59", "59s", "25h", "86401", "1d", "-5m", "+60", "1.5h", "0",
                          "60 ", " 60", "1e3", "9999999999", "30M"}) {
    EXPECT_EQ(code_of(parse_lifetime(bad)), Code::kInvalidArgument) << bad;
  }
}

TEST(CertFlags, FilesDefaultToTheFolder) {
  auto files = certificate_files("/run/svid", "", "", "");
  ASSERT_TRUE(files);
  EXPECT_EQ(files->key, "/run/svid/svid.key");
  EXPECT_EQ(files->chain, "/run/svid/svid.pem");
  EXPECT_EQ(files->bundle, "/run/svid/bundle.pem");

  files = certificate_files("", "", "", "");
  ASSERT_TRUE(files);
  EXPECT_EQ(files->key, "./svid.key");

  files = certificate_files("/run/svid", "/secrets/tls.key", "/etc/tls.crt", "");
  ASSERT_TRUE(files);
  EXPECT_EQ(files->key, "/secrets/tls.key");
  EXPECT_EQ(files->chain, "/etc/tls.crt");
  EXPECT_EQ(files->bundle, "/run/svid/bundle.pem");
}

TEST(CertFlags, FilesMustDiffer) {
  EXPECT_EQ(code_of(certificate_files("", "a.pem", "a.pem", "")), Code::kInvalidArgument);
  EXPECT_EQ(code_of(certificate_files("/d", "", "", "/d/svid.pem")), Code::kInvalidArgument);
  EXPECT_EQ(code_of(certificate_files("", "x/../k", "k", "")), Code::kInvalidArgument);
}

TEST(CertRequest, Body) {
  auto body = certificate_request_body("PEM", {"api.internal", "a-b.example.org"}, seconds(600));
  ASSERT_TRUE(body);
  EXPECT_EQ(body->at("csr").as_string(), "PEM");
  EXPECT_EQ(body->at("dns_names").as_array().size(), 2u);
  EXPECT_EQ(body->at("lifetime").as_int64(), 600);

  body = certificate_request_body("PEM", {}, std::nullopt);
  ASSERT_TRUE(body);
  EXPECT_FALSE(body->contains("dns_names"));
  EXPECT_FALSE(body->contains("lifetime"));
}

TEST(CertRequest, BodyRefusals) {
  EXPECT_EQ(code_of(certificate_request_body("", {}, std::nullopt)), Code::kInvalidArgument);
  for (const char* bad : {"", "API.internal", "a b", "a..b", ".a", "a.", "a/b", "*.a.b", "a_b"}) {
    EXPECT_EQ(code_of(certificate_request_body("PEM", {bad}, std::nullopt)), Code::kInvalidArgument)
        << bad;
  }
  EXPECT_EQ(code_of(certificate_request_body("PEM", {std::string(254, 'a')}, std::nullopt)),
            Code::kInvalidArgument);
  std::vector<std::string> many(pki::kMaxDnsNames + 1, "a.example");
  EXPECT_EQ(code_of(certificate_request_body("PEM", many, std::nullopt)), Code::kInvalidArgument);
}

TEST(RenewalSchedule, TwoThirdsOfTheLifetime) {
  EXPECT_EQ(renewal_time(from_unix(1000), from_unix(4600)), from_unix(3400));
  EXPECT_EQ(renewal_time(from_unix(0), from_unix(90)), from_unix(60));
  EXPECT_EQ(renewal_time(from_unix(0), from_unix(86400)), from_unix(57600));
  // A certificate without a lifetime is due at once.
  EXPECT_EQ(renewal_time(from_unix(500), from_unix(500)), from_unix(500));
  EXPECT_EQ(renewal_time(from_unix(500), from_unix(100)), from_unix(500));
}

TEST(RenewalSchedule, RetryBackoffIsCapped) {
  const seconds hour(3600);
  EXPECT_EQ(retry_delay(1, hour), seconds(1));
  EXPECT_EQ(retry_delay(2, hour), seconds(2));
  EXPECT_EQ(retry_delay(3, hour), seconds(4));
  EXPECT_EQ(retry_delay(5, hour), seconds(16));
  EXPECT_EQ(retry_delay(6, hour), seconds(30));
  EXPECT_EQ(retry_delay(1000, hour), seconds(30));
  EXPECT_EQ(retry_delay(0, hour), seconds(1));
  // A short-lived certificate gets several tries before it expires.
  EXPECT_EQ(retry_delay(10, seconds(90)), seconds(9));
  EXPECT_EQ(retry_delay(10, seconds(5)), seconds(1));
}

class TempDir : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("sigil-cert-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter_++));
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string path(const char* name) const { return (dir_ / name).string(); }
  static std::string read(const std::string& p) {
    std::ifstream f(p);
    return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
  }
  static mode_t mode_of(const std::string& p) {
    struct stat st {};
    ::stat(p.c_str(), &st);
    return st.st_mode & 07777;
  }
  std::size_t entries() const {
    return static_cast<std::size_t>(std::distance(std::filesystem::directory_iterator(dir_),
                                                  std::filesystem::directory_iterator()));
  }
  std::filesystem::path dir_;
  static inline int counter_ = 0;
};

using FileWriting = TempDir;

TEST_F(FileWriting, KeyFileIsCreatedPrivate) {
  const mode_t old = ::umask(0);
  auto ok = write_file_atomically(path("svid.key"), "secret", 0600);
  ::umask(old);
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_EQ(mode_of(path("svid.key")), 0600u);
  EXPECT_EQ(read(path("svid.key")), "secret");
  EXPECT_EQ(entries(), 1u);  // no temporary file left behind
}

TEST_F(FileWriting, PublicFileIsReadableDespiteTheUmask) {
  const mode_t old = ::umask(077);
  auto ok = write_file_atomically(path("bundle.pem"), "roots", 0644);
  ::umask(old);
  ASSERT_TRUE(ok);
  EXPECT_EQ(mode_of(path("bundle.pem")), 0644u);
}

TEST_F(FileWriting, ReplacesByRenameNotInPlace) {
  ASSERT_TRUE(write_file_atomically(path("svid.pem"), "old", 0644));
  // A second name for the old file keeps the old content: the new one is a new file.
  std::filesystem::create_hard_link(path("svid.pem"), path("old.pem"));
  ASSERT_TRUE(write_file_atomically(path("svid.pem"), "new", 0644));
  EXPECT_EQ(read(path("svid.pem")), "new");
  EXPECT_EQ(read(path("old.pem")), "old");
}

TEST_F(FileWriting, AnOldWorldReadableKeyIsReplacedByAPrivateOne) {
  { std::ofstream(path("svid.key")) << "old"; }
  ::chmod(path("svid.key").c_str(), 0644);
  ASSERT_TRUE(write_file_atomically(path("svid.key"), "new", 0600));
  EXPECT_EQ(mode_of(path("svid.key")), 0600u);
}

TEST_F(FileWriting, MissingFolderIsRefused) {
  EXPECT_EQ(code_of(write_file_atomically(path("nowhere/svid.key"), "x", 0600)),
            Code::kInvalidArgument);
}

TEST_F(FileWriting, NothingIsReplacedWhenOneFileFails) {
  ASSERT_TRUE(write_file_atomically(path("svid.key"), "old key", 0600));
  auto result = write_files_atomically(
      {{path("svid.key"), "new key", 0600}, {path("nowhere/svid.pem"), "chain", 0644}});
  EXPECT_EQ(code_of(result), Code::kInvalidArgument);
  EXPECT_EQ(read(path("svid.key")), "old key");
  EXPECT_EQ(entries(), 1u);
}

TEST_F(FileWriting, SeveralFilesTogether) {
  ASSERT_TRUE(write_files_atomically({{path("bundle.pem"), "b", 0644},
                                      {path("svid.key"), "k", 0600},
                                      {path("svid.pem"), "c", 0644}}));
  EXPECT_EQ(read(path("bundle.pem")), "b");
  EXPECT_EQ(read(path("svid.key")), "k");
  EXPECT_EQ(mode_of(path("svid.key")), 0600u);
  EXPECT_EQ(read(path("svid.pem")), "c");
  EXPECT_EQ(entries(), 3u);
}

TEST_F(FileWriting, ReadSmallFile) {
  { std::ofstream(path("f")) << std::string(100, 'x'); }
  auto text = read_small_file(path("f"), 100);
  ASSERT_TRUE(text);
  EXPECT_EQ(text->size(), 100u);
  EXPECT_EQ(code_of(read_small_file(path("f"), 99)), Code::kInvalidArgument);
  EXPECT_EQ(code_of(read_small_file(path("missing"), 99)), Code::kInvalidArgument);
}

// A throwaway CA in trust domain example.org and a leaf for a fresh key.
struct TestCa {
  crypto::Key root_key = *crypto::Key::generate(crypto::KeyType::kEcP256);
  std::optional<pki::Certificate> root;
  std::optional<pki::Issuer> issuer;
  TimePoint now = from_unix(1'800'000'000);

  TestCa() {
    pki::CaProfile profile;
    profile.common_name = "test root";
    profile.trust_domain = *pki::TrustDomain::parse("example.org");
    profile.not_before = now - seconds(60);
    profile.not_after = now + seconds(86400 * 30);
    profile.serial = random_bytes(pki::kSerialBytes);
    root = pki::Issuer::self_signed_root(root_key, profile)->certificate();
    issuer.emplace(*pki::Issuer::create(*root, std::move(root_key)));
  }

  pki::Certificate leaf(const crypto::Key& key, std::string_view path = "/api") const {
    pki::SvidProfile profile{*pki::SpiffeId::parse("spiffe://example.org" + std::string(path)),
                             {"api.internal"},
                             now,
                             now + seconds(3600),
                             random_bytes(pki::kSerialBytes)};
    return issuer->issue_svid(key, profile)->certificate();
  }

  json::value answer(const pki::Certificate& leaf, std::string_view spiffe_id) const {
    return json::object{{"certificate", leaf.pem()},
                        {"chain", leaf.pem()},
                        {"bundle", root->pem()},
                        {"spiffe_id", spiffe_id}};
  }
};

TEST(CheckIssued, AcceptsTheCertificateForOurKey) {
  TestCa ca;
  auto key = crypto::Key::generate(crypto::KeyType::kEcP256);
  const pki::Certificate leaf = ca.leaf(*key);
  auto issued = check_issued(ca.answer(leaf, "spiffe://example.org/api"), *key);
  ASSERT_TRUE(issued) << issued.error().message;
  EXPECT_EQ(issued->spiffe_id, "spiffe://example.org/api");
  EXPECT_EQ(issued->leaf.der(), leaf.der());
  EXPECT_EQ(issued->chain_pem, leaf.pem());
  EXPECT_EQ(issued->bundle_pem, ca.root->pem());
}

TEST(CheckIssued, RefusesACertificateForAnotherKey) {
  TestCa ca;
  auto ours = crypto::Key::generate(crypto::KeyType::kEcP256);
  auto other = crypto::Key::generate(crypto::KeyType::kEcP256);
  EXPECT_EQ(code_of(check_issued(ca.answer(ca.leaf(*other), "spiffe://example.org/api"), *ours)),
            Code::kInvalidArgument);
}

TEST(CheckIssued, RefusesAnotherSpiffeId) {
  TestCa ca;
  auto key = crypto::Key::generate(crypto::KeyType::kEcP256);
  EXPECT_EQ(code_of(check_issued(ca.answer(ca.leaf(*key), "spiffe://example.org/other"), *key)),
            Code::kInvalidArgument);
  EXPECT_EQ(code_of(check_issued(ca.answer(ca.leaf(*key), "spiffe://example.org"), *key)),
            Code::kInvalidArgument);
}

TEST(CheckIssued, RefusesABundleOfLeavesAndAChainStartingWithACa) {
  TestCa ca;
  auto key = crypto::Key::generate(crypto::KeyType::kEcP256);
  const pki::Certificate leaf = ca.leaf(*key);
  json::value answer = ca.answer(leaf, "spiffe://example.org/api");
  answer.as_object()["bundle"] = leaf.pem();
  EXPECT_EQ(code_of(check_issued(answer, *key)), Code::kInvalidArgument);

  answer = ca.answer(leaf, "spiffe://example.org/api");
  answer.as_object()["chain"] = ca.root->pem() + leaf.pem();
  EXPECT_EQ(code_of(check_issued(answer, *key)), Code::kInvalidArgument);

  answer = ca.answer(leaf, "spiffe://example.org/api");
  answer.as_object()["chain"] = leaf.pem() + leaf.pem();
  EXPECT_EQ(code_of(check_issued(answer, *key)), Code::kInvalidArgument);
}

TEST(CheckIssued, RefusesMalformedAnswers) {
  TestCa ca;
  auto key = crypto::Key::generate(crypto::KeyType::kEcP256);
  const pki::Certificate leaf = ca.leaf(*key);
  EXPECT_EQ(code_of(check_issued(json::value("x"), *key)), Code::kInvalidArgument);
  for (const char* field : {"chain", "bundle", "spiffe_id"}) {
    json::value answer = ca.answer(leaf, "spiffe://example.org/api");
    answer.as_object().erase(field);
    EXPECT_EQ(code_of(check_issued(answer, *key)), Code::kInvalidArgument) << field;
    answer.as_object()[field] = "garbage";
    EXPECT_EQ(code_of(check_issued(answer, *key)), Code::kInvalidArgument) << field;
  }
}

TEST(Inspect, DescribesACertificate) {
  TestCa ca;
  auto key = crypto::Key::generate(crypto::KeyType::kEcP384);
  const pki::Certificate leaf = ca.leaf(*key, "/ns/prod/sa/api");
  const json::object d = describe_certificate(leaf, ca.now + seconds(600));
  EXPECT_EQ(d.at("spiffe_id").as_string(), "spiffe://example.org/ns/prod/sa/api");
  EXPECT_EQ(d.at("dns_names").as_array().size(), 1u);
  EXPECT_EQ(d.at("dns_names").as_array()[0].as_string(), "api.internal");
  EXPECT_EQ(d.at("not_before").as_int64(), to_unix(ca.now));
  EXPECT_EQ(d.at("not_after").as_int64(), to_unix(ca.now) + 3600);
  EXPECT_EQ(d.at("remaining_seconds").as_int64(), 3000);
  EXPECT_EQ(d.at("key_type").as_string(), "P-384");
  EXPECT_EQ(d.at("fingerprint_sha256").as_string().size(), 64u);
  EXPECT_EQ(d.at("serial").as_string().size() % 2, 0u);
  EXPECT_FALSE(d.at("is_ca").as_bool());

  const std::string text = render_certificate(d);
  EXPECT_NE(text.find("spiffe_id: spiffe://example.org/ns/prod/sa/api\n"), std::string::npos);
  EXPECT_NE(text.find("remaining: 50m\n"), std::string::npos);

  const json::object expired = describe_certificate(leaf, ca.now + seconds(3700));
  EXPECT_EQ(expired.at("remaining_seconds").as_int64(), -100);
  EXPECT_NE(render_certificate(expired).find("remaining: expired 1m 40s ago\n"), std::string::npos);
}

TEST(Inspect, Durations) {
  EXPECT_EQ(format_duration(0), "0s");
  EXPECT_EQ(format_duration(59), "59s");
  EXPECT_EQ(format_duration(3723), "1h 2m 3s");
  EXPECT_EQ(format_duration(90061), "1d 1h 1m 1s");
  EXPECT_EQ(format_duration(-60), "1m");
}

}  // namespace
}  // namespace sigil::cli
