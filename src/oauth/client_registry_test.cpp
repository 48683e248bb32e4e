#include "oauth/client_registry.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "crypto/digest.hpp"
#include "oauth/testing/memory_store.hpp"

namespace sigil::oauth {
namespace {

using testing::MemoryStore;

class ClientRegistryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto r = ClientRegistry::load(store_);
    ASSERT_TRUE(r.has_value());
    registry_ = std::move(*r);
  }

  CreatedClient create(std::string id, std::vector<std::string> methods = {}) {
    NewClient n;
    n.id = std::move(id);
    n.allowed_scopes = {"read"};
    n.allowed_audiences = {"https://api"};
    n.auth_methods = std::move(methods);
    auto c = registry_->create(std::move(n), clock_.now());
    EXPECT_TRUE(c.has_value()) << c.error().message;
    return std::move(*c);
  }

  std::string reason(std::string_view id, std::string_view secret,
                     std::string_view method = kClientSecretBasic) {
    auto a = registry_->authenticate(id, secret, method, clock_.now());
    if (a) return "ok";
    EXPECT_EQ(a.error().error, OAuthError::kInvalidClient);
    EXPECT_EQ(a.error().description, "client authentication failed");
    return a.error().reason;
  }

  MemoryStore store_;
  FakeClock clock_;
  std::unique_ptr<ClientRegistry> registry_;
};

TEST_F(ClientRegistryTest, CreateGeneratesIdAndStoresOnlyTheDigest) {
  NewClient n;
  n.allowed_scopes = {"write", "read", "read"};
  n.allowed_audiences = {"https://b", "https://a"};
  auto created = registry_->create(std::move(n), clock_.now());
  ASSERT_TRUE(created.has_value());
  const Client& c = created->client;
  ASSERT_EQ(c.id.size(), 19u);
  EXPECT_EQ(c.id.substr(0, 3), "cl_");
  EXPECT_EQ(c.id.find_first_not_of("abcdefghijklmnopqrstuvwxyz234567", 3), std::string::npos)
      << c.id;
  EXPECT_EQ(c.name, c.id);
  EXPECT_EQ(c.allowed_scopes, (std::vector<std::string>{"read", "write"}));
  EXPECT_EQ(c.allowed_audiences, (std::vector<std::string>{"https://a", "https://b"}));
  EXPECT_EQ(c.auth_methods,
            (std::vector<std::string>{"client_secret_basic", "client_secret_post"}));
  EXPECT_EQ(c.status, ClientStatus::kActive);
  EXPECT_EQ(c.created_at, clock_.now());
  EXPECT_EQ(created->secret.reveal().size(), 43u);  // 256 bits, base64url

  auto stored = store_.get_client(c.id);
  ASSERT_TRUE(stored.has_value());
  EXPECT_EQ(stored->secret.sha256, crypto::sha256(created->secret.reveal()));
  EXPECT_EQ(stored->secret.sha256.size(), 32u);
  EXPECT_FALSE(stored->previous_secret.has_value());
}

