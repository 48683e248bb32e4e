#include "server/app.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <deque>
#include <map>

#include "apikeys/testing/memory_store.hpp"
#include "base/base64url.hpp"
#include "base/hex.hpp"
#include "ca/testing/memory_ca_store.hpp"
#include "jose/jws.hpp"
#include "oauth/binding.hpp"
#include "oauth/dpop.hpp"
#include "oauth/testing/certificates.hpp"
#include "oauth/testing/dpop.hpp"
#include "oauth/testing/memory_store.hpp"
#include "pki/certificate.hpp"
#include "pki/testing.hpp"

namespace sigil::server {
namespace {

namespace json = boost::json;
using oauth::testing::MemoryStore;

const std::string kIssuer = "https://sigil.test";
const std::string kMasterKey(32, '\x42');
const std::string kMtlsUrl = "https://sigil.test:8443";

// An audit sink that holds each completion until the test releases it.
class HeldSink final : public audit::Sink {
 public:
  void append(audit::Event event, std::function<void(Result<void>)> done) override {
    events.push_back(std::move(event));
    pending.push_back(std::move(done));
  }
  void release_all(Result<void> result = Ok()) {
    while (!pending.empty()) {
      auto done = std::move(pending.front());
      pending.pop_front();
      done(result);
    }
  }
  std::vector<audit::Event> events;
  std::deque<std::function<void(Result<void>)>> pending;
};

class AppTest : public ::testing::Test {
 protected:
  void SetUp() override {
    oauth::TokenSettings settings;
    settings.issuer = kIssuer;
    keys_ = std::move(*oauth::KeyRing::load(store_, kMasterKey, settings));
    ASSERT_TRUE(keys_->initialise(jose::Algorithm::kES256, clock_.now()));
    clients_ = std::move(*oauth::ClientRegistry::load(store_));
    revocations_ = std::move(*oauth::RevocationList::load(store_, Seconds{30}, clock_.now()));
    revocation_ = std::make_unique<oauth::TokenRevocation>(*keys_, *revocations_);
    endpoint_ = std::make_unique<oauth::TokenEndpoint>(*clients_, *keys_, &policy_, &assertions_,
                                                       revocations_.get());
    policy_admin_ = std::move(*oauth::PolicyAdministration::load(store_, *clients_, policy_));
    api_keys_ = std::move(*apikeys::ApiKeyService::load(key_store_, key_store_));
    ca_ = std::move(*ca::CertificateAuthority::load(ca_store_, ca_store_, kMasterKey));
    make_app();
    auto admin = clients_->create({.id = "admin",
                                   .name = "admin",
                                   .attributes = {},
                                   .allowed_scopes = {"sigil:admin"},
                                   .allowed_audiences = {kIssuer},
                                   .auth_methods = {}},
                                  clock_.now());
    ASSERT_TRUE(admin);
    admin_secret_ = admin->secret.reveal();
  }

  // (Re)builds the App over the fixture's services, e.g. after setting policy_file_.
  void make_app() {
    app_ = std::make_unique<App>(Services{.clock = clock_,
                                          .issuer = kIssuer,
                                          .clients = *clients_,
                                          .keys = *keys_,
                                          .revocations = *revocations_,
                                          .revocation = *revocation_,
                                          .token_endpoint = *endpoint_,
                                          .assertions = &assertions_,
                                          .api_keys = *api_keys_,
                                          .policy = policy_,
                                          .policy_admin = *policy_admin_,
                                          .policy_file = policy_file_,
                                          .audit = sink_,
                                          .metrics = metrics_,
                                          .ca = ca_.get(),
                                          .certificate_records = &ca_store_,
                                          .mtls_url = kMtlsUrl,
                                          .blocking = blocking_,
                                          .readiness_problem = {}});
  }

  // Sends a request; returns the response if it was answered before the sink released.
  std::optional<http::Response> send(http::Request request,
                                     std::shared_ptr<std::optional<http::Response>> out = nullptr) {
    if (!out) out = std::make_shared<std::optional<http::Response>>();
    if (request.request_id.empty()) request.request_id = "req1";
    request.remote_address = "127.0.0.1";
    app_->handle(std::move(request),
                 http::Responder::from([out](http::Response&& r) { *out = std::move(r); }));
    return *out;
  }

  http::Response send_released(http::Request request) {
    auto out = std::make_shared<std::optional<http::Response>>();
    send(std::move(request), out);
    sink_.release_all();
    EXPECT_TRUE(out->has_value());
    return out->value_or(http::Response{});
  }

  static http::Request token_request(const std::string& id, const std::string& secret,
                                     std::string body) {
    http::Request r;
    r.method = "POST";
    r.path = r.target = "/oauth2/token";
    r.headers = {{"Content-Type", "application/x-www-form-urlencoded"},
                 {"Authorization", "Basic " + base64_encode(id + ":" + secret)}};
    r.body = std::move(body);
    return r;
  }

  std::string admin_token() {
    auto r = send_released(token_request("admin", admin_secret_, "grant_type=client_credentials"));
    EXPECT_EQ(r.status, 200u) << r.body;
    return std::string(json::parse(r.body).at("access_token").as_string());
  }

  http::Request admin_request(std::string method, std::string path, std::string body,
                              const std::string& token) {
    http::Request r;
    r.method = std::move(method);
    r.path = r.target = std::move(path);
    r.headers = {{"Authorization", "Bearer " + token}};
    if (!body.empty()) r.headers.emplace_back("Content-Type", "application/json");
    r.body = std::move(body);
    return r;
  }

