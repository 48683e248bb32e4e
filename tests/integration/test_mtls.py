"""Mutual TLS at sigil's own endpoints (RFC 8705) against the real binary: client
authentication by certificate (tls_client_auth, self_signed_tls_client_auth) on the
mutual-TLS listener, tokens bound to the certificate (cnf.x5t#S256), bound tokens refused
without their certificate or proof (also DPoP, RFC 9449, at sigil's /v1 API), and an
audience that requires mTLS.
"""

import base64
import hashlib
import json
import os
import tempfile
import time
import unittest
import uuid

from jwcrypto import jwk as jc_jwk, jwt as jc_jwt

import certtools
from certtools import ThrowawayCa, csr_pem, load_file_chain, new_key, self_signed_files
from harness import FORM, Sigil, basic, form, http, jwt_parts

TD = "example.org"
CERT_BODY_HEADERS = {"Content-Type": "application/json"}


def certificate_body():
    return json.dumps({"csr": csr_pem(new_key())})


def dpop_proof(key, htu, htm="POST", token=None):
    claims = {"jti": str(uuid.uuid4()), "htm": htm, "htu": htu, "iat": int(time.time())}
    if token is not None:
        claims["ath"] = base64.urlsafe_b64encode(
            hashlib.sha256(token.encode()).digest()).rstrip(b"=").decode()
    proof = jc_jwt.JWT(header={"typ": "dpop+jwt", "alg": "ES256",
                               "jwk": json.loads(key.export_public())}, claims=claims)
    proof.make_signed_token(key)
    return proof.serialize()


class MtlsCase(unittest.TestCase):
    def folder(self):
        return tempfile.mkdtemp(dir=self.s.tmp.name)

    def create(self, client_id, *extra):
        """A client created with `sigil client create`; returns its secret (or None)."""
        r = self.s.cli("client", "create", "--id", client_id, "--name", client_id, *extra,
                       "-o", "json")
        self.assertEqual(r.returncode, 0, r.stderr)
        return json.loads(r.stdout).get("client_secret")

    def issue_files(self, client_id, secret):
        out = self.folder()
        r = self.s.cli("cert", "issue", "--out", out,
                       env={"SIGIL_CLIENT_ID": client_id, "SIGIL_CLIENT_SECRET": secret})
        self.assertEqual(r.returncode, 0, r.stderr)
        return os.path.join(out, "svid.pem"), os.path.join(out, "svid.key")

    def mtls_token(self, cert, key, headers=None, **params):
        params.setdefault("grant_type", "client_credentials")
        return self.s.mtls("POST", "/oauth2/token", form(**params), {**FORM, **(headers or {})},
                           cert=cert, key=key)


