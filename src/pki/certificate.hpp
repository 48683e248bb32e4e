// X.509 certificates for sigil's CA (RFC 5280): a parsed Certificate, and an Issuer that
// builds and signs X509-SVID leaves, intermediates and self-signed roots.
//
// The Issuer checks what it issues (as SPIRE's CA does): after signing it parses the DER
// again and checks the SANs, key usage, extended key usage, basic constraints, validity,
// serial, issuer name, subject key and the signature against its own key. Only then does
// it return an IssuedCertificate, which nothing else can construct.
//
// Time and randomness are passed in: not_before/not_after (whole seconds; anything finer
// is truncated) and the 16-byte serial (from sigil::random_bytes(kSerialBytes) in
// production, fixed bytes in tests).
//
// Certificate and IssuedCertificate are immutable and cheap to copy (shared ownership);
// an Issuer is immutable after create() and may issue from any number of threads.
//
//   auto root_key = crypto::Key::generate(crypto::KeyType::kEcP256);
//   auto root = pki::Issuer::self_signed_root(*root_key, ca_profile);
//   auto ca = pki::Issuer::create(root->certificate(), std::move(*root_key));
//   auto svid = ca->issue_svid(csr->public_key(), {.id = id, .not_before = now, ...});
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/clock.hpp"
#include "base/error.hpp"
#include "crypto/key.hpp"
#include "pki/spiffe.hpp"

struct x509_st;  // OpenSSL's X509

namespace sigil::pki {

// 128 random bits: RFC 5280 §4.1.2.2 allows up to 20 octets; CA/B Forum asks for at
// least 64 bits of entropy, SPIFFE deployments use 128.
inline constexpr std::size_t kSerialBytes = 16;
inline constexpr std::size_t kMaxDnsNames = 100;

// "-----BEGIN <label>-----" ... base64 of der in 64-character lines ... "-----END ...".
std::string pem_encode(std::string_view label, std::string_view der);

class Certificate {
 public:
  // Exactly one DER certificate (no trailing bytes). kInvalidArgument when it is not one.
  static Result<Certificate> from_der(std::string_view der);
  // The first "CERTIFICATE" block of pem.
  static Result<Certificate> from_pem(std::string_view pem);
  // Every "CERTIFICATE" block of pem, in order (a chain or a bundle); at least one.
  static Result<std::vector<Certificate>> chain_from_pem(std::string_view pem);

  const std::string& der() const;
  std::string pem() const;
  // SHA-256 of the DER: 32 raw bytes (hex for logs, base64url for x5t#S256).
  std::string fingerprint_sha256() const;
  // The serial number, big-endian, without sign padding.
  std::string serial() const;
  TimePoint not_before() const;
  TimePoint not_after() const;
  // The subject and issuer names, RFC 2253 style ("CN=sigil root,O=example").
  std::string subject() const;
  std::string issuer() const;
  bool is_ca() const;
  // True when the key usage extension is present and allows keyCertSign. A certificate
  // without the extension gets false: sigil trusts no CA that does not say so.
  bool has_key_cert_sign() const;
  // The basicConstraints pathLenConstraint of a CA; std::nullopt when it has none (or is
  // no CA).
  std::optional<int> path_length() const;
  std::vector<std::string> uri_sans() const;
  std::vector<std::string> dns_sans() const;
  // The subject public key, checked as crypto::Key::from_spki_der does.
  Result<crypto::Key> public_key() const;

  // Ok when issuer could have issued this certificate: issuer is a CA whose key usage
  // (when present) allows keyCertSign, its subject is this certificate's issuer name, its
  // SKI matches this certificate's AKI (when both are present), and its public key
  // verifies this certificate's signature. A self-signed certificate passes with itself.
  // Validity periods are not looked at. kInvalidArgument naming the first check that
  // fails.
  Result<void> verify_signed_by(const Certificate& issuer) const;

