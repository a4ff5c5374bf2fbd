#!/usr/bin/env bash
# End-to-end gateway benchmark: the same mock model upstream reached
#   (a) directly,
#   (b) through nginx with limit_req keyed on the x-api-key header,
#   (c) through floodgate with bench/gateway.toml (the same effective limit),
# with the same wrk settings, in one run. Each target is measured twice:
#   load:  wrk -t2 -c64 (closed loop, saturating): throughput, and latency under load,
#          which is mostly queueing;
#   light: wrk -t1 -c1 (one request at a time): latency with no queue, i.e. what each
#          request pays for the hop.
# Prints requests/s and p50/p99 of each, and the two figures the gateway is held to:
# floodgate/nginx throughput (target >= 1.0) and floodgate p99 minus direct p99
# (target <= 1 ms), the latter for both phases.
#
# Usage: bench/gateway.sh [--quick] [--duration 20s] [--connections 64] [--threads 2]
#                         [--only direct,nginx,floodgate]
#        FLOODGATE_BIN=path/to/floodgate bench/gateway.sh ...   (skips the release build)
#
# Everything listens on 127.0.0.1 (ports 19101-19103, or BENCH_PORT_BASE+1..3). With two
# or more cores, wrk runs on core 0 and the servers (mock, nginx, floodgate) on the
# others, so the load generator does not steal time from what it measures; the proxy and
# the mock then share the same cores in (b) and (c), as they would on one small host.
set -euo pipefail
cd "$(dirname "$0")/.."

duration=20s
light=10s
warmup=3s
connections=64
threads=2
only="direct,nginx,floodgate"
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) duration=5s; light=3s; warmup=1s ;;
    --duration) duration="$2"; shift ;;
    --connections) connections="$2"; shift ;;
    --threads) threads="$2"; shift ;;
    --only) only="$2"; shift ;;
    -h|--help) sed -n '2,24p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
  shift
done

base=${BENCH_PORT_BASE:-19100}
mock_port=$((base + 1))
nginx_port=$((base + 2))
floodgate_port=$((base + 3))

scripts/install-deps.sh nginx wrk curl
# nginx lives in /usr/sbin, which a non-root PATH may lack.
nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)

# FLOODGATE_BIN skips the build, to benchmark a binary built elsewhere.
if [ -n "${FLOODGATE_BIN:-}" ]; then
  floodgate=$FLOODGATE_BIN
else
  echo "== building floodgate (release)" >&2
  cargo build --release --locked -p floodgate >&2
  floodgate=target/release/floodgate
fi

cores=$(nproc)
if [ "$cores" -ge 2 ]; then
  load_cpus="0"
  if [ "$cores" -eq 2 ]; then server_cpus="1"; else server_cpus="1-$((cores - 1))"; fi
  pin_load=(taskset -c "$load_cpus")
  pin_server=(taskset -c "$server_cpus")
  server_threads=$((cores - 1))
  placement="wrk on CPU $load_cpus; mock, nginx and floodgate on CPU $server_cpus"
else
  pin_load=()
  pin_server=()
  server_threads=1
  placement="one core: wrk and the servers share it"
fi

work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${pids[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Waits until something answers HTTP on the port, for at most 10 s.
wait_for_port() {
  local port=$1 name=$2
  for _ in $(seq 100); do
    if curl -s -o /dev/null "http://127.0.0.1:$port/"; then return 0; fi
    sleep 0.1
  done
  echo "$name did not start on port $port; its log:" >&2
  cat "$work/$name.log" >&2 || true
  exit 1
}

start_mock() {
  "${pin_server[@]}" "$floodgate" mock-upstream --listen "127.0.0.1:$mock_port" \
    --threads "$server_threads" >"$work/mock.log" 2>&1 &
  pids+=($!)
  wait_for_port "$mock_port" mock
}

start_nginx() {
  mkdir -p "$work/nginx"
  # The same limit as bench/gateway.toml: 1,000,000 requests/s per key, burst of as many,
  # so nginx does the per-key bookkeeping without ever rejecting.
  cat >"$work/nginx.conf" <<EOF
worker_processes $server_threads;
daemon off;
pid $work/nginx/nginx.pid;
error_log $work/nginx.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $work/nginx/body;
  proxy_temp_path $work/nginx/proxy;
  fastcgi_temp_path $work/nginx/fastcgi;
  uwsgi_temp_path $work/nginx/uwsgi;
  scgi_temp_path $work/nginx/scgi;
  limit_req_zone \$http_x_api_key zone=per_key:10m rate=1000000r/s;
  upstream mock {
    server 127.0.0.1:$mock_port;
    keepalive 128;
  }
  server {
    listen 127.0.0.1:$nginx_port;
    location / {
      limit_req zone=per_key burst=1000000 nodelay;
      proxy_pass http://mock;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
EOF
  "${pin_server[@]}" "$nginx_bin" -c "$work/nginx.conf" -p "$work/nginx" >>"$work/nginx.log" 2>&1 &
  pids+=($!)
  wait_for_port "$nginx_port" nginx
}

start_floodgate() {
  "$floodgate" check-config bench/gateway.toml >/dev/null
  "${pin_server[@]}" "$floodgate" serve --config bench/gateway.toml \
    --listen "127.0.0.1:$floodgate_port" --upstream "http://127.0.0.1:$mock_port" \
    >"$work/floodgate.log" 2>&1 &
  pids+=($!)
  wait_for_port "$floodgate_port" floodgate
}

# Runs wrk against a port and prints its RESULT line: measure PORT THREADS CONNECTIONS TIME.
measure() {
  "${pin_load[@]}" wrk -t"$2" -c"$3" -d"$4" --timeout 5s \
    -s bench/request.lua "http://127.0.0.1:$1" | grep '^RESULT'
}

# Checks one request through a target before loading it, so a misconfigured proxy fails
# loudly instead of benchmarking its error page.
check_target() {
  local port=$1 name=$2 status
  status=$(curl -s -o "$work/check.body" -w '%{http_code}' -X POST \
    -H 'content-type: application/json' -H 'x-api-key: sk-bench' \
    -d '{"model": "txt2img", "image_num": 1}' "http://127.0.0.1:$port/api/v1/txt2img")
  if [ "$status" != 200 ]; then
    echo "$name answered $status to a test request:" >&2
    cat "$work/check.body" >&2
    exit 1
  fi
}

field() { sed -n "s/.* $2=\([^ ]*\).*/\1/p" <<<"$1"; }

declare -A results light_results
# Other work on the machine skews tail latency; the report shows how busy it was.
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
start_mock
for target in direct nginx floodgate; do
  case ",$only," in *",$target,"*) ;; *) continue ;; esac
  case "$target" in
    direct) port=$mock_port ;;
    nginx) start_nginx; port=$nginx_port ;;
    floodgate) start_floodgate; port=$floodgate_port ;;
  esac
  check_target "$port" "$target"
  echo "== $target: warm-up $warmup, load $duration, light $light" >&2
  measure "$port" "$threads" "$connections" "$warmup" >/dev/null
  results[$target]=$(measure "$port" "$threads" "$connections" "$duration")
  echo "   load:  ${results[$target]}" >&2
  light_results[$target]=$(measure "$port" 1 1 "$light")
  echo "   light: ${light_results[$target]}" >&2
