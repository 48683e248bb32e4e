// Keys, CAs and certificates made with OpenSSL directly, valid relative to the system
// clock (which is what TLS verification reads). For the http tests only.
//
//   auto root = tls_testing::Pki::root("client root");
//   auto leaf = root.issue({.common_name = "workload"});
//   // leaf.chain_pem(), leaf.key_pem(), leaf.cert.der(), root.cert.pem()
#pragma once

#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "http/tls.hpp"

namespace sigil::http::tls_testing {

using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;

inline Pkey make_key() {
  return Pkey(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
}

inline std::string bio_text(BIO* bio) {
  char* data = nullptr;
  long length = BIO_get_mem_data(bio, &data);
  std::string out(data, static_cast<std::size_t>(length));
  BIO_free(bio);
  return out;
}

// PKCS#8 PEM; encrypted under `passphrase` (AES-256-CBC) when it is not empty.
inline std::string key_pem(EVP_PKEY* key, const std::string& passphrase = {}) {
  BIO* bio = BIO_new(BIO_s_mem());
  if (passphrase.empty()) {
    PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr);
  } else {
    PEM_write_bio_PKCS8PrivateKey(bio, key, EVP_aes_256_cbc(), passphrase.data(),
                                  static_cast<int>(passphrase.size()), nullptr, nullptr);
  }
  return bio_text(bio);
}

struct CertSpec {
  std::string common_name;
  bool ca = false;
  // Validity, relative to now.
  std::chrono::seconds not_before{-3600};
  std::chrono::seconds not_after{86400};
  // Unset: keyCertSign,cRLSign for a CA, digitalSignature otherwise. Empty: no extension.
  std::optional<std::string> key_usage = {};
  std::string extended_key_usage = "clientAuth";  // empty: no extension
  std::string subject_alt_name = {};              // e.g. "DNS:localhost,IP:127.0.0.1"
};

struct Cert {
  std::shared_ptr<X509> x509;
  std::string pem() const {
    BIO* bio = BIO_new(BIO_s_mem());
    PEM_write_bio_X509(bio, x509.get());
    return bio_text(bio);
  }
  std::string der() const {
    int length = i2d_X509(x509.get(), nullptr);
    std::string out(static_cast<std::size_t>(length), '\0');
    auto* p = reinterpret_cast<unsigned char*>(out.data());
    i2d_X509(x509.get(), &p);
    return out;
  }
};

inline void add_extension(X509* cert, X509V3_CTX* ctx, int nid, const std::string& value) {
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, ctx, nid, value.c_str());
  X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
}

// Signed by issuer's key, or self-signed (by `key`) when issuer is null.
inline Cert make_cert(const CertSpec& spec, EVP_PKEY* key, const Cert* issuer,
                      EVP_PKEY* issuer_key) {
  X509* cert = X509_new();
  X509_set_version(cert, X509_VERSION_3);
  BIGNUM* serial = BN_new();
  BN_rand(serial, 120, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY);
  BN_to_ASN1_INTEGER(serial, X509_get_serialNumber(cert));
  BN_free(serial);
  X509_gmtime_adj(X509_getm_notBefore(cert), static_cast<long>(spec.not_before.count()));
  X509_gmtime_adj(X509_getm_notAfter(cert), static_cast<long>(spec.not_after.count()));
  X509_NAME_add_entry_by_txt(X509_get_subject_name(cert), "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(spec.common_name.c_str()), -1,
                             -1, 0);
  X509_set_issuer_name(cert, issuer != nullptr ? X509_get_subject_name(issuer->x509.get())
                                               : X509_get_subject_name(cert));
  X509_set_pubkey(cert, key);
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, issuer != nullptr ? issuer->x509.get() : cert, cert, nullptr, nullptr, 0);
  add_extension(cert, &ctx, NID_basic_constraints,
                spec.ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
  const std::string key_usage = spec.key_usage.value_or(spec.ca ? "critical,keyCertSign,cRLSign"
                                                                : "critical,digitalSignature");
  if (!key_usage.empty()) add_extension(cert, &ctx, NID_key_usage, key_usage);
  add_extension(cert, &ctx, NID_subject_key_identifier, "hash");
  if (issuer != nullptr) add_extension(cert, &ctx, NID_authority_key_identifier, "keyid");
  if (!spec.extended_key_usage.empty()) {
    add_extension(cert, &ctx, NID_ext_key_usage, spec.extended_key_usage);
  }
  if (!spec.subject_alt_name.empty()) {
    add_extension(cert, &ctx, NID_subject_alt_name, spec.subject_alt_name);
  }
  X509_sign(cert, issuer_key != nullptr ? issuer_key : key, EVP_sha256());
  return Cert{std::shared_ptr<X509>(cert, X509_free)};
}

// A key and its certificate, with the chain above it that it presents (not the root).
struct Credential {
  std::shared_ptr<EVP_PKEY> key;
  Cert cert;
  std::vector<Cert> intermediates;

  std::string chain_pem() const {
    std::string out = cert.pem();
    for (const auto& c : intermediates) out += c.pem();
    return out;
  }
  std::string key_pem() const { return tls_testing::key_pem(key.get()); }
  std::shared_ptr<const TlsIdentity> identity() const {
    auto id = TlsIdentity::from_pem(chain_pem(), key_pem());
    return id ? *id : nullptr;
  }
};

// A CA: a self-signed root, or an intermediate under one.
class Pki {
 public:
  static Pki root(const std::string& name) {
    Pki pki;
    Pkey key = make_key();
    pki.ca_.cert = make_cert({.common_name = name, .ca = true, .extended_key_usage = ""}, key.get(),
                             nullptr, nullptr);
    pki.ca_.key = std::shared_ptr<EVP_PKEY>(key.release(), EVP_PKEY_free);
    return pki;
  }

  Pki intermediate(const std::string& name) const {
    Pki pki;
    pki.ca_ = issue({.common_name = name, .ca = true, .extended_key_usage = ""});
    return pki;
  }

  Credential issue(const CertSpec& spec) const {
    Pkey key = make_key();
    Credential out;
    out.cert = make_cert(spec, key.get(), &ca_.cert, ca_.key.get());
    out.key = std::shared_ptr<EVP_PKEY>(key.release(), EVP_PKEY_free);
    // A root is not sent: the peer holds it.
    if (!is_root()) out.intermediates.push_back(ca_.cert);
    for (const auto& c : ca_.intermediates) out.intermediates.push_back(c);
    return out;
  }

  const Cert& cert() const { return ca_.cert; }

 private:
  bool is_root() const {
    return X509_NAME_cmp(X509_get_subject_name(ca_.cert.x509.get()),
                         X509_get_issuer_name(ca_.cert.x509.get())) == 0;
  }
  Credential ca_;
};

// A lone self-signed certificate and its key.
inline Credential self_signed(const CertSpec& spec) {
  Pkey key = make_key();
  Credential out;
  out.cert = make_cert(spec, key.get(), nullptr, nullptr);
  out.key = std::shared_ptr<EVP_PKEY>(key.release(), EVP_PKEY_free);
  return out;
}

}  // namespace sigil::http::tls_testing