  // The OpenSSL object, owned by this Certificate (for X509_STORE and TLS contexts).
  // It must not be modified through this pointer.
  x509_st* x509() const;

 private:
  struct Impl;
  explicit Certificate(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<const Impl> impl_;
};

// What a workload certificate (X509-SVID) says. The identity comes from the caller's
// authorisation, never from the CSR.
struct SvidProfile {
  SpiffeId id;                              // the one URI SAN; must have a path
  std::vector<std::string> dns_names = {};  // optional DNS SANs, lowercase LDH names
  TimePoint not_before;
  TimePoint not_after;
  std::string serial;  // kSerialBytes random bytes, not all zero
};

// What a CA certificate (root or intermediate) says.
struct CaProfile {
  std::string common_name = {};   // e.g. "sigil intermediate CA"; required
  std::string organization = {};  // optional
  // When set, the CA certificate carries the trust domain's ID (spiffe://<td>) as its
  // URI SAN (X509-SVID §3.2: a signing certificate "SHOULD itself be an SVID"), and its
  // Issuer then signs only IDs in that trust domain.
  std::optional<TrustDomain> trust_domain = {};
  // basicConstraints pathLenConstraint; std::nullopt for none.
  std::optional<int> path_length = {};
  TimePoint not_before;
  TimePoint not_after;
  std::string serial;  // kSerialBytes random bytes, not all zero
};

class Issuer;

// A certificate this library built, signed and checked. Only Issuer constructs one.
class IssuedCertificate {
 public:
  const Certificate& certificate() const { return certificate_; }
  const std::string& der() const { return certificate_.der(); }
  std::string pem() const { return certificate_.pem(); }
  std::string fingerprint_sha256() const { return certificate_.fingerprint_sha256(); }
  std::string serial() const { return certificate_.serial(); }

 private:
  friend class Issuer;
  explicit IssuedCertificate(Certificate c) : certificate_(std::move(c)) {}
  Certificate certificate_;
};

// A CA: its certificate and private key (ECDSA P-256 signs with SHA-256, P-384 with
// SHA-384; RFC 5758 §3.2).
class Issuer {
 public:
  // Errors: kInvalidArgument when the certificate is not a CA with keyCertSign, the key
  // is not a private EC P-256/P-384 key, or the key does not match the certificate.
  static Result<Issuer> create(Certificate certificate, crypto::Key key);

  // A self-signed root for key (which must be a private EC P-256/P-384 key): CA:TRUE,
  // keyCertSign|cRLSign, both critical. kInvalidArgument for a bad profile or key.
  static Result<IssuedCertificate> self_signed_root(const crypto::Key& key,
                                                    const CaProfile& profile);

  // An X509-SVID for subject_key: exactly one URI SAN (profile.id), the DNS SANs, key
  // usage digitalSignature (critical), EKU serverAuth+clientAuth, CA:FALSE (critical),
  // SKI/AKI, issuer = this CA's subject. Errors: kInvalidArgument for a bad profile (ID
  // without a path or outside this CA's trust domain, bad DNS name, bad serial, empty
  // or inverted validity, validity beyond this CA's notAfter); kInternal when OpenSSL
  // fails or the check of the signed certificate finds a difference.
  Result<IssuedCertificate> issue_svid(const crypto::Key& subject_key,
                                       const SvidProfile& profile) const;

  // An intermediate CA for subject_key, signed by this CA; errors as issue_svid, and
  // kInvalidArgument when this CA's path length does not allow another CA below it.
  Result<IssuedCertificate> issue_intermediate(const crypto::Key& subject_key,
                                               const CaProfile& profile) const;

  const Certificate& certificate() const { return certificate_; }

 private:
  Issuer(Certificate certificate, crypto::Key key)
      : certificate_(std::move(certificate)), key_(std::move(key)) {}
  Certificate certificate_;
  crypto::Key key_;
};

}  // namespace sigil::pki
