//! The endpoints, each with its OpenAPI annotation: the router and the
//! document are made from the same list ([`api`]), so they cannot drift.

use super::schema::{
    BatchResponse, BatchResult, BatchSummary, Case, DecideQuery, DecisionInfo, ErrorEnvelope, ExplainFormat,
    ExplainQuery, Health, PackInfo, PackRef, ParamsQuery, RateSheet, Reloaded, TestQuery, TestReport, TestResult,
};
use super::{Principal, State};
use crate::case::Case as CaseFacts;
use crate::determination::Determination;
use crate::engine::{Engine, Options};
use crate::error::{Error, ErrorKind, Result};
use crate::render::{Format, render};
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{ConnectInfo, DefaultBodyLimit, Path, Query, Request};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Router};
use chrono::NaiveDate;
use serde::Serialize;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;
use utoipa::OpenApi;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

type Shared = axum::extract::State<Arc<State>>;

/// The error answers of a decision request (the error envelope each time).
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)] // documentation only: handlers answer with `error_response`
enum DecisionErrors {
    #[response(status = 400, description = "The case is wrong: every problem, with where")]
    BadCase(ErrorEnvelope),
    #[response(status = 401, description = "No token, or an unknown one")]
    Unauthorized(ErrorEnvelope),
    #[response(status = 404, description = "No such pack or decision")]
    NotFound(ErrorEnvelope),
    #[response(status = 413, description = "The body is larger than the server's limit")]
    TooLarge(ErrorEnvelope),
    #[response(
        status = 422,
        description = "Figures the case needs are missing from the pack (`error.missing`)"
    )]
    MissingFigures(ErrorEnvelope),
    #[response(status = 500, description = "The pack or a rule is broken")]
    BrokenPack(ErrorEnvelope),
    #[response(
        status = 503,
        description = "The evaluation time limit passed, or the decision log could not be written"
    )]
    Unavailable(ErrorEnvelope),
}

/// The error answers of a request about a pack.
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)] // documentation only: handlers answer with `error_response`
enum PackErrors {
    #[response(
        status = 400,
        description = "A bad query (an unknown option, a date that is not one)"
    )]
    BadQuery(ErrorEnvelope),
    #[response(status = 401, description = "No token, or an unknown one")]
    Unauthorized(ErrorEnvelope),
    #[response(status = 404, description = "No such pack")]
    NotFound(ErrorEnvelope),
}

/// The response header naming a determination's decision log entry.
pub const DECISION_ID: &str = "ratebook-decision-id";

/// Paths served without a token.
const PUBLIC: [&str; 2] = ["/v1/health", "/openapi.json"];

#[derive(OpenApi)]
#[openapi(
    info(
        title = "ratebook",
        description = "Determinations for a water, sewer and stormwater utility (bills, adjustments, payment arrangements, collection actions), each with the figures used, their sources, the City Code citations and an explanation trace. The JSON is the CLI's (`ratebook decide --format json`). Every determination served is written to the decision log before it is answered; `ratebook-decision-id` names its entry. When the server has tokens, send `Authorization: Bearer TOKEN`.",
        license(name = "Apache-2.0")
    ),
    modifiers(&BearerAuth),
    tags(
        (name = "decide", description = "Determinations and their explanations"),
        (name = "packs", description = "The rule packs served: decisions, rate sheets, tests"),
        (name = "server", description = "Health and administration"),
    )
)]
struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme("bearer", SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)));
    }
}

fn api() -> OpenApiRouter<Arc<State>> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(decide))
        .routes(routes!(explain))
        .routes(routes!(decide_batch))
        .routes(routes!(list_packs))
        .routes(routes!(pack_info_handler))
        .routes(routes!(rate_sheet))
        .routes(routes!(run_tests))
        .routes(routes!(health))
        .routes(routes!(reload))
}

/// The OpenAPI document (committed as `docs/openapi.json`).
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut doc = api().into_openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_string();
    doc
}

