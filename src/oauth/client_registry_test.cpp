#include "oauth/client_registry.hpp"

#include <gtest/gtest.h>

#include <boost/json/serialize.hpp>

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
  NewClient again{.id = "billing"};
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
  NewClient n{.id = "svc"};
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
  NewClient n{.id = "svc"};
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

// ---- public keys (private_key_jwt) ----

std::string public_jwks(std::initializer_list<jose::Algorithm> algs) {
  jose::JwkSet set;
  for (auto alg : algs) set.add(jose::Jwk::generate(alg)->public_key());
  return set.to_json();
}

std::string refusal(NewClient n) {
  auto r = validate_new_client(n);
  if (r) return "ok";
  EXPECT_EQ(r.error().code, Code::kInvalidArgument);
  return r.error().message;
}

TEST(ClientKeysTest, KeysMakePrivateKeyJwtTheDefaultAndNeedNoSecret) {
  NewClient inline_keys;
  inline_keys.jwks = public_jwks({jose::Algorithm::kES256});
  ASSERT_TRUE(validate_new_client(inline_keys).has_value());
  EXPECT_EQ(inline_keys.auth_methods, std::vector<std::string>{"private_key_jwt"});
  EXPECT_FALSE(uses_client_secret(inline_keys.auth_methods));

  NewClient published;
  published.jwks_uri = "https://keys.example.com/jwks.json";
  ASSERT_TRUE(validate_new_client(published).has_value());
  EXPECT_EQ(published.auth_methods, std::vector<std::string>{"private_key_jwt"});

  // Methods given are kept.
  NewClient both;
  both.jwks_uri = "https://keys.example.com/jwks.json";
  both.auth_methods = {"private_key_jwt", "client_secret_post"};
  ASSERT_TRUE(validate_new_client(both).has_value());
  EXPECT_EQ(both.auth_methods, (std::vector<std::string>{"client_secret_post", "private_key_jwt"}));
  EXPECT_TRUE(uses_client_secret(both.auth_methods));
}

TEST(ClientKeysTest, PrivateKeyJwtNeedsKeys) {
  NewClient n;
  n.auth_methods = {"private_key_jwt"};
  EXPECT_NE(refusal(n).find("jwks or jwks_uri"), std::string::npos);
  n.auth_methods = {"client_secret_basic", "private_key_jwt"};
  EXPECT_NE(refusal(n), "ok");
}

TEST(ClientKeysTest, JwksIsNormalisedToPublicKeysWithKidAndAlg) {
  auto key = jose::Jwk::generate(jose::Algorithm::kEdDSA);
  boost::json::object jwk = key->public_json();
  jwk.erase("kid");
  jwk.erase("alg");
  jwk.erase("use");
  NewClient n;
  n.jwks = boost::json::serialize(boost::json::object{{"keys", boost::json::array{jwk}}});
  ASSERT_TRUE(validate_new_client(n).has_value());
  auto set = jose::JwkSet::parse(n.jwks);
  ASSERT_TRUE(set.has_value());
  ASSERT_EQ(set->keys().size(), 1u);
  EXPECT_EQ(set->keys()[0].kid(), key->thumbprint());
  EXPECT_NE(n.jwks.find("\"alg\":\"EdDSA\""), std::string::npos) << n.jwks;
  EXPECT_NE(n.jwks.find("\"kid\":\"" + key->thumbprint() + "\""), std::string::npos);
}

