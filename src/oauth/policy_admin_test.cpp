#include "oauth/policy_admin.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "base/hex.hpp"
#include "crypto/digest.hpp"
#include "oauth/testing/memory_store.hpp"

namespace sigil::oauth {
namespace {

using testing::MemoryStore;

// Four services and two APIs. Line numbers matter to some tests: notification-worker is
// declared on line 6, the audience "analytics" on line 14 (its uri on line 15).
constexpr std::string_view kPolicyV1 = R"yaml(version: 1
services:
  - name: video-service
    attributes: {environment: prod, team: media}
    labels: [frontend]
  - name: notification-worker
    attributes: {environment: prod}
    auth_methods: [client_secret_post]
  - name: user-service
    attributes: {environment: prod}
  - name: analytics-service
    attributes: {environment: prod}
audiences:
  - name: analytics
    uri: https://analytics.example
    scopes: [analytics:read, analytics:write]
  - name: profiles
    scopes: [profile:read, profile:write]
grants:
  - caller: video-service
    audience: analytics
    scopes: [analytics:write]
  - caller: video-service
    audience: profiles
    scopes: [profile:read]
  - caller: notification-worker
    audience: profiles
    scopes: [profile:read]
)yaml";

// v1 with video-service's grants changed (analytics:read added, profiles taken away) and
// user-service removed.
constexpr std::string_view kPolicyV2 = R"yaml(version: 1
services:
  - name: video-service
    attributes: {environment: prod, team: media}
    labels: [frontend]
  - name: notification-worker
    attributes: {environment: prod}
    auth_methods: [client_secret_post]
  - name: analytics-service
    attributes: {environment: prod}
audiences:
  - name: analytics
    uri: https://analytics.example
    scopes: [analytics:read, analytics:write]
  - name: profiles
    scopes: [profile:read, profile:write]
grants:
  - caller: video-service
    audience: analytics
    scopes: [analytics:read, analytics:write]
  - caller: notification-worker
    audience: profiles
    scopes: [profile:read]
)yaml";

