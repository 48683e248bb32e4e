#include "oauth/client_authentication.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include <algorithm>
#include <memory>

#include "base/base64url.hpp"
#include "jose/jwt.hpp"
#include "oauth/binding.hpp"
#include "pki/certificate.hpp"

namespace sigil::oauth {

namespace {

constexpr std::string_view kAuthFailed = "client authentication failed";
// RFC 7523 §2.2: "The value of the "client_assertion_type" is
// "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"."
constexpr std::string_view kJwtBearerAssertionType =
    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
// As jose::Limits: a larger assertion is refused before anything is decoded.
constexpr std::size_t kMaxAssertionBytes = jose::Limits{}.max_token_bytes;
// A jti is an identifier, not a document; the replay cache keeps only its digest, but a
// bound keeps audit records and logs readable.
constexpr std::size_t kMaxJtiBytes = 256;

Denial invalid_client(std::string reason, std::string description = std::string(kAuthFailed),
                      std::string detail = {}) {
  Denial d{OAuthError::kInvalidClient, std::move(description), std::move(reason)};
  d.detail = std::move(detail);
  return d;
}

// Signature-stage refusals say nothing beyond kAuthFailed (as a wrong secret does not);
// what is checked once the signature holds may be told to the one who signed.
std::string describe(jose::Reason reason) {
  switch (reason) {
    case jose::Reason::kExpired:
      return "the client assertion has expired";
    case jose::Reason::kNotYetValid:
    case jose::Reason::kIssuedInFuture:
      return "the client assertion is not valid yet";
    case jose::Reason::kMissingClaim:
      return "the client assertion lacks a required claim (exp, iss)";
    case jose::Reason::kWrongIssuer:
      return "the client assertion's iss must be the client_id";
    case jose::Reason::kWrongType:
    case jose::Reason::kWrongAudience:
    case jose::Reason::kMalformed:
    case jose::Reason::kTooLarge:
    case jose::Reason::kAlgorithmNotAllowed:
    case jose::Reason::kUnsupportedHeader:
    case jose::Reason::kUnknownKey:
    case jose::Reason::kBadSignature:
      break;
  }
  return std::string(kAuthFailed);
}

bool audience_matches(const boost::json::value* aud, const std::vector<std::string>& accepted) {
  auto accepted_one = [&](const boost::json::value& v) {
    return v.is_string() && std::find(accepted.begin(), accepted.end(),
                                      std::string_view(v.get_string())) != accepted.end();
  };
  if (aud == nullptr) return false;
  if (aud->is_string()) return accepted_one(*aud);
  if (!aud->is_array()) return false;
  return std::any_of(aud->get_array().begin(), aud->get_array().end(), accepted_one);
}

// Checks a private_key_jwt assertion for `client` (RFC 7523 §3, RFC 7521 §4.2), in this
// order: signature by one of the client's keys, iss, exp, nbf/iat, sub, aud, lifetime, jti,
// replay. Nothing is remembered unless everything else holds.
std::expected<void, Denial> verify_assertion(std::string_view assertion, const Client& client,
                                             const jose::JwkSet* registered_keys,
                                             const AssertionContext& context, TimePoint now) {
  jose::Expectations want;
  want.algorithms = client_assertion_algorithms();
  // RFC 7523 §3: "The JWT MUST contain an "iss" (issuer) claim that contains a unique
  // identifier for the entity that issued the JWT. ... For client authentication, the
  // issuer MUST be the "client_id" of the OAuth client" (RFC 7521 §5.2).
  want.issuer = client.id;
  want.leeway = context.leeway;
  // RFC 7523 §3: "The JWT MUST contain an "exp" (expiration time) claim that limits the
  // time window during which the JWT can be used."
  want.require_exp = true;

  std::expected<jose::VerifiedJwt, jose::VerifyError> jwt =
      std::unexpected(jose::VerifyError{jose::Reason::kUnknownKey, "no keys"});
  if (registered_keys != nullptr) {
    jwt = jose::verify_jwt(assertion, *registered_keys, want, now);
  } else if (!client.jwks_uri.empty()) {
    if (context.keys == nullptr) {
      return std::unexpected(
          invalid_client("jwks_uri_unavailable", std::string(kAuthFailed),
                         "no key source is configured to fetch " + client.jwks_uri));
    }
    // Fetched keys are asked again once when the assertion names a key they lack: the
    // client may have rotated its keys since they were cached.
    for (bool refresh : {false, true}) {
      auto keys = context.keys->keys_at(client.jwks_uri, refresh);
      if (!keys) {
        return std::unexpected(invalid_client(
            "jwks_uri_unavailable", "the client's keys cannot be fetched from its jwks_uri now",
            keys.error().message));
      }
      jwt = jose::verify_jwt(assertion, **keys, want, now);
      if (jwt || jwt.error().reason != jose::Reason::kUnknownKey) break;
    }
  } else {
    return std::unexpected(invalid_client("no_registered_keys"));
  }
  if (!jwt) {
    return std::unexpected(invalid_client("assertion_" + std::string(to_string(jwt.error().reason)),
                                          describe(jwt.error().reason), jwt.error().detail));
  }

  // RFC 7523 §3: "The JWT MUST contain a "sub" (subject) claim ... For client
  // authentication, the subject MUST be the "client_id" of the OAuth client."
  if (jwt->string_claim("sub") != std::optional<std::string_view>(client.id)) {
    return std::unexpected(invalid_client("assertion_wrong_subject",
                                          "the client assertion's sub must be the client_id"));
  }
  // RFC 7523 §3: "The JWT MUST contain an "aud" (audience) claim containing a value that
  // identifies the authorization server as an intended audience. ... The authorization
  // server MUST reject any JWT that does not contain its own identity as the intended
  // audience."
  if (!audience_matches(jwt->claims().if_contains("aud"), context.audiences)) {
    return std::unexpected(
        invalid_client("assertion_wrong_audience",
                       "the client assertion's aud must name this server (its issuer or the "
                       "endpoint URL)"));
  }
  // A long-lived assertion is a bearer credential in all but name: cap how far ahead its
  // exp may be, so that a leaked one is short-lived.
  const std::int64_t exp = *jwt->time_claim("exp");  // present: require_exp
  if (exp > to_unix(now + context.max_lifetime)) {
    return std::unexpected(invalid_client("assertion_lifetime_too_long",
                                          "the client assertion's exp is more than " +
                                              std::to_string(context.max_lifetime.count()) +
                                              " seconds ahead"));
  }
  // RFC 7523 §3: "The JWT MAY contain a "jti" (JWT ID) claim that provides a unique
  // identifier for the token. The authorization server MAY ensure that JWTs are not
  // replayed by maintaining the set of used "jti" values for the length of time for which
  // the JWT would be considered valid based on the applicable "exp" instant." sigil
  // requires one, and does.
  const auto jti = jwt->string_claim("jti");
  if (!jti || jti->empty() || jti->size() > kMaxJtiBytes) {
    return std::unexpected(invalid_client(
        "assertion_missing_jti",
        "the client assertion needs a jti (a unique identifier of at most 256 bytes)"));
  }
  if (context.replays == nullptr) {
    return std::unexpected(invalid_client("replay_check_unavailable", std::string(kAuthFailed),
                                          "no replay cache is configured"));
  }
  // Accepted until exp + leeway, so remembered as long.
  if (!context.replays->first_use(client.id + '\n' + std::string(*jti),
                                  from_unix(exp) + context.leeway, now)) {
    return std::unexpected(
        invalid_client("assertion_replayed", "the client assertion was used before"));
  }
  return {};
}

bool iequals_ascii(std::string_view a, std::string_view b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](char x, char y) {
    const auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; };
    return lower(x) == lower(y);
  });
}

