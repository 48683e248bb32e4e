// The HTTP application: routes every request to its handler, renders outcomes, and
// writes the audit record of each security-relevant request before its response leaves.
//
// Handlers are plain request -> Outcome functions; the audit boundary is here, once:
// when an Outcome carries an audit event, App appends it to the audit log and answers
// from the log's completion (after fsync, group-committed). A failed audit write turns
// the answer into 500 server_error: fail closed.
#pragma once

#include <boost/json/object.hpp>

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "apikeys/service.hpp"
#include "audit/log.hpp"
#include "base/clock.hpp"
#include "ca/authority.hpp"
#include "http/message.hpp"
#include "http/metrics.hpp"
#include "http/server.hpp"
#include "oauth/client_registry.hpp"
#include "oauth/introspection.hpp"
#include "oauth/key_ring.hpp"
#include "oauth/policy_admin.hpp"
#include "oauth/revocation.hpp"
#include "oauth/token_endpoint.hpp"
#include "policy/engine.hpp"
#include "server/blocking_work.hpp"

namespace sigil::server {

// Everything the routes use. All referenced objects outlive the App.
struct Services {
  const Clock& clock;
  std::string issuer;
  oauth::ClientRegistry& clients;
  oauth::KeyRing& keys;
  oauth::RevocationList& revocations;
  oauth::TokenRevocation& revocation;
  oauth::TokenEndpoint& token_endpoint;
  // For private_key_jwt at the introspection and revocation endpoints (the token
  // endpoint has its own); null: only client secrets are accepted there.
  const oauth::AssertionContext* assertions = nullptr;
  apikeys::ApiKeyService& api_keys;
  policy::PolicyHolder& policy;
  oauth::PolicyAdministration& policy_admin;
  // Set when the policy comes from a file (sigil serve --policy): the file is the one
  // source of truth, so changing the policy through the API is refused.
  std::string policy_file;
  audit::Sink& audit;
  http::MetricsRegistry& metrics;
  // The certificate authority (docs/certificates.md); null, or not ready: certificates are
  // not issued (503) and the bundle is empty.
  ca::CertificateAuthority* ca = nullptr;
  // The certificates it issued: renewal finds the subject of a presented certificate here.
  ca::CertificateStore* certificate_records = nullptr;
  // The mutual-TLS listener's base URL (requests that arrive there have a
  // peer_certificate): DPoP proofs and client assertions sent there name it. Empty: none.
  std::string mtls_url = {};
  // Where certificate issuance runs (signing and a durable commit take milliseconds, which
  // the HTTP threads must not spend); null: on the calling thread (tests).
  BlockingWork* blocking = nullptr;
  // Readiness beyond "a key is active": e.g. the store answers. Empty string = ready.
  std::function<std::string()> readiness_problem;
};

// What a verified bearer token says, kept until the token expires.
struct BearerClaims {
  std::string client_id;
  std::string jti;
  std::vector<std::string> scopes;  // sorted
  TimePoint valid_until;
  // {"cnf": ...} of a sender-constrained token (RFC 8705 §3.1, RFC 9449 §6.1); empty for a
  // bearer token.
  boost::json::object binding;
};

// Who called the /v1 API, from a verified bearer token. Shares the cached claims, so a
// request copies nothing.
struct Caller {
  std::shared_ptr<const BearerClaims> claims;
  const std::string& client_id() const { return claims->client_id; }
  bool has_scope(std::string_view scope) const;
};

// What a handler produced: the response and, for audited requests, the record.
struct Outcome {
  http::Response response;
  std::optional<audit::Event> event;
};

class App {
 public:
  explicit App(Services services);

  // The http::Handler.
  void handle(http::Request&& request, http::Responder respond);

  // For http::ServerOptions::on_rejected: audits a request the HTTP layer refused
  // itself (oversized or malformed). The answer does not wait for the record.
  void record_rejection(const http::RejectedRequest& rejected);

 private:
  using Route = Outcome (App::*)(const http::Request&);
  struct RouteEntry {
    std::string method;
    Route route;
  };

  Outcome token(const http::Request& request);
  Outcome introspect(const http::Request& request);
  Outcome revoke(const http::Request& request);
  Outcome metadata(const http::Request& request);
  Outcome jwks(const http::Request& request);
  Outcome bundle(const http::Request& request);
  Outcome healthz(const http::Request& request);
  Outcome readyz(const http::Request& request);
  Outcome metrics(const http::Request& request);
  Outcome admin(const http::Request& request);  // every /v1/... path

