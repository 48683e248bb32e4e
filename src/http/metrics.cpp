#include "http/metrics.hpp"

#include <array>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace sigil::http {
namespace {

constexpr std::array<double, 15> kLatencyBuckets = {
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5};

constexpr std::string_view kOverflow = "_overflow";

[[noreturn]] void misuse(const std::string& what) {
  std::fprintf(stderr, "sigil metrics: %s\n", what.c_str());
  std::abort();
}

bool valid_name(std::string_view s, bool allow_colon) {
  if (s.empty()) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
              (allow_colon && c == ':') || (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

void append_double(std::string& out, double v) {
  if (std::isnan(v)) {
    out += "NaN";
  } else if (std::isinf(v)) {
    out += v > 0 ? "+Inf" : "-Inf";
  } else {
    char buf[32];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
    out.append(buf, ec == std::errc() ? end : buf);
  }
}

void append_uint(std::string& out, std::uint64_t v) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, end);
}

void append_escaped(std::string& out, std::string_view s, bool escape_quote) {
  for (char c : s) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '"' && escape_quote) {
      out += "\\\"";
    } else {
      out.push_back(c);
    }
  }
}

}  // namespace

std::span<const double> default_latency_buckets() {
  return kLatencyBuckets;
}

Histogram::Histogram(std::span<const double> bounds)
    : bounds_(bounds), counts_(new std::atomic<std::uint64_t>[bounds.size() + 1]) {
  for (std::size_t i = 0; i <= bounds_.size(); ++i) counts_[i].store(0);
}

void Histogram::observe(double v) {
  std::size_t i = 0;
  while (i < bounds_.size() && v > bounds_[i]) ++i;
  counts_[i].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(v, std::memory_order_relaxed);
}

Histogram::Snapshot Histogram::snapshot() const {
  Snapshot s;
  s.cumulative.resize(bounds_.size() + 1);
  std::uint64_t total = 0;
  for (std::size_t i = 0; i <= bounds_.size(); ++i) {
    total += counts_[i].load(std::memory_order_relaxed);
    s.cumulative[i] = total;
  }
  s.count = total;
  s.sum = sum_.load(std::memory_order_relaxed);
  return s;
}

namespace detail {

FamilyBase::FamilyBase(std::string name, std::string help, std::vector<std::string> label_names)
    : name_(std::move(name)), help_(std::move(help)), label_names_(std::move(label_names)) {}

FamilyBase::Series& FamilyBase::find_or_add(std::span<const std::string_view> values) {
  // '\xff' never occurs in UTF-8, so the joined key is unambiguous for valid values; a
  // thread-local buffer keeps the lookup allocation-free once warm.
  thread_local std::string key;
  bool arity_ok = values.size() == label_names_.size();
  key.clear();
  if (arity_ok) {
    for (auto v : values) {
      key.append(v);
      key.push_back('\xff');
    }
  }
  {
    std::shared_lock lock(mu_);
    if (arity_ok) {
      if (auto it = series_.find(key); it != series_.end()) return *it->second;
    }
  }
  std::unique_lock lock(mu_);
  if (!arity_ok || (series_.size() >= kMaxSeries && !series_.contains(key))) {
    key.clear();
    for (std::size_t i = 0; i < label_names_.size(); ++i) {
      key.append(kOverflow);
      key.push_back('\xff');
    }
    values = {};
  }
  auto [it, inserted] = series_.try_emplace(key);
  if (inserted) {
    it->second = make_series();
    for (std::size_t i = 0; i < label_names_.size(); ++i) {
      it->second->values.emplace_back(values.empty() ? kOverflow : values[i]);
    }
  }
  return *it->second;
}

void FamilyBase::append_sample_name(std::string& out, std::string_view suffix, const Series& series,
                                    std::string_view extra_label) const {
  out += name_;
  out += suffix;
  if (label_names_.empty() && extra_label.empty()) return;
  out.push_back('{');
  for (std::size_t i = 0; i < label_names_.size(); ++i) {
    if (i > 0) out.push_back(',');
    out += label_names_[i];
    out += "=\"";
    append_escaped(out, series.values[i], true);
    out.push_back('"');
  }
  if (!extra_label.empty()) {
    if (!label_names_.empty()) out.push_back(',');
    out += extra_label;
  }
  out.push_back('}');
}

void FamilyBase::render(std::string& out) const {
  out += "# HELP ";
  out += name_;
  out.push_back(' ');
  append_escaped(out, help_, false);
  out += "\n# TYPE ";
  out += name_;
  out.push_back(' ');
  out += type();
  out.push_back('\n');
  std::shared_lock lock(mu_);
  for (const auto& [key, series] : series_) render_series(out, *series);
}

}  // namespace detail

