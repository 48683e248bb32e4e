#include "policy/cases.hpp"

#include <algorithm>
#include <array>
#include <string_view>

#include "policy/describe.hpp"

namespace sigil::policy {

namespace {

constexpr std::array kDenyReasons = {
    DenyReason::kUnknownCaller,       DenyReason::kUnknownAudience,  DenyReason::kNoGrant,
    DenyReason::kEnvironmentMismatch, DenyReason::kConditionsNotMet, DenyReason::kScopeNotGranted,
};

bool is_deny_reason(std::string_view name) {
  return std::any_of(kDenyReasons.begin(), kDenyReasons.end(),
                     [name](DenyReason reason) { return to_string(reason) == name; });
}

std::string rules_text(const std::vector<std::string>& rules) {
  return rules.empty() ? std::string("no rule") : "rules " + detail::join(rules, ", ");
}

// What differs between the case's expectations and the decision; empty when it passed.
std::vector<std::string> failures_of(const TestCase& test, const Decision& decision) {
  std::vector<std::string> failures;
  if (test.expect_allow && !decision.allowed) {
    failures.push_back("expected allow, got deny (" + std::string(to_string(decision.reason)) +
                       ": " + decision.detail + ')');
  } else if (!test.expect_allow && decision.allowed) {
    failures.push_back("expected deny, got allow by " + rules_text(decision.rules));
  }
  if (test.expect_rule && std::find(decision.rules.begin(), decision.rules.end(),
                                    *test.expect_rule) == decision.rules.end()) {
    failures.push_back("expected rule " + *test.expect_rule + ", decided by " +
                       rules_text(decision.rules));
  }
  if (test.expect_reason) {
    if (test.expect_allow) {
      failures.push_back("reason \"" + *test.expect_reason + "\" is only for deny cases");
    } else if (!is_deny_reason(*test.expect_reason)) {
      failures.push_back("unknown reason \"" + *test.expect_reason + '"');
    } else if (!decision.allowed && to_string(decision.reason) != *test.expect_reason) {
      failures.push_back("expected reason " + *test.expect_reason + ", got " +
                         std::string(to_string(decision.reason)) + " (" + decision.detail + ')');
    }
  }
  return failures;
}

}  // namespace

std::vector<CaseResult> run_cases(const CompiledPolicy& policy, const std::vector<TestCase>& cases,
                                  TimePoint now) {
  std::vector<CaseResult> results;
  results.reserve(cases.size());
  for (const TestCase& test : cases) {
    CaseResult result;
    result.test = &test;
    result.decision = policy.decide({
        .caller = test.caller,
        .audience = test.audience,
        .scopes = test.scopes,
        .context = {.now = test.time.value_or(now),
                    .source_address = test.source_address,
                    .auth_method = test.auth_method},
        // Offline and for people: a failing case shows every grant considered.
        .trace = true,
    });
    const auto failures = failures_of(test, result.decision);
    result.passed = failures.empty();
    result.failure = detail::join(failures, "; ");
    results.push_back(std::move(result));
  }
  return results;
}

}  // namespace sigil::policy
