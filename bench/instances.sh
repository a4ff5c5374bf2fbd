#!/usr/bin/env bash
# Several gateway instances under sustained load, sharing one Redis (or, with --cluster,
# a 3-primary Redis Cluster): 4 `floodgate serve` processes, each loaded by its own wrk
# (-t1 -c16) for --seconds, all with one API key whose daily quota is --quota requests.
# Far more requests arrive than the quota allows, so the check is exactness under load:
# the mock upstream must have received exactly --quota requests across all instances.
# Reports each instance's requests, the total rate, the requests admitted, and script
# calls per decision from INFO commandstats; exits 1 if the admitted count is not the
# quota.
#
# Usage: bench/instances.sh [--seconds 12] [--quota 20000] [--cluster]
#        FLOODGATE_BIN=path/to/floodgate bench/instances.sh ...   (skips the production build)
#
# Everything listens on 127.0.0.1: Redis on BENCH_PORT_BASE+1 (+2, +3 for a cluster),
# the mock on +5, the gateways on +11 to +14 (BENCH_PORT_BASE defaults to 19400).
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=12
quota=20000
cluster=false
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds="$2"; shift ;;
    --quota) quota="$2"; shift ;;
    --cluster) cluster=true ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
  shift
done

scripts/install-deps.sh redis-server wrk curl
command -v redis-cli >/dev/null || scripts/install-deps.sh redis-tools
# shellcheck source=bench/lib.sh
. bench/lib.sh
floodgate_binary

base=${BENCH_PORT_BASE:-19400}
mock_port=$((base + 5))
for i in 1 2 3 4; do ensure_free $((base + 10 + i)); done
ensure_free "$mock_port"

# Redis: one server, or three primaries made a cluster.
redis_ports=($((base + 1)))
[ "$cluster" = true ] && redis_ports=($((base + 1)) $((base + 2)) $((base + 3)))
for port in "${redis_ports[@]}"; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "port $port is already in use; set BENCH_PORT_BASE to use other ports" >&2
    exit 1
  fi
  mkdir -p "$work/redis-$port"
  extra=()
  [ "$cluster" = true ] && extra=(--cluster-enabled yes --cluster-config-file nodes.conf)
  redis-server --bind 127.0.0.1 --port "$port" --save "" --appendonly no \
    --dir "$work/redis-$port" "${extra[@]}" >"$work/redis-$port.log" 2>&1 &
  pids+=($!)
done
for port in "${redis_ports[@]}"; do
  for _ in $(seq 100); do
    [ "$(redis-cli -p "$port" ping 2>/dev/null)" = "PONG" ] && break
    sleep 0.05
  done
done
if [ "$cluster" = true ]; then
  nodes=()
  for port in "${redis_ports[@]}"; do nodes+=("127.0.0.1:$port"); done
  redis-cli --cluster create "${nodes[@]}" --cluster-replicas 0 --cluster-yes >/dev/null
  for _ in $(seq 200); do
    redis-cli -p "${redis_ports[0]}" cluster info | grep -q 'cluster_state:ok' && break
    sleep 0.05
  done
  store_line="cluster = [$(printf '"redis://%s", ' "${nodes[@]}" | sed 's/, $//')]"
else
  store_line="url = \"redis://127.0.0.1:${redis_ports[0]}\""
fi

"$floodgate" mock-upstream --listen "127.0.0.1:$mock_port" >"$work/mock.log" 2>&1 &
pids+=($!)
wait_for_port "$mock_port" mock

# One key; its requests per minute never bind, its daily quota does. fail_open: a
# timed-out decision would be decided locally, so an over-count would show here.
cat >"$work/floodgate.toml" <<EOF
[server]
upstream = "http://127.0.0.1:$mock_port"

[store]
kind = "redis"
$store_line

[models]
load-model = { kind = "text" }

[tiers.standard]
models.load-model.limits = [
  { unit = "requests", window = "minute", max = 100000000, failure = "fail_open" },
  { unit = "requests", window = "day", max = $quota, failure = "fail_open" },
]

[accounts.load]
tier = "standard"

[[keys]]
name = "load key"
sha256 = "$("$floodgate" hash-key sk-instances-bench)"
account = "load"

[[routes]]
method = "POST"
path = "/v1/chat/completions"
model_field = "model"
EOF
"$floodgate" check-config "$work/floodgate.toml" >/dev/null
for i in 1 2 3 4; do
  "$floodgate" serve --config "$work/floodgate.toml" --listen "127.0.0.1:$((base + 10 + i))" \
    --threads 1 >"$work/gateway$i.log" 2>&1 &
  pids+=($!)
  wait_for_port $((base + 10 + i)) "gateway$i"
done

cat >"$work/request.lua" <<'EOF'
wrk.method = "POST"
wrk.body = '{"model": "load-model", "max_tokens": 5}'
wrk.headers["content-type"] = "application/json"
wrk.headers["x-api-key"] = "sk-instances-bench"
EOF
for port in "${redis_ports[@]}"; do redis-cli -p "$port" config resetstat >/dev/null; done

echo "== 4 instances x wrk -t1 -c16 -d${seconds}s, daily quota $quota" >&2
loads=()
for i in 1 2 3 4; do
  wrk -t1 -c16 -d"${seconds}s" -s "$work/request.lua" \
    "http://127.0.0.1:$((base + 10 + i))/v1/chat/completions" >"$work/wrk$i.txt" 2>&1 &
  loads+=($!)
done
wait "${loads[@]}"

total=0
for i in 1 2 3 4; do
  requests=$(awk '/requests in/ { print $1 }' "$work/wrk$i.txt")
  echo "instance $i: $requests requests"
  total=$((total + requests))
done
# the requests that reached the upstream's chat path (the mock also counts the probe of
# its own port)
admitted=$(curl -s "http://127.0.0.1:$mock_port/mock/stats" |
  sed -n 's/.*"requests":{[^}]*"\/v1\/chat\/completions":\([0-9]*\).*/\1/p')
calls=0
for port in "${redis_ports[@]}"; do
  n=$(redis-cli -p "$port" info commandstats | sed -n 's/^cmdstat_evalsha:calls=\([0-9]*\),.*/\1/p')
  calls=$((calls + ${n:-0}))
done
# each outage an instance saw is logged once when it starts
degraded=$(cat "$work"/gateway*.log | grep -c 'shared store unreachable' || true)

echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores"
echo "store: $([ "$cluster" = true ] && echo "Redis Cluster, 3 primaries" || echo "one Redis")"
echo "requests: $total in ${seconds} s ($((total / seconds))/s across the 4 instances)"
echo "script calls per decision: $(awk -v c="$calls" -v t="$total" 'BEGIN { printf "%.3f", c / t }')"
echo "outages of the shared store logged by the instances: $degraded"
echo "admitted (reached the upstream): $admitted; daily quota: $quota"
if [ "$admitted" != "$quota" ]; then
  echo "NOT EXACT: $admitted admitted against a quota of $quota" >&2
  exit 1
fi
echo "exact: every instance together admitted the quota, no more, no less"
