#include "jose/jws.hpp"

#include <boost/json/serialize.hpp>

#include "base/base64url.hpp"
#include "crypto/key.hpp"
#include "jose/key_mapping.hpp"

namespace sigil::jose {

Result<Signer> Signer::create(Jwk private_key, std::string typ) {
  if (!private_key.is_private()) {
    return std::unexpected(Error::invalid_argument("signing needs a private key"));
  }
  boost::json::object header;
  header["alg"] = to_string(private_key.alg());
  header["kid"] = private_key.kid();
  if (!typ.empty()) header["typ"] = typ;
  std::string encoded = base64url_encode(boost::json::serialize(header));
  return Signer(std::move(private_key), std::move(encoded));
}

Result<std::string> Signer::sign(std::string_view payload) const {
  std::string out;
  out.reserve(encoded_header_.size() + payload.size() * 4 / 3 + 600);
  out += encoded_header_;
  out += '.';
  out += base64url_encode(payload);
  SIGIL_TRY(signature, key_.key().sign(internal::scheme_for(key_.alg()), out));
  out += '.';
  out += base64url_encode(signature);
  return out;
}

}  // namespace sigil::jose
