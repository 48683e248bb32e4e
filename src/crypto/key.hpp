// Asymmetric keys for the JWS algorithms: EC P-256/P-384, Ed25519, RSA. A Key wraps an
// OpenSSL EVP_PKEY; its type is fixed when it is generated or imported, and imports are
// checked (EC point on the curve, private part matching the public one, RSA >= 2048 bits
// with a sane exponent and no ROCA fingerprint).
//
// Signatures are in the forms JWS uses (RFC 7518 §3): ECDSA as fixed-width raw r||s
// (never DER), Ed25519 as 64 bytes, RSA as modulus-sized octets.
//
// Thread safety: a Key is immutable; sign() and verify() may be called from any number
// of threads at once. Each keeps a small pool of prepared OpenSSL contexts so the hot
// path does no algorithm fetching.
//
//   auto key = crypto::Key::generate(crypto::KeyType::kEcP256);
//   auto sig = key->sign(crypto::SignatureScheme::kEcdsaP256Sha256, signing_input);
//   auto ok = key->verify(crypto::SignatureScheme::kEcdsaP256Sha256, signing_input, *sig);
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "base/error.hpp"

struct evp_pkey_st;  // OpenSSL's EVP_PKEY, for the X.509 code in pki/

namespace sigil::crypto {

enum class KeyType {
  kEcP256,
  kEcP384,
  kEd25519,
  kRsa,
};

enum class SignatureScheme {
  kEcdsaP256Sha256,  // ES256: raw r||s, 64 bytes
  kEcdsaP384Sha384,  // ES384: raw r||s, 96 bytes
  kEd25519,          // EdDSA (pure Ed25519), 64 bytes
  kRsaPkcs1Sha256,   // RS256: RSASSA-PKCS1-v1_5 with SHA-256
  kRsaPssSha256,     // PS256: RSASSA-PSS, SHA-256, MGF1-SHA-256, salt 32 bytes
};

inline constexpr int kMinRsaBits = 2048;
inline constexpr int kMaxRsaBits = 16384;

// EC coordinates and private scalar: big-endian, exactly the field size (32 or 48 bytes).
// d is empty for a public key.
struct EcComponents {
  std::string x;
  std::string y;
  std::string d;
};

// RSA integers: big-endian unsigned. All private members empty for a public key; for a
// private key d, p, q, dp, dq and qi are all present.
struct RsaComponents {
  std::string n;
  std::string e;
  std::string d;
  std::string p;
  std::string q;
  std::string dp;
  std::string dq;
  std::string qi;
};

// Ed25519 raw keys: 32 bytes each; private (the seed) empty for a public key.
struct OkpComponents {
  std::string x;
  std::string d;
};

class Key {
 public:
  // A fresh private key. rsa_bits is used for kRsa only (kMinRsaBits..kMaxRsaBits).
  static Result<Key> generate(KeyType type, int rsa_bits = kMinRsaBits);

  // Imports from raw components. Errors: kInvalidArgument when a component has the wrong
  // size, the point is not on the curve, the private part does not match the public one,
  // or the RSA key is too small, has a bad exponent or a ROCA-weak modulus.
  static Result<Key> from_ec(KeyType curve, const EcComponents& c);
  static Result<Key> from_ed25519(const OkpComponents& c);
  static Result<Key> from_rsa(const RsaComponents& c);

  // PKCS#8 PrivateKeyInfo DER, checked as the component imports are. The caller wipes
  // the DER it gets from private_pkcs8() once it is sealed.
  static Result<Key> from_private_pkcs8(std::string_view der);
  Result<std::string> private_pkcs8() const;

  // A private key from PEM text as `openssl genpkey` / `openssl ecparam -genkey` /
  // `openssl genrsa` write it ("PRIVATE KEY", "EC PRIVATE KEY" or "RSA PRIVATE KEY"),
  // checked as the imports above. An encrypted key is refused (never prompted for): the
  // caller decrypts it first. kInvalidArgument naming what is wrong.
  static Result<Key> from_private_pem(std::string_view pem);

  // A public key from X.509 SubjectPublicKeyInfo DER (as in a certificate or CSR), checked
  // as the imports above: EC P-256/P-384, Ed25519 or RSA >= 2048 bits; any other type or
  // curve is kInvalidArgument. spki_der() is the inverse.
  static Result<Key> from_spki_der(std::string_view der);
  Result<std::string> spki_der() const;
  // The same checks on a public key OpenSSL has decoded already (a CSR's or a
  // certificate's), shared rather than encoded and decoded again: OpenSSL 3.0's key
  // decoders cost more than a P-256 signature verification.
  static Result<Key> from_public_evp_pkey(evp_pkey_st* pkey);

  // The OpenSSL key, owned by this Key and valid while it lives, for pki/ to sign and
  // verify X.509 structures with. It must not be modified through this pointer.
  evp_pkey_st* evp_pkey() const;

  Key(Key&&) noexcept;
  Key& operator=(Key&&) noexcept;
  ~Key();

  KeyType type() const;
  int bits() const;
  bool is_private() const;

  // The same key without its private part.
  Result<Key> public_key() const;

  // Components of the matching type (kInvalidArgument for another type). Private members
  // are filled only when include_private and the key is private.
  Result<EcComponents> ec_components(bool include_private = false) const;
  Result<OkpComponents> okp_components(bool include_private = false) const;
  Result<RsaComponents> rsa_components(bool include_private = false) const;

  // Whether scheme can be used with this key's type (e.g. ES256 needs EC P-256).
  bool supports(SignatureScheme scheme) const;

  // Errors: kInvalidArgument when the scheme does not suit the key, kFailedPrecondition
  // for a public key, kInternal when OpenSSL fails.
  Result<std::string> sign(SignatureScheme scheme, std::string_view message) const;

  // Ok when signature is a valid signature of message. Errors: kUnauthenticated when it
  // is not (including wrong length or DER-encoded ECDSA), kInvalidArgument when the
  // scheme does not suit the key.
  Result<void> verify(SignatureScheme scheme, std::string_view message,
                      std::string_view signature) const;

 private:
  struct Impl;
  explicit Key(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace sigil::crypto
