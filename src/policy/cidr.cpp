#include "policy/cidr.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <charconv>

namespace sigil::policy {

namespace {

// The longest textual IPv6 address, "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255", is 45
// characters (INET6_ADDRSTRLEN - 1); anything longer is not an address.
constexpr std::size_t kMaxAddressChars = 45;

// RFC 4291 §2.5.5.2: the IPv4-mapped prefix, 80 zero bits then 16 one bits.
constexpr std::array<std::uint8_t, 12> kV4MappedPrefix = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
constexpr int kV4MappedBits = 96;

bool is_v4_mapped(const std::array<std::uint8_t, 16>& bytes) {
  return std::equal(kV4MappedPrefix.begin(), kV4MappedPrefix.end(), bytes.begin());
}

// Whether the first `bits` bits of a and b agree.
bool same_prefix(const std::array<std::uint8_t, 16>& a, const std::array<std::uint8_t, 16>& b,
                 int bits) {
  const int whole = bits / 8;
  if (!std::equal(a.begin(), a.begin() + whole, b.begin())) return false;
  const int rest = bits % 8;
  if (rest == 0) return true;
  const auto mask = static_cast<std::uint8_t>(0xff << (8 - rest));
  return (a[whole] & mask) == (b[whole] & mask);
}

// Whether any bit after the first `bits` is set.
bool has_host_bits(const std::array<std::uint8_t, 16>& bytes, int bits) {
  for (int i = bits; i < 128; ++i) {
    if (bytes[i / 8] & (0x80 >> (i % 8))) return true;
  }
  return false;
}

}  // namespace

std::optional<IpAddress> parse_ip_address(std::string_view text) {
  if (text.empty() || text.size() > kMaxAddressChars) return std::nullopt;
  // inet_pton wants a NUL-terminated string: an embedded NUL would end the address early
  // and let trailing bytes through. Zones ("fe80::1%eth0") and brackets ("[::1]") belong
  // to URLs and socket APIs, not to an address in a policy.
  if (text.find_first_of(std::string_view("\0%[]", 4)) != std::string_view::npos) {
    return std::nullopt;
  }
  const std::string copy(text);
  IpAddress address;
  if (copy.find(':') == std::string::npos) {
    // glibc's inet_pton(AF_INET) takes exactly four decimal parts, no leading zeros (no
    // octal "010"), unlike inet_aton.
    std::array<std::uint8_t, 4> v4{};
    if (inet_pton(AF_INET, copy.c_str(), v4.data()) != 1) return std::nullopt;
    std::copy(kV4MappedPrefix.begin(), kV4MappedPrefix.end(), address.bytes.begin());
    std::copy(v4.begin(), v4.end(), address.bytes.begin() + 12);
    address.is_v4 = true;
    return address;
  }
  if (inet_pton(AF_INET6, copy.c_str(), address.bytes.data()) != 1) return std::nullopt;
  address.is_v4 = is_v4_mapped(address.bytes);
  return address;
}

bool Cidr::contains(const IpAddress& address) const {
  // Families stay apart: without this, "::/0" (or any range covering ::ffff:0:0/96) would
  // silently let in every IPv4 address too.
  if (address.is_v4 != network.is_v4) return false;
  return same_prefix(network.bytes, address.bytes,
                     network.is_v4 ? kV4MappedBits + prefix_len : prefix_len);
}

std::optional<Cidr> parse_cidr(std::string_view text) {
  const auto slash = text.find('/');
  auto address = parse_ip_address(text.substr(0, slash));
  if (!address) return std::nullopt;
  // Written in IPv6 form, an IPv4-mapped range counts its prefix over all 128 bits.
  const bool v6_notation = text.substr(0, slash).find(':') != std::string_view::npos;
  const int max_len = v6_notation || !address->is_v4 ? 128 : 32;
  int len = max_len;
  if (slash != std::string_view::npos) {
    const std::string_view digits = text.substr(slash + 1);
    // Decimal digits only: no sign, no spaces, no leading zero ("/08" is a typo or octal).
    if (digits.empty() || digits.size() > 3 || (digits.size() > 1 && digits.front() == '0') ||
        !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      return std::nullopt;
    }
    std::from_chars(digits.data(), digits.data() + digits.size(), len);
    if (len > max_len) return std::nullopt;
  }
  int bits = len;
  if (v6_notation && address->is_v4) {
    // "::ffff:10.0.0.0/104" is 10.0.0.0/8. A prefix shorter than the mapped prefix would
    // leave its ffff as host bits: not an IPv4 range, and not a sensible IPv6 one.
    if (len < kV4MappedBits) return std::nullopt;
    len -= kV4MappedBits;
  } else if (address->is_v4) {
    bits = kV4MappedBits + len;
  }
  if (has_host_bits(address->bytes, bits)) return std::nullopt;
  return Cidr{.network = *address, .prefix_len = len, .text = std::string(text)};
}

}  // namespace sigil::policy
