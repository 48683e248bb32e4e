#!/usr/bin/env bash
# bench/http/run.sh: the token and introspection endpoints over loopback under wrk.
#
# Starts `sigil serve` on a fresh data folder in a temporary directory, registers a client
# (scope api:read, audience https://api.bench), loads POST /oauth2/token (client_credentials,
# client_secret_basic) and then POST /oauth2/introspect (token=<one token>, same client) with
# wrk, each bounded by -d and by `timeout`, stops the server by its PID and prints, per
# endpoint: req/s, p50/p99 latency, errors, server CPU cores used; and the server's peak RSS.
#
# Usage: bench/http/run.sh [--port N (18091)] [--duration S (10)] [--warmup S (3)]
#                          [--conns N (32)] [--wrk-threads N (2)]
#                          [--pin] (server on core 0, `--wrk-threads 1` wrk on core 1)
#                          [--tmp DIR] (where the temporary data folder goes; default /tmp.
#                            A tmpfs such as /dev/shm makes the audit log's fdatasync nearly free:
#                            an experiment, not a deployment)
#                          [--keep] (keep the temporary directory: data, audit log, wrk output)
#                          [--syscalls] (count the server's fdatasync/write calls with `perf stat`
#                            during each measured run: fdatasync/s and audit records per fdatasync)
#                          [--perf-record] (`perf record -g` of the server during each measured
#                            run, to TMPDIR/ENDPOINT.perf.data; implies --keep)
# Env: SIGIL_BIN (default build-bench/src/cli/sigil, else build/src/cli/sigil).
# Needs wrk, curl, python3 (and taskset for --pin). All traffic stays on 127.0.0.1.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source-path=SCRIPTDIR source=../lib/sigil.sh
source "$HERE/../lib/sigil.sh"

PORT=18091 DURATION=10 WARMUP=3 CONNS=32 WRK_THREADS=2 PIN=0 KEEP=0 SYSCALLS=0 PERF_RECORD=0 TMPBASE=/tmp
while (($#)); do
  case $1 in
    --port) PORT=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --warmup) WARMUP=$2; shift 2 ;;
    --conns) CONNS=$2; shift 2 ;;
    --wrk-threads) WRK_THREADS=$2; shift 2 ;;
    --pin) PIN=1; WRK_THREADS=1; shift ;;
    --tmp) TMPBASE=$2; shift 2 ;;
    --keep) KEEP=1; shift ;;
    --syscalls) SYSCALLS=1; shift ;;
    --perf-record) PERF_RECORD=1; KEEP=1; shift ;;
    -h|--help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
for t in wrk curl python3 timeout; do command -v $t >/dev/null || { echo "missing $t" >&2; exit 1; }; done
BIN=$(sigil_bin)
ADDR=http://127.0.0.1:$PORT
if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then echo "port $PORT is in use" >&2; exit 1; fi

