#include "audit/file_log.hpp"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "audit/chain.hpp"

namespace sigil::audit {
namespace {

Error os_error(const std::string& path, std::string_view what, int err) {
  return Error::internal("audit log " + path + ": " + std::string(what) + ": " +
                         std::strerror(err));
}

// Reads exactly data.size() bytes at `offset`.
Result<void> read_at(int fd, const std::string& path, std::string& data, off_t offset) {
  std::size_t done = 0;
  while (done < data.size()) {
    const ssize_t n =
        ::pread(fd, data.data() + done, data.size() - done, offset + static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return std::unexpected(os_error(path, "read", errno));
    if (n == 0) return std::unexpected(os_error(path, "read", EIO));  // shrank under us
    done += static_cast<std::size_t>(n);
  }
  return Ok();
}

// The offset just after the last '\n' before `end`, or 0 when there is none.
Result<off_t> start_of_line_ending_at(int fd, const std::string& path, off_t end) {
  constexpr off_t kChunk = 64 * 1024;
  std::string chunk;
  while (end > 0) {
    const off_t begin = end > kChunk ? end - kChunk : 0;
    chunk.resize(static_cast<std::size_t>(end - begin));
    SIGIL_CHECK(read_at(fd, path, chunk, begin));
    const auto pos = chunk.rfind('\n');
    if (pos != std::string::npos) return begin + static_cast<off_t>(pos) + 1;
    end = begin;
  }
  return off_t{0};
}

// Makes a new file's directory entry durable too.
void sync_parent_directory(const std::string& path) {
  auto parent = std::filesystem::path(path).parent_path();
  if (parent.empty()) parent = ".";
  const int dir = ::open(parent.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0) return;
  ::fsync(dir);
  ::close(dir);
}

}  // namespace

FileIo FileIo::system() {
  FileIo io;
  io.write = [](int fd, std::string_view data) -> Result<void> {
    while (!data.empty()) {
      const ssize_t n = ::write(fd, data.data(), data.size());
      if (n < 0 && errno == EINTR) continue;
      if (n < 0)
        return std::unexpected(Error::internal(std::string("write: ") + std::strerror(errno)));
      data.remove_prefix(static_cast<std::size_t>(n));
    }
    return Ok();
  };
  io.sync = [](int fd) -> Result<void> {
    if (::fdatasync(fd) != 0) {
      return std::unexpected(Error::internal(std::string("fdatasync: ") + std::strerror(errno)));
    }
    return Ok();
  };
  return io;
}

Result<std::unique_ptr<FileAuditLog>> FileAuditLog::open(const std::string& path,
                                                         FileAuditLogOptions options) {
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) return std::unexpected(os_error(path, "open", errno));
  // Closes fd on every early return; released once the log owns it.
  std::unique_ptr<const int, void (*)(const int*)> guard(&fd, [](const int* f) { ::close(*f); });

  // Two writers would fork the chain.
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK) {
      return std::unexpected(Error::unavailable("audit log " + path + " is in use"));
    }
    return std::unexpected(os_error(path, "lock", errno));
  }

  struct stat st {};
  if (::fstat(fd, &st) != 0) return std::unexpected(os_error(path, "stat", errno));
  off_t size = st.st_size;
  if (size == 0) sync_parent_directory(path);

  if (size > 0) {
    std::string last(1, '\0');
    SIGIL_CHECK(read_at(fd, path, last, size - 1));
    if (last[0] != '\n') {
      SIGIL_TRY(cut, start_of_line_ending_at(fd, path, size));
      spdlog::warn(
          "audit log {}: cutting off an incomplete last record ({} bytes at offset {}), "
          "left by a crash or a failed write; it was never acknowledged",
          path, size - cut, cut);
      if (::ftruncate(fd, cut) != 0) return std::unexpected(os_error(path, "truncate", errno));
      if (::fsync(fd) != 0) return std::unexpected(os_error(path, "fsync", errno));
      size = cut;
    }
  }

  Chain chain{0, std::string(internal::kGenesisPrev), ""};
  if (size > 0) {
    SIGIL_TRY(start, start_of_line_ending_at(fd, path, size - 1));
    std::string line(static_cast<std::size_t>(size - 1 - start), '\0');
    SIGIL_CHECK(read_at(fd, path, line, start));
    auto record = internal::open_record(line);
    if (!record) {
      return std::unexpected(
          Error::internal("audit log " + path + ": the last record (at byte " +
                          std::to_string(start) + ") is damaged: " + record.error().message +
                          "; run `sigil audit verify` and repair the file before appending to it"));
    }
    chain.seq = record->seq;
    chain.prev = internal::hex_sha256(line);
    chain.hash = record->hash;
  }

  guard.release();
  return std::unique_ptr<FileAuditLog>(
      new FileAuditLog(path, fd, std::move(chain), std::move(options)));
}

