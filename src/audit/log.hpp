// The tamper-evident audit log: one JSON object per line, each carrying the SHA-256 of the
// previous line ("prev") and its own hash ("hash", over the line without it), so that
// verify_chain() finds any edit, insertion or deletion.
//
// AuditLog::append() hands the event to a writer thread that writes a batch, calls
// fdatasync once for the whole batch (group commit) and then runs each event's
// completion with Ok() or the error. A request's response is sent from that completion,
// so a record is durable before its response leaves, and a failed write fails the request.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "audit/event.hpp"
#include "base/error.hpp"

namespace sigil::audit {

// Where events go. Implementations are thread-safe.
class Sink {
 public:
  virtual ~Sink() = default;
  // `done` runs exactly once, on an unspecified thread, after the event is durable or
  // has failed to be written. It must not block.
  virtual void append(Event event, std::function<void(Result<void>)> done) = 0;
  // Blocking convenience for the CLI and tests.
  Result<void> append_sync(Event event);
};

// The JSON line for an event (without "prev"/"hash"); exposed for tests. Members in this
// order, empty ones left out: seq, time (RFC 3339 UTC, milliseconds), event, request_id,
// traceparent, client_id, auth_method, audience (array), scope (space-separated), jti,
// subject, source, decision ("allow", "deny", "error"; always present), reason, rule,
// detail.
std::string to_json_line(const Event& event, std::uint64_t seq);

struct ChainReport {
  std::uint64_t records = 0;
  bool intact = true;
  std::uint64_t first_bad_line = 0;  // 1-based, when !intact
  std::string problem;
};

// The newest record of a chain: its seq and its "hash". Kept somewhere else than the log
// (printed, stored in the database), it lets verify_chain() notice records removed from
// the end, which the chain alone cannot show.
struct ChainHead {
  std::uint64_t seq = 0;  // 0: the empty log
  std::string hash;       // hex
};

// Reads an audit file and checks every record's hash and link: seq counts up from 1, each
// "prev" is the SHA-256 of the line before (64 zeros for the first), each "hash" matches
// its record, and the file ends with a newline. Stops at the first bad line.
// Errors: kNotFound when the file does not exist, kInternal when it cannot be read; a
// damaged log is not an error but a report with intact == false.
Result<ChainReport> verify_chain(const std::string& path);
// The same, and the log must still hold `expected` (a head seen earlier) at its place.
Result<ChainReport> verify_chain(const std::string& path, const ChainHead& expected);

}  // namespace sigil::audit
