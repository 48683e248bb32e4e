#include "policy/diff.hpp"

#include <algorithm>
#include <iterator>
#include <map>
#include <optional>
#include <string_view>

#include "policy/describe.hpp"

namespace sigil::policy {

namespace {

std::string quoted(std::string_view text) {
  return '"' + std::string(text) + '"';
}

std::string text_of(const std::optional<Seconds>& d) {
  return d ? format_duration(*d) : "none";
}
std::string text_of(const std::optional<TimePoint>& t) {
  return t ? to_rfc3339(*t) : "none";
}
std::string text_of(const std::optional<TimeWindow>& w) {
  return w ? detail::describe(*w) : "none";
}
std::string text_of(const std::string& value) {
  return value.empty() ? "none" : value;
}
std::string text_of(bool value) {
  return value ? "true" : "false";
}

bool same_window(const std::optional<TimeWindow>& x, const std::optional<TimeWindow>& y) {
  if (!x || !y) return !x && !y;
  return x->days == y->days && x->from_minute == y->from_minute && x->to_minute == y->to_minute;
}

bool same_selector(const Selector& x, const Selector& y) {
  return x.name == y.name && x.attributes == y.attributes && x.labels == y.labels;
}

std::vector<std::string> texts_of(const std::vector<Cidr>& ranges) {
  std::vector<std::string> texts;
  for (const auto& range : ranges) texts.push_back(range.text);
  return texts;
}

// Collects the field-level differences of one declaration, in a fixed field order.
class FieldDiff {
 public:
  void value(std::string_view field, const std::string& before, const std::string& after) {
    if (before != after) lines_.push_back(std::string(field) + ": " + before + " -> " + after);
  }

  // "jwks: other keys": a change told rather than shown.
  void note(std::string_view field, std::string_view text) {
    lines_.push_back(std::string(field) + ": " + std::string(text));
  }

  // "scopes: +a +b -c": what was added, then what was removed, each sorted.
  void set(std::string_view field, std::vector<std::string> before,
           std::vector<std::string> after) {
    std::sort(before.begin(), before.end());
    std::sort(after.begin(), after.end());
    before.erase(std::unique(before.begin(), before.end()), before.end());
    after.erase(std::unique(after.begin(), after.end()), after.end());
    std::vector<std::string> added;
    std::vector<std::string> removed;
    std::set_difference(after.begin(), after.end(), before.begin(), before.end(),
                        std::back_inserter(added));
    std::set_difference(before.begin(), before.end(), after.begin(), after.end(),
                        std::back_inserter(removed));
    if (added.empty() && removed.empty()) return;
    std::string line(field);
    line += ':';
    for (const auto& item : added) line += " +" + item;
    for (const auto& item : removed) line += " -" + item;
    lines_.push_back(std::move(line));
  }

  // One line per attribute that changed: "attributes.team: "video" -> "payments"". With
  // quote_values false the values are shown as they are.
  void map(std::string_view field, const std::map<std::string, std::string>& before,
           const std::map<std::string, std::string>& after, bool quote_values = true) {
    const auto show = [quote_values](const std::string& value) {
      return quote_values ? quoted(value) : value;
    };
    auto b = before.begin();
    auto a = after.begin();
    while (b != before.end() || a != after.end()) {
      const std::string prefix = std::string(field) + '.';
      if (a == after.end() || (b != before.end() && b->first < a->first)) {
        lines_.push_back(prefix + b->first + ": " + show(b->second) + " -> none");
        ++b;
      } else if (b == before.end() || a->first < b->first) {
        lines_.push_back(prefix + a->first + ": none -> " + show(a->second));
        ++a;
      } else {
        if (b->second != a->second) {
          lines_.push_back(prefix + a->first + ": " + show(b->second) + " -> " + show(a->second));
        }
        ++a;
        ++b;
      }
    }
  }

  std::vector<std::string> take() { return std::move(lines_); }

