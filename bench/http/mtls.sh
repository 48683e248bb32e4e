#!/usr/bin/env bash
# bench/http/mtls.sh: full mutual-TLS handshakes per second against a running listener, with
# `openssl s_time`, next to the same client asking for session reuse.
#
# For each TLS version (--tls, default 1.3 then 1.2) it runs, each bounded by `timeout`:
#   openssl s_time -connect HOST:PORT -new   -cert C -key K -CAfile B -time S   (full handshakes)
#   openssl s_time -connect HOST:PORT -reuse -cert C -key K -CAfile B -time S   (resumption asked)
# and prints, per run: connections, wall seconds, connections per second, how many of them the
# server resumed (s_time marks each 'r' resumed or '*' full; sigil's mTLS listener turns
# resumption off, so there -reuse measures full handshakes too), and the client's CPU cost
# (s_time's connections per user-CPU second). With --pid, also the server's CPU cores used and
# handshakes per server core (utime+stime of that process from /proc).
#
# Before measuring it checks, with `openssl s_client` and one HTTP GET (--path), that the
# listener answers a client presenting C/K (server certificate verified against B) and refuses
# one presenting none. In TLS 1.3 the client finishes its handshake before the server has
# judged its certificate, and s_time never reads, so a refused certificate would otherwise be
# counted as a handshake. --www PATH makes s_time fetch PATH on every connection as well;
# in TLS 1.3 a client sees the server's session tickets only by reading, so -reuse can resume
# (on a server that allows it) only with --www.
#
# Usage: bench/http/mtls.sh --connect HOST:PORT --cert FILE --key FILE --cafile FILE
#                           [--time S (10)] [--tls 1.3,1.2] [--www PATH] [--path PATH (/healthz)]
#                           [--pid PID] [--no-check]
#   HOST is a name or an IPv4 address; the server name (SNI) is sent for a name only.
# Try it without sigil (test certificates; s_server answers any GET with -www):
#   openssl s_server -accept 127.0.0.1:18444 -cert server.pem -key server.key -CAfile ca.pem \
#     -Verify 1 -verify_return_error -www -quiet &
#   bench/http/mtls.sh --connect 127.0.0.1:18444 --cert client.pem --key client.key --cafile ca.pem
# Needs openssl and timeout. Sends nothing but handshakes and GETs to HOST:PORT.
set -euo pipefail

CONNECT='' CERT='' KEY='' CAFILE='' TIME=10 VERSIONS=1.3,1.2 WWW='' CHECK_PATH=/healthz PID='' CHECK=1
while (($#)); do
  case $1 in
    --connect) CONNECT=$2; shift 2 ;;
    --cert) CERT=$2; shift 2 ;;
    --key) KEY=$2; shift 2 ;;
    --cafile) CAFILE=$2; shift 2 ;;
    --time) TIME=$2; shift 2 ;;
    --tls) VERSIONS=$2; shift 2 ;;
    --www) WWW=$2; shift 2 ;;
    --path) CHECK_PATH=$2; shift 2 ;;
    --pid) PID=$2; shift 2 ;;
    --no-check) CHECK=0; shift ;;
    -h|--help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
