// The JSON admin API under /v1 (docs/openapi.yaml), authorised by one of our access tokens
// with scope sigil:admin and audience = the issuer. Every call is audited, reads included.
#include <boost/json.hpp>

#include <algorithm>
#include <charconv>

#include "http/form.hpp"
#include "oauth/access_token.hpp"
#include "oauth/binding.hpp"
#include "server/admin_json.hpp"
#include "server/app.hpp"

namespace sigil::server {
namespace {

namespace json = boost::json;

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
  // Public keys only: the registry refuses private members.
  if (!c.jwks.empty()) {
    boost::system::error_code ec;
    json::value jwks = json::parse(c.jwks, ec);
    if (!ec) o["jwks"] = std::move(jwks);
  }
  if (!c.jwks_uri.empty()) o["jwks_uri"] = c.jwks_uri;
  if (!c.tls_client_auth_subject_dn.empty()) {
    o["tls_client_auth_subject_dn"] = c.tls_client_auth_subject_dn;
  }
  if (!c.tls_client_auth_san_uri.empty()) o["tls_client_auth_san_uri"] = c.tls_client_auth_san_uri;
  if (!c.tls_client_auth_san_dns.empty()) o["tls_client_auth_san_dns"] = c.tls_client_auth_san_dns;
  if (!c.tls_client_certificates.empty()) {
    o["tls_client_certificates"] = string_array(c.tls_client_certificates);
  }
  return o;
}

// The RFC 8705 members of a request body, as the registry takes them.
struct ClientTls {
  std::string subject_dn;
  std::string san_uri;
  std::string san_dns;
  std::vector<std::string> thumbprints;  // given, and of the PEM certificates given
};

Result<ClientTls> client_tls(const json::object& body) {
  ClientTls tls;
  SIGIL_TRY(subject_dn, optional_string(body, "tls_client_auth_subject_dn"));
  SIGIL_TRY(san_uri, optional_string(body, "tls_client_auth_san_uri"));
  SIGIL_TRY(san_dns, optional_string(body, "tls_client_auth_san_dns"));
  SIGIL_TRY(thumbprints, string_list(body, "tls_client_certificates"));
  SIGIL_TRY(from_pem, pem_certificate_thumbprints(body, "tls_client_certificates_pem"));
  tls.subject_dn = subject_dn.value_or("");
  tls.san_uri = san_uri.value_or("");
  tls.san_dns = san_dns.value_or("");
  tls.thumbprints = std::move(thumbprints);
  tls.thumbprints.insert(tls.thumbprints.end(), from_pem.begin(), from_pem.end());
  return tls;
}

// The "jwks" (a JSON object, sent on as text) and "jwks_uri" members of a request body.
Result<std::pair<std::string, std::string>> client_keys(const json::object& body) {
  std::pair<std::string, std::string> keys;
  if (const json::value* jwks = body.if_contains("jwks")) {
    if (!jwks->is_object()) {
      return std::unexpected(
          Error::invalid_argument("jwks must be a JWKS object ({\"keys\":[...]})"));
    }
    keys.first = json::serialize(*jwks);
  }
  SIGIL_TRY(uri, optional_string(body, "jwks_uri"));
  if (uri) keys.second = std::move(*uri);
  return keys;
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

}  // namespace

bool Caller::has_scope(std::string_view scope) const {
  return std::binary_search(claims->scopes.begin(), claims->scopes.end(), scope);
}

std::expected<Caller, Outcome> App::authenticate_bearer(const http::Request& request,
                                                        audit::Event& event) {
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
    return std::unexpected(std::move(out));
  };
  const auto authorization = request.header("Authorization");
  if (!authorization) return unauthorized("no_token", "");
  // RFC 9449 §7.1: a DPoP-bound token comes with the DPoP scheme.
  const bool dpop_scheme = http::iequals(http::authorization_scheme(*authorization), "DPoP");
  auto bearer = dpop_scheme ? http::parse_token_authorization(*authorization, "DPoP")
                            : http::parse_bearer_authorization(*authorization);
  if (!bearer) {
    return unauthorized("malformed_authorization", "expected Authorization: Bearer <token>");
  }
  const TimePoint now = s_.clock.now();

