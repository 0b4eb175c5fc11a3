//! Engine behaviour on the Portland pack: full determinations as insta
//! snapshots of the public JSON, determinism, and bad cases.

use ratebook::engine::parse_override;
use ratebook::{Case, Engine, Options, Pack};

fn portland() -> Engine {
    Engine::new(Pack::portland().expect("the embedded pack loads")).expect("the embedded pack compiles")
}

fn case(text: &str) -> Case {
    Case::parse("case.yaml", text).expect("the test case parses")
}

const FULL_FY2324: &str = "
account: { id: A-2001, class: residential, billing_frequency: quarterly, clean_river_rewards_pct: 100 }
period: { from: 2023-09-01, to: 2023-11-30 }
usage_ccf: 15
winter_average_ccf: 12
";

const SUMMER_2024: &str = "
account: { id: A-1001, class: residential, billing_frequency: quarterly, services: [water, sewer] }
period: { from: 2024-05-12, to: 2024-08-07 }
usage_ccf: 15
";

#[test]
fn full_bill_fy2324_snapshot() {
    let engine = portland();
    let det = engine
        .decide("bill", &case(FULL_FY2324), &Options::default())
        .expect("decides");
    insta::assert_json_snapshot!(det, { ".pack.digest" => "[digest]" });
}

#[test]
fn prorated_bill_with_supplied_figures_snapshot() {
    let overrides = [
        "water.base_per_day[quarterly]@2024-07-01=0.7500",
        "harbor.volume_rate@2024-07-01=0.10",
    ]
    .iter()
    .map(|s| parse_override(s).expect("parses"))
    .collect::<Vec<_>>();
    let engine = Engine::with_overrides(Pack::portland().expect("loads"), &overrides).expect("compiles");
    let det = engine
        .decide("bill", &case(SUMMER_2024), &Options::default())
        .expect("decides");
    insta::assert_json_snapshot!(det, { ".pack.digest" => "[digest]" });
}

#[test]
fn missing_figures_error_snapshot() {
    let err = portland()
        .decide("bill", &case(SUMMER_2024), &Options::default())
        .expect_err("needs FY24-25 figures");
    assert_eq!(err.exit_code(), 3);
    insta::assert_json_snapshot!(err.to_json());
}

#[test]
fn total_is_the_sum_of_rounded_lines() {
    let engine = portland();
    let det = engine
        .decide("bill", &case(FULL_FY2324), &Options::default())
        .expect("decides");
    let sum: rust_decimal::Decimal = det.lines.iter().map(|l| l.amount).sum();
    assert_eq!(det.total, Some(sum));
    for l in &det.lines {
        assert_eq!(l.amount.scale(), 2, "line {} is rounded to the cent", l.id());
    }
}

#[test]
fn same_case_gives_same_bytes() {
    let e = portland();
    let a = serde_json::to_string(
        &e.decide("bill", &case(FULL_FY2324), &Options::default())
            .expect("decides"),
    )
    .expect("json");
    let b = serde_json::to_string(
        &e.decide("bill", &case(FULL_FY2324), &Options::default())
            .expect("decides"),
    )
    .expect("json");
    assert_eq!(a, b);
}

#[test]
fn trace_off_gives_the_same_result_without_trace() {
    let e = portland();
    let full = e
        .decide("bill", &case(FULL_FY2324), &Options::default())
        .expect("decides");
    let lean = e
        .decide(
            "bill",
            &case(FULL_FY2324),
            &Options {
                as_of: None,
                trace: false,
            },
        )
        .expect("decides");
    assert!(lean.trace.is_empty());
    assert!(!full.trace.is_empty());
    assert_eq!(full.lines, lean.lines);
    assert_eq!(full.total, lean.total);
    assert_eq!(full.warnings, lean.warnings);
}

#[test]
fn every_parameter_read_is_in_the_trace() {
    let engine = portland();
    let det = engine
        .decide("bill", &case(FULL_FY2324), &Options::default())
        .expect("decides");
    let json = serde_json::to_value(&det).expect("json");
    let params: Vec<&str> = json["trace"]
        .as_array()
        .expect("trace")
        .iter()
        .filter(|s| s["kind"] == "param")
        .filter_map(|s| s["name"].as_str())
        .collect();
    for p in [
        "water.volume_rate",
        "water.base_per_day",
        "sewer.volume_rate",
        "stormwater.rate",
        "calendar.days_per_month",
        "discount.crr_max_share",
    ] {
        assert!(params.contains(&p), "{p} read but not traced: {params:?}");
    }
}

