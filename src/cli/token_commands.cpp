// sigil token get|verify|revoke|introspect|exchange.
#include <CLI/CLI.hpp>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <cstdlib>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>

#include "base/base64url.hpp"
#include "base/clock.hpp"
#include "cli/commands.hpp"
#include "cli/context.hpp"
#include "crypto/key.hpp"
#include "jose/jws.hpp"
#include "jose/jwt.hpp"
#include "server/key_fetcher.hpp"

namespace sigil::cli {
namespace {

namespace json = boost::json;

// A token endpoint answer: the whole JSON with --output json, else the access token alone
// (for `$(sigil token get)` in scripts).
Outcome<void> print_token_answer(const Context& context, const Outcome<json::value>& answer) {
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
  std::string key_file;  // private_key_jwt instead of a secret
  std::string kid;
  std::string alg;
};

// Reads a PEM private key file, at most 64 KiB.
Outcome<std::string> read_key_file(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) return fail(kExitUsage, "--key " + sanitize(path) + ": cannot be read");
  std::string pem;
  pem.resize(kMaxTokenBytes + 1);
  file.read(pem.data(), static_cast<std::streamsize>(pem.size()));
  pem.resize(static_cast<std::size_t>(file.gcount()));
  if (pem.size() > kMaxTokenBytes) {
    wipe(pem);
    return fail(kExitUsage, "--key " + sanitize(path) + ": over 64 KiB");
  }
  return pem;
}

// The token request authenticated with a client assertion signed by --key, for the
// server's token endpoint (its metadata names it: the assertion's audience).
Outcome<boost::json::value> get_with_key(Context& context, GetArgs& args, const std::string& form) {
  if (!args.client_secret.empty()) {
    return fail(kExitUsage, "--key and --client-secret are two ways to authenticate; give one");
  }
  const std::string client_id = args.client_id.empty() ? context.env().client_id : args.client_id;
  if (client_id.empty()) {
    return fail(kExitUsage, "--key needs the client id: set SIGIL_CLIENT_ID or give --client-id");
  }
  auto meta = context.metadata();
  if (!meta) return std::unexpected(meta.error());
  const json::value* endpoint = meta->if_contains("token_endpoint");
  if (endpoint == nullptr || !endpoint->is_string()) {
    return fail(kExitUnreachable, "the server metadata has no token_endpoint");
  }
  auto pem = read_key_file(args.key_file);
  if (!pem) return std::unexpected(pem.error());
  auto assertion = client_assertion(*pem, client_id, endpoint->get_string(), args.alg, args.kid,
                                    SystemClock().now());
  wipe(*pem);
  if (!assertion) {
    return fail(kExitUsage, "--key " + sanitize(args.key_file) + ": " + assertion.error().message);
  }
  return context.post_anonymous_form(
      "/oauth2/token", form + "&" + client_assertion_params(*assertion), "get a token");
}

Outcome<void> run_get(Context& context, GetArgs& args) {
  auto form = token_request_form(args.scopes, args.audiences);
  if (!form) return std::unexpected(usage_failure(form.error()));
  Outcome<boost::json::value> answer;
  if (!args.key_file.empty()) {
    answer = get_with_key(context, args, *form);
  } else {
    if (!args.kid.empty() || !args.alg.empty()) {
      return fail(kExitUsage, "--kid and --alg go with --key");
    }
    auto credentials = credentials_from(context, args.client_id, args.client_secret);
    wipe(args.client_secret);
    if (!credentials) return std::unexpected(credentials.error());
    answer = context.post_form("/oauth2/token", *credentials, *form, "get a token");
  }
  return print_token_answer(context, answer);
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

constexpr std::string_view kTokenTypePrefix = "urn:ietf:params:oauth:token-type:";
constexpr std::string_view kTokenExchangeGrant = "urn:ietf:params:oauth:grant-type:token-exchange";
constexpr std::chrono::milliseconds kGithubTimeout{10'000};

struct ExchangeArgs {
  std::string subject_file, subject_env, subject_stdin;
  std::string subject_type = "jwt";
  std::string actor_file, actor_env, actor_type;
  std::vector<std::string> audiences;
  std::vector<std::string> scopes;
  std::string requested_type;
  bool github_actions = false;
  std::string github_audience;
  CLI::Option* subject_file_option = nullptr;
  CLI::Option* subject_env_option = nullptr;
  CLI::Option* subject_stdin_option = nullptr;
  CLI::Option* actor_file_option = nullptr;
  CLI::Option* actor_env_option = nullptr;
  CLI::Option* actor_type_option = nullptr;
};

Outcome<std::string> cleaned(std::string text, std::string_view source) {
  auto token = clean_token(text, source);
  wipe(text);
  if (!token) return std::unexpected(usage_failure(token.error()));
  return std::move(*token);
}

Outcome<std::string> token_from_file(const std::string& path, std::string_view flag) {
  const std::string source = std::string(flag) + " " + sanitize(path);
  std::ifstream file(path, std::ios::binary);
  if (!file) return fail(kExitUsage, source + ": cannot be read");
  std::string text(kMaxTokenBytes + 1, '\0');
  file.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<std::size_t>(file.gcount()));
  return cleaned(std::move(text), source);
}

Outcome<std::string> token_from_env(const std::string& name, std::string_view flag) {
  const std::string source = std::string(flag) + " " + sanitize(name);
  const char* value = name.empty() ? nullptr : std::getenv(name.c_str());
  if (value == nullptr || *value == '\0') {
    return fail(kExitUsage, source + ": the variable is not set or is empty");
  }
  return cleaned(value, source);
}

Outcome<std::string> token_from_stdin(std::string_view flag) {
  auto text = value_or_stdin("-", flag);
  if (!text) return std::unexpected(text.error());
  return cleaned(std::move(*text), std::string(flag) + " -");
}

// The job's OIDC token from GitHub Actions, for the audience asked (default: the issuer of
// the sigil server, which the policy's trusted issuer expects by convention).
Outcome<std::string> github_actions_token(Context& context, const ExchangeArgs& args) {
  const char* url = std::getenv("ACTIONS_ID_TOKEN_REQUEST_URL");
  const char* request_token = std::getenv("ACTIONS_ID_TOKEN_REQUEST_TOKEN");
  if (url == nullptr || *url == '\0' || request_token == nullptr || *request_token == '\0') {
    return fail(kExitUsage,
                "--github-actions: ACTIONS_ID_TOKEN_REQUEST_URL and "
                "ACTIONS_ID_TOKEN_REQUEST_TOKEN are not set; run in a GitHub Actions job with "
                "`permissions: id-token: write`");
  }
  std::string audience = args.github_audience;
  if (audience.empty()) {
    auto meta = context.metadata();
    if (!meta) return std::unexpected(meta.error());
    audience = std::string(meta->at("issuer").get_string());
  }
  auto token = fetch_github_id_token(url, request_token, audience, kGithubTimeout);
  if (!token) {
    const std::string message =
        "--github-actions: cannot get the job's OIDC token: " + sanitize(token.error().message);
    switch (token.error().code) {
      case Code::kInvalidArgument:
        return fail(kExitUsage, message);
      case Code::kPermissionDenied:
        return fail(kExitRefused, message);
      default:
        return fail(kExitUnreachable, message);
    }
  }
  return std::move(*token);
}

Outcome<void> run_exchange(Context& context, ExchangeArgs& args) {
  const int subject_sources = static_cast<int>(args.subject_file_option->count() > 0) +
                              static_cast<int>(args.subject_env_option->count() > 0) +
                              static_cast<int>(args.subject_stdin_option->count() > 0) +
                              static_cast<int>(args.github_actions);
  if (subject_sources != 1) {
    return fail(kExitUsage,
                "give the subject token with exactly one of --subject-token-file FILE, "
                "--subject-token-env VAR, --subject-token - (stdin) or --github-actions");
  }
  if (args.subject_stdin_option->count() > 0 && args.subject_stdin != "-") {
    return fail(kExitUsage,
                "--subject-token takes only - (stdin): a token on the command line would show "
                "in the process list; use --subject-token-file or --subject-token-env");
  }
  if (args.actor_file_option->count() > 0 && args.actor_env_option->count() > 0) {
    return fail(kExitUsage, "give the actor token with --actor-token-file or --actor-token-env");
  }
  const bool has_actor = args.actor_file_option->count() > 0 || args.actor_env_option->count() > 0;
  if (has_actor != (args.actor_type_option->count() > 0)) {
    return fail(kExitUsage, "--actor-token-type goes with --actor-token-file or --actor-token-env");
  }
  // Local mistakes are reported before anything is fetched.
  ExchangeRequest request;
  request.subject_token_type = args.subject_type;
  request.actor_token_type = args.actor_type;
  request.audiences = args.audiences;
  request.scopes = args.scopes;
  request.requested_token_type = args.requested_type;
  {
    ExchangeRequest probe = request;
    probe.subject_token = "x";
    if (has_actor) probe.actor_token = "x";
    if (auto form = token_exchange_form(probe); !form) {
      return std::unexpected(usage_failure(form.error()));
    }
  }
  std::optional<ClientCredentials> credentials;
  const Environment& env = context.env();
  if (!env.client_id.empty() || !env.client_secret.empty()) {
    auto from_env = context.environment_credentials();
    if (!from_env) return std::unexpected(from_env.error());
    credentials.emplace(std::move(*from_env));
  }

  Outcome<std::string> subject = args.github_actions ? github_actions_token(context, args)
                                 : args.subject_file_option->count() > 0
                                     ? token_from_file(args.subject_file, "--subject-token-file")
                                 : args.subject_env_option->count() > 0
                                     ? token_from_env(args.subject_env, "--subject-token-env")
                                     : token_from_stdin("--subject-token");
  if (!subject) return std::unexpected(subject.error());
  request.subject_token = std::move(*subject);
  if (has_actor) {
    auto actor = args.actor_file_option->count() > 0
                     ? token_from_file(args.actor_file, "--actor-token-file")
                     : token_from_env(args.actor_env, "--actor-token-env");
    if (!actor) return std::unexpected(actor.error());
    request.actor_token = std::move(*actor);
  }
  auto form = token_exchange_form(request);
  wipe(request.subject_token);
  if (request.actor_token) wipe(*request.actor_token);
  if (!form) return std::unexpected(usage_failure(form.error()));
  auto answer = credentials
                    ? context.post_form("/oauth2/token", *credentials, *form, "exchange the token")
                    : context.post_anonymous_form("/oauth2/token", *form, "exchange the token");
  wipe(*form);
  return print_token_answer(context, answer);
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

Result<std::string> client_assertion(std::string_view pem, std::string_view client_id,
                                     std::string_view token_endpoint, std::string_view alg,
                                     std::string_view kid, TimePoint now) {
  if (client_id.empty()) return std::unexpected(Error::invalid_argument("the client id is empty"));
  auto key = crypto::Key::from_private_pem(pem);
  if (!key) return std::unexpected(key.error());
  std::optional<jose::Algorithm> algorithm;
  if (!alg.empty()) {
    algorithm = jose::algorithm_from_string(alg);
    if (!algorithm) {
      return std::unexpected(Error::invalid_argument(
          "--alg '" + sanitize(alg) + "': expected one of ES256 ES384 EdDSA RS256 PS256"));
    }
  } else {
    switch (key->type()) {
      case crypto::KeyType::kEcP256:
        algorithm = jose::Algorithm::kES256;
        break;
      case crypto::KeyType::kEcP384:
        algorithm = jose::Algorithm::kES384;
        break;
      case crypto::KeyType::kEd25519:
        algorithm = jose::Algorithm::kEdDSA;
        break;
      case crypto::KeyType::kRsa:
        algorithm = jose::Algorithm::kRS256;
        break;
    }
  }
  auto der = key->private_pkcs8();
  if (!der) return std::unexpected(der.error());
  auto jwk = jose::Jwk::from_private_pkcs8(
      *der, *algorithm, kid.empty() ? std::nullopt : std::optional<std::string>(kid));
  wipe(*der);
  if (!jwk) return std::unexpected(jwk.error());
  SIGIL_TRY(signer, jose::Signer::create(std::move(*jwk), ""));
  const std::int64_t iat = to_unix(now);
  // RFC 7523 §3: iss and sub the client_id, aud the token endpoint, exp limiting the
  // window of use; a jti so that the server can refuse a replay.
  json::object claims{{"iss", client_id},      {"sub", client_id},
                      {"aud", token_endpoint}, {"iat", iat},
                      {"exp", iat + 60},       {"jti", base64url_encode(random_bytes(16))}};
  return signer.sign(json::serialize(claims));
}

std::string client_assertion_params(std::string_view assertion) {
  return form_body(
      {{"client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
       {"client_assertion", std::string(assertion)}});
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

Result<std::string> token_type_urn(std::string_view name, std::string_view flag) {
  std::string_view shortname = name;
  if (shortname.starts_with(kTokenTypePrefix)) shortname.remove_prefix(kTokenTypePrefix.size());
  if (shortname == "jwt" || shortname == "id_token" || shortname == "access_token") {
    return std::string(kTokenTypePrefix) + std::string(shortname);
  }
  return std::unexpected(Error::invalid_argument(std::string(flag) + " '" + sanitize(name) +
                                                 "': expected jwt, id_token or access_token"));
}

Result<std::string> clean_token(std::string_view text, std::string_view source) {
  if (text.size() > kMaxTokenBytes) {
    return std::unexpected(Error::invalid_argument(std::string(source) + ": over 64 KiB"));
  }
  const auto first = text.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos) {
    return std::unexpected(Error::invalid_argument(std::string(source) + ": the token is empty"));
  }
  text = text.substr(first, text.find_last_not_of(" \t\r\n") - first + 1);
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7F) {
      return std::unexpected(Error::invalid_argument(
          std::string(source) + ": not a token (white space or control characters inside)"));
    }
  }
  return std::string(text);
}

Result<std::string> token_exchange_form(const ExchangeRequest& request) {
  if (request.subject_token.empty()) {
    return std::unexpected(Error::invalid_argument("the subject token is empty"));
  }
  SIGIL_TRY(subject_type, token_type_urn(request.subject_token_type, "--subject-token-type"));
  std::vector<std::pair<std::string, std::string>> params{
      {"grant_type", std::string(kTokenExchangeGrant)},
      {"subject_token", request.subject_token},
      {"subject_token_type", subject_type}};
  // RFC 8693 §2.1: actor_token_type "is REQUIRED when the actor_token parameter is present
  // in the request but MUST NOT be included otherwise."
  if (request.actor_token.has_value() != !request.actor_token_type.empty()) {
    return std::unexpected(
        Error::invalid_argument("an actor token and --actor-token-type go together"));
  }
  if (request.actor_token) {
    if (request.actor_token->empty()) {
      return std::unexpected(Error::invalid_argument("the actor token is empty"));
    }
    SIGIL_TRY(actor_type, token_type_urn(request.actor_token_type, "--actor-token-type"));
    params.emplace_back("actor_token", *request.actor_token);
    params.emplace_back("actor_token_type", actor_type);
  }
  for (const auto& audience : request.audiences) {
    if (audience.empty()) return std::unexpected(Error::invalid_argument("--audience is empty"));
    params.emplace_back("audience", audience);
  }
  std::string scope;
  for (const auto& s : request.scopes) {
    if (s.empty() || s.find_first_of(" \t\r\n") != std::string::npos) {
      return std::unexpected(Error::invalid_argument(
          "--scope '" + sanitize(s) + "': a scope is one non-empty word; repeat --scope"));
    }
    if (!scope.empty()) scope.push_back(' ');
    scope += s;
  }
  if (!scope.empty()) params.emplace_back("scope", scope);
  if (!request.requested_token_type.empty()) {
    SIGIL_TRY(requested, token_type_urn(request.requested_token_type, "--requested-token-type"));
    params.emplace_back("requested_token_type", requested);
  }
  std::string body = form_body(params);
  for (auto& [name, value] : params) wipe(value);
  return body;
}

Result<std::string> github_id_token_url(std::string_view request_url, std::string_view audience) {
  if (audience.empty()) {
    return std::unexpected(Error::invalid_argument("the audience to ask GitHub for is empty"));
  }
  if (auto ok = server::check_fetchable_url(request_url); !ok) {
    return std::unexpected(
        Error::invalid_argument("ACTIONS_ID_TOKEN_REQUEST_URL: " + ok.error().message));
  }
  const char separator = request_url.find('?') == std::string_view::npos ? '?' : '&';
  return std::string(request_url) + separator + "audience=" + form_encode(audience);
}

Result<std::string> github_id_token_from_answer(std::string_view body) {
  boost::system::error_code ec;
  json::value answer = json::parse(body, ec);
  const json::value* value =
      !ec && answer.is_object() ? answer.get_object().if_contains("value") : nullptr;
  if (value == nullptr || !value->is_string()) {
    return std::unexpected(Error::invalid_argument("GitHub's answer holds no token"));
  }
  return clean_token(value->get_string(), "GitHub's answer");
}

Result<std::string> fetch_github_id_token(std::string_view request_url,
                                          std::string_view request_token, std::string_view audience,
                                          std::chrono::milliseconds timeout) {
  SIGIL_TRY(url, github_id_token_url(request_url, audience));
  if (request_token.empty()) {
    return std::unexpected(Error::invalid_argument("ACTIONS_ID_TOKEN_REQUEST_TOKEN is empty"));
  }
  http::ClientOptions options;
  options.timeout = timeout;
  options.max_response_body_bytes = kMaxTokenBytes + 1024;
  // The documented protocol: "Authorization: bearer $ACTIONS_ID_TOKEN_REQUEST_TOKEN".
  std::string authorization = "bearer " + std::string(request_token);
  auto answer = http::request(
      "GET", url, {{"Authorization", authorization}, {"Accept", "application/json"}}, {}, options);
  wipe(authorization);
  if (!answer) return std::unexpected(Error::unavailable(answer.error().message));
  if (answer->status >= 400 && answer->status < 500) {
    return std::unexpected(
        Error::permission_denied("HTTP " + std::to_string(answer->status) +
                                 "; does the job have `permissions: id-token: write`?"));
  }
  if (answer->status != 200) {
    return std::unexpected(Error::unavailable("HTTP " + std::to_string(answer->status)));
  }
  auto token = github_id_token_from_answer(answer->body);
  wipe(answer->body);
  return token;
}

void add_token_commands(CLI::App& app, Context& context) {
  CLI::App* token =
      app.add_subcommand("token", "Access tokens: get, verify, revoke, introspect, exchange");
  token->require_subcommand(1);

  auto get = std::make_shared<GetArgs>();
  CLI::App* get_cmd = token->add_subcommand(
      "get",
      "Get an access token (client credentials, with a secret or a --key); prints only the token");
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
  get_cmd->add_option("--key", get->key_file,
                      "A PEM private key file: authenticate with a signed assertion "
                      "(private_key_jwt) instead of a secret");
  get_cmd->add_option("--kid", get->kid,
                      "With --key: the kid of the registered key (default: its thumbprint)");
  get_cmd->add_option("--alg", get->alg,
                      "With --key: ES256, ES384, EdDSA, RS256 or PS256 (default: from the key)");
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

  auto exchange = std::make_shared<ExchangeArgs>();
  CLI::App* exchange_cmd = token->add_subcommand(
      "exchange",
      "Exchange a token for a sigil access token (RFC 8693), e.g. a CI job's OIDC token; "
      "prints only the token. Authenticates as SIGIL_CLIENT_ID when it is set");
  exchange->subject_file_option = exchange_cmd
                                      ->add_option("--subject-token-file", exchange->subject_file,
                                                   "Read the subject token from FILE")
                                      ->type_name("FILE");
  exchange->subject_env_option = exchange_cmd
                                     ->add_option("--subject-token-env", exchange->subject_env,
                                                  "Read the subject token from variable VAR")
                                     ->type_name("VAR");
  exchange->subject_stdin_option =
      exchange_cmd
          ->add_option("--subject-token", exchange->subject_stdin,
                       "Read the subject token from stdin (only - is taken)")
          ->type_name("-");
  exchange_cmd->add_option("--subject-token-type", exchange->subject_type,
                           "jwt (default), id_token or access_token (a sigil token)");
  exchange->actor_file_option =
      exchange_cmd
          ->add_option("--actor-token-file", exchange->actor_file, "Read the actor token from FILE")
          ->type_name("FILE");
  exchange->actor_env_option = exchange_cmd
                                   ->add_option("--actor-token-env", exchange->actor_env,
                                                "Read the actor token from variable VAR")
                                   ->type_name("VAR");
  exchange->actor_type_option = exchange_cmd->add_option("--actor-token-type", exchange->actor_type,
                                                         "jwt, id_token or access_token");
  exchange_cmd
      ->add_option("--audience", exchange->audiences,
                   "An audience (name or URI) to request (repeatable)")
      ->expected(1)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  exchange_cmd->add_option("--scope", exchange->scopes, "A scope to request (repeatable)")
      ->expected(1)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  exchange_cmd->add_option("--requested-token-type", exchange->requested_type,
                           "The type of token wanted (default: an access token)");
  exchange_cmd->add_flag("--github-actions", exchange->github_actions,
                         "Take the subject token from the GitHub Actions job "
                         "(needs `permissions: id-token: write`)");
  exchange_cmd->add_option("--github-audience", exchange->github_audience,
                           "The audience to ask GitHub for (default: the sigil issuer)");
  exchange_cmd->callback(
      [&context, exchange] { context.finish(run_exchange(context, *exchange)); });
}

}  // namespace sigil::cli
