//! The shared one-million-bill benchmark data (`../shared/data/bench`):
//! its account rows as ratebook cases, and a bill's lines against the
//! expected amounts. Used by `examples/differential.rs` (the whole million)
//! and `tests/batch.rs` (the committed sample in `tests/data/bench-sample`).

use ratebook::{Case, Determination};
use rust_decimal::Decimal;
use std::str::FromStr;

/// An accounts row (`account_id, bill_start, bill_end, billing_frequency,
/// usage_ccf, winter_average_ccf, is_residential, has_sewer`) as a case.
pub fn case(row: &csv::StringRecord, name: &str) -> Case {
    let f = |i: usize| row.get(i).unwrap_or_default().to_string();
    let services = if f(7) == "1" {
        serde_json::json!(["water", "sewer"])
    } else {
        serde_json::json!(["water"])
    };
    Case::from_value(
        name,
        serde_json::json!({
            "account": { "id": f(0), "class": if f(6) == "1" { "residential" } else { "commercial" },
                         "billing_frequency": f(3), "services": services },
            "period": { "from": f(1), "to": f(2) },
            "usage_ccf": f(4),
            "winter_average_ccf": f(5),
        }),
    )
}

/// The bill's `[water base, water volume, sewer volume, total]` and the
/// expected row's (`account_id, water_base_charge, water_volume_charge,
/// sewer_volume_charge, total`).
pub fn compare(det: &Determination, expected: &csv::StringRecord) -> ([Decimal; 4], [Decimal; 4]) {
    let sum = |id: &str| {
        det.lines
            .iter()
            .filter(|l| &**l.id() == id)
            .map(|l| l.amount)
            .sum::<Decimal>()
    };
    let want = |i: usize| Decimal::from_str(expected.get(i).unwrap_or("x")).unwrap_or(Decimal::MIN);
    (
        [
            sum("water.base"),
            sum("water.volume"),
            sum("sewer.volume"),
            det.total.unwrap_or_default(),
        ],
        [want(1), want(2), want(3), want(4)],
    )
}
