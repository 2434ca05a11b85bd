#!/usr/bin/env bash
# Scrape latency of the exporter against Debian's nginx serving the same bytes
# (issue 12: gzip at most 1.25x nginx gzip_static, plain at most 1.0x, p50 and p99).
#
# The exporter serves a saved APPS-app account (no refresh during the run:
# --refresh.interval 100000h); its exposition is saved once plain (`curl -s`)
# and once gzip (`curl -s -H 'Accept-Encoding: gzip'`, the bytes as sent), as
# `metrics` and `metrics.gz` in nginx's root, so nginx's gzip_static serves
# exactly the bytes the exporter compressed. nginx: 2 workers, sendfile on,
# gzip_static on, access_log off, default_type text/plain, a config in a temp
# dir (no `user` directive; as root its workers run as nobody, so the files
# are world-readable). wrk: 16 connections, one thread each (16 clients, as 16
# scrapers are), 20 s, --latency, with and without `Accept-Encoding: gzip`.
# The bodies are checked to be the same bytes (size and sha256 of one
# response each).
#
# Why a thread per connection: a wrk thread reads a readable socket in 8 KiB
# reads for as long as data keeps arriving, then moves to the next one. When
# the server outpaces the client (the exporter sends the plain 60 MB body at
# twice nginx's rate), the order it reads in follows the kernel's receive
# windows, which autotuning grew unevenly (0.4 to 33 MB across the 16
# connections in one run, `ss -tni`): with 8 connections a thread, the few
# with small windows waited seconds, the p99 measured wrk's loop, not the
# server. BENCH_THREADS=2 gives that setup back (bench/RESULTS.md, "the
# plain-scrape tail").
#
# CPU placement (2 cores shared by wrk and the server): with BENCH_PIN=1
# (default) wrk runs on CPU 0 and the server under test (the exporter or
# nginx) on CPU 1, so each server gets the same one core; BENCH_PIN=0 leaves
# placement to the scheduler.
#
# Usage: bench/scrape.sh [apps]   (default 50)
# Env: BIN, BENCH_CACHE, BENCH_BUILDS (see bench/lib.sh), BENCH_DURATION
#      (default 20s), BENCH_CONNECTIONS (default 16), BENCH_THREADS (wrk
#      threads, default: one per connection), BENCH_PIN (default 1),
#      BENCH_ROUNDS (default 1: the four runs once; N: N rounds of the four
#      runs in turn, each round's ratios and their median, for a noisy machine).
# Needs: nginx (apt-get install nginx), wrk (apt-get install wrk), curl,
#        python3, taskset (util-linux) when pinning.
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

APPS="${1:-50}"
DURATION="${BENCH_DURATION:-20s}"
CONNS="${BENCH_CONNECTIONS:-16}"
THREADS="${BENCH_THREADS:-$CONNS}"
PIN="${BENCH_PIN:-1}"
ROUNDS="${BENCH_ROUNDS:-1}"
need wrk "apt-get install wrk"
NGINX="$(command -v nginx || echo /usr/sbin/nginx)"
[[ -x "$NGINX" ]] || die "'nginx' is not installed (install it: apt-get install nginx)"
WRK_CPU=() SERVER_CPU=()
if [[ "$PIN" == 1 ]]; then
  need taskset "apt-get install util-linux"
  (( $(nproc) >= 2 )) || die "BENCH_PIN=1 needs 2 CPUs; run with BENCH_PIN=0"
  WRK_CPU=(taskset -c 0) SERVER_CPU=(taskset -c 1)
fi

copy_account "$APPS" "$BENCH_TMP/state"
start_sim "$APPS" idle
"${SERVER_CPU[@]}" true # fail early if taskset cannot pin
start_serve "$BENCH_TMP/state" --refresh.interval 100000h
[[ "$PIN" == 1 ]] && taskset -a -p -c 1 "$SERVE_PID" >/dev/null
# The saved data is served once encoded: wait for the full exposition.
wait_refresh_after "$SERVE_URL" 0 120

