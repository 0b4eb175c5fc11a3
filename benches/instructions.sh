#!/usr/bin/env bash
# Work per Portland bill, counted by valgrind's cachegrind: repeatable on a
# shared machine where wall-clock times are not. For the engine (full trace
# and no trace) and the two hand-written floors: instructions, and the
# stalls that make time ratios larger than instruction ratios (instruction
# and data cache misses of a 32 KiB L1, mispredicted branches).
#   benches/instructions.sh            (TARGET_DIR=... to measure another build)
set -euo pipefail
cd "$(dirname "$0")/.."
target=${TARGET_DIR:-target}
cargo build -q --release --example profile_bill --target-dir "$target"
bin=$target/release/examples/profile_bill
n=4000
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
# The totals line of a cachegrind run: Ir I1mr ILmr Dr D1mr DLmr Dw D1mw DLmw Bc Bcm Bi Bim.
totals() {
  valgrind --tool=cachegrind --cache-sim=yes --branch-sim=yes --I1=32768,8,64 --D1=32768,8,64 \
    --cachegrind-out-file="$out/$1.$2" "$bin" "$1" "$2" > /dev/null 2>&1
  awk '/^summary:/ { $1 = ""; print }' "$out/$1.$2"
}
# Per bill: the run of n bills less the run of none (loading the pack).
per_bill() {
  paste <(totals "$n" "$1" | tr ' ' '\n' | sed '/^$/d') <(totals 0 "$1" | tr ' ' '\n' | sed '/^$/d') |
    awk -v n="$n" '{ d[NR] = ($1 - $2) / n } END {
      printf "%6d %8.0f %8.0f %8.0f\n", d[1], d[2], d[5] + d[8], d[11] + d[13] }'
}
printf '%-20s %6s %8s %8s %8s\n' "per bill" instr I1-miss D1-miss mispred
declare -A ir
for mode in full lean floor floor-json; do
  read -r i i1 d1 b < <(per_bill "$mode")
  ir[$mode]=$i
  case $mode in
    full) name="engine, full trace" ;;
    lean) name="engine, no trace" ;;
    floor) name="floor (typed input)" ;;
    floor-json) name="floor (JSON case)" ;;
  esac
  printf '%-20s %6d %8d %8d %8d\n' "$name" "$i" "$i1" "$d1" "$b"
done
awk -v f="${ir[full]}" -v l="${ir[lean]}" -v t="${ir[floor]}" -v j="${ir[floor-json]}" 'BEGIN {
  printf "instructions: full / typed floor %.2fx, no trace / typed %.2fx, full / JSON floor %.2fx\n", f/t, l/t, f/j }'
