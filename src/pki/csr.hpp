// PKCS#10 certificate signing requests (RFC 2986), read for one thing only: the public
// key the requester proved it holds; and written, for sigil's own keys (an intermediate
// CA's key for an external root to sign, a workload's key for `sigil cert`).
//
// The identity in a certificate comes from who is asking (the caller's authorisation),
// never from the request: subject, requested SANs and requested extensions are ignored
// by design and not even exposed, so no caller can be tempted to copy them.
//
// A CertificateRequest exists only once its signature has been checked against its own
// key and the key has passed the strength rules: EC P-256 or P-384, Ed25519, or RSA of at
// least 2048 bits. Immutable; thread-safe to share.
//
//   auto csr = pki::CertificateRequest::parse(body);     // PEM or DER
//   if (!csr) return csr.error();                        // kInvalidArgument, with why
//   issuer.issue_svid(csr->public_key(), profile);
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "base/error.hpp"
#include "crypto/key.hpp"

namespace sigil::pki {

// Larger inputs are refused before any parsing (a P-384 or RSA-4096 CSR is well below).
inline constexpr std::size_t kMaxCsrBytes = 64 * 1024;

class CertificateRequest {
 public:
  // PEM ("CERTIFICATE REQUEST" or "NEW CERTIFICATE REQUEST") or DER. Errors, all
  // kInvalidArgument: not a CSR (or trailing bytes after the DER), an unsupported
  // version, a weak or unsupported key, a signature that does not verify.
  static Result<CertificateRequest> parse(std::string_view pem_or_der);

  // The requester's public key.
  const crypto::Key& public_key() const { return key_; }

 private:
  explicit CertificateRequest(crypto::Key key) : key_(std::move(key)) {}
  crypto::Key key_;
};

// A DER PKCS#10 request (version 0) for key, signed by it: subject "CN=<common_name>",
// no attributes. ECDSA P-256 and RSA sign with SHA-256, P-384 with SHA-384, Ed25519
// without a separate digest. The result is checked as CertificateRequest::parse checks
// a request before it is returned. kInvalidArgument: key is not a private key of a type
// parse() accepts, or common_name is empty, longer than 64 bytes (RFC 5280's
// ub-common-name) or not UTF-8.
Result<std::string> make_csr_der(const crypto::Key& key, std::string_view common_name);

}  // namespace sigil::pki
