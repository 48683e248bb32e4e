"""Certificates from sigil's CA against the real binary: `sigil cert issue|renew|inspect`
and POST /v1/certificates, checked with python3-cryptography and the openssl command (both
independent of sigil); the CA's set-up (`sigil ca init`, an external root, rotation); the
trust bundles; and two small mTLS programs that trust each other through sigil's bundle.
"""

import base64
import datetime
import hashlib
import json
import os
import queue
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import unittest

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID

import certtools
from certtools import ThrowawayCa, csr_pem, load_chain, load_file_chain, new_key, sans
from fake_issuer import FakeIssuer
from harness import SIGIL, Sigil, http

TD = "example.org"
PAYMENTS_ID = f"spiffe://{TD}/ns/prod/sa/payments"

POLICY = """
version: 1
services:
  - name: payments
    certificate:
      spiffe_path: /ns/prod/sa/payments
      dns_names: [payments.internal, "*.payments.svc"]
  - name: batch
    certificate:
      lifetime: 24h
  - name: ticker
    certificate:
      lifetime: 60s
  - name: deployer
audiences:
  # sigil's own API: a service asks it for certificates with scope cert:issue.
  - name: sigil
    uri: {issuer}
    scopes: [cert:issue]
grants:
  - name: payments-certificates
    caller: payments
    audience: sigil
    scopes: [cert:issue]
  - name: batch-certificates
    caller: batch
    audience: sigil
    scopes: [cert:issue]
  - name: ticker-certificates
    caller: ticker
    audience: sigil
    scopes: [cert:issue]
issuers:
  - name: ci
    issuer: {oidc}
    audience: {issuer}
    rules:
      - name: deploy-from-main
        claims:
          repository: acme/deploy
        service: deployer
      - name: staff
        claims:
          email: "*@acme.example"
        user: true
"""


def apply(sigil, text):
    path = os.path.join(sigil.tmp.name, "policy.yaml")
    with open(path, "w") as f:
        f.write(text)
    r = sigil.cli("apply", "-f", path, "--output", "json")
    assert r.returncode == 0, r.stderr
    return {c["client_id"]: c["client_secret"] for c in json.loads(r.stdout)["credentials"]}


def verify_chain(bundle, chain, leaf=None):
    """`openssl verify -CAfile bundle -untrusted chain leaf` (the leaf defaults to the chain's
    first certificate); returns the completed process."""
    return certtools.openssl("verify", "-purpose", "sslclient", "-CAfile", bundle,
                             "-untrusted", chain, leaf or chain)