TEST(ClientKeysTest, JwksMustHoldUsablePublicKeysOnly) {
  NewClient n;
  // A private key: refused, whatever else it holds.
  auto key = jose::Jwk::generate(jose::Algorithm::kES256);
  auto der = key->private_pkcs8();
  ASSERT_TRUE(der.has_value());
  boost::json::object with_d = key->public_json();
  with_d["d"] = "AAAA";
  n.jwks = boost::json::serialize(boost::json::object{{"keys", boost::json::array{with_d}}});
  EXPECT_NE(refusal(n).find("private key"), std::string::npos);
  n.jwks = R"({"keys":[{"kty":"oct","k":"c2VjcmV0"}]})";
  EXPECT_NE(refusal(n).find("private key"), std::string::npos);

  // Not a JWKS, or an empty one.
  for (const char* bad :
       {"[]", "{}", R"({"keys":{}})", R"({"keys":[]})", R"({"keys":[1]})", "not json"}) {
    n.jwks = bad;
    EXPECT_NE(refusal(n), "ok") << bad;
  }

  // Keys sigil cannot verify with are refused here, not skipped as in a fetched set.
  boost::json::object rsa_without_alg = jose::Jwk::generate(jose::Algorithm::kRS256)->public_json();
  rsa_without_alg.erase("alg");
  n.jwks =
      boost::json::serialize(boost::json::object{{"keys", boost::json::array{rsa_without_alg}}});
  EXPECT_NE(refusal(n).find("cannot verify"), std::string::npos);
  boost::json::object for_encryption = key->public_json();
  for_encryption["use"] = "enc";
  n.jwks =
      boost::json::serialize(boost::json::object{{"keys", boost::json::array{for_encryption}}});
  EXPECT_NE(refusal(n).find("cannot verify"), std::string::npos);
  n.jwks = R"({"keys":[{"kty":"EC","crv":"secp256k1","x":"AA","y":"BB"}]})";
  EXPECT_NE(refusal(n).find("cannot verify"), std::string::npos);

  n.jwks = R"({"keys":[)" + std::string(64 * 1024, ' ') + "]}";
  EXPECT_NE(refusal(n).find("64 KiB"), std::string::npos);

  // At most 16 keys.
  boost::json::array many;
  for (std::size_t i = 0; i < kMaxClientKeys + 1; ++i) {
    many.push_back(jose::Jwk::generate(jose::Algorithm::kEdDSA)->public_json());
  }
  n.jwks = boost::json::serialize(boost::json::object{{"keys", many}});
  EXPECT_NE(refusal(n).find("more than 16"), std::string::npos);
  many.pop_back();
  n.jwks = boost::json::serialize(boost::json::object{{"keys", many}});
  EXPECT_EQ(refusal(n), "ok");
}

TEST(ClientKeysTest, JwksAndJwksUriAreExclusive) {
  NewClient n;
  n.jwks = public_jwks({jose::Algorithm::kES256});
  n.jwks_uri = "https://keys.example.com/jwks.json";
  EXPECT_NE(refusal(n).find("not both"), std::string::npos);
}

TEST(ClientKeysTest, JwksUriIsHttpsOrLoopbackHttp) {
  for (const char* good :
       {"https://keys.example.com/jwks.json", "https://keys.example.com:8443/a?b=c",
        "http://127.0.0.1:8080/jwks.json", "http://localhost/jwks", "http://[::1]:9/jwks"}) {
    NewClient n;
    n.jwks_uri = good;
    EXPECT_EQ(refusal(n), "ok") << good;
  }
  for (const char* bad :
       {"http://keys.example.com/jwks.json", "ftp://keys.example.com/jwks.json",
        "https://user@keys.example.com/jwks.json", "https://keys.example.com/j#frag",
        "https:///jwks.json", "/jwks.json", "https://keys example.com/", "http://127.0.0.2/j",
        "http://localhost.evil.example/j"}) {
    NewClient n;
    n.jwks_uri = bad;
    EXPECT_NE(refusal(n), "ok") << bad;
  }
  NewClient too_long;
  too_long.jwks_uri = "https://keys.example.com/" + std::string(2048, 'a');
  EXPECT_NE(refusal(too_long), "ok");
}

