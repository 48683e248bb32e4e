// What the grants share (internal to oauth/): reading the parameters that shape a token
// (scope, resource, audience, expires_in) and letting the policy decide them for a caller.
#pragma once

#include <expected>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "oauth/access_token.hpp"
#include "oauth/grant.hpp"
#include "oauth/model.hpp"
#include "oauth/oauth_error.hpp"
#include "policy/engine.hpp"

namespace sigil::oauth::internal {

// What the request asked for, checked for syntax only.
struct Asked {
  std::optional<std::vector<std::string>> scopes;  // sorted, unique; nullopt: omitted
  std::vector<std::string> audience;               // sorted, unique; empty: none named
  std::optional<Seconds> lifetime;                 // expires_in
};

// Reads scope (RFC 6749 §3.3), resource (RFC 8707 §2), audience and expires_in, and records
// the scopes and audiences in `requested`. invalid_scope "malformed_scope",
// invalid_target "malformed_resource" / "malformed_audience", invalid_request
// "malformed_expires_in".
std::expected<Asked, Denial> parse_request(const FormParams& params, GrantRequest& requested);

// The client's only allowed audience, the default when a request names none; invalid_target
// "audience_required" when it has not exactly one.
std::expected<std::vector<std::string>, Denial> default_audience(const Client& client);

// An audience of the request as the policy knows it.
struct Target {
  std::string uri;                             // the token's "aud"
  const policy::Audience* audience = nullptr;  // null: the policy does not declare it
};

// Each value may be an audience's name or its URI; the token names the URI (the name when
// the audience has none). Values naming the same audience give one target.
std::vector<Target> resolve_targets(const policy::CompiledPolicy& policy,
                                    const std::vector<std::string>& audience);

// The policy decides each target for `caller` (authenticated with `auth_method`, or
// policy::kFederated); the caller's allowed scopes and audiences bound the result.
// Without requested scopes the grant carries every scope granted. Denials as the client
// credentials grant documents them (policy reasons, "scope_not_allowed",
// "audience_not_allowed"), and invalid_request "mtls_required" for an audience with
// require_mtls when the token would not be certificate-bound (!context.certificate_bound).
std::expected<Grant, Denial> decide_by_policy(const policy::CompiledPolicy& policy,
                                              const Client& caller, std::string_view auth_method,
                                              const Asked& asked,
                                              const std::vector<Target>& targets,
                                              const GrantContext& context);

// For the grants that take tokens (JWT bearer, token exchange).

// `denial` about the token in one parameter: its description prefixed with the
// parameter's name ("subject_token: the token has expired").
Denial about(std::string_view parameter, Denial denial);

// The registered client of `service` (the service a token maps to), which must be active:
// invalid_grant "unknown_client" or "client_disabled". The service's client carries its
// bounds and attributes and is the kill switch of tokens issued for it.
std::expected<Client, Denial> active_service_client(const GrantContext& context,
                                                    std::string_view service);

// The audiences of a token obtained with another token: what `asked` names, or else the
// caller's only allowed audience, resolved against the policy. invalid_target
// "issuer_audience" for sigil's own API (never reached through federation or delegation),
// "one_audience_per_exchange" for more than one when `at_most_one`.
std::expected<std::vector<Target>, Denial> token_targets(const policy::CompiledPolicy& policy,
                                                         const Client& caller, const Asked& asked,
                                                         const GrantContext& context,
                                                         bool at_most_one);

bool contains(const std::vector<std::string>& values, std::string_view v);
void sort_unique(std::vector<std::string>& values);

}  // namespace sigil::oauth::internal
