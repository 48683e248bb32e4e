// sigil keyspace create|list|show and sigil key create|list|show|update|disable|enable|
// revoke|rotate|revoke-owner|verify: the admin API's /v1/key-spaces and /v1/keys.
#include "cli/key_commands.hpp"

#include <CLI/CLI.hpp>

#include <boost/json/parse.hpp>

#include <algorithm>
#include <charconv>
#include <iostream>
#include <memory>
#include <set>

#include "cli/commands.hpp"
#include "cli/context.hpp"

namespace sigil::cli {
namespace {

namespace json = boost::json;

// A key is about 60 characters; anything much longer on stdin is not a key.
constexpr std::size_t kMaxKeyBytes = 4096;
// `key list --all` stops after this many pages rather than loop on a misbehaving server.
constexpr int kMaxPages = 100'000;

bool is_lower_or_digit(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

bool has_space(std::string_view s) {
  return s.find_first_of(" \t\r\n") != std::string_view::npos;
}

bool has_control(std::string_view s) {
  return std::ranges::any_of(s, [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u < 0x20 || u == 0x7F;
  });
}

std::unexpected<Error> invalid(std::string message) {
  return std::unexpected(Error::invalid_argument(std::move(message)));
}

// Plain decimal digits only (no sign, no blanks), within [min, max].
std::optional<std::int64_t> parse_bounded(std::string_view text, std::int64_t min,
                                          std::int64_t max) {
  if (text.empty() || !std::ranges::all_of(text, [](char c) { return c >= '0' && c <= '9'; })) {
    return std::nullopt;
  }
  std::int64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value < min || value > max) {
    return std::nullopt;
  }
  return value;
}

Result<void> check_key_space(std::string_view id, std::string_view flag) {
  if (!is_valid_key_space_id(id)) {
    return invalid(std::string(flag) + " '" + sanitize(id) +
                   "': a key space id is 1-63 of a-z 0-9 _ - starting with a-z or 0-9");
  }
  return {};
}

Result<void> check_owner(std::string_view owner) {
  if (owner.empty()) return invalid("--owner is empty");
  if (owner.size() > kMaxOwnerBytes || has_control(owner)) {
    return invalid("--owner: use at most 256 printable characters");
  }
  return {};
}

Result<json::array> check_scopes(const std::vector<std::string>& scopes) {
  json::array out;
  for (const auto& scope : scopes) {
    if (scope.empty() || has_space(scope) || has_control(scope)) {
      return invalid("--scope '" + sanitize(scope) +
                     "': a scope is one non-empty word; repeat --scope");
    }
    out.emplace_back(scope);
  }
  return out;
}

Result<void> check_credits(std::int64_t credits) {
  if (credits < 0) return invalid("--credits: expected 0 or more");
  return {};
}

const json::object* object_member(const json::object& object, std::string_view key) {
  const json::value* v = object.if_contains(key);
  return (v != nullptr && v->is_object()) ? &v->get_object() : nullptr;
}

std::string rate_limit_text(const json::object& key) {
  const json::object* limit = object_member(key, "rate_limit");
  if (limit == nullptr) return "-";
  return display_field(*limit, "limit") + "/" + display_field(*limit, "window_seconds") + "s";
}

// Prints a 2xx answer: as returned for --output json, else through `table`.
template <typename Table>
Outcome<void> print_object(const Context& context, const json::value& answer, Table table) {
  if (context.output_mode() == OutputMode::kJson) {
    std::cout << render_json(answer);
    return {};
  }
  if (!answer.is_object())
    return fail(kExitUnreachable, "the server's answer is not a JSON object");
  std::cout << table(answer.get_object());
  return {};
}

// ---- keyspace ----

Outcome<void> run_key_space_create(Context& context, const NewKeySpaceArgs& args) {
  auto body = new_key_space_body(args);
  if (!body) return std::unexpected(usage_failure(body.error()));
  auto answer = context.admin_call("POST", "/v1/key-spaces", *body, "create the key space");
  if (!answer) return std::unexpected(answer.error());
  return print_object(context, *answer,
                      [](const json::object& ks) { return render_key_space(ks); });
}

Outcome<void> run_key_space_list(Context& context) {
  auto answer = context.admin_call("GET", "/v1/key-spaces", std::nullopt, "list the key spaces");
  if (!answer) return std::unexpected(answer.error());
  std::cout << (context.output_mode() == OutputMode::kJson ? render_json(*answer)
                                                           : render_key_space_list(*answer));
  return {};
}

Outcome<void> run_key_space_show(Context& context, const std::string& id) {
  auto path = key_space_path(id);
  if (!path) return std::unexpected(usage_failure(path.error()));
  auto answer = context.admin_call("GET", *path, std::nullopt, "show key space " + id);
  if (!answer) return std::unexpected(answer.error());
  return print_object(context, *answer,
                      [](const json::object& ks) { return render_key_space(ks); });
}

// ---- key ----

Outcome<void> print_created_key(const Context& context, const json::value& answer) {
  auto printed = print_object(
      context, answer, [](const json::object& created) { return render_created_api_key(created); });
  if (printed) std::cerr << "sigil: the key is shown only once; store it now\n";
  return printed;
}

Outcome<void> run_key_create(Context& context, const NewApiKeyArgs& args) {
  auto body = new_api_key_body(args, SystemClock().now());
  if (!body) return std::unexpected(usage_failure(body.error()));
  auto answer = context.admin_call("POST", "/v1/keys", *body, "create the key");
  if (!answer) return std::unexpected(answer.error());
  return print_created_key(context, *answer);
}

struct ListArgs {
  KeyListQuery query;
  bool all = false;
};

Outcome<void> run_key_list(Context& context, const ListArgs& args) {
  KeyListQuery query = args.query;
  json::array keys;
  std::optional<std::string> next_after;
  std::set<std::string> seen_cursors;
  for (int page = 0; page < kMaxPages; ++page) {
    auto path = key_list_path(query);
    if (!path) return std::unexpected(usage_failure(path.error()));
    auto answer = context.admin_call("GET", *path, std::nullopt, "list the keys");
    if (!answer) return std::unexpected(answer.error());
    if (!args.all) {
      std::cout << (context.output_mode() == OutputMode::kJson ? render_json(*answer)
                                                               : render_api_key_list(*answer));
      return {};
    }
    const json::object* object = answer->is_object() ? &answer->get_object() : nullptr;
    const json::value* page_keys = object != nullptr ? object->if_contains("keys") : nullptr;
    if (page_keys == nullptr || !page_keys->is_array()) {
      return fail(kExitUnreachable, "cannot list the keys: the answer has no \"keys\" array");
    }
    for (const auto& key : page_keys->get_array()) keys.push_back(key);
    const json::value* next = object->if_contains("next_after");
    if (next == nullptr || !next->is_string() || next->get_string().empty()) {
      next_after.reset();
      break;
    }
    const std::string cursor(next->get_string());
    // A cursor seen before would page forever.
    if (!seen_cursors.insert(cursor).second) {
      return fail(kExitUnreachable, "cannot list the keys: the server repeats a page");
    }
    query.after = cursor;
    next_after = cursor;
  }
  if (next_after) {
    return fail(kExitUnreachable, "cannot list the keys: too many pages");
  }
  json::value all{{"keys", std::move(keys)}};
  std::cout << (context.output_mode() == OutputMode::kJson ? render_json(all)
                                                           : render_api_key_list(all));
  return {};
}

// show, disable, enable, revoke: one key in, the key's record out.
Outcome<void> run_on_key(Context& context, const std::string& id, std::string_view method,
                         std::string_view action, std::string_view what) {
  auto path = api_key_path(id, action);
  if (!path) return std::unexpected(usage_failure(path.error()));
  auto answer = context.admin_call(method, *path, std::nullopt, std::string(what) + " key " + id);
  if (!answer) return std::unexpected(answer.error());
  return print_object(context, *answer,
                      [](const json::object& key) { return render_api_key(key); });
}

struct UpdateArgs {
  std::string id;
  ApiKeyUpdateArgs fields;
};

Outcome<void> run_key_update(Context& context, const UpdateArgs& args) {
  auto path = api_key_path(args.id);
  if (!path) return std::unexpected(usage_failure(path.error()));
  auto body = update_api_key_body(args.fields);
  if (!body) return std::unexpected(usage_failure(body.error()));
  auto answer = context.admin_call("PATCH", *path, *body, "update key " + args.id);
  if (!answer) return std::unexpected(answer.error());
  return print_object(context, *answer,
                      [](const json::object& key) { return render_api_key(key); });
}

Outcome<void> run_key_rotate(Context& context, const std::string& id,
                             std::optional<std::int64_t> grace) {
  auto path = api_key_path(id, "rotate");
  if (!path) return std::unexpected(usage_failure(path.error()));
  auto body = rotate_api_key_body(grace);
  if (!body) return std::unexpected(usage_failure(body.error()));
  auto answer = context.admin_call("POST", *path, *body, "rotate key " + id);
  if (!answer) return std::unexpected(answer.error());
  return print_created_key(context, *answer);
}

Outcome<void> run_revoke_owner(Context& context, const std::string& key_space,
                               const std::string& owner) {
  auto body = revoke_owner_body(key_space, owner);
  if (!body) return std::unexpected(usage_failure(body.error()));
  auto answer =
      context.admin_call("POST", "/v1/keys/revoke-owner", *body, "revoke the owner's keys");
  if (!answer) return std::unexpected(answer.error());
  std::cout << (context.output_mode() == OutputMode::kJson ? render_json(*answer)
                                                           : render_revoked_keys(*answer));
  return {};
}

// The key to verify: the argument, or stdin for "-" so that it stays out of the process
// list and the shell history. Messages never quote the key.
Outcome<SecretString> read_key(const std::string& argument) {
  if (argument != "-") return SecretString(argument);
  std::string text(kMaxKeyBytes + 1, '\0');
  std::cin.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<std::size_t>(std::cin.gcount()));
  if (text.size() > kMaxKeyBytes) {
    wipe(text);
    return fail(kExitUsage, "the key on stdin is over 4 KiB; give one key");
  }
  const auto first = text.find_first_not_of(" \t\r\n");
  const auto last = text.find_last_not_of(" \t\r\n");
  SecretString key(first == std::string::npos ? std::string()
                                              : text.substr(first, last - first + 1));
  wipe(text);
  if (key.empty()) return fail(kExitUsage, "the key: stdin is empty");
  return key;
}

struct VerifyArgs {
  std::string key;
  std::vector<std::string> scopes;
  std::optional<std::string> key_space;
};

Outcome<void> run_verify(Context& context, VerifyArgs& args) {
  auto key = read_key(args.key);
  wipe(args.key);
  if (!key) return std::unexpected(key.error());
  auto body = verify_key_body(key->reveal(), args.scopes, args.key_space);
  if (!body) return std::unexpected(usage_failure(body.error()));
  auto answer = context.admin_call("POST", "/v1/keys/verify", *body, "verify the key");
  body->clear();
  if (!answer) {
    Failure failure = answer.error();
    failure.message = redact(std::move(failure.message), key->reveal());
    return std::unexpected(std::move(failure));
  }
  std::cout << (context.output_mode() == OutputMode::kJson ? render_json(*answer)
                                                           : render_verify_answer(*answer));
  if (!verify_answer_is_valid(*answer)) return fail(kExitRefused, "");  // the result is on stdout
  return {};
}

// Sets `target` from a string option when it was given.
void take(std::optional<std::string>& target, const CLI::Option* option, const std::string& v) {
  if (option->count() > 0) target = v;
}
void take(std::optional<std::int64_t>& target, const CLI::Option* option, std::int64_t v) {
  if (option->count() > 0) target = v;
}

CLI::Option* add_scopes(CLI::App* app, std::vector<std::string>& scopes, const char* help) {
  return app->add_option("--scope", scopes, help)
      ->expected(1)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
}

}  // namespace

