// The JWS algorithms sigil signs and verifies, named explicitly (RFC 7518 §3, RFC 8037).
// A key's algorithm is fixed when the key is created or imported.
#pragma once

#include <optional>
#include <string_view>

namespace sigil::jose {

enum class Algorithm {
  kES256,  // ECDSA P-256 + SHA-256, signature raw r||s, 64 bytes
  kES384,  // ECDSA P-384 + SHA-384, signature raw r||s, 96 bytes
  kEdDSA,  // Ed25519 (RFC 8037), 64 bytes
  kRS256,  // RSASSA-PKCS1-v1_5 + SHA-256, RSA >= 2048 bits
  kPS256,  // RSASSA-PSS + SHA-256, MGF1-SHA-256, salt 32 bytes, RSA >= 2048 bits
};

std::string_view to_string(Algorithm alg);

// Exact, case-sensitive match of the JOSE name ("ES256", ...). "none", HS* and every
// other name are nullopt.
std::optional<Algorithm> algorithm_from_string(std::string_view name);

}  // namespace sigil::jose