TEST_F(ClientRegistryTest, CreateValidatesInput) {
  for (std::string bad : std::vector<std::string>{"", "Billing", "-svc", "a b", "svc/1", "cl:1",
                                                  std::string(64, 'a')}) {
    NewClient n;
    n.id = bad;
    auto r = registry_->create(std::move(n), clock_.now());
    ASSERT_FALSE(r.has_value()) << bad;
    EXPECT_EQ(r.error().code, Code::kInvalidArgument) << bad;
  }
  NewClient good_id;
  good_id.id = std::string(63, 'a');
  EXPECT_TRUE(registry_->create(std::move(good_id), clock_.now()).has_value());

  auto invalid = [&](NewClient n) {
    auto r = registry_->create(std::move(n), clock_.now());
    return !r.has_value() && r.error().code == Code::kInvalidArgument;
  };
  NewClient scope;
  scope.allowed_scopes = {"read", "a\"b"};
  EXPECT_TRUE(invalid(std::move(scope)));
  NewClient spaced;
  spaced.allowed_scopes = {"read write"};
  EXPECT_TRUE(invalid(std::move(spaced)));
  NewClient empty_scope;
  empty_scope.allowed_scopes = {""};
  EXPECT_TRUE(invalid(std::move(empty_scope)));
  NewClient audience;
  audience.allowed_audiences = {""};
  EXPECT_TRUE(invalid(std::move(audience)));
  NewClient audience_space;
  audience_space.allowed_audiences = {"https://a b"};
  EXPECT_TRUE(invalid(std::move(audience_space)));
  NewClient method;
  method.auth_methods = {"private_key_jwt"};
  EXPECT_TRUE(invalid(std::move(method)));
  NewClient name;
  name.name = "line\nbreak";
  EXPECT_TRUE(invalid(std::move(name)));
  NewClient attribute;
  attribute.attributes = {{"", "x"}};
  EXPECT_TRUE(invalid(std::move(attribute)));
  EXPECT_TRUE(registry_->list().size() == 1u);  // only the 63-character id
}

TEST_F(ClientRegistryTest, DuplicateIdIsRefused) {
  create("billing");
  NewClient again;
  again.id = "billing";
  auto r = registry_->create(std::move(again), clock_.now());
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, Code::kAlreadyExists);
}

TEST_F(ClientRegistryTest, GetListAndReload) {
  create("zeta");
  create("alpha");
  auto got = registry_->get("alpha");
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->id, "alpha");
  auto missing = registry_->get("nobody");
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().code, Code::kNotFound);
  auto all = registry_->list();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].id, "alpha");
  EXPECT_EQ(all[1].id, "zeta");

  auto second = ClientRegistry::load(store_);
  ASSERT_TRUE(second.has_value());
  EXPECT_EQ((*second)->list().size(), 2u);
  EXPECT_TRUE((*second)->is_active("zeta"));
}

TEST_F(ClientRegistryTest, StoreFailureLeavesCacheUnchanged) {
  store_.fail_next();
  NewClient n;
  n.id = "svc";
  auto r = registry_->create(std::move(n), clock_.now());
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, Code::kUnavailable);
  EXPECT_FALSE(registry_->get("svc").has_value());
  EXPECT_FALSE(registry_->is_active("svc"));
}

TEST_F(ClientRegistryTest, AuthenticateOutcomes) {
  auto c = create("svc");
  const std::string secret = c.secret.reveal();
  auto ok = registry_->authenticate("svc", secret, kClientSecretPost, clock_.now());
  ASSERT_TRUE(ok.has_value());
  EXPECT_EQ(ok->id(), "svc");
  EXPECT_EQ(ok->auth_method(), "client_secret_post");
  EXPECT_EQ(ok->client().allowed_scopes, std::vector<std::string>{"read"});

  EXPECT_EQ(reason("svc", secret), "ok");
  EXPECT_EQ(reason("nobody", secret), "unknown_client");
  EXPECT_EQ(reason("svc", secret + "x"), "bad_secret");
  EXPECT_EQ(reason("svc", ""), "bad_secret");
  EXPECT_EQ(reason("svc", secret, "client_secret_jwt"), "auth_method_not_allowed");
}

TEST_F(ClientRegistryTest, AuthMethodMustBeRegistered) {
  auto c = create("basic-only", {"client_secret_basic"});
  EXPECT_EQ(reason("basic-only", c.secret.reveal(), kClientSecretBasic), "ok");
  EXPECT_EQ(reason("basic-only", c.secret.reveal(), kClientSecretPost), "auth_method_not_allowed");
}

