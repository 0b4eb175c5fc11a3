//! The pack's file formats as written by rule authors (serde shapes).
//! Validation and compilation into engine structures live in `pack` and
//! `charges`; this module only names the keys (unknown keys are refused).

use indexmap::IndexMap;
use serde::Deserialize;
use serde_saphyr::Spanned;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawManifest {
    pub id: String,
    pub title: String,
    #[serde(default)]
    pub jurisdiction: Option<String>,
    pub version: String,
    #[serde(default = "usd")]
    pub currency: String,
    #[serde(default)]
    pub rounding: Option<RawRounding>,
    #[serde(default)]
    pub calendar: Option<RawCalendar>,
    #[serde(default)]
    pub decisions: Vec<String>,
    #[serde(default)]
    pub extends: Option<String>,
    #[serde(default)]
    pub limits: Option<RawLimits>,
    #[serde(default)]
    pub description: Option<String>,
}

fn usd() -> String {
    "USD".into()
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRounding {
    pub money: String,
    pub places: u32,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCalendar {
    #[serde(default)]
    pub holidays: RawHolidays,
    #[serde(default)]
    pub fiscal_year_starts: Option<String>,
}

/// Holidays: a plain list of dates, or a dated list with its source,
/// status and the dates it covers.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum RawHolidays {
    Dates(Vec<String>),
    Listed(RawHolidayList),
}

impl Default for RawHolidays {
    fn default() -> Self {
        RawHolidays::Dates(Vec::new())
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHolidayList {
    /// `published` (the City's own list) or `assumed`.
    pub status: String,
    pub source: String,
    #[serde(default)]
    pub url: Option<String>,
    /// First and last dates the list covers (YYYY-MM-DD).
    pub covers: RawRange,
    pub dates: Vec<RawHoliday>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRange {
    pub from: String,
    pub to: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHoliday {
    pub date: String,
    pub name: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLimits {
    pub max_operations: Option<u64>,
    pub max_call_levels: Option<usize>,
    pub max_expr_depth: Option<usize>,
    pub max_string_size: Option<usize>,
    pub max_array_size: Option<usize>,
    pub max_map_size: Option<usize>,
}

/// `params/*.yaml`: name -> parameter.
pub type RawParamFile = IndexMap<String, Spanned<RawParam>>;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawParam {
    pub description: String,
    pub unit: String,
    #[serde(default)]
    pub shape: Option<String>,
    /// For tables: what the key is (a case field path), for readers.
    #[serde(default)]
    pub key: Option<String>,
    #[serde(default)]
    pub keys: Vec<String>,
    pub values: Vec<Spanned<RawValue>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawValue {
    pub from: String,
    pub status: String,
    #[serde(default)]
    pub value: Option<Spanned<serde_json::Value>>,
    #[serde(default)]
    pub source: Option<String>,
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub formula: Option<String>,
    #[serde(default)]
    pub note: Option<String>,
    #[serde(default)]
    pub cite: Option<String>,
    #[serde(default)]
    pub adopted: Option<String>,
}

/// `charges/*.yaml`: a list of charges.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawChargeFile {
    pub charges: Vec<Spanned<RawCharge>>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCharge {
    pub id: String,
    pub label: String,
    #[serde(default)]
    pub when: Option<serde_json::Value>,
    pub quantity: serde_json::Value,
    pub unit: String,
    #[serde(default)]
    pub per: Option<String>,
    pub rate: String,
    #[serde(default)]
    pub rate_key: Option<String>,
    #[serde(default)]
    pub scale_percent: Option<String>,
    /// A date input: the charge applies only to days on or after it.
    #[serde(default)]
    pub starts_on: Option<String>,
    #[serde(default)]
    pub credit: bool,
    pub cite: String,
    #[serde(default)]
    pub explain: Option<String>,
    #[serde(default)]
    pub not_applied: Option<String>,
    #[serde(default)]
    pub note: Option<String>,
}

/// `decisions/<name>.yaml`: a decision's title and inputs, and for a
/// declarative decision its period and charges (a script decision has its
/// logic in `decisions/<name>.rhai`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDecision {
    pub title: String,
    #[serde(default)]
    pub description: Option<String>,
    pub inputs: IndexMap<String, RawInput>,
    /// The input holding the service period (declarative decisions).
    #[serde(default)]
    pub period: Option<String>,
    /// The input whose date is the default as-of date.
    #[serde(default)]
    pub as_of: Option<String>,
    #[serde(default)]
    pub charges: Vec<String>,
    #[serde(default)]
    pub cite: Option<String>,
    /// Inputs copied into the determination's outputs (an account id).
    #[serde(default)]
    pub echo: Vec<String>,
    /// A formula decision: named formulas over inputs and parameters.
    #[serde(default)]
    pub formulas: Option<RawFormulas>,
}

/// A formula decision's formulas: one set per value of the `select` input
/// (a customer class), or one set named `all` when nothing selects.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFormulas {
    #[serde(default)]
    pub select: Option<String>,
    /// The formula whose value, rounded per the pack, is the total.
    #[serde(default)]
    pub total: Option<String>,
    /// The date the figures take effect: the default as-of date.
    #[serde(default)]
    pub effective: Option<String>,
    pub sets: IndexMap<String, Vec<RawFormula>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFormula {
    pub name: String,
    pub expr: String,
    /// Shown as a line of the determination, with this label.
    #[serde(default)]
    pub line: Option<String>,
    /// The unit of a line's quantity (a tiered line's: `ccf`).
    #[serde(default)]
    pub unit: Option<String>,
    #[serde(default)]
    pub cite: Option<String>,
    /// Where the formula comes from (a file and line).
    #[serde(default)]
    pub source: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawInput {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default = "yes")]
    pub required: bool,
    #[serde(default)]
    pub values: Vec<String>,
    #[serde(default)]
    pub default: Option<serde_json::Value>,
    #[serde(default)]
    pub min: Option<String>,
    #[serde(default)]
    pub max: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    /// For `type: list`: the fields of each item.
    #[serde(default)]
    pub items: Option<IndexMap<String, RawInput>>,
    /// For `type: list`: the most items accepted.
    #[serde(default)]
    pub max_items: Option<usize>,
}

fn yes() -> bool {
    true
}

/// `citations.yaml`: id -> citation.
pub type RawCitations = IndexMap<String, RawCitation>;

#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawCitation {
    pub title: String,
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub text: Option<String>,
}