// ---- Syntax checks ----

bool is_valid_key_space_id(std::string_view id) {
  if (id.empty() || id.size() > 63 || !is_lower_or_digit(id.front())) return false;
  return std::ranges::all_of(id,
                             [](char c) { return is_lower_or_digit(c) || c == '_' || c == '-'; });
}

bool is_valid_key_prefix(std::string_view prefix) {
  const auto underscore = prefix.find('_');
  const std::string_view head = prefix.substr(0, underscore);
  auto lower_digits = [](std::string_view s) { return std::ranges::all_of(s, is_lower_or_digit); };
  if (head.empty() || head.size() > 16 || !(head.front() >= 'a' && head.front() <= 'z') ||
      !lower_digits(head)) {
    return false;
  }
  if (underscore == std::string_view::npos) return true;
  const std::string_view tail = prefix.substr(underscore + 1);
  return !tail.empty() && tail.size() <= 16 && lower_digits(tail);
}

bool is_valid_api_key_id(std::string_view id) {
  if (id.empty() || id.size() > 64) return false;
  return std::ranges::all_of(id, [](char c) {
    return is_lower_or_digit(c) || (c >= 'A' && c <= 'Z') || c == '_' || c == '-';
  });
}

Result<json::object> parse_rate_limit(std::string_view text) {
  const auto slash = text.find('/');
  const std::string expected = "--rate-limit '" + sanitize(text) +
                               "': expected REQUESTS/SECONDS, e.g. 100/60 (requests 1-1000000000, "
                               "seconds 1-86400)";
  if (slash == std::string_view::npos) return invalid(expected);
  auto limit = parse_bounded(text.substr(0, slash), 1, kMaxRateLimit);
  auto window = parse_bounded(text.substr(slash + 1), 1, kMaxRateWindowSeconds);
  if (!limit || !window) return invalid(expected);
  return json::object{{"limit", *limit}, {"window_seconds", *window}};
}

