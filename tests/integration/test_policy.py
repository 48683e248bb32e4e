"""Policy as code against the real sigil binary: the video platform end to end, every
condition kind over HTTP, plan/apply/rollback through the CLI, /v1/authorize, explain,
test and graph, and `sigil serve --policy` with hot reload."""

import itertools
import json
import os
import signal
import tempfile
import time
import unittest

from harness import Sigil, jwt_parts

VIDEO_PLATFORM = """
version: 1
services:
  - name: video-service
    attributes: {environment: production, team: media}
  - name: notification-worker
    attributes: {environment: production, team: growth}
audiences:
  - name: analytics-service
    uri: https://analytics.example.com
    scopes: [analytics:write, analytics:read]
    attributes: {environment: production}
  - name: user-service
    scopes: [profile:read, profile:write]
    attributes: {environment: production}
  - name: social-service
    scopes: [social:read]
    attributes: {environment: production}
  - name: notification-service
    scopes: [notifications:send]
    attributes: {environment: production}
grants:
  - name: video-writes-analytics
    caller: video-service
    audience: analytics-service
    scopes: [analytics:write]
  - name: video-reads-profiles
    caller: video-service
    audience: user-service
    scopes: [profile:read]
  - name: worker-reads-social
    caller: notification-worker
    audience: social-service
    scopes: [social:read]
  - name: worker-sends-notifications
    caller: notification-worker
    audience: notification-service
    scopes: [notifications:send]
"""

# Every (caller, audience, scope) the video platform allows; everything else is denied.
ALLOWED = {
    ("video-service", "analytics-service", "analytics:write"): "video-writes-analytics",
    ("video-service", "user-service", "profile:read"): "video-reads-profiles",
    ("notification-worker", "social-service", "social:read"): "worker-reads-social",
    ("notification-worker", "notification-service", "notifications:send"):
        "worker-sends-notifications",
}
AUDIENCE_SCOPES = {
    "analytics-service": ["analytics:write", "analytics:read"],
    "user-service": ["profile:read", "profile:write"],
    "social-service": ["social:read"],
    "notification-service": ["notifications:send"],
}
AUDIENCE_URI = {"analytics-service": "https://analytics.example.com"}

FEATURES = """
version: 1
services:
  - name: video-service
    attributes: {environment: production, team: media}
    labels: [tier-1]
  - name: staging-video
    attributes: {environment: staging, team: media}
  - name: batch-job
    attributes: {environment: production, team: data}
audiences:
  - name: analytics
    uri: https://analytics.example.com
    scopes: [analytics:read, analytics:write]
    max_lifetime: 20m
    attributes: {environment: production}
  - name: payments
    uri: https://payments.example.com
    scopes: [payments:charge]
    sensitivity: high
    attributes: {environment: production}
  - name: internal
    scopes: [internal:read]
    attributes: {environment: production}
  - name: secrets
    scopes: [secrets:read]
    attributes: {environment: production}
  - name: archive
    scopes: [archive:read]
    attributes: {environment: production}
  - name: reports
    scopes: [reports:read]
    attributes: {environment: production}
grants:
  - name: media-analytics
    caller: {attributes: {team: media}}
    audience: analytics
    scopes: [analytics:read, analytics:write]
    max_lifetime: 10m
  - name: video-payments
    caller: video-service
    audience: payments
    scopes: [payments:charge]
  - name: loopback-only
    caller: batch-job
    audience: internal
    scopes: [internal:read]
    when: {source: [127.0.0.0/8]}
  - name: office-only
    caller: batch-job
    audience: secrets
    scopes: [secrets:read]
    when: {source: [10.0.0.0/8]}
  - name: mtls-only
    caller: batch-job
    audience: archive
    scopes: [archive:read]
    when: {auth_methods: [tls_client_auth]}
  - name: expired-grant
    caller: batch-job
    audience: reports
    scopes: [reports:read]
    when: {not_after: "2020-01-01T00:00:00Z"}
"""


def apply(s, text, *extra):
    """sigil apply -f with the text; returns the CompletedProcess and the JSON answer."""
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False, dir=s.tmp.name) as f:
        f.write(text)
    r = s.cli("apply", "-f", f.name, "--output", "json", *extra)
    return r, (json.loads(r.stdout) if r.returncode == 0 else None)


