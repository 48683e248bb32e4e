// The token service in process, without sockets: what one request costs the CPU above
// the HTTP transport, and what the audit log's group commit costs on this disk.
//
//   BM_TokenEndpointHandle  oauth::TokenEndpoint::handle: client authentication
//                           (SHA-256 + constant-time compare), grant checks, claims, ES256 sign
//   BM_AppToken             server::App::handle for POST /oauth2/token: the above plus form and
//                           Basic parsing, the audit event, metrics and the JSON response; the
//                           audit sink completes at once (no disk)
//   BM_AppIntrospect        server::App::handle for POST /oauth2/introspect (ES256 verify)
//   BM_AuditAppend          audit::FileAuditLog on a real file in the temp directory, N threads
//                           each waiting for its record to be durable: records/s, fdatasync/s,
//                           records per fdatasync (the group-commit batch)
//
// Compare with `openssl speed ecdsap256` on the same core (`taskset -c 0`).
#include <benchmark/benchmark.h>

#include <unistd.h>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>

#include "apikeys/testing/memory_store.hpp"
#include "audit/file_log.hpp"
#include "base/base64url.hpp"
#include "base/clock.hpp"
#include "http/metrics.hpp"
#include "oauth/client_registry.hpp"
#include "oauth/key_ring.hpp"
#include "oauth/revocation.hpp"
#include "oauth/settings.hpp"
#include "oauth/testing/memory_store.hpp"
#include "oauth/token_endpoint.hpp"
#include "server/app.hpp"

namespace {

namespace oauth = sigil::oauth;
namespace server = sigil::server;

const std::string kIssuer = "http://127.0.0.1:18090";
const std::string kAudience = "https://api.bench";
const std::string kMasterKey(32, '\x42');

template <typename T>
T must(sigil::Result<T> r) {
  if (!r) std::abort();
  return std::move(*r);
}

// Completes every event at once, as if the disk were infinitely fast.
class InstantSink final : public sigil::audit::Sink {
 public:
  void append(sigil::audit::Event, std::function<void(sigil::Result<void>)> done) override {
    done(sigil::Ok());
  }
};

// The server's wiring (as in `sigil serve`) over the in-memory store, with one ES256 key and
// one client allowed one scope and one audience, like the HTTP benchmark's client.
struct Service {
  Service() {
    oauth::TokenSettings settings;
    settings.issuer = kIssuer;
    keys = must(oauth::KeyRing::load(store, kMasterKey, settings));
    if (!keys->initialise(sigil::jose::Algorithm::kES256, clock.now())) std::abort();
    clients = must(oauth::ClientRegistry::load(store));
    revocations = must(oauth::RevocationList::load(store, sigil::Seconds{30}, clock.now()));
    revocation = std::make_unique<oauth::TokenRevocation>(*keys, *revocations);
    endpoint = std::make_unique<oauth::TokenEndpoint>(*clients, *keys, &policy);
    policy_admin = must(oauth::PolicyAdministration::load(store, *clients, policy));
    api_keys = must(sigil::apikeys::ApiKeyService::load(key_store, key_store));
    app = std::make_unique<server::App>(server::Services{.clock = clock,
                                                         .issuer = kIssuer,
                                                         .clients = *clients,
                                                         .keys = *keys,
                                                         .revocations = *revocations,
                                                         .revocation = *revocation,
                                                         .token_endpoint = *endpoint,
                                                         .api_keys = *api_keys,
                                                         .policy = policy,
                                                         .policy_admin = *policy_admin,
                                                         .policy_file = {},
                                                         .audit = sink,
                                                         .metrics = metrics,
                                                         .readiness_problem = {}});
    auto created = must(clients->create({.id = "bench-client",
                                         .name = "bench",
                                         .attributes = {},
                                         .allowed_scopes = {"api:read"},
                                         .allowed_audiences = {kAudience},
                                         .auth_methods = {}},
                                        clock.now()));
    client_id = created.client.id;
    secret = created.secret.reveal();
  }

  oauth::TokenRequest token_request() const {
    oauth::TokenRequest r;
    r.params = {{"grant_type", "client_credentials"}};
    r.credentials.basic = oauth::ClientCredentials{client_id, sigil::SecretString(secret)};
    return r;
  }

  sigil::http::Request http_request(std::string path, std::string body) const {
    sigil::http::Request r;
    r.method = "POST";
    r.path = r.target = std::move(path);
    r.headers = {{"Host", "127.0.0.1:18090"},
                 {"Content-Type", "application/x-www-form-urlencoded"},
                 {"Accept", "application/json"},
                 {"Authorization", "Basic " + sigil::base64_encode(client_id + ":" + secret)}};
    r.body = std::move(body);
    r.remote_address = "127.0.0.1";
    r.request_id = "0123456789abcdef";
    return r;
  }

  // Sends one request through the App; aborts unless it is answered 200 at once.
  std::string send(sigil::http::Request request) {
    std::string body;
    unsigned status = 0;
    app->handle(std::move(request), sigil::http::Responder::from([&](sigil::http::Response&& r) {
                  status = r.status;
                  body = std::move(r.body);
                }));
    if (status != 200) std::abort();
    return body;
  }

