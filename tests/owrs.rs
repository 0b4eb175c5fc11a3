//! OWRS import against the reference calculator: every file of the corpus
//! imported, every reference customer billed and compared with RateParser's
//! bill at the cent. The counts may only get better (see `BASELINE`).

use ratebook::case::Case;
use ratebook::engine::{Engine, Options};
use ratebook::pack::{MemoryLoader, Pack};
use rust_decimal::Decimal;
use rust_decimal::prelude::*;
use std::collections::BTreeMap;
use std::io::Read;

const CORPUS: &str = "tests/data/owrs";

/// The corpus figures as of the last change; a run may beat them, never fall short.
struct Counts {
    files: usize,
    imported: usize,
    rows: usize,
    /// RateParser computes a bill and ratebook's matches it at the cent.
    matched: usize,
    /// RateParser fails and ratebook computes.
    beyond: usize,
}

/// A run's counts: the baseline's and the rows that fall short of it.
#[derive(Default)]
struct Tally {
    files: usize,
    imported: usize,
    rows: usize,
    matched: usize,
    beyond: usize,
    /// RateParser computes and ratebook computes a different bill.
    differ: usize,
    /// RateParser computes and ratebook gives an error.
    we_fail: usize,
}

const BASELINE: Counts = Counts {
    files: 400,
    imported: 383,
    rows: 80136,
    matched: 54430,
    beyond: 23673,
};

/// The reference bills' header and rows.
fn reference_rows() -> (csv::StringRecord, Vec<csv::StringRecord>) {
    let file = std::fs::File::open(format!("{CORPUS}/reference_bills.csv.gz")).expect("reference bills");
    let mut text = String::new();
    flate2::read::GzDecoder::new(file)
        .read_to_string(&mut text)
        .expect("gzip");
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let header = reader.headers().expect("a header").clone();
    (header, reader.records().map(|r| r.expect("csv row")).collect())
}

/// The engine for an imported file, or why there is none.
fn engine_for(path: &str) -> Result<Engine, String> {
    let text = std::fs::read_to_string(format!("{CORPUS}/{path}")).map_err(|e| e.to_string())?;
    let name = path.rsplit('/').next().unwrap_or(path);
    let imported = ratebook::owrs::import(name, &text).map_err(|e| e.message.clone())?;
    let pack = Pack::load(&MemoryLoader::new(imported.files), ".").map_err(|e| e.to_string())?;
    Engine::new(pack).map_err(|e| e.to_string())
}

const COLUMNS: [&str; 8] = [
    "usage_ccf",
    "meter_size",
    "water_type",
    "hhsize",
    "et_amount",
    "irrigable_area",
    "irr_area",
    "days_in_period",
];

/// The case for a reference row: the class and every column the decision takes.
fn case_for(engine: &Engine, row: &csv::StringRecord, header: &csv::StringRecord) -> Case {
    let schema = &engine
        .formulas("bill")
        .expect("an imported pack has a formula decision `bill`")
        .schema;
    let mut map = serde_json::Map::new();
    let col = |name: &str| header.iter().position(|h| h == name).and_then(|i| row.get(i));
    map.insert("cust_class".into(), col("cust_class").unwrap_or("").into());
    let mut given: BTreeMap<String, serde_json::Value> = BTreeMap::new();
    for c in COLUMNS {
        if let Some(v) = col(c).filter(|v| !v.is_empty()) {
            given.insert(c.into(), v.into());
        }
    }
    if let Some(extra) = col("extra_inputs").filter(|v| !v.is_empty())
        && let Ok(serde_json::Value::Object(m)) = serde_json::from_str::<serde_json::Value>(extra)
    {
        for (k, v) in m {
            given.insert(k, v);
        }
    }
    for (k, v) in given {
        let Some(field) = schema.field(&k) else { continue };
        let text = match &v {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let value = if schema.values(field).is_none() && schema.is_number(field) {
            match Decimal::from_str(&text) {
                Ok(_) => serde_json::Value::Number(serde_json::Number::from_str(&text).expect("number")),
                Err(_) => serde_json::Value::String(text),
            }
        } else {
            serde_json::Value::String(text)
        };
        map.insert(k, value);
    }
    Case::from_value("reference row", serde_json::Value::Object(map))
}

fn cents(text: &str) -> Option<Decimal> {
    let d = Decimal::from_str(text)
        .or_else(|_| Decimal::from_scientific(text))
        .ok()?;
    Some(d.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero))
}

