#include "cli/http_client.hpp"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>

#include <thread>

namespace sigil::cli {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using boost::system::error_code;

// Accepts one connection on 127.0.0.1, reads until `request_end` has arrived (or, when it
// is empty, until any bytes have), writes `answer`, then waits for the client to close.
class OneShotServer {
 public:
  OneShotServer(std::string answer, std::string request_end = "\r\n\r\n")
      : acceptor_(ioc_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)),
        port_(acceptor_.local_endpoint().port()) {
    thread_ = std::thread([this, answer = std::move(answer), end = std::move(request_end)] {
      tcp::socket socket(ioc_);
      error_code ec;
      acceptor_.accept(socket, ec);
      if (ec) return;
      char buf[4096];
      while (request_.empty() || (!end.empty() && request_.find(end) == std::string::npos)) {
        const std::size_t n = socket.read_some(asio::buffer(buf), ec);
        if (ec) return;
        request_.append(buf, n);
      }
      if (!answer.empty()) asio::write(socket, asio::buffer(answer), ec);
      while (!ec) socket.read_some(asio::buffer(buf), ec);
    });
  }
  ~OneShotServer() { thread_.join(); }

  std::string url(std::string_view path) const {
    return "http://127.0.0.1:" + std::to_string(port_) + std::string(path);
  }
  unsigned short port() const { return port_; }
  // Valid once the client has its answer.
  const std::string& request() const { return request_; }

 private:
  asio::io_context ioc_;
  tcp::acceptor acceptor_;
  unsigned short port_;
  std::string request_;
  std::thread thread_;
};

TEST(HttpClient, GetReturnsStatusHeadersAndBody) {
  OneShotServer server(
      "HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: 17\r\n\r\n"
      "{\"error\":\"nope\"}\n");
  auto answer = http_request("GET", server.url("/v1/clients/x?y=1"),
                             {{"Accept", "application/json"}}, "", {});
  ASSERT_TRUE(answer.has_value()) << answer.error().message;
  EXPECT_EQ(answer->status, 404u);
  EXPECT_EQ(answer->header("content-type"), "application/json");
  EXPECT_EQ(answer->header("x-missing"), std::nullopt);
  EXPECT_EQ(answer->body, "{\"error\":\"nope\"}\n");
  const std::string& request = server.request();
  EXPECT_TRUE(request.starts_with("GET /v1/clients/x?y=1 HTTP/1.1\r\n")) << request;
  EXPECT_NE(request.find("Host: 127.0.0.1:" + std::to_string(server.port()) + "\r\n"),
            std::string::npos);
  EXPECT_NE(request.find("Connection: close\r\n"), std::string::npos);
  EXPECT_NE(request.find("Accept: application/json\r\n"), std::string::npos);
}

TEST(HttpClient, PostSendsTheBodyWithItsLength) {
  OneShotServer server("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}", "grant_type=x");
  auto answer =
      http_request("POST", server.url("/oauth2/token"),
                   {{"Content-Type", "application/x-www-form-urlencoded"}}, "grant_type=x", {});
  ASSERT_TRUE(answer.has_value()) << answer.error().message;
  EXPECT_EQ(answer->status, 200u);
  EXPECT_EQ(answer->body, "{}");
  EXPECT_TRUE(server.request().starts_with("POST /oauth2/token HTTP/1.1\r\n"));
  EXPECT_NE(server.request().find("Content-Length: 12\r\n"), std::string::npos);
}

TEST(HttpClient, AnswerOverTheCapIsRefused) {
  OneShotServer server("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + std::string(100, 'x'));
  HttpOptions options;
  options.max_body_bytes = 10;
  auto answer = http_request("GET", server.url("/"), {}, "", options);
  ASSERT_FALSE(answer.has_value());
  EXPECT_EQ(answer.error().code, Code::kResourceExhausted);
}

TEST(HttpClient, NonHttpAnswerIsABadAnswer) {
  OneShotServer server("SSH-2.0-OpenSSH_9.2\r\n\r\n");
  auto answer = http_request("GET", server.url("/"), {}, "", {});
  ASSERT_FALSE(answer.has_value());
  EXPECT_EQ(answer.error().code, Code::kInternal);
}

TEST(HttpClient, SilentServerTimesOut) {
  OneShotServer server("");
  HttpOptions options;
  options.timeout = std::chrono::milliseconds(200);
  auto answer = http_request("GET", server.url("/"), {}, "", options);
  ASSERT_FALSE(answer.has_value());
  EXPECT_EQ(answer.error().code, Code::kUnavailable);
  EXPECT_EQ(answer.error().message,
            "cannot reach http://127.0.0.1:" + std::to_string(server.port()) +
                " (no answer within 200 ms)");
}

TEST(HttpClient, RefusedConnectionIsUnavailable) {
  unsigned short port = 0;
  {
    asio::io_context ioc;
    tcp::acceptor probe(ioc, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    port = probe.local_endpoint().port();
  }  // closed: nothing listens on `port` now
  auto answer = http_request("GET", "http://127.0.0.1:" + std::to_string(port) + "/", {}, "", {});
  ASSERT_FALSE(answer.has_value());
  EXPECT_EQ(answer.error().code, Code::kUnavailable);
  EXPECT_TRUE(answer.error().message.starts_with(
      "cannot reach http://127.0.0.1:" + std::to_string(port) + " ("))
      << answer.error().message;
}

TEST(HttpClient, TlsToAPlainServerFailsTheHandshake) {
  OneShotServer server("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n", "");
  auto answer =
      http_request("GET", "https://127.0.0.1:" + std::to_string(server.port()) + "/", {}, "", {});
  ASSERT_FALSE(answer.has_value());
  EXPECT_EQ(answer.error().code, Code::kUnavailable);
  EXPECT_NE(answer.error().message.find("TLS"), std::string::npos) << answer.error().message;
}

TEST(HttpClient, RefusesBadUrlsAndHeadersWithoutConnecting) {
  for (const char* url : {"", "not a url", "ftp://127.0.0.1/", "http://user:pw@127.0.0.1/",
                          "http:///path", "/relative"}) {
    auto answer = http_request("GET", url, {}, "", {});
    ASSERT_FALSE(answer.has_value()) << url;
    EXPECT_EQ(answer.error().code, Code::kInvalidArgument) << url;
  }
  auto injected = http_request("GET", "http://127.0.0.1:1/", {{"X-A", "b\r\nX-Evil: 1"}}, "", {});
  EXPECT_EQ(injected.error().code, Code::kInvalidArgument);
  auto method = http_request("FROB", "http://127.0.0.1:1/", {}, "", {});
  EXPECT_EQ(method.error().code, Code::kInvalidArgument);
  HttpOptions options;
  options.ca_file = "/nonexistent/ca.pem";
  auto ca = http_request("GET", "https://127.0.0.1:1/", {}, "", options);
  EXPECT_EQ(ca.error().code, Code::kInvalidArgument);
}

}  // namespace
}  // namespace sigil::cli
