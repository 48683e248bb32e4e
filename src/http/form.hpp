// Pure parsers for what OAuth endpoints receive: application/x-www-form-urlencoded
// bodies, the Authorization header (Basic, Bearer) and Content-Type checks. No I/O.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/error.hpp"
#include "base/secrets.hpp"

namespace sigil::http {

// A parsed form body: name/value pairs in body order (an ordered multimap).
//
// RFC 6749 §3.1: "Request and response parameters MUST NOT be included more than once."
// parse_form() keeps repeats so the caller decides; duplicates() names them.
class Form {
 public:
  using Param = std::pair<std::string, std::string>;

  explicit Form(std::vector<Param> params) : params_(std::move(params)) {}

  const std::vector<Param>& params() const { return params_; }
  // The first value of `name`, if present (an empty value is present).
  std::optional<std::string_view> get(std::string_view name) const;
  std::size_t count(std::string_view name) const;
  // Names that occur more than once, each listed once, in order of first occurrence.
  std::vector<std::string> duplicates() const;

 private:
  std::vector<Param> params_;
};

// Strict form-url-decoding of one name or value: '+' is a space, '%' must be followed by
// two hex digits. Fails (kInvalidArgument) on a bad escape, on NUL, or when the result is
// not valid UTF-8.
Result<std::string> form_url_decode(std::string_view text);

// Parses "a=1&b=2". Empty segments ("a=1&&b=2") are skipped; a segment without '=' is a
// name with an empty value; an empty name fails. Fails (kInvalidArgument) if any name or
// value fails form_url_decode().
Result<Form> parse_form(std::string_view body);

// True when the media type (before any ';') is `expected`, ignoring case and white space
// around it. Parameters are ignored.
bool media_type_is(std::string_view content_type, std::string_view expected);

// True for application/x-www-form-urlencoded in any case, with any parameters, provided a
// charset parameter, when present, says UTF-8 (or US-ASCII, a subset).
bool is_form_urlencoded(std::string_view content_type);

struct BasicCredentials {
  std::string client_id;
  SecretString client_secret;
};

// "Basic <base64(id:secret)>" (scheme case-insensitive). RFC 6749 §2.3.1: the client
// identifier and password are each form-url-encoded before being joined, so each part is
// decoded with form_url_decode(). Fails (kInvalidArgument) on another scheme, bad base64,
// no ':', a bad escape, or an empty client id.
Result<BasicCredentials> parse_basic_authorization(std::string_view header_value);

// "Bearer <token>" (scheme case-insensitive); the token must match RFC 6750 §2.1
// b64token: 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=".
// The result views `header_value`. Fails (kInvalidArgument) otherwise.
Result<std::string_view> parse_bearer_authorization(std::string_view header_value);
// The same for another token scheme: "DPoP <token>" (RFC 9449 §7.1).
Result<std::string_view> parse_token_authorization(std::string_view header_value,
                                                   std::string_view scheme);

// The scheme of an Authorization header value ("Basic", "Bearer", "DPoP", ...), or empty.
std::string_view authorization_scheme(std::string_view header_value);

}  // namespace sigil::http