const TimePoint kT1 = from_unix(1'700'000'000);
const TimePoint kT2 = from_unix(1'700'003'600);
const TimePoint kT3 = from_unix(1'700'007'200);

ApplyOptions by(std::string who) {
  ApplyOptions options;
  options.applied_by = std::move(who);
  return options;
}

std::vector<std::string> service_names(const policy::CompiledPolicy& compiled) {
  std::vector<std::string> names;
  for (const auto& s : compiled.policy().services) names.push_back(s.name);
  std::sort(names.begin(), names.end());
  return names;
}

const ClientChange* find_change(const PolicyPlan& plan, std::string_view id) {
  for (const auto& c : plan.clients) {
    if (c.client_id == id) return &c;
  }
  return nullptr;
}

const SecretString* find_secret(const AppliedPolicy& applied, std::string_view id) {
  for (const auto& c : applied.credentials) {
    if (c.client_id == id) return &c.client_secret;
  }
  return nullptr;
}

// Fails commit_policy when asked, and forwards everything else to a MemoryStore: a store
// whose transaction fails after the plan was made.
class CommitFailingStore final : public PolicyStore {
 public:
  explicit CommitFailingStore(MemoryStore& inner) : inner_(inner) {}
  bool fail_commit = false;
  Result<void> commit_policy(const PolicyVersion& version, const std::vector<Client>& create,
                             const std::vector<Client>& update,
                             const std::vector<std::string>& remove) override {
    if (fail_commit) return std::unexpected(Error::unavailable("disk full"));
    return inner_.commit_policy(version, create, update, remove);
  }
  Result<std::optional<PolicyVersion>> latest_policy_version() override {
    return inner_.latest_policy_version();
  }
  Result<PolicyVersion> get_policy_version(std::int64_t version) override {
    return inner_.get_policy_version(version);
  }
  Result<std::vector<PolicyVersion>> list_policy_versions() override {
    return inner_.list_policy_versions();
  }

 private:
  MemoryStore& inner_;
};

class PolicyAdminTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto registry = ClientRegistry::load(store_);
    ASSERT_TRUE(registry.has_value());
    registry_ = std::move(*registry);
    auto admin = PolicyAdministration::load(policies_, *registry_, holder_);
    ASSERT_TRUE(admin.has_value()) << admin.error().message;
    admin_ = std::move(*admin);
  }

  AppliedPolicy apply_ok(std::string_view document, TimePoint now,
                         ApplyOptions options = by("admin")) {
    auto applied = admin_->apply(document, options, now);
    EXPECT_TRUE(applied.has_value()) << applied.error().message;
    return applied ? std::move(*applied) : AppliedPolicy{};
  }

  std::string authenticate(const std::string& id, const SecretString* secret,
                           std::string_view method = kClientSecretBasic) {
    if (secret == nullptr) return "no secret";
    auto a = registry_->authenticate(id, secret->reveal(), method, kT3);
    return a ? "ok" : a.error().reason;
  }

  Client client(std::string_view id) {
    auto c = registry_->get(id);
    EXPECT_TRUE(c.has_value()) << id;
    return c ? *c : Client{};
  }

  MemoryStore store_;
  CommitFailingStore policies_{store_};
  policy::PolicyHolder holder_;
  std::unique_ptr<ClientRegistry> registry_;
  std::unique_ptr<PolicyAdministration> admin_;
};

TEST(ClientActionTest, Names) {
  EXPECT_EQ(to_string(ClientAction::kCreate), "create");
  EXPECT_EQ(to_string(ClientAction::kUpdate), "update");
  EXPECT_EQ(to_string(ClientAction::kDisable), "disable");
  EXPECT_EQ(to_string(ClientAction::kDelete), "delete");
  EXPECT_EQ(to_string(ClientAction::kUnchanged), "unchanged");
}

TEST_F(PolicyAdminTest, NothingInForceAtFirst) {
  EXPECT_EQ(holder_.current(), nullptr);
  auto current = admin_->current();
  ASSERT_TRUE(current.has_value());
  EXPECT_FALSE(current->has_value());
  auto history = admin_->history();
  ASSERT_TRUE(history.has_value());
  EXPECT_TRUE(history->empty());
}

TEST_F(PolicyAdminTest, PlanChangesNothing) {
  auto plan = admin_->plan(kPolicyV1);
  ASSERT_TRUE(plan.has_value()) << plan.error().message;
  EXPECT_FALSE(plan->current_version.has_value());
  EXPECT_FALSE(plan->changes.empty());
  ASSERT_EQ(plan->clients.size(), 4u);
  // By client id.
  EXPECT_EQ(plan->clients[0].client_id, "analytics-service");
  EXPECT_EQ(plan->clients[1].client_id, "notification-worker");
  EXPECT_EQ(plan->clients[2].client_id, "user-service");
  EXPECT_EQ(plan->clients[3].client_id, "video-service");
  for (const auto& c : plan->clients) EXPECT_EQ(c.action, ClientAction::kCreate) << c.client_id;

  EXPECT_TRUE(registry_->list().empty());
  EXPECT_TRUE(store_.clients().empty());
  EXPECT_EQ(store_.policy_version_count(), 0u);
  EXPECT_EQ(holder_.current(), nullptr);
}

TEST_F(PolicyAdminTest, ApplyCreatesClientsWhoseSecretsAuthenticate) {
  AppliedPolicy applied = apply_ok(kPolicyV1, kT1);
  EXPECT_EQ(applied.version.version, 1);
  EXPECT_EQ(applied.version.origin, "apply");
  EXPECT_EQ(applied.version.applied_by, "admin");
  EXPECT_EQ(applied.version.applied_at, kT1);
  EXPECT_EQ(applied.version.document, kPolicyV1);
  EXPECT_EQ(applied.version.sha256_hex, hex_encode(crypto::sha256(kPolicyV1)));
  EXPECT_FALSE(applied.version.rolled_back_from.has_value());
  EXPECT_EQ(applied.plan.clients.size(), 4u);
  ASSERT_EQ(applied.credentials.size(), 4u);

  // Each secret authenticates its client, through the registry, with its methods only.
  EXPECT_EQ(authenticate("video-service", find_secret(applied, "video-service")), "ok");
  EXPECT_EQ(authenticate("video-service", find_secret(applied, "user-service")), "bad_secret");
  EXPECT_EQ(authenticate("notification-worker", find_secret(applied, "notification-worker"),
                         kClientSecretPost),
            "ok");
  EXPECT_EQ(authenticate("notification-worker", find_secret(applied, "notification-worker")),
            "auth_method_not_allowed");

  // Bounds are what the policy could ever grant: audience URIs (the name when no URI).
  const Client video = client("video-service");
  EXPECT_EQ(video.name, "video-service");
  EXPECT_EQ(video.status, ClientStatus::kActive);
  EXPECT_EQ(video.attributes,
            (std::map<std::string, std::string>{{"environment", "prod"}, {"team", "media"}}));
  EXPECT_EQ(video.allowed_audiences,
            (std::vector<std::string>{"https://analytics.example", "profiles"}));
  EXPECT_EQ(video.allowed_scopes, (std::vector<std::string>{"analytics:write", "profile:read"}));
  EXPECT_EQ(video.auth_methods,
            (std::vector<std::string>{"client_secret_basic", "client_secret_post"}));
  EXPECT_EQ(video.created_at, kT1);
  EXPECT_TRUE(client("analytics-service").allowed_scopes.empty());

  // Stored, and in force.
  EXPECT_EQ(store_.clients().size(), 4u);
  ASSERT_NE(holder_.current(), nullptr);
  EXPECT_EQ(service_names(*holder_.current()),
            (std::vector<std::string>{"analytics-service", "notification-worker", "user-service",
                                      "video-service"}));
  auto current = admin_->current();
  ASSERT_TRUE(current.has_value() && current->has_value());
  EXPECT_EQ((*current)->version, 1);
  EXPECT_EQ((*current)->document, kPolicyV1);
}

TEST_F(PolicyAdminTest, WithoutSecretsNewClientsCannotAuthenticate) {
  ApplyOptions options = by("file:/etc/sigil/sigil.yaml");
  options.origin = "file";
  options.issue_secrets = false;
  AppliedPolicy applied = apply_ok(kPolicyV1, kT1, options);
  EXPECT_TRUE(applied.credentials.empty());
  EXPECT_EQ(applied.version.origin, "file");
  EXPECT_EQ(applied.version.applied_by, "file:/etc/sigil/sigil.yaml");
  EXPECT_TRUE(client("video-service").secret.sha256.empty());
  const SecretString empty;
  EXPECT_EQ(authenticate("video-service", &empty), "bad_secret");
}

// A service that publishes its keys: its client carries the jwks_uri and, with no auth
// methods declared, authenticates with private_key_jwt only and gets no secret.
constexpr std::string_view kPolicyKeys = R"yaml(version: 1
services:
  - name: signer
    jwks_uri: https://keys.example.com/signer.json
  - name: both
    jwks_uri: https://keys.example.com/both.json
    auth_methods: [client_secret_basic, private_key_jwt]
  - name: plain
audiences:
  - name: api
    scopes: [read]
grants:
  - caller: signer
    audience: api
    scopes: [read]
)yaml";

