// sigil's certificate authority: a root (sigil's own, or an external one kept offline),
// intermediates that sign workload certificates (X509-SVIDs), their rotation, and the
// trust bundles workloads use to trust them.
//
//   root ──signs──▶ intermediate (active) ──signs──▶ workload certificates (1 h default)
//                  intermediate (rotated out: signs no more; its certificates stay valid
//                  until they expire, since each workload holds its chain)
//
// The trust bundle is the roots: rotating an intermediate changes nothing for verifiers.
// Private keys are sealed with AES-256-GCM under the master key, bound to their place:
// crypto::seal(master_key, pkcs8, "ca_key:" + id), and opened once, at load()/reload().
//
// The identity in a certificate comes from the caller's authorisation (IssueRequest),
// never from the CSR: the caller of issue() has decided it.
//
// Thread safety: every method is thread-safe; issue() runs concurrently with itself.
#pragma once

#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

#include "base/clock.hpp"
#include "base/error.hpp"
#include "base/secrets.hpp"
#include "ca/model.hpp"
#include "ca/ports.hpp"
#include "crypto/key.hpp"
#include "pki/certificate.hpp"
#include "pki/spiffe.hpp"

namespace sigil::ca {

// Lifetimes of workload certificates: the default, and the hard cap no policy can raise.
inline constexpr Seconds kDefaultCertificateLifetime{3600};
inline constexpr Seconds kMaxCertificateLifetime{86400};
// The shortest certificate worth issuing.
inline constexpr Seconds kMinCertificateLifetime{60};

struct CaOptions {
  crypto::KeyType key_type = crypto::KeyType::kEcP256;  // kEcP256 or kEcP384
  Seconds root_lifetime{10LL * 365 * 86400};
  Seconds intermediate_lifetime{365LL * 86400};
  std::string organization = {};  // O= of the CA certificates; optional
};

// What a workload certificate says, as the caller's authorisation decided it.
struct IssueRequest {
  std::string subject;                             // the client/service it is for (the record)
  std::string spiffe_path;                         // "/ns/prod/sa/payments": non-empty path
  std::vector<std::string> dns_names = {};         // DNS SANs, already allowed by the policy
  Seconds lifetime = kDefaultCertificateLifetime;  // clamped to the cap and the CA's notAfter
};

struct IssuedSvid {
  pki::Certificate certificate;
  std::string chain_pem;  // the certificate, then the intermediate that signed it
  CertificateRecord record;
};

// A CA key as listed to operators.
struct CaKeyInfo {
  CaKeyRecord record;  // sealed_private_key cleared
  // "active" (signs), "next" (signs from activates_at: a rotation in the same second as
  // the one before waits one second, so that which one signs is never a tie), "rotated"
  // (signs no more), "pending" (waits for its certificate), "expired", "root".
  std::string state;
};

class CertificateAuthority {
 public:
  // Reads and opens every CA key. The stores must outlive the authority. An authority
  // without a trust domain is uninitialised (initialised() false) and issues nothing.
  // kInvalidArgument: the master key is not 32 bytes; kFailedPrecondition: "master key
  // does not open CA key <id>", or a stored certificate is unusable.
  static Result<std::unique_ptr<CertificateAuthority>> load(CaStore& store,
                                                            CertificateStore& certificates,
                                                            std::string_view master_key);

  // A trust domain and an intermediate able to sign at `now`.
  bool ready(TimePoint now) const;
  std::optional<pki::TrustDomain> trust_domain() const;

  // sigil ca init: a self-signed root and an intermediate it signs, both with new keys of
  // options.key_type, and the trust domain, in one store transaction.
  // kFailedPrecondition when the CA is initialised already.
  Result<void> initialise(const pki::TrustDomain& trust_domain, const CaOptions& options,
                          TimePoint now);

  // sigil ca init --external-root: stores the trust domain and a pending intermediate (a
  // new key of options.key_type) and returns its CSR (PEM) for the external root to sign.
  // kFailedPrecondition when initialised already.
  Result<std::string> initialise_external(const pki::TrustDomain& trust_domain,
                                          const CaOptions& options, TimePoint now);

