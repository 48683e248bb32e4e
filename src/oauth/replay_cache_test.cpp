#include "oauth/replay_cache.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

namespace sigil::oauth {
namespace {

const TimePoint kNow = from_unix(1'700'000'000);

TEST(ReplayCache, SecondUseBeforeExpiryIsRefused) {
  ReplayCache cache;
  EXPECT_TRUE(cache.first_use("client\njti-1", kNow + Seconds{60}, kNow));
  EXPECT_FALSE(cache.first_use("client\njti-1", kNow + Seconds{60}, kNow + Seconds{1}));
  EXPECT_FALSE(cache.first_use("client\njti-1", kNow + Seconds{60}, kNow + Seconds{59}));
  EXPECT_EQ(cache.size(), 1u);
}

TEST(ReplayCache, KeysAreExact) {
  ReplayCache cache;
  EXPECT_TRUE(cache.first_use("a\njti", kNow + Seconds{60}, kNow));
  EXPECT_TRUE(cache.first_use("b\njti", kNow + Seconds{60}, kNow));
  EXPECT_TRUE(cache.first_use("a\nJTI", kNow + Seconds{60}, kNow));
  EXPECT_TRUE(cache.first_use(std::string("a\njti\0", 6), kNow + Seconds{60}, kNow));
  EXPECT_FALSE(cache.first_use("a\njti", kNow + Seconds{60}, kNow));
  EXPECT_EQ(cache.size(), 4u);
}

TEST(ReplayCache, KeyIsFreeAgainOnceExpired) {
  ReplayCache cache;
  EXPECT_TRUE(cache.first_use("k", kNow + Seconds{10}, kNow));
  // At expires_at the assertion is no longer acceptable, so it cannot be replayed.
  EXPECT_TRUE(cache.first_use("k", kNow + Seconds{20}, kNow + Seconds{10}));
  EXPECT_FALSE(cache.first_use("k", kNow + Seconds{20}, kNow + Seconds{19}));
}

TEST(ReplayCache, ExpiredEntriesArePurgedAtMostOnceASecond) {
  ReplayCache cache;
  ASSERT_TRUE(cache.first_use("short", kNow + Seconds{1}, kNow));
  ASSERT_TRUE(cache.first_use("long", kNow + Seconds{100}, kNow));
  // "short" expires at kNow + 1 s; the purge at kNow + 1 s removes it.
  ASSERT_TRUE(cache.first_use("third", kNow + Seconds{100}, kNow + Seconds{1}));
  EXPECT_EQ(cache.size(), 2u);
  // Expired again, but within the second after the last purge: kept for now.
  ASSERT_TRUE(cache.first_use("fourth", kNow + Seconds{2}, kNow + Seconds{1}));
  ASSERT_TRUE(cache.first_use("fifth", kNow + Seconds{100},
                              kNow + Seconds{1} + std::chrono::milliseconds(999)));
  EXPECT_EQ(cache.size(), 4u);
  ASSERT_TRUE(cache.first_use("sixth", kNow + Seconds{100}, kNow + Seconds{2}));
  EXPECT_EQ(cache.size(), 4u);  // "fourth" went
}

TEST(ReplayCache, FullOfLiveEntriesRefusesRatherThanForgets) {
  ReplayCache cache(3);
  EXPECT_TRUE(cache.first_use("1", kNow + Seconds{60}, kNow));
  EXPECT_TRUE(cache.first_use("2", kNow + Seconds{60}, kNow));
  EXPECT_TRUE(cache.first_use("3", kNow + Seconds{60}, kNow));
  EXPECT_FALSE(cache.first_use("4", kNow + Seconds{60}, kNow));
  // Still remembered: a replay of one of them is refused.
  EXPECT_FALSE(cache.first_use("1", kNow + Seconds{60}, kNow));
  EXPECT_EQ(cache.size(), 3u);
}

TEST(ReplayCache, FullCachePurgesExpiredEntriesAtOnce) {
  using std::chrono::milliseconds;
  ReplayCache cache(2);
  ASSERT_TRUE(cache.first_use("1", kNow + Seconds{5}, kNow));
  ASSERT_TRUE(cache.first_use("2", kNow + Seconds{60}, kNow));
  // Full, and nothing has expired: refused; this also purges, at kNow + 4.5 s.
  EXPECT_FALSE(cache.first_use("x", kNow + Seconds{60}, kNow + milliseconds(4500)));
  // Within a second of that purge, but full: "1" has expired since and makes room.
  EXPECT_TRUE(cache.first_use("3", kNow + Seconds{60}, kNow + Seconds{5}));
  EXPECT_FALSE(cache.first_use("2", kNow + Seconds{60}, kNow + Seconds{5}));
  EXPECT_EQ(cache.size(), 2u);
}

TEST(ReplayCache, ZeroCapacityRefusesEverything) {
  ReplayCache cache(0);
  EXPECT_FALSE(cache.first_use("k", kNow + Seconds{60}, kNow));
  EXPECT_EQ(cache.size(), 0u);
}

TEST(ReplayCache, ConcurrentUsesOfOneKeyLetExactlyOneThrough) {
  ReplayCache cache;
  constexpr int kThreads = 8;
  constexpr int kKeys = 200;
  std::atomic<int> accepted{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int k = 0; k < kKeys; ++k) {
        if (cache.first_use("jti-" + std::to_string(k), kNow + Seconds{60}, kNow)) ++accepted;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(accepted.load(), kKeys);
  EXPECT_EQ(cache.size(), static_cast<std::size_t>(kKeys));
}

}  // namespace
}  // namespace sigil::oauth