/// The service: every endpoint, the document at `/openapi.json`, JSON
/// errors for unknown paths, tokens and the body limit.
pub fn router(state: Arc<State>) -> Router {
    let (router, _) = api().split_for_parts();
    let doc: Arc<str> = openapi().to_pretty_json().unwrap_or_default().into();
    router
        .route(
            "/openapi.json",
            axum::routing::get(move || {
                let doc = doc.clone();
                async move { ([(header::CONTENT_TYPE, "application/json")], doc.to_string()) }
            }),
        )
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(state.clone(), authenticate))
        .layer(DefaultBodyLimit::max(state.limits.max_body))
        .with_state(state)
}

// ---------------------------------------------------------------- errors

/// The status an error answers with.
pub fn status_of(e: &Error) -> StatusCode {
    match e.code {
        "ratebook::decision::unknown" | "ratebook::serve::unknown_pack" | "ratebook::serve::not_found" => {
            StatusCode::NOT_FOUND
        }
        "ratebook::case::too_large" | "ratebook::serve::too_large" => StatusCode::PAYLOAD_TOO_LARGE,
        "ratebook::rule::limit_time" | "ratebook::serve::audit_log" => StatusCode::SERVICE_UNAVAILABLE,
        "ratebook::serve::unauthorized" => StatusCode::UNAUTHORIZED,
        _ => match e.kind {
            ErrorKind::Input => StatusCode::BAD_REQUEST,
            ErrorKind::MissingFigures => StatusCode::UNPROCESSABLE_ENTITY,
            ErrorKind::Pack => StatusCode::INTERNAL_SERVER_ERROR,
        },
    }
}

fn json_response(status: StatusCode, body: Vec<u8>) -> Response {
    let mut r = (status, body).into_response();
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

fn error_response(e: &Error) -> Response {
    let status = status_of(e);
    let mut r = json_response(status, serde_json::to_vec(&e.to_json()).unwrap_or_default());
    if status == StatusCode::UNAUTHORIZED {
        r.headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    r
}

/// A result as its JSON, or its error.
fn respond(result: Result<impl Serialize>) -> Response {
    match result {
        Ok(value) => ok_json(&value),
        Err(e) => error_response(&e),
    }
}

fn ok_json(value: &impl Serialize) -> Response {
    json_response(StatusCode::OK, serde_json::to_vec(value).unwrap_or_default())
}

async fn not_found(request: Request) -> Response {
    error_response(
        &Error::input(
            "ratebook::serve::not_found",
            format!("there is no endpoint {} {}", request.method(), request.uri().path()),
        )
        .with_help("the endpoints are listed in /openapi.json"),
    )
}

fn query<T: Default>(q: std::result::Result<Query<T>, QueryRejection>) -> Result<T> {
    q.map(|Query(v)| v).map_err(|e| {
        Error::input("ratebook::serve::bad_query", format!("bad query: {}", e.body_text()))
            .with_help("see the operation's parameters in /openapi.json")
    })
}

fn path<T>(p: std::result::Result<Path<T>, PathRejection>) -> Result<T> {
    p.map(|Path(v)| v)
        .map_err(|e| Error::input("ratebook::serve::bad_path", format!("bad path: {}", e.body_text())))
}

fn body(b: std::result::Result<Bytes, BytesRejection>, limit: usize) -> Result<Bytes> {
    b.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            Error::input(
                "ratebook::serve::too_large",
                format!("the request body is larger than the server's limit of {limit} bytes"),
            )
        } else {
            Error::input(
                "ratebook::serve::bad_body",
                format!("cannot read the request body: {}", e.body_text()),
            )
        }
    })
}

// ------------------------------------------------------------ middleware

/// With tokens configured, every request but the public paths needs a
/// known bearer token; its holder is the request's [`Principal`].
async fn authenticate(state: Shared, mut request: Request, next: Next) -> Response {
    if state.tokens.is_empty() || PUBLIC.contains(&request.uri().path()) {
        request.extensions_mut().insert(Principal(None));
        return next.run(request).await;
    }
    let token = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match token.and_then(|t| state.principal_of(t.trim())) {
        Some(who) => {
            request.extensions_mut().insert(Principal(Some(who)));
            next.run(request).await
        }
        None => error_response(
            &Error::input(
                "ratebook::serve::unauthorized",
                if token.is_some() {
                    "the bearer token is not one this server knows"
                } else {
                    "this server needs `Authorization: Bearer TOKEN`"
                },
            )
            .with_help("ask the server's operator for a token"),
        ),
    }
}

