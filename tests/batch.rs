//! `ratebook batch`: with 5% bad rows of every kind, every input row
//! appears in the output exactly once, in input order, the same bytes on
//! one thread and on two.

use std::process::Command;

fn csv_with_bad_rows(n: usize) -> (Vec<u8>, usize) {
    let mut out =
        b"id,account.id,account.class,account.billing_frequency,period.from,period.to,usage_ccf,winter_average_ccf\n"
            .to_vec();
    let mut bad = 0;
    for i in 1..=n {
        let row: Vec<u8> = if i % 20 == 0 {
            bad += 1;
            match (i / 20) % 6 {
                0 => format!("{i},A-{i},residental,quarterly,2023-09-01,2023-11-30,12,\n").into_bytes(),
                1 => format!("{i},A-{i},residential,quarterly,2023-02-30,2023-11-30,12,\n").into_bytes(),
                2 => format!("{i},A-{i},residential,quarterly\n").into_bytes(),
                3 => format!("{i},A-{i},residential,quarterly,2023-09-01,2023-11-30,-4,\n").into_bytes(),
                4 => {
                    let mut r = format!("{i},A-{i},resid").into_bytes();
                    r.push(0xff);
                    r.extend_from_slice(b"ential,quarterly,2023-09-01,2023-11-30,12,\n");
                    r
                }
                _ => format!("{i},A-{i},residential,monthly,2023-09-01,2023-11-30,12,\n").into_bytes(),
            }
        } else if i % 20 == 10 {
            // Rows written unusually: padded cells, white space that is not
            // ASCII, a number in scientific notation; and `true` as an id,
            // which CSV cells read as a yes/no, not text: a bad row.
            if (i / 20) % 4 == 3 {
                bad += 1;
            }
            match (i / 20) % 4 {
                0 => format!("{i}, A-{i} ,residential , quarterly,2023-09-01 , 2023-11-30, 12 ,7\n"),
                1 => format!("{i},\u{a0}A-{i}\u{a0},residential,quarterly,2023-09-01,2023-11-30,12,7\n"),
                2 => format!("{i},A-{i},residential,quarterly,2023-09-01,2023-11-30,1.2e1,7\n"),
                _ => format!("{i},true,residential,quarterly,2023-09-01,2023-11-30,12,7\n"),
            }
            .into_bytes()
        } else {
            format!(
                "{i},A-{i},residential,quarterly,2023-09-01,2023-11-30,{},{}\n",
                i % 40,
                5 + i % 15
            )
            .into_bytes()
        };
        out.extend(row);
    }
    (out, bad)
}