def credentials_of(answer):
    return {c["client_id"]: c["client_secret"] for c in answer["credentials"]}


class VideoPlatformTest(unittest.TestCase):
    """The design's video platform: exactly four pairs allowed, everything else denied."""

    @classmethod
    def setUpClass(cls):
        cls.s = Sigil()
        r, answer = apply(cls.s, VIDEO_PLATFORM)
        assert r.returncode == 0, r.stderr
        cls.secrets = credentials_of(answer)

    @classmethod
    def tearDownClass(cls):
        cls.s.close()

    def test_apply_created_a_client_per_service(self):
        self.assertEqual(sorted(self.secrets), ["notification-worker", "video-service"])
        client = self.s.admin("GET", "/v1/clients/video-service").json()
        self.assertEqual(client["attributes"], {"environment": "production", "team": "media"})
        self.assertEqual(sorted(client["allowed_scopes"]), ["analytics:write", "profile:read"])
        self.assertEqual(sorted(client["allowed_audiences"]),
                         ["https://analytics.example.com", "user-service"])

    def test_each_allowed_and_each_denied_pair(self):
        for caller, (audience, scopes) in itertools.product(self.secrets, AUDIENCE_SCOPES.items()):
            for scope in scopes:
                with self.subTest(caller=caller, audience=audience, scope=scope):
                    r = self.s.token(caller, self.secrets[caller], scope=scope, audience=audience)
                    if (caller, audience, scope) in ALLOWED:
                        self.assertEqual(r.status, 200, r.body)
                        _, claims = jwt_parts(r.json()["access_token"])
                        self.assertEqual(claims["aud"], AUDIENCE_URI.get(audience, audience))
                        self.assertEqual(claims["scope"], scope)
                        self.assertEqual(claims["sub"], caller)
                    else:
                        self.assertEqual(r.status, 400, r.body)
                        self.assertIn(r.json()["error"], ("invalid_scope", "invalid_target"))
                        # Nothing about rules or other audiences leaks to the client.
                        self.assertNotIn("video-writes", r.body.decode())
                        self.assertNotIn("worker-", r.body.decode())

    def test_the_rule_is_in_the_audit_record(self):
        r = self.s.token("video-service", self.secrets["video-service"], scope="analytics:write",
                         resource="https://analytics.example.com")
        self.assertEqual(r.status, 200, r.body)
        jti = jwt_parts(r.json()["access_token"])[1]["jti"]
        record = [e for e in self.s.audit_records() if e.get("jti") == jti][0]
        self.assertEqual(record["decision"], "allow")
        self.assertEqual(record["rule"], "video-writes-analytics")

        r = self.s.token("video-service", self.secrets["video-service"], scope="analytics:read",
                         audience="analytics-service")
        self.assertEqual(r.status, 400)
        self.assertEqual(r.json()["error"], "invalid_scope")
        denied = [e for e in self.s.audit_records() if e["event"] == "token.issue"][-1]
        self.assertEqual(denied["decision"], "deny")
        self.assertEqual(denied["reason"], "scope_not_granted")
        self.assertIn("analytics:read", denied["detail"])

    def test_without_scope_the_token_gets_what_is_granted(self):
        r = self.s.token("video-service", self.secrets["video-service"], audience="user-service")
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(r.json()["scope"], "profile:read")

    def test_scope_intersection_refuses_anything_not_granted(self):
        r = self.s.token("video-service", self.secrets["video-service"],
                         scope="profile:read profile:write", audience="user-service")
        self.assertEqual(r.status, 400)
        self.assertEqual(r.json()["error"], "invalid_scope")

    def test_the_admin_api_is_not_locked_out(self):
        r = self.s.admin("GET", "/v1/clients")
        self.assertEqual(r.status, 200, r.body)


