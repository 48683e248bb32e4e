#include "cli/key_commands.hpp"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <limits>

namespace sigil::cli {
namespace {

namespace json = boost::json;

// A well-formed key (prefix, 43 random, 6 checksum characters); never sent anywhere.
constexpr std::string_view kKey = "sk_live_4qzJ0aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789abXb9PqR";

std::optional<Code> code_of(const auto& result) {
  return result.has_value() ? std::nullopt : std::optional<Code>(result.error().code);
}

TEST(KeySyntax, KeySpaceIdsPrefixesAndKeyIds) {
  EXPECT_TRUE(is_valid_key_space_id("live"));
  EXPECT_TRUE(is_valid_key_space_id("0a_b-c"));
  EXPECT_FALSE(is_valid_key_space_id(""));
  EXPECT_FALSE(is_valid_key_space_id("_live"));
  EXPECT_FALSE(is_valid_key_space_id("Live"));
  EXPECT_FALSE(is_valid_key_space_id("a/b"));
  EXPECT_FALSE(is_valid_key_space_id(std::string(64, 'a')));
  EXPECT_TRUE(is_valid_key_space_id(std::string(63, 'a')));

  EXPECT_TRUE(is_valid_key_prefix("sk_live"));
  EXPECT_TRUE(is_valid_key_prefix("sk"));
  EXPECT_TRUE(is_valid_key_prefix("a0_b1"));
  EXPECT_FALSE(is_valid_key_prefix("sk_"));
  EXPECT_FALSE(is_valid_key_prefix("_live"));
  EXPECT_FALSE(is_valid_key_prefix("0sk"));
  EXPECT_FALSE(is_valid_key_prefix("sk_live_x"));
  EXPECT_FALSE(is_valid_key_prefix("SK_live"));
  EXPECT_FALSE(is_valid_key_prefix(std::string(17, 'a')));
  EXPECT_TRUE(is_valid_key_prefix(std::string(16, 'a') + "_" + std::string(16, 'b')));
  EXPECT_FALSE(is_valid_key_prefix("a_" + std::string(17, 'b')));

  EXPECT_TRUE(is_valid_api_key_id("key_3jx8m2kq9vd7w4hz5nbt"));
  EXPECT_FALSE(is_valid_api_key_id(""));
  EXPECT_FALSE(is_valid_api_key_id("../verify"));
  EXPECT_FALSE(is_valid_api_key_id("key_1?x=1"));
  EXPECT_FALSE(is_valid_api_key_id(std::string(65, 'a')));
}

TEST(RateLimit, RequestsSlashSeconds) {
  EXPECT_EQ(json::serialize(parse_rate_limit("100/60").value()),
            R"({"limit":100,"window_seconds":60})");
  EXPECT_EQ(json::serialize(parse_rate_limit("1000000000/86400").value()),
            R"({"limit":1000000000,"window_seconds":86400})");
  for (std::string_view bad :
       {"", "100", "100/", "/60", "0/60", "100/0", "100/86401", "1000000001/1", "-1/60", "+1/60",
        "1.5/60", "100/60s", " 100/60", "100//60", "99999999999999999999/1", "a/b"}) {
    auto result = parse_rate_limit(bad);
    EXPECT_EQ(code_of(result), Code::kInvalidArgument) << bad;
  }
  EXPECT_EQ(parse_rate_limit("x").error().message,
            "--rate-limit 'x': expected REQUESTS/SECONDS, e.g. 100/60 (requests 1-1000000000, "
            "seconds 1-86400)");
}

TEST(Metadata, MustBeAJsonObject) {
  EXPECT_EQ(json::serialize(parse_metadata(R"({"plan":"pro","seats":5})").value()),
            R"({"plan":"pro","seats":5})");
  EXPECT_EQ(json::serialize(parse_metadata("{}").value()), "{}");
  EXPECT_EQ(parse_metadata("[1,2]").error().message,
            R"(--metadata must be a JSON object, e.g. '{"plan":"pro"}')");
  EXPECT_EQ(code_of(parse_metadata("\"pro\"")), Code::kInvalidArgument);
  EXPECT_EQ(code_of(parse_metadata("null")), Code::kInvalidArgument);
  EXPECT_EQ(code_of(parse_metadata("{plan: pro}")), Code::kInvalidArgument);
  EXPECT_EQ(code_of(parse_metadata("")), Code::kInvalidArgument);
  EXPECT_EQ(code_of(parse_metadata("{} {}")), Code::kInvalidArgument);
  EXPECT_EQ(code_of(parse_metadata("{\"a\":\"" + std::string(kMaxMetadataBytes, 'x') + "\"}")),
            Code::kInvalidArgument);
}

TEST(Expiry, Rfc3339IsSentAsGiven) {
  EXPECT_EQ(check_expires_at("2026-12-01T00:00:00Z").value(), "2026-12-01T00:00:00Z");
  EXPECT_EQ(check_expires_at("2026-12-01T01:00:00+01:00").value(), "2026-12-01T01:00:00+01:00");
  for (std::string_view bad : {"", "2026-12-01", "2026-13-01T00:00:00Z", "1700000000",
                               "2026-12-01 00:00:00Z", "tomorrow"}) {
    EXPECT_EQ(code_of(check_expires_at(bad)), Code::kInvalidArgument) << bad;
  }
}

TEST(Expiry, ExpiresInIsUtcFromNow) {
  const TimePoint now = from_unix(1'700'000'000) + std::chrono::milliseconds(750);
  EXPECT_EQ(expires_in_to_rfc3339(now, 3600).value(), "2023-11-14T23:13:20Z");
  EXPECT_EQ(expires_in_to_rfc3339(now, 1).value(), "2023-11-14T22:13:21Z");
  EXPECT_EQ(code_of(expires_in_to_rfc3339(now, 0)), Code::kInvalidArgument);
  EXPECT_EQ(code_of(expires_in_to_rfc3339(now, -5)), Code::kInvalidArgument);
  EXPECT_EQ(code_of(expires_in_to_rfc3339(now, std::numeric_limits<std::int64_t>::max())),
            Code::kInvalidArgument);
}

TEST(KeySpaceBody, MapsFlagsAndChecksThem) {
  EXPECT_EQ(json::serialize(new_key_space_body({"live", "sk_live", std::nullopt}).value()),
            R"({"id":"live","prefix":"sk_live"})");
  EXPECT_EQ(json::serialize(new_key_space_body({"live", "sk_live", "Production"}).value()),
            R"({"id":"live","prefix":"sk_live","name":"Production"})");
  EXPECT_EQ(code_of(new_key_space_body({"Live", "sk_live", std::nullopt})), Code::kInvalidArgument);
  EXPECT_EQ(code_of(new_key_space_body({"live", "sk-live", std::nullopt})), Code::kInvalidArgument);
  EXPECT_EQ(key_space_path("live").value(), "/v1/key-spaces/live");
  EXPECT_EQ(code_of(key_space_path("../keys")), Code::kInvalidArgument);
}

NewApiKeyArgs key_for(std::string owner) {
  NewApiKeyArgs args;
  args.key_space = "live";
  args.owner = std::move(owner);
  return args;
}

TEST(NewApiKeyBody, OnlyKeySpaceAndOwnerWhenNothingElseIsGiven) {
  EXPECT_EQ(json::serialize(new_api_key_body(key_for("acme"), from_unix(0)).value()),
            R"({"key_space":"live","owner":"acme"})");
}

TEST(NewApiKeyBody, MapsEveryFlag) {
  NewApiKeyArgs args = key_for("cust_42");
  args.name = "ci";
  args.scopes = {"read", "write:invoices"};
  args.metadata = R"({"plan":"pro"})";
  args.expires_in = 86400;
  args.credits = 20;
  args.rate_limit = "100/60";
  auto body = new_api_key_body(args, from_unix(1'700'000'000));
  ASSERT_TRUE(body.has_value()) << body.error().message;
  EXPECT_EQ(json::value(*body), json::parse(R"({
    "key_space": "live", "owner": "cust_42", "name": "ci",
    "scopes": ["read", "write:invoices"], "metadata": {"plan": "pro"},
    "expires_at": "2023-11-15T22:13:20Z", "remaining": 20,
    "rate_limit": {"limit": 100, "window_seconds": 60}})"));

  args.expires_in.reset();
  args.expires_at = "2026-12-01T00:00:00Z";
  EXPECT_EQ(new_api_key_body(args, from_unix(0)).value().at("expires_at"),
            json::value("2026-12-01T00:00:00Z"));
  args.credits = 0;
  EXPECT_EQ(new_api_key_body(args, from_unix(0)).value().at("remaining"), json::value(0));
}

TEST(NewApiKeyBody, RefusesBadValues) {
  auto bad = [](auto change) {
    NewApiKeyArgs args = key_for("acme");
    change(args);
    return code_of(new_api_key_body(args, from_unix(1'700'000'000)));
  };
  EXPECT_EQ(bad([](NewApiKeyArgs& a) { a.key_space = "Live"; }), Code::kInvalidArgument);
  EXPECT_EQ(bad([](NewApiKeyArgs& a) { a.owner = ""; }), Code::kInvalidArgument);
  EXPECT_EQ(bad([](NewApiKeyArgs& a) { a.owner = "a\nb"; }), Code::kInvalidArgument);
  EXPECT_EQ(bad([](NewApiKeyArgs& a) { a.owner = std::string(257, 'o'); }), Code::kInvalidArgument);
  EXPECT_EQ(bad([](NewApiKeyArgs& a) { a.owner = std::string(256, 'o'); }), std::nullopt);
  EXPECT_EQ(bad([](NewApiKeyArgs& a) { a.scopes = {"a b"}; }), Code::kInvalidArgument);
  EXPECT_EQ(bad([](NewApiKeyArgs& a) { a.scopes = {""}; }), Code::kInvalidArgument);
  EXPECT_EQ(bad([](NewApiKeyArgs& a) { a.metadata = "[]"; }), Code::kInvalidArgument);
  EXPECT_EQ(bad([](NewApiKeyArgs& a) { a.metadata = "{"; }), Code::kInvalidArgument);
  EXPECT_EQ(bad([](NewApiKeyArgs& a) { a.expires_at = "2026-12-01"; }), Code::kInvalidArgument);
  EXPECT_EQ(bad([](NewApiKeyArgs& a) { a.expires_in = 0; }), Code::kInvalidArgument);
  EXPECT_EQ(bad([](NewApiKeyArgs& a) {
              a.expires_at = "2026-12-01T00:00:00Z";
              a.expires_in = 60;
            }),
            Code::kInvalidArgument);
  EXPECT_EQ(bad([](NewApiKeyArgs& a) { a.credits = -1; }), Code::kInvalidArgument);
  EXPECT_EQ(bad([](NewApiKeyArgs& a) { a.rate_limit = "100"; }), Code::kInvalidArgument);
}

TEST(KeyListPath, PercentEncodesEveryValue) {
  EXPECT_EQ(key_list_path({"live", std::nullopt, std::nullopt, std::nullopt}).value(),
            "/v1/keys?key_space=live");
  EXPECT_EQ(key_list_path({"live", "Acme Corp&co=1/é+x", "key_abc", 50}).value(),
            "/v1/keys?key_space=live&owner=Acme%20Corp%26co%3D1%2F%C3%A9%2Bx&after=key_abc"
            "&limit=50");
  EXPECT_EQ(code_of(key_list_path({"Live", std::nullopt, std::nullopt, std::nullopt})),
            Code::kInvalidArgument);
  EXPECT_EQ(code_of(key_list_path({"live", "", std::nullopt, std::nullopt})),
            Code::kInvalidArgument);
  EXPECT_EQ(code_of(key_list_path({"live", std::nullopt, "key&x=1", std::nullopt})),
            Code::kInvalidArgument);
  EXPECT_EQ(code_of(key_list_path({"live", std::nullopt, std::nullopt, 0})),
            Code::kInvalidArgument);
  EXPECT_EQ(code_of(key_list_path({"live", std::nullopt, std::nullopt, 1001})),
            Code::kInvalidArgument);
  EXPECT_EQ(key_list_path({"live", std::nullopt, std::nullopt, 1000}).value(),
            "/v1/keys?key_space=live&limit=1000");
}

TEST(ApiKeyPath, ChecksTheIdBeforeBuildingThePath) {
  EXPECT_EQ(api_key_path("key_abc").value(), "/v1/keys/key_abc");
  EXPECT_EQ(api_key_path("key_abc", "rotate").value(), "/v1/keys/key_abc/rotate");
  EXPECT_EQ(code_of(api_key_path("../key-spaces")), Code::kInvalidArgument);
  EXPECT_EQ(code_of(api_key_path("a b")), Code::kInvalidArgument);
}

TEST(UpdateBody, OnlyWhatWasGiven) {
  ApiKeyUpdateArgs args;
  args.name = "renamed";
  EXPECT_EQ(json::serialize(update_api_key_body(args).value()), R"({"name":"renamed"})");

  ApiKeyUpdateArgs all;
  all.scopes = {"read"};
  all.metadata = R"({"tier":2})";
  all.expires_at = "2027-01-01T00:00:00Z";
  all.credits = 5;
  all.rate_limit = "10/1";
  EXPECT_EQ(json::value(update_api_key_body(all).value()), json::parse(R"({
    "scopes": ["read"], "metadata": {"tier": 2}, "expires_at": "2027-01-01T00:00:00Z",
    "remaining": 5, "rate_limit": {"limit": 10, "window_seconds": 1}})"));
}

TEST(UpdateBody, ClearingFlagsSendNullAndEmptyScopes) {
  ApiKeyUpdateArgs args;
  args.clear_scopes = true;
  args.no_expiry = true;
  args.unlimited_credits = true;
  args.no_rate_limit = true;
  EXPECT_EQ(json::serialize(update_api_key_body(args).value()),
            R"({"scopes":[],"expires_at":null,"remaining":null,"rate_limit":null})");
}

TEST(UpdateBody, RefusesNothingConflictsAndBadValues) {
  EXPECT_EQ(update_api_key_body({}).error().message,
            "nothing to change; see `sigil key update --help`");
  auto bad = [](auto change) {
    ApiKeyUpdateArgs args;
    change(args);
    return code_of(update_api_key_body(args));
  };
  EXPECT_EQ(bad([](ApiKeyUpdateArgs& a) {
              a.scopes = {"x"};
              a.clear_scopes = true;
            }),
            Code::kInvalidArgument);
  EXPECT_EQ(bad([](ApiKeyUpdateArgs& a) {
              a.expires_at = "2027-01-01T00:00:00Z";
              a.no_expiry = true;
            }),
            Code::kInvalidArgument);
  EXPECT_EQ(bad([](ApiKeyUpdateArgs& a) {
              a.credits = 1;
              a.unlimited_credits = true;
            }),
            Code::kInvalidArgument);
  EXPECT_EQ(bad([](ApiKeyUpdateArgs& a) {
              a.rate_limit = "1/1";
              a.no_rate_limit = true;
            }),
            Code::kInvalidArgument);
  EXPECT_EQ(bad([](ApiKeyUpdateArgs& a) { a.metadata = "1"; }), Code::kInvalidArgument);
  EXPECT_EQ(bad([](ApiKeyUpdateArgs& a) { a.expires_at = "soon"; }), Code::kInvalidArgument);
  EXPECT_EQ(bad([](ApiKeyUpdateArgs& a) { a.credits = -3; }), Code::kInvalidArgument);
  EXPECT_EQ(bad([](ApiKeyUpdateArgs& a) { a.rate_limit = "0/1"; }), Code::kInvalidArgument);
  EXPECT_EQ(bad([](ApiKeyUpdateArgs& a) { a.scopes = {"a\tb"}; }), Code::kInvalidArgument);
}

TEST(RotateBody, GraceOnlyWhenGivenAndInRange) {
  EXPECT_EQ(json::serialize(rotate_api_key_body(std::nullopt).value()), "{}");
  EXPECT_EQ(json::serialize(rotate_api_key_body(0).value()), R"({"grace_seconds":0})");
  EXPECT_EQ(json::serialize(rotate_api_key_body(kMaxGraceSeconds).value()),
            R"({"grace_seconds":2592000})");
  EXPECT_EQ(code_of(rotate_api_key_body(-1)), Code::kInvalidArgument);
  EXPECT_EQ(code_of(rotate_api_key_body(kMaxGraceSeconds + 1)), Code::kInvalidArgument);
}

TEST(RevokeOwnerBody, KeySpaceAndOwner) {
  EXPECT_EQ(json::serialize(revoke_owner_body("live", "acme").value()),
            R"({"key_space":"live","owner":"acme"})");
  EXPECT_EQ(code_of(revoke_owner_body("live", "")), Code::kInvalidArgument);
  EXPECT_EQ(code_of(revoke_owner_body("", "acme")), Code::kInvalidArgument);
}

TEST(VerifyBody, KeyScopesAndKeySpace) {
  EXPECT_EQ(json::serialize(verify_key_body(kKey, {}, std::nullopt).value()),
            R"({"key":")" + std::string(kKey) + R"("})");
  EXPECT_EQ(json::value(verify_key_body(kKey, {"read", "write"}, "live").value()),
            json::parse(R"({"key":")" + std::string(kKey) +
                        R"(","scopes":["read","write"],"key_space":"live"})"));
  EXPECT_EQ(verify_key_body("", {}, std::nullopt).error().message, "the key is empty");
  EXPECT_EQ(code_of(verify_key_body(kKey, {"a b"}, std::nullopt)), Code::kInvalidArgument);
  EXPECT_EQ(code_of(verify_key_body(kKey, {}, "Bad Space")), Code::kInvalidArgument);
}

TEST(VerifyBody, ErrorsNeverQuoteTheKey) {
  for (const auto& result :
       {verify_key_body(kKey, {"a b"}, std::nullopt), verify_key_body(kKey, {}, "Bad Space"),
        verify_key_body(std::string(5000, 'k'), {}, std::nullopt)}) {
    ASSERT_FALSE(result.has_value());
    EXPECT_EQ(result.error().message.find(kKey.substr(0, 12)), std::string::npos)
        << result.error().message;
    EXPECT_EQ(result.error().message.find("kkkkk"), std::string::npos);
  }
}

TEST(Redact, ReplacesEveryOccurrence) {
  const std::string key(kKey);
  EXPECT_EQ(redact("cannot verify the key (HTTP 400 invalid_request: bad key " + key + " and " +
                       key + ")",
                   key),
            "cannot verify the key (HTTP 400 invalid_request: bad key [key] and [key])");
  EXPECT_EQ(redact("nothing here", key), "nothing here");
  EXPECT_EQ(redact("text", ""), "text");
}

TEST(VerifyAnswer, ValidPrintsTheDecisionAndWhatTheKeyMayDo) {
  const json::value answer = json::parse(R"({"valid":true,"code":"valid","key_id":"key_abc",
    "key_space":"live","owner":"acme","name":"ci","scopes":["read","write"],
    "metadata":{"plan":"pro"},"remaining":19,
    "rate_limit":{"limit":100,"remaining":99,"reset_at":"2026-01-01T00:01:00Z"}})");
  EXPECT_TRUE(verify_answer_is_valid(answer));
  EXPECT_EQ(render_verify_answer(answer),
            "result: valid\n"
            "key_id: key_abc\n"
            "key_space: live\n"
            "owner: acme\n"
            "name: ci\n"
            "scopes: read,write\n"
            "metadata: plan=pro\n"
            "remaining: 19\n"
            "rate_limit: 99 of 100 left, resets at 2026-01-01T00:01:00Z\n");
}

TEST(VerifyAnswer, FailurePrintsTheCodeNotTheKey) {
  const json::value answer = json::parse(R"({"valid":false,"code":"bad_checksum"})");
  EXPECT_FALSE(verify_answer_is_valid(answer));
  const std::string out = render_verify_answer(answer);
  EXPECT_EQ(out, "result: bad_checksum\n");
  EXPECT_EQ(out.find(kKey.substr(0, 8)), std::string::npos);

  EXPECT_EQ(render_verify_answer(json::parse(R"({"valid":false,"code":"disabled",
    "key_id":"key_abc","owner":"acme"})")),
            "result: disabled\nkey_id: key_abc\nowner: acme\n");
  // An answer that contradicts itself is not taken as valid.
  const json::value odd = json::parse(R"({"valid":"yes","code":"valid"})");
  EXPECT_FALSE(verify_answer_is_valid(odd));
  EXPECT_EQ(render_verify_answer(odd), "result: invalid\n");
  EXPECT_FALSE(verify_answer_is_valid(json::parse("[]")));
  EXPECT_FALSE(verify_answer_is_valid(json::parse(R"({"code":"valid"})")));
}

const char* kKeyRecord = R"({"id":"key_abc","key_space":"live","start":"sk_live_4qzJ",
  "owner":"acme","name":"ci","scopes":["read"],"metadata":{},"status":"active",
  "created_at":"2026-01-01T00:00:00Z","updated_at":"2026-01-01T00:00:00Z"})";

TEST(RenderApiKey, RecordShowsLimitsInWords) {
  EXPECT_EQ(render_api_key(json::parse(kKeyRecord).get_object()),
            "id: key_abc\n"
            "key_space: live\n"
            "start: sk_live_4qzJ\n"
            "owner: acme\n"
            "name: ci\n"
            "status: active\n"
            "scopes: read\n"
            "metadata: \n"
            "expires_at: -\n"
            "remaining: unlimited\n"
            "rate_limit: none\n"
            "created_at: 2026-01-01T00:00:00Z\n"
            "updated_at: 2026-01-01T00:00:00Z\n"
            "last_used_at: -\n");
}

TEST(RenderApiKey, CreatedPrintsTheKeyLast) {
  json::object created;
  created["key"] = json::parse(kKeyRecord);
  created["secret"] = kKey;
  const std::string out = render_created_api_key(created);
  EXPECT_TRUE(out.starts_with("id: key_abc\n")) << out;
  EXPECT_TRUE(out.ends_with("last_used_at: -\nkey: " + std::string(kKey) + "\n")) << out;
}

TEST(RenderApiKey, ListIsATableWithTheNextPage) {
  const json::value answer = json::parse(R"({"keys":[
    {"id":"key_a","start":"sk_live_AAAA","owner":"acme","name":"ci","status":"active",
     "scopes":["r","w"],"expires_at":"2027-01-01T00:00:00Z","remaining":5,
     "rate_limit":{"limit":100,"window_seconds":60}},
    {"id":"key_b","start":"sk_live_BBBB","owner":"acme","name":"","status":"revoked",
     "scopes":[]}],"next_after":"key_b"})");
  EXPECT_EQ(render_api_key_list(answer),
            "ID     START         OWNER  NAME  STATUS   SCOPES  EXPIRES               REMAINING  "
            "RATE LIMIT\n"
            "key_a  sk_live_AAAA  acme   ci    active   r,w     2027-01-01T00:00:00Z  5          "
            "100/60s\n"
            "key_b  sk_live_BBBB  acme         revoked          -                     -          "
            "-\n"
            "more: --after key_b\n");
}

TEST(RenderKeySpaces, ListAndOne) {
  const json::value answer = json::parse(R"({"key_spaces":[
    {"id":"live","prefix":"sk_live","name":"Production","created_at":"c1"},
    {"id":"test","prefix":"sk_test","name":"","created_at":"c2"}]})");
  EXPECT_EQ(render_key_space_list(answer),
            "ID    PREFIX   NAME        CREATED\n"
            "live  sk_live  Production  c1\n"
            "test  sk_test              c2\n");
  EXPECT_EQ(render_key_space(answer.at("key_spaces").at(0).get_object()),
            "id: live\nprefix: sk_live\nname: Production\ncreated_at: c1\n");
}

TEST(RenderRevokedKeys, OneIdPerLine) {
  EXPECT_EQ(render_revoked_keys(json::parse(R"({"revoked":["key_a","key_b"]})")),
            "REVOKED\nkey_a\nkey_b\n");
  EXPECT_EQ(render_revoked_keys(json::parse(R"({"revoked":[]})")), "REVOKED\n");
}

}  // namespace
}  // namespace sigil::cli
