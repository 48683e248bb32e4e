// CSRs made with OpenSSL directly, as a workload would make them, and a path check with
// X509_verify_cert. For tests only.
#pragma once

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "base/clock.hpp"
#include "pki/certificate.hpp"

namespace sigil::pki::testing {

struct PkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;

// "RSA" with bits, "EC" with a curve name, or "ED25519".
inline Pkey make_key(const char* type, const char* curve = nullptr, std::size_t bits = 0) {
  if (std::string(type) == "RSA") return Pkey(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", bits));
  if (std::string(type) == "EC") return Pkey(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", curve));
  return Pkey(EVP_PKEY_Q_keygen(nullptr, nullptr, type));
}

// A DER CSR for key, asking for a subject and a SAN that the CA must ignore.
inline std::string make_csr_der(EVP_PKEY* key) {
  X509_REQ* req = X509_REQ_new();
  X509_NAME* name = X509_REQ_get_subject_name(req);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("admin"), -1, -1, 0);
  X509_REQ_set_pubkey(req, key);
  // EdDSA signs the message itself, so it takes no separate digest.
  const bool eddsa = EVP_PKEY_is_a(key, "ED25519") || EVP_PKEY_is_a(key, "ED448");
  const EVP_MD* md = eddsa ? nullptr : EVP_sha256();
  std::string der;
  if (X509_REQ_sign(req, key, md) > 0) {
    int len = i2d_X509_REQ(req, nullptr);
    der.resize(static_cast<std::size_t>(len));
    auto* p = reinterpret_cast<unsigned char*>(der.data());
    i2d_X509_REQ(req, &p);
  }
  X509_REQ_free(req);
  return der;
}

// X509_verify_cert of leaf, with the intermediates untrusted and `roots` as the only
// trust anchors, at `at`, for a TLS client. 1 when the path verifies.
inline int verify_path(const Certificate& leaf, const std::vector<Certificate>& intermediates,
                       const std::vector<Certificate>& roots, TimePoint at, int* error = nullptr) {
  X509_STORE* store = X509_STORE_new();
  for (const auto& r : roots) X509_STORE_add_cert(store, r.x509());
  STACK_OF(X509)* untrusted = sk_X509_new_null();
  for (const auto& i : intermediates) sk_X509_push(untrusted, i.x509());
  X509_STORE_CTX* ctx = X509_STORE_CTX_new();
  X509_STORE_CTX_init(ctx, store, leaf.x509(), untrusted);
  X509_VERIFY_PARAM_set_time(X509_STORE_CTX_get0_param(ctx),
                             std::chrono::system_clock::to_time_t(at));
  X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_CLIENT);
  int rc = X509_verify_cert(ctx);
  if (error) *error = X509_STORE_CTX_get_error(ctx);
  X509_STORE_CTX_free(ctx);
  sk_X509_free(untrusted);
  X509_STORE_free(store);
  return rc;
}

inline std::string pem_of(const char* label, const std::string& der) {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio(bio, label, "", reinterpret_cast<const unsigned char*>(der.data()),
                static_cast<long>(der.size()));
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  std::string out(data, static_cast<std::size_t>(len));
  BIO_free(bio);
  return out;
}

}  // namespace sigil::pki::testing