TEST_F(ClientRegistryTest, KeyOnlyClientIsCreatedWithoutASecret) {
  NewClient n{.id = "keyed"};
  n.jwks_uri = "https://keys.example.com/jwks.json";
  auto created = registry_->create(std::move(n), clock_.now());
  ASSERT_TRUE(created.has_value()) << created.error().message;
  EXPECT_TRUE(created->secret.empty());
  EXPECT_TRUE(created->client.secret.sha256.empty());
  EXPECT_EQ(created->client.jwks_uri, "https://keys.example.com/jwks.json");
  auto stored = store_.get_client("keyed");
  ASSERT_TRUE(stored.has_value());
  EXPECT_EQ(stored->jwks_uri, "https://keys.example.com/jwks.json");
  EXPECT_TRUE(stored->secret.sha256.empty());
  // No secret, not even an empty one, authenticates it.
  EXPECT_EQ(reason("keyed", ""), "bad_secret");
}

TEST_F(ClientRegistryTest, SetKeysReplacesTheKeysAndAllowsPrivateKeyJwt) {
  CreatedClient c = create("svc");
  ASSERT_EQ(c.client.auth_methods,
            (std::vector<std::string>{"client_secret_basic", "client_secret_post"}));
  clock_.advance(Seconds{5});
  auto updated =
      registry_->set_keys("svc", public_jwks({jose::Algorithm::kES256}), "", clock_.now());
  ASSERT_TRUE(updated.has_value()) << updated.error().message;
  EXPECT_EQ(
      updated->auth_methods,
      (std::vector<std::string>{"client_secret_basic", "client_secret_post", "private_key_jwt"}));
  EXPECT_FALSE(updated->jwks.empty());
  EXPECT_EQ(updated->updated_at, clock_.now());
  EXPECT_EQ(store_.get_client("svc")->jwks, updated->jwks);
  // The secret still works.
  EXPECT_EQ(reason("svc", c.secret.reveal()), "ok");

  // From inline keys to a URL: the inline set goes.
  updated = registry_->set_keys("svc", "", "https://keys.example.com/svc.json", clock_.now());
  ASSERT_TRUE(updated.has_value());
  EXPECT_TRUE(updated->jwks.empty());
  EXPECT_EQ(registry_->get("svc")->jwks_uri, "https://keys.example.com/svc.json");

  // Removing every key while private_key_jwt is allowed would strand the method.
  auto removed = registry_->set_keys("svc", "", "", clock_.now());
  ASSERT_FALSE(removed.has_value());
  EXPECT_EQ(removed.error().code, Code::kFailedPrecondition);
  EXPECT_EQ(registry_->get("svc")->jwks_uri, "https://keys.example.com/svc.json");

  auto bad = registry_->set_keys("svc", R"({"keys":[]})", "", clock_.now());
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().code, Code::kInvalidArgument);
  auto unknown = registry_->set_keys("nobody", "", "https://keys.example.com/x", clock_.now());
  ASSERT_FALSE(unknown.has_value());
  EXPECT_EQ(unknown.error().code, Code::kNotFound);
}

TEST_F(ClientRegistryTest, SetKeysStoreFailureLeavesCacheUnchanged) {
  create("svc");
  store_.fail_next();
  EXPECT_FALSE(registry_->set_keys("svc", "", "https://keys.example.com/svc.json", clock_.now())
                   .has_value());
  EXPECT_TRUE(registry_->get("svc")->jwks_uri.empty());
}

