// sigil token get|verify|revoke|introspect.
#include <CLI/CLI.hpp>

#include <boost/json/serialize.hpp>

#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>

#include "base/clock.hpp"
#include "cli/commands.hpp"
#include "cli/context.hpp"
#include "jose/jwt.hpp"

namespace sigil::cli {
namespace {

namespace json = boost::json;

constexpr std::size_t kMaxTokenBytes = 64 * 1024;
constexpr std::size_t kMaxJwksFileBytes = 1024 * 1024;
constexpr jose::Algorithm kAllAlgorithms[] = {jose::Algorithm::kES256, jose::Algorithm::kES384,
                                              jose::Algorithm::kEdDSA, jose::Algorithm::kRS256,
                                              jose::Algorithm::kPS256};

std::string trim(std::string s) {
  const auto first = s.find_first_not_of(" \t\r\n");
  if (first == std::string::npos) return {};
  const auto last = s.find_last_not_of(" \t\r\n");
  return s.substr(first, last - first + 1);
}

// A token or secret given as "-" is read from stdin, so that it stays out of the process
// list and the shell history.
Outcome<std::string> value_or_stdin(const std::string& value, std::string_view what) {
  if (value != "-") return value;
  std::string text;
  text.resize(kMaxTokenBytes + 1);
  std::cin.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<std::size_t>(std::cin.gcount()));
  if (text.size() > kMaxTokenBytes) {
    return fail(kExitUsage, std::string(what) + " on stdin is over 64 KiB");
  }
  text = trim(std::move(text));
  if (text.empty()) return fail(kExitUsage, std::string(what) + ": stdin is empty");
  return text;
}

Outcome<ClientCredentials> credentials_from(Context& context, const std::string& id_flag,
                                            const std::string& secret_flag) {
  if (id_flag.empty() != secret_flag.empty()) {
    return fail(kExitUsage, "--client-id and --client-secret go together");
  }
  if (id_flag.empty()) return context.environment_credentials();
  auto secret = value_or_stdin(secret_flag, "--client-secret");
  if (!secret) return std::unexpected(secret.error());
  ClientCredentials credentials{id_flag, SecretString(std::move(*secret))};
  return credentials;
}

struct GetArgs {
  std::vector<std::string> scopes;
  std::vector<std::string> audiences;
  std::string client_id;
  std::string client_secret;
};

Outcome<void> run_get(Context& context, GetArgs& args) {
  auto form = token_request_form(args.scopes, args.audiences);
  if (!form) return std::unexpected(usage_failure(form.error()));
  auto credentials = credentials_from(context, args.client_id, args.client_secret);
  wipe(args.client_secret);
  if (!credentials) return std::unexpected(credentials.error());
  auto answer = context.post_form("/oauth2/token", *credentials, *form, "get a token");
  if (!answer) return std::unexpected(answer.error());
  if (context.output_mode() == OutputMode::kJson) {
    std::cout << render_json(*answer);
    return {};
  }
  const json::value* token =
      answer->is_object() ? answer->get_object().if_contains("access_token") : nullptr;
  if (token == nullptr || !token->is_string()) {
    return fail(kExitUnreachable, "the token endpoint's answer has no access_token");
  }
  std::cout << std::string_view(token->get_string()) << "\n";
  return {};
}

struct VerifyArgs {
  std::string token;
  std::string jwks;
  std::string issuer;
  std::string audience;
  std::vector<std::string> algorithms;
};

// The key set named by --jwks (a URL or a file), or the server's jwks_uri. Sets `issuer`
// from the server's metadata when the key set comes from there and none was given.
Outcome<jose::JwkSet> load_jwks(Context& context, const std::string& source, std::string& issuer) {
  std::string text;
  int bad_keys_exit = kExitUsage;
  if (source.empty()) {
    auto meta = context.metadata();
    if (!meta) return std::unexpected(meta.error());
    const json::value* uri = meta->if_contains("jwks_uri");
    if (uri == nullptr || !uri->is_string()) {
      return fail(kExitUnreachable, "the server metadata has no jwks_uri; give --jwks");
    }
    if (issuer.empty()) issuer = std::string(meta->at("issuer").get_string());
    auto keys = context.get_json(uri->get_string(), "fetch the server's JWKS");
    if (!keys) return std::unexpected(keys.error());
    text = json::serialize(*keys);
    bad_keys_exit = kExitUnreachable;
  } else if (source.starts_with("http://") || source.starts_with("https://")) {
    auto keys = context.get_json(source, "fetch the JWKS");
    if (!keys) return std::unexpected(keys.error());
    text = json::serialize(*keys);
    bad_keys_exit = kExitUnreachable;
  } else {
    std::ifstream file(source, std::ios::binary);
    if (!file) return fail(kExitUsage, "--jwks " + sanitize(source) + ": cannot be read");
    text.assign(std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>());
    if (text.size() > kMaxJwksFileBytes) {
      return fail(kExitUsage, "--jwks " + sanitize(source) + ": over 1 MiB");
    }
  }
  auto keys = jose::JwkSet::parse(text);
  if (!keys) {
    return fail(bad_keys_exit, "the JWKS is not usable: " + sanitize(keys.error().message));
  }
  return std::move(*keys);
}

Outcome<void> run_verify(Context& context, const VerifyArgs& args) {
  auto token = value_or_stdin(args.token, "the token");
  if (!token) return std::unexpected(token.error());

  jose::Expectations want;
  want.typ = "at+jwt";
  if (args.algorithms.empty()) {
    want.algorithms.assign(std::begin(kAllAlgorithms), std::end(kAllAlgorithms));
  }
  for (const auto& name : args.algorithms) {
    auto alg = jose::algorithm_from_string(name);
    if (!alg) {
      return fail(kExitUsage,
                  "--alg '" + sanitize(name) + "': expected one of ES256 ES384 EdDSA RS256 PS256");
    }
    want.algorithms.push_back(*alg);
  }
  std::string issuer = args.issuer;
  auto keys = load_jwks(context, args.jwks, issuer);
  if (!keys) return std::unexpected(keys.error());
  if (!issuer.empty()) want.issuer = issuer;
  if (!args.audience.empty()) want.audience = args.audience;

  auto jwt = jose::verify_jwt(*token, *keys, want, SystemClock().now());
  const bool json_mode = context.output_mode() == OutputMode::kJson;
  if (!jwt) {
    const std::string reason(jose::to_string(jwt.error().reason));
    if (json_mode) {
      json::object out{{"valid", false}, {"reason", reason}, {"detail", jwt.error().detail}};
      std::cout << render_json(out);
    } else {
      const std::string& detail = jwt.error().detail;
      std::cout << "invalid: " << reason
                << (detail.empty() || detail == reason ? "" : " (" + sanitize(detail) + ")")
                << "\n";
    }
    return fail(kExitRefused, "");  // the result is on stdout
  }
  if (json_mode) {
    json::object out{{"valid", true}, {"header", jwt->header()}, {"claims", jwt->claims()}};
    std::cout << render_json(out);
  } else {
    std::cout << render_claims(jwt->claims());
  }
  return {};
}

struct RevokeArgs {
  std::string token;
  std::string jti;
  std::int64_t expires_at = 0;
  CLI::Option* token_option = nullptr;
  CLI::Option* jti_option = nullptr;
  CLI::Option* expires_option = nullptr;
};

Outcome<void> run_revoke(Context& context, const RevokeArgs& args) {
  std::optional<std::string> token;
  if (args.token_option->count() > 0) {
    auto value = value_or_stdin(args.token, "the token");
    if (!value) return std::unexpected(value.error());
    token = std::move(*value);
  }
  std::optional<std::string> jti;
  if (args.jti_option->count() > 0) jti = args.jti;
  std::optional<std::int64_t> expires_at;
  if (args.expires_option->count() > 0) expires_at = args.expires_at;
  auto body = revoke_body(token, jti, expires_at);
  if (!body) return std::unexpected(usage_failure(body.error()));
  auto answer = context.admin_call("POST", "/v1/tokens/revoke", *body, "revoke the token");
  if (!answer) return std::unexpected(answer.error());
  if (context.output_mode() == OutputMode::kJson) {
    std::cout << render_json(*answer);
  } else if (answer->is_object()) {
    std::cout << render_fields({{"revoked", display_field(answer->get_object(), "revoked")},
                                {"jti", display_field(answer->get_object(), "jti")}});
  }
  return {};
}

Outcome<void> run_introspect(Context& context, const std::string& token_arg) {
  auto token = value_or_stdin(token_arg, "the token");
  if (!token) return std::unexpected(token.error());
  auto credentials = context.environment_credentials();
  if (!credentials) return std::unexpected(credentials.error());
  const std::string form = form_body({{"token", *token}, {"token_type_hint", "access_token"}});
  auto answer = context.post_form("/oauth2/introspect", *credentials, form, "introspect the token");
  if (!answer) return std::unexpected(answer.error());
  if (!answer->is_object()) {
    return fail(kExitUnreachable, "the introspection answer is not a JSON object");
  }
  std::cout << (context.output_mode() == OutputMode::kJson ? render_json(*answer)
                                                           : render_claims(answer->get_object()));
  const json::value* active = answer->get_object().if_contains("active");
  if (active == nullptr || !active->is_bool() || !active->get_bool()) {
    return fail(kExitRefused, "");  // the result is on stdout
  }
  return {};
}

}  // namespace

