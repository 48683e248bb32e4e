#include "http/client.hpp"
#include "base/testing/tls_files.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <thread>

#include "base/testing/temp_dir.hpp"
#include "http/server.hpp"
#include "http/tls_testing.hpp"

namespace sigil::http {
namespace {

class Running {
 public:
  explicit Running(Handler handler, ServerOptions options = {}) {
    options.address = "127.0.0.1";
    options.port = 0;
    options.threads = 1;
    options.drain_timeout = std::chrono::seconds(1);
    server_ = std::make_unique<Server>(std::move(options), std::move(handler));
    auto started = server_->start();
    EXPECT_TRUE(started) << started.error().message;
    thread_ = std::thread([this] { server_->run(); });
  }
  ~Running() {
    server_->stop();
    thread_.join();
  }
  std::uint16_t port() const { return server_->port(); }
  std::string url(std::string_view scheme, std::string_view host, std::string_view path) const {
    return std::string(scheme) + "://" + std::string(host) + ":" + std::to_string(server_->port()) +
           std::string(path);
  }

 private:
  std::unique_ptr<Server> server_;
  std::thread thread_;
};

void echo(Request&& req, Responder respond) {
  Response r = Response::json(200, req.body);
  r.headers.emplace_back("X-Method", req.method);
  r.headers.emplace_back("X-Target", req.target);
  r.headers.emplace_back("X-Auth", std::string(req.header("authorization").value_or("")));
  respond(std::move(r));
}

TEST(ParseUrl, AcceptsHttpAndHttps) {
  auto u = parse_url("http://127.0.0.1:8420/oauth2/token?a=b#frag");
  ASSERT_TRUE(u);
  EXPECT_FALSE(u->tls);
  EXPECT_EQ(u->host, "127.0.0.1");
  EXPECT_EQ(u->port, 8420);
  EXPECT_EQ(u->target, "/oauth2/token?a=b");
  u = parse_url("HTTPS://sigil.example");
  ASSERT_TRUE(u);
  EXPECT_TRUE(u->tls);
  EXPECT_EQ(u->port, 443);
  EXPECT_EQ(u->target, "/");
  u = parse_url("http://[::1]:9/x");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->host, "::1");
  EXPECT_EQ(u->port, 9);
  EXPECT_EQ(parse_url("http://h?q=1")->target, "/?q=1");
}

TEST(ParseUrl, RejectsBadUrls) {
  for (const char* bad :
       {"", "127.0.0.1:8420", "ftp://h/", "http://", "http://:80/", "http://u:p@h/", "http://h:0/",
        "http://h:65536/", "http://h:8x/", "http://h:/", "http://h /", "http://[::1/",
        "http://[zz]/", "http://h\r\n/"}) {
    EXPECT_FALSE(parse_url(bad)) << bad;
  }
}

TEST(Client, PlainRoundTrip) {
  Running running(echo);
  auto res = request("POST", running.url("http", "127.0.0.1", "/p?q=1"),
                     {{"Authorization", "Bearer abc"}}, "{\"k\":1}");
  ASSERT_TRUE(res) << res.error().message;
  EXPECT_EQ(res->status, 200u);
  EXPECT_EQ(res->body, "{\"k\":1}");
  EXPECT_EQ(res->header("x-method"), "POST");
  EXPECT_EQ(res->header("X-Target"), "/p?q=1");
  EXPECT_EQ(res->header("X-Auth"), "Bearer abc");
  EXPECT_EQ(res->header("content-type"), "application/json");
}

TEST(Client, RejectsHeaderInjection) {
  auto res = request("GET", "http://127.0.0.1:1/", {{"X-A", "v\r\nX-B: w"}});
  ASSERT_FALSE(res);
  EXPECT_EQ(res.error().code, Code::kInvalidArgument);
}

TEST(Client, ConnectionRefusedIsUnavailable) {
  // Bind and release a port, so nothing listens there.
  std::uint16_t port;
  {
    Running running(echo);
    port = running.port();
  }
  auto res = request("GET", "http://127.0.0.1:" + std::to_string(port) + "/");
  ASSERT_FALSE(res);
  EXPECT_EQ(res.error().code, Code::kUnavailable);
}

TEST(Client, TimesOut) {
  std::optional<Responder> held;
  Running running([&](Request&&, Responder r) { held = r; });
  auto res =
      request("GET", running.url("http", "127.0.0.1", "/"), {}, {}, std::chrono::milliseconds(300));
  ASSERT_FALSE(res);
  EXPECT_EQ(res.error().code, Code::kUnavailable);
  held.reset();
}

using testing::TlsFiles;

TEST(Client, HttpsVerifiesAgainstGivenCa) {
  TlsFiles files;
  ASSERT_TRUE(files.ok);
  ServerOptions options;
  options.tls = TlsSettings{files.cert(), files.key()};
  Running running(echo, std::move(options));
  ClientOptions trusted;
  trusted.ca_file = files.cert();
  for (const char* host : {"localhost", "127.0.0.1"}) {
    auto res = request("GET", running.url("https", host, "/s"), {}, {}, trusted);
    ASSERT_TRUE(res) << host << ": " << res.error().message;
    EXPECT_EQ(res->status, 200u);
    EXPECT_EQ(res->header("X-Target"), "/s");
  }
  // The system store does not know the self-signed certificate.
  auto untrusted = request("GET", running.url("https", "localhost", "/s"));
  ASSERT_FALSE(untrusted);
  EXPECT_EQ(untrusted.error().code, Code::kUnavailable);
  // Plain http to a TLS port fails, without hanging.
  EXPECT_FALSE(request("GET", running.url("http", "127.0.0.1", "/"), {}, {},
                       std::chrono::milliseconds(2000)));
}

// --- Mutual TLS --------------------------------------------------------------------

using tls_testing::Credential;
using tls_testing::Pki;

bool write_file(const std::filesystem::path& path, const std::string& text) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) return false;
  const bool ok = std::fwrite(text.data(), 1, text.size(), f) == text.size();
  return std::fclose(f) == 0 && ok;
}

