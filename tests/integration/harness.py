"""Starts the real sigil binary for integration tests and talks HTTP to it.

Each Sigil instance gets its own data folder and a free loopback port; it is stopped by
its process id (SIGTERM, then SIGKILL after a grace period). Nothing is matched by name.

With ca="example.org" (or mtls=True) the data folder also gets a certificate authority
(`sigil ca init`, before the server starts); with mtls=True the server also runs its
mutual-TLS listener on a second free loopback port, reached as https://localhost:<port>
(sigil's own certificate names localhost), and Sigil.mtls() sends requests there with or
without a client certificate.
"""

import http.client as httpclient
import json
import os
import re
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import base64

SIGIL = os.environ.get("SIGIL_BIN", "")


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def json(self):
        return json.loads(self.body)

    def header(self, name):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None


# CA files trusted for https:// URLs, by "host:port" (set by Sigil(tls=True)).
TRUSTED_CA = {}


def http(method, url, body=None, headers=None, timeout=10):
    """One HTTP request; returns Response for every status (no exception on 4xx/5xx)."""
    data = body.encode() if isinstance(body, str) else body
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    context = None
    if url.startswith("https://"):
        netloc = urllib.parse.urlsplit(url).netloc
        context = ssl.create_default_context(cafile=TRUSTED_CA.get(netloc))
    try:
        with urllib.request.urlopen(req, timeout=timeout, context=context) as r:
            return Response(r.status, list(r.headers.items()), r.read())
    except urllib.error.HTTPError as e:
        return Response(e.code, list(e.headers.items()), e.read())


def basic(client_id, secret):
    raw = f"{urllib.parse.quote(client_id, safe='')}:{urllib.parse.quote(secret, safe='')}"
    return "Basic " + base64.b64encode(raw.encode()).decode()


def form(**params):
    items = []
    for k, v in params.items():
        for one in v if isinstance(v, (list, tuple)) else [v]:
            items.append((k, one))
    return urllib.parse.urlencode(items)


FORM = {"Content-Type": "application/x-www-form-urlencoded"}