// ------------------------------------------------------------- deciding

/// Who asked, from where.
struct Caller {
    principal: Option<Arc<str>>,
    remote: Option<SocketAddr>,
}

impl Caller {
    fn of(principal: Option<Extension<Principal>>, remote: Option<Extension<ConnectInfo<SocketAddr>>>) -> Caller {
        Caller {
            principal: principal.and_then(|Extension(Principal(p))| p),
            remote: remote.map(|Extension(ConnectInfo(a))| a),
        }
    }
}

/// A decision request, as the audit log records it.
struct Asked<'a> {
    operation: &'static str,
    pack: &'a str,
    decision: &'a str,
    as_of: Option<NaiveDate>,
    known_at: Option<NaiveDate>,
}

/// One decision log entry (`seq` is added by the log).
#[derive(Serialize)]
struct Entry<'a> {
    at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    principal: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    remote: Option<String>,
    operation: &'static str,
    pack: &'a str,
    decision: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    as_of: Option<NaiveDate>,
    #[serde(skip_serializing_if = "Option::is_none")]
    known_at: Option<NaiveDate>,
    #[serde(skip_serializing_if = "Option::is_none")]
    index: Option<usize>,
    status: u16,
    // Then `determination`: the determination as served, less its trace
    // (which `ratebook replay --audit-log` makes again from the case and
    // the pack); see `State::log`.
    /// The case, when there is no determination to carry it.
    #[serde(skip_serializing_if = "Option::is_none")]
    case: Option<std::borrow::Cow<'a, str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<serde_json::Value>,
}

/// The most of a failed request's body the log keeps.
const MAX_LOGGED_CASE: usize = 64 * 1024;

fn now_rfc3339() -> String {
    chrono::DateTime::<chrono::Utc>::from(std::time::SystemTime::now())
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

impl State {
    /// Queues a log entry for an outcome: the determination's JSON as
    /// logged ([`DeterminationJson::logged`]) or the error.
    fn log(
        &self,
        caller: &Caller,
        asked: &Asked<'_>,
        index: Option<usize>,
        outcome: std::result::Result<&[u8], &Error>,
        case_text: &[u8],
    ) -> tokio::sync::oneshot::Receiver<std::result::Result<u64, String>> {
        let (status, error, case) = match outcome {
            Ok(_) => (StatusCode::OK, None, None),
            Err(e) => (
                status_of(e),
                e.to_json().get_mut("error").map(serde_json::Value::take),
                Some(String::from_utf8_lossy(
                    case_text.get(..MAX_LOGGED_CASE).unwrap_or(case_text),
                )),
            ),
        };
        let entry = Entry {
            at: now_rfc3339(),
            principal: caller.principal.as_deref(),
            remote: caller.remote.map(|a| a.to_string()),
            operation: asked.operation,
            pack: asked.pack,
            decision: asked.decision,
            as_of: asked.as_of,
            known_at: asked.known_at,
            index,
            status: status.as_u16(),
            case,
            error,
        };
        let mut json = serde_json::to_vec(&entry).unwrap_or_default();
        if let Ok(determination) = outcome {
            // `{...}` becomes `{...,"determination":{...}}`: the JSON made
            // for the response is not made again.
            json.pop();
            json.extend_from_slice(b",\"determination\":");
            json.extend_from_slice(determination);
            json.push(b'}');
        }
        self.audit.append(json)
    }

    /// Decides one case within the time limit.
    fn decide_one<'e>(
        &self,
        engine: &'e Engine,
        asked: &Asked<'_>,
        case: &CaseFacts,
        trace: bool,
    ) -> std::result::Result<Determination<'e>, Error> {
        crate::script::with_time_limit(self.limits.time_limit, || {
            engine.decide(
                asked.decision,
                case,
                &Options {
                    as_of: asked.as_of,
                    trace,
                },
            )
        })
    }
}

/// A determination's JSON as served and as logged (without its trace).
struct DeterminationJson {
    served: Vec<u8>,
    /// `None` when the served JSON has no trace to leave out.
    untraced: Option<Vec<u8>>,
}

