#include "http/message.hpp"

#include <algorithm>
#include <atomic>
#include <cstdio>

namespace sigil::http {
namespace {

char lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

std::optional<std::string_view> find_header(const HeaderList& headers, std::string_view name) {
  for (const auto& [n, v] : headers) {
    if (iequals(n, name)) return std::string_view(v);
  }
  return std::nullopt;
}

void append_json_string(std::string& out, std::string_view s) {
  out.push_back('"');
  for (char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(c));
          out += buf;
        } else {
          out.push_back(c);
        }
    }
  }
  out.push_back('"');
}

class FunctionTarget final : public Responder::Target {
 public:
  explicit FunctionTarget(std::function<void(Response&&)> fn) : fn_(std::move(fn)) {}
  ~FunctionTarget() override {
    if (!done_.exchange(true)) fn_(lost_response());
  }
  void respond(Response&& response) override {
    if (!done_.exchange(true)) fn_(std::move(response));
  }

 private:
  std::function<void(Response&&)> fn_;
  std::atomic<bool> done_{false};
};

}  // namespace

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(),
                                            [](char x, char y) { return lower(x) == lower(y); });
}

std::optional<std::string_view> Request::header(std::string_view name) const {
  return find_header(headers, name);
}

std::optional<std::string_view> Response::header(std::string_view name) const {
  return find_header(headers, name);
}

Response& Response::set_header(std::string name, std::string value) {
  std::erase_if(headers, [&](const auto& h) { return iequals(h.first, name); });
  headers.emplace_back(std::move(name), std::move(value));
  return *this;
}

Response Response::json(unsigned status, std::string body_text) {
  Response r;
  r.status = status;
  r.headers.emplace_back("Content-Type", "application/json");
  r.body = std::move(body_text);
  return r;
}

Response Response::text(unsigned status, std::string text) {
  Response r;
  r.status = status;
  r.headers.emplace_back("Content-Type", "text/plain; charset=utf-8");
  r.body = std::move(text);
  return r;
}

Response Response::error(unsigned status, std::string_view code, std::string_view description) {
  std::string body = "{\"error\":";
  append_json_string(body, code);
  body += ",\"error_description\":";
  append_json_string(body, description);
  body += '}';
  return json(status, std::move(body));
}

Responder Responder::from(std::function<void(Response&&)> fn) {
  return Responder(std::make_shared<FunctionTarget>(std::move(fn)));
}

Response lost_response() {
  return Response::error(500, "server_error", "the request could not be completed");
}

}  // namespace sigil::http
