// Internal to jose/: JSON parsing for untrusted token parts. Boost.JSON keeps the last of
// duplicate member names; JOSE parsers must not (RFC 7515 §5.2 step 4, RFC 8725 §3.6),
// or a second "alg" could be smuggled past another implementation.
#pragma once

#include <boost/json/value.hpp>

#include <optional>
#include <string_view>

namespace sigil::jose::internal {

// The parsed document, or nullopt for invalid JSON (including invalid UTF-8), duplicate
// member names at any depth, or nesting deeper than 32. Never throws.
std::optional<boost::json::value> parse_strict_json(std::string_view text);

}  // namespace sigil::jose::internal
