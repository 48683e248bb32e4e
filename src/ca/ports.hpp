// The storage the certificate authority needs, declared by it and implemented by
// store/sqlite. Every method is thread-safe and durable when it returns. Errors:
// kNotFound for a missing record, kAlreadyExists for a duplicate id or serial, kInternal
// or kUnavailable for the backend's failures.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.hpp"
#include "ca/model.hpp"

namespace sigil::ca {

class CaStore {
 public:
  virtual ~CaStore() = default;
  // The trust domain is written once, with the first keys, by initialise_ca: in one
  // transaction, the setting "trust_domain" and every record of `keys`. kAlreadyExists
  // when a trust domain is stored already (nothing is written).
  virtual Result<void> initialise_ca(std::string_view trust_domain,
                                     const std::vector<CaKeyRecord>& keys) = 0;
  virtual Result<std::optional<std::string>> get_trust_domain() = 0;
  virtual Result<void> create_ca_key(const CaKeyRecord& key) = 0;
  virtual Result<void> update_ca_key(const CaKeyRecord& key) = 0;  // by id
  // In one transaction: creates `new_root` (when given) and replaces `intermediate` (by
  // id), so an import never leaves a root stored without the intermediate it came with.
  // Errors as create_ca_key and update_ca_key; nothing is written if either fails.
  virtual Result<void> import_ca_keys(const std::optional<CaKeyRecord>& new_root,
                                      const CaKeyRecord& intermediate) = 0;
  // Every record, ordered by created_at then id.
  virtual Result<std::vector<CaKeyRecord>> list_ca_keys() = 0;
};

class CertificateStore {
 public:
  virtual ~CertificateStore() = default;
  virtual Result<void> record_certificate(const CertificateRecord& certificate) = 0;
  virtual Result<CertificateRecord> get_certificate(std::string_view serial_hex) = 0;
  // Newest first (by issued_at, then serial, both descending); only those of `spiffe_id`
  // when given; at most `limit`, which must be 1..1000 (kInvalidArgument otherwise).
  virtual Result<std::vector<CertificateRecord>> list_certificates(
      std::optional<std::string_view> spiffe_id, std::size_t limit) = 0;
};

}  // namespace sigil::ca
