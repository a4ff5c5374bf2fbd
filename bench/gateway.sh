#!/usr/bin/env bash
# End-to-end gateway benchmark: the same mock model upstream reached
#   (a) directly,
#   (b) through nginx with limit_req keyed on the x-api-key header,
#   (c) through floodgate with bench/gateway.toml (the same effective limit),
# with the same wrk settings, in one run. Each round measures every target in turn, twice:
#   load:  wrk -t2 -c64 (closed loop, saturating): throughput, latency under load (mostly
#          queueing), and the CPU time the proxy and the mock spend per request;
#   light: wrk -t1 -c1 (one request at a time): latency with no queue, i.e. what a
#          request pays for the hop;
#   paced: hey at a fixed rate (--rate, 4,000 requests a second over 8 connections, well
#          below what any target reaches): latency at a steady load that queues nothing,
#          the way an open-loop client sees it.
# The report gives the median over the rounds of each figure, and the two the gateway is
# held to: floodgate/nginx throughput (target >= 1.0) and floodgate p99 minus direct p99
# (target <= 1 ms), the latter for each phase.
#
# The throughput verdict is the median of the per-round ratios: each round measures nginx
# and floodgate within a minute of each other, so a round's ratio cancels what the machine
# as a whole does in that minute, which moves one target's throughput by 20 % or more
# between minutes on a shared host (the same binary measured against itself in 6 s pairs
# gave ratios from 0.86 to 1.44). Many short rounds therefore say more than a few long
# ones, and every other round runs the targets in reverse order, so that neither proxy
# always goes first.
#
# Usage: bench/gateway.sh [--quick] [--rounds 7] [--duration 10s] [--light 5s]
#                         [--rate 4000] [--connections 64] [--threads 2]
#                         [--only direct,nginx,floodgate]
#        FLOODGATE_BIN=path/to/floodgate bench/gateway.sh ...   (skips the production build)
#
# Everything listens on 127.0.0.1 (ports 19101-19103, or BENCH_PORT_BASE+1..3). With two
# or more cores, wrk runs on core 0 and the servers (mock, nginx, floodgate) on the
# others, so the load generator does not steal time from what it measures; the proxy and
# the mock then share the same cores in (b) and (c), as they would on one small host.
# nginx gets one worker process per server core and floodgate one worker thread per core.
set -euo pipefail
cd "$(dirname "$0")/.."

rounds=7
duration=10s
light=5s
warmup=2s
connections=64
threads=2
rate=4000
only="direct,nginx,floodgate"
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) rounds=1; duration=5s; light=3s; warmup=1s ;;
    --rounds) rounds="$2"; shift ;;
    --duration) duration="$2"; shift ;;
    --light) light="$2"; shift ;;
    --connections) connections="$2"; shift ;;
    --rate) rate="$2"; shift ;;
    --threads) threads="$2"; shift ;;
    --only) only="$2"; shift ;;
    -h|--help) sed -n '2,35p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
  shift
done
targets=()
for target in direct nginx floodgate; do
  case ",$only," in *",$target,"*) targets+=("$target") ;; esac
done

base=${BENCH_PORT_BASE:-19100}
declare -A port=([direct]=$((base + 1)) [nginx]=$((base + 2)) [floodgate]=$((base + 3)))

scripts/install-deps.sh nginx wrk curl hey
# nginx lives in /usr/sbin, which a non-root PATH may lack.
nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)

# FLOODGATE_BIN skips the build, to benchmark a binary built elsewhere.
# shellcheck source=bench/lib.sh
. bench/lib.sh
floodgate_binary

cores=$(nproc)
if [ "$cores" -ge 2 ]; then
  if [ "$cores" -eq 2 ]; then server_cpus="1"; else server_cpus="1-$((cores - 1))"; fi
  pin_load=(taskset -c 0)
  pin_server=(taskset -c "$server_cpus")
  server_threads=$((cores - 1))
  placement="wrk on CPU 0; mock, nginx and floodgate on CPU $server_cpus"
