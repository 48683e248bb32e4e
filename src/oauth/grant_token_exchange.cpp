// Token exchange, RFC 8693: a token for another, for one audience, with no more than the
// hop needs, naming both the subject and who acts for it.
//
//   subject_token    an external JWT or ID token (verified against the policy's trusted
//                    issuers: a service rule makes the subject that service, a user rule
//                    a person), or one of sigil's access tokens (active: signature,
//                    expiry, not revoked, its client enabled)
//   actor_token      optional: a service's own sigil access token, or an external token a
//                    service rule maps; its service is the actor
//   the actor        the authenticated client, or else the actor_token's service; the new
//                    token carries act {"sub": actor}, with the subject token's own act
//                    nested inside (act {sub: B, act: {sub: A}}: B acts for the subject
//                    through A)
//   no client, no actor   (a CI job with its platform token) the subject must be a
//                    service, and the token is that service's own, without act
//
// The policy decides the audience and scopes as the actor's grants (or the subject
// service's without an actor), authenticated as the client was, or "federated". Scopes
// only narrow: never beyond a sigil subject token's own. Impersonation (a token for the
// subject without act although a client asked) only when every grant that decided has
// `impersonation: true` and no actor_token was given. The new token never outlives the
// tokens it came from.
#include <algorithm>
#include <optional>

#include "oauth/client_authentication.hpp"
#include "oauth/external_token.hpp"
#include "oauth/grant.hpp"
#include "oauth/grant_decision.hpp"
#include "oauth/validation.hpp"

