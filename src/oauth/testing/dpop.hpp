// DPoP proofs (RFC 9449 §4.2) for tests: signed with a test key, with the header and
// claims a test wants to break.
#pragma once

#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

#include <string>
#include <string_view>

#include "base/base64url.hpp"
#include "base/clock.hpp"
#include "jose/jwk.hpp"
#include "jose/key_mapping.hpp"

namespace sigil::oauth::testing {

// {"typ":"dpop+jwt","alg":<key's alg>,"jwk":<the public key, without kid/use/alg>}
inline boost::json::object dpop_header(const jose::Jwk& key) {
  boost::json::object jwk = key.public_json();
  jwk.erase("kid");
  jwk.erase("use");
  jwk.erase("alg");
  return boost::json::object{
      {"typ", "dpop+jwt"}, {"alg", jose::to_string(key.alg())}, {"jwk", std::move(jwk)}};
}

inline boost::json::object dpop_claims(std::string_view jti, std::string_view htu, TimePoint iat,
                                       std::string_view htm = "POST") {
  return boost::json::object{{"jti", jti}, {"htm", htm}, {"htu", htu}, {"iat", to_unix(iat)}};
}

// header.claims.signature, signed with `key` by its own algorithm whatever "alg" says.
inline std::string sign_dpop_proof(const jose::Jwk& key, const boost::json::object& header,
                                   const boost::json::object& claims) {
  const std::string input = base64url_encode(boost::json::serialize(header)) + "." +
                            base64url_encode(boost::json::serialize(claims));
  auto signature = key.key().sign(jose::internal::scheme_for(key.alg()), input);
  return input + "." + (signature ? base64url_encode(*signature) : std::string());
}

inline std::string dpop_proof(const jose::Jwk& key, std::string_view jti, std::string_view htu,
                              TimePoint iat) {
  return sign_dpop_proof(key, dpop_header(key), dpop_claims(jti, htu, iat));
}

}  // namespace sigil::oauth::testing
