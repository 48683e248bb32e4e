#include "policy/graph.hpp"

#include <algorithm>
#include <map>
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

// One edge per (issuer, service) pair that a service rule maps, with the rules' names in
// file order; sorted by issuer, then service.
struct IssuerEdge {
  std::string_view issuer;
  std::string_view service;
  std::vector<std::string_view> rules;
};

std::vector<IssuerEdge> issuer_edges(const Policy& policy) {
  std::map<std::pair<std::string_view, std::string_view>, std::vector<std::string_view>> pairs;
  for (const TrustedIssuer& issuer : policy.issuers) {
    for (const IssuerRule& rule : issuer.rules) {
      if (!rule.service.empty()) pairs[{issuer.name, rule.service}].push_back(rule.name);
    }
  }
  std::vector<IssuerEdge> edges;
  edges.reserve(pairs.size());
  for (auto& [key, rules] : pairs) edges.push_back({key.first, key.second, std::move(rules)});
  return edges;
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
  auto issuer_id = [](std::string_view name) { return dot_quoted("issuer:" + std::string(name)); };
  std::string out = "digraph policy {\n  rankdir=LR;\n";
  for (const Service* service : sorted_by_name(policy.policy().services)) {
    out += "  " + service_id(service->name) + " [label=" + dot_quoted(service->name) + "];\n";
  }
  for (const Audience* audience : sorted_by_name(policy.policy().audiences)) {
    out += "  " + audience_id(audience->name) + " [label=" + dot_quoted(audience->name) +
           ", shape=box];\n";
  }
  for (const TrustedIssuer* issuer : sorted_by_name(policy.policy().issuers)) {
    out += "  " + issuer_id(issuer->name) + " [label=" + dot_quoted(issuer->name) +
           ", shape=hexagon];\n";
  }
  for (const Edge& edge : policy.edges()) {
    out += "  " + service_id(edge.caller) + " -> " + audience_id(edge.audience) +
           " [label=" + dot_quoted(detail::join(edge.scopes, ", "));
    if (edge.conditional) out += ", style=dashed";
    out += "];\n";
  }
  for (const IssuerEdge& edge : issuer_edges(policy.policy())) {
    out += "  " + issuer_id(edge.issuer) + " -> " + service_id(edge.service) +
           " [label=" + dot_quoted(detail::join(edge.rules, ", ")) + ", style=dashed];\n";
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
  std::unordered_map<std::string_view, std::string> issuer_ids;
  for (const TrustedIssuer* issuer : sorted_by_name(policy.policy().issuers)) {
    std::string id = 'i' + std::to_string(issuer_ids.size());
    out += "  " + id + "{{" + mermaid_quoted(issuer->name) + "}}\n";
    issuer_ids.emplace(issuer->name, std::move(id));
  }
  for (const Edge& edge : policy.edges()) {
    out += "  " + service_ids.at(edge.caller) + (edge.conditional ? " -.->|" : " -->|") +
           mermaid_quoted(detail::join(edge.scopes, ", ")) + "| " + audience_ids.at(edge.audience) +
           '\n';
  }
  for (const IssuerEdge& edge : issuer_edges(policy.policy())) {
    out += "  " + issuer_ids.at(edge.issuer) + " -.->|" +
           mermaid_quoted(detail::join(edge.rules, ", ")) + "| " + service_ids.at(edge.service) +
           '\n';
  }
  return out;
}

}  // namespace sigil::policy
