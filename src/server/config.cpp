#include "server/config.hpp"

#include <yaml-cpp/yaml.h>

#include <unistd.h>
#include <charconv>
#include <functional>
#include <string_view>

#include <boost/url/parse.hpp>

extern char** environ;

namespace sigil::server {
namespace {

// One row per setting: its name and how to store a text value into Config.
struct Setting {
  std::string_view name;
  std::function<Result<void>(Config&, const std::string&)> assign;
};

Result<std::int64_t> parse_int(std::string_view name, const std::string& text, std::int64_t min,
                               std::int64_t max) {
  std::int64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size() || value < min || value > max) {
    return std::unexpected(Error::invalid_argument(
        std::string(name) + ": expected a whole number from " + std::to_string(min) + " to " +
        std::to_string(max) + ", got '" + text + "'"));
  }
  return value;
}

template <typename T>
Setting number(std::string_view name, T Config::*field, std::int64_t min, std::int64_t max) {
  return {name, [=](Config& c, const std::string& v) -> Result<void> {
            SIGIL_TRY(n, parse_int(name, v, min, max));
            c.*field = static_cast<T>(n);
            return Ok();
          }};
}

Setting text(std::string_view name, std::string Config::*field) {
  return {name, [=](Config& c, const std::string& v) -> Result<void> {
            c.*field = v;
            return Ok();
          }};
}

Setting flag(std::string_view name, bool Config::*field) {
  return {name, [=](Config& c, const std::string& v) -> Result<void> {
            if (v == "true" || v == "1" || v == "yes") {
              c.*field = true;
            } else if (v == "false" || v == "0" || v == "no") {
              c.*field = false;
            } else {
              return std::unexpected(Error::invalid_argument(
                  std::string(name) + ": expected true or false, got '" + v + "'"));
            }
            return Ok();
          }};
}

const std::vector<Setting>& settings() {
  static const std::vector<Setting> table = {
      text("data", &Config::data_dir),
      text("listen", &Config::listen),
      text("issuer", &Config::issuer),
      number("threads", &Config::threads, 0, 256),
      number("token_lifetime", &Config::token_lifetime, 1, 86400),
      number("max_token_lifetime", &Config::max_token_lifetime, 1, 86400),
      number("leeway", &Config::leeway, 0, 600),
      text("signing_alg", &Config::signing_alg),
      number("key_propagation_delay", &Config::key_propagation_delay, 0, 30 * 86400),
      text("tls_cert", &Config::tls_cert),
      text("tls_key", &Config::tls_key),
      number("max_body_bytes", &Config::max_body_bytes, 1024, 16 * 1024 * 1024),
      number("max_header_bytes", &Config::max_header_bytes, 1024, 1024 * 1024),
      number("idle_timeout", &Config::idle_timeout, 1, 3600),
      text("log_level", &Config::log_level),
      text("policy", &Config::policy_file),
      number("max_policy_bytes", &Config::max_policy_bytes, 1024, 256 * 1024 * 1024),
      text("fetch_ca_file", &Config::fetch_ca_file),
      text("mtls_listen", &Config::mtls_listen),
      text("mtls_dns_names", &Config::mtls_dns_names),
      flag("mtls_allow_self_signed", &Config::mtls_allow_self_signed),
      text("mtls_url", &Config::mtls_url),
      text("mtls_cert", &Config::mtls_cert),
      text("mtls_key", &Config::mtls_key),
  };
  return table;
}

const Setting* find_setting(std::string_view name) {
  for (const auto& s : settings()) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

std::string env_name(std::string_view setting) {
  std::string out = "SIGIL_";
  for (char c : setting) out += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

Result<void> apply_file(Config& config, const std::string& file) {
  YAML::Node root;
  try {
    root = YAML::LoadFile(file);
  } catch (const YAML::BadFile&) {
    return std::unexpected(Error::invalid_argument("config file " + file + ": cannot be read"));
  } catch (const YAML::Exception& e) {
    return std::unexpected(Error::invalid_argument("config file " + file + ": " + e.what()));
  }
  if (root.IsNull()) return Ok();
  if (!root.IsMap()) {
    return std::unexpected(
        Error::invalid_argument("config file " + file + ": expected a mapping of settings"));
  }
  for (const auto& entry : root) {
    const std::string key = entry.first.as<std::string>("");
    const int line = entry.first.Mark().line + 1;
    const Setting* setting = find_setting(key);
    if (setting == nullptr) {
      return std::unexpected(Error::invalid_argument("config file " + file + " line " +
                                                     std::to_string(line) + ": unknown setting '" +
                                                     key + "'"));
    }
    if (!entry.second.IsScalar()) {
      return std::unexpected(Error::invalid_argument("config file " + file + " line " +
                                                     std::to_string(line) + ": '" + key +
                                                     "' must be a single value"));
    }
    auto assigned = setting->assign(config, entry.second.Scalar());
    if (!assigned) {
      return std::unexpected(Error::invalid_argument("config file " + file + " line " +
                                                     std::to_string(line) + ": " +
                                                     assigned.error().message));
    }
  }
  return Ok();
}

Result<void> validate(const Config& c) {
  static constexpr std::string_view kAlgs[] = {"ES256", "ES384", "EdDSA", "RS256", "PS256"};
  if (std::find(std::begin(kAlgs), std::end(kAlgs), c.signing_alg) == std::end(kAlgs)) {
    return std::unexpected(Error::invalid_argument(
        "signing_alg: '" + c.signing_alg + "' is not one of ES256 ES384 EdDSA RS256 PS256"));
  }
  for (const auto& [name, value] :
       {std::pair<std::string_view, const std::string&>{"listen", c.listen},
        {"mtls_listen", c.mtls_listen}}) {
    if (name == "mtls_listen" && value.empty()) continue;
    const auto colon = value.rfind(':');
    if (colon == std::string::npos || colon == 0) {
      return std::unexpected(
          Error::invalid_argument(std::string(name) + ": expected HOST:PORT, got '" + value + "'"));
    }
    SIGIL_CHECK(parse_int(std::string(name) + " port", value.substr(colon + 1), 0, 65535));
  }
  if (c.mtls_cert.empty() != c.mtls_key.empty()) {
    return std::unexpected(
        Error::invalid_argument("mtls_cert and mtls_key go together: set both or neither"));
  }
  if (!c.mtls_listen.empty() && c.mtls_cert.empty() && c.mtls_dns_names.empty()) {
    return std::unexpected(Error::invalid_argument(
        "mtls_dns_names: name at least one DNS name for sigil's own certificate"));
  }
  if (!c.mtls_url.empty()) {
    auto url = boost::urls::parse_absolute_uri(c.mtls_url);
    if (!url || url->scheme() != "https" || url->has_query() || url->has_fragment() ||
        url->host().empty() || c.mtls_url.back() == '/') {
      return std::unexpected(Error::invalid_argument(
          "mtls_url: expected an https URL without query, fragment or trailing slash, got '" +
          c.mtls_url + "'"));
    }
  }
  if (!c.issuer.empty()) {
    auto url = boost::urls::parse_absolute_uri(c.issuer);
    if (!url || (url->scheme() != "http" && url->scheme() != "https") || url->has_query() ||
        url->has_fragment() || url->host().empty() || c.issuer.back() == '/') {
      return std::unexpected(Error::invalid_argument(
          "issuer: expected an http(s) URL without query, fragment or trailing slash, got '" +
          c.issuer + "'"));
    }
  }
  if (c.tls_cert.empty() != c.tls_key.empty()) {
    return std::unexpected(
        Error::invalid_argument("tls_cert and tls_key go together: set both or neither"));
  }
  if (c.token_lifetime > c.max_token_lifetime) {
    return std::unexpected(
        Error::invalid_argument("token_lifetime may not exceed max_token_lifetime"));
  }
  static constexpr std::string_view kLevels[] = {"trace", "debug", "info", "warn", "error", "off"};
  if (std::find(std::begin(kLevels), std::end(kLevels), c.log_level) == std::end(kLevels)) {
    return std::unexpected(Error::invalid_argument(
        "log_level: '" + c.log_level + "' is not one of trace debug info warn error off"));
  }
  return Ok();
}

}  // namespace

Result<Config> load_config(const std::string& file,
                           const std::map<std::string, std::string>& environment,
                           const std::map<std::string, std::string>& flags) {
  Config config;
  if (!file.empty()) SIGIL_CHECK(apply_file(config, file));
  for (const auto& setting : settings()) {
    auto it = environment.find(env_name(setting.name));
    if (it == environment.end()) continue;
    auto assigned = setting.assign(config, it->second);
    if (!assigned) {
      return std::unexpected(Error::invalid_argument(it->first + ": " + assigned.error().message));
    }
  }
  for (const auto& [name, value] : flags) {
    const Setting* setting = find_setting(name);
    if (setting == nullptr)
      return std::unexpected(Error::invalid_argument("unknown setting '" + name + "'"));
    SIGIL_CHECK(setting->assign(config, value));
  }
  SIGIL_CHECK(validate(config));
  return config;
}

std::map<std::string, std::string> sigil_environment() {
  std::map<std::string, std::string> out;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    std::string_view entry(*e);
    if (!entry.starts_with("SIGIL_")) continue;
    const auto eq = entry.find('=');
    if (eq == std::string_view::npos) continue;
    out.emplace(entry.substr(0, eq), entry.substr(eq + 1));
  }
  return out;
}

}  // namespace sigil::server
