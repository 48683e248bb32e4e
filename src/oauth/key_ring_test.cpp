#include "oauth/key_ring.hpp"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>

#include <atomic>
#include <thread>

#include "crypto/aead.hpp"
#include "oauth/testing/memory_store.hpp"

namespace sigil::oauth {
namespace {

using testing::MemoryStore;

const std::string kMasterKey(32, '\x11');

class KeyRingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    settings_.issuer = "https://sigil.test";
    settings_.key_propagation_delay = Seconds{300};
    settings_.max_lifetime = Seconds{3600};
    settings_.leeway = Seconds{30};
    auto ring = KeyRing::load(store_, kMasterKey, settings_);
    ASSERT_TRUE(ring.has_value());
    ring_ = std::move(*ring);
  }

  std::vector<std::string> jwks_kids(TimePoint now) {
    std::vector<std::string> kids;
    for (const auto& k : ring_->jwks(now)->keys()) kids.push_back(k.kid());
    return kids;
  }

  std::string signing_kid(TimePoint now) {
    auto s = ring_->signer(now);
    return s ? (*s)->key().kid() : "none";
  }

  SigningKeyState state_of(const std::string& kid, TimePoint now) {
    for (const auto& info : ring_->list(now)) {
      if (info.record.kid == kid) return info.state;
    }
    return SigningKeyState::kGone;
  }

  MemoryStore store_;
  FakeClock clock_;
  TokenSettings settings_;
  std::unique_ptr<KeyRing> ring_;
};

TEST_F(KeyRingTest, NoKeysNoSigner) {
  auto s = ring_->signer(clock_.now());
  ASSERT_FALSE(s.has_value());
  EXPECT_EQ(s.error().code, Code::kFailedPrecondition);
  EXPECT_TRUE(ring_->jwks(clock_.now())->keys().empty());
  EXPECT_EQ(ring_->jwks_json(clock_.now()), "{\"keys\":[]}");
}

TEST_F(KeyRingTest, MasterKeyMustBe32Bytes) {
  auto r = KeyRing::load(store_, std::string(31, 'x'), settings_);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, Code::kInvalidArgument);
}

TEST_F(KeyRingTest, SettingsAreChecked) {
  auto no_issuer = settings_;
  no_issuer.issuer.clear();
  auto zero_lifetime = settings_;
  zero_lifetime.default_lifetime = Seconds{0};
  auto negative_leeway = settings_;
  negative_leeway.leeway = Seconds{-1};
  for (const auto& s : {no_issuer, zero_lifetime, negative_leeway}) {
    auto r = KeyRing::load(store_, kMasterKey, s);
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().code, Code::kInvalidArgument);
  }
}

TEST_F(KeyRingTest, InitialiseCreatesAnActiveKeyOnce) {
  const TimePoint t0 = clock_.now();
  auto first = ring_->initialise(jose::Algorithm::kES256, t0);
  ASSERT_TRUE(first.has_value()) << first.error().message;
  EXPECT_EQ(first->alg, "ES256");
  EXPECT_EQ(first->activates_at, t0);
  EXPECT_FALSE(first->retires_at.has_value());
  EXPECT_TRUE(first->sealed_private_key.empty());
  EXPECT_EQ(signing_kid(t0), first->kid);
  EXPECT_EQ((*ring_->signer(t0))->key().alg(), jose::Algorithm::kES256);
  EXPECT_EQ(jwks_kids(t0), std::vector<std::string>{first->kid});
  EXPECT_EQ(ring_->algorithms(t0), std::vector<jose::Algorithm>{jose::Algorithm::kES256});
  EXPECT_EQ(state_of(first->kid, t0), SigningKeyState::kActive);

  auto again = ring_->initialise(jose::Algorithm::kES256, t0);
  ASSERT_FALSE(again.has_value());
  EXPECT_EQ(again.error().code, Code::kFailedPrecondition);
  EXPECT_EQ(store_.signing_keys().size(), 1u);
}

