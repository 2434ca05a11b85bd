#!/usr/bin/env bash
# Memory over many refreshes: samples RSS and heap in use after refresh 10, 50, 100, 150, 200.
# Usage: bench/memory.sh [apps] [refreshes]
set -euo pipefail
cd "$(dirname "$0")/.."
BENCH_APPS="${1:-10}" BENCH_REFRESHES="${2:-200}" cargo bench --bench memory
