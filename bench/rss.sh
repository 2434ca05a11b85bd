#!/usr/bin/env bash
# Peak memory of the serving process during a refresh and 32 concurrent
# scrapes (issue 12: at most 64 MiB per 100k series).
#
# For each account size: the exporter starts from the saved account (state
# dir), its refresh interval set so that a refresh against `simulate` (a
# separate process, not counted) starts BENCH_LEAD seconds after the start;
# 32 connections scrape /metrics back to back from before the refresh until
# BENCH_TAIL seconds after it finished (two wrk, 16 connections plain and 16
# gzip). Then VmHWM (peak RSS) from /proc/PID/status, and the series count
# (samples in a plain scrape). "after load" is VmHWM once the saved data is
# served, before the scrapes and the refresh.
#
# Usage: bench/rss.sh [apps...]   (default: 50 200)
# Env: BIN, BENCH_CACHE, BENCH_BUILDS (see bench/lib.sh), BENCH_LEAD
#      (default 10 s), BENCH_TAIL (default 5 s), BENCH_SCRAPERS (connections,
#      half plain and half gzip; default 32; 0 = the refresh alone).
# Needs: wrk (apt-get install wrk), curl, python3.
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

need wrk "apt-get install wrk"
LEAD="${BENCH_LEAD:-10}"
TAIL="${BENCH_TAIL:-5}"
SCRAPERS="${BENCH_SCRAPERS:-32}"
(( SCRAPERS % 2 == 0 )) || die "BENCH_SCRAPERS must be even (half plain, half gzip)"
(( $# )) || set -- 50 200

: >"$BENCH_TMP/results"
for APPS in "$@"; do
  copy_account "$APPS" "$BENCH_TMP/state-$APPS"
  start_sim "$APPS"
  # The first refresh is due `interval - age of the saved data` after start.
  age=$(( $(date +%s) - $(stat -c %Y "$ACCOUNT_STATE/snapshot.json") ))
  start_serve "$BENCH_TMP/state-$APPS" --refresh.interval "$((age + LEAD))"
  started=$SECONDS
  wait_refresh_after "$SERVE_URL" 0 120
  loaded_at="$(last_refresh "$SERVE_URL")"
  hwm_load="$(status_kib "$SERVE_PID" VmHWM)"
  rss_load="$(status_kib "$SERVE_PID" VmRSS)"
  (( SECONDS - started < LEAD )) || log "warning: the saved data took $((SECONDS - started)) s to serve; the refresh may have started before the scrapes"

  WRK=()
  if (( SCRAPERS > 0 )); then
    wrk -c$((SCRAPERS / 2)) -t1 -d 3600s --timeout 60s "$SERVE_URL" >"$BENCH_TMP/wrk-plain-$APPS.txt" 2>&1 &
    WRK+=("$!")
    wrk -c$((SCRAPERS / 2)) -t1 -d 3600s --timeout 60s -H 'Accept-Encoding: gzip' "$SERVE_URL" >"$BENCH_TMP/wrk-gzip-$APPS.txt" 2>&1 &
    WRK+=("$!")
    BENCH_PIDS+=("${WRK[@]}")
  fi
  t_load=$SECONDS
  wait_refresh_after "$SERVE_URL" "$loaded_at" 1800
  t_refresh=$SECONDS
  sleep "$TAIL"
  hwm="$(status_kib "$SERVE_PID" VmHWM)"
  rss_end="$(status_kib "$SERVE_PID" VmRSS)"
  if (( ${#WRK[@]} )); then
    kill -INT "${WRK[@]}" 2>/dev/null || true
    wait "${WRK[@]}" 2>/dev/null || true
  fi
  series="$(series_count "$SERVE_URL")"
  duration="$(curl -sf "$SERVE_URL" | awk '/^asc_exporter_refresh_duration_seconds[{ ]/ { print $NF }')"
  scrapes=0
  (( SCRAPERS > 0 )) &&
    scrapes="$(awk '/requests in/ { n += $1 } END { print n + 0 }' "$BENCH_TMP"/wrk-{plain,gzip}-"$APPS".txt)"
  echo "$APPS $series $hwm_load $rss_load $hwm $rss_end ${duration:-0} $((t_refresh - t_load)) $scrapes" >>"$BENCH_TMP/results"
  stop_pid "$SERVE_PID"
  stop_pid "$SIM_PID"
done

echo "asc-perf-exporter peak RSS: refresh + $SCRAPERS concurrent scrapes ($((SCRAPERS / 2)) plain, $((SCRAPERS / 2)) gzip)"
echo "machine: $(machine)"
echo "exporter: $BIN ($("$BIN" --version 2>/dev/null || true)), builds/app $BENCH_BUILDS"
python3 - "$BENCH_TMP/results" <<'PY'
import sys
print()
print(f"{'apps':>4} {'series':>8} | {'after load':>10} | {'peak RSS':>9} {'MiB/100k':>8} | {'RSS end':>8} | {'refresh':>7} {'scrapes':>7}")
print(f"{'':>4} {'':>8} | {'VmHWM MiB':>10} | {'VmHWM MiB':>9} {'series':>8} | {'MiB':>8} | {'s':>7} {'served':>7}")
for line in open(sys.argv[1]):
    apps, series, hwm_load, rss_load, hwm, rss_end, dur, wall, scrapes = line.split()
    series, hwm = int(series), int(hwm) / 1024
    print(f"{apps:>4} {series:>8} | {int(hwm_load) / 1024:>10.1f} | {hwm:>9.1f} {hwm / series * 1e5:>8.1f} | "
          f"{int(rss_end) / 1024:>8.1f} | {float(dur):>7.1f} {int(scrapes):>7}")
print("\ntarget: peak RSS at most 64 MiB per 100k series")
PY
