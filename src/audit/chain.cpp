#include "audit/chain.hpp"

#include <boost/json.hpp>

#include "base/hex.hpp"
#include "crypto/digest.hpp"

namespace sigil::audit::internal {
namespace {

constexpr std::string_view kHashPrefix = R"(,"hash":")";
constexpr std::size_t kHexDigest = 64;
constexpr std::size_t kSuffix = kHashPrefix.size() + kHexDigest + 2;  // + `"}`

bool is_lower_hex(std::string_view s) {
  if (s.size() != kHexDigest) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

Result<OpenedRecord> bad(std::string problem) {
  return std::unexpected(Error::invalid_argument(std::move(problem)));
}

}  // namespace

std::string hex_sha256(std::string_view text) {
  return hex_encode(crypto::sha256(text));
}

SealedRecord seal(std::string_view json_object, std::string_view prev_hex) {
  std::string body(json_object.substr(0, json_object.size() - 1));  // drop the closing '}'
  body += R"(,"prev":")";
  body += prev_hex;
  body += "\"}";
  SealedRecord record;
  record.hash = hex_sha256(body);
  body.pop_back();
  body += kHashPrefix;
  body += record.hash;
  body += "\"}";
  record.line = std::move(body);
  return record;
}

Result<OpenedRecord> open_record(std::string_view line) {
  if (line.size() <= kSuffix || !line.ends_with("\"}") ||
      line.substr(line.size() - kSuffix, kHashPrefix.size()) != kHashPrefix) {
    return bad("not an audit record (no \"hash\" member at its end)");
  }
  OpenedRecord record;
  record.hash = std::string(line.substr(line.size() - kHexDigest - 2, kHexDigest));
  if (!is_lower_hex(record.hash)) return bad("\"hash\" is not 64 lower-case hex digits");
  std::string body(line.substr(0, line.size() - kSuffix));
  body += '}';
  if (hex_sha256(body) != record.hash) return bad("\"hash\" does not match the record");

  boost::json::error_code ec;
  const boost::json::value value = boost::json::parse(body, ec);
  if (ec || !value.is_object()) return bad("not a JSON object");
  const boost::json::object& object = value.get_object();
  if (object.contains("hash")) return bad("more than one \"hash\" member");
  const boost::json::value* seq = object.if_contains("seq");
  if (seq == nullptr) return bad("no \"seq\"");
  if (seq->is_uint64()) {
    record.seq = seq->get_uint64();
  } else if (seq->is_int64() && seq->get_int64() > 0) {
    record.seq = static_cast<std::uint64_t>(seq->get_int64());
  } else {
    return bad("\"seq\" is not a positive integer");
  }
  const boost::json::value* prev = object.if_contains("prev");
  if (prev == nullptr || !prev->is_string() || !is_lower_hex(prev->get_string())) {
    return bad("\"prev\" is not 64 lower-case hex digits");
  }
  record.prev = std::string(prev->get_string());
  return record;
}

}  // namespace sigil::audit::internal
