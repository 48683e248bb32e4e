// The policy under /v1 (docs/openapi.yaml): the version in force and its history, plan,
// apply and rollback (sigil:admin), and the decision endpoint /v1/authorize that resource
// servers ask at the point of use (sigil:admin or sigil:authorize).
#include <boost/json.hpp>

#include <algorithm>
#include <charconv>

#include "oauth/access_token.hpp"
#include "oauth/binding.hpp"
#include "pki/certificate.hpp"
#include "server/admin_json.hpp"
#include "server/app.hpp"

namespace sigil::server {
namespace {

namespace json = boost::json;

constexpr std::string_view kAuthorizeScope = "sigil:authorize";

json::object version_json(const oauth::PolicyVersion& v, bool with_document) {
  json::object o{{"version", v.version},
                 {"sha256", v.sha256_hex},
                 {"applied_at", to_rfc3339(v.applied_at)},
                 {"applied_by", v.applied_by},
                 {"origin", v.origin}};
  if (v.rolled_back_from) o["rolled_back_from"] = *v.rolled_back_from;
  if (with_document) o["document"] = v.document;
  return o;
}

json::object plan_json(const oauth::PolicyPlan& plan) {
  json::array changes;
  for (const auto& c : plan.changes) {
    changes.push_back(json::object{{"what", c.what},
                                   {"name", c.name},
                                   {"change", policy::to_string(c.kind)},
                                   {"details", string_array(c.details)}});
  }
  json::array clients;
  for (const auto& c : plan.clients) {
    json::object o{{"client_id", c.client_id}, {"action", oauth::to_string(c.action)}};
    if (!c.note.empty()) o["note"] = c.note;
    clients.push_back(std::move(o));
  }
  json::object o{{"changes", std::move(changes)}, {"clients", std::move(clients)}};
  o["current_version"] =
      plan.current_version ? json::value(*plan.current_version) : json::value(nullptr);
  return o;
}

json::object applied_json(const oauth::AppliedPolicy& applied) {
  json::object o = plan_json(applied.plan);
  o["version"] = version_json(applied.version, false);
  json::array credentials;
  for (const auto& c : applied.credentials) {
    credentials.push_back(
        json::object{{"client_id", c.client_id}, {"client_secret", c.client_secret.reveal()}});
  }
  o["credentials"] = std::move(credentials);
  return o;
}

// A policy document too broken to apply: 400 with the diagnostics as the description
// (one "policy:LINE: message" per line), recorded with the first of them.
Outcome invalid_policy(const Error& e, audit::Event& event) {
  event.reason = "invalid_policy";
  event.detail = e.message.substr(0, 1024);
  return fail(400, "invalid_policy", e.message);
}

// The answer to apply and rollback: the new version, or why not.
Outcome applied_outcome(const Result<oauth::AppliedPolicy>& applied, audit::Event& event) {
  if (!applied) {
    if (applied.error().code == Code::kInvalidArgument) {
      return invalid_policy(applied.error(), event);
    }
    return from_error(applied.error());
  }
  event.subject = "policy version " + std::to_string(applied->version.version);
  return respond(200, applied_json(*applied));
}

Result<bool> prune_flag(const json::object& body) {
  const json::value* v = body.if_contains("prune");
  if (v == nullptr) return false;
  if (!v->is_bool()) return std::unexpected(Error::invalid_argument("prune must be true or false"));
  return v->as_bool();
}

// The body of apply and plan: {"document": YAML text, "prune": bool}.
struct PolicyDocument {
  std::string text;
  bool prune = false;
};

Result<PolicyDocument> policy_document(const http::Request& request) {
  SIGIL_TRY(body, json_body(request, {"document", "prune"}));
  SIGIL_TRY(document, optional_string(body, "document"));
  if (!document || document->empty()) {
    return std::unexpected(Error::invalid_argument("document is required: the policy's YAML text"));
  }
  SIGIL_TRY(prune, prune_flag(body));
  return PolicyDocument{std::move(*document), prune};
}

std::vector<std::string> split_scope(std::string_view scope) {
  std::vector<std::string> out;
  while (!scope.empty()) {
    const auto sp = scope.find(' ');
    if (sp != 0) out.emplace_back(scope.substr(0, sp));
    scope = sp == std::string_view::npos ? std::string_view{} : scope.substr(sp + 1);
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

bool audience_claim_has(const json::object& claims, std::string_view audience) {
  const json::value* aud = claims.if_contains("aud");
  if (aud == nullptr) return false;
  if (aud->is_string()) return aud->as_string() == audience;
  if (!aud->is_array()) return false;
  return std::any_of(aud->as_array().begin(), aud->as_array().end(), [&](const json::value& a) {
    return a.is_string() && a.as_string() == audience;
  });
}

}  // namespace

Outcome App::admin_policy(const http::Request& request, std::string_view rest,
                          audit::Event& event) {
  const TimePoint now = s_.clock.now();
  auto refused_in_file_mode = [&]() {
    event.reason = "policy_from_file";
    return fail(409, "failed_precondition",
                "the policy is managed by the file " + s_.policy_file +
                    " (sigil serve --policy); change the file instead");
  };

  if (rest.empty()) {
    if (request.method == "GET") {
      event.event = "policy.show";
      auto current = s_.policy_admin.current();
      if (!current) return from_error(current.error());
      if (!*current) return fail(404, "not_found", "no policy is in force; apply one first");
      return respond(200, version_json(**current, true));
    }
    if (request.method != "POST") return fail(405, "invalid_request", "use GET or POST");
    event.event = "policy.apply";
    if (!s_.policy_file.empty()) return refused_in_file_mode();
    auto document = policy_document(request);
    if (!document) return from_error(document.error());
    oauth::ApplyOptions options;
    options.prune = document->prune;
    options.applied_by = event.client_id;
    return applied_outcome(s_.policy_admin.apply(document->text, options, now), event);
  }

  if (rest == "/plan") {
    event.event = "policy.plan";
    if (request.method != "POST") return fail(405, "invalid_request", "use POST");
    auto document = policy_document(request);
    if (!document) return from_error(document.error());
    auto plan = s_.policy_admin.plan(document->text, document->prune);
    if (!plan) {
      if (plan.error().code == Code::kInvalidArgument) return invalid_policy(plan.error(), event);
      return from_error(plan.error());
    }
    return respond(200, plan_json(*plan));
  }

  if (rest == "/rollback") {
    event.event = "policy.rollback";
    if (request.method != "POST") return fail(405, "invalid_request", "use POST");
    if (!s_.policy_file.empty()) return refused_in_file_mode();
    auto body = json_body(request, {"version"});
    if (!body) return from_error(body.error());
    auto version = optional_int(*body, "version");
    if (!version) return from_error(version.error());
    if (!*version) return fail(400, "invalid_request", "version is required");
    return applied_outcome(s_.policy_admin.rollback(**version, event.client_id, now), event);
  }

  if (rest == "/versions") {
    event.event = "policy.history";
    if (request.method != "GET") return fail(405, "invalid_request", "use GET");
    auto versions = s_.policy_admin.history();
    if (!versions) return from_error(versions.error());
    json::array out;
    for (const auto& v : *versions) out.push_back(version_json(v, false));
    return respond(200, json::object{{"versions", std::move(out)}});
  }

  if (rest.starts_with("/versions/")) {
    event.event = "policy.show";
    if (request.method != "GET") return fail(405, "invalid_request", "use GET");
    const std::string_view text = rest.substr(10);
    std::int64_t number = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), number);
    if (ec != std::errc{} || end != text.data() + text.size() || number < 1) {
      return fail(404, "not_found", "no such policy version");
    }
    auto version = s_.policy_admin.version(number);
    if (!version) return from_error(version.error());
    return respond(200, version_json(*version, true));
  }
  return fail(404, "not_found", "no such endpoint");
}

Outcome App::authorize(const http::Request& request, audit::Event& event, const Caller& caller) {
  event.event = "policy.authorize";
  if (!caller.has_scope(kAdminScope) && !caller.has_scope(kAuthorizeScope)) {
    event.reason = "insufficient_scope";
    count_denial("admin", event.reason);
    return insufficient_scope(kAuthorizeScope);
  }
  if (request.method != "POST") return fail(405, "invalid_request", "use POST");
  auto body = json_body(
      request, {"caller", "token", "audience", "scope", "context", "explain", "presented"});
  if (!body) return from_error(body.error());
  auto caller_id = optional_string(*body, "caller");
  auto token = optional_string(*body, "token");
  auto audience = optional_string(*body, "audience");
  auto scope = optional_string(*body, "scope");
  for (const auto* r : {&caller_id, &token, &audience, &scope}) {
    if (!*r) return from_error(r->error());
  }
  if (caller_id->has_value() == token->has_value()) {
    return fail(400, "invalid_request", "give exactly one of caller and token");
  }
  if (!*audience || (*audience)->empty()) {
    return fail(400, "invalid_request", "audience is required");
  }
  std::string source_address;
  std::string auth_method;
  if (const json::value* context = body->if_contains("context")) {
    if (!context->is_object()) return fail(400, "invalid_request", "context must be an object");
    for (const auto& member : context->as_object()) {
      if (member.key() != "source_address" && member.key() != "auth_method") {
        return fail(400, "invalid_request",
                    "unknown context member '" + std::string(member.key()) + "'");
      }
      if (!member.value().is_string()) {
        return fail(400, "invalid_request", "context members must be strings");
      }
    }
    auto source = optional_string(context->as_object(), "source_address");
    auto method = optional_string(context->as_object(), "auth_method");
    if (*source) source_address = **source;
    if (*method) auth_method = **method;
  }
  // What the resource server saw with the token (RFC 8705 §3, RFC 9449 §7): the client
  // certificate of its mutual-TLS connection, and the DPoP header with the request's method
  // and URL. A sender-constrained token is allowed only with what it is bound to.
  std::string presented_der;
  std::optional<std::string> presented_proof;
  std::string presented_method;
  std::string presented_url;
  bool presented_dpop_scheme = false;
  if (const json::value* presented = body->if_contains("presented")) {
    if (!presented->is_object()) return fail(400, "invalid_request", "presented must be an object");
    for (const auto& member : presented->as_object()) {
      if (member.key() != "certificate" && member.key() != "dpop" && member.key() != "method" &&
          member.key() != "url" && member.key() != "scheme") {
        return fail(400, "invalid_request",
                    "unknown presented member '" + std::string(member.key()) + "'");
      }
      if (!member.value().is_string()) {
        return fail(400, "invalid_request", "presented members must be strings");
      }
    }
    const auto& p = presented->as_object();
    if (const auto* pem = p.if_contains("certificate")) {
      auto certificate = pki::Certificate::from_pem(pem->as_string());
      if (!certificate) {
        return fail(400, "invalid_request", "presented.certificate is not a PEM certificate");
      }
      presented_der = certificate->der();
    }
    if (const auto* proof = p.if_contains("dpop"))
      presented_proof = std::string(proof->as_string());
    if (const auto* method = p.if_contains("method")) presented_method = method->as_string();
    if (const auto* url = p.if_contains("url")) presented_url = url->as_string();
    if (const auto* scheme = p.if_contains("scheme")) {
      if (scheme->as_string() != "Bearer" && scheme->as_string() != "DPoP") {
        return fail(400, "invalid_request", "presented.scheme is Bearer or DPoP");
      }
      presented_dpop_scheme = scheme->as_string() == "DPoP";
    }
    if (presented_proof && (presented_method.empty() || presented_url.empty())) {
      return fail(400, "invalid_request", "presented.dpop needs method and url");
    }
  }
  bool explain = false;
  if (const json::value* e = body->if_contains("explain")) {
    if (!e->is_bool()) return fail(400, "invalid_request", "explain must be true or false");
    explain = e->as_bool();
  }
  std::vector<std::string> scopes = *scope ? split_scope(**scope) : std::vector<std::string>{};
  event.scopes = scopes;
  event.audience = {**audience};

  const TimePoint now = s_.clock.now();
  const auto compiled = s_.policy.current();
  json::object answer;
  auto deny = [&](std::string reason, std::string detail) {
    event.reason = reason;
    event.detail = detail;
    answer["decision"] = "deny";
    answer["reason"] = std::move(reason);
    if (!detail.empty()) answer["detail"] = std::move(detail);
    return respond(200, answer);
  };

  // The audience as the token names it: the policy's URI when the policy knows it.
  std::string audience_uri = **audience;
  if (compiled) {
    if (const auto* a = compiled->find_audience(**audience)) audience_uri = a->uri;
  }

  std::string subject;
  if (*caller_id) {
    subject = **caller_id;
  } else {
    // A token: ours, unexpired, not revoked, of an active client, for this audience, and
    // carrying the scopes asked about; then the policy must still allow it now.
    auto jwt = oauth::verify_access_token(**token, s_.keys, now);
    if (!jwt) return deny("invalid_token", std::string(jose::to_string(jwt.error().reason)));
    const auto client_id = jwt->string_claim("client_id");
    const auto jti = jwt->string_claim("jti");
    if (!client_id || !jti) return deny("invalid_token", "missing client_id or jti");
    subject = std::string(*client_id);
    event.jti = std::string(*jti);
    if (s_.revocations.is_revoked(*jti)) return deny("revoked", "");
    if (!s_.clients.is_active(subject)) return deny("client_disabled", "");
    if (!audience_claim_has(jwt->claims(), audience_uri)) {
      return deny("audience_mismatch", "the token is not for " + audience_uri);
    }
    const auto token_scope = jwt->string_claim("scope");
    const auto held = token_scope ? split_scope(*token_scope) : std::vector<std::string>{};
    for (const auto& s : scopes) {
      if (!std::binary_search(held.begin(), held.end(), s)) {
        return deny("scope_not_in_token", "the token lacks scope " + s);
      }
    }
    if (scopes.empty()) scopes = held;
    if (s_.assertions == nullptr || s_.assertions->replays == nullptr) {
      return deny("replay_check_unavailable", "");
    }
    const oauth::PresentedBinding binding{
        .certificate_der = presented_der,
        .dpop_proof =
            presented_proof ? std::optional<std::string_view>(*presented_proof) : std::nullopt,
        .method = presented_method,
        .url = presented_url,
        .dpop_scheme = presented_dpop_scheme,
    };
    if (auto bound = oauth::check_token_binding(jwt->claims(), **token, binding, now,
                                                *s_.assertions->replays, s_.keys.settings().leeway);
        !bound) {
      return deny(bound.error().reason, bound.error().description);
    }
    // An audience that requires mutual TLS takes certificate-bound tokens only.
    const auto* required = compiled ? compiled->find_audience(**audience) : nullptr;
    const auto* cnf = jwt->claims().if_contains("cnf");
    if (required != nullptr && required->require_mtls &&
        (cnf == nullptr || !cnf->is_object() || !cnf->as_object().contains("x5t#S256"))) {
      return deny("mtls_required", "the audience takes certificate-bound tokens only");
    }
  }
  event.subject = subject;
  answer["caller"] = subject;
  if (!compiled) return deny("no_policy", "no policy is in force");

  const auto decision = compiled->decide(
      {.caller = subject,
       .audience = **audience,
       .scopes = scopes,
       .context = {.now = now, .source_address = source_address, .auth_method = auth_method},
       .trace = explain});
  answer["rules"] = string_array(decision.rules);
  event.rule.clear();
  for (const auto& r : decision.rules) event.rule += (event.rule.empty() ? "" : ",") + r;
  if (!decision.audience_uri.empty()) answer["audience"] = decision.audience_uri;
  if (explain) {
    json::array trace;
    for (const auto& t : decision.trace) {
      trace.push_back(json::object{{"rule", t.rule}, {"applied", t.applied}, {"why", t.why}});
    }
    answer["trace"] = std::move(trace);
  }
  if (!decision.allowed) {
    return deny(std::string(policy::to_string(decision.reason)), decision.detail);
  }
  answer["decision"] = "allow";
  answer["scopes"] = string_array(decision.scopes);
  if (decision.lifetime_cap) answer["max_lifetime"] = decision.lifetime_cap->count();
  return respond(200, answer);
}

}  // namespace sigil::server
