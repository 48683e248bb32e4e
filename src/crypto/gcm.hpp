// Internal to crypto/: AES-256-GCM with an explicit 12-byte IV and 16-byte tag, under
// seal()/open() and the known-answer tests. Never reuse an IV with the same key.
#pragma once

#include <string>
#include <string_view>

#include "base/error.hpp"

namespace sigil::crypto::internal {

inline constexpr std::size_t kGcmIvBytes = 12;
inline constexpr std::size_t kGcmTagBytes = 16;

// ciphertext || tag. kInvalidArgument for a key not of 32 bytes or an IV not of 12.
Result<std::string> gcm_encrypt(std::string_view key, std::string_view iv,
                                std::string_view plaintext, std::string_view aad);

// The plaintext; kUnauthenticated when the tag does not verify.
Result<std::string> gcm_decrypt(std::string_view key, std::string_view iv,
                                std::string_view ciphertext_and_tag, std::string_view aad);

}  // namespace sigil::crypto::internal
