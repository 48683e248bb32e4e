#include "policy/cidr.hpp"

#include <gtest/gtest.h>

namespace sigil::policy {
namespace {

IpAddress ip(std::string_view text) {
  auto parsed = parse_ip_address(text);
  EXPECT_TRUE(parsed) << text;
  return parsed.value_or(IpAddress{});
}

Cidr cidr(std::string_view text) {
  auto parsed = parse_cidr(text);
  EXPECT_TRUE(parsed) << text;
  return parsed.value_or(Cidr{});
}

TEST(IpAddress, ParsesBothFamilies) {
  const IpAddress v4 = ip("192.0.2.1");
  EXPECT_TRUE(v4.is_v4);
  const std::array<std::uint8_t, 16> mapped = {0, 0, 0,    0,    0,   0, 0, 0,
                                               0, 0, 0xff, 0xff, 192, 0, 2, 1};
  EXPECT_EQ(v4.bytes, mapped);

  const IpAddress v6 = ip("2001:db8::1");
  EXPECT_FALSE(v6.is_v4);
  EXPECT_EQ(v6.bytes[0], 0x20);
  EXPECT_EQ(v6.bytes[1], 0x01);
  EXPECT_EQ(v6.bytes[15], 0x01);

  // RFC 4291 §2.5.5.2: an IPv4-mapped address is the IPv4 address.
  EXPECT_EQ(ip("::ffff:192.0.2.1"), v4);
  EXPECT_EQ(ip("::FFFF:c000:201"), v4);
  EXPECT_FALSE(ip("::1").is_v4);
  EXPECT_FALSE(ip("::192.0.2.1").is_v4);  // IPv4-compatible (deprecated), not mapped
}

TEST(IpAddress, RefusesMalformed) {
  for (std::string_view bad :
       {"", "1.2.3", "1.2.3.4.5", "256.0.0.1", "010.0.0.1", "1.2.3.4 ", " 1.2.3.4", "1.2.3.-4",
        "0x7f.0.0.1", "localhost", "fe80::1%eth0", "[::1]", "[2001:db8::1]:443",
        "1:2:3:4:5:6:7:8:9", "2001:db8:::1", "12345::1", "::ffff:1.2.3.4%0", "1.2.3.4/32"}) {
    EXPECT_FALSE(parse_ip_address(bad)) << bad;
  }
  // An embedded NUL must not end the address early.
  EXPECT_FALSE(parse_ip_address(std::string_view("1.2.3.4\0junk", 12)));
  EXPECT_FALSE(parse_ip_address(std::string(46, '1')));
}

TEST(Cidr, Ipv4Containment) {
  const Cidr ten = cidr("10.0.0.0/8");
  EXPECT_TRUE(ten.network.is_v4);
  EXPECT_EQ(ten.prefix_len, 8);
  EXPECT_EQ(ten.text, "10.0.0.0/8");
  EXPECT_TRUE(ten.contains(ip("10.0.0.0")));
  EXPECT_TRUE(ten.contains(ip("10.255.255.255")));
  EXPECT_TRUE(ten.contains(ip("::ffff:10.1.2.3")));
  EXPECT_FALSE(ten.contains(ip("11.0.0.0")));
  EXPECT_FALSE(ten.contains(ip("9.255.255.255")));

  // A prefix that ends inside a byte.
  const Cidr half = cidr("192.0.2.0/25");
  EXPECT_TRUE(half.contains(ip("192.0.2.127")));
  EXPECT_FALSE(half.contains(ip("192.0.2.128")));

  const Cidr any = cidr("0.0.0.0/0");
  EXPECT_TRUE(any.contains(ip("255.255.255.255")));
  EXPECT_TRUE(any.contains(ip("0.0.0.0")));

  const Cidr host = cidr("192.0.2.7");
  EXPECT_EQ(host.prefix_len, 32);
  EXPECT_TRUE(host.contains(ip("192.0.2.7")));
  EXPECT_FALSE(host.contains(ip("192.0.2.6")));
}

TEST(Cidr, Ipv6Containment) {
  const Cidr doc = cidr("2001:db8::/32");
  EXPECT_FALSE(doc.network.is_v4);
  EXPECT_EQ(doc.prefix_len, 32);
  EXPECT_TRUE(doc.contains(ip("2001:db8::1")));
  EXPECT_TRUE(doc.contains(ip("2001:db8:ffff:ffff:ffff:ffff:ffff:ffff")));
  EXPECT_FALSE(doc.contains(ip("2001:db9::")));

  const Cidr odd = cidr("2001:db8::/33");
  EXPECT_TRUE(odd.contains(ip("2001:db8:7fff::1")));
  EXPECT_FALSE(odd.contains(ip("2001:db8:8000::1")));

  const Cidr host = cidr("::1");
  EXPECT_EQ(host.prefix_len, 128);
  EXPECT_TRUE(host.contains(ip("::1")));
  EXPECT_FALSE(host.contains(ip("::2")));
}

TEST(Cidr, FamiliesStayApart) {
  EXPECT_FALSE(cidr("::/0").contains(ip("10.0.0.1")));
  EXPECT_TRUE(cidr("::/0").contains(ip("2001:db8::1")));
  EXPECT_FALSE(cidr("0.0.0.0/0").contains(ip("::1")));
  EXPECT_FALSE(cidr("0.0.0.0/0").contains(ip("::10.0.0.1")));
}

TEST(Cidr, MappedRangeInIpv6Form) {
  const Cidr mapped = cidr("::ffff:10.0.0.0/104");
  EXPECT_TRUE(mapped.network.is_v4);
  EXPECT_EQ(mapped.prefix_len, 8);
  EXPECT_TRUE(mapped.contains(ip("10.9.8.7")));
  EXPECT_FALSE(mapped.contains(ip("11.0.0.0")));
  EXPECT_EQ(cidr("::ffff:0:0/96").prefix_len, 0);
  EXPECT_FALSE(parse_cidr("::ffff:0:0/95"));
}

TEST(Cidr, RefusesHostBitsAndBadPrefixes) {
  for (std::string_view bad :
       {"10.1.2.3/8", "192.0.2.128/24", "2001:db8::1/32", "10.0.0.0/33", "::/129", "10.0.0.0/",
        "10.0.0.0/-1", "10.0.0.0/+8", "10.0.0.0/08", "10.0.0.0/ 8", "10.0.0.0/8 ", "10.0.0.0/8/8",
        "10.0.0.0/8a", "10.0.0.0/1000", "/8", "fe80::%eth0/64", "[2001:db8::]/32", ""}) {
    EXPECT_FALSE(parse_cidr(bad)) << bad;
  }
  EXPECT_TRUE(parse_cidr("10.0.0.0/0") == std::nullopt);  // host bits beyond /0
  EXPECT_TRUE(parse_cidr("0.0.0.0/0"));
  EXPECT_TRUE(parse_cidr("10.0.0.0/32"));
  EXPECT_TRUE(parse_cidr("2001:db8::1/128"));
}

}  // namespace
}  // namespace sigil::policy