#[test]
fn corpus_matches_the_reference_calculator() {
    let (header, rows) = reference_rows();
    let mut engines: BTreeMap<String, Result<Engine, String>> = BTreeMap::new();
    let mut c = Tally::default();
    let mut both_fail = 0;
    let mut both: BTreeMap<String, usize> = BTreeMap::new();
    let mut differences = Vec::new();
    let mut failures: BTreeMap<String, usize> = BTreeMap::new();
    let options = Options {
        trace: false,
        ..Options::default()
    };
    for row in &rows {
        let file = row.get(0).unwrap_or_default().to_string();
        let engine = engines.entry(file.clone()).or_insert_with(|| engine_for(&file));
        let class = row.get(1).unwrap_or_default();
        if class.is_empty() {
            continue;
        }
        c.rows += 1;
        let status = row.get(15).unwrap_or_default();
        // RateParser computes no bill when it fails, and gives NA (no
        // error) for some structures it cannot handle (one-tier maps).
        let reference_bill = row.get(12).unwrap_or_default();
        let reference_ok = status.starts_with("ok") && (reference_bill != "NA" || status.contains("no 'bill'"));

        let ours = match engine {
            Ok(e) => e
                .decide("bill", &case_for(e, row, &header), &options)
                .map_err(|e| e.message),
            Err(m) => Err(format!("import: {m}")),
        };
        match (reference_ok, ours) {
            (true, Ok(det)) => {
                let reference = row.get(12).unwrap_or_default();
                let exact = det
                    .outputs
                    .get("bill")
                    .and_then(|v| v.as_str())
                    .and_then(|s| Decimal::from_str(s).ok());
                let same = match (cents(reference), det.total) {
                    (Some(r), Some(t)) => {
                        r == t
                            || exact
                                .zip(Decimal::from_str(reference).ok())
                                .is_some_and(|(e, r)| (e - r).abs() <= Decimal::new(1, 6) * Decimal::ONE.max(r.abs()))
                    }
                    (None, None) => reference.is_empty(),
                    _ => false,
                };
                if same {
                    c.matched += 1;
                } else {
                    c.differ += 1;
                    if differences.len() < 30 {
                        differences.push(format!(
                            "{file} {class} #{}: reference {reference}, ours {:?} ({exact:?})",
                            row.get(2).unwrap_or_default(),
                            det.total
                        ));
                    }
                }
            }
            (true, Err(m)) => {
                c.we_fail += 1;
                *failures.entry(format!("{file}: {m}")).or_default() += 1;
            }
            (false, Ok(_)) => c.beyond += 1,
            (false, Err(m)) => {
                both_fail += 1;
                let short: String = m.chars().take(160).collect();
                *both.entry(format!("{file}: {short}")).or_default() += 1;
            }
        }
    }
    c.files = engines.len();
    c.imported = engines.values().filter(|e| e.is_ok()).count();
    let not_imported: Vec<String> = engines
        .iter()
        .filter_map(|(f, e)| e.as_ref().err().map(|m| format!("{f}: {m}")))
        .collect();
    eprintln!(
        "OWRS corpus: {} of {} files imported; {} reference rows: {} match at the cent, {} differ, {} ratebook fails where RateParser computes, {} computed where RateParser fails, {} fail in both",
        c.imported, c.files, c.rows, c.matched, c.differ, c.we_fail, c.beyond, both_fail
    );
    for d in &differences {
        eprintln!("  differs: {d}");
    }
    let mut worst: Vec<_> = failures.iter().collect();
    worst.sort_by(|a, b| b.1.cmp(a.1));
    for (m, n) in worst.iter().take(40) {
        eprintln!("  fails ({n} rows): {m}");
    }
    let mut worst: Vec<_> = both.iter().collect();
    worst.sort_by(|a, b| b.1.cmp(a.1));
    for (m, n) in worst.iter().take(40) {
        eprintln!("  fails in both ({n} rows): {m}");
    }
    for m in not_imported.iter().take(60) {
        eprintln!("  not imported: {m}");
    }
    assert!(c.imported >= BASELINE.imported, "files imported fell to {}", c.imported);
    assert!(c.matched >= BASELINE.matched, "matching bills fell to {}", c.matched);
    // Every bill RateParser computes is matched: none differ, none fail.
    assert_eq!(c.differ, 0, "bills differ from RateParser's: {differences:#?}");
    assert_eq!(c.we_fail, 0, "ratebook fails where RateParser computes: {failures:#?}");
    assert!(
        c.beyond >= BASELINE.beyond,
        "rows computed beyond RateParser fell to {}",
        c.beyond
    );
    assert_eq!((c.files, c.rows), (BASELINE.files, BASELINE.rows), "the corpus changed");
}