namespace sigil::oauth {

namespace {

constexpr std::string_view kSubjectToken = "subject_token";
constexpr std::string_view kActorToken = "actor_token";
// RFC 8693 §3: "Indicates that the token is an OAuth 2.0 access token issued by the given
// authorization server."
constexpr std::string_view kTokenTypeAccessToken = "urn:ietf:params:oauth:token-type:access_token";
// The most actors a token may name, nested: a longer chain is more likely a loop than a
// deployment.
constexpr int kMaxActors = 8;

Denial deny(OAuthError error, std::string description, std::string reason) {
  return Denial{error, std::move(description), std::move(reason)};
}

enum class TokenKind { kExternal, kOwn };

// RFC 8693 §3 token type identifiers sigil accepts for subject and actor tokens.
std::optional<TokenKind> kind_of(std::string_view type) {
  if (type == kTokenTypeJwt || type == kTokenTypeIdToken) return TokenKind::kExternal;
  if (type == kTokenTypeAccessToken) return TokenKind::kOwn;
  return std::nullopt;
}

// The subject or the actor of an exchange, from its verified token.
struct Party {
  std::string sub;
  // `sub` names a service: a service's own sigil token (its sub is its client and it names
  // no actor), or an external token a service rule maps.
  bool service = false;
  std::optional<boost::json::object> act;  // a sigil token's own act
  std::optional<FederatedIdentity> federated;
  std::optional<std::vector<std::string>> scopes;  // a sigil token's; nullopt: external
  TimePoint expires_at{};
  std::string rule;  // the issuer rule that accepted an external token
};

// For the audit: the external identity as "<iss> <sub>".
std::string federated_text(const std::optional<FederatedIdentity>& f) {
  return f ? f->issuer + " " + f->subject : std::string();
}

int depth(const boost::json::object& act) {
  int n = 0;
  const boost::json::object* level = &act;
  while (level != nullptr) {
    ++n;
    const auto* inner = level->if_contains("act");
    level = inner != nullptr && inner->is_object() ? &inner->get_object() : nullptr;
  }
  return n;
}

std::expected<Party, Denial> read_external(std::string_view token, const GrantContext& context) {
  if (context.policy == nullptr || context.assertions == nullptr) {
    return std::unexpected(
        deny(OAuthError::kInvalidGrant, "the token's issuer is not trusted", "unknown_issuer"));
  }
  SIGIL_TRY(external,
            verify_external_token(token, *context.policy, *context.assertions, context.now));
  const policy::IssuerRule& rule = external.rule();
  Party party;
  party.service = !rule.service.empty();
  party.sub = party.service ? rule.service : external.subject();
  party.federated = FederatedIdentity{external.issuer().issuer, external.subject(), rule.name};
  party.expires_at = external.expires_at();
  party.rule = rule.name;
  return party;
}

std::expected<Party, Denial> read_own(std::string_view token, const GrantContext& context) {
  if (context.tokens == nullptr) {
    return std::unexpected(deny(OAuthError::kInvalidRequest,
                                "access tokens of this server cannot be exchanged here",
                                "unsupported_token_type"));
  }
  IntrospectionResult checked = context.tokens->check(token, context.now);
  if (!checked.active) {
    return std::unexpected(deny(OAuthError::kInvalidGrant, "the token is not active",
                                std::move(checked.reason_if_inactive)));
  }
  IntrospectedClaims& claims = checked.claims;
  if (claims.sub.empty()) {
    return std::unexpected(
        deny(OAuthError::kInvalidGrant, "the token lacks a required claim", "missing_claim"));
  }
  Party party;
  party.sub = std::move(claims.sub);
  party.act = std::move(claims.act);
  party.service = party.sub == claims.client_id && !party.act;
  party.federated = std::move(claims.federated);
  party.scopes = parse_scope(claims.scope).value_or(std::vector<std::string>{});
  party.expires_at = from_unix(claims.exp);
  return party;
}

// Reads the token of `parameter` ("subject_token" or "actor_token"). Refusals name the
// parameter; an actor token's reasons are prefixed "actor_token_" for the audit.
std::expected<Party, Denial> read_token(std::string_view parameter, std::string_view token,
                                        TokenKind kind, const GrantContext& context) {
  auto party =
      kind == TokenKind::kExternal ? read_external(token, context) : read_own(token, context);
  if (!party) {
    Denial d = internal::about(parameter, std::move(party.error()));
    // RFC 8693 §2.2.2: "If the request itself is not valid or if either the subject_token
    // or actor_token are invalid for any reason, or are unacceptable based on policy, the
    // authorization server MUST construct an error response ... The value of the error
    // parameter MUST be the invalid_request error code."
    if (d.error == OAuthError::kInvalidGrant) d.error = OAuthError::kInvalidRequest;
    if (parameter == kActorToken) d.reason = "actor_token_" + d.reason;
    return std::unexpected(std::move(d));
  }
  return party;
}

// True when every grant behind `rules` allows impersonation.
bool all_impersonate(const policy::CompiledPolicy& policy, const std::vector<std::string>& rules) {
  if (rules.empty()) return false;
  const auto& grants = policy.policy().grants;
  return std::all_of(rules.begin(), rules.end(), [&](const std::string& name) {
    auto it = std::find_if(grants.begin(), grants.end(),
                           [&](const policy::GrantRule& g) { return g.name == name; });
    return it != grants.end() && it->impersonation;
  });
}

class TokenExchangeGrant final : public GrantHandler {
 public:
  std::string_view grant_type() const override { return kTokenExchangeGrantType; }

  std::vector<std::string_view> repeatable_params() const override {
    // RFC 8693 §2.1 lets resource and audience repeat, for a token usable at several
    // targets. sigil issues one audience per exchange: several distinct ones are refused
    // below with invalid_target, as §2.2.2 asks of targets the server will not serve.
    return {"resource", "audience"};
  }

  // The CI case: a job holds only its platform's token.
  bool client_authentication_optional() const override { return true; }

