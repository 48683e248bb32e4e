#include "policy/policy.hpp"

#include <algorithm>
#include <charconv>
#include <limits>

namespace sigil::policy {

std::optional<Seconds> Audience::lifetime_cap() const {
  if (max_lifetime) return max_lifetime;
  if (sensitivity == Sensitivity::kHigh) return kHighSensitivityLifetime;
  return std::nullopt;
}

bool Selector::is_exact_name() const {
  return name && name->find_first_of("*?") == std::string::npos && attributes.empty() &&
         labels.empty();
}

bool IssuerRule::constrains() const {
  const auto registered = [](std::string_view claim) {
    return std::find(std::begin(kRegisteredClaims), std::end(kRegisteredClaims), claim) !=
           std::end(kRegisteredClaims);
  };
  // '*' matches any run and '?' any one character: a pattern of wildcards alone lets in
  // every value (but the empty one), and a list holding one lets in every value too.
  const auto matches_anything = [](std::string_view pattern) {
    return pattern.find_first_not_of("*?") == std::string_view::npos;
  };
  return std::any_of(claims.begin(), claims.end(), [&](const ClaimMatch& m) {
    return !registered(m.claim) && !m.patterns.empty() &&
           std::none_of(m.patterns.begin(), m.patterns.end(), matches_anything);
  });
}

std::string format(const std::vector<Diagnostic>& diagnostics, std::string_view file_name) {
  std::string out;
  for (const auto& d : diagnostics) {
    out += file_name;
    if (d.line > 0) {
      out += ':';
      out += std::to_string(d.line);
    }
    out += ": ";
    out += d.message;
    out += '\n';
  }
  return out;
}

std::optional<Seconds> parse_duration(std::string_view text) {
  std::int64_t unit = 1;  // a plain number is seconds
  if (!text.empty() && (text.back() < '0' || text.back() > '9')) {
    switch (text.back()) {
      case 's':
        unit = 1;
        break;
      case 'm':
        unit = 60;
        break;
      case 'h':
        unit = 3600;
        break;
      case 'd':
        unit = 86400;
        break;
      default:
        return std::nullopt;
    }
    text.remove_suffix(1);
  }
  // Digits only: from_chars would take a leading '-', and a '+' or a space is not a form
  // anyone writes on purpose.
  if (text.empty() || text.size() > 18 ||
      !std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return std::nullopt;
  }
  std::int64_t count = 0;
  std::from_chars(text.data(), text.data() + text.size(), count);
  if (count == 0 || count > std::numeric_limits<std::int64_t>::max() / unit) return std::nullopt;
  return Seconds{count * unit};
}

std::string format_duration(Seconds d) {
  const std::int64_t s = d.count();
  if (s != 0 && s % 86400 == 0) return std::to_string(s / 86400) + "d";
  if (s != 0 && s % 3600 == 0) return std::to_string(s / 3600) + "h";
  if (s != 0 && s % 60 == 0) return std::to_string(s / 60) + "m";
  return std::to_string(s) + "s";
}

bool glob_match(std::string_view pattern, std::string_view text) {
  // Greedy matching with one backtrack point: the most recent '*'. An earlier star never
  // needs revisiting, because the later one can absorb whatever the earlier would have, so
  // the cost is O(pattern * text) at worst, never exponential ("a*a*a*a*b" against
  // "aaaa...").
  std::size_t p = 0;
  std::size_t t = 0;
  std::size_t star = std::string_view::npos;  // position of the last '*' seen in pattern
  std::size_t resume = 0;                     // where in text that star's match ends
  while (t < text.size()) {
    if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      resume = t;
    } else if (p < pattern.size() && (pattern[p] == '?' || pattern[p] == text[t])) {
      ++p;
      ++t;
    } else if (star != std::string_view::npos) {
      // Let the last star take one more character and go on from there.
      p = star + 1;
      t = ++resume;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

namespace {

bool attributes_match(const std::map<std::string, std::string>& wanted,
                      const std::map<std::string, std::string>& have) {
  return std::all_of(wanted.begin(), wanted.end(), [&](const auto& entry) {
    const auto it = have.find(entry.first);
    return it != have.end() && glob_match(entry.second, it->second);
  });
}

}  // namespace

bool is_valid_dns_name(std::string_view name) {
  if (name.empty() || name.size() > 253) return false;
  std::size_t start = 0;
  while (true) {
    const std::size_t end = name.find('.', start);
    const std::string_view label =
        name.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') {
      return false;
    }
    const bool ldh = std::all_of(label.begin(), label.end(), [](char c) {
      return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
    });
    if (!ldh) return false;
    if (end == std::string_view::npos) return true;
    start = end + 1;
  }
}

bool matches(const Selector& selector, const Service& service) {
  if (selector.name && !glob_match(*selector.name, service.name)) return false;
  if (!attributes_match(selector.attributes, service.attributes)) return false;
  return std::all_of(selector.labels.begin(), selector.labels.end(), [&](const std::string& l) {
    return std::find(service.labels.begin(), service.labels.end(), l) != service.labels.end();
  });
}

bool matches(const Selector& selector, const Audience& audience) {
  // Audiences have no labels: a selector asking for some can match none (and is refused by
  // validation).
  if (!selector.labels.empty()) return false;
  if (selector.name && !glob_match(*selector.name, audience.name)) return false;
  return attributes_match(selector.attributes, audience.attributes);
}

std::string_view to_string(Sensitivity sensitivity) {
  switch (sensitivity) {
    case Sensitivity::kLow:
      return "low";
    case Sensitivity::kMedium:
      return "medium";
    case Sensitivity::kHigh:
      return "high";
  }
  return "medium";
}

}  // namespace sigil::policy
