// Certificates from sigil's CA (docs/certificates.md): issuance from a CSR, the trust
// bundle, and the CA's administration.
//
// The identity in a certificate comes from who asks, never from the CSR: the requester is
// the client of one of our tokens (scope cert:issue), the service a trusted external
// issuer's token maps to, or, for renewal over mutual TLS, the subject of the certificate
// sigil issued earlier. The policy then says which SPIFFE ID, DNS names and lifetime that
// requester gets.
#include <boost/json.hpp>

#include <algorithm>
#include <charconv>

#include "base/hex.hpp"
#include "crypto/digest.hpp"
#include "http/form.hpp"
#include "jose/jwt.hpp"
#include "oauth/external_token.hpp"
#include "pki/csr.hpp"
#include "server/admin_json.hpp"
#include "server/app.hpp"

namespace sigil::server {
namespace {

namespace json = boost::json;

constexpr std::string_view kCertificateScope = "cert:issue";
constexpr std::size_t kDefaultListLimit = 100;
constexpr std::size_t kMaxListLimit = 1000;

// What a requester's certificate may say, from the policy (or the defaults for a client
// the policy does not declare).
struct CertificateTerms {
  std::string spiffe_path;
  const policy::CertificateSettings* settings = nullptr;  // null: defaults, no DNS names
  Seconds lifetime = ca::kDefaultCertificateLifetime;
};

CertificateTerms terms_for(const policy::CompiledPolicy* policy, const std::string& requester) {
  if (policy != nullptr) {
    if (const policy::Service* service = policy->find_service(requester)) {
      return {service->certificate.spiffe_path, &service->certificate,
              service->certificate.lifetime};
    }
  }
  return {"/" + requester, nullptr, ca::kDefaultCertificateLifetime};
}

std::string_view key_kind_name(ca::CaKeyKind kind) {
  return kind == ca::CaKeyKind::kRoot ? "root" : "intermediate";
}

json::object ca_key_json(const ca::CaKeyInfo& info) {
  const auto& r = info.record;
  json::object o{{"id", r.id},
                 {"kind", key_kind_name(r.kind)},
                 {"state", info.state},
                 {"created_at", to_rfc3339(r.created_at)},
                 {"activates_at", to_rfc3339(r.activates_at)},
                 {"not_after", to_rfc3339(r.not_after)}};
  if (!r.parent_id.empty()) o["parent_id"] = r.parent_id;
  if (!r.certificate_pem.empty()) o["certificate"] = r.certificate_pem;
  return o;
}

json::object certificate_record_json(const ca::CertificateRecord& r) {
  return {{"serial", r.serial_hex},
          {"spiffe_id", r.spiffe_id},
          {"subject", r.subject},
          {"dns_names", string_array(r.dns_names)},
          {"fingerprint_sha256", r.fingerprint_hex},
          {"issuer_id", r.issuer_id},
          {"not_before", to_unix(r.not_before)},
          {"not_after", to_unix(r.not_after)},
          {"issued_at", to_unix(r.issued_at)}};
}

Outcome unauthorized(audit::Event& event, std::string reason, std::string_view description) {
  event.reason = std::move(reason);
  Outcome out = fail(401, "invalid_token", description);
  out.response.set_header("WWW-Authenticate", "Bearer realm=\"sigil\", error=\"invalid_token\"");
  return out;
}

Outcome forbidden(audit::Event& event, std::string reason, std::string_view description) {
  event.reason = std::move(reason);
  return fail(403, "access_denied", description);
}

}  // namespace

std::string App::request_url(const http::Request& request) const {
  const std::string& base =
      request.peer_certificate && !s_.mtls_url.empty() ? s_.mtls_url : s_.issuer;
  return base + request.path;
}

std::expected<std::string, Outcome> App::certificate_requester(const http::Request& request,
                                                               audit::Event& event) {
  const TimePoint now = s_.clock.now();
  const auto authorization = request.header("Authorization");
  if (!authorization) {
    // Renewal: the certificate of this mutual-TLS connection, one that sigil issued.
    if (!request.peer_certificate) {
      return std::unexpected(unauthorized(
          event, "no_credentials",
          "authenticate with a token (scope cert:issue), a trusted issuer's token, or over "
          "mutual TLS with the current certificate"));
    }
    event.auth_method = "certificate";
    if (!request.peer_certificate->chain_verified) {
      return std::unexpected(
          unauthorized(event, "certificate_not_trusted", "the certificate is not sigil's"));
    }
    auto presented = pki::Certificate::from_der(request.peer_certificate->der);
    if (!presented || s_.certificate_records == nullptr) {
      return std::unexpected(
          unauthorized(event, "certificate_unknown", "the certificate is not sigil's"));
    }
    auto record = s_.certificate_records->get_certificate(hex_encode(presented->serial()));
    if (!record || record->fingerprint_hex != hex_encode(presented->fingerprint_sha256())) {
      return std::unexpected(
          unauthorized(event, "certificate_unknown", "the certificate is not one sigil issued"));
    }
    if (now >= presented->not_after()) {
      return std::unexpected(unauthorized(event, "certificate_expired", "the certificate expired"));
    }
    event.client_id = record->subject;
    if (!s_.clients.is_active(record->subject)) {
      return std::unexpected(unauthorized(event, "client_disabled", "the client is disabled"));
    }
    return record->subject;
  }

  // A token: ours (its issuer is us), or a trusted external issuer's.
  std::string_view token;
  if (auto bearer = http::parse_bearer_authorization(*authorization)) {
    token = *bearer;
  } else if (auto dpop = http::parse_token_authorization(*authorization, "DPoP")) {
    token = *dpop;
  }
  const auto issuer = jose::unverified_string_claim(token, "iss");
  if (token.empty() || !issuer || *issuer == s_.issuer) {
    auto caller = authenticate_bearer(request, event);
    if (!caller) return std::unexpected(std::move(caller.error()));
    if (!caller->has_scope(kCertificateScope)) {
      event.reason = "insufficient_scope";
      count_denial("certificates", event.reason);
      return std::unexpected(insufficient_scope(kCertificateScope));
    }
    return caller->client_id();
  }

  event.auth_method = "federated";
  const auto policy = s_.policy.current();
  if (!policy || s_.assertions == nullptr) {
    return std::unexpected(
        unauthorized(event, "unknown_issuer", "the token's issuer is not trusted"));
  }
  auto external = oauth::verify_external_token(token, *policy, *s_.assertions, now);
  if (!external) {
    event.detail = external.error().detail;
    return std::unexpected(
        unauthorized(event, external.error().reason, external.error().description));
  }
  event.federated = external->issuer().issuer + " " + external->subject();
  event.rule = external->rule().name;
  if (external->rule().service.empty()) {
    return std::unexpected(forbidden(event, "not_a_workload",
                                     "the token names a person; certificates are for workloads"));
  }
  event.client_id = external->rule().service;
  if (!s_.clients.is_active(external->rule().service)) {
    return std::unexpected(unauthorized(event, "client_disabled", "the service is disabled"));
  }
  return external->rule().service;
}

Outcome App::issue_certificate(const http::Request& request) {
  audit::Event event = new_event(request, "certificate.issue");
  const TimePoint now = s_.clock.now();
  Outcome out = [&]() -> Outcome {
    if (s_.ca == nullptr || !s_.ca->ready(now)) {
      event.reason = "ca_not_ready";
      return fail(503, "temporarily_unavailable",
                  "the certificate authority is not initialised (sigil ca init)");
    }
    auto requester = certificate_requester(request, event);
    if (!requester) return std::move(requester.error());
    event.subject = *requester;

    auto body = json_body(request, {"csr", "dns_names", "lifetime"});
    if (!body) return from_error(body.error());
    auto csr_text = optional_string(*body, "csr");
    auto dns_names = string_list(*body, "dns_names");
    auto lifetime = optional_int(*body, "lifetime");
    if (!csr_text) return from_error(csr_text.error());
    if (!dns_names) return from_error(dns_names.error());
    if (!lifetime) return from_error(lifetime.error());
    if (!*csr_text) return fail(400, "invalid_request", "csr is required (PEM)");
    if (*lifetime && **lifetime <= 0) {
      return fail(400, "invalid_request", "lifetime must be a positive number of seconds");
    }
    if (dns_names->size() > pki::kMaxDnsNames) {
      return fail(400, "invalid_request", "too many dns_names");
    }

    const auto policy = s_.policy.current();
    const CertificateTerms terms = terms_for(policy.get(), *requester);
    std::sort(dns_names->begin(), dns_names->end());
    dns_names->erase(std::unique(dns_names->begin(), dns_names->end()), dns_names->end());
    for (const auto& name : *dns_names) {
      if (terms.settings == nullptr || !policy::dns_name_allowed(*terms.settings, name)) {
        event.detail = "dns name " + name;
        return forbidden(event, "dns_name_not_allowed",
                         "the policy does not allow DNS name " + name + " for " + *requester);
      }
    }
    const Seconds granted =
        *lifetime ? std::min(Seconds{**lifetime}, terms.lifetime) : terms.lifetime;

    auto csr = pki::CertificateRequest::parse(**csr_text);
    if (!csr) {
      event.reason = "invalid_csr";
      return fail(400, "invalid_request", csr.error().message);
    }
    auto issued = s_.ca->issue(csr->public_key(),
                               {.subject = *requester,
                                .spiffe_path = terms.spiffe_path,
                                .dns_names = *dns_names,
                                .lifetime = granted},
                               now);
    if (!issued) {
      event.detail = issued.error().message;
      return from_error(issued.error());
    }
    const auto& record = issued->record;
    event.spiffe_id = record.spiffe_id;
    event.serial = record.serial_hex;
    event.certificate = record.fingerprint_hex;
    json::object answer{{"certificate", issued->certificate.pem()},
                        {"chain", issued->chain_pem},
                        {"bundle", s_.ca->trust_bundle_pem(now)},
                        {"spiffe_id", record.spiffe_id},
                        {"serial", record.serial_hex},
                        {"fingerprint_sha256", record.fingerprint_hex},
                        {"dns_names", string_array(record.dns_names)},
                        {"not_before", to_unix(record.not_before)},
                        {"not_after", to_unix(record.not_after)}};
    return respond(201, answer);
  }();
  if (out.response.status < 400) {
    event.decision = audit::Decision::kAllow;
  } else {
    event.decision = out.response.status >= 500 && out.response.status != 503
                         ? audit::Decision::kError
                         : audit::Decision::kDeny;
    if (event.reason.empty()) event.reason = "http_" + std::to_string(out.response.status);
    count_denial("certificates", event.reason);
  }
  out.response.route = "/v1/certificates";
  out.event = std::move(event);
  return out;
}

Outcome App::bundle(const http::Request& request) {
  const TimePoint now = s_.clock.now();
  if (s_.ca == nullptr || !s_.ca->trust_domain()) {
    return {http::Response::error(503, "temporarily_unavailable",
                                  "the certificate authority is not initialised (sigil ca init)"),
            std::nullopt};
  }
  auto query = http::parse_form(request.query);
  if (!query || !query->duplicates().empty()) {
    return {http::Response::error(400, "invalid_request", "the query string is malformed"),
            std::nullopt};
  }
  const auto format = query->get("format").value_or("pem");
  http::Response r;
  if (format == "spiffe") {
    r = http::Response::json(200, s_.ca->spiffe_bundle_json(now));
  } else if (format == "pem") {
    r.status = 200;
    r.body = s_.ca->trust_bundle_pem(now);
    r.set_header("Content-Type", "application/pem-certificate-chain");
  } else {
    return {http::Response::error(400, "invalid_request", "format is pem or spiffe"), std::nullopt};
  }
  // The SPIFFE bundle's refresh hint; a new root is published long before it is needed.
  r.set_header("Cache-Control", "public, max-age=300");
  return {std::move(r), std::nullopt};
}

Outcome App::admin_ca(const http::Request& request, std::string_view rest, audit::Event& event) {
  const TimePoint now = s_.clock.now();
  if (s_.ca == nullptr) return fail(503, "temporarily_unavailable", "no certificate authority");
  if (rest.empty()) {
    if (request.method != "GET") return fail(405, "invalid_request", "use GET");
    event.event = "ca.show";
    json::array keys;
    for (const auto& info : s_.ca->list(now)) keys.push_back(ca_key_json(info));
    json::object out{{"keys", std::move(keys)}};
    if (auto td = s_.ca->trust_domain()) out["trust_domain"] = td->name();
    return respond(200, out);
  }
  if (rest == "/rotate") {
    if (request.method != "POST") return fail(405, "invalid_request", "use POST");
    event.event = "ca.rotate";
    auto rotated = s_.ca->rotate_intermediate(ca::CaOptions{}, now);
    if (!rotated) return from_error(rotated.error());
    event.subject = rotated->record.id;
    return respond(201, ca_key_json(*rotated));
  }
  return fail(404, "not_found", "no such endpoint");
}

Outcome App::list_certificates(const http::Request& request, audit::Event& event) {
  event.event = "certificate.list";
  if (request.method != "GET") return fail(405, "invalid_request", "use GET, or POST to issue");
  if (s_.certificate_records == nullptr) {
    return fail(503, "temporarily_unavailable", "no certificate authority");
  }
  auto query = http::parse_form(request.query);
  if (!query) return fail(400, "invalid_request", "the query string is malformed");
  if (!query->duplicates().empty()) {
    return fail(400, "invalid_request", "a query parameter is repeated");
  }
  std::size_t limit = kDefaultListLimit;
  if (auto text = query->get("limit")) {
    auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), limit);
    if (ec != std::errc{} || end != text->data() + text->size() || limit < 1 ||
        limit > kMaxListLimit) {
      return fail(400, "invalid_request", "limit must be from 1 to 1000");
    }
  }
  auto records = s_.certificate_records->list_certificates(query->get("spiffe_id"), limit);
  if (!records) return from_error(records.error());
  json::array items;
  for (const auto& r : *records) items.push_back(certificate_record_json(r));
  return respond(200, json::object{{"certificates", std::move(items)}});
}

}  // namespace sigil::server
