//! The Portland adjustment and assistance decisions end to end: letters as
//! insta snapshots for every example case, a full determination with its
//! trace, and the CLI running them on the embedded pack.

use ratebook::render::{Format, render};
use ratebook::{Case, Engine, Options, Pack};

fn portland() -> Engine {
    Engine::new(Pack::portland().expect("the embedded pack loads")).expect("the embedded pack compiles")
}

fn example(name: &str) -> Case {
    let path = format!("examples/cases/{name}.yaml");
    Case::parse(&path, &std::fs::read_to_string(&path).expect("the example exists")).expect("parses")
}

/// The letter with the pack digest masked (it changes with every pack edit).
fn letter(decision: &str, case: &str) -> String {
    let engine = portland();
    let det = engine
        .decide(decision, &example(case), &Options::default())
        .expect("decides");
    render(&det, engine.pack(), Format::Letter).replace(&*det.pack.digest, "[digest]")
}

#[test]
fn letters_for_every_decision() {
    for (decision, case) in [
        ("bill", "bill-fy2324"),
        ("leak_adjustment", "leak-adjustment"),
        ("leak_adjustment", "leak-adjustment-pending"),
        ("billing_error_adjustment", "billing-error"),
        ("crisis_voucher", "crisis-voucher"),
        ("low_income_discount", "low-income-discount"),
        ("high_usage", "high-usage"),
        ("misread_correction", "misread-correction"),
        ("collection_action", "collection-action"),
        ("payment_arrangement", "payment-arrangement"),
    ] {
        insta::assert_snapshot!(format!("letter_{case}"), letter(decision, case));
    }
}

#[test]
fn a_letter_says_what_was_not_met_and_what_would_change_it() {
    let text = letter("leak_adjustment", "leak-adjustment-pending");
    assert!(text.contains("we are unable to approve it"), "{text}");
    assert!(text.contains("What was not met:"), "{text}");
    assert!(text.contains("The repair is completed by 2025-09-19."), "{text}");
    assert!(
        text.contains("https://www.portland.gov/policies/administrative/revenue/adm-1403"),
        "{text}"
    );
    let approved = letter("leak_adjustment", "leak-adjustment");
    assert!(
        approved.contains("A credit of $114.68 will be applied to your account."),
        "{approved}"
    );
    assert!(!approved.contains("What was not met"), "{approved}");
}

#[test]
fn leak_adjustment_determination_snapshot() {
    let engine = portland();
    let det = engine
        .decide("leak_adjustment", &example("leak-adjustment"), &Options::default())
        .expect("decides");
    insta::assert_json_snapshot!(det, { ".pack.digest" => "[digest]" });
}

#[test]
fn a_leak_credit_re_computes_the_bill_and_traces_it() {
    let engine = portland();
    let det = engine
        .decide("leak_adjustment", &example("leak-adjustment"), &Options::default())
        .expect("decides");
    let trace = serde_json::to_value(&det.trace).expect("json");
    let evaluated: Vec<_> = trace
        .as_array()
        .expect("a list")
        .iter()
        .filter(|s| s["kind"] == "evaluated")
        .collect();
    assert_eq!(evaluated.len(), 2, "the bill as billed and as corrected");
    // As billed: water 45 x 7.559 = 340.155 -> 340.16; sewer on the winter
    // average, 12 x 12.69 = 152.28. As corrected: water 29.83 x 7.559 =
    // 225.48497 -> 225.48; sewer still on the winter average.
    assert_eq!(evaluated[0]["total"], "492.44");
    assert_eq!(evaluated[1]["total"], "377.76");
    assert_eq!(det.total.map(|t| t.to_string()).as_deref(), Some("-114.68"));
}

