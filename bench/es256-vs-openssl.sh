#!/usr/bin/env bash
# bench/es256-vs-openssl.sh BUILD_DIR [ROUNDS (3)]
# ES256 sign and verify through sigil's jose library as a fraction of `openssl speed
# ecdsap256`, on one core (taskset -c $BENCH_CPU, default 0), alternating the two within the
# same minute: each round runs `openssl speed -seconds 3 -mr ecdsap256`, then jose_bench's
# ES256 sign, JWS verify and full access-token validation (--benchmark_min_time 2).
# Prints per-round rates and the medians with the ratios; raw outputs go to $OUT (a temp dir).
set -euo pipefail
BUILD=${1:?usage: bench/es256-vs-openssl.sh BUILD_DIR [ROUNDS]}
ROUNDS=${2:-3}
CPU=${BENCH_CPU:-0}
BIN=$BUILD/bench/jose_bench
[[ -x $BIN ]] || { echo "no $BIN: ninja -C $BUILD jose_bench" >&2; exit 1; }
OUT=${OUT:-$(mktemp -d /tmp/es256-vs-openssl.XXXXXX)}
mkdir -p "$OUT"
for ((i = 1; i <= ROUNDS; i++)); do
  taskset -c "$CPU" openssl speed -seconds 3 -mr ecdsap256 >"$OUT/openssl.$i.txt" 2>/dev/null
  taskset -c "$CPU" "$BIN" --benchmark_filter='^BM_(Sign|VerifyJws)/0$|^BM_VerifyJwtAccessTokenES256$' \
    --benchmark_min_time=2 --benchmark_format=json >"$OUT/jose.$i.json" 2>/dev/null
done
python3 - "$OUT" "$ROUNDS" <<'PY'
import json, statistics, sys
out, rounds = sys.argv[1], int(sys.argv[2])
cols = {'openssl sign': [], 'openssl verify': [], 'sigil sign': [], 'sigil verify (JWS)': [],
        'sigil verify+validate (JWT)': []}
names = {'BM_Sign/0': 'sigil sign', 'BM_VerifyJws/0': 'sigil verify (JWS)',
         'BM_VerifyJwtAccessTokenES256': 'sigil verify+validate (JWT)'}
for i in range(1, rounds + 1):
    for line in open(f'{out}/openssl.{i}.txt'):
        p = line.strip().split(':')
        if p[0] == '+F4' and p[2] == '256':
            cols['openssl sign'].append(float(p[3])); cols['openssl verify'].append(float(p[4]))
    for b in json.load(open(f'{out}/jose.{i}.json'))['benchmarks']:
        if b['name'] in names:
            scale = {'ns': 1e9, 'us': 1e6, 'ms': 1e3}[b['time_unit']]
            cols[names[b['name']]].append(scale / b['cpu_time'])
print('| round | ' + ' | '.join(cols) + ' |')
print('|---' * (len(cols) + 1) + '|')
for i in range(rounds):
    print(f'| {i + 1} | ' + ' | '.join(f'{v[i]:,.0f}' if i < len(v) else '' for v in cols.values()) + ' |')
med = {k: statistics.median(v) for k, v in cols.items()}
print('| median | ' + ' | '.join(f'{v:,.0f}' for v in med.values()) + ' |')
print()
print(f"sign:   sigil / openssl = {med['sigil sign'] / med['openssl sign']:.1%}")
print(f"verify: sigil JWS / openssl = {med['sigil verify (JWS)'] / med['openssl verify']:.1%}; "
      f"full JWT validation / openssl = {med['sigil verify+validate (JWT)'] / med['openssl verify']:.1%}")
PY
echo "raw outputs: $OUT"
