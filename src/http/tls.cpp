#include "http/tls.hpp"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <climits>
#include <string>

namespace sigil::http {

namespace {

// Client chains are short (leaf, intermediate, root); a bound keeps a hostile chain cheap.
constexpr int kMaxVerifyDepth = 8;

// The oldest queued OpenSSL error as text; the queue is cleared either way.
std::string openssl_error() {
  const char* reason = ERR_reason_error_string(ERR_peek_error());
  std::string text = reason != nullptr ? reason : "no detail";
  ERR_clear_error();
  return text;
}

// Keys are read without a passphrase: an encrypted key is refused instead of prompting
// on a terminal.
int no_passphrase(char*, int, int, void*) {
  return 0;
}

struct BioFree {
  void operator()(BIO* p) const { BIO_free(p); }
};
using Bio = std::unique_ptr<BIO, BioFree>;

Result<Bio> memory_bio(std::string_view text) {
  if (text.size() > INT_MAX) return std::unexpected(Error::invalid_argument("PEM too large"));
  Bio bio(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
  if (!bio) return std::unexpected(Error::internal("cannot allocate a BIO"));
  return bio;
}

int install_identity(SSL* ssl, void* arg) {
  const auto& provider = *static_cast<const detail::IdentityProvider*>(arg);
  std::shared_ptr<const TlsIdentity> identity;
  try {
    identity = provider();
  } catch (...) {
    return 0;
  }
  if (!identity) return 0;
  // The SSL takes its own references, so the identity may be replaced or released now.
  const auto& id = identity->impl();
  if (SSL_use_certificate(ssl, id.leaf.get()) != 1 || SSL_use_PrivateKey(ssl, id.key.get()) != 1 ||
      SSL_set1_chain(ssl, id.intermediates.get()) != 1) {
    ERR_clear_error();
    return 0;
  }
  return 1;
}

// X509_check_ca is non-zero for basicConstraints cA, for keyCertSign without
// basicConstraints and for v1 self-signed roots; keyCertSign next to "cA false" is
// contradictory (RFC 5280 §4.2.1.3) and refused as well.
bool names_an_authority(X509* cert) {
  const bool may_sign_certificates = (X509_get_extension_flags(cert) & EXFLAG_KUSAGE) != 0 &&
                                     (X509_get_key_usage(cert) & KU_KEY_CERT_SIGN) != 0;
  return X509_check_ca(cert) != 0 || may_sign_certificates;
}

// RFC 8705 §2.2 (self-signed certificate mutual-TLS client authentication): the one case
// let past chain verification is a client that sent exactly one certificate, self-signed,
// that is not a CA certificate. Every other check (validity period, self-signature,
// purpose) still runs and is still refused by returning 0.
int accept_lone_self_signed(int preverify_ok, X509_STORE_CTX* store) {
  if (preverify_ok == 1) return 1;
  if (X509_STORE_CTX_get_error(store) != X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT ||
      X509_STORE_CTX_get_error_depth(store) != 0) {
    return 0;
  }
  STACK_OF(X509)* sent = X509_STORE_CTX_get0_untrusted(store);
  X509* cert = X509_STORE_CTX_get_current_cert(store);
  const bool lone = sent != nullptr && sk_X509_num(sent) == 1;
  return lone && cert != nullptr && !names_an_authority(cert) ? 1 : 0;
}

}  // namespace

TlsIdentity::TlsIdentity(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Result<std::shared_ptr<const TlsIdentity>> TlsIdentity::from_pem(std::string_view chain_pem,
                                                                 std::string_view key_pem) {
  auto certs = detail::certificates_from_pem(chain_pem);
  if (!certs) {
    return std::unexpected(Error::invalid_argument("TLS identity: " + certs.error().message));
  }
  auto impl = std::make_unique<Impl>();
  impl->leaf.reset(sk_X509_shift(certs->get()));
  impl->intermediates = std::move(*certs);

  SIGIL_TRY(bio, memory_bio(key_pem));
  impl->key.reset(PEM_read_bio_PrivateKey(bio.get(), nullptr, no_passphrase, nullptr));
  if (!impl->key) {
    return std::unexpected(Error::invalid_argument(
        "TLS identity: no unencrypted private key in the PEM (" + openssl_error() + ")"));
  }
  if (X509_check_private_key(impl->leaf.get(), impl->key.get()) != 1) {
    ERR_clear_error();
    return std::unexpected(
        Error::invalid_argument("TLS identity: the private key does not match the certificate"));
  }
  return std::shared_ptr<const TlsIdentity>(new TlsIdentity(std::move(impl)));
}

namespace detail {

Result<std::unique_ptr<STACK_OF(X509), X509StackFree>> certificates_from_pem(std::string_view pem) {
  SIGIL_TRY(bio, memory_bio(pem));
  std::unique_ptr<STACK_OF(X509), X509StackFree> certs(sk_X509_new_null());
  if (!certs) return std::unexpected(Error::internal("cannot allocate a certificate stack"));
  ERR_clear_error();
  while (X509* cert = PEM_read_bio_X509(bio.get(), nullptr, no_passphrase, nullptr)) {
    if (sk_X509_push(certs.get(), cert) <= 0) {
      X509_free(cert);
      return std::unexpected(Error::internal("cannot grow a certificate stack"));
    }
  }
  // Reading stops with "no start line" at the end of the text; anything else is a
  // malformed block.
  const unsigned long last = ERR_peek_last_error();
  if (ERR_GET_LIB(last) != ERR_LIB_PEM || ERR_GET_REASON(last) != PEM_R_NO_START_LINE) {
    return std::unexpected(
        Error::invalid_argument("malformed certificate in the PEM (" + openssl_error() + ")"));
  }
  ERR_clear_error();
  if (sk_X509_num(certs.get()) == 0) {
    return std::unexpected(Error::invalid_argument("no certificate in the PEM"));
  }
  return certs;
}

void use_identity_provider(SSL_CTX* ctx, const IdentityProvider* provider) {
  SSL_CTX_set_cert_cb(ctx, install_identity, const_cast<IdentityProvider*>(provider));
}

Result<void> require_client_certificates(SSL_CTX* ctx, const ClientCertificates& settings) {
  auto bundle = certificates_from_pem(settings.trust_bundle_pem);
  if (!bundle) {
    return std::unexpected(
        Error::invalid_argument("client certificate trust bundle: " + bundle.error().message));
  }
  X509_STORE* store = X509_STORE_new();
  if (store == nullptr) return std::unexpected(Error::internal("cannot allocate an X509_STORE"));
  SSL_CTX_set_cert_store(ctx, store);  // owned by ctx from here on
  for (int i = 0; i < sk_X509_num(bundle->get()); ++i) {
    X509* cert = sk_X509_value(bundle->get(), i);
    // The names go into the CertificateRequest, so a client holding several certificates
    // picks one this listener trusts.
    if (X509_STORE_add_cert(store, cert) != 1 || SSL_CTX_add_client_CA(ctx, cert) != 1) {
      return std::unexpected(
          Error::invalid_argument("client certificate trust bundle: " + openssl_error()));
    }
  }
  if (settings.allow_self_signed) {
    // A self-signed certificate's own signature is otherwise not checked.
    X509_VERIFY_PARAM_set_flags(SSL_CTX_get0_param(ctx), X509_V_FLAG_CHECK_SS_SIGNATURE);
  }
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT,
                     settings.allow_self_signed ? accept_lone_self_signed : nullptr);
  SSL_CTX_set_verify_depth(ctx, kMaxVerifyDepth);
  // No resumption: a resumed session would skip certificate verification and carry the
  // first handshake's certificate past its expiry. Every connection proves its own.
  SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  if (SSL_CTX_set_num_tickets(ctx, 0) != 1) {
    return std::unexpected(Error::internal("TLS: cannot turn off session tickets"));
  }
  return Ok();
}

std::shared_ptr<const PeerCertificate> proven_peer_certificate(SSL* ssl,
                                                               const ClientCertificates& settings) {
  X509* cert = SSL_get0_peer_certificate(ssl);
  if (cert == nullptr) return nullptr;
  const long result = SSL_get_verify_result(ssl);
  const bool chain_verified = result == X509_V_OK;
  if (!chain_verified &&
      !(settings.allow_self_signed && result == X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT)) {
    return nullptr;
  }
  const int length = i2d_X509(cert, nullptr);
  if (length <= 0) return nullptr;
  auto peer = std::make_shared<PeerCertificate>();
  peer->der.resize(static_cast<std::size_t>(length));
  auto* out = reinterpret_cast<unsigned char*>(peer->der.data());
  if (i2d_X509(cert, &out) != length) return nullptr;
  peer->chain_verified = chain_verified;
  return peer;
}

}  // namespace detail
}  // namespace sigil::http