TEST_F(ClientRegistryTest, DisableIsAKillSwitch) {
  auto c = create("svc");
  auto disabled = registry_->set_status("svc", ClientStatus::kDisabled, clock_.now());
  ASSERT_TRUE(disabled.has_value());
  EXPECT_EQ(disabled->status, ClientStatus::kDisabled);
  EXPECT_FALSE(registry_->is_active("svc"));
  EXPECT_EQ(reason("svc", c.secret.reveal()), "client_disabled");
  EXPECT_EQ(store_.get_client("svc")->status, ClientStatus::kDisabled);

  ASSERT_TRUE(registry_->set_status("svc", ClientStatus::kActive, clock_.now()).has_value());
  EXPECT_TRUE(registry_->is_active("svc"));
  EXPECT_EQ(reason("svc", c.secret.reveal()), "ok");

  auto missing = registry_->set_status("nobody", ClientStatus::kDisabled, clock_.now());
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().code, Code::kNotFound);
  EXPECT_FALSE(registry_->is_active("nobody"));
}

TEST_F(ClientRegistryTest, RotatedSecretOverlap) {
  auto c = create("svc");
  const std::string old_secret = c.secret.reveal();
  auto fresh = registry_->rotate_secret("svc", Seconds{60}, clock_.now());
  ASSERT_TRUE(fresh.has_value());
  const std::string new_secret = fresh->reveal();
  EXPECT_NE(new_secret, old_secret);

  EXPECT_EQ(reason("svc", new_secret), "ok");
  EXPECT_EQ(reason("svc", old_secret), "ok");
  clock_.advance(Seconds{59});
  EXPECT_EQ(reason("svc", old_secret), "ok");
  clock_.advance(Seconds{1});
  EXPECT_EQ(reason("svc", old_secret), "expired_secret");
  EXPECT_EQ(reason("svc", new_secret), "ok");

  // A second rotation forgets the first secret entirely.
  auto third = registry_->rotate_secret("svc", Seconds{60}, clock_.now());
  ASSERT_TRUE(third.has_value());
  EXPECT_EQ(reason("svc", old_secret), "bad_secret");
  EXPECT_EQ(reason("svc", new_secret), "ok");
  EXPECT_EQ(reason("svc", third->reveal()), "ok");
}

TEST_F(ClientRegistryTest, RotationWithoutOverlapEndsTheOldSecretAtOnce) {
  auto c = create("svc");
  auto fresh = registry_->rotate_secret("svc", Seconds{0}, clock_.now());
  ASSERT_TRUE(fresh.has_value());
  EXPECT_EQ(reason("svc", c.secret.reveal()), "bad_secret");
  EXPECT_EQ(reason("svc", fresh->reveal()), "ok");
  EXPECT_FALSE(store_.get_client("svc")->previous_secret.has_value());

  auto negative = registry_->rotate_secret("svc", Seconds{-1}, clock_.now());
  ASSERT_FALSE(negative.has_value());
  EXPECT_EQ(negative.error().code, Code::kInvalidArgument);
  auto missing = registry_->rotate_secret("nobody", Seconds{0}, clock_.now());
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().code, Code::kNotFound);
}

TEST_F(ClientRegistryTest, PreviousSecretWithoutEndIsRefused) {
  auto c = create("svc");
  auto stored = store_.get_client("svc");
  Client edited = *stored;
  edited.previous_secret = SecretDigest{crypto::sha256("old"), std::nullopt};
  ASSERT_TRUE(store_.update_client(edited).has_value());
  ASSERT_TRUE(registry_->reload().has_value());
  EXPECT_EQ(reason("svc", "old"), "expired_secret");
  EXPECT_EQ(reason("svc", c.secret.reveal()), "ok");
}

