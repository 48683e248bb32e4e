#!/usr/bin/env bash
# bench/http/exchange.sh: the token endpoint's federation and delegation grants as a ratio
# to plain client credentials, in the same run on the same server.
#
# Starts a fake external OIDC issuer (bench/http/exchange_issuer.py: one ES256 key, its
# discovery document and JWKS on 127.0.0.1) and one `sigil serve --policy` whose policy
# grants bench-client api:read at https://api.bench and trusts that issuer (a rule maps
# repository acme/bench to bench-client). Then, per round, wrk loads POST /oauth2/token with
#   client_credentials  client_secret_basic as bench-client (the baseline);
#   jwt-bearer          assertion = an external token minted by the fake issuer, no client
#                       authentication (the CI case): one ES256 verification more;
#   token-exchange      subject_token = a sigil access token of bench-client, actor =
#                       bench-client by client_secret_basic: one sigil token verification
#                       (and a revocation look-up) more.
# The external tokens carry no jti: sigil refuses a jti it has seen before, and wrk repeats
# one body, so a token with a jti would succeed once and fail ever after; without one, each
# repeat is verified in full (see exchange_issuer.py). Subject and external tokens are
# minted fresh before each load, so none expires during it. The grants alternate for
# --rounds rounds (default 2) so that drift of the machine hits all three; the ratios are
# of the mean req/s. Any non-2xx answer fails the run.
#
# Usage: bench/http/exchange.sh [--rounds R (2)] [--port N (18094)] [--issuer-port N (18095)]
#                               [--duration S (10)] [--warmup S (3)] [--conns N (32)]
#                               [--wrk-threads N (2)] [--pin] [--tmp DIR (/tmp)]
# Env: SIGIL_BIN (default build-bench/src/cli/sigil, else build/src/cli/sigil).
# Env: PYTHON, a python3 with jwcrypto for the fake issuer (default /usr/bin/python3, with
# Debian's python3-jwcrypto). Needs wrk, curl, python3. All traffic stays on 127.0.0.1.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source-path=SCRIPTDIR source=../lib/sigil.sh
source "$HERE/../lib/sigil.sh"

ROUNDS=2 PORT=18094 ISSUER_PORT=18095 DURATION=10 WARMUP=3 CONNS=32 WRK_THREADS=2 PIN=0 TMPBASE=/tmp
while (($#)); do
  case $1 in
    --rounds) ROUNDS=$2; shift 2 ;;
    --port) PORT=$2; shift 2 ;;
    --issuer-port) ISSUER_PORT=$2; shift 2 ;;
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
for t in wrk curl python3 timeout base64; do command -v $t >/dev/null || { echo "missing $t" >&2; exit 1; }; done
# The fake issuer needs jwcrypto: Debian's python (as the integration tests use), or $PYTHON.
PY=${PYTHON:-/usr/bin/python3}
"$PY" -c 'import jwcrypto' 2>/dev/null || { echo "$PY lacks jwcrypto (apt install python3-jwcrypto, or set PYTHON)" >&2; exit 1; }
BIN=$(sigil_bin)
ADDR=http://127.0.0.1:$PORT
ISSUER=http://127.0.0.1:$ISSUER_PORT
for p in "$PORT" "$ISSUER_PORT"; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "port $p is in use" >&2; exit 1; fi
done

