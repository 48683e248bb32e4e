#include "http/server.hpp"
#include "base/testing/tls_files.hpp"
#include "http/tls_testing.hpp"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <mutex>
#include <thread>
#include <vector>

namespace sigil::http {
namespace {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
using tcp = boost::asio::ip::tcp;
using ClientResponse = bhttp::response<bhttp::string_body>;

// Runs a Server on 127.0.0.1, port 0, on its own thread.
class Running {
 public:
  Running(ServerOptions options, Handler handler) {
    options.address = "127.0.0.1";
    options.port = 0;
    if (options.threads == 0) options.threads = 2;
    server_ = std::make_unique<Server>(std::move(options), std::move(handler));
    auto started = server_->start();
    EXPECT_TRUE(started) << started.error().message;
    thread_ = std::thread([this] { server_->run(); });
  }
  ~Running() {
    server_->stop();
    if (thread_.joinable()) thread_.join();
  }
  Server& server() { return *server_; }
  std::uint16_t port() const { return server_->port(); }
  void join() { thread_.join(); }

 private:
  std::unique_ptr<Server> server_;
  std::thread thread_;
};

// A blocking client connection with a receive timeout, so a broken server fails the test
// instead of hanging it.
class Client {
 public:
  explicit Client(std::uint16_t port) : socket_(ioc_) {
    socket_.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port));
    timeval tv{5, 0};
    ::setsockopt(socket_.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }

  void send_raw(std::string_view bytes) {
    net::write(socket_, net::buffer(bytes.data(), bytes.size()));
  }

  ClientResponse request(bhttp::verb method, std::string target, std::string body = {},
                         std::vector<std::pair<std::string, std::string>> headers = {}) {
    bhttp::request<bhttp::string_body> req(method, target, 11);
    req.set(bhttp::field::host, "localhost");
    for (auto& [n, v] : headers) req.set(n, v);
    req.body() = std::move(body);
    req.prepare_payload();
    bhttp::write(socket_, req);
    return read();
  }

  ClientResponse read() {
    bhttp::response_parser<bhttp::string_body> parser;
    parser.body_limit(1 << 20);
    beast::error_code ec;
    bhttp::read(socket_, buffer_, parser, ec);
    last_error = ec;
    return parser.release();
  }

  // True when the server closed the connection (EOF) without sending anything more.
  bool closed_by_peer() {
    char c;
    beast::error_code ec;
    std::size_t n = socket_.read_some(net::buffer(&c, 1), ec);
    return n == 0 && ec == net::error::eof;
  }

  beast::error_code last_error;

