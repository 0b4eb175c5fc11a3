//! The HTTP API in process: status codes and error envelopes, the decision
//! log, tokens, limits, reloads, and the OpenAPI document (committed, and
//! true of real responses).

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use ratebook::serve::audit::AuditLog;
use ratebook::serve::{Limits, PackSource, Served, State, router};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tower::ServiceExt;

const BILL: &str = r#"{"account":{"id":"A-2001","class":"residential","billing_frequency":"quarterly"},"period":{"from":"2023-09-01","to":"2023-11-30"},"usage_ccf":15,"winter_average_ccf":12}"#;

/// A bill across July 1, 2024, which needs FY24-25 figures the pack lacks.
const BILL_FY2425: &str = r#"{"account":{"class":"residential","billing_frequency":"quarterly"},"period":{"from":"2024-05-12","to":"2024-08-07"},"usage_ccf":15}"#;

struct Server {
    app: Router,
    state: Arc<State>,
    log: PathBuf,
    dir: PathBuf,
}

impl Server {
    fn start(name: &str, packs: Vec<PackSource>, tokens: &[(&str, &str)], limits: Limits) -> Server {
        let dir = std::env::temp_dir().join(format!("ratebook-serve-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let log = dir.join("audit.jsonl");
        let (audit, _) = AuditLog::open(&log).unwrap();
        let tokens: Vec<(String, String)> = tokens.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect();
        let state = Arc::new(State::new(Served::load(&packs).unwrap(), packs, audit, &tokens, limits));
        Server {
            app: router(state.clone()),
            state,
            log,
            dir,
        }
    }

    fn portland(name: &str) -> Server {
        Server::start(name, vec![PackSource::Embedded], &[], Limits::default())
    }

    async fn call(
        &self,
        method: &str,
        uri: &str,
        body: &str,
        headers: &[(&str, &str)],
    ) -> (StatusCode, HeaderMap, Vec<u8>) {
        let mut req = Request::builder().method(method).uri(uri);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let response = self
            .app
            .clone()
            .oneshot(req.body(Body::from(body.to_string())).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
        (status, headers, bytes.to_vec())
    }

    async fn json(&self, method: &str, uri: &str, body: &str) -> (StatusCode, Value) {
        let (status, headers, bytes) = self.call(method, uri, body, &[]).await;
        assert_eq!(
            headers.get("content-type").map(|v| v.to_str().unwrap()),
            Some("application/json"),
            "{uri}"
        );
        (status, serde_json::from_slice(&bytes).unwrap())
    }

    fn entries(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.log)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

#[tokio::test]
async fn a_bill_is_the_cli_determination_and_is_logged_before_it_is_answered() {
    let s = Server::portland("bill");
    let (status, headers, bytes) = s.call("POST", "/v1/packs/portland/decisions/bill", BILL, &[]).await;
    assert_eq!(status, StatusCode::OK);
    let id: u64 = headers["ratebook-decision-id"].to_str().unwrap().parse().unwrap();
    let served: Value = serde_json::from_slice(&bytes).unwrap();
    let cli = ratebook::api::decide(
        &ratebook::engine::Engine::new(ratebook::pack::Pack::portland().unwrap()).unwrap(),
        &ratebook::api::DecideRequest {
            decision: "bill",
            case_text: BILL,
            case_name: "the case",
            ..Default::default()
        },
        ratebook::render::Format::Json,
    )
    .unwrap();
    assert_eq!(served, serde_json::from_str::<Value>(&cli).unwrap());
    assert_eq!(served["total"], "423.15");
    assert!(!served["trace"].as_array().unwrap().is_empty());

    // The entry is on disk already: the response waited for it.
    let entries = s.entries();
    assert_eq!(entries.len(), 1);
    let e = &entries[0];
    assert_eq!(e["seq"], id);
    assert_eq!(e["operation"], "decide");
    assert_eq!(e["status"], 200);
    assert_eq!(e["determination"]["total"], "423.15");
    assert_eq!(e["determination"]["case"], serde_json::from_str::<Value>(BILL).unwrap());
    assert_eq!(e["determination"]["pack"], served["pack"]);
    assert_eq!(
        e["determination"]["trace"],
        json!([]),
        "the log leaves the trace to replay"
    );
    assert!(e["at"].as_str().unwrap().ends_with('Z'));

    // Without the trace, the same lines.
    let (status, lean) = s
        .json("POST", "/v1/packs/portland/decisions/bill?trace=false", BILL)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(lean["lines"], served["lines"]);
    assert_eq!(lean["trace"], json!([]));
    assert_eq!(s.entries()[1]["seq"], id + 1);

    // As known on a date: the same bill here, saying so; asked twice, the
    // second from the server's cache of such engines.
    for _ in 0..2 {
        let (status, known) = s
            .json("POST", "/v1/packs/portland/decisions/bill?known_at=2024-01-01", BILL)
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(known["known_at"], "2024-01-01");
        assert_eq!(known["lines"], served["lines"]);
    }
    assert_eq!(s.entries()[3]["known_at"], "2024-01-01");
}

#[tokio::test]
async fn bad_input_gets_the_error_envelope_and_the_right_status() {
    let s = Server::portland("errors");
    let cases: [(&str, &str, &str, StatusCode, &str); 9] = [
        (
            "POST",
            "/v1/packs/portland/decisions/bill",
            "{\"account\": ",
            StatusCode::BAD_REQUEST,
            "ratebook::case::syntax",
        ),
        (
            "POST",
            "/v1/packs/portland/decisions/bill",
            "{}",
            StatusCode::BAD_REQUEST,
            "ratebook::case::missing_field",
        ),
        (
            "POST",
            "/v1/packs/portland/decisions/bill?as_of=tuesday",
            BILL,
            StatusCode::BAD_REQUEST,
            "ratebook::serve::bad_query",
        ),
        (
            "POST",
            "/v1/packs/portland/decisions/bill?trce=false",
            BILL,
            StatusCode::BAD_REQUEST,
            "ratebook::serve::bad_query",
        ),
        (
            "POST",
            "/v1/packs/denver/decisions/bill",
            BILL,
            StatusCode::NOT_FOUND,
            "ratebook::serve::unknown_pack",
        ),
        (
            "POST",
            "/v1/packs/portland/decisions/bil",
            BILL,
            StatusCode::NOT_FOUND,
            "ratebook::decision::unknown",
        ),
        (
            "GET",
            "/v1/nothing/here",
            "",
            StatusCode::NOT_FOUND,
            "ratebook::serve::not_found",
        ),
        (
            "POST",
            "/v1/packs/portland/decisions/bill",
            BILL_FY2425,
            StatusCode::UNPROCESSABLE_ENTITY,
            "ratebook::params::unknown_value",
        ),
        (
            "POST",
            "/v1/packs/portland/decisions/bill/batch",
            "[1]",
            StatusCode::BAD_REQUEST,
            "ratebook::serve::bad_batch",
        ),
    ];
    for (method, uri, body, want, code) in cases {
        let (status, v) = s.json(method, uri, body).await;
        assert_eq!(
            (status, v["error"]["code"].as_str()),
            (want, Some(code)),
            "{method} {uri} {body}: {v}"
        );
    }
    let (_, v) = s.json("POST", "/v1/packs/portland/decisions/bill", BILL_FY2425).await;
    let missing: Vec<&str> = v["error"]["missing"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["param"].as_str().unwrap())
        .collect();
    assert!(
        missing.contains(&"water.base_per_day") && missing.contains(&"harbor.volume_rate"),
        "{missing:?}"
    );
    let (_, v) = s
        .json("POST", "/v1/packs/portland/decisions/bill", "{\"account\": ")
        .await;
    assert_eq!(v["error"]["locations"][0]["line"], 1, "{v}");
    // Every request that reached a decision is in the log, failures too.
    let logged: Vec<u64> = s.entries().iter().map(|e| e["status"].as_u64().unwrap()).collect();
    assert_eq!(logged, [400, 400, 404, 404, 422, 422, 400]);
    assert_eq!(s.entries()[0]["case"], "{\"account\": ");

    // A body that is not text, and no body at all: 400 with a code, logged.
    for (body, code) in [
        (vec![0xff, 0xfe, b'{'], "ratebook::case::not_utf8"),
        (Vec::new(), "ratebook::case::not_a_map"),
    ] {
        let response = s
            .app
            .clone()
            .oneshot(
                Request::builder()
                    .method("POST")
                    .uri("/v1/packs/portland/decisions/bill")
                    .body(Body::from(body))
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
        let v: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(v["error"]["code"], code, "{v}");
    }
    assert_eq!(s.entries().len(), 9);
}

#[tokio::test]
async fn limits_answer_413_and_503() {
    let dir = std::env::temp_dir().join(format!("ratebook-loop-pack-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    copy_dir(Path::new("tests/packs/scripted"), &dir);
    let pack_yaml = dir.join("pack.yaml");
    let text = std::fs::read_to_string(&pack_yaml).unwrap();
    std::fs::write(
        &pack_yaml,
        text.replace("max_operations: 100000", "max_operations: 20000000"),
    )
    .unwrap();
    let limits = Limits {
        max_body: 2048,
        max_batch: 3,
        time_limit: Duration::from_millis(20),
    };
    let s = Server::start(
        "limits",
        vec![PackSource::Embedded, PackSource::Folder(dir.clone())],
        &[],
        limits,
    );
    let big = format!("{{\"notes\": \"{}\"}}", "x".repeat(4096));
    let (status, v) = s.json("POST", "/v1/packs/portland/decisions/bill", &big).await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (StatusCode::PAYLOAD_TOO_LARGE, Some("ratebook::serve::too_large"))
    );
    let four = format!("[{BILL},{BILL},{BILL},{BILL}]");
    let (status, v) = s.json("POST", "/v1/packs/portland/decisions/bill/batch", &four).await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (StatusCode::PAYLOAD_TOO_LARGE, Some("ratebook::serve::too_large"))
    );

    let started = std::time::Instant::now();
    let (status, v) = s
        .json("POST", "/v1/packs/scripted/decisions/forever?as_of=2024-01-01", "{}")
        .await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, Some("ratebook::rule::limit_time")),
        "{v}"
    );
    assert!(v["error"]["message"].as_str().unwrap().contains("20 ms"), "{v}");
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "stopped at the limit, not at the operation limit"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn tokens_name_who_asked() {
    let s = Server::start(
        "tokens",
        vec![PackSource::Embedded],
        &[("billing", "b-0123456789abcdef"), ("csr", "c-0123456789abcdef")],
        Limits::default(),
    );
    let uri = "/v1/packs/portland/decisions/bill";
    let (status, headers, _) = s.call("POST", uri, BILL, &[]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(headers["www-authenticate"], "Bearer");
    let (status, _, _) = s
        .call("POST", uri, BILL, &[("authorization", "Bearer nope-0123456789abcdef")])
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _, _) = s
        .call("POST", uri, BILL, &[("authorization", "Bearer c-0123456789abcdef")])
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, _) = s.call("GET", "/v1/health", "", &[]).await;
    assert_eq!(status, StatusCode::OK, "health needs no token");
    let (status, _, _) = s.call("GET", "/v1/packs", "", &[]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let entries = s.entries();
    assert_eq!(entries.len(), 1, "refused requests decide nothing");
    assert_eq!(entries[0]["principal"], "csr");
}

#[tokio::test]
async fn a_batch_answers_every_case_in_order() {
    let s = Server::portland("batch");
    let body = format!("[{BILL}, {{\"usage_ccf\": -1}}, {BILL_FY2425}]");
    let (status, v) = s
        .json("POST", "/v1/packs/portland/decisions/bill/batch?trace=false", &body)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(v["summary"], json!({"cases": 3, "determinations": 1, "errors": 2}));
    let r = v["results"].as_array().unwrap();
    assert_eq!(r[0]["determination"]["total"], "423.15");
    assert_eq!(r[1]["status"], 400);
    assert_eq!(r[1]["error"]["code"], "ratebook::case::missing_field");
    assert_eq!(r[2]["status"], 422);
    let entries = s.entries();
    assert_eq!(entries.len(), 3);
    for (i, (result, entry)) in r.iter().zip(&entries).enumerate() {
        assert_eq!(result["index"], i);
        assert_eq!(result["decision_id"], entry["seq"]);
        assert_eq!(entry["index"], i);
        assert_eq!(entry["operation"], "batch");
    }
}

#[tokio::test]
async fn explanations_packs_rate_sheets_and_tests() {
    let s = Server::portland("explain");
    let (status, headers, text) = s
        .call(
            "POST",
            "/v1/packs/portland/decisions/bill/explain?format=letter",
            BILL,
            &[],
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-type"], "text/plain; charset=utf-8");
    assert!(String::from_utf8(text).unwrap().contains("come to $423.15"));
    assert_eq!(s.entries()[0]["operation"], "explain");

    let (_, packs) = s.json("GET", "/v1/packs", "").await;
    let decisions: Vec<&str> = packs[0]["decisions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap())
        .collect();
    assert!(decisions.contains(&"bill") && decisions.contains(&"leak_adjustment"));
    let (_, sheet) = s
        .json(
            "GET",
            "/v1/packs/portland/params?at=2023-10-01&name=water.volume_rate",
            "",
        )
        .await;
    assert_eq!(sheet["rows"][0]["value"], "7.006");
    assert_eq!(sheet["rows"][0]["effective_from"], "2023-07-01");
    let (_, report) = s.json("POST", "/v1/packs/portland/test?filter=leak", "").await;
    assert!(report["passed"].as_u64().unwrap() > 10);
    assert_eq!(report["failed"], 0);
    let (_, health) = s.json("GET", "/v1/health", "").await;
    assert_eq!(health["status"], "ok");
    assert_eq!(health["version"], env!("CARGO_PKG_VERSION"));
}

#[tokio::test]
async fn a_reload_swaps_whole_packs_or_nothing() {
    let dir = std::env::temp_dir().join(format!("ratebook-reload-pack-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    copy_dir(Path::new("tests/packs/overlay"), &dir);
    let s = Server::start("reload", vec![PackSource::Folder(dir.clone())], &[], Limits::default());
    let (_, before) = s.json("GET", "/v1/health", "").await;
    let pack_yaml = dir.join("pack.yaml");
    let text = std::fs::read_to_string(&pack_yaml).unwrap();
    let version = before["packs"][0]["version"].as_str().unwrap().to_string();

    std::fs::write(
        &pack_yaml,
        text.replace(&format!("version: {version}"), "version: 9.9.9"),
    )
    .unwrap();
    let (status, v) = s.json("POST", "/v1/reload", "").await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["packs"][0]["version"], "9.9.9");

    std::fs::write(&pack_yaml, "id: [broken\n").unwrap();
    let (status, v) = s.json("POST", "/v1/reload", "").await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(v["error"]["code"].as_str().unwrap().starts_with("ratebook::"), "{v}");
    let (_, after) = s.json("GET", "/v1/health", "").await;
    assert_eq!(after["packs"][0]["version"], "9.9.9", "the broken pack is never served");
    assert!(s.state.served().engines.len() == 1);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_committed_openapi_document_is_the_one_the_code_makes() {
    let made = ratebook::serve::openapi().to_pretty_json().unwrap() + "\n";
    let committed = std::fs::read_to_string("docs/openapi.json").unwrap();
    assert!(
        made == committed,
        "docs/openapi.json is out of date: run `cargo run -- serve --openapi > docs/openapi.json`"
    );
}

/// A validator for one of the document's component schemas.
fn schema(name: &str) -> jsonschema::Validator {
    let mut doc = serde_json::to_value(ratebook::serve::openapi()).unwrap();
    doc["$ref"] = json!(format!("#/components/schemas/{name}"));
    jsonschema::validator_for(&doc).unwrap()
}

#[test]
fn every_pack_test_determination_and_error_fits_the_documented_schemas() {
    let determination = schema("Determination");
    let envelope = schema("ErrorEnvelope");
    let outputs = ratebook::testing::determinations(&ratebook::pack::Pack::portland().unwrap()).unwrap();
    let (mut dets, mut errors) = (0, 0);
    for out in &outputs {
        let v: Value = serde_json::from_str(&out.output).unwrap();
        let validator = if v.get("error").is_some() {
            errors += 1;
            &envelope
        } else {
            dets += 1;
            &determination
        };
        let problems: Vec<String> = validator
            .iter_errors(&v)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(problems.is_empty(), "{}: {problems:#?}", out.name);
    }
    assert!(dets > 100 && errors > 5, "{dets} determinations, {errors} errors");
}

// ------------------------------------------------------------ the binary

/// `ratebook serve` on a free port; stderr is read up to "listening".
struct Process {
    child: std::process::Child,
    addr: String,
    stderr: std::io::BufReader<std::process::ChildStderr>,
}

impl Process {
    // The child is waited for by `rest_of_stderr`, or here if it stops
    // early; a failed unwrap in between fails the test anyway.
    #[allow(clippy::zombie_processes)]
    fn start(args: &[&str]) -> Process {
        use std::io::BufRead;
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_ratebook"))
            .arg("serve")
            .args(["--addr", "127.0.0.1:0"])
            .args(args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
        let mut line = String::new();
        loop {
            line.clear();
            if stderr.read_line(&mut line).unwrap() == 0 {
                let status = child.wait().unwrap();
                panic!("the server stopped before listening ({status})");
            }
            if let Some(rest) = line.split("listening on http://").nth(1) {
                let addr = rest.split_whitespace().next().unwrap().to_string();
                return Process { child, addr, stderr };
            }
        }
    }

    fn request(&self, method: &str, path: &str, body: &str) -> (u16, String, String) {
        http(&self.addr, method, path, body)
    }

    fn signal(&self, signal: &str) {
        let ok = std::process::Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(ok.success());
    }

    fn rest_of_stderr(mut self) -> (std::process::ExitStatus, String) {
        use std::io::Read;
        let status = self.child.wait().unwrap();
        let mut rest = String::new();
        self.stderr.read_to_string(&mut rest).unwrap();
        (status, rest)
    }
}

/// One request on its own connection: status, head, body.
fn http(addr: &str, method: &str, path: &str, body: &str) -> (u16, String, String) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    (status, head.to_string(), body.to_string())
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ratebook-serve-bin-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn decision_id(head: &str) -> u64 {
    head.lines()
        .find_map(|l| l.strip_prefix("ratebook-decision-id: "))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn the_binary_serves_stops_gracefully_and_its_log_replays() {
    let dir = scratch("graceful");
    let log = dir.join("audit.jsonl");
    let server = Process::start(&["--audit-log", log.to_str().unwrap()]);
    let (status, _, body) = server.request("GET", "/openapi.json", "");
    assert_eq!(status, 200);
    assert_eq!(body.trim_end(), ratebook::serve::openapi().to_pretty_json().unwrap());
    let (status, head, body) = server.request("POST", "/v1/packs/portland/decisions/bill", BILL);
    assert_eq!(status, 200, "{body}");
    assert_eq!(decision_id(&head), 1);

    // A batch in flight when SIGTERM arrives is finished and answered.
    let cases = format!("[{}]", vec![BILL; 500].join(","));
    let addr = server.addr.clone();
    let in_flight = std::thread::spawn(move || {
        http(
            &addr,
            "POST",
            "/v1/packs/portland/decisions/bill/batch?trace=false",
            &cases,
        )
    });
    std::thread::sleep(Duration::from_millis(30));
    server.signal("-TERM");
    let (status, _, body) = in_flight.join().unwrap();
    assert_eq!(status, 200);
    let batch: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(batch["summary"]["determinations"], 500);
    let (exit, stderr) = server.rest_of_stderr();
    assert!(exit.success(), "{stderr}");
    assert!(stderr.contains("stopped; the decision log is committed"), "{stderr}");
    assert_eq!(std::fs::read_to_string(&log).unwrap().lines().count(), 501);

    // Every logged determination is made again, the same.
    let replay = std::process::Command::new(env!("CARGO_BIN_EXE_ratebook"))
        .args([
            "replay",
            "--audit-log",
            log.to_str().unwrap(),
            "--entry",
            "1",
            "--entry",
            "501",
        ])
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&replay.stdout);
    assert!(replay.status.success(), "{out}");
    assert!(out.starts_with("2 determination(s) replayed"), "{out}");
    assert!(out.contains("2 identical, 0 differ"), "{out}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_killed_server_loses_no_acknowledged_determination() {
    let dir = scratch("kill");
    let log = dir.join("audit.jsonl");
    let server = Process::start(&["--audit-log", log.to_str().unwrap()]);
    let acknowledged: Vec<u64> = (0..20)
        .map(|_| {
            decision_id(
                &server
                    .request("POST", "/v1/packs/portland/decisions/bill?trace=false", BILL)
                    .1,
            )
        })
        .collect();
    server.signal("-KILL");
    let _ = server.rest_of_stderr();
    let logged: Vec<u64> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["seq"].as_u64().unwrap())
        .collect();
    for id in &acknowledged {
        assert!(logged.contains(id), "acknowledged entry {id} is not in the log");
    }
    // A restart continues the numbering.
    let server = Process::start(&["--audit-log", log.to_str().unwrap()]);
    let (_, head, _) = server.request("POST", "/v1/packs/portland/decisions/bill", BILL);
    assert_eq!(decision_id(&head), logged.last().unwrap() + 1);
    server.signal("-TERM");
    let _ = server.rest_of_stderr();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn beyond_loopback_the_binary_needs_tokens() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ratebook"))
        .args(["serve", "--addr", "0.0.0.0:0", "--audit-log", "/dev/null"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("refusing to listen on 0.0.0.0:0 without bearer tokens"),
        "{stderr}"
    );
    assert!(stderr.contains("--tokens FILE"), "{stderr}");
}