WWW="$BENCH_TMP/www"
mkdir -p "$WWW" "$BENCH_TMP/nginx/tmp"
curl -sf -o "$WWW/metrics" "$SERVE_URL"
curl -sf -H 'Accept-Encoding: gzip' -o "$WWW/metrics.gz" "$SERVE_URL"
chmod 755 "$BENCH_TMP" "$WWW"
chmod 644 "$WWW/metrics" "$WWW/metrics.gz"
SERIES="$(grep -vc '^#' "$WWW/metrics")"
FAMILIES="$(grep -c '^# TYPE' "$WWW/metrics")"
python3 - "$WWW/metrics.gz" <<'PY' || die "the exporter's gzip response is not gzip"
import gzip, sys
gzip.decompress(open(sys.argv[1], "rb").read())
PY

NGINX_PORT="$(free_port)"
cat >"$BENCH_TMP/nginx/nginx.conf" <<EOF
worker_processes 2;
daemon off;
master_process on;
pid $BENCH_TMP/nginx/nginx.pid;
error_log $BENCH_TMP/nginx/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on;
  gzip_static on;
  default_type text/plain;
  keepalive_requests 1000000;
  client_body_temp_path $BENCH_TMP/nginx/tmp/body;
  proxy_temp_path $BENCH_TMP/nginx/tmp/proxy;
  fastcgi_temp_path $BENCH_TMP/nginx/tmp/fastcgi;
  uwsgi_temp_path $BENCH_TMP/nginx/tmp/uwsgi;
  scgi_temp_path $BENCH_TMP/nginx/tmp/scgi;
  server {
    listen 127.0.0.1:$NGINX_PORT;
    root $WWW;
  }
}
EOF
"${SERVER_CPU[@]}" "$NGINX" -p "$BENCH_TMP/nginx" -e "$BENCH_TMP/nginx/error.log" \
  -c "$BENCH_TMP/nginx/nginx.conf" &
NGINX_PID=$!
BENCH_PIDS+=("$NGINX_PID")
NGINX_URL="http://127.0.0.1:$NGINX_PORT/metrics"
wait_http "$NGINX_URL" 10

# The same bytes: one response of each server, plain and gzip, as sent.
check_same() {
  local kind="$1"; shift
  local a="$BENCH_TMP/check-exporter-$kind" b="$BENCH_TMP/check-nginx-$kind"
  curl -sf "$@" -o "$a" "$SERVE_URL"
  curl -sf "$@" -o "$b" "$NGINX_URL"
  local sa sb
  sa="$(stat -c %s "$a") $(sha256sum <"$a" | cut -c1-16)"
  sb="$(stat -c %s "$b") $(sha256sum <"$b" | cut -c1-16)"
  printf '%-5s body: exporter %s, nginx %s\n' "$kind" "$sa" "$sb"
  [[ "$sa" == "$sb" ]] || die "the $kind bodies differ (exporter $sa, nginx $sb)"
}

# run_wrk ROUND NAME URL [HEADER...]: one wrk run; appends "ROUND NAME p50ms
# p99ms req/s errors" to $BENCH_TMP/results.
run_wrk() {
  local round="$1" name="$2" url="$3"; shift 3
  local out="$BENCH_TMP/wrk-$round-$name.txt"
  "${WRK_CPU[@]}" wrk -c"$CONNS" -t"$THREADS" --latency -d "$DURATION" --timeout 30s "$@" "$url" >"$out"
  python3 - "$round" "$name" "$out" >>"$BENCH_TMP/results" <<'PY'
import re, sys
rnd, name, text = sys.argv[1], sys.argv[2], open(sys.argv[3]).read()
def ms(v):
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", v)
    return float(m[1]) * {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4}[m[2]]
p50 = ms(re.search(r"^\s+50%\s+(\S+)", text, re.M)[1])
p99 = ms(re.search(r"^\s+99%\s+(\S+)", text, re.M)[1])
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text)[1])
errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", text))
non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
errors += int(non2xx[1]) if non2xx else 0
print(rnd, name, p50, p99, rps, errors)
PY
}

