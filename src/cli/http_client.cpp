// All of the CLI's Boost.Beast code lives here, so that only this file pays its compile time.
//
// Asio's blocking calls have no timeouts, so each step is started asynchronously and the
// io_context is run until the step completes or the exchange's deadline passes; on the
// deadline the step is cancelled and drained, and the exchange fails as a timeout.
#include "cli/http_client.hpp"

#include <openssl/ssl.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>

#include <algorithm>
#include <exception>

namespace sigil::cli {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using boost::system::error_code;

constexpr std::size_t kMaxHeaderBytes = 16 * 1024;
constexpr std::string_view kUserAgent = "sigil-cli/" SIGIL_VERSION;

bool iequals(std::string_view a, std::string_view b) {
  return std::ranges::equal(a, b, [](char x, char y) {
    auto lower = [](char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; };
    return lower(x) == lower(y);
  });
}

bool has_control_break(std::string_view s) {
  return s.find_first_of(std::string_view("\r\n\0", 3)) != std::string_view::npos;
}

struct Target {
  bool tls = false;
  std::string host;         // name or IP address, without brackets
  std::string port;         // decimal
  std::string host_header;  // as in the URL, e.g. "[::1]:8420"
  std::string origin;       // scheme://host[:port], for messages
  std::string request_target;
};

Result<Target> parse_target(std::string_view url) {
  auto parsed = boost::urls::parse_absolute_uri(url);
  if (!parsed) return std::unexpected(Error::invalid_argument("not an absolute URL"));
  const boost::urls::url_view& u = *parsed;
  Target t;
  if (u.scheme_id() == boost::urls::scheme::https) {
    t.tls = true;
  } else if (u.scheme_id() != boost::urls::scheme::http) {
    return std::unexpected(Error::invalid_argument("the URL scheme must be http or https"));
  }
  if (u.has_userinfo()) {
    return std::unexpected(Error::invalid_argument("the URL may not carry user information"));
  }
  t.host = u.host_address();
  if (t.host.empty()) return std::unexpected(Error::invalid_argument("the URL has no host"));
  if (u.has_port()) {
    if (u.port().empty() || u.port_number() == 0) {
      return std::unexpected(Error::invalid_argument("the URL's port is not valid"));
    }
    t.port = std::to_string(u.port_number());
  } else {
    t.port = t.tls ? "443" : "80";
  }
  t.host_header = std::string(u.encoded_host_and_port());
  t.origin = std::string(u.scheme()) + "://" + t.host_header;
  t.request_target = std::string(u.encoded_target());
  if (t.request_target.empty() || t.request_target.front() != '/') {
    t.request_target.insert(0, "/");
  }
  return t;
}

// Runs asynchronous steps against one deadline.
class Deadline {
 public:
  Deadline(asio::io_context& ioc, std::chrono::milliseconds timeout)
      : ioc_(ioc), until_(std::chrono::steady_clock::now() + timeout) {}

  // Runs the io_context until `done` is set or the deadline passes. On the deadline,
  // calls `cancel` and drains the cancelled step; returns false.
  template <typename Cancel>
  bool run(const bool& done, Cancel cancel) {
    ioc_.restart();
    ioc_.run_until(until_);
    if (done) return true;
    cancel();
    ioc_.restart();
    ioc_.run();
    return false;
  }

