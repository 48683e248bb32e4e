// The `sigil` subcommands, one file per noun, and the pure pieces of each (how flags
// become a request, how an answer becomes a table) that the tests drive directly.
//
// Each add_*_commands() registers a noun and its verbs on the root app; a verb's callback
// runs the command and stores its exit status in Context::exit_code.
#pragma once

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "base/error.hpp"
#include "policy/engine.hpp"

namespace CLI {
class App;
}

namespace sigil::cli {

class Context;

void add_server_commands(CLI::App& app, Context& context);  // init, serve
void add_client_commands(CLI::App& app, Context& context);
void add_keys_commands(CLI::App& app, Context& context);
void add_token_commands(CLI::App& app, Context& context);
void add_audit_commands(CLI::App& app, Context& context);
// API keys (`key`) and their key spaces (`keyspace`); pure pieces in cli/key_commands.hpp.
void add_key_commands(CLI::App& app, Context& context);
void add_keyspace_commands(CLI::App& app, Context& context);
// plan and apply (top level), and policy validate|show|history|rollback|explain|test|graph.
void add_policy_commands(CLI::App& app, Context& context);

// ---- init / serve ----

// The flags of `init` and `serve` that were given, under their setting names (config.hpp).
struct ServerFlags {
  std::optional<std::string> data, listen, issuer, signing_alg, token_lifetime,
      key_propagation_delay, tls_cert, tls_key, log_level, policy;
  std::map<std::string, std::string> to_map() const;
};

// ---- client ----

struct NewClientArgs {
  std::string name;
  std::string id;  // empty: the server generates one
  std::vector<std::string> scopes;
  std::vector<std::string> audiences;
  std::vector<std::string> attributes;  // KEY=VALUE
  std::vector<std::string> auth_methods;
};

// The POST /v1/clients body. kInvalidArgument for an empty name, a bad id, an empty scope
// or audience, a scope with white space, an unknown auth method, or a bad --attr.
Result<boost::json::object> new_client_body(const NewClientArgs& args);

// "/v1/clients/<id>" or "/v1/clients/<id>/<action>"; kInvalidArgument for a bad id.
Result<std::string> client_path(std::string_view id, std::string_view action = {});

// The POST /v1/clients/{id}/rotate-secret body: {} or {"overlap_seconds": n}.
boost::json::object rotate_secret_body(std::optional<std::int64_t> overlap_seconds);

std::string render_client_list(const boost::json::value& answer);
// label/value lines of a Client; `id_label` names the id line ("id" or "client_id").
std::string render_client(const boost::json::object& client, std::string_view id_label = "id");
// The client, then its secret, for a CreatedClient answer.
std::string render_created_client(const boost::json::object& answer);

// ---- keys ----

// The POST /v1/signing-keys/rotate body; kInvalidArgument for an unknown algorithm.
Result<boost::json::object> rotate_key_body(const std::optional<std::string>& alg);
std::string render_key_list(const boost::json::value& answer);
std::string render_key(const boost::json::object& key);

// ---- token ----

// The /oauth2/token form for client credentials: scopes joined by spaces, one resource
// per audience. kInvalidArgument for an empty or white-space-holding scope, an empty
// audience.
Result<std::string> token_request_form(const std::vector<std::string>& scopes,
                                       const std::vector<std::string>& audiences);

// The POST /v1/tokens/revoke body: {"token"} or {"jti","expires_at"}; kInvalidArgument
// unless exactly one of the two forms is given.
Result<boost::json::object> revoke_body(const std::optional<std::string>& token,
                                        const std::optional<std::string>& jti,
                                        std::optional<std::int64_t> expires_at);

// Claims as "name: value" lines; exp, iat and nbf also as UTC times.
std::string render_claims(const boost::json::object& claims);

// ---- policy ----

// sanitize() applied to each line, each ending in '\n' (for multi-line diagnostics).
std::string sanitize_lines(std::string_view text);

// A decision as /v1/authorize answers it: decision, caller, audience, rules, scopes and
// max_lifetime (allow) or reason and detail (deny), trace.
boost::json::object decision_json(const policy::Decision& decision, std::string_view caller);
// "name: value" lines of a decision, then its trace as a table.
std::string render_decision(const boost::json::object& answer);

// A plan answer: the version in force, one line per change ("+ service x", "~ grant y"
// with its details indented, "- audience z"), the client actions, and how to apply it
// (with `file`; nothing said when empty).
std::string render_plan(const boost::json::object& plan, std::string_view file);
// An apply or rollback answer: the plan, the new version, new clients' credentials.
std::string render_applied(const boost::json::object& applied);
std::string render_policy_history(const boost::json::value& answer);

}  // namespace sigil::cli
