//! Runs one Portland bill in a loop, for profilers (`perf record`, callgrind).
//! `profile_bill N` runs the engine N times with the full trace;
//! `profile_bill N lean` with the trace off; `profile_bill N floor` and
//! `profile_bill N floor-json` run the hand-written floor of `benches/`.
//! Under valgrind (callgrind, or cachegrind as `benches/instructions.sh`
//! runs it), counts per bill are repeatable on a busy machine where times
//! are not: (Ir(N) - Ir(0)) / N.
#[path = "../benches/floor.rs"]
mod floor;
use ratebook::{Case, Engine, Options, Pack};

/// The allocator the `ratebook` binary (CLI, batch, HTTP server) runs
/// with, so the engine is measured as it ships; the floor runs under it too.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let Ok(engine) = Pack::portland().and_then(Engine::new) else {
        return;
    };
    let text = r#"{"account":{"id":"A-2001","class":"residential","billing_frequency":"quarterly"},"period":{"from":"2023-09-01","to":"2023-11-30"},"usage_ccf":15,"winter_average_ccf":12}"#;
    let Ok(case) = Case::parse("profile", text) else { return };
    let n: usize = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(200_000);
    let mode = std::env::args().nth(2).unwrap_or_default();
    let opts = Options {
        as_of: None,
        trace: mode != "lean",
    };
    let mut total = rust_decimal::Decimal::ZERO;
    if mode.starts_with("floor") {
        let input = floor::Input {
            days: 90,
            usage: 15.into(),
            winter_average: Some(12.into()),
        };
        for _ in 0..n {
            let bill = if mode == "floor-json" {
                floor::floor_from_json(std::hint::black_box(&case.value))
            } else {
                Some(floor::floor(std::hint::black_box(&input)))
            };
            total += bill.map(|b| b.1).unwrap_or_default();
        }
        println!("{total}");
        return;
    }
    for _ in 0..n {
        if let Ok(d) = engine.decide("bill", &case, &opts) {
            total += d.total.unwrap_or_default();
        }
    }
    println!("{total}");
}