class Sigil:
    """A sigil server on 127.0.0.1, initialised in a fresh temporary data folder."""

    def __init__(self, env=None, alg=None, tls=False, policy=None, ca=None, mtls=False,
                 mtls_allow_self_signed=False):
        if not SIGIL or not os.access(SIGIL, os.X_OK):
            raise RuntimeError("SIGIL_BIN must name the sigil binary")
        self.tmp = tempfile.TemporaryDirectory(prefix="sigil-test-")
        self.data = os.path.join(self.tmp.name, "data")
        self.port = free_port()
        self.issuer = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}"
        self.env = dict(os.environ)
        self.env.pop("SIGIL_MASTER_KEY", None)
        self.env.update(env or {})
        if tls:
            cert, key = self.make_certificate()
            self.env.update({"SIGIL_TLS_CERT": cert, "SIGIL_TLS_KEY": key, "SIGIL_CA_FILE": cert})
            TRUSTED_CA[f"127.0.0.1:{self.port}"] = cert
        self.log_path = os.path.join(self.tmp.name, "server.log")
        args = [SIGIL, "init", "--data", self.data, "--issuer", self.issuer]
        if alg:
            args += ["--signing-alg", alg]
        init = subprocess.run(args, env=self.env, capture_output=True, text=True, timeout=60)
        if init.returncode != 0:
            raise RuntimeError(f"sigil init failed: {init.stderr}")
        self.init_output = init.stdout
        self.admin_id = re.search(r"SIGIL_CLIENT_ID=(\S+)", init.stdout).group(1)
        self.admin_secret = re.search(r"SIGIL_CLIENT_SECRET=(\S+)", init.stdout).group(1)
        # The certificate authority, set up offline before the server starts.
        self.trust_domain = None
        if mtls and not ca:
            ca = "example.org"
        if ca:
            self.trust_domain = ca
            r = subprocess.run([SIGIL, "ca", "init", "--data", self.data, "--trust-domain", ca],
                               env=self.env, capture_output=True, text=True, timeout=60)
            if r.returncode != 0:
                raise RuntimeError(f"sigil ca init failed: {r.stderr}")
            self.ca_init_output = r.stdout
        # The mutual-TLS listener, and the trust bundle that verifies its certificate.
        self.mtls_port = None
        self.mtls_url = None
        self.bundle_path = os.path.join(self.tmp.name, "bundle.pem")
        if mtls:
            self.mtls_port = free_port()
            self.mtls_url = f"https://localhost:{self.mtls_port}"
            self.env.update({"SIGIL_MTLS_LISTEN": f"127.0.0.1:{self.mtls_port}",
                             "SIGIL_MTLS_DNS_NAMES": "localhost",
                             "SIGIL_MTLS_URL": self.mtls_url})
            if mtls_allow_self_signed:
                self.env["SIGIL_MTLS_ALLOW_SELF_SIGNED"] = "true"
            TRUSTED_CA[f"localhost:{self.mtls_port}"] = self.bundle_path
        self.proc = None
        # With a policy text, the server enforces it from a file (sigil serve --policy).
        self.policy_path = None
        if policy is not None:
            self.policy_path = os.path.join(self.tmp.name, "sigil.yaml")
            self.write_policy(policy)
        self.start()

    def write_policy(self, text):
        """Replaces the policy file atomically, as an editor or a deployment would."""
        tmp = self.policy_path + ".new"
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, self.policy_path)

    def make_certificate(self):
        """A self-signed P-256 certificate for 127.0.0.1, made with the openssl command."""
        cert = os.path.join(self.tmp.name, "cert.pem")
        key = os.path.join(self.tmp.name, "key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                        "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
                        "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", key, "-out", cert],
                       check=True, capture_output=True, timeout=60)
        return cert, key

    # --- process -----------------------------------------------------------------------
    def start(self):
        self.log = open(self.log_path, "ab")
        args = [SIGIL, "serve", "--data", self.data, "--listen", f"127.0.0.1:{self.port}"]
        if self.policy_path:
            args += ["--policy", self.policy_path]
        self.proc = subprocess.Popen(
            args,
            env=self.env, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"sigil serve exited with {self.proc.returncode}: {self.server_log()}")
            try:
                if http("GET", self.url("/healthz"), timeout=1).status == 200:
                    break
            except (urllib.error.URLError, ConnectionError, OSError):
                pass
            time.sleep(0.05)
        else:
            raise RuntimeError("sigil serve did not become healthy")
        if self.mtls_port:
            self.wait_for_mtls(deadline)

    def wait_for_mtls(self, deadline):
        """Waits for the mutual-TLS port, then saves the trust bundle that verifies it."""
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"sigil serve exited with {self.proc.returncode}: {self.server_log()}")
            try:
                with socket.create_connection(("127.0.0.1", self.mtls_port), timeout=1):
                    break
            except OSError:
                time.sleep(0.05)
        else:
            raise RuntimeError(f"the mutual-TLS listener did not open: {self.server_log()}")
        self.refresh_bundle()

    def refresh_bundle(self):
        r = http("GET", self.url("/v1/bundle"))
        assert r.status == 200, r.body
        with open(self.bundle_path, "wb") as f:
            f.write(r.body)
        return self.bundle_path

    def stop(self):
        """SIGTERM and wait; returns the exit status."""
        if self.proc is None:
            return None
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
        self.proc = None
        self.log.close()
        return code

    def close(self):
        self.stop()
        self.tmp.cleanup()

    def server_log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def audit_records(self):
        with open(os.path.join(self.data, "audit.log")) as f:
            return [json.loads(line) for line in f if line.strip()]

    def cli(self, *args, env=None, input=None):
        e = dict(self.env)
        e.update({"SIGIL_ADDR": self.issuer, "SIGIL_CLIENT_ID": self.admin_id,
                  "SIGIL_CLIENT_SECRET": self.admin_secret})
        if self.mtls_url:
            e["SIGIL_MTLS_ADDR"] = self.mtls_url
        e.update(env or {})
        return subprocess.run([SIGIL, *args], env=e, capture_output=True, text=True, timeout=60,
                              input=input)

    # --- HTTP ---------------------------------------------------------------------------
    def url(self, path):
        return self.issuer + path

    def token(self, client_id, secret, **params):
        params.setdefault("grant_type", "client_credentials")
        return http("POST", self.url("/oauth2/token"), form(**params),
                    {**FORM, "Authorization": basic(client_id, secret)})

    def admin_token(self):
        r = self.token(self.admin_id, self.admin_secret, scope="sigil:admin")
        assert r.status == 200, r.body
        return r.json()["access_token"]

    def admin(self, method, path, body=None, token=None):
        headers = {"Authorization": "Bearer " + (token or self.admin_token())}
        if body is not None:
            headers["Content-Type"] = "application/json"
            body = json.dumps(body)
        return http(method, self.url(path), body, headers)

    def create_client(self, **fields):
        fields.setdefault("name", "test client")
        r = self.admin("POST", "/v1/clients", fields)
        assert r.status == 201, r.body
        created = r.json()
        return created["client"]["id"], created["client_secret"]

    def introspect(self, token, client_id=None, secret=None):
        return http("POST", self.url("/oauth2/introspect"), form(token=token),
                    {**FORM, "Authorization": basic(client_id or self.admin_id,
                                                    secret or self.admin_secret)})

    # --- mutual TLS ---------------------------------------------------------------------
    def mtls_context(self, cert=None, key=None, cafile=None):
        """A client TLS context trusting the CA's bundle, presenting cert/key when given."""
        context = ssl.create_default_context(cafile=cafile or self.bundle_path)
        if cert:
            context.load_cert_chain(cert, key)
        return context

    def mtls(self, method, path, body=None, headers=None, cert=None, key=None, timeout=10):
        """One request to the mutual-TLS listener, with the client certificate cert/key (PEM
        files) or none. Raises ssl.SSLError or OSError when the handshake is refused."""
        conn = httpclient.HTTPSConnection("localhost", self.mtls_port, timeout=timeout,
                                          context=self.mtls_context(cert, key))
        try:
            data = body.encode() if isinstance(body, str) else body
            conn.request(method, path, body=data, headers=headers or {})
            r = conn.getresponse()
            return Response(r.status, r.getheaders(), r.read())
        finally:
            conn.close()

    def mtls_refused(self, *args, **kwargs):
        """The error that ended an mTLS request whose handshake was refused, or None when the
        server answered. With TLS 1.3 a refused client certificate shows only at the first
        read, as an alert or a closed connection."""
        try:
            self.mtls(*args, **kwargs)
        except (ssl.SSLError, OSError, httpclient.HTTPException) as e:
            return e
        return None

    def revoke(self, token, client_id, secret):
        return http("POST", self.url("/oauth2/revoke"), form(token=token),
                    {**FORM, "Authorization": basic(client_id, secret)})


def b64url_decode(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def jwt_parts(token):
    h, p, _ = token.split(".")
    return json.loads(b64url_decode(h)), json.loads(b64url_decode(p))
