# Shared by the bench scripts, sourced after they `cd` to the repository's root: a
# scratch directory (`work`) and the processes started (`pids`), both cleaned up when the
# script exits however it exits; the floodgate binary to measure; a process's CPU time;
# waiting for a server's port; refusing a port that is already in use (something else
# would be measured in place of the server started); the nginx config the gateway
# benchmarks compare against.

work=$(mktemp -d)
pids=()

bench_cleanup() {
  local pid
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap bench_cleanup EXIT
trap 'exit 130' INT TERM

# wait_for_port PORT NAME [SECONDS]: until something answers HTTP on the port (10 s by
# default); if nothing does, prints $work/NAME.log and exits.
wait_for_port() {
  local port=$1 name=$2 seconds=${3:-10}
  for _ in $(seq $((seconds * 10))); do
    if curl -s -o /dev/null "http://127.0.0.1:$port/"; then return 0; fi
    sleep 0.1
  done
  echo "$name did not start on port $port; its log:" >&2
  cat "$work/$name.log" >&2 || true
  exit 1
}

# ensure_free PORT: exits if something already answers HTTP on the port.
ensure_free() {
  if curl -s -o /dev/null "http://127.0.0.1:$1/"; then
    echo "port $1 is already in use; set BENCH_PORT_BASE to use other ports" >&2
    exit 1
  fi
}

# cpu_user_sys PID: user and system clock ticks (`getconf CLK_TCK` a second) used so far by
# PID and its child processes (nginx's workers), as "USER SYS".
cpu_user_sys() {
  local user=0 sys=0 pid u s
  for pid in "$1" $(pgrep -P "$1" || true); do
    read -r u s < <(awk '{ print $14, $15 }' "/proc/$pid/stat" 2>/dev/null || echo "0 0")
    user=$((user + u))
    sys=$((sys + s))
  done
  echo "$user $sys"
}

# floodgate_binary: sets `floodgate` to $FLOODGATE_BIN, or to a build made now with the
# `production` profile (release with fat LTO, what operators deploy; see Cargo.toml).
floodgate_binary() {
  if [ -n "${FLOODGATE_BIN:-}" ]; then
    floodgate=$FLOODGATE_BIN
  else
    echo "== building floodgate (production profile)" >&2
    cargo build --profile production --locked -p floodgate >&2
    floodgate=target/production/floodgate
  fi
}

# nginx_conf LISTEN_PORT UPSTREAM_PORT WORKERS [master_process off]: writes
# $work/nginx.conf, nginx in front of 127.0.0.1:UPSTREAM_PORT with the same limit as
# bench/gateway.toml (1,000,000 requests/s per x-api-key, a burst of as many, so nginx
# does the per-key bookkeeping without ever rejecting) and upstream keep-alive; its files
# go under $work/nginx. A fourth argument `off` runs the worker without a master process
# (for valgrind, which follows one process).
nginx_conf() {
  local listen=$1 upstream=$2 workers=$3 master=${4:-on}
  mkdir -p "$work/nginx"
  cat >"$work/nginx.conf" <<EOF
worker_processes $workers;
master_process $master;
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
    server 127.0.0.1:$upstream;
    keepalive 128;
  }
  server {
    listen 127.0.0.1:$listen;
    location / {
      limit_req zone=per_key burst=1000000 nodelay;
      proxy_pass http://mock;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
EOF
}
