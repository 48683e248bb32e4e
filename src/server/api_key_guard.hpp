// The API-key middleware for an HTTP edge: reads the key a caller presents in `X-API-Key`
// or `Authorization: Bearer`, verifies it, and either answers the refusal itself or hands
// the request on with the key's identity attached. `sigil proxy` puts it in front of a
// service; the verify endpoint uses presented_api_key() for keys sent as a header.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "apikeys/service.hpp"
#include "base/clock.hpp"
#include "http/message.hpp"

namespace sigil::server {

// The key in `X-API-Key`, else in `Authorization: Bearer` (scheme case-insensitive);
// nullopt when neither header is present. The view points into the request.
std::optional<std::string_view> presented_api_key(const http::Request& request);

struct ApiKeyGuardOptions {
  std::vector<std::string> required_scopes;
  std::optional<std::string> key_space;  // only keys of this key space
};

// Wraps `next`: a request without a good key is answered here (401 missing or invalid key,
// 403 missing scope, 429 rate limited or out of credits, with RateLimit-* and Retry-After
// headers where they apply); a good one reaches `next` without its key headers and with
// `X-API-Key-Id`, `X-API-Key-Owner` and `X-API-Key-Space` set (any such headers the
// caller sent are removed first). The service and clock must outlive the handler.
http::Handler api_key_guard(apikeys::ApiKeyService& keys, const Clock& clock,
                            ApiKeyGuardOptions options, http::Handler next);

}  // namespace sigil::server
