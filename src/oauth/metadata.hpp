// Authorization server metadata (RFC 8414), also served as OpenID Connect discovery.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "jose/algorithm.hpp"

namespace sigil::oauth {

// The metadata document for `issuer` (no trailing slash), whose tokens are signed with
// `signing_algs`. Endpoints: {issuer}/oauth2/token, /oauth2/introspect, /oauth2/revoke,
// {issuer}/.well-known/jwks.json.
std::string authorization_server_metadata(std::string_view issuer,
                                          const std::vector<jose::Algorithm>& signing_algs);

}  // namespace sigil::oauth
