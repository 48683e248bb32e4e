#include "policy/engine.hpp"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <tuple>
#include <type_traits>
#include <unordered_set>
#include <utility>

#include "pki/spiffe.hpp"
#include "policy/describe.hpp"

namespace sigil::policy {

namespace {

// Looks names up by string_view without building a std::string.
struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const noexcept {
    return std::hash<std::string_view>{}(s);
  }
};

constexpr std::uint32_t kNoEnvironment = std::numeric_limits<std::uint32_t>::max();

// A service or audience found by name: its position, and its environment's number (or
// kNoEnvironment) kept beside it so that a decision reads one place.
struct Named {
  std::uint32_t index = 0;
  std::uint32_t environment = kNoEnvironment;
};
using NameIndex = std::unordered_map<std::string, Named, StringHash, std::equal_to<>>;

std::uint64_t pair_key(std::uint32_t service, std::uint32_t audience) {
  return (std::uint64_t{service} << 32) | audience;
}
std::uint32_t service_of(std::uint64_t key) {
  return static_cast<std::uint32_t>(key >> 32);
}
std::uint32_t audience_of(std::uint64_t key) {
  return static_cast<std::uint32_t>(key & 0xffffffffu);
}

bool contains_sorted(const std::vector<std::string>& sorted, std::string_view value) {
  return std::binary_search(sorted.begin(), sorted.end(), value, std::less<>{});
}

bool contains(const std::vector<std::string>& values, std::string_view value) {
  return std::find(values.begin(), values.end(), value) != values.end();
}

// At least one of the grant's scopes is one the audience declares.
bool shares_scope(const GrantRule& grant, const Audience& audience) {
  return std::any_of(grant.scopes.begin(), grant.scopes.end(), [&](const std::string& scope) {
    return contains_sorted(audience.scopes, scope);
  });
}

void sort_unique(std::vector<std::string>& values) {
  std::sort(values.begin(), values.end());
  values.erase(std::unique(values.begin(), values.end()), values.end());
}

bool has_wildcard(std::string_view text) {
  return text.find_first_of("*?") != std::string_view::npos;
}

bool is_empty(const Selector& selector) {
  return !selector.name && selector.attributes.empty() && selector.labels.empty();
}

// A selector as a map key: every part length-prefixed, so that no two selectors share one.
std::string selector_key(const Selector& selector) {
  std::string key;
  auto add = [&key](std::string_view part) {
    key += std::to_string(part.size());
    key += ':';
    key += part;
  };
  key += selector.name ? 'n' : '-';
  if (selector.name) add(*selector.name);
  key += 'a';
  for (const auto& [name, value] : selector.attributes) {
    add(name);
    add(value);
  }
  key += 'l';
  for (const auto& label : selector.labels) add(label);
  return key;
}

// Which of `items` (services or audiences) a selector names. Literal parts (an exact name,
// an attribute value without wildcards, a label) narrow the candidates through the
// indexes; policy::matches() has the last word on each candidate. Results are memoised
// per selector, since large policies repeat the same attribute selectors many times.
template <typename Item>
class SelectorResolver {
  // (name, value): views into the items' attributes, which outlive the resolver.
  using AttributeKey = std::pair<std::string_view, std::string_view>;

 public:
  explicit SelectorResolver(const std::vector<Item>& items) : items_(items) {
    for (std::uint32_t i = 0; i < items.size(); ++i) {
      const Item& item = items[i];
      names_.emplace(item.name, i);
      for (const auto& [name, value] : item.attributes) {
        by_attribute_[AttributeKey(name, value)].push_back(i);
      }
      if constexpr (std::is_same_v<Item, Service>) {
        for (const auto& label : item.labels) by_label_[label].push_back(i);
      }
    }
  }

  const std::vector<std::uint32_t>& resolve(const Selector& selector) {
    std::string key = selector_key(selector);
    if (auto it = memo_.find(key); it != memo_.end()) return it->second;
    std::vector<std::uint32_t> found;
    for (std::uint32_t i : candidates(selector)) {
      if (matches(selector, items_[i])) found.push_back(i);
    }
    return memo_.emplace(std::move(key), std::move(found)).first->second;
  }

 private:
  std::vector<std::uint32_t> candidates(const Selector& selector) const {
    if (selector.name && !has_wildcard(*selector.name)) {
      auto it = names_.find(*selector.name);
      if (it == names_.end()) return {};
      return {it->second};
    }
    const std::vector<std::uint32_t>* narrowest = nullptr;
    auto narrow = [&narrowest](const std::vector<std::uint32_t>* list) {
      if (!narrowest || list->size() < narrowest->size()) narrowest = list;
    };
    static const std::vector<std::uint32_t> kNone;
    for (const auto& [name, value] : selector.attributes) {
      if (has_wildcard(value)) continue;
      auto it = by_attribute_.find(AttributeKey(name, value));
      narrow(it == by_attribute_.end() ? &kNone : &it->second);
    }
    for (const auto& label : selector.labels) {
      auto it = by_label_.find(label);
      narrow(it == by_label_.end() ? &kNone : &it->second);
    }
    if (narrowest) return *narrowest;
    std::vector<std::uint32_t> all(items_.size());
    for (std::uint32_t i = 0; i < all.size(); ++i) all[i] = i;
    return all;
  }