  // Completes a pending intermediate with its certificate signed by the external root
  // (root_pem; stored as an external root when new). Each PEM holds exactly one
  // certificate. Checks: the certificate's key is the pending key, it is a CA that may
  // sign (keyCertSign), it verifies against the root, it is valid at `now` and ends no
  // later than the root, and its URI SAN (if any) is the trust domain's ID; the root is a
  // self-signed CA with keyCertSign, valid at `now`, whose path length allows an
  // intermediate and whose SPIFFE ID (if any) is the trust domain's. Activates it at
  // once. kInvalidArgument naming what fails; kFailedPrecondition without a pending key.
  Result<CaKeyInfo> import_intermediate(std::string_view intermediate_pem,
                                        std::string_view root_pem, TimePoint now);

  // A new intermediate signed by sigil's root, signing from `now`; the ones before sign
  // no more, and their certificates stay valid until they expire. With an external root:
  // kFailedPrecondition (use request_intermediate and import_intermediate).
  Result<CaKeyInfo> rotate_intermediate(const CaOptions& options, TimePoint now);

  // Rotates the intermediate (as rotate_intermediate with `options`) when the one that
  // signs has passed two thirds of its life (renewal_time), or none can sign; returns the
  // new one, or nullopt when nothing was due. With an external root nothing is ever due
  // here: its intermediates are rotated by hand.
  Result<std::optional<CaKeyInfo>> rotate_if_due(const CaOptions& options, TimePoint now);

  // External root: a new pending intermediate and its CSR (PEM).
  Result<std::string> request_intermediate(const CaOptions& options, TimePoint now);

  // Issues a workload certificate for subject_key (from a checked CSR) with the newest
  // active intermediate, and records it (durable before returning). Lifetime: clamped to
  // [kMinCertificateLifetime, kMaxCertificateLifetime] and to the intermediate's notAfter.
  // kFailedPrecondition when not ready(now) or when the intermediate has less than
  // kMinCertificateLifetime left; kInvalidArgument for an empty subject, a bad path or DNS
  // name.
  Result<IssuedSvid> issue(const crypto::Key& subject_key, const IssueRequest& request,
                           TimePoint now) const;

  // The roots valid at `now`, PEM, concatenated: the trust bundle.
  std::string trust_bundle_pem(TimePoint now) const;
  // The SPIFFE trust bundle (SPIFFE Trust Domain and Bundle §4): {"keys": [one JWK per
  // root, "use": "x509-svid", "x5c": [its DER, base64]], "spiffe_sequence": <n, grows
  // with every change of the CA keys>, "spiffe_refresh_hint": 300}.
  std::string spiffe_bundle_json(TimePoint now) const;
  // The roots and intermediates valid at `now`, parsed (for verifying presented chains).
  std::vector<pki::Certificate> trusted_certificates(TimePoint now) const;

  std::vector<CaKeyInfo> list(TimePoint now) const;

  // Re-reads and re-opens every key (errors as load()).
  Result<void> reload();

  CertificateAuthority(const CertificateAuthority&) = delete;
  CertificateAuthority& operator=(const CertificateAuthority&) = delete;

 private:
  CertificateAuthority(CaStore& store, CertificateStore& certificates, std::string_view master_key)
      : store_(store), certificates_(certificates), master_key_(std::string(master_key)) {}

  struct State;  // trust domain, parsed records, opened issuers; immutable once built
  std::shared_ptr<const State> state() const;
  // The listing of a key just written (after reload_locked()).
  Result<CaKeyInfo> stored_info(std::string_view id, TimePoint now) const;
  Result<void> reload_locked();  // requires write_mu_

  CaStore& store_;
  CertificateStore& certificates_;
  const SecretString master_key_;
  std::mutex write_mu_;  // serialises initialise, import, rotate, request, reload
  mutable std::shared_mutex mu_;
  std::shared_ptr<const State> state_;  // guarded by mu_
};

}  // namespace sigil::ca
