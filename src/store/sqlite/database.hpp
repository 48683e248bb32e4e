// Internal to store/sqlite: RAII over one sqlite3 connection and its prepared statements.
//
// Not thread-safe: the owner (SqliteStore) serialises every call with its own mutex.
// Every SQLite failure becomes an Error carrying SQLite's message:
//   SQLITE_BUSY / SQLITE_LOCKED                      -> kUnavailable (retry later)
//   primary-key or unique constraint violated        -> kAlreadyExists
//   foreign-key constraint violated                  -> kFailedPrecondition
//   anything else                                    -> kInternal
#pragma once

#include <sqlite3.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

#include "base/error.hpp"

namespace sigil::store::sqlite {

struct ConnectionCloser {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
struct StatementFinalizer {
  void operator()(sqlite3_stmt* stmt) const { sqlite3_finalize(stmt); }
};
using ConnectionPtr = std::unique_ptr<sqlite3, ConnectionCloser>;
using StatementPtr = std::unique_ptr<sqlite3_stmt, StatementFinalizer>;

// The Error for a failed SQLite call: `rc` is the (extended) result code, `what` says
// which operation failed.
Error sqlite_error(sqlite3* db, int rc, std::string_view what);

// A cached prepared statement borrowed for one use. Binding errors are remembered and
// reported by the next step(), which keeps call sites to one check. Destruction resets the
// statement and clears its bindings, so the cache always holds idle statements and no
// bound secret outlives the call.
class Statement {
 public:
  Statement(sqlite3* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {}
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  Statement(Statement&& other) noexcept
      : db_(other.db_), stmt_(std::exchange(other.stmt_, nullptr)), bind_rc_(other.bind_rc_) {}
  Statement& operator=(Statement&&) = delete;
  ~Statement();

  // Parameters are 1-based, as in SQLite.
  void bind(int index, std::int64_t value);
  void bind(int index, std::optional<std::int64_t> value);  // NULL when empty
  void bind_text(int index, std::string_view value);
  void bind_blob(int index, std::string_view value);
  void bind_null(int index);

  // true: a row is available; false: the statement has finished.
  Result<bool> step();
  // Runs a statement that returns no rows.
  Result<void> run();

  // Columns are 0-based, as in SQLite. Only valid after step() returned true.
  bool is_null(int column) const;
  std::int64_t int64(int column) const;
  std::optional<std::int64_t> optional_int64(int column) const;
  std::string text(int column) const;
  std::string blob(int column) const;

 private:
  void note_bind(int rc);

  sqlite3* db_;
  sqlite3_stmt* stmt_;
  int bind_rc_ = SQLITE_OK;
};

class Database {
 public:
  // Opens (creating if missing) the database file. The file is created with mode 0600
  // before SQLite sees it, so the records are never readable by others, not even briefly.
  static Result<Database> open(const std::string& path, std::chrono::milliseconds busy_timeout);

  Database(Database&&) noexcept = default;
  Database& operator=(Database&&) noexcept = default;
  ~Database();

  // Runs one or more SQL statements that return no rows (schema, pragmas, BEGIN/COMMIT).
  Result<void> exec(std::string_view sql);
  // The prepared statement for `sql`, prepared on first use and reused afterwards.
  // `sql` must be a single statement.
  Result<Statement> prepare(std::string_view sql);
  // Rows changed by the last INSERT/UPDATE/DELETE.
  std::int64_t changes() const;

  sqlite3* handle() const { return db_.get(); }

 private:
  explicit Database(ConnectionPtr db) : db_(std::move(db)) {}

  ConnectionPtr db_;
  // Declared after db_, so destroyed first: statements are finalised before the close.
  std::unordered_map<std::string, StatementPtr> statements_;
};

}  // namespace sigil::store::sqlite
