// OpenSSL pieces of the listener's TLS set-up: the server identity installed at every
// handshake, the client-certificate policy of a mutual-TLS listener, and the certificate
// a client proved. Internal to the http library (server.cpp and its tests); the public
// contract is in server.hpp.
#pragma once

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <functional>
#include <memory>

#include "base/error.hpp"
#include "http/message.hpp"
#include "http/server.hpp"

namespace sigil::http {

struct X509Free {
  void operator()(X509* p) const { X509_free(p); }
};
struct X509StackFree {
  void operator()(STACK_OF(X509) * p) const { sk_X509_pop_free(p, X509_free); }
};
struct PkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};

struct TlsIdentity::Impl {
  std::unique_ptr<X509, X509Free> leaf;
  std::unique_ptr<STACK_OF(X509), X509StackFree> intermediates;  // may be empty, never null
  std::unique_ptr<EVP_PKEY, PkeyFree> key;
};

namespace detail {

using IdentityProvider = std::function<std::shared_ptr<const TlsIdentity>()>;

// Every "CERTIFICATE" block of pem, in order. kInvalidArgument when a block is malformed
// or there is none.
Result<std::unique_ptr<STACK_OF(X509), X509StackFree>> certificates_from_pem(std::string_view pem);

// Makes every handshake on ctx ask `provider` (which must outlive ctx) for the server's
// chain and key. A provider that returns null or throws fails that handshake.
void use_identity_provider(SSL_CTX* ctx, const IdentityProvider* provider);

// Requires a client certificate on every handshake on ctx, verified against the bundle
// (see ClientCertificates), and turns off session resumption. kInvalidArgument when the
// bundle holds no certificate or a malformed one.
Result<void> require_client_certificates(SSL_CTX* ctx, const ClientCertificates& settings);

// After a handshake on a listener set up by require_client_certificates: the certificate
// the client proved, or null when the handshake's outcome is not one the settings accept
// (which the verify callback should already have refused; checked again to fail closed).
std::shared_ptr<const PeerCertificate> proven_peer_certificate(SSL* ssl,
                                                               const ClientCertificates& settings);

}  // namespace detail
}  // namespace sigil::http