impl DeterminationJson {
    fn of(mut det: Determination<'_>) -> Result<DeterminationJson> {
        let json = |d: &Determination<'_>| {
            serde_json::to_vec(d).map_err(|e| Error::pack("ratebook::serve::json", e.to_string()))
        };
        let served = json(&det)?;
        let untraced = if det.trace.is_empty() {
            None
        } else {
            det.trace = Vec::new();
            Some(json(&det)?)
        };
        Ok(DeterminationJson { served, untraced })
    }

    fn logged(&self) -> &[u8] {
        self.untraced.as_deref().unwrap_or(&self.served)
    }
}

/// Waits for an entry to be durable; its `seq`, or the error to answer.
async fn logged(rx: tokio::sync::oneshot::Receiver<std::result::Result<u64, String>>) -> Result<u64> {
    match rx.await {
        Ok(Ok(seq)) => Ok(seq),
        Ok(Err(e)) => Err(audit_failed(&e)),
        Err(_) => Err(audit_failed("the writer stopped")),
    }
}

fn audit_failed(why: &str) -> Error {
    Error::input(
        "ratebook::serve::audit_log",
        format!("the determination was made but could not be written to the decision log ({why}), so it is not served"),
    )
    .with_help("try again; the server's operator should check the log's disk")
}

/// Decides the request's case and makes what is answered from the
/// determination (`finish`, while the engine it borrows from is held).
fn decide_request<T>(
    state: &State,
    asked: &Asked<'_>,
    bytes: &Result<Bytes>,
    trace: bool,
    finish: impl FnOnce(Determination<'_>) -> Result<T>,
) -> std::result::Result<T, Error> {
    let bytes = bytes.as_ref().map_err(Clone::clone)?;
    let text = std::str::from_utf8(bytes)
        .map_err(|_| Error::input("ratebook::case::not_utf8", "the case is not UTF-8 text"))?;
    let served = state.served();
    let engine = served.engine(asked.pack, asked.known_at)?;
    let case = CaseFacts::parse("the case", text)?;
    finish(state.decide_one(&engine, asked, &case, trace)?)
}

fn body_bytes(bytes: &Result<Bytes>) -> &[u8] {
    bytes.as_deref().unwrap_or_default()
}

#[utoipa::path(
    post,
    path = "/v1/packs/{pack}/decisions/{decision}",
    tag = "decide",
    summary = "Decide one case",
    description = "Makes a determination: a bill, an adjustment, an eligibility decision. A denial is a determination (200) with the requirements not met and what would meet them.",
    params(
        ("pack" = String, Path, description = "A pack id (`GET /v1/packs`)", example = "portland"),
        ("decision" = String, Path, description = "A decision of the pack", example = "bill"),
        DecideQuery
    ),
    request_body(content = Case, content_type = "application/json"),
    responses(
        (status = 200, description = "The determination", body = super::schema::Determination,
            headers(("ratebook-decision-id" = u64, description = "The decision log entry"))),
        DecisionErrors,
    ),
    security((), ("bearer" = []))
)]
async fn decide(
    state: Shared,
    names: std::result::Result<Path<(String, String)>, PathRejection>,
    q: std::result::Result<Query<DecideQuery>, QueryRejection>,
    principal: Option<Extension<Principal>>,
    remote: Option<Extension<ConnectInfo<SocketAddr>>>,
    bytes: std::result::Result<Bytes, BytesRejection>,
) -> Response {
    let ((pack, decision), q) = match path(names).and_then(|n| Ok((n, query(q)?))) {
        Ok(v) => v,
        Err(e) => return error_response(&e),
    };
    let asked = Asked {
        operation: "decide",
        pack: &pack,
        decision: &decision,
        as_of: q.as_of,
        known_at: q.known_at,
    };
    let shape = Shape::Json {
        trace: q.trace.unwrap_or(true),
    };
    let bytes = body(bytes, state.limits.max_body);
    decision_response(&state, &asked, &bytes, shape, &Caller::of(principal, remote)).await
}

/// How a decision is answered: its JSON, or an explanation of it.
#[derive(Clone, Copy)]
enum Shape {
    Json { trace: bool },
    Explained(ExplainFormat),
}

