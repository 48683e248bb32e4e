// A small blocking HTTP/1.1 client for the command line and tests: one request per
// connection, http or https (certificate and host name verified against the system
// CAs or a given CA file). Beast stays inside client.cpp.
//
//   auto res = http::request("POST", "https://sigil.example:8420/oauth2/token",
//                            {{"Content-Type", "application/x-www-form-urlencoded"}}, body);
//   if (!res) { /* kUnavailable: cannot connect; kInvalidArgument: bad URL; ... */ }
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "base/error.hpp"
#include "http/message.hpp"

namespace sigil::http {

struct ClientResponse {
  unsigned status = 0;
  HeaderList headers;
  std::string body;
  // The first header with this name (case-insensitive).
  std::optional<std::string_view> header(std::string_view name) const;
};

struct ClientOptions {
  // For the whole exchange: resolve, connect, TLS handshake, write, read.
  std::chrono::milliseconds timeout{10'000};
  // PEM file of trusted CAs for https; empty: the system's default trust store.
  std::string ca_file;
  // For mutual TLS: the client's certificate chain (PEM, leaf first) and its unencrypted
  // private key (PEM), presented when the server asks over https (unused over http).
  // Both or neither: one without the other is kInvalidArgument.
  std::string cert_file = {};
  std::string key_file = {};
  std::size_t max_response_body_bytes = 16 * 1024 * 1024;
};

// The parts of an absolute http(s) URL the client needs.
struct ParsedUrl {
  bool tls = false;
  std::string host;  // name or IP address, IPv6 without brackets
  std::uint16_t port = 0;
  std::string target;  // path and query, at least "/"
};

// Strict: scheme http or https, no user info, no fragment kept, port 1-65535, no white
// space or control characters. kInvalidArgument otherwise.
Result<ParsedUrl> parse_url(std::string_view url);

// Sends one request (Host, Content-Length and Connection: close are set here) and reads
// the whole response. Errors: kInvalidArgument (bad URL or header, unusable CA file or
// client certificate and key), kUnavailable (cannot resolve, connect or complete TLS,
// including a certificate that fails verification on either side; timeout), kInternal
// (malformed or oversized response).
Result<ClientResponse> request(std::string_view method, std::string_view url,
                               const HeaderList& headers = {}, std::string_view body = {},
                               const ClientOptions& options = {});

inline Result<ClientResponse> request(std::string_view method, std::string_view url,
                                      const HeaderList& headers, std::string_view body,
                                      std::chrono::milliseconds timeout) {
  ClientOptions options;
  options.timeout = timeout;
  return request(method, url, headers, body, options);
}

}  // namespace sigil::http