 private:
  net::io_context ioc_;
  tcp::socket socket_;
  beast::flat_buffer buffer_;
};

Handler echo_handler() {
  return [](Request&& req, Responder respond) {
    Response r = Response::json(200, "{\"path\":\"" + req.path + "\"}");
    r.route = "/echo";
    r.headers.emplace_back("X-Query", req.query);
    r.headers.emplace_back("X-Trace", std::string(req.header("TRACEPARENT").value_or("-")));
    r.headers.emplace_back("X-Request-Id-Seen", req.request_id);
    r.headers.emplace_back("X-Body", req.body);
    r.headers.emplace_back("X-Tls", req.tls ? "yes" : "no");
    r.headers.emplace_back("X-Remote", req.remote_address);
    respond(std::move(r));
  };
}

TEST(Server, KeepAliveServesSeveralRequestsOnOneConnection) {
  Running running({}, echo_handler());
  Client client(running.port());
  for (int i = 0; i < 3; ++i) {
    auto res = client.request(bhttp::verb::post, "/a/" + std::to_string(i) + "?x=1&y=2",
                              "body" + std::to_string(i), {{"traceparent", "00-abc-def-01"}});
    ASSERT_FALSE(client.last_error) << client.last_error.message();
    EXPECT_EQ(res.result_int(), 200u);
    EXPECT_EQ(res.body(), "{\"path\":\"/a/" + std::to_string(i) + "\"}");
    EXPECT_EQ(res[bhttp::field::content_length], std::to_string(res.body().size()));
    EXPECT_EQ(res[bhttp::field::content_type], "application/json");
    EXPECT_EQ(res[bhttp::field::cache_control], "no-store");
    EXPECT_EQ(res[bhttp::field::server], "sigil");
    EXPECT_EQ(res["X-Query"], "x=1&y=2");
    EXPECT_EQ(res["X-Trace"], "00-abc-def-01");
    EXPECT_EQ(res["X-Body"], "body" + std::to_string(i));
    EXPECT_EQ(res["X-Tls"], "no");
    EXPECT_EQ(res["X-Remote"], "127.0.0.1");
    EXPECT_EQ(res["X-Request-Id"].size(), 16u);
    EXPECT_EQ(res["X-Request-Id"], res["X-Request-Id-Seen"]);
    EXPECT_TRUE(res.keep_alive());
  }
}

TEST(Server, RequestIdIsTakenFromAValidHeaderOnly) {
  Running running({}, echo_handler());
  Client client(running.port());
  auto res = client.request(bhttp::verb::get, "/", {}, {{"X-Request-Id", "abc-123_x.y"}});
  EXPECT_EQ(res["X-Request-Id"], "abc-123_x.y");
  EXPECT_EQ(res["X-Request-Id-Seen"], "abc-123_x.y");
  res = client.request(bhttp::verb::get, "/", {}, {{"X-Request-Id", "bad id<script>"}});
  EXPECT_EQ(res["X-Request-Id"].size(), 16u);
  EXPECT_NE(res["X-Request-Id"], "bad id<script>");
}

TEST(Server, ResponderCalledFromAnotherThread) {
  std::mutex mu;
  std::vector<std::thread> workers;
  Running running({}, [&](Request&& req, Responder respond) {
    std::lock_guard lock(mu);
    workers.emplace_back([respond, path = req.path] { respond(Response::text(201, path)); });
  });
  {
    Client client(running.port());
    for (int i = 0; i < 3; ++i) {
      auto res = client.request(bhttp::verb::get, "/async" + std::to_string(i));
      EXPECT_EQ(res.result_int(), 201u);
      EXPECT_EQ(res.body(), "/async" + std::to_string(i));
      EXPECT_EQ(res[bhttp::field::content_type], "text/plain; charset=utf-8");
    }
  }
  std::lock_guard lock(mu);
  for (auto& t : workers) t.join();
}

TEST(Server, SecondCallOfResponderIsIgnored) {
  Running running({}, [](Request&&, Responder respond) {
    respond(Response::text(200, "first"));
    respond(Response::text(500, "second"));
  });
  Client client(running.port());
  auto res = client.request(bhttp::verb::get, "/");
  EXPECT_EQ(res.result_int(), 200u);
  EXPECT_EQ(res.body(), "first");
  res = client.request(bhttp::verb::get, "/");
  EXPECT_EQ(res.body(), "first");
}

TEST(Server, DroppedResponderAnswers500) {
  Running running({}, [](Request&&, Responder) {});
  Client client(running.port());
  auto res = client.request(bhttp::verb::get, "/");
  EXPECT_EQ(res.result_int(), 500u);
  EXPECT_EQ(res.body(),
            R"({"error":"server_error","error_description":"the request could not be completed"})");
  // The connection stays usable.
  EXPECT_EQ(client.request(bhttp::verb::get, "/").result_int(), 500u);
}

TEST(Server, ThrowingHandlerAnswers500) {
  Running running({}, [](Request&&, Responder) { throw std::runtime_error("boom"); });
  Client client(running.port());
  EXPECT_EQ(client.request(bhttp::verb::get, "/").result_int(), 500u);
}

TEST(Server, HeaderTooLargeIs431) {
  Running running({}, echo_handler());
  Client client(running.port());
  auto res = client.request(bhttp::verb::get, "/", {}, {{"X-Big", std::string(10000, 'a')}});
  EXPECT_EQ(res.result_int(), 431u);
  EXPECT_EQ(res.body(),
            R"({"error":"invalid_request","error_description":"request header too large"})");
  EXPECT_FALSE(res.keep_alive());
  EXPECT_TRUE(client.closed_by_peer());
}

TEST(Server, BodyTooLargeIs413) {
  ServerOptions options;
  options.limits.max_body_bytes = 1000;
  Running running(std::move(options), echo_handler());
  {
    Client client(running.port());
    auto res = client.request(bhttp::verb::post, "/", std::string(1001, 'x'));
    EXPECT_EQ(res.result_int(), 413u);
    EXPECT_EQ(res.body(),
              R"({"error":"invalid_request","error_description":"request body too large"})");
    EXPECT_TRUE(client.closed_by_peer());
  }
  {
    // Chunked bodies are limited too.
    Client client(running.port());
    client.send_raw(
        "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        "3e8\r\n" +
        std::string(1000, 'x') + "\r\n10\r\n" + std::string(16, 'y') + "\r\n0\r\n\r\n");
    EXPECT_EQ(client.read().result_int(), 413u);
  }
  {
    Client client(running.port());
    auto res = client.request(bhttp::verb::post, "/", std::string(1000, 'x'));
    EXPECT_EQ(res.result_int(), 200u);
  }
}

TEST(Server, BodyLimitMayDependOnThePath) {
  ServerOptions options;
  options.limits.max_body_bytes = 1000;
  options.limits.body_limit_for = [](std::string_view path) -> std::size_t {
    return path == "/documents" ? 5000 : 1000;
  };
  Running running(std::move(options), echo_handler());
  {
    Client client(running.port());
    EXPECT_EQ(
        client.request(bhttp::verb::post, "/documents?x=1", std::string(5000, 'x')).result_int(),
        200u);
  }
  {
    Client client(running.port());
    EXPECT_EQ(client.request(bhttp::verb::post, "/documents", std::string(5001, 'x')).result_int(),
              413u);
  }
  {
    Client client(running.port());
    EXPECT_EQ(client.request(bhttp::verb::post, "/other", std::string(1001, 'x')).result_int(),
              413u);
  }
}

TEST(Server, HangupCallsTheReloadHandler) {
  std::promise<void> called;
  auto fired = called.get_future();
  ServerOptions options;
  options.address = "127.0.0.1";
  options.port = 0;
  options.threads = 1;
  Server server(std::move(options), echo_handler());
  ASSERT_TRUE(server.start());
  std::atomic<int> count{0};
  server.on_hangup([&] {
    if (count.fetch_add(1) == 0) called.set_value();
  });
  std::thread t([&] { server.run(); });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  ASSERT_EQ(::raise(SIGHUP), 0);
  EXPECT_EQ(fired.wait_for(std::chrono::seconds(5)), std::future_status::ready);
  server.stop();
  t.join();
  EXPECT_EQ(count.load(), 1);
}

TEST(Server, RejectedRequestsAreReported) {
  std::mutex mu;
  std::vector<RejectedRequest> rejected;
  ServerOptions options;
  options.limits.max_body_bytes = 1000;
  options.on_rejected = [&](const RejectedRequest& r) {
    std::lock_guard lock(mu);
    rejected.push_back(r);
  };
  Running running(std::move(options), echo_handler());
  {
    Client client(running.port());
    auto res = client.request(bhttp::verb::post, "/oauth2/token?x=1", std::string(1001, 'x'));
    EXPECT_EQ(res.result_int(), 413u);
    std::lock_guard lock(mu);
    ASSERT_EQ(rejected.size(), 1u);
    EXPECT_EQ(rejected[0].status, 413u);
    EXPECT_EQ(rejected[0].method, "POST");
    EXPECT_EQ(rejected[0].path, "/oauth2/token");
    EXPECT_EQ(rejected[0].remote_address, "127.0.0.1");
    EXPECT_EQ(rejected[0].request_id, std::string(res["X-Request-Id"]));
  }
  {
    Client client(running.port());
    client.send_raw("\x01\x02 nonsense\r\n\r\n");
    EXPECT_EQ(client.read().result_int(), 400u);
    std::lock_guard lock(mu);
    ASSERT_EQ(rejected.size(), 2u);
    EXPECT_EQ(rejected[1].status, 400u);
    EXPECT_EQ(rejected[1].method, "");
    EXPECT_EQ(rejected[1].reason, "malformed HTTP request");
  }
  {
    Client client(running.port());
    EXPECT_EQ(client.request(bhttp::verb::post, "/", "ok").result_int(), 200u);
    std::lock_guard lock(mu);
    EXPECT_EQ(rejected.size(), 2u);
  }
}

TEST(Server, GarbageIs400ThenClose) {
  Running running({}, echo_handler());
  Client client(running.port());
  client.send_raw("\x01\x02 nonsense\r\n\r\n");
  auto res = client.read();
  EXPECT_EQ(res.result_int(), 400u);
  EXPECT_EQ(res.body(),
            R"({"error":"invalid_request","error_description":"malformed HTTP request"})");
  EXPECT_TRUE(client.closed_by_peer());

  Client other(running.port());
  other.send_raw("GET / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello");
  EXPECT_EQ(other.read().result_int(), 400u);
}

TEST(Server, IdleConnectionIsClosed) {
  ServerOptions options;
  options.limits.idle_timeout = std::chrono::seconds(1);
  Running running(std::move(options), echo_handler());
  Client client(running.port());
  EXPECT_EQ(client.request(bhttp::verb::get, "/").result_int(), 200u);
  // Nothing sent: the server closes after the idle limit (the client waits up to 5 s).
  EXPECT_TRUE(client.closed_by_peer());
}

TEST(Server, ConnectionCloseIsHonoured) {
  Running running({}, echo_handler());
  Client client(running.port());
  auto res = client.request(bhttp::verb::get, "/", {}, {{"Connection", "close"}});
  EXPECT_EQ(res.result_int(), 200u);
  EXPECT_FALSE(res.keep_alive());
  EXPECT_TRUE(client.closed_by_peer());
}

TEST(Server, MaxRequestsPerConnection) {
  ServerOptions options;
  options.limits.max_requests_per_connection = 2;
  Running running(std::move(options), echo_handler());
  Client client(running.port());
  EXPECT_TRUE(client.request(bhttp::verb::get, "/").keep_alive());
  EXPECT_FALSE(client.request(bhttp::verb::get, "/").keep_alive());
  EXPECT_TRUE(client.closed_by_peer());
}

TEST(Server, PipelinedRequestsAreAnsweredInOrder) {
  Running running({}, echo_handler());
  Client client(running.port());
  client.send_raw("GET /1 HTTP/1.1\r\nHost: x\r\n\r\nGET /2 HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(client.read().body(), "{\"path\":\"/1\"}");
  EXPECT_EQ(client.read().body(), "{\"path\":\"/2\"}");
}

TEST(Server, HandlerHeadersAreSanitised) {
  Running running({}, [](Request&&, Responder respond) {
    Response r = Response::text(200, "ok");
    r.headers.emplace_back("X-Evil", "a\r\nSet-Cookie: x=1");
    r.headers.emplace_back("Bad Name", "v");
    r.headers.emplace_back("Content-Length", "999");
    r.set_header("Cache-Control", "max-age=60");
    respond(std::move(r));
  });
  Client client(running.port());
  auto res = client.request(bhttp::verb::get, "/");
  EXPECT_EQ(res.result_int(), 200u);
  EXPECT_EQ(res.body(), "ok");
  EXPECT_EQ(res[bhttp::field::content_length], "2");
  EXPECT_EQ(res.count("X-Evil"), 0u);
  EXPECT_EQ(res.count(bhttp::field::set_cookie), 0u);
  EXPECT_EQ(res[bhttp::field::cache_control], "max-age=60");
}

TEST(Server, ExpectContinue) {
  Running running({}, echo_handler());
  Client client(running.port());
  client.send_raw(
      "POST /c HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n");
  EXPECT_EQ(client.read().result_int(), 100u);
  client.send_raw("data");
  auto res = client.read();
  EXPECT_EQ(res.result_int(), 200u);
  EXPECT_EQ(res["X-Body"], "data");
}

TEST(Server, RecordsMetrics) {
  auto registry = std::make_shared<MetricsRegistry>();
  ServerOptions options;
  options.metrics = registry;
  Running running(std::move(options), [](Request&& req, Responder respond) {
    Response r = Response::text(req.path == "/known" ? 200 : 404, "x");
    if (req.path == "/known") r.route = "/known";
    respond(std::move(r));
  });
  Client client(running.port());
  client.request(bhttp::verb::get, "/known");
  client.request(bhttp::verb::post, "/known");
  client.request(bhttp::verb::get, "/random/path/1");
  client.request(bhttp::verb::get, "/random/path/2");
  std::string text = registry->render();
  EXPECT_NE(text.find("# TYPE sigil_http_requests_total counter\n"), std::string::npos);
  EXPECT_NE(
      text.find("sigil_http_requests_total{route=\"/known\",method=\"GET\",status=\"200\"} 1\n"),
      std::string::npos)
      << text;
  EXPECT_NE(
      text.find("sigil_http_requests_total{route=\"/known\",method=\"POST\",status=\"200\"} 1\n"),
      std::string::npos);
  EXPECT_NE(
      text.find("sigil_http_requests_total{route=\"other\",method=\"GET\",status=\"404\"} 2\n"),
      std::string::npos);
  EXPECT_NE(text.find("# TYPE sigil_http_request_duration_seconds histogram\n"), std::string::npos);
  EXPECT_NE(text.find("sigil_http_request_duration_seconds_count{route=\"/known\"} 2\n"),
            std::string::npos);
  EXPECT_NE(
      text.find("sigil_http_request_duration_seconds_bucket{route=\"other\",le=\"+Inf\"} 2\n"),
      std::string::npos);
}

TEST(Server, GracefulStopLetsInFlightRequestFinish) {
  std::promise<void> received;
  std::thread worker;
  ServerOptions options;
  auto running = std::make_unique<Running>(std::move(options), [&](Request&&, Responder respond) {
    worker = std::thread([respond] {
      std::this_thread::sleep_for(std::chrono::milliseconds(300));
      respond(Response::text(200, "slow but done"));
    });
    received.set_value();
  });
  Client idle(running->port());
  EXPECT_EQ(idle.request(bhttp::verb::get, "/warm-up").result_int(), 200u);
  // worker of the warm-up request
  worker.join();
  received = std::promise<void>();

  Client busy(running->port());
  busy.send_raw("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n");
  received.get_future().wait();
  running->server().stop();

  auto res = busy.read();
  EXPECT_EQ(res.result_int(), 200u);
  EXPECT_EQ(res.body(), "slow but done");
  EXPECT_FALSE(res.keep_alive());
  EXPECT_TRUE(busy.closed_by_peer());
  EXPECT_TRUE(idle.closed_by_peer());
  running->join();  // run() returned
  worker.join();
  // No longer accepting.
  net::io_context ioc;
  tcp::socket s(ioc);
  beast::error_code ec;
  s.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), running->port()), ec);
  EXPECT_TRUE(ec);
}

