// sigil client create|list|show|disable|enable|rotate-secret|set-keys|set-tls: the admin
// API's /v1/clients.
#include <CLI/CLI.hpp>

#include <boost/json/parse.hpp>

#include <algorithm>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>

#include "cli/commands.hpp"
#include "cli/context.hpp"

namespace sigil::cli {
namespace {

namespace json = boost::json;

constexpr std::int64_t kMaxOverlapSeconds = 2'592'000;  // openapi.yaml: overlap_seconds maximum
constexpr std::size_t kMaxJwksFileBytes = 64 * 1024;
constexpr std::size_t kMaxCertificateFileBytes = 64 * 1024;
constexpr std::string_view kBeginCertificate = "-----BEGIN CERTIFICATE-----";
constexpr std::string_view kEndCertificate = "-----END CERTIFICATE-----";
// Members only a private (or symmetric) key has (RFC 7518 §6, RFC 8037 §2).
constexpr std::string_view kPrivateMembers[] = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"};

bool has_space(std::string_view s) {
  return s.find_first_of(" \t\r\n") != std::string_view::npos;
}

bool has_control(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u < 0x20 || u == 0x7F;
  });
}

bool is_known_method(std::string_view m) {
  return m == "client_secret_basic" || m == "client_secret_post" || m == "private_key_jwt" ||
         m == "tls_client_auth" || m == "self_signed_tls_client_auth";
}

// The one CERTIFICATE block of the PEM file at `path`, BEGIN and END lines included.
Result<std::string> read_certificate_pem(const std::string& path) {
  const std::string what = "--tls-cert " + sanitize(path);
  std::ifstream file(path, std::ios::binary);
  if (!file) return std::unexpected(Error::invalid_argument(what + ": cannot be read"));
  std::string text;
  text.resize(kMaxCertificateFileBytes + 1);
  file.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<std::size_t>(file.gcount()));
  if (text.size() > kMaxCertificateFileBytes) {
    return std::unexpected(Error::invalid_argument(what + ": over 64 KiB"));
  }
  // A file with the key beside the certificate is common; the key never leaves here.
  if (text.find("PRIVATE KEY-----") != std::string::npos) {
    return std::unexpected(Error::invalid_argument(
        what +
        ": holds a private key; give a file with the certificate alone (e.g. from "
        "`openssl x509 -in FILE`)"));
  }
  const std::size_t begin = text.find(kBeginCertificate);
  const std::size_t end =
      begin == std::string::npos ? std::string::npos : text.find(kEndCertificate, begin);
  if (begin == std::string::npos || end == std::string::npos) {
    return std::unexpected(
        Error::invalid_argument(what + ": holds no PEM certificate (-----BEGIN CERTIFICATE-----)"));
  }
  if (text.find(kBeginCertificate, end) != std::string::npos) {
    return std::unexpected(Error::invalid_argument(
        what + ": holds several certificates; give each client certificate in its own file"));
  }
  return text.substr(begin, end + kEndCertificate.size() - begin) + "\n";
}

json::array to_array(const std::vector<std::string>& items) {
  json::array out;
  for (const auto& item : items) out.emplace_back(item);
  return out;
}

// Prints a 2xx answer: as returned for --output json, else through `table`.
template <typename Table>
Outcome<void> print_answer(const Context& context, const json::value& answer, Table table) {
  if (context.output_mode() == OutputMode::kJson) {
    std::cout << render_json(answer);
    return {};
  }
  if (!answer.is_object()) {
    return fail(kExitUnreachable, "the server's answer is not a JSON object");
  }
  std::cout << table(answer.get_object());
  return {};
}

Outcome<void> run_create(Context& context, const NewClientArgs& args) {
  auto body = new_client_body(args);
  if (!body) return std::unexpected(usage_failure(body.error()));
  auto answer = context.admin_call("POST", "/v1/clients", *body, "create the client");
  if (!answer) return std::unexpected(answer.error());
  auto printed = print_answer(
      context, *answer, [](const json::object& created) { return render_created_client(created); });
  if (printed && answer->is_object() && answer->get_object().contains("client_secret")) {
    std::cerr << "sigil: the client secret is shown only once; store it now\n";
  }
  return printed;
}

