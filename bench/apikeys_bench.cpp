// In-process API-key verification: parse + checksum, SHA-256, one cache lookup, the checks.
// The key is cached, has no credits and no rate limit (the common case: no store access).
// The same figure with 1,000, 100,000 and 1,000,000 keys in the service shows whether the
// cache's size matters. Run e.g. `taskset -c 0 bench/apikeys_bench`.
#include <benchmark/benchmark.h>

#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "apikeys/key_format.hpp"
#include "apikeys/service.hpp"
#include "apikeys/testing/memory_store.hpp"
#include "base/clock.hpp"
#include "crypto/digest.hpp"

namespace sigil::apikeys {
namespace {

constexpr std::size_t kSampleKeys = 4096;  // verified in turn, spread over the whole set

// A service holding `n` keys, and the text of some of them.
struct World {
  testing::MemoryStore store;
  std::unique_ptr<ApiKeyService> service;
  std::vector<std::string> sample;
};

World& world(std::size_t n) {
  static std::map<std::size_t, std::unique_ptr<World>> worlds;
  auto& w = worlds[n];
  if (w) return *w;
  w = std::make_unique<World>();
  const TimePoint now = from_unix(1'700'000'000);
  if (!w->store.create_key_space({"live", "sk_live", "Live", now})) std::abort();
  const std::size_t stride = std::max<std::size_t>(1, n / kSampleKeys);
  char id[32];
  for (std::size_t i = 0; i < n; ++i) {
    // Built directly (not through create()) to fill a million keys quickly.
    std::string text = generate_key("sk_live");
    ApiKey key;
    std::snprintf(id, sizeof id, "key_%020zu", i);
    key.id = id;
    key.key_space = "live";
    key.digest = crypto::sha256(text);
    key.start = key_start(text);
    key.owner = "customer-" + std::to_string(i % 10'000);
    key.name = "bench";
    key.scopes = {"read", "write"};
    key.metadata = R"({"plan":"pro"})";
    key.created_at = now;
    key.updated_at = now;
    if (!w->store.insert_unchecked(std::move(key))) std::abort();
    if (i % stride == 0 && w->sample.size() < kSampleKeys) w->sample.push_back(std::move(text));
  }
  auto loaded = ApiKeyService::load(w->store, w->store);
  if (!loaded) std::abort();
  w->service = std::move(*loaded);
  return *w;
}

void BM_Verify(benchmark::State& state) {
  World& w = world(static_cast<std::size_t>(state.range(0)));
  const std::vector<std::string> scopes{"read"};
  const TimePoint now = from_unix(1'700'000'100);
  std::size_t i = 0;
  for (auto _ : state) {
    auto result = w.service->verify(w.sample[i], scopes, "live", now);
    if (!result || !result->valid()) state.SkipWithError("verify failed");
    benchmark::DoNotOptimize(result);
    if (++i == w.sample.size()) i = 0;
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Verify)->Arg(1'000)->Arg(100'000)->Arg(1'000'000)->Unit(benchmark::kNanosecond);

void BM_ParseKey(benchmark::State& state) {
  const std::string key = generate_key("sk_live");
  for (auto _ : state) {
    auto parsed = parse_key(key);
    benchmark::DoNotOptimize(parsed);
  }
}
BENCHMARK(BM_ParseKey);

void BM_Sha256OfKey(benchmark::State& state) {
  const std::string key = generate_key("sk_live");
  for (auto _ : state) {
    auto digest = crypto::sha256(key);
    benchmark::DoNotOptimize(digest);
  }
}
BENCHMARK(BM_Sha256OfKey);

void BM_GenerateKey(benchmark::State& state) {
  for (auto _ : state) {
    auto key = generate_key("sk_live");
    benchmark::DoNotOptimize(key);
  }
}
BENCHMARK(BM_GenerateKey);

}  // namespace
}  // namespace sigil::apikeys
