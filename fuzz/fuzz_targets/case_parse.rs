//! A case (YAML or JSON text) read and decided on the embedded Portland
//! pack: any bytes give a determination or an error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ratebook::{Case, Engine, Options, Pack};
use std::sync::OnceLock;

static ENGINE: OnceLock<Engine> = OnceLock::new();

const DECISIONS: [&str; 8] = [
    "bill",
    "leak_adjustment",
    "billing_error_adjustment",
    "low_income_discount",
    "high_usage",
    "collection_action",
    "payment_arrangement",
    "due_dates",
];

fuzz_target!(|data: &[u8]| {
    let engine = ENGINE.get_or_init(|| Engine::new(Pack::portland().unwrap()).unwrap());
    let Some((first, rest)) = data.split_first() else { return };
    let Ok(text) = std::str::from_utf8(rest) else { return };
    let decision = DECISIONS[usize::from(*first) % DECISIONS.len()];
    if let Ok(case) = Case::parse("fuzz", text) {
        let _ = engine.decide(decision, &case, &Options::default());
    }
});