  const std::vector<Item>& items_;
  std::unordered_map<std::string_view, std::uint32_t> names_;
  std::map<std::pair<std::string_view, std::string_view>, std::vector<std::uint32_t>> by_attribute_;
  std::map<std::string_view, std::vector<std::uint32_t>> by_label_;
  std::unordered_map<std::string, std::vector<std::uint32_t>> memo_;
};

// The request's time as the calendar sees it in UTC.
struct CalendarTime {
  int weekday = 0;  // 0 Monday ... 6 Sunday
  int minute = 0;   // of the day, 0..1439
};

CalendarTime calendar_time(TimePoint now) {
  const auto day = std::chrono::floor<std::chrono::days>(now);
  return {
      .weekday = static_cast<int>(std::chrono::weekday{day}.iso_encoding()) - 1,
      .minute = static_cast<int>(std::chrono::floor<std::chrono::minutes>(now - day).count()),
  };
}

bool day_is_on(std::uint8_t days, int weekday) {
  return ((days >> weekday) & 1) != 0;
}

bool in_window(const TimeWindow& window, CalendarTime t) {
  if (window.from_minute == window.to_minute) return day_is_on(window.days, t.weekday);
  if (window.from_minute < window.to_minute) {
    return day_is_on(window.days, t.weekday) && t.minute >= window.from_minute &&
           t.minute < window.to_minute;
  }
  // Past midnight: the hours after midnight belong to the day the window opened, so a
  // Friday 22:00-06:00 shift runs into Saturday morning and Monday 03:00 is not Sunday's.
  if (t.minute >= window.from_minute) return day_is_on(window.days, t.weekday);
  if (t.minute < window.to_minute) return day_is_on(window.days, (t.weekday + 6) % 7);
  return false;
}

// What is known about the request, computed once per decision.
class RequestFacts {
 public:
  explicit RequestFacts(const RequestContext& context)
      : context_(context), time_(calendar_time(context.now)) {}

  const RequestContext& context() const { return context_; }
  CalendarTime time() const { return time_; }

  // The parsed source address; parsed on first use, since most grants have no source
  // condition.
  const std::optional<IpAddress>& source() const {
    if (!source_parsed_) {
      source_ = parse_ip_address(context_.source_address);
      source_parsed_ = true;
    }
    return source_;
  }

 private:
  const RequestContext& context_;
  CalendarTime time_;
  mutable bool source_parsed_ = false;
  mutable std::optional<IpAddress> source_;
};

// The first condition of a grant that does not hold, in the order they are checked.
enum class Failure {
  kNone,
  kNotYet,
  kExpired,
  kOutsideWindow,
  kNoSource,
  kBadSource,
  kSourceNotAllowed,
  kAuthMethod,
  kAudienceAuthMethod,
};

Failure check(const GrantRule& grant, const Audience& audience, const RequestFacts& facts) {
  const Conditions& when = grant.when;
  const RequestContext& context = facts.context();
  if (when.not_before && context.now < *when.not_before) return Failure::kNotYet;
  if (when.not_after && context.now >= *when.not_after) return Failure::kExpired;
  if (when.time && !in_window(*when.time, facts.time())) return Failure::kOutsideWindow;
  if (!when.source.empty()) {
    if (context.source_address.empty()) return Failure::kNoSource;
    const auto& source = facts.source();
    if (!source) return Failure::kBadSource;
    const bool inside = std::any_of(when.source.begin(), when.source.end(),
                                    [&](const Cidr& range) { return range.contains(*source); });
    if (!inside) return Failure::kSourceNotAllowed;
  }
  if (!when.auth_methods.empty() && !contains(when.auth_methods, context.auth_method)) {
    return Failure::kAuthMethod;
  }
  if (!audience.auth_methods.empty() && !contains(audience.auth_methods, context.auth_method)) {
    return Failure::kAudienceAuthMethod;
  }
  return Failure::kNone;
}

std::string auth_method_text(std::string_view method) {
  return method.empty() ? std::string("unknown") : std::string(method);
}

std::string explain(Failure failure, const GrantRule& grant, const Audience& audience,
                    const RequestFacts& facts) {
  const RequestContext& context = facts.context();
  switch (failure) {
    case Failure::kNone:
      return "applies";
    case Failure::kNotYet:
      return "not before " + to_rfc3339(*grant.when.not_before);
    case Failure::kExpired:
      return "expired at " + to_rfc3339(*grant.when.not_after);
    case Failure::kOutsideWindow: {
      const CalendarTime t = facts.time();
      return "time " + std::string(detail::kDayNames[t.weekday]) + ' ' +
             detail::format_minute(t.minute) + " UTC is outside " +
             detail::describe(*grant.when.time);
    }
    case Failure::kNoSource:
      return "source address unknown, required in " + detail::describe(grant.when.source);
    case Failure::kBadSource:
      return "source \"" + std::string(context.source_address) + "\" is not an IP address";
    case Failure::kSourceNotAllowed:
      return "source " + std::string(context.source_address) + " is not in " +
             detail::describe(grant.when.source);
    case Failure::kAuthMethod:
      return "auth method " + auth_method_text(context.auth_method) + " is not one of " +
             detail::join(grant.when.auth_methods, ", ");
    case Failure::kAudienceAuthMethod:
      return "audience " + audience.name + " requires auth method " +
             detail::join(audience.auth_methods, " or ") + ", not " +
             auth_method_text(context.auth_method);
  }
  return "applies";
}

// A set of grant positions within one pair, without allocating for the usual few.
class GrantSet {
 public:
  explicit GrantSet(std::size_t n) {
    if (n > 64) wide_.resize(n);
  }
  bool has(std::size_t i) const { return wide_.empty() ? ((bits_ >> i) & 1) != 0 : wide_[i]; }
  void add(std::size_t i) {
    if (wide_.empty()) {
      bits_ |= std::uint64_t{1} << i;
    } else {
      wide_[i] = true;
    }
  }
  bool empty() const {
    return wide_.empty() ? bits_ == 0 : std::find(wide_.begin(), wide_.end(), true) == wide_.end();
  }

