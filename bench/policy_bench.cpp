// Policy decisions in process: CompiledPolicy::decide() with 10,000 services, 1,000
// audiences and 100,000 grants, against a one-rule policy as the baseline, and the
// compile() that builds the index. A decision does the same work with both policies (three
// hash lookups and the grants of one pair); what differs is where the data lives: the
// one-rule policy stays in the L1 cache, the big one (tens of MB) does not, so its figure
// includes the cache misses of a real server. Run e.g. `taskset -c 0 bench/policy_bench`.
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "base/clock.hpp"
#include "policy/engine.hpp"

namespace sigil::policy {
namespace {

constexpr int kServices = 10'000;
constexpr int kAudiences = 1'000;
constexpr int kGrantsPerService = 10;
constexpr int kTeams = 200;             // 50 services each
constexpr int kTeamGrants = 2'000;      // grants by team selector, 10 per team
constexpr int kTeamTierGrants = 20;     // of which to every gold audience by selector
constexpr std::size_t kSample = 4'096;  // requests decided in turn

std::string numbered(const char* prefix, int i) {
  char text[32];
  std::snprintf(text, sizeof text, "%s-%05d", prefix, i);
  return text;
}

Selector named(std::string name) {
  Selector s;
  s.name = std::move(name);
  return s;
}

Cidr cidr(std::string_view text) {
  auto c = parse_cidr(text);
  if (!c) std::abort();
  return *c;
}

// One in five services and audiences is in staging; grants by name stay in their
// environment (the parser refuses those that do not), team selectors cross it and are
// filed only for the matching pairs.
bool is_staging(int i) {
  return i % 5 == 4;
}

// An audience of service i's environment, spread over all of them by k.
int audience_for(int i, int k) {
  const int block = ((i * 7 + k * 101) % (kAudiences / 5)) * 5;
  return block + (is_staging(i) ? 4 : (i + k) % 4);
}

Policy big_policy() {
  Policy p;
  p.services.reserve(kServices);
  for (int i = 0; i < kServices; ++i) {
    Service s;
    s.name = numbered("svc", i);
    s.attributes = {{"environment", is_staging(i) ? "staging" : "production"},
                    {"team", numbered("team", i % kTeams)}};
    if (i % 10 == 0) s.labels = {"edge"};
    p.services.push_back(std::move(s));
  }
  p.audiences.reserve(kAudiences);
  for (int a = 0; a < kAudiences; ++a) {
    Audience audience;
    audience.name = numbered("api", a);
    audience.uri = "https://" + audience.name + ".example.com";
    audience.scopes = {"admin", "read", "write"};
    audience.attributes = {{"environment", is_staging(a) ? "staging" : "production"},
                           {"tier", a % 20 == 0 ? "gold" : "standard"}};
    if (a % 50 == 0) audience.sensitivity = Sensitivity::kHigh;
    p.audiences.push_back(std::move(audience));
  }
  const TimeWindow office_hours{.days = 0x1f, .from_minute = 7 * 60, .to_minute = 19 * 60};
  p.grants.reserve(kServices * kGrantsPerService);
  for (int i = 0; i < kServices; ++i) {
    for (int k = 0; k < kGrantsPerService; ++k) {
      GrantRule g;
      g.name = numbered("svc", i) + "#" + std::to_string(k);
      g.caller = named(numbered("svc", i));
      g.audience = named(numbered("api", audience_for(i, k)));
      g.scopes =
          k % 3 == 0 ? std::vector<std::string>{"read", "write"} : std::vector<std::string>{"read"};
      if (k == 1) g.max_lifetime = Seconds{600};
      if (k == 8) {
        g.when.source = {cidr("10.0.0.0/8"), cidr("192.168.0.0/16")};
        g.when.time = office_hours;
      }
      if (k == 9) {
        if (i < kTeamGrants) {
          // By team: 50 callers; the first few to every gold audience of the team's
          // environments.
          g.caller = Selector{};
          g.caller.attributes = {{"team", numbered("team", i % kTeams)}};
          if (i < kTeamTierGrants) {
            g.audience = Selector{};
            g.audience.attributes = {{"tier", "gold"}};
          }
          g.scopes = {"admin"};
        } else {
          g.when.auth_methods = {"private_key_jwt", "tls_client_auth"};
        }
      }
      p.grants.push_back(std::move(g));
    }
  }
  return p;
}

Policy one_rule_policy() {
  Policy p;
  p.services.resize(1);
  p.services[0].name = "svc-00000";
  // A second audience that no grant names, for the denials.
  p.audiences.resize(2);
  for (int a = 0; a < 2; ++a) {
    p.audiences[a].name = numbered("api", a);
    p.audiences[a].uri = "https://" + p.audiences[a].name + ".example.com";
    p.audiences[a].scopes = {"admin", "read", "write"};
  }
  GrantRule g;
  g.name = "only";
  g.caller = named("svc-00000");
  g.audience = named("api-00000");
  g.scopes = {"read", "write"};
  p.grants = {std::move(g)};
  return p;
}

std::shared_ptr<const CompiledPolicy> compiled(bool big) {
  static std::shared_ptr<const CompiledPolicy> policies[2];
  auto& policy = policies[big ? 1 : 0];
  if (!policy) {
    auto result = CompiledPolicy::compile(big ? big_policy() : one_rule_policy());
    if (!result) {
      std::fprintf(stderr, "compile: %s\n", result.error().message.c_str());
      std::abort();
    }
    policy = *result;
  }
  return policy;
}

struct Ask {
  std::string caller;
  std::string audience;
};

const RequestContext kContext{.now = from_unix(1'795'428'000),  // Monday 2026-11-23 10:00Z
                              .source_address = "10.1.2.3",
                              .auth_method = "client_secret_basic"};

// Requests spread over the whole policy: caller i asks for the audience of its first
// grant (allowed), or for another audience of its environment that no grant names for it
// (denied: no grant).
std::vector<Ask> sample(const CompiledPolicy& policy, bool big, bool allowed) {
  const std::vector<std::string> scopes{"read"};
  std::vector<Ask> asks;
  for (std::size_t n = 0; n < kSample; ++n) {
    const int i = big ? static_cast<int>((n * 7919) % kServices) : 0;
    Ask ask{numbered("svc", i), ""};
    for (int offset = 0; offset < kAudiences; offset += 5) {
      const int a = big ? (audience_for(i, 0) + offset) % kAudiences : offset / 5;
      ask.audience = "https://" + numbered("api", a) + ".example.com";
      const auto d = policy.decide(
          {.caller = ask.caller, .audience = ask.audience, .scopes = scopes, .context = kContext});
      if (allowed ? d.allowed : d.reason == DenyReason::kNoGrant) break;
      ask.audience.clear();
    }
    if (ask.audience.empty()) std::abort();
    asks.push_back(std::move(ask));
  }
  return asks;
}

void BM_DecideAllow(benchmark::State& state) {
  const bool big = state.range(0) != 0;
  const auto policy = compiled(big);
  const auto asks = sample(*policy, big, true);
  const std::vector<std::string> scopes{"read"};
  std::size_t i = 0;
  for (auto _ : state) {
    const Ask& ask = asks[i];
    auto d = policy->decide(
        {.caller = ask.caller, .audience = ask.audience, .scopes = scopes, .context = kContext});
    if (!d.allowed) state.SkipWithError(("denied: " + d.detail).c_str());
    benchmark::DoNotOptimize(d);
    if (++i == asks.size()) i = 0;
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["index_entries"] = static_cast<double>(policy->index_entries());
}
BENCHMARK(BM_DecideAllow)->ArgName("big")->Arg(0)->Arg(1);

// Deny by default: the pair has no grant (the common denial on the token path).
void BM_DecideDeny(benchmark::State& state) {
  const bool big = state.range(0) != 0;
  const auto policy = compiled(big);
  const auto asks = sample(*policy, big, false);
  const std::vector<std::string> scopes{"read"};
  std::size_t i = 0;
  for (auto _ : state) {
    const Ask& ask = asks[i];
    auto d = policy->decide(
        {.caller = ask.caller, .audience = ask.audience, .scopes = scopes, .context = kContext});
    if (d.allowed) state.SkipWithError("allowed");
    benchmark::DoNotOptimize(d);
    if (++i == asks.size()) i = 0;
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_DecideDeny)->ArgName("big")->Arg(0)->Arg(1);

// Every scope the pair's grants give, with the conditions checked (source, time window).
void BM_DecideAllScopes(benchmark::State& state) {
  const auto policy = compiled(true);
  const auto asks = sample(*policy, true, true);
  std::size_t i = 0;
  for (auto _ : state) {
    const Ask& ask = asks[i];
    auto d = policy->decide(
        {.caller = ask.caller, .audience = ask.audience, .scopes = {}, .context = kContext});
    if (!d.allowed) state.SkipWithError(("denied: " + d.detail).c_str());
    benchmark::DoNotOptimize(d);
    if (++i == asks.size()) i = 0;
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_DecideAllScopes);

void BM_Compile(benchmark::State& state) {
  const Policy policy = big_policy();
  std::size_t entries = 0;
  for (auto _ : state) {
    state.PauseTiming();
    Policy copy = policy;
    state.ResumeTiming();
    auto result = CompiledPolicy::compile(std::move(copy));
    if (!result) {
      state.SkipWithError(result.error().message.c_str());
      break;
    }
    entries = (*result)->index_entries();
    state.PauseTiming();
    result = std::unexpected(Error::internal("released outside the timing"));
    state.ResumeTiming();
  }
  state.counters["grants"] = static_cast<double>(policy.grants.size());
  state.counters["index_entries"] = static_cast<double>(entries);
}
BENCHMARK(BM_Compile)->Iterations(3)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace sigil::policy
