// Syntax of the names an operator chooses for things sigil knows: client ids, and the
// services and audiences of a policy file (a service is a client by another name).
#pragma once

#include <string_view>

namespace sigil {

// A client id chosen by an operator: [a-z0-9][a-z0-9._-]{0,62}. (Generated ids, "cl_" +
// 16 base32 characters, fall outside this pattern on purpose: they cannot collide.)
bool is_valid_client_id(std::string_view id);

}  // namespace sigil
