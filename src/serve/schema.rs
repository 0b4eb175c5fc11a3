//! The HTTP API's wire types and their OpenAPI schemas.
//!
//! The server's own responses (health, packs, rate sheet, test report,
//! batch) are these types, serialized as they are. Determinations and
//! errors are the library's JSON (DESIGN.md, firm), serialized by the
//! library; their schemas here mirror it, and `tests/serve.rs` validates
//! real determinations and errors against them so the two cannot drift.

use crate::api::RateRow;
use crate::pack::PackId;
use crate::params::Status;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A pack's identity: every determination names the pack that made it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PackRef {
    /// The pack id, as in `/v1/packs/{pack}`.
    #[schema(example = "portland")]
    pub id: String,
    pub version: String,
    /// sha256 of the pack's files.
    #[schema(example = "sha256:6f1c...")]
    pub digest: String,
}

impl From<&PackId> for PackRef {
    fn from(p: &PackId) -> Self {
        PackRef {
            id: p.id.clone(),
            version: p.version.clone(),
            digest: p.digest.clone(),
        }
    }
}

/// The facts of one case, as the decision's inputs name them (DESIGN.md):
/// for a bill, the account, the period and the usage. Each decision
/// checks its case and answers 400 naming every wrong field.
#[derive(Debug, ToSchema)]
#[schema(value_type = Object, example = json!({
    "account": { "id": "A-2001", "class": "residential", "billing_frequency": "quarterly" },
    "period": { "from": "2023-09-01", "to": "2023-11-30" },
    "usage_ccf": 15,
    "winter_average_ccf": 12
}))]
pub struct Case(pub serde_json::Value);

/// The error envelope (DESIGN.md, firm): the same JSON as the CLI's
/// `--format json`.
#[derive(Debug, ToSchema)]
pub struct ErrorEnvelope {
    pub error: ErrorBody,
}

#[derive(Debug, ToSchema)]
pub struct ErrorBody {
    /// A stable code, `ratebook::<area>::<what>`.
    #[schema(example = "ratebook::case::missing_field")]
    pub code: String,
    pub message: String,
    #[schema(nullable = false)]
    pub help: Option<String>,
    pub locations: Vec<ErrorLocation>,
    /// The figures the determination needed that the pack does not have
    /// (422 only).
    #[schema(nullable = false)]
    pub missing: Option<Vec<MissingFigure>>,
}

/// Where an error is: a file (the case, a pack file) and a line and
/// column, or a field path inside the case.
#[derive(Debug, ToSchema)]
pub struct ErrorLocation {
    pub file: String,
    #[schema(nullable = false, minimum = 1)]
    pub line: Option<u64>,
    #[schema(nullable = false, minimum = 1)]
    pub col: Option<u64>,
    #[schema(nullable = false, example = "account.class")]
    pub field: Option<String>,
}

#[derive(Debug, ToSchema)]
pub struct MissingFigure {
    pub param: String,
    #[schema(nullable = false)]
    pub key: Option<String>,
    pub date: NaiveDate,
    /// Where the figure is published.
    pub source: String,
}

/// A determination (DESIGN.md, firm): the outcome, the lines with their
/// sources, the reasons with citations, warnings, and the explanation
/// trace (omitted with `trace=false`).
#[derive(Debug, ToSchema)]
pub struct Determination {
    #[schema(example = "bill")]
    pub decision: String,
    pub pack: PackRef,
    pub as_of: NaiveDate,
    /// For a bill `billed`; for an eligibility decision `eligible`,
    /// `ineligible` and the like.
    pub outcome: String,
    /// The total, to the cent, as a decimal string.
    #[schema(nullable = false, pattern = r"^-?[0-9]+\.[0-9]{2}$", example = "217.23")]
    pub total: Option<String>,
    pub lines: Vec<Line>,
    /// Named results of the decision (dates, amounts, flags).
    #[schema(value_type = Object)]
    pub outputs: serde_json::Value,
    pub reasons: Vec<Reason>,
    pub trace: Vec<TraceStep>,
    pub warnings: Vec<Warning>,
    /// The case as given.
    #[schema(nullable = false, value_type = Object)]
    pub case: Option<serde_json::Value>,
    /// Figures supplied for the evaluation.
    #[schema(nullable = false)]
    pub set: Option<Vec<String>>,
    /// Made with the figures as known on this date.
    #[schema(nullable = false)]
    pub known_at: Option<NaiveDate>,
}

/// One line of a bill or adjustment. Quantities, rates and amounts are
/// decimal strings (exact); the amount is rounded to the cent.
#[derive(Debug, ToSchema)]
pub struct Line {
    #[schema(example = "water.volume")]
    pub id: String,
    pub label: String,
    #[schema(pattern = r"^-?[0-9]+(\.[0-9]+)?$")]
    pub quantity: String,
    pub unit: String,
    #[schema(pattern = r"^-?[0-9]+(\.[0-9]+)?$")]
    pub rate: String,
    #[schema(pattern = r"^-?[0-9]+\.[0-9]{2}$")]
    pub amount: String,
    pub from: NaiveDate,
    pub to: NaiveDate,
    /// The City Code or ordinance section.
    pub cite: String,
    /// Where the rate is published.
    pub source: String,
    /// How the quantity was reached, in words.
    #[schema(nullable = false)]
    pub basis: Option<String>,
}

