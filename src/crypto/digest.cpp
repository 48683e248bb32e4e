#include "crypto/digest.hpp"

#include <cstdlib>

#include "crypto/openssl.hpp"

namespace sigil::crypto {

std::string sha256(std::string_view data) {
  std::string out(32, '\0');
  unsigned int len = 0;
  // EVP_Digest fails only on allocation failure or a broken provider.
  if (EVP_Digest(data.data(), data.size(), internal::bytes(out), &len, internal::sha256_md(),
                 nullptr) != 1 ||
      len != 32) {
    std::abort();
  }
  return out;
}

}  // namespace sigil::crypto
