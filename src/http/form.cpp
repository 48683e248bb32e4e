#include "http/form.hpp"

#include <algorithm>

#include "base/base64url.hpp"
#include "http/message.hpp"

namespace sigil::http {
namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Well-formed UTF-8 (RFC 3629): no overlongs, no surrogates, nothing above U+10FFFF.
bool valid_utf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    std::size_t n;
    unsigned lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) {
      n = 1;
    } else if (c >= 0xE0 && c <= 0xEF) {
      n = 2;
      if (c == 0xE0) lo = 0xA0;
      if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      n = 3;
      if (c == 0xF0) lo = 0x90;
      if (c == 0xF4) hi = 0x8F;
    } else {
      return false;
    }
    if (s.size() - i - 1 < n) return false;
    auto first = static_cast<unsigned char>(s[i + 1]);
    if (first < lo || first > hi) return false;
    for (std::size_t k = 2; k <= n; ++k) {
      auto cc = static_cast<unsigned char>(s[i + k]);
      if (cc < 0x80 || cc > 0xBF) return false;
    }
    i += n + 1;
  }
  return true;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Splits "Scheme credentials" into the credentials, given the expected scheme.
std::optional<std::string_view> credentials_for(std::string_view header_value,
                                                std::string_view scheme) {
  if (authorization_scheme(header_value).size() != scheme.size() ||
      !iequals(header_value.substr(0, scheme.size()), scheme)) {
    return std::nullopt;
  }
  std::string_view rest = header_value.substr(scheme.size());
  if (rest.empty() || rest.front() != ' ') return std::nullopt;
  while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
  while (!rest.empty() && rest.back() == ' ') rest.remove_suffix(1);
  if (rest.empty()) return std::nullopt;
  return rest;
}

}  // namespace

std::optional<std::string_view> Form::get(std::string_view name) const {
  for (const auto& [n, v] : params_) {
    if (n == name) return std::string_view(v);
  }
  return std::nullopt;
}

std::size_t Form::count(std::string_view name) const {
  return static_cast<std::size_t>(std::count_if(params_.begin(), params_.end(),
                                                [&](const Param& p) { return p.first == name; }));
}

std::vector<std::string> Form::duplicates() const {
  std::vector<std::string> out;
  for (std::size_t i = 0; i < params_.size(); ++i) {
    const std::string& name = params_[i].first;
    if (std::find(out.begin(), out.end(), name) != out.end()) continue;
    for (std::size_t j = i + 1; j < params_.size(); ++j) {
      if (params_[j].first == name) {
        out.push_back(name);
        break;
      }
    }
  }
  return out;
}

Result<std::string> form_url_decode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '+') {
      out.push_back(' ');
    } else if (c == '%') {
      if (i + 2 >= text.size()) {
        return std::unexpected(Error::invalid_argument("truncated percent-escape"));
      }
      int hi = hex_value(text[i + 1]);
      int lo = hex_value(text[i + 2]);
      if (hi < 0 || lo < 0) return std::unexpected(Error::invalid_argument("bad percent-escape"));
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else {
      out.push_back(c);
    }
  }
  if (out.find('\0') != std::string::npos) {
    return std::unexpected(Error::invalid_argument("NUL in form value"));
  }
  if (!valid_utf8(out)) return std::unexpected(Error::invalid_argument("form value is not UTF-8"));
  return out;
}

Result<Form> parse_form(std::string_view body) {
  std::vector<Form::Param> params;
  while (!body.empty()) {
    std::size_t amp = body.find('&');
    std::string_view segment = body.substr(0, amp);
    body = amp == std::string_view::npos ? std::string_view{} : body.substr(amp + 1);
    if (segment.empty()) continue;
    std::size_t eq = segment.find('=');
    std::string_view raw_name = segment.substr(0, eq);
    std::string_view raw_value =
        eq == std::string_view::npos ? std::string_view{} : segment.substr(eq + 1);
    if (raw_name.empty()) return std::unexpected(Error::invalid_argument("empty parameter name"));
    SIGIL_TRY(name, form_url_decode(raw_name));
    SIGIL_TRY(value, form_url_decode(raw_value));
    params.emplace_back(std::move(name), std::move(value));
  }
  return Form(std::move(params));
}

bool media_type_is(std::string_view content_type, std::string_view expected) {
  return iequals(trim(content_type.substr(0, content_type.find(';'))), expected);
}

bool is_form_urlencoded(std::string_view content_type) {
  if (!media_type_is(content_type, "application/x-www-form-urlencoded")) return false;
  std::size_t semi = content_type.find(';');
  while (semi != std::string_view::npos) {
    std::string_view rest = content_type.substr(semi + 1);
    semi = rest.find(';');
    std::string_view param = trim(rest.substr(0, semi));
    content_type = rest;
    std::size_t eq = param.find('=');
    if (eq == std::string_view::npos) continue;
    if (!iequals(trim(param.substr(0, eq)), "charset")) continue;
    std::string_view value = trim(param.substr(eq + 1));
    if (value.size() >= 2 && value.front() == '"' && value.back() == '"') {
      value = value.substr(1, value.size() - 2);
    }
    if (!iequals(value, "utf-8") && !iequals(value, "utf8") && !iequals(value, "us-ascii")) {
      return false;
    }
  }
  return true;
}

std::string_view authorization_scheme(std::string_view header_value) {
  std::size_t end = 0;
  while (end < header_value.size() && header_value[end] != ' ') ++end;
  return header_value.substr(0, end);
}

Result<BasicCredentials> parse_basic_authorization(std::string_view header_value) {
  auto encoded = credentials_for(header_value, "Basic");
  if (!encoded) return std::unexpected(Error::invalid_argument("not Basic credentials"));
  auto decoded = base64_decode(*encoded);
  if (!decoded) return std::unexpected(Error::invalid_argument("Basic credentials: bad base64"));
  SecretString joined(std::move(*decoded));
  std::string_view text = joined.reveal();
  std::size_t colon = text.find(':');
  if (colon == std::string_view::npos) {
    return std::unexpected(Error::invalid_argument("Basic credentials: no ':'"));
  }
  auto id = form_url_decode(text.substr(0, colon));
  if (!id) return std::unexpected(Error::invalid_argument("Basic credentials: bad client id"));
  if (id->empty())
    return std::unexpected(Error::invalid_argument("Basic credentials: empty client id"));
  auto secret = form_url_decode(text.substr(colon + 1));
  if (!secret) return std::unexpected(Error::invalid_argument("Basic credentials: bad secret"));
  return BasicCredentials{std::move(*id), SecretString(std::move(*secret))};
}

Result<std::string_view> parse_bearer_authorization(std::string_view header_value) {
  return parse_token_authorization(header_value, "Bearer");
}

Result<std::string_view> parse_token_authorization(std::string_view header_value,
                                                   std::string_view scheme) {
  auto token = credentials_for(header_value, scheme);
  if (!token) {
    return std::unexpected(Error::invalid_argument("not " + std::string(scheme) + " credentials"));
  }
  std::string_view t = *token;
  std::size_t i = 0;
  auto is_b64token_char = [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~' || c == '+' || c == '/';
  };
  while (i < t.size() && is_b64token_char(t[i])) ++i;
  if (i == 0) return std::unexpected(Error::invalid_argument("token: empty or bad syntax"));
  while (i < t.size() && t[i] == '=') ++i;
  if (i != t.size()) return std::unexpected(Error::invalid_argument("token: bad syntax"));
  return t;
}

}  // namespace sigil::http