/// A rule or requirement checked, met or not, with its citation.
#[derive(Debug, ToSchema)]
pub struct Reason {
    pub rule: String,
    pub passed: bool,
    pub text: String,
    pub cite: String,
    /// For a failed requirement: what would meet it.
    #[schema(nullable = false)]
    pub fix: Option<String>,
}

#[derive(Debug, ToSchema)]
pub struct Warning {
    pub code: String,
    pub message: String,
    #[schema(nullable = false)]
    pub param: Option<String>,
}

/// One step of the explanation trace (an open object: each kind has its
/// own fields).
#[derive(Debug)]
pub struct TraceStep;

impl utoipa::PartialSchema for TraceStep {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{AdditionalProperties, ObjectBuilder, Type};
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .description(Some(
                "One step of the explanation trace: its number, its kind (`param`, `tiers`, `line`, `rule`, `evaluated`, ...) and the kind's fields.",
            ))
            .property("step", ObjectBuilder::new().schema_type(Type::Integer).minimum(Some(1)))
            .required("step")
            .property("kind", ObjectBuilder::new().schema_type(Type::String))
            .required("kind")
            .additional_properties(Some(AdditionalProperties::FreeForm(true)))
            .into()
    }
}

impl ToSchema for TraceStep {}

/// `GET /v1/health`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    #[schema(example = "ok")]
    pub status: &'static str,
    /// The ratebook version serving.
    pub version: &'static str,
    pub packs: Vec<PackRef>,
}

/// A pack and its decisions.
#[derive(Debug, Serialize, ToSchema)]
pub struct PackInfo {
    #[serde(flatten)]
    pub pack: PackRef,
    pub title: String,
    pub decisions: Vec<DecisionInfo>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DecisionInfo {
    #[schema(example = "bill")]
    pub name: String,
    pub title: String,
}

/// The rate sheet in force on a date, with sources.
#[derive(Debug, Serialize, ToSchema)]
pub struct RateSheet {
    pub pack: PackRef,
    /// The date asked for; without one, every dated value (the history).
    #[schema(nullable = false)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub at: Option<NaiveDate>,
    pub rows: Vec<RateSheetRow>,
}

/// One figure of the rate sheet.
#[derive(Debug, Serialize, ToSchema)]
pub struct RateSheetRow {
    pub name: String,
    pub description: String,
    pub unit: String,
    #[schema(nullable = false)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// The figure, or `unknown`.
    pub value: String,
    #[schema(value_type = String, example = "published")]
    pub status: Status,
    #[schema(nullable = false)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub effective_from: Option<NaiveDate>,
    pub source: String,
    #[schema(nullable = false)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

impl From<RateRow> for RateSheetRow {
    fn from(r: RateRow) -> Self {
        RateSheetRow {
            name: r.name,
            description: r.description,
            unit: r.unit,
            key: r.key,
            value: r.value,
            status: r.status,
            effective_from: r.effective_from,
            source: r.source,
            url: r.url,
        }
    }
}

/// A pack's test run.
#[derive(Debug, Serialize, ToSchema)]
pub struct TestReport {
    pub pack: PackRef,
    pub passed: usize,
    pub failed: usize,
    pub results: Vec<TestResult>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TestResult {
    pub file: String,
    pub name: String,
    pub passed: bool,
    /// `path: expected X, got Y`, one per difference.
    pub differences: Vec<String>,
}

/// `POST .../batch`: one result per case, in the order given.
#[derive(Debug, Serialize, ToSchema)]
pub struct BatchResponse {
    pub results: Vec<BatchResult>,
    pub summary: BatchSummary,
}

/// A case's determination or its error, never both.
#[derive(Debug, Serialize, ToSchema)]
pub struct BatchResult {
    /// The case's place in the request, from 0.
    pub index: usize,
    /// The audit log entry of this result.
    pub decision_id: u64,
    /// The HTTP status this case alone would have had.
    pub status: u16,
    #[schema(nullable = false, value_type = Determination)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub determination: Option<Box<serde_json::value::RawValue>>,
    #[schema(nullable = false, value_type = ErrorBody)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<serde_json::Value>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BatchSummary {
    pub cases: usize,
    pub determinations: usize,
    pub errors: usize,
}

/// `POST /v1/reload`: the packs now served.
#[derive(Debug, Serialize, ToSchema)]
pub struct Reloaded {
    pub packs: Vec<PackRef>,
}

/// Options of a decision request.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DecideQuery {
    /// The date the determination is made as of (default: the case's
    /// `as_of`, then the decision's own default, e.g. a bill's period end).
    pub as_of: Option<NaiveDate>,
    /// Make it with the figures as known on this date (rates adopted later
    /// are not used).
    pub known_at: Option<NaiveDate>,
    /// Include the explanation trace (default true).
    pub trace: Option<bool>,
}

/// Options of an explanation request.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ExplainQuery {
    pub as_of: Option<NaiveDate>,
    pub known_at: Option<NaiveDate>,
    /// `text` (default), `markdown` or `letter` (for the customer).
    #[param(inline)]
    pub format: Option<ExplainFormat>,
}

#[derive(Debug, Clone, Copy, Default, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ExplainFormat {
    #[default]
    Text,
    Markdown,
    Letter,
}

/// Options of the rate sheet.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ParamsQuery {
    /// The date of the rate sheet; without it, every dated value.
    pub at: Option<NaiveDate>,
    /// Only the parameters whose names start with this.
    pub name: Option<String>,
}

/// Options of a test run.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TestQuery {
    /// Only the tests whose names contain this.
    pub filter: Option<String>,
}
