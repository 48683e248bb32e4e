#include "store/sqlite/database.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>

namespace sigil::store::sqlite {

Error sqlite_error(sqlite3* db, int rc, std::string_view what) {
  std::string message = "sqlite: ";
  message += what;
  message += ": ";
  // sqlite3_errmsg describes the most recent failure on the connection, which is this one
  // because the caller holds the connection's lock; errstr is the fallback without one.
  message += db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return Error::unavailable(std::move(message));
    default:
      break;
  }
  if (rc == SQLITE_CONSTRAINT_PRIMARYKEY || rc == SQLITE_CONSTRAINT_UNIQUE) {
    return Error::already_exists(std::move(message));
  }
  // A reference to a record that does not exist (an API key in an unknown key space).
  if (rc == SQLITE_CONSTRAINT_FOREIGNKEY) return Error::failed_precondition(std::move(message));
  return Error::internal(std::move(message));
}

Statement::~Statement() {
  if (stmt_ != nullptr) {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
}

void Statement::note_bind(int rc) {
  if (rc != SQLITE_OK && bind_rc_ == SQLITE_OK) bind_rc_ = rc;
}

void Statement::bind(int index, std::int64_t value) {
  note_bind(sqlite3_bind_int64(stmt_, index, value));
}

void Statement::bind(int index, std::optional<std::int64_t> value) {
  if (value) {
    bind(index, *value);
  } else {
    bind_null(index);
  }
}

namespace {
// SQLite takes lengths as int; longer values are refused rather than cut.
int length_or_negative(std::string_view value) {
  return value.size() > static_cast<std::size_t>(std::numeric_limits<int>::max())
             ? -1
             : static_cast<int>(value.size());
}
}  // namespace

void Statement::bind_text(int index, std::string_view value) {
  const int n = length_or_negative(value);
  if (n < 0) return note_bind(SQLITE_TOOBIG);
  note_bind(sqlite3_bind_text(stmt_, index, value.data(), n, SQLITE_TRANSIENT));
}

void Statement::bind_blob(int index, std::string_view value) {
  const int n = length_or_negative(value);
  if (n < 0) return note_bind(SQLITE_TOOBIG);
  // A zero-length blob, not NULL, for an empty value.
  note_bind(n == 0 ? sqlite3_bind_zeroblob(stmt_, index, 0)
                   : sqlite3_bind_blob(stmt_, index, value.data(), n, SQLITE_TRANSIENT));
}

void Statement::bind_null(int index) {
  note_bind(sqlite3_bind_null(stmt_, index));
}

Result<bool> Statement::step() {
  if (bind_rc_ != SQLITE_OK) return std::unexpected(sqlite_error(db_, bind_rc_, "bind"));
  const int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return std::unexpected(sqlite_error(db_, rc, sqlite3_sql(stmt_)));
}

Result<void> Statement::run() {
  SIGIL_TRY(row, step());
  if (row) return std::unexpected(Error::internal("sqlite: statement returned rows"));
  return Ok();
}

bool Statement::is_null(int column) const {
  return sqlite3_column_type(stmt_, column) == SQLITE_NULL;
}

std::int64_t Statement::int64(int column) const {
  return sqlite3_column_int64(stmt_, column);
}

std::optional<std::int64_t> Statement::optional_int64(int column) const {
  if (is_null(column)) return std::nullopt;
  return int64(column);
}

std::string Statement::text(int column) const {
  const auto* data = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, column));
  const int n = sqlite3_column_bytes(stmt_, column);
  return data == nullptr ? std::string() : std::string(data, static_cast<std::size_t>(n));
}

std::string Statement::blob(int column) const {
  const auto* data = static_cast<const char*>(sqlite3_column_blob(stmt_, column));
  const int n = sqlite3_column_bytes(stmt_, column);
  return data == nullptr ? std::string() : std::string(data, static_cast<std::size_t>(n));
}

Result<Database> Database::open(const std::string& path, std::chrono::milliseconds busy_timeout) {
  // Create the file ourselves so that it is born 0600; SQLite would use 0644 less umask.
  // SQLite gives its -wal and -shm files the mode of the database file.
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) {
    return std::unexpected(
        Error::internal("sqlite: cannot open " + path + ": " + std::strerror(errno)));
  }
  ::close(fd);

  sqlite3* raw = nullptr;
  const int rc = sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READWRITE, nullptr);
  ConnectionPtr db(raw);
  if (rc != SQLITE_OK) return std::unexpected(sqlite_error(db.get(), rc, "open " + path));
  sqlite3_extended_result_codes(db.get(), 1);
  const auto ms = busy_timeout.count();
  sqlite3_busy_timeout(
      db.get(), static_cast<int>(std::clamp<decltype(ms)>(ms, 0, std::numeric_limits<int>::max())));
  return Database(std::move(db));
}

Database::~Database() = default;

Result<void> Database::exec(std::string_view sql) {
  const std::string text(sql);
  const int rc = sqlite3_exec(db_.get(), text.c_str(), nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) return std::unexpected(sqlite_error(db_.get(), rc, "exec"));
  return Ok();
}

Result<Statement> Database::prepare(std::string_view sql) {
  std::string key(sql);
  auto it = statements_.find(key);
  if (it == statements_.end()) {
    const int n = length_or_negative(sql);
    if (n < 0) return std::unexpected(Error::internal("sqlite: statement too long"));
    sqlite3_stmt* raw = nullptr;
    const char* tail = nullptr;
    const int rc =
        sqlite3_prepare_v3(db_.get(), sql.data(), n, SQLITE_PREPARE_PERSISTENT, &raw, &tail);
    StatementPtr stmt(raw);
    if (rc != SQLITE_OK) return std::unexpected(sqlite_error(db_.get(), rc, "prepare"));
    if (stmt == nullptr || (tail != nullptr && tail != sql.data() + n &&
                            std::string_view(tail, sql.data() + n).find_first_not_of(" \t\r\n;") !=
                                std::string_view::npos)) {
      return std::unexpected(Error::internal("sqlite: prepare expects exactly one statement"));
    }
    it = statements_.emplace(std::move(key), std::move(stmt)).first;
  }
  return Statement(db_.get(), it->second.get());
}

std::int64_t Database::changes() const {
  return sqlite3_changes64(db_.get());
}

}  // namespace sigil::store::sqlite