  std::expected<Grant, Denial> validate(const FormParams& params,
                                        const AuthenticatedClient* authenticated,
                                        GrantRequest& requested,
                                        const GrantContext& context) const override {
    // RFC 8693 §2.1: "subject_token REQUIRED." "subject_token_type REQUIRED."
    const auto subject_token = params.get(kSubjectToken);
    if (!subject_token) {
      return std::unexpected(deny(OAuthError::kInvalidRequest,
                                  "the subject_token parameter is missing",
                                  "missing_subject_token"));
    }
    const auto subject_type = params.get("subject_token_type");
    if (!subject_type) {
      return std::unexpected(deny(OAuthError::kInvalidRequest,
                                  "the subject_token_type parameter is missing",
                                  "missing_subject_token_type"));
    }
    const auto subject_kind = kind_of(*subject_type);
    if (!subject_kind) {
      return std::unexpected(deny(OAuthError::kInvalidRequest,
                                  "the subject_token_type is not supported: use a jwt, id_token "
                                  "or access_token type",
                                  "unsupported_token_type"));
    }
    // RFC 8693 §2.1: "actor_token_type ... This is REQUIRED when the actor_token parameter
    // is present in the request but MUST NOT be included otherwise."
    const auto actor_token = params.get(kActorToken);
    const auto actor_type = params.get("actor_token_type");
    if (actor_token && !actor_type) {
      return std::unexpected(deny(OAuthError::kInvalidRequest,
                                  "the actor_token_type parameter is missing",
                                  "missing_actor_token_type"));
    }
    if (!actor_token && actor_type) {
      return std::unexpected(deny(OAuthError::kInvalidRequest,
                                  "actor_token_type must not be sent without actor_token",
                                  "unexpected_actor_token_type"));
    }
    std::optional<TokenKind> actor_kind;
    if (actor_type) {
      actor_kind = kind_of(*actor_type);
      if (!actor_kind) {
        return std::unexpected(deny(OAuthError::kInvalidRequest,
                                    "the actor_token_type is not supported: use a jwt, id_token "
                                    "or access_token type",
                                    "unsupported_token_type"));
      }
    }
    // RFC 8693 §2.1 requested_token_type: "An identifier ... for the type of the requested
    // security token." sigil issues JWT access tokens: either name describes them.
    std::string issued_type(kTokenTypeAccessToken);
    if (const auto type = params.get("requested_token_type")) {
      if (*type != kTokenTypeAccessToken && *type != kTokenTypeJwt) {
        return std::unexpected(deny(OAuthError::kInvalidRequest,
                                    "the requested_token_type is not supported: use the "
                                    "access_token or jwt type",
                                    "unsupported_requested_token_type"));
      }
      issued_type = std::string(*type);
    }
    SIGIL_TRY(asked, internal::parse_request(params, requested));

    // Invalid or unacceptable subject and actor tokens are invalid_request (RFC 8693
    // §2.2.2, quoted in read_token), unlike the JWT bearer grant's invalid_grant for the
    // same tokens (RFC 7523 §3.1).
    SIGIL_TRY(subject, read_token(kSubjectToken, *subject_token, *subject_kind, context));
    requested.subject = subject.sub;
    requested.federated = federated_text(subject.federated);

    std::optional<Party> actor;
    if (actor_token) {
      SIGIL_TRY(read, read_token(kActorToken, *actor_token, *actor_kind, context));
      if (!read.service) {
        return std::unexpected(deny(OAuthError::kInvalidRequest,
                                    "actor_token: the token does not stand for a service",
                                    "actor_not_a_service"));
      }
      if (authenticated != nullptr && read.sub != authenticated->id()) {
        return std::unexpected(
            deny(OAuthError::kInvalidRequest,
                 "actor_token: the token does not stand for the authenticated client",
                 "actor_mismatch"));
      }
      actor = std::move(read);
    }

    // Who decides: the authenticated client, or the actor_token's service, or (neither)
    // the subject itself, which must then be a service.
    std::optional<std::string> actor_id;
    std::optional<Client> caller;
    std::string_view auth_method = policy::kFederated;
    if (authenticated != nullptr) {
      actor_id = authenticated->id();
      auth_method = authenticated->auth_method();
    } else if (actor) {
      actor_id = actor->sub;
      SIGIL_TRY(client, internal::active_service_client(context, actor->sub));
      caller = std::move(client);
    } else {
      if (!subject.service) {
        return std::unexpected(deny(OAuthError::kInvalidRequest,
                                    "subject_token: a token for a person is exchanged only by an "
                                    "authenticated client or with an actor_token",
                                    "actor_required"));
      }
      SIGIL_TRY(client, internal::active_service_client(context, subject.sub));
      caller = std::move(client);
    }
    const Client& decider = caller ? *caller : authenticated->client();

    // Delegation unless the actor is the subject itself (a service narrowing its own token).
    const bool self = actor_id && subject.service && subject.sub == *actor_id;
    auto delegated_act = [&]() -> std::optional<boost::json::object> {
      if (!actor_id || self) return subject.act;
      // RFC 8693 §4.1: "A chain of delegation can be expressed by nesting one "act" claim
      // within another. The outermost "act" claim represents the current actor".
      boost::json::object act{{"sub", *actor_id}};
      if (subject.act) act["act"] = *subject.act;
      return act;
    };
    std::optional<boost::json::object> act = delegated_act();
    if (act) requested.actor = actor_chain(*act);
    if (act && depth(*act) > kMaxActors) {
      return std::unexpected(deny(OAuthError::kInvalidRequest,
                                  "subject_token: the delegation chain is too long",
                                  "delegation_too_deep"));
    }

    // The new token never outlives the tokens it was exchanged for.
    TimePoint not_after = subject.expires_at;
    if (actor) not_after = std::min(not_after, actor->expires_at);
    if (to_unix(not_after) <= to_unix(context.now)) {
      return std::unexpected(
          deny(OAuthError::kInvalidRequest,
               std::string(actor && actor->expires_at == not_after ? kActorToken : kSubjectToken) +
                   ": the token has expired",
               "expired"));
    }

    // Scopes only narrow. RFC 6749 §5.2 invalid_scope: "The requested scope is invalid,
    // unknown, malformed, or exceeds the scope granted by the resource owner."
    if (subject.scopes && asked.scopes) {
      for (const auto& s : *asked.scopes) {
        if (!internal::contains(*subject.scopes, s)) {
          return std::unexpected(deny(OAuthError::kInvalidScope,
                                      "scope " + s + " is beyond the subject token's scopes",
                                      "scope_beyond_subject_token"));
        }
      }
    }

    if (context.policy == nullptr) {
      return std::unexpected(deny(OAuthError::kInvalidTarget,
                                  "the requested audience is not granted to this client",
                                  "no_policy"));
    }
    const policy::CompiledPolicy& policy = *context.policy;
    // RFC 8693 §2.2.2: "If the authorization server is unwilling or unable to issue a
    // token for any target service that is indicated via the resource or audience
    // parameters, the invalid_target error code SHOULD be used".
    SIGIL_TRY(targets,
              internal::token_targets(policy, decider, asked, context, /*at_most_one=*/true));
    auto grant = internal::decide_by_policy(policy, decider, auth_method, asked, targets, context);
    if (!grant) return grant;
    if (subject.scopes && !asked.scopes) {
      std::erase_if(grant->scopes,
                    [&](const std::string& s) { return !internal::contains(*subject.scopes, s); });
      if (grant->scopes.empty()) {
        Denial d = deny(OAuthError::kInvalidScope,
                        "no scope of the subject token is granted for this audience",
                        "scope_beyond_subject_token");
        d.rules = grant->rules;
        return std::unexpected(std::move(d));
      }
    }

    // Impersonation: only where the policy says so explicitly, and never when the request
    // names an actor with an actor_token.
    if (authenticated != nullptr && !actor && !self && all_impersonate(policy, grant->rules)) {
      act = subject.act;
      requested.actor = act ? actor_chain(*act) : std::string();
    }

    grant->subject = subject.sub;
    grant->act = std::move(act);
    grant->federated = subject.federated;
    grant->not_after = not_after;
    grant->issued_token_type = std::move(issued_type);
    // The audit names the issuer rules that accepted external tokens with the grants.
    if (!subject.rule.empty()) grant->rules.push_back(subject.rule);
    if (actor && !actor->rule.empty()) grant->rules.push_back(actor->rule);
    internal::sort_unique(grant->rules);
    if (caller) grant->client = std::move(*caller);
    return grant;
  }
};

}  // namespace

std::unique_ptr<GrantHandler> make_token_exchange_grant() {
  return std::make_unique<TokenExchangeGrant>();
}

}  // namespace sigil::oauth
