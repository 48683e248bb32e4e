#!/usr/bin/env bash
# bench/http/policy.sh: token endpoint throughput with a large policy loaded, as a ratio to
# the same endpoint with a one-rule policy, in the same run.
#
# For each policy (one rule; then --services/--grants, default 10,000 services and 100,000
# grants, from bench/policy/generate.py) it starts `sigil serve --policy FILE` on a fresh
# data folder, gives the benchmark client `bench-client` a secret, and loads
# POST /oauth2/token (client_credentials, resource=https://api.bench, client_secret_basic)
# with wrk. The two policies alternate for --rounds rounds (default 2) so that drift of
# the machine hits both; the ratio is of the mean req/s. Prints the load time of each
# policy, req/s and p99 per run, and the ratio.
#
# Usage: bench/http/policy.sh [--services N] [--grants M] [--rounds R (2)]
#                             [--port N (18093)] [--duration S (10)] [--warmup S (3)]
#                             [--conns N (32)] [--wrk-threads N (2)] [--pin]
#                             [--tmp DIR] (where the data folders go; default /tmp)
# Env: SIGIL_BIN (default build-bench/src/cli/sigil, else build/src/cli/sigil).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source-path=SCRIPTDIR source=../lib/sigil.sh
source "$HERE/../lib/sigil.sh"

SERVICES=10000 GRANTS=100000 ROUNDS=2 PORT=18093 DURATION=10 WARMUP=3 CONNS=32 WRK_THREADS=2 PIN=0 TMPBASE=/tmp
while (($#)); do
  case $1 in
    --services) SERVICES=$2; shift 2 ;;
    --grants) GRANTS=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    --port) PORT=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --warmup) WARMUP=$2; shift 2 ;;
    --conns) CONNS=$2; shift 2 ;;
    --wrk-threads) WRK_THREADS=$2; shift 2 ;;
    --pin) PIN=1; WRK_THREADS=1; shift ;;
    --tmp) TMPBASE=$2; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
for t in wrk curl python3 timeout; do command -v $t >/dev/null || { echo "missing $t" >&2; exit 1; }; done
BIN=$(sigil_bin)
ADDR=http://127.0.0.1:$PORT
if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then echo "port $PORT is in use" >&2; exit 1; fi

TMP=$(mktemp -d "$TMPBASE/sigil-policy-bench.XXXXXX")
PID=
cleanup() { sigil_stop_pid "$PID"; rm -rf "$TMP"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

python3 "$HERE/../policy/generate.py" --services 0 --grants 0 >"$TMP/one.yaml"
python3 "$HERE/../policy/generate.py" --services "$SERVICES" --grants "$GRANTS" >"$TMP/big.yaml"

srv_pre=() wrk_pre=() threads=()
if ((PIN)); then srv_pre=(taskset -c 0); wrk_pre=(taskset -c 1); threads=(env SIGIL_THREADS=1); fi

# run NAME: one server with policy NAME.yaml, one measured wrk run; appends "rps p99 load_s".
declare -A RPS P99 LOAD
run() {
  local name=$1
  local dir=$TMP/$name-data t0 t1 secret auth line
  rm -rf "$dir"
  sigil_init "$BIN" "$dir" "$ADDR" "$TMP/admin.env"
  t0=$(date +%s.%N)
  "${srv_pre[@]}" "${threads[@]}" "$BIN" serve --data "$dir" --listen "127.0.0.1:$PORT" \
    --policy "$TMP/$name.yaml" >"$TMP/$name.log" 2>&1 &
  PID=$!
  sigil_wait_ready "$ADDR" "$PID" 300
  t1=$(date +%s.%N)
  # shellcheck source=/dev/null
  secret=$(set -a; source "$TMP/admin.env"; SIGIL_ADDR=$ADDR "$BIN" client rotate-secret bench-client -o json 2>/dev/null |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["client_secret"])')
  auth=$(printf 'bench-client:%s' "$secret" | base64 -w0)
  curl -sf -m 5 -H "Authorization: Basic $auth" -d grant_type=client_credentials -d resource=https://api.bench \
    "$ADDR/oauth2/token" >/dev/null || { echo "$name: the preflight token request failed" >&2; exit 1; }
  local wrk=("${wrk_pre[@]}" wrk "-t$WRK_THREADS" "-c$CONNS" --timeout 5s -s "$HERE/form_post.lua")
  BENCH_AUTH=$auth BENCH_BODY="grant_type=client_credentials&resource=https://api.bench" \
    timeout $((WARMUP + 30)) "${wrk[@]}" "-d${WARMUP}s" "$ADDR/oauth2/token" >/dev/null 2>&1 || true
  sleep 1
  BENCH_AUTH=$auth BENCH_BODY="grant_type=client_credentials&resource=https://api.bench" \
    timeout $((DURATION + 30)) "${wrk[@]}" "-d${DURATION}s" "$ADDR/oauth2/token" >"$TMP/$name.wrk" 2>&1 || true
  line=$(grep '^RESULT ' "$TMP/$name.wrk" | sed 's/^RESULT //') || { echo "$name: no result from wrk" >&2; cat "$TMP/$name.wrk" >&2; exit 1; }
  declare -A W=()
  for kv in $line; do W[${kv%%=*}]=${kv#*=}; done
  ((W[err_status] == 0)) || { echo "$name: $((W[err_status])) non-2xx answers" >&2; exit 1; }
  RPS[$name]+="${W[rps]} " P99[$name]+="${W[p99_ms]} "
  LOAD[$name]=$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", b-a}')
  sigil_stop_pid "$PID"; PID=
}

mode=shared; ((PIN)) && mode="pinned (server core 0, 1 HTTP thread; wrk core 1)"
echo "# sigil $("$BIN" version 2>/dev/null | head -1), $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, mode $mode"
echo "# policies: one rule; $SERVICES services and $GRANTS grants ($(du -h "$TMP/big.yaml" | cut -f1)B of YAML)"
echo "# wrk -t$WRK_THREADS -c$CONNS -d${DURATION}s after ${WARMUP}s warm-up, $ROUNDS rounds, binary $BIN"
for ((r = 0; r < ROUNDS; r++)); do run one; run big; done
mean() { awk '{s=0; for(i=1;i<=NF;i++) s+=$i; printf "%.0f", s/NF}' <<<"$1"; }
printf '%-10s %14s %-28s %-20s\n' policy start_s "req/s per round" "p99_ms per round"
printf '%-10s %14s %-28s %-20s\n' one-rule "${LOAD[one]}" "${RPS[one]}" "${P99[one]}"
printf '%-10s %14s %-28s %-20s\n' large "${LOAD[big]}" "${RPS[big]}" "${P99[big]}"
awk -v a="$(mean "${RPS[big]}")" -v b="$(mean "${RPS[one]}")" \
  'BEGIN{printf "ratio large/one-rule (mean req/s): %.3f (%d / %d)\n", a/b, a, b}'
