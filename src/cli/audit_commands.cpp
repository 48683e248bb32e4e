// sigil audit verify: checks the audit log's hash chain locally (no server needed).
#include <CLI/CLI.hpp>

#include <iostream>
#include <memory>

#include "audit/log.hpp"
#include "cli/commands.hpp"
#include "cli/context.hpp"

namespace sigil::cli {
namespace {

namespace json = boost::json;

Outcome<void> run_verify(Context& context, const std::string& data_flag) {
  std::string data = data_flag;
  if (data.empty()) data = context.env().data.empty() ? "var" : context.env().data;
  const std::string path = data + "/audit.log";
  auto report = audit::verify_chain(path);
  if (!report) {
    return fail(kExitUsage, "cannot check the audit log: " + sanitize(report.error().message) +
                                "; check --data or SIGIL_DATA");
  }
  if (context.output_mode() == OutputMode::kJson) {
    json::object out{{"path", path}, {"records", report->records}, {"intact", report->intact}};
    if (!report->intact) {
      out["first_bad_line"] = report->first_bad_line;
      out["problem"] = report->problem;
    }
    std::cout << render_json(out);
  } else {
    std::vector<std::pair<std::string, std::string>> fields{
        {"path", sanitize(path)},
        {"records", std::to_string(report->records)},
        {"intact", report->intact ? "yes" : "no"}};
    if (!report->intact) {
      fields.emplace_back("first_bad_line", std::to_string(report->first_bad_line));
      fields.emplace_back("problem", sanitize(report->problem));
    }
    std::cout << render_fields(fields);
  }
  if (!report->intact) return fail(kExitRefused, "");  // the result is on stdout
  return {};
}

}  // namespace

void add_audit_commands(CLI::App& app, Context& context) {
  CLI::App* audit = app.add_subcommand("audit", "The audit log");
  audit->require_subcommand(1);

  auto data = std::make_shared<std::string>();
  CLI::App* verify = audit->add_subcommand(
      "verify", "Check the audit log's hash chain; exit 0 when intact, 1 when not");
  verify->add_option("--data", *data, "The data folder (default: SIGIL_DATA or ./var)");
  verify->callback([&context, data] { context.finish(run_verify(context, *data)); });
}

}  // namespace sigil::cli
