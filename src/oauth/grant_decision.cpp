#include "oauth/grant_decision.hpp"

#include <algorithm>
#include <charconv>
#include <cstdint>

#include "oauth/validation.hpp"

namespace sigil::oauth::internal {

namespace {

constexpr std::string_view kAudienceNotGranted =
    "the requested audience is not granted to this client";
constexpr std::string_view kScopeNotGranted = "the requested scope is not granted";

// The longest lifetime a client may ask for, in digits: at most 999,999,999 seconds.
constexpr std::size_t kMaxExpiresInDigits = 9;

Denial deny(OAuthError error, std::string description, std::string reason) {
  return Denial{error, std::move(description), std::move(reason)};
}

// Adds `more` to the sorted, unique `set`, keeping it so.
void merge(std::vector<std::string>& set, const std::vector<std::string>& more) {
  set.insert(set.end(), more.begin(), more.end());
  sort_unique(set);
}

std::optional<Seconds> shortest(std::optional<Seconds> a, std::optional<Seconds> b) {
  if (!a) return b;
  if (!b) return a;
  return std::min(*a, *b);
}

// A positive integer of 1 to kMaxExpiresInDigits digits, nothing else.
std::optional<Seconds> parse_expires_in(std::string_view text) {
  if (text.empty() || text.size() > kMaxExpiresInDigits) return std::nullopt;
  if (!std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return std::nullopt;
  }
  std::int64_t value = 0;
  std::from_chars(text.data(), text.data() + text.size(), value);
  if (value <= 0) return std::nullopt;
  return Seconds{value};
}

// A policy denial in OAuth terms. The client learns only which of its own requests was
// refused, never a rule, a condition or another audience; those go to the audit record.
Denial policy_denial(const policy::CompiledPolicy& policy, const policy::DecisionRequest& request,
                     policy::Decision decision) {
  Denial denial;
  denial.reason = std::string(policy::to_string(decision.reason));
  denial.detail = std::move(decision.detail);
  denial.rules = std::move(decision.rules);
  switch (decision.reason) {
    case policy::DenyReason::kConditionsNotMet:
      // RFC 6749 §5.2 invalid_scope: "The requested scope is invalid, unknown, malformed,
      // or exceeds the scope granted by the resource owner."
      denial.error = OAuthError::kInvalidScope;
      denial.description = std::string(kScopeNotGranted);
      break;
    case policy::DenyReason::kScopeNotGranted: {
      denial.error = OAuthError::kInvalidScope;
      denial.description = std::string(kScopeNotGranted);
      // Name the first requested scope the pair does not give (the client asked for it).
      policy::DecisionRequest everything = request;
      everything.scopes = {};
      const policy::Decision all = policy.decide(everything);
      for (const auto& s : request.scopes) {
        if (!all.allowed || !contains(all.scopes, s)) {
          denial.description = "scope " + s + " is not granted for this audience";
          break;
        }
      }
      break;
    }
    case policy::DenyReason::kNone:  // a denial without a reason is still a denial
      denial.reason = "policy_denied";
      [[fallthrough]];
    case policy::DenyReason::kUnknownCaller:
    case policy::DenyReason::kUnknownAudience:
    case policy::DenyReason::kNoGrant:
    case policy::DenyReason::kEnvironmentMismatch:
      // RFC 8707 §2 invalid_target: "The requested resource is invalid, missing, unknown,
      // or malformed."
      denial.error = OAuthError::kInvalidTarget;
      denial.description = std::string(kAudienceNotGranted);
      break;
  }
  return denial;
}

}  // namespace

bool contains(const std::vector<std::string>& values, std::string_view v) {
  return std::find(values.begin(), values.end(), v) != values.end();
}

void sort_unique(std::vector<std::string>& values) {
  std::sort(values.begin(), values.end());
  values.erase(std::unique(values.begin(), values.end()), values.end());
}

std::expected<Asked, Denial> parse_request(const FormParams& params, GrantRequest& requested) {
  Asked asked;
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
    asked.scopes = std::move(*scopes);
  }

