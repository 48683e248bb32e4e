// The HTTP vocabulary the application sees: a parsed Request, the Response it builds and
// the Responder through which it answers, possibly later and from another thread.
// Nothing here includes Beast, so handlers and routers compile fast.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sigil::http {

using HeaderList = std::vector<std::pair<std::string, std::string>>;

// ASCII case-insensitive comparison, for header names, schemes and media types.
bool iequals(std::string_view a, std::string_view b);

// The certificate a client presented on a mutual-TLS connection (the same for every
// request of the connection).
struct PeerCertificate {
  std::string der;  // the client's own certificate (the leaf), DER
  // True when the chain the client sent verified against the listener's trust bundle;
  // false for a lone self-signed certificate let in by allow_self_signed.
  bool chain_verified = false;
};

struct Request {
  std::string method;  // as sent, e.g. "POST"
  std::string target;  // request-target as sent, e.g. "/oauth2/token?x=1"
  std::string path;    // target up to '?', not percent-decoded
  std::string query;   // after '?', without it; not decoded
  HeaderList headers;  // in arrival order, names as sent
  std::string body;
  std::string remote_address;  // peer IP address, no port
  bool tls = false;
  // Set on a mutual-TLS listener (ServerOptions::tls->client_certificates); null otherwise.
  std::shared_ptr<const PeerCertificate> peer_certificate;
  // Taken from a well-formed X-Request-Id (1-64 of [A-Za-z0-9._-]) or generated: 16 hex
  // characters. Echoed in the response's X-Request-Id.
  std::string request_id;

  // The first header with this name (case-insensitive), e.g. header("traceparent").
  std::optional<std::string_view> header(std::string_view name) const;
};

struct Response {
  unsigned status = 200;
  // Content-Length, Connection, Transfer-Encoding and Server are set by the server and
  // ignored here; a header whose name or value holds CR, LF or NUL is dropped.
  HeaderList headers;
  std::string body;
  // The route label for metrics, e.g. "/oauth2/token". Empty means "other", so that
  // unmatched paths cannot inflate label cardinality.
  std::string route;

  // application/json with the given (already serialised) body.
  static Response json(unsigned status, std::string body_text);
  // text/plain; charset=utf-8.
  static Response text(unsigned status, std::string text);
  // {"error":code,"error_description":description} as application/json; both strings
  // are JSON-escaped.
  static Response error(unsigned status, std::string_view code, std::string_view description);

  // Replaces every header with this name (case-insensitive), or adds it.
  Response& set_header(std::string name, std::string value);
  std::optional<std::string_view> header(std::string_view name) const;
};

// Answers one request. Copyable; every copy refers to the same pending answer. Call it
// at most once, from any thread: later calls are ignored. When the last copy is
// destroyed without a call, the request is answered 500, so a lost responder never
// leaves a connection hanging. Calling it after the server has stopped is safe (the
// answer is dropped).
class Responder {
 public:
  // What a Responder delivers to; implemented by the server (and by tests).
  class Target {
   public:
    virtual ~Target() = default;
    virtual void respond(Response&& response) = 0;
  };

  explicit Responder(std::shared_ptr<Target> target) : target_(std::move(target)) {}

  // A Responder that hands the response to `fn` (at most once); when dropped uncalled,
  // `fn` receives a 500. For tests of handlers and for in-process callers.
  static Responder from(std::function<void(Response&&)> fn);

  void operator()(Response&& response) const { target_->respond(std::move(response)); }

 private:
  std::shared_ptr<Target> target_;
};

// The application. Runs on a server I/O thread: it must not block; long work (disk,
// network, fsync) belongs elsewhere, answering through the Responder when done.
using Handler = std::function<void(Request&&, Responder)>;

// The 500 a Responder sends when dropped without an answer.
Response lost_response();

}  // namespace sigil::http