class ConditionsTest(unittest.TestCase):
    """Each condition kind, lifetimes and environment separation, over HTTP."""

    @classmethod
    def setUpClass(cls):
        cls.s = Sigil()
        r, answer = apply(cls.s, FEATURES)
        assert r.returncode == 0, r.stderr
        cls.secrets = credentials_of(answer)

    @classmethod
    def tearDownClass(cls):
        cls.s.close()

    def token(self, caller, **params):
        return self.s.token(caller, self.secrets[caller], **params)

    def lifetime(self, r):
        self.assertEqual(r.status, 200, r.body)
        _, claims = jwt_parts(r.json()["access_token"])
        self.assertEqual(r.json()["expires_in"], claims["exp"] - claims["iat"])
        return r.json()["expires_in"]

    def test_selector_grant_by_attributes(self):
        self.assertEqual(self.token("video-service", audience="analytics").status, 200)
        r = self.token("batch-job", audience="analytics")
        self.assertEqual(r.status, 400)
        self.assertEqual(r.json()["error"], "invalid_target")

    def test_environment_separation(self):
        # staging-video matches the team selector, but analytics is production.
        r = self.token("staging-video", audience="analytics")
        self.assertEqual(r.status, 400, r.body)
        self.assertEqual(r.json()["error"], "invalid_target")
        record = [e for e in self.s.audit_records() if e["event"] == "token.issue"][-1]
        self.assertEqual(record["reason"], "environment_mismatch")

    def test_source_address(self):
        self.assertEqual(self.token("batch-job", audience="internal").status, 200)
        r = self.token("batch-job", audience="secrets")
        self.assertEqual(r.status, 400)
        self.assertEqual(r.json()["error"], "invalid_scope")
        record = [e for e in self.s.audit_records() if e["event"] == "token.issue"][-1]
        self.assertEqual(record["reason"], "conditions_not_met")
        self.assertEqual(record["rule"], "office-only")
        self.assertIn("127.0.0.1", record["detail"])
        self.assertNotIn("10.0.0.0", r.body.decode())

    def test_auth_method(self):
        r = self.token("batch-job", audience="archive")
        self.assertEqual(r.status, 400)
        self.assertEqual(r.json()["error"], "invalid_scope")

    def test_expired_just_in_time_grant(self):
        r = self.token("batch-job", audience="reports")
        self.assertEqual(r.status, 400)
        self.assertEqual(r.json()["error"], "invalid_scope")

    def test_lifetime_is_the_smallest_cap(self):
        # default 5m; grant 10m; audience 20m
        self.assertEqual(self.lifetime(self.token("video-service", audience="analytics")), 300)
        self.assertEqual(
            self.lifetime(self.token("video-service", audience="analytics", expires_in="60")), 60)
        self.assertEqual(
            self.lifetime(self.token("video-service", audience="analytics", expires_in="3000")), 600)
        # high sensitivity: 5 minutes
        self.assertEqual(
            self.lifetime(self.token("video-service", audience="payments", expires_in="3000")), 300)

    def test_malformed_expires_in(self):
        for value in ("-5", "abc", "1.5", "0"):
            with self.subTest(value=value):
                r = self.token("video-service", audience="analytics", expires_in=value)
                self.assertEqual(r.status, 400)
                self.assertEqual(r.json()["error"], "invalid_request")

    def test_authorize_by_caller_and_by_token(self):
        admin = self.s.admin_token()
        r = self.s.admin("POST", "/v1/authorize",
                         {"caller": "video-service", "audience": "analytics",
                          "scope": "analytics:write"}, token=admin)
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(r.json()["decision"], "allow")
        self.assertEqual(r.json()["rules"], ["media-analytics"])
        r = self.s.admin("POST", "/v1/authorize",
                         {"caller": "batch-job", "audience": "secrets",
                          "context": {"source_address": "10.1.2.3"}}, token=admin)
        self.assertEqual(r.json()["decision"], "allow", r.body)
        r = self.s.admin("POST", "/v1/authorize",
                         {"caller": "batch-job", "audience": "secrets",
                          "context": {"source_address": "192.0.2.1"}}, token=admin)
        self.assertEqual(r.json()["decision"], "deny")
        self.assertEqual(r.json()["reason"], "conditions_not_met")

        token = self.token("video-service", audience="analytics", scope="analytics:read").json()[
            "access_token"]
        ask = lambda **b: self.s.admin("POST", "/v1/authorize", {"token": token, **b}, token=admin)
        self.assertEqual(ask(audience="analytics", scope="analytics:read").json()["decision"],
                         "allow")
        refused = ask(audience="analytics", scope="analytics:write").json()
        self.assertEqual(refused["reason"], "scope_not_in_token")
        self.assertEqual(ask(audience="payments").json()["reason"], "audience_mismatch")
        self.assertEqual(
            self.s.admin("POST", "/v1/authorize", {"token": token[:-4] + "AAAA",
                                                   "audience": "analytics"},
                         token=admin).json()["reason"], "invalid_token")
        self.assertTrue(any(e["event"] == "policy.authorize" and e["decision"] == "deny"
                            for e in self.s.audit_records()))

    def test_authorize_needs_its_scope(self):
        cid, secret = self.s.create_client(name="rs", allowed_scopes=["sigil:authorize"],
                                           allowed_audiences=[self.s.issuer])
        rs = self.s.token(cid, secret).json()["access_token"]
        r = self.s.admin("POST", "/v1/authorize", {"caller": "video-service", "audience": "analytics"},
                         token=rs)
        self.assertEqual(r.status, 200, r.body)
        cid, secret = self.s.create_client(name="other", allowed_scopes=["other"],
                                           allowed_audiences=[self.s.issuer])
        other = self.s.token(cid, secret).json()["access_token"]
        r = self.s.admin("POST", "/v1/authorize", {"caller": "video-service", "audience": "analytics"},
                         token=other)
        self.assertEqual(r.status, 403)
        for bad in ({"audience": "analytics"}, {"caller": "x", "token": "y", "audience": "a"},
                    {"caller": "x"}, {"caller": "x", "audience": "a", "extra": 1},
                    {"caller": "x", "audience": "a", "context": {"time": "now"}}):
            with self.subTest(body=bad):
                self.assertEqual(self.s.admin("POST", "/v1/authorize", bad, token=rs).status, 400)

    def test_explain_through_the_server(self):
        r = self.s.cli("policy", "explain", "--caller", "batch-job", "--audience", "secrets",
                       "--source", "192.0.2.1")
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("decision: deny", r.stdout)
        self.assertIn("office-only", r.stdout)
        r = self.s.cli("policy", "explain", "--caller", "batch-job", "--audience", "secrets",
                       "--source", "10.9.9.9")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("decision: allow", r.stdout)


