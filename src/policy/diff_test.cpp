#include "policy/diff.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace sigil::policy {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

Selector named(std::string name) {
  Selector s;
  s.name = std::move(name);
  return s;
}

Policy base() {
  Policy p;
  p.services.resize(2);
  p.services[0].name = "video-service";
  p.services[0].attributes = {{"environment", "production"}, {"team", "video"}};
  p.services[0].line = 3;
  p.services[1].name = "notification-worker";
  p.audiences.resize(2);
  p.audiences[0].name = "analytics";
  p.audiences[0].scopes = {"analytics:read", "analytics:write"};
  p.audiences[1].name = "social";
  p.audiences[1].scopes = {"social:read"};
  p.grants.resize(2);
  p.grants[0].name = "video-analytics";
  p.grants[0].caller = named("video-service");
  p.grants[0].audience = named("analytics");
  p.grants[0].scopes = {"analytics:write"};
  p.grants[0].max_lifetime = Seconds{3600};
  p.grants[1].name = "notify-social";
  p.grants[1].caller = named("notification-worker");
  p.grants[1].audience = named("social");
  p.grants[1].scopes = {"social:read"};
  return p;
}

Change change(std::string_view what, std::string name, ChangeKind kind,
              std::vector<std::string> details = {}) {
  return {what, std::move(name), kind, std::move(details)};
}

TEST(DiffTest, FromNothingEverythingIsAdded) {
  EXPECT_THAT(diff(nullptr, base()),
              ElementsAre(change("service", "notification-worker", ChangeKind::kAdded),
                          change("service", "video-service", ChangeKind::kAdded),
                          change("audience", "analytics", ChangeKind::kAdded),
                          change("audience", "social", ChangeKind::kAdded),
                          change("grant", "notify-social", ChangeKind::kAdded),
                          change("grant", "video-analytics", ChangeKind::kAdded)));
  EXPECT_THAT(diff(nullptr, Policy{}), IsEmpty());

  // Non-default settings show against the defaults.
  Policy p;
  p.settings.environment_attribute = "env";
  EXPECT_THAT(diff(nullptr, p),
              ElementsAre(change("settings", "settings", ChangeKind::kChanged,
                                 {"environment_attribute: \"environment\" -> \"env\""})));
}

TEST(DiffTest, SamePolicyNoChange) {
  const Policy before = base();
  Policy after = base();
  after.services[0].line = 30;  // moved in the file
  after.grants[0].line = 12;
  std::swap(after.services[0], after.services[1]);  // reordered
  EXPECT_THAT(diff(&before, after), IsEmpty());
}

TEST(DiffTest, AddedAndRemoved) {
  const Policy before = base();
  Policy after = base();
  after.services.erase(after.services.begin() + 1);
  after.grants.erase(after.grants.begin() + 1);
  after.services.emplace_back();
  after.services.back().name = "billing";
  EXPECT_THAT(diff(&before, after),
              ElementsAre(change("service", "billing", ChangeKind::kAdded),
                          change("service", "notification-worker", ChangeKind::kRemoved),
                          change("grant", "notify-social", ChangeKind::kRemoved)));
  EXPECT_EQ(to_string(ChangeKind::kAdded), "added");
  EXPECT_EQ(to_string(ChangeKind::kChanged), "changed");
  EXPECT_EQ(to_string(ChangeKind::kRemoved), "removed");
}

TEST(DiffTest, ServiceFields) {
  const Policy before = base();
  Policy after = base();
  Service& s = after.services[0];
  s.description = "encodes videos";
  s.attributes = {{"environment", "staging"}, {"owner", "alice"}};
  s.labels = {"gpu"};
  s.auth_methods = {"private_key_jwt"};
  EXPECT_THAT(diff(&before, after),
              ElementsAre(change(
                  "service", "video-service", ChangeKind::kChanged,
                  {"description: \"\" -> \"encodes videos\"",
                   "attributes.environment: \"production\" -> \"staging\"",
                   "attributes.owner: none -> \"alice\"", "attributes.team: \"video\" -> none",
                   "labels: +gpu", "auth_methods: +private_key_jwt"})));
}

