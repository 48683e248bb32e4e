#include "server/key_fetcher.hpp"

#include <gtest/gtest.h>

#include <boost/json/serialize.hpp>

#include <atomic>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "base/testing/tls_files.hpp"
#include "http/server.hpp"

namespace sigil::server {
namespace {

using namespace std::chrono_literals;

// An HTTP server on a loopback port answering each path with what the test set, counting
// the requests per path.
class FakeSource {
 public:
  explicit FakeSource(std::optional<http::TlsSettings> tls = std::nullopt) {
    http::ServerOptions options;
    options.tls = tls;
    scheme_ = tls ? "https" : "http";
    options.port = 0;
    options.threads = 2;
    options.drain_timeout = 1s;
    server_ = std::make_unique<http::Server>(
        options, [this](http::Request&& request, http::Responder respond) {
          std::chrono::milliseconds delay{};
          http::Response response = http::Response::text(404, "not found");
          {
            std::lock_guard lock(mu_);
            ++counts_[request.path];
            delay = delay_;
            if (auto it = answers_.find(request.path); it != answers_.end()) {
              response = http::Response::json(it->second.first, it->second.second);
            }
          }
          std::this_thread::sleep_for(delay);
          respond(std::move(response));
        });
    auto started = server_->start();
    EXPECT_TRUE(started) << started.error().message;
    thread_ = std::thread([this] { server_->run(); });
  }
  ~FakeSource() { stop(); }

  void stop() {
    if (!thread_.joinable()) return;
    server_->stop();
    thread_.join();
  }

  void answer(const std::string& path, unsigned status, std::string body) {
    std::lock_guard lock(mu_);
    answers_[path] = {status, std::move(body)};
  }
  void delay_answers(std::chrono::milliseconds delay) {
    std::lock_guard lock(mu_);
    delay_ = delay;
  }
  int count(const std::string& path) {
    std::lock_guard lock(mu_);
    return counts_[path];
  }
  std::string base() const { return scheme_ + "://127.0.0.1:" + std::to_string(server_->port()); }
  std::string url(std::string_view path) const { return base() + std::string(path); }

