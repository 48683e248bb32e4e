#include "policy/engine.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <thread>

namespace sigil::policy {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

using Attributes = std::map<std::string, std::string>;

TimePoint at(std::string_view rfc3339) {
  auto t = from_rfc3339(rfc3339);
  EXPECT_TRUE(t) << rfc3339;
  return t.value_or(TimePoint{});
}

// 2026-11-23 is a Monday.
const TimePoint kMonday10 = from_rfc3339("2026-11-23T10:00:00Z").value();

Service service(std::string name, Attributes attributes = {},
                std::vector<std::string> labels = {}) {
  Service s;
  s.name = std::move(name);
  s.attributes = std::move(attributes);
  s.labels = std::move(labels);
  return s;
}

Audience audience(std::string name, std::vector<std::string> scopes, Attributes attributes = {}) {
  Audience a;
  a.name = std::move(name);
  a.scopes = std::move(scopes);
  a.attributes = std::move(attributes);
  return a;
}

Selector named(std::string name) {
  Selector s;
  s.name = std::move(name);
  return s;
}

Selector with_attributes(Attributes attributes) {
  Selector s;
  s.attributes = std::move(attributes);
  return s;
}

GrantRule grant(std::string name, Selector caller, Selector target,
                std::vector<std::string> scopes) {
  GrantRule g;
  g.name = std::move(name);
  g.caller = std::move(caller);
  g.audience = std::move(target);
  g.scopes = std::move(scopes);
  return g;
}

Cidr cidr(std::string_view text) {
  auto c = parse_cidr(text);
  EXPECT_TRUE(c) << text;
  return c.value_or(Cidr{});
}

// The video platform: video-service may write analytics and read profiles;
// notification-worker may read social and send notifications; nothing else.
Policy video_platform() {
  const Attributes prod{{"environment", "production"}};
  Policy p;
  p.services = {service("video-service", {{"environment", "production"}, {"team", "video"}}),
                service("notification-worker", {{"environment", "production"}, {"team", "comms"}}),
                service("analytics-service", prod), service("user-service", prod),
                service("video-staging", {{"environment", "staging"}, {"team", "video"}})};
  p.audiences = {audience("analytics-service", {"analytics:read", "analytics:write"}, prod),
                 audience("user-service", {"profile:read", "profile:write"}, prod),
                 audience("social", {"social:read"}, prod),
                 audience("notifications", {"notifications:send"}, prod)};
  p.audiences[0].uri = "https://analytics.example.com";
  p.grants = {
      grant("video-analytics", named("video-service"), named("analytics-service"),
            {"analytics:write"}),
      grant("video-profiles", named("video-service"), named("user-service"), {"profile:read"}),
      grant("notify-social", named("notification-worker"), named("social"), {"social:read"}),
      grant("notify-send", named("notification-worker"), named("notifications"),
            {"notifications:send"}),
  };
  return p;
}

std::shared_ptr<const CompiledPolicy> compile(Policy p) {
  auto compiled = CompiledPolicy::compile(std::move(p));
  EXPECT_TRUE(compiled) << (compiled ? "" : compiled.error().message);
  return compiled ? *compiled : nullptr;
}

RequestContext context(TimePoint now = kMonday10, std::string_view source = "10.1.2.3",
                       std::string_view auth_method = "client_secret_basic") {
  return {.now = now, .source_address = source, .auth_method = auth_method};
}

Decision ask(const CompiledPolicy& policy, std::string_view caller, std::string_view target,
             const std::vector<std::string>& scopes = {}, const RequestContext& ctx = context()) {
  return policy.decide({.caller = caller, .audience = target, .scopes = scopes, .context = ctx});
}

TEST(EngineTest, AllowsWhatIsGranted) {
  auto policy = compile(video_platform());
  const Decision d = ask(*policy, "video-service", "analytics-service", {"analytics:write"});
  EXPECT_TRUE(d.allowed);
  EXPECT_EQ(d.reason, DenyReason::kNone);
  EXPECT_EQ(to_string(d.reason), "");
  EXPECT_THAT(d.scopes, ElementsAre("analytics:write"));
  EXPECT_THAT(d.rules, ElementsAre("video-analytics"));
  EXPECT_EQ(d.audience_uri, "https://analytics.example.com");
  EXPECT_EQ(d.lifetime_cap, std::nullopt);
  EXPECT_THAT(d.trace, IsEmpty());

  EXPECT_TRUE(ask(*policy, "video-service", "user-service", {"profile:read"}).allowed);
  EXPECT_TRUE(ask(*policy, "notification-worker", "social", {"social:read"}).allowed);
  EXPECT_TRUE(ask(*policy, "notification-worker", "notifications", {"notifications:send"}).allowed);
}

TEST(EngineTest, FindsAudiencesByNameAndUri) {
  auto policy = compile(video_platform());
  const Audience* by_uri = policy->find_audience("https://analytics.example.com");
  ASSERT_NE(by_uri, nullptr);
  EXPECT_EQ(by_uri->name, "analytics-service");
  EXPECT_EQ(policy->find_audience("analytics-service"), by_uri);
  EXPECT_EQ(policy->find_audience("social")->name, "social");
  EXPECT_EQ(policy->find_audience("nope"), nullptr);
  EXPECT_EQ(policy->find_service("video-service")->name, "video-service");
  EXPECT_EQ(policy->find_service("video"), nullptr);

  const Decision d =
      ask(*policy, "video-service", "https://analytics.example.com", {"analytics:write"});
  EXPECT_TRUE(d.allowed);
  // The audience's name serves as its URI when the file gives none.
  EXPECT_EQ(ask(*policy, "notification-worker", "social").audience_uri, "social");
}

TEST(EngineTest, DeniesUnknownCaller) {
  auto policy = compile(video_platform());
  const Decision d = ask(*policy, "mallory", "social", {"social:read"});
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.reason, DenyReason::kUnknownCaller);
  EXPECT_EQ(to_string(d.reason), "unknown_caller");
  EXPECT_THAT(d.detail, HasSubstr("mallory"));
  EXPECT_THAT(d.rules, IsEmpty());
  EXPECT_THAT(d.scopes, IsEmpty());
}

TEST(EngineTest, DeniesUnknownAudience) {
  auto policy = compile(video_platform());
  const Decision d = ask(*policy, "video-service", "billing", {"analytics:write"});
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.reason, DenyReason::kUnknownAudience);
  EXPECT_EQ(to_string(d.reason), "unknown_audience");
  EXPECT_THAT(d.detail, HasSubstr("billing"));
}

TEST(EngineTest, DeniesPairsWithoutGrant) {
  auto policy = compile(video_platform());
  for (auto [caller, target] : std::vector<std::pair<std::string, std::string>>{
           {"video-service", "social"},
           {"video-service", "notifications"},
           {"notification-worker", "analytics-service"},
           {"notification-worker", "user-service"},
           {"analytics-service", "user-service"},
           {"user-service", "analytics-service"}}) {
    const Decision d = ask(*policy, caller, target);
    EXPECT_FALSE(d.allowed) << caller << " -> " << target;
    EXPECT_EQ(d.reason, DenyReason::kNoGrant) << caller << " -> " << target;
    EXPECT_EQ(to_string(d.reason), "no_grant");
    EXPECT_EQ(d.detail, "no grant lets " + caller + " call " + target);
  }
}

TEST(EngineTest, DeniesAcrossEnvironments) {
  Policy p = video_platform();
  // A selector grant for the whole video team would cover video-staging too.
  p.grants.push_back(grant("video-team-analytics", with_attributes({{"team", "video"}}),
                           named("analytics-service"), {"analytics:read"}));
  auto policy = compile(std::move(p));

  EXPECT_TRUE(ask(*policy, "video-service", "analytics-service", {"analytics:read"}).allowed);
  const Decision d = ask(*policy, "video-staging", "analytics-service", {"analytics:read"});
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.reason, DenyReason::kEnvironmentMismatch);
  EXPECT_EQ(to_string(d.reason), "environment_mismatch");
  EXPECT_EQ(d.detail,
            "caller video-staging is in environment \"staging\", audience analytics-service in "
            "\"production\"");
  // The grant is not even filed under the pair.
  EXPECT_EQ(policy->reach("video-staging").audiences, std::vector<std::string>{});
}