/// Decides a request's case, logs the outcome and answers once the log
/// entry is durable: the determination (or its explanation) with its
/// decision id, or the error.
async fn decision_response(
    state: &State,
    asked: &Asked<'_>,
    bytes: &Result<Bytes>,
    shape: Shape,
    caller: &Caller,
) -> Response {
    let trace = match shape {
        Shape::Json { trace } => trace,
        Shape::Explained(_) => true,
    };
    let prepared = decide_request(state, asked, bytes, trace, |mut det| {
        let explained = match shape {
            Shape::Json { .. } => None,
            Shape::Explained(format) => {
                let (format, content_type) = match format {
                    ExplainFormat::Text => (Format::Text, "text/plain; charset=utf-8"),
                    ExplainFormat::Markdown => (Format::Markdown, "text/markdown; charset=utf-8"),
                    ExplainFormat::Letter => (Format::Letter, "text/plain; charset=utf-8"),
                };
                let engine = state.served().engine(asked.pack, None)?;
                let text = render(&det, engine.pack(), format);
                // The log keeps the determination less its trace.
                det.trace = Vec::new();
                Some((text, content_type))
            }
        };
        Ok((DeterminationJson::of(det)?, explained))
    });
    let rx = state.log(
        caller,
        asked,
        None,
        prepared.as_ref().map(|(json, _)| json.logged()),
        body_bytes(bytes),
    );
    match (logged(rx).await, prepared) {
        (Err(e), _) => error_response(&e),
        (Ok(seq), Err(e)) => with_decision_id(error_response(&e), seq),
        (Ok(seq), Ok((json, None))) => with_decision_id(json_response(StatusCode::OK, json.served), seq),
        (Ok(seq), Ok((_, Some((text, content_type))))) => {
            let mut r = with_decision_id((StatusCode::OK, text).into_response(), seq);
            r.headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
            r
        }
    }
}

fn with_decision_id(mut r: Response, seq: u64) -> Response {
    r.headers_mut().insert(DECISION_ID, HeaderValue::from(seq));
    r
}

#[utoipa::path(
    post,
    path = "/v1/packs/{pack}/decisions/{decision}/explain",
    tag = "decide",
    summary = "Explain one case",
    description = "The determination as text, markdown, or a letter to the customer (the result, what was met and not met, what would change it, the rules cited, the appeal path).",
    params(
        ("pack" = String, Path, description = "A pack id", example = "portland"),
        ("decision" = String, Path, description = "A decision of the pack", example = "bill"),
        ExplainQuery
    ),
    request_body(content = Case, content_type = "application/json"),
    responses(
        (status = 200, description = "The explanation",
            content((String = "text/plain"), (String = "text/markdown")),
            headers(("ratebook-decision-id" = u64, description = "The decision log entry"))),
        DecisionErrors,
    ),
    security((), ("bearer" = []))
)]
async fn explain(
    state: Shared,
    names: std::result::Result<Path<(String, String)>, PathRejection>,
    q: std::result::Result<Query<ExplainQuery>, QueryRejection>,
    principal: Option<Extension<Principal>>,
    remote: Option<Extension<ConnectInfo<SocketAddr>>>,
    bytes: std::result::Result<Bytes, BytesRejection>,
) -> Response {
    let ((pack, decision), q) = match path(names).and_then(|n| Ok((n, query(q)?))) {
        Ok(v) => v,
        Err(e) => return error_response(&e),
    };
    let asked = Asked {
        operation: "explain",
        pack: &pack,
        decision: &decision,
        as_of: q.as_of,
        known_at: q.known_at,
    };
    let shape = Shape::Explained(q.format.unwrap_or_default());
    let bytes = body(bytes, state.limits.max_body);
    decision_response(&state, &asked, &bytes, shape, &Caller::of(principal, remote)).await
}

