#!/usr/bin/env bash
# The one-million-bill batch benchmark, end to end (read the CSV, decide,
# write the CSV), as the batch issue measures it:
#   benches/batch.sh [RUNS]        (default 3 runs; the shared data in ../shared/data/bench)
# Prints each run's wall and CPU time and peak memory, then checks every
# line of every bill against the expected amounts (0 differences is the
# only pass), then the instructions a row (cachegrind, 20,000 rows, one
# thread): repeatable where the shared machine's times are not.
set -euo pipefail
source "$(dirname "$0")/million.sh"
for i in $(seq "$runs"); do
  /usr/bin/time -f "run $i: %e s wall, %U s user, %S s system, %M KB peak" \
    "$bin" batch --accounts "$work/accounts.csv" --columns benches/bench-columns.yaml \
    --pack benches/overlay --decision bill --format csv --out "$work/bills.csv" 2>&1 | tail -1
done
# Every line of every bill: the expected file's columns are account_id,
# water_base_charge, water_volume_charge, sewer_volume_charge, total; the
# output's row, id, outcome, water.volume, water.base, sewer.volume, total,
# error (an empty cell is no line: 0.00 expected).
zcat "$data/portland_expected_1m.csv.gz" | paste -d, - "$work/bills.csv" | awk -F, '
  NR == 1 {
    if ($0 != "account_id,water_base_charge,water_volume_charge,sewer_volume_charge,total,row,id,outcome,water.volume,water.base,sewer.volume,total,error") {
      print "unexpected columns: " $0; exit 2 }
    next }
  function same(a, b) { return sprintf("%.2f", a == "" ? 0 : a) == sprintf("%.2f", b == "" ? 0 : b) }
  { rows++
    if ($1 != $7 || !same($2, $10) || !same($3, $9) || !same($4, $11) || !same($5, $12) || $13 != "") {
      bad++; if (bad <= 5) print "differs: " $0 } }
  END { printf "%d bills, %d differences\n", rows, bad; exit bad > 0 }'
head -20001 "$work/accounts.csv" > "$work/20k.csv"
head -1 "$work/accounts.csv" > "$work/0.csv"
count() {
  valgrind --tool=cachegrind --cache-sim=no --cachegrind-out-file=/dev/null "$bin" batch --accounts "$1" \
    --columns benches/bench-columns.yaml --pack benches/overlay --decision bill --format csv \
    --out /dev/null --threads 1 2>&1 | awk '/I *refs/ { gsub(",", "", $4); print $4 }'
}
echo "instructions a row: $(( ($(count "$work/20k.csv") - $(count "$work/0.csv")) / 20000 ))"
