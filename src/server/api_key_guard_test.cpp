#include "server/api_key_guard.hpp"

#include <gtest/gtest.h>

#include "apikeys/testing/memory_store.hpp"

namespace sigil::server {
namespace {

class ApiKeyGuardTest : public ::testing::Test {
 protected:
  void SetUp() override {
    service_ = std::move(*apikeys::ApiKeyService::load(store_, store_));
    ASSERT_TRUE(
        service_->create_key_space({"live", "sk_live", "live", clock_.now()}, clock_.now()));
    apikeys::NewApiKey n;
    n.key_space = "live";
    n.owner = "acme";
    n.scopes = {"read"};
    n.rate_limit = apikeys::RateLimit{2, Seconds{60}};
    auto created = service_->create(std::move(n), clock_.now());
    ASSERT_TRUE(created) << created.error().message;
    key_ = created->key.reveal();
    key_id_ = created->record.id;
  }

  // Runs the guard over `headers`; returns the answer and what the wrapped handler saw.
  http::Response run(http::HeaderList headers, std::vector<std::string> scopes = {"read"}) {
    seen_.reset();
    auto handler =
        api_key_guard(*service_, clock_, {.required_scopes = std::move(scopes), .key_space = {}},
                      [this](http::Request&& r, http::Responder respond) {
                        seen_ = std::move(r);
                        respond(http::Response::json(200, "{}"));
                      });
    http::Request request;
    request.method = "GET";
    request.path = "/orders";
    request.headers = std::move(headers);
    http::Response out;
    handler(std::move(request),
            http::Responder::from([&](http::Response&& r) { out = std::move(r); }));
    return out;
  }

  FakeClock clock_;
  apikeys::testing::MemoryStore store_;
  std::unique_ptr<apikeys::ApiKeyService> service_;
  std::string key_;
  std::string key_id_;
  std::optional<http::Request> seen_;
};

TEST_F(ApiKeyGuardTest, MissingKeyIs401) {
  auto r = run({});
  EXPECT_EQ(r.status, 401u);
  EXPECT_TRUE(r.header("WWW-Authenticate"));
  EXPECT_FALSE(seen_);
}

TEST_F(ApiKeyGuardTest, GoodKeyPassesWithItsIdentityAndWithoutTheKey) {
  auto r = run({{"X-API-Key", key_}, {"X-API-Key-Owner", "spoofed"}});
  EXPECT_EQ(r.status, 200u);
  ASSERT_TRUE(seen_);
  EXPECT_EQ(seen_->header("X-API-Key-Id"), key_id_);
  EXPECT_EQ(seen_->header("X-API-Key-Owner"), "acme");
  EXPECT_EQ(seen_->header("X-API-Key-Space"), "live");
  EXPECT_FALSE(seen_->header("X-API-Key"));
  std::size_t owners = 0;
  for (const auto& [name, value] : seen_->headers) owners += name == "X-API-Key-Owner";
  EXPECT_EQ(owners, 1u);
  EXPECT_EQ(r.header("RateLimit-Limit"), "2");
  EXPECT_EQ(r.header("RateLimit-Remaining"), "1");
}

TEST_F(ApiKeyGuardTest, BearerFormWorksToo) {
  EXPECT_EQ(run({{"Authorization", "Bearer " + key_}}).status, 200u);
  EXPECT_FALSE(seen_->header("Authorization"));
}

TEST_F(ApiKeyGuardTest, RefusalsMapToStatuses) {
  std::string typo = key_;
  typo[10] = typo[10] == 'a' ? 'b' : 'a';
  auto bad = run({{"X-API-Key", typo}});
  EXPECT_EQ(bad.status, 401u);
  EXPECT_NE(bad.body.find("bad_checksum"), std::string::npos);
  EXPECT_EQ(bad.body.find(typo), std::string::npos);
  EXPECT_EQ(run({{"Authorization", "Basic Zm9vOmJhcg=="}}).status, 401u);
  EXPECT_EQ(run({{"X-API-Key", key_}}, {"write"}).status, 403u);
  EXPECT_FALSE(seen_);
}

TEST_F(ApiKeyGuardTest, RateLimitedIs429WithRetryAfter) {
  EXPECT_EQ(run({{"X-API-Key", key_}}).status, 200u);
  EXPECT_EQ(run({{"X-API-Key", key_}}).status, 200u);
  auto limited = run({{"X-API-Key", key_}});
  EXPECT_EQ(limited.status, 429u);
  EXPECT_EQ(limited.header("RateLimit-Remaining"), "0");
  ASSERT_TRUE(limited.header("Retry-After"));
  EXPECT_GT(std::stoi(std::string(*limited.header("Retry-After"))), 0);
  clock_.advance(Seconds{30});
  EXPECT_EQ(run({{"X-API-Key", key_}}).status, 200u);
}

}  // namespace
}  // namespace sigil::server
