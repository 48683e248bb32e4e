#include "apikeys/service.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "apikeys/key_format.hpp"
#include "apikeys/testing/memory_store.hpp"
#include "crypto/digest.hpp"

// GCC 12 warns about designated initialisers that leave members to their defaults, which is
// how these tests write requests.
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

namespace sigil::apikeys {
namespace {

using std::chrono::hours;
using std::chrono::milliseconds;

class ApiKeyServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto loaded = ApiKeyService::load(store_, store_);
    ASSERT_TRUE(loaded.has_value());
    service_ = std::move(*loaded);
    ASSERT_TRUE(service_->create_key_space({.id = "live", .prefix = "sk_live", .name = "Live"},
                                           clock_.now()));
    ASSERT_TRUE(service_->create_key_space({.id = "test", .prefix = "sk_test", .name = "Test"},
                                           clock_.now()));
  }

  CreatedApiKey create(NewApiKey request) {
    if (request.key_space.empty()) request.key_space = "live";
    if (request.owner.empty()) request.owner = "customer-1";
    auto created = service_->create(std::move(request), clock_.now());
    EXPECT_TRUE(created.has_value()) << (created ? "" : created.error().message);
    return created ? std::move(*created) : CreatedApiKey{};
  }

  VerifyCode verify(const CreatedApiKey& key, std::vector<std::string> scopes = {},
                    std::optional<std::string_view> space = std::nullopt) {
    auto result = service_->verify(key.key.reveal(), scopes, space, clock_.now());
    EXPECT_TRUE(result.has_value());
    return result ? result->code : VerifyCode::kMalformed;
  }

  testing::MemoryStore store_;
  FakeClock clock_;
  std::unique_ptr<ApiKeyService> service_;
};

TEST_F(ApiKeyServiceTest, CreateStoresOnlyTheDigest) {
  auto key = create({.name = "ci", .scopes = {"write", "read", "read"}});
  EXPECT_TRUE(parse_key(key.key.reveal()).has_value());
  EXPECT_TRUE(key.key.reveal().starts_with("sk_live_"));
  EXPECT_TRUE(key.record.id.starts_with("key_"));
  EXPECT_EQ(key.record.id.size(), 24u);
  EXPECT_EQ(key.record.digest, crypto::sha256(key.key.reveal()));
  EXPECT_EQ(key.record.start, key.key.reveal().substr(0, 12));
  EXPECT_EQ(key.record.scopes, (std::vector<std::string>{"read", "write"}));
  EXPECT_EQ(key.record.key_space, "live");
  auto stored = store_.get_api_key(key.record.id);
  ASSERT_TRUE(stored.has_value());
  EXPECT_EQ(stored->digest, key.record.digest);
}

