#include "ca/authority.hpp"

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

#include <algorithm>
#include <chrono>
#include <utility>

#include "base/base64url.hpp"
#include "base/hex.hpp"
#include "crypto/aead.hpp"
#include "pki/csr.hpp"

namespace sigil::ca {

namespace {

namespace json = boost::json;

constexpr std::string_view kRootCommonName = "sigil root CA";
constexpr std::string_view kIntermediateCommonName = "sigil intermediate CA";
constexpr std::string_view kRootIdPrefix = "root-";
constexpr std::string_view kIntermediateIdPrefix = "int-";
// A certificate in PEM is a few KiB; anything far larger is not one.
constexpr std::size_t kMaxImportBytes = 64 * 1024;
// Seconds; SPIFFE Trust Domain and Bundle §4.1.2 leaves the value to the publisher.
constexpr std::int64_t kSpiffeRefreshHint = 300;

std::string seal_label(std::string_view id) {
  return "ca_key:" + std::string(id);
}

std::string new_id(std::string_view prefix) {
  return std::string(prefix) + hex_encode(random_bytes(8));
}

// 126 random bits with the first octet in 0x40..0x7f: the DER INTEGER is positive
// without a leading zero octet and always 16 octets long, so the serial reads the same
// (32 hex digits) in the record, in the certificate and in every tool.
std::string new_serial() {
  std::string serial = random_bytes(pki::kSerialBytes);
  serial[0] = static_cast<char>((static_cast<unsigned char>(serial[0]) & 0x3f) | 0x40);
  return serial;
}

TimePoint whole_seconds(TimePoint t) {
  return std::chrono::floor<Seconds>(t);
}

// RFC 5280 §4.1.2.5: the validity period runs "from notBefore through notAfter,
// inclusive".
bool valid_at(const pki::Certificate& c, TimePoint now) {
  return c.not_before() <= now && now <= c.not_after();
}

Result<void> check_options(const CaOptions& options) {
  if (options.key_type != crypto::KeyType::kEcP256 &&
      options.key_type != crypto::KeyType::kEcP384) {
    return std::unexpected(Error::invalid_argument("CA keys must be EC P-256 or P-384"));
  }
  if (options.root_lifetime <= Seconds{0} || options.intermediate_lifetime <= Seconds{0}) {
    return std::unexpected(Error::invalid_argument("CA lifetimes must be positive"));
  }
  if (options.intermediate_lifetime > options.root_lifetime) {
    return std::unexpected(
        Error::invalid_argument("an intermediate CA cannot outlive the root that signs it"));
  }
  return Ok();
}

Result<std::string> seal_key(std::string_view master_key, const crypto::Key& key,
                             std::string_view id) {
  SIGIL_TRY(der, key.private_pkcs8());
  auto sealed = crypto::seal(master_key, der, seal_label(id));
  wipe(der);
  return sealed;
}

// A fresh key of options.key_type for a CA record `id`, sealed into record.
Result<crypto::Key> new_sealed_key(std::string_view master_key, const CaOptions& options,
                                   CaKeyRecord& record) {
  SIGIL_TRY(key, crypto::Key::generate(options.key_type));
  SIGIL_TRY(sealed, seal_key(master_key, key, record.id));
  record.sealed_private_key = std::move(sealed);
  return key;
}

pki::CaProfile ca_profile(std::string_view common_name, const pki::TrustDomain& trust_domain,
                          const CaOptions& options, int path_length, TimePoint not_before,
                          TimePoint not_after) {
  return pki::CaProfile{.common_name = std::string(common_name),
                        .organization = options.organization,
                        .trust_domain = trust_domain,
                        .path_length = path_length,
                        .not_before = not_before,
                        .not_after = not_after,
                        .serial = new_serial()};
}

// A self-signed root (pathlen 1: one intermediate below it) and its issuer.
Result<std::pair<CaKeyRecord, pki::Issuer>> new_root(std::string_view master_key,
                                                     const pki::TrustDomain& trust_domain,
                                                     const CaOptions& options, TimePoint now) {
  CaKeyRecord record;
  record.id = new_id(kRootIdPrefix);
  record.kind = CaKeyKind::kRoot;
  SIGIL_TRY(key, new_sealed_key(master_key, options, record));
  SIGIL_TRY(root,
            pki::Issuer::self_signed_root(key, ca_profile(kRootCommonName, trust_domain, options, 1,
                                                          now, now + options.root_lifetime)));
  record.certificate_pem = root.pem();
  record.created_at = now;
  record.activates_at = now;
  record.not_after = root.certificate().not_after();
  SIGIL_TRY(issuer, pki::Issuer::create(root.certificate(), std::move(key)));
  return std::pair{std::move(record), std::move(issuer)};
}

// An intermediate (pathlen 0: it signs workloads only) signed by root, within the root's
// validity.
Result<CaKeyRecord> new_intermediate(std::string_view master_key, const pki::Issuer& root,
                                     std::string_view root_id, const pki::TrustDomain& trust_domain,
                                     const CaOptions& options, TimePoint now,
                                     TimePoint activates_at) {
  CaKeyRecord record;
  record.id = new_id(kIntermediateIdPrefix);
  record.kind = CaKeyKind::kIntermediate;
  SIGIL_TRY(key, new_sealed_key(master_key, options, record));
  SIGIL_TRY(public_key, key.public_key());
  const TimePoint not_after =
      std::min(now + options.intermediate_lifetime, root.certificate().not_after());
  SIGIL_TRY(cert,
            root.issue_intermediate(public_key, ca_profile(kIntermediateCommonName, trust_domain,
                                                           options, 0, now, not_after)));
  record.certificate_pem = cert.pem();
  record.parent_id = std::string(root_id);
  record.created_at = now;
  record.activates_at = activates_at;
  record.not_after = cert.certificate().not_after();
  return record;
}

// A pending intermediate: its sealed key, and in csr_pem the request for its certificate.
Result<CaKeyRecord> new_pending(std::string_view master_key, const CaOptions& options,
                                TimePoint now, std::string& csr_pem) {
  CaKeyRecord record;
  record.id = new_id(kIntermediateIdPrefix);
  record.kind = CaKeyKind::kIntermediate;
  SIGIL_TRY(key, new_sealed_key(master_key, options, record));
  SIGIL_TRY(csr, pki::make_csr_der(key, kIntermediateCommonName));
  csr_pem = pki::pem_encode("CERTIFICATE REQUEST", csr);
  record.created_at = now;
  record.activates_at = now;
  record.not_after = now;
  return record;
}

// The members of a public JWK (RFC 7518 §6) for key, "kty" first.
Result<json::object> public_jwk_members(const crypto::Key& key) {
  json::object out;
  switch (key.type()) {
    case crypto::KeyType::kEcP256:
    case crypto::KeyType::kEcP384: {
      SIGIL_TRY(c, key.ec_components());
      out["kty"] = "EC";
      out["crv"] = key.type() == crypto::KeyType::kEcP256 ? "P-256" : "P-384";
      out["x"] = base64url_encode(c.x);
      out["y"] = base64url_encode(c.y);
      return out;
    }
    case crypto::KeyType::kEd25519: {
      SIGIL_TRY(c, key.okp_components());
      out["kty"] = "OKP";
      out["crv"] = "Ed25519";
      out["x"] = base64url_encode(c.x);
      return out;
    }
    case crypto::KeyType::kRsa: {
      SIGIL_TRY(c, key.rsa_components());
      out["kty"] = "RSA";
      out["n"] = base64url_encode(c.n);
      out["e"] = base64url_encode(c.e);
      return out;
    }
  }
  return std::unexpected(Error::internal("unknown key type"));
}

// The one certificate of pem, for import. kInvalidArgument naming `what`.
Result<pki::Certificate> one_certificate(std::string_view pem, std::string_view what) {
  if (pem.size() > kMaxImportBytes) {
    return std::unexpected(
        Error::invalid_argument("the " + std::string(what) + " PEM is larger than 64 KiB"));
  }
  auto chain = pki::Certificate::chain_from_pem(pem);
  if (!chain) {
    return std::unexpected(Error::invalid_argument("the " + std::string(what) +
                                                   " certificate: " + chain.error().message));
  }
  if (chain->size() != 1) {
    return std::unexpected(Error::invalid_argument("expected exactly one " + std::string(what) +
                                                   " certificate, got " +
                                                   std::to_string(chain->size())));
  }
  return std::move(chain->front());
}

}  // namespace

struct CertificateAuthority::State {
  struct Entry {
    CaKeyRecord record;  // sealed_private_key cleared
    std::optional<pki::Certificate> certificate;
    std::shared_ptr<const pki::Issuer> issuer;       // a CA whose key sigil holds
    std::shared_ptr<const crypto::Key> pending_key;  // a pending intermediate's key
  };