class ClientCertificateTest(MtlsCase):
    @classmethod
    def setUpClass(cls):
        cls.s = Sigil(mtls=True, mtls_allow_self_signed=True)

    @classmethod
    def tearDownClass(cls):
        cls.s.close()

    def setUp(self):
        if hasattr(type(self), "a"):
            return
        cls = type(self)
        issuer = self.s.issuer
        # Each workload bootstraps with its secret once, then authenticates by certificate.
        cls.a_secret = self.create("svc-a", "--scope", "cert:issue", "--audience", issuer,
                                   "--auth-method", "client_secret_basic",
                                   "--auth-method", "tls_client_auth",
                                   "--tls-san-uri", f"spiffe://{TD}/svc-a")
        cls.b_secret = self.create("svc-b", "--scope", "cert:issue", "--audience", issuer,
                                   "--auth-method", "client_secret_basic",
                                   "--auth-method", "tls_client_auth",
                                   "--tls-san-uri", f"spiffe://{TD}/svc-b")
        cls.a = self.issue_files("svc-a", cls.a_secret)
        cls.b = self.issue_files("svc-b", cls.b_secret)
        cls.a_cert = load_file_chain(cls.a[0])[0]

    def a_token(self):
        r = self.mtls_token(*self.a, client_id="svc-a", scope="cert:issue",
                            resource=self.s.issuer)
        self.assertEqual(r.status, 200, r.body)
        return r.json()["access_token"]

    def test_metadata_names_the_mtls_endpoints(self):
        meta = http("GET", self.s.url("/.well-known/oauth-authorization-server")).json()
        self.assertIn("tls_client_auth", meta["token_endpoint_auth_methods_supported"])
        self.assertIn("self_signed_tls_client_auth", meta["token_endpoint_auth_methods_supported"])
        self.assertTrue(meta.get("tls_client_certificate_bound_access_tokens"))
        aliases = meta["mtls_endpoint_aliases"]
        self.assertEqual(aliases["token_endpoint"], self.s.mtls_url + "/oauth2/token")

    def test_tls_client_auth_gets_a_token_bound_to_the_certificate(self):
        token = self.a_token()
        _, claims = jwt_parts(token)
        self.assertEqual(claims["client_id"], "svc-a")
        self.assertEqual(claims["cnf"], {"x5t#S256": certtools.x5t_s256(self.a_cert)})
        introspected = self.s.introspect(token).json()
        self.assertTrue(introspected["active"])
        self.assertEqual(introspected["cnf"], {"x5t#S256": certtools.x5t_s256(self.a_cert)})
        record = [e for e in self.s.audit_records()
                  if e["event"] == "token.issue" and e.get("jti") == claims["jti"]][0]
        self.assertEqual(record["auth_method"], "tls_client_auth")

    def test_tls_client_auth_refusals(self):
        # Another client's certificate.
        r = self.mtls_token(*self.b, client_id="svc-a", scope="cert:issue",
                            resource=self.s.issuer)
        self.assertEqual(r.status, 401, r.body)
        self.assertEqual(r.json()["error"], "invalid_client")
        # No certificate at all on the main listener.
        r = http("POST", self.s.url("/oauth2/token"),
                 form(grant_type="client_credentials", client_id="svc-a"), FORM)
        self.assertEqual(r.status, 401, r.body)
        # No certificate on the mutual-TLS listener: the handshake or the request fails.
        try:
            r = self.s.mtls("POST", "/oauth2/token",
                            form(grant_type="client_credentials", client_id="svc-a"), FORM)
            self.assertEqual(r.status, 401, r.body)
        except OSError:
            pass

    def test_a_bound_token_works_only_with_its_certificate(self):
        token = self.a_token()
        auth = {**CERT_BODY_HEADERS, "Authorization": "Bearer " + token}
        r = self.s.mtls("POST", "/v1/certificates", certificate_body(), auth, *self.a)
        self.assertEqual(r.status, 201, r.body)
        self.assertEqual(r.json()["spiffe_id"], f"spiffe://{TD}/svc-a")
        r = self.s.mtls("POST", "/v1/certificates", certificate_body(), auth, *self.b)
        self.assertEqual(r.status, 401, r.body)
        self.assertEqual(r.json()["error"], "invalid_token")
        r = http("POST", self.s.url("/v1/certificates"), certificate_body(), auth)
        self.assertEqual(r.status, 401, r.body)
        self.assertEqual(r.json()["error"], "invalid_token")

    def test_every_token_from_the_mtls_listener_is_bound(self):
        # A secret over the mutual-TLS listener: the token is still bound to the certificate.
        r = self.mtls_token(*self.b, {"Authorization": basic("svc-b", self.b_secret)},
                            scope="cert:issue", resource=self.s.issuer)
        self.assertEqual(r.status, 200, r.body)
        _, claims = jwt_parts(r.json()["access_token"])
        self.assertEqual(claims["cnf"]["x5t#S256"],
                         certtools.x5t_s256(load_file_chain(self.b[0])[0]))

    def test_self_signed_tls_client_auth(self):
        work = self.folder()
        cert, key, parsed = self_signed_files(work, "edge", f"spiffe://{TD}/edge")
        self.create("edge", "--scope", "reports:read", "--audience", "https://reports.example",
                    "--auth-method", "self_signed_tls_client_auth", "--tls-cert", cert)
        r = self.mtls_token(cert, key, client_id="edge", scope="reports:read")
        self.assertEqual(r.status, 200, r.body)
        _, claims = jwt_parts(r.json()["access_token"])
        self.assertEqual(claims["cnf"], {"x5t#S256": certtools.x5t_s256(parsed)})
        # Another self-signed certificate is not the registered one.
        other_cert, other_key, _ = self_signed_files(work, "edge2", f"spiffe://{TD}/edge")
        r = self.mtls_token(other_cert, other_key, client_id="edge", scope="reports:read")
        self.assertEqual(r.status, 401, r.body)
        self.assertEqual(r.json()["error"], "invalid_client")

    def test_a_certificate_from_another_ca_fails_the_handshake(self):
        other = ThrowawayCa(self.folder())
        cert, key = other.leaf_files("foreign", f"spiffe://{TD}/svc-a")
        self.assertIsNotNone(self.s.mtls_refused(
            "POST", "/oauth2/token", form(grant_type="client_credentials", client_id="svc-a"),
            FORM, cert=cert, key=key))
        expired_cert, expired_key = other.leaf_files("old", f"spiffe://{TD}/svc-a", expired=True)
        self.assertIsNotNone(self.s.mtls_refused("GET", "/healthz", cert=expired_cert,
                                                 key=expired_key))