TEST_F(KeyRingTest, PrivateKeyIsSealedAndBoundToItsKid) {
  auto first = ring_->initialise(jose::Algorithm::kES256, clock_.now());
  ASSERT_TRUE(first.has_value());
  const auto stored = store_.signing_keys().at(first->kid);
  auto der = crypto::open(kMasterKey, stored.sealed_private_key, "signing_key:" + first->kid);
  ASSERT_TRUE(der.has_value());
  auto key = jose::Jwk::from_private_pkcs8(*der, jose::Algorithm::kES256);
  ASSERT_TRUE(key.has_value());
  EXPECT_EQ(key->thumbprint(), first->kid);
  EXPECT_FALSE(crypto::open(kMasterKey, stored.sealed_private_key, "signing_key:other"));
  // The published JWK is public only.
  auto jwk = boost::json::parse(stored.public_jwk).as_object();
  EXPECT_EQ(jwk.at("kid").as_string(), first->kid);
  EXPECT_FALSE(jwk.contains("d"));
  EXPECT_EQ(ring_->jwks_json(clock_.now()).find("\"d\""), std::string::npos);
}

TEST_F(KeyRingTest, WrongMasterKeyIsAClearError) {
  auto first = ring_->initialise(jose::Algorithm::kES256, clock_.now());
  ASSERT_TRUE(first.has_value());
  auto other = KeyRing::load(store_, std::string(32, '\x22'), settings_);
  ASSERT_FALSE(other.has_value());
  EXPECT_EQ(other.error().code, Code::kFailedPrecondition);
  EXPECT_EQ(other.error().message, "master key does not open signing key " + first->kid);

  auto same = KeyRing::load(store_, kMasterKey, settings_);
  ASSERT_TRUE(same.has_value());
  EXPECT_EQ(signing_kid(clock_.now()), first->kid);
}

TEST_F(KeyRingTest, RotationTimeline) {
  const TimePoint t0 = clock_.now();
  auto k1 = ring_->initialise(jose::Algorithm::kES256, t0);
  ASSERT_TRUE(k1.has_value());

  const TimePoint t1 = t0 + Seconds{1000};
  auto k2 = ring_->rotate(t1);
  ASSERT_TRUE(k2.has_value()) << k2.error().message;
  const TimePoint switch_at = t1 + Seconds{300};
  const TimePoint k1_gone = switch_at + Seconds{3600 + 30};
  EXPECT_EQ(k2->activates_at, switch_at);
  EXPECT_EQ(k2->alg, "ES256");

  // The new key is published at once but does not sign yet.
  EXPECT_EQ(jwks_kids(t1), (std::vector<std::string>{k1->kid, k2->kid}));
  EXPECT_EQ(signing_kid(t1), k1->kid);
  EXPECT_EQ(state_of(k2->kid, t1), SigningKeyState::kNext);
  EXPECT_EQ(state_of(k1->kid, t1), SigningKeyState::kActive);
  EXPECT_EQ(signing_kid(switch_at - Seconds{1}), k1->kid);

  // The old key is scheduled to retire when the new one activates.
  const auto stored_k1 = store_.signing_keys().at(k1->kid);
  EXPECT_EQ(stored_k1.retires_at, switch_at);
  EXPECT_EQ(stored_k1.expires_at, k1_gone);

  EXPECT_EQ(signing_kid(switch_at), k2->kid);
  EXPECT_EQ(state_of(k1->kid, switch_at), SigningKeyState::kRetired);
  EXPECT_EQ(state_of(k2->kid, switch_at), SigningKeyState::kActive);
  EXPECT_EQ(jwks_kids(switch_at), (std::vector<std::string>{k1->kid, k2->kid}));
  EXPECT_EQ(jwks_kids(k1_gone - Seconds{1}), (std::vector<std::string>{k1->kid, k2->kid}));

  // Once every token the old key signed has expired, it leaves the JWKS.
  EXPECT_EQ(jwks_kids(k1_gone), std::vector<std::string>{k2->kid});
  EXPECT_EQ(state_of(k1->kid, k1_gone), SigningKeyState::kGone);
  EXPECT_EQ(signing_kid(k1_gone), k2->kid);
  // Views are recomputed when time moves back across a boundary, too.
  EXPECT_EQ(signing_kid(t1), k1->kid);

  // The next rotation deletes the gone key from the store.
  EXPECT_EQ(store_.signing_keys().size(), 2u);
  auto k3 = ring_->rotate(k1_gone, jose::Algorithm::kEdDSA);
  ASSERT_TRUE(k3.has_value());
  EXPECT_EQ(k3->alg, "EdDSA");
  const auto stored = store_.signing_keys();
  EXPECT_EQ(stored.size(), 2u);
  EXPECT_EQ(stored.count(k1->kid), 0u);
  EXPECT_EQ(ring_->algorithms(k1_gone),
            (std::vector<jose::Algorithm>{jose::Algorithm::kES256, jose::Algorithm::kEdDSA}));
  EXPECT_EQ(signing_kid(k1_gone + Seconds{300}), k3->kid);
  EXPECT_EQ((*ring_->signer(k1_gone + Seconds{300}))->key().alg(), jose::Algorithm::kEdDSA);
}

