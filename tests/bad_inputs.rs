//! The bad-input corpus (tests/bad_inputs/expected.yaml): every malformed
//! case and broken pack is refused through the `ratebook` binary with its
//! error code and exit code, the error names what and where, nothing
//! panics and nothing hangs. Generated inputs (multi-megabyte strings, deep
//! nesting, non-UTF-8 rows in a batch) are made here.

use serde::Deserialize;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

#[derive(Deserialize)]
struct Manifest {
    cases: Vec<CaseEntry>,
    packs: Vec<PackEntry>,
}

#[derive(Deserialize)]
struct CaseEntry {
    file: String,
    decision: String,
    code: String,
    exit: i32,
    names: String,
}

#[derive(Deserialize)]
struct PackEntry {
    pack: String,
    decision: String,
    case: String,
    code: String,
    exit: i32,
    names: String,
}

const DIR: &str = "tests/bad_inputs";

fn run(args: &[&str]) -> (Output, Duration) {
    let start = Instant::now();
    let o = Command::new(env!("CARGO_BIN_EXE_ratebook"))
        .args(args)
        .current_dir(DIR)
        .output()
        .expect("runs");
    (o, start.elapsed())
}

/// Checks one refusal; returns a description of what is wrong, if anything.
fn check(what: &str, o: &Output, took: Duration, code: &str, exit: i32, names: &str) -> Option<String> {
    let stderr = String::from_utf8_lossy(&o.stderr);
    if stderr.contains("panicked") {
        return Some(format!("{what}: panicked: {stderr}"));
    }
    if took > Duration::from_secs(5) {
        return Some(format!("{what}: took {took:?}"));
    }
    if o.status.code() != Some(exit) {
        return Some(format!("{what}: exit {:?}, expected {exit}: {stderr}", o.status.code()));
    }
    let Ok(json) = serde_json::from_str::<serde_json::Value>(&stderr) else {
        return Some(format!("{what}: stderr is not the JSON error envelope: {stderr}"));
    };
    let e = &json["error"];
    if e["code"] != code {
        return Some(format!("{what}: code {}, expected {code}", e["code"]));
    }
    let said = format!("{} {}", e["message"].as_str().unwrap_or(""), e["locations"]);
    if !said.contains(names) {
        return Some(format!("{what}: the error does not name `{names}`: {said}"));
    }
    if e["locations"].as_array().is_none_or(Vec::is_empty) {
        return Some(format!("{what}: the error gives no location"));
    }
    None
}

#[test]
fn every_bad_input_is_refused_with_its_code_and_says_where() {
    let text = std::fs::read_to_string(format!("{DIR}/expected.yaml")).expect("the manifest");
    let m: Manifest = serde_saphyr::from_str(&text).expect("the manifest parses");
    assert!(
        m.cases.len() + m.packs.len() >= 40,
        "the corpus has {} inputs",
        m.cases.len() + m.packs.len()
    );
    let mut problems = Vec::new();
    for c in &m.cases {
        let (o, took) = run(&["decide", &c.decision, &c.file, "--format", "json"]);
        problems.extend(check(&c.file, &o, took, &c.code, c.exit, &c.names));
    }
    for p in &m.packs {
        let (o, took) = run(&["decide", &p.decision, &p.case, "--pack", &p.pack, "--format", "json"]);
        problems.extend(check(
            &format!("{} {}", p.pack, p.decision),
            &o,
            took,
            &p.code,
            p.exit,
            &p.names,
        ));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn generated_inputs_are_refused_without_a_crash() {
    let dir = std::env::temp_dir().join(format!("ratebook-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "big-string.yaml",
            format!("account: {{ id: \"{}\" }}\n", "x".repeat(3 << 20)),
            "ratebook::case::too_large",
        ),
        (
            "deep-yaml.yaml",
            format!("a: {}{}\n", "[".repeat(100_000), "]".repeat(100_000)),
            "ratebook::case::syntax",
        ),
        (
            "deep-json.json",
            format!("{{\"a\": {}{}}}", "[".repeat(100_000), "]".repeat(100_000)),
            "ratebook::case::syntax",
        ),
        (
            "many-keys.yaml",
            (0..40_000).map(|i| format!("k{i}: {i}\n")).collect::<String>(),
            "ratebook::case::missing_field",
        ),
    ];
    let mut problems = Vec::new();
    for (name, text, code) in &cases {
        let path = dir.join(name);
        std::fs::write(&path, text).expect("writes");
        let (o, took) = run(&["decide", "bill", path.to_str().expect("utf-8"), "--format", "json"]);
        let names = if *name == "many-keys.yaml" {
            "more problem(s)"
        } else {
            ""
        };
        problems.extend(check(name, &o, took, code, 2, names));
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
