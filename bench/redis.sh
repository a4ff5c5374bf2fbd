#!/usr/bin/env bash
# Redis store benchmark, in one run against one redis-server on 127.0.0.1:
#   (a) the server's ceiling for script calls: redis-benchmark running a one-line script
#       (`SCRIPT LOAD "return 1"`, then `EVALSHA <sha> 0`), 64 clients, 200,000 calls,
#       unpipelined and with -P 16;
#   (b) floodgate's RedisStore: decisions per second from 64 concurrent callers sharing one
#       store (one multiplexed connection), each a three-dimension decision (requests per
#       minute per key, tokens per minute per account, requests per day per key), all
#       admitted (release build of the `throughput` example), for each key spread of
#       --keys: 64 (each caller its own key, over 8 accounts: every decision of a
#       batched call touches its own key's counters) and 1 (one customer's 64 workers on
#       one key: the decisions of a call share their counters);
#   (c) Redis commands per decision, from INFO commandstats (at most 1 EVALSHA: under
#       load concurrent decisions share batched calls, so below 1; exactly 1 from one
#       caller, measured for 2 s at the end), the server's time
#       per decision (usec_per_call over decisions per call), and how many script calls
#       the SLOWLOG caught above 200 us.
#   (d) the server's CPU time (user + system, from /proc) per call in (a) and per
#       decision in (b): unlike rates, it barely moves when other processes share the
#       machine, so the ratio it implies (a's CPU per call / b's CPU per decision: what
#       each side would reach with the server's core to itself) is reported beside the
#       measured one.
# The report gives (b) / (a, unpipelined) for each spread: the target is >= 1.5.
#
# Usage: bench/redis.sh [--seconds 10] [--keys 64,1]
#        THROUGHPUT_BIN=path/to/throughput bench/redis.sh   (skips the release build)
#
# With two or more cores, redis-server runs on the last core and the load (redis-benchmark,
# then the store's callers) on core 0, so the client does not steal the server's time.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=10
spreads=64,1
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds="$2"; shift ;;
    --keys) spreads="$2"; shift ;;
    -h|--help) sed -n '2,29p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
  shift
done

scripts/install-deps.sh redis-server
command -v redis-benchmark >/dev/null || scripts/install-deps.sh redis-tools

if [ -n "${THROUGHPUT_BIN:-}" ]; then
  throughput=$THROUGHPUT_BIN
else
  echo "== building the throughput driver (release)" >&2
  cargo build --release --locked -p floodgate-redis --example throughput >&2
  throughput=target/release/examples/throughput
fi

cores=$(nproc)
if [ "$cores" -ge 2 ]; then
  pin_server=(taskset -c "$((cores - 1))")
  pin_load=(taskset -c 0)
  placement="redis-server on CPU $((cores - 1)); redis-benchmark and the store's callers on CPU 0"
else
  pin_server=()
  pin_load=()
  placement="one core: server and load share it"
fi

