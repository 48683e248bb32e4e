// Assertions already used, remembered until they expire, so that a replayed one is refused
// (RFC 7523 §3: "The authorization server MAY ensure that JWTs are not replayed by
// maintaining the set of used "jti" values for the length of time for which the JWT would
// be considered valid based on the applicable "exp" instant."). sigil requires it.
//
// In memory, for one node (shared storage for several nodes is a later capability).
// Bounded: when full of unexpired entries, first_use() refuses (fail closed) rather than
// forget one. Keys are kept as their SHA-256 digests, so a long jti costs no more memory
// than a short one. Expired entries are purged at most once a second of `now`, and
// whenever the cache is full.
//
// Thread safety: thread-safe.
#pragma once

#include <cstddef>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "base/clock.hpp"

namespace sigil::oauth {

class ReplayCache {
 public:
  explicit ReplayCache(std::size_t capacity = 1'000'000);

  // True the first time `key` is seen (and remembers it until `expires_at`); false when
  // it was seen before and has not expired, or when the cache is full. Callers build the
  // key from who issued the assertion and its jti, e.g. issuer + '\n' + jti, and pass as
  // `expires_at` the last instant the assertion would be accepted (its exp plus leeway).
  bool first_use(std::string_view key, TimePoint expires_at, TimePoint now);

  std::size_t size() const;

 private:
  const std::size_t capacity_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, TimePoint> seen_;  // guarded by mu_
  TimePoint next_purge_{};                           // guarded by mu_
};

}  // namespace sigil::oauth
