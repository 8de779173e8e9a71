#!/usr/bin/env bash
# End-to-end send benchmark, as a team runs Nurture: a real redis-server
# (AOF everysec), `nurture serve --no-worker` for the import, one or more
# `nurture worker` processes, and an external SMTP sink process
# (internal/benchsink) that checks every 10th message's personalization.
# N prospects get one personalized HTML email each; the import is not
# timed. Prints start -> last, first -> last, messages/s and CPU ms per
# 1,000 messages for the workers, Redis and the sink, read from /proc.
#
#   scripts/bench-e2e.sh                      # 20,000 recipients, 1 worker
#   N=100000 WORKERS=2 scripts/bench-e2e.sh
#   SMTP_CONNECTIONS=20 NURTURE_JOURNAL=batch SMTP_PIPELINING=off scripts/bench-e2e.sh
#   COMMANDSTATS=1 scripts/bench-e2e.sh       # also Redis calls per message, by command
#   NURTURE_BIN=/tmp/nurture-old scripts/bench-e2e.sh   # a given nurture binary
#
# Everything listens on 127.0.0.1 and stops when the script ends.
set -euo pipefail
cd "$(dirname "$0")/.."

N=${N:-20000}
WORKERS=${WORKERS:-1}
BASE_PORT=${BASE_PORT:-17300}
TIMEOUT=${TIMEOUT:-$((120 + N / 500))}
command -v redis-server >/dev/null || { echo "bench-e2e: redis-server is not on PATH (apt-get install -y redis-server)" >&2; exit 2; }

work=$(mktemp -d /tmp/nurture-bench-e2e.XXXXXX)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	if [ "${KEEP:-}" = "" ]; then rm -rf "$work"; else echo "bench-e2e: kept $work"; fi
}
trap cleanup EXIT

if [ -n "${NURTURE_BIN:-}" ]; then
	cp "$NURTURE_BIN" "$work/nurture" # e.g. an older build, for an A/B in one run window
else
	go build -o "$work/nurture" ./cmd/nurture
fi
go build -o "$work/benchsink" ./internal/benchsink

redis_port=$BASE_PORT smtp_port=$((BASE_PORT + 1)) stats_port=$((BASE_PORT + 2))
api_port=$((BASE_PORT + 3)) metrics_port=$((BASE_PORT + 4))
redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly yes --appendfsync everysec \
	--dir "$work" --maxmemory-policy noeviction >"$work/redis.log" 2>&1 &
redis_pid=$!
pids+=("$redis_pid")
"$work/benchsink" -addr "127.0.0.1:$smtp_port" -stats "127.0.0.1:$stats_port" -check-every 10 2>"$work/sink.log" &
sink_pid=$!
pids+=("$sink_pid")

mkdir -p "$work/cadences" "$work/spool"
"$work/benchsink" -write-cadence bench >"$work/cadences/bench.yaml"
"$work/benchsink" -write-csv "$N" >"$work/prospects.csv"
admin=$(head -c 20 /dev/urandom | od -An -tx1 | tr -d ' \n')
export REDIS_URL="redis://127.0.0.1:$redis_port/0" NURTURE_CADENCES="$work/cadences"
export NURTURE_TOKEN_KEY=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
export NURTURE_PUBLIC_URL=https://n.example NURTURE_SPOOL_DIR="$work/spool" NURTURE_METRICS_ADDR="127.0.0.1:$metrics_port"
export SMTP_HOST=127.0.0.1 SMTP_PORT=$smtp_port SMTP_TLS=none
export NURTURE_API_TOKENS="bench:admin:$admin" NURTURE_API_URL="http://127.0.0.1:$api_port" NURTURE_API_TOKEN="$admin"

wait_http() { # url what
	for _ in $(seq 1 200); do
		curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	echo "bench-e2e: $2 did not answer $1; logs in $work (KEEP=1 keeps them)" >&2
	exit 1
}
"$work/nurture" serve --no-worker --addr "127.0.0.1:$api_port" >"$work/serve.log" 2>&1 &
pids+=($!)
wait_http "http://127.0.0.1:$api_port/readyz" serve
wait_http "http://127.0.0.1:$stats_port/stats" benchsink

echo "bench-e2e: importing $N prospects (not timed)"
"$work/nurture" import "$work/prospects.csv" --cadence bench --chunk 2000 >"$work/import.log" 2>&1 ||
	{ tail -5 "$work/import.log" >&2; exit 1; }

