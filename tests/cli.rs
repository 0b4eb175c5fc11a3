//! The `ratebook` binary: output, exit codes and errors, as a user sees them.

use std::io::Write;
use std::process::{Command, Output, Stdio};

fn ratebook(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ratebook"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("runs");
    if let Some(text) = stdin {
        // A command that fails before reading its input closes the pipe:
        // that is its answer, not a test failure.
        if let Err(e) = child.stdin.take().expect("stdin").write_all(text.as_bytes()) {
            assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe, "writing the case: {e}");
        }
    } else {
        drop(child.stdin.take());
    }
    child.wait_with_output().expect("finishes")
}

fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr_json(o: &Output) -> serde_json::Value {
    serde_json::from_slice(&o.stderr)
        .unwrap_or_else(|e| panic!("stderr is JSON ({e}): {}", String::from_utf8_lossy(&o.stderr)))
}

const GOOD: &str = "account: { class: residential, billing_frequency: quarterly }\nperiod: { from: 2023-09-01, to: 2023-11-30 }\nusage_ccf: 15\nwinter_average_ccf: 12\n";

#[test]
fn decide_text_shows_lines_reasons_and_sources() {
    let o = ratebook(&["decide", "bill", "examples/cases/bill-fy2324.yaml"], None);
    assert_eq!(code(&o), 0);
    let out = stdout(&o);
    for needle in [
        "Water volume",
        "105.09",
        "63.57",
        "total 423.15",
        "reasons",
        "PCC 17.36.050",
        "sources",
        "water.volume_rate = 7.006",
    ] {
        assert!(out.contains(needle), "missing {needle:?} in\n{out}");
    }
}

#[test]
fn decide_json_from_stdin() {
    let o = ratebook(&["decide", "bill", "-", "--format", "json"], Some(GOOD));
    assert_eq!(code(&o), 0);
    let det: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("json");
    assert_eq!(det["total"], "423.15");
    assert_eq!(det["pack"]["id"], "portland");
}

#[test]
fn decide_markdown_and_letter() {
    for (format, needle) in [("markdown", "| Water volume |"), ("letter", "come to $423.15")] {
        let o = ratebook(
            &["decide", "bill", "examples/cases/bill-fy2324.yaml", "--format", format],
            None,
        );
        assert_eq!(code(&o), 0, "{format}");
        assert!(stdout(&o).contains(needle), "{format}: {}", stdout(&o));
    }
}

#[test]
fn unknown_figure_exits_3_and_lists_every_missing_figure() {
    let o = ratebook(
        &[
            "decide",
            "bill",
            "examples/cases/bill-2024-summer.yaml",
            "--format",
            "json",
        ],
        None,
    );
    assert_eq!(code(&o), 3);
    let e = stderr_json(&o);
    assert_eq!(e["error"]["code"], "ratebook::params::unknown_value");
    let missing = e["error"]["missing"].as_array().expect("missing");
    assert_eq!(missing.len(), 2);
    assert_eq!(missing[0]["param"], "water.base_per_day");
    assert_eq!(missing[0]["key"], "quarterly");
    assert_eq!(missing[0]["date"], "2024-07-01");
    assert!(missing[0]["source"].as_str().unwrap_or_default().contains("191657"));
}

#[test]
fn supplied_figures_complete_the_bill_and_are_flagged() {
    let o = ratebook(
        &[
            "decide",
            "bill",
            "examples/cases/bill-2024-summer.yaml",
            "--format",
            "json",
            "--set",
            "water.base_per_day[quarterly]@2024-07-01=0.75",
            "--set",
            "harbor.volume_rate@2024-07-01=0.10",
        ],
        None,
    );
    assert_eq!(code(&o), 0, "{}", String::from_utf8_lossy(&o.stderr));
    let det: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("json");
    assert_eq!(det["total"], "365.86");
    assert_eq!(det["warnings"].as_array().map(Vec::len), Some(2));
}

#[test]
fn overlay_pack_completes_the_bill() {
    let o = ratebook(
        &[
            "decide",
            "bill",
            "examples/cases/bill-2024-summer.yaml",
            "--pack",
            "tests/packs/overlay",
            "--format",
            "json",
        ],
        None,
    );
    assert_eq!(code(&o), 0, "{}", String::from_utf8_lossy(&o.stderr));
    let det: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("json");
    assert_eq!(det["pack"]["id"], "portland-fy2425-proposal");
    assert_eq!(det["total"], "365.86");
}

