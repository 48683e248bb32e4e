// Policy tests: a YAML file of expected decisions, checked offline against a policy
// (`sigil policy test`). Pure.
//
//   cases:
//     - name: video may write analytics
//       caller: video-service
//       audience: analytics-service
//       scopes: [analytics:write]           # optional; absent = whatever is granted
//       context:                            # optional
//         source: 10.1.2.3
//         auth_method: client_secret_basic  # default client_secret_basic
//         time: "2026-11-23T10:00:00Z"      # default: the time passed to run_cases
//       expect: allow                       # or deny
//       rule: video-analytics               # optional: the rule that must decide
//       reason: scope_not_granted           # optional, deny only: the DenyReason name
#pragma once

#include <expected>
#include <optional>
#include <string>
#include <vector>

#include "base/clock.hpp"
#include "policy/engine.hpp"
#include "policy/policy.hpp"

namespace sigil::policy {

struct TestCase {
  std::string name;
  std::string caller;
  std::string audience;
  std::vector<std::string> scopes;
  std::string source_address;
  std::string auth_method = "client_secret_basic";
  std::optional<TimePoint> time;
  bool expect_allow = false;
  std::optional<std::string> expect_rule;
  std::optional<std::string> expect_reason;
  int line = 0;
};

// Same strictness as parse_policy: unknown fields and bad values are diagnostics.
std::expected<std::vector<TestCase>, std::vector<Diagnostic>> parse_test_cases(
    std::string_view yaml);

struct CaseResult {
  const TestCase* test = nullptr;
  bool passed = false;
  Decision decision;
  std::string failure;  // what differed, when not passed
};

// Runs every case; `now` is the time of cases without one.
std::vector<CaseResult> run_cases(const CompiledPolicy& policy, const std::vector<TestCase>& cases,
                                  TimePoint now);

}  // namespace sigil::policy
