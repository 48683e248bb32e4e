// The grant handler interface the token endpoint dispatches to, and the form parameters
// it hands them. Grants run in two phases: validate() decides what the client may have
// (no side effects but the replay cache's record of an external token's jti); the
// endpoint then issues the token.
#pragma once

#include <expected>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/clock.hpp"
#include "oauth/access_token.hpp"
#include "oauth/client_registry.hpp"
#include "oauth/introspection.hpp"
#include "oauth/oauth_error.hpp"
#include "oauth/settings.hpp"
#include "policy/engine.hpp"

namespace sigil::oauth {

struct AssertionContext;  // client_authentication.hpp

// The form body of a token request (RFC 6749 §3.2), names as sent, in order.
// RFC 6749 §3.1: "Parameters sent without a value MUST be treated as if they were
// omitted from the request." Empty values are dropped on construction.
class FormParams {
 public:
  explicit FormParams(const std::vector<std::pair<std::string, std::string>>& params);

  // The value of a parameter that may appear once, or nullopt when absent. Call
  // first_repeated() first: this returns the first of several.
  std::optional<std::string_view> get(std::string_view name) const;
  // Every value of a parameter that may repeat (resource, audience), in order.
  std::vector<std::string_view> all(std::string_view name) const;
  // The first parameter that appears more than once and is not in `may_repeat`.
  std::optional<std::string_view> first_repeated(
      const std::vector<std::string_view>& may_repeat) const;

 private:
  std::vector<std::pair<std::string_view, std::string_view>> params_;
};

// What the client asked for, kept for the audit record whatever the outcome.
struct GrantRequest {
  std::vector<std::string> scopes;
  std::vector<std::string> audience;
  // As far as known: who the token would be about ("sub"), its actors outermost first,
  // comma-separated ("B,A"), and the external identity behind it ("<iss> <sub>").
  std::string subject;
  std::string actor;
  std::string federated;
};

// What a grant needs to know about the request besides its form and its client.
struct GrantContext {
  TimePoint now{};
  std::string_view source_address;  // the peer's IP address as text; empty: unknown
  // sigil's own API (the admin API): tokens for it are governed by the client's allowed
  // scopes and audiences alone, never by the policy, so that no policy can lock the
  // operators out.
  std::string_view issuer;
  const policy::CompiledPolicy* policy = nullptr;  // the policy in force; null: none
  // For tokens from trusted external issuers (their keys, the replay cache, the leeway).
  // Null: external tokens are refused.
  const AssertionContext* assertions = nullptr;
  // The registered clients: the service an external token maps to must be one, and active.
  const ClientRegistry* clients = nullptr;
  // Checks sigil's own tokens presented for exchange (signature, expiry, revocation, the
  // client's kill switch). Null: they are refused.
  const Introspection* tokens = nullptr;
  // The token will be bound to the client certificate of the request's mutual-TLS
  // connection (RFC 8705 §3): what an audience with require_mtls asks for.
  bool certificate_bound = false;
};

class GrantHandler {
 public:
  virtual ~GrantHandler() = default;
  // The grant_type value this handler serves.
  virtual std::string_view grant_type() const = 0;
  // Parameters (besides resource/audience) that may appear more than once.
  virtual std::vector<std::string_view> repeatable_params() const = 0;
  // True when the grant may be used without client authentication (the grant itself
  // proves who asks): a request without any client credentials then reaches validate()
  // with no client. Credentials that are present must still be valid.
  virtual bool client_authentication_optional() const { return false; }
  // Decides what the request gets, or why not. `client` is the authenticated client; null
  // only when client_authentication_optional() and no credentials were presented. Also
  // decides which client the token is issued to (Grant::client, see there). Fills
  // `requested` as far as it parsed. `context` (and the policy it points to) is only read
  // during the call.
  virtual std::expected<Grant, Denial> validate(const FormParams& params,
                                                const AuthenticatedClient* client,
                                                GrantRequest& requested,
                                                const GrantContext& context) const = 0;
};

// RFC 6749 §4.4 (grant_client_credentials.cpp). With a policy in force, the policy decides
// every audience but the issuer, within the client's allowed scopes and audiences; an
// optional expires_in parameter asks for a shorter token.
std::unique_ptr<GrantHandler> make_client_credentials_grant();

// The grant_type of the JWT bearer grant (RFC 7523 §2.1) and of token exchange (RFC 8693
// §2.1).
inline constexpr std::string_view kJwtBearerGrantType =
    "urn:ietf:params:oauth:grant-type:jwt-bearer";
inline constexpr std::string_view kTokenExchangeGrantType =
    "urn:ietf:params:oauth:grant-type:token-exchange";

// RFC 7523 §2.1 (grant_jwt_bearer.cpp): `assertion` is a token of a trusted external issuer
// whose rule maps it to a service; the token is that service's. Client authentication is
// optional; a client that authenticates must be that service. Needs a policy in force.
std::unique_ptr<GrantHandler> make_jwt_bearer_grant();

// RFC 8693 (grant_token_exchange.cpp): a subject token (an external JWT or ID token, or one
// of sigil's access tokens) for a token for one audience, naming the actor (the client, or
// the actor_token's subject) in a nested "act" claim. Client authentication is optional;
// without a client and an actor the subject must map to a service. Needs a policy in force.
std::unique_ptr<GrantHandler> make_token_exchange_grant();

}  // namespace sigil::oauth
