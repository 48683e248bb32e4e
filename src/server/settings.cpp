#include "server/settings.hpp"

#include <charconv>

namespace sigil::server {

oauth::TokenSettings token_settings(const Config& config, const std::string& issuer) {
  oauth::TokenSettings s;
  s.issuer = issuer;
  s.default_lifetime = Seconds{config.token_lifetime};
  s.max_lifetime = Seconds{config.max_token_lifetime};
  s.leeway = Seconds{config.leeway};
  // load_config() has checked the name.
  s.signing_alg = jose::algorithm_from_string(config.signing_alg).value_or(jose::Algorithm::kES256);
  s.key_propagation_delay = Seconds{config.key_propagation_delay};
  return s;
}

namespace {

// HOST:PORT (HOST an IP address, [v6] or localhost) into the options.
Result<void> set_address(http::ServerOptions& o, std::string_view setting,
                         const std::string& listen) {
  const auto colon = listen.rfind(':');
  if (colon == std::string::npos) {
    return std::unexpected(Error::invalid_argument(std::string(setting) +
                                                   ": expected HOST:PORT, got '" + listen + "'"));
  }
  std::string host = listen.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  if (host == "localhost") host = "127.0.0.1";
  unsigned port = 0;
  const std::string port_text = listen.substr(colon + 1);
  auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (ec != std::errc{} || end != port_text.data() + port_text.size() || port > 65535) {
    return std::unexpected(
        Error::invalid_argument(std::string(setting) + ": bad port in '" + listen + "'"));
  }
  o.address = host;
  o.port = static_cast<std::uint16_t>(port);
  return Ok();
}

}  // namespace

Result<http::ServerOptions> server_options(const Config& config) {
  http::ServerOptions o;
  SIGIL_CHECK(set_address(o, "listen", config.listen));
  o.threads = config.threads;
  o.limits.max_body_bytes = config.max_body_bytes;
  o.limits.max_header_bytes = config.max_header_bytes;
  o.limits.idle_timeout = Seconds{config.idle_timeout};
  if (!config.tls_cert.empty()) o.tls = http::TlsSettings{config.tls_cert, config.tls_key};
  return o;
}

Result<http::ServerOptions> mtls_server_options(const Config& config) {
  SIGIL_TRY(o, server_options(config));
  SIGIL_CHECK(set_address(o, "mtls_listen", config.mtls_listen));
  o.tls = http::TlsSettings{config.mtls_cert, config.mtls_key};
  return o;
}

}  // namespace sigil::server