if ! [[ $CONNECT =~ ^([A-Za-z0-9.-]+):([0-9]{1,5})$ ]] || ((10#${BASH_REMATCH[2]} < 1 || 10#${BASH_REMATCH[2]} > 65535)); then
  echo "--connect must be HOST:PORT (got '$CONNECT')" >&2; exit 2
fi
HOST=${BASH_REMATCH[1]}
for f in CERT KEY CAFILE; do
  [[ -n ${!f} ]] || { echo "--${f,,} is required" >&2; exit 2; }
  [[ -r ${!f} ]] || { echo "cannot read ${!f}" >&2; exit 2; }
done
[[ $TIME =~ ^[1-9][0-9]*$ ]] || { echo "--time must be a positive number of seconds" >&2; exit 2; }
for p in "$WWW" "$CHECK_PATH"; do
  [[ -z $p || $p =~ ^/[A-Za-z0-9._~/?=\&%-]*$ ]] || { echo "a path must start with / and hold no spaces: '$p'" >&2; exit 2; }
done
[[ -z $PID || ( $PID =~ ^[0-9]+$ && -r /proc/$PID/stat ) ]] || { echo "--pid $PID: no such process" >&2; exit 2; }
declare -A TLS_FLAG=([1.2]=-tls1_2 [1.3]=-tls1_3)
for v in ${VERSIONS//,/ }; do [[ -n ${TLS_FLAG[$v]:-} ]] || { echo "--tls: unknown version $v (1.2, 1.3)" >&2; exit 2; }; done
for t in openssl timeout; do command -v $t >/dev/null || { echo "missing $t" >&2; exit 1; }; done

SNI=()
[[ $HOST =~ ^[0-9.]+$ ]] || SNI=(-servername "$HOST")
CLIENT=(-cert "$CERT" -key "$KEY")

# http_status TLS_FLAG [client certificate options...]: the status line of one GET, or nothing.
http_status() {
  local flag=$1; shift
  printf 'GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n' "$CHECK_PATH" "$HOST" |
    timeout 10 openssl s_client -quiet -verify_return_error "$flag" -connect "$CONNECT" "${SNI[@]}" \
      -CAfile "$CAFILE" "$@" 2>/dev/null | tr -d '\r' | grep -m1 '^HTTP/' || true
}

if ((CHECK)); then
  for v in ${VERSIONS//,/ }; do
    with=$(http_status "${TLS_FLAG[$v]}" "${CLIENT[@]}")
    [[ -n $with ]] || { echo "TLS $v: no HTTP answer with the client certificate (GET $CHECK_PATH; server certificate checked against $CAFILE)" >&2; exit 1; }
    without=$(http_status "${TLS_FLAG[$v]}")
    [[ -z $without ]] || { echo "TLS $v: answered '$without' without a client certificate: not a mutual-TLS listener" >&2; exit 1; }
  done
fi

clk_tck=$(getconf CLK_TCK)
cpu_ticks() { sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | awk '{print $12+$13}'; }

# run VERSION MODE: one s_time run; prints one table row.
run() {
  local v=$1 mode=$2 out t0 t1 c0=0 c1=0 conns user_rate full reused secs rate cores per_core
  local www=()
  [[ -n $WWW ]] && www=(-www "$WWW")
  [[ -n $PID ]] && c0=$(cpu_ticks "$PID")
  t0=$(date +%s.%N)
  out=$(timeout $((TIME + 60)) openssl s_time -connect "$CONNECT" "-$mode" "${TLS_FLAG[$v]}" \
    "${CLIENT[@]}" -CAfile "$CAFILE" -time "$TIME" "${www[@]}" 2>&1) || {
    echo "TLS $v $mode: s_time failed:" >&2; grep -v '^[*r]*$' <<<"$out" | head -5 >&2; return 1; }
  t1=$(date +%s.%N)
  [[ -n $PID ]] && c1=$(cpu_ticks "$PID")
  # "N connections in Xs; R connections/user sec, bytes read B"
  conns='' user_rate=''
  read -r conns user_rate < <(sed -n 's/^\([0-9]*\) connections in [0-9.]*s; \([0-9.]*\) connections\/user sec.*/\1 \2/p' <<<"$out" | head -1) || true
  [[ -n $conns ]] || { echo "TLS $v $mode: no result from s_time" >&2; return 1; }
  # Progress marks: one per connection, 'r' when the session was resumed.
  full=$(grep -E '^[*r]+$' <<<"$out" | tr -cd '*' | wc -c)
  reused=$(grep -E '^[*r]+$' <<<"$out" | tr -cd 'r' | wc -c)
  secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.2f", b-a}')
  rate=$(awk -v n="$conns" -v s="$secs" 'BEGIN{printf "%.0f", n/s}')
  cores=- per_core=-
  if [[ -n $PID ]]; then
    cores=$(awk -v a="$c0" -v b="$c1" -v t="$clk_tck" -v s="$secs" 'BEGIN{printf "%.2f", (b-a)/t/s}')
    per_core=$(awk -v r="$rate" -v c="$cores" 'BEGIN{printf "%.0f", (c > 0 ? r / c : 0)}')
  fi
  printf '%-8s %-6s %12s %8s %10s %8s %8s %16s %12s %14s\n' "TLSv$v" "$mode" "$conns" "$secs" "$rate" \
    "$full" "$reused" "$user_rate" "$cores" "$per_core"
}

echo "# mTLS handshakes against $CONNECT, $(openssl version | cut -d' ' -f1-2), $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores"
echo "# client certificate: $(openssl x509 -in "$CERT" -noout -subject 2>/dev/null | sed 's/^subject=//'); s_time -time $TIME${WWW:+ -www $WWW}"
printf '%-8s %-6s %12s %8s %10s %8s %8s %16s %12s %14s\n' version mode connections seconds conn/s full resumed client_conn/cpu_s server_cores conn/s/core
for v in ${VERSIONS//,/ }; do
  run "$v" new
  run "$v" reuse
done