def wait_until_active(sigil, key_id):
    """Stored times are whole seconds: an intermediate made within the second of the last
    activation is "next" and signs from the next second."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        shown = json.loads(sigil.cli("ca", "show", "-o", "json").stdout)
        if {k["id"]: k["state"] for k in shown["keys"]}[key_id] == "active":
            return
        time.sleep(0.2)
    raise AssertionError(f"{key_id} did not become active")


class CertificateCase(unittest.TestCase):
    """Shared helpers; `s` is a running Sigil with a CA."""

    def folder(self):
        return tempfile.mkdtemp(dir=self.s.tmp.name)

    def token(self, client_id, secret, scope="cert:issue"):
        r = self.s.token(client_id, secret, scope=scope, resource=self.s.issuer)
        self.assertEqual(r.status, 200, r.body)
        return r.json()["access_token"]

    def issue(self, token, csr=None, **fields):
        body = {"csr": csr if csr is not None else csr_pem(new_key()), **fields}
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = "Bearer " + token
        return http("POST", self.s.url("/v1/certificates"), json.dumps(body), headers)

    def cli_issue(self, client_id, secret, *args):
        return self.s.cli("cert", "issue", *args,
                          env={"SIGIL_CLIENT_ID": client_id, "SIGIL_CLIENT_SECRET": secret})

    def assert_svid(self, cert, spiffe_id, dns=()):
        """The X509-SVID profile: one URI SAN, the DNS names, EKU, KU, CA:FALSE."""
        uris, names = sans(cert)
        self.assertEqual(uris, [spiffe_id])
        self.assertEqual(sorted(names), sorted(dns))
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        self.assertEqual(set(eku), {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH})
        ku = cert.extensions.get_extension_for_class(x509.KeyUsage)
        self.assertTrue(ku.critical)
        self.assertTrue(ku.value.digital_signature)
        self.assertFalse(ku.value.key_cert_sign)
        bc = cert.extensions.get_extension_for_class(x509.BasicConstraints)
        self.assertFalse(bc.value.ca)


class CertificatesTest(CertificateCase):
    @classmethod
    def setUpClass(cls):
        cls.oidc = FakeIssuer()
        cls.s = Sigil(mtls=True)
        cls.secrets = apply(cls.s, POLICY.format(issuer=cls.s.issuer, oidc=cls.oidc.url))

    @classmethod
    def tearDownClass(cls):
        cls.s.close()
        cls.oidc.stop()

    def payments_issue(self, *args):
        return self.cli_issue("payments", self.secrets["payments"], *args)

    # --- sigil cert issue -----------------------------------------------------------------
    def test_cli_issues_key_chain_and_bundle(self):
        out = self.folder()
        r = self.payments_issue("--out", out, "--dns", "payments.internal",
                                "--dns", "api.payments.svc")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(PAYMENTS_ID, r.stdout)
        key_path, chain_path, bundle_path = (os.path.join(out, n)
                                             for n in ("svid.key", "svid.pem", "bundle.pem"))
        self.assertEqual(os.stat(key_path).st_mode & 0o777, 0o600)
        self.assertEqual(sorted(os.listdir(out)), ["bundle.pem", "svid.key", "svid.pem"])

        chain = load_file_chain(chain_path)
        self.assertEqual(len(chain), 2)
        leaf = chain[0]
        self.assert_svid(leaf, PAYMENTS_ID, ["payments.internal", "api.payments.svc"])
        self.assertEqual(certtools.lifetime_seconds(leaf), 3600)
        with open(key_path, "rb") as f:
            key = serialization.load_pem_private_key(f.read(), None)
        self.assertEqual(key.public_key().public_numbers(), leaf.public_key().public_numbers())
        self.assertEqual(load_file_chain(bundle_path)[0].subject, chain[1].issuer)

        verified = verify_chain(bundle_path, chain_path)
        self.assertEqual(verified.returncode, 0, verified.stdout + verified.stderr)
        self.assertIn(": OK", verified.stdout)

        shown = self.s.cli("cert", "inspect", chain_path, "-o", "json")
        self.assertEqual(shown.returncode, 0, shown.stderr)
        inspected = json.loads(shown.stdout)
        self.assertEqual(inspected["spiffe_id"], PAYMENTS_ID)
        self.assertEqual(inspected["serial"], format(leaf.serial_number, "x").rjust(
            len(inspected["serial"]), "0"))
        self.assertEqual(inspected["fingerprint_sha256"],
                         hashlib.sha256(certtools.der(leaf)).hexdigest())
        self.assertEqual(inspected["key_type"], "P-256")
        self.assertGreater(inspected["remaining_seconds"], 3500)
        table = self.s.cli("cert", "inspect", chain_path).stdout
        self.assertIn("spiffe_id: " + PAYMENTS_ID, table)

    def test_cli_files_and_key_types(self):
        out = self.folder()
        files = [os.path.join(out, n) for n in ("tls.crt", "tls.key", "ca.crt")]
        r = self.payments_issue("--cert", files[0], "--key", files[1], "--bundle", files[2],
                                "--key-type", "P-384", "--lifetime", "10m", "-o", "json")
        self.assertEqual(r.returncode, 0, r.stderr)
        answer = json.loads(r.stdout)
        self.assertEqual(answer["spiffe_id"], PAYMENTS_ID)
        self.assertEqual(answer["key_file"], files[1])
        self.assertEqual(answer["not_after"] - answer["not_before"], 600)
        self.assertEqual(os.stat(files[1]).st_mode & 0o777, 0o600)
        leaf = load_file_chain(files[0])[0]
        self.assertEqual(leaf.public_key().curve.name, "secp384r1")

        out = self.folder()
        r = self.payments_issue("--out", out, "--key-type", "Ed25519")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(verify_chain(os.path.join(out, "bundle.pem"),
                                      os.path.join(out, "svid.pem")).returncode, 0)

    def test_cli_refuses_bad_flags_before_asking(self):
        out = self.folder()
        for args in (["--lifetime", "2d"], ["--lifetime", "10s"], ["--key-type", "RSA"],
                     ["--dns", "Not A Name"], ["--cert", "x.pem", "--key", "x.pem"],
                     ["--subject-token-file", "/nonexistent/token"]):
            r = self.payments_issue("--out", out, *args)
            self.assertEqual(r.returncode, 2, (args, r.stderr))
        self.assertEqual(os.listdir(out), [])
        r = self.payments_issue("--out", os.path.join(out, "missing", "folder"))
        self.assertEqual(r.returncode, 2, r.stderr)

    def test_cli_without_credentials_is_a_usage_error(self):
        r = self.s.cli("cert", "issue", "--out", self.folder(),
                       env={"SIGIL_CLIENT_ID": "", "SIGIL_CLIENT_SECRET": "", "SIGIL_TOKEN": ""})
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("SIGIL_CLIENT_ID", r.stderr)

    def test_cli_uses_sigil_token(self):
        token = self.token("payments", self.secrets["payments"])
        out = self.folder()
        r = self.s.cli("cert", "issue", "--out", out,
                       env={"SIGIL_TOKEN": token, "SIGIL_CLIENT_ID": "", "SIGIL_CLIENT_SECRET": ""})
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(sans(load_file_chain(os.path.join(out, "svid.pem"))[0])[0], [PAYMENTS_ID])

    # --- the API ----------------------------------------------------------------------------
    def test_api_answer_describes_the_certificate(self):
        key = new_key()
        r = self.issue(self.token("payments", self.secrets["payments"]), csr_pem(key),
                       dns_names=["payments.internal"])
        self.assertEqual(r.status, 201, r.body)
        answer = r.json()
        leaf = load_chain(answer["certificate"])[0]
        chain = load_chain(answer["chain"])
        self.assertEqual(certtools.der(chain[0]), certtools.der(leaf))
        self.assertEqual(len(chain), 2)
        self.assertTrue(load_chain(answer["bundle"]))
        self.assertEqual(answer["spiffe_id"], PAYMENTS_ID)
        self.assertEqual(int(answer["serial"], 16), leaf.serial_number)
        self.assertEqual(answer["fingerprint_sha256"], hashlib.sha256(certtools.der(leaf)).hexdigest())
        self.assertEqual(answer["dns_names"], ["payments.internal"])
        self.assertEqual(answer["not_before"], int(leaf.not_valid_before.replace(
            tzinfo=datetime.timezone.utc).timestamp()))
        self.assertEqual(answer["not_after"], int(leaf.not_valid_after.replace(
            tzinfo=datetime.timezone.utc).timestamp()))
        self.assertEqual(leaf.public_key().public_numbers(), key.public_key().public_numbers())
        self.assert_svid(leaf, PAYMENTS_ID, ["payments.internal"])

    def test_lifetime_default_asked_and_capped(self):
        token = self.token("payments", self.secrets["payments"])
        leaf = lambda r: load_chain(r.json()["certificate"])[0]  # noqa: E731
        r = self.issue(token)
        self.assertEqual(r.status, 201, r.body)
        self.assertEqual(certtools.lifetime_seconds(leaf(r)), 3600)
        # Asking for more than the policy's hour gives the hour.
        r = self.issue(token, lifetime=7200)
        self.assertEqual(certtools.lifetime_seconds(leaf(r)), 3600)
        r = self.issue(token, lifetime=600)
        self.assertEqual(certtools.lifetime_seconds(leaf(r)), 600)
        # A policy lifetime of a day is the most there is, whatever is asked.
        batch = self.token("batch", self.secrets["batch"])
        r = self.issue(batch, lifetime=10 * 86400)
        self.assertEqual(r.status, 201, r.body)
        self.assertEqual(certtools.lifetime_seconds(leaf(r)), 86400)
        self.assertEqual(r.json()["spiffe_id"], f"spiffe://{TD}/batch")

    def test_serials_are_distinct_and_random(self):
        token = self.token("payments", self.secrets["payments"])
        csr = csr_pem(new_key())
        serials = []
        for _ in range(40):
            r = self.issue(token, csr)
            self.assertEqual(r.status, 201, r.body)
            serials.append(load_chain(r.json()["certificate"])[0].serial_number)
        self.assertEqual(len(set(serials)), len(serials))
        # 128 random bits: positive, at most 20 octets (RFC 5280 §4.1.2.2), and almost all
        # longer than 120 bits (each is shorter with probability 1/256).
        self.assertTrue(all(0 < s < 2 ** 159 for s in serials))
        self.assertGreaterEqual(sum(s.bit_length() > 120 for s in serials), 36)
        # No shared prefix or suffix, as a counter or a timestamp would leave.
        self.assertEqual(len({s >> 96 for s in serials}), len(serials))
        self.assertEqual(len({s & 0xFFFFFFFF for s in serials}), len(serials))

    def test_bad_csrs_are_refused(self):
        token = self.token("payments", self.secrets["payments"])
        cases = {
            "weak RSA-1024 key": csr_pem(new_key("RSA-1024")),
            "bad signature": certtools.bad_signature_csr_pem(),
            "garbage": "-----BEGIN CERTIFICATE REQUEST-----\nZ2FyYmFnZQ==\n"
                       "-----END CERTIFICATE REQUEST-----\n",
            "not PEM": "hello",
            "empty": "",
        }
        for name, csr in cases.items():
            r = self.issue(token, csr)
            self.assertEqual(r.status, 400, (name, r.body))
            self.assertEqual(r.json()["error"], "invalid_request", name)
            self.assertNotIn("certificate", r.json())
        # A strong RSA key is fine.
        self.assertEqual(self.issue(token, csr_pem(new_key("RSA-2048"))).status, 201)

    def test_malformed_bodies_are_refused(self):
        token = self.token("payments", self.secrets["payments"])
        headers = {"Content-Type": "application/json", "Authorization": "Bearer " + token}
        for body in ("not json", "[]", json.dumps({"dns_names": ["payments.internal"]}),
                     json.dumps({"csr": csr_pem(new_key()), "lifetime": "1h"}),
                     json.dumps({"csr": csr_pem(new_key()), "lifetime": -5}),
                     json.dumps({"csr": csr_pem(new_key()), "surprise": True})):
            r = http("POST", self.s.url("/v1/certificates"), body, headers)
            self.assertEqual(r.status, 400, (body[:40], r.body))

    def test_no_or_bad_authorisation_is_refused(self):
        r = self.issue(None)
        self.assertEqual(r.status, 401, r.body)
        self.assertEqual(r.json()["error"], "invalid_token")
        r = self.issue("not-a-token")
        self.assertEqual(r.status, 401, r.body)
        # An admin token lacks cert:issue.
        r = self.issue(self.s.admin_token())
        self.assertEqual(r.status, 403, r.body)
        self.assertEqual(r.json()["error"], "insufficient_scope")
        records = [e for e in self.s.audit_records() if e["event"] == "certificate.issue"]
        self.assertEqual(records[-1]["decision"], "deny")

    def test_dns_names_outside_the_policy_are_refused(self):
        token = self.token("payments", self.secrets["payments"])
        for name in ("evil.example", "payments.svc", "a.b.payments.svc"):
            r = self.issue(token, dns_names=[name])
            self.assertEqual(r.status, 403, (name, r.body))
            self.assertEqual(r.json()["error"], "access_denied")
        # batch declares no DNS names at all.
        r = self.issue(self.token("batch", self.secrets["batch"]), dns_names=["batch.internal"])
        self.assertEqual(r.status, 403, r.body)
        r = self.payments_issue("--out", self.folder(), "--dns", "evil.example")
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("access_denied", r.stderr)

    def test_the_csrs_own_subject_and_sans_are_ignored(self):
        csr = csr_pem(new_key(), cn="admin", uris=[f"spiffe://{TD}/admin", "spiffe://evil.org/x"],
                      dns=["payments.internal", "evil.example"])
        r = self.issue(self.token("payments", self.secrets["payments"]), csr)
        self.assertEqual(r.status, 201, r.body)
        leaf = load_chain(r.json()["certificate"])[0]
        self.assertEqual(sans(leaf), ([PAYMENTS_ID], []))
        self.assertNotIn("admin", leaf.subject.rfc4514_string())

    def test_issued_certificates_are_audited(self):
        r = self.issue(self.token("payments", self.secrets["payments"]))
        self.assertEqual(r.status, 201, r.body)
        record = [e for e in self.s.audit_records() if e["event"] == "certificate.issue"][-1]
        self.assertEqual(record["decision"], "allow")
        self.assertEqual(record["spiffe_id"], PAYMENTS_ID)
        self.assertEqual(record["serial"], r.json()["serial"])
        self.assertEqual(record["certificate"], r.json()["fingerprint_sha256"])

    # --- a platform's OIDC token ----------------------------------------------------------
    def test_external_oidc_token_gets_the_services_certificate(self):
        path = os.path.join(self.s.tmp.name, "oidc-token")
        with open(path, "w") as f:
            f.write(self.oidc.github_token(self.s.issuer) + "\n")
        out = self.folder()
        env = {"SIGIL_CLIENT_ID": "", "SIGIL_CLIENT_SECRET": "", "SIGIL_TOKEN": ""}
        r = self.s.cli("cert", "issue", "--out", out, "--subject-token-file", path, env=env)
        self.assertEqual(r.returncode, 0, r.stderr)
        leaf = load_file_chain(os.path.join(out, "svid.pem"))[0]
        self.assertEqual(sans(leaf)[0], [f"spiffe://{TD}/deployer"])

        env["CI_TOKEN"] = self.oidc.github_token(self.s.issuer)
        r = self.s.cli("cert", "issue", "--out", self.folder(), "--subject-token-env", "CI_TOKEN",
                       env=env)
        self.assertEqual(r.returncode, 0, r.stderr)
        # The token never reaches the command line or the output.
        self.assertNotIn(env["CI_TOKEN"], r.stdout + r.stderr)

    def test_external_tokens_that_name_no_service_are_refused(self):
        person = self.oidc.user_id_token(self.s.issuer)
        r = self.issue(person)
        self.assertEqual(r.status, 403, r.body)
        stranger = FakeIssuer()
        try:
            r = self.issue(stranger.github_token(self.s.issuer))
            self.assertEqual(r.status, 401, r.body)
        finally:
            stranger.stop()
        r = self.issue(self.oidc.github_token(self.s.issuer, repository="acme/other"))
        self.assertIn(r.status, (401, 403), r.body)

    # --- renewal over mutual TLS ----------------------------------------------------------
    def test_renew_over_mtls_keeps_the_identity_with_a_new_key(self):
        out = self.folder()
        r = self.payments_issue("--out", out, "--dns", "payments.internal")
        self.assertEqual(r.returncode, 0, r.stderr)
        chain_path = os.path.join(out, "svid.pem")
        old = load_file_chain(chain_path)[0]
        with open(os.path.join(out, "svid.key")) as f:
            old_key = f.read()

        r = self.s.cli("cert", "renew", "--out", out, env={"SIGIL_CLIENT_ID": "", "SIGIL_CLIENT_SECRET": ""})
        self.assertEqual(r.returncode, 0, r.stderr)
        new = load_file_chain(chain_path)[0]
        self.assertEqual(sans(new), ([PAYMENTS_ID], ["payments.internal"]))
        self.assertNotEqual(new.serial_number, old.serial_number)
        with open(os.path.join(out, "svid.key")) as f:
            self.assertNotEqual(f.read(), old_key)
        self.assertEqual(os.stat(os.path.join(out, "svid.key")).st_mode & 0o777, 0o600)
        self.assertNotEqual(new.public_key().public_numbers(), old.public_key().public_numbers())
        self.assertEqual(verify_chain(os.path.join(out, "bundle.pem"), chain_path).returncode, 0)

    def test_renewal_api_on_the_mtls_listener(self):
        out = self.folder()
        self.assertEqual(self.payments_issue("--out", out).returncode, 0)
        cert, key = os.path.join(out, "svid.pem"), os.path.join(out, "svid.key")
        body = json.dumps({"csr": csr_pem(new_key())})
        headers = {"Content-Type": "application/json"}
        r = self.s.mtls("POST", "/v1/certificates", body, headers, cert=cert, key=key)
        self.assertEqual(r.status, 201, r.body)
        self.assertEqual(r.json()["spiffe_id"], PAYMENTS_ID)
        # The listener admits no connection without a client certificate.
        self.assertIsNotNone(self.s.mtls_refused("POST", "/v1/certificates", body, headers))
        # Without a token, a certificate sigil did not issue renews nothing, even a valid
        # self-signed one (not admitted here: mtls_allow_self_signed is off).
        work = self.folder()
        cert, key, _ = certtools.self_signed_files(work, "self", PAYMENTS_ID)
        self.assertIsNotNone(self.s.mtls_refused("POST", "/v1/certificates", body, headers,
                                                 cert=cert, key=key))
        # A certificate from another CA does not get through the handshake.
        other = ThrowawayCa(self.folder())
        cert, key = other.leaf_files("intruder", PAYMENTS_ID)
        self.assertIsNotNone(self.s.mtls_refused("POST", "/v1/certificates", body, headers,
                                                 cert=cert, key=key))

    def test_renew_watch_renews_at_two_thirds_and_stops_on_sigterm(self):
        out = self.folder()
        r = self.cli_issue("ticker", self.secrets["ticker"], "--out", out)
        self.assertEqual(r.returncode, 0, r.stderr)
        chain_path = os.path.join(out, "svid.pem")
        first = load_file_chain(chain_path)[0]
        self.assertEqual(certtools.lifetime_seconds(first), 60)
        env = dict(self.s.env)
        env.update({"SIGIL_MTLS_ADDR": self.s.mtls_url})
        watcher = subprocess.Popen([SIGIL, "cert", "renew", "--watch", "--out", out], env=env,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            # Due 40 s after notBefore; allow for slow machines.
            deadline = time.monotonic() + 75
            renewed = None
            while time.monotonic() < deadline and watcher.poll() is None:
                current = load_file_chain(chain_path)[0]
                if current.serial_number != first.serial_number:
                    renewed = current
                    break
                time.sleep(1)
            self.assertIsNotNone(renewed, "no renewal within 75 s")
            elapsed = (datetime.datetime.utcnow() - first.not_valid_before).total_seconds()
            self.assertGreaterEqual(elapsed, 39)
            self.assertEqual(sans(renewed)[0], [f"spiffe://{TD}/ticker"])
            self.assertEqual(verify_chain(os.path.join(out, "bundle.pem"), chain_path).returncode, 0)
        finally:
            watcher.send_signal(signal.SIGTERM)
            try:
                code = watcher.wait(timeout=20)
            except subprocess.TimeoutExpired:
                watcher.kill()
                code = watcher.wait()
        stdout, stderr = watcher.communicate()
        self.assertEqual(code, 0, stderr)
        self.assertIn("renewed spiffe://example.org/ticker", stdout)

    def test_renew_refuses_a_missing_certificate(self):
        r = self.s.cli("cert", "renew", "--out", self.folder())
        self.assertEqual(r.returncode, 2, r.stderr)
        r = self.s.cli("cert", "renew", "--out", self.folder(), "--mtls-addr", "http://x:1")
        self.assertEqual(r.returncode, 2, r.stderr)

    # --- bundles and the CA -----------------------------------------------------------------
    def test_bundles(self):
        pem = http("GET", self.s.url("/v1/bundle"))
        self.assertEqual(pem.status, 200)
        self.assertEqual(pem.header("Content-Type"), "application/pem-certificate-chain")
        roots = load_chain(pem.body)
        self.assertTrue(roots)
        for root in roots:
            self.assertTrue(root.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)

        r = http("GET", self.s.url("/v1/bundle?format=spiffe"))
        self.assertEqual(r.status, 200, r.body)
        bundle = r.json()
        self.assertIsInstance(bundle["spiffe_sequence"], int)
        self.assertIsInstance(bundle["spiffe_refresh_hint"], int)
        self.assertEqual(len(bundle["keys"]), len(roots))
        for jwk, root in zip(bundle["keys"], roots):
            self.assertEqual(jwk["use"], "x509-svid")
            self.assertEqual(jwk["kty"], "EC")
            self.assertEqual(len(jwk["x5c"]), 1)
            self.assertEqual(base64.b64decode(jwk["x5c"][0]), certtools.der(root))
            self.assertNotIn("d", jwk)

        cli = self.s.cli("ca", "bundle")
        self.assertEqual(cli.returncode, 0, cli.stderr)
        self.assertEqual([certtools.der(c) for c in load_chain(cli.stdout)],
                         [certtools.der(c) for c in roots])
        cli = self.s.cli("ca", "bundle", "--format", "spiffe")
        self.assertEqual(json.loads(cli.stdout)["keys"], bundle["keys"])
        self.assertEqual(self.s.cli("ca", "bundle", "--format", "jwks").returncode, 2)

    def test_ca_show(self):
        r = self.s.cli("ca", "show", "-o", "json")
        self.assertEqual(r.returncode, 0, r.stderr)
        shown = json.loads(r.stdout)
        self.assertEqual(shown["trust_domain"], TD)
        kinds = {(k["kind"], k["state"]) for k in shown["keys"]}
        self.assertIn(("intermediate", "active"), kinds)
        self.assertIn("root", {k["kind"] for k in shown["keys"]})
        for k in shown["keys"]:
            self.assertNotIn("sealed_private_key", k)
        table = self.s.cli("ca", "show").stdout
        self.assertIn("trust_domain: " + TD, table)
        # Only an admin sees the CA.
        r = self.s.cli("ca", "show", env={"SIGIL_CLIENT_ID": "payments",
                                          "SIGIL_CLIENT_SECRET": self.secrets["payments"]})
        self.assertEqual(r.returncode, 1)


class CaRotationTest(CertificateCase):
    """A client the policy does not know (no policy at all): its SPIFFE ID is /<client id>."""

    @classmethod
    def setUpClass(cls):
        cls.s = Sigil(ca=TD)
        cls.cid, cls.secret = cls.s.create_client(
            id="worker", allowed_scopes=["cert:issue"], allowed_audiences=[cls.s.issuer])

    @classmethod
    def tearDownClass(cls):
        cls.s.close()

    def issue_files(self):
        out = self.folder()
        r = self.cli_issue(self.cid, self.secret, "--out", out)
        self.assertEqual(r.returncode, 0, r.stderr)
        return out, load_file_chain(os.path.join(out, "svid.pem"))

    def test_rotation_keeps_old_certificates_valid(self):
        old_out, old_chain = self.issue_files()
        self.assertEqual(sans(old_chain[0])[0], [f"spiffe://{TD}/worker"])
        # No DNS names without a policy that allows them.
        r = self.issue(self.token(self.cid, self.secret), dns_names=["worker.internal"])
        self.assertEqual(r.status, 403, r.body)

        before = json.loads(self.s.cli("ca", "show", "-o", "json").stdout)
        r = self.s.cli("ca", "rotate", "-o", "json")
        self.assertEqual(r.returncode, 0, r.stderr)
        rotated = json.loads(r.stdout)
        self.assertEqual(rotated["kind"], "intermediate")
        self.assertIn(rotated["state"], ("active", "next"))
        wait_until_active(self.s, rotated["id"])

        new_out, new_chain = self.issue_files()
        self.assertNotEqual(certtools.der(new_chain[1]), certtools.der(old_chain[1]))
        self.assertEqual(new_chain[0].issuer, new_chain[1].subject)
        # The bundle (the roots) is unchanged, and both chains verify with it.
        bundle = self.s.refresh_bundle()
        for out in (old_out, new_out):
            with open(os.path.join(out, "bundle.pem"), "rb") as f, open(bundle, "rb") as g:
                self.assertEqual(f.read(), g.read())
            verified = verify_chain(bundle, os.path.join(out, "svid.pem"))
            self.assertEqual(verified.returncode, 0, verified.stdout + verified.stderr)

        after = json.loads(self.s.cli("ca", "show", "-o", "json").stdout)
        states = {k["id"]: k["state"] for k in after["keys"]}
        old_ids = [k["id"] for k in before["keys"] if k["kind"] == "intermediate"]
        self.assertEqual([states[i] for i in old_ids], ["rotated"])
        self.assertEqual(states[rotated["id"]], "active")

    def test_rotation_needs_an_admin(self):
        env = {"SIGIL_CLIENT_ID": self.cid, "SIGIL_CLIENT_SECRET": self.secret}
        self.assertEqual(self.s.cli("ca", "rotate", env=env).returncode, 1)


class CaSetupTest(unittest.TestCase):
    """`sigil ca init` and `sigil ca import`, offline on the data folder."""

    def setUp(self):
        self.s = Sigil()

    def tearDown(self):
        self.s.close()

    def ca(self, *args):
        return subprocess.run([SIGIL, "ca", *args], env=self.s.env, capture_output=True,
                              text=True, timeout=60)

    def test_issuing_before_the_ca_exists_is_unavailable(self):
        cid, secret = self.s.create_client(id="early", allowed_scopes=["cert:issue"],
                                           allowed_audiences=[self.s.issuer])
        token = self.s.token(cid, secret, scope="cert:issue", resource=self.s.issuer).json()
        r = http("POST", self.s.url("/v1/certificates"), json.dumps({"csr": csr_pem(new_key())}),
                 {"Content-Type": "application/json",
                  "Authorization": "Bearer " + token["access_token"]})
        self.assertEqual(r.status, 503, r.body)
        self.assertEqual(r.json()["error"], "temporarily_unavailable")
        self.assertEqual(http("GET", self.s.url("/v1/bundle")).status, 503)

    def test_init_refusals(self):
        # The server holds the data folder: the CA is set up with it stopped.
        r = self.ca("init", "--data", self.s.data, "--trust-domain", TD)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("sigil serve", r.stderr)
        self.s.stop()
        empty = tempfile.mkdtemp(dir=self.s.tmp.name)
        r = self.ca("init", "--data", empty, "--trust-domain", TD)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertEqual(os.listdir(empty), [])
        for bad in ("Example.ORG", "spiffe://example.org/path", "", "exa mple.org"):
            r = self.ca("init", "--data", self.s.data, "--trust-domain", bad)
            self.assertEqual(r.returncode, 2, (bad, r.stderr))
        r = self.ca("init", "--data", self.s.data, "--trust-domain", TD, "--key-type", "Ed25519")
        self.assertEqual(r.returncode, 2, r.stderr)

        r = self.ca("init", "--data", self.s.data, "--trust-domain", TD, "--key-type", "P-384",
                    "-o", "json")
        self.assertEqual(r.returncode, 0, r.stderr)
        out = json.loads(r.stdout)
        self.assertEqual(out["trust_domain"], TD)
        self.assertEqual(len(out["root_fingerprint_sha256"]), 64)
        # Once only.
        r = self.ca("init", "--data", self.s.data, "--trust-domain", "other.org")
        self.assertEqual(r.returncode, 1, r.stderr)
        records = [e for e in self.s.audit_records() if e["event"] == "ca.init"]
        self.assertEqual(len(records), 1)
        self.assertEqual(records[0]["certificate"], out["root_fingerprint_sha256"])
        self.s.start()
        root = load_chain(http("GET", self.s.url("/v1/bundle")).body)[0]
        self.assertEqual(hashlib.sha256(certtools.der(root)).hexdigest(),
                         out["root_fingerprint_sha256"])
        self.assertEqual(root.public_key().curve.name, "secp384r1")

    def test_external_root(self):
        self.s.stop()
        work = tempfile.mkdtemp(dir=self.s.tmp.name)
        csr_path = os.path.join(work, "intermediate.csr")
        r = self.ca("init", "--data", self.s.data, "--trust-domain", TD, "--external-root",
                    "--csr-out", csr_path)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("sigil ca import", r.stdout)
        with open(csr_path) as f:
            self.assertIn("BEGIN CERTIFICATE REQUEST", f.read())

        # The organisation's own root, kept elsewhere, signs the intermediate.
        root_key = os.path.join(work, "root.key")
        root_pem = os.path.join(work, "root.pem")
        made = certtools.openssl("req", "-x509", "-newkey", "ec", "-pkeyopt",
                                 "ec_paramgen_curve:P-256", "-nodes", "-days", "30",
                                 "-subj", "/CN=acme offline root", "-keyout", root_key,
                                 "-out", root_pem, "-addext",
                                 "basicConstraints=critical,CA:TRUE", "-addext",
                                 "keyUsage=critical,keyCertSign,cRLSign")
        self.assertEqual(made.returncode, 0, made.stderr)
        ext = certtools.write(os.path.join(work, "ext.cnf"),
                              "basicConstraints=critical,CA:TRUE,pathlen:0\n"
                              "keyUsage=critical,keyCertSign,cRLSign\n"
                              f"subjectAltName=URI:spiffe://{TD}\n")
        int_pem = os.path.join(work, "intermediate.pem")
        signed = certtools.openssl("x509", "-req", "-in", csr_path, "-CA", root_pem, "-CAkey",
                                   root_key, "-CAcreateserial", "-days", "20", "-sha256",
                                   "-extfile", ext, "-out", int_pem)
        self.assertEqual(signed.returncode, 0, signed.stderr)

        # A leaf is no intermediate; a certificate for another key is refused.
        other = ThrowawayCa(work)
        wrong = os.path.join(work, "wrong.pem")
        certtools.write(wrong, other.cert.public_bytes(serialization.Encoding.PEM))
        r = self.ca("import", "--data", self.s.data, "--cert", wrong, "--root", root_pem)
        self.assertEqual(r.returncode, 1, r.stderr)
        r = self.ca("import", "--data", self.s.data, "--cert", int_pem, "--root", other.cert_path)
        self.assertEqual(r.returncode, 1, r.stderr)

        r = self.ca("import", "--data", self.s.data, "--cert", int_pem, "--root", root_pem,
                    "-o", "json")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(json.loads(r.stdout)["state"], "active")

        self.s.start()
        bundle = load_chain(http("GET", self.s.url("/v1/bundle")).body)
        with open(root_pem, "rb") as f:
            self.assertEqual([certtools.der(c) for c in bundle], [certtools.der(load_chain(f.read())[0])])
        cid, secret = self.s.create_client(id="worker", allowed_scopes=["cert:issue"],
                                           allowed_audiences=[self.s.issuer])
        out = tempfile.mkdtemp(dir=self.s.tmp.name)
        r = self.s.cli("cert", "issue", "--out", out,
                       env={"SIGIL_CLIENT_ID": cid, "SIGIL_CLIENT_SECRET": secret})
        self.assertEqual(r.returncode, 0, r.stderr)
        verified = verify_chain(root_pem, os.path.join(out, "svid.pem"))
        self.assertEqual(verified.returncode, 0, verified.stdout + verified.stderr)
        # With the root kept elsewhere, sigil cannot make a new intermediate itself: the
        # root signs the next one too.
        self.assertEqual(self.s.cli("ca", "rotate").returncode, 1)
        self.s.stop()
        next_csr = os.path.join(work, "next.csr")
        r = self.ca("request-intermediate", "--data", self.s.data, "--csr-out", next_csr)
        self.assertEqual(r.returncode, 0, r.stderr)
        next_pem = os.path.join(work, "next.pem")
        signed = certtools.openssl("x509", "-req", "-in", next_csr, "-CA", root_pem, "-CAkey",
                                   root_key, "-CAcreateserial", "-days", "20", "-sha256",
                                   "-extfile", ext, "-out", next_pem)
        self.assertEqual(signed.returncode, 0, signed.stderr)
        r = self.ca("import", "--data", self.s.data, "--cert", next_pem, "--root", root_pem,
                    "-o", "json")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.s.start()
        wait_until_active(self.s, json.loads(r.stdout)["id"])
        out2 = tempfile.mkdtemp(dir=self.s.tmp.name)
        r = self.s.cli("cert", "issue", "--out", out2,
                       env={"SIGIL_CLIENT_ID": cid, "SIGIL_CLIENT_SECRET": secret})
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(next_pem, "rb") as f:
            self.assertEqual(certtools.der(load_file_chain(os.path.join(out2, "svid.pem"))[1]),
                             certtools.der(load_chain(f.read())[0]))
        for folder in (out, out2):
            verified = verify_chain(root_pem, os.path.join(folder, "svid.pem"))
            self.assertEqual(verified.returncode, 0, verified.stdout + verified.stderr)


# --- two workloads that trust each other through sigil's bundle ------------------------------
class SpiffeServer:
    """A TLS server that requires a client certificate chaining to `cafile` and then admits
    only peers whose one URI SAN is in `allowed`; greets admitted peers by their ID."""

    def __init__(self, cert, key, cafile, allowed):
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(cert, key)
        self.context.load_verify_locations(cafile)
        self.context.verify_mode = ssl.CERT_REQUIRED
        self.allowed = set(allowed)
        self.outcomes = queue.Queue()
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            try:
                with self.context.wrap_socket(conn, server_side=True) as tls:
                    peer = tls.getpeercert()
                    uris = [v for k, v in peer.get("subjectAltName", ()) if k == "URI"]
                    if len(uris) == 1 and uris[0] in self.allowed:
                        tls.sendall(b"hello " + uris[0].encode())
                        self.outcomes.put(("admitted", uris[0]))
                    else:
                        self.outcomes.put(("not allowed", uris))
            except (ssl.SSLError, OSError) as e:
                self.outcomes.put(("handshake", str(e)))
                conn.close()

    def close(self):
        self.sock.close()


def call(port, cert, key, cafile, server_id):
    """Connects with cert/key, checks the server's SPIFFE ID, returns what the server said
    (b"" or an exception when it refused)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False  # SPIFFE authenticates by the URI SAN, checked below
    context.load_verify_locations(cafile)
    context.load_cert_chain(cert, key)
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
            with context.wrap_socket(raw) as tls:
                uris = [v for k, v in tls.getpeercert().get("subjectAltName", ()) if k == "URI"]
                assert uris == [server_id], uris
                return tls.recv(1024)
    except (ssl.SSLError, OSError) as e:
        return e


