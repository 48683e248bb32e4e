// The token service's settings, fixed at start-up.
#pragma once

#include <string>

#include "base/clock.hpp"
#include "jose/algorithm.hpp"

namespace sigil::oauth {

struct TokenSettings {
  std::string issuer;             // "iss" of every token, and the base of the endpoints
  Seconds default_lifetime{300};  // lifetime of an access token
  Seconds max_lifetime{3600};     // cap on any token's lifetime; bounds a retired key's stay
  Seconds leeway{30};             // clock skew allowed when verifying
  jose::Algorithm signing_alg = jose::Algorithm::kES256;  // for new keys unless told
  // How long a new key is published in the JWKS before it signs, so that verifiers that
  // cache the JWKS learn it first. The first key (KeyRing::initialise) signs at once.
  Seconds key_propagation_delay{300};
};

}  // namespace sigil::oauth
