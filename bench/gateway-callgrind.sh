#!/usr/bin/env bash
# User-space instructions per proxied request of `floodgate serve --threads 1` with
# bench/gateway.toml, counted by callgrind: unlike CPU time, the count does not move with
# other work on the machine (within about 1 %), so it measures a change to the proxied
# path in one short run. With --nginx, nginx (one worker, the same limit_req setup as
# bench/gateway.sh) is counted the same way in the same run, as the peer.
#
# The mock upstream runs natively; the proxy runs under valgrind --tool=callgrind. After a
# warm-up the counters are zeroed, wrk sends the same request as bench/gateway.sh for a
# fixed time over a few connections, and the instructions counted are divided by the
# requests wrk saw answered. Under valgrind the sha2 crate cannot use the CPU's SHA
# extensions and runs its software SHA-256 of the key (about 3.5k instructions a
# request; natively a few hundred), so floodgate's count is a little high.
#
# Usage: bench/gateway-callgrind.sh [--seconds 10] [--connections 8] [--out DIR] [--nginx]
#        FLOODGATE_BIN=path/to/floodgate bench/gateway-callgrind.sh   (skips the build)
# Prints `instructions_per_request=N requests=R total=T` for floodgate (and an `nginx`
# line and the ratio with --nginx), and leaves the callgrind output in DIR (default: a
# temporary directory, removed) for callgrind_annotate (names are written in full in each
# part file, so the dump after zeroing reads on its own).
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=10
connections=8
out=""
with_nginx=""
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds="$2"; shift ;;
    --connections) connections="$2"; shift ;;
    --out) out="$2"; shift ;;
    --nginx) with_nginx=1 ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
  shift
done

scripts/install-deps.sh wrk curl
[ -z "$with_nginx" ] || scripts/install-deps.sh nginx
nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)
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

# count NAME PORT PID: zeroes PID's counters after a warm-up, loads PORT, and prints the
# instructions per request answered.
count() {
  local name=$1 url="http://127.0.0.1:$2" pid=$3 result requests dump total
  wrk -t1 -c"$connections" -d3s -s bench/request.lua "$url" >/dev/null
  callgrind_control -z "$pid" >/dev/null
  result=$(wrk -t1 -c"$connections" -d"${seconds}s" --timeout 10s -s bench/request.lua "$url" | grep '^RESULT')
  callgrind_control -d "$pid" >/dev/null
  requests=$(sed -E 's/.*requests=([0-9]+).*/\1/' <<<"$result")
  case "$result" in
    *"socket_errors=0 non_2xx=0"*) ;;
    *) echo "$name: errors during the run: $result" >&2; exit 1 ;;
  esac
  # The dump after zeroing is the highest-numbered part file.
  dump=$(ls -t "$out/$name".out* | head -1)
  total=$(awk '/^totals:/ { print $2 }' "$dump")
  echo "$((total / requests)) requests=$requests total=$total dump=$dump"
}

valgrind --tool=callgrind --compress-strings=no --callgrind-out-file="$out/floodgate.out" \
  "$floodgate" serve --config bench/gateway.toml --threads 1 \
  --listen "127.0.0.1:$proxy_port" --upstream "http://127.0.0.1:$mock_port" \
  >"$work/floodgate.log" 2>&1 &
proxy=$!
pids+=($proxy)
wait_for_port "$proxy_port" floodgate 30
floodgate_count=$(count floodgate "$proxy_port" "$proxy")
echo "instructions_per_request=$floodgate_count"
kill "$proxy"
wait "$proxy" 2>/dev/null || true

[ -n "$with_nginx" ] || exit 0
# nginx as bench/gateway.sh runs it, with one worker and no master process, so that the
# worker is the process valgrind follows.
nginx_conf "$proxy_port" "$mock_port" 1 off
valgrind --tool=callgrind --compress-strings=no --callgrind-out-file="$out/nginx.out" \
  "$nginx_bin" -c "$work/nginx.conf" -p "$work/nginx" >>"$work/nginx.log" 2>&1 &
proxy=$!
pids+=($proxy)
wait_for_port "$proxy_port" nginx 30
nginx_count=$(count nginx "$proxy_port" "$proxy")
echo "nginx instructions_per_request=$nginx_count"
awk -v f="${floodgate_count%% *}" -v n="${nginx_count%% *}" \
  'BEGIN { printf "floodgate/nginx instructions per request: %.2f\n", f / n }'
