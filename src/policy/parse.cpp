// parse_policy: the schema of sigil.yaml (docs/policy.md), read strictly. Syntax and types
// are checked while the document is walked; names, references, scopes and environments
// once every service, audience and grant is known.
#include <algorithm>
#include <map>
#include <unordered_map>
#include <unordered_set>

#include "base/clock.hpp"
#include "base/names.hpp"
#include "base/scope.hpp"
#include "policy/policy.hpp"
#include "policy/yaml_reader.hpp"

namespace sigil::policy {

namespace {

using yaml::Field;
using yaml::field_label;
using yaml::Fields;
using yaml::quote;

constexpr std::string_view kTopFields[] = {"version", "settings", "services", "audiences",
                                           "grants"};
constexpr std::string_view kSettingsFields[] = {"environment_attribute", "default_lifetime"};
constexpr std::string_view kServiceFields[] = {"name", "description", "attributes", "labels",
                                               "auth_methods"};
constexpr std::string_view kAudienceFields[] = {"name",       "description", "uri",
                                                "scopes",     "sensitivity", "max_lifetime",
                                                "attributes", "auth_methods"};
constexpr std::string_view kGrantFields[] = {"name",   "description",  "caller", "audience",
                                             "scopes", "max_lifetime", "when"};
constexpr std::string_view kSelectorFields[] = {"name", "attributes", "labels"};
constexpr std::string_view kWhenFields[] = {"source", "auth_methods", "time", "not_before",
                                            "not_after"};
constexpr std::string_view kTimeFields[] = {"days", "hours"};
constexpr std::string_view kDays[] = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"};

// A description becomes the name of the service's client: the same bound.
constexpr std::size_t kMaxDescriptionBytes = 200;
constexpr std::size_t kMaxAttributeValueBytes = 1024;
// As an audience value of the token service: printable ASCII without spaces.
constexpr std::size_t kMaxUriBytes = 2048;
constexpr std::size_t kMaxPatternBytes = 255;
// How many audiences a "not declared by" message names before "and N more".
constexpr std::size_t kNamedInMessage = 3;

constexpr std::string_view kNameRule =
    "use 1 to 63 of [a-z0-9._-], starting with a letter or digit";

bool is_name_pattern_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-' ||
         c == '*' || c == '?';
}

bool has_wildcard(std::string_view pattern) {
  return pattern.find_first_of("*?") != std::string_view::npos;
}

bool is_valid_uri(std::string_view uri) {
  if (uri.empty() || uri.size() > kMaxUriBytes) return false;
  return std::all_of(uri.begin(), uri.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u >= 0x21 && u <= 0x7E;
  });
}

bool is_known_auth_method(std::string_view method) {
  return std::find(std::begin(kKnownAuthMethods), std::end(kKnownAuthMethods), method) !=
         std::end(kKnownAuthMethods);
}

std::string known_auth_methods() {
  std::string out;
  for (std::string_view m : kKnownAuthMethods) {
    if (!out.empty()) out += ", ";
    out += m;
  }
  return out;
}

void sort_unique(std::vector<std::string>& values) {
  std::sort(values.begin(), values.end());
  values.erase(std::unique(values.begin(), values.end()), values.end());
}

// Bit of one day (bit 0 Monday), or nullopt.
std::optional<int> day_index(std::string_view day) {
  const auto it = std::find(std::begin(kDays), std::end(kDays), day);
  if (it == std::end(kDays)) return std::nullopt;
  return static_cast<int>(it - std::begin(kDays));
}

// "mon", or a range "mon-fri" (which may wrap: "fri-mon" is Friday to Monday).
std::optional<std::uint8_t> parse_days(std::string_view text) {
  const auto dash = text.find('-');
  const auto first = day_index(text.substr(0, dash));
  const auto last = dash == std::string_view::npos ? first : day_index(text.substr(dash + 1));
  if (!first || !last) return std::nullopt;
  std::uint8_t bits = 0;
  for (int d = *first;; d = (d + 1) % 7) {
    bits |= static_cast<std::uint8_t>(1u << d);
    if (d == *last) break;
  }
  return bits;
}

