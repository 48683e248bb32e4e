// sigil serve: opens the data folder, wires the services together and serves HTTP until
// SIGTERM/SIGINT, then drains in-flight requests and the audit log.
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <condition_variable>
#include <filesystem>
#include <iostream>
#include <mutex>
#include <stop_token>
#include <thread>

#include "apikeys/service.hpp"
#include "audit/file_log.hpp"
#include "ca/authority.hpp"
#include "http/server.hpp"
#include "oauth/client_authentication.hpp"
#include "oauth/client_registry.hpp"
#include "oauth/key_ring.hpp"
#include "oauth/policy_admin.hpp"
#include "oauth/revocation.hpp"
#include "oauth/token_endpoint.hpp"
#include "server/app.hpp"
#include "server/commands.hpp"
#include "server/data_dir.hpp"
#include "server/key_fetcher.hpp"
#include "server/log_text.hpp"
#include "server/own_certificate.hpp"
#include "server/policy_file.hpp"
#include "server/settings.hpp"
#include "store/sqlite/sqlite_store.hpp"

namespace sigil::server {
namespace {

void set_up_logging(const Config& config) {
  auto logger = spdlog::stderr_logger_mt("sigil");
  // One JSON object per line; messages never carry secrets or tokens.
  logger->set_pattern(R"({"time":"%Y-%m-%dT%H:%M:%S.%eZ","level":"%l","msg":"%v"})",
                      spdlog::pattern_time_type::utc);
  logger->set_level(spdlog::level::from_str(config.log_level));
  spdlog::set_default_logger(logger);
}

int fail(std::string_view what, const Error& e) {
  std::cerr << "sigil: " << what << ": " << e.message << "\n";
  return 1;
}

// "a, b,c" -> {"a", "b", "c"}.
std::vector<std::string> split_names(std::string_view text) {
  std::vector<std::string> names;
  while (!text.empty()) {
    const auto comma = text.find(',');
    std::string_view name = text.substr(0, comma);
    while (!name.empty() && name.front() == ' ') name.remove_prefix(1);
    while (!name.empty() && name.back() == ' ') name.remove_suffix(1);
    if (!name.empty()) names.emplace_back(name);
    text = comma == std::string_view::npos ? std::string_view{} : text.substr(comma + 1);
  }
  return names;
}

// The mutual-TLS listener's base URL: mtls_url, or https://<first DNS name>:<port>.
std::string mtls_base_url(const Config& config) {
  if (config.mtls_listen.empty()) return "";
  if (!config.mtls_url.empty()) return config.mtls_url;
  const auto names = split_names(config.mtls_dns_names);
  const std::string host = names.empty() ? "localhost" : names.front();
  return "https://" + host + ":" + config.mtls_listen.substr(config.mtls_listen.rfind(':') + 1);
}

}  // namespace

int run_serve(const Config& config) {
  set_up_logging(config);
  const DataPaths paths = data_paths(config.data_dir);
  std::error_code ec;
  if (!std::filesystem::exists(paths.database, ec)) {
    std::cerr << "sigil: " << paths.dir << " is not initialised; run `sigil init --data "
              << paths.dir << " --issuer URL` first\n";
    return 1;
  }
  auto options = server_options(config);
  if (!options) return fail("bad listen address", options.error());

  auto store = store::sqlite::SqliteStore::open(paths.database);
  if (!store) return fail("cannot open the store", store.error());
  std::string issuer = config.issuer;
  if (issuer.empty()) {
    auto stored = (*store)->get_setting("issuer");
    if (!stored || !*stored) {
      std::cerr << "sigil: no issuer is stored in " << paths.database << "; pass --issuer URL\n";
      return 1;
    }
    issuer = **stored;
  }
  auto master_key = load_master_key(paths);
  if (!master_key) return fail("cannot load the master key", master_key.error());

  SystemClock clock;
  const oauth::TokenSettings settings = token_settings(config, issuer);
  auto keys = oauth::KeyRing::load(**store, master_key->reveal(), settings);
  if (!keys) return fail("cannot load the signing keys", keys.error());
  auto clients = oauth::ClientRegistry::load(**store);
  if (!clients) return fail("cannot load the clients", clients.error());
  auto revocations = oauth::RevocationList::load(**store, settings.leeway, clock.now());
  if (!revocations) return fail("cannot load the revocations", revocations.error());
  auto audit_log = audit::FileAuditLog::open(paths.audit_log);
  if (!audit_log) return fail("cannot open the audit log", audit_log.error());

  auto authority = ca::CertificateAuthority::load(**store, **store, master_key->reveal());
  if (!authority) return fail("cannot load the certificate authority", authority.error());

  auto api_keys = apikeys::ApiKeyService::load(**store, **store);
  if (!api_keys) return fail("cannot load the API keys", api_keys.error());

  policy::PolicyHolder policy;
  // Services that authenticate with tls_client_auth present their SPIFFE ID, in the CA's
  // trust domain.
  const auto trust_domain = (*authority)->trust_domain();
  auto policy_admin = oauth::PolicyAdministration::load(**store, **clients, policy,
                                                        trust_domain ? trust_domain->name() : "");
  if (!policy_admin) return fail("cannot load the policy", policy_admin.error());
  std::optional<PolicyFile> policy_file;
  if (!config.policy_file.empty()) {
    policy_file.emplace(config.policy_file, **policy_admin, **audit_log, clock);
    if (auto loaded = policy_file->reload(); !loaded) {
      std::cerr << "sigil: the policy file is refused:\n" << loaded.error().message;
      if (!loaded.error().message.ends_with('\n')) std::cerr << "\n";
      return 1;
    }
  }

  oauth::TokenRevocation revocation(**keys, **revocations);
  // Signed assertions (client assertions for private_key_jwt, external tokens): keys
  // published at a URL are fetched and cached; each assertion is accepted once. A client
  // assertion may name the issuer or the endpoint it is sent to (RFC 7523 §3).
  KeyFetcher key_fetcher(clock, {.ca_file = config.fetch_ca_file});
  oauth::ReplayCache replays;
  const std::string mtls_url = mtls_base_url(config);
  std::vector<std::string> assertion_audiences = {
      issuer, issuer + "/oauth2/token", issuer + "/oauth2/introspect", issuer + "/oauth2/revoke"};
  if (!mtls_url.empty()) {
    // RFC 8705 §5: the endpoints' mutual-TLS aliases are endpoints too.
    for (const char* path : {"/oauth2/token", "/oauth2/introspect", "/oauth2/revoke"}) {
      assertion_audiences.push_back(mtls_url + path);
    }
  }
  const oauth::AssertionContext assertions{
      .keys = &key_fetcher,
      .replays = &replays,
      .audiences = std::move(assertion_audiences),
      .leeway = settings.leeway,
  };
  // The same assertion context serves the JWT bearer and token exchange grants (trusted
  // issuers' keys, replayed jtis); the revocations let exchange check sigil's own tokens.
  oauth::TokenEndpoint token_endpoint(**clients, **keys, &policy, &assertions, &**revocations);
  auto metrics = std::make_shared<http::MetricsRegistry>();
  auto* store_ptr = store->get();
  // Certificate issuance waits on a durable commit: its own threads, as many as the cores
  // (at least two, so one waiting on the disk leaves one signing), 256 requests queued.
  BlockingWork blocking(std::max(2u, std::thread::hardware_concurrency()), 256);
  App app(Services{
      .clock = clock,
      .issuer = issuer,
      .clients = **clients,
      .keys = **keys,
      .revocations = **revocations,
      .revocation = revocation,
      .token_endpoint = token_endpoint,
      .assertions = &assertions,
      .api_keys = **api_keys,
      .policy = policy,
      .policy_admin = **policy_admin,
      .policy_file = config.policy_file,
      .audit = **audit_log,
      .metrics = *metrics,
      .ca = authority->get(),
      .certificate_records = store->get(),
      .mtls_url = mtls_url,
      .blocking = &blocking,
      .readiness_problem = [store_ptr]() -> std::string {
        auto probe = store_ptr->get_setting("issuer");
        return probe ? "" : "store: " + probe.error().message;
      },
  });

  options->metrics = metrics;
  // Policy documents are bigger than any other request.
  options->limits.body_limit_for = [limit = options->limits.max_body_bytes,
                                    policy_limit = config.max_policy_bytes](std::string_view path) {
    return path == "/v1/policy" || path == "/v1/policy/plan" ? std::max(limit, policy_limit)
                                                             : limit;
  };
  options->on_rejected = [&app](const http::RejectedRequest& rejected) {
    app.record_rejection(rejected);
  };
  http::Server server(*options, [&app](http::Request&& request, http::Responder respond) {
    app.handle(std::move(request), std::move(respond));
  });
  if (auto started = server.start(); !started)
    return fail("cannot listen on " + config.listen, started.error());

  // The mutual-TLS listener: same application, client certificates required.
  std::unique_ptr<OwnCertificate> own_certificate;
  std::unique_ptr<http::Server> mtls_server;
  if (!config.mtls_listen.empty()) {
    auto mtls_options = mtls_server_options(config);
    if (!mtls_options) return fail("bad mtls_listen", mtls_options.error());
    if (!(*authority)->ready(clock.now())) {
      std::cerr << "sigil: mtls_listen needs the certificate authority; run `sigil ca init --data "
                << paths.dir << " --trust-domain DOMAIN` first\n";
      return 1;
    }
    if (config.mtls_cert.empty()) {
      auto own =
          OwnCertificate::issue(**authority, split_names(config.mtls_dns_names), clock.now());
      if (!own) return fail("cannot issue sigil's own certificate", own.error());
      own_certificate = std::move(*own);
      mtls_options->tls->identity = [own = own_certificate.get()] { return own->current(); };
    }
    // Roots and intermediates: a client that sends only its own certificate is still
    // verified.
    std::string trusted;
    for (const auto& certificate : (*authority)->trusted_certificates(clock.now())) {
      trusted += certificate.pem();
    }
    mtls_options->tls->client_certificates = http::ClientCertificates{
        .trust_bundle_pem = std::move(trusted),
        .allow_self_signed = config.mtls_allow_self_signed,
    };
    mtls_options->metrics = metrics;
    mtls_options->limits.body_limit_for = options->limits.body_limit_for;
    mtls_options->on_rejected = options->on_rejected;
    mtls_server = std::make_unique<http::Server>(
        *mtls_options, [&app](http::Request&& request, http::Responder respond) {
          app.handle(std::move(request), std::move(respond));
        });
    if (auto started = mtls_server->start(); !started)
      return fail("cannot listen on " + config.mtls_listen, started.error());
    mtls_server->stop_on_signals();
    spdlog::info("mutual TLS on https://{}:{}", json_safe(mtls_options->address),
                 mtls_server->port());
    std::cout << "sigil: mutual TLS on https://" << mtls_options->address << ":"
              << mtls_server->port() << std::endl;
  }
  server.stop_on_signals();
  if (policy_file) {
    policy_file->watch();
    server.on_hangup([&policy_file] { policy_file->wake(); });
  }

  const std::string scheme = options->tls ? "https" : "http";
  spdlog::info("serving on {}://{}:{} issuer={}", scheme, json_safe(options->address),
               server.port(), json_safe(issuer));
  std::cout << "sigil: serving on " << scheme << "://" << options->address << ":" << server.port()
            << " (issuer " << issuer << "); Ctrl-C stops" << std::endl;
  // Last-use times of API keys are batched in memory and written once a second; sigil's
  // own certificate is renewed when due.
  std::jthread last_used_writer([&api_keys, &own_certificate, &clock, &authority,
                                 &audit_log](std::stop_token stop) {
    std::mutex mu;
    std::condition_variable_any wake;
    std::unique_lock lock(mu);
    while (!stop.stop_requested()) {
      wake.wait_for(lock, stop, std::chrono::seconds(1), [] { return false; });
      if (auto flushed = (*api_keys)->flush_last_used(); !flushed) {
        spdlog::warn("cannot record API key last-use times: {}",
                     json_safe(flushed.error().message));
      }
      // The intermediate is rotated at two thirds of its life (with sigil's own root).
      if (auto rotated = (*authority)->rotate_if_due({}, clock.now()); !rotated) {
        spdlog::warn("cannot rotate the intermediate CA: {}", json_safe(rotated.error().message));
      } else if (*rotated) {
        spdlog::info("rotated the intermediate CA: {} signs from now", (**rotated).record.id);
        audit::Event e;
        e.time = clock.now();
        e.event = "ca.rotate";
        e.client_id = "sigil";
        e.subject = (**rotated).record.id;
        e.decision = audit::Decision::kAllow;
        e.detail = "automatic: the previous intermediate passed two thirds of its life";
        (*audit_log)->append(std::move(e), [](Result<void>) {});
      }
      if (own_certificate) {
        if (auto renewed = own_certificate->renew_if_due(clock.now()); !renewed) {
          spdlog::warn("cannot renew sigil's own certificate: {}",
                       json_safe(renewed.error().message));
        } else if (*renewed) {
          spdlog::info("renewed sigil's own certificate");
        }
      }
    }
  });
  std::thread mtls_thread;
  if (mtls_server) mtls_thread = std::thread([&mtls_server] { mtls_server->run(); });
  server.run();
  if (mtls_server) {
    mtls_server->stop();
    mtls_thread.join();
  }
  blocking.stop();  // what was accepted is answered (or dropped with the connection)
  last_used_writer.request_stop();
  last_used_writer.join();
  spdlog::info("stopped; draining the audit log");
  (*audit_log)->close();
  spdlog::info("stopped");
  return 0;
}

}  // namespace sigil::server