 private:
  std::mutex mu_;
  std::map<std::string, std::pair<unsigned, std::string>> answers_;  // guarded by mu_
  std::map<std::string, int> counts_;                                // guarded by mu_
  std::chrono::milliseconds delay_{};                                // guarded by mu_
  std::string scheme_;
  std::unique_ptr<http::Server> server_;
  std::thread thread_;
};

jose::Jwk new_key() {
  auto key = jose::Jwk::generate(jose::Algorithm::kES256);
  EXPECT_TRUE(key);
  return *key;
}

std::string jwks_of(const std::vector<jose::Jwk>& keys) {
  jose::JwkSet set;
  for (const auto& key : keys) set.add(key.public_key());
  return set.to_json();
}

bool holds(const Result<std::shared_ptr<const jose::JwkSet>>& keys, const jose::Jwk& key) {
  return keys && *keys && (*keys)->find(key.kid(), key.alg()) != nullptr;
}

class KeyFetcherTest : public ::testing::Test {
 protected:
  FakeSource source_;
  FakeClock clock_;
  jose::Jwk key1_ = new_key();
  jose::Jwk key2_ = new_key();
};

TEST_F(KeyFetcherTest, ServesAFreshSetFromMemory) {
  source_.answer("/jwks", 200, jwks_of({key1_}));
  KeyFetcher fetcher(clock_);
  EXPECT_TRUE(holds(fetcher.keys_at(source_.url("/jwks"), false), key1_));
  clock_.advance(299s);
  auto again = fetcher.keys_at(source_.url("/jwks"), false);
  EXPECT_TRUE(holds(again, key1_));
  EXPECT_EQ(source_.count("/jwks"), 1);
}

TEST_F(KeyFetcherTest, FetchesAgainOnceTheTtlHasPassed) {
  source_.answer("/jwks", 200, jwks_of({key1_}));
  KeyFetcherOptions options;
  options.cache_ttl = 60s;
  KeyFetcher fetcher(clock_, options);
  ASSERT_TRUE(holds(fetcher.keys_at(source_.url("/jwks"), false), key1_));
  source_.answer("/jwks", 200, jwks_of({key2_}));
  clock_.advance(59s);
  EXPECT_TRUE(holds(fetcher.keys_at(source_.url("/jwks"), false), key1_));
  clock_.advance(1s);
  auto keys = fetcher.keys_at(source_.url("/jwks"), false);
  EXPECT_TRUE(holds(keys, key2_));
  EXPECT_FALSE(holds(keys, key1_));
  EXPECT_EQ(source_.count("/jwks"), 2);
}

TEST_F(KeyFetcherTest, RefreshIsRateLimited) {
  source_.answer("/jwks", 200, jwks_of({key1_}));
  KeyFetcher fetcher(clock_);
  ASSERT_TRUE(holds(fetcher.keys_at(source_.url("/jwks"), false), key1_));
  // The issuer rotates: the first refresh sees the new key at once.
  source_.answer("/jwks", 200, jwks_of({key1_, key2_}));
  clock_.advance(1s);
  EXPECT_TRUE(holds(fetcher.keys_at(source_.url("/jwks"), true), key2_));
  EXPECT_EQ(source_.count("/jwks"), 2);
  // Made-up kids: no more fetches within the interval.
  for (int i = 0; i < 5; ++i) {
    clock_.advance(5s);
    EXPECT_TRUE(holds(fetcher.keys_at(source_.url("/jwks"), true), key2_));
  }
  EXPECT_EQ(source_.count("/jwks"), 2);
  clock_.advance(5s);  // 30 s after the last refresh
  EXPECT_TRUE(fetcher.keys_at(source_.url("/jwks"), true));
  EXPECT_EQ(source_.count("/jwks"), 3);
}

TEST_F(KeyFetcherTest, KeepsTheLastGoodSetWhenFetchesFail) {
  source_.answer("/jwks", 200, jwks_of({key1_}));
  KeyFetcher fetcher(clock_);
  ASSERT_TRUE(holds(fetcher.keys_at(source_.url("/jwks"), false), key1_));

  source_.answer("/jwks", 500, "{}");
  clock_.advance(301s);
  EXPECT_TRUE(holds(fetcher.keys_at(source_.url("/jwks"), false), key1_));
  EXPECT_EQ(source_.count("/jwks"), 2);
  // A failed source is not asked again within the interval, not even for a refresh.
  clock_.advance(10s);
  EXPECT_TRUE(holds(fetcher.keys_at(source_.url("/jwks"), true), key1_));
  EXPECT_EQ(source_.count("/jwks"), 2);

  // A document that is not a JWKS does not replace the good set either.
  source_.answer("/jwks", 200, R"({"keys": "none"})");
  clock_.advance(30s);
  EXPECT_TRUE(holds(fetcher.keys_at(source_.url("/jwks"), false), key1_));
  EXPECT_EQ(source_.count("/jwks"), 3);

  // Unreachable.
  const std::string url = source_.url("/jwks");
  source_.stop();
  clock_.advance(30s);
  EXPECT_TRUE(holds(fetcher.keys_at(url, false), key1_));
}

TEST_F(KeyFetcherTest, RecoversAfterAFailureStreak) {
  source_.answer("/jwks", 503, "{}");
  KeyFetcher fetcher(clock_);
  EXPECT_FALSE(fetcher.keys_at(source_.url("/jwks"), false));
  source_.answer("/jwks", 200, jwks_of({key1_}));
  clock_.advance(29s);
  EXPECT_FALSE(fetcher.keys_at(source_.url("/jwks"), false));
  EXPECT_EQ(source_.count("/jwks"), 1);
  clock_.advance(1s);
  EXPECT_TRUE(holds(fetcher.keys_at(source_.url("/jwks"), false), key1_));
  EXPECT_EQ(source_.count("/jwks"), 2);
}

TEST_F(KeyFetcherTest, NeverFetchedIsUnavailableAndNamesTheUrl) {
  source_.answer("/jwks", 503, "{}");
  KeyFetcher fetcher(clock_);
  auto keys = fetcher.keys_at(source_.url("/jwks"), false);
  ASSERT_FALSE(keys);
  EXPECT_EQ(keys.error().code, Code::kUnavailable);
  EXPECT_NE(keys.error().message.find(source_.url("/jwks")), std::string::npos)
      << keys.error().message;

  const std::string url = source_.url("/other");
  source_.stop();
  keys = fetcher.keys_at(url, false);
  ASSERT_FALSE(keys);
  EXPECT_EQ(keys.error().code, Code::kUnavailable);
  EXPECT_NE(keys.error().message.find(url), std::string::npos) << keys.error().message;
}

TEST_F(KeyFetcherTest, RefusesWhatIsNotAJwks) {
  KeyFetcher fetcher(clock_);
  int n = 0;
  for (const char* body :
       {"not json", "[]", "{}", R"({"keys": {}})",
        R"({"keys": [{"kty": "EC", "crv": "P-256", "x": "AAAA", "y": "AAAA"}]})"}) {
    const std::string path = "/bad" + std::to_string(n++);
    source_.answer(path, 200, body);
    auto keys = fetcher.keys_at(source_.url(path), false);
    ASSERT_FALSE(keys) << body;
    EXPECT_EQ(keys.error().code, Code::kInvalidArgument) << body;
  }
}

TEST_F(KeyFetcherTest, SkipsKeysSigilCannotUse) {
  boost::json::object ec = key1_.public_json();
  boost::json::object oct{{"kty", "oct"}, {"kid", "hmac"}, {"k", "c2VjcmV0"}};
  boost::json::object enc = key2_.public_json();
  enc["use"] = "enc";
  boost::json::object doc{{"keys", boost::json::array{oct, ec, enc}}};
  source_.answer("/jwks", 200, boost::json::serialize(doc));
  KeyFetcher fetcher(clock_);
  auto keys = fetcher.keys_at(source_.url("/jwks"), false);
  ASSERT_TRUE(keys) << keys.error().message;
  EXPECT_EQ((*keys)->keys().size(), 1u);
  EXPECT_TRUE(holds(keys, key1_));
}

TEST_F(KeyFetcherTest, KeepsOnlyPublicKeys) {
  jose::JwkSet set;
  set.add(key1_);  // private
  ASSERT_TRUE(key1_.is_private());
  source_.answer("/jwks", 200, set.to_json());  // to_json() writes public members only
  KeyFetcher fetcher(clock_);
  auto keys = fetcher.keys_at(source_.url("/jwks"), false);
  ASSERT_TRUE(holds(keys, key1_));
  for (const auto& key : (*keys)->keys()) EXPECT_FALSE(key.is_private());
}

TEST_F(KeyFetcherTest, RefusesAnOversizedAnswer) {
  std::vector<jose::Jwk> many;
  for (int i = 0; i < 8; ++i) many.push_back(new_key());
  const std::string body = jwks_of(many);
  source_.answer("/jwks", 200, body);
  KeyFetcherOptions options;
  options.max_bytes = body.size() - 1;
  KeyFetcher small(clock_, options);
  auto keys = small.keys_at(source_.url("/jwks"), false);
  ASSERT_FALSE(keys);
  EXPECT_EQ(keys.error().code, Code::kUnavailable);
  options.max_bytes = body.size();
  KeyFetcher enough(clock_, options);
  keys = enough.keys_at(source_.url("/jwks"), false);
  ASSERT_TRUE(keys) << keys.error().message;
  EXPECT_EQ((*keys)->keys().size(), 8u);
}

TEST_F(KeyFetcherTest, FetchesOnlyHttpsOrLoopback) {
  for (const char* ok :
       {"https://issuer.example/jwks", "http://127.0.0.1:9/k", "http://127.8.9.10/",
        "http://[::1]:8080/jwks", "http://localhost/jwks", "http://LocalHost:1/jwks"}) {
    EXPECT_TRUE(check_fetchable_url(ok)) << ok;
  }
  for (const char* bad :
       {"http://issuer.example/jwks", "http://10.0.0.1/jwks", "http://127.0.0.1.example/jwks",
        "http://localhost.example/", "http://[::2]/", "ftp://127.0.0.1/", "file:///etc/passwd",
        "http://user@127.0.0.1/", "127.0.0.1/jwks", ""}) {
    EXPECT_FALSE(check_fetchable_url(bad)) << bad;
  }
  KeyFetcher fetcher(clock_);
  auto keys = fetcher.keys_at("http://issuer.example/jwks", false);
  ASSERT_FALSE(keys);
  EXPECT_EQ(keys.error().code, Code::kInvalidArgument);
  keys = fetcher.keys_of_issuer("http://issuer.example", false);
  ASSERT_FALSE(keys);
  EXPECT_EQ(keys.error().code, Code::kInvalidArgument);
}

TEST(DiscoveryUrl, AppendsTheWellKnownPath) {
  EXPECT_EQ(*discovery_url("https://token.actions.githubusercontent.com"),
            "https://token.actions.githubusercontent.com/.well-known/openid-configuration");
  EXPECT_EQ(*discovery_url("https://gitlab.example/tenant/"),
            "https://gitlab.example/tenant/.well-known/openid-configuration");
  EXPECT_FALSE(discovery_url("https://issuer.example/?a=b"));
  EXPECT_FALSE(discovery_url("https://issuer.example/#x"));
  EXPECT_FALSE(discovery_url("http://issuer.example"));
}

class DiscoveryTest : public KeyFetcherTest {
 protected:
  void serve_discovery(const std::string& issuer, const std::string& jwks_uri) {
    boost::json::object doc{{"issuer", issuer},
                            {"jwks_uri", jwks_uri},
                            {"response_types_supported", boost::json::array{"id_token"}}};
    source_.answer("/.well-known/openid-configuration", 200, boost::json::serialize(doc));
  }
};

TEST_F(DiscoveryTest, FindsAndCachesTheIssuersKeys) {
  serve_discovery(source_.base(), source_.url("/keys"));
  source_.answer("/keys", 200, jwks_of({key1_}));
  KeyFetcher fetcher(clock_);
  EXPECT_TRUE(holds(fetcher.keys_of_issuer(source_.base(), false), key1_));
  EXPECT_TRUE(holds(fetcher.keys_of_issuer(source_.base(), false), key1_));
  EXPECT_EQ(source_.count("/.well-known/openid-configuration"), 1);
  EXPECT_EQ(source_.count("/keys"), 1);
  // An unknown kid refreshes the keys, not the discovery document.
  source_.answer("/keys", 200, jwks_of({key2_}));
  EXPECT_TRUE(holds(fetcher.keys_of_issuer(source_.base(), true), key2_));
  EXPECT_EQ(source_.count("/.well-known/openid-configuration"), 1);
  EXPECT_EQ(source_.count("/keys"), 2);
}

TEST_F(DiscoveryTest, KeepsTheKeysWhenTheIssuerGoesDown) {
  serve_discovery(source_.base(), source_.url("/keys"));
  source_.answer("/keys", 200, jwks_of({key1_}));
  KeyFetcher fetcher(clock_);
  ASSERT_TRUE(holds(fetcher.keys_of_issuer(source_.base(), false), key1_));
  const std::string issuer = source_.base();
  source_.stop();
  clock_.advance(3600s);
  EXPECT_TRUE(holds(fetcher.keys_of_issuer(issuer, false), key1_));
}

TEST_F(DiscoveryTest, RefusesAnotherIssuer) {
  KeyFetcher fetcher(clock_);
  for (const std::string& other : {source_.base() + "/", std::string("https://evil.example"),
                                   "HTTP://127.0.0.1:" + source_.base().substr(17)}) {
    serve_discovery(other, source_.url("/keys"));
    source_.answer("/keys", 200, jwks_of({key1_}));
    clock_.advance(31s);
    auto keys = fetcher.keys_of_issuer(source_.base(), false);
    ASSERT_FALSE(keys) << other;
    EXPECT_EQ(keys.error().code, Code::kInvalidArgument);
    EXPECT_NE(keys.error().message.find("another issuer"), std::string::npos)
        << keys.error().message;
  }
  EXPECT_EQ(source_.count("/keys"), 0);
}

TEST_F(DiscoveryTest, RefusesADocumentWithoutAFetchableJwksUri) {
  KeyFetcher fetcher(clock_);
  source_.answer("/.well-known/openid-configuration", 200,
                 R"({"issuer": ")" + source_.base() + R"("})");
  EXPECT_FALSE(fetcher.keys_of_issuer(source_.base(), false));
  serve_discovery(source_.base(), "http://keys.example/jwks");
  clock_.advance(31s);
  auto keys = fetcher.keys_of_issuer(source_.base(), false);
  ASSERT_FALSE(keys);
  EXPECT_NE(keys.error().message.find("may not be fetched"), std::string::npos)
      << keys.error().message;
}

TEST(HttpsDiscoveryTest, StaysOnHttps) {
  testing::TlsFiles files;
  ASSERT_TRUE(files.ok);
  FakeSource https(http::TlsSettings{files.cert(), files.key()});
  FakeSource plain;
  const jose::Jwk key = new_key();
  https.answer("/keys", 200, jwks_of({key}));
  plain.answer("/keys", 200, jwks_of({key}));
  FakeClock clock;
  KeyFetcherOptions options;
  options.ca_file = files.cert();
  KeyFetcher fetcher(clock, options);

  auto discovery = [&](const std::string& jwks_uri) {
    https.answer("/.well-known/openid-configuration", 200,
                 R"({"issuer": ")" + https.base() + R"(", "jwks_uri": ")" + jwks_uri + R"("})");
  };
  discovery(plain.url("/keys"));
  auto keys = fetcher.keys_of_issuer(https.base(), false);
  ASSERT_FALSE(keys);
  EXPECT_NE(keys.error().message.find("not https"), std::string::npos) << keys.error().message;
  EXPECT_EQ(plain.count("/keys"), 0);

  discovery(https.url("/keys"));
  clock.advance(30s);
  keys = fetcher.keys_of_issuer(https.base(), false);
  EXPECT_TRUE(holds(keys, key)) << (keys ? "" : keys.error().message);

  // The server's certificate is checked: without the CA, nothing is fetched.
  KeyFetcher untrusting(clock);
  keys = untrusting.keys_at(https.url("/keys"), false);
  ASSERT_FALSE(keys);
  EXPECT_EQ(keys.error().code, Code::kUnavailable);
}

TEST_F(KeyFetcherTest, ConcurrentCallersShareOneFetch) {
  source_.answer("/jwks", 200, jwks_of({key1_}));
  source_.delay_answers(300ms);
  KeyFetcher fetcher(clock_);
  std::atomic<int> good{0};
  std::vector<std::thread> callers;
  for (int i = 0; i < 8; ++i) {
    callers.emplace_back([&] {
      if (holds(fetcher.keys_at(source_.url("/jwks"), false), key1_)) ++good;
    });
  }
  for (auto& t : callers) t.join();
  EXPECT_EQ(good.load(), 8);
  EXPECT_EQ(source_.count("/jwks"), 1);
}

TEST_F(KeyFetcherTest, ForgetsTheUrlUnusedLongestBeyondTheLimit) {
  source_.answer("/a", 200, jwks_of({key1_}));
  source_.answer("/b", 200, jwks_of({key1_}));
  source_.answer("/c", 200, jwks_of({key1_}));
  KeyFetcherOptions options;
  options.max_urls = 2;
  KeyFetcher fetcher(clock_, options);
  ASSERT_TRUE(fetcher.keys_at(source_.url("/a"), false));
  ASSERT_TRUE(fetcher.keys_at(source_.url("/b"), false));
  ASSERT_TRUE(fetcher.keys_at(source_.url("/a"), false));  // b is now the one unused longest
  ASSERT_TRUE(fetcher.keys_at(source_.url("/c"), false));
  ASSERT_TRUE(fetcher.keys_at(source_.url("/a"), false));
  ASSERT_TRUE(fetcher.keys_at(source_.url("/b"), false));
  EXPECT_EQ(source_.count("/a"), 1);
  EXPECT_EQ(source_.count("/b"), 2);
  EXPECT_EQ(source_.count("/c"), 1);
}

}  // namespace
}  // namespace sigil::server
