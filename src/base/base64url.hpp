// Base64url without padding (RFC 4648 §5, as JOSE uses it, RFC 7515 §2).
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace sigil {

std::string base64url_encode(std::string_view bytes);

// Strict: rejects padding, characters outside the url-safe alphabet, a length of
// 1 mod 4, and non-zero trailing bits (so each value has exactly one encoding).
std::optional<std::string> base64url_decode(std::string_view text);

// Standard base64 with padding (RFC 4648 §4), for HTTP Basic and PEM.
std::string base64_encode(std::string_view bytes);
std::optional<std::string> base64_decode(std::string_view text);

}  // namespace sigil
