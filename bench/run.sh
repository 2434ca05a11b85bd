#!/usr/bin/env bash
# Runs the exporter benchmark on a large simulated account and prints the report.
# Usage: bench/run.sh [apps] [builds-per-app]
set -euo pipefail
cd "$(dirname "$0")/.."
BENCH_APPS="${1:-50}" BENCH_BUILDS="${2:-3}" cargo bench --bench exporter