TEST(EngineTest, EnvironmentAttributeIsASetting) {
  Policy p = video_platform();
  p.grants.push_back(grant("video-team-analytics", with_attributes({{"team", "video"}}),
                           named("analytics-service"), {"analytics:read"}));
  p.settings.environment_attribute = "";
  auto policy = compile(p);
  EXPECT_TRUE(ask(*policy, "video-staging", "analytics-service", {"analytics:read"}).allowed);

  p.settings.environment_attribute = "team";  // video vs. no team on the audience: no check
  policy = compile(p);
  EXPECT_TRUE(ask(*policy, "video-staging", "analytics-service", {"analytics:read"}).allowed);
}

TEST(EngineTest, IntersectsRequestedScopesWithGranted) {
  Policy p = video_platform();
  p.grants.push_back(grant("video-analytics-read", named("video-service"),
                           named("analytics-service"), {"analytics:read"}));
  auto policy = compile(std::move(p));

  // Nothing asked: everything the applicable grants give.
  Decision d = ask(*policy, "video-service", "analytics-service");
  EXPECT_TRUE(d.allowed);
  EXPECT_THAT(d.scopes, ElementsAre("analytics:read", "analytics:write"));
  EXPECT_THAT(d.rules, ElementsAre("video-analytics", "video-analytics-read"));

  // A subset: only what was asked, and only the grants that gave it.
  d = ask(*policy, "video-service", "analytics-service", {"analytics:read", "analytics:read"});
  EXPECT_TRUE(d.allowed);
  EXPECT_THAT(d.scopes, ElementsAre("analytics:read"));
  EXPECT_THAT(d.rules, ElementsAre("video-analytics-read"));

  // Anything not granted denies the whole request, and the detail names it.
  d = ask(*policy, "video-service", "user-service", {"profile:read", "profile:write"});
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.reason, DenyReason::kScopeNotGranted);
  EXPECT_EQ(to_string(d.reason), "scope_not_granted");
  EXPECT_EQ(d.detail, "scope \"profile:write\" is not granted to video-service for user-service");
  EXPECT_THAT(d.rules, ElementsAre("video-profiles"));
  EXPECT_THAT(d.scopes, IsEmpty());
  EXPECT_EQ(d.lifetime_cap, std::nullopt);

  // A scope the audience does not declare.
  d = ask(*policy, "video-service", "user-service", {"admin"});
  EXPECT_EQ(d.reason, DenyReason::kScopeNotGranted);
  EXPECT_EQ(d.detail, "scope \"admin\" is not a scope of audience user-service");
}

TEST(EngineTest, GrantsGiveOnlyScopesTheAudienceDeclares) {
  Policy p;
  p.services = {service("a")};
  p.audiences = {audience("x", {"read"}), audience("y", {"write"}), audience("z", {"other"})};
  Selector all_audiences = named("*");
  p.grants = {grant("broad", named("a"), all_audiences, {"read", "write"})};
  auto policy = compile(std::move(p));
  EXPECT_THAT(ask(*policy, "a", "x").scopes, ElementsAre("read"));
  EXPECT_THAT(ask(*policy, "a", "y").scopes, ElementsAre("write"));
  EXPECT_EQ(ask(*policy, "a", "x", {"write"}).reason, DenyReason::kScopeNotGranted);
  // z declares none of the grant's scopes: the grant is not filed under it.
  EXPECT_EQ(ask(*policy, "a", "z").reason, DenyReason::kNoGrant);
  EXPECT_EQ(policy->index_entries(), 2u);
}

Conditions valid_between(TimePoint not_before, TimePoint not_after) {
  Conditions c;
  c.not_before = not_before;
  c.not_after = not_after;
  return c;
}

Conditions during(TimeWindow window) {
  Conditions c;
  c.time = window;
  return c;
}

Conditions from_ranges(std::vector<Cidr> ranges) {
  Conditions c;
  c.source = std::move(ranges);
  return c;
}

Conditions using_methods(std::vector<std::string> methods) {
  Conditions c;
  c.auth_methods = std::move(methods);
  return c;
}

// One grant with one condition, for the condition tests.
std::shared_ptr<const CompiledPolicy> conditional(Conditions when,
                                                  std::vector<std::string> audience_methods = {}) {
  Policy p;
  p.services = {service("caller")};
  p.audiences = {audience("api", {"read"})};
  p.audiences[0].auth_methods = std::move(audience_methods);
  p.grants = {grant("r1", named("caller"), named("api"), {"read"})};
  p.grants[0].when = std::move(when);
  return compile(std::move(p));
}

TEST(EngineTest, NotBeforeAndNotAfter) {
  auto policy = conditional(valid_between(at("2026-11-23T09:00:00Z"), at("2026-11-23T11:00:00Z")));
  EXPECT_TRUE(ask(*policy, "caller", "api", {}, context(at("2026-11-23T09:00:00Z"))).allowed);
  EXPECT_TRUE(ask(*policy, "caller", "api", {}, context(at("2026-11-23T10:59:59Z"))).allowed);

  Decision d = ask(*policy, "caller", "api", {}, context(at("2026-11-23T08:59:59Z")));
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.reason, DenyReason::kConditionsNotMet);
  EXPECT_EQ(to_string(d.reason), "conditions_not_met");
  EXPECT_EQ(d.detail, "rule r1: not before 2026-11-23T09:00:00Z");
  EXPECT_THAT(d.rules, ElementsAre("r1"));

  d = ask(*policy, "caller", "api", {}, context(at("2026-11-23T11:00:00Z")));
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.detail, "rule r1: expired at 2026-11-23T11:00:00Z");
}

TEST(EngineTest, TimeWindowOnWeekdays) {
  // Monday to Friday, 09:00 to 17:00 UTC.
  auto policy =
      conditional(during(TimeWindow{.days = 0x1f, .from_minute = 540, .to_minute = 1020}));
  auto allowed_at = [&](std::string_view t) {
    return ask(*policy, "caller", "api", {}, context(at(t))).allowed;
  };
  EXPECT_TRUE(allowed_at("2026-11-23T09:00:00Z"));   // Monday, opening minute
  EXPECT_TRUE(allowed_at("2026-11-27T16:59:59Z"));   // Friday, last second
  EXPECT_FALSE(allowed_at("2026-11-27T17:00:00Z"));  // Friday, closed
  EXPECT_FALSE(allowed_at("2026-11-23T08:59:59Z"));  // Monday, before opening
  EXPECT_FALSE(allowed_at("2026-11-28T10:00:00Z"));  // Saturday

  const Decision d = ask(*policy, "caller", "api", {}, context(at("2026-11-28T10:00:00Z")));
  EXPECT_EQ(d.reason, DenyReason::kConditionsNotMet);
  EXPECT_EQ(d.detail, "rule r1: time Sat 10:00 UTC is outside Mon,Tue,Wed,Thu,Fri 09:00-17:00 UTC");
}

