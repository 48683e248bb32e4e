// The storage the token service needs, declared by it and implemented by store/sqlite
// (and later store/postgres). Every method is thread-safe and durable when it returns.
// Errors: kNotFound for a missing record, kAlreadyExists for a duplicate id, kInternal
// or kUnavailable for the backend's failures.
#pragma once

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

}  // namespace sigil::oauth