echo "asc-perf-exporter scrape benchmark: $APPS apps, $SERIES series in $FAMILIES families"
echo "machine: $(machine)"
echo "exporter: $BIN ($("$BIN" --version 2>/dev/null || true))"
echo "nginx: $("$NGINX" -v 2>&1 | sed 's/^nginx version: //'), wrk: $(wrk -v 2>&1 | head -1 | cut -d' ' -f2)"
echo "load: wrk -c$CONNS -t$THREADS --latency -d $DURATION --timeout 30s; pinning: $([[ "$PIN" == 1 ]] && echo 'wrk on CPU 0, the server on CPU 1' || echo none)"
check_same plain
check_same gzip -H 'Accept-Encoding: gzip'
: >"$BENCH_TMP/results"
for round in $(seq "$ROUNDS"); do
  run_wrk "$round" exporter-plain "$SERVE_URL"
  run_wrk "$round" nginx-plain "$NGINX_URL"
  run_wrk "$round" exporter-gzip "$SERVE_URL" -H 'Accept-Encoding: gzip'
  run_wrk "$round" nginx-gzip "$NGINX_URL" -H 'Accept-Encoding: gzip'
done
# The responses under load are the same bytes too (nothing refreshed).
check_same plain >/dev/null
check_same gzip -H 'Accept-Encoding: gzip' >/dev/null

python3 - "$BENCH_TMP/results" "$(stat -c %s "$WWW/metrics")" "$(stat -c %s "$WWW/metrics.gz")" <<'PY'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    rnd, name, p50, p99, rps, errors = line.split()
    rows.setdefault(int(rnd), {})[name] = (float(p50), float(p99), float(rps), int(errors))
size = {"plain": int(sys.argv[2]), "gzip": int(sys.argv[3])}
multi = len(rows) > 1
print()
print(f"{'round':>6} {'body':<6} {'bytes':>10} | {'server':<8} | {'p50 ms':>8} {'p99 ms':>8} {'req/s':>8} {'MB/s':>8} {'errors':>6}")
for rnd, r in rows.items():
    for kind in ("plain", "gzip"):
        for server in ("exporter", "nginx"):
            p50, p99, rps, err = r[f"{server}-{kind}"]
            print(f"{rnd:>6} {kind:<6} {size[kind]:>10} | {server:<8} | {p50:>8.2f} {p99:>8.2f} {rps:>8.1f} {rps * size[kind] / 1e6:>8.1f} {err:>6}")
print()
print(f"{'round':>6} {'body':<6} | exporter/nginx: {'p50':>6} {'p99':>6} {'req/s':>6}   (target: p50 and p99 at most 1.0x plain, 1.25x gzip)")
ratios = {"plain": [], "gzip": []}
for rnd, r in rows.items():
    for kind in ("plain", "gzip"):
        e, n = r[f"exporter-{kind}"], r[f"nginx-{kind}"]
        q = (e[0] / n[0], e[1] / n[1], e[2] / n[2])
        ratios[kind].append(q)
        print(f"{rnd:>6} {kind:<6} | {'':15} {q[0]:>5.2f}x {q[1]:>5.2f}x {q[2]:>5.2f}x")
if multi:
    for kind in ("plain", "gzip"):
        med = [statistics.median(q[i] for q in ratios[kind]) for i in range(3)]
        print(f"{'median':>6} {kind:<6} | {'':15} {med[0]:>5.2f}x {med[1]:>5.2f}x {med[2]:>5.2f}x")
if any(v[3] for r in rows.values() for v in r.values()):
    print("\nwarning: some requests failed (see the errors column)")
PY
