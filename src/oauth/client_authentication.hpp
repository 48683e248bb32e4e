// Client authentication at every client-authenticated endpoint (token, introspection,
// revocation): client_secret_basic or client_secret_post, never both (RFC 6749 §2.3).
#pragma once

#include <expected>
#include <optional>
#include <string>

#include "base/clock.hpp"
#include "base/secrets.hpp"
#include "oauth/client_registry.hpp"
#include "oauth/grant.hpp"
#include "oauth/oauth_error.hpp"

namespace sigil::oauth {

struct ClientCredentials {
  std::string client_id;
  SecretString secret;
};

// How the client presented itself, as the HTTP edge decoded it.
struct PresentedCredentials {
  // From an Authorization: Basic header, already decoded.
  std::optional<ClientCredentials> basic;
  // An Authorization header was present but was not valid Basic.
  bool authorization_header_present = false;

  // The client tried the Authorization header: a 401 must carry WWW-Authenticate.
  bool tried_header() const { return basic.has_value() || authorization_header_present; }
};

struct ClientAuthenticationFailure {
  Denial denial;
  std::string client_id;    // as claimed, for the audit record
  std::string auth_method;  // as attempted, when known
};

// Authenticates the client from the header and the body's client_id/client_secret.
// invalid_request for two methods at once or a client_id that differs between them;
// invalid_client for everything else (see ClientRegistry::authenticate for the reasons).
std::expected<AuthenticatedClient, ClientAuthenticationFailure> authenticate_client(
    const ClientRegistry& clients, const PresentedCredentials& presented, const FormParams& params,
    TimePoint now);

}  // namespace sigil::oauth