FileAuditLog::FileAuditLog(std::string path, int fd, Chain chain, FileAuditLogOptions options)
    : path_(std::move(path)),
      fd_(fd),
      max_queued_(options.max_queued),
      io_(std::move(options.io)),
      chain_(std::move(chain)) {
  durable_head_ = ChainHead{chain_.seq, chain_.hash};
  writer_ = std::thread([this] { run(); });
}

FileAuditLog::~FileAuditLog() {
  close();
}

void FileAuditLog::close() {
  std::call_once(close_once_, [this] {
    {
      std::lock_guard lock(mu_);
      closing_ = true;
    }
    wake_.notify_all();
    writer_.join();
    ::close(fd_);
  });
}

ChainHead FileAuditLog::head() const {
  std::lock_guard lock(mu_);
  return durable_head_;
}

void FileAuditLog::append(Event event, std::function<void(Result<void>)> done) {
  std::unique_lock lock(mu_);
  std::optional<Error> refused;
  if (closing_) {
    refused = Error::failed_precondition("audit log " + path_ + " is closed");
  } else if (queue_.size() >= max_queued_) {
    refused = Error::resource_exhausted("audit log " + path_ + ": too many records waiting");
  } else {
    queue_.push_back(Pending{std::move(event), std::move(done)});
  }
  // A writer busy with a batch looks at the queue again when it is done: waking it for
  // every record would cost a futex call and a thread switch each.
  const bool wake = !refused && writer_waiting_;
  lock.unlock();
  if (refused) {
    if (done) done(std::unexpected(std::move(*refused)));
    return;
  }
  if (wake) wake_.notify_one();
}

void FileAuditLog::run() {
  std::vector<Pending> batch;
  std::unique_lock lock(mu_);
  while (true) {
    writer_waiting_ = true;
    wake_.wait(lock, [this] { return !queue_.empty() || closing_; });
    writer_waiting_ = false;
    if (queue_.empty()) return;  // closing, and everything is written
    batch.swap(queue_);
    lock.unlock();

    const Result<void> outcome = write_batch(batch);
    if (outcome) {
      // Published before the completions run, so that a caller who saw Ok() sees its record
      // in head().
      std::lock_guard head_lock(mu_);
      durable_head_ = ChainHead{chain_.seq, chain_.hash};
    }
    for (Pending& p : batch) {
      if (p.done) p.done(outcome);
    }
    batch.clear();
    lock.lock();
  }
}

Result<void> FileAuditLog::write_batch(const std::vector<Pending>& batch) {
  if (failure_) return std::unexpected(*failure_);
  Chain next = chain_;
  std::string buffer;
  for (const Pending& p : batch) {
    ++next.seq;
    internal::SealedRecord record = internal::seal(to_json_line(p.event, next.seq), next.prev);
    next.prev = internal::hex_sha256(record.line);
    next.hash = std::move(record.hash);
    buffer += record.line;
    buffer += '\n';
  }
  auto fail = [&](std::string_view step, const Error& e) -> Result<void> {
    failure_ = Error::internal("audit log " + path_ + ": " + std::string(step) + " failed (" +
                               e.message + "); no further records are accepted");
    spdlog::error("{}", failure_->message);
    return std::unexpected(*failure_);
  };
  if (auto written = io_.write(fd_, buffer); !written) return fail("write", written.error());
  if (auto synced = io_.sync(fd_); !synced) return fail("fdatasync", synced.error());
  chain_ = std::move(next);
  return Ok();
}

}  // namespace sigil::audit
