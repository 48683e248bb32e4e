// The pure pieces of private_key_jwt in the CLI: `client create --jwks`, `client set-keys`
// and `token get --key`.
#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <fstream>
#include <string>

#include "base/base64url.hpp"
#include "base/testing/temp_dir.hpp"
#include "cli/commands.hpp"
#include "crypto/key.hpp"
#include "jose/jwt.hpp"

namespace sigil::cli {
namespace {

namespace json = boost::json;

// Made with: openssl ecparam -genkey -name prime256v1 -noout
constexpr std::string_view kEcPem = R"(-----BEGIN EC PRIVATE KEY-----
MHcCAQEEIBeB+iOKYjoVL8cmXl5Kiv0Bgho/08FlriCvzpiHuwnMoAoGCCqGSM49
AwEHoUQDQgAEy4gut5ZEge/aB5KVOFJkKWGnei+3EDcUcbzupB4zo+AqLrAGr9gd
9gHVkQpOceOHISJajdxFa8wtL9JsFJo+aw==
-----END EC PRIVATE KEY-----
)";
// Made with: openssl genpkey -algorithm ed25519
constexpr std::string_view kEd25519Pem = R"(-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEIOB6nLmeKQAZHWpXoJQTO+c8GtgwSUy81PCzYqF7du3L
-----END PRIVATE KEY-----
)";

const TimePoint kNow = from_unix(1'700'000'000);

// The public key of a PEM private key, as a one-key set under `kid`.
jose::JwkSet public_set(std::string_view pem, jose::Algorithm alg, std::string kid = "") {
  auto key = crypto::Key::from_private_pem(pem);
  EXPECT_TRUE(key.has_value());
  auto der = key->private_pkcs8();
  auto jwk = jose::Jwk::from_private_pkcs8(
      *der, alg, kid.empty() ? std::nullopt : std::optional<std::string>(kid));
  EXPECT_TRUE(jwk.has_value());
  return jose::JwkSet({jwk->public_key()});
}

class Files : public ::testing::Test {
 protected:
  std::string write(const std::string& name, std::string_view text) {
    const std::string path = (dir_.path() / name).string();
    std::ofstream(path, std::ios::binary) << text;
    return path;
  }
  testing::TempDir dir_;
};

TEST_F(Files, JwksFlagIsAUrlOrAFile) {
  auto uri = client_keys_body("https://keys.example.com/jwks.json");
  ASSERT_TRUE(uri.has_value());
  EXPECT_EQ(json::serialize(*uri), R"({"jwks_uri":"https://keys.example.com/jwks.json"})");
  // The server decides whether plain http is allowed (loopback only).
  EXPECT_TRUE(client_keys_body("http://127.0.0.1:9000/jwks.json").has_value());

  const std::string jwks =
      R"({"keys":[{"kty":"OKP","crv":"Ed25519","x":"0qhjSVydugmKXr6qN3qTjHT8SI49tKqhK8cDIF57x0M"}]})";
  auto file = client_keys_body(write("jwks.json", jwks));
  ASSERT_TRUE(file.has_value()) << file.error().message;
  EXPECT_EQ(json::value(*file), json::parse(R"({"jwks":)" + jwks + "}"));
}

TEST_F(Files, JwksFileMustBeAPublicJwks) {
  auto refused = [&](std::string_view text) {
    auto body = client_keys_body(write("bad.json", text));
    if (body) return std::string("accepted");
    EXPECT_EQ(body.error().code, Code::kInvalidArgument);
    return body.error().message;
  };
  EXPECT_NE(refused("not json").find("not a JWKS"), std::string::npos);
  EXPECT_NE(refused("[]").find("not a JWKS"), std::string::npos);
  EXPECT_NE(refused(R"({"keys":{}})").find("not a JWKS"), std::string::npos);
  // A private key is never sent anywhere.
  const std::string message =
      refused(R"({"keys":[{"kty":"EC","crv":"P-256","x":"AA","y":"BB","d":"c2VjcmV0"}]})");
  EXPECT_NE(message.find("private key"), std::string::npos) << message;
  EXPECT_EQ(message.find("c2VjcmV0"), std::string::npos);
  EXPECT_NE(refused(R"({"keys":[{"kty":"oct","k":"c2VjcmV0"}]})").find("private key"),
            std::string::npos);
  EXPECT_NE(refused(std::string(64 * 1024 + 1, ' ')).find("64 KiB"), std::string::npos);
  auto missing = client_keys_body((dir_.path() / "absent.json").string());
  ASSERT_FALSE(missing.has_value());
  EXPECT_NE(missing.error().message.find("cannot be read"), std::string::npos);
}

TEST(NewClientBodyKeys, KeysGoIntoTheBody) {
  NewClientArgs args;
  args.name = "worker";
  args.keys = json::object{{"jwks_uri", "https://keys.example.com/w.json"}};
  auto body = new_client_body(args);
  ASSERT_TRUE(body.has_value());
  EXPECT_EQ(json::serialize(*body),
            R"({"name":"worker","jwks_uri":"https://keys.example.com/w.json"})");
  args.auth_methods = {"private_key_jwt", "client_secret_basic"};
  body = new_client_body(args);
  ASSERT_TRUE(body.has_value()) << body.error().message;
  EXPECT_EQ(body->at("auth_methods"), (json::array{"private_key_jwt", "client_secret_basic"}));
  // private_key_jwt without keys is refused before anything is sent.
  args.keys.clear();
  body = new_client_body(args);
  ASSERT_FALSE(body.has_value());
  EXPECT_NE(body.error().message.find("--jwks"), std::string::npos);
}

TEST(RenderClientKeys, ShowsKidsAndTheUrlAndNoSecretWhenThereIsNone) {
  const json::value answer = json::parse(R"({"client":{
    "id":"worker","name":"worker","status":"active","allowed_scopes":[],
    "allowed_audiences":[],"auth_methods":["private_key_jwt"],"attributes":{},
    "created_at":"2024-01-01T00:00:00Z","updated_at":"2024-01-01T00:00:00Z",
    "jwks":{"keys":[{"kty":"OKP","crv":"Ed25519","x":"AA","kid":"k1","alg":"EdDSA"},
                    {"kty":"EC","crv":"P-256","x":"AA","y":"BB","kid":"k2","alg":"ES256"}]}}})");
  const std::string shown = render_created_client(answer.get_object());
  EXPECT_NE(shown.find("jwks: k1 (EdDSA),k2 (ES256)\n"), std::string::npos) << shown;
  EXPECT_EQ(shown.find("client_secret"), std::string::npos) << shown;
  EXPECT_EQ(shown.find("jwks_uri"), std::string::npos) << shown;

  const json::value published = json::parse(R"({"id":"w","name":"w","status":"active",
    "jwks_uri":"https://keys.example.com/w.json"})");
  EXPECT_NE(
      render_client(published.get_object()).find("jwks_uri: https://keys.example.com/w.json\n"),
      std::string::npos);
}