  FakeClock clock_;
  MemoryStore store_;
  HeldSink sink_;
  http::MetricsRegistry metrics_;
  std::unique_ptr<oauth::KeyRing> keys_;
  std::unique_ptr<oauth::ClientRegistry> clients_;
  std::unique_ptr<oauth::RevocationList> revocations_;
  std::unique_ptr<oauth::TokenRevocation> revocation_;
  std::unique_ptr<oauth::TokenEndpoint> endpoint_;
  policy::PolicyHolder policy_;
  std::unique_ptr<oauth::PolicyAdministration> policy_admin_;
  std::string policy_file_;           // set before SetUp() to test the file mode
  BlockingWork* blocking_ = nullptr;  // set, then make_app(), to issue on worker threads
  apikeys::testing::MemoryStore key_store_;
  std::unique_ptr<apikeys::ApiKeyService> api_keys_;
  ca::testing::MemoryCaStore ca_store_;
  std::unique_ptr<ca::CertificateAuthority> ca_;
  std::unique_ptr<App> app_;
  std::string admin_secret_;
  oauth::ReplayCache replays_;
  oauth::AssertionContext assertions_{
      .keys = nullptr,
      .replays = &replays_,
      .audiences = {kIssuer, kIssuer + "/oauth2/token", kIssuer + "/oauth2/introspect",
                    kIssuer + "/oauth2/revoke"}};
};

TEST_F(AppTest, TokenAnswerWaitsForTheAuditRecord) {
  auto out = std::make_shared<std::optional<http::Response>>();
  send(token_request("admin", admin_secret_, "grant_type=client_credentials"), out);
  EXPECT_FALSE(out->has_value());  // not before the record is durable
  ASSERT_EQ(sink_.events.size(), 1u);
  const auto& e = sink_.events[0];
  EXPECT_EQ(e.event, "token.issue");
  EXPECT_EQ(e.decision, audit::Decision::kAllow);
  EXPECT_EQ(e.client_id, "admin");
  EXPECT_EQ(e.auth_method, "client_secret_basic");
  EXPECT_EQ(e.request_id, "req1");
  EXPECT_EQ(e.source_address, "127.0.0.1");
  EXPECT_FALSE(e.jti.empty());
  EXPECT_EQ(e.audience, std::vector<std::string>{kIssuer});
  sink_.release_all();
  ASSERT_TRUE(out->has_value());
  EXPECT_EQ((*out)->status, 200u);
  EXPECT_EQ((*out)->header("Pragma"), "no-cache");
}

TEST_F(AppTest, FailedAuditWriteFailsTheRequest) {
  auto out = std::make_shared<std::optional<http::Response>>();
  send(token_request("admin", admin_secret_, "grant_type=client_credentials"), out);
  sink_.release_all(std::unexpected(Error::internal("disk full")));
  ASSERT_TRUE(out->has_value());
  EXPECT_EQ((*out)->status, 500u);
  EXPECT_EQ(json::parse((*out)->body).at("error").as_string(), "server_error");
  EXPECT_EQ((*out)->body.find("access_token"), std::string::npos);
}

TEST_F(AppTest, DenialsAreAuditedWithTheirReason) {
  auto r = send_released(token_request("admin", "wrong", "grant_type=client_credentials"));
  EXPECT_EQ(r.status, 401u);
  EXPECT_EQ(r.header("WWW-Authenticate"), "Basic realm=\"sigil\"");
  ASSERT_EQ(sink_.events.size(), 1u);
  EXPECT_EQ(sink_.events[0].decision, audit::Decision::kDeny);
  EXPECT_EQ(sink_.events[0].reason, "bad_secret");
  EXPECT_NE(
      metrics_.render().find("sigil_denials_total{endpoint=\"token\",reason=\"bad_secret\"} 1"),
      std::string::npos)
      << metrics_.render();
}

TEST_F(AppTest, WrongContentTypeIs415) {
  auto request = token_request("admin", admin_secret_, "{}");
  request.headers[0].second = "application/json";
  auto r = send_released(std::move(request));
  EXPECT_EQ(r.status, 415u);
  EXPECT_EQ(sink_.events.at(0).reason, "bad_content_type");
}

TEST_F(AppTest, UnknownPathAndWrongMethod) {
  http::Request r;
  r.method = "GET";
  r.path = "/nope";
  EXPECT_EQ(send(r)->status, 404u);
  r.path = "/oauth2/token";
  auto wrong = send(r);
  EXPECT_EQ(wrong->status, 405u);
  EXPECT_EQ(wrong->header("Allow"), "POST");
  EXPECT_TRUE(sink_.events.empty());
}

TEST_F(AppTest, AdminNeedsABearerToken) {
  http::Request r;
  r.method = "GET";
  r.path = "/v1/clients";
  auto out = send_released(r);
  EXPECT_EQ(out.status, 401u);
  EXPECT_EQ(out.header("WWW-Authenticate"), "Bearer realm=\"sigil\"");
  EXPECT_EQ(sink_.events.back().reason, "no_token");
}

TEST_F(AppTest, AdminCreatesAndDisablesAClient) {
  const std::string token = admin_token();
  auto created = send_released(admin_request(
      "POST", "/v1/clients",
      R"({"id":"billing","name":"Billing","allowed_scopes":["b:read"],"allowed_audiences":["https://b"],"attributes":{"team":"money"}})",
      token));
  ASSERT_EQ(created.status, 201u) << created.body;
  auto body = json::parse(created.body).as_object();
  EXPECT_EQ(body.at("client").at("id").as_string(), "billing");
  EXPECT_EQ(body.at("client").at("attributes").at("team").as_string(), "money");
  EXPECT_EQ(body.at("client_secret").as_string().size(), 43u);
  EXPECT_EQ(sink_.events.back().event, "client.create");
  EXPECT_EQ(sink_.events.back().subject, "billing");
  // the secret never reaches the audit record
  for (const auto& e : sink_.events) {
    EXPECT_EQ(e.reason.find(std::string(body.at("client_secret").as_string())), std::string::npos);
  }
  auto disabled = send_released(admin_request("POST", "/v1/clients/billing/disable", "", token));
  EXPECT_EQ(disabled.status, 200u);
  EXPECT_EQ(json::parse(disabled.body).at("status").as_string(), "disabled");
  EXPECT_EQ(sink_.events.back().event, "client.disable");
  EXPECT_EQ(send_released(admin_request("GET", "/v1/clients/nobody", "", token)).status, 404u);
  EXPECT_EQ(send_released(admin_request("POST", "/v1/clients", R"({"name":"x","bogus":1})", token))
                .status,
            400u);
}

TEST_F(AppTest, AdminRefusesTokenWithoutAdminScope) {
  auto created = clients_->create({.id = "plain",
                                   .name = "plain",
                                   .attributes = {},
                                   .allowed_scopes = {"read"},
                                   .allowed_audiences = {kIssuer},
                                   .auth_methods = {}},
                                  clock_.now());
  auto r = send_released(
      token_request("plain", created->secret.reveal(), "grant_type=client_credentials"));
  const std::string token(json::parse(r.body).at("access_token").as_string());
  auto out = send_released(admin_request("GET", "/v1/clients", "", token));
  EXPECT_EQ(out.status, 403u);
  EXPECT_EQ(json::parse(out.body).at("error").as_string(), "insufficient_scope");
}

TEST_F(AppTest, AdminTokenOfDisabledClientIsRefused) {
  const std::string token = admin_token();
  ASSERT_TRUE(clients_->set_status("admin", oauth::ClientStatus::kDisabled, clock_.now()));
  auto out = send_released(admin_request("GET", "/v1/clients", "", token));
  EXPECT_EQ(out.status, 401u);
  EXPECT_EQ(sink_.events.back().reason, "client_disabled");
}

TEST_F(AppTest, KeySpaceScopedAdminSeesOnlyItsSpace) {
  const std::string admin = admin_token();
  for (const char* body :
       {R"({"id":"live","prefix":"sk_live"})", R"({"id":"test","prefix":"sk_test"})"}) {
    ASSERT_EQ(send_released(admin_request("POST", "/v1/key-spaces", body, admin)).status, 201u);
  }
  auto created = send_released(
      admin_request("POST", "/v1/keys", R"({"key_space":"test","owner":"acme"})", admin));
  ASSERT_EQ(created.status, 201u) << created.body;
  const std::string test_key_id(json::parse(created.body).at("key").at("id").as_string());

  auto scoped = clients_->create({.id = "live-admin",
                                  .name = "live admin",
                                  .attributes = {},
                                  .allowed_scopes = {"sigil:keys:live"},
                                  .allowed_audiences = {kIssuer},
                                  .auth_methods = {}},
                                 clock_.now());
  auto r = send_released(
      token_request("live-admin", scoped->secret.reveal(), "grant_type=client_credentials"));
  const std::string live(json::parse(r.body).at("access_token").as_string());

  auto spaces = send_released(admin_request("GET", "/v1/key-spaces", "", live));
  EXPECT_EQ(json::parse(spaces.body).at("key_spaces").as_array().size(), 1u);
  EXPECT_EQ(send_released(admin_request("GET", "/v1/keys/" + test_key_id, "", live)).status, 404u);
  EXPECT_EQ(send_released(admin_request("GET", "/v1/keys?key_space=test", "", live)).status, 404u);
  EXPECT_EQ(
      send_released(admin_request("POST", "/v1/keys", R"({"key_space":"test","owner":"x"})", live))
          .status,
      404u);
  EXPECT_EQ(
      send_released(admin_request("POST", "/v1/keys", R"({"key_space":"live","owner":"x"})", live))
          .status,
      201u);
  EXPECT_EQ(
      send_released(admin_request("POST", "/v1/key-spaces", R"({"id":"x","prefix":"sk_x"})", live))
          .status,
      403u);
  EXPECT_EQ(send_released(admin_request("GET", "/v1/clients", "", live)).status, 403u);
}

TEST_F(AppTest, FailedVerificationsAreAuditedSuccessfulOnesAreNot) {
  const std::string admin = admin_token();
  ASSERT_EQ(send_released(admin_request("POST", "/v1/key-spaces",
                                        R"({"id":"live","prefix":"sk_live"})", admin))
                .status,
            201u);
  auto created = send_released(admin_request(
      "POST", "/v1/keys", R"({"key_space":"live","owner":"acme","scopes":["read"]})", admin));
  const auto body = json::parse(created.body);
  const std::string secret(body.at("secret").as_string());
  const std::string id(body.at("key").at("id").as_string());
  const std::size_t before = sink_.events.size();

  auto ok = send(admin_request("POST", "/v1/keys/verify", R"({"key":")" + secret + R"("})", admin));
  ASSERT_TRUE(ok.has_value());  // answered at once: nothing to record
  EXPECT_EQ(json::parse(ok->body).at("valid").as_bool(), true);
  EXPECT_EQ(json::parse(ok->body).at("owner").as_string(), "acme");
  EXPECT_EQ(sink_.events.size(), before);

  auto missing = send_released(admin_request(
      "POST", "/v1/keys/verify", R"({"key":")" + secret + R"(","scopes":["write"]})", admin));
  EXPECT_EQ(missing.status, 200u);
  EXPECT_EQ(json::parse(missing.body).at("code").as_string(), "missing_scope");
  ASSERT_EQ(sink_.events.size(), before + 1);
  EXPECT_EQ(sink_.events.back().event, "key.verify");
  EXPECT_EQ(sink_.events.back().decision, audit::Decision::kDeny);
  EXPECT_EQ(sink_.events.back().reason, "missing_scope");
  EXPECT_EQ(sink_.events.back().subject, id);

  std::string typo = secret;
  typo[12] = typo[12] == 'a' ? 'b' : 'a';
  auto bad = send_released(
      admin_request("POST", "/v1/keys/verify", R"({"key":")" + typo + R"("})", admin));
  EXPECT_EQ(json::parse(bad.body).at("code").as_string(), "bad_checksum");
  for (const auto& e : sink_.events) {
    for (const std::string* field : {&e.subject, &e.reason, &e.jti, &e.client_id}) {
      EXPECT_EQ(field->find(secret.substr(8)), std::string::npos);
      EXPECT_EQ(field->find(typo.substr(8)), std::string::npos);
    }
  }
}

TEST_F(AppTest, HealthAndReadiness) {
  http::Request r;
  r.method = "GET";
  r.path = "/readyz";
  EXPECT_EQ(send(r)->status, 200u);
  r.path = "/healthz";
  EXPECT_EQ(send(r)->status, 200u);
  r.path = "/.well-known/jwks.json";
  auto jwks = send(r);
  EXPECT_EQ(jwks->status, 200u);
  EXPECT_EQ(json::parse(jwks->body).at("keys").as_array().size(), 1u);
}

constexpr std::string_view kPolicy = R"(version: 1
services:
  - name: video-service
    attributes: {environment: production}
audiences:
  - name: analytics
    uri: https://analytics.test
    scopes: [analytics:write, analytics:read]
grants:
  - name: video-analytics
    caller: video-service
    audience: analytics
    scopes: [analytics:write]
)";

std::string policy_body(std::string_view document) {
  return json::serialize(json::object{{"document", document}});
}

TEST_F(AppTest, AppliedPolicyDecidesTokenRequests) {
  const std::string admin = admin_token();
  auto plan = send_released(admin_request("POST", "/v1/policy/plan", policy_body(kPolicy), admin));
  ASSERT_EQ(plan.status, 200u) << plan.body;
  EXPECT_EQ(json::parse(plan.body).at("clients").as_array().size(), 1u);
  EXPECT_EQ(sink_.events.back().event, "policy.plan");

  auto applied = send_released(admin_request("POST", "/v1/policy", policy_body(kPolicy), admin));
  ASSERT_EQ(applied.status, 200u) << applied.body;
  EXPECT_EQ(sink_.events.back().event, "policy.apply");
  EXPECT_EQ(sink_.events.back().decision, audit::Decision::kAllow);
  const auto answer = json::parse(applied.body);
  const auto& credentials = answer.at("credentials").as_array();
  ASSERT_EQ(credentials.size(), 1u);
  const std::string secret(credentials[0].at("client_secret").as_string());

  auto ok = send_released(
      token_request("video-service", secret, "grant_type=client_credentials&audience=analytics"));
  EXPECT_EQ(ok.status, 200u) << ok.body;
  EXPECT_EQ(sink_.events.back().rule, "video-analytics");
  auto denied = send_released(
      token_request("video-service", secret,
                    "grant_type=client_credentials&audience=analytics&scope=analytics:read"));
  EXPECT_EQ(denied.status, 400u);
  EXPECT_EQ(json::parse(denied.body).at("error").as_string(), "invalid_scope");
  EXPECT_EQ(sink_.events.back().reason, "scope_not_granted");

  // The admin API stays reachable: sigil's own audience is not governed by the policy.
  EXPECT_EQ(admin_token().empty(), false);
}

TEST_F(AppTest, InvalidPolicyIsRefusedWithLines) {
  const std::string admin = admin_token();
  auto r = send_released(admin_request("POST", "/v1/policy",
                                       policy_body("version: 1\nservices:\n  - nam: x\n"), admin));
  EXPECT_EQ(r.status, 400u);
  const auto body = json::parse(r.body);
  EXPECT_EQ(body.at("error").as_string(), "invalid_policy");
  EXPECT_NE(std::string(body.at("error_description").as_string()).find("policy:3:"),
            std::string::npos)
      << r.body;
  EXPECT_EQ(sink_.events.back().decision, audit::Decision::kDeny);
  EXPECT_EQ(sink_.events.back().reason, "invalid_policy");
  EXPECT_EQ(policy_.current(), nullptr);
  EXPECT_EQ(send_released(admin_request("GET", "/v1/policy", "", admin)).status, 404u);
}

TEST_F(AppTest, PolicyFromAFileCannotBeChangedThroughTheApi) {
  policy_file_ = "/etc/sigil/sigil.yaml";
  make_app();
  const std::string admin = admin_token();
  auto r = send_released(admin_request("POST", "/v1/policy", policy_body(kPolicy), admin));
  EXPECT_EQ(r.status, 409u);
  EXPECT_NE(r.body.find("/etc/sigil/sigil.yaml"), std::string::npos);
  r = send_released(admin_request("POST", "/v1/policy/rollback", R"({"version":1})", admin));
  EXPECT_EQ(r.status, 409u);
  // Planning is harmless and allowed.
  EXPECT_EQ(
      send_released(admin_request("POST", "/v1/policy/plan", policy_body(kPolicy), admin)).status,
      200u);
}

TEST_F(AppTest, AuthorizeNeedsItsScopeAndAnswersWithTheRule) {
  const std::string admin = admin_token();
  ASSERT_EQ(send_released(admin_request("POST", "/v1/policy", policy_body(kPolicy), admin)).status,
            200u);
  auto allow = send_released(admin_request(
      "POST", "/v1/authorize",
      R"({"caller":"video-service","audience":"https://analytics.test","scope":"analytics:write"})",
      admin));
  ASSERT_EQ(allow.status, 200u) << allow.body;
  auto body = json::parse(allow.body);
  EXPECT_EQ(body.at("decision").as_string(), "allow");
  EXPECT_EQ(body.at("rules").as_array().at(0).as_string(), "video-analytics");
  EXPECT_EQ(sink_.events.back().event, "policy.authorize");
  EXPECT_EQ(sink_.events.back().decision, audit::Decision::kAllow);

  auto deny = send_released(admin_request("POST", "/v1/authorize",
                                          R"({"caller":"nobody","audience":"analytics"})", admin));
  EXPECT_EQ(json::parse(deny.body).at("reason").as_string(), "unknown_caller");
  EXPECT_EQ(sink_.events.back().decision, audit::Decision::kDeny);

  auto other = clients_->create({.id = "rs",
                                 .name = "rs",
                                 .attributes = {},
                                 .allowed_scopes = {"read"},
                                 .allowed_audiences = {kIssuer},
                                 .auth_methods = {}},
                                clock_.now());
  ASSERT_TRUE(other);
  auto t =
      send_released(token_request("rs", other->secret.reveal(), "grant_type=client_credentials"));
  const std::string token(json::parse(t.body).at("access_token").as_string());
  auto refused = send_released(admin_request(
      "POST", "/v1/authorize", R"({"caller":"video-service","audience":"analytics"})", token));
  EXPECT_EQ(refused.status, 403u);
}

// ---- private_key_jwt ----

// A client assertion (RFC 7523 §2.2) for `id`, naming `audience`.
std::string client_assertion(const jose::Jwk& key, const std::string& id,
                             const std::string& audience, TimePoint now, const std::string& jti) {
  auto signer = jose::Signer::create(key, "");
  json::object claims{
      {"iss", id}, {"sub", id}, {"aud", audience}, {"exp", to_unix(now) + 60}, {"jti", jti}};
  return *signer->sign(json::serialize(claims));
}

http::Request form_request(std::string path, std::string body) {
  http::Request r;
  r.method = "POST";
  r.path = r.target = std::move(path);
  r.headers = {{"Content-Type", "application/x-www-form-urlencoded"}};
  r.body = std::move(body);
  return r;
}

TEST_F(AppTest, IntrospectionAndRevocationAcceptPrivateKeyJwt) {
  auto key = jose::Jwk::generate(jose::Algorithm::kES256);
  ASSERT_TRUE(clients_->create({.id = "signer",
                                .name = "signer",
                                .attributes = {},
                                .allowed_scopes = {},
                                .allowed_audiences = {},
                                .auth_methods = {},
                                .jwks = jose::JwkSet({key->public_key()}).to_json()},
                               clock_.now()));
  const std::string token = admin_token();
  const std::string type =
      "client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer";
  const std::string introspect_assertion =
      client_assertion(*key, "signer", kIssuer + "/oauth2/introspect", clock_.now(), "a-1");
  auto r = send_released(
      form_request("/oauth2/introspect",
                   type + "&client_assertion=" + introspect_assertion + "&token=" + token));
  ASSERT_EQ(r.status, 200u) << r.body;
  EXPECT_TRUE(json::parse(r.body).at("active").as_bool());
  EXPECT_EQ(sink_.events.back().event, "token.introspect");
  EXPECT_EQ(sink_.events.back().client_id, "signer");
  EXPECT_EQ(sink_.events.back().auth_method, "private_key_jwt");

  // The same assertion again is a replay: 401 invalid_client, audited with the reason.
  r = send_released(
      form_request("/oauth2/introspect",
                   type + "&client_assertion=" + introspect_assertion + "&token=" + token));
  EXPECT_EQ(r.status, 401u);
  EXPECT_EQ(json::parse(r.body).at("error").as_string(), "invalid_client");
  EXPECT_EQ(sink_.events.back().reason, "assertion_replayed");
  EXPECT_EQ(sink_.events.back().auth_method, "private_key_jwt");
  EXPECT_EQ(sink_.events.back().client_id, "signer");

  // An assertion for another server is refused.
  r = send_released(form_request(
      "/oauth2/revoke", type + "&client_assertion=" +
                            client_assertion(*key, "signer", "https://other.example/oauth2/revoke",
                                             clock_.now(), "a-2") +
                            "&token=" + token));
  EXPECT_EQ(r.status, 401u);
  EXPECT_EQ(sink_.events.back().reason, "assertion_wrong_audience");

  r = send_released(form_request(
      "/oauth2/revoke",
      type + "&client_assertion=" +
          client_assertion(*key, "signer", kIssuer + "/oauth2/revoke", clock_.now(), "a-3") +
          "&token=" + token));
  // Authenticated; the token is another client's, so RFC 7009 leaves it alone.
  EXPECT_EQ(r.status, 200u) << r.body;
  EXPECT_EQ(sink_.events.back().event, "token.revoke");
  EXPECT_EQ(sink_.events.back().client_id, "signer");
  EXPECT_EQ(sink_.events.back().auth_method, "private_key_jwt");
  EXPECT_EQ(sink_.events.back().decision, audit::Decision::kDeny);
}

TEST_F(AppTest, AdminRegistersAClientWithKeysAndNoSecret) {
  const std::string token = admin_token();
  auto key = jose::Jwk::generate(jose::Algorithm::kEdDSA);
  json::object jwk = key->public_json();
  json::object request{
      {"id", "keyed"}, {"name", "Keyed"}, {"jwks", json::object{{"keys", json::array{jwk}}}}};
  auto created =
      send_released(admin_request("POST", "/v1/clients", json::serialize(request), token));
  ASSERT_EQ(created.status, 201u) << created.body;
  auto body = json::parse(created.body).as_object();
  EXPECT_FALSE(body.contains("client_secret"));
  const auto& client = body.at("client").as_object();
  EXPECT_EQ(client.at("auth_methods"), (json::array{"private_key_jwt"}));
  EXPECT_EQ(client.at("jwks").at("keys").at(0).at("kid").as_string(), key->kid());
  EXPECT_EQ(client.at("jwks").at("keys").at(0).at("x"), jwk.at("x"));
  EXPECT_FALSE(client.contains("jwks_uri"));

  // A private key, a jwks that is not an object, both kinds of keys, or plain http
  // elsewhere than loopback: 400 with what was wrong.
  json::object private_jwk = jwk;
  private_jwk["d"] = "AAAA";
  for (const json::object& bad :
       {json::object{{"name", "x"}, {"jwks", json::object{{"keys", json::array{private_jwk}}}}},
        json::object{{"name", "x"}, {"jwks", "{\"keys\":[]}"}},
        json::object{{"name", "x"},
                     {"jwks", json::object{{"keys", json::array{jwk}}}},
                     {"jwks_uri", "https://keys.example.com/x.json"}},
        json::object{{"name", "x"}, {"jwks_uri", "http://keys.example.com/x.json"}},
        json::object{{"name", "x"}, {"auth_methods", json::array{"private_key_jwt"}}}}) {
    auto refused = send_released(admin_request("POST", "/v1/clients", json::serialize(bad), token));
    EXPECT_EQ(refused.status, 400u) << json::serialize(bad);
    EXPECT_EQ(json::parse(refused.body).at("error").as_string(), "invalid_request");
  }

  // Registered keys are replaced through /keys.
  auto moved =
      send_released(admin_request("POST", "/v1/clients/keyed/keys",
                                  R"({"jwks_uri":"https://keys.example.com/keyed.json"})", token));
  ASSERT_EQ(moved.status, 200u) << moved.body;
  auto shown = json::parse(moved.body).as_object();
  EXPECT_EQ(shown.at("jwks_uri").as_string(), "https://keys.example.com/keyed.json");
  EXPECT_FALSE(shown.contains("jwks"));
  EXPECT_EQ(sink_.events.back().event, "client.set_keys");
  EXPECT_EQ(sink_.events.back().subject, "keyed");
  // Taking every key away from a private_key_jwt client is a conflict.
  auto stranded = send_released(admin_request("POST", "/v1/clients/keyed/keys", "{}", token));
  EXPECT_EQ(stranded.status, 409u) << stranded.body;
  EXPECT_EQ(send_released(admin_request("POST", "/v1/clients/nobody/keys",
                                        R"({"jwks_uri":"https://k.example/j"})", token))
                .status,
            404u);
}

TEST_F(AppTest, AdminRegistersAndChangesAClientsCertificates) {
  const std::string token = admin_token();
  const std::string der = oauth::testing::make_certificate_der({.subject = {{"CN", "edge"}}});
  ASSERT_FALSE(der.empty());
  const std::string pem = pki::pem_encode("CERTIFICATE", der);
  const std::string thumbprint = oauth::certificate_thumbprint(der);
  json::object request{{"id", "payments"},
                       {"name", "Payments"},
                       {"tls_client_auth_san_uri", "spiffe://example.org/payments"},
                       {"tls_client_certificates_pem", json::array{pem}}};
  auto created =
      send_released(admin_request("POST", "/v1/clients", json::serialize(request), token));
  ASSERT_EQ(created.status, 201u) << created.body;
  auto body = json::parse(created.body).as_object();
  EXPECT_FALSE(body.contains("client_secret"));
  const auto& client = body.at("client").as_object();
  EXPECT_EQ(client.at("auth_methods"),
            (json::array{"self_signed_tls_client_auth", "tls_client_auth"}));
  EXPECT_EQ(client.at("tls_client_auth_san_uri").as_string(), "spiffe://example.org/payments");
  EXPECT_EQ(client.at("tls_client_certificates"), (json::array{json::string(thumbprint)}));
  EXPECT_FALSE(client.contains("tls_client_auth_san_dns"));
  auto shown = send_released(admin_request("GET", "/v1/clients/payments", "", token));
  ASSERT_EQ(shown.status, 200u);
  EXPECT_EQ(json::parse(shown.body).at("tls_client_certificates"),
            (json::array{json::string(thumbprint)}));

  // Two subject values, a PEM that is not one certificate, a thumbprint that is not one.
  for (const json::object& bad :
       {json::object{{"name", "x"},
                     {"tls_client_auth_san_uri", "spiffe://example.org/x"},
                     {"tls_client_auth_san_dns", "x.internal"}},
        json::object{{"name", "x"}, {"tls_client_certificates_pem", json::array{"not a PEM"}}},
        json::object{{"name", "x"}, {"tls_client_certificates_pem", json::array{pem + pem}}},
        json::object{{"name", "x"}, {"tls_client_certificates_pem", pem}},
        json::object{{"name", "x"}, {"tls_client_certificates", json::array{"short"}}},
        json::object{{"name", "x"}, {"auth_methods", json::array{"tls_client_auth"}}}}) {
    auto refused = send_released(admin_request("POST", "/v1/clients", json::serialize(bad), token));
    EXPECT_EQ(refused.status, 400u) << json::serialize(bad);
    EXPECT_EQ(json::parse(refused.body).at("error").as_string(), "invalid_request");
  }

  // PUT /tls replaces every value: a DNS SAN now, no certificates.
  auto changed =
      send_released(admin_request("PUT", "/v1/clients/payments/tls",
                                  R"({"tls_client_auth_san_dns":"payments.internal"})", token));
  ASSERT_EQ(changed.status, 200u) << changed.body;
  auto after = json::parse(changed.body).as_object();
  EXPECT_EQ(after.at("tls_client_auth_san_dns").as_string(), "payments.internal");
  EXPECT_FALSE(after.contains("tls_client_auth_san_uri"));
  EXPECT_FALSE(after.contains("tls_client_certificates"));
  EXPECT_EQ(after.at("auth_methods"), (json::array{"tls_client_auth"}));
  EXPECT_EQ(sink_.events.back().event, "client.set_tls");
  EXPECT_EQ(sink_.events.back().subject, "payments");
  // POST does the same; thumbprints are taken as they are.
  auto posted = send_released(admin_request(
      "POST", "/v1/clients/payments/tls",
      json::serialize(
          json::object{{"tls_client_certificates", json::array{json::string(thumbprint)}}}),
      token));
  ASSERT_EQ(posted.status, 200u) << posted.body;
  EXPECT_EQ(json::parse(posted.body).at("auth_methods"),
            (json::array{"self_signed_tls_client_auth"}));
  // Nothing left to authenticate with is a conflict; an unknown client, a wrong method.
  EXPECT_EQ(send_released(admin_request("PUT", "/v1/clients/payments/tls", "{}", token)).status,
            409u);
  EXPECT_EQ(send_released(admin_request("PUT", "/v1/clients/nobody/tls",
                                        R"({"tls_client_auth_san_dns":"x.internal"})", token))
                .status,
            404u);
  EXPECT_EQ(send_released(admin_request("GET", "/v1/clients/payments/tls", "", token)).status,
            405u);
  EXPECT_EQ(send_released(admin_request("PUT", "/v1/clients/payments/tls", R"({"bogus":1})", token))
                .status,
            400u);
}

// ---- token exchange ----

TEST_F(AppTest, TokenExchangeIsAuditedWithSubjectActorAndFederatedIdentity) {
  const std::string login = "https://login.example.com";
  auto idp_key = jose::Jwk::generate(jose::Algorithm::kES256);
  ASSERT_TRUE(idp_key.has_value());
  const std::string document = R"(version: 1
services:
  - name: frontend
  - name: checkout
audiences:
  - name: checkout-api
    uri: https://checkout.example.com
    scopes: [orders:read, inventory:read]
  - name: inventory
    uri: https://inventory.example.com
    scopes: [inventory:read]
grants:
  - caller: frontend
    audience: checkout-api
    scopes: [orders:read, inventory:read]
  - caller: checkout
    audience: inventory
    scopes: [inventory:read]
issuers:
  - name: login
    issuer: )" + login + R"(
    audience: )" + kIssuer + R"(
    jwks: )" + jose::JwkSet({idp_key->public_key()}).to_json() +
                               R"(
    rules:
      - name: staff
        claims: {groups: staff}
        user: true
)";
  const std::string admin = admin_token();
  auto applied = send_released(admin_request("POST", "/v1/policy", policy_body(document), admin));
  ASSERT_EQ(applied.status, 200u) << applied.body;
  std::map<std::string, std::string> secrets;
  const json::value answer = json::parse(applied.body);
  for (const auto& c : answer.at("credentials").as_array()) {
    secrets[std::string(c.at("client_id").as_string())] = c.at("client_secret").as_string();
  }
  ASSERT_EQ(secrets.size(), 2u);

  auto signer = jose::Signer::create(*idp_key, "JWT");
  ASSERT_TRUE(signer.has_value());
  const std::string id_token =
      *signer->sign(json::serialize(json::object{{"iss", login},
                                                 {"sub", "alice"},
                                                 {"aud", kIssuer},
                                                 {"groups", json::array{"staff"}},
                                                 {"exp", to_unix(clock_.now()) + 600}}));
  const std::string exchange =
      "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Atoken-exchange";

  // frontend exchanges alice's ID token for checkout-api.
  auto first = send_released(
      token_request("frontend", secrets["frontend"],
                    exchange + "&subject_token=" + id_token +
                        "&subject_token_type=urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Aid_token"
                        "&audience=checkout-api"));
  ASSERT_EQ(first.status, 200u) << first.body;
  const auto body = json::parse(first.body).as_object();
  EXPECT_EQ(body.at("issued_token_type").as_string(),
            "urn:ietf:params:oauth:token-type:access_token");
  const audit::Event& one = sink_.events.back();
  EXPECT_EQ(one.event, "token.issue");
  EXPECT_EQ(one.decision, audit::Decision::kAllow);
  EXPECT_EQ(one.client_id, "frontend");
  EXPECT_EQ(one.subject, "alice");
  EXPECT_EQ(one.actor, "frontend");
  EXPECT_EQ(one.federated, login + " alice");
  EXPECT_EQ(one.audience, std::vector<std::string>{"https://checkout.example.com"});
  EXPECT_EQ(one.rule, "frontend->checkout-api,staff");

  // checkout exchanges that token for inventory: the chain is recorded outermost first.
  auto second = send_released(token_request(
      "checkout", secrets["checkout"],
      exchange + "&subject_token=" + std::string(body.at("access_token").as_string()) +
          "&subject_token_type=urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Aaccess_token"
          "&audience=inventory&scope=inventory%3Aread"));
  ASSERT_EQ(second.status, 200u) << second.body;
  EXPECT_EQ(sink_.events.back().subject, "alice");
  EXPECT_EQ(sink_.events.back().actor, "checkout,frontend");
  EXPECT_EQ(sink_.events.back().federated, login + " alice");
  EXPECT_EQ(sink_.events.back().scopes, std::vector<std::string>{"inventory:read"});

  // Refused: a person's token without an actor. The record still says whose it was.
  auto refused = send_released(form_request(
      "/oauth2/token", exchange + "&subject_token=" + id_token +
                           "&subject_token_type=urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Aid_token"
                           "&audience=checkout-api"));
  EXPECT_EQ(refused.status, 400u);
  EXPECT_EQ(json::parse(refused.body).at("error").as_string(), "invalid_request");
  EXPECT_EQ(sink_.events.back().decision, audit::Decision::kDeny);
  EXPECT_EQ(sink_.events.back().reason, "actor_required");
  EXPECT_EQ(sink_.events.back().auth_method, "federated");
  EXPECT_EQ(sink_.events.back().subject, "alice");
  EXPECT_EQ(sink_.events.back().federated, login + " alice");

  // Issued tokens are counted by the grant that issued them.
  const std::string metrics = metrics_.render();
  EXPECT_NE(metrics.find("sigil_tokens_issued_total{grant_type=\"urn:ietf:params:oauth:grant-type:"
                         "token-exchange\"} 2"),
            std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find("sigil_tokens_issued_total{grant_type=\"client_credentials\"} 1"),
            std::string::npos)
      << metrics;
}

// --- certificates ----------------------------------------------------------------------

class CertificateRoutesTest : public AppTest {
 protected:
  void SetUp() override {
    AppTest::SetUp();
    auto td = pki::TrustDomain::parse("example.org");
    ASSERT_TRUE(ca_->initialise(*td, {}, clock_.now()));
    auto workload = clients_->create({.id = "payments",
                                      .name = "payments",
                                      .attributes = {},
                                      .allowed_scopes = {"cert:issue"},
                                      .allowed_audiences = {kIssuer},
                                      .auth_methods = {}},
                                     clock_.now());
    ASSERT_TRUE(workload);
    workload_secret_ = workload->secret.reveal();
  }

  std::string workload_token() {
    auto r =
        send_released(token_request("payments", workload_secret_, "grant_type=client_credentials"));
    EXPECT_EQ(r.status, 200u) << r.body;
    return std::string(json::parse(r.body).at("access_token").as_string());
  }

  static std::string csr_pem() {
    auto key = pki::testing::make_key("EC", "P-256");
    return pki::testing::pem_of("CERTIFICATE REQUEST", pki::testing::make_csr_der(key.get()));
  }

  static std::string csr_body(const std::string& extra = "") {
    json::object body{{"csr", csr_pem()}};
    std::string text = json::serialize(body);
    if (!extra.empty()) text = text.substr(0, text.size() - 1) + "," + extra + "}";
    return text;
  }

  http::Response issue(const std::string& body, const std::string& token) {
    return send_released(admin_request("POST", "/v1/certificates", body, token));
  }

  std::string workload_secret_;
};

TEST_F(CertificateRoutesTest, IssuesTheCallersSpiffeIdAndAuditsTheCertificate) {
  auto r = issue(csr_body(), workload_token());
  ASSERT_EQ(r.status, 201u) << r.body;
  const auto body = json::parse(r.body).as_object();
  EXPECT_EQ(body.at("spiffe_id").as_string(), "spiffe://example.org/payments");
  EXPECT_EQ(body.at("not_after").as_int64() - body.at("not_before").as_int64(), 3600);
  auto certificate = pki::Certificate::from_pem(body.at("certificate").as_string());
  ASSERT_TRUE(certificate);
  // The CSR asked for CN=admin; the certificate ignores it.
  EXPECT_EQ(certificate->uri_sans(), std::vector<std::string>{"spiffe://example.org/payments"});
  EXPECT_EQ(certificate->subject().find("admin"), std::string::npos) << certificate->subject();
  auto chain = pki::Certificate::chain_from_pem(body.at("chain").as_string());
  ASSERT_TRUE(chain);
  EXPECT_EQ(chain->size(), 2u);
  EXPECT_NE(std::string(body.at("bundle").as_string()).find("BEGIN CERTIFICATE"),
            std::string::npos);

  const auto& e = sink_.events.back();
  EXPECT_EQ(e.event, "certificate.issue");
  EXPECT_EQ(e.decision, audit::Decision::kAllow);
  EXPECT_EQ(e.client_id, "payments");
  EXPECT_EQ(e.subject, "payments");
  EXPECT_EQ(e.spiffe_id, "spiffe://example.org/payments");
  EXPECT_EQ(e.serial, body.at("serial").as_string());
  EXPECT_EQ(e.certificate, body.at("fingerprint_sha256").as_string());
  EXPECT_EQ(e.certificate, hex_encode(certificate->fingerprint_sha256()));
  // Recorded for renewal and listing.
  EXPECT_TRUE(ca_store_.get_certificate(e.serial));
}

TEST_F(CertificateRoutesTest, ShorterLifetimeOnRequestNeverLonger) {
  auto r = issue(csr_body(R"("lifetime":600)"), workload_token());
  ASSERT_EQ(r.status, 201u) << r.body;
  auto body = json::parse(r.body).as_object();
  EXPECT_EQ(body.at("not_after").as_int64() - body.at("not_before").as_int64(), 600);
  r = issue(csr_body(R"("lifetime":90000)"), workload_token());
  ASSERT_EQ(r.status, 201u) << r.body;
  body = json::parse(r.body).as_object();
  EXPECT_EQ(body.at("not_after").as_int64() - body.at("not_before").as_int64(), 3600);
  EXPECT_EQ(issue(csr_body(R"("lifetime":0)"), workload_token()).status, 400u);
}

TEST_F(CertificateRoutesTest, RefusesWhatThePolicyDoesNotAllowOrCannotParse) {
  const std::string token = workload_token();
  auto r = issue(csr_body(R"("dns_names":["payments.internal"])"), token);
  EXPECT_EQ(r.status, 403u) << r.body;
  EXPECT_EQ(sink_.events.back().reason, "dns_name_not_allowed");

  r = issue(
      R"({"csr":"-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n"})",
      token);
  EXPECT_EQ(r.status, 400u) << r.body;
  EXPECT_EQ(json::parse(r.body).at("error").as_string(), "invalid_request");
  EXPECT_EQ(sink_.events.back().reason, "invalid_csr");

  auto weak = pki::testing::make_key("RSA", nullptr, 1024);
  json::object body{
      {"csr", pki::testing::pem_of("CERTIFICATE REQUEST", pki::testing::make_csr_der(weak.get()))}};
  EXPECT_EQ(issue(json::serialize(body), token).status, 400u);
  EXPECT_EQ(issue("{}", token).status, 400u);
  EXPECT_EQ(issue(R"({"csr":"x","subject":"admin"})", token).status, 400u);
  EXPECT_EQ(sink_.events.back().decision, audit::Decision::kDeny);
}

TEST_F(CertificateRoutesTest, NeedsScopeCertIssueOrAToken) {
  auto r = issue(csr_body(), admin_token());  // sigil:admin is not cert:issue
  EXPECT_EQ(r.status, 403u) << r.body;
  EXPECT_EQ(json::parse(r.body).at("error").as_string(), "insufficient_scope");
  http::Request anonymous = admin_request("POST", "/v1/certificates", csr_body(), "x");
  anonymous.headers.erase(anonymous.headers.begin());
  r = send_released(anonymous);
  EXPECT_EQ(r.status, 401u) << r.body;
  EXPECT_EQ(sink_.events.back().reason, "no_credentials");
  r = issue(csr_body(), "not-a-token");
  EXPECT_EQ(r.status, 401u) << r.body;
}

TEST_F(CertificateRoutesTest, RenewsWithTheCurrentCertificateOverMutualTls) {
  auto first = issue(csr_body(), workload_token());
  ASSERT_EQ(first.status, 201u);
  auto certificate =
      pki::Certificate::from_pem(json::parse(first.body).at("certificate").as_string());
  ASSERT_TRUE(certificate);

  http::Request renew = admin_request("POST", "/v1/certificates", csr_body(), "x");
  renew.headers.erase(renew.headers.begin());  // no Authorization: the certificate speaks
  renew.peer_certificate = std::make_shared<const http::PeerCertificate>(
      http::PeerCertificate{certificate->der(), true});
  auto r = send_released(renew);
  ASSERT_EQ(r.status, 201u) << r.body;
  EXPECT_EQ(json::parse(r.body).at("spiffe_id").as_string(), "spiffe://example.org/payments");
  EXPECT_EQ(sink_.events.back().auth_method, "certificate");
  EXPECT_EQ(sink_.events.back().client_id, "payments");

  // Not verified against the CA (a self-signed certificate let in): refused.
  renew.peer_certificate = std::make_shared<const http::PeerCertificate>(
      http::PeerCertificate{certificate->der(), false});
  EXPECT_EQ(send_released(renew).status, 401u);
  EXPECT_EQ(sink_.events.back().reason, "certificate_not_trusted");

  // A certificate sigil never issued (another CA of the same trust domain).
  ca::testing::MemoryCaStore other_store;
  auto other = ca::CertificateAuthority::load(other_store, other_store, kMasterKey);
  ASSERT_TRUE((*other)->initialise(*pki::TrustDomain::parse("example.org"), {}, clock_.now()));
  auto key = crypto::Key::generate(crypto::KeyType::kEcP256);
  auto foreign =
      (*other)->issue(*key, {.subject = "payments", .spiffe_path = "/payments"}, clock_.now());
  ASSERT_TRUE(foreign);
  renew.peer_certificate = std::make_shared<const http::PeerCertificate>(
      http::PeerCertificate{foreign->certificate.der(), true});
  EXPECT_EQ(send_released(renew).status, 401u);
  EXPECT_EQ(sink_.events.back().reason, "certificate_unknown");

  // The client disabled: its certificate renews nothing.
  renew.peer_certificate = std::make_shared<const http::PeerCertificate>(
      http::PeerCertificate{certificate->der(), true});
  ASSERT_TRUE(clients_->set_status("payments", oauth::ClientStatus::kDisabled, clock_.now()));
  EXPECT_EQ(send_released(renew).status, 401u);
  EXPECT_EQ(sink_.events.back().reason, "client_disabled");
}

TEST_F(CertificateRoutesTest, BundleInPemAndAsSpiffeBundle) {
  http::Request r;
  r.method = "GET";
  r.path = r.target = "/v1/bundle";
  auto pem = send_released(r);
  ASSERT_EQ(pem.status, 200u);
  EXPECT_EQ(pem.header("Content-Type"), "application/pem-certificate-chain");
  auto roots = pki::Certificate::chain_from_pem(pem.body);
  ASSERT_TRUE(roots);
  EXPECT_EQ(roots->size(), 1u);
  EXPECT_TRUE(roots->front().is_ca());

  r.query = "format=spiffe";
  auto spiffe = send_released(r);
  ASSERT_EQ(spiffe.status, 200u) << spiffe.body;
  const auto keys = json::parse(spiffe.body).at("keys").as_array();
  ASSERT_EQ(keys.size(), 1u);
  EXPECT_EQ(keys[0].at("use").as_string(), "x509-svid");
  r.query = "format=der";
  EXPECT_EQ(send_released(r).status, 400u);
}

TEST_F(CertificateRoutesTest, UnavailableUntilTheCaIsInitialised) {
  ca::testing::MemoryCaStore empty;
  ca_ = std::move(*ca::CertificateAuthority::load(empty, empty, kMasterKey));
  make_app();
  auto r = issue(csr_body(), workload_token());
  EXPECT_EQ(r.status, 503u) << r.body;
  EXPECT_EQ(sink_.events.back().reason, "ca_not_ready");
  http::Request bundle;
  bundle.method = "GET";
  bundle.path = bundle.target = "/v1/bundle";
  EXPECT_EQ(send_released(bundle).status, 503u);
}

TEST_F(CertificateRoutesTest, AdminShowsRotatesAndListsCertificates) {
  const std::string token = admin_token();
  ASSERT_EQ(issue(csr_body(), workload_token()).status, 201u);
  auto shown = send_released(admin_request("GET", "/v1/ca", "", token));
  ASSERT_EQ(shown.status, 200u) << shown.body;
  EXPECT_EQ(json::parse(shown.body).at("trust_domain").as_string(), "example.org");
  EXPECT_EQ(json::parse(shown.body).at("keys").as_array().size(), 2u);

  clock_.advance(Seconds{1});  // a new intermediate signs from the next whole second
  auto rotated = send_released(admin_request("POST", "/v1/ca/rotate", "", token));
  ASSERT_EQ(rotated.status, 201u) << rotated.body;
  EXPECT_EQ(sink_.events.back().event, "ca.rotate");
  EXPECT_EQ(json::parse(rotated.body).at("state").as_string(), "active");

  http::Request list = admin_request("GET", "/v1/certificates", "", token);
  list.query = "spiffe_id=spiffe://example.org/payments";
  auto listed = send_released(list);
  ASSERT_EQ(listed.status, 200u) << listed.body;
  EXPECT_EQ(json::parse(listed.body).at("certificates").as_array().size(), 1u);

  // A workload's token does not administer the CA.
  EXPECT_EQ(send_released(admin_request("GET", "/v1/ca", "", workload_token())).status, 403u);
}

TEST_F(CertificateRoutesTest, CertificateBoundTokenOnlyWithItsCertificate) {
  auto issued = issue(csr_body(), workload_token());
  ASSERT_EQ(issued.status, 201u);
  auto mine = pki::Certificate::from_pem(json::parse(issued.body).at("certificate").as_string());
  auto other_issued = issue(csr_body(), workload_token());
  auto other =
      pki::Certificate::from_pem(json::parse(other_issued.body).at("certificate").as_string());
  ASSERT_TRUE(mine && other);
  auto on_mtls = [](http::Request r, const pki::Certificate& c) {
    r.peer_certificate =
        std::make_shared<const http::PeerCertificate>(http::PeerCertificate{c.der(), true});
    return r;
  };

  // A token obtained over mutual TLS is bound to the certificate.
  auto t = send_released(
      on_mtls(token_request("payments", workload_secret_, "grant_type=client_credentials"), *mine));
  ASSERT_EQ(t.status, 200u) << t.body;
  const std::string token(json::parse(t.body).at("access_token").as_string());

  const std::string body = csr_body();
  auto r = send_released(on_mtls(admin_request("POST", "/v1/certificates", body, token), *mine));
  EXPECT_EQ(r.status, 201u) << r.body;
  r = send_released(on_mtls(admin_request("POST", "/v1/certificates", body, token), *other));
  EXPECT_EQ(r.status, 401u) << r.body;
  EXPECT_EQ(sink_.events.back().reason, "certificate_mismatch");
  r = send_released(admin_request("POST", "/v1/certificates", body, token));
  EXPECT_EQ(r.status, 401u) << r.body;
  EXPECT_EQ(sink_.events.back().reason, "certificate_required");
}

TEST_F(CertificateRoutesTest, AuthorizeChecksWhatTheResourceServerSawWithABoundToken) {
  const std::string admin = admin_token();
  auto applied = send_released(admin_request("POST", "/v1/policy", policy_body(kPolicy), admin));
  ASSERT_EQ(applied.status, 200u) << applied.body;
  const std::string secret(
      json::parse(applied.body).at("credentials").as_array()[0].at("client_secret").as_string());
  auto a = issue(csr_body(), workload_token());
  auto b = issue(csr_body(), workload_token());
  const std::string cert_a(json::parse(a.body).at("certificate").as_string());
  const std::string cert_b(json::parse(b.body).at("certificate").as_string());
  auto der_a = pki::Certificate::from_pem(cert_a);
  ASSERT_TRUE(der_a);

  http::Request token_call =
      token_request("video-service", secret, "grant_type=client_credentials&audience=analytics");
  token_call.peer_certificate =
      std::make_shared<const http::PeerCertificate>(http::PeerCertificate{der_a->der(), true});
  auto t = send_released(token_call);
  ASSERT_EQ(t.status, 200u) << t.body;
  const std::string token(json::parse(t.body).at("access_token").as_string());

  auto decide = [&](const std::string& presented) {
    json::object body{{"token", token}, {"audience", "analytics"}};
    if (!presented.empty()) body["presented"] = json::object{{"certificate", presented}};
    auto r = send_released(admin_request("POST", "/v1/authorize", json::serialize(body), admin));
    EXPECT_EQ(r.status, 200u) << r.body;
    return json::parse(r.body).as_object();
  };
  EXPECT_EQ(decide(cert_a).at("decision").as_string(), "allow");
  auto other = decide(cert_b);
  EXPECT_EQ(other.at("decision").as_string(), "deny");
  EXPECT_EQ(other.at("reason").as_string(), "certificate_mismatch");
  auto none = decide("");
  EXPECT_EQ(none.at("reason").as_string(), "certificate_required");

  auto garbage = send_released(admin_request(
      "POST", "/v1/authorize",
      json::serialize(json::object{{"token", token},
                                   {"audience", "analytics"},
                                   {"presented", json::object{{"certificate", "x"}}}}),
      admin));
  EXPECT_EQ(garbage.status, 400u);
}

TEST_F(CertificateRoutesTest, AuthorizeRefusesAnUnboundTokenWhereTheAudienceRequiresMtls) {
  const std::string admin = admin_token();
  auto applied = send_released(admin_request("POST", "/v1/policy", policy_body(kPolicy), admin));
  ASSERT_EQ(applied.status, 200u) << applied.body;
  const std::string secret(
      json::parse(applied.body).at("credentials").as_array()[0].at("client_secret").as_string());
  auto t = send_released(
      token_request("video-service", secret, "grant_type=client_credentials&audience=analytics"));
  ASSERT_EQ(t.status, 200u) << t.body;
  const std::string token(json::parse(t.body).at("access_token").as_string());
  // The audience now requires mutual TLS: the bearer token issued before no longer passes.
  std::string strict(kPolicy);
  strict.replace(strict.find("    scopes: [analytics:write, analytics:read]"), 0,
                 "    require_mtls: true\n");
  ASSERT_EQ(send_released(admin_request("POST", "/v1/policy", policy_body(strict), admin)).status,
            200u);
  json::object body{{"token", token}, {"audience", "analytics"}};
  auto r = send_released(admin_request("POST", "/v1/authorize", json::serialize(body), admin));
  ASSERT_EQ(r.status, 200u) << r.body;
  EXPECT_EQ(json::parse(r.body).at("reason").as_string(), "mtls_required");
  // And no new token without a certificate.
  auto refused = send_released(
      token_request("video-service", secret, "grant_type=client_credentials&audience=analytics"));
  EXPECT_EQ(refused.status, 400u) << refused.body;
}

TEST_F(CertificateRoutesTest, DpopBoundTokenOnlyWithAProofForThisRequest) {
  auto key = jose::Jwk::generate(jose::Algorithm::kES256);
  ASSERT_TRUE(key.has_value());
  http::Request token_call =
      token_request("payments", workload_secret_, "grant_type=client_credentials");
  token_call.headers.emplace_back(
      "DPoP", oauth::testing::dpop_proof(*key, "t-1", kIssuer + "/oauth2/token", clock_.now()));
  auto t = send_released(token_call);
  ASSERT_EQ(t.status, 200u) << t.body;
  EXPECT_EQ(json::parse(t.body).at("token_type").as_string(), "DPoP");
  const std::string token(json::parse(t.body).at("access_token").as_string());

  const std::string url = kIssuer + "/v1/certificates";
  auto proof = [&](std::string jti, std::string htu) {
    auto claims = oauth::testing::dpop_claims(jti, htu, clock_.now());
    claims["ath"] = oauth::dpop_access_token_hash(token);
    return oauth::testing::sign_dpop_proof(*key, oauth::testing::dpop_header(*key), claims);
  };
  auto call = [&](std::optional<std::string> dpop) {
    http::Request r = admin_request("POST", "/v1/certificates", csr_body(), token);
    r.headers[0].second = "DPoP " + token;
    if (dpop) r.headers.emplace_back("DPoP", *dpop);
    return send_released(r);
  };
  auto ok = call(proof("r-1", url));
  EXPECT_EQ(ok.status, 201u) << ok.body;
  auto none = call(std::nullopt);
  EXPECT_EQ(none.status, 401u) << none.body;
  EXPECT_EQ(sink_.events.back().reason, "dpop_proof_required");
  EXPECT_NE(none.header("WWW-Authenticate")->find("DPoP"), std::string::npos);
  auto elsewhere = call(proof("r-2", kIssuer + "/v1/ca"));
  EXPECT_EQ(elsewhere.status, 401u) << elsewhere.body;
  auto replayed = call(proof("r-1", url));
  EXPECT_EQ(replayed.status, 401u) << replayed.body;
  // As a Bearer token, a DPoP-bound token is refused even with a proof.
  http::Request bearer = admin_request("POST", "/v1/certificates", csr_body(), token);
  bearer.headers.emplace_back("DPoP", proof("r-3", url));
  EXPECT_EQ(send_released(bearer).status, 401u);
}

TEST_F(CertificateRoutesTest, IssuanceRunsOnTheBlockingWorkThreads) {
  BlockingWork blocking(1, 4);
  blocking_ = &blocking;
  make_app();
  const std::string token = workload_token();
  auto out = std::make_shared<std::optional<http::Response>>();
  send(admin_request("POST", "/v1/certificates", csr_body(), token), out);
  blocking.stop();                 // the issuance has run
  EXPECT_FALSE(out->has_value());  // and waits for its audit record
  sink_.release_all();
  ASSERT_TRUE(out->has_value());
  EXPECT_EQ((*out)->status, 201u) << (*out)->body;
  EXPECT_EQ(sink_.events.back().event, "certificate.issue");

  // A stopped (or full) pool answers 503 at once.
  auto busy = send(admin_request("POST", "/v1/certificates", csr_body(), token));
  ASSERT_TRUE(busy.has_value());
  EXPECT_EQ(busy->status, 503u);
  EXPECT_EQ(busy->header("Retry-After"), "1");
}

}  // namespace
}  // namespace sigil::server
