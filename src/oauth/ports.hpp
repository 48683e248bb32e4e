// The storage the token service needs, declared by it and implemented by store/sqlite
// (and later store/postgres). Every method is thread-safe and durable when it returns.
// Errors: kNotFound for a missing record, kAlreadyExists for a duplicate id, kInternal
// or kUnavailable for the backend's failures.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.hpp"
#include "oauth/model.hpp"

namespace sigil::oauth {

class ClientStore {
 public:
  virtual ~ClientStore() = default;
  virtual Result<void> create_client(const Client& client) = 0;
  virtual Result<Client> get_client(std::string_view id) = 0;
  virtual Result<std::vector<Client>> list_clients() = 0;  // ordered by id
  virtual Result<void> update_client(const Client& client) = 0;
};

class SigningKeyStore {
 public:
  virtual ~SigningKeyStore() = default;
  virtual Result<void> create_signing_key(const SigningKeyRecord& key) = 0;
  virtual Result<std::vector<SigningKeyRecord>> list_signing_keys() = 0;  // by activates_at
  virtual Result<void> update_signing_key(const SigningKeyRecord& key) = 0;
  virtual Result<void> delete_signing_key(std::string_view kid) = 0;
};

class RevocationStore {
 public:
  virtual ~RevocationStore() = default;
  // Idempotent: revoking a revoked jti again succeeds.
  virtual Result<void> revoke_token(const RevokedToken& token) = 0;
  // Entries whose expires_at is after `now`.
  virtual Result<std::vector<RevokedToken>> list_revoked_tokens(TimePoint now) = 0;
  virtual Result<void> purge_revoked_tokens(TimePoint expired_before) = 0;
};

// Small named values that belong to the installation (issuer URL, schema facts).
class SettingStore {
 public:
  virtual ~SettingStore() = default;
  virtual Result<std::optional<std::string>> get_setting(std::string_view name) = 0;
  virtual Result<void> put_setting(std::string_view name, std::string_view value) = 0;
};

// One applied policy document.
struct PolicyVersion {
  std::int64_t version = 0;  // 1, 2, ... in order of application
  std::string document;      // the YAML text as applied (empty in listings)
  std::string sha256_hex;    // of the document
  TimePoint applied_at{};
  std::string applied_by;  // client id, or "file:<path>"
  std::string origin;      // "apply", "rollback", "file"
  // For a rollback (and only then): the earlier version whose document was applied again.
  std::optional<std::int64_t> rolled_back_from;
};

// Policy versions, and the client changes applied with each one, atomically.
class PolicyStore {
 public:
  virtual ~PolicyStore() = default;
  // In one transaction: creates `create`, replaces `update`, deletes the clients with ids
  // in `remove`, and appends `version` (whose version number must be the newest + 1, or 1
  // for the first, else kAlreadyExists). Nothing is written if any part fails: a created
  // id that exists is kAlreadyExists, an updated or removed id that does not is kNotFound.
  // kInvalidArgument for a version below 1, a sha256_hex that is not 64 lower-case hex
  // digits, an empty applied_by, an unknown origin, or a rolled_back_from that is missing
  // for a rollback, present for anything else, or not an earlier version.
  virtual Result<void> commit_policy(const PolicyVersion& version,
                                     const std::vector<Client>& create,
                                     const std::vector<Client>& update,
                                     const std::vector<std::string>& remove) = 0;
  // The newest version with its document, or nullopt when none was ever applied.
  virtual Result<std::optional<PolicyVersion>> latest_policy_version() = 0;
  // kNotFound when unknown.
  virtual Result<PolicyVersion> get_policy_version(std::int64_t version) = 0;
  // Newest first, documents left empty.
  virtual Result<std::vector<PolicyVersion>> list_policy_versions() = 0;
};

}  // namespace sigil::oauth
