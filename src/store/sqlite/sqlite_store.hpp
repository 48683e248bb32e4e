// The embedded storage backend: every port of oauth/ports.hpp, apikeys/ports.hpp and
// ca/ports.hpp over one SQLite file. The CA's trust domain is the setting "trust_domain".
//
//   SIGIL_TRY(store, store::sqlite::SqliteStore::open(data_dir + "/sigil.db"));
//   SIGIL_CHECK(store->create_client(client));
//   SIGIL_CHECK(store->transaction([&]() -> Result<void> { ...several writes...; return Ok(); }));
//
// Durability: WAL journal with synchronous=FULL, so a method that returned has its change
// on disk (fsync of the WAL on every commit). NORMAL would be faster but may lose the
// last commits on power failure, and these are security records (a revocation, a disabled
// client, a rotated key must not come back).
//
// Thread safety: all methods may be called from any thread. One connection serves them
// all, guarded by a mutex; callers are expected to cache reads in memory.
//
// Times are stored as whole unix seconds: sub-second parts are dropped (toward the epoch).
//
// Errors (besides those listed in oauth/ports.hpp, apikeys/ports.hpp and ca/ports.hpp):
//   kInvalidArgument    an empty id/kid/jti/setting name, or a secret digest that is
//                       neither empty nor 32 bytes; a policy version refused by
//                       PolicyStore::commit_policy's checks; for API keys: an empty id, key space,
//                       owner or start, a digest that is not 32 bytes, metadata that is not
//                       a JSON object, negative credits, a rate limit below 1 per 1 s, a
//                       listing limit outside 1..1000; for the CA: an empty key id or
//                       trust domain, a key with neither certificate nor sealed key, a root
//                       without a certificate, a serial that is not 32 or a fingerprint
//                       not 64 lower-case hex digits, a listing limit outside 1..1000
//   kNotFound           (create_api_key, rotate_api_key, insert_api_keys) the key's key
//                       space does not exist
//   kUnavailable        the database is locked by another process beyond the busy timeout
//   kFailedPrecondition (open) the file was written by a newer sigil
//   kInternal           any other SQLite failure (message from SQLite) or a damaged row
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "apikeys/ports.hpp"
#include "base/error.hpp"
#include "ca/ports.hpp"
#include "oauth/ports.hpp"

