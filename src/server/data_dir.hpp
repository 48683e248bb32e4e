// The data folder (`--data`, default ./var): the SQLite store, the master key file and the
// audit log, and the master key that seals the signing keys.
#pragma once

#include <string>

#include "base/error.hpp"
#include "base/secrets.hpp"

namespace sigil::server {

struct DataPaths {
  std::string dir;
  std::string database;    // <dir>/sigil.db
  std::string master_key;  // <dir>/master.key
  std::string audit_log;   // <dir>/audit.log
};

DataPaths data_paths(const std::string& dir);

// The master key: SIGIL_MASTER_KEY (32 bytes, base64url) when set, else the key file
// (32 bytes, base64url, mode 0600; a file readable by group or others is refused).
// kFailedPrecondition with what to do when neither is usable.
Result<SecretString> load_master_key(const DataPaths& paths);

// For init: uses SIGIL_MASTER_KEY when set, else writes a new random key to the key file
// (created exclusively with mode 0600). Returns the key.
Result<SecretString> create_master_key(const DataPaths& paths);

}  // namespace sigil::server
