#include "server/app.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <chrono>

#include "base/hex.hpp"
#include "crypto/digest.hpp"
#include "http/form.hpp"
#include "oauth/metadata.hpp"

namespace sigil::server {
namespace {

// The audit record's "rule": the policy rules, comma-separated.
std::string join_rules(const std::vector<std::string>& rules) {
  std::string joined;
  for (const auto& rule : rules) {
    if (!joined.empty()) joined += ',';
    joined += rule;
  }
  return joined;
}

}  // namespace

http::Response oauth_error_response(const oauth::Denial& denial, bool tried_basic) {
  unsigned status = 400;
  if (denial.error == oauth::OAuthError::kInvalidClient) status = 401;
  if (denial.error == oauth::OAuthError::kServerError) status = 500;
  http::Response r =
      http::Response::error(status, oauth::to_string(denial.error), denial.description);
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
      tokens_issued_(
          s_.metrics.counter("sigil_tokens_issued_total", "Access tokens issued", {"grant_type"})),
      denials_(s_.metrics.counter("sigil_denials_total", "Requests refused, by endpoint and reason",
                                  {"endpoint", "reason"})) {
  routes_.emplace("/oauth2/token", RouteEntry{"POST", &App::token});
  routes_.emplace("/oauth2/introspect", RouteEntry{"POST", &App::introspect});
  routes_.emplace("/oauth2/revoke", RouteEntry{"POST", &App::revoke});
  routes_.emplace("/.well-known/oauth-authorization-server", RouteEntry{"GET", &App::metadata});
  routes_.emplace("/.well-known/openid-configuration", RouteEntry{"GET", &App::metadata});
  routes_.emplace("/.well-known/jwks.json", RouteEntry{"GET", &App::jwks});
  routes_.emplace("/v1/bundle", RouteEntry{"GET", &App::bundle});
  routes_.emplace("/healthz", RouteEntry{"GET", &App::healthz});
  routes_.emplace("/readyz", RouteEntry{"GET", &App::readyz});
  routes_.emplace("/metrics", RouteEntry{"GET", &App::metrics});
}

void App::handle(http::Request&& request, http::Responder respond) {
  Outcome outcome;
  const auto it = routes_.find(request.path);
  if (request.path == "/v1/certificates" && request.method == "POST" && s_.blocking != nullptr) {
    auto work = [this, request = std::move(request), respond]() mutable {
      finish(issue_certificate(request), std::move(respond));
    };
    if (!s_.blocking->post(std::move(work))) {
      http::Response busy =
          http::Response::error(503, "temporarily_unavailable", "too many certificate requests");
      busy.set_header("Retry-After", "1");
      busy.route = "/v1/certificates";
      count_denial("certificates", "busy");
      respond(std::move(busy));
    }
    return;
  } else if (request.path == "/v1/certificates" && request.method == "POST") {
    outcome = issue_certificate(request);
  } else if (it == routes_.end() && request.path.starts_with("/v1/")) {
    outcome = admin(request);
  } else if (it == routes_.end()) {
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
  finish(std::move(outcome), std::move(respond));
}

void App::finish(Outcome&& outcome, http::Responder respond) {
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

void App::record_rejection(const http::RejectedRequest& rejected) {
  audit::Event e;
  e.time = s_.clock.now();
  e.event = "http.reject";
  e.request_id = rejected.request_id;
  e.source_address = rejected.remote_address;
  e.subject = rejected.method.empty() ? std::string() : rejected.method + " " + rejected.path;
  e.decision = audit::Decision::kDeny;
  e.reason = std::to_string(rejected.status) + " " + rejected.reason;
  count_denial("http", "status_" + std::to_string(rejected.status));
  s_.audit.append(std::move(e), [](Result<void>) {});
}

audit::Event App::new_event(const http::Request& request, std::string name) const {
  audit::Event e;
  e.time = s_.clock.now();
  e.event = std::move(name);
  e.request_id = request.request_id;
  if (auto tp = request.header("traceparent"); tp && tp->size() <= 128) e.traceparent = *tp;
  e.source_address = request.remote_address;
  if (request.peer_certificate) {
    e.certificate = hex_encode(crypto::sha256(request.peer_certificate->der));
  }
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
    return deny(
        {oauth::OAuthError::kInvalidRequest, "the form body is malformed", "malformed_body"},
        false);
  }

  oauth::TokenRequest token_request;
  token_request.params = form->params();
  token_request.credentials = presented_credentials(request);
  token_request.source_address = request.remote_address;
  // RFC 9449 §4.3: "There is not more than one DPoP HTTP request header field."
  const auto dpop_headers =
      std::count_if(request.headers.begin(), request.headers.end(),
                    [](const auto& header) { return http::iequals(header.first, "DPoP"); });
  if (dpop_headers > 1) {
    return deny({oauth::OAuthError::kInvalidDpopProof, "send one DPoP header, not several",
                 "dpop_repeated"},
                false);
  }
  if (auto proof = request.header("DPoP")) token_request.dpop_proof = std::string(*proof);
  token_request.endpoint_url = request_url(request);

  const oauth::TokenOutcome outcome = s_.token_endpoint.handle(token_request, s_.clock.now());
  if (!outcome.ok()) {
    const auto& failure = outcome.failure();
    event.client_id = failure.client_id;
    event.auth_method = failure.auth_method;
    event.scopes = failure.requested_scopes;
    event.audience = failure.requested_audience;
    event.rule = join_rules(failure.rules);
    event.detail = failure.detail;
    event.subject = failure.subject;
    event.actor = failure.actor;
    event.federated = failure.federated;
    return deny(failure.denial, outcome.tried_basic);
  }
  const auto& success = outcome.success();
  event.decision = audit::Decision::kAllow;
  event.client_id = success.client_id;
  event.subject = success.subject;
  event.actor = success.actor;
  event.federated = success.federated;
  event.auth_method = success.auth_method;
  event.scopes = success.scopes;
  event.audience = success.audience;
  event.jti = success.jti;
  event.rule = join_rules(success.rules);
  // The key a DPoP-bound token is bound to: a thumbprint of a public key, nothing secret.
  if (!success.jkt.empty()) event.detail = "dpop jkt " + success.jkt;
  // The label comes from the endpoint's own table of grant types, never from the request.
  tokens_issued_.with({success.grant_type}).inc();
  http::Response response = http::Response::json(200, oauth::to_json(success));
  response.set_header("Pragma", "no-cache");
  return {std::move(response), std::move(event)};
}

oauth::PresentedCredentials App::presented_credentials(const http::Request& request) {
  oauth::PresentedCredentials presented;
  if (auto authorization = request.header("Authorization")) {
    if (auto basic = http::parse_basic_authorization(*authorization)) {
      presented.basic = oauth::ClientCredentials{std::move(basic->client_id),
                                                 SecretString(basic->client_secret.reveal())};
    } else {
      presented.authorization_header_present = true;
    }
  }
  // RFC 8705: the client certificate of a mutual-TLS connection authenticates the client
  // (tls_client_auth, self_signed_tls_client_auth) and binds the token.
  if (request.peer_certificate) {
    presented.certificate = oauth::PresentedCertificate{request.peer_certificate->der,
                                                        request.peer_certificate->chain_verified};
  }
  return presented;
}

App::TokenCall App::authenticate_token_call(const http::Request& request, audit::Event& event) {
  TokenCall call;
  auto fail = [&](oauth::Denial denial, bool tried_header, unsigned status = 0) {
    event.decision = audit::Decision::kDeny;
    event.reason = denial.reason;
    count_denial(event.event, denial.reason);
    http::Response r = oauth_error_response(denial, tried_header);
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
    return fail(
        {oauth::OAuthError::kInvalidRequest, "the form body is malformed", "malformed_body"},
        false);
  }
  call.params = form->params();
  const oauth::FormParams params(call.params);
  // RFC 6749 §3.1: "Request and response parameters MUST NOT be included more than once."
  if (params.first_repeated({})) {
    return fail(
        {oauth::OAuthError::kInvalidRequest, "a parameter is repeated", "repeated_parameter"},
        false);
  }
  const oauth::PresentedCredentials presented = presented_credentials(request);
  auto client =
      oauth::authenticate_client(s_.clients, presented, params, s_.clock.now(), s_.assertions);
  if (!client) {
    event.client_id = client.error().client_id;
    event.auth_method = client.error().auth_method;
    return fail(client.error().denial, presented.tried_header());
  }
  event.client_id = client->id();
  event.auth_method = client->auth_method();
  // RFC 7662 §2.1 and RFC 7009 §2.1: "token REQUIRED".
  call.token = params.get("token");
  if (!call.token) {
    return fail(
        {oauth::OAuthError::kInvalidRequest, "the token parameter is required", "missing_token"},
        false);
  }
  call.token_type_hint = params.get("token_type_hint");
  call.client.emplace(std::move(*client));
  return call;
}

Outcome App::introspect(const http::Request& request) {
  audit::Event event = new_event(request, "token.introspect");
  TokenCall call = authenticate_token_call(request, event);
  if (call.denied) return std::move(*call.denied);
  const oauth::IntrospectionResult result =
      introspector_.introspect(*call.token, *call.client, s_.clock.now());
  event.decision = audit::Decision::kAllow;
  event.jti = result.claims.jti;
  event.subject = result.claims.client_id;
  event.reason = result.active ? "" : "inactive: " + result.reason_if_inactive;
  return {http::Response::json(200, oauth::to_json(result)), std::move(event)};
}

Outcome App::revoke(const http::Request& request) {
  audit::Event event = new_event(request, "token.revoke");
  TokenCall call = authenticate_token_call(request, event);
  if (call.denied) return std::move(*call.denied);
  auto outcome =
      s_.revocation.revoke_token(*call.token, call.token_type_hint, *call.client, s_.clock.now());
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
  http::Response r =
      http::Response::json(200, oauth::authorization_server_metadata(
                                    s_.issuer, s_.keys.algorithms(s_.clock.now()), s_.mtls_url));
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