class LifecycleTest(unittest.TestCase):
    """plan, apply, idempotence, refusal of a bad file, disable/prune, history, rollback."""

    def setUp(self):
        self.s = Sigil()
        self.path = os.path.join(self.s.tmp.name, "sigil.yaml")

    def tearDown(self):
        self.s.close()

    def write(self, text):
        with open(self.path, "w") as f:
            f.write(text)

    def test_plan_then_apply_then_nothing_to_do(self):
        self.write(VIDEO_PLATFORM)
        r = self.s.cli("plan", "-f", self.path)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("+ service video-service", r.stdout)
        self.assertIn("+ grant video-writes-analytics", r.stdout)
        self.assertIn("create", r.stdout)
        r = self.s.cli("apply", "-f", self.path)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("applied: version 1", r.stdout)
        self.assertIn("shown only once", r.stderr)
        r = self.s.cli("plan", "-f", self.path)
        self.assertIn("no changes", r.stdout)
        r = self.s.cli("apply", "-f", self.path, "-o", "json")
        self.assertEqual(json.loads(r.stdout)["version"]["version"], 1)
        self.assertEqual(len(self.s.admin("GET", "/v1/policy/versions").json()["versions"]), 1)
        shown = self.s.cli("policy", "show")
        self.assertEqual(shown.stdout, VIDEO_PLATFORM)

    def test_invalid_file_is_refused_and_the_old_policy_stays(self):
        r, answer = apply(self.s, VIDEO_PLATFORM)
        secrets = credentials_of(answer)
        broken = VIDEO_PLATFORM.replace("    scopes: [social:read]\n    attributes",
                                        "    scoeps: [social:read]\n    attributes")
        broken = broken.replace("caller: notification-worker\n    audience: social-service",
                                "caller: notification-workr\n    audience: social-service")
        self.write(broken)
        r = self.s.cli("apply", "-f", self.path)
        self.assertEqual(r.returncode, 1)
        self.assertRegex(r.stderr, r"sigil\.yaml:\d+: unknown field \"scoeps\"")
        self.assertRegex(r.stderr, r"sigil\.yaml:\d+: .*notification-workr")
        # The server refuses it too, when sent without the CLI's own check.
        direct = self.s.admin("POST", "/v1/policy", {"document": broken})
        self.assertEqual(direct.status, 400)
        self.assertEqual(direct.json()["error"], "invalid_policy")
        self.assertEqual(len(self.s.admin("GET", "/v1/policy/versions").json()["versions"]), 1)
        r = self.s.token("notification-worker", secrets["notification-worker"],
                         audience="social-service")
        self.assertEqual(r.status, 200, r.body)

    def test_removed_service_is_disabled_or_deleted_with_prune(self):
        r, answer = apply(self.s, VIDEO_PLATFORM)
        secrets = credentials_of(answer)
        without_worker = VIDEO_PLATFORM.split("  - name: notification-worker")[0] + \
            VIDEO_PLATFORM.split("    attributes: {environment: production, team: growth}\n")[1]
        without_worker = without_worker.split("  - name: worker-reads-social")[0]
        r, answer = apply(self.s, without_worker)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn({"client_id": "notification-worker", "action": "disable"},
                      [{k: c[k] for k in ("client_id", "action")} for c in answer["clients"]])
        client = self.s.admin("GET", "/v1/clients/notification-worker").json()
        self.assertEqual(client["status"], "disabled")
        r = self.s.token("notification-worker", secrets["notification-worker"],
                         audience="social-service")
        self.assertEqual(r.status, 401)

        # Back in the file: the kill switch stays pulled.
        r, answer = apply(self.s, VIDEO_PLATFORM)
        self.assertEqual(self.s.admin("GET", "/v1/clients/notification-worker").json()["status"],
                         "disabled")
        r, answer = apply(self.s, without_worker, "--prune")
        self.assertEqual(self.s.admin("GET", "/v1/clients/notification-worker").status, 404)

    def test_history_and_rollback(self):
        apply(self.s, VIDEO_PLATFORM)
        narrowed = VIDEO_PLATFORM.split("  - name: video-reads-profiles")[0] + \
            "  - name: worker-reads-social" + VIDEO_PLATFORM.split("  - name: worker-reads-social")[1]
        r, answer = apply(self.s, narrowed)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(answer["version"]["version"], 2)
        r = self.s.cli("policy", "history")
        self.assertRegex(r.stdout, r"(?m)^2\s")
        r = self.s.cli("policy", "rollback", "1", "-o", "json")
        self.assertEqual(r.returncode, 0, r.stderr)
        rolled = json.loads(r.stdout)["version"]
        self.assertEqual((rolled["version"], rolled["origin"], rolled["rolled_back_from"]),
                         (3, "rollback", 1))
        self.assertEqual(self.s.admin("GET", "/v1/policy").json()["document"], VIDEO_PLATFORM)
        self.assertEqual(self.s.cli("policy", "rollback", "99").returncode, 1)

    def test_policy_survives_a_restart(self):
        r, answer = apply(self.s, VIDEO_PLATFORM)
        secrets = credentials_of(answer)
        self.s.stop()
        self.s.start()
        ok = self.s.token("video-service", secrets["video-service"], audience="user-service")
        self.assertEqual(ok.status, 200, ok.body)
        denied = self.s.token("video-service", secrets["video-service"], audience="social-service")
        self.assertEqual(denied.status, 400)


