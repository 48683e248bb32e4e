#include "oauth/validation.hpp"

#include <boost/url/parse.hpp>

#include <algorithm>

namespace sigil::oauth {

namespace {

bool is_visible_ascii(char c) {
  const auto u = static_cast<unsigned char>(c);
  return u >= 0x21 && u <= 0x7E;
}

}  // namespace

std::optional<std::vector<std::string>> parse_scope(std::string_view scope) {
  std::vector<std::string> tokens;
  std::size_t start = 0;
  while (true) {
    const std::size_t end = scope.find(' ', start);
    const std::string_view token =
        scope.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
    if (!is_valid_scope_token(token)) return std::nullopt;
    tokens.emplace_back(token);
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  std::sort(tokens.begin(), tokens.end());
  tokens.erase(std::unique(tokens.begin(), tokens.end()), tokens.end());
  return tokens;
}

bool is_valid_audience(std::string_view audience) {
  if (audience.empty() || audience.size() > kMaxAudienceBytes) return false;
  return std::all_of(audience.begin(), audience.end(), is_visible_ascii);
}

bool is_valid_resource_indicator(std::string_view resource) {
  if (!is_valid_audience(resource)) return false;
  // absolute-URI = scheme ":" hier-part [ "?" query ]: the grammar has no fragment.
  return boost::urls::parse_absolute_uri(resource).has_value();
}

std::string join_scope(const std::vector<std::string>& scopes) {
  std::string out;
  for (const auto& s : scopes) {
    if (!out.empty()) out += ' ';
    out += s;
  }
  return out;
}

}  // namespace sigil::oauth
