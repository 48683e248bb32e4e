#include <gtest/gtest.h>

#include "base/base64url.hpp"
#include "base/clock.hpp"
#include "base/error.hpp"
#include "base/hex.hpp"
#include "base/secrets.hpp"

namespace sigil {
namespace {

TEST(Base64Url, RoundTripsEveryLength) {
  std::string bytes;
  for (int n = 0; n < 64; ++n) {
    auto encoded = base64url_encode(bytes);
    EXPECT_EQ(encoded.find('='), std::string::npos);
    auto decoded = base64url_decode(encoded);
    ASSERT_TRUE(decoded.has_value()) << n;
    EXPECT_EQ(*decoded, bytes);
    bytes += static_cast<char>(n * 37 + 250);
  }
}

TEST(Base64Url, Rfc4648Vectors) {
  EXPECT_EQ(base64url_encode("f"), "Zg");
  EXPECT_EQ(base64url_encode("fo"), "Zm8");
  EXPECT_EQ(base64url_encode("foo"), "Zm9v");
  EXPECT_EQ(base64url_encode("foob"), "Zm9vYg");
  EXPECT_EQ(base64url_encode("\xfb\xff"), "-_8");
  EXPECT_EQ(base64_encode("foob"), "Zm9vYg==");
  EXPECT_EQ(base64_decode("Zm9vYmE="), "fooba");
}

TEST(Base64Url, RejectsMalformed) {
  EXPECT_FALSE(base64url_decode("Zg=="));  // padding
  EXPECT_FALSE(base64url_decode("Z"));     // dangling character
  EXPECT_FALSE(base64url_decode("Zh"));    // non-zero trailing bits
  EXPECT_FALSE(base64url_decode("a+b/"));  // standard alphabet
  EXPECT_FALSE(base64url_decode("ab c"));  // whitespace
  EXPECT_FALSE(base64url_decode(std::string_view("ab\0c", 4)));
  EXPECT_FALSE(base64_decode("Zm9vYg="));  // bad padding length
}

TEST(Hex, RoundTrip) {
  EXPECT_EQ(hex_encode(std::string_view("\x00\xff\x10", 3)), "00ff10");
  EXPECT_EQ(hex_decode("00FF10"), std::string("\x00\xff\x10", 3));
  EXPECT_FALSE(hex_decode("0g"));
  EXPECT_FALSE(hex_decode("abc"));
}

TEST(Secrets, RandomSecretIs256Bits) {
  auto a = random_secret();
  auto b = random_secret();
  EXPECT_EQ(a.size(), 43u);
  EXPECT_NE(a, b);
  EXPECT_EQ(base64url_decode(a)->size(), 32u);
}

TEST(Secrets, ConstantTimeEqual) {
  EXPECT_TRUE(constant_time_equal("abc", "abc"));
  EXPECT_FALSE(constant_time_equal("abc", "abd"));
  EXPECT_FALSE(constant_time_equal("abc", "abcd"));
  EXPECT_TRUE(constant_time_equal("", ""));
}

TEST(Secrets, WipeClears) {
  std::string s = "secret";
  wipe(s);
  EXPECT_TRUE(s.empty());
}

Result<int> parse_positive(int v) {
  if (v <= 0) return std::unexpected(Error::invalid_argument("not positive"));
  return v;
}

Result<int> doubled(int v) {
  SIGIL_TRY(p, parse_positive(v));
  return p * 2;
}

TEST(Error, TryPropagates) {
  EXPECT_EQ(*doubled(2), 4);
  auto r = doubled(-1);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Code::kInvalidArgument);
  EXPECT_EQ(to_string(r.error().code), "invalid_argument");
}

TEST(FakeClock, Advances) {
  FakeClock clock(from_unix(100));
  clock.advance(Seconds{5});
  EXPECT_EQ(to_unix(clock.now()), 105);
}

}  // namespace
}  // namespace sigil

namespace sigil {
namespace {

TEST(Rfc3339, Parses) {
  EXPECT_EQ(from_rfc3339("1970-01-01T00:00:00Z"), from_unix(0));
  EXPECT_EQ(from_rfc3339("2023-11-14T22:13:20Z"), from_unix(1'700'000'000));
  EXPECT_EQ(from_rfc3339("2023-11-14T22:13:20.999Z"), from_unix(1'700'000'000));
  EXPECT_EQ(from_rfc3339("2023-11-15T00:13:20+02:00"), from_unix(1'700'000'000));
  EXPECT_EQ(from_rfc3339("2023-11-14t21:13:20-01:00"), from_unix(1'700'000'000));
  EXPECT_EQ(from_rfc3339(to_rfc3339(from_unix(1'795'000'000))), from_unix(1'795'000'000));
  for (const char* bad :
       {"", "2023-11-14", "2023-11-14T22:13:20", "2023-11-14 22:13:20Z", "2023-02-30T00:00:00Z",
        "2023-13-01T00:00:00Z", "2023-11-14T24:00:00Z", "2023-11-14T22:13:60Z",
        "2023-11-14T22:13:20.Z", "2023-11-14T22:13:20+2:00", "1969-12-31T23:59:59Z",
        "2023-11-14T22:13:20Zx", "+023-11-14T22:13:20Z"}) {
    EXPECT_FALSE(from_rfc3339(bad)) << bad;
  }
}

TEST(Rfc3339, FormatsUtc) {
  EXPECT_EQ(to_rfc3339(from_unix(0)), "1970-01-01T00:00:00Z");
  EXPECT_EQ(to_rfc3339(from_unix(1'700'000'000)), "2023-11-14T22:13:20Z");
  EXPECT_EQ(to_rfc3339(from_unix(1'700'000'000) + std::chrono::milliseconds(7), true),
            "2023-11-14T22:13:20.007Z");
}

}  // namespace
}  // namespace sigil
