//! Supervisor review and replay: the common staff errors are caught with
//! the right cause, a day's batch is reported by cause with every row
//! accounted for, and determinations are made again to the byte.

use ratebook::pack::{FolderLoader, Pack};
use ratebook::review::{Claim, parse_batch, review};
use ratebook::{Case, Engine, Options};
use rust_decimal::Decimal;
use std::process::Command;

const SUMMER_SET: [&str; 2] = [
    "water.base_per_day[quarterly]@2024-07-01=0.7500",
    "harbor.volume_rate@2024-07-01=0.10",
];

fn engine() -> Engine {
    let overrides: Vec<_> = SUMMER_SET
        .iter()
        .map(|s| ratebook::engine::parse_override(s).expect("parses"))
        .collect();
    Engine::with_overrides(Pack::portland().expect("loads"), &overrides).expect("compiles")
}

fn file_case(name: &str) -> Case {
    let path = format!("examples/review/{name}-case.yaml");
    Case::parse(&path, &std::fs::read_to_string(&path).expect("exists")).expect("parses")
}

fn claim(text: &str) -> Claim {
    Claim::parse("claim.yaml", text).expect("parses")
}

/// The review of a case against a claim, with the causes found.
fn causes(case: &Case, decision: &str, claim_text: &str) -> (ratebook::review::Review, Vec<&'static str>) {
    let engine = engine();
    let det = engine.decide(decision, case, &Options::default()).expect("decides");
    let r = review(&det, &claim(claim_text), Decimal::ZERO);
    let codes = r
        .differences
        .iter()
        .filter_map(|d| d.cause.as_ref().map(|c| c.code))
        .collect();
    (r, codes)
}

#[test]
fn a_bill_across_july_1_at_the_old_rate_only_is_caught() {
    // Whole bill: staff's total is every line at the FY23-24 rates.
    let (r, codes) = causes(&file_case("old-rate"), "bill", "total: \"362.44\"");
    assert!(!r.agrees());
    assert_eq!(codes, ["old_rate_no_proration"]);
    let d = &r.differences[0];
    assert_eq!(d.difference, Some(Decimal::new(-342, 2)));
    assert!(
        d.step
            .as_deref()
            .unwrap_or_default()
            .contains("water.volume split at the rate change"),
        "{d:?}"
    );
    // Line by line: each split line is named with the rate staff used.
    let (r, codes) = causes(
        &file_case("old-rate"),
        "bill",
        "lines: [ { id: water.volume, amount: \"105.09\" }, { id: sewer.volume, amount: \"194.40\" } ]",
    );
    assert_eq!(codes, ["old_rate_no_proration", "old_rate_no_proration"]);
    assert!(
        r.differences[0]
            .cause
            .as_ref()
            .map(|c| c.explanation.contains("at $7.006, the rate before 2024-07-01"))
            == Some(true)
    );
}

#[test]
fn a_bill_at_last_years_rate_is_caught() {
    // FY23-24 bill at the FY22-23 water rate: 15 x 6.493 = 97.395 -> 97.40.
    let (r, codes) = causes(
        &file_case("winter-average"),
        "bill",
        "lines: [ { id: water.volume, amount: \"97.40\" } ]",
    );
    assert_eq!(codes, ["old_rate"]);
    let c = r.differences[0].cause.as_ref().expect("a cause");
    assert!(
        c.explanation.contains("$6.493") && c.explanation.contains("2022-07-01"),
        "{c:?}"
    );
}

#[test]
fn the_winter_average_not_applied_is_caught() {
    let (r, codes) = causes(
        &file_case("winter-average"),
        "bill",
        "lines: [ { id: sewer.volume, amount: \"194.40\" } ]",
    );
    assert_eq!(codes, ["winter_average_not_applied"]);
    assert!(
        r.differences[0]
            .step
            .as_deref()
            .unwrap_or_default()
            .contains("lesser of usage_ccf 15 and winter_average_ccf 12")
    );
}

#[test]
fn a_wrong_winter_average_is_caught() {
    // Staff used a winter average of 10 ccf: 10 x 12.96 = 129.60.
    let (r, codes) = causes(
        &file_case("winter-average"),
        "bill",
        "lines: [ { id: sewer.volume, amount: \"129.60\" } ]",
    );
    assert_eq!(codes, ["wrong_winter_average"]);
    let c = r.differences[0].cause.as_ref().expect("a cause");
    assert!(
        c.explanation
            .contains("on 10 ccf, not the case's winter average of 12 ccf"),
        "{c:?}"
    );
}

#[test]
fn a_leak_adjustment_granted_twice_in_12_months_is_caught() {
    let (r, codes) = causes(
        &file_case("leak-twice"),
        "leak_adjustment",
        "outcome: eligible\namount: \"114.68\"",
    );
    assert_eq!(codes, ["requirement_overlooked", "requirement_overlooked"]);
    assert!(
        r.differences[0]
            .cause
            .as_ref()
            .map(|c| c.explanation.contains("already granted on 2024-03-04"))
            == Some(true)
    );
    assert_eq!(r.at_stake(), Decimal::new(11468, 2));
}

