#include "oauth/token_endpoint.hpp"

#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

#include <algorithm>

#include "oauth/validation.hpp"

namespace sigil::oauth {

namespace {

constexpr std::string_view kGrantType = "grant_type";

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
                             const policy::PolicyHolder* policy)
    : clients_(clients), keys_(keys), policy_(policy) {
  auto add = [this](std::unique_ptr<GrantHandler> handler) {
    std::string type(handler->grant_type());
    grants_.emplace(std::move(type), std::move(handler));
  };
  add(make_client_credentials_grant());
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

  auto client = authenticate_client(clients_, request.credentials, params, now);
  if (!client) {
    failure.client_id = std::move(client.error().client_id);
    failure.auth_method = std::move(client.error().auth_method);
    failure.denial = std::move(client.error().denial);
    return fail(std::move(failure), tried_basic);
  }

  // RFC 6749 §4.4.2: "grant_type REQUIRED. Value MUST be set to "client_credentials"."
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

  // One snapshot for the whole request: a policy swapped meanwhile applies to the next.
  const std::shared_ptr<const policy::CompiledPolicy> policy =
      policy_ != nullptr ? policy_->current() : nullptr;
  const GrantContext context{.now = now,
                             .source_address = request.source_address,
                             .issuer = keys_.settings().issuer,
                             .policy = policy.get()};
  GrantRequest requested;
  auto grant = handler->validate(params, *client, requested, context);
  failure.requested_scopes = requested.scopes;
  failure.requested_audience = requested.audience;
  if (!grant) {
    failure.rules = grant.error().rules;
    failure.detail = grant.error().detail;
    failure.denial = std::move(grant.error());
    return fail(std::move(failure), tried_basic);
  }

  auto issued = issue_access_token(keys_, client->client(), *grant, now);
  if (!issued) {
    failure.log_detail = issued.error().message;
    return denied(OAuthError::kServerError, "the server could not issue a token", "issue_failed");
  }
  TokenSuccess success;
  success.access_token = std::move(issued->compact);
  success.expires_in = to_unix(issued->expires_at) - to_unix(issued->issued_at);
  success.scope = join_scope(grant->scopes);
  success.jti = std::move(issued->jti);
  success.audience = std::move(grant->audience);
  success.scopes = std::move(grant->scopes);
  success.client_id = client->id();
  success.auth_method = client->auth_method();
  success.exp = issued->expires_at;
  success.rules = std::move(grant->rules);
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
  return boost::json::serialize(body);
}

}  // namespace sigil::oauth
