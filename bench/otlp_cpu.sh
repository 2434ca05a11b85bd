#!/usr/bin/env bash
# CPU of the OTLP metrics output at a 1 s export interval with nothing
# refreshing (issue 12: under 5 % of a core at 220k series).
#
# The exporter serves a saved APPS-app account (--refresh.interval 100000h:
# no refresh, no API call) and pushes OTLP metrics over HTTP/protobuf every
# second (--otlp.interval 1s) to bench/otlp_sink.py, a local sink answering
# 200 with an empty protobuf body. After BENCH_WARMUP seconds the process CPU
# (utime + stime from /proc/PID/stat) is read over BENCH_WINDOW seconds:
# % of one core. The same with OTLP off gives the idle baseline; the
# difference is the OTLP output's cost. Nobody scrapes /metrics during the
# window (the readiness poll before it is a scrape).
#
# Usage: bench/otlp_cpu.sh [apps]   (default 50)
# Env: BIN, BENCH_CACHE, BENCH_BUILDS (see bench/lib.sh), BENCH_WINDOW
#      (default 30 s), BENCH_WARMUP (default 5 s), BENCH_OTLP_COMPRESSION
#      (none or gzip, default none).
# Needs: curl, python3, getconf (libc-bin).
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

APPS="${1:-50}"
WINDOW="${BENCH_WINDOW:-30}"
WARMUP="${BENCH_WARMUP:-5}"
COMPRESSION="${BENCH_OTLP_COMPRESSION:-none}"
need getconf "apt-get install libc-bin"
HZ="$(getconf CLK_TCK)"

copy_account "$APPS" "$BENCH_TMP/state"
start_sim "$APPS" idle
SINK_PORT="$(free_port)"
python3 "$BENCH_ROOT/bench/otlp_sink.py" --port "$SINK_PORT" --stats "$BENCH_TMP/sink.json" &
SINK_PID=$!
BENCH_PIDS+=("$SINK_PID")
for _ in $(seq 50); do [[ -s "$BENCH_TMP/sink.json" ]] && break; sleep 0.1; done

sink_count() {
  python3 -c 'import json,sys; d=json.load(open(sys.argv[1])).get("/v1/metrics", {}); print(d.get("requests", 0), d.get("bytes", 0))' "$BENCH_TMP/sink.json"
}

# measure NAME [FLAGS...]: starts the exporter with FLAGS, appends
# "NAME ticks seconds exports bytes series" to $BENCH_TMP/results.
measure() {
  local name="$1"; shift
  start_serve "$BENCH_TMP/state" --refresh.interval 100000h "$@"
  wait_refresh_after "$SERVE_URL" 0 120
  local series
  series="$(series_count "$SERVE_URL")"
  sleep "$WARMUP"
  local c0 c1 e0 e1 b0 b1 t0 t1
  read -r e0 b0 < <(sink_count)
  t0="$(date +%s.%N)"
  c0="$(cpu_ticks "$SERVE_PID")"
  sleep "$WINDOW"
  c1="$(cpu_ticks "$SERVE_PID")"
  t1="$(date +%s.%N)"
  read -r e1 b1 < <(sink_count)
  echo "$name $((c1 - c0)) $(python3 -c "print($t1 - $t0)") $((e1 - e0)) $((b1 - b0)) $series" >>"$BENCH_TMP/results"
  stop_pid "$SERVE_PID"
}

: >"$BENCH_TMP/results"
measure otlp-off
measure otlp-on --otlp.enabled --otlp.protocol http/protobuf \
  --otlp.endpoint "http://127.0.0.1:$SINK_PORT" --otlp.interval 1s \
  --otlp.compression "$COMPRESSION" --otlp.logs=false
# (The flush our SIGTERM interrupts is not counted.)
WARNINGS="$(grep -E ' (WARN|ERROR) ' "$BENCH_TMP/serve.log" | grep -vc 'shutdown flush failed' || true)"
grep -q '^otlp-on [0-9]* [0-9.]* 0 ' "$BENCH_TMP/results" &&
  die "no OTLP export reached the sink during the ${WINDOW}s window (see $BENCH_TMP/serve.log with BENCH_KEEP=1)"

echo "asc-perf-exporter OTLP CPU: $APPS apps, nothing refreshing, OTLP/HTTP protobuf every 1 s (compression $COMPRESSION)"
echo "machine: $(machine)"
echo "exporter: $BIN ($("$BIN" --version 2>/dev/null || true)), builds/app $BENCH_BUILDS; warnings and errors in its log: $WARNINGS"
python3 - "$BENCH_TMP/results" "$HZ" <<'PY'
import sys
hz = int(sys.argv[2])
rows = {}
for line in open(sys.argv[1]):
    name, ticks, secs, exports, nbytes, series = line.split()
    rows[name] = (int(ticks) / hz, float(secs), int(exports), int(nbytes), int(series))
print()
print(f"{'run':<9} {'series':>8} | {'CPU s':>6} {'window s':>8} {'% core':>7} | {'exports':>7} {'MB/export':>9} {'ms CPU/export':>13}")
for name, (cpu, secs, exports, nbytes, series) in rows.items():
    per = f"{nbytes / exports / 1e6:>9.2f}" if exports else f"{'-':>9}"
    ms = f"{(cpu - rows['otlp-off'][0]) / exports * 1e3:>13.1f}" if exports else f"{'-':>13}"
    print(f"{name:<9} {series:>8} | {cpu:>6.2f} {secs:>8.1f} {cpu / secs * 100:>6.1f}% | {exports:>7} {per} {ms}")
on, off = rows["otlp-on"], rows["otlp-off"]
print(f"\nOTLP output: {(on[0] / on[1] - off[0] / off[1]) * 100:.1f} % of a core (on minus off; target under 5 %)")
per_export = (on[0] - off[0] * on[1] / off[1]) / on[2] if on[2] else 0
if per_export > 1.0:
    print(f"note: one export costs {per_export:.2f} s of CPU, more than the 1 s interval: the exports run back to back,\n"
          "so the figure above is bounded by the CPU the (shared) machine gave the process, not by the interval")
PY
