#include "oauth/revocation.hpp"

#include "oauth/access_token.hpp"

namespace sigil::oauth {

namespace {

// Purging walks the whole map: do it at most this often.
constexpr Seconds kPurgeInterval{60};

}  // namespace

Result<std::unique_ptr<RevocationList>> RevocationList::load(RevocationStore& store, Seconds leeway,
                                                             TimePoint now) {
  std::unique_ptr<RevocationList> list(new RevocationList(store, leeway));
  // An entry must outlive exp by the leeway, as long as a verifier may still accept it.
  SIGIL_TRY(entries, store.list_revoked_tokens(now - leeway));
  std::unique_lock lock(list->mu_);
  for (auto& e : entries) list->revoked_.insert_or_assign(std::move(e.jti), e.expires_at);
  list->next_purge_ = now + kPurgeInterval;
  return list;
}

Result<void> RevocationList::revoke(std::string_view jti, TimePoint exp, TimePoint now) {
  if (jti.empty() || jti.size() > kMaxJtiBytes) {
    return std::unexpected(Error::invalid_argument("a jti must be 1 to 256 bytes"));
  }
  SIGIL_CHECK(store_.revoke_token(RevokedToken{std::string(jti), exp}));
  std::unique_lock lock(mu_);
  auto [it, inserted] = revoked_.try_emplace(std::string(jti), exp);
  if (!inserted && it->second < exp) it->second = exp;
  if (now >= next_purge_) {
    purge_locked(now);
    next_purge_ = now + kPurgeInterval;
    lock.unlock();
    // The durable copy is tidied on the same schedule; failing to tidy loses nothing.
    (void)store_.purge_revoked_tokens(now - leeway_);
  }
  return Ok();
}

void RevocationList::purge_locked(TimePoint now) {
  std::erase_if(revoked_, [&](const auto& entry) { return entry.second + leeway_ <= now; });
}

bool RevocationList::is_revoked(std::string_view jti) const {
  std::shared_lock lock(mu_);
  return revoked_.find(jti) != revoked_.end();
}

std::size_t RevocationList::size() const {
  std::shared_lock lock(mu_);
  return revoked_.size();
}

std::string_view to_string(RevocationResult result) {
  switch (result) {
    case RevocationResult::kRevoked:
      return "revoked";
    case RevocationResult::kNotFound:
      return "not_found";
    case RevocationResult::kOtherClient:
      return "other_client";
    case RevocationResult::kUnsupportedTokenType:
      return "unsupported_token_type";
  }
  return "not_found";
}

Result<RevocationOutcome> TokenRevocation::revoke(std::string_view token,
                                                  const std::string* only_client,
                                                  std::optional<std::string_view> hint,
                                                  TimePoint now) {
  RevocationOutcome outcome;
  // RFC 7009 §2.1: "If the server is unable to locate the token using the given hint, it
  // MUST extend its search across all of its supported token types." We issue access
  // tokens only, so every token is checked as one whatever the hint.
  auto jwt = verify_access_token(token, keys_, now);
  if (!jwt) {
    if (hint && *hint == "refresh_token") {
      outcome.result = RevocationResult::kUnsupportedTokenType;
    } else {
      outcome.result = RevocationResult::kNotFound;
    }
    outcome.reason = std::string(jose::to_string(jwt.error().reason));
    return outcome;
  }
  auto jti = jwt->string_claim("jti");
  auto client_id = jwt->string_claim("client_id");
  auto exp = jwt->time_claim("exp");
  if (!jti || jti->empty() || jti->size() > kMaxJtiBytes || !client_id || !exp) {
    outcome.result = RevocationResult::kNotFound;
    outcome.reason = "missing_claim";
    return outcome;
  }
  outcome.jti = std::string(*jti);
  outcome.token_client_id = std::string(*client_id);
  // RFC 7009 §2.1: the server "verifies whether the token was issued to the client
  // making the revocation request". Another client's token is left alone, and the answer
  // is still 200 (§2.2: "invalid tokens do not cause an error response"), so the endpoint
  // does not tell a client whether a token it came across is valid.
  if (only_client && *only_client != *client_id) {
    outcome.result = RevocationResult::kOtherClient;
    return outcome;
  }
  SIGIL_CHECK(revoked_.revoke(*jti, from_unix(*exp), now));
  outcome.result = RevocationResult::kRevoked;
  return outcome;
}

Result<RevocationOutcome> TokenRevocation::revoke_token(
    std::string_view token, std::optional<std::string_view> token_type_hint,
    const AuthenticatedClient& caller, TimePoint now) {
  return revoke(token, &caller.id(), token_type_hint, now);
}

Result<RevocationOutcome> TokenRevocation::admin_revoke_token(std::string_view token,
                                                              TimePoint now) {
  return revoke(token, nullptr, std::nullopt, now);
}

Result<void> TokenRevocation::admin_revoke_jti(std::string_view jti, TimePoint exp, TimePoint now) {
  return revoked_.revoke(jti, exp, now);
}

}  // namespace sigil::oauth