 private:
  std::uint64_t bits_ = 0;
  std::vector<bool> wide_;
};

// An external claim's value for a detail: quoted, control and non-ASCII bytes escaped, cut
// after 80 bytes, since it comes from outside and ends up in logs.
std::string quoted_value(std::string_view value) {
  static constexpr char kHex[] = "0123456789abcdef";
  constexpr std::size_t kMaxBytes = 80;
  std::string out = "\"";
  for (std::size_t i = 0; i < value.size(); ++i) {
    if (i == kMaxBytes) {
      out += "...";
      break;
    }
    const auto u = static_cast<unsigned char>(value[i]);
    if (u == '"' || u == '\\') {
      out += '\\';
      out += static_cast<char>(u);
    } else if (u < 0x20 || u >= 0x7F) {
      out += "\\x";
      out += kHex[u >> 4];
      out += kHex[u & 0xF];
    } else {
      out += static_cast<char>(u);
    }
  }
  out += '"';
  return out;
}

bool claim_matches(const ClaimMatch& match, const FlatClaims& claims) {
  const auto it = claims.find(match.claim);
  if (it == claims.end()) return false;
  return std::any_of(it->second.begin(), it->second.end(), [&](const std::string& value) {
    return std::any_of(match.patterns.begin(), match.patterns.end(),
                       [&](const std::string& pattern) { return glob_match(pattern, value); });
  });
}

// Why a rule does not match, for people: its first claim that does not.
std::string mismatch(const IssuerRule& rule, const FlatClaims& claims) {
  constexpr std::size_t kValuesShown = 3;
  for (const ClaimMatch& match : rule.claims) {
    if (claim_matches(match, claims)) continue;
    const auto it = claims.find(match.claim);
    std::string out = "rule " + rule.name + ": ";
    if (it == claims.end() || it->second.empty()) return out + "no claim " + match.claim;
    const auto& values = it->second;
    out += match.claim + ' ';
    if (values.size() == 1) {
      out += quoted_value(values.front());
    } else {
      out += '[';
      for (std::size_t i = 0; i < values.size() && i < kValuesShown; ++i) {
        if (i > 0) out += ", ";
        out += quoted_value(values[i]);
      }
      if (values.size() > kValuesShown) {
        out += ", and " + std::to_string(values.size() - kValuesShown) + " more";
      }
      out += ']';
    }
    out += match.patterns.size() == 1 ? " does not match " : " does not match any of ";
    return out + detail::join(match.patterns, ", ");
  }
  return "rule " + rule.name + ": matches";
}

bool is_external_algorithm(std::string_view alg) {
  return std::find(std::begin(kExternalAlgorithms), std::end(kExternalAlgorithms), alg) !=
         std::end(kExternalAlgorithms);
}

// The checks parse_policy makes on trusted issuers, for a Policy built in code; fills in
// the default algorithms. Services must be indexed already.
Result<void> check_issuers(std::vector<TrustedIssuer>& issuers, const NameIndex& services) {
  std::unordered_set<std::string_view> names;
  std::unordered_set<std::string_view> rule_names;
  auto invalid = [](std::string message) {
    return std::unexpected(Error::invalid_argument("policy: " + std::move(message)));
  };
  for (TrustedIssuer& issuer : issuers) {
    const std::string label = "issuer \"" + issuer.name + '"';
    if (issuer.name.empty()) return invalid("an issuer has no name");
    if (!names.insert(issuer.name).second) return invalid(label + " is declared twice");
    if (issuer.issuer.empty()) return invalid(label + " has no issuer URL");
    if (issuer.audience.empty()) return invalid(label + " has no audience");
    if (!issuer.jwks.empty() && !issuer.jwks_uri.empty()) {
      return invalid(label + " has both jwks and jwks_uri");
    }
    if (issuer.algorithms.empty()) {
      issuer.algorithms.assign(std::begin(kDefaultExternalAlgorithms),
                               std::end(kDefaultExternalAlgorithms));
    }
    for (const std::string& alg : issuer.algorithms) {
      if (!is_external_algorithm(alg)) {
        return invalid(label + " allows the algorithm \"" + alg +
                       "\", which is not accepted for external tokens");
      }
    }
    sort_unique(issuer.algorithms);
    for (const IssuerRule& rule : issuer.rules) {
      const std::string rule_label = "issuer rule \"" + rule.name + '"';
      if (rule.name.empty()) return invalid(label + " has a rule without a name");
      if (!rule_names.insert(rule.name).second) return invalid(rule_label + " is declared twice");
      if (rule.service.empty() == !rule.user) {
        return invalid(rule_label + " must name either a service or a user");
      }
      if (!rule.service.empty() && !services.contains(rule.service)) {
        return invalid(rule_label + ": service \"" + rule.service + "\" is not declared");
      }
      for (const ClaimMatch& match : rule.claims) {
        if (match.claim.empty() || match.patterns.empty()) {
          return invalid(rule_label + " has a claim match without a claim or a pattern");
        }
      }
      if (!rule.constrains()) {
        return invalid(rule_label + " must constrain more than the issuer");
      }
    }
  }
  return {};
}

// The checks parse_policy makes on a service's certificate settings, for a Policy built in
// code; fills in the default path and sorts the DNS names.
Result<void> check_certificate(Service& service) {
  CertificateSettings& c = service.certificate;
  const std::string label = "policy: service \"" + service.name + "\" ";
  if (c.spiffe_path.empty()) c.spiffe_path = "/" + service.name;
  // The SPIFFE ID rules, on an ID in a placeholder trust domain (as parse_policy).
  std::optional<pki::SpiffeId> id;
  if (c.spiffe_path.starts_with('/')) {
    if (auto parsed = pki::SpiffeId::parse("spiffe://td" + c.spiffe_path)) id = std::move(*parsed);
  }
  if (!id || id->is_trust_domain_id() || id->path() != c.spiffe_path) {
    return std::unexpected(Error::invalid_argument(label + "has a spiffe_path that is not a "
                                                           "SPIFFE ID path"));
  }
  for (const std::string& name : c.dns_names) {
    const std::string_view base =
        std::string_view(name).starts_with("*.") ? std::string_view(name).substr(2) : name;
    if (!is_valid_dns_name(base)) {
      return std::unexpected(
          Error::invalid_argument(label + "may ask for \"" + name + "\", which is not a DNS name"));
    }
  }
  sort_unique(c.dns_names);
  if (c.lifetime <= Seconds{0} || c.lifetime > kMaxCertificateLifetime) {
    return std::unexpected(
        Error::invalid_argument(label + "has a certificate lifetime out of range"));
  }
  return {};
}

Decision deny(DenyReason reason, std::string detail) {
  Decision d;
  d.allowed = false;
  d.reason = reason;
  d.detail = std::move(detail);
  return d;
}

}  // namespace

