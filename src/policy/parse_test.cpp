#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <initializer_list>
#include <sstream>

#include "policy/policy.hpp"

namespace sigil::policy {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// docs/examples/sigil.yaml, the example of docs/policy.md; ExampleFileIsThisText keeps the
// two identical.
constexpr std::string_view kExample = R"yaml(# sigil.yaml: who may call what on the video platform.
#
# Deny by default: a service gets a token for an audience only when a grant below says
# so, with at most the grant's scopes. Check a change with `sigil plan -f sigil.yaml`,
# put it in force with `sigil apply -f sigil.yaml`, and test it offline with
# `sigil policy test`. The schema is described in docs/policy.md.

# The schema version. Required; 1 is the only one.
version: 1

settings:
  # Environment separation: a caller and an audience whose "environment" attributes
  # differ never get a token, whatever the grants say ("" turns this off).
  environment_attribute: environment
  # The lifetime of a token when the request names none, before the caps below.
  default_lifetime: 5m

# The workloads. Each service is also a client of sigil: its name is its client id
# ([a-z0-9][a-z0-9._-]{0,62}). `sigil apply` creates the clients of new services and
# prints their credentials once.
services:
  - name: video-service
    description: Uploads, transcodes and serves videos
    attributes: # free-form; grants can select services by them
      environment: production
      team: media
    labels: [public-facing] # tags that grants can select on
  - name: notification-worker
    description: Delivers queued notifications
    attributes: {environment: production, team: engagement}
    # How this client may authenticate; the default is client_secret_basic and
    # client_secret_post.
    auth_methods: [client_secret_basic]
  - name: analytics-service
    attributes: {environment: production, team: data}
  - name: user-service
    attributes: {environment: production, team: identity}
  - name: social-service
    attributes: {environment: production, team: engagement}
  - name: notification-service
    attributes: {environment: production, team: engagement}

# The APIs tokens are issued for, and every scope each one understands. A grant may give
# only scopes its audience declares.
audiences:
  - name: analytics-service
    description: Event ingestion and reports
    # The token's "aud"; the name when not given. A client may ask for the audience by
    # name or by this URI.
    # uri: https://analytics.internal.example
    scopes: [analytics:write, analytics:read]
    attributes: {environment: production}
  - name: user-service
    description: User profiles
    scopes: [profile:read, profile:write]
    # Personal data: tokens for a high-sensitivity audience live at most 5 minutes
    # unless max_lifetime says otherwise (low and medium have no cap of their own).
    sensitivity: high
    attributes: {environment: production}
  - name: social-service
    scopes: [social:read]
    attributes: {environment: production}
  - name: notification-service
    scopes: [notifications:send]
    max_lifetime: 10m # a cap on every token for this audience
    attributes: {environment: production}

# Who may call what. caller and audience are a name, a pattern ("*" any run of
# characters, "?" one) or a mapping {name, attributes, labels}; every part given must
# match. A grant without a name is named after its caller and audience
# ("video-service->user-service"), or "grant-<position>" when they are patterns.
grants:
  - name: video-analytics
    description: Playback events
    caller: video-service
    audience: analytics-service
    scopes: [analytics:write]
    max_lifetime: 15m
  - caller: video-service
    audience: user-service
    scopes: [profile:read]
  - caller: notification-worker
    audience: social-service
    scopes: [social:read]
  - caller: notification-worker
    audience: notification-service
    scopes: [notifications:send]

  # Conditions, checked at the moment of each request. A just-in-time grant for an
  # incident: every service of the identity team may write profiles from the office
  # network, on weekdays in office hours, until the window closes:
  #
  # - name: incident-4711
  #   caller: {attributes: {team: identity}}
  #   audience: user-service
  #   scopes: [profile:write]
  #   max_lifetime: 5m
  #   when:
  #     source: [10.20.0.0/16, "2001:db8:20::/48"]
  #     auth_methods: [private_key_jwt, tls_client_auth]
  #     time: {days: mon-fri, hours: "08:00-18:00"} # UTC
  #     not_before: 2026-11-23T08:00:00Z
  #     not_after: 2026-11-24T08:00:00Z

# Trusted issuers (federation): a CI job or a pod presents the OIDC token its platform
# gave it and gets a token as one of the services above, with no stored secret. The
# first rule whose claims all match decides which service the token stands for; no
# match, no token. A rule must constrain more than the issuer: `repository: "*"` alone
# would let every repository on GitHub in, and is refused.
#
# issuers:
#   - name: github
#     issuer: https://token.actions.githubusercontent.com
#     audience: https://sigil.example.com # what the workflow asks GitHub for
#     rules:
#       - name: video-deploy
#         claims:
#           repository: acme/video-service
#           ref: refs/heads/main
#           environment: production
#           event_name: [push, workflow_dispatch]
#         service: video-service
)yaml";

// Lines joined with '\n': line n of the document is element n-1.
std::string lines(std::initializer_list<std::string_view> text) {
  std::string out;
  for (std::string_view line : text) {
    out += line;
    out += '\n';
  }
  return out;
}

// Fourteen lines: two services, two audiences, and the grants key. Grants appended with
// with_grant start at line 15.
const std::string kBase = lines({
    "version: 1",                                              // 1
    "services:",                                               // 2
    "  - name: web",                                           // 3
    "    attributes: {environment: production, team: media}",  // 4
    "    labels: [edge]",                                      // 5
    "  - name: batch",                                         // 6
    "    attributes: {environment: staging, team: media}",     // 7
    "audiences:",                                              // 8
    "  - name: api",                                           // 9
    "    scopes: [read, write]",                               // 10
    "    attributes: {environment: production}",               // 11
    "  - name: reports",                                       // 12
    "    scopes: [read]",                                      // 13
    "grants:",                                                 // 14
});

std::string with_grant(std::initializer_list<std::string_view> grant) {
  return kBase + lines(grant);
}

// The one diagnostic the document yields (a failure if it yields none or several).
Diagnostic only_error(std::string_view yaml) {
  auto parsed = parse_policy(yaml);
  if (parsed) {
    ADD_FAILURE() << "parsed without error:\n" << yaml;
    return {};
  }
  EXPECT_EQ(parsed.error().size(), 1u) << format(parsed.error(), "policy");
  return parsed.error().front();
}

#define EXPECT_ERROR(yaml, expected_line, fragment)        \
  do {                                                     \
    const Diagnostic d = only_error(yaml);                 \
    EXPECT_EQ(d.line, expected_line) << d.message;         \
    EXPECT_THAT(d.message, HasSubstr(fragment)) << d.line; \
  } while (false)

TEST(ParsePolicy, ExampleParsesIntoItsStructures) {
  auto parsed = parse_policy(kExample);
  ASSERT_TRUE(parsed) << format(parsed.error(), "sigil.yaml");
  const Policy& p = *parsed;
  EXPECT_EQ(p.version, 1);
  EXPECT_EQ(p.settings.environment_attribute, "environment");
  EXPECT_EQ(p.settings.default_lifetime, Seconds{300});

  ASSERT_EQ(p.services.size(), 6u);
  std::vector<std::string> names;
  for (const auto& s : p.services) names.push_back(s.name);
  EXPECT_THAT(names, ElementsAre("video-service", "notification-worker", "analytics-service",
                                 "user-service", "social-service", "notification-service"));
  const Service& video = p.services[0];
  EXPECT_EQ(video.line, 22);
  EXPECT_EQ(video.description, "Uploads, transcodes and serves videos");
  EXPECT_EQ(video.attributes,
            (std::map<std::string, std::string>{{"environment", "production"}, {"team", "media"}}));
  EXPECT_THAT(video.labels, ElementsAre("public-facing"));
  EXPECT_TRUE(video.auth_methods.empty());
  EXPECT_EQ(p.services[1].line, 28);
  EXPECT_THAT(p.services[1].auth_methods, ElementsAre("client_secret_basic"));
  EXPECT_EQ(p.services[5].line, 40);

  ASSERT_EQ(p.audiences.size(), 4u);
  const Audience& analytics = p.audiences[0];
  EXPECT_EQ(analytics.name, "analytics-service");
  EXPECT_EQ(analytics.uri, "analytics-service");
  EXPECT_EQ(analytics.line, 46);
  EXPECT_THAT(analytics.scopes, ElementsAre("analytics:read", "analytics:write"));  // sorted
  EXPECT_EQ(analytics.sensitivity, Sensitivity::kMedium);
  EXPECT_EQ(analytics.lifetime_cap(), std::nullopt);
  const Audience& users = p.audiences[1];
  EXPECT_EQ(users.name, "user-service");
  EXPECT_THAT(users.scopes, ElementsAre("profile:read", "profile:write"));
  EXPECT_EQ(users.sensitivity, Sensitivity::kHigh);
  EXPECT_EQ(users.lifetime_cap(), kHighSensitivityLifetime);
  EXPECT_EQ(p.audiences[2].name, "social-service");
  EXPECT_THAT(p.audiences[2].scopes, ElementsAre("social:read"));
  const Audience& notifications = p.audiences[3];
  EXPECT_EQ(notifications.name, "notification-service");
  EXPECT_THAT(notifications.scopes, ElementsAre("notifications:send"));
  EXPECT_EQ(notifications.max_lifetime, Seconds{600});
  EXPECT_EQ(notifications.line, 63);

  ASSERT_EQ(p.grants.size(), 4u);
  const GrantRule& g0 = p.grants[0];
  EXPECT_EQ(g0.name, "video-analytics");
  EXPECT_EQ(g0.description, "Playback events");
  EXPECT_EQ(g0.caller.name, "video-service");
  EXPECT_TRUE(g0.caller.is_exact_name());
  EXPECT_EQ(g0.audience.name, "analytics-service");
  EXPECT_THAT(g0.scopes, ElementsAre("analytics:write"));
  EXPECT_EQ(g0.max_lifetime, Seconds{900});
  EXPECT_TRUE(g0.when.source.empty());
  EXPECT_FALSE(g0.when.time);
  EXPECT_EQ(g0.line, 73);
  EXPECT_EQ(p.grants[1].name, "video-service->user-service");
  EXPECT_THAT(p.grants[1].scopes, ElementsAre("profile:read"));
  EXPECT_EQ(p.grants[1].max_lifetime, std::nullopt);
  EXPECT_EQ(p.grants[1].line, 79);
  EXPECT_EQ(p.grants[2].name, "notification-worker->social-service");
  EXPECT_THAT(p.grants[2].scopes, ElementsAre("social:read"));
  EXPECT_EQ(p.grants[3].name, "notification-worker->notification-service");
  EXPECT_EQ(p.grants[3].audience.name, "notification-service");
  EXPECT_THAT(p.grants[3].scopes, ElementsAre("notifications:send"));
  EXPECT_EQ(p.grants[3].line, 85);
}

