// Sessions and listener, after Boost.Beast's example/advanced/server-flex: plain and TLS
// sessions share one template; the session applies the limits to every message.
#include "http/server.hpp"

#include <openssl/ssl.h>

#include <array>
#include <atomic>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <charconv>
#include <cstring>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

#include "base/secrets.hpp"
#include "http/tls.hpp"

namespace sigil::http {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
using tcp = boost::asio::ip::tcp;
using SteadyClock = std::chrono::steady_clock;

namespace {

// After a response with Connection: close we stop sending, then read and discard what
// the client still sends for a little while, so that closing with unread data does not
// make the kernel reset the connection before the client has read our answer.
constexpr auto kLingerTimeout = std::chrono::seconds(2);
constexpr std::size_t kLingerMaxBytes = 1 << 20;
constexpr auto kDrainPoll = std::chrono::milliseconds(10);
constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";

// Mozilla "intermediate" TLS 1.2 suites: ECDHE + AEAD only. TLS 1.3 suites are all strong.
constexpr const char* kTls12Ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

bool is_tchar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool valid_header(std::string_view name, std::string_view value) {
  if (name.empty()) return false;
  for (char c : name) {
    if (!is_tchar(c)) return false;
  }
  return value.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos;
}

// Headers whose framing meaning the server owns.
bool reserved_header(std::string_view name) {
  return iequals(name, "content-length") || iequals(name, "transfer-encoding") ||
         iequals(name, "connection") || iequals(name, "server") || iequals(name, "x-request-id");
}

bool valid_request_id(std::string_view id) {
  if (id.empty() || id.size() > 64) return false;
  for (char c : id) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

// A fixed set, so a client cannot inflate the method label's cardinality.
std::string_view method_label(bhttp::verb v) {
  switch (v) {
    case bhttp::verb::get:
      return "GET";
    case bhttp::verb::post:
      return "POST";
    case bhttp::verb::put:
      return "PUT";
    case bhttp::verb::delete_:
      return "DELETE";
    case bhttp::verb::head:
      return "HEAD";
    case bhttp::verb::options:
      return "OPTIONS";
    case bhttp::verb::patch:
      return "PATCH";
    default:
      return "other";
  }
}

// Request ids are correlation handles, not secrets: a per-thread splitmix64 sequence
// seeded once from the system RNG is unique enough and keeps RAND_bytes off the hot path.
std::string new_request_id() {
  thread_local std::uint64_t state = [] {
    std::uint64_t seed = 0;
    std::string bytes = random_bytes(sizeof seed);
    std::memcpy(&seed, bytes.data(), sizeof seed);
    return seed;
  }();
  std::uint64_t z = (state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id(16, '0');
  for (int i = 15; i >= 0; --i, z >>= 4) id[static_cast<std::size_t>(i)] = kHex[z & 0xF];
  return id;
}

int thread_count(const ServerOptions& o) {
  return static_cast<int>(o.threads != 0 ? o.threads
                                         : std::max(1u, std::thread::hardware_concurrency()));
}

bool is_parse_error(const beast::error_code& ec) {
  return ec.category() == bhttp::make_error_code(bhttp::error::bad_method).category();
}

}  // namespace

namespace detail {

class SessionBase {
 public:
  virtual ~SessionBase() = default;
  // Closes the connection if it is waiting for a request; otherwise the response in
  // progress goes out with Connection: close. Thread-safe.
  virtual void close_if_idle() = 0;
};

// Shared by the Server and by every outstanding Responder, so that the io_context outlives
// any session a Responder may still reach. Handlers queued on the io_context refer to the
// core by plain pointer: they run only inside run(), while the Server holds the core, and
// a shared pointer there would make a cycle (core -> io_context -> handler -> core).
struct ServerCore : std::enable_shared_from_this<ServerCore> {
  ServerCore(ServerOptions o, Handler h) : options(std::move(o)), handler(std::move(h)) {
    if (options.metrics) {
      requests_total = &options.metrics->counter(
          "sigil_http_requests_total", "HTTP requests answered, by route, method and status",
          {"route", "method", "status"});
      request_duration = &options.metrics->histogram(
          "sigil_http_request_duration_seconds",
          "Time from a request's header to its response, by route", {"route"});
    }
  }

  Result<void> start();
  void do_accept();
  void begin_drain();
  void drain_check();
  void wait_for_hangup() {
    hangup->async_wait([this](beast::error_code ec, int) {
      if (ec || stopping.load()) return;
      on_hangup();
      wait_for_hangup();
    });
  }
  void stop() {
    if (stopping.exchange(true)) return;
    net::post(strand, [this] { begin_drain(); });
  }

  void add_session(SessionBase* s, std::weak_ptr<SessionBase> w) {
    std::lock_guard lock(sessions_mu);
    sessions.emplace(s, std::move(w));
  }
  void remove_session(SessionBase* s) {
    std::lock_guard lock(sessions_mu);
    sessions.erase(s);
  }

  // Declared before the io_context: sessions destroyed with its pending handlers use them.
  ServerOptions options;
  Handler handler;
  CounterFamily* requests_total = nullptr;
  HistogramFamily* request_duration = nullptr;
  std::atomic<bool> stopping{false};
  std::atomic<std::uint16_t> bound_port{0};
  std::mutex sessions_mu;
  std::unordered_map<SessionBase*, std::weak_ptr<SessionBase>> sessions;
  std::optional<ssl::context> ssl_ctx;

  net::io_context ioc{thread_count(options)};
  // Serialises the listener, the drain timer and the signal set.
  net::strand<net::io_context::executor_type> strand{ioc.get_executor()};
  tcp::acceptor acceptor{strand};
  net::steady_timer accept_timer{strand};
  net::steady_timer drain_timer{strand};
  SteadyClock::time_point drain_deadline;
  std::optional<net::signal_set> signals;
  std::optional<net::signal_set> hangup;
  std::function<void()> on_hangup;
  bool started = false;
};

}  // namespace detail

namespace {

using detail::ServerCore;
using detail::SessionBase;

template <typename Stream>
class Session;

// The Responder's target: delivers one response to its session's executor.
template <typename S>
class PendingResponse final : public Responder::Target {
 public:
  PendingResponse(std::shared_ptr<ServerCore> core, std::shared_ptr<S> session)
      : core_(std::move(core)), session_(std::move(session)) {}
  ~PendingResponse() override {
    if (!done_.exchange(true)) deliver(lost_response());
  }
  void respond(Response&& response) override {
    if (!done_.exchange(true)) deliver(std::move(response));
  }

 private:
  void deliver(Response&& response) {
    auto s = session_;
    net::dispatch(s->executor(),
                  [s, r = std::move(response)]() mutable { s->write_response(std::move(r)); });
  }

  // Keeps the io_context (inside the core) alive for as long as the session it serves.
  std::shared_ptr<ServerCore> core_;
  std::shared_ptr<S> session_;
  std::atomic<bool> done_{false};
};

template <typename Stream>
class Session final : public SessionBase, public std::enable_shared_from_this<Session<Stream>> {
  static constexpr bool kTls = !std::is_same_v<Stream, beast::tcp_stream>;

 public:
  template <typename... Args>
  Session(ServerCore& core, tcp::socket&& socket, Args&&... args)
      : core_(core), stream_(std::move(socket), std::forward<Args>(args)...) {
    beast::error_code ec;
    auto endpoint = tcp_stream().socket().remote_endpoint(ec);
    if (!ec) remote_address_ = endpoint.address().to_string();
  }
  ~Session() override { core_.remove_session(this); }

  auto executor() { return stream_.get_executor(); }

  void start() {
    core_.add_session(this, this->weak_from_this());
    net::dispatch(executor(), [self = this->shared_from_this()] { self->on_start(); });
  }

  void close_if_idle() override {
    net::post(executor(), [self = this->shared_from_this()] {
      if (self->state_ == State::kIdle || self->state_ == State::kHandshake ||
          self->state_ == State::kLinger) {
        self->tcp_stream().cancel();
      }
    });
  }

  // On the session's executor.
  void write_response(Response&& r) {
    if (state_ != State::kHandling) return;
    state_ = State::kWriting;
    unsigned status = r.status;
    if (status < 200 || status > 599) {
      r = lost_response();
      status = r.status;
    }
    if (core_.options.limits.max_requests_per_connection != 0 &&
        requests_ >= core_.options.limits.max_requests_per_connection) {
      keep_alive_ = false;
    }
    if (core_.stopping.load(std::memory_order_relaxed)) keep_alive_ = false;
    record(r.route.empty() ? std::string_view("other") : std::string_view(r.route), status);

    res_ = {};
    res_.version(version_);
    res_.result(status);
    res_.set(bhttp::field::server, "sigil");
    bool cache_control = false;
    for (auto& [name, value] : r.headers) {
      if (!valid_header(name, value) || reserved_header(name)) continue;
      if (iequals(name, "cache-control")) cache_control = true;
      res_.insert(name, value);
    }
    if (!cache_control) res_.set(bhttp::field::cache_control, "no-store");
    res_.set("X-Request-Id", request_id_);
    if (status == 204 || status == 304) {
      r.body.clear();
    } else {
      res_.content_length(r.body.size());
      if (head_) r.body.clear();  // HEAD: the length of what GET would send, no body
    }
    res_.body() = std::move(r.body);
    res_.keep_alive(keep_alive_);

    tcp_stream().expires_after(core_.options.limits.request_timeout);
    bhttp::async_write(stream_, res_,
                       [self = this->shared_from_this()](beast::error_code ec, std::size_t) {
                         self->on_write(ec);
                       });
  }

 private:
  enum class State { kHandshake, kIdle, kReading, kHandling, kWriting, kLinger, kClosed };

  beast::tcp_stream& tcp_stream() { return beast::get_lowest_layer(stream_); }

  void on_start() {
    if constexpr (kTls) {
      state_ = State::kHandshake;
      tcp_stream().expires_after(core_.options.limits.request_timeout);
      stream_.async_handshake(ssl::stream_base::server,
                              [self = this->shared_from_this()](beast::error_code ec) {
                                if (ec || !self->accept_peer()) return self->close();
                                self->do_read();
                              });
    } else {
      do_read();
    }
  }

  // On a mutual-TLS listener, takes the certificate the client proved, once for the
  // connection. False when there is none to take: the connection is not served.
  bool accept_peer() {
    if constexpr (kTls) {
      const auto& client_certificates = core_.options.tls->client_certificates;
      if (!client_certificates) return true;
      peer_certificate_ =
          detail::proven_peer_certificate(stream_.native_handle(), *client_certificates);
      return peer_certificate_ != nullptr;
    }
    return true;
  }

  void do_read() {
    if (core_.stopping.load(std::memory_order_relaxed)) return close();
    state_ = State::kIdle;
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(
        std::min<std::size_t>(core_.options.limits.max_header_bytes, UINT32_MAX)));
    // With a limit per path, Content-Length is checked once the path is known (Beast would
    // check it against the parser's limit while reading the header).
    if (core_.options.limits.body_limit_for) {
      parser_->body_limit(boost::none);
    } else {
      parser_->body_limit(core_.options.limits.max_body_bytes);
    }
    tcp_stream().expires_after(core_.options.limits.idle_timeout);
    bhttp::async_read_header(stream_, buffer_, *parser_,
                             [self = this->shared_from_this()](beast::error_code ec, std::size_t) {
                               self->on_header(ec);
                             });
  }

  void on_header(beast::error_code ec) {
    started_ = SteadyClock::now();
    if (ec) return on_read_error(ec);
    state_ = State::kReading;
    if (parser_->is_done()) return on_request();
    if (const auto& limit_for = core_.options.limits.body_limit_for) {
      const auto target = parser_->get().target();
      const auto path = target.substr(0, target.find('?'));
      const std::size_t limit = limit_for(std::string_view(path.data(), path.size()));
      if (const auto length = parser_->content_length(); length && *length > limit) {
        return send_error(413, "request body too large");
      }
      parser_->body_limit(limit);
    }
    tcp_stream().expires_after(core_.options.limits.request_timeout);
    auto expect = parser_->get()[bhttp::field::expect];
    if (iequals(expect, "100-continue")) {
      net::async_write(stream_, net::buffer(kContinue.data(), kContinue.size()),
                       [self = this->shared_from_this()](beast::error_code ec, std::size_t) {
                         if (ec) return self->close();
                         self->read_body();
                       });
      return;
    }
    read_body();
  }

  void read_body() {
    bhttp::async_read(stream_, buffer_, *parser_,
                      [self = this->shared_from_this()](beast::error_code ec, std::size_t) {
                        if (ec) return self->on_read_error(ec);
                        self->on_request();
                      });
  }

  void on_read_error(beast::error_code ec) {
    if (ec == bhttp::error::header_limit) {
      return send_error(431, "request header too large");
    }
    if (ec == bhttp::error::body_limit) return send_error(413, "request body too large");
    // A connection closed or timed out between or within requests is not answered.
    if (ec == bhttp::error::end_of_stream || ec == bhttp::error::partial_message ||
        !is_parse_error(ec)) {
      return close();
    }
    send_error(400, "malformed HTTP request");
  }

  void send_error(unsigned status, std::string_view description) {
    keep_alive_ = false;
    unread_input_ = true;
    head_ = false;
    version_ = 11;
    request_id_ = new_request_id();
    method_ = "other";
    state_ = State::kHandling;
    if (core_.options.on_rejected) {
      RejectedRequest rejected;
      rejected.status = status;
      rejected.reason = description;
      // The start line is parsed before the fields, so a request refused for its
      // Content-Length or a field still names its method and target.
      if (parser_ && !parser_->get().target().empty()) {
        const auto& msg = parser_->get();
        rejected.method = msg.method_string();
        const std::string_view target = msg.target();
        rejected.path = target.substr(0, std::min(target.find('?'), std::size_t{256}));
      }
      rejected.remote_address = remote_address_;
      rejected.request_id = request_id_;
      core_.options.on_rejected(rejected);
    }
    write_response(Response::error(status, "invalid_request", description));
  }

  void on_request() {
    state_ = State::kHandling;
    ++requests_;
    auto& msg = parser_->get();
    keep_alive_ = msg.keep_alive();
    version_ = msg.version();
    head_ = msg.method() == bhttp::verb::head;
    method_ = method_label(msg.method());

    Request req;
    req.method = msg.method_string();
    req.target = msg.target();
    std::size_t q = req.target.find('?');
    req.path = req.target.substr(0, q);
    if (q != std::string::npos) req.query = req.target.substr(q + 1);
    for (const auto& field : msg) req.headers.emplace_back(field.name_string(), field.value());
    req.body = std::move(msg.body());
    req.remote_address = remote_address_;
    req.tls = kTls;
    req.peer_certificate = peer_certificate_;
    auto id = msg["X-Request-Id"];
    request_id_ = valid_request_id(id) ? std::string(id) : new_request_id();
    req.request_id = request_id_;
    parser_.reset();

    auto self = this->shared_from_this();
    Responder responder(std::make_shared<PendingResponse<Session>>(core_.shared_from_this(), self));
    try {
      core_.handler(std::move(req), std::move(responder));
    } catch (...) {
      // The handler's copy of the responder is gone; if it had not answered, it has
      // answered 500 on destruction. Nothing else to do, and nothing may escape here.
    }
  }

  void on_write(beast::error_code ec) {
    if (ec) return close();
    if (!res_.keep_alive()) return shutdown();
    res_ = {};
    do_read();
  }

  void record(std::string_view route, unsigned status) {
    if (core_.requests_total == nullptr) return;
    char buf[8];
    auto [end, rc] = std::to_chars(buf, buf + sizeof buf, status);
    core_.requests_total->with({route, method_, std::string_view(buf, end)}).inc();
    std::chrono::duration<double> elapsed = SteadyClock::now() - started_;
    core_.request_duration->with({route}).observe(elapsed.count());
  }

  // Graceful close after a Connection: close response.
  void shutdown() {
    state_ = State::kLinger;
    if constexpr (kTls) {
      tcp_stream().expires_after(kLingerTimeout);
      stream_.async_shutdown(
          [self = this->shared_from_this()](beast::error_code) { self->close(); });
    } else {
      // Lingering matters only when the client may still be sending: after an error
      // (body left unread) or when it pipelined more requests.
      if (!unread_input_ && buffer_.size() == 0) return close();
      beast::error_code ignored;
      tcp_stream().socket().shutdown(tcp::socket::shutdown_send, ignored);
      tcp_stream().expires_after(kLingerTimeout);
      linger();
    }
  }

  void linger() {
    tcp_stream().async_read_some(buffer_.prepare(4096), [self = this->shared_from_this()](
                                                            beast::error_code ec, std::size_t n) {
      self->lingered_ += n;
      if (ec || self->lingered_ > kLingerMaxBytes) return self->close();
      self->linger();
    });
  }

  void close() {
    state_ = State::kClosed;
    beast::error_code ignored;
    tcp_stream().socket().shutdown(tcp::socket::shutdown_both, ignored);
    tcp_stream().close();
  }

  ServerCore& core_;
  Stream stream_;
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  bhttp::response<bhttp::string_body> res_;
  std::string remote_address_;
  std::shared_ptr<const PeerCertificate> peer_certificate_;  // mutual TLS only
  State state_ = State::kHandshake;
  std::size_t requests_ = 0;
  std::size_t lingered_ = 0;
  bool unread_input_ = false;
  // Of the request being answered.
  bool keep_alive_ = false;
  bool head_ = false;
  unsigned version_ = 11;
  std::string_view method_ = "other";
  std::string request_id_;
  SteadyClock::time_point started_;
};

using PlainSession = Session<beast::tcp_stream>;
using TlsSession = Session<beast::ssl_stream<beast::tcp_stream>>;

}  // namespace

namespace detail {

Result<void> ServerCore::start() {
  if (started) return std::unexpected(Error::failed_precondition("server already started"));
  if (options.tls) {
    ssl_ctx.emplace(ssl::context::tls_server);
    auto& ctx = *ssl_ctx;
    ctx.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                    ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 |
                    ssl::context::single_dh_use | SSL_OP_NO_RENEGOTIATION |
                    SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_COMPRESSION);
    SSL_CTX* native = ctx.native_handle();
    if (SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION) != 1 ||
        SSL_CTX_set_cipher_list(native, kTls12Ciphers) != 1) {
      return std::unexpected(Error::internal("TLS: cannot configure protocol versions/ciphers"));
    }
    if (options.tls->identity) {
      // Asked once now, so that a provider with nothing to serve fails start() rather
      // than every handshake.
      std::shared_ptr<const TlsIdentity> initial;
      try {
        initial = options.tls->identity();
      } catch (const std::exception& e) {
        return std::unexpected(
            Error::invalid_argument(std::string("TLS identity provider failed: ") + e.what()));
      } catch (...) {
        return std::unexpected(Error::invalid_argument("TLS identity provider failed"));
      }
      if (!initial) {
        return std::unexpected(
            Error::invalid_argument("TLS identity provider has no certificate to serve"));
      }
      detail::use_identity_provider(native, &options.tls->identity);
    } else {
      beast::error_code ec;
      ctx.use_certificate_chain_file(options.tls->cert_chain_file, ec);
      if (ec) {
        return std::unexpected(Error::invalid_argument(
            "TLS certificate chain '" + options.tls->cert_chain_file + "': " + ec.message()));
      }
      // An encrypted key is refused rather than prompted for on a terminal.
      ctx.set_password_callback([](std::size_t, ssl::context::password_purpose) { return ""; });
      ctx.use_private_key_file(options.tls->private_key_file, ssl::context::pem, ec);
      if (ec || SSL_CTX_check_private_key(native) != 1) {
        ERR_clear_error();
        return std::unexpected(
            Error::invalid_argument("TLS private key '" + options.tls->private_key_file +
                                    "' is unreadable or does not match the certificate"));
      }
    }
    if (options.tls->client_certificates) {
      SIGIL_CHECK(detail::require_client_certificates(native, *options.tls->client_certificates));
    }
  }