// "HH:MM" as minutes after midnight; "24:00" (only as an end) is midnight.
std::optional<int> parse_clock(std::string_view text, bool end) {
  const auto digit = [](char c) { return c >= '0' && c <= '9'; };
  if (text.size() != 5 || text[2] != ':' || !digit(text[0]) || !digit(text[1]) || !digit(text[3]) ||
      !digit(text[4])) {
    return std::nullopt;
  }
  const int hours = (text[0] - '0') * 10 + (text[1] - '0');
  const int minutes = (text[3] - '0') * 10 + (text[4] - '0');
  if (end && hours == 24 && minutes == 0) return 0;
  if (hours > 23 || minutes > 59) return std::nullopt;
  return hours * 60 + minutes;
}

// What is known of where a grant's parts were written, for the checks made once the whole
// file is read.
struct GrantSource {
  int position = 0;  // 1-based, among the grants
  bool named = false;
  bool caller_ok = false;
  bool audience_ok = false;
  bool scopes_ok = false;
  int caller_line = 0;
  int audience_line = 0;
  std::map<std::string, int> scope_lines;  // first line of each scope
};

struct AudienceSource {
  int uri_line = 0;
  bool scopes_ok = false;
};

class PolicyParser {
 public:
  explicit PolicyParser(yaml::Reader& reader) : r_(reader) {}

  void document(const YAML::Node& root);
  Policy take() { return std::move(policy_); }

 private:
  void version(const Field& field);
  void settings(const Field& field);
  // Calls `entry` for each item of a list of mappings.
  template <typename F>
  void each_item(const Field& field, F entry);
  void service(const YAML::Node& node, int line);
  void audience(const YAML::Node& node, int line);
  void grant(const YAML::Node& node, int line, int position);
  std::optional<Selector> selector(const Field& field, bool caller);
  bool name_pattern(const Field& field, const std::string& pattern, bool caller);
  std::optional<Conditions> conditions(const Field& field);
  std::optional<TimeWindow> time_window(const Field& field);

  std::optional<std::string> name(const Field& field);
  std::optional<std::string> description(const Field& field);
  std::optional<std::map<std::string, std::string>> attributes(const Field& field);
  std::optional<std::vector<std::string>> labels(const Field& field);
  std::optional<std::vector<std::string>> auth_methods(const Field& field);
  std::optional<std::vector<std::string>> scopes(const Field& field,
                                                 std::map<std::string, int>* lines);
  std::optional<Seconds> lifetime(const Field& field);
  std::optional<TimePoint> time_point(const Field& field);

  void check_services();
  void check_audiences();
  void name_grants();
  void check_grants();
  std::string grant_label(std::size_t i) const { return "grant " + quote(policy_.grants[i].name); }

  yaml::Reader& r_;
  Policy policy_;
  std::vector<AudienceSource> audience_sources_;  // parallel to policy_.audiences
  std::vector<GrantSource> grant_sources_;        // parallel to policy_.grants
  // First declaration of each name.
  std::unordered_map<std::string, std::size_t> service_index_;
  std::unordered_map<std::string, std::size_t> audience_index_;
};

void PolicyParser::document(const YAML::Node& root) {
  const int line = yaml::line_of(root, 1);
  auto fields = r_.fields(root, line, "policy", kTopFields);
  if (!fields) return;
  if (const Field* f = r_.required(*fields, "version")) version(*f);
  if (const Field* f = fields->find("settings")) settings(*f);
  if (const Field* f = fields->find("services")) {
    each_item(*f, [&](const YAML::Node& n, int l) { service(n, l); });
  }
  if (const Field* f = fields->find("audiences")) {
    each_item(*f, [&](const YAML::Node& n, int l) { audience(n, l); });
  }
  if (const Field* f = fields->find("grants")) {
    int position = 0;
    each_item(*f, [&](const YAML::Node& n, int l) { grant(n, l, ++position); });
  }
  check_services();
  check_audiences();
  name_grants();
  check_grants();
}

void PolicyParser::version(const Field& field) {
  auto text = r_.scalar(field);
  if (!text) return;
  if (*text != "1") {
    r_.error(field.line, "unsupported version " + quote(*text) + ": the only version is 1");
  }
}

