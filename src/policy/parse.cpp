// parse_policy: the schema of sigil.yaml (docs/policy.md), read strictly. Syntax and types
// are checked while the document is walked; names, references, scopes and environments
// once every service, audience and grant is known.
#include <algorithm>
#include <cctype>
#include <charconv>
#include <map>
#include <unordered_map>
#include <unordered_set>

#include "base/clock.hpp"
#include "base/names.hpp"
#include "base/scope.hpp"
#include "pki/spiffe.hpp"
#include "policy/policy.hpp"
#include "policy/yaml_reader.hpp"

namespace sigil::policy {

namespace {

using yaml::Field;
using yaml::field_label;
using yaml::Fields;
using yaml::quote;

constexpr std::string_view kTopFields[] = {"version",   "settings", "services",
                                           "audiences", "grants",   "issuers"};
constexpr std::string_view kSettingsFields[] = {"environment_attribute", "default_lifetime"};
constexpr std::string_view kServiceFields[] = {
    "name", "description", "attributes", "labels", "auth_methods", "jwks_uri", "certificate"};
constexpr std::string_view kCertificateFields[] = {"spiffe_path", "dns_names", "lifetime"};
constexpr std::string_view kAudienceFields[] = {"name",       "description",  "uri",
                                                "scopes",     "sensitivity",  "max_lifetime",
                                                "attributes", "auth_methods", "require_mtls"};
constexpr std::string_view kGrantFields[] = {"name",   "description",  "caller", "audience",
                                             "scopes", "max_lifetime", "when",   "impersonation"};
constexpr std::string_view kSelectorFields[] = {"name", "attributes", "labels"};
constexpr std::string_view kWhenFields[] = {"source", "auth_methods", "time", "not_before",
                                            "not_after"};
constexpr std::string_view kTimeFields[] = {"days", "hours"};
constexpr std::string_view kIssuerFields[] = {"name",     "issuer",     "audience", "jwks",
                                              "jwks_uri", "algorithms", "rules",    "reuse"};
constexpr std::string_view kIssuerRuleFields[] = {"name", "claims", "service", "user"};
constexpr std::string_view kJwksFields[] = {"keys"};
// JWK members that hold a private or symmetric key (RFC 7518 §6.2.2, §6.3.2, §6.4): an
// issuer's published set never has them, and a policy file is no place for a secret.
constexpr std::string_view kPrivateJwkMembers[] = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"};
constexpr std::string_view kDays[] = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"};

// A description becomes the name of the service's client: the same bound.
constexpr std::size_t kMaxDescriptionBytes = 200;
constexpr std::size_t kMaxAttributeValueBytes = 1024;
// As an audience value of the token service: printable ASCII without spaces.
constexpr std::size_t kMaxUriBytes = 2048;
constexpr std::size_t kMaxPatternBytes = 255;
// Claim names and the values matched against them (a GitHub job_workflow_ref is long).
constexpr std::size_t kMaxClaimNameBytes = 255;
constexpr std::size_t kMaxClaimPatternBytes = 1024;
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

// Why `url` is not an https URL (http only on loopback), or "" when it is one. An
// issuer identifier has no query either (RFC 8414 §2: "a URL that uses the "https" scheme
// and has no query or fragment components"); no URL here has a fragment or a user name.
std::string url_problem(std::string_view url, bool identifier) {
  constexpr auto npos = std::string_view::npos;
  if (!is_valid_uri(url)) {
    return "is not a URL: use 1 to 2048 printable ASCII characters without spaces";
  }
  std::string_view rest;
  bool https = false;
  if (url.starts_with("https://")) {
    https = true;
    rest = url.substr(8);
  } else if (url.starts_with("http://")) {
    rest = url.substr(7);
  } else {
    return "is not an https URL";
  }
  if (url.find('#') != npos) return "has a fragment (#...): leave it out";
  if (identifier && url.find('?') != npos) {
    return "has a query (?...): an issuer identifier has none (RFC 8414 section 2)";
  }
  const std::string_view authority = rest.substr(0, rest.find_first_of("/?"));
  if (authority.find('@') != npos) return "carries a user name (...@): leave it out";
  std::string_view host = authority;
  std::string_view port;
  bool host_ok = false;
  if (host.starts_with('[')) {
    const auto close = host.find(']');
    if (close == npos) return "has no ] after its IPv6 address";
    port = host.substr(close + 1);
    host = host.substr(0, close + 1);
    if (!port.empty() && port.front() != ':') return "has something between its host and port";
    host_ok = host.size() > 2 && std::all_of(host.begin() + 1, host.end() - 1, [](char c) {
                return std::isxdigit(static_cast<unsigned char>(c)) || c == ':' || c == '.';
              });
  } else {
    if (const auto colon = host.find(':'); colon != npos) {
      port = host.substr(colon);
      host = host.substr(0, colon);
    }
    host_ok = !host.empty() && std::all_of(host.begin(), host.end(), [](char c) {
      return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_';
    });
  }
  if (!host_ok) return host.empty() ? "has no host" : "has a malformed host";
  if (!port.empty()) {
    port.remove_prefix(1);  // the ':'
    int number = 0;
    const bool digits =
        !port.empty() && port.size() <= 5 &&
        std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; });
    if (digits) std::from_chars(port.data(), port.data() + port.size(), number);
    if (!digits || number < 1 || number > 65535) return "has a malformed port";
  }
  if (!https && host != "127.0.0.1" && host != "localhost" && host != "[::1]") {
    return "uses http, which is allowed only on loopback (127.0.0.1, localhost, [::1]): use "
           "https";
  }
  return "";
}