#[test]
fn malformed_yaml_case_exits_2_with_line_and_column() {
    let o = ratebook(
        &["decide", "bill", "-", "--format", "json"],
        Some("account:\n  class: residential\n   billing_frequency: [\n"),
    );
    assert_eq!(code(&o), 2);
    let e = stderr_json(&o);
    assert_eq!(e["error"]["code"], "ratebook::case::syntax");
    assert!(e["error"]["locations"][0]["line"].as_u64().is_some());
    assert!(e["error"]["locations"][0]["col"].as_u64().is_some());
}

#[test]
fn malformed_yaml_on_a_terminal_is_underlined() {
    let o = ratebook(
        &["decide", "bill", "-"],
        Some("account: { class: residential\nusage_ccf: 3\n"),
    );
    assert_eq!(code(&o), 2);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("ratebook::case::syntax") && err.contains("<stdin>:"),
        "{err}"
    );
}

#[test]
fn unknown_decision_exits_2() {
    let o = ratebook(&["decide", "bil", "-", "--format", "json"], Some(GOOD));
    assert_eq!(code(&o), 2);
    assert_eq!(stderr_json(&o)["error"]["code"], "ratebook::decision::unknown");
}

/// Runs `decide bill -` on a bad case: exit 2 and the JSON error's code and first field.
fn assert_bad_case(case: &str, code_expected: &str, field: Option<&str>) {
    let o = ratebook(&["decide", "bill", "-", "--format", "json"], Some(case));
    assert_eq!(code(&o), 2, "{case}");
    let e = stderr_json(&o);
    assert_eq!(e["error"]["code"], code_expected, "{case}");
    if let Some(f) = field {
        assert_eq!(e["error"]["locations"][0]["field"], f, "{case}");
    }
}

#[test]
fn period_ending_before_it_starts_exits_2() {
    assert_bad_case(
        &GOOD.replace("to: 2023-11-30", "to: 2023-08-01"),
        "ratebook::case::bad_period",
        Some("period"),
    );
}

#[test]
fn negative_usage_exits_2() {
    assert_bad_case(
        &GOOD.replace("usage_ccf: 15", "usage_ccf: -15"),
        "ratebook::case::out_of_range",
        Some("usage_ccf"),
    );
}

/// A figure so large that a line's amount is beyond a decimal's 28 digits
/// is an error naming the line (exit 2), never a crash; so is a total of
/// lines that each fit but add up beyond.
#[test]
fn an_amount_beyond_28_digits_exits_2_and_names_the_line() {
    let case = GOOD.replace("usage_ccf: 15", "usage_ccf: 1000000");
    for (set, what) in [
        ("water.volume_rate=79228162514264337593543950335", "`water.volume` line"),
        ("water.volume_rate=79228162514264337593543.950235", "total of the lines"),
    ] {
        for format in ["json", "text"] {
            let o = ratebook(&["decide", "bill", "-", "--set", set, "--format", format], Some(&case));
            assert_eq!(code(&o), 2, "{set}: {}", String::from_utf8_lossy(&o.stderr));
            let err = String::from_utf8_lossy(&o.stderr);
            assert!(
                err.contains("too large to compute exactly") && err.contains(what),
                "{set}: {err}"
            );
            assert!(!err.contains("panicked"), "{err}");
        }
    }
}

#[test]
fn missing_required_field_exits_2() {
    assert_bad_case(
        &GOOD.replace("usage_ccf: 15\n", ""),
        "ratebook::case::missing_field",
        Some("usage_ccf"),
    );
}

