#include "pki/csr.hpp"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <memory>
#include <string>

#include "crypto/openssl.hpp"

namespace sigil::pki {

namespace {

using crypto::internal::bytes;
using crypto::internal::Deleter;
using ReqPtr = std::unique_ptr<X509_REQ, Deleter<X509_REQ_free>>;
using BioPtr = std::unique_ptr<BIO, Deleter<BIO_free>>;

Error invalid(std::string_view what) {
  ERR_clear_error();
  return Error::invalid_argument("invalid CSR: " + std::string(what));
}

Result<ReqPtr> decode(std::string_view input) {
  if (input.find("-----BEGIN") != std::string_view::npos) {
    BioPtr bio(BIO_new_mem_buf(input.data(), static_cast<int>(input.size())));
    if (!bio) return std::unexpected(invalid("out of memory"));
    // Accepts both "CERTIFICATE REQUEST" and the older "NEW CERTIFICATE REQUEST" label.
    ReqPtr req(PEM_read_bio_X509_REQ(bio.get(), nullptr, nullptr, nullptr));
    if (!req) return std::unexpected(invalid("not a PEM certificate request"));
    return req;
  }
  const unsigned char* p = bytes(input);
  ReqPtr req(d2i_X509_REQ(nullptr, &p, static_cast<long>(input.size())));
  if (!req) return std::unexpected(invalid("not a DER certificate request"));
  if (p != bytes(input) + input.size()) {
    return std::unexpected(invalid("trailing bytes after the request"));
  }
  return req;
}

}  // namespace

Result<CertificateRequest> CertificateRequest::parse(std::string_view pem_or_der) {
  if (pem_or_der.empty()) return std::unexpected(invalid("empty"));
  if (pem_or_der.size() > kMaxCsrBytes) return std::unexpected(invalid("larger than 64 KiB"));
  SIGIL_TRY(req, decode(pem_or_der));

  // RFC 2986 §4.1: "version is the version number, for compatibility with future
  // revisions of this document. It shall be 0 for this version of the standard."
  if (X509_REQ_get_version(req.get()) != 0) {
    return std::unexpected(invalid("version is not 0 (v1)"));
  }

  EVP_PKEY* pkey = X509_REQ_get0_pubkey(req.get());
  if (pkey == nullptr) return std::unexpected(invalid("no usable public key"));
  // The key goes through crypto::Key's import checks (type, curve, RSA size and
  // exponent, point on the curve) before anything is verified with it.
  int spki_len = i2d_PUBKEY(pkey, nullptr);
  if (spki_len <= 0) return std::unexpected(invalid("no usable public key"));
  std::string spki(static_cast<std::size_t>(spki_len), '\0');
  auto* out = reinterpret_cast<unsigned char*>(spki.data());
  if (i2d_PUBKEY(pkey, &out) != spki_len) return std::unexpected(invalid("no usable public key"));
  auto key = crypto::Key::from_spki_der(spki);
  if (!key) return std::unexpected(invalid("weak or unsupported key: " + key.error().message));
  // Belt and braces on the strength rule (RSA < 2048 refused), whatever the crypto
  // library's own floor becomes.
  if (key->type() == crypto::KeyType::kRsa && key->bits() < 2048) {
    return std::unexpected(invalid("weak or unsupported key: RSA smaller than 2048 bits"));
  }

  // RFC 2986 §3: "The signature on the certification request prevents an entity from
  // requesting a certificate with another party's public key."
  if (X509_REQ_verify(req.get(), key->evp_pkey()) != 1) {
    return std::unexpected(invalid("the signature does not verify"));
  }
  return CertificateRequest(std::move(*key));
}

}  // namespace sigil::pki
