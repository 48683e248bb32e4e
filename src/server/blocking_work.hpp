// A few threads for request work that waits on the disk or burns milliseconds of CPU
// (issuing a certificate: signing, checking, and a durable commit of its record), so that
// the HTTP threads, which must never block, keep serving tokens meanwhile.
//
// Bounded: when `capacity` tasks are waiting, post() refuses and the caller answers 503
// at once instead of queueing without end. stop() runs what was posted, then joins.
//
// Thread safety: post() from any thread; stop() once, from the owner.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace sigil::server {

class BlockingWork {
 public:
  BlockingWork(unsigned threads, std::size_t capacity);
  ~BlockingWork();  // stop()
  BlockingWork(const BlockingWork&) = delete;
  BlockingWork& operator=(const BlockingWork&) = delete;

  // Queues `task`; false (and `task` dropped unrun) when full or stopped.
  bool post(std::function<void()> task);

  // Runs every task already posted, refuses new ones, and joins the threads. Idempotent.
  void stop();

 private:
  void run();

  const std::size_t capacity_;
  std::mutex mu_;
  std::condition_variable wake_;
  std::deque<std::function<void()>> tasks_;  // guarded by mu_
  bool stopping_ = false;                    // guarded by mu_
  std::vector<std::thread> threads_;
};

}  // namespace sigil::server