TEST_F(ClientRegistryTest, AssertionVerifierSeesTheParsedRegisteredKeys) {
  auto key = jose::Jwk::generate(jose::Algorithm::kES256);
  NewClient n{.id = "keyed"};
  n.jwks = jose::JwkSet({key->public_key()}).to_json();
  ASSERT_TRUE(registry_->create(std::move(n), clock_.now()).has_value());
  // The same after a reload from the store.
  for (int round = 0; round < 2; ++round) {
    int calls = 0;
    auto who = registry_->authenticate_assertion(
        "keyed",
        [&](const Client& client, const jose::JwkSet* keys) -> std::expected<void, Denial> {
          ++calls;
          EXPECT_EQ(client.id, "keyed");
          EXPECT_NE(keys, nullptr);
          if (keys != nullptr) {
            EXPECT_NE(keys->find(key->kid(), key->alg()), nullptr);
          }
          return {};
        });
    ASSERT_TRUE(who.has_value());
    EXPECT_EQ(who->auth_method(), "private_key_jwt");
    EXPECT_EQ(calls, 1);
    ASSERT_TRUE(registry_->reload().has_value());
  }
  // The verifier's denial is returned as it is.
  auto refused = registry_->authenticate_assertion(
      "keyed", [](const Client&, const jose::JwkSet*) -> std::expected<void, Denial> {
        return std::unexpected(Denial{OAuthError::kInvalidClient, "no", "assertion_expired"});
      });
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().reason, "assertion_expired");
  // Never called for a client that does not allow the method.
  create("secret-only");
  auto not_allowed = registry_->authenticate_assertion(
      "secret-only", [](const Client&, const jose::JwkSet*) -> std::expected<void, Denial> {
        ADD_FAILURE() << "called";
        return {};
      });
  ASSERT_FALSE(not_allowed.has_value());
  EXPECT_EQ(not_allowed.error().reason, "auth_method_not_allowed");
}

// x5t#S256 of two made-up certificates: 43 base64url characters of a SHA-256 digest.
const std::string kThumbprintA = std::string(42, 'A') + "A";
const std::string kThumbprintB = std::string(42, 'B') + "A";

NewClient tls_client(std::vector<std::string> methods = {}) {
  NewClient n{.id = "payments"};
  n.auth_methods = std::move(methods);
  return n;
}

// "ok" (with `n` normalised), or why validate_new_client refuses it.
std::string validation_error(NewClient& n) {
  auto r = validate_new_client(n);
  if (r) return "ok";
  EXPECT_EQ(r.error().code, Code::kInvalidArgument);
  return r.error().message;
}
std::string validation_error(NewClient&& n) {
  return validation_error(n);
}

TEST(ClientTlsAuthTest, EachSubjectValueAloneMakesTlsClientAuthTheDefault) {
  NewClient by_uri = tls_client();
  by_uri.tls_client_auth_san_uri = "spiffe://example.org/ns/prod/payments";
  ASSERT_EQ(validation_error(by_uri), "ok");
  EXPECT_EQ(by_uri.auth_methods, std::vector<std::string>{"tls_client_auth"});

  NewClient by_dns = tls_client({"tls_client_auth", "client_secret_basic"});
  by_dns.tls_client_auth_san_dns = "payments.internal";
  ASSERT_EQ(validation_error(by_dns), "ok");
  EXPECT_EQ(by_dns.auth_methods,
            (std::vector<std::string>{"client_secret_basic", "tls_client_auth"}));

  NewClient by_dn = tls_client({"tls_client_auth"});
  by_dn.tls_client_auth_subject_dn = "CN=payments,O=Example\\, Inc.";
  EXPECT_EQ(validation_error(by_dn), "ok");
}

TEST(ClientTlsAuthTest, TlsClientAuthNeedsExactlyOneSubjectValue) {
  EXPECT_NE(validation_error(tls_client({"tls_client_auth"})), "ok");
  NewClient two = tls_client({"tls_client_auth"});
  two.tls_client_auth_san_uri = "spiffe://example.org/payments";
  two.tls_client_auth_san_dns = "payments.internal";
  EXPECT_NE(validation_error(two).find("not several"), std::string::npos);
  NewClient three = two;
  three.tls_client_auth_subject_dn = "CN=payments";
  EXPECT_NE(validation_error(three), "ok");
}

