#!/usr/bin/env bash
# Measures sigil side by side with the shared peer harness (../shared/peers/run.sh): prepares
# a fresh data folder and the bench client (sigil-prepare.sh), then runs the harness with
# sigil as one more row (start/stop by sigil-start.sh / sigil-stop.sh, port 18090).
#
# Usage: bench/peers/run-with-peers.sh [run.sh options...]
#   default options: --peers nginx-static,oidc-provider --repeats 3 --duration 10
#   (any option given replaces its default). The summary is in the harness's results folder.
# Env: PEERS_DIR (default ../shared/peers next to the work tree), SIGIL_BIN, SIGIL_BENCH_DIR.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
PEERS_DIR=${PEERS_DIR:-$(cd "$ROOT/../shared/peers" && pwd)}
DIR=${SIGIL_BENCH_DIR:-/tmp/bench-peers/sigil}
export SIGIL_BENCH_DIR=$DIR

declare -A given=()
for a in "$@"; do [[ $a == --* ]] && given[$a]=1; done
opts=()
[[ -n ${given[--peers]:-} ]] || opts+=(--peers 'nginx-static,oidc-provider')
[[ -n ${given[--repeats]:-} ]] || opts+=(--repeats 3)
[[ -n ${given[--duration]:-} ]] || opts+=(--duration 10)

"$HERE/sigil-prepare.sh"
secret=$(cat "$DIR/client.secret")
# Paths are quoted for `bash -c` inside run.sh.
exec "$PEERS_DIR/run.sh" "${opts[@]}" "$@" \
  --target http://127.0.0.1:18090/oauth2/token bench-client "$secret" name=sigil \
  "start=SIGIL_BENCH_DIR='$DIR' '$HERE/sigil-start.sh'" \
  "stop=SIGIL_BENCH_DIR='$DIR' '$HERE/sigil-stop.sh'" \
  "pidfile=$DIR/sigil.pid" \
  introspect=http://127.0.0.1:18090/oauth2/introspect