#[utoipa::path(
    post,
    path = "/v1/packs/{pack}/decisions/{decision}/batch",
    tag = "decide",
    summary = "Decide many cases",
    description = "Decides each case of a JSON array, in order. A case that fails gets its error in its place; the others are decided all the same. Each result is its own decision log entry.",
    params(
        ("pack" = String, Path, description = "A pack id", example = "portland"),
        ("decision" = String, Path, description = "A decision of the pack", example = "bill"),
        DecideQuery
    ),
    request_body(content = Vec<Case>, content_type = "application/json"),
    responses(
        (status = 200, description = "One result per case", body = BatchResponse),
        (status = 400, description = "The body is not a JSON array", body = ErrorEnvelope),
        (status = 401, description = "No token, or an unknown one", body = ErrorEnvelope),
        (status = 404, description = "No such pack", body = ErrorEnvelope),
        (status = 413, description = "Too many cases, or the body is too large", body = ErrorEnvelope),
        (status = 503, description = "The decision log could not be written", body = ErrorEnvelope),
    ),
    security((), ("bearer" = []))
)]
async fn decide_batch(
    state: Shared,
    names: std::result::Result<Path<(String, String)>, PathRejection>,
    q: std::result::Result<Query<DecideQuery>, QueryRejection>,
    principal: Option<Extension<Principal>>,
    remote: Option<Extension<ConnectInfo<SocketAddr>>>,
    bytes: std::result::Result<Bytes, BytesRejection>,
) -> Response {
    let prepared = (|| {
        let (pack, decision) = path(names)?;
        let q = query(q)?;
        let bytes = body(bytes, state.limits.max_body)?;
        let cases: Vec<serde_json::Value> = serde_json::from_slice(&bytes).map_err(|e| {
            Error::input(
                "ratebook::serve::bad_batch",
                format!("the body is not a JSON array of cases: {e}"),
            )
            .at(crate::error::Location::at(
                "the request body",
                e.line() as u64,
                e.column() as u64,
            ))
        })?;
        if let Some((i, item)) = cases.iter().enumerate().find(|(_, c)| !c.is_object()) {
            return Err(Error::input(
                "ratebook::serve::bad_batch",
                format!(
                    "the body must be a JSON array of case objects; case {i} is {}",
                    match item {
                        serde_json::Value::Null => "null",
                        serde_json::Value::Bool(_) => "a boolean",
                        serde_json::Value::Number(_) => "a number",
                        serde_json::Value::String(_) => "a string",
                        serde_json::Value::Array(_) => "an array",
                        serde_json::Value::Object(_) => "an object",
                    }
                ),
            ));
        }
        if cases.len() > state.limits.max_batch {
            return Err(Error::input(
                "ratebook::serve::too_large",
                format!(
                    "the batch holds {} cases; the server's limit is {}",
                    cases.len(),
                    state.limits.max_batch
                ),
            )
            .with_help("send the cases in several requests"));
        }
        let engine = state.served().engine(&pack, q.known_at)?;
        engine.check_decision_name(&decision)?;
        Ok((pack, decision, q, cases, engine))
    })();
    let (pack, decision, q, cases, engine) = match prepared {
        Ok(v) => v,
        Err(e) => return error_response(&e),
    };
    let trace = q.trace.unwrap_or(true);
    let worker_state = state.0.clone();
    let (pack_w, decision_w) = (pack.clone(), decision.clone());
    let decided = tokio::task::spawn_blocking(move || {
        let asked = Asked {
            operation: "batch",
            pack: &pack_w,
            decision: &decision_w,
            as_of: q.as_of,
            known_at: q.known_at,
        };
        let started = Instant::now();
        cases
            .into_iter()
            .enumerate()
            .map(|(i, value)| {
                if started.elapsed() > worker_state.limits.time_limit {
                    let late = Error::pack(
                        "ratebook::rule::limit_time",
                        format!(
                            "the batch ran past the evaluation time limit ({} ms) before case {i}",
                            worker_state.limits.time_limit.as_millis()
                        ),
                    )
                    .with_help("send the remaining cases again, in smaller batches");
                    return (Err(late), value.to_string().into_bytes());
                }
                let case = CaseFacts::from_value(&format!("case {i}"), value);
                let outcome = worker_state
                    .decide_one(&engine, &asked, &case, trace)
                    .and_then(DeterminationJson::of);
                // The log keeps a case's text only when no determination carries it.
                let text = match outcome {
                    Ok(_) => Vec::new(),
                    Err(_) => case.value.to_string().into_bytes(),
                };
                (outcome, text)
            })
            .collect::<Vec<_>>()
    })
    .await;
    let decided = match decided {
        Ok(d) => d,
        Err(e) => {
            return error_response(&Error::pack(
                "ratebook::serve::batch",
                format!("the batch stopped: {e}"),
            ));
        }
    };
    let asked = Asked {
        operation: "batch",
        pack: &pack,
        decision: &decision,
        as_of: q.as_of,
        known_at: q.known_at,
    };
    let caller = Caller::of(principal, remote);
    let mut pending = Vec::with_capacity(decided.len());
    for (i, (outcome, text)) in decided.into_iter().enumerate() {
        let rx = state.log(
            &caller,
            &asked,
            Some(i),
            outcome.as_ref().map(DeterminationJson::logged),
            &text,
        );
        let body = outcome.and_then(|j| {
            serde_json::value::RawValue::from_string(String::from_utf8_lossy(&j.served).into_owned())
                .map_err(|e| Error::pack("ratebook::serve::json", e.to_string()))
        });
        pending.push((body, rx));
    }
    let mut results = Vec::with_capacity(pending.len());
    let mut summary = BatchSummary {
        cases: pending.len(),
        determinations: 0,
        errors: 0,
    };
    for (index, (body, rx)) in pending.into_iter().enumerate() {
        let decision_id = match logged(rx).await {
            Ok(seq) => seq,
            Err(e) => return error_response(&e),
        };
        let (status, determination, error) = match body {
            Ok(raw) => {
                summary.determinations += 1;
                (StatusCode::OK, Some(raw), None)
            }
            Err(e) => {
                summary.errors += 1;
                (
                    status_of(&e),
                    None,
                    e.to_json().get_mut("error").map(serde_json::Value::take),
                )
            }
        };
        results.push(BatchResult {
            index,
            decision_id,
            status: status.as_u16(),
            determination,
            error,
        });
    }
    ok_json(&BatchResponse { results, summary })
}

