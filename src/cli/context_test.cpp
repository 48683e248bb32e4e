#include "cli/context.hpp"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>

#include "base/base64url.hpp"

namespace sigil::cli {
namespace {

namespace json = boost::json;

TEST(ExitCode, FollowsHttpStatusClasses) {
  EXPECT_EQ(exit_code_for_status(200), kExitOk);
  EXPECT_EQ(exit_code_for_status(201), kExitOk);
  EXPECT_EQ(exit_code_for_status(400), kExitRefused);
  EXPECT_EQ(exit_code_for_status(401), kExitRefused);
  EXPECT_EQ(exit_code_for_status(404), kExitRefused);
  EXPECT_EQ(exit_code_for_status(499), kExitRefused);
  EXPECT_EQ(exit_code_for_status(500), kExitUnreachable);
  EXPECT_EQ(exit_code_for_status(503), kExitUnreachable);
  EXPECT_EQ(exit_code_for_status(302), kExitUnreachable);
  EXPECT_EQ(exit_code_for_status(101), kExitUnreachable);
}

TEST(FailureForAnswer, UsesTheServersErrorAndDescription) {
  Failure f = failure_for_answer("show client x", 404,
                                 R"({"error":"not_found","error_description":"no client 'x'"})");
  EXPECT_EQ(f.exit_code, kExitRefused);
  EXPECT_EQ(f.message, "cannot show client x (HTTP 404 not_found: no client 'x')");
}

TEST(FailureForAnswer, HintsAtCredentialsOn401) {
  Failure f = failure_for_answer("list the clients", 401, R"({"error":"invalid_token"})");
  EXPECT_EQ(f.exit_code, kExitRefused);
  EXPECT_EQ(f.message,
            "cannot list the clients (HTTP 401 invalid_token); check SIGIL_CLIENT_ID and "
            "SIGIL_CLIENT_SECRET (or SIGIL_TOKEN)");
}

TEST(FailureForAnswer, ServerErrorsAndNonJsonBodiesExit3) {
  Failure f = failure_for_answer("list the keys", 502, "<html>bad gateway</html>");
  EXPECT_EQ(f.exit_code, kExitUnreachable);
  EXPECT_EQ(f.message, "cannot list the keys (HTTP 502); see the server's log");
}

TEST(FailureForAnswer, ControlCharactersFromTheServerAreNeutralised) {
  Failure f = failure_for_answer("x", 400, R"({"error":"a\u001b[31m","error_description":"b\nc"})");
  EXPECT_EQ(f.message, "cannot x (HTTP 400 a?[31m: b?c)");
}

TEST(FailureForTransport, MapsCodesToExitStatuses) {
  Failure down = failure_for_transport(
      Error::unavailable("cannot reach http://127.0.0.1:8420 (Connection refused)"));
  EXPECT_EQ(down.exit_code, kExitUnreachable);
  EXPECT_EQ(down.message,
            "cannot reach http://127.0.0.1:8420 (Connection refused); is `sigil serve` running? "
            "set SIGIL_ADDR");
  Failure tls = failure_for_transport(Error::unavailable(
      "cannot reach https://h (TLS handshake with h failed: certificate verify failed)"));
  EXPECT_EQ(tls.exit_code, kExitUnreachable);
  EXPECT_EQ(tls.message,
            "cannot reach https://h (TLS handshake with h failed: certificate verify failed); if "
            "the server's certificate "
            "comes from a private CA, set SIGIL_CA_FILE");
  EXPECT_EQ(failure_for_transport(Error::invalid_argument("not an absolute URL")).exit_code,
            kExitUsage);
  EXPECT_EQ(failure_for_transport(Error::resource_exhausted("too big")).exit_code,
            kExitUnreachable);
  EXPECT_EQ(failure_for_transport(Error::internal("garbage")).exit_code, kExitUnreachable);
}

TEST(ParseAttributes, SplitsAtTheFirstEquals) {
  auto attrs = parse_attributes({"env=prod", "team=payments", "expr=a=b", "empty="});
  ASSERT_TRUE(attrs.has_value());
  EXPECT_EQ(*attrs, (std::map<std::string, std::string>{
                        {"env", "prod"}, {"team", "payments"}, {"expr", "a=b"}, {"empty", ""}}));
}

TEST(ParseAttributes, RefusesMissingEqualsEmptyKeyAndRepeats) {
  EXPECT_EQ(parse_attributes({"env"}).error().code, Code::kInvalidArgument);
  EXPECT_EQ(parse_attributes({"=prod"}).error().code, Code::kInvalidArgument);
  auto twice = parse_attributes({"env=a", "env=b"});
  ASSERT_FALSE(twice.has_value());
  EXPECT_EQ(twice.error().message, "--attr: the key 'env' is given twice");
  EXPECT_TRUE(parse_attributes({}).value().empty());
}

TEST(FormEncode, EncodesAllButUnreserved) {
  EXPECT_EQ(form_encode("AZaz09-._~"), "AZaz09-._~");
  EXPECT_EQ(form_encode("a b"), "a+b");
  EXPECT_EQ(form_encode("sigil:admin"), "sigil%3Aadmin");
  EXPECT_EQ(form_encode("x+y&z=/"), "x%2By%26z%3D%2F");
  EXPECT_EQ(form_encode("\xC3\xA9"), "%C3%A9");
  EXPECT_EQ(form_body({{"grant_type", "client_credentials"}, {"scope", "a b"}}),
            "grant_type=client_credentials&scope=a+b");
}

TEST(BasicAuthorization, FormEncodesBothParts) {
  const std::string header = basic_authorization("svc:1", "s3cr3t+/=");
  ASSERT_TRUE(header.starts_with("Basic "));
  EXPECT_EQ(base64_decode(header.substr(6)).value(), "svc%3A1:s3cr3t%2B%2F%3D");
}

TEST(ClientId, FollowsTheApiPattern) {
  EXPECT_TRUE(is_valid_client_id("a"));
  EXPECT_TRUE(is_valid_client_id("payments-api.v2_x"));
  EXPECT_TRUE(is_valid_client_id(std::string(63, 'a')));
  EXPECT_FALSE(is_valid_client_id(std::string(64, 'a')));
  EXPECT_FALSE(is_valid_client_id(""));
  EXPECT_FALSE(is_valid_client_id("-a"));
  EXPECT_FALSE(is_valid_client_id("A"));
  EXPECT_FALSE(is_valid_client_id("a/b"));
  EXPECT_FALSE(is_valid_client_id("../admin"));
  EXPECT_FALSE(is_valid_client_id("a%2F"));
}

TEST(Display, RendersJsonValuesForCells) {
  const json::value v = json::parse(
      R"({"s":"x","a":["p","q"],"o":{"env":"prod","team":"t"},"n":5,"b":true,"z":null})");
  const auto& o = v.get_object();
  EXPECT_EQ(display_field(o, "s"), "x");
  EXPECT_EQ(display_field(o, "a"), "p,q");
  EXPECT_EQ(display_field(o, "o"), "env=prod,team=t");
  EXPECT_EQ(display_field(o, "n"), "5");
  EXPECT_EQ(display_field(o, "b"), "true");
  EXPECT_EQ(display_field(o, "z"), "-");
  EXPECT_EQ(display_field(o, "missing"), "-");
  EXPECT_EQ(sanitize("a\tb\x7f"
                     "c"),
            "a?b?c");
}

TEST(RenderTable, PadsColumnsAndTrimsLineEnds) {
  EXPECT_EQ(render_table({"ID", "NAME", "STATUS"},
                         {{"billing", "Billing API", "active"}, {"x", "X", "disabled"}}),
            "ID       NAME         STATUS\n"
            "billing  Billing API  active\n"
            "x        X            disabled\n");
}

TEST(RenderTable, HeaderOnlyAndShortRows) {
  EXPECT_EQ(render_table({"KID", "ALG"}, {}), "KID  ALG\n");
  EXPECT_EQ(render_table({"A", "B"}, {{"long-value"}}), "A           B\nlong-value\n");
}

TEST(RenderFields, OneLinePerField) {
  EXPECT_EQ(render_fields({{"client_id", "svc"}, {"client_secret", "abc"}}),
            "client_id: svc\nclient_secret: abc\n");
}

TEST(FormatUnixTime, IsUtcIso8601) {
  EXPECT_EQ(format_unix_time(0), "1970-01-01T00:00:00Z");
  EXPECT_EQ(format_unix_time(1'700'000'000), "2023-11-14T22:13:20Z");
}

TEST(ContextUrl, JoinsAddrAndPath) {
  Environment env;
  env.addr = "http://127.0.0.1:9000/";
  Context context(std::move(env));
  EXPECT_EQ(context.url("/v1/clients"), "http://127.0.0.1:9000/v1/clients");
  context.addr = "https://sigil.example.com/base";
  EXPECT_EQ(context.url("/oauth2/token"), "https://sigil.example.com/base/oauth2/token");
  EXPECT_EQ(Context(Environment{}).addr, kDefaultAddr);
}

TEST(ContextCredentials, MissingVariablesAreAUsageError) {
  Environment env;
  env.client_id = "admin";
  Context context(std::move(env));
  auto credentials = context.environment_credentials();
  ASSERT_FALSE(credentials.has_value());
  EXPECT_EQ(credentials.error().exit_code, kExitUsage);
}

TEST(ContextAdmin, WithoutCredentialsNoRequestIsMade) {
  Environment env;
  env.addr = "http://127.0.0.1:1";  // never contacted: the credentials check comes first
  Context context(std::move(env));
  auto answer = context.admin_call("GET", "/v1/clients", std::nullopt, "list the clients");
  ASSERT_FALSE(answer.has_value());
  EXPECT_EQ(answer.error().exit_code, kExitUsage);
  EXPECT_NE(answer.error().message.find("SIGIL_CLIENT_ID"), std::string::npos);
}

}  // namespace
}  // namespace sigil::cli