// RFC 8705 §2.1.2: the certificate carries the one value registered for tls_client_auth.
bool carries_registered_value(const pki::Certificate& certificate, const Client& client) {
  if (!client.tls_client_auth_subject_dn.empty()) {
    // "tls_client_auth_subject_dn: An [RFC4514] string representation of the expected
    // subject distinguished name of the certificate": compared as pki spells it.
    return certificate.subject() == client.tls_client_auth_subject_dn;
  }
  if (!client.tls_client_auth_san_uri.empty()) {
    const auto uris = certificate.uri_sans();
    return std::find(uris.begin(), uris.end(), client.tls_client_auth_san_uri) != uris.end();
  }
  if (!client.tls_client_auth_san_dns.empty()) {
    const auto names = certificate.dns_sans();
    return std::any_of(names.begin(), names.end(), [&](const std::string& name) {
      return iequals_ascii(name, client.tls_client_auth_san_dns);
    });
  }
  return false;  // nothing registered matches nothing
}

// Which RFC 8705 method `presented` authenticates `client` with: tls_client_auth first,
// then self_signed_tls_client_auth.
std::expected<std::string_view, Denial> match_certificate(const PresentedCertificate& presented,
                                                          const Client& client) {
  const auto allows = [&](std::string_view method) {
    return std::find(client.auth_methods.begin(), client.auth_methods.end(), method) !=
           client.auth_methods.end();
  };
  std::string reason = "certificate_mismatch";
  if (allows(kTlsClientAuth)) {
    // RFC 8705 §2.1: the PKI method "relies on a validated certificate chain [RFC5280]";
    // the TLS layer validated it against sigil's CA.
    if (!presented.chain_verified) {
      reason = "certificate_not_trusted";
    } else if (auto certificate = pki::Certificate::from_der(presented.der);
               certificate && carries_registered_value(*certificate, client)) {
      return kTlsClientAuth;
    }
  }
  if (allows(kSelfSignedTlsClientAuth)) {
    // RFC 8705 §2.2: "In contrast to the PKI method, the client's certificate chain is not
    // validated by the server in this case": the certificate itself must be registered.
    const std::string thumbprint = certificate_thumbprint(presented.der);
    const auto& registered = client.tls_client_certificates;
    if (std::find(registered.begin(), registered.end(), thumbprint) != registered.end()) {
      return kSelfSignedTlsClientAuth;
    }
  }
  return std::unexpected(invalid_client(std::move(reason)));
}

