// sigil init and sigil serve: the flags become settings (config.hpp); the server does the
// rest in this process.
#include <CLI/CLI.hpp>

#include <iostream>
#include <memory>

#include "cli/commands.hpp"
#include "cli/context.hpp"
#include "server/commands.hpp"
#include "server/config.hpp"

namespace sigil::cli {
namespace {

// A flag bound to one optional setting of ServerFlags.
struct FlagSpec {
  const char* flag;
  std::optional<std::string> ServerFlags::*setting;
  const char* help;
};

constexpr FlagSpec kData{"--data", &ServerFlags::data,
                         "The data folder (default ./var; SIGIL_DATA)"};
constexpr FlagSpec kIssuer{"--issuer", &ServerFlags::issuer,
                           "The issuer URL, e.g. https://sigil.example.com (SIGIL_ISSUER)"};
constexpr FlagSpec kSigningAlg{"--signing-alg", &ServerFlags::signing_alg,
                               "ES256 (default) ES384 EdDSA RS256 PS256"};
constexpr FlagSpec kListen{"--listen", &ServerFlags::listen,
                           "HOST:PORT to listen on (default 127.0.0.1:8420; SIGIL_LISTEN)"};
constexpr FlagSpec kTokenLifetime{"--token-lifetime", &ServerFlags::token_lifetime,
                                  "Access token lifetime in seconds (default 300)"};
constexpr FlagSpec kPropagation{"--key-propagation-delay", &ServerFlags::key_propagation_delay,
                                "Seconds a new signing key is published before it signs"};
constexpr FlagSpec kTlsCert{"--tls-cert", &ServerFlags::tls_cert,
                            "PEM certificate chain; with --tls-key, serve HTTPS"};
constexpr FlagSpec kTlsKey{"--tls-key", &ServerFlags::tls_key, "PEM private key"};
constexpr FlagSpec kPolicy{"--policy", &ServerFlags::policy,
                           "A policy file (sigil.yaml) to enforce; reloaded on change and on "
                           "SIGHUP (SIGIL_POLICY)"};
constexpr FlagSpec kLogLevel{"--log-level", &ServerFlags::log_level,
                             "trace debug info (default) warn error off"};

struct ServerCommand {
  std::string config_file;
  std::vector<std::pair<CLI::Option*, std::optional<std::string> ServerFlags::*>> options;
  // Storage the options write into, one per flag, in `options` order.
  std::vector<std::unique_ptr<std::string>> values;

  ServerFlags given() const {
    ServerFlags flags;
    for (std::size_t i = 0; i < options.size(); ++i) {
      if (options[i].first->count() > 0) flags.*(options[i].second) = *values[i];
    }
    return flags;
  }
};

std::shared_ptr<ServerCommand> bind(CLI::App& command, std::initializer_list<FlagSpec> specs) {
  auto bound = std::make_shared<ServerCommand>();
  for (const auto& spec : specs) {
    bound->values.push_back(std::make_unique<std::string>());
    bound->options.emplace_back(command.add_option(spec.flag, *bound->values.back(), spec.help),
                                spec.setting);
  }
  command.add_option("--config", bound->config_file,
                     "A YAML file of settings (SIGIL_* override it)");
  return bound;
}

// Usage errors in the settings exit 2, as command-line errors do.
template <typename Run>
int with_config(const ServerCommand& command, Run run) {
  auto config = server::load_config(command.config_file, server::sigil_environment(),
                                    command.given().to_map());
  if (!config) {
    std::cerr << "sigil: " << config.error().message << "\n";
    return kExitUsage;
  }
  return run(*config);
}

}  // namespace

std::map<std::string, std::string> ServerFlags::to_map() const {
  std::map<std::string, std::string> out;
  const std::pair<const char*, const std::optional<std::string>*> all[] = {
      {"data", &data},
      {"listen", &listen},
      {"issuer", &issuer},
      {"signing_alg", &signing_alg},
      {"token_lifetime", &token_lifetime},
      {"key_propagation_delay", &key_propagation_delay},
      {"tls_cert", &tls_cert},
      {"tls_key", &tls_key},
      {"log_level", &log_level},
      {"policy", &policy}};
  for (const auto& [name, value] : all) {
    if (value->has_value()) out.emplace(name, **value);
  }
  return out;
}

void add_server_commands(CLI::App& app, Context& context) {
  CLI::App* init = app.add_subcommand(
      "init", "Create the data folder, the first signing key and the admin client (printed once)");
  auto init_flags = bind(*init, {kData, kIssuer, kSigningAlg});
  init->callback([&context, init_flags] {
    context.exit_code =
        with_config(*init_flags, [](const server::Config& c) { return server::run_init(c); });
  });

  CLI::App* serve = app.add_subcommand("serve", "Run the server until SIGTERM or SIGINT");
  auto serve_flags = bind(*serve, {kData, kListen, kIssuer, kTokenLifetime, kPropagation, kTlsCert,
                                   kTlsKey, kPolicy, kLogLevel});
  serve->callback([&context, serve_flags] {
    context.exit_code =
        with_config(*serve_flags, [](const server::Config& c) { return server::run_serve(c); });
  });
}

}  // namespace sigil::cli
