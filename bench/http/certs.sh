#!/usr/bin/env bash
# bench/http/certs.sh: certificate issuance (POST /v1/certificates) over loopback under wrk,
# and full mutual-TLS handshakes on sigil's mTLS listener next to `openssl s_server` with
# the same kind of certificates, in the same call.
#
# Initialises a fresh data folder in a temporary directory, creates the CA there
# (`sigil ca init --trust-domain bench.example`, P-256), then per mode:
#   1. starts `sigil serve` with the mTLS listener (SIGIL_MTLS_LISTEN) and a token lifetime
#      of one hour;
#   2. first mode only: registers a client (scope cert:issue, audience the issuer; its secret
#      in a 0600 file), gets its token, makes one P-256 key and CSR with openssl (the fixed
#      body every request sends: the server's work is the same per request) and, with
#      `sigil cert issue`, two P-256 certificates for the TLS runs (svid.key/svid.pem/
#      bundle.pem: one for the client, one for s_server);
#   3. checks one issuance with curl (201, the client's SPIFFE ID, the CSR's key, a chain
#      that `openssl verify` accepts with the bundle), loads POST /v1/certificates with wrk
#      and bench/http/certs_post.lua --rounds times after one warm-up (every answer that is
#      not a certificate is counted), counts the audit records written meanwhile (one
#      certificate.issue per certificate), and checks one issuance again;
#   4. starts the physical limit beside it: `openssl s_server -Verify 1 -verify_return_error
#      -www` with the s_server certificate and key (its intermediate sent as the chain; roots
#      and intermediate trusted for client certificates, as sigil trusts its own CA; no
#      session cache and no tickets, as sigil's listener);
#   5. runs bench/http/mtls.sh (full handshakes, GET /healthz on every connection) against
#      sigil's mTLS listener, then against s_server, alternating --rounds times, and stops
#      both by their PIDs. Neither server resumes sessions, so s_time's -reuse runs are full
#      handshakes too and count as samples (checked: 0 resumed).
# Every wrk, curl and openssl run is bounded by `timeout`. Prints, per mode: certificates/s
# per round and their median, p50/p99, errors, unexpected answers, server cores used,
# certificates/s per server core, audit records; handshakes/s of sigil and s_server per TLS
# version (median of the samples) and their ratio, also per server core; sigil's peak RSS.
#
# Usage: bench/http/certs.sh [--modes shared,pinned (both)] [--port N (18093)]
#                            [--mtls-port N (18445)] [--s-server-port N (18446)]
#                            [--duration S (10)] [--warmup S (3)] [--conns N (32)]
#                            [--rounds N (2)] [--mtls-time S (5)] [--tls 1.3,1.2] [--no-mtls]
#                            [--syscalls] (count sigil's fsync/fdatasync/write calls with
#                              `perf stat` during each measured issuance run)
#                            [--tmp DIR (/tmp)] [--keep]
#   pinned: sigil (and s_server) on core 0 with one HTTP thread (SIGIL_THREADS=1), wrk -t1 and
#           the TLS client (s_time) on core 1;
#   shared: sigil with its default threads and wrk -t2, all unpinned on every core.
# Env: SIGIL_BIN (default build-bench/src/cli/sigil, else build/src/cli/sigil).
# Needs wrk, curl, openssl, python3, timeout, taskset. All traffic stays on 127.0.0.1.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source-path=SCRIPTDIR source=../lib/sigil.sh
source "$HERE/../lib/sigil.sh"

MODES=shared,pinned PORT=18093 MTLS_PORT=18445 SSERVER_PORT=18446 DURATION=10 WARMUP=3 CONNS=32
MTLS_TIME=5 TLS=1.3,1.2 MTLS=1 ROUNDS=2 SYSCALLS=0 TMPBASE=/tmp KEEP=0
while (($#)); do
  case $1 in
    --modes) MODES=$2; shift 2 ;;
    --port) PORT=$2; shift 2 ;;
    --mtls-port) MTLS_PORT=$2; shift 2 ;;
    --s-server-port) SSERVER_PORT=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --warmup) WARMUP=$2; shift 2 ;;
    --conns) CONNS=$2; shift 2 ;;
    --mtls-time) MTLS_TIME=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    --tls) TLS=$2; shift 2 ;;
    --no-mtls) MTLS=0; shift ;;
    --syscalls) SYSCALLS=1; shift ;;
    --tmp) TMPBASE=$2; shift 2 ;;
    --keep) KEEP=1; shift ;;
    -h|--help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
