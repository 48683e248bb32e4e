// parse_test_cases: the file of expected decisions read by `sigil policy test` (format in
// cases.hpp), as strictly as the policy file itself.
#include <algorithm>
#include <unordered_map>

#include "base/scope.hpp"
#include "policy/cases.hpp"
#include "policy/yaml_reader.hpp"

namespace sigil::policy {

namespace {

using yaml::Field;
using yaml::field_label;
using yaml::quote;

constexpr std::string_view kFileFields[] = {"cases"};
constexpr std::string_view kCaseFields[] = {"name",    "caller", "audience", "scopes",
                                            "context", "expect", "rule",     "reason"};
constexpr std::string_view kContextFields[] = {"source", "auth_method", "time"};

constexpr std::size_t kMaxCaseNameBytes = 200;
// Callers, audiences and rule names as a request or a decision carries them: printable
// ASCII without spaces (a caller or audience that is not declared is a fair thing to test).
constexpr std::size_t kMaxIdentifierBytes = 2048;

bool is_identifier(std::string_view text) {
  if (text.empty() || text.size() > kMaxIdentifierBytes) return false;
  return std::all_of(text.begin(), text.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u >= 0x21 && u <= 0x7E;
  });
}

constexpr DenyReason kDenyReasons[] = {
    DenyReason::kUnknownCaller,       DenyReason::kUnknownAudience,  DenyReason::kNoGrant,
    DenyReason::kEnvironmentMismatch, DenyReason::kConditionsNotMet, DenyReason::kScopeNotGranted,
};

std::string deny_reason_names() {
  std::string out;
  for (DenyReason r : kDenyReasons) {
    if (!out.empty()) out += ", ";
    out += to_string(r);
  }
  return out;
}

class CasesParser {
 public:
  explicit CasesParser(yaml::Reader& reader) : r_(reader) {}

  void document(const YAML::Node& root);
  std::vector<TestCase> take() { return std::move(cases_); }

 private:
  void test_case(const YAML::Node& node, int line);
  void context(const Field& field, TestCase& out);
  std::optional<std::string> identifier(const Field& field);