Result<json::object> parse_metadata(std::string_view text) {
  if (text.size() > kMaxMetadataBytes) return invalid("--metadata is over 64 KiB");
  boost::system::error_code ec;
  json::value value = json::parse(text, ec);
  if (ec) return invalid("--metadata is not JSON (" + ec.message() + ")");
  if (!value.is_object())
    return invalid("--metadata must be a JSON object, e.g. '{\"plan\":\"pro\"}'");
  return std::move(value.get_object());
}

Result<std::string> check_expires_at(std::string_view text) {
  if (!from_rfc3339(text)) {
    return invalid("--expires-at '" + sanitize(text) +
                   "': expected an RFC 3339 time, e.g. 2026-12-01T00:00:00Z");
  }
  return std::string(text);
}

Result<std::string> expires_in_to_rfc3339(TimePoint now, std::int64_t seconds) {
  // Up to 100 years keeps the sum far from overflow and within RFC 3339's four-digit years.
  constexpr std::int64_t kMaxSeconds = 100LL * 366 * 86'400;
  if (seconds <= 0 || seconds > kMaxSeconds) {
    return invalid("--expires-in: expected seconds from now, 1 to 100 years");
  }
  return to_rfc3339(std::chrono::time_point_cast<Seconds>(now) + Seconds{seconds});
}

