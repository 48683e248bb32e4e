// OAuth scope tokens (RFC 6749 §3.3), shared by client scopes and API-key scopes.
#pragma once

#include <cstddef>
#include <string_view>

namespace sigil {

inline constexpr std::size_t kMaxScopeTokenBytes = 256;

// scope-token = 1*NQCHAR, NQCHAR = %x21 / %x23-5B / %x5D-7E; at most kMaxScopeTokenBytes.
bool is_valid_scope_token(std::string_view token);

}  // namespace sigil
