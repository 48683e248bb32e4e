// sigil's own certificate on the mutual-TLS listener: issued by its CA to
// spiffe://<trust domain>/sigil with the configured DNS names, on a key that never leaves
// memory, and renewed at two thirds of its life (the listener picks the new one up at the
// next handshake).
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "base/clock.hpp"
#include "base/error.hpp"
#include "ca/authority.hpp"
#include "http/server.hpp"

namespace sigil::server {

class OwnCertificate {
 public:
  // The SPIFFE path and lifetime of sigil's own certificate.
  static constexpr std::string_view kSpiffePath = "/sigil";
  static constexpr Seconds kLifetime{86400};

  // Issues the first certificate. Errors as CertificateAuthority::issue.
  static Result<std::unique_ptr<OwnCertificate>> issue(ca::CertificateAuthority& authority,
                                                       std::vector<std::string> dns_names,
                                                       TimePoint now);

  // The certificate chain and key in use; thread-safe and cheap (for every handshake).
  std::shared_ptr<const http::TlsIdentity> current() const;

  // Renews when `now` has passed the renewal time; the old certificate stays in use when
  // renewal fails (it is retried at the next call). Returns whether it renewed.
  Result<bool> renew_if_due(TimePoint now);

 private:
  OwnCertificate(ca::CertificateAuthority& authority, std::vector<std::string> dns_names)
      : authority_(authority), dns_names_(std::move(dns_names)) {}
  Result<void> renew(TimePoint now);

  ca::CertificateAuthority& authority_;
  const std::vector<std::string> dns_names_;
  mutable std::mutex mu_;
  std::shared_ptr<const http::TlsIdentity> identity_;  // guarded by mu_
  TimePoint renew_at_{};                               // guarded by mu_
};

}  // namespace sigil::server