std::string query_encode(std::string_view text) {
  std::string out = form_encode(text);
  // form_encode writes a space as '+'; %20 means the same to every reader.
  std::string result;
  result.reserve(out.size());
  for (char c : out) {
    if (c == '+') {
      result += "%20";
    } else {
      result.push_back(c);
    }
  }
  return result;
}

// ---- keyspace ----

Result<json::object> new_key_space_body(const NewKeySpaceArgs& args) {
  SIGIL_CHECK(check_key_space(args.id, "--id"));
  if (!is_valid_key_prefix(args.prefix)) {
    return invalid("--prefix '" + sanitize(args.prefix) +
                   "': expected a-z then up to 15 of a-z 0-9, optionally _ and 1-16 of a-z 0-9, "
                   "e.g. sk_live");
  }
  json::object body{{"id", args.id}, {"prefix", args.prefix}};
  if (args.name) {
    if (has_control(*args.name)) return invalid("--name holds control characters");
    body["name"] = *args.name;
  }
  return body;
}

Result<std::string> key_space_path(std::string_view id) {
  SIGIL_CHECK(check_key_space(id, "key space"));
  return "/v1/key-spaces/" + std::string(id);
}

std::string render_key_space_list(const json::value& answer) {
  std::vector<std::vector<std::string>> rows;
  const json::value* spaces =
      answer.is_object() ? answer.get_object().if_contains("key_spaces") : nullptr;
  if (spaces != nullptr && spaces->is_array()) {
    for (const auto& item : spaces->get_array()) {
      if (!item.is_object()) continue;
      const auto& ks = item.get_object();
      rows.push_back({display_field(ks, "id"), display_field(ks, "prefix"),
                      display_field(ks, "name"), display_field(ks, "created_at")});
    }
  }
  return render_table({"ID", "PREFIX", "NAME", "CREATED"}, rows);
}

std::string render_key_space(const json::object& key_space) {
  return render_fields({{"id", display_field(key_space, "id")},
                        {"prefix", display_field(key_space, "prefix")},
                        {"name", display_field(key_space, "name")},
                        {"created_at", display_field(key_space, "created_at")}});
}

// ---- key ----

Result<json::object> new_api_key_body(const NewApiKeyArgs& args, TimePoint now) {
  SIGIL_CHECK(check_key_space(args.key_space, "--key-space"));
  SIGIL_CHECK(check_owner(args.owner));
  SIGIL_TRY(scopes, check_scopes(args.scopes));
  json::object body{{"key_space", args.key_space}, {"owner", args.owner}};
  if (args.name) {
    if (has_control(*args.name)) return invalid("--name holds control characters");
    body["name"] = *args.name;
  }
  if (!scopes.empty()) body["scopes"] = std::move(scopes);
  if (args.metadata) {
    SIGIL_TRY(metadata, parse_metadata(*args.metadata));
    body["metadata"] = std::move(metadata);
  }
  if (args.expires_at && args.expires_in) {
    return invalid("give --expires-at or --expires-in, not both");
  }
  if (args.expires_at) {
    SIGIL_TRY(expires_at, check_expires_at(*args.expires_at));
    body["expires_at"] = expires_at;
  }
  if (args.expires_in) {
    SIGIL_TRY(expires_at, expires_in_to_rfc3339(now, *args.expires_in));
    body["expires_at"] = expires_at;
  }
  if (args.credits) {
    SIGIL_CHECK(check_credits(*args.credits));
    body["remaining"] = *args.credits;
  }
  if (args.rate_limit) {
    SIGIL_TRY(rate_limit, parse_rate_limit(*args.rate_limit));
    body["rate_limit"] = std::move(rate_limit);
  }
  return body;
}