  for (auto resource : params.all("resource")) {
    // RFC 8707 §2: "Its value MUST be an absolute URI, as specified by Section 4.3 of
    // [RFC3986]. The URI MUST NOT include a fragment component."
    if (!is_valid_resource_indicator(resource)) {
      return std::unexpected(deny(OAuthError::kInvalidTarget,
                                  "the resource parameter must be an absolute URI without a "
                                  "fragment",
                                  "malformed_resource"));
    }
    asked.audience.emplace_back(resource);
  }
  for (auto aud : params.all("audience")) {
    if (!is_valid_audience(aud)) {
      return std::unexpected(deny(OAuthError::kInvalidTarget, "the audience parameter is malformed",
                                  "malformed_audience"));
    }
    asked.audience.emplace_back(aud);
  }
  sort_unique(asked.audience);
  requested.audience = asked.audience;

  // The requested lifetime, named like the response's (RFC 6749 §5.1: "expires_in
  // RECOMMENDED. The lifetime in seconds of the access token."). Without a policy a client
  // may only shorten its tokens; under a policy the request takes the place of the default
  // lifetime, within the grants' and the audience's caps (docs/policy.md).
  if (auto expires_in = params.get("expires_in")) {
    asked.lifetime = parse_expires_in(*expires_in);
    if (!asked.lifetime) {
      return std::unexpected(deny(OAuthError::kInvalidRequest,
                                  "the expires_in parameter must be a positive number of seconds",
                                  "malformed_expires_in"));
    }
  }
  return asked;
}

// RFC 8707 §2: "If the client omits the resource parameter when requesting authorization,
// the authorization server MAY process the request with no specific resource or by using a
// predefined default resource value. Alternatively, the authorization server MAY require
// clients to specify the resource(s) they intend to access and MAY fail requests that omit
// the parameter with an invalid_target error." The default is the client's only allowed
// audience; with several it is ambiguous.
std::expected<std::vector<std::string>, Denial> default_audience(const Client& client) {
  if (client.allowed_audiences.size() != 1) {
    return std::unexpected(deny(OAuthError::kInvalidTarget,
                                "resource required: name the audience with the resource or "
                                "audience parameter",
                                "audience_required"));
  }
  return client.allowed_audiences;
}

std::vector<Target> resolve_targets(const policy::CompiledPolicy& policy,
                                    const std::vector<std::string>& audience) {
  std::vector<Target> targets;
  for (const auto& value : audience) {
    const policy::Audience* declared = policy.find_audience(value);
    std::string uri = value;
    if (declared != nullptr) uri = declared->uri.empty() ? declared->name : declared->uri;
    const bool seen =
        std::any_of(targets.begin(), targets.end(), [&](const Target& t) { return t.uri == uri; });
    if (!seen) targets.push_back({std::move(uri), declared});
  }
  return targets;
}