Outcome<void> run_set_keys(Context& context, const std::string& id, const std::string& jwks) {
  auto path = client_path(id, "keys");
  if (!path) return std::unexpected(usage_failure(path.error()));
  auto body = client_keys_body(jwks);
  if (!body) return std::unexpected(usage_failure(body.error()));
  auto answer = context.admin_call("POST", *path, *body, "set the keys of client " + id);
  if (!answer) return std::unexpected(answer.error());
  return print_answer(context, *answer,
                      [](const json::object& client) { return render_client(client); });
}

Outcome<void> run_set_tls(Context& context, const std::string& id, const TlsClientArgs& args) {
  auto path = client_path(id, "tls");
  if (!path) return std::unexpected(usage_failure(path.error()));
  auto body = client_tls_body(args);
  if (!body) return std::unexpected(usage_failure(body.error()));
  auto answer =
      context.admin_call("PUT", *path, *body, "set the certificate authentication of client " + id);
  if (!answer) return std::unexpected(answer.error());
  return print_answer(context, *answer,
                      [](const json::object& client) { return render_client(client); });
}

Outcome<void> run_list(Context& context) {
  auto answer = context.admin_call("GET", "/v1/clients", std::nullopt, "list the clients");
  if (!answer) return std::unexpected(answer.error());
  if (context.output_mode() == OutputMode::kJson) {
    std::cout << render_json(*answer);
  } else {
    std::cout << render_client_list(*answer);
  }
  return {};
}

// show, disable, enable: one client in, the client out.
Outcome<void> run_on_client(Context& context, const std::string& id, std::string_view method,
                            std::string_view action, std::string_view what) {
  auto path = client_path(id, action);
  if (!path) return std::unexpected(usage_failure(path.error()));
  auto answer =
      context.admin_call(method, *path, std::nullopt, std::string(what) + " client " + id);
  if (!answer) return std::unexpected(answer.error());
  return print_answer(context, *answer,
                      [](const json::object& client) { return render_client(client); });
}

Outcome<void> run_rotate_secret(Context& context, const std::string& id,
                                std::optional<std::int64_t> overlap) {
  auto path = client_path(id, "rotate-secret");
  if (!path) return std::unexpected(usage_failure(path.error()));
  auto answer = context.admin_call("POST", *path, rotate_secret_body(overlap),
                                   "rotate the secret of client " + id);
  if (!answer) return std::unexpected(answer.error());
  auto printed = print_answer(context, *answer, [](const json::object& rotated) {
    std::vector<std::pair<std::string, std::string>> fields{
        {"client_id", display_field(rotated, "client_id")},
        {"client_secret", display_field(rotated, "client_secret")}};
    if (rotated.contains("previous_secret_expires_at")) {
      fields.emplace_back("previous_secret_expires_at",
                          display_field(rotated, "previous_secret_expires_at"));
    }
    return render_fields(fields);
  });
  if (printed) std::cerr << "sigil: the new secret is shown only once; store it now\n";
  return printed;
}

}  // namespace

Result<json::object> new_client_body(const NewClientArgs& args) {
  if (args.name.empty()) return std::unexpected(Error::invalid_argument("--name is empty"));
  json::object body;
  body["name"] = args.name;
  if (!args.id.empty()) {
    if (!is_valid_client_id(args.id)) {
      return std::unexpected(Error::invalid_argument(
          "--id '" + sanitize(args.id) + "': use 1-63 of a-z 0-9 . _ - starting with a-z or 0-9"));
    }
    body["id"] = args.id;
  }
  for (const auto& scope : args.scopes) {
    if (scope.empty() || has_space(scope)) {
      return std::unexpected(Error::invalid_argument(
          "--scope '" + sanitize(scope) + "': a scope is one non-empty word; repeat --scope"));
    }
  }
  for (const auto& audience : args.audiences) {
    if (audience.empty()) return std::unexpected(Error::invalid_argument("--audience is empty"));
  }
  const bool tls_subject =
      !args.tls.subject_dn.empty() || !args.tls.san_uri.empty() || !args.tls.san_dns.empty();
  for (const auto& method : args.auth_methods) {
    if (!is_known_method(method)) {
      return std::unexpected(Error::invalid_argument(
          "--auth-method '" + sanitize(method) +
          "': expected client_secret_basic, client_secret_post, private_key_jwt, "
          "tls_client_auth or self_signed_tls_client_auth"));
    }
    if (method == "private_key_jwt" && args.keys.empty()) {
      return std::unexpected(Error::invalid_argument(
          "--auth-method private_key_jwt needs the client's public keys: give --jwks"));
    }
    if (method == "tls_client_auth" && !tls_subject) {
      return std::unexpected(Error::invalid_argument(
          "--auth-method tls_client_auth needs what the client's certificate carries: give "
          "--tls-san-uri, --tls-san-dns or --tls-subject-dn"));
    }
    if (method == "self_signed_tls_client_auth" && args.tls.cert_files.empty()) {
      return std::unexpected(Error::invalid_argument(
          "--auth-method self_signed_tls_client_auth needs the client's certificates: give "
          "--tls-cert"));
    }
  }
  SIGIL_TRY(tls, client_tls_body(args.tls));
  SIGIL_TRY(attributes, parse_attributes(args.attributes));
  if (!args.scopes.empty()) body["allowed_scopes"] = to_array(args.scopes);
  if (!args.audiences.empty()) body["allowed_audiences"] = to_array(args.audiences);
  if (!attributes.empty()) {
    json::object attrs;
    for (const auto& [key, value] : attributes) attrs[key] = value;
    body["attributes"] = std::move(attrs);
  }
  if (!args.auth_methods.empty()) body["auth_methods"] = to_array(args.auth_methods);
  for (const auto& [name, value] : args.keys) body[name] = value;
  for (const auto& [name, value] : tls) body[name] = value;
  return body;
}

