#![allow(clippy::expect_used, clippy::unwrap_used)] // A benchmark that cannot set up should stop loudly.
//! One Portland bill: the engine with full trace, with the trace off, and a
//! hand-written Rust function computing the same bill (the floor).
//! Report the ratios (engine / floor), not absolute times.
//!
//! `cargo bench --bench bill`

use criterion::{Criterion, criterion_group, criterion_main};
use ratebook::money::round_money;
use ratebook::{Case, Engine, Options, Pack};
use rust_decimal::Decimal;
use std::hint::black_box;

/// The FY23-24 residential full-service quarterly bill of the pack tests:
/// 15 ccf, winter average 12, 90 days, all six lines.
const CASE: &str = r#"{
  "account": { "id": "A-2001", "class": "residential", "billing_frequency": "quarterly" },
  "period": { "from": "2023-09-01", "to": "2023-11-30" },
  "usage_ccf": 15,
  "winter_average_ccf": 12
}"#;

/// The typed input of the floor.
struct Input {
    days: i64,
    usage: Decimal,
    winter_average: Option<Decimal>,
}

/// The same bill, hand-written: FY23-24 rates as constants, no proration
/// (the period lies in one fiscal year), each line rounded half-up.
fn floor(i: &Input) -> (Vec<(&'static str, Decimal)>, Decimal) {
    let d = |s: i64, scale: u32| Decimal::new(s, scale);
    let days = Decimal::from(i.days);
    let sewer_q = i.winter_average.map_or(i.usage, |w| w.min(i.usage));
    let months = days / d(304, 1);
    let lines = vec![
        ("water.volume", round_money(i.usage * d(7006, 3))),
        ("water.base", round_money(days * d(7063, 4))),
        ("sewer.volume", round_money(sewer_q * d(1296, 2))),
        ("stormwater", round_money(d(24, 1) * d(1352, 2) * days / d(304, 1))),
        ("harbor.volume", round_money(sewer_q * d(10, 2))),
        ("harbor.area", round_money(d(24, 1) * months * d(24, 2))),
    ];
    let total = lines.iter().map(|l| l.1).sum();
    (lines, total)
}

/// The floor again, reading its input from the same parsed JSON case the
/// engine gets (as a hand-written billing service would), with the minimum
/// of checking: the fields are there, of the right type, dates are dates.
fn floor_from_json(v: &serde_json::Value) -> Option<(Vec<(&'static str, Decimal)>, Decimal)> {
    let num = |x: &serde_json::Value| -> Option<Decimal> {
        x.as_i64()
            .map(Decimal::from)
            .or_else(|| x.as_str().and_then(|s| s.parse().ok()))
    };
    let account = v.get("account")?;
    let class = account.get("class")?.as_str()?;
    let frequency = account.get("billing_frequency")?.as_str()?;
    if class != "residential" || frequency != "quarterly" {
        return None;
    }
    let period = v.get("period")?;
    let from = ratebook::dates::parse_date(period.get("from")?.as_str()?)?;
    let to = ratebook::dates::parse_date(period.get("to")?.as_str()?)?;
    let input = Input {
        days: (to - from).num_days(),
        usage: num(v.get("usage_ccf")?)?,
        winter_average: v.get("winter_average_ccf").and_then(num),
    };
    Some(floor(&input))
}

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