  std::optional<pki::TrustDomain> trust_domain;
  std::vector<Entry> entries;  // ordered as the store lists them: created_at, then id

  bool is_root(const Entry& e) const { return e.record.kind == CaKeyKind::kRoot; }

  // The newest activated intermediate, when its certificate is valid at `now`: the one
  // that signs. Those activated before it sign no more, even when it has expired.
  const Entry* signer(TimePoint now) const {
    const Entry* newest = nullptr;
    for (const auto& e : entries) {
      if (is_root(e) || !e.issuer || e.record.activates_at > now) continue;
      if (!newest || e.record.activates_at >= newest->record.activates_at) newest = &e;
    }
    if (!newest || !valid_at(*newest->certificate, now)) return nullptr;
    return newest;
  }

  // sigil's own root (a key it holds) valid at `now`, the newest one.
  const Entry* own_root(TimePoint now) const {
    const Entry* found = nullptr;
    for (const auto& e : entries) {
      if (is_root(e) && e.issuer && valid_at(*e.certificate, now)) found = &e;
    }
    return found;
  }

  bool holds_a_root_key() const {
    return std::any_of(entries.begin(), entries.end(),
                       [&](const Entry& e) { return is_root(e) && e.issuer; });
  }

  // When an intermediate created at `now` starts to sign: at once, unless another one
  // activated within the same second (stored times are whole seconds).
  TimePoint next_activation(TimePoint now) const {
    TimePoint at = whole_seconds(now);
    for (const auto& e : entries) {
      if (!is_root(e) && e.certificate && e.record.activates_at >= at) {
        at = e.record.activates_at + Seconds{1};
      }
    }
    return at;
  }