TEST(ParsePolicy, ExampleFileIsThisText) {
  std::ifstream in(SIGIL_SOURCE_DIR "/docs/examples/sigil.yaml", std::ios::binary);
  ASSERT_TRUE(in) << "docs/examples/sigil.yaml is missing";
  std::stringstream file;
  file << in.rdbuf();
  EXPECT_EQ(file.str(), kExample);
}

TEST(ParsePolicy, ExampleIssuerIsValidOnceUncommented) {
  // The commented-out issuer at the end of the example, with its "# " removed.
  const std::string text(kExample);
  const auto start = text.find("\n# issuers:\n");
  ASSERT_NE(start, std::string::npos);
  std::string uncommented = text.substr(0, start + 1);
  std::istringstream rest(text.substr(start + 1));
  for (std::string line; std::getline(rest, line);) {
    uncommented += (line.starts_with("# ") ? line.substr(2) : line) + '\n';
  }
  auto parsed = parse_policy(uncommented);
  ASSERT_TRUE(parsed) << format(parsed.error(), "sigil.yaml");
  ASSERT_EQ(parsed->issuers.size(), 1u);
  const TrustedIssuer& github = parsed->issuers[0];
  EXPECT_EQ(github.issuer, "https://token.actions.githubusercontent.com");
  ASSERT_EQ(github.rules.size(), 1u);
  EXPECT_EQ(github.rules[0].name, "video-deploy");
  EXPECT_EQ(github.rules[0].service, "video-service");
  EXPECT_EQ(github.rules[0].claims.size(), 4u);
}

TEST(ParsePolicy, ReadsConditionsSelectorsAndDefaults) {
  auto parsed = parse_policy(with_grant({
      "  - caller: {name: \"w*\", attributes: {team: \"med?a\"}, labels: [edge, edge]}",
      "    audience: {attributes: {environment: production}}",
      "    scopes: [write, read, write]",
      "    when:",
      "      source: [10.0.0.0/8, \"2001:db8::/32\"]",
      "      auth_methods: [private_key_jwt, client_secret_basic]",
      "      time: {days: [mon, wed-fri], hours: \"22:00-06:00\"}",
      "      not_before: 2026-11-23T08:00:00Z",
      "      not_after: 2026-11-24T08:00:00+01:00",
      "  - caller: web",
      "    audience: reports",
      "    scopes: [read]",
      "    when: {source: 192.0.2.1, time: {days: sat-sun, hours: \"00:00-24:00\"}}",
  }));
  ASSERT_TRUE(parsed) << format(parsed.error(), "policy");
  const GrantRule& g = parsed->grants[0];
  EXPECT_EQ(g.name, "grant-1");  // selectors are not exact names
  EXPECT_EQ(g.caller.name, "w*");
  EXPECT_EQ(g.caller.attributes.at("team"), "med?a");
  EXPECT_THAT(g.caller.labels, ElementsAre("edge"));
  EXPECT_FALSE(g.audience.name);
  EXPECT_THAT(g.scopes, ElementsAre("read", "write"));
  ASSERT_EQ(g.when.source.size(), 2u);
  EXPECT_EQ(g.when.source[0].text, "10.0.0.0/8");
  EXPECT_EQ(g.when.source[1].prefix_len, 32);
  EXPECT_THAT(g.when.auth_methods, ElementsAre("client_secret_basic", "private_key_jwt"));
  ASSERT_TRUE(g.when.time);
  EXPECT_EQ(g.when.time->days, 0b0011101);  // Monday, Wednesday to Friday
  EXPECT_EQ(g.when.time->from_minute, 22 * 60);
  EXPECT_EQ(g.when.time->to_minute, 6 * 60);
  EXPECT_EQ(g.when.not_before, from_rfc3339("2026-11-23T08:00:00Z"));
  EXPECT_EQ(g.when.not_after, from_rfc3339("2026-11-24T07:00:00Z"));

  const GrantRule& h = parsed->grants[1];
  EXPECT_EQ(h.name, "web->reports");
  ASSERT_EQ(h.when.source.size(), 1u);
  EXPECT_EQ(h.when.source[0].prefix_len, 32);
  EXPECT_EQ(h.when.time->days, 0b1100000);
  EXPECT_EQ(h.when.time->from_minute, 0);  // 00:00-24:00: all day
  EXPECT_EQ(h.when.time->to_minute, 0);
  EXPECT_FALSE(h.when.not_before);

  // Without a settings block: the default environment attribute, no default lifetime.
  EXPECT_EQ(parsed->settings.environment_attribute, "environment");
  EXPECT_FALSE(parsed->settings.default_lifetime);
  EXPECT_EQ(parsed->audiences[1].uri, "reports");
}

TEST(ParsePolicy, AcceptsAliasesAndAnchors) {
  auto parsed = parse_policy(lines({
      "version: 1",
      "services:",
      "  - name: a",
      "    attributes: &prod {environment: production}",
      "  - name: b",
      "    attributes: *prod",
      "audiences:",
      "  - {name: x, scopes: &scopes [s1, s2], attributes: *prod}",
      "grants:",
      "  - {caller: a, audience: x, scopes: *scopes, when: &office {source: 10.0.0.0/8}}",
      "  - {caller: b, audience: x, scopes: *scopes, when: *office}",
  }));
  ASSERT_TRUE(parsed) << format(parsed.error(), "policy");
  EXPECT_EQ(parsed->services[1].attributes.at("environment"), "production");
  EXPECT_THAT(parsed->grants[1].scopes, ElementsAre("s1", "s2"));
  EXPECT_EQ(parsed->grants[1].when.source.at(0).text, "10.0.0.0/8");
}

TEST(ParsePolicy, MakesUpGrantNamesThatDoNotCollide) {
  auto parsed = parse_policy(with_grant({
      "  - {caller: web, audience: api, scopes: [read]}",                       // 15
      "  - {caller: web, audience: api, scopes: [write]}",                      // 16
      "  - {name: grant-4, caller: batch, audience: reports, scopes: [read]}",  // 17
      "  - {caller: \"*\", audience: reports, scopes: [read]}",                 // 18
  }));
  ASSERT_TRUE(parsed) << format(parsed.error(), "policy");
  EXPECT_EQ(parsed->grants[0].name, "web->api");
  EXPECT_EQ(parsed->grants[1].name, "web->api#2");
  EXPECT_EQ(parsed->grants[2].name, "grant-4");
  EXPECT_EQ(parsed->grants[3].name, "grant-4#4");
}

TEST(ParsePolicy, EnvironmentSeparationCanBeTurnedOff) {
  const std::string yaml = lines({"version: 1", "settings: {environment_attribute: \"\"}"}) +
                           kBase.substr(kBase.find('\n') + 1) +
                           lines({"  - {caller: batch, audience: api, scopes: [read]}"});
  auto parsed = parse_policy(yaml);
  ASSERT_TRUE(parsed) << format(parsed.error(), "policy");
  EXPECT_EQ(parsed->settings.environment_attribute, "");
}

