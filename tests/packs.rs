//! Pack loading: the Portland pack's own test suite, overlays, and broken packs.

use ratebook::pack::{FolderLoader, Pack};
use ratebook::testing;

#[test]
fn portland_pack_tests_pass() {
    let pack = Pack::portland().expect("loads");
    let report = testing::run(&pack, None).expect("runs");
    let failures: Vec<String> = report
        .results
        .iter()
        .filter(|r| !r.passed)
        .map(|r| format!("{}: {}\n  {}", r.file, r.name, r.differences.join("\n  ")))
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(
        report.results.len() >= 40,
        "the suite has {} cases",
        report.results.len()
    );
}

#[test]
fn folder_and_embedded_portland_are_the_same_pack() {
    let embedded = Pack::portland().expect("loads");
    let folder = Pack::load(&FolderLoader, "rules/portland").expect("loads");
    assert_eq!(embedded.ident, folder.ident);
}

#[test]
fn overlay_supplies_figures_and_has_its_own_identity() {
    let pack = Pack::load(&FolderLoader, "tests/packs/overlay").expect("loads");
    assert_eq!(pack.ident.id, "portland-fy2425-proposal");
    assert_eq!(pack.extends.first().map(|p| p.id.as_str()), Some("portland"));
    assert_ne!(pack.ident.digest, Pack::portland().expect("loads").ident.digest);
    let report = testing::run(&pack, None).expect("runs");
    assert_eq!((report.passed(), report.failed()), (1, 0), "{:?}", report.results);
}

#[test]
fn extends_cycle_is_an_error() {
    let err = Pack::load(&FolderLoader, "tests/packs/cycle_a").expect_err("cycle");
    assert_eq!(err.code, "ratebook::pack::extends_cycle");
    assert_eq!(err.exit_code(), 3);
}

#[test]
fn unquoted_fractional_figure_is_refused_with_its_location() {
    let err = Pack::load(&FolderLoader, "tests/packs/broken_yaml").expect_err("float");
    assert_eq!(err.code, "ratebook::pack::bad_value");
    let loc = err.locations.first().expect("location");
    assert_eq!((loc.file.as_str(), loc.line), ("params/bad.yaml", Some(5)));
    assert!(err.message.contains("quoted"), "{}", err.message);
}

#[test]
fn charge_with_unknown_parameter_suggests_the_name() {
    let pack = Pack::load(&FolderLoader, "tests/packs/bad_charge").expect("loads");
    let err = ratebook::Engine::new(pack).expect_err("unknown parameter");
    assert_eq!(err.code, "ratebook::pack::unknown_param");
    assert!(err.help.unwrap_or_default().contains("water.volume_rate"));
}

#[test]
fn script_syntax_error_has_line_and_column() {
    let pack = Pack::load(&FolderLoader, "tests/packs/bad_script").expect("loads");
    let err = ratebook::Engine::new(pack).expect_err("syntax");
    assert_eq!(err.code, "ratebook::rule::syntax");
    let loc = err.locations.first().expect("location");
    assert_eq!((loc.file.as_str(), loc.line), ("decisions/oops.rhai", Some(2)));
}

#[test]
fn pack_checks_dates_statuses_and_sources() {
    use ratebook::pack::MemoryLoader;
    let base = |params: &str| {
        let mut f = ratebook::pack::Files::new();
        f.insert("pack.yaml".into(), "id: t\ntitle: t\nversion: '1'\n".into());
        f.insert("params/p.yaml".into(), params.into());
        Pack::load(&MemoryLoader::new(f), ".")
    };
    let cases = [
        (
            "p:\n  description: d\n  unit: USD/ccf\n  values:\n    - { from: 2024-07-01, status: published, value: '1', source: s }\n    - { from: 2023-07-01, status: published, value: '2', source: s }\n",
            "ratebook::pack::dates_out_of_order",
        ),
        (
            "p:\n  description: d\n  unit: USD/ccf\n  values:\n    - { from: 2024-07-01, status: published, value: '1', source: s }\n    - { from: 2024-07-01, status: published, value: '2', source: s }\n",
            "ratebook::pack::dates_out_of_order",
        ),
        (
            "p:\n  description: d\n  unit: USD/ccf\n  values:\n    - { from: 2024-07-01, status: published, value: '1' }\n",
            "ratebook::pack::no_source",
        ),
        (
            "p:\n  description: d\n  unit: USD/ccf\n  values:\n    - { from: 2024-07-01, status: derived, value: '1', source: s }\n",
            "ratebook::pack::no_formula",
        ),
        (
            "p:\n  description: d\n  unit: USD/ccf\n  values:\n    - { from: 2024-07-01, status: guessed, value: '1', source: s }\n",
            "ratebook::pack::bad_status",
        ),
        (
            "p:\n  description: d\n  unit: USD/ccf\n  values:\n    - { from: 2024-13-01, status: published, value: '1', source: s }\n",
            "ratebook::pack::bad_date",
        ),
        (
            "p:\n  description: d\n  unit: USD/ccf\n  values:\n    - { from: 2024-07-01, status: published, value: 'one', source: s }\n",
            "ratebook::pack::bad_value",
        ),
        (
            "p:\n  description: d\n  unit: USD/ccf\n  colour: blue\n  values: []\n",
            "ratebook::pack::yaml",
        ),
        (
            "p:\n  description: d\n  unit: USD/ccf\n  unit: USD/day\n  values: []\n",
            "ratebook::pack::yaml",
        ),
    ];
    for (text, code) in cases {
        let err = base(text).expect_err(code);
        assert_eq!(err.code, code, "{text}");
        assert!(!err.locations.is_empty(), "{code} has a location");
    }
}

