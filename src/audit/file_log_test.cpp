#include "audit/file_log.hpp"
#include "base/testing/temp_dir.hpp"

#include "audit/chain.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <future>
#include <latch>
#include <sstream>
#include <thread>
#include <vector>

namespace sigil::audit {
namespace {

namespace fs = std::filesystem;

using testing::TempDir;

Event event(int n, Decision decision = Decision::kAllow) {
  Event e;
  e.time = from_unix(1'700'000'000 + n);
  e.event = "token.issue";
  e.request_id = "req-" + std::to_string(n);
  e.client_id = "billing";
  e.decision = decision;
  return e;
}

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write_all(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::stringstream ss(text);
  std::string line;
  while (std::getline(ss, line)) lines.push_back(line);
  return lines;
}

std::string join(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& l : lines) out += l + "\n";
  return out;
}

class FileAuditLogTest : public ::testing::Test {
 protected:
  std::string log_path() const { return (dir_.path() / "audit.log").string(); }

  std::unique_ptr<FileAuditLog> open_ok(FileAuditLogOptions options = {}) {
    auto log = FileAuditLog::open(log_path(), std::move(options));
    EXPECT_TRUE(log.has_value()) << log.error().message;
    return log ? std::move(*log) : nullptr;
  }

  // A log of `n` records, closed.
  void write_records(int n) {
    auto log = open_ok();
    ASSERT_NE(log, nullptr);
    for (int i = 1; i <= n; ++i) ASSERT_TRUE(log->append_sync(event(i)).has_value());
  }

  ChainReport verify(const ChainHead& head = {}) {
    auto report = verify_chain(log_path(), head);
    EXPECT_TRUE(report.has_value()) << report.error().message;
    return report.value_or(ChainReport{});
  }

