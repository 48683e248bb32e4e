// The two commands that run in the server's own process: `sigil init` and `sigil serve`.
// Both return the process exit status (0 ok, 1 refused, 2 usage/config error) and print
// one-line errors on stderr.
#pragma once

#include "server/config.hpp"

namespace sigil::server {

// Creates the data folder: the SQLite store, the master key file (mode 0600, unless
// SIGIL_MASTER_KEY is set), the first signing key, the audit log, and the bootstrap admin
// client, whose id and secret it prints once on stdout. Refuses, changing nothing, when
// the folder is already initialised. config.issuer is required.
int run_init(const Config& config);

// Serves until SIGTERM/SIGINT, then shuts down gracefully. Prints where it listens.
int run_serve(const Config& config);

}  // namespace sigil::server
