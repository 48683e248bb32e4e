#!/usr/bin/env bash
# bench/http/keys.sh: POST /v1/keys/verify over loopback under wrk, with N keys in the store,
# next to a trivial HTTP 200 measured in the same call.
#
# Initialises a fresh data folder in a temporary directory, seeds N API keys into its SQLite
# store with `apikeys_seed` (key space `live`, prefix `sk_live`; the key texts go to a file of
# mode 0600 in the temporary directory, removed at exit), then per mode:
#   1. starts `sigil serve` (it loads the N keys into its cache) and times until /readyz;
#   2. registers a verifier client (scope sigil:keys:verify, audience the issuer; first mode
#      only) and gets its token;
#   3. checks with curl that a sample of keys answers "valid":true, loads POST /v1/keys/verify
#      with wrk and bench/http/keys_verify.lua ({"key": <the seeded keys, round-robin>,
#      "scopes": ["read"]}, counting every answer without "valid":true), checks the sample again;
#   4. loads sigil's own GET /healthz (the same server, no key work) and stops sigil by its PID;
#   5. the trivial-200 reference: nginx from ../shared/peers/nginx/ (its start.sh/stop.sh; port
#      18080), POST /introspect with the same request and script (a canned 200 of about the
#      size of a verify answer), with 1 worker on core 0 (pinned) or 2 workers (shared).
# Every wrk run is bounded by -d and by `timeout`. Prints, per mode and row: req/s, p50/p99,
# errors, unexpected answers, server cores used, req/s per server core; the verify rate as a
# fraction of nginx and of /healthz; sigil's peak RSS and start-up time.
#
# Usage: bench/http/keys.sh [--keys N (100000)] [--modes shared,pinned (both)]
#                           [--port N (18092)] [--duration S (10)] [--warmup S (3)]
#                           [--conns N (32)] [--no-nginx] [--tmp DIR (/tmp)] [--keep]
#                           [--walk N] (wrk uses only the first N seeded keys: N distinct keys
#                             in the load, whatever the number in the store)
#                           [--perf-record] (`perf record -g` of sigil during each measured
#                             verify run, to TMPDIR/verify-MODE.perf.data; implies --keep)
#   pinned: sigil on core 0 with one HTTP thread (SIGIL_THREADS=1), wrk -t1 on core 1;
#   shared: sigil with its default threads and wrk -t2, both unpinned on every core.
# Env: SIGIL_BIN (default build-bench/src/cli/sigil, else build/src/cli/sigil); SEED_BIN
# (default: bench/apikeys_seed of the build that holds SIGIL_BIN).
# Needs wrk, curl, python3, timeout (and taskset for pinned). All traffic stays on 127.0.0.1.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source-path=SCRIPTDIR source=../lib/sigil.sh
source "$HERE/../lib/sigil.sh"
PEERS=$(cd "$HERE/../../.." && pwd)/shared/peers

NKEYS=100000 MODES=shared,pinned PORT=18092 DURATION=10 WARMUP=3 CONNS=32 NGINX=1 KEEP=0
PERF_RECORD=0 TMPBASE=/tmp WALK=0
while (($#)); do
  case $1 in
    --keys) NKEYS=$2; shift 2 ;;
    --modes) MODES=$2; shift 2 ;;
    --port) PORT=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --warmup) WARMUP=$2; shift 2 ;;
    --conns) CONNS=$2; shift 2 ;;
    --no-nginx) NGINX=0; shift ;;
    --tmp) TMPBASE=$2; shift 2 ;;
    --keep) KEEP=1; shift ;;
    --walk) WALK=$2; shift 2 ;;
    --perf-record) PERF_RECORD=1; KEEP=1; shift ;;
    -h|--help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