// A mutual-TLS listener (certificate from files) trusting client_root, and the client's
// files: its chain and key, and the server's certificate as CA file.
class MutualTlsClient : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(server_files.ok);
    ASSERT_TRUE(write_file(dir.path() / "client.pem", client.chain_pem()));
    ASSERT_TRUE(write_file(dir.path() / "client.key", client.key_pem()));
    ASSERT_TRUE(write_file(dir.path() / "other.key", other.key_pem()));
    ServerOptions options;
    options.tls = TlsSettings{server_files.cert(), server_files.key()};
    options.tls->client_certificates = ClientCertificates{client_root.cert().pem(), false};
    running = std::make_unique<Running>(
        [this](Request&& req, Responder respond) {
          std::lock_guard lock(mu);
          seen_der_ = req.peer_certificate ? req.peer_certificate->der : "";
          respond(Response::text(200, "hello"));
        },
        std::move(options));
    options_.ca_file = server_files.cert();
  }

  ClientOptions with_certificate() const {
    ClientOptions o = options_;
    o.cert_file = (dir.path() / "client.pem").string();
    o.key_file = (dir.path() / "client.key").string();
    return o;
  }
  std::string url() const { return running->url("https", "localhost", "/m"); }
  std::string seen_der() {
    std::lock_guard lock(mu);
    return seen_der_;
  }

  testing::TlsFiles server_files;
  testing::TempDir dir{"sigil-mtls-client"};
  Pki client_root = Pki::root("client root");
  Credential client = client_root.intermediate("client issuing").issue({.common_name = "cli"});
  Credential other = client_root.issue({.common_name = "other"});
  std::unique_ptr<Running> running;
  ClientOptions options_;
  std::mutex mu;
  std::string seen_der_;  // of the last request the server answered
};

TEST_F(MutualTlsClient, PresentsItsCertificate) {
  auto res = request("GET", url(), {}, {}, with_certificate());
  ASSERT_TRUE(res) << res.error().message;
  EXPECT_EQ(res->status, 200u);
  EXPECT_EQ(res->body, "hello");
  EXPECT_EQ(seen_der(), client.cert.der());
}

TEST_F(MutualTlsClient, WithoutCertificateIsRefused) {
  auto res = request("GET", url(), {}, {}, options_);
  ASSERT_FALSE(res);
  EXPECT_EQ(res.error().code, Code::kUnavailable);
  EXPECT_EQ(seen_der(), "");
}

TEST_F(MutualTlsClient, CertificateWithoutKeyIsAnInvalidArgument) {
  ClientOptions o = with_certificate();
  o.key_file.clear();
  for (const std::string& u : {url(), running->url("http", "127.0.0.1", "/")}) {
    auto res = request("GET", u, {}, {}, o);
    ASSERT_FALSE(res);
    EXPECT_EQ(res.error().code, Code::kInvalidArgument);
  }
}

TEST_F(MutualTlsClient, KeyWithoutCertificateIsAnInvalidArgument) {
  ClientOptions o = with_certificate();
  o.cert_file.clear();
  for (const std::string& u : {url(), running->url("http", "127.0.0.1", "/")}) {
    auto res = request("GET", u, {}, {}, o);
    ASSERT_FALSE(res);
    EXPECT_EQ(res.error().code, Code::kInvalidArgument);
  }
}

TEST_F(MutualTlsClient, KeyOfAnotherCertificateIsAnInvalidArgument) {
  ClientOptions o = with_certificate();
  o.key_file = (dir.path() / "other.key").string();
  auto res = request("GET", url(), {}, {}, o);
  ASSERT_FALSE(res);
  EXPECT_EQ(res.error().code, Code::kInvalidArgument);
}

TEST_F(MutualTlsClient, MissingFilesAreAnInvalidArgument) {
  ClientOptions o = with_certificate();
  o.cert_file = (dir.path() / "absent.pem").string();
  auto res = request("GET", url(), {}, {}, o);
  ASSERT_FALSE(res);
  EXPECT_EQ(res.error().code, Code::kInvalidArgument);
  o = with_certificate();
  o.key_file = (dir.path() / "absent.key").string();
  res = request("GET", url(), {}, {}, o);
  ASSERT_FALSE(res);
  EXPECT_EQ(res.error().code, Code::kInvalidArgument);
}

}  // namespace
}  // namespace sigil::http
