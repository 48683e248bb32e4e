"""Federation and delegation against the real sigil binary: a fake OIDC issuer that the
test runs on loopback (fake_issuer.py) mints GitHub-Actions-shaped, Kubernetes-shaped and
person tokens; sigil trusts it through the policy's `issuers:` and trades them for its own
tokens (token exchange, RFC 8693; JWT bearer grant, RFC 7523), with `sigil token
exchange` for the happy paths and plain form posts for the rest."""

import json
import os
import tempfile
import time
import unittest
import uuid

import jwt as pyjwt
from jwcrypto import jwk
from jwcrypto.common import base64url_encode

from fake_issuer import FakeIssuer, unsigned
from harness import FORM, Sigil, basic, form, http, jwt_parts

TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
TYPE_JWT = "urn:ietf:params:oauth:token-type:jwt"
TYPE_ID_TOKEN = "urn:ietf:params:oauth:token-type:id_token"
TYPE_ACCESS_TOKEN = "urn:ietf:params:oauth:token-type:access_token"
FEDERATED = "https://sigil.dev/federated"
# How each grant refuses a token it cannot accept. RFC 7523 §3.1: "the value of the error
# parameter MUST be the "invalid_grant" error code". RFC 8693 §2.2.2: "If the request
# itself is not valid or if either the subject_token or actor_token are invalid for any
# reason, or are unacceptable based on policy, the error code parameter value is
# invalid_request."
REFUSED = {JWT_BEARER: "invalid_grant", TOKEN_EXCHANGE: "invalid_request"}

SERVICES_AND_GRANTS = """
version: 1
services:
  - name: deployer
    attributes: {environment: production, team: platform}
  - name: payments-api
    attributes: {environment: production, team: payments}
  - name: frontend
    attributes: {environment: production, team: web}
  - name: orders
    attributes: {environment: production, team: commerce}
audiences:
  - name: deploy-api
    uri: https://deploy.example.com
    scopes: [deploy:write, deploy:read]
    attributes: {environment: production}
  - name: ledger
    uri: https://ledger.example.com
    scopes: [ledger:read]
    attributes: {environment: production}
  # The orders service's own API: the tokens it receives name it as their audience.
  - name: orders
    scopes: [user:read, user:write]
    attributes: {environment: production}
  - name: inventory
    uri: https://inventory.example.com
    scopes: [user:read, user:write]
    attributes: {environment: production}
grants:
  - name: deployer-deploys
    caller: deployer
    audience: deploy-api
    scopes: [deploy:write, deploy:read]
  - name: payments-reads-ledger
    caller: payments-api
    audience: ledger
    scopes: [ledger:read]
  - name: frontend-calls-orders
    caller: frontend
    audience: orders
    scopes: [user:read, user:write]
  - name: orders-calls-inventory
    caller: orders
    audience: inventory
    scopes: [user:read, user:write]
"""

ISSUER = """
  - name: {name}
    issuer: {issuer}
    audience: {audience}
    rules:
      - name: {name}-deploy-from-main
        claims:
          repository: acme/deploy
          ref: refs/heads/main
          environment: production
        service: deployer
      - name: {name}-payments-pod
        claims:
          kubernetes.io/namespace: payments
          kubernetes.io/serviceaccount/name: api
        service: payments-api
      - name: {name}-staff
        claims:
          email: "*@acme.example"
          email_verified: true
        user: true
"""


def policy(sigil, *issuers):
    """The services and grants above, trusting each (name, FakeIssuer url) given."""
    text = SERVICES_AND_GRANTS + "issuers:\n"
    for name, url in issuers:
        text += ISSUER.format(name=name, issuer=url, audience=sigil.issuer)
    return text


def apply(sigil, text):
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False, dir=sigil.tmp.name) as f:
        f.write(text)
    r = sigil.cli("apply", "-f", f.name, "--output", "json")
    assert r.returncode == 0, r.stderr
    return {c["client_id"]: c["client_secret"] for c in json.loads(r.stdout)["credentials"]}