#[test]
fn a_shutoff_with_notice_only_to_the_tenant_is_caught() {
    let (r, codes) = causes(
        &file_case("shutoff-tenant"),
        "collection_action",
        "outputs: { next_action: { action: shutoff_authorization } }",
    );
    assert_eq!(codes, ["requirement_overlooked"]);
    assert_eq!(r.differences[0].figure, "output next_action");
    assert!(
        r.differences[0]
            .step
            .as_deref()
            .unwrap_or_default()
            .contains("written_notice_both_addresses not met")
    );
}

#[test]
fn agreement_is_exact_to_the_cent_unless_a_tolerance_is_given() {
    let engine = engine();
    let det = engine
        .decide("bill", &file_case("winter-average"), &Options::default())
        .expect("decides");
    assert!(review(&det, &claim("total: \"423.15\""), Decimal::ZERO).agrees());
    assert!(!review(&det, &claim("total: \"423.16\""), Decimal::ZERO).agrees());
    assert!(review(&det, &claim("total: \"423.16\""), Decimal::new(1, 2)).agrees());
    // A line that does not apply, charged by staff.
    let r = review(
        &det,
        &claim("lines: [ { id: discount.low_income, amount: \"-210.35\" } ]"),
        Decimal::ZERO,
    );
    assert_eq!(
        r.differences[0].cause.as_ref().map(|c| c.code),
        Some("line_not_applicable")
    );
    // Staff denying what qualifies.
    let leak = Case::parse(
        "leak.yaml",
        &std::fs::read_to_string("examples/cases/leak-adjustment.yaml").expect("exists"),
    )
    .expect("parses");
    let det = engine
        .decide("leak_adjustment", &leak, &Options::default())
        .expect("decides");
    let r = review(&det, &claim("outcome: ineligible"), Decimal::ZERO);
    assert_eq!(
        r.differences[0].cause.as_ref().map(|c| c.code),
        Some("requirement_misapplied")
    );
}

#[test]
fn a_claim_with_a_mistyped_field_is_refused_with_a_suggestion() {
    let err = Claim::parse("claim.yaml", "totl: \"10.00\"").expect_err("refused");
    assert_eq!(err.code, "ratebook::review::bad_claim");
    assert!(err.message.contains("did you mean `total`"), "{}", err.message);
    let err = Claim::parse("claim.yaml", "decision: bill").expect_err("no result");
    assert_eq!(err.code, "ratebook::review::empty_claim");
    // An amount no bill comes near is refused, so sums stay exact.
    let err = Claim::parse("claim.yaml", "total: \"79228162514264337593543950335\"").expect_err("refused");
    assert_eq!(err.code, "ratebook::review::bad_claim");
    assert!(err.message.contains("beyond any bill"), "{}", err.message);
    assert!(Claim::parse("claim.yaml", "total: \"-999999999999999.99\"").is_ok());
}

#[test]
fn batch_rows_are_read_from_json_lines_and_csv_each_bad_row_kept_with_its_number() {
    let text = std::fs::read_to_string("examples/review/day.jsonl").expect("exists");
    let rows = parse_batch("day.jsonl", &text);
    assert_eq!(rows.len(), 7);
    assert_eq!(
        rows.iter()
            .filter(|r| r.is_err())
            .map(|r| r.as_ref().err().map(|e| e.0))
            .collect::<Vec<_>>(),
        [Some(4)]
    );
    let csv = std::fs::read_to_string("examples/review/day.csv").expect("exists");
    let rows = parse_batch("day.csv", &csv);
    let first = rows[0].as_ref().expect("row 2");
    assert_eq!(first.row, 2);
    assert_eq!(first.case["account"]["class"], "residential");
    assert_eq!(first.claimed["total"], "423.15");
    assert_eq!(
        rows[1].as_ref().expect("row 3").claimed["lines"][0]["id"],
        "sewer.volume"
    );
}

fn ratebook(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_ratebook"))
        .args(args)
        .output()
        .expect("runs")
}