TEST_F(PolicyAdminTest, PublishedKeysAreCarriedOntoTheClient) {
  AppliedPolicy applied = apply_ok(kPolicyKeys, kT1);
  const Client signer = client("signer");
  EXPECT_EQ(signer.jwks_uri, "https://keys.example.com/signer.json");
  EXPECT_EQ(signer.auth_methods, std::vector<std::string>{"private_key_jwt"});
  EXPECT_TRUE(signer.secret.sha256.empty());
  EXPECT_EQ(find_secret(applied, "signer"), nullptr);
  const Client both = client("both");
  EXPECT_EQ(both.auth_methods,
            (std::vector<std::string>{"client_secret_basic", "private_key_jwt"}));
  EXPECT_EQ(authenticate("both", find_secret(applied, "both")), "ok");
  EXPECT_TRUE(client("plain").jwks_uri.empty());
  EXPECT_EQ(authenticate("plain", find_secret(applied, "plain")), "ok");

  // A changed jwks_uri is an update the plan names.
  std::string moved(kPolicyKeys);
  moved.replace(moved.find("signer.json"), 11, "signer-v2.json");
  auto plan = admin_->plan(moved);
  ASSERT_TRUE(plan.has_value()) << plan.error().message;
  const ClientChange* change = find_change(*plan, "signer");
  ASSERT_NE(change, nullptr);
  EXPECT_EQ(change->action, ClientAction::kUpdate);
  EXPECT_NE(change->note.find("jwks_uri"), std::string::npos) << change->note;
  apply_ok(moved, kT2);
  EXPECT_EQ(client("signer").jwks_uri, "https://keys.example.com/signer-v2.json");
}

TEST_F(PolicyAdminTest, KeysRegisteredThroughTheApiAreKeptAndCount) {
  // An existing client that registered its JWKS through the admin API may be declared
  // with private_key_jwt and no jwks_uri; the next apply keeps its keys.
  auto key = jose::Jwk::generate(jose::Algorithm::kES256);
  NewClient n{.id = "api-keyed"};
  n.jwks = jose::JwkSet({key->public_key()}).to_json();
  auto created = registry_->create(std::move(n), kT1);
  ASSERT_TRUE(created.has_value());
  const std::string jwks = created->client.jwks;
  constexpr std::string_view kDeclared = R"yaml(version: 1
services:
  - name: api-keyed
    auth_methods: [private_key_jwt]
)yaml";
  apply_ok(kDeclared, kT2);
  EXPECT_EQ(client("api-keyed").jwks, jwks);
  EXPECT_EQ(client("api-keyed").auth_methods, std::vector<std::string>{"private_key_jwt"});

  // Without any keys, private_key_jwt is refused, naming the service.
  constexpr std::string_view kKeyless = R"yaml(version: 1
services:
  - name: keyless
    auth_methods: [private_key_jwt]
)yaml";
  auto refused = admin_->apply(kKeyless, by("admin"), kT3);
  ASSERT_FALSE(refused.has_value());
  EXPECT_NE(refused.error().message.find("keyless"), std::string::npos);
  EXPECT_NE(refused.error().message.find("jwks"), std::string::npos) << refused.error().message;

  // Inline keys and a declared jwks_uri cannot both hold.
  constexpr std::string_view kBoth = R"yaml(version: 1
services:
  - name: api-keyed
    jwks_uri: https://keys.example.com/api-keyed.json
)yaml";
  refused = admin_->apply(kBoth, by("admin"), kT3);
  ASSERT_FALSE(refused.has_value());
  EXPECT_NE(refused.error().message.find("not both"), std::string::npos) << refused.error().message;
}

