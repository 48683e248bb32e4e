#include "oauth/policy_admin.hpp"

#include <algorithm>
#include <map>
#include <utility>

#include "base/hex.hpp"
#include "crypto/digest.hpp"
#include "pki/spiffe.hpp"
#include "policy/policy.hpp"

namespace sigil::oauth {

namespace {

constexpr std::string_view kStaysDisabled =
    "disabled: stays disabled (enable with `sigil client enable`)";

// Parses, validates and compiles a document. kInvalidArgument with the diagnostics, one
// "policy:<line>: ..." line each, when it is not a valid policy.
Result<std::shared_ptr<const policy::CompiledPolicy>> compile_document(std::string_view document) {
  auto parsed = policy::parse_policy(document);
  if (!parsed)
    return std::unexpected(Error::invalid_argument(policy::format(parsed.error(), "policy")));
  auto compiled = policy::CompiledPolicy::compile(std::move(*parsed));
  if (!compiled) {
    return std::unexpected(Error::invalid_argument("policy: " + compiled.error().message + "\n"));
  }
  return std::move(*compiled);
}

// The client a service declares: named after it, with its attributes (labels are for
// selecting services in the policy, not part of the identity), authentication methods and
// jwks_uri, bounded by what the policy could ever grant it. Checked and normalised by the
// registry's own rules, so that a client written by apply is one create() would have
// accepted. `existing` is the service's client when it has one: the JWKS and certificate
// thumbprints it registered through the admin API are not the policy's to declare, but
// they count as the keys private_key_jwt and self_signed_tls_client_auth need. The
// default auth methods follow from what the policy declares alone, so that registering a
// JWKS does not take the secret methods away at the next apply. A service that uses
// tls_client_auth is expected to present a certificate with its SPIFFE ID in
// `trust_domain` (empty: there is no CA yet, and the service cannot be declared).
Result<NewClient> declared_client(const policy::Service& service,
                                  const policy::CompiledPolicy& compiled, const Client* existing,
                                  const std::string& trust_domain) {
  auto refuse = [&service](const std::string& why) {
    return std::unexpected(Error::invalid_argument(policy::format(
        {policy::Diagnostic{service.line, "service \"" + service.name +
                                              "\" cannot be registered as a client: " + why}},
        "policy")));
  };
  NewClient request;
  request.id = service.name;
  request.name = service.name;
  request.attributes = service.attributes;
  policy::Reach reach = compiled.reach(service.name);
  request.allowed_scopes = std::move(reach.scopes);
  request.allowed_audiences = std::move(reach.audiences);
  request.auth_methods = service.auth_methods.empty()
                             ? default_auth_methods(!service.jwks_uri.empty())
                             : service.auth_methods;
  if (existing != nullptr) request.jwks = existing->jwks;
  request.jwks_uri = service.jwks_uri;
  const auto uses = [&](std::string_view method) {
    return std::find(request.auth_methods.begin(), request.auth_methods.end(), method) !=
           request.auth_methods.end();
  };
  if (uses(kTlsClientAuth)) {
    // RFC 8705 §2.1.2 tls_client_auth_san_uri: the certificates sigil's CA issues the
    // service carry its SPIFFE ID as their URI SAN.
    if (trust_domain.empty()) {
      return refuse(
          "it uses tls_client_auth, whose certificates name a SPIFFE ID in sigil's trust "
          "domain, and there is none yet: run `sigil ca init` first");
    }
    auto domain = pki::TrustDomain::parse(trust_domain);
    if (!domain) return refuse("sigil's trust domain: " + domain.error().message);
    auto id = domain->id(service.certificate.spiffe_path);
    if (!id) return refuse("its SPIFFE ID: " + id.error().message);
    request.tls_client_auth_san_uri = id->str();
  }
  if (uses(kSelfSignedTlsClientAuth) && existing != nullptr) {
    request.tls_client_certificates = existing->tls_client_certificates;
  }
  auto valid = validate_new_client(request);
  if (!valid) return refuse(valid.error().message);
  return request;
}

// Writes the declared fields onto `client`; returns the names of those that changed.
std::vector<std::string_view> assign_declared(Client& client, const NewClient& declared) {
  std::vector<std::string_view> changed;
  auto assign = [&changed](auto& field, const auto& value, std::string_view name) {
    if (field == value) return;
    field = value;
    changed.push_back(name);
  };
  assign(client.name, declared.name, "name");
  assign(client.attributes, declared.attributes, "attributes");
  assign(client.allowed_scopes, declared.allowed_scopes, "allowed scopes");
  assign(client.allowed_audiences, declared.allowed_audiences, "allowed audiences");
  assign(client.auth_methods, declared.auth_methods, "auth methods");
  assign(client.jwks_uri, declared.jwks_uri, "jwks_uri");
  // The certificate subject is the policy's (the SPIFFE ID, or none without
  // tls_client_auth); registered thumbprints stay, as registered keys do.
  assign(client.tls_client_auth_subject_dn, declared.tls_client_auth_subject_dn,
         "tls_client_auth_subject_dn");
  assign(client.tls_client_auth_san_uri, declared.tls_client_auth_san_uri,
         "tls_client_auth_san_uri");
  assign(client.tls_client_auth_san_dns, declared.tls_client_auth_san_dns,
         "tls_client_auth_san_dns");
  return changed;
}

std::string join(const std::vector<std::string_view>& items) {
  std::string out;
  for (auto item : items) {
    if (!out.empty()) out += ", ";
    out += item;
  }
  return out;
}

bool is_known_origin(std::string_view origin) {
  return origin == "apply" || origin == "rollback" || origin == "file";
}

Result<void> check_options(const ApplyOptions& options) {
  if (options.applied_by.empty()) {
    return std::unexpected(Error::invalid_argument("who applies the policy is not named"));
  }
  if (!is_known_origin(options.origin)) {
    return std::unexpected(
        Error::invalid_argument("unknown policy origin \"" + options.origin + "\""));
  }
  if ((options.origin == "rollback") != options.rolled_back_from.has_value()) {
    return std::unexpected(
        Error::invalid_argument("rolled_back_from is set for a rollback, and only for a rollback"));
  }
  return Ok();
}

}  // namespace

std::string_view to_string(ClientAction action) {
  switch (action) {
    case ClientAction::kCreate:
      return "create";
    case ClientAction::kUpdate:
      return "update";
    case ClientAction::kDisable:
      return "disable";
    case ClientAction::kDelete:
      return "delete";
    case ClientAction::kUnchanged:
      return "unchanged";
  }
  return "unknown";
}

struct PolicyAdministration::Prepared {
  std::shared_ptr<const policy::CompiledPolicy> compiled;
  std::optional<PolicyVersion> current;  // the newest stored version, with its document
  PolicyPlan plan;
  std::vector<NewClient> create;    // checked and normalised
  std::vector<Client> update;       // the records to write (updated_at still to be set)
  std::vector<std::string> remove;  // ids
};

Result<std::unique_ptr<PolicyAdministration>> PolicyAdministration::load(
    PolicyStore& store, ClientRegistry& clients, policy::PolicyHolder& holder,
    std::string trust_domain) {
  SIGIL_TRY(latest, store.latest_policy_version());
  if (latest) {
    // What was applied once must still be what it was: a stored version that no longer
    // matches its digest or no longer compiles (a damaged store, or a policy schema this
    // sigil does not read) stops the start rather than running without the policy.
    const std::string label = "stored policy version " + std::to_string(latest->version);
    if (hex_encode(crypto::sha256(latest->document)) != latest->sha256_hex) {
      return std::unexpected(Error::internal(label + " does not match its SHA-256 digest"));
    }
    auto compiled = compile_document(latest->document);
    if (!compiled) {
      return std::unexpected(
          Error::internal(label + " is not valid any more:\n" + compiled.error().message));
    }
    holder.set(std::move(*compiled));
  }
  std::unique_ptr<PolicyAdministration> admin(new PolicyAdministration(store, clients, holder));
  SIGIL_CHECK(admin->set_trust_domain(std::move(trust_domain)));
  return admin;
}

Result<void> PolicyAdministration::set_trust_domain(std::string trust_domain) {
  if (!trust_domain.empty()) {
    auto parsed = pki::TrustDomain::parse(trust_domain);
    if (!parsed) return std::unexpected(parsed.error());
    trust_domain = parsed->name();
  }
  std::lock_guard lock(mu_);
  trust_domain_ = std::move(trust_domain);
  return Ok();
}

Result<PolicyAdministration::Prepared> PolicyAdministration::prepare(
    std::string_view document, bool prune, const std::vector<Client>& clients) const {
  Prepared out;
  SIGIL_TRY(compiled, compile_document(document));
  out.compiled = std::move(compiled);
  const policy::Policy& proposed = out.compiled->policy();
  const std::shared_ptr<const policy::CompiledPolicy> in_force = holder_.current();
  SIGIL_TRY(current, store_.latest_policy_version());
  out.current = std::move(current);
  if (out.current) out.plan.current_version = out.current->version;
  out.plan.changes = policy::diff(in_force ? &in_force->policy() : nullptr, proposed);

  std::map<std::string_view, const Client*> by_id;
  for (const auto& client : clients) by_id.emplace(client.id, &client);

  for (const auto& service : proposed.services) {
    auto existing = by_id.find(service.name);
    SIGIL_TRY(declared,
              declared_client(service, *out.compiled,
                              existing == by_id.end() ? nullptr : existing->second, trust_domain_));
    if (existing == by_id.end()) {
      out.plan.clients.push_back({service.name, ClientAction::kCreate, ""});
      out.create.push_back(std::move(declared));
      continue;
    }
    Client updated = *existing->second;
    const auto changed = assign_declared(updated, declared);
    if (changed.empty()) continue;
    std::string note = "changes " + join(changed);
    // The status is not the policy's to decide: a kill switch stays pulled.
    if (updated.status == ClientStatus::kDisabled) note += "; " + std::string(kStaysDisabled);
    out.plan.clients.push_back({service.name, ClientAction::kUpdate, std::move(note)});
    out.update.push_back(std::move(updated));
  }

  // Only the services of the policy in force are taken away: a client that no policy in
  // force declared (made with `sigil client create`) is not the policy's to remove.
  if (in_force) {
    for (const auto& service : in_force->policy().services) {
      if (out.compiled->find_service(service.name) != nullptr) continue;
      auto existing = by_id.find(service.name);
      if (existing == by_id.end()) continue;
      if (prune) {
        out.plan.clients.push_back(
            {service.name, ClientAction::kDelete, "service removed from the policy"});
        out.remove.push_back(service.name);
      } else if (existing->second->status != ClientStatus::kDisabled) {
        out.plan.clients.push_back(
            {service.name, ClientAction::kDisable, "service removed from the policy"});
        Client disabled = *existing->second;
        disabled.status = ClientStatus::kDisabled;
        out.update.push_back(std::move(disabled));
      }
    }
  }
  std::sort(out.plan.clients.begin(), out.plan.clients.end(),
            [](const ClientChange& a, const ClientChange& b) { return a.client_id < b.client_id; });
  return out;
}

Result<PolicyPlan> PolicyAdministration::plan(std::string_view document, bool prune) const {
  std::lock_guard lock(mu_);
  SIGIL_TRY(prepared, prepare(document, prune, clients_.list()));
  return std::move(prepared.plan);
}

Result<AppliedPolicy> PolicyAdministration::apply(std::string_view document,
                                                  const ApplyOptions& options, TimePoint now) {
  SIGIL_CHECK(check_options(options));
  const std::string sha256_hex = hex_encode(crypto::sha256(document));
  std::lock_guard lock(mu_);
  AppliedPolicy applied;
  std::shared_ptr<const policy::CompiledPolicy> compiled;
  bool unchanged = false;
  // The registry holds off other client changes from the plan to the commit, so that the
  // records written are the ones planned from (a client disabled meanwhile is not
  // re-enabled), and takes the batch into its cache once it is committed.
  auto write = [&](const std::vector<Client>& clients) -> Result<ClientBatch> {
    SIGIL_TRY(prepared, prepare(document, options.prune, clients));
    compiled = prepared.compiled;
    if (prepared.current && prepared.current->sha256_hex == sha256_hex &&
        prepared.plan.clients.empty()) {
      unchanged = true;
      applied.plan.current_version = prepared.current->version;
      applied.version = std::move(*prepared.current);
      return ClientBatch{};
    }

    ClientBatch batch;
    for (NewClient& request : prepared.create) {
      Client client;
      client.id = std::move(*request.id);
      client.name = std::move(request.name);
      client.attributes = std::move(request.attributes);
      client.allowed_scopes = std::move(request.allowed_scopes);
      client.allowed_audiences = std::move(request.allowed_audiences);
      client.auth_methods = std::move(request.auth_methods);
      client.jwks_uri = std::move(request.jwks_uri);
      client.tls_client_auth_subject_dn = std::move(request.tls_client_auth_subject_dn);
      client.tls_client_auth_san_uri = std::move(request.tls_client_auth_san_uri);
      client.tls_client_auth_san_dns = std::move(request.tls_client_auth_san_dns);
      client.tls_client_certificates = std::move(request.tls_client_certificates);
      client.status = ClientStatus::kActive;
      // Without a secret (an empty digest) nothing authenticates as the client with a
      // secret until someone rotates one in; a client that uses no secret method gets none.
      if (options.issue_secrets && uses_client_secret(client.auth_methods)) {
        ClientSecret secret = make_client_secret();
        client.secret = std::move(secret.digest);
        applied.credentials.push_back({client.id, std::move(secret.secret)});
      }
      client.created_at = now;
      client.updated_at = now;
      batch.create.push_back(std::move(client));
    }
    for (Client& client : prepared.update) {
      client.updated_at = now;
      batch.update.push_back(std::move(client));
    }
    batch.remove = std::move(prepared.remove);

    PolicyVersion version;
    version.version = prepared.current ? prepared.current->version + 1 : 1;
    version.document = std::string(document);
    version.sha256_hex = sha256_hex;
    version.applied_at = now;
    version.applied_by = options.applied_by;
    version.origin = options.origin;
    version.rolled_back_from = options.rolled_back_from;
    SIGIL_CHECK(store_.commit_policy(version, batch.create, batch.update, batch.remove));
    applied.version = std::move(version);
    applied.plan = std::move(prepared.plan);
    return batch;
  };
  SIGIL_CHECK(clients_.write_batch(write));
  // Committed: only now does the new policy decide.
  if (!unchanged || holder_.current() == nullptr) holder_.set(std::move(compiled));
  return applied;
}

Result<AppliedPolicy> PolicyAdministration::rollback(std::int64_t version,
                                                     std::string_view applied_by, TimePoint now) {
  SIGIL_TRY(target, store_.get_policy_version(version));
  ApplyOptions options;
  options.applied_by = std::string(applied_by);
  options.origin = "rollback";
  options.rolled_back_from = version;
  return apply(target.document, options, now);
}

Result<std::vector<PolicyVersion>> PolicyAdministration::history() const {
  return store_.list_policy_versions();
}

Result<PolicyVersion> PolicyAdministration::version(std::int64_t version) const {
  return store_.get_policy_version(version);
}

Result<std::optional<PolicyVersion>> PolicyAdministration::current() const {
  return store_.latest_policy_version();
}

}  // namespace sigil::oauth
