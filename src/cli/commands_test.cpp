#include "cli/commands.hpp"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "base/testing/temp_dir.hpp"
#include "http/server.hpp"

namespace sigil::cli {
namespace {

namespace json = boost::json;

NewClientArgs named(std::string name) {
  NewClientArgs args;
  args.name = std::move(name);
  return args;
}

TEST(NewClientBody, MapsEveryFlag) {
  NewClientArgs args = named("Billing API");
  args.id = "billing";
  args.scopes = {"invoices:read", "invoices:write"};
  args.audiences = {"https://ledger.internal"};
  args.attributes = {"env=prod", "team=payments"};
  args.auth_methods = {"client_secret_basic"};
  auto body = new_client_body(args);
  ASSERT_TRUE(body.has_value()) << body.error().message;
  EXPECT_EQ(json::value(*body), json::parse(R"({
    "name": "Billing API", "id": "billing",
    "allowed_scopes": ["invoices:read", "invoices:write"],
    "allowed_audiences": ["https://ledger.internal"],
    "attributes": {"env": "prod", "team": "payments"},
    "auth_methods": ["client_secret_basic"]})"));
}

TEST(NewClientBody, OnlyNameWhenNothingElseIsGiven) {
  auto body = new_client_body(named("n"));
  ASSERT_TRUE(body.has_value());
  EXPECT_EQ(json::serialize(*body), R"({"name":"n"})");
}

TEST(NewClientBody, RefusesBadValues) {
  EXPECT_FALSE(new_client_body(named("")).has_value());
  auto bad = [](auto change) {
    NewClientArgs args = named("n");
    change(args);
    auto body = new_client_body(args);
    return body.has_value() ? std::optional<Code>() : body.error().code;
  };
  EXPECT_EQ(bad([](NewClientArgs& a) { a.id = "Bad/Id"; }), Code::kInvalidArgument);
  EXPECT_EQ(bad([](NewClientArgs& a) { a.scopes = {"a b"}; }), Code::kInvalidArgument);
  EXPECT_EQ(bad([](NewClientArgs& a) { a.scopes = {""}; }), Code::kInvalidArgument);
  EXPECT_EQ(bad([](NewClientArgs& a) { a.audiences = {""}; }), Code::kInvalidArgument);
  EXPECT_EQ(bad([](NewClientArgs& a) { a.attributes = {"novalue"}; }), Code::kInvalidArgument);
  EXPECT_EQ(bad([](NewClientArgs& a) { a.auth_methods = {"private_key_jwt"}; }),
            Code::kInvalidArgument);
  EXPECT_EQ(bad([](NewClientArgs& a) { a.auth_methods = {"client_secret_post"}; }), std::nullopt);
}

// A certificate's PEM as `openssl x509` writes it (the body need not be a real one: the
// server parses it).
constexpr std::string_view kCertificatePem =
    "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUQ29udGVudA==\n-----END CERTIFICATE-----\n";

class ClientTlsBody : public ::testing::Test {
 protected:
  std::string write(const std::string& name, std::string_view text) {
    const std::string path = (dir_.path() / name).string();
    std::ofstream(path, std::ios::binary) << text;
    return path;
  }
  std::optional<std::string> refused(const TlsClientArgs& args) {
    auto body = client_tls_body(args);
    if (body) return std::nullopt;
    EXPECT_EQ(body.error().code, Code::kInvalidArgument);
    return body.error().message;
  }
  sigil::testing::TempDir dir_;
};

TEST_F(ClientTlsBody, MapsTheFlags) {
  EXPECT_EQ(json::serialize(client_tls_body({}).value()), "{}");
  TlsClientArgs args;
  args.san_uri = "spiffe://example.org/billing";
  args.cert_files = {write("a.pem", "Bag Attributes\n" + std::string(kCertificatePem)),
                     write("b.pem", kCertificatePem)};
  auto body = client_tls_body(args);
  ASSERT_TRUE(body.has_value()) << body.error().message;
  EXPECT_EQ(body->at("tls_client_auth_san_uri").as_string(), "spiffe://example.org/billing");
  const auto& pems = body->at("tls_client_certificates_pem").as_array();
  ASSERT_EQ(pems.size(), 2u);
  EXPECT_EQ(pems[0].as_string(), kCertificatePem);  // the block alone
  EXPECT_EQ(body->size(), 2u);
}

TEST_F(ClientTlsBody, RefusesSeveralSubjects) {
  TlsClientArgs args;
  args.san_dns = "billing.internal";
  args.subject_dn = "CN=billing";
  EXPECT_NE(refused(args).value_or("").find("not several"), std::string::npos);
}

TEST_F(ClientTlsBody, RefusesControlCharacters) {
  TlsClientArgs args;
  args.subject_dn = "CN=billing\nO=x";
  EXPECT_TRUE(refused(args).has_value());
}

TEST_F(ClientTlsBody, RefusesFilesThatAreNotOneCertificate) {
  auto with_file = [&](std::string path) {
    TlsClientArgs args;
    args.cert_files = {std::move(path)};
    return refused(args).value_or("accepted");
  };
  EXPECT_NE(with_file((dir_.path() / "absent.pem").string()).find("cannot be read"),
            std::string::npos);
  EXPECT_NE(with_file(write("empty.pem", "")).find("no PEM certificate"), std::string::npos);
  EXPECT_NE(with_file(write("two.pem", std::string(kCertificatePem) + std::string(kCertificatePem)))
                .find("several"),
            std::string::npos);
  const std::string big = std::string(kCertificatePem) + std::string(64 * 1024, '#');
  EXPECT_NE(with_file(write("big.pem", big)).find("64 KiB"), std::string::npos);
  // A private key beside the certificate is never sent.
  const std::string with_key = std::string(kCertificatePem) +
                               "-----BEGIN PRIVATE KEY-----\nMC4CAQA=\n-----END PRIVATE KEY-----\n";
  EXPECT_NE(with_file(write("key.pem", with_key)).find("private key"), std::string::npos);
  EXPECT_NE(
      with_file(write("ec.pem", "-----BEGIN EC PRIVATE KEY-----\n" + std::string(kCertificatePem)))
          .find("private key"),
      std::string::npos);
}

TEST_F(ClientTlsBody, NewClientBodyCarriesThemAndChecksTheMethods) {
  NewClientArgs args = named("payments");
  args.tls.san_uri = "spiffe://example.org/payments";
  args.tls.cert_files = {write("c.pem", kCertificatePem)};
  args.auth_methods = {"tls_client_auth", "self_signed_tls_client_auth"};
  auto body = new_client_body(args);
  ASSERT_TRUE(body.has_value()) << body.error().message;
  EXPECT_EQ(body->at("tls_client_auth_san_uri").as_string(), "spiffe://example.org/payments");
  EXPECT_EQ(body->at("tls_client_certificates_pem").as_array().size(), 1u);

  NewClientArgs without_subject = named("payments");
  without_subject.auth_methods = {"tls_client_auth"};
  EXPECT_FALSE(new_client_body(without_subject).has_value());
  NewClientArgs without_cert = named("payments");
  without_cert.auth_methods = {"self_signed_tls_client_auth"};
  EXPECT_FALSE(new_client_body(without_cert).has_value());
  NewClientArgs two = named("payments");
  two.tls.san_uri = "spiffe://example.org/payments";
  two.tls.san_dns = "payments.internal";
  EXPECT_FALSE(new_client_body(two).has_value());
}

TEST(ClientPath, ChecksTheIdBeforeBuildingThePath) {
  EXPECT_EQ(client_path("billing").value(), "/v1/clients/billing");
  EXPECT_EQ(client_path("billing", "disable").value(), "/v1/clients/billing/disable");
  EXPECT_EQ(client_path("../keys", "rotate").error().code, Code::kInvalidArgument);
  EXPECT_FALSE(client_path("a?b").has_value());
}

TEST(RotateSecretBody, OverlapOnlyWhenGiven) {
  EXPECT_EQ(json::serialize(rotate_secret_body(std::nullopt)), "{}");
  EXPECT_EQ(json::serialize(rotate_secret_body(3600)), R"({"overlap_seconds":3600})");
  EXPECT_EQ(json::serialize(rotate_secret_body(0)), R"({"overlap_seconds":0})");
}

TEST(RenderClients, ListIsATable) {
  const json::value answer = json::parse(R"({"clients":[
    {"id":"admin","name":"sigil admin","status":"active","allowed_scopes":["sigil:admin"],
     "allowed_audiences":["http://127.0.0.1:8420"]},
    {"id":"billing","name":"Billing","status":"disabled","allowed_scopes":[],
     "allowed_audiences":["a","b"]}]})");
  EXPECT_EQ(render_client_list(answer),
            "ID       NAME         STATUS    SCOPES       AUDIENCES\n"
            "admin    sigil admin  active    sigil:admin  http://127.0.0.1:8420\n"
            "billing  Billing      disabled               a,b\n");
  EXPECT_EQ(render_client_list(json::parse(R"({"clients":[]})")),
            "ID  NAME  STATUS  SCOPES  AUDIENCES\n");
}