Result<std::string> key_list_path(const KeyListQuery& query) {
  SIGIL_CHECK(check_key_space(query.key_space, "--key-space"));
  std::string path = "/v1/keys?key_space=" + query_encode(query.key_space);
  if (query.owner) {
    SIGIL_CHECK(check_owner(*query.owner));
    path += "&owner=" + query_encode(*query.owner);
  }
  if (query.after) {
    if (!is_valid_api_key_id(*query.after)) {
      return invalid("--after '" + sanitize(*query.after) + "': expected a key id");
    }
    path += "&after=" + query_encode(*query.after);
  }
  if (query.limit) {
    if (*query.limit < 1 || *query.limit > kMaxListLimit) {
      return invalid("--limit: expected 1 to 1000");
    }
    path += "&limit=" + std::to_string(*query.limit);
  }
  return path;
}

Result<std::string> api_key_path(std::string_view id, std::string_view action) {
  if (!is_valid_api_key_id(id)) {
    return invalid("'" + sanitize(id) + "' is not a key id (e.g. key_3jx8m2kq9vd7w4hz5nbt)");
  }
  std::string path = "/v1/keys/" + std::string(id);
  if (!action.empty()) path += "/" + std::string(action);
  return path;
}

Result<json::object> update_api_key_body(const ApiKeyUpdateArgs& args) {
  json::object body;
  if (args.name) {
    if (has_control(*args.name)) return invalid("--name holds control characters");
    body["name"] = *args.name;
  }
  if (args.clear_scopes && !args.scopes.empty()) {
    return invalid("give --scope or --clear-scopes, not both");
  }
  if (args.clear_scopes) body["scopes"] = json::array();
  if (!args.scopes.empty()) {
    SIGIL_TRY(scopes, check_scopes(args.scopes));
    body["scopes"] = std::move(scopes);
  }
  if (args.metadata) {
    SIGIL_TRY(metadata, parse_metadata(*args.metadata));
    body["metadata"] = std::move(metadata);
  }
  if (args.expires_at && args.no_expiry)
    return invalid("give --expires-at or --no-expiry, not both");
  if (args.expires_at) {
    SIGIL_TRY(expires_at, check_expires_at(*args.expires_at));
    body["expires_at"] = expires_at;
  }
  if (args.no_expiry) body["expires_at"] = nullptr;
  if (args.credits && args.unlimited_credits) {
    return invalid("give --credits or --unlimited-credits, not both");
  }
  if (args.credits) {
    SIGIL_CHECK(check_credits(*args.credits));
    body["remaining"] = *args.credits;
  }
  if (args.unlimited_credits) body["remaining"] = nullptr;
  if (args.rate_limit && args.no_rate_limit) {
    return invalid("give --rate-limit or --no-rate-limit, not both");
  }
  if (args.rate_limit) {
    SIGIL_TRY(rate_limit, parse_rate_limit(*args.rate_limit));
    body["rate_limit"] = std::move(rate_limit);
  }
  if (args.no_rate_limit) body["rate_limit"] = nullptr;
  if (body.empty()) return invalid("nothing to change; see `sigil key update --help`");
  return body;
}

Result<json::object> rotate_api_key_body(std::optional<std::int64_t> grace_seconds) {
  json::object body;
  if (grace_seconds) {
    if (*grace_seconds < 0 || *grace_seconds > kMaxGraceSeconds) {
      return invalid("--grace: expected 0 to 2592000 seconds (30 days)");
    }
    body["grace_seconds"] = *grace_seconds;
  }
  return body;
}

Result<json::object> revoke_owner_body(std::string_view key_space, std::string_view owner) {
  SIGIL_CHECK(check_key_space(key_space, "--key-space"));
  SIGIL_CHECK(check_owner(owner));
  return json::object{{"key_space", key_space}, {"owner", owner}};
}

Result<json::object> verify_key_body(std::string_view key, const std::vector<std::string>& scopes,
                                     const std::optional<std::string>& key_space) {
  if (key.empty()) return invalid("the key is empty");
  if (key.size() > kMaxKeyBytes) return invalid("the key is over 4 KiB");
  json::object body{{"key", key}};
  SIGIL_TRY(required, check_scopes(scopes));
  if (!required.empty()) body["scopes"] = std::move(required);
  if (key_space) {
    SIGIL_CHECK(check_key_space(*key_space, "--key-space"));
    body["key_space"] = *key_space;
  }
  return body;
}