  TempDir dir_;
};

// ---- writing ----

TEST_F(FileAuditLogTest, RecordsAreChainedLines) {
  write_records(3);
  const auto lines = lines_of(read_all(log_path()));
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_TRUE(lines[0].starts_with(to_json_line(event(1), 1).substr(0, 20)));
  EXPECT_NE(
      lines[0].find(R"("prev":"0000000000000000000000000000000000000000000000000000000000000000")"),
      std::string::npos);
  EXPECT_NE(lines[1].find(R"("request_id":"req-2")"), std::string::npos);
  const ChainReport report = verify();
  EXPECT_TRUE(report.intact) << report.problem;
  EXPECT_EQ(report.records, 3u);
}

TEST_F(FileAuditLogTest, FileIsCreatedWithMode0600) {
  write_records(1);
  struct stat st {};
  ASSERT_EQ(::stat(log_path().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST_F(FileAuditLogTest, ReopeningContinuesTheChain) {
  write_records(2);
  {
    auto log = open_ok();
    ASSERT_NE(log, nullptr);
    EXPECT_EQ(log->head().seq, 2u);
    ASSERT_TRUE(log->append_sync(event(3)).has_value());
    ASSERT_TRUE(log->append_sync(event(4)).has_value());
    EXPECT_EQ(log->head().seq, 4u);
  }
  const ChainReport report = verify();
  EXPECT_TRUE(report.intact) << report.problem;
  EXPECT_EQ(report.records, 4u);
}

TEST_F(FileAuditLogTest, SecondWriterIsRefused) {
  auto first = open_ok();
  ASSERT_NE(first, nullptr);
  auto second = FileAuditLog::open(log_path());
  ASSERT_FALSE(second.has_value());
  EXPECT_EQ(second.error().code, Code::kUnavailable);
}

TEST_F(FileAuditLogTest, AppendAfterCloseFails) {
  auto log = open_ok();
  ASSERT_NE(log, nullptr);
  log->close();
  log->close();  // idempotent
  auto r = log->append_sync(event(1));
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, Code::kFailedPrecondition);
}

TEST_F(FileAuditLogTest, CloseDrainsTheQueue) {
  std::atomic<int> ok{0};
  {
    auto log = open_ok();
    ASSERT_NE(log, nullptr);
    for (int i = 1; i <= 100; ++i) {
      log->append(event(i), [&](Result<void> r) {
        if (r) ++ok;
      });
    }
  }  // destructor
  EXPECT_EQ(ok.load(), 100);
  EXPECT_EQ(verify().records, 100u);
}

TEST_F(FileAuditLogTest, TornLastLineIsCutOffOnOpen) {
  write_records(3);
  const std::string clean = read_all(log_path());
  write_all(log_path(), clean + R"({"seq":4,"time":"2023-11-)");
  {
    auto log = open_ok();
    ASSERT_NE(log, nullptr);
    EXPECT_EQ(read_all(log_path()), clean);
    ASSERT_TRUE(log->append_sync(event(4)).has_value());
  }
  const ChainReport report = verify();
  EXPECT_TRUE(report.intact) << report.problem;
  EXPECT_EQ(report.records, 4u);
}

TEST_F(FileAuditLogTest, TornOnlyLineLeavesAnEmptyLog) {
  write_all(log_path(), R"({"seq":1,"ti)");
  auto log = open_ok();
  ASSERT_NE(log, nullptr);
  EXPECT_EQ(log->head().seq, 0u);
  ASSERT_TRUE(log->append_sync(event(1)).has_value());
  log->close();
  EXPECT_EQ(verify().records, 1u);
}

TEST_F(FileAuditLogTest, DamagedLastRecordIsRefused) {
  write_records(2);
  auto lines = lines_of(read_all(log_path()));
  lines[1].replace(lines[1].find("allow"), 5, "deny");
  write_all(log_path(), join(lines));
  auto log = FileAuditLog::open(log_path());
  ASSERT_FALSE(log.has_value());
  EXPECT_EQ(log.error().code, Code::kInternal);
  EXPECT_NE(log.error().message.find("damaged"), std::string::npos) << log.error().message;
  EXPECT_NE(log.error().message.find("sigil audit verify"), std::string::npos);
}

// ---- group commit ----

TEST_F(FileAuditLogTest, ConcurrentAppendsShareFlushes) {
  constexpr int kThreads = 8;
  constexpr int kEach = 1250;  // 10,000 in all
  std::atomic<int> syncs{0};
  FileAuditLogOptions options;
  const FileIo real = FileIo::system();
  options.io.sync = [&](int fd) {
    ++syncs;
    return real.sync(fd);
  };
  auto log = open_ok(std::move(options));
  ASSERT_NE(log, nullptr);

  std::latch all_done(kThreads * kEach);
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        log->append(event(t * kEach + i), [&](Result<void> r) {
          if (!r) ++failures;
          all_done.count_down();
        });
      }
    });
  }
  for (auto& th : threads) th.join();
  all_done.wait();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_LT(syncs.load(), kThreads * kEach);
  EXPECT_GE(syncs.load(), 1);
  EXPECT_EQ(log->head().seq, static_cast<std::uint64_t>(kThreads * kEach));
  log->close();

  const ChainReport report = verify();
  EXPECT_TRUE(report.intact) << report.problem;
  EXPECT_EQ(report.records, static_cast<std::uint64_t>(kThreads * kEach));
}

// Deterministic: everything queued while a flush is under way goes out in the next one.
TEST_F(FileAuditLogTest, EventsQueuedDuringAFlushShareTheNextOne) {
  std::atomic<int> writes{0};
  std::atomic<int> syncs{0};
  std::promise<void> in_first_sync;
  std::promise<void> release_first_sync;
  auto released = release_first_sync.get_future().share();
  FileAuditLogOptions options;
  const FileIo real = FileIo::system();
  options.io.write = [&](int fd, std::string_view data) {
    ++writes;
    return real.write(fd, data);
  };
  options.io.sync = [&](int fd) {
    if (++syncs == 1) {
      in_first_sync.set_value();
      released.wait();
    }
    return real.sync(fd);
  };
  auto log = open_ok(std::move(options));
  ASSERT_NE(log, nullptr);

  std::latch all_done(6);
  log->append(event(1), [&](Result<void>) { all_done.count_down(); });
  in_first_sync.get_future().wait();
  for (int i = 2; i <= 6; ++i) log->append(event(i), [&](Result<void>) { all_done.count_down(); });
  release_first_sync.set_value();
  all_done.wait();
  EXPECT_EQ(writes.load(), 2);
  EXPECT_EQ(syncs.load(), 2);
  log->close();
  EXPECT_EQ(verify().records, 6u);
}

// ---- failing closed ----

