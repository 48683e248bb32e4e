"""API keys over HTTP against the real sigil binary: lifecycle, every verification
outcome, rotation overlap, credits under concurrency, rate limits, tenant isolation, and
no key ever in a log."""

import concurrent.futures
import json
import os
import time
import unittest

from harness import Sigil, http


class ApiKeyTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.s = Sigil()
        cls.admin = cls.s.admin_token()
        cls.keys_seen = []
        for space, prefix in (("live", "sk_live"), ("test", "sk_test")):
            r = cls.s.admin("POST", "/v1/key-spaces", {"id": space, "prefix": prefix, "name": space},
                            token=cls.admin)
            assert r.status == 201, r.body
        # an API gateway that may only verify
        cid, secret = cls.s.create_client(name="gateway", allowed_scopes=["sigil:keys:verify"],
                                          allowed_audiences=[cls.s.issuer])
        cls.gateway = cls.s.token(cid, secret).json()["access_token"]

    @classmethod
    def tearDownClass(cls):
        try:
            # No key may appear in the server's log or the audit log, whatever happened.
            with open(os.path.join(cls.s.data, "audit.log")) as f:
                text = f.read() + cls.s.server_log()
            for key in cls.keys_seen:
                assert key not in text, "an API key leaked into a log"
                assert key[8:] not in text, "an API key's random part leaked into a log"
        finally:
            cls.s.close()

    def create(self, **fields):
        fields.setdefault("key_space", "live")
        fields.setdefault("owner", "acme")
        r = self.s.admin("POST", "/v1/keys", fields, token=self.admin)
        self.assertEqual(r.status, 201, r.body)
        body = r.json()
        self.keys_seen.append(body["secret"])
        return body["key"], body["secret"]

    def verify(self, key, token=None, **extra):
        r = self.s.admin("POST", "/v1/keys/verify", {"key": key, **extra}, token=token or self.gateway)
        self.assertEqual(r.status, 200, r.body)
        return r.json()

    def test_create_shows_the_key_once_and_stores_only_its_start(self):
        record, secret = self.create(name="production", scopes=["read", "write"],
                                     metadata={"plan": "pro"})
        self.assertRegex(secret, r"^sk_live_[0-9A-Za-z]{49}$")
        self.assertEqual(record["start"], secret[:12])
        shown = self.s.admin("GET", f"/v1/keys/{record['id']}", token=self.admin)
        self.assertEqual(shown.status, 200)
        self.assertNotIn(secret, shown.body.decode())
        self.assertNotIn("secret", shown.json())
        self.assertEqual(shown.json()["metadata"], {"plan": "pro"})
        self.assertEqual(shown.json()["scopes"], ["read", "write"])

    def test_verify_valid_and_every_refusal(self):
        record, key = self.create(scopes=["read"], metadata={"tier": 2})
        ok = self.verify(key, scopes=["read"])
        self.assertEqual((ok["valid"], ok["code"]), (True, "valid"))
        self.assertEqual(ok["key_id"], record["id"])
        self.assertEqual(ok["owner"], "acme")
        self.assertEqual(ok["metadata"], {"tier": 2})

        self.assertEqual(self.verify("hello")["code"], "malformed")
        typo = key[:-1] + ("A" if key[-1] != "A" else "B")
        self.assertEqual(self.verify(typo)["code"], "bad_checksum")
        revoked_record, revoked = self.create()
        self.s.admin("POST", f"/v1/keys/{revoked_record['id']}/revoke", token=self.admin)
        self.assertEqual(self.verify(revoked)["code"], "revoked")
        self.assertEqual(self.verify(key, scopes=["write"])["code"], "missing_scope")
        self.assertEqual(self.verify(key, key_space="test")["code"], "unknown")

        self.s.admin("POST", f"/v1/keys/{record['id']}/disable", token=self.admin)
        self.assertEqual(self.verify(key)["code"], "disabled")
        self.s.admin("POST", f"/v1/keys/{record['id']}/enable", token=self.admin)
        self.assertEqual(self.verify(key)["code"], "valid")

        past = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 2))
        _, expiring = self.create(expires_at=past)
        self.assertEqual(self.verify(expiring)["code"], "valid")
        time.sleep(2.2)
        self.assertEqual(self.verify(expiring)["code"], "expired")

    def test_unknown_well_formed_key(self):
        other = Sigil()
        try:
            admin = other.admin_token()
            other.admin("POST", "/v1/key-spaces", {"id": "live", "prefix": "sk_live"}, token=admin)
            r = other.admin("POST", "/v1/keys", {"key_space": "live", "owner": "x"}, token=admin)
            foreign = r.json()["secret"]
        finally:
            other.close()
        self.assertEqual(self.verify(foreign)["code"], "unknown")

    def test_key_in_the_x_api_key_header(self):
        _, key = self.create(scopes=["read"])
        r = http("POST", self.s.url("/v1/keys/verify"), json.dumps({"scopes": ["read"]}),
                 {"Content-Type": "application/json", "Authorization": "Bearer " + self.gateway,
                  "X-API-Key": key})
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(r.json()["code"], "valid")

    def test_failed_verifications_are_audited_by_key_id(self):
        record, key = self.create(scopes=["read"])
        self.verify(key, scopes=["admin"])
        records = [r for r in self.s.audit_records() if r["event"] == "key.verify"]
        self.assertTrue(any(r.get("subject") == record["id"] and r["reason"] == "missing_scope"
                            and r["decision"] == "deny" for r in records))

    def test_update_and_revoke_is_permanent(self):
        record, key = self.create(scopes=["read"])
        r = self.s.admin("PATCH", f"/v1/keys/{record['id']}",
                         {"scopes": ["read", "write"], "metadata": {"a": 1}, "remaining": 5,
                          "rate_limit": {"limit": 10, "window_seconds": 60}}, token=self.admin)
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(r.json()["remaining"], 5)
        self.assertEqual(self.verify(key, scopes=["write"])["remaining"], 4)
        r = self.s.admin("PATCH", f"/v1/keys/{record['id']}", {"remaining": None, "rate_limit": None},
                         token=self.admin)
        self.assertNotIn("remaining", r.json())
        self.assertNotIn("rate_limit", r.json())
        self.s.admin("POST", f"/v1/keys/{record['id']}/revoke", token=self.admin)
        r = self.s.admin("POST", f"/v1/keys/{record['id']}/enable", token=self.admin)
        self.assertEqual(r.status, 409)
        self.assertEqual(self.verify(key)["code"], "revoked")

    def test_rotation_overlap_and_its_end(self):
        record, old = self.create(scopes=["read"])
        r = self.s.admin("POST", f"/v1/keys/{record['id']}/rotate", {"grace_seconds": 2}, token=self.admin)
        self.assertEqual(r.status, 201, r.body)
        new = r.json()["secret"]
        self.keys_seen.append(new)
        self.assertEqual(r.json()["key"]["rotated_from"], record["id"])
        self.assertEqual(self.verify(old)["code"], "valid")
        self.assertEqual(self.verify(new)["code"], "valid")
        time.sleep(2.2)
        self.assertEqual(self.verify(old)["code"], "expired")
        self.assertEqual(self.verify(new)["code"], "valid")

    def test_fifty_parallel_verifications_against_twenty_credits(self):
        _, key = self.create(remaining=20)

        def one(_):
            return self.verify(key)["code"]

        with concurrent.futures.ThreadPoolExecutor(max_workers=50) as pool:
            codes = list(pool.map(one, range(50)))
        self.assertEqual(codes.count("valid"), 20)
        self.assertEqual(codes.count("no_credits"), 30)

    def test_rate_limit(self):
        _, key = self.create(rate_limit={"limit": 3, "window_seconds": 60})
        answers = [self.verify(key) for _ in range(4)]
        self.assertEqual([a["code"] for a in answers], ["valid", "valid", "valid", "rate_limited"])
        self.assertEqual(answers[2]["rate_limit"]["remaining"], 0)
        self.assertEqual(answers[0]["rate_limit"]["limit"], 3)

    def test_listing_paging_and_revoke_owner(self):
        for i in range(3):
            self.create(owner="globex", name=f"k{i}")
        first = self.s.admin("GET", "/v1/keys?key_space=live&owner=globex&limit=2", token=self.admin).json()
        self.assertEqual(len(first["keys"]), 2)
        rest = self.s.admin("GET", f"/v1/keys?key_space=live&owner=globex&limit=2&after={first['next_after']}",
                            token=self.admin).json()
        self.assertEqual(len(rest["keys"]), 1)
        r = self.s.admin("POST", "/v1/keys/revoke-owner", {"key_space": "live", "owner": "globex"},
                         token=self.admin)
        self.assertEqual(len(r.json()["revoked"]), 3)
        listed = self.s.admin("GET", "/v1/keys?key_space=live&owner=globex", token=self.admin).json()
        self.assertTrue(all(k["status"] == "revoked" for k in listed["keys"]))

    def test_tenant_isolation(self):
        cid, secret = self.s.create_client(name="test-space admin", allowed_scopes=["sigil:keys:test"],
                                           allowed_audiences=[self.s.issuer])
        scoped = self.s.token(cid, secret).json()["access_token"]
        live_record, live_key = self.create()
        self.assertEqual(self.s.admin("GET", f"/v1/keys/{live_record['id']}", token=scoped).status, 404)
        self.assertEqual(self.s.admin("GET", "/v1/keys?key_space=live", token=scoped).status, 404)
        self.assertEqual(self.s.admin("POST", f"/v1/keys/{live_record['id']}/revoke", token=scoped).status, 404)
        spaces = self.s.admin("GET", "/v1/key-spaces", token=scoped).json()["key_spaces"]
        self.assertEqual([s["id"] for s in spaces], ["test"])
        r = self.s.admin("POST", "/v1/keys/verify", {"key": live_key, "key_space": "live"}, token=scoped)
        self.assertEqual(r.status, 403)
        r = self.s.admin("POST", "/v1/keys", {"key_space": "test", "owner": "initech"}, token=scoped)
        self.assertEqual(r.status, 201)
        self.keys_seen.append(r.json()["secret"])
        self.assertEqual(self.verify(r.json()["secret"], token=scoped, key_space="test")["code"], "valid")
        # the gateway may verify but not manage
        self.assertEqual(self.s.admin("GET", "/v1/keys?key_space=test", token=self.gateway).status, 404)

    def test_bad_requests(self):
        for body in ({"key_space": "live"}, {"owner": "x"}, {"key_space": "live", "owner": "x", "bogus": 1},
                     {"key_space": "live", "owner": "x", "metadata": [1]},
                     {"key_space": "live", "owner": "x", "remaining": -1},
                     {"key_space": "live", "owner": "x", "rate_limit": {"limit": 0, "window_seconds": 1}},
                     {"key_space": "live", "owner": "x", "expires_at": "tomorrow"},
                     {"key_space": "live", "owner": "x", "scopes": ["has space"]}):
            r = self.s.admin("POST", "/v1/keys", body, token=self.admin)
            self.assertEqual(r.status, 400, (body, r.body))
        self.assertEqual(self.s.admin("POST", "/v1/keys", {"key_space": "nope", "owner": "x"},
                                      token=self.admin).status, 404)
        self.assertEqual(self.s.admin("POST", "/v1/key-spaces", {"id": "dup", "prefix": "sk_live"},
                                      token=self.admin).status, 409)
        self.assertEqual(self.s.admin("POST", "/v1/key-spaces", {"id": "bad", "prefix": "Has-Caps"},
                                      token=self.admin).status, 400)
        r = self.s.admin("POST", "/v1/keys/verify", {"nokey": 1})
        self.assertEqual(r.status, 400)
        r = http("POST", self.s.url("/v1/keys/verify"), json.dumps({"key": "x"}),
                 {"Content-Type": "application/json"})
        self.assertEqual(r.status, 401)


