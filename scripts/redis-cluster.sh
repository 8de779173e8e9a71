#!/usr/bin/env bash
# Starts a throwaway Redis Cluster of three masters on loopback and prints
# its seed addresses (for REDIS_CLUSTER_ADDRS). Usage:
#   scripts/redis-cluster.sh start [BASE_PORT]   # default 7101
#   scripts/redis-cluster.sh stop  [BASE_PORT]
set -euo pipefail
cmd=${1:-start}
base=${2:-7101}
dir=${TMPDIR:-/tmp}/nurture-cluster-$base
ports=("$base" "$((base + 1))" "$((base + 2))")
case "$cmd" in
stop)
  for p in "${ports[@]}"; do redis-cli -p "$p" shutdown nosave >/dev/null 2>&1 || true; done
  rm -rf "$dir"
  exit 0
  ;;
start) ;;
*) echo "usage: $0 start|stop [BASE_PORT]" >&2; exit 2 ;;
esac
rm -rf "$dir" && mkdir -p "$dir"
for p in "${ports[@]}"; do
  redis-server --port "$p" --bind 127.0.0.1 --cluster-enabled yes --cluster-config-file "$dir/nodes-$p.conf" \
    --cluster-node-timeout 5000 --save "" --appendonly no --dir "$dir" --daemonize yes --logfile "$dir/$p.log"
done
for p in "${ports[@]}"; do
  for _ in $(seq 50); do redis-cli -p "$p" ping >/dev/null 2>&1 && break; sleep 0.1; done
done
redis-cli --cluster create "${ports[@]/#/127.0.0.1:}" --cluster-replicas 0 --cluster-yes >"$dir/create.log" 2>&1
for _ in $(seq 100); do
  redis-cli -p "$base" cluster info | grep -q "cluster_state:ok" && break
  sleep 0.1
done
redis-cli -p "$base" cluster info | grep -q "cluster_state:ok" || { cat "$dir/create.log" >&2; exit 1; }
echo "127.0.0.1:${ports[0]},127.0.0.1:${ports[1]},127.0.0.1:${ports[2]}"
