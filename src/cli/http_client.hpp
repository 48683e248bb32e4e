// A small blocking HTTP/1.1 client for the command line: one request per connection,
// http or https, with an overall deadline and a cap on the size of the answer.
//
// https verifies the server's certificate chain and host name against the system's trust
// store, or only against `HttpOptions::ca_file` when it is set (SIGIL_CA_FILE).
//
//   auto answer = cli::http_request("GET", "http://127.0.0.1:8420/healthz", {}, "", {});
//   if (!answer) ...  // answer.error().code says whether the server could be reached
#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/error.hpp"

namespace sigil::cli {

using Headers = std::vector<std::pair<std::string, std::string>>;

struct HttpResponse {
  unsigned status = 0;
  Headers headers;  // in arrival order, names as sent
  std::string body;

  // The first header with this name (ASCII case-insensitive).
  std::optional<std::string_view> header(std::string_view name) const;
};

struct HttpOptions {
  // For the whole exchange: name resolution, connect, TLS handshake, write and read.
  std::chrono::milliseconds timeout{10'000};
  // Answers with a larger body are refused; headers are capped at 16 KiB.
  std::size_t max_body_bytes = 1024 * 1024;
  // https: a PEM file of the certificates to trust instead of the system's.
  std::string ca_file;
};

// Sends one request (with Host, User-Agent, Connection: close and Content-Length added)
// and reads the answer, whatever its status. Stateless and thread-safe.
//
// Errors (messages name the origin, never the query or the body):
//   kInvalidArgument   `url` is not an absolute http(s) URL, has user info, the method is
//                      unknown, a header holds CR, LF or NUL, or ca_file cannot be loaded
//   kUnavailable       no exchange was possible: name resolution, connection refused, TLS
//                      handshake or certificate verification failed ("(TLS: why)"), or the
//                      deadline passed
//   kResourceExhausted the answer is larger than the caps
//   kInternal          the answer is not HTTP/1.x, or the connection ended mid-answer
Result<HttpResponse> http_request(std::string_view method, std::string_view url,
                                  const Headers& headers, std::string_view body,
                                  const HttpOptions& options);

}  // namespace sigil::cli