bool is_external_algorithm(std::string_view alg) {
  return std::find(std::begin(kExternalAlgorithms), std::end(kExternalAlgorithms), alg) !=
         std::end(kExternalAlgorithms);
}

template <typename Strings>
std::string joined(const Strings& items) {
  std::string out;
  for (std::string_view item : items) {
    if (!out.empty()) out += ", ";
    out += item;
  }
  return out;
}

// A JSON string (RFC 8259 §7) with its quotes. The text is UTF-8 already (the reader
// checked the whole file); only quotes, backslashes and control characters are escaped.
void append_json_string(std::string& out, std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  out += '"';
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (u < 0x20) {
      out += "\\u00";
      out += kHex[u >> 4];
      out += kHex[u & 0xF];
    } else {
      out += c;
    }
  }
  out += '"';
}

// Why `claim` cannot name a claim, or "" when it can: a name, or a path into nested
// objects with '/' ("kubernetes.io/serviceaccount/name") whose every step has a name.
std::string claim_name_problem(std::string_view claim) {
  if (claim.empty()) return "is empty";
  if (!yaml::is_free_text(claim, kMaxClaimNameBytes)) {
    return "must be at most " + std::to_string(kMaxClaimNameBytes) +
           " bytes without control characters";
  }
  if (claim.front() == '/' || claim.back() == '/' || claim.find("//") != std::string_view::npos) {
    return "has an empty step: a path into nested claims is written a/b, as in "
           "kubernetes.io/namespace";
  }
  return "";
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

struct IssuerRuleSource {
  bool named = false;
  int service_line = 0;
};

struct IssuerSource {
  int issuer_line = 0;
  std::vector<IssuerRuleSource> rules;  // parallel to TrustedIssuer::rules
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
  // The service's certificate block; `spiffe_path_line` is set to the line of its
  // spiffe_path when it gives one.
  std::optional<CertificateSettings> certificate(const Field& field, int& spiffe_path_line);
  void audience(const YAML::Node& node, int line);
  void grant(const YAML::Node& node, int line, int position);
  std::optional<Selector> selector(const Field& field, bool caller);
  bool name_pattern(const Field& field, const std::string& pattern, bool caller);
  std::optional<Conditions> conditions(const Field& field);
  std::optional<TimeWindow> time_window(const Field& field);
  void issuer(const YAML::Node& node, int line);
  // The rule as far as it could be read (nullopt: not a mapping); its problems are
  // reported either way.
  std::optional<IssuerRule> issuer_rule(const YAML::Node& node, int line, std::string default_name,
                                        IssuerRuleSource& source);
  std::optional<std::vector<ClaimMatch>> claims(const Field& field);
  std::optional<std::string> jwks(const Field& field);
  std::optional<std::vector<std::string>> algorithms(const Field& field);
  std::optional<std::string> url(const Field& field, bool identifier);

  std::optional<std::string> name(const Field& field);
  std::optional<std::string> description(const Field& field);
  std::optional<std::map<std::string, std::string>> attributes(const Field& field);
  std::optional<std::vector<std::string>> labels(const Field& field);
  // A service's methods exclude "federated", which only a condition may name.
  std::optional<std::vector<std::string>> auth_methods(const Field& field, bool service);
  std::optional<std::vector<std::string>> scopes(const Field& field,
                                                 std::map<std::string, int>* lines);
  std::optional<Seconds> lifetime(const Field& field);
  std::optional<TimePoint> time_point(const Field& field);

  void check_services();
  void check_audiences();
  void name_grants();
  void check_grants();
  void check_issuers();
  std::string grant_label(std::size_t i) const { return "grant " + quote(policy_.grants[i].name); }

  yaml::Reader& r_;
  Policy policy_;
  std::vector<int> spiffe_path_lines_;            // parallel to policy_.services
  std::vector<AudienceSource> audience_sources_;  // parallel to policy_.audiences
  std::vector<GrantSource> grant_sources_;        // parallel to policy_.grants
  std::vector<IssuerSource> issuer_sources_;      // parallel to policy_.issuers
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
  if (const Field* f = fields->find("issuers")) {
    each_item(*f, [&](const YAML::Node& n, int l) { issuer(n, l); });
  }
  check_services();
  check_audiences();
  name_grants();
  check_grants();
  check_issuers();
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
    s.auth_methods = auth_methods(*f, /*service=*/true).value_or(std::vector<std::string>{});
  }
  if (const Field* f = fields->find("jwks_uri")) s.jwks_uri = url(*f, false).value_or("");
  int spiffe_path_line = line;
  if (const Field* f = fields->find("certificate")) {
    s.certificate = certificate(*f, spiffe_path_line).value_or(CertificateSettings{});
  }
  if (!service_name) return;
  s.name = std::move(*service_name);
  if (s.certificate.spiffe_path.empty()) s.certificate.spiffe_path = "/" + s.name;
  policy_.services.push_back(std::move(s));
  spiffe_path_lines_.push_back(spiffe_path_line);
}

