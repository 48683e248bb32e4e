// The registry of clients: registration, status (the kill switch), secret rotation, the
// client's public keys and certificates, and client authentication (RFC 6749 §2.3.1,
// client_secret_basic / client_secret_post; RFC 7523 §2.2, private_key_jwt, whose
// assertion the caller verifies: see authenticate_assertion(); RFC 8705 §2,
// tls_client_auth / self_signed_tls_client_auth, whose certificate the caller matches: see
// authenticate_certificate()).
//
// All clients are cached in memory, loaded by load() and updated by every change made
// through the registry; authenticate() and is_active() read only the cache (one SHA-256
// and a map lookup). A change made to the store behind the registry's back is seen after
// reload().
//
// Thread safety: every method is thread-safe. Readers share a lock and never wait for one
// another; writers are serialised and hold the exclusive lock only to swap a cache entry.
//
//   auto registry = ClientRegistry::load(store);
//   auto created = (*registry)->create({.name = "billing", .allowed_scopes = {"read"},
//                                       .allowed_audiences = {"https://api"}}, now);
//   // created->secret is shown once; only its SHA-256 is stored.
//   auto who = (*registry)->authenticate(id, secret, kClientSecretBasic, now);
#pragma once

#include <expected>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

#include "base/clock.hpp"
#include "base/error.hpp"
#include "base/secrets.hpp"
#include "jose/jwk.hpp"
#include "oauth/model.hpp"
#include "oauth/oauth_error.hpp"
#include "oauth/ports.hpp"

namespace sigil::oauth {

inline constexpr std::string_view kClientSecretBasic = "client_secret_basic";
inline constexpr std::string_view kClientSecretPost = "client_secret_post";
inline constexpr std::string_view kPrivateKeyJwt = "private_key_jwt";
inline constexpr std::string_view kTlsClientAuth = "tls_client_auth";
inline constexpr std::string_view kSelfSignedTlsClientAuth = "self_signed_tls_client_auth";

// At most this many keys in a client's registered JWKS.
inline constexpr std::size_t kMaxClientKeys = 16;
// At most this many registered certificate thumbprints (self_signed_tls_client_auth).
inline constexpr std::size_t kMaxClientCertificates = 16;
inline constexpr std::size_t kMaxSubjectDnBytes = 1024;

// Every member has `{}`, so a designated initializer names only what it sets.
struct NewClient {
  std::optional<std::string> id{};  // generated ("cl_" + 16 base32 characters) when absent
  std::string name{};               // defaults to the id
  std::map<std::string, std::string> attributes{};
  std::vector<std::string> allowed_scopes{};     // RFC 6749 §3.3 scope tokens
  std::vector<std::string> allowed_audiences{};  // see is_valid_audience()
  std::vector<std::string> auth_methods{};       // default: default_auth_methods()
  // Public keys for private_key_jwt, at most one of the two (see check_client_keys()).
  std::string jwks{};      // JSON text of a JWKS; empty: none
  std::string jwks_uri{};  // where the client publishes its JWKS; empty: none
  // RFC 8705 §2.1.2, for tls_client_auth: at most one of the three (see Client).
  std::string tls_client_auth_subject_dn{};
  std::string tls_client_auth_san_uri{};
  std::string tls_client_auth_san_dns{};
  // RFC 8705 §2.2, for self_signed_tls_client_auth: x5t#S256 thumbprints
  // (certificate_thumbprint(), binding.hpp).
  std::vector<std::string> tls_client_certificates{};
};

struct CreatedClient {
  Client client;
  // The only copy of the secret: show it once. Empty when the client authenticates with
  // no client_secret_* method (it is then created without a secret).
  SecretString secret;
};

// The auth methods of a client registered without any: private_key_jwt when it registers
// keys, else client_secret_basic and client_secret_post.
std::vector<std::string> default_auth_methods(bool has_keys);

// True when `methods` holds client_secret_basic or client_secret_post.
bool uses_client_secret(const std::vector<std::string>& methods);

// Checks a client's public keys, and returns `jwks` normalised: the public members of
// each key with its "kid" (the RFC 7638 thumbprint when the key has none) and "alg"
// written out (empty when `jwks` is empty). kInvalidArgument when:
//   - both are given (RFC 7591 §2: "The "jwks_uri" and "jwks" parameters MUST NOT both
//     be present");
//   - jwks is over 64 KiB, is not a JWKS (RFC 7517 §5), holds a private member (d, p,
//     q, dp, dq, qi, oth, k), holds no key or more than kMaxClientKeys, or a key sigil
//     cannot verify with (EC P-256/P-384, Ed25519, RSA >= 2048 bits with "alg" RS256 or
//     PS256; "use" sig);
//   - jwks_uri is not an absolute https URL without user name or fragment (http only for
//     a loopback host: 127.0.0.1, [::1], localhost), of at most 2048 printable
//     characters.
Result<std::string> check_client_keys(std::string_view jwks, std::string_view jwks_uri);

// Checks a client's RFC 8705 values (check_tls_client_auth) and normalises them:
// thumbprints sorted and unique. kInvalidArgument when:
//   - more than one of subject_dn, san_uri and san_dns is given;
//   - subject_dn is over kMaxSubjectDnBytes or holds a character outside printable ASCII
//     (the RFC 4514 string pki::Certificate::subject() gives is ASCII, escapes included);
//   - san_uri is not an absolute URI of at most 2048 printable ASCII characters without
//     white space;
//   - san_dns is not a lowercase DNS name (policy::is_valid_dns_name);
//   - a thumbprint is not 43 base64url characters (a SHA-256 digest), or there are more
//     than kMaxClientCertificates of them.
Result<void> check_tls_client_auth(std::string_view subject_dn, std::string_view san_uri,
                                   std::string_view san_dns, std::vector<std::string>& thumbprints);

// Checks a registration request as create() does, and normalises it the same way: scopes,
// audiences and auth methods sorted and unique, the JWKS as check_client_keys() returns
// it, the RFC 8705 values as check_tls_client_auth() does. No auth methods means: the
// methods the request brings credentials for (private_key_jwt with keys, tls_client_auth
// with a subject DN or SAN, self_signed_tls_client_auth with thumbprints), or else
// default_auth_methods(false). private_key_jwt is allowed only with keys (jwks or
// jwks_uri); tls_client_auth only with exactly one of the subject DN and SANs, and those
// only with it; self_signed_tls_client_auth only with 1 to kMaxClientCertificates
// thumbprints, and those only with it. kInvalidArgument naming the first thing that is
// wrong. For components that write clients in their own store transaction (policy apply),
// so that what they write obeys the registry's rules.
Result<void> validate_new_client(NewClient& request);

// A new client secret: 256 random bits, and the digest that is stored instead of it.
struct ClientSecret {
  SecretString secret;  // the only copy: show it once
  SecretDigest digest;  // SHA-256, no expiry
};
ClientSecret make_client_secret();

// Client changes that another component writes to the store in its own transaction
// (policy apply writes clients together with the policy version that declares them).
struct ClientBatch {
  std::vector<Client> create;
  std::vector<Client> update;
  std::vector<std::string> remove;  // ids
};

// A client whose credentials were checked. Only ClientRegistry::authenticate() and
// authenticate_assertion() make one, so a function taking an AuthenticatedClient cannot be
// reached without authentication.
// Holds a snapshot of the client as it was when authenticated.
class AuthenticatedClient {
 public:
  const Client& client() const { return *client_; }
  const std::string& id() const { return client_->id; }
  const std::string& auth_method() const { return auth_method_; }