void PolicyParser::settings(const Field& field) {
  auto fields = r_.fields(field.value, field.line, "settings", kSettingsFields);
  if (!fields) return;
  if (const Field* f = fields->find("environment_attribute")) {
    if (auto text = r_.scalar(*f)) {
      if (!text->empty() && !yaml::is_valid_attribute_name(*text)) {
        r_.error(f->line, field_label(*f) + ": " + quote(*text) +
                              " is not an attribute name (or \"\" to turn the separation off)");
      } else {
        policy_.settings.environment_attribute = *text;
      }
    }
  }
  if (const Field* f = fields->find("default_lifetime")) {
    policy_.settings.default_lifetime = lifetime(*f);
  }
}

template <typename F>
void PolicyParser::each_item(const Field& field, F entry) {
  if (!field.value.IsSequence()) {
    r_.error(field.line, field_label(field) + " must be a list, not " +
                             std::string(yaml::describe(field.value)));
    return;
  }
  for (const auto& item : field.value) {
    if (!r_.spend()) return;
    entry(item, yaml::line_of(item, field.line));
  }
}

void PolicyParser::service(const YAML::Node& node, int line) {
  auto fields = r_.fields(node, line, "service", kServiceFields);
  if (!fields) return;
  Service s;
  s.line = line;
  const Field* name_field = r_.required(*fields, "name");
  auto service_name = name_field ? name(*name_field) : std::nullopt;
  if (const Field* f = fields->find("description")) {
    s.description = description(*f).value_or("");
  }
  if (const Field* f = fields->find("attributes")) {
    s.attributes = attributes(*f).value_or(std::map<std::string, std::string>{});
  }
  if (const Field* f = fields->find("labels")) {
    s.labels = labels(*f).value_or(std::vector<std::string>{});
  }
  if (const Field* f = fields->find("auth_methods")) {
    s.auth_methods = auth_methods(*f).value_or(std::vector<std::string>{});
  }
  if (!service_name) return;
  s.name = std::move(*service_name);
  policy_.services.push_back(std::move(s));
}

void PolicyParser::audience(const YAML::Node& node, int line) {
  auto fields = r_.fields(node, line, "audience", kAudienceFields);
  if (!fields) return;
  Audience a;
  AudienceSource source{.uri_line = line};
  a.line = line;
  const Field* name_field = r_.required(*fields, "name");
  auto audience_name = name_field ? name(*name_field) : std::nullopt;
  if (const Field* f = fields->find("description")) {
    a.description = description(*f).value_or("");
  }
  if (const Field* f = fields->find("uri")) {
    source.uri_line = f->line;
    if (auto uri = r_.scalar(*f)) {
      if (is_valid_uri(*uri)) {
        a.uri = std::move(*uri);
      } else {
        r_.error(f->line, field_label(*f) + ": " + quote(*uri) +
                              " is not a valid URI: use 1 to 2048 printable ASCII characters "
                              "without spaces");
      }
    }
  }
  if (const Field* f = r_.required(*fields, "scopes")) {
    if (auto list = scopes(*f, nullptr)) {
      a.scopes = std::move(*list);
      source.scopes_ok = true;
    }
  }
  if (const Field* f = fields->find("sensitivity")) {
    if (auto text = r_.scalar(*f)) {
      if (*text == "low") {
        a.sensitivity = Sensitivity::kLow;
      } else if (*text == "medium") {
        a.sensitivity = Sensitivity::kMedium;
      } else if (*text == "high") {
        a.sensitivity = Sensitivity::kHigh;
      } else {
        r_.error(f->line,
                 field_label(*f) + ": " + quote(*text) + " is not one of low, medium, high");
      }
    }
  }
  if (const Field* f = fields->find("max_lifetime")) a.max_lifetime = lifetime(*f);
  if (const Field* f = fields->find("attributes")) {
    a.attributes = attributes(*f).value_or(std::map<std::string, std::string>{});
  }
  if (const Field* f = fields->find("auth_methods")) {
    a.auth_methods = auth_methods(*f).value_or(std::vector<std::string>{});
  }
  if (!audience_name) return;
  a.name = std::move(*audience_name);
  if (a.uri.empty()) a.uri = a.name;
  policy_.audiences.push_back(std::move(a));
  audience_sources_.push_back(std::move(source));
}

