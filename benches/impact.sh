#!/usr/bin/env bash
# The one-million-account impact benchmark, end to end (read the CSV, decide
# every account under both packs, write the report), as the batch issue
# measures it:
#   benches/impact.sh [RUNS]       (default 3 runs; the shared data in ../shared/data/bench)
# The base is the benchmark overlay (benches/overlay); the proposal is a
# copy of it with the FY25-26 water volume rate raised from 7.559 to 7.900
# USD/ccf. Prints each run's wall and CPU time and peak memory, then the
# report's headline (accounts paying more and less, the revenue totals), which must
# be the same every run.
set -euo pipefail
source "$(dirname "$0")/million.sh"
cp -r benches/overlay "$work/proposal"
sed -i 's/from: 2025-07-01, status: assumed, value: "7.559"/from: 2025-07-01, status: assumed, value: "7.900"/' \
  "$work/proposal/params/bench.yaml"
if cmp -s benches/overlay/params/bench.yaml "$work/proposal/params/bench.yaml"; then
  echo "the proposal did not change the FY25-26 water rate" >&2
  exit 2
fi
for i in $(seq "$runs"); do
  { /usr/bin/time -f "run $i: %e s wall, %U s user, %S s system, %M KB peak" \
    "$bin" impact --base benches/overlay --proposed "$work/proposal" --accounts "$work/accounts.csv" \
    --columns benches/bench-columns.yaml --decision bill --format json > "$work/impact-$i.json"; } 2>&1 | tail -1
done
python3 - "$work"/impact-*.json <<'EOF'
import json, sys
heads = set()
for path in sys.argv[1:]:
    r = json.load(open(path))
    heads.add(json.dumps({k: r[k] for k in ("accounts", "errors", "pay_more", "pay_less", "unchanged", "total")}, sort_keys=True))
if len(heads) != 1:
    sys.exit("the runs disagree")
print(heads.pop())
EOF
