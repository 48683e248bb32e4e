#include "oauth/client_registry.hpp"

#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <boost/url/parse.hpp>

#include <algorithm>

#include "base/base64url.hpp"
#include "base/secrets.hpp"
#include "crypto/digest.hpp"
#include "jose/jwk.hpp"
#include "oauth/validation.hpp"
#include "policy/policy.hpp"

namespace sigil::oauth {

namespace {

constexpr std::size_t kMaxNameBytes = 200;
constexpr std::size_t kMaxAttributes = 64;
constexpr std::size_t kMaxAttributeKeyBytes = 64;
constexpr std::size_t kMaxAttributeValueBytes = 1024;
constexpr std::size_t kMaxListEntries = 256;
constexpr std::string_view kAuthFailed = "client authentication failed";
// 16 keys of the largest RSA size fit with room to spare.
constexpr std::size_t kMaxClientJwksBytes = 64 * 1024;

bool is_printable_utf8_free_text(std::string_view s) {
  // Names and attribute values are shown in tables and logs: no control characters.
  return std::none_of(s.begin(), s.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u < 0x20 || u == 0x7F;
  });
}

std::string generate_client_id() {
  static constexpr char kAlphabet[] = "abcdefghijklmnopqrstuvwxyz234567";
  const std::string raw = random_bytes(16);
  std::string id = "cl_";
  for (char c : raw) id += kAlphabet[static_cast<unsigned char>(c) % 32];  // 256 % 32 == 0
  return id;
}

Result<void> sort_unique(std::vector<std::string>& values, bool (*valid)(std::string_view),
                         std::string_view what) {
  if (values.size() > kMaxListEntries) {
    return std::unexpected(Error::invalid_argument("too many " + std::string(what)));
  }
  for (const auto& v : values) {
    if (!valid(v)) {
      return std::unexpected(
          Error::invalid_argument("invalid " + std::string(what) + " \"" + v + "\""));
    }
  }
  std::sort(values.begin(), values.end());
  values.erase(std::unique(values.begin(), values.end()), values.end());
  return Ok();
}

bool is_known_auth_method(std::string_view m) {
  return m == kClientSecretBasic || m == kClientSecretPost || m == kPrivateKeyJwt ||
         m == kTlsClientAuth || m == kSelfSignedTlsClientAuth;
}

// RFC 8705 §3.1: "x5t#S256" of a certificate, base64url of its SHA-256: 43 characters.
bool is_certificate_thumbprint(std::string_view text) {
  if (text.size() != 43) return false;
  const auto digest = base64url_decode(text);
  return digest && digest->size() == 32;
}

bool is_printable_ascii(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u >= 0x20 && u <= 0x7E;
  });
}

bool has_tls_value(std::string_view subject_dn, std::string_view san_uri,
                   std::string_view san_dns) {
  return !subject_dn.empty() || !san_uri.empty() || !san_dns.empty();
}

bool allows(const std::vector<std::string>& methods, std::string_view method) {
  return std::find(methods.begin(), methods.end(), method) != methods.end();
}

// Why `uri` may not be a client's jwks_uri, or "" when it may.
std::string jwks_uri_problem(std::string_view uri) {
  if (!is_valid_audience(uri)) {
    return "is not a URL: use 1 to 2048 printable ASCII characters without spaces";
  }
  auto parsed = boost::urls::parse_absolute_uri(uri);
  if (!parsed) return "is not an absolute URL";
  if (parsed->has_userinfo()) return "carries a user name (...@): leave it out";
  if (parsed->encoded_host().empty()) return "has no host";
  const auto scheme = parsed->scheme_id();
  if (scheme == boost::urls::scheme::https) return "";
  if (scheme != boost::urls::scheme::http) return "is not an https URL";
  const std::string_view host = parsed->encoded_host();  // an IPv6 address in brackets
  if (host == "127.0.0.1" || host == "localhost" || host == "[::1]") return "";
  return "uses http, which is allowed only for a loopback host (127.0.0.1, localhost, [::1]): "
         "use https";
}

// Members that only a private (or symmetric) key has (RFC 7518 §6.2.2, §6.3.2, §6.4.1;
// RFC 8037 §2).
constexpr std::string_view kPrivateMembers[] = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"};

}  // namespace

