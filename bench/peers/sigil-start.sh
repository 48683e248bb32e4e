#!/usr/bin/env bash
# start= command for the shared peer harness: serves the folder sigil-prepare.sh made, on
# 127.0.0.1:$PORT (18090), in the background; writes the PID to $SIGIL_BENCH_DIR/sigil.pid
# and returns once /readyz answers 200. With CPUSET set (pinned mode) the server runs under
# `taskset -c "$CPUSET"` with one HTTP thread per CPU of the set (default: one per core).
# Env: CPUSET, SIGIL_BIN, SIGIL_BENCH_DIR (/tmp/bench-peers/sigil), PORT.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source-path=SCRIPTDIR source=../lib/sigil.sh
source "$HERE/../lib/sigil.sh"
DIR=${SIGIL_BENCH_DIR:-/tmp/bench-peers/sigil}
PORT=${PORT:-18090}
PIDFILE=$DIR/sigil.pid
BIN=$(sigil_bin)
[[ -f $DIR/data/sigil.db ]] || { echo "no prepared data in $DIR: run bench/peers/sigil-prepare.sh" >&2; exit 1; }
if [[ -f $PIDFILE ]] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
  echo "sigil already running (pid $(cat "$PIDFILE"))" >&2; exit 1
fi
pre=() env_threads=()
if [[ -n ${CPUSET:-} ]]; then
  pre=(taskset -c "$CPUSET")
  env_threads=(env "SIGIL_THREADS=$(taskset -c "$CPUSET" nproc)")
fi
"${pre[@]}" "${env_threads[@]}" "$BIN" serve --data "$DIR/data" --listen "127.0.0.1:$PORT" >>"$DIR/sigil.log" 2>&1 &
echo $! >"$PIDFILE"
sigil_wait_ready "http://127.0.0.1:$PORT" "$(cat "$PIDFILE")"
echo "sigil pid $(cat "$PIDFILE") on http://127.0.0.1:$PORT (cpuset '${CPUSET:-}')"
