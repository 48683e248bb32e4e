// Public keys that live elsewhere: a client's registered jwks_uri (private_key_jwt), a
// trusted external issuer's JWKS (federation). Declared here, where they are needed;
// implemented at the edge (server/key_fetcher.hpp) over HTTP with a cache:
//   - a fresh set comes from memory, without I/O;
//   - refresh = true (the caller met an unknown "kid") fetches again, at most once per
//     rate-limit interval per URI, so a flood of made-up kids cannot flood the source;
//   - when the source cannot be reached, the last good set is kept and returned.
//
// Thread safety: implementations are thread-safe.
#pragma once

#include <memory>
#include <string_view>

#include "base/error.hpp"
#include "jose/jwk.hpp"

namespace sigil::oauth {

class KeySource {
 public:
  virtual ~KeySource() = default;

  // The key set published at `jwks_uri`. kUnavailable when it was never fetched and
  // cannot be now; kInvalidArgument when what the URI serves is not a JWKS.
  virtual Result<std::shared_ptr<const jose::JwkSet>> keys_at(std::string_view jwks_uri,
                                                              bool refresh) = 0;

  // The key set of an OpenID provider: the jwks_uri of its discovery document
  // (`issuer` + "/.well-known/openid-configuration", whose "issuer" must equal `issuer`
  // exactly, OpenID Connect Discovery 1.0 §4.3), then as keys_at(). The discovery document
  // is cached like the keys.
  virtual Result<std::shared_ptr<const jose::JwkSet>> keys_of_issuer(std::string_view issuer,
                                                                     bool refresh) = 0;
};

}  // namespace sigil::oauth
