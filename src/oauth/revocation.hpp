// Token revocation: the list of revoked token ids, and the RFC 7009 endpoint logic.
//
// RevocationList keeps every revoked jti in memory (loaded at start), so is_revoked()
// touches no disk. Entries leave once their token can no longer verify (exp + leeway),
// lazily, on a later revoke(). Thread-safe: readers share a lock.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>

#include "base/clock.hpp"
#include "base/error.hpp"
#include "oauth/client_registry.hpp"
#include "oauth/key_ring.hpp"
#include "oauth/ports.hpp"

namespace sigil::oauth {

inline constexpr std::size_t kMaxJtiBytes = 256;

class RevocationList {
 public:
  // Reads the entries still in force at `now`. The store must outlive the list.
  static Result<std::unique_ptr<RevocationList>> load(RevocationStore& store, Seconds leeway,
                                                      TimePoint now);

  // Records the jti (durably, then in memory). Idempotent. kInvalidArgument for an empty
  // or over-long jti.
  Result<void> revoke(std::string_view jti, TimePoint exp, TimePoint now);

  bool is_revoked(std::string_view jti) const;

  // How many entries are held (for metrics and tests).
  std::size_t size() const;

  RevocationList(const RevocationList&) = delete;
  RevocationList& operator=(const RevocationList&) = delete;

 private:
  RevocationList(RevocationStore& store, Seconds leeway) : store_(store), leeway_(leeway) {}
  void purge_locked(TimePoint now);  // requires the exclusive lock

  RevocationStore& store_;
  const Seconds leeway_;

  mutable std::shared_mutex mu_;
  std::map<std::string, TimePoint, std::less<>> revoked_;  // jti -> exp; guarded by mu_
  TimePoint next_purge_{};                                 // guarded by mu_
};

// What revoke_token() did, for the audit record. The HTTP answer is 200 in every case
// but kUnsupportedTokenType (RFC 7009 §2.2: "invalid tokens do not cause an error
// response").
enum class RevocationResult {
  kRevoked,               // one of our access tokens, now revoked (or revoked already)
  kNotFound,              // not a valid token of ours: malformed, forged, unknown key, or
                          // expired (an expired token needs no revocation)
  kOtherClient,           // a valid token issued to another client: left alone
  kUnsupportedTokenType,  // hinted as a refresh token, which sigil does not issue, and not
                          // an access token of ours (RFC 7009 §2.2.1 unsupported_token_type)
};

std::string_view to_string(RevocationResult result);

struct RevocationOutcome {
  RevocationResult result = RevocationResult::kNotFound;
  std::string jti;              // when the token verified
  std::string token_client_id;  // when the token verified
  std::string reason;           // why kNotFound: the jose::Reason name, e.g. "expired"
};

// RFC 7009 endpoint logic and admin revocation. Thread-safe.
class TokenRevocation {
 public:
  // The key ring and list must outlive this.
  TokenRevocation(const KeyRing& keys, RevocationList& revoked) : keys_(keys), revoked_(revoked) {}

  // RFC 7009 §2.1 for an authenticated client. Errors only when storing fails.
  Result<RevocationOutcome> revoke_token(std::string_view token,
                                         std::optional<std::string_view> token_type_hint,
                                         const AuthenticatedClient& caller, TimePoint now);

  // Revokes any valid token of ours, whoever it was issued to.
  Result<RevocationOutcome> admin_revoke_token(std::string_view token, TimePoint now);

  // Revokes by jti, for a token that is not at hand. `exp` bounds how long the entry is
  // kept: give the token's exp (or the latest it can be: issue time + max lifetime).
  Result<void> admin_revoke_jti(std::string_view jti, TimePoint exp, TimePoint now);

 private:
  Result<RevocationOutcome> revoke(std::string_view token, const std::string* only_client,
                                   std::optional<std::string_view> hint, TimePoint now);

  const KeyRing& keys_;
  RevocationList& revoked_;
};

}  // namespace sigil::oauth
