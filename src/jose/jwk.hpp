// JSON Web Keys (RFC 7517) for the algorithms of algorithm.hpp, and key sets.
//
// A Jwk holds an OpenSSL key of a type that matches its algorithm (EC P-256 for ES256,
// EC P-384 for ES384, Ed25519 for EdDSA, RSA >= 2048 bits for RS256/PS256). Immutable
// and cheap to copy (shared ownership of the key); thread-safe to share.
//
//   auto key = Jwk::generate(Algorithm::kES256);        // private, kid = thumbprint
//   boost::json::object pub = key->public_json();       // for the JWKS
//   auto der = key->private_pkcs8();                    // to seal and store
#pragma once

#include <boost/json/object.hpp>

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.hpp"
#include "jose/algorithm.hpp"

namespace sigil::crypto {
class Key;  // crypto/key.hpp: the OpenSSL key behind a Jwk
}

namespace sigil::jose {

class Jwk {
 public:
  // A new private key for alg (RSA: 2048 bits). kid is the RFC 7638 thumbprint.
  static Result<Jwk> generate(Algorithm alg);

  // Imports a JWK (public, or private with "d"/RSA private members). The algorithm is
  // "alg" when present (and must suit kty/crv); otherwise inferred from crv (P-256 ->
  // ES256, P-384 -> ES384, Ed25519 -> EdDSA); an RSA key without "alg" takes
  // default_alg or is refused. "use" other than "sig" is refused. kid is "kid" when
  // present, else the thumbprint. Errors: kInvalidArgument with the reason.
  static Result<Jwk> from_json(const boost::json::object& jwk,
                               std::optional<Algorithm> default_alg = std::nullopt);

  // The private key as PKCS#8 DER (for sealing), and back. kid is the thumbprint
  // unless given.
  Result<std::string> private_pkcs8() const;
  static Result<Jwk> from_private_pkcs8(std::string_view der, Algorithm alg,
                                        std::optional<std::string> kid = std::nullopt);

  Algorithm alg() const { return alg_; }
  const std::string& kid() const { return kid_; }
  bool is_private() const;

  // The public members plus "kid", "alg" and "use":"sig" (never private members).
  boost::json::object public_json() const;

  // RFC 7638 JWK thumbprint, SHA-256, base64url.
  std::string thumbprint() const;

  // The same key without its private part.
  Jwk public_key() const;

  const crypto::Key& key() const { return *key_; }

 private:
  Jwk(std::shared_ptr<const crypto::Key> key, Algorithm alg, std::string kid)
      : key_(std::move(key)), alg_(alg), kid_(std::move(kid)) {}

  std::shared_ptr<const crypto::Key> key_;
  Algorithm alg_;
  std::string kid_;
};

// A set of public (or private) keys, looked up by (kid, alg).
class JwkSet {
 public:
  JwkSet() = default;
  explicit JwkSet(std::vector<Jwk> keys) : keys_(std::move(keys)) {}

  // Parses {"keys":[...]}. Keys of a type or algorithm sigil does not support are
  // skipped (RFC 7517 §5); a malformed document or malformed supported key is an error.
  static Result<JwkSet> parse(std::string_view json);

  void add(Jwk key) { keys_.push_back(std::move(key)); }
  const std::vector<Jwk>& keys() const { return keys_; }

  // The key with this kid and algorithm, or nullptr. No fallback to another key.
  const Jwk* find(std::string_view kid, Algorithm alg) const;

  // {"keys":[public_json()...]}
  std::string to_json() const;

 private:
  std::vector<Jwk> keys_;
};

}  // namespace sigil::jose