Result<std::string> token_request_form(const std::vector<std::string>& scopes,
                                       const std::vector<std::string>& audiences) {
  std::vector<std::pair<std::string, std::string>> params{{"grant_type", "client_credentials"}};
  std::string scope;
  for (const auto& s : scopes) {
    if (s.empty() || s.find_first_of(" \t\r\n") != std::string::npos) {
      return std::unexpected(Error::invalid_argument(
          "--scope '" + sanitize(s) + "': a scope is one non-empty word; repeat --scope"));
    }
    if (!scope.empty()) scope.push_back(' ');
    scope += s;
  }
  if (!scope.empty()) params.emplace_back("scope", scope);
  for (const auto& audience : audiences) {
    if (audience.empty()) return std::unexpected(Error::invalid_argument("--audience is empty"));
    params.emplace_back("resource", audience);
  }
  return form_body(params);
}

Result<json::object> revoke_body(const std::optional<std::string>& token,
                                 const std::optional<std::string>& jti,
                                 std::optional<std::int64_t> expires_at) {
  json::object body;
  if (token) {
    if (jti || expires_at) {
      return std::unexpected(
          Error::invalid_argument("give either TOKEN or --jti with --expires-at, not both"));
    }
    if (token->empty()) return std::unexpected(Error::invalid_argument("the token is empty"));
    body["token"] = *token;
    return body;
  }
  if (!jti || !expires_at) {
    return std::unexpected(
        Error::invalid_argument("give TOKEN, or --jti JTI with --expires-at UNIX_SECONDS"));
  }
  if (jti->empty()) return std::unexpected(Error::invalid_argument("--jti is empty"));
  if (*expires_at <= 0) {
    return std::unexpected(Error::invalid_argument("--expires-at: expected Unix seconds"));
  }
  body["jti"] = *jti;
  body["expires_at"] = *expires_at;
  return body;
}

