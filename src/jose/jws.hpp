// JWS compact serialization (RFC 7515 §7.1): signing.
#pragma once

#include <string>
#include <string_view>

#include "base/error.hpp"
#include "jose/jwk.hpp"

namespace sigil::jose {

// Signs JSON payloads with one private key. The protected header is fixed at creation:
// {"alg":..,"kid":..,"typ":..} ("typ" left out when empty). Thread-safe; the encoded
// header and hash context are prepared once.
class Signer {
 public:
  // kInvalidArgument when the key is not private.
  static Result<Signer> create(Jwk private_key, std::string typ);

  // header.payload.signature, with the payload's bytes as given.
  Result<std::string> sign(std::string_view payload) const;

  const Jwk& key() const { return key_; }

 private:
  Signer(Jwk key, std::string encoded_header)
      : key_(std::move(key)), encoded_header_(std::move(encoded_header)) {}
  Jwk key_;
  std::string encoded_header_;
};

}  // namespace sigil::jose
