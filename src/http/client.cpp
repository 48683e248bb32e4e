#include "http/client.hpp"

#include <openssl/ssl.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <charconv>
#include <memory>

namespace sigil::http {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
using tcp = boost::asio::ip::tcp;

namespace {

bool has_control_or_space(std::string_view s) {
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7F) return true;
  }
  return false;
}

// One exchange, driven by callbacks on a private io_context; every step shares one
// deadline through the stream's timer (the resolver is bounded by run_for()).
template <typename Stream>
class Exchange : public std::enable_shared_from_this<Exchange<Stream>> {
 public:
  template <typename... Args>
  Exchange(net::io_context& ioc, const ParsedUrl& url, bhttp::request<bhttp::string_body> req,
           std::chrono::steady_clock::time_point deadline, std::size_t max_body, Args&&... args)
      : resolver_(ioc),
        stream_(ioc, std::forward<Args>(args)...),
        url_(url),
        req_(std::move(req)),
        deadline_(deadline) {
    parser_.body_limit(max_body);
    parser_.header_limit(64 * 1024);
  }

  Result<ClientResponse> result = std::unexpected(Error::unavailable("request timed out"));

  void start() {
    if constexpr (!std::is_same_v<Stream, beast::tcp_stream>) {
      // SNI must not be an IP address (RFC 6066 §3).
      beast::error_code ec;
      net::ip::make_address(url_.host, ec);
      if (ec && !SSL_set_tlsext_host_name(stream_.native_handle(), url_.host.c_str())) {
        return fail(Error::internal("TLS: cannot set server name"));
      }
      stream_.set_verify_mode(ssl::verify_peer);
      stream_.set_verify_callback(ssl::host_name_verification(url_.host));
    }
    resolver_.async_resolve(
        url_.host, std::to_string(url_.port),
        [self = this->shared_from_this()](beast::error_code ec, tcp::resolver::results_type r) {
          if (ec)
            return self->fail(
                Error::unavailable("cannot resolve " + self->url_.host + ": " + ec.message()));
          self->lowest().expires_at(self->deadline_);
          self->lowest().async_connect(r, [self](beast::error_code ec, const tcp::endpoint&) {
            if (ec)
              return self->fail(Error::unavailable("cannot connect to " + self->url_.host + ":" +
                                                   std::to_string(self->url_.port) + ": " +
                                                   ec.message()));
            self->handshake();
          });
        });
  }

 private:
  beast::tcp_stream& lowest() { return beast::get_lowest_layer(stream_); }

  void handshake() {
    if constexpr (std::is_same_v<Stream, beast::tcp_stream>) {
      write();
    } else {
      stream_.async_handshake(
          ssl::stream_base::client, [self = this->shared_from_this()](beast::error_code ec) {
            if (ec) {
              return self->fail(Error::unavailable("TLS handshake with " + self->url_.host +
                                                   " failed: " + ec.message()));
            }
            self->write();
          });
    }
  }

  void write() {
    bhttp::async_write(stream_, req_,
                       [self = this->shared_from_this()](beast::error_code ec, std::size_t) {
                         if (ec)
                           return self->fail(Error::unavailable("write failed: " + ec.message()));
                         self->read();
                       });
  }

  void read() {
    bhttp::async_read(stream_, buffer_, parser_,
                      [self = this->shared_from_this()](beast::error_code ec, std::size_t) {
                        if (ec == beast::error::timeout) {
                          return self->fail(Error::unavailable("request timed out"));
                        }
                        // In TLS 1.3 the server checks the client's certificate after the
                        // client has finished its handshake: a refusal arrives here.
                        if (ec.category() == net::error::get_ssl_category()) {
                          return self->fail(Error::unavailable("TLS with " + self->url_.host +
                                                               " failed: " + ec.message()));
                        }
                        if (ec) {
                          return self->fail(Error::internal("bad response: " + ec.message()));
                        }
                        self->done();
                      });
  }

  void done() {
    auto& msg = parser_.get();
    ClientResponse res;
    res.status = msg.result_int();
    for (const auto& f : msg) res.headers.emplace_back(f.name_string(), f.value());
    res.body = std::move(msg.body());
    result = std::move(res);
    close();
  }

  void fail(Error e) {
    result = std::unexpected(std::move(e));
    close();
  }

  void close() {
    beast::error_code ignored;
    lowest().socket().shutdown(tcp::socket::shutdown_both, ignored);
    lowest().close();
  }

  tcp::resolver resolver_;
  Stream stream_;
  ParsedUrl url_;
  bhttp::request<bhttp::string_body> req_;
  std::chrono::steady_clock::time_point deadline_;
  beast::flat_buffer buffer_;
  bhttp::response_parser<bhttp::string_body> parser_;
};

}  // namespace

std::optional<std::string_view> ClientResponse::header(std::string_view name) const {
  for (const auto& [n, v] : headers) {
    if (iequals(n, name)) return std::string_view(v);
  }
  return std::nullopt;
}

