# shellcheck shell=bash
# Shared helpers of the black-box benchmarks (bench/scrape.sh, bench/rss.sh,
# bench/otlp_cpu.sh). Sourced, not run.
#
# They measure the release binary from the outside: `simulate` (the simulated
# App Store Connect) in one process and `serve` in another, so the serving
# process's memory and CPU are the exporter's alone.
#
# Environment:
#   BIN          the exporter binary (default: $CARGO_TARGET_DIR/release/asc-perf-exporter,
#                built with `cargo build --release` when BIN is unset)
#   BENCH_CACHE  where the loaded accounts (state dirs) are kept between runs
#                (default: $CARGO_TARGET_DIR/bench-state, or target/bench-state)
#   BENCH_BUILDS builds per app (default 3)
#   BENCH_KEEP   1: keep the temp dir (logs, saved bodies, wrk output) and print its path
#
# Needs: bash, curl, python3, coreutils (mktemp, sha256sum, stat, timeout).

set -euo pipefail

BENCH_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BENCH_TMP="$(mktemp -d "${TMPDIR:-/tmp}/asc-bench.XXXXXX")"
BENCH_PIDS=()
BENCH_BUILDS="${BENCH_BUILDS:-3}"
BENCH_CACHE="${BENCH_CACHE:-${CARGO_TARGET_DIR:-$BENCH_ROOT/target}/bench-state}"

die() {
  echo "error: $*" >&2
  exit 1
}

log() { echo "# $*" >&2; }

# need TOOL [HINT]: fails with the package to install when TOOL is missing.
need() {
  command -v "$1" >/dev/null 2>&1 || die "'$1' is not installed${2:+ (install it: $2)}"
}

bench_cleanup() {
  local pid
  for pid in "${BENCH_PIDS[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${BENCH_PIDS[@]}"; do
    # Give each process 5 s to finish (the exporter finishes a state write),
    # then kill it.
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  done
  if [[ "${BENCH_KEEP:-0}" == 1 ]]; then
    echo "# kept $BENCH_TMP" >&2
  else
    rm -rf "$BENCH_TMP"
  fi
}
trap bench_cleanup EXIT
trap 'exit 130' INT TERM

