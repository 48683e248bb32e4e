// Internal to src/policy: how conditions, selectors and lists are written in decision
// details, traces, diffs and the graph, so that every output spells them the same way.
#pragma once

#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "policy/policy.hpp"

namespace sigil::policy::detail {

inline constexpr std::string_view kDayNames[7] = {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"};

template <typename Strings>
std::string join(const Strings& items, std::string_view separator) {
  std::string out;
  for (const auto& item : items) {
    if (!out.empty()) out += separator;
    out += item;
  }
  return out;
}

// "09:05"
inline std::string format_minute(int minute) {
  char text[8];
  std::snprintf(text, sizeof text, "%02d:%02d", (minute / 60) % 100, minute % 60);
  return text;
}

// "Mon,Tue,Wed,Thu,Fri 09:00-17:00 UTC", "every day 22:00-06:00 UTC", "Sat,Sun all day".
inline std::string describe(const TimeWindow& window) {
  std::string days;
  if ((window.days & 0x7f) == 0x7f) {
    days = "every day";
  } else if ((window.days & 0x7f) == 0) {
    days = "no day";
  } else {
    for (int d = 0; d < 7; ++d) {
      if (!((window.days >> d) & 1)) continue;
      if (!days.empty()) days += ',';
      days += kDayNames[d];
    }
  }
  if (window.from_minute == window.to_minute) return days + " all day";
  return days + ' ' + format_minute(window.from_minute) + '-' + format_minute(window.to_minute) +
         " UTC";
}

// "10.0.0.0/8, 192.168.0.0/16"
inline std::string describe(const std::vector<Cidr>& ranges) {
  std::string out;
  for (const auto& range : ranges) {
    if (!out.empty()) out += ", ";
    out += range.text;
  }
  return out;
}

// An exact name as itself; anything else in YAML flow style:
// {name: "video-*", attributes: {team: "video"}, labels: [edge]}.
inline std::string describe(const Selector& selector) {
  if (selector.is_exact_name()) return *selector.name;
  std::vector<std::string> parts;
  if (selector.name) parts.push_back("name: \"" + *selector.name + '"');
  if (!selector.attributes.empty()) {
    std::vector<std::string> attributes;
    for (const auto& [key, value] : selector.attributes) {
      attributes.push_back(key + ": \"" + value + '"');
    }
    parts.push_back("attributes: {" + join(attributes, ", ") + '}');
  }
  if (!selector.labels.empty()) parts.push_back("labels: [" + join(selector.labels, ", ") + ']');
  return '{' + join(parts, ", ") + '}';
}

// True when the grant has any condition on the request.
inline bool has_conditions(const Conditions& when) {
  return !when.source.empty() || !when.auth_methods.empty() || when.time || when.not_before ||
         when.not_after;
}

// The audience's URI: the token's "aud"; its name when the file gives none.
inline const std::string& uri_of(const Audience& audience) {
  return audience.uri.empty() ? audience.name : audience.uri;
}

}  // namespace sigil::policy::detail