// Services that authenticate with certificates from sigil's CA: their SPIFFE ID is the
// URI SAN tls_client_auth expects.
constexpr std::string_view kPolicyMtls = R"yaml(version: 1
services:
  - name: payments
    auth_methods: [tls_client_auth]
    certificate:
      spiffe_path: /ns/prod/sa/payments
  - name: ledger
    auth_methods: [tls_client_auth, client_secret_basic]
  - name: plain
)yaml";

TEST_F(PolicyAdminTest, TlsClientAuthServicesExpectTheirSpiffeId) {
  ASSERT_TRUE(admin_->set_trust_domain("example.org").has_value());
  AppliedPolicy applied = apply_ok(kPolicyMtls, kT1);
  const Client payments = client("payments");
  EXPECT_EQ(payments.tls_client_auth_san_uri, "spiffe://example.org/ns/prod/sa/payments");
  EXPECT_EQ(payments.auth_methods, std::vector<std::string>{"tls_client_auth"});
  EXPECT_TRUE(payments.secret.sha256.empty());
  EXPECT_EQ(find_secret(applied, "payments"), nullptr);
  // The default path is the service's name.
  EXPECT_EQ(client("ledger").tls_client_auth_san_uri, "spiffe://example.org/ledger");
  EXPECT_EQ(authenticate("ledger", find_secret(applied, "ledger")), "ok");
  EXPECT_TRUE(client("plain").tls_client_auth_san_uri.empty());

  // A moved path is an update the plan names.
  std::string moved(kPolicyMtls);
  moved.replace(moved.find("/ns/prod/sa/payments"), 20, "/ns/prod/sa/pay");
  auto plan = admin_->plan(moved);
  ASSERT_TRUE(plan.has_value()) << plan.error().message;
  const ClientChange* change = find_change(*plan, "payments");
  ASSERT_NE(change, nullptr);
  EXPECT_NE(change->note.find("tls_client_auth_san_uri"), std::string::npos) << change->note;
  apply_ok(moved, kT2);
  EXPECT_EQ(client("payments").tls_client_auth_san_uri, "spiffe://example.org/ns/prod/sa/pay");

  // Without tls_client_auth the subject goes with the method.
  std::string dropped(kPolicyMtls);
  dropped.replace(dropped.find("[tls_client_auth, client_secret_basic]"), 38,
                  "[client_secret_basic]");
  apply_ok(dropped, kT3);
  EXPECT_TRUE(client("ledger").tls_client_auth_san_uri.empty());
  EXPECT_EQ(client("ledger").auth_methods, std::vector<std::string>{"client_secret_basic"});
}

TEST_F(PolicyAdminTest, TlsClientAuthWithoutATrustDomainIsRefused) {
  auto plan = admin_->plan(kPolicyMtls);
  ASSERT_FALSE(plan.has_value());
  EXPECT_EQ(plan.error().code, Code::kInvalidArgument);
  auto applied = admin_->apply(kPolicyMtls, by("admin"), kT1);
  ASSERT_FALSE(applied.has_value());
  EXPECT_EQ(applied.error().code, Code::kInvalidArgument);
  EXPECT_NE(applied.error().message.find("policy:3: service \"payments\""), std::string::npos)
      << applied.error().message;
  EXPECT_NE(applied.error().message.find("sigil ca init"), std::string::npos)
      << applied.error().message;
  EXPECT_TRUE(registry_->list().empty());
  EXPECT_EQ(holder_.current(), nullptr);
}

TEST_F(PolicyAdminTest, TrustDomainIsChecked) {
  auto bad = admin_->set_trust_domain("Not A Domain");
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().code, Code::kInvalidArgument);
  EXPECT_FALSE(admin_->plan(kPolicyMtls).has_value());  // still none
  // Given as the trust domain's own SPIFFE ID, it is the same domain.
  ASSERT_TRUE(admin_->set_trust_domain("spiffe://example.org").has_value());
  apply_ok(kPolicyMtls, kT1);
  EXPECT_EQ(client("ledger").tls_client_auth_san_uri, "spiffe://example.org/ledger");
  // Given at load.
  policy::PolicyHolder holder;
  auto loaded = PolicyAdministration::load(policies_, *registry_, holder, "example.net");
  ASSERT_TRUE(loaded.has_value()) << loaded.error().message;
  auto refused = PolicyAdministration::load(policies_, *registry_, holder, "bad domain");
  EXPECT_FALSE(refused.has_value());
}

TEST_F(PolicyAdminTest, CertificatesRegisteredThroughTheApiAreKeptAndCount) {
  NewClient n{.id = "edge"};
  n.tls_client_certificates = {std::string(43, 'A')};
  ASSERT_TRUE(registry_->create(std::move(n), kT1).has_value());
  constexpr std::string_view kDeclared = R"yaml(version: 1
services:
  - name: edge
    auth_methods: [self_signed_tls_client_auth]
)yaml";
  apply_ok(kDeclared, kT2);
  EXPECT_EQ(client("edge").tls_client_certificates, std::vector<std::string>{std::string(43, 'A')});
  EXPECT_EQ(client("edge").auth_methods, std::vector<std::string>{"self_signed_tls_client_auth"});
  // A new service has no certificates to declare it with.
  constexpr std::string_view kNew = R"yaml(version: 1