Result<json::object> client_tls_body(const TlsClientArgs& args) {
  json::object body;
  const std::pair<const char*, const std::string*> values[] = {
      {"tls_client_auth_subject_dn", &args.subject_dn},
      {"tls_client_auth_san_uri", &args.san_uri},
      {"tls_client_auth_san_dns", &args.san_dns}};
  for (const auto& [name, value] : values) {
    if (value->empty()) continue;
    if (!body.empty()) {
      // RFC 8705 §2.1.2: "exactly one of the below metadata parameters".
      return std::unexpected(Error::invalid_argument(
          "give one of --tls-subject-dn, --tls-san-uri and --tls-san-dns, not several"));
    }
    if (has_control(*value)) {
      return std::unexpected(
          Error::invalid_argument(std::string("--") + name + " holds control characters"));
    }
    body[name] = *value;
  }
  if (!args.cert_files.empty()) {
    json::array pems;
    for (const auto& path : args.cert_files) {
      SIGIL_TRY(pem, read_certificate_pem(path));
      pems.emplace_back(pem);
    }
    body["tls_client_certificates_pem"] = std::move(pems);
  }
  return body;
}

Result<json::object> client_keys_body(const std::string& value) {
  if (value.starts_with("https://") || value.starts_with("http://")) {
    return json::object{{"jwks_uri", value}};
  }
  const std::string what = "--jwks " + sanitize(value);
  std::ifstream file(value, std::ios::binary);
  if (!file) {
    return std::unexpected(
        Error::invalid_argument(what + ": cannot be read (give a JWKS file or an https URL)"));
  }
  std::string text;
  text.resize(kMaxJwksFileBytes + 1);
  file.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<std::size_t>(file.gcount()));
  if (text.size() > kMaxJwksFileBytes) {
    return std::unexpected(Error::invalid_argument(what + ": over 64 KiB"));
  }
  boost::system::error_code ec;
  json::value jwks = json::parse(text, ec);
  const json::value* keys =
      ec || !jwks.is_object() ? nullptr : jwks.get_object().if_contains("keys");
  if (keys == nullptr || !keys->is_array()) {
    return std::unexpected(
        Error::invalid_argument(what + ": not a JWKS (a JSON object {\"keys\":[...]})"));
  }
  for (const auto& key : keys->get_array()) {
    if (!key.is_object()) continue;  // the server says what is wrong with it
    for (std::string_view member : kPrivateMembers) {
      if (key.get_object().contains(member)) {
        return std::unexpected(Error::invalid_argument(
            what +
            ": holds a private key; register the public key only (e.g. from "
            "`openssl pkey -pubout`, as a JWK without \"" +
            std::string(member) + "\")"));
      }
    }
  }
  return json::object{{"jwks", std::move(jwks)}};
}

Result<std::string> client_path(std::string_view id, std::string_view action) {
  if (!is_valid_client_id(id)) {
    return std::unexpected(Error::invalid_argument("'" + sanitize(id) +
                                                   "' is not a client id (1-63 of a-z 0-9 . _ -)"));
  }
  std::string path = "/v1/clients/" + std::string(id);
  if (!action.empty()) path += "/" + std::string(action);
  return path;
}