TEST(Server, ResponderOutlivingTheServerIsSafe) {
  std::optional<Responder> kept;
  std::promise<void> received;
  {
    ServerOptions options;
    options.drain_timeout = std::chrono::seconds(1);
    Running running(std::move(options), [&](Request&&, Responder respond) {
      kept = respond;
      received.set_value();
    });
    Client client(running.port());
    client.send_raw("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    received.get_future().wait();
  }  // stop() gives up after the drain timeout; the server is destroyed
  (*kept)(Response::text(200, "late"));
  kept.reset();
  SUCCEED();
}

TEST(Server, StartFailsOnBadAddressAndPortInUse) {
  ServerOptions bad_options;
  bad_options.address = "not-an-ip";
  Server bad(bad_options, echo_handler());
  auto r = bad.start();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Code::kInvalidArgument);

  Running running({}, echo_handler());
  ServerOptions same;
  same.address = "127.0.0.1";
  same.port = running.port();
  Server clash(same, echo_handler());
  // SO_REUSEADDR does not allow two listeners on one port.
  auto c = clash.start();
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().code, Code::kUnavailable);
}

// --- TLS ---------------------------------------------------------------------------

using testing::TlsFiles;

TEST(Server, TlsRoundTrip) {
  TlsFiles files;
  ASSERT_TRUE(files.ok) << "openssl req failed";
  ServerOptions options;
  options.tls = TlsSettings{files.cert(), files.key()};
  Running running(std::move(options), echo_handler());

  net::io_context ioc;
  ssl::context ctx(ssl::context::tls_client);
  ctx.load_verify_file(files.cert());
  ctx.set_verify_mode(ssl::verify_peer);
  beast::ssl_stream<beast::tcp_stream> stream(ioc, ctx);
  stream.set_verify_callback(ssl::host_name_verification("localhost"));
  beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(5));
  beast::get_lowest_layer(stream).connect(
      tcp::endpoint(net::ip::make_address("127.0.0.1"), running.port()));
  stream.handshake(ssl::stream_base::client);
  for (int i = 0; i < 2; ++i) {
    bhttp::request<bhttp::string_body> req(bhttp::verb::get, "/secure", 11);
    req.set(bhttp::field::host, "localhost");
    bhttp::write(stream, req);
    beast::flat_buffer buffer;
    ClientResponse res;
    bhttp::read(stream, buffer, res);
    EXPECT_EQ(res.result_int(), 200u);
    EXPECT_EQ(res["X-Tls"], "yes");
    EXPECT_EQ(res.body(), "{\"path\":\"/secure\"}");
  }
  EXPECT_GE(SSL_version(stream.native_handle()), TLS1_2_VERSION);
}

