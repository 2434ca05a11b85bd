#!/usr/bin/env bash
# Render time of the explorer's pages and API (issue 14: a page under 100 ms
# for the 50-app benchmark account): the exporter serves the saved account
# (no refresh during the run), and each route is fetched BENCH_ROUNDS times
# one after the other with curl; time_total per request, p50 and max.
#
# Usage: bench/explorer.sh [apps]   (default: 50)
# Env: BIN, BENCH_CACHE, BENCH_BUILDS (see bench/lib.sh), BENCH_ROUNDS (20).
# Needs: curl, python3.
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

APPS="${1:-50}"
ROUNDS="${BENCH_ROUNDS:-20}"
copy_account "$APPS" "$BENCH_TMP/state"
start_sim "$APPS" idle
start_serve "$BENCH_TMP/state" --refresh.interval 100000h
wait_refresh_after "$SERVE_URL" 0 120
BASE="${SERVE_URL%/metrics}"
APP="$(curl -sf "$BASE/api/v1/apps" | python3 -c 'import json,sys; print(json.load(sys.stdin)["apps"][0]["id"])')"
SIG="$(curl -sf "$BASE/api/v1/signatures" | python3 -c 'import json,sys; s=json.load(sys.stdin)["signatures"]; print(max(s, key=lambda x: (x["logs"], x["weight"]))["id"])')"

echo "asc-perf-exporter explorer render time, $APPS apps, $ROUNDS rounds per route"
echo "machine: $(machine)"
echo "exporter: $BIN ($("$BIN" --version 2>/dev/null || true)), builds/app $BENCH_BUILDS; series: $(series_count "$SERVE_URL")"
printf '%-44s %8s %10s %10s\n' route status "p50 ms" "max ms"
for route in / "/apps/$APP" /diagnostics "/diagnostics/$SIG" "/diagnostics/$SIG/flamegraph.svg" \
  /api/v1/apps "/api/v1/apps/$APP" /api/v1/signatures "/api/v1/signatures/$SIG" "/api/v1/signatures/$SIG.md"; do
  : >"$BENCH_TMP/times"
  code=
  for _ in $(seq "$ROUNDS"); do
    out="$(curl -s -o /dev/null -w '%{http_code} %{time_total}' "$BASE$route")"
    code="${out% *}"
    echo "${out#* }" >>"$BENCH_TMP/times"
  done
  python3 - "$route" "$code" "$BENCH_TMP/times" <<'PY'
import sys
route, code, path = sys.argv[1], sys.argv[2], sys.argv[3]
t = sorted(float(x) * 1000 for x in open(path))
shown = route if len(route) <= 44 else route[:30] + "…" + route[-13:]
print(f"{shown:<44} {code:>8} {t[len(t) // 2]:>10.1f} {t[-1]:>10.1f}")
PY
done
echo "target: a page under 100 ms"