std::vector<std::string> default_auth_methods(bool has_keys) {
  if (has_keys) return {std::string(kPrivateKeyJwt)};
  return {std::string(kClientSecretBasic), std::string(kClientSecretPost)};
}

bool uses_client_secret(const std::vector<std::string>& methods) {
  return allows(methods, kClientSecretBasic) || allows(methods, kClientSecretPost);
}

Result<std::string> check_client_keys(std::string_view jwks, std::string_view jwks_uri) {
  auto bad = [](std::string what) { return std::unexpected(Error::invalid_argument(what)); };
  // RFC 7591 §2: "The "jwks_uri" and "jwks" parameters MUST NOT both be present in the
  // same request or response."
  if (!jwks.empty() && !jwks_uri.empty()) return bad("give jwks or jwks_uri, not both");
  if (!jwks_uri.empty()) {
    if (auto problem = jwks_uri_problem(jwks_uri); !problem.empty()) {
      return bad("jwks_uri " + problem);
    }
  }
  if (jwks.empty()) return std::string();
  if (jwks.size() > kMaxClientJwksBytes) {
    return bad("jwks is over " + std::to_string(kMaxClientJwksBytes / 1024) + " KiB");
  }

  // Look at the raw members first: JwkSet::parse would import a private key, and skip a
  // key it cannot use, where a registration must refuse both.
  boost::system::error_code ec;
  const boost::json::value doc = boost::json::parse(jwks, ec);
  const boost::json::value* keys =
      ec || !doc.is_object() ? nullptr : doc.as_object().if_contains("keys");
  if (keys == nullptr || !keys->is_array()) return bad("jwks is not a JWKS ({\"keys\":[...]})");
  const auto& entries = keys->as_array();
  if (entries.empty()) return bad("jwks holds no key");
  if (entries.size() > kMaxClientKeys) {
    return bad("jwks holds more than " + std::to_string(kMaxClientKeys) + " keys");
  }
  for (const auto& entry : entries) {
    if (!entry.is_object()) return bad("jwks holds an entry that is not a JSON object");
    for (std::string_view member : kPrivateMembers) {
      if (entry.as_object().contains(member)) {
        return bad("jwks holds a private key (member \"" + std::string(member) +
                   "\"): register the public key only");
      }
    }
  }
  auto set = jose::JwkSet::parse(jwks);
  if (!set) return bad("jwks: " + set.error().message);
  if (set->keys().size() != entries.size()) {
    return bad(
        "jwks holds a key sigil cannot verify with: use EC P-256 or P-384, Ed25519, or RSA with "
        "\"alg\" RS256 or PS256, for signatures");
  }
  return set->to_json();
}

Result<void> check_tls_client_auth(std::string_view subject_dn, std::string_view san_uri,
                                   std::string_view san_dns,
                                   std::vector<std::string>& thumbprints) {
  auto bad = [](std::string what) { return std::unexpected(Error::invalid_argument(what)); };
  // RFC 8705 §2.1.2: "A client using the tls_client_auth authentication method MUST use
  // exactly one of the below metadata parameters to indicate the certificate subject
  // value that the authorization server is to expect when authenticating the respective
  // client."
  const int given = !subject_dn.empty() + !san_uri.empty() + !san_dns.empty();
  if (given > 1) {
    return bad(
        "give one of tls_client_auth_subject_dn, tls_client_auth_san_uri and "
        "tls_client_auth_san_dns, not several");
  }
  if (!subject_dn.empty() &&
      (subject_dn.size() > kMaxSubjectDnBytes || !is_printable_ascii(subject_dn))) {
    return bad("tls_client_auth_subject_dn must be 1 to " + std::to_string(kMaxSubjectDnBytes) +
               " printable ASCII characters, as in CN=billing,O=Example (RFC 4514)");
  }
  if (!san_uri.empty() &&
      (!is_valid_audience(san_uri) || !boost::urls::parse_absolute_uri(san_uri))) {
    return bad(
        "tls_client_auth_san_uri must be an absolute URI of at most 2048 characters without "
        "white space, such as spiffe://example.org/billing");
  }
  if (!san_dns.empty() && !policy::is_valid_dns_name(san_dns)) {
    return bad("tls_client_auth_san_dns must be a lowercase DNS name, such as billing.internal");
  }
  for (const auto& thumbprint : thumbprints) {
    if (!is_certificate_thumbprint(thumbprint)) {
      return bad(
          "tls_client_certificates holds something that is not a certificate thumbprint "
          "(x5t#S256: 43 base64url characters of a SHA-256 digest)");
    }
  }
  std::sort(thumbprints.begin(), thumbprints.end());
  thumbprints.erase(std::unique(thumbprints.begin(), thumbprints.end()), thumbprints.end());
  if (thumbprints.size() > kMaxClientCertificates) {
    return bad("tls_client_certificates holds more than " + std::to_string(kMaxClientCertificates) +
               " certificates");
  }
  return Ok();
}

