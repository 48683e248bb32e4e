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

// API keys (capability 2). A key itself is never stored: only its SHA-256 digest, unique
// so that verification is one lookup by digest, and its first characters for display.
// rotated_from is not a foreign key: it names history, not a dependency.
constexpr std::string_view kV2 = R"sql(
CREATE TABLE key_spaces (
  id          TEXT    NOT NULL PRIMARY KEY,
  prefix      TEXT    NOT NULL UNIQUE,
  name        TEXT    NOT NULL,
  created_at  INTEGER NOT NULL
) STRICT;

CREATE TABLE api_keys (
  id                 TEXT    NOT NULL PRIMARY KEY,
  key_space          TEXT    NOT NULL REFERENCES key_spaces (id),
  digest             BLOB    NOT NULL UNIQUE CHECK (length(digest) = 32),
  start              TEXT    NOT NULL,
  owner              TEXT    NOT NULL,
  name               TEXT    NOT NULL,
  scopes             TEXT    NOT NULL DEFAULT '[]'
                     CHECK (json_valid(scopes) AND json_type(scopes) = 'array'),
  metadata           TEXT    NOT NULL DEFAULT '{}'
                     CHECK (json_valid(metadata) AND json_type(metadata) = 'object'),
  expires_at         INTEGER,
  -- Credits left; NULL: unlimited. Never below zero, whatever the code does.
  remaining          INTEGER CHECK (remaining IS NULL OR remaining >= 0),
  -- A token bucket: both NULL (no limit) or both set.
  rate_limit_limit   INTEGER CHECK (rate_limit_limit IS NULL OR rate_limit_limit >= 1),
  rate_limit_window  INTEGER CHECK (rate_limit_window IS NULL OR rate_limit_window >= 1),
  status             TEXT    NOT NULL CHECK (status IN ('active', 'disabled', 'revoked')),
  rotated_from       TEXT,
  grace_until        INTEGER,
  created_at         INTEGER NOT NULL,
  updated_at         INTEGER NOT NULL,
  last_used_at       INTEGER,
  CHECK ((rate_limit_limit IS NULL) = (rate_limit_window IS NULL))
) STRICT;
CREATE INDEX api_keys_by_owner ON api_keys (key_space, owner, id);
CREATE INDEX api_keys_by_space ON api_keys (key_space, id);
)sql";

// Policy as code (capability 3): every applied policy document, kept whole so that any
// version can be shown or applied again. Versions are numbered 1, 2, ... by the writer,
// which also writes the clients the document declares in the same transaction.
// rolled_back_from, set exactly for rollbacks, is the earlier version whose document was
// applied again; like api_keys.rotated_from it names history and is not a foreign key.
constexpr std::string_view kV3 = R"sql(
CREATE TABLE policy_versions (
  version           INTEGER NOT NULL PRIMARY KEY CHECK (version >= 1),
  document          TEXT    NOT NULL,
  sha256_hex        TEXT    NOT NULL CHECK (length(sha256_hex) = 64
                                            AND sha256_hex NOT GLOB '*[^0-9a-f]*'),
  applied_at        INTEGER NOT NULL,
  applied_by        TEXT    NOT NULL,
  origin            TEXT    NOT NULL CHECK (origin IN ('apply', 'rollback', 'file')),
  rolled_back_from  INTEGER CHECK (rolled_back_from IS NULL
                                   OR (rolled_back_from >= 1 AND rolled_back_from < version)),
  CHECK ((origin = 'rollback') = (rolled_back_from IS NOT NULL))
) STRICT;
)sql";

// Federation (capability 4): a client's public keys for private_key_jwt, registered inline
// (a JWKS object) or published at a URL, never both. Clients written before have neither.
constexpr std::string_view kV4 = R"sql(
ALTER TABLE clients ADD COLUMN jwks TEXT NOT NULL DEFAULT ''
  CHECK (jwks = '' OR (json_valid(jwks) AND json_type(jwks) = 'object'));
ALTER TABLE clients ADD COLUMN jwks_uri TEXT NOT NULL DEFAULT ''
  CHECK (jwks_uri = '' OR jwks = '');
)sql";

// Certificates and mTLS (capability 5): the CA's keys (roots and intermediates, their
// private keys sealed; an external root has none, a pending intermediate no certificate
// yet), the workload certificates it issued, and what a client's TLS certificate must say
// for tls_client_auth / self_signed_tls_client_auth (RFC 8705 §2). parent_id and
// issuer_id name history, like api_keys.rotated_from, and are not foreign keys.
constexpr std::string_view kV5 = R"sql(
CREATE TABLE ca_keys (
  id                  TEXT    NOT NULL PRIMARY KEY CHECK (id <> ''),
  kind                TEXT    NOT NULL CHECK (kind IN ('root', 'intermediate')),
  certificate_pem     TEXT    NOT NULL,
  sealed_private_key  BLOB    NOT NULL,
  parent_id           TEXT    NOT NULL DEFAULT '',
  created_at          INTEGER NOT NULL,
  activates_at        INTEGER NOT NULL,
  not_after           INTEGER NOT NULL,
  CHECK (certificate_pem <> '' OR length(sealed_private_key) > 0),
  CHECK (kind = 'intermediate' OR certificate_pem <> '')
) STRICT;

CREATE TABLE certificates (
  serial       TEXT    NOT NULL PRIMARY KEY CHECK (length(serial) = 32
                                                   AND serial NOT GLOB '*[^0-9a-f]*'),
  spiffe_id    TEXT    NOT NULL,
  subject      TEXT    NOT NULL,
  dns_names    TEXT    NOT NULL DEFAULT '[]'
               CHECK (json_valid(dns_names) AND json_type(dns_names) = 'array'),
  fingerprint  TEXT    NOT NULL CHECK (length(fingerprint) = 64
                                       AND fingerprint NOT GLOB '*[^0-9a-f]*'),
  issuer_id    TEXT    NOT NULL,
  not_before   INTEGER NOT NULL,
  not_after    INTEGER NOT NULL,
  issued_at    INTEGER NOT NULL
) STRICT;
CREATE INDEX certificates_by_spiffe_id ON certificates (spiffe_id, issued_at);
CREATE INDEX certificates_by_issue ON certificates (issued_at);

ALTER TABLE clients ADD COLUMN tls_client_auth_subject_dn TEXT NOT NULL DEFAULT '';
ALTER TABLE clients ADD COLUMN tls_client_auth_san_uri TEXT NOT NULL DEFAULT '';
ALTER TABLE clients ADD COLUMN tls_client_auth_san_dns TEXT NOT NULL DEFAULT '';
ALTER TABLE clients ADD COLUMN tls_client_certificates TEXT NOT NULL DEFAULT '[]'
  CHECK (json_valid(tls_client_certificates) AND json_type(tls_client_certificates) = 'array');
)sql";

constexpr std::array kMigrations = {
    Migration{1, kV1}, Migration{2, kV2}, Migration{3, kV3}, Migration{4, kV4}, Migration{5, kV5},
};

}  // namespace

std::span<const Migration> migrations() {
  return kMigrations;
}

Result<void> migrate(Database& db, TimePoint now) {
  return migrate_to(db, now, kMigrations.back().version);
}

Result<void> migrate_to(Database& db, TimePoint now, std::int64_t target) {
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
      if (m.version <= current || m.version > target) continue;
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
