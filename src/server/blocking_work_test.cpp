#include "server/blocking_work.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <thread>

namespace sigil::server {
namespace {

TEST(BlockingWork, RunsTasksOffTheCallersThread) {
  BlockingWork work(2, 16);
  std::promise<std::thread::id> ran;
  ASSERT_TRUE(work.post([&] { ran.set_value(std::this_thread::get_id()); }));
  EXPECT_NE(ran.get_future().get(), std::this_thread::get_id());
}

TEST(BlockingWork, RefusesWhenFullAndAfterStop) {
  BlockingWork work(1, 1);
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::promise<void> started;
  ASSERT_TRUE(work.post([&] {
    started.set_value();
    released.wait();
  }));
  started.get_future().wait();  // the one thread is busy
  std::atomic<int> ran{0};
  EXPECT_TRUE(work.post([&] { ++ran; }));   // queued: capacity 1
  EXPECT_FALSE(work.post([&] { ++ran; }));  // full: refused, never run
  release.set_value();
  work.stop();  // runs what was queued
  EXPECT_EQ(ran.load(), 1);
  EXPECT_FALSE(work.post([&] { ++ran; }));
  work.stop();  // idempotent
  EXPECT_EQ(ran.load(), 1);
}

}  // namespace
}  // namespace sigil::server