services:
  - name: stranger
    auth_methods: [self_signed_tls_client_auth]
)yaml";
  auto refused = admin_->apply(kNew, by("admin"), kT3);
  ASSERT_FALSE(refused.has_value());
  EXPECT_NE(refused.error().message.find("tls_client_certificates"), std::string::npos)
      << refused.error().message;
}

TEST_F(PolicyAdminTest, ChangedGrantsUpdateTheBoundsAndKeepTheSecrets) {
  AppliedPolicy first = apply_ok(kPolicyV1, kT1);
  AppliedPolicy second = apply_ok(kPolicyV2, kT2);
  EXPECT_EQ(second.version.version, 2);
  EXPECT_EQ(second.plan.current_version, std::optional<std::int64_t>(1));
  EXPECT_TRUE(second.credentials.empty());

  const ClientChange* change = find_change(second.plan, "video-service");
  ASSERT_NE(change, nullptr);
  EXPECT_EQ(change->action, ClientAction::kUpdate);
  EXPECT_NE(change->note.find("allowed scopes"), std::string::npos) << change->note;
  EXPECT_NE(change->note.find("allowed audiences"), std::string::npos) << change->note;
  // Unchanged clients are not listed.
  EXPECT_EQ(find_change(second.plan, "notification-worker"), nullptr);
  EXPECT_EQ(find_change(second.plan, "analytics-service"), nullptr);
  const bool grant_change = std::any_of(second.plan.changes.begin(), second.plan.changes.end(),
                                        [](const policy::Change& c) { return c.what == "grant"; });
  EXPECT_TRUE(grant_change);

  const Client video = client("video-service");
  EXPECT_EQ(video.allowed_audiences, (std::vector<std::string>{"https://analytics.example"}));
  EXPECT_EQ(video.allowed_scopes, (std::vector<std::string>{"analytics:read", "analytics:write"}));
  EXPECT_EQ(video.created_at, kT1);
  EXPECT_EQ(video.updated_at, kT2);
  EXPECT_EQ(authenticate("video-service", find_secret(first, "video-service")), "ok");
  EXPECT_EQ(client("notification-worker").updated_at, kT1);
}

TEST_F(PolicyAdminTest, RemovedServiceIsDisabled) {
  AppliedPolicy first = apply_ok(kPolicyV1, kT1);
  AppliedPolicy second = apply_ok(kPolicyV2, kT2);
  const ClientChange* change = find_change(second.plan, "user-service");
  ASSERT_NE(change, nullptr);
  EXPECT_EQ(change->action, ClientAction::kDisable);
  const Client user = client("user-service");
  EXPECT_EQ(user.status, ClientStatus::kDisabled);
  EXPECT_EQ(user.updated_at, kT2);
  EXPECT_EQ(authenticate("user-service", find_secret(first, "user-service")), "client_disabled");
  EXPECT_EQ(store_.clients().at("user-service").status, ClientStatus::kDisabled);
}

TEST_F(PolicyAdminTest, RemovedServiceIsDeletedWithPrune) {
  AppliedPolicy first = apply_ok(kPolicyV1, kT1);
  auto plan = admin_->plan(kPolicyV2, /*prune=*/true);
  ASSERT_TRUE(plan.has_value()) << plan.error().message;
  const ClientChange* planned = find_change(*plan, "user-service");
  ASSERT_NE(planned, nullptr);
  EXPECT_EQ(planned->action, ClientAction::kDelete);

  ApplyOptions options = by("admin");
  options.prune = true;
  AppliedPolicy second = apply_ok(kPolicyV2, kT2, options);
  const ClientChange* change = find_change(second.plan, "user-service");
  ASSERT_NE(change, nullptr);
  EXPECT_EQ(change->action, ClientAction::kDelete);
  EXPECT_FALSE(registry_->get("user-service").has_value());
  EXPECT_EQ(store_.clients().count("user-service"), 0u);
  EXPECT_EQ(authenticate("user-service", find_secret(first, "user-service")), "unknown_client");
}

TEST_F(PolicyAdminTest, DisabledClientIsNotReEnabled) {
  AppliedPolicy first = apply_ok(kPolicyV1, kT1);
  ASSERT_TRUE(registry_->set_status("video-service", ClientStatus::kDisabled, kT1).has_value());

  // Nothing to change but the status: no change is planned.
  auto same = admin_->plan(kPolicyV1);
  ASSERT_TRUE(same.has_value());
  EXPECT_TRUE(same->empty());

  AppliedPolicy second = apply_ok(kPolicyV2, kT2);
  const ClientChange* change = find_change(second.plan, "video-service");
  ASSERT_NE(change, nullptr);
  EXPECT_EQ(change->action, ClientAction::kUpdate);
  EXPECT_NE(change->note.find("stays disabled"), std::string::npos) << change->note;
  const Client video = client("video-service");
  EXPECT_EQ(video.status, ClientStatus::kDisabled);
  EXPECT_EQ(video.allowed_scopes, (std::vector<std::string>{"analytics:read", "analytics:write"}));
  EXPECT_EQ(authenticate("video-service", find_secret(first, "video-service")), "client_disabled");
}

