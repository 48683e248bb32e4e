#include "cli/context.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <algorithm>
#include <cstdlib>
#include <ctime>
#include <iostream>

#include "base/base64url.hpp"

namespace sigil::cli {
namespace {

namespace json = boost::json;

// Long server texts are cut so that a failure stays one readable line.
constexpr std::size_t kMaxDescription = 300;

std::string env_or_empty(const char* name) {
  const char* value = std::getenv(name);
  return value == nullptr ? std::string() : std::string(value);
}

std::string string_member(const json::object& object, std::string_view key) {
  const json::value* v = object.if_contains(key);
  return (v != nullptr && v->is_string()) ? std::string(v->get_string()) : std::string();
}

std::string hint_for_status(unsigned status) {
  switch (status) {
    case 401:
      return "; check SIGIL_CLIENT_ID and SIGIL_CLIENT_SECRET (or SIGIL_TOKEN)";
    case 403:
      return "; the credentials lack the scope or audience this needs";
    default:
      return status >= 500 ? "; see the server's log" : "";
  }
}

Outcome<json::value> parse_json_answer(std::string_view body, std::string_view what) {
  boost::system::error_code ec;
  json::value value = json::parse(body, ec);
  if (ec) {
    return fail(kExitUnreachable, "cannot " + std::string(what) +
                                      ": the server's answer is not JSON; is SIGIL_ADDR "
                                      "the address of a sigil server?");
  }
  return value;
}

}  // namespace

Failure usage_failure(const Error& error) {
  return Failure{kExitUsage, error.message};
}

int exit_code_for_status(unsigned status) {
  if (status >= 200 && status < 300) return kExitOk;
  if (status >= 400 && status < 500) return kExitRefused;
  return kExitUnreachable;
}

Failure failure_for_answer(std::string_view what, unsigned status, std::string_view body) {
  std::string detail = "HTTP " + std::to_string(status);
  boost::system::error_code ec;
  json::value value = json::parse(body, ec);
  if (!ec && value.is_object()) {
    const std::string error = string_member(value.get_object(), "error");
    std::string description = string_member(value.get_object(), "error_description");
    if (description.size() > kMaxDescription) description.resize(kMaxDescription);
    if (!error.empty()) detail += " " + sanitize(error);
    if (!description.empty()) detail += ": " + sanitize(description);
  }
  int code = exit_code_for_status(status);
  if (code == kExitOk) code = kExitUnreachable;  // a 2xx is not a failure; callers never pass one
  return Failure{code,
                 "cannot " + std::string(what) + " (" + detail + ")" + hint_for_status(status)};
}

Failure failure_for_transport(const Error& error) {
  if (error.code == Code::kInvalidArgument) return Failure{kExitUsage, error.message};
  std::string message = error.message;
  if (error.code == Code::kUnavailable) {
    // A failed TLS handshake usually means a server certificate from a private CA.
    message += message.find("TLS handshake") != std::string::npos
                   ? "; if the server's certificate comes from a private CA, set SIGIL_CA_FILE"
                   : "; is `sigil serve` running? set SIGIL_ADDR";
  }
  return Failure{kExitUnreachable, std::move(message)};
}

Result<std::map<std::string, std::string>> parse_attributes(const std::vector<std::string>& items) {
  std::map<std::string, std::string> out;
  for (const auto& item : items) {
    const auto eq = item.find('=');
    if (eq == std::string::npos) {
      return std::unexpected(
          Error::invalid_argument("--attr '" + sanitize(item) + "': expected KEY=VALUE"));
    }
    std::string key = item.substr(0, eq);
    if (key.empty()) {
      return std::unexpected(
          Error::invalid_argument("--attr '" + sanitize(item) + "': the key is empty"));
    }
    if (!out.emplace(key, item.substr(eq + 1)).second) {
      return std::unexpected(
          Error::invalid_argument("--attr: the key '" + sanitize(key) + "' is given twice"));
    }
  }
  return out;
}

std::string form_encode(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '.' || c == '_' || c == '~') {
      out.push_back(ch);
    } else if (c == ' ') {
      out.push_back('+');
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0x0F]);
    }
  }
  return out;
}

std::string form_body(const std::vector<std::pair<std::string, std::string>>& params) {
  std::string out;
  for (const auto& [name, value] : params) {
    if (!out.empty()) out.push_back('&');
    out += form_encode(name);
    out.push_back('=');
    out += form_encode(value);
  }
  return out;
}