TEST(Server, TlsRejectsOldProtocolsAndPlaintext) {
  TlsFiles files;
  ASSERT_TRUE(files.ok);
  ServerOptions options;
  options.tls = TlsSettings{files.cert(), files.key()};
  Running running(std::move(options), echo_handler());

  net::io_context ioc;
  ssl::context ctx(ssl::context::tls_client);
  SSL_CTX_set_security_level(ctx.native_handle(), 0);
  SSL_CTX_set_max_proto_version(ctx.native_handle(), TLS1_1_VERSION);
  beast::ssl_stream<beast::tcp_stream> stream(ioc, ctx);
  beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(5));
  beast::get_lowest_layer(stream).connect(
      tcp::endpoint(net::ip::make_address("127.0.0.1"), running.port()));
  beast::error_code ec;
  stream.handshake(ssl::stream_base::client, ec);
  EXPECT_TRUE(ec);

  Client plain(running.port());
  plain.send_raw("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  plain.read();
  EXPECT_TRUE(plain.last_error);
}

TEST(Server, TlsStartFailsOnMissingFiles) {
  ServerOptions options;
  options.port = 0;
  options.tls = TlsSettings{"/nonexistent/cert.pem", "/nonexistent/key.pem"};
  Server server(std::move(options), echo_handler());
  auto r = server.start();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Code::kInvalidArgument);
}