Result<void> validate_new_client(NewClient& request) {
  if (request.id && !is_valid_client_id(*request.id)) {
    return std::unexpected(Error::invalid_argument(
        "invalid client id: use 1 to 63 of [a-z0-9._-], starting with a letter or digit"));
  }
  if (request.name.size() > kMaxNameBytes || !is_printable_utf8_free_text(request.name)) {
    return std::unexpected(Error::invalid_argument("invalid client name"));
  }
  if (request.attributes.size() > kMaxAttributes) {
    return std::unexpected(Error::invalid_argument("too many attributes"));
  }
  for (const auto& [key, value] : request.attributes) {
    if (key.empty() || key.size() > kMaxAttributeKeyBytes || !is_printable_utf8_free_text(key) ||
        value.size() > kMaxAttributeValueBytes || !is_printable_utf8_free_text(value)) {
      return std::unexpected(Error::invalid_argument("invalid attribute \"" + key + "\""));
    }
  }
  SIGIL_CHECK(sort_unique(request.allowed_scopes, is_valid_scope_token, "scope"));
  SIGIL_CHECK(sort_unique(request.allowed_audiences, is_valid_audience, "audience"));
  SIGIL_TRY(jwks, check_client_keys(request.jwks, request.jwks_uri));
  request.jwks = std::move(jwks);
  SIGIL_CHECK(
      check_tls_client_auth(request.tls_client_auth_subject_dn, request.tls_client_auth_san_uri,
                            request.tls_client_auth_san_dns, request.tls_client_certificates));
  const bool has_keys = !request.jwks.empty() || !request.jwks_uri.empty();
  const bool has_tls_subject =
      has_tls_value(request.tls_client_auth_subject_dn, request.tls_client_auth_san_uri,
                    request.tls_client_auth_san_dns);
  const bool has_certificates = !request.tls_client_certificates.empty();
  if (request.auth_methods.empty()) {
    // The methods the request brings credentials for; a secret only when it brings none.
    if (has_keys) request.auth_methods.emplace_back(kPrivateKeyJwt);
    if (has_tls_subject) request.auth_methods.emplace_back(kTlsClientAuth);
    if (has_certificates) request.auth_methods.emplace_back(kSelfSignedTlsClientAuth);
    if (request.auth_methods.empty()) request.auth_methods = default_auth_methods(false);
  }
  SIGIL_CHECK(sort_unique(request.auth_methods, is_known_auth_method, "auth method"));
  if (!has_keys && allows(request.auth_methods, kPrivateKeyJwt)) {
    return std::unexpected(Error::invalid_argument(
        "private_key_jwt needs the client's public keys: jwks or jwks_uri"));
  }
  const bool tls = allows(request.auth_methods, kTlsClientAuth);
  if (tls && !has_tls_subject) {
    return std::unexpected(Error::invalid_argument(
        "tls_client_auth needs the value the client's certificate carries: one of "
        "tls_client_auth_subject_dn, tls_client_auth_san_uri and tls_client_auth_san_dns"));
  }
  if (!tls && has_tls_subject) {
    return std::unexpected(Error::invalid_argument(
        "tls_client_auth_subject_dn, tls_client_auth_san_uri and tls_client_auth_san_dns are "
        "for tls_client_auth, which the client's auth methods do not include"));
  }
  const bool self_signed = allows(request.auth_methods, kSelfSignedTlsClientAuth);
  if (self_signed && !has_certificates) {
    return std::unexpected(Error::invalid_argument(
        "self_signed_tls_client_auth needs the thumbprints of the client's certificates: "
        "tls_client_certificates"));
  }
  if (!self_signed && has_certificates) {
    return std::unexpected(Error::invalid_argument(
        "tls_client_certificates are for self_signed_tls_client_auth, which the client's auth "
        "methods do not include"));
  }
  return Ok();
}