else
  pin_load=()
  pin_server=()
  server_threads=1
  placement="one core: wrk and the servers share it"
fi

for target in direct "${targets[@]}"; do ensure_free "${port[$target]}"; done

declare -A server_pid
start_mock() {
  "${pin_server[@]}" "$floodgate" mock-upstream --listen "127.0.0.1:${port[direct]}" \
    --threads "$server_threads" >"$work/mock.log" 2>&1 &
  pids+=($!)
  server_pid[direct]=$!
  wait_for_port "${port[direct]}" mock
}

start_nginx() {
  nginx_conf "${port[nginx]}" "${port[direct]}" "$server_threads"
  "${pin_server[@]}" "$nginx_bin" -c "$work/nginx.conf" -p "$work/nginx" >>"$work/nginx.log" 2>&1 &
  pids+=($!)
  server_pid[nginx]=$!
  wait_for_port "${port[nginx]}" nginx
}

start_floodgate() {
  "$floodgate" check-config bench/gateway.toml >/dev/null
  "${pin_server[@]}" "$floodgate" serve --config bench/gateway.toml \
    --listen "127.0.0.1:${port[floodgate]}" --upstream "http://127.0.0.1:${port[direct]}" \
    --threads "$server_threads" >"$work/floodgate.log" 2>&1 &
  pids+=($!)
  server_pid[floodgate]=$!
  wait_for_port "${port[floodgate]}" floodgate
}

# Checks one request through a target before loading it, so a misconfigured proxy fails
# loudly instead of benchmarking its error page.
check_target() {
  local target=$1 status
  status=$(curl -s -o "$work/check.body" -w '%{http_code}' -X POST \
    -H 'content-type: application/json' -H 'x-api-key: sk-bench' \
    -d '{"model": "txt2img", "image_num": 1}' "http://127.0.0.1:${port[$target]}/api/v1/txt2img")
  if [ "$status" != 200 ]; then
    echo "$target answered $status to a test request:" >&2
    cat "$work/check.body" >&2
    exit 1
  fi
}

clock_ticks=$(getconf CLK_TCK)
# CPU time, in clock ticks, a server has used so far, with its child processes (nginx's
# workers): cpu_ticks PID.
cpu_ticks() {
  local user sys
  read -r user sys < <(cpu_user_sys "$1")
  echo $((user + sys))
}
# Microseconds of CPU per request: per_request TICKS REQUESTS.
per_request() { awk -v t="$1" -v n="$2" -v hz="$clock_ticks" 'BEGIN { printf "%.1f", t * 1000000 / hz / n }'; }

# Runs wrk against a target and prints its RESULT line: measure TARGET THREADS CONNECTIONS TIME.
measure() {
  "${pin_load[@]}" wrk -t"$2" -c"$3" -d"$4" --timeout 5s \
    -s bench/request.lua "http://127.0.0.1:${port[$1]}" | grep '^RESULT'
}

# Sends bench/request.lua's request at a fixed rate with hey ($rate a second over 8
# connections) and prints a RESULT line like measure's: paced TARGET TIME.
paced() {
  local out requests seconds
  out=$("${pin_load[@]}" hey -z "$2" -c 8 -q $((rate / 8)) -m POST -T application/json \
    -H 'x-api-key: sk-bench' \
    -d '{"model": "txt2img", "prompt": "a lighthouse at dusk", "image_num": 1}' \
    "http://127.0.0.1:${port[$1]}/api/v1/txt2img")
  requests=$(awk '/responses/ && /\[200\]/ { print $2 }' <<<"$out")
  seconds=$(awk '/Total:/ { print $2; exit }' <<<"$out")
  # hey writes latencies in seconds, to the tenth of a millisecond
  awk -v ok="${requests:-0}" -v s="$seconds" -v errors="$(grep -c '^ *\[[0-9]*\].*error\|Error distribution' <<<"$out" || true)" '
    / 50% in / { p50 = $3 * 1000000 } / 99% in / { p99 = $3 * 1000000 }
    /\[[0-9]+\]/ && /responses/ && $1 != "[200]" { other += $2 }
    END { printf "RESULT requests=%d rps=%.1f p50_us=%d p99_us=%d socket_errors=%d non_2xx=%d\n",
          ok, ok / s, p50, p99, errors, other }' <<<"$out"
}

