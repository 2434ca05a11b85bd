#!/usr/bin/env bash
# Issue 15: cold starts against Apple's budget, measured from the outside.
#
#   bench/scale.sh first   a 40-app account behind 150 requests a minute:
#                          seconds from `serve` starting to the first app's
#                          data on /metrics (target: within 15 s)
#   bench/scale.sh org     a 500-app organisation of 3 accounts (167, 167 and
#                          166 apps, three `simulate` processes, three keys,
#                          one `serve` with `accounts:`), each simulator with
#                          Apple's budget (3,600 an hour, 150 a minute): time
#                          to first data, time to a full refresh against the
#                          minimum the budget allows, requests per app,
#                          series per app, peak RSS of the serving process
#   bench/scale.sh         both
#
# Cold starts: an empty state dir, the exporter's default refresh settings
# (concurrency, builds per app, the overview). The budget minimum of an
# account, for the R requests its refresh made: the simulator's windows are
# fixed and reset whole (the simulator's model), so R needs ceil(R / 150) minute windows
# (and ceil(R / 3600) hour windows): (ceil(R / 150) - 1) minutes at least.
# The organisation's minimum is the largest account's
# (the accounts refresh side by side, each on its own key).
#
# Env: BIN, BENCH_KEEP (bench/lib.sh); BENCH_ORG_APPS (default "167 167 166").
# Needs: curl, python3.
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

MODE="${1:-all}"
HOUR_LIMIT=3600
MINUTE_LIMIT=150

# sim NAME APPS SEED: a `simulate` with Apple's budget; sets SIM_URL,
# SIM_KEY, SIM_KEY_ID, SIM_ISSUER_ID.
sim() {
  local name="$1" apps="$2" seed="$3" port dir
  port="$(free_port)"
  dir="$BENCH_TMP/sim-$name"
  mkdir -p "$dir"
  env -u ASC_KEY_ID -u ASC_ISSUER_ID -u ASC_PRIVATE_KEY -u ASC_PRIVATE_KEY_PATH \
    "$BIN" --output json simulate --listen "127.0.0.1:$port" --apps "$apps" --seed "$seed" \
    --hour-limit "$HOUR_LIMIT" --minute-limit "$MINUTE_LIMIT" --write-key "$dir/key.p8" \
    >"$dir/info.json" 2>"$dir/sim.log" &
  BENCH_PIDS+=("$!")
  SIM_URL="http://127.0.0.1:$port"
  sim_credentials "$dir" "$dir/key.p8"
}

# serve CONFIG: `serve` with a config file on a free port, an empty state
# dir; sets SERVE_URL, SERVE_PID, SERVE_T0 (epoch seconds, float, taken just
# before the process starts).
serve() {
  local config="$1" port
  port="$(free_port)"
  mkdir -p "$BENCH_TMP/state"
  SERVE_T0="$(date +%s.%N)"
  env -u ASC_KEY_ID -u ASC_ISSUER_ID -u ASC_PRIVATE_KEY -u ASC_PRIVATE_KEY_PATH \
    "$BIN" serve --config "$config" --state-dir "$BENCH_TMP/state" \
    --web.listen-address "127.0.0.1:$port" --refresh.jitter 0 \
    2>>"$BENCH_TMP/serve.log" &
  SERVE_PID=$!
  BENCH_PIDS+=("$SERVE_PID")
  SERVE_URL="http://127.0.0.1:$port/metrics"
}

# first_data: seconds from SERVE_T0 until /metrics serves an app's Apple
# data (polled every 50 ms).
first_data() {
  local t
  for _ in $(seq 6000); do
    # Not `curl | grep -q`: grep quitting early makes curl fail on SIGPIPE,
    # and pipefail then makes the condition false.
    if curl -sf --max-time 2 "$SERVE_URL" -o "$BENCH_TMP/poll.prom" 2>/dev/null &&
      grep -q '^asc_launch_time_seconds{' "$BENCH_TMP/poll.prom"; then
      t="$(date +%s.%N)"
      python3 -c 'import sys; print(f"{float(sys.argv[1]) - float(sys.argv[2]):.1f}")' "$t" "$SERVE_T0"
      return 0
    fi
    sleep 0.05
  done
  die "no app's data within 300 s (see $BENCH_TMP/serve.log)"
}