struct CompiledPolicy::Index {
  NameIndex services;
  NameIndex audiences;  // by name and by URI
  // Per service / audience position: its environment's number, or kNoEnvironment (the
  // same as in `services` and `audiences`, by position for compile(), reach(), edges()).
  std::vector<std::uint32_t> service_environment;
  std::vector<std::uint32_t> audience_environment;

  struct Pair {
    std::uint64_t key;    // pair_key(service, audience)
    std::uint32_t first;  // into grants
    std::uint32_t count;
  };
  std::vector<Pair> pairs;  // sorted by key: by service, then audience
  // The same pairs by key, for decide(): a copy rather than a position, which saves a
  // memory access per decision.
  std::unordered_map<std::uint64_t, Pair> pair_at;
  // A grant filed under a pair. `conditional` is kept here so that a decision need not
  // read the grant's conditions when it has none.
  struct Filed {
    std::uint32_t grant;  // into policy.grants
    bool conditional;
  };
  std::vector<Filed> grants;  // grouped by pair, in file order within each
  // Services by their certificate.spiffe_path, as positions into policy.services.
  std::unordered_map<std::string, std::uint32_t, StringHash, std::equal_to<>> spiffe_paths;
  // Trusted issuers by their exact "iss", as positions into policy.issuers.
  std::unordered_map<std::string, std::uint32_t, StringHash, std::equal_to<>> issuers;