class DpopAtTheApiTest(MtlsCase):
    """A DPoP-bound token (cnf.jkt) at sigil's own /v1 API."""

    @classmethod
    def setUpClass(cls):
        cls.s = Sigil(ca=TD)
        cls.key = jc_jwk.JWK.generate(kty="EC", crv="P-256")

    @classmethod
    def tearDownClass(cls):
        cls.s.close()

    def dpop_token(self):
        if not hasattr(type(self), "secret"):
            type(self).secret = self.create("mobile", "--scope", "cert:issue",
                                            "--audience", self.s.issuer)
        url = self.s.url("/oauth2/token")
        r = http("POST", url, form(grant_type="client_credentials", scope="cert:issue",
                                   resource=self.s.issuer),
                 {**FORM, "Authorization": basic("mobile", self.secret),
                  "DPoP": dpop_proof(self.key, url)})
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(r.json()["token_type"], "DPoP")
        return r.json()["access_token"]

    def post(self, authorization, proof=None):
        headers = {**CERT_BODY_HEADERS, "Authorization": authorization}
        if proof is not None:
            headers["DPoP"] = proof
        return http("POST", self.s.url("/v1/certificates"), certificate_body(), headers)

    def test_with_a_valid_proof_it_works(self):
        token = self.dpop_token()
        htu = self.s.url("/v1/certificates")
        r = self.post("DPoP " + token, dpop_proof(self.key, htu, token=token))
        self.assertEqual(r.status, 201, r.body)
        self.assertEqual(r.json()["spiffe_id"], f"spiffe://{TD}/mobile")

    def test_without_a_proof_it_is_refused(self):
        token = self.dpop_token()
        for authorization in ("Bearer " + token, "DPoP " + token):
            r = self.post(authorization)
            self.assertEqual(r.status, 401, (authorization[:5], r.body))
            self.assertEqual(r.json()["error"], "invalid_token")

    def test_bad_proofs_are_refused(self):
        token = self.dpop_token()
        htu = self.s.url("/v1/certificates")
        other = jc_jwk.JWK.generate(kty="EC", crv="P-256")
        for name, proof in (("no ath", dpop_proof(self.key, htu)),
                            ("another token's ath", dpop_proof(self.key, htu, token=token + "x")),
                            ("another key", dpop_proof(other, htu, token=token)),
                            ("another URL", dpop_proof(self.key, self.s.url("/v1/ca"), token=token)),
                            ("another method", dpop_proof(self.key, htu, htm="GET", token=token))):
            r = self.post("DPoP " + token, proof)
            self.assertEqual(r.status, 401, (name, r.body))
        # A proof is good once.
        proof = dpop_proof(self.key, htu, token=token)
        self.assertEqual(self.post("DPoP " + token, proof).status, 201)
        self.assertEqual(self.post("DPoP " + token, proof).status, 401)


REQUIRE_MTLS_POLICY = """
version: 1
services:
  - name: reporter
audiences:
  - name: sigil
    uri: {issuer}
    scopes: [cert:issue]
  - name: ledger
    uri: https://ledger.example
    scopes: [ledger:read]
    require_mtls: true
grants:
  - name: reporter-certificates
    caller: reporter
    audience: sigil
    scopes: [cert:issue]
  - name: reporter-reads-ledger
    caller: reporter
    audience: ledger
    scopes: [ledger:read]
"""


class RequireMtlsTest(MtlsCase):
    @classmethod
    def setUpClass(cls):
        cls.s = Sigil(mtls=True)
        path = os.path.join(cls.s.tmp.name, "policy.yaml")
        with open(path, "w") as f:
            f.write(REQUIRE_MTLS_POLICY.format(issuer=cls.s.issuer))
        r = cls.s.cli("apply", "-f", path, "-o", "json")
        assert r.returncode == 0, r.stderr
        cls.secret = {c["client_id"]: c["client_secret"]
                      for c in json.loads(r.stdout)["credentials"]}["reporter"]

    @classmethod
    def tearDownClass(cls):
        cls.s.close()

    def test_a_token_for_the_audience_needs_a_certificate(self):
        r = self.s.token("reporter", self.secret, scope="ledger:read",
                         resource="https://ledger.example")
        self.assertIn(r.status, (400, 401, 403), r.body)
        self.assertNotIn("access_token", r.json())

        cert, key = self.issue_files("reporter", self.secret)
        r = self.mtls_token(cert, key, {"Authorization": basic("reporter", self.secret)},
                            scope="ledger:read", resource="https://ledger.example")
        self.assertEqual(r.status, 200, r.body)
        _, claims = jwt_parts(r.json()["access_token"])
        audience = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        self.assertEqual(audience, ["https://ledger.example"])
        self.assertEqual(claims["cnf"]["x5t#S256"], certtools.x5t_s256(load_file_chain(cert)[0]))


if __name__ == "__main__":
    unittest.main()
