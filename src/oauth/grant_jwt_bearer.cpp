// The JWT bearer grant, RFC 7523 §2.1: a token from a trusted external issuer (a CI job's
// OIDC token, a Kubernetes service account token) for a sigil access token, with no stored
// secret. The policy's issuer rules say which service the token stands for; the token is
// that service's, and the policy's grants for that service decide its audience and scopes
// (auth method "federated" unless a client authenticated).
#include "oauth/client_authentication.hpp"
#include "oauth/external_token.hpp"
#include "oauth/grant.hpp"
#include "oauth/grant_decision.hpp"

namespace sigil::oauth {

namespace {

constexpr std::string_view kAssertion = "assertion";

Denial deny(OAuthError error, std::string description, std::string reason) {
  return Denial{error, std::move(description), std::move(reason)};
}

class JwtBearerGrant final : public GrantHandler {
 public:
  std::string_view grant_type() const override { return kJwtBearerGrantType; }

  std::vector<std::string_view> repeatable_params() const override {
    // As for client credentials (RFC 8707 §2): a token may be asked for several audiences.
    return {"resource", "audience"};
  }

  // RFC 7523 §3.1: "JWT authorization grants may be used with or without client
  // authentication or identification."
  bool client_authentication_optional() const override { return true; }

  std::expected<Grant, Denial> validate(const FormParams& params,
                                        const AuthenticatedClient* authenticated,
                                        GrantRequest& requested,
                                        const GrantContext& context) const override {
    // RFC 7523 §2.1: "The value of the "assertion" parameter MUST contain a single JWT."
    // (A repeated parameter was refused by the endpoint.)
    const auto assertion = params.get(kAssertion);
    if (!assertion) {
      return std::unexpected(deny(OAuthError::kInvalidRequest, "the assertion parameter is missing",
                                  "missing_assertion"));
    }
    SIGIL_TRY(asked, internal::parse_request(params, requested));

    // RFC 7523 §3.1: "If the JWT is not valid, or the current time is not within the
    // token's valid time window for use, the authorization server constructs an error
    // response ... the value of the error parameter MUST be the "invalid_grant" error
    // code."
    if (context.policy == nullptr || context.assertions == nullptr) {
      return std::unexpected(internal::about(
          kAssertion,
          deny(OAuthError::kInvalidGrant, "the token's issuer is not trusted", "unknown_issuer")));
    }
    const policy::CompiledPolicy& policy = *context.policy;
    auto external = verify_external_token(*assertion, policy, *context.assertions, context.now);
    if (!external) return std::unexpected(internal::about(kAssertion, std::move(external.error())));
    requested.federated = external->issuer().issuer + " " + external->subject();

    const policy::IssuerRule& rule = external->rule();
    if (rule.service.empty()) {
      // A person's token is only ever the subject of a token exchange, with an actor.
      Denial d =
          deny(OAuthError::kInvalidGrant, "assertion: the token stands for a person, not a service",
               "rule_maps_to_user");
      d.rules = {rule.name};
      return std::unexpected(std::move(d));
    }
    requested.subject = rule.service;
    if (authenticated != nullptr && authenticated->id() != rule.service) {
      Denial d = deny(OAuthError::kInvalidGrant,
                      "assertion: the token does not stand for the authenticated client",
                      "client_mismatch");
      d.detail = "rule " + rule.name + " maps the token to " + rule.service;
      d.rules = {rule.name};
      return std::unexpected(std::move(d));
    }
    // The token belongs to the service's client: its bounds, attributes and kill switch.
    SIGIL_TRY(service, internal::active_service_client(context, rule.service));
    if (to_unix(external->expires_at()) <= to_unix(context.now)) {
      return std::unexpected(
          deny(OAuthError::kInvalidGrant, "assertion: the token has expired", "expired"));
    }

    SIGIL_TRY(targets, internal::token_targets(policy, service, asked, context,
                                               /*at_most_one=*/false));
    const std::string_view auth_method = authenticated != nullptr
                                             ? std::string_view(authenticated->auth_method())
                                             : policy::kFederated;
    auto grant = internal::decide_by_policy(policy, service, auth_method, asked, targets, context);
    if (!grant) return grant;
    grant->subject = rule.service;
    // The audit names the issuer rule that accepted the token with the grants.
    grant->rules.push_back(rule.name);
    internal::sort_unique(grant->rules);
    grant->federated = FederatedIdentity{external->issuer().issuer, external->subject(), rule.name};
    grant->not_after = external->expires_at();
    if (authenticated == nullptr) grant->client = std::move(service);
    return grant;
  }
};

}  // namespace

std::unique_ptr<GrantHandler> make_jwt_bearer_grant() {
  return std::make_unique<JwtBearerGrant>();
}

}  // namespace sigil::oauth
