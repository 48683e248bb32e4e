# shellcheck shell=bash
# Sourced helpers for the HTTP benchmarks: find the sigil binary, initialise a data folder,
# wait for readiness, register the benchmark client, stop a server by its recorded PID.
# Secrets go to files with mode 0600 in the data folder's parent, never to the terminal.

BENCH_ROOT=${BENCH_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}

# sigil_bin: $SIGIL_BIN, else the Release build of the benchmarks, else the default build.
sigil_bin() {
  local b
  for b in "${SIGIL_BIN:-}" "$BENCH_ROOT/build-bench/src/cli/sigil" "$BENCH_ROOT/build/src/cli/sigil"; do
    [[ -n $b && -x $b ]] && { echo "$b"; return 0; }
  done
  echo "no sigil binary: build it (ninja -C build-bench sigil) or set SIGIL_BIN" >&2
  return 1
}

# sigil_init BIN DATA ISSUER ADMIN_ENV: `sigil init`, keeping the admin credentials in
# ADMIN_ENV (the two `export` lines init prints) and nothing on the terminal.
sigil_init() {
  local bin=$1 data=$2 issuer=$3 admin_env=$4 out
  out=$("$bin" init --data "$data" --issuer "$issuer" 2>&1) || { echo "sigil init failed: $out" >&2; return 1; }
  (umask 077; grep -E '^ *export SIGIL_CLIENT_(ID|SECRET)=' <<<"$out" | sed 's/^ *//' >"$admin_env")
  [[ $(wc -l <"$admin_env") == 2 ]] || { echo "sigil init printed no admin credentials" >&2; return 1; }
}

# sigil_wait_ready ADDR PID [SECONDS]: until GET ADDR/readyz answers 200 (default 15 s).
sigil_wait_ready() {
  local addr=$1 pid=$2 limit=${3:-15} i
  for ((i = 0; i < limit * 10; i++)); do
    curl -sf -o /dev/null -m 1 "$addr/readyz" && return 0
    kill -0 "$pid" 2>/dev/null || { echo "sigil (pid $pid) exited before it was ready" >&2; return 1; }
    sleep 0.1
  done
  echo "sigil (pid $pid) not ready after ${limit}s" >&2
  return 1
}

# sigil_bench_client BIN ADDR ADMIN_ENV ID SECRET_FILE: registers client ID (scope api:read,
# audience https://api.bench) and writes its secret to SECRET_FILE (mode 0600).
sigil_bench_client() {
  local bin=$1 addr=$2 admin_env=$3 id=$4 secret_file=$5 out
  # shellcheck source=/dev/null
  out=$(set -a; source "$admin_env"; SIGIL_ADDR=$addr "$bin" client create --id "$id" --name bench \
    --scope api:read --audience https://api.bench -o json 2>/dev/null) || {
    echo "sigil client create failed (exit $?)" >&2; return 1; }
  (umask 077; python3 -c 'import json,sys; print(json.load(sys.stdin)["client_secret"])' <<<"$out" >"$secret_file") || {
    echo "sigil client create: no client_secret in its answer" >&2; return 1; }
}

# sigil_stop_pid PID: SIGTERM (sigil drains and exits), SIGKILL after 10 s. Only that PID.
sigil_stop_pid() {
  local pid=$1 i
  [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid"
  for ((i = 0; i < 100; i++)); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
}

# proc_hwm_kb PID / proc_cpu_ticks PID: peak RSS (VmHWM) and utime+stime of one process
# (sigil is one process; its threads are included).
proc_hwm_kb() { awk '/^VmHWM:/{print $2}' "/proc/$1/status" 2>/dev/null; }
proc_cpu_ticks() { sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | awk '{print $12+$13}'; }
