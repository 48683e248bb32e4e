// The storage conformance suite: what every backend of the oauth and apikeys ports must
// do, written against the port interfaces only. A backend's test program instantiates each
// fixture (StoreConformance for the oauth ports, PolicyConformance for oauth::PolicyStore,
// ApiKeyConformance for the apikeys ports, CaConformance for the ca ports) once with a
// factory that opens a fresh, empty store:
//
//   #include "store/conformance/store_conformance.hpp"
//   INSTANTIATE_TEST_SUITE_P(Sqlite, StoreConformance,
//                            ::testing::Values(sigil::store::conformance::Backend{
//                                "sqlite", [] { return open_fresh_sqlite(); }}),
//                            sigil::store::conformance::backend_name);
//   INSTANTIATE_TEST_SUITE_P(Sqlite, PolicyConformance, ...the same...);
//   INSTANTIATE_TEST_SUITE_P(Sqlite, ApiKeyConformance, ...the same...);
//   INSTANTIATE_TEST_SUITE_P(Sqlite, CaConformance, ...the same...);
//
// Include it in exactly one source file per test program (it defines the tests).
// Times used here are whole seconds: backends store unix seconds.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "apikeys/model.hpp"
#include "apikeys/ports.hpp"
#include "base/error.hpp"
#include "ca/model.hpp"
#include "ca/ports.hpp"
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
  oauth::PolicyStore* policies = nullptr;
  apikeys::KeySpaceStore* key_spaces = nullptr;
  apikeys::ApiKeyStore* api_keys = nullptr;
  ca::CaStore* ca_keys = nullptr;
  ca::CertificateStore* certificates = nullptr;
};

// For a backend whose one class implements every port.
template <typename Store>
Ports all_ports(std::shared_ptr<Store> store) {
  Ports ports;
  ports.clients = store.get();
  ports.signing_keys = store.get();
  ports.revocations = store.get();
  ports.settings = store.get();
  if constexpr (std::is_base_of_v<oauth::PolicyStore, Store>) ports.policies = store.get();
  if constexpr (std::is_base_of_v<apikeys::KeySpaceStore, Store>) ports.key_spaces = store.get();
  if constexpr (std::is_base_of_v<apikeys::ApiKeyStore, Store>) ports.api_keys = store.get();
  if constexpr (std::is_base_of_v<ca::CaStore, Store>) ports.ca_keys = store.get();
  if constexpr (std::is_base_of_v<ca::CertificateStore, Store>) {
    ports.certificates = store.get();
  }
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
  // Kept as text, exactly: spacing, member order and escapes as given.
  c.jwks =
      R"({"keys": [{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","kid":"k\u00e9"}]})";
  c.tls_client_auth_san_uri = "spiffe://example.org/ns/prod/sa/billing";
  c.tls_client_certificates = {"3LdCFvyMzzFTCbN2DBu2EdbbETlEtKJQ2bSg9ArjuOI",
                               "Yqp8CC1MnO8vHKZT5Q2MQeRsW4-iv7OSOJB0KpsrS5M"};
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
  EXPECT_EQ(want.jwks, got.jwks);
  EXPECT_EQ(want.jwks_uri, got.jwks_uri);
  EXPECT_EQ(want.tls_client_auth_subject_dn, got.tls_client_auth_subject_dn);
  EXPECT_EQ(want.tls_client_auth_san_uri, got.tls_client_auth_san_uri);
  EXPECT_EQ(want.tls_client_auth_san_dns, got.tls_client_auth_san_dns);
  EXPECT_EQ(want.tls_client_certificates, got.tls_client_certificates);
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
  changed.jwks_uri = "https://keys.example.com/rot.json";
  changed.updated_at = at(1'700'000'800);
  ASSERT_TRUE(clients().update_client(changed).has_value());
  auto got = clients().get_client("rot");
  ASSERT_TRUE(got.has_value());
  expect_same(changed, *got);
  EXPECT_TRUE(got->jwks.empty());

  // And back to no previous secret.
  changed.previous_secret.reset();
  ASSERT_TRUE(clients().update_client(changed).has_value());
  got = clients().get_client("rot");
  ASSERT_TRUE(got.has_value());
  EXPECT_FALSE(got->previous_secret.has_value());

  // An update that would hold both kinds of keys changes nothing.
  oauth::Client both = changed;
  both.jwks = R"({"keys":[]})";
  auto refused = clients().update_client(both);
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().code, Code::kInvalidArgument);
  got = clients().get_client("rot");
  ASSERT_TRUE(got.has_value());
  expect_same(changed, *got);
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

// RFC 8705 §2: what a client's TLS certificate must say, kept exactly, and replaced by
// an update.
TEST_P(StoreConformance, TlsClientAuthFieldsRoundTrip) {
  oauth::Client dn = minimal_client("by-dn");
  dn.auth_methods = {"tls_client_auth"};
  dn.tls_client_auth_subject_dn = "CN=billing,O=Example\\, Inc.,C=US";
  oauth::Client dns = minimal_client("by-dns");
  dns.auth_methods = {"tls_client_auth"};
  dns.tls_client_auth_san_dns = "billing.prod.example.com";
  oauth::Client self_signed = minimal_client("self-signed");
  self_signed.auth_methods = {"self_signed_tls_client_auth"};
  self_signed.tls_client_certificates = {"A-_0", "B9z"};
  for (const auto* c : {&dn, &dns, &self_signed}) {
    ASSERT_TRUE(clients().create_client(*c).has_value()) << c->id;
    auto got = clients().get_client(c->id);
    ASSERT_TRUE(got.has_value()) << got.error().message;
    expect_same(*c, *got);
  }
  auto all = clients().list_clients();
  ASSERT_TRUE(all.has_value());
  ASSERT_EQ(all->size(), 3u);
  expect_same(dn, (*all)[0]);
  expect_same(dns, (*all)[1]);
  expect_same(self_signed, (*all)[2]);

  // From the DN to a URI SAN and back to nothing.
  oauth::Client changed = dn;
  changed.tls_client_auth_subject_dn.clear();
  changed.tls_client_auth_san_uri = "spiffe://example.org/billing";
  ASSERT_TRUE(clients().update_client(changed).has_value());
  auto got = clients().get_client("by-dn");
  ASSERT_TRUE(got.has_value());
  expect_same(changed, *got);
  self_signed.tls_client_certificates.clear();
  ASSERT_TRUE(clients().update_client(self_signed).has_value());
  got = clients().get_client("self-signed");
  ASSERT_TRUE(got.has_value());
  EXPECT_TRUE(got->tls_client_certificates.empty());

  // A fresh client has none of them.
  ASSERT_TRUE(clients().create_client(minimal_client("plain")).has_value());
  got = clients().get_client("plain");
  ASSERT_TRUE(got.has_value());
  EXPECT_TRUE(got->tls_client_auth_subject_dn.empty());
  EXPECT_TRUE(got->tls_client_auth_san_uri.empty());
  EXPECT_TRUE(got->tls_client_auth_san_dns.empty());
  EXPECT_TRUE(got->tls_client_certificates.empty());
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

  oauth::Client bad_thumbprint = minimal_client("thumbprint");
  bad_thumbprint.tls_client_certificates = {"\xff\xfe"};
  r = clients().create_client(bad_thumbprint);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, Code::kInvalidArgument);

  for (const char* jwks : {"[]", "{\"keys\":", "not json", "\"{}\""}) {
    oauth::Client bad_jwks = minimal_client("jwks");
    bad_jwks.jwks = jwks;
    r = clients().create_client(bad_jwks);
    ASSERT_FALSE(r.has_value()) << jwks;
    EXPECT_EQ(r.error().code, Code::kInvalidArgument) << jwks;
  }

  // RFC 7591 §2: "The "jwks_uri" and "jwks" parameters MUST NOT both be present".
  oauth::Client both = minimal_client("both");
  both.jwks = R"({"keys":[]})";
  both.jwks_uri = "https://keys.example.com/both.json";
  r = clients().create_client(both);
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

// ---- policy versions ----