void PolicyParser::grant(const YAML::Node& node, int line, int position) {
  auto fields = r_.fields(node, line, "grant", kGrantFields);
  if (!fields) return;
  GrantRule g;
  GrantSource source;
  source.position = position;
  g.line = line;
  if (const Field* f = fields->find("name")) {
    if (auto given = name(*f)) {
      g.name = std::move(*given);
      source.named = true;
    }
  }
  if (const Field* f = fields->find("description")) {
    g.description = description(*f).value_or("");
  }
  if (const Field* f = r_.required(*fields, "caller")) {
    source.caller_line = f->line;
    if (auto s = selector(*f, true)) {
      g.caller = std::move(*s);
      source.caller_ok = true;
    }
  }
  if (const Field* f = r_.required(*fields, "audience")) {
    source.audience_line = f->line;
    if (auto s = selector(*f, false)) {
      g.audience = std::move(*s);
      source.audience_ok = true;
    }
  }
  if (const Field* f = r_.required(*fields, "scopes")) {
    if (auto list = scopes(*f, &source.scope_lines)) {
      g.scopes = std::move(*list);
      source.scopes_ok = true;
    }
  }
  if (const Field* f = fields->find("max_lifetime")) g.max_lifetime = lifetime(*f);
  if (const Field* f = fields->find("when")) {
    if (auto when = conditions(*f)) g.when = std::move(*when);
  }
  policy_.grants.push_back(std::move(g));
  grant_sources_.push_back(std::move(source));
}

std::optional<Selector> PolicyParser::selector(const Field& field, bool caller) {
  const std::string_view what = caller ? "service" : "audience";
  const std::string empty_message =
      field_label(field) + " selects nothing: give a name, a pattern (\"*\" for every " +
      std::string(what) + ")" + (caller ? ", attributes or labels" : " or attributes");
  Selector out;
  if (field.value.IsScalar()) {
    const std::string& text = field.value.Scalar();
    if (text.empty()) {
      r_.error(field.line, empty_message);
      return std::nullopt;
    }
    if (!name_pattern(field, text, caller)) return std::nullopt;
    out.name = text;
    return out;
  }
  if (!field.value.IsMap()) {
    r_.error(field.line, field_label(field) + " must be a " + std::string(what) +
                             " name, a pattern or a mapping, not " +
                             std::string(yaml::describe(field.value)));
    return std::nullopt;
  }
  auto fields = r_.fields(field.value, field.line, caller ? "caller" : "audience", kSelectorFields);
  if (!fields) return std::nullopt;
  bool ok = true;
  if (const Field* f = fields->find("name")) {
    auto text = r_.scalar(*f);
    if (text && text->empty()) {
      r_.error(f->line, field_label(*f) + " is empty");
      ok = false;
    } else if (text && name_pattern(*f, *text, caller)) {
      out.name = std::move(*text);
    } else {
      ok = false;
    }
  }
  if (const Field* f = fields->find("attributes")) {
    if (auto a = attributes(*f)) {
      out.attributes = std::move(*a);
    } else {
      ok = false;
    }
  }
  if (const Field* f = fields->find("labels")) {
    if (!caller) {
      r_.error(f->line, "an audience selector cannot ask for labels: audiences have none");
      ok = false;
    } else if (auto l = labels(*f)) {
      out.labels = std::move(*l);
    } else {
      ok = false;
    }
  }
  if (!ok) return std::nullopt;
  if (!out.name && out.attributes.empty() && out.labels.empty()) {
    r_.error(field.line, empty_message);
    return std::nullopt;
  }
  return out;
}

bool PolicyParser::name_pattern(const Field& field, const std::string& pattern, bool caller) {
  const std::string_view what = caller ? "service" : "audience";
  if (!has_wildcard(pattern)) {
    if (is_valid_client_id(pattern)) return true;
    r_.error(field.line, field_label(field) + ": " + quote(pattern) + " is not a valid " +
                             std::string(what) + " name: " + std::string(kNameRule));
    return false;
  }
  if (pattern.size() <= kMaxPatternBytes &&
      std::all_of(pattern.begin(), pattern.end(), is_name_pattern_char)) {
    return true;
  }
  r_.error(field.line, field_label(field) + ": " + quote(pattern) + " is not a valid " +
                           std::string(what) + " name pattern: use [a-z0-9._-] with * and ?");
  return false;
}

