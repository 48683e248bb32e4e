"""private_key_jwt (RFC 7523 §2.2): clients authenticate with a key they hold, not a secret.

Assertions are signed here with jwcrypto (and by authlib and `sigil token get --key`), keys
are registered inline or published at a jwks_uri that a small HTTP server on loopback
serves, and every refusal the RFC asks for is checked against the real binary.
"""

import base64
import hashlib
import hmac
import http.server
import json
import os
import threading
import time
import unittest
import uuid

from jwcrypto import jwk as jc_jwk, jwt as jc_jwt

from harness import FORM, Sigil, form, http as http_request, jwt_parts

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def new_key(kty="EC", kid=None, **params):
    if kty == "EC":
        params.setdefault("crv", "P-256")
    if kty == "RSA":
        params.setdefault("size", 2048)
    key = jc_jwk.JWK.generate(kty=kty, **params)
    if kid:
        key = jc_jwk.JWK(**{**json.loads(key.export_private()), "kid": kid})
    return key


def public_jwk(key, alg):
    """The public JWK to register, with its kid (the thumbprint when it has none) and alg."""
    pub = json.loads(key.export_public())
    pub.setdefault("kid", key.thumbprint())
    pub["alg"] = alg
    return pub


def sign(key, alg, claims, header=None):
    header = {"alg": alg, "kid": key.get("kid") or key.thumbprint(), **(header or {})}
    token = jc_jwt.JWT(header=header, claims=claims)
    token.make_signed_token(key)
    return token.serialize()


def unsigned(header, claims, signature=b""):
    return ".".join([b64url(json.dumps(header).encode()), b64url(json.dumps(claims).encode()),
                     b64url(signature)])


class KeyServer:
    """Serves one JWKS document on 127.0.0.1, as a client publishing its keys would."""

    def __init__(self):
        self.jwks = {"keys": []}
        self.fetches = 0
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                server.fetches += 1
                body = json.dumps(server.jwks).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/jwks.json"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


class PrivateKeyJwtTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.s = Sigil()
        cls.meta = http_request("GET", cls.s.url("/.well-known/oauth-authorization-server")).json()
        cls.token_endpoint = cls.meta["token_endpoint"]
        cls.key = new_key(kid="worker-1")
        r = cls.s.admin("POST", "/v1/clients", {
            "id": "worker", "name": "worker", "allowed_scopes": ["orders:read"],
            "allowed_audiences": ["https://orders.example"],
            "jwks": {"keys": [public_jwk(cls.key, "ES256")]}})
        assert r.status == 201, r.body
        cls.created = r.json()

    @classmethod
    def tearDownClass(cls):
        cls.s.close()

    def claims(self, client_id="worker", **changes):
        now = int(time.time())
        c = {"iss": client_id, "sub": client_id, "aud": self.token_endpoint, "iat": now,
             "exp": now + 60, "jti": str(uuid.uuid4())}
        for name, value in changes.items():
            if value is None:
                c.pop(name, None)
            else:
                c[name] = value
        return c

    def post(self, path, assertion, assertion_type=ASSERTION_TYPE, headers=None, **params):
        body = {"client_assertion_type": assertion_type, "client_assertion": assertion, **params}
        return http_request("POST", self.s.url(path), form(**body), {**FORM, **(headers or {})})

    def token(self, assertion, **params):
        params.setdefault("grant_type", "client_credentials")
        return self.post("/oauth2/token", assertion, **params)

    def last_denial(self, endpoint_event="token.issue"):
        records = [r for r in self.s.audit_records() if r["event"] == endpoint_event]
        return records[-1]

    def assert_refused(self, assertion, reason, status=401, error="invalid_client", **params):
        r = self.token(assertion, **params)
        self.assertEqual(r.status, status, r.body)
        self.assertEqual(r.json()["error"], error, r.body)
        self.assertNotIn("access_token", r.json())
        record = self.last_denial()
        self.assertEqual(record["decision"], "deny")
        self.assertEqual(record["reason"], reason)
        return r

    # --- registration and metadata -------------------------------------------------------

    def test_metadata_advertises_private_key_jwt(self):
        for endpoint in ("token", "introspection", "revocation"):
            self.assertIn("private_key_jwt", self.meta[f"{endpoint}_endpoint_auth_methods_supported"])
            algs = self.meta[f"{endpoint}_endpoint_auth_signing_alg_values_supported"]
            self.assertEqual(set(algs), {"ES256", "ES384", "EdDSA", "RS256", "PS256"})
            self.assertNotIn("none", algs)
            self.assertFalse([a for a in algs if a.startswith("HS")])

    def test_client_with_keys_has_no_secret(self):
        self.assertNotIn("client_secret", self.created)
        client = self.created["client"]
        self.assertEqual(client["auth_methods"], ["private_key_jwt"])
        self.assertEqual(client["jwks"]["keys"][0]["kid"], "worker-1")
        self.assertNotIn("d", client["jwks"]["keys"][0])
        # No secret of any kind authenticates it.
        self.assertEqual(self.s.token("worker", "").status, 401)

    def test_private_keys_are_refused_at_registration(self):
        private = json.loads(new_key().export_private())
        r = self.s.admin("POST", "/v1/clients", {"name": "leaky", "jwks": {"keys": [private]}})
        self.assertEqual(r.status, 400, r.body)
        self.assertIn("private key", r.json()["error_description"])
        r = self.s.admin("POST", "/v1/clients",
                         {"name": "far", "jwks_uri": "http://keys.example.com/jwks.json"})
        self.assertEqual(r.status, 400, r.body)

    # --- the token endpoint ----------------------------------------------------------------

    def test_signed_assertion_gets_a_token(self):
        r = self.token(sign(self.key, "ES256", self.claims()), scope="orders:read")
        self.assertEqual(r.status, 200, r.body)
        _, claims = jwt_parts(r.json()["access_token"])
        self.assertEqual(claims["client_id"], "worker")
        self.assertEqual(claims["sub"], "worker")
        self.assertEqual(claims["scope"], "orders:read")
        record = [e for e in self.s.audit_records() if e["event"] == "token.issue"][-1]
        self.assertEqual(record["decision"], "allow")
        self.assertEqual(record["auth_method"], "private_key_jwt")
        self.assertEqual(record["client_id"], "worker")

    def test_audience_may_be_the_issuer_and_client_id_may_be_sent(self):
        r = self.token(sign(self.key, "ES256", self.claims(aud=[self.s.issuer, "x"])),
                       client_id="worker")
        self.assertEqual(r.status, 200, r.body)

    def test_wrong_audience(self):
        self.assert_refused(sign(self.key, "ES256", self.claims(aud="https://other.example/token")),
                            "assertion_wrong_audience")

    def test_expired(self):
        now = int(time.time())
        self.assert_refused(sign(self.key, "ES256", self.claims(iat=now - 600, exp=now - 120)),
                            "assertion_expired")

    def test_lifetime_too_long(self):
        self.assert_refused(sign(self.key, "ES256", self.claims(exp=int(time.time()) + 3600)),
                            "assertion_lifetime_too_long")

    def test_replayed_jti(self):
        assertion = sign(self.key, "ES256", self.claims())
        self.assertEqual(self.token(assertion).status, 200)
        self.assert_refused(assertion, "assertion_replayed")
        # A fresh assertion that reuses the jti is a replay too.
        jti = jwt_parts(assertion)[1]["jti"]
        self.assert_refused(sign(self.key, "ES256", self.claims(jti=jti)), "assertion_replayed")

    def test_wrong_key(self):
        impostor = new_key(kid="worker-1")
        self.assert_refused(sign(impostor, "ES256", self.claims()), "assertion_bad_signature")
        stranger = new_key(kid="someone-else")
        self.assert_refused(sign(stranger, "ES256", self.claims()), "assertion_unknown_key")

    def test_alg_none(self):
        self.assert_refused(unsigned({"alg": "none", "kid": "worker-1"}, self.claims()),
                            "assertion_algorithm_not_allowed")

    def test_hs256_with_the_public_key_as_secret(self):
        header = {"alg": "HS256", "kid": "worker-1"}
        claims = self.claims()
        signing_input = (b64url(json.dumps(header).encode()) + "." +
                         b64url(json.dumps(claims).encode())).encode()
        for secret in (json.dumps(public_jwk(self.key, "ES256")).encode(),
                       self.key.export_to_pem()):
            mac = hmac.new(secret, signing_input, hashlib.sha256).digest()
            self.assert_refused(signing_input.decode() + "." + b64url(mac),
                                "assertion_algorithm_not_allowed")

    def test_iss_differs_from_sub(self):
        self.assert_refused(sign(self.key, "ES256", self.claims(iss="someone-else")),
                            "assertion_wrong_issuer")

    def test_missing_jti(self):
        self.assert_refused(sign(self.key, "ES256", self.claims(jti=None)), "assertion_missing_jti")

    def test_client_id_must_be_the_subject(self):
        self.assert_refused(sign(self.key, "ES256", self.claims()), "client_id_mismatch",
                            client_id=self.s.admin_id)

    def test_unknown_assertion_type(self):
        r = self.post("/oauth2/token", sign(self.key, "ES256", self.claims()),
                      assertion_type="urn:ietf:params:oauth:client-assertion-type:saml2-bearer",
                      grant_type="client_credentials")
        self.assertEqual(r.status, 401, r.body)
        self.assertEqual(r.json()["error"], "invalid_client")
        self.assertEqual(self.last_denial()["reason"], "unsupported_assertion_type")

    def test_assertion_and_secret_are_two_methods(self):
        from harness import basic
        r = self.post("/oauth2/token", sign(self.key, "ES256", self.claims()),
                      headers={"Authorization": basic(self.s.admin_id, self.s.admin_secret)},
                      grant_type="client_credentials")
        self.assertEqual(r.status, 400, r.body)
        self.assertEqual(r.json()["error"], "invalid_request")
        self.assertEqual(self.last_denial()["reason"], "multiple_auth_methods")

    def test_every_algorithm(self):
        for kty, params, alg in (("EC", {"crv": "P-256"}, "ES256"), ("EC", {"crv": "P-384"}, "ES384"),
                                 ("OKP", {"crv": "Ed25519"}, "EdDSA"), ("RSA", {}, "RS256"),
                                 ("RSA", {}, "PS256")):
            key = new_key(kty, **params)
            client_id = f"alg-{alg.lower()}"
            r = self.s.admin("POST", "/v1/clients", {"id": client_id, "name": client_id,
                                                     "allowed_audiences": ["https://orders.example"],
                                                     "jwks": {"keys": [public_jwk(key, alg)]}})
            self.assertEqual(r.status, 201, r.body)
            r = self.token(sign(key, alg, self.claims(client_id)))
            self.assertEqual(r.status, 200, f"{alg}: {r.body}")

    # --- introspection and revocation --------------------------------------------------------

    def test_introspection_and_revocation(self):
        token = self.token(sign(self.key, "ES256", self.claims())).json()["access_token"]
        introspect = self.post("/oauth2/introspect",
                               sign(self.key, "ES256", self.claims(aud=self.meta["introspection_endpoint"])),
                               token=token)
        self.assertEqual(introspect.status, 200, introspect.body)
        self.assertTrue(introspect.json()["active"])
        self.assertEqual(introspect.json()["client_id"], "worker")
        self.assertEqual(self.last_denial("token.introspect")["auth_method"], "private_key_jwt")

        revoke = self.post("/oauth2/revoke",
                           sign(self.key, "ES256", self.claims(aud=self.meta["revocation_endpoint"])),
                           token=token)
        self.assertEqual(revoke.status, 200, revoke.body)
        record = self.last_denial("token.revoke")
        self.assertEqual(record["decision"], "allow")
        self.assertEqual(record["auth_method"], "private_key_jwt")
        self.assertFalse(self.s.introspect(token).json()["active"])

        # A replayed assertion is refused there too.
        assertion = sign(self.key, "ES256", self.claims(aud=self.meta["introspection_endpoint"]))
        self.assertEqual(self.post("/oauth2/introspect", assertion, token=token).status, 200)
        replay = self.post("/oauth2/introspect", assertion, token=token)
        self.assertEqual(replay.status, 401, replay.body)
        self.assertEqual(self.last_denial("token.introspect")["reason"], "assertion_replayed")

    # --- the CLI -------------------------------------------------------------------------

    def test_cli_create_with_a_jwks_file_and_token_get_with_a_key(self):
        pem = os.path.join(self.s.tmp.name, "cli-key.pem")
        jwks_file = os.path.join(self.s.tmp.name, "cli-jwks.json")
        import subprocess
        subprocess.run(["openssl", "genpkey", "-algorithm", "ed25519", "-out", pem], check=True,
                       capture_output=True, timeout=60)
        with open(pem, "rb") as f:
            key = jc_jwk.JWK.from_pem(f.read())
        with open(jwks_file, "w") as f:
            json.dump({"keys": [json.loads(key.export_public())]}, f)  # no kid: the thumbprint

        created = self.s.cli("client", "create", "--name", "cli", "--id", "cli-worker",
                             "--scope", "orders:read", "--audience", "https://orders.example",
                             "--jwks", jwks_file)
        self.assertEqual(created.returncode, 0, created.stderr)
        self.assertNotIn("client_secret", created.stdout)
        self.assertIn(f"jwks: {key.thumbprint()} (EdDSA)", created.stdout)
        self.assertNotIn("shown only once", created.stderr)

        got = self.s.cli("token", "get", "--key", pem, "--scope", "orders:read",
                         env={"SIGIL_CLIENT_ID": "cli-worker", "SIGIL_CLIENT_SECRET": ""})
        self.assertEqual(got.returncode, 0, got.stderr)
        _, claims = jwt_parts(got.stdout.strip())
        self.assertEqual(claims["client_id"], "cli-worker")
        self.assertEqual(claims["aud"], "https://orders.example")
        # Twice in a row: each assertion has its own jti.
        again = self.s.cli("token", "get", "--key", pem, "--client-id", "cli-worker")
        self.assertEqual(again.returncode, 0, again.stderr)

        # Another key, or a private key file given as the JWKS, is refused.
        other = os.path.join(self.s.tmp.name, "other.pem")
        subprocess.run(["openssl", "genpkey", "-algorithm", "ed25519", "-out", other], check=True,
                       capture_output=True, timeout=60)
        refused = self.s.cli("token", "get", "--key", other, "--client-id", "cli-worker")
        self.assertEqual(refused.returncode, 1, refused.stderr)
        self.assertIn("invalid_client", refused.stderr)
        leaky = os.path.join(self.s.tmp.name, "leaky.json")
        with open(leaky, "w") as f:
            json.dump({"keys": [json.loads(key.export_private())]}, f)
        refused = self.s.cli("client", "create", "--name", "leaky", "--jwks", leaky)
        self.assertEqual(refused.returncode, 2, refused.stderr)
        self.assertIn("private key", refused.stderr)
        refused = self.s.cli("token", "get", "--key", pem, "--client-id", "cli-worker",
                             "--client-secret", "x")
        self.assertEqual(refused.returncode, 2, refused.stderr)

    # --- keys published at a jwks_uri -------------------------------------------------------

    def test_jwks_uri_and_key_rotation(self):
        server = KeyServer()
        try:
            old = new_key(kid="2024")
            server.jwks = {"keys": [public_jwk(old, "ES256")]}
            created = self.s.cli("client", "create", "--name", "published", "--id", "published",
                                 "--audience", "https://orders.example", "--jwks", server.url)
            self.assertEqual(created.returncode, 0, created.stderr)
            self.assertIn(f"jwks_uri: {server.url}", created.stdout)

            r = self.token(sign(old, "ES256", self.claims("published")))
            self.assertEqual(r.status, 200, r.body)
            self.assertEqual(server.fetches, 1)
            # Cached: no fetch for the next one.
            r = self.token(sign(old, "ES256", self.claims("published")))
            self.assertEqual(r.status, 200, r.body)
            self.assertEqual(server.fetches, 1)

            # The client rotates: the new kid is unknown to the cached set, so sigil fetches
            # again once and accepts it.
            new = new_key("RSA", kid="2025")
            server.jwks = {"keys": [public_jwk(new, "PS256")]}
            r = self.token(sign(new, "PS256", self.claims("published")))
            self.assertEqual(r.status, 200, r.body)
            self.assertEqual(server.fetches, 2)
            # The old key is gone from the fetched set.
            self.assert_refused(sign(old, "ES256", self.claims("published")),
                                "assertion_unknown_key")
        finally:
            server.close()

    def test_unreachable_jwks_uri_is_refused_cleanly(self):
        server = KeyServer()
        url = server.url
        server.close()
        r = self.s.admin("POST", "/v1/clients", {"id": "gone", "name": "gone", "jwks_uri": url})
        self.assertEqual(r.status, 201, r.body)
        r = self.assert_refused(sign(new_key(), "ES256", self.claims("gone")), "jwks_uri_unavailable")
        self.assertIn("jwks_uri", r.json()["error_description"])

    # --- interop ------------------------------------------------------------------------------

    def test_authlib_private_key_jwt(self):
        """authlib signs the assertion and sends the request; sigil accepts it."""
        from authlib.integrations.requests_client import OAuth2Session
        from authlib.oauth2.rfc7523 import PrivateKeyJWT, private_key_jwt_sign

        class ShortLivedPrivateKeyJWT(PrivateKeyJWT):
            # authlib's assertions live an hour unless told otherwise, beyond sigil's
            # five-minute cap; a minute is what openid-client and most SDKs send.
            def sign(self, auth, token_endpoint):
                return private_key_jwt_sign(auth.client_secret, client_id=auth.client_id,
                                            token_endpoint=token_endpoint, claims=self.claims,
                                            headers=self.headers, alg=self.alg, expires_in=60)

        key = new_key("RSA", kid="authlib-1")
        r = self.s.admin("POST", "/v1/clients", {
            "id": "authlib", "name": "authlib", "allowed_scopes": ["orders:read"],
            "allowed_audiences": ["https://orders.example"],
            "jwks": {"keys": [public_jwk(key, "RS256")]}})
        self.assertEqual(r.status, 201, r.body)
        private_pem = key.export_to_pem(private_key=True, password=None)
        session = OAuth2Session("authlib", private_pem,
                                token_endpoint_auth_method="private_key_jwt", scope="orders:read")
        session.register_client_auth_method(
            ShortLivedPrivateKeyJWT(self.token_endpoint, alg="RS256", headers={"kid": "authlib-1"}))
        for attempt in range(2):  # a new jti each time
            tok = session.fetch_token(self.token_endpoint, grant_type="client_credentials")
            self.assertEqual(tok["token_type"], "Bearer", attempt)
            _, claims = jwt_parts(tok["access_token"])
            self.assertEqual(claims["client_id"], "authlib")
            self.assertEqual(claims["scope"], "orders:read")
        session.close()

        # authlib's default one-hour assertion is refused for its lifetime.
        session = OAuth2Session("authlib", private_pem, token_endpoint_auth_method="private_key_jwt")
        session.register_client_auth_method(
            PrivateKeyJWT(self.token_endpoint, alg="RS256", headers={"kid": "authlib-1"}))
        with self.assertRaises(Exception):
            session.fetch_token(self.token_endpoint, grant_type="client_credentials")
        session.close()
        self.assertEqual(self.last_denial()["reason"], "assertion_lifetime_too_long")


if __name__ == "__main__":
    unittest.main()
