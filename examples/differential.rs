//! Differential check against the shared one-million-bill benchmark:
//! every line of every bill must equal the expected amount.
//!
//! ```text
//! cargo run --release --example differential -- \
//!     ../shared/data/bench/portland_accounts_1m.csv.gz ../shared/data/bench/portland_expected_1m.csv.gz
//! ```
//! (`.gz` files are read through `zcat`.) Uses the overlay pack in
//! `benches/overlay`, which supplies the benchmark's assumed figures.

#[path = "../benches/bench_data.rs"]
mod bench_data;

use ratebook::pack::{FolderLoader, Pack};
use ratebook::{Engine, Options};
use rust_decimal::Decimal;
use std::io::Read;
use std::process::{Command, ExitCode, Stdio};

fn open(path: &str) -> Box<dyn Read> {
    if path.ends_with(".gz") {
        match Command::new("zcat")
            .arg(path)
            .stdout(Stdio::piped())
            .spawn()
            .ok()
            .and_then(|c| c.stdout)
        {
            Some(out) => Box::new(out),
            None => Box::new(std::io::empty()),
        }
    } else {
        match std::fs::File::open(path) {
            Ok(f) => Box::new(f),
            Err(_) => Box::new(std::io::empty()),
        }
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let (Some(acc), Some(exp)) = (args.get(1), args.get(2)) else {
        eprintln!("usage: differential ACCOUNTS.csv[.gz] EXPECTED.csv[.gz] [LIMIT]");
        return ExitCode::from(2);
    };
    let limit: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(usize::MAX);
    let engine = match Pack::load(&FolderLoader, "benches/overlay").and_then(Engine::new) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("{}: {}", e.code, e.message);
            return ExitCode::from(3);
        }
    };
    let mut accounts = csv::Reader::from_reader(open(acc));
    let mut expected = csv::Reader::from_reader(open(exp));
    let opts = Options {
        as_of: None,
        trace: false,
    };
    let (mut n, mut bad) = (0usize, 0usize);
    let mut grand = Decimal::ZERO;
    for (a, e) in accounts.records().zip(expected.records()).take(limit) {
        let (Ok(a), Ok(e)) = (a, e) else {
            bad += 1;
            continue;
        };
        let case = bench_data::case(&a, &format!("row {}", n + 1));
        n += 1;
        let det = match engine.decide("bill", &case, &opts) {
            Ok(d) => d,
            Err(err) => {
                bad += 1;
                if bad < 10 {
                    eprintln!("row {n}: {}: {}", err.code, err.message);
                }
                continue;
            }
        };
        let (got, exp) = bench_data::compare(&det, &e);
        if got != exp {
            bad += 1;
            if bad < 10 {
                eprintln!(
                    "row {n} (account {}): got {got:?}, expected {exp:?}",
                    a.get(0).unwrap_or_default()
                );
            }
        }
        grand += got[3];
    }
    println!("{n} bills, {bad} differences, grand total {grand}");
    if bad == 0 && n > 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