std::optional<Conditions> PolicyParser::conditions(const Field& field) {
  auto fields = r_.fields(field.value, field.line, "when", kWhenFields);
  if (!fields) return std::nullopt;
  if (fields->list.empty()) {
    r_.error(field.line,
             "when has no condition: leave it out, or give source, auth_methods, "
             "time, not_before or not_after");
    return std::nullopt;
  }
  Conditions out;
  bool ok = true;
  if (const Field* f = fields->find("source")) {
    auto items = r_.scalar_list(*f, /*allow_single=*/true);
    if (items && items->empty()) {
      r_.error(f->line, field_label(*f) + " is empty");
      ok = false;
    } else if (items) {
      for (const auto& item : *items) {
        if (auto cidr = parse_cidr(item.value)) {
          out.source.push_back(std::move(*cidr));
        } else {
          r_.error(item.line, quote(item.value) +
                                  " is not an address or CIDR range such as 10.0.0.0/8 or "
                                  "2001:db8::/32 (with no bits set after the prefix)");
          ok = false;
        }
      }
    } else {
      ok = false;
    }
  }
  if (const Field* f = fields->find("auth_methods")) {
    if (auto methods = auth_methods(*f)) {
      out.auth_methods = std::move(*methods);
    } else {
      ok = false;
    }
  }
  if (const Field* f = fields->find("time")) {
    out.time = time_window(*f);
    ok = ok && out.time.has_value();
  }
  const Field* before = fields->find("not_before");
  const Field* after = fields->find("not_after");
  if (before) {
    out.not_before = time_point(*before);
    ok = ok && out.not_before.has_value();
  }
  if (after) {
    out.not_after = time_point(*after);
    ok = ok && out.not_after.has_value();
  }
  if (out.not_before && out.not_after && *out.not_after <= *out.not_before) {
    r_.error(after->line, "not_after (" + to_rfc3339(*out.not_after) +
                              ") must be later than not_before (" + to_rfc3339(*out.not_before) +
                              ")");
    ok = false;
  }
  if (!ok) return std::nullopt;
  return out;
}

std::optional<TimeWindow> PolicyParser::time_window(const Field& field) {
  auto fields = r_.fields(field.value, field.line, "time", kTimeFields);
  if (!fields) return std::nullopt;
  if (fields->list.empty()) {
    r_.error(field.line, "time has neither days nor hours");
    return std::nullopt;
  }
  TimeWindow out;
  bool ok = true;
  if (const Field* f = fields->find("days")) {
    const std::string bad_day =
        " is not a day or a range of days: use mon, tue, wed, thu, fri, "
        "sat, sun, or a range such as mon-fri";
    auto items = r_.scalar_list(*f, /*allow_single=*/true);
    if (items && items->empty()) {
      r_.error(f->line, field_label(*f) + " is empty");
      ok = false;
    } else if (items) {
      out.days = 0;
      for (const auto& item : *items) {
        if (auto bits = parse_days(item.value)) {
          out.days |= *bits;
        } else {
          r_.error(item.line, quote(item.value) + bad_day);
          ok = false;
        }
      }
    } else {
      ok = false;
    }
  }
  if (const Field* f = fields->find("hours")) {
    if (auto text = r_.scalar(*f)) {
      const auto dash = text->find('-');
      const auto from = dash == std::string::npos
                            ? std::nullopt
                            : parse_clock(std::string_view(*text).substr(0, dash), false);
      const auto to = dash == std::string::npos
                          ? std::nullopt
                          : parse_clock(std::string_view(*text).substr(dash + 1), true);
      if (from && to) {
        out.from_minute = *from;
        out.to_minute = *to;
      } else {
        r_.error(f->line, field_label(*f) + ": " + quote(*text) +
                              " is not a window such as 08:00-18:00 (UTC, 24-hour clock)");
        ok = false;
      }
    } else {
      ok = false;
    }
  }
  if (!ok) return std::nullopt;
  return out;
}

std::optional<std::string> PolicyParser::name(const Field& field) {
  auto text = r_.scalar(field);
  if (!text) return std::nullopt;
  if (!is_valid_client_id(*text)) {
    r_.error(field.line, field_label(field) + ": " + quote(*text) +
                             " is not a valid name: " + std::string(kNameRule));
    return std::nullopt;
  }
  return text;
}