tck=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
rcli() { redis-cli -p "$redis_port" "$@"; }
redis_cmds() { rcli INFO stats | sed -n 's/^total_commands_processed:\([0-9]*\).*/\1/p'; }
rcli CONFIG RESETSTAT >/dev/null
redis0=$(cpu_ticks "$redis_pid") sink0=$(cpu_ticks "$sink_pid") cmds0=$(redis_cmds)
start_ns=$(date +%s%N)
worker_pids=()
for i in $(seq 1 "$WORKERS"); do
	"$work/nurture" worker --ops-addr "127.0.0.1:$((BASE_PORT + 10 + i))" >"$work/worker$i.log" 2>&1 &
	worker_pids+=($!)
	pids+=($!)
done

stats() { curl -fsS "http://127.0.0.1:$stats_port/stats"; }
field() { sed -n "s/.*\"$1\":\([0-9]*\).*/\1/p"; }
deadline=$(($(date +%s) + TIMEOUT))
while :; do
	got=$(stats | field received)
	[ "$got" -ge "$N" ] && break
	if [ "$(date +%s)" -gt "$deadline" ]; then
		echo "bench-e2e: only $got of $N messages after ${TIMEOUT}s; logs in $work (KEEP=1 keeps them)" >&2
		exit 1
	fi
	for p in "${worker_pids[@]}"; do
		kill -0 "$p" 2>/dev/null || { echo "bench-e2e: a worker exited:" >&2; tail -20 "$work"/worker*.log >&2; exit 1; }
	done
	sleep 0.05
done
# CPU up to the last message; then give a repeated send time to arrive.
worker_ticks=0
for p in "${worker_pids[@]}"; do worker_ticks=$((worker_ticks + $(cpu_ticks "$p"))); done
redis_ticks=$(($(cpu_ticks "$redis_pid") - redis0)) sink_ticks=$(($(cpu_ticks "$sink_pid") - sink0))
cmds=$(($(redis_cmds) - cmds0))
if [ "${COMMANDSTATS:-}" != "" ]; then
	echo "bench-e2e: Redis commands during the send phase, per message:"
	rcli INFO commandstats | tr ':=,' '   ' | awk -v n="$N" '/^cmdstat_/ { sub("cmdstat_", "", $1); printf "  %-22s %6.2f calls  %7.1f us\n", $1, $3 / n, $5 / n }' | sort -k2 -nr | head -15
fi
sleep 2
s=$(stats)
received=$(echo "$s" | field received) dups=$(echo "$s" | field duplicates)
checked=$(echo "$s" | field checked) failures=$(echo "$s" | field personalization_failures)
first=$(echo "$s" | field first_unix_ns) last=$(echo "$s" | field last_unix_ns)

awk -v n="$N" -v rcv="$received" -v dups="$dups" -v chk="$checked" -v fail="$failures" \
	-v start="$start_ns" -v first="$first" -v last="$last" -v tck="$tck" \
	-v w="$worker_ticks" -v r="$redis_ticks" -v k="$sink_ticks" -v workers="$WORKERS" -v cmds="$cmds" \
	-v conns="${SMTP_CONNECTIONS:-4}" -v journal="${NURTURE_JOURNAL:-message}" -v pipe="${SMTP_PIPELINING:-on}" 'BEGIN {
	sl = (last - start) / 1e9; fl = (last - first) / 1e9
	ms = 1000 / tck * 1000 / n
	printf "bench-e2e: %d recipients, %d worker(s), journal=%s, %d SMTP connections each, pipelining %s\n", n, workers, journal, conns, pipe
	printf "  delivered            %d (duplicates %d; personalization checked %d, failures %d)\n", rcv, dups, chk, fail
	printf "  start -> last        %.2f s  %.0f msg/s\n", sl, n / sl
	printf "  first -> last        %.2f s  %.0f msg/s\n", fl, n / fl
	printf "  CPU ms per 1,000     workers %.0f  redis %.0f  engine+redis %.0f  sink %.0f\n", w * ms, r * ms, (w + r) * ms, k * ms
	printf "  Redis commands       %.1f per message\n", cmds / n
}'
if [ "$received" -ne "$N" ] || [ "$dups" -ne 0 ] || [ "$failures" -ne 0 ]; then
	echo "bench-e2e: FAILED: want exactly $N delivered, 0 duplicates, 0 personalization failures" >&2
	exit 1
fi
