#include "base/names.hpp"

#include <algorithm>

namespace sigil {

namespace {

bool is_lower_alnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

}  // namespace

bool is_valid_client_id(std::string_view id) {
  if (id.empty() || id.size() > 63 || !is_lower_alnum(id.front())) return false;
  return std::all_of(id.begin(), id.end(),
                     [](char c) { return is_lower_alnum(c) || c == '.' || c == '_' || c == '-'; });
}

}  // namespace sigil
