// IP address ranges (CIDR, RFC 4632; IPv6 prefixes, RFC 4291) for source-address
// conditions. Pure.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace sigil::policy {

// An IPv4 or IPv6 address, IPv4 kept as an IPv4-mapped IPv6 address (::ffff:a.b.c.d) so
// that one comparison serves both.
struct IpAddress {
  std::array<std::uint8_t, 16> bytes{};
  bool is_v4 = false;
  bool operator==(const IpAddress&) const = default;
};

// "192.0.2.1", "2001:db8::1", "::ffff:192.0.2.1" (matched as IPv4); a zone ("%eth0") or
// brackets are refused. nullopt when malformed.
std::optional<IpAddress> parse_ip_address(std::string_view text);

struct Cidr {
  IpAddress network;   // host bits cleared
  int prefix_len = 0;  // 0..32 for IPv4, 0..128 for IPv6
  std::string text;    // as written, for messages and the graph

  // An IPv4 range holds only IPv4 addresses (also when written ::ffff:a.b.c.d), an IPv6
  // range only IPv6 ones: "::/0" is every IPv6 address, not every address.
  bool contains(const IpAddress& address) const;
};

// "10.0.0.0/8", "2001:db8::/32", or a bare address (a /32 or /128). Host bits set beyond
// the prefix ("10.1.2.3/8") are refused as a likely mistake. An IPv4-mapped range written
// in IPv6 form counts its prefix over 128 bits ("::ffff:10.0.0.0/104" is 10.0.0.0/8, kept
// with prefix_len 8). The prefix is decimal without a leading zero. nullopt when malformed.
std::optional<Cidr> parse_cidr(std::string_view text);

}  // namespace sigil::policy