#[test]
fn determination_names_pack_and_digest() {
    let engine = portland();
    let det = engine
        .decide("bill", &case(FULL_FY2324), &Options::default())
        .expect("decides");
    assert_eq!(det.pack.id, "portland");
    assert!(det.pack.digest.starts_with("sha256:") && det.pack.digest.len() == 7 + 64);
}

fn input_error(text: &str) -> ratebook::Error {
    let e = portland();
    match Case::parse("case.yaml", text) {
        Err(err) => err,
        Ok(c) => e
            .decide("bill", &c, &Options::default())
            .expect_err("bad input is refused"),
    }
}

#[test]
fn bad_cases_have_codes_and_fields() {
    let cases = [
        (
            "account: { class: residential, billing_frequency: quarterly }\nperiod: { from: 2024-05-12, to: 2024-05-01 }\nusage_ccf: 15\n",
            "ratebook::case::bad_period",
            "period",
        ),
        (
            "account: { class: residential, billing_frequency: quarterly }\nperiod: { from: 2023-09-01, to: 2023-11-30 }\nusage_ccf: -3\n",
            "ratebook::case::out_of_range",
            "usage_ccf",
        ),
        (
            "account: { class: residential }\nperiod: { from: 2023-09-01, to: 2023-11-30 }\nusage_ccf: 15\n",
            "ratebook::case::missing_field",
            "account.billing_frequency",
        ),
        (
            "account: { class: palace, billing_frequency: quarterly }\nperiod: { from: 2023-09-01, to: 2023-11-30 }\nusage_ccf: 15\n",
            "ratebook::case::bad_value",
            "account.class",
        ),
        (
            "account: { class: residential, billing_frequency: quarterly }\nperiod: { from: 2023-02-30, to: 2023-11-30 }\nusage_ccf: 15\n",
            "ratebook::case::bad_date",
            "period",
        ),
        (
            "account: { class: residential, billing_frequency: quarterly }\nperiod: { from: 2023-09-01, to: 2023-11-30 }\nusage_ccf: fifteen\n",
            "ratebook::case::wrong_type",
            "usage_ccf",
        ),
        (
            "account: { class: residential, billing_frequency: quarterly }\nperiod: { from: 2023-09-01, to: 2023-11-30 }\nusage_cf: 15\n",
            "ratebook::case::missing_field",
            "usage_ccf",
        ),
    ];
    for (text, code, field) in cases {
        let err = input_error(text);
        assert_eq!(err.code, code, "{text}");
        assert_eq!(err.exit_code(), 2);
        assert!(
            err.locations.iter().any(|l| l.field.as_deref() == Some(field)),
            "{code}: {:?}",
            err.locations
        );
    }
}

#[test]
fn unknown_field_suggests_the_right_name() {
    let err = input_error(
        "account: { class: residential, billing_frequency: quarterly }\nperiod: { from: 2023-09-01, to: 2023-11-30 }\nusage_ccf: 15\nwinter_avg_ccf: 3\n",
    );
    assert_eq!(err.code, "ratebook::case::unknown_field");
    assert!(
        err.help.as_deref().unwrap_or_default().contains("winter_average_ccf"),
        "{:?}",
        err.help
    );
}

#[test]
fn malformed_yaml_reports_line_and_column() {
    let err = Case::parse(
        "case.yaml",
        "account:\n  class: residential\n   billing_frequency: quarterly\n",
    )
    .expect_err("malformed");
    assert_eq!(err.code, "ratebook::case::syntax");
    let loc = err.locations.first().expect("a location");
    assert_eq!(
        (loc.file.as_str(), loc.line.is_some(), loc.col.is_some()),
        ("case.yaml", true, true)
    );
}

#[test]
fn malformed_json_reports_line_and_column() {
    let err = Case::parse("case.json", "{\n  \"usage_ccf\": 15,\n  \"period\": }\n").expect_err("malformed");
    assert_eq!(err.code, "ratebook::case::syntax");
    let loc = err.locations.first().expect("a location");
    assert_eq!((loc.line, loc.col), (Some(3), Some(13)));
}

