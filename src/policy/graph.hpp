// The service graph from the policy: who may call whom, edges labelled with scopes.
// Pure; rendered for Graphviz (DOT) and Mermaid.
#pragma once

#include <string>

#include "policy/engine.hpp"

namespace sigil::policy {

// digraph with one node per service and per audience (audiences as boxes), one edge per
// (caller, audience) pair labelled with its scopes (", "-separated); conditional edges
// dashed. Node ids are quoted and escaped, so any name is safe: "service:<name>" and
// "audience:<name>", since a service and an API may share a name. Nodes sorted by name,
// edges as CompiledPolicy::edges().
std::string to_dot(const CompiledPolicy& policy);

// "flowchart LR" with the same nodes and edges; conditional edges dotted (-.->). Node ids
// s0, s1... (services, rounded) and a0, a1... (audiences, boxes) in name order, with
// quoted labels; '"', '#', '<', '>' and '&' are written as Mermaid entity codes.
std::string to_mermaid(const CompiledPolicy& policy);

}  // namespace sigil::policy
