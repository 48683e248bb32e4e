#include "oauth/validation.hpp"

#include <gtest/gtest.h>

namespace sigil::oauth {
namespace {

TEST(ValidationTest, ClientIds) {
  for (std::string ok :
       std::vector<std::string>{"a", "0", "billing", "svc.payments-eu_1", std::string(63, 'z')}) {
    EXPECT_TRUE(is_valid_client_id(ok)) << ok;
  }
  for (std::string bad : std::vector<std::string>{"", "A", ".a", "_a", "-a", "a b", "a:b", "a/b",
                                                  "é", std::string(64, 'z')}) {
    EXPECT_FALSE(is_valid_client_id(bad)) << bad;
  }
}

TEST(ValidationTest, ScopeTokens) {
  EXPECT_TRUE(is_valid_scope_token("read"));
  EXPECT_TRUE(is_valid_scope_token("!#[]~:/"));
  EXPECT_FALSE(is_valid_scope_token(""));
  EXPECT_FALSE(is_valid_scope_token("a b"));
  EXPECT_FALSE(is_valid_scope_token("a\"b"));
  EXPECT_FALSE(is_valid_scope_token("a\\b"));
  EXPECT_FALSE(is_valid_scope_token("a\x7f"));
  EXPECT_FALSE(is_valid_scope_token(std::string(257, 'a')));

  EXPECT_EQ(parse_scope("b a b"), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(parse_scope("one"), std::vector<std::string>{"one"});
  EXPECT_FALSE(parse_scope(""));
  EXPECT_FALSE(parse_scope(" a"));
  EXPECT_FALSE(parse_scope("a "));
  EXPECT_FALSE(parse_scope("a  b"));
  EXPECT_EQ(join_scope({"a", "b"}), "a b");
  EXPECT_EQ(join_scope({}), "");
}

TEST(ValidationTest, AudiencesAndResources) {
  EXPECT_TRUE(is_valid_audience("billing"));
  EXPECT_TRUE(is_valid_audience("https://api.example.com/v1"));
  EXPECT_FALSE(is_valid_audience(""));
  EXPECT_FALSE(is_valid_audience("a b"));
  EXPECT_FALSE(is_valid_audience(std::string(2049, 'a')));

  EXPECT_TRUE(is_valid_resource_indicator("https://api.example.com"));
  EXPECT_TRUE(is_valid_resource_indicator("https://api.example.com/v1?tenant=1"));
  EXPECT_TRUE(is_valid_resource_indicator("urn:example:api"));
  EXPECT_FALSE(is_valid_resource_indicator("https://api.example.com/#x"));
  EXPECT_FALSE(is_valid_resource_indicator("api.example.com/v1"));
  EXPECT_FALSE(is_valid_resource_indicator("/v1"));
  EXPECT_FALSE(is_valid_resource_indicator(""));
}

}  // namespace
}  // namespace sigil::oauth