// True when the client `id` exists and allows only the RFC 8705 methods: without a
// certificate it cannot authenticate at all.
bool needs_certificate(const ClientRegistry& clients, std::string_view id) {
  auto client = clients.get(id);
  if (!client || client->auth_methods.empty()) return false;
  return std::all_of(
      client->auth_methods.begin(), client->auth_methods.end(),
      [](const std::string& m) { return m == kTlsClientAuth || m == kSelfSignedTlsClientAuth; });
}

}  // namespace

const std::vector<jose::Algorithm>& client_assertion_algorithms() {
  // "none" and HS* have no jose::Algorithm at all.
  static const std::vector<jose::Algorithm> algorithms = {
      jose::Algorithm::kES256, jose::Algorithm::kES384, jose::Algorithm::kEdDSA,
      jose::Algorithm::kRS256, jose::Algorithm::kPS256};
  return algorithms;
}

std::expected<AuthenticatedClient, ClientAuthenticationFailure> authenticate_client(
    const ClientRegistry& clients, const PresentedCredentials& presented, const FormParams& params,
    TimePoint now, const AssertionContext* assertions) {
  ClientAuthenticationFailure failure;
  const auto body_id = params.get("client_id");
  const auto body_secret = params.get("client_secret");
  const auto assertion_type = params.get("client_assertion_type");
  const auto assertion = params.get("client_assertion");
  const bool assertion_tried = assertion_type.has_value() || assertion.has_value();
  if (presented.basic) {
    failure.client_id = presented.basic->client_id;
    failure.auth_method = std::string(kClientSecretBasic);
  } else if (assertion_tried) {
    if (body_id) failure.client_id = std::string(*body_id);
    failure.auth_method = std::string(kPrivateKeyJwt);
  } else if (body_id) {
    failure.client_id = std::string(*body_id);
    if (body_secret) {
      failure.auth_method = std::string(kClientSecretPost);
    } else if (presented.certificate) {
      failure.auth_method = std::string(kTlsClientAuth);
    }
  }
  auto denied = [&](OAuthError error, std::string description, std::string reason) {
    failure.denial = Denial{error, std::move(description), std::move(reason)};
    return std::unexpected(std::move(failure));
  };

  // RFC 6749 §2.3: "The client MUST NOT use more than one authentication method in each
  // request."
  if ((presented.tried_header() && body_secret) ||
      (assertion_tried && (presented.tried_header() || body_secret))) {
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

  if (assertion_tried) {
    // RFC 7521 §4.2: client_assertion_type "REQUIRED", client_assertion "REQUIRED".
    if (!assertion_type || !assertion) {
      return denied(OAuthError::kInvalidRequest,
                    "client_assertion_type and client_assertion go together",
                    "incomplete_client_assertion");
    }
    if (*assertion_type != kJwtBearerAssertionType) {
      return denied(OAuthError::kInvalidClient, "unsupported client_assertion_type",
                    "unsupported_assertion_type");
    }
    if (assertions == nullptr) {
      return denied(OAuthError::kInvalidClient, "private_key_jwt is not accepted at this endpoint",
                    "unsupported_auth_method");
    }
    if (assertion->size() > kMaxAssertionBytes) {
      return denied(OAuthError::kInvalidClient, "the client assertion is too large",
                    "assertion_too_large");
    }
    auto subject = jose::unverified_string_claim(*assertion, "sub");
    if (!subject) {
      return denied(OAuthError::kInvalidClient,
                    "the client assertion is not a JWT with a sub claim", "assertion_malformed");
    }
    if (failure.client_id.empty()) failure.client_id = *subject;
    // RFC 7521 §4.2: client_id "OPTIONAL. ... If present, the value of the "client_id"
    // parameter MUST identify the client that is being authenticated" (RFC 7523 §3: the
    // sub).
    if (body_id && *body_id != *subject) {
      return denied(OAuthError::kInvalidClient, "client_id differs from the client assertion's sub",
                    "client_id_mismatch");
    }
    auto client = clients.authenticate_assertion(
        *subject, [&](const Client& candidate, const jose::JwkSet* registered_keys) {
          return verify_assertion(*assertion, candidate, registered_keys, *assertions, now);
        });
    if (!client) {
      failure.denial = std::move(client.error());
      return std::unexpected(std::move(failure));
    }
    return std::move(*client);
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
  } else if (body_id && presented.certificate) {
    // RFC 8705 §2: "For all requests to the authorization server utilizing mutual-TLS
    // client authentication, the client MUST include the client_id parameter".
    auto client = clients.authenticate_certificate(*body_id, [&](const Client& candidate) {
      return match_certificate(*presented.certificate, candidate);
    });
    if (!client) {
      // The audit names the method tried: the self-signed one for a client that has only it.
      if (auto known = clients.get(*body_id);
          known &&
          std::find(known->auth_methods.begin(), known->auth_methods.end(), kTlsClientAuth) ==
              known->auth_methods.end() &&
          std::find(known->auth_methods.begin(), known->auth_methods.end(),
                    kSelfSignedTlsClientAuth) != known->auth_methods.end()) {
        failure.auth_method = std::string(kSelfSignedTlsClientAuth);
      }
      failure.denial = std::move(client.error());
      return std::unexpected(std::move(failure));
    }
    return std::move(*client);
  } else {
    std::string reason = "no_client_authentication";
    if (body_id) {
      reason =
          needs_certificate(clients, *body_id) ? "certificate_required" : "missing_client_secret";
    }
    return denied(OAuthError::kInvalidClient, "client authentication failed", std::move(reason));
  }
  auto client = clients.authenticate(client_id, secret, method, now);
  if (!client) {
    failure.denial = std::move(client.error());
    return std::unexpected(std::move(failure));
  }
  return std::move(*client);
}

}  // namespace sigil::oauth
