#!/usr/bin/env python3
"""Writes a synthetic policy file for benchmarks: N services, M grants over 1,000 audiences
(fewer when M is small), plus the benchmark caller `bench-client` granted api:read on
https://api.bench. Grants are spread evenly: most name one service and one audience, one
in ten has a source condition, one in a hundred selects callers by team.

Usage: bench/policy/generate.py --services N --grants M > sigil.yaml
       (--services 0 --grants 0 gives the one-rule policy: only bench-client's grant)"""

import argparse
import sys


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--services", type=int, default=10_000)
    ap.add_argument("--grants", type=int, default=100_000)
    args = ap.parse_args()
    n, m = args.services, args.grants
    audiences = min(1000, max(1, m // 10)) if m else 0
    out = sys.stdout
    out.write("version: 1\nservices:\n")
    out.write("  - name: bench-client\n    attributes: {environment: production, team: bench}\n")
    for i in range(n):
        out.write(f"  - name: svc-{i:05d}\n    attributes: {{environment: production, team: t{i % 50}}}\n")
    out.write("audiences:\n")
    out.write("  - name: bench-api\n    uri: https://api.bench\n    scopes: [api:read]\n"
              "    attributes: {environment: production}\n")
    for a in range(audiences):
        out.write(f"  - name: api-{a:04d}\n    scopes: [read, write]\n"
                  "    attributes: {environment: production}\n")
    out.write("grants:\n")
    out.write("  - name: bench\n    caller: bench-client\n    audience: bench-api\n    scopes: [api:read]\n")
    for g in range(m):
        aud = f"api-{(g * 7 + g // max(n, 1)) % audiences:04d}"
        if g % 100 == 99:
            caller = f"{{attributes: {{team: t{g % 50}}}}}"
        else:
            caller = f"svc-{g % n:05d}"
        out.write(f"  - name: g{g}\n    caller: {caller}\n    audience: {aud}\n"
                  f"    scopes: [{'read' if g % 2 else 'write'}]\n")
        if g % 10 == 3:
            out.write("    when: {source: [10.0.0.0/8]}\n")


if __name__ == "__main__":
    main()
