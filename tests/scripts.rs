//! rhai decisions: the host API records everything in the trace, and the
//! sandbox limits stop runaway rules with an error naming the rule.

use ratebook::pack::{FolderLoader, Pack};
use ratebook::{Case, Engine, Options};
use std::time::{Duration, Instant};

fn engine() -> Engine {
    Engine::new(Pack::load(&FolderLoader, "tests/packs/scripted").expect("loads")).expect("compiles")
}

fn run(decision: &str, case: &str) -> Result<ratebook::Determination<'static>, ratebook::Error> {
    let c = Case::parse("case.yaml", case).expect("parses");
    let as_of = chrono::NaiveDate::from_ymd_opt(2024, 8, 1);
    // A determination kept after its engine is dropped: `into_owned`.
    engine()
        .decide(decision, &c, &Options { as_of, trace: true })
        .map(ratebook::Determination::into_owned)
}

#[test]
fn host_api_snapshot() {
    let det = run("host_api", "usage: 12\nfrom: 2024-06-01\nto: 2024-07-31\n").expect("decides");
    insta::assert_json_snapshot!(det, { ".pack.digest" => "[digest]" });
}

#[test]
fn host_api_records_requirements_lines_and_warnings() {
    let det = run("host_api", "usage: 12\nfrom: 2024-06-01\nto: 2024-07-31\n").expect("decides");
    assert_eq!(
        det.lines.iter().filter(|l| &**l.id() == "volume").count(),
        2,
        "split at July 1"
    );
    assert_eq!(
        det.reasons.iter().map(|r| r.passed).collect::<Vec<_>>(),
        vec![true, false],
        "every requirement, not just the first failure"
    );
    assert!(det.warnings.iter().any(|w| w.code == "ratebook::params::assumed_value"));
    assert!(det.warnings.iter().any(|w| w.code == "ratebook::rule::warning"));
    assert_eq!(
        det.outputs["due"], "2024-07-09",
        "July 4 is a holiday on the pack's calendar"
    );
    assert_eq!(det.outputs["half"], "2.35", "half-up, not banker's");
    assert_eq!(det.outputs["money"], "0.13");
}

fn assert_stops(decision: &str, code: &str, limit: &str) {
    let start = Instant::now();
    let err = run(decision, "usage: 1\n").expect_err("stopped");
    assert!(
        start.elapsed() < Duration::from_secs(1),
        "{decision} took {:?}",
        start.elapsed()
    );
    assert_eq!(err.code, code);
    assert_eq!(err.exit_code(), 3);
    assert!(
        err.message.contains(&format!("decisions/{decision}.rhai")),
        "{}",
        err.message
    );
    assert!(
        err.message.contains(limit),
        "the error names the limit: {}",
        err.message
    );
}

#[test]
fn endless_loop_stops_within_a_second() {
    assert_stops(
        "forever",
        "ratebook::rule::limit_operations",
        "more than 100000 operations, its limit `limits.max_operations`",
    );
}

#[test]
fn endless_recursion_stops() {
    assert_stops(
        "recurse",
        "ratebook::rule::limit_call_depth",
        "`limits.max_call_levels`",
    );
}

#[test]
fn endless_allocation_stops() {
    assert_stops("grow", "ratebook::rule::limit_size", "`max_array_size`");
}

#[test]
fn every_unknown_figure_a_script_reads_is_listed() {
    let err = run("needs_unknown", "usage: 1\n").expect_err("unknown");
    assert_eq!(err.code, "ratebook::params::unknown_value");
    let names: Vec<(String, Option<String>)> = err.missing.iter().map(|m| (m.param.clone(), m.key.clone())).collect();
    assert_eq!(
        names,
        vec![
            ("later".to_string(), None),
            ("fee".to_string(), Some("large".to_string()))
        ]
    );
    assert_eq!(err.missing[0].source, "Ordinance 123, Exhibit A");
}

#[test]
fn a_script_must_set_an_outcome() {
    let err = run("no_outcome", "usage: 1\n").expect_err("no outcome");
    assert_eq!(err.code, "ratebook::rule::no_outcome");
}

