// The API-key part of the /v1 API: key spaces, the key lifecycle and verification.
// Authorisation: sigil:admin for everything; sigil:keys:<key space> for that space's keys;
// sigil:keys:verify to verify keys of any space. A key or key space the caller may not
// see is answered 404, as if it did not exist. Keys appear in records by id, never as text.
#include <boost/json.hpp>

#include <algorithm>
#include <charconv>

#include "http/form.hpp"
#include "server/admin_json.hpp"
#include "server/app.hpp"

namespace sigil::server {
namespace {

namespace json = boost::json;
using apikeys::ApiKey;
using apikeys::KeyStatus;

constexpr std::string_view kVerifyScope = "sigil:keys:verify";

bool can_manage(const Caller& caller, std::string_view key_space) {
  return caller.has_scope(kAdminScope) || caller.has_scope("sigil:keys:" + std::string(key_space));
}

std::string_view status_name(KeyStatus status) {
  switch (status) {
    case KeyStatus::kActive:
      return "active";
    case KeyStatus::kDisabled:
      return "disabled";
    case KeyStatus::kRevoked:
      return "revoked";
  }
  return "revoked";
}

json::value metadata_json(const std::string& text) {
  std::error_code ec;
  json::value v = json::parse(text, ec);
  return ec || !v.is_object() ? json::value(json::object{}) : v;
}

json::object key_space_json(const apikeys::KeySpace& space) {
  return {{"id", space.id},
          {"prefix", space.prefix},
          {"name", space.name},
          {"created_at", to_rfc3339(space.created_at)}};
}

json::object rate_limit_json(const apikeys::RateLimit& limit) {
  return {{"limit", limit.limit}, {"window_seconds", limit.window.count()}};
}

json::object api_key_json(const ApiKey& k) {
  json::object o{{"id", k.id},
                 {"key_space", k.key_space},
                 {"start", k.start},
                 {"owner", k.owner},
                 {"name", k.name},
                 {"scopes", string_array(k.scopes)},
                 {"metadata", metadata_json(k.metadata)},
                 {"status", status_name(k.status)},
                 {"created_at", to_rfc3339(k.created_at)},
                 {"updated_at", to_rfc3339(k.updated_at)}};
  if (k.expires_at) o["expires_at"] = to_rfc3339(*k.expires_at);
  if (k.remaining) o["remaining"] = *k.remaining;
  if (k.rate_limit) o["rate_limit"] = rate_limit_json(*k.rate_limit);
  if (k.rotated_from) o["rotated_from"] = *k.rotated_from;
  if (k.grace_until) o["grace_until"] = to_rfc3339(*k.grace_until);
  if (k.last_used_at) o["last_used_at"] = to_rfc3339(*k.last_used_at);
  return o;
}

Outcome not_found() {
  return fail(404, "not_found", "no such key");
}

// "expires_at": RFC 3339 string, or null (only where clearing is allowed).
Result<std::optional<std::optional<TimePoint>>> expires_member(const json::object& o) {
  const json::value* v = o.if_contains("expires_at");
  if (v == nullptr) return std::optional<std::optional<TimePoint>>{};
  if (v->is_null()) return std::optional<std::optional<TimePoint>>(std::optional<TimePoint>{});
  if (!v->is_string()) {
    return std::unexpected(Error::invalid_argument("expires_at must be an RFC 3339 date-time"));
  }
  auto t = from_rfc3339(std::string_view(v->as_string()));
  if (!t)
    return std::unexpected(Error::invalid_argument("expires_at must be an RFC 3339 date-time"));
  return std::optional<std::optional<TimePoint>>(t);
}

Result<std::optional<std::optional<std::int64_t>>> remaining_member(const json::object& o) {
  const json::value* v = o.if_contains("remaining");
  if (v == nullptr) return std::optional<std::optional<std::int64_t>>{};
  if (v->is_null())
    return std::optional<std::optional<std::int64_t>>(std::optional<std::int64_t>{});
  SIGIL_TRY(n, optional_int(o, "remaining"));
  return std::optional<std::optional<std::int64_t>>(n);
}

Result<std::optional<std::optional<apikeys::RateLimit>>> rate_limit_member(const json::object& o) {
  using R = std::optional<std::optional<apikeys::RateLimit>>;
  const json::value* v = o.if_contains("rate_limit");
  if (v == nullptr) return R{};
  if (v->is_null()) return R(std::optional<apikeys::RateLimit>{});
  const auto bad = [] {
    return std::unexpected(Error::invalid_argument(
        "rate_limit must be {\"limit\": N, \"window_seconds\": S} with whole numbers"));
  };
  if (!v->is_object() || v->as_object().size() != 2) return bad();
  auto limit = optional_int(v->as_object(), "limit");
  auto window = optional_int(v->as_object(), "window_seconds");
  if (!limit || !window || !*limit || !*window) return bad();
  return R(apikeys::RateLimit{**limit, Seconds{**window}});
}

Result<std::optional<std::string>> metadata_member(const json::object& o) {
  const json::value* v = o.if_contains("metadata");
  if (v == nullptr) return std::optional<std::string>{};
  if (!v->is_object())
    return std::unexpected(Error::invalid_argument("metadata must be a JSON object"));
  return std::optional<std::string>(json::serialize(*v));
}

}  // namespace

Outcome App::admin_key_spaces(const http::Request& request, std::string_view rest,
                              audit::Event& event, const Caller& caller) {
  const TimePoint now = s_.clock.now();
  if (rest.empty()) {
    if (request.method == "GET") {
      event.event = "key_space.list";
      json::array spaces;
      for (const auto& space : s_.api_keys.list_key_spaces()) {
        if (can_manage(caller, space.id)) spaces.push_back(key_space_json(space));
      }
      return respond(200, json::object{{"key_spaces", std::move(spaces)}});
    }
    if (request.method != "POST") return fail(405, "invalid_request", "use GET or POST");
    event.event = "key_space.create";
    if (!caller.has_scope(kAdminScope)) return insufficient_scope(kAdminScope);
    auto body = json_body(request, {"id", "prefix", "name"});
    if (!body) return from_error(body.error());
    auto id = optional_string(*body, "id");
    auto prefix = optional_string(*body, "prefix");
    auto name = optional_string(*body, "name");
    if (!id) return from_error(id.error());
    if (!prefix) return from_error(prefix.error());
    if (!name) return from_error(name.error());
    if (!*id || !*prefix) return fail(400, "invalid_request", "id and prefix are required");
    event.subject = **id;
    auto created = s_.api_keys.create_key_space(
        apikeys::KeySpace{**id, **prefix, name->value_or(**id), now}, now);
    if (!created) return from_error(created.error());
    return respond(201, key_space_json(*created));
  }
  event.event = "key_space.show";
  const std::string id(rest.substr(1));
  event.subject = id;
  if (request.method != "GET") return fail(405, "invalid_request", "use GET");
  if (!can_manage(caller, id)) return fail(404, "not_found", "no such key space");
  auto space = s_.api_keys.get_key_space(id);
  if (!space) return from_error(space.error());
  return respond(200, key_space_json(*space));
}

Outcome App::admin_api_keys(const http::Request& request, std::string_view rest,
                            audit::Event& event, const Caller& caller) {
  const TimePoint now = s_.clock.now();
  if (rest == "/verify") {
    event.event = "key.verify";
    if (request.method != "POST") return fail(405, "invalid_request", "use POST");
    return verify_api_key(request, event, caller);
  }
  if (rest == "/revoke-owner") {
    event.event = "key.revoke_owner";
    if (request.method != "POST") return fail(405, "invalid_request", "use POST");
    auto body = json_body(request, {"key_space", "owner"});
    if (!body) return from_error(body.error());
    auto space = optional_string(*body, "key_space");
    auto owner = optional_string(*body, "owner");
    if (!space) return from_error(space.error());
    if (!owner) return from_error(owner.error());
    if (!*space || !*owner) return fail(400, "invalid_request", "key_space and owner are required");
    if (!can_manage(caller, **space)) return fail(404, "not_found", "no such key space");
    event.subject = **space + "/" + **owner;
    auto revoked = s_.api_keys.revoke_owner(**space, **owner, now);
    if (!revoked) return from_error(revoked.error());
    return respond(200, json::object{{"revoked", string_array(*revoked)}});
  }

  if (rest.empty()) {
    if (request.method == "GET") {
      event.event = "key.list";
      auto query = http::parse_form(request.query);
      if (!query) return fail(400, "invalid_request", "the query string is malformed");
      if (!query->duplicates().empty())
        return fail(400, "invalid_request", "a query parameter is repeated");
      apikeys::ApiKeyQuery q;
      const auto space = query->get("key_space");
      if (!space || space->empty()) return fail(400, "invalid_request", "key_space is required");
      q.key_space = std::string(*space);
      event.subject = q.key_space;
      if (!can_manage(caller, q.key_space)) return fail(404, "not_found", "no such key space");
      if (auto owner = query->get("owner")) q.owner = std::string(*owner);
      if (auto after = query->get("after")) q.after_id = std::string(*after);
      if (auto limit = query->get("limit")) {
        std::size_t n = 0;
        auto [end, ec] = std::from_chars(limit->data(), limit->data() + limit->size(), n);
        if (ec != std::errc{} || end != limit->data() + limit->size() || n < 1 || n > 1000) {
          return fail(400, "invalid_request", "limit must be from 1 to 1000");
        }
        q.limit = n;
      }
      auto keys = s_.api_keys.list(q);
      if (!keys) return from_error(keys.error());
      json::array items;
      for (const auto& k : *keys) items.push_back(api_key_json(k));
      json::object out{{"keys", std::move(items)}};
      if (keys->size() == q.limit) out["next_after"] = keys->back().id;
      return respond(200, out);
    }
    if (request.method != "POST") return fail(405, "invalid_request", "use GET or POST");
    event.event = "key.create";
    auto body = json_body(request, {"key_space", "owner", "name", "scopes", "metadata",
                                    "expires_at", "remaining", "rate_limit"});
    if (!body) return from_error(body.error());
    apikeys::NewApiKey n;
    auto space = optional_string(*body, "key_space");
    auto owner = optional_string(*body, "owner");
    auto name = optional_string(*body, "name");
    auto scopes = string_list(*body, "scopes");
    auto metadata = metadata_member(*body);
    auto expires = expires_member(*body);
    auto remaining = optional_int(*body, "remaining");
    auto limit = rate_limit_member(*body);
    if (!space) return from_error(space.error());
    if (!owner) return from_error(owner.error());
    if (!name) return from_error(name.error());
    if (!scopes) return from_error(scopes.error());
    if (!metadata) return from_error(metadata.error());
    if (!expires) return from_error(expires.error());
    if (!remaining) return from_error(remaining.error());
    if (!limit) return from_error(limit.error());
    if (!*space || !*owner) return fail(400, "invalid_request", "key_space and owner are required");
    if (!can_manage(caller, **space)) return fail(404, "not_found", "no such key space");
    n.key_space = **space;
    n.owner = **owner;
    n.name = name->value_or("");
    n.scopes = std::move(*scopes);
    if (*metadata) n.metadata = **metadata;
    if (*expires) n.expires_at = **expires;
    n.remaining = *remaining;
    if (*limit) n.rate_limit = **limit;
    event.scopes = n.scopes;
    auto created = s_.api_keys.create(std::move(n), now);
    if (!created) return from_error(created.error());
    event.subject = created->record.id;
    return respond(201, json::object{{"key", api_key_json(created->record)},
                                     {"secret", created->key.reveal()}});
  }

  // /{id} and /{id}/{action}
  const std::string_view path = rest.substr(1);
  const auto slash = path.find('/');
  const std::string id(path.substr(0, slash));
  const std::string_view action = slash == std::string_view::npos ? "" : path.substr(slash + 1);
  event.subject = id;
  auto existing = s_.api_keys.get(id);
  if (!existing || !can_manage(caller, existing->key_space)) {
    event.event = "key.show";
    return not_found();
  }
  if (action.empty()) {
    if (request.method == "GET") {
      event.event = "key.show";
      return respond(200, api_key_json(*existing));
    }
    if (request.method != "PATCH") return fail(405, "invalid_request", "use GET or PATCH");
    event.event = "key.update";
    auto body =
        json_body(request, {"name", "scopes", "metadata", "expires_at", "remaining", "rate_limit"});
    if (!body) return from_error(body.error());
    apikeys::ApiKeyChanges changes;
    auto name = optional_string(*body, "name");
    auto metadata = metadata_member(*body);
    auto expires = expires_member(*body);
    auto remaining = remaining_member(*body);
    auto limit = rate_limit_member(*body);
    if (!name) return from_error(name.error());
    if (!metadata) return from_error(metadata.error());
    if (!expires) return from_error(expires.error());
    if (!remaining) return from_error(remaining.error());
    if (!limit) return from_error(limit.error());
    changes.name = *name;
    if (body->contains("scopes")) {
      auto scopes = string_list(*body, "scopes");
      if (!scopes) return from_error(scopes.error());
      changes.scopes = std::move(*scopes);
    }
    changes.metadata = *metadata;
    changes.expires_at = *expires;
    changes.remaining = *remaining;
    changes.rate_limit = *limit;
    auto updated = s_.api_keys.update(id, changes, now);
    if (!updated) return from_error(updated.error());
    return respond(200, api_key_json(*updated));
  }
  if (request.method != "POST") return fail(405, "invalid_request", "use POST");
  if (action == "disable" || action == "enable" || action == "revoke") {
    event.event = "key." + std::string(action);
    const KeyStatus status = action == "disable"  ? KeyStatus::kDisabled
                             : action == "enable" ? KeyStatus::kActive
                                                  : KeyStatus::kRevoked;
    auto changed = s_.api_keys.set_status(id, status, now);
    if (!changed) return from_error(changed.error());
    return respond(200, api_key_json(*changed));
  }
  if (action == "rotate") {
    event.event = "key.rotate";
    auto body = json_body(request, {"grace_seconds"});
    if (!body) return from_error(body.error());
    auto grace = optional_int(*body, "grace_seconds");
    if (!grace) return from_error(grace.error());
    const std::int64_t seconds = grace->value_or(0);
    if (seconds < 0 || seconds > 30 * 86400) {
      return fail(400, "invalid_request", "grace_seconds must be from 0 to 2592000");
    }
    auto rotated = s_.api_keys.rotate(id, Seconds{seconds}, now);
    if (!rotated) return from_error(rotated.error());
    return respond(201, json::object{{"key", api_key_json(rotated->record)},
                                     {"secret", rotated->key.reveal()}});
  }
  event.event = "key.unknown";
  return fail(404, "not_found", "no such endpoint");
}

Outcome App::verify_api_key(const http::Request& request, audit::Event& event,
                            const Caller& caller) {
  auto body = json_body(request, {"key", "scopes", "key_space"});
  if (!body) return from_error(body.error());
  // The key comes in the body, or as the X-API-Key header (Authorization carries the
  // caller's own token here).
  std::string_view presented;
  if (const json::value* key = body->if_contains("key")) {
    if (!key->is_string()) return fail(400, "invalid_request", "key must be a string");
    presented = key->as_string();
  } else if (auto header = request.header("X-API-Key")) {
    presented = *header;
  } else {
    return fail(400, "invalid_request", "send the key as \"key\" or in X-API-Key");
  }
  auto scopes = string_list(*body, "scopes");
  auto space = optional_string(*body, "key_space");
  if (!scopes) return from_error(scopes.error());
  if (!space) return from_error(space.error());
  // A verifier for one key space verifies only that space's keys.
  const bool any_space = caller.has_scope(kAdminScope) || caller.has_scope(kVerifyScope);
  if (!any_space && !(*space && can_manage(caller, **space))) {
    event.reason = "insufficient_scope";
    return insufficient_scope(kVerifyScope);
  }
  std::optional<std::string_view> only_space;
  if (*space) only_space = **space;
  auto result = s_.api_keys.verify(presented, *scopes, only_space, s_.clock.now());
  if (!result) return from_error(result.error());

  json::object out{{"valid", result->valid()}, {"code", apikeys::to_string(result->code)}};
  if (result->key) {
    const ApiKey& k = *result->key;
    event.subject = k.id;
    out["key_id"] = k.id;
    out["key_space"] = k.key_space;
    out["owner"] = k.owner;
    out["name"] = k.name;
    out["scopes"] = string_array(k.scopes);
    out["metadata"] = metadata_json(k.metadata);
    if (k.expires_at) out["expires_at"] = to_rfc3339(*k.expires_at);
  }
  if (result->remaining) out["remaining"] = *result->remaining;
  if (result->rate_limit) {
    out["rate_limit"] = json::object{{"limit", result->rate_limit->limit},
                                     {"remaining", result->rate_limit->remaining},
                                     {"reset_at", to_rfc3339(result->rate_limit->reset_at)}};
  }
  if (!result->valid()) {
    // The request was sound, the key was not: a denial for the audit log.
    event.reason = std::string(apikeys::to_string(result->code));
    count_denial("key.verify", event.reason);
  }
  return respond(200, out);
}

}  // namespace sigil::server
