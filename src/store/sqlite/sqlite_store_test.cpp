#include "store/sqlite/sqlite_store.hpp"
#include "base/testing/temp_dir.hpp"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/stat.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "store/conformance/store_conformance.hpp"
#include "store/sqlite/migrations.hpp"

namespace sigil::store::sqlite {
namespace {

namespace fs = std::filesystem;

using testing::TempDir;

// Keeps the temporary directory until the store is closed.
struct FreshStore {
  TempDir dir;
  std::unique_ptr<SqliteStore> store;
  ~FreshStore() { store.reset(); }
};

Result<conformance::Ports> open_fresh_sqlite() {
  auto fresh = std::make_shared<FreshStore>();
  if (fresh->dir.path().empty()) return std::unexpected(Error::internal("mkdtemp failed"));
  SIGIL_TRY(store, SqliteStore::open((fresh->dir.path() / "sigil.db").string()));
  fresh->store = std::move(store);
  conformance::Ports ports = conformance::all_ports(
      std::shared_ptr<SqliteStore>(fresh, fresh->store.get()));  // aliasing: owns `fresh`
  return ports;
}

}  // namespace
}  // namespace sigil::store::sqlite

namespace sigil::store::conformance {
INSTANTIATE_TEST_SUITE_P(Sqlite, StoreConformance,
                         ::testing::Values(Backend{"sqlite", sqlite::open_fresh_sqlite}),
                         backend_name);
INSTANTIATE_TEST_SUITE_P(Sqlite, PolicyConformance,
                         ::testing::Values(Backend{"sqlite", sqlite::open_fresh_sqlite}),
                         backend_name);
INSTANTIATE_TEST_SUITE_P(Sqlite, ApiKeyConformance,
                         ::testing::Values(Backend{"sqlite", sqlite::open_fresh_sqlite}),
                         backend_name);
INSTANTIATE_TEST_SUITE_P(Sqlite, CaConformance,
                         ::testing::Values(Backend{"sqlite", sqlite::open_fresh_sqlite}),
                         backend_name);
}  // namespace sigil::store::conformance

namespace sigil::store::sqlite {
namespace {

// A second, raw connection to look at (or tamper with) the file behind the store's back.
class Raw {
 public:
  explicit Raw(const std::string& path) { sqlite3_open(path.c_str(), &db_); }
  ~Raw() { sqlite3_close(db_); }
  Raw(const Raw&) = delete;
  Raw& operator=(const Raw&) = delete;
  int exec(const std::string& sql) {
    return sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, nullptr);
  }
  std::int64_t integer(const std::string& sql) {
    sqlite3_stmt* st = nullptr;
    sqlite3_prepare_v2(db_, sql.c_str(), -1, &st, nullptr);
    std::int64_t v = -1;
    if (st != nullptr && sqlite3_step(st) == SQLITE_ROW) v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
  }
  std::string text(const std::string& sql) {
    sqlite3_stmt* st = nullptr;
    sqlite3_prepare_v2(db_, sql.c_str(), -1, &st, nullptr);
    std::string v;
    if (st != nullptr && sqlite3_step(st) == SQLITE_ROW) {
      v = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
    }
    sqlite3_finalize(st);
    return v;
  }

