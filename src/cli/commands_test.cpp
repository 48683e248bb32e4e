#include "cli/commands.hpp"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

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

}  // namespace
}  // namespace sigil::cli
