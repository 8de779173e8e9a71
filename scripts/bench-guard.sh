#!/usr/bin/env bash
# Runs the worker benchmarks once (-short) and fails when a figure the
# README states is missed by a wide margin. Throughput is judged only as a
# ratio to the ceiling measured in the same run (never an absolute time);
# memory per enrollment, which does not depend on machine load, may exceed
# the README's figure by at most 10 %.
#
# The throughput ratios are each the best of three runs of their benchmark
# (every benchmark once, then SendPath and JournalReplicaWait twice more):
# on a shared 2-core machine one run can lose half its ratio or more to
# whatever else runs (a loaded -short run once measured 0.24; with the load
# average at 16-18, single runs measured per-batch 0.13-0.67), while a send
# path that really got slower is slower in all three.
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(go test ./worker -run '^$' -bench . -benchtime 1x -short 2>&1) || { echo "$out"; exit 1; }
more=$(go test ./worker -run '^$' -bench '^(BenchmarkSendPath|BenchmarkJournalReplicaWait)$' -benchtime 1x -count 2 -short 2>&1) || { echo "$more"; exit 1; }
# The bulk import's memory (-short: 12 MB; docs/performance.md, 60 MB: 25.5-29.7 MB peak RSS
# growth, target <= 100 MB): the body is streamed, never held.
bulk=$(go test ./server -run '^$' -bench '^BenchmarkBulkImport60MB$' -benchtime 1x -short 2>&1) || { echo "$bulk"; exit 1; }
out="$out
$more
$bulk"
echo "$out" | grep -E '^Benchmark'
# metric BENCH NAME: NAME from the first line of benchmark BENCH
metric() {
  echo "$out" | awk -v b="^Benchmark$1-" -v m="$2" '$0 ~ b { for (i = 2; i <= NF; i++) if ($i == m) { print $(i-1); exit } }'
}
# best BENCH NAME: the highest NAME over every line of benchmark BENCH
best() {
  echo "$out" | awk -v b="^Benchmark$1-" -v m="$2" '$0 ~ b { for (i = 2; i <= NF; i++) if ($i == m && (v == "" || $(i-1) + 0 > v + 0)) v = $(i-1) } END { if (v != "") print v }'
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
# Since the SMTP client pipelines (MAIL, RCPT and DATA in one write) the
# ceiling itself is 1.4-2x faster, so the ratios fell although the engine
# got faster too: -short runs (N = 2,000, 2 cores, load 5-6) printed best
# of three 0.46 per-batch and 0.30 per-message (docs/performance.md). The
# floors are about 65 % of those, so a loaded CI machine passes, while a
# send path half as fast (0.23 / 0.15: serialised sends, a round trip per
# touch too many) fails.
check "SendPath ratio-batch-journal" "$(best SendPath ratio-batch-journal)" ">=" 0.30 "-short best of 3: 0.46 at load 5; best of 3"
check "SendPath ratio-c/a" "$(best SendPath ratio-c/a)" ">=" 0.19 "-short best of 3: 0.30 at load 5; best of 3"
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
# Waiting for a replica after every Begin costs 8-13 % (performance.md:
# ratio 0.87 and 0.92, N = 10,000; each run is already the best of two per
# side). At N = 2,000 on a loaded machine single runs measured 0.56-1.5, so
# the floor is on the best of three: a WAIT that doubles the cost of a
# journal step (about 0.45) fails.
check "JournalReplicaWait ratio-wait/nowait" "$(best JournalReplicaWait ratio-wait/nowait)" ">=" 0.60 "performance.md 0.87-0.92; best of 3"
check "BulkImport60MB peak_RSS_growth_MB" "$(metric BulkImport60MB peak_RSS_growth_MB)" "<=" 100 "performance.md 25.5-29.7 MB; target 100 MB"
exit $fail
