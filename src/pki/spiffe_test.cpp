#include "pki/spiffe.hpp"

#include <gtest/gtest.h>

#include <string>

namespace sigil::pki {
namespace {

TEST(SpiffeId, AcceptsValidIds) {
  const char* valid[] = {
      "spiffe://example.org",
      "spiffe://example.org/workload",
      "spiffe://example.org/ns/prod/sa/payments",
      "spiffe://k8s-west.example.com/a_b/C-D/e.f",
      "spiffe://td_1.example/9eebccd2-12bf-40a6-b262-65fe0487d453",
      "spiffe://a/...",  // only exactly "." and ".." are dot segments
      "spiffe://a/.hidden",
  };
  for (const char* text : valid) {
    auto id = SpiffeId::parse(text);
    ASSERT_TRUE(id.has_value()) << text << ": " << id.error().message;
    EXPECT_EQ(id->str(), text);
  }
}

TEST(SpiffeId, SplitsTrustDomainAndPath) {
  auto id = SpiffeId::parse("spiffe://example.org/ns/prod");
  ASSERT_TRUE(id.has_value());
  EXPECT_EQ(id->trust_domain().name(), "example.org");
  EXPECT_EQ(id->path(), "/ns/prod");
  EXPECT_FALSE(id->is_trust_domain_id());
  auto td = TrustDomain::parse("example.org");
  ASSERT_TRUE(td.has_value());
  EXPECT_TRUE(id->member_of(*td));
  EXPECT_FALSE(id->member_of(*TrustDomain::parse("example.com")));
  EXPECT_TRUE(SpiffeId::parse("spiffe://example.org")->is_trust_domain_id());
}

TEST(SpiffeId, RefusesInvalidIds) {
  struct Case {
    std::string text;
    const char* reason;
  };
  const Case invalid[] = {
      {"", "scheme"},
      {"example.org/workload", "scheme"},
      {"http://example.org/workload", "scheme"},
      {"SPIFFE://example.org/workload", "scheme"},
      {"spiffe:/example.org/workload", "scheme"},
      {"spiffe://", "empty"},
      {"spiffe:///workload", "empty"},
      {"spiffe://Example.org/workload", "lowercase"},
      {"spiffe://example.org:8443/workload", "port"},
      {"spiffe://user@example.org/workload", "userinfo"},
      {"spiffe://exa%41mple.org/workload", "percent"},
      {"spiffe://exa mple.org/workload", "[a-z0-9.-_]"},
      {"spiffe://example.org?x=1", "query"},
      {"spiffe://example.org#frag", "fragment"},
      {"spiffe://example.org/workload?x=1", "query"},
      {"spiffe://example.org/workload#frag", "fragment"},
      {"spiffe://example.org/", "ends with"},
      {"spiffe://example.org/workload/", "ends with"},
      {"spiffe://example.org//workload", "empty segment"},
      {"spiffe://example.org/a/./b", "'.'"},
      {"spiffe://example.org/a/../b", "'..'"},
      {"spiffe://example.org/..", "'..'"},
      {"spiffe://example.org/a%2Fb", "percent"},
      {"spiffe://example.org/a b", "[A-Za-z0-9.-_]"},
      {"spiffe://example.org/caf\xc3\xa9", "[A-Za-z0-9.-_]"},
      {"spiffe://example.org/a\\b", "[A-Za-z0-9.-_]"},
      {"spiffe://" + std::string(256, 'a') + "/w", "255"},
      {"spiffe://example.org/" + std::string(2048, 'a'), "2048"},
  };
  for (const auto& c : invalid) {
    auto id = SpiffeId::parse(c.text);
    ASSERT_FALSE(id.has_value()) << c.text;
    EXPECT_EQ(id.error().code, Code::kInvalidArgument) << c.text;
    EXPECT_NE(id.error().message.find(c.reason), std::string::npos)
        << c.text << " -> " << id.error().message;
  }
}

TEST(SpiffeId, LengthLimitIsInclusive) {
  std::string prefix = "spiffe://example.org/";
  std::string at_limit = prefix + std::string(kMaxSpiffeIdBytes - prefix.size(), 'a');
  EXPECT_TRUE(SpiffeId::parse(at_limit).has_value());
  EXPECT_FALSE(SpiffeId::parse(at_limit + "a").has_value());
  std::string td255(kMaxTrustDomainBytes, 'a');
  EXPECT_TRUE(TrustDomain::parse(td255).has_value());
}

TEST(TrustDomain, ParsesNamesAndIds) {
  auto td = TrustDomain::parse("example.org");
  ASSERT_TRUE(td.has_value());
  EXPECT_EQ(td->id_string(), "spiffe://example.org");
  auto from_id = TrustDomain::parse("spiffe://example.org");
  ASSERT_TRUE(from_id.has_value());
  EXPECT_EQ(*from_id, *td);

  EXPECT_FALSE(TrustDomain::parse("").has_value());
  EXPECT_FALSE(TrustDomain::parse("Example.org").has_value());
  EXPECT_FALSE(TrustDomain::parse("example.org:443").has_value());
  EXPECT_FALSE(TrustDomain::parse("example.org/path").has_value());
  EXPECT_FALSE(TrustDomain::parse("spiffe://example.org/workload").has_value());
  EXPECT_FALSE(TrustDomain::parse("https://example.org").has_value());
}

TEST(TrustDomain, BuildsIdsWithCheckedPaths) {
  auto td = TrustDomain::parse("example.org");
  ASSERT_TRUE(td.has_value());
  auto id = td->id("/ns/prod/sa/payments");
  ASSERT_TRUE(id.has_value());
  EXPECT_EQ(id->str(), "spiffe://example.org/ns/prod/sa/payments");
  EXPECT_EQ(*id, *SpiffeId::parse("spiffe://example.org/ns/prod/sa/payments"));
  EXPECT_TRUE(td->id("")->is_trust_domain_id());
  EXPECT_FALSE(td->id("ns").has_value());
  EXPECT_FALSE(td->id("/ns/").has_value());
  EXPECT_FALSE(td->id("/ns/../admin").has_value());
  EXPECT_FALSE(td->id("/" + std::string(2048, 'a')).has_value());
}

}  // namespace
}  // namespace sigil::pki
