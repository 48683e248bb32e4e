// Internal to audit: how a record is sealed into the chain and checked again.
//
// A record line is the event's JSON object with two members appended:
//   "prev": hex SHA-256 of the previous line (without its newline); 64 zeros for the first
//   "hash": hex SHA-256 of the line up to "hash", closed with "}", i.e. of the record
//           without its hash member
// so a line always ends with `,"hash":"<64 hex>"}` and the hashed text is recovered by
// cutting that suffix, byte for byte, with no re-serialisation.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "base/error.hpp"

namespace sigil::audit::internal {

inline constexpr std::string_view kGenesisPrev =
    "0000000000000000000000000000000000000000000000000000000000000000";

// Hex SHA-256 of `text`.
std::string hex_sha256(std::string_view text);

struct SealedRecord {
  std::string line;  // without newline
  std::string hash;  // hex, the value of its "hash" member
};

// Seals an object from to_json_line() (non-empty, ending with '}') after `prev_hex`.
SealedRecord seal(std::string_view json_object, std::string_view prev_hex);

struct OpenedRecord {
  std::uint64_t seq = 0;
  std::string prev;
  std::string hash;
};

// Checks one line on its own: its form, and that its hash matches its content.
// kInvalidArgument with a description of the problem when it does not.
Result<OpenedRecord> open_record(std::string_view line);

}  // namespace sigil::audit::internal
