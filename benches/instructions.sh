#!/usr/bin/env bash
# Instructions per Portland bill, counted by valgrind's callgrind: repeatable
# on a shared machine where wall-clock times are not. Prints the engine (full
# trace and no trace) and the two hand-written floors, and the ratios.
#   benches/instructions.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build -q --release --example profile_bill
bin=target/release/examples/profile_bill
n=5000
count() {
  valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bin" "$1" "$2" 2>&1 | awk '/Collected/ { gsub(",", "", $4); print $4 }'
}
per_bill() { echo $(( ($(count $n "$1") - $(count 0 "$1")) / n )); }
full=$(per_bill full); lean=$(per_bill lean); floor=$(per_bill floor); json=$(per_bill floor-json)
printf 'engine, full trace   %6d instructions/bill\n' "$full"
printf 'engine, no trace     %6d\n' "$lean"
printf 'floor (typed input)  %6d\n' "$floor"
printf 'floor (JSON case)    %6d\n' "$json"
awk -v f="$full" -v l="$lean" -v t="$floor" -v j="$json" 'BEGIN {
  printf "full / typed floor  %.2fx\nno trace / typed    %.2fx\nfull / JSON floor   %.2fx\n", f/t, l/t, f/j }'
