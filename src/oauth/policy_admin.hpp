// Policy administration: plan, apply, rollback and history of the policy in force, and
// the clients it declares. A service in the policy is a client by another name: applying
// a policy creates a client for each new service (printing its secret once), updates the
// attributes, authentication methods and bounds (allowed scopes and audiences = what the
// policy could ever grant it, policy::CompiledPolicy::reach) of the existing ones, and
// for a service that uses tls_client_auth, the URI SAN its certificate must carry: its
// SPIFFE ID, spiffe://<trust domain><certificate.spiffe_path> (RFC 8705 §2.1.2), and
// disables the clients of removed services (deletes them with prune). Clients that no
// policy ever declared are left alone. A disabled client is never re-enabled by apply: a
// kill switch stays pulled until someone runs `sigil client enable`.
//
// Atomic: the clients and the new policy version are written in one store transaction,
// and only then is the compiled policy swapped in; any failure leaves the old policy,
// the old clients and the registry as they were.
//
// Thread safety: every method is thread-safe; changes are serialised.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/clock.hpp"
#include "base/error.hpp"
#include "base/secrets.hpp"
#include "oauth/client_registry.hpp"
#include "oauth/ports.hpp"
#include "policy/diff.hpp"
#include "policy/engine.hpp"

namespace sigil::oauth {

enum class ClientAction { kCreate, kUpdate, kDisable, kDelete, kUnchanged };
std::string_view to_string(ClientAction action);  // "create", "update", "disable", ...

struct ClientChange {
  std::string client_id;
  ClientAction action = ClientAction::kUnchanged;
  std::string note;  // e.g. "disabled: stays disabled (enable with `sigil client enable`)"
};

struct PolicyPlan {
  std::optional<std::int64_t> current_version;  // the version in force, if any
  std::vector<policy::Change> changes;          // policy::diff(current, proposed)
  std::vector<ClientChange> clients;            // by client id; kUnchanged omitted
  bool empty() const { return changes.empty() && clients.empty(); }
};

struct IssuedCredentials {
  std::string client_id;
  SecretString client_secret;
};

struct AppliedPolicy {
  PolicyVersion version;
  PolicyPlan plan;
  std::vector<IssuedCredentials> credentials;  // for created clients: shown once
};

struct ApplyOptions {
  bool prune = false;  // delete the clients of removed services instead of disabling them
  // Create new services' clients with a secret (returned once). Without (file mode, where
  // nobody could be shown it) they have none until `sigil client rotate-secret`.
  bool issue_secrets = true;
  std::string applied_by;        // client id of the caller, or "file:<path>"
  std::string origin = "apply";  // "apply", "rollback", "file"
  std::optional<std::int64_t> rolled_back_from;
};

class PolicyAdministration {
 public:
  // Loads the newest stored version into `holder` (if any). The store, registry and
  // holder must outlive this object. kInternal when a stored version no longer compiles.
  // `trust_domain` is sigil's CA's SPIFFE trust domain ("example.org"), empty while there
  // is no CA (see set_trust_domain).
  static Result<std::unique_ptr<PolicyAdministration>> load(PolicyStore& store,
                                                            ClientRegistry& clients,
                                                            policy::PolicyHolder& holder,
                                                            std::string trust_domain = {});

  // The trust domain of the SPIFFE IDs that tls_client_auth services' certificates carry
  // (see load). While it is empty, a policy with such a service is refused by plan() and
  // apply() (kInvalidArgument: run `sigil ca init` first). kInvalidArgument for a name
  // that is not a trust domain (pki::TrustDomain::parse), with nothing changed.
  Result<void> set_trust_domain(std::string trust_domain);

  // What apply() would do with `document` (and `prune`, as in ApplyOptions), changing
  // nothing. kInvalidArgument with the formatted diagnostics (policy::format, file name
  // "policy") as the message when the document does not parse or validate, or when a
  // service cannot be a client as declared (e.g. private_key_jwt without keys, or
  // tls_client_auth without a trust domain); store errors as they come.
  Result<PolicyPlan> plan(std::string_view document, bool prune = false) const;

  // Parses, validates, compiles, writes clients and the new version atomically, swaps the
  // policy in. A document identical (same SHA-256) to the version in force, with nothing to
  // change on the clients, is not stored again: the current version comes back with an
  // empty plan. Errors: those of plan(); kInvalidArgument for options the store would
  // refuse (an empty applied_by, an unknown origin, rolled_back_from missing for a
  // rollback or present otherwise); the store's errors (kAlreadyExists when another
  // process stored a version meanwhile), with nothing changed.
  Result<AppliedPolicy> apply(std::string_view document, const ApplyOptions& options,
                              TimePoint now);

  // Applies the document of `version` again as a new version (origin "rollback",
  // rolled_back_from = `version`), without prune, issuing secrets for the clients it has
  // to create again. kNotFound for an unknown version.
  Result<AppliedPolicy> rollback(std::int64_t version, std::string_view applied_by, TimePoint now);

  Result<std::vector<PolicyVersion>> history() const;  // newest first, documents omitted
  Result<PolicyVersion> version(std::int64_t version) const;
  // The version in force, if any (with its document).
  Result<std::optional<PolicyVersion>> current() const;

 private:
  PolicyAdministration(PolicyStore& store, ClientRegistry& clients, policy::PolicyHolder& holder)
      : store_(store), clients_(clients), holder_(holder) {}

  struct Prepared;
  // plan() over `clients` (the registry's clients, ordered by id); the caller holds mu_.
  Result<Prepared> prepare(std::string_view document, bool prune,
                           const std::vector<Client>& clients) const;

  PolicyStore& store_;
  ClientRegistry& clients_;
  policy::PolicyHolder& holder_;
  mutable std::mutex mu_;     // serialises plan, apply and rollback
  std::string trust_domain_;  // guarded by mu_
};

}  // namespace sigil::oauth
