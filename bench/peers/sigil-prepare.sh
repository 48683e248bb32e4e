#!/usr/bin/env bash
# Prepares sigil for the shared peer harness (../shared/peers/run.sh): a fresh data folder
# under $SIGIL_BENCH_DIR (/tmp/bench-peers/sigil) with issuer http://127.0.0.1:$PORT (18090),
# and the client `bench-client` (scope api:read, audience https://api.bench) whose secret is
# written to $SIGIL_BENCH_DIR/client.secret (mode 0600). The server runs only while the
# client is registered, then is stopped; sigil-start.sh serves the prepared folder.
# Env: SIGIL_BIN, SIGIL_BENCH_DIR, PORT.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source-path=SCRIPTDIR source=../lib/sigil.sh
source "$HERE/../lib/sigil.sh"
DIR=${SIGIL_BENCH_DIR:-/tmp/bench-peers/sigil}
PORT=${PORT:-18090}
BIN=$(sigil_bin)
ADDR=http://127.0.0.1:$PORT
if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then echo "port $PORT is in use" >&2; exit 1; fi

rm -rf "$DIR/data" "$DIR/admin.env" "$DIR/client.secret"
mkdir -p "$DIR"
sigil_init "$BIN" "$DIR/data" "$ADDR" "$DIR/admin.env"
"$BIN" serve --data "$DIR/data" --listen "127.0.0.1:$PORT" >"$DIR/prepare.log" 2>&1 &
pid=$!
trap 'sigil_stop_pid "$pid"' EXIT
sigil_wait_ready "$ADDR" "$pid"
sigil_bench_client "$BIN" "$ADDR" "$DIR/admin.env" bench-client "$DIR/client.secret"
echo "sigil prepared in $DIR (binary $BIN); client bench-client, secret in $DIR/client.secret"