for m in ${MODES//,/ }; do [[ $m == shared || $m == pinned ]] || { echo "unknown mode $m" >&2; exit 2; }; done
for n in PORT MTLS_PORT SSERVER_PORT; do
  if ! [[ ${!n} =~ ^[0-9]{1,5}$ ]] || ((10#${!n} < 1024 || 10#${!n} > 65535)); then echo "bad port ${!n}" >&2; exit 2; fi
done
for n in DURATION MTLS_TIME CONNS ROUNDS; do [[ ${!n} =~ ^[1-9][0-9]*$ ]] || { echo "bad ${n,,}: ${!n}" >&2; exit 2; }; done
[[ $WARMUP =~ ^[0-9]+$ ]] || { echo "bad warmup: $WARMUP" >&2; exit 2; }
[[ $TLS =~ ^(1\.[23])(,1\.[23])?$ ]] || { echo "--tls: 1.3, 1.2 or both, comma-separated" >&2; exit 2; }
for t in wrk curl openssl python3 timeout taskset; do command -v $t >/dev/null || { echo "missing $t" >&2; exit 1; }; done
((SYSCALLS)) && { command -v perf >/dev/null || { echo "missing perf (--syscalls)" >&2; exit 1; }; }
BIN=$(sigil_bin)
ADDR=http://127.0.0.1:$PORT
TRUST_DOMAIN=bench.example CLIENT_ID=certs-client
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for p in "$PORT" "$MTLS_PORT" "$SSERVER_PORT"; do
  if port_busy "$p"; then echo "port $p is in use" >&2; exit 1; fi
done

TMP=$(mktemp -d "$TMPBASE/sigil-certs-bench.XXXXXX")
PID='' SPID=''
cleanup() {
  sigil_stop_pid "$PID"
  if [[ -n $SPID ]]; then kill -TERM "$SPID" 2>/dev/null || true; wait "$SPID" 2>/dev/null || true; fi
  rm -f "$TMP/admin.env" "$TMP/client.secret" "$TMP/token"  # never kept, even with --keep
  if ((KEEP)); then echo "kept $TMP"; else rm -rf "$TMP"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

sigil_init "$BIN" "$TMP/data" "$ADDR" "$TMP/admin.env"
"$BIN" ca init --data "$TMP/data" --trust-domain "$TRUST_DOMAIN" >"$TMP/ca-init.txt" 2>&1 ||
  { echo "sigil ca init failed:" >&2; cat "$TMP/ca-init.txt" >&2; exit 1; }

# start_sigil MODE: sigil serve with the mTLS listener; sets PID.
start_sigil() {
  local pre=() threads=()
  if [[ $1 == pinned ]]; then pre=(taskset -c 0); threads=(SIGIL_THREADS=1); fi
  "${pre[@]}" env "${threads[@]}" SIGIL_MTLS_LISTEN="127.0.0.1:$MTLS_PORT" \
    "$BIN" serve --data "$TMP/data" --listen "127.0.0.1:$PORT" --token-lifetime 3600 \
    >>"$TMP/serve.log" 2>&1 &
  PID=$!
  sigil_wait_ready "$ADDR" "$PID"
}

# prepare: the client, its token, the fixed CSR body, and the certificates for the TLS runs.
prepare() {
  local out
  # shellcheck source=/dev/null
  out=$(set -a; source "$TMP/admin.env"; SIGIL_ADDR=$ADDR "$BIN" client create --id "$CLIENT_ID" \
    --name certs-bench --scope cert:issue --audience "$ADDR" -o json 2>/dev/null) ||
    { echo "sigil client create failed" >&2; return 1; }
  (umask 077; python3 -c 'import json,sys; print(json.load(sys.stdin)["client_secret"])' <<<"$out" >"$TMP/client.secret") ||
    { echo "sigil client create: no client_secret in its answer" >&2; return 1; }
  local auth
  auth=$(printf '%s:%s' "$CLIENT_ID" "$(cat "$TMP/client.secret")" | base64 -w0)
  (umask 077; timeout 10 curl -sf -H "Authorization: Basic $auth" -d grant_type=client_credentials \
    -d scope=cert:issue "$ADDR/oauth2/token" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])' >"$TMP/token") ||
    { echo "no token with scope cert:issue" >&2; return 1; }
  (umask 077; openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$TMP/csr.key" 2>/dev/null)
  openssl req -new -key "$TMP/csr.key" -subj /CN=certs-bench -out "$TMP/csr.pem"
  python3 -c 'import json,sys; print(json.dumps({"csr": open(sys.argv[1]).read()}), end="")' \
    "$TMP/csr.pem" >"$TMP/body.json"
  local who
  for who in client s_server; do
    mkdir -m 700 "$TMP/$who"
    (export SIGIL_ADDR=$ADDR SIGIL_CLIENT_ID=$CLIENT_ID
     SIGIL_CLIENT_SECRET=$(cat "$TMP/client.secret"); export SIGIL_CLIENT_SECRET
     timeout 30 "$BIN" cert issue --out "$TMP/$who" --key-type P-256 >"$TMP/$who.issue.txt" 2>&1) ||
      { echo "sigil cert issue ($who) failed:" >&2; cat "$TMP/$who.issue.txt" >&2; return 1; }
  done
  # s_server: the leaf, then the intermediate as its chain; client certificates are checked
  # against the roots and the intermediate (s_time sends its leaf only, as a client may).
  awk -v d="$TMP/s_server" '/-----BEGIN CERTIFICATE-----/{n++} {print > (d "/part" n ".pem")}' "$TMP/s_server/svid.pem"
  [[ -s $TMP/s_server/part1.pem && -s $TMP/s_server/part2.pem ]] || { echo "svid.pem is not leaf + intermediate" >&2; return 1; }
  cat "$TMP/s_server/bundle.pem" "$TMP/s_server/part2.pem" >"$TMP/s_server/trusted.pem"
}

# check_issue: one issuance with curl, its answer checked.
check_issue() {
  timeout 10 curl -s -o "$TMP/check.json" -w '%{http_code}' -H "Authorization: Bearer $(cat "$TMP/token")" \
    -H 'Content-Type: application/json' --data-binary @"$TMP/body.json" "$ADDR/v1/certificates" >"$TMP/check.status" || true
  [[ $(cat "$TMP/check.status") == 201 ]] || { echo "POST /v1/certificates answered $(cat "$TMP/check.status")" >&2; return 1; }
  python3 - "$TMP/check.json" "$TMP" "spiffe://$TRUST_DOMAIN/$CLIENT_ID" <<'PY' || return 1
import json, sys
answer, tmp, want = json.load(open(sys.argv[1])), sys.argv[2], sys.argv[3]
if answer.get('spiffe_id') != want:
    sys.exit(f"issued for {answer.get('spiffe_id')!r}, expected {want!r}")
open(f'{tmp}/check.leaf.pem', 'w').write(answer['certificate'])
open(f'{tmp}/check.chain.pem', 'w').write(answer['chain'])
open(f'{tmp}/check.bundle.pem', 'w').write(answer['bundle'])
PY
  timeout 10 openssl verify -CAfile "$TMP/check.bundle.pem" -untrusted "$TMP/check.chain.pem" \
    -purpose sslclient "$TMP/check.leaf.pem" >/dev/null ||
    { echo "the issued certificate does not verify against the bundle" >&2; return 1; }
  # Its key is the CSR's.
  [[ $(openssl x509 -in "$TMP/check.leaf.pem" -noout -pubkey) == $(openssl pkey -in "$TMP/csr.key" -pubout) ]] ||
    { echo "the issued certificate does not hold the CSR's key" >&2; return 1; }
}

CLK_TCK=$(getconf CLK_TCK)

# load_certs MODE ROUND: (warm-up in round 1,) one measured wrk run; writes its RESULT fields
# to TMP/certs-MODE-ROUND.result.
load_certs() {
  local mode=$1 round=$2 wrk_pre=() wrk_threads=2 c0 c1 a0 a1 line watcher=''
  if [[ $mode == pinned ]]; then wrk_pre=(taskset -c 1); wrk_threads=1; fi
  local wrk=("${wrk_pre[@]}" wrk "-t$wrk_threads" "-c$CONNS" --timeout 5s -s "$HERE/certs_post.lua")
  export BENCH_BODY_FILE=$TMP/body.json BENCH_TOKEN
  BENCH_TOKEN=$(cat "$TMP/token")
  if ((round == 1 && WARMUP > 0)); then
    timeout $((WARMUP + 30)) "${wrk[@]}" "-d${WARMUP}s" "$ADDR/v1/certificates" >/dev/null 2>&1 || true
  fi
  sleep 1  # let the audit writer and the sockets settle
  a0=$(wc -l <"$TMP/data/audit.log")
  if ((SYSCALLS)); then
    perf stat -x, -e syscalls:sys_enter_fsync,syscalls:sys_enter_fdatasync,syscalls:sys_enter_write \
      -p "$PID" -o "$TMP/certs-$mode-$round.perfstat" -- sleep "$DURATION" >/dev/null 2>&1 &
    watcher=$!
  fi
  c0=$(proc_cpu_ticks "$PID")
  timeout $((DURATION + 30)) "${wrk[@]}" "-d${DURATION}s" "$ADDR/v1/certificates" >"$TMP/certs-$mode-$round.wrk" 2>&1 || true
  c1=$(proc_cpu_ticks "$PID")
  if [[ -n $watcher ]]; then wait "$watcher" || true; fi
  a1=$(wc -l <"$TMP/data/audit.log")
  unset BENCH_TOKEN
  line=$(grep '^RESULT ' "$TMP/certs-$mode-$round.wrk" | sed 's/^RESULT //') ||
    { echo "$mode: no result from wrk:" >&2; cat "$TMP/certs-$mode-$round.wrk" >&2; return 1; }
  line+=" server_cores=$(awk -v a="$c0" -v b="$c1" -v t="$CLK_TCK" -v d="$DURATION" 'BEGIN{printf "%.2f", (b-a)/t/d}')"
  line+=" audit_records=$((a1 - a0))"
  if ((SYSCALLS)) && [[ -f $TMP/certs-$mode-$round.perfstat ]]; then
    local f
    for f in fsync fdatasync write; do
      line+=" $f=$(awk -F, -v e="syscalls:sys_enter_$f" '$3 == e {print $1}' "$TMP/certs-$mode-$round.perfstat")"
    done
  fi
  echo "$line" >"$TMP/certs-$mode-$round.result"
}

# mtls MODE ROUND NAME PORT PID: bench/http/mtls.sh against one listener with the client
# certificate, into TMP/mtls-NAME-MODE-ROUND.txt.
mtls() {
  local mode=$1 round=$2 name=$3 port=$4 pid=$5 dir=$TMP/client pre=()
  [[ $mode == pinned ]] && pre=(taskset -c 1)
  "${pre[@]}" "$HERE/mtls.sh" --connect "127.0.0.1:$port" --cert "$dir/svid.pem" --key "$dir/svid.key" \
    --cafile "$dir/bundle.pem" --time "$MTLS_TIME" --tls "$TLS" --www /healthz --path /healthz \
    --pid "$pid" >"$TMP/mtls-$name-$mode-$round.txt" 2>&1 ||
    { echo "mtls.sh against $name ($mode) failed:" >&2; cat "$TMP/mtls-$name-$mode-$round.txt" >&2; return 1; }
}

start_s_server() {
  local mode=$1 pre=() i
  [[ $mode == pinned ]] && pre=(taskset -c 0)
  "${pre[@]}" openssl s_server -accept "127.0.0.1:$SSERVER_PORT" -cert "$TMP/s_server/part1.pem" \
    -key "$TMP/s_server/svid.key" -cert_chain "$TMP/s_server/part2.pem" -CAfile "$TMP/s_server/trusted.pem" \
    -Verify 1 -verify_return_error -www -quiet -no_cache -no_ticket -num_tickets 0 \
    </dev/null >"$TMP/s_server-$mode.log" 2>&1 &
  SPID=$!
  for ((i = 0; i < 100; i++)); do
    port_busy "$SSERVER_PORT" && return 0
    kill -0 "$SPID" 2>/dev/null || { echo "s_server exited:" >&2; cat "$TMP/s_server-$mode.log" >&2; return 1; }
    sleep 0.1
  done
  echo "s_server not listening after 10 s" >&2
  return 1
}

HWM=0 PREPARED=0
for mode in ${MODES//,/ }; do
  start_sigil "$mode"
  if ((!PREPARED)); then prepare; PREPARED=1; fi
  check_issue
  for ((r = 1; r <= ROUNDS; r++)); do load_certs "$mode" "$r"; done
  check_issue
  if ((MTLS)); then
    start_s_server "$mode"
    for ((r = 1; r <= ROUNDS; r++)); do
      mtls "$mode" "$r" sigil "$MTLS_PORT" "$PID"
      mtls "$mode" "$r" s_server "$SSERVER_PORT" "$SPID"
    done
    kill -TERM "$SPID" 2>/dev/null || true; wait "$SPID" 2>/dev/null || true; SPID=''
  fi
  h=$(proc_hwm_kb "$PID"); ((h > HWM)) && HWM=$h
  sigil_stop_pid "$PID"; PID=''
done

echo "# $("$BIN" version 2>/dev/null | head -1), $(openssl version | cut -d' ' -f1-2), $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# binary $BIN; data folder on $(df --output=fstype "$TMP" | tail -1) ($TMPBASE); CA P-256, CSR P-256"
echo "# POST /v1/certificates: wrk -c$CONNS -d${DURATION}s x $ROUNDS after ${WARMUP}s warm-up (pinned: sigil core 0, 1 HTTP thread, wrk -t1 core 1; shared: wrk -t2, unpinned)"
if ((MTLS)); then
  echo "# mTLS: bench/http/mtls.sh --www /healthz --time $MTLS_TIME, sigil then s_server, x $ROUNDS (pinned: server core 0, s_time core 1)"
  echo "#   s_server -Verify 1 -verify_return_error -www -no_cache -no_ticket -num_tickets 0"
  for mode in ${MODES//,/ }; do
    for ((r = 1; r <= ROUNDS; r++)); do
      for name in sigil s_server; do
        echo "## $name, $mode, round $r"
        grep -v '^#' "$TMP/mtls-$name-$mode-$r.txt"
      done
    done
  done
  echo
fi
python3 - "$TMP" "$MODES" "$ROUNDS" "$MTLS" "$TLS" "$DURATION" <<'PY'
import glob, statistics, sys
tmp, modes, rounds, mtls, versions, duration = sys.argv[1], sys.argv[2].split(','), int(sys.argv[3]), sys.argv[4] == '1', sys.argv[5].split(','), float(sys.argv[6])
def fields(path):
    return dict(kv.split('=', 1) for kv in open(path).read().split())
print('POST /v1/certificates')
print(f"{'mode':<7} {'round':>6} {'certs/s':>9} {'p50_ms':>8} {'p99_ms':>8} {'max_ms':>8} {'errors':>7} "
      f"{'unexpected':>10} {'server_cores':>12} {'certs/s/core':>13} {'audit_records':>14}")
for mode in modes:
    rates = []
    for r in range(1, rounds + 1):
        w = fields(f'{tmp}/certs-{mode}-{r}.result')
        errors = sum(int(w[k]) for k in ('err_connect', 'err_read', 'err_write', 'err_status', 'err_timeout'))
        rps, cores = float(w['rps']), float(w['server_cores'])
        rates.append(rps)
        print(f"{mode:<7} {r:>6} {rps:>9.1f} {w['p50_ms']:>8} {w['p99_ms']:>8} {w['max_ms']:>8} {errors:>7} "
              f"{w['unexpected']:>10} {cores:>12.2f} {(rps / cores if cores else 0):>13.0f} {w['audit_records']:>14}")
        if 'fdatasync' in w:
            syncs = int(w['fsync'] or 0) + int(w['fdatasync'] or 0)
            issued = int(w['issued'])
            print(f"  {mode} round {r}: {w['fsync'] or 0} fsync + {w['fdatasync'] or 0} fdatasync "
                  f"({syncs / duration:.0f}/s), {(syncs / issued if issued else 0):.2f} per certificate, "
                  f"{w['write'] or 0} write() calls")
    print(f"{mode:<7} {'median':>6} {statistics.median(rates):>9.1f}")
if mtls:
    # Every row is a full handshake when 0 were resumed: new and reuse rows are samples alike.
    print()
    print('mutual TLS, full handshakes/s (median of new and reuse runs, all rounds)')
    print(f"{'mode':<7} {'version':<8} {'sigil':>8} {'s_server':>9} {'ratio':>7} {'sigil/core':>11} {'s_server/core':>14} {'ratio':>7} {'samples':>8}")
    for mode in modes:
        for v in versions:
            med = {}
            for name in ('sigil', 's_server'):
                rate, core = [], []
                for path in sorted(glob.glob(f'{tmp}/mtls-{name}-{mode}-*.txt')):
                    for line in open(path):
                        p = line.split()
                        if len(p) == 10 and p[0] == f'TLSv{v}':
                            if p[6] != '0':
                                sys.exit(f'{path}: {p[6]} resumed handshakes in a {p[1]} run')
                            rate.append(float(p[4])); core.append(float(p[9]))
                med[name] = (statistics.median(rate), statistics.median(core), len(rate))
            (a, ac, n), (b, bc, _) = med['sigil'], med['s_server']
            print(f"{mode:<7} TLSv{v:<4} {a:>8.0f} {b:>9.0f} {a / b:>7.1%} {ac:>11.0f} {bc:>14.0f} {ac / bc:>7.1%} {n:>8}")
PY
echo "sigil peak RSS (VmHWM): $((HWM / 1024)) MiB; audit records written: $(wc -l <"$TMP/data/audit.log")"