std::expected<Grant, Denial> decide_by_policy(const policy::CompiledPolicy& policy,
                                              const Client& client, std::string_view auth_method,
                                              const Asked& asked,
                                              const std::vector<Target>& targets,
                                              const GrantContext& context) {
  Grant grant;
  // "the lifetime is the smallest of the requested, the grant's and the audience's cap":
  // what was asked for replaces the default; the decisions' caps bound it below.
  grant.default_lifetime =
      asked.lifetime ? asked.lifetime : policy.policy().settings.default_lifetime;

  // RFC 8707 §2.2: "The semantics of such a request are that the client is asking for a
  // token with the requested scope that is usable at all the requested target services.
  // Effectively, the requested access rights of the token are the cartesian product of all
  // the scopes at all the target services." So every audience must allow the request, for
  // the requested scopes it declares: a scope an audience does not declare means nothing
  // to it and can never be granted for it.
  std::vector<std::string> granted;
  for (const Target& target : targets) {
    std::vector<std::string> share;
    if (asked.scopes && target.audience != nullptr) {
      for (const auto& s : *asked.scopes) {
        if (contains(target.audience->scopes, s)) share.push_back(s);
      }
    }
    policy::DecisionRequest request;
    request.caller = client.id;
    request.audience = target.audience != nullptr ? std::string_view(target.audience->name)
                                                  : std::string_view(target.uri);
    request.scopes = share;
    request.context = {context.now, context.source_address, auth_method};
    policy::Decision decision = policy.decide(request);
    if (!decision.allowed) {
      return std::unexpected(policy_denial(policy, request, std::move(decision)));
    }
    // RFC 8705 §3: a certificate-bound token is useless to a thief without the client's
    // private key. An audience that asks for that gets no token that could be replayed.
    if (target.audience != nullptr && target.audience->require_mtls && !context.certificate_bound) {
      Denial denial = deny(OAuthError::kInvalidRequest,
                           "tokens for this audience are bound to the client certificate: ask "
                           "over mutual TLS with it",
                           "mtls_required");
      denial.detail = "audience " + target.audience->name +
                      " has require_mtls, and the request came without a client certificate";
      denial.rules = std::move(decision.rules);
      return std::unexpected(std::move(denial));
    }
    // Without a scope parameter the token gets every scope granted (RFC 6749 §3.3's
    // "pre-defined default value"); with one, never a scope it did not ask for.
    for (const auto& s : decision.scopes) {
      if (!asked.scopes || contains(*asked.scopes, s)) granted.push_back(s);
    }
    grant.lifetime = shortest(grant.lifetime, decision.lifetime_cap);
    merge(grant.rules, decision.rules);
    grant.audience.push_back(target.uri);
  }
  sort_unique(granted);
  if (asked.scopes) {
    for (const auto& s : *asked.scopes) {
      if (!contains(granted, s)) {
        Denial denial =
            deny(OAuthError::kInvalidScope, "scope " + s + " is not granted for this audience",
                 std::string(policy::to_string(policy::DenyReason::kScopeNotGranted)));
        denial.detail = "no requested audience declares scope " + s;
        return std::unexpected(std::move(denial));
      }
    }
  }

  // The upper bound: the client's own allowed scopes and audiences.
  if (asked.scopes) {
    for (const auto& s : granted) {
      if (!contains(client.allowed_scopes, s)) {
        Denial denial = deny(OAuthError::kInvalidScope,
                             "scope " + s + " is not allowed for this client", "scope_not_allowed");
        denial.detail = "granted by the policy but not among the client's allowed scopes";
        denial.rules = grant.rules;
        return std::unexpected(std::move(denial));
      }
    }
  } else {
    // RFC 6749 §3.3: "The authorization server MAY fully or partially ignore the scope
    // requested by the client, based on the authorization server policy". A default is
    // narrowed to the bound rather than refused.
    std::erase_if(granted,
                  [&](const std::string& s) { return !contains(client.allowed_scopes, s); });
  }
  for (const auto& uri : grant.audience) {
    if (!contains(client.allowed_audiences, uri)) {
      Denial denial =
          deny(OAuthError::kInvalidTarget, "a requested audience is not allowed for this client",
               "audience_not_allowed");
      denial.detail = "granted by the policy but not among the client's allowed audiences: " + uri;
      denial.rules = grant.rules;
      return std::unexpected(std::move(denial));
    }
  }
  grant.scopes = std::move(granted);
  std::sort(grant.audience.begin(), grant.audience.end());
  return grant;
}

Denial about(std::string_view parameter, Denial denial) {
  denial.description = std::string(parameter) + ": " + denial.description;
  return denial;
}

std::expected<Client, Denial> active_service_client(const GrantContext& context,
                                                    std::string_view service) {
  auto client = context.clients != nullptr
                    ? context.clients->get(service)
                    : Result<Client>(std::unexpected(Error::not_found("no client registry")));
  if (!client) {
    Denial d = deny(OAuthError::kInvalidGrant, "the service the token stands for is not registered",
                    "unknown_client");
    d.detail = "no client " + std::string(service);
    return std::unexpected(std::move(d));
  }
  if (client->status != ClientStatus::kActive) {
    return std::unexpected(deny(OAuthError::kInvalidGrant,
                                "the service the token stands for is disabled", "client_disabled"));
  }
  return std::move(*client);
}

std::expected<std::vector<Target>, Denial> token_targets(const policy::CompiledPolicy& policy,
                                                         const Client& caller, const Asked& asked,
                                                         const GrantContext& context,
                                                         bool at_most_one) {
  std::vector<std::string> audience = asked.audience;
  if (audience.empty()) {
    SIGIL_TRY(fallback, default_audience(caller));
    audience = std::move(fallback);
  }
  std::vector<Target> targets = resolve_targets(policy, audience);
  if (at_most_one && targets.size() > 1) {
    return std::unexpected(
        deny(OAuthError::kInvalidTarget, "one audience per exchange", "one_audience_per_exchange"));
  }
  for (const auto& t : targets) {
    // The admin API is governed by the client's own bounds, never by the policy; a token
    // obtained through another token must not reach it.
    if (t.uri == context.issuer) {
      return std::unexpected(deny(OAuthError::kInvalidTarget,
                                  "tokens for this server's own API are issued only for client "
                                  "credentials",
                                  "issuer_audience"));
    }
  }
  return targets;
}

}  // namespace sigil::oauth::internal
