#![allow(clippy::expect_used, clippy::unwrap_used)] // A benchmark that cannot set up should stop loudly.
//! One bill on Santa Monica's 2016 structure imported from its OWRS file
//! (RESIDENTIAL_SINGLE, 27.3 ccf over four tiers): the engine with full
//! trace, with the trace off, the amounts alone (what a batch's CSV uses),
//! and a hand-written Rust function computing the same bill (the floor).
//! Report the ratios (engine / floor), not absolute times.
//!
//! `cargo bench --bench owrs`

use criterion::{Criterion, criterion_group, criterion_main};
use ratebook::pack::MemoryLoader;
use ratebook::{Case, Engine, Options, Pack};
use rust_decimal::Decimal;
use std::hint::black_box;

const FILE: &str =
    "tests/data/owrs/full_utility_rates/California/Santa Monica City of - 2581/Older/smc-2016-03-01.owrs";

/// The floor: the file's residential tiers, written by hand.
fn floor(usage: Decimal) -> Decimal {
    let starts = [Decimal::ZERO, Decimal::from(15), Decimal::from(41), Decimal::from(149)];
    let prices = [
        Decimal::new(287, 2),
        Decimal::new(429, 2),
        Decimal::new(644, 2),
        Decimal::new(1007, 2),
    ];
    let mut below = Decimal::ZERO;
    let mut bill = Decimal::ZERO;
    for (i, price) in prices.iter().enumerate() {
        let cap = starts.get(i + 1).map(|s| *s - Decimal::ONE);
        let x = match cap {
            Some(c) => (usage.min(c) - below).max(Decimal::ZERO),
            None => (usage - below).max(Decimal::ZERO),
        };
        below += x;
        bill += x * price;
    }
    ratebook::money::round_money(bill)
}

fn bench(c: &mut Criterion) {
    let text = std::fs::read_to_string(FILE).expect("the Santa Monica OWRS file");
    let imported = ratebook::owrs::import("smc-2016-03-01.owrs", &text).expect("imports");
    let engine = Engine::new(Pack::load(&MemoryLoader::new(imported.files), ".").expect("loads")).expect("compiles");
    let case = Case::parse("bench", r#"{"cust_class": "RESIDENTIAL_SINGLE", "usage_ccf": 27.3}"#).expect("case");
    let usage = Decimal::new(273, 1);
    let full = Options::default();
    let lean = Options {
        trace: false,
        ..Options::default()
    };
    let schema = engine.schema("bill").expect("a formula decision");
    let facts = schema.check(&case).expect("facts");

    // The floor and the engine must agree before they are compared.
    let det = engine.decide("bill", &case, &full).expect("decides");
    assert_eq!(det.total, Some(floor(usage)), "floor and engine disagree");

    let mut g = c.benchmark_group("owrs_bill");
    g.bench_function("engine_full_trace", |b| {
        b.iter(|| engine.decide("bill", black_box(&case), &full))
    });
    g.bench_function("engine_no_trace", |b| {
        b.iter(|| engine.decide("bill", black_box(&case), &lean))
    });
    let columns = ratebook::batch::csv_columns(&engine, "bill").expect("line columns");
    let columns = engine.line_columns("bill", &columns);
    g.bench_function("engine_amounts", |b| {
        b.iter(|| engine.amounts("bill", &"bench", black_box(&facts), None, &columns))
    });
    g.bench_function("floor", |b| b.iter(|| floor(black_box(usage))));
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
