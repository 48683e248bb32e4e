#!/usr/bin/env bash
# stop= command for the shared peer harness: stops the sigil that sigil-start.sh started,
# by its recorded PID only (SIGTERM, which drains the audit log; SIGKILL after 10 s).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source-path=SCRIPTDIR source=../lib/sigil.sh
source "$HERE/../lib/sigil.sh"
PIDFILE=${SIGIL_BENCH_DIR:-/tmp/bench-peers/sigil}/sigil.pid
[[ -f $PIDFILE ]] || { echo "sigil: no pidfile $PIDFILE"; exit 0; }
pid=$(cat "$PIDFILE")
sigil_stop_pid "$pid"
rm -f "$PIDFILE"
echo "sigil: stopped pid $pid"
