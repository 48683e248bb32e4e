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

TEST(DiffTest, CertificateSettingsAndRequireMtls) {
  const Policy before = base();
  Policy after = base();
  after.services[0].certificate.spiffe_path = "/ns/prod/video";
  after.services[0].certificate.dns_names = {"video.internal"};
  after.services[0].certificate.lifetime = Seconds{1800};
  after.audiences[1].require_mtls = true;
  EXPECT_THAT(
      diff(&before, after),
      ElementsAre(
          change("service", "video-service", ChangeKind::kChanged,
                 {"certificate.spiffe_path: /video-service -> /ns/prod/video",
                  "certificate.dns_names: +video.internal", "certificate.lifetime: 1h -> 30m"}),
          change("audience", "social", ChangeKind::kChanged, {"require_mtls: false -> true"})));

  // The default path written out is no change.
  Policy same = base();
  same.services[1].certificate.spiffe_path = "/notification-worker";
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

TrustedIssuer github() {
  TrustedIssuer t;
  t.name = "github";
  t.issuer = "https://token.actions.githubusercontent.com";
  t.audience = "https://sigil.example.com";
  t.algorithms = {"ES256", "RS256"};
  t.rules.resize(2);
  t.rules[0].name = "deploy";
  t.rules[0].claims = {{.claim = "repository", .patterns = {"acme/video"}},
                       {.claim = "ref", .patterns = {"refs/heads/main"}}};
  t.rules[0].service = "video-service";
  t.rules[1].name = "github#2";
  t.rules[1].claims = {{.claim = "sub", .patterns = {"user:*"}}};
  t.rules[1].user = true;
  t.line = 40;
  return t;
}

TEST(DiffTest, IssuersAndTheirRules) {
  const Policy before = base();
  Policy after = base();
  after.issuers.push_back(github());
  EXPECT_THAT(diff(&before, after),
              ElementsAre(change("issuer", "github", ChangeKind::kAdded),
                          change("issuer rule", "deploy", ChangeKind::kAdded),
                          change("issuer rule", "github#2", ChangeKind::kAdded)));
  EXPECT_THAT(diff(&after, before),
              ElementsAre(change("issuer", "github", ChangeKind::kRemoved),
                          change("issuer rule", "deploy", ChangeKind::kRemoved),
                          change("issuer rule", "github#2", ChangeKind::kRemoved)));
  Policy moved = after;
  moved.issuers[0].line = 90;
  moved.issuers[0].rules[0].line = 91;
  EXPECT_THAT(diff(&after, moved), IsEmpty());

  Policy changed = after;
  TrustedIssuer& t = changed.issuers[0];
  t.audience = "sigil";
  t.jwks_uri = "https://token.actions.githubusercontent.com/.well-known/jwks";
  t.algorithms = {"RS256"};
  t.rules[0].claims = {{.claim = "repository", .patterns = {"acme/video", "acme/audio"}},
                       {.claim = "environment", .patterns = {"production"}}};
  std::swap(t.rules[0], t.rules[1]);  // the first match decides: order is a change
  t.rules[1].service = "notification-worker";
  EXPECT_THAT(
      diff(&after, changed),
      ElementsAre(change("issuer", "github", ChangeKind::kChanged,
                         {"audience: https://sigil.example.com -> sigil",
                          "jwks_uri: none -> https://token.actions.githubusercontent.com/"
                          ".well-known/jwks",
                          "algorithms: -ES256"}),
                  change("issuer rule", "deploy", ChangeKind::kChanged,
                         {"position: 1 -> 2", "claims.environment: none -> \"production\"",
                          "claims.ref: \"refs/heads/main\" -> none",
                          "claims.repository: \"acme/video\" -> [\"acme/video\", \"acme/audio\"]",
                          "service: video-service -> notification-worker"}),
                  change("issuer rule", "github#2", ChangeKind::kChanged, {"position: 2 -> 1"})));
}

TEST(DiffTest, RuleThatMovesToAnotherIssuerAndJwks) {
  Policy before = base();
  before.issuers.push_back(github());
  before.issuers[0].jwks = R"({"keys":[{"kty":"EC","crv":"P-256","x":"a","y":"b"}]})";
  before.issuers.emplace_back();
  before.issuers[1].name = "gitlab";
  before.issuers[1].issuer = "https://gitlab.example.com";
  before.issuers[1].audience = "sigil";

  Policy after = before;
  after.issuers[1].rules.push_back(after.issuers[0].rules[1]);
  after.issuers[0].rules.pop_back();
  after.issuers[1].rules[0].user = false;
  after.issuers[1].rules[0].service = "video-service";
  after.issuers[0].jwks = R"({"keys":[{"kty":"EC","crv":"P-256","x":"c","y":"d"}]})";
  after.issuers[1].jwks = R"({"keys":[{"kty":"EC","crv":"P-256","x":"c","y":"d"}]})";
  EXPECT_THAT(diff(&before, after),
              ElementsAre(change("issuer", "github", ChangeKind::kChanged, {"jwks: other keys"}),
                          change("issuer", "gitlab", ChangeKind::kChanged, {"jwks: none -> given"}),
                          change("issuer rule", "github#2", ChangeKind::kChanged,
                                 {"issuer: github -> gitlab", "position: 2 -> 1",
                                  "service: none -> video-service", "user: true -> false"})));
}

TEST(DiffTest, ServiceJwksUriAndGrantImpersonation) {
  const Policy before = base();
  Policy after = base();
  after.services[1].jwks_uri = "https://worker.example.com/jwks";
  after.grants[1].impersonation = true;
  EXPECT_THAT(diff(&before, after),
              ElementsAre(change("service", "notification-worker", ChangeKind::kChanged,
                                 {"jwks_uri: none -> https://worker.example.com/jwks"}),
                          change("grant", "notify-social", ChangeKind::kChanged,
                                 {"impersonation: false -> true"})));
}

}  // namespace
}  // namespace sigil::policy
