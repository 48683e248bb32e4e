"""DPoP (RFC 9449) at the token endpoint: proofs made with jwcrypto bind the token to the
proof's key (cnf.jkt), introspection shows the binding, and replayed or misdirected
proofs are refused with invalid_dpop_proof.
"""

import http.client
import json
import time
import unittest
import urllib.parse
import uuid

from jwcrypto import jwk as jc_jwk, jwt as jc_jwt

from harness import FORM, Sigil, basic, form, http as http_request, jwt_parts


def proof(key, alg, htu, htm="POST", jti=None, iat=None):
    header = {"typ": "dpop+jwt", "alg": alg, "jwk": json.loads(key.export_public())}
    claims = {"jti": jti or str(uuid.uuid4()), "htm": htm, "htu": htu,
              "iat": int(time.time()) if iat is None else iat}
    token = jc_jwt.JWT(header=header, claims=claims)
    token.make_signed_token(key)
    return token.serialize()


class DpopTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.s = Sigil()
        cls.cid, cls.secret = cls.s.create_client(
            name="mobile backend", id="mobile-backend", allowed_scopes=["orders:read"],
            allowed_audiences=["https://orders.example"])
        cls.token_url = cls.s.url("/oauth2/token")
        cls.key = jc_jwk.JWK.generate(kty="EC", crv="P-256")

    @classmethod
    def tearDownClass(cls):
        cls.s.close()

    def token(self, dpop=None):
        headers = {**FORM, "Authorization": basic(self.cid, self.secret)}
        if dpop is not None:
            headers["DPoP"] = dpop
        return http_request("POST", self.token_url,
                            form(grant_type="client_credentials", scope="orders:read"), headers)

    def last_token_event(self):
        return [r for r in self.s.audit_records() if r["event"] == "token.issue"][-1]

    def assert_refused(self, r, reason):
        self.assertEqual(r.status, 400, r.body)
        self.assertEqual(r.json()["error"], "invalid_dpop_proof", r.body)
        self.assertNotIn("access_token", r.json())
        record = self.last_token_event()
        self.assertEqual(record["decision"], "deny")
        self.assertEqual(record["reason"], reason)

    def test_metadata_lists_dpop_algorithms(self):
        meta = http_request("GET", self.s.url("/.well-known/oauth-authorization-server")).json()
        self.assertEqual(meta["dpop_signing_alg_values_supported"],
                         ["ES256", "ES384", "EdDSA", "RS256", "PS256"])

    def test_token_is_bound_to_the_proof_key(self):
        r = self.token(proof(self.key, "ES256", self.token_url))
        self.assertEqual(r.status, 200, r.body)
        body = r.json()
        self.assertEqual(body["token_type"], "DPoP")
        _, claims = jwt_parts(body["access_token"])[:2]
        self.assertEqual(claims["cnf"], {"jkt": self.key.thumbprint()})
        record = self.last_token_event()
        self.assertEqual(record["decision"], "allow")
        self.assertEqual(record["auth_method"], "client_secret_basic")

        introspected = self.s.introspect(body["access_token"]).json()
        self.assertTrue(introspected["active"])
        self.assertEqual(introspected["cnf"], {"jkt": self.key.thumbprint()})
        self.assertEqual(introspected["token_type"], "DPoP")

    def test_rsa_and_eddsa_proofs(self):
        for key, alg in ((jc_jwk.JWK.generate(kty="RSA", size=2048), "PS256"),
                         (jc_jwk.JWK.generate(kty="OKP", crv="Ed25519"), "EdDSA")):
            r = self.token(proof(key, alg, self.token_url))
            self.assertEqual(r.status, 200, r.body)
            _, claims = jwt_parts(r.json()["access_token"])[:2]
            self.assertEqual(claims["cnf"]["jkt"], key.thumbprint())

    def test_without_proof_token_is_bearer(self):
        r = self.token()
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(r.json()["token_type"], "Bearer")
        _, claims = jwt_parts(r.json()["access_token"])[:2]
        self.assertNotIn("cnf", claims)
        self.assertNotIn("cnf", self.s.introspect(r.json()["access_token"]).json())

    def test_replayed_proof_is_refused(self):
        p = proof(self.key, "ES256", self.token_url)
        self.assertEqual(self.token(p).status, 200)
        self.assert_refused(self.token(p), "dpop_replayed")

    def test_proof_for_another_url_is_refused(self):
        self.assert_refused(self.token(proof(self.key, "ES256", self.s.url("/oauth2/introspect"))),
                            "dpop_wrong_htu")
        self.assert_refused(self.token(proof(self.key, "ES256", "https://elsewhere.example/t")),
                            "dpop_wrong_htu")

    def test_other_refusals(self):
        self.assert_refused(self.token(proof(self.key, "ES256", self.token_url, htm="GET")),
                            "dpop_wrong_htm")
        self.assert_refused(
            self.token(proof(self.key, "ES256", self.token_url, iat=int(time.time()) - 3600)),
            "dpop_stale")
        self.assert_refused(self.token("not a proof"), "dpop_malformed")

    def test_two_dpop_headers_are_refused(self):
        url = urllib.parse.urlsplit(self.token_url)
        body = form(grant_type="client_credentials").encode()
        conn = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
        try:
            conn.putrequest("POST", "/oauth2/token")
            conn.putheader("Content-Type", FORM["Content-Type"])
            conn.putheader("Authorization", basic(self.cid, self.secret))
            conn.putheader("DPoP", proof(self.key, "ES256", self.token_url))
            conn.putheader("DPoP", proof(self.key, "ES256", self.token_url))
            conn.putheader("Content-Length", str(len(body)))
            conn.endheaders(body)
            r = conn.getresponse()
            status, payload = r.status, json.loads(r.read())
        finally:
            conn.close()
        self.assertEqual(status, 400)
        self.assertEqual(payload["error"], "invalid_dpop_proof")


if __name__ == "__main__":
    unittest.main()
