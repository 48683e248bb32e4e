// The JSON admin API under /v1 (docs/openapi.yaml), authorised by one of our access tokens
// with scope sigil:admin and audience = the issuer. Every call is audited, reads included.
#include <boost/json.hpp>

#include <algorithm>
#include <charconv>

#include "http/form.hpp"
#include "oauth/access_token.hpp"
#include "server/app.hpp"

namespace sigil::server {
namespace {

namespace json = boost::json;

constexpr std::string_view kAdminScope = "sigil:admin";

std::string_view status_name(oauth::ClientStatus status) {
  return status == oauth::ClientStatus::kActive ? "active" : "disabled";
}

std::string_view state_name(oauth::SigningKeyState state) {
  switch (state) {
    case oauth::SigningKeyState::kNext:
      return "next";
    case oauth::SigningKeyState::kActive:
      return "active";
    case oauth::SigningKeyState::kRetired:
      return "retired";
    case oauth::SigningKeyState::kGone:
      return "gone";
  }
  return "gone";
}

json::array string_array(const std::vector<std::string>& values) {
  json::array out;
  for (const auto& v : values) out.emplace_back(v);
  return out;
}

json::object client_json(const oauth::Client& c) {
  json::object attributes;
  for (const auto& [k, v] : c.attributes) attributes[k] = v;
  json::object o{{"id", c.id},
                 {"name", c.name},
                 {"status", status_name(c.status)},
                 {"attributes", std::move(attributes)},
                 {"allowed_scopes", string_array(c.allowed_scopes)},
                 {"allowed_audiences", string_array(c.allowed_audiences)},
                 {"auth_methods", string_array(c.auth_methods)},
                 {"created_at", to_rfc3339(c.created_at)},
                 {"updated_at", to_rfc3339(c.updated_at)}};
  if (c.previous_secret && c.previous_secret->expires_at) {
    o["previous_secret_expires_at"] = to_rfc3339(*c.previous_secret->expires_at);
  }
  return o;
}

json::object key_json(const oauth::SigningKeyRecord& k, oauth::SigningKeyState state) {
  json::object o{{"kid", k.kid},
                 {"alg", k.alg},
                 {"state", state_name(state)},
                 {"created_at", to_rfc3339(k.created_at)},
                 {"activates_at", to_rfc3339(k.activates_at)}};
  if (k.retires_at) o["retires_at"] = to_rfc3339(*k.retires_at);
  if (k.expires_at) o["expires_at"] = to_rfc3339(*k.expires_at);
  return o;
}

Outcome respond(unsigned status, const json::value& body) {
  return {http::Response::json(status, json::serialize(body)), std::nullopt};
}

Outcome fail(unsigned status, std::string_view code, std::string_view description) {
  return {http::Response::error(status, code, description), std::nullopt};
}

unsigned status_for(Code code) {
  switch (code) {
    case Code::kInvalidArgument:
      return 400;
    case Code::kNotFound:
      return 404;
    case Code::kAlreadyExists:
      return 409;
    case Code::kPermissionDenied:
      return 403;
    case Code::kUnauthenticated:
      return 401;
    case Code::kFailedPrecondition:
      return 409;
    case Code::kResourceExhausted:
      return 429;
    case Code::kUnavailable:
      return 503;
    case Code::kInternal:
      return 500;
  }
  return 500;
}

std::string_view error_for(Code code) {
  switch (code) {
    case Code::kInvalidArgument:
      return "invalid_request";
    case Code::kNotFound:
      return "not_found";
    case Code::kAlreadyExists:
      return "already_exists";
    case Code::kFailedPrecondition:
      return "failed_precondition";
    default:
      return "server_error";
  }
}

// Errors from the use cases: the message is ours and safe to show for client errors;
// internal ones are summarised.
Outcome from_error(const Error& e) {
  const unsigned status = status_for(e.code);
  return fail(status, error_for(e.code),
              status >= 500 ? "the server failed; see its log" : e.message);
}

// The request body as a JSON object with only the named members. An empty body is {}.
Result<json::object> json_body(const http::Request& request,
                               std::initializer_list<std::string_view> allowed) {
  if (request.body.empty()) return json::object{};
  const auto type = request.header("Content-Type");
  if (!type || !http::media_type_is(*type, "application/json")) {
    return std::unexpected(Error::invalid_argument("the body must be application/json"));
  }
  std::error_code ec;
  json::value v = json::parse(request.body, ec);
  if (ec)
    return std::unexpected(Error::invalid_argument("the body is not valid JSON: " + ec.message()));
  if (!v.is_object())
    return std::unexpected(Error::invalid_argument("the body must be a JSON object"));
  for (const auto& member : v.as_object()) {
    if (std::find(allowed.begin(), allowed.end(), std::string_view(member.key())) ==
        allowed.end()) {
      return std::unexpected(
          Error::invalid_argument("unknown member '" + std::string(member.key()) + "'"));
    }
  }
  return std::move(v.as_object());
}

Result<std::vector<std::string>> string_list(const json::object& o, std::string_view name) {
  std::vector<std::string> out;
  const json::value* v = o.if_contains(name);
  if (v == nullptr) return out;
  if (!v->is_array())
    return std::unexpected(
        Error::invalid_argument(std::string(name) + " must be an array of strings"));
  for (const auto& item : v->as_array()) {
    if (!item.is_string()) {
      return std::unexpected(
          Error::invalid_argument(std::string(name) + " must be an array of strings"));
    }
    out.emplace_back(item.as_string());
  }
  return out;
}

Result<std::optional<std::string>> optional_string(const json::object& o, std::string_view name) {
  const json::value* v = o.if_contains(name);
  if (v == nullptr) return std::optional<std::string>{};
  if (!v->is_string())
    return std::unexpected(Error::invalid_argument(std::string(name) + " must be a string"));
  return std::optional<std::string>(std::string(v->as_string()));
}

Result<std::optional<std::int64_t>> optional_int(const json::object& o, std::string_view name) {
  const json::value* v = o.if_contains(name);
  if (v == nullptr) return std::optional<std::int64_t>{};
  if (v->is_int64()) return std::optional<std::int64_t>(v->as_int64());
  if (v->is_uint64() && v->as_uint64() <= static_cast<std::uint64_t>(INT64_MAX)) {
    return std::optional<std::int64_t>(static_cast<std::int64_t>(v->as_uint64()));
  }
  return std::unexpected(Error::invalid_argument(std::string(name) + " must be a whole number"));
}

}  // namespace

std::optional<Outcome> App::authorize_admin(const http::Request& request, audit::Event& event) {
  event.auth_method = "bearer";
  auto unauthorized = [&](std::string reason, std::string description) {
    event.reason = std::move(reason);
    count_denial("admin", event.reason);
    Outcome out = fail(401, "invalid_token", description);
    // RFC 6750 §3.
    out.response.set_header("WWW-Authenticate",
                            description.empty()
                                ? "Bearer realm=\"sigil\""
                                : "Bearer realm=\"sigil\", error=\"invalid_token\"");
    return out;
  };
  const auto authorization = request.header("Authorization");
  if (!authorization) return unauthorized("no_token", "");
  auto bearer = http::parse_bearer_authorization(*authorization);
  if (!bearer)
    return unauthorized("malformed_authorization", "expected Authorization: Bearer <token>");
  const TimePoint now = s_.clock.now();
  auto jwt = oauth::verify_access_token(*bearer, s_.keys, now);
  if (!jwt)
    return unauthorized(std::string(jose::to_string(jwt.error().reason)), "the token is not valid");
  const auto client_id = jwt->string_claim("client_id");
  const auto jti = jwt->string_claim("jti");
  if (client_id) event.client_id = std::string(*client_id);
  if (jti) event.jti = std::string(*jti);
  if (!client_id || !jti) return unauthorized("missing_claim", "the token is not valid");
  if (s_.revocations.is_revoked(*jti)) return unauthorized("revoked", "the token is not valid");
  if (!s_.clients.is_active(*client_id))
    return unauthorized("client_disabled", "the token is not valid");

  bool for_us = false;
  if (const auto* aud = jwt->claims().if_contains("aud")) {
    if (aud->is_string()) for_us = aud->as_string() == s_.issuer;
    if (aud->is_array()) {
      for (const auto& a : aud->as_array())
        for_us = for_us || (a.is_string() && a.as_string() == s_.issuer);
    }
  }
  bool admin_scope = false;
  if (const auto scope = jwt->string_claim("scope")) {
    std::string_view rest = *scope;
    while (!rest.empty()) {
      const auto sp = rest.find(' ');
      admin_scope = admin_scope || rest.substr(0, sp) == kAdminScope;
      rest = sp == std::string_view::npos ? std::string_view{} : rest.substr(sp + 1);
    }
  }
  if (!for_us || !admin_scope) {
    event.reason = for_us ? "insufficient_scope" : "wrong_audience";
    count_denial("admin", event.reason);
    Outcome out =
        fail(403, "insufficient_scope", "the token lacks scope sigil:admin for this server");
    out.response.set_header(
        "WWW-Authenticate",
        "Bearer realm=\"sigil\", error=\"insufficient_scope\", scope=\"sigil:admin\"");
    return out;
  }
  return std::nullopt;
}

Outcome App::admin(const http::Request& request) {
  audit::Event event = new_event(request, "admin");
  Outcome out;
  if (auto denied = authorize_admin(request, event)) {
    out = std::move(*denied);
  } else {
    const std::string_view rest = std::string_view(request.path).substr(4);  // after "/v1/"
    if (rest == "clients" || rest.starts_with("clients/")) {
      out = admin_clients(request, rest.substr(std::min<std::size_t>(rest.size(), 8)), event);
    } else if (rest == "keys" || rest.starts_with("keys/")) {
      out = admin_keys(request, rest.substr(4), event);
    } else if (rest == "tokens/revoke") {
      out = request.method == "POST" ? admin_revoke(request, event)
                                     : fail(405, "invalid_request", "use POST");
      event.event = "token.revoke";
    } else {
      out = fail(404, "not_found", "no such endpoint");
    }
    if (out.response.status < 400) {
      event.decision = audit::Decision::kAllow;
    } else {
      event.decision =
          out.response.status >= 500 ? audit::Decision::kError : audit::Decision::kDeny;
      if (event.reason.empty()) event.reason = "http_" + std::to_string(out.response.status);
    }
  }
  if (event.event == "admin") event.event = "admin.request";
  out.response.route = "/v1/" + std::string(event.event);
  out.event = std::move(event);
  return out;
}

Outcome App::admin_clients(const http::Request& request, std::string_view rest,
                           audit::Event& event) {
  const TimePoint now = s_.clock.now();
  if (rest.empty()) {
    if (request.method == "GET") {
      event.event = "client.list";
      json::array clients;
      for (const auto& c : s_.clients.list()) clients.push_back(client_json(c));
      return respond(200, json::object{{"clients", std::move(clients)}});
    }
    if (request.method != "POST") return fail(405, "invalid_request", "use GET or POST");
    event.event = "client.create";
    auto body = json_body(request, {"id", "name", "attributes", "allowed_scopes",
                                    "allowed_audiences", "auth_methods"});
    if (!body) return from_error(body.error());
    oauth::NewClient nc;
    auto id = optional_string(*body, "id");
    auto name = optional_string(*body, "name");
    auto scopes = string_list(*body, "allowed_scopes");
    auto audiences = string_list(*body, "allowed_audiences");
    auto methods = string_list(*body, "auth_methods");
    for (const auto* r : {&scopes, &audiences, &methods}) {
      if (!*r) return from_error(r->error());
    }
    if (!id) return from_error(id.error());
    if (!name) return from_error(name.error());
    if (!*name || (*name)->empty()) return fail(400, "invalid_request", "name is required");
    nc.id = *id;
    nc.name = **name;
    nc.allowed_scopes = std::move(*scopes);
    nc.allowed_audiences = std::move(*audiences);
    nc.auth_methods = std::move(*methods);
    if (const json::value* attrs = body->if_contains("attributes")) {
      if (!attrs->is_object())
        return fail(400, "invalid_request", "attributes must be an object of strings");
      for (const auto& a : attrs->as_object()) {
        if (!a.value().is_string())
          return fail(400, "invalid_request", "attributes must be an object of strings");
        nc.attributes.emplace(a.key(), a.value().as_string());
      }
    }
    event.scopes = nc.allowed_scopes;
    event.audience = nc.allowed_audiences;
    if (nc.id) event.subject = *nc.id;
    auto created = s_.clients.create(std::move(nc), now);
    if (!created) return from_error(created.error());
    event.subject = created->client.id;
    return respond(201, json::object{{"client", client_json(created->client)},
                                     {"client_secret", created->secret.reveal()}});
  }

  const auto slash = rest.find('/');
  const std::string id(rest.substr(0, slash));
  const std::string_view action = slash == std::string_view::npos ? "" : rest.substr(slash + 1);
  event.subject = id;
  if (action.empty()) {
    event.event = "client.show";
    if (request.method != "GET") return fail(405, "invalid_request", "use GET");
    auto client = s_.clients.get(id);
    if (!client) return from_error(client.error());
    return respond(200, client_json(*client));
  }
  if (request.method != "POST") return fail(405, "invalid_request", "use POST");
  if (action == "disable" || action == "enable") {
    event.event = action == "disable" ? "client.disable" : "client.enable";
    auto client = s_.clients.set_status(
        id, action == "disable" ? oauth::ClientStatus::kDisabled : oauth::ClientStatus::kActive,
        now);
    if (!client) return from_error(client.error());
    return respond(200, client_json(*client));
  }
  if (action == "rotate-secret") {
    event.event = "client.rotate_secret";
    auto body = json_body(request, {"overlap_seconds"});
    if (!body) return from_error(body.error());
    auto overlap = optional_int(*body, "overlap_seconds");
    if (!overlap) return from_error(overlap.error());
    const std::int64_t seconds = overlap->value_or(0);
    if (seconds < 0 || seconds > 30 * 86400) {
      return fail(400, "invalid_request", "overlap_seconds must be from 0 to 2592000");
    }
    auto secret = s_.clients.rotate_secret(id, Seconds{seconds}, now);
    if (!secret) return from_error(secret.error());
    json::object body_out{{"client_id", id}, {"client_secret", secret->reveal()}};
    if (auto client = s_.clients.get(id);
        client && client->previous_secret && client->previous_secret->expires_at && seconds > 0) {
      body_out["previous_secret_expires_at"] = to_rfc3339(*client->previous_secret->expires_at);
    }
    return respond(200, body_out);
  }
  event.event = "client.unknown";
  return fail(404, "not_found", "no such endpoint");
}

Outcome App::admin_keys(const http::Request& request, std::string_view rest, audit::Event& event) {
  const TimePoint now = s_.clock.now();
  if (rest.empty()) {
    event.event = "keys.list";
    if (request.method != "GET") return fail(405, "invalid_request", "use GET");
    json::array keys;
    for (const auto& info : s_.keys.list(now)) {
      if (info.state != oauth::SigningKeyState::kGone)
        keys.push_back(key_json(info.record, info.state));
    }
    return respond(200, json::object{{"keys", std::move(keys)}});
  }
  if (rest == "/rotate") {
    event.event = "keys.rotate";
    if (request.method != "POST") return fail(405, "invalid_request", "use POST");
    auto body = json_body(request, {"alg"});
    if (!body) return from_error(body.error());
    auto alg_name = optional_string(*body, "alg");
    if (!alg_name) return from_error(alg_name.error());
    std::optional<jose::Algorithm> alg;
    if (*alg_name) {
      alg = jose::algorithm_from_string(**alg_name);
      if (!alg)
        return fail(400, "invalid_request", "alg must be one of ES256 ES384 EdDSA RS256 PS256");
    }
    auto key = s_.keys.rotate(now, alg);
    if (!key) return from_error(key.error());
    event.subject = key->kid;
    return respond(201, key_json(*key, oauth::state_at(*key, now)));
  }
  event.event = "keys.unknown";
  return fail(404, "not_found", "no such endpoint");
}

Outcome App::admin_revoke(const http::Request& request, audit::Event& event) {
  const TimePoint now = s_.clock.now();
  auto body = json_body(request, {"token", "jti", "expires_at"});
  if (!body) return from_error(body.error());
  auto token = optional_string(*body, "token");
  auto jti = optional_string(*body, "jti");
  auto expires_at = optional_int(*body, "expires_at");
  if (!token) return from_error(token.error());
  if (!jti) return from_error(jti.error());
  if (!expires_at) return from_error(expires_at.error());
  if (*token && !*jti && !*expires_at) {
    auto outcome = s_.revocation.admin_revoke_token(**token, now);
    if (!outcome) return from_error(outcome.error());
    event.jti = outcome->jti;
    event.subject = outcome->token_client_id;
    if (outcome->result != oauth::RevocationResult::kRevoked) {
      event.reason = "not_revocable: " + outcome->reason;
      return fail(400, "invalid_request",
                  "not a valid token of this issuer (expired tokens need no revocation)");
    }
    return respond(200, json::object{{"revoked", true}, {"jti", outcome->jti}});
  }
  if (!*token && *jti && *expires_at) {
    event.jti = **jti;
    auto done = s_.revocation.admin_revoke_jti(**jti, from_unix(**expires_at), now);
    if (!done) return from_error(done.error());
    return respond(200, json::object{{"revoked", true}, {"jti", **jti}});
  }
  return fail(400, "invalid_request", "give either token, or jti with expires_at");
}

}  // namespace sigil::server
