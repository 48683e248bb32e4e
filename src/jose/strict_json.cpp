#include "jose/strict_json.hpp"

#include <boost/json/basic_parser_impl.hpp>
#include <boost/json/parse.hpp>

#include <algorithm>
#include <string>
#include <vector>

namespace sigil::jose::internal {
namespace {

namespace json = boost::json;
using boost::system::error_code;

// A basic_parser handler that builds nothing and only records member names per object,
// failing the parse when an object repeats one.
class DuplicateKeyFinder {
 public:
  static constexpr std::size_t max_object_size = std::size_t(-1);
  static constexpr std::size_t max_array_size = std::size_t(-1);
  static constexpr std::size_t max_key_size = std::size_t(-1);
  static constexpr std::size_t max_string_size = std::size_t(-1);

  bool on_document_begin(error_code&) { return true; }
  bool on_document_end(error_code&) { return true; }
  bool on_object_begin(error_code&) {
    keys_.emplace_back();
    return true;
  }
  bool on_object_end(std::size_t, error_code& ec) {
    auto& keys = keys_.back();
    std::sort(keys.begin(), keys.end());
    bool duplicate = std::adjacent_find(keys.begin(), keys.end()) != keys.end();
    keys_.pop_back();
    if (duplicate) ec = json::error::syntax;
    return !duplicate;
  }
  bool on_array_begin(error_code&) { return true; }
  bool on_array_end(std::size_t, error_code&) { return true; }
  bool on_key_part(std::string_view s, std::size_t, error_code&) {
    key_.append(s);
    return true;
  }
  bool on_key(std::string_view s, std::size_t, error_code&) {
    key_.append(s);
    keys_.back().push_back(std::move(key_));
    key_.clear();
    return true;
  }
  bool on_string_part(std::string_view, std::size_t, error_code&) { return true; }
  bool on_string(std::string_view, std::size_t, error_code&) { return true; }
  bool on_number_part(std::string_view, error_code&) { return true; }
  bool on_int64(std::int64_t, std::string_view, error_code&) { return true; }
  bool on_uint64(std::uint64_t, std::string_view, error_code&) { return true; }
  bool on_double(double, std::string_view, error_code&) { return true; }
  bool on_bool(bool, error_code&) { return true; }
  bool on_null(error_code&) { return true; }
  bool on_comment_part(std::string_view, error_code&) { return true; }
  bool on_comment(std::string_view, error_code&) { return true; }

 private:
  std::vector<std::vector<std::string>> keys_;
  std::string key_;
};

}  // namespace

std::optional<json::value> parse_strict_json(std::string_view text) {
  try {
    json::parse_options options;  // strict defaults: no comments, no trailing commas, UTF-8
    options.max_depth = 32;
    json::basic_parser<DuplicateKeyFinder> finder(options);
    error_code ec;
    finder.write_some(false, text.data(), text.size(), ec);
    if (ec || !finder.done()) return std::nullopt;
    json::value value = json::parse(text, ec, json::storage_ptr(), options);
    if (ec) return std::nullopt;
    return value;
  } catch (...) {
    // Only allocation failure can get here; an unparseable token is refused either way.
    return std::nullopt;
  }
}

}  // namespace sigil::jose::internal
