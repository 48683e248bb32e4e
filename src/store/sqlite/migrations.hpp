// Internal to store/sqlite: the schema history. Migrations are applied in order, each
// exactly once, inside one transaction with the bookkeeping in `schema_migrations`.
// The same version numbers are used by every backend, so a database can be described by
// one number whatever stores it.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

#include "base/clock.hpp"
#include "base/error.hpp"
#include "store/sqlite/database.hpp"

namespace sigil::store::sqlite {

struct Migration {
  std::int64_t version;  // 1, 2, 3, ... without gaps
  std::string_view sql;  // one or more statements
};

// Every migration, oldest first.
std::span<const Migration> migrations();

// Brings the database to the newest version. Errors: kFailedPrecondition when the
// database was written by a newer sigil (its version is above every known migration);
// the backend's errors otherwise. On error nothing is changed.
Result<void> migrate(Database& db, TimePoint now);

// Like migrate(), but stops after version `target`: for tests that need a database as an
// older sigil left it.
Result<void> migrate_to(Database& db, TimePoint now, std::int64_t target);

}  // namespace sigil::store::sqlite