#[test]
fn a_closed_pipe_is_not_a_crash() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ratebook"))
        .args(["params"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("runs");
    drop(child.stdout.take());
    let out = child.wait_with_output().expect("finishes");
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("panicked"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn missing_case_file_exits_2() {
    let o = ratebook(&["decide", "bill", "no/such/case.yaml"], None);
    assert_eq!(code(&o), 2);
}

#[test]
fn bad_option_exits_2() {
    let o = ratebook(&["decide", "bill", "-", "--as-of", "yesterday"], Some(GOOD));
    assert_eq!(code(&o), 2);
    let o = ratebook(
        &["decide", "bill", "-", "--set", "nonsense", "--format", "json"],
        Some(GOOD),
    );
    assert_eq!(code(&o), 2);
    assert_eq!(stderr_json(&o)["error"]["code"], "ratebook::cli::bad_set");
}

#[test]
fn broken_pack_exits_3_with_file_line_col() {
    let o = ratebook(
        &[
            "decide",
            "bill",
            "-",
            "--pack",
            "tests/packs/broken_yaml",
            "--format",
            "json",
        ],
        Some(GOOD),
    );
    assert_eq!(code(&o), 3);
    let e = stderr_json(&o);
    assert_eq!(e["error"]["locations"][0]["file"], "params/bad.yaml");
    assert_eq!(e["error"]["locations"][0]["line"], 5);
}

#[test]
fn test_command_passes_on_portland_and_fails_with_a_diff() {
    let o = ratebook(&["test"], None);
    assert_eq!(code(&o), 0, "{}", stdout(&o));
    assert!(stdout(&o).contains(" 0 failed"));
    let o = ratebook(&["test", "--filter", "FY23-24 typical quarterly"], None);
    assert_eq!(code(&o), 0);
    assert!(stdout(&o).starts_with("ok "));
}

#[test]
fn test_command_reports_failures_with_exit_1() {
    let dir = std::env::temp_dir().join(format!("ratebook-test-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("tests")).expect("mkdir");
    std::fs::write(
        dir.join("pack.yaml"),
        "id: wrong\ntitle: t\nversion: '1'\nextends: portland\n",
    )
    .expect("write");
    std::fs::write(
        dir.join("tests/wrong.yaml"),
        "decision: bill\ncases:\n  - name: wrong total\n    case: { account: { class: residential, billing_frequency: quarterly, services: [water] }, period: { from: 2023-09-01, to: 2023-11-30 }, usage_ccf: 15 }\n    expect: { total: \"1.00\" }\n",
    )
    .expect("write");
    let o = ratebook(&["test", dir.to_str().unwrap_or_default()], None);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(code(&o), 1);
    assert!(
        stdout(&o).contains("total: expected \"1.00\", got \"168.66\""),
        "{}",
        stdout(&o)
    );
}

#[test]
fn params_shows_the_rate_sheet_with_sources() {
    let o = ratebook(&["params", "--at", "2023-10-01"], None);
    assert_eq!(code(&o), 0);
    let out = stdout(&o);
    assert!(
        out.contains("water.volume_rate") && out.contains("7.006") && out.contains("published"),
        "{out}"
    );
    let o = ratebook(
        &["params", "water.base", "--at", "2024-10-01", "--format", "json"],
        None,
    );
    let rows: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("json");
    assert_eq!(rows.as_array().map(Vec::len), Some(3));
    assert_eq!(rows[0]["value"], "unknown");
    assert!(rows[0]["source"].as_str().unwrap_or_default().contains("191657"));
    // Without a date: the whole history of the parameter, from a pack folder.
    let o = ratebook(
        &["params", "rules/portland", "water.volume_rate", "--format", "json"],
        None,
    );
    let rows: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("json");
    let values: Vec<&str> = rows
        .as_array()
        .expect("rows")
        .iter()
        .filter_map(|r| r["value"].as_str())
        .collect();
    assert_eq!(
        values,
        [
            "5.252", "5.593", "6.029", "6.493", "7.006", "7.559", "unknown", "unknown"
        ]
    );
}

#[test]
fn an_ineligible_decision_exits_0_and_says_what_would_change_it() {
    let args = [
        "decide",
        "leak_adjustment",
        "examples/cases/leak-adjustment-pending.yaml",
    ];
    let o = ratebook(&[&args[..], &["--format", "text"]].concat(), None);
    assert_eq!(code(&o), 0, "a denial is a successful determination");
    let text = stdout(&o);
    assert!(text.contains(": ineligible"), "{text}");
    assert!(
        text.contains("→ would be met by: the repair is completed by 2025-09-19"),
        "{text}"
    );
    let o = ratebook(&[&args[..], &["--format", "json"]].concat(), None);
    let det: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("json");
    let fixes: Vec<&str> = det["reasons"]
        .as_array()
        .expect("reasons")
        .iter()
        .filter_map(|r| r["fix"].as_str())
        .collect();
    assert_eq!(fixes.len(), 3, "{fixes:?}");
    let o = ratebook(&[&args[..], &["--format", "markdown"]].concat(), None);
    assert!(stdout(&o).contains("  - → would be met by: the repair is completed by 2025-09-19"));
}

#[test]
fn every_adjustment_and_assistance_decision_runs_on_the_embedded_pack() {
    for (decision, case, outcome) in [
        ("leak_adjustment", "leak-adjustment", "eligible"),
        ("billing_error_adjustment", "billing-error", "eligible"),
        ("crisis_voucher", "crisis-voucher", "eligible"),
        ("low_income_discount", "low-income-discount", "eligible"),
        ("high_usage", "high-usage", "high"),
        ("misread_correction", "misread-correction", "eligible"),
    ] {
        let path = format!("examples/cases/{case}.yaml");
        let o = ratebook(&["decide", decision, &path, "--format", "json"], None);
        assert_eq!(code(&o), 0, "{decision}: {}", String::from_utf8_lossy(&o.stderr));
        let det: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("json");
        assert_eq!(det["outcome"], outcome, "{decision}");
        let o = ratebook(&["decide", decision, &path, "--format", "letter"], None);
        assert!(stdout(&o).contains("Rules and policies cited:"), "{decision}");
    }
}

#[test]
fn a_bad_list_item_exits_2_naming_the_item() {
    let case = "discount_enrolled: true\nbalance: 10\npaid_toward_bill: true\nrequest_date: 2025-01-15\nprior_vouchers: [ { date: 2024-13-01 } ]\n";
    let o = ratebook(&["decide", "crisis_voucher", "-", "--format", "json"], Some(case));
    assert_eq!(code(&o), 2);
    let e = stderr_json(&o);
    assert_eq!(e["error"]["code"], "ratebook::case::bad_date");
    assert_eq!(e["error"]["locations"][0]["field"], "prior_vouchers[0].date");
}

#[test]
fn an_eligibility_rule_with_a_missing_income_table_exits_3_naming_it() {
    let case = "account: { class: residential }\ndwelling: single_family\nlives_at_property: true\npays_bill_directly: true\nhousehold_size: 3\nmonthly_income: 2000\napplication_date: 2025-10-01\n";
    let o = ratebook(&["decide", "low_income_discount", "-", "--format", "json"], Some(case));
    assert_eq!(code(&o), 3);
    let e = stderr_json(&o);
    let missing: Vec<&str> = e["error"]["missing"]
        .as_array()
        .expect("missing")
        .iter()
        .filter_map(|m| m["param"].as_str())
        .collect();
    assert_eq!(
        missing,
        ["low_income.tier1_monthly_limit", "low_income.tier2_monthly_limit"]
    );
    let o = ratebook(
        &[
            "decide",
            "low_income_discount",
            "-",
            "--set",
            "low_income.tier1_monthly_limit[3]@2025-07-01=5500",
            "--set",
            "low_income.tier2_monthly_limit[3]@2025-07-01=2750",
            "--format",
            "json",
        ],
        Some(case),
    );
    assert_eq!(code(&o), 0, "{}", String::from_utf8_lossy(&o.stderr));
    let det: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("json");
    assert_eq!(det["outputs"]["tier"], 2);
    assert_eq!(
        det["warnings"].as_array().map(Vec::len),
        Some(2),
        "supplied figures are flagged"
    );
}

#[test]
fn arrangements_collections_and_deferrals_run_from_the_cli() {
    let o = ratebook(
        &[
            "decide",
            "payment_arrangement",
            "examples/cases/payment-arrangement.yaml",
            "--format",
            "json",
        ],
        None,
    );
    assert_eq!(code(&o), 0, "{}", String::from_utf8_lossy(&o.stderr));
    let det: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("json");
    let plan = det["outputs"]["payment_plan"].as_array().expect("a schedule");
    let sum: rust_decimal::Decimal = plan
        .iter()
        .map(|p| {
            p["amount"]
                .as_str()
                .expect("text")
                .parse::<rust_decimal::Decimal>()
                .expect("a decimal")
        })
        .sum();
    assert_eq!(sum.to_string(), "287.45", "the installments sum to the balance");

    let o = ratebook(
        &[
            "decide",
            "collection_action",
            "examples/cases/collection-action.yaml",
            "--format",
            "json",
        ],
        None,
    );
    assert_eq!(code(&o), 0);
    let det: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("json");
    assert_eq!(det["outcome"], "action_due");
    assert_eq!(det["outputs"]["next_action"]["action"], "urgent");
    assert!(
        det["outputs"]["next_action"]["fee"].is_null(),
        "the FY25-26 fee is not in the pack"
    );

    let o = ratebook(
        &[
            "decide",
            "payment_deferral",
            "examples/cases/payment-deferral.yaml",
            "--format",
            "json",
        ],
        None,
    );
    assert_eq!(code(&o), 3, "the Safety Net's terms are unknown");
    assert_eq!(stderr_json(&o)["error"]["missing"].as_array().map(Vec::len), Some(4));
    let o = ratebook(
        &[
            "decide",
            "payment_deferral",
            "examples/cases/payment-deferral.yaml",
            "--pack",
            "tests/packs/safety_net",
            "--format",
            "letter",
        ],
        None,
    );
    assert_eq!(code(&o), 0, "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        stdout(&o).contains("may be deferred until 2025-05-10"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn check_exits_1_on_errors_and_0_on_a_clean_pack() {
    let o = ratebook(&["check", "tests/packs/many_problems", "--format", "json"], None);
    assert_eq!(code(&o), 1);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("json");
    assert_eq!(v["errors"], 5);
    let o = ratebook(&["check"], None);
    assert_eq!(code(&o), 0, "{}", stdout(&o));
    assert!(stdout(&o).contains("0 error(s)"));
}