Result<ParsedUrl> parse_url(std::string_view url) {
  auto bad = [&](std::string_view why) {
    return std::unexpected(Error::invalid_argument("bad URL: " + std::string(why)));
  };
  if (has_control_or_space(url)) return bad("contains white space or control characters");
  ParsedUrl out;
  std::size_t sep = url.find("://");
  if (sep == std::string_view::npos) return bad("no scheme");
  std::string_view scheme = url.substr(0, sep);
  if (iequals(scheme, "https")) {
    out.tls = true;
  } else if (!iequals(scheme, "http")) {
    return bad("scheme must be http or https");
  }
  std::string_view rest = url.substr(sep + 3);
  std::size_t end = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, end);
  std::string_view tail = end == std::string_view::npos ? std::string_view{} : rest.substr(end);
  tail = tail.substr(0, tail.find('#'));
  if (authority.find('@') != std::string_view::npos) return bad("user info is not supported");
  std::string_view host, port;
  if (!authority.empty() && authority.front() == '[') {
    std::size_t close = authority.find(']');
    if (close == std::string_view::npos) return bad("unterminated IPv6 address");
    host = authority.substr(1, close - 1);
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return bad("junk after IPv6 address");
      port = after.substr(1);
    }
    beast::error_code ec;
    net::ip::make_address_v6(std::string(host), ec);
    if (ec) return bad("invalid IPv6 address");
  } else {
    std::size_t colon = authority.find(':');
    host = authority.substr(0, colon);
    if (colon != std::string_view::npos) port = authority.substr(colon + 1);
    for (char c : host) {
      bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                c == '-' || c == '.' || c == '_';
      if (!ok) return bad("invalid host");
    }
  }
  if (host.empty()) return bad("no host");
  out.host = host;
  out.port = out.tls ? 443 : 80;
  if (!port.empty() || authority.back() == ':') {
    unsigned value = 0;
    auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (ec != std::errc() || ptr != port.data() + port.size() || value == 0 || value > 65535) {
      return bad("invalid port");
    }
    out.port = static_cast<std::uint16_t>(value);
  }
  out.target = tail.empty() || tail.front() != '/' ? "/" + std::string(tail) : std::string(tail);
  return out;
}

Result<ClientResponse> request(std::string_view method, std::string_view url,
                               const HeaderList& headers, std::string_view body,
                               const ClientOptions& options) {
  SIGIL_TRY(parsed, parse_url(url));
  if (options.cert_file.empty() != options.key_file.empty()) {
    return std::unexpected(Error::invalid_argument(
        "a client certificate needs its key and a key its certificate (cert_file, key_file)"));
  }
  bhttp::verb verb = bhttp::string_to_verb(method);
  if (verb == bhttp::verb::unknown) {
    return std::unexpected(Error::invalid_argument("unsupported HTTP method"));
  }
  bhttp::request<bhttp::string_body> req(verb, parsed.target, 11);
  bool default_port = parsed.port == (parsed.tls ? 443 : 80);
  std::string host =
      parsed.host.find(':') != std::string::npos ? "[" + parsed.host + "]" : parsed.host;
  if (!default_port) host += ":" + std::to_string(parsed.port);
  req.set(bhttp::field::host, host);
  req.set(bhttp::field::user_agent, "sigil");
  for (const auto& [name, value] : headers) {
    if (name.empty() || has_control_or_space(name) ||
        value.find_first_of(std::string_view("\r\n\0", 3)) != std::string::npos) {
      return std::unexpected(Error::invalid_argument("invalid request header"));
    }
    req.set(name, value);
  }
  req.body() = std::string(body);
  req.prepare_payload();
  req.keep_alive(false);

  auto deadline = std::chrono::steady_clock::now() + options.timeout;
  net::io_context ioc;
  try {
    if (parsed.tls) {
      ssl::context ctx(ssl::context::tls_client);
      SSL_CTX_set_min_proto_version(ctx.native_handle(), TLS1_2_VERSION);
      beast::error_code ec;
      if (options.ca_file.empty()) {
        ctx.set_default_verify_paths(ec);
      } else {
        ctx.load_verify_file(options.ca_file, ec);
      }
      if (ec) {
        return std::unexpected(
            Error::invalid_argument("cannot load CA certificates: " + ec.message()));
      }
      if (!options.cert_file.empty()) {
        // An encrypted key is refused rather than prompted for on a terminal.
        ctx.set_password_callback([](std::size_t, ssl::context::password_purpose) { return ""; });
        ctx.use_certificate_chain_file(options.cert_file, ec);
        if (ec) {
          return std::unexpected(Error::invalid_argument("client certificate '" +
                                                         options.cert_file + "': " + ec.message()));
        }
        ctx.use_private_key_file(options.key_file, ssl::context::pem, ec);
        if (ec || SSL_CTX_check_private_key(ctx.native_handle()) != 1) {
          ERR_clear_error();
          return std::unexpected(
              Error::invalid_argument("client key '" + options.key_file +
                                      "' is unreadable or does not match the certificate"));
        }
      }
      using TlsExchange = Exchange<beast::ssl_stream<beast::tcp_stream>>;
      auto ex = std::make_shared<TlsExchange>(ioc, parsed, std::move(req), deadline,
                                              options.max_response_body_bytes, ctx);
      ex->start();
      ioc.run_until(deadline);
      return std::move(ex->result);
    }
    using PlainExchange = Exchange<beast::tcp_stream>;
    auto ex = std::make_shared<PlainExchange>(ioc, parsed, std::move(req), deadline,
                                              options.max_response_body_bytes);
    ex->start();
    ioc.run_until(deadline);
    return std::move(ex->result);
  } catch (const std::exception& e) {
    return std::unexpected(Error::internal(std::string("HTTP client: ") + e.what()));
  }
}

}  // namespace sigil::http