TEST_F(PolicyAdminTest, ClientsNoPolicyDeclaredAreLeftAlone) {
  NewClient legacy{.id = "legacy-batch"};
  legacy.allowed_scopes = {"reports:read"};
  legacy.allowed_audiences = {"https://reports.example"};
  auto created = registry_->create(std::move(legacy), kT1);
  ASSERT_TRUE(created.has_value());

  AppliedPolicy first = apply_ok(kPolicyV1, kT1);
  EXPECT_EQ(find_change(first.plan, "legacy-batch"), nullptr);
  ApplyOptions options = by("admin");
  options.prune = true;
  AppliedPolicy second = apply_ok(kPolicyV2, kT2, options);
  EXPECT_EQ(find_change(second.plan, "legacy-batch"), nullptr);

  const Client after = client("legacy-batch");
  EXPECT_EQ(after.status, ClientStatus::kActive);
  EXPECT_EQ(after.allowed_scopes, created->client.allowed_scopes);
  EXPECT_EQ(after.updated_at, kT1);
  EXPECT_EQ(authenticate("legacy-batch", &created->secret), "ok");
}

TEST_F(PolicyAdminTest, ExistingClientOfTheSameNameIsTakenOver) {
  NewClient existing{.id = "video-service"};
  existing.name = "Video";
  existing.allowed_scopes = {"everything"};
  existing.allowed_audiences = {"https://old.example"};
  auto created = registry_->create(std::move(existing), kT1);
  ASSERT_TRUE(created.has_value());

  AppliedPolicy applied = apply_ok(kPolicyV1, kT2);
  const ClientChange* change = find_change(applied.plan, "video-service");
  ASSERT_NE(change, nullptr);
  EXPECT_EQ(change->action, ClientAction::kUpdate);
  EXPECT_EQ(find_secret(applied, "video-service"), nullptr);  // it keeps its secret
  EXPECT_EQ(applied.credentials.size(), 3u);
  const Client video = client("video-service");
  EXPECT_EQ(video.name, "video-service");
  EXPECT_EQ(video.allowed_scopes, (std::vector<std::string>{"analytics:write", "profile:read"}));
  EXPECT_EQ(authenticate("video-service", &created->secret), "ok");
}

TEST_F(PolicyAdminTest, ApplyingTheSameDocumentAgainStoresNothing) {
  AppliedPolicy first = apply_ok(kPolicyV1, kT1);
  const auto in_force = holder_.current();
  AppliedPolicy again = apply_ok(kPolicyV1, kT2, by("someone-else"));
  EXPECT_EQ(again.version.version, 1);
  EXPECT_EQ(again.version.applied_by, "admin");
  EXPECT_EQ(again.version.applied_at, kT1);
  EXPECT_TRUE(again.plan.empty());
  EXPECT_EQ(again.plan.current_version, std::optional<std::int64_t>(1));
  EXPECT_TRUE(again.credentials.empty());
  EXPECT_EQ(store_.policy_version_count(), 1u);
  EXPECT_EQ(holder_.current(), in_force);
  EXPECT_EQ(client("video-service").updated_at, kT1);

  // The same document with a client to bring back (deleted by a version written behind
  // this administration's back) is applied as a new version.
  PolicyVersion behind = first.version;
  behind.version = 2;
  ASSERT_TRUE(store_.commit_policy(behind, {}, {}, {"analytics-service"}).has_value());
  ASSERT_TRUE(registry_->reload().has_value());
  AppliedPolicy restored = apply_ok(kPolicyV1, kT3);
  EXPECT_EQ(restored.version.version, 3);
  const ClientChange* change = find_change(restored.plan, "analytics-service");
  ASSERT_NE(change, nullptr);
  EXPECT_EQ(change->action, ClientAction::kCreate);
  EXPECT_NE(find_secret(restored, "analytics-service"), nullptr);
}

TEST_F(PolicyAdminTest, InvalidDocumentIsRefusedWithLineNumbers) {
  AppliedPolicy first = apply_ok(kPolicyV1, kT1);
  const auto in_force = holder_.current();
  std::string broken(kPolicyV1);
  const std::string field = "    uri: https://analytics.example\n";
  broken.replace(broken.find(field), field.size(),
                 "    uri: https://analytics.example\n    scoeps: [x]\n");

  auto planned = admin_->plan(broken);
  ASSERT_FALSE(planned.has_value());
  auto applied = admin_->apply(broken, by("admin"), kT2);
  ASSERT_FALSE(applied.has_value());
  for (const Error& error : {planned.error(), applied.error()}) {
    EXPECT_EQ(error.code, Code::kInvalidArgument);
    EXPECT_NE(error.message.find("policy:16:"), std::string::npos) << error.message;
    EXPECT_NE(error.message.find("scoeps"), std::string::npos) << error.message;
  }
  EXPECT_EQ(store_.policy_version_count(), 1u);
  EXPECT_EQ(holder_.current(), in_force);
  EXPECT_EQ(client("video-service").updated_at, kT1);
}