// A valid version `n` whose document and digest are made from `n`.
inline oauth::PolicyVersion policy_version(std::int64_t n) {
  oauth::PolicyVersion v;
  v.version = n;
  v.document =
      "version: 1\n# policy " + std::to_string(n) + "\nservices:\n  - name: \"caf\xc3\xa9\"\n";
  v.sha256_hex = std::string(63, 'a') + static_cast<char>('0' + n % 10);
  v.applied_at = at(1'700'000'000 + n * 60);
  v.applied_by = "admin";
  v.origin = "apply";
  return v;
}

inline void expect_same(const oauth::PolicyVersion& want, const oauth::PolicyVersion& got,
                        bool with_document = true) {
  EXPECT_EQ(want.version, got.version);
  EXPECT_EQ(with_document ? want.document : std::string(), got.document);
  EXPECT_EQ(want.sha256_hex, got.sha256_hex);
  EXPECT_EQ(want.applied_at, got.applied_at);
  EXPECT_EQ(want.applied_by, got.applied_by);
  EXPECT_EQ(want.origin, got.origin);
  EXPECT_EQ(want.rolled_back_from, got.rolled_back_from);
}

class PolicyConformance : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    auto opened = GetParam().open_fresh();
    ASSERT_TRUE(opened.has_value()) << opened.error().message;
    ports_ = std::move(*opened);
    ASSERT_NE(ports_.clients, nullptr);
    ASSERT_NE(ports_.policies, nullptr);
  }

  oauth::ClientStore& clients() { return *ports_.clients; }
  oauth::PolicyStore& policies() { return *ports_.policies; }

  Result<void> commit(const oauth::PolicyVersion& v, const std::vector<oauth::Client>& create = {},
                      const std::vector<oauth::Client>& update = {},
                      const std::vector<std::string>& remove = {}) {
    return policies().commit_policy(v, create, update, remove);
  }

  std::vector<std::int64_t> stored_versions() {
    std::vector<std::int64_t> out;
    auto all = policies().list_policy_versions();
    EXPECT_TRUE(all.has_value()) << all.error().message;
    if (all) {
      for (const auto& v : *all) out.push_back(v.version);
    }
    return out;
  }

  std::vector<std::string> client_ids() {
    std::vector<std::string> out;
    auto all = clients().list_clients();
    EXPECT_TRUE(all.has_value()) << all.error().message;
    if (all) {
      for (const auto& c : *all) out.push_back(c.id);
    }
    return out;
  }

  Ports ports_;
};

TEST_P(PolicyConformance, EmptyStoreHasNoVersions) {
  auto latest = policies().latest_policy_version();
  ASSERT_TRUE(latest.has_value()) << latest.error().message;
  EXPECT_FALSE(latest->has_value());
  EXPECT_TRUE(stored_versions().empty());
  auto missing = policies().get_policy_version(1);
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().code, Code::kNotFound);
}

TEST_P(PolicyConformance, AppendGetListAndLatest) {
  oauth::PolicyVersion v1 = policy_version(1);
  oauth::PolicyVersion v2 = policy_version(2);
  v2.origin = "file";
  v2.applied_by = "file:/etc/sigil/sigil.yaml";
  v2.document = std::string(200'000, 'x') + "\n";  // large documents are kept whole
  oauth::PolicyVersion v3 = policy_version(3);
  v3.origin = "rollback";
  v3.rolled_back_from = 1;
  v3.document = v1.document;
  v3.sha256_hex = v1.sha256_hex;
  for (const oauth::PolicyVersion* v : {&v1, &v2, &v3}) {
    auto done = commit(*v);
    ASSERT_TRUE(done.has_value()) << done.error().message;
  }

  auto latest = policies().latest_policy_version();
  ASSERT_TRUE(latest.has_value() && latest->has_value());
  expect_same(v3, **latest);

  auto got = policies().get_policy_version(2);
  ASSERT_TRUE(got.has_value()) << got.error().message;
  expect_same(v2, *got);
  got = policies().get_policy_version(1);
  ASSERT_TRUE(got.has_value());
  expect_same(v1, *got);
  auto missing = policies().get_policy_version(4);
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().code, Code::kNotFound);

  // Newest first, without the documents.
  auto all = policies().list_policy_versions();
  ASSERT_TRUE(all.has_value()) << all.error().message;
  ASSERT_EQ(all->size(), 3u);
  expect_same(v3, (*all)[0], /*with_document=*/false);
  expect_same(v2, (*all)[1], /*with_document=*/false);
  expect_same(v1, (*all)[2], /*with_document=*/false);
}

TEST_P(PolicyConformance, VersionMustBeTheNextNumber) {
  auto early = commit(policy_version(2));
  ASSERT_FALSE(early.has_value());
  EXPECT_EQ(early.error().code, Code::kAlreadyExists);
  EXPECT_TRUE(stored_versions().empty());

  ASSERT_TRUE(commit(policy_version(1)).has_value());
  auto again = commit(policy_version(1));
  ASSERT_FALSE(again.has_value());
  EXPECT_EQ(again.error().code, Code::kAlreadyExists);
  auto gap = commit(policy_version(3));
  ASSERT_FALSE(gap.has_value());
  EXPECT_EQ(gap.error().code, Code::kAlreadyExists);
  EXPECT_EQ(stored_versions(), (std::vector<std::int64_t>{1}));
  auto first = policies().get_policy_version(1);
  ASSERT_TRUE(first.has_value());
  expect_same(policy_version(1), *first);

  ASSERT_TRUE(commit(policy_version(2)).has_value());
  EXPECT_EQ(stored_versions(), (std::vector<std::int64_t>{2, 1}));
}

TEST_P(PolicyConformance, CommitWritesTheClientsWithTheVersion) {
  ASSERT_TRUE(clients().create_client(minimal_client("kept")).has_value());
  ASSERT_TRUE(clients().create_client(minimal_client("changed")).has_value());
  ASSERT_TRUE(clients().create_client(minimal_client("pruned")).has_value());
  oauth::Client changed = full_client("changed");
  changed.name = "changed by policy";
  auto done = commit(policy_version(1), {full_client("new-a"), minimal_client("new-b")}, {changed},
                     {"pruned"});
  ASSERT_TRUE(done.has_value()) << done.error().message;

  EXPECT_EQ(client_ids(), (std::vector<std::string>{"changed", "kept", "new-a", "new-b"}));
  auto got = clients().get_client("changed");
  ASSERT_TRUE(got.has_value());
  expect_same(changed, *got);
  got = clients().get_client("new-a");
  ASSERT_TRUE(got.has_value());
  expect_same(full_client("new-a"), *got);
  got = clients().get_client("kept");
  ASSERT_TRUE(got.has_value());
  expect_same(minimal_client("kept"), *got);
  auto pruned = clients().get_client("pruned");
  ASSERT_FALSE(pruned.has_value());
  EXPECT_EQ(pruned.error().code, Code::kNotFound);
  EXPECT_EQ(stored_versions(), (std::vector<std::int64_t>{1}));
}

// A commit that fails in any part leaves both the clients and the versions as they were.
TEST_P(PolicyConformance, CommitIsAllOrNothing) {
  ASSERT_TRUE(clients().create_client(minimal_client("a")).has_value());
  ASSERT_TRUE(clients().create_client(minimal_client("b")).has_value());
  ASSERT_TRUE(commit(policy_version(1)).has_value());
  oauth::Client changed_a = full_client("a");

  // Removing a client that does not exist.
  auto unknown_remove =
      commit(policy_version(2), {minimal_client("c")}, {changed_a}, {"b", "ghost"});
  ASSERT_FALSE(unknown_remove.has_value());
  EXPECT_EQ(unknown_remove.error().code, Code::kNotFound);

  // Creating a client whose id is taken (after a valid create, update and remove).
  auto collision =
      commit(policy_version(2), {minimal_client("c"), full_client("b")}, {changed_a}, {"b"});
  ASSERT_FALSE(collision.has_value());
  EXPECT_EQ(collision.error().code, Code::kAlreadyExists);

  // Updating a client that does not exist.
  auto unknown_update =
      commit(policy_version(2), {minimal_client("c")}, {changed_a, full_client("ghost")}, {"b"});
  ASSERT_FALSE(unknown_update.has_value());
  EXPECT_EQ(unknown_update.error().code, Code::kNotFound);

  // A version number that is taken, with valid client changes.
  auto taken = commit(policy_version(1), {minimal_client("c")}, {changed_a}, {"b"});
  ASSERT_FALSE(taken.has_value());
  EXPECT_EQ(taken.error().code, Code::kAlreadyExists);

  EXPECT_EQ(client_ids(), (std::vector<std::string>{"a", "b"}));
  auto a = clients().get_client("a");
  ASSERT_TRUE(a.has_value());
  expect_same(minimal_client("a"), *a);
  EXPECT_EQ(stored_versions(), (std::vector<std::int64_t>{1}));

  // The number that the failures did not take is still free.
  auto next = commit(policy_version(2), {minimal_client("c")}, {changed_a}, {"b"});
  ASSERT_TRUE(next.has_value()) << next.error().message;
  EXPECT_EQ(client_ids(), (std::vector<std::string>{"a", "c"}));
  EXPECT_EQ(stored_versions(), (std::vector<std::int64_t>{2, 1}));
}