  std::span<const Filed> grants_of(const Pair& pair) const {
    return {grants.data() + pair.first, pair.count};
  }
  const Pair* find_pair(std::uint32_t service, std::uint32_t audience) const {
    auto it = pair_at.find(pair_key(service, audience));
    return it == pair_at.end() ? nullptr : &it->second;
  }
};

std::string_view to_string(DenyReason reason) {
  switch (reason) {
    case DenyReason::kNone:
      return "";
    case DenyReason::kUnknownCaller:
      return "unknown_caller";
    case DenyReason::kUnknownAudience:
      return "unknown_audience";
    case DenyReason::kNoGrant:
      return "no_grant";
    case DenyReason::kEnvironmentMismatch:
      return "environment_mismatch";
    case DenyReason::kConditionsNotMet:
      return "conditions_not_met";
    case DenyReason::kScopeNotGranted:
      return "scope_not_granted";
  }
  return "";
}

Result<std::shared_ptr<const CompiledPolicy>> CompiledPolicy::compile(Policy policy) {
  // The policy is moved in first and normalised in place (sorted scopes and labels); the
  // index holds positions into the copy that is kept.
  std::shared_ptr<CompiledPolicy> compiled(new CompiledPolicy(std::move(policy)));
  Policy& p = compiled->policy_;
  constexpr std::size_t kMaxItems = std::numeric_limits<std::uint32_t>::max() - 1;
  if (p.services.size() > kMaxItems || p.audiences.size() > kMaxItems ||
      p.grants.size() > kMaxItems || p.issuers.size() > kMaxItems) {
    return std::unexpected(Error::invalid_argument("policy: too many declarations"));
  }

  auto index = std::make_shared<Index>();
  std::unordered_map<std::string_view, std::uint32_t> environments;
  auto environment_of = [&](const std::map<std::string, std::string>& attributes) {
    if (p.settings.environment_attribute.empty()) return kNoEnvironment;
    auto it = attributes.find(p.settings.environment_attribute);
    if (it == attributes.end()) return kNoEnvironment;
    return environments.emplace(it->second, static_cast<std::uint32_t>(environments.size()))
        .first->second;
  };
  index->service_environment.reserve(p.services.size());
  for (const auto& service : p.services) {
    index->service_environment.push_back(environment_of(service.attributes));
  }
  index->audience_environment.reserve(p.audiences.size());
  for (const auto& audience : p.audiences) {
    index->audience_environment.push_back(environment_of(audience.attributes));
  }

  index->services.reserve(p.services.size());
  for (std::uint32_t i = 0; i < p.services.size(); ++i) {
    Service& service = p.services[i];
    if (service.name.empty()) {
      return std::unexpected(Error::invalid_argument("policy: a service has no name"));
    }
    if (!index->services.emplace(service.name, Named{i, index->service_environment[i]}).second) {
      return std::unexpected(
          Error::invalid_argument("policy: service \"" + service.name + "\" is declared twice"));
    }
    sort_unique(service.labels);
    SIGIL_CHECK(check_certificate(service));
    if (!index->spiffe_paths.emplace(service.certificate.spiffe_path, i).second) {
      return std::unexpected(Error::invalid_argument("policy: spiffe_path \"" +
                                                     service.certificate.spiffe_path +
                                                     "\" is used by two services"));
    }
  }
  index->audiences.reserve(p.audiences.size() * 2);
  for (std::uint32_t i = 0; i < p.audiences.size(); ++i) {
    Audience& audience = p.audiences[i];
    if (audience.name.empty()) {
      return std::unexpected(Error::invalid_argument("policy: an audience has no name"));
    }
    sort_unique(audience.scopes);
    for (const std::string* key : {&std::as_const(audience.name), &detail::uri_of(audience)}) {
      auto [it, inserted] =
          index->audiences.emplace(*key, Named{i, index->audience_environment[i]});
      if (!inserted && it->second.index != i) {
        return std::unexpected(
            Error::invalid_argument("policy: audience name or URI \"" + *key + "\" is used twice"));
      }
    }
  }

  std::unordered_map<std::string_view, std::uint32_t> grant_names;
  for (std::uint32_t g = 0; g < p.grants.size(); ++g) {
    GrantRule& grant = p.grants[g];
    if (grant.name.empty()) {
      return std::unexpected(Error::invalid_argument("policy: a grant has no name"));
    }
    if (!grant_names.emplace(grant.name, g).second) {
      return std::unexpected(
          Error::invalid_argument("policy: grant \"" + grant.name + "\" is declared twice"));
    }
    if (is_empty(grant.caller) || is_empty(grant.audience)) {
      return std::unexpected(
          Error::invalid_argument("policy: grant \"" + grant.name + "\" has an empty selector"));
    }
    if (const auto& w = grant.when.time;
        w && (w->from_minute < 0 || w->from_minute > 1439 || w->to_minute < 0 ||
              w->to_minute > 1439 || w->days > 0x7f)) {
      return std::unexpected(Error::invalid_argument("policy: grant \"" + grant.name +
                                                     "\" has a time window out of range"));
    }
    sort_unique(grant.scopes);
  }

  if (auto checked = check_issuers(p.issuers, index->services); !checked) {
    return std::unexpected(checked.error());
  }
  index->issuers.reserve(p.issuers.size());
  for (std::uint32_t i = 0; i < p.issuers.size(); ++i) {
    if (!index->issuers.emplace(p.issuers[i].issuer, i).second) {
      return std::unexpected(Error::invalid_argument("policy: issuer URL \"" + p.issuers[i].issuer +
                                                     "\" is declared twice"));
    }
  }

  // Every (service, audience, grant) the grants can apply to.
  SelectorResolver<Service> services(p.services);
  SelectorResolver<Audience> audiences(p.audiences);
  std::vector<std::pair<std::uint64_t, std::uint32_t>> entries;
  entries.reserve(p.grants.size());
  for (std::uint32_t g = 0; g < p.grants.size(); ++g) {
    const GrantRule& grant = p.grants[g];
    const auto& callers = services.resolve(grant.caller);
    if (callers.empty()) continue;
    const auto& targets = audiences.resolve(grant.audience);
    for (std::uint32_t a : targets) {
      // A grant only files under audiences that declare one of its scopes: for the others
      // it could give nothing.
      if (!shares_scope(grant, p.audiences[a])) continue;
      const std::uint32_t audience_env = index->audience_environment[a];
      for (std::uint32_t s : callers) {
        const std::uint32_t service_env = index->service_environment[s];
        if (service_env != kNoEnvironment && audience_env != kNoEnvironment &&
            service_env != audience_env) {
          continue;
        }
        if (entries.size() >= kMaxIndexEntries) {
          return std::unexpected(Error::invalid_argument(
              "policy: the grants expand to more than " + std::to_string(kMaxIndexEntries) +
              " (service, audience, grant) entries; narrow the selectors"));
        }
        entries.emplace_back(pair_key(s, a), g);
      }
    }
  }
  std::sort(entries.begin(), entries.end());

  index->grants.reserve(entries.size());
  for (std::size_t i = 0; i < entries.size();) {
    const std::uint64_t key = entries[i].first;
    Index::Pair pair{key, static_cast<std::uint32_t>(index->grants.size()), 0};
    for (; i < entries.size() && entries[i].first == key; ++i) {
      const std::uint32_t g = entries[i].second;
      index->grants.push_back({g, detail::has_conditions(p.grants[g].when)});
      ++pair.count;
    }
    index->pairs.push_back(pair);
  }
  index->pair_at.reserve(index->pairs.size());
  for (const Index::Pair& pair : index->pairs) index->pair_at.emplace(pair.key, pair);

  compiled->index_entries_ = entries.size();
  compiled->index_ = std::move(index);
  return std::shared_ptr<const CompiledPolicy>(std::move(compiled));
}

