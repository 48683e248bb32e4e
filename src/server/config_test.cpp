#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

#include "server/config.hpp"

namespace sigil::server {
namespace {

std::string write_file(const std::string& text) {
  char path[] = "/tmp/sigil-config-XXXXXX";
  const int fd = mkstemp(path);
  close(fd);
  std::ofstream(path) << text;
  return path;
}

TEST(Config, DefaultsWithoutAnything) {
  auto c = load_config("", {}, {});
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->listen, "127.0.0.1:8420");
  EXPECT_EQ(c->data_dir, "var");
  EXPECT_EQ(c->token_lifetime, 300);
  EXPECT_EQ(c->signing_alg, "ES256");
}

TEST(Config, FlagBeatsEnvironmentBeatsFile) {
  const auto file = write_file("listen: 127.0.0.1:1000\ntoken_lifetime: 100\nleeway: 5\n");
  auto c = load_config(file, {{"SIGIL_LISTEN", "127.0.0.1:2000"}, {"SIGIL_TOKEN_LIFETIME", "200"}},
                       {{"listen", "127.0.0.1:3000"}});
  std::remove(file.c_str());
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->listen, "127.0.0.1:3000");
  EXPECT_EQ(c->token_lifetime, 200);
  EXPECT_EQ(c->leeway, 5);
}

TEST(Config, UnknownFileKeyNamesTheLine) {
  const auto file = write_file("listen: 127.0.0.1:1000\nlisten_adress: x\n");
  auto c = load_config(file, {}, {});
  std::remove(file.c_str());
  ASSERT_FALSE(c);
  EXPECT_NE(c.error().message.find("line 2"), std::string::npos) << c.error().message;
  EXPECT_NE(c.error().message.find("listen_adress"), std::string::npos);
}

TEST(Config, RejectsBadValues) {
  EXPECT_FALSE(load_config("", {{"SIGIL_TOKEN_LIFETIME", "0"}}, {}));
  EXPECT_FALSE(load_config("", {{"SIGIL_TOKEN_LIFETIME", "12abc"}}, {}));
  EXPECT_FALSE(load_config("", {}, {{"signing_alg", "HS256"}}));
  EXPECT_FALSE(load_config("", {}, {{"signing_alg", "none"}}));
  EXPECT_FALSE(load_config("", {}, {{"listen", "nohostport"}}));
  EXPECT_FALSE(load_config("", {}, {{"listen", "127.0.0.1:99999"}}));
  EXPECT_FALSE(load_config("", {}, {{"issuer", "ftp://x"}}));
  EXPECT_FALSE(load_config("", {}, {{"issuer", "http://x/?q=1"}}));
  EXPECT_FALSE(load_config("", {}, {{"issuer", "http://x/"}}));
  EXPECT_FALSE(load_config("", {}, {{"tls_cert", "a.pem"}}));
  EXPECT_FALSE(load_config("", {}, {{"token_lifetime", "7200"}}));
  EXPECT_FALSE(load_config("", {}, {{"log_level", "loud"}}));
  EXPECT_FALSE(load_config("", {}, {{"no_such_setting", "1"}}));
  EXPECT_FALSE(load_config("/nonexistent/sigil.yaml", {}, {}));
  EXPECT_TRUE(load_config("", {}, {{"issuer", "https://sigil.example.com:8443/tenant"}}));
}

TEST(Config, MutualTlsSettings) {
  const auto file = write_file(
      "mtls_listen: 127.0.0.1:8443\nmtls_dns_names: sigil.internal, localhost\n"
      "mtls_allow_self_signed: true\n");
  auto c = load_config(file, {{"SIGIL_MTLS_URL", "https://sigil.internal:8443"}}, {});
  std::remove(file.c_str());
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->mtls_listen, "127.0.0.1:8443");
  EXPECT_EQ(c->mtls_dns_names, "sigil.internal, localhost");
  EXPECT_TRUE(c->mtls_allow_self_signed);
  EXPECT_EQ(c->mtls_url, "https://sigil.internal:8443");
  // Off by default.
  auto d = load_config("", {}, {});
  ASSERT_TRUE(d);
  EXPECT_TRUE(d->mtls_listen.empty());
  EXPECT_FALSE(d->mtls_allow_self_signed);
}

TEST(Config, RejectsBadMutualTlsSettings) {
  EXPECT_FALSE(load_config("", {}, {{"mtls_listen", "8443"}}));
  EXPECT_FALSE(load_config("", {}, {{"mtls_listen", "127.0.0.1:70000"}}));
  EXPECT_FALSE(load_config("", {}, {{"mtls_allow_self_signed", "maybe"}}));
  EXPECT_FALSE(load_config("", {}, {{"mtls_cert", "a.pem"}}));
  EXPECT_FALSE(load_config("", {}, {{"mtls_url", "http://sigil:8443"}}));
  EXPECT_FALSE(load_config("", {}, {{"mtls_url", "https://sigil:8443/"}}));
  EXPECT_FALSE(load_config("", {}, {{"mtls_listen", "127.0.0.1:8443"}, {"mtls_dns_names", ""}}));
}

TEST(Config, MalformedYamlIsAnError) {
  const auto file = write_file("listen: [unclosed\n");
  auto c = load_config(file, {}, {});
  std::remove(file.c_str());
  EXPECT_FALSE(c);
}

}  // namespace
}  // namespace sigil::server