ClientSecret make_client_secret() {
  SecretString secret(random_secret());
  // A 256-bit random secret needs no slow hash: SHA-256 cannot be brute-forced back.
  SecretDigest digest{crypto::sha256(secret.reveal()), std::nullopt};
  return ClientSecret{std::move(secret), std::move(digest)};
}

Result<std::unique_ptr<ClientRegistry>> ClientRegistry::load(ClientStore& store) {
  std::unique_ptr<ClientRegistry> registry(new ClientRegistry(store));
  SIGIL_CHECK(registry->reload());
  return registry;
}

Result<void> ClientRegistry::reload() {
  std::lock_guard write(write_mu_);
  SIGIL_TRY(clients, store_.list_clients());
  ClientMap fresh;
  for (auto& c : clients) {
    std::string id = c.id;
    fresh.emplace(std::move(id), make_cached(std::move(c)));
  }
  std::unique_lock lock(cache_mu_);
  clients_.swap(fresh);
  return Ok();
}

Result<void> ClientRegistry::write_batch(
    const std::function<Result<ClientBatch>(const std::vector<Client>&)>& write) {
  std::lock_guard write_lock(write_mu_);
  SIGIL_TRY(batch, write(list()));
  std::unique_lock lock(cache_mu_);
  for (const auto& id : batch.remove) {
    auto it = clients_.find(id);
    if (it != clients_.end()) clients_.erase(it);
  }
  for (auto* written : {&batch.create, &batch.update}) {
    for (auto& client : *written) {
      std::string id = client.id;
      clients_.insert_or_assign(std::move(id), make_cached(std::move(client)));
    }
  }
  return Ok();
}

ClientRegistry::Cached ClientRegistry::make_cached(Client client) {
  Cached cached;
  if (!client.jwks.empty()) {
    // Checked when it was registered; a stored set that no longer parses (a damaged
    // store) leaves the client without keys rather than stopping every client.
    if (auto set = jose::JwkSet::parse(client.jwks)) {
      cached.keys = std::make_shared<const jose::JwkSet>(std::move(*set));
    }
  }
  cached.client = std::make_shared<const Client>(std::move(client));
  return cached;
}

std::optional<ClientRegistry::Cached> ClientRegistry::find_cached(std::string_view id) const {
  std::shared_lock lock(cache_mu_);
  auto it = clients_.find(id);
  if (it == clients_.end()) return std::nullopt;
  return it->second;
}

std::shared_ptr<const Client> ClientRegistry::find(std::string_view id) const {
  std::shared_lock lock(cache_mu_);
  auto it = clients_.find(id);
  return it == clients_.end() ? nullptr : it->second.client;
}

void ClientRegistry::put(Client client) {
  Cached entry = make_cached(std::move(client));
  std::string id = entry.client->id;
  std::unique_lock lock(cache_mu_);
  clients_.insert_or_assign(std::move(id), std::move(entry));
}

Result<CreatedClient> ClientRegistry::create(NewClient request, TimePoint now) {
  SIGIL_CHECK(validate_new_client(request));
  std::lock_guard write(write_mu_);
  Client client;
  client.id = request.id ? *request.id : generate_client_id();
  if (find(client.id)) {
    return std::unexpected(Error::already_exists("client \"" + client.id + "\" exists already"));
  }
  client.name = request.name.empty() ? client.id : std::move(request.name);
  client.attributes = std::move(request.attributes);
  client.allowed_scopes = std::move(request.allowed_scopes);
  client.allowed_audiences = std::move(request.allowed_audiences);
  client.auth_methods = std::move(request.auth_methods);
  client.jwks = std::move(request.jwks);
  client.jwks_uri = std::move(request.jwks_uri);
  client.tls_client_auth_subject_dn = std::move(request.tls_client_auth_subject_dn);
  client.tls_client_auth_san_uri = std::move(request.tls_client_auth_san_uri);
  client.tls_client_auth_san_dns = std::move(request.tls_client_auth_san_dns);
  client.tls_client_certificates = std::move(request.tls_client_certificates);
  client.status = ClientStatus::kActive;
  // A client that authenticates with its keys alone gets no secret: one that nothing
  // accepts would only be something more to leak.
  SecretString shown;
  if (uses_client_secret(client.auth_methods)) {
    ClientSecret secret = make_client_secret();
    client.secret = std::move(secret.digest);
    shown = std::move(secret.secret);
  }
  client.created_at = now;
  client.updated_at = now;
  SIGIL_CHECK(store_.create_client(client));
  put(client);
  return CreatedClient{std::move(client), std::move(shown)};
}

