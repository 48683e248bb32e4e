// sigil keys list|rotate: the admin API's /v1/signing-keys.
#include <CLI/CLI.hpp>

#include <iostream>
#include <memory>

#include "cli/commands.hpp"
#include "cli/context.hpp"
#include "jose/algorithm.hpp"

namespace sigil::cli {
namespace {

namespace json = boost::json;

Outcome<void> run_list(Context& context) {
  auto answer =
      context.admin_call("GET", "/v1/signing-keys", std::nullopt, "list the signing keys");
  if (!answer) return std::unexpected(answer.error());
  std::cout << (context.output_mode() == OutputMode::kJson ? render_json(*answer)
                                                           : render_key_list(*answer));
  return {};
}

Outcome<void> run_rotate(Context& context, const std::optional<std::string>& alg) {
  auto body = rotate_key_body(alg);
  if (!body) return std::unexpected(usage_failure(body.error()));
  auto answer =
      context.admin_call("POST", "/v1/signing-keys/rotate", *body, "rotate the signing key");
  if (!answer) return std::unexpected(answer.error());
  if (context.output_mode() == OutputMode::kJson) {
    std::cout << render_json(*answer);
  } else if (answer->is_object()) {
    std::cout << render_key(answer->get_object());
  } else {
    return fail(kExitUnreachable, "the server's answer is not a JSON object");
  }
  return {};
}

}  // namespace

Result<json::object> rotate_key_body(const std::optional<std::string>& alg) {
  json::object body;
  if (alg) {
    if (!jose::algorithm_from_string(*alg)) {
      return std::unexpected(Error::invalid_argument(
          "--alg '" + sanitize(*alg) + "': expected one of ES256 ES384 EdDSA RS256 PS256"));
    }
    body["alg"] = *alg;
  }
  return body;
}

std::string render_key_list(const json::value& answer) {
  std::vector<std::vector<std::string>> rows;
  const json::value* keys = answer.is_object() ? answer.get_object().if_contains("keys") : nullptr;
  if (keys != nullptr && keys->is_array()) {
    for (const auto& item : keys->get_array()) {
      if (!item.is_object()) continue;
      const auto& k = item.get_object();
      rows.push_back({display_field(k, "kid"), display_field(k, "alg"), display_field(k, "state"),
                      display_field(k, "created_at"), display_field(k, "activates_at"),
                      display_field(k, "retires_at")});
    }
  }
  return render_table({"KID", "ALG", "STATE", "CREATED", "ACTIVATES", "RETIRES"}, rows);
}

std::string render_key(const json::object& key) {
  std::vector<std::pair<std::string, std::string>> fields{
      {"kid", display_field(key, "kid")},
      {"alg", display_field(key, "alg")},
      {"state", display_field(key, "state")},
      {"created_at", display_field(key, "created_at")},
      {"activates_at", display_field(key, "activates_at")}};
  for (const char* optional : {"retires_at", "expires_at"}) {
    if (key.contains(optional)) fields.emplace_back(optional, display_field(key, optional));
  }
  return render_fields(fields);
}

void add_keys_commands(CLI::App& app, Context& context) {
  CLI::App* keys = app.add_subcommand("keys", "Signing keys: list, rotate");
  keys->require_subcommand(1);

  CLI::App* list = keys->add_subcommand("list", "List the signing keys and their states");
  list->callback([&context] { context.finish(run_list(context)); });

  auto alg = std::make_shared<std::string>();
  CLI::App* rotate = keys->add_subcommand(
      "rotate", "Add a signing key: published at once, signs after the propagation delay");
  CLI::Option* alg_option =
      rotate->add_option("--alg", *alg, "ES256 ES384 EdDSA RS256 PS256 (default: the server's)");
  rotate->callback([&context, alg, alg_option] {
    std::optional<std::string> chosen;
    if (alg_option->count() > 0) chosen = *alg;
    context.finish(run_rotate(context, chosen));
  });
}

}  // namespace sigil::cli
