#include "jose/jwk.hpp"

#include <boost/json/serialize.hpp>

#include <cstdlib>
#include <utility>

#include "base/base64url.hpp"
#include "base/secrets.hpp"
#include "crypto/digest.hpp"
#include "crypto/key.hpp"
#include "jose/key_mapping.hpp"
#include "jose/strict_json.hpp"

namespace sigil::jose {
namespace {

namespace json = boost::json;
using Members = std::vector<std::pair<std::string_view, std::string>>;

constexpr std::size_t kMaxJwksBytes = 1024 * 1024;

Error invalid(std::string m) {
  return Error::invalid_argument("JWK: " + std::move(m));
}

// A string member, or nullopt when absent; an error when present but not a string.
Result<std::optional<std::string_view>> string_member(const json::object& o,
                                                      std::string_view name) {
  auto it = o.find(name);
  if (it == o.end()) return std::nullopt;
  if (!it->value().is_string())
    return std::unexpected(invalid(std::string(name) + " not a string"));
  return std::optional<std::string_view>(std::string_view(it->value().as_string()));
}

// A base64url member, decoded; empty when absent and optional.
Result<std::string> b64_member(const json::object& o, std::string_view name, bool required) {
  SIGIL_TRY(text, string_member(o, name));
  if (!text) {
    if (required) return std::unexpected(invalid("missing member " + std::string(name)));
    return std::string();
  }
  auto bytes = base64url_decode(*text);
  if (!bytes || bytes->empty()) {
    return std::unexpected(invalid("member " + std::string(name) + " is not base64url"));
  }
  return std::move(*bytes);
}

// "use" must be "sig" and "key_ops" only signing operations (RFC 7517 §4.2, §4.3).
Result<void> check_usage(const json::object& o) {
  SIGIL_TRY(use, string_member(o, "use"));
  if (use && *use != "sig") return std::unexpected(invalid("use is not sig"));
  if (auto it = o.find("key_ops"); it != o.end()) {
    if (!it->value().is_array()) return std::unexpected(invalid("key_ops not an array"));
    for (const auto& op : it->value().as_array()) {
      if (!op.is_string() || (op.as_string() != "sign" && op.as_string() != "verify")) {
        return std::unexpected(invalid("key_ops allows more than sign/verify"));
      }
    }
  }
  return Ok();
}

// The RFC 7638 required members, in lexicographic order.
Result<Members> required_members(const crypto::Key& key) {
  switch (key.type()) {
    case crypto::KeyType::kEcP256:
    case crypto::KeyType::kEcP384: {
      SIGIL_TRY(c, key.ec_components());
      return Members{{"crv", key.type() == crypto::KeyType::kEcP256 ? "P-256" : "P-384"},
                     {"kty", "EC"},
                     {"x", base64url_encode(c.x)},
                     {"y", base64url_encode(c.y)}};
    }
    case crypto::KeyType::kEd25519: {
      SIGIL_TRY(c, key.okp_components());
      return Members{{"crv", "Ed25519"}, {"kty", "OKP"}, {"x", base64url_encode(c.x)}};
    }
    case crypto::KeyType::kRsa: {
      SIGIL_TRY(c, key.rsa_components());
      return Members{{"e", base64url_encode(c.e)}, {"kty", "RSA"}, {"n", base64url_encode(c.n)}};
    }
  }
  return std::unexpected(Error::internal("unknown key type"));
}

std::string thumbprint_of(const crypto::Key& key) {
  auto members = required_members(key);
  if (!members) return {};
  // Values are base64url or fixed names: nothing needs JSON escaping.
  std::string canonical = "{";
  for (const auto& [name, value] : *members) {
    if (canonical.size() > 1) canonical += ',';
    canonical += '"';
    canonical += name;
    canonical += "\":\"";
    canonical += value;
    canonical += '"';
  }
  canonical += '}';
  return base64url_encode(crypto::sha256(canonical));
}

Result<crypto::Key> import_ec(const json::object& o, crypto::KeyType curve) {
  crypto::EcComponents c;
  SIGIL_TRY(x, b64_member(o, "x", true));
  SIGIL_TRY(y, b64_member(o, "y", true));
  SIGIL_TRY(d, b64_member(o, "d", false));
  c.x = std::move(x);
  c.y = std::move(y);
  c.d = std::move(d);
  auto key = crypto::Key::from_ec(curve, c);
  wipe(c.d);
  if (!key) return std::unexpected(invalid(key.error().message));
  return key;
}

Result<crypto::Key> import_okp(const json::object& o) {
  crypto::OkpComponents c;
  SIGIL_TRY(x, b64_member(o, "x", true));
  SIGIL_TRY(d, b64_member(o, "d", false));
  c.x = std::move(x);
  c.d = std::move(d);
  auto key = crypto::Key::from_ed25519(c);
  wipe(c.d);
  if (!key) return std::unexpected(invalid(key.error().message));
  return key;
}

Result<crypto::Key> import_rsa(const json::object& o) {
  if (o.contains("oth")) return std::unexpected(invalid("multi-prime RSA keys are not supported"));
  crypto::RsaComponents c;
  SIGIL_TRY(n, b64_member(o, "n", true));
  SIGIL_TRY(e, b64_member(o, "e", true));
  // Base64urlUInt uses the fewest octets (RFC 7518 §2), so each key has one form.
  if (n.front() == '\0' || e.front() == '\0') {
    return std::unexpected(invalid("RSA integer with a leading zero octet"));
  }
  c.n = std::move(n);
  c.e = std::move(e);
  std::pair<std::string_view, std::string*> privates[] = {
      {"d", &c.d}, {"p", &c.p}, {"q", &c.q}, {"dp", &c.dp}, {"dq", &c.dq}, {"qi", &c.qi}};
  for (auto& [name, out] : privates) {
    auto value = b64_member(o, name, false);
    if (!value) {
      for (auto& [_, s] : privates) wipe(*s);
      return std::unexpected(value.error());
    }
    *out = std::move(*value);
  }
  auto key = crypto::Key::from_rsa(c);
  for (auto& [_, s] : privates) wipe(*s);
  if (!key) return std::unexpected(invalid(key.error().message));
  return key;
}

// Whether JwkSet::parse should try this key at all (RFC 7517 §5: skip what we cannot use).
Result<bool> is_usable_in_set(const json::object& o) {
  SIGIL_TRY(kty, string_member(o, "kty"));
  if (!kty) return std::unexpected(invalid("missing kty"));
  SIGIL_TRY(crv, string_member(o, "crv"));
  SIGIL_TRY(alg, string_member(o, "alg"));
  SIGIL_TRY(use, string_member(o, "use"));
  if (use && *use != "sig") return false;
  if (auto it = o.find("key_ops"); it != o.end()) {
    bool verify = false;
    if (it->value().is_array()) {
      for (const auto& op : it->value().as_array()) verify |= op == "verify";
    }
    if (!verify) return false;
  }
  if (alg && !algorithm_from_string(*alg)) return false;
  if (*kty == "EC") return crv && (*crv == "P-256" || *crv == "P-384");
  if (*kty == "OKP") return crv && *crv == "Ed25519";
  if (*kty == "RSA") return alg.has_value();  // no alg: which of RS256/PS256 is unknown
  return false;
}

}  // namespace

Result<Jwk> Jwk::generate(Algorithm alg) {
  SIGIL_TRY(key, crypto::Key::generate(internal::key_type_for(alg)));
  auto shared = std::make_shared<const crypto::Key>(std::move(key));
  std::string kid = thumbprint_of(*shared);
  return Jwk(std::move(shared), alg, std::move(kid));
}

Result<Jwk> Jwk::from_json(const json::object& jwk, std::optional<Algorithm> default_alg) {
  SIGIL_TRY(kty, string_member(jwk, "kty"));
  if (!kty) return std::unexpected(invalid("missing kty"));
  SIGIL_CHECK(check_usage(jwk));
  SIGIL_TRY(alg_name, string_member(jwk, "alg"));
  std::optional<Algorithm> alg;
  if (alg_name) {
    alg = algorithm_from_string(*alg_name);
    if (!alg) return std::unexpected(invalid("unsupported alg " + std::string(*alg_name)));
  }
  SIGIL_TRY(crv, string_member(jwk, "crv"));

  std::optional<Algorithm> implied;
  if (*kty == "EC") {
    if (crv && *crv == "P-256") implied = Algorithm::kES256;
    if (crv && *crv == "P-384") implied = Algorithm::kES384;
    if (!implied) return std::unexpected(invalid("unsupported EC curve"));
  } else if (*kty == "OKP") {
    if (!crv || *crv != "Ed25519") return std::unexpected(invalid("unsupported OKP curve"));
    implied = Algorithm::kEdDSA;
  } else if (*kty == "RSA") {
    Algorithm chosen = alg ? *alg : default_alg.value_or(Algorithm::kES256);
    if (chosen != Algorithm::kRS256 && chosen != Algorithm::kPS256) {
      return std::unexpected(
          invalid(alg || default_alg ? "alg does not suit an RSA key" : "RSA key without alg"));
    }
    implied = chosen;
  } else {
    return std::unexpected(invalid("unsupported kty " + std::string(*kty)));
  }
  if (alg && *alg != *implied) return std::unexpected(invalid("alg does not suit kty/crv"));

  Result<crypto::Key> key = *kty == "EC"    ? import_ec(jwk, internal::key_type_for(*implied))
                            : *kty == "OKP" ? import_okp(jwk)
                                            : import_rsa(jwk);
  if (!key) return std::unexpected(key.error());
  auto shared = std::make_shared<const crypto::Key>(std::move(*key));
  SIGIL_TRY(kid, string_member(jwk, "kid"));
  std::string kid_value = kid ? std::string(*kid) : thumbprint_of(*shared);
  return Jwk(std::move(shared), *implied, std::move(kid_value));
}

Result<std::string> Jwk::private_pkcs8() const {
  return key_->private_pkcs8();
}

Result<Jwk> Jwk::from_private_pkcs8(std::string_view der, Algorithm alg,
                                    std::optional<std::string> kid) {
  auto key = crypto::Key::from_private_pkcs8(der);
  if (!key) return std::unexpected(invalid(key.error().message));
  if (key->type() != internal::key_type_for(alg)) {
    return std::unexpected(invalid("key type does not suit " + std::string(to_string(alg))));
  }
  auto shared = std::make_shared<const crypto::Key>(std::move(*key));
  std::string kid_value = kid ? std::move(*kid) : thumbprint_of(*shared);
  return Jwk(std::move(shared), alg, std::move(kid_value));
}

bool Jwk::is_private() const {
  return key_->is_private();
}

json::object Jwk::public_json() const {
  json::object out;
  auto members = required_members(*key_);
  if (members) {
    // Conventional order: kty first.
    for (const auto& [name, value] : *members) {
      if (name == "kty") out[name] = value;
    }
    for (const auto& [name, value] : *members) {
      if (name != "kty") out[name] = value;
    }
  }
  out["kid"] = kid_;
  out["alg"] = to_string(alg_);
  out["use"] = "sig";
  return out;
}

std::string Jwk::thumbprint() const {
  return thumbprint_of(*key_);
}

Jwk Jwk::public_key() const {
  if (!key_->is_private()) return *this;
  auto pub = key_->public_key();
  // Re-encoding a key we already hold fails only when memory is exhausted; returning the
  // private key instead would be worse than stopping.
  if (!pub) std::abort();
  return Jwk(std::make_shared<const crypto::Key>(std::move(*pub)), alg_, kid_);
}

Result<JwkSet> JwkSet::parse(std::string_view text) {
  if (text.size() > kMaxJwksBytes) return std::unexpected(invalid("JWKS too large"));
  auto doc = internal::parse_strict_json(text);
  if (!doc || !doc->is_object()) return std::unexpected(invalid("JWKS is not a JSON object"));
  auto it = doc->as_object().find("keys");
  if (it == doc->as_object().end() || !it->value().is_array()) {
    return std::unexpected(invalid("JWKS without a keys array"));
  }
  JwkSet set;
  for (const auto& entry : it->value().as_array()) {
    if (!entry.is_object()) return std::unexpected(invalid("JWKS entry is not an object"));
    SIGIL_TRY(usable, is_usable_in_set(entry.as_object()));
    if (!usable) continue;
    SIGIL_TRY(key, Jwk::from_json(entry.as_object()));
    if (set.find(key.kid(), key.alg()) != nullptr) {
      return std::unexpected(invalid("duplicate kid " + key.kid()));
    }
    set.add(std::move(key));
  }
  return set;
}

const Jwk* JwkSet::find(std::string_view kid, Algorithm alg) const {
  for (const Jwk& key : keys_) {
    if (key.alg() == alg && key.kid() == kid) return &key;
  }
  return nullptr;
}

std::string JwkSet::to_json() const {
  json::array keys;
  for (const Jwk& key : keys_) keys.push_back(key.public_json());
  json::object doc;
  doc["keys"] = std::move(keys);
  return json::serialize(doc);
}

}  // namespace sigil::jose