class FederatedSigil:
    """A sigil server with the policy above applied, trusting the given fake issuers."""

    def __init__(self, *issuers):
        self.s = Sigil()
        self.secrets = apply(self.s, policy(self.s, *issuers))
        self.jwks = pyjwt.PyJWKClient(self.s.url("/.well-known/jwks.json"))

    def close(self):
        self.s.close()

    def post(self, auth=None, **params):
        headers = dict(FORM)
        if auth:
            headers["Authorization"] = basic(auth, self.secrets[auth])
        r = http("POST", self.s.url("/oauth2/token"), form(**params), headers)
        r.grant_type = params.get("grant_type")
        return r

    def exchange(self, subject, subject_type=TYPE_JWT, auth=None, **params):
        return self.post(auth, grant_type=TOKEN_EXCHANGE, subject_token=subject,
                         subject_token_type=subject_type, **params)

    def bearer(self, assertion, auth=None, **params):
        return self.post(auth, grant_type=JWT_BEARER, assertion=assertion, **params)

    def claims(self, token, audience):
        """The claims of one of sigil's tokens, verified by PyJWT for `audience`."""
        key = self.jwks.get_signing_key_from_jwt(token)
        return pyjwt.decode(token, key.key, algorithms=["ES256", "RS256", "EdDSA", "PS256"],
                            audience=audience, issuer=self.s.issuer)

    def cli_exchange(self, *args, env=None, input=None):
        """`sigil token exchange` as a CI job runs it: no client credentials."""
        e = {"SIGIL_CLIENT_ID": "", "SIGIL_CLIENT_SECRET": ""}
        e.update(env or {})
        return self.s.cli("token", "exchange", *args, env=e, input=input)

    def audit_of(self, token):
        jti = jwt_parts(token)[1]["jti"]
        return [e for e in self.s.audit_records() if e.get("jti") == jti][0]

    def last_denial(self):
        return [e for e in self.s.audit_records()
                if e["event"] == "token.issue" and e["decision"] != "allow"][-1]


