#!/usr/bin/env bash
# User-space instructions per proxied request of `floodgate serve --threads 1` with
# bench/gateway.toml, counted by callgrind: unlike CPU time, the count does not move with
# other work on the machine (within about 1 %), so it measures a change to the proxied
# path in one short run.
#
# The mock upstream runs natively; floodgate runs under valgrind --tool=callgrind. After a
# warm-up the counters are zeroed, wrk sends the same request as bench/gateway.sh for a
# fixed time over a few connections, and the instructions counted are divided by the
# requests wrk saw answered.
#
# Usage: bench/gateway-callgrind.sh [--seconds 10] [--connections 8] [--out DIR]
#        FLOODGATE_BIN=path/to/floodgate bench/gateway-callgrind.sh   (skips the build)
# Prints one line: `instructions_per_request=N requests=R total=T`, and leaves the
# callgrind output in DIR (default: a temporary directory, removed) for callgrind_annotate.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=10
connections=8
out=""
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds="$2"; shift ;;
    --connections) connections="$2"; shift ;;
    --out) out="$2"; shift ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
  shift
done

scripts/install-deps.sh wrk curl
command -v valgrind >/dev/null || { echo "valgrind is needed (apt-get install valgrind)" >&2; exit 1; }

# shellcheck source=bench/lib.sh
. bench/lib.sh
floodgate_binary

base=${BENCH_PORT_BASE:-19200}
mock_port=$((base + 1))
proxy_port=$((base + 3))
[ -n "$out" ] || out="$work/out"
mkdir -p "$out"

"$floodgate" mock-upstream --listen "127.0.0.1:$mock_port" --threads 1 >"$work/mock.log" 2>&1 &
pids+=($!)
wait_for_port "$mock_port" mock 30

valgrind --tool=callgrind --callgrind-out-file="$out/callgrind.out" \
  "$floodgate" serve --config bench/gateway.toml --threads 1 \
  --listen "127.0.0.1:$proxy_port" --upstream "http://127.0.0.1:$mock_port" \
  >"$work/floodgate.log" 2>&1 &
proxy=$!
pids+=($proxy)
wait_for_port "$proxy_port" floodgate 30

url="http://127.0.0.1:$proxy_port"
wrk -t1 -c"$connections" -d3s -s bench/request.lua "$url" >/dev/null
callgrind_control -z "$proxy" >/dev/null
result=$(wrk -t1 -c"$connections" -d"${seconds}s" --timeout 10s -s bench/request.lua "$url" | grep '^RESULT')
callgrind_control -d "$proxy" >/dev/null
requests=$(sed -E 's/.*requests=([0-9]+).*/\1/' <<<"$result")
case "$result" in
  *"socket_errors=0 non_2xx=0"*) ;;
  *) echo "errors during the run: $result" >&2; exit 1 ;;
esac
# The dump after zeroing is the highest-numbered part file.
dump=$(ls -t "$out"/callgrind.out* | head -1)
total=$(awk '/^totals:/ { print $2 }' "$dump")
echo "instructions_per_request=$((total / requests)) requests=$requests total=$total dump=$dump"
