// The records the token service keeps: clients, signing keys, revoked tokens.
// Plain data; the rules live in the services.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "base/clock.hpp"

namespace sigil::oauth {

enum class ClientStatus { kActive, kDisabled };

// A secret's SHA-256 digest (32 raw bytes) and, for a secret being rotated out, when it
// stops being accepted.
struct SecretDigest {
  std::string sha256;
  std::optional<TimePoint> expires_at;
};

// A registered workload identity.
struct Client {
  std::string id;
  std::string name;
  std::map<std::string, std::string> attributes;  // e.g. environment, team
  std::vector<std::string> allowed_scopes;
  std::vector<std::string> allowed_audiences;
  // "client_secret_basic", "client_secret_post", "private_key_jwt"
  std::vector<std::string> auth_methods;
  ClientStatus status = ClientStatus::kActive;
  SecretDigest secret;                          // the current secret; empty digest: none
  std::optional<SecretDigest> previous_secret;  // valid until its expires_at
  // The client's public keys for private_key_jwt (RFC 7523 §2.2): a JWKS registered with
  // the client (JSON text of {"keys":[...]}, public members only), or the URL where the
  // client publishes its own; at most one of the two (RFC 7591 §2: "The "jwks_uri" and
  // "jwks" parameters MUST NOT both be present"). Empty: none.
  std::string jwks;
  std::string jwks_uri;
  // RFC 8705 §2.1.2, for tls_client_auth: the one value the client's certificate (which
  // must chain to sigil's CA) must carry; exactly one is set when the client allows
  // tls_client_auth, none otherwise. The subject DN in RFC 4514 form ("CN=x,O=y"), a URI
  // SAN (typically the client's SPIFFE ID), or a DNS SAN.
  std::string tls_client_auth_subject_dn;
  std::string tls_client_auth_san_uri;
  std::string tls_client_auth_san_dns;
  // RFC 8705 §2.2, for self_signed_tls_client_auth: the registered certificates'
  // thumbprints (x5t#S256: base64url SHA-256 of the DER), sorted, at most 16.
  std::vector<std::string> tls_client_certificates;
  TimePoint created_at{};
  TimePoint updated_at{};
};

// A signing key. Its state follows from the times, so no timer has to flip it:
//   next     now < activates_at                  published in the JWKS, does not sign
//   active   activates_at <= now < retires_at    published, signs (the newest active one)
//   retired  retires_at <= now < expires_at      published, does not sign
//   gone     expires_at <= now                   neither
struct SigningKeyRecord {
  std::string kid;
  std::string alg;                 // JOSE name
  std::string sealed_private_key;  // crypto::seal(master key, PKCS#8, "signing_key:" + kid)
  std::string public_jwk;          // JSON text of the public JWK
  TimePoint created_at{};
  TimePoint activates_at{};
  std::optional<TimePoint> retires_at;
  std::optional<TimePoint> expires_at;
};

enum class SigningKeyState { kNext, kActive, kRetired, kGone };

inline SigningKeyState state_at(const SigningKeyRecord& key, TimePoint now) {
  if (key.expires_at && now >= *key.expires_at) return SigningKeyState::kGone;
  if (key.retires_at && now >= *key.retires_at) return SigningKeyState::kRetired;
  if (now < key.activates_at) return SigningKeyState::kNext;
  return SigningKeyState::kActive;
}

struct RevokedToken {
  std::string jti;
  TimePoint expires_at{};  // the token's exp: after it the entry may be purged
};

}  // namespace sigil::oauth
