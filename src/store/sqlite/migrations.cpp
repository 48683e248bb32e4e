#include "store/sqlite/migrations.hpp"

#include <array>
#include <string>

namespace sigil::store::sqlite {
namespace {

// Conventions: STRICT tables; times are INTEGER unix seconds; digests and sealed keys are
// BLOBs; lists and maps are JSON text, checked by the database as well as by the code.
// Never edit a migration that has shipped: add the next one.
constexpr std::string_view kV1 = R"sql(
CREATE TABLE clients (
  id                          TEXT    NOT NULL PRIMARY KEY,
  name                        TEXT    NOT NULL,
  attributes                  TEXT    NOT NULL DEFAULT '{}'
                              CHECK (json_valid(attributes) AND json_type(attributes) = 'object'),
  allowed_scopes              TEXT    NOT NULL DEFAULT '[]'
                              CHECK (json_valid(allowed_scopes) AND json_type(allowed_scopes) = 'array'),
  allowed_audiences           TEXT    NOT NULL DEFAULT '[]'
                              CHECK (json_valid(allowed_audiences) AND json_type(allowed_audiences) = 'array'),
  auth_methods                TEXT    NOT NULL DEFAULT '[]'
                              CHECK (json_valid(auth_methods) AND json_type(auth_methods) = 'array'),
  status                      TEXT    NOT NULL CHECK (status IN ('active', 'disabled')),
  -- SHA-256 of the current secret (empty: no secret) and of the one being rotated out.
  secret_digest               BLOB    NOT NULL CHECK (length(secret_digest) IN (0, 32)),
  secret_expires_at           INTEGER,
  previous_secret_digest      BLOB    CHECK (previous_secret_digest IS NULL
                                             OR length(previous_secret_digest) IN (0, 32)),
  previous_secret_expires_at  INTEGER,
  created_at                  INTEGER NOT NULL,
  updated_at                  INTEGER NOT NULL
) STRICT;

-- A key's state (next, active, retired, gone) follows from its times.
CREATE TABLE signing_keys (
  kid                 TEXT    NOT NULL PRIMARY KEY,
  alg                 TEXT    NOT NULL,
  sealed_private_key  BLOB    NOT NULL,
  public_jwk          TEXT    NOT NULL,
  created_at          INTEGER NOT NULL,
  activates_at        INTEGER NOT NULL,
  retires_at          INTEGER,
  expires_at          INTEGER
) STRICT;
CREATE INDEX signing_keys_by_activation ON signing_keys (activates_at);

-- Revoked tokens are kept until their own expiry, then purged.
CREATE TABLE revoked_tokens (
  jti         TEXT    NOT NULL PRIMARY KEY,
  expires_at  INTEGER NOT NULL
) STRICT;
CREATE INDEX revoked_tokens_by_expiry ON revoked_tokens (expires_at);

CREATE TABLE settings (
  name   TEXT NOT NULL PRIMARY KEY,
  value  TEXT NOT NULL
) STRICT;
)sql";

constexpr std::array kMigrations = {
    Migration{1, kV1},
};

}  // namespace

std::span<const Migration> migrations() {
  return kMigrations;
}

Result<void> migrate(Database& db, TimePoint now) {
  // IMMEDIATE takes the write lock up front, so two processes opening the same new file
  // cannot both decide to apply version 1.
  SIGIL_CHECK(db.exec("BEGIN IMMEDIATE"));
  auto result = [&]() -> Result<void> {
    SIGIL_CHECK(
        db.exec("CREATE TABLE IF NOT EXISTS schema_migrations ("
                "version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL) STRICT"));
    std::int64_t current = 0;
    {
      SIGIL_TRY(query, db.prepare("SELECT coalesce(max(version), 0) FROM schema_migrations"));
      SIGIL_TRY(row, query.step());
      if (row) current = query.int64(0);
    }
    const std::int64_t newest = kMigrations.back().version;
    if (current > newest) {
      return std::unexpected(Error::failed_precondition(
          "the database has schema version " + std::to_string(current) +
          ", newer than this sigil knows (" + std::to_string(newest) + "); use a newer sigil"));
    }
    for (const Migration& m : kMigrations) {
      if (m.version <= current) continue;
      SIGIL_CHECK(db.exec(m.sql));
      SIGIL_TRY(record,
                db.prepare("INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)"));
      record.bind(1, m.version);
      record.bind(2, to_unix(now));
      SIGIL_CHECK(record.run());
    }
    return Ok();
  }();
  if (!result) {
    (void)db.exec("ROLLBACK");
    return result;
  }
  return db.exec("COMMIT");
}

}  // namespace sigil::store::sqlite