 private:
  friend class ClientRegistry;
  AuthenticatedClient(std::shared_ptr<const Client> client, std::string auth_method)
      : client_(std::move(client)), auth_method_(std::move(auth_method)) {}
  std::shared_ptr<const Client> client_;
  std::string auth_method_;
};

class ClientRegistry {
 public:
  // Reads every client from the store. The store must outlive the registry.
  static Result<std::unique_ptr<ClientRegistry>> load(ClientStore& store);

  // Registers a client, with a new 256-bit secret when one of its auth methods is a
  // client_secret_* one.
  // kInvalidArgument: bad id, name, attribute, scope, audience, auth method or keys;
  // kAlreadyExists: the id is taken; store errors as they come.
  Result<CreatedClient> create(NewClient request, TimePoint now);

  // From the cache. kNotFound when unknown.
  Result<Client> get(std::string_view id) const;
  // From the cache, ordered by id.
  std::vector<Client> list() const;

  // Enables or disables a client. Disabling takes effect at once for new tokens, for
  // authentication, and (through is_active) for introspection of tokens already issued.
  Result<Client> set_status(std::string_view id, ClientStatus status, TimePoint now);

  // Replaces the secret. The old secret stays valid until now + overlap (overlap 0: it
  // stops at once); a secret rotated out earlier is forgotten. kInvalidArgument for a
  // negative overlap, kNotFound for an unknown id.
  Result<SecretString> rotate_secret(std::string_view id, Seconds overlap, TimePoint now);