#[test]
fn the_cli_reviews_a_case_and_a_days_batch() {
    let o = ratebook(&[
        "review",
        "examples/review/leak-twice-case.yaml",
        "--claimed",
        "examples/review/leak-twice-claim.yaml",
    ]);
    assert_eq!(o.status.code(), Some(1), "disagreement exits 1");
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("DISAGREE") && text.contains("requirement_overlooked"),
        "{text}"
    );
    let o = ratebook(&[
        "review",
        "examples/review/winter-average-case.yaml",
        "--claimed",
        "-",
        "--decision",
        "bill",
    ]);
    assert_eq!(
        o.status.code(),
        Some(2),
        "stdin holds no claim here: {}",
        String::from_utf8_lossy(&o.stderr)
    );

    let mut args = vec!["review", "--batch", "examples/review/day.jsonl", "--format", "json"];
    for s in &SUMMER_SET {
        args.extend(["--set", s]);
    }
    let o = ratebook(&args);
    assert_eq!(o.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(report["rows"], 7, "every row is accounted for");
    assert_eq!(
        (
            report["agree"].as_u64(),
            report["disagree"].as_u64(),
            report["errors"].as_u64()
        ),
        (Some(1), Some(4), Some(2))
    );
    let rows: Vec<u64> = report["results"]
        .as_array()
        .expect("rows")
        .iter()
        .filter_map(|r| r["row"].as_u64())
        .collect();
    assert_eq!(rows, [1, 2, 3, 4, 5, 6, 7]);
    let causes: Vec<&str> = report["by_cause"]
        .as_array()
        .expect("causes")
        .iter()
        .filter_map(|c| c["cause"].as_str())
        .collect();
    assert_eq!(
        causes,
        [
            "requirement_overlooked",
            "old_rate_no_proration",
            "winter_average_not_applied"
        ]
    );
    assert_eq!(report["at_stake"], "156.98");
}

#[test]
fn a_determination_replays_to_the_byte_and_a_changed_figure_is_named() {
    let dir = std::env::temp_dir().join(format!("ratebook-replay-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let mut args = vec![
        "decide",
        "bill",
        "examples/review/old-rate-case.yaml",
        "--format",
        "json",
    ];
    for s in &SUMMER_SET {
        args.extend(["--set", s]);
    }
    let o = ratebook(&args);
    assert_eq!(o.status.code(), Some(0));
    let det = dir.join("det.json");
    std::fs::write(&det, &o.stdout).expect("writes");
    let path = det.to_str().expect("utf-8");
    let o = ratebook(&["replay", path]);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stdout));
    assert!(
        String::from_utf8_lossy(&o.stdout).starts_with("identical"),
        "the supplied figures are replayed too"
    );

    let fy2324 = ratebook(&["decide", "bill", "examples/cases/bill-fy2324.yaml", "--format", "json"]);
    let det2 = dir.join("det2.json");
    std::fs::write(&det2, &fy2324.stdout).expect("writes");
    let o = ratebook(&[
        "replay",
        det2.to_str().expect("utf-8"),
        "--pack",
        "tests/packs/corrected",
        "--format",
        "json",
    ]);
    assert_eq!(o.status.code(), Some(1));
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(r["verdict"], "differs");
    let why: Vec<&str> = r["explanations"]
        .as_array()
        .expect("reasons")
        .iter()
        .filter_map(|e| e.as_str())
        .collect();
    assert!(
        why.iter()
            .any(|e| e.starts_with("the pack has changed: version 2026.11.0")),
        "{why:?}"
    );
    assert!(
        why.iter()
            .any(|e| e.starts_with("water.volume_rate in force on 2023-09-01 was 7.006, now 7.106")),
        "{why:?}"
    );

    // A determination without its case cannot be replayed, and says so.
    let mut v: serde_json::Value = serde_json::from_slice(&fy2324.stdout).expect("json");
    v.as_object_mut().expect("a map").remove("case");
    let det3 = dir.join("det3.json");
    std::fs::write(&det3, v.to_string()).expect("writes");
    let o = ratebook(&["replay", det3.to_str().expect("utf-8")]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("does not carry its case"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_corrected_overlay_loads() {
    let pack = Pack::load(&FolderLoader, "tests/packs/corrected").expect("loads");
    assert_eq!(pack.ident.id, "portland-corrected");
}

#[test]
fn a_determination_made_before_a_retroactive_change_is_made_again_as_known_then() {
    let pack = || Pack::load(&FolderLoader, "tests/packs/retroactive").expect("loads");
    let case = Case::parse(
        "bill.yaml",
        &std::fs::read_to_string("examples/cases/bill-fy2324.yaml").expect("exists"),
    )
    .expect("parses");
    let now = Engine::new(pack()).expect("compiles");
    let then = Engine::known_at(
        pack(),
        &[],
        chrono::NaiveDate::from_ymd_opt(2024, 1, 15).expect("a date"),
    )
    .expect("compiles");
    let after = Engine::known_at(
        pack(),
        &[],
        chrono::NaiveDate::from_ymd_opt(2024, 3, 1).expect("a date"),
    )
    .expect("compiles");
    let total = |e: &Engine| {
        e.decide("bill", &case, &Options::default())
            .expect("decides")
            .total
            .map(|t| t.to_string())
    };
    assert_eq!(total(&now).as_deref(), Some("424.65"), "the correction applies");
    assert_eq!(
        total(&then).as_deref(),
        Some("423.15"),
        "as known before it was adopted"
    );
    assert_eq!(
        total(&after).as_deref(),
        Some("424.65"),
        "as known on the day it was adopted"
    );
    let det = then.decide("bill", &case, &Options::default()).expect("decides");
    assert_eq!(det.known_at.map(|d| d.to_string()).as_deref(), Some("2024-01-15"));
}
