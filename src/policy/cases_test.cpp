#include "policy/cases.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace sigil::policy {
namespace {

using ::testing::HasSubstr;

const TimePoint kMonday10 = from_rfc3339("2026-11-23T10:00:00Z").value();

Selector named(std::string name) {
  Selector s;
  s.name = std::move(name);
  return s;
}

// video-service may write analytics on weekdays only; nothing else is allowed.
std::shared_ptr<const CompiledPolicy> policy() {
  Policy p;
  p.services.resize(2);
  p.services[0].name = "video-service";
  p.services[1].name = "notification-worker";
  p.audiences.resize(1);
  p.audiences[0].name = "analytics";
  p.audiences[0].scopes = {"analytics:read", "analytics:write"};
  GrantRule g;
  g.name = "video-analytics";
  g.caller = named("video-service");
  g.audience = named("analytics");
  g.scopes = {"analytics:write"};
  g.when.time = TimeWindow{.days = 0x1f, .from_minute = 0, .to_minute = 0};
  p.grants = {g};
  auto compiled = CompiledPolicy::compile(std::move(p));
  EXPECT_TRUE(compiled);
  return *compiled;
}

TestCase allow(std::string caller, std::vector<std::string> scopes = {}) {
  TestCase c;
  c.name = caller + " allowed";
  c.caller = std::move(caller);
  c.audience = "analytics";
  c.scopes = std::move(scopes);
  c.expect_allow = true;
  return c;
}

TestCase deny(std::string caller, std::vector<std::string> scopes = {}) {
  TestCase c = allow(std::move(caller), std::move(scopes));
  c.name = c.caller + " denied";
  c.expect_allow = false;
  return c;
}

TEST(CasesTest, PassingCases) {
  std::vector<TestCase> cases{allow("video-service", {"analytics:write"}),
                              deny("notification-worker"),
                              deny("video-service", {"analytics:read"})};
  cases[0].expect_rule = "video-analytics";
  cases[1].expect_reason = "no_grant";
  cases[2].expect_reason = "scope_not_granted";
  cases[2].expect_rule = "video-analytics";  // the closest rule of a denial
  const auto results = run_cases(*policy(), cases, kMonday10);
  ASSERT_EQ(results.size(), 3u);
  for (std::size_t i = 0; i < results.size(); ++i) {
    EXPECT_EQ(results[i].test, &cases[i]);
    EXPECT_TRUE(results[i].passed) << results[i].failure;
    EXPECT_EQ(results[i].failure, "");
  }
  EXPECT_TRUE(results[0].decision.allowed);
  EXPECT_EQ(results[1].decision.reason, DenyReason::kNoGrant);
  // Traced, so that `sigil policy test` can show why.
  ASSERT_EQ(results[0].decision.trace.size(), 1u);
  EXPECT_TRUE(results[0].decision.trace[0].applied);
}

TEST(CasesTest, WrongOutcome) {
  std::vector<TestCase> cases{deny("video-service"), allow("notification-worker")};
  const auto results = run_cases(*policy(), cases, kMonday10);
  EXPECT_FALSE(results[0].passed);
  EXPECT_EQ(results[0].failure, "expected deny, got allow by rules video-analytics");
  EXPECT_FALSE(results[1].passed);
  EXPECT_EQ(results[1].failure,
            "expected allow, got deny (no_grant: no grant lets notification-worker call "
            "analytics)");
}

TEST(CasesTest, CaseTimeOverridesNow) {
  std::vector<TestCase> cases{allow("video-service"), allow("video-service")};
  cases[1].time = from_rfc3339("2026-11-28T10:00:00Z");  // a Saturday
  auto results = run_cases(*policy(), cases, kMonday10);
  EXPECT_TRUE(results[0].passed) << results[0].failure;
  EXPECT_FALSE(results[1].passed);
  EXPECT_THAT(results[1].failure, HasSubstr("conditions_not_met"));

  // The same cases on a Saturday `now`: the first follows now, the second its own time.
  results = run_cases(*policy(), cases, *from_rfc3339("2026-11-29T10:00:00Z"));
  EXPECT_FALSE(results[0].passed);
  EXPECT_FALSE(results[1].passed);
}

TEST(CasesTest, ContextIsPassedOn) {
  Policy p = policy()->policy();
  p.grants[0].when.source = {*parse_cidr("10.0.0.0/8")};
  p.grants[0].when.auth_methods = {"private_key_jwt"};
  auto compiled = CompiledPolicy::compile(std::move(p));
  ASSERT_TRUE(compiled);
  TestCase c = allow("video-service");
  c.source_address = "10.0.0.1";
  c.auth_method = "private_key_jwt";
  TestCase wrong_method = c;
  wrong_method.auth_method = "client_secret_basic";
  TestCase wrong_source = c;
  wrong_source.source_address = "192.0.2.1";
  const std::vector<TestCase> cases{c, wrong_method, wrong_source};
  const auto results = run_cases(**compiled, cases, kMonday10);
  EXPECT_TRUE(results[0].passed) << results[0].failure;
  EXPECT_THAT(results[1].failure, HasSubstr("auth method client_secret_basic"));
  EXPECT_THAT(results[2].failure, HasSubstr("source 192.0.2.1"));
}

TEST(CasesTest, WrongRuleOrReason) {
  std::vector<TestCase> cases{allow("video-service"), deny("notification-worker"),
                              deny("notification-worker")};
  cases[0].expect_rule = "other-rule";
  cases[1].expect_reason = "conditions_not_met";
  cases[1].expect_rule = "video-analytics";
  cases[2].expect_reason = "nope";
  const auto results = run_cases(*policy(), cases, kMonday10);
  EXPECT_FALSE(results[0].passed);
  EXPECT_EQ(results[0].failure, "expected rule other-rule, decided by rules video-analytics");
  EXPECT_FALSE(results[1].passed);
  EXPECT_EQ(results[1].failure,
            "expected rule video-analytics, decided by no rule; expected reason "
            "conditions_not_met, got no_grant (no grant lets notification-worker call "
            "analytics)");
  EXPECT_FALSE(results[2].passed);
  EXPECT_EQ(results[2].failure, "unknown reason \"nope\"");
}

TEST(CasesTest, ReasonOnAnAllowCaseFails) {
  std::vector<TestCase> cases{allow("video-service")};
  cases[0].expect_reason = "no_grant";
  const auto results = run_cases(*policy(), cases, kMonday10);
  EXPECT_FALSE(results[0].passed);
  EXPECT_EQ(results[0].failure, "reason \"no_grant\" is only for deny cases");
}

TEST(CasesTest, NoCases) {
  EXPECT_TRUE(run_cases(*policy(), {}, kMonday10).empty());
}

}  // namespace
}  // namespace sigil::policy
