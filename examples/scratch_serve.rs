use ratebook::case::Case;
use ratebook::engine::{Engine, Options};
use ratebook::pack::Pack;
fn main() {
    let what = std::env::args().nth(1).unwrap_or_default();
    let engine = Engine::new(Pack::portland().unwrap()).unwrap();
    let text = r#"{"account":{"id":"A-2001","class":"residential","billing_frequency":"quarterly"},"period":{"from":"2023-09-01","to":"2023-11-30"},"usage_ccf":15,"winter_average_ccf":12}"#;
    let case = Case::parse("c", text).unwrap();
    let d = engine.decide("bill", &case, &Options::default()).unwrap();
    let n: usize = std::env::var("N").ok().and_then(|v| v.parse().ok()).unwrap_or(20000);
    for _ in 0..n {
        match what.as_str() {
            "decide" => { std::hint::black_box(engine.decide("bill", &case, &Options::default()).unwrap()); }
            "json" => { std::hint::black_box(serde_json::to_vec(&d).unwrap()); }
            "trace" => { std::hint::black_box(serde_json::to_vec(&d.trace).unwrap()); }
            _ => {}
        }
    }
}