# report: the figures of one finished run, from /metrics.
report() {
  local what="$1" first="$2" full="$3"
  # /ready follows the snapshot; the exposition is encoded just after it:
  # wait for one where every account's refresh is complete.
  for _ in $(seq 600); do
    curl -sf "$SERVE_URL" >"$BENCH_TMP/final.prom"
    if grep '^asc_exporter_refresh_progress_ratio{' "$BENCH_TMP/final.prom" |
      awk '$2 != 1 { bad = 1 } END { exit (NR == 0 || bad) }'; then
      break
    fi
    sleep 0.1
  done
  python3 - "$BENCH_TMP/final.prom" "$what" "$first" "$full" "$HOUR_LIMIT" "$MINUTE_LIMIT" \
    "$(status_kib "$SERVE_PID" VmHWM)" "$(status_kib "$SERVE_PID" VmRSS)" <<'PY'
import math, re, sys
from collections import defaultdict
path, what, first, full, hour, minute, hwm, rss = sys.argv[1:]
hour, minute, first, full = int(hour), int(minute), float(first), float(full)
requests = defaultdict(float)
apps = defaultdict(set)
series = 0
for line in open(path):
    if line.startswith("#"):
        continue
    series += 1
    m = re.match(r'(\w+)\{(.*)\} (\S+)$', line.strip())
    if not m:
        continue
    name, labels, value = m.groups()
    lab = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', labels))
    if name == "asc_api_requests_total":
        requests[lab["account"]] += float(value)
    elif name == "asc_app_refresh_failed":
        apps[lab["account"]].add(lab["app_id"])
n_apps = sum(len(v) for v in apps.values())
total = sum(requests.values())
if not requests:
    sys.exit(f"no asc_api_requests_total in {path}: the scrape did not have the exporter's metrics")
# The simulator's windows are fixed (a minute, an hour) and reset whole:
# R requests need at least ceil(R / M) minute windows, the last one
# entered (ceil(R / M) - 1) minutes after the first; likewise for the hour.
minimum = max(
    max((math.ceil(r / minute) - 1) * 60, (math.ceil(r / hour) - 1) * 3600)
    for r in requests.values()
)
print(f"## {what}")
print(f"accounts: {len(apps)}, apps: {n_apps}, series: {series} ({series / n_apps:.0f} per app)")
for acc in sorted(requests):
    print(f"  {acc}: {len(apps[acc])} apps, {requests[acc]:.0f} requests ({requests[acc] / len(apps[acc]):.2f} per app)")
print(f"requests: {total:.0f}, {total / n_apps:.2f} per app per refresh")
print(f"time to first data: {first:.1f} s")
ratio = f"{full / minimum:.2f}x" if minimum else "n/a"
print(f"time to a full refresh: {full:.1f} s; the budget's minimum for the largest account: {minimum:.1f} s ({ratio})")
print(f"serving process: peak RSS {int(hwm) / 1024:.1f} MiB, RSS now {int(rss) / 1024:.1f} MiB")
PY
}

# full_refresh: seconds from SERVE_T0 until every account finished its first
# refresh (/ready answers 200).
full_refresh() {
  local ready="${SERVE_URL%/metrics}/ready" t
  for _ in $(seq 36000); do
    if curl -sf --max-time 2 -o /dev/null "$ready" 2>/dev/null; then
      t="$(date +%s.%N)"
      python3 -c 'import sys; print(f"{float(sys.argv[1]) - float(sys.argv[2]):.1f}")' "$t" "$SERVE_T0"
      return 0
    fi
    sleep 0.1
  done
  die "no full refresh within an hour (see $BENCH_TMP/serve.log)"
}

machine >&2

if [[ "$MODE" == first || "$MODE" == all ]]; then
  sim acc 40 42
  cat >"$BENCH_TMP/first.yaml" <<EOF
asc:
  base_url: $SIM_URL
  issuer_id: $SIM_ISSUER_ID
  key_id: $SIM_KEY_ID
  private_key_path: $SIM_KEY
EOF
  serve "$BENCH_TMP/first.yaml"
  first="$(first_data)"
  log "first app's data after $first s"
  full="$(full_refresh)"
  report "40 apps, one account, 150 requests a minute" "$first" "$full"
  stop_pid "$SERVE_PID"
  rm -rf "$BENCH_TMP/state"
fi

if [[ "$MODE" == org || "$MODE" == all ]]; then
  read -r -a SIZES <<<"${BENCH_ORG_APPS:-167 167 166}"
  config="$BENCH_TMP/org.yaml"
  echo "accounts:" >"$config"
  i=0
  for apps in "${SIZES[@]}"; do
    i=$((i + 1))
    sim "team-$i" "$apps" "$((100 + i))"
    cat >>"$config" <<EOF
  - name: team-$i
    issuer_id: $SIM_ISSUER_ID
    key_id: $SIM_KEY_ID
    private_key_path: $SIM_KEY
    base_url: $SIM_URL
EOF
  done
  serve "$config"
  first="$(first_data)"
  log "first app's data after $first s"
  full="$(full_refresh)"
  total=0
  for apps in "${SIZES[@]}"; do total=$((total + apps)); done
  report "$total apps in ${#SIZES[@]} accounts" "$first" "$full"
  stop_pid "$SERVE_PID"
fi