  // Admin API pieces (admin_routes.cpp).
  Outcome admin_clients(const http::Request& request, std::string_view rest, audit::Event& event);
  Outcome admin_keys(const http::Request& request, std::string_view rest, audit::Event& event);
  Outcome admin_revoke(const http::Request& request, audit::Event& event);

  // The caller of the /v1 API from `Authorization: Bearer`: one of our tokens, not
  // revoked, of an active client, with audience = the issuer. Fills the event's client_id
  // and jti; on failure returns the 401/403 outcome. Verified tokens are cached until
  // they expire (bounded), so a busy verifier pays for one signature check per token.
  std::expected<Caller, Outcome> authenticate_bearer(const http::Request& request,
                                                     audit::Event& event);
  static Outcome insufficient_scope(std::string_view scope);

  // API keys (apikey_routes.cpp): sigil:admin, or sigil:keys:<key space> for that space;
  // verification also with sigil:keys:verify.
  Outcome admin_key_spaces(const http::Request& request, std::string_view rest, audit::Event& event,
                           const Caller& caller);
  Outcome admin_api_keys(const http::Request& request, std::string_view rest, audit::Event& event,
                         const Caller& caller);
  Outcome verify_api_key(const http::Request& request, audit::Event& event, const Caller& caller);

  // Certificates (certificate_routes.cpp): POST /v1/certificates, authorised by one of
  // our tokens with scope cert:issue, a trusted external issuer's token, or (renewal) the
  // client certificate of the mutual-TLS connection; /v1/ca and GET /v1/certificates with
  // sigil:admin.
  Outcome issue_certificate(const http::Request& request);
  Outcome admin_ca(const http::Request& request, std::string_view rest, audit::Event& event);
  Outcome list_certificates(const http::Request& request, audit::Event& event);
  // Who asks for a certificate: the service or client id, or the outcome refusing it.
  std::expected<std::string, Outcome> certificate_requester(const http::Request& request,
                                                            audit::Event& event);
  // The URL a request was sent to, without query: the issuer's, or the mutual-TLS
  // listener's for a request that arrived there.
  std::string request_url(const http::Request& request) const;

  // Policy (policy_routes.cpp): /v1/policy... with sigil:admin; /v1/authorize with
  // sigil:admin or sigil:authorize.
  Outcome admin_policy(const http::Request& request, std::string_view rest, audit::Event& event);
  Outcome authorize(const http::Request& request, audit::Event& event, const Caller& caller);

  // Introspection and revocation: a form body with `token`, from an authenticated client.
  // On failure, `denied` holds the complete outcome to return. The views point into
  // `params`.
  struct TokenCall {
    std::vector<std::pair<std::string, std::string>> params;
    std::optional<std::string_view> token;
    std::optional<std::string_view> token_type_hint;
    std::optional<oauth::AuthenticatedClient> client;
    std::optional<Outcome> denied;
  };
  TokenCall authenticate_token_call(const http::Request& request, audit::Event& event);
  static oauth::PresentedCredentials presented_credentials(const http::Request& request);

  audit::Event new_event(const http::Request& request, std::string name) const;
  // Answers with the outcome, after its audit record (if any) is durable.
  void finish(Outcome&& outcome, http::Responder respond);
  void count_denial(std::string_view endpoint, std::string_view reason);

  static constexpr std::size_t kBearerCacheSize = 10'000;
  // Looks tokens up by string_view without copying them.
  struct TokenHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };

  Services s_;
  mutable std::shared_mutex bearer_mu_;
  // token -> its verified claims; guarded by bearer_mu_
  std::unordered_map<std::string, std::shared_ptr<const BearerClaims>, TokenHash, std::equal_to<>>
      bearer_cache_;
  std::map<std::string, RouteEntry, std::less<>> routes_;
  oauth::Introspection introspector_;
  http::CounterFamily& tokens_issued_;
  http::CounterFamily& denials_;
};

// The OAuth error response of RFC 6749 §5.2 for a denial: 400, or 401 with
// WWW-Authenticate for invalid_client, 500 for server_error.
http::Response oauth_error_response(const oauth::Denial& denial, bool tried_basic);

}  // namespace sigil::server