TEST_F(FileAuditLogTest, FailedWriteFailsThisAndEveryLaterAppend) {
  std::atomic<int> writes{0};
  FileAuditLogOptions options;
  options.io.write = [&](int, std::string_view) -> Result<void> {
    ++writes;
    return std::unexpected(Error::internal("write: No space left on device"));
  };
  auto log = open_ok(std::move(options));
  ASSERT_NE(log, nullptr);
  auto first = log->append_sync(event(1));
  ASSERT_FALSE(first.has_value());
  EXPECT_EQ(first.error().code, Code::kInternal);
  EXPECT_NE(first.error().message.find("No space left"), std::string::npos);
  auto second = log->append_sync(event(2));
  ASSERT_FALSE(second.has_value());
  EXPECT_EQ(writes.load(), 1);  // nothing more is attempted
  EXPECT_EQ(log->head().seq, 0u);
}

TEST_F(FileAuditLogTest, FailedFlushFailsThisAndEveryLaterAppend) {
  std::atomic<int> writes{0};
  FileAuditLogOptions options;
  const FileIo real = FileIo::system();
  options.io.write = [&](int fd, std::string_view data) {
    ++writes;
    return real.write(fd, data);
  };
  options.io.sync = [](int) -> Result<void> {
    return std::unexpected(Error::internal("fdatasync: Input/output error"));
  };
  auto log = open_ok(std::move(options));
  ASSERT_NE(log, nullptr);
  EXPECT_FALSE(log->append_sync(event(1)).has_value());
  EXPECT_FALSE(log->append_sync(event(2)).has_value());
  EXPECT_EQ(writes.load(), 1);
}

TEST_F(FileAuditLogTest, EveryPendingCompletionGetsTheError) {
  std::promise<void> in_first_write;
  std::promise<void> release_first_write;
  auto released = release_first_write.get_future().share();
  FileAuditLogOptions options;
  std::atomic<int> writes{0};
  options.io.write = [&](int, std::string_view) -> Result<void> {
    if (++writes == 1) {
      in_first_write.set_value();
      released.wait();
    }
    return std::unexpected(Error::internal("write: Read-only file system"));
  };
  auto log = open_ok(std::move(options));
  ASSERT_NE(log, nullptr);

  std::atomic<int> failed{0};
  std::latch all_done(4);
  auto done = [&](Result<void> r) {
    if (!r) ++failed;
    all_done.count_down();
  };
  log->append(event(1), done);
  in_first_write.get_future().wait();
  for (int i = 2; i <= 4; ++i) log->append(event(i), done);
  release_first_write.set_value();
  all_done.wait();
  EXPECT_EQ(failed.load(), 4);
  EXPECT_EQ(writes.load(), 1);
}

TEST_F(FileAuditLogTest, FullQueueIsRefusedAtOnce) {
  std::promise<void> in_first_write;
  std::promise<void> release_first_write;
  auto released = release_first_write.get_future().share();
  FileAuditLogOptions options;
  options.max_queued = 2;
  const FileIo real = FileIo::system();
  std::atomic<int> writes{0};
  options.io.write = [&](int fd, std::string_view data) {
    if (++writes == 1) {
      in_first_write.set_value();
      released.wait();
    }
    return real.write(fd, data);
  };
  auto log = open_ok(std::move(options));
  ASSERT_NE(log, nullptr);
  std::latch written(3);
  auto done = [&](Result<void> r) {
    EXPECT_TRUE(r.has_value());
    written.count_down();
  };
  log->append(event(1), done);
  in_first_write.get_future().wait();  // event 1 is out of the queue
  log->append(event(2), done);
  log->append(event(3), done);
  auto refused = log->append_sync(event(4));  // completes inline, before the writer resumes
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().code, Code::kResourceExhausted);
  release_first_write.set_value();
  written.wait();
}

// ---- verify_chain ----

class VerifyChainTest : public FileAuditLogTest {
 protected:
  void SetUp() override {
    write_records(5);
    lines_ = lines_of(read_all(log_path()));
    ASSERT_EQ(lines_.size(), 5u);
  }
  std::vector<std::string> lines_;
};

TEST_F(VerifyChainTest, CleanLogIsIntact) {
  const ChainReport report = verify();
  EXPECT_TRUE(report.intact) << report.problem;
  EXPECT_EQ(report.records, 5u);
  EXPECT_EQ(report.first_bad_line, 0u);
}

