"""The token service over HTTP, against the real sigil binary."""

import json
import os
import re
import subprocess
import time
import unittest

from harness import FORM, Sigil, basic, form, http, jwt_parts


class TokenServiceTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.s = Sigil()
        cls.cid, cls.secret = cls.s.create_client(
            name="video service", id="video-service",
            attributes={"environment": "prod", "team": "media"},
            allowed_scopes=["analytics:write", "profile:read"],
            allowed_audiences=["https://analytics.example"])

    @classmethod
    def tearDownClass(cls):
        cls.s.close()

    # --- discovery ----------------------------------------------------------------------
    def test_metadata_at_both_locations(self):
        for path in ("/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"):
            r = http("GET", self.s.url(path))
            self.assertEqual(r.status, 200)
            m = r.json()
            self.assertEqual(m["issuer"], self.s.issuer)
            self.assertEqual(m["token_endpoint"], self.s.issuer + "/oauth2/token")
            self.assertEqual(m["introspection_endpoint"], self.s.issuer + "/oauth2/introspect")
            self.assertEqual(m["revocation_endpoint"], self.s.issuer + "/oauth2/revoke")
            self.assertIn("client_credentials", m["grant_types_supported"])
            self.assertIn("client_secret_basic", m["token_endpoint_auth_methods_supported"])
            self.assertIn("client_secret_post", m["token_endpoint_auth_methods_supported"])
            jwks = http("GET", m["jwks_uri"])
            self.assertEqual(jwks.status, 200)
            keys = jwks.json()["keys"]
            self.assertGreaterEqual(len(keys), 1)
            for k in keys:
                self.assertNotIn("d", k)
                self.assertEqual(k["use"], "sig")

    # --- the token endpoint -------------------------------------------------------------
    def test_client_secret_basic_issues_rfc9068_token(self):
        r = self.s.token(self.cid, self.secret, scope="profile:read",
                         resource="https://analytics.example")
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(r.header("Cache-Control"), "no-store")
        body = r.json()
        self.assertEqual(body["token_type"], "Bearer")
        self.assertEqual(body["expires_in"], 300)
        self.assertEqual(body["scope"], "profile:read")
        header, claims = jwt_parts(body["access_token"])
        self.assertEqual(header["typ"], "at+jwt")
        self.assertEqual(header["alg"], "ES256")
        self.assertIn("kid", header)
        self.assertEqual(claims["iss"], self.s.issuer)
        self.assertEqual(claims["sub"], self.cid)
        self.assertEqual(claims["client_id"], self.cid)
        self.assertEqual(claims["aud"], "https://analytics.example")
        self.assertEqual(claims["scope"], "profile:read")
        self.assertEqual(claims["exp"] - claims["iat"], 300)
        self.assertTrue(claims["jti"])
        self.assertEqual(claims["https://sigil.dev/attributes"], {"environment": "prod", "team": "media"})

    def test_client_secret_post_and_default_scope_and_audience(self):
        r = http("POST", self.s.url("/oauth2/token"),
                 form(grant_type="client_credentials", client_id=self.cid, client_secret=self.secret),
                 FORM)
        self.assertEqual(r.status, 200, r.body)
        _, claims = jwt_parts(r.json()["access_token"])
        self.assertEqual(claims["aud"], "https://analytics.example")
        self.assertEqual(sorted(claims["scope"].split()), ["analytics:write", "profile:read"])

    def test_bad_client_authentication_is_401_with_www_authenticate(self):
        for cid, secret in ((self.cid, "wrong"), ("nobody", "x"), (self.cid, "")):
            r = self.s.token(cid, secret)
            self.assertEqual(r.status, 401, (cid, r.body))
            self.assertEqual(r.json()["error"], "invalid_client")
            self.assertIn("Basic", r.header("WWW-Authenticate"))
            self.assertEqual(r.header("Cache-Control"), "no-store")

    def test_no_client_authentication(self):
        r = http("POST", self.s.url("/oauth2/token"), form(grant_type="client_credentials"), FORM)
        self.assertEqual(r.status, 401)
        self.assertEqual(r.json()["error"], "invalid_client")

    def test_two_authentication_methods_refused(self):
        r = http("POST", self.s.url("/oauth2/token"),
                 form(grant_type="client_credentials", client_id=self.cid, client_secret=self.secret),
                 {**FORM, "Authorization": basic(self.cid, self.secret)})
        self.assertEqual(r.status, 400)
        self.assertEqual(r.json()["error"], "invalid_request")

    def test_grant_type_errors(self):
        r = self.s.token(self.cid, self.secret, grant_type="password")
        self.assertEqual((r.status, r.json()["error"]), (400, "unsupported_grant_type"))
        r = http("POST", self.s.url("/oauth2/token"), form(scope="x"),
                 {**FORM, "Authorization": basic(self.cid, self.secret)})
        self.assertEqual((r.status, r.json()["error"]), (400, "invalid_request"))

    def test_repeated_parameter_refused(self):
        r = self.s.token(self.cid, self.secret, scope=["profile:read", "analytics:write"])
        self.assertEqual((r.status, r.json()["error"]), (400, "invalid_request"))

    def test_scope_not_allowed(self):
        r = self.s.token(self.cid, self.secret, scope="profile:read admin:all")
        self.assertEqual((r.status, r.json()["error"]), (400, "invalid_scope"))

    def test_audience_not_allowed(self):
        r = self.s.token(self.cid, self.secret, resource="https://payments.example")
        self.assertEqual((r.status, r.json()["error"]), (400, "invalid_target"))
        r = self.s.token(self.cid, self.secret, audience="https://payments.example")
        self.assertEqual((r.status, r.json()["error"]), (400, "invalid_target"))

    def test_wrong_content_type_and_method(self):
        r = http("POST", self.s.url("/oauth2/token"), json.dumps({"grant_type": "client_credentials"}),
                 {"Content-Type": "application/json", "Authorization": basic(self.cid, self.secret)})
        self.assertEqual(r.status, 415)
        self.assertEqual(r.json()["error"], "invalid_request")
        r = http("GET", self.s.url("/oauth2/token"))
        self.assertEqual(r.status, 405)

    def test_oversized_body_is_refused_and_audited(self):
        r = http("POST", self.s.url("/oauth2/token"), "scope=" + "a" * 200_000,
                 {**FORM, "Authorization": basic(self.cid, self.secret)})
        self.assertEqual(r.status, 413)
        self.assertEqual(r.json()["error"], "invalid_request")
        # The record does not hold up the answer: wait for it to be written.
        deadline = time.monotonic() + 10
        while True:
            rejected = [e for e in self.s.audit_records() if e["event"] == "http.reject"
                        and e.get("request_id") == r.header("X-Request-Id")]
            if rejected or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        self.assertEqual(len(rejected), 1)
        self.assertEqual(rejected[0]["decision"], "deny")
        self.assertEqual(rejected[0]["subject"], "POST /oauth2/token")
        self.assertTrue(rejected[0]["reason"].startswith("413"))

    def test_unknown_path_is_404_json(self):
        r = http("GET", self.s.url("/nope"))
        self.assertEqual(r.status, 404)
        self.assertIn("error", r.json())

    # --- introspection ------------------------------------------------------------------
    def test_introspection(self):
        token = self.s.token(self.cid, self.secret, scope="profile:read").json()["access_token"]
        r = self.s.introspect(token, self.cid, self.secret)
        self.assertEqual(r.status, 200)
        body = r.json()
        self.assertTrue(body["active"])
        self.assertEqual(body["client_id"], self.cid)
        self.assertEqual(body["scope"], "profile:read")
        self.assertEqual(body["iss"], self.s.issuer)
        self.assertEqual(body["token_type"], "Bearer")
        # RFC 6749 §3.1: an empty parameter counts as omitted, and token is required
        r = self.s.introspect("", self.cid, self.secret)
        self.assertEqual((r.status, r.json()["error"]), (400, "invalid_request"))
        for bad in ("garbage", "a.b.c", token[:-4] + "AAAA", token.replace(".", ".x", 1)):
            r = self.s.introspect(bad, self.cid, self.secret)
            self.assertEqual(r.status, 200, bad)
            self.assertEqual(r.json(), {"active": False})

    def test_introspection_requires_client_authentication(self):
        r = http("POST", self.s.url("/oauth2/introspect"), form(token="x"), FORM)
        self.assertEqual(r.status, 401)
        r = self.s.introspect("x", self.cid, "wrong")
        self.assertEqual(r.status, 401)
        self.assertEqual(r.json()["error"], "invalid_client")

    def test_forged_token_from_another_key_is_inactive(self):
        other = Sigil()
        try:
            forged = other.admin_token()  # right shape, signed by a key this server never had
        finally:
            other.close()
        self.assertFalse(self.s.introspect(forged).json()["active"])

    # --- revocation ---------------------------------------------------------------------
    def test_revocation_by_owner(self):
        token = self.s.token(self.cid, self.secret).json()["access_token"]
        r = self.s.revoke(token, self.cid, self.secret)
        self.assertEqual(r.status, 200)
        self.assertFalse(self.s.introspect(token).json()["active"])
        # revoking garbage or a revoked token is not an error (RFC 7009 §2.2)
        self.assertEqual(self.s.revoke(token, self.cid, self.secret).status, 200)
        self.assertEqual(self.s.revoke("garbage", self.cid, self.secret).status, 200)

    def test_revocation_of_another_clients_token_has_no_effect(self):
        other_id, other_secret = self.s.create_client(name="other", allowed_scopes=["x"],
                                                      allowed_audiences=["https://x.example"])
        token = self.s.token(self.cid, self.secret).json()["access_token"]
        self.assertEqual(self.s.revoke(token, other_id, other_secret).status, 200)
        self.assertTrue(self.s.introspect(token).json()["active"])

    def test_revocation_requires_token_parameter(self):
        r = http("POST", self.s.url("/oauth2/revoke"), form(x="y"),
                 {**FORM, "Authorization": basic(self.cid, self.secret)})
        self.assertEqual((r.status, r.json()["error"]), (400, "invalid_request"))

    def test_admin_revocation(self):
        token = self.s.token(self.cid, self.secret).json()["access_token"]
        r = self.s.admin("POST", "/v1/tokens/revoke", {"token": token})
        self.assertEqual(r.status, 200, r.body)
        self.assertTrue(r.json()["revoked"])
        self.assertFalse(self.s.introspect(token).json()["active"])
        r = self.s.admin("POST", "/v1/tokens/revoke", {"token": "garbage"})
        self.assertEqual(r.status, 400)

    # --- clients: kill switch and secret rotation ---------------------------------------
    def test_disable_is_a_kill_switch(self):
        cid, secret = self.s.create_client(name="doomed", allowed_scopes=["a"],
                                           allowed_audiences=["https://a.example"])
        token = self.s.token(cid, secret).json()["access_token"]
        self.assertTrue(self.s.introspect(token).json()["active"])
        r = self.s.admin("POST", f"/v1/clients/{cid}/disable")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.json()["status"], "disabled")
        self.assertFalse(self.s.introspect(token).json()["active"])
        r = self.s.token(cid, secret)
        self.assertEqual((r.status, r.json()["error"]), (401, "invalid_client"))
        r = self.s.admin("POST", f"/v1/clients/{cid}/enable")
        self.assertEqual(r.json()["status"], "active")
        self.assertTrue(self.s.introspect(token).json()["active"])
        self.assertEqual(self.s.token(cid, secret).status, 200)

    def test_rotate_secret_with_and_without_overlap(self):
        cid, old = self.s.create_client(name="rotating", allowed_scopes=["a"],
                                        allowed_audiences=["https://a.example"])
        r = self.s.admin("POST", f"/v1/clients/{cid}/rotate-secret", {"overlap_seconds": 3600})
        self.assertEqual(r.status, 200, r.body)
        new = r.json()["client_secret"]
        self.assertIn("previous_secret_expires_at", r.json())
        self.assertEqual(self.s.token(cid, old).status, 200)
        self.assertEqual(self.s.token(cid, new).status, 200)
        r = self.s.admin("POST", f"/v1/clients/{cid}/rotate-secret", {"overlap_seconds": 0})
        newest = r.json()["client_secret"]
        self.assertEqual(self.s.token(cid, new).status, 401)
        self.assertEqual(self.s.token(cid, old).status, 401)
        self.assertEqual(self.s.token(cid, newest).status, 200)

    # --- admin API ----------------------------------------------------------------------
    def test_admin_api_requires_admin_token(self):
        r = http("GET", self.s.url("/v1/clients"))
        self.assertEqual(r.status, 401)
        self.assertIn("Bearer", r.header("WWW-Authenticate"))
        r = http("GET", self.s.url("/v1/clients"), headers={"Authorization": "Bearer garbage"})
        self.assertEqual((r.status, r.json()["error"]), (401, "invalid_token"))
        plain = self.s.token(self.cid, self.secret).json()["access_token"]
        r = self.s.admin("GET", "/v1/clients", token=plain)
        self.assertEqual(r.status, 403)
        self.assertEqual(r.json()["error"], "insufficient_scope")

    def test_admin_client_crud_and_errors(self):
        r = self.s.admin("POST", "/v1/clients", {"id": "billing", "name": "Billing",
                                                 "allowed_scopes": ["b:read"],
                                                 "allowed_audiences": ["https://b.example"]})
        self.assertEqual(r.status, 201, r.body)
        self.assertNotIn("client_secret", r.json()["client"])
        self.assertEqual(len(r.json()["client_secret"]), 43)
        self.assertEqual(self.s.admin("POST", "/v1/clients", {"id": "billing", "name": "x"}).status, 409)
        self.assertEqual(self.s.admin("GET", "/v1/clients/billing").json()["name"], "Billing")
        self.assertEqual(self.s.admin("GET", "/v1/clients/nope").status, 404)
        ids = [c["id"] for c in self.s.admin("GET", "/v1/clients").json()["clients"]]
        self.assertIn("billing", ids)
        for bad in ({"name": "x", "id": "Bad Id!"}, {"name": "x", "allowed_scopes": ["has space"]},
                    {"name": "x", "unknown": 1}, {"id": "noname"}, [1, 2]):
            r = self.s.admin("POST", "/v1/clients", bad)
            self.assertEqual(r.status, 400, bad)
            self.assertEqual(r.json()["error"], "invalid_request")
        r = http("POST", self.s.url("/v1/clients"), "{not json",
                 {"Authorization": "Bearer " + self.s.admin_token(), "Content-Type": "application/json"})
        self.assertEqual(r.status, 400)

    # --- operations ---------------------------------------------------------------------
    def test_health_ready_metrics(self):
        self.assertEqual(http("GET", self.s.url("/healthz")).status, 200)
        self.assertEqual(http("GET", self.s.url("/readyz")).status, 200)
        self.s.token(self.cid, self.secret)
        self.s.token(self.cid, "wrong")
        text = http("GET", self.s.url("/metrics")).body.decode()
        self.assertIn("# TYPE sigil_http_requests_total counter", text)
        self.assertRegex(text, r'sigil_http_requests_total\{[^}]*route="/oauth2/token"[^}]*\} \d+')
        self.assertIn("sigil_http_request_duration_seconds_bucket", text)
        self.assertRegex(text, r"sigil_tokens_issued_total(\{[^}]*\})? [1-9]")
        self.assertRegex(text, r'sigil_denials_total\{[^}]*reason="[a-z_]+"[^}]*\} [1-9]')

    def test_audit_records_every_step_without_secrets(self):
        token = self.s.token(self.cid, self.secret, scope="profile:read").json()["access_token"]
        self.s.token(self.cid, "wrong-secret")
        self.s.introspect(token)
        self.s.revoke(token, self.cid, self.secret)
        records = self.s.audit_records()
        events = [r["event"] for r in records]
        for e in ("token.issue", "token.introspect", "token.revoke", "client.create"):
            self.assertIn(e, events)
        issued = [r for r in records if r["event"] == "token.issue" and r.get("decision") == "allow"
                  and r.get("client_id") == self.cid]
        self.assertTrue(issued)
        self.assertTrue(issued[-1]["jti"])
        self.assertEqual(issued[-1]["auth_method"], "client_secret_basic")
        denied = [r for r in records if r["event"] == "token.issue" and r["decision"] == "deny"]
        self.assertTrue(any(r.get("reason") for r in denied))
        for r in records:
            for k in ("time", "event", "decision", "hash", "prev", "seq"):
                self.assertIn(k, r)
            if r["event"] in ("token.issue", "token.introspect", "token.revoke"):
                self.assertIn("request_id", r)
                self.assertEqual(r["source"], "127.0.0.1")
        with open(os.path.join(self.s.data, "audit.log")) as f:
            text = f.read() + self.s.server_log()
        self.assertNotIn(self.secret, text)
        self.assertNotIn(self.s.admin_secret, text)
        self.assertNotIn(token, text)
        self.assertNotIn(token.split(".")[2], text)