class OfflineCommandsTest(unittest.TestCase):
    """validate, test, explain -f and graph need no server."""

    @classmethod
    def setUpClass(cls):
        cls.s = Sigil()
        cls.policy = os.path.join(cls.s.tmp.name, "platform.yaml")
        with open(cls.policy, "w") as f:
            f.write(VIDEO_PLATFORM)

    @classmethod
    def tearDownClass(cls):
        cls.s.close()

    def cases(self, text):
        path = os.path.join(self.s.tmp.name, "cases.yaml")
        with open(path, "w") as f:
            f.write(text)
        return self.s.cli("policy", "test", "-f", self.policy, path)

    def test_validate(self):
        r = self.s.cli("policy", "validate", "-f", self.policy)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("2 services, 4 audiences, 4 grants", r.stdout)

    def test_policy_test_passes_and_fails(self):
        good = """
cases:
  - name: video writes analytics
    caller: video-service
    audience: analytics-service
    scopes: [analytics:write]
    expect: allow
    rule: video-writes-analytics
  - name: worker may not read profiles
    caller: notification-worker
    audience: user-service
    expect: deny
    reason: no_grant
"""
        r = self.cases(good)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("2 passed, 0 failed", r.stdout)
        r = self.cases(good.replace("expect: deny\n    reason: no_grant", "expect: allow"))
        self.assertEqual(r.returncode, 1)
        self.assertIn("FAIL  worker may not read profiles", r.stdout)
        r = self.cases("cases:\n  - name: x\n    callr: a\n")
        self.assertEqual(r.returncode, 1)
        self.assertIn("cases.yaml:3:", r.stderr)

    def test_explain_offline(self):
        r = self.s.cli("policy", "explain", "-f", self.policy, "--caller", "video-service",
                       "--audience", "analytics-service", "--scope", "analytics:write")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("video-writes-analytics", r.stdout)
        r = self.s.cli("policy", "explain", "-f", self.policy, "--caller", "video-service",
                       "--audience", "social-service", "-o", "json")
        self.assertEqual(r.returncode, 1)
        self.assertEqual(json.loads(r.stdout)["reason"], "no_grant")

    def test_graph(self):
        r = self.s.cli("policy", "graph", "-f", self.policy)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(r.stdout.startswith("digraph"))
        self.assertIn("analytics:write", r.stdout)
        self.assertIn("notifications:send", r.stdout)
        r = self.s.cli("policy", "graph", "-f", self.policy, "--format", "mermaid")
        self.assertTrue(r.stdout.startswith("flowchart LR"))
        self.assertEqual(r.stdout.count("-->"), 4)


