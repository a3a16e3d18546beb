#!/usr/bin/env bash
# The HTTP benchmark: wrk against the same hyper 1.x "Hello, World!" server on Trellis
# (interop/examples/http_hello.rs) and on tokio (benches/tools/http_hello_tokio.rs), on
# loopback, alternating in one run. The server is pinned to the first SERVER_CORES cores and wrk
# to the next one, so they do not share cores (on 2 cores: server on core 0, wrk on core 1).
#
#   benches/tools/http.sh                       # 1 worker, 50 connections, 10 s, 3 rounds
#   WORKERS=2 SERVER_CORES=2 benches/tools/http.sh  (on a machine with 3+ cores)
#
# Prints one line per run and a markdown table of the medians (requests/s, p50, p99).
set -euo pipefail
cd "$(dirname "$0")/../.."

WORKERS=${WORKERS:-1}
SERVER_CORES=${SERVER_CORES:-1}
CONNS=${CONNS:-50}
DURATION=${DURATION:-10s}
ROUNDS=${ROUNDS:-3}

if ! command -v wrk >/dev/null; then
  echo "wrk not found: apt-get install -y wrk" >&2
  exit 1
fi
cargo build --release -q -p trellis-interop --example http_hello
cargo build --release -q -p trellis-benches --bin http_hello_tokio

server_cpus="0-$((SERVER_CORES - 1))"
wrk_cpu="$SERVER_CORES"
declare -A bin=(
  [trellis]="target/release/examples/http_hello"
  [tokio]="target/release/http_hello_tokio"
)
results=$(mktemp)
port=3100
for round in $(seq 1 "$ROUNDS"); do
  for rt in trellis tokio; do
    port=$((port + 1))
    taskset -c "$server_cpus" "${bin[$rt]}" --port "$port" --workers "$WORKERS" 2>/dev/null &
    pid=$!
    for _ in $(seq 1 100); do
      curl -s "http://127.0.0.1:$port/" >/dev/null && break
      sleep 0.05
    done
    out=$(taskset -c "$wrk_cpu" wrk -t1 -c"$CONNS" -d"$DURATION" --latency "http://127.0.0.1:$port/")
    kill -TERM "$pid"
    wait "$pid" || true
    rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
    p50=$(awk '$1 == "50%" {print $2}' <<<"$out")
    p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
    echo "round $round $rt: $rps req/s, p50 $p50, p99 $p99"
    echo "$rt $rps $p50 $p99" >>"$results"
  done
done

median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo
echo "| server (${WORKERS}w on ${SERVER_CORES} core(s), wrk -t1 -c$CONNS -d$DURATION on its own core) | requests/s | p50 | p99 |"
echo "|---|---|---|---|"
for rt in trellis tokio; do
  rps=$(awk -v r="$rt" '$1 == r {print $2}' "$results" | median)
  p50=$(awk -v r="$rt" '$1 == r {print $3}' "$results" | sort -V | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  p99=$(awk -v r="$rt" '$1 == r {print $4}' "$results" | sort -V | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  echo "| $rt | $rps | $p50 | $p99 |"
done
rm -f "$results"
