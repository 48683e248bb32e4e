#include "http/form.hpp"

#include <gtest/gtest.h>

#include "base/base64url.hpp"

namespace sigil::http {
namespace {

TEST(FormUrlDecode, PlusIsSpaceAndEscapesDecode) {
  EXPECT_EQ(form_url_decode("a+b%20c%2B%3d%3D").value(), "a b c+==");
  EXPECT_EQ(form_url_decode("").value(), "");
  EXPECT_EQ(form_url_decode("%C3%A9").value(), "\xC3\xA9");
}

TEST(FormUrlDecode, RejectsBadEscapes) {
  EXPECT_FALSE(form_url_decode("%"));
  EXPECT_FALSE(form_url_decode("%4"));
  EXPECT_FALSE(form_url_decode("abc%"));
  EXPECT_FALSE(form_url_decode("%zz"));
  EXPECT_FALSE(form_url_decode("%4g"));
  EXPECT_EQ(form_url_decode("%G1").error().code, Code::kInvalidArgument);
}

TEST(FormUrlDecode, RejectsNulAndInvalidUtf8) {
  EXPECT_FALSE(form_url_decode("a%00b"));
  EXPECT_FALSE(form_url_decode("%FF"));
  EXPECT_FALSE(form_url_decode("%C0%AF"));     // overlong '/'
  EXPECT_FALSE(form_url_decode("%ED%A0%80"));  // surrogate
  EXPECT_FALSE(form_url_decode("%E2%82"));     // truncated sequence
  EXPECT_TRUE(form_url_decode("%F0%9F%94%91"));
}

TEST(ParseForm, KeepsOrderAndValues) {
  auto form = parse_form("grant_type=client_credentials&scope=a+b&audience=https%3A%2F%2Fapi");
  ASSERT_TRUE(form);
  ASSERT_EQ(form->params().size(), 3u);
  EXPECT_EQ(form->params()[0].first, "grant_type");
  EXPECT_EQ(form->params()[2].second, "https://api");
  EXPECT_EQ(form->get("scope"), "a b");
  EXPECT_EQ(form->get("missing"), std::nullopt);
  EXPECT_TRUE(form->duplicates().empty());
}

TEST(ParseForm, EmptyValuesAndSegments) {
  auto form = parse_form("a=&b&&c=1&");
  ASSERT_TRUE(form);
  ASSERT_EQ(form->params().size(), 3u);
  EXPECT_EQ(form->get("a"), "");
  EXPECT_EQ(form->get("b"), "");
  EXPECT_EQ(form->get("c"), "1");
  EXPECT_EQ(parse_form("")->params().size(), 0u);
}

TEST(ParseForm, ReportsDuplicates) {
  auto form = parse_form("scope=a&x=1&scope=b&x=2&scope=c&y=3");
  ASSERT_TRUE(form);
  EXPECT_EQ(form->count("scope"), 3u);
  EXPECT_EQ(form->get("scope"), "a");
  EXPECT_EQ(form->duplicates(), (std::vector<std::string>{"scope", "x"}));
  // Duplicates are compared after decoding.
  EXPECT_EQ(parse_form("a%62=1&ab=2")->duplicates(), (std::vector<std::string>{"ab"}));
}

TEST(ParseForm, RejectsBadInput) {
  EXPECT_FALSE(parse_form("a=%zz"));
  EXPECT_FALSE(parse_form("%=1"));
  EXPECT_FALSE(parse_form("=value"));
  EXPECT_FALSE(parse_form("a=1&b=%"));
}

TEST(ContentType, FormUrlencoded) {
  EXPECT_TRUE(is_form_urlencoded("application/x-www-form-urlencoded"));
  EXPECT_TRUE(is_form_urlencoded("application/x-www-form-urlencoded; charset=UTF-8"));
  EXPECT_TRUE(is_form_urlencoded("Application/X-WWW-Form-Urlencoded;charset=\"utf-8\""));
  EXPECT_TRUE(is_form_urlencoded(" application/x-www-form-urlencoded ; foo=bar"));
  EXPECT_FALSE(is_form_urlencoded("application/x-www-form-urlencoded; charset=ISO-8859-1"));
  EXPECT_FALSE(is_form_urlencoded("application/json"));
  EXPECT_FALSE(is_form_urlencoded("application/x-www-form-urlencodedx"));
  EXPECT_FALSE(is_form_urlencoded(""));
  EXPECT_TRUE(media_type_is("Application/JSON; charset=utf-8", "application/json"));
}

TEST(BasicAuth, DecodesPercentEncodedParts) {
  // RFC 6749 §2.3.1: id and secret are form-url-encoded before base64.
  auto header = "Basic " + base64_encode("my%3Aclient:s%2Bcr%25t+x");
  auto creds = parse_basic_authorization(header);
  ASSERT_TRUE(creds) << creds.error().message;
  EXPECT_EQ(creds->client_id, "my:client");
  EXPECT_EQ(creds->client_secret.reveal(), "s+cr%t x");
}

TEST(BasicAuth, SchemeIsCaseInsensitiveAndSecretMayBeEmpty) {
  auto creds = parse_basic_authorization("bAsIc  " + base64_encode("id:"));
  ASSERT_TRUE(creds);
  EXPECT_EQ(creds->client_id, "id");
  EXPECT_TRUE(creds->client_secret.empty());
}

TEST(BasicAuth, RejectsMalformed) {
  EXPECT_FALSE(parse_basic_authorization("Bearer " + base64_encode("a:b")));
  EXPECT_FALSE(parse_basic_authorization("Basic"));
  EXPECT_FALSE(parse_basic_authorization("Basic "));
  EXPECT_FALSE(parse_basic_authorization("Basicx " + base64_encode("a:b")));
  EXPECT_FALSE(parse_basic_authorization("Basic !!!!"));
  EXPECT_FALSE(parse_basic_authorization("Basic " + base64_encode("no-colon")));
  EXPECT_FALSE(parse_basic_authorization("Basic " + base64_encode(":secret")));
  EXPECT_FALSE(parse_basic_authorization("Basic " + base64_encode("id%zz:secret")));
  EXPECT_FALSE(parse_basic_authorization("Basic " + base64_encode("id:bad%")));
}

TEST(BearerAuth, AcceptsB64Token) {
  EXPECT_EQ(parse_bearer_authorization("Bearer abc.DEF-_~+/xyz==").value(), "abc.DEF-_~+/xyz==");
  EXPECT_EQ(parse_bearer_authorization("bearer  tok ").value(), "tok");
}

TEST(BearerAuth, RejectsBadSyntax) {
  EXPECT_FALSE(parse_bearer_authorization("Bearer"));
  EXPECT_FALSE(parse_bearer_authorization("Bearer "));
  EXPECT_FALSE(parse_bearer_authorization("Bearer a b"));
  EXPECT_FALSE(parse_bearer_authorization("Bearer =abc"));
  EXPECT_FALSE(parse_bearer_authorization("Bearer ab=c"));
  EXPECT_FALSE(parse_bearer_authorization("Bearer a\"b"));
  EXPECT_FALSE(parse_bearer_authorization("Basic abc"));
  EXPECT_EQ(authorization_scheme("DPoP xyz"), "DPoP");
}

}  // namespace
}  // namespace sigil::http
