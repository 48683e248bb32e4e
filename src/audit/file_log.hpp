// The audit log as an append-only file of chained JSON lines (format in audit/log.hpp),
// written by one thread with group commit.
//
//   SIGIL_TRY(log, audit::FileAuditLog::open(data_dir + "/audit.log"));
//   log->append(std::move(event), [respond](Result<void> durable) { respond(durable); });
//
// append() only queues. The writer thread takes everything queued, seals it into the
// chain, writes it with one write() and makes it durable with one fdatasync(), then runs
// each completion. Many requests thus share one disk flush.
//
// Fail closed: once a write or a flush fails, that batch and every later append complete
// with the error, and nothing more is written; the file may end in a partial record, which
// the next open() cuts off. Restart to recover.
//
// Opening an existing file continues its chain from its last line:
//   - a last line without a newline is a record torn by a crash or a failed write: its
//     batch was never acknowledged, so it is cut off (and a warning logged);
//   - a complete last line that is not a valid record means the file was damaged or
//     edited: open() refuses (kInternal) and names `sigil audit verify`.
// Only the last line is checked here; verify_chain() checks them all.
//
// Thread safety: append() and head() from any thread. close() from any thread but not
// from inside a completion (it waits for the writer, which runs completions).
#pragma once

#include <condition_variable>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "audit/log.hpp"

namespace sigil::audit {

// The two system calls the writer makes. Replaceable so that tests can count flushes or
// make the disk fail.
struct FileIo {
  // Writes all of `data` at the end of `fd` (write(2) until done, EINTR retried).
  std::function<Result<void>(int fd, std::string_view data)> write;
  // Makes what was written durable (fdatasync(2)).
  std::function<Result<void>(int fd)> sync;

  static FileIo system();
};

struct FileAuditLogOptions {
  // Appends beyond this many waiting events complete at once with kResourceExhausted:
  // a stalled disk must not turn into unbounded memory.
  std::size_t max_queued = 65536;
  FileIo io = FileIo::system();
};

class FileAuditLog final : public Sink {
 public:
  // Opens `path` for appending (creating it with mode 0600) and starts the writer.
  // Errors: kUnavailable when another FileAuditLog (in any process) has it open;
  // kInternal when it cannot be opened, read or repaired, or its last record is damaged.
  static Result<std::unique_ptr<FileAuditLog>> open(const std::string& path,
                                                    FileAuditLogOptions options = {});

  // Drains the queue (every pending completion runs) and stops the writer.
  ~FileAuditLog() override;
  FileAuditLog(const FileAuditLog&) = delete;
  FileAuditLog& operator=(const FileAuditLog&) = delete;

  // After close(), completes at once with kFailedPrecondition.
  void append(Event event, std::function<void(Result<void>)> done) override;

  // Writes what is queued, then stops the writer and closes the file. Idempotent.
  void close();

  // The newest durable record (seq 0 for an empty log): an anchor for verify_chain().
  ChainHead head() const;

 private:
  struct Pending {
    Event event;
    std::function<void(Result<void>)> done;
  };
  struct Chain {
    std::uint64_t seq = 0;
    std::string prev;  // hex SHA-256 of the last line
    std::string hash;  // the last record's "hash"
  };

  FileAuditLog(std::string path, int fd, Chain chain, FileAuditLogOptions options);
  void run();
  Result<void> write_batch(const std::vector<Pending>& batch);

  const std::string path_;
  const int fd_;
  const std::size_t max_queued_;
  const FileIo io_;

  // Owned by the writer thread.
  Chain chain_;
  std::optional<Error> failure_;

  mutable std::mutex mu_;
  std::condition_variable wake_;
  std::vector<Pending> queue_;   // guarded by mu_
  bool closing_ = false;         // guarded by mu_
  bool writer_waiting_ = false;  // guarded by mu_: the writer sleeps on wake_
  ChainHead durable_head_;       // guarded by mu_

  std::once_flag close_once_;
  std::thread writer_;  // last: starts after everything above exists
};

}  // namespace sigil::audit