  beast::error_code ec;
  auto address = net::ip::make_address(options.address, ec);
  if (ec) {
    return std::unexpected(
        Error::invalid_argument("listen address '" + options.address + "' is not an IP address"));
  }
  tcp::endpoint endpoint(address, options.port);
  auto fail = [&](std::string_view what) {
    beast::error_code ignored;
    acceptor.close(ignored);
    return std::unexpected(Error::unavailable(std::string(what) + " " + options.address + ":" +
                                              std::to_string(options.port) + ": " + ec.message()));
  };
  if (acceptor.open(endpoint.protocol(), ec); ec) return fail("cannot open socket for");
  if (acceptor.set_option(net::socket_base::reuse_address(true), ec); ec) {
    return fail("cannot set SO_REUSEADDR for");
  }
  if (acceptor.bind(endpoint, ec); ec) return fail("cannot bind");
  if (acceptor.listen(net::socket_base::max_listen_connections, ec); ec) {
    return fail("cannot listen on");
  }
  bound_port = acceptor.local_endpoint(ec).port();
  started = true;
  net::post(strand, [this] { do_accept(); });
  return Ok();
}

void ServerCore::do_accept() {
  acceptor.async_accept(
      net::make_strand(ioc), [self = this](beast::error_code ec, tcp::socket socket) {
        if (!self->acceptor.is_open()) return;
        if (ec) {
          // Typically EMFILE: back off briefly instead of spinning.
          self->accept_timer.expires_after(std::chrono::milliseconds(50));
          self->accept_timer.async_wait([self](beast::error_code e) {
            if (!e) self->do_accept();
          });
          return;
        }
        beast::error_code ignored;
        socket.set_option(tcp::no_delay(true), ignored);
        if (self->ssl_ctx) {
          std::make_shared<TlsSession>(*self, std::move(socket), *self->ssl_ctx)->start();
        } else {
          std::make_shared<PlainSession>(*self, std::move(socket))->start();
        }
        self->do_accept();
      });
}

void ServerCore::begin_drain() {
  beast::error_code ignored;
  acceptor.close(ignored);
  accept_timer.cancel();
  if (signals) signals->cancel(ignored);
  if (hangup) hangup->cancel(ignored);
  std::vector<std::shared_ptr<SessionBase>> live;
  {
    std::lock_guard lock(sessions_mu);
    for (auto& [ptr, weak] : sessions) {
      if (auto s = weak.lock()) live.push_back(std::move(s));
    }
  }
  for (auto& s : live) s->close_if_idle();
  live.clear();
  drain_deadline = SteadyClock::now() + options.drain_timeout;
  drain_check();
}

void ServerCore::drain_check() {
  bool empty;
  {
    std::lock_guard lock(sessions_mu);
    empty = sessions.empty();
  }
  if (empty || SteadyClock::now() >= drain_deadline) {
    ioc.stop();
    return;
  }
  drain_timer.expires_after(kDrainPoll);
  drain_timer.async_wait([this](beast::error_code ec) {
    if (!ec) drain_check();
  });
}

}  // namespace detail

