#include "server/api_key_guard.hpp"

#include <algorithm>
#include <chrono>

#include "http/form.hpp"

namespace sigil::server {
namespace {

bool is_guard_header(std::string_view name) {
  return http::iequals(name, "X-API-Key") || http::iequals(name, "Authorization") ||
         http::iequals(name, "X-API-Key-Id") || http::iequals(name, "X-API-Key-Owner") ||
         http::iequals(name, "X-API-Key-Space");
}

void add_rate_limit_headers(http::Response& r, const apikeys::RateLimitState& state,
                            TimePoint now) {
  const auto reset = std::chrono::ceil<Seconds>(state.reset_at - now).count();
  r.set_header("RateLimit-Limit", std::to_string(state.limit));
  r.set_header("RateLimit-Remaining", std::to_string(std::max<std::int64_t>(state.remaining, 0)));
  r.set_header("RateLimit-Reset", std::to_string(std::max<std::int64_t>(reset, 0)));
}

}  // namespace

std::optional<std::string_view> presented_api_key(const http::Request& request) {
  if (auto key = request.header("X-API-Key")) return *key;
  if (auto authorization = request.header("Authorization")) {
    if (auto bearer = http::parse_bearer_authorization(*authorization)) return *bearer;
    return std::string_view{};  // present but unusable: refused as malformed
  }
  return std::nullopt;
}

http::Handler api_key_guard(apikeys::ApiKeyService& keys, const Clock& clock,
                            ApiKeyGuardOptions options, http::Handler next) {
  return [&keys, &clock, options = std::move(options), next = std::move(next)](
             http::Request&& request, http::Responder respond) {
    const TimePoint now = clock.now();
    const auto presented = presented_api_key(request);
    if (!presented) {
      http::Response r = http::Response::error(
          401, "missing_api_key", "send the API key in X-API-Key or Authorization: Bearer");
      r.set_header("WWW-Authenticate", "Bearer realm=\"api\"");
      respond(std::move(r));
      return;
    }
    std::optional<std::string_view> space;
    if (options.key_space) space = *options.key_space;
    auto result = keys.verify(*presented, options.required_scopes, space, now);
    if (!result) {
      respond(http::Response::error(503, "temporarily_unavailable", "try again"));
      return;
    }
    if (!result->valid()) {
      const std::string_view code = apikeys::to_string(result->code);
      unsigned status = 401;
      if (result->code == apikeys::VerifyCode::kMissingScope) status = 403;
      if (result->code == apikeys::VerifyCode::kRateLimited ||
          result->code == apikeys::VerifyCode::kNoCredits) {
        status = 429;
      }
      http::Response r = http::Response::error(status, "invalid_api_key", code);
      if (status == 401) {
        r.set_header("WWW-Authenticate", "Bearer realm=\"api\", error=\"invalid_token\"");
      }
      if (result->rate_limit) {
        add_rate_limit_headers(r, *result->rate_limit, now);
        if (result->code == apikeys::VerifyCode::kRateLimited) {
          r.set_header("Retry-After", std::string(*r.header("RateLimit-Reset")));
        }
      }
      respond(std::move(r));
      return;
    }
    std::erase_if(request.headers, [](const auto& h) { return is_guard_header(h.first); });
    const apikeys::ApiKey& key = *result->key;
    request.headers.emplace_back("X-API-Key-Id", key.id);
    request.headers.emplace_back("X-API-Key-Owner", key.owner);
    request.headers.emplace_back("X-API-Key-Space", key.key_space);
    std::optional<apikeys::RateLimitState> limit = result->rate_limit;
    if (!limit) {
      next(std::move(request), std::move(respond));
      return;
    }
    // The rate-limit headroom travels back with the answer.
    next(std::move(request),
         http::Responder::from([respond, limit = *limit, now](http::Response&& r) {
           add_rate_limit_headers(r, limit, now);
           respond(std::move(r));
         }));
  };
}

}  // namespace sigil::server
