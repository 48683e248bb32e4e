// Message digests. Raw bytes in, raw bytes out.
#pragma once

#include <string>
#include <string_view>

namespace sigil::crypto {

// SHA-256 of data: 32 raw bytes.
std::string sha256(std::string_view data);

}  // namespace sigil::crypto
