// The service graph from the policy: who may call whom, edges labelled with scopes.
// Pure; rendered for Graphviz (DOT) and Mermaid.
#pragma once

#include <string>

#include "policy/engine.hpp"

namespace sigil::policy {

// digraph with one node per service, per audience (boxes) and per trusted issuer
// (hexagons), one edge per (caller, audience) pair labelled with its scopes
// (", "-separated), conditional edges dashed; then one dashed edge per (issuer, service)
// pair that service rules map, labelled with the rules' names (file order). Node ids are
// quoted and escaped, so any name is safe: "service:<name>", "audience:<name>" and
// "issuer:<name>", since a service and an API may share a name. Nodes sorted by name;
// service edges as CompiledPolicy::edges(), issuer edges by issuer, then service.
std::string to_dot(const CompiledPolicy& policy);

// "flowchart LR" with the same nodes and edges; conditional and issuer edges dotted
// (-.->). Node ids s0, s1... (services, rounded), a0, a1... (audiences, boxes) and i0,
// i1... (issuers, hexagons) in name order, with quoted labels; '"', '#', '<', '>' and '&'
// are written as Mermaid entity codes.
std::string to_mermaid(const CompiledPolicy& policy);

}  // namespace sigil::policy