# stop_pid PID: stops one process started here (SIGTERM, SIGKILL after 20 s)
# and waits for it.
stop_pid() {
  local pid="$1"
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

need curl "apt-get install curl"
need python3 "apt-get install python3"
need sha256sum "apt-get install coreutils"

if [[ -z "${BIN:-}" ]]; then
  need cargo "https://rustup.rs, or set BIN to a built asc-perf-exporter"
  (cd "$BENCH_ROOT" && cargo build --release --bin asc-perf-exporter >&2)
  BIN="${CARGO_TARGET_DIR:-$BENCH_ROOT/target}/release/asc-perf-exporter"
fi
[[ -x "$BIN" ]] || die "BIN=$BIN is not an executable asc-perf-exporter"

# free_port: a TCP port free on 127.0.0.1 right now.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# wait_http URL SECONDS: waits until URL answers (any status).
wait_http() {
  local url="$1" secs="$2"
  for _ in $(seq $((secs * 10))); do
    curl -s -o /dev/null --max-time 2 "$url" && return 0
    sleep 0.1
  done
  die "$url did not answer within ${secs}s"
}

# rss_kib PID FIELD: VmHWM or VmRSS of PID in KiB.
status_kib() {
  awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status"
}

# cpu_ticks PID: utime + stime of PID in clock ticks (/proc/PID/stat).
cpu_ticks() {
  # Fields 14 and 15, counted after the ")" that ends the command name.
  sed 's/^.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'
}

# series_count URL: the number of samples (non-comment lines) in an exposition.
series_count() {
  curl -sf "$1" | grep -vc '^#'
}

SIM_SUPPORTS_MINUTE_LIMIT=
if "$BIN" simulate --help 2>/dev/null | grep -q -- '--minute-limit'; then
  SIM_SUPPORTS_MINUTE_LIMIT=1
fi

# sim_credentials DIR KEY: waits for a started `simulate` (SIM_URL) and its
# `--output json` info in DIR/info.json; sets SIM_KEY (the --write-key path
# KEY), SIM_KEY_ID, SIM_ISSUER_ID.
sim_credentials() {
  local dir="$1"
  wait_http "$SIM_URL/_sim/state" 30
  for _ in $(seq 50); do [[ -s "$dir/info.json" ]] && break; sleep 0.1; done
  SIM_KEY="$2"
  SIM_KEY_ID="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["key_id"])' "$dir/info.json")"
  SIM_ISSUER_ID="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["issuer_id"])' "$dir/info.json")"
}

# start_sim APPS [idle]: starts `simulate` with APPS apps on a free port, without
# a rate limit that would make loading the account take minutes; sets
# SIM_URL, SIM_PID, SIM_KEY, SIM_KEY_ID, SIM_ISSUER_ID. The budget: an hour
# limit of 10^7, and no minute window (`--minute-limit 0`, or on a binary
# without that flag a helper that refills the minute window every 2 ms
# through the admin API, so the exporter does not pause on it; `idle`: no
# refill, for runs that make no API call and must not share the CPU with it).
start_sim() {
  local apps="$1" idle="${2:-}" port dir
  port="$(free_port)"
  dir="$BENCH_TMP/sim-$apps"
  mkdir -p "$dir"
  local extra=()
  [[ -n "$SIM_SUPPORTS_MINUTE_LIMIT" ]] && extra=(--minute-limit 0)
  env -u ASC_KEY_ID -u ASC_ISSUER_ID -u ASC_PRIVATE_KEY -u ASC_PRIVATE_KEY_PATH \
    "$BIN" --output json simulate --listen "127.0.0.1:$port" --apps "$apps" \
    --hour-limit 10000000 --write-key "$dir/sim-key.p8" "${extra[@]}" \
    >"$dir/info.json" 2>"$dir/sim.log" &
  SIM_PID=$!
  BENCH_PIDS+=("$SIM_PID")
  SIM_URL="http://127.0.0.1:$port"
  sim_credentials "$dir" "$dir/sim-key.p8"
  if [[ -z "$SIM_SUPPORTS_MINUTE_LIMIT" && "$idle" != idle ]]; then
    # 150 requests can go out in less than 100 ms: refill every 2 ms over
    # one kept-alive connection.
    python3 - "$port" "$SIM_PID" <<'PY' &
import http.client, os, sys, time
port, pid = int(sys.argv[1]), int(sys.argv[2])
conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
while True:
    try:
        os.kill(pid, 0)
    except OSError:
        break
    try:
        conn.request("PUT", "/_sim/rate_limit", body=b'{"minute_remaining":1000000000}')
        conn.getresponse().read()
    except (OSError, http.client.HTTPException):
        conn.close()
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        time.sleep(0.05)
    time.sleep(0.002)
PY
    BENCH_PIDS+=("$!")
  fi
}

# start_serve STATE_DIR [FLAGS...]: starts `serve` against the simulator
# (start_sim first) on a free port, keeping its data in STATE_DIR; sets
# SERVE_URL (the metrics URL) and SERVE_PID. Prometheus' own process
# metrics are left out (--web.disable-exporter-metrics) so that every scrape
# of one snapshot is the same bytes.
start_serve() {
  local state="$1"; shift
  local port
  port="$(free_port)"
  mkdir -p "$state"
  env -u ASC_PRIVATE_KEY ASC_KEY_ID="$SIM_KEY_ID" ASC_ISSUER_ID="$SIM_ISSUER_ID" \
    ASC_PRIVATE_KEY_PATH="$SIM_KEY" "$BIN" serve --asc.base-url "$SIM_URL" --state-dir "$state" \
    --web.listen-address "127.0.0.1:$port" --web.disable-exporter-metrics \
    --refresh.builds-per-app "$BENCH_BUILDS" --refresh.jitter 0 "$@" \
    2>>"$BENCH_TMP/serve.log" &
  SERVE_PID=$!
  BENCH_PIDS+=("$SERVE_PID")
  SERVE_URL="http://127.0.0.1:$port/metrics"
  wait_http "$SERVE_URL" 60
}

# last_refresh URL: asc_exporter_last_refresh_timestamp_seconds (Unix time
# the latest refresh finished; the earliest of the accounts', one line
# each), empty before the first.
last_refresh() {
  curl -sf "$1" | awk '/^asc_exporter_last_refresh_timestamp_seconds[{ ]/ { if (min == "" || $NF < min) min = $NF } END { if (min != "") print min }'
}

# wait_refresh_after URL T SECONDS: waits until a refresh finished later
# than T (a Unix time; empty or 0: any refresh).
wait_refresh_after() {
  local url="$1" after="${2:-0}" secs="$3" t0=$SECONDS t
  while :; do
    t="$(last_refresh "$url" || true)"
    [[ -n "$t" ]] && python3 -c 'import sys; sys.exit(0 if float(sys.argv[1]) > float(sys.argv[2]) else 1)' "$t" "${after:-0}" && return 0
    (( SECONDS - t0 < secs )) || die "no refresh finished within ${secs}s (see $BENCH_TMP/serve.log)"
    sleep 1
  done
}

# ensure_account APPS: sets ACCOUNT_STATE to a state dir holding a loaded
# APPS-app account (BENCH_BUILDS builds per app), loading it once (one
# refresh against `simulate`) and reusing it afterwards from BENCH_CACHE.
# The state is the exporter's own `snapshot.json`: delete the directory to
# load it again (e.g. after the snapshot format changed; a state the binary
# cannot read is reported in its log and the account is loaded again).
ensure_account() {
  local apps="$1"
  ACCOUNT_STATE="$BENCH_CACHE/apps-$apps-builds-$BENCH_BUILDS"
  if [[ -s "$ACCOUNT_STATE/snapshot.json" ]]; then
    log "reusing the $apps-app account in $ACCOUNT_STATE"
    return 0
  fi
  log "loading a $apps-app account into $ACCOUNT_STATE (once; later runs reuse it)"
  local t0=$SECONDS tmp="$ACCOUNT_STATE.loading"
  rm -rf "$tmp"
  mkdir -p "$tmp"
  start_sim "$apps"
  start_serve "$tmp" --refresh.interval 100000h --refresh.concurrency 8
  wait_refresh_after "$SERVE_URL" 0 1800
  stop_pid "$SERVE_PID"
  stop_pid "$SIM_PID"
  [[ -s "$tmp/snapshot.json" ]] || die "the exporter wrote no $tmp/snapshot.json (see $BENCH_TMP/serve.log)"
  rm -rf "$ACCOUNT_STATE"
  mv "$tmp" "$ACCOUNT_STATE"
  log "loaded in $((SECONDS - t0)) s"
}

# copy_account APPS DIR: a private copy of the loaded account in DIR.
copy_account() {
  ensure_account "$1"
  mkdir -p "$2"
  cp "$ACCOUNT_STATE/snapshot.json" "$2/"
}

# machine: one line naming the machine and its load, for the reports.
machine() {
  local cpu
  cpu="$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
  echo "$(nproc) CPU ($cpu), $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo), load average $(cut -d' ' -f1-3 /proc/loadavg), $(uname -sr), $(date -u +%FT%TZ)"
}