json::object rotate_secret_body(std::optional<std::int64_t> overlap_seconds) {
  json::object body;
  if (overlap_seconds) body["overlap_seconds"] = *overlap_seconds;
  return body;
}

std::string render_client_list(const json::value& answer) {
  std::vector<std::vector<std::string>> rows;
  const json::value* clients =
      answer.is_object() ? answer.get_object().if_contains("clients") : nullptr;
  if (clients != nullptr && clients->is_array()) {
    for (const auto& item : clients->get_array()) {
      if (!item.is_object()) continue;
      const auto& c = item.get_object();
      rows.push_back({display_field(c, "id"), display_field(c, "name"), display_field(c, "status"),
                      display_field(c, "allowed_scopes"), display_field(c, "allowed_audiences")});
    }
  }
  return render_table({"ID", "NAME", "STATUS", "SCOPES", "AUDIENCES"}, rows);
}

std::string render_client(const json::object& client, std::string_view id_label) {
  std::vector<std::pair<std::string, std::string>> fields{
      {std::string(id_label), display_field(client, "id")},
      {"name", display_field(client, "name")},
      {"status", display_field(client, "status")},
      {"allowed_scopes", display_field(client, "allowed_scopes")},
      {"allowed_audiences", display_field(client, "allowed_audiences")},
      {"auth_methods", display_field(client, "auth_methods")},
      {"attributes", display_field(client, "attributes")},
      {"created_at", display_field(client, "created_at")},
      {"updated_at", display_field(client, "updated_at")}};
  if (client.contains("previous_secret_expires_at")) {
    fields.emplace_back("previous_secret_expires_at",
                        display_field(client, "previous_secret_expires_at"));
  }
  if (client.contains("jwks_uri"))
    fields.emplace_back("jwks_uri", display_field(client, "jwks_uri"));
  for (const char* name : {"tls_client_auth_subject_dn", "tls_client_auth_san_uri",
                           "tls_client_auth_san_dns", "tls_client_certificates"}) {
    if (client.contains(name)) fields.emplace_back(name, display_field(client, name));
  }
  // The registered keys by kid and algorithm; the key material is in --output json.
  const json::value* jwks = client.if_contains("jwks");
  const json::value* keys =
      jwks != nullptr && jwks->is_object() ? jwks->get_object().if_contains("keys") : nullptr;
  if (keys != nullptr && keys->is_array()) {
    std::string listed;
    for (const auto& key : keys->get_array()) {
      if (!key.is_object()) continue;
      if (!listed.empty()) listed += ',';
      listed += display_field(key.get_object(), "kid") + " (" +
                display_field(key.get_object(), "alg") + ")";
    }
    fields.emplace_back("jwks", listed.empty() ? "-" : listed);
  }
  return render_fields(fields);
}

std::string render_created_client(const json::object& answer) {
  const json::value* client = answer.if_contains("client");
  std::string out = client != nullptr && client->is_object()
                        ? render_client(client->get_object(), "client_id")
                        : render_fields({{"client_id", "-"}});
  // A client that authenticates with its keys alone has no secret.
  if (answer.contains("client_secret")) {
    out += render_fields({{"client_secret", display_field(answer, "client_secret")}});
  }
  return out;
}

namespace {

// The --tls-* flags of create and set-tls. `args` outlives the parse (a shared_ptr's).
void add_tls_options(CLI::App& command, TlsClientArgs& args) {
  command.add_option("--tls-san-uri", args.san_uri,
                     "tls_client_auth: the URI SAN its CA-issued certificate carries, e.g. its "
                     "SPIFFE ID");
  command.add_option("--tls-san-dns", args.san_dns,
                     "tls_client_auth: the DNS SAN its CA-issued certificate carries");
  command.add_option("--tls-subject-dn", args.subject_dn,
                     "tls_client_auth: its certificate's subject DN (RFC 4514, e.g. "
                     "\"CN=billing,O=Example\")");
  command
      .add_option("--tls-cert", args.cert_files,
                  "self_signed_tls_client_auth: a PEM file with one of its certificates "
                  "(repeatable)")
      ->expected(1)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
}

}  // namespace