const Service* CompiledPolicy::find_service(std::string_view name) const {
  auto it = index_->services.find(name);
  return it == index_->services.end() ? nullptr : &policy_.services[it->second.index];
}

const Service* CompiledPolicy::find_service_by_spiffe_path(std::string_view path) const {
  auto it = index_->spiffe_paths.find(path);
  return it == index_->spiffe_paths.end() ? nullptr : &policy_.services[it->second];
}

bool dns_name_allowed(const CertificateSettings& settings, std::string_view name) {
  if (!is_valid_dns_name(name)) return false;
  const std::size_t dot = name.find('.');
  // What a wildcard entry would have to be: "*." and all but the first label.
  const std::string wildcard =
      dot == std::string_view::npos ? std::string() : "*" + std::string(name.substr(dot));
  return std::any_of(settings.dns_names.begin(), settings.dns_names.end(),
                     [&](const std::string& allowed) {
                       return allowed == name || (!wildcard.empty() && allowed == wildcard);
                     });
}

const Audience* CompiledPolicy::find_audience(std::string_view name_or_uri) const {
  auto it = index_->audiences.find(name_or_uri);
  return it == index_->audiences.end() ? nullptr : &policy_.audiences[it->second.index];
}

const TrustedIssuer* CompiledPolicy::find_issuer(std::string_view iss) const {
  auto it = index_->issuers.find(iss);
  return it == index_->issuers.end() ? nullptr : &policy_.issuers[it->second];
}