TMP=$(mktemp -d "$TMPBASE/sigil-http-bench.XXXXXX")
PID=
cleanup() {
  sigil_stop_pid "$PID"
  if ((KEEP)); then echo "kept $TMP"; else rm -rf "$TMP"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

srv_pre=() wrk_pre=()
if ((PIN)); then srv_pre=(taskset -c 0); wrk_pre=(taskset -c 1); fi
sigil_init "$BIN" "$TMP/data" "$ADDR" "$TMP/admin.env"
# In pinned mode one HTTP thread: the server has one core (the default is one per core).
threads=(); ((PIN)) && threads=(env SIGIL_THREADS=1)
"${srv_pre[@]}" "${threads[@]}" "$BIN" serve --data "$TMP/data" --listen "127.0.0.1:$PORT" >"$TMP/serve.log" 2>&1 &
PID=$!
sigil_wait_ready "$ADDR" "$PID"
sigil_bench_client "$BIN" "$ADDR" "$TMP/admin.env" bench-client "$TMP/client.secret"
AUTH=$(printf 'bench-client:%s' "$(cat "$TMP/client.secret")" | base64 -w0)

TOKEN=$(curl -sf -m 5 -H "Authorization: Basic $AUTH" -d grant_type=client_credentials "$ADDR/oauth2/token" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
curl -sf -m 5 -H "Authorization: Basic $AUTH" --data "token=$TOKEN" "$ADDR/oauth2/introspect" |
  python3 -c 'import json,sys; sys.exit(0 if json.load(sys.stdin).get("active") is True else 1)' ||
  { echo "introspection preflight did not answer active:true" >&2; exit 1; }

CLK_TCK=$(getconf CLK_TCK)
declare -A OUTL
# load NAME PATH BODY: warm-up, then one measured run; prints the RESULT fields + server cores.
load() {
  local name=$1 path=$2 body=$3 c0 c1 line
  local wrk=("${wrk_pre[@]}" wrk "-t$WRK_THREADS" "-c$CONNS" --timeout 5s -s "$HERE/form_post.lua")
  if ((WARMUP > 0)); then
    BENCH_AUTH=$AUTH BENCH_BODY=$body timeout $((WARMUP + 30)) "${wrk[@]}" "-d${WARMUP}s" "$ADDR$path" >/dev/null 2>&1 || true
  fi
  sleep 1  # let the audit writer and the sockets settle
  local a0 a1 watcher=
  a0=$(wc -l <"$TMP/data/audit.log")
  if ((SYSCALLS)); then
    perf stat -x, -e syscalls:sys_enter_fdatasync,syscalls:sys_enter_write -p "$PID" -o "$TMP/$name.perfstat" \
      -- sleep "$DURATION" >/dev/null 2>&1 &
    watcher=$!
  elif ((PERF_RECORD)); then
    perf record -q -g -p "$PID" -o "$TMP/$name.perf.data" -- sleep "$DURATION" >/dev/null 2>&1 &
    watcher=$!
  fi
  c0=$(proc_cpu_ticks "$PID")
  BENCH_AUTH=$AUTH BENCH_BODY=$body timeout $((DURATION + 30)) "${wrk[@]}" "-d${DURATION}s" "$ADDR$path" >"$TMP/$name.wrk" 2>&1 || true
  c1=$(proc_cpu_ticks "$PID")
  if [[ -n $watcher ]]; then wait "$watcher" || true; fi
  a1=$(wc -l <"$TMP/data/audit.log")
  line=$(grep '^RESULT ' "$TMP/$name.wrk" | sed 's/^RESULT //') || { echo "$name: no result from wrk:" >&2; cat "$TMP/$name.wrk" >&2; return 1; }
  line+=" server_cores=$(awk -v a="$c0" -v b="$c1" -v t="$CLK_TCK" -v d="$DURATION" 'BEGIN{printf "%.2f", (b-a)/t/d}')"
  line+=" audit_records=$((a1 - a0))"
  if ((SYSCALLS)) && [[ -f $TMP/$name.perfstat ]]; then
    local syncs writes
    syncs=$(awk -F, '/sys_enter_fdatasync/{print $1}' "$TMP/$name.perfstat")
    writes=$(awk -F, '/sys_enter_write/{print $1}' "$TMP/$name.perfstat")
    line+=" fdatasync=${syncs:-nan} writes=${writes:-nan}"
  fi
  OUTL[$name]=$line
}
load token /oauth2/token grant_type=client_credentials
load introspect /oauth2/introspect "token=$TOKEN"
HWM=$(proc_hwm_kb "$PID")
curl -sf -m 5 -H "Authorization: Basic $AUTH" --data "token=$TOKEN" "$ADDR/oauth2/introspect" | grep -q '"active":true' ||
  echo "WARNING: the token is no longer active after the load" >&2
AUDIT_LINES=$(wc -l <"$TMP/data/audit.log")

mode=shared; ((PIN)) && mode="pinned (server core 0, 1 HTTP thread; wrk core 1)"
echo "# sigil $("$BIN" version 2>/dev/null | head -1), $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, mode $mode"
echo "# data folder on $(df --output=fstype "$TMP" | tail -1) ($TMPBASE)"
echo "# wrk -t$WRK_THREADS -c$CONNS -d${DURATION}s after ${WARMUP}s warm-up, $ADDR, binary $BIN"
printf '%-11s %10s %8s %8s %8s %7s %12s %14s\n' endpoint req/s p50_ms p99_ms max_ms errors server_cores audit_records
for name in token introspect; do
  declare -A W=()
  for kv in ${OUTL[$name]}; do W[${kv%%=*}]=${kv#*=}; done
  errors=$((W[err_connect] + W[err_read] + W[err_write] + W[err_status] + W[err_timeout]))
  printf '%-11s %10s %8s %8s %8s %7s %12s %14s\n' "$name" "${W[rps]}" "${W[p50_ms]}" "${W[p99_ms]}" "${W[max_ms]}" "$errors" "${W[server_cores]}" "${W[audit_records]}"
  if [[ -n ${W[fdatasync]:-} ]]; then
    awk -v n="$name" -v s="${W[fdatasync]}" -v w="${W[writes]}" -v r="${W[audit_records]}" -v d="$DURATION" \
      'BEGIN{printf "  %s: %d fdatasync (%.0f/s), %.1f audit records per fdatasync, %d write() calls (sockets and audit log)\n", n, s, s/d, (s>0 ? r/s : 0), w}'
  fi
done
echo "peak RSS (VmHWM): $((HWM / 1024)) MiB ($HWM kB); audit records written: $AUDIT_LINES"