TEST_F(VerifyChainTest, EditedFieldIsFound) {
  lines_[2].replace(lines_[2].find("allow"), 5, "deny");
  write_all(log_path(), join(lines_));
  const ChainReport report = verify();
  EXPECT_FALSE(report.intact);
  EXPECT_EQ(report.first_bad_line, 3u);
  EXPECT_EQ(report.records, 2u);
  EXPECT_NE(report.problem.find("hash"), std::string::npos) << report.problem;
}

TEST_F(VerifyChainTest, ResealedEditIsFoundByTheNextLink) {
  // Whoever rewrites a record and seals it properly still breaks the next record's "prev".
  lines_[2] =
      internal::seal(to_json_line(event(3, Decision::kDeny), 3), internal::hex_sha256(lines_[1]))
          .line;
  write_all(log_path(), join(lines_));
  const ChainReport report = verify();
  EXPECT_FALSE(report.intact);
  EXPECT_EQ(report.first_bad_line, 4u);
  EXPECT_NE(report.problem.find("prev"), std::string::npos) << report.problem;
}

TEST_F(VerifyChainTest, DeletedLineIsFound) {
  lines_.erase(lines_.begin() + 2);
  write_all(log_path(), join(lines_));
  const ChainReport report = verify();
  EXPECT_FALSE(report.intact);
  EXPECT_EQ(report.first_bad_line, 3u);
  EXPECT_NE(report.problem.find("seq is 4, expected 3"), std::string::npos) << report.problem;
}

TEST_F(VerifyChainTest, SwappedLinesAreFound) {
  std::swap(lines_[1], lines_[2]);
  write_all(log_path(), join(lines_));
  const ChainReport report = verify();
  EXPECT_FALSE(report.intact);
  EXPECT_EQ(report.first_bad_line, 2u);
}

TEST_F(VerifyChainTest, TruncatedLineIsFound) {
  const std::string text = read_all(log_path());
  write_all(log_path(), text.substr(0, text.size() - 10));
  const ChainReport report = verify();
  EXPECT_FALSE(report.intact);
  EXPECT_EQ(report.first_bad_line, 5u);
  EXPECT_EQ(report.records, 4u);
}

TEST_F(VerifyChainTest, RemovedTailIsFoundAgainstAKnownHead) {
  ChainHead head;
  {
    auto log = open_ok();
    ASSERT_NE(log, nullptr);
    head = log->head();
  }
  EXPECT_EQ(head.seq, 5u);
  EXPECT_TRUE(verify(head).intact);

  lines_.pop_back();
  write_all(log_path(), join(lines_));
  // The chain alone cannot tell a shorter log from an older one...
  EXPECT_TRUE(verify().intact);
  // ...the head recorded earlier can.
  const ChainReport report = verify(head);
  EXPECT_FALSE(report.intact);
  EXPECT_EQ(report.first_bad_line, 5u);
  EXPECT_NE(report.problem.find("removed from the end"), std::string::npos) << report.problem;
}

TEST_F(VerifyChainTest, RewrittenLogIsFoundAgainstAKnownHead) {
  ChainHead head;
  {
    auto log = open_ok();
    ASSERT_NE(log, nullptr);
    head = log->head();
  }
  head.hash[0] = head.hash[0] == 'a' ? 'b' : 'a';
  const ChainReport report = verify(head);
  EXPECT_FALSE(report.intact);
  EXPECT_EQ(report.first_bad_line, 5u);
}

TEST_F(VerifyChainTest, EmptyAndMissingFiles) {
  write_all(log_path(), "");
  const ChainReport empty = verify();
  EXPECT_TRUE(empty.intact);
  EXPECT_EQ(empty.records, 0u);
  auto missing = verify_chain((dir_.path() / "nope.log").string());
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().code, Code::kNotFound);
}

TEST_F(VerifyChainTest, GarbageIsReportedNotCrashed) {
  for (const std::string& junk : {std::string("\n"), std::string("not json\n"),
                                  std::string("{\"seq\":1}\n"), std::string(1000, '\xff') + "\n"}) {
    write_all(log_path(), junk);
    const ChainReport report = verify();
    EXPECT_FALSE(report.intact);
    EXPECT_EQ(report.first_bad_line, 1u);
  }
}

}  // namespace
}  // namespace sigil::audit
