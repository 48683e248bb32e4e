// The policy file of `sigil serve --policy FILE`: applied at start, then again whenever
// the file changes (checked every second) or the process gets SIGHUP. A file that fails
// validation is refused: the running policy stays, the problems go to the log with their
// line numbers, and the refusal is audited ("policy.reload", deny). New services' clients
// are created without a secret: nobody could be shown it; give them one with
// `sigil client rotate-secret`.
//
// Thread safety: reload() may be called from any thread; reloads are serialised.
#pragma once

#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <optional>
#include <stop_token>
#include <string>
#include <thread>

#include "audit/log.hpp"
#include "base/clock.hpp"
#include "base/error.hpp"
#include "oauth/policy_admin.hpp"

namespace sigil::server {

class PolicyFile {
 public:
  // All references must outlive this object.
  PolicyFile(std::string path, oauth::PolicyAdministration& admin, audit::Sink& audit,
             const Clock& clock);
  ~PolicyFile();

  // Reads the file and applies it when its text differs from the last applied one.
  // kInvalidArgument (with the diagnostics) for a file that does not validate, kNotFound
  // or kUnavailable when it cannot be read; either way the policy in force stays.
  Result<void> reload();

  // Starts watching: a thread that reloads on change, and on wake().
  void watch();
  // Asks the watcher to reload now (for SIGHUP). Does not block.
  void wake();

 private:
  struct Stamp {
    std::filesystem::file_time_type mtime;
    std::uintmax_t size = 0;
    bool operator==(const Stamp&) const = default;
  };
  std::optional<Stamp> stamp() const;
  void record(audit::Decision decision, std::string subject, std::string reason,
              std::string detail);

  const std::string path_;
  oauth::PolicyAdministration& admin_;
  audit::Sink& audit_;
  const Clock& clock_;

  std::mutex reload_mu_;        // serialises reload()
  std::string applied_sha256_;  // guarded by reload_mu_
  std::optional<Stamp> seen_;   // guarded by reload_mu_

  std::mutex wake_mu_;
  std::condition_variable_any wake_cv_;
  bool woken_ = false;  // guarded by wake_mu_
  std::jthread watcher_;
};

}  // namespace sigil::server
