//! A staff claim and a review batch (JSON Lines or CSV) from the fuzzer:
//! read and reviewed against a fixed determination, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ratebook::review::{Claim, parse_batch, review};
use ratebook::{Case, Determination, Engine, Options, Pack};
use std::sync::OnceLock;

static DET: OnceLock<Determination> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let det = DET.get_or_init(|| {
        let engine = Engine::new(Pack::portland().unwrap()).unwrap();
        let case = Case::parse(
            "c",
            "account: { class: residential, billing_frequency: quarterly }\nperiod: { from: 2023-09-01, to: 2023-11-30 }\nusage_ccf: 15\nwinter_average_ccf: 12\n",
        )
        .unwrap();
        engine.decide("bill", &case, &Options::default()).unwrap()
    });
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(claim) = Claim::parse("claim", text) {
        let _ = review(det, &claim, Default::default());
    }
    let _ = parse_batch("batch", text);
});
