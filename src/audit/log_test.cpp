#include "audit/log.hpp"

#include <gtest/gtest.h>

#include <cctype>
#include <chrono>
#include <thread>

#include "audit/chain.hpp"

namespace sigil::audit {
namespace {

Event full_event() {
  Event e;
  e.time = from_unix(1'700'000'000) + std::chrono::milliseconds(123);
  e.event = "token.issue";
  e.request_id = "req-1";
  e.traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
  e.client_id = "billing";
  e.auth_method = "client_secret_basic";
  e.audience = {"https://api.example.com", "ledger"};
  e.scopes = {"invoices:read", "invoices:write"};
  e.jti = "j-42";
  e.subject = "billing";
  e.source_address = "10.0.0.7";
  e.decision = Decision::kAllow;
  return e;
}

TEST(ToJsonLine, FullEventInFixedOrder) {
  EXPECT_EQ(to_json_line(full_event(), 7),
            R"({"seq":7,"time":"2023-11-14T22:13:20.123Z","event":"token.issue",)"
            R"("request_id":"req-1",)"
            R"("traceparent":"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",)"
            R"("client_id":"billing","auth_method":"client_secret_basic",)"
            R"("audience":["https://api.example.com","ledger"],)"
            R"("scope":"invoices:read invoices:write","jti":"j-42","subject":"billing",)"
            R"("source":"10.0.0.7","decision":"allow"})");
}

TEST(ToJsonLine, EmptyFieldsAreLeftOut) {
  Event e;  // decision defaults to deny: records never default to success
  EXPECT_EQ(to_json_line(e, 1), R"({"seq":1,"time":"1970-01-01T00:00:00.000Z","decision":"deny"})");
}

TEST(ToJsonLine, DecisionsAndReason) {
  Event e;
  e.decision = Decision::kError;
  e.reason = "store unavailable";
  EXPECT_EQ(to_json_line(e, 2), R"({"seq":2,"time":"1970-01-01T00:00:00.000Z","decision":"error",)"
                                R"("reason":"store unavailable"})");
  EXPECT_EQ(to_string(Decision::kAllow), "allow");
  EXPECT_EQ(to_string(Decision::kDeny), "deny");
  EXPECT_EQ(to_string(Decision::kError), "error");
}

TEST(ToJsonLine, PolicyRuleAndDetailFollowTheReason) {
  Event e;
  e.decision = Decision::kDeny;
  e.reason = "conditions_not_met";
  e.rule = "video-service->analytics,video-service-any";
  e.detail = "source 192.0.2.7 is not in 10.0.0.0/8";
  const std::string line = to_json_line(e, 4);
  EXPECT_EQ(line, R"({"seq":4,"time":"1970-01-01T00:00:00.000Z","decision":"deny",)"
                  R"("reason":"conditions_not_met",)"
                  R"("rule":"video-service->analytics,video-service-any",)"
                  R"("detail":"source 192.0.2.7 is not in 10.0.0.0/8"})");
  // An allowed request names its rule without a reason or detail.
  Event allowed = full_event();
  allowed.rule = "billing->ledger";
  EXPECT_NE(to_json_line(allowed, 5).find(R"("decision":"allow","rule":"billing->ledger"})"),
            std::string::npos);
  // The new members are sealed and checked like the others.
  const auto sealed = internal::seal(line, internal::kGenesisPrev);
  auto opened = internal::open_record(sealed.line);
  ASSERT_TRUE(opened.has_value()) << opened.error().message;
  EXPECT_EQ(opened->seq, 4u);
  std::string edited = sealed.line;
  edited.replace(edited.find("10.0.0.0/8"), 10, "0.0.0.0/0 ");
  EXPECT_FALSE(internal::open_record(edited).has_value());
}

TEST(ToJsonLine, ActorAndFederatedFollowTheSubjectWhenSet) {
  Event e;
  e.decision = Decision::kAllow;
  e.subject = "octocat";
  e.actor = "checkout,frontend";
  e.federated = "https://token.actions.githubusercontent.com repo:acme/web:ref:refs/heads/main";
  EXPECT_EQ(to_json_line(e, 6), R"({"seq":6,"time":"1970-01-01T00:00:00.000Z","subject":"octocat",)"
                                R"("actor":"checkout,frontend",)"
                                R"("federated":"https://token.actions.githubusercontent.com )"
                                R"(repo:acme/web:ref:refs/heads/main","decision":"allow"})");
  // Without delegation or federation neither appears.
  Event plain;
  plain.subject = "billing";
  const std::string line = to_json_line(plain, 7);
  EXPECT_EQ(line.find("actor"), std::string::npos) << line;
  EXPECT_EQ(line.find("federated"), std::string::npos) << line;
}

TEST(ToJsonLine, CertificateFieldsFollowFederatedWhenSet) {
  Event e;
  e.decision = Decision::kAllow;
  e.subject = "payments";
  e.certificate = "ab12";
  e.serial = "0f";
  e.spiffe_id = "spiffe://example.org/payments";
  EXPECT_EQ(to_json_line(e, 8),
            R"({"seq":8,"time":"1970-01-01T00:00:00.000Z","subject":"payments",)"
            R"("certificate":"ab12","serial":"0f","spiffe_id":"spiffe://example.org/payments",)"
            R"("decision":"allow"})");
  Event plain;
  const std::string line = to_json_line(plain, 9);
  EXPECT_EQ(line.find("certificate"), std::string::npos) << line;
  EXPECT_EQ(line.find("spiffe_id"), std::string::npos) << line;
}

TEST(ToJsonLine, EscapesWhatJsonRequires) {
  Event e;
  e.reason = "bad \"client\"\n\x01\\";
  e.client_id = "</script>";
  const std::string line = to_json_line(e, 3);
  EXPECT_NE(line.find(R"("reason":"bad \"client\"\n\u0001\\")"), std::string::npos) << line;
  EXPECT_EQ(line.find('\n'), std::string::npos);  // one record, one line
}

TEST(ToJsonLine, TimeIsUtcWithMilliseconds) {
  Event e;
  e.time = from_unix(951'825'600) + std::chrono::microseconds(999'999);  // 2000-02-29T12:00:00
  EXPECT_NE(to_json_line(e, 1).find(R"("time":"2000-02-29T12:00:00.999Z")"), std::string::npos);
}

TEST(Chain, SealThenOpen) {
  const std::string object = to_json_line(full_event(), 1);
  const auto sealed = internal::seal(object, internal::kGenesisPrev);
  EXPECT_EQ(sealed.line.substr(0, object.size() - 1), object.substr(0, object.size() - 1));
  EXPECT_EQ(sealed.line.size(), object.size() - 2 + 2 * 75);  // +prev, +hash, one '}'
  auto opened = internal::open_record(sealed.line);
  ASSERT_TRUE(opened.has_value()) << opened.error().message;
  EXPECT_EQ(opened->seq, 1u);
  EXPECT_EQ(opened->prev, internal::kGenesisPrev);
  EXPECT_EQ(opened->hash, sealed.hash);
  // The hash covers the record with "prev" and without "hash".
  const std::string body = sealed.line.substr(0, sealed.line.size() - 75) + "}";
  EXPECT_EQ(internal::hex_sha256(body), sealed.hash);
  EXPECT_NE(body.find(R"("prev":"0000)"), std::string::npos);
}

TEST(Chain, OpenRejectsDamage) {
  const auto sealed = internal::seal(to_json_line(full_event(), 1), internal::kGenesisPrev);
  std::string edited = sealed.line;
  edited.replace(edited.find("allow"), 5, "deny!");
  EXPECT_FALSE(internal::open_record(edited).has_value());
  EXPECT_FALSE(internal::open_record("").has_value());
  EXPECT_FALSE(internal::open_record("{}").has_value());
  EXPECT_FALSE(internal::open_record(sealed.line.substr(0, sealed.line.size() - 1)).has_value());
  std::string upper = sealed.line;
  for (std::size_t i = upper.size() - 66; i < upper.size() - 2; ++i) {
    upper[i] = static_cast<char>(std::toupper(static_cast<unsigned char>(upper[i])));
  }
  EXPECT_FALSE(internal::open_record(upper).has_value());
  // A well-sealed object that is not a record (no seq) is refused too.
  const auto no_seq = internal::seal(R"({"x":1})", internal::kGenesisPrev);
  EXPECT_FALSE(internal::open_record(no_seq.line).has_value());
  const auto bad_prev = internal::seal(to_json_line(full_event(), 1), "abc");
  EXPECT_FALSE(internal::open_record(bad_prev.line).has_value());
}

// A sink that completes on another thread, as real ones do.
class ThreadSink : public Sink {
 public:
  void append(Event event, std::function<void(Result<void>)> done) override {
    std::thread([event = std::move(event), done = std::move(done)] {
      if (event.event == "fail") {
        done(std::unexpected(Error::internal("disk on fire")));
      } else {
        done(Ok());
      }
    }).detach();
  }
};

TEST(Sink, AppendSyncWaitsForTheOutcome) {
  ThreadSink sink;
  Event ok;
  ok.event = "token.issue";
  EXPECT_TRUE(sink.append_sync(ok).has_value());
  Event bad;
  bad.event = "fail";
  auto r = sink.append_sync(bad);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().message, "disk on fire");
}

}  // namespace
}  // namespace sigil::audit
