"""A fake OpenID Connect issuer on a loopback port, run by the tests themselves.

It serves an OIDC discovery document and a JWKS over plain HTTP on 127.0.0.1 (sigil
fetches http only from loopback) and mints tokens shaped like the ones GitHub Actions,
Kubernetes and a login provider issue. Its keys are its own: an RSA key (RS256)
and an EC P-256 key (ES256), made with jwcrypto when the issuer is created. It can be
stopped and started again on the same port (the issuer going down), rotate to new keys, and
counts the requests for its documents. It also answers GitHub Actions' OIDC token request
(ACTIONS_ID_TOKEN_REQUEST_URL) for `sigil token exchange --github-actions`.

    issuer = FakeIssuer()          # listening at once
    token = issuer.github_token(sigil.issuer, repository="acme/deploy")
    issuer.stop()                  # refuses connections until start()
"""

import base64
import http.server
import json
import threading
import time
import urllib.parse
import uuid

from jwcrypto import jwk, jwt
from jwcrypto.common import base64url_encode


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        issuer = self.server.issuer
        path = self.path.split("?", 1)[0]
        with issuer.lock:
            issuer.requests[path] = issuer.requests.get(path, 0) + 1
        if path == "/.well-known/openid-configuration":
            body = issuer.discovery_document()
        elif path == "/jwks":
            body = issuer.jwks()
        elif path == "/actions/idtoken":
            # GitHub Actions' token request: the job's request token as a bearer token, the
            # audience in the query; the answer is {"count": ..., "value": "<jwt>"}.
            if self.headers.get("Authorization") != "bearer " + issuer.actions_request_token:
                self.send_error(403)
                return
            query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
            audience = query.get("audience", [None])[0]
            if not audience:
                self.send_error(400)
                return
            body = {"count": 1, "value": issuer.github_token(audience)}
        else:
            self.send_error(404)
            return
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


class _Server(http.server.ThreadingHTTPServer):
    allow_reuse_address = True
    daemon_threads = True


def _new_keys():
    """A fresh RSA 2048 and EC P-256 key pair, each with a random kid."""
    rsa = jwk.JWK.generate(kty="RSA", size=2048, kid="rsa-" + uuid.uuid4().hex[:12],
                           alg="RS256", use="sig")
    ec = jwk.JWK.generate(kty="EC", crv="P-256", kid="ec-" + uuid.uuid4().hex[:12],
                          alg="ES256", use="sig")
    return {"RS256": rsa, "ES256": ec}


class FakeIssuer:
    """An OIDC issuer at http://127.0.0.1:<port>, with jwks_uri <issuer>/jwks."""

    def __init__(self, port=0):
        self.lock = threading.Lock()
        self.requests = {}
        self.keys = _new_keys()      # the keys tokens are signed with
        self.published = [*self.keys.values()]  # the keys in the JWKS
        self.port = port
        # What a GitHub Actions job finds in ACTIONS_ID_TOKEN_REQUEST_TOKEN.
        self.actions_request_token = uuid.uuid4().hex
        self._server = None
        self._thread = None
        self.start()

    # --- process ----------------------------------------------------------------------
    def start(self):
        self._server = _Server(("127.0.0.1", self.port), _Handler)
        self._server.issuer = self
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self):
        """Closes the listening socket: connections are refused until start()."""
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
        self._server = None

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    @property
    def actions_request_url(self):
        """What a GitHub Actions job finds in ACTIONS_ID_TOKEN_REQUEST_URL."""
        return self.url + "/actions/idtoken?api-version=2.0"

    def fetches(self, path="/jwks"):
        with self.lock:
            return self.requests.get(path, 0)

    # --- documents --------------------------------------------------------------------
    def discovery_document(self):
        return {
            "issuer": self.url,
            "jwks_uri": self.url + "/jwks",
            "response_types_supported": ["id_token"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256", "ES256"],
        }

    def jwks(self):
        with self.lock:
            return {"keys": [k.export_public(as_dict=True) for k in self.published]}

    def rotate(self, keep_old=False):
        """New keys for signing and in the JWKS (with the old ones too when keep_old)."""
        fresh = _new_keys()
        with self.lock:
            self.published = [*fresh.values()] + (self.published if keep_old else [])
            self.keys = fresh

    # --- tokens -----------------------------------------------------------------------
    def mint(self, claims, alg="RS256", key=None, kid=None, lifetime=300, now=None,
             header=None):
        """A signed JWT. Registered claims default to iss = this issuer, iat = nbf = now,
        exp = now + lifetime, a random jti; a claim given as None is left out."""
        now = int(time.time()) if now is None else now
        full = {"iss": self.url, "iat": now, "nbf": now, "exp": now + lifetime,
                "jti": uuid.uuid4().hex}
        full.update(claims)
        full = {k: v for k, v in full.items() if v is not None}
        key = key or self.keys[alg]
        protected = {"alg": alg, "typ": "JWT", "kid": kid or key.get("kid")}
        protected.update(header or {})
        token = jwt.JWT(header=protected, claims=full)
        token.make_signed_token(key)
        return token.serialize()

    def github_token(self, audience, repository="acme/deploy", ref="refs/heads/main",
                     environment="production", event_name="push", **extra):
        """Shaped like a GitHub Actions OIDC token (docs.github.com, "About security
        hardening with OpenID Connect")."""
        owner = repository.split("/", 1)[0]
        claims = {
            "aud": audience,
            "sub": f"repo:{repository}:environment:{environment}" if environment
                   else f"repo:{repository}:ref:{ref}",
            "repository": repository,
            "repository_owner": owner,
            "repository_id": "123456789",
            "repository_visibility": "private",
            "ref": ref,
            "ref_type": "branch",
            "sha": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4",
            "environment": environment,
            "event_name": event_name,
            "workflow": "deploy",
            "job_workflow_ref": f"{repository}/.github/workflows/deploy.yml@{ref}",
            "actor": "octocat",
            "run_id": "6789",
            "run_attempt": "1",
            "runner_environment": "github-hosted",
        }
        claims.update(extra)
        alg = claims.pop("alg", "RS256")
        return self.mint(claims, alg=alg)

    def kubernetes_token(self, audience, namespace="payments", service_account="api",
                         **extra):
        """Shaped like a projected Kubernetes service account token (no jti, audience a
        list, the pod and service account under "kubernetes.io")."""
        now = int(time.time())
        claims = {
            "aud": [audience],
            "sub": f"system:serviceaccount:{namespace}:{service_account}",
            "jti": None,
            "kubernetes.io": {
                "namespace": namespace,
                "pod": {"name": "api-7d9f8-x2x4z", "uid": str(uuid.uuid4())},
                "serviceaccount": {"name": service_account, "uid": str(uuid.uuid4())},
                "warnafter": now + 60,
            },
        }
        claims.update(extra)
        alg = claims.pop("alg", "ES256")
        return self.mint(claims, alg=alg, lifetime=600)

    def user_id_token(self, audience, sub="alice", email="alice@acme.example", **extra):
        """An OpenID Connect ID token of a person, as a login provider issues it."""
        claims = {"aud": audience, "sub": sub, "email": email, "email_verified": True,
                  "name": sub.title(), "auth_time": int(time.time()) - 5}
        claims.update(extra)
        return self.mint(claims, alg="ES256")


def unsigned(token):
    """The token's header and claims with alg none and an empty signature (RFC 7519 §6)."""
    header_b64, payload_b64, _ = token.split(".")
    header = json.loads(base64url_decode(header_b64))
    header["alg"] = "none"
    return base64url_encode(json.dumps(header)) + "." + payload_b64 + "."


def base64url_decode(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
