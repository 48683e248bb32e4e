#include "apikeys/service.hpp"

#include <algorithm>
#include <cmath>
#include <functional>

#include <boost/json.hpp>

#include "apikeys/key_format.hpp"
#include "base/scope.hpp"
#include "crypto/digest.hpp"

namespace sigil::apikeys {

namespace {

constexpr Seconds kLastUseResolution{60};
constexpr std::size_t kMaxOwnerBytes = 256;
constexpr std::size_t kMaxNameBytes = 200;
constexpr std::size_t kMaxScopes = 256;
constexpr std::size_t kMaxMetadataBytes = 4096;
constexpr std::int64_t kMaxRateLimit = 1'000'000'000;
constexpr Seconds kMaxRateWindow{86'400};
constexpr std::size_t kMaxKeySpaceIdBytes = 63;
constexpr std::size_t kMaxPageSize = 1000;

// Owners are the SaaS's customer ids: printable ASCII, shown in tables and logs.
bool is_valid_owner(std::string_view owner) {
  return !owner.empty() && owner.size() <= kMaxOwnerBytes &&
         std::all_of(owner.begin(), owner.end(), [](char c) { return c >= 0x20 && c <= 0x7E; });
}

// Free text without control characters (names are shown in tables and logs).
bool is_valid_name(std::string_view name) {
  return name.size() <= kMaxNameBytes && std::none_of(name.begin(), name.end(), [](char c) {
           const auto u = static_cast<unsigned char>(c);
           return u < 0x20 || u == 0x7F;
         });
}

// [a-z0-9][a-z0-9_-]{0,62}
bool is_valid_key_space_id(std::string_view id) {
  if (id.empty() || id.size() > kMaxKeySpaceIdBytes) return false;
  const auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  if (!alnum(id[0])) return false;
  return std::all_of(id.begin(), id.end(),
                     [&](char c) { return alnum(c) || c == '_' || c == '-'; });
}

Result<void> normalise_scopes(std::vector<std::string>& scopes) {
  if (scopes.size() > kMaxScopes)
    return std::unexpected(Error::invalid_argument("too many scopes"));
  for (const auto& s : scopes) {
    if (!is_valid_scope_token(s)) {
      return std::unexpected(
          Error::invalid_argument("invalid scope: use RFC 6749 scope tokens (no spaces, quotes "
                                  "or backslashes)"));
    }
  }
  std::sort(scopes.begin(), scopes.end());
  scopes.erase(std::unique(scopes.begin(), scopes.end()), scopes.end());
  return Ok();
}

// Parses the metadata and returns it serialised (compact), which is what is stored.
Result<std::string> normalise_metadata(std::string_view text) {
  // Anything much larger than the limit cannot shrink under it; do not parse it.
  if (text.size() > 4 * kMaxMetadataBytes) {
    return std::unexpected(Error::invalid_argument("metadata is larger than 4 KiB"));
  }
  try {
    boost::system::error_code ec;
    boost::json::value value = boost::json::parse(text, ec);
    if (ec || !value.is_object()) {
      return std::unexpected(Error::invalid_argument("metadata must be a JSON object"));
    }
    std::string out = boost::json::serialize(value);
    if (out.size() > kMaxMetadataBytes) {
      return std::unexpected(Error::invalid_argument("metadata is larger than 4 KiB"));
    }
    return out;
  } catch (const std::exception&) {
    return std::unexpected(Error::invalid_argument("metadata must be a JSON object"));
  }
}

Result<void> check_remaining(const std::optional<std::int64_t>& remaining) {
  if (remaining && *remaining < 0) {
    return std::unexpected(Error::invalid_argument("remaining must be 0 or more"));
  }
  return Ok();
}

Result<void> check_rate_limit(const std::optional<RateLimit>& limit) {
  if (!limit) return Ok();
  if (limit->limit < 1 || limit->limit > kMaxRateLimit) {
    return std::unexpected(Error::invalid_argument("rate limit must be 1 to 1000000000 requests"));
  }
  if (limit->window < Seconds{1} || limit->window > kMaxRateWindow) {
    return std::unexpected(Error::invalid_argument("rate limit window must be 1 s to 1 day"));
  }
  return Ok();
}

Result<void> check_expiry(const std::optional<TimePoint>& expires_at, TimePoint now) {
  if (expires_at && *expires_at <= now) {
    return std::unexpected(Error::invalid_argument("expiry is in the past"));
  }
  return Ok();
}

// "key_" + 20 base32 characters: 100 random bits.
std::string generate_key_id() {
  static constexpr char kAlphabet[] = "abcdefghijklmnopqrstuvwxyz234567";
  const std::string raw = random_bytes(20);
  std::string id = "key_";
  for (char c : raw) id += kAlphabet[static_cast<unsigned char>(c) % 32];  // 256 % 32 == 0
  return id;
}

Error no_key(std::string_view id) {
  return Error::not_found("no API key \"" + std::string(id) + "\"");
}

// A new key of `space` with the fields of `key` (id, digest, start and times replaced).
ApiKey fresh_key(ApiKey key, const KeySpace& space, const std::string& text, TimePoint now) {
  key.id = generate_key_id();
  key.key_space = space.id;
  // A 256-bit random key needs no slow hash: SHA-256 cannot be brute-forced back.
  key.digest = crypto::sha256(text);
  key.start = key_start(text);
  key.created_at = now;
  key.updated_at = now;
  key.last_used_at.reset();
  key.grace_until.reset();
  key.rotated_from.reset();
  return key;
}

}  // namespace

std::string_view to_string(VerifyCode code) {
  switch (code) {
    case VerifyCode::kValid:
      return "valid";
    case VerifyCode::kMalformed:
      return "malformed";
    case VerifyCode::kBadChecksum:
      return "bad_checksum";
    case VerifyCode::kUnknown:
      return "unknown";
    case VerifyCode::kExpired:
      return "expired";
    case VerifyCode::kDisabled:
      return "disabled";
    case VerifyCode::kRevoked:
      return "revoked";
    case VerifyCode::kRateLimited:
      return "rate_limited";
    case VerifyCode::kNoCredits:
      return "no_credits";
    case VerifyCode::kMissingScope:
      return "missing_scope";
  }
  return "unknown";
}

Result<std::unique_ptr<ApiKeyService>> ApiKeyService::load(KeySpaceStore& spaces,
                                                           ApiKeyStore& keys) {
  std::unique_ptr<ApiKeyService> service(new ApiKeyService(spaces, keys));
  SIGIL_TRY(all_spaces, spaces.list_key_spaces());
  for (auto& s : all_spaces) {
    std::string id = s.id;
    service->key_spaces_.emplace(std::move(id), std::move(s));
  }
  SIGIL_CHECK(keys.for_each_api_key([&](ApiKey&& key) {
    // A record without a whole SHA-256 digest can never match a presented key.
    if (key.digest.size() != std::tuple_size_v<Digest>) return true;
    const Digest digest = to_digest(key.digest);
    service->digest_by_id_.insert_or_assign(key.id, digest);
    service->by_digest_.insert_or_assign(digest,
                                         Entry{std::make_shared<const ApiKey>(std::move(key)), 0});
    return true;
  }));
  return service;
}

// Key spaces.

Result<KeySpace> ApiKeyService::create_key_space(KeySpace space, TimePoint now) {
  if (!is_valid_key_space_id(space.id)) {
    return std::unexpected(Error::invalid_argument(
        "invalid key space id: use 1 to 63 of [a-z0-9_-], starting with a letter or digit"));
  }
  if (!is_valid_prefix(space.prefix)) {
    return std::unexpected(Error::invalid_argument(
        "invalid key prefix: use [a-z][a-z0-9]{0,15}, optionally \"_\" and [a-z0-9]{1,16}"));
  }
  if (!is_valid_name(space.name)) {
    return std::unexpected(Error::invalid_argument("invalid key space name"));
  }
  if (space.name.empty()) space.name = space.id;
  space.created_at = now;
  std::lock_guard write(write_mu_);
  {
    std::shared_lock lock(cache_mu_);
    if (key_spaces_.contains(space.id)) {
      return std::unexpected(
          Error::already_exists("key space \"" + space.id + "\" exists already"));
    }
    for (const auto& [id, s] : key_spaces_) {
      if (s.prefix == space.prefix) {
        return std::unexpected(Error::already_exists("key prefix \"" + space.prefix +
                                                     "\" is used by key space \"" + id + "\""));
      }
    }
  }
  SIGIL_CHECK(spaces_.create_key_space(space));
  std::unique_lock lock(cache_mu_);
  key_spaces_.insert_or_assign(space.id, space);
  return space;
}

Result<KeySpace> ApiKeyService::get_key_space(std::string_view id) const {
  std::shared_lock lock(cache_mu_);
  auto it = key_spaces_.find(id);
  if (it == key_spaces_.end()) {
    return std::unexpected(Error::not_found("no key space \"" + std::string(id) + "\""));
  }
  return it->second;
}

std::vector<KeySpace> ApiKeyService::list_key_spaces() const {
  std::shared_lock lock(cache_mu_);
  std::vector<KeySpace> out;
  out.reserve(key_spaces_.size());
  for (const auto& [id, s] : key_spaces_) out.push_back(s);
  return out;
}

// The cache.

ApiKeyService::Digest ApiKeyService::to_digest(std::string_view raw) {
  Digest d{};
  std::memcpy(d.data(), raw.data(), std::min(raw.size(), d.size()));
  return d;
}

ApiKeyService::Entry ApiKeyService::find_by_digest(const Digest& digest) const {
  std::shared_lock lock(cache_mu_);
  auto it = by_digest_.find(digest);
  return it == by_digest_.end() ? Entry{} : it->second;
}

std::shared_ptr<const ApiKey> ApiKeyService::find_by_id(std::string_view id) const {
  std::shared_lock lock(cache_mu_);
  auto d = digest_by_id_.find(std::string(id));
  if (d == digest_by_id_.end()) return nullptr;
  auto it = by_digest_.find(d->second);
  return it == by_digest_.end() ? nullptr : it->second.key;
}

Result<ApiKey> ApiKeyService::read_for_change(std::string_view id) {
  if (!find_by_id(id)) return std::unexpected(no_key(id));
  return keys_.get_api_key(id);
}

void ApiKeyService::put(ApiKey key) {
  std::string id = key.id;
  const Digest digest = to_digest(key.digest);
  auto entry = std::make_shared<const ApiKey>(std::move(key));
  std::unique_lock lock(cache_mu_);
  digest_by_id_.insert_or_assign(std::move(id), digest);
  by_digest_.insert_or_assign(digest, Entry{std::move(entry), ++generation_});
}

void ApiKeyService::note_credits(const Entry& seen, std::int64_t remaining) {
  std::unique_lock lock(cache_mu_);
  auto it = by_digest_.find(to_digest(seen.key->digest));
  // Credits only go down on verify; a change made since (which may set them) wins.
  if (it == by_digest_.end() || it->second.generation != seen.generation) return;
  const ApiKey& current = *it->second.key;
  if (!current.remaining || *current.remaining <= remaining) return;
  auto copy = std::make_shared<ApiKey>(current);
  copy->remaining = remaining;
  it->second.key = std::move(copy);
}

// Rate limits and last use.

ApiKeyService::Stripe& ApiKeyService::stripe(std::string_view id) {
  return stripes_[std::hash<std::string_view>{}(id) % kStripes];
}

void ApiKeyService::drop_bucket(std::string_view id) {
  Stripe& s = stripe(id);
  std::lock_guard lock(s.mu);
  s.buckets.erase(std::string(id));
}

bool ApiKeyService::take_token(const ApiKey& key, TimePoint now, RateLimitState& state) {
  const RateLimit& limit = *key.rate_limit;
  const double capacity = static_cast<double>(limit.limit);
  const double per_second = capacity / static_cast<double>(limit.window.count());
  Stripe& s = stripe(key.id);
  std::lock_guard lock(s.mu);
  auto [it, inserted] = s.buckets.try_emplace(key.id);
  Bucket& b = it->second;
  if (inserted || b.limit.limit != limit.limit || b.limit.window != limit.window) {
    b = Bucket{limit, capacity, now};  // a new or changed limit starts with a full bucket
  } else if (now > b.updated_at) {
    const double elapsed = std::chrono::duration<double>(now - b.updated_at).count();
    b.tokens = std::min(capacity, b.tokens + elapsed * per_second);
    b.updated_at = now;
  }
  const bool allowed = b.tokens >= 1.0;
  if (allowed) b.tokens -= 1.0;
  state.limit = limit.limit;
  state.remaining = static_cast<std::int64_t>(std::floor(b.tokens));
  const double to_full = (capacity - b.tokens) / per_second;
  state.reset_at =
      now + std::chrono::duration_cast<TimePoint::duration>(std::chrono::duration<double>(to_full));
  return allowed;
}

void ApiKeyService::note_used(const std::string& id, TimePoint now) {
  Stripe& s = stripe(id);
  std::lock_guard lock(s.mu);
  auto [it, inserted] = s.last_used.try_emplace(id, now);
  if (!inserted && it->second < now) it->second = now;
}

Result<void> ApiKeyService::flush_last_used() {
  std::vector<std::pair<std::string, TimePoint>> uses;
  for (Stripe& s : stripes_) {
    std::lock_guard lock(s.mu);
    for (auto& [id, t] : s.last_used) uses.emplace_back(id, t);
    s.last_used.clear();
  }
  if (uses.empty()) return Ok();
  auto written = keys_.record_last_used(uses);
  if (!written) {
    // Keep them for the next flush rather than lose them.
    for (auto& [id, t] : uses) note_used(id, t);
    return std::unexpected(std::move(written).error());
  }
  // The cache learns the times too, so verify() knows when a key's last use is stale. In
  // slices, so verifications are not held up behind a long flush.
  constexpr std::size_t kSlice = 1024;
  for (std::size_t i = 0; i < uses.size(); i += kSlice) {
    std::unique_lock lock(cache_mu_);
    for (std::size_t j = i; j < std::min(uses.size(), i + kSlice); ++j) {
      const auto& [id, t] = uses[j];
      auto digest = digest_by_id_.find(id);
      if (digest == digest_by_id_.end()) continue;
      auto it = by_digest_.find(digest->second);
      if (it == by_digest_.end()) continue;
      const ApiKey& current = *it->second.key;
      if (current.last_used_at && *current.last_used_at >= t) continue;
      auto copy = std::make_shared<ApiKey>(current);
      copy->last_used_at = t;
      it->second.key = std::move(copy);
    }
  }
  return Ok();
}

// Verification.

Result<VerifyResult> ApiKeyService::verify(std::string_view presented,
                                           const std::vector<std::string>& required_scopes,
                                           std::optional<std::string_view> key_space,
                                           TimePoint now) {
  VerifyResult result;
  auto parsed = parse_key(presented);
  if (!parsed) {
    result.code = parsed.error() == FormatError::kBadChecksum ? VerifyCode::kBadChecksum
                                                              : VerifyCode::kMalformed;
    return result;
  }
  const Entry entry = find_by_digest(to_digest(crypto::sha256(presented)));
  if (!entry.key || (key_space && *key_space != entry.key->key_space)) {
    result.code = VerifyCode::kUnknown;
    return result;
  }
  const ApiKey& key = *entry.key;
  result.key = entry.key;
  result.remaining = key.remaining;
  const auto decide = [&]() -> Result<VerifyCode> {
    if (key.status == KeyStatus::kRevoked) return VerifyCode::kRevoked;
    if (key.status == KeyStatus::kDisabled) return VerifyCode::kDisabled;
    if ((key.expires_at && *key.expires_at <= now) ||
        (key.grace_until && *key.grace_until <= now)) {
      return VerifyCode::kExpired;
    }
    for (const auto& scope : required_scopes) {
      if (!std::binary_search(key.scopes.begin(), key.scopes.end(), scope)) {
        return VerifyCode::kMissingScope;
      }
    }
    if (key.rate_limit) {
      RateLimitState state;
      const bool allowed = take_token(key, now, state);
      result.rate_limit = state;
      if (!allowed) return VerifyCode::kRateLimited;
    }
    if (key.remaining) {
      auto left = keys_.consume_credit(key.id);
      if (!left) {
        if (left.error().code == Code::kResourceExhausted) {
          result.remaining = 0;
          note_credits(entry, 0);
          return VerifyCode::kNoCredits;
        }
        return std::unexpected(std::move(left).error());
      }
      result.remaining = *left;
      note_credits(entry, *left);
    }
    return VerifyCode::kValid;
  };
  SIGIL_TRY(code, decide());
  result.code = code;
  // Last use is kept to the minute: a busy key costs one write a minute, not one a second.
  if (code == VerifyCode::kValid &&
      (!key.last_used_at || now - *key.last_used_at >= kLastUseResolution)) {
    note_used(key.id, now);
  }
  return result;
}

// Lifecycle.

Result<CreatedApiKey> ApiKeyService::create(NewApiKey request, TimePoint now) {
  SIGIL_TRY(space, get_key_space(request.key_space));
  if (!is_valid_owner(request.owner)) {
    return std::unexpected(
        Error::invalid_argument("invalid owner: use 1 to 256 printable ASCII characters"));
  }
  if (!is_valid_name(request.name)) {
    return std::unexpected(Error::invalid_argument("invalid key name"));
  }
  SIGIL_CHECK(normalise_scopes(request.scopes));
  SIGIL_TRY(metadata, normalise_metadata(request.metadata));
  SIGIL_CHECK(check_remaining(request.remaining));
  SIGIL_CHECK(check_rate_limit(request.rate_limit));
  SIGIL_CHECK(check_expiry(request.expires_at, now));

  ApiKey fields;
  fields.owner = std::move(request.owner);
  fields.name = std::move(request.name);
  fields.scopes = std::move(request.scopes);
  fields.metadata = std::move(metadata);
  fields.expires_at = request.expires_at;
  fields.remaining = request.remaining;
  fields.rate_limit = request.rate_limit;
  fields.status = KeyStatus::kActive;

  SecretString text(generate_key(space.prefix));
  ApiKey key = fresh_key(std::move(fields), space, text.reveal(), now);
  std::lock_guard write(write_mu_);
  SIGIL_CHECK(keys_.create_api_key(key));
  put(key);
  return CreatedApiKey{std::move(key), std::move(text)};
}

Result<ApiKey> ApiKeyService::get(std::string_view id) const {
  if (!find_by_id(id)) return std::unexpected(no_key(id));
  // From the store: credits and last-use times change there, not in the cache.
  return keys_.get_api_key(id);
}

Result<std::vector<ApiKey>> ApiKeyService::list(const ApiKeyQuery& query) const {
  SIGIL_CHECK(get_key_space(query.key_space));
  if (query.limit < 1 || query.limit > kMaxPageSize) {
    return std::unexpected(Error::invalid_argument("page size must be 1 to 1000"));
  }
  return keys_.list_api_keys(query);
}

Result<ApiKey> ApiKeyService::update(std::string_view id, const ApiKeyChanges& changes,
                                     TimePoint now) {
  std::optional<std::vector<std::string>> scopes = changes.scopes;
  if (scopes) SIGIL_CHECK(normalise_scopes(*scopes));
  std::optional<std::string> metadata;
  if (changes.metadata) {
    SIGIL_TRY(m, normalise_metadata(*changes.metadata));
    metadata = std::move(m);
  }
  if (changes.name && !is_valid_name(*changes.name)) {
    return std::unexpected(Error::invalid_argument("invalid key name"));
  }
  if (changes.remaining) SIGIL_CHECK(check_remaining(*changes.remaining));
  if (changes.rate_limit) SIGIL_CHECK(check_rate_limit(*changes.rate_limit));
  if (changes.expires_at) SIGIL_CHECK(check_expiry(*changes.expires_at, now));

  std::lock_guard write(write_mu_);
  SIGIL_TRY(key, read_for_change(id));
  if (key.status == KeyStatus::kRevoked) {
    return std::unexpected(Error::failed_precondition("API key " + key.id + " is revoked"));
  }
  if (changes.name) key.name = *changes.name;
  if (scopes) key.scopes = std::move(*scopes);
  if (metadata) key.metadata = std::move(*metadata);
  if (changes.expires_at) key.expires_at = *changes.expires_at;
  if (changes.remaining) key.remaining = *changes.remaining;
  if (changes.rate_limit) key.rate_limit = *changes.rate_limit;
  key.updated_at = now;
  SIGIL_CHECK(keys_.update_api_key(key));
  if (changes.remaining) SIGIL_CHECK(keys_.set_remaining(key.id, *changes.remaining));
  if (!key.rate_limit) drop_bucket(key.id);
  put(key);
  return key;
}

Result<ApiKey> ApiKeyService::set_status(std::string_view id, KeyStatus status, TimePoint now) {
  std::lock_guard write(write_mu_);
  SIGIL_TRY(key, read_for_change(id));
  if (key.status == KeyStatus::kRevoked) {
    if (status == KeyStatus::kRevoked) return key;  // revoking twice changes nothing
    return std::unexpected(
        Error::failed_precondition("API key " + key.id + " is revoked; revocation is permanent"));
  }
  if (key.status == status) return key;
  key.status = status;
  key.updated_at = now;
  SIGIL_CHECK(keys_.update_api_key(key));
  if (status == KeyStatus::kRevoked) drop_bucket(key.id);
  put(key);
  return key;
}

Result<CreatedApiKey> ApiKeyService::rotate(std::string_view id, Seconds grace, TimePoint now) {
  if (grace < Seconds{0}) {
    return std::unexpected(Error::invalid_argument("grace period must not be negative"));
  }
  std::lock_guard write(write_mu_);
  SIGIL_TRY(old_key, read_for_change(id));
  if (old_key.status == KeyStatus::kRevoked) {
    return std::unexpected(Error::failed_precondition("API key " + old_key.id + " is revoked"));
  }
  SIGIL_TRY(space, get_key_space(old_key.key_space));
  SecretString text(generate_key(space.prefix));
  ApiKey new_key = fresh_key(old_key, space, text.reveal(), now);
  new_key.rotated_from = old_key.id;
  // A second rotation never extends the first one's deadline.
  const TimePoint deadline = now + grace;
  old_key.grace_until = old_key.grace_until ? std::min(*old_key.grace_until, deadline) : deadline;
  old_key.updated_at = now;
  SIGIL_CHECK(keys_.rotate_api_key(old_key, new_key));
  put(old_key);
  put(new_key);
  return CreatedApiKey{std::move(new_key), std::move(text)};
}

Result<std::vector<std::string>> ApiKeyService::revoke_owner(std::string_view key_space,
                                                             std::string_view owner,
                                                             TimePoint now) {
  SIGIL_CHECK(get_key_space(key_space));
  if (!is_valid_owner(owner)) {
    return std::unexpected(
        Error::invalid_argument("invalid owner: use 1 to 256 printable ASCII characters"));
  }
  std::lock_guard write(write_mu_);
  SIGIL_TRY(ids, keys_.revoke_owner_keys(key_space, owner, now));
  for (const auto& id : ids) {
    drop_bucket(id);
    auto cached = find_by_id(id);
    if (!cached) continue;
    ApiKey key = *cached;
    key.status = KeyStatus::kRevoked;
    key.updated_at = now;
    put(std::move(key));
  }
  return ids;
}

}  // namespace sigil::apikeys
