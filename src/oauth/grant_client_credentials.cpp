// The client credentials grant, RFC 6749 §4.4, with resource indicators (RFC 8707) and
// the common "audience" parameter, issuing JWT access tokens (RFC 9068).
#include <algorithm>

#include "oauth/grant.hpp"
#include "oauth/validation.hpp"

namespace sigil::oauth {

namespace {

Denial deny(OAuthError error, std::string description, std::string reason) {
  return Denial{error, std::move(description), std::move(reason)};
}

bool contains(const std::vector<std::string>& values, std::string_view v) {
  return std::find(values.begin(), values.end(), v) != values.end();
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
                                        const AuthenticatedClient& authenticated,
                                        GrantRequest& requested) const override {
    const Client& client = authenticated.client();
    Grant grant;
    // RFC 9068 §2.2: "sub ... In cases of access tokens obtained through grants where no
    // resource owner is involved, such as the client credentials grant, the value of sub
    // SHOULD correspond to an identifier the authorization server uses to indicate the
    // client application."
    grant.subject = client.id;

    // RFC 6749 §4.4.2: "scope OPTIONAL. The scope of the access request as described by
    // Section 3.3."
    if (auto scope = params.get("scope")) {
      // RFC 6749 §3.3: scope = scope-token *( SP scope-token ); scope-token = 1*NQCHAR
      auto scopes = parse_scope(*scope);
      if (!scopes) {
        return std::unexpected(
            deny(OAuthError::kInvalidScope, "the scope parameter is malformed", "malformed_scope"));
      }
      requested.scopes = *scopes;
      // RFC 6749 §5.2 invalid_scope: "The requested scope is invalid, unknown, malformed,
      // or exceeds the scope granted by the resource owner."
      for (const auto& s : *scopes) {
        if (!contains(client.allowed_scopes, s)) {
          return std::unexpected(deny(OAuthError::kInvalidScope,
                                      "scope " + s + " is not allowed for this client",
                                      "scope_not_allowed"));
        }
      }
      grant.scopes = std::move(*scopes);
    } else {
      // RFC 6749 §3.3: "If the client omits the scope parameter when requesting
      // authorization, the authorization server MUST either process the request using a
      // pre-defined default value or fail the request indicating an invalid scope
      // requirement." Our pre-defined default: every scope the client is allowed.
      grant.scopes = client.allowed_scopes;
    }

    std::vector<std::string> audience;
    for (auto resource : params.all("resource")) {
      // RFC 8707 §2: "Its value MUST be an absolute URI, as specified by Section 4.3 of
      // [RFC3986]. The URI MUST NOT include a fragment component."
      if (!is_valid_resource_indicator(resource)) {
        return std::unexpected(deny(OAuthError::kInvalidTarget,
                                    "the resource parameter must be an absolute URI without a "
                                    "fragment",
                                    "malformed_resource"));
      }
      audience.emplace_back(resource);
    }
    for (auto aud : params.all("audience")) {
      if (!is_valid_audience(aud)) {
        return std::unexpected(deny(OAuthError::kInvalidTarget,
                                    "the audience parameter is malformed", "malformed_audience"));
      }
      audience.emplace_back(aud);
    }
    std::sort(audience.begin(), audience.end());
    audience.erase(std::unique(audience.begin(), audience.end()), audience.end());
    requested.audience = audience;

    if (audience.empty()) {
      // RFC 8707 §2: "If the client omits the resource parameter when requesting
      // authorization, the authorization server MAY process the request with no specific
      // resource or by using a predefined default resource value. Alternatively, the
      // authorization server MAY require clients to specify the resource(s) they intend to
      // access and MAY fail requests that omit the parameter with an invalid_target error."
      // The default is the client's only allowed audience; with several it is ambiguous.
      if (client.allowed_audiences.size() != 1) {
        return std::unexpected(deny(OAuthError::kInvalidTarget,
                                    "resource required: name the audience with the resource or "
                                    "audience parameter",
                                    "audience_required"));
      }
      audience = client.allowed_audiences;
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
};

}  // namespace

std::unique_ptr<GrantHandler> make_client_credentials_grant() {
  return std::make_unique<ClientCredentialsGrant>();
}

}  // namespace sigil::oauth
