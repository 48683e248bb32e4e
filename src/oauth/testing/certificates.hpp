// Client certificates for the mutual-TLS tests, made with OpenSSL directly: self-signed,
// with the subject and SANs a test asks for. Whether a chain is "verified" is the TLS
// layer's word (PresentedCertificate::chain_verified), which the tests set themselves.
#pragma once

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>
#include <string>
#include <vector>

namespace sigil::oauth::testing {

struct CertificateSpec {
  // RDNs in order, e.g. {{"O", "Example"}, {"CN", "billing"}} ("CN=billing,O=Example" in
  // RFC 2253 order).
  std::vector<std::pair<std::string, std::string>> subject = {};
  std::vector<std::string> uris = {};
  std::vector<std::string> dns_names = {};
};

// The DER of a self-signed EC P-256 certificate as `spec` says, valid for a day from now.
inline std::string make_certificate_der(const CertificateSpec& spec) {
  struct Free {
    void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
    void operator()(X509* x) const { X509_free(x); }
    void operator()(GENERAL_NAMES* n) const { GENERAL_NAMES_free(n); }
  };
  std::unique_ptr<EVP_PKEY, Free> key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  std::unique_ptr<X509, Free> x509(X509_new());
  if (!key || !x509) return {};
  X509* x = x509.get();
  X509_set_version(x, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
  X509_gmtime_adj(X509_getm_notBefore(x), 0);
  X509_gmtime_adj(X509_getm_notAfter(x), 86400);
  X509_NAME* name = X509_get_subject_name(x);
  for (const auto& [field, value] : spec.subject) {
    X509_NAME_add_entry_by_txt(name, field.c_str(), MBSTRING_UTF8,
                               reinterpret_cast<const unsigned char*>(value.c_str()), -1, -1, 0);
  }
  X509_set_issuer_name(x, name);
  X509_set_pubkey(x, key.get());
  if (!spec.uris.empty() || !spec.dns_names.empty()) {
    std::unique_ptr<GENERAL_NAMES, Free> names(GENERAL_NAMES_new());
    auto add = [&](int type, const std::string& text) {
      GENERAL_NAME* general = GENERAL_NAME_new();
      ASN1_IA5STRING* ia5 = ASN1_IA5STRING_new();
      ASN1_STRING_set(ia5, text.data(), static_cast<int>(text.size()));
      GENERAL_NAME_set0_value(general, type, ia5);
      sk_GENERAL_NAME_push(names.get(), general);
    };
    for (const auto& uri : spec.uris) add(GEN_URI, uri);
    for (const auto& dns : spec.dns_names) add(GEN_DNS, dns);
    X509_add1_ext_i2d(x, NID_subject_alt_name, names.get(), 0, X509V3_ADD_DEFAULT);
  }
  if (X509_sign(x, key.get(), EVP_sha256()) <= 0) return {};
  const int length = i2d_X509(x, nullptr);
  if (length <= 0) return {};
  std::string der(static_cast<std::size_t>(length), '\0');
  auto* out = reinterpret_cast<unsigned char*>(der.data());
  i2d_X509(x, &out);
  return der;
}

}  // namespace sigil::oauth::testing
