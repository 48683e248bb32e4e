// KeySource over HTTP (oauth/key_source.hpp): fetches the JWKS of a client's jwks_uri or of
// a trusted OpenID provider, and keeps it in memory.
//
//   server::KeyFetcher fetcher(clock);                    // KeyFetcherOptions{} defaults
//   auto keys = fetcher.keys_of_issuer("https://token.actions.githubusercontent.com", false);
//   if (keys && (*keys)->find(kid, alg) == nullptr) keys = fetcher.keys_of_issuer(iss, true);
//
// Per URL (a JWKS URI or a discovery document):
//   - a set younger than cache_ttl is served from memory, without I/O;
//   - refresh = true fetches again when the last fetch caused by refresh = true is at
//     least refresh_interval old (the first one at once), so that a flood of made-up
//     kids costs at most one fetch per interval; otherwise the cached set is returned;
//   - after a failed fetch, nothing is fetched for refresh_interval: callers get the last
//     good set, or the failure again, without waiting for a dead source;
//   - a failed fetch never replaces the last good set; the first failure of a streak is
//     logged as a warning (spdlog), the recovery as info;
//   - one fetch at a time per URL: callers that arrive while it runs wait for it and share
//     its result (single flight).
//
// What is fetched: only https URLs (server certificate verified against the system trust
// store or ca_file), or http to a loopback host (127.0.0.0/8, ::1, localhost) for local
// issuers and tests; no redirects are followed. An answer must be 200 with at most
// max_bytes of body. A JWKS is parsed with jose::JwkSet::parse: keys of a type or
// algorithm sigil does not support (and keys not meant for signatures, and RSA keys
// without "alg", which could be RS256 or PS256) are skipped, as RFC 7517 §5 asks; a
// malformed document, a malformed key of a supported type or a
// duplicate kid refuses the whole set. Only the public part of each key is kept. A
// discovery document must be a JSON object whose "issuer" equals the issuer exactly
// (OpenID Connect Discovery 1.0 §4.3) and whose "jwks_uri" is a URL that may be fetched (https when
// the issuer is).
//
// Errors: kInvalidArgument for a URL that may not be fetched (scheme, host) and, when no
// set was ever fetched, for a document that is not a JWKS or discovery document as above;
// kUnavailable, naming the URL, when no set was ever fetched and the source cannot be
// reached or answers other than 200 (or a previous failure is less than refresh_interval
// old). Once a set was fetched, failures are logged and the last good set is returned.
//
// Thread safety: thread-safe. Fetches block the calling thread for at most `timeout`
// (twice for a provider whose discovery document must be fetched too).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "base/clock.hpp"
#include "base/error.hpp"
#include "jose/jwk.hpp"
#include "oauth/key_source.hpp"

namespace sigil::server {

struct KeyFetcherOptions {
  // How long a fetched set (or discovery document) is served without asking again.
  Seconds cache_ttl{300};
  // The least time between two fetches of one URL caused by refresh = true, and between a
  // failed fetch and the next attempt.
  Seconds refresh_interval{30};
  // For one HTTP exchange: connect, TLS, request and the whole answer.
  std::chrono::milliseconds timeout{5'000};
  // The largest answer body accepted.
  std::size_t max_bytes = 1024 * 1024;
  // PEM file of trusted CAs for https; empty: the system's trust store.
  std::string ca_file;
  // URLs remembered at most; beyond, the one unused longest is forgotten. URLs come from
  // configuration (clients, policy), so this bounds memory, not normal use.
  std::size_t max_urls = 10'000;
};

// kInvalidArgument unless `url` is https, or http to 127.0.0.0/8, ::1 or localhost.
Result<void> check_fetchable_url(std::string_view url);

// issuer (without a terminating '/') + "/.well-known/openid-configuration"
// (OpenID Connect Discovery 1.0 §4); kInvalidArgument when the issuer is not a fetchable
// URL or has a query or fragment.
Result<std::string> discovery_url(std::string_view issuer);

class KeyFetcher final : public oauth::KeySource {
 public:
  // `clock` outlives the fetcher.
  explicit KeyFetcher(const Clock& clock, KeyFetcherOptions options = {});
  ~KeyFetcher() override;
  KeyFetcher(const KeyFetcher&) = delete;
  KeyFetcher& operator=(const KeyFetcher&) = delete;

  Result<std::shared_ptr<const jose::JwkSet>> keys_at(std::string_view jwks_uri,
                                                      bool refresh) override;
  Result<std::shared_ptr<const jose::JwkSet>> keys_of_issuer(std::string_view issuer,
                                                             bool refresh) override;

 private:
  // One cached document (a key set, or a discovery document's jwks_uri) per URL.
  template <typename T>
  struct Entry;
  template <typename T>
  using Parser = Result<T> (*)(std::string_view body, std::string_view context);

  template <typename T>
  std::shared_ptr<Entry<T>> entry_for(
      std::map<std::string, std::shared_ptr<Entry<T>>, std::less<>>& entries, std::string_view url);
  template <typename T>
  Result<std::shared_ptr<const T>> get(Entry<T>& entry, std::string_view url,
                                       std::string_view context, bool refresh, Parser<T> parse);
  // GET url: the body of a 200 answer.
  Result<std::string> fetch(std::string_view url) const;

  const Clock& clock_;
  const KeyFetcherOptions options_;

  std::mutex mu_;  // guards the two maps (not the entries, which have their own locks)
  std::map<std::string, std::shared_ptr<Entry<jose::JwkSet>>, std::less<>> jwks_;
  std::map<std::string, std::shared_ptr<Entry<std::string>>, std::less<>> discovery_;
  std::uint64_t uses_ = 0;  // guarded by mu_: a logical time for forgetting the unused
};

}  // namespace sigil::server
