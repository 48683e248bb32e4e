// One audit record: what happened, to whom, decided how and why. Built at the edge from
// the actual outcome (never defaulting to success), then appended to the log.
// Never holds a secret or a whole token: tokens appear by jti, keys by id.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "base/clock.hpp"

namespace sigil::audit {

enum class Decision { kAllow, kDeny, kError };

struct Event {
  TimePoint time{};
  std::string event;  // "token.issue", "token.introspect", "token.revoke", "client.create", ...
  std::string request_id;
  std::string traceparent;  // W3C, when the request had one
  std::string client_id;    // the authenticated (or claimed) caller
  std::string auth_method;  // "client_secret_basic", "client_secret_post", "bearer", ...
  std::vector<std::string> audience;
  std::vector<std::string> scopes;
  std::string jti;
  std::string subject;  // what the action was about (a client id, a kid, a token's sub)
  // Delegation (token exchange): the token's actors, outermost first, comma-separated
  // ("B,A": B acts through A for the subject).
  std::string actor;
  // Federation: the external identity a token came from, "<external iss> <external sub>".
  std::string federated;
  // Certificates: the SHA-256 fingerprint (hex) of the client certificate the caller
  // presented over mutual TLS, or of a certificate issued; its serial (hex) and SPIFFE ID
  // when issued.
  std::string certificate;
  std::string serial;
  std::string spiffe_id;
  std::string source_address;
  Decision decision = Decision::kDeny;
  std::string reason;  // why denied or failed; empty when allowed
  std::string rule;    // the policy rules that allowed or came closest, comma-separated
  std::string detail;  // why, for people (e.g. which policy condition failed)
};

std::string_view to_string(Decision decision);

}  // namespace sigil::audit
