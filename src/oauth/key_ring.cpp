#include "oauth/key_ring.hpp"

#include <boost/json/serialize.hpp>

#include <algorithm>
#include <set>

#include "crypto/aead.hpp"

namespace sigil::oauth {

namespace {

std::string seal_label(std::string_view kid) {
  return "signing_key:" + std::string(kid);
}

}  // namespace

Result<std::unique_ptr<KeyRing>> KeyRing::load(SigningKeyStore& store, std::string_view master_key,
                                               TokenSettings settings) {
  if (master_key.size() != crypto::kMasterKeyBytes) {
    return std::unexpected(Error::invalid_argument("the master key must be 32 bytes"));
  }
  if (settings.issuer.empty() || settings.default_lifetime <= Seconds{0} ||
      settings.max_lifetime <= Seconds{0} || settings.leeway < Seconds{0} ||
      settings.key_propagation_delay < Seconds{0}) {
    return std::unexpected(Error::invalid_argument(
        "token settings need an issuer, positive lifetimes and non-negative leeway and delay"));
  }
  std::unique_ptr<KeyRing> ring(new KeyRing(store, master_key, std::move(settings)));
  SIGIL_CHECK(ring->reload());
  return ring;
}

Result<void> KeyRing::reload() {
  std::lock_guard write(write_mu_);
  return reload_locked();
}

Result<void> KeyRing::reload_locked() {
  SIGIL_TRY(records, store_.list_signing_keys());
  std::vector<Entry> entries;
  entries.reserve(records.size());
  for (auto& record : records) {
    auto alg = jose::algorithm_from_string(record.alg);
    if (!alg) {
      return std::unexpected(Error::failed_precondition(
          "signing key " + record.kid + " has an unsupported algorithm \"" + record.alg + "\""));
    }
    auto der =
        crypto::open(master_key_.reveal(), record.sealed_private_key, seal_label(record.kid));
    if (!der) {
      if (der.error().code == Code::kUnauthenticated) {
        return std::unexpected(
            Error::failed_precondition("master key does not open signing key " + record.kid));
      }
      return std::unexpected(der.error());
    }
    auto key = jose::Jwk::from_private_pkcs8(*der, *alg, record.kid);
    wipe(*der);
    if (!key) {
      return std::unexpected(Error::failed_precondition("signing key " + record.kid +
                                                        " is unusable: " + key.error().message));
    }
    SIGIL_TRY(signer, jose::Signer::create(*key, std::string(kAccessTokenTyp)));
    record.sealed_private_key.clear();
    Entry entry{std::move(record), key->public_key(),
                std::make_shared<const jose::Signer>(std::move(signer))};
    entries.push_back(std::move(entry));
  }
  std::stable_sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    return a.record.activates_at < b.record.activates_at;
  });
  std::unique_lock lock(mu_);
  entries_ = std::move(entries);
  view_.reset();
  return Ok();
}

Result<SigningKeyRecord> KeyRing::create_key(jose::Algorithm alg, TimePoint now,
                                             TimePoint activates_at) {
  SIGIL_TRY(key, jose::Jwk::generate(alg));
  SIGIL_TRY(der, key.private_pkcs8());
  auto sealed = crypto::seal(master_key_.reveal(), der, seal_label(key.kid()));
  wipe(der);
  if (!sealed) return std::unexpected(sealed.error());
  SigningKeyRecord record;
  record.kid = key.kid();
  record.alg = std::string(jose::to_string(alg));
  record.sealed_private_key = std::move(*sealed);
  record.public_jwk = boost::json::serialize(key.public_json());
  record.created_at = now;
  record.activates_at = activates_at;
  SIGIL_CHECK(store_.create_signing_key(record));
  return record;
}

Result<SigningKeyRecord> KeyRing::initialise(jose::Algorithm alg, TimePoint now) {
  std::lock_guard write(write_mu_);
  SIGIL_TRY(existing, store_.list_signing_keys());
  if (!existing.empty()) {
    return std::unexpected(Error::failed_precondition("signing keys exist already"));
  }
  SIGIL_TRY(record, create_key(alg, now, now));
  SIGIL_CHECK(reload_locked());
  record.sealed_private_key.clear();
  return record;
}