std::string redact(std::string text, std::string_view secret) {
  if (secret.empty()) return text;
  for (auto at = text.find(secret); at != std::string::npos; at = text.find(secret, at)) {
    text.replace(at, secret.size(), "[key]");
    at += 5;
  }
  return text;
}

std::string render_api_key_list(const json::value& answer) {
  std::vector<std::vector<std::string>> rows;
  const json::object* object = answer.is_object() ? &answer.get_object() : nullptr;
  const json::value* keys = object != nullptr ? object->if_contains("keys") : nullptr;
  if (keys != nullptr && keys->is_array()) {
    for (const auto& item : keys->get_array()) {
      if (!item.is_object()) continue;
      const auto& k = item.get_object();
      rows.push_back({display_field(k, "id"), display_field(k, "start"), display_field(k, "owner"),
                      display_field(k, "name"), display_field(k, "status"),
                      display_field(k, "scopes"), display_field(k, "expires_at"),
                      display_field(k, "remaining"), rate_limit_text(k)});
    }
  }
  std::string out = render_table(
      {"ID", "START", "OWNER", "NAME", "STATUS", "SCOPES", "EXPIRES", "REMAINING", "RATE LIMIT"},
      rows);
  const json::value* next = object != nullptr ? object->if_contains("next_after") : nullptr;
  if (next != nullptr && next->is_string()) {
    out += "more: --after " + sanitize(next->get_string()) + "\n";
  }
  return out;
}

std::string render_api_key(const json::object& key) {
  std::vector<std::pair<std::string, std::string>> fields{
      {"id", display_field(key, "id")},
      {"key_space", display_field(key, "key_space")},
      {"start", display_field(key, "start")},
      {"owner", display_field(key, "owner")},
      {"name", display_field(key, "name")},
      {"status", display_field(key, "status")},
      {"scopes", display_field(key, "scopes")},
      {"metadata", display_field(key, "metadata")},
      {"expires_at", display_field(key, "expires_at")},
      {"remaining", key.contains("remaining") ? display_field(key, "remaining") : "unlimited"},
      {"rate_limit", key.contains("rate_limit") ? rate_limit_text(key) : "none"}};
  for (const char* optional : {"rotated_from", "grace_until"}) {
    if (key.contains(optional)) fields.emplace_back(optional, display_field(key, optional));
  }
  fields.emplace_back("created_at", display_field(key, "created_at"));
  fields.emplace_back("updated_at", display_field(key, "updated_at"));
  fields.emplace_back("last_used_at", display_field(key, "last_used_at"));
  return render_fields(fields);
}

std::string render_created_api_key(const json::object& answer) {
  const json::object* key = object_member(answer, "key");
  std::string out = key != nullptr ? render_api_key(*key) : render_fields({{"id", "-"}});
  out += render_fields({{"key", display_field(answer, "secret")}});
  return out;
}

std::string render_revoked_keys(const json::value& answer) {
  std::vector<std::vector<std::string>> rows;
  const json::value* revoked =
      answer.is_object() ? answer.get_object().if_contains("revoked") : nullptr;
  if (revoked != nullptr && revoked->is_array()) {
    for (const auto& id : revoked->get_array()) rows.push_back({display(&id)});
  }
  return render_table({"REVOKED"}, rows);
}

bool verify_answer_is_valid(const json::value& answer) {
  const json::value* valid =
      answer.is_object() ? answer.get_object().if_contains("valid") : nullptr;
  return valid != nullptr && valid->is_bool() && valid->get_bool();
}

std::string render_verify_answer(const json::value& answer) {
  if (!answer.is_object()) return "result: unknown (the server's answer is not a JSON object)\n";
  const json::object& a = answer.get_object();
  std::string result = verify_answer_is_valid(answer) ? "valid" : display_field(a, "code");
  if (!verify_answer_is_valid(answer) && result == "valid") result = "invalid";
  std::vector<std::pair<std::string, std::string>> fields{{"result", result}};
  for (const char* name :
       {"key_id", "key_space", "owner", "name", "scopes", "metadata", "expires_at", "remaining"}) {
    if (a.contains(name)) fields.emplace_back(name, display_field(a, name));
  }
  if (const json::object* limit = object_member(a, "rate_limit")) {
    std::string text =
        display_field(*limit, "remaining") + " of " + display_field(*limit, "limit") + " left";
    if (limit->contains("reset_at")) text += ", resets at " + display_field(*limit, "reset_at");
    fields.emplace_back("rate_limit", text);
  }
  return render_fields(fields);
}

// ---- Registration ----

