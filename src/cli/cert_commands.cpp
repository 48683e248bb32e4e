// sigil cert issue|renew|inspect: a workload's X509-SVID. The key is generated here and
// only its CSR is sent; issue authenticates with a token, renew with the current
// certificate over sigil's mutual-TLS listener.
#include <CLI/CLI.hpp>

#include <signal.h>
#include <time.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <memory>

#include "base/hex.hpp"
#include "base/secrets.hpp"
#include "cli/certificates.hpp"
#include "cli/commands.hpp"
#include "cli/context.hpp"
#include "pki/csr.hpp"

namespace sigil::cli {
namespace {

namespace json = boost::json;

constexpr std::size_t kMaxTokenFileBytes = 64 * 1024;
constexpr mode_t kKeyMode = 0600;
constexpr mode_t kPublicMode = 0644;
// The subject of the CSR: the CA ignores it (the identity comes from the caller's
// authorisation), so it names nothing.
constexpr std::string_view kCsrCommonName = "sigil workload";

struct FileFlags {
  std::string out_dir, chain, key, bundle;
};

struct IssueArgs {
  FileFlags files;
  std::vector<std::string> dns_names;
  std::string lifetime;
  std::string key_type = "P-256";
  std::string token_file, token_env;
  CLI::Option* token_file_option = nullptr;
  CLI::Option* token_env_option = nullptr;
};

struct RenewArgs {
  FileFlags files;
  std::vector<std::string> dns_names;
  std::string lifetime;
  std::string key_type;  // empty: the current key's type
  std::string mtls_addr;
  bool watch = false;
};

// The files, checked before anything is generated or asked for: their folders must exist.
Outcome<CertificateFiles> files_from(const FileFlags& flags) {
  auto files = certificate_files(flags.out_dir, flags.key, flags.chain, flags.bundle);
  if (!files) return std::unexpected(usage_failure(files.error()));
  for (const std::string* path : {&files->key, &files->chain, &files->bundle}) {
    std::filesystem::path dir = std::filesystem::path(*path).parent_path();
    if (dir.empty()) dir = ".";
    std::error_code ec;
    if (!std::filesystem::is_directory(dir, ec)) {
      return fail(kExitUsage,
                  sanitize(*path) + ": the folder " + sanitize(dir.string()) + " does not exist");
    }
  }
  return std::move(*files);
}

// A new key and its CSR (PEM).
struct NewKey {
  crypto::Key key;
  std::string csr_pem;
};

Outcome<NewKey> new_key(crypto::KeyType type) {
  auto key = crypto::Key::generate(type);
  if (!key) return fail(kExitRefused, "cannot generate a key: " + key.error().message);
  auto csr = pki::make_csr_der(*key, kCsrCommonName);
  if (!csr) return fail(kExitRefused, "cannot make the CSR: " + csr.error().message);
  return NewKey{std::move(*key), pki::pem_encode("CERTIFICATE REQUEST", *csr)};
}

// A POST of a JSON body to an absolute URL; the 2xx answer must be JSON.
Outcome<json::value> post_json(std::string_view url, const std::string& authorization,
                               const json::object& body, const http::ClientOptions& options,
                               std::string_view what) {
  Headers headers{{"Content-Type", "application/json"}, {"Accept", "application/json"}};
  if (!authorization.empty()) headers.emplace_back("Authorization", authorization);
  auto answer = http::request("POST", url, headers, json::serialize(body), options);
  if (!authorization.empty()) wipe(headers.back().second);
  if (!answer) {
    Error error = std::move(answer.error());
    if (error.code == Code::kUnavailable) {
      error.message = "cannot reach " + sanitize(url) + " (" + error.message + ")";
    }
    Failure failure = failure_for_transport(error);
    failure.message = "cannot " + std::string(what) + ": " + failure.message;
    return std::unexpected(std::move(failure));
  }
  if (exit_code_for_status(answer->status) != kExitOk) {
    return std::unexpected(failure_for_answer(what, answer->status, answer->body));
  }
  boost::system::error_code ec;
  json::value value = json::parse(answer->body, ec);
  if (ec) return fail(kExitUnreachable, "cannot " + std::string(what) + ": the answer is not JSON");
  return value;
}

// Writes the new key, chain and bundle together; the bundle first, so that the roots the
// new certificate chains to are trusted before it is used.
Outcome<void> install(const CertificateFiles& files, const crypto::Key& key,
                      const IssuedFiles& issued) {
  auto der = key.private_pkcs8();
  if (!der) return fail(kExitRefused, "cannot encode the key: " + der.error().message);
  std::string key_pem = pki::pem_encode("PRIVATE KEY", *der);
  wipe(*der);
  auto written = write_files_atomically({{files.bundle, issued.bundle_pem, kPublicMode},
                                         {files.key, key_pem, kKeyMode},
                                         {files.chain, issued.chain_pem, kPublicMode}});
  wipe(key_pem);
  if (!written) {
    return fail(written.error().code == Code::kInvalidArgument ? kExitUsage : kExitRefused,
                written.error().message);
  }
  return {};
}

json::object issued_summary(const IssuedFiles& issued, const CertificateFiles& files) {
  json::object out = describe_certificate(issued.leaf, SystemClock().now());
  out.erase("remaining_seconds");
  out.erase("is_ca");
  out["key_file"] = files.key;
  out["certificate_file"] = files.chain;
  out["bundle_file"] = files.bundle;
  return out;
}

void print_issued(const Context& context, const IssuedFiles& issued,
                  const CertificateFiles& files) {
  const json::object summary = issued_summary(issued, files);
  if (context.output_mode() == OutputMode::kJson) {
    std::cout << render_json(summary);
  } else {
    const std::int64_t not_after = to_unix(issued.leaf.not_after());
    const std::string dns = display_field(summary, "dns_names");
    std::cout << render_fields({{"spiffe_id", sanitize(issued.spiffe_id)},
                                {"dns_names", dns.empty() ? "-" : dns},
                                {"serial", display_field(summary, "serial")},
                                {"not_after", format_unix_time(not_after)},
                                {"key", sanitize(files.key) + " (mode 0600)"},
                                {"certificate", sanitize(files.chain)},
                                {"bundle", sanitize(files.bundle)}});
  }
  std::cout.flush();
}

Outcome<std::optional<std::chrono::seconds>> lifetime_from(const std::string& text) {
  if (text.empty()) return std::optional<std::chrono::seconds>();
  auto lifetime = parse_lifetime(text);
  if (!lifetime) return std::unexpected(usage_failure(lifetime.error()));
  return std::optional<std::chrono::seconds>(*lifetime);
}

// ---- issue ----

Outcome<std::string> external_token(const IssueArgs& args) {
  std::string text;
  std::string source;
  if (args.token_file_option->count() > 0) {
    source = "--subject-token-file " + sanitize(args.token_file);
    auto read = read_small_file(args.token_file, kMaxTokenFileBytes);
    if (!read) return fail(kExitUsage, source + ": cannot be read or is over 64 KiB");
    text = std::move(*read);
  } else {
    source = "--subject-token-env " + sanitize(args.token_env);
    const char* value = args.token_env.empty() ? nullptr : std::getenv(args.token_env.c_str());
    if (value == nullptr || *value == '\0') {
      return fail(kExitUsage, source + ": the variable is not set or is empty");
    }
    text = value;
  }
  auto token = clean_token(text, source);
  wipe(text);
  if (!token) return std::unexpected(usage_failure(token.error()));
  return std::move(*token);
}

// The bearer token that authorises the request: an external token (file or variable),
// SIGIL_TOKEN, or a sigil token for SIGIL_CLIENT_ID with scope cert:issue.
Outcome<SecretString> issue_authorization(Context& context, const IssueArgs& args) {
  if (args.token_file_option->count() > 0 || args.token_env_option->count() > 0) {
    auto token = external_token(args);
    if (!token) return std::unexpected(token.error());
    return SecretString(std::move(*token));
  }
  const Environment& env = context.env();
  if (!env.token.empty()) return SecretString(env.token.reveal());
  if (env.client_id.empty() || env.client_secret.empty()) {
    return fail(kExitUsage,
                "no credentials to ask for a certificate: give --subject-token-file or "
                "--subject-token-env, or set SIGIL_TOKEN, or SIGIL_CLIENT_ID and "
                "SIGIL_CLIENT_SECRET");
  }
  auto meta = context.metadata();
  if (!meta) return std::unexpected(meta.error());
  const std::string issuer(meta->at("issuer").get_string());
  auto credentials = context.environment_credentials();
  if (!credentials) return std::unexpected(credentials.error());
  const std::string form = form_body({{"grant_type", "client_credentials"},
                                      {"scope", std::string(kCertIssueScope)},
                                      {"resource", issuer}});
  auto answer =
      context.post_form("/oauth2/token", *credentials, form, "get a token with scope cert:issue");
  if (!answer) return std::unexpected(answer.error());
  const json::value* token =
      answer->is_object() ? answer->get_object().if_contains("access_token") : nullptr;
  if (token == nullptr || !token->is_string() || token->get_string().empty()) {
    return fail(kExitUnreachable, "the token endpoint's answer has no access_token");
  }
  return SecretString(std::string(token->get_string()));
}

Outcome<void> run_issue(Context& context, const IssueArgs& args) {
  if (args.token_file_option->count() > 0 && args.token_env_option->count() > 0) {
    return fail(kExitUsage, "give --subject-token-file or --subject-token-env, not both");
  }
  auto files = files_from(args.files);
  if (!files) return std::unexpected(files.error());
  auto type = parse_key_type(args.key_type, true);
  if (!type) return std::unexpected(usage_failure(type.error()));
  auto lifetime = lifetime_from(args.lifetime);
  if (!lifetime) return std::unexpected(lifetime.error());
  // Every local mistake is reported before anything is generated or sent.
  if (auto probe = certificate_request_body("-", args.dns_names, *lifetime); !probe) {
    return std::unexpected(usage_failure(probe.error()));
  }

  auto token = issue_authorization(context, args);
  if (!token) return std::unexpected(token.error());
  auto key = new_key(*type);
  if (!key) return std::unexpected(key.error());
  auto body = certificate_request_body(key->csr_pem, args.dns_names, *lifetime);
  if (!body) return std::unexpected(usage_failure(body.error()));
  std::string authorization = "Bearer " + token->reveal();
  auto answer = post_json(context.url("/v1/certificates"), authorization, *body,
                          context.http_options(), "get a certificate");
  wipe(authorization);
  if (!answer) return std::unexpected(answer.error());
  auto issued = check_issued(*answer, key->key);
  if (!issued) {
    return fail(kExitUnreachable, "refusing the server's certificate: " + issued.error().message);
  }
  if (auto ok = install(*files, key->key, *issued); !ok) return ok;
  print_issued(context, *issued, *files);
  return {};
}

// ---- renew ----

// The certificate in use: the first of the chain file.
Outcome<pki::Certificate> current_certificate(const CertificateFiles& files) {
  auto text = read_small_file(files.chain, kMaxPemFileBytes);
  if (!text) return std::unexpected(usage_failure(text.error()));
  auto leaf = pki::Certificate::from_pem(*text);
  if (!leaf) return fail(kExitUsage, sanitize(files.chain) + ": not a PEM certificate");
  return std::move(*leaf);
}

// One renewal over mutual TLS with the current certificate and key; a new key each time.
Outcome<IssuedFiles> renew_once(const RenewArgs& args, const CertificateFiles& files,
                                const std::string& url) {
  auto current = current_certificate(files);
  if (!current) return std::unexpected(current.error());
  const std::vector<std::string> uris = current->uri_sans();
  if (uris.size() != 1) {
    return fail(kExitUsage, sanitize(files.chain) + ": not a workload certificate (one URI SAN)");
  }
  crypto::KeyType type = crypto::KeyType::kEcP256;
  if (!args.key_type.empty()) {
    auto parsed = parse_key_type(args.key_type, true);
    if (!parsed) return std::unexpected(usage_failure(parsed.error()));
    type = *parsed;
  } else if (auto key = current->public_key(); key && key->type() != crypto::KeyType::kRsa) {
    type = key->type();
  }
  auto lifetime = lifetime_from(args.lifetime);
  if (!lifetime) return std::unexpected(lifetime.error());
  if (!*lifetime) {
    // The same lifetime as the certificate being replaced, within what may be asked for.
    const auto current_lifetime = std::chrono::duration_cast<std::chrono::seconds>(
        current->not_after() - current->not_before());
    *lifetime = std::clamp(current_lifetime, kMinRequestedLifetime, kMaxRequestedLifetime);
  }
  const std::vector<std::string> dns =
      args.dns_names.empty() ? current->dns_sans() : args.dns_names;
  auto probe = certificate_request_body("-", dns, *lifetime);
  if (!probe) return std::unexpected(usage_failure(probe.error()));

  auto key = new_key(type);
  if (!key) return std::unexpected(key.error());
  auto body = certificate_request_body(key->csr_pem, dns, *lifetime);
  if (!body) return std::unexpected(usage_failure(body.error()));
  http::ClientOptions options;
  options.ca_file = files.bundle;
  options.cert_file = files.chain;
  options.key_file = files.key;
  options.max_response_body_bytes = 1024 * 1024;
  auto answer = post_json(url, "", *body, options, "renew the certificate");
  if (!answer) return std::unexpected(answer.error());
  auto issued = check_issued(*answer, key->key);
  if (!issued) {
    return fail(kExitUnreachable, "refusing the server's certificate: " + issued.error().message);
  }
  if (issued->spiffe_id != uris.front()) {
    return fail(kExitRefused, "refusing the server's certificate: it names " +
                                  sanitize(issued->spiffe_id) + " instead of " +
                                  sanitize(uris.front()));
  }
  if (auto ok = install(files, key->key, *issued); !ok) return std::unexpected(ok.error());
  return std::move(*issued);
}

// Sleeps until `when`, or until SIGTERM or SIGINT arrives (they are blocked, so they wait
// as pending signals, also while a renewal runs). True when a signal came.
bool sleep_until_signal(TimePoint when, const sigset_t& signals) {
  for (;;) {
    const auto left =
        std::max(std::chrono::duration_cast<std::chrono::milliseconds>(when - SystemClock().now()),
                 std::chrono::milliseconds::zero());
    timespec timeout{static_cast<time_t>(left.count() / 1000),
                     static_cast<long>(left.count() % 1000) * 1'000'000};
    if (::sigtimedwait(&signals, nullptr, &timeout) > 0) return true;
    if (errno == EINTR) continue;
    if (left == std::chrono::milliseconds::zero()) return false;
  }
}

void report_renewal(const Context& context, const IssuedFiles& issued, TimePoint next) {
  const std::int64_t not_after = to_unix(issued.leaf.not_after());
  if (context.output_mode() == OutputMode::kJson) {
    json::object line{{"event", "renewed"},
                      {"spiffe_id", issued.spiffe_id},
                      {"serial", hex_encode(issued.leaf.serial())},
                      {"not_after", not_after},
                      {"next_renewal", to_unix(next)}};
    std::cout << json::serialize(line) << std::endl;
  } else {
    std::cout << "renewed " << sanitize(issued.spiffe_id) << " serial "
              << hex_encode(issued.leaf.serial()) << ", valid until " << format_unix_time(not_after)
              << "; next renewal at " << format_unix_time(to_unix(next)) << std::endl;
  }
}

Outcome<std::string> mtls_url(const RenewArgs& args) {
  std::string addr = args.mtls_addr;
  if (addr.empty()) {
    const char* env = std::getenv("SIGIL_MTLS_ADDR");
    addr = env != nullptr && *env != '\0' ? env : std::string(kDefaultMtlsAddr);
  }
  while (!addr.empty() && addr.back() == '/') addr.pop_back();
  auto parsed = http::parse_url(addr);
  if (!parsed || !parsed->tls) {
    return fail(kExitUsage, "--mtls-addr '" + sanitize(addr) +
                                "': expected the https:// address of sigil's mutual-TLS listener");
  }
  return addr + "/v1/certificates";
}

// Renews at two thirds of each certificate's lifetime until SIGTERM or SIGINT; retries a
// failed renewal with capped backoff until the certificate expires.
Outcome<void> run_watch(const Context& context, const RenewArgs& args,
                        const CertificateFiles& files, const std::string& url) {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  auto current = current_certificate(files);
  if (!current) return std::unexpected(current.error());
  TimePoint next = renewal_time(current->not_before(), current->not_after());
  int failures = 0;
  for (;;) {
    if (sleep_until_signal(next, signals)) return {};
    auto renewed = renew_once(args, files, url);
    if (renewed) {
      failures = 0;
      current = renewed->leaf;
      next = renewal_time(current->not_before(), current->not_after());
      report_renewal(context, *renewed, next);
      continue;
    }
    // The file may have been replaced by someone else meanwhile (e.g. `cert issue`).
    if (auto reread = current_certificate(files)) current = std::move(*reread);
    const TimePoint now = SystemClock().now();
    if (now >= current->not_after()) {
      return fail(kExitRefused, renewed.error().message +
                                    "; the certificate has expired and cannot renew itself: "
                                    "get a new one with `sigil cert issue`");
    }
    if (now < renewal_time(current->not_before(), current->not_after())) {
      // A newer certificate appeared in the files: follow its schedule.
      failures = 0;
      next = renewal_time(current->not_before(), current->not_after());
      continue;
    }
    ++failures;
    const auto lifetime = std::chrono::duration_cast<std::chrono::seconds>(current->not_after() -
                                                                           current->not_before());
    next = std::min(now + retry_delay(failures, lifetime), current->not_after());
    std::cerr << "sigil: " << renewed.error().message << "; retrying at "
              << format_unix_time(to_unix(next)) << std::endl;
  }
}

Outcome<void> run_renew(Context& context, const RenewArgs& args) {
  auto files = files_from(args.files);
  if (!files) return std::unexpected(files.error());
  auto url = mtls_url(args);
  if (!url) return std::unexpected(url.error());
  if (!args.key_type.empty()) {
    if (auto type = parse_key_type(args.key_type, true); !type) {
      return std::unexpected(usage_failure(type.error()));
    }
  }
  if (auto lifetime = lifetime_from(args.lifetime); !lifetime) {
    return std::unexpected(lifetime.error());
  }
  if (args.watch) return run_watch(context, args, *files, *url);
  auto renewed = renew_once(args, *files, *url);
  if (!renewed) return std::unexpected(renewed.error());
  print_issued(context, *renewed, *files);
  return {};
}

// ---- inspect ----

Outcome<void> run_inspect(const Context& context, const std::string& path) {
  auto text = read_small_file(path, kMaxPemFileBytes);
  if (!text) return std::unexpected(usage_failure(text.error()));
  auto certificate = text->find("-----BEGIN") != std::string::npos
                         ? pki::Certificate::from_pem(*text)
                         : pki::Certificate::from_der(*text);
  if (!certificate) {
    return fail(kExitUsage, sanitize(path) + ": not a certificate (PEM or DER)");
  }
  const json::object described = describe_certificate(*certificate, SystemClock().now());
  std::cout << (context.output_mode() == OutputMode::kJson ? render_json(described)
                                                           : render_certificate(described));
  return {};
}

void add_file_flags(CLI::App& command, FileFlags& files) {
  command.add_option("--out", files.out_dir,
                     "A folder for svid.key, svid.pem and bundle.pem (default: the current one)");
  command.add_option("--cert", files.chain, "The certificate chain file (default: DIR/svid.pem)");
  command.add_option("--key", files.key, "The private key file, mode 0600 (default: DIR/svid.key)");
  command.add_option("--bundle", files.bundle, "The trust bundle file (default: DIR/bundle.pem)");
}

}  // namespace

void add_cert_commands(CLI::App& app, Context& context) {
  CLI::App* cert =
      app.add_subcommand("cert", "Workload certificates (X509-SVIDs): issue, renew, inspect");
  cert->require_subcommand(1);

  auto issue = std::make_shared<IssueArgs>();
  CLI::App* issue_cmd = cert->add_subcommand(
      "issue",
      "Generate a key here and get a certificate for it from sigil (only the CSR is sent); "
      "authorised by --subject-token-file/--subject-token-env, SIGIL_TOKEN, or "
      "SIGIL_CLIENT_ID/SIGIL_CLIENT_SECRET (scope cert:issue)");
  add_file_flags(*issue_cmd, issue->files);
  issue_cmd->add_option("--dns", issue->dns_names, "A DNS name to include (repeatable)")
      ->expected(1)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  issue_cmd->add_option("--lifetime", issue->lifetime,
                        "The lifetime wanted: 90s, 30m, 2h (the policy may shorten it)");
  issue_cmd->add_option("--key-type", issue->key_type, "P-256 (default), P-384 or Ed25519");
  issue->token_file_option =
      issue_cmd
          ->add_option("--subject-token-file", issue->token_file,
                       "Authorise with the token in FILE (e.g. a platform's OIDC token)")
          ->type_name("FILE");
  issue->token_env_option = issue_cmd
                                ->add_option("--subject-token-env", issue->token_env,
                                             "Authorise with the token in variable VAR")
                                ->type_name("VAR");
  issue_cmd->callback([&context, issue] { context.finish(run_issue(context, *issue)); });

  auto renew = std::make_shared<RenewArgs>();
  CLI::App* renew_cmd = cert->add_subcommand(
      "renew",
      "Renew the certificate over mutual TLS with the current one, with a new key; --watch "
      "keeps renewing at 2/3 of each certificate's lifetime until SIGTERM");
  add_file_flags(*renew_cmd, renew->files);
  renew_cmd
      ->add_option("--dns", renew->dns_names,
                   "A DNS name to include (repeatable; default: the current ones)")
      ->expected(1)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  renew_cmd->add_option("--lifetime", renew->lifetime,
                        "The lifetime wanted (default: the current certificate's)");
  renew_cmd->add_option("--key-type", renew->key_type,
                        "P-256, P-384 or Ed25519 (default: the current key's)");
  renew_cmd->add_option("--mtls-addr", renew->mtls_addr,
                        "sigil's mutual-TLS listener (default: SIGIL_MTLS_ADDR or " +
                            std::string(kDefaultMtlsAddr) + ")");
  renew_cmd->add_flag("--watch", renew->watch, "Keep running and renewing until SIGTERM");
  renew_cmd->callback([&context, renew] { context.finish(run_renew(context, *renew)); });

  auto inspect_file = std::make_shared<std::string>();
  CLI::App* inspect_cmd = cert->add_subcommand(
      "inspect", "Show a certificate: SPIFFE ID, DNS names, serial, validity, fingerprint");
  inspect_cmd->add_option("file", *inspect_file, "A certificate or chain file (PEM or DER)")
      ->required();
  inspect_cmd->callback(
      [&context, inspect_file] { context.finish(run_inspect(context, *inspect_file)); });
}

}  // namespace sigil::cli
