// sigil ca init|import (offline, on the data folder, like `sigil init`) and
// sigil ca show|rotate|bundle (through the API).
//
// init and import open the audit log first: it admits one writer at a time, so they
// refuse while `sigil serve` runs on the same folder rather than change the CA under it.
#include <CLI/CLI.hpp>

#include <boost/json/serialize.hpp>

#include <filesystem>
#include <iostream>
#include <memory>

#include "audit/file_log.hpp"
#include "base/hex.hpp"
#include "ca/authority.hpp"
#include "cli/certificates.hpp"
#include "cli/commands.hpp"
#include "cli/context.hpp"
#include "server/data_dir.hpp"
#include "store/sqlite/sqlite_store.hpp"

namespace sigil::cli {
namespace {

namespace json = boost::json;

constexpr mode_t kPublicMode = 0644;

struct InitArgs {
  std::string data;
  std::string trust_domain;
  std::string key_type = "P-256";
  bool external_root = false;
  std::string csr_out;
};

struct RequestArgs {
  std::string data;
  std::string key_type = "P-256";
  std::string csr_out;
};

struct ImportArgs {
  std::string data;
  std::string certificate;
  std::string root;
};

// The data folder and the CA in it, opened for a change made offline.
struct OfflineCa {
  std::string dir;
  std::unique_ptr<audit::FileAuditLog> audit_log;
  std::unique_ptr<store::sqlite::SqliteStore> store;
  std::unique_ptr<ca::CertificateAuthority> authority;
};

std::string data_dir(const Context& context, const std::string& flag) {
  if (!flag.empty()) return flag;
  return context.env().data.empty() ? "var" : context.env().data;
}

Outcome<OfflineCa> open_offline(const std::string& dir) {
  const server::DataPaths paths = server::data_paths(dir);
  std::error_code ec;
  // Opening the store would create an empty database: the folder must be initialised.
  if (!std::filesystem::exists(paths.database, ec)) {
    return fail(kExitUsage, sanitize(dir) +
                                " is not an initialised data folder; run `sigil init "
                                "--data " +
                                sanitize(dir) + "` first, or give --data");
  }
  OfflineCa offline{dir, nullptr, nullptr, nullptr};
  auto audit_log = audit::FileAuditLog::open(paths.audit_log);
  if (!audit_log) {
    if (audit_log.error().code == Code::kUnavailable) {
      return fail(kExitRefused, "the audit log of " + sanitize(dir) +
                                    " is in use: stop `sigil serve` first (the CA is set up "
                                    "offline), then start it again");
    }
    return fail(kExitRefused, "cannot open the audit log: " + sanitize(audit_log.error().message));
  }
  offline.audit_log = std::move(*audit_log);
  auto master_key = server::load_master_key(paths);
  if (!master_key) return fail(kExitUsage, sanitize(master_key.error().message));
  auto store = store::sqlite::SqliteStore::open(paths.database);
  if (!store) return fail(kExitRefused, "cannot open the store: " + store.error().message);
  offline.store = std::move(*store);
  auto authority =
      ca::CertificateAuthority::load(*offline.store, *offline.store, master_key->reveal());
  if (!authority) {
    return fail(kExitRefused, "cannot load the CA: " + sanitize(authority.error().message));
  }
  offline.authority = std::move(*authority);
  return offline;
}

Outcome<void> audit(OfflineCa& offline, audit::Event event) {
  if (auto written = offline.audit_log->append_sync(std::move(event)); !written) {
    return fail(kExitRefused, "the CA was changed but the audit log could not be written: " +
                                  sanitize(written.error().message));
  }
  return {};
}

audit::Event ca_event(std::string name, std::string subject, TimePoint now) {
  audit::Event event;
  event.time = now;
  event.event = std::move(name);
  event.subject = std::move(subject);
  event.decision = audit::Decision::kAllow;
  return event;
}

int exit_for(const Error& error) {
  return error.code == Code::kInvalidArgument || error.code == Code::kFailedPrecondition
             ? kExitRefused
             : kExitUnreachable;
}

// The fingerprint (hex) of the CA's first root.
std::string root_fingerprint(const ca::CertificateAuthority& authority, TimePoint now) {
  for (const auto& key : authority.list(now)) {
    if (key.record.kind != ca::CaKeyKind::kRoot) continue;
    if (auto root = pki::Certificate::from_pem(key.record.certificate_pem)) {
      return hex_encode(root->fingerprint_sha256());
    }
  }
  return {};
}

// The CSR of a pending intermediate, written to `csr_out` or printed. It can be asked for
// only once: when it cannot be written, it goes to stdout instead.
void print_csr(const Context& context, const OfflineCa& offline, const std::string& csr,
               const std::string& csr_out) {
  bool written = false;
  if (!csr_out.empty()) {
    auto ok = write_file_atomically(csr_out, csr, kPublicMode);
    if (!ok) std::cerr << "sigil: " << ok.error().message << "; the CSR follows on stdout\n";
    written = ok.has_value();
  }
  const std::string trust_domain =
      offline.authority->trust_domain() ? offline.authority->trust_domain()->name() : "";
  if (context.output_mode() == OutputMode::kJson) {
    json::object out{{"trust_domain", trust_domain}, {"intermediate", "pending"}};
    if (written) {
      out["csr_file"] = csr_out;
    } else {
      out["csr"] = csr;
    }
    std::cout << render_json(out);
    return;
  }
  std::cout << render_fields({{"trust_domain", trust_domain},
                              {"intermediate", "pending: waiting for the root's signature"}});
  if (written) {
    std::cout << "csr: " << sanitize(csr_out) << "\n";
  } else {
    std::cout << csr;
  }
  std::cout << "\nHave the root sign the CSR as a CA certificate (keyCertSign), then:\n"
            << "  sigil ca import --data " << sanitize(offline.dir)
            << " --cert intermediate.pem --root root.pem\n";
}

Outcome<void> run_init(const Context& context, const InitArgs& args) {
  auto trust_domain = pki::TrustDomain::parse(args.trust_domain);
  if (!trust_domain) {
    return fail(kExitUsage, "--trust-domain: " + sanitize(trust_domain.error().message));
  }
  auto type = parse_key_type(args.key_type, false);
  if (!type) return std::unexpected(usage_failure(type.error()));
  if (!args.csr_out.empty() && !args.external_root) {
    return fail(kExitUsage, "--csr-out goes with --external-root");
  }
  auto offline = open_offline(data_dir(context, args.data));
  if (!offline) return std::unexpected(offline.error());
  ca::CaOptions options;
  options.key_type = *type;
  const TimePoint now = SystemClock().now();
  const bool json_mode = context.output_mode() == OutputMode::kJson;

  if (args.external_root) {
    auto csr = offline->authority->initialise_external(*trust_domain, options, now);
    if (!csr) {
      return fail(
          exit_for(csr.error()),
          "cannot initialise the CA: " + sanitize(csr.error().message) + "; nothing was changed");
    }
    audit::Event event = ca_event("ca.init", trust_domain->id_string(), now);
    event.detail = "external root; intermediate pending";
    if (auto ok = audit(*offline, std::move(event)); !ok) return ok;
    print_csr(context, *offline, *csr, args.csr_out);
    return {};
  }

  if (auto ok = offline->authority->initialise(*trust_domain, options, now); !ok) {
    return fail(exit_for(ok.error()), "cannot initialise the CA: " + sanitize(ok.error().message) +
                                          "; nothing was changed");
  }
  const std::string fingerprint = root_fingerprint(*offline->authority, now);
  audit::Event event = ca_event("ca.init", trust_domain->id_string(), now);
  event.certificate = fingerprint;
  if (auto ok = audit(*offline, std::move(event)); !ok) return ok;
  if (json_mode) {
    std::cout << render_json(json::object{{"trust_domain", trust_domain->name()},
                                          {"key_type", key_type_name(*type)},
                                          {"root_fingerprint_sha256", fingerprint}});
  } else {
    std::cout << render_fields({{"trust_domain", trust_domain->name()},
                                {"key_type", key_type_name(*type)},
                                {"root_fingerprint_sha256", fingerprint}});
  }
  return {};
}

Outcome<void> run_request(const Context& context, const RequestArgs& args) {
  auto type = parse_key_type(args.key_type, false);
  if (!type) return std::unexpected(usage_failure(type.error()));
  auto offline = open_offline(data_dir(context, args.data));
  if (!offline) return std::unexpected(offline.error());
  ca::CaOptions options;
  options.key_type = *type;
  const TimePoint now = SystemClock().now();
  auto csr = offline->authority->request_intermediate(options, now);
  if (!csr) {
    return fail(exit_for(csr.error()),
                "cannot request an intermediate: " + sanitize(csr.error().message));
  }
  const auto trust_domain = offline->authority->trust_domain();
  audit::Event event = ca_event("ca.request", trust_domain ? trust_domain->id_string() : "", now);
  event.detail = "intermediate pending";
  if (auto ok = audit(*offline, std::move(event)); !ok) return ok;
  print_csr(context, *offline, *csr, args.csr_out);
  return {};
}

Outcome<void> run_import(const Context& context, const ImportArgs& args) {
  auto intermediate = read_small_file(args.certificate, kMaxPemFileBytes);
  if (!intermediate) return std::unexpected(usage_failure(intermediate.error()));
  auto root = read_small_file(args.root, kMaxPemFileBytes);
  if (!root) return std::unexpected(usage_failure(root.error()));
  auto offline = open_offline(data_dir(context, args.data));
  if (!offline) return std::unexpected(offline.error());
  const TimePoint now = SystemClock().now();
  auto info = offline->authority->import_intermediate(*intermediate, *root, now);
  if (!info) {
    return fail(exit_for(info.error()),
                "cannot import the intermediate: " + sanitize(info.error().message));
  }
  audit::Event event = ca_event("ca.import", info->record.id, now);
  if (auto certificate = pki::Certificate::from_pem(info->record.certificate_pem)) {
    event.certificate = hex_encode(certificate->fingerprint_sha256());
  }
  if (auto ok = audit(*offline, std::move(event)); !ok) return ok;
  json::object out{{"id", info->record.id},
                   {"state", info->state},
                   {"parent_id", info->record.parent_id},
                   {"not_after", to_unix(info->record.not_after)}};
  if (context.output_mode() == OutputMode::kJson) {
    std::cout << render_json(out);
  } else {
    std::cout << render_fields({{"id", sanitize(info->record.id)},
                                {"state", sanitize(info->state)},
                                {"parent_id", sanitize(info->record.parent_id)},
                                {"not_after", format_unix_time(to_unix(info->record.not_after))}});
  }
  return {};
}

// ---- through the API ----

std::string time_cell(const json::object& object, std::string_view key) {
  const json::value* v = object.if_contains(key);
  if (v != nullptr && v->is_int64()) return format_unix_time(v->get_int64());
  return display(v);
}

std::string render_ca_keys(const json::value& answer) {
  if (!answer.is_object()) return {};
  const json::object& object = answer.get_object();
  std::string out = "trust_domain: " + display_field(object, "trust_domain") + "\n";
  std::vector<std::vector<std::string>> rows;
  const json::value* keys = object.if_contains("keys");
  if (keys != nullptr && keys->is_array()) {
    for (const auto& item : keys->get_array()) {
      if (!item.is_object()) continue;
      const json::object& key = item.get_object();
      rows.push_back({display_field(key, "id"), display_field(key, "kind"),
                      display_field(key, "state"), time_cell(key, "not_after"),
                      display_field(key, "parent_id")});
    }
  }
  return out + render_table({"ID", "KIND", "STATE", "NOT_AFTER", "PARENT"}, rows);
}

Outcome<void> run_show(Context& context) {
  auto answer = context.admin_call("GET", "/v1/ca", std::nullopt, "show the CA");
  if (!answer) return std::unexpected(answer.error());
  std::cout << (context.output_mode() == OutputMode::kJson ? render_json(*answer)
                                                           : render_ca_keys(*answer));
  return {};
}

Outcome<void> run_rotate(Context& context) {
  auto answer =
      context.admin_call("POST", "/v1/ca/rotate", json::object{}, "rotate the intermediate CA");
  if (!answer) return std::unexpected(answer.error());
  if (!answer->is_object()) return fail(kExitUnreachable, "the server's answer is not an object");
  if (context.output_mode() == OutputMode::kJson) {
    std::cout << render_json(*answer);
  } else {
    const json::object& key = answer->get_object();
    std::cout << render_fields({{"id", display_field(key, "id")},
                                {"kind", display_field(key, "kind")},
                                {"state", display_field(key, "state")},
                                {"not_after", time_cell(key, "not_after")},
                                {"parent_id", display_field(key, "parent_id")}});
  }
  return {};
}

Outcome<void> run_bundle(Context& context, const std::string& format) {
  if (format == "spiffe") {
    auto answer = context.get_json(context.url("/v1/bundle?format=spiffe"), "get the bundle");
    if (!answer) return std::unexpected(answer.error());
    std::cout << render_json(*answer);
    return {};
  }
  const std::string url = context.url("/v1/bundle");
  auto answer = http::request("GET", url, {{"Accept", "application/pem-certificate-chain"}}, {},
                              context.http_options());
  if (!answer) {
    Error error = std::move(answer.error());
    if (error.code == Code::kUnavailable) {
      error.message = "cannot reach " + sanitize(context.addr) + " (" + error.message + ")";
    }
    return std::unexpected(failure_for_transport(error));
  }
  if (exit_code_for_status(answer->status) != kExitOk) {
    return std::unexpected(failure_for_answer("get the bundle", answer->status, answer->body));
  }
  // Re-encoded from the parsed DER, so that only certificates reach the output.
  auto roots = pki::Certificate::chain_from_pem(answer->body);
  if (!roots) return fail(kExitUnreachable, "the bundle is not PEM certificates");
  for (const auto& root : *roots) std::cout << root.pem();
  return {};
}

}  // namespace

void add_ca_commands(CLI::App& app, Context& context) {
  CLI::App* ca = app.add_subcommand(
      "ca",
      "The certificate authority: init, request-intermediate, import (offline), show, rotate, "
      "bundle");
  ca->require_subcommand(1);

  auto init = std::make_shared<InitArgs>();
  CLI::App* init_cmd = ca->add_subcommand(
      "init",
      "Create the CA in the data folder (with the server stopped): a root and an intermediate, "
      "or with --external-root an intermediate's CSR for your own root to sign");
  init_cmd->add_option("--data", init->data, "The data folder (default ./var; SIGIL_DATA)");
  init_cmd
      ->add_option("--trust-domain", init->trust_domain,
                   "The SPIFFE trust domain, e.g. example.org")
      ->required();
  init_cmd->add_option("--key-type", init->key_type, "P-256 (default) or P-384");
  init_cmd->add_flag("--external-root", init->external_root,
                     "The root is kept elsewhere: write the intermediate's CSR instead");
  init_cmd->add_option("--csr-out", init->csr_out,
                       "With --external-root: write the CSR to FILE (default: stdout)");
  init_cmd->callback([&context, init] { context.finish(run_init(context, *init)); });

  auto request = std::make_shared<RequestArgs>();
  CLI::App* request_cmd = ca->add_subcommand(
      "request-intermediate",
      "With an external root: a new intermediate's CSR for the root to sign, then `ca import` "
      "(offline; the current intermediate signs until then)");
  request_cmd->add_option("--data", request->data, "The data folder (default ./var; SIGIL_DATA)");
  request_cmd->add_option("--key-type", request->key_type, "P-256 (default) or P-384");
  request_cmd->add_option("--csr-out", request->csr_out, "Write the CSR to FILE (default: stdout)");
  request_cmd->callback([&context, request] { context.finish(run_request(context, *request)); });

  auto import = std::make_shared<ImportArgs>();
  CLI::App* import_cmd = ca->add_subcommand(
      "import",
      "Activate an intermediate signed by your root, after `ca init --external-root` or "
      "`ca request-intermediate` (offline)");
  import_cmd->add_option("--data", import->data, "The data folder (default ./var; SIGIL_DATA)");
  import_cmd->add_option("--cert", import->certificate, "The signed intermediate (PEM)")
      ->required();
  import_cmd->add_option("--root", import->root, "The root certificate (PEM)")->required();
  import_cmd->callback([&context, import] { context.finish(run_import(context, *import)); });

  ca->add_subcommand("show", "List the CA's roots and intermediates (scope sigil:admin)")
      ->callback([&context] { context.finish(run_show(context)); });
  ca->add_subcommand("rotate",
                     "Start signing with a new intermediate; certificates already issued stay "
                     "valid (scope sigil:admin)")
      ->callback([&context] { context.finish(run_rotate(context)); });

  auto format = std::make_shared<std::string>("pem");
  CLI::App* bundle_cmd =
      ca->add_subcommand("bundle", "Print the trust bundle (the roots) workloads verify with");
  bundle_cmd->add_option("--format", *format, "pem (default) or spiffe (the SPIFFE bundle JSON)")
      ->check(CLI::IsMember({"pem", "spiffe"}));
  bundle_cmd->callback([&context, format] { context.finish(run_bundle(context, *format)); });
}

}  // namespace sigil::cli