TEST(EngineTest, TimeWindowPastMidnight) {
  // Weekday nights, 22:00 to 06:00: Friday night runs into Saturday morning.
  auto policy =
      conditional(during(TimeWindow{.days = 0x1f, .from_minute = 1320, .to_minute = 360}));
  auto allowed_at = [&](std::string_view t) {
    return ask(*policy, "caller", "api", {}, context(at(t))).allowed;
  };
  EXPECT_TRUE(allowed_at("2026-11-23T22:00:00Z"));   // Monday night
  EXPECT_TRUE(allowed_at("2026-11-24T05:59:00Z"));   // Tuesday early: Monday's shift
  EXPECT_TRUE(allowed_at("2026-11-28T03:00:00Z"));   // Saturday early: Friday's shift
  EXPECT_FALSE(allowed_at("2026-11-23T03:00:00Z"));  // Monday early: Sunday's shift, off
  EXPECT_FALSE(allowed_at("2026-11-28T22:30:00Z"));  // Saturday night
  EXPECT_FALSE(allowed_at("2026-11-24T06:00:00Z"));  // Tuesday, closed
  EXPECT_FALSE(allowed_at("2026-11-24T12:00:00Z"));  // Tuesday noon
}

TEST(EngineTest, TimeWindowAllDay) {
  // from == to: the whole day, on Saturdays and Sundays only.
  auto policy = conditional(during(TimeWindow{.days = 0x60, .from_minute = 0, .to_minute = 0}));
  auto allowed_at = [&](std::string_view t) {
    return ask(*policy, "caller", "api", {}, context(at(t))).allowed;
  };
  EXPECT_TRUE(allowed_at("2026-11-28T00:00:00Z"));
  EXPECT_TRUE(allowed_at("2026-11-29T23:59:59Z"));
  EXPECT_FALSE(allowed_at("2026-11-30T00:00:00Z"));
  EXPECT_FALSE(allowed_at("2026-11-27T23:59:59Z"));
}

TEST(EngineTest, SourceAddress) {
  auto policy = conditional(from_ranges({cidr("10.0.0.0/8"), cidr("2001:db8::/32")}));
  auto from = [&](std::string_view source) {
    return ask(*policy, "caller", "api", {}, context(kMonday10, source));
  };
  EXPECT_TRUE(from("10.1.2.3").allowed);
  EXPECT_TRUE(from("10.255.255.255").allowed);
  EXPECT_TRUE(from("2001:db8::7").allowed);

  Decision d = from("192.0.2.7");
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.reason, DenyReason::kConditionsNotMet);
  EXPECT_EQ(d.detail, "rule r1: source 192.0.2.7 is not in 10.0.0.0/8, 2001:db8::/32");
  EXPECT_FALSE(from("11.0.0.1").allowed);
  EXPECT_FALSE(from("2001:db9::1").allowed);

  // Unknown or unparsable sources fail a source condition.
  d = from("");
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.detail, "rule r1: source address unknown, required in 10.0.0.0/8, 2001:db8::/32");
  d = from("10.1.2.3:443");
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.detail, "rule r1: source \"10.1.2.3:443\" is not an IP address");
  EXPECT_FALSE(from("not-an-address").allowed);

  // Without a source condition the address does not matter, even when unparsable.
  auto open = conditional({});
  EXPECT_TRUE(ask(*open, "caller", "api", {}, context(kMonday10, "")).allowed);
  EXPECT_TRUE(ask(*open, "caller", "api", {}, context(kMonday10, "garbage")).allowed);
}

TEST(EngineTest, GrantAuthMethods) {
  auto policy = conditional(using_methods({"private_key_jwt", "tls_client_auth"}));
  auto with = [&](std::string_view method) {
    return ask(*policy, "caller", "api", {}, context(kMonday10, "10.1.2.3", method));
  };
  EXPECT_TRUE(with("private_key_jwt").allowed);
  EXPECT_TRUE(with("tls_client_auth").allowed);
  const Decision d = with("client_secret_basic");
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.reason, DenyReason::kConditionsNotMet);
  EXPECT_EQ(d.detail,
            "rule r1: auth method client_secret_basic is not one of private_key_jwt, "
            "tls_client_auth");
  EXPECT_EQ(with("").detail,
            "rule r1: auth method unknown is not one of private_key_jwt, tls_client_auth");
}

TEST(EngineTest, AudienceAuthMethods) {
  auto policy = conditional({}, {"private_key_jwt"});
  auto with = [&](std::string_view method) {
    return ask(*policy, "caller", "api", {}, context(kMonday10, "10.1.2.3", method));
  };
  EXPECT_TRUE(with("private_key_jwt").allowed);
  const Decision d = with("client_secret_post");
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.reason, DenyReason::kConditionsNotMet);
  EXPECT_EQ(d.detail,
            "rule r1: audience api requires auth method private_key_jwt, not client_secret_post");

  // Both must hold: the grant allows mTLS, the audience requires private_key_jwt.
  auto both =
      conditional(using_methods({"tls_client_auth", "private_key_jwt"}), {"private_key_jwt"});
  EXPECT_TRUE(ask(*both, "caller", "api", {}, context(kMonday10, "", "private_key_jwt")).allowed);
  EXPECT_FALSE(ask(*both, "caller", "api", {}, context(kMonday10, "", "tls_client_auth")).allowed);
}

TEST(EngineTest, ConditionsAreCheckedPerGrantAndScopesUnionedOverApplicable) {
  Policy p;
  p.services = {service("caller")};
  p.audiences = {audience("api", {"read", "write"})};
  p.grants = {grant("office", named("caller"), named("api"), {"read", "write"}),
              grant("anywhere", named("caller"), named("api"), {"read"})};
  p.grants[0].when.source = {cidr("10.0.0.0/8")};
  p.grants[1].when.auth_methods = {"private_key_jwt"};
  auto policy = compile(std::move(p));

  // From the office with a secret: only "office" applies.
  Decision d = ask(*policy, "caller", "api", {}, context(kMonday10, "10.0.0.1"));
  EXPECT_TRUE(d.allowed);
  EXPECT_THAT(d.scopes, ElementsAre("read", "write"));
  EXPECT_THAT(d.rules, ElementsAre("office"));

  // From elsewhere with a key: only "anywhere" applies, and it gives no write.
  d = ask(*policy, "caller", "api", {}, context(kMonday10, "192.0.2.1", "private_key_jwt"));
  EXPECT_TRUE(d.allowed);
  EXPECT_THAT(d.scopes, ElementsAre("read"));
  EXPECT_THAT(d.rules, ElementsAre("anywhere"));

  d = ask(*policy, "caller", "api", {"write"}, context(kMonday10, "192.0.2.1", "private_key_jwt"));
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.reason, DenyReason::kScopeNotGranted);
  EXPECT_EQ(d.detail,
            "scope \"write\" comes only from rule office, which does not apply: source 192.0.2.1 "
            "is not in 10.0.0.0/8");
  EXPECT_THAT(d.rules, ElementsAre("anywhere"));

  // Neither: the first failing condition of each grant.
  d = ask(*policy, "caller", "api", {}, context(kMonday10, "192.0.2.1"));
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.reason, DenyReason::kConditionsNotMet);
  EXPECT_EQ(d.detail,
            "rule office: source 192.0.2.1 is not in 10.0.0.0/8; rule anywhere: auth method "
            "client_secret_basic is not one of private_key_jwt");
  EXPECT_THAT(d.rules, ElementsAre("anywhere", "office"));
}

TEST(EngineTest, TraceExplainsEveryGrant) {
  Policy p;
  p.services = {service("caller")};
  p.audiences = {audience("api", {"read"})};
  p.grants = {grant("r1", named("caller"), named("api"), {"read"}),
              grant("r2", named("caller"), named("api"), {"read"})};
  p.grants[0].when.source = {cidr("10.0.0.0/8")};
  auto policy = compile(std::move(p));
  const std::vector<std::string> scopes{"read"};
  const Decision d = policy->decide({.caller = "caller",
                                     .audience = "api",
                                     .scopes = scopes,
                                     .context = context(kMonday10, "192.0.2.7"),
                                     .trace = true});
  EXPECT_TRUE(d.allowed);
  ASSERT_EQ(d.trace.size(), 2u);
  EXPECT_EQ(d.trace[0].rule, "r1");
  EXPECT_FALSE(d.trace[0].applied);
  EXPECT_EQ(d.trace[0].why, "source 192.0.2.7 is not in 10.0.0.0/8");
  EXPECT_EQ(d.trace[1].rule, "r2");
  EXPECT_TRUE(d.trace[1].applied);
  EXPECT_EQ(d.trace[1].why, "applies");
}