std::optional<std::string> PolicyParser::description(const Field& field) {
  auto text = r_.scalar(field);
  if (!text) return std::nullopt;
  if (!yaml::is_free_text(*text, kMaxDescriptionBytes)) {
    r_.error(field.line, field_label(field) + " must be at most " +
                             std::to_string(kMaxDescriptionBytes) +
                             " bytes on one line, without control characters");
    return std::nullopt;
  }
  return text;
}

std::optional<std::map<std::string, std::string>> PolicyParser::attributes(const Field& field) {
  auto entries = r_.scalar_map(field);
  if (!entries) return std::nullopt;
  std::map<std::string, std::string> out;
  bool ok = true;
  for (auto& entry : *entries) {
    if (!yaml::is_valid_attribute_name(entry.key)) {
      r_.error(entry.line, "attribute name " + quote(entry.key) +
                               " is not valid: use 1 to 64 of [A-Za-z0-9._/-], starting with a "
                               "letter or digit");
      ok = false;
    } else if (!yaml::is_free_text(entry.value, kMaxAttributeValueBytes)) {
      r_.error(entry.line, "attribute " + quote(entry.key) + " must be at most " +
                               std::to_string(kMaxAttributeValueBytes) +
                               " bytes on one line, without control characters");
      ok = false;
    } else {
      out.emplace(std::move(entry.key), std::move(entry.value));
    }
  }
  if (!ok) return std::nullopt;
  return out;
}

std::optional<std::vector<std::string>> PolicyParser::labels(const Field& field) {
  auto items = r_.scalar_list(field);
  if (!items) return std::nullopt;
  std::vector<std::string> out;
  bool ok = true;
  for (auto& item : *items) {
    if (yaml::is_valid_attribute_name(item.value)) {
      out.push_back(std::move(item.value));
    } else {
      r_.error(item.line, "label " + quote(item.value) +
                              " is not valid: use 1 to 64 of [A-Za-z0-9._/-], starting with a "
                              "letter or digit");
      ok = false;
    }
  }
  if (!ok) return std::nullopt;
  sort_unique(out);
  return out;
}

std::optional<std::vector<std::string>> PolicyParser::auth_methods(const Field& field) {
  auto items = r_.scalar_list(field);
  if (!items) return std::nullopt;
  if (items->empty()) {
    r_.error(field.line, field_label(field) + " is empty: leave it out for the default");
    return std::nullopt;
  }
  std::vector<std::string> out;
  bool ok = true;
  for (auto& item : *items) {
    if (is_known_auth_method(item.value)) {
      out.push_back(std::move(item.value));
    } else {
      r_.error(item.line, "unknown authentication method " + quote(item.value) +
                              " (known: " + known_auth_methods() + ")");
      ok = false;
    }
  }
  if (!ok) return std::nullopt;
  sort_unique(out);
  return out;
}

std::optional<std::vector<std::string>> PolicyParser::scopes(const Field& field,
                                                             std::map<std::string, int>* lines) {
  auto items = r_.scalar_list(field);
  if (!items) return std::nullopt;
  if (items->empty()) {
    r_.error(field.line, field_label(field) + " is empty: name at least one scope");
    return std::nullopt;
  }
  std::vector<std::string> out;
  bool ok = true;
  for (auto& item : *items) {
    // RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
    if (!is_valid_scope_token(item.value)) {
      r_.error(item.line, quote(item.value) +
                              " is not a valid scope: use printable ASCII without spaces, "
                              "quotes or backslashes (RFC 6749 section 3.3)");
      ok = false;
      continue;
    }
    if (lines != nullptr) lines->emplace(item.value, item.line);
    out.push_back(std::move(item.value));
  }
  if (!ok) return std::nullopt;
  sort_unique(out);
  return out;
}

std::optional<Seconds> PolicyParser::lifetime(const Field& field) {
  auto text = r_.scalar(field);
  if (!text) return std::nullopt;
  auto d = parse_duration(*text);
  if (!d) {
    r_.error(field.line, field_label(field) + ": " + quote(*text) +
                             " is not a duration: use e.g. 90s, 5m, 1h, 1d or a number of "
                             "seconds");
    return std::nullopt;
  }
  if (*d > kMaxLifetime) {
    r_.error(field.line, field_label(field) + " is " + format_duration(*d) +
                             ", above the limit of " + format_duration(kMaxLifetime));
    return std::nullopt;
  }
  return d;
}

