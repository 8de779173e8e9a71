#!/usr/bin/env bash
# Runs the worker benchmarks once (-short) and fails when a figure the
# README states is missed by a wide margin. Throughput is judged only as a
# ratio to the ceiling measured in the same run (never an absolute time);
# memory per enrollment, which does not depend on machine load, may exceed
# the README's figure by at most 10 %.
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(go test ./worker -run '^$' -bench . -benchtime 1x -short 2>&1) || { echo "$out"; exit 1; }
echo "$out" | grep -E '^Benchmark'
# metric NAME from the line of benchmark BENCH
metric() {
  echo "$out" | awk -v b="^Benchmark$1-" -v m="$2" '$0 ~ b { for (i = 2; i <= NF; i++) if ($i == m) { print $(i-1); exit } }'
}
fail=0
check() { # name value op limit why
  local v=$2
  if [ -z "$v" ]; then echo "bench-guard: $1 was not reported"; fail=1; return; fi
  if ! awk -v v="$v" -v l="$4" -v op="$3" 'BEGIN { exit !((op == ">=") ? v >= l : v <= l) }'; then
    echo "bench-guard: $1 = $v, want $3 $4 ($5)"; fail=1
  else
    echo "bench-guard: $1 = $v ($3 $4) ok"
  fi
}
# README: per-batch journal 0.76-0.82 of the ceiling, per-message 0.46-0.60
# (N = 20,000, idle machine). -short runs N = 2,000 next to whatever else the
# machine does, so the floors are about a quarter of those figures: they catch
# a send path that stops overlapping (serialised sends, a round trip per
# touch too many), not a few per cent.
check "SendPath ratio-batch-journal" "$(metric SendPath ratio-batch-journal)" ">=" 0.20 "README 0.76-0.82"
check "SendPath ratio-c/a" "$(metric SendPath ratio-c/a)" ">=" 0.15 "README 0.46-0.60"
# README memory figures + 10 %.
check "SendPath redis-B/enrollment" "$(metric SendPath redis-B/enrollment)" "<=" 913 "README 710-830 B"
# EnrollIngest: 1,065 B at N = 2,000 since every write also indexes the
# prospect for search (docs/performance.md, Prospect search); 875 B before.
check "EnrollIngest redis-B/enrollment" "$(metric EnrollIngest redis-B/enrollment)" "<=" 1172 "1,065 B with the search index"
check "MemoryMidJourney fresh-B/enrollment" "$(metric MemoryMidJourney fresh-B/enrollment)" "<=" 988 "README 898 B"
check "MemoryMidJourney after3-B/enrollment" "$(metric MemoryMidJourney after3-B/enrollment)" "<=" 2090 "README about 1,900 B"
# Send limits that never bind cost about nothing (README/performance.md:
# 0.97-1.03 of the same path without mailboxes at N = 10,000); at N = 2,000
# on a busy machine one side's best of two can swing by a quarter, so the
# floor catches only a limiter that serialises sends.
check "SendLimits ratio-limits/none" "$(metric SendLimits ratio-limits/none)" ">=" 0.70 "performance.md 0.97-1.03"
exit $fail