class WorkloadFederationTest(unittest.TestCase):
    """CI jobs and pods trade their platform's token for a sigil token, without a secret."""

    @classmethod
    def setUpClass(cls):
        cls.issuer = FakeIssuer()
        cls.f = FederatedSigil(("ci", cls.issuer.url))
        cls.s = cls.f.s

    @classmethod
    def tearDownClass(cls):
        cls.f.close()
        cls.issuer.stop()

    def github(self, **claims):
        return self.issuer.github_token(self.s.issuer, **claims)

    def github_claims(self):
        """A GitHub token's claims without the ones mint() sets (times, jti)."""
        claims = jwt_parts(self.github())[1]
        for name in ("iat", "nbf", "exp", "jti"):
            del claims[name]
        return claims

    def assert_refused(self, r, reason):
        """A token the grant cannot accept: its error code, and the reason in the audit."""
        self.assertEqual(r.status, 400, r.body)
        self.assertEqual(r.json()["error"], REFUSED[r.grant_type], r.body)
        self.assertEqual(self.f.last_denial()["reason"], reason)

    def assert_deployer_token(self, token, github_token, rule="ci-deploy-from-main"):
        claims = self.f.claims(token, "https://deploy.example.com")
        external = jwt_parts(github_token)[1]
        self.assertEqual(claims["sub"], "deployer")
        self.assertEqual(claims["client_id"], "deployer")
        self.assertNotIn("act", claims)
        self.assertEqual(claims[FEDERATED], {"iss": self.issuer.url, "sub": external["sub"],
                                             "rule": rule})
        self.assertLessEqual(claims["exp"], external["exp"])
        return claims

    # --- allowed ----------------------------------------------------------------------
    def test_github_job_gets_the_deployer_token_with_the_cli(self):
        token = self.github()
        r = self.f.cli_exchange("--subject-token-env", "SIGIL_ID_TOKEN", "--audience", "deploy-api",
                                "--scope", "deploy:write", env={"SIGIL_ID_TOKEN": token})
        self.assertEqual(r.returncode, 0, r.stderr)
        issued = r.stdout.strip()
        self.assertEqual(len(r.stdout.splitlines()), 1)
        claims = self.assert_deployer_token(issued, token)
        self.assertEqual(claims["scope"], "deploy:write")

        record = self.f.audit_of(issued)
        self.assertEqual(record["decision"], "allow")
        self.assertEqual(record["subject"], "deployer")
        self.assertEqual(record["auth_method"], "federated")
        self.assertEqual(record["federated"],
                         f"{self.issuer.url} repo:acme/deploy:environment:production")
        self.assertEqual(record["audience"], ["https://deploy.example.com"])
        self.assertEqual(record["scope"], "deploy:write")
        self.assertIn("ci-deploy-from-main", record["rule"])
        self.assertIn("deployer-deploys", record["rule"])
        self.assertNotIn("actor", record)

    def test_the_cli_reads_files_and_stdin_and_prints_json(self):
        path = os.path.join(self.s.tmp.name, "github-token")
        token = self.github()
        with open(path, "w") as f:
            f.write(token + "\n")
        r = self.f.cli_exchange("--subject-token-file", path, "--audience", "deploy-api",
                                "-o", "json")
        self.assertEqual(r.returncode, 0, r.stderr)
        answer = json.loads(r.stdout)
        self.assertEqual(answer["token_type"].lower(), "bearer")
        self.assertEqual(answer["issued_token_type"], TYPE_ACCESS_TOKEN)
        self.assertEqual(sorted(answer["scope"].split()), ["deploy:read", "deploy:write"])
        self.assert_deployer_token(answer["access_token"], token)

        token = self.github()
        r = self.f.cli_exchange("--subject-token", "-", "--audience", "deploy-api",
                                input=token + "\n")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assert_deployer_token(r.stdout.strip(), token)

    def test_the_cli_fetches_the_github_actions_token_itself(self):
        env = {"ACTIONS_ID_TOKEN_REQUEST_URL": self.issuer.actions_request_url,
               "ACTIONS_ID_TOKEN_REQUEST_TOKEN": self.issuer.actions_request_token}
        r = self.f.cli_exchange("--github-actions", "--audience", "deploy-api", env=env)
        self.assertEqual(r.returncode, 0, r.stderr)
        claims = self.f.claims(r.stdout.strip(), "https://deploy.example.com")
        self.assertEqual(claims["sub"], "deployer")
        # The job's token was asked for sigil's issuer, as the policy's issuer expects.
        r = self.f.cli_exchange("--github-actions", "--github-audience", "https://elsewhere.example",
                                "--audience", "deploy-api", env=env)
        self.assertEqual(r.returncode, 1)
        self.assertIn("invalid_request", r.stderr)
        self.assertEqual(self.f.last_denial()["reason"], "wrong_audience")
        env["ACTIONS_ID_TOKEN_REQUEST_TOKEN"] = "not-the-job"
        r = self.f.cli_exchange("--github-actions", "--audience", "deploy-api", env=env)
        self.assertEqual(r.returncode, 1)
        self.assertIn("id-token: write", r.stderr)

    def test_kubernetes_pod_gets_its_service_token(self):
        path = os.path.join(self.s.tmp.name, "sigil-sa-token")
        token = self.issuer.kubernetes_token(self.s.issuer)
        with open(path, "w") as f:
            f.write(token)
        r = self.f.cli_exchange("--subject-token-file", path, "--audience", "ledger")
        self.assertEqual(r.returncode, 0, r.stderr)
        claims = self.f.claims(r.stdout.strip(), "https://ledger.example.com")
        self.assertEqual(claims["sub"], "payments-api")
        self.assertEqual(claims["scope"], "ledger:read")
        self.assertEqual(claims[FEDERATED], {"iss": self.issuer.url,
                                             "sub": "system:serviceaccount:payments:api",
                                             "rule": "ci-payments-pod"})
        # The token has no jti (as Kubernetes issued them before 1.30's credential ids):
        # nothing to replay-check, so the pod may exchange it again.
        r = self.f.exchange(token, audience="ledger")
        self.assertEqual(r.status, 200, r.body)

    def test_a_pod_of_another_service_account_is_refused(self):
        r = self.f.exchange(self.issuer.kubernetes_token(self.s.issuer, service_account="batch"),
                            audience="ledger")
        self.assert_refused(r, "no_rule_matched")
        r = self.f.exchange(self.issuer.kubernetes_token(self.s.issuer, namespace="default"),
                            audience="ledger")
        self.assert_refused(r, "no_rule_matched")

    def test_jwt_bearer_grant(self):
        token = self.github()
        r = self.f.bearer(token, scope="deploy:read", resource="https://deploy.example.com")
        self.assertEqual(r.status, 200, r.body)
        claims = self.assert_deployer_token(r.json()["access_token"], token)
        self.assertEqual(claims["scope"], "deploy:read")
        record = self.f.audit_of(r.json()["access_token"])
        self.assertEqual(record["subject"], "deployer")
        self.assertIn("ci-deploy-from-main", record["rule"])
        # A client that authenticates must be the service the token stands for.
        r = self.f.bearer(self.github(), auth="frontend", resource="https://deploy.example.com")
        self.assert_refused(r, "client_mismatch")
        r = self.f.bearer(self.github(), auth="deployer", resource="https://deploy.example.com")
        self.assertEqual(r.status, 200, r.body)
        # A person's token is never a service's.
        r = self.f.bearer(self.issuer.user_id_token(self.s.issuer), audience="orders")
        self.assert_refused(r, "rule_maps_to_user")
        # The policy still decides: the deployer has no grant for the ledger.
        r = self.f.bearer(self.github(), resource="https://ledger.example.com")
        self.assertEqual(r.status, 400, r.body)
        self.assertIn(r.json()["error"], ("invalid_target", "invalid_scope"))

    # --- refused ----------------------------------------------------------------------
    def test_wrong_repository(self):
        r = self.f.exchange(self.github(repository="evil/deploy"), audience="deploy-api")
        self.assert_refused(r, "no_rule_matched")
        self.assertNotIn("acme", r.body.decode())  # rules are not shown to the caller
        self.assertIn("evil/deploy", self.f.last_denial()["detail"])

    def test_wrong_branch(self):
        r = self.f.exchange(self.github(ref="refs/heads/feature"), audience="deploy-api")
        self.assert_refused(r, "no_rule_matched")

    def test_wrong_environment(self):
        r = self.f.exchange(self.github(environment="staging"), audience="deploy-api")
        self.assert_refused(r, "no_rule_matched")

    def test_wrong_audience(self):
        r = self.f.exchange(self.issuer.github_token("https://other.example"),
                            audience="deploy-api")
        self.assert_refused(r, "wrong_audience")

    def test_expired(self):
        r = self.f.exchange(self.issuer.mint(self.github_claims(), now=int(time.time()) - 3600),
                            audience="deploy-api")
        self.assert_refused(r, "expired")

    def test_not_yet_valid(self):
        later = int(time.time()) + 3600
        r = self.f.exchange(self.issuer.mint({**self.github_claims(), "nbf": later,
                                              "exp": later + 300}), audience="deploy-api")
        self.assert_refused(r, "not_yet_valid")

    def test_bad_signature(self):
        # Signed by a key the issuer never published, under the kid of one it did.
        impostor = jwk.JWK.generate(kty="RSA", size=2048)
        forged = self.issuer.mint(self.github_claims(), key=impostor,
                                  kid=self.issuer.keys["RS256"].get("kid"))
        r = self.f.exchange(forged, audience="deploy-api")
        self.assert_refused(r, "bad_signature")
        # A signature copied onto other claims.
        header, _, signature = self.github().split(".")
        payload = self.github(repository="acme/deploy").split(".")[1]
        r = self.f.exchange(f"{header}.{payload}.{signature}", audience="deploy-api")
        self.assert_refused(r, "bad_signature")

    def test_alg_none(self):
        r = self.f.exchange(unsigned(self.github()), audience="deploy-api")
        self.assert_refused(r, "algorithm_not_allowed")
        r = self.f.bearer(unsigned(self.github()), resource="https://deploy.example.com")
        self.assert_refused(r, "algorithm_not_allowed")

    def test_hmac_with_the_public_key_is_refused(self):
        # The classic confusion: HS256 keyed with the issuer's public key.
        public_pem = self.issuer.keys["RS256"].export_to_pem()
        hmac_key = jwk.JWK(kty="oct", k=base64url_encode(public_pem))
        token = self.issuer.mint(self.github_claims(), alg="HS256", key=hmac_key,
                                 kid=self.issuer.keys["RS256"].get("kid"))
        r = self.f.exchange(token, audience="deploy-api")
        self.assert_refused(r, "algorithm_not_allowed")

    def test_replayed_token(self):
        token = self.github()
        self.assertEqual(self.f.exchange(token, audience="deploy-api").status, 200)
        r = self.f.exchange(token, audience="deploy-api")
        self.assert_refused(r, "assertion_replayed")
        # ... whichever grant it is presented to.
        r = self.f.bearer(token, resource="https://deploy.example.com")
        self.assert_refused(r, "assertion_replayed")

    def test_a_token_of_an_untrusted_issuer(self):
        other = FakeIssuer()
        try:
            r = self.f.exchange(other.github_token(self.s.issuer), audience="deploy-api")
            self.assert_refused(r, "unknown_issuer")
        finally:
            other.stop()

    def test_errors_never_echo_the_token(self):
        token = self.github(repository="evil/deploy")
        r = self.f.cli_exchange("--subject-token-env", "T", "--audience", "deploy-api",
                                env={"T": token})
        self.assertEqual(r.returncode, 1)
        self.assertIn("invalid_request", r.stderr)
        for part in token.split("."):
            self.assertNotIn(part, r.stderr + r.stdout)
        r = self.f.cli_exchange("--subject-token-env", "T", env={"T": token + " junk"})
        self.assertEqual(r.returncode, 2)
        self.assertNotIn(token.split(".")[1], r.stderr)

    def test_cli_usage_errors(self):
        for args in ([], ["--subject-token-env", "A", "--subject-token-file", "/dev/null"],
                     ["--subject-token", "eyJhbGciOi.x.y"],
                     ["--subject-token-env", "UNSET_VARIABLE_FOR_SIGIL_TEST"],
                     ["--subject-token-env", "A", "--subject-token-type", "saml2"],
                     ["--subject-token-env", "A", "--actor-token-env", "A"],
                     ["--github-actions"]):
            with self.subTest(args=args):
                r = self.f.cli_exchange(*args, env={"A": "a.b.c",
                                                     "ACTIONS_ID_TOKEN_REQUEST_URL": "",
                                                     "ACTIONS_ID_TOKEN_REQUEST_TOKEN": ""})
                self.assertEqual(r.returncode, 2, r.stderr)