TEST(ParsePolicy, ReportsEveryProblemInLineOrder) {
  auto parsed = parse_policy(with_grant({
                                 "  - caller: nobody",         // 15: undefined service
                                 "    audience: api",          // 16
                                 "    scopes: [delete]",       // 17: not declared by api
                                 "    max_lifetime: forever",  // 18: bad duration
                             }) +
                             lines({"colour: blue"}));  // 19: unknown field
  ASSERT_FALSE(parsed);
  std::vector<int> found;
  for (const auto& d : parsed.error()) found.push_back(d.line);
  EXPECT_THAT(found, ElementsAre(15, 17, 18, 19)) << format(parsed.error(), "policy");
  EXPECT_EQ(format({parsed.error().front()}, "sigil.yaml"),
            "sigil.yaml:15: grant \"nobody->api\": caller \"nobody\" is not a declared service\n");
}

// One test per kind of problem, each asserting the line and what the message says.

TEST(PolicyErrors, YamlSyntax) {
  EXPECT_ERROR(lines({"version: 1", "services:", "  - name: a", "   - name: b"}), 4,
               "invalid YAML");
}

TEST(PolicyErrors, EmptyDocument) {
  EXPECT_ERROR("", 0, "empty");
  EXPECT_ERROR("# nothing\n", 0, "empty");
}

TEST(PolicyErrors, MoreThanOneDocument) {
  EXPECT_ERROR(lines({"version: 1", "---", "version: 1"}), 2, "more than one YAML document");
  EXPECT_ERROR(lines({"---", "version: 1", "---"}), 3, "more than one YAML document");
  EXPECT_ERROR(lines({"version: 1", "...", "# fine", "services: []"}), 4,
               "more than one YAML document");
  // Markers around one document are fine.
  EXPECT_TRUE(parse_policy(lines({"%YAML 1.2", "--- # the policy", "version: 1", "...", "# end"})));
}

TEST(PolicyErrors, StrayCharacterBeforeTheFirstValue) {
  // yaml-cpp 0.7 reads this as an empty document (and its LoadAll never returns).
  EXPECT_ERROR(lines({"# policy", ",", "version: 1"}), 2, "the file holds no value");
}

TEST(PolicyErrors, ControlCharacters) {
  constexpr char kText[] = "version: 1\nservices:\n  - name: a\0b\n";
  EXPECT_ERROR(std::string(kText, sizeof kText - 1), 3, "control character \"\\x00\"");
}

TEST(PolicyErrors, NotUtf8) {
  EXPECT_ERROR(lines({"version: 1", "services:", "  - {name: a, description: \"caf\xe9\"}"}), 3,
               "not valid UTF-8");
}

TEST(PolicyErrors, TooLarge) {
  std::string huge = "version: 1\n";
  huge.resize(kMaxPolicyBytes + 1, '#');
  EXPECT_ERROR(huge, 0, "larger than 64 MiB");
}

