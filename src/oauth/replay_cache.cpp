#include "oauth/replay_cache.hpp"

#include "crypto/digest.hpp"

namespace sigil::oauth {

namespace {

constexpr Seconds kPurgeInterval{1};

}  // namespace

ReplayCache::ReplayCache(std::size_t capacity) : capacity_(capacity) {}

bool ReplayCache::first_use(std::string_view key, TimePoint expires_at, TimePoint now) {
  std::string digest = crypto::sha256(key);
  std::lock_guard lock(mu_);
  if (now >= next_purge_ || seen_.size() >= capacity_) {
    std::erase_if(seen_, [now](const auto& entry) { return entry.second <= now; });
    next_purge_ = now + kPurgeInterval;
  }
  if (auto it = seen_.find(digest); it != seen_.end()) {
    // Expired but not purged yet: the assertion it stood for can no longer be accepted,
    // so the key is free again.
    if (now < it->second) return false;
    it->second = expires_at;
    return true;
  }
  if (seen_.size() >= capacity_) return false;
  seen_.emplace(std::move(digest), expires_at);
  return true;
}

std::size_t ReplayCache::size() const {
  std::lock_guard lock(mu_);
  return seen_.size();
}

}  // namespace sigil::oauth