class ExpiryTest(unittest.TestCase):
    """A server with two-second tokens and no leeway, so expiry is seen over HTTP. Times are
    whole seconds, so a token lives between one and two seconds: two leave the admin token
    that registers the client at least a second to be used in."""

    def test_expired_token_is_inactive(self):
        s = Sigil(env={"SIGIL_TOKEN_LIFETIME": "2", "SIGIL_LEEWAY": "0"})
        try:
            cid, secret = s.create_client(name="short", allowed_scopes=["a"],
                                          allowed_audiences=["https://a.example"])
            token = s.token(cid, secret).json()["access_token"]
            self.assertTrue(s.introspect(token).json()["active"])
            time.sleep(3.1)
            self.assertEqual(s.introspect(token).json(), {"active": False})
        finally:
            s.close()


class KeyRotationTest(unittest.TestCase):
    def test_rotation_publishes_at_once_and_signs_after_the_delay(self):
        s = Sigil(env={"SIGIL_KEY_PROPAGATION_DELAY": "2"})
        try:
            before = s.admin_token()
            old_kid = jwt_parts(before)[0]["kid"]
            r = s.admin("POST", "/v1/signing-keys/rotate", {})
            self.assertEqual(r.status, 201, r.body)
            new_kid = r.json()["kid"]
            self.assertNotEqual(new_kid, old_kid)
            self.assertEqual(r.json()["state"], "next")
            kids = [k["kid"] for k in http("GET", s.url("/.well-known/jwks.json")).json()["keys"]]
            self.assertEqual(sorted(kids), sorted([old_kid, new_kid]))
            self.assertEqual(jwt_parts(s.admin_token())[0]["kid"], old_kid)
            time.sleep(2.2)
            after = s.admin_token()
            self.assertEqual(jwt_parts(after)[0]["kid"], new_kid)
            self.assertTrue(s.introspect(before).json()["active"])
            states = {k["kid"]: k["state"] for k in s.admin("GET", "/v1/signing-keys").json()["keys"]}
            self.assertEqual(states, {old_kid: "retired", new_kid: "active"})
        finally:
            s.close()


