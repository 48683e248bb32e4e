#include "oauth/oauth_error.hpp"

namespace sigil::oauth {

std::string_view to_string(OAuthError error) {
  switch (error) {
    case OAuthError::kInvalidRequest:
      return "invalid_request";
    case OAuthError::kInvalidClient:
      return "invalid_client";
    case OAuthError::kInvalidGrant:
      return "invalid_grant";
    case OAuthError::kUnauthorizedClient:
      return "unauthorized_client";
    case OAuthError::kUnsupportedGrantType:
      return "unsupported_grant_type";
    case OAuthError::kInvalidScope:
      return "invalid_scope";
    case OAuthError::kInvalidTarget:
      return "invalid_target";
    case OAuthError::kInvalidDpopProof:
      return "invalid_dpop_proof";
    case OAuthError::kInvalidToken:
      return "invalid_token";
    case OAuthError::kServerError:
      return "server_error";
  }
  return "server_error";
}

}  // namespace sigil::oauth