Result<Client> ClientRegistry::get(std::string_view id) const {
  auto client = find(id);
  if (!client) return std::unexpected(Error::not_found("no client \"" + std::string(id) + "\""));
  return *client;
}

std::vector<Client> ClientRegistry::list() const {
  std::shared_lock lock(cache_mu_);
  std::vector<Client> out;
  out.reserve(clients_.size());
  for (const auto& [id, cached] : clients_) out.push_back(*cached.client);
  return out;
}

Result<Client> ClientRegistry::set_status(std::string_view id, ClientStatus status, TimePoint now) {
  std::lock_guard write(write_mu_);
  auto current = find(id);
  if (!current) return std::unexpected(Error::not_found("no client \"" + std::string(id) + "\""));
  Client client = *current;
  client.status = status;
  client.updated_at = now;
  SIGIL_CHECK(store_.update_client(client));
  put(client);
  return client;
}

Result<SecretString> ClientRegistry::rotate_secret(std::string_view id, Seconds overlap,
                                                   TimePoint now) {
  if (overlap < Seconds{0}) {
    return std::unexpected(Error::invalid_argument("the overlap must not be negative"));
  }
  std::lock_guard write(write_mu_);
  auto current = find(id);
  if (!current) return std::unexpected(Error::not_found("no client \"" + std::string(id) + "\""));
  Client client = *current;
  ClientSecret secret = make_client_secret();
  if (overlap > Seconds{0}) {
    client.previous_secret = SecretDigest{client.secret.sha256, now + overlap};
  } else {
    client.previous_secret.reset();
  }
  client.secret = std::move(secret.digest);
  client.updated_at = now;
  SIGIL_CHECK(store_.update_client(client));
  put(std::move(client));
  return std::move(secret.secret);
}

Result<Client> ClientRegistry::set_keys(std::string_view id, std::string_view jwks,
                                        std::string_view jwks_uri, TimePoint now) {
  SIGIL_TRY(normalised, check_client_keys(jwks, jwks_uri));
  std::lock_guard write(write_mu_);
  auto current = find(id);
  if (!current) return std::unexpected(Error::not_found("no client \"" + std::string(id) + "\""));
  Client client = *current;
  const bool has_keys = !normalised.empty() || !jwks_uri.empty();
  if (!has_keys && allows(client.auth_methods, kPrivateKeyJwt)) {
    return std::unexpected(
        Error::failed_precondition("client \"" + client.id +
                                   "\" authenticates with private_key_jwt: its keys cannot be "
                                   "removed"));
  }
  client.jwks = std::move(normalised);
  client.jwks_uri = std::string(jwks_uri);
  if (has_keys && !allows(client.auth_methods, kPrivateKeyJwt)) {
    client.auth_methods.emplace_back(kPrivateKeyJwt);
    std::sort(client.auth_methods.begin(), client.auth_methods.end());
  }
  client.updated_at = now;
  SIGIL_CHECK(store_.update_client(client));
  put(client);
  return client;
}

Result<Client> ClientRegistry::set_tls_auth(std::string_view id, std::string_view subject_dn,
                                            std::string_view san_uri, std::string_view san_dns,
                                            std::vector<std::string> thumbprints, TimePoint now) {
  SIGIL_CHECK(check_tls_client_auth(subject_dn, san_uri, san_dns, thumbprints));
  std::lock_guard write(write_mu_);
  auto current = find(id);
  if (!current) return std::unexpected(Error::not_found("no client \"" + std::string(id) + "\""));
  Client client = *current;
  auto set_method = [&client](std::string_view method, bool on) {
    std::erase(client.auth_methods, method);
    if (on) client.auth_methods.emplace_back(method);
  };
  set_method(kTlsClientAuth, has_tls_value(subject_dn, san_uri, san_dns));
  set_method(kSelfSignedTlsClientAuth, !thumbprints.empty());
  if (client.auth_methods.empty()) {
    return std::unexpected(Error::failed_precondition(
        "client \"" + client.id +
        "\" authenticates only with certificates: give it a certificate subject or thumbprint, "
        "or another method first"));
  }
  std::sort(client.auth_methods.begin(), client.auth_methods.end());
  client.tls_client_auth_subject_dn = std::string(subject_dn);
  client.tls_client_auth_san_uri = std::string(san_uri);
  client.tls_client_auth_san_dns = std::string(san_dns);
  client.tls_client_certificates = std::move(thumbprints);
  client.updated_at = now;
  SIGIL_CHECK(store_.update_client(client));
  put(client);
  return client;
}