TEST(ClientTlsAuthTest, SubjectValuesWithoutTlsClientAuthAreRefused) {
  for (auto set : std::vector<void (*)(NewClient&)>{
           [](NewClient& n) { n.tls_client_auth_subject_dn = "CN=payments"; },
           [](NewClient& n) { n.tls_client_auth_san_uri = "spiffe://example.org/payments"; },
           [](NewClient& n) { n.tls_client_auth_san_dns = "payments.internal"; }}) {
    NewClient n = tls_client({"client_secret_basic"});
    set(n);
    EXPECT_NE(validation_error(n).find("which the client's auth methods do not include"),
              std::string::npos);
  }
}

TEST(ClientTlsAuthTest, SubjectValuesAreChecked) {
  auto with = [](void (*set)(NewClient&)) {
    NewClient n = tls_client({"tls_client_auth"});
    set(n);
    return validation_error(n);
  };
  EXPECT_NE(with([](NewClient& n) { n.tls_client_auth_san_uri = "not a uri"; }), "ok");
  EXPECT_NE(with([](NewClient& n) { n.tls_client_auth_san_uri = "relative/path"; }), "ok");
  EXPECT_NE(with([](NewClient& n) { n.tls_client_auth_san_uri = "spiffe://x/a\tb"; }), "ok");
  EXPECT_NE(with([](NewClient& n) {
              n.tls_client_auth_san_uri = "spiffe://example.org/" + std::string(2030, 'a');
            }),
            "ok");
  EXPECT_NE(with([](NewClient& n) { n.tls_client_auth_san_dns = "Payments.internal"; }), "ok");
  EXPECT_NE(with([](NewClient& n) { n.tls_client_auth_san_dns = "*.payments.svc"; }), "ok");
  EXPECT_NE(with([](NewClient& n) { n.tls_client_auth_san_dns = "payments..internal"; }), "ok");
  EXPECT_NE(with([](NewClient& n) { n.tls_client_auth_subject_dn = "CN=a\nO=b"; }), "ok");
  EXPECT_NE(with([](NewClient& n) { n.tls_client_auth_subject_dn = "CN=caf\xc3\xa9"; }), "ok");
  EXPECT_NE(with([](NewClient& n) { n.tls_client_auth_subject_dn = std::string(1025, 'a'); }),
            "ok");
  EXPECT_EQ(with([](NewClient& n) { n.tls_client_auth_subject_dn = std::string(1024, 'a'); }),
            "ok");
}

TEST(ClientTlsAuthTest, SelfSignedNeedsThumbprintsSortedAndUnique) {
  NewClient n = tls_client();
  n.tls_client_certificates = {kThumbprintB, kThumbprintA, kThumbprintB};
  ASSERT_EQ(validation_error(n), "ok");
  EXPECT_EQ(n.auth_methods, std::vector<std::string>{"self_signed_tls_client_auth"});
  EXPECT_EQ(n.tls_client_certificates, (std::vector<std::string>{kThumbprintA, kThumbprintB}));

  EXPECT_NE(validation_error(tls_client({"self_signed_tls_client_auth"})), "ok");
  NewClient without_method = tls_client({"client_secret_post"});
  without_method.tls_client_certificates = {kThumbprintA};
  EXPECT_NE(validation_error(without_method), "ok");
}

TEST(ClientTlsAuthTest, ThumbprintsAreChecked) {
  for (const std::string& bad : {std::string(42, 'A'), std::string(44, 'A'),
                                 std::string(42, 'A') + "=", std::string(42, 'A') + "+",
                                 std::string(42, 'A') + "B" /* trailing bits */, std::string()}) {
    NewClient n = tls_client({"self_signed_tls_client_auth"});
    n.tls_client_certificates = {bad};
    EXPECT_NE(validation_error(n), "ok") << bad;
  }
  NewClient many = tls_client({"self_signed_tls_client_auth"});
  for (char c = 'A'; c <= 'Q'; ++c)
    many.tls_client_certificates.push_back(std::string(42, c) + "A");
  ASSERT_EQ(many.tls_client_certificates.size(), kMaxClientCertificates + 1);
  EXPECT_NE(validation_error(many).find("more than 16"), std::string::npos);
  many.tls_client_certificates.pop_back();
  EXPECT_EQ(validation_error(many), "ok");
}

