// The text form of an API key: <prefix>_<random><checksum>
//   prefix    the key space's, e.g. "sk_live"
//   random    256 random bits in base62, fixed width 43 characters ([0-9A-Za-z])
//   checksum  CRC-32 (IEEE) of "<prefix>_<random>" in base62, fixed width 6 characters
// e.g. sk_live_4qzJ0...(43)...Xb9PqR. A mistyped or made-up key fails the checksum without
// any lookup, and a leaked key is recognisable by pattern. Every sigil key matches
//   \b[a-z][a-z0-9]{0,15}(?:_[a-z0-9]{1,16})?_[0-9A-Za-z]{49}\b
// (docs/api-keys.md; for secret scanners).
#pragma once

#include <expected>
#include <optional>
#include <string>
#include <string_view>

#include "base/error.hpp"

namespace sigil::apikeys {

inline constexpr std::size_t kRandomChars = 43;
inline constexpr std::size_t kChecksumChars = 6;

// True for a valid key-space prefix: [a-z][a-z0-9]{0,15} optionally followed by "_" and
// [a-z0-9]{1,16}.
bool is_valid_prefix(std::string_view prefix);

// A new key with `prefix` (which must be valid) and fresh randomness.
std::string generate_key(std::string_view prefix);

// Why a presented text is not a well-formed key.
enum class FormatError {
  kMalformed,    // wrong length, characters, or prefix shape
  kBadChecksum,  // well-formed but the checksum does not match
};

struct ParsedKey {
  std::string_view prefix;  // views into the presented text
  std::string_view random;
};

// Checks shape and checksum; touches no store.
std::expected<ParsedKey, FormatError> parse_key(std::string_view text);

// What is kept for display: the prefix, "_" and the first 4 random characters.
std::string key_start(std::string_view key);

}  // namespace sigil::apikeys