// ------------------------------------------------------------------ packs

/// The engine of the pack a path names, and the request's options.
fn pack_and_query<Q: Default>(
    state: &State,
    name: std::result::Result<Path<String>, PathRejection>,
    q: std::result::Result<Query<Q>, QueryRejection>,
) -> Result<(Arc<Engine>, Q)> {
    let name = path(name)?;
    let q = query(q)?;
    Ok((state.served().engine(&name, None)?, q))
}

fn pack_ref(engine: &Engine) -> PackRef {
    PackRef::from(&*engine.pack().ident)
}

fn pack_info(engine: &Engine) -> PackInfo {
    let pack = engine.pack();
    PackInfo {
        pack: pack_ref(engine),
        title: pack.title.clone(),
        decisions: engine
            .decision_names()
            .map(|name| DecisionInfo {
                name: name.to_string(),
                title: pack.decision_title(name).unwrap_or(name).to_string(),
            })
            .collect(),
    }
}

#[utoipa::path(
    get,
    path = "/v1/packs",
    tag = "packs",
    summary = "The packs served, with their decisions",
    responses(
        (status = 200, description = "The packs", body = Vec<PackInfo>),
        (status = 401, description = "No token, or an unknown one", body = ErrorEnvelope),
    ),
    security((), ("bearer" = []))
)]
async fn list_packs(state: Shared) -> Response {
    let served = state.served();
    ok_json(&served.engines.values().map(|e| pack_info(e)).collect::<Vec<_>>())
}

#[utoipa::path(
    get,
    path = "/v1/packs/{pack}",
    operation_id = "pack_info",
    tag = "packs",
    summary = "One pack, with its decisions",
    params(("pack" = String, Path, description = "A pack id", example = "portland")),
    responses(
        (status = 200, description = "The pack", body = PackInfo),
        (status = 401, description = "No token, or an unknown one", body = ErrorEnvelope),
        (status = 404, description = "No such pack", body = ErrorEnvelope),
    ),
    security((), ("bearer" = []))
)]
async fn pack_info_handler(state: Shared, name: std::result::Result<Path<String>, PathRejection>) -> Response {
    respond(
        path(name)
            .and_then(|name| state.served().engine(&name, None))
            .map(|e| pack_info(&e)),
    )
}