template <>
std::string_view Family<Counter>::type() const {
  return "counter";
}
template <>
std::string_view Family<Gauge>::type() const {
  return "gauge";
}
template <>
std::string_view Family<Histogram>::type() const {
  return "histogram";
}

template <>
void Family<Counter>::render_series(std::string& out, const Series& series) const {
  append_sample_name(out, "", series);
  out.push_back(' ');
  append_uint(out, static_cast<const CellSeries&>(series).cell.value());
  out.push_back('\n');
}

template <>
void Family<Gauge>::render_series(std::string& out, const Series& series) const {
  append_sample_name(out, "", series);
  out.push_back(' ');
  append_double(out, static_cast<const CellSeries&>(series).cell.value());
  out.push_back('\n');
}

template <>
void Family<Histogram>::render_series(std::string& out, const Series& series) const {
  auto snap = static_cast<const CellSeries&>(series).cell.snapshot();
  std::string le;
  for (std::size_t i = 0; i < snap.cumulative.size(); ++i) {
    le = "le=\"";
    if (i < bounds_.size()) {
      append_double(le, bounds_[i]);
    } else {
      le += "+Inf";
    }
    le.push_back('"');
    append_sample_name(out, "_bucket", series, le);
    out.push_back(' ');
    append_uint(out, snap.cumulative[i]);
    out.push_back('\n');
  }
  append_sample_name(out, "_sum", series);
  out.push_back(' ');
  append_double(out, snap.sum);
  out.push_back('\n');
  append_sample_name(out, "_count", series);
  out.push_back(' ');
  append_uint(out, snap.count);
  out.push_back('\n');
}

template <typename F, typename... Args>
F& MetricsRegistry::add(std::string name, std::string help, std::vector<std::string> label_names,
                        Args&&... args) {
  if (!valid_name(name, true)) misuse("invalid metric name '" + name + "'");
  for (const auto& l : label_names) {
    if (!valid_name(l, false) || l == "le") misuse("invalid label name '" + l + "'");
  }
  std::lock_guard lock(mu_);
  for (const auto& f : families_) {
    if (f->name() != name) continue;
    auto* same = dynamic_cast<F*>(f.get());
    if (same == nullptr || same->label_names() != label_names) {
      misuse("metric '" + name + "' registered twice with different kinds or labels");
    }
    return *same;
  }
  auto family = std::make_unique<F>(std::move(name), std::move(help), std::move(label_names),
                                    std::forward<Args>(args)...);
  F& ref = *family;
  families_.push_back(std::move(family));
  return ref;
}

CounterFamily& MetricsRegistry::counter(std::string name, std::string help,
                                        std::vector<std::string> label_names) {
  return add<CounterFamily>(std::move(name), std::move(help), std::move(label_names));
}

GaugeFamily& MetricsRegistry::gauge(std::string name, std::string help,
                                    std::vector<std::string> label_names) {
  return add<GaugeFamily>(std::move(name), std::move(help), std::move(label_names));
}

HistogramFamily& MetricsRegistry::histogram(std::string name, std::string help,
                                            std::vector<std::string> label_names,
                                            std::span<const double> bounds) {
  for (std::size_t i = 1; i < bounds.size(); ++i) {
    if (!(bounds[i - 1] < bounds[i])) misuse("histogram '" + name + "': bounds not increasing");
  }
  return add<HistogramFamily>(std::move(name), std::move(help), std::move(label_names),
                              std::vector<double>(bounds.begin(), bounds.end()));
}

std::string MetricsRegistry::render() const {
  std::string out;
  std::lock_guard lock(mu_);
  for (const auto& f : families_) f->render(out);
  return out;
}

}  // namespace sigil::http
