#include "server/app.hpp"

#include <boost/json.hpp>

#include <chrono>

#include "http/form.hpp"
#include "oauth/metadata.hpp"

namespace sigil::server {
namespace {

}  // namespace

http::Response oauth_error_response(const oauth::Denial& denial, bool tried_basic) {
  unsigned status = 400;
  if (denial.error == oauth::OAuthError::kInvalidClient) status = 401;
  if (denial.error == oauth::OAuthError::kServerError) status = 500;
  http::Response r = http::Response::error(status, oauth::to_string(denial.error), denial.description);
  // RFC 6749 §5.2: 401 for invalid_client "MUST include the WWW-Authenticate response
  // header field matching the authentication scheme used by the client"; a client that
  // used no header is told which scheme to use.
  if (status == 401) {
    (void)tried_basic;
    r.set_header("WWW-Authenticate", "Basic realm=\"sigil\"");
  }
  r.set_header("Pragma", "no-cache");
  return r;
}

App::App(Services services)
    : s_(std::move(services)),
      introspector_(s_.keys, s_.revocations, s_.clients),
      tokens_issued_(s_.metrics.counter("sigil_tokens_issued_total", "Access tokens issued",
                                        {"grant_type"})),
      denials_(s_.metrics.counter("sigil_denials_total",
                                  "Requests refused, by endpoint and reason",
                                  {"endpoint", "reason"})) {
  routes_.emplace("/oauth2/token", RouteEntry{"POST", &App::token});
  routes_.emplace("/oauth2/introspect", RouteEntry{"POST", &App::introspect});
  routes_.emplace("/oauth2/revoke", RouteEntry{"POST", &App::revoke});
  routes_.emplace("/.well-known/oauth-authorization-server", RouteEntry{"GET", &App::metadata});
  routes_.emplace("/.well-known/openid-configuration", RouteEntry{"GET", &App::metadata});
  routes_.emplace("/.well-known/jwks.json", RouteEntry{"GET", &App::jwks});
  routes_.emplace("/healthz", RouteEntry{"GET", &App::healthz});
  routes_.emplace("/readyz", RouteEntry{"GET", &App::readyz});
  routes_.emplace("/metrics", RouteEntry{"GET", &App::metrics});
}

void App::handle(http::Request&& request, http::Responder respond) {
  Outcome outcome;
  if (request.path.starts_with("/v1/")) {
    outcome = admin(request);
  } else if (auto it = routes_.find(request.path); it == routes_.end()) {
    outcome.response = http::Response::error(404, "not_found", "no such endpoint");
  } else if (request.method != it->second.method &&
             !(request.method == "HEAD" && it->second.method == "GET")) {
    outcome.response = http::Response::error(405, "invalid_request",
                                             "use " + it->second.method + " for " + request.path);
    outcome.response.set_header("Allow", it->second.method);
    outcome.response.route = request.path;
  } else {
    outcome = (this->*(it->second.route))(request);
    if (outcome.response.route.empty()) outcome.response.route = request.path;
  }

  if (!outcome.event) {
    respond(std::move(outcome.response));
    return;
  }
  // The record is durable before the answer leaves; if it cannot be written, the
  // request fails (fail closed) and the prepared answer is dropped.
  auto route = outcome.response.route;
  s_.audit.append(std::move(*outcome.event),
                  [respond, response = std::move(outcome.response),
                   route = std::move(route)](Result<void> written) mutable {
                    if (written) {
                      respond(std::move(response));
                      return;
                    }
                    http::Response failed = http::Response::error(
                        500, "server_error", "the request could not be recorded; try again");
                    failed.route = std::move(route);
                    respond(std::move(failed));
                  });
}

audit::Event App::new_event(const http::Request& request, std::string name) const {
  audit::Event e;
  e.time = s_.clock.now();
  e.event = std::move(name);
  e.request_id = request.request_id;
  if (auto tp = request.header("traceparent"); tp && tp->size() <= 128) e.traceparent = *tp;
  e.source_address = request.remote_address;
  e.decision = audit::Decision::kDeny;
  return e;
}

void App::count_denial(std::string_view endpoint, std::string_view reason) {
  denials_.with({endpoint, reason}).inc();
}

// --- OAuth endpoints ---------------------------------------------------------------------

Outcome App::token(const http::Request& request) {
  audit::Event event = new_event(request, "token.issue");
  auto deny = [&](const oauth::Denial& denial, bool tried_basic) {
    event.decision = denial.error == oauth::OAuthError::kServerError ? audit::Decision::kError
                                                                      : audit::Decision::kDeny;
    event.reason = denial.reason;
    count_denial("token", denial.reason);
    return Outcome{oauth_error_response(denial, tried_basic), std::move(event)};
  };

  const auto content_type = request.header("Content-Type");
  if (!content_type || !http::is_form_urlencoded(*content_type)) {
    auto out = deny({oauth::OAuthError::kInvalidRequest,
                     "the body must be application/x-www-form-urlencoded", "bad_content_type"},
                    false);
    out.response.status = 415;
    return out;
  }
  auto form = http::parse_form(request.body);
  if (!form) {
    return deny({oauth::OAuthError::kInvalidRequest, "the form body is malformed", "malformed_body"},
                false);
  }

  oauth::TokenRequest token_request;
  token_request.params = form->params();
  if (auto authorization = request.header("Authorization")) {
    auto basic = http::parse_basic_authorization(*authorization);
    if (basic) {
      token_request.basic = oauth::ClientCredentials{
          std::move(basic->client_id), SecretString(basic->client_secret.reveal())};
    } else {
      token_request.authorization_header_present = true;
    }
  }

  const oauth::TokenOutcome outcome = s_.token_endpoint.handle(token_request, s_.clock.now());
  if (!outcome.ok()) {
    const auto& failure = outcome.failure();
    event.client_id = failure.client_id;
    event.auth_method = failure.auth_method;
    event.scopes = failure.requested_scopes;
    event.audience = failure.requested_audience;
    return deny(failure.denial, outcome.tried_basic);
  }
  const auto& success = outcome.success();
  event.decision = audit::Decision::kAllow;
  event.client_id = success.client_id;
  event.subject = success.client_id;
  event.auth_method = success.auth_method;
  event.scopes = success.scopes;
  event.audience = success.audience;
  event.jti = success.jti;
  tokens_issued_.with({"client_credentials"}).inc();
  http::Response response = http::Response::json(200, oauth::to_json(success));
  response.set_header("Pragma", "no-cache");
  return {std::move(response), std::move(event)};
}

App::FormCall App::authenticate_form_call(const http::Request& request, audit::Event& event) {
  FormCall call;
  auto fail = [&](oauth::Denial denial, bool tried_basic, unsigned status = 0) {
    event.decision = audit::Decision::kDeny;
    event.reason = denial.reason;
    count_denial(event.event, denial.reason);
    http::Response r = oauth_error_response(denial, tried_basic);
    if (status != 0) r.status = status;
    call.denied = Outcome{std::move(r), std::move(event)};
    return std::move(call);
  };

  const auto content_type = request.header("Content-Type");
  if (!content_type || !http::is_form_urlencoded(*content_type)) {
    return fail({oauth::OAuthError::kInvalidRequest,
                 "the body must be application/x-www-form-urlencoded", "bad_content_type"},
                false, 415);
  }
  auto form = http::parse_form(request.body);
  if (!form) {
    return fail({oauth::OAuthError::kInvalidRequest, "the form body is malformed", "malformed_body"},
                false);
  }
  if (auto dups = form->duplicates(); !dups.empty()) {
    return fail({oauth::OAuthError::kInvalidRequest, "parameter '" + dups.front() + "' is repeated",
                 "repeated_parameter"},
                false);
  }

  std::string client_id;
  std::string secret;
  std::string method;
  const auto authorization = request.header("Authorization");
  const auto post_id = form->get("client_id");
  const auto post_secret = form->get("client_secret");
  if (authorization) {
    auto basic = http::parse_basic_authorization(*authorization);
    if (!basic) {
      return fail({oauth::OAuthError::kInvalidClient, "client authentication failed",
                   "malformed_authorization"},
                  true);
    }
    if (post_id || post_secret) {
      return fail({oauth::OAuthError::kInvalidRequest,
                   "use one client authentication method, not several", "several_auth_methods"},
                  true);
    }
    client_id = std::move(basic->client_id);
    secret = basic->client_secret.reveal();
    method = std::string(oauth::kClientSecretBasic);
  } else if (post_id && post_secret) {
    client_id = std::string(*post_id);
    secret = std::string(*post_secret);
    method = std::string(oauth::kClientSecretPost);
  } else {
    event.client_id = post_id ? std::string(*post_id) : "";
    return fail({oauth::OAuthError::kInvalidClient, "client authentication is required",
                 "no_client_authentication"},
                false);
  }
  event.client_id = client_id;
  event.auth_method = method;
  auto client = s_.clients.authenticate(client_id, secret, method, s_.clock.now());
  wipe(secret);
  if (!client) return fail(client.error(), method == oauth::kClientSecretBasic);
  call.client.emplace(std::move(*client));
  for (auto& [name, value] : form->params()) {
    if (name == "client_id" || name == "client_secret") continue;
    call.params.emplace_back(name, value);
  }
  return call;
}

namespace {
std::optional<std::string_view> param(const std::vector<std::pair<std::string, std::string>>& params,
                                      std::string_view name) {
  for (const auto& [n, v] : params) {
    if (n == name) return v;
  }
  return std::nullopt;
}
}  // namespace

Outcome App::introspect(const http::Request& request) {
  audit::Event event = new_event(request, "token.introspect");
  FormCall call = authenticate_form_call(request, event);
  if (call.denied) return std::move(*call.denied);
  const auto token = param(call.params, "token");
  if (!token) {
    event.reason = "missing_token";
    count_denial("token.introspect", "missing_token");
    return {http::Response::error(400, "invalid_request", "the token parameter is required"),
            std::move(event)};
  }
  const oauth::IntrospectionResult result = introspector_.introspect(*token, *call.client, s_.clock.now());
  event.decision = audit::Decision::kAllow;
  event.jti = result.claims.jti;
  event.subject = result.claims.client_id;
  event.reason = result.active ? "" : "inactive: " + result.reason_if_inactive;
  return {http::Response::json(200, oauth::to_json(result)), std::move(event)};
}

Outcome App::revoke(const http::Request& request) {
  audit::Event event = new_event(request, "token.revoke");
  FormCall call = authenticate_form_call(request, event);
  if (call.denied) return std::move(*call.denied);
  const auto token = param(call.params, "token");
  if (!token) {
    event.reason = "missing_token";
    count_denial("token.revoke", "missing_token");
    return {http::Response::error(400, "invalid_request", "the token parameter is required"),
            std::move(event)};
  }
  auto outcome =
      s_.revocation.revoke_token(*token, param(call.params, "token_type_hint"), *call.client, s_.clock.now());
  if (!outcome) {
    event.decision = audit::Decision::kError;
    event.reason = outcome.error().message;
    return {http::Response::error(500, "server_error", "the revocation could not be stored"),
            std::move(event)};
  }
  event.jti = outcome->jti;
  event.subject = outcome->token_client_id;
  event.reason = std::string(oauth::to_string(outcome->result));
  if (!outcome->reason.empty()) event.reason += ": " + outcome->reason;
  if (outcome->result == oauth::RevocationResult::kUnsupportedTokenType) {
    return {http::Response::error(400, "unsupported_token_type", "sigil issues no refresh tokens"),
            std::move(event)};
  }
  event.decision = outcome->result == oauth::RevocationResult::kRevoked ? audit::Decision::kAllow
                                                                         : audit::Decision::kDeny;
  return {http::Response::json(200, "{}"), std::move(event)};
}

Outcome App::metadata(const http::Request&) {
  http::Response r = http::Response::json(
      200, oauth::authorization_server_metadata(s_.issuer, s_.keys.algorithms(s_.clock.now())));
  r.set_header("Cache-Control", "public, max-age=300");
  return {std::move(r), std::nullopt};
}

Outcome App::jwks(const http::Request&) {
  http::Response r = http::Response::json(200, s_.keys.jwks_json(s_.clock.now()));
  r.set_header("Content-Type", "application/jwk-set+json");
  // Short enough that a rotated key, published for key_propagation_delay before it
  // signs, reaches every verifier that honours the cache lifetime.
  r.set_header("Cache-Control", "public, max-age=300");
  return {std::move(r), std::nullopt};
}

// --- operations -------------------------------------------------------------------------

Outcome App::healthz(const http::Request&) {
  return {http::Response::json(200, R"({"status":"ok"})"), std::nullopt};
}

Outcome App::readyz(const http::Request&) {
  std::string problem;
  if (!s_.keys.signer(s_.clock.now())) problem = "no active signing key";
  if (problem.empty() && s_.readiness_problem) problem = s_.readiness_problem();
  if (!problem.empty()) {
    boost::json::object body{{"status", "unavailable"}, {"reason", problem}};
    return {http::Response::json(503, boost::json::serialize(body)), std::nullopt};
  }
  return {http::Response::json(200, R"({"status":"ready"})"), std::nullopt};
}

Outcome App::metrics(const http::Request&) {
  http::Response r;
  r.status = 200;
  r.body = s_.metrics.render();
  r.set_header("Content-Type", std::string(http::kMetricsContentType));
  return {std::move(r), std::nullopt};
}

}  // namespace sigil::server
