#include "base/scope.hpp"

#include <algorithm>

namespace sigil {

bool is_valid_scope_token(std::string_view token) {
  if (token.empty() || token.size() > kMaxScopeTokenBytes) return false;
  return std::all_of(token.begin(), token.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u == 0x21 || (u >= 0x23 && u <= 0x5B) || (u >= 0x5D && u <= 0x7E);
  });
}

}  // namespace sigil