#[test]
fn tiered_rates_fill_tiers_and_scale_bounds_when_split() {
    let pack = Pack::load(&FolderLoader, "tests/packs/tiered").expect("loads");
    let report = testing::run(&pack, None).expect("runs");
    let failures: Vec<String> = report
        .results
        .iter()
        .filter(|r| !r.passed)
        .map(|r| format!("{}: {:?}", r.name, r.differences))
        .collect();
    assert!(failures.is_empty(), "{failures:#?}");
    assert_eq!(report.results.len(), 3);
}

#[test]
fn a_tier_list_read_is_in_the_trace() {
    let engine =
        ratebook::Engine::new(Pack::load(&FolderLoader, "tests/packs/tiered").expect("loads")).expect("compiles");
    let case = ratebook::Case::parse(
        "case.yaml",
        "{ period: { from: 2016-05-01, to: 2016-07-01 }, usage_ccf: 50 }",
    )
    .expect("parses");
    let det = engine
        .decide("bill", &case, &ratebook::Options::default())
        .expect("decides");
    let json = serde_json::to_value(&det).expect("json");
    let tiers = json["trace"]
        .as_array()
        .expect("trace")
        .iter()
        .find(|s| s["kind"] == "tiers")
        .expect("a tiers step");
    assert_eq!(tiers["name"], "volume_tiers");
    assert_eq!(tiers["source"], "test tiers A");
    assert_eq!(tiers["tiers"].as_array().map(Vec::len), Some(4));
}

