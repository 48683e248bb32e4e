// Authorization server metadata (RFC 8414), also served as OpenID Connect discovery.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "jose/algorithm.hpp"

namespace sigil::oauth {

// The metadata document for `issuer` (no trailing slash), whose tokens are signed with
// `signing_algs`. Endpoints: {issuer}/oauth2/token, /oauth2/introspect, /oauth2/revoke,
// {issuer}/.well-known/jwks.json. With `mtls_base_url` (no trailing slash), the base URL
// of the mutual-TLS listener, the same three endpoints there as "mtls_endpoint_aliases"
// (RFC 8705 §5); empty: none.
std::string authorization_server_metadata(std::string_view issuer,
                                          const std::vector<jose::Algorithm>& signing_algs,
                                          std::string_view mtls_base_url = {});

}  // namespace sigil::oauth
