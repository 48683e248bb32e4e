// Text for sigil's JSON log lines (serve.cpp's spdlog pattern puts each message inside a
// JSON string): quotes and backslashes escaped, control characters dropped, so that a
// value from outside (a URL, an error from a remote server) cannot break or forge a line.
#pragma once

#include <string>
#include <string_view>

namespace sigil::server {

inline std::string json_safe(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    if (c == '"' || c == '\\') out += '\\';
    if (static_cast<unsigned char>(c) < 0x20) continue;
    out += c;
  }
  return out;
}

}  // namespace sigil::server
