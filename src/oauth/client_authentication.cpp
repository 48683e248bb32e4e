#include "oauth/client_authentication.hpp"

namespace sigil::oauth {

std::expected<AuthenticatedClient, ClientAuthenticationFailure> authenticate_client(
    const ClientRegistry& clients, const PresentedCredentials& presented, const FormParams& params,
    TimePoint now) {
  ClientAuthenticationFailure failure;
  const auto body_id = params.get("client_id");
  const auto body_secret = params.get("client_secret");
  if (presented.basic) {
    failure.client_id = presented.basic->client_id;
    failure.auth_method = std::string(kClientSecretBasic);
  } else if (body_id) {
    failure.client_id = std::string(*body_id);
    if (body_secret) failure.auth_method = std::string(kClientSecretPost);
  }
  auto denied = [&](OAuthError error, std::string description, std::string reason) {
    failure.denial = Denial{error, std::move(description), std::move(reason)};
    return std::unexpected(std::move(failure));
  };

  // RFC 6749 §2.3: "The client MUST NOT use more than one authentication method in each
  // request."
  if (presented.tried_header() && body_secret) {
    return denied(OAuthError::kInvalidRequest,
                  "the client MUST NOT use more than one authentication method",
                  "multiple_auth_methods");
  }
  if (presented.basic && body_id && *body_id != presented.basic->client_id) {
    return denied(OAuthError::kInvalidRequest,
                  "client_id in the body differs from the Authorization header",
                  "client_id_mismatch");
  }
  // RFC 6749 §5.2 invalid_client: "Client authentication failed (e.g., unknown client,
  // no client authentication included, or unsupported authentication method)."
  if (presented.authorization_header_present && !presented.basic) {
    return denied(OAuthError::kInvalidClient, "client authentication failed",
                  "malformed_authorization_header");
  }
  std::string_view client_id;
  std::string_view secret;
  std::string_view method;
  if (presented.basic) {
    // RFC 6749 §2.3.1: "The authorization server MUST support the HTTP Basic
    // authentication scheme for authenticating clients that were issued a client
    // password."
    client_id = presented.basic->client_id;
    secret = presented.basic->secret.reveal();
    method = kClientSecretBasic;
  } else if (body_id && body_secret) {
    // RFC 6749 §2.3.1: "the authorization server MAY support including the client
    // credentials in the request-body using the following parameters: client_id ...
    // client_secret".
    client_id = *body_id;
    secret = *body_secret;
    method = kClientSecretPost;
  } else {
    return denied(OAuthError::kInvalidClient, "client authentication failed",
                  body_id ? "missing_client_secret" : "no_client_authentication");
  }
  auto client = clients.authenticate(client_id, secret, method, now);
  if (!client) {
    failure.denial = std::move(client.error());
    return std::unexpected(std::move(failure));
  }
  return std::move(*client);
}

}  // namespace sigil::oauth
