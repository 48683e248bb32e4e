// OAuth error values (RFC 6749 §5.2, RFC 8707 §2, RFC 9449 §5, RFC 6750 §3.1) and the denial
// the use cases return.
// The use cases decide; the HTTP edge maps a Denial to a status and a JSON body.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace sigil::oauth {

enum class OAuthError {
  kInvalidRequest,        // malformed request: missing/repeated parameter, two auth methods
  kInvalidClient,         // client authentication failed (401 when Basic was tried)
  kInvalidGrant,          // the grant itself is invalid (not used by client_credentials)
  kUnauthorizedClient,    // the client may not use this grant type
  kUnsupportedGrantType,  // grant_type unknown to this server
  kInvalidScope,          // scope malformed or beyond what the client may have
  kInvalidTarget,         // resource/audience malformed, not allowed, or missing (RFC 8707)
  // RFC 9449 §5: "invalid_dpop_proof": the DPoP proof is missing what it needs, or is
  // invalid, replayed or for another request.
  kInvalidDpopProof,
  // RFC 6750 §3.1, at a resource: "The access token provided is expired, revoked,
  // malformed, or invalid for other reasons" (e.g. presented without the certificate or
  // DPoP key it is bound to).
  kInvalidToken,
  kServerError,  // the server failed (storage, signing); nothing the client did
};

// The RFC's "error" value, e.g. "invalid_client".
std::string_view to_string(OAuthError error);

struct Denial {
  OAuthError error = OAuthError::kServerError;
  std::string description;  // safe to show the client ("error_description")
  std::string reason;       // short machine reason for audit and metrics, e.g. "bad_secret"
  // For the audit record only, never sent: why, for people (e.g. which policy condition
  // failed). The `{}` lets the three-value form Denial{error, description, reason} stand.
  std::string detail{};
  std::vector<std::string> rules{};  // the policy rules behind a policy denial, sorted
};

}  // namespace sigil::oauth
