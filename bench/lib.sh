# Shared by the bench scripts, sourced after they `cd` to the repository's root: a
# scratch directory (`work`) and the processes started (`pids`), both cleaned up when the
# script exits however it exits; the floodgate binary to measure; waiting for a server's
# port; refusing a port that is already in use (something else would be measured in
# place of the server started).

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

# floodgate_binary: sets `floodgate` to $FLOODGATE_BIN, or to a release build made now.
floodgate_binary() {
  if [ -n "${FLOODGATE_BIN:-}" ]; then
    floodgate=$FLOODGATE_BIN
  else
    echo "== building floodgate (release)" >&2
    cargo build --release --locked -p floodgate >&2
    floodgate=target/release/floodgate
  fi
}