/// Every requirement a Portland script records is exercised by the pack's
/// tests (and, for the Safety Net, whose terms the City has not published,
/// by the overlay that supplies them), and each one that can fail is seen
/// both met and not met.
#[test]
fn portland_tests_exercise_every_requirement_met_and_not_met() {
    let pack = Pack::portland().expect("loads");
    let mut results = testing::run(&pack, None).expect("runs").results;
    let overlay = Pack::load(&FolderLoader, "tests/packs/safety_net").expect("loads");
    let overlay_report = testing::run(&overlay, None).expect("runs");
    assert_eq!(overlay_report.failed(), 0, "{:?}", overlay_report.results);
    results.extend(overlay_report.results);
    let mut seen: std::collections::BTreeMap<String, (bool, bool)> = Default::default();
    for (rule, passed) in results.iter().flat_map(|r| r.exercised.iter()) {
        let e = seen.entry(rule.clone()).or_default();
        if *passed {
            e.0 = true;
        } else {
            e.1 = true;
        }
    }
    let mut problems = Vec::new();
    let mut rules = 0;
    for entry in std::fs::read_dir("rules/portland/decisions").expect("reads") {
        let path = entry.expect("entry").path();
        if path.extension().and_then(|e| e.to_str()) != Some("rhai") {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("reads");
        for call in text.split("require(\"").skip(1) {
            let (rule, rest) = call.split_once('"').expect("a quoted rule id");
            let passed_arg = rest.trim_start_matches(',').trim_start();
            let always_met = passed_arg.starts_with("true");
            let never_met = passed_arg.starts_with("false");
            rules += 1;
            match seen.get(rule) {
                None => problems.push(format!("{}: `{rule}` is never exercised", path.display())),
                Some((false, _)) if always_met => problems.push(format!("`{rule}` is never met")),
                Some((_, false)) if never_met => problems.push(format!("`{rule}` is never not met")),
                Some((met, unmet)) if !(always_met || never_met || *met && *unmet) => problems.push(format!(
                    "{}: `{rule}` is exercised only {}",
                    path.display(),
                    if *met { "met" } else { "not met" }
                )),
                _ => {}
            }
        }
    }
    assert!(rules > 50, "found {rules} requirement calls");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// `ratebook test --coverage` reports what the tests exercised in City Code
/// sections, dated values, requirements and lines, and what they never did.
#[test]
fn test_coverage_names_what_the_tests_never_exercised() {
    let pack = Pack::portland().expect("loads");
    let report = testing::run(&pack, None).expect("runs");
    let c = testing::coverage(&pack, &report);
    assert_eq!(c.citations.total, pack.citations.len());
    assert!(
        c.citations.never.contains(&"Utility Safety Net".to_string()),
        "only the overlay's tests reach it"
    );
    assert_eq!((c.lines.exercised, c.lines.total), (8, 8), "every bill line is tested");
    assert!(c.parameter_values.exercised > 70, "{}", c.parameter_values.exercised);
    assert!(c.requirements_met.never.contains(&"qualifying_emergency".to_string()));
    assert!(!c.requirements_not_met.never.contains(&"once_per_12_months".to_string()));
    // An unknown value a test expects to be reported counts as exercised.
    assert!(
        !c.parameter_values
            .never
            .contains(&"low_income.tier1_monthly_limit from 2025-07-01".to_string())
    );
}

/// `ratebook check` reports every problem of a broken pack at once, each
/// with its code and where it is, and passes the Portland pack.
#[test]
fn check_reports_every_problem_at_once() {
    let findings = ratebook::check::check(&FolderLoader, "tests/packs/many_problems");
    let errors: Vec<(&str, String)> = findings
        .iter()
        .filter(|f| f.severity == "error")
        .map(|f| {
            let at = &f.error["locations"][0];
            (
                f.source.code,
                format!("{}:{}", at["file"].as_str().unwrap_or(""), at["line"]),
            )
        })
        .collect();
    assert_eq!(
        errors,
        [
            ("ratebook::pack::yaml", "charges/c.yaml:2".to_string()),
            ("ratebook::pack::bad_value", "params/bad.yaml:5".to_string()),
            ("ratebook::pack::bad_status", "params/bad.yaml:10".to_string()),
            ("ratebook::pack::yaml", "params/broken.yaml:1".to_string()),
            ("ratebook::rule::syntax", "decisions/s.rhai:4".to_string()),
        ]
    );
    let typo = findings.first().expect("a finding");
    assert_eq!(typo.source.help.as_deref(), Some("did you mean `explain`?"));

    let portland = ratebook::check::check(
        &ratebook::pack::MemoryLoader::new(ratebook::pack::embedded_portland()),
        ".",
    );
    assert_eq!(portland.iter().filter(|f| f.severity == "error").count(), 0);
    assert!(portland.iter().any(|f| f.source.code == "ratebook::check::summary"));
    assert!(
        portland
            .iter()
            .any(|f| f.source.code == "ratebook::check::fiscal_year_gap")
    );
}

/// Once the files parse, the pack's meaning is checked: a script reading a
/// parameter the pack does not define is an error at its line.
#[test]
fn check_finds_a_script_reading_an_undefined_parameter() {
    let files: ratebook::pack::Files = [
        ("pack.yaml", "id: t\ntitle: t\nversion: '1'\ndecisions: [s]\n"),
        ("citations.yaml", "X: { title: x }\n"),
        ("params/p.yaml", "fine:\n  description: d\n  unit: USD/ccf\n  values:\n    - { from: 2024-01-01, status: published, value: \"1\", source: s }\n"),
        ("decisions/s.rhai", "let a = param(\"fine\");\nlet b = param_at(\"no_such_figure\", as_of);\noutcome(\"x\");\n"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let findings = ratebook::check::check(&ratebook::pack::MemoryLoader::new(files), ".");
    let e = findings.iter().find(|f| f.severity == "error").expect("an error");
    assert_eq!(e.source.code, "ratebook::check::unknown_param");
    assert_eq!(e.error["locations"][0]["line"], 2);
    assert!(
        !findings
            .iter()
            .any(|f| f.source.code == "ratebook::check::unused_param"),
        "`fine` is used"
    );
}
