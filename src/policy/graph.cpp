#include "policy/graph.hpp"

#include <algorithm>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "policy/describe.hpp"

namespace sigil::policy {

namespace {

// Names in declaration order would make the output move when the file is reordered;
// sorted, the graph changes only when the policy does.
template <typename Item>
std::vector<const Item*> sorted_by_name(const std::vector<Item>& items) {
  std::vector<const Item*> sorted;
  sorted.reserve(items.size());
  for (const Item& item : items) sorted.push_back(&item);
  std::sort(sorted.begin(), sorted.end(),
            [](const Item* x, const Item* y) { return x->name < y->name; });
  return sorted;
}

// A DOT quoted string (the quotes included). Backslash starts an escape in DOT labels
// (\n, \l, \N...), so it is doubled; line breaks become \n.
std::string dot_quoted(std::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        break;
      default:
        out += c;
    }
  }
  out += '"';
  return out;
}

// A Mermaid quoted label (the quotes included). Mermaid has no backslash escapes: a quote
// ends the label and '#' starts an entity code, so both are written as entity codes, and
// so are '<', '>' and '&', which HTML labels would otherwise interpret.
std::string mermaid_quoted(std::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    switch (c) {
      case '"':
        out += "#quot;";
        break;
      case '#':
        out += "#35;";
        break;
      case '<':
        out += "#lt;";
        break;
      case '>':
        out += "#gt;";
        break;
      case '&':
        out += "#amp;";
        break;
      case '\n':
      case '\r':
        out += ' ';
        break;
      default:
        out += c;
    }
  }
  out += '"';
  return out;
}

}  // namespace

std::string to_dot(const CompiledPolicy& policy) {
  // Services and audiences may share a name (a service that is also an API), so their
  // node ids carry the kind.
  auto service_id = [](std::string_view name) {
    return dot_quoted("service:" + std::string(name));
  };
  auto audience_id = [](std::string_view name) {
    return dot_quoted("audience:" + std::string(name));
  };
  std::string out = "digraph policy {\n  rankdir=LR;\n";
  for (const Service* service : sorted_by_name(policy.policy().services)) {
    out += "  " + service_id(service->name) + " [label=" + dot_quoted(service->name) + "];\n";
  }
  for (const Audience* audience : sorted_by_name(policy.policy().audiences)) {
    out += "  " + audience_id(audience->name) + " [label=" + dot_quoted(audience->name) +
           ", shape=box];\n";
  }
  for (const Edge& edge : policy.edges()) {
    out += "  " + service_id(edge.caller) + " -> " + audience_id(edge.audience) +
           " [label=" + dot_quoted(detail::join(edge.scopes, ", "));
    if (edge.conditional) out += ", style=dashed";
    out += "];\n";
  }
  out += "}\n";
  return out;
}

std::string to_mermaid(const CompiledPolicy& policy) {
  std::string out = "flowchart LR\n";
  std::unordered_map<std::string_view, std::string> service_ids;
  std::unordered_map<std::string_view, std::string> audience_ids;
  for (const Service* service : sorted_by_name(policy.policy().services)) {
    std::string id = 's' + std::to_string(service_ids.size());
    out += "  " + id + '(' + mermaid_quoted(service->name) + ")\n";
    service_ids.emplace(service->name, std::move(id));
  }
  for (const Audience* audience : sorted_by_name(policy.policy().audiences)) {
    std::string id = 'a' + std::to_string(audience_ids.size());
    out += "  " + id + '[' + mermaid_quoted(audience->name) + "]\n";
    audience_ids.emplace(audience->name, std::move(id));
  }
  for (const Edge& edge : policy.edges()) {
    out += "  " + service_ids.at(edge.caller) + (edge.conditional ? " -.->|" : " -->|") +
           mermaid_quoted(detail::join(edge.scopes, ", ")) + "| " + audience_ids.at(edge.audience) +
           '\n';
  }
  return out;
}

}  // namespace sigil::policy
