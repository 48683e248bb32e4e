// The records the certificate authority keeps: its CA keys (roots and intermediates) and
// the certificates it issued. Plain data; the rules live in CertificateAuthority.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "base/clock.hpp"

namespace sigil::ca {

enum class CaKeyKind { kRoot, kIntermediate };

// A CA certificate with its key. A root is self-signed by sigil (its sealed key kept to
// sign intermediates), or external (imported without its key: signed elsewhere, kept
// offline). An intermediate signs workload certificates; it is pending while its CSR
// waits to be signed by an external root (certificate_pem empty).
struct CaKeyRecord {
  std::string id;  // "root-" / "int-" + 16 hex digits, random
  CaKeyKind kind = CaKeyKind::kIntermediate;
  std::string certificate_pem;  // empty: a pending intermediate
  // crypto::seal(master key, PKCS#8 DER, "ca_key:" + id); empty for an external root.
  std::string sealed_private_key;
  std::string parent_id;  // the root an intermediate chains to; empty for a root
  TimePoint created_at{};
  // An intermediate signs from activates_at until the next one activates (the newest
  // active one signs). Its certificates stay valid until they expire: the overlap.
  TimePoint activates_at{};
  TimePoint not_after{};  // the certificate's notAfter (created_at for a pending one)
};

// A certificate issued to a workload, as the audit and `sigil cert` listings need it.
struct CertificateRecord {
  std::string serial_hex;  // lower-case hex, 32 digits
  std::string spiffe_id;
  std::string subject;  // the client/service it was issued to
  std::vector<std::string> dns_names;
  std::string fingerprint_hex;  // SHA-256 of the DER, lower-case hex
  std::string issuer_id;        // the CaKeyRecord id of the intermediate that signed it
  TimePoint not_before{};
  TimePoint not_after{};
  TimePoint issued_at{};
};

// When a certificate valid from not_before to not_after is to be renewed: at two thirds
// of its lifetime, which leaves a third to retry in if the CA cannot be reached.
inline TimePoint renewal_time(TimePoint not_before, TimePoint not_after) {
  return not_before + (not_after - not_before) * 2 / 3;
}

}  // namespace sigil::ca