 private:
  sqlite3* db_ = nullptr;
};

class SqliteStoreTest : public ::testing::Test {
 protected:
  std::string db_path() const { return (dir_.path() / "sigil.db").string(); }
  std::unique_ptr<SqliteStore> open_ok(SqliteOptions options = {}) {
    auto store = SqliteStore::open(db_path(), options);
    EXPECT_TRUE(store.has_value()) << store.error().message;
    return store ? std::move(*store) : nullptr;
  }
  TempDir dir_;
};

TEST(Migrations, VersionsStartAtOneWithoutGaps) {
  std::int64_t expected = 1;
  for (const Migration& m : migrations()) {
    EXPECT_EQ(m.version, expected++);
    EXPECT_FALSE(m.sql.empty());
  }
  EXPECT_GT(expected, 1);
}

TEST_F(SqliteStoreTest, MigrationsAreRecorded) {
  const auto before = to_unix(std::chrono::system_clock::now());
  ASSERT_NE(open_ok(), nullptr);
  Raw raw(db_path());
  const auto count = static_cast<std::int64_t>(migrations().size());
  EXPECT_EQ(raw.integer("SELECT count(*) FROM schema_migrations"), count);
  EXPECT_EQ(raw.integer("SELECT max(version) FROM schema_migrations"), migrations().back().version);
  EXPECT_GE(raw.integer("SELECT min(applied_at) FROM schema_migrations"), before);
  EXPECT_EQ(raw.text("PRAGMA journal_mode"), "wal");
  for (const char* table :
       {"clients", "signing_keys", "revoked_tokens", "settings", "key_spaces", "api_keys",
        "api_keys_by_owner", "api_keys_by_space", "policy_versions"}) {
    EXPECT_EQ(
        raw.integer(std::string("SELECT count(*) FROM sqlite_schema WHERE name = '") + table + "'"),
        1)
        << table;
  }
}

TEST_F(SqliteStoreTest, ReopeningKeepsDataAndDoesNotMigrateAgain) {
  {
    auto store = open_ok();
    ASSERT_NE(store, nullptr);
    ASSERT_TRUE(store->create_client(conformance::full_client("kept")).has_value());
    ASSERT_TRUE(store->put_setting("issuer", "https://i.example").has_value());
  }
  auto store = open_ok();
  ASSERT_NE(store, nullptr);
  auto got = store->get_client("kept");
  ASSERT_TRUE(got.has_value()) << got.error().message;
  conformance::expect_same(conformance::full_client("kept"), *got);
  auto issuer = store->get_setting("issuer");
  ASSERT_TRUE(issuer.has_value() && issuer->has_value());
  EXPECT_EQ(**issuer, "https://i.example");
  store.reset();
  Raw raw(db_path());
  EXPECT_EQ(raw.integer("SELECT count(*) FROM schema_migrations"),
            static_cast<std::int64_t>(migrations().size()));
}

TEST_F(SqliteStoreTest, NewerSchemaIsRefused) {
  ASSERT_NE(open_ok(), nullptr);
  {
    Raw raw(db_path());
    ASSERT_EQ(raw.exec("INSERT INTO schema_migrations VALUES (9999, 0)"), SQLITE_OK);
  }
  auto store = SqliteStore::open(db_path());
  ASSERT_FALSE(store.has_value());
  EXPECT_EQ(store.error().code, Code::kFailedPrecondition);
  EXPECT_NE(store.error().message.find("9999"), std::string::npos) << store.error().message;
}

TEST_F(SqliteStoreTest, FileIsCreatedWithMode0600) {
  auto store = open_ok();
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->put_setting("x", "y").has_value());  // make sure the WAL exists
  struct stat st {};
  ASSERT_EQ(::stat(db_path().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(::stat((db_path() + "-wal").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST_F(SqliteStoreTest, NotADatabaseIsAnError) {
  {
    std::FILE* f = std::fopen(db_path().c_str(), "w");
    ASSERT_NE(f, nullptr);
    std::fputs("this is not a database, just some text that is long enough to matter\n", f);
    std::fclose(f);
  }
  auto store = SqliteStore::open(db_path());
  ASSERT_FALSE(store.has_value());
  EXPECT_EQ(store.error().code, Code::kInternal);
  EXPECT_NE(store.error().message.find("not a database"), std::string::npos)
      << store.error().message;
}

TEST_F(SqliteStoreTest, MissingDirectoryIsAnError) {
  auto store = SqliteStore::open((dir_.path() / "no" / "such" / "sigil.db").string());
  ASSERT_FALSE(store.has_value());
  EXPECT_EQ(store.error().code, Code::kInternal);
}

TEST_F(SqliteStoreTest, TransactionCommitsTogether) {
  auto store = open_ok();
  ASSERT_NE(store, nullptr);
  auto r = store->transaction([&]() -> Result<void> {
    SIGIL_CHECK(store->create_client(conformance::minimal_client("a")));
    SIGIL_CHECK(store->create_client(conformance::minimal_client("b")));
    return Ok();
  });
  ASSERT_TRUE(r.has_value()) << r.error().message;
  auto all = store->list_clients();
  ASSERT_TRUE(all.has_value());
  EXPECT_EQ(all->size(), 2u);
}

TEST_F(SqliteStoreTest, TransactionRollsBackOnError) {
  auto store = open_ok();
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->create_client(conformance::minimal_client("b")).has_value());
  auto r = store->transaction([&]() -> Result<void> {
    SIGIL_CHECK(store->create_client(conformance::minimal_client("a")));
    SIGIL_CHECK(store->put_setting("k", "v"));
    SIGIL_CHECK(store->create_client(conformance::minimal_client("b")));  // duplicate
    return Ok();
  });
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, Code::kAlreadyExists);
  auto a = store->get_client("a");
  ASSERT_FALSE(a.has_value());
  EXPECT_EQ(a.error().code, Code::kNotFound);
  auto k = store->get_setting("k");
  ASSERT_TRUE(k.has_value());
  EXPECT_FALSE(k->has_value());
  // The store is usable afterwards.
  EXPECT_TRUE(store->create_client(conformance::minimal_client("c")).has_value());
}

TEST_F(SqliteStoreTest, NestedTransactionRollsBackOnlyItsPart) {
  auto store = open_ok();
  ASSERT_NE(store, nullptr);
  auto r = store->transaction([&]() -> Result<void> {
    SIGIL_CHECK(store->put_setting("outer", "1"));
    auto inner = store->transaction([&]() -> Result<void> {
      SIGIL_CHECK(store->put_setting("inner", "1"));
      return std::unexpected(Error::failed_precondition("changed my mind"));
    });
    EXPECT_EQ(inner.error().code, Code::kFailedPrecondition);
    return Ok();
  });
  ASSERT_TRUE(r.has_value()) << r.error().message;
  auto outer = store->get_setting("outer");
  ASSERT_TRUE(outer.has_value());
  EXPECT_TRUE(outer->has_value());
  auto inner = store->get_setting("inner");
  ASSERT_TRUE(inner.has_value());
  EXPECT_FALSE(inner->has_value());
}

TEST_F(SqliteStoreTest, LockedDatabaseIsUnavailable) {
  auto store = open_ok(SqliteOptions{std::chrono::milliseconds(0)});
  ASSERT_NE(store, nullptr);
  Raw other(db_path());
  ASSERT_EQ(other.exec("BEGIN IMMEDIATE"), SQLITE_OK);
  auto r = store->put_setting("k", "v");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, Code::kUnavailable);
  ASSERT_EQ(other.exec("ROLLBACK"), SQLITE_OK);
  EXPECT_TRUE(store->put_setting("k", "v").has_value());
}

TEST_F(SqliteStoreTest, DamagedRowIsAnErrorNotACrash) {
  auto store = open_ok();
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->create_client(conformance::minimal_client("x")).has_value());
  {
    Raw raw(db_path());
    // Valid JSON (the CHECK allows it) of the wrong shape: a number in the scope list.
    ASSERT_EQ(raw.exec("UPDATE clients SET allowed_scopes = '[1]' WHERE id = 'x'"), SQLITE_OK);
  }
  auto got = store->get_client("x");
  ASSERT_FALSE(got.has_value());
  EXPECT_EQ(got.error().code, Code::kInternal);
  EXPECT_NE(got.error().message.find("allowed_scopes"), std::string::npos);
  auto all = store->list_clients();
  ASSERT_FALSE(all.has_value());
  EXPECT_EQ(all.error().code, Code::kInternal);
}

TEST_F(SqliteStoreTest, SubSecondTimesAreTruncated) {
  auto store = open_ok();
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->revoke_token({"j", from_unix(1'700'000'000) + std::chrono::milliseconds(900)})
                  .has_value());
  auto listed = store->list_revoked_tokens(from_unix(0));
  ASSERT_TRUE(listed.has_value());
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].expires_at, from_unix(1'700'000'000));
}

// ---- API keys, SQLite-specific ----

TEST_F(SqliteStoreTest, MigrationTwoKeepsVersionOneData) {
  {
    // The database as a version-1 sigil left it; a client and a setting are added below.
    auto db = Database::open(db_path(), std::chrono::milliseconds(1000));
    ASSERT_TRUE(db.has_value()) << db.error().message;
    ASSERT_TRUE(migrate_to(*db, from_unix(1'600'000'000), 1).has_value());
  }
  {
    Raw raw(db_path());
    ASSERT_EQ(raw.integer("SELECT max(version) FROM schema_migrations"), 1);
    ASSERT_EQ(raw.integer("SELECT count(*) FROM sqlite_schema WHERE name = 'api_keys'"), 0);
    ASSERT_EQ(raw.exec("INSERT INTO settings VALUES ('issuer', 'https://old.example')"), SQLITE_OK);
  }
  {
    Raw raw(db_path());
    ASSERT_EQ(raw.exec("INSERT INTO clients (id, name, status, secret_digest, created_at, "
                       "updated_at) VALUES ('old-client', 'Old', 'active', zeroblob(32), 1, 2)"),
              SQLITE_OK);
  }

  auto store = open_ok();
  ASSERT_NE(store, nullptr);
  auto client = store->get_client("old-client");
  ASSERT_TRUE(client.has_value()) << client.error().message;
  EXPECT_EQ(client->name, "Old");
  EXPECT_EQ(client->secret.sha256, std::string(32, '\0'));
  auto issuer = store->get_setting("issuer");
  ASSERT_TRUE(issuer.has_value() && issuer->has_value());
  EXPECT_EQ(**issuer, "https://old.example");

  // Version 2 is in place and usable.
  ASSERT_TRUE(store->create_key_space(conformance::key_space("live", "sk_live")).has_value());
  ASSERT_TRUE(
      store->create_api_key(conformance::full_api_key("key_1", "live", '\x01')).has_value());
  auto key = store->get_api_key("key_1");
  ASSERT_TRUE(key.has_value()) << key.error().message;
  conformance::expect_same(conformance::full_api_key("key_1", "live", '\x01'), *key);
  store.reset();

  Raw raw(db_path());
  EXPECT_EQ(raw.integer("SELECT max(version) FROM schema_migrations"), migrations().back().version);
  EXPECT_EQ(raw.integer("SELECT applied_at FROM schema_migrations WHERE version = 1"),
            1'600'000'000);
}

// ---- policy versions, SQLite-specific ----

TEST_F(SqliteStoreTest, MigrationThreeKeepsVersionTwoData) {
  {
    auto db = Database::open(db_path(), std::chrono::milliseconds(1000));
    ASSERT_TRUE(db.has_value()) << db.error().message;
    ASSERT_TRUE(migrate_to(*db, from_unix(1'650'000'000), 2).has_value());
  }
  {
    Raw raw(db_path());
    ASSERT_EQ(raw.integer("SELECT max(version) FROM schema_migrations"), 2);
    ASSERT_EQ(raw.integer("SELECT count(*) FROM sqlite_schema WHERE name = 'policy_versions'"), 0);
    ASSERT_EQ(raw.exec("INSERT INTO clients (id, name, status, secret_digest, created_at, "
                       "updated_at) VALUES ('old-client', 'Old', 'active', zeroblob(32), 1, 2)"),
              SQLITE_OK);
    ASSERT_EQ(raw.exec("INSERT INTO key_spaces VALUES ('live', 'sk_live', 'Live', 3)"), SQLITE_OK);
  }

  auto store = open_ok();
  ASSERT_NE(store, nullptr);
  auto client = store->get_client("old-client");
  ASSERT_TRUE(client.has_value()) << client.error().message;
  EXPECT_EQ(client->name, "Old");
  auto space = store->get_key_space("live");
  ASSERT_TRUE(space.has_value()) << space.error().message;
  EXPECT_EQ(space->prefix, "sk_live");

  // Version 3 is in place and usable, also for the clients written before it.
  oauth::Client updated = *client;
  updated.name = "Adopted by the policy";
  auto committed = store->commit_policy(conformance::policy_version(1), {}, {updated}, {});
  ASSERT_TRUE(committed.has_value()) << committed.error().message;
  auto latest = store->latest_policy_version();
  ASSERT_TRUE(latest.has_value() && latest->has_value());
  conformance::expect_same(conformance::policy_version(1), **latest);
  store.reset();

  Raw raw(db_path());
  EXPECT_EQ(raw.integer("SELECT max(version) FROM schema_migrations"), migrations().back().version);
  EXPECT_EQ(raw.integer("SELECT applied_at FROM schema_migrations WHERE version = 2"),
            1'650'000'000);
  EXPECT_EQ(raw.text("SELECT name FROM clients WHERE id = 'old-client'"), "Adopted by the policy");
}

// ---- client keys, SQLite-specific ----

TEST_F(SqliteStoreTest, MigrationFourKeepsVersionThreeClients) {
  {
    auto db = Database::open(db_path(), std::chrono::milliseconds(1000));
    ASSERT_TRUE(db.has_value()) << db.error().message;
    ASSERT_TRUE(migrate_to(*db, from_unix(1'680'000'000), 3).has_value());
  }
  {
    Raw raw(db_path());
    ASSERT_EQ(raw.integer("SELECT max(version) FROM schema_migrations"), 3);
    ASSERT_EQ(raw.integer("SELECT count(*) FROM pragma_table_info('clients') WHERE name = 'jwks'"),
              0);
    ASSERT_EQ(raw.exec("INSERT INTO clients (id, name, status, secret_digest, created_at, "
                       "updated_at) VALUES ('old-client', 'Old', 'active', zeroblob(32), 1, 2)"),
              SQLITE_OK);
  }

  auto store = open_ok();
  ASSERT_NE(store, nullptr);
  auto client = store->get_client("old-client");
  ASSERT_TRUE(client.has_value()) << client.error().message;
  EXPECT_EQ(client->name, "Old");
  EXPECT_TRUE(client->jwks.empty());
  EXPECT_TRUE(client->jwks_uri.empty());

  // Version 4 is in place and usable for the clients written before it.
  oauth::Client updated = *client;
  updated.jwks_uri = "https://keys.example.com/old.json";
  ASSERT_TRUE(store->update_client(updated).has_value());
  store.reset();

  Raw raw(db_path());
  EXPECT_EQ(raw.integer("SELECT max(version) FROM schema_migrations"), migrations().back().version);
  EXPECT_EQ(raw.integer("SELECT applied_at FROM schema_migrations WHERE version = 3"),
            1'680'000'000);
  EXPECT_EQ(raw.text("SELECT jwks_uri FROM clients WHERE id = 'old-client'"),
            "https://keys.example.com/old.json");
}

// ---- the certificate authority, SQLite-specific ----

TEST_F(SqliteStoreTest, MigrationFiveKeepsVersionFourData) {
  {
    auto db = Database::open(db_path(), std::chrono::milliseconds(1000));
    ASSERT_TRUE(db.has_value()) << db.error().message;
    ASSERT_TRUE(migrate_to(*db, from_unix(1'690'000'000), 4).has_value());
  }
  {
    Raw raw(db_path());
    ASSERT_EQ(raw.integer("SELECT max(version) FROM schema_migrations"), 4);
    ASSERT_EQ(raw.integer("SELECT count(*) FROM sqlite_schema WHERE name = 'ca_keys'"), 0);
    ASSERT_EQ(raw.integer("SELECT count(*) FROM pragma_table_info('clients') "
                          "WHERE name = 'tls_client_certificates'"),
              0);
    ASSERT_EQ(raw.exec("INSERT INTO clients (id, name, status, secret_digest, created_at, "
                       "updated_at, jwks_uri) VALUES ('old-client', 'Old', 'active', "
                       "zeroblob(32), 1, 2, 'https://keys.example.com/old.json')"),
              SQLITE_OK);
    ASSERT_EQ(raw.exec("INSERT INTO settings VALUES ('issuer', 'https://old.example')"), SQLITE_OK);
  }

  auto store = open_ok();
  ASSERT_NE(store, nullptr);
  auto client = store->get_client("old-client");
  ASSERT_TRUE(client.has_value()) << client.error().message;
  EXPECT_EQ(client->jwks_uri, "https://keys.example.com/old.json");
  EXPECT_TRUE(client->tls_client_auth_subject_dn.empty());
  EXPECT_TRUE(client->tls_client_auth_san_uri.empty());
  EXPECT_TRUE(client->tls_client_auth_san_dns.empty());
  EXPECT_TRUE(client->tls_client_certificates.empty());
  auto issuer = store->get_setting("issuer");
  ASSERT_TRUE(issuer.has_value() && issuer->has_value());
  EXPECT_EQ(**issuer, "https://old.example");
  auto td = store->get_trust_domain();
  ASSERT_TRUE(td.has_value());
  EXPECT_FALSE(td->has_value());

  // Version 5 is in place and usable, also for the clients written before it.
  oauth::Client updated = *client;
  updated.jwks_uri.clear();
  updated.tls_client_auth_san_uri = "spiffe://example.org/old";
  updated.tls_client_certificates = {"thumb"};
  ASSERT_TRUE(store->update_client(updated).has_value());
  ASSERT_TRUE(store->initialise_ca("example.org", {conformance::ca_root("root-1", 1'700'000'000)})
                  .has_value());
  ASSERT_TRUE(store
                  ->record_certificate(conformance::issued_certificate(
                      '1', "spiffe://example.org/old", 1'700'000'000))
                  .has_value());
  store.reset();

  Raw raw(db_path());
  EXPECT_EQ(raw.integer("SELECT max(version) FROM schema_migrations"), 5);
  EXPECT_EQ(raw.integer("SELECT applied_at FROM schema_migrations WHERE version = 4"),
            1'690'000'000);
  EXPECT_EQ(raw.text("SELECT tls_client_auth_san_uri FROM clients WHERE id = 'old-client'"),
            "spiffe://example.org/old");
  EXPECT_EQ(raw.text("SELECT tls_client_certificates FROM clients WHERE id = 'old-client'"),
            "[\"thumb\"]");
  EXPECT_EQ(raw.text("SELECT value FROM settings WHERE name = 'trust_domain'"), "example.org");
  EXPECT_EQ(raw.integer("SELECT count(*) FROM ca_keys"), 1);
  EXPECT_EQ(raw.integer("SELECT count(*) FROM certificates"), 1);
  EXPECT_EQ(raw.integer("SELECT count(*) FROM sqlite_schema WHERE type = 'index' AND name IN "
                        "('certificates_by_spiffe_id', 'certificates_by_issue')"),
            2);
}

// The schema refuses what the code refuses, for writers that bypass the code.
TEST_F(SqliteStoreTest, CaChecksAreInTheSchema) {
  ASSERT_NE(open_ok(), nullptr);
  Raw raw(db_path());
  auto key = [&](const std::string& values) {
    return raw.exec("INSERT INTO ca_keys VALUES (" + values + ")");
  };
  EXPECT_NE(key("'', 'root', 'pem', x'01', '', 1, 1, 2"), SQLITE_OK);
  EXPECT_NE(key("'k1', 'leaf', 'pem', x'01', '', 1, 1, 2"), SQLITE_OK);
  EXPECT_NE(key("'k1', 'intermediate', '', x'', '', 1, 1, 2"), SQLITE_OK);
  EXPECT_NE(key("'k1', 'root', '', x'01', '', 1, 1, 2"), SQLITE_OK);
  EXPECT_NE(key("'k1', 'root', 'pem', x'01', '', 'soon', 1, 2"), SQLITE_OK);
  EXPECT_EQ(key("'k1', 'root', 'pem', x'', '', 1, 1, 2"), SQLITE_OK);
  EXPECT_EQ(key("'k2', 'intermediate', '', x'01', '', 1, 1, 1"), SQLITE_OK);

  const std::string serial(32, 'a');
  const std::string fingerprint(64, 'b');
  auto cert = [&](const std::string& values) {
    return raw.exec("INSERT INTO certificates VALUES (" + values + ")");
  };
  EXPECT_NE(cert("'abc', 'id', 's', '[]', '" + fingerprint + "', 'i', 1, 2, 1"), SQLITE_OK);
  EXPECT_NE(
      cert("'" + std::string(32, 'A') + "', 'id', 's', '[]', '" + fingerprint + "', 'i', 1, 2, 1"),
      SQLITE_OK);
  EXPECT_NE(cert("'" + serial + "', 'id', 's', '[]', 'short', 'i', 1, 2, 1"), SQLITE_OK);
  EXPECT_NE(cert("'" + serial + "', 'id', 's', '{}', '" + fingerprint + "', 'i', 1, 2, 1"),
            SQLITE_OK);
  EXPECT_EQ(cert("'" + serial + "', 'id', 's', '[]', '" + fingerprint + "', 'i', 1, 2, 1"),
            SQLITE_OK);

  ASSERT_EQ(raw.exec("INSERT INTO clients (id, name, status, secret_digest, created_at, "
                     "updated_at) VALUES ('c', 'C', 'active', zeroblob(32), 1, 2)"),
            SQLITE_OK);
  EXPECT_NE(raw.exec("UPDATE clients SET tls_client_certificates = '{}' WHERE id = 'c'"),
            SQLITE_OK);
  EXPECT_NE(raw.exec("UPDATE clients SET tls_client_certificates = NULL WHERE id = 'c'"),
            SQLITE_OK);
  EXPECT_NE(raw.exec("UPDATE clients SET tls_client_auth_san_uri = NULL WHERE id = 'c'"),
            SQLITE_OK);
}

TEST_F(SqliteStoreTest, DamagedCaRowIsAnErrorNotACrash) {
  auto store = open_ok();
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->create_ca_key(conformance::ca_root("root-1", 1'700'000'000)).has_value());
  ASSERT_TRUE(store
                  ->record_certificate(
                      conformance::issued_certificate('1', "spiffe://example.org/a", 1'700'000'000))
                  .has_value());
  Raw raw(db_path());
  // Bypassing the CHECKs: a writer that turned them off.
  ASSERT_EQ(raw.exec("PRAGMA ignore_check_constraints = ON"), SQLITE_OK);
  ASSERT_EQ(raw.exec("UPDATE ca_keys SET kind = 'leaf'"), SQLITE_OK);
  ASSERT_EQ(raw.exec("UPDATE certificates SET dns_names = '[1]'"), SQLITE_OK);
  auto keys = store->list_ca_keys();
  ASSERT_FALSE(keys.has_value());
  EXPECT_EQ(keys.error().code, Code::kInternal);
  auto cert = store->get_certificate(conformance::serial_hex('1'));
  ASSERT_FALSE(cert.has_value());
  EXPECT_EQ(cert.error().code, Code::kInternal);
}

// The schema refuses what the code refuses, for writers that bypass the code.
TEST_F(SqliteStoreTest, ClientKeyChecksAreInTheSchema) {
  auto store = open_ok();
  ASSERT_NE(store, nullptr);
  oauth::Client client = conformance::minimal_client("keys");
  ASSERT_TRUE(store->create_client(client).has_value());
  Raw raw(db_path());
  auto set = [&](const std::string& assignments) {
    return raw.exec("UPDATE clients SET " + assignments + " WHERE id = 'keys'");
  };
  EXPECT_NE(set("jwks = '[]'"), SQLITE_OK);
  EXPECT_NE(set("jwks = 'not json'"), SQLITE_OK);
  EXPECT_NE(set("jwks = NULL"), SQLITE_OK);
  EXPECT_NE(set("jwks_uri = NULL"), SQLITE_OK);
  EXPECT_NE(set("jwks = '{\"keys\":[]}', jwks_uri = 'https://k.example/j.json'"), SQLITE_OK);
  EXPECT_EQ(set("jwks = '{\"keys\":[]}'"), SQLITE_OK);
  EXPECT_NE(set("jwks_uri = 'https://k.example/j.json'"), SQLITE_OK);
  EXPECT_EQ(set("jwks = '', jwks_uri = 'https://k.example/j.json'"), SQLITE_OK);
  EXPECT_EQ(raw.text("SELECT jwks_uri FROM clients WHERE id = 'keys'"), "https://k.example/j.json");
}

// The schema refuses what the code refuses, for writers that bypass the code.
TEST_F(SqliteStoreTest, PolicyVersionChecksAreInTheSchema) {
  ASSERT_NE(open_ok(), nullptr);
  Raw raw(db_path());
  const std::string hex(64, 'a');
  auto insert = [&](const std::string& values) {
    return raw.exec("INSERT INTO policy_versions VALUES (" + values + ")");
  };
  ASSERT_EQ(insert("1, 'doc', '" + hex + "', 1, 'admin', 'apply', NULL"), SQLITE_OK);
  EXPECT_NE(insert("2, 'doc', '" + hex.substr(1) + "', 1, 'admin', 'apply', NULL"), SQLITE_OK);
  EXPECT_NE(insert("2, 'doc', '" + std::string(64, 'A') + "', 1, 'admin', 'apply', NULL"),
            SQLITE_OK);
  EXPECT_NE(insert("2, 'doc', '" + hex + "', 1, 'admin', 'manual', NULL"), SQLITE_OK);
  EXPECT_NE(insert("2, 'doc', '" + hex + "', 1, 'admin', 'rollback', NULL"), SQLITE_OK);
  EXPECT_NE(insert("2, 'doc', '" + hex + "', 1, 'admin', 'apply', 1"), SQLITE_OK);
  EXPECT_NE(insert("2, 'doc', '" + hex + "', 1, 'admin', 'rollback', 2"), SQLITE_OK);
  EXPECT_NE(insert("0, 'doc', '" + hex + "', 1, 'admin', 'apply', NULL"), SQLITE_OK);
  EXPECT_NE(insert("2, 'doc', '" + hex + "', 'soon', 'admin', 'apply', NULL"), SQLITE_OK);
  EXPECT_EQ(insert("2, 'doc', '" + hex + "', 1, 'admin', 'rollback', 1"), SQLITE_OK);
  EXPECT_EQ(raw.integer("SELECT count(*) FROM policy_versions"), 2);
}

TEST_F(SqliteStoreTest, CreditsNeverGoBelowZeroInTheSchema) {
  auto store = open_ok();
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->create_key_space(conformance::key_space("live", "sk_live")).has_value());
  apikeys::ApiKey k = conformance::minimal_api_key("key_1", "live", 'a');
  k.remaining = 0;
  ASSERT_TRUE(store->create_api_key(k).has_value());
  Raw raw(db_path());
  EXPECT_NE(raw.exec("UPDATE api_keys SET remaining = -1 WHERE id = 'key_1'"), SQLITE_OK);
  EXPECT_NE(raw.exec("UPDATE api_keys SET metadata = '[]' WHERE id = 'key_1'"), SQLITE_OK);
  EXPECT_NE(raw.exec("UPDATE api_keys SET digest = x'00' WHERE id = 'key_1'"), SQLITE_OK);
  EXPECT_NE(raw.exec("UPDATE api_keys SET rate_limit_limit = 5 WHERE id = 'key_1'"), SQLITE_OK);
}

TEST_F(SqliteStoreTest, DamagedApiKeyRowIsAnErrorNotACrash) {
  auto store = open_ok();
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->create_key_space(conformance::key_space("live", "sk_live")).has_value());
  ASSERT_TRUE(
      store->create_api_key(conformance::minimal_api_key("key_1", "live", 'a')).has_value());
  {
    Raw raw(db_path());
    ASSERT_EQ(raw.exec("UPDATE api_keys SET scopes = '[1]' WHERE id = 'key_1'"), SQLITE_OK);
  }
  auto got = store->get_api_key("key_1");
  ASSERT_FALSE(got.has_value());
  EXPECT_EQ(got.error().code, Code::kInternal);
  auto walk = store->for_each_api_key([](apikeys::ApiKey&&) { return true; });
  ASSERT_FALSE(walk.has_value());
  EXPECT_EQ(walk.error().code, Code::kInternal);
}

TEST_F(SqliteStoreTest, VisitMayUseTheStoreButNotWalkAgain) {
  auto store = open_ok();
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->create_key_space(conformance::key_space("live", "sk_live")).has_value());
  for (char c : {'a', 'b', 'c'}) {
    ASSERT_TRUE(
        store->create_api_key(conformance::minimal_api_key(std::string("key_") + c, "live", c))
            .has_value());
  }
  std::vector<std::string> seen;
  std::vector<Code> nested;
  auto walk = store->for_each_api_key([&](apikeys::ApiKey&& k) {
    auto again = store->get_api_key(k.id);
    EXPECT_TRUE(again.has_value());
    auto inner = store->for_each_api_key([](apikeys::ApiKey&&) { return true; });
    nested.push_back(inner ? Code::kInternal : inner.error().code);
    seen.push_back(k.id);
    return true;
  });
  ASSERT_TRUE(walk.has_value()) << walk.error().message;
  EXPECT_EQ(seen, (std::vector<std::string>{"key_a", "key_b", "key_c"}));
  EXPECT_EQ(nested, std::vector<Code>(3, Code::kFailedPrecondition));
  // The guard is released afterwards.
  EXPECT_TRUE(store->for_each_api_key([](apikeys::ApiKey&&) { return true; }).has_value());
}

TEST_F(SqliteStoreTest, BulkInsertIsAllOrNothing) {
  auto store = open_ok();
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->create_key_space(conformance::key_space("live", "sk_live")).has_value());
  std::vector<apikeys::ApiKey> keys = {conformance::minimal_api_key("key_1", "live", '1'),
                                       conformance::minimal_api_key("key_2", "live", '2'),
                                       conformance::minimal_api_key("key_3", "live", '1')};
  auto r = store->insert_api_keys(keys);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, Code::kAlreadyExists);
  auto none = store->list_api_keys(conformance::page_query("live"));
  ASSERT_TRUE(none.has_value());
  EXPECT_TRUE(none->empty());

  keys.pop_back();
  ASSERT_TRUE(store->insert_api_keys(keys).has_value());
  auto two = store->list_api_keys(conformance::page_query("live"));
  ASSERT_TRUE(two.has_value());
  EXPECT_EQ(two->size(), 2u);
}

// Not run by default (tens of seconds, a few hundred MB of disk); run with
//   sqlite_store_test --gtest_also_run_disabled_tests --gtest_filter='*MillionKeys*'
// It prints how long the bulk insert and the streaming walk take.
TEST_F(SqliteStoreTest, DISABLED_MillionKeys) {
  constexpr int kKeys = 1'000'000;
  constexpr int kBatch = 100'000;
  auto store = open_ok();
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->create_key_space(conformance::key_space("live", "sk_live")).has_value());
  const auto start = std::chrono::steady_clock::now();
  for (int first = 0; first < kKeys; first += kBatch) {
    std::vector<apikeys::ApiKey> batch;
    batch.reserve(kBatch);
    for (int i = first; i < first + kBatch; ++i) {
      char id[32];
      std::snprintf(id, sizeof id, "key_%020d", i);
      apikeys::ApiKey k = conformance::minimal_api_key(id, "live", 'x');
      k.digest.assign(32, '\0');
      for (int b = 0; b < 4; ++b) k.digest[b] = static_cast<char>((i >> (8 * b)) & 0xff);
      k.owner = "customer-" + std::to_string(i % 1000);
      k.scopes = {"read", "write"};
      k.remaining = 100;
      batch.push_back(std::move(k));
    }
    auto r = store->insert_api_keys(batch);
    ASSERT_TRUE(r.has_value()) << r.error().message;
  }
  const auto inserted = std::chrono::steady_clock::now();
  std::int64_t visits = 0;
  auto walk = store->for_each_api_key([&](apikeys::ApiKey&&) {
    ++visits;
    return true;
  });
  const auto walked = std::chrono::steady_clock::now();
  ASSERT_TRUE(walk.has_value()) << walk.error().message;
  EXPECT_EQ(visits, kKeys);
  auto page = store->list_api_keys(conformance::page_query("live", "customer-7", "", 1000));
  ASSERT_TRUE(page.has_value());
  EXPECT_EQ(page->size(), 1000u);
  using ms = std::chrono::milliseconds;
  std::printf("inserted %d keys in %lld ms (batches of %d); walked them in %lld ms\n", kKeys,
              static_cast<long long>(std::chrono::duration_cast<ms>(inserted - start).count()),
              kBatch,
              static_cast<long long>(std::chrono::duration_cast<ms>(walked - inserted).count()));
}

}  // namespace
}  // namespace sigil::store::sqlite