class EndToEndMtlsTest(CertificateCase):
    @classmethod
    def setUpClass(cls):
        cls.s = Sigil(ca=TD)
        cls.files = {}
        for name in ("api", "caller", "intruder"):
            cid, secret = cls.s.create_client(id=name, allowed_scopes=["cert:issue"],
                                              allowed_audiences=[cls.s.issuer])
            out = tempfile.mkdtemp(dir=cls.s.tmp.name)
            r = cls.s.cli("cert", "issue", "--out", out,
                          env={"SIGIL_CLIENT_ID": cid, "SIGIL_CLIENT_SECRET": secret})
            assert r.returncode == 0, r.stderr
            cls.files[name] = (os.path.join(out, "svid.pem"), os.path.join(out, "svid.key"),
                               os.path.join(out, "bundle.pem"))
        # The server also trusts a second CA, so that its expired certificate is refused for
        # being expired, not for being foreign.
        work = tempfile.mkdtemp(dir=cls.s.tmp.name)
        cls.partner = ThrowawayCa(work, "partner")
        with open(cls.files["api"][2]) as f, open(cls.partner.cert_path) as g:
            cls.trusted = certtools.write(os.path.join(work, "trusted.pem"), f.read() + g.read())
        cls.server = SpiffeServer(cls.files["api"][0], cls.files["api"][1], cls.trusted,
                                  [f"spiffe://{TD}/caller"])
        cls.api_id = f"spiffe://{TD}/api"

    @classmethod
    def tearDownClass(cls):
        cls.server.close()
        cls.s.close()

    def outcome(self):
        return self.server.outcomes.get(timeout=10)

    def test_workloads_accept_each_other(self):
        cert, key, bundle = self.files["caller"]
        self.assertEqual(call(self.server.port, cert, key, bundle, self.api_id),
                         f"hello spiffe://{TD}/caller".encode())
        self.assertEqual(self.outcome(), ("admitted", f"spiffe://{TD}/caller"))

    def test_an_expired_certificate_is_refused(self):
        cert, key = self.partner.leaf_files("expired", f"spiffe://{TD}/caller", expired=True)
        reply = call(self.server.port, cert, key, self.files["caller"][2], self.api_id)
        self.assertFalse(isinstance(reply, bytes) and reply.startswith(b"hello"), reply)
        kind, detail = self.outcome()
        self.assertEqual(kind, "handshake")
        self.assertIn("expired", detail)

    def test_a_certificate_from_another_ca_is_refused(self):
        stranger = ThrowawayCa(tempfile.mkdtemp(dir=self.s.tmp.name), "stranger")
        cert, key = stranger.leaf_files("stranger", f"spiffe://{TD}/caller")
        reply = call(self.server.port, cert, key, self.files["caller"][2], self.api_id)
        self.assertFalse(isinstance(reply, bytes) and reply.startswith(b"hello"), reply)
        self.assertEqual(self.outcome()[0], "handshake")

    def test_a_spiffe_id_not_in_the_allow_list_is_refused(self):
        cert, key, bundle = self.files["intruder"]
        reply = call(self.server.port, cert, key, bundle, self.api_id)
        self.assertEqual(reply, b"")
        self.assertEqual(self.outcome(), ("not allowed", [f"spiffe://{TD}/intruder"]))


if __name__ == "__main__":
    unittest.main()
