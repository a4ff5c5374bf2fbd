#!/usr/bin/env bash
# End-to-end client benchmark: `floodgate batch` against `floodgate serve` with a limit
# that binds (bench/batch.toml: 5 requests per second), in front of `floodgate
# mock-upstream` (answering after --latency-ms), in one run:
#   paced:   --jobs requests with pacing from the rate-limit headers (the default): the
#            effective rate against the allowed one (target >= 95%) and the 429s seen
#            (target 0);
#   unpaced: --unpaced-jobs requests with --no-pacing: the same client relying on 429s
#            and Retry-After alone.
# Each phase starts on a fresh gateway (a full burst of 5), so the two are alike. The
# summary lines of both runs are printed, then one line per phase for BENCHMARKS.md.
#
# Usage: bench/batch.sh [--quick] [--jobs 900] [--unpaced-jobs 300] [--concurrency 8]
#                       [--latency-ms 20]
#        FLOODGATE_BIN=path/to/floodgate bench/batch.sh ...   (skips the production build)
#
# Everything listens on 127.0.0.1 (ports 19201-19203, or BENCH_PORT_BASE+1..3).
set -euo pipefail
cd "$(dirname "$0")/.."

jobs=900
unpaced_jobs=300
concurrency=8
latency_ms=20
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) jobs=100; unpaced_jobs=60 ;;
    --jobs) jobs="$2"; shift ;;
    --unpaced-jobs) unpaced_jobs="$2"; shift ;;
    --concurrency) concurrency="$2"; shift ;;
    --latency-ms) latency_ms="$2"; shift ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
  shift
done

base=${BENCH_PORT_BASE:-19200}
mock_port=$((base + 1))
gateway_port=$((base + 3))

scripts/install-deps.sh curl
# shellcheck source=bench/lib.sh
. bench/lib.sh
floodgate_binary

for port in "$mock_port" "$gateway_port"; do ensure_free "$port"; done

"$floodgate" mock-upstream --listen "127.0.0.1:$mock_port" --latency-ms "$latency_ms" \
  >"$work/mock.log" 2>&1 &
pids+=($!)
wait_for_port "$mock_port" mock

gateway_pid=
start_gateway() {
  if [ -n "$gateway_pid" ]; then
    kill "$gateway_pid"
    wait "$gateway_pid" 2>/dev/null || true
  fi
  "$floodgate" serve --config bench/batch.toml --listen "127.0.0.1:$gateway_port" \
    --upstream "http://127.0.0.1:$mock_port" >"$work/gateway.log" 2>&1 &
  gateway_pid=$!
  pids+=($gateway_pid)
  wait_for_port "$gateway_port" gateway
}

write_jobs() {
  local n=$1 file=$2
  for i in $(seq "$n"); do
    echo "{\"method\": \"POST\", \"path\": \"/api/v1/txt2img\", \"body\": {\"prompt\": \"job $i\"}}"
  done >"$file"
}

# Runs one phase; its summary goes to $work/<name>.summary.
phase() {
  local name=$1 n=$2
  shift 2
  start_gateway
  write_jobs "$n" "$work/$name.jsonl"
  echo "== $name: $n jobs, concurrency $concurrency $*" >&2
  local status=0
  "$floodgate" batch --url "http://127.0.0.1:$gateway_port" --key sk-bench \
    --input "$work/$name.jsonl" --output "$work/$name.results.jsonl" \
    --concurrency "$concurrency" "$@" 2>"$work/$name.summary" || status=$?
  grep -v '^progress:' "$work/$name.summary" >&2
  [ "$status" -eq 0 ] || { echo "$name: floodgate batch exited $status" >&2; exit 1; }
}

phase paced "$jobs"
phase unpaced "$unpaced_jobs" --no-pacing --max-retries 50

echo
echo "== results (limit 5/s = 300/min; mock latency ${latency_ms} ms; concurrency $concurrency)"
for name in paced unpaced; do
  s="$work/$name.summary"
  secs=$(sed -n 's/^done: .* lines in \([0-9.]*\) s$/\1/p' "$s")
  seen=$(sed -n 's/.*429s seen \([0-9]*\).*/\1/p' "$s")
  retried=$(sed -n 's/.*retried \([0-9]*\),.*/\1/p' "$s")
  rate=$(sed -n 's/.*effective rate \([0-9.]*\)\/min.*/\1/p' "$s")
  ratio=$(sed -n 's/.*: \([0-9.]*\)%$/\1/p' "$s")
  # a run under a minute is not compared with a per-minute limit (`floodgate batch`)
  if [ -n "$ratio" ]; then ratio="$ratio%"; else ratio="n/a"; fi
  printf '%-8s %5s s  effective %6s/min = %6s of allowed  429s seen %5s  jobs retried %5s\n' \
    "$name" "$secs" "$rate" "$ratio" "$seen" "$retried"
done