TEST(EngineTest, LifetimeCapFromGrant) {
  Policy p = video_platform();
  p.grants[0].max_lifetime = Seconds{600};
  auto policy = compile(std::move(p));
  EXPECT_EQ(ask(*policy, "video-service", "analytics-service").lifetime_cap, Seconds{600});
  EXPECT_EQ(ask(*policy, "video-service", "user-service").lifetime_cap, std::nullopt);
}

TEST(EngineTest, LifetimeCapFromAudience) {
  Policy p = video_platform();
  p.grants[0].max_lifetime = Seconds{600};
  p.audiences[0].max_lifetime = Seconds{120};  // analytics: tighter than the grant
  p.audiences[1].max_lifetime = Seconds{900};  // user-service: the grant has none
  auto policy = compile(std::move(p));
  EXPECT_EQ(ask(*policy, "video-service", "analytics-service").lifetime_cap, Seconds{120});
  EXPECT_EQ(ask(*policy, "video-service", "user-service").lifetime_cap, Seconds{900});
}

TEST(EngineTest, HighSensitivityAudiencesGetJustInTimeTokens) {
  Policy p = video_platform();
  p.audiences[1].sensitivity = Sensitivity::kHigh;
  p.grants[1].max_lifetime = Seconds{3600};
  auto policy = compile(p);
  EXPECT_EQ(ask(*policy, "video-service", "user-service").lifetime_cap, kHighSensitivityLifetime);
  EXPECT_EQ(kHighSensitivityLifetime, Seconds{300});

  // An explicit max_lifetime on the audience replaces the default.
  p.audiences[1].max_lifetime = Seconds{1800};
  policy = compile(p);
  EXPECT_EQ(ask(*policy, "video-service", "user-service").lifetime_cap, Seconds{1800});
}

TEST(EngineTest, LifetimeCapWithSeveralGrants) {
  Policy p;
  p.services = {service("caller")};
  p.audiences = {audience("api", {"read", "write"})};
  p.grants = {grant("short-read", named("caller"), named("api"), {"read"}),
              grant("long-read", named("caller"), named("api"), {"read"}),
              grant("write", named("caller"), named("api"), {"write"}),
              grant("off-hours", named("caller"), named("api"), {"write"})};
  p.grants[0].max_lifetime = Seconds{60};
  p.grants[1].max_lifetime = Seconds{600};
  p.grants[2].max_lifetime = Seconds{300};
  // Unbounded, but it does not apply on Monday morning.
  p.grants[3].when.time = TimeWindow{.days = 0x60, .from_minute = 0, .to_minute = 0};
  auto policy = compile(p);

  // Per scope the most generous cap among the grants that give it; then the smallest.
  EXPECT_EQ(ask(*policy, "caller", "api", {"read"}).lifetime_cap, Seconds{600});
  EXPECT_EQ(ask(*policy, "caller", "api", {"write"}).lifetime_cap, Seconds{300});
  const Decision both = ask(*policy, "caller", "api");
  EXPECT_EQ(both.lifetime_cap, Seconds{300});
  EXPECT_THAT(both.rules, ElementsAre("long-read", "short-read", "write"));

  // On Saturday the unbounded grant applies: write is unbounded, read still 600.
  const RequestContext saturday = context(at("2026-11-28T10:00:00Z"));
  EXPECT_EQ(ask(*policy, "caller", "api", {"write"}, saturday).lifetime_cap, std::nullopt);
  EXPECT_EQ(ask(*policy, "caller", "api", {}, saturday).lifetime_cap, Seconds{600});
}

TEST(EngineTest, SelectorsExpandByAttributesGlobsAndLabels) {
  Policy p;
  p.services = {service("video-encoder", {{"team", "video"}, {"tier", "batch"}}, {"gpu"}),
                service("video-api", {{"team", "video"}, {"tier", "web"}}),
                service("billing-api", {{"team", "payments"}, {"tier", "web"}}),
                service("ml-trainer", {{"team", "research"}}, {"batch", "gpu"})};
  p.audiences = {audience("storage", {"blob:read", "blob:write"}, {{"kind", "data"}}),
                 audience("queue", {"jobs:read"}, {{"kind", "data"}}),
                 audience("metrics", {"metrics:write"}, {{"kind", "ops"}})};
  Selector gpu;
  gpu.labels = {"gpu"};
  p.grants = {
      grant("video-storage", with_attributes({{"team", "video"}}), named("storage"), {"blob:read"}),
      grant("web-metrics", with_attributes({{"tier", "w*"}}), named("metrics"), {"metrics:write"}),
      grant("all-video-data", named("video-*"), with_attributes({{"kind", "data"}}),
            {"blob:write", "jobs:read"}),
      grant("gpu-queue", gpu, named("queue"), {"jobs:read"}),
  };
  auto policy = compile(std::move(p));

  EXPECT_THAT(ask(*policy, "video-api", "storage").scopes, ElementsAre("blob:read", "blob:write"));
  EXPECT_THAT(ask(*policy, "video-encoder", "storage").rules,
              ElementsAre("all-video-data", "video-storage"));
  EXPECT_EQ(ask(*policy, "billing-api", "storage").reason, DenyReason::kNoGrant);

  EXPECT_TRUE(ask(*policy, "video-api", "metrics").allowed);
  EXPECT_TRUE(ask(*policy, "billing-api", "metrics").allowed);
  EXPECT_EQ(ask(*policy, "video-encoder", "metrics").reason, DenyReason::kNoGrant);
  EXPECT_EQ(ask(*policy, "ml-trainer", "metrics").reason, DenyReason::kNoGrant);

  EXPECT_THAT(ask(*policy, "video-encoder", "queue").rules,
              ElementsAre("all-video-data", "gpu-queue"));
  EXPECT_THAT(ask(*policy, "video-api", "queue").rules, ElementsAre("all-video-data"));
  EXPECT_THAT(ask(*policy, "ml-trainer", "queue").rules, ElementsAre("gpu-queue"));
  EXPECT_EQ(ask(*policy, "billing-api", "queue").reason, DenyReason::kNoGrant);

  // video-storage: 2; web-metrics: 2; all-video-data: 2 services x 2 audiences; gpu-queue: 2.
  EXPECT_EQ(policy->index_entries(), 10u);
}

TEST(EngineTest, Reach) {
  Policy p = video_platform();
  p.grants.push_back(grant("video-analytics-read", named("video-service"),
                           named("analytics-service"), {"analytics:read"}));
  p.grants.back().when.source = {cidr("10.0.0.0/8")};
  auto policy = compile(std::move(p));

  const Reach video = policy->reach("video-service");
  EXPECT_THAT(video.audiences, ElementsAre("https://analytics.example.com", "user-service"));
  EXPECT_THAT(video.scopes, ElementsAre("analytics:read", "analytics:write", "profile:read"));

  const Reach worker = policy->reach("notification-worker");
  EXPECT_THAT(worker.audiences, ElementsAre("notifications", "social"));
  EXPECT_THAT(worker.scopes, ElementsAre("notifications:send", "social:read"));

  EXPECT_THAT(policy->reach("user-service").audiences, IsEmpty());
  EXPECT_THAT(policy->reach("nobody").scopes, IsEmpty());
}

