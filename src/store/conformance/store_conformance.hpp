// The storage conformance suite: what every backend of the oauth ports must do, written
// against the port interfaces only. A backend's test program instantiates it once with a
// factory that opens a fresh, empty store:
//
//   #include "store/conformance/store_conformance.hpp"
//   INSTANTIATE_TEST_SUITE_P(Sqlite, StoreConformance,
//                            ::testing::Values(sigil::store::conformance::Backend{
//                                "sqlite", [] { return open_fresh_sqlite(); }}),
//                            sigil::store::conformance::backend_name);
//
// Include it in exactly one source file per test program (it defines the tests).
// Times used here are whole seconds: backends store unix seconds.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "base/error.hpp"
#include "oauth/model.hpp"
#include "oauth/ports.hpp"

namespace sigil::store::conformance {

// The ports of one fresh store. They may all point at one object; `owner` keeps whatever
// implements them alive (and may clean up, e.g. remove a temporary file, when released).
struct Ports {
  std::shared_ptr<void> owner;
  oauth::ClientStore* clients = nullptr;
  oauth::SigningKeyStore* signing_keys = nullptr;
  oauth::RevocationStore* revocations = nullptr;
  oauth::SettingStore* settings = nullptr;
};

// For a backend whose one class implements every port.
template <typename Store>
Ports all_ports(std::shared_ptr<Store> store) {
  Ports ports;
  ports.clients = store.get();
  ports.signing_keys = store.get();
  ports.revocations = store.get();
  ports.settings = store.get();
  ports.owner = std::move(store);
  return ports;
}

struct Backend {
  std::string name;
  std::function<Result<Ports>()> open_fresh;
};

inline std::string backend_name(const ::testing::TestParamInfo<Backend>& info) {
  return info.param.name;
}

inline TimePoint at(std::int64_t unix_seconds) {
  return from_unix(unix_seconds);
}

// Fixed 32-byte digests; the content does not matter to storage, the length does.
inline std::string digest(char fill) {
  return std::string(32, fill);
}

inline oauth::Client full_client(std::string id) {
  oauth::Client c;
  c.id = std::move(id);
  c.name = "Billing \"worker\"\n\xc3\xa9t\xc3\xa9";  // quotes, a newline and UTF-8
  c.attributes = {{"environment", "prod"}, {"team", "payments"}, {"empty", ""}};
  c.allowed_scopes = {"invoices:read", "invoices:write"};
  c.allowed_audiences = {"https://api.example.com", "ledger"};
  c.auth_methods = {"client_secret_basic", "client_secret_post"};
  c.status = oauth::ClientStatus::kDisabled;
  c.secret = oauth::SecretDigest{digest('\x01'), at(1'700'100'000)};
  std::string with_nul = digest('\xff');
  with_nul[3] = '\0';
  c.previous_secret = oauth::SecretDigest{with_nul, at(1'700'000'600)};
  c.created_at = at(1'700'000'000);
  c.updated_at = at(1'700'000'300);
  return c;
}

inline oauth::Client minimal_client(std::string id) {
  oauth::Client c;
  c.id = std::move(id);
  c.name = "minimal";
  c.secret = oauth::SecretDigest{digest('\x02'), std::nullopt};
  c.created_at = at(1'700'000'000);
  c.updated_at = at(1'700'000'000);
  return c;
}

inline void expect_same(const oauth::Client& want, const oauth::Client& got) {
  EXPECT_EQ(want.id, got.id);
  EXPECT_EQ(want.name, got.name);
  EXPECT_EQ(want.attributes, got.attributes);
  EXPECT_EQ(want.allowed_scopes, got.allowed_scopes);
  EXPECT_EQ(want.allowed_audiences, got.allowed_audiences);
  EXPECT_EQ(want.auth_methods, got.auth_methods);
  EXPECT_EQ(want.status, got.status);
  EXPECT_EQ(want.secret.sha256, got.secret.sha256);
  EXPECT_EQ(want.secret.expires_at, got.secret.expires_at);
  ASSERT_EQ(want.previous_secret.has_value(), got.previous_secret.has_value());
  if (want.previous_secret) {
    EXPECT_EQ(want.previous_secret->sha256, got.previous_secret->sha256);
    EXPECT_EQ(want.previous_secret->expires_at, got.previous_secret->expires_at);
  }
  EXPECT_EQ(want.created_at, got.created_at);
  EXPECT_EQ(want.updated_at, got.updated_at);
}

inline oauth::SigningKeyRecord key(std::string kid, std::int64_t activates_at) {
  oauth::SigningKeyRecord k;
  k.kid = std::move(kid);
  k.alg = "ES256";
  k.sealed_private_key = std::string("\x00\x01sealed\xfe\xff", 10);
  k.public_jwk = R"({"kty":"EC","crv":"P-256","x":"AA","y":"BB"})";
  k.created_at = at(activates_at - 3600);
  k.activates_at = at(activates_at);
  return k;
}

inline void expect_same(const oauth::SigningKeyRecord& want, const oauth::SigningKeyRecord& got) {
  EXPECT_EQ(want.kid, got.kid);
  EXPECT_EQ(want.alg, got.alg);
  EXPECT_EQ(want.sealed_private_key, got.sealed_private_key);
  EXPECT_EQ(want.public_jwk, got.public_jwk);
  EXPECT_EQ(want.created_at, got.created_at);
  EXPECT_EQ(want.activates_at, got.activates_at);
  EXPECT_EQ(want.retires_at, got.retires_at);
  EXPECT_EQ(want.expires_at, got.expires_at);
}

inline std::vector<std::string> jtis(const std::vector<oauth::RevokedToken>& tokens) {
  std::vector<std::string> out;
  for (const auto& t : tokens) out.push_back(t.jti);
  std::sort(out.begin(), out.end());
  return out;
}

class StoreConformance : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    auto opened = GetParam().open_fresh();
    ASSERT_TRUE(opened.has_value()) << opened.error().message;
    ports_ = std::move(*opened);
    ASSERT_NE(ports_.clients, nullptr);
    ASSERT_NE(ports_.signing_keys, nullptr);
    ASSERT_NE(ports_.revocations, nullptr);
    ASSERT_NE(ports_.settings, nullptr);
  }

  oauth::ClientStore& clients() { return *ports_.clients; }
  oauth::SigningKeyStore& keys() { return *ports_.signing_keys; }
  oauth::RevocationStore& revocations() { return *ports_.revocations; }
  oauth::SettingStore& settings() { return *ports_.settings; }

  Ports ports_;
};

// ---- clients ----

TEST_P(StoreConformance, ClientRoundTripKeepsEveryField) {
  const oauth::Client c = full_client("billing");
  ASSERT_TRUE(clients().create_client(c).has_value());
  auto got = clients().get_client("billing");
  ASSERT_TRUE(got.has_value()) << got.error().message;
  expect_same(c, *got);
}

TEST_P(StoreConformance, ClientWithoutOptionalFieldsRoundTrips) {
  const oauth::Client c = minimal_client("m");
  ASSERT_TRUE(clients().create_client(c).has_value());
  auto got = clients().get_client("m");
  ASSERT_TRUE(got.has_value()) << got.error().message;
  expect_same(c, *got);
  EXPECT_EQ(got->status, oauth::ClientStatus::kActive);
  EXPECT_FALSE(got->previous_secret.has_value());
  EXPECT_TRUE(got->attributes.empty());
}

TEST_P(StoreConformance, DuplicateClientIdIsAlreadyExists) {
  ASSERT_TRUE(clients().create_client(minimal_client("dup")).has_value());
  oauth::Client other = full_client("dup");
  auto again = clients().create_client(other);
  ASSERT_FALSE(again.has_value());
  EXPECT_EQ(again.error().code, Code::kAlreadyExists);
  // The first record is untouched.
  auto got = clients().get_client("dup");
  ASSERT_TRUE(got.has_value());
  expect_same(minimal_client("dup"), *got);
}

TEST_P(StoreConformance, MissingClientIsNotFound) {
  auto got = clients().get_client("nobody");
  ASSERT_FALSE(got.has_value());
  EXPECT_EQ(got.error().code, Code::kNotFound);
  auto updated = clients().update_client(minimal_client("nobody"));
  ASSERT_FALSE(updated.has_value());
  EXPECT_EQ(updated.error().code, Code::kNotFound);
}

TEST_P(StoreConformance, ClientIdIsExact) {
  ASSERT_TRUE(clients().create_client(minimal_client("Svc")).has_value());
  auto other_case = clients().get_client("svc");
  ASSERT_FALSE(other_case.has_value());
  EXPECT_EQ(other_case.error().code, Code::kNotFound);
  auto wildcard = clients().get_client("%");
  ASSERT_FALSE(wildcard.has_value());
  EXPECT_EQ(wildcard.error().code, Code::kNotFound);
}

TEST_P(StoreConformance, UpdateClientReplacesEveryField) {
  ASSERT_TRUE(clients().create_client(full_client("rot")).has_value());
  oauth::Client changed = minimal_client("rot");
  changed.name = "renamed";
  changed.allowed_scopes = {"only:this"};
  changed.attributes = {{"team", "core"}};
  changed.secret = oauth::SecretDigest{digest('\x07'), std::nullopt};
  changed.previous_secret = oauth::SecretDigest{digest('\x01'), at(1'700'000'900)};
  changed.updated_at = at(1'700'000'800);
  ASSERT_TRUE(clients().update_client(changed).has_value());
  auto got = clients().get_client("rot");
  ASSERT_TRUE(got.has_value());
  expect_same(changed, *got);

  // And back to no previous secret.
  changed.previous_secret.reset();
  ASSERT_TRUE(clients().update_client(changed).has_value());
  got = clients().get_client("rot");
  ASSERT_TRUE(got.has_value());
  EXPECT_FALSE(got->previous_secret.has_value());
}

TEST_P(StoreConformance, ListClientsIsOrderedById) {
  auto empty = clients().list_clients();
  ASSERT_TRUE(empty.has_value());
  EXPECT_TRUE(empty->empty());
  for (const char* id : {"charlie", "alpha", "bravo"}) {
    ASSERT_TRUE(clients().create_client(full_client(id)).has_value());
  }
  auto all = clients().list_clients();
  ASSERT_TRUE(all.has_value()) << all.error().message;
  ASSERT_EQ(all->size(), 3u);
  EXPECT_EQ((*all)[0].id, "alpha");
  EXPECT_EQ((*all)[1].id, "bravo");
  EXPECT_EQ((*all)[2].id, "charlie");
  expect_same(full_client("bravo"), (*all)[1]);
}

TEST_P(StoreConformance, InvalidClientIsRefused) {
  oauth::Client no_id = minimal_client("");
  auto r = clients().create_client(no_id);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, Code::kInvalidArgument);

  oauth::Client short_digest = minimal_client("short");
  short_digest.secret.sha256 = "not a digest";
  r = clients().create_client(short_digest);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, Code::kInvalidArgument);

  oauth::Client bad_utf8 = minimal_client("utf8");
  bad_utf8.allowed_scopes = {"\xff\xfe"};
  r = clients().create_client(bad_utf8);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, Code::kInvalidArgument);

  auto none = clients().list_clients();
  ASSERT_TRUE(none.has_value());
  EXPECT_TRUE(none->empty());
}

TEST_P(StoreConformance, ConcurrentCreatesAllLand) {
  constexpr int kThreads = 4;
  constexpr int kEach = 25;
  std::vector<std::thread> threads;
  std::vector<int> failures(kThreads, 0);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        const std::string id = "c" + std::to_string(t) + "-" + std::to_string(i);
        if (!clients().create_client(minimal_client(id))) ++failures[t];
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures, std::vector<int>(kThreads, 0));
  auto all = clients().list_clients();
  ASSERT_TRUE(all.has_value());
  EXPECT_EQ(all->size(), static_cast<std::size_t>(kThreads * kEach));
}

// ---- signing keys ----

TEST_P(StoreConformance, SigningKeysRoundTripInActivationOrder) {
  oauth::SigningKeyRecord later = key("k-later", 1'700'003'600);
  oauth::SigningKeyRecord first = key("k-first", 1'700'000'000);
  first.alg = "EdDSA";
  first.retires_at = at(1'700'007'200);
  first.expires_at = at(1'700'010'800);
  ASSERT_TRUE(keys().create_signing_key(later).has_value());
  ASSERT_TRUE(keys().create_signing_key(first).has_value());

  auto all = keys().list_signing_keys();
  ASSERT_TRUE(all.has_value()) << all.error().message;
  ASSERT_EQ(all->size(), 2u);
  expect_same(first, (*all)[0]);
  expect_same(later, (*all)[1]);
  EXPECT_FALSE((*all)[1].retires_at.has_value());
  EXPECT_FALSE((*all)[1].expires_at.has_value());
}

TEST_P(StoreConformance, DuplicateKidIsAlreadyExists) {
  ASSERT_TRUE(keys().create_signing_key(key("k1", 1'700'000'000)).has_value());
  auto again = keys().create_signing_key(key("k1", 1'800'000'000));
  ASSERT_FALSE(again.has_value());
  EXPECT_EQ(again.error().code, Code::kAlreadyExists);
}

TEST_P(StoreConformance, UpdateSigningKeySetsAndClearsTimes) {
  oauth::SigningKeyRecord k = key("k1", 1'700'000'000);
  ASSERT_TRUE(keys().create_signing_key(k).has_value());
  k.retires_at = at(1'700'086'400);
  k.expires_at = at(1'700'090'000);
  ASSERT_TRUE(keys().update_signing_key(k).has_value());
  auto all = keys().list_signing_keys();
  ASSERT_TRUE(all.has_value());
  ASSERT_EQ(all->size(), 1u);
  expect_same(k, (*all)[0]);

  k.expires_at.reset();
  ASSERT_TRUE(keys().update_signing_key(k).has_value());
  all = keys().list_signing_keys();
  ASSERT_TRUE(all.has_value());
  ASSERT_EQ(all->size(), 1u);
  expect_same(k, (*all)[0]);

  auto missing = keys().update_signing_key(key("nope", 1));
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().code, Code::kNotFound);
}

TEST_P(StoreConformance, DeleteSigningKey) {
  ASSERT_TRUE(keys().create_signing_key(key("k1", 1'700'000'000)).has_value());
  ASSERT_TRUE(keys().create_signing_key(key("k2", 1'700'000'001)).has_value());
  ASSERT_TRUE(keys().delete_signing_key("k1").has_value());
  auto all = keys().list_signing_keys();
  ASSERT_TRUE(all.has_value());
  ASSERT_EQ(all->size(), 1u);
  EXPECT_EQ((*all)[0].kid, "k2");

  auto again = keys().delete_signing_key("k1");
  ASSERT_FALSE(again.has_value());
  EXPECT_EQ(again.error().code, Code::kNotFound);
}

// ---- revocations ----

TEST_P(StoreConformance, RevocationIsIdempotent) {
  const oauth::RevokedToken t{"jti-1", at(1'700'000'300)};
  ASSERT_TRUE(revocations().revoke_token(t).has_value());
  ASSERT_TRUE(revocations().revoke_token(t).has_value());
  auto listed = revocations().list_revoked_tokens(at(1'700'000'000));
  ASSERT_TRUE(listed.has_value()) << listed.error().message;
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].jti, "jti-1");
  EXPECT_EQ((*listed)[0].expires_at, at(1'700'000'300));
}

TEST_P(StoreConformance, RevokingAgainNeverShortensTheEntry) {
  ASSERT_TRUE(revocations().revoke_token({"j", at(1'700'000'600)}).has_value());
  ASSERT_TRUE(revocations().revoke_token({"j", at(1'700'000'100)}).has_value());
  auto listed = revocations().list_revoked_tokens(at(1'700'000'300));
  ASSERT_TRUE(listed.has_value());
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].expires_at, at(1'700'000'600));
}

TEST_P(StoreConformance, ListRevokedTokensShowsOnlyUnexpired) {
  ASSERT_TRUE(revocations().revoke_token({"past", at(1'699'999'999)}).has_value());
  ASSERT_TRUE(revocations().revoke_token({"now", at(1'700'000'000)}).has_value());
  ASSERT_TRUE(revocations().revoke_token({"soon", at(1'700'000'001)}).has_value());
  ASSERT_TRUE(revocations().revoke_token({"later", at(1'700'003'600)}).has_value());
  auto listed = revocations().list_revoked_tokens(at(1'700'000'000));
  ASSERT_TRUE(listed.has_value());
  EXPECT_EQ(jtis(*listed), (std::vector<std::string>{"later", "soon"}));
}

TEST_P(StoreConformance, PurgeRemovesOnlyExpiredEntries) {
  ASSERT_TRUE(revocations().revoke_token({"old", at(1'600'000'000)}).has_value());
  ASSERT_TRUE(revocations().revoke_token({"edge", at(1'700'000'000)}).has_value());
  ASSERT_TRUE(revocations().revoke_token({"live", at(1'800'000'000)}).has_value());
  ASSERT_TRUE(revocations().purge_revoked_tokens(at(1'700'000'000)).has_value());
  // Everything, even long-expired entries, is visible from far in the past.
  auto listed = revocations().list_revoked_tokens(at(0));
  ASSERT_TRUE(listed.has_value());
  EXPECT_EQ(jtis(*listed), (std::vector<std::string>{"edge", "live"}));
  // Purging an empty range succeeds.
  ASSERT_TRUE(revocations().purge_revoked_tokens(at(1)).has_value());
}

TEST_P(StoreConformance, EmptyJtiIsRefused) {
  auto r = revocations().revoke_token({"", at(1'700'000'000)});
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, Code::kInvalidArgument);
}

// ---- settings ----

TEST_P(StoreConformance, SettingsPutGetOverwrite) {
  auto missing = settings().get_setting("issuer");
  ASSERT_TRUE(missing.has_value());
  EXPECT_FALSE(missing->has_value());

  ASSERT_TRUE(settings().put_setting("issuer", "https://sigil.example").has_value());
  auto got = settings().get_setting("issuer");
  ASSERT_TRUE(got.has_value());
  ASSERT_TRUE(got->has_value());
  EXPECT_EQ(**got, "https://sigil.example");

  ASSERT_TRUE(settings().put_setting("issuer", "https://other.example").has_value());
  got = settings().get_setting("issuer");
  ASSERT_TRUE(got.has_value() && got->has_value());
  EXPECT_EQ(**got, "https://other.example");

  ASSERT_TRUE(settings().put_setting("empty", "").has_value());
  got = settings().get_setting("empty");
  ASSERT_TRUE(got.has_value() && got->has_value());
  EXPECT_EQ(**got, "");

  auto unnamed = settings().put_setting("", "x");
  ASSERT_FALSE(unnamed.has_value());
  EXPECT_EQ(unnamed.error().code, Code::kInvalidArgument);
}

}  // namespace sigil::store::conformance
