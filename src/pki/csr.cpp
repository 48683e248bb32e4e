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
using NamePtr = std::unique_ptr<X509_NAME, Deleter<X509_NAME_free>>;

// RFC 5280 Appendix A.1: ub-common-name INTEGER ::= 64.
constexpr std::size_t kMaxCommonNameBytes = 64;

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

// The digest each key type signs a request with; nullptr for Ed25519, which signs the
// message itself (RFC 8410 §6).
Result<const EVP_MD*> request_digest(const crypto::Key& key) {
  switch (key.type()) {
    case crypto::KeyType::kEcP256:
    case crypto::KeyType::kRsa:
      return crypto::internal::sha256_md();
    case crypto::KeyType::kEcP384:
      return crypto::internal::sha384_md();
    case crypto::KeyType::kEd25519:
      return nullptr;
  }
  return std::unexpected(Error::invalid_argument("unsupported key type for a CSR"));
}

}  // namespace

Result<std::string> make_csr_der(const crypto::Key& key, std::string_view common_name) {
  if (!key.is_private()) {
    return std::unexpected(Error::invalid_argument("a CSR is signed with a private key"));
  }
  if (common_name.empty() || common_name.size() > kMaxCommonNameBytes) {
    return std::unexpected(Error::invalid_argument("a CSR common name must be 1 to 64 bytes long"));
  }
  SIGIL_TRY(md, request_digest(key));
  ReqPtr req(X509_REQ_new());
  NamePtr name(X509_NAME_new());
  if (!req || !name) return std::unexpected(crypto::internal::openssl_error("X509_REQ_new"));
  // RFC 2986 §4.1: "It shall be 0 for this version of the standard."
  if (X509_REQ_set_version(req.get(), X509_REQ_VERSION_1) != 1) {
    return std::unexpected(crypto::internal::openssl_error("CSR version"));
  }
  if (X509_NAME_add_entry_by_txt(name.get(), "CN", MBSTRING_UTF8, bytes(common_name),
                                 static_cast<int>(common_name.size()), -1, 0) != 1) {
    return std::unexpected(crypto::internal::input_error(Code::kInvalidArgument,
                                                         "a CSR common name must be UTF-8 text"));
  }
  if (X509_REQ_set_subject_name(req.get(), name.get()) != 1 ||
      X509_REQ_set_pubkey(req.get(), key.evp_pkey()) != 1) {
    return std::unexpected(crypto::internal::openssl_error("CSR subject and key"));
  }
  if (X509_REQ_sign(req.get(), key.evp_pkey(), md) <= 0) {
    return std::unexpected(crypto::internal::openssl_error("X509_REQ_sign"));
  }
  int len = i2d_X509_REQ(req.get(), nullptr);
  if (len <= 0) return std::unexpected(crypto::internal::openssl_error("i2d_X509_REQ"));
  std::string der(static_cast<std::size_t>(len), '\0');
  auto* out = reinterpret_cast<unsigned char*>(der.data());
  if (i2d_X509_REQ(req.get(), &out) != len) {
    return std::unexpected(crypto::internal::openssl_error("i2d_X509_REQ"));
  }
  // What a CA will do with it, done first: a request sigil cannot read is not returned.
  auto parsed = CertificateRequest::parse(der);
  if (!parsed) {
    return std::unexpected(
        Error::internal("the new CSR does not parse: " + parsed.error().message));
  }
  return der;
}

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
  auto key = crypto::Key::from_public_evp_pkey(pkey);
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
