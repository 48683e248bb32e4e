#include "audit/log.hpp"

#include <boost/json.hpp>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <future>
#include <optional>

#include "audit/chain.hpp"

namespace sigil::audit {
namespace {

// RFC 3339, UTC, milliseconds: 2023-11-14T22:13:20.123Z
std::string rfc3339_millis(TimePoint t) {
  using namespace std::chrono;
  const auto ms = floor<milliseconds>(t);
  const auto day = floor<days>(ms);
  const year_month_day ymd{day};
  const hh_mm_ss hms{ms - day};
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02d.%03dZ",
                static_cast<int>(ymd.year()), static_cast<unsigned>(ymd.month()),
                static_cast<unsigned>(ymd.day()), static_cast<int>(hms.hours().count()),
                static_cast<int>(hms.minutes().count()), static_cast<int>(hms.seconds().count()),
                static_cast<int>(hms.subseconds().count()));
  return buf;
}

void put_if_set(boost::json::object& o, std::string_view key, const std::string& value) {
  if (!value.empty()) o[key] = boost::json::string_view(value);
}

}  // namespace

Result<void> Sink::append_sync(Event event) {
  std::promise<Result<void>> outcome;
  auto future = outcome.get_future();
  append(std::move(event), [&outcome](Result<void> r) { outcome.set_value(std::move(r)); });
  return future.get();
}

std::string to_json_line(const Event& event, std::uint64_t seq) {
  boost::json::object o;
  o["seq"] = seq;
  o["time"] = rfc3339_millis(event.time);
  put_if_set(o, "event", event.event);
  put_if_set(o, "request_id", event.request_id);
  put_if_set(o, "traceparent", event.traceparent);
  put_if_set(o, "client_id", event.client_id);
  put_if_set(o, "auth_method", event.auth_method);
  if (!event.audience.empty()) {
    boost::json::array audience;
    for (const auto& a : event.audience) audience.emplace_back(boost::json::string_view(a));
    o["audience"] = std::move(audience);
  }
  if (!event.scopes.empty()) {
    std::string scope;
    for (const auto& s : event.scopes) {
      if (!scope.empty()) scope += ' ';
      scope += s;
    }
    o["scope"] = scope;
  }
  put_if_set(o, "jti", event.jti);
  put_if_set(o, "subject", event.subject);
  put_if_set(o, "actor", event.actor);
  put_if_set(o, "federated", event.federated);
  put_if_set(o, "certificate", event.certificate);
  put_if_set(o, "serial", event.serial);
  put_if_set(o, "spiffe_id", event.spiffe_id);
  put_if_set(o, "source", event.source_address);
  o["decision"] = to_string(event.decision);
  put_if_set(o, "reason", event.reason);
  put_if_set(o, "rule", event.rule);
  put_if_set(o, "detail", event.detail);
  return boost::json::serialize(o);
}

Result<ChainReport> verify_chain(const std::string& path) {
  return verify_chain(path, ChainHead{});
}

Result<ChainReport> verify_chain(const std::string& path, const ChainHead& expected) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    const int err = errno;
    std::string message = "audit log " + path + ": " + std::strerror(err);
    if (err == ENOENT) return std::unexpected(Error::not_found(std::move(message)));
    return std::unexpected(Error::internal(std::move(message)));
  }
  ChainReport report;
  auto fail = [&report](std::uint64_t line_number, std::string problem) {
    report.intact = false;
    report.first_bad_line = line_number;
    report.problem = "line " + std::to_string(line_number) + ": " + std::move(problem);
    return report;
  };

  std::string prev(internal::kGenesisPrev);
  std::optional<std::string> hash_at_expected;
  std::string line;
  std::uint64_t number = 0;
  while (std::getline(in, line)) {
    ++number;
    if (in.eof()) return fail(number, "incomplete record (no newline): torn write or truncation");
    auto record = internal::open_record(line);
    if (!record) return fail(number, record.error().message);
    if (record->seq != number) {
      return fail(number, "seq is " + std::to_string(record->seq) + ", expected " +
                              std::to_string(number) + ": a record was removed, added or moved");
    }
    if (record->prev != prev) {
      return fail(number,
                  "\"prev\" does not match the line before: a record was removed, added, moved "
                  "or rewritten");
    }
    if (record->seq == expected.seq) hash_at_expected = record->hash;
    prev = internal::hex_sha256(line);
    report.records = number;
  }
  if (in.bad()) return std::unexpected(Error::internal("audit log " + path + ": read failed"));

  if (expected.seq > report.records) {
    return fail(report.records + 1, "the log ends at seq " + std::to_string(report.records) +
                                        " but seq " + std::to_string(expected.seq) +
                                        " was seen before: records were removed from the end");
  }
  if (expected.seq > 0 && hash_at_expected != expected.hash) {
    return fail(expected.seq, "seq " + std::to_string(expected.seq) +
                                  " is not the record seen before: the log was rewritten");
  }
  return report;
}

}  // namespace sigil::audit