TEST_F(KeyRingTest, RotatingTwiceBeforeActivationRetiresThePendingKey) {
  const TimePoint t0 = clock_.now();
  auto k1 = ring_->initialise(jose::Algorithm::kES256, t0);
  auto k2 = ring_->rotate(t0 + Seconds{10});
  auto k3 = ring_->rotate(t0 + Seconds{20});
  ASSERT_TRUE(k1 && k2 && k3);
  // k1 retires when k2 activates (310); k2 retires when k3 activates (320).
  EXPECT_EQ(signing_kid(t0 + Seconds{309}), k1->kid);
  EXPECT_EQ(signing_kid(t0 + Seconds{315}), k2->kid);
  EXPECT_EQ(signing_kid(t0 + Seconds{320}), k3->kid);
  EXPECT_EQ(state_of(k2->kid, t0 + Seconds{320}), SigningKeyState::kRetired);
}

TEST_F(KeyRingTest, RotateWithoutAnyKeyActivatesAtOnce) {
  auto k = ring_->rotate(clock_.now());
  ASSERT_TRUE(k.has_value());
  EXPECT_EQ(k->activates_at, clock_.now());
  EXPECT_EQ(signing_kid(clock_.now()), k->kid);
}

TEST_F(KeyRingTest, ReloadSeesKeysAddedElsewhere) {
  auto other = KeyRing::load(store_, kMasterKey, settings_);
  ASSERT_TRUE(other.has_value());
  auto k = (*other)->initialise(jose::Algorithm::kES256, clock_.now());
  ASSERT_TRUE(k.has_value());
  EXPECT_EQ(signing_kid(clock_.now()), "none");
  ASSERT_TRUE(ring_->reload().has_value());
  EXPECT_EQ(signing_kid(clock_.now()), k->kid);
}

TEST_F(KeyRingTest, StoreFailureIsReported) {
  store_.fail_next();
  auto k = ring_->initialise(jose::Algorithm::kES256, clock_.now());
  ASSERT_FALSE(k.has_value());
  EXPECT_EQ(k.error().code, Code::kUnavailable);
}

TEST_F(KeyRingTest, SignersAreServedWhileRotating) {
  const TimePoint t0 = clock_.now();
  ASSERT_TRUE(ring_->initialise(jose::Algorithm::kES256, t0).has_value());
  std::atomic<bool> done{false};
  std::atomic<int> failures{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 3; ++t) {
    readers.emplace_back([&, t] {
      for (int i = 0; !done.load() || i < 100; ++i) {
        const TimePoint now = t0 + Seconds{(i * 7 + t * 13) % 2000};
        if (!ring_->signer(now).has_value()) ++failures;
        if (ring_->jwks(now)->keys().empty()) ++failures;
      }
    });
  }
  for (int i = 1; i <= 5; ++i) ASSERT_TRUE(ring_->rotate(t0 + Seconds{i}).has_value());
  done.store(true);
  for (auto& t : readers) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(ring_->list(t0).size(), 6u);
}

}  // namespace
}  // namespace sigil::oauth
