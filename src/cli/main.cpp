// sigil: the server (init, serve) and its command-line client, in one binary.
#include <CLI/CLI.hpp>

#include <iostream>

#include "cli/certificates.hpp"
#include "cli/commands.hpp"
#include "cli/context.hpp"

int main(int argc, char** argv) {
  using namespace sigil::cli;
  Context context(Environment::from_process());

  CLI::App app{"sigil: machine identities, OAuth 2.0 tokens and their keys", "sigil"};
  app.require_subcommand(1);
  // One line on stderr, like every other failure.
  app.failure_message([](const CLI::App*, const CLI::Error& e) {
    return "sigil: " + std::string(e.what()) + "; see --help\n";
  });
  // Global flags may also follow the subcommand: `sigil client list --output json`.
  app.fallthrough();
  app.add_option("--addr", context.addr,
                 "The server, e.g. https://sigil.example.com (default: SIGIL_ADDR or " +
                     std::string(kDefaultAddr) + ")");
  app.add_option("--output,-o", context.output, "table (default) or json")
      ->check(CLI::IsMember({"table", "json"}));

  add_server_commands(app, context);
  add_client_commands(app, context);
  add_keys_commands(app, context);
  add_token_commands(app, context);
  add_audit_commands(app, context);
  add_keyspace_commands(app, context);
  add_key_commands(app, context);
  add_policy_commands(app, context);
  add_ca_commands(app, context);
  add_cert_commands(app, context);
  app.add_subcommand("version", "Print the version")->callback([] {
    std::cout << "sigil " << SIGIL_VERSION << "\n";
  });

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help prints and exits 0; every other parse error is a usage error.
    const int code = app.exit(e);
    return code == 0 ? kExitOk : kExitUsage;
  }
  return context.exit_code;
}