  yaml::Reader& r_;
  std::vector<TestCase> cases_;
  std::unordered_map<std::string, int> names_;  // name -> line of the first case
};

void CasesParser::document(const YAML::Node& root) {
  const int line = yaml::line_of(root, 1);
  auto fields = r_.fields(root, line, "test file", kFileFields);
  if (!fields) return;
  const Field* f = r_.required(*fields, "cases");
  if (f == nullptr) return;
  if (!f->value.IsSequence()) {
    r_.error(f->line,
             field_label(*f) + " must be a list, not " + std::string(yaml::describe(f->value)));
    return;
  }
  if (f->value.size() == 0) {
    r_.error(f->line, field_label(*f) + " is empty: write at least one case");
    return;
  }
  for (const auto& item : f->value) {
    if (!r_.spend()) return;
    test_case(item, yaml::line_of(item, f->line));
  }
}

void CasesParser::test_case(const YAML::Node& node, int line) {
  auto fields = r_.fields(node, line, "case", kCaseFields);
  if (!fields) return;
  TestCase c;
  c.line = line;
  if (const Field* f = r_.required(*fields, "name")) {
    if (auto text = r_.scalar(*f)) {
      if (text->empty() || !yaml::is_free_text(*text, kMaxCaseNameBytes)) {
        r_.error(f->line, field_label(*f) + " must be 1 to " + std::to_string(kMaxCaseNameBytes) +
                              " bytes on one line, without control characters");
      } else if (auto [it, inserted] = names_.emplace(*text, f->line); !inserted) {
        r_.error(f->line, "duplicate case name " + quote(*text) + " (first at line " +
                              std::to_string(it->second) + ")");
      } else {
        c.name = std::move(*text);
      }
    }
  }
  if (const Field* f = r_.required(*fields, "caller")) c.caller = identifier(*f).value_or("");
  if (const Field* f = r_.required(*fields, "audience")) c.audience = identifier(*f).value_or("");
  if (const Field* f = fields->find("scopes")) {
    if (auto items = r_.scalar_list(*f)) {
      if (items->empty()) {
        r_.error(f->line,
                 field_label(*f) + " is empty: leave it out to ask for whatever is granted");
      }
      for (auto& item : *items) {
        // RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
        if (is_valid_scope_token(item.value)) {
          c.scopes.push_back(std::move(item.value));
        } else {
          r_.error(item.line, quote(item.value) + " is not a valid scope (RFC 6749 section 3.3)");
        }
      }
      std::sort(c.scopes.begin(), c.scopes.end());
      c.scopes.erase(std::unique(c.scopes.begin(), c.scopes.end()), c.scopes.end());
    }
  }
  if (const Field* f = fields->find("context")) context(*f, c);
  const Field* expect = r_.required(*fields, "expect");
  if (expect != nullptr) {
    if (auto text = r_.scalar(*expect)) {
      if (*text == "allow" || *text == "deny") {
        c.expect_allow = *text == "allow";
      } else {
        r_.error(expect->line,
                 field_label(*expect) + ": " + quote(*text) + " is not allow or deny");
      }
    }
  }
  if (const Field* f = fields->find("rule")) c.expect_rule = identifier(*f);
  if (const Field* f = fields->find("reason")) {
    if (expect != nullptr && c.expect_allow) {
      r_.error(f->line, "reason goes with expect: deny only (an allowed request has none)");
    } else if (auto text = r_.scalar(*f)) {
      const bool known = std::any_of(std::begin(kDenyReasons), std::end(kDenyReasons),
                                     [&](DenyReason r) { return to_string(r) == *text; });
      if (known) {
        c.expect_reason = std::move(*text);
      } else {
        r_.error(f->line,
                 field_label(*f) + ": " + quote(*text) + " is not one of " + deny_reason_names());
      }
    }
  }
  cases_.push_back(std::move(c));
}

void CasesParser::context(const Field& field, TestCase& out) {
  auto fields = r_.fields(field.value, field.line, "context", kContextFields);
  if (!fields) return;
  if (const Field* f = fields->find("source")) {
    if (auto text = r_.scalar(*f)) {
      if (parse_ip_address(*text)) {
        out.source_address = std::move(*text);
      } else {
        r_.error(f->line,
                 field_label(*f) + ": " + quote(*text) + " is not an IPv4 or IPv6 address");
      }
    }
  }
  if (const Field* f = fields->find("auth_method")) {
    if (auto text = r_.scalar(*f)) {
      if (std::find(std::begin(kKnownAuthMethods), std::end(kKnownAuthMethods), *text) !=
          std::end(kKnownAuthMethods)) {
        out.auth_method = std::move(*text);
      } else {
        r_.error(f->line, field_label(*f) + ": unknown authentication method " + quote(*text));
      }
    }
  }
  if (const Field* f = fields->find("time")) {
    if (auto text = r_.scalar(*f)) {
      out.time = from_rfc3339(*text);
      if (!out.time) {
        r_.error(f->line, field_label(*f) + ": " + quote(*text) +
                              " is not an RFC 3339 time such as 2026-11-23T10:00:00Z");
      }
    }
  }
}

std::optional<std::string> CasesParser::identifier(const Field& field) {
  auto text = r_.scalar(field);
  if (!text) return std::nullopt;
  if (!is_identifier(*text)) {
    r_.error(field.line, field_label(field) + ": " + quote(*text) +
                             " must be 1 to 2048 printable ASCII characters without spaces");
    return std::nullopt;
  }
  return text;
}

}  // namespace

std::expected<std::vector<TestCase>, std::vector<Diagnostic>> parse_test_cases(
    std::string_view text) {
  yaml::Reader reader;
  auto root = reader.load(text);
  if (!root) return std::unexpected(reader.take_diagnostics());
  CasesParser parser(reader);
  parser.document(*root);
  if (!reader.ok()) return std::unexpected(reader.take_diagnostics());
  return parser.take();
}

}  // namespace sigil::policy
