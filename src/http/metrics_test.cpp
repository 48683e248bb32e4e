#include "http/metrics.hpp"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

namespace sigil::http {
namespace {

TEST(Metrics, CounterRendering) {
  MetricsRegistry registry;
  auto& c = registry.counter("sigil_tokens_issued_total", "Tokens issued", {"grant", "aud"});
  c.with({"client_credentials", "a"}).inc();
  c.with({"client_credentials", "a"}).inc(2);
  c.with({"x\"y\\z\nw", "b"}).inc();
  EXPECT_EQ(c.with({"client_credentials", "a"}).value(), 3u);
  EXPECT_EQ(registry.render(),
            "# HELP sigil_tokens_issued_total Tokens issued\n"
            "# TYPE sigil_tokens_issued_total counter\n"
            "sigil_tokens_issued_total{grant=\"client_credentials\",aud=\"a\"} 3\n"
            "sigil_tokens_issued_total{grant=\"x\\\"y\\\\z\\nw\",aud=\"b\"} 1\n");
}

TEST(Metrics, UnlabelledCounterAndGauge) {
  MetricsRegistry registry;
  registry.counter("up_total", "Help with \\ and\nnewline").with({}).inc();
  registry.gauge("in_flight", "In flight").with({}).set(2.5);
  EXPECT_EQ(registry.render(),
            "# HELP up_total Help with \\\\ and\\nnewline\n"
            "# TYPE up_total counter\n"
            "up_total 1\n"
            "# HELP in_flight In flight\n"
            "# TYPE in_flight gauge\n"
            "in_flight 2.5\n");
}

TEST(Metrics, HistogramRendering) {
  MetricsRegistry registry;
  static constexpr double kBounds[] = {0.25, 1};
  auto& h = registry.histogram("latency_seconds", "Latency", {"route"}, kBounds);
  h.with({"/t"}).observe(0.125);
  h.with({"/t"}).observe(0.25);  // le is inclusive
  h.with({"/t"}).observe(0.5);
  h.with({"/t"}).observe(7);
  EXPECT_EQ(registry.render(),
            "# HELP latency_seconds Latency\n"
            "# TYPE latency_seconds histogram\n"
            "latency_seconds_bucket{route=\"/t\",le=\"0.25\"} 2\n"
            "latency_seconds_bucket{route=\"/t\",le=\"1\"} 3\n"
            "latency_seconds_bucket{route=\"/t\",le=\"+Inf\"} 4\n"
            "latency_seconds_sum{route=\"/t\"} 7.875\n"
            "latency_seconds_count{route=\"/t\"} 4\n");
}

TEST(Metrics, DefaultBucketsSpanTenthOfMillisecondToFiveSeconds) {
  auto b = default_latency_buckets();
  ASSERT_FALSE(b.empty());
  EXPECT_DOUBLE_EQ(b.front(), 0.0001);
  EXPECT_DOUBLE_EQ(b.back(), 5);
}

TEST(Metrics, ReRegisteringReturnsSameFamily) {
  MetricsRegistry registry;
  auto& a = registry.counter("x_total", "X", {"l"});
  auto& b = registry.counter("x_total", "X", {"l"});
  EXPECT_EQ(&a, &b);
  EXPECT_EQ(&a.with({"v"}), &b.with({"v"}));
}

TEST(Metrics, WrongArityGoesToOverflowSeries) {
  MetricsRegistry registry;
  auto& c = registry.counter("y_total", "Y", {"a", "b"});
  c.with({"only-one"}).inc();
  EXPECT_NE(registry.render().find("y_total{a=\"_overflow\",b=\"_overflow\"} 1\n"),
            std::string::npos);
}

TEST(Metrics, SeriesCountIsBounded) {
  MetricsRegistry registry;
  auto& c = registry.counter("z_total", "Z", {"id"});
  for (std::size_t i = 0; i < CounterFamily::kMaxSeries + 5; ++i) {
    c.with({std::to_string(i)}).inc();
  }
  EXPECT_EQ(c.with({"_overflow"}).value(), 5u);
  EXPECT_EQ(c.with({"0"}).value(), 1u);
}

TEST(Metrics, ConcurrentIncrementsAreCounted) {
  MetricsRegistry registry;
  auto& c = registry.counter("c_total", "C", {"k"});
  auto& h = registry.histogram("h_seconds", "H", {"k"});
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 10000; ++i) {
        c.with({t % 2 == 0 ? "even" : "odd"}).inc();
        h.with({"k"}).observe(0.001);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(c.with({"even"}).value(), 20000u);
  EXPECT_EQ(c.with({"odd"}).value(), 20000u);
  EXPECT_EQ(h.with({"k"}).snapshot().count, 40000u);
}

TEST(MetricsDeathTest, InvalidNameAborts) {
  MetricsRegistry registry;
  EXPECT_DEATH(registry.counter("bad-name", "x"), "invalid metric name");
  EXPECT_DEATH(registry.counter("ok_total", "x", {"le"}), "invalid label name");
}

}  // namespace
}  // namespace sigil::http
