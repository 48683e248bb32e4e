// The `sigil` subcommands, one file per noun, and the pure pieces of each (how flags
// become a request, how an answer becomes a table) that the tests drive directly.
//
// Each add_*_commands() registers a noun and its verbs on the root app; a verb's callback
// runs the command and stores its exit status in Context::exit_code.
#pragma once

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "base/clock.hpp"
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

// The --tls-* flags: what a client's certificate carries (RFC 8705 §2.1.2, at most one of
// the three) and its self-signed certificates (PEM files, §2.2).
struct TlsClientArgs {
  std::string subject_dn;
  std::string san_uri;
  std::string san_dns;
  std::vector<std::string> cert_files;
};

// The RFC 8705 members of a client body: tls_client_auth_subject_dn / _san_uri / _san_dns
// as given, and tls_client_certificates_pem with the certificate of each file (the server
// registers their thumbprints); {} when nothing is given. kInvalidArgument for more than
// one of the subject DN and SANs, a value with control characters, a file that cannot be
// read, is over 64 KiB, holds no certificate or several, or holds a private key (which is
// never sent).
Result<boost::json::object> client_tls_body(const TlsClientArgs& args);

struct NewClientArgs {
  std::string name;
  std::string id;  // empty: the server generates one
  std::vector<std::string> scopes;
  std::vector<std::string> audiences;
  std::vector<std::string> attributes;  // KEY=VALUE
  std::vector<std::string> auth_methods;
  boost::json::object keys;  // from --jwks: client_keys_body(); empty: none
  TlsClientArgs tls;
};

// The POST /v1/clients body. kInvalidArgument for an empty name, a bad id, an empty scope
// or audience, a scope with white space, an unknown auth method, private_key_jwt without
// keys, tls_client_auth without a --tls-subject-dn/--tls-san-*, self_signed_tls_client_auth
// without --tls-cert, a bad --attr, or what client_tls_body() refuses.
Result<boost::json::object> new_client_body(const NewClientArgs& args);

// The client's public keys named by --jwks: {"jwks_uri": value} for an http(s) URL (the
// server checks it), else {"jwks": the JWKS object read from the file `value`}.
// kInvalidArgument when the file cannot be read, is over 64 KiB, is not a JWKS object
// ({"keys":[...]}) or holds a private key (d, p, q, dp, dq, qi, oth, k), which is never
// sent.
Result<boost::json::object> client_keys_body(const std::string& value);

// "/v1/clients/<id>" or "/v1/clients/<id>/<action>"; kInvalidArgument for a bad id.
Result<std::string> client_path(std::string_view id, std::string_view action = {});

// The POST /v1/clients/{id}/rotate-secret body: {} or {"overlap_seconds": n}.
boost::json::object rotate_secret_body(std::optional<std::int64_t> overlap_seconds);

std::string render_client_list(const boost::json::value& answer);
// label/value lines of a Client; `id_label` names the id line ("id" or "client_id").
std::string render_client(const boost::json::object& client, std::string_view id_label = "id");
// The client, then its secret (when it has one), for a CreatedClient answer.
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

// A private_key_jwt client assertion (RFC 7523 §2.2, §3) signed with a PEM private key:
// iss = sub = client_id, aud = token_endpoint, iat = now, exp = now + 60 s, a random jti.
// The algorithm is `alg` when given, else the key's own (ES256 for P-256, ES384 for
// P-384, EdDSA for Ed25519, RS256 for RSA); the header's kid is `kid` when given, else the
// key's RFC 7638 thumbprint (the kid the server gives a registered key without one).
// kInvalidArgument for text that is not an unencrypted PEM private key, an unknown
// algorithm or one that does not suit the key, an empty client id.
Result<std::string> client_assertion(std::string_view pem, std::string_view client_id,
                                     std::string_view token_endpoint, std::string_view alg,
                                     std::string_view kid, TimePoint now);

// The form parameters of private_key_jwt: client_assertion_type (jwt-bearer) and
// client_assertion, encoded, to append to a form body after '&'.
std::string client_assertion_params(std::string_view assertion);

// The POST /v1/tokens/revoke body: {"token"} or {"jti","expires_at"}; kInvalidArgument
// unless exactly one of the two forms is given.
Result<boost::json::object> revoke_body(const std::optional<std::string>& token,
                                        const std::optional<std::string>& jti,
                                        std::optional<std::int64_t> expires_at);

// Claims as "name: value" lines; exp, iat and nbf also as UTC times.
std::string render_claims(const boost::json::object& claims);

// ---- token exchange (RFC 8693) ----

// "jwt", "id_token", "access_token" (or their URNs, urn:ietf:params:oauth:token-type:...)
// to the URN; kInvalidArgument for anything else (`flag` names the flag in the message).
Result<std::string> token_type_urn(std::string_view name, std::string_view flag);

// A token as read from a file, a variable or stdin (`source` says which, for messages):
// surrounding white space removed; kInvalidArgument when empty, over 64 KiB, or holding
// white space or control characters inside. Messages never contain the token.
Result<std::string> clean_token(std::string_view text, std::string_view source);

struct ExchangeRequest {
  std::string subject_token;
  std::string subject_token_type = "jwt";  // as token_type_urn() takes it
  std::optional<std::string> actor_token;
  std::string actor_token_type;  // required with actor_token
  std::vector<std::string> audiences;
  std::vector<std::string> scopes;
  std::string requested_token_type;  // empty: not sent (the server issues an access token)
};

// The /oauth2/token form of RFC 8693 §2.1: grant_type token-exchange, subject_token and
// its type, actor_token and its type, one audience per audience, scopes joined by spaces,
// requested_token_type. kInvalidArgument for an empty token, an unknown type, an actor
// token without a type (or a type without a token), a bad scope or an empty audience.
Result<std::string> token_exchange_form(const ExchangeRequest& request);

// GitHub Actions' OIDC token request: ACTIONS_ID_TOKEN_REQUEST_URL with
// "audience=<audience>" appended to its query. kInvalidArgument for an empty audience or
// a URL that is not https (http only on loopback).
Result<std::string> github_id_token_url(std::string_view request_url, std::string_view audience);
// The token in GitHub's answer {"value": "<jwt>"}; kInvalidArgument when there is none.
Result<std::string> github_id_token_from_answer(std::string_view body);
// GETs the job's OIDC token with "Authorization: bearer <request_token>"
// (ACTIONS_ID_TOKEN_REQUEST_TOKEN). Errors: kInvalidArgument (bad URL or answer),
// kPermissionDenied (a 4xx answer: the job lacks `permissions: id-token: write`),
// kUnavailable (cannot connect, timeout, 5xx).
Result<std::string> fetch_github_id_token(std::string_view request_url,
                                          std::string_view request_token, std::string_view audience,
                                          std::chrono::milliseconds timeout);

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
