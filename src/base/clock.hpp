// Time is passed in: pure code takes a TimePoint argument, services take a Clock&.
// Tests use FakeClock and never sleep to test expiry.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace sigil {

using TimePoint = std::chrono::system_clock::time_point;
using Seconds = std::chrono::seconds;

// Whole seconds since the Unix epoch (JWT NumericDate, SQL columns).
inline std::int64_t to_unix(TimePoint t) {
  return std::chrono::duration_cast<Seconds>(t.time_since_epoch()).count();
}
inline TimePoint from_unix(std::int64_t s) {
  return TimePoint{Seconds{s}};
}

// RFC 3339 UTC, e.g. "2026-11-23T11:31:52Z", or with milliseconds "...52.123Z".
std::string to_rfc3339(TimePoint t, bool milliseconds = false);

// Parses RFC 3339 date-time: "YYYY-MM-DDTHH:MM:SS" with optional fraction (truncated to
// whole seconds) and "Z" or "+HH:MM"/"-HH:MM" (also 't'/'z'). Strict: nullopt for anything
// else, including out-of-range fields and years before 1970 or after 9999.
std::optional<TimePoint> from_rfc3339(std::string_view text);

// Thread-safe source of the current time.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual TimePoint now() const = 0;
};

class SystemClock final : public Clock {
 public:
  TimePoint now() const override { return std::chrono::system_clock::now(); }
};

// A clock that moves only when told to. Thread-safe.
class FakeClock final : public Clock {
 public:
  explicit FakeClock(TimePoint start = from_unix(1'700'000'000))
      : ticks_(start.time_since_epoch().count()) {}
  TimePoint now() const override { return TimePoint{TimePoint::duration{ticks_.load()}}; }
  void set(TimePoint t) { ticks_.store(t.time_since_epoch().count()); }
  void advance(TimePoint::duration d) { ticks_.fetch_add(d.count()); }

 private:
  std::atomic<TimePoint::rep> ticks_;
};

}  // namespace sigil