TEST(EngineTest, Edges) {
  Policy p = video_platform();
  p.grants.push_back(grant("video-analytics-read", named("video-service"),
                           named("analytics-service"), {"analytics:read"}));
  p.grants.back().when.auth_methods = {"private_key_jwt"};
  auto policy = compile(std::move(p));

  const auto edges = policy->edges();
  ASSERT_EQ(edges.size(), 4u);
  EXPECT_EQ(edges[0].caller, "notification-worker");
  EXPECT_EQ(edges[0].audience, "notifications");
  EXPECT_THAT(edges[0].scopes, ElementsAre("notifications:send"));
  EXPECT_THAT(edges[0].rules, ElementsAre("notify-send"));
  EXPECT_FALSE(edges[0].conditional);
  EXPECT_EQ(edges[1].caller, "notification-worker");
  EXPECT_EQ(edges[1].audience, "social");
  EXPECT_EQ(edges[2].caller, "video-service");
  EXPECT_EQ(edges[2].audience, "analytics-service");
  EXPECT_THAT(edges[2].scopes, ElementsAre("analytics:read", "analytics:write"));
  EXPECT_THAT(edges[2].rules, ElementsAre("video-analytics", "video-analytics-read"));
  EXPECT_TRUE(edges[2].conditional);
  EXPECT_EQ(edges[3].caller, "video-service");
  EXPECT_EQ(edges[3].audience, "user-service");
  EXPECT_FALSE(edges[3].conditional);
}

TEST(EngineTest, CompileRefusesInconsistentPolicies) {
  Policy p = video_platform();
  p.services.push_back(service("video-service"));
  auto r = CompiledPolicy::compile(p);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Code::kInvalidArgument);
  EXPECT_THAT(r.error().message, HasSubstr("video-service"));

  p = video_platform();
  p.audiences[1].uri = "social";  // another audience's name
  EXPECT_FALSE(CompiledPolicy::compile(p));

  p = video_platform();
  p.grants.push_back(p.grants[0]);
  EXPECT_FALSE(CompiledPolicy::compile(p));

  p = video_platform();
  p.grants[0].caller = Selector{};
  r = CompiledPolicy::compile(p);
  ASSERT_FALSE(r);
  EXPECT_THAT(r.error().message, HasSubstr("empty selector"));

  p = video_platform();
  p.grants[0].when.time = TimeWindow{.days = 0x7f, .from_minute = 0, .to_minute = 1440};
  EXPECT_FALSE(CompiledPolicy::compile(p));

  p = video_platform();
  p.grants[0].name.clear();
  EXPECT_FALSE(CompiledPolicy::compile(p));
}

TEST(EngineTest, FindsServicesBySpiffePath) {
  Policy p = video_platform();
  p.services[0].certificate.spiffe_path = "/ns/prod/sa/video";
  auto policy = compile(std::move(p));
  const Service* video = policy->find_service_by_spiffe_path("/ns/prod/sa/video");
  ASSERT_NE(video, nullptr);
  EXPECT_EQ(video->name, "video-service");
  // The others get the default path, their name.
  const Service* worker = policy->find_service_by_spiffe_path("/notification-worker");
  ASSERT_NE(worker, nullptr);
  EXPECT_EQ(worker->name, "notification-worker");
  EXPECT_EQ(worker->certificate.spiffe_path, "/notification-worker");
  EXPECT_EQ(policy->find_service_by_spiffe_path("/video-service"), nullptr);
  EXPECT_EQ(policy->find_service_by_spiffe_path("/ns/prod/sa"), nullptr);
  EXPECT_EQ(policy->find_service_by_spiffe_path(""), nullptr);
}

TEST(EngineTest, CompileChecksCertificateSettings) {
  auto refused = [](auto change) {
    Policy p = video_platform();
    change(p);
    auto r = CompiledPolicy::compile(std::move(p));
    return !r && r.error().code == Code::kInvalidArgument;
  };
  EXPECT_TRUE(refused([](Policy& p) { p.services[0].certificate.spiffe_path = "no-slash"; }));
  EXPECT_TRUE(refused([](Policy& p) { p.services[0].certificate.spiffe_path = "/"; }));
  EXPECT_TRUE(refused([](Policy& p) { p.services[0].certificate.spiffe_path = "/a/../b"; }));
  EXPECT_TRUE(refused([](Policy& p) {
    p.services[0].certificate.spiffe_path = "/" + p.services[1].name;  // the other's default
  }));
  EXPECT_TRUE(refused([](Policy& p) { p.services[0].certificate.dns_names = {"Bad.Name"}; }));
  EXPECT_TRUE(refused([](Policy& p) { p.services[0].certificate.lifetime = Seconds{0}; }));
  EXPECT_TRUE(refused([](Policy& p) { p.services[0].certificate.lifetime = Seconds{86401}; }));
  EXPECT_FALSE(refused([](Policy& p) {
    p.services[0].certificate.dns_names = {"*.video.svc", "video.internal", "video.internal"};
    p.services[0].certificate.lifetime = Seconds{86400};
  }));
}

TEST(EngineTest, DnsNamesACertificateMayCarry) {
  CertificateSettings c;
  c.dns_names = {"*.payments.svc", "payments.internal"};
  EXPECT_TRUE(dns_name_allowed(c, "payments.internal"));
  EXPECT_TRUE(dns_name_allowed(c, "a.payments.svc"));
  EXPECT_TRUE(dns_name_allowed(c, "pod-7.payments.svc"));
  EXPECT_FALSE(dns_name_allowed(c, "payments.svc"));      // the wildcard needs one more label
  EXPECT_FALSE(dns_name_allowed(c, "a.b.payments.svc"));  // and only one
  EXPECT_FALSE(dns_name_allowed(c, "x.payments.internal"));
  EXPECT_FALSE(dns_name_allowed(c, "*.payments.svc"));  // not a name
  EXPECT_FALSE(dns_name_allowed(c, "A.payments.svc"));  // not lowercase
  EXPECT_FALSE(dns_name_allowed(c, "payments.internal."));
  EXPECT_FALSE(dns_name_allowed(c, ""));
  EXPECT_FALSE(dns_name_allowed(CertificateSettings{}, "payments.internal"));
}

TEST(EngineTest, CompileSortsScopes) {
  Policy p = video_platform();
  p.audiences[0].scopes = {"analytics:write", "analytics:read", "analytics:write"};
  p.grants[0].scopes = {"analytics:write", "analytics:read", "analytics:read"};
  auto policy = compile(std::move(p));
  EXPECT_THAT(policy->policy().audiences[0].scopes,
              ElementsAre("analytics:read", "analytics:write"));
  EXPECT_THAT(ask(*policy, "video-service", "analytics-service").scopes,
              ElementsAre("analytics:read", "analytics:write"));
}

TEST(EngineTest, EmptyPolicyDeniesEverything) {
  auto policy = compile(Policy{});
  EXPECT_EQ(policy->index_entries(), 0u);
  EXPECT_EQ(ask(*policy, "a", "b").reason, DenyReason::kUnknownCaller);
  EXPECT_THAT(policy->edges(), IsEmpty());
}

TEST(PolicyHolderTest, SwapsUnderConcurrentReaders) {
  PolicyHolder holder;
  EXPECT_EQ(holder.current(), nullptr);

  Policy open = video_platform();
  Policy closed = video_platform();
  closed.grants.erase(closed.grants.begin());  // no more video-analytics
  const auto allowing = compile(std::move(open));
  const auto denying = compile(std::move(closed));
  holder.set(allowing);

  std::atomic<bool> stop{false};
  std::atomic<int> inconsistent{0};
  std::atomic<long> seen_allowing{0};
  std::atomic<long> seen_denying{0};
  const std::vector<std::string> scopes{"analytics:write"};
  std::vector<std::thread> readers;
  for (int t = 0; t < 3; ++t) {
    readers.emplace_back([&] {
      while (!stop.load()) {
        const auto snapshot = holder.current();
        const Decision d = snapshot->decide({.caller = "video-service",
                                             .audience = "analytics-service",
                                             .scopes = scopes,
                                             .context = context()});
        // A snapshot stays whole for the request: its decision matches its rules.
        if (d.allowed != (snapshot == allowing)) ++inconsistent;
        ++(snapshot == allowing ? seen_allowing : seen_denying);
      }
    });
  }
  // Swap until the readers have decided with both policies many times over.
  for (int i = 0; i < 1000 || seen_allowing.load() < 100 || seen_denying.load() < 100; ++i) {
    holder.set(i % 2 ? allowing : denying);
  }
  holder.set(denying);
  // Let the readers see the final policy before stopping.
  const long before = seen_denying.load();
  while (seen_denying.load() < before + 8) std::this_thread::yield();
  stop = true;
  for (auto& r : readers) r.join();

  EXPECT_EQ(inconsistent.load(), 0);
  EXPECT_EQ(holder.current(), denying);
}

