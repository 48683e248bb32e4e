// The client credentials grant, RFC 6749 §4.4, with resource indicators (RFC 8707) and
// the common "audience" parameter, issuing JWT access tokens (RFC 9068).
//
// Without a policy in force, the client's allowed scopes and audiences decide. With one,
// the policy decides every audience but the issuer (sigil's own API), and the client's
// allowed scopes and audiences stay an upper bound (DESIGN.md, "Identities, clients and
// policy"). Tokens for the issuer keep the client's own bounds so that no policy can lock
// the operators out of the admin API.
#include <algorithm>
#include <optional>

#include "oauth/grant.hpp"
#include "oauth/grant_decision.hpp"

namespace sigil::oauth {

namespace {

using internal::Asked;
using internal::contains;
using internal::default_audience;
using internal::Target;

Denial deny(OAuthError error, std::string description, std::string reason) {
  return Denial{error, std::move(description), std::move(reason)};
}

// The client's own allowed scopes and audiences decide: without a policy, and for tokens
// for the issuer.
std::expected<Grant, Denial> decide_by_client(const Client& client, const Asked& asked) {
  Grant grant;
  grant.lifetime = asked.lifetime;
  if (asked.scopes) {
    // RFC 6749 §5.2 invalid_scope: "The requested scope is invalid, unknown, malformed,
    // or exceeds the scope granted by the resource owner."
    for (const auto& s : *asked.scopes) {
      if (!contains(client.allowed_scopes, s)) {
        return std::unexpected(deny(OAuthError::kInvalidScope,
                                    "scope " + s + " is not allowed for this client",
                                    "scope_not_allowed"));
      }
    }
    grant.scopes = *asked.scopes;
  } else {
    // RFC 6749 §3.3: "If the client omits the scope parameter when requesting
    // authorization, the authorization server MUST either process the request using a
    // pre-defined default value or fail the request indicating an invalid scope
    // requirement." Our pre-defined default: every scope the client is allowed.
    grant.scopes = client.allowed_scopes;
  }

  std::vector<std::string> audience = asked.audience;
  if (audience.empty()) {
    SIGIL_TRY(fallback, default_audience(client));
    audience = std::move(fallback);
  }
  for (const auto& a : audience) {
    // RFC 8707 §2: the server may use the indicated resources "to meet policy criteria
    // (e.g., refuse the request due to unknown resources)"; invalid_target: "The
    // requested resource is invalid, missing, unknown, or malformed."
    if (!contains(client.allowed_audiences, a)) {
      return std::unexpected(deny(OAuthError::kInvalidTarget,
                                  "a requested audience is not allowed for this client",
                                  "audience_not_allowed"));
    }
  }
  grant.audience = std::move(audience);
  return grant;
}

class ClientCredentialsGrant final : public GrantHandler {
 public:
  std::string_view grant_type() const override { return "client_credentials"; }

  std::vector<std::string_view> repeatable_params() const override {
    // RFC 8707 §2: "Multiple "resource" parameters MAY be used to indicate that the
    // requested token is intended to be used at multiple resources." "audience" is the
    // widespread non-standard equivalent and may repeat likewise.
    return {"resource", "audience"};
  }

  std::expected<Grant, Denial> validate(const FormParams& params,
                                        const AuthenticatedClient* authenticated,
                                        GrantRequest& requested,
                                        const GrantContext& context) const override {
    // RFC 6749 §4.4: "The client credentials grant type MUST only be used by confidential
    // clients." The endpoint authenticates every client of this grant.
    if (authenticated == nullptr) {
      return std::unexpected(deny(OAuthError::kInvalidClient, "client authentication failed",
                                  "no_client_authentication"));
    }
    const Client& client = authenticated->client();
    SIGIL_TRY(asked, internal::parse_request(params, requested));
    auto grant = decide(*authenticated, asked, context);
    // RFC 9068 §2.2: "sub ... In cases of access tokens obtained through grants where no
    // resource owner is involved, such as the client credentials grant, the value of sub
    // SHOULD correspond to an identifier the authorization server uses to indicate the
    // client application."
    if (grant) grant->subject = client.id;
    return grant;
  }

 private:
  static std::expected<Grant, Denial> decide(const AuthenticatedClient& authenticated, Asked& asked,
                                             const GrantContext& context) {
    const Client& client = authenticated.client();
    if (context.policy == nullptr) return decide_by_client(client, asked);
    const policy::CompiledPolicy& policy = *context.policy;

    if (asked.audience.empty()) {
      SIGIL_TRY(fallback, default_audience(client));
      asked.audience = std::move(fallback);
    }
    const std::vector<Target> targets = internal::resolve_targets(policy, asked.audience);
    const bool for_issuer = std::any_of(targets.begin(), targets.end(),
                                        [&](const Target& t) { return t.uri == context.issuer; });
    if (!for_issuer) {
      return internal::decide_by_policy(policy, client, authenticated.auth_method(), asked, targets,
                                        context);
    }
    // A token for the admin API carries the client's own scopes; usable at another
    // audience as well, it would carry them past the policy.
    if (targets.size() > 1) {
      return std::unexpected(deny(OAuthError::kInvalidTarget,
                                  "a token for this server's own API cannot name other audiences",
                                  "issuer_audience_not_alone"));
    }
    asked.audience = {targets.front().uri};
    return decide_by_client(client, asked);
  }
};

}  // namespace

std::unique_ptr<GrantHandler> make_client_credentials_grant() {
  return std::make_unique<ClientCredentialsGrant>();
}

}  // namespace sigil::oauth
