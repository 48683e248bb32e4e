#include "server/admin_json.hpp"

#include <algorithm>

#include "http/form.hpp"
#include "oauth/binding.hpp"
#include "oauth/client_registry.hpp"
#include "pki/certificate.hpp"

namespace sigil::server {

namespace json = boost::json;

namespace {

unsigned status_for(Code code);
std::string_view error_for(Code code);

}  // namespace

json::array string_array(const std::vector<std::string>& values) {
  json::array out;
  for (const auto& v : values) out.emplace_back(v);
  return out;
}

Result<std::vector<std::string>> pem_certificate_thumbprints(const json::object& o,
                                                             std::string_view name) {
  SIGIL_TRY(pems, string_list(o, name));
  // More could never be registered; refused before any is parsed.
  if (pems.size() > oauth::kMaxClientCertificates) {
    return std::unexpected(Error::invalid_argument(std::string(name) + " holds more than " +
                                                   std::to_string(oauth::kMaxClientCertificates) +
                                                   " certificates"));
  }
  std::vector<std::string> thumbprints;
  for (const auto& pem : pems) {
    auto certificates = pki::Certificate::chain_from_pem(pem);
    if (!certificates || certificates->size() != 1) {
      return std::unexpected(Error::invalid_argument(
          std::string(name) +
          ": each entry must be one PEM certificate (-----BEGIN CERTIFICATE-----)"));
    }
    thumbprints.push_back(oauth::certificate_thumbprint(certificates->front().der()));
  }
  return thumbprints;
}

Outcome respond(unsigned status, const json::value& body) {
  return {http::Response::json(status, json::serialize(body)), std::nullopt};
}

Outcome fail(unsigned status, std::string_view code, std::string_view description) {
  return {http::Response::error(status, code, description), std::nullopt};
}

Outcome from_error(const Error& e) {
  const unsigned status = status_for(e.code);
  return fail(status, error_for(e.code),
              status >= 500 ? "the server failed; see its log" : e.message);
}

// The request body as a JSON object with only the named members. An empty body is {}.
Result<json::object> json_body(const http::Request& request,
                               std::initializer_list<std::string_view> allowed) {
  if (request.body.empty()) return json::object{};
  const auto type = request.header("Content-Type");
  if (!type || !http::media_type_is(*type, "application/json")) {
    return std::unexpected(Error::invalid_argument("the body must be application/json"));
  }
  std::error_code ec;
  json::value v = json::parse(request.body, ec);
  if (ec)
    return std::unexpected(Error::invalid_argument("the body is not valid JSON: " + ec.message()));
  if (!v.is_object())
    return std::unexpected(Error::invalid_argument("the body must be a JSON object"));
  for (const auto& member : v.as_object()) {
    if (std::find(allowed.begin(), allowed.end(), std::string_view(member.key())) ==
        allowed.end()) {
      return std::unexpected(
          Error::invalid_argument("unknown member '" + std::string(member.key()) + "'"));
    }
  }
  return std::move(v.as_object());
}

Result<std::vector<std::string>> string_list(const json::object& o, std::string_view name) {
  std::vector<std::string> out;
  const json::value* v = o.if_contains(name);
  if (v == nullptr) return out;
  if (!v->is_array())
    return std::unexpected(
        Error::invalid_argument(std::string(name) + " must be an array of strings"));
  for (const auto& item : v->as_array()) {
    if (!item.is_string()) {
      return std::unexpected(
          Error::invalid_argument(std::string(name) + " must be an array of strings"));
    }
    out.emplace_back(item.as_string());
  }
  return out;
}

Result<std::optional<std::string>> optional_string(const json::object& o, std::string_view name) {
  const json::value* v = o.if_contains(name);
  if (v == nullptr) return std::optional<std::string>{};
  if (!v->is_string())
    return std::unexpected(Error::invalid_argument(std::string(name) + " must be a string"));
  return std::optional<std::string>(std::string(v->as_string()));
}

Result<std::optional<std::int64_t>> optional_int(const json::object& o, std::string_view name) {
  const json::value* v = o.if_contains(name);
  if (v == nullptr) return std::optional<std::int64_t>{};
  if (v->is_int64()) return std::optional<std::int64_t>(v->as_int64());
  if (v->is_uint64() && v->as_uint64() <= static_cast<std::uint64_t>(INT64_MAX)) {
    return std::optional<std::int64_t>(static_cast<std::int64_t>(v->as_uint64()));
  }
  return std::unexpected(Error::invalid_argument(std::string(name) + " must be a whole number"));
}

namespace {

unsigned status_for(Code code) {
  switch (code) {
    case Code::kInvalidArgument:
      return 400;
    case Code::kNotFound:
      return 404;
    case Code::kAlreadyExists:
      return 409;
    case Code::kPermissionDenied:
      return 403;
    case Code::kUnauthenticated:
      return 401;
    case Code::kFailedPrecondition:
      return 409;
    case Code::kResourceExhausted:
      return 429;
    case Code::kUnavailable:
      return 503;
    case Code::kInternal:
      return 500;
  }
  return 500;
}

std::string_view error_for(Code code) {
  switch (code) {
    case Code::kInvalidArgument:
      return "invalid_request";
    case Code::kNotFound:
      return "not_found";
    case Code::kAlreadyExists:
      return "already_exists";
    case Code::kFailedPrecondition:
      return "failed_precondition";
    default:
      return "server_error";
  }
}

// Errors from the use cases: the message is ours and safe to show for client errors;
// internal ones are summarised.
}  // namespace

}  // namespace sigil::server
