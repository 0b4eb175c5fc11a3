//! `synth` and `impact`: a reproducible portfolio, and the impact of a
//! proposal over it, consistent and explained; outcome flips for an
//! eligibility decision; the HTML report is self-contained.

use ratebook::batch::Rows;
use ratebook::pack::{FolderLoader, Pack};
use ratebook::{Engine, impact};
use rust_decimal::Decimal;

fn engine(dir: Option<&str>) -> Engine {
    let pack = match dir {
        Some(d) => Pack::load(&FolderLoader, d).expect("loads"),
        None => Pack::portland().expect("loads"),
    };
    Engine::new(pack).expect("compiles")
}

fn portfolio(n: usize, seed: u64) -> Vec<u8> {
    let mut out = Vec::new();
    ratebook::synth::write(n, seed, &mut out).expect("writes");
    out
}

#[test]
fn a_synthetic_portfolio_is_reproducible_from_its_seed() {
    let a = portfolio(500, 11);
    assert_eq!(a, portfolio(500, 11), "the same seed gives the same bytes");
    assert_ne!(a, portfolio(500, 12));
    let text = String::from_utf8(a).expect("utf-8");
    assert_eq!(text.lines().count(), 501, "a header and one row per account");
    let residential = text.lines().filter(|l| l.contains(",residential,")).count();
    assert!(
        (350..=450).contains(&residential),
        "about 80% residential: {residential}"
    );
}

fn run(n: usize) -> impact::Impact {
    let csv = portfolio(n, 7);
    let rows = Rows::new("portfolio.csv", &csv[..]).expect("reads");
    impact::run(
        &engine(Some("examples/impact/base")),
        &engine(Some("examples/impact/proposal")),
        "bill",
        None,
        rows,
    )
}

#[test]
fn the_impact_of_a_rate_increase_adds_up_and_names_its_cause() {
    let r = run(400);
    assert_eq!((r.accounts, r.errors), (400, 0), "{:?}", r.error_rows);
    assert_eq!(r.pay_more, 400, "every account uses water");
    assert_eq!(r.total.difference, r.total.proposed - r.total.base);
    for groups in [&r.by_class, &r.by_assistance] {
        let sum: Decimal = groups.values().map(|g| g.difference).sum();
        assert_eq!(sum, r.total.difference, "the groups add up to the whole");
        assert_eq!(groups.values().map(|g| g.accounts).sum::<usize>(), 400);
    }
    let values: Vec<Decimal> = r.percentiles.iter().map(|(_, v)| *v).collect();
    assert!(values.windows(2).all(|w| w[0] <= w[1]), "{values:?}");
    assert_eq!(r.largest.len(), 10);
    let top = &r.largest[0];
    assert_eq!(top.difference, r.percentiles.last().expect("a max").1);
    assert!(top.lines.iter().any(|l| l.starts_with("water.volume:")), "{top:?}");
    assert!(
        top.figures
            .iter()
            .any(|f| f.contains("water.volume_rate") && f.contains("was 7.006, now 7.356")),
        "{top:?}"
    );
    insta::assert_snapshot!("impact_markdown", run(40).markdown());
}

/// More accounts than two chunks hold, so rows are read into buffers that
/// held other rows: the revenue under each pack is the sum of every
/// account decided on its own.
#[test]
fn revenue_over_many_chunks_is_the_sum_of_each_account_decided_alone() {
    let n = 9_000;
    let csv = portfolio(n, 5);
    let (base, proposed) = (
        engine(Some("examples/impact/base")),
        engine(Some("examples/impact/proposal")),
    );
    let r = impact::run(
        &base,
        &proposed,
        "bill",
        None,
        Rows::new("portfolio.csv", &csv[..]).expect("reads"),
    );
    assert_eq!((r.accounts, r.errors), (n, 0), "{:?}", r.error_rows);
    let opts = ratebook::Options {
        as_of: None,
        trace: false,
    };
    let (mut b, mut p) = (Decimal::ZERO, Decimal::ZERO);
    for (_, _, case) in Rows::new("portfolio.csv", &csv[..]).expect("reads") {
        let case = case.expect("a case");
        let total = |e: &Engine| e.decide("bill", &case, &opts).expect("decides").total.expect("a total");
        b += total(&base);
        p += total(&proposed);
    }
    assert_eq!((r.total.base, r.total.proposed), (b, p));
}

