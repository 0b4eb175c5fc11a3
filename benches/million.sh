# The set-up the one-million-account benchmarks share (sourced by
# benches/batch.sh and benches/impact.sh, with their arguments): the
# release binary built, the shared data's accounts unpacked into a work
# folder removed on exit. Sets `runs` (the first argument, default 3),
# `data`, `work` and `bin`; the accounts are "$work/accounts.csv".
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
runs=${1:-3}
data=${BENCH_DATA:-../shared/data/bench}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cargo build -q --release
bin=target/release/ratebook
zcat "$data/portland_accounts_1m.csv.gz" > "$work/accounts.csv"
