#include "policy/graph.hpp"

#include <gtest/gtest.h>

namespace sigil::policy {
namespace {

Selector named(std::string name) {
  Selector s;
  s.name = std::move(name);
  return s;
}

GrantRule grant(std::string name, std::string caller, std::string target,
                std::vector<std::string> scopes) {
  GrantRule g;
  g.name = std::move(name);
  g.caller = named(std::move(caller));
  g.audience = named(std::move(target));
  g.scopes = std::move(scopes);
  return g;
}

// A service that is also an API, a conditional edge, and an audience whose name and scope
// need escaping in both formats.
std::shared_ptr<const CompiledPolicy> small_policy() {
  Policy p;
  for (std::string name : {"video-service", "notification-worker", "analytics-service"}) {
    Service s;
    s.name = name;
    p.services.push_back(s);
  }
  for (auto [name, scopes] : std::vector<std::pair<std::string, std::vector<std::string>>>{
           {"social", {"social:read"}},
           {"analytics-service", {"analytics:read", "analytics:write"}},
           {"q\"a\\b", {"x#<y>&z"}}}) {
    Audience a;
    a.name = name;
    a.scopes = scopes;
    p.audiences.push_back(a);
  }
  p.grants = {grant("video-analytics", "video-service", "analytics-service",
                    {"analytics:read", "analytics:write"}),
              grant("notify-social", "notification-worker", "social", {"social:read"}),
              grant("odd", "video-service", "q\"a\\b", {"x#<y>&z"})};
  p.grants[1].when.source = {*parse_cidr("10.0.0.0/8")};
  auto compiled = CompiledPolicy::compile(std::move(p));
  EXPECT_TRUE(compiled);
  return *compiled;
}

TEST(GraphTest, Dot) {
  EXPECT_EQ(to_dot(*small_policy()),
            R"(digraph policy {
  rankdir=LR;
  "service:analytics-service" [label="analytics-service"];
  "service:notification-worker" [label="notification-worker"];
  "service:video-service" [label="video-service"];
  "audience:analytics-service" [label="analytics-service", shape=box];
  "audience:q\"a\\b" [label="q\"a\\b", shape=box];
  "audience:social" [label="social", shape=box];
  "service:notification-worker" -> "audience:social" [label="social:read", style=dashed];
  "service:video-service" -> "audience:analytics-service" [label="analytics:read, analytics:write"];
  "service:video-service" -> "audience:q\"a\\b" [label="x#<y>&z"];
}
)");
}

TEST(GraphTest, Mermaid) {
  EXPECT_EQ(to_mermaid(*small_policy()),
            R"(flowchart LR
  s0("analytics-service")
  s1("notification-worker")
  s2("video-service")
  a0["analytics-service"]
  a1["q#quot;a\b"]
  a2["social"]
  s1 -.->|"social:read"| a2
  s2 -->|"analytics:read, analytics:write"| a0
  s2 -->|"x#35;#lt;y#gt;#amp;z"| a1
)");
}

TEST(GraphTest, EmptyPolicy) {
  auto compiled = CompiledPolicy::compile(Policy{});
  ASSERT_TRUE(compiled);
  EXPECT_EQ(to_dot(**compiled), "digraph policy {\n  rankdir=LR;\n}\n");
  EXPECT_EQ(to_mermaid(**compiled), "flowchart LR\n");
}

// Two issuers: GitHub maps two rules to one service and one to another; the cluster's
// only rule is for people, which draws no edge.
std::shared_ptr<const CompiledPolicy> federated_policy() {
  Policy p;
  for (std::string name : {"deploy", "web-ci"}) {
    Service s;
    s.name = name;
    p.services.push_back(s);
  }
  const auto rule = [](std::string name, std::string service, bool user = false) {
    IssuerRule r;
    r.name = std::move(name);
    r.claims = {{.claim = "repository", .patterns = {"acme/*"}}};
    r.service = std::move(service);
    r.user = user;
    return r;
  };
  TrustedIssuer github;
  github.name = "github";
  github.issuer = "https://token.actions.githubusercontent.com";
  github.audience = "sigil";
  github.rules = {rule("main", "deploy"), rule("web\"#1", "web-ci"), rule("tags", "deploy")};
  TrustedIssuer cluster;
  cluster.name = "cluster";
  cluster.issuer = "https://kubernetes.default.svc";
  cluster.audience = "sigil";
  cluster.rules = {rule("people", "", true)};
  p.issuers = {github, cluster};
  auto compiled = CompiledPolicy::compile(std::move(p));
  EXPECT_TRUE(compiled) << (compiled ? "" : compiled.error().message);
  return *compiled;
}

TEST(GraphTest, IssuersDot) {
  EXPECT_EQ(to_dot(*federated_policy()),
            R"(digraph policy {
  rankdir=LR;
  "service:deploy" [label="deploy"];
  "service:web-ci" [label="web-ci"];
  "issuer:cluster" [label="cluster", shape=hexagon];
  "issuer:github" [label="github", shape=hexagon];
  "issuer:github" -> "service:deploy" [label="main, tags", style=dashed];
  "issuer:github" -> "service:web-ci" [label="web\"#1", style=dashed];
}
)");
}

TEST(GraphTest, IssuersMermaid) {
  EXPECT_EQ(to_mermaid(*federated_policy()),
            R"(flowchart LR
  s0("deploy")
  s1("web-ci")
  i0{{"cluster"}}
  i1{{"github"}}
  i1 -.->|"main, tags"| s0
  i1 -.->|"web#quot;#35;1"| s1
)");
}

}  // namespace
}  // namespace sigil::policy
