// AES-256-GCM sealing of secrets at rest (signing keys, CA keys) under the master key.
// Sealed form: 12-byte random nonce || ciphertext || 16-byte tag. The associated data
// binds a sealed blob to its place (e.g. "signing_key:<kid>"), so blobs cannot be swapped.
#pragma once

#include <string>
#include <string_view>

#include "base/error.hpp"

namespace sigil::crypto {

inline constexpr std::size_t kMasterKeyBytes = 32;

// key must be 32 bytes (kInvalidArgument otherwise).
Result<std::string> seal(std::string_view key, std::string_view plaintext, std::string_view aad);

// kUnauthenticated when the tag does not verify (wrong key, wrong aad, tampered blob).
Result<std::string> open(std::string_view key, std::string_view sealed, std::string_view aad);

}  // namespace sigil::crypto