  // Replaces the client's public keys (at most one of jwks / jwks_uri, checked and
  // normalised as check_client_keys() does). Keys given: private_key_jwt is added to the
  // client's auth methods (keys are registered to authenticate with them). Both empty:
  // the keys are removed, which kFailedPrecondition refuses while the client allows
  // private_key_jwt. kInvalidArgument for bad keys, kNotFound for an unknown id.
  Result<Client> set_keys(std::string_view id, std::string_view jwks, std::string_view jwks_uri,
                          TimePoint now);

  // Replaces the client's RFC 8705 values (checked and normalised as
  // check_tls_client_auth() does). One of subject_dn / san_uri / san_dns given:
  // tls_client_auth is added to the client's auth methods, none: it is removed; likewise
  // self_signed_tls_client_auth with thumbprints. kFailedPrecondition when that would
  // leave the client no auth method at all, kInvalidArgument for bad values, kNotFound for
  // an unknown id.
  Result<Client> set_tls_auth(std::string_view id, std::string_view subject_dn,
                              std::string_view san_uri, std::string_view san_dns,
                              std::vector<std::string> thumbprints, TimePoint now);

  // Checks a client's credentials. Every failure is invalid_client with the same
  // description; `reason` tells them apart for the audit: "unknown_client", "bad_secret",
  // "expired_secret" (a rotated-out secret after its overlap), "client_disabled",
  // "auth_method_not_allowed".
  std::expected<AuthenticatedClient, Denial> authenticate(std::string_view client_id,
                                                          std::string_view secret,
                                                          std::string_view method,
                                                          TimePoint now) const;

  // Authenticates a client by a signed assertion (private_key_jwt). `verify` checks the
  // assertion against the client's record and keys and returns the denial when it does
  // not hold: `registered_keys` is the client's jwks, parsed once when the client was
  // cached (null when it registered none, or a jwks_uri instead). `verify` is called only
  // for a known client that allows private_key_jwt, and under no lock. Every failure is
  // invalid_client; reasons "unknown_client", "auth_method_not_allowed", "client_disabled"
  // (checked after `verify`, as the secret is checked before the status above), or
  // verify's own.
  using AssertionVerifier = std::function<std::expected<void, Denial>(
      const Client& client, const jose::JwkSet* registered_keys)>;
  std::expected<AuthenticatedClient, Denial> authenticate_assertion(
      std::string_view client_id, const AssertionVerifier& verify) const;

  // Authenticates a client by the certificate of its mutual-TLS connection (RFC 8705 §2).
  // `match` checks the certificate against the client's registered values and returns
  // the method it authenticates with (kTlsClientAuth or kSelfSignedTlsClientAuth), or the
  // denial; it is called only for a known client that allows one of the two, and under
  // no lock. Every failure is invalid_client; reasons "unknown_client",
  // "auth_method_not_allowed", "client_disabled" (checked after `match`), or match's own.
  using CertificateMatcher = std::function<std::expected<std::string_view, Denial>(const Client&)>;
  std::expected<AuthenticatedClient, Denial> authenticate_certificate(
      std::string_view client_id, const CertificateMatcher& match) const;

  // True when the client exists and is enabled.
  bool is_active(std::string_view client_id) const;

  // Re-reads every client from the store.
  Result<void> reload();

  // For changes written to the store by someone else, in one transaction with their own
  // records: holds off every other change through the registry, passes `write` the
  // clients as they are now (ordered by id), and, when `write` returns the batch it wrote,
  // puts that batch into the cache. So a batch is computed from clients that nobody
  // changes meanwhile (a client disabled during a policy apply stays disabled), and the
  // cache never lags behind a committed batch. When `write` fails, its error is returned
  // and the cache is unchanged. `write` must not call the registry's changing methods.
  Result<void> write_batch(
      const std::function<Result<ClientBatch>(const std::vector<Client>&)>& write);

  ClientRegistry(const ClientRegistry&) = delete;
  ClientRegistry& operator=(const ClientRegistry&) = delete;

 private:
  // A cached client and its registered JWKS, parsed (null when it has none).
  struct Cached {
    std::shared_ptr<const Client> client;
    std::shared_ptr<const jose::JwkSet> keys;
  };
  using ClientMap = std::map<std::string, Cached, std::less<>>;

  explicit ClientRegistry(ClientStore& store) : store_(store) {}
  static Cached make_cached(Client client);
  std::optional<Cached> find_cached(std::string_view id) const;
  std::shared_ptr<const Client> find(std::string_view id) const;
  void put(Client client);

  ClientStore& store_;

  // Serialises changes (read from the cache, write to the store, update the cache).
  std::mutex write_mu_;

  mutable std::shared_mutex cache_mu_;
  ClientMap clients_;  // guarded by cache_mu_
};

}  // namespace sigil::oauth