# A free loopback port, from BENCH_REDIS_PORT (default 19201) upwards.
port=${BENCH_REDIS_PORT:-19201}
while (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do port=$((port + 1)); done

# shellcheck source=bench/lib.sh
. bench/lib.sh
"${pin_server[@]}" redis-server --bind 127.0.0.1 --port "$port" --save "" --appendonly no \
  --protected-mode no --dir "$work" >"$work/log" 2>&1 &
server_pid=$!
pids+=("$server_pid")
cli() { redis-cli -h 127.0.0.1 -p "$port" "$@"; }
for _ in $(seq 100); do
  [ "$(cli ping 2>/dev/null)" = "PONG" ] && break
  sleep 0.05
done
[ "$(cli ping)" = "PONG" ] || { cat "$work/log" >&2; exit 1; }

# The server's CPU time so far, in microseconds (utime + stime, in clock ticks).
tick_us=$((1000000 / $(getconf CLK_TCK)))
server_cpu() { awk -v t="$tick_us" '{ print ($14 + $15) * t }' "/proc/$server_pid/stat"; }
per_call() { awk -v a="$1" -v b="$2" -v n="$3" 'BEGIN { printf "%.1f", (b - a) / n }'; }

# (a) the ceiling.
sha=$(cli script load "return 1")
rps() { awk '/requests per second/ { for (i = 1; i <= NF; i++) if ($(i+1) == "requests") print $i }' | tail -1; }
echo "== (a) redis-benchmark EVALSHA 'return 1', 64 clients" >&2
cpu0=$(server_cpu)
unpipelined=$("${pin_load[@]}" redis-benchmark -h 127.0.0.1 -p "$port" -n 200000 -c 64 -q \
  evalsha "$sha" 0 | tr '\r' '\n' | rps)
cpu1=$(server_cpu)
pipelined=$("${pin_load[@]}" redis-benchmark -h 127.0.0.1 -p "$port" -n 200000 -c 64 -P 16 -q \
  evalsha "$sha" 0 | tr '\r' '\n' | rps)
cpu2=$(server_cpu)
cpu_unpipelined=$(per_call "$cpu0" "$cpu1" 200000)
cpu_pipelined=$(per_call "$cpu1" "$cpu2" 200000)

# (b) and (c): the store, for each key spread, with the server's statistics and slow log
# reset first.
cli config set slowlog-log-slower-than 200 >/dev/null
cli config set slowlog-max-len 1000000 >/dev/null
reports=""
summary=""
for keys in ${spreads//,/ }; do
  cli flushall >/dev/null
  cli slowlog reset >/dev/null
  echo "== (b) RedisStore decisions, 64 callers on $keys keys, ${seconds} s" >&2
  cpu3=$(server_cpu)
  store_report=$("${pin_load[@]}" "$throughput" "$seconds" --port "$port" --keys "$keys")
  cpu4=$(server_cpu)
  slow=$(cli slowlog len)
  decisions=$(echo "$store_report" | awk '/^RedisStore::decide/ { print $(NF-1) }')
  decided=$(echo "$store_report" | sed -n 's/.*(\([0-9]*\) decisions in.*/\1/p')
  cpu_decision=$(per_call "$cpu3" "$cpu4" "$decided")
  ratio_cpu=$(awk -v a="$cpu_unpipelined" -v b="$cpu_decision" 'BEGIN { printf "%.2f", a / b }')
  ratio=$(awk -v b="$decisions" -v a="$unpipelined" 'BEGIN { printf "%.2f", b / a }')
  ratio_p=$(awk -v b="$decisions" -v a="$pipelined" 'BEGIN { printf "%.2f", b / a }')
  reports+="(b) and (c), 64 callers on $keys keys:
$(echo "$store_report" | sed 's/^/    /')
    script calls slower than 200 us on the server (SLOWLOG): $slow
    server CPU per decision (d): $cpu_decision us
    ratio (b) / (a, unpipelined): $ratio   (target >= 1.5)
    ratio (b) / (a, -P 16):       $ratio_p
    ratio implied by server CPU (d), (a, unpipelined) us per call / (b) us per decision: $ratio_cpu
"
  summary+="$keys keys: $decisions decisions/s, ratio to unpipelined EVALSHA $ratio (target >= 1.5), by server CPU $ratio_cpu
"
done

# (c) without concurrency: one caller, whose decisions have nothing to share a call with.
cli flushall >/dev/null
echo "== (c) RedisStore decisions, one caller, 2 s" >&2
lone=$("${pin_load[@]}" "$throughput" 2 --port "$port" --callers 1 | grep '^EVALSHA per decision')

cat <<REPORT

== Redis store benchmark
machine:   $(lscpu 2>/dev/null | awk -F: '/Model name/ { gsub(/^ +/, "", $2); print $2; exit }'), $cores cores; $(redis-server --version | awk '{ print $1, $2, $3 }')
placement: $placement
(a) redis-benchmark EVALSHA 'return 1', 64 clients, unpipelined: $unpipelined /s  (server CPU $cpu_unpipelined us/call)
    same, -P 16:                                               $pipelined /s  (server CPU $cpu_pipelined us/call)
$reports(c) one caller, each decision alone (target: exactly one command per decision):
    $lone

summary:
$summary
REPORT
