// Client authentication at every client-authenticated endpoint (token, introspection,
// revocation): client_secret_basic, client_secret_post, private_key_jwt (RFC 7523 §2.2,
// RFC 7521 §4.2), tls_client_auth or self_signed_tls_client_auth (RFC 8705 §2), never two
// at once (RFC 6749 §2.3).
#pragma once

#include <expected>
#include <optional>
#include <string>
#include <vector>

#include "base/clock.hpp"
#include "base/secrets.hpp"
#include "jose/algorithm.hpp"
#include "oauth/client_registry.hpp"
#include "oauth/grant.hpp"
#include "oauth/key_source.hpp"
#include "oauth/oauth_error.hpp"
#include "oauth/replay_cache.hpp"

namespace sigil::oauth {

struct ClientCredentials {
  std::string client_id;
  SecretString secret;
};

// The client certificate of a mutual-TLS connection (RFC 8705 §2).
struct PresentedCertificate {
  std::string der;
  // The TLS layer verified its chain to sigil's CA (what tls_client_auth needs; a
  // self-signed certificate need not chain to anything).
  bool chain_verified = false;
};

// How the client presented itself, as the HTTP edge decoded it.
struct PresentedCredentials {
  // From an Authorization: Basic header, already decoded.
  std::optional<ClientCredentials> basic;
  // An Authorization header was present but was not valid Basic.
  bool authorization_header_present = false;
  // The client certificate, when the request came over mutual TLS with one. Besides
  // authenticating the client it binds the tokens issued to it (RFC 8705 §3).
  std::optional<PresentedCertificate> certificate;

  // The client tried the Authorization header: a 401 must carry WWW-Authenticate.
  bool tried_header() const { return basic.has_value() || authorization_header_present; }
};

// What verifying signed assertions needs (private_key_jwt here; external tokens in the
// JWT bearer and token exchange grants): where keys published elsewhere come from, the
// assertions already used, and the audiences an assertion for sigil may name. The
// referenced objects outlive every request.
struct AssertionContext {
  KeySource* keys = nullptr;       // null: only keys registered inline can be used
  ReplayCache* replays = nullptr;  // null: every assertion is refused (no replay check, no use)
  // RFC 7523 §3: "The JWT MUST contain an "aud" (audience) claim containing a value that
  // identifies the authorization server as an intended audience. The token endpoint URL
  // of the authorization server MAY be used as a value for an "aud" element": the issuer
  // and the token, introspection and revocation endpoint URLs.
  std::vector<std::string> audiences;
  Seconds max_lifetime{300};  // an assertion's exp may be at most this far after now
  Seconds leeway{30};
};

// The algorithms a client assertion may be signed with: every asymmetric one sigil
// verifies (ES256, ES384, EdDSA, RS256, PS256); never "none" or HS*, so a client's public
// key can never serve as an HMAC secret. Advertised in the metadata.
const std::vector<jose::Algorithm>& client_assertion_algorithms();

struct ClientAuthenticationFailure {
  Denial denial;
  std::string client_id;    // as claimed, for the audit record
  std::string auth_method;  // as attempted, when known
};

// Authenticates the client from the header and the body's client_id/client_secret or
// client_assertion_type/client_assertion (private_key_jwt, only with `assertions`), or
// with none of those, from the body's client_id and the certificate (RFC 8705 §2).
// invalid_request for two methods at once, a client_id that differs between the header
// and the body, or only one of client_assertion_type and client_assertion; invalid_client
// for everything else (see ClientRegistry::authenticate and authenticate_assertion for the
// reasons).
//
// A client assertion (RFC 7523 §2.2, §3) is a JWT whose unverified "sub" names the client
// (a body client_id must equal it); it must be signed with one of the client's keys (its
// registered jwks, or the set at its jwks_uri from `assertions->keys`, asked again once
// with refresh when the assertion names a kid the set lacks) by an asymmetric algorithm
// (never "none" or HS*); iss and sub are the client id; aud (a string or an array) holds
// one of `assertions->audiences`; exp is required and at most max_lifetime ahead; nbf and
// iat hold within the leeway; a jti is required and may be used once (kept in
// `assertions->replays` until exp + leeway). Reasons for the audit: "assertion_" + the
// jose reason (assertion_bad_signature, assertion_unknown_key, assertion_expired, ...),
// "assertion_wrong_subject", "assertion_wrong_audience", "assertion_lifetime_too_long",
// "assertion_missing_jti", "assertion_replayed", "assertion_malformed",
// "assertion_too_large", "unsupported_assertion_type", "unsupported_auth_method" (no
// `assertions`), "jwks_uri_unavailable", "replay_check_unavailable".
//
// With a certificate, no secret and no assertion, the client named by the body's
// client_id (RFC 8705 §2: "the client MUST include the client_id parameter") authenticates
// with tls_client_auth when it allows it, the certificate's chain was verified and the
// certificate carries the registered value (the subject DN exactly as
// pki::Certificate::subject() gives it, or one of its URI SANs, or one of its DNS SANs,
// compared without regard to case); else with self_signed_tls_client_auth when it allows
// it and the certificate's thumbprint (x5t#S256) is registered. Reasons:
// "certificate_not_trusted" (tls_client_auth only, the chain was not verified),
// "certificate_mismatch", and "certificate_required" for a client that allows only these
// two methods and presented no certificate (else "missing_client_secret" as before);
// unknown and disabled clients as for secrets.
std::expected<AuthenticatedClient, ClientAuthenticationFailure> authenticate_client(
    const ClientRegistry& clients, const PresentedCredentials& presented, const FormParams& params,
    TimePoint now, const AssertionContext* assertions = nullptr);

}  // namespace sigil::oauth