void add_keyspace_commands(CLI::App& app, Context& context) {
  CLI::App* keyspace =
      app.add_subcommand("keyspace", "Key spaces for API keys: create, list, show");
  keyspace->require_subcommand(1);

  auto create_args = std::make_shared<NewKeySpaceArgs>();
  auto name = std::make_shared<std::string>();
  CLI::App* create = keyspace->add_subcommand("create", "Create a key space with its key prefix");
  create->add_option("--id", create_args->id, "The key space id, e.g. live")->required();
  create->add_option("--prefix", create_args->prefix, "The prefix of its keys, e.g. sk_live")
      ->required();
  CLI::Option* name_option = create->add_option("--name", *name, "What it is, for people");
  create->callback([&context, create_args, name, name_option] {
    take(create_args->name, name_option, *name);
    context.finish(run_key_space_create(context, *create_args));
  });

  keyspace->add_subcommand("list", "List the key spaces")->callback([&context] {
    context.finish(run_key_space_list(context));
  });

  auto show_id = std::make_shared<std::string>();
  CLI::App* show = keyspace->add_subcommand("show", "Show a key space");
  show->add_option("id", *show_id, "The key space id")->required();
  show->callback([&context, show_id] { context.finish(run_key_space_show(context, *show_id)); });
}

void add_key_commands(CLI::App& app, Context& context) {
  CLI::App* key = app.add_subcommand(
      "key", "API keys: create, list, show, update, disable, enable, revoke, rotate, verify");
  key->require_subcommand(1);

  // create
  {
    struct CreateFlags {
      NewApiKeyArgs args;
      std::string name, metadata, expires_at, rate_limit;
      std::int64_t expires_in = 0, credits = 0;
    };
    auto f = std::make_shared<CreateFlags>();
    CLI::App* create =
        key->add_subcommand("create", "Create an API key; prints the key once, last");
    create->add_option("--key-space", f->args.key_space, "The key space")->required();
    create->add_option("--owner", f->args.owner, "The customer's id")->required();
    CLI::Option* name = create->add_option("--name", f->name, "What the key is for, for people");
    add_scopes(create, f->args.scopes, "A scope the key carries (repeatable)");
    CLI::Option* metadata =
        create->add_option("--metadata", f->metadata, "A JSON object returned on verify");
    CLI::Option* expires_at = create->add_option("--expires-at", f->expires_at,
                                                 "Expiry, RFC 3339 (2026-12-01T00:00:00Z)");
    CLI::Option* expires_in =
        create->add_option("--expires-in", f->expires_in, "Expiry in seconds from now")
            ->excludes(expires_at);
    CLI::Option* credits =
        create->add_option("--credits", f->credits, "Uses allowed (default unlimited)");
    CLI::Option* rate_limit = create->add_option(
        "--rate-limit", f->rate_limit, "REQUESTS/SECONDS, e.g. 100/60 (default unlimited)");
    create->callback([&context, f, name, metadata, expires_at, expires_in, credits, rate_limit] {
      NewApiKeyArgs args = f->args;
      take(args.name, name, f->name);
      take(args.metadata, metadata, f->metadata);
      take(args.expires_at, expires_at, f->expires_at);
      take(args.expires_in, expires_in, f->expires_in);
      take(args.credits, credits, f->credits);
      take(args.rate_limit, rate_limit, f->rate_limit);
      context.finish(run_key_create(context, args));
    });
  }

  // list
  {
    struct ListFlags {
      ListArgs args;
      std::string owner, after;
      std::int64_t limit = 0;
    };
    auto f = std::make_shared<ListFlags>();
    CLI::App* list = key->add_subcommand("list", "List the keys of a key space, a page at a time");
    list->add_option("--key-space", f->args.query.key_space, "The key space")->required();
    CLI::Option* owner = list->add_option("--owner", f->owner, "Only this owner's keys");
    CLI::Option* after =
        list->add_option("--after", f->after, "Start after this key id (the previous page's last)");
    CLI::Option* limit =
        list->add_option("--limit", f->limit, "Keys per page, 1-1000 (default 100)");
    list->add_flag("--all", f->args.all, "Follow every page");
    list->callback([&context, f, owner, after, limit] {
      ListArgs args = f->args;
      take(args.query.owner, owner, f->owner);
      take(args.query.after, after, f->after);
      take(args.query.limit, limit, f->limit);
      context.finish(run_key_list(context, args));
    });
  }

  // show, disable, enable, revoke
  struct OnKey {
    const char* name;
    const char* help;
    const char* method;
    const char* action;
    const char* what;
  };
  static constexpr OnKey kOnKey[] = {
      {"show", "Show a key's record (never the key itself)", "GET", "", "show"},
      {"disable", "Disable a key (reversible): it fails verification until enabled", "POST",
       "disable", "disable"},
      {"enable", "Enable a disabled key", "POST", "enable", "enable"},
      {"revoke", "Revoke a key, permanently", "POST", "revoke", "revoke"},
  };
  for (const auto& verb : kOnKey) {
    auto id = std::make_shared<std::string>();
    CLI::App* sub = key->add_subcommand(verb.name, verb.help);
    sub->add_option("id", *id, "The key id (key_...)")->required();
    sub->callback([&context, id, verb] {
      context.finish(run_on_key(context, *id, verb.method, verb.action, verb.what));
    });
  }

  // update
  {
    struct UpdateFlags {
      UpdateArgs args;
      std::string name, metadata, expires_at, rate_limit;
      std::int64_t credits = 0;
    };
    auto f = std::make_shared<UpdateFlags>();
    CLI::App* update =
        key->add_subcommand("update", "Change a key's name, scopes, metadata, expiry or limits");
    update->add_option("id", f->args.id, "The key id (key_...)")->required();
    CLI::Option* name = update->add_option("--name", f->name, "A new name");
    CLI::Option* scopes =
        add_scopes(update, f->args.fields.scopes, "The key's scopes, replacing them (repeatable)");
    update->add_flag("--clear-scopes", f->args.fields.clear_scopes, "Remove every scope")
        ->excludes(scopes);
    CLI::Option* metadata =
        update->add_option("--metadata", f->metadata, "A JSON object, replacing the metadata");
    CLI::Option* expires_at = update->add_option("--expires-at", f->expires_at, "Expiry, RFC 3339");
    update->add_flag("--no-expiry", f->args.fields.no_expiry, "The key no longer expires")
        ->excludes(expires_at);
    CLI::Option* credits = update->add_option("--credits", f->credits, "Uses left");
    update->add_flag("--unlimited-credits", f->args.fields.unlimited_credits, "No limit on uses")
        ->excludes(credits);
    CLI::Option* rate_limit =
        update->add_option("--rate-limit", f->rate_limit, "REQUESTS/SECONDS, e.g. 100/60");
    update->add_flag("--no-rate-limit", f->args.fields.no_rate_limit, "No rate limit")
        ->excludes(rate_limit);
    update->callback([&context, f, name, metadata, expires_at, credits, rate_limit] {
      UpdateArgs args = f->args;
      take(args.fields.name, name, f->name);
      take(args.fields.metadata, metadata, f->metadata);
      take(args.fields.expires_at, expires_at, f->expires_at);
      take(args.fields.credits, credits, f->credits);
      take(args.fields.rate_limit, rate_limit, f->rate_limit);
      context.finish(run_key_update(context, args));
    });
  }

  // rotate
  {
    auto id = std::make_shared<std::string>();
    auto grace = std::make_shared<std::int64_t>(0);
    CLI::App* rotate = key->add_subcommand(
        "rotate", "Replace a key with a new one (printed once); the old works for --grace");
    rotate->add_option("id", *id, "The key id (key_...)")->required();
    CLI::Option* grace_option = rotate->add_option(
        "--grace", *grace, "Seconds the old key keeps working (default 0, at most 30 days)");
    rotate->callback([&context, id, grace, grace_option] {
      std::optional<std::int64_t> seconds;
      take(seconds, grace_option, *grace);
      context.finish(run_key_rotate(context, *id, seconds));
    });
  }

  // revoke-owner
  {
    auto key_space = std::make_shared<std::string>();
    auto owner = std::make_shared<std::string>();
    CLI::App* revoke_owner =
        key->add_subcommand("revoke-owner", "Revoke every key of one owner in a key space");
    revoke_owner->add_option("--key-space", *key_space, "The key space")->required();
    revoke_owner->add_option("--owner", *owner, "The customer's id")->required();
    revoke_owner->callback([&context, key_space, owner] {
      context.finish(run_revoke_owner(context, *key_space, *owner));
    });
  }

  // verify
  {
    auto f = std::make_shared<VerifyArgs>();
    auto key_space = std::make_shared<std::string>();
    CLI::App* verify = key->add_subcommand(
        "verify", "Ask the server whether a key is good; exit 0 when valid, 1 when not");
    verify->add_option("key", f->key, "The key, or - to read it from stdin (keeps it out of ps)")
        ->required();
    add_scopes(verify, f->scopes, "A scope the key must carry (repeatable)");
    CLI::Option* key_space_option =
        verify->add_option("--key-space", *key_space, "The key space the key must belong to");
    verify->callback([&context, f, key_space, key_space_option] {
      VerifyArgs args = *f;
      wipe(f->key);
      take(args.key_space, key_space_option, *key_space);
      context.finish(run_verify(context, args));
    });
  }
}

}  // namespace sigil::cli