std::optional<TimePoint> PolicyParser::time_point(const Field& field) {
  auto text = r_.scalar(field);
  if (!text) return std::nullopt;
  auto t = from_rfc3339(*text);
  if (!t) {
    r_.error(field.line, field_label(field) + ": " + quote(*text) +
                             " is not an RFC 3339 time such as 2026-11-23T10:00:00Z");
  }
  return t;
}

void PolicyParser::check_services() {
  for (std::size_t i = 0; i < policy_.services.size(); ++i) {
    const Service& s = policy_.services[i];
    auto [it, inserted] = service_index_.emplace(s.name, i);
    if (!inserted) {
      r_.error(s.line, "duplicate service " + quote(s.name) + " (first at line " +
                           std::to_string(policy_.services[it->second].line) + ")");
    }
  }
}

void PolicyParser::check_audiences() {
  const auto& audiences = policy_.audiences;
  for (std::size_t i = 0; i < audiences.size(); ++i) {
    auto [it, inserted] = audience_index_.emplace(audiences[i].name, i);
    if (!inserted) {
      r_.error(audiences[i].line, "duplicate audience " + quote(audiences[i].name) +
                                      " (first at line " +
                                      std::to_string(audiences[it->second].line) + ")");
    }
  }
  // A URI names an audience as surely as its name does (find_audience takes either), so
  // no URI may be another audience's name or URI.
  std::vector<bool> reported(audiences.size(), false);
  for (std::size_t i = 0; i < audiences.size(); ++i) {
    const Audience& a = audiences[i];
    if (a.uri == a.name) continue;
    const auto it = audience_index_.find(a.uri);
    if (it == audience_index_.end()) continue;
    r_.error(audience_sources_[i].uri_line, "audience " + quote(a.name) + " has the uri " +
                                                quote(a.uri) +
                                                ", which is the name of the audience at line " +
                                                std::to_string(audiences[it->second].line));
    reported[i] = true;
  }
  std::unordered_map<std::string_view, std::size_t> by_uri;
  for (std::size_t i = 0; i < audiences.size(); ++i) {
    const Audience& a = audiences[i];
    auto [it, inserted] = by_uri.emplace(a.uri, i);
    if (inserted || reported[i] || reported[it->second]) continue;
    if (audiences[it->second].name == a.name) continue;  // a duplicate name, reported above
    r_.error(audience_sources_[i].uri_line, "audience " + quote(a.name) + " has the same uri " +
                                                quote(a.uri) + " as the audience at line " +
                                                std::to_string(audiences[it->second].line));
  }
}

void PolicyParser::name_grants() {
  std::unordered_map<std::string, int> given;
  for (std::size_t i = 0; i < policy_.grants.size(); ++i) {
    if (!grant_sources_[i].named) continue;
    const GrantRule& g = policy_.grants[i];
    auto [it, inserted] = given.emplace(g.name, g.line);
    if (!inserted) {
      r_.error(g.line, "duplicate grant name " + quote(g.name) + " (first at line " +
                           std::to_string(it->second) + ")");
    }
  }
  std::unordered_set<std::string> used;
  for (const auto& entry : given) used.insert(entry.first);
  for (std::size_t i = 0; i < policy_.grants.size(); ++i) {
    const GrantSource& source = grant_sources_[i];
    if (source.named) continue;
    GrantRule& g = policy_.grants[i];
    std::string made = source.caller_ok && source.audience_ok && g.caller.is_exact_name() &&
                               g.audience.is_exact_name()
                           ? *g.caller.name + "->" + *g.audience.name
                           : std::string("grant-").append(std::to_string(source.position));
    while (used.contains(made)) made.append("#").append(std::to_string(source.position));
    used.insert(made);
    g.name = std::move(made);
  }
}

