#include "audit/event.hpp"

namespace sigil::audit {

std::string_view to_string(Decision decision) {
  switch (decision) {
    case Decision::kAllow:
      return "allow";
    case Decision::kDeny:
      return "deny";
    case Decision::kError:
      return "error";
  }
  return "error";
}

}  // namespace sigil::audit
