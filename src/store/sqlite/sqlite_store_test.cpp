#include "store/sqlite/sqlite_store.hpp"
#include "base/testing/temp_dir.hpp"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/stat.h>

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
  for (const char* table : {"clients", "signing_keys", "revoked_tokens", "settings"}) {
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

}  // namespace
}  // namespace sigil::store::sqlite