TEST_F(ClientRegistryTest, ReadersAndWritersRunConcurrently) {
  auto c = create("svc");
  const std::string secret = c.secret.reveal();
  std::atomic<int> unexpected{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 4; ++t) {
    readers.emplace_back([&] {
      for (int i = 0; i < 2000; ++i) {
        auto a = registry_->authenticate("svc", secret, kClientSecretBasic, clock_.now());
        if (!a && a.error().reason != "client_disabled") ++unexpected;
        if (a && a->id() != "svc") ++unexpected;
      }
    });
  }
  for (int i = 0; i < 200; ++i) {
    auto status = i % 2 == 0 ? ClientStatus::kDisabled : ClientStatus::kActive;
    ASSERT_TRUE(registry_->set_status("svc", status, clock_.now()).has_value());
  }
  for (auto& t : readers) t.join();
  EXPECT_EQ(unexpected.load(), 0);
  EXPECT_TRUE(registry_->is_active("svc"));
}

TEST(ClientSecretTest, MadeSecretsAre256BitsAndStoredAsTheirDigest) {
  ClientSecret a = make_client_secret();
  ClientSecret b = make_client_secret();
  EXPECT_EQ(a.secret.reveal().size(), 43u);  // 32 bytes, base64url without padding
  EXPECT_NE(a.secret.reveal(), b.secret.reveal());
  EXPECT_EQ(a.digest.sha256, crypto::sha256(a.secret.reveal()));
  EXPECT_FALSE(a.digest.expires_at.has_value());
}

TEST(ValidateNewClientTest, NormalisesLikeCreate) {
  NewClient n;
  n.id = "svc";
  n.allowed_scopes = {"write", "read", "read"};
  n.allowed_audiences = {"https://b", "https://a"};
  ASSERT_TRUE(validate_new_client(n).has_value());
  EXPECT_EQ(n.allowed_scopes, (std::vector<std::string>{"read", "write"}));
  EXPECT_EQ(n.allowed_audiences, (std::vector<std::string>{"https://a", "https://b"}));
  EXPECT_EQ(n.auth_methods,
            (std::vector<std::string>{"client_secret_basic", "client_secret_post"}));

  NewClient bad_method = n;
  bad_method.auth_methods = {"private_key_jwt"};
  auto r = validate_new_client(bad_method);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, Code::kInvalidArgument);
  NewClient bad_scope = n;
  bad_scope.allowed_scopes = {"has space"};
  EXPECT_FALSE(validate_new_client(bad_scope).has_value());
  NewClient bad_id = n;
  bad_id.id = "Upper";
  EXPECT_FALSE(validate_new_client(bad_id).has_value());
}

TEST_F(ClientRegistryTest, WriteBatchUpdatesTheCacheOnlyWhenItSucceeds) {
  CreatedClient kept = create("kept");
  CreatedClient changed = create("changed");
  CreatedClient gone = create("gone");

  auto failed =
      registry_->write_batch([&](const std::vector<Client>& clients) -> Result<ClientBatch> {
        EXPECT_EQ(clients.size(), 3u);
        return std::unexpected(Error::unavailable("the store is down"));
      });
  ASSERT_FALSE(failed.has_value());
  EXPECT_EQ(failed.error().code, Code::kUnavailable);
  EXPECT_EQ(registry_->list().size(), 3u);

  Client made = kept.client;
  made.id = "made";
  auto done =
      registry_->write_batch([&](const std::vector<Client>& clients) -> Result<ClientBatch> {
        ClientBatch batch;
        EXPECT_EQ(clients.size(), 3u);
        for (const Client& c : clients) {
          if (c.id == "changed") {
            batch.update.push_back(c);
            batch.update.back().status = ClientStatus::kDisabled;
          }
        }
        batch.create.push_back(made);
        batch.remove.push_back("gone");
        return batch;
      });
  ASSERT_TRUE(done.has_value()) << done.error().message;
  EXPECT_EQ(reason("kept", kept.secret.reveal()), "ok");
  EXPECT_EQ(reason("changed", changed.secret.reveal()), "client_disabled");
  EXPECT_EQ(reason("gone", gone.secret.reveal()), "unknown_client");
  // The cache holds what the batch said was written, whatever the store holds.
  EXPECT_EQ(reason("made", kept.secret.reveal()), "ok");
}

}  // namespace
}  // namespace sigil::oauth
