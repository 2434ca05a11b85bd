#!/usr/bin/env bash
# Peak memory of `parse` on big saved files (issue 10: within 4x the input).
# Generates a ~50 MB perfPowerMetrics file and a ~50 MB diagnosticLogs file
# (deterministic), runs the release binary on each with /usr/bin/time -v and
# prints peak RSS against the input size.
# Usage: bench/parse_memory.sh [size-in-MB]   (needs python3 and GNU time)
set -euo pipefail
cd "$(dirname "$0")/.."
MB="${1:-50}"
DIR="${PARSE_BENCH_DIR:-$(mktemp -d)}"
BIN="${CARGO_TARGET_DIR:-target}/release/asc-perf-exporter"
cargo build --release --bin asc-perf-exporter >&2

python3 - "$DIR" "$MB" <<'PY'
import json, random, sys
out, mb = sys.argv[1], int(sys.argv[2])
target = mb * 1000 * 1000
rnd = random.Random(42)

# xcodeMetrics: datasets of many devices, eight versions each.
versions = [f"{major}.{minor}" for major in range(1, 40) for minor in range(10)]
cats = ["LAUNCH", "HANG", "MEMORY", "DISK", "BATTERY", "TERMINATION", "ANIMATION", "STORAGE"]
def dataset(device, pct):
    return {"filterCriteria": {"device": device, "deviceMarketingName": device.replace("_", " "),
                               "percentile": pct},
            "points": [{"version": v, "value": round(rnd.uniform(1, 3000), 1),
                        "errorMargin": round(rnd.uniform(0, 50), 1), "goal": "good"}
                       for v in versions[:8]]}
metrics, size, n = [], 0, 0
while size < target:
    devices = [f"iPhone{n}_{d}" for d in range(50)]
    m = {"identifier": f"metric{n}", "unit": {"identifier": "ms", "displayName": "ms"},
         "goalKeys": [{"goalKey": "good", "lowerBound": 0, "upperBound": 400}],
         "datasets": [dataset(d, p) for d in devices for p in ("percentile.fifty", "percentile.ninety")]}
    size += len(json.dumps(m, separators=(",", ":")))
    metrics.append(m)
    n += 1
doc = {"version": "1.0.0",
       "insights": {"trendingUp": [], "regressions": [
           {"metricCategory": "LAUNCH", "latestVersion": "1.7", "metric": f"metric{i}",
            "summaryString": "regressed", "referenceVersions": ["1.5", "1.6"],
            "populations": [{"device": f"iPhone{i}_0", "percentile": "percentile.fifty",
                             "deltaPercentage": 12.5, "latestVersionValue": 900.0}]}
           for i in range(0, n, 7)]},
       "productData": [{"platform": "iOS", "metricCategories": [
           {"identifier": c, "metrics": metrics[i::len(cats)]} for i, c in enumerate(cats)]}]}
with open(f"{out}/metrics.json", "w") as f:
    json.dump(doc, f, separators=(",", ":"))

# diagnosticLogs: signatures with logs whose call stacks are 60-frame chains.
def stack(depth):
    node = None
    for i in reversed(range(depth)):
        node = {"sampleCount": 20, "isBlameFrame": i == depth // 2, "binaryName": "ExampleApp",
                "symbolName": f"-[Module{i} method{rnd.randrange(1000)}:]", "offsetIntoSymbol": "24",
                "binaryUUID": "9C5E8B7A-1F2D-3E4C-5B6A-7D8E9F0A1B2C", "address": hex(0x100000000 + rnd.randrange(1 << 24)),
                "offsetIntoBinaryTextSegment": "", "subFrames": [node] if node else []}
    return node
pds, size, s = [], 0, 0
while size < target:
    logs = [{"diagnosticMetaData": {"bundleId": "com.example.app", "event": "hang", "appVersion": "6.10.1",
                                    "osVersion": "iPhone OS 17.4 (21E219)", "deviceType": "iPhone15_2",
                                    "platformArchitecture": "arm64", "buildVersion": "1234"},
             "callStackTree": [{"callStackPerThread": True, "callStacks": [{"callStackRootFrames": [stack(60)]}]}]}
            for _ in range(20)]
    pd = {"signatureId": f"{s:032x}", "diagnosticInsights": [], "diagnosticLogs": logs}
    size += len(json.dumps(pd, separators=(",", ":")))
    pds.append(pd)
    s += 1
with open(f"{out}/logs.json", "w") as f:
    json.dump({"version": "1.0.0", "productData": pds}, f, separators=(",", ":"))
PY

measure() {
  local file="$1"; shift
  local bytes kb
  bytes=$(stat -c %s "$file")
  kb=$( { /usr/bin/time -v "$BIN" parse "$@" >/dev/null; } 2>&1 | awk -F': ' '/Maximum resident set size/ {print $2}')
  awk -v b="$bytes" -v kb="$kb" -v cmd="parse $*" \
    'BEGIN { printf "%-62s input %6.1f MB  peak RSS %7.1f MB  %.2fx\n", cmd, b/1e6, kb*1024/1e6, kb*1024/b }'
}
M="$DIR/metrics.json"; L="$DIR/logs.json"
measure "$M" metrics -i "$M"
measure "$M" metrics -i "$M" --auto_insights
measure "$M" metrics -i "$M" --metric metric3
measure "$M" metrics -i "$M" -o json
measure "$L" diagnostics -i "$L"
measure "$L" diagnostics -i "$L" --callstack
measure "$L" diagnostics -i "$L" --callstack -o json