TEST(RenderClients, CreatedShowsIdAndSecret) {
  const json::value answer = json::parse(R"({"client":{
    "id":"billing","name":"Billing","status":"active","allowed_scopes":["a"],
    "allowed_audiences":["x"],"auth_methods":["client_secret_basic"],
    "attributes":{"env":"prod"},"created_at":"2024-01-01T00:00:00Z",
    "updated_at":"2024-01-01T00:00:00Z"},"client_secret":"c2VjcmV0"})");
  EXPECT_EQ(render_created_client(answer.get_object()),
            "client_id: billing\n"
            "name: Billing\n"
            "status: active\n"
            "allowed_scopes: a\n"
            "allowed_audiences: x\n"
            "auth_methods: client_secret_basic\n"
            "attributes: env=prod\n"
            "created_at: 2024-01-01T00:00:00Z\n"
            "updated_at: 2024-01-01T00:00:00Z\n"
            "client_secret: c2VjcmV0\n");
}

TEST(RotateKeyBody, KnownAlgorithmsOnly) {
  EXPECT_EQ(json::serialize(rotate_key_body(std::nullopt).value()), "{}");
  EXPECT_EQ(json::serialize(rotate_key_body("EdDSA").value()), R"({"alg":"EdDSA"})");
  EXPECT_FALSE(rotate_key_body("HS256").has_value());
  EXPECT_FALSE(rotate_key_body("none").has_value());
  EXPECT_FALSE(rotate_key_body("es256").has_value());
}

