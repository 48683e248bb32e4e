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

}  // namespace sigil::server
