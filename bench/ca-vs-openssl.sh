#!/usr/bin/env bash
# bench/ca-vs-openssl.sh BUILD_DIR [ROUNDS (3)]
# Certificates issued per second by sigil's CA in process (ca_bench) as a fraction of what
# `openssl speed ecdsap256` allows on the same core (taskset -c $BENCH_CPU, default 0),
# alternating the two within the same minutes: each round runs
# `openssl speed -seconds 5 -mr ecdsap256`, then ca_bench (--benchmark_min_time 2).
#
# An issuance signs once and verifies once (the CA checks the signature of what it signed
# before returning it), so its bound is 1 / (1/sign + 1/verify) with OpenSSL's rates;
# parsing the CSR first verifies once more (its self-signature): 1 / (1/sign + 2/verify).
# Prints per-round rates, the medians, the cost of two parts (decoding a certificate and a
# public key with OpenSSL's decoders), certificates/s against OpenSSL's signs/s, verifies/s
# and those bounds. Raw outputs go to $OUT (a temp dir unless set).
set -euo pipefail
BUILD=${1:?usage: bench/ca-vs-openssl.sh BUILD_DIR [ROUNDS]}
ROUNDS=${2:-3}
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || { echo "ROUNDS must be a positive number" >&2; exit 2; }
CPU=${BENCH_CPU:-0}
BIN=$BUILD/bench/ca_bench
[[ -x $BIN ]] || { echo "no $BIN: ninja -C $BUILD ca_bench" >&2; exit 1; }
for t in openssl taskset python3; do command -v $t >/dev/null || { echo "missing $t" >&2; exit 1; }; done
OUT=${OUT:-$(mktemp -d /tmp/ca-vs-openssl.XXXXXX)}
mkdir -p "$OUT"
echo "# $(openssl version), ca_bench from $BUILD, core $CPU, $(date -u +%Y-%m-%dT%H:%MZ), load $(cut -d' ' -f1-3 /proc/loadavg)"
for ((i = 1; i <= ROUNDS; i++)); do
  taskset -c "$CPU" openssl speed -seconds 5 -mr ecdsap256 >"$OUT/openssl.$i.txt" 2>/dev/null
  taskset -c "$CPU" "$BIN" --benchmark_min_time=2 --benchmark_format=json >"$OUT/ca.$i.json" 2>/dev/null
done
python3 - "$OUT" "$ROUNDS" <<'PY'
import json, statistics, sys
out, rounds = sys.argv[1], int(sys.argv[2])
names = {'BM_IssueCertificate': 'sigil issue', 'BM_IssueEndToEnd': 'sigil parse CSR + issue',
         'BM_ParseCsr': 'sigil parse CSR', 'BM_EcdsaP256Sign': 'sigil sign',
         'BM_EcdsaP256Verify': 'sigil verify'}
parts = {'BM_CertificateFromDer': 'decode a certificate (DER)',
         'BM_KeyFromSpkiDer': 'decode a P-256 public key (SPKI)'}
part_rates = {v: [] for v in parts.values()}
cols = {k: [] for k in ['openssl sign', 'openssl verify', *names.values()]}
for i in range(1, rounds + 1):
    for line in open(f'{out}/openssl.{i}.txt'):
        p = line.strip().split(':')
        if p[0] == '+F4' and p[2] == '256':
            cols['openssl sign'].append(float(p[3])); cols['openssl verify'].append(float(p[4]))
    for b in json.load(open(f'{out}/ca.{i}.json'))['benchmarks']:
        if b.get('error_occurred'):
            continue
        scale = {'ns': 1e9, 'us': 1e6, 'ms': 1e3}[b['time_unit']]
        if b['name'] in names:
            cols[names[b['name']]].append(scale / b['cpu_time'])
        elif b['name'] in parts:
            part_rates[parts[b['name']]].append(scale / b['cpu_time'])
for k, v in cols.items():
    if len(v) != rounds:
        sys.exit(f'{k}: {len(v)} results for {rounds} rounds (see {out})')
print('per second, one core:')
print('| round | ' + ' | '.join(cols) + ' |')
print('|---' * (len(cols) + 1) + '|')
for i in range(rounds):
    print(f'| {i + 1} | ' + ' | '.join(f'{v[i]:,.0f}' for v in cols.values()) + ' |')
med = {k: statistics.median(v) for k, v in cols.items()}
print('| median | ' + ' | '.join(f'{v:,.0f}' for v in med.values()) + ' |')
print()
sign, verify = med['openssl sign'], med['openssl verify']
bound1 = 1 / (1 / sign + 1 / verify)
bound2 = 1 / (1 / sign + 2 / verify)
issue, e2e = med['sigil issue'], med['sigil parse CSR + issue']
print(f'per call (µs): issue {1e6 / issue:.1f}, parse CSR {1e6 / med["sigil parse CSR"]:.1f}, '
      f'parse + issue {1e6 / e2e:.1f}; openssl sign {1e6 / sign:.1f}, verify {1e6 / verify:.1f}')
print(f'bound, issue (1 sign + 1 verify):          {bound1:,.0f}/s')
print(f'bound, parse + issue (1 sign + 2 verify):  {bound2:,.0f}/s')
print(f'issue:         {issue:,.0f} certs/s = {issue / sign:.1%} of openssl signs/s, '
      f'{issue / verify:.1%} of verifies/s, {issue / bound1:.1%} of the bound')
print(f'parse + issue: {e2e:,.0f} certs/s = {e2e / sign:.1%} of openssl signs/s, '
      f'{e2e / verify:.1%} of verifies/s, {e2e / bound2:.1%} of its bound')
print('parts, per call (µs): ' + '; '.join(f'{k} {1e6 / statistics.median(v):.1f}'
                                            for k, v in part_rates.items() if v))
print(f'raw crypto:    sigil sign / openssl sign = {med["sigil sign"] / sign:.1%}; '
      f'sigil verify / openssl verify = {med["sigil verify"] / verify:.1%}')
PY
echo "raw outputs: $OUT"