/// `n` accounts with 5% bad rows written to `accounts.csv` in a fresh
/// folder named for the test: the folder, the file and how many are bad.
fn accounts_file(test: &str, n: usize) -> (std::path::PathBuf, std::path::PathBuf, usize) {
    let dir = std::env::temp_dir().join(format!("ratebook-batch-{test}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let (csv, bad) = csv_with_bad_rows(n);
    let path = dir.join("accounts.csv");
    std::fs::write(&path, &csv).expect("writes");
    (dir, path, bad)
}

fn batch(path: &str, threads: &str) -> (Option<i32>, Vec<u8>, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_ratebook"))
        .args(["batch", "--accounts", path, "--decision", "bill", "--threads", threads])
        .output()
        .expect("runs");
    (
        o.status.code(),
        o.stdout,
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn every_row_appears_exactly_once_in_order_whatever_the_thread_count() {
    let n = 10_000;
    let (dir, path, bad) = accounts_file("order", n);
    assert_eq!(bad, n / 20 + n / 80, "5% bad rows, and 1.25% with `true` as an id");
    let path = path.to_str().expect("utf-8");
    let (code1, out1, err1) = batch(path, "1");
    let (code2, out2, _) = batch(path, "2");
    assert_eq!(code1, Some(2), "bad rows make exit 2: {err1}");
    assert_eq!(code2, Some(2));
    assert_eq!(out1, out2, "the same bytes on one thread and two");
    assert!(
        err1.contains(&format!("{n} rows: {} decided, {bad} errors", n - bad)),
        "{err1}"
    );

    let lines: Vec<serde_json::Value> = out1
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).expect("each line is JSON"))
        .collect();
    assert_eq!(lines.len(), n, "one line per input row");
    for (k, line) in lines.iter().enumerate() {
        let i = k + 1;
        if i % 20 == 0 {
            assert_eq!(
                line["row"],
                i + 1,
                "an error record names its row (the header is row 1)"
            );
            assert_eq!(line["id"], i.to_string());
            assert!(
                line["error"]["code"]
                    .as_str()
                    .is_some_and(|c| c.starts_with("ratebook::")),
                "{line}"
            );
        } else if i % 80 == 70 {
            assert_eq!(line["row"], i + 1, "`true` as an id is a bad row: {line}");
        } else {
            assert_eq!(line["outputs"]["account.id"], format!("A-{i}"), "row {i} in its place");
            assert_eq!(line["trace"], serde_json::json!([]), "no trace without --trace");
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn json_lines_in_with_bad_lines_keep_every_row() {
    let dir = std::env::temp_dir().join(format!("ratebook-batch-jsonl-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let good = r#"{"account": {"id": "J-1", "class": "residential", "billing_frequency": "quarterly"}, "period": {"from": "2023-09-01", "to": "2023-11-30"}, "usage_ccf": 15}"#;
    let mut text = Vec::new();
    text.extend_from_slice(good.as_bytes());
    text.extend_from_slice(b"\n{\"account\": \n");
    text.extend_from_slice(b"\n");
    text.extend_from_slice(&[b'{', 0xfe, b'}', b'\n']);
    text.extend_from_slice(good.replace("J-1", "J-5").as_bytes());
    text.extend_from_slice(b"\n");
    let path = dir.join("cases.jsonl");
    std::fs::write(&path, &text).expect("writes");
    let (code, out, _) = batch(path.to_str().expect("utf-8"), "2");
    assert_eq!(code, Some(2));
    let lines: Vec<serde_json::Value> = String::from_utf8(out)
        .expect("utf-8")
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON"))
        .collect();
    assert_eq!(lines.len(), 4, "blank lines are not rows; every other line is");
    assert_eq!(lines[0]["outputs"]["account.id"], "J-1");
    assert_eq!(
        (lines[1]["row"].as_u64(), lines[1]["error"]["code"].as_str()),
        (Some(2), Some("ratebook::case::syntax"))
    );
    assert_eq!(
        (lines[2]["row"].as_u64(), lines[2]["error"]["code"].as_str()),
        (Some(4), Some("ratebook::case::not_utf8"))
    );
    assert_eq!(lines[3]["outputs"]["account.id"], "J-5");
    let _ = std::fs::remove_dir_all(&dir);
}

/// More lines than two chunks hold, long and short by turns, so rows are
/// read into buffers that held other rows before: each row is its own.
#[test]
fn json_lines_read_through_reused_buffers_are_each_their_own() {
    let dir = std::env::temp_dir().join(format!("ratebook-batch-reuse-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let n = 9_000;
    let mut text = String::new();
    for i in 1..=n {
        if i % 1000 == 0 {
            text.push_str("{\"account\": \n");
            continue;
        }
        let pad = " ".repeat((i % 7) * 60);
        text.push_str(&format!(
            r#"{{"account": {{"id": "J-{i}", "class": "residential", "billing_frequency": "quarterly"}},{pad} "period": {{"from": "2023-09-01", "to": "2023-11-30"}}, "usage_ccf": {}}}"#,
            i % 30
        ));
        text.push('\n');
    }
    let path = dir.join("cases.jsonl");
    std::fs::write(&path, &text).expect("writes");
    let (code, out, err) = batch(path.to_str().expect("utf-8"), "2");
    assert_eq!(code, Some(2), "{err}");
    let lines: Vec<serde_json::Value> = String::from_utf8(out)
        .expect("utf-8")
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON"))
        .collect();
    assert_eq!(lines.len(), n);
    for (k, line) in lines.iter().enumerate() {
        let i = k + 1;
        if i % 1000 == 0 {
            assert_eq!(line["row"].as_u64(), Some(i as u64), "{line}");
        } else {
            assert_eq!(line["outputs"]["account.id"], format!("J-{i}"));
            let volume = &line["lines"][0];
            assert_eq!(volume["id"], "water.volume");
            assert_eq!(volume["quantity"], (i % 30).to_string(), "row {i}");
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn csv_output_has_a_row_per_account_with_each_line_and_the_error() {
    let (dir, path, _) = accounts_file("csv", 40);
    let o = batch_as(&path, "csv");
    let text = String::from_utf8(o.stdout).expect("utf-8");
    let mut rows = csv::Reader::from_reader(text.as_bytes());
    let header: Vec<String> = rows.headers().expect("a header").iter().map(str::to_string).collect();
    assert_eq!(
        header,
        [
            "row",
            "id",
            "outcome",
            "water.volume",
            "water.base",
            "sewer.volume",
            "stormwater",
            "harbor.volume",
            "harbor.area",
            "discount.clean_river_rewards",
            "discount.low_income",
            "total",
            "error"
        ]
    );
    let records: Vec<csv::StringRecord> = rows.records().map(|r| r.expect("a record")).collect();
    assert_eq!(records.len(), 40, "one row per account");
    let first = &records[0];
    assert_eq!((&first[0], &first[1], &first[2]), ("2", "1", "computed"));
    // 1 ccf: water 7.01, base 63.57, sewer on the lesser of 1 and 6 = 1 ccf: 12.96.
    assert_eq!((&first[3], &first[4], &first[5]), ("7.01", "63.57", "12.96"));
    let bad = &records[19];
    assert_eq!((&bad[1], &bad[2], &bad[11]), ("20", "", ""));
    assert!(bad[12].starts_with("ratebook::"), "{:?}", bad);
    let _ = std::fs::remove_dir_all(&dir);
}

#[path = "../benches/bench_data.rs"]
mod bench_data;

const SAMPLE_ACCOUNTS: &str = "tests/data/bench-sample/accounts.csv";
const SAMPLE_EXPECTED: &str = "tests/data/bench-sample/expected.csv";

/// The first 2,000 bills of the shared one-million-bill benchmark (505 of
/// them across a July 1), every line to the cent, with the overlay pack of
/// the benchmark's figures; `examples/differential.rs` runs the million.
#[test]
fn the_benchmark_sample_is_reproduced_to_the_cent() {
    let engine =
        ratebook::Engine::new(ratebook::Pack::load(&ratebook::pack::FolderLoader, "benches/overlay").unwrap()).unwrap();
    let mut accounts = csv::Reader::from_path(SAMPLE_ACCOUNTS).unwrap();
    let mut expected = csv::Reader::from_path(SAMPLE_EXPECTED).unwrap();
    let options = ratebook::Options {
        as_of: None,
        trace: false,
    };
    let mut n = 0;
    for (a, e) in accounts.records().zip(expected.records()) {
        let (a, e) = (a.unwrap(), e.unwrap());
        assert_eq!(a.get(0), e.get(0));
        let det = engine.decide("bill", &bench_data::case(&a, "row"), &options).unwrap();
        let (got, want) = bench_data::compare(&det, &e);
        assert_eq!(got, want, "account {}", a.get(0).unwrap());
        n += 1;
    }
    assert_eq!(n, 2000);
}

/// `ratebook batch --format csv` over the benchmark sample, read through
/// `benches/bench-columns.yaml`.
fn bench_sample_batch() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ratebook"));
    command
        .args([
            "batch",
            "--decision",
            "bill",
            "--pack",
            "benches/overlay",
            "--format",
            "csv",
        ])
        .args(["--columns", "benches/bench-columns.yaml", "--accounts", SAMPLE_ACCOUNTS]);
    command
}

/// The same sample through `ratebook batch --format csv`, end to end,
/// reading the benchmark's own columns through `benches/bench-columns.yaml`.
#[test]
fn batch_csv_reproduces_the_benchmark_sample() {
    let out = bench_sample_batch().output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let mut results = csv::Reader::from_reader(&out.stdout[..]);
    assert_eq!(
        results.headers().unwrap(),
        vec![
            "row",
            "id",
            "outcome",
            "water.volume",
            "water.base",
            "sewer.volume",
            "total",
            "error"
        ]
    );
    let mut expected = csv::Reader::from_path(SAMPLE_EXPECTED).unwrap();
    let money = |s: &str| {
        if s.is_empty() {
            "0.00".to_string()
        } else {
            s.to_string()
        }
    };
    let mut n = 0;
    for (r, e) in results.records().zip(expected.records()) {
        let (r, e) = (r.unwrap(), e.unwrap());
        assert_eq!(&r[1], &e[0]);
        assert_eq!(
            [money(&r[4]), money(&r[3]), money(&r[5]), r[6].to_string()],
            [&e[1], &e[2], &e[3], &e[4]],
            "account {}",
            &e[0]
        );
        n += 1;
    }
    assert_eq!(n, 2000);
}

#[test]
fn a_column_map_names_what_it_cannot_read() {
    let dir = std::env::temp_dir().join(format!("ratebook-batch-columns-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let map = dir.join("columns.yaml");
    let run = |map_text: &str| {
        std::fs::write(&map, map_text).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_ratebook"))
            .args(["batch", "--decision", "bill", "--pack", "benches/overlay", "--columns"])
            .arg(&map)
            .args(["--accounts", SAMPLE_ACCOUNTS])
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let good = std::fs::read_to_string("benches/bench-columns.yaml").unwrap();

    let (code, _, err) = run(&good.replace("usage_ccf: usage_ccf", "usage_ccf: usage"));
    assert_eq!(code, Some(2));
    assert!(err.contains("`usage_ccf` reads the column `usage`, which"), "{err}");

    let (code, _, err) = run(&good.replace("{ column: has_sewer,", "{ colum: has_sewer,"));
    assert_eq!(code, Some(2));
    assert!(err.contains("unknown key `colum`"), "{err}");

    // A cell the map has no value for is that row's error; the rest go on.
    let (code, out, _) = run(&good.replace(r#""0": commercial"#, r#""9": commercial"#));
    assert_eq!(code, Some(2), "some rows were bad");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2000, "every row is in the output");
    let bad: Vec<&&str> = lines.iter().filter(|l| l.contains("\"error\"")).collect();
    assert!(!bad.is_empty());
    assert!(
        bad[0].contains(
            "column `is_residential` holds `0`, which the column map does not give a value for `account.class`"
        ),
        "{}",
        bad[0]
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// `ratebook batch ... | head`: the reader going away ends the run quietly.
#[test]
fn a_reader_that_goes_away_is_not_an_error() {
    use std::io::BufRead;
    let mut child = bench_sample_batch()
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(first.starts_with("row,id,outcome"));
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("Broken pipe"), "{stderr}");
}

/// `ratebook batch` over a file of Portland bills, in a format.
fn batch_as(path: &std::path::Path, format: &str) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_ratebook"))
        .args([
            "batch",
            "--accounts",
            path.to_str().expect("utf-8"),
            "--decision",
            "bill",
            "--format",
            format,
        ])
        .output()
        .expect("runs")
}

/// CSV output reads rows straight into facts; JSON Lines output makes a case
/// of each. Both must judge every row alike: the same rows fail, with the
/// same codes, and the same totals.
#[test]
fn rows_read_into_facts_are_judged_as_cases_are() {
    let (dir, path, bad) = accounts_file("direct", 400);
    let run = |format: &str| String::from_utf8(batch_as(&path, format).stdout).expect("utf-8");
    let jsonl: Vec<serde_json::Value> = run("jsonl")
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    let csv_out = run("csv");
    let mut rows = csv::Reader::from_reader(csv_out.as_bytes());
    let records: Vec<csv::StringRecord> = rows.records().map(|r| r.expect("a record")).collect();
    assert_eq!(records.len(), jsonl.len());
    let mut failed = 0;
    for (r, j) in records.iter().zip(&jsonl) {
        match j.get("error") {
            Some(e) => {
                failed += 1;
                let code = e["code"].as_str().expect("code");
                assert!(r[12].starts_with(code), "row {}: csv {:?}, jsonl {code}", &r[0], &r[12]);
            }
            None => assert_eq!(Some(&r[11]), j["total"].as_str(), "row {}", &r[0]),
        }
    }
    assert_eq!(failed, bad);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Credits computed from earlier lines (Clean River Rewards, registered
/// part-way through a period) and the low-income discount come out the same
/// from facts (CSV) as from cases (JSON Lines), line by line. Later rows
/// leave empty cells an earlier row filled: read into a worker's reused
/// facts, each must get the field's default, not the row before's.
#[test]
fn credits_from_earlier_lines_are_the_same_from_facts_and_from_cases() {
    let dir = std::env::temp_dir().join(format!("ratebook-batch-credits-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("accounts.csv");
    std::fs::write(
        &path,
        "id,account.id,account.class,account.billing_frequency,period.from,period.to,usage_ccf,winter_average_ccf,account.clean_river_rewards_pct,account.clean_river_rewards_since,account.low_income_tier\n\
         1,A-1,residential,quarterly,2023-09-01,2023-11-30,15,12,100,2023-10-15,1\n\
         2,A-2,residential,quarterly,2023-09-01,2023-11-30,15,12,50,,\n\
         3,A-3,residential,quarterly,2023-10-01,2023-11-30,15,12,,,2\n\
         4,A-4,residential,quarterly,2023-09-01,2023-11-30,15,12,100,2023-12-15,\n",
    )
    .expect("writes");
    let csv_out = String::from_utf8(batch_as(&path, "csv").stdout).expect("utf-8");
    let jsonl = String::from_utf8(batch_as(&path, "jsonl").stdout).expect("utf-8");
    let mut rows = csv::Reader::from_reader(csv_out.as_bytes());
    let headers = rows.headers().expect("header").clone();
    let records: Vec<csv::StringRecord> = rows.records().map(|r| r.expect("a record")).collect();
    let cases: Vec<serde_json::Value> = jsonl.lines().map(|l| serde_json::from_str(l).expect("json")).collect();
    assert_eq!(records.len(), 4);
    for (r, case) in records.iter().zip(&cases) {
        assert_eq!(
            Some(&r[headers.len() - 2]),
            case["total"].as_str(),
            "total, row {}",
            &r[0]
        );
        for line in ["discount.clean_river_rewards", "discount.low_income"] {
            let at = headers.iter().position(|h| h == line).expect("a column per line");
            let from_case: rust_decimal::Decimal = case["lines"]
                .as_array()
                .expect("lines")
                .iter()
                .filter(|l| l["id"] == line)
                .map(|l| {
                    l["amount"]
                        .as_str()
                        .expect("amount")
                        .parse::<rust_decimal::Decimal>()
                        .expect("money")
                })
                .sum();
            let from_facts: rust_decimal::Decimal = if r[at].is_empty() {
                rust_decimal::Decimal::ZERO
            } else {
                r[at].parse().expect("money")
            };
            assert_eq!(from_facts, from_case, "{line}, row {}", &r[0]);
        }
    }
    assert!(
        records.first().is_some_and(|r| !r[headers
            .iter()
            .position(|h| h == "discount.clean_river_rewards")
            .expect("column")]
        .is_empty()),
        "row 1 has its credit"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