// --- Mutual TLS --------------------------------------------------------------------

using tls_testing::CertSpec;
using tls_testing::Credential;
using tls_testing::Pki;

// What a mutual-TLS client saw of one connection.
struct Exchange {
  bool served = false;  // every request was answered
  unsigned status = 0;  // of the last answer
  std::string server_cert_der;
  std::size_t server_chain_length = 0;  // certificates the server sent, its own included
  bool resumed = false;
  std::shared_ptr<SSL_SESSION> session;  // after the exchange, for a resumption attempt
};

struct ClientTls {
  const Credential* credential = nullptr;  // null: present no certificate
  int max_version = 0;                     // 0: TLS 1.3
  std::string server_root_pem = {};        // set: the server's chain must verify against it
  SSL_SESSION* offer_session = nullptr;
  int requests = 1;
};

// Connects over TLS, presents the credential, sends `requests` GETs on the connection.
// A refused client certificate shows up as a failed handshake (TLS 1.2) or as a failed
// first read (TLS 1.3, where the client finishes before the server has decided).
Exchange tls_exchange(std::uint16_t port, const ClientTls& tls) {
  Exchange out;
  net::io_context ioc;
  ssl::context ctx(ssl::context::tls_client);
  if (tls.max_version != 0) SSL_CTX_set_max_proto_version(ctx.native_handle(), tls.max_version);
  beast::error_code ec;
  if (tls.credential != nullptr) {
    const std::string chain = tls.credential->chain_pem();
    const std::string key = tls.credential->key_pem();
    ctx.use_certificate_chain(net::buffer(chain), ec);
    EXPECT_FALSE(ec) << ec.message();
    ctx.use_private_key(net::buffer(key), ssl::context::pem, ec);
    EXPECT_FALSE(ec) << ec.message();
  }
  if (tls.server_root_pem.empty()) {
    ctx.set_verify_mode(ssl::verify_none);
  } else {
    ctx.add_certificate_authority(net::buffer(tls.server_root_pem), ec);
    EXPECT_FALSE(ec) << ec.message();
    ctx.set_verify_mode(ssl::verify_peer);
  }
  beast::ssl_stream<beast::tcp_stream> stream(ioc, ctx);
  SSL* native = stream.native_handle();
  if (tls.offer_session != nullptr) SSL_set_session(native, tls.offer_session);
  auto& lowest = beast::get_lowest_layer(stream);
  lowest.expires_after(std::chrono::seconds(5));
  lowest.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port), ec);
  if (ec) return out;
  stream.handshake(ssl::stream_base::client, ec);
  if (ec) return out;
  if (X509* cert = SSL_get0_peer_certificate(native)) {
    out.server_cert_der = tls_testing::Cert{std::shared_ptr<X509>(X509_dup(cert), X509_free)}.der();
  }
  if (STACK_OF(X509)* chain = SSL_get_peer_cert_chain(native)) {
    out.server_chain_length = static_cast<std::size_t>(sk_X509_num(chain));
  }
  out.resumed = SSL_session_reused(native) == 1;
  for (int i = 0; i < tls.requests; ++i) {
    bhttp::request<bhttp::string_body> req(bhttp::verb::get, "/mtls", 11);
    req.set(bhttp::field::host, "localhost");
    bhttp::write(stream, req, ec);
    if (ec) return out;
    beast::flat_buffer buffer;
    ClientResponse res;
    bhttp::read(stream, buffer, res, ec);
    if (ec) return out;
    out.status = res.result_int();
  }
  out.served = true;
  // A copy: closing without close_notify marks the connection's own session unresumable.
  out.session =
      std::shared_ptr<SSL_SESSION>(SSL_SESSION_dup(SSL_get0_session(native)), SSL_SESSION_free);
  lowest.close();
  return out;
}

constexpr int kVersions[] = {TLS1_2_VERSION, TLS1_3_VERSION};

CertSpec server_spec(const std::string& name = "localhost") {
  return {.common_name = name,
          .extended_key_usage = "serverAuth",
          .subject_alt_name = "DNS:localhost,IP:127.0.0.1"};
}

class MutualTls : public ::testing::Test {
 protected:
  // Starts a mutual-TLS listener trusting `bundle` (default: the client root).
  void listen(bool allow_self_signed = false, std::optional<std::string> bundle = {}) {
    ServerOptions options;
    options.tls = TlsSettings{};
    options.tls->identity = [id = server.identity()] { return id; };
    options.tls->client_certificates =
        ClientCertificates{bundle.value_or(client_root.cert().pem()), allow_self_signed};
    running = std::make_unique<Running>(std::move(options), [this](Request&& req, Responder r) {
      {
        std::lock_guard lock(mu);
        peers.push_back(req.peer_certificate);
      }
      r(Response::text(req.tls ? 200 : 500, "ok"));
    });
  }

