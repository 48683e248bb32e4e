#include "oauth/token_endpoint.hpp"

#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

#include <algorithm>

#include "oauth/binding.hpp"
#include "oauth/dpop.hpp"
#include "oauth/validation.hpp"

namespace sigil::oauth {

namespace {

constexpr std::string_view kGrantType = "grant_type";
// The auth method of a request made without client authentication.
constexpr std::string_view kFederated = policy::kFederated;

TokenOutcome fail(TokenFailure failure, bool tried_basic) {
  return TokenOutcome{std::move(failure), tried_basic};
}

}  // namespace

FormParams::FormParams(const std::vector<std::pair<std::string, std::string>>& params) {
  params_.reserve(params.size());
  for (const auto& [name, value] : params) {
    if (!value.empty()) params_.emplace_back(name, value);
  }
}

std::optional<std::string_view> FormParams::get(std::string_view name) const {
  for (const auto& [n, v] : params_) {
    if (n == name) return v;
  }
  return std::nullopt;
}

std::vector<std::string_view> FormParams::all(std::string_view name) const {
  std::vector<std::string_view> out;
  for (const auto& [n, v] : params_) {
    if (n == name) out.push_back(v);
  }
  return out;
}

std::optional<std::string_view> FormParams::first_repeated(
    const std::vector<std::string_view>& may_repeat) const {
  for (std::size_t i = 0; i < params_.size(); ++i) {
    const std::string_view name = params_[i].first;
    if (std::find(may_repeat.begin(), may_repeat.end(), name) != may_repeat.end()) continue;
    for (std::size_t j = i + 1; j < params_.size(); ++j) {
      if (params_[j].first == name) return name;
    }
  }
  return std::nullopt;
}

TokenEndpoint::TokenEndpoint(const ClientRegistry& clients, const KeyRing& keys,
                             const policy::PolicyHolder* policy, const AssertionContext* assertions,
                             const RevocationList* revocations)
    : clients_(clients), keys_(keys), policy_(policy), assertions_(assertions) {
  if (revocations != nullptr) tokens_.emplace(keys, *revocations, clients);
  auto add = [this](std::unique_ptr<GrantHandler> handler) {
    std::string type(handler->grant_type());
    grants_.emplace(std::move(type), std::move(handler));
  };
  add(make_client_credentials_grant());
  add(make_jwt_bearer_grant());
  add(make_token_exchange_grant());
}

TokenOutcome TokenEndpoint::handle(const TokenRequest& request, TimePoint now) const {
  const FormParams params(request.params);
  TokenFailure failure;
  const bool tried_basic = request.credentials.tried_header();
  // Who claims to call, for the audit record of a request refused before authentication.
  if (request.credentials.basic) {
    failure.client_id = request.credentials.basic->client_id;
  } else if (auto body_id = params.get("client_id")) {
    failure.client_id = std::string(*body_id);
  }
  auto denied = [&](OAuthError error, std::string description, std::string reason) {
    failure.denial = Denial{error, std::move(description), std::move(reason)};
    return fail(std::move(failure), tried_basic);
  };

  // Which parameters may repeat depends on the grant; look it up before the check.
  const GrantHandler* handler = nullptr;
  if (auto type = params.get(kGrantType)) {
    if (auto it = grants_.find(*type); it != grants_.end()) handler = it->second.get();
  }
  // RFC 6749 §3.2: "Request and response parameters MUST NOT be included more than once."
  if (auto name = params.first_repeated(handler ? handler->repeatable_params()
                                                : std::vector<std::string_view>{})) {
    // The name is the client's text: echo it only when it is safe in error_description
    // (RFC 6749 §5.2 allows %x20-21 / %x23-5B / %x5D-7E) and short.
    const bool echo = name->size() <= 64 && is_valid_scope_token(*name);
    return denied(OAuthError::kInvalidRequest,
                  echo ? "the " + std::string(*name) + " parameter is repeated"
                       : std::string("a parameter is repeated"),
                  "repeated_parameter");
  }

  // RFC 7523 §3.1: "JWT authorization grants may be used with or without client
  // authentication or identification." For the grants that prove who asks by themselves,
  // a request without any client credentials goes on unauthenticated; credentials that
  // are present are checked like everywhere else.
  const bool no_credentials = !tried_basic && !params.get("client_id") &&
                              !params.get("client_secret") && !params.get("client_assertion") &&
                              !params.get("client_assertion_type");
  std::optional<AuthenticatedClient> client;
  if (!(no_credentials && handler != nullptr && handler->client_authentication_optional())) {
    auto authenticated =
        authenticate_client(clients_, request.credentials, params, now, assertions_);
    if (!authenticated) {
      failure.client_id = std::move(authenticated.error().client_id);
      failure.auth_method = std::move(authenticated.error().auth_method);
      failure.denial = std::move(authenticated.error().denial);
      return fail(std::move(failure), tried_basic);
    }
    client = std::move(*authenticated);
  } else {
    failure.auth_method = std::string(kFederated);
  }

  // RFC 6749 §4.4.2: "grant_type REQUIRED." (RFC 7523 §2.1 and RFC 8693 §2.1 alike.)
  const auto grant_type = params.get(kGrantType);
  if (!grant_type) {
    return denied(OAuthError::kInvalidRequest, "the grant_type parameter is missing",
                  "missing_grant_type");
  }
  if (!handler) {
    // RFC 6749 §5.2 unsupported_grant_type: "The authorization grant type is not
    // supported by the authorization server."
    return denied(OAuthError::kUnsupportedGrantType, "the grant type is not supported",
                  "unsupported_grant_type");
  }

  // RFC 9449 §5: "To request an access token that is bound to a public key using DPoP, the
  // client MUST provide a valid DPoP proof JWT in a DPoP header when making an access
  // token request to the authorization server's token endpoint. This is applicable for
  // all access token requests regardless of grant type". Checked before the grant, so
  // that a bad proof does not spend the grant's own assertion.
  std::optional<std::string> jkt;
  if (request.dpop_proof) {
    if (assertions_ == nullptr || assertions_->replays == nullptr) {
      return denied(OAuthError::kInvalidDpopProof, "DPoP proofs are not accepted here",
                    "dpop_unavailable");
    }
    auto checked = verify_dpop_proof(*request.dpop_proof, "POST", request.endpoint_url, now,
                                     *assertions_->replays, assertions_->leeway);
    if (!checked) {
      failure.detail = checked.error().detail;
      failure.denial = std::move(checked.error());
      return fail(std::move(failure), tried_basic);
    }
    jkt = std::move(*checked);
  }

  // One snapshot for the whole request: a policy swapped meanwhile applies to the next.
  const std::shared_ptr<const policy::CompiledPolicy> policy =
      policy_ != nullptr ? policy_->current() : nullptr;
  const GrantContext context{.now = now,
                             .source_address = request.source_address,
                             .issuer = keys_.settings().issuer,
                             .policy = policy.get(),
                             .assertions = assertions_,
                             .clients = &clients_,
                             .tokens = tokens_ ? &*tokens_ : nullptr,
                             .certificate_bound = request.credentials.certificate.has_value()};
  failure.grant_type = std::string(handler->grant_type());
  GrantRequest requested;
  auto grant = handler->validate(params, client ? &*client : nullptr, requested, context);
  failure.requested_scopes = requested.scopes;
  failure.requested_audience = requested.audience;
  failure.subject = std::move(requested.subject);
  failure.actor = std::move(requested.actor);
  failure.federated = std::move(requested.federated);
  if (!grant) {
    failure.rules = grant.error().rules;
    failure.detail = grant.error().detail;
    failure.denial = std::move(grant.error());
    return fail(std::move(failure), tried_basic);
  }

  grant->jkt = jkt;
  // RFC 8705 §3: "When mutual-TLS is used by the client on the connection to the token
  // endpoint, the authorization server is able to bind the issued access token to the
  // client certificate." Possession of the certificate's key was proven in the TLS handshake;
  // whether its chain is trusted matters only for authenticating with it.
  if (request.credentials.certificate) {
    grant->x5t_s256 = certificate_thumbprint(request.credentials.certificate->der);
  }

  // The token goes to the client the grant chose, else to the one that authenticated.
  const Client* issued_to = grant->client ? &*grant->client : client ? &client->client() : nullptr;
  if (issued_to == nullptr) {
    failure.log_detail = "the grant named no client to issue the token to";
    return denied(OAuthError::kServerError, "the server could not issue a token", "issue_failed");
  }
  auto issued = issue_access_token(keys_, *issued_to, *grant, now);
  if (!issued) {
    failure.log_detail = issued.error().message;
    return denied(OAuthError::kServerError, "the server could not issue a token", "issue_failed");
  }
  TokenSuccess success;
  success.access_token = std::move(issued->compact);
  success.expires_in = to_unix(issued->expires_at) - to_unix(issued->issued_at);
  success.scope = join_scope(grant->scopes);
  success.issued_token_type = std::move(grant->issued_token_type);
  success.jti = std::move(issued->jti);
  success.audience = std::move(grant->audience);
  success.scopes = std::move(grant->scopes);
  success.grant_type = std::string(handler->grant_type());
  success.client_id = issued_to->id;
  success.auth_method = client ? client->auth_method() : std::string(kFederated);
  success.subject = std::move(grant->subject);
  if (grant->act) success.actor = actor_chain(*grant->act);
  if (grant->federated) {
    success.federated = grant->federated->issuer + " " + grant->federated->subject;
  }
  success.exp = issued->expires_at;
  success.rules = std::move(grant->rules);
  if (jkt) {
    success.token_type = "DPoP";
    success.jkt = std::move(*jkt);
  }
  // RFC 8705 §3: a certificate-bound token is still of type Bearer.
  if (grant->x5t_s256) success.x5t_s256 = std::move(*grant->x5t_s256);
  return TokenOutcome{std::move(success), tried_basic};
}

std::string to_json(const TokenSuccess& success) {
  // RFC 6749 §5.1: access_token, token_type, expires_in; scope "OPTIONAL, if identical to
  // the scope requested by the client; otherwise, REQUIRED" (we always send it when any).
  boost::json::object body;
  body["access_token"] = success.access_token;
  body["token_type"] = success.token_type;
  body["expires_in"] = success.expires_in;
  if (!success.scope.empty()) body["scope"] = success.scope;
  // RFC 8693 §2.2.1: "issued_token_type REQUIRED. An identifier, as described in
  // Section 3, for the representation of the issued security token."
  if (!success.issued_token_type.empty()) body["issued_token_type"] = success.issued_token_type;
  return boost::json::serialize(body);
}

}  // namespace sigil::oauth
