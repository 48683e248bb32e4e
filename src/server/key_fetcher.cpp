#include "server/key_fetcher.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/ip/address.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include <utility>
#include <vector>

#include "http/client.hpp"
#include "server/log_text.hpp"

namespace sigil::server {

namespace json = boost::json;

template <typename T>
struct KeyFetcher::Entry {
  std::mutex flight;  // held by the caller that fetches: one fetch at a time (single flight)
  std::mutex mu;      // guards everything below
  std::shared_ptr<const T> value;         // the last good document; null until one was fetched
  TimePoint fetched_at{};                 // when `value` was fetched
  std::optional<TimePoint> refreshed_at;  // the last fetch caused by refresh = true
  std::optional<TimePoint> failed_at;     // set while failing: the last failed attempt
  Error failure;                          // what the last failed attempt met
  std::uint64_t attempts = 0;             // fetches finished, so that waiters see one happened
  std::uint64_t last_use = 0;             // guarded by KeyFetcher::mu_, not by `mu`
};

namespace {

// At most 80 printable ASCII characters of text that came from elsewhere, for messages.
std::string printable(std::string_view text) {
  std::string out;
  for (char c : text.substr(0, 80)) {
    out += (c >= 0x20 && c < 0x7F) ? c : '?';
  }
  if (text.size() > 80) out += "...";
  return out;
}

bool is_loopback_host(std::string_view host) {
  if (http::iequals(host, "localhost")) return true;
  boost::system::error_code ec;
  const auto address = boost::asio::ip::make_address(std::string(host), ec);
  return !ec && address.is_loopback();
}

// now is in [since, since + length): a time going backwards counts as outside.
bool within(TimePoint since, TimePoint now, Seconds length) {
  return since <= now && now < since + length;
}

Result<jose::JwkSet> parse_jwks(std::string_view body, std::string_view url) {
  auto set = jose::JwkSet::parse(body);
  if (!set) {
    return std::unexpected(Error::invalid_argument(
        std::string(url) + " does not serve a usable JWKS: " + set.error().message));
  }
  // Only public keys are needed; a private member published by mistake is not kept.
  std::vector<jose::Jwk> keys;
  keys.reserve(set->keys().size());
  for (const jose::Jwk& key : set->keys()) keys.push_back(key.public_key());
  return jose::JwkSet(std::move(keys));
}

// The discovery document's jwks_uri, once its issuer is checked.
Result<std::string> parse_discovery(std::string_view body, std::string_view issuer) {
  auto bad = [&](std::string why) {
    return std::unexpected(
        Error::invalid_argument("the OpenID configuration of " + std::string(issuer) + " " + why));
  };
  boost::system::error_code ec;
  json::value doc = json::parse(body, ec);
  if (ec || !doc.is_object()) return bad("is not a JSON object");
  const json::value* iss = doc.as_object().if_contains("issuer");
  if (iss == nullptr || !iss->is_string()) return bad("has no issuer");
  // OpenID Connect Discovery 1.0 §4.3: "The issuer value returned MUST be identical to the
  // Issuer URL that was used as the prefix to /.well-known/openid-configuration to retrieve
  // the configuration information."
  if (iss->get_string() != issuer) {
    return bad("names another issuer: \"" + printable(iss->get_string()) + "\"");
  }
  const json::value* uri = doc.as_object().if_contains("jwks_uri");
  if (uri == nullptr || !uri->is_string()) return bad("has no jwks_uri");
  std::string jwks_uri(uri->get_string());
  if (auto ok = check_fetchable_url(jwks_uri); !ok) {
    return bad("has a jwks_uri that may not be fetched: " + printable(jwks_uri));
  }
  // An issuer reached over https does not send sigil to plain http, not even on loopback
  // (which would reach the services of sigil's own host).
  const auto issuer_url = http::parse_url(issuer);
  const auto keys_url = http::parse_url(jwks_uri);
  if (!issuer_url || !keys_url || (issuer_url->tls && !keys_url->tls)) {
    return bad("has a jwks_uri that is not https: " + printable(jwks_uri));
  }
  return jwks_uri;
}

}  // namespace

Result<void> check_fetchable_url(std::string_view url) {
  SIGIL_TRY(parsed, http::parse_url(url));
  if (parsed.tls || is_loopback_host(parsed.host)) return Ok();
  return std::unexpected(Error::invalid_argument(
      "only https URLs are fetched (http only on loopback): " + printable(url)));
}

Result<std::string> discovery_url(std::string_view issuer) {
  SIGIL_CHECK(check_fetchable_url(issuer));
  if (issuer.find_first_of("?#") != std::string_view::npos) {
    return std::unexpected(
        Error::invalid_argument("an issuer has no query or fragment: " + printable(issuer)));
  }
  // OpenID Connect Discovery 1.0 §4: "If the Issuer value contains a path component, any
  // terminating / MUST be removed before appending /.well-known/openid-configuration."
  if (issuer.ends_with('/')) issuer.remove_suffix(1);
  return std::string(issuer) + "/.well-known/openid-configuration";
}

KeyFetcher::KeyFetcher(const Clock& clock, KeyFetcherOptions options)
    : clock_(clock), options_(std::move(options)) {}

KeyFetcher::~KeyFetcher() = default;

Result<std::shared_ptr<const jose::JwkSet>> KeyFetcher::keys_at(std::string_view jwks_uri,
                                                                bool refresh) {
  SIGIL_CHECK(check_fetchable_url(jwks_uri));
  auto entry = entry_for(jwks_, jwks_uri);
  return get<jose::JwkSet>(*entry, jwks_uri, jwks_uri, refresh, &parse_jwks);
}

Result<std::shared_ptr<const jose::JwkSet>> KeyFetcher::keys_of_issuer(std::string_view issuer,
                                                                       bool refresh) {
  SIGIL_TRY(url, discovery_url(issuer));
  auto entry = entry_for(discovery_, url);
  // An unknown kid means new keys, rarely a new jwks_uri: the discovery document is not
  // refreshed for it (it is fetched again once cache_ttl has passed).
  SIGIL_TRY(jwks_uri, get<std::string>(*entry, url, issuer, false, &parse_discovery));
  return keys_at(*jwks_uri, refresh);
}

template <typename T>
std::shared_ptr<KeyFetcher::Entry<T>> KeyFetcher::entry_for(
    std::map<std::string, std::shared_ptr<Entry<T>>, std::less<>>& entries, std::string_view url) {
  std::lock_guard lock(mu_);
  const std::uint64_t use = ++uses_;
  if (auto it = entries.find(url); it != entries.end()) {
    it->second->last_use = use;
    return it->second;
  }
  if (entries.size() >= options_.max_urls && !entries.empty()) {
    auto oldest = entries.begin();
    for (auto it = entries.begin(); it != entries.end(); ++it) {
      if (it->second->last_use < oldest->second->last_use) oldest = it;
    }
    entries.erase(oldest);  // a caller still using it keeps it alive
  }
  auto entry = std::make_shared<Entry<T>>();
  entry->last_use = use;
  entries.emplace(std::string(url), entry);
  return entry;
}

template <typename T>
Result<std::shared_ptr<const T>> KeyFetcher::get(Entry<T>& entry, std::string_view url,
                                                 std::string_view context, bool refresh,
                                                 Parser<T> parse) {
  // What the entry holds now: the last good document, else the last failure.
  // (Every failure message names the URL or the issuer.)
  auto current = [&entry]() -> Result<std::shared_ptr<const T>> {
    if (entry.value) return entry.value;
    return std::unexpected(entry.failure);
  };

  const TimePoint now = clock_.now();
  std::uint64_t seen = 0;
  {
    std::lock_guard lock(entry.mu);
    const bool backing_off =
        entry.failed_at && within(*entry.failed_at, now, options_.refresh_interval);
    const bool fresh = entry.value && within(entry.fetched_at, now, options_.cache_ttl);
    const bool may_refresh =
        !entry.refreshed_at || !within(*entry.refreshed_at, now, options_.refresh_interval);
    if (backing_off || (fresh && !(refresh && may_refresh))) return current();
    seen = entry.attempts;
  }

  std::lock_guard flight(entry.flight);
  {
    std::lock_guard lock(entry.mu);
    // Another caller fetched while this one waited: share its result.
    if (entry.attempts != seen) return current();
  }
  auto body = fetch(url);
  Result<T> fetched =
      body ? parse(*body, context) : Result<T>(std::unexpected(std::move(body.error())));

  std::lock_guard lock(entry.mu);
  ++entry.attempts;
  if (refresh) entry.refreshed_at = now;
  if (fetched) {
    if (entry.failed_at) spdlog::info("fetched {} again", json_safe(url));
    entry.value = std::make_shared<const T>(std::move(*fetched));
    entry.fetched_at = now;
    entry.failed_at.reset();
    return entry.value;
  }
  if (!entry.failed_at) {
    spdlog::warn("{}; {}", json_safe(fetched.error().message),
                 entry.value ? "keeping what was fetched at " + to_rfc3339(entry.fetched_at)
                             : std::string("nothing fetched yet"));
  }
  entry.failed_at = now;
  entry.failure = std::move(fetched.error());
  return current();
}

Result<std::string> KeyFetcher::fetch(std::string_view url) const {
  http::ClientOptions client;
  client.timeout = options_.timeout;
  client.ca_file = options_.ca_file;
  client.max_response_body_bytes = options_.max_bytes;
  auto answer = http::request("GET", url, {{"Accept", "application/json"}}, {}, client);
  if (!answer) {
    return std::unexpected(
        Error::unavailable("cannot fetch " + std::string(url) + ": " + answer.error().message));
  }
  if (answer->status != 200) {
    return std::unexpected(Error::unavailable("cannot fetch " + std::string(url) + ": status " +
                                              std::to_string(answer->status)));
  }
  return std::move(answer->body);
}

}  // namespace sigil::server