#[test]
fn an_eligibility_proposal_reports_who_flips_and_why() {
    let text = std::fs::read("examples/impact/applicants.jsonl").expect("exists");
    let rows = Rows::new("applicants.jsonl", &text[..]).expect("reads");
    let r = impact::run(
        &engine(None),
        &engine(Some("examples/impact/discount-proposal")),
        "low_income_discount",
        None,
        rows,
    );
    assert_eq!(r.accounts, 4);
    assert_eq!(r.flips.get("ineligible -> eligible"), Some(&1));
    assert_eq!(r.total.affected, 1);
    let f = &r.flipped[0];
    assert_eq!(f.id, "L-2");
    assert!(
        f.lines.contains(&"income_within_limit: not met -> met".to_string()),
        "{f:?}"
    );
}

#[test]
fn the_html_report_is_self_contained_with_both_charts() {
    let html = run(200).html();
    assert!(html.contains("<svg id=\"histogram\"") && html.contains("<svg id=\"revenue\""));
    assert!(html.matches("class=\"bar\"").count() > 10);
    for external in ["src=", "href=", "<script", "<link"] {
        assert!(!html.contains(external), "nothing to fetch: {external}");
    }
}

#[test]
fn a_semantic_diff_names_each_changed_figure_with_old_and_new_values() {
    let base = Pack::portland().expect("loads");
    let proposal = Pack::load(&FolderLoader, "examples/impact/proposal").expect("loads");
    let d = ratebook::diff::diff(&base, &proposal);
    let rate = d
        .parameters
        .iter()
        .find(|c| c.what == "water.volume_rate from 2023-07-01")
        .expect("the changed rate");
    assert_eq!(rate.change, "changed");
    assert!(
        rate.old
            .as_deref()
            .is_some_and(|o| o.starts_with("7.006 USD/ccf (published)"))
    );
    assert!(
        rate.new
            .as_deref()
            .is_some_and(|n| n.starts_with("7.356 USD/ccf (assumed)"))
    );
    assert!(d.charges.is_empty() && d.decisions.is_empty() && d.citations.is_empty());
    assert!(
        d.render(true)
            .contains("| changed | water.volume_rate from 2023-07-01 |")
    );
    assert!(ratebook::diff::diff(&base, &base).is_empty(), "a pack against itself");
    let safety = Pack::load(&FolderLoader, "tests/packs/safety_net").expect("loads");
    let d = ratebook::diff::diff(&base, &safety);
    assert_eq!(
        d.parameters
            .iter()
            .filter(|c| c.what.starts_with("safety_net."))
            .count(),
        4
    );
}

#[test]
fn compare_explains_why_a_result_changed() {
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_ratebook"))
        .args(["decide", "low_income_discount", "-", "--compare", "examples/impact/discount-proposal", "--format", "json"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin
                .take()
                .expect("stdin")
                .write_all(b"account: { class: residential }\ndwelling: single_family\nlives_at_property: true\npays_bill_directly: true\nhousehold_size: 4\nmonthly_income: 5800\napplication_date: 2024-03-01\n")?;
            c.wait_with_output()
        })
        .expect("runs");
    assert_eq!(o.status.code(), Some(0));
    let c: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(
        (c["base_outcome"].as_str(), c["proposed_outcome"].as_str()),
        (Some("ineligible"), Some("eligible"))
    );
    assert_eq!(c["requirements"][0], "income_within_limit: not met -> met");
    assert!(
        c["figures"][0].as_str().is_some_and(
            |f| f.starts_with("low_income.tier1_monthly_limit[4] in force on 2024-03-01 was 5640, now 6000")
        )
    );
}

