// API key lifecycle and verification.
//
// Every key's record is cached in memory by digest (loaded at start, kept current by
// every change made through the service), so verify() does: parse + checksum (no
// store), SHA-256, one hash-map lookup, the checks, and a token-bucket take. Only a key
// with credits touches the store on verify (consume_credit, durable and atomic); last-use
// times, kept to the minute, are batched and written by flush_last_used(), which the
// server calls every second.
//
// Thread safety: every method is thread-safe; verify() takes a shared lock.
#pragma once

#include <array>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "apikeys/model.hpp"
#include "apikeys/ports.hpp"
#include "base/clock.hpp"
#include "base/error.hpp"
#include "base/secrets.hpp"

namespace sigil::apikeys {

enum class VerifyCode {
  kValid,
  kMalformed,    // not a key's shape (no store lookup)
  kBadChecksum,  // mistyped or made up (no store lookup)
  kUnknown,      // well-formed, not ours
  kExpired,      // past expires_at, or a rotated-out key past its grace_until
  kDisabled,
  kRevoked,
  kRateLimited,
  kNoCredits,
  kMissingScope,  // lacks one of the required scopes
};

// "valid", "malformed", "bad_checksum", "unknown", "expired", "disabled", "revoked",
// "rate_limited", "no_credits", "missing_scope".
std::string_view to_string(VerifyCode code);

struct RateLimitState {
  std::int64_t limit = 0;
  std::int64_t remaining = 0;  // requests left in the bucket after this one
  TimePoint reset_at{};        // when the bucket is full again
};

struct VerifyResult {
  VerifyCode code = VerifyCode::kMalformed;
  // Set for every code after kBadChecksum except kUnknown: the key as it is (never the
  // key text or its digest).
  // Shared with the cache, so a verification copies no record.
  std::shared_ptr<const ApiKey> key;
  std::optional<std::int64_t> remaining;     // credits left, for keys with credits
  std::optional<RateLimitState> rate_limit;  // for keys with a rate limit
  bool valid() const { return code == VerifyCode::kValid; }
};

struct NewApiKey {
  std::string key_space;
  std::string owner;
  std::string name;
  std::vector<std::string> scopes;
  std::string metadata = "{}";  // must be a JSON object
  std::optional<TimePoint> expires_at;
  std::optional<std::int64_t> remaining;
  std::optional<RateLimit> rate_limit;
};

struct CreatedApiKey {
  ApiKey record;
  SecretString key;  // the only copy: show it once
};

// A partial update: each set field replaces the key's.
struct ApiKeyChanges {
  std::optional<std::string> name;
  std::optional<std::vector<std::string>> scopes;
  std::optional<std::string> metadata;
  std::optional<std::optional<TimePoint>> expires_at;    // set to nullopt: never expires
  std::optional<std::optional<std::int64_t>> remaining;  // set to nullopt: unlimited
  std::optional<std::optional<RateLimit>> rate_limit;    // set to nullopt: unlimited
};

class ApiKeyService {
 public:
  // Loads every key into the cache. The stores must outlive the service.
  static Result<std::unique_ptr<ApiKeyService>> load(KeySpaceStore& spaces, ApiKeyStore& keys);

  // Key spaces. kInvalidArgument for a bad id or prefix; kAlreadyExists.
  Result<KeySpace> create_key_space(KeySpace space, TimePoint now);
  Result<KeySpace> get_key_space(std::string_view id) const;
  std::vector<KeySpace> list_key_spaces() const;