TEST_F(ApiKeyServiceTest, CreateValidates) {
  const auto code = [&](NewApiKey r) {
    auto created = service_->create(std::move(r), clock_.now());
    return created ? std::optional<Code>{} : std::optional<Code>{created.error().code};
  };
  EXPECT_EQ(code({.key_space = "nope", .owner = "c"}), Code::kNotFound);
  EXPECT_EQ(code({.key_space = "live", .owner = ""}), Code::kInvalidArgument);
  EXPECT_EQ(code({.key_space = "live", .owner = std::string(257, 'a')}), Code::kInvalidArgument);
  EXPECT_EQ(code({.key_space = "live", .owner = "a\nb"}), Code::kInvalidArgument);
  EXPECT_EQ(code({.key_space = "live", .owner = std::string(256, 'a')}), std::nullopt);
  EXPECT_EQ(code({.key_space = "live", .owner = "c", .scopes = {"a b"}}), Code::kInvalidArgument);
  EXPECT_EQ(code({.key_space = "live", .owner = "c", .scopes = {"a\"b"}}), Code::kInvalidArgument);
  EXPECT_EQ(code({.key_space = "live", .owner = "c", .scopes = {""}}), Code::kInvalidArgument);
  EXPECT_EQ(code({.key_space = "live", .owner = "c", .metadata = "[1]"}), Code::kInvalidArgument);
  EXPECT_EQ(code({.key_space = "live", .owner = "c", .metadata = "{"}), Code::kInvalidArgument);
  EXPECT_EQ(code({.key_space = "live",
                  .owner = "c",
                  .metadata = "{\"a\":\"" + std::string(4100, 'x') + "\"}"}),
            Code::kInvalidArgument);
  EXPECT_EQ(code({.key_space = "live", .owner = "c", .remaining = -1}), Code::kInvalidArgument);
  EXPECT_EQ(code({.key_space = "live", .owner = "c", .rate_limit = RateLimit{0, Seconds{1}}}),
            Code::kInvalidArgument);
  EXPECT_EQ(code({.key_space = "live", .owner = "c", .rate_limit = RateLimit{1, Seconds{0}}}),
            Code::kInvalidArgument);
  EXPECT_EQ(code({.key_space = "live", .owner = "c", .rate_limit = RateLimit{1, Seconds{86'401}}}),
            Code::kInvalidArgument);
  EXPECT_EQ(code({.key_space = "live", .owner = "c", .expires_at = clock_.now()}),
            Code::kInvalidArgument);
  auto ok = service_->create({.key_space = "live", .owner = "c", .metadata = " { \"plan\" : 1 } "},
                             clock_.now());
  ASSERT_TRUE(ok.has_value());
  EXPECT_EQ(ok->record.metadata, "{\"plan\":1}");
}

TEST_F(ApiKeyServiceTest, KeySpaces) {
  EXPECT_EQ(
      service_->create_key_space({.id = "live", .prefix = "sk_other"}, clock_.now()).error().code,
      Code::kAlreadyExists);
  EXPECT_EQ(
      service_->create_key_space({.id = "other", .prefix = "sk_live"}, clock_.now()).error().code,
      Code::kAlreadyExists);
  EXPECT_EQ(service_->create_key_space({.id = "Bad", .prefix = "pk"}, clock_.now()).error().code,
            Code::kInvalidArgument);
  EXPECT_EQ(service_->create_key_space({.id = "ok", .prefix = "pk_"}, clock_.now()).error().code,
            Code::kInvalidArgument);
  auto spaces = service_->list_key_spaces();
  ASSERT_EQ(spaces.size(), 2u);
  EXPECT_EQ(spaces[0].id, "live");
  EXPECT_EQ(service_->get_key_space("test")->prefix, "sk_test");
  EXPECT_EQ(service_->get_key_space("nope").error().code, Code::kNotFound);
}

TEST_F(ApiKeyServiceTest, VerifyValid) {
  auto key = create({.name = "ci", .scopes = {"read", "write"}, .metadata = R"({"plan":"pro"})"});
  auto result = service_->verify(key.key.reveal(), {"read"}, "live", clock_.now());
  ASSERT_TRUE(result.has_value());
  EXPECT_EQ(result->code, VerifyCode::kValid);
  EXPECT_TRUE(result->valid());
  ASSERT_TRUE(result->key);
  EXPECT_EQ(result->key->id, key.record.id);
  EXPECT_EQ(result->key->owner, "customer-1");
  EXPECT_EQ(result->key->metadata, R"({"plan":"pro"})");
  EXPECT_FALSE(result->remaining.has_value());
  EXPECT_FALSE(result->rate_limit.has_value());
}

TEST_F(ApiKeyServiceTest, VerifyMalformedAndBadChecksumHaveNoKey) {
  auto key = create({});
  for (std::string_view text : {"", "hello", "sk_live_abc", "Bearer x"}) {
    auto r = service_->verify(text, {}, std::nullopt, clock_.now());
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->code, VerifyCode::kMalformed) << text;
    EXPECT_FALSE(r->key != nullptr);
  }
  std::string typo = key.key.reveal();
  typo[10] = typo[10] == 'a' ? 'b' : 'a';
  // The store is never asked: a failing store would make a lookup fail.
  store_.fail_next();
  auto r = service_->verify(typo, {}, std::nullopt, clock_.now());
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->code, VerifyCode::kBadChecksum);
  EXPECT_FALSE(r->key != nullptr);
}

TEST_F(ApiKeyServiceTest, VerifyUnknown) {
  const std::string made_up = generate_key("sk_live");
  auto r = service_->verify(made_up, {}, std::nullopt, clock_.now());
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->code, VerifyCode::kUnknown);
  EXPECT_FALSE(r->key != nullptr);
}

TEST_F(ApiKeyServiceTest, KeySpaceMismatchIsUnknown) {
  auto key = create({.key_space = "test"});
  EXPECT_EQ(verify(key, {}, "live"), VerifyCode::kUnknown);
  EXPECT_EQ(verify(key, {}, "test"), VerifyCode::kValid);
  EXPECT_EQ(verify(key), VerifyCode::kValid);
}

TEST_F(ApiKeyServiceTest, VerifyExpired) {
  auto key = create({.expires_at = clock_.now() + hours(1)});
  EXPECT_EQ(verify(key), VerifyCode::kValid);
  clock_.advance(hours(1) - milliseconds(1));
  EXPECT_EQ(verify(key), VerifyCode::kValid);
  clock_.advance(milliseconds(1));
  EXPECT_EQ(verify(key), VerifyCode::kExpired);
}

TEST_F(ApiKeyServiceTest, VerifyMissingScope) {
  auto key = create({.scopes = {"read"}});
  EXPECT_EQ(verify(key, {"read"}), VerifyCode::kValid);
  EXPECT_EQ(verify(key, {"read", "write"}), VerifyCode::kMissingScope);
  EXPECT_EQ(verify(key, {"Read"}), VerifyCode::kMissingScope);
}

TEST_F(ApiKeyServiceTest, DecisionOrder) {
  // Revoked before disabled before expired before scope before rate limit before credits.
  auto key = create({.scopes = {"read"},
                     .expires_at = clock_.now() + hours(1),
                     .remaining = 0,
                     .rate_limit = RateLimit{1, Seconds{60}}});
  EXPECT_EQ(verify(key, {"read"}), VerifyCode::kNoCredits);
  EXPECT_EQ(verify(key, {"read"}), VerifyCode::kRateLimited);
  EXPECT_EQ(verify(key, {"write"}), VerifyCode::kMissingScope);
  clock_.advance(hours(2));
  EXPECT_EQ(verify(key, {"write"}), VerifyCode::kExpired);
  ASSERT_TRUE(service_->set_status(key.record.id, KeyStatus::kDisabled, clock_.now()));
  EXPECT_EQ(verify(key, {"write"}), VerifyCode::kDisabled);
  ASSERT_TRUE(service_->set_status(key.record.id, KeyStatus::kRevoked, clock_.now()));
  EXPECT_EQ(verify(key, {"write"}), VerifyCode::kRevoked);
}

TEST_F(ApiKeyServiceTest, DisableEnableRevoke) {
  auto key = create({});
  auto disabled = service_->set_status(key.record.id, KeyStatus::kDisabled, clock_.now());
  ASSERT_TRUE(disabled.has_value());
  EXPECT_EQ(disabled->status, KeyStatus::kDisabled);
  auto r = service_->verify(key.key.reveal(), {}, std::nullopt, clock_.now());
  EXPECT_EQ(r->code, VerifyCode::kDisabled);
  ASSERT_TRUE(r->key != nullptr);
  EXPECT_EQ(r->key->status, KeyStatus::kDisabled);
  ASSERT_TRUE(service_->set_status(key.record.id, KeyStatus::kActive, clock_.now()));
  EXPECT_EQ(verify(key), VerifyCode::kValid);
  ASSERT_TRUE(service_->set_status(key.record.id, KeyStatus::kRevoked, clock_.now()));
  EXPECT_EQ(verify(key), VerifyCode::kRevoked);
  EXPECT_EQ(service_->set_status(key.record.id, KeyStatus::kActive, clock_.now()).error().code,
            Code::kFailedPrecondition);
  EXPECT_EQ(service_->set_status(key.record.id, KeyStatus::kDisabled, clock_.now()).error().code,
            Code::kFailedPrecondition);
  EXPECT_EQ(store_.get_api_key(key.record.id)->status, KeyStatus::kRevoked);
  EXPECT_EQ(service_->rotate(key.record.id, Seconds{60}, clock_.now()).error().code,
            Code::kFailedPrecondition);
  EXPECT_EQ(service_->update(key.record.id, {.name = "x"}, clock_.now()).error().code,
            Code::kFailedPrecondition);
  EXPECT_EQ(service_->set_status("key_nope", KeyStatus::kDisabled, clock_.now()).error().code,
            Code::kNotFound);
}

TEST_F(ApiKeyServiceTest, RotationOverlapAndItsEnd) {
  auto old_key = create({.name = "ci",
                         .scopes = {"read"},
                         .metadata = R"({"a":1})",
                         .remaining = 100,
                         .rate_limit = RateLimit{10, Seconds{1}}});
  auto rotated = service_->rotate(old_key.record.id, Seconds{3600}, clock_.now());
  ASSERT_TRUE(rotated.has_value());
  const ApiKey& n = rotated->record;
  EXPECT_NE(n.id, old_key.record.id);
  EXPECT_NE(rotated->key.reveal(), old_key.key.reveal());
  EXPECT_EQ(n.rotated_from, old_key.record.id);
  EXPECT_EQ(n.key_space, "live");
  EXPECT_EQ(n.owner, old_key.record.owner);
  EXPECT_EQ(n.name, "ci");
  EXPECT_EQ(n.scopes, old_key.record.scopes);
  EXPECT_EQ(n.metadata, R"({"a":1})");
  EXPECT_EQ(n.remaining, 100);
  ASSERT_TRUE(n.rate_limit.has_value());
  EXPECT_EQ(n.rate_limit->limit, 10);
  EXPECT_FALSE(n.grace_until.has_value());
  EXPECT_EQ(store_.get_api_key(old_key.record.id)->grace_until, clock_.now() + Seconds{3600});

  EXPECT_EQ(verify(old_key), VerifyCode::kValid);
  EXPECT_EQ(verify(rotated.value()), VerifyCode::kValid);
  clock_.advance(Seconds{3599});
  EXPECT_EQ(verify(old_key), VerifyCode::kValid);
  clock_.advance(Seconds{1});
  EXPECT_EQ(verify(old_key), VerifyCode::kExpired);
  EXPECT_EQ(verify(rotated.value()), VerifyCode::kValid);
}

TEST_F(ApiKeyServiceTest, RotationWithoutGraceStopsAtOnce) {
  auto old_key = create({});
  auto rotated = service_->rotate(old_key.record.id, Seconds{0}, clock_.now());
  ASSERT_TRUE(rotated.has_value());
  EXPECT_EQ(verify(old_key), VerifyCode::kExpired);
  EXPECT_EQ(verify(rotated.value()), VerifyCode::kValid);
  EXPECT_EQ(service_->rotate(old_key.record.id, Seconds{-1}, clock_.now()).error().code,
            Code::kInvalidArgument);
}

TEST_F(ApiKeyServiceTest, CreditsUnderConcurrency) {
  auto key = create({.remaining = 20});
  std::atomic<int> valid{0}, no_credits{0}, other{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 50; ++i) {
    threads.emplace_back([&] {
      auto r = service_->verify(key.key.reveal(), {}, std::nullopt, clock_.now());
      if (!r) {
        ++other;
      } else if (r->code == VerifyCode::kValid) {
        ++valid;
      } else if (r->code == VerifyCode::kNoCredits) {
        ++no_credits;
      } else {
        ++other;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(valid.load(), 20);
  EXPECT_EQ(no_credits.load(), 30);
  EXPECT_EQ(other.load(), 0);
  EXPECT_EQ(store_.get_api_key(key.record.id)->remaining, 0);
  EXPECT_EQ(service_->get(key.record.id)->remaining, 0);
}

TEST_F(ApiKeyServiceTest, CreditsReportedAndRefilledByUpdate) {
  auto key = create({.remaining = 2});
  auto r = service_->verify(key.key.reveal(), {}, std::nullopt, clock_.now());
  EXPECT_EQ(r->code, VerifyCode::kValid);
  EXPECT_EQ(r->remaining, 1);
  EXPECT_EQ(verify(key), VerifyCode::kValid);
  r = service_->verify(key.key.reveal(), {}, std::nullopt, clock_.now());
  EXPECT_EQ(r->code, VerifyCode::kNoCredits);
  EXPECT_EQ(r->remaining, 0);
  ASSERT_TRUE(
      service_->update(key.record.id, {.remaining = std::optional<std::int64_t>{1}}, clock_.now()));
  EXPECT_EQ(verify(key), VerifyCode::kValid);
  EXPECT_EQ(verify(key), VerifyCode::kNoCredits);
  ASSERT_TRUE(
      service_->update(key.record.id, {.remaining = std::optional<std::int64_t>{}}, clock_.now()));
  for (int i = 0; i < 5; ++i) EXPECT_EQ(verify(key), VerifyCode::kValid);
}

TEST_F(ApiKeyServiceTest, StoreFailureOnCreditIsAnError) {
  auto key = create({.remaining = 5});
  store_.fail_next();
  auto r = service_->verify(key.key.reveal(), {}, std::nullopt, clock_.now());
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, Code::kUnavailable);
}

TEST_F(ApiKeyServiceTest, RateLimit) {
  auto key = create({.rate_limit = RateLimit{5, Seconds{10}}});
  for (int i = 0; i < 5; ++i) {
    auto r = service_->verify(key.key.reveal(), {}, std::nullopt, clock_.now());
    EXPECT_EQ(r->code, VerifyCode::kValid) << i;
    ASSERT_TRUE(r->rate_limit.has_value());
    EXPECT_EQ(r->rate_limit->limit, 5);
    EXPECT_EQ(r->rate_limit->remaining, 4 - i);
  }
  auto r = service_->verify(key.key.reveal(), {}, std::nullopt, clock_.now());
  EXPECT_EQ(r->code, VerifyCode::kRateLimited);
  EXPECT_EQ(r->rate_limit->remaining, 0);
  EXPECT_EQ(r->rate_limit->reset_at, clock_.now() + Seconds{10});
  clock_.advance(Seconds{1});
  EXPECT_EQ(verify(key), VerifyCode::kRateLimited);  // half a request refilled
  clock_.advance(Seconds{1});
  EXPECT_EQ(verify(key), VerifyCode::kValid);
  EXPECT_EQ(verify(key), VerifyCode::kRateLimited);
  clock_.advance(Seconds{60});  // a full bucket holds 5, no more
  for (int i = 0; i < 5; ++i) EXPECT_EQ(verify(key), VerifyCode::kValid);
  EXPECT_EQ(verify(key), VerifyCode::kRateLimited);
}

TEST_F(ApiKeyServiceTest, RateLimitRefusalTakesNoCredit) {
  auto key = create({.remaining = 10, .rate_limit = RateLimit{1, Seconds{60}}});
  EXPECT_EQ(verify(key), VerifyCode::kValid);
  EXPECT_EQ(verify(key), VerifyCode::kRateLimited);
  EXPECT_EQ(store_.get_api_key(key.record.id)->remaining, 9);
}

TEST_F(ApiKeyServiceTest, RateLimitsAreCountedPerKey) {
  auto a = create({.rate_limit = RateLimit{1, Seconds{60}}});
  auto b = create({.rate_limit = RateLimit{1, Seconds{60}}});
  EXPECT_EQ(verify(a), VerifyCode::kValid);
  EXPECT_EQ(verify(b), VerifyCode::kValid);
  EXPECT_EQ(verify(a), VerifyCode::kRateLimited);
}

TEST_F(ApiKeyServiceTest, Update) {
  auto key = create({.name = "old", .scopes = {"read"}});
  auto updated =
      service_->update(key.record.id,
                       {.name = "new",
                        .scopes = std::vector<std::string>{"write", "read"},
                        .metadata = R"({"tier":2})",
                        .expires_at = std::optional<TimePoint>{clock_.now() + hours(1)},
                        .rate_limit = std::optional<RateLimit>{RateLimit{1, Seconds{5}}}},
                       clock_.now());
  ASSERT_TRUE(updated.has_value());
  EXPECT_EQ(updated->name, "new");
  EXPECT_EQ(updated->scopes, (std::vector<std::string>{"read", "write"}));
  EXPECT_EQ(updated->metadata, R"({"tier":2})");
  EXPECT_EQ(verify(key, {"write"}), VerifyCode::kValid);
  EXPECT_EQ(verify(key, {"write"}), VerifyCode::kRateLimited);
  EXPECT_EQ(store_.get_api_key(key.record.id)->name, "new");
  EXPECT_EQ(service_->update(key.record.id, {.metadata = "3"}, clock_.now()).error().code,
            Code::kInvalidArgument);
  EXPECT_EQ(service_
                ->update(key.record.id, {.expires_at = std::optional<TimePoint>{clock_.now()}},
                         clock_.now())
                .error()
                .code,
            Code::kInvalidArgument);
  EXPECT_EQ(service_->update("key_nope", {.name = "x"}, clock_.now()).error().code,
            Code::kNotFound);
  // Removing the expiry and the limit.
  ASSERT_TRUE(service_->update(
      key.record.id,
      {.expires_at = std::optional<TimePoint>{}, .rate_limit = std::optional<RateLimit>{}},
      clock_.now()));
  clock_.advance(hours(2));
  EXPECT_EQ(verify(key, {"write"}), VerifyCode::kValid);
  EXPECT_EQ(verify(key, {"write"}), VerifyCode::kValid);
}

TEST_F(ApiKeyServiceTest, RevokeOwner) {
  auto a1 = create({.owner = "acme"});
  auto a2 = create({.owner = "acme"});
  auto other_space = create({.key_space = "test", .owner = "acme"});
  auto b = create({.owner = "globex"});
  auto revoked = service_->revoke_owner("live", "acme", clock_.now());
  ASSERT_TRUE(revoked.has_value());
  std::vector<std::string> ids = *revoked;
  std::sort(ids.begin(), ids.end());
  std::vector<std::string> expected{a1.record.id, a2.record.id};
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(ids, expected);
  EXPECT_EQ(verify(a1), VerifyCode::kRevoked);
  EXPECT_EQ(verify(a2), VerifyCode::kRevoked);
  EXPECT_EQ(verify(other_space), VerifyCode::kValid);
  EXPECT_EQ(verify(b), VerifyCode::kValid);
  EXPECT_EQ(service_->revoke_owner("live", "acme", clock_.now())->size(), 0u);
  EXPECT_EQ(service_->revoke_owner("nope", "acme", clock_.now()).error().code, Code::kNotFound);
}

TEST_F(ApiKeyServiceTest, ListPages) {
  for (int i = 0; i < 5; ++i) create({.owner = "acme"});
  create({.owner = "globex"});
  create({.key_space = "test", .owner = "acme"});
  auto page1 = service_->list({.key_space = "live", .owner = "acme", .limit = 3});
  ASSERT_TRUE(page1.has_value());
  ASSERT_EQ(page1->size(), 3u);
  auto page2 = service_->list(
      {.key_space = "live", .owner = "acme", .after_id = page1->back().id, .limit = 3});
  ASSERT_EQ(page2->size(), 2u);
  EXPECT_LT(page1->back().id, page2->front().id);
  EXPECT_EQ(service_->list({.key_space = "live"})->size(), 6u);
  EXPECT_EQ(service_->list({.key_space = "live", .limit = 0}).error().code, Code::kInvalidArgument);
  EXPECT_EQ(service_->list({.key_space = "nope"}).error().code, Code::kNotFound);
}

TEST_F(ApiKeyServiceTest, LastUsedIsBatched) {
  auto key = create({});
  EXPECT_EQ(verify(key), VerifyCode::kValid);
  const TimePoint used = clock_.now();
  clock_.advance(Seconds{5});
  EXPECT_FALSE(store_.get_api_key(key.record.id)->last_used_at.has_value());
  ASSERT_TRUE(service_->flush_last_used());
  EXPECT_EQ(store_.get_api_key(key.record.id)->last_used_at, used);
  EXPECT_EQ(service_->get(key.record.id)->last_used_at, used);
  // Within the minute a use is not written again.
  EXPECT_EQ(verify(key), VerifyCode::kValid);
  ASSERT_TRUE(service_->flush_last_used());
  EXPECT_EQ(store_.get_api_key(key.record.id)->last_used_at, used);
  // A minute later it is; a failed write keeps the times for the next flush.
  clock_.advance(Seconds{60});
  EXPECT_EQ(verify(key), VerifyCode::kValid);
  store_.fail_next();
  EXPECT_FALSE(service_->flush_last_used());
  ASSERT_TRUE(service_->flush_last_used());
  EXPECT_EQ(store_.get_api_key(key.record.id)->last_used_at, clock_.now());
}

TEST_F(ApiKeyServiceTest, LoadFillsTheCache) {
  auto key = create({.scopes = {"read"}});
  auto reloaded = ApiKeyService::load(store_, store_);
  ASSERT_TRUE(reloaded.has_value());
  auto r = (*reloaded)->verify(key.key.reveal(), {"read"}, "live", clock_.now());
  EXPECT_EQ(r->code, VerifyCode::kValid);
  EXPECT_EQ((*reloaded)->list_key_spaces().size(), 2u);
}

TEST_F(ApiKeyServiceTest, TheKeyNeverAppearsInRecordsOrMessages) {
  auto key = create({.remaining = 1, .rate_limit = RateLimit{1, Seconds{60}}});
  auto rotated = service_->rotate(key.record.id, Seconds{0}, clock_.now());
  ASSERT_TRUE(rotated.has_value());
  std::vector<std::string> texts;
  const auto add_key = [&](const ApiKey& k) {
    for (const auto& s : {k.id, k.key_space, k.digest, k.start, k.owner, k.name, k.metadata}) {
      texts.push_back(s);
    }
    for (const auto& s : k.scopes) texts.push_back(s);
    if (k.rotated_from) texts.push_back(*k.rotated_from);
  };
  for (const auto& k : store_.all_keys()) add_key(k);
  add_key(key.record);
  add_key(rotated->record);
  for (const auto& text : {key.key.reveal(), rotated->key.reveal()}) {
    for (auto r : {service_->verify(text, {"nope"}, std::nullopt, clock_.now()),
                   service_->verify(text, {}, std::nullopt, clock_.now()),
                   service_->verify(text, {}, std::nullopt, clock_.now()),
                   service_->verify(text, {}, std::nullopt, clock_.now())}) {
      ASSERT_TRUE(r.has_value());
      if (r->key) add_key(*r->key);
    }
    std::string typo = text;
    typo[9] = typo[9] == 'a' ? 'b' : 'a';
    EXPECT_FALSE(service_->verify(typo, {}, std::nullopt, clock_.now())->key != nullptr);
  }
  for (auto e : {service_->get("key_nope").error(),
                 service_->set_status("key_nope", KeyStatus::kDisabled, clock_.now()).error(),
                 service_->rotate(key.record.id, Seconds{-1}, clock_.now()).error(),
                 service_->update(key.record.id, {.metadata = "x"}, clock_.now()).error()}) {
    texts.push_back(e.message);
  }
  for (const auto& secret : {key.key.reveal(), rotated->key.reveal()}) {
    const std::string random = secret.substr(8, kRandomChars);
    for (const auto& t : texts) {
      EXPECT_EQ(t.find(secret), std::string::npos) << t;
      EXPECT_EQ(t.find(random.substr(4, 16)), std::string::npos) << t;
    }
  }
}

TEST(VerifyCodeNames, AreTheWireNames) {
  EXPECT_EQ(to_string(VerifyCode::kValid), "valid");
  EXPECT_EQ(to_string(VerifyCode::kMalformed), "malformed");
  EXPECT_EQ(to_string(VerifyCode::kBadChecksum), "bad_checksum");
  EXPECT_EQ(to_string(VerifyCode::kUnknown), "unknown");
  EXPECT_EQ(to_string(VerifyCode::kExpired), "expired");
  EXPECT_EQ(to_string(VerifyCode::kDisabled), "disabled");
  EXPECT_EQ(to_string(VerifyCode::kRevoked), "revoked");
  EXPECT_EQ(to_string(VerifyCode::kRateLimited), "rate_limited");
  EXPECT_EQ(to_string(VerifyCode::kNoCredits), "no_credits");
  EXPECT_EQ(to_string(VerifyCode::kMissingScope), "missing_scope");
}

}  // namespace
}  // namespace sigil::apikeys