[[ $NKEYS =~ ^[1-9][0-9]*$ ]] || { echo "--keys must be a positive number" >&2; exit 2; }
[[ $WALK =~ ^[0-9]+$ ]] || { echo "--walk must be a number" >&2; exit 2; }
for m in ${MODES//,/ }; do [[ $m == shared || $m == pinned ]] || { echo "unknown mode $m" >&2; exit 2; }; done
for t in wrk curl python3 timeout taskset; do command -v $t >/dev/null || { echo "missing $t" >&2; exit 1; }; done
BIN=$(sigil_bin)
SEED=${SEED_BIN:-$(dirname "$BIN")/../../bench/apikeys_seed}
[[ -x $SEED ]] || { echo "no seeder at $SEED: ninja -C <build> apikeys_seed, or set SEED_BIN" >&2; exit 1; }
ADDR=http://127.0.0.1:$PORT
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
if port_busy "$PORT"; then echo "port $PORT is in use" >&2; exit 1; fi
NGINX_PIDFILE=/tmp/bench-peers/nginx.master.pid
if ((NGINX)) && { [[ ! -x $PEERS/nginx/start.sh ]] || port_busy 18080; }; then
  echo "nginx reference unavailable (no $PEERS/nginx/start.sh, or port 18080 busy): skipped" >&2
  NGINX=0
fi

TMP=$(mktemp -d "$TMPBASE/sigil-keys-bench.XXXXXX")
PID='' NGINX_UP=0
cleanup() {
  sigil_stop_pid "$PID"
  if ((NGINX_UP)); then "$PEERS/nginx/stop.sh" >/dev/null 2>&1 || true; fi
  rm -f "$TMP/keys.txt" "$TMP/verifier.secret" "$TMP/admin.env"  # never kept, even with --keep
  if ((KEEP)); then echo "kept $TMP (without keys and secrets)"; else rm -rf "$TMP"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

sigil_init "$BIN" "$TMP/data" "$ADDR" "$TMP/admin.env"
seed_out=$("$SEED" "$TMP/data" live sk_live "$NKEYS" "$TMP/keys.txt")
SEED_SECONDS=$(sed -n 's/.* in \([0-9.]*\) s$/\1/p' <<<"$seed_out")
KEYS_MB=$(du -m "$TMP/data/sigil.db" | cut -f1)

CLK_TCK=$(getconf CLK_TCK)
# tree_cpu_ticks PID: utime+stime of PID and its direct children (nginx master + workers).
tree_cpu_ticks() {
  local total=0 p t
  for p in "$1" $(pgrep -P "$1" || true); do
    t=$(proc_cpu_ticks "$p"); total=$((total + ${t:-0}))
  done
  echo "$total"
}

# verifier_client ADDR: registers client "key-verifier" (scope sigil:keys:verify, audience
# the issuer) and keeps its secret in $TMP/verifier.secret (mode 0600).
verifier_client() {
  local out
  # shellcheck source=/dev/null
  out=$(set -a; source "$TMP/admin.env"; SIGIL_ADDR=$1 "$BIN" client create --id key-verifier \
    --name key-verifier --scope sigil:keys:verify --audience "$1" -o json 2>/dev/null) || {
    echo "sigil client create failed" >&2; return 1; }
  (umask 077; python3 -c 'import json,sys; print(json.load(sys.stdin)["client_secret"])' \
    <<<"$out" >"$TMP/verifier.secret")
}

# check_sample TOKEN: 5 keys spread over the file must verify as valid; prints how many did.
check_sample() {
  local ok=0 n i idx key
  n=$(wc -l <"$TMP/keys.txt")
  for i in 1 2 3 4 5; do
    idx=$(((n * i) / 5)); ((idx >= 1)) || idx=1
    key=$(sed -n "${idx}p" "$TMP/keys.txt")
    curl -sf -m 5 -H "Authorization: Bearer $1" -H 'Content-Type: application/json' \
      --data-binary @- "$ADDR/v1/keys/verify" <<<"{\"key\":\"$key\",\"scopes\":[\"read\"]}" |
      grep -q '"valid":true' && ok=$((ok + 1))
  done
  echo "$ok"
}

declare -A OUT
# load ROW URL PID METHOD EXPECT TOKEN: warm-up, then one measured run of wrk with
# keys_verify.lua; stores the RESULT fields + server cores in OUT[ROW].
load() {
  local row=$1 url=$2 pid=$3 method=$4 expect=$5 token=$6 c0 c1 line watcher=
  local wrk=("${wrk_pre[@]}" wrk "-t$WRK_THREADS" "-c$CONNS" --timeout 5s -s "$HERE/keys_verify.lua")
  local env=(env BENCH_KEYS="$TMP/keys.txt" BENCH_TOKEN="$token" BENCH_EXPECT="$expect"
    BENCH_METHOD="$method" BENCH_THREADS="$WRK_THREADS" BENCH_WALK="$WALK")
  if ((WARMUP > 0)); then
    "${env[@]}" timeout $((WARMUP + 60)) "${wrk[@]}" "-d${WARMUP}s" "$url" >/dev/null 2>&1 || true
  fi
  sleep 1
  if ((PERF_RECORD)) && [[ $row == verify-* ]]; then
    perf record -q -g -p "$pid" -o "$TMP/$row.perf.data" -- sleep "$DURATION" >/dev/null 2>&1 &
    watcher=$!
  fi
  c0=$(tree_cpu_ticks "$pid")
  "${env[@]}" timeout $((DURATION + 60)) "${wrk[@]}" "-d${DURATION}s" "$url" >"$TMP/$row.wrk" 2>&1 || true
  c1=$(tree_cpu_ticks "$pid")
  if [[ -n $watcher ]]; then wait "$watcher" || true; fi
  line=$(grep '^RESULT ' "$TMP/$row.wrk" | sed 's/^RESULT //') || {
    echo "$row: no result from wrk:" >&2; cat "$TMP/$row.wrk" >&2; return 1; }
  line+=" server_cores=$(awk -v a="$c0" -v b="$c1" -v t="$CLK_TCK" -v d="$DURATION" 'BEGIN{printf "%.2f", (b-a)/t/d}')"
  OUT[$row]=$line
}

declare -A HWM READY SAMPLE
ROWS=()
for mode in ${MODES//,/ }; do
  srv_pre=() wrk_pre=() threads=() WRK_THREADS=2 WORKERS=2 CPUSET=
  if [[ $mode == pinned ]]; then
    srv_pre=(taskset -c 0) wrk_pre=(taskset -c 1) threads=(env SIGIL_THREADS=1) WRK_THREADS=1
    WORKERS=1 CPUSET=0
  fi
  t0=$(date +%s.%N)
  "${srv_pre[@]}" "${threads[@]}" "$BIN" serve --data "$TMP/data" --listen "127.0.0.1:$PORT" \
    >"$TMP/serve-$mode.log" 2>&1 &
  PID=$!
  sigil_wait_ready "$ADDR" "$PID" 300
  READY[$mode]=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}')
  [[ -f $TMP/verifier.secret ]] || verifier_client "$ADDR"
  AUTH=$(printf 'key-verifier:%s' "$(cat "$TMP/verifier.secret")" | base64 -w0)
  TOKEN=$(curl -sf -m 5 -H "Authorization: Basic $AUTH" -d grant_type=client_credentials "$ADDR/oauth2/token" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
  before=$(check_sample "$TOKEN")
  [[ $before == 5 ]] || { echo "preflight: only $before of 5 sample keys verified as valid" >&2; exit 1; }
  load "verify-$mode" "$ADDR/v1/keys/verify" "$PID" POST '"valid":true' "$TOKEN"
  HWM[$mode]=$(proc_hwm_kb "$PID")
  SAMPLE[$mode]=$(check_sample "$TOKEN")
  load "healthz-$mode" "$ADDR/healthz" "$PID" GET '"status":"ok"' ""
  ROWS+=("verify-$mode" "healthz-$mode")
  sigil_stop_pid "$PID"
  PID=
  if ((NGINX)); then
    WORKERS=$WORKERS CPUSET=$CPUSET "$PEERS/nginx/start.sh" >/dev/null
    NGINX_UP=1
    load "nginx-$mode" http://127.0.0.1:18080/introspect "$(cat "$NGINX_PIDFILE")" POST '"active":true' "$TOKEN"
    "$PEERS/nginx/stop.sh" >/dev/null
    NGINX_UP=0
    ROWS+=("nginx-$mode")
  fi
done

echo "# sigil $("$BIN" version 2>/dev/null | head -1), $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, binary $BIN"
echo "# $NKEYS keys seeded in ${SEED_SECONDS:-?} s (sigil.db ${KEYS_MB} MiB); wrk -c$CONNS -d${DURATION}s after ${WARMUP}s warm-up; keys walked: $( ((WALK)) && echo "the first $WALK" || echo all)"
echo "# verify: POST /v1/keys/verify {\"key\",\"scopes\":[\"read\"]}, bearer token; healthz: GET /healthz (same sigil);"
echo "# nginx: POST /introspect, same request, canned 200 (../shared/peers/nginx); pinned = server core 0, wrk -t1 core 1"
printf '%-15s %10s %8s %8s %8s %7s %10s %12s %14s\n' row req/s p50_ms p99_ms max_ms errors unexpected server_cores req/s/core
declare -A RPS CORES
for row in "${ROWS[@]}"; do
  declare -A W=()
  for kv in ${OUT[$row]}; do W[${kv%%=*}]=${kv#*=}; done
  errors=$((W[err_connect] + W[err_read] + W[err_write] + W[err_status] + W[err_timeout]))
  RPS[$row]=${W[rps]} CORES[$row]=${W[server_cores]}
  per_core=$(awk -v r="${W[rps]}" -v c="${W[server_cores]}" 'BEGIN{printf "%.0f", (c>0 ? r/c : 0)}')
  printf '%-15s %10s %8s %8s %8s %7s %10s %12s %14s\n' "$row" "${W[rps]}" "${W[p50_ms]}" "${W[p99_ms]}" \
    "${W[max_ms]}" "$errors" "${W[unexpected]}" "${W[server_cores]}" "$per_core"
done
for mode in ${MODES//,/ }; do
  v=${RPS[verify-$mode]}
  line="$mode: verify/healthz $(awk -v a="$v" -v b="${RPS[healthz-$mode]}" 'BEGIN{printf "%.1f%%", 100*a/b}')"
  if [[ -n ${RPS[nginx-$mode]:-} ]]; then
    line+=", verify/nginx $(awk -v a="$v" -v b="${RPS[nginx-$mode]}" 'BEGIN{printf "%.1f%%", 100*a/b}')"
    line+=" (per server core $(awk -v a="$v" -v ca="${CORES[verify-$mode]}" -v b="${RPS[nginx-$mode]}" \
      -v cb="${CORES[nginx-$mode]}" 'BEGIN{printf "%.1f%%", (ca>0 && cb>0) ? 100*(a/ca)/(b/cb) : 0}'))"
  fi
  line+="; sigil ready ${READY[$mode]} s after start, peak RSS (VmHWM) $((HWM[$mode] / 1024)) MiB"
  line+="; sample keys valid after the load: ${SAMPLE[$mode]}/5"
  echo "$line"
done