#[test]
fn the_credit_needs_the_figures_of_the_leak_period_and_names_them() {
    let mut case = example("leak-adjustment");
    case.value_mut()["leak_bill"]["period"] = serde_json::json!({ "from": "2025-08-12", "to": "2025-11-12" });
    case.value_mut()["leak_bill"]["bill_date"] = serde_json::json!("2025-11-18");
    case.value_mut()["usage_history"] =
        serde_json::json!([{ "period": { "from": "2025-05-13", "to": "2025-08-12" }, "usage_ccf": 15 }]);
    case.value_mut()["leak"]["first_notice"] = serde_json::json!("2025-11-20");
    case.value_mut()["leak"]["repair_started"] = serde_json::json!("2025-11-21");
    case.value_mut()["leak"]["repair_completed"] = serde_json::json!("2025-11-22");
    case.value_mut()["application_date"] = serde_json::json!("2025-12-01");
    let err = portland()
        .decide("leak_adjustment", &case, &Options::default())
        .expect_err("a missing figure");
    assert_eq!(err.code, "ratebook::params::unknown_value");
    assert_eq!(err.exit_code(), 3);
    assert!(err.missing.iter().any(|m| m.param == "water.volume_rate"), "{err:?}");
}

#[test]
fn the_safety_net_refuses_until_its_terms_are_filled_in_and_then_decides() {
    let err = portland()
        .decide("payment_deferral", &example("payment-deferral"), &Options::default())
        .expect_err("the terms are unknown");
    assert_eq!(err.exit_code(), 3);
    let missing: Vec<&str> = err.missing.iter().map(|m| m.param.as_str()).collect();
    assert_eq!(
        missing,
        [
            "safety_net.min_income_drop_pct",
            "safety_net.max_deferral_months",
            "safety_net.max_amount",
            "safety_net.months_between"
        ]
    );
    let overlay = Engine::new(Pack::load(&ratebook::pack::FolderLoader, "tests/packs/safety_net").expect("loads"))
        .expect("compiles");
    let det = overlay
        .decide("payment_deferral", &example("payment-deferral"), &Options::default())
        .expect("decides");
    let text = render(&det, overlay.pack(), Format::Letter).replace(&*det.pack.digest, "[digest]");
    insta::assert_snapshot!("letter_payment-deferral", text);
}

#[test]
fn a_collection_timeline_lists_every_step_left_with_dates_fees_and_citations() {
    let engine = portland();
    let mut case = example("collection-action");
    case.value_mut()["bill_date"] = serde_json::json!("2019-03-01");
    case.value_mut()["date"] = serde_json::json!("2019-03-10");
    case.value_mut()["payments"] = serde_json::json!([]);
    case.value_mut()["notices"] = serde_json::json!([]);
    case.value_mut()["owner_notified_date"] = serde_json::json!("2019-03-25");
    let det = engine
        .decide("collection_action", &case, &Options::default())
        .expect("decides");
    let timeline = serde_json::to_value(&det.outputs["timeline"]).expect("json");
    let steps: Vec<(String, String, String)> = timeline
        .as_array()
        .expect("a list")
        .iter()
        .map(|s| {
            (
                s["action"].as_str().unwrap_or_default().to_string(),
                s["date"].as_str().unwrap_or_default().to_string(),
                s["fee"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    let want = [
        ("carrying_charge", "2019-03-29", "3.10"),
        ("reminder", "2019-04-05", "5.00"),
        ("urgent", "2019-04-12", "15.00"),
        ("last_chance", "2019-04-19", "30.00"),
        ("shutoff_authorization", "2019-04-26", "105.00"),
    ];
    assert_eq!(
        steps,
        want.map(|(a, d, f)| (a.to_string(), d.to_string(), f.to_string()))
    );
    let letter = render(&det, engine.pack(), Format::Letter);
    assert!(letter.contains("If the balance is not paid:"), "{letter}");
    assert!(
        letter.contains("  - from 2019-04-26: shut-off authorization with its late fee, $105.00 (PCC 21.16.040)"),
        "{letter}"
    );
}