TEST_P(PolicyConformance, InvalidVersionIsRefused) {
  ASSERT_TRUE(commit(policy_version(1)).has_value());
  std::vector<oauth::PolicyVersion> bad;
  bad.push_back(policy_version(2));
  bad.back().sha256_hex = std::string(63, 'a');  // too short
  bad.push_back(policy_version(2));
  bad.back().sha256_hex = std::string(64, 'A');  // upper case
  bad.push_back(policy_version(2));
  bad.back().sha256_hex = std::string(63, 'a') + "g";
  bad.push_back(policy_version(2));
  bad.back().applied_by = "";
  bad.push_back(policy_version(2));
  bad.back().origin = "manual";
  bad.push_back(policy_version(2));
  bad.back().origin = "rollback";  // without rolled_back_from
  bad.push_back(policy_version(2));
  bad.back().rolled_back_from = 1;  // not a rollback
  bad.push_back(policy_version(2));
  bad.back().origin = "rollback";
  bad.back().rolled_back_from = 2;  // not an earlier version
  bad.push_back(policy_version(2));
  bad.back().origin = "rollback";
  bad.back().rolled_back_from = 0;
  for (std::size_t i = 0; i < bad.size(); ++i) {
    auto r = commit(bad[i], {minimal_client("c" + std::to_string(i))});
    ASSERT_FALSE(r.has_value()) << i;
    EXPECT_EQ(r.error().code, Code::kInvalidArgument) << i;
  }
  oauth::PolicyVersion zero = policy_version(0);
  auto r = commit(zero);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, Code::kInvalidArgument);

  EXPECT_TRUE(client_ids().empty());
  EXPECT_EQ(stored_versions(), (std::vector<std::int64_t>{1}));
}

