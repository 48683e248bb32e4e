// What changes between two policies, for `sigil plan` and the apply record. Pure.
#pragma once

#include <string>
#include <vector>

#include "policy/policy.hpp"

namespace sigil::policy {

enum class ChangeKind { kAdded, kChanged, kRemoved };
std::string_view to_string(ChangeKind kind);  // "added", "changed", "removed"

struct Change {
  std::string_view what;  // "service", "audience", "grant", "issuer", "issuer rule", "settings"
  std::string name;
  ChangeKind kind = ChangeKind::kChanged;
  // For kChanged: one line per changed field, e.g. "scopes: +analytics:read -analytics:write",
  // "max_lifetime: 1h -> 10m". Empty for kAdded/kRemoved.
  std::vector<std::string> details;
  bool operator==(const Change&) const = default;
};

// Changes from `before` (null: no policy in force, compared as an empty policy with
// default settings) to `after`, services first, then audiences, grants, trusted issuers,
// their rules (matched by name across issuers: a rule that moves shows "issuer: a -> b",
// one that changes place "position: 1 -> 2", since the first match decides), then
// settings (one Change named "settings"), each sorted by name. Declarations are matched
// by name. Descriptions count as changes; line numbers do not. Detail lines name the
// field as the file does ("when.source", "attributes.team", "claims.repository") and show
// values as `before -> after`, "none" for an absent value; list fields show
// "+added -removed". An inline jwks shows only that it changed.
std::vector<Change> diff(const Policy* before, const Policy& after);

}  // namespace sigil::policy
