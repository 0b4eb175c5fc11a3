#![allow(clippy::expect_used, clippy::unwrap_used)] // A benchmark that cannot set up should stop loudly.
//! One Portland bill: the engine with full trace, with the trace off, and a
//! hand-written Rust function computing the same bill (the floor).
//! Report the ratios (engine / floor), not absolute times.
//!
//! `cargo bench --bench bill`

use criterion::{Criterion, criterion_group, criterion_main};

#[path = "floor.rs"]
mod floor;
use floor::{Input, floor, floor_from_json};
use ratebook::{Case, Engine, Options, Pack};
use rust_decimal::Decimal;
use std::hint::black_box;

/// The allocator the `ratebook` binary (CLI, batch, HTTP server) runs
/// with, so the engine is measured as it ships; the floor runs under it too.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The FY23-24 residential full-service quarterly bill of the pack tests:
/// 15 ccf, winter average 12, 90 days, all six lines.
const CASE: &str = r#"{
  "account": { "id": "A-2001", "class": "residential", "billing_frequency": "quarterly" },
  "period": { "from": "2023-09-01", "to": "2023-11-30" },
  "usage_ccf": 15,
  "winter_average_ccf": 12
}"#;

fn bench(c: &mut Criterion) {
    let engine = match Pack::portland().and_then(Engine::new) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("{}: {}", e.code, e.message);
            return;
        }
    };
    let case = match Case::parse("bench", CASE) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{}: {}", e.code, e.message);
            return;
        }
    };
    let full = Options {
        as_of: None,
        trace: true,
    };
    let lean = Options {
        as_of: None,
        trace: false,
    };
    let input = Input {
        days: 90,
        usage: Decimal::from(15),
        winter_average: Some(Decimal::from(12)),
    };

    // The floor and the engine must agree before they are compared.
    if let Ok(det) = engine.decide("bill", &case, &full) {
        let (_, total) = floor(&input);
        assert_eq!(det.total, Some(total), "floor and engine disagree");
        assert_eq!(
            floor_from_json(&case.value).map(|f| f.1),
            Some(total),
            "floor from JSON disagrees"
        );
    }

    let mut g = c.benchmark_group("portland_bill");
    g.bench_function("engine_full_trace", |b| {
        b.iter(|| engine.decide("bill", black_box(&case), black_box(&full)))
    });
    g.bench_function("engine_no_trace", |b| {
        b.iter(|| engine.decide("bill", black_box(&case), black_box(&lean)))
    });
    g.bench_function("handwritten_floor", |b| b.iter(|| floor(black_box(&input))));
    g.bench_function("handwritten_floor_from_json", |b| {
        b.iter(|| floor_from_json(black_box(&case.value)))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