/// An impact run takes the proposal's lines for the charges it leaves alone
/// from the base's run. A proposal raising the stormwater rate changes the
/// stormwater line and the Clean River Rewards credit taken off it, and
/// nothing else; run the other way round (the proposal as the base, every
/// line worked out), the totals are the same, class by class.
#[test]
fn lines_taken_from_the_base_agree_with_lines_worked_out_in_full() {
    let dir = std::env::temp_dir().join(format!("ratebook-impact-shared-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("params")).expect("a temp dir");
    let base_dir = format!("{}/examples/impact/base", env!("CARGO_MANIFEST_DIR"));
    std::fs::write(
        dir.join("pack.yaml"),
        format!("id: stormwater-up\ntitle: Stormwater up\nversion: 0.1.0\nextends: {base_dir}\n"),
    )
    .expect("writes");
    std::fs::write(
        dir.join("params/stormwater.yaml"),
        r#"stormwater.rate:
  description: Stormwater charge per 1,000 sq ft of billable impervious area per month, by account class
  unit: USD/1000 sqft-month
  key: account.class
  keys: [residential, multifamily, commercial]
  values:
    - from: 2023-07-01
      status: assumed
      value: { residential: "14.20", multifamily: unknown, commercial: "14.80" }
      source: "a test proposal"
"#,
    )
    .expect("writes");
    let base = engine(Some("examples/impact/base"));
    let proposal = engine(Some(dir.to_str().expect("utf-8")));
    let csv = portfolio(800, 5);
    let run =
        |b: &Engine, p: &Engine| impact::run(b, p, "bill", None, Rows::new("portfolio.csv", &csv[..]).expect("reads"));
    let (forward, backward) = (run(&base, &proposal), run(&proposal, &base));
    std::fs::remove_dir_all(&dir).ok();
    assert_eq!((forward.accounts, forward.errors), (800, 0), "{:?}", forward.error_rows);
    assert_eq!(forward.pay_more, 800, "every account has stormwater");
    assert_eq!(forward.total.proposed, backward.total.base);
    assert_eq!(forward.total.base, backward.total.proposed);
    for (class, g) in &forward.by_class {
        let other = &backward.by_class[class];
        assert_eq!((g.base, g.proposed), (other.proposed, other.base), "{class}");
    }
    // Taking the credit from the base's run instead would be off by the
    // registered accounts' share of their stormwater change.
    let text = String::from_utf8(csv).expect("utf-8");
    assert!(
        text.lines().any(|l| l.contains(",100,")),
        "some accounts have Clean River Rewards"
    );
}

/// Absurd figures can make bills whose sums are beyond a decimal's 28
/// digits: the accounts that would take the revenue sums beyond are error
/// rows with the reason, the run goes on, and nothing panics.
#[test]
fn sums_beyond_28_digits_are_error_rows_not_a_crash() {
    let pack = Pack::load(&FolderLoader, "examples/impact/base").expect("loads");
    let rate = ratebook::engine::parse_override("water.volume_rate=500000000000000000000000000").expect("parses");
    let huge = Engine::with_overrides(pack, &[rate]).expect("compiles");
    let csv = portfolio(40, 9);
    let r = impact::run(
        &huge,
        &engine(Some("examples/impact/base")),
        "bill",
        None,
        Rows::new("portfolio.csv", &csv[..]).expect("reads"),
    );
    assert_eq!(r.accounts, 40);
    assert!(r.errors > 0 && r.errors < 40, "{} errors", r.errors);
    assert!(
        r.error_rows
            .iter()
            .all(|(_, _, why)| why.contains("too large to add up")),
        "{:?}",
        r.error_rows
    );
    assert_eq!(r.total.accounts, 40 - r.errors);
}
