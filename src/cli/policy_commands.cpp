// sigil plan|apply (the policy against the running server) and sigil policy
// validate|show|history|rollback|explain|test|graph. validate, test, and explain/graph with
// -f work offline on the file; the rest talk to the admin API's /v1/policy and /v1/authorize.
#include <CLI/CLI.hpp>

#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>

#include "cli/commands.hpp"
#include "cli/context.hpp"
#include "policy/cases.hpp"
#include "policy/engine.hpp"
#include "policy/graph.hpp"
#include "policy/policy.hpp"

namespace sigil::cli {
namespace {

namespace json = boost::json;

// Reads a policy or test file; a usage failure when it cannot be read.
Outcome<std::string> read_file(const std::string& path) {
  if (path.empty()) return fail(kExitUsage, "name the policy file with -f FILE");
  std::ifstream in(path, std::ios::binary);
  if (!in) return fail(kExitUsage, "cannot read " + path);
  std::ostringstream buffer;
  buffer << in.rdbuf();
  std::string text = std::move(buffer).str();
  if (text.size() > policy::kMaxPolicyBytes) {
    return fail(kExitRefused, path + " is larger than the " +
                                  std::to_string(policy::kMaxPolicyBytes >> 20) +
                                  " MiB a policy may be");
  }
  return text;
}

// Every problem on stderr with file and line, then a one-line failure (exit 1).
Failure invalid_file(const std::vector<policy::Diagnostic>& diagnostics, const std::string& path) {
  std::cerr << sanitize_lines(policy::format(diagnostics, path));
  return Failure{kExitRefused, path + " is not valid: " + std::to_string(diagnostics.size()) +
                                   (diagnostics.size() == 1 ? " problem" : " problems")};
}

Outcome<std::shared_ptr<const policy::CompiledPolicy>> load_policy(const std::string& path) {
  auto text = read_file(path);
  if (!text) return std::unexpected(text.error());
  auto parsed = policy::parse_policy(*text);
  if (!parsed) return std::unexpected(invalid_file(parsed.error(), path));
  auto compiled = policy::CompiledPolicy::compile(std::move(*parsed));
  if (!compiled) return fail(kExitRefused, path + ": " + sanitize(compiled.error().message));
  return std::move(*compiled);
}

Outcome<void> print(const Context& context, const json::value& answer, const std::string& table) {
  std::cout << (context.output_mode() == OutputMode::kJson ? render_json(answer) : table);
  return {};
}

// plan and apply send the document; both check it locally first, so that problems are
// reported with the file's name and every line.
Outcome<void> run_plan(Context& context, const std::string& path, bool prune) {
  auto loaded = load_policy(path);
  if (!loaded) return std::unexpected(loaded.error());
  auto text = read_file(path);
  if (!text) return std::unexpected(text.error());
  auto answer =
      context.admin_call("POST", "/v1/policy/plan",
                         json::object{{"document", *text}, {"prune", prune}}, "plan the policy");
  if (!answer) return std::unexpected(answer.error());
  if (!answer->is_object()) return fail(kExitUnreachable, "the server's answer is not an object");
  return print(context, *answer, render_plan(answer->get_object(), path));
}

Outcome<void> run_apply(Context& context, const std::string& path, bool prune) {
  auto loaded = load_policy(path);
  if (!loaded) return std::unexpected(loaded.error());
  auto text = read_file(path);
  if (!text) return std::unexpected(text.error());
  auto answer =
      context.admin_call("POST", "/v1/policy", json::object{{"document", *text}, {"prune", prune}},
                         "apply the policy");
  if (!answer) return std::unexpected(answer.error());
  if (!answer->is_object()) return fail(kExitUnreachable, "the server's answer is not an object");
  auto printed = print(context, *answer, render_applied(answer->get_object()));
  const json::value* credentials = answer->get_object().if_contains("credentials");
  if (credentials != nullptr && credentials->is_array() && !credentials->get_array().empty()) {
    std::cerr << "sigil: the client secrets are shown only once; store them now\n";
  }
  return printed;
}

Outcome<void> run_validate(Context& context, const std::string& path) {
  auto loaded = load_policy(path);
  if (!loaded) return std::unexpected(loaded.error());
  const auto& p = (*loaded)->policy();
  json::object answer{{"file", path},
                      {"valid", true},
                      {"services", p.services.size()},
                      {"audiences", p.audiences.size()},
                      {"grants", p.grants.size()}};
  return print(context, answer,
               sanitize(path) + " is valid: " + std::to_string(p.services.size()) + " services, " +
                   std::to_string(p.audiences.size()) + " audiences, " +
                   std::to_string(p.grants.size()) + " grants\n");
}

Outcome<void> run_show(Context& context, std::optional<std::int64_t> version) {
  const std::string path =
      version ? "/v1/policy/versions/" + std::to_string(*version) : std::string("/v1/policy");
  auto answer = context.admin_call("GET", path, std::nullopt, "read the policy");
  if (!answer) return std::unexpected(answer.error());
  if (!answer->is_object()) return fail(kExitUnreachable, "the server's answer is not an object");
  // The document as it was applied, so that `show > sigil.yaml` round-trips.
  const json::value* document = answer->get_object().if_contains("document");
  std::string table = document != nullptr && document->is_string()
                          ? std::string(document->get_string())
                          : std::string();
  return print(context, *answer, table);
}

Outcome<void> run_history(Context& context) {
  auto answer =
      context.admin_call("GET", "/v1/policy/versions", std::nullopt, "list the policy versions");
  if (!answer) return std::unexpected(answer.error());
  return print(context, *answer, render_policy_history(*answer));
}

Outcome<void> run_rollback(Context& context, std::int64_t version) {
  auto answer =
      context.admin_call("POST", "/v1/policy/rollback", json::object{{"version", version}},
                         "roll the policy back to version " + std::to_string(version));
  if (!answer) return std::unexpected(answer.error());
  if (!answer->is_object()) return fail(kExitUnreachable, "the server's answer is not an object");
  return print(context, *answer, render_applied(answer->get_object()));
}

struct ExplainArgs {
  std::string file;
  std::string caller;
  std::string audience;
  std::vector<std::string> scopes;
  std::string source;
  std::string auth_method = "client_secret_basic";
  std::string at;
};

Outcome<void> run_explain(Context& context, const ExplainArgs& args) {
  json::object answer;
  if (!args.file.empty()) {
    auto loaded = load_policy(args.file);
    if (!loaded) return std::unexpected(loaded.error());
    TimePoint now = SystemClock().now();
    if (!args.at.empty()) {
      auto at = from_rfc3339(args.at);
      if (!at) return fail(kExitUsage, "--at must be an RFC 3339 time, e.g. 2026-01-31T09:00:00Z");
      now = *at;
    }
    const auto decision = (*loaded)->decide(
        {.caller = args.caller,
         .audience = args.audience,
         .scopes = args.scopes,
         .context = {.now = now, .source_address = args.source, .auth_method = args.auth_method},
         .trace = true});
    answer = decision_json(decision, args.caller);
  } else {
    if (!args.at.empty())
      return fail(kExitUsage, "--at needs -f FILE: the server decides at its own time");
    json::object body{{"caller", args.caller}, {"audience", args.audience}, {"explain", true}};
    if (!args.scopes.empty()) {
      std::string scope;
      for (const auto& s : args.scopes) scope += (scope.empty() ? "" : " ") + s;
      body["scope"] = scope;
    }
    json::object ctx{{"auth_method", args.auth_method}};
    if (!args.source.empty()) ctx["source_address"] = args.source;
    body["context"] = std::move(ctx);
    auto asked = context.admin_call("POST", "/v1/authorize", body, "ask for a decision");
    if (!asked) return std::unexpected(asked.error());
    if (!asked->is_object()) return fail(kExitUnreachable, "the server's answer is not an object");
    answer = std::move(asked->get_object());
  }
  print(context, answer, render_decision(answer));
  const json::value* decision = answer.if_contains("decision");
  const bool allowed =
      decision != nullptr && decision->is_string() && decision->get_string() == "allow";
  if (!allowed) return fail(kExitRefused, "");  // the decision is on stdout
  return {};
}

Outcome<void> run_test(Context& context, const std::string& policy_file,
                       const std::vector<std::string>& case_files, const std::string& at) {
  auto loaded = load_policy(policy_file);
  if (!loaded) return std::unexpected(loaded.error());
  TimePoint now = SystemClock().now();
  if (!at.empty()) {
    auto parsed = from_rfc3339(at);
    if (!parsed)
      return fail(kExitUsage, "--at must be an RFC 3339 time, e.g. 2026-01-31T09:00:00Z");
    now = *parsed;
  }
  std::size_t passed = 0;
  std::size_t failed = 0;
  json::array results;
  std::string table;
  for (const auto& file : case_files) {
    auto text = read_file(file);
    if (!text) return std::unexpected(text.error());
    auto cases = policy::parse_test_cases(*text);
    if (!cases) return std::unexpected(invalid_file(cases.error(), file));
    for (const auto& r : policy::run_cases(**loaded, *cases, now)) {
      (r.passed ? passed : failed) += 1;
      json::object o{{"file", file},
                     {"line", r.test->line},
                     {"name", r.test->name},
                     {"passed", r.passed},
                     {"decision", r.decision.allowed ? "allow" : "deny"}};
      if (!r.passed) o["failure"] = r.failure;
      results.push_back(std::move(o));
      table += (r.passed ? "ok    " : "FAIL  ") + sanitize(r.test->name);
      if (!r.passed) {
        table += "  (" + sanitize(file) + ":" + std::to_string(r.test->line) + ": " +
                 sanitize(r.failure) + ")";
      }
      table += "\n";
    }
  }
  table += std::to_string(passed) + " passed, " + std::to_string(failed) + " failed\n";
  print(context,
        json::object{{"passed", passed}, {"failed", failed}, {"results", std::move(results)}},
        table);
  if (failed > 0) return fail(kExitRefused, "");  // the failures are on stdout
  return {};
}

Outcome<void> run_graph(Context& context, const std::string& file, const std::string& format) {
  std::shared_ptr<const policy::CompiledPolicy> compiled;
  if (!file.empty()) {
    auto loaded = load_policy(file);
    if (!loaded) return std::unexpected(loaded.error());
    compiled = std::move(*loaded);
  } else {
    auto answer = context.admin_call("GET", "/v1/policy", std::nullopt, "read the policy");
    if (!answer) return std::unexpected(answer.error());
    const json::value* document =
        answer->is_object() ? answer->get_object().if_contains("document") : nullptr;
    if (document == nullptr || !document->is_string()) {
      return fail(kExitUnreachable, "the server's answer has no policy document");
    }
    auto parsed = policy::parse_policy(document->get_string());
    if (!parsed) return std::unexpected(invalid_file(parsed.error(), "the policy in force"));
    auto built = policy::CompiledPolicy::compile(std::move(*parsed));
    if (!built) return fail(kExitRefused, sanitize(built.error().message));
    compiled = std::move(*built);
  }
  // The graph is the output whatever --output says: it is meant for dot or a Markdown file.
  std::cout << (format == "mermaid" ? policy::to_mermaid(*compiled) : policy::to_dot(*compiled));
  return {};
}

}  // namespace

std::string sanitize_lines(std::string_view text) {
  std::string out;
  std::size_t start = 0;
  while (start < text.size()) {
    auto end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    out += sanitize(text.substr(start, end - start)) + "\n";
    start = end + 1;
  }
  return out;
}

json::object decision_json(const policy::Decision& decision, std::string_view caller) {
  json::object o{{"decision", decision.allowed ? "allow" : "deny"},
                 {"caller", caller},
                 {"rules", json::array(decision.rules.begin(), decision.rules.end())}};
  if (!decision.audience_uri.empty()) o["audience"] = decision.audience_uri;
  if (decision.allowed) {
    o["scopes"] = json::array(decision.scopes.begin(), decision.scopes.end());
    if (decision.lifetime_cap) o["max_lifetime"] = decision.lifetime_cap->count();
  } else {
    o["reason"] = policy::to_string(decision.reason);
    if (!decision.detail.empty()) o["detail"] = decision.detail;
  }
  json::array trace;
  for (const auto& t : decision.trace) {
    trace.push_back(json::object{{"rule", t.rule}, {"applied", t.applied}, {"why", t.why}});
  }
  o["trace"] = std::move(trace);
  return o;
}

std::string render_decision(const json::object& answer) {
  std::vector<std::pair<std::string, std::string>> fields{
      {"decision", display_field(answer, "decision")},
      {"caller", display_field(answer, "caller")},
      {"audience", display_field(answer, "audience")}};
  if (answer.contains("reason")) fields.emplace_back("reason", display_field(answer, "reason"));
  if (answer.contains("detail")) fields.emplace_back("detail", display_field(answer, "detail"));
  fields.emplace_back("rules", display_field(answer, "rules"));
  if (answer.contains("scopes")) fields.emplace_back("scopes", display_field(answer, "scopes"));
  if (const json::value* cap = answer.if_contains("max_lifetime"); cap && cap->is_int64()) {
    fields.emplace_back("max_lifetime", policy::format_duration(Seconds{cap->as_int64()}));
  }
  std::string out = render_fields(fields);
  const json::value* trace = answer.if_contains("trace");
  if (trace != nullptr && trace->is_array() && !trace->get_array().empty()) {
    std::vector<std::vector<std::string>> rows;
    for (const auto& t : trace->get_array()) {
      if (!t.is_object()) continue;
      rows.push_back({display_field(t.get_object(), "rule"), display_field(t.get_object(), "why")});
    }
    out += "\n" + render_table({"RULE", "WHY"}, rows);
  }
  return out;
}

std::string render_plan(const json::object& plan, std::string_view file) {
  std::string out;
  const json::value* current = plan.if_contains("current_version");
  out += current != nullptr && current->is_int64()
             ? "policy in force: version " + std::to_string(current->as_int64()) + "\n"
             : std::string("policy in force: none\n");
  std::size_t count = 0;
  if (const json::value* changes = plan.if_contains("changes"); changes && changes->is_array()) {
    for (const auto& c : changes->get_array()) {
      if (!c.is_object()) continue;
      const auto& o = c.get_object();
      const std::string kind = display_field(o, "change");
      const char mark = kind == "added" ? '+' : kind == "removed" ? '-' : '~';
      out += std::string(1, mark) + " " + display_field(o, "what") + " " +
             display_field(o, "name") + "\n";
      if (const json::value* details = o.if_contains("details"); details && details->is_array()) {
        for (const auto& d : details->get_array()) {
          out += "    " + display(&d) + "\n";
        }
      }
      ++count;
    }
  }
  if (const json::value* clients = plan.if_contains("clients");
      clients && clients->is_array() && !clients->get_array().empty()) {
    std::vector<std::vector<std::string>> rows;
    for (const auto& c : clients->get_array()) {
      if (!c.is_object()) continue;
      const auto& o = c.get_object();
      rows.push_back({display_field(o, "action"), display_field(o, "client_id"),
                      o.contains("note") ? display_field(o, "note") : std::string()});
      ++count;
    }
    out += "clients:\n" + render_table({"ACTION", "CLIENT", "NOTE"}, rows);
  }
  if (count == 0) {
    out += "no changes\n";
  } else if (!file.empty()) {
    out += std::to_string(count) + " changes; apply them with `sigil apply -f " + sanitize(file) +
           "`\n";
  }
  return out;
}

std::string render_applied(const json::object& applied) {
  std::string out = render_plan(applied, {});
  if (const json::value* v = applied.if_contains("version"); v && v->is_object()) {
    out += "applied: version " + display_field(v->get_object(), "version") + " (sha256 " +
           display_field(v->get_object(), "sha256") + ")\n";
  }
  if (const json::value* credentials = applied.if_contains("credentials");
      credentials && credentials->is_array() && !credentials->get_array().empty()) {
    std::vector<std::vector<std::string>> rows;
    for (const auto& c : credentials->get_array()) {
      if (!c.is_object()) continue;
      rows.push_back({display_field(c.get_object(), "client_id"),
                      display_field(c.get_object(), "client_secret")});
    }
    out += "new clients' credentials (shown once):\n" +
           render_table({"CLIENT_ID", "CLIENT_SECRET"}, rows);
  }
  return out;
}

std::string render_policy_history(const json::value& answer) {
  std::vector<std::vector<std::string>> rows;
  const json::value* versions =
      answer.is_object() ? answer.get_object().if_contains("versions") : nullptr;
  if (versions != nullptr && versions->is_array()) {
    for (const auto& v : versions->get_array()) {
      if (!v.is_object()) continue;
      const auto& o = v.get_object();
      std::string origin = display_field(o, "origin");
      if (o.contains("rolled_back_from")) origin += " of " + display_field(o, "rolled_back_from");
      rows.push_back({display_field(o, "version"), display_field(o, "applied_at"),
                      display_field(o, "applied_by"), origin,
                      display_field(o, "sha256").substr(0, 12)});
    }
  }
  return render_table({"VERSION", "APPLIED_AT", "APPLIED_BY", "ORIGIN", "SHA256"}, rows);
}

void add_policy_commands(CLI::App& app, Context& context) {
  auto file = std::make_shared<std::string>();
  auto prune = std::make_shared<bool>(false);

  CLI::App* plan =
      app.add_subcommand("plan", "Show what applying a policy file would change on the server");
  plan->add_option("-f,--file", *file, "The policy file (sigil.yaml)")->required();
  plan->add_flag("--prune", *prune, "Plan to delete removed services' clients, not disable them");
  plan->callback([&context, file, prune] { context.finish(run_plan(context, *file, *prune)); });

  CLI::App* apply = app.add_subcommand(
      "apply", "Apply a policy file atomically; prints new clients' secrets once");
  apply->add_option("-f,--file", *file, "The policy file (sigil.yaml)")->required();
  apply->add_flag("--prune", *prune, "Delete removed services' clients instead of disabling them");
  apply->callback([&context, file, prune] { context.finish(run_apply(context, *file, *prune)); });

  CLI::App* policy = app.add_subcommand("policy", "The policy: check, test, explain, history");
  policy->require_subcommand(1);

  CLI::App* validate =
      policy->add_subcommand("validate", "Check a policy file offline; exit 1 with every problem");
  validate->add_option("-f,--file", *file, "The policy file")->required();
  validate->callback([&context, file] { context.finish(run_validate(context, *file)); });

  auto version = std::make_shared<std::int64_t>(0);
  CLI::App* show = policy->add_subcommand("show", "Print the policy in force (or a version)");
  auto* version_option = show->add_option("--version", *version, "A version from `policy history`");
  show->callback([&context, version, version_option] {
    context.finish(run_show(context, version_option->count() > 0
                                         ? std::optional<std::int64_t>(*version)
                                         : std::nullopt));
  });

  CLI::App* history = policy->add_subcommand("history", "List the applied policy versions");
  history->callback([&context] { context.finish(run_history(context)); });

  CLI::App* rollback =
      policy->add_subcommand("rollback", "Apply an earlier version again, as a new version");
  rollback->add_option("version", *version, "The version to go back to")->required();
  rollback->callback([&context, version] { context.finish(run_rollback(context, *version)); });

  auto explain_args = std::make_shared<ExplainArgs>();
  CLI::App* explain = policy->add_subcommand(
      "explain", "Print the decision for a caller, audience and scopes, and the rule behind it");
  explain->add_option("-f,--file", explain_args->file,
                      "Decide offline from this file (default: ask the server)");
  explain->add_option("--caller", explain_args->caller, "The calling service")->required();
  explain->add_option("--audience", explain_args->audience, "The audience's name or URI")
      ->required();
  explain->add_option("--scope", explain_args->scopes, "A scope asked for (repeatable)");
  explain->add_option("--source", explain_args->source, "The caller's IP address");
  explain->add_option("--auth-method", explain_args->auth_method,
                      "How the caller authenticates (default client_secret_basic)");
  explain->add_option("--at", explain_args->at, "Decide at this RFC 3339 time (with -f)");
  explain->callback(
      [&context, explain_args] { context.finish(run_explain(context, *explain_args)); });

  auto case_files = std::make_shared<std::vector<std::string>>();
  auto at = std::make_shared<std::string>();
  CLI::App* test = policy->add_subcommand(
      "test",
      "Check expected decisions (YAML cases) against a policy file offline; exit 1 on a failure");
  test->add_option("-f,--file", *file, "The policy file")->required();
  test->add_option("cases", *case_files, "Files of test cases")->required();
  test->add_option("--at", *at, "The time of cases that give none (default: now)");
  test->callback([&context, file, case_files, at] {
    context.finish(run_test(context, *file, *case_files, *at));
  });

  auto format = std::make_shared<std::string>("dot");
  CLI::App* graph =
      policy->add_subcommand("graph", "Print who may call whom, for Graphviz (dot) or Mermaid");
  graph->add_option("-f,--file", *file, "Draw this file (default: the policy in force)");
  graph->add_option("--format", *format, "dot (default) or mermaid")
      ->check(CLI::IsMember({"dot", "mermaid"}));
  graph->callback([&context, file, format] { context.finish(run_graph(context, *file, *format)); });
}

}  // namespace sigil::cli
