#include "apikeys/key_format.hpp"

#include <gtest/gtest.h>

// GCC 12 reports a false -Wmaybe-uninitialized inside <regex> in sanitizer builds.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <regex>
#include <set>
#include <string>

#include "apikeys/crc32.hpp"

namespace sigil::apikeys {
namespace {

constexpr std::string_view kAlphabet =
    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

TEST(Crc32, KnownVectors) {
  EXPECT_EQ(crc32(""), 0x00000000u);
  EXPECT_EQ(crc32("123456789"), 0xCBF43926u);
  EXPECT_EQ(crc32("a"), 0xE8B7BE43u);
  EXPECT_EQ(crc32("The quick brown fox jumps over the lazy dog"), 0x414FA339u);
}

TEST(Prefix, Shape) {
  for (std::string_view ok : {"sk", "sk_live", "a", "a1_b2", "abcdefghijklmnop_0123456789abcdef"}) {
    EXPECT_TRUE(is_valid_prefix(ok)) << ok;
  }
  for (std::string_view bad : {"", "_", "sk_", "_live", "1sk", "Sk", "sk_live_x", "sk-live",
                               "abcdefghijklmnopq", "sk_0123456789abcdefg", "sk live"}) {
    EXPECT_FALSE(is_valid_prefix(bad)) << bad;
  }
}

TEST(KeyFormat, RoundTrip) {
  for (std::string_view prefix : {"sk", "sk_live", "abcdefghijklmnop_0123456789abcdef"}) {
    const std::string key = generate_key(prefix);
    ASSERT_EQ(key.size(), prefix.size() + 1 + kRandomChars + kChecksumChars);
    auto parsed = parse_key(key);
    ASSERT_TRUE(parsed.has_value()) << key;
    EXPECT_EQ(parsed->prefix, prefix);
    EXPECT_EQ(parsed->random, std::string_view(key).substr(prefix.size() + 1, kRandomChars));
    EXPECT_EQ(key_start(key), std::string(prefix) + "_" + key.substr(prefix.size() + 1, 4));
  }
}

TEST(KeyFormat, KeysDiffer) {
  std::set<std::string> seen;
  for (int i = 0; i < 200; ++i) seen.insert(generate_key("sk_test"));
  EXPECT_EQ(seen.size(), 200u);
}

TEST(KeyFormat, RandomPartUsesTheWholeWidth) {
  // 2^256 - 1 is "yhjskwdA6OZ1AL1YmHWZWm8LLG7HjnuCA2j5rOw8Xp1" in base62: the first digit is at
  // most 'y'; every other digit takes any value.
  std::set<char> last;
  for (int i = 0; i < 200; ++i) {
    const std::string key = generate_key("sk");
    EXPECT_LE(key[3], 'y');
    last.insert(key[3 + kRandomChars - 1]);
  }
  EXPECT_GT(last.size(), 40u);
}

TEST(KeyFormat, DocumentedRegexMatchesGeneratedKeys) {
  const std::regex pattern(R"(\b[a-z][a-z0-9]{0,15}(?:_[a-z0-9]{1,16})?_[0-9A-Za-z]{49}\b)");
  for (std::string_view prefix :
       {"sk", "sk_live", "pk_test", "abcdefghijklmnop_0123456789abcdef"}) {
    for (int i = 0; i < 20; ++i) {
      const std::string key = generate_key(prefix);
      EXPECT_TRUE(std::regex_match(key, pattern)) << key;
      std::smatch m;
      const std::string text = "token=" + key + " ";
      ASSERT_TRUE(std::regex_search(text, m, pattern));
      EXPECT_EQ(m.str(), key);
    }
  }
}

TEST(KeyFormat, EverySingleCharacterChangeIsCaught) {
  const std::string key = generate_key("sk_live");
  ASSERT_TRUE(parse_key(key).has_value());
  std::string replacements(kAlphabet);
  replacements += "_-. \x7F";
  replacements.push_back('\0');
  replacements.push_back('\xff');
  int checksum_failures = 0;
  for (std::size_t i = 0; i < key.size(); ++i) {
    for (char c : replacements) {
      if (c == key[i]) continue;
      std::string changed = key;
      changed[i] = c;
      auto parsed = parse_key(changed);
      ASSERT_FALSE(parsed.has_value()) << "position " << i << " char " << int(c);
      if (parsed.error() == FormatError::kBadChecksum) ++checksum_failures;
    }
  }
  // Most changes keep the shape and are caught by the checksum alone.
  EXPECT_GT(checksum_failures, 3000);
}

TEST(KeyFormat, MalformedAndBadChecksumAreToldApart) {
  const std::string key = generate_key("sk_live");
  EXPECT_EQ(parse_key("").error(), FormatError::kMalformed);
  EXPECT_EQ(parse_key("sk_live").error(), FormatError::kMalformed);
  EXPECT_EQ(parse_key(key.substr(0, key.size() - 1)).error(), FormatError::kMalformed);
  EXPECT_EQ(parse_key(key + "a").error(), FormatError::kMalformed);
  EXPECT_EQ(parse_key(" " + key).error(), FormatError::kMalformed);
  EXPECT_EQ(parse_key("SK_LIVE" + key.substr(7)).error(), FormatError::kMalformed);
  EXPECT_EQ(parse_key("a_b_c" + key.substr(7)).error(), FormatError::kMalformed);
  EXPECT_EQ(parse_key(std::string(10'000, 'a')).error(), FormatError::kMalformed);
  const std::string made_up = "sk_live_" + std::string(kRandomChars + kChecksumChars, 'A');
  EXPECT_EQ(parse_key(made_up).error(), FormatError::kBadChecksum);
  // A key of another (valid) prefix with its random part is a checksum failure.
  EXPECT_EQ(parse_key("sk_test" + key.substr(7)).error(), FormatError::kBadChecksum);
}

}  // namespace
}  // namespace sigil::apikeys
