#include "server/policy_file.hpp"

#include <spdlog/spdlog.h>

#include <fstream>
#include <sstream>

#include "base/hex.hpp"
#include "crypto/digest.hpp"
#include "policy/policy.hpp"

namespace sigil::server {

namespace {

constexpr auto kPollInterval = std::chrono::seconds(1);

// One line for the JSON log pattern: quotes and control characters would break it.
std::string one_line(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '\n') {
      out += "; ";
    } else if (c == '"' || c == '\\') {
      out += '\'';
    } else if (static_cast<unsigned char>(c) >= 0x20) {
      out += c;
    }
  }
  if (out.ends_with("; ")) out.resize(out.size() - 2);
  return out;
}

}  // namespace

PolicyFile::PolicyFile(std::string path, oauth::PolicyAdministration& admin, audit::Sink& audit,
                       const Clock& clock)
    : path_(std::move(path)), admin_(admin), audit_(audit), clock_(clock) {}

PolicyFile::~PolicyFile() {
  if (watcher_.joinable()) {
    watcher_.request_stop();
    wake();
    watcher_.join();
  }
}

std::optional<PolicyFile::Stamp> PolicyFile::stamp() const {
  std::error_code ec;
  const auto mtime = std::filesystem::last_write_time(path_, ec);
  if (ec) return std::nullopt;
  const auto size = std::filesystem::file_size(path_, ec);
  if (ec) return std::nullopt;
  return Stamp{mtime, size};
}

void PolicyFile::record(audit::Decision decision, std::string subject, std::string reason,
                        std::string detail) {
  audit::Event e;
  e.time = clock_.now();
  e.event = "policy.reload";
  e.client_id = "file:" + path_;
  e.subject = std::move(subject);
  e.decision = decision;
  e.reason = std::move(reason);
  e.detail = std::move(detail);
  audit_.append(std::move(e), [](Result<void> written) {
    if (!written)
      spdlog::error("cannot record the policy reload: {}", one_line(written.error().message));
  });
}

Result<void> PolicyFile::reload() {
  std::lock_guard lock(reload_mu_);
  seen_ = stamp();
  std::string text;
  {
    std::ifstream in(path_, std::ios::binary);
    if (!in) {
      Error e = Error::not_found("cannot read the policy file " + path_);
      spdlog::error("{}; the policy in force stays", one_line(e.message));
      record(audit::Decision::kError, "", "unreadable", e.message);
      return std::unexpected(e);
    }
    std::ostringstream buffer;
    buffer << in.rdbuf();
    text = std::move(buffer).str();
  }
  const std::string sha256 = hex_encode(crypto::sha256(text));
  if (sha256 == applied_sha256_) return Ok();

  oauth::ApplyOptions options;
  options.issue_secrets = false;
  options.applied_by = "file:" + path_;
  options.origin = "file";
  auto applied = admin_.apply(text, options, clock_.now());
  if (!applied) {
    std::string message = applied.error().message;
    // The diagnostics name the document "policy"; name the file instead.
    for (std::size_t at = 0; (at = message.find("policy:", at)) != std::string::npos;) {
      if (at == 0 || message[at - 1] == '\n') {
        message.replace(at, 6, path_);
        at += path_.size();
      } else {
        at += 7;
      }
    }
    spdlog::error("policy file refused, the policy in force stays: {}", one_line(message));
    record(applied.error().code == Code::kInvalidArgument ? audit::Decision::kDeny
                                                          : audit::Decision::kError,
           "", applied.error().code == Code::kInvalidArgument ? "invalid_policy" : "apply_failed",
           message.substr(0, 1024));
    return std::unexpected(Error{applied.error().code, std::move(message)});
  }
  applied_sha256_ = sha256;
  const std::string version = "policy version " + std::to_string(applied->version.version);
  if (applied->plan.empty()) {
    spdlog::info("policy file {} unchanged ({})", one_line(path_), version);
    return Ok();
  }
  spdlog::info("policy file {} applied as {}: {} policy changes, {} client changes",
               one_line(path_), version, applied->plan.changes.size(),
               applied->plan.clients.size());
  for (const auto& c : applied->plan.clients) {
    if (c.action == oauth::ClientAction::kCreate) {
      spdlog::warn(
          "service {} has a client but no secret yet; give it one with `sigil client "
          "rotate-secret {}`",
          one_line(c.client_id), one_line(c.client_id));
    }
  }
  record(audit::Decision::kAllow, version, "", "");
  return Ok();
}

void PolicyFile::watch() {
  watcher_ = std::jthread([this](std::stop_token stop) {
    while (!stop.stop_requested()) {
      bool woken = false;
      {
        std::unique_lock lock(wake_mu_);
        wake_cv_.wait_for(lock, stop, kPollInterval, [this] { return woken_; });
        woken = std::exchange(woken_, false);
      }
      if (stop.stop_requested()) break;
      bool changed = woken;
      if (!changed) {
        std::lock_guard lock(reload_mu_);
        changed = stamp() != seen_;
      }
      if (changed) (void)reload();
    }
  });
}

void PolicyFile::wake() {
  {
    std::lock_guard lock(wake_mu_);
    woken_ = true;
  }
  wake_cv_.notify_all();
}

}  // namespace sigil::server