  // kNotFound for an unknown key space; kInvalidArgument for bad fields (owner empty or
  // too long, scope tokens per RFC 6749 §3.3, metadata not a JSON object or over 4 KiB,
  // remaining < 0, rate limit out of range, expiry in the past).
  Result<CreatedApiKey> create(NewApiKey request, TimePoint now);
  Result<ApiKey> get(std::string_view id) const;
  Result<std::vector<ApiKey>> list(const ApiKeyQuery& query) const;
  Result<ApiKey> update(std::string_view id, const ApiKeyChanges& changes, TimePoint now);
  // Disable/enable: reversible. Revoke: permanent (kFailedPrecondition to enable later).
  Result<ApiKey> set_status(std::string_view id, KeyStatus status, TimePoint now);
  // A new key with the same fields; the old one keeps working until now + grace (0: stops
  // at once). kFailedPrecondition for a revoked key.
  Result<CreatedApiKey> rotate(std::string_view id, Seconds grace, TimePoint now);
  // Revokes every key of an owner in a key space; returns their ids.
  Result<std::vector<std::string>> revoke_owner(std::string_view key_space, std::string_view owner,
                                                TimePoint now);

  // The decision for a presented key. `key_space`, when given, must be the key's (a key of
  // another space is kUnknown). Errors only when the store fails (consume_credit).
  Result<VerifyResult> verify(std::string_view presented,
                              const std::vector<std::string>& required_scopes,
                              std::optional<std::string_view> key_space, TimePoint now);

  // Writes the batched last-use times.
  Result<void> flush_last_used();

  ApiKeyService(const ApiKeyService&) = delete;
  ApiKeyService& operator=(const ApiKeyService&) = delete;

 private:
  // A cached record and the write that produced it: a credit count learnt on verify is
  // written back only if no change was made through the service in between.
  struct Entry {
    std::shared_ptr<const ApiKey> key;
    std::uint64_t generation = 0;
  };
  // A token bucket of one key; `limit` and `window` say which rate limit it was made for.
  struct Bucket {
    RateLimit limit;
    double tokens = 0;
    TimePoint updated_at{};
  };
  // Rate-limit buckets and pending last-use times, striped by key id so that verifies of
  // different keys rarely wait for one another.
  struct Stripe {
    std::mutex mu;
    std::unordered_map<std::string, Bucket> buckets;       // guarded by mu
    std::unordered_map<std::string, TimePoint> last_used;  // guarded by mu
  };
  static constexpr std::size_t kStripes = 64;
  // A SHA-256 digest held inline: no allocation, and no second cache miss to compare it. Its
  // bytes are uniformly random already, so the first eight are the hash.
  using Digest = std::array<char, 32>;
  struct DigestHash {
    std::size_t operator()(const Digest& d) const noexcept {
      std::size_t h;
      std::memcpy(&h, d.data(), sizeof h);
      return h;
    }
  };
  static Digest to_digest(std::string_view raw);

  ApiKeyService(KeySpaceStore& spaces, ApiKeyStore& keys) : spaces_(spaces), keys_(keys) {}

  Entry find_by_digest(const Digest& digest) const;
  std::shared_ptr<const ApiKey> find_by_id(std::string_view id) const;
  // Reads the current record from the store (credits change there, not in the cache).
  Result<ApiKey> read_for_change(std::string_view id);
  void put(ApiKey key);  // caller holds write_mu_
  Stripe& stripe(std::string_view id);
  void drop_bucket(std::string_view id);
  // Takes one request from the key's bucket; false (and nothing taken) when empty.
  bool take_token(const ApiKey& key, TimePoint now, RateLimitState& state);
  void note_used(const std::string& id, TimePoint now);
  void note_credits(const Entry& seen, std::int64_t remaining);

  KeySpaceStore& spaces_;
  ApiKeyStore& keys_;

  // Serialises changes: read, write to the store, then update the cache.
  std::mutex write_mu_;

  mutable std::shared_mutex cache_mu_;
  std::unordered_map<Digest, Entry, DigestHash> by_digest_;  // guarded by cache_mu_
  std::unordered_map<std::string, Digest> digest_by_id_;     // guarded by cache_mu_
  std::map<std::string, KeySpace, std::less<>> key_spaces_;  // guarded by cache_mu_
  std::uint64_t generation_ = 0;                             // guarded by cache_mu_

  std::array<Stripe, kStripes> stripes_;
};

}  // namespace sigil::apikeys
