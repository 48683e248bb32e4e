#include "apikeys/key_format.hpp"

#include <array>
#include <cstdint>

#include "apikeys/crc32.hpp"
#include "base/secrets.hpp"

namespace sigil::apikeys {

namespace {

constexpr std::string_view kBase62 =
    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
constexpr std::size_t kMaxPrefixPart = 16;
// "<16>_<16>" + "_" + 49: nothing longer can be a key, whatever it contains.
constexpr std::size_t kMaxKeyChars = 2 * kMaxPrefixPart + 1 + 1 + kRandomChars + kChecksumChars;

constexpr bool is_lower_alnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

constexpr bool is_base62(char c) {
  return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

// The checksum of `body` ("<prefix>_<random>"): CRC-32 in base62, 6 characters. 62^6 > 2^32,
// so every CRC has exactly one encoding.
std::array<char, kChecksumChars> checksum(std::string_view body) {
  std::uint32_t crc = crc32(body);
  std::array<char, kChecksumChars> out{};
  for (std::size_t i = kChecksumChars; i-- > 0;) {
    out[i] = kBase62[crc % 62];
    crc /= 62;
  }
  return out;
}

// 32 bytes read as one big-endian number, written in base62 with 43 digits (62^43 > 2^256).
std::string encode_random(std::string_view bytes) {
  std::array<std::uint32_t, 8> limbs{};  // most significant first
  for (std::size_t i = 0; i < 32; ++i) {
    limbs[i / 4] = (limbs[i / 4] << 8) | static_cast<unsigned char>(bytes[i]);
  }
  std::string out(kRandomChars, '0');
  for (std::size_t pos = kRandomChars; pos-- > 0;) {
    std::uint64_t rem = 0;
    for (auto& limb : limbs) {
      const std::uint64_t cur = (rem << 32) | limb;
      limb = static_cast<std::uint32_t>(cur / 62);
      rem = cur % 62;
    }
    out[pos] = kBase62[rem];
  }
  return out;
}

}  // namespace

bool is_valid_prefix(std::string_view prefix) {
  const std::size_t sep = prefix.find('_');
  const std::string_view head = prefix.substr(0, sep);
  if (head.empty() || head.size() > kMaxPrefixPart || head[0] < 'a' || head[0] > 'z') {
    return false;
  }
  for (char c : head) {
    if (!is_lower_alnum(c)) return false;
  }
  if (sep == std::string_view::npos) return true;
  const std::string_view tail = prefix.substr(sep + 1);
  if (tail.empty() || tail.size() > kMaxPrefixPart) return false;
  for (char c : tail) {
    if (!is_lower_alnum(c)) return false;  // a second '_' included
  }
  return true;
}

std::string generate_key(std::string_view prefix) {
  std::string raw = random_bytes(32);
  std::string key;
  key.reserve(prefix.size() + 1 + kRandomChars + kChecksumChars);
  key.append(prefix);
  key.push_back('_');
  std::string random = encode_random(raw);
  key.append(random);
  wipe(raw);
  wipe(random);
  const auto sum = checksum(key);
  key.append(sum.data(), sum.size());
  return key;
}

std::expected<ParsedKey, FormatError> parse_key(std::string_view text) {
  if (text.size() > kMaxKeyChars) return std::unexpected(FormatError::kMalformed);
  const std::size_t sep = text.rfind('_');
  if (sep == std::string_view::npos) return std::unexpected(FormatError::kMalformed);
  const std::string_view prefix = text.substr(0, sep);
  const std::string_view tail = text.substr(sep + 1);
  if (tail.size() != kRandomChars + kChecksumChars || !is_valid_prefix(prefix)) {
    return std::unexpected(FormatError::kMalformed);
  }
  for (char c : tail) {
    if (!is_base62(c)) return std::unexpected(FormatError::kMalformed);
  }
  const std::string_view body = text.substr(0, sep + 1 + kRandomChars);
  const auto expected = checksum(body);
  if (tail.substr(kRandomChars) != std::string_view(expected.data(), expected.size())) {
    return std::unexpected(FormatError::kBadChecksum);
  }
  return ParsedKey{prefix, tail.substr(0, kRandomChars)};
}

std::string key_start(std::string_view key) {
  constexpr std::size_t kShownRandomChars = 4;
  const std::size_t sep = key.rfind('_');
  if (sep == std::string_view::npos) return {};
  return std::string(key.substr(0, std::min(key.size(), sep + 1 + kShownRandomChars)));
}

}  // namespace sigil::apikeys