class DelegationTest(unittest.TestCase):
    """A person's token through two services: A (frontend) for alice, then B (orders) for
    alice via A, each hop downscoped to one audience, naming every actor."""

    @classmethod
    def setUpClass(cls):
        cls.issuer = FakeIssuer()
        cls.f = FederatedSigil(("idp", cls.issuer.url))
        cls.s = cls.f.s

    @classmethod
    def tearDownClass(cls):
        cls.f.close()
        cls.issuer.stop()

    def alice(self):
        return self.issuer.user_id_token(self.s.issuer)

    def first_hop(self, **params):
        """frontend exchanges alice's ID token for a token for orders."""
        r = self.f.exchange(self.alice(), TYPE_ID_TOKEN, auth="frontend", audience="orders",
                            **params)
        self.assertEqual(r.status, 200, r.body)
        return r.json()["access_token"]

    def test_delegation_chain_nests_act(self):
        hop1 = self.first_hop()
        claims = self.f.claims(hop1, "orders")
        self.assertEqual(claims["sub"], "alice")
        self.assertEqual(claims["act"], {"sub": "frontend"})
        self.assertEqual(sorted(claims["scope"].split()), ["user:read", "user:write"])
        self.assertEqual(claims[FEDERATED], {"iss": self.issuer.url, "sub": "alice",
                                             "rule": "idp-staff"})

        r = self.f.exchange(hop1, TYPE_ACCESS_TOKEN, auth="orders",
                            audience="https://inventory.example.com", scope="user:read")
        self.assertEqual(r.status, 200, r.body)
        hop2 = r.json()["access_token"]
        claims2 = self.f.claims(hop2, "https://inventory.example.com")
        self.assertEqual(claims2["sub"], "alice")
        self.assertEqual(claims2["act"], {"sub": "orders", "act": {"sub": "frontend"}})
        self.assertEqual(claims2["scope"], "user:read")
        self.assertLessEqual(claims2["exp"], claims["exp"])

        for token, actor, audience, scopes, rule in (
                (hop1, "frontend", "orders", ["user:read", "user:write"], "frontend-calls-orders"),
                (hop2, "orders,frontend", "https://inventory.example.com", ["user:read"],
                 "orders-calls-inventory")):
            record = self.f.audit_of(token)
            self.assertEqual(record["decision"], "allow")
            self.assertEqual(record["subject"], "alice")
            self.assertEqual(record["actor"], actor)
            self.assertEqual(record["audience"], [audience])
            self.assertEqual(sorted(record["scope"].split()), scopes)
            self.assertIn(rule, record["rule"])
        self.assertEqual(self.f.audit_of(hop1)["federated"], f"{self.issuer.url} alice")
        self.assertIn("idp-staff", self.f.audit_of(hop1)["rule"])

    def test_the_cli_exchanges_as_the_authenticated_client(self):
        path = os.path.join(self.s.tmp.name, "alice")
        with open(path, "w") as f:
            f.write(self.alice())
        r = self.s.cli("token", "exchange", "--subject-token-file", path,
                       "--subject-token-type", "id_token", "--audience", "orders",
                       "--scope", "user:read",
                       env={"SIGIL_CLIENT_ID": "frontend",
                            "SIGIL_CLIENT_SECRET": self.f.secrets["frontend"]})
        self.assertEqual(r.returncode, 0, r.stderr)
        claims = self.f.claims(r.stdout.strip(), "orders")
        self.assertEqual((claims["sub"], claims["act"], claims["scope"]),
                         ("alice", {"sub": "frontend"}, "user:read"))

    def test_the_actor_may_come_from_an_actor_token(self):
        frontend = self.f.post("frontend", grant_type="client_credentials",
                               audience="orders").json()
        self.assertIn("access_token", frontend, frontend)
        r = self.f.exchange(self.alice(), TYPE_ID_TOKEN, audience="orders",
                            actor_token=frontend["access_token"],
                            actor_token_type=TYPE_ACCESS_TOKEN)
        self.assertEqual(r.status, 200, r.body)
        claims = self.f.claims(r.json()["access_token"], "orders")
        self.assertEqual((claims["sub"], claims["act"]), ("alice", {"sub": "frontend"}))

    def test_scopes_only_narrow(self):
        hop1 = self.first_hop(scope="user:read")
        # orders may write to the inventory, but alice's token it holds only reads.
        r = self.f.exchange(hop1, TYPE_ACCESS_TOKEN, auth="orders",
                            audience="https://inventory.example.com", scope="user:write")
        self.assertEqual(r.status, 400, r.body)
        self.assertEqual(r.json()["error"], "invalid_scope")
        r = self.f.exchange(hop1, TYPE_ACCESS_TOKEN, auth="orders",
                            audience="https://inventory.example.com")
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(r.json()["scope"], "user:read")

    def test_a_token_for_one_audience_is_refused_for_another(self):
        hop1 = self.first_hop()
        r = self.f.exchange(hop1, TYPE_ACCESS_TOKEN, auth="orders",
                            audience="https://inventory.example.com")
        hop2 = r.json()["access_token"]
        with self.assertRaises(pyjwt.InvalidAudienceError):
            self.f.claims(hop2, "orders")
        self.f.claims(hop2, "https://inventory.example.com")
        admin = self.s.admin_token()
        ask = lambda audience: self.s.admin("POST", "/v1/authorize",
                                            {"token": hop2, "audience": audience}, token=admin)
        self.assertEqual(ask("orders").json()["reason"], "audience_mismatch")
        self.assertEqual(ask("inventory").json()["decision"], "allow", ask("inventory").body)

    def test_a_persons_token_needs_an_actor(self):
        r = self.f.exchange(self.alice(), TYPE_ID_TOKEN, audience="orders")
        self.assertEqual(r.status, 400, r.body)
        self.assertEqual(r.json()["error"], "invalid_request")

    def test_no_grant_no_token(self):
        # frontend has no grant for the inventory, even acting for alice.
        r = self.f.exchange(self.alice(), TYPE_ID_TOKEN, auth="frontend",
                            audience="https://inventory.example.com")
        self.assertEqual(r.status, 400, r.body)
        self.assertIn(r.json()["error"], ("invalid_target", "invalid_scope"))

    def test_bad_requests(self):
        alice = self.alice()
        for params, error in (
                ({"subject_token_type": "urn:x:saml"}, "invalid_request"),
                ({"actor_token_type": TYPE_ACCESS_TOKEN}, "invalid_request"),
                ({"requested_token_type": "urn:ietf:params:oauth:token-type:saml2"},
                 "invalid_request"),
                ({"audience": "nowhere"}, "invalid_target")):
            with self.subTest(params=params):
                full = {"subject_token_type": TYPE_ID_TOKEN, "audience": "orders", **params}
                r = self.f.post("frontend", grant_type=TOKEN_EXCHANGE, subject_token=alice,
                                **full)
                self.assertEqual(r.status, 400, r.body)
                self.assertEqual(r.json()["error"], error, r.body)
        r = self.f.exchange("not-a-token", TYPE_ACCESS_TOKEN, auth="orders", audience="inventory")
        self.assertEqual(r.json()["error"], "invalid_request")