Server::Server(ServerOptions options, Handler handler)
    : core_(std::make_shared<detail::ServerCore>(std::move(options), std::move(handler))) {}

Server::~Server() {
  // No thread runs the io_context any more; close the listener now, since responders
  // still held elsewhere may keep the core alive for a while.
  beast::error_code ignored;
  core_->acceptor.close(ignored);
  if (core_->signals) core_->signals->cancel(ignored);
  if (core_->hangup) core_->hangup->cancel(ignored);
}

Result<void> Server::start() {
  return core_->start();
}

std::uint16_t Server::port() const {
  return core_->bound_port.load();
}

void Server::run() {
  if (!core_->started) return;
  auto n = static_cast<unsigned>(thread_count(core_->options));
  std::vector<std::thread> pool;
  pool.reserve(n - 1);
  for (unsigned i = 1; i < n; ++i) pool.emplace_back([this] { core_->ioc.run(); });
  core_->ioc.run();
  for (auto& t : pool) t.join();
}

void Server::stop() {
  core_->stop();
}

void Server::stop_on_signals() {
  auto& core = *core_;
  core.signals.emplace(core.strand, SIGINT, SIGTERM);
  core.signals->async_wait([weak = std::weak_ptr(core_)](beast::error_code ec, int) {
    if (ec) return;
    if (auto c = weak.lock()) c->stop();
  });
}

void Server::on_hangup(std::function<void()> reload) {
  auto& core = *core_;
  core.on_hangup = std::move(reload);
  core.hangup.emplace(core.strand, SIGHUP);
  core.wait_for_hangup();
}

}  // namespace sigil::http