 private:
  std::vector<std::string> lines_;
};

std::vector<std::string> compare(const Service& before, const Service& after) {
  FieldDiff d;
  d.value("description", quoted(before.description), quoted(after.description));
  d.map("attributes", before.attributes, after.attributes);
  d.set("labels", before.labels, after.labels);
  d.set("auth_methods", before.auth_methods, after.auth_methods);
  d.value("jwks_uri", text_of(before.jwks_uri), text_of(after.jwks_uri));
  // Compiled policies fill the default path in; one built in code may leave it empty.
  const auto spiffe_path = [](const Service& s) {
    return s.certificate.spiffe_path.empty() ? "/" + s.name : s.certificate.spiffe_path;
  };
  d.value("certificate.spiffe_path", spiffe_path(before), spiffe_path(after));
  d.set("certificate.dns_names", before.certificate.dns_names, after.certificate.dns_names);
  d.value("certificate.lifetime", format_duration(before.certificate.lifetime),
          format_duration(after.certificate.lifetime));
  return d.take();
}

std::vector<std::string> compare(const Audience& before, const Audience& after) {
  FieldDiff d;
  d.value("description", quoted(before.description), quoted(after.description));
  d.value("uri", detail::uri_of(before), detail::uri_of(after));
  d.set("scopes", before.scopes, after.scopes);
  d.value("sensitivity", std::string(to_string(before.sensitivity)),
          std::string(to_string(after.sensitivity)));
  d.value("max_lifetime", text_of(before.max_lifetime), text_of(after.max_lifetime));
  d.map("attributes", before.attributes, after.attributes);
  d.set("auth_methods", before.auth_methods, after.auth_methods);
  d.value("require_mtls", text_of(before.require_mtls), text_of(after.require_mtls));
  return d.take();
}

std::vector<std::string> compare(const GrantRule& before, const GrantRule& after) {
  FieldDiff d;
  d.value("description", quoted(before.description), quoted(after.description));
  if (!same_selector(before.caller, after.caller)) {
    d.value("caller", detail::describe(before.caller), detail::describe(after.caller));
  }
  if (!same_selector(before.audience, after.audience)) {
    d.value("audience", detail::describe(before.audience), detail::describe(after.audience));
  }
  d.set("scopes", before.scopes, after.scopes);
  d.value("max_lifetime", text_of(before.max_lifetime), text_of(after.max_lifetime));
  d.set("when.source", texts_of(before.when.source), texts_of(after.when.source));
  d.set("when.auth_methods", before.when.auth_methods, after.when.auth_methods);
  if (!same_window(before.when.time, after.when.time)) {
    d.value("when.time", text_of(before.when.time), text_of(after.when.time));
  }
  d.value("when.not_before", text_of(before.when.not_before), text_of(after.when.not_before));
  d.value("when.not_after", text_of(before.when.not_after), text_of(after.when.not_after));
  d.value("impersonation", text_of(before.impersonation), text_of(after.impersonation));
  return d.take();
}

std::vector<std::string> compare(const TrustedIssuer& before, const TrustedIssuer& after) {
  FieldDiff d;
  d.value("issuer", before.issuer, after.issuer);
  d.value("audience", before.audience, after.audience);
  // A key set is too long for a line; that it changed is what a reviewer needs to see.
  if (!before.jwks.empty() && !after.jwks.empty()) {
    if (before.jwks != after.jwks) d.note("jwks", "other keys");
  } else {
    d.value("jwks", before.jwks.empty() ? "none" : "given", after.jwks.empty() ? "none" : "given");
  }
  d.value("jwks_uri", text_of(before.jwks_uri), text_of(after.jwks_uri));
  d.set("algorithms", before.algorithms, after.algorithms);
  d.value("reuse", text_of(before.reuse), text_of(after.reuse));
  return d.take();
}

// A rule together with where it stands: which issuer's, and its place among that
// issuer's rules (the first rule that matches decides).
struct PlacedRule {
  std::string name;
  std::string issuer;
  std::size_t position = 0;  // 1-based
  const IssuerRule* rule = nullptr;
};

std::vector<PlacedRule> rules_of(const std::vector<TrustedIssuer>& issuers) {
  std::vector<PlacedRule> out;
  for (const TrustedIssuer& issuer : issuers) {
    for (std::size_t i = 0; i < issuer.rules.size(); ++i) {
      out.push_back({issuer.rules[i].name, issuer.name, i + 1, &issuer.rules[i]});
    }
  }
  return out;
}

// acme/* or ["acme/web", "acme/api"]
std::map<std::string, std::string> patterns_of(const IssuerRule& rule) {
  std::map<std::string, std::string> out;
  for (const ClaimMatch& match : rule.claims) {
    std::string text;
    if (match.patterns.size() == 1) {
      text = quoted(match.patterns.front());
    } else {
      std::vector<std::string> items;
      for (const auto& pattern : match.patterns) items.push_back(quoted(pattern));
      text = '[' + detail::join(items, ", ") + ']';
    }
    out.emplace(match.claim, std::move(text));
  }
  return out;
}

std::vector<std::string> compare(const PlacedRule& before, const PlacedRule& after) {
  FieldDiff d;
  d.value("issuer", before.issuer, after.issuer);
  d.value("position", std::to_string(before.position), std::to_string(after.position));
  d.map("claims", patterns_of(*before.rule), patterns_of(*after.rule), /*quote_values=*/false);
  d.value("service", text_of(before.rule->service), text_of(after.rule->service));
  d.value("user", text_of(before.rule->user), text_of(after.rule->user));
  return d.take();
}

std::vector<std::string> compare(const Policy& before, const Policy& after) {
  FieldDiff d;
  d.value("version", std::to_string(before.version), std::to_string(after.version));
  d.value("environment_attribute", quoted(before.settings.environment_attribute),
          quoted(after.settings.environment_attribute));
  d.value("default_lifetime", text_of(before.settings.default_lifetime),
          text_of(after.settings.default_lifetime));
  return d.take();
}

// Adds the changes between two lists of declarations keyed by name, sorted by name.
template <typename Item>
void diff_named(std::string_view what, const std::vector<Item>& before,
                const std::vector<Item>& after, std::vector<Change>& out) {
  std::map<std::string_view, const Item*> old_items;
  std::map<std::string_view, const Item*> new_items;
  for (const Item& item : before) old_items.emplace(item.name, &item);
  for (const Item& item : after) new_items.emplace(item.name, &item);
  auto b = old_items.begin();
  auto a = new_items.begin();
  while (b != old_items.end() || a != new_items.end()) {
    if (a == new_items.end() || (b != old_items.end() && b->first < a->first)) {
      out.push_back({what, std::string(b->first), ChangeKind::kRemoved, {}});
      ++b;
    } else if (b == old_items.end() || a->first < b->first) {
      out.push_back({what, std::string(a->first), ChangeKind::kAdded, {}});
      ++a;
    } else {
      auto details = compare(*b->second, *a->second);
      if (!details.empty()) {
        out.push_back({what, std::string(a->first), ChangeKind::kChanged, std::move(details)});
      }
      ++a;
      ++b;
    }
  }
}

}  // namespace

std::string_view to_string(ChangeKind kind) {
  switch (kind) {
    case ChangeKind::kAdded:
      return "added";
    case ChangeKind::kChanged:
      return "changed";
    case ChangeKind::kRemoved:
      return "removed";
  }
  return "";
}

std::vector<Change> diff(const Policy* before, const Policy& after) {
  const Policy none;
  const Policy& old_policy = before ? *before : none;
  std::vector<Change> changes;
  diff_named("service", old_policy.services, after.services, changes);
  diff_named("audience", old_policy.audiences, after.audiences, changes);
  diff_named("grant", old_policy.grants, after.grants, changes);
  diff_named("issuer", old_policy.issuers, after.issuers, changes);
  diff_named("issuer rule", rules_of(old_policy.issuers), rules_of(after.issuers), changes);
  if (auto details = compare(old_policy, after); !details.empty()) {
    changes.push_back({"settings", "settings", ChangeKind::kChanged, std::move(details)});
  }
  return changes;
}

}  // namespace sigil::policy