#[test]
fn unknown_decision_suggests() {
    let err = portland()
        .decide("bil", &case(FULL_FY2324), &Options::default())
        .expect_err("unknown");
    assert_eq!(err.code, "ratebook::decision::unknown");
    assert!(err.help.as_deref().unwrap_or_default().contains("`bill`"));
}

#[test]
fn as_of_defaults_to_the_period_end_and_can_be_given() {
    let e = portland();
    let det = e
        .decide("bill", &case(FULL_FY2324), &Options::default())
        .expect("decides");
    assert_eq!(det.as_of.to_string(), "2023-11-30");
    let given = chrono::NaiveDate::from_ymd_opt(2024, 1, 15);
    let det = e
        .decide(
            "bill",
            &case(FULL_FY2324),
            &Options {
                as_of: given,
                trace: true,
            },
        )
        .expect("decides");
    assert_eq!(Some(det.as_of), given);
}

#[test]
fn a_case_gives_its_own_as_of_and_a_bad_one_is_named() {
    let e = portland();
    let with_as_of = |date: &str, as_of| {
        e.decide(
            "bill",
            &case(&format!("{FULL_FY2324}as_of: {date}\n")),
            &Options { as_of, trace: false },
        )
    };
    let det = with_as_of("2024-01-15", None).expect("decides");
    assert_eq!(
        det.as_of.to_string(),
        "2024-01-15",
        "the case's date, not the period end"
    );
    // The options' date comes first.
    let given = chrono::NaiveDate::from_ymd_opt(2024, 2, 1);
    let det = with_as_of("2024-01-15", given).expect("decides");
    assert_eq!(Some(det.as_of), given);
    let err = with_as_of("2024-02-30", None).expect_err("February 30 is refused");
    assert_eq!(err.code, "ratebook::case::bad_date");
    assert_eq!(
        err.message,
        "case.yaml: `as_of: \"2024-02-30\"` is not a real date (YYYY-MM-DD)"
    );
}

#[test]
fn set_rejects_unknown_parameters_and_keys() {
    let p = || Pack::portland().expect("loads");
    let e = Engine::with_overrides(p(), &[parse_override("water.volume_rte=1").expect("parses")])
        .expect_err("unknown param");
    assert_eq!(e.code, "ratebook::cli::unknown_param");
    assert!(e.help.unwrap_or_default().contains("water.volume_rate"));
    let e = Engine::with_overrides(p(), &[parse_override("water.base_per_day[weekly]=1").expect("parses")])
        .expect_err("unknown key");
    assert_eq!(e.code, "ratebook::cli::unknown_key");
    assert_eq!(
        parse_override("nonsense").expect_err("bad").code,
        "ratebook::cli::bad_set"
    );
}

/// A determination kept after its engine is dropped (`into_owned`) is the
/// same determination: the same JSON, trace and all, for a bill that reads
/// every kind of figure, a split period and a tier list.
#[test]
fn an_owned_determination_outlives_its_engine_unchanged() {
    let owned = |pack: Pack, text: &str| {
        let engine = Engine::new(pack).expect("compiles");
        let det = engine
            .decide("bill", &case(text), &Options::default())
            .expect("decides");
        let borrowed = serde_json::to_string(&det).expect("json");
        let owned = det.into_owned();
        drop(engine);
        (borrowed, owned)
    };
    let tiered = || ratebook::pack::Pack::load(&ratebook::pack::FolderLoader, "tests/packs/tiered").expect("loads");
    for (pack, text, kinds) in [
        (
            Pack::portland().expect("loads"),
            FULL_FY2324,
            &["param", "condition", "basis", "line"][..],
        ),
        (
            tiered(),
            "{ period: { from: 2017-01-30, to: 2017-03-31 }, usage_ccf: 20 }",
            &["tiers", "split", "line"][..],
        ),
    ] {
        let (borrowed, det) = owned(pack, text);
        assert_eq!(serde_json::to_string(&det).expect("json"), borrowed);
        for kind in kinds {
            assert!(
                borrowed.contains(&format!("\"kind\":\"{kind}\"")),
                "the trace has {kind} steps"
            );
        }
    }
}
