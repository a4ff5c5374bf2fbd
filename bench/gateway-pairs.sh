#!/usr/bin/env bash
# Throughput of two proxies in front of the same mock upstream, taken in alternating
# short pairs, with each side's CPU split into user and system time for the proxy and
# for the mock: the finer instrument beside bench/gateway.sh when the question is where
# a few percent go. Each pair runs `wrk -t2 -c64` for --seconds against A, then B; the
# report gives every pair, the median and spread of the B/A ratios, and the mean CPU
# per request of each part.
#
#   A = nginx (bench/gateway.sh's setup), B = floodgate with bench/gateway.toml; or, with
#   FLOODGATE_BIN_B, A = floodgate (FLOODGATE_BIN) and B = floodgate (FLOODGATE_BIN_B),
#   to compare two builds, or one build with itself to see how far the machine alone
#   moves a ratio.
#
# Usage: bench/gateway-pairs.sh [--pairs 12] [--seconds 6]
#        FLOODGATE_BIN=path/to/floodgate [FLOODGATE_BIN_B=path/to/other] bench/gateway-pairs.sh
#
# Listens on 127.0.0.1 only (ports 19111-19113, or BENCH_PORT_BASE+11..13); wrk on CPU 0,
# the mock and both proxies on CPU 1 when there are two cores or more.
set -euo pipefail
cd "$(dirname "$0")/.."

pairs=12
seconds=6
while [ $# -gt 0 ]; do
  case "$1" in
    --pairs) pairs="$2"; shift ;;
    --seconds) seconds="$2"; shift ;;
    -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
  shift
done

scripts/install-deps.sh nginx wrk curl
nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)
# shellcheck source=bench/lib.sh
. bench/lib.sh
floodgate_binary

base=${BENCH_PORT_BASE:-19100}
mock_port=$((base + 11))
a_port=$((base + 12))
b_port=$((base + 13))
for port in "$mock_port" "$a_port" "$b_port"; do ensure_free "$port"; done
if [ "$(nproc)" -ge 2 ]; then
  pin_load=(taskset -c 0)
  pin_server=(taskset -c 1)
else
  pin_load=()
  pin_server=()
fi

"${pin_server[@]}" "$floodgate" mock-upstream --listen "127.0.0.1:$mock_port" --threads 1 \
  >"$work/mock.log" 2>&1 &
pids+=($!)
mock_pid=$!
wait_for_port "$mock_port" mock

# start_floodgate BINARY PORT NAME: prints the pid.
start_floodgate() {
  "${pin_server[@]}" "$1" serve --config bench/gateway.toml --threads 1 \
    --listen "127.0.0.1:$2" --upstream "http://127.0.0.1:$mock_port" >"$work/$3.log" 2>&1 &
  echo $!
}
if [ -n "${FLOODGATE_BIN_B:-}" ]; then
  a_name=floodgate-A
  b_name=floodgate-B
  a_pid=$(start_floodgate "$floodgate" "$a_port" "$a_name")
  b_pid=$(start_floodgate "$FLOODGATE_BIN_B" "$b_port" "$b_name")
else
  a_name=nginx
  b_name=floodgate
  nginx_conf "$a_port" "$mock_port" 1
  "${pin_server[@]}" "$nginx_bin" -c "$work/nginx.conf" -p "$work/nginx" >"$work/nginx.log" 2>&1 &
  a_pid=$!
  b_pid=$(start_floodgate "$floodgate" "$b_port" "$b_name")
fi
pids+=("$a_pid" "$b_pid")
wait_for_port "$a_port" "$a_name"
wait_for_port "$b_port" "$b_name"

hz=$(getconf CLK_TCK)

