// From the server's Config to the settings of the libraries it wires together.
#pragma once

#include <string>

#include "http/server.hpp"
#include "oauth/settings.hpp"
#include "server/config.hpp"

namespace sigil::server {

oauth::TokenSettings token_settings(const Config& config, const std::string& issuer);

// kInvalidArgument when `listen` is not HOST:PORT with an IP address.
Result<http::ServerOptions> server_options(const Config& config);

// The mutual-TLS listener's options: server_options() on mtls_listen, with TLS from
// mtls_cert/mtls_key (empty when sigil is to use a certificate of its own CA). The caller
// adds the identity and the client certificate trust bundle.
Result<http::ServerOptions> mtls_server_options(const Config& config);

}  // namespace sigil::server