std::expected<AuthenticatedClient, Denial> ClientRegistry::authenticate_certificate(
    std::string_view client_id, const CertificateMatcher& match) const {
  auto deny = [](std::string reason) {
    return std::unexpected(
        Denial{OAuthError::kInvalidClient, std::string(kAuthFailed), std::move(reason)});
  };
  auto client = find(client_id);
  if (!client) return deny("unknown_client");
  if (!allows(client->auth_methods, kTlsClientAuth) &&
      !allows(client->auth_methods, kSelfSignedTlsClientAuth)) {
    return deny("auth_method_not_allowed");
  }
  auto method = match(*client);
  if (!method) return std::unexpected(std::move(method.error()));
  if (*method != kTlsClientAuth && *method != kSelfSignedTlsClientAuth) {
    return deny("auth_method_not_allowed");
  }
  if (!allows(client->auth_methods, *method)) return deny("auth_method_not_allowed");
  if (client->status != ClientStatus::kActive) return deny("client_disabled");
  return AuthenticatedClient(std::move(client), std::string(*method));
}

std::expected<AuthenticatedClient, Denial> ClientRegistry::authenticate_assertion(
    std::string_view client_id, const AssertionVerifier& verify) const {
  auto deny = [](std::string reason) {
    return std::unexpected(
        Denial{OAuthError::kInvalidClient, std::string(kAuthFailed), std::move(reason)});
  };
  // A snapshot: the client may change while its keys are being fetched.
  auto cached = find_cached(client_id);
  if (!cached) return deny("unknown_client");
  const Client& client = *cached->client;
  if (!allows(client.auth_methods, kPrivateKeyJwt)) return deny("auth_method_not_allowed");
  if (auto verified = verify(client, cached->keys.get()); !verified) {
    return std::unexpected(std::move(verified.error()));
  }
  if (client.status != ClientStatus::kActive) return deny("client_disabled");
  return AuthenticatedClient(std::move(cached->client), std::string(kPrivateKeyJwt));
}

std::expected<AuthenticatedClient, Denial> ClientRegistry::authenticate(std::string_view client_id,
                                                                        std::string_view secret,
                                                                        std::string_view method,
                                                                        TimePoint now) const {
  auto deny = [](std::string reason) {
    return std::unexpected(
        Denial{OAuthError::kInvalidClient, std::string(kAuthFailed), std::move(reason)});
  };
  // Hash before the lookup so that unknown and known ids cost the same.
  const std::string digest = crypto::sha256(secret);
  auto client = find(client_id);
  if (!client) return deny("unknown_client");

  bool current = constant_time_equal(digest, client->secret.sha256);
  bool previous =
      client->previous_secret && constant_time_equal(digest, client->previous_secret->sha256);
  if (!current && !previous) return deny("bad_secret");
  // A previous secret without an end date is refused: the overlap must be bounded.
  if (!current &&
      (!client->previous_secret->expires_at || now >= *client->previous_secret->expires_at)) {
    return deny("expired_secret");
  }
  if (client->status != ClientStatus::kActive) return deny("client_disabled");
  if (std::find(client->auth_methods.begin(), client->auth_methods.end(), method) ==
      client->auth_methods.end()) {
    return deny("auth_method_not_allowed");
  }
  return AuthenticatedClient(std::move(client), std::string(method));
}

bool ClientRegistry::is_active(std::string_view client_id) const {
  auto client = find(client_id);
  return client && client->status == ClientStatus::kActive;
}

}  // namespace sigil::oauth
