// What every `sigil` client command shares: exit statuses, the one-line failure report,
// the admin session (server address, credentials, admin token), output modes and the
// table rendering. Commands talk to the server only through Context.
//
// Exit statuses (DESIGN.md, "Conventions for users and scripts"):
//   0 success; 1 refused or invalid (a 4xx answer, a token that does not verify);
//   2 usage (command line, flag values, missing local settings);
//   3 cannot reach or talk to the server (refused connection, timeout, 5xx, not JSON).
#pragma once

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include <expected>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/error.hpp"
#include "base/names.hpp"
#include "base/secrets.hpp"
#include "http/client.hpp"

namespace sigil::cli {

using Headers = http::HeaderList;

inline constexpr int kExitOk = 0;
inline constexpr int kExitRefused = 1;
inline constexpr int kExitUsage = 2;
inline constexpr int kExitUnreachable = 3;

inline constexpr std::string_view kDefaultAddr = "http://127.0.0.1:8420";
inline constexpr std::string_view kAdminScope = "sigil:admin";

// Why a command stopped: its exit status and one line for stderr saying what went wrong
// and what to do about it (empty when the command's output already says it, as for a token
// that does not verify). Never holds a secret or a token.
struct Failure {
  int exit_code = kExitRefused;
  std::string message;
};

template <typename T>
using Outcome = std::expected<T, Failure>;

inline std::unexpected<Failure> fail(int exit_code, std::string message) {
  return std::unexpected(Failure{exit_code, std::move(message)});
}

// A local validation error (kInvalidArgument from a parser) as a usage failure.
Failure usage_failure(const Error& error);

// 2xx -> 0; 4xx -> 1; anything else (5xx, and 1xx/3xx, which the API never sends) -> 3.
int exit_code_for_status(unsigned status);

// The failure for a non-2xx answer to `what` ("create the client"), using the body's
// OAuth/admin `error` and `error_description` when it has them, with a hint for 401/403.
Failure failure_for_answer(std::string_view what, unsigned status, std::string_view body);

// The failure for an http::request() error: kInvalidArgument is a usage error (a bad
// SIGIL_ADDR, --addr, --jwks or SIGIL_CA_FILE); everything else is exit 3.
Failure failure_for_transport(const Error& error);

// "--attr k=v" values to a map. kInvalidArgument for a missing '=', an empty key, or a
// key given twice. The value may be empty and may contain '='.
Result<std::map<std::string, std::string>> parse_attributes(const std::vector<std::string>& items);

// application/x-www-form-urlencoded (RFC 6749 Appendix B): unreserved characters as they
// are, space as '+', every other byte %XX.
std::string form_encode(std::string_view text);
std::string form_body(const std::vector<std::pair<std::string, std::string>>& params);

// "Basic base64(form_encode(id) ':' form_encode(secret))" (RFC 6749 §2.3.1).
std::string basic_authorization(std::string_view client_id, std::string_view client_secret);

// The admin API's client id syntax (base/names.hpp), checked before an id is put into a
// URL path.
using sigil::is_valid_client_id;

// ---- Output ----

enum class OutputMode { kTable, kJson };

// Control characters (C0, DEL) replaced by '?', so that server data cannot drive the
// terminal.
std::string sanitize(std::string_view text);

// A JSON value for a table cell: strings as they are, arrays joined with ",", objects as
// k=v joined with ",", numbers and booleans as JSON, null or absent as "-". Sanitized.
std::string display(const boost::json::value* value);
std::string display_field(const boost::json::object& object, std::string_view key);

// Columns padded to their widest cell, two spaces apart, no trailing blanks; one line per
// row after the header line. Rows shorter than the header get empty cells.
std::string render_table(const std::vector<std::string>& header,
                         const std::vector<std::vector<std::string>>& rows);

// "name: value" lines.
std::string render_fields(const std::vector<std::pair<std::string, std::string>>& fields);

// JSON text with a final newline.
std::string render_json(const boost::json::value& value);

// Whole seconds since the epoch as "2024-05-01T12:00:00Z".
std::string format_unix_time(std::int64_t seconds);

// ---- The session ----

// The SIGIL_* variables the client commands read.
struct Environment {
  std::string addr;            // SIGIL_ADDR
  std::string client_id;       // SIGIL_CLIENT_ID
  SecretString client_secret;  // SIGIL_CLIENT_SECRET
  SecretString token;          // SIGIL_TOKEN: a ready admin token
  std::string ca_file;         // SIGIL_CA_FILE
  std::string data;            // SIGIL_DATA

  static Environment from_process();
};

// A client's credentials for client_secret_basic.
struct ClientCredentials {
  std::string client_id;
  SecretString client_secret;
};

// One per process, used from one thread. Caches the server metadata and the admin token.
class Context {
 public:
  explicit Context(Environment env);

  // Bound to the global flags.
  std::string addr;              // --addr, from SIGIL_ADDR or kDefaultAddr
  std::string output = "table";  // --output table|json
  // What main() returns; set by a command through finish().
  int exit_code = kExitOk;

  OutputMode output_mode() const {
    return output == "json" ? OutputMode::kJson : OutputMode::kTable;
  }
  const Environment& env() const { return env_; }
  http::ClientOptions http_options() const;

  // addr (without a trailing '/') + path.
  std::string url(std::string_view path) const;

  // Reports a failure on stderr ("sigil: ...") and records its exit status.
  void finish(const Outcome<void>& outcome);

  // The credentials in SIGIL_CLIENT_ID / SIGIL_CLIENT_SECRET; a usage failure naming the
  // variables when either is missing.
  Outcome<ClientCredentials> environment_credentials() const;

  // GET of a JSON document at an absolute URL, without credentials.
  Outcome<boost::json::value> get_json(std::string_view absolute_url, std::string_view what);

  // The server's RFC 8414 metadata (fetched once); the issuer must be a string.
  Outcome<boost::json::object> metadata();

  // An admin API call with the admin token: SIGIL_TOKEN, or one got once from
  // /oauth2/token for SIGIL_CLIENT_ID with scope sigil:admin and resource = the issuer.
  // `body` is sent as JSON when given. The 2xx
  // answer must be JSON.
  Outcome<boost::json::value> admin_call(std::string_view method, std::string_view path,
                                         const std::optional<boost::json::object>& body,
                                         std::string_view what);

  // A form POST to the server with client_secret_basic; the 2xx answer must be JSON.
  Outcome<boost::json::value> post_form(std::string_view path, const ClientCredentials& credentials,
                                        const std::string& form, std::string_view what);
  // A form POST without client authentication (a grant whose assertion is the only
  // credential, e.g. token exchange from a CI job); the 2xx answer must be JSON.
  Outcome<boost::json::value> post_anonymous_form(std::string_view path, const std::string& form,
                                                  std::string_view what);

 private:
  Outcome<boost::json::value> send(std::string_view method, const std::string& url,
                                   const Headers& headers, std::string_view body,
                                   std::string_view what);
  Outcome<void> ensure_admin_token();

  Environment env_;
  std::optional<boost::json::object> metadata_;
  std::optional<SecretString> admin_token_;
};

}  // namespace sigil::cli