TEST(DiffTest, AudienceFields) {
  const Policy before = base();
  Policy after = base();
  Audience& a = after.audiences[0];
  a.uri = "https://analytics.example.com";
  a.scopes = {"analytics:admin", "analytics:read"};
  a.sensitivity = Sensitivity::kHigh;
  a.max_lifetime = Seconds{600};
  a.attributes = {{"tier", "gold"}};
  EXPECT_THAT(diff(&before, after),
              ElementsAre(change(
                  "audience", "analytics", ChangeKind::kChanged,
                  {"uri: analytics -> https://analytics.example.com",
                   "scopes: +analytics:admin -analytics:write", "sensitivity: medium -> high",
                   "max_lifetime: none -> 10m", "attributes.tier: none -> \"gold\""})));

  // A URI spelled out as the name is no change.
  Policy same = base();
  same.audiences[1].uri = "social";
  EXPECT_THAT(diff(&before, same), IsEmpty());
}

TEST(DiffTest, GrantFields) {
  const Policy before = base();
  Policy after = base();
  GrantRule& g = after.grants[0];
  g.caller = Selector{};
  g.caller.attributes = {{"team", "video"}};
  g.scopes = {"analytics:read"};
  g.max_lifetime = Seconds{600};
  g.when.source = {*parse_cidr("10.0.0.0/8")};
  g.when.auth_methods = {"private_key_jwt"};
  g.when.time = TimeWindow{.days = 0x1f, .from_minute = 540, .to_minute = 1020};
  g.when.not_after = from_rfc3339("2026-12-01T00:00:00Z");
  EXPECT_THAT(
      diff(&before, after),
      ElementsAre(change("grant", "video-analytics", ChangeKind::kChanged,
                         {"caller: video-service -> {attributes: {team: \"video\"}}",
                          "scopes: +analytics:read -analytics:write", "max_lifetime: 1h -> 10m",
                          "when.source: +10.0.0.0/8", "when.auth_methods: +private_key_jwt",
                          "when.time: none -> Mon,Tue,Wed,Thu,Fri 09:00-17:00 UTC",
                          "when.not_after: none -> 2026-12-01T00:00:00Z"})));

  Policy later = after;
  later.grants[0].audience = named("a*");
  later.grants[0].when.time->to_minute = 1080;
  later.grants[0].when.not_before = from_rfc3339("2026-11-01T00:00:00Z");
  later.grants[0].description = "temporary";
  EXPECT_THAT(diff(&after, later),
              ElementsAre(change(
                  "grant", "video-analytics", ChangeKind::kChanged,
                  {"description: \"\" -> \"temporary\"", "audience: analytics -> {name: \"a*\"}",
                   "when.time: Mon,Tue,Wed,Thu,Fri 09:00-17:00 UTC -> "
                   "Mon,Tue,Wed,Thu,Fri 09:00-18:00 UTC",
                   "when.not_before: none -> 2026-11-01T00:00:00Z"})));
}

TEST(DiffTest, SettingsAndOrder) {
  const Policy before = base();
  Policy after = base();
  after.settings.default_lifetime = Seconds{120};
  after.settings.environment_attribute = "";
  after.audiences[1].scopes.push_back("social:write");
  after.services[1].labels = {"worker"};
  after.grants[1].max_lifetime = Seconds{90};
  EXPECT_THAT(
      diff(&before, after),
      ElementsAre(
          change("service", "notification-worker", ChangeKind::kChanged, {"labels: +worker"}),
          change("audience", "social", ChangeKind::kChanged, {"scopes: +social:write"}),
          change("grant", "notify-social", ChangeKind::kChanged, {"max_lifetime: none -> 90s"}),
          change(
              "settings", "settings", ChangeKind::kChanged,
              {"environment_attribute: \"environment\" -> \"\"", "default_lifetime: none -> 2m"})));
}

}  // namespace
}  // namespace sigil::policy