#[test]
fn a_script_reading_an_absent_field_says_which() {
    let err = run("reads_missing_field", "usage: 1\n").expect_err("absent");
    assert_eq!(err.code, "ratebook::rule::missing_value");
    assert!(err.message.contains("usage_ccf"), "{}", err.message);
}

#[test]
fn scripts_run_on_many_threads_with_one_engine() {
    let e = engine();
    let c = Case::parse("case.yaml", "usage: 12\nfrom: 2024-06-01\nto: 2024-07-31\n").expect("parses");
    let opts = Options {
        as_of: chrono::NaiveDate::from_ymd_opt(2024, 8, 1),
        trace: true,
    };
    let first = serde_json::to_string(&e.decide("host_api", &c, &opts).expect("decides")).expect("json");
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|_| {
                s.spawn(|| serde_json::to_string(&e.decide("host_api", &c, &opts).expect("decides")).expect("json"))
            })
            .collect();
        for h in handles {
            assert_eq!(h.join().expect("thread"), first);
        }
    });
}

fn run_default(decision: &str, case: &str) -> Result<ratebook::Determination<'static>, ratebook::Error> {
    let c = Case::parse("case.yaml", case).expect("parses");
    engine()
        .decide(decision, &c, &Options::default())
        .map(ratebook::Determination::into_owned)
}

#[test]
fn a_script_with_inputs_sees_typed_facts_with_defaults_and_its_as_of_date() {
    let det = run_default(
        "typed",
        "flag: true\nday: 2024-01-31\nitems: [ { when: 2024-01-01, n: 2.5 }, { when: 2024-01-02, n: \"0.25\", kind: b } ]\n",
    )
    .expect("decides");
    let out = serde_json::to_value(&det.outputs).expect("json");
    assert_eq!(
        out,
        serde_json::json!({
            "flag": true, "has_note": false, "count": 2, "sum": "2.75", "kinds": ["a", "b"],
            "as_of": "2024-01-31", "next_month": "2024-02-29", "usage": "15"
        })
    );
    assert_eq!(
        det.as_of.to_string(),
        "2024-01-31",
        "the `as_of:` input is the default date"
    );
}

#[test]
fn a_script_case_is_checked_and_every_problem_named_inside_lists() {
    let err = run_default(
        "typed",
        "flag: yes please\nday: 2024-01-31\nitems: [ { when: 2024-02-30, n: -1 }, 7, { n: 1, kind: c } ]\n",
    )
    .expect_err("refused");
    assert_eq!(err.exit_code(), 2);
    let fields: Vec<String> = err.locations.iter().filter_map(|l| l.field.clone()).collect();
    for f in [
        "flag",
        "items[0].when",
        "items[0].n",
        "items[1]",
        "items[2].when",
        "items[2].kind",
    ] {
        assert!(fields.iter().any(|x| x == f), "{f} not in {fields:?}: {}", err.message);
    }
    let err = run_default("typed", "flag: true\nday: 2024-01-31\nitems: [{n: 1, when: 2024-01-01}, {n: 1, when: 2024-01-01}, {n: 1, when: 2024-01-01}, {n: 1, when: 2024-01-01}]\n")
        .expect_err("too many");
    assert_eq!(err.code, "ratebook::case::out_of_range");
}

#[test]
fn a_rule_may_evaluate_only_declarative_decisions() {
    let err = run("calls_script", "usage: 1\n").expect_err("refused");
    assert_eq!(err.exit_code(), 3);
    assert!(
        err.message.contains("`host_api` is not a declarative decision"),
        "{}",
        err.message
    );
}

#[test]
fn a_script_decision_definition_may_not_declare_charges() {
    let files = [
        ("pack.yaml", "id: t\ntitle: t\nversion: '1'\ndecisions: [d]\n"),
        ("citations.yaml", "X: { title: x }\n"),
        ("decisions/d.rhai", "outcome(\"x\");\n"),
        ("decisions/d.yaml", "title: d\ninputs: {}\ncharges: [water]\n"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let pack = Pack::load(&ratebook::pack::MemoryLoader::new(files), ".").expect("loads");
    let err = Engine::new(pack).expect_err("refused");
    assert_eq!(err.code, "ratebook::pack::bad_decision");
    assert!(
        err.message
            .contains("`period`, `charges` and `echo` are for declarative decisions"),
        "{}",
        err.message
    );
}
