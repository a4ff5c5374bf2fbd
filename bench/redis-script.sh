#!/usr/bin/env bash
# The decision script's cost on Redis, in instructions, unaffected by other load on the
# machine: redis-server runs under valgrind's callgrind, and the instructions it spends
# per decision are measured for batches of 1, 4, 12 and 32 decisions per call (the
# benchmark's three-dimension decision: requests per minute per key, tokens per minute
# per account, requests per day per key; 64 keys over 8 accounts), beside a one-line
# `return 1` script with no arguments (the cost of a script call itself).
#
# Each figure is the difference between a run of 300 calls and a run of 100 calls on a
# fresh server, divided by the 200 calls' decisions, so start-up and shutdown cancel out.
#
# With --previous REV, the same decision under the one-decision script of an earlier
# commit (before batching, e.g. f92cb44) is measured too, with the ratio.
#
# Usage: bench/redis-script.sh [--previous REV]      (about 1 minute)
set -euo pipefail
cd "$(dirname "$0")/.."

previous=
while [ $# -gt 0 ]; do
  case "$1" in
    --previous) previous="$2"; shift ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
  shift
done

scripts/install-deps.sh redis-server
command -v redis-benchmark >/dev/null || scripts/install-deps.sh redis-tools
command -v valgrind >/dev/null || scripts/install-deps.sh valgrind

dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cat crates/floodgate-redis/src/lua/lib.lua crates/floodgate-redis/src/lua/decide.lua \
  >"$dir/decide.lua"
echo "return 1" >"$dir/return1.lua"
if [ -n "$previous" ]; then
  git show "$previous:crates/floodgate-redis/src/lua/lib.lua" >"$dir/previous.lua"
  git show "$previous:crates/floodgate-redis/src/lua/decide.lua" >>"$dir/previous.lua"
fi

# The arguments of one call deciding `$1` requests, as `src/batch_args.rs` lays them out:
# the counter hashes, then the definitions, each hash's counters as one number (a key's
# hash holds the per-minute and the daily counter, definitions 1 and 3: 1 + 4 x 3 in
# base 4; an account's the tokens counter, definition 2) and each decision's word (its
# head and counters) and cost.
batch_args() {
  local count=$1 keys="" hashes=0 i account key_hash account_hash counters="" args=""
  local numbered=0 h
  declare -A index first
  declare -a names
  for i in $(seq 1 "$count"); do
    account=$(((i - 1) % 8 + 1))
    key_hash="fg:{a$account}:k:k$i"
    account_hash="fg:{a$account}:a"
    for hash in "$key_hash" "$account_hash"; do
      if [ -z "${index[$hash]:-}" ]; then
        hashes=$((hashes + 1))
        index[$hash]=$hashes
        names[$hashes]=$hash
        keys="$keys $hash"
      fi
    done
  done
  for h in $(seq 1 "$hashes"); do
    first[${names[$h]}]=$numbered
    case "${names[$h]}" in
      *:a) counters="$counters 2"; numbered=$((numbered + 1)) ;;
      *) counters="$counters 13"; numbered=$((numbered + 2)) ;;
    esac
  done
  # a decision's limit codes are packed in base 4 x (counters + 1)
  local base=$((4 * (numbered + 1))) c1 c2 c3
  for i in $(seq 1 "$count"); do
    account=$(((i - 1) % 8 + 1))
    key_hash="fg:{a$account}:k:k$i"
    account_hash="fg:{a$account}:a"
    # per limit 4 x its counter (+ 1 when a cost other than 1 follows); the word is
    # minus (head + 1024 x the codes), the head 8 x 3 limits + 1 to consume; then the
    # tokens limit's cost
    c1=$((4 * (${first[$key_hash]} + 1)))
    c2=$((4 * (${first[$account_hash]} + 1) + 1))
    c3=$((4 * (${first[$key_hash]} + 2)))
    args="$args -$((25 + 1024 * (c1 + base * (c2 + base * c3)))) 100"
  done
  echo "$hashes $keys $count 3 $hashes" \
    "rpm#1000000000 r 60 60000000000 1000000000 0" \
    "tpm#1000000000000 r 1 1000000000000 1000000000000 0" \
    "day#1000000000000 d 0 0 1000000000000 0 $counters $args"
}

# Instructions a fresh redis-server spends from start to shutdown, having run `$3` calls
# of script `$1` with arguments `$2`.
instructions() {
  local script=$1 args=$2 calls=$3 port out pid sha
  port=$((19600 + RANDOM % 300))
  out="$dir/callgrind.$port"
  valgrind --tool=callgrind --callgrind-out-file="$out" redis-server --port "$port" \
    --bind 127.0.0.1 --save "" --appendonly no >/dev/null 2>&1 &
  pid=$!
  for _ in $(seq 300); do
    redis-cli -p "$port" ping >/dev/null 2>&1 && break
    sleep 0.1
  done
  sha=$(redis-cli -p "$port" script load "$(cat "$script")")
  # shellcheck disable=SC2086
  redis-benchmark -p "$port" -n "$calls" -c 1 -q evalsha "$sha" $args >/dev/null
  redis-cli -p "$port" shutdown nosave >/dev/null 2>&1 || true
  wait "$pid" || true
  awk '/^summary:/ { print $2 }' "$out"
}

per_decision() {
  local script=$1 args=$2 decisions=$3 small large
  small=$(instructions "$script" "$args" 100)
  large=$(instructions "$script" "$args" 300)
  echo $(((large - small) / 200 / decisions))
}

echo "== Redis decision script, instructions on the server (callgrind)"
echo "machine: $(nproc) cores; $(redis-server --version | awk '{ print $1, $2, $3 }')"
echo "return 1, no arguments, per call: $(per_decision "$dir/return1.lua" 0 1)"
declare -A cost
for size in 1 4 12 32; do
  cost[$size]=$(per_decision "$dir/decide.lua" "$(batch_args "$size")" "$size")
  echo "decision script, $size per call, per decision: ${cost[$size]}"
done
if [ -n "$previous" ]; then
  # The one-decision script's layout: KEYS, then consume, lease, abuse index, and 8
  # arguments per limit.
  old=$(per_decision "$dir/previous.lua" "2 fg:{a1}:k:k1 fg:{a1}:a 1 1 0 \
1 rpm#1000000000 r 60 60000000000 1000000000 1 0 \
2 tpm#1000000000000 r 1 1000000000000 1000000000000 100 0 \
1 day#1000000000000 d 0 0 1000000000000 1 0" 1)
  echo "previous script ($previous), one decision per call: $old"
  for size in 1 12 32; do
    awk -v n="${cost[$size]}" -v o="$old" -v s="$size" \
      'BEGIN { printf "ratio, %d per call / previous: %.2f\n", s, n / o }'
  done
fi
