#include "oauth/revocation.hpp"

#include <gtest/gtest.h>

#include "oauth/testing/fixture.hpp"

namespace sigil::oauth {
namespace {

class RevocationTest : public testing::OAuthFixture {
 protected:
  Result<RevocationOutcome> revoke(const CreatedClient& caller, const std::string& token,
                                   std::optional<std::string_view> hint = std::nullopt) {
    return revocation_->revoke_token(token, hint, authenticated(caller), clock_.now());
  }
};

TEST_F(RevocationTest, OwnTokenIsRevoked) {
  auto c = make_client("billing");
  auto token = issue(c);
  auto r = revoke(c, token.access_token, "access_token");
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->result, RevocationResult::kRevoked);
  EXPECT_EQ(r->jti, token.jti);
  EXPECT_EQ(r->token_client_id, "billing");
  EXPECT_TRUE(revoked_->is_revoked(token.jti));
  EXPECT_EQ(store_.revoked_count(), 1u);
  EXPECT_FALSE(
      introspection_->introspect(token.access_token, authenticated(c), clock_.now()).active);
  // Again: still fine.
  auto again = revoke(c, token.access_token);
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again->result, RevocationResult::kRevoked);
  EXPECT_EQ(store_.revoked_count(), 1u);
}

TEST_F(RevocationTest, AnotherClientsTokenIsLeftAlone) {
  auto owner = make_client("billing");
  auto intruder = make_client("intruder");
  auto token = issue(owner);
  auto r = revoke(intruder, token.access_token);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->result, RevocationResult::kOtherClient);
  EXPECT_EQ(r->token_client_id, "billing");
  EXPECT_FALSE(revoked_->is_revoked(token.jti));
  EXPECT_EQ(store_.revoked_count(), 0u);
}

TEST_F(RevocationTest, InvalidAndExpiredTokensAreNotFound) {
  auto c = make_client("billing");
  auto garbage = revoke(c, "not-a-token");
  ASSERT_TRUE(garbage.has_value());
  EXPECT_EQ(garbage->result, RevocationResult::kNotFound);
  EXPECT_EQ(garbage->reason, "malformed");

  auto token = issue(c);
  clock_.advance(Seconds{300 + 30});
  auto expired = revoke(c, token.access_token);
  ASSERT_TRUE(expired.has_value());
  EXPECT_EQ(expired->result, RevocationResult::kNotFound);
  EXPECT_EQ(expired->reason, "expired");
  EXPECT_FALSE(revoked_->is_revoked(token.jti));
}

TEST_F(RevocationTest, RefreshTokenHint) {
  auto c = make_client("billing");
  auto unsupported = revoke(c, "opaque-refresh-token", "refresh_token");
  ASSERT_TRUE(unsupported.has_value());
  EXPECT_EQ(unsupported->result, RevocationResult::kUnsupportedTokenType);
  // A wrong hint does not stop the search (RFC 7009 §2.1).
  auto token = issue(c);
  auto revoked = revoke(c, token.access_token, "refresh_token");
  ASSERT_TRUE(revoked.has_value());
  EXPECT_EQ(revoked->result, RevocationResult::kRevoked);
  auto odd_hint = revoke(c, "opaque", "id_token");
  ASSERT_TRUE(odd_hint.has_value());
  EXPECT_EQ(odd_hint->result, RevocationResult::kNotFound);
}

TEST_F(RevocationTest, AdminRevocation) {
  auto c = make_client("billing");
  auto token = issue(c);
  auto r = revocation_->admin_revoke_token(token.access_token, clock_.now());
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->result, RevocationResult::kRevoked);
  EXPECT_TRUE(revoked_->is_revoked(token.jti));

  auto bad = revocation_->admin_revoke_token("x.y.z", clock_.now());
  ASSERT_TRUE(bad.has_value());
  EXPECT_EQ(bad->result, RevocationResult::kNotFound);

  ASSERT_TRUE(revocation_->admin_revoke_jti("some-jti", clock_.now() + Seconds{60}, clock_.now())
                  .has_value());
  EXPECT_TRUE(revoked_->is_revoked("some-jti"));
  auto empty = revocation_->admin_revoke_jti("", clock_.now(), clock_.now());
  ASSERT_FALSE(empty.has_value());
  EXPECT_EQ(empty.error().code, Code::kInvalidArgument);
  auto huge = revocation_->admin_revoke_jti(std::string(257, 'j'), clock_.now(), clock_.now());
  ASSERT_FALSE(huge.has_value());
  EXPECT_EQ(huge.error().code, Code::kInvalidArgument);
}

TEST_F(RevocationTest, StoreFailureIsAnErrorAndRevokesNothing) {
  auto c = make_client("billing");
  auto token = issue(c);
  store_.fail_next();
  auto r = revoke(c, token.access_token);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, Code::kUnavailable);
  EXPECT_FALSE(revoked_->is_revoked(token.jti));
}

TEST(RevocationListTest, LoadsEntriesStillInForce) {
  testing::MemoryStore store;
  FakeClock clock;
  const TimePoint now = clock.now();
  ASSERT_TRUE(store.revoke_token({"live", now + Seconds{100}}).has_value());
  ASSERT_TRUE(store.revoke_token({"in-leeway", now - Seconds{10}}).has_value());
  ASSERT_TRUE(store.revoke_token({"dead", now - Seconds{31}}).has_value());
  auto list = RevocationList::load(store, Seconds{30}, now);
  ASSERT_TRUE(list.has_value());
  EXPECT_TRUE((*list)->is_revoked("live"));
  EXPECT_TRUE((*list)->is_revoked("in-leeway"));
  EXPECT_FALSE((*list)->is_revoked("dead"));
  EXPECT_FALSE((*list)->is_revoked("other"));
  EXPECT_EQ((*list)->size(), 2u);
}

TEST(RevocationListTest, ExpiredEntriesArePurgedLazily) {
  testing::MemoryStore store;
  FakeClock clock;
  auto list = RevocationList::load(store, Seconds{30}, clock.now());
  ASSERT_TRUE(list.has_value());
  ASSERT_TRUE((*list)->revoke("a", clock.now() + Seconds{10}, clock.now()).has_value());
  ASSERT_TRUE((*list)->revoke("b", clock.now() + Seconds{1000}, clock.now()).has_value());
  EXPECT_EQ((*list)->size(), 2u);
  clock.advance(Seconds{100});            // "a" expired 90 s ago, beyond the 30 s leeway
  EXPECT_TRUE((*list)->is_revoked("a"));  // nothing purges on read
  ASSERT_TRUE((*list)->revoke("c", clock.now() + Seconds{1000}, clock.now()).has_value());
  EXPECT_FALSE((*list)->is_revoked("a"));
  EXPECT_TRUE((*list)->is_revoked("b"));
  EXPECT_TRUE((*list)->is_revoked("c"));
  EXPECT_EQ((*list)->size(), 2u);
  EXPECT_EQ(store.revoked_count(), 2u);
}

TEST(RevocationResultTest, Names) {
  EXPECT_EQ(to_string(RevocationResult::kRevoked), "revoked");
  EXPECT_EQ(to_string(RevocationResult::kNotFound), "not_found");
  EXPECT_EQ(to_string(RevocationResult::kOtherClient), "other_client");
  EXPECT_EQ(to_string(RevocationResult::kUnsupportedTokenType), "unsupported_token_type");
}

}  // namespace
}  // namespace sigil::oauth
