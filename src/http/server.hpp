// The HTTP/1.1 server: a listener and one session per connection (plain TCP or TLS),
// on Boost.Beast. This header does not include Beast or Asio.
//
//   http::ServerOptions options;
//   options.port = 0;
//   http::Server server(options, [](http::Request&& req, http::Responder respond) {
//     respond(http::Response::json(200, R"({"ok":true})"));
//   });
//   if (auto r = server.start(); !r) { /* log r.error().message */ }
//   std::thread t([&] { server.run(); });
//   ...
//   server.stop();  // from any thread; run() returns once drained
//   t.join();
//
// Each session owns the limits: a fresh parser per request with header and body limits,
// a timeout on every read and write, one request at a time (a pipelined request is read
// only after the previous response was written). Oversized headers are answered 431,
// oversized bodies 413 and malformed requests 400, then the connection is closed. Every
// response carries Content-Length (except 1xx/204/304), Server: sigil, X-Request-Id, and
// Cache-Control: no-store unless the handler set Cache-Control.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "base/error.hpp"
#include "http/message.hpp"
#include "http/metrics.hpp"

namespace sigil::http {

struct Limits {
  std::size_t max_header_bytes = 8 * 1024;
  std::size_t max_body_bytes = 64 * 1024;
  // How long a connection may wait for (and take to send) the next request's header.
  std::chrono::seconds idle_timeout{30};
  // How long reading a request body, or writing a response, may take.
  std::chrono::seconds request_timeout{30};
  std::size_t max_requests_per_connection = 0;  // 0: unlimited
  // When set, the body limit for a request to `path` (asked once its header is read),
  // instead of max_body_bytes: for the few endpoints that take documents.
  std::function<std::size_t(std::string_view path)> body_limit_for;
};

// A certificate chain (leaf first) and its private key, parsed and checked once (the key
// must match the leaf). Immutable; shared between handshakes.
class TlsIdentity {
 public:
  // kInvalidArgument when the PEM holds no certificate, no private key, or a key that
  // does not match the first certificate.
  static Result<std::shared_ptr<const TlsIdentity>> from_pem(std::string_view chain_pem,
                                                             std::string_view key_pem);
  struct Impl;
  const Impl& impl() const { return *impl_; }

 private:
  explicit TlsIdentity(std::unique_ptr<Impl> impl);
  std::shared_ptr<const Impl> impl_;
};

// Client certificates (mutual TLS): every connection must present one. A chain that
// verifies against trust_bundle_pem passes the handshake: the bundle's self-signed roots
// are the trust anchors; an intermediate in the bundle helps complete a chain the client
// sent short, but anchors nothing by itself. The client's certificate must be within its
// validity period and fit for client authentication (its extended key usage, if any,
// includes clientAuth).
//
// With allow_self_signed, a lone self-signed certificate passes too (RFC 8705 §2.2: the
// application then checks its thumbprint), when the client sent that one certificate
// only, its self-signature verifies, it is within its validity period, and it is not a CA
// certificate (no basicConstraints cA, no keyCertSign usage, not a v1 root): a CA names
// an authority, not a client. Such a connection's PeerCertificate has chain_verified
// false. Note that `openssl req -x509` marks its certificates as CAs unless told
// otherwise (-addext basicConstraints=critical,CA:FALSE).
//
// Anything else (no certificate, an expired one, another CA's) fails the handshake.
// Session resumption is off on such a listener (no tickets, no session cache), so every
// connection proves its certificate afresh and none carries a certificate past its
// expiry.
struct ClientCertificates {
  std::string trust_bundle_pem = {};  // at least one certificate
  bool allow_self_signed = false;
};

// The server's certificate: PEM files, or an identity asked for at every handshake (so a
// certificate that is renewed while the server runs is picked up; the call must be cheap
// and thread-safe). TLS 1.2 and 1.3 only, forward-secret AEAD cipher suites only.
struct TlsSettings {
  std::string cert_chain_file;
  std::string private_key_file;
  // When set, used instead of the files. Asked once at start() (null then fails start()
  // with kInvalidArgument) and at every handshake (null or a throw then fails that
  // handshake).
  std::function<std::shared_ptr<const TlsIdentity>()> identity = {};
  // When set, the listener requires client certificates.
  std::optional<ClientCertificates> client_certificates = {};
};

// A request the server answered itself, without the handler: oversized header (431),
// oversized body (413) or malformed (400). Reported so the application can audit it.
struct RejectedRequest {
  unsigned status = 0;
  std::string reason;  // e.g. "request body too large"
  std::string method;  // empty when the header could not be parsed
  std::string path;    // likewise
  std::string remote_address;
  std::string request_id;  // the one sent back in X-Request-Id
};

struct ServerOptions {
  std::string address = "127.0.0.1";  // an IP address (v4 or v6), not a host name
  std::uint16_t port = 8420;          // 0: any free port, see Server::port()
  unsigned threads = 0;               // 0: one per hardware thread
  Limits limits;
  std::optional<TlsSettings> tls;
  // How long stop() lets in-flight requests finish before abandoning them.
  std::chrono::seconds drain_timeout{10};
  // When set, the server records sigil_http_requests_total{route,method,status} and
  // sigil_http_request_duration_seconds{route} here.
  std::shared_ptr<MetricsRegistry> metrics;
  // Called on a server thread for each RejectedRequest, before its answer is written.
  // Must not block.
  std::function<void(const RejectedRequest&)> on_rejected;
};

namespace detail {
struct ServerCore;
}

// Thread safety: start(), run() and stop_on_signals() are called by the owner, in that
// order, from one thread; stop() and port() may be called from any thread. The handler
// runs on the server's threads, concurrently for different connections.
//
// Lifetime: destroy the Server only after run() has returned (or was never called).
// Responders still held elsewhere stay safe to call and to drop after that.
class Server {
 public:
  Server(ServerOptions options, Handler handler);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Loads the TLS certificate and key or asks the identity provider, reads the client
  // trust bundle (kInvalidArgument when any is unusable), parses the address
  // (kInvalidArgument), binds and listens (kUnavailable, e.g. port in use).
  Result<void> start();

  // The bound port, valid after start() succeeded (the chosen one when 0 was asked).
  std::uint16_t port() const;

  // Serves on `threads` threads (this one included) until stop() has drained. Returns at
  // once if start() did not succeed. A Server runs once.
  void run();

  // Graceful: stops accepting, closes idle keep-alive connections, lets in-flight
  // requests finish (their responses carry Connection: close) for up to drain_timeout,
  // then makes run() return. Idempotent; callable before run().
  void stop();

  // Calls stop() on SIGINT or SIGTERM. Call after start() and before run().
  void stop_on_signals();

  // Calls `reload` on a server thread for each SIGHUP (it must not block long). Call after
  // start() and before run().
  void on_hangup(std::function<void()> reload);

 private:
  std::shared_ptr<detail::ServerCore> core_;
};

}  // namespace sigil::http
