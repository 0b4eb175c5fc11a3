#!/usr/bin/env bash
# Load test of `ratebook serve` on loopback with wrk (Debian's package):
# Portland FY23-24 quarterly bills, POSTed over keep-alive connections for a
# bounded time, against the release build with its decision log on disk.
# Prints requests per second and latency percentiles for bills without and
# with the explanation trace, and checks that no request failed and that
# every answered request is in the decision log.
#
#   bash benches/serve/load.sh [SECONDS] [CONNECTIONS]
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${1:-10}
connections=${2:-64}
command -v wrk >/dev/null || { echo "needs wrk: apt-get install wrk"; exit 2; }
cargo build --release -q
work=$(mktemp -d)
log="$work/audit.jsonl"
./target/release/ratebook serve --addr 127.0.0.1:0 --audit-log "$log" 2>"$work/stderr" &
server=$!
trap 'kill $server 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 1 100); do
  addr=$(sed -n 's/.*listening on http:\/\/\([^ ]*\).*/\1/p' "$work/stderr")
  [ -n "$addr" ] && break
  sleep 0.1
done
[ -n "${addr:-}" ] || { cat "$work/stderr"; exit 1; }
echo "ratebook serve at $addr; wrk -t2 -c$connections -d${seconds}s on this $(nproc)-core machine"

run() {
  local label=$1 path=$2 before after out
  before=$(wc -l <"$log")
  out=$(RATEBOOK_PATH="$path" wrk -t2 -c"$connections" -d"${seconds}s" --latency -s benches/serve/bill.lua "http://$addr")
  sleep 0.5
  after=$(wc -l <"$log")
  local requests non200 errors
  requests=$(sed -n 's/^requests //p' <<<"$out")
  non200=$(sed -n 's/^non_200 //p' <<<"$out")
  errors=$(sed -n 's/^socket_errors //p' <<<"$out")
  printf '%-22s %8s req/s  p50 %6s ms  p90 %6s ms  p99 %6s ms  max %7s ms  | %s requests, %s not 200, %s socket errors, %s logged\n' \
    "$label" "$(sed -n 's/^rps //p' <<<"$out")" "$(sed -n 's/^p50_ms //p' <<<"$out")" \
    "$(sed -n 's/^p90_ms //p' <<<"$out")" "$(sed -n 's/^p99_ms //p' <<<"$out")" \
    "$(sed -n 's/^max_ms //p' <<<"$out")" "$requests" "$non200" "$errors" "$((after - before))"
  [ "$non200" = 0 ] && [ "$errors" = 0 ] && [ $((after - before)) -ge "$requests" ] || { echo "FAILED: $label"; exit 1; }
}

# Warm up (connections, allocator, page cache), then measure.
RATEBOOK_PATH="/v1/packs/portland/decisions/bill" wrk -t2 -c"$connections" -d2s -s benches/serve/bill.lua "http://$addr" >/dev/null
run "bill, trace=false" "/v1/packs/portland/decisions/bill?trace=false"
[ -n "${ONLY_LEAN:-}" ] || run "bill, with trace" "/v1/packs/portland/decisions/bill"