TMP=$(mktemp -d "$TMPBASE/sigil-exchange-bench.XXXXXX")
PID='' ISSUER_PID=''
cleanup() { sigil_stop_pid "$PID"; sigil_stop_pid "$ISSUER_PID"; rm -rf "$TMP"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

"$PY" "$HERE/exchange_issuer.py" --port "$ISSUER_PORT" --audience "$ADDR" >"$TMP/issuer.log" 2>&1 &
ISSUER_PID=$!
for ((i = 0; i < 100; i++)); do
  curl -sf -o /dev/null -m 1 "$ISSUER/jwks" && break
  kill -0 "$ISSUER_PID" 2>/dev/null || { echo "the fake issuer exited: $(cat "$TMP/issuer.log")" >&2; exit 1; }
  sleep 0.1
done

cat >"$TMP/policy.yaml" <<EOF
version: 1
services:
  - name: bench-client
audiences:
  - name: api
    uri: https://api.bench
    scopes: [api:read]
grants:
  - name: bench-reads-api
    caller: bench-client
    audience: api
    scopes: [api:read]
issuers:
  - name: bench-ci
    issuer: $ISSUER
    audience: $ADDR
    algorithms: [ES256]
    rules:
      - name: bench-job
        claims: {repository: acme/bench, ref: refs/heads/main}
        service: bench-client
EOF

srv_pre=() wrk_pre=() threads=()
if ((PIN)); then srv_pre=(taskset -c 0); wrk_pre=(taskset -c 1); threads=(env SIGIL_THREADS=1); fi

sigil_init "$BIN" "$TMP/data" "$ADDR" "$TMP/admin.env"
"${srv_pre[@]}" "${threads[@]}" "$BIN" serve --data "$TMP/data" --listen "127.0.0.1:$PORT" \
  --policy "$TMP/policy.yaml" >"$TMP/server.log" 2>&1 &
PID=$!
sigil_wait_ready "$ADDR" "$PID" 60
# shellcheck source=/dev/null
SECRET=$(set -a; source "$TMP/admin.env"; SIGIL_ADDR=$ADDR "$BIN" client rotate-secret bench-client -o json 2>/dev/null |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["client_secret"])')
AUTH=$(printf 'bench-client:%s' "$SECRET" | base64 -w0)

JWT_BEARER=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer
TOKEN_EXCHANGE=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Atoken-exchange
ACCESS_TOKEN_TYPE=urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Aaccess_token

# body_for GRANT: the form body of one grant, with freshly minted tokens.
body_for() {
  local token
  case $1 in
    client_credentials) echo "grant_type=client_credentials&resource=https://api.bench" ;;
    jwt-bearer)
      token=$(curl -sf -m 5 "$ISSUER/mint") || { echo "the fake issuer did not mint" >&2; return 1; }
      echo "grant_type=$JWT_BEARER&assertion=$token&resource=https://api.bench" ;;
    token-exchange)
      token=$(curl -sf -m 5 -H "Authorization: Basic $AUTH" \
        -d grant_type=client_credentials -d resource=https://api.bench "$ADDR/oauth2/token" |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])') || {
        echo "cannot get the subject token" >&2; return 1; }
      echo "grant_type=$TOKEN_EXCHANGE&subject_token=$token&subject_token_type=$ACCESS_TOKEN_TYPE&audience=https://api.bench" ;;
  esac
}
# auth_for GRANT: the Basic credentials wrk sends (none for the CI case).
auth_for() { [[ $1 == jwt-bearer ]] || echo "$AUTH"; }

GRANTS=(client_credentials jwt-bearer token-exchange)
for g in "${GRANTS[@]}"; do
  body=$(body_for "$g")
  auth=$(auth_for "$g")
  headers=(-H "Content-Type: application/x-www-form-urlencoded")
  [[ -n $auth ]] && headers+=(-H "Authorization: Basic $auth")
  curl -sf -m 5 "${headers[@]}" -d "$body" "$ADDR/oauth2/token" >/dev/null || {
    echo "$g: the preflight request failed: $(curl -s -m 5 "${headers[@]}" -d "$body" "$ADDR/oauth2/token")" >&2
    exit 1
  }
done

declare -A RPS P99
run() {
  local g=$1 body auth line
  body=$(body_for "$g")
  auth=$(auth_for "$g")
  local wrk=("${wrk_pre[@]}" wrk "-t$WRK_THREADS" "-c$CONNS" --timeout 5s -s "$HERE/form_post.lua")
  BENCH_AUTH=$auth BENCH_BODY=$body timeout $((WARMUP + 30)) "${wrk[@]}" "-d${WARMUP}s" \
    "$ADDR/oauth2/token" >/dev/null 2>&1 || true
  sleep 1
  BENCH_AUTH=$auth BENCH_BODY=$body timeout $((DURATION + 30)) "${wrk[@]}" "-d${DURATION}s" \
    "$ADDR/oauth2/token" >"$TMP/$g.wrk" 2>&1 || true
  line=$(grep '^RESULT ' "$TMP/$g.wrk" | sed 's/^RESULT //') || { echo "$g: no result from wrk" >&2; cat "$TMP/$g.wrk" >&2; exit 1; }
  declare -A W=()
  for kv in $line; do W[${kv%%=*}]=${kv#*=}; done
  ((W[err_status] == 0)) || { echo "$g: $((W[err_status])) non-2xx answers" >&2; exit 1; }
  RPS[$g]+="${W[rps]} " P99[$g]+="${W[p99_ms]} "
}

mode=shared; ((PIN)) && mode="pinned (server core 0, 1 HTTP thread; wrk core 1)"
echo "# sigil $("$BIN" version 2>/dev/null | head -1), $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, mode $mode"
echo "# wrk -t$WRK_THREADS -c$CONNS -d${DURATION}s after ${WARMUP}s warm-up, $ROUNDS rounds, binary $BIN"
for ((r = 0; r < ROUNDS; r++)); do
  for g in "${GRANTS[@]}"; do run "$g"; done
done
mean() { awk '{s=0; for(i=1;i<=NF;i++) s+=$i; printf "%.0f", s/NF}' <<<"$1"; }
base=$(mean "${RPS[client_credentials]}")
printf '%-20s %10s %8s  %-28s %-20s\n' grant "req/s" ratio "req/s per round" "p99_ms per round"
for g in "${GRANTS[@]}"; do
  m=$(mean "${RPS[$g]}")
  printf '%-20s %10s %8s  %-28s %-20s\n' "$g" "$m" "$(awk -v a="$m" -v b="$base" 'BEGIN{printf "%.3f", a/b}')" \
    "${RPS[$g]}" "${P99[$g]}"
done