  Exchange get(const Credential* credential, int max_version = 0, int requests = 1) {
    return tls_exchange(
        running->port(),
        {.credential = credential, .max_version = max_version, .requests = requests});
  }

  // The certificates the handler saw, one per request.
  std::vector<std::shared_ptr<const PeerCertificate>> seen() {
    std::lock_guard lock(mu);
    return peers;
  }

  Pki client_root = Pki::root("client root");
  Pki server_root = Pki::root("server root");
  Credential server = server_root.issue(server_spec());
  std::unique_ptr<Running> running;
  std::mutex mu;
  std::vector<std::shared_ptr<const PeerCertificate>> peers;
};

TEST_F(MutualTls, AcceptsACertificateFromTheBundleCa) {
  listen();
  const Credential client = client_root.issue({.common_name = "workload"});
  for (int version : kVersions) {
    Exchange e = get(&client, version, 2);
    ASSERT_TRUE(e.served) << version;
    EXPECT_EQ(e.status, 200u);
    EXPECT_EQ(e.server_cert_der, server.cert.der());
  }
  auto certs = seen();
  ASSERT_EQ(certs.size(), 4u);
  for (const auto& peer : certs) {
    ASSERT_NE(peer, nullptr);
    EXPECT_EQ(peer->der, client.cert.der());
    EXPECT_TRUE(peer->chain_verified);
  }
  // One PeerCertificate per connection, shared by its requests.
  EXPECT_EQ(certs[0], certs[1]);
  EXPECT_EQ(certs[2], certs[3]);
  EXPECT_NE(certs[0], certs[2]);
}

TEST_F(MutualTls, AcceptsAChainThroughAnIntermediate) {
  listen();
  const Credential client = client_root.intermediate("client issuing").issue({.common_name = "w"});
  ASSERT_EQ(client.intermediates.size(), 1u);
  for (int version : kVersions) {
    EXPECT_TRUE(get(&client, version).served) << version;
  }
  auto certs = seen();
  ASSERT_EQ(certs.size(), 2u);
  EXPECT_EQ(certs[0]->der, client.cert.der());
  EXPECT_TRUE(certs[0]->chain_verified);
}

TEST_F(MutualTls, RefusesAConnectionWithoutCertificate) {
  listen();
  for (int version : kVersions) EXPECT_FALSE(get(nullptr, version).served) << version;
  EXPECT_TRUE(seen().empty());
}

TEST_F(MutualTls, RefusesAnExpiredCertificate) {
  listen();
  const Credential client = client_root.issue({.common_name = "w",
                                               .not_before = std::chrono::hours(-48),
                                               .not_after = std::chrono::hours(-24)});
  for (int version : kVersions) EXPECT_FALSE(get(&client, version).served) << version;
  EXPECT_TRUE(seen().empty());
}

TEST_F(MutualTls, RefusesACertificateNotYetValid) {
  listen();
  const Credential client = client_root.issue({.common_name = "w",
                                               .not_before = std::chrono::hours(24),
                                               .not_after = std::chrono::hours(48)});
  for (int version : kVersions) EXPECT_FALSE(get(&client, version).served) << version;
}

TEST_F(MutualTls, RefusesAnotherCasCertificate) {
  listen();
  const Credential client = Pki::root("other root").issue({.common_name = "w"});
  for (int version : kVersions) EXPECT_FALSE(get(&client, version).served) << version;
  EXPECT_TRUE(seen().empty());
}

TEST_F(MutualTls, RefusesAChainFromAnotherRootThroughAnIntermediateOfTheSameName) {
  listen();
  // Same issuer name as a real intermediate would have, but no path to the bundle's root.
  const Credential client =
      Pki::root("client root").intermediate("client issuing").issue({.common_name = "w"});
  for (int version : kVersions) EXPECT_FALSE(get(&client, version).served) << version;
}

TEST_F(MutualTls, RefusesACertificateForServersOnly) {
  listen();
  const Credential client =
      client_root.issue({.common_name = "w", .extended_key_usage = "serverAuth"});
  for (int version : kVersions) EXPECT_FALSE(get(&client, version).served) << version;
}

TEST_F(MutualTls, IntermediateInTheBundleIsNotATrustAnchor) {
  const Pki issuing = client_root.intermediate("client issuing");
  listen(false, issuing.cert().pem());
  const Credential client = issuing.issue({.common_name = "w"});
  for (int version : kVersions) EXPECT_FALSE(get(&client, version).served) << version;
}

TEST_F(MutualTls, RefusesASelfSignedCertificateByDefault) {
  listen();
  const Credential client = tls_testing::self_signed({.common_name = "self"});
  for (int version : kVersions) EXPECT_FALSE(get(&client, version).served) << version;
}

TEST_F(MutualTls, AcceptsALoneSelfSignedCertificateWhenAllowed) {
  listen(true);
  const Credential self = tls_testing::self_signed({.common_name = "self"});
  const Credential issued = client_root.issue({.common_name = "workload"});
  for (int version : kVersions) {
    EXPECT_TRUE(get(&self, version).served) << version;
    EXPECT_TRUE(get(&issued, version).served) << version;
  }
  auto certs = seen();
  ASSERT_EQ(certs.size(), 4u);
  for (std::size_t i = 0; i < certs.size(); i += 2) {
    EXPECT_EQ(certs[i]->der, self.cert.der());
    EXPECT_FALSE(certs[i]->chain_verified);
    EXPECT_EQ(certs[i + 1]->der, issued.cert.der());
    EXPECT_TRUE(certs[i + 1]->chain_verified);
  }
}

