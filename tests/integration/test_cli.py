"""The sigil command against a real server: what an operator types, and its exit status."""

import json
import os
import shutil
import unittest

from harness import Sigil, free_port, jwt_parts


class CliTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.s = Sigil()

    @classmethod
    def tearDownClass(cls):
        cls.s.close()

    def run_ok(self, *args, **kw):
        r = self.s.cli(*args, **kw)
        self.assertEqual(r.returncode, 0, (args, r.stdout, r.stderr))
        return r

    def create(self, client_id, *extra):
        r = self.run_ok("client", "create", "--id", client_id, "--name", client_id, "--scope", "orders:read",
                        "--audience", "https://orders.example", "--attr", "team=shop", *extra, "-o", "json")
        out = json.loads(r.stdout)
        return out["client"]["id"], out["client_secret"]

    def test_init_prints_credentials_and_a_curl_command(self):
        self.assertIn("export SIGIL_CLIENT_ID=sigil-admin", self.s.init_output)
        self.assertIn("export SIGIL_CLIENT_SECRET=", self.s.init_output)
        self.assertIn("curl -s -u", self.s.init_output)
        self.assertIn(self.s.issuer + "/oauth2/token", self.s.init_output)

    def test_client_lifecycle(self):
        cid, secret = self.create("shop")
        self.assertEqual(len(secret), 43)
        listed = json.loads(self.run_ok("client", "list", "-o", "json").stdout)
        self.assertIn("shop", [c["id"] for c in listed["clients"]])
        shown = json.loads(self.run_ok("client", "show", "shop", "-o", "json").stdout)
        self.assertEqual(shown["attributes"], {"team": "shop"})
        table = self.run_ok("client", "list").stdout
        self.assertIn("shop", table)
        self.assertNotIn(secret, table)

        env = {"SIGIL_CLIENT_ID": cid, "SIGIL_CLIENT_SECRET": secret}
        token = self.run_ok("token", "get", env=env).stdout.strip()
        self.assertEqual(jwt_parts(token)[1]["sub"], "shop")

        self.run_ok("client", "disable", "shop")
        self.assertEqual(self.s.cli("token", "get", env=env).returncode, 1)
        self.assertEqual(self.s.cli("token", "introspect", token).returncode, 1)
        self.run_ok("client", "enable", "shop")
        self.run_ok("token", "introspect", token)

        rotated = json.loads(self.run_ok("client", "rotate-secret", "shop", "--overlap", "0", "-o", "json").stdout)
        self.assertEqual(self.s.cli("token", "get", env=env).returncode, 1)
        env["SIGIL_CLIENT_SECRET"] = rotated["client_secret"]
        self.run_ok("token", "get", env=env)

    def test_errors_and_exit_statuses(self):
        r = self.s.cli("client", "show", "no-such-client")
        self.assertEqual(r.returncode, 1)
        self.assertTrue(r.stderr.startswith("sigil: "), r.stderr)
        r = self.s.cli("client", "create", "--name", "x", "--id", "shop-dup")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.s.cli("client", "create", "--name", "x", "--id", "shop-dup").returncode, 1)
        self.assertEqual(self.s.cli("client", "create", "--bogus-flag").returncode, 2)
        self.assertEqual(self.s.cli("token", "get", env={"SIGIL_CLIENT_SECRET": "wrong"}).returncode, 1)
        dead = f"http://127.0.0.1:{free_port()}"
        r = self.s.cli("client", "list", env={"SIGIL_ADDR": dead})
        self.assertEqual(r.returncode, 3)
        self.assertIn("cannot reach", r.stderr)

    def test_token_verify_revoke(self):
        cid, secret = self.create("verifier")
        env = {"SIGIL_CLIENT_ID": cid, "SIGIL_CLIENT_SECRET": secret}
        token = self.run_ok("token", "get", env=env).stdout.strip()
        r = self.run_ok("token", "verify", token, "--audience", "https://orders.example", "-o", "json")
        self.assertTrue(json.loads(r.stdout)["valid"])
        r = self.s.cli("token", "verify", token, "--audience", "https://elsewhere.example")
        self.assertEqual(r.returncode, 1)
        self.assertIn("invalid", r.stdout)
        h, p, sig = token.split(".")
        r = self.s.cli("token", "verify", f"{h}.{p}.{sig[:-2]}AA")
        self.assertEqual(r.returncode, 1)
        jwks_file = os.path.join(self.s.tmp.name, "jwks.json")
        with open(jwks_file, "w") as f:
            f.write('{"keys":[]}')
        self.assertEqual(self.s.cli("token", "verify", token, "--jwks", jwks_file).returncode, 1)

        self.run_ok("token", "revoke", token)
        r = self.s.cli("token", "introspect", token)
        self.assertEqual(r.returncode, 1)

    def test_keys_rotate_and_list(self):
        before = json.loads(self.run_ok("keys", "list", "-o", "json").stdout)["keys"]
        new = json.loads(self.run_ok("keys", "rotate", "--alg", "EdDSA", "-o", "json").stdout)
        self.assertEqual(new["alg"], "EdDSA")
        self.assertEqual(new["state"], "next")
        after = json.loads(self.run_ok("keys", "list", "-o", "json").stdout)["keys"]
        self.assertEqual(len(after), len(before) + 1)
        self.assertEqual(self.s.cli("keys", "rotate", "--alg", "HS256").returncode, 2)

    def test_audit_verify_finds_tampering(self):
        self.run_ok("client", "list")
        r = self.run_ok("audit", "verify", "--data", self.s.data)
        self.assertIn("intact", r.stdout)
        copy = os.path.join(self.s.tmp.name, "copy")
        os.mkdir(copy)
        with open(os.path.join(self.s.data, "audit.log")) as f:
            lines = f.readlines()
        lines[1] = lines[1].replace('"allow"', '"deny"', 1)
        with open(os.path.join(copy, "audit.log"), "w") as f:
            f.writelines(lines)
        r = self.s.cli("audit", "verify", "--data", copy)
        self.assertEqual(r.returncode, 1, r.stdout)
        shutil.rmtree(copy)


if __name__ == "__main__":
    unittest.main()