TEST(ClientTlsAuthTest, BothMethodsTogether) {
  NewClient n = tls_client();
  n.tls_client_auth_san_dns = "payments.internal";
  n.tls_client_certificates = {kThumbprintA};
  ASSERT_EQ(validation_error(n), "ok");
  EXPECT_EQ(n.auth_methods,
            (std::vector<std::string>{"self_signed_tls_client_auth", "tls_client_auth"}));
}

TEST_F(ClientRegistryTest, CertificateOnlyClientIsCreatedWithoutASecret) {
  NewClient n = tls_client();
  n.tls_client_auth_san_uri = "spiffe://example.org/payments";
  n.tls_client_certificates = {kThumbprintA};
  auto created = registry_->create(std::move(n), clock_.now());
  ASSERT_TRUE(created.has_value()) << created.error().message;
  EXPECT_TRUE(created->secret.empty());
  EXPECT_TRUE(created->client.secret.sha256.empty());
  auto stored = store_.get_client("payments");
  ASSERT_TRUE(stored.has_value());
  EXPECT_EQ(stored->tls_client_auth_san_uri, "spiffe://example.org/payments");
  EXPECT_EQ(stored->tls_client_certificates, std::vector<std::string>{kThumbprintA});
  EXPECT_EQ(reason("payments", ""), "bad_secret");
}

TEST_F(ClientRegistryTest, SetTlsAuthAddsAndRemovesTheMethods) {
  CreatedClient c = create("svc");
  clock_.advance(Seconds{5});
  auto updated = registry_->set_tls_auth("svc", "", "", "svc.internal",
                                         {kThumbprintB, kThumbprintA}, clock_.now());
  ASSERT_TRUE(updated.has_value()) << updated.error().message;
  EXPECT_EQ(updated->auth_methods,
            (std::vector<std::string>{"client_secret_basic", "client_secret_post",
                                      "self_signed_tls_client_auth", "tls_client_auth"}));
  EXPECT_EQ(updated->tls_client_auth_san_dns, "svc.internal");
  EXPECT_EQ(updated->tls_client_certificates,
            (std::vector<std::string>{kThumbprintA, kThumbprintB}));
  EXPECT_EQ(updated->updated_at, clock_.now());
  EXPECT_EQ(store_.get_client("svc")->tls_client_auth_san_dns, "svc.internal");

  // Another subject value replaces the first; no thumbprints take the self-signed method away.
  updated = registry_->set_tls_auth("svc", "CN=svc", "", "", {}, clock_.now());
  ASSERT_TRUE(updated.has_value());
  EXPECT_EQ(updated->tls_client_auth_subject_dn, "CN=svc");
  EXPECT_TRUE(updated->tls_client_auth_san_dns.empty());
  EXPECT_TRUE(updated->tls_client_certificates.empty());
  EXPECT_EQ(
      updated->auth_methods,
      (std::vector<std::string>{"client_secret_basic", "client_secret_post", "tls_client_auth"}));
  // Nothing: back to the secrets alone, which still work.
  updated = registry_->set_tls_auth("svc", "", "", "", {}, clock_.now());
  ASSERT_TRUE(updated.has_value());
  EXPECT_EQ(updated->auth_methods,
            (std::vector<std::string>{"client_secret_basic", "client_secret_post"}));
  EXPECT_EQ(reason("svc", c.secret.reveal()), "ok");
}

