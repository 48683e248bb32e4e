// Lower-case hexadecimal, for digests in storage and logs.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace sigil {

std::string hex_encode(std::string_view bytes);
std::optional<std::string> hex_decode(std::string_view text);

}  // namespace sigil