#[utoipa::path(
    get,
    path = "/v1/packs/{pack}/params",
    tag = "packs",
    summary = "The rate sheet in force on a date",
    description = "Every figure of the pack in force on `at` (each table key on its own row), with its status (`published`, `derived`, `assumed`, `unknown`), effective date and source; without `at`, every dated value.",
    params(("pack" = String, Path, description = "A pack id", example = "portland"), ParamsQuery),
    responses((status = 200, description = "The rate sheet", body = RateSheet), PackErrors),
    security((), ("bearer" = []))
)]
async fn rate_sheet(
    state: Shared,
    name: std::result::Result<Path<String>, PathRejection>,
    q: std::result::Result<Query<ParamsQuery>, QueryRejection>,
) -> Response {
    respond(pack_and_query(&state, name, q).map(|(engine, q)| {
        RateSheet {
            pack: pack_ref(&engine),
            at: q.at,
            rows: crate::api::rate_sheet(engine.pack(), q.at, q.name.as_deref())
                .into_iter()
                .map(Into::into)
                .collect(),
        }
    }))
}

#[utoipa::path(
    post,
    path = "/v1/packs/{pack}/test",
    tag = "packs",
    summary = "Run the pack's tests",
    description = "Runs the tests under the pack's `tests/`; a failing test is a result (200, `failed` > 0), not an error.",
    params(("pack" = String, Path, description = "A pack id", example = "portland"), TestQuery),
    responses(
        (status = 200, description = "The test report", body = TestReport),
        PackErrors,
        (status = 500, description = "The pack's tests cannot be read", body = ErrorEnvelope),
    ),
    security((), ("bearer" = []))
)]
async fn run_tests(
    state: Shared,
    name: std::result::Result<Path<String>, PathRejection>,
    q: std::result::Result<Query<TestQuery>, QueryRejection>,
) -> Response {
    let (engine, q) = match pack_and_query(&state, name, q) {
        Ok(v) => v,
        Err(e) => return error_response(&e),
    };
    let limit = state.limits.time_limit;
    let report = tokio::task::spawn_blocking(move || {
        crate::script::with_time_limit(limit, || crate::testing::run(engine.pack(), q.filter.as_deref()))
            .map(|r| (pack_ref(&engine), r))
    })
    .await;
    match report {
        Ok(Ok((pack, report))) => ok_json(&TestReport {
            pack,
            passed: report.passed(),
            failed: report.failed(),
            results: report
                .results
                .into_iter()
                .map(|r| TestResult {
                    file: r.file,
                    name: r.name,
                    passed: r.passed,
                    differences: r.differences,
                })
                .collect(),
        }),
        Ok(Err(e)) => error_response(&e),
        Err(e) => error_response(&Error::pack(
            "ratebook::serve::test",
            format!("the test run stopped: {e}"),
        )),
    }
}

// ----------------------------------------------------------------- server

#[utoipa::path(
    get,
    path = "/v1/health",
    tag = "server",
    summary = "Health and version",
    description = "Answers while the server serves; names the version and the packs served. Needs no token.",
    responses((status = 200, description = "Serving", body = Health))
)]
async fn health(state: Shared) -> Response {
    ok_json(&Health {
        status: "ok",
        version: env!("CARGO_PKG_VERSION"),
        packs: state.served().engines.values().map(|e| pack_ref(e)).collect(),
    })
}

#[utoipa::path(
    post,
    path = "/v1/reload",
    tag = "server",
    summary = "Load the packs again",
    description = "Reads every pack again and swaps them in at once: requests already running finish on the packs they started with, and if any pack fails to load nothing changes and the error says why. SIGHUP does the same.",
    responses(
        (status = 200, description = "The packs now served", body = Reloaded),
        (status = 401, description = "No token, or an unknown one", body = ErrorEnvelope),
        (status = 500, description = "A pack failed to load; the packs served are unchanged", body = ErrorEnvelope),
    ),
    security((), ("bearer" = []))
)]
async fn reload(state: Shared) -> Response {
    match state.reload().await {
        Ok(served) => ok_json(&Reloaded {
            packs: served.engines.values().map(|e| pack_ref(e)).collect(),
        }),
        Err(e) => {
            // Not the caller's fault, whatever the pack's: the server's packs are broken.
            let mut r = error_response(&e);
            *r.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
            r
        }
    }
}