class KeyRotationTest(unittest.TestCase):
    """An unknown kid makes sigil fetch the issuer's keys again, at most once per interval."""

    def setUp(self):
        self.issuer = FakeIssuer()
        self.f = FederatedSigil(("ci", self.issuer.url))

    def tearDown(self):
        self.f.close()
        self.issuer.stop()

    def test_rotated_keys_work_once_refreshed_and_made_up_kids_do_not(self):
        s = self.f.s
        r = self.f.exchange(self.issuer.github_token(s.issuer), audience="deploy-api")
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(self.issuer.fetches("/jwks"), 1)

        self.issuer.rotate()  # new keys; the old ones are gone from the JWKS
        r = self.f.exchange(self.issuer.github_token(s.issuer), audience="deploy-api")
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(self.issuer.fetches("/jwks"), 2)

        # A kid nobody publishes: refused, and no new fetch within the refresh interval.
        stranger = jwk.JWK.generate(kty="EC", crv="P-256", kid="nobody-" + uuid.uuid4().hex)
        claims = jwt_parts(self.issuer.github_token(s.issuer))[1]
        for _ in range(3):
            claims["jti"] = uuid.uuid4().hex
            r = self.f.exchange(self.issuer.mint(claims, alg="ES256", key=stranger),
                                audience="deploy-api")
            self.assertEqual(r.status, 400, r.body)
            self.assertEqual(r.json()["error"], "invalid_request")
            self.assertEqual(self.f.last_denial()["reason"], "unknown_key")
        self.assertEqual(self.issuer.fetches("/jwks"), 2)
        self.assertEqual(self.issuer.fetches("/.well-known/openid-configuration"), 1)


