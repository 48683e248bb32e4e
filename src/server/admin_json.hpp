// Internal to server: the JSON plumbing the /v1 routes share: strict request bodies, typed
// members, answers and the mapping of Error codes to admin API errors.
#pragma once

#include <boost/json.hpp>

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.hpp"
#include "http/message.hpp"
#include "server/app.hpp"

namespace sigil::server {

inline constexpr std::string_view kAdminScope = "sigil:admin";

boost::json::array string_array(const std::vector<std::string>& values);

// An answer without an audit record of its own (the caller's event covers it).
Outcome respond(unsigned status, const boost::json::value& body);
Outcome fail(unsigned status, std::string_view code, std::string_view description);

// 400 invalid_request, 404 not_found, 409 already_exists / failed_precondition, ...; the
// message of a client error is shown, a server error is summarised.
Outcome from_error(const Error& e);

// The request body as a JSON object with only the named members (an empty body is {}).
// kInvalidArgument for another content type, bad JSON, a non-object, an unknown member.
Result<boost::json::object> json_body(const http::Request& request,
                                      std::initializer_list<std::string_view> allowed);

// Typed members; absent is empty/nullopt, the wrong type is kInvalidArgument.
Result<std::vector<std::string>> string_list(const boost::json::object& o, std::string_view name);
Result<std::optional<std::string>> optional_string(const boost::json::object& o,
                                                   std::string_view name);
Result<std::optional<std::int64_t>> optional_int(const boost::json::object& o,
                                                 std::string_view name);

// The x5t#S256 thumbprints (RFC 8705 §3.1) of the certificates in member `name`, a list of
// PEM texts of one certificate each; absent is empty. kInvalidArgument for another type,
// an entry that is not exactly one PEM certificate, or more than 16 entries.
Result<std::vector<std::string>> pem_certificate_thumbprints(const boost::json::object& o,
                                                             std::string_view name);

}  // namespace sigil::server
