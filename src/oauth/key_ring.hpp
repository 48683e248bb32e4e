// The signing keys: creation, rotation, the active signer and the published JWKS.
//
// A key's state follows from its times (state_at() in model.hpp), so nothing has to run
// when a boundary passes:
//
//   rotate() at t0, propagation delay d, max token lifetime L, leeway s:
//
//   new key    created t0 ── next ──▶ activates t0+d ── active (signs) ───────────────▶
//   old key    ── active (signs) ──▶ retires t0+d ── retired ──▶ expires t0+d+L+s ── gone
//
//   next     published in the JWKS so verifiers learn it before it signs
//   active   published; the newest active key signs
//   retired  published until every token it signed has expired (exp <= retires + L,
//            verifiers allow s of skew), then
//   gone     dropped from the JWKS; deleted from the store by the next rotate()
//
// Private keys are stored sealed with AES-256-GCM under the master key, bound to their
// place: crypto::seal(master_key, pkcs8, "signing_key:" + kid). They are opened once,
// at load() and reload().
//
// Thread safety: every method is thread-safe. signer(), jwks() and jwks_json() return a
// cached view that is rebuilt only when `now` crosses a key's boundary time or the keys
// change; otherwise they take a shared lock and copy a shared_ptr.
#pragma once

#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

#include "base/clock.hpp"
#include "base/error.hpp"
#include "base/secrets.hpp"
#include "jose/algorithm.hpp"
#include "jose/jwk.hpp"
#include "jose/jws.hpp"
#include "oauth/model.hpp"
#include "oauth/ports.hpp"
#include "oauth/settings.hpp"

namespace sigil::oauth {

// The "typ" header of every access token (RFC 9068 §2.1).
inline constexpr std::string_view kAccessTokenTyp = "at+jwt";

// A key as listed to operators: the record without its sealed private part.
struct KeyInfo {
  SigningKeyRecord record;
  SigningKeyState state = SigningKeyState::kGone;
};

class KeyRing {
 public:
  // Reads and opens every key. The store must outlive the ring.
  // kInvalidArgument: the master key is not 32 bytes, or the settings lack an issuer or
  // have a non-positive lifetime or a negative leeway or delay;
  // kFailedPrecondition: "master key does not open signing key <kid>" (wrong master key,
  // or a sealed blob moved to another kid), or a stored key is unusable.
  static Result<std::unique_ptr<KeyRing>> load(SigningKeyStore& store, std::string_view master_key,
                                               TokenSettings settings);

  // Creates the first key, active at once. kFailedPrecondition when keys exist already.
  Result<SigningKeyRecord> initialise(jose::Algorithm alg, TimePoint now);

  // Creates a key that is published at once and signs from now + key_propagation_delay
  // (at once when no key is active or about to be). Every key not yet scheduled to retire
  // retires when the new key activates and leaves the JWKS max_lifetime + leeway later.
  // Keys already gone are deleted from the store first. alg defaults to the settings'.
  // Returns the new record without its sealed private part.
  Result<SigningKeyRecord> rotate(TimePoint now, std::optional<jose::Algorithm> alg = std::nullopt);

  // The signer of the newest active key (typ "at+jwt").
  // kFailedPrecondition when no key is active at `now`.
  Result<std::shared_ptr<const jose::Signer>> signer(TimePoint now) const;

  // The public keys that are next, active or retired at `now`.
  std::shared_ptr<const jose::JwkSet> jwks(TimePoint now) const;
  // jwks(now) as JSON text ({"keys":[...]}).
  std::string jwks_json(TimePoint now) const;
  // The algorithms of the keys in jwks(now): what a verifier of our tokens may accept.
  std::vector<jose::Algorithm> algorithms(TimePoint now) const;

  // Every stored key with its state at `now`, ordered by activates_at.
  std::vector<KeyInfo> list(TimePoint now) const;

  // Re-reads and re-opens every key from the store (errors as load()).
  Result<void> reload();

  const TokenSettings& settings() const { return settings_; }

  KeyRing(const KeyRing&) = delete;
  KeyRing& operator=(const KeyRing&) = delete;

 private:
  struct Entry {
    SigningKeyRecord record;  // sealed_private_key cleared
    jose::Jwk public_key;
    std::shared_ptr<const jose::Signer> signer;
  };
  // What the keys look like during [from, until): nothing changes inside the interval.
  struct View {
    TimePoint from;
    TimePoint until;
    std::shared_ptr<const jose::Signer> signer;  // null when no key is active
    std::shared_ptr<const jose::JwkSet> jwks;
    std::string jwks_json;
    std::vector<jose::Algorithm> algorithms;
  };

  KeyRing(SigningKeyStore& store, std::string_view master_key, TokenSettings settings)
      : store_(store), master_key_(std::string(master_key)), settings_(std::move(settings)) {}

  Result<void> reload_locked();  // requires write_mu_
  Result<SigningKeyRecord> create_key(jose::Algorithm alg, TimePoint now, TimePoint activates_at);
  std::shared_ptr<const View> view(TimePoint now) const;
  std::shared_ptr<const View> build_view(TimePoint now) const;  // requires mu_

  SigningKeyStore& store_;
  const SecretString master_key_;
  const TokenSettings settings_;

  // Serialises initialise(), rotate() and reload().
  std::mutex write_mu_;

  mutable std::shared_mutex mu_;
  std::vector<Entry> entries_;                // guarded by mu_; ordered by activates_at
  mutable std::shared_ptr<const View> view_;  // guarded by mu_; null when stale
};

}  // namespace sigil::oauth
