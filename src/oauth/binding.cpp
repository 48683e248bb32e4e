#include "oauth/binding.hpp"

#include "base/base64url.hpp"
#include "crypto/digest.hpp"
#include "oauth/dpop.hpp"

namespace sigil::oauth {

namespace {

namespace json = boost::json;

// The confirmation members sigil issues (RFC 8705 §3.1, RFC 9449 §6.1).
constexpr std::string_view kCertificateThumbprint = "x5t#S256";
constexpr std::string_view kKeyThumbprint = "jkt";

std::unexpected<Denial> refuse(std::string description, std::string reason) {
  return std::unexpected(
      Denial{OAuthError::kInvalidToken, std::move(description), std::move(reason)});
}

// The member `name` of cnf as a non-empty string; nullopt when absent; an empty view when
// present but not one.
std::optional<std::string_view> confirmation(const json::object& cnf, std::string_view name) {
  const json::value* value = cnf.if_contains(name);
  if (value == nullptr) return std::nullopt;
  if (!value->is_string()) return std::string_view();
  return std::string_view(value->get_string());
}

}  // namespace

std::string certificate_thumbprint(std::string_view der) {
  return base64url_encode(crypto::sha256(der));
}

std::expected<void, Denial> check_token_binding(const json::object& claims,
                                                std::string_view access_token,
                                                const PresentedBinding& presented, TimePoint now,
                                                ReplayCache& replays, Seconds leeway) {
  const json::value* cnf_value = claims.if_contains("cnf");
  if (cnf_value == nullptr) {
    // RFC 9449 §7.1: the DPoP scheme carries a DPoP-bound token; a bearer token sent with
    // it is a client mixing up its tokens.
    if (presented.dpop_scheme) {
      return refuse("the token is not DPoP-bound: send it with the Bearer scheme",
                    "not_dpop_bound");
    }
    return {};
  }
  if (!cnf_value->is_object()) return refuse("the token is not valid", "malformed_cnf");
  const json::object& cnf = cnf_value->get_object();
  // A confirmation method sigil cannot check must not pass for a weaker one (RFC 7800
  // §3.1: the recipient must be able to confirm possession).
  for (const auto& member : cnf) {
    if (member.key() != kCertificateThumbprint && member.key() != kKeyThumbprint) {
      return refuse("the token is not valid", "malformed_cnf");
    }
  }
  const auto x5t = confirmation(cnf, kCertificateThumbprint);
  const auto jkt = confirmation(cnf, kKeyThumbprint);
  if ((x5t && x5t->empty()) || (jkt && jkt->empty()) || (!x5t && !jkt)) {
    return refuse("the token is not valid", "malformed_cnf");
  }
  if (presented.dpop_scheme && !jkt) {
    return refuse("the token is not DPoP-bound: send it with the Bearer scheme", "not_dpop_bound");
  }

  if (x5t) {
    // RFC 8705 §3: "the protected resource MUST obtain, from its TLS implementation
    // layer, the client certificate used for mutual TLS and MUST verify that the
    // certificate matches the certificate associated with the access token. If they do
    // not match, the resource access attempt MUST be rejected with an error".
    if (presented.certificate_der.empty()) {
      return refuse("the token is bound to a client certificate: present it over mutual TLS",
                    "certificate_required");
    }
    if (certificate_thumbprint(presented.certificate_der) != *x5t) {
      return refuse("the token is bound to another client certificate", "certificate_mismatch");
    }
  }

  if (jkt) {
    // RFC 9449 §7.2: a protected resource "MUST reject a DPoP-bound access token received
    // as a bearer token per [RFC6750]".
    if (!presented.dpop_proof) {
      return refuse("the token is DPoP-bound: send a DPoP proof with it", "dpop_proof_required");
    }
    if (!presented.dpop_scheme) {
      return refuse("the token is DPoP-bound: send it with the DPoP scheme",
                    "dpop_scheme_required");
    }
    // RFC 9449 §7.1: the proof is checked as §4.3 says, with "ath" the hash of this token,
    // and the key it was signed with must be the one the token is bound to.
    auto proof_key = verify_dpop_proof(*presented.dpop_proof, presented.method, presented.url, now,
                                       replays, leeway, Seconds{300}, access_token);
    if (!proof_key) return std::unexpected(std::move(proof_key.error()));
    if (*proof_key != *jkt) {
      return refuse("the DPoP proof is signed by another key than the token is bound to",
                    "dpop_key_mismatch");
    }
  }
  return {};
}

}  // namespace sigil::oauth
