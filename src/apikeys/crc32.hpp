// CRC-32 as zlib, PNG and Ethernet compute it (IEEE 802.3: reflected polynomial 0xEDB88320,
// initial value and final XOR 0xFFFFFFFF), for the API-key checksum. Table-driven; pure.
#pragma once

#include <cstdint>
#include <string_view>

namespace sigil::apikeys {

// crc32("123456789") == 0xCBF43926.
std::uint32_t crc32(std::string_view data);

}  // namespace sigil::apikeys