class ApiKeyCliTest(unittest.TestCase):
    def test_cli_flow(self):
        s = Sigil()
        try:
            self.assertEqual(s.cli("keyspace", "create", "--id", "live", "--prefix", "sk_live").returncode, 0)
            r = s.cli("key", "create", "--key-space", "live", "--owner", "acme", "--scope", "read",
                      "--credits", "2", "-o", "json")
            self.assertEqual(r.returncode, 0, r.stderr)
            key = json.loads(r.stdout)["secret"]
            key_id = json.loads(r.stdout)["key"]["id"]
            r = s.cli("key", "verify", "-", "--scope", "read", input=key)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            self.assertNotIn(key, r.stdout + r.stderr)
            self.assertEqual(s.cli("key", "verify", "-", "--scope", "write", input=key).returncode, 1)
            self.assertEqual(s.cli("key", "disable", key_id).returncode, 0)
            self.assertEqual(s.cli("key", "verify", "-", input=key).returncode, 1)
            self.assertEqual(s.cli("key", "list", "--key-space", "live").returncode, 0)
            self.assertEqual(s.cli("key", "create", "--key-space", "live", "--owner", "x",
                                   "--rate-limit", "ten").returncode, 2)
        finally:
            s.close()


if __name__ == "__main__":
    unittest.main()
