#!/usr/bin/env python3
"""The external OIDC issuer of bench/http/exchange.sh, on 127.0.0.1 only.

Serves /.well-known/openid-configuration and /jwks for one ES256 key made at start, and
GET /mint: a fresh GitHub-Actions-shaped token (repository acme/bench) for --audience,
valid for --lifetime seconds. The tokens carry no "jti": sigil refuses a jti it has seen
(replay protection), and wrk sends one body over and over, so a token with a jti would be
accepted once and refused ever after. Without one, every repeat is verified in full
(signature, issuer, audience, times, rule) and nothing else: what the benchmark measures.

Usage: exchange_issuer.py --port N --audience URL [--lifetime S (3600)]
Needs python3-jwcrypto.
"""

import argparse
import http.server
import json
import time

from jwcrypto import jwk, jwt


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--audience", required=True)
    parser.add_argument("--lifetime", type=int, default=3600)
    args = parser.parse_args()

    issuer = f"http://127.0.0.1:{args.port}"
    key = jwk.JWK.generate(kty="EC", crv="P-256", kid="bench-es256", alg="ES256", use="sig")

    def mint():
        now = int(time.time())
        claims = {"iss": issuer, "aud": args.audience, "sub": "repo:acme/bench:ref:refs/heads/main",
                  "repository": "acme/bench", "ref": "refs/heads/main", "iat": now, "nbf": now,
                  "exp": now + args.lifetime}
        token = jwt.JWT(header={"alg": "ES256", "typ": "JWT", "kid": key.key_id}, claims=claims)
        token.make_signed_token(key)
        return token.serialize()

    documents = {
        "/.well-known/openid-configuration": lambda: json.dumps(
            {"issuer": issuer, "jwks_uri": issuer + "/jwks", "response_types_supported": ["id_token"],
             "subject_types_supported": ["public"],
             "id_token_signing_alg_values_supported": ["ES256"]}),
        "/jwks": lambda: json.dumps({"keys": [key.export_public(as_dict=True)]}),
        "/mint": mint,
    }

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            make = documents.get(self.path)
            if make is None:
                self.send_error(404)
                return
            body = make().encode()
            self.send_response(200)
            kind = "application/jwt" if self.path == "/mint" else "application/json"
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_):
            pass

    http.server.ThreadingHTTPServer(("127.0.0.1", args.port), Handler).serve_forever()


if __name__ == "__main__":
    main()