TEST(RenderKeys, ListIsATable) {
  const json::value answer = json::parse(R"({"keys":[
    {"kid":"k1","alg":"ES256","state":"active","created_at":"c1","activates_at":"a1"},
    {"kid":"k2","alg":"EdDSA","state":"next","created_at":"c2","activates_at":"a2",
     "retires_at":"r2"}]})");
  EXPECT_EQ(render_key_list(answer),
            "KID  ALG    STATE   CREATED  ACTIVATES  RETIRES\n"
            "k1   ES256  active  c1       a1         -\n"
            "k2   EdDSA  next    c2       a2         r2\n");
}

TEST(TokenRequestForm, ScopesJoinedAudiencesRepeated) {
  EXPECT_EQ(token_request_form({}, {}).value(), "grant_type=client_credentials");
  EXPECT_EQ(token_request_form({"a:read", "b"}, {"https://x.example/", "y"}).value(),
            "grant_type=client_credentials&scope=a%3Aread+b&resource=https%3A%2F%2Fx.example%2F"
            "&resource=y");
  EXPECT_FALSE(token_request_form({"a b"}, {}).has_value());
  EXPECT_FALSE(token_request_form({}, {""}).has_value());
}

TEST(RevokeBody, TokenOrJtiWithExpiry) {
  EXPECT_EQ(json::serialize(revoke_body("t.o.k", std::nullopt, std::nullopt).value()),
            R"({"token":"t.o.k"})");
  EXPECT_EQ(json::serialize(revoke_body(std::nullopt, "j1", 1700000000).value()),
            R"({"jti":"j1","expires_at":1700000000})");
  EXPECT_FALSE(revoke_body(std::nullopt, std::nullopt, std::nullopt).has_value());
  EXPECT_FALSE(revoke_body(std::nullopt, "j1", std::nullopt).has_value());
  EXPECT_FALSE(revoke_body(std::nullopt, std::nullopt, 5).has_value());
  EXPECT_FALSE(revoke_body("t", "j1", 5).has_value());
  EXPECT_FALSE(revoke_body(std::nullopt, "j1", -1).has_value());
}