ExternalIdentity CompiledPolicy::match_external(const TrustedIssuer& issuer,
                                                const FlatClaims& claims) const {
  ExternalIdentity identity;
  const auto rule_matches = [&](const IssuerRule& rule) {
    return std::all_of(rule.claims.begin(), rule.claims.end(),
                       [&](const ClaimMatch& match) { return claim_matches(match, claims); });
  };
  for (const IssuerRule& rule : issuer.rules) {
    // compile() refused rules that constrain nothing; a rule without claims cannot be here.
    if (rule_matches(rule)) {
      identity.rule = &rule;
      return identity;
    }
  }
  // No rule: say why, once, rather than building text for every rule that failed before
  // one matched.
  for (const IssuerRule& rule : issuer.rules) {
    if (!identity.detail.empty()) identity.detail += "; ";
    identity.detail += mismatch(rule, claims);
  }
  if (identity.detail.empty()) identity.detail = "issuer " + issuer.name + " has no rules";
  return identity;
}

Decision CompiledPolicy::decide(const DecisionRequest& request) const {
  const Index& index = *index_;
  const auto service_it = index.services.find(request.caller);
  if (service_it == index.services.end()) {
    return deny(DenyReason::kUnknownCaller,
                "caller \"" + std::string(request.caller) + "\" is not a service of the policy");
  }
  const auto audience_it = index.audiences.find(request.audience);
  if (audience_it == index.audiences.end()) {
    return deny(DenyReason::kUnknownAudience, "audience \"" + std::string(request.audience) +
                                                  "\" is not an audience of the policy");
  }
  const std::uint32_t s = service_it->second.index;
  const std::uint32_t a = audience_it->second.index;
  const Service& service = policy_.services[s];
  const Audience& audience = policy_.audiences[a];

  const std::uint32_t service_env = service_it->second.environment;
  const std::uint32_t audience_env = audience_it->second.environment;
  if (service_env != kNoEnvironment && audience_env != kNoEnvironment &&
      service_env != audience_env) {
    const std::string& attribute = policy_.settings.environment_attribute;
    Decision d = deny(DenyReason::kEnvironmentMismatch,
                      "caller " + service.name + " is in " + attribute + " \"" +
                          service.attributes.at(attribute) + "\", audience " + audience.name +
                          " in \"" + audience.attributes.at(attribute) + '"');
    d.audience_uri = detail::uri_of(audience);
    return d;
  }

  const Index::Pair* pair = index.find_pair(s, a);
  if (!pair) {
    Decision d =
        deny(DenyReason::kNoGrant, "no grant lets " + service.name + " call " + audience.name);
    d.audience_uri = detail::uri_of(audience);
    return d;
  }
  const auto grants = index.grants_of(*pair);

  Decision d;
  d.audience_uri = detail::uri_of(audience);
  const RequestFacts facts(request.context);
  GrantSet applicable(grants.size());
  const bool audience_requires_method = !audience.auth_methods.empty();
  for (std::size_t i = 0; i < grants.size(); ++i) {
    if (!grants[i].conditional && !audience_requires_method && !request.trace) {
      applicable.add(i);
      continue;
    }
    const GrantRule& grant = policy_.grants[grants[i].grant];
    const Failure failure = check(grant, audience, facts);
    if (failure == Failure::kNone) applicable.add(i);
    if (request.trace) {
      d.trace.push_back(
          {grant.name, failure == Failure::kNone, explain(failure, grant, audience, facts)});
    }
  }
  auto names_of = [&](auto&& wanted) {
    std::vector<std::string> names;
    for (std::size_t i = 0; i < grants.size(); ++i) {
      if (wanted(i)) names.push_back(policy_.grants[grants[i].grant].name);
    }
    std::sort(names.begin(), names.end());
    return names;
  };

  if (applicable.empty()) {
    d.reason = DenyReason::kConditionsNotMet;
    for (std::size_t i = 0; i < grants.size(); ++i) {
      const GrantRule& grant = policy_.grants[grants[i].grant];
      if (!d.detail.empty()) d.detail += "; ";
      d.detail += "rule " + grant.name + ": " +
                  explain(check(grant, audience, facts), grant, audience, facts);
    }
    d.rules = names_of([](std::size_t) { return true; });
    return d;
  }

  // Grants `scope` if an applicable grant gives it (and the audience declares it), noting
  // the grants that do and the most generous lifetime among them.
  GrantSet contributed(grants.size());
  std::optional<Seconds> cap;
  auto grant_scope = [&](std::string_view scope) {
    if (!contains_sorted(audience.scopes, scope)) return false;
    bool given = false;
    bool unbounded = false;
    Seconds longest{0};
    for (std::size_t i = 0; i < grants.size(); ++i) {
      const GrantRule& grant = policy_.grants[grants[i].grant];
      if (!applicable.has(i) || !contains_sorted(grant.scopes, scope)) continue;
      given = true;
      contributed.add(i);
      if (grant.max_lifetime) {
        longest = std::max(longest, *grant.max_lifetime);
      } else {
        unbounded = true;
      }
    }
    if (given && !unbounded) cap = cap ? std::min(*cap, longest) : longest;
    return given;
  };

  // For people: why a requested scope was not granted.
  auto why_not_granted = [&](const std::string& scope) {
    const std::string quoted = '"' + scope + '"';
    if (!contains_sorted(audience.scopes, scope)) {
      return "scope " + quoted + " is not a scope of audience " + audience.name;
    }
    for (std::size_t i = 0; i < grants.size(); ++i) {
      const GrantRule& grant = policy_.grants[grants[i].grant];
      if (applicable.has(i) || !contains_sorted(grant.scopes, scope)) continue;
      return "scope " + quoted + " comes only from rule " + grant.name +
             ", which does not apply: " +
             explain(check(grant, audience, facts), grant, audience, facts);
    }
    return "scope " + quoted + " is not granted to " + service.name + " for " + audience.name;
  };

  if (!request.scopes.empty()) {
    bool all_granted = true;
    for (const std::string& scope : request.scopes) all_granted &= grant_scope(scope);
    if (!all_granted) {
      d.reason = DenyReason::kScopeNotGranted;
      std::vector<std::string> requested(request.scopes.begin(), request.scopes.end());
      sort_unique(requested);
      for (const std::string& scope : requested) {
        if (grant_scope(scope)) continue;
        if (!d.detail.empty()) d.detail += "; ";
        d.detail += why_not_granted(scope);
      }
      d.rules = names_of([&](std::size_t i) { return applicable.has(i); });
      return d;
    }
    d.scopes.assign(request.scopes.begin(), request.scopes.end());
    sort_unique(d.scopes);
  } else {
    for (std::size_t i = 0; i < grants.size(); ++i) {
      if (!applicable.has(i)) continue;
      for (const std::string& scope : policy_.grants[grants[i].grant].scopes) {
        if (contains_sorted(audience.scopes, scope)) d.scopes.push_back(scope);
      }
    }
    sort_unique(d.scopes);
    for (const std::string& scope : d.scopes) grant_scope(scope);
  }

  if (const auto audience_cap = audience.lifetime_cap()) {
    cap = cap ? std::min(*cap, *audience_cap) : *audience_cap;
  }
  d.allowed = true;
  d.reason = DenyReason::kNone;
  d.lifetime_cap = cap;
  d.rules = names_of([&](std::size_t i) { return contributed.has(i); });
  return d;
}