  std::string state_of(const Entry& e, TimePoint now) const {
    if (!e.certificate) return "pending";
    if (now > e.certificate->not_after()) return "expired";
    if (is_root(e)) return "root";
    if (e.record.activates_at > now) return "next";
    return &e == signer(now) ? "active" : "rotated";
  }

  const Entry* find(std::string_view id) const {
    for (const auto& e : entries) {
      if (e.record.id == id) return &e;
    }
    return nullptr;
  }
};

Result<std::unique_ptr<CertificateAuthority>> CertificateAuthority::load(
    CaStore& store, CertificateStore& certificates, std::string_view master_key) {
  if (master_key.size() != crypto::kMasterKeyBytes) {
    return std::unexpected(Error::invalid_argument("the master key must be 32 bytes"));
  }
  std::unique_ptr<CertificateAuthority> ca(
      new CertificateAuthority(store, certificates, master_key));
  SIGIL_CHECK(ca->reload());
  return ca;
}

std::shared_ptr<const CertificateAuthority::State> CertificateAuthority::state() const {
  std::shared_lock lock(mu_);
  return state_;
}

Result<void> CertificateAuthority::reload() {
  std::lock_guard write(write_mu_);
  return reload_locked();
}

Result<void> CertificateAuthority::reload_locked() {
  auto next = std::make_shared<State>();
  SIGIL_TRY(trust_domain, store_.get_trust_domain());
  if (trust_domain) {
    auto parsed = pki::TrustDomain::parse(*trust_domain);
    if (!parsed) {
      return std::unexpected(Error::failed_precondition("the stored trust domain is invalid: " +
                                                        parsed.error().message));
    }
    next->trust_domain = std::move(*parsed);
  }
  SIGIL_TRY(records, store_.list_ca_keys());
  if (!records.empty() && !next->trust_domain) {
    return std::unexpected(Error::failed_precondition("CA keys are stored without a trust domain"));
  }
  for (auto& record : records) {
    const std::string& id = record.id;
    std::optional<crypto::Key> key;
    if (!record.sealed_private_key.empty()) {
      auto der = crypto::open(master_key_.reveal(), record.sealed_private_key, seal_label(id));
      if (!der) {
        if (der.error().code == Code::kUnauthenticated) {
          return std::unexpected(
              Error::failed_precondition("master key does not open CA key " + id));
        }
        return std::unexpected(der.error());
      }
      auto opened = crypto::Key::from_private_pkcs8(*der);
      wipe(*der);
      if (!opened) {
        return std::unexpected(
            Error::failed_precondition("CA key " + id + " is unusable: " + opened.error().message));
      }
      key = std::move(*opened);
    }
    State::Entry entry;
    if (!record.certificate_pem.empty()) {
      auto cert = pki::Certificate::from_pem(record.certificate_pem);
      if (!cert) {
        return std::unexpected(Error::failed_precondition(
            "CA key " + id + " has an unusable certificate: " + cert.error().message));
      }
      entry.certificate = std::move(*cert);
    }
    const bool root = record.kind == CaKeyKind::kRoot;
    if (!entry.certificate && (root || !key)) {
      return std::unexpected(
          Error::failed_precondition("CA key " + id + " has neither certificate nor key"));
    }
    if (entry.certificate && !root && !key) {
      return std::unexpected(
          Error::failed_precondition("intermediate CA " + id + " has no private key"));
    }
    if (entry.certificate && key) {
      auto issuer = pki::Issuer::create(*entry.certificate, std::move(*key));
      if (!issuer) {
        return std::unexpected(Error::failed_precondition(
            "CA key " + id + " does not match its certificate: " + issuer.error().message));
      }
      entry.issuer = std::make_shared<const pki::Issuer>(std::move(*issuer));
    } else if (key) {
      entry.pending_key = std::make_shared<const crypto::Key>(std::move(*key));
    }
    record.sealed_private_key.clear();
    entry.record = std::move(record);
    next->entries.push_back(std::move(entry));
  }
  std::unique_lock lock(mu_);
  state_ = std::move(next);
  return Ok();
}

bool CertificateAuthority::ready(TimePoint now) const {
  auto s = state();
  return s->trust_domain && s->signer(now) != nullptr;
}

std::optional<pki::TrustDomain> CertificateAuthority::trust_domain() const {
  return state()->trust_domain;
}

Result<void> CertificateAuthority::initialise(const pki::TrustDomain& trust_domain,
                                              const CaOptions& options, TimePoint now) {
  std::lock_guard write(write_mu_);
  SIGIL_CHECK(check_options(options));
  if (state()->trust_domain) {
    return std::unexpected(
        Error::failed_precondition("the certificate authority is initialised already"));
  }
  SIGIL_TRY(root, new_root(master_key_.reveal(), trust_domain, options, now));
  SIGIL_TRY(intermediate, new_intermediate(master_key_.reveal(), root.second, root.first.id,
                                           trust_domain, options, now, whole_seconds(now)));
  auto stored = store_.initialise_ca(trust_domain.name(), {root.first, intermediate});
  if (!stored) {
    if (stored.error().code == Code::kAlreadyExists) {
      return std::unexpected(
          Error::failed_precondition("the certificate authority is initialised already"));
    }
    return stored;
  }
  return reload_locked();
}

Result<std::string> CertificateAuthority::initialise_external(const pki::TrustDomain& trust_domain,
                                                              const CaOptions& options,
                                                              TimePoint now) {
  std::lock_guard write(write_mu_);
  SIGIL_CHECK(check_options(options));
  if (state()->trust_domain) {
    return std::unexpected(
        Error::failed_precondition("the certificate authority is initialised already"));
  }
  std::string csr_pem;
  SIGIL_TRY(pending, new_pending(master_key_.reveal(), options, now, csr_pem));
  auto stored = store_.initialise_ca(trust_domain.name(), {pending});
  if (!stored) {
    if (stored.error().code == Code::kAlreadyExists) {
      return std::unexpected(
          Error::failed_precondition("the certificate authority is initialised already"));
    }
    return std::unexpected(stored.error());
  }
  SIGIL_CHECK(reload_locked());
  return csr_pem;
}

Result<CaKeyInfo> CertificateAuthority::import_intermediate(std::string_view intermediate_pem,
                                                            std::string_view root_pem,
                                                            TimePoint now) {
  std::lock_guard write(write_mu_);
  auto s = state();
  if (!s->trust_domain) {
    return std::unexpected(
        Error::failed_precondition("the certificate authority is not initialised"));
  }
  const bool any_pending = std::any_of(s->entries.begin(), s->entries.end(),
                                       [](const State::Entry& e) { return e.pending_key; });
  if (!any_pending) {
    return std::unexpected(Error::failed_precondition(
        "no intermediate CA is waiting for its certificate: request one first"));
  }
  SIGIL_TRY(cert, one_certificate(intermediate_pem, "intermediate"));
  SIGIL_TRY(root, one_certificate(root_pem, "root"));

  auto cert_key = cert.public_key();
  if (!cert_key) {
    return std::unexpected(
        Error::invalid_argument("the intermediate certificate's key: " + cert_key.error().message));
  }
  SIGIL_TRY(cert_spki, cert_key->spki_der());
  const State::Entry* pending = nullptr;
  for (const auto& e : s->entries) {
    if (!e.pending_key) continue;
    auto spki = e.pending_key->spki_der();
    if (spki && *spki == cert_spki) pending = &e;
  }
  if (!pending) {
    return std::unexpected(Error::invalid_argument(
        "the intermediate certificate is not for a pending intermediate key"));
  }
  // RFC 5280 §4.2.1.9 and §4.2.1.3: a key that signs certificates is a CA's, with
  // keyCertSign; X509-SVID §4.3: "SVID signing certificates MUST set keyCertSign".
  if (!cert.is_ca() || !cert.has_key_cert_sign()) {
    return std::unexpected(Error::invalid_argument(
        "the intermediate certificate is not a CA allowed to sign certificates "
        "(CA:TRUE and keyCertSign)"));
  }
  if (!root.is_ca() || !root.has_key_cert_sign()) {
    return std::unexpected(Error::invalid_argument(
        "the root certificate is not a CA allowed to sign certificates (CA:TRUE and "
        "keyCertSign)"));
  }
  // X509-SVID §6.1: the bundle's CA certificate "SHOULD be self-signed"; sigil trusts
  // only roots, so that a bundle never depends on a certificate it does not carry.
  if (auto self = root.verify_signed_by(root); !self) {
    return std::unexpected(Error::invalid_argument("the root certificate is not self-signed: " +
                                                   self.error().message));
  }
  if (root.path_length() && *root.path_length() < 1) {
    return std::unexpected(
        Error::invalid_argument("the root's path length allows no intermediate CA"));
  }
  if (auto signed_by = cert.verify_signed_by(root); !signed_by) {
    return std::unexpected(
        Error::invalid_argument("the intermediate certificate does not verify against the root: " +
                                signed_by.error().message));
  }
  if (!valid_at(cert, now)) {
    return std::unexpected(Error::invalid_argument(
        "the intermediate certificate is not valid now (expired or not yet valid)"));
  }
  if (!valid_at(root, now)) {
    return std::unexpected(Error::invalid_argument(
        "the root certificate is not valid now (expired or not yet valid)"));
  }
  if (cert.not_after() > root.not_after()) {
    return std::unexpected(
        Error::invalid_argument("the intermediate certificate outlives the root"));
  }
  // X509-SVID §3.2: a signing certificate's SPIFFE ID, when it has one, is its trust
  // domain's.
  const std::string td_id = s->trust_domain->id_string();
  for (const auto& uri : cert.uri_sans()) {
    if (uri != td_id) {
      return std::unexpected(Error::invalid_argument(
          "the intermediate certificate names another identity than " + td_id + ": " + uri));
    }
  }
  for (const auto& uri : root.uri_sans()) {
    if (uri.starts_with("spiffe://") && uri != td_id) {
      return std::unexpected(Error::invalid_argument(
          "the root certificate names another trust domain than " + td_id + ": " + uri));
    }
  }
  {
    // The pair must work as an issuer before anything is stored.
    SIGIL_TRY(der, pending->pending_key->private_pkcs8());
    auto key = crypto::Key::from_private_pkcs8(der);
    wipe(der);
    if (!key) return std::unexpected(key.error());
    auto issuer = pki::Issuer::create(cert, std::move(*key));
    if (!issuer) {
      return std::unexpected(Error::invalid_argument("the intermediate certificate cannot sign: " +
                                                     issuer.error().message));
    }
  }

  // The stored record carries the sealed key the snapshot does not.
  SIGIL_TRY(records, store_.list_ca_keys());
  auto stored = std::find_if(records.begin(), records.end(),
                             [&](const CaKeyRecord& r) { return r.id == pending->record.id; });
  if (stored == records.end()) {
    return std::unexpected(Error::failed_precondition("the pending intermediate " +
                                                      pending->record.id + " is no longer stored"));
  }
  CaKeyRecord intermediate = *stored;

  std::string root_id;
  for (const auto& e : s->entries) {
    if (s->is_root(e) && e.certificate && e.certificate->der() == root.der()) root_id = e.record.id;
  }
  std::optional<CaKeyRecord> new_root;
  if (root_id.empty()) {
    new_root.emplace();
    new_root->id = new_id(kRootIdPrefix);
    new_root->kind = CaKeyKind::kRoot;
    new_root->certificate_pem = root.pem();
    new_root->created_at = now;
    new_root->activates_at = now;
    new_root->not_after = root.not_after();
    root_id = new_root->id;
  }
  intermediate.certificate_pem = cert.pem();
  intermediate.parent_id = root_id;
  intermediate.activates_at = s->next_activation(now);
  intermediate.not_after = cert.not_after();
  SIGIL_CHECK(store_.import_ca_keys(new_root, intermediate));
  SIGIL_CHECK(reload_locked());

  return stored_info(intermediate.id, now);
}

Result<CaKeyInfo> CertificateAuthority::stored_info(std::string_view id, TimePoint now) const {
  auto fresh = state();
  const State::Entry* entry = fresh->find(id);
  if (!entry)
    return std::unexpected(Error::internal("CA key " + std::string(id) + " is not stored"));
  return CaKeyInfo{entry->record, fresh->state_of(*entry, now)};
}

Result<CaKeyInfo> CertificateAuthority::rotate_intermediate(const CaOptions& options,
                                                            TimePoint now) {
  std::lock_guard write(write_mu_);
  SIGIL_CHECK(check_options(options));
  auto s = state();
  if (!s->trust_domain) {
    return std::unexpected(
        Error::failed_precondition("the certificate authority is not initialised"));
  }
  if (!s->holds_a_root_key()) {
    return std::unexpected(Error::failed_precondition(
        "the root CA is external: request an intermediate and import its certificate"));
  }
  const State::Entry* root = s->own_root(now);
  if (!root) {
    return std::unexpected(Error::failed_precondition("sigil's root CA is not valid now"));
  }
  SIGIL_TRY(record, new_intermediate(master_key_.reveal(), *root->issuer, root->record.id,
                                     *s->trust_domain, options, now, s->next_activation(now)));
  SIGIL_CHECK(store_.create_ca_key(record));
  SIGIL_CHECK(reload_locked());
  return stored_info(record.id, now);
}

Result<std::optional<CaKeyInfo>> CertificateAuthority::rotate_if_due(const CaOptions& options,
                                                                     TimePoint now) {
  {
    auto s = state();
    if (!s->trust_domain || !s->holds_a_root_key() || !s->own_root(now)) return std::nullopt;
    if (const State::Entry* signing = s->signer(now)) {
      const auto& c = *signing->certificate;
      if (now < renewal_time(c.not_before(), c.not_after())) return std::nullopt;
    }
    // A successor already waiting to sign (created in the same second) is enough.
    for (const auto& e : s->entries) {
      if (e.record.kind != CaKeyKind::kRoot && e.certificate && e.record.activates_at > now) {
        return std::nullopt;
      }
    }
  }
  SIGIL_TRY(rotated, rotate_intermediate(options, now));
  return rotated;
}

Result<std::string> CertificateAuthority::request_intermediate(const CaOptions& options,
                                                               TimePoint now) {
  std::lock_guard write(write_mu_);
  SIGIL_CHECK(check_options(options));
  auto s = state();
  if (!s->trust_domain) {
    return std::unexpected(
        Error::failed_precondition("the certificate authority is not initialised"));
  }
  if (s->holds_a_root_key()) {
    return std::unexpected(
        Error::failed_precondition("sigil holds its own root CA: rotate the intermediate instead"));
  }
  std::string csr_pem;
  SIGIL_TRY(pending, new_pending(master_key_.reveal(), options, now, csr_pem));
  SIGIL_CHECK(store_.create_ca_key(pending));
  SIGIL_CHECK(reload_locked());
  return csr_pem;
}

Result<IssuedSvid> CertificateAuthority::issue(const crypto::Key& subject_key,
                                               const IssueRequest& request, TimePoint now) const {
  auto s = state();
  if (!s->trust_domain) {
    return std::unexpected(
        Error::failed_precondition("the certificate authority is not initialised"));
  }
  const State::Entry* signer = s->signer(now);
  if (!signer) {
    return std::unexpected(Error::failed_precondition(
        "no intermediate CA can sign now: rotate or import an intermediate"));
  }
  if (request.subject.empty()) {
    return std::unexpected(Error::invalid_argument("a certificate needs a subject"));
  }
  // X509-SVID §3.1: "Leaf certificate SPIFFE IDs MUST have a non-root path component."
  if (request.spiffe_path.empty()) {
    return std::unexpected(Error::invalid_argument("a workload SPIFFE ID needs a path"));
  }
  SIGIL_TRY(id, s->trust_domain->id(request.spiffe_path));

  const Seconds lifetime =
      std::clamp(request.lifetime, kMinCertificateLifetime, kMaxCertificateLifetime);
  const TimePoint not_before = whole_seconds(now);
  const TimePoint not_after = std::min(not_before + lifetime, signer->certificate->not_after());
  if (not_after - not_before < kMinCertificateLifetime) {
    return std::unexpected(Error::failed_precondition(
        "the signing intermediate CA expires within a minute: rotate it"));
  }

  SIGIL_TRY(issued, signer->issuer->issue_svid(subject_key, {.id = id,
                                                             .dns_names = request.dns_names,
                                                             .not_before = not_before,
                                                             .not_after = not_after,
                                                             .serial = new_serial()}));
  const pki::Certificate& cert = issued.certificate();
  CertificateRecord record;
  record.serial_hex = hex_encode(cert.serial());
  record.spiffe_id = id.str();
  record.subject = request.subject;
  record.dns_names = request.dns_names;
  record.fingerprint_hex = hex_encode(cert.fingerprint_sha256());
  record.issuer_id = signer->record.id;
  record.not_before = cert.not_before();
  record.not_after = cert.not_after();
  record.issued_at = now;
  SIGIL_CHECK(certificates_.record_certificate(record));
  return IssuedSvid{cert, cert.pem() + signer->certificate->pem(), std::move(record)};
}

std::string CertificateAuthority::trust_bundle_pem(TimePoint now) const {
  auto s = state();
  std::string out;
  for (const auto& e : s->entries) {
    if (s->is_root(e) && e.certificate && valid_at(*e.certificate, now)) {
      out += e.certificate->pem();
    }
  }
  return out;
}

std::string CertificateAuthority::spiffe_bundle_json(TimePoint now) const {
  auto s = state();
  json::array keys;
  for (const auto& e : s->entries) {
    if (!s->is_root(e) || !e.certificate || !valid_at(*e.certificate, now)) continue;
    auto key = e.certificate->public_key();
    if (!key) continue;
    auto jwk = public_jwk_members(*key);
    if (!jwk) continue;
    // X509-SVID §6.1: "The use parameter of each JWK entry representing an X509-SVID CA
    // certificate MUST be set to x509-svid", with x5c holding "exactly one CA
    // certificate" (RFC 7517 §4.7: base64, not base64url, of the DER).
    (*jwk)["use"] = "x509-svid";
    (*jwk)["x5c"] = json::array{json::string(base64_encode(e.certificate->der()))};
    keys.push_back(std::move(*jwk));
  }
  json::object bundle;
  bundle["keys"] = std::move(keys);
  bundle["spiffe_sequence"] = static_cast<std::int64_t>(s->entries.size());
  bundle["spiffe_refresh_hint"] = kSpiffeRefreshHint;
  return json::serialize(bundle);
}

std::vector<pki::Certificate> CertificateAuthority::trusted_certificates(TimePoint now) const {
  auto s = state();
  std::vector<pki::Certificate> out;
  for (const auto& e : s->entries) {
    if (e.certificate && valid_at(*e.certificate, now)) out.push_back(*e.certificate);
  }
  return out;
}

std::vector<CaKeyInfo> CertificateAuthority::list(TimePoint now) const {
  auto s = state();
  std::vector<CaKeyInfo> out;
  out.reserve(s->entries.size());
  for (const auto& e : s->entries) out.push_back({e.record, s->state_of(e, now)});
  return out;
}

}  // namespace sigil::ca