class IssuerDownTest(unittest.TestCase):
    """The issuer unreachable: the cached key set keeps working; without one, a clean
    refusal (400, never 500)."""

    def setUp(self):
        self.up = FakeIssuer()
        self.down = FakeIssuer()
        self.down.stop()  # sigil never reaches it
        self.f = FederatedSigil(("ci", self.up.url), ("offline", self.down.url))

    def tearDown(self):
        self.f.close()
        self.up.stop()

    def test_cached_keys_outlive_the_issuer(self):
        s = self.f.s
        r = self.f.exchange(self.up.github_token(s.issuer), audience="deploy-api")
        self.assertEqual(r.status, 200, r.body)
        self.up.stop()
        for _ in range(2):
            r = self.f.exchange(self.up.github_token(s.issuer), audience="deploy-api")
            self.assertEqual(r.status, 200, r.body)
        self.assertIn("deployer", jwt_parts(r.json()["access_token"])[1]["sub"])

    def test_an_issuer_never_reached_is_a_clean_refusal(self):
        s = self.f.s
        token = self.down.github_token(s.issuer)
        for grant in (lambda: self.f.exchange(token, audience="deploy-api"),
                      lambda: self.f.bearer(self.down.github_token(s.issuer),
                                            resource="https://deploy.example.com")):
            r = grant()
            self.assertEqual(r.status, 400, r.body)
            self.assertEqual(r.json()["error"], REFUSED[r.grant_type])
            self.assertEqual(self.f.last_denial()["reason"], "issuer_unavailable")
        # The operator is told, naming the issuer.
        self.assertIn(self.down.url, self.f.s.server_log())
        # The other issuer is not affected.
        r = self.f.exchange(self.up.github_token(s.issuer), audience="deploy-api")
        self.assertEqual(r.status, 200, r.body)
        self.assertTrue(self.f.s.proc.poll() is None)


if __name__ == "__main__":
    unittest.main()
