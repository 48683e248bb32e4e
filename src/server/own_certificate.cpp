#include "server/own_certificate.hpp"

#include "crypto/key.hpp"
#include "pki/certificate.hpp"

namespace sigil::server {

Result<std::unique_ptr<OwnCertificate>> OwnCertificate::issue(ca::CertificateAuthority& authority,
                                                              std::vector<std::string> dns_names,
                                                              TimePoint now) {
  std::unique_ptr<OwnCertificate> own(new OwnCertificate(authority, std::move(dns_names)));
  SIGIL_CHECK(own->renew(now));
  return own;
}

std::shared_ptr<const http::TlsIdentity> OwnCertificate::current() const {
  std::lock_guard lock(mu_);
  return identity_;
}

Result<bool> OwnCertificate::renew_if_due(TimePoint now) {
  {
    std::lock_guard lock(mu_);
    if (now < renew_at_) return false;
  }
  SIGIL_CHECK(renew(now));
  return true;
}

Result<void> OwnCertificate::renew(TimePoint now) {
  SIGIL_TRY(key, crypto::Key::generate(crypto::KeyType::kEcP256));
  SIGIL_TRY(issued, authority_.issue(key,
                                     {.subject = "sigil",
                                      .spiffe_path = std::string(kSpiffePath),
                                      .dns_names = dns_names_,
                                      .lifetime = kLifetime},
                                     now));
  SIGIL_TRY(pkcs8, key.private_pkcs8());
  const SecretString der(std::move(pkcs8));  // wiped when done
  const SecretString key_pem(pki::pem_encode("PRIVATE KEY", der.reveal()));
  SIGIL_TRY(identity, http::TlsIdentity::from_pem(issued.chain_pem, key_pem.reveal()));
  std::lock_guard lock(mu_);
  identity_ = std::move(identity);
  renew_at_ = ca::renewal_time(issued.certificate.not_before(), issued.certificate.not_after());
  return Ok();
}

}  // namespace sigil::server
