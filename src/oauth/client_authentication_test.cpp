#include "oauth/client_authentication.hpp"

#include <gtest/gtest.h>

#include <boost/json/serialize.hpp>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "base/base64url.hpp"
#include "jose/jws.hpp"
#include "oauth/binding.hpp"
#include "oauth/testing/certificates.hpp"
#include "oauth/testing/memory_store.hpp"

namespace sigil::oauth {
namespace {

namespace json = boost::json;
using testing::MemoryStore;

constexpr std::string_view kAssertionType =
    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
const std::string kIssuer = "https://sigil.test";
const std::string kTokenEndpoint = "https://sigil.test/oauth2/token";
const std::string kJwksUri = "https://keys.example.com/worker.json";

// Key sets by URL, as a client would publish them; counts the fetches.
class FakeKeySource final : public KeySource {
 public:
  std::map<std::string, std::shared_ptr<const jose::JwkSet>> sets;  // served on refresh
  std::map<std::string, std::shared_ptr<const jose::JwkSet>> cached;
  bool unreachable = false;
  int fetches = 0;
  int refreshes = 0;

  Result<std::shared_ptr<const jose::JwkSet>> keys_at(std::string_view uri, bool refresh) override {
    ++fetches;
    if (refresh) ++refreshes;
    if (unreachable) return std::unexpected(Error::unavailable("cannot reach " + std::string(uri)));
    auto& from = refresh ? sets : cached;
    auto it = from.find(std::string(uri));
    if (it == from.end()) {
      it = sets.find(std::string(uri));
      if (it == sets.end()) return std::unexpected(Error::unavailable("nothing at that URL"));
    }
    if (refresh) cached[std::string(uri)] = it->second;
    return it->second;
  }
  Result<std::shared_ptr<const jose::JwkSet>> keys_of_issuer(std::string_view, bool) override {
    return std::unexpected(Error::unavailable("not used"));
  }
};

jose::Jwk generate(jose::Algorithm alg, std::string kid = "") {
  auto key = jose::Jwk::generate(alg);
  EXPECT_TRUE(key.has_value());
  if (kid.empty()) return *key;
  auto der = key->private_pkcs8();
  auto renamed = jose::Jwk::from_private_pkcs8(*der, alg, kid);
  EXPECT_TRUE(renamed.has_value());
  return *renamed;
}

std::string jwks_of(const std::vector<const jose::Jwk*>& keys) {
  jose::JwkSet set;
  for (const auto* key : keys) set.add(key->public_key());
  return set.to_json();
}

std::string sign(const jose::Jwk& key, const json::object& claims) {
  auto signer = jose::Signer::create(key, "");
  EXPECT_TRUE(signer.has_value());
  auto token = signer->sign(json::serialize(claims));
  EXPECT_TRUE(token.has_value());
  return *token;
}

// A JWS with any header, and a signature that does not matter (it must be refused
// before the signature is looked at).
std::string unsigned_token(const json::object& header, const json::object& claims,
                           std::string_view signature = "") {
  return base64url_encode(json::serialize(header)) + "." +
         base64url_encode(json::serialize(claims)) + "." + base64url_encode(signature);
}

class ClientAuthenticationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto registry = ClientRegistry::load(store_);
    ASSERT_TRUE(registry.has_value());
    registry_ = std::move(*registry);
    context_.keys = &source_;
    context_.replays = &replays_;
    context_.audiences = {kIssuer, kTokenEndpoint, kIssuer + "/oauth2/introspect"};
    context_.max_lifetime = Seconds{300};
    context_.leeway = Seconds{30};

    key_ = generate(jose::Algorithm::kES256, "worker-1");
    NewClient worker{.id = "worker"};
    worker.jwks = jwks_of({&key_});
    ASSERT_TRUE(registry_->create(std::move(worker), now_).has_value());
  }

  json::object claims(std::string id = "worker") {
    return json::object{{"iss", id},
                        {"sub", id},
                        {"aud", kTokenEndpoint},
                        {"exp", to_unix(now_) + 60},
                        {"iat", to_unix(now_)},
                        {"jti", "jti-" + std::to_string(++jti_counter_)}};
  }