class PolicyFileTest(unittest.TestCase):
    """sigil serve --policy: applied at start, reloaded on change and on SIGHUP, a bad file
    refused with the running policy kept, and the API may not change it."""

    def setUp(self):
        self.s = Sigil(policy=VIDEO_PLATFORM)
        # File mode creates clients without secrets: give one.
        r = self.s.admin("POST", "/v1/clients/video-service/rotate-secret", {})
        self.assertEqual(r.status, 200, r.body)
        self.secret = r.json()["client_secret"]

    def tearDown(self):
        self.s.close()

    def wait_for(self, predicate, seconds=10):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if predicate():
                return True
            time.sleep(0.1)
        return False

    def social_status(self):
        return self.s.token("video-service", self.secret, audience="social-service").status

    def test_reload_on_change_and_refusal_of_a_bad_file(self):
        self.assertEqual(self.social_status(), 400)
        more = VIDEO_PLATFORM + """  - name: video-reads-social
    caller: video-service
    audience: social-service
    scopes: [social:read]
"""
        self.s.write_policy(more)
        self.assertTrue(self.wait_for(lambda: self.social_status() == 200))

        self.s.write_policy(more.replace("scopes: [social:read]\n", "scopes: [social:reed]\n", 1))
        self.assertTrue(self.wait_for(
            lambda: any(e["event"] == "policy.reload" and e["decision"] == "deny"
                        for e in self.s.audit_records())))
        self.assertEqual(self.social_status(), 200)
        self.assertIn("sigil.yaml:", self.s.server_log())

    def test_sighup_reloads(self):
        more = VIDEO_PLATFORM + """  - name: video-reads-social
    caller: video-service
    audience: social-service
    scopes: [social:read]
"""
        self.s.write_policy(more)
        self.s.proc.send_signal(signal.SIGHUP)
        self.assertTrue(self.wait_for(lambda: self.social_status() == 200, seconds=5))
        self.assertIsNone(self.s.proc.poll())

    def test_the_api_may_not_change_a_file_policy(self):
        r = self.s.admin("POST", "/v1/policy", {"document": VIDEO_PLATFORM})
        self.assertEqual(r.status, 409)
        self.assertIn("sigil.yaml", r.json()["error_description"])
        r = self.s.admin("POST", "/v1/policy/rollback", {"version": 1})
        self.assertEqual(r.status, 409)

    def test_an_invalid_file_stops_the_start(self):
        self.s.stop()
        self.s.write_policy("version: 1\nservices:\n  - nam: x\n")
        with self.assertRaises(RuntimeError) as raised:
            self.s.start()
        self.assertIn("sigil.yaml:3:", str(raised.exception))


if __name__ == "__main__":
    unittest.main()