# A field of a RESULT line: field LINE NAME.
field() { sed -n "s/.* $2=\([^ ]*\).*/\1/p" <<<"$1"; }
# The median of numbers.
median() {
  printf '%s\n' "$@" | sort -g |
    awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

start_mock
for target in "${targets[@]}"; do
  case "$target" in
    nginx) start_nginx ;;
    floodgate) start_floodgate ;;
  esac
  check_target "$target"
done

# Other work on the machine skews tail latency; the report shows how busy it was.
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
declare -A samples
failed=0
add_sample() { samples[$1]="${samples[$1]:-} $2"; }
for round in $(seq "$rounds"); do
  order=("${targets[@]}")
  if [ $((round % 2)) -eq 0 ]; then
    order=()
    for ((i = ${#targets[@]} - 1; i >= 0; i--)); do order+=("${targets[$i]}"); done
  fi
  for target in "${order[@]}"; do
    echo "== round $round/$rounds, $target: warm-up $warmup, load $duration, light $light" >&2
    measure "$target" "$threads" "$connections" "$warmup" >/dev/null
    mock_before=$(cpu_ticks "${server_pid[direct]}")
    proxy_before=$(cpu_ticks "${server_pid[$target]}")
    loaded=$(measure "$target" "$threads" "$connections" "$duration")
    requests=$(field "$loaded" requests)
    mock_cpu=$(per_request $(($(cpu_ticks "${server_pid[direct]}") - mock_before)) "$requests")
    proxy_cpu=$(per_request $(($(cpu_ticks "${server_pid[$target]}") - proxy_before)) "$requests")
    quiet=$(measure "$target" 1 1 "$light")
    steady=$(paced "$target" "$light")
    echo "   load:  $loaded mock_cpu_us=$mock_cpu proxy_cpu_us=$proxy_cpu" >&2
    echo "   light: $quiet" >&2
    echo "   paced: $steady" >&2
    for line in "$loaded" "$quiet" "$steady"; do
      if [ "$(field "$line" non_2xx)" != 0 ] || [ "$(field "$line" socket_errors)" != 0 ]; then
        echo "warning: $target had non-2xx answers or socket errors: $line" >&2
        failed=1
      fi
    done
    add_sample "$target,rps" "$(field "$loaded" rps)"
    add_sample "$target,p50" "$(field "$loaded" p50_us)"
    add_sample "$target,p99" "$(field "$loaded" p99_us)"
    add_sample "$target,light_p50" "$(field "$quiet" p50_us)"
    add_sample "$target,light_p99" "$(field "$quiet" p99_us)"
    add_sample "$target,paced_rps" "$(field "$steady" rps)"
    add_sample "$target,paced_p50" "$(field "$steady" p50_us)"
    add_sample "$target,paced_p99" "$(field "$steady" p99_us)"
    add_sample "$target,mock_cpu" "$mock_cpu"
    add_sample "$target,proxy_cpu" "$proxy_cpu"
  done
done

# Median of a figure over the rounds: figure TARGET NAME.
# shellcheck disable=SC2086 # the samples are a space-separated list of numbers
figure() { median ${samples[$1,$2]}; }
ms() { awk -v us="$1" 'BEGIN { printf "%.3f", us / 1000 }'; }

echo
echo "machine: $(lscpu | sed -n 's/^Model name: *//p' | head -1), $cores cores, $(uname -sr)"
echo "placement: $placement"
echo "load average (1, 5, 15 min) before: $load_before; after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "rounds: $rounds; load: wrk -t$threads -c$connections -d$duration after a $warmup warm-up; light: wrk -t1 -c1 -d$light; paced: hey -c 8 at $rate/s for $light"
echo "request: POST /api/v1/txt2img, 71-byte JSON body, x-api-key; medians over the rounds"
echo
echo "| target | load req/s | load p50 (ms) | load p99 (ms) | light p50 (ms) | light p99 (ms) | paced req/s | paced p50 (ms) | paced p99 (ms) | proxy CPU µs/req | mock CPU µs/req |"
echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
for target in "${targets[@]}"; do
  proxy="-"
  [ "$target" = direct ] || proxy=$(printf '%.1f' "$(figure "$target" proxy_cpu)")
  printf '| %s | %.0f | %s | %s | %s | %s | %.0f | %s | %s | %s | %.1f |\n' "$target" \
    "$(figure "$target" rps)" "$(ms "$(figure "$target" p50)")" "$(ms "$(figure "$target" p99)")" \
    "$(ms "$(figure "$target" light_p50)")" "$(ms "$(figure "$target" light_p99)")" \
    "$(figure "$target" paced_rps)" "$(ms "$(figure "$target" paced_p50)")" \
    "$(ms "$(figure "$target" paced_p99)")" "$proxy" "$(figure "$target" mock_cpu)"
done

verdict() { awk -v v="$1" -v op="$2" -v t="$3" 'BEGIN { ok = op == ">=" ? v >= t : v <= t; print ok ? "met" : "missed" }'; }
has() { [[ " ${targets[*]} " == *" $1 "* ]]; }
echo
if has floodgate && has nginx; then
  ratio=$(awk -v a="$(figure floodgate rps)" -v b="$(figure nginx rps)" 'BEGIN { printf "%.2f", a / b }')
  echo "floodgate/nginx throughput, ratio of the medians: $ratio"
  # Rounds pair the two within a minute of each other, under the same background load:
  # the verdict is on the median of the rounds' ratios.
  read -r -a fg_rounds <<<"${samples[floodgate,rps]}"
  read -r -a nginx_rounds <<<"${samples[nginx,rps]}"
  per_round=()
  ahead=0
  for i in "${!fg_rounds[@]}"; do
    per_round+=("$(awk -v a="${fg_rounds[$i]}" -v b="${nginx_rounds[$i]}" 'BEGIN { printf "%.2f", a / b }')")
    ahead=$((ahead + $(awk -v a="${fg_rounds[$i]}" -v b="${nginx_rounds[$i]}" 'BEGIN { print (a >= b) }')))
  done
  paired=$(median "${per_round[@]}")
  echo "floodgate/nginx throughput by round: ${per_round[*]} (floodgate ahead in $ahead of ${#per_round[@]})"
  echo "floodgate/nginx throughput, median of the rounds: $paired (target >= 1.0: $(verdict "$paired" ">=" 1.0))"
  cpu=$(awk -v a="$(figure floodgate proxy_cpu)" -v b="$(figure nginx proxy_cpu)" 'BEGIN { printf "%.2f", a / b }')
  echo "floodgate/nginx proxy CPU per request: $cpu"
fi
if has direct; then
  for target in nginx floodgate; do
    has "$target" || continue
    added=$(ms "$(awk -v a="$(figure "$target" light_p50)" -v b="$(figure direct light_p50)" 'BEGIN { print a - b }')")
    echo "$target p50 - direct p50 (light): $added ms"
    for phase in p99 light_p99 paced_p99; do
      added=$(ms "$(awk -v a="$(figure "$target" "$phase")" -v b="$(figure direct "$phase")" 'BEGIN { print a - b }')")
      case "$phase" in
        p99) label="load" ;;
        light_p99) label="light" ;;
        *) label="paced" ;;
      esac
      if [ "$target" = floodgate ]; then
        echo "$target p99 - direct p99 ($label): $added ms (target <= 1 ms: $(verdict "$added" "<=" 1.0))"
      else
        echo "$target p99 - direct p99 ($label): $added ms"
      fi
    done
  done
fi
exit "$failed"