TEST_F(ClientRegistryTest, SetTlsAuthRefusals) {
  NewClient n = tls_client();
  n.tls_client_certificates = {kThumbprintA};
  ASSERT_TRUE(registry_->create(std::move(n), clock_.now()).has_value());
  // Taking the only method away would leave the client no way in.
  auto stranded = registry_->set_tls_auth("payments", "", "", "", {}, clock_.now());
  ASSERT_FALSE(stranded.has_value());
  EXPECT_EQ(stranded.error().code, Code::kFailedPrecondition);
  EXPECT_EQ(registry_->get("payments")->tls_client_certificates,
            std::vector<std::string>{kThumbprintA});

  auto two = registry_->set_tls_auth("payments", "CN=x", "", "x.internal", {}, clock_.now());
  ASSERT_FALSE(two.has_value());
  EXPECT_EQ(two.error().code, Code::kInvalidArgument);
  auto bad = registry_->set_tls_auth("payments", "", "", "", {"not-a-thumbprint"}, clock_.now());
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().code, Code::kInvalidArgument);
  auto unknown = registry_->set_tls_auth("nobody", "", "", "x.internal", {}, clock_.now());
  ASSERT_FALSE(unknown.has_value());
  EXPECT_EQ(unknown.error().code, Code::kNotFound);

  store_.fail_next();
  auto failed = registry_->set_tls_auth("payments", "", "", "x.internal", {}, clock_.now());
  ASSERT_FALSE(failed.has_value());
  EXPECT_TRUE(registry_->get("payments")->tls_client_auth_san_dns.empty());
}

TEST_F(ClientRegistryTest, CertificateMatcherRunsOnlyForCertificateClients) {
  NewClient n = tls_client();
  n.tls_client_certificates = {kThumbprintA};
  ASSERT_TRUE(registry_->create(std::move(n), clock_.now()).has_value());
  auto matched = [](std::string_view method) {
    return [method](const Client&) -> std::expected<std::string_view, Denial> { return method; };
  };
  auto who = registry_->authenticate_certificate("payments", matched(kSelfSignedTlsClientAuth));
  ASSERT_TRUE(who.has_value());
  EXPECT_EQ(who->auth_method(), "self_signed_tls_client_auth");
  // A method the client does not allow is refused even when the matcher names it.
  auto other = registry_->authenticate_certificate("payments", matched(kTlsClientAuth));
  ASSERT_FALSE(other.has_value());
  EXPECT_EQ(other.error().reason, "auth_method_not_allowed");
  auto secret_method = registry_->authenticate_certificate("payments", matched(kClientSecretPost));
  ASSERT_FALSE(secret_method.has_value());
  EXPECT_EQ(secret_method.error().reason, "auth_method_not_allowed");
  // The matcher's denial as it is.
  auto mismatch = registry_->authenticate_certificate(
      "payments", [](const Client&) -> std::expected<std::string_view, Denial> {
        return std::unexpected(Denial{OAuthError::kInvalidClient, "x", "certificate_mismatch"});
      });
  ASSERT_FALSE(mismatch.has_value());
  EXPECT_EQ(mismatch.error().reason, "certificate_mismatch");
  // Unknown, secret-only (matcher never called) and disabled clients.
  auto unknown = registry_->authenticate_certificate("nobody", matched(kTlsClientAuth));
  ASSERT_FALSE(unknown.has_value());
  EXPECT_EQ(unknown.error().reason, "unknown_client");
  EXPECT_EQ(unknown.error().description, "client authentication failed");
  create("secret-only");
  auto not_allowed = registry_->authenticate_certificate(
      "secret-only", [](const Client&) -> std::expected<std::string_view, Denial> {
        ADD_FAILURE() << "called";
        return kTlsClientAuth;
      });
  ASSERT_FALSE(not_allowed.has_value());
  EXPECT_EQ(not_allowed.error().reason, "auth_method_not_allowed");
  ASSERT_TRUE(registry_->set_status("payments", ClientStatus::kDisabled, clock_.now()));
  auto disabled =
      registry_->authenticate_certificate("payments", matched(kSelfSignedTlsClientAuth));
  ASSERT_FALSE(disabled.has_value());
  EXPECT_EQ(disabled.error().reason, "client_disabled");
  EXPECT_EQ(disabled.error().description, "client authentication failed");
}

}  // namespace
}  // namespace sigil::oauth