TEST(PolicyErrors, NestingTooDeep) {
  EXPECT_ERROR("version: 1\nservices: " + std::string(100'000, '['), 2, "nesting is too deep");
}

TEST(PolicyErrors, AliasesThatMultiplyTheWork) {
  // One service with 256 labels, repeated 20,000 times through an alias: each repetition
  // walks the labels again. Without a budget the 64 MiB limit would allow billions of steps.
  std::string yaml = "version: 1\nservices:\n  - &s {name: a, labels: [";
  for (int i = 0; i < 256; ++i) yaml += (i ? ",l" : "l") + std::to_string(i);
  yaml += "]}\n";
  for (int i = 0; i < 20'000; ++i) yaml += "  - *s\n";
  auto parsed = parse_policy(yaml);
  ASSERT_FALSE(parsed);
  EXPECT_EQ(parsed.error().front().line, 0);
  EXPECT_THAT(parsed.error().front().message, HasSubstr("too many values"));
}

TEST(PolicyErrors, NotAMapping) {
  EXPECT_ERROR(lines({"- version: 1"}), 1, "policy must be a mapping, not a list");
}

TEST(PolicyErrors, MissingVersion) {
  EXPECT_ERROR(lines({"# no version", "services: []"}), 2,
               "policy is missing the required field \"version\"");
}

TEST(PolicyErrors, UnsupportedVersion) {
  EXPECT_ERROR(lines({"version: 2"}), 1, "unsupported version \"2\"");
}

TEST(PolicyErrors, UnknownFieldWithSuggestion) {
  EXPECT_ERROR(with_grant({"  - caller: web", "    audience: api", "    scoeps: [read]",
                           "    scopes: [read]"}),
               17, "unknown field \"scoeps\" in grant (did you mean scopes?)");
}

TEST(PolicyErrors, UnknownFieldWithoutSuggestion) {
  const Diagnostic d = only_error(lines({"version: 1", "owner: platform-team"}));
  EXPECT_EQ(d.line, 2);
  EXPECT_EQ(d.message, "unknown field \"owner\" in policy");
}

TEST(PolicyErrors, DuplicateKey) {
  EXPECT_ERROR(with_grant({"  - caller: web", "    audience: api", "    scopes: [read]",
                           "    audience: reports"}),
               18, "duplicate field \"audience\" in grant (first at line 16)");
}

TEST(PolicyErrors, DuplicateAttribute) {
  EXPECT_ERROR(lines({"version: 1", "services:", "  - name: a", "    attributes:", "      team: x",
                      "      team: y"}),
               6, "duplicate key \"team\" in service field \"attributes\" (first at line 5)");
}

TEST(PolicyErrors, KeyThatIsNotAName) {
  EXPECT_ERROR(lines({"version: 1", "? [a, b]", ": 1"}), 2, "a key in policy must be a plain name");
}

TEST(PolicyErrors, ListWhereASingleValueBelongs) {
  EXPECT_ERROR(lines({"version: 1", "services:", "  - name: [a, b]"}), 3,
               "service field \"name\" must be a single value, not a list");
}

TEST(PolicyErrors, SingleValueWhereAListBelongs) {
  EXPECT_ERROR(with_grant({"  - caller: web", "    audience: api", "    scopes: read"}), 17,
               "grant field \"scopes\" must be a list, not a single value (write [value])");
}

TEST(PolicyErrors, ListItemThatIsNotAValue) {
  EXPECT_ERROR(with_grant({"  - caller: web", "    audience: api", "    scopes:", "      - read",
                           "      - {write: true}"}),
               19, "each item of grant field \"scopes\" must be a single value, not a mapping");
}

TEST(PolicyErrors, AttributeValueThatIsAList) {
  EXPECT_ERROR(
      lines({"version: 1", "services:", "  - name: a", "    attributes:", "      team: [x]"}), 5,
      "\"team\" in service field \"attributes\" must be a single value, not a list");
}

TEST(PolicyErrors, FieldWithoutValue) {
  EXPECT_ERROR(lines({"version: 1", "services:", "  - name: a", "    description:"}), 4,
               "service field \"description\" has no value");
}

TEST(PolicyErrors, SectionThatIsNotAList) {
  EXPECT_ERROR(lines({"version: 1", "services:", "  name: a"}), 2,
               "policy field \"services\" must be a list, not a mapping");
}

TEST(PolicyErrors, EntryThatIsNotAMapping) {
  EXPECT_ERROR(lines({"version: 1", "services:", "  - web"}), 3,
               "service must be a mapping, not a single value");
}

TEST(PolicyErrors, MissingServiceName) {
  EXPECT_ERROR(lines({"version: 1", "services:", "  - description: nameless"}), 3,
               "service is missing the required field \"name\"");
}

TEST(PolicyErrors, MissingAudienceScopes) {
  EXPECT_ERROR(lines({"version: 1", "audiences:", "  - name: api"}), 3,
               "audience is missing the required field \"scopes\"");
}

TEST(PolicyErrors, MissingGrantCaller) {
  EXPECT_ERROR(with_grant({"  - audience: api", "    scopes: [read]"}), 15,
               "grant is missing the required field \"caller\"");
}

TEST(PolicyErrors, MissingGrantAudience) {
  EXPECT_ERROR(with_grant({"  - caller: web", "    scopes: [read]"}), 15,
               "grant is missing the required field \"audience\"");
}

TEST(PolicyErrors, MissingGrantScopes) {
  EXPECT_ERROR(with_grant({"  - caller: web", "    audience: api"}), 15,
               "grant is missing the required field \"scopes\"");
}

TEST(PolicyErrors, EmptyGrantScopes) {
  EXPECT_ERROR(with_grant({"  - caller: web", "    audience: api", "    scopes: []"}), 17,
               "grant field \"scopes\" is empty");
}

TEST(PolicyErrors, EmptyAudienceScopes) {
  EXPECT_ERROR(lines({"version: 1", "audiences:", "  - name: api", "    scopes: []"}), 4,
               "audience field \"scopes\" is empty");
}

TEST(PolicyErrors, InvalidServiceName) {
  EXPECT_ERROR(lines({"version: 1", "services:", "  - name: Video_Service"}), 3,
               "service field \"name\": \"Video_Service\" is not a valid name: use 1 to 63 of "
               "[a-z0-9._-]");
}

TEST(PolicyErrors, InvalidAudienceName) {
  EXPECT_ERROR(lines({"version: 1", "audiences:", "  - name: https://api.example.com",
                      "    scopes: [read]"}),
               3, "audience field \"name\": \"https://api.example.com\" is not a valid name");
}

TEST(PolicyErrors, InvalidGrantName) {
  EXPECT_ERROR(with_grant({"  - name: \"video analytics\"", "    caller: web", "    audience: api",
                           "    scopes: [read]"}),
               15, "grant field \"name\": \"video analytics\" is not a valid name");
}

TEST(PolicyErrors, InvalidScopeToken) {
  EXPECT_ERROR(lines({"version: 1", "audiences:", "  - name: api", "    scopes:", "      - read",
                      "      - \"read write\""}),
               6, "\"read write\" is not a valid scope");
}

TEST(PolicyErrors, InvalidAudienceUri) {
  EXPECT_ERROR(lines({"version: 1", "audiences:", "  - name: api", "    scopes: [read]",
                      "    uri: \"https://api.example.com/a b\""}),
               5, "audience field \"uri\": \"https://api.example.com/a b\" is not a valid URI");
}

TEST(PolicyErrors, DuplicateServiceName) {
  EXPECT_ERROR(
      lines({"version: 1", "services:", "  - name: web", "  - name: api", "  - name: web"}), 5,
      "duplicate service \"web\" (first at line 3)");
}

TEST(PolicyErrors, DuplicateAudienceName) {
  EXPECT_ERROR(lines({"version: 1", "audiences:", "  - {name: api, scopes: [read]}",
                      "  - {name: api, scopes: [write]}"}),
               4, "duplicate audience \"api\" (first at line 3)");
}

TEST(PolicyErrors, DuplicateGrantName) {
  EXPECT_ERROR(with_grant({"  - {name: g, caller: web, audience: api, scopes: [read]}",
                           "  - {name: g, caller: web, audience: reports, scopes: [read]}"}),
               16, "duplicate grant name \"g\" (first at line 15)");
}

TEST(PolicyErrors, DuplicateAudienceUri) {
  EXPECT_ERROR(lines({"version: 1", "audiences:",
                      "  - {name: a, uri: \"https://api.example.com\", scopes: [read]}",
                      "  - name: b", "    scopes: [read]", "    uri: \"https://api.example.com\""}),
               6,
               "audience \"b\" has the same uri \"https://api.example.com\" as the audience at "
               "line 3");
}

TEST(PolicyErrors, UriThatIsAnotherAudiencesName) {
  // Either order: the audience that gives the URI is the one reported.
  EXPECT_ERROR(lines({"version: 1", "audiences:", "  - {name: a, scopes: [read]}",
                      "  - {name: b, scopes: [read], uri: a}"}),
               4, "audience \"b\" has the uri \"a\", which is the name of the audience at line 3");
  EXPECT_ERROR(lines({"version: 1", "audiences:", "  - {name: b, scopes: [read], uri: a}",
                      "  - {name: a, scopes: [read]}"}),
               3, "audience \"b\" has the uri \"a\", which is the name of the audience at line 4");
}

TEST(PolicyErrors, UndefinedService) {
  EXPECT_ERROR(with_grant({"  - caller: webb", "    audience: api", "    scopes: [read]"}), 15,
               "grant \"webb->api\": caller \"webb\" is not a declared service");
}

TEST(PolicyErrors, UndefinedAudience) {
  EXPECT_ERROR(
      with_grant({"  - name: g", "    caller: web", "    audience: billing", "    scopes: [read]"}),
      17, "grant \"g\": audience \"billing\" is not a declared audience");
}

TEST(PolicyErrors, CallerPatternMatchingNothing) {
  EXPECT_ERROR(with_grant({"  - caller: \"api-*\"", "    audience: api", "    scopes: [read]"}), 15,
               "grant \"grant-1\": caller selector matches no service");
}

TEST(PolicyErrors, CallerAttributesMatchingNothing) {
  EXPECT_ERROR(with_grant({"  - caller: {name: web, labels: [internal]}", "    audience: api",
                           "    scopes: [read]"}),
               15, "caller selector matches no service (\"web\" lacks the attributes or labels");
}

TEST(PolicyErrors, AudienceSelectorMatchingNothing) {
  EXPECT_ERROR(with_grant({"  - caller: web", "    audience: {attributes: {environment: dev}}",
                           "    scopes: [read]"}),
               16, "grant \"grant-1\": audience selector matches no audience");
}

TEST(PolicyErrors, ScopeNotDeclaredByTheAudience) {
  EXPECT_ERROR(with_grant({"  - caller: web", "    audience: reports",
                           "    scopes:", "      - read", "      - write"}),
               19,
               "grant \"web->reports\": scope \"write\" is not declared by audience \"reports\"");
}

TEST(PolicyErrors, ScopeNotDeclaredByEveryMatchedAudience) {
  // "*" reaches api (read, write) and reports (read only).
  EXPECT_ERROR(with_grant({"  - caller: web", "    audience: \"*\"", "    scopes: [read, write]"}),
               17, "scope \"write\" is not declared by audience \"reports\"");
}

TEST(PolicyErrors, GrantAcrossEnvironments) {
  EXPECT_ERROR(with_grant({"  - caller: batch", "    audience: api", "    scopes: [read]"}), 15,
               "grant \"batch->api\": caller \"batch\" (environment=\"staging\") and audience "
               "\"api\" (environment=\"production\") are in different environments");
}

TEST(PolicyErrors, BadDuration) {
  EXPECT_ERROR(with_grant({"  - caller: web", "    audience: api", "    scopes: [read]",
                           "    max_lifetime: 5 minutes"}),
               18, "grant field \"max_lifetime\": \"5 minutes\" is not a duration");
}

TEST(PolicyErrors, ZeroDuration) {
  EXPECT_ERROR(lines({"version: 1", "settings:", "  default_lifetime: 0s"}), 3,
               "settings field \"default_lifetime\": \"0s\" is not a duration");
}

TEST(PolicyErrors, LifetimeAboveADay) {
  EXPECT_ERROR(lines({"version: 1", "audiences:", "  - name: api", "    scopes: [read]",
                      "    max_lifetime: 2d"}),
               5, "audience field \"max_lifetime\" is 2d, above the limit of 1d");
}

TEST(PolicyErrors, NotAfterBeforeNotBefore) {
  EXPECT_ERROR(with_grant({"  - caller: web", "    audience: api", "    scopes: [read]",
                           "    when:", "      not_before: 2026-11-23T10:00:00Z",
                           "      not_after: 2026-11-23T10:00:00Z"}),
               20, "not_after (2026-11-23T10:00:00Z) must be later than not_before");
}

TEST(PolicyErrors, BadTime) {
  EXPECT_ERROR(with_grant({"  - caller: web", "    audience: api", "    scopes: [read]",
                           "    when: {not_after: 2026-11-31}"}),
               18, "when field \"not_after\": \"2026-11-31\" is not an RFC 3339 time");
}

TEST(PolicyErrors, BadCidr) {
  EXPECT_ERROR(
      with_grant({"  - caller: web", "    audience: api", "    scopes: [read]",
                  "    when:", "      source:", "        - 10.0.0.0/8", "        - 10.1.2.3/8"}),
      21, "\"10.1.2.3/8\" is not an address or CIDR range");
}

TEST(PolicyErrors, EmptySource) {
  EXPECT_ERROR(with_grant({"  - caller: web", "    audience: api", "    scopes: [read]",
                           "    when: {source: []}"}),
               18, "when field \"source\" is empty");
}

TEST(PolicyErrors, BadDays) {
  EXPECT_ERROR(with_grant({"  - caller: web", "    audience: api", "    scopes: [read]",
                           "    when:", "      time: {days: [mon, tues]}"}),
               19, "\"tues\" is not a day or a range of days");
}

TEST(PolicyErrors, BadHours) {
  EXPECT_ERROR(with_grant({"  - caller: web", "    audience: api", "    scopes: [read]",
                           "    when:", "      time:", "        hours: \"8:00-18:00\""}),
               20, "time field \"hours\": \"8:00-18:00\" is not a window such as 08:00-18:00");
}

TEST(PolicyErrors, EmptyTimeWindow) {
  EXPECT_ERROR(with_grant({"  - caller: web", "    audience: api", "    scopes: [read]",
                           "    when: {time: {}}"}),
               18, "time has neither days nor hours");
}

TEST(PolicyErrors, WhenWithoutCondition) {
  EXPECT_ERROR(
      with_grant({"  - caller: web", "    audience: api", "    scopes: [read]", "    when: {}"}),
      18, "when has no condition");
}

TEST(PolicyErrors, UnknownAuthMethod) {
  EXPECT_ERROR(lines({"version: 1", "services:", "  - name: web",
                      "    auth_methods: [client_secret_basic, mtls]"}),
               4, "unknown authentication method \"mtls\" (known: client_secret_basic, ");
}

TEST(PolicyErrors, BadSensitivity) {
  EXPECT_ERROR(lines({"version: 1", "audiences:", "  - name: api", "    scopes: [read]",
                      "    sensitivity: critical"}),
               5, "audience field \"sensitivity\": \"critical\" is not one of low, medium, high");
}

TEST(PolicyErrors, EmptySelector) {
  EXPECT_ERROR(with_grant({"  - caller: \"\"", "    audience: api", "    scopes: [read]"}), 15,
               "grant field \"caller\" selects nothing");
  EXPECT_ERROR(with_grant({"  - caller: web", "    audience: {}", "    scopes: [read]"}), 16,
               "grant field \"audience\" selects nothing");
}

TEST(PolicyErrors, LabelsInAnAudienceSelector) {
  EXPECT_ERROR(with_grant({"  - caller: web", "    audience:", "      name: api",
                           "      labels: [edge]", "    scopes: [read]"}),
               18, "an audience selector cannot ask for labels");
}

TEST(PolicyErrors, BadNamePattern) {
  EXPECT_ERROR(with_grant({"  - caller: \"Web*\"", "    audience: api", "    scopes: [read]"}), 15,
               "grant field \"caller\": \"Web*\" is not a valid service name pattern");
}

TEST(PolicyErrors, SelectorThatIsAList) {
  EXPECT_ERROR(with_grant({"  - caller: [web]", "    audience: api", "    scopes: [read]"}), 15,
               "grant field \"caller\" must be a service name, a pattern or a mapping, not a list");
}

TEST(PolicyErrors, BadAttributeName) {
  EXPECT_ERROR(lines({"version: 1", "services:", "  - name: web",
                      "    attributes:", "      \"cost center\": x"}),
               5, "attribute name \"cost center\" is not valid");
}

TEST(PolicyErrors, BadLabel) {
  EXPECT_ERROR(lines({"version: 1", "services:", "  - name: web", "    labels:", "      - ok",
                      "      - -bad"}),
               6, "label \"-bad\" is not valid");
}

TEST(PolicyErrors, DescriptionTooLong) {
  EXPECT_ERROR(lines({"version: 1", "services:", "  - name: web",
                      "    description: " + std::string(201, 'x')}),
               4, "service field \"description\" must be at most 200 bytes");
}

TEST(PolicyErrors, BadEnvironmentAttribute) {
  EXPECT_ERROR(lines({"version: 1", "settings:", "  environment_attribute: \"env name\""}), 3,
               "settings field \"environment_attribute\": \"env name\" is not an attribute name");
}

TEST(PolicyErrors, TooManyListItems) {
  std::string labels = "    labels: [";
  for (int i = 0; i < 257; ++i) labels += (i ? ",l" : "l") + std::to_string(i);
  labels += "]";
  EXPECT_ERROR(lines({"version: 1", "services:", "  - name: web", labels}), 4,
               "service field \"labels\" has more than 256 items");
}

TEST(PolicyErrors, MessagesQuoteHostileText) {
  const Diagnostic d = only_error(lines({"version: 1", "\"\\e[31mred\": 1"}));
  EXPECT_EQ(d.line, 2);
  EXPECT_EQ(d.message, "unknown field \"\\x1b[31mred\" in policy");
}

// Trusted issuers. Five lines: two services and the issuers key; issuers appended with
// with_issuer start at line 6.
const std::string kIssuerBase = lines({
    "version: 1",        // 1
    "services:",         // 2
    "  - name: web",     // 3
    "  - name: deploy",  // 4
    "issuers:",          // 5
});

std::string with_issuer(std::initializer_list<std::string_view> issuer) {
  return kIssuerBase + lines(issuer);
}

// A GitHub issuer with one rule, whose rule claims start at line 11.
std::string github_with_claims(std::initializer_list<std::string_view> claims) {
  return with_issuer({
             "  - name: github",                                         // 6
             "    issuer: https://token.actions.githubusercontent.com",  // 7
             "    audience: https://sigil.example.com",                  // 8
             "    rules:",                                               // 9
             "      - claims:",                                          // 10
         }) +
         lines(claims) + lines({"        service: deploy"});
}

TEST(ParseIssuers, ReadsGitHubGitLabAndKubernetesIssuers) {
  auto parsed = parse_policy(with_issuer({
      "  - name: github",                                         // 6
      "    issuer: https://token.actions.githubusercontent.com",  // 7
      "    audience: https://sigil.example.com",                  // 8
      "    rules:",                                               // 9
      "      - name: deploy-production",                          // 10
      "        claims:",                                          // 11
      "          repository: acme/video",                         // 12
      "          ref: refs/heads/main",                           // 13
      "          environment: production",                        // 14
      "          job_workflow_ref: \"acme/workflows/.github/workflows/*@refs/heads/main\"",
      "          event_name: [push, workflow_dispatch]",                // 16
      "        service: deploy",                                        // 17
      "      - claims: {repository: \"acme/*\", actor: alice}",         // 18
      "        user: true",                                             // 19
      "  - name: gitlab",                                               // 20
      "    issuer: https://gitlab.example.com",                         // 21
      "    audience: sigil",                                            // 22
      "    jwks_uri: https://gitlab.example.com/oauth/discovery/keys",  // 23
      "    algorithms: [RS256, RS256, ES384]",                          // 24
      "    rules:",                                                     // 25
      "      - claims:",                                                // 26
      "          project_path: acme/*",                                 // 27
      "          ref_protected: true",                                  // 28
      "          ref_type: \"True\"",                                   // 29
      "        service: web",                                           // 30
      "  - name: cluster",                                              // 31
      "    issuer: http://127.0.0.1:8443",                              // 32
      "    audience: https://sigil.example.com",                        // 33
      "    jwks: {\"keys\": [{\"kty\": \"EC\", \"crv\": \"P-256\", \"x\": \"f83O\", "
      "\"y\": \"x_FE\", \"kid\": \"k\\\"1\", \"key_ops\": [verify], \"ext\": true}]}",
      "    rules:",                                                  // 35
      "      - claims:",                                             // 36
      "          kubernetes.io/namespace: payments",                 // 37
      "          kubernetes.io/serviceaccount/name: [api, worker]",  // 38
      "        service: web",                                        // 39
      "    reuse: true",                                             // 40
  }));
  ASSERT_TRUE(parsed) << format(parsed.error(), "policy");
  ASSERT_EQ(parsed->issuers.size(), 3u);
  EXPECT_FALSE(parsed->issuers[0].reuse);
  EXPECT_TRUE(parsed->issuers[2].reuse);

  const TrustedIssuer& github = parsed->issuers[0];
  EXPECT_EQ(github.name, "github");
  EXPECT_EQ(github.issuer, "https://token.actions.githubusercontent.com");
  EXPECT_EQ(github.audience, "https://sigil.example.com");
  EXPECT_EQ(github.jwks, "");
  EXPECT_EQ(github.jwks_uri, "");                                 // discovered
  EXPECT_THAT(github.algorithms, ElementsAre("ES256", "RS256"));  // the default
  EXPECT_EQ(github.line, 6);
  ASSERT_EQ(github.rules.size(), 2u);
  const IssuerRule& deploy = github.rules[0];
  EXPECT_EQ(deploy.name, "deploy-production");
  EXPECT_EQ(deploy.line, 10);
  EXPECT_EQ(deploy.service, "deploy");
  EXPECT_FALSE(deploy.user);
  ASSERT_EQ(deploy.claims.size(), 5u);
  EXPECT_EQ(deploy.claims[0].claim, "repository");
  EXPECT_THAT(deploy.claims[0].patterns, ElementsAre("acme/video"));
  EXPECT_EQ(deploy.claims[3].claim, "job_workflow_ref");
  EXPECT_THAT(deploy.claims[3].patterns,
              ElementsAre("acme/workflows/.github/workflows/*@refs/heads/main"));
  EXPECT_EQ(deploy.claims[4].claim, "event_name");
  EXPECT_THAT(deploy.claims[4].patterns, ElementsAre("push", "workflow_dispatch"));
  const IssuerRule& person = github.rules[1];
  EXPECT_EQ(person.name, "github#2");  // made up from the issuer and the position
  EXPECT_TRUE(person.user);
  EXPECT_EQ(person.service, "");

  const TrustedIssuer& gitlab = parsed->issuers[1];
  EXPECT_EQ(gitlab.jwks_uri, "https://gitlab.example.com/oauth/discovery/keys");
  EXPECT_THAT(gitlab.algorithms, ElementsAre("ES384", "RS256"));
  ASSERT_EQ(gitlab.rules.size(), 1u);
  EXPECT_EQ(gitlab.rules[0].name, "gitlab#1");
  // A boolean claim is matched as its JSON text; a quoted "True" stays as written.
  EXPECT_THAT(gitlab.rules[0].claims[1].patterns, ElementsAre("true"));
  EXPECT_THAT(gitlab.rules[0].claims[2].patterns, ElementsAre("True"));

  const TrustedIssuer& cluster = parsed->issuers[2];
  EXPECT_EQ(cluster.issuer, "http://127.0.0.1:8443");  // http on loopback
  EXPECT_EQ(cluster.jwks,
            R"({"keys":[{"kty":"EC","crv":"P-256","x":"f83O","y":"x_FE","kid":"k\"1",)"
            R"("key_ops":["verify"],"ext":true}]})");
  ASSERT_EQ(cluster.rules[0].claims.size(), 2u);
  EXPECT_EQ(cluster.rules[0].claims[0].claim, "kubernetes.io/namespace");
  EXPECT_EQ(cluster.rules[0].claims[1].claim, "kubernetes.io/serviceaccount/name");
  EXPECT_THAT(cluster.rules[0].claims[1].patterns, ElementsAre("api", "worker"));
}

TEST(ParseIssuers, JwksAsYaml) {
  auto parsed = parse_policy(with_issuer({
      "  - name: k8s",                                    // 6
      "    issuer: https://kubernetes.default.svc",       // 7
      "    audience: sigil",                              // 8
      "    jwks:",                                        // 9
      "      keys:",                                      // 10
      "        - kty: RSA",                               // 11
      "          n: \"0vx7\"",                            // 12
      "          e: AQAB",                                // 13
      "          alg: RS256",                             // 14
      "        - {kty: OKP, crv: Ed25519, x: \"11qY\"}",  // 15
      "    rules:",                                       // 16
      "      - claims: {sub: \"system:serviceaccount:payments:api\"}",
      "        service: web",
  }));
  ASSERT_TRUE(parsed) << format(parsed.error(), "policy");
  EXPECT_EQ(parsed->issuers[0].jwks,
            R"({"keys":[{"kty":"RSA","n":"0vx7","e":"AQAB","alg":"RS256"},)"
            R"({"kty":"OKP","crv":"Ed25519","x":"11qY"}]})");
}

TEST(ParseIssuers, ServiceJwksUriAndImpersonation) {
  auto parsed = parse_policy(
      with_grant({
          "  - caller: web", "    audience: api", "    scopes: [read]", "    impersonation: true",
          "  - caller: web", "    audience: reports", "    scopes: [read]",
          "    when: {auth_methods: [federated]}",  // a condition may ask for it
      }) +
      lines({"issuers: []"}));
  ASSERT_TRUE(parsed) << format(parsed.error(), "policy");
  EXPECT_TRUE(parsed->grants[0].impersonation);
  EXPECT_FALSE(parsed->grants[1].impersonation);
  EXPECT_THAT(parsed->grants[1].when.auth_methods, ElementsAre("federated"));
  EXPECT_TRUE(parsed->issuers.empty());

  auto keys = parse_policy(
      lines({"version: 1", "services:", "  - name: web", "    auth_methods: [private_key_jwt]",
             "    jwks_uri: https://web.example.com/jwks.json"}));
  ASSERT_TRUE(keys) << format(keys.error(), "policy");
  EXPECT_EQ(keys->services[0].jwks_uri, "https://web.example.com/jwks.json");
  EXPECT_EQ(parse_policy(lines({"version: 1", "services: [{name: web}]"}))->services[0].jwks_uri,
            "");
}

TEST(IssuerErrors, RuleThatConstrainsOnlyTheIssuer) {
  // Every repository on GitHub would get in.
  EXPECT_ERROR(github_with_claims({"          repository: \"*\""}), 10,
               "issuer rule \"github#1\" must constrain more than the issuer");
  EXPECT_ERROR(github_with_claims({"          repository: [\"*\", acme/video]"}), 10,
               "must constrain more than the issuer");
  EXPECT_ERROR(github_with_claims({"          repository: \"?*\""}), 10,
               "must constrain more than the issuer");
  // Claims that every token of the issuer carries do not count.
  EXPECT_ERROR(github_with_claims({"          iss: https://token.actions.githubusercontent.com",
                                   "          aud: https://sigil.example.com"}),
               10, "must constrain more than the issuer");
  EXPECT_ERROR(
      with_issuer({"  - name: github", "    issuer: https://token.actions.githubusercontent.com",
                   "    audience: sigil", "    rules:", "      - service: deploy"}),
      10, "issuer rule \"github#1\" must constrain more than the issuer");
  // One constraining claim is enough, wildcards elsewhere included.
  EXPECT_TRUE(parse_policy(github_with_claims({"          repository: acme/*"})));
  EXPECT_TRUE(parse_policy(
      github_with_claims({"          repository: \"*\"", "          environment: production"})));
}

TEST(IssuerErrors, IssuerMustBeHttps) {
  const auto at = [](std::string_view url) {
    return with_issuer({"  - name: ci", "    issuer: \"" + std::string(url) + "\"",
                        "    audience: sigil",
                        "    rules:", "      - {claims: {sub: \"repo:acme/*\"}, service: web}"});
  };
  EXPECT_ERROR(at("http://token.example.com"), 7,
               "issuer field \"issuer\": \"http://token.example.com\" uses http, which is allowed "
               "only on loopback");
  EXPECT_ERROR(at("ftp://token.example.com"), 7, "is not an https URL");
  EXPECT_ERROR(at("token.example.com"), 7, "is not an https URL");
  EXPECT_ERROR(at("https://token.example.com/?tenant=a"), 7, "has a query");
  EXPECT_ERROR(at("https://token.example.com/#x"), 7, "has a fragment");
  EXPECT_ERROR(at("https://user@token.example.com"), 7, "carries a user name");
  EXPECT_ERROR(at("https://token.example.com:99999"), 7, "has a malformed port");
  EXPECT_ERROR(at("https://"), 7, "has no host");
  EXPECT_ERROR(at("https://[::1"), 7, "has no ] after its IPv6 address");
  EXPECT_ERROR(at("https://tok en.example.com"), 7, "is not a URL");
  for (std::string_view ok : {"https://token.example.com", "https://gitlab.example.com/",
                              "https://oidc.example.com:8443/tenants/a", "http://localhost:8080",
                              "http://[::1]:9000/issuer", "https://[2001:db8::1]"}) {
    auto parsed = parse_policy(at(ok));
    EXPECT_TRUE(parsed) << ok << ": " << format(parsed.error(), "policy");
  }
}

TEST(IssuerErrors, JwksUriMustBeHttps) {
  EXPECT_ERROR(with_issuer({"  - name: ci", "    issuer: https://ci.example.com",
                            "    audience: sigil", "    jwks_uri: http://ci.example.com/keys",
                            "    rules: [{claims: {sub: x}, service: web}]"}),
               9, "issuer field \"jwks_uri\": \"http://ci.example.com/keys\" uses http");
  EXPECT_ERROR(
      lines({"version: 1", "services:", "  - name: web", "    jwks_uri: http://web.internal/jwks"}),
      4, "service field \"jwks_uri\": \"http://web.internal/jwks\" uses http");
}

TEST(IssuerErrors, MissingFields) {
  EXPECT_ERROR(with_issuer({"  - name: ci", "    issuer: https://ci.example.com",
                            "    rules: [{claims: {sub: x}, service: web}]"}),
               6, "issuer is missing the required field \"audience\"");
  EXPECT_ERROR(with_issuer({"  - name: ci", "    audience: sigil",
                            "    rules: [{claims: {sub: x}, service: web}]"}),
               6, "issuer is missing the required field \"issuer\"");
  EXPECT_ERROR(with_issuer({"  - issuer: https://ci.example.com", "    audience: sigil",
                            "    rules: [{claims: {sub: x}, service: web}]"}),
               6, "issuer is missing the required field \"name\"");
  EXPECT_ERROR(
      with_issuer({"  - name: ci", "    issuer: https://ci.example.com", "    audience: sigil"}), 6,
      "issuer is missing the required field \"rules\"");
  EXPECT_ERROR(with_issuer({"  - name: ci", "    issuer: https://ci.example.com",
                            "    audience: sigil", "    rules: []"}),
               9, "issuer field \"rules\" is empty");
}

TEST(IssuerErrors, DuplicateNamesAndIssuers) {
  EXPECT_ERROR(with_issuer({"  - {name: ci, issuer: \"https://a.example.com\", audience: s,",
                            "     rules: [{claims: {sub: x}, service: web}]}",
                            "  - {name: ci, issuer: \"https://b.example.com\", audience: s,",
                            "     rules: [{claims: {sub: y}, service: web}]}"}),
               8, "duplicate issuer \"ci\" (first at line 6)");
  EXPECT_ERROR(
      with_issuer({"  - {name: a, issuer: \"https://ci.example.com\", audience: s,",
                   "     rules: [{claims: {sub: x}, service: web}]}", "  - name: b",
                   "    issuer: \"https://ci.example.com\"", "    audience: s",
                   "    rules: [{claims: {sub: y}, service: web}]"}),
      9, "issuer \"b\" has the same issuer \"https://ci.example.com\" as the issuer at line 6");
  EXPECT_ERROR(with_issuer({"  - {name: a, issuer: \"https://a.example.com\", audience: s,",
                            "     rules: [{name: r, claims: {sub: x}, service: web}]}",
                            "  - {name: b, issuer: \"https://b.example.com\", audience: s,",
                            "     rules: [{name: r, claims: {sub: y}, service: web}]}"}),
               9, "duplicate issuer rule name \"r\" (first at line 7)");
}

TEST(IssuerErrors, BothJwksAndJwksUri) {
  EXPECT_ERROR(with_issuer({"  - name: ci", "    issuer: https://ci.example.com",
                            "    audience: sigil", "    jwks_uri: https://ci.example.com/keys",
                            "    jwks: {keys: [{kty: EC, crv: P-256, x: a, y: b}]}",
                            "    rules: [{claims: {sub: x}, service: web}]"}),
               10, "issuer has both jwks and jwks_uri");
}

TEST(IssuerErrors, Jwks) {
  const auto with_jwks = [](std::initializer_list<std::string_view> jwks) {
    return with_issuer({"  - name: ci", "    issuer: https://ci.example.com", "    audience: sigil",
                        "    rules: [{claims: {sub: x}, service: web}]"}) +
           lines(jwks);  // from line 10
  };
  EXPECT_ERROR(with_jwks({"    jwks:", "      keys:", "        - kty: RSA", "          n: abc",
                          "          e: AQAB", "          d: secret"}),
               15, "a jwks key holds the private member \"d\"");
  EXPECT_ERROR(with_jwks({"    jwks: {keys: [{kty: oct, k: c2VjcmV0}]}"}), 10,
               "holds the private member \"k\"");
  EXPECT_ERROR(with_jwks({"    jwks:", "      keys:", "        - {crv: P-256, x: a, y: b}"}), 12,
               "a jwks key has no \"kty\"");
  EXPECT_ERROR(with_jwks({"    jwks: \"{\\\"keys\\\": []}\""}), 10,
               "issuer field \"jwks\" must be a key set {keys: [...]}, not a single value");
  EXPECT_ERROR(with_jwks({"    jwks: {keys: []}"}), 10, "jwks field \"keys\" is empty");
  EXPECT_ERROR(with_jwks({"    jwks: {kty: EC, keys: [{kty: EC}]}"}), 10,
               "unknown field \"kty\" in jwks");
  EXPECT_ERROR(with_jwks({"    jwks:", "      keys: [EC]"}), 11,
               "each key of jwks field \"keys\" must be a mapping (a JWK), not a single value");
  EXPECT_ERROR(
      with_jwks({"    jwks:", "      keys:", "        - kty: EC", "          x: {nested: 1}"}), 13,
      "member \"x\" of a jwks key must be a value or a list of values, not a mapping");
}

TEST(IssuerErrors, Algorithms) {
  const auto with_algorithms = [](std::string_view list) {
    return with_issuer({"  - name: ci", "    issuer: https://ci.example.com", "    audience: sigil",
                        "    rules: [{claims: {sub: x}, service: web}]",
                        "    algorithms: " + std::string(list)});
  };
  EXPECT_ERROR(with_algorithms("[RS256, none]"), 10,
               "algorithm \"none\" is never accepted for an external token");
  EXPECT_ERROR(with_algorithms("HS256"), 10,
               "algorithm \"HS256\" is never accepted for an external token");
  EXPECT_ERROR(with_algorithms("[rs256]"), 10,
               "unknown algorithm \"rs256\" (known: RS256, PS256, ES256, ES384, "
               "EdDSA; names are case-sensitive)");
  EXPECT_ERROR(with_algorithms("[]"), 10,
               "issuer field \"algorithms\" is empty: leave it out for the default (ES256, RS256)");
  auto parsed = parse_policy(with_algorithms("EdDSA"));
  ASSERT_TRUE(parsed) << format(parsed.error(), "policy");
  EXPECT_THAT(parsed->issuers[0].algorithms, ElementsAre("EdDSA"));
}

TEST(IssuerErrors, WhatARuleStandsFor) {
  const auto rule = [](std::string_view what) {
    return with_issuer({"  - name: ci", "    issuer: https://ci.example.com", "    audience: sigil",
                        "    rules:", "      - claims: {sub: x}", std::string(what)});
  };
  EXPECT_ERROR(rule("        service: nobody"), 11,
               "issuer rule \"ci#1\": service \"nobody\" is not a declared service");
  EXPECT_ERROR(rule("        user: true\n        service: web"), 10,
               "issuer rule \"ci#1\" has both service and user: true");
  EXPECT_ERROR(rule("        name: r"), 10,
               "issuer rule \"r\" says neither what a matching token stands for");
  EXPECT_ERROR(rule("        user: false"), 10,
               "issuer rule \"ci#1\" has user: false and no service");
  EXPECT_ERROR(rule("        user: maybe"), 11,
               "issuer rule field \"user\": \"maybe\" is not true or false");
  EXPECT_ERROR(rule("        service: Web"), 11,
               "issuer rule field \"service\": \"Web\" is not a valid name");
  EXPECT_ERROR(rule("        service: web\n        subject: x"), 12,
               "unknown field \"subject\" in issuer rule");
}

TEST(IssuerErrors, Claims) {
  EXPECT_ERROR(github_with_claims({"          kubernetes.io:", "            namespace: payments"}),
               11,
               "claim \"kubernetes.io\" must be a pattern or a list of patterns, not a mapping");
  EXPECT_ERROR(github_with_claims({"          repository: []"}), 11,
               "claim \"repository\" has an empty list of patterns");
  EXPECT_ERROR(github_with_claims({"          repository: \"\""}), 11,
               "claim \"repository\" has an empty pattern");
  EXPECT_ERROR(github_with_claims({"          repository:"}), 11,
               "claim \"repository\" has no pattern");
  EXPECT_ERROR(github_with_claims({"          kubernetes.io//namespace: payments"}), 11,
               "claim name \"kubernetes.io//namespace\" has an empty step");
  EXPECT_ERROR(github_with_claims({"          repository: acme/a", "          repository: acme/b"}),
               12, "duplicate claim \"repository\"");
  EXPECT_ERROR(github_with_claims(
                   {"          repository:", "            - acme/a", "            - [acme/b]"}),
               13, "each pattern of claim \"repository\" must be a single value, not a list");
  EXPECT_ERROR(
      with_issuer({"  - name: ci", "    issuer: https://ci.example.com", "    audience: sigil",
                   "    rules:", "      - {claims: [repository], service: web}"}),
      10, "issuer rule field \"claims\" must be a mapping of claim names to patterns");
}

TEST(IssuerErrors, FederatedIsNotAServiceAuthMethod) {
  EXPECT_ERROR(lines({"version: 1", "services:", "  - name: web",
                      "    auth_methods: [client_secret_basic, federated]"}),
               4, "\"federated\" is not a method a service authenticates with");
}

TEST(IssuerErrors, ImpersonationIsABoolean) {
  EXPECT_ERROR(with_grant({"  - caller: web", "    audience: api", "    scopes: [read]",
                           "    impersonation: yes"}),
               18, "grant field \"impersonation\": \"yes\" is not true or false");
}

TEST(IssuerErrors, UnknownIssuerField) {
  EXPECT_ERROR(
      with_issuer({"  - name: ci", "    issuer: https://ci.example.com", "    audience: sigil",
                   "    rules: [{claims: {sub: x}, service: web}]", "    audiences: [sigil]"}),
      10, "unknown field \"audiences\" in issuer (did you mean audience?)");
}

TEST(PolicyBasics, Durations) {
  EXPECT_EQ(parse_duration("90s"), Seconds{90});
  EXPECT_EQ(parse_duration("5m"), Seconds{300});
  EXPECT_EQ(parse_duration("1h"), Seconds{3600});
  EXPECT_EQ(parse_duration("2d"), Seconds{172800});
  EXPECT_EQ(parse_duration("300"), Seconds{300});
  for (std::string_view bad : {"", "s", "0", "0m", "-5m", "+5m", " 5m", "5m ", "5 m", "1h30m", "5w",
                               "1.5h", "99999999999999999999", "9223372036854775807d"}) {
    EXPECT_FALSE(parse_duration(bad)) << bad;
  }
  EXPECT_EQ(format_duration(Seconds{300}), "5m");
  EXPECT_EQ(format_duration(Seconds{90}), "90s");
  EXPECT_EQ(format_duration(Seconds{7200}), "2h");
  EXPECT_EQ(format_duration(Seconds{86400}), "1d");
  EXPECT_EQ(format_duration(Seconds{0}), "0s");
  for (std::int64_t s : {1, 59, 60, 61, 3599, 3600, 5400, 86399, 86400, 90000}) {
    EXPECT_EQ(parse_duration(format_duration(Seconds{s})), Seconds{s}) << s;
  }
}

TEST(PolicyBasics, Globs) {
  EXPECT_TRUE(glob_match("*", ""));
  EXPECT_TRUE(glob_match("*", "anything"));
  EXPECT_TRUE(glob_match("video-*", "video-service"));
  EXPECT_TRUE(glob_match("*-service", "video-service"));
  EXPECT_TRUE(glob_match("v?deo*e", "video-service"));
  EXPECT_TRUE(glob_match("a*b*c", "aXbYbZc"));
  EXPECT_TRUE(glob_match("exact", "exact"));
  EXPECT_FALSE(glob_match("exact", "exactly"));
  EXPECT_FALSE(glob_match("video-*", "audio-service"));
  EXPECT_FALSE(glob_match("?", ""));
  EXPECT_FALSE(glob_match("a*b", "aXbY"));
  EXPECT_FALSE(glob_match("", "a"));
  EXPECT_TRUE(glob_match("", ""));
}

TEST(PolicyBasics, HostileGlobIsFast) {
  // Backtracking into every star would take exponential time here.
  const std::string text(20'000, 'a');
  std::string pattern;
  for (int i = 0; i < 40; ++i) pattern += "a*";
  pattern += "b";
  const auto start = std::chrono::steady_clock::now();
  EXPECT_FALSE(glob_match(pattern, text));
  EXPECT_TRUE(glob_match(pattern.substr(0, pattern.size() - 1), text));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
}

Selector select(std::optional<std::string> name, std::map<std::string, std::string> attributes,
                std::vector<std::string> labels) {
  Selector s;
  s.name = std::move(name);
  s.attributes = std::move(attributes);
  s.labels = std::move(labels);
  return s;
}

TEST(PolicyBasics, Selectors) {
  Service web;
  web.name = "web";
  web.attributes = {{"team", "media"}, {"environment", "production"}};
  web.labels = {"edge", "public"};
  Audience api;
  api.name = "api";
  api.attributes = {{"environment", "production"}};
  EXPECT_TRUE(matches(select("web", {}, {}), web));
  EXPECT_TRUE(matches(select("w*", {}, {}), web));
  EXPECT_FALSE(matches(select("api", {}, {}), web));
  EXPECT_TRUE(matches(select({}, {{"team", "med*"}}, {}), web));
  EXPECT_FALSE(matches(select({}, {{"team", "data"}}, {}), web));
  EXPECT_FALSE(matches(select({}, {{"owner", "*"}}, {}), web));  // must exist
  EXPECT_TRUE(matches(select({}, {}, {"edge", "public"}), web));
  EXPECT_FALSE(matches(select({}, {}, {"edge", "internal"}), web));
  EXPECT_FALSE(matches(select("web", {{"team", "data"}}, {}), web));
  EXPECT_TRUE(matches(select("*", {{"environment", "production"}}, {}), api));
  EXPECT_FALSE(matches(select("*", {{"environment", "staging"}}, {}), api));
  EXPECT_FALSE(matches(select("api", {}, {"edge"}), api));

  EXPECT_TRUE(select("web", {}, {}).is_exact_name());
  EXPECT_FALSE(select("we?", {}, {}).is_exact_name());
  EXPECT_FALSE(select("web", {}, {"edge"}).is_exact_name());
  EXPECT_FALSE(select("web", {{"team", "media"}}, {}).is_exact_name());
  EXPECT_FALSE(select({}, {{"team", "media"}}, {}).is_exact_name());
}

TEST(PolicyBasics, LifetimeCaps) {
  Audience a;
  EXPECT_EQ(a.lifetime_cap(), std::nullopt);
  a.sensitivity = Sensitivity::kHigh;
  EXPECT_EQ(a.lifetime_cap(), kHighSensitivityLifetime);
  a.max_lifetime = Seconds{3600};
  EXPECT_EQ(a.lifetime_cap(), Seconds{3600});
  EXPECT_EQ(to_string(Sensitivity::kLow), "low");
  EXPECT_EQ(to_string(Sensitivity::kMedium), "medium");
  EXPECT_EQ(to_string(Sensitivity::kHigh), "high");
}

TEST(ParsePolicy, ReadsCertificateSettingsAndRequireMtls) {
  auto parsed = parse_policy(lines({
      "version: 1",
      "services:",
      "  - name: payments",
      "    auth_methods: [tls_client_auth]",
      "    certificate:",
      "      spiffe_path: /ns/prod/sa/payments",
      "      dns_names: [payments.internal, \"*.payments.svc\", payments.internal]",
      "      lifetime: 30m",
      "  - name: web",
      "audiences:",
      "  - name: ledger",
      "    scopes: [read]",
      "    require_mtls: true",
      "  - name: reports",
      "    scopes: [read]",
  }));
  ASSERT_TRUE(parsed) << format(parsed.error(), "policy");
  const CertificateSettings& payments = parsed->services[0].certificate;
  EXPECT_EQ(payments.spiffe_path, "/ns/prod/sa/payments");
  EXPECT_THAT(payments.dns_names, ElementsAre("*.payments.svc", "payments.internal"));
  EXPECT_EQ(payments.lifetime, Seconds{1800});
  // The defaults: the service's name as the path, no DNS names, one hour.
  const CertificateSettings& web = parsed->services[1].certificate;
  EXPECT_EQ(web.spiffe_path, "/web");
  EXPECT_TRUE(web.dns_names.empty());
  EXPECT_EQ(web.lifetime, Seconds{3600});
  EXPECT_TRUE(parsed->audiences[0].require_mtls);
  EXPECT_FALSE(parsed->audiences[1].require_mtls);
}

TEST(PolicyErrors, UnknownCertificateField) {
  EXPECT_ERROR(lines({"version: 1", "services:", "  - name: web",
                      "    certificate:", "      spiffe_paht: /web"}),
               5, "unknown field \"spiffe_paht\" in certificate (did you mean spiffe_path?)");
}

TEST(PolicyErrors, CertificateThatIsNotAMapping) {
  EXPECT_ERROR(lines({"version: 1", "services:", "  - name: web", "    certificate: /web"}), 4,
               "certificate");
}

TEST(PolicyErrors, BadSpiffePath) {
  for (std::string_view path :
       {"web", "/", "/a//b", "/a/../b", "/a/./b", "/a/b/", "/a b", "/a%2Fb", "/a?b", "/a#b"}) {
    SCOPED_TRACE(path);
    EXPECT_ERROR(lines({"version: 1", "services:", "  - name: web",
                        "    certificate:", "      spiffe_path: \"" + std::string(path) + "\""}),
                 5, "is not a SPIFFE ID path");
  }
}

TEST(PolicyErrors, BadCertificateDnsName) {
  for (std::string_view name : {"Payments.internal", "payments_internal", "-payments", "*.", "*",
                                "a.*.svc", "**.svc", "payments..internal", "*.*.svc"}) {
    SCOPED_TRACE(name);
    EXPECT_ERROR(lines({"version: 1", "services:", "  - name: web", "    certificate:",
                        "      dns_names:", "        - \"" + std::string(name) + "\""}),
                 6, "is not a DNS name");
  }
}

TEST(PolicyErrors, CertificateLifetimeAboveADay) {
  EXPECT_ERROR(
      lines({"version: 1", "services:", "  - name: web", "    certificate:", "      lifetime: 2d"}),
      5, "certificate field \"lifetime\" is 2d, above the limit of 1d");
  EXPECT_ERROR(
      lines({"version: 1", "services:", "  - name: web", "    certificate:", "      lifetime: 0s"}),
      5, "is not a duration");
}

TEST(PolicyErrors, TwoServicesWithOneSpiffePath) {
  EXPECT_ERROR(lines({"version: 1", "services:", "  - name: web",
                      "    certificate:", "      spiffe_path: /edge", "  - name: edge"}),
               6, "service \"edge\" has the spiffe_path \"/edge\" of service \"web\" (line 5)");
  EXPECT_ERROR(lines({"version: 1", "services:", "  - name: web",
                      "    certificate:", "      spiffe_path: /shared", "  - name: api",
                      "    certificate:", "      spiffe_path: /shared"}),
               8, "service \"api\" has the spiffe_path \"/shared\" of service \"web\" (line 5)");
}

TEST(PolicyErrors, RequireMtlsThatIsNotABoolean) {
  EXPECT_ERROR(lines({"version: 1", "audiences:", "  - name: api", "    scopes: [read]",
                      "    require_mtls: yes"}),
               5, "require_mtls");
}

TEST(PolicyBasics, DnsNames) {
  EXPECT_TRUE(is_valid_dns_name("payments.internal"));
  EXPECT_TRUE(is_valid_dns_name("a"));
  EXPECT_TRUE(is_valid_dns_name("x-1.example"));
  EXPECT_FALSE(is_valid_dns_name(""));
  EXPECT_FALSE(is_valid_dns_name("Upper.example"));
  EXPECT_FALSE(is_valid_dns_name("a..b"));
  EXPECT_FALSE(is_valid_dns_name("a.b."));
  EXPECT_FALSE(is_valid_dns_name("-a.b"));
  EXPECT_FALSE(is_valid_dns_name("a-.b"));
  EXPECT_FALSE(is_valid_dns_name("*.b"));
  EXPECT_FALSE(is_valid_dns_name(std::string(64, 'a')));
  EXPECT_TRUE(is_valid_dns_name(std::string(63, 'a')));
  std::string long_name;
  while (long_name.size() < 254) long_name += "abcdefg.";
  EXPECT_FALSE(is_valid_dns_name(long_name.substr(0, 254)));
}

TEST(PolicyBasics, FormatsDiagnostics) {
  EXPECT_EQ(format({{.line = 12, .message = "bad"}, {.line = 0, .message = "too large"}}, "p.yaml"),
            "p.yaml:12: bad\np.yaml: too large\n");
  EXPECT_EQ(format({}, "p.yaml"), "");
}

}  // namespace
}  // namespace sigil::policy