// 2,000 services and 20,000 grants: 19,900 by exact names and 100 by team selectors.
TEST(EngineTest, LargePolicy) {
  auto name = [](const char* prefix, int i) {
    char text[16];
    std::snprintf(text, sizeof text, "%s-%04d", prefix, i);
    return std::string(text);
  };
  auto environment = [](int i) { return std::string(i % 2 ? "staging" : "production"); };
  Policy p;
  for (int i = 0; i < 2000; ++i) {
    p.services.push_back(service(name("svc", i), {{"environment", environment(i)},
                                                  {"team", "team-" + std::to_string(i % 100)}}));
  }
  for (int a = 0; a < 200; ++a) {
    p.audiences.push_back(
        audience(name("api", a), {"read", "write"},
                 {{"environment", environment(a)}, {"tier", a < 10 ? "gold" : "standard"}}));
  }
  // Service i reads 10 audiences of its own environment: api (i%2 + 2*((i/2 + k) % 100)).
  for (int i = 0; i < 1990; ++i) {
    for (int k = 0; k < 10; ++k) {
      const int a = i % 2 + 2 * ((i / 2 + k) % 100);
      p.grants.push_back(grant(name("svc", i) + "->" + name("api", a), named(name("svc", i)),
                               named(name("api", a)), {"read"}));
    }
  }
  // Each team (20 services, one environment) writes to the gold audiences; only the 5 of
  // its own environment are filed.
  for (int t = 0; t < 100; ++t) {
    p.grants.push_back(grant("team-" + std::to_string(t) + "-gold",
                             with_attributes({{"team", "team-" + std::to_string(t)}}),
                             with_attributes({{"tier", "gold"}}), {"write"}));
  }
  ASSERT_EQ(p.grants.size(), 20'000u);
  auto policy = compile(std::move(p));
  ASSERT_NE(policy, nullptr);
  EXPECT_EQ(policy->index_entries(), 19'900u + 100u * 20u * 5u);

  Decision d = ask(*policy, "svc-0004", "api-0004", {"read"});
  EXPECT_TRUE(d.allowed);
  EXPECT_THAT(d.rules, ElementsAre("svc-0004->api-0004"));
  d = ask(*policy, "svc-0004", "api-0008");
  EXPECT_TRUE(d.allowed);
  EXPECT_THAT(d.scopes, ElementsAre("read", "write"));
  EXPECT_THAT(d.rules, ElementsAre("svc-0004->api-0008", "team-4-gold"));
  EXPECT_EQ(ask(*policy, "svc-0004", "api-0001").reason, DenyReason::kEnvironmentMismatch);
  EXPECT_EQ(ask(*policy, "svc-0004", "api-0100").reason, DenyReason::kNoGrant);
  EXPECT_EQ(ask(*policy, "svc-0004", "api-0012", {"write"}).reason, DenyReason::kScopeNotGranted);
  d = ask(*policy, "svc-1995", "api-0009");
  EXPECT_TRUE(d.allowed);
  EXPECT_THAT(d.rules, ElementsAre("team-95-gold"));
  EXPECT_EQ(ask(*policy, "svc-1995", "api-0000").reason, DenyReason::kEnvironmentMismatch);
  EXPECT_EQ(ask(*policy, "svc-1995", "api-0011").reason, DenyReason::kNoGrant);
  EXPECT_EQ(policy->reach("svc-1995").audiences.size(), 5u);
  EXPECT_EQ(policy->reach("svc-0004").audiences.size(), 10u + 2u);  // 4..22, plus 0 and 2
}

std::shared_ptr<const CompiledPolicy> parse_and_compile(std::string_view yaml) {
  auto parsed = parse_policy(yaml);
  EXPECT_TRUE(parsed) << (parsed ? "" : format(parsed.error(), "policy"));
  if (!parsed) return nullptr;
  return compile(std::move(*parsed));
}

// The example of docs/policy.md, through the parser: the four allowed pairs and nothing else.
TEST(EngineTest, VideoPlatformExample) {
  std::ifstream in(SIGIL_SOURCE_DIR "/docs/examples/sigil.yaml", std::ios::binary);
  ASSERT_TRUE(in);
  std::stringstream text;
  text << in.rdbuf();
  auto policy = parse_and_compile(text.str());
  ASSERT_NE(policy, nullptr);

  struct Allowed {
    std::string caller, audience, scope;
    std::optional<Seconds> cap;
  };
  const std::vector<Allowed> allowed{
      {"video-service", "analytics-service", "analytics:write", Seconds{900}},
      {"video-service", "user-service", "profile:read", kHighSensitivityLifetime},
      {"notification-worker", "social-service", "social:read", std::nullopt},
      {"notification-worker", "notification-service", "notifications:send", Seconds{600}},
  };
  for (const auto& a : allowed) {
    const Decision d = ask(*policy, a.caller, a.audience, {a.scope});
    EXPECT_TRUE(d.allowed) << a.caller << " -> " << a.audience << ": " << d.detail;
    EXPECT_EQ(d.lifetime_cap, a.cap) << a.caller << " -> " << a.audience;
  }
  EXPECT_THAT(ask(*policy, "video-service", "analytics-service").rules,
              ElementsAre("video-analytics"));
  EXPECT_EQ(ask(*policy, "video-service", "analytics-service", {"analytics:read"}).reason,
            DenyReason::kScopeNotGranted);
  EXPECT_EQ(ask(*policy, "video-service", "user-service", {"profile:write"}).reason,
            DenyReason::kScopeNotGranted);

  int pairs = 0;
  for (const Service& service : policy->policy().services) {
    for (const Audience& target : policy->policy().audiences) {
      const bool listed = std::any_of(allowed.begin(), allowed.end(), [&](const Allowed& a) {
        return a.caller == service.name && a.audience == target.name;
      });
      const Decision d = ask(*policy, service.name, target.name);
      EXPECT_EQ(d.allowed, listed) << service.name << " -> " << target.name;
      if (!listed) {
        EXPECT_EQ(d.reason, DenyReason::kNoGrant) << service.name << " -> " << target.name;
      }
      ++pairs;
    }
  }
  EXPECT_EQ(pairs, 6 * 4);
  EXPECT_EQ(policy->edges().size(), 4u);
}

// Conditions as the parser reads them: days as bits from Monday, hours in UTC, CIDRs,
// auth methods, not_before/not_after.
TEST(EngineTest, ParsedConditions) {
  auto policy = parse_and_compile(R"(version: 1
services:
  - name: oncall
    attributes: {team: identity}
audiences:
  - name: users
    scopes: [profile:write]
grants:
  - name: incident
    caller: {attributes: {team: identity}}
    audience: users
    scopes: [profile:write]
    when:
      source: [10.20.0.0/16, "2001:db8:20::/48"]
      auth_methods: [private_key_jwt]
      time: {days: mon-fri, hours: "22:00-06:00"}
      not_before: 2026-11-23T00:00:00Z
      not_after: 2026-12-01T00:00:00Z
)");
  ASSERT_NE(policy, nullptr);
  auto at_time = [&](std::string_view t, std::string_view source = "10.20.1.1",
                     std::string_view method = "private_key_jwt") {
    return ask(*policy, "oncall", "users", {}, context(at(t), source, method));
  };
  EXPECT_TRUE(at_time("2026-11-23T23:00:00Z").allowed);  // Monday night
  EXPECT_TRUE(at_time("2026-11-28T05:00:00Z").allowed);  // Saturday early: Friday's night
  EXPECT_TRUE(at_time("2026-11-24T01:00:00Z", "2001:db8:20::5").allowed);
  EXPECT_FALSE(at_time("2026-11-23T05:00:00Z").allowed);  // Monday early: Sunday's night
  EXPECT_FALSE(at_time("2026-11-23T12:00:00Z").allowed);
  EXPECT_FALSE(at_time("2026-11-29T23:00:00Z").allowed);  // Sunday night
  EXPECT_FALSE(at_time("2026-11-23T23:00:00Z", "10.21.0.1").allowed);
  EXPECT_FALSE(at_time("2026-11-23T23:00:00Z", "10.20.1.1", "client_secret_basic").allowed);
  EXPECT_EQ(at_time("2026-12-01T23:00:00Z").detail,
            "rule incident: expired at 2026-12-01T00:00:00Z");
}

// Trusted issuers, as the parser reads them: GitHub Actions, GitLab CI and Kubernetes.
constexpr std::string_view kFederation = R"(version: 1
services:
  - name: video-deploy
  - name: web-ci
  - name: payments-api
issuers:
  - name: github
    issuer: https://token.actions.githubusercontent.com
    audience: https://sigil.example.com
    rules:
      - name: deploy-production
        claims:
          repository: acme/video
          ref: refs/heads/main
          environment: production
          job_workflow_ref: "acme/workflows/.github/workflows/deploy.yml@*"
          event_name: [push, workflow_dispatch]
        service: video-deploy
      - name: web-any-branch
        claims:
          repository: "acme/web-*"
          repository_owner: acme
        service: web-ci
      - name: people
        claims: {sub: "user:*"}
        user: true
  - name: gitlab
    issuer: https://gitlab.example.com
    audience: sigil
    rules:
      - name: gitlab-protected
        claims:
          project_path: acme/*
          ref_protected: true
        service: web-ci
  - name: cluster
    issuer: https://kubernetes.default.svc
    audience: sigil
    rules:
      - name: payments-pods
        claims:
          kubernetes.io/namespace: payments
          kubernetes.io/serviceaccount/name: [api, api-canary]
        service: payments-api
      - name: by-group
        claims: {groups: admins}
        user: true
)";

// A GitHub Actions token's claims for a push to main of acme/video, deploying to
// production.
FlatClaims github_push() {
  return {{"iss", {"https://token.actions.githubusercontent.com"}},
          {"aud", {"https://sigil.example.com"}},
          {"sub", {"repo:acme/video:environment:production"}},
          {"repository", {"acme/video"}},
          {"repository_owner", {"acme"}},
          {"ref", {"refs/heads/main"}},
          {"environment", {"production"}},
          {"job_workflow_ref", {"acme/workflows/.github/workflows/deploy.yml@refs/heads/main"}},
          {"event_name", {"push"}}};
}

TEST(FederationTest, FindsIssuersByExactIss) {
  auto policy = parse_and_compile(kFederation);
  ASSERT_NE(policy, nullptr);
  const TrustedIssuer* github = policy->find_issuer("https://token.actions.githubusercontent.com");
  ASSERT_NE(github, nullptr);
  EXPECT_EQ(github->name, "github");
  EXPECT_THAT(github->algorithms, ElementsAre("ES256", "RS256"));
  EXPECT_EQ(policy->find_issuer("https://kubernetes.default.svc")->name, "cluster");
  // "iss" is compared exactly (OpenID Connect Core §3.1.3.7): no trailing slash, no case
  // folding, no name instead of the URL.
  EXPECT_EQ(policy->find_issuer("https://token.actions.githubusercontent.com/"), nullptr);
  EXPECT_EQ(policy->find_issuer("https://TOKEN.actions.githubusercontent.com"), nullptr);
  EXPECT_EQ(policy->find_issuer("github"), nullptr);
  EXPECT_EQ(policy->find_issuer(""), nullptr);
}

TEST(FederationTest, GitHubActionsClaims) {
  auto policy = parse_and_compile(kFederation);
  ASSERT_NE(policy, nullptr);
  const TrustedIssuer& github = *policy->find_issuer("https://token.actions.githubusercontent.com");

  const ExternalIdentity allowed = policy->match_external(github, github_push());
  ASSERT_NE(allowed.rule, nullptr);
  EXPECT_EQ(allowed.rule->name, "deploy-production");
  EXPECT_EQ(allowed.rule->service, "video-deploy");
  EXPECT_EQ(allowed.detail, "");

  FlatClaims dispatch = github_push();
  dispatch["event_name"] = {"workflow_dispatch"};  // the other listed value
  EXPECT_EQ(policy->match_external(github, dispatch).rule->name, "deploy-production");

  // Each claim the rule names, changed alone, refuses the token.
  const std::vector<std::pair<std::string, std::string>> wrong = {
      {"repository", "evil/video"},
      {"ref", "refs/heads/feature"},
      {"environment", "staging"},
      {"job_workflow_ref", "evil/workflows/.github/workflows/deploy.yml@refs/heads/main"},
      {"event_name", "pull_request"},
  };
  for (const auto& [claim, value] : wrong) {
    FlatClaims claims = github_push();
    claims[claim] = {value};
    const ExternalIdentity refused = policy->match_external(github, claims);
    EXPECT_EQ(refused.rule, nullptr) << claim;
    EXPECT_THAT(refused.detail,
                HasSubstr("rule deploy-production: " + claim + " \"" + value + "\" does not match"))
        << claim;
  }

  FlatClaims no_environment = github_push();
  no_environment.erase("environment");
  const ExternalIdentity missing = policy->match_external(github, no_environment);
  EXPECT_EQ(missing.rule, nullptr);
  EXPECT_EQ(missing.detail,
            "rule deploy-production: no claim environment; "
            "rule web-any-branch: repository \"acme/video\" does not match acme/web-*; "
            "rule people: sub \"repo:acme/video:environment:production\" does not match user:*");

  FlatClaims pull = github_push();
  pull["event_name"] = {"pull_request"};
  EXPECT_THAT(policy->match_external(github, pull).detail,
              HasSubstr("rule deploy-production: event_name \"pull_request\" does not match any "
                        "of push, workflow_dispatch"));
}

TEST(FederationTest, FirstMatchingRuleDecides) {
  auto policy = parse_and_compile(kFederation);
  ASSERT_NE(policy, nullptr);
  const TrustedIssuer& github = *policy->find_issuer("https://token.actions.githubusercontent.com");
  FlatClaims web = github_push();
  web["repository"] = {"acme/web-shop"};
  const ExternalIdentity identity = policy->match_external(github, web);
  ASSERT_NE(identity.rule, nullptr);
  EXPECT_EQ(identity.rule->name, "web-any-branch");
  EXPECT_EQ(identity.rule->service, "web-ci");

  // A token that two rules would accept goes to the first in file order.
  Policy p = *parse_policy(kFederation);
  p.issuers[0].rules[1].claims = {{.claim = "repository", .patterns = {"acme/*"}}};
  std::swap(p.issuers[0].rules[0], p.issuers[0].rules[1]);
  auto swapped = compile(std::move(p));
  ASSERT_NE(swapped, nullptr);
  EXPECT_EQ(swapped->match_external(swapped->policy().issuers[0], github_push()).rule->name,
            "web-any-branch");

  FlatClaims person = {{"sub", {"user:alice"}}};
  const ExternalIdentity user = policy->match_external(github, person);
  ASSERT_NE(user.rule, nullptr);
  EXPECT_TRUE(user.rule->user);
  EXPECT_EQ(user.rule->name, "people");
}

TEST(FederationTest, GitLabClaims) {
  auto policy = parse_and_compile(kFederation);
  ASSERT_NE(policy, nullptr);
  const TrustedIssuer& gitlab = *policy->find_issuer("https://gitlab.example.com");
  // GitLab's ref_protected is a JSON boolean; flattened, it is its JSON text.
  FlatClaims claims = {{"project_path", {"acme/web"}}, {"ref_protected", {"true"}}};
  const ExternalIdentity allowed = policy->match_external(gitlab, claims);
  ASSERT_NE(allowed.rule, nullptr);
  EXPECT_EQ(allowed.rule->service, "web-ci");

  claims["ref_protected"] = {"false"};
  const ExternalIdentity unprotected = policy->match_external(gitlab, claims);
  EXPECT_EQ(unprotected.rule, nullptr);
  EXPECT_EQ(unprotected.detail,
            "rule gitlab-protected: ref_protected \"false\" does not match true");

  claims = {{"project_path", {"other/web"}}, {"ref_protected", {"true"}}};
  EXPECT_EQ(policy->match_external(gitlab, claims).rule, nullptr);
}

TEST(FederationTest, KubernetesNestedClaims) {
  auto policy = parse_and_compile(kFederation);
  ASSERT_NE(policy, nullptr);
  const TrustedIssuer& cluster = *policy->find_issuer("https://kubernetes.default.svc");
  // {"kubernetes.io": {"namespace": "payments", "serviceaccount": {"name": "api"}}}
  FlatClaims claims = {{"sub", {"system:serviceaccount:payments:api"}},
                       {"kubernetes.io/namespace", {"payments"}},
                       {"kubernetes.io/serviceaccount/name", {"api"}},
                       {"kubernetes.io/serviceaccount/uid", {"9c4f"}}};
  const ExternalIdentity allowed = policy->match_external(cluster, claims);
  ASSERT_NE(allowed.rule, nullptr);
  EXPECT_EQ(allowed.rule->name, "payments-pods");
  EXPECT_EQ(allowed.rule->service, "payments-api");

  claims["kubernetes.io/serviceaccount/name"] = {"api-canary"};
  EXPECT_NE(policy->match_external(cluster, claims).rule, nullptr);

  claims["kubernetes.io/namespace"] = {"default"};
  const ExternalIdentity other_namespace = policy->match_external(cluster, claims);
  EXPECT_EQ(other_namespace.rule, nullptr);
  EXPECT_THAT(other_namespace.detail,
              HasSubstr("rule payments-pods: kubernetes.io/namespace \"default\" does not match "
                        "payments"));

  // The same names at the top level are other claims.
  claims = {{"namespace", {"payments"}}, {"serviceaccount/name", {"api"}}};
  EXPECT_EQ(policy->match_external(cluster, claims).rule, nullptr);
}

TEST(FederationTest, ArrayClaimsMatchWhenOneValueDoes) {
  auto policy = parse_and_compile(kFederation);
  ASSERT_NE(policy, nullptr);
  const TrustedIssuer& cluster = *policy->find_issuer("https://kubernetes.default.svc");
  FlatClaims claims = {{"groups", {"developers", "admins"}}};
  const ExternalIdentity admin = policy->match_external(cluster, claims);
  ASSERT_NE(admin.rule, nullptr);
  EXPECT_EQ(admin.rule->name, "by-group");

  claims = {{"groups", {"developers", "ops", "sre", "qa\x1b[31m"}}};
  const ExternalIdentity other = policy->match_external(cluster, claims);
  EXPECT_EQ(other.rule, nullptr);
  // Values from outside are quoted and escaped; long lists are cut.
  EXPECT_THAT(other.detail,
              HasSubstr("rule by-group: groups [\"developers\", \"ops\", \"sre\", and 1 more] does "
                        "not match admins"));

  claims = {{"groups", {"a\"\x01\xff"}}};
  EXPECT_THAT(policy->match_external(cluster, claims).detail,
              HasSubstr("rule by-group: groups \"a\\\"\\x01\\xff\" does not match admins"));

  claims = {{"groups", {}}};  // an empty array
  EXPECT_THAT(policy->match_external(cluster, claims).detail,
              HasSubstr("rule by-group: no claim groups"));
}

TEST(FederationTest, CompileChecksIssuersBuiltInCode) {
  const Policy good = *parse_policy(kFederation);
  ASSERT_TRUE(CompiledPolicy::compile(good));

  const auto refused = [](Policy p, std::string_view fragment) {
    auto r = CompiledPolicy::compile(std::move(p));
    ASSERT_FALSE(r) << fragment;
    EXPECT_EQ(r.error().code, Code::kInvalidArgument);
    EXPECT_THAT(r.error().message, HasSubstr(fragment));
  };
  Policy p = good;
  p.issuers.push_back(p.issuers[1]);
  refused(p, "issuer \"gitlab\" is declared twice");

  p = good;
  p.issuers[1].issuer = p.issuers[0].issuer;
  refused(p, "issuer URL \"https://token.actions.githubusercontent.com\" is declared twice");

  p = good;
  p.issuers[0].rules[0].service = "nobody";
  refused(p, "issuer rule \"deploy-production\": service \"nobody\" is not declared");

  p = good;
  p.issuers[0].rules[0].user = true;  // and a service
  refused(p, "must name either a service or a user");

  p = good;
  p.issuers[0].rules[2].user = false;  // neither
  refused(p, "must name either a service or a user");

  p = good;
  p.issuers[0].rules[0].claims = {{.claim = "repository", .patterns = {"*"}},
                                  {.claim = "aud", .patterns = {"https://sigil.example.com"}}};
  refused(p, "issuer rule \"deploy-production\" must constrain more than the issuer");

  p = good;
  p.issuers[0].rules[0].claims.clear();
  refused(p, "must constrain more than the issuer");

  p = good;
  p.issuers[0].rules[1].name = "deploy-production";
  refused(p, "issuer rule \"deploy-production\" is declared twice");

  p = good;
  p.issuers[0].algorithms = {"RS256", "HS256"};
  refused(p, "allows the algorithm \"HS256\"");

  p = good;
  p.issuers[0].algorithms = {"none"};
  refused(p, "allows the algorithm \"none\"");

  p = good;
  p.issuers[0].jwks = R"({"keys":[]})";
  p.issuers[0].jwks_uri = "https://token.actions.githubusercontent.com/.well-known/jwks";
  refused(p, "has both jwks and jwks_uri");

  p = good;
  p.issuers[0].audience.clear();
  refused(p, "has no audience");

  p = good;
  p.issuers[0].issuer.clear();
  refused(p, "has no issuer URL");

  // Algorithms left empty in code get the default, sorted.
  p = good;
  p.issuers[0].algorithms.clear();
  p.issuers[1].algorithms = {"RS256", "EdDSA", "RS256"};
  auto compiled = compile(std::move(p));
  ASSERT_NE(compiled, nullptr);
  EXPECT_THAT(compiled->policy().issuers[0].algorithms, ElementsAre("ES256", "RS256"));
  EXPECT_THAT(compiled->policy().issuers[1].algorithms, ElementsAre("EdDSA", "RS256"));
}

TEST(FederationTest, IssuerWithoutRulesMatchesNothing) {
  Policy p;
  p.issuers.resize(1);
  p.issuers[0].name = "ci";
  p.issuers[0].issuer = "https://ci.example.com";
  p.issuers[0].audience = "sigil";
  auto policy = compile(std::move(p));
  ASSERT_NE(policy, nullptr);
  const ExternalIdentity none =
      policy->match_external(*policy->find_issuer("https://ci.example.com"), github_push());
  EXPECT_EQ(none.rule, nullptr);
  EXPECT_EQ(none.detail, "issuer ci has no rules");
}

}  // namespace
}  // namespace sigil::policy