// Fit for client authentication in every other way (digitalSignature), so that only
// being a CA refuses them.
TEST_F(MutualTls, RefusesASelfSignedCaCertificateEvenWhenAllowed) {
  listen(true);
  const Credential self = tls_testing::self_signed(
      {.common_name = "self ca", .ca = true, .key_usage = "critical,digitalSignature,keyCertSign"});
  for (int version : kVersions) EXPECT_FALSE(get(&self, version).served) << version;
}

// As `openssl req -x509` makes them by default: basicConstraints cA, no key usage.
TEST_F(MutualTls, RefusesASelfSignedCaCertificateWithoutKeyUsageEvenWhenAllowed) {
  listen(true);
  const Credential self =
      tls_testing::self_signed({.common_name = "self ca", .ca = true, .key_usage = ""});
  for (int version : kVersions) EXPECT_FALSE(get(&self, version).served) << version;
}

TEST_F(MutualTls, RefusesASelfSignedCertificateThatMaySignCertificatesEvenWhenAllowed) {
  listen(true);
  const Credential self = tls_testing::self_signed(
      {.common_name = "self", .key_usage = "critical,digitalSignature,keyCertSign"});
  for (int version : kVersions) EXPECT_FALSE(get(&self, version).served) << version;
}

TEST_F(MutualTls, RefusesASelfSignedCertificateWithAChainEvenWhenAllowed) {
  listen(true);
  Credential self = tls_testing::self_signed({.common_name = "self"});
  self.intermediates.push_back(client_root.cert());
  for (int version : kVersions) EXPECT_FALSE(get(&self, version).served) << version;
}

TEST_F(MutualTls, RefusesAnExpiredSelfSignedCertificateEvenWhenAllowed) {
  listen(true);
  const Credential self = tls_testing::self_signed({.common_name = "self",
                                                    .not_before = std::chrono::hours(-48),
                                                    .not_after = std::chrono::hours(-24)});
  for (int version : kVersions) EXPECT_FALSE(get(&self, version).served) << version;
}

TEST_F(MutualTls, RefusesAnotherCasCertificateEvenWhenSelfSignedAreAllowed) {
  listen(true);
  const Credential client = Pki::root("other root").issue({.common_name = "w"});
  for (int version : kVersions) EXPECT_FALSE(get(&client, version).served) << version;
}

TEST_F(MutualTls, SessionsAreNotResumed) {
  listen();
  const Credential client = client_root.issue({.common_name = "workload"});
  for (int version : kVersions) {
    Exchange first = get(&client, version);
    ASSERT_TRUE(first.served) << version;
    ASSERT_NE(first.session, nullptr);
    Exchange second = tls_exchange(
        running->port(),
        {.credential = &client, .max_version = version, .offer_session = first.session.get()});
    EXPECT_TRUE(second.served) << version;
    EXPECT_FALSE(second.resumed) << version;
  }
  // Each connection proved its certificate: a PeerCertificate of its own.
  auto certs = seen();
  ASSERT_EQ(certs.size(), 4u);
  EXPECT_NE(certs[0], certs[1]);
}

TEST_F(MutualTls, PlainTlsListenerCarriesNoPeerCertificate) {
  ServerOptions options;
  options.tls = TlsSettings{};
  options.tls->identity = [id = server.identity()] { return id; };
  running = std::make_unique<Running>(std::move(options), [this](Request&& req, Responder r) {
    std::lock_guard lock(mu);
    peers.push_back(req.peer_certificate);
    r(Response::text(200, "ok"));
  });
  const Credential client = client_root.issue({.common_name = "workload"});
  EXPECT_TRUE(get(&client).served);
  EXPECT_TRUE(get(nullptr).served);
  auto certs = seen();
  ASSERT_EQ(certs.size(), 2u);
  EXPECT_EQ(certs[0], nullptr);
  EXPECT_EQ(certs[1], nullptr);
}

Result<void> start_with(TlsSettings tls) {
  ServerOptions options;
  options.port = 0;
  options.tls = std::move(tls);
  Server server(std::move(options), echo_handler());
  return server.start();
}

TEST(MutualTlsStart, FailsWithoutACertificateInTheTrustBundle) {
  const Credential server = Pki::root("server root").issue(server_spec());
  for (const char* bundle : {"", "not a certificate",
                             "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"}) {
    TlsSettings tls;
    tls.identity = [id = server.identity()] { return id; };
    tls.client_certificates = ClientCertificates{bundle, false};
    auto r = start_with(std::move(tls));
    ASSERT_FALSE(r) << bundle;
    EXPECT_EQ(r.error().code, Code::kInvalidArgument) << bundle;
  }
}

TEST(MutualTlsStart, FailsOnAMalformedCertificateAfterAGoodOne) {
  const Pki root = Pki::root("client root");
  const Credential server = Pki::root("server root").issue(server_spec());
  TlsSettings tls;
  tls.identity = [id = server.identity()] { return id; };
  tls.client_certificates = ClientCertificates{
      root.cert().pem() + "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", false};
  auto r = start_with(std::move(tls));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Code::kInvalidArgument);
}

// --- Server identity -----------------------------------------------------------------

TEST(TlsIdentity, FromPemAcceptsAChainAndItsKey) {
  const Credential leaf = Pki::root("r").intermediate("i").issue(server_spec());
  auto id = TlsIdentity::from_pem(leaf.chain_pem(), leaf.key_pem());
  ASSERT_TRUE(id) << id.error().message;
  ASSERT_NE(*id, nullptr);
  EXPECT_EQ(sk_X509_num((*id)->impl().intermediates.get()), 1);
}