std::optional<CertificateSettings> PolicyParser::certificate(const Field& field,
                                                             int& spiffe_path_line) {
  auto fields = r_.fields(field.value, field.line, "certificate", kCertificateFields);
  if (!fields) return std::nullopt;
  CertificateSettings out;
  bool ok = true;
  if (const Field* f = fields->find("spiffe_path")) {
    if (auto path = r_.scalar(*f)) {
      // The SPIFFE ID rules for the path, checked on an ID in a placeholder trust domain;
      // a path must start with '/' or it would run into the trust domain's name.
      std::optional<pki::SpiffeId> id;
      if (path->starts_with('/')) {
        if (auto parsed = pki::SpiffeId::parse("spiffe://td" + *path)) id = std::move(*parsed);
      }
      if (id && !id->is_trust_domain_id() && id->path() == *path) {
        out.spiffe_path = std::move(*path);
        spiffe_path_line = f->line;
      } else {
        r_.error(f->line, field_label(*f) + ": " + quote(*path) +
                              " is not a SPIFFE ID path: use /segment/segment, each segment of "
                              "[A-Za-z0-9._-] and not . or ..");
        ok = false;
      }
    } else {
      ok = false;
    }
  }
  if (const Field* f = fields->find("dns_names")) {
    if (auto items = r_.scalar_list(*f)) {
      for (auto& item : *items) {
        const std::string_view base = std::string_view(item.value).starts_with("*.")
                                          ? std::string_view(item.value).substr(2)
                                          : std::string_view(item.value);
        if (is_valid_dns_name(base)) {
          out.dns_names.push_back(std::move(item.value));
        } else {
          r_.error(item.line, quote(item.value) +
                                  " is not a DNS name: use a lowercase name such as "
                                  "payments.internal, or \"*.\" and a name for one more label "
                                  "in front of it");
          ok = false;
        }
      }
      sort_unique(out.dns_names);
    } else {
      ok = false;
    }
  }
  if (const Field* f = fields->find("lifetime")) {
    if (auto lifetime_value = lifetime(*f)) {
      out.lifetime = *lifetime_value;
    } else {
      ok = false;
    }
  }
  if (!ok) return std::nullopt;
  return out;
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
    a.auth_methods = auth_methods(*f, /*service=*/false).value_or(std::vector<std::string>{});
  }
  if (const Field* f = fields->find("require_mtls")) {
    a.require_mtls = r_.boolean(*f).value_or(false);
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
  if (const Field* f = fields->find("impersonation")) {
    g.impersonation = r_.boolean(*f).value_or(false);
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
    if (auto methods = auth_methods(*f, /*service=*/false)) {
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

void PolicyParser::issuer(const YAML::Node& node, int line) {
  auto fields = r_.fields(node, line, "issuer", kIssuerFields);
  if (!fields) return;
  TrustedIssuer t;
  IssuerSource source{.issuer_line = line, .rules = {}};
  t.line = line;
  const Field* name_field = r_.required(*fields, "name");
  auto issuer_name = name_field ? name(*name_field) : std::nullopt;
  if (const Field* f = r_.required(*fields, "issuer")) {
    source.issuer_line = f->line;
    t.issuer = url(*f, /*identifier=*/true).value_or("");
  }
  if (const Field* f = r_.required(*fields, "audience")) {
    if (auto text = r_.scalar(*f)) {
      if (is_valid_uri(*text)) {
        t.audience = std::move(*text);
      } else {
        r_.error(f->line, field_label(*f) + ": " + quote(*text) +
                              " is not a valid audience: use 1 to 2048 printable ASCII "
                              "characters without spaces, e.g. sigil's issuer URL");
      }
    }
  }
  const Field* jwks_field = fields->find("jwks");
  const Field* jwks_uri_field = fields->find("jwks_uri");
  if (jwks_field) t.jwks = jwks(*jwks_field).value_or("");
  if (jwks_uri_field) t.jwks_uri = url(*jwks_uri_field, /*identifier=*/false).value_or("");
  if (jwks_field && jwks_uri_field) {
    r_.error(std::max(jwks_field->line, jwks_uri_field->line),
             "issuer has both jwks and jwks_uri: give one (or neither, to discover the keys "
             "from the issuer's OpenID configuration)");
  }
  if (const Field* f = fields->find("reuse")) t.reuse = r_.boolean(*f).value_or(false);
  if (const Field* f = fields->find("algorithms")) {
    t.algorithms = algorithms(*f).value_or(std::vector<std::string>{});
  } else {
    t.algorithms.assign(std::begin(kDefaultExternalAlgorithms),
                        std::end(kDefaultExternalAlgorithms));
  }
  if (const Field* f = r_.required(*fields, "rules")) {
    if (f->value.IsSequence() && f->value.size() == 0) {
      r_.error(f->line,
               field_label(*f) + " is empty: without a rule no token of this issuer is accepted");
    }
    int position = 0;
    each_item(*f, [&](const YAML::Node& n, int l) {
      ++position;
      // A made-up name holds '#', which a given name cannot: the two never collide.
      std::string made =
          issuer_name ? *issuer_name + "#" + std::to_string(position) : std::string();
      IssuerRuleSource rule_source;
      if (auto rule = issuer_rule(n, l, std::move(made), rule_source)) {
        t.rules.push_back(std::move(*rule));
        source.rules.push_back(rule_source);
      }
    });
  }
  if (!issuer_name) return;
  t.name = std::move(*issuer_name);
  policy_.issuers.push_back(std::move(t));
  issuer_sources_.push_back(std::move(source));
}

std::optional<IssuerRule> PolicyParser::issuer_rule(const YAML::Node& node, int line,
                                                    std::string default_name,
                                                    IssuerRuleSource& source) {
  auto fields = r_.fields(node, line, "issuer rule", kIssuerRuleFields);
  if (!fields) return std::nullopt;
  IssuerRule rule;
  rule.line = line;
  if (const Field* f = fields->find("name")) {
    if (auto given = name(*f)) {
      rule.name = std::move(*given);
      source.named = true;
    }
  } else {
    rule.name = std::move(default_name);
  }
  const std::string label =
      rule.name.empty() ? std::string("issuer rule") : "issuer rule " + quote(rule.name);

  const Field* claims_field = fields->find("claims");
  bool claims_ok = true;
  if (claims_field) {
    auto matches = claims(*claims_field);
    claims_ok = matches.has_value();
    if (matches) rule.claims = std::move(*matches);
  }
  // An issuer such as GitHub signs tokens for every repository it hosts: a rule that
  // looks at nothing but the issuer would let all of them in.
  if (claims_ok && !rule.constrains()) {
    r_.error(claims_field ? claims_field->line : line,
             label +
                 " must constrain more than the issuer: match a claim other than iss, aud, exp, "
                 "nbf, iat and jti (such as repository or sub) with a pattern that is not only "
                 "wildcards");
  }

  const Field* service_field = fields->find("service");
  if (service_field) {
    source.service_line = service_field->line;
    if (auto service_name = name(*service_field)) {
      rule.service = std::move(*service_name);
    }
  }
  const Field* user_field = fields->find("user");
  bool user_ok = true;
  if (user_field) {
    const auto user = r_.boolean(*user_field);
    user_ok = user.has_value();
    rule.user = user.value_or(false);
  }
  if (service_field && rule.user) {
    r_.error(line, label +
                       " has both service and user: true: a token stands for a workload or "
                       "for a person, not both");
  } else if (!service_field && !rule.user && user_ok) {
    r_.error(line, label +
                       (user_field ? " has user: false and no service"
                                   : " says neither what a matching token stands for") +
                       ": give service (a declared service) or user: true");
  }
  return rule;
}

std::optional<std::vector<ClaimMatch>> PolicyParser::claims(const Field& field) {
  if (!field.value.IsMap()) {
    r_.error(field.line, field_label(field) +
                             " must be a mapping of claim names to patterns, not " +
                             std::string(yaml::describe(field.value)));
    return std::nullopt;
  }
  if (field.value.size() > yaml::kMaxMapEntries) {
    r_.error(field.line, field_label(field) + " has more than " +
                             std::to_string(yaml::kMaxMapEntries) + " entries");
    return std::nullopt;
  }
  std::vector<ClaimMatch> out;
  std::map<std::string, int, std::less<>> seen;
  bool ok = true;
  // One pattern: a value as written, except that a plain true/false is spelled as JSON
  // does, the way a boolean claim (GitLab's ref_protected) is matched.
  auto pattern = [&](const YAML::Node& node, int line, const std::string& claim,
                     std::vector<std::string>& patterns) {
    std::string text = node.Scalar();
    if (auto b = yaml::plain_boolean(node)) text = *b ? "true" : "false";
    if (text.empty()) {
      r_.error(line, "claim " + quote(claim) + " has an empty pattern");
      return false;
    }
    if (!yaml::is_free_text(text, kMaxClaimPatternBytes)) {
      r_.error(line, "a pattern of claim " + quote(claim) + " must be at most " +
                         std::to_string(kMaxClaimPatternBytes) +
                         " bytes on one line, without control characters");
      return false;
    }
    patterns.push_back(std::move(text));
    return true;
  };
  for (const auto& entry : field.value) {
    if (!r_.spend()) return std::nullopt;
    const int key_line = yaml::line_of(entry.first, field.line);
    if (!entry.first.IsScalar()) {
      r_.error(key_line, "a key in " + field_label(field) + " must be a claim name, not " +
                             std::string(yaml::describe(entry.first)));
      ok = false;
      continue;
    }
    const std::string& claim = entry.first.Scalar();
    if (auto [it, inserted] = seen.emplace(claim, key_line); !inserted) {
      r_.error(key_line, "duplicate claim " + quote(claim) + " in " + field_label(field) +
                             " (first at line " + std::to_string(it->second) + ")");
      ok = false;
      continue;
    }
    if (const std::string problem = claim_name_problem(claim); !problem.empty()) {
      r_.error(key_line, "claim name " + quote(claim) + " " + problem);
      ok = false;
      continue;
    }
    ClaimMatch match{.claim = claim, .patterns = {}};
    const YAML::Node& value = entry.second;
    if (value.IsScalar()) {
      ok = pattern(value, key_line, claim, match.patterns) && ok;
    } else if (value.IsSequence()) {
      if (value.size() == 0) {
        r_.error(key_line, "claim " + quote(claim) + " has an empty list of patterns");
        ok = false;
        continue;
      }
      if (value.size() > yaml::kMaxListItems) {
        r_.error(key_line, "claim " + quote(claim) + " has more than " +
                               std::to_string(yaml::kMaxListItems) + " patterns");
        ok = false;
        continue;
      }
      for (const auto& item : value) {
        if (!r_.spend()) return std::nullopt;
        const int item_line = yaml::line_of(item, key_line);
        if (!item.IsScalar()) {
          r_.error(item_line, "each pattern of claim " + quote(claim) +
                                  " must be a single value, not " +
                                  std::string(yaml::describe(item)));
          ok = false;
          continue;
        }
        ok = pattern(item, item_line, claim, match.patterns) && ok;
      }
    } else if (value.IsMap()) {
      r_.error(key_line, "claim " + quote(claim) +
                             " must be a pattern or a list of patterns, not a mapping: name a "
                             "nested claim by its path, as in kubernetes.io/namespace");
      ok = false;
      continue;
    } else {
      r_.error(key_line, "claim " + quote(claim) + " has no pattern");
      ok = false;
      continue;
    }
    out.push_back(std::move(match));
  }
  if (!ok) return std::nullopt;
  return out;
}

std::optional<std::string> PolicyParser::jwks(const Field& field) {
  if (!field.value.IsMap()) {
    r_.error(field.line, field_label(field) + " must be a key set {keys: [...]}, not " +
                             std::string(yaml::describe(field.value)) +
                             " (a JSON key set can be pasted as it is)");
    return std::nullopt;
  }
  auto fields = r_.fields(field.value, field.line, "jwks", kJwksFields);
  if (!fields) return std::nullopt;
  const Field* keys = r_.required(*fields, "keys");
  if (!keys) return std::nullopt;
  if (!keys->value.IsSequence()) {
    r_.error(keys->line, field_label(*keys) + " must be a list of keys, not " +
                             std::string(yaml::describe(keys->value)));
    return std::nullopt;
  }
  if (keys->value.size() == 0) {
    r_.error(keys->line, field_label(*keys) + " is empty: give the issuer's public keys");
    return std::nullopt;
  }
  if (keys->value.size() > yaml::kMaxListItems) {
    r_.error(keys->line, field_label(*keys) + " has more than " +
                             std::to_string(yaml::kMaxListItems) + " items");
    return std::nullopt;
  }
  // RFC 7517 §5: {"keys": [JWK, ...]}, each JWK an object whose members are strings (or
  // arrays of strings: key_ops, x5c; a boolean: ext).
  std::string out = "{\"keys\":[";
  bool ok = true;
  bool first_key = true;
  for (const auto& key : keys->value) {
    if (!r_.spend()) return std::nullopt;
    const int key_line = yaml::line_of(key, keys->line);
    if (!key.IsMap()) {
      r_.error(key_line, "each key of " + field_label(*keys) + " must be a mapping (a JWK), not " +
                             std::string(yaml::describe(key)));
      ok = false;
      continue;
    }
    if (key.size() > yaml::kMaxMapEntries) {
      r_.error(key_line, "a key of " + field_label(*keys) + " has more than " +
                             std::to_string(yaml::kMaxMapEntries) + " members");
      ok = false;
      continue;
    }
    std::string object = "{";
    std::map<std::string, int, std::less<>> seen;
    bool has_kty = false;
    for (const auto& member : key) {
      if (!r_.spend()) return std::nullopt;
      const int member_line = yaml::line_of(member.first, key_line);
      if (!member.first.IsScalar()) {
        r_.error(member_line, "a member name in a jwks key must be a plain name, not " +
                                  std::string(yaml::describe(member.first)));
        ok = false;
        continue;
      }
      const std::string& name = member.first.Scalar();
      if (auto [it, inserted] = seen.emplace(name, member_line); !inserted) {
        r_.error(member_line, "duplicate member " + quote(name) + " in a jwks key (first at line " +
                                  std::to_string(it->second) + ")");
        ok = false;
        continue;
      }
      if (std::find(std::begin(kPrivateJwkMembers), std::end(kPrivateJwkMembers), name) !=
          std::end(kPrivateJwkMembers)) {
        r_.error(member_line, "a jwks key holds the private member " + quote(name) +
                                  ": give the issuer's public keys only");
        ok = false;
        continue;
      }
      const YAML::Node& value = member.second;
      std::string json;
      if (value.IsScalar()) {
        if (auto b = yaml::plain_boolean(value)) {
          json = *b ? "true" : "false";
        } else {
          append_json_string(json, value.Scalar());
        }
      } else if (value.IsSequence() && value.size() <= yaml::kMaxListItems) {
        json = "[";
        for (const auto& item : value) {
          if (!r_.spend()) return std::nullopt;
          if (!item.IsScalar()) {
            json.clear();
            break;
          }
          if (json.size() > 1) json += ',';
          append_json_string(json, item.Scalar());
        }
        if (!json.empty()) json += ']';
      }
      if (json.empty()) {
        r_.error(member_line, "member " + quote(name) +
                                  " of a jwks key must be a value or a list of values, not " +
                                  std::string(yaml::describe(value)));
        ok = false;
        continue;
      }
      if (name == "kty") {
        if (!value.IsScalar() || value.Scalar().empty()) {
          r_.error(member_line,
                   "member \"kty\" of a jwks key must name the key type, such as "
                   "RSA, EC or OKP");
          ok = false;
          continue;
        }
        has_kty = true;
      }
      if (object.size() > 1) object += ',';
      append_json_string(object, name);
      object += ':';
      object += json;
    }
    if (!has_kty && !seen.contains("kty")) {
      r_.error(key_line, "a jwks key has no \"kty\" (RFC 7517 section 4.1)");
      ok = false;
    }
    object += '}';
    if (!first_key) out += ',';
    out += object;
    first_key = false;
  }
  if (!ok) return std::nullopt;
  out += "]}";
  return out;
}

std::optional<std::vector<std::string>> PolicyParser::algorithms(const Field& field) {
  auto items = r_.scalar_list(field, /*allow_single=*/true);
  if (!items) return std::nullopt;
  if (items->empty()) {
    r_.error(field.line, field_label(field) + " is empty: leave it out for the default (" +
                             joined(kDefaultExternalAlgorithms) + ")");
    return std::nullopt;
  }
  std::vector<std::string> out;
  bool ok = true;
  for (auto& item : *items) {
    if (is_external_algorithm(item.value)) {
      out.push_back(std::move(item.value));
      continue;
    }
    ok = false;
    std::string upper = item.value;
    std::transform(upper.begin(), upper.end(), upper.begin(),
                   [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
    if (upper == "NONE" || upper.starts_with("HS")) {
      // RFC 8725 §3.1-3.2: a verifier must pin the algorithms it accepts; "none" proves
      // nothing, and an HMAC key would have to be shared with sigil.
      r_.error(item.line, "algorithm " + quote(item.value) +
                              " is never accepted for an external token (neither none nor "
                              "HS*): use one of " +
                              joined(kExternalAlgorithms));
    } else {
      r_.error(item.line, "unknown algorithm " + quote(item.value) + " (known: " +
                              joined(kExternalAlgorithms) + "; names are case-sensitive)");
    }
  }
  if (!ok) return std::nullopt;
  sort_unique(out);
  return out;
}

std::optional<std::string> PolicyParser::url(const Field& field, bool identifier) {
  auto text = r_.scalar(field);
  if (!text) return std::nullopt;
  if (const std::string problem = url_problem(*text, identifier); !problem.empty()) {
    r_.error(field.line, field_label(field) + ": " + quote(*text) + " " + problem);
    return std::nullopt;
  }
  return text;
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

std::optional<std::vector<std::string>> PolicyParser::auth_methods(const Field& field,
                                                                   bool service) {
  auto items = r_.scalar_list(field);
  if (!items) return std::nullopt;
  if (items->empty()) {
    r_.error(field.line, field_label(field) + " is empty: leave it out for the default");
    return std::nullopt;
  }
  std::vector<std::string> out;
  bool ok = true;
  for (auto& item : *items) {
    if (service && item.value == kFederated) {
      r_.error(item.line,
               "\"federated\" is not a method a service authenticates with: it stands for a "
               "token got with a trusted issuer's token alone, and only a grant's "
               "when.auth_methods (or an audience's auth_methods) may ask for it");
      ok = false;
    } else if (is_known_auth_method(item.value)) {
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
  // One SPIFFE ID names one workload: two services with the same path would get each
  // other's certificates. (A duplicate name is reported above, not again here.)
  std::unordered_map<std::string_view, std::size_t> by_path;
  for (std::size_t i = 0; i < policy_.services.size(); ++i) {
    const Service& s = policy_.services[i];
    auto [it, inserted] = by_path.emplace(s.certificate.spiffe_path, i);
    if (inserted) continue;
    const Service& first = policy_.services[it->second];
    if (first.name == s.name) continue;
    r_.error(spiffe_path_lines_[i],
             "service " + quote(s.name) + " has the spiffe_path " +
                 quote(s.certificate.spiffe_path) + " of service " + quote(first.name) + " (line " +
                 std::to_string(spiffe_path_lines_[it->second]) + "): give each service its own");
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

void PolicyParser::check_issuers() {
  std::unordered_map<std::string_view, std::size_t> by_name;
  std::unordered_map<std::string_view, std::size_t> by_issuer;
  std::unordered_map<std::string_view, int> rule_names;
  for (std::size_t i = 0; i < policy_.issuers.size(); ++i) {
    if (!r_.spend()) return;
    const TrustedIssuer& t = policy_.issuers[i];
    const IssuerSource& source = issuer_sources_[i];
    auto [named, fresh_name] = by_name.emplace(t.name, i);
    if (!fresh_name) {
      r_.error(t.line, "duplicate issuer " + quote(t.name) + " (first at line " +
                           std::to_string(policy_.issuers[named->second].line) + ")");
    }
    // One "iss" under two names would make the rule that decides depend on which one
    // find_issuer returns.
    if (!t.issuer.empty()) {
      auto [same, fresh_issuer] = by_issuer.emplace(t.issuer, i);
      if (!fresh_issuer) {
        r_.error(source.issuer_line, "issuer " + quote(t.name) + " has the same issuer " +
                                         quote(t.issuer) + " as the issuer at line " +
                                         std::to_string(policy_.issuers[same->second].line));
      }
    }
    for (std::size_t k = 0; k < t.rules.size(); ++k) {
      const IssuerRule& rule = t.rules[k];
      const IssuerRuleSource& rule_source = source.rules[k];
      // Made-up names repeat only under a duplicate issuer name, reported above.
      if (!rule.name.empty() && (rule_source.named || fresh_name)) {
        auto [it, inserted] = rule_names.emplace(rule.name, rule.line);
        if (!inserted) {
          r_.error(rule.line, "duplicate issuer rule name " + quote(rule.name) +
                                  " (first at line " + std::to_string(it->second) + ")");
        }
      }
      if (!rule.service.empty() && !service_index_.contains(rule.service)) {
        r_.error(rule_source.service_line, "issuer rule " + quote(rule.name) + ": service " +
                                               quote(rule.service) + " is not a declared service");
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