class TlsTest(unittest.TestCase):
    def test_https_listener(self):
        s = Sigil(tls=True)
        try:
            self.assertTrue(s.issuer.startswith("https://"))
            meta = http("GET", s.url("/.well-known/oauth-authorization-server")).json()
            self.assertEqual(meta["token_endpoint"], s.issuer + "/oauth2/token")
            token = s.admin_token()
            self.assertTrue(s.introspect(token).json()["active"])
            # the CLI trusts the server through SIGIL_CA_FILE
            r = s.cli("client", "list")
            self.assertEqual(r.returncode, 0, r.stderr)
            # plain HTTP to the TLS port gets no HTTP answer
            with self.assertRaises(Exception):
                http("GET", f"http://127.0.0.1:{s.port}/healthz", timeout=3)
        finally:
            s.close()


class LifecycleTest(unittest.TestCase):
    def test_restart_keeps_clients_keys_and_revocations(self):
        s = Sigil()
        try:
            cid, secret = s.create_client(name="persistent", allowed_scopes=["a"],
                                          allowed_audiences=["https://a.example"])
            live = s.token(cid, secret).json()["access_token"]
            dead = s.token(cid, secret).json()["access_token"]
            s.revoke(dead, cid, secret)
            self.assertEqual(s.stop(), 0)  # graceful SIGTERM exits 0
            s.start()
            self.assertTrue(s.introspect(live).json()["active"])
            self.assertFalse(s.introspect(dead).json()["active"])
            self.assertEqual(s.token(cid, secret).status, 200)
        finally:
            s.close()

    def test_init_refuses_an_initialised_folder(self):
        s = Sigil()
        try:
            with open(os.path.join(s.data, "sigil.db"), "rb") as f:
                before = f.read()
            r = subprocess.run([os.environ["SIGIL_BIN"], "init", "--data", s.data, "--issuer", s.issuer],
                               capture_output=True, text=True)
            self.assertNotEqual(r.returncode, 0)
            self.assertIn("already", r.stderr)
            self.assertEqual(os.stat(os.path.join(s.data, "master.key")).st_mode & 0o777, 0o600)
            self.assertTrue(before)
        finally:
            s.close()

    def test_master_key_from_environment(self):
        key = "B" * 42 + "A"  # another 32-byte key, base64url
        s = Sigil(env={"SIGIL_MASTER_KEY": "A" * 43})
        try:
            self.assertFalse(os.path.exists(os.path.join(s.data, "master.key")))
            self.assertTrue(s.admin_token())
            s.stop()
            s.env["SIGIL_MASTER_KEY"] = key
            with self.assertRaises(RuntimeError):
                s.start()  # the wrong master key cannot open the signing key: refuses to start
        finally:
            s.close()


if __name__ == "__main__":
    unittest.main()
