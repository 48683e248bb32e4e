// Token introspection (RFC 7662) for our access tokens.
//
// Any authenticated client may introspect: our tokens are JWTs any holder of the JWKS can
// verify, so introspection reveals nothing beyond them except whether a token was revoked
// or its client disabled.
#pragma once

#include <boost/json/object.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/clock.hpp"
#include "oauth/access_token.hpp"
#include "oauth/client_registry.hpp"
#include "oauth/key_ring.hpp"
#include "oauth/revocation.hpp"

namespace sigil::oauth {

struct IntrospectedClaims {
  std::string scope;
  std::string client_id;
  std::string sub;
  std::vector<std::string> aud;
  std::string iss;
  std::int64_t exp = 0;
  std::int64_t iat = 0;
  std::int64_t nbf = 0;
  std::string jti;
  std::string token_type = "Bearer";
  // RFC 8693 §4.1: "act" of a delegated token, as the token carries it.
  std::optional<boost::json::object> act;
  // The external identity behind the token (kFederatedClaim); not in the response.
  std::optional<FederatedIdentity> federated;
  // RFC 9449 §6.1: the thumbprint of the key a DPoP-bound token is bound to ("cnf.jkt");
  // token_type is then "DPoP". nullopt: a bearer token.
  std::optional<std::string> jkt;
  // RFC 8705 §3.1: the thumbprint of the client certificate a certificate-bound token is
  // bound to ("cnf.x5t#S256"); token_type stays "Bearer" unless the token also has a jkt.
  std::optional<std::string> x5t_s256;
};

struct IntrospectionResult {
  bool active = false;
  IntrospectedClaims claims;  // meaningful when active
  // Why inactive, for the audit (never sent): a jose::Reason name ("expired",
  // "bad_signature", "unknown_key", "malformed", "wrong_issuer", ...), "revoked",
  // "client_disabled" or "missing_claim".
  std::string reason_if_inactive;
};

class Introspection {
 public:
  // All three must outlive this.
  Introspection(const KeyRing& keys, const RevocationList& revoked, const ClientRegistry& clients)
      : keys_(keys), revoked_(revoked), clients_(clients) {}

  // Thread-safe.
  IntrospectionResult introspect(std::string_view token, const AuthenticatedClient& caller,
                                 TimePoint now) const;
  // The same checks without a caller: whether `token` is one of ours and active (for a
  // token presented as the subject or actor of a token exchange).
  IntrospectionResult check(std::string_view token, TimePoint now) const;

 private:
  const KeyRing& keys_;
  const RevocationList& revoked_;
  const ClientRegistry& clients_;
};

// RFC 7662 §2.2 response body, with "act" when the token has one (RFC 8693 §4.1: "the
// act claim ... may also be used in token introspection responses") and "cnf" when it is
// DPoP-bound (RFC 9449 §6.2) or certificate-bound (RFC 8705 §3.2), with the members it
// has. Inactive:
// {"active":false} and nothing else.
std::string to_json(const IntrospectionResult& result);

}  // namespace sigil::oauth
