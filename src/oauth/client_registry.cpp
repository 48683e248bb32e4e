#include "oauth/client_registry.hpp"

#include <algorithm>

#include "base/secrets.hpp"
#include "crypto/digest.hpp"
#include "oauth/validation.hpp"

namespace sigil::oauth {

namespace {

constexpr std::size_t kMaxNameBytes = 200;
constexpr std::size_t kMaxAttributes = 64;
constexpr std::size_t kMaxAttributeKeyBytes = 64;
constexpr std::size_t kMaxAttributeValueBytes = 1024;
constexpr std::size_t kMaxListEntries = 256;
constexpr std::string_view kAuthFailed = "client authentication failed";

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
  return m == kClientSecretBasic || m == kClientSecretPost;
}

}  // namespace

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
  if (request.auth_methods.empty()) {
    request.auth_methods = {std::string(kClientSecretBasic), std::string(kClientSecretPost)};
  }
  SIGIL_CHECK(sort_unique(request.auth_methods, is_known_auth_method, "auth method"));
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
    fresh.emplace(std::move(id), std::make_shared<const Client>(std::move(c)));
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
      clients_.insert_or_assign(std::move(id), std::make_shared<const Client>(std::move(client)));
    }
  }
  return Ok();
}

std::shared_ptr<const Client> ClientRegistry::find(std::string_view id) const {
  std::shared_lock lock(cache_mu_);
  auto it = clients_.find(id);
  return it == clients_.end() ? nullptr : it->second;
}

void ClientRegistry::put(Client client) {
  auto entry = std::make_shared<const Client>(std::move(client));
  std::unique_lock lock(cache_mu_);
  clients_.insert_or_assign(entry->id, std::move(entry));
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
  client.status = ClientStatus::kActive;
  ClientSecret secret = make_client_secret();
  client.secret = std::move(secret.digest);
  client.created_at = now;
  client.updated_at = now;
  SIGIL_CHECK(store_.create_client(client));
  put(client);
  return CreatedClient{std::move(client), std::move(secret.secret)};
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
  for (const auto& [id, client] : clients_) out.push_back(*client);
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