TEST(ClientAssertion, IsSignedForTheTokenEndpoint) {
  auto assertion =
      client_assertion(kEcPem, "worker", "https://sigil.test/oauth2/token", "", "", kNow);
  ASSERT_TRUE(assertion.has_value()) << assertion.error().message;
  // The default kid is the key's thumbprint, the one a registered key without a kid gets.
  jose::JwkSet keys = public_set(kEcPem, jose::Algorithm::kES256);
  jose::Expectations want;
  want.algorithms = {jose::Algorithm::kES256};
  want.issuer = "worker";
  want.audience = "https://sigil.test/oauth2/token";
  auto jwt = jose::verify_jwt(*assertion, keys, want, kNow);
  ASSERT_TRUE(jwt.has_value()) << jwt.error().detail;
  EXPECT_EQ(jwt->kid(), keys.keys()[0].thumbprint());
  EXPECT_EQ(jwt->string_claim("sub"), "worker");
  EXPECT_EQ(jwt->time_claim("iat"), to_unix(kNow));
  EXPECT_EQ(jwt->time_claim("exp"), to_unix(kNow) + 60);
  auto jti = jwt->string_claim("jti");
  ASSERT_TRUE(jti.has_value());
  EXPECT_EQ(base64url_decode(*jti)->size(), 16u);
  // No "typ": RFC 7523 defines none, and servers must not require one.
  EXPECT_FALSE(jwt->header().contains("typ"));

  // Each assertion has its own jti.
  auto again = client_assertion(kEcPem, "worker", "https://sigil.test/oauth2/token", "", "", kNow);
  ASSERT_TRUE(again.has_value());
  EXPECT_NE(*jose::verify_jwt(*again, keys, want, kNow)->string_claim("jti"), *jti);
}

TEST(ClientAssertion, KidAndAlgorithmCanBeChosen) {
  auto assertion =
      client_assertion(kEd25519Pem, "worker", "https://sigil.test", "EdDSA", "worker-2025", kNow);
  ASSERT_TRUE(assertion.has_value()) << assertion.error().message;
  jose::JwkSet keys = public_set(kEd25519Pem, jose::Algorithm::kEdDSA, "worker-2025");
  jose::Expectations want;
  want.algorithms = {jose::Algorithm::kEdDSA};
  want.issuer = "worker";
  auto jwt = jose::verify_jwt(*assertion, keys, want, kNow);
  ASSERT_TRUE(jwt.has_value()) << jwt.error().detail;
  EXPECT_EQ(jwt->kid(), "worker-2025");
}

TEST(ClientAssertion, RefusesWhatCannotSign) {
  auto refused = [](std::string_view pem, std::string_view id, std::string_view alg) {
    auto a = client_assertion(pem, id, "https://sigil.test/oauth2/token", alg, "", kNow);
    return a ? Code::kInternal : a.error().code;
  };
  EXPECT_EQ(refused(kEcPem, "worker", "ES384"), Code::kInvalidArgument);  // wrong curve
  EXPECT_EQ(refused(kEcPem, "worker", "HS256"), Code::kInvalidArgument);
  EXPECT_EQ(refused(kEcPem, "worker", "none"), Code::kInvalidArgument);
  EXPECT_EQ(refused(kEcPem, "", ""), Code::kInvalidArgument);
  EXPECT_EQ(refused("not a key", "worker", ""), Code::kInvalidArgument);
}

TEST(ClientAssertion, FormParameters) {
  EXPECT_EQ(client_assertion_params("a.b.c"),
            "client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-"
            "bearer&client_assertion=a.b.c");
}

}  // namespace
}  // namespace sigil::cli