  using Params = std::vector<std::pair<std::string, std::string>>;
  static Params assertion_params(std::string assertion) {
    return {{"client_assertion_type", std::string(kAssertionType)},
            {"client_assertion", std::move(assertion)}};
  }

  std::expected<AuthenticatedClient, ClientAuthenticationFailure> authenticate(
      const Params& params, const PresentedCredentials& presented = {},
      const AssertionContext* context = nullptr) {
    return authenticate_client(*registry_, presented, FormParams(params), now_,
                               context == nullptr ? &context_ : context);
  }

  // The audit reason of a refusal, or "ok".
  std::string reason(const Params& params, const PresentedCredentials& presented = {}) {
    auto result = authenticate(params, presented);
    return result ? "ok" : result.error().denial.reason;
  }
  std::string reason_of(const std::string& assertion) {
    return reason(assertion_params(assertion));
  }

  MemoryStore store_;
  std::unique_ptr<ClientRegistry> registry_;
  FakeKeySource source_;
  ReplayCache replays_;
  AssertionContext context_;
  TimePoint now_ = from_unix(1'700'000'000);
  jose::Jwk key_ = generate(jose::Algorithm::kES256);
  int jti_counter_ = 0;
};

TEST_F(ClientAuthenticationTest, SignedAssertionAuthenticatesTheClient) {
  auto result = authenticate(assertion_params(sign(key_, claims())));
  ASSERT_TRUE(result.has_value()) << result.error().denial.reason;
  EXPECT_EQ(result->id(), "worker");
  EXPECT_EQ(result->auth_method(), "private_key_jwt");
}

TEST_F(ClientAuthenticationTest, EveryAsymmetricAlgorithmIsAccepted) {
  for (auto alg : {jose::Algorithm::kES256, jose::Algorithm::kES384, jose::Algorithm::kEdDSA,
                   jose::Algorithm::kRS256, jose::Algorithm::kPS256}) {
    const std::string id = "alg-" + std::to_string(static_cast<int>(alg));
    jose::Jwk key = generate(alg);
    NewClient client;
    client.id = id;
    client.jwks = jwks_of({&key});
    ASSERT_TRUE(registry_->create(std::move(client), now_).has_value());
    EXPECT_EQ(reason_of(sign(key, claims(id))), "ok") << jose::to_string(alg);
  }
}

TEST_F(ClientAuthenticationTest, KeyIsChosenByKidAmongSeveral) {
  jose::Jwk second = generate(jose::Algorithm::kEdDSA, "worker-2");
  ASSERT_TRUE(registry_->set_keys("worker", jwks_of({&key_, &second}), "", now_).has_value());
  EXPECT_EQ(reason_of(sign(second, claims())), "ok");
  EXPECT_EQ(reason_of(sign(key_, claims())), "ok");
  // A kid the set does not hold.
  jose::Jwk renamed = generate(jose::Algorithm::kES256, "worker-9");
  EXPECT_EQ(reason_of(sign(renamed, claims())), "assertion_unknown_key");
}

TEST_F(ClientAuthenticationTest, MatchingClientIdInTheBodyIsAccepted) {
  Params params = assertion_params(sign(key_, claims()));
  params.emplace_back("client_id", "worker");
  EXPECT_EQ(reason(params), "ok");
}

TEST_F(ClientAuthenticationTest, ClientIdThatIsNotTheSubjectIsRefused) {
  NewClient other{.id = "other"};
  ASSERT_TRUE(registry_->create(std::move(other), now_).has_value());
  Params params = assertion_params(sign(key_, claims()));
  params.emplace_back("client_id", "other");
  auto result = authenticate(params);
  ASSERT_FALSE(result.has_value());
  EXPECT_EQ(result.error().denial.error, OAuthError::kInvalidClient);
  EXPECT_EQ(result.error().denial.reason, "client_id_mismatch");
  EXPECT_EQ(result.error().client_id, "other");
  EXPECT_EQ(result.error().auth_method, "private_key_jwt");
}

TEST_F(ClientAuthenticationTest, OnlyTheJwtBearerAssertionTypeIsSupported) {
  auto result = authenticate(
      {{"client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:saml2-bearer"},
       {"client_assertion", sign(key_, claims())}});
  ASSERT_FALSE(result.has_value());
  EXPECT_EQ(result.error().denial.error, OAuthError::kInvalidClient);
  EXPECT_EQ(result.error().denial.reason, "unsupported_assertion_type");
  EXPECT_EQ(result.error().denial.description, "unsupported client_assertion_type");
  // Case matters: the URN is compared exactly.
  EXPECT_EQ(
      reason({{"client_assertion_type", "URN:ietf:params:oauth:client-assertion-type:jwt-bearer"},
              {"client_assertion", sign(key_, claims())}}),
      "unsupported_assertion_type");
}

TEST_F(ClientAuthenticationTest, TypeAndAssertionGoTogether) {
  for (const Params& params : {Params{{"client_assertion_type", std::string(kAssertionType)}},
                               Params{{"client_assertion", sign(key_, claims())}}}) {
    auto result = authenticate(params);
    ASSERT_FALSE(result.has_value());
    EXPECT_EQ(result.error().denial.error, OAuthError::kInvalidRequest);
    EXPECT_EQ(result.error().denial.reason, "incomplete_client_assertion");
  }
}

TEST_F(ClientAuthenticationTest, AnAssertionWithAnotherMethodIsTwoMethods) {
  ClientSecret secret = make_client_secret();
  PresentedCredentials basic;
  basic.basic = ClientCredentials{"worker", SecretString(secret.secret.reveal())};
  auto result = authenticate(assertion_params(sign(key_, claims())), basic);
  ASSERT_FALSE(result.has_value());
  EXPECT_EQ(result.error().denial.error, OAuthError::kInvalidRequest);
  EXPECT_EQ(result.error().denial.reason, "multiple_auth_methods");

  Params with_secret = assertion_params(sign(key_, claims()));
  with_secret.emplace_back("client_id", "worker");
  with_secret.emplace_back("client_secret", "whatever");
  result = authenticate(with_secret);
  ASSERT_FALSE(result.has_value());
  EXPECT_EQ(result.error().denial.error, OAuthError::kInvalidRequest);
  EXPECT_EQ(result.error().denial.reason, "multiple_auth_methods");

  PresentedCredentials malformed_header;
  malformed_header.authorization_header_present = true;
  EXPECT_EQ(reason(assertion_params(sign(key_, claims())), malformed_header),
            "multiple_auth_methods");
}

TEST_F(ClientAuthenticationTest, WithoutAnAssertionContextAssertionsAreNotAccepted) {
  auto result =
      authenticate_client(*registry_, {}, FormParams(assertion_params(sign(key_, claims()))), now_);
  ASSERT_FALSE(result.has_value());
  EXPECT_EQ(result.error().denial.error, OAuthError::kInvalidClient);
  EXPECT_EQ(result.error().denial.reason, "unsupported_auth_method");
}

TEST_F(ClientAuthenticationTest, IssuerAndSubjectMustBeTheClient) {
  json::object c = claims();
  c["iss"] = "someone-else";
  EXPECT_EQ(reason_of(sign(key_, c)), "assertion_wrong_issuer");
  c = claims();
  c.erase("iss");
  EXPECT_EQ(reason_of(sign(key_, c)), "assertion_missing_claim");

  // The sub picks the client whose keys must verify the signature: another client's
  // name with this key fails on the signature.
  jose::Jwk other_key = generate(jose::Algorithm::kES256, "worker-1");
  NewClient other{.id = "other"};
  other.jwks = jwks_of({&other_key});
  ASSERT_TRUE(registry_->create(std::move(other), now_).has_value());
  c = claims();
  c["sub"] = "other";
  EXPECT_EQ(reason_of(sign(key_, c)), "assertion_bad_signature");
  // And with the other client's key, iss must follow.
  EXPECT_EQ(reason_of(sign(other_key, c)), "assertion_wrong_issuer");
}

TEST_F(ClientAuthenticationTest, AssertionWithoutASubjectIsMalformed) {
  json::object c = claims();
  c.erase("sub");
  EXPECT_EQ(reason_of(sign(key_, c)), "assertion_malformed");
  c["sub"] = 42;
  EXPECT_EQ(reason_of(sign(key_, c)), "assertion_malformed");
  EXPECT_EQ(reason_of("not.a.jwt"), "assertion_malformed");
  EXPECT_EQ(reason_of("no-dots-at-all"), "assertion_malformed");
  EXPECT_EQ(reason_of(std::string(17 * 1024, 'a')), "assertion_too_large");
}

TEST_F(ClientAuthenticationTest, AudienceMustNameThisServer) {
  json::object c = claims();
  c["aud"] = "https://elsewhere.example/oauth2/token";
  EXPECT_EQ(reason_of(sign(key_, c)), "assertion_wrong_audience");
  c["aud"] = json::array{"https://elsewhere.example", kIssuer};
  EXPECT_EQ(reason_of(sign(key_, c)), "ok");
  c = claims();
  c["aud"] = kIssuer + "/";  // exact, not a prefix match
  EXPECT_EQ(reason_of(sign(key_, c)), "assertion_wrong_audience");
  c = claims();
  c.erase("aud");
  EXPECT_EQ(reason_of(sign(key_, c)), "assertion_wrong_audience");
  c = claims();
  c["aud"] = json::array{};
  EXPECT_EQ(reason_of(sign(key_, c)), "assertion_wrong_audience");
}

TEST_F(ClientAuthenticationTest, ExpiryIsRequiredAndShort) {
  json::object c = claims();
  c.erase("exp");
  EXPECT_EQ(reason_of(sign(key_, c)), "assertion_missing_claim");
  c = claims();
  c["exp"] = to_unix(now_) - 31;  // beyond the 30 s leeway
  auto result = authenticate(assertion_params(sign(key_, c)));
  ASSERT_FALSE(result.has_value());
  EXPECT_EQ(result.error().denial.reason, "assertion_expired");
  EXPECT_EQ(result.error().denial.description, "the client assertion has expired");
  c = claims();
  c["exp"] = to_unix(now_) - 29;  // within it
  EXPECT_EQ(reason_of(sign(key_, c)), "ok");
  c = claims();
  c["exp"] = to_unix(now_) + 300;
  EXPECT_EQ(reason_of(sign(key_, c)), "ok");
  c = claims();
  c["exp"] = to_unix(now_) + 301;
  EXPECT_EQ(reason_of(sign(key_, c)), "assertion_lifetime_too_long");
  c = claims();
  c["exp"] = "tomorrow";
  EXPECT_EQ(reason_of(sign(key_, c)), "assertion_missing_claim");
}

TEST_F(ClientAuthenticationTest, NotBeforeAndIssuedAtHoldWithinTheLeeway) {
  json::object c = claims();
  c["nbf"] = to_unix(now_) + 31;
  EXPECT_EQ(reason_of(sign(key_, c)), "assertion_not_yet_valid");
  c = claims();
  c["nbf"] = to_unix(now_) + 29;
  EXPECT_EQ(reason_of(sign(key_, c)), "ok");
  c = claims();
  c["iat"] = to_unix(now_) + 31;
  EXPECT_EQ(reason_of(sign(key_, c)), "assertion_issued_in_future");
}

TEST_F(ClientAuthenticationTest, JtiIsRequired) {
  json::object c = claims();
  c.erase("jti");
  EXPECT_EQ(reason_of(sign(key_, c)), "assertion_missing_jti");
  c["jti"] = "";
  EXPECT_EQ(reason_of(sign(key_, c)), "assertion_missing_jti");
  c["jti"] = 7;
  EXPECT_EQ(reason_of(sign(key_, c)), "assertion_missing_jti");
  c["jti"] = std::string(257, 'j');
  EXPECT_EQ(reason_of(sign(key_, c)), "assertion_missing_jti");
  c["jti"] = std::string(256, 'j');
  EXPECT_EQ(reason_of(sign(key_, c)), "ok");
}

TEST_F(ClientAuthenticationTest, ReplayedAssertionIsRefused) {
  const std::string assertion = sign(key_, claims());
  EXPECT_EQ(reason_of(assertion), "ok");
  auto again = authenticate(assertion_params(assertion));
  ASSERT_FALSE(again.has_value());
  EXPECT_EQ(again.error().denial.error, OAuthError::kInvalidClient);
  EXPECT_EQ(again.error().denial.reason, "assertion_replayed");
  // A new assertion with the same jti is a replay too.
  json::object c = claims();
  c["jti"] = "fixed";
  EXPECT_EQ(reason_of(sign(key_, c)), "ok");
  c["iat"] = to_unix(now_) + 1;
  EXPECT_EQ(reason_of(sign(key_, c)), "assertion_replayed");
  // Another client may use the same jti.
  jose::Jwk other_key = generate(jose::Algorithm::kES256);
  NewClient other{.id = "other"};
  other.jwks = jwks_of({&other_key});
  ASSERT_TRUE(registry_->create(std::move(other), now_).has_value());
  json::object o = claims("other");
  o["jti"] = "fixed";
  EXPECT_EQ(reason_of(sign(other_key, o)), "ok");
}

TEST_F(ClientAuthenticationTest, RefusedAssertionsAreNotRemembered) {
  json::object c = claims();
  c["aud"] = "https://elsewhere.example";
  EXPECT_EQ(reason_of(sign(key_, c)), "assertion_wrong_audience");
  EXPECT_EQ(replays_.size(), 0u);
  c["aud"] = kTokenEndpoint;
  EXPECT_EQ(reason_of(sign(key_, c)), "ok");
  EXPECT_EQ(replays_.size(), 1u);
}

TEST_F(ClientAuthenticationTest, WithoutAReplayCacheEveryAssertionIsRefused) {
  context_.replays = nullptr;
  EXPECT_EQ(reason_of(sign(key_, claims())), "replay_check_unavailable");
}

TEST_F(ClientAuthenticationTest, NoneAndHmacAreRefused) {
  json::object none_header{{"alg", "none"}, {"kid", "worker-1"}};
  EXPECT_EQ(reason_of(unsigned_token(none_header, claims())), "assertion_algorithm_not_allowed");
  // HS256 keyed with the client's public key (the classic confusion attack) is refused
  // for its algorithm, whatever the MAC.
  json::object hs_header{{"alg", "HS256"}, {"kid", "worker-1"}};
  EXPECT_EQ(reason_of(unsigned_token(hs_header, claims(), std::string(32, 'm'))),
            "assertion_algorithm_not_allowed");
  // An algorithm that does not suit the key.
  json::object rs_header{{"alg", "RS256"}, {"kid", "worker-1"}};
  EXPECT_EQ(reason_of(unsigned_token(rs_header, claims(), std::string(256, 's'))),
            "assertion_unknown_key");
}

TEST_F(ClientAuthenticationTest, SignatureByAnotherKeyIsRefused) {
  jose::Jwk impostor = generate(jose::Algorithm::kES256, "worker-1");
  auto result = authenticate(assertion_params(sign(impostor, claims())));
  ASSERT_FALSE(result.has_value());
  EXPECT_EQ(result.error().denial.reason, "assertion_bad_signature");
  // Nothing about the signature is told to the caller.
  EXPECT_EQ(result.error().denial.description, "client authentication failed");
}

TEST_F(ClientAuthenticationTest, RegistryChecksComeAroundTheSignature) {
  EXPECT_EQ(reason_of(sign(key_, claims("nobody"))), "unknown_client");

  NewClient secrets_only{.id = "secrets-only"};
  ASSERT_TRUE(registry_->create(std::move(secrets_only), now_).has_value());
  EXPECT_EQ(reason_of(sign(key_, claims("secrets-only"))), "auth_method_not_allowed");

  ASSERT_TRUE(registry_->set_status("worker", ClientStatus::kDisabled, now_).has_value());
  EXPECT_EQ(reason_of(sign(key_, claims())), "client_disabled");
  // A bad signature is told as such before the status.
  jose::Jwk impostor = generate(jose::Algorithm::kES256, "worker-1");
  EXPECT_EQ(reason_of(sign(impostor, claims())), "assertion_bad_signature");
}

TEST_F(ClientAuthenticationTest, PublishedKeysAreFetchedAndRefreshedOnAnUnknownKid) {
  jose::Jwk old_key = generate(jose::Algorithm::kES256, "2024");
  jose::Jwk new_key = generate(jose::Algorithm::kRS256, "2025");
  source_.cached[kJwksUri] =
      std::make_shared<const jose::JwkSet>(std::vector<jose::Jwk>{old_key.public_key()});
  source_.sets[kJwksUri] = std::make_shared<const jose::JwkSet>(
      std::vector<jose::Jwk>{old_key.public_key(), new_key.public_key()});
  NewClient published{.id = "published"};
  published.jwks_uri = kJwksUri;
  ASSERT_TRUE(registry_->create(std::move(published), now_).has_value());

  EXPECT_EQ(reason_of(sign(old_key, claims("published"))), "ok");
  EXPECT_EQ(source_.fetches, 1);
  EXPECT_EQ(source_.refreshes, 0);

  // The client rotated: the cached set lacks the new kid, so it is asked again once.
  EXPECT_EQ(reason_of(sign(new_key, claims("published"))), "ok");
  EXPECT_EQ(source_.fetches, 3);
  EXPECT_EQ(source_.refreshes, 1);

  // A kid nobody published: one refresh, then refused.
  jose::Jwk stranger = generate(jose::Algorithm::kES256, "made-up");
  EXPECT_EQ(reason_of(sign(stranger, claims("published"))), "assertion_unknown_key");
  EXPECT_EQ(source_.refreshes, 2);

  // A bad signature under a known kid is not a reason to fetch again.
  jose::Jwk impostor = generate(jose::Algorithm::kES256, "2024");
  EXPECT_EQ(reason_of(sign(impostor, claims("published"))), "assertion_bad_signature");
  EXPECT_EQ(source_.refreshes, 2);
}

TEST_F(ClientAuthenticationTest, UnreachableJwksUriRefusesCleanly) {
  NewClient published{.id = "published"};
  published.jwks_uri = kJwksUri;
  ASSERT_TRUE(registry_->create(std::move(published), now_).has_value());
  jose::Jwk key = generate(jose::Algorithm::kES256);
  source_.unreachable = true;
  auto result = authenticate(assertion_params(sign(key, claims("published"))));
  ASSERT_FALSE(result.has_value());
  EXPECT_EQ(result.error().denial.error, OAuthError::kInvalidClient);
  EXPECT_EQ(result.error().denial.reason, "jwks_uri_unavailable");
  EXPECT_NE(result.error().denial.detail.find(kJwksUri), std::string::npos);

  context_.keys = nullptr;
  EXPECT_EQ(reason_of(sign(key, claims("published"))), "jwks_uri_unavailable");
}

TEST_F(ClientAuthenticationTest, SecretsStillWork) {
  NewClient both{.id = "both"};
  both.jwks = jwks_of({&key_});
  both.auth_methods = {"client_secret_basic", "private_key_jwt"};
  auto created = registry_->create(std::move(both), now_);
  ASSERT_TRUE(created.has_value());
  ASSERT_FALSE(created->secret.empty());
  PresentedCredentials basic;
  basic.basic = ClientCredentials{"both", SecretString(created->secret.reveal())};
  auto result = authenticate({}, basic);
  ASSERT_TRUE(result.has_value());
  EXPECT_EQ(result->auth_method(), "client_secret_basic");
  EXPECT_EQ(reason_of(sign(key_, claims("both"))), "ok");
}

TEST_F(ClientAuthenticationTest, KeyOnlyClientHasNoSecretToGuess) {
  // "worker" was created with keys and no methods: private_key_jwt only, no secret.
  auto worker = registry_->get("worker");
  ASSERT_TRUE(worker.has_value());
  EXPECT_EQ(worker->auth_methods, std::vector<std::string>{"private_key_jwt"});
  EXPECT_TRUE(worker->secret.sha256.empty());
  Params post{{"client_id", "worker"}, {"client_secret", ""}};
  EXPECT_EQ(reason(post), "missing_client_secret");  // empty values count as absent
  post = {{"client_id", "worker"}, {"client_secret", "x"}};
  EXPECT_EQ(reason(post), "bad_secret");
}

// RFC 8705 §2: clients authenticated by the certificate of their mutual-TLS connection.
class MutualTlsAuthenticationTest : public ClientAuthenticationTest {
 protected:
  void SetUp() override {
    ClientAuthenticationTest::SetUp();
    spiffe_ = testing::make_certificate_der(
        {.subject = {{"O", "Example"}, {"CN", "payments"}},
         .uris = {"https://example.org/other", "spiffe://example.org/ns/prod/payments"},
         .dns_names = {"Payments.Internal", "payments.svc"}});
    stranger_ = testing::make_certificate_der(
        {.subject = {{"CN", "stranger"}}, .uris = {"spiffe://example.org/stranger"}});
    ASSERT_FALSE(spiffe_.empty());
    ASSERT_FALSE(stranger_.empty());
  }