  // A token seen before is not verified again until it expires; revocation and the kill
  // switch are still checked on every use.
  std::shared_ptr<const BearerClaims> cached;
  {
    std::shared_lock lock(bearer_mu_);
    if (auto it = bearer_cache_.find(*bearer);
        it != bearer_cache_.end() && now < it->second->valid_until) {
      cached = it->second;
    }
  }
  if (!cached) {
    auto jwt = oauth::verify_access_token(*bearer, s_.keys, now);
    if (!jwt) {
      return unauthorized(std::string(jose::to_string(jwt.error().reason)),
                          "the token is not valid");
    }
    const auto client_id = jwt->string_claim("client_id");
    const auto jti = jwt->string_claim("jti");
    const auto exp = jwt->time_claim("exp");
    if (client_id) event.client_id = std::string(*client_id);
    if (jti) event.jti = std::string(*jti);
    if (!client_id || !jti || !exp) return unauthorized("missing_claim", "the token is not valid");
    bool for_us = false;
    if (const auto* aud = jwt->claims().if_contains("aud")) {
      if (aud->is_string()) for_us = aud->as_string() == s_.issuer;
      if (aud->is_array()) {
        for (const auto& a : aud->as_array()) {
          for_us = for_us || (a.is_string() && a.as_string() == s_.issuer);
        }
      }
    }
    if (!for_us) {
      event.reason = "wrong_audience";
      count_denial("admin", event.reason);
      return std::unexpected(insufficient_scope(kAdminScope));
    }
    BearerClaims entry{std::string(*client_id),
                       std::string(*jti),
                       {},
                       from_unix(*exp) + s_.keys.settings().leeway,
                       {}};
    if (const auto scope = jwt->string_claim("scope")) {
      std::string_view rest = *scope;
      while (!rest.empty()) {
        const auto sp = rest.find(' ');
        if (sp != 0) entry.scopes.emplace_back(rest.substr(0, sp));
        rest = sp == std::string_view::npos ? std::string_view{} : rest.substr(sp + 1);
      }
    }
    std::sort(entry.scopes.begin(), entry.scopes.end());
    if (const auto* cnf = jwt->claims().if_contains("cnf")) entry.binding["cnf"] = *cnf;
    cached = std::make_shared<const BearerClaims>(std::move(entry));
    std::unique_lock lock(bearer_mu_);
    // Bounded: a flood of distinct tokens empties the cache instead of growing it.
    if (bearer_cache_.size() >= kBearerCacheSize) bearer_cache_.clear();
    bearer_cache_.insert_or_assign(std::string(*bearer), cached);
  }
  event.client_id = cached->client_id;
  event.jti = cached->jti;
  if (s_.revocations.is_revoked(cached->jti)) {
    return unauthorized("revoked", "the token is not valid");
  }
  if (!s_.clients.is_active(cached->client_id)) {
    return unauthorized("client_disabled", "the token is not valid");
  }
  // A sender-constrained token is good only with its certificate or DPoP key.
  if (!cached->binding.empty() || dpop_scheme) {
    const auto dpop_headers =
        std::count_if(request.headers.begin(), request.headers.end(),
                      [](const auto& header) { return http::iequals(header.first, "DPoP"); });
    const std::string url = request_url(request);  // the proof's htu; outlives `presented`
    const oauth::PresentedBinding presented{
        .certificate_der = request.peer_certificate
                               ? std::string_view(request.peer_certificate->der)
                               : std::string_view(),
        .dpop_proof = dpop_headers == 1 ? request.header("DPoP") : std::nullopt,
        .method = request.method,
        .url = url,
        .dpop_scheme = dpop_scheme,
    };
    if (s_.assertions == nullptr || s_.assertions->replays == nullptr) {
      return unauthorized("replay_check_unavailable", "the token is not valid");
    }
    auto bound = oauth::check_token_binding(cached->binding, *bearer, presented, now,
                                            *s_.assertions->replays, s_.keys.settings().leeway);
    if (!bound) {
      event.detail = bound.error().description;
      auto out = unauthorized(bound.error().reason, bound.error().description);
      // RFC 9449 §7.1: a DPoP-bound token's challenge names the DPoP scheme.
      const auto* cnf = cached->binding.if_contains("cnf");
      if (cnf != nullptr && cnf->is_object() && cnf->as_object().contains("jkt")) {
        out.error().response.set_header(
            "WWW-Authenticate",
            std::string("DPoP realm=\"sigil\", error=\"") +
                (bound.error().error == oauth::OAuthError::kInvalidDpopProof ? "invalid_dpop_proof"
                                                                             : "invalid_token") +
                "\", algs=\"ES256 ES384 EdDSA RS256 PS256\"");
      }
      return out;
    }
  }
  return Caller{std::move(cached)};
}

Outcome App::insufficient_scope(std::string_view scope) {
  Outcome out = fail(403, "insufficient_scope",
                     "the token lacks scope " + std::string(scope) + " for this server");
  out.response.set_header(
      "WWW-Authenticate",
      "Bearer realm=\"sigil\", error=\"insufficient_scope\", scope=\"" + std::string(scope) + "\"");
  return out;
}

