//! A rhai decision script from the fuzzer, compiled and run under the
//! pack's sandbox limits against a case: an error or a determination, never
//! a panic, and never a hang (libFuzzer's -timeout catches one).
#![no_main]

use libfuzzer_sys::fuzz_target;
use ratebook::pack::{Files, MemoryLoader, Pack};
use ratebook::{Case, Engine, Options};

fuzz_target!(|data: &[u8]| {
    let Ok(script) = std::str::from_utf8(data) else { return };
    let mut files = Files::new();
    files.insert(
        "pack.yaml".into(),
        "id: f\ntitle: f\nversion: '1'\ndecisions: [s]\nlimits: { max_operations: 200000 }\ncalendar: { holidays: [2024-07-04] }\n".into(),
    );
    files.insert("citations.yaml".into(), "X: { title: x }\n".into());
    files.insert(
        "params/p.yaml".into(),
        "rate:\n  description: r\n  unit: USD/ccf\n  values:\n    - { from: 2024-01-01, status: published, value: \"2.5\", source: s }\n    - { from: 2024-07-01, status: unknown, source: s }\n".into(),
    );
    files.insert("decisions/s.rhai".into(), script.to_string());
    let Ok(pack) = Pack::load(&MemoryLoader::new(files), ".") else { return };
    let Ok(engine) = Engine::new(pack) else { return };
    let case = Case::parse("c", "usage: 12\nfrom: 2024-06-01\nto: 2024-07-31\nlist: [1, 2, 3]\nname: x\n").unwrap();
    let _ = engine.decide("s", &case, &Options { as_of: ratebook::dates::parse_date("2024-08-01"), trace: true });
});
