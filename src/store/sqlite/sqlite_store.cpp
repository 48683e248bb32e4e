#include "store/sqlite/sqlite_store.hpp"

#include <boost/json.hpp>

#include <algorithm>

#include "store/sqlite/database.hpp"
#include "store/sqlite/migrations.hpp"

namespace sigil::store::sqlite {
namespace {

namespace json = boost::json;

constexpr std::size_t kDigestBytes = 32;

Result<void> check_not_empty(std::string_view value, std::string_view what) {
  if (value.empty())
    return std::unexpected(Error::invalid_argument(std::string(what) + " is empty"));
  return Ok();
}

Result<void> check_digest(std::string_view digest, std::string_view what) {
  if (!digest.empty() && digest.size() != kDigestBytes) {
    return std::unexpected(
        Error::invalid_argument(std::string(what) + " must be a 32-byte SHA-256 digest"));
  }
  return Ok();
}

// Serialises and reads the result back: Boost.JSON writes invalid UTF-8 as is but refuses
// to parse it, and a row that cannot be read later must not be written now.
Result<std::string> checked_json(const json::value& value, std::string_view what) {
  std::string text = json::serialize(value);
  json::error_code ec;
  json::parse(text, ec);
  if (ec) {
    return std::unexpected(
        Error::invalid_argument(std::string(what) + " contains text that is not valid UTF-8"));
  }
  return text;
}

Result<std::string> list_to_json(const std::vector<std::string>& items, std::string_view what) {
  json::array array;
  array.reserve(items.size());
  for (const auto& item : items) array.emplace_back(json::string_view(item));
  return checked_json(array, what);
}

Result<std::string> map_to_json(const std::map<std::string, std::string>& items,
                                std::string_view what) {
  json::object object;
  object.reserve(items.size());
  for (const auto& [key, value] : items) object[key] = json::string_view(value);
  return checked_json(object, what);
}

Error damaged(std::string_view column, std::string_view row_id) {
  return Error::internal("sqlite: damaged row: column " + std::string(column) + " of " +
                         std::string(row_id) + " does not hold the expected JSON");
}

Result<std::vector<std::string>> list_from_json(std::string_view text, std::string_view column,
                                                std::string_view row_id) {
  json::error_code ec;
  json::value value = json::parse(text, ec);
  if (ec || !value.is_array()) return std::unexpected(damaged(column, row_id));
  std::vector<std::string> items;
  items.reserve(value.get_array().size());
  for (const json::value& item : value.get_array()) {
    const json::string* s = item.if_string();
    if (s == nullptr) return std::unexpected(damaged(column, row_id));
    items.emplace_back(s->data(), s->size());
  }
  return items;
}

Result<std::map<std::string, std::string>> map_from_json(std::string_view text,
                                                         std::string_view column,
                                                         std::string_view row_id) {
  json::error_code ec;
  json::value value = json::parse(text, ec);
  if (ec || !value.is_object()) return std::unexpected(damaged(column, row_id));
  std::map<std::string, std::string> items;
  for (const auto& member : value.get_object()) {
    const json::string* s = member.value().if_string();
    if (s == nullptr) return std::unexpected(damaged(column, row_id));
    items.emplace(std::string(member.key()), std::string(s->data(), s->size()));
  }
  return items;
}

std::optional<std::int64_t> optional_unix(const std::optional<TimePoint>& t) {
  if (!t) return std::nullopt;
  return to_unix(*t);
}

std::optional<TimePoint> optional_time(std::optional<std::int64_t> s) {
  if (!s) return std::nullopt;
  return from_unix(*s);
}

// ---- clients ----

constexpr std::string_view kClientColumns =
    "id, name, attributes, allowed_scopes, allowed_audiences, auth_methods, status, "
    "secret_digest, secret_expires_at, previous_secret_digest, previous_secret_expires_at, "
    "created_at, updated_at, jwks, jwks_uri, tls_client_auth_subject_dn, "
    "tls_client_auth_san_uri, tls_client_auth_san_dns, tls_client_certificates";

// A client's registered JWKS: empty, or the text of a JSON object (its keys are the
// registry's to check; the store keeps only what it can read back).
Result<void> check_jwks(const oauth::Client& c) {
  if (!c.jwks.empty()) {
    json::error_code ec;
    json::value value = json::parse(c.jwks, ec);
    if (ec || !value.is_object()) {
      return std::unexpected(Error::invalid_argument("client jwks is not a JSON object"));
    }
  }
  if (!c.jwks.empty() && !c.jwks_uri.empty()) {
    return std::unexpected(Error::invalid_argument("a client has jwks or jwks_uri, not both"));
  }
  return Ok();
}

// Binds ?1..?19 in the order of kClientColumns, after validating the record.
Result<void> bind_client(Statement& st, const oauth::Client& c) {
  SIGIL_CHECK(check_not_empty(c.id, "client id"));
  SIGIL_CHECK(check_digest(c.secret.sha256, "client secret digest"));
  if (c.previous_secret) {
    SIGIL_CHECK(check_digest(c.previous_secret->sha256, "previous client secret digest"));
  }
  SIGIL_TRY(attributes, map_to_json(c.attributes, "client attributes"));
  SIGIL_TRY(scopes, list_to_json(c.allowed_scopes, "client scopes"));
  SIGIL_TRY(audiences, list_to_json(c.allowed_audiences, "client audiences"));
  SIGIL_TRY(methods, list_to_json(c.auth_methods, "client auth methods"));
  SIGIL_CHECK(check_jwks(c));
  SIGIL_TRY(tls_certificates, list_to_json(c.tls_client_certificates, "client TLS certificates"));
  st.bind_text(1, c.id);
  st.bind_text(2, c.name);
  st.bind_text(3, attributes);
  st.bind_text(4, scopes);
  st.bind_text(5, audiences);
  st.bind_text(6, methods);
  st.bind_text(7, c.status == oauth::ClientStatus::kDisabled ? "disabled" : "active");
  st.bind_blob(8, c.secret.sha256);
  st.bind(9, optional_unix(c.secret.expires_at));
  if (c.previous_secret) {
    st.bind_blob(10, c.previous_secret->sha256);
    st.bind(11, optional_unix(c.previous_secret->expires_at));
  } else {
    st.bind_null(10);
    st.bind_null(11);
  }
  st.bind(12, to_unix(c.created_at));
  st.bind(13, to_unix(c.updated_at));
  st.bind_text(14, c.jwks);
  st.bind_text(15, c.jwks_uri);
  st.bind_text(16, c.tls_client_auth_subject_dn);
  st.bind_text(17, c.tls_client_auth_san_uri);
  st.bind_text(18, c.tls_client_auth_san_dns);
  st.bind_text(19, tls_certificates);
  return Ok();
}

Result<oauth::Client> read_client(const Statement& st) {
  oauth::Client c;
  c.id = st.text(0);
  const std::string row_id = "client " + c.id;
  c.name = st.text(1);
  SIGIL_TRY(attributes, map_from_json(st.text(2), "attributes", row_id));
  c.attributes = std::move(attributes);
  SIGIL_TRY(scopes, list_from_json(st.text(3), "allowed_scopes", row_id));
  c.allowed_scopes = std::move(scopes);
  SIGIL_TRY(audiences, list_from_json(st.text(4), "allowed_audiences", row_id));
  c.allowed_audiences = std::move(audiences);
  SIGIL_TRY(methods, list_from_json(st.text(5), "auth_methods", row_id));
  c.auth_methods = std::move(methods);
  const std::string status = st.text(6);
  if (status == "active") {
    c.status = oauth::ClientStatus::kActive;
  } else if (status == "disabled") {
    c.status = oauth::ClientStatus::kDisabled;
  } else {
    return std::unexpected(Error::internal("sqlite: damaged row: unknown status of " + row_id));
  }
  c.secret.sha256 = st.blob(7);
  c.secret.expires_at = optional_time(st.optional_int64(8));
  if (!st.is_null(9)) {
    c.previous_secret = oauth::SecretDigest{st.blob(9), optional_time(st.optional_int64(10))};
  }
  c.created_at = from_unix(st.int64(11));
  c.updated_at = from_unix(st.int64(12));
  c.jwks = st.text(13);
  c.jwks_uri = st.text(14);
  c.tls_client_auth_subject_dn = st.text(15);
  c.tls_client_auth_san_uri = st.text(16);
  c.tls_client_auth_san_dns = st.text(17);
  SIGIL_TRY(tls_certificates, list_from_json(st.text(18), "tls_client_certificates", row_id));
  c.tls_client_certificates = std::move(tls_certificates);
  return c;
}

// ---- signing keys ----

constexpr std::string_view kKeyColumns =
    "kid, alg, sealed_private_key, public_jwk, created_at, activates_at, retires_at, expires_at";

Result<void> bind_key(Statement& st, const oauth::SigningKeyRecord& k) {
  SIGIL_CHECK(check_not_empty(k.kid, "signing key kid"));
  SIGIL_CHECK(check_not_empty(k.alg, "signing key alg"));
  st.bind_text(1, k.kid);
  st.bind_text(2, k.alg);
  st.bind_blob(3, k.sealed_private_key);
  st.bind_text(4, k.public_jwk);
  st.bind(5, to_unix(k.created_at));
  st.bind(6, to_unix(k.activates_at));
  st.bind(7, optional_unix(k.retires_at));
  st.bind(8, optional_unix(k.expires_at));
  return Ok();
}

oauth::SigningKeyRecord read_key(const Statement& st) {
  oauth::SigningKeyRecord k;
  k.kid = st.text(0);
  k.alg = st.text(1);
  k.sealed_private_key = st.blob(2);
  k.public_jwk = st.text(3);
  k.created_at = from_unix(st.int64(4));
  k.activates_at = from_unix(st.int64(5));
  k.retires_at = optional_time(st.optional_int64(6));
  k.expires_at = optional_time(st.optional_int64(7));
  return k;
}

// ---- policy versions ----

constexpr std::string_view kPolicyColumns =
    "version, document, sha256_hex, applied_at, applied_by, origin, rolled_back_from";

// Listings leave the documents out: they can be large, and a history shows none of them.
constexpr std::string_view kPolicyListColumns =
    "version, '', sha256_hex, applied_at, applied_by, origin, rolled_back_from";

// Checks what the schema would refuse, with a message that names the field.
Result<void> check_policy_version(const oauth::PolicyVersion& v) {
  if (v.version < 1) {
    return std::unexpected(Error::invalid_argument("policy version numbers start at 1"));
  }
  const bool hex = v.sha256_hex.size() == 64 &&
                   std::all_of(v.sha256_hex.begin(), v.sha256_hex.end(), [](char c) {
                     return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
                   });
  if (!hex) {
    return std::unexpected(
        Error::invalid_argument("policy sha256_hex must be 64 lower-case hexadecimal digits"));
  }
  SIGIL_CHECK(check_not_empty(v.applied_by, "policy applied_by"));
  const bool rollback = v.origin == "rollback";
  if (!rollback && v.origin != "apply" && v.origin != "file") {
    return std::unexpected(Error::invalid_argument("unknown policy origin \"" + v.origin + "\""));
  }
  if (rollback != v.rolled_back_from.has_value()) {
    return std::unexpected(
        Error::invalid_argument("rolled_back_from is set for a rollback, and only for a rollback"));
  }
  if (v.rolled_back_from && (*v.rolled_back_from < 1 || *v.rolled_back_from >= v.version)) {
    return std::unexpected(
        Error::invalid_argument("rolled_back_from must name an earlier policy version"));
  }
  return Ok();
}

oauth::PolicyVersion read_policy_version(const Statement& st) {
  oauth::PolicyVersion v;
  v.version = st.int64(0);
  v.document = st.text(1);
  v.sha256_hex = st.text(2);
  v.applied_at = from_unix(st.int64(3));
  v.applied_by = st.text(4);
  v.origin = st.text(5);
  v.rolled_back_from = st.optional_int64(6);
  return v;
}

// ---- key spaces and API keys ----

constexpr std::string_view kKeySpaceColumns = "id, prefix, name, created_at";

apikeys::KeySpace read_key_space(const Statement& st) {
  return apikeys::KeySpace{st.text(0), st.text(1), st.text(2), from_unix(st.int64(3))};
}

constexpr std::string_view kApiKeyColumns =
    "id, key_space, digest, start, owner, name, scopes, metadata, expires_at, remaining, "
    "rate_limit_limit, rate_limit_window, status, rotated_from, grace_until, created_at, "
    "updated_at, last_used_at";

constexpr std::string_view kInsertApiKey =
    "INSERT INTO api_keys (id, key_space, digest, start, owner, name, scopes, metadata, "
    "expires_at, remaining, rate_limit_limit, rate_limit_window, status, rotated_from, "
    "grace_until, created_at, updated_at, last_used_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, "
    "?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)";

// Parameters as in kInsertApiKey; ?2 (key_space), ?3 (digest) and ?16 (created_at) are
// bound but not used: they never change.
constexpr std::string_view kUpdateApiKey =
    "UPDATE api_keys SET start = ?4, owner = ?5, name = ?6, scopes = ?7, metadata = ?8, "
    "expires_at = ?9, rate_limit_limit = ?11, rate_limit_window = ?12, "
    "status = ?13, rotated_from = ?14, grace_until = ?15, updated_at = ?17, "
    "last_used_at = ?18 WHERE id = ?1";

std::string_view status_text(apikeys::KeyStatus status) {
  switch (status) {
    case apikeys::KeyStatus::kActive:
      return "active";
    case apikeys::KeyStatus::kDisabled:
      return "disabled";
    case apikeys::KeyStatus::kRevoked:
      return "revoked";
  }
  return "";
}

// Checks what the schema would refuse (and what a later read could not use), with a
// message that names the field instead of SQLite's constraint text.
Result<void> check_api_key(const apikeys::ApiKey& k, bool new_key) {
  SIGIL_CHECK(check_not_empty(k.id, "API key id"));
  SIGIL_CHECK(check_not_empty(k.owner, "API key owner"));
  SIGIL_CHECK(check_not_empty(k.start, "API key start"));
  if (new_key) {
    SIGIL_CHECK(check_not_empty(k.key_space, "API key space"));
    if (k.digest.size() != kDigestBytes) {
      return std::unexpected(
          Error::invalid_argument("API key digest must be a 32-byte SHA-256 digest"));
    }
  }
  json::error_code ec;
  const json::value metadata = json::parse(k.metadata, ec);
  if (ec || !metadata.is_object()) {
    return std::unexpected(Error::invalid_argument("API key metadata is not a JSON object"));
  }
  if (k.remaining && *k.remaining < 0) {
    return std::unexpected(Error::invalid_argument("API key credits are negative"));
  }
  if (k.rate_limit && (k.rate_limit->limit < 1 || k.rate_limit->window < Seconds(1))) {
    return std::unexpected(
        Error::invalid_argument("API key rate limit must allow at least 1 request per second"));
  }
  if (status_text(k.status).empty()) {
    return std::unexpected(Error::invalid_argument("API key status is unknown"));
  }
  return Ok();
}

// Binds ?1..?18 in the order of kApiKeyColumns, after validating the record.
Result<void> bind_api_key(Statement& st, const apikeys::ApiKey& k, bool new_key) {
  SIGIL_CHECK(check_api_key(k, new_key));
  SIGIL_TRY(scopes, list_to_json(k.scopes, "API key scopes"));
  st.bind_text(1, k.id);
  st.bind_text(2, k.key_space);
  st.bind_blob(3, k.digest);
  st.bind_text(4, k.start);
  st.bind_text(5, k.owner);
  st.bind_text(6, k.name);
  st.bind_text(7, scopes);
  st.bind_text(8, k.metadata);
  st.bind(9, optional_unix(k.expires_at));
  st.bind(10, k.remaining);
  if (k.rate_limit) {
    st.bind(11, k.rate_limit->limit);
    st.bind(12, static_cast<std::int64_t>(k.rate_limit->window.count()));
  } else {
    st.bind_null(11);
    st.bind_null(12);
  }
  st.bind_text(13, status_text(k.status));
  if (k.rotated_from) {
    st.bind_text(14, *k.rotated_from);
  } else {
    st.bind_null(14);
  }
  st.bind(15, optional_unix(k.grace_until));
  st.bind(16, to_unix(k.created_at));
  st.bind(17, to_unix(k.updated_at));
  st.bind(18, optional_unix(k.last_used_at));
  return Ok();
}

// Metadata is returned as stored: the schema's CHECK keeps it a JSON object.
Result<apikeys::ApiKey> read_api_key(const Statement& st) {
  apikeys::ApiKey k;
  k.id = st.text(0);
  k.key_space = st.text(1);
  k.digest = st.blob(2);
  k.start = st.text(3);
  k.owner = st.text(4);
  k.name = st.text(5);
  SIGIL_TRY(scopes, list_from_json(st.text(6), "scopes", "API key " + k.id));
  k.scopes = std::move(scopes);
  k.metadata = st.text(7);
  k.expires_at = optional_time(st.optional_int64(8));
  k.remaining = st.optional_int64(9);
  if (!st.is_null(10) && !st.is_null(11)) {
    k.rate_limit = apikeys::RateLimit{st.int64(10), Seconds(st.int64(11))};
  }
  const std::string status = st.text(12);
  if (status == "active") {
    k.status = apikeys::KeyStatus::kActive;
  } else if (status == "disabled") {
    k.status = apikeys::KeyStatus::kDisabled;
  } else if (status == "revoked") {
    k.status = apikeys::KeyStatus::kRevoked;
  } else {
    return std::unexpected(
        Error::internal("sqlite: damaged row: unknown status of API key " + k.id));
  }
  if (!st.is_null(13)) k.rotated_from = st.text(13);
  k.grace_until = optional_time(st.optional_int64(14));
  k.created_at = from_unix(st.int64(15));
  k.updated_at = from_unix(st.int64(16));
  k.last_used_at = optional_time(st.optional_int64(17));
  return k;
}

// ---- the certificate authority ----

constexpr std::string_view kTrustDomainSetting = "trust_domain";
constexpr std::size_t kMaxListing = 1000;

constexpr std::string_view kCaKeyColumns =
    "id, kind, certificate_pem, sealed_private_key, parent_id, created_at, activates_at, "
    "not_after";

std::string_view kind_text(ca::CaKeyKind kind) {
  return kind == ca::CaKeyKind::kRoot ? "root" : "intermediate";
}

// Checks what the schema would refuse, with a message that names the field.
Result<void> check_ca_key(const ca::CaKeyRecord& k) {
  SIGIL_CHECK(check_not_empty(k.id, "CA key id"));
  if (k.kind != ca::CaKeyKind::kRoot && k.kind != ca::CaKeyKind::kIntermediate) {
    return std::unexpected(Error::invalid_argument("CA key kind is unknown"));
  }
  if (k.certificate_pem.empty() && k.sealed_private_key.empty()) {
    return std::unexpected(
        Error::invalid_argument("CA key " + k.id + " has neither a certificate nor a key"));
  }
  if (k.kind == ca::CaKeyKind::kRoot && k.certificate_pem.empty()) {
    return std::unexpected(Error::invalid_argument("root CA " + k.id + " has no certificate"));
  }
  return Ok();
}

// Binds ?1..?8 in the order of kCaKeyColumns, after validating the record.
Result<void> bind_ca_key(Statement& st, const ca::CaKeyRecord& k) {
  SIGIL_CHECK(check_ca_key(k));
  st.bind_text(1, k.id);
  st.bind_text(2, kind_text(k.kind));
  st.bind_text(3, k.certificate_pem);
  st.bind_blob(4, k.sealed_private_key);
  st.bind_text(5, k.parent_id);
  st.bind(6, to_unix(k.created_at));
  st.bind(7, to_unix(k.activates_at));
  st.bind(8, to_unix(k.not_after));
  return Ok();
}

Result<ca::CaKeyRecord> read_ca_key(const Statement& st) {
  ca::CaKeyRecord k;
  k.id = st.text(0);
  const std::string kind = st.text(1);
  if (kind == "root") {
    k.kind = ca::CaKeyKind::kRoot;
  } else if (kind == "intermediate") {
    k.kind = ca::CaKeyKind::kIntermediate;
  } else {
    return std::unexpected(Error::internal("sqlite: damaged row: unknown kind of CA key " + k.id));
  }
  k.certificate_pem = st.text(2);
  k.sealed_private_key = st.blob(3);
  k.parent_id = st.text(4);
  k.created_at = from_unix(st.int64(5));
  k.activates_at = from_unix(st.int64(6));
  k.not_after = from_unix(st.int64(7));
  return k;
}

bool lower_hex(std::string_view text, std::size_t digits) {
  return text.size() == digits && std::all_of(text.begin(), text.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

constexpr std::string_view kCertificateColumns =
    "serial, spiffe_id, subject, dns_names, fingerprint, issuer_id, not_before, not_after, "
    "issued_at";

Result<ca::CertificateRecord> read_certificate(const Statement& st) {
  ca::CertificateRecord c;
  c.serial_hex = st.text(0);
  c.spiffe_id = st.text(1);
  c.subject = st.text(2);
  SIGIL_TRY(dns_names, list_from_json(st.text(3), "dns_names", "certificate " + c.serial_hex));
  c.dns_names = std::move(dns_names);
  c.fingerprint_hex = st.text(4);
  c.issuer_id = st.text(5);
  c.not_before = from_unix(st.int64(6));
  c.not_after = from_unix(st.int64(7));
  c.issued_at = from_unix(st.int64(8));
  return c;
}

std::string sql(std::string_view a, std::string_view b = {}, std::string_view c = {}) {
  std::string out(a);
  out += b;
  out += c;
  return out;
}

}  // namespace

SqliteStore::SqliteStore(std::unique_ptr<Database> db) : db_(std::move(db)) {}
SqliteStore::~SqliteStore() = default;

Result<std::unique_ptr<SqliteStore>> SqliteStore::open(const std::string& path,
                                                       SqliteOptions options) {
  SIGIL_TRY(db, Database::open(path, options.busy_timeout));
  {
    // journal_mode answers with the mode in force: anything but "wal" (a file system
    // without shared memory, say) is refused rather than silently run without it.
    SIGIL_TRY(mode, db.prepare("PRAGMA journal_mode = WAL"));
    SIGIL_TRY(row, mode.step());
    if (!row || mode.text(0) != "wal") {
      return std::unexpected(Error::internal("sqlite: cannot use WAL journal mode for " + path));
    }
  }
  // FULL: see the header. secure_delete overwrites deleted content (old secret digests,
  // sealed keys) instead of leaving it in free pages.
  SIGIL_CHECK(
      db.exec("PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA secure_delete = ON;"));
  SIGIL_CHECK(migrate(db, std::chrono::system_clock::now()));
  return std::unique_ptr<SqliteStore>(new SqliteStore(std::make_unique<Database>(std::move(db))));
}

Result<void> SqliteStore::transaction(std::function<Result<void>()> body) {
  std::lock_guard lock(mu_);
  const bool outermost = transaction_depth_ == 0;
  const std::string savepoint = "sigil_tx_" + std::to_string(transaction_depth_);
  // IMMEDIATE: take the write lock now, so that a reader-turned-writer cannot deadlock
  // with another process and fail half-way.
  SIGIL_CHECK(db_->exec(outermost ? std::string("BEGIN IMMEDIATE") : "SAVEPOINT " + savepoint));
  ++transaction_depth_;
  Result<void> result = body ? body() : Ok();
  --transaction_depth_;
  if (result) {
    auto committed = db_->exec(outermost ? std::string("COMMIT") : "RELEASE " + savepoint);
    if (committed) return Ok();
    result = std::unexpected(std::move(committed).error());
  }
  if (outermost) {
    (void)db_->exec("ROLLBACK");
  } else {
    (void)db_->exec("ROLLBACK TO " + savepoint);
    (void)db_->exec("RELEASE " + savepoint);
  }
  return result;
}

Result<void> SqliteStore::create_client(const oauth::Client& client) {
  std::lock_guard lock(mu_);
  SIGIL_TRY(st, db_->prepare(sql("INSERT INTO clients (", kClientColumns,
                                 ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, "
                                 "?13, ?14, ?15, ?16, ?17, ?18, ?19)")));
  SIGIL_CHECK(bind_client(st, client));
  auto done = st.run();
  if (!done && done.error().code == Code::kAlreadyExists) {
    return std::unexpected(Error::already_exists("client " + client.id + " exists already"));
  }
  return done;
}

Result<oauth::Client> SqliteStore::get_client(std::string_view id) {
  std::lock_guard lock(mu_);
  SIGIL_TRY(st, db_->prepare(sql("SELECT ", kClientColumns, " FROM clients WHERE id = ?1")));
  st.bind_text(1, id);
  SIGIL_TRY(row, st.step());
  if (!row) return std::unexpected(Error::not_found("no client " + std::string(id)));
  return read_client(st);
}

Result<std::vector<oauth::Client>> SqliteStore::list_clients() {
  std::lock_guard lock(mu_);
  SIGIL_TRY(st, db_->prepare(sql("SELECT ", kClientColumns, " FROM clients ORDER BY id")));
  std::vector<oauth::Client> clients;
  while (true) {
    SIGIL_TRY(row, st.step());
    if (!row) break;
    SIGIL_TRY(client, read_client(st));
    clients.push_back(std::move(client));
  }
  return clients;
}

Result<void> SqliteStore::update_client(const oauth::Client& client) {
  std::lock_guard lock(mu_);
  SIGIL_TRY(st, db_->prepare("UPDATE clients SET name = ?2, attributes = ?3, allowed_scopes = ?4, "
                             "allowed_audiences = ?5, auth_methods = ?6, status = ?7, "
                             "secret_digest = ?8, secret_expires_at = ?9, "
                             "previous_secret_digest = ?10, previous_secret_expires_at = ?11, "
                             "created_at = ?12, updated_at = ?13, jwks = ?14, jwks_uri = ?15, "
                             "tls_client_auth_subject_dn = ?16, tls_client_auth_san_uri = ?17, "
                             "tls_client_auth_san_dns = ?18, tls_client_certificates = ?19 "
                             "WHERE id = ?1"));
  SIGIL_CHECK(bind_client(st, client));
  SIGIL_CHECK(st.run());
  if (db_->changes() == 0) return std::unexpected(Error::not_found("no client " + client.id));
  return Ok();
}

Result<void> SqliteStore::create_signing_key(const oauth::SigningKeyRecord& key) {
  std::lock_guard lock(mu_);
  SIGIL_TRY(st, db_->prepare(sql("INSERT INTO signing_keys (", kKeyColumns,
                                 ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)")));
  SIGIL_CHECK(bind_key(st, key));
  auto done = st.run();
  if (!done && done.error().code == Code::kAlreadyExists) {
    return std::unexpected(Error::already_exists("signing key " + key.kid + " exists already"));
  }
  return done;
}

Result<std::vector<oauth::SigningKeyRecord>> SqliteStore::list_signing_keys() {
  std::lock_guard lock(mu_);
  SIGIL_TRY(st, db_->prepare(
                    sql("SELECT ", kKeyColumns, " FROM signing_keys ORDER BY activates_at, kid")));
  std::vector<oauth::SigningKeyRecord> keys;
  while (true) {
    SIGIL_TRY(row, st.step());
    if (!row) break;
    keys.push_back(read_key(st));
  }
  return keys;
}

Result<void> SqliteStore::update_signing_key(const oauth::SigningKeyRecord& key) {
  std::lock_guard lock(mu_);
  SIGIL_TRY(st, db_->prepare("UPDATE signing_keys SET alg = ?2, sealed_private_key = ?3, "
                             "public_jwk = ?4, created_at = ?5, activates_at = ?6, "
                             "retires_at = ?7, expires_at = ?8 WHERE kid = ?1"));
  SIGIL_CHECK(bind_key(st, key));
  SIGIL_CHECK(st.run());
  if (db_->changes() == 0) return std::unexpected(Error::not_found("no signing key " + key.kid));
  return Ok();
}

Result<void> SqliteStore::delete_signing_key(std::string_view kid) {
  std::lock_guard lock(mu_);
  SIGIL_TRY(st, db_->prepare("DELETE FROM signing_keys WHERE kid = ?1"));
  st.bind_text(1, kid);
  SIGIL_CHECK(st.run());
  if (db_->changes() == 0) {
    return std::unexpected(Error::not_found("no signing key " + std::string(kid)));
  }
  return Ok();
}

Result<void> SqliteStore::revoke_token(const oauth::RevokedToken& token) {
  SIGIL_CHECK(check_not_empty(token.jti, "jti"));
  std::lock_guard lock(mu_);
  // A second revocation never shortens the first: the entry must outlive the token.
  SIGIL_TRY(st, db_->prepare("INSERT INTO revoked_tokens (jti, expires_at) VALUES (?1, ?2) "
                             "ON CONFLICT (jti) DO UPDATE SET "
                             "expires_at = max(expires_at, excluded.expires_at)"));
  st.bind_text(1, token.jti);
  st.bind(2, to_unix(token.expires_at));
  return st.run();
}

Result<std::vector<oauth::RevokedToken>> SqliteStore::list_revoked_tokens(TimePoint now) {
  std::lock_guard lock(mu_);
  SIGIL_TRY(st, db_->prepare("SELECT jti, expires_at FROM revoked_tokens WHERE expires_at > ?1 "
                             "ORDER BY expires_at, jti"));
  st.bind(1, to_unix(now));
  std::vector<oauth::RevokedToken> tokens;
  while (true) {
    SIGIL_TRY(row, st.step());
    if (!row) break;
    tokens.push_back(oauth::RevokedToken{st.text(0), from_unix(st.int64(1))});
  }
  return tokens;
}

Result<void> SqliteStore::purge_revoked_tokens(TimePoint expired_before) {
  std::lock_guard lock(mu_);
  SIGIL_TRY(st, db_->prepare("DELETE FROM revoked_tokens WHERE expires_at < ?1"));
  st.bind(1, to_unix(expired_before));
  return st.run();
}

Result<std::optional<std::string>> SqliteStore::get_setting(std::string_view name) {
  std::lock_guard lock(mu_);
  SIGIL_TRY(st, db_->prepare("SELECT value FROM settings WHERE name = ?1"));
  st.bind_text(1, name);
  SIGIL_TRY(row, st.step());
  if (!row) return std::optional<std::string>();
  return std::optional<std::string>(st.text(0));
}

Result<void> SqliteStore::put_setting(std::string_view name, std::string_view value) {
  SIGIL_CHECK(check_not_empty(name, "setting name"));
  std::lock_guard lock(mu_);
  SIGIL_TRY(st, db_->prepare("INSERT INTO settings (name, value) VALUES (?1, ?2) "
                             "ON CONFLICT (name) DO UPDATE SET value = excluded.value"));
  st.bind_text(1, name);
  st.bind_text(2, value);
  return st.run();
}

// ---- policy versions ----

Result<void> SqliteStore::delete_client_locked(std::string_view id) {
  SIGIL_TRY(st, db_->prepare("DELETE FROM clients WHERE id = ?1"));
  st.bind_text(1, id);
  SIGIL_CHECK(st.run());
  if (db_->changes() == 0) {
    return std::unexpected(Error::not_found("no client " + std::string(id)));
  }
  return Ok();
}

Result<void> SqliteStore::commit_policy(const oauth::PolicyVersion& version,
                                        const std::vector<oauth::Client>& create,
                                        const std::vector<oauth::Client>& update,
                                        const std::vector<std::string>& remove) {
  SIGIL_CHECK(check_policy_version(version));
  return transaction([&]() -> Result<void> {
    // Inside the transaction, so that two writers cannot both take the same number.
    {
      SIGIL_TRY(newest, db_->prepare("SELECT coalesce(max(version), 0) FROM policy_versions"));
      SIGIL_TRY(row, newest.step());
      const std::int64_t next = (row ? newest.int64(0) : 0) + 1;
      if (version.version != next) {
        return std::unexpected(Error::already_exists(
            "policy version " + std::to_string(version.version) +
            " cannot be stored: the next version is " + std::to_string(next)));
      }
    }
    for (const auto& client : create) SIGIL_CHECK(create_client(client));
    for (const auto& client : update) SIGIL_CHECK(update_client(client));
    for (const auto& id : remove) SIGIL_CHECK(delete_client_locked(id));
    SIGIL_TRY(st, db_->prepare(sql("INSERT INTO policy_versions (", kPolicyColumns,
                                   ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)")));
    st.bind(1, version.version);
    st.bind_text(2, version.document);
    st.bind_text(3, version.sha256_hex);
    st.bind(4, to_unix(version.applied_at));
    st.bind_text(5, version.applied_by);
    st.bind_text(6, version.origin);
    st.bind(7, version.rolled_back_from);
    return st.run();
  });
}

Result<std::optional<oauth::PolicyVersion>> SqliteStore::latest_policy_version() {
  std::lock_guard lock(mu_);
  SIGIL_TRY(st, db_->prepare(sql("SELECT ", kPolicyColumns,
                                 " FROM policy_versions ORDER BY version DESC LIMIT 1")));
  SIGIL_TRY(row, st.step());
  if (!row) return std::optional<oauth::PolicyVersion>();
  return std::optional<oauth::PolicyVersion>(read_policy_version(st));
}

Result<oauth::PolicyVersion> SqliteStore::get_policy_version(std::int64_t version) {
  std::lock_guard lock(mu_);
  SIGIL_TRY(
      st, db_->prepare(sql("SELECT ", kPolicyColumns, " FROM policy_versions WHERE version = ?1")));
  st.bind(1, version);
  SIGIL_TRY(row, st.step());
  if (!row) {
    return std::unexpected(Error::not_found("no policy version " + std::to_string(version)));
  }
  return read_policy_version(st);
}

Result<std::vector<oauth::PolicyVersion>> SqliteStore::list_policy_versions() {
  std::lock_guard lock(mu_);
  SIGIL_TRY(st, db_->prepare(sql("SELECT ", kPolicyListColumns,
                                 " FROM policy_versions ORDER BY version DESC")));
  std::vector<oauth::PolicyVersion> versions;
  while (true) {
    SIGIL_TRY(row, st.step());
    if (!row) break;
    versions.push_back(read_policy_version(st));
  }
  return versions;
}

// ---- key spaces ----

Result<void> SqliteStore::create_key_space(const apikeys::KeySpace& space) {
  SIGIL_CHECK(check_not_empty(space.id, "key space id"));
  SIGIL_CHECK(check_not_empty(space.prefix, "key space prefix"));
  std::lock_guard lock(mu_);
  SIGIL_TRY(st, db_->prepare(sql("INSERT INTO key_spaces (", kKeySpaceColumns,
                                 ") VALUES (?1, ?2, ?3, ?4)")));
  st.bind_text(1, space.id);
  st.bind_text(2, space.prefix);
  st.bind_text(3, space.name);
  st.bind(4, to_unix(space.created_at));
  auto done = st.run();
  if (!done && done.error().code == Code::kAlreadyExists) {
    return std::unexpected(Error::already_exists("key space " + space.id + " or prefix " +
                                                 space.prefix + " exists already"));
  }
  return done;
}

Result<apikeys::KeySpace> SqliteStore::get_key_space(std::string_view id) {
  std::lock_guard lock(mu_);
  SIGIL_TRY(st, db_->prepare(sql("SELECT ", kKeySpaceColumns, " FROM key_spaces WHERE id = ?1")));
  st.bind_text(1, id);
  SIGIL_TRY(row, st.step());
  if (!row) return std::unexpected(Error::not_found("no key space " + std::string(id)));
  return read_key_space(st);
}

Result<std::vector<apikeys::KeySpace>> SqliteStore::list_key_spaces() {
  std::lock_guard lock(mu_);
  SIGIL_TRY(st, db_->prepare(sql("SELECT ", kKeySpaceColumns, " FROM key_spaces ORDER BY id")));
  std::vector<apikeys::KeySpace> spaces;
  while (true) {
    SIGIL_TRY(row, st.step());
    if (!row) break;
    spaces.push_back(read_key_space(st));
  }
  return spaces;
}

// ---- API keys ----

Result<void> SqliteStore::insert_api_key_locked(const apikeys::ApiKey& key) {
  SIGIL_TRY(st, db_->prepare(kInsertApiKey));
  SIGIL_CHECK(bind_api_key(st, key, /*new_key=*/true));
  auto done = st.run();
  if (done) return Ok();
  // The digest is not named: it identifies a key as well as the key does.
  if (done.error().code == Code::kAlreadyExists) {
    return std::unexpected(
        Error::already_exists("API key " + key.id + " or one with the same digest exists"));
  }
  if (done.error().code == Code::kFailedPrecondition) {
    return std::unexpected(Error::not_found("no key space " + key.key_space));
  }
  return done;
}

Result<void> SqliteStore::create_api_key(const apikeys::ApiKey& key) {
  std::lock_guard lock(mu_);
  return insert_api_key_locked(key);
}

Result<void> SqliteStore::insert_api_keys(const std::vector<apikeys::ApiKey>& keys) {
  return transaction([&]() -> Result<void> {
    for (const auto& key : keys) SIGIL_CHECK(insert_api_key_locked(key));
    return Ok();
  });
}

Result<apikeys::ApiKey> SqliteStore::get_api_key(std::string_view id) {
  std::lock_guard lock(mu_);
  SIGIL_TRY(st, db_->prepare(sql("SELECT ", kApiKeyColumns, " FROM api_keys WHERE id = ?1")));
  st.bind_text(1, id);
  SIGIL_TRY(row, st.step());
  if (!row) return std::unexpected(Error::not_found("no API key " + std::string(id)));
  return read_api_key(st);
}

Result<std::vector<apikeys::ApiKey>> SqliteStore::list_api_keys(const apikeys::ApiKeyQuery& query) {
  SIGIL_CHECK(check_not_empty(query.key_space, "key space of the listing"));
  if (query.limit < 1 || query.limit > 1000) {
    return std::unexpected(Error::invalid_argument("listing limit must be 1..1000"));
  }
  std::lock_guard lock(mu_);
  // Two statements rather than "(?2 IS NULL OR owner = ?2)", so that each uses its index.
  SIGIL_TRY(st, db_->prepare(query.owner ? sql("SELECT ", kApiKeyColumns,
                                               " FROM api_keys WHERE key_space = ?1 AND owner = ?2 "
                                               "AND id > ?3 ORDER BY id LIMIT ?4")
                                         : sql("SELECT ", kApiKeyColumns,
                                               " FROM api_keys WHERE key_space = ?1 AND id > ?3 "
                                               "ORDER BY id LIMIT ?4")));
  st.bind_text(1, query.key_space);
  if (query.owner) st.bind_text(2, *query.owner);
  st.bind_text(3, query.after_id);
  st.bind(4, static_cast<std::int64_t>(query.limit));
  std::vector<apikeys::ApiKey> keys;
  keys.reserve(query.limit);
  while (true) {
    SIGIL_TRY(row, st.step());
    if (!row) break;
    SIGIL_TRY(key, read_api_key(st));
    keys.push_back(std::move(key));
  }
  return keys;
}

Result<void> SqliteStore::for_each_api_key(const std::function<bool(apikeys::ApiKey&&)>& visit) {
  std::lock_guard lock(mu_);
  // A nested walk would reuse, and so reset, the cached statement of this one.
  if (walking_keys_) {
    return std::unexpected(Error::failed_precondition("for_each_api_key is already running"));
  }
  walking_keys_ = true;
  struct Done {
    bool& flag;
    ~Done() { flag = false; }
  } done{walking_keys_};
  SIGIL_TRY(st, db_->prepare(sql("SELECT ", kApiKeyColumns, " FROM api_keys ORDER BY id")));
  while (true) {
    SIGIL_TRY(row, st.step());
    if (!row) break;
    SIGIL_TRY(key, read_api_key(st));
    if (!visit(std::move(key))) break;
  }
  return Ok();
}

Result<void> SqliteStore::update_api_key_locked(const apikeys::ApiKey& key) {
  SIGIL_TRY(st, db_->prepare(kUpdateApiKey));
  SIGIL_CHECK(bind_api_key(st, key, /*new_key=*/false));
  SIGIL_CHECK(st.run());
  if (db_->changes() == 0) return std::unexpected(Error::not_found("no API key " + key.id));
  return Ok();
}

Result<void> SqliteStore::update_api_key(const apikeys::ApiKey& key) {
  std::lock_guard lock(mu_);
  return update_api_key_locked(key);
}

Result<void> SqliteStore::rotate_api_key(const apikeys::ApiKey& old_key,
                                         const apikeys::ApiKey& new_key) {
  return transaction([&]() -> Result<void> {
    SIGIL_CHECK(insert_api_key_locked(new_key));
    return update_api_key_locked(old_key);
  });
}

Result<void> SqliteStore::set_remaining(std::string_view id,
                                        std::optional<std::int64_t> remaining) {
  if (remaining && *remaining < 0) {
    return std::unexpected(Error::invalid_argument("API key credits cannot be negative"));
  }
  std::lock_guard lock(mu_);
  SIGIL_TRY(st, db_->prepare("UPDATE api_keys SET remaining = ?2 WHERE id = ?1"));
  st.bind_text(1, id);
  st.bind(2, remaining);
  SIGIL_CHECK(st.run());
  if (db_->changes() == 0)
    return std::unexpected(Error::not_found("no API key " + std::string(id)));
  return Ok();
}

Result<std::int64_t> SqliteStore::consume_credit(std::string_view id) {
  std::lock_guard lock(mu_);
  {
    // One statement: the check and the decrement cannot be separated, not even by another
    // process writing the same file.
    SIGIL_TRY(st, db_->prepare("UPDATE api_keys SET remaining = remaining - 1 "
                               "WHERE id = ?1 AND remaining > 0 RETURNING remaining"));
    st.bind_text(1, id);
    SIGIL_TRY(row, st.step());
    if (row) {
      const std::int64_t left = st.int64(0);
      SIGIL_TRY(more, st.step());
      if (more) return std::unexpected(Error::internal("sqlite: API key id is not unique"));
      return left;
    }
  }
  // Nothing was taken; say why.
  SIGIL_TRY(st, db_->prepare("SELECT remaining FROM api_keys WHERE id = ?1"));
  st.bind_text(1, id);
  SIGIL_TRY(row, st.step());
  if (!row) return std::unexpected(Error::not_found("no API key " + std::string(id)));
  if (st.is_null(0)) {
    return std::unexpected(
        Error::failed_precondition("API key " + std::string(id) + " has unlimited credits"));
  }
  return std::unexpected(
      Error::resource_exhausted("API key " + std::string(id) + " has no credits left"));
}

Result<void> SqliteStore::record_last_used(
    const std::vector<std::pair<std::string, TimePoint>>& uses) {
  if (uses.empty()) return Ok();
  return transaction([&]() -> Result<void> {
    for (const auto& [id, at] : uses) {
      // max() with a NULL is NULL in SQLite, hence the coalesce.
      SIGIL_TRY(st, db_->prepare("UPDATE api_keys SET last_used_at = "
                                 "max(coalesce(last_used_at, ?2), ?2) WHERE id = ?1"));
      st.bind_text(1, id);
      st.bind(2, to_unix(at));
      SIGIL_CHECK(st.run());
    }
    return Ok();
  });
}

Result<std::vector<std::string>> SqliteStore::revoke_owner_keys(std::string_view key_space,
                                                                std::string_view owner,
                                                                TimePoint now) {
  std::vector<std::string> ids;
  auto done = transaction([&]() -> Result<void> {
    SIGIL_TRY(st, db_->prepare("UPDATE api_keys SET status = 'revoked', updated_at = ?3 "
                               "WHERE key_space = ?1 AND owner = ?2 "
                               "AND status IN ('active', 'disabled') RETURNING id"));
    st.bind_text(1, key_space);
    st.bind_text(2, owner);
    st.bind(3, to_unix(now));
    while (true) {
      SIGIL_TRY(row, st.step());
      if (!row) break;
      ids.push_back(st.text(0));
    }
    return Ok();
  });
  if (!done) return std::unexpected(std::move(done).error());
  std::sort(ids.begin(), ids.end());
  return ids;
}

// ---- the certificate authority ----

Result<void> SqliteStore::insert_ca_key_locked(const ca::CaKeyRecord& key) {
  SIGIL_TRY(st, db_->prepare(sql("INSERT INTO ca_keys (", kCaKeyColumns,
                                 ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)")));
  SIGIL_CHECK(bind_ca_key(st, key));
  auto done = st.run();
  if (!done && done.error().code == Code::kAlreadyExists) {
    return std::unexpected(Error::already_exists("CA key " + key.id + " exists already"));
  }
  return done;
}

Result<void> SqliteStore::initialise_ca(std::string_view trust_domain,
                                        const std::vector<ca::CaKeyRecord>& keys) {
  SIGIL_CHECK(check_not_empty(trust_domain, "trust domain"));
  return transaction([&]() -> Result<void> {
    // Inside the transaction, so that two processes cannot both initialise.
    SIGIL_TRY(existing, get_setting(kTrustDomainSetting));
    if (existing) {
      return std::unexpected(
          Error::already_exists("the trust domain " + *existing + " is stored already"));
    }
    SIGIL_CHECK(put_setting(kTrustDomainSetting, trust_domain));
    for (const auto& key : keys) SIGIL_CHECK(insert_ca_key_locked(key));
    return Ok();
  });
}

Result<std::optional<std::string>> SqliteStore::get_trust_domain() {
  return get_setting(kTrustDomainSetting);
}

Result<void> SqliteStore::create_ca_key(const ca::CaKeyRecord& key) {
  std::lock_guard lock(mu_);
  return insert_ca_key_locked(key);
}

Result<void> SqliteStore::update_ca_key(const ca::CaKeyRecord& key) {
  std::lock_guard lock(mu_);
  SIGIL_TRY(st, db_->prepare("UPDATE ca_keys SET kind = ?2, certificate_pem = ?3, "
                             "sealed_private_key = ?4, parent_id = ?5, created_at = ?6, "
                             "activates_at = ?7, not_after = ?8 WHERE id = ?1"));
  SIGIL_CHECK(bind_ca_key(st, key));
  SIGIL_CHECK(st.run());
  if (db_->changes() == 0) return std::unexpected(Error::not_found("no CA key " + key.id));
  return Ok();
}

Result<void> SqliteStore::import_ca_keys(const std::optional<ca::CaKeyRecord>& new_root,
                                         const ca::CaKeyRecord& intermediate) {
  return transaction([&]() -> Result<void> {
    if (new_root) SIGIL_CHECK(create_ca_key(*new_root));
    return update_ca_key(intermediate);
  });
}

Result<std::vector<ca::CaKeyRecord>> SqliteStore::list_ca_keys() {
  std::lock_guard lock(mu_);
  SIGIL_TRY(st,
            db_->prepare(sql("SELECT ", kCaKeyColumns, " FROM ca_keys ORDER BY created_at, id")));
  std::vector<ca::CaKeyRecord> keys;
  while (true) {
    SIGIL_TRY(row, st.step());
    if (!row) break;
    SIGIL_TRY(key, read_ca_key(st));
    keys.push_back(std::move(key));
  }
  return keys;
}

Result<void> SqliteStore::record_certificate(const ca::CertificateRecord& c) {
  if (!lower_hex(c.serial_hex, 32)) {
    return std::unexpected(
        Error::invalid_argument("certificate serial must be 32 lower-case hexadecimal digits"));
  }
  if (!lower_hex(c.fingerprint_hex, 64)) {
    return std::unexpected(Error::invalid_argument(
        "certificate fingerprint must be 64 lower-case hexadecimal digits"));
  }
  SIGIL_TRY(dns_names, list_to_json(c.dns_names, "certificate DNS names"));
  std::lock_guard lock(mu_);
  SIGIL_TRY(st, db_->prepare(sql("INSERT INTO certificates (", kCertificateColumns,
                                 ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)")));
  st.bind_text(1, c.serial_hex);
  st.bind_text(2, c.spiffe_id);
  st.bind_text(3, c.subject);
  st.bind_text(4, dns_names);
  st.bind_text(5, c.fingerprint_hex);
  st.bind_text(6, c.issuer_id);
  st.bind(7, to_unix(c.not_before));
  st.bind(8, to_unix(c.not_after));
  st.bind(9, to_unix(c.issued_at));
  auto done = st.run();
  if (!done && done.error().code == Code::kAlreadyExists) {
    return std::unexpected(
        Error::already_exists("certificate " + c.serial_hex + " is recorded already"));
  }
  return done;
}

Result<ca::CertificateRecord> SqliteStore::get_certificate(std::string_view serial_hex) {
  std::lock_guard lock(mu_);
  SIGIL_TRY(st, db_->prepare(
                    sql("SELECT ", kCertificateColumns, " FROM certificates WHERE serial = ?1")));
  st.bind_text(1, serial_hex);
  SIGIL_TRY(row, st.step());
  if (!row) return std::unexpected(Error::not_found("no certificate " + std::string(serial_hex)));
  return read_certificate(st);
}

Result<std::vector<ca::CertificateRecord>> SqliteStore::list_certificates(
    std::optional<std::string_view> spiffe_id, std::size_t limit) {
  if (limit < 1 || limit > kMaxListing) {
    return std::unexpected(Error::invalid_argument("listing limit must be 1..1000"));
  }
  std::lock_guard lock(mu_);
  // Two statements rather than "(?1 IS NULL OR spiffe_id = ?1)", so that each uses its index.
  SIGIL_TRY(st, db_->prepare(spiffe_id ? sql("SELECT ", kCertificateColumns,
                                             " FROM certificates WHERE spiffe_id = ?1 "
                                             "ORDER BY issued_at DESC, serial DESC LIMIT ?2")
                                       : sql("SELECT ", kCertificateColumns,
                                             " FROM certificates "
                                             "ORDER BY issued_at DESC, serial DESC LIMIT ?2")));
  if (spiffe_id) st.bind_text(1, *spiffe_id);
  st.bind(2, static_cast<std::int64_t>(limit));
  std::vector<ca::CertificateRecord> out;
  while (true) {
    SIGIL_TRY(row, st.step());
    if (!row) break;
    SIGIL_TRY(c, read_certificate(st));
    out.push_back(std::move(c));
  }
  return out;
}

}  // namespace sigil::store::sqlite
