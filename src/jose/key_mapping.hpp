// Internal to jose/: the algorithm table (design rule: algorithms named explicitly).
#pragma once

#include "crypto/key.hpp"
#include "jose/algorithm.hpp"

namespace sigil::jose::internal {

inline crypto::KeyType key_type_for(Algorithm alg) {
  switch (alg) {
    case Algorithm::kES256:
      return crypto::KeyType::kEcP256;
    case Algorithm::kES384:
      return crypto::KeyType::kEcP384;
    case Algorithm::kEdDSA:
      return crypto::KeyType::kEd25519;
    case Algorithm::kRS256:
    case Algorithm::kPS256:
      return crypto::KeyType::kRsa;
  }
  return crypto::KeyType::kRsa;
}

inline crypto::SignatureScheme scheme_for(Algorithm alg) {
  switch (alg) {
    case Algorithm::kES256:
      return crypto::SignatureScheme::kEcdsaP256Sha256;
    case Algorithm::kES384:
      return crypto::SignatureScheme::kEcdsaP384Sha384;
    case Algorithm::kEdDSA:
      return crypto::SignatureScheme::kEd25519;
    case Algorithm::kRS256:
      return crypto::SignatureScheme::kRsaPkcs1Sha256;
    case Algorithm::kPS256:
      return crypto::SignatureScheme::kRsaPssSha256;
  }
  return crypto::SignatureScheme::kRsaPssSha256;
}

}  // namespace sigil::jose::internal
