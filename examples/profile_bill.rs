//! Runs one Portland bill in a loop, for profilers (`perf record`, callgrind).
//! `profile_bill N` runs the engine N times with the full trace;
//! `profile_bill N lean` with the trace off.
use ratebook::{Case, Engine, Options, Pack};
fn main() {
    let Ok(engine) = Pack::portland().and_then(Engine::new) else {
        return;
    };
    let text = r#"{"account":{"id":"A-2001","class":"residential","billing_frequency":"quarterly"},"period":{"from":"2023-09-01","to":"2023-11-30"},"usage_ccf":15,"winter_average_ccf":12}"#;
    let Ok(case) = Case::parse("profile", text) else { return };
    let n: usize = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(200_000);
    let trace = std::env::args().nth(2).as_deref() != Some("lean");
    let opts = Options { as_of: None, trace };
    let mut total = rust_decimal::Decimal::ZERO;
    for _ in 0..n {
        if let Ok(d) = engine.decide("bill", &case, &opts) {
            total += d.total.unwrap_or_default();
        }
    }
    println!("{total}");
}
