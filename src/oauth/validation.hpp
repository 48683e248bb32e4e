// Syntax checks for the identifiers the token service accepts from outside: client ids,
// scope tokens, audiences and resource indicators. Pure functions, no allocation beyond
// their results.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/names.hpp"
#include "base/scope.hpp"

namespace sigil::oauth {

inline constexpr std::size_t kMaxAudienceBytes = 2048;

// Operator-chosen client ids, [a-z0-9][a-z0-9._-]{0,62}: sigil::is_valid_client_id
// (base/names.hpp), shared with the policy file's service and audience names.
using sigil::is_valid_client_id;

// RFC 6749 §3.3 scope tokens: sigil::is_valid_scope_token (base/scope.hpp).
using sigil::is_valid_scope_token;

// RFC 6749 §3.3: scope = scope-token *( SP scope-token ). Returns the tokens sorted and
// without duplicates, or nullopt when the text does not match the grammar (empty tokens
// from leading, trailing or doubled spaces included).
std::optional<std::vector<std::string>> parse_scope(std::string_view scope);

// An audience value: 1 to 2048 printable ASCII characters without spaces (%x21-7E),
// typically a URI or a service name.
bool is_valid_audience(std::string_view audience);

// RFC 8707 §2: "Its value MUST be an absolute URI, as specified by Section 4.3 of
// [RFC3986]. The URI MUST NOT include a fragment component."
bool is_valid_resource_indicator(std::string_view resource);

// Joins tokens with single spaces.
std::string join_scope(const std::vector<std::string>& scopes);

}  // namespace sigil::oauth