/// A bill checked by hand (tests/owrs/curated.yaml).
#[derive(serde::Deserialize)]
struct Curated {
    file: String,
    case: serde_json::Value,
    bill: String,
    #[serde(default)]
    beyond: bool,
    why: String,
}

#[test]
fn curated_bills_match_the_hand_checked_figures() {
    let text = std::fs::read_to_string("tests/owrs/curated.yaml").expect("curated bills");
    let curated: Vec<Curated> = serde_saphyr::from_str(&text).expect("curated YAML");
    let utilities: std::collections::BTreeSet<&str> = curated
        .iter()
        .map(|c| c.file.split('/').nth(2).unwrap_or(&c.file))
        .collect();
    assert!(utilities.len() >= 15, "{} utilities", utilities.len());
    assert!(curated.iter().any(|c| c.beyond));
    let mut wrong = Vec::new();
    for c in &curated {
        let engine = engine_for(&c.file).unwrap_or_else(|e| panic!("{}: {e}", c.file));
        let case = Case::from_value(&c.file, c.case.clone());
        match engine.decide("bill", &case, &Options::default()) {
            Ok(det) if det.total.map(|t| t.to_string()) == Some(c.bill.clone()) => {
                // The explanation shows where each figure came from.
                assert!(
                    det.trace
                        .iter()
                        .any(|s| serde_json::to_string(s).unwrap_or_default().contains("OWRS file"))
                );
            }
            Ok(det) => wrong.push(format!(
                "{} {}: {:?}, by hand {} ({})",
                c.file, c.case, det.total, c.bill, c.why
            )),
            Err(e) => wrong.push(format!("{} {}: {}", c.file, c.case, e.message)),
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}

/// `ratebook import owrs` and an imported pack through the other commands.
mod cli {
    use std::process::{Command, Output};

    const SMC: &str =
        "tests/data/owrs/full_utility_rates/California/Santa Monica City of - 2581/Older/smc-2016-03-01.owrs";

    fn ratebook(args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_ratebook"))
            .args(args)
            .output()
            .expect("runs")
    }

    fn import(file: &str, out: &str) -> Output {
        ratebook(&["import", "owrs", file, "--out", out])
    }

    fn text(b: &[u8]) -> String {
        String::from_utf8_lossy(b).into_owned()
    }

    fn imported(dir: &std::path::Path) -> String {
        let out = dir.to_string_lossy().to_string();
        let o = import(SMC, &out);
        assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
        assert!(text(&o.stderr).contains("6 class(es)"), "{}", text(&o.stderr));
        out
    }

    fn temp(name: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("ratebook-owrs-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn an_imported_pack_works_with_every_command() {
        let dir = temp("all");
        let pack = imported(&dir);
        // A second import into the same folder needs --force.
        let again = import(SMC, &pack);
        assert_ne!(again.status.code(), Some(0));
        assert!(text(&again.stderr).contains("--force"), "{}", text(&again.stderr));
        assert_eq!(
            ratebook(&["import", "owrs", SMC, "--out", &pack, "--force"])
                .status
                .code(),
            Some(0)
        );

        let case = dir.join("case.json");
        std::fs::write(&case, r#"{"cust_class": "RESIDENTIAL_SINGLE", "usage_ccf": 27.3}"#).expect("case");
        let o = ratebook(&[
            "decide",
            "bill",
            &case.to_string_lossy(),
            "--pack",
            &pack,
            "--format",
            "json",
        ]);
        let det: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
        assert_eq!(det["total"], "97.24");
        assert_eq!(det["lines"][1]["quantity"], "13.3");
        assert_eq!(det["lines"][1]["unit"], "ccf");

        // The analyst's own tests run against the imported pack.
        std::fs::create_dir_all(dir.join("tests")).expect("tests dir");
        std::fs::write(
            dir.join("tests/bills.yaml"),
            "decision: bill\ncases:\n  - name: four tiers, by hand 14 x 2.87 + 13.3 x 4.29\n    case: { cust_class: RESIDENTIAL_SINGLE, usage_ccf: 27.3 }\n    expect: { total: \"97.24\", outputs: { commodity_charge: \"97.237\" } }\n  - name: recycled irrigation\n    case: { cust_class: IRRIGATION, usage_ccf: 300, meter_size: \"5/8\\\"\", water_type: RECYCLED }\n    expect: { total: \"1098.00\" }\n",
        )
        .expect("tests");
        let o = ratebook(&["test", &pack]);
        assert_eq!(o.status.code(), Some(0), "{}{}", text(&o.stdout), text(&o.stderr));
        assert!(text(&o.stdout).contains("2 passed, 0 failed"), "{}", text(&o.stdout));

        let o = ratebook(&["params", &pack]);
        assert!(
            text(&o.stdout).contains("RESIDENTIAL_SINGLE.tier_prices.2"),
            "{}",
            text(&o.stdout)
        );
        let o = ratebook(&["check", &pack]);
        assert_eq!(o.status.code(), Some(0), "{}", text(&o.stdout));
        assert!(
            text(&o.stdout).contains("0 error(s), 0 warning(s)"),
            "{}",
            text(&o.stdout)
        );

        // A proposal: the second residential tier from 4.29 to 4.50.
        let proposed = temp("proposed");
        let proposed_s = imported(&proposed);
        let params = proposed.join("params/owrs.yaml");
        let text_params = std::fs::read_to_string(&params).expect("params");
        let changed = text_params.replacen(
            "value: \"4.29\", source: \"OWRS file smc-2016-03-01.owrs, rate_structure.RESIDENTIAL_SINGLE",
            "value: \"4.50\", source: \"OWRS file smc-2016-03-01.owrs, rate_structure.RESIDENTIAL_SINGLE",
            1,
        );
        assert_ne!(changed, text_params);
        std::fs::write(&params, changed).expect("write");
        let o = ratebook(&["diff", &pack, &proposed_s]);
        assert!(
            text(&o.stdout).contains("RESIDENTIAL_SINGLE.tier_prices.2"),
            "{}",
            text(&o.stdout)
        );

        let accounts = dir.join("accounts.csv");
        std::fs::write(
            &accounts,
            "id,cust_class,meter_size,water_type,usage_ccf\nA1,RESIDENTIAL_SINGLE,,,27.3\nA2,RESIDENTIAL_SINGLE,,,10\nA3,IRRIGATION,5/8\",POTABLE,10\nA4,IRRIGATION,7/8\",POTABLE,10\n",
        )
        .expect("accounts");
        let acc = accounts.to_string_lossy().to_string();
        let o = ratebook(&[
            "batch",
            "--accounts",
            &acc,
            "--pack",
            &pack,
            "--decision",
            "bill",
            "--format",
            "csv",
        ]);
        assert_eq!(o.status.code(), Some(2), "a bad row makes exit 2: {}", text(&o.stderr));
        let rows = text(&o.stdout);
        assert!(
            rows.starts_with("row,id,outcome,commodity_charge,total,error\n"),
            "{rows}"
        );
        assert!(rows.contains("\n2,A1,computed,97.24,97.24,\n"), "{rows}");
        assert!(rows.contains("\n4,A3,computed,40.70,40.70,\n"), "{rows}");
        assert!(rows.contains("\n5,A4,,,,\"ratebook::case::unknown_key: "), "{rows}");
        let o = ratebook(&["batch", "--accounts", &acc, "--pack", &pack, "--decision", "bill"]);
        assert_eq!(text(&o.stdout).lines().count(), 4);

        let o = ratebook(&[
            "impact",
            "--base",
            &pack,
            "--proposed",
            &proposed_s,
            "--accounts",
            &acc,
            "--format",
            "json",
        ]);
        let impact: serde_json::Value =
            serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&o.stderr)));
        assert_eq!(impact["pay_more"], 1, "{impact}");
        assert_eq!(impact["errors"], 1, "{impact}");
        let _ = std::fs::remove_dir_all(&dir);
        let _ = std::fs::remove_dir_all(&proposed);
    }

    #[test]
    fn a_file_that_cannot_be_imported_says_what_and_where() {
        let dir = temp("bad");
        std::fs::create_dir_all(&dir).expect("dir");
        let bad_yaml = dir.join("bad.owrs");
        std::fs::write(
            &bad_yaml,
            "metadata:\n  effective_date: 2016-03-01\nrate_structure:\n  A: [\n",
        )
        .expect("write");
        let o = import(&bad_yaml.to_string_lossy(), &dir.join("p1").to_string_lossy());
        assert_eq!(o.status.code(), Some(3), "{}", text(&o.stderr));
        assert!(text(&o.stderr).contains("ratebook::owrs::yaml"), "{}", text(&o.stderr));
        assert!(text(&o.stderr).contains("bad.owrs:"), "{}", text(&o.stderr));

        let no_date = dir.join("no-date.owrs");
        std::fs::write(
            &no_date,
            "metadata:\n  utility_name: X\nrate_structure:\n  A:\n    bill: 1\n",
        )
        .expect("write");
        let o = import(&no_date.to_string_lossy(), &dir.join("p2").to_string_lossy());
        assert_ne!(o.status.code(), Some(0));
        assert!(text(&o.stderr).contains("effective_date"), "{}", text(&o.stderr));

        // A field that cannot be imported is named with its line; the class
        // still imports and a bill that does not use it is computed.
        let partial = dir.join("partial.owrs");
        std::fs::write(
            &partial,
            "metadata:\n  effective_date: 07/01/2017\nrate_structure:\n  A:\n    flat_rate: 2\n    broken: flat_rate flat_rate\n    bill: flat_rate*usage_ccf\n",
        )
        .expect("write");
        let p3 = dir.join("p3").to_string_lossy().to_string();
        let o = import(&partial.to_string_lossy(), &p3);
        assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
        assert!(
            text(&o.stderr).contains("line 6, class A, field `broken`"),
            "{}",
            text(&o.stderr)
        );
        let case = dir.join("case.json");
        std::fs::write(&case, r#"{"cust_class": "A", "usage_ccf": 5}"#).expect("case");
        let o = ratebook(&[
            "decide",
            "bill",
            &case.to_string_lossy(),
            "--pack",
            &p3,
            "--format",
            "json",
        ]);
        let det: serde_json::Value =
            serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&o.stderr)));
        assert_eq!(det["total"], "10.00");
        assert_eq!(det["as_of"], "2017-07-01");
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// Real files cut and spliced at random: the import and every bill it makes
/// answer with a pack or an error, never a panic.
mod mangled {
    use super::*;
    use proptest::prelude::*;

    const FILES: [&str; 4] = [
        "full_utility_rates/California/Santa Monica City of - 2581/Older/smc-2016-03-01.owrs",
        "full_utility_rates/California/Santa Margarita Water District - 2578/Older/smwd-2016-01-01.owrs",
        "full_utility_rates/California/Indio  City Of - 1397/01-01-2018.owrs",
        "full_utility_rates/California/Hayward  City of - 1294/Hayward-2016-10-01.owrs",
    ];

    proptest! {
        #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

        #[test]
        fn a_mangled_file_never_panics(
            which in 0usize..4,
            cut in 0usize..4000,
            len in 0usize..200,
            insert in "[ -~\n]{0,40}",
            usage in 0u32..500,
        ) {
            let text = std::fs::read_to_string(format!("{CORPUS}/{}", FILES[which])).expect("file");
            let bytes = text.as_bytes();
            let at = cut.min(bytes.len());
            let end = (at + len).min(bytes.len());
            let mut mangled = bytes[..at].to_vec();
            mangled.extend_from_slice(insert.as_bytes());
            mangled.extend_from_slice(&bytes[end..]);
            let mangled = String::from_utf8_lossy(&mangled).into_owned();
            if let Ok(imported) = ratebook::owrs::import("mangled.owrs", &mangled)
                && let Ok(pack) = Pack::load(&MemoryLoader::new(imported.files.clone()), ".")
                && let Ok(engine) = Engine::new(pack)
            {
                let schema = engine.schema("bill").expect("a formula decision");
                for class in &imported.classes {
                    // Only the fields this decision takes, so the formulas run.
                    let all = serde_json::json!({
                        "cust_class": class, "usage_ccf": usage, "meter_size": "5/8\"",
                        "water_type": "POTABLE", "hhsize": 3, "et_amount": 4, "irr_area": 1000,
                        "days_in_period": 30, "city_limits": "inside_city", "domestic_type": "domestic",
                    });
                    let case: serde_json::Map<String, serde_json::Value> = all
                        .as_object()
                        .expect("a map")
                        .iter()
                        .filter(|(k, _)| schema.field(k).is_some())
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect();
                    let case = Case::from_value("mangled", serde_json::Value::Object(case));
                    let _ = engine.decide("bill", &case, &Options::default());
                }
            }
        }
    }
}

/// Formula decisions written by hand: the pack format's own example, a
/// formula overridden by an input, and the mistakes a pack can make.
mod formula_decisions {
    use super::*;

    fn pack(formulas: &str, inputs: &str) -> Result<Engine, String> {
        let mut files = ratebook::pack::Files::new();
        files.insert(
            "pack.yaml".into(),
            "id: f\ntitle: f\nversion: \"1\"\ndecisions: [bill]\n".into(),
        );
        files.insert("citations.yaml".into(), "rates: { title: the rates }\n".into());
        files.insert(
            "params/rates.yaml".into(),
            "service:\n  description: service charge by meter\n  unit: USD\n  key: meter_size\n  keys: ['5/8\"', '1 1/2\"']\n  values:\n    - { from: 2016-03-01, status: published, value: { '5/8\"': \"10.00\", '1 1/2\"': \"25.00\" }, source: the rate sheet }\n".into(),
        );
        files.insert(
            "decisions/bill.yaml".into(),
            format!("title: a bill\ncite: rates\ninputs:\n{inputs}formulas:\n{formulas}"),
        );
        let pack = Pack::load(&MemoryLoader::new(files), ".").map_err(|e| e.message)?;
        Engine::new(pack).map_err(|e| e.message)
    }

    const INPUTS: &str =
        "  usage_ccf: { type: number }\n  meter_size: { type: text }\n  days: { type: number, required: false }\n";

    fn bill(engine: &Engine, case: serde_json::Value) -> Result<ratebook::Determination<'_>, String> {
        engine
            .decide("bill", &Case::from_value("case", case), &Options::default())
            .map_err(|e| e.message)
    }

    #[test]
    fn a_formula_decision_bills_from_its_formulas() {
        let engine = pack(
            "  total: bill\n  effective: 2016-03-01\n  sets:\n    all:\n      - { name: bill, expr: \"service + commodity * days / 30\" }\n      - { name: service, expr: \"service[size_key(meter_size)]\", line: Service }\n      - { name: commodity, expr: \"tiered(usage_ccf, [0, 15, 41], [2.87, 4.29, 6.44])\", line: Commodity, unit: ccf }\n      - { name: days, expr: \"30\" }\n",
            INPUTS,
        )
        .expect("compiles");
        // Forward references; `1|1/2"` matches `1 1/2"`; 14 x 2.87 + 13.3 x 4.29 = 97.237.
        let det = bill(&engine, serde_json::json!({"usage_ccf": 27.3, "meter_size": "1|1/2\""})).expect("bills");
        assert_eq!(det.total.map(|t| t.to_string()).as_deref(), Some("122.24"));
        assert_eq!(det.lines.len(), 3, "the service line and two tiers");
        assert_eq!(det.outputs.get("commodity").and_then(|v| v.as_str()), Some("97.237"));
        // A given input stands in for the formula of its name: 60 days.
        let det = bill(
            &engine,
            serde_json::json!({"usage_ccf": 27.3, "meter_size": "5/8\"", "days": 60}),
        )
        .expect("bills");
        assert_eq!(det.total.map(|t| t.to_string()).as_deref(), Some("204.47"));
        // A key not in the table is the case's error, naming the keys.
        let e = bill(&engine, serde_json::json!({"usage_ccf": 1, "meter_size": "3/4\""})).expect_err("no such meter");
        assert!(e.contains("`3/4\"` is not a key of `service`"), "{e}");
    }

    #[test]
    fn a_broken_formula_decision_is_refused_naming_the_formula() {
        let set = |f: &str| format!("  total: bill\n  effective: 2016-03-01\n  sets:\n    all:\n{f}");
        let e = pack(
            &set("      - { name: bill, expr: \"a + 1\" }\n      - { name: a, expr: \"bill * 2\" }\n"),
            INPUTS,
        )
        .expect_err("a circle");
        assert!(e.contains("`bill`, `a`") && e.contains("circle"), "{e}");
        let e = pack(&set("      - { name: bill, expr: \"usage_ccf * rate\" }\n"), INPUTS).expect_err("unknown name");
        assert!(
            e.contains("`rate` is not a formula of this set, an input or a parameter"),
            "{e}"
        );
        let e = pack(&set("      - { name: bill, expr: \"usage_ccf *\" }\n"), INPUTS).expect_err("syntax");
        assert!(e.contains("formula `bill`"), "{e}");
        let e =
            pack(&set("      - { name: bill, expr: \"sqrt(usage_ccf)\" }\n"), INPUTS).expect_err("unknown function");
        assert!(e.contains("`sqrt(...)` is not a function here"), "{e}");
    }
}
