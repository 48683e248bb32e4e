// A small Prometheus registry: labelled counters, gauges and histograms, rendered in the
// text exposition format (version 0.0.4) for GET /metrics.
//
// Hot path: a Counter&, Gauge& or Histogram& is a few atomics; look one up once with
// with({...}) and keep the reference (references stay valid for the registry's
// lifetime), or look it up per use: that takes a shared lock on the family's map and
// allocates nothing once the series exists.
//
//   auto& issued = registry.counter("sigil_tokens_issued_total", "Tokens issued", {"grant"});
//   issued.with({"client_credentials"}).inc();
//   std::string text = registry.render();
//
// Thread safety: everything here may be called from any thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <initializer_list>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace sigil::http {

class Counter {
 public:
  void inc(std::uint64_t n = 1) { value_.fetch_add(n, std::memory_order_relaxed); }
  std::uint64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> value_{0};
};

class Gauge {
 public:
  void set(double v) { value_.store(v, std::memory_order_relaxed); }
  void add(double v) { value_.fetch_add(v, std::memory_order_relaxed); }
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

class Histogram {
 public:
  // `bounds`: strictly increasing upper bounds; must outlive the histogram.
  explicit Histogram(std::span<const double> bounds);
  void observe(double v);

  struct Snapshot {
    std::vector<std::uint64_t> cumulative;  // one per bound, then +Inf
    double sum = 0;
    std::uint64_t count = 0;  // equals cumulative.back()
  };
  Snapshot snapshot() const;

 private:
  std::span<const double> bounds_;
  std::unique_ptr<std::atomic<std::uint64_t>[]> counts_;  // bounds_.size() + 1
  std::atomic<double> sum_{0};
};

// 0.1 ms .. 5 s, for request latencies in seconds.
std::span<const double> default_latency_buckets();

namespace detail {

// Shared by the three family kinds: the label-set -> series map and its rendering.
class FamilyBase {
 public:
  FamilyBase(std::string name, std::string help, std::vector<std::string> label_names);
  virtual ~FamilyBase() = default;
  const std::string& name() const { return name_; }
  const std::vector<std::string>& label_names() const { return label_names_; }
  virtual std::string_view type() const = 0;
  void render(std::string& out) const;

  // A family holds at most this many series; samples for further label sets go to one
  // series whose label values are all "_overflow", so a bug feeding unbounded values
  // cannot exhaust memory.
  static constexpr std::size_t kMaxSeries = 10'000;

 protected:
  struct Series {
    std::vector<std::string> values;
    virtual ~Series() = default;
  };
  Series& find_or_add(std::span<const std::string_view> values);
  virtual std::unique_ptr<Series> make_series() const = 0;
  virtual void render_series(std::string& out, const Series& series) const = 0;
  // `name{labels,extra}` (extra may be empty), without the value.
  void append_sample_name(std::string& out, std::string_view suffix, const Series& series,
                          std::string_view extra_label = {}) const;

 private:
  std::string name_;
  std::string help_;
  std::vector<std::string> label_names_;
  mutable std::shared_mutex mu_;
  std::map<std::string, std::unique_ptr<Series>, std::less<>> series_;  // key: joined values
};

}  // namespace detail

// A metric with label names fixed at registration; with() picks the series. Passing
// the wrong number of label values selects the "_overflow" series.
template <typename Cell>
class Family final : public detail::FamilyBase {
 public:
  Family(std::string name, std::string help, std::vector<std::string> label_names,
         std::vector<double> bounds = {})
      : FamilyBase(std::move(name), std::move(help), std::move(label_names)),
        bounds_(std::move(bounds)) {}

  Cell& with(std::initializer_list<std::string_view> values) {
    return with(std::span<const std::string_view>(values.begin(), values.size()));
  }
  Cell& with(std::span<const std::string_view> values) {
    return static_cast<CellSeries&>(find_or_add(values)).cell;
  }
  std::string_view type() const override;

 private:
  struct CellSeries : Series {
    explicit CellSeries(std::span<const double> bounds) : cell(make(bounds)) {}
    static Cell make(std::span<const double> bounds) {
      if constexpr (std::is_same_v<Cell, Histogram>) {
        return Cell(bounds);
      } else {
        return Cell();
      }
    }
    Cell cell;
  };
  std::unique_ptr<Series> make_series() const override {
    return std::make_unique<CellSeries>(bounds_);
  }
  void render_series(std::string& out, const Series& series) const override;

  std::vector<double> bounds_;  // histograms only
};

// Defined in metrics.cpp.
template <>
std::string_view Family<Counter>::type() const;
template <>
std::string_view Family<Gauge>::type() const;
template <>
std::string_view Family<Histogram>::type() const;
template <>
void Family<Counter>::render_series(std::string& out, const Series& series) const;
template <>
void Family<Gauge>::render_series(std::string& out, const Series& series) const;
template <>
void Family<Histogram>::render_series(std::string& out, const Series& series) const;

using CounterFamily = Family<Counter>;
using GaugeFamily = Family<Gauge>;
using HistogramFamily = Family<Histogram>;

class MetricsRegistry {
 public:
  // Registering a name again with the same kind and label names returns the existing
  // family. Preconditions (checked; a violation is a programming error and aborts):
  // names match [a-zA-Z_:][a-zA-Z0-9_:]*, label names [a-zA-Z_][a-zA-Z0-9_]* and not
  // "le", and a name is not reused with another kind or other labels.
  CounterFamily& counter(std::string name, std::string help,
                         std::vector<std::string> label_names = {});
  GaugeFamily& gauge(std::string name, std::string help, std::vector<std::string> label_names = {});
  HistogramFamily& histogram(std::string name, std::string help,
                             std::vector<std::string> label_names = {},
                             std::span<const double> bounds = default_latency_buckets());

  // Every family in registration order, in the Prometheus text format. Serve it with
  // Content-Type: text/plain; version=0.0.4; charset=utf-8.
  std::string render() const;

 private:
  template <typename F, typename... Args>
  F& add(std::string name, std::string help, std::vector<std::string> label_names, Args&&... args);

  mutable std::mutex mu_;
  std::vector<std::unique_ptr<detail::FamilyBase>> families_;
};

// The Content-Type of render()'s output.
inline constexpr std::string_view kMetricsContentType = "text/plain; version=0.0.4; charset=utf-8";

}  // namespace sigil::http