TEST(TlsIdentity, FromPemRefusesNoCertificate) {
  const Credential leaf = Pki::root("r").issue(server_spec());
  for (const std::string& chain : {std::string(), leaf.key_pem(), std::string("junk")}) {
    auto id = TlsIdentity::from_pem(chain, leaf.key_pem());
    ASSERT_FALSE(id);
    EXPECT_EQ(id.error().code, Code::kInvalidArgument);
  }
}

TEST(TlsIdentity, FromPemRefusesAMalformedCertificate) {
  const Credential leaf = Pki::root("r").issue(server_spec());
  auto id = TlsIdentity::from_pem(
      leaf.cert.pem() + "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
      leaf.key_pem());
  ASSERT_FALSE(id);
  EXPECT_EQ(id.error().code, Code::kInvalidArgument);
}

TEST(TlsIdentity, FromPemRefusesNoKey) {
  const Credential leaf = Pki::root("r").issue(server_spec());
  for (const std::string& key : {std::string(), leaf.cert.pem(), std::string("junk")}) {
    auto id = TlsIdentity::from_pem(leaf.chain_pem(), key);
    ASSERT_FALSE(id);
    EXPECT_EQ(id.error().code, Code::kInvalidArgument);
  }
}

TEST(TlsIdentity, FromPemRefusesAnEncryptedKey) {
  const Credential leaf = Pki::root("r").issue(server_spec());
  auto id =
      TlsIdentity::from_pem(leaf.chain_pem(), tls_testing::key_pem(leaf.key.get(), "passphrase"));
  ASSERT_FALSE(id);
  EXPECT_EQ(id.error().code, Code::kInvalidArgument);
}

TEST(TlsIdentity, FromPemRefusesAKeyOfAnotherCertificate) {
  const Pki root = Pki::root("r");
  const Credential a = root.issue(server_spec());
  const Credential b = root.issue(server_spec());
  auto id = TlsIdentity::from_pem(a.chain_pem(), b.key_pem());
  ASSERT_FALSE(id);
  EXPECT_EQ(id.error().code, Code::kInvalidArgument);
}

// The identity a provider hands out, replaceable while the server runs.
class IdentitySlot {
 public:
  void set(std::shared_ptr<const TlsIdentity> id) {
    std::lock_guard lock(mu_);
    id_ = std::move(id);
  }
  std::shared_ptr<const TlsIdentity> get() {
    std::lock_guard lock(mu_);
    return id_;
  }

 private:
  std::mutex mu_;
  std::shared_ptr<const TlsIdentity> id_;
};

TEST(TlsIdentity, ARenewedCertificateIsServedWithoutRestart) {
  const Pki root = Pki::root("server root");
  const Pki issuing = root.intermediate("server issuing");
  const Credential first = issuing.issue(server_spec());
  const Credential renewed = issuing.issue(server_spec());
  auto slot = std::make_shared<IdentitySlot>();
  slot->set(first.identity());
  ServerOptions options;
  // Files are ignored when an identity provider is set.
  options.tls = TlsSettings{"/nonexistent/cert.pem", "/nonexistent/key.pem"};
  options.tls->identity = [slot] { return slot->get(); };
  Running running(std::move(options), echo_handler());

  for (int version : kVersions) {
    slot->set(first.identity());
    Exchange a = tls_exchange(running.port(),
                              {.max_version = version, .server_root_pem = root.cert().pem()});
    ASSERT_TRUE(a.served) << version;
    EXPECT_EQ(a.server_cert_der, first.cert.der());
    // The intermediate is sent with the leaf, so a client holding the root verifies.
    EXPECT_EQ(a.server_chain_length, 2u);

    slot->set(renewed.identity());
    Exchange b = tls_exchange(running.port(),
                              {.max_version = version, .server_root_pem = root.cert().pem()});
    ASSERT_TRUE(b.served) << version;
    EXPECT_EQ(b.server_cert_der, renewed.cert.der());
  }
}

TEST(TlsIdentity, ProviderWithNothingToServeFailsTheHandshake) {
  const Credential server = Pki::root("server root").issue(server_spec());
  auto slot = std::make_shared<IdentitySlot>();
  slot->set(server.identity());
  ServerOptions options;
  options.tls = TlsSettings{};
  options.tls->identity = [slot] { return slot->get(); };
  Running running(std::move(options), echo_handler());
  ASSERT_TRUE(tls_exchange(running.port(), {}).served);
  slot->set(nullptr);
  EXPECT_FALSE(tls_exchange(running.port(), {}).served);
}

TEST(TlsIdentity, ThrowingProviderFailsTheHandshake) {
  const Credential server = Pki::root("server root").issue(server_spec());
  auto calls = std::make_shared<std::atomic<int>>(0);
  ServerOptions options;
  options.tls = TlsSettings{};
  options.tls->identity = [id = server.identity(), calls]() -> std::shared_ptr<const TlsIdentity> {
    if (calls->fetch_add(1) > 0) throw std::runtime_error("renewal broken");
    return id;
  };
  Running running(std::move(options), echo_handler());
  EXPECT_FALSE(tls_exchange(running.port(), {}).served);
  EXPECT_GE(calls->load(), 2);
}

TEST(TlsIdentity, StartFailsWhenTheProviderHasNothingToServe) {
  TlsSettings tls;
  tls.identity = [] { return std::shared_ptr<const TlsIdentity>(); };
  auto r = start_with(std::move(tls));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Code::kInvalidArgument);
}

}  // namespace
}  // namespace sigil::http