done

echo
echo "machine: $(lscpu | sed -n 's/^Model name: *//p' | head -1), $cores cores, $(uname -sr)"
echo "placement: $placement"
echo "load average (1, 5, 15 min) before: $load_before; after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "load:  wrk -t$threads -c$connections -d$duration (after a $warmup warm-up); light: wrk -t1 -c1 -d$light"
echo "request: POST /api/v1/txt2img, 71-byte JSON body, x-api-key"
echo
echo "| target | load req/s | load p50 (ms) | load p99 (ms) | light req/s | light p50 (ms) | light p99 (ms) |"
echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"
for target in direct nginx floodgate; do
  line=${results[$target]:-}
  [ -n "$line" ] || continue
  quiet=${light_results[$target]}
  awk -v t="$target" -v rps="$(field "$line" rps)" -v p50="$(field "$line" p50_us)" \
    -v p99="$(field "$line" p99_us)" -v lrps="$(field "$quiet" rps)" \
    -v lp50="$(field "$quiet" p50_us)" -v lp99="$(field "$quiet" p99_us)" \
    'BEGIN { printf "| %s | %.0f | %.3f | %.3f | %.0f | %.3f | %.3f |\n", t, rps, p50 / 1000, p99 / 1000, lrps, lp50 / 1000, lp99 / 1000 }'
done

failed=0
for target in "${!results[@]}"; do
  for line in "${results[$target]}" "${light_results[$target]}"; do
    bad=$(field "$line" non_2xx)
    err=$(field "$line" socket_errors)
    if [ "$bad" != 0 ] || [ "$err" != 0 ]; then
      echo "warning: $target had $bad non-2xx answers and $err socket errors" >&2
      failed=1
    fi
  done
done

# p99 of a target minus p99 of direct, in ms, for one phase: added_p99 TARGET LOAD|LIGHT.
added_p99() {
  local a b
  if [ "$2" = load ]; then
    a=${results[$1]}; b=${results[direct]}
  else
    a=${light_results[$1]}; b=${light_results[direct]}
  fi
  awk -v a="$(field "$a" p99_us)" -v b="$(field "$b" p99_us)" 'BEGIN { printf "%.3f", (a - b) / 1000 }'
}
verdict() { awk -v v="$1" -v op="$2" -v t="$3" 'BEGIN { ok = op == ">=" ? v >= t : v <= t; print ok ? "met" : "missed" }'; }

echo
if [ -n "${results[floodgate]:-}" ] && [ -n "${results[nginx]:-}" ]; then
  ratio=$(awk -v a="$(field "${results[floodgate]}" rps)" -v b="$(field "${results[nginx]}" rps)" 'BEGIN { printf "%.2f", a / b }')
  echo "floodgate/nginx throughput: $ratio (target >= 1.0: $(verdict "$ratio" ">=" 1.0))"
fi
if [ -n "${results[direct]:-}" ]; then
  for target in nginx floodgate; do
    [ -n "${results[$target]:-}" ] || continue
    for phase in load light; do
      added=$(added_p99 "$target" "$phase")
      if [ "$target" = floodgate ]; then
        echo "$target p99 - direct p99 ($phase): $added ms (target <= 1 ms: $(verdict "$added" "<=" 1.0))"
      else
        echo "$target p99 - direct p99 ($phase): $added ms"
      fi
    done
  done
fi
exit "$failed"
