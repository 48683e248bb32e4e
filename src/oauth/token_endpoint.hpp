// The token endpoint (RFC 6749 §3.2): authenticates the client, dispatches on grant_type
// through a table built at construction, and issues a JWT access token (RFC 9068).
// No HTTP here: the edge parses the form body and the Authorization header, calls
// handle(), maps the outcome to a status and renders to_json() or the Denial.
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
#include "oauth/key_ring.hpp"
#include "oauth/oauth_error.hpp"
#include "policy/engine.hpp"

namespace sigil::oauth {

struct TokenRequest {
  // The form body, in order, duplicates kept, already percent-decoded.
  std::vector<std::pair<std::string, std::string>> params;
  PresentedCredentials credentials;
  std::string source_address;  // the peer's IP address as text, for policy conditions
};

struct TokenSuccess {
  std::string access_token;
  std::string token_type = "Bearer";
  std::int64_t expires_in = 0;  // seconds
  std::string scope;            // space-separated, sorted
  std::string jti;
  std::vector<std::string> audience;
  std::vector<std::string> scopes;
  std::string client_id;
  std::string auth_method;
  TimePoint exp{};
  std::vector<std::string> rules;  // the policy rules that allowed the token, sorted
};

struct TokenFailure {
  Denial denial;
  // As far as known, for the audit record.
  std::string client_id;  // claimed; not authenticated unless the denial came later
  std::string auth_method;
  std::vector<std::string> requested_scopes;
  std::vector<std::string> requested_audience;
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
  // The registry, key ring and policy holder must outlive the endpoint. With a holder,
  // the policy it holds (when any) decides every token but those for the issuer (the
  // key ring's settings().issuer); handle() takes one snapshot of it per request.
  TokenEndpoint(const ClientRegistry& clients, const KeyRing& keys,
                const policy::PolicyHolder* policy = nullptr);

  TokenOutcome handle(const TokenRequest& request, TimePoint now) const;

 private:
  const ClientRegistry& clients_;
  const KeyRing& keys_;
  const policy::PolicyHolder* policy_;
  std::map<std::string, std::unique_ptr<GrantHandler>, std::less<>> grants_;
};

// The RFC 6749 §5.1 response body: access_token, token_type, expires_in, scope.
std::string to_json(const TokenSuccess& success);

}  // namespace sigil::oauth
