"""Independent JOSE implementations (PyJWT, jwcrypto, authlib) check what sigil issues."""

import json
import unittest

import jwt as pyjwt
from jwcrypto import jwk as jc_jwk, jws as jc_jws

from harness import Sigil, b64url_decode, http

ALGS = ["ES256", "ES384", "EdDSA", "RS256", "PS256"]


def tamper_payload(token):
    """Changes one byte of the payload's JSON and re-encodes it (signature kept)."""
    import base64
    h, p, s = token.split(".")
    raw = bytearray(b64url_decode(p))
    i = raw.index(b'"sub"') + 1
    raw[i] ^= 0x01
    p2 = base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()
    return f"{h}.{p2}.{s}"


class InteropTest(unittest.TestCase):
    def check(self, alg):
        s = Sigil(alg=alg)
        try:
            cid, secret = s.create_client(name="caller", allowed_scopes=["orders:read"],
                                          allowed_audiences=["https://orders.example"])
            token = s.token(cid, secret).json()["access_token"]
            jwks = http("GET", s.url("/.well-known/jwks.json")).json()

            # PyJWT: key from the JWKS by kid, full claim validation.
            kid = pyjwt.get_unverified_header(token)["kid"]
            key = next(k for k in jwks["keys"] if k["kid"] == kid)
            self.assertEqual(key["alg"], alg)
            pub = pyjwt.PyJWK(key)
            claims = pyjwt.decode(token, pub.key, algorithms=[alg], audience="https://orders.example",
                                  issuer=s.issuer, options={"require": ["exp", "iat", "iss", "aud", "sub"]})
            self.assertEqual(claims["client_id"], cid)
            self.assertEqual(claims["scope"], "orders:read")
            with self.assertRaises(pyjwt.InvalidSignatureError):
                pyjwt.decode(tamper_payload(token), pub.key, algorithms=[alg],
                             audience="https://orders.example", issuer=s.issuer)
            with self.assertRaises(pyjwt.InvalidAudienceError):
                pyjwt.decode(token, pub.key, algorithms=[alg], audience="https://other.example",
                             issuer=s.issuer)

            # jwcrypto: the whole JWKS as a key set, the thumbprint as the kid.
            keyset = jc_jwk.JWKSet.from_json(json.dumps(jwks))
            k = keyset.get_key(kid)
            self.assertEqual(k.thumbprint(), kid)
            obj = jc_jws.JWS()
            obj.deserialize(token)
            obj.verify(k)
            self.assertEqual(json.loads(obj.payload)["sub"], cid)
            bad = jc_jws.JWS()
            bad.deserialize(tamper_payload(token))
            with self.assertRaises(jc_jws.InvalidJWSSignature):
                bad.verify(k)
        finally:
            s.close()

    def test_es256(self):
        self.check("ES256")

    def test_es384(self):
        self.check("ES384")

    def test_eddsa(self):
        self.check("EdDSA")

    def test_rs256(self):
        self.check("RS256")

    def test_ps256(self):
        self.check("PS256")

    def test_authlib_client_credentials(self):
        """An unmodified OAuth 2.0 client library gets a token with client_secret_basic and _post."""
        from authlib.integrations.requests_client import OAuth2Session
        from authlib.jose import JsonWebKey, jwt as authlib_jwt
        s = Sigil()
        try:
            cid, secret = s.create_client(name="authlib", allowed_scopes=["orders:read"],
                                          allowed_audiences=["https://orders.example"])
            meta = http("GET", s.url("/.well-known/oauth-authorization-server")).json()
            for method in ("client_secret_basic", "client_secret_post"):
                session = OAuth2Session(cid, secret, token_endpoint_auth_method=method, scope="orders:read")
                tok = session.fetch_token(meta["token_endpoint"], grant_type="client_credentials")
                self.assertEqual(tok["token_type"], "Bearer")
                keys = JsonWebKey.import_key_set(http("GET", meta["jwks_uri"]).json())
                claims = authlib_jwt.decode(tok["access_token"], keys)
                claims.validate()
                self.assertEqual(claims["sub"], cid)
        finally:
            s.close()


if __name__ == "__main__":
    unittest.main()