std::string render_claims(const json::object& claims) {
  std::vector<std::pair<std::string, std::string>> fields;
  for (const auto& [name, value] : claims) {
    std::string text = display(&value);
    if ((name == "exp" || name == "iat" || name == "nbf") && value.is_int64()) {
      text += " (" + format_unix_time(value.get_int64()) + ")";
    }
    fields.emplace_back(sanitize(name), std::move(text));
  }
  return render_fields(fields);
}

void add_token_commands(CLI::App& app, Context& context) {
  CLI::App* token = app.add_subcommand("token", "Access tokens: get, verify, revoke, introspect");
  token->require_subcommand(1);

  auto get = std::make_shared<GetArgs>();
  CLI::App* get_cmd = token->add_subcommand(
      "get", "Get an access token (client credentials); prints only the token");
  get_cmd->add_option("--scope", get->scopes, "A scope to request (repeatable)")
      ->expected(1)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  get_cmd
      ->add_option("--audience", get->audiences, "An audience (resource) to request (repeatable)")
      ->expected(1)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  get_cmd->add_option("--client-id", get->client_id, "The client (default: SIGIL_CLIENT_ID)");
  get_cmd->add_option("--client-secret", get->client_secret,
                      "Its secret, or - to read it from stdin (default: SIGIL_CLIENT_SECRET)");
  get_cmd->callback([&context, get] { context.finish(run_get(context, *get)); });

  auto verify = std::make_shared<VerifyArgs>();
  CLI::App* verify_cmd = token->add_subcommand(
      "verify", "Verify an access token locally; exit 0 when valid, 1 when not");
  verify_cmd->add_option("token", verify->token, "The token, or - to read it from stdin")
      ->required();
  verify_cmd->add_option("--jwks", verify->jwks,
                         "A JWKS URL or file (default: the server's jwks_uri)");
  verify_cmd->add_option("--issuer", verify->issuer,
                         "The expected iss (default: the server's, when its JWKS is used)");
  verify_cmd->add_option("--audience", verify->audience, "An audience aud must contain");
  verify_cmd
      ->add_option("--alg", verify->algorithms, "An allowed algorithm (repeatable; default all)")
      ->expected(1)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  verify_cmd->callback([&context, verify] { context.finish(run_verify(context, *verify)); });

  auto revoke = std::make_shared<RevokeArgs>();
  CLI::App* revoke_cmd =
      token->add_subcommand("revoke", "Revoke a token (TOKEN, or --jti with --expires-at)");
  revoke->token_option =
      revoke_cmd->add_option("token", revoke->token, "The token, or - to read it from stdin");
  revoke->jti_option = revoke_cmd->add_option("--jti", revoke->jti, "The token's jti");
  revoke->expires_option = revoke_cmd->add_option("--expires-at", revoke->expires_at,
                                                  "The token's exp (Unix seconds), with --jti");
  revoke_cmd->callback([&context, revoke] { context.finish(run_revoke(context, *revoke)); });

  auto introspect_token = std::make_shared<std::string>();
  CLI::App* introspect = token->add_subcommand(
      "introspect",
      "Ask the server about a token (RFC 7662, as SIGIL_CLIENT_ID); exit 1 when not active");
  introspect->add_option("token", *introspect_token, "The token, or - to read it from stdin")
      ->required();
  introspect->callback(
      [&context, introspect_token] { context.finish(run_introspect(context, *introspect_token)); });
}

}  // namespace sigil::cli