Result<SigningKeyRecord> KeyRing::rotate(TimePoint now, std::optional<jose::Algorithm> alg) {
  std::lock_guard write(write_mu_);
  SIGIL_TRY(records, store_.list_signing_keys());

  bool signing_or_about_to = false;
  std::vector<SigningKeyRecord> to_retire;
  for (auto& record : records) {
    const SigningKeyState state = state_at(record, now);
    if (state == SigningKeyState::kGone) {
      SIGIL_CHECK(store_.delete_signing_key(record.kid));
      continue;
    }
    if (state == SigningKeyState::kActive || state == SigningKeyState::kNext) {
      signing_or_about_to = true;
    }
    if (!record.retires_at) to_retire.push_back(std::move(record));
  }

  // With nothing signing, waiting for propagation would only leave the service unable
  // to issue tokens.
  const TimePoint activates_at = signing_or_about_to ? now + settings_.key_propagation_delay : now;
  for (auto& record : to_retire) {
    record.retires_at = activates_at;
    // Tokens signed up to retires_at live at most max_lifetime; verifiers allow leeway.
    record.expires_at = activates_at + settings_.max_lifetime + settings_.leeway;
    SIGIL_CHECK(store_.update_signing_key(record));
  }
  SIGIL_TRY(created, create_key(alg.value_or(settings_.signing_alg), now, activates_at));
  SIGIL_CHECK(reload_locked());
  created.sealed_private_key.clear();
  return created;
}

std::shared_ptr<const KeyRing::View> KeyRing::view(TimePoint now) const {
  {
    std::shared_lock lock(mu_);
    if (view_ && view_->from <= now && now < view_->until) return view_;
  }
  std::unique_lock lock(mu_);
  if (view_ && view_->from <= now && now < view_->until) return view_;
  auto fresh = build_view(now);
  view_ = fresh;
  return fresh;
}

std::shared_ptr<const KeyRing::View> KeyRing::build_view(TimePoint now) const {
  auto v = std::make_shared<View>();
  v->from = TimePoint::min();
  v->until = TimePoint::max();
  auto consider = [&](TimePoint t) {
    if (t <= now) {
      v->from = std::max(v->from, t);
    } else {
      v->until = std::min(v->until, t);
    }
  };
  jose::JwkSet set;
  std::set<jose::Algorithm> algs;
  const Entry* signing = nullptr;
  for (const auto& entry : entries_) {
    const auto& r = entry.record;
    consider(r.activates_at);
    if (r.retires_at) consider(*r.retires_at);
    if (r.expires_at) consider(*r.expires_at);
    const SigningKeyState state = state_at(r, now);
    if (state == SigningKeyState::kGone) continue;
    set.add(entry.public_key);
    algs.insert(entry.public_key.alg());
    // The newest active key signs: entries are ordered by activates_at.
    if (state == SigningKeyState::kActive) signing = &entry;
  }
  if (signing) v->signer = signing->signer;
  v->jwks_json = set.to_json();
  v->jwks = std::make_shared<const jose::JwkSet>(std::move(set));
  v->algorithms.assign(algs.begin(), algs.end());
  return v;
}

Result<std::shared_ptr<const jose::Signer>> KeyRing::signer(TimePoint now) const {
  auto v = view(now);
  if (!v->signer) {
    return std::unexpected(Error::failed_precondition(
        "no active signing key: initialise the key ring or rotate the keys"));
  }
  return v->signer;
}

std::shared_ptr<const jose::JwkSet> KeyRing::jwks(TimePoint now) const {
  return view(now)->jwks;
}

std::string KeyRing::jwks_json(TimePoint now) const {
  return view(now)->jwks_json;
}

std::vector<jose::Algorithm> KeyRing::algorithms(TimePoint now) const {
  return view(now)->algorithms;
}

std::vector<KeyInfo> KeyRing::list(TimePoint now) const {
  std::shared_lock lock(mu_);
  std::vector<KeyInfo> out;
  out.reserve(entries_.size());
  for (const auto& entry : entries_) out.push_back({entry.record, state_at(entry.record, now)});
  return out;
}

}  // namespace sigil::oauth