 private:
  asio::io_context& ioc_;
  std::chrono::steady_clock::time_point until_;
};

Error unavailable(const Target& t, std::string_view why) {
  return Error::unavailable("cannot reach " + t.origin + " (" + std::string(why) + ")");
}

Error timed_out(const Target& t, const HttpOptions& options) {
  const auto ms = options.timeout.count();
  return unavailable(t, ms % 1000 == 0 ? "no answer within " + std::to_string(ms / 1000) + " s"
                                       : "no answer within " + std::to_string(ms) + " ms");
}

// Writes the request and reads the answer on a connected (and, for https, handshaken) stream.
template <typename Stream, typename Cancel>
Result<HttpResponse> exchange(Stream& stream, Deadline& deadline, Cancel cancel, const Target& t,
                              const HttpOptions& options,
                              const http::request<http::string_body>& request) {
  bool done = false;
  error_code ec;
  http::async_write(stream, request, [&](error_code e, std::size_t) {
    ec = e;
    done = true;
  });
  if (!deadline.run(done, cancel)) return std::unexpected(timed_out(t, options));
  if (ec) return std::unexpected(unavailable(t, "sending the request failed: " + ec.message()));

  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.header_limit(kMaxHeaderBytes);
  parser.body_limit(options.max_body_bytes);
  done = false;
  http::async_read(stream, buffer, parser, [&](error_code e, std::size_t) {
    ec = e;
    done = true;
  });
  if (!deadline.run(done, cancel)) return std::unexpected(timed_out(t, options));
  if (ec == http::error::body_limit || ec == http::error::header_limit ||
      ec == http::error::buffer_overflow) {
    return std::unexpected(Error::resource_exhausted(
        t.origin + " sent an answer over " + std::to_string(options.max_body_bytes) + " bytes"));
  }
  if (ec) {
    return std::unexpected(
        Error::internal(t.origin + " sent no complete HTTP answer (" + ec.message() + ")"));
  }
  const auto& message = parser.get();
  HttpResponse response;
  response.status = message.result_int();
  for (const auto& field : message) {
    response.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
  }
  response.body = parser.release().body();
  return response;
}

Result<HttpResponse> request_impl(std::string_view method, std::string_view url,
                                  const Headers& headers, std::string_view body,
                                  const HttpOptions& options) {
  SIGIL_TRY(target, parse_target(url));
  const http::verb verb = http::string_to_verb(method);
  if (verb == http::verb::unknown) {
    return std::unexpected(Error::invalid_argument("unknown HTTP method"));
  }
  http::request<http::string_body> request{verb, target.request_target, 11};
  request.set(http::field::host, target.host_header);
  request.set(http::field::user_agent, kUserAgent);
  request.set(http::field::connection, "close");
  for (const auto& [name, value] : headers) {
    if (name.empty() || has_control_break(name) || has_control_break(value)) {
      return std::unexpected(Error::invalid_argument("a request header holds CR, LF or NUL"));
    }
    request.set(name, value);
  }
  request.body() = std::string(body);
  request.prepare_payload();

  asio::io_context ioc;
  Deadline deadline(ioc, options.timeout);

  tcp::resolver resolver(ioc);
  tcp::resolver::results_type endpoints;
  bool done = false;
  error_code ec;
  resolver.async_resolve(target.host, target.port,
                         [&](error_code e, tcp::resolver::results_type r) {
                           ec = e;
                           endpoints = std::move(r);
                           done = true;
                         });
  if (!deadline.run(done, [&] { resolver.cancel(); })) {
    return std::unexpected(timed_out(target, options));
  }
  if (ec) return std::unexpected(unavailable(target, "cannot resolve the host: " + ec.message()));

  auto connect = [&](tcp::socket& socket) -> Result<void> {
    done = false;
    asio::async_connect(socket, endpoints, [&](error_code e, const tcp::endpoint&) {
      ec = e;
      done = true;
    });
    if (!deadline.run(done, [&] { socket.close(ec); })) {
      return std::unexpected(timed_out(target, options));
    }
    if (ec) return std::unexpected(unavailable(target, ec.message()));
    return Ok();
  };

  if (!target.tls) {
    tcp::socket socket(ioc);
    SIGIL_CHECK(connect(socket));
    auto result = exchange(
        socket, deadline, [&] { socket.close(ec); }, target, options, request);
    socket.close(ec);
    return result;
  }

  ssl::context tls(ssl::context::tls_client);
  SSL_CTX_set_min_proto_version(tls.native_handle(), TLS1_2_VERSION);
  if (!options.ca_file.empty()) {
    tls.load_verify_file(options.ca_file, ec);
    if (ec) {
      return std::unexpected(Error::invalid_argument("cannot load the CA file " + options.ca_file +
                                                     " (" + ec.message() + ")"));
    }
  } else {
    tls.set_default_verify_paths(ec);
    if (ec) {
      return std::unexpected(
          Error::internal("cannot load the system's CA certificates (" + ec.message() + ")"));
    }
  }
  ssl::stream<tcp::socket> stream(ioc, tls);
  stream.set_verify_mode(ssl::verify_peer);
  stream.set_verify_callback(ssl::host_name_verification(target.host));
  error_code not_ip;
  asio::ip::make_address(target.host, not_ip);
  if (not_ip && SSL_set_tlsext_host_name(stream.native_handle(), target.host.c_str()) != 1) {
    return std::unexpected(Error::invalid_argument("the host name is not usable for TLS"));
  }
  auto& socket = stream.next_layer();
  SIGIL_CHECK(connect(socket));
  done = false;
  stream.async_handshake(ssl::stream_base::client, [&](error_code e) {
    ec = e;
    done = true;
  });
  if (!deadline.run(done, [&] { socket.close(ec); })) {
    return std::unexpected(timed_out(target, options));
  }
  if (ec) return std::unexpected(unavailable(target, "TLS: " + ec.message()));
  // Connection: close and a complete answer: a TLS close_notify adds nothing, so none is sent.
  auto result = exchange(
      stream, deadline, [&] { socket.close(ec); }, target, options, request);
  socket.close(ec);
  return result;
}

}  // namespace

std::optional<std::string_view> HttpResponse::header(std::string_view name) const {
  for (const auto& [n, v] : headers) {
    if (iequals(n, name)) return std::string_view(v);
  }
  return std::nullopt;
}

Result<HttpResponse> http_request(std::string_view method, std::string_view url,
                                  const Headers& headers, std::string_view body,
                                  const HttpOptions& options) {
  // Asio, Beast and OpenSSL wrappers may throw (allocation, context set-up); nothing
  // beyond this boundary does.
  try {
    return request_impl(method, url, headers, body, options);
  } catch (const std::exception& e) {
    return std::unexpected(Error::internal(std::string("HTTP client failure: ") + e.what()));
  }
}

}  // namespace sigil::cli