TEST_P(PolicyConformance, ConcurrentCommitsNeverShareANumber) {
  constexpr int kThreads = 4;
  constexpr int kTries = 10;
  std::vector<std::thread> threads;
  std::atomic<int> stored{0};
  std::vector<int> other_errors(kThreads, 0);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kTries; ++i) {
        // Each thread asks for the number after the newest it sees; losers of a race get
        // kAlreadyExists and nothing of theirs is written.
        auto latest = policies().latest_policy_version();
        if (!latest) {
          ++other_errors[t];
          continue;
        }
        const std::int64_t next = latest->has_value() ? (*latest)->version + 1 : 1;
        const std::string id = "t" + std::to_string(t) + "-" + std::to_string(i);
        auto r = commit(policy_version(next), {minimal_client(id)});
        if (r) {
          ++stored;
        } else if (r.error().code != Code::kAlreadyExists) {
          ++other_errors[t];
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(other_errors, std::vector<int>(kThreads, 0));
  const auto versions = stored_versions();
  ASSERT_EQ(versions.size(), static_cast<std::size_t>(stored.load()));
  for (std::size_t i = 0; i < versions.size(); ++i) {
    EXPECT_EQ(versions[i], static_cast<std::int64_t>(versions.size() - i));
  }
  // One client per stored version: a losing commit wrote none.
  EXPECT_EQ(client_ids().size(), versions.size());
}

// ---- key spaces ----

inline apikeys::KeySpace key_space(std::string id, std::string prefix) {
  return apikeys::KeySpace{std::move(id), std::move(prefix), "Live keys", at(1'690'000'000)};
}

inline void expect_same(const apikeys::KeySpace& want, const apikeys::KeySpace& got) {
  EXPECT_EQ(want.id, got.id);
  EXPECT_EQ(want.prefix, got.prefix);
  EXPECT_EQ(want.name, got.name);
  EXPECT_EQ(want.created_at, got.created_at);
}

// A key with every optional field set. `fill` makes the digest (unique per key).
inline apikeys::ApiKey full_api_key(std::string id, std::string space, char fill) {
  apikeys::ApiKey k;
  k.id = std::move(id);
  k.key_space = std::move(space);
  k.digest = digest(fill);
  k.digest[5] = '\0';  // a digest is bytes, not text
  k.start = "sk_live_AbCd";
  k.owner = "customer-42";
  k.name = "CI \"deploy\" key\n\xc3\xa9t\xc3\xa9";
  k.scopes = {"invoices:read", "invoices:write"};
  k.metadata = R"({"plan":"pro","seats":3,"tags":["a","b"],"nested":{"x":null}})";
  k.expires_at = at(1'800'000'000);
  k.remaining = 1000;
  k.rate_limit = apikeys::RateLimit{100, Seconds(60)};
  k.status = apikeys::KeyStatus::kDisabled;
  k.rotated_from = "key_AAAAAAAAAAAAAAAAAAAA";
  k.grace_until = at(1'700'086'400);
  k.created_at = at(1'700'000'000);
  k.updated_at = at(1'700'000'300);
  k.last_used_at = at(1'700'000'200);
  return k;
}

// A key with every optional field unset.
inline apikeys::ApiKey minimal_api_key(std::string id, std::string space, char fill) {
  apikeys::ApiKey k;
  k.id = std::move(id);
  k.key_space = std::move(space);
  k.digest = digest(fill);
  k.start = "sk_live_Zz09";
  k.owner = "customer-1";
  k.created_at = at(1'700'000'000);
  k.updated_at = at(1'700'000'000);
  return k;
}

inline void expect_same(const apikeys::ApiKey& want, const apikeys::ApiKey& got) {
  EXPECT_EQ(want.id, got.id);
  EXPECT_EQ(want.key_space, got.key_space);
  EXPECT_EQ(want.digest, got.digest);
  EXPECT_EQ(want.start, got.start);
  EXPECT_EQ(want.owner, got.owner);
  EXPECT_EQ(want.name, got.name);
  EXPECT_EQ(want.scopes, got.scopes);
  EXPECT_EQ(want.metadata, got.metadata);
  EXPECT_EQ(want.expires_at, got.expires_at);
  EXPECT_EQ(want.remaining, got.remaining);
  ASSERT_EQ(want.rate_limit.has_value(), got.rate_limit.has_value());
  if (want.rate_limit) {
    EXPECT_EQ(want.rate_limit->limit, got.rate_limit->limit);
    EXPECT_EQ(want.rate_limit->window, got.rate_limit->window);
  }
  EXPECT_EQ(want.status, got.status);
  EXPECT_EQ(want.rotated_from, got.rotated_from);
  EXPECT_EQ(want.grace_until, got.grace_until);
  EXPECT_EQ(want.created_at, got.created_at);
  EXPECT_EQ(want.updated_at, got.updated_at);
  EXPECT_EQ(want.last_used_at, got.last_used_at);
}

inline std::vector<std::string> key_ids(const std::vector<apikeys::ApiKey>& keys) {
  std::vector<std::string> out;
  for (const auto& k : keys) out.push_back(k.id);
  return out;
}

// A listing query (designated initialisers would trip -Wmissing-field-initializers).
inline apikeys::ApiKeyQuery page_query(std::string space,
                                       std::optional<std::string> owner = std::nullopt,
                                       std::string after_id = "", std::size_t limit = 100) {
  apikeys::ApiKeyQuery q;
  q.key_space = std::move(space);
  q.owner = std::move(owner);
  q.after_id = std::move(after_id);
  q.limit = limit;
  return q;
}

// Every test starts with two key spaces, "live" and "test".
class ApiKeyConformance : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    auto opened = GetParam().open_fresh();
    ASSERT_TRUE(opened.has_value()) << opened.error().message;
    ports_ = std::move(*opened);
    ASSERT_NE(ports_.key_spaces, nullptr);
    ASSERT_NE(ports_.api_keys, nullptr);
    ASSERT_TRUE(spaces().create_key_space(key_space("live", "sk_live")).has_value());
    ASSERT_TRUE(spaces().create_key_space(key_space("test", "sk_test")).has_value());
  }

  apikeys::KeySpaceStore& spaces() { return *ports_.key_spaces; }
  apikeys::ApiKeyStore& keys() { return *ports_.api_keys; }

  // Creates keys k000..k<n-1> in `space` for `owner`, digests unique across calls.
  void create_many(int n, const std::string& space, const std::string& owner,
                   const std::string& id_prefix = "k") {
    for (int i = 0; i < n; ++i) {
      char id[32];
      std::snprintf(id, sizeof id, "%03d", i);
      apikeys::ApiKey k = minimal_api_key(id_prefix + id, space, 'd');
      k.digest = digest_for(k.id);
      k.owner = owner;
      auto created = keys().create_api_key(k);
      ASSERT_TRUE(created.has_value()) << created.error().message;
    }
  }

  // A distinct 32-byte digest per id.
  static std::string digest_for(const std::string& id) {
    std::string d(32, '\0');
    for (std::size_t i = 0; i < id.size(); ++i) d[i % 32] = static_cast<char>(d[i % 32] ^ id[i]);
    d[31] = static_cast<char>(id.size());
    return d;
  }

  Ports ports_;
};

TEST_P(ApiKeyConformance, KeySpacesRoundTripInIdOrder) {
  auto all = spaces().list_key_spaces();
  ASSERT_TRUE(all.has_value()) << all.error().message;
  ASSERT_EQ(all->size(), 2u);
  expect_same(key_space("live", "sk_live"), (*all)[0]);
  expect_same(key_space("test", "sk_test"), (*all)[1]);
  auto one = spaces().get_key_space("test");
  ASSERT_TRUE(one.has_value()) << one.error().message;
  expect_same(key_space("test", "sk_test"), *one);
}

TEST_P(ApiKeyConformance, DuplicateKeySpaceIdOrPrefixIsAlreadyExists) {
  auto same_id = spaces().create_key_space(key_space("live", "pk_other"));
  ASSERT_FALSE(same_id.has_value());
  EXPECT_EQ(same_id.error().code, Code::kAlreadyExists);
  auto same_prefix = spaces().create_key_space(key_space("other", "sk_live"));
  ASSERT_FALSE(same_prefix.has_value());
  EXPECT_EQ(same_prefix.error().code, Code::kAlreadyExists);
  auto all = spaces().list_key_spaces();
  ASSERT_TRUE(all.has_value());
  EXPECT_EQ(all->size(), 2u);
}

TEST_P(ApiKeyConformance, MissingKeySpaceIsNotFound) {
  auto got = spaces().get_key_space("nope");
  ASSERT_FALSE(got.has_value());
  EXPECT_EQ(got.error().code, Code::kNotFound);
}

// ---- API keys ----

TEST_P(ApiKeyConformance, ApiKeyRoundTripKeepsEveryField) {
  const apikeys::ApiKey k = full_api_key("key_full", "live", '\x01');
  auto created = keys().create_api_key(k);
  ASSERT_TRUE(created.has_value()) << created.error().message;
  auto got = keys().get_api_key("key_full");
  ASSERT_TRUE(got.has_value()) << got.error().message;
  expect_same(k, *got);
}

TEST_P(ApiKeyConformance, ApiKeyWithoutOptionalFieldsRoundTrips) {
  const apikeys::ApiKey k = minimal_api_key("key_min", "live", '\x02');
  ASSERT_TRUE(keys().create_api_key(k).has_value());
  auto got = keys().get_api_key("key_min");
  ASSERT_TRUE(got.has_value()) << got.error().message;
  expect_same(k, *got);
  EXPECT_EQ(got->status, apikeys::KeyStatus::kActive);
  EXPECT_EQ(got->metadata, "{}");
  EXPECT_TRUE(got->scopes.empty());
  EXPECT_FALSE(got->expires_at.has_value());
  EXPECT_FALSE(got->remaining.has_value());
  EXPECT_FALSE(got->rate_limit.has_value());
  EXPECT_FALSE(got->rotated_from.has_value());
  EXPECT_FALSE(got->grace_until.has_value());
  EXPECT_FALSE(got->last_used_at.has_value());
}

TEST_P(ApiKeyConformance, ZeroCreditsAreNotUnlimited) {
  apikeys::ApiKey k = minimal_api_key("key_zero", "live", '\x03');
  k.remaining = 0;
  ASSERT_TRUE(keys().create_api_key(k).has_value());
  auto got = keys().get_api_key("key_zero");
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->remaining, std::optional<std::int64_t>(0));
}

TEST_P(ApiKeyConformance, DuplicateIdOrDigestIsAlreadyExists) {
  ASSERT_TRUE(keys().create_api_key(minimal_api_key("key_a", "live", 'a')).has_value());
  auto same_id = keys().create_api_key(full_api_key("key_a", "live", 'b'));
  ASSERT_FALSE(same_id.has_value());
  EXPECT_EQ(same_id.error().code, Code::kAlreadyExists);
  // The same digest in another key space is a duplicate too: lookup is by digest alone.
  auto same_digest = keys().create_api_key(minimal_api_key("key_b", "test", 'a'));
  ASSERT_FALSE(same_digest.has_value());
  EXPECT_EQ(same_digest.error().code, Code::kAlreadyExists);
  auto first = keys().get_api_key("key_a");
  ASSERT_TRUE(first.has_value());
  expect_same(minimal_api_key("key_a", "live", 'a'), *first);
  auto second = keys().get_api_key("key_b");
  ASSERT_FALSE(second.has_value());
  EXPECT_EQ(second.error().code, Code::kNotFound);
}

TEST_P(ApiKeyConformance, UnknownKeySpaceIsNotFound) {
  auto r = keys().create_api_key(minimal_api_key("key_x", "nowhere", 'x'));
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, Code::kNotFound);
  auto got = keys().get_api_key("key_x");
  ASSERT_FALSE(got.has_value());
  EXPECT_EQ(got.error().code, Code::kNotFound);
}

TEST_P(ApiKeyConformance, InvalidApiKeyIsRefused) {
  std::vector<apikeys::ApiKey> bad;
  bad.push_back(minimal_api_key("", "live", '1'));
  bad.push_back(minimal_api_key("key_short", "live", '2'));
  bad.back().digest = "too short";
  bad.push_back(minimal_api_key("key_meta", "live", '3'));
  bad.back().metadata = "[1, 2]";
  bad.push_back(minimal_api_key("key_json", "live", '4'));
  bad.back().metadata = "{not json";
  bad.push_back(minimal_api_key("key_neg", "live", '5'));
  bad.back().remaining = -1;
  bad.push_back(minimal_api_key("key_rate", "live", '6'));
  bad.back().rate_limit = apikeys::RateLimit{0, Seconds(60)};
  bad.push_back(minimal_api_key("key_window", "live", '7'));
  bad.back().rate_limit = apikeys::RateLimit{10, Seconds(0)};
  bad.push_back(minimal_api_key("key_utf8", "live", '8'));
  bad.back().scopes = {"\xff\xfe"};
  bad.push_back(minimal_api_key("key_owner", "live", '9'));
  bad.back().owner.clear();
  for (const auto& k : bad) {
    auto r = keys().create_api_key(k);
    ASSERT_FALSE(r.has_value()) << k.id;
    EXPECT_EQ(r.error().code, Code::kInvalidArgument) << k.id << ": " << r.error().message;
  }
  auto none = keys().list_api_keys(page_query("live"));
  ASSERT_TRUE(none.has_value());
  EXPECT_TRUE(none->empty());
}

TEST_P(ApiKeyConformance, ListPagesByIdWithinOneSpace) {
  create_many(25, "live", "alice");
  create_many(3, "test", "alice", "t");
  std::vector<std::string> seen;
  apikeys::ApiKeyQuery query = page_query("live", std::nullopt, "", 10);
  std::vector<std::size_t> page_sizes;
  while (true) {
    auto page = keys().list_api_keys(query);
    ASSERT_TRUE(page.has_value()) << page.error().message;
    if (page->empty()) break;
    page_sizes.push_back(page->size());
    for (const auto& k : *page) {
      EXPECT_EQ(k.key_space, "live");
      seen.push_back(k.id);
    }
    query.after_id = page->back().id;
  }
  EXPECT_EQ(page_sizes, (std::vector<std::size_t>{10, 10, 5}));
  ASSERT_EQ(seen.size(), 25u);
  EXPECT_TRUE(std::is_sorted(seen.begin(), seen.end()));
  EXPECT_EQ(seen.front(), "k000");
  EXPECT_EQ(seen.back(), "k024");

  auto other = keys().list_api_keys(page_query("test"));
  ASSERT_TRUE(other.has_value());
  EXPECT_EQ(key_ids(*other), (std::vector<std::string>{"t000", "t001", "t002"}));
  auto unknown = keys().list_api_keys(page_query("nowhere"));
  ASSERT_TRUE(unknown.has_value());
  EXPECT_TRUE(unknown->empty());
}

TEST_P(ApiKeyConformance, ListFiltersByOwner) {
  create_many(4, "live", "alice", "a");
  create_many(3, "live", "bob", "b");
  create_many(2, "test", "bob", "t");
  auto bob = keys().list_api_keys(page_query("live", "bob"));
  ASSERT_TRUE(bob.has_value()) << bob.error().message;
  EXPECT_EQ(key_ids(*bob), (std::vector<std::string>{"b000", "b001", "b002"}));

  auto page = keys().list_api_keys(page_query("live", "alice", "", 3));
  ASSERT_TRUE(page.has_value());
  EXPECT_EQ(key_ids(*page), (std::vector<std::string>{"a000", "a001", "a002"}));
  page = keys().list_api_keys(page_query("live", "alice", "a002", 3));
  ASSERT_TRUE(page.has_value());
  EXPECT_EQ(key_ids(*page), (std::vector<std::string>{"a003"}));

  auto nobody = keys().list_api_keys(page_query("live", "carol"));
  ASSERT_TRUE(nobody.has_value());
  EXPECT_TRUE(nobody->empty());
  auto wildcard = keys().list_api_keys(page_query("live", "%"));
  ASSERT_TRUE(wildcard.has_value());
  EXPECT_TRUE(wildcard->empty());
}

TEST_P(ApiKeyConformance, ListLimitIsOneToAThousand) {
  create_many(2, "live", "alice");
  for (std::size_t limit : {std::size_t{0}, std::size_t{1001}}) {
    auto r = keys().list_api_keys(page_query("live", std::nullopt, "", limit));
    ASSERT_FALSE(r.has_value()) << limit;
    EXPECT_EQ(r.error().code, Code::kInvalidArgument);
  }
  auto one = keys().list_api_keys(page_query("live", std::nullopt, "", 1));
  ASSERT_TRUE(one.has_value());
  EXPECT_EQ(one->size(), 1u);
  auto most = keys().list_api_keys(page_query("live", std::nullopt, "", 1000));
  ASSERT_TRUE(most.has_value());
  EXPECT_EQ(most->size(), 2u);
  auto no_space = keys().list_api_keys(page_query(""));
  ASSERT_FALSE(no_space.has_value());
  EXPECT_EQ(no_space.error().code, Code::kInvalidArgument);
}

TEST_P(ApiKeyConformance, UpdateReplacesEverythingButIdentityAndCredits) {
  const apikeys::ApiKey original = minimal_api_key("key_u", "live", 'u');
  ASSERT_TRUE(keys().create_api_key(original).has_value());

  // Every mutable field from the full key; the identity fields and the credits
  // deliberately differ and must be ignored.
  apikeys::ApiKey changed = full_api_key("key_u", "test", 'z');
  changed.created_at = at(1'600'000'000);
  ASSERT_TRUE(changed.remaining.has_value());
  ASSERT_TRUE(keys().update_api_key(changed).has_value());
  auto got = keys().get_api_key("key_u");
  ASSERT_TRUE(got.has_value()) << got.error().message;
  apikeys::ApiKey want = changed;
  want.key_space = original.key_space;
  want.digest = original.digest;
  want.created_at = original.created_at;
  want.remaining = original.remaining;
  expect_same(want, *got);

  // And back: optional fields cleared (credits too, through set_remaining).
  apikeys::ApiKey cleared = original;
  cleared.updated_at = at(1'700'000'900);
  ASSERT_TRUE(keys().update_api_key(cleared).has_value());
  got = keys().get_api_key("key_u");
  ASSERT_TRUE(got.has_value());
  expect_same(cleared, *got);

  auto missing = keys().update_api_key(minimal_api_key("key_none", "live", 'n'));
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().code, Code::kNotFound);
}

TEST_P(ApiKeyConformance, SetRemainingAndUpdateDoNotRaceCredits) {
  apikeys::ApiKey key = minimal_api_key("key_c", "live", 'c');
  key.remaining = 5;
  ASSERT_TRUE(keys().create_api_key(key).has_value());
  ASSERT_EQ(keys().consume_credit("key_c").value_or(-1), 4);
  // A change made from a record read before that credit was taken keeps the credit taken.
  key.name = "renamed";
  ASSERT_TRUE(keys().update_api_key(key).has_value());
  EXPECT_EQ(keys().get_api_key("key_c")->remaining, 4);
  EXPECT_EQ(keys().get_api_key("key_c")->name, "renamed");
  ASSERT_TRUE(keys().set_remaining("key_c", 10).has_value());
  EXPECT_EQ(keys().get_api_key("key_c")->remaining, 10);
  ASSERT_TRUE(keys().set_remaining("key_c", std::nullopt).has_value());
  EXPECT_FALSE(keys().get_api_key("key_c")->remaining.has_value());
  EXPECT_EQ(keys().set_remaining("key_c", -1).error().code, Code::kInvalidArgument);
  EXPECT_EQ(keys().set_remaining("key_none", 1).error().code, Code::kNotFound);
}

TEST_P(ApiKeyConformance, RotateCreatesNewAndUpdatesOld) {
  apikeys::ApiKey old_key = full_api_key("key_old", "live", 'o');
  old_key.status = apikeys::KeyStatus::kActive;
  old_key.grace_until.reset();
  ASSERT_TRUE(keys().create_api_key(old_key).has_value());

  apikeys::ApiKey new_key = full_api_key("key_new", "live", 'n');
  new_key.status = apikeys::KeyStatus::kActive;
  new_key.rotated_from = "key_old";
  new_key.grace_until.reset();
  old_key.grace_until = at(1'700'003'600);
  old_key.updated_at = at(1'700'000'500);
  auto rotated = keys().rotate_api_key(old_key, new_key);
  ASSERT_TRUE(rotated.has_value()) << rotated.error().message;

  auto got_old = keys().get_api_key("key_old");
  ASSERT_TRUE(got_old.has_value());
  expect_same(old_key, *got_old);
  auto got_new = keys().get_api_key("key_new");
  ASSERT_TRUE(got_new.has_value());
  expect_same(new_key, *got_new);
}

TEST_P(ApiKeyConformance, RotateIsAtomic) {
  const apikeys::ApiKey old_key = minimal_api_key("key_old", "live", 'o');
  ASSERT_TRUE(keys().create_api_key(old_key).has_value());
  ASSERT_TRUE(keys().create_api_key(minimal_api_key("key_other", "live", 'c')).has_value());

  apikeys::ApiKey graced = old_key;
  graced.grace_until = at(1'700'003'600);
  graced.updated_at = at(1'700'000'500);

  // The new key's digest collides with another key's: nothing changes.
  apikeys::ApiKey colliding = minimal_api_key("key_new", "live", 'c');
  auto r = keys().rotate_api_key(graced, colliding);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, Code::kAlreadyExists);
  auto got_old = keys().get_api_key("key_old");
  ASSERT_TRUE(got_old.has_value());
  expect_same(old_key, *got_old);
  auto got_new = keys().get_api_key("key_new");
  ASSERT_FALSE(got_new.has_value());
  EXPECT_EQ(got_new.error().code, Code::kNotFound);

  // The old key does not exist: the new one is not created either.
  apikeys::ApiKey ghost = minimal_api_key("key_ghost", "live", 'g');
  r = keys().rotate_api_key(ghost, minimal_api_key("key_new", "live", 'n'));
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, Code::kNotFound);
  got_new = keys().get_api_key("key_new");
  ASSERT_FALSE(got_new.has_value());
  EXPECT_EQ(got_new.error().code, Code::kNotFound);
}

TEST_P(ApiKeyConformance, ConsumeCreditDownToZero) {
  apikeys::ApiKey k = minimal_api_key("key_c", "live", 'c');
  k.remaining = 3;
  ASSERT_TRUE(keys().create_api_key(k).has_value());
  for (std::int64_t want : {2, 1, 0}) {
    auto left = keys().consume_credit("key_c");
    ASSERT_TRUE(left.has_value()) << left.error().message;
    EXPECT_EQ(*left, want);
  }
  for (int i = 0; i < 2; ++i) {
    auto none = keys().consume_credit("key_c");
    ASSERT_FALSE(none.has_value());
    EXPECT_EQ(none.error().code, Code::kResourceExhausted);
  }
  auto got = keys().get_api_key("key_c");
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->remaining, std::optional<std::int64_t>(0));
  EXPECT_EQ(got->updated_at, k.updated_at);
}

TEST_P(ApiKeyConformance, ConsumeCreditUnlimitedAndUnknown) {
  ASSERT_TRUE(keys().create_api_key(minimal_api_key("key_u", "live", 'u')).has_value());
  auto unlimited = keys().consume_credit("key_u");
  ASSERT_FALSE(unlimited.has_value());
  EXPECT_EQ(unlimited.error().code, Code::kFailedPrecondition);
  auto got = keys().get_api_key("key_u");
  ASSERT_TRUE(got.has_value());
  EXPECT_FALSE(got->remaining.has_value());

  auto unknown = keys().consume_credit("key_nobody");
  ASSERT_FALSE(unknown.has_value());
  EXPECT_EQ(unknown.error().code, Code::kNotFound);
}

TEST_P(ApiKeyConformance, ConcurrentConsumeTakesEachCreditOnce) {
  constexpr int kThreads = 8;
  constexpr std::int64_t kCredits = 100;
  apikeys::ApiKey k = minimal_api_key("key_c", "live", 'c');
  k.remaining = kCredits;
  ASSERT_TRUE(keys().create_api_key(k).has_value());

  std::vector<std::vector<std::int64_t>> taken(kThreads);
  std::vector<int> other_errors(kThreads, 0);
  std::atomic<bool> go{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      while (!go.load()) std::this_thread::yield();
      while (true) {
        auto left = keys().consume_credit("key_c");
        if (left) {
          taken[t].push_back(*left);
        } else {
          if (left.error().code != Code::kResourceExhausted) ++other_errors[t];
          break;
        }
      }
    });
  }
  go.store(true);
  for (auto& th : threads) th.join();

  EXPECT_EQ(other_errors, std::vector<int>(kThreads, 0));
  std::vector<std::int64_t> all;
  for (const auto& v : taken) all.insert(all.end(), v.begin(), v.end());
  std::sort(all.begin(), all.end());
  // Exactly 100 successes, and each answer (credits left) seen once: 0..99.
  ASSERT_EQ(all.size(), static_cast<std::size_t>(kCredits));
  for (std::int64_t i = 0; i < kCredits; ++i) EXPECT_EQ(all[i], i);
  auto got = keys().get_api_key("key_c");
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->remaining, std::optional<std::int64_t>(0));
}

TEST_P(ApiKeyConformance, RecordLastUsedInOneBatch) {
  ASSERT_TRUE(keys().create_api_key(minimal_api_key("key_a", "live", 'a')).has_value());
  ASSERT_TRUE(keys().create_api_key(minimal_api_key("key_b", "live", 'b')).has_value());
  ASSERT_TRUE(keys().create_api_key(minimal_api_key("key_c", "live", 'c')).has_value());
  auto r = keys().record_last_used({{"key_a", at(1'700'000'100)},
                                    {"key_b", at(1'700'000'200)},
                                    {"key_nobody", at(1'700'000'300)}});
  ASSERT_TRUE(r.has_value()) << r.error().message;
  auto a = keys().get_api_key("key_a");
  auto b = keys().get_api_key("key_b");
  auto c = keys().get_api_key("key_c");
  ASSERT_TRUE(a && b && c);
  EXPECT_EQ(a->last_used_at, std::optional<TimePoint>(at(1'700'000'100)));
  EXPECT_EQ(b->last_used_at, std::optional<TimePoint>(at(1'700'000'200)));
  EXPECT_FALSE(c->last_used_at.has_value());
  EXPECT_EQ(a->updated_at, at(1'700'000'000));

  // A later batch moves the time forward, never back.
  r = keys().record_last_used({{"key_a", at(1'700'000'050)}, {"key_b", at(1'700'000'900)}});
  ASSERT_TRUE(r.has_value());
  a = keys().get_api_key("key_a");
  b = keys().get_api_key("key_b");
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->last_used_at, std::optional<TimePoint>(at(1'700'000'100)));
  EXPECT_EQ(b->last_used_at, std::optional<TimePoint>(at(1'700'000'900)));

  EXPECT_TRUE(keys().record_last_used({}).has_value());
}

TEST_P(ApiKeyConformance, RevokeOwnerKeysOnlyThatOwnerInThatSpace) {
  auto make = [&](std::string id, std::string space, std::string owner, char fill,
                  apikeys::KeyStatus status) {
    apikeys::ApiKey k = minimal_api_key(std::move(id), std::move(space), fill);
    k.owner = std::move(owner);
    k.status = status;
    auto created = keys().create_api_key(k);
    ASSERT_TRUE(created.has_value()) << created.error().message;
  };
  make("key_1", "live", "alice", '1', apikeys::KeyStatus::kActive);
  make("key_2", "live", "alice", '2', apikeys::KeyStatus::kDisabled);
  make("key_3", "live", "alice", '3', apikeys::KeyStatus::kRevoked);
  make("key_4", "live", "bob", '4', apikeys::KeyStatus::kActive);
  make("key_5", "test", "alice", '5', apikeys::KeyStatus::kActive);

  const TimePoint now = at(1'700'005'000);
  auto revoked = keys().revoke_owner_keys("live", "alice", now);
  ASSERT_TRUE(revoked.has_value()) << revoked.error().message;
  EXPECT_EQ(*revoked, (std::vector<std::string>{"key_1", "key_2"}));

  for (const char* id : {"key_1", "key_2"}) {
    auto k = keys().get_api_key(id);
    ASSERT_TRUE(k.has_value());
    EXPECT_EQ(k->status, apikeys::KeyStatus::kRevoked) << id;
    EXPECT_EQ(k->updated_at, now) << id;
  }
  auto already = keys().get_api_key("key_3");
  ASSERT_TRUE(already.has_value());
  EXPECT_EQ(already->updated_at, at(1'700'000'000));  // was revoked before: untouched
  for (const char* id : {"key_4", "key_5"}) {
    auto k = keys().get_api_key(id);
    ASSERT_TRUE(k.has_value());
    EXPECT_EQ(k->status, apikeys::KeyStatus::kActive) << id;
  }

  auto again = keys().revoke_owner_keys("live", "alice", now);
  ASSERT_TRUE(again.has_value());
  EXPECT_TRUE(again->empty());
}

TEST_P(ApiKeyConformance, ForEachVisitsEveryKeyOfEverySpace) {
  create_many(30, "live", "alice");
  create_many(20, "test", "bob", "t");
  std::vector<std::string> seen;
  auto r = keys().for_each_api_key([&](apikeys::ApiKey&& k) {
    EXPECT_EQ(k.digest, digest_for(k.id));
    seen.push_back(std::move(k.id));
    return true;
  });
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(seen.size(), 50u);
  std::sort(seen.begin(), seen.end());
  EXPECT_EQ(std::adjacent_find(seen.begin(), seen.end()), seen.end());
}

TEST_P(ApiKeyConformance, ForEachStopsWhenAsked) {
  create_many(30, "live", "alice");
  int visits = 0;
  auto r = keys().for_each_api_key([&](apikeys::ApiKey&&) { return ++visits < 5; });
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(visits, 5);

  // The store is usable afterwards, and a new walk starts from the beginning.
  ASSERT_TRUE(keys().create_api_key(minimal_api_key("z_last", "live", 'L')).has_value());
  visits = 0;
  r = keys().for_each_api_key([&](apikeys::ApiKey&&) { return ++visits > 0; });
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(visits, 31);
}

TEST_P(ApiKeyConformance, ForEachOnAnEmptyStoreVisitsNothing) {
  int visits = 0;
  auto r = keys().for_each_api_key([&](apikeys::ApiKey&&) { return ++visits > 0; });
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(visits, 0);
}

// ---- the certificate authority ----

inline ca::CaKeyRecord ca_root(std::string id, std::int64_t created_at) {
  ca::CaKeyRecord k;
  k.id = std::move(id);
  k.kind = ca::CaKeyKind::kRoot;
  k.certificate_pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
  k.sealed_private_key = std::string("\x00\x01sealed root\xfe\xff", 15);
  k.created_at = at(created_at);
  k.activates_at = at(created_at);
  k.not_after = at(created_at + 10 * 365 * 86400);
  return k;
}

inline ca::CaKeyRecord ca_intermediate(std::string id, std::string parent,
                                       std::int64_t created_at) {
  ca::CaKeyRecord k;
  k.id = std::move(id);
  k.kind = ca::CaKeyKind::kIntermediate;
  k.certificate_pem = "-----BEGIN CERTIFICATE-----\nMIIC\n-----END CERTIFICATE-----\n";
  k.sealed_private_key = std::string("\x00sealed intermediate\x00", 22);
  k.parent_id = std::move(parent);
  k.created_at = at(created_at);
  k.activates_at = at(created_at + 1);
  k.not_after = at(created_at + 365 * 86400);
  return k;
}

inline void expect_same(const ca::CaKeyRecord& want, const ca::CaKeyRecord& got) {
  EXPECT_EQ(want.id, got.id);
  EXPECT_EQ(want.kind, got.kind);
  EXPECT_EQ(want.certificate_pem, got.certificate_pem);
  EXPECT_EQ(want.sealed_private_key, got.sealed_private_key);
  EXPECT_EQ(want.parent_id, got.parent_id);
  EXPECT_EQ(want.created_at, got.created_at);
  EXPECT_EQ(want.activates_at, got.activates_at);
  EXPECT_EQ(want.not_after, got.not_after);
}

// A serial of 32 hex digits ending in `last`.
inline std::string serial_hex(char last) {
  std::string s(32, '4');
  s.back() = last;
  return s;
}

inline ca::CertificateRecord issued_certificate(char last, std::string spiffe_id,
                                                std::int64_t issued_at) {
  ca::CertificateRecord c;
  c.serial_hex = serial_hex(last);
  c.spiffe_id = std::move(spiffe_id);
  c.subject = "payments \"svc\"\n\xc3\xa9";
  c.dns_names = {"payments.prod.svc", "payments"};
  c.fingerprint_hex = std::string(63, 'a') + last;
  c.issuer_id = "int-0123456789abcdef";
  c.not_before = at(issued_at);
  c.not_after = at(issued_at + 3600);
  c.issued_at = at(issued_at);
  return c;
}

inline void expect_same(const ca::CertificateRecord& want, const ca::CertificateRecord& got) {
  EXPECT_EQ(want.serial_hex, got.serial_hex);
  EXPECT_EQ(want.spiffe_id, got.spiffe_id);
  EXPECT_EQ(want.subject, got.subject);
  EXPECT_EQ(want.dns_names, got.dns_names);
  EXPECT_EQ(want.fingerprint_hex, got.fingerprint_hex);
  EXPECT_EQ(want.issuer_id, got.issuer_id);
  EXPECT_EQ(want.not_before, got.not_before);
  EXPECT_EQ(want.not_after, got.not_after);
  EXPECT_EQ(want.issued_at, got.issued_at);
}

class CaConformance : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    auto opened = GetParam().open_fresh();
    ASSERT_TRUE(opened.has_value()) << opened.error().message;
    ports_ = std::move(*opened);
    ASSERT_NE(ports_.ca_keys, nullptr);
    ASSERT_NE(ports_.certificates, nullptr);
    ASSERT_NE(ports_.settings, nullptr);
  }

  ca::CaStore& cas() { return *ports_.ca_keys; }
  ca::CertificateStore& certificates() { return *ports_.certificates; }
  oauth::SettingStore& settings() { return *ports_.settings; }

  std::vector<std::string> key_ids() {
    std::vector<std::string> out;
    auto all = cas().list_ca_keys();
    EXPECT_TRUE(all.has_value()) << all.error().message;
    if (all) {
      for (const auto& k : *all) out.push_back(k.id);
    }
    return out;
  }

  std::vector<std::string> serials(std::optional<std::string_view> spiffe_id,
                                   std::size_t limit = 100) {
    std::vector<std::string> out;
    auto all = certificates().list_certificates(spiffe_id, limit);
    EXPECT_TRUE(all.has_value()) << all.error().message;
    if (all) {
      for (const auto& c : *all) out.push_back(c.serial_hex);
    }
    return out;
  }

  Ports ports_;
};

TEST_P(CaConformance, FreshStoreHasNoTrustDomainAndNoKeys) {
  auto td = cas().get_trust_domain();
  ASSERT_TRUE(td.has_value()) << td.error().message;
  EXPECT_FALSE(td->has_value());
  EXPECT_TRUE(key_ids().empty());
}

TEST_P(CaConformance, InitialiseStoresTheTrustDomainAndEveryKey) {
  const ca::CaKeyRecord root = ca_root("root-1", 1'700'000'000);
  const ca::CaKeyRecord inter = ca_intermediate("int-1", "root-1", 1'700'000'000);
  auto done = cas().initialise_ca("example.org", {root, inter});
  ASSERT_TRUE(done.has_value()) << done.error().message;
  auto td = cas().get_trust_domain();
  ASSERT_TRUE(td.has_value() && td->has_value());
  EXPECT_EQ(**td, "example.org");
  // The trust domain is the installation's setting "trust_domain".
  auto setting = settings().get_setting("trust_domain");
  ASSERT_TRUE(setting.has_value() && setting->has_value());
  EXPECT_EQ(**setting, "example.org");

  auto all = cas().list_ca_keys();
  ASSERT_TRUE(all.has_value()) << all.error().message;
  ASSERT_EQ(all->size(), 2u);
  // Same created_at: by id.
  expect_same(inter, (*all)[0]);
  expect_same(root, (*all)[1]);
}

TEST_P(CaConformance, InitialiseTwiceIsAlreadyExistsAndWritesNothing) {
  ASSERT_TRUE(cas().initialise_ca("example.org", {ca_root("root-1", 1'700'000'000)}).has_value());
  auto again = cas().initialise_ca("other.org", {ca_root("root-2", 1'700'000'100)});
  ASSERT_FALSE(again.has_value());
  EXPECT_EQ(again.error().code, Code::kAlreadyExists);
  auto td = cas().get_trust_domain();
  ASSERT_TRUE(td.has_value() && td->has_value());
  EXPECT_EQ(**td, "example.org");
  EXPECT_EQ(key_ids(), std::vector<std::string>{"root-1"});
}

TEST_P(CaConformance, InitialiseIsAllOrNothing) {
  // The second record repeats the first's id: nothing at all is written.
  auto r = cas().initialise_ca("example.org", {ca_root("root-1", 1'700'000'000),
                                               ca_intermediate("root-1", "", 1'700'000'000)});
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, Code::kAlreadyExists);
  auto td = cas().get_trust_domain();
  ASSERT_TRUE(td.has_value());
  EXPECT_FALSE(td->has_value());
  EXPECT_TRUE(key_ids().empty());

  // An invalid record likewise.
  ca::CaKeyRecord no_id = ca_root("", 1'700'000'000);
  r = cas().initialise_ca("example.org", {ca_root("root-1", 1'700'000'000), no_id});
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, Code::kInvalidArgument);
  td = cas().get_trust_domain();
  ASSERT_TRUE(td.has_value());
  EXPECT_FALSE(td->has_value());
  EXPECT_TRUE(key_ids().empty());

  // And then it works.
  ASSERT_TRUE(cas().initialise_ca("example.org", {ca_root("root-1", 1'700'000'000)}).has_value());
}

TEST_P(CaConformance, InitialiseWithOnlyAPendingIntermediate) {
  ca::CaKeyRecord pending = ca_intermediate("int-p", "", 1'700'000'000);
  pending.certificate_pem.clear();
  pending.not_after = pending.created_at;
  ASSERT_TRUE(cas().initialise_ca("example.org", {pending}).has_value());
  auto all = cas().list_ca_keys();
  ASSERT_TRUE(all.has_value());
  ASSERT_EQ(all->size(), 1u);
  expect_same(pending, (*all)[0]);
}

TEST_P(CaConformance, CreateUpdateAndList) {
  ASSERT_TRUE(cas().initialise_ca("example.org", {ca_root("root-1", 1'700'000'000)}).has_value());
  ca::CaKeyRecord pending = ca_intermediate("int-b", "", 1'700'000'200);
  pending.certificate_pem.clear();
  ASSERT_TRUE(cas().create_ca_key(pending).has_value());
  ca::CaKeyRecord external = ca_root("root-0", 1'700'000'300);
  external.sealed_private_key.clear();  // an external root: no key
  ASSERT_TRUE(cas().create_ca_key(external).has_value());
  ASSERT_TRUE(cas().create_ca_key(ca_intermediate("int-a", "root-1", 1'700'000'100)).has_value());
  EXPECT_EQ(key_ids(), (std::vector<std::string>{"root-1", "int-a", "int-b", "root-0"}));

  // The pending one gets its certificate.
  ca::CaKeyRecord completed = pending;
  completed.certificate_pem = "-----BEGIN CERTIFICATE-----\nMIID\n-----END CERTIFICATE-----\n";
  completed.parent_id = "root-0";
  completed.activates_at = at(1'700'000'400);
  completed.not_after = at(1'800'000'000);
  ASSERT_TRUE(cas().update_ca_key(completed).has_value());
  auto all = cas().list_ca_keys();
  ASSERT_TRUE(all.has_value());
  ASSERT_EQ(all->size(), 4u);
  expect_same(completed, (*all)[2]);
  expect_same(external, (*all)[3]);
}

TEST_P(CaConformance, ImportWritesTheRootAndTheIntermediateTogether) {
  ca::CaKeyRecord pending = ca_intermediate("int-p", "", 1'700'000'100);
  pending.certificate_pem.clear();
  ASSERT_TRUE(cas().initialise_ca("example.org", {pending}).has_value());
  ca::CaKeyRecord root = ca_root("root-x", 1'700'000'200);
  root.sealed_private_key.clear();  // external
  ca::CaKeyRecord completed = ca_intermediate("int-p", "root-x", 1'700'000'100);

  // An intermediate that is not stored: the root is not written either.
  ca::CaKeyRecord missing = ca_intermediate("int-missing", "root-x", 1'700'000'100);
  auto failed = cas().import_ca_keys(root, missing);
  ASSERT_FALSE(failed.has_value());
  EXPECT_EQ(failed.error().code, Code::kNotFound);
  EXPECT_EQ(key_ids(), std::vector<std::string>{"int-p"});

  ASSERT_TRUE(cas().import_ca_keys(root, completed).has_value());
  auto all = cas().list_ca_keys();
  ASSERT_TRUE(all.has_value());
  ASSERT_EQ(all->size(), 2u);
  expect_same(completed, (*all)[0]);
  expect_same(root, (*all)[1]);

  // A root stored already: only the intermediate changes; a duplicate root writes nothing.
  completed.not_after = at(1'900'000'000);
  ASSERT_TRUE(cas().import_ca_keys(std::nullopt, completed).has_value());
  completed.not_after = at(1'950'000'000);
  auto duplicate = cas().import_ca_keys(root, completed);
  ASSERT_FALSE(duplicate.has_value());
  EXPECT_EQ(duplicate.error().code, Code::kAlreadyExists);
  all = cas().list_ca_keys();
  ASSERT_TRUE(all.has_value());
  EXPECT_EQ((*all)[0].not_after, at(1'900'000'000));
}

TEST_P(CaConformance, DuplicateKeyIsAlreadyExists) {
  ASSERT_TRUE(cas().create_ca_key(ca_root("root-1", 1'700'000'000)).has_value());
  auto again = cas().create_ca_key(ca_intermediate("root-1", "", 1'700'000'100));
  ASSERT_FALSE(again.has_value());
  EXPECT_EQ(again.error().code, Code::kAlreadyExists);
  auto all = cas().list_ca_keys();
  ASSERT_TRUE(all.has_value());
  ASSERT_EQ(all->size(), 1u);
  expect_same(ca_root("root-1", 1'700'000'000), (*all)[0]);
}

TEST_P(CaConformance, UpdateOfAMissingKeyIsNotFound) {
  auto r = cas().update_ca_key(ca_root("root-x", 1'700'000'000));
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, Code::kNotFound);
  EXPECT_TRUE(key_ids().empty());
}

TEST_P(CaConformance, InvalidKeysAreRefused) {
  auto refused = [&](const ca::CaKeyRecord& k, const char* why) {
    auto r = cas().create_ca_key(k);
    ASSERT_FALSE(r.has_value()) << why;
    EXPECT_EQ(r.error().code, Code::kInvalidArgument) << why;
  };
  refused(ca_root("", 1'700'000'000), "empty id");
  ca::CaKeyRecord nothing = ca_intermediate("int-1", "", 1'700'000'000);
  nothing.certificate_pem.clear();
  nothing.sealed_private_key.clear();
  refused(nothing, "neither certificate nor key");
  ca::CaKeyRecord root_without_cert = ca_root("root-1", 1'700'000'000);
  root_without_cert.certificate_pem.clear();
  refused(root_without_cert, "root without certificate");
  EXPECT_TRUE(key_ids().empty());
  // Nor by an update.
  ASSERT_TRUE(cas().create_ca_key(ca_root("root-1", 1'700'000'000)).has_value());
  auto r = cas().update_ca_key(root_without_cert);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, Code::kInvalidArgument);
}

TEST_P(CaConformance, CertificateRoundTrip) {
  const ca::CertificateRecord c = issued_certificate('1', "spiffe://example.org/a", 1'700'000'000);
  ASSERT_TRUE(certificates().record_certificate(c).has_value());
  auto got = certificates().get_certificate(c.serial_hex);
  ASSERT_TRUE(got.has_value()) << got.error().message;
  expect_same(c, *got);

  ca::CertificateRecord no_dns = issued_certificate('2', "spiffe://example.org/b", 1'700'000'000);
  no_dns.dns_names.clear();
  ASSERT_TRUE(certificates().record_certificate(no_dns).has_value());
  got = certificates().get_certificate(no_dns.serial_hex);
  ASSERT_TRUE(got.has_value());
  expect_same(no_dns, *got);
}

TEST_P(CaConformance, DuplicateSerialIsAlreadyExists) {
  const ca::CertificateRecord c = issued_certificate('1', "spiffe://example.org/a", 1'700'000'000);
  ASSERT_TRUE(certificates().record_certificate(c).has_value());
  ca::CertificateRecord other = issued_certificate('1', "spiffe://example.org/b", 1'700'000'500);
  auto r = certificates().record_certificate(other);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, Code::kAlreadyExists);
  auto got = certificates().get_certificate(c.serial_hex);
  ASSERT_TRUE(got.has_value());
  expect_same(c, *got);
}

TEST_P(CaConformance, MissingCertificateIsNotFound) {
  auto r = certificates().get_certificate(serial_hex('9'));
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, Code::kNotFound);
}

TEST_P(CaConformance, ListIsNewestFirstFilteredAndLimited) {
  EXPECT_TRUE(serials(std::nullopt).empty());
  const std::string a = "spiffe://example.org/a";
  const std::string b = "spiffe://example.org/b";
  for (const auto& c :
       {issued_certificate('1', a, 1'700'000'000), issued_certificate('2', b, 1'700'000'100),
        issued_certificate('3', a, 1'700'000'200), issued_certificate('4', a, 1'700'000'200),
        issued_certificate('5', b, 1'700'000'050)}) {
    ASSERT_TRUE(certificates().record_certificate(c).has_value());
  }
  // Newest first; the same issued_at: the greater serial first.
  EXPECT_EQ(serials(std::nullopt),
            (std::vector<std::string>{serial_hex('4'), serial_hex('3'), serial_hex('2'),
                                      serial_hex('5'), serial_hex('1')}));
  EXPECT_EQ(serials(a),
            (std::vector<std::string>{serial_hex('4'), serial_hex('3'), serial_hex('1')}));
  EXPECT_EQ(serials(b), (std::vector<std::string>{serial_hex('2'), serial_hex('5')}));
  EXPECT_EQ(serials(a, 2), (std::vector<std::string>{serial_hex('4'), serial_hex('3')}));
  EXPECT_EQ(serials(std::nullopt, 1), std::vector<std::string>{serial_hex('4')});
  EXPECT_TRUE(serials(std::string_view("spiffe://example.org/nobody")).empty());
  // The filter is exact.
  EXPECT_TRUE(serials(std::string_view("spiffe://example.org/%")).empty());
}

TEST_P(CaConformance, InvalidCertificatesAreRefused) {
  auto refused = [&](const ca::CertificateRecord& c, const char* why) {
    auto r = certificates().record_certificate(c);
    ASSERT_FALSE(r.has_value()) << why;
    EXPECT_EQ(r.error().code, Code::kInvalidArgument) << why;
  };
  ca::CertificateRecord c = issued_certificate('1', "spiffe://example.org/a", 1'700'000'000);
  c.serial_hex = "abc";
  refused(c, "short serial");
  c.serial_hex = std::string(32, 'A');
  refused(c, "upper-case serial");
  c = issued_certificate('1', "spiffe://example.org/a", 1'700'000'000);
  c.fingerprint_hex = std::string(64, 'g');
  refused(c, "fingerprint not hex");
  c = issued_certificate('1', "spiffe://example.org/a", 1'700'000'000);
  c.dns_names = {"\xff"};
  refused(c, "DNS name not UTF-8");
  EXPECT_TRUE(serials(std::nullopt).empty());

  for (std::size_t limit : {std::size_t{0}, std::size_t{1001}}) {
    auto r = certificates().list_certificates(std::nullopt, limit);
    ASSERT_FALSE(r.has_value()) << limit;
    EXPECT_EQ(r.error().code, Code::kInvalidArgument) << limit;
  }
}

}  // namespace sigil::store::conformance