Outcome App::admin(const http::Request& request) {
  audit::Event event = new_event(request, "admin");
  Outcome out;
  auto caller = authenticate_bearer(request, event);
  if (!caller) {
    out = std::move(caller.error());
  } else {
    const std::string_view rest = std::string_view(request.path).substr(4);  // after "/v1/"
    const bool admin = caller->has_scope(kAdminScope);
    auto needs_admin = [&]() {
      event.reason = "insufficient_scope";
      count_denial("admin", event.reason);
      return insufficient_scope(kAdminScope);
    };
    if (rest == "clients" || rest.starts_with("clients/")) {
      out = admin
                ? admin_clients(request, rest.substr(std::min<std::size_t>(rest.size(), 8)), event)
                : needs_admin();
    } else if (rest == "signing-keys" || rest.starts_with("signing-keys/")) {
      out = admin ? admin_keys(request, rest.substr(12), event) : needs_admin();
    } else if (rest == "tokens/revoke") {
      event.event = "token.revoke";
      if (!admin) {
        out = needs_admin();
      } else {
        out = request.method == "POST" ? admin_revoke(request, event)
                                       : fail(405, "invalid_request", "use POST");
      }
    } else if (rest == "key-spaces" || rest.starts_with("key-spaces/")) {
      out = admin_key_spaces(request, rest.substr(10), event, *caller);
    } else if (rest == "keys" || rest.starts_with("keys/")) {
      out = admin_api_keys(request, rest.substr(4), event, *caller);
    } else if (rest == "policy" || rest.starts_with("policy/")) {
      out = admin ? admin_policy(request, rest.substr(6), event) : needs_admin();
    } else if (rest == "authorize") {
      out = authorize(request, event, *caller);
    } else if (rest == "ca" || rest.starts_with("ca/")) {
      out = admin ? admin_ca(request, rest.substr(2), event) : needs_admin();
    } else if (rest == "certificates") {
      out = admin ? list_certificates(request, event) : needs_admin();
    } else {
      out = fail(404, "not_found", "no such endpoint");
    }
    if (out.response.status < 400) {
      // A sound request whose answer is a refusal (key.verify of a bad key) carries the
      // refusal's reason and stays a denial.
      event.decision = event.reason.empty() ? audit::Decision::kAllow : audit::Decision::kDeny;
    } else {
      event.decision =
          out.response.status >= 500 ? audit::Decision::kError : audit::Decision::kDeny;
      if (event.reason.empty()) event.reason = "http_" + std::to_string(out.response.status);
    }
  }
  if (event.event == "admin") event.event = "admin.request";
  out.response.route = "/v1/" + std::string(event.event);
  // A successful key verification is the hot path of API-key users and changes nothing:
  // it is not recorded. Failed ones are.
  if (!(event.event == "key.verify" && event.decision == audit::Decision::kAllow)) {
    out.event = std::move(event);
  }
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
    auto body =
        json_body(request, {"id", "name", "attributes", "allowed_scopes", "allowed_audiences",
                            "auth_methods", "jwks", "jwks_uri", "tls_client_auth_subject_dn",
                            "tls_client_auth_san_uri", "tls_client_auth_san_dns",
                            "tls_client_certificates", "tls_client_certificates_pem"});
    if (!body) return from_error(body.error());
    auto keys = client_keys(*body);
    if (!keys) return from_error(keys.error());
    auto tls = client_tls(*body);
    if (!tls) return from_error(tls.error());
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
    nc.jwks = std::move(keys->first);
    nc.jwks_uri = std::move(keys->second);
    nc.tls_client_auth_subject_dn = std::move(tls->subject_dn);
    nc.tls_client_auth_san_uri = std::move(tls->san_uri);
    nc.tls_client_auth_san_dns = std::move(tls->san_dns);
    nc.tls_client_certificates = std::move(tls->thumbprints);
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
    json::object answer{{"client", client_json(created->client)}};
    // A client that authenticates with its keys alone has no secret.
    if (!created->secret.empty()) answer["client_secret"] = created->secret.reveal();
    return respond(201, answer);
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
  if (action == "tls") {
    // Replaces every RFC 8705 value at once (a member left out is none), so PUT as well.
    event.event = "client.set_tls";
    if (request.method != "POST" && request.method != "PUT") {
      return fail(405, "invalid_request", "use PUT or POST");
    }
    auto body = json_body(request, {"tls_client_auth_subject_dn", "tls_client_auth_san_uri",
                                    "tls_client_auth_san_dns", "tls_client_certificates",
                                    "tls_client_certificates_pem"});
    if (!body) return from_error(body.error());
    auto tls = client_tls(*body);
    if (!tls) return from_error(tls.error());
    auto client = s_.clients.set_tls_auth(id, tls->subject_dn, tls->san_uri, tls->san_dns,
                                          std::move(tls->thumbprints), now);
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
  if (action == "keys") {
    event.event = "client.set_keys";
    auto body = json_body(request, {"jwks", "jwks_uri"});
    if (!body) return from_error(body.error());
    auto keys = client_keys(*body);
    if (!keys) return from_error(keys.error());
    auto client = s_.clients.set_keys(id, keys->first, keys->second, now);
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