  sigil::FakeClock clock;
  oauth::testing::MemoryStore store;
  InstantSink sink;
  sigil::http::MetricsRegistry metrics;
  std::unique_ptr<oauth::KeyRing> keys;
  std::unique_ptr<oauth::ClientRegistry> clients;
  std::unique_ptr<oauth::RevocationList> revocations;
  std::unique_ptr<oauth::TokenRevocation> revocation;
  std::unique_ptr<oauth::TokenEndpoint> endpoint;
  sigil::policy::PolicyHolder policy;
  std::unique_ptr<oauth::PolicyAdministration> policy_admin;
  sigil::apikeys::testing::MemoryStore key_store;
  std::unique_ptr<sigil::apikeys::ApiKeyService> api_keys;
  std::unique_ptr<server::App> app;
  std::string client_id;
  std::string secret;
};

void BM_TokenEndpointHandle(benchmark::State& state) {
  Service s;
  const oauth::TokenRequest request = s.token_request();
  if (!s.endpoint->handle(request, s.clock.now()).ok()) std::abort();
  for (auto _ : state) {
    benchmark::DoNotOptimize(s.endpoint->handle(request, s.clock.now()));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_TokenEndpointHandle);

void BM_AppToken(benchmark::State& state) {
  Service s;
  const sigil::http::Request request =
      s.http_request("/oauth2/token", "grant_type=client_credentials");
  s.send(request);
  for (auto _ : state) benchmark::DoNotOptimize(s.send(request));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_AppToken);

void BM_AppIntrospect(benchmark::State& state) {
  Service s;
  const std::string answer =
      s.send(s.http_request("/oauth2/token", "grant_type=client_credentials"));
  // The token is the first string value of the RFC 6749 §5.1 body.
  const std::string key = "\"access_token\":\"";
  const auto start = answer.find(key);
  if (start == std::string::npos) std::abort();
  const auto end = answer.find('"', start + key.size());
  const std::string token = answer.substr(start + key.size(), end - start - key.size());
  const sigil::http::Request request = s.http_request("/oauth2/introspect", "token=" + token);
  if (s.send(request).find("\"active\":true") == std::string::npos) std::abort();
  for (auto _ : state) benchmark::DoNotOptimize(s.send(request));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_AppIntrospect);

// One log shared by the benchmark's threads: thread 0 opens it before the timed loop and
// closes it after; Google Benchmark's threads meet at the start and at the end of the loop.
struct AuditRig {
  std::filesystem::path path;
  std::unique_ptr<sigil::audit::FileAuditLog> log;
  std::atomic<std::uint64_t> syncs{0};
  std::atomic<std::uint64_t> records{0};
};
AuditRig* g_audit = nullptr;

sigil::audit::Event sample_event() {
  sigil::audit::Event e;
  e.time = sigil::from_unix(1'700'000'000);
  e.event = "token.issue";
  e.request_id = "0123456789abcdef";
  e.client_id = "bench-client";
  e.auth_method = "client_secret_basic";
  e.audience = {kAudience};
  e.scopes = {"api:read"};
  e.jti = "2f6b1c0e8a3d4e599b7a0c";
  e.source_address = "127.0.0.1";
  e.decision = sigil::audit::Decision::kAllow;
  return e;
}

void BM_AuditAppend(benchmark::State& state) {
  const bool first = state.thread_index() == 0;
  if (first) {
    g_audit = new AuditRig;
    g_audit->path = std::filesystem::temp_directory_path() /
                    ("sigil-audit-bench-" + std::to_string(::getpid()) + ".log");
    std::filesystem::remove(g_audit->path);
    // Count what the writer does: one write() and one fdatasync() per batch.
    sigil::audit::FileAuditLogOptions options;
    const sigil::audit::FileIo system = sigil::audit::FileIo::system();
    options.io.write = [write = system.write](int fd, std::string_view data) {
      g_audit->records.fetch_add(std::count(data.begin(), data.end(), '\n'));
      return write(fd, data);
    };
    options.io.sync = [sync = system.sync](int fd) {
      g_audit->syncs.fetch_add(1);
      return sync(fd);
    };
    g_audit->log = must(sigil::audit::FileAuditLog::open(g_audit->path.string(), options));
  }
  const sigil::audit::Event event = sample_event();
  bool started = false;
  std::uint64_t syncs0 = 0, records0 = 0;
  auto t0 = std::chrono::steady_clock::now();
  for (auto _ : state) {
    if (first && !started) {
      started = true;
      syncs0 = g_audit->syncs.load();
      records0 = g_audit->records.load();
      t0 = std::chrono::steady_clock::now();
    }
    if (!g_audit->log->append_sync(event)) std::abort();
  }
  state.SetItemsProcessed(state.iterations());
  if (first) {
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const double syncs = static_cast<double>(g_audit->syncs.load() - syncs0);
    const double records = static_cast<double>(g_audit->records.load() - records0);
    state.counters["fdatasync/s"] = syncs / seconds;
    state.counters["records/fdatasync"] = syncs > 0 ? records / syncs : 0;
    g_audit->log->close();
    std::filesystem::remove(g_audit->path);
    delete g_audit;
    g_audit = nullptr;
  }
}
BENCHMARK(BM_AuditAppend)->Threads(1)->Threads(8)->Threads(32)->UseRealTime();

}  // namespace