# run NAME PORT PID: one wrk run; prints "NAME rps proxy_user proxy_sys mock_user mock_sys"
# with the CPU figures in microseconds per request.
run() {
  local pu ps mu ms pu2 ps2 mu2 ms2 result requests rps
  read -r pu ps < <(cpu_user_sys "$3")
  read -r mu ms < <(cpu_user_sys "$mock_pid")
  result=$("${pin_load[@]}" wrk -t2 -c64 -d"${seconds}s" -s bench/request.lua \
    "http://127.0.0.1:$2" | grep '^RESULT')
  read -r pu2 ps2 < <(cpu_user_sys "$3")
  read -r mu2 ms2 < <(cpu_user_sys "$mock_pid")
  case "$result" in
    *"socket_errors=0 non_2xx=0"*) ;;
    *) echo "$1: errors during the run: $result" >&2; exit 1 ;;
  esac
  requests=$(sed -E 's/.*requests=([0-9]+).*/\1/' <<<"$result")
  rps=$(sed -E 's/.* rps=([0-9.]+).*/\1/' <<<"$result")
  awk -v name="$1" -v n="$requests" -v rps="$rps" -v hz="$hz" \
    -v pu=$((pu2 - pu)) -v ps=$((ps2 - ps)) -v mu=$((mu2 - mu)) -v ms=$((ms2 - ms)) \
    'BEGIN { f = 1000000 / hz / n; printf "%s %.0f %.1f %.1f %.1f %.1f\n", name, rps, pu * f, ps * f, mu * f, ms * f }'
}

for port in "$a_port" "$b_port"; do
  "${pin_load[@]}" wrk -t2 -c64 -d2s -s bench/request.lua "http://127.0.0.1:$port" >/dev/null
done
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
: >"$work/pairs"
echo "| pair | $a_name req/s | $b_name req/s | $b_name/$a_name | proxy user µs/req ($a_name, $b_name) | proxy system µs/req | mock user µs/req | mock system µs/req |"
echo "| ---: | ---: | ---: | ---: | --- | --- | --- | --- |"
for i in $(seq "$pairs"); do
  a=$(run "$a_name" "$a_port" "$a_pid")
  b=$(run "$b_name" "$b_port" "$b_pid")
  echo "$a $b" >>"$work/pairs"
  read -r _ ar apu aps amu ams _ br bpu bps bmu bms <<<"$a $b"
  awk -v i="$i" -v ar="$ar" -v br="$br" \
    -v apu="$apu" -v bpu="$bpu" -v aps="$aps" -v bps="$bps" \
    -v amu="$amu" -v bmu="$bmu" -v ams="$ams" -v bms="$bms" \
    'BEGIN { printf "| %d | %d | %d | %.3f | %.1f, %.1f | %.1f, %.1f | %.1f, %.1f | %.1f, %.1f |\n",
             i, ar, br, br / ar, apu, bpu, aps, bps, amu, bmu, ams, bms }'
done

echo
echo "machine: $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) cores; load average before: $load_before; after: $(cut -d' ' -f1-3 /proc/loadavg)"
awk -v a="$a_name" -v b="$b_name" '
  { r[NR] = $8 / $2; apu += $3; aps += $4; amu += $5; ams += $6; bpu += $9; bps += $10; bmu += $11; bms += $12 }
  END {
    n = NR
    for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (r[j] < r[i]) { t = r[i]; r[i] = r[j]; r[j] = t }
    median = n % 2 ? r[(n + 1) / 2] : (r[n / 2] + r[n / 2 + 1]) / 2
    for (i = 1; i <= n; i++) sum += r[i]
    printf "%s/%s throughput over %d pairs: median %.3f, mean %.3f, from %.3f to %.3f\n", b, a, n, median, sum / n, r[1], r[n]
    printf "mean CPU µs per request, %s / %s: proxy user %.1f / %.1f, proxy system %.1f / %.1f, mock user %.1f / %.1f, mock system %.1f / %.1f, total %.1f / %.1f\n",
      a, b, apu / n, bpu / n, aps / n, bps / n, amu / n, bmu / n, ams / n, bms / n,
      (apu + aps + amu + ams) / n, (bpu + bps + bmu + bms) / n
  }' "$work/pairs"