TEST_F(PolicyAdminTest, ServiceTheRegistryCannotServeIsRefused) {
  std::string jwt_only(kPolicyV1);
  const std::string methods = "    auth_methods: [client_secret_post]\n";
  jwt_only.replace(jwt_only.find(methods), methods.size(), "    auth_methods: [private_key_jwt]\n");
  auto applied = admin_->apply(jwt_only, by("admin"), kT1);
  ASSERT_FALSE(applied.has_value());
  EXPECT_EQ(applied.error().code, Code::kInvalidArgument);
  EXPECT_NE(applied.error().message.find("policy:6: service \"notification-worker\""),
            std::string::npos)
      << applied.error().message;
  EXPECT_TRUE(registry_->list().empty());
  EXPECT_EQ(store_.policy_version_count(), 0u);
  EXPECT_EQ(holder_.current(), nullptr);
}

TEST_F(PolicyAdminTest, OptionsAreChecked) {
  std::vector<ApplyOptions> refused(4, by("admin"));
  refused[0].applied_by.clear();
  refused[1].origin = "manual";
  refused[2].origin = "rollback";   // without rolled_back_from
  refused[3].rolled_back_from = 1;  // without being a rollback
  for (std::size_t i = 0; i < refused.size(); ++i) {
    auto applied = admin_->apply(kPolicyV1, refused[i], kT1);
    ASSERT_FALSE(applied.has_value()) << i;
    EXPECT_EQ(applied.error().code, Code::kInvalidArgument) << i;
  }
  EXPECT_EQ(store_.policy_version_count(), 0u);
  EXPECT_TRUE(registry_->list().empty());
}

TEST_F(PolicyAdminTest, FailingStoreLeavesEverythingAsItWas) {
  AppliedPolicy first = apply_ok(kPolicyV1, kT1);
  const auto in_force = holder_.current();
  const auto clients_before = registry_->list();

  // The store fails while the plan is made...
  store_.fail_next();
  auto failed = admin_->apply(kPolicyV2, by("admin"), kT2);
  ASSERT_FALSE(failed.has_value());
  EXPECT_EQ(failed.error().code, Code::kUnavailable);

  // ...or when the transaction is written.
  policies_.fail_commit = true;
  failed = admin_->apply(kPolicyV2, by("admin"), kT2);
  ASSERT_FALSE(failed.has_value());
  EXPECT_EQ(failed.error().code, Code::kUnavailable);
  policies_.fail_commit = false;

  EXPECT_EQ(holder_.current(), in_force);
  EXPECT_EQ(store_.policy_version_count(), 1u);
  const auto clients_after = registry_->list();
  ASSERT_EQ(clients_after.size(), clients_before.size());
  for (std::size_t i = 0; i < clients_after.size(); ++i) {
    EXPECT_EQ(clients_after[i].id, clients_before[i].id);
    EXPECT_EQ(clients_after[i].status, clients_before[i].status) << clients_after[i].id;
    EXPECT_EQ(clients_after[i].allowed_scopes, clients_before[i].allowed_scopes);
    EXPECT_EQ(clients_after[i].updated_at, clients_before[i].updated_at);
  }
  EXPECT_EQ(store_.clients().at("user-service").status, ClientStatus::kActive);
  EXPECT_EQ(authenticate("user-service", find_secret(first, "user-service")), "ok");

  // And the same apply works once the store does.
  AppliedPolicy second = apply_ok(kPolicyV2, kT2);
  EXPECT_EQ(second.version.version, 2);
  EXPECT_NE(holder_.current(), in_force);
}

// Someone wrote a client behind the registry's back: the commit collides with it, and
// nothing of the apply is kept.
TEST_F(PolicyAdminTest, CommitConflictLeavesEverythingAsItWas) {
  Client intruder;
  intruder.id = "user-service";
  intruder.name = "made elsewhere";
  ASSERT_TRUE(store_.create_client(intruder).has_value());
  auto failed = admin_->apply(kPolicyV1, by("admin"), kT1);
  ASSERT_FALSE(failed.has_value());
  EXPECT_EQ(failed.error().code, Code::kAlreadyExists);
  EXPECT_EQ(store_.clients().size(), 1u);
  EXPECT_TRUE(registry_->list().empty());
  EXPECT_EQ(store_.policy_version_count(), 0u);
  EXPECT_EQ(holder_.current(), nullptr);
}