  void register_client(std::string id, void (*set)(NewClient&),
                       std::vector<std::string> methods = {}) {
    NewClient n;
    n.id = std::move(id);
    n.auth_methods = std::move(methods);
    set(n);
    auto created = registry_->create(std::move(n), now_);
    ASSERT_TRUE(created.has_value()) << created.error().message;
  }

  static PresentedCredentials over_mtls(const std::string& der, bool chain_verified = true) {
    PresentedCredentials presented;
    presented.certificate = PresentedCertificate{der, chain_verified};
    return presented;
  }

  std::string method(std::string_view id, const PresentedCredentials& presented) {
    auto result = authenticate({{"client_id", std::string(id)}}, presented);
    if (!result) {
      EXPECT_EQ(result.error().denial.error, OAuthError::kInvalidClient);
      EXPECT_EQ(result.error().denial.description, "client authentication failed");
      EXPECT_EQ(result.error().client_id, id);
      return result.error().denial.reason;
    }
    EXPECT_EQ(result->id(), id);
    return result->auth_method();
  }

  std::string spiffe_;
  std::string stranger_;
};

TEST_F(MutualTlsAuthenticationTest, TlsClientAuthBySubjectDn) {
  register_client("by-dn",
                  [](NewClient& n) { n.tls_client_auth_subject_dn = "CN=payments,O=Example"; });
  EXPECT_EQ(method("by-dn", over_mtls(spiffe_)), "tls_client_auth");
  EXPECT_EQ(method("by-dn", over_mtls(stranger_)), "certificate_mismatch");
}

TEST_F(MutualTlsAuthenticationTest, TlsClientAuthByUriSan) {
  register_client("by-uri", [](NewClient& n) {
    n.tls_client_auth_san_uri = "spiffe://example.org/ns/prod/payments";
  });
  EXPECT_EQ(method("by-uri", over_mtls(spiffe_)), "tls_client_auth");
  EXPECT_EQ(method("by-uri", over_mtls(stranger_)), "certificate_mismatch");
}

TEST_F(MutualTlsAuthenticationTest, TlsClientAuthByDnsSanIgnoringCase) {
  register_client("by-dns", [](NewClient& n) { n.tls_client_auth_san_dns = "payments.internal"; });
  EXPECT_EQ(method("by-dns", over_mtls(spiffe_)), "tls_client_auth");
  register_client("by-other-dns",
                  [](NewClient& n) { n.tls_client_auth_san_dns = "payments.internal.evil"; });
  EXPECT_EQ(method("by-other-dns", over_mtls(spiffe_)), "certificate_mismatch");
}

TEST_F(MutualTlsAuthenticationTest, TlsClientAuthNeedsAVerifiedChain) {
  register_client("by-uri", [](NewClient& n) {
    n.tls_client_auth_san_uri = "spiffe://example.org/ns/prod/payments";
  });
  EXPECT_EQ(method("by-uri", over_mtls(spiffe_, /*chain_verified=*/false)),
            "certificate_not_trusted");
}

TEST_F(MutualTlsAuthenticationTest, SomethingThatIsNotACertificateMatchesNothing) {
  register_client("by-uri", [](NewClient& n) {
    n.tls_client_auth_san_uri = "spiffe://example.org/ns/prod/payments";
  });
  EXPECT_EQ(method("by-uri", over_mtls("not DER")), "certificate_mismatch");
}

TEST_F(MutualTlsAuthenticationTest, SelfSignedByThumbprintWithoutAChain) {
  const std::string thumbprint = certificate_thumbprint(spiffe_);
  NewClient n{.id = "self-signed"};
  n.tls_client_certificates = {thumbprint};
  ASSERT_TRUE(registry_->create(std::move(n), now_).has_value());
  EXPECT_EQ(method("self-signed", over_mtls(spiffe_, /*chain_verified=*/false)),
            "self_signed_tls_client_auth");
  EXPECT_EQ(method("self-signed", over_mtls(stranger_, false)), "certificate_mismatch");
  auto failure = authenticate({{"client_id", "self-signed"}}, over_mtls(stranger_, false));
  ASSERT_FALSE(failure.has_value());
  EXPECT_EQ(failure.error().auth_method, "self_signed_tls_client_auth");
}

TEST_F(MutualTlsAuthenticationTest, TlsClientAuthIsTriedBeforeSelfSigned) {
  const std::string thumbprint = certificate_thumbprint(stranger_);
  NewClient n{.id = "both"};
  n.tls_client_auth_san_uri = "spiffe://example.org/ns/prod/payments";
  n.tls_client_certificates = {thumbprint};
  ASSERT_TRUE(registry_->create(std::move(n), now_).has_value());
  EXPECT_EQ(method("both", over_mtls(spiffe_)), "tls_client_auth");
  EXPECT_EQ(method("both", over_mtls(stranger_)), "self_signed_tls_client_auth");
  EXPECT_EQ(method("both", over_mtls(stranger_, false)), "self_signed_tls_client_auth");
  // Neither: the tls_client_auth reason is kept.
  EXPECT_EQ(method("both", over_mtls(spiffe_, false)), "certificate_not_trusted");
}

TEST_F(MutualTlsAuthenticationTest, UnknownDisabledAndSecretOnlyClients) {
  EXPECT_EQ(method("nobody", over_mtls(spiffe_)), "unknown_client");
  register_client("by-uri", [](NewClient& n) {
    n.tls_client_auth_san_uri = "spiffe://example.org/ns/prod/payments";
  });
  ASSERT_TRUE(registry_->set_status("by-uri", ClientStatus::kDisabled, now_).has_value());
  EXPECT_EQ(method("by-uri", over_mtls(spiffe_)), "client_disabled");
  register_client("secret-only", [](NewClient&) {});
  EXPECT_EQ(method("secret-only", over_mtls(spiffe_)), "auth_method_not_allowed");
}

TEST_F(MutualTlsAuthenticationTest, CertificateOnlyClientWithoutACertificate) {
  register_client("by-uri", [](NewClient& n) {
    n.tls_client_auth_san_uri = "spiffe://example.org/ns/prod/payments";
  });
  EXPECT_EQ(method("by-uri", {}), "certificate_required");
  // A client that also has a secret is only missing it.
  register_client(
      "mixed",
      [](NewClient& n) { n.tls_client_auth_san_uri = "spiffe://example.org/ns/prod/payments"; },
      {"tls_client_auth", "client_secret_post"});
  EXPECT_EQ(method("mixed", {}), "missing_client_secret");
  EXPECT_EQ(method("nobody", {}), "missing_client_secret");
}

TEST_F(MutualTlsAuthenticationTest, OtherCredentialsWinOverTheCertificate) {
  NewClient n{.id = "mixed"};
  n.tls_client_auth_san_uri = "spiffe://example.org/ns/prod/payments";
  n.auth_methods = {"tls_client_auth", "client_secret_basic"};
  auto created = registry_->create(std::move(n), now_);
  ASSERT_TRUE(created.has_value());
  PresentedCredentials basic = over_mtls(stranger_);
  basic.basic = ClientCredentials{"mixed", SecretString(created->secret.reveal())};
  auto result = authenticate({}, basic);
  ASSERT_TRUE(result.has_value());
  EXPECT_EQ(result->auth_method(), "client_secret_basic");
  // An assertion with a certificate: private_key_jwt, the certificate does not matter.
  auto by_assertion = authenticate(assertion_params(sign(key_, claims())), over_mtls(stranger_));
  ASSERT_TRUE(by_assertion.has_value());
  EXPECT_EQ(by_assertion->auth_method(), "private_key_jwt");
  // A certificate without client_id authenticates no one (RFC 8705 §2).
  EXPECT_EQ(reason({}, over_mtls(spiffe_)), "no_client_authentication");
}

}  // namespace
}  // namespace sigil::oauth