namespace sigil::store::sqlite {

class Database;

struct SqliteOptions {
  // How long a statement waits for a lock held by another connection or process before
  // failing with kUnavailable.
  std::chrono::milliseconds busy_timeout{5000};
};

class SqliteStore final : public oauth::ClientStore,
                          public oauth::SigningKeyStore,
                          public oauth::RevocationStore,
                          public oauth::SettingStore,
                          public oauth::PolicyStore,
                          public apikeys::KeySpaceStore,
                          public apikeys::ApiKeyStore,
                          public ca::CaStore,
                          public ca::CertificateStore {
 public:
  // Opens the database at `path`, creating it (mode 0600) if missing, and migrates its
  // schema to the newest version.
  static Result<std::unique_ptr<SqliteStore>> open(const std::string& path,
                                                   SqliteOptions options = {});
  ~SqliteStore() override;
  SqliteStore(const SqliteStore&) = delete;
  SqliteStore& operator=(const SqliteStore&) = delete;

  // Runs `body` atomically: every store call it makes commits together when it returns
  // Ok(), and none does when it returns an error (which transaction() then returns).
  // Other threads' calls wait until it finishes. May be nested (savepoints).
  Result<void> transaction(std::function<Result<void>()> body);

  // ClientStore
  Result<void> create_client(const oauth::Client& client) override;
  Result<oauth::Client> get_client(std::string_view id) override;
  Result<std::vector<oauth::Client>> list_clients() override;
  Result<void> update_client(const oauth::Client& client) override;

  // SigningKeyStore
  Result<void> create_signing_key(const oauth::SigningKeyRecord& key) override;
  Result<std::vector<oauth::SigningKeyRecord>> list_signing_keys() override;
  Result<void> update_signing_key(const oauth::SigningKeyRecord& key) override;
  Result<void> delete_signing_key(std::string_view kid) override;

  // RevocationStore. Revoking a jti again keeps the later of the two expiries.
  Result<void> revoke_token(const oauth::RevokedToken& token) override;
  Result<std::vector<oauth::RevokedToken>> list_revoked_tokens(TimePoint now) override;
  Result<void> purge_revoked_tokens(TimePoint expired_before) override;

  // SettingStore
  Result<std::optional<std::string>> get_setting(std::string_view name) override;
  Result<void> put_setting(std::string_view name, std::string_view value) override;

  // PolicyStore
  Result<void> commit_policy(const oauth::PolicyVersion& version,
                             const std::vector<oauth::Client>& create,
                             const std::vector<oauth::Client>& update,
                             const std::vector<std::string>& remove) override;
  Result<std::optional<oauth::PolicyVersion>> latest_policy_version() override;
  Result<oauth::PolicyVersion> get_policy_version(std::int64_t version) override;
  Result<std::vector<oauth::PolicyVersion>> list_policy_versions() override;

  // KeySpaceStore
  Result<void> create_key_space(const apikeys::KeySpace& space) override;
  Result<apikeys::KeySpace> get_key_space(std::string_view id) override;
  Result<std::vector<apikeys::KeySpace>> list_key_spaces() override;

  // ApiKeyStore
  Result<void> create_api_key(const apikeys::ApiKey& key) override;
  Result<apikeys::ApiKey> get_api_key(std::string_view id) override;
  Result<std::vector<apikeys::ApiKey>> list_api_keys(const apikeys::ApiKeyQuery& query) override;
  // Holds the store's lock while it runs: other threads' calls wait. `visit` may call other
  // methods of this store; calling for_each_api_key from it is kFailedPrecondition.
  Result<void> for_each_api_key(const std::function<bool(apikeys::ApiKey&&)>& visit) override;
  Result<void> update_api_key(const apikeys::ApiKey& key) override;
  Result<void> set_remaining(std::string_view id, std::optional<std::int64_t> remaining) override;
  Result<void> rotate_api_key(const apikeys::ApiKey& old_key,
                              const apikeys::ApiKey& new_key) override;
  Result<std::int64_t> consume_credit(std::string_view id) override;
  // Never moves a key's last use back in time; ids that match no key are skipped.
  Result<void> record_last_used(
      const std::vector<std::pair<std::string, TimePoint>>& uses) override;
  // The ids come back sorted.
  Result<std::vector<std::string>> revoke_owner_keys(std::string_view key_space,
                                                     std::string_view owner,
                                                     TimePoint now) override;

  // Creates every key in one transaction, or none (for loading and benchmarks).
  Result<void> insert_api_keys(const std::vector<apikeys::ApiKey>& keys);

  // CaStore
  Result<void> initialise_ca(std::string_view trust_domain,
                             const std::vector<ca::CaKeyRecord>& keys) override;
  Result<std::optional<std::string>> get_trust_domain() override;
  Result<void> create_ca_key(const ca::CaKeyRecord& key) override;
  Result<void> update_ca_key(const ca::CaKeyRecord& key) override;
  Result<void> import_ca_keys(const std::optional<ca::CaKeyRecord>& new_root,
                              const ca::CaKeyRecord& intermediate) override;
  Result<std::vector<ca::CaKeyRecord>> list_ca_keys() override;

  // CertificateStore
  Result<void> record_certificate(const ca::CertificateRecord& certificate) override;
  Result<ca::CertificateRecord> get_certificate(std::string_view serial_hex) override;
  Result<std::vector<ca::CertificateRecord>> list_certificates(
      std::optional<std::string_view> spiffe_id, std::size_t limit) override;

 private:
  explicit SqliteStore(std::unique_ptr<Database> db);

  // The caller holds mu_.
  Result<void> delete_client_locked(std::string_view id);
  Result<void> insert_api_key_locked(const apikeys::ApiKey& key);
  Result<void> update_api_key_locked(const apikeys::ApiKey& key);
  Result<void> insert_ca_key_locked(const ca::CaKeyRecord& key);

  // Recursive so that a transaction body can call the public methods.
  std::recursive_mutex mu_;
  std::unique_ptr<Database> db_;  // guarded by mu_
  int transaction_depth_ = 0;     // guarded by mu_
  bool walking_keys_ = false;     // guarded by mu_; for_each_api_key is running
};

}  // namespace sigil::store::sqlite
