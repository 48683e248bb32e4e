// sigil init: creates and fills the data folder, printing the bootstrap admin
// credentials once.
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iostream>

#include "audit/file_log.hpp"
#include "oauth/client_registry.hpp"
#include "oauth/key_ring.hpp"
#include "server/commands.hpp"
#include "server/data_dir.hpp"
#include "server/settings.hpp"
#include "store/sqlite/sqlite_store.hpp"

namespace sigil::server {
namespace {

constexpr std::string_view kAdminClientId = "sigil-admin";

struct InitResult {
  std::string kid;
  std::string alg;
  std::string admin_id;
  SecretString admin_secret;
};

Result<InitResult> initialise(const Config& config, const DataPaths& paths, const Clock& clock) {
  SIGIL_TRY(master_key, create_master_key(paths));
  SIGIL_TRY(store, store::sqlite::SqliteStore::open(paths.database));
  SIGIL_TRY(audit_log, audit::FileAuditLog::open(paths.audit_log));
  const oauth::TokenSettings settings = token_settings(config, config.issuer);
  const TimePoint now = clock.now();

  InitResult result;
  SIGIL_CHECK(store->transaction([&]() -> Result<void> {
    SIGIL_CHECK(store->put_setting("issuer", config.issuer));
    SIGIL_TRY(keys, oauth::KeyRing::load(*store, master_key.reveal(), settings));
    SIGIL_TRY(key, keys->initialise(settings.signing_alg, now));
    SIGIL_TRY(clients, oauth::ClientRegistry::load(*store));
    SIGIL_TRY(admin, clients->create({.id = std::string(kAdminClientId),
                                      .name = "bootstrap administrator",
                                      .attributes = {},
                                      .allowed_scopes = {"sigil:admin"},
                                      .allowed_audiences = {config.issuer},
                                      .auth_methods = {}},
                                     now));
    result.kid = key.kid;
    result.alg = key.alg;
    result.admin_id = admin.client.id;
    result.admin_secret = std::move(admin.secret);
    return Ok();
  }));

  auto event = [&](std::string name, std::string subject) {
    audit::Event e;
    e.time = now;
    e.event = std::move(name);
    e.subject = std::move(subject);
    e.decision = audit::Decision::kAllow;
    return e;
  };
  audit::Event init = event("system.init", config.issuer);
  audit::Event key = event("keys.create", result.kid);
  audit::Event client = event("client.create", result.admin_id);
  client.client_id = result.admin_id;
  client.scopes = {"sigil:admin"};
  client.audience = {config.issuer};
  SIGIL_CHECK(audit_log->append_sync(std::move(init)));
  SIGIL_CHECK(audit_log->append_sync(std::move(key)));
  SIGIL_CHECK(audit_log->append_sync(std::move(client)));
  return result;
}

}  // namespace

int run_init(const Config& config) {
  if (config.issuer.empty()) {
    std::cerr << "sigil: init needs the issuer URL that tokens will carry: --issuer "
                 "http://HOST:PORT (or SIGIL_ISSUER)\n";
    return 2;
  }
  const DataPaths paths = data_paths(config.data_dir);
  std::error_code ec;
  if (std::filesystem::exists(paths.database, ec) ||
      std::filesystem::exists(paths.master_key, ec) ||
      std::filesystem::exists(paths.audit_log, ec)) {
    std::cerr << "sigil: " << paths.dir
              << " is already initialised; nothing was changed (use another --data folder)\n";
    return 1;
  }
  const bool created_dir = !std::filesystem::exists(paths.dir, ec);
  if (created_dir && ::mkdir(paths.dir.c_str(), 0700) != 0) {
    std::cerr << "sigil: cannot create " << paths.dir << ": " << std::strerror(errno) << "\n";
    return 1;
  }

  SystemClock clock;
  auto result = initialise(config, paths, clock);
  if (!result) {
    // Leave nothing half-made behind, so init can simply be run again.
    for (const auto& file : {paths.database, paths.database + "-wal", paths.database + "-shm",
                             paths.master_key, paths.audit_log}) {
      std::filesystem::remove(file, ec);
    }
    if (created_dir) std::filesystem::remove(paths.dir, ec);
    std::cerr << "sigil: init failed: " << result.error().message << "\n";
    return 1;
  }

  std::cout << "sigil initialised " << paths.dir << "\n"
            << "  issuer       " << config.issuer << "\n"
            << "  signing key  " << result->kid << " (" << result->alg << ")\n"
            << "  master key   "
            << (std::getenv("SIGIL_MASTER_KEY") ? "from SIGIL_MASTER_KEY"
                                                : paths.master_key + " (mode 0600)")
            << "\n\n"
            << "The bootstrap admin client; its secret is shown only now:\n"
            << "  export SIGIL_CLIENT_ID=" << result->admin_id << "\n"
            << "  export SIGIL_CLIENT_SECRET=" << result->admin_secret.reveal() << "\n\n"
            << "With the server running, get a first token:\n"
            << "  curl -s -u '" << result->admin_id << ":" << result->admin_secret.reveal()
            << "' -d grant_type=client_credentials -d scope=sigil:admin " << config.issuer
            << "/oauth2/token\n";
  std::cout.flush();
  return 0;
}

}  // namespace sigil::server