void PolicyParser::check_grants() {
  const std::string& environment = policy_.settings.environment_attribute;
  for (std::size_t i = 0; i < policy_.grants.size(); ++i) {
    if (!r_.spend()) return;
    const GrantRule& g = policy_.grants[i];
    const GrantSource& source = grant_sources_[i];

    const Service* exact_caller = nullptr;
    if (source.caller_ok) {
      const Selector& s = g.caller;
      if (s.name && !has_wildcard(*s.name)) {
        const auto it = service_index_.find(*s.name);
        if (it == service_index_.end()) {
          r_.error(source.caller_line,
                   grant_label(i) + ": caller " + quote(*s.name) + " is not a declared service");
        } else if (!matches(s, policy_.services[it->second])) {
          r_.error(source.caller_line, grant_label(i) + ": caller selector matches no service (" +
                                           quote(*s.name) +
                                           " lacks the attributes or labels it asks for)");
        } else {
          exact_caller = &policy_.services[it->second];
        }
      } else if (std::none_of(policy_.services.begin(), policy_.services.end(),
                              [&](const Service& svc) { return matches(s, svc); })) {
        r_.error(source.caller_line, grant_label(i) + ": caller selector matches no service");
      }
    }

    if (!source.audience_ok) continue;
    const Selector& s = g.audience;
    std::vector<std::size_t> targets;  // indices of the audiences the selector matches
    if (s.name && !has_wildcard(*s.name)) {
      const auto it = audience_index_.find(*s.name);
      if (it == audience_index_.end()) {
        r_.error(source.audience_line,
                 grant_label(i) + ": audience " + quote(*s.name) + " is not a declared audience");
        continue;
      }
      if (!matches(s, policy_.audiences[it->second])) {
        r_.error(source.audience_line, grant_label(i) +
                                           ": audience selector matches no audience (" +
                                           quote(*s.name) + " lacks the attributes it asks for)");
        continue;
      }
      targets.push_back(it->second);
    } else {
      for (std::size_t a = 0; a < policy_.audiences.size(); ++a) {
        if (matches(s, policy_.audiences[a])) targets.push_back(a);
      }
      if (targets.empty()) {
        r_.error(source.audience_line, grant_label(i) + ": audience selector matches no audience");
        continue;
      }
    }

    if (source.scopes_ok) {
      // Every audience the grant reaches must know every scope it gives: a scope no
      // audience declares is a typo that would otherwise be granted silently.
      for (const std::string& scope : g.scopes) {
        std::vector<std::string_view> lacking;
        for (std::size_t a : targets) {
          const Audience& audience = policy_.audiences[a];
          if (!audience_sources_[a].scopes_ok) continue;
          if (!std::binary_search(audience.scopes.begin(), audience.scopes.end(), scope)) {
            lacking.push_back(audience.name);
          }
        }
        if (lacking.empty()) continue;
        std::string message = grant_label(i) + ": scope " + quote(scope) +
                              " is not declared by audience" + (lacking.size() > 1 ? "s " : " ");
        for (std::size_t k = 0; k < lacking.size() && k < kNamedInMessage; ++k) {
          if (k > 0) message += ", ";
          message += quote(lacking[k]);
        }
        if (lacking.size() > kNamedInMessage) {
          message += " and " + std::to_string(lacking.size() - kNamedInMessage) + " more";
        }
        const auto line = source.scope_lines.find(scope);
        r_.error(line != source.scope_lines.end() ? line->second : g.line, std::move(message));
      }
    }

    if (!environment.empty() && exact_caller != nullptr && s.name && !has_wildcard(*s.name)) {
      const Audience& audience = policy_.audiences[targets.front()];
      const auto from = exact_caller->attributes.find(environment);
      const auto to = audience.attributes.find(environment);
      if (from != exact_caller->attributes.end() && to != audience.attributes.end() &&
          from->second != to->second) {
        r_.error(g.line, grant_label(i) + ": caller " + quote(exact_caller->name) + " (" +
                             environment + "=" + quote(from->second) + ") and audience " +
                             quote(audience.name) + " (" + environment + "=" + quote(to->second) +
                             ") are in different environments");
      }
    }
  }
}

}  // namespace

std::expected<Policy, std::vector<Diagnostic>> parse_policy(std::string_view text) {
  yaml::Reader reader;
  auto root = reader.load(text);
  if (!root) return std::unexpected(reader.take_diagnostics());
  PolicyParser parser(reader);
  parser.document(*root);
  if (!reader.ok()) return std::unexpected(reader.take_diagnostics());
  return parser.take();
}

}  // namespace sigil::policy