TEST_F(PolicyAdminTest, RollbackAppliesTheOldDocumentAsANewVersion) {
  AppliedPolicy first = apply_ok(kPolicyV1, kT1);
  ApplyOptions pruning = by("admin");
  pruning.prune = true;
  apply_ok(kPolicyV2, kT2, pruning);
  ASSERT_FALSE(registry_->get("user-service").has_value());

  auto rolled = admin_->rollback(1, "operator", kT3);
  ASSERT_TRUE(rolled.has_value()) << rolled.error().message;
  EXPECT_EQ(rolled->version.version, 3);
  EXPECT_EQ(rolled->version.origin, "rollback");
  EXPECT_EQ(rolled->version.rolled_back_from, std::optional<std::int64_t>(1));
  EXPECT_EQ(rolled->version.applied_by, "operator");
  EXPECT_EQ(rolled->version.applied_at, kT3);
  EXPECT_EQ(rolled->version.document, kPolicyV1);
  EXPECT_EQ(rolled->version.sha256_hex, first.version.sha256_hex);

  // The pruned service comes back as a new client with a new secret.
  const ClientChange* change = find_change(rolled->plan, "user-service");
  ASSERT_NE(change, nullptr);
  EXPECT_EQ(change->action, ClientAction::kCreate);
  EXPECT_EQ(authenticate("user-service", find_secret(*rolled, "user-service")), "ok");
  EXPECT_EQ(authenticate("user-service", find_secret(first, "user-service")), "bad_secret");
  EXPECT_EQ(client("video-service").allowed_scopes,
            (std::vector<std::string>{"analytics:write", "profile:read"}));
  ASSERT_NE(holder_.current(), nullptr);
  EXPECT_EQ(service_names(*holder_.current()).size(), 4u);

  auto unknown = admin_->rollback(9, "operator", kT3);
  ASSERT_FALSE(unknown.has_value());
  EXPECT_EQ(unknown.error().code, Code::kNotFound);
  EXPECT_EQ(store_.policy_version_count(), 3u);
}

TEST_F(PolicyAdminTest, HistoryIsNewestFirstWithoutDocuments) {
  apply_ok(kPolicyV1, kT1);
  apply_ok(kPolicyV2, kT2, by("second-admin"));
  ASSERT_TRUE(admin_->rollback(1, "operator", kT3).has_value());

  auto history = admin_->history();
  ASSERT_TRUE(history.has_value()) << history.error().message;
  ASSERT_EQ(history->size(), 3u);
  EXPECT_EQ((*history)[0].version, 3);
  EXPECT_EQ((*history)[0].origin, "rollback");
  EXPECT_EQ((*history)[1].version, 2);
  EXPECT_EQ((*history)[1].applied_by, "second-admin");
  EXPECT_EQ((*history)[1].applied_at, kT2);
  EXPECT_EQ((*history)[2].version, 1);
  for (const auto& v : *history) EXPECT_TRUE(v.document.empty()) << v.version;

  auto second = admin_->version(2);
  ASSERT_TRUE(second.has_value());
  EXPECT_EQ(second->document, kPolicyV2);
  auto missing = admin_->version(4);
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().code, Code::kNotFound);
}

TEST_F(PolicyAdminTest, LoadPutsTheNewestVersionInForce) {
  apply_ok(kPolicyV1, kT1);
  apply_ok(kPolicyV2, kT2);

  policy::PolicyHolder restarted;
  auto admin = PolicyAdministration::load(policies_, *registry_, restarted);
  ASSERT_TRUE(admin.has_value()) << admin.error().message;
  ASSERT_NE(restarted.current(), nullptr);
  EXPECT_EQ(
      service_names(*restarted.current()),
      (std::vector<std::string>{"analytics-service", "notification-worker", "video-service"}));
  // The restarted administration knows what is in force: the same document changes nothing.
  auto plan = (*admin)->plan(kPolicyV2);
  ASSERT_TRUE(plan.has_value());
  EXPECT_TRUE(plan->empty());
}

TEST_F(PolicyAdminTest, LoadRefusesAStoredVersionThatIsNotValid) {
  const std::string not_a_policy = "version: 2\n";
  PolicyVersion damaged;
  damaged.version = 1;
  damaged.document = not_a_policy;
  damaged.sha256_hex = hex_encode(crypto::sha256(not_a_policy));
  damaged.applied_by = "test";
  damaged.origin = "apply";
  ASSERT_TRUE(store_.commit_policy(damaged, {}, {}, {}).has_value());
  policy::PolicyHolder holder;
  auto admin = PolicyAdministration::load(policies_, *registry_, holder);
  ASSERT_FALSE(admin.has_value());
  EXPECT_EQ(admin.error().code, Code::kInternal);
  EXPECT_EQ(holder.current(), nullptr);
}

TEST_F(PolicyAdminTest, LoadRefusesADocumentThatDoesNotMatchItsDigest) {
  PolicyVersion tampered;
  tampered.version = 1;
  tampered.document = std::string(kPolicyV1);
  tampered.sha256_hex = hex_encode(crypto::sha256(kPolicyV2));
  tampered.applied_by = "test";
  tampered.origin = "apply";
  ASSERT_TRUE(store_.commit_policy(tampered, {}, {}, {}).has_value());
  policy::PolicyHolder holder;
  auto admin = PolicyAdministration::load(policies_, *registry_, holder);
  ASSERT_FALSE(admin.has_value());
  EXPECT_EQ(admin.error().code, Code::kInternal);
  EXPECT_EQ(holder.current(), nullptr);
}

}  // namespace
}  // namespace sigil::oauth