Reach CompiledPolicy::reach(std::string_view service) const {
  Reach reach;
  const auto it = index_->services.find(service);
  if (it == index_->services.end()) return reach;
  const std::uint64_t first = pair_key(it->second.index, 0);
  const std::uint64_t last = pair_key(it->second.index, std::numeric_limits<std::uint32_t>::max());
  auto pair = std::lower_bound(index_->pairs.begin(), index_->pairs.end(), first,
                               [](const Index::Pair& p, std::uint64_t key) { return p.key < key; });
  for (; pair != index_->pairs.end() && pair->key <= last; ++pair) {
    const Audience& audience = policy_.audiences[audience_of(pair->key)];
    reach.audiences.push_back(detail::uri_of(audience));
    for (const Index::Filed& filed : index_->grants_of(*pair)) {
      for (const std::string& scope : policy_.grants[filed.grant].scopes) {
        if (contains_sorted(audience.scopes, scope)) reach.scopes.push_back(scope);
      }
    }
  }
  sort_unique(reach.audiences);
  sort_unique(reach.scopes);
  return reach;
}

std::vector<Edge> CompiledPolicy::edges() const {
  std::vector<Edge> edges;
  edges.reserve(index_->pairs.size());
  for (const Index::Pair& pair : index_->pairs) {
    const Audience& audience = policy_.audiences[audience_of(pair.key)];
    Edge edge;
    edge.caller = policy_.services[service_of(pair.key)].name;
    edge.audience = audience.name;
    for (const Index::Filed& filed : index_->grants_of(pair)) {
      const GrantRule& grant = policy_.grants[filed.grant];
      for (const std::string& scope : grant.scopes) {
        if (contains_sorted(audience.scopes, scope)) edge.scopes.push_back(scope);
      }
      edge.rules.push_back(grant.name);
      edge.conditional = edge.conditional || detail::has_conditions(grant.when);
    }
    sort_unique(edge.scopes);
    sort_unique(edge.rules);
    edges.push_back(std::move(edge));
  }
  std::sort(edges.begin(), edges.end(), [](const Edge& x, const Edge& y) {
    return std::tie(x.caller, x.audience) < std::tie(y.caller, y.audience);
  });
  return edges;
}

std::shared_ptr<const CompiledPolicy> PolicyHolder::current() const {
  return current_.load(std::memory_order_acquire);
}

void PolicyHolder::set(std::shared_ptr<const CompiledPolicy> policy) {
  current_.store(std::move(policy), std::memory_order_release);
}

}  // namespace sigil::policy
