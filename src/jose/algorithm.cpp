#include "jose/algorithm.hpp"

namespace sigil::jose {

std::string_view to_string(Algorithm alg) {
  switch (alg) {
    case Algorithm::kES256:
      return "ES256";
    case Algorithm::kES384:
      return "ES384";
    case Algorithm::kEdDSA:
      return "EdDSA";
    case Algorithm::kRS256:
      return "RS256";
    case Algorithm::kPS256:
      return "PS256";
  }
  return "";
}

std::optional<Algorithm> algorithm_from_string(std::string_view name) {
  for (Algorithm alg : {Algorithm::kES256, Algorithm::kES384, Algorithm::kEdDSA, Algorithm::kRS256,
                        Algorithm::kPS256}) {
    if (name == to_string(alg)) return alg;
  }
  return std::nullopt;
}

}  // namespace sigil::jose