void add_client_commands(CLI::App& app, Context& context) {
  CLI::App* client =
      app.add_subcommand("client", "Register and manage clients (workload identities)");
  client->require_subcommand(1);

  auto args = std::make_shared<NewClientArgs>();
  CLI::App* create = client->add_subcommand("create", "Register a client; prints its secret once");
  create->add_option("--name", args->name, "What the client is, for people")->required();
  create->add_option("--id", args->id, "The client id (default: generated)");
  create->add_option("--scope", args->scopes, "A scope it may request (repeatable)")
      ->expected(1)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  create->add_option("--audience", args->audiences, "An audience it may request (repeatable)")
      ->expected(1)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  create
      ->add_option("--attr", args->attributes,
                   "An attribute KEY=VALUE copied into its tokens (repeatable)")
      ->expected(1)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  create
      ->add_option("--auth-method", args->auth_methods,
                   "client_secret_basic, client_secret_post, private_key_jwt, tls_client_auth or "
                   "self_signed_tls_client_auth (repeatable; default: the methods --jwks and "
                   "--tls-* give, else both client_secret methods)")
      ->expected(1)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  add_tls_options(*create, args->tls);
  auto jwks = std::make_shared<std::string>();
  create->add_option("--jwks", *jwks,
                     "The client's public keys for private_key_jwt: a JWKS file, or the https "
                     "URL where the client publishes them");
  create->callback([&context, args, jwks] {
    if (!jwks->empty()) {
      auto keys = client_keys_body(*jwks);
      if (!keys) {
        context.finish(std::unexpected(usage_failure(keys.error())));
        return;
      }
      args->keys = std::move(*keys);
    }
    context.finish(run_create(context, *args));
  });

  CLI::App* list = client->add_subcommand("list", "List the clients");
  list->callback([&context] { context.finish(run_list(context)); });

  struct OnClient {
    const char* name;
    const char* help;
    const char* method;
    const char* action;
    const char* what;
  };
  static constexpr OnClient kOnClient[] = {
      {"show", "Show a client", "GET", "", "show"},
      {"disable", "Disable a client: new tokens refused, live tokens inactive at once", "POST",
       "disable", "disable"},
      {"enable", "Enable a disabled client", "POST", "enable", "enable"},
  };
  for (const auto& verb : kOnClient) {
    auto id = std::make_shared<std::string>();
    CLI::App* sub = client->add_subcommand(verb.name, verb.help);
    sub->add_option("id", *id, "The client id")->required();
    sub->callback([&context, id, verb] {
      context.finish(run_on_client(context, *id, verb.method, verb.action, verb.what));
    });
  }

  auto keys_id = std::make_shared<std::string>();
  auto keys_source = std::make_shared<std::string>();
  CLI::App* set_keys = client->add_subcommand(
      "set-keys", "Replace a client's public keys for private_key_jwt (and allow that method)");
  set_keys->add_option("id", *keys_id, "The client id")->required();
  set_keys
      ->add_option("--jwks", *keys_source,
                   "A JWKS file, or the https URL where the client publishes its keys")
      ->required();
  set_keys->callback([&context, keys_id, keys_source] {
    context.finish(run_set_keys(context, *keys_id, *keys_source));
  });

  auto tls_id = std::make_shared<std::string>();
  auto tls_args = std::make_shared<TlsClientArgs>();
  CLI::App* set_tls = client->add_subcommand(
      "set-tls",
      "Replace what authenticates a client over mutual TLS (RFC 8705); flags left out are "
      "removed, with their method");
  set_tls->add_option("id", *tls_id, "The client id")->required();
  add_tls_options(*set_tls, *tls_args);
  set_tls->callback(
      [&context, tls_id, tls_args] { context.finish(run_set_tls(context, *tls_id, *tls_args)); });

  auto rotate_id = std::make_shared<std::string>();
  auto overlap = std::make_shared<std::int64_t>(0);
  CLI::App* rotate =
      client->add_subcommand("rotate-secret", "Give a client a new secret; prints it once");
  rotate->add_option("id", *rotate_id, "The client id")->required();
  CLI::Option* overlap_option =
      rotate
          ->add_option("--overlap", *overlap,
                       "Seconds the old secret stays valid (default 0, at most 30 days)")
          ->check(CLI::Range(std::int64_t{0}, kMaxOverlapSeconds));
  rotate->callback([&context, rotate_id, overlap, overlap_option] {
    std::optional<std::int64_t> seconds;
    if (overlap_option->count() > 0) seconds = *overlap;
    context.finish(run_rotate_secret(context, *rotate_id, seconds));
  });
}

}  // namespace sigil::cli