std::string basic_authorization(std::string_view client_id, std::string_view client_secret) {
  std::string joined = form_encode(client_id) + ":" + form_encode(client_secret);
  std::string header = "Basic " + base64_encode(joined);
  wipe(joined);
  return header;
}

std::string sanitize(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7F) c = '?';
  }
  return out;
}

std::string display(const json::value* value) {
  if (value == nullptr || value->is_null()) return "-";
  if (value->is_string()) return sanitize(value->get_string());
  if (value->is_array()) {
    std::string out;
    for (const auto& item : value->get_array()) {
      if (!out.empty()) out.push_back(',');
      out += display(&item);
    }
    return out;
  }
  if (value->is_object()) {
    std::string out;
    for (const auto& [key, item] : value->get_object()) {
      if (!out.empty()) out.push_back(',');
      out += sanitize(key) + "=" + display(&item);
    }
    return out;
  }
  return sanitize(json::serialize(*value));
}

std::string display_field(const json::object& object, std::string_view key) {
  return display(object.if_contains(key));
}

std::string render_table(const std::vector<std::string>& header,
                         const std::vector<std::vector<std::string>>& rows) {
  std::vector<std::size_t> widths(header.size(), 0);
  auto measure = [&](const std::vector<std::string>& row) {
    for (std::size_t i = 0; i < widths.size() && i < row.size(); ++i) {
      widths[i] = std::max(widths[i], row[i].size());
    }
  };
  measure(header);
  for (const auto& row : rows) measure(row);

  std::string out;
  auto emit = [&](const std::vector<std::string>& row) {
    std::string line;
    for (std::size_t i = 0; i < widths.size(); ++i) {
      const std::string cell = i < row.size() ? row[i] : std::string();
      line += cell;
      if (i + 1 < widths.size()) line.append(widths[i] - cell.size() + 2, ' ');
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line;
    out.push_back('\n');
  };
  emit(header);
  for (const auto& row : rows) emit(row);
  return out;
}

std::string render_fields(const std::vector<std::pair<std::string, std::string>>& fields) {
  std::string out;
  for (const auto& [name, value] : fields) out += name + ": " + value + "\n";
  return out;
}

std::string render_json(const json::value& value) {
  return json::serialize(value) + "\n";
}

std::string format_unix_time(std::int64_t seconds) {
  const std::time_t t = static_cast<std::time_t>(seconds);
  std::tm tm{};
  if (gmtime_r(&t, &tm) == nullptr) return std::to_string(seconds);
  char text[32];
  if (std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0) {
    return std::to_string(seconds);
  }
  return text;
}

Environment Environment::from_process() {
  Environment env;
  env.addr = env_or_empty("SIGIL_ADDR");
  env.client_id = env_or_empty("SIGIL_CLIENT_ID");
  env.client_secret = SecretString(env_or_empty("SIGIL_CLIENT_SECRET"));
  env.token = SecretString(env_or_empty("SIGIL_TOKEN"));
  env.ca_file = env_or_empty("SIGIL_CA_FILE");
  env.data = env_or_empty("SIGIL_DATA");
  return env;
}

Context::Context(Environment env)
    : addr(env.addr.empty() ? std::string(kDefaultAddr) : env.addr), env_(std::move(env)) {}

http::ClientOptions Context::http_options() const {
  http::ClientOptions options;
  options.ca_file = env_.ca_file;
  options.max_response_body_bytes = 1024 * 1024;
  return options;
}

std::string Context::url(std::string_view path) const {
  std::string base = addr;
  while (!base.empty() && base.back() == '/') base.pop_back();
  return base + std::string(path);
}

void Context::finish(const Outcome<void>& outcome) {
  if (outcome) {
    exit_code = kExitOk;
    return;
  }
  if (!outcome.error().message.empty()) {
    std::cerr << "sigil: " << outcome.error().message << std::endl;
  }
  exit_code = outcome.error().exit_code;
}

Outcome<ClientCredentials> Context::environment_credentials() const {
  if (env_.client_id.empty() || env_.client_secret.empty()) {
    return fail(kExitUsage,
                "no client credentials: set SIGIL_CLIENT_ID and SIGIL_CLIENT_SECRET (`sigil init` "
                "printed the admin client's)");
  }
  return ClientCredentials{env_.client_id, SecretString(env_.client_secret.reveal())};
}

Outcome<json::value> Context::send(std::string_view method, const std::string& url,
                                   const Headers& headers, std::string_view body,
                                   std::string_view what) {
  auto answer = http::request(method, url, headers, body, http_options());
  if (!answer) {
    Error error = std::move(answer.error());
    if (error.code == Code::kUnavailable) {
      error.message = "cannot reach " + sanitize(addr) + " (" + error.message + ")";
    }
    Failure failure = failure_for_transport(error);
    if (failure.exit_code == kExitUsage) {
      failure.message = "cannot " + std::string(what) + ": " + failure.message + " (" +
                        sanitize(url.substr(0, url.find('?'))) + ")";
    }
    return std::unexpected(std::move(failure));
  }
  if (exit_code_for_status(answer->status) != kExitOk) {
    return std::unexpected(failure_for_answer(what, answer->status, answer->body));
  }
  return parse_json_answer(answer->body, what);
}

Outcome<json::value> Context::get_json(std::string_view absolute_url, std::string_view what) {
  return send("GET", std::string(absolute_url), {{"Accept", "application/json"}}, "", what);
}

Outcome<json::object> Context::metadata() {
  if (metadata_) return *metadata_;
  auto value = get_json(url("/.well-known/oauth-authorization-server"), "read the server metadata");
  if (!value) return std::unexpected(value.error());
  if (!value->is_object() || string_member(value->get_object(), "issuer").empty()) {
    return fail(kExitUnreachable,
                "the server metadata has no issuer; is SIGIL_ADDR the address "
                "of a sigil server?");
  }
  metadata_ = std::move(value->get_object());
  return *metadata_;
}

Outcome<void> Context::ensure_admin_token() {
  if (admin_token_) return {};
  if (!env_.token.empty()) {
    admin_token_.emplace(env_.token.reveal());
    return {};
  }
  if (env_.client_id.empty() || env_.client_secret.empty()) {
    return fail(kExitUsage,
                "no admin credentials: set SIGIL_CLIENT_ID and SIGIL_CLIENT_SECRET (`sigil init` "
                "printed them) or SIGIL_TOKEN");
  }
  auto meta = metadata();
  if (!meta) return std::unexpected(meta.error());
  const std::string issuer = string_member(*meta, "issuer");
  const std::string form = form_body({{"grant_type", "client_credentials"},
                                      {"scope", std::string(kAdminScope)},
                                      {"resource", issuer}});
  ClientCredentials credentials{env_.client_id, SecretString(env_.client_secret.reveal())};
  auto answer = post_form("/oauth2/token", credentials, form, "get an admin token");
  if (!answer) return std::unexpected(answer.error());
  const json::value* token =
      answer->is_object() ? answer->get_object().if_contains("access_token") : nullptr;
  if (token == nullptr || !token->is_string() || token->get_string().empty()) {
    return fail(kExitUnreachable, "cannot get an admin token: the answer has no access_token");
  }
  admin_token_.emplace(std::string(token->get_string()));
  return {};
}

Outcome<json::value> Context::admin_call(std::string_view method, std::string_view path,
                                         const std::optional<json::object>& body,
                                         std::string_view what) {
  if (auto ok = ensure_admin_token(); !ok) return std::unexpected(ok.error());
  std::string authorization = "Bearer " + admin_token_->reveal();
  Headers headers{{"Authorization", authorization}, {"Accept", "application/json"}};
  wipe(authorization);
  std::string text;
  if (body) {
    headers.emplace_back("Content-Type", "application/json");
    text = json::serialize(*body);
  }
  auto result = send(method, url(path), headers, text, what);
  wipe(headers.front().second);
  return result;
}

Outcome<json::value> Context::post_form(std::string_view path, const ClientCredentials& credentials,
                                        const std::string& form, std::string_view what) {
  Headers headers{{"Authorization",
                   basic_authorization(credentials.client_id, credentials.client_secret.reveal())},
                  {"Content-Type", "application/x-www-form-urlencoded"},
                  {"Accept", "application/json"}};
  auto result = send("POST", url(path), headers, form, what);
  wipe(headers.front().second);
  return result;
}

Outcome<json::value> Context::post_anonymous_form(std::string_view path, const std::string& form,
                                                  std::string_view what) {
  const Headers headers{{"Content-Type", "application/x-www-form-urlencoded"},
                        {"Accept", "application/json"}};
  return send("POST", url(path), headers, form, what);
}

}  // namespace sigil::cli
