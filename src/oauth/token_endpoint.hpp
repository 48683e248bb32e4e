// The token endpoint (RFC 6749 §3.2): authenticates the client, dispatches on grant_type
// through a table built at construction, and issues a JWT access token (RFC 9068).
// Grants: client_credentials (RFC 6749 §4.4), the JWT bearer grant (RFC 7523 §2.1) and
// token exchange (RFC 8693). The last two may be used without client authentication: a
// request that presents no client credentials at all proceeds unauthenticated (auth method
// "federated"); credentials that are present must be valid (invalid_client otherwise).
// No HTTP here: the edge parses the form body and the Authorization header, calls
// handle(), maps the outcome to a status and renders to_json() or the Denial.
// DPoP (RFC 9449): a request of any grant type with a DPoP proof gets a token bound to the
// proof's key ("cnf": {"jkt"}, token_type "DPoP"); a proof that fails a check of
// verify_dpop_proof() (dpop.hpp) is refused with invalid_dpop_proof. Proofs' jti values go
// to the AssertionContext's replay cache; without one every proof is refused.
// Mutual TLS (RFC 8705): a request that came with a client certificate gets a token bound
// to it ("cnf": {"x5t#S256"}, beside "jkt" with DPoP), whatever the client authenticated
// with; token_type stays Bearer unless the token is also DPoP-bound. Audiences with
// require_mtls get tokens only so.
//
// Thread safety: handle() is thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "base/clock.hpp"
#include "base/secrets.hpp"
#include "oauth/client_authentication.hpp"
#include "oauth/client_registry.hpp"
#include "oauth/grant.hpp"
#include "oauth/introspection.hpp"
#include "oauth/key_ring.hpp"
#include "oauth/oauth_error.hpp"
#include "oauth/revocation.hpp"
#include "policy/engine.hpp"

namespace sigil::oauth {

struct TokenRequest {
  // The form body, in order, duplicates kept, already percent-decoded.
  std::vector<std::pair<std::string, std::string>> params;
  PresentedCredentials credentials;
  std::string source_address;  // the peer's IP address as text, for policy conditions
  // RFC 9449 §4.1: the DPoP header, when the request had exactly one (the edge refuses
  // two with invalid_dpop_proof). With a valid proof the token is bound to its key.
  std::optional<std::string> dpop_proof;
  // The token endpoint's URL (the issuer + "/oauth2/token"): the proof's "htu".
  std::string endpoint_url;
};

struct TokenSuccess {
  std::string access_token;
  // "Bearer", or "DPoP" for a DPoP-bound token (RFC 9449 §5: "token_type ... DPoP").
  std::string token_type = "Bearer";
  std::int64_t expires_in = 0;  // seconds
  std::string scope;            // space-separated, sorted
  // RFC 8693 §2.2.1 issued_token_type: set for token exchange only.
  std::string issued_token_type;
  std::string jti;
  std::vector<std::string> audience;
  std::vector<std::string> scopes;
  std::string grant_type;   // the grant that issued the token
  std::string client_id;    // the token's client_id claim
  std::string auth_method;  // how the client authenticated, or "federated" without one
  std::string subject;      // the token's sub
  std::string actor;        // its act chain, outermost first: "B,A"; empty: none
  std::string federated;    // the external identity behind it: "<iss> <sub>"; empty: none
  TimePoint exp{};
  std::vector<std::string> rules;  // the policy rules that allowed the token, sorted
  std::string jkt;                 // the DPoP key thumbprint the token is bound to; empty: none
  std::string x5t_s256;  // the client certificate's thumbprint the token is bound to; empty: none
};

struct TokenFailure {
  Denial denial;
  // As far as known, for the audit record.
  std::string client_id;  // claimed; not authenticated unless the denial came later
  std::string auth_method;
  std::vector<std::string> requested_scopes;
  std::vector<std::string> requested_audience;
  std::string grant_type;  // when supported
  // As far as the grant got before refusing: see GrantRequest.
  std::string subject;
  std::string actor;
  std::string federated;
  std::string log_detail;  // for server_error: the internal error, for logs only
  // From the denial, for the audit record only: the policy rules behind it and why.
  std::vector<std::string> rules;
  std::string detail;
};

struct TokenOutcome {
  std::variant<TokenSuccess, TokenFailure> result;
  // The client attempted to authenticate with the Authorization header: on
  // invalid_client the edge answers 401 with WWW-Authenticate (RFC 6749 §5.2).
  bool tried_basic = false;

  bool ok() const { return std::holds_alternative<TokenSuccess>(result); }
  const TokenSuccess& success() const { return std::get<TokenSuccess>(result); }
  const TokenFailure& failure() const { return std::get<TokenFailure>(result); }
};

class TokenEndpoint {
 public:
  // Everything passed must outlive the endpoint. With a holder, the policy it holds (when
  // any) decides every token but those for the issuer (the key ring's settings().issuer);
  // handle() takes one snapshot of it per request. `assertions` serves client assertions
  // (private_key_jwt) and the external tokens of the JWT bearer and token exchange grants;
  // null: both are refused. `revocations` lets token exchange accept sigil's own access
  // tokens (checked like introspection does); null: they are refused.
  TokenEndpoint(const ClientRegistry& clients, const KeyRing& keys,
                const policy::PolicyHolder* policy = nullptr,
                const AssertionContext* assertions = nullptr,
                const RevocationList* revocations = nullptr);

  TokenOutcome handle(const TokenRequest& request, TimePoint now) const;

 private:
  const ClientRegistry& clients_;
  const KeyRing& keys_;
  const policy::PolicyHolder* policy_;
  const AssertionContext* assertions_;
  std::optional<Introspection> tokens_;  // set with revocations
  std::map<std::string, std::unique_ptr<GrantHandler>, std::less<>> grants_;
};

// The RFC 6749 §5.1 response body: access_token, token_type, expires_in, scope; and for
// token exchange issued_token_type (RFC 8693 §2.2.1).
std::string to_json(const TokenSuccess& success);

}  // namespace sigil::oauth
