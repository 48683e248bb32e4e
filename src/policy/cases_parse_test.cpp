#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <initializer_list>

#include "policy/cases.hpp"

namespace sigil::policy {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::string lines(std::initializer_list<std::string_view> text) {
  std::string out;
  for (std::string_view line : text) {
    out += line;
    out += '\n';
  }
  return out;
}

// One case whose lines start at line 2; `extra` is appended to it.
std::string one_case(std::initializer_list<std::string_view> extra) {
  std::string out = lines({
      "cases:",                     // 1
      "  - name: video writes",     // 2
      "    caller: video-service",  // 3
      "    audience: analytics",    // 4
      "    expect: allow",          // 5
  });
  return out + lines(extra);
}

Diagnostic only_error(std::string_view yaml) {
  auto parsed = parse_test_cases(yaml);
  if (parsed) {
    ADD_FAILURE() << "parsed without error:\n" << yaml;
    return {};
  }
  EXPECT_EQ(parsed.error().size(), 1u) << format(parsed.error(), "cases");
  return parsed.error().front();
}

#define EXPECT_ERROR(yaml, expected_line, fragment)        \
  do {                                                     \
    const Diagnostic d = only_error(yaml);                 \
    EXPECT_EQ(d.line, expected_line) << d.message;         \
    EXPECT_THAT(d.message, HasSubstr(fragment)) << d.line; \
  } while (false)

TEST(ParseTestCases, ReadsEveryField) {
  auto parsed = parse_test_cases(lines({
      "# expected decisions",
      "cases:",
      "  - name: video may write analytics",
      "    caller: video-service",
      "    audience: analytics-service",
      "    scopes: [analytics:write, analytics:read, analytics:write]",
      "    context:",
      "      source: 10.1.2.3",
      "      auth_method: private_key_jwt",
      "      time: \"2026-11-23T10:00:00Z\"",
      "    expect: allow",
      "    rule: video-analytics",
      "  - name: video may not read profiles from outside",
      "    caller: video-service",
      "    audience: https://users.example.com",
      "    context: {source: \"2001:db8::7\"}",
      "    expect: deny",
      "    reason: conditions_not_met",
  }));
  ASSERT_TRUE(parsed) << format(parsed.error(), "cases");
  ASSERT_EQ(parsed->size(), 2u);
  const TestCase& a = (*parsed)[0];
  EXPECT_EQ(a.name, "video may write analytics");
  EXPECT_EQ(a.caller, "video-service");
  EXPECT_EQ(a.audience, "analytics-service");
  EXPECT_THAT(a.scopes, ElementsAre("analytics:read", "analytics:write"));
  EXPECT_EQ(a.source_address, "10.1.2.3");
  EXPECT_EQ(a.auth_method, "private_key_jwt");
  EXPECT_EQ(a.time, from_rfc3339("2026-11-23T10:00:00Z"));
  EXPECT_TRUE(a.expect_allow);
  EXPECT_EQ(a.expect_rule, "video-analytics");
  EXPECT_FALSE(a.expect_reason);
  EXPECT_EQ(a.line, 3);

  const TestCase& b = (*parsed)[1];
  EXPECT_EQ(b.audience, "https://users.example.com");
  EXPECT_TRUE(b.scopes.empty());
  EXPECT_EQ(b.source_address, "2001:db8::7");
  EXPECT_EQ(b.auth_method, "client_secret_basic");  // the default
  EXPECT_FALSE(b.time);
  EXPECT_FALSE(b.expect_allow);
  EXPECT_FALSE(b.expect_rule);
  EXPECT_EQ(b.expect_reason, "conditions_not_met");
  EXPECT_EQ(b.line, 13);
}

TEST(ParseTestCases, AcceptsEveryDenyReason) {
  for (std::string_view reason :
       {"unknown_caller", "unknown_audience", "no_grant", "environment_mismatch",
        "conditions_not_met", "scope_not_granted"}) {
    std::string yaml = lines({"cases:", "  - {name: n, caller: a, audience: b, expect: deny,"}) +
                       "      reason: " + std::string(reason) + "}\n";
    auto parsed = parse_test_cases(yaml);
    ASSERT_TRUE(parsed) << reason << "\n" << format(parsed.error(), "cases");
    EXPECT_EQ(parsed->front().expect_reason, reason);
  }
}

TEST(CasesErrors, YamlSyntax) {
  EXPECT_ERROR(lines({"cases:", "  - name: a", "   - name: b"}), 3, "invalid YAML");
}

TEST(CasesErrors, EmptyFile) {
  EXPECT_ERROR("", 0, "empty");
}

TEST(CasesErrors, MissingCases) {
  auto parsed = parse_test_cases(lines({"# none", "tests: []"}));
  ASSERT_FALSE(parsed);
  EXPECT_EQ(parsed.error(),
            (std::vector<Diagnostic>{
                {.line = 2, .message = "unknown field \"tests\" in test file"},
                {.line = 2, .message = "test file is missing the required field \"cases\""}}));
}

TEST(CasesErrors, CasesNotAList) {
  EXPECT_ERROR(lines({"cases: {name: a}"}), 1, "test file field \"cases\" must be a list");
}

TEST(CasesErrors, NoCases) {
  EXPECT_ERROR(lines({"cases: []"}), 1, "test file field \"cases\" is empty");
}

TEST(CasesErrors, UnknownFieldWithSuggestion) {
  EXPECT_ERROR(one_case({"    expected: deny"}), 6,
               "unknown field \"expected\" in case (did you mean expect?)");
}

TEST(CasesErrors, DuplicateField) {
  EXPECT_ERROR(one_case({"    caller: other"}), 6,
               "duplicate field \"caller\" in case (first at line 3)");
}

TEST(CasesErrors, MissingRequiredField) {
  EXPECT_ERROR(lines({"cases:", "  - name: a", "    caller: b", "    audience: c"}), 2,
               "case is missing the required field \"expect\"");
  EXPECT_ERROR(lines({"cases:", "  - caller: b", "    audience: c", "    expect: deny"}), 2,
               "case is missing the required field \"name\"");
}

TEST(CasesErrors, DuplicateName) {
  EXPECT_ERROR(
      one_case({"  - name: video writes", "    caller: c", "    audience: d", "    expect: deny"}),
      6, "duplicate case name \"video writes\" (first at line 2)");
}

TEST(CasesErrors, BadExpect) {
  EXPECT_ERROR(lines({"cases:", "  - {name: a, caller: b, audience: c, expect: permit}"}), 2,
               "case field \"expect\": \"permit\" is not allow or deny");
}

TEST(CasesErrors, ReasonWithAllow) {
  EXPECT_ERROR(one_case({"    reason: no_grant"}), 6, "reason goes with expect: deny only");
}

TEST(CasesErrors, UnknownReason) {
  EXPECT_ERROR(lines({"cases:", "  - name: a", "    caller: b", "    audience: c",
                      "    expect: deny", "    reason: forbidden"}),
               6, "case field \"reason\": \"forbidden\" is not one of unknown_caller, ");
}

TEST(CasesErrors, BadScope) {
  EXPECT_ERROR(one_case({"    scopes:", "      - \"a\\\\b\""}), 7,
               "\"a\\\\b\" is not a valid scope");
}

TEST(CasesErrors, EmptyScopes) {
  EXPECT_ERROR(one_case({"    scopes: []"}), 6, "case field \"scopes\" is empty");
}

TEST(CasesErrors, BadCaller) {
  EXPECT_ERROR(lines({"cases:",
                      "  - {name: a, caller: \"video service\", audience: c, "
                      "expect: deny}"}),
               2, "case field \"caller\": \"video service\" must be 1 to 2048 printable ASCII");
}

TEST(CasesErrors, BadSourceAddress) {
  EXPECT_ERROR(one_case({"    context:", "      source: 10.0.0.0/8"}), 7,
               "context field \"source\": \"10.0.0.0/8\" is not an IPv4 or IPv6 address");
}

TEST(CasesErrors, UnknownAuthMethod) {
  EXPECT_ERROR(one_case({"    context: {auth_method: password}"}), 6,
               "context field \"auth_method\": unknown authentication method \"password\"");
}

TEST(CasesErrors, BadTime) {
  EXPECT_ERROR(one_case({"    context:", "      time: yesterday"}), 7,
               "context field \"time\": \"yesterday\" is not an RFC 3339 time");
}

TEST(CasesErrors, UnknownContextField) {
  EXPECT_ERROR(one_case({"    context:", "      sourse: 10.1.2.3"}), 7,
               "unknown field \"sourse\" in context (did you mean source?)");
}

TEST(CasesErrors, CaseThatIsNotAMapping) {
  EXPECT_ERROR(lines({"cases:", "  - video-service"}), 2, "case must be a mapping");
}

}  // namespace
}  // namespace sigil::policy