TEST(RenderClaims, TimesAreAlsoShownInUtc) {
  const json::value claims = json::parse(
      R"({"iss":"http://i","sub":"svc","aud":["a","b"],"exp":1700000000,"scope":"x y"})");
  EXPECT_EQ(render_claims(claims.get_object()),
            "iss: http://i\n"
            "sub: svc\n"
            "aud: a,b\n"
            "exp: 1700000000 (2023-11-14T22:13:20Z)\n"
            "scope: x y\n");
}

TEST(ServerFlags, OnlyGivenFlagsBecomeSettings) {
  ServerFlags flags;
  EXPECT_TRUE(flags.to_map().empty());
  flags.data = "/tmp/x";
  flags.listen = "127.0.0.1:18420";
  flags.key_propagation_delay = "0";
  flags.log_level = "debug";
  EXPECT_EQ(flags.to_map(), (std::map<std::string, std::string>{{"data", "/tmp/x"},
                                                                {"listen", "127.0.0.1:18420"},
                                                                {"key_propagation_delay", "0"},
                                                                {"log_level", "debug"}}));
}

// ---- token exchange ----

TEST(TokenTypeUrn, TakesShortNamesAndUrns) {
  EXPECT_EQ(*token_type_urn("jwt", "--t"), "urn:ietf:params:oauth:token-type:jwt");
  EXPECT_EQ(*token_type_urn("id_token", "--t"), "urn:ietf:params:oauth:token-type:id_token");
  EXPECT_EQ(*token_type_urn("urn:ietf:params:oauth:token-type:access_token", "--t"),
            "urn:ietf:params:oauth:token-type:access_token");
  for (const char* bad : {"", "JWT", "saml2", "refresh_token", "urn:ietf:params:oauth:token-type:",
                          "urn:ietf:params:oauth:token-type:saml1"}) {
    auto urn = token_type_urn(bad, "--subject-token-type");
    ASSERT_FALSE(urn) << bad;
    EXPECT_NE(urn.error().message.find("--subject-token-type"), std::string::npos);
  }
}

TEST(CleanToken, TrimsAndRefusesWhatIsNoToken) {
  EXPECT_EQ(*clean_token("  eyJh.eyJi.c2ln\n", "file"), "eyJh.eyJi.c2ln");
  EXPECT_FALSE(clean_token("", "file"));
  EXPECT_FALSE(clean_token(" \n\t", "file"));
  EXPECT_FALSE(clean_token(std::string(64 * 1024 + 1, 'a'), "file"));
  EXPECT_TRUE(clean_token(std::string(64 * 1024, 'a'), "file"));
  const std::vector<std::string> bad_tokens{"eyJh.secret part",
                                            "eyJh.se\x01"
                                            "cret",
                                            "eyJh\n.secret", "eyJh.\xc3\xa9secret"};
  for (const std::string& bad : bad_tokens) {
    auto token = clean_token(bad, "--subject-token-env T");
    ASSERT_FALSE(token) << bad;
    EXPECT_EQ(token.error().code, Code::kInvalidArgument);
    EXPECT_EQ(token.error().message.find("secret"), std::string::npos) << token.error().message;
    EXPECT_NE(token.error().message.find("--subject-token-env T"), std::string::npos);
  }
}

std::map<std::string, std::vector<std::string>> form_fields(std::string_view body) {
  std::map<std::string, std::vector<std::string>> out;
  auto decode = [](std::string_view text) {
    std::string s;
    for (std::size_t i = 0; i < text.size(); ++i) {
      if (text[i] == '+') {
        s += ' ';
      } else if (text[i] == '%' && i + 2 < text.size()) {
        s += static_cast<char>(std::stoi(std::string(text.substr(i + 1, 2)), nullptr, 16));
        i += 2;
      } else {
        s += text[i];
      }
    }
    return s;
  };
  while (!body.empty()) {
    std::string_view pair = body.substr(0, body.find('&'));
    body.remove_prefix(std::min(body.size(), pair.size() + 1));
    const auto eq = pair.find('=');
    out[decode(pair.substr(0, eq))].push_back(decode(pair.substr(eq + 1)));
  }
  return out;
}

TEST(TokenExchangeForm, MapsEveryField) {
  ExchangeRequest request;
  request.subject_token = "subject.jwt.sig";
  request.subject_token_type = "id_token";
  request.actor_token = "actor.jwt.sig";
  request.actor_token_type = "access_token";
  request.audiences = {"billing", "https://ledger.example"};
  request.scopes = {"ledger:read", "ledger:write"};
  request.requested_token_type = "access_token";
  auto form = token_exchange_form(request);
  ASSERT_TRUE(form) << form.error().message;
  using V = std::vector<std::string>;
  EXPECT_EQ(form_fields(*form),
            (std::map<std::string, V>{
                {"grant_type", V{"urn:ietf:params:oauth:grant-type:token-exchange"}},
                {"subject_token", V{"subject.jwt.sig"}},
                {"subject_token_type", V{"urn:ietf:params:oauth:token-type:id_token"}},
                {"actor_token", V{"actor.jwt.sig"}},
                {"actor_token_type", V{"urn:ietf:params:oauth:token-type:access_token"}},
                {"audience", V{"billing", "https://ledger.example"}},
                {"scope", V{"ledger:read ledger:write"}},
                {"requested_token_type", V{"urn:ietf:params:oauth:token-type:access_token"}}}));
}

TEST(TokenExchangeForm, TheCiCaseSendsOnlyTheSubject) {
  ExchangeRequest request;
  request.subject_token = "a.b.c";
  auto form = token_exchange_form(request);
  ASSERT_TRUE(form);
  EXPECT_EQ(
      *form,
      "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Atoken-exchange&subject_token=a.b."
      "c&subject_token_type=urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Ajwt");
}

TEST(TokenExchangeForm, RefusesBadRequests) {
  auto refused = [](auto change) {
    ExchangeRequest request;
    request.subject_token = "a.b.c";
    change(request);
    auto form = token_exchange_form(request);
    return !form && form.error().code == Code::kInvalidArgument;
  };
  EXPECT_TRUE(refused([](ExchangeRequest& r) { r.subject_token.clear(); }));
  EXPECT_TRUE(refused([](ExchangeRequest& r) { r.subject_token_type = "saml2"; }));
  EXPECT_TRUE(refused([](ExchangeRequest& r) { r.actor_token = "x.y.z"; }));
  EXPECT_TRUE(refused([](ExchangeRequest& r) { r.actor_token_type = "jwt"; }));
  EXPECT_TRUE(refused([](ExchangeRequest& r) {
    r.actor_token = "";
    r.actor_token_type = "jwt";
  }));
  EXPECT_TRUE(refused([](ExchangeRequest& r) {
    r.actor_token = "x.y.z";
    r.actor_token_type = "opaque";
  }));
  EXPECT_TRUE(refused([](ExchangeRequest& r) { r.audiences = {""}; }));
  EXPECT_TRUE(refused([](ExchangeRequest& r) { r.scopes = {"a b"}; }));
  EXPECT_TRUE(refused([](ExchangeRequest& r) { r.scopes = {""}; }));
  EXPECT_TRUE(refused([](ExchangeRequest& r) { r.requested_token_type = "saml1"; }));
  EXPECT_FALSE(refused([](ExchangeRequest& r) {
    r.actor_token = "x.y.z";
    r.actor_token_type = "jwt";
  }));
}

TEST(GithubIdToken, AppendsTheAudienceToTheRequestUrl) {
  EXPECT_EQ(
      *github_id_token_url("https://pipelines.actions.example/idtoken?api-version=2.0",
                           "https://sigil.example:8420"),
      "https://pipelines.actions.example/idtoken?api-version=2.0&audience=https%3A%2F%2Fsigil."
      "example%3A8420");
  EXPECT_EQ(*github_id_token_url("http://127.0.0.1:9/t", "sigil"),
            "http://127.0.0.1:9/t?audience=sigil");
  EXPECT_FALSE(github_id_token_url("https://pipelines.actions.example/idtoken", ""));
  EXPECT_FALSE(github_id_token_url("http://pipelines.actions.example/idtoken", "sigil"));
  EXPECT_FALSE(github_id_token_url("", "sigil"));
}

TEST(GithubIdToken, ReadsTheValueOfTheAnswer) {
  EXPECT_EQ(*github_id_token_from_answer(R"({"count": 1, "value": "eyJh.eyJi.sig"})"),
            "eyJh.eyJi.sig");
  for (const char* bad : {"", "eyJh.eyJi.sig", "[]", "{}", R"({"value": 3})", R"({"value": ""})",
                          R"({"value": "a b"})"}) {
    EXPECT_FALSE(github_id_token_from_answer(bad)) << bad;
  }
}

// A loopback stand-in for GitHub's token service: answers the job's bearer token only.
class FakeGithub {
 public:
  explicit FakeGithub(unsigned status = 200) {
    http::ServerOptions options;
    options.port = 0;
    options.threads = 1;
    options.drain_timeout = std::chrono::seconds(1);
    server_ = std::make_unique<http::Server>(
        options, [this, status](http::Request&& request, http::Responder respond) {
          {
            std::lock_guard lock(mu_);
            target_ = request.target;
          }
          if (request.header("authorization") != "bearer job-request-token") {
            return respond(http::Response::json(401, R"({"message":"bad token"})"));
          }
          respond(http::Response::json(status, R"({"count":1,"value":"eyJh.eyJp.c2ln"})"));
        });
    EXPECT_TRUE(server_->start());
    thread_ = std::thread([this] { server_->run(); });
  }
  ~FakeGithub() {
    server_->stop();
    thread_.join();
  }
  std::string url() const {
    return "http://127.0.0.1:" + std::to_string(server_->port()) + "/idtoken?api-version=2.0";
  }
  std::string target() {
    std::lock_guard lock(mu_);
    return target_;
  }

 private:
  std::mutex mu_;
  std::string target_;  // guarded by mu_
  std::unique_ptr<http::Server> server_;
  std::thread thread_;
};

TEST(GithubIdToken, FetchesTheJobsToken) {
  FakeGithub github;
  auto token = fetch_github_id_token(github.url(), "job-request-token", "https://sigil.example",
                                     std::chrono::seconds(5));
  ASSERT_TRUE(token) << token.error().message;
  EXPECT_EQ(*token, "eyJh.eyJp.c2ln");
  EXPECT_EQ(github.target(), "/idtoken?api-version=2.0&audience=https%3A%2F%2Fsigil.example");

  token = fetch_github_id_token(github.url(), "another-token", "sigil", std::chrono::seconds(5));
  ASSERT_FALSE(token);
  EXPECT_EQ(token.error().code, Code::kPermissionDenied);
  EXPECT_EQ(token.error().message.find("another-token"), std::string::npos);
}

TEST(GithubIdToken, ReportsAServerThatFailsOrIsGone) {
  std::string url;
  {
    FakeGithub github(503);
    url = github.url();
    auto token = fetch_github_id_token(url, "job-request-token", "sigil", std::chrono::seconds(5));
    ASSERT_FALSE(token);
    EXPECT_EQ(token.error().code, Code::kUnavailable);
  }
  auto token = fetch_github_id_token(url, "job-request-token", "sigil", std::chrono::seconds(5));
  ASSERT_FALSE(token);
  EXPECT_EQ(token.error().code, Code::kUnavailable);
}

}  // namespace
}  // namespace sigil::cli
