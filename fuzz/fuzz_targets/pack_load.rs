//! A pack in which one file is replaced by the fuzzer's text: loading,
//! validating, compiling and deciding a case never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ratebook::pack::{Files, MemoryLoader, Pack};
use ratebook::{Case, Engine, Options};

const FILES: [(&str, &str); 5] = [
    ("pack.yaml", "id: f\ntitle: f\nversion: '1'\ndecisions: [bill, s]\n"),
    (
        "params/p.yaml",
        "rate:\n  description: r\n  unit: USD/ccf\n  values:\n    - { from: 2024-01-01, status: published, value: \"2.5\", source: s }\n    - { from: 2024-07-01, status: unknown, source: s }\n",
    ),
    (
        "charges/c.yaml",
        "charges:\n  - { id: v, label: V, quantity: usage, unit: ccf, per: period, rate: rate, cite: X }\n",
    ),
    (
        "decisions/bill.yaml",
        "title: b\nperiod: period\nas_of: period.to\ninputs:\n  period: { type: period }\n  usage: { type: number, min: \"0\" }\ncharges: [v]\n",
    ),
    ("citations.yaml", "X: { title: x }\n"),
];

fuzz_target!(|data: &[u8]| {
    let Some((first, rest)) = data.split_first() else { return };
    let Ok(text) = std::str::from_utf8(rest) else { return };
    let replace = usize::from(*first) % (FILES.len() + 1);
    let mut files: Files = FILES.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    match FILES.get(replace) {
        Some((name, _)) => {
            files.insert(name.to_string(), text.to_string());
        }
        None => {
            files.insert("decisions/s.rhai".into(), text.to_string());
        }
    }
    files.entry("decisions/s.rhai".into()).or_insert_with(|| "outcome(\"ok\");".into());
    let Ok(pack) = Pack::load(&MemoryLoader::new(files), ".") else { return };
    let Ok(engine) = Engine::new(pack) else { return };
    let case = Case::parse("c", "period: { from: 2024-05-01, to: 2024-08-01 }\nusage: 12\n").unwrap();
    let _ = engine.decide("bill", &case, &Options::default());
    let as_of = ratebook::dates::parse_date("2024-06-01");
    let _ = engine.decide("s", &case, &Options { as_of, trace: true });
});
