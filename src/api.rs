//! The JSON API shared by the CLI, the wasm module and the test runner:
//! one call per operation, taking and returning text, so every front end
//! gives the same bytes. Front ends only convert arguments and print.

use crate::case::Case;
use crate::engine::{Engine, Options, parse_override};
use crate::error::{Error, Result};
use crate::pack::Pack;
use crate::params::{DatedValue, Figure, Parameter, Status, ValueData};
use crate::render::{Format, render};
use chrono::NaiveDate;
use serde::Serialize;

/// A request to decide one case.
#[derive(Debug, Clone, Default)]
pub struct DecideRequest<'a> {
    pub decision: &'a str,
    /// Case text (YAML or JSON) and its name for messages.
    pub case_text: &'a str,
    pub case_name: &'a str,
    pub as_of: Option<NaiveDate>,
    /// `--set` overrides (`PARAM[KEY]@DATE=VALUE`).
    pub set: &'a [String],
}

/// Decides a case and renders the determination. The engine is reused
/// unless the request supplies figures (`set`), which need an engine of
/// their own.
pub fn decide(engine: &Engine, req: &DecideRequest<'_>, format: Format) -> Result<String> {
    let overridden;
    let engine = if req.set.is_empty() {
        engine
    } else {
        let overrides = req.set.iter().map(|s| parse_override(s)).collect::<Result<Vec<_>>>()?;
        overridden = Engine::with_overrides(engine.pack().clone(), &overrides)?;
        &overridden
    };
    let case = Case::parse(req.case_name, req.case_text)?;
    let det = engine.decide(
        req.decision,
        &case,
        &Options {
            as_of: req.as_of,
            trace: true,
        },
    )?;
    Ok(render(&det, engine.pack(), format))
}

/// The JSON error envelope as text.
pub fn error_json(e: &Error) -> String {
    serde_json::to_string_pretty(&e.to_json()).unwrap_or_default()
}

/// One row of the rate sheet.
#[derive(Debug, Clone, Serialize)]
pub struct RateRow {
    pub name: String,
    pub description: String,
    pub unit: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// The figure, or `unknown`.
    pub value: String,
    pub status: Status,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub effective_from: Option<NaiveDate>,
    pub source: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// The rate sheet in force on `at` (every parameter, or those whose name
/// starts with `filter`, each table key on its own row); without a date,
/// every dated value of each parameter (its history).
pub fn rate_sheet(pack: &Pack, at: Option<NaiveDate>, filter: Option<&str>) -> Vec<RateRow> {
    let mut rows = Vec::new();
    for p in pack.params.iter() {
        if filter.is_some_and(|f| !p.name.starts_with(f)) {
            continue;
        }
        match at {
            Some(date) => match p.dated_at(date) {
                Some(dv) => dated_rows(p, dv, &mut rows),
                None => {
                    let first = p.values.first().map(|v| v.from.to_string()).unwrap_or_default();
                    let mut r = row(p, None, "unknown".into(), Status::Unknown);
                    r.source = format!("no value before {first} in this pack");
                    rows.push(r);
                }
            },
            None => {
                for dv in &p.values {
                    dated_rows(p, dv, &mut rows);
                }
            }
        }
    }
    rows
}

fn row(p: &Parameter, key: Option<String>, value: String, status: Status) -> RateRow {
    RateRow {
        name: p.name.to_string(),
        description: p.description.to_string(),
        unit: p.unit.to_string(),
        key,
        value,
        status,
        effective_from: None,
        source: String::new(),
        url: None,
    }
}

/// The rows of one dated value: one per table key.
fn dated_rows(p: &Parameter, dv: &DatedValue, rows: &mut Vec<RateRow>) {
    let fig = |f: &Figure| match f {
        Figure::Known(d) => (d.to_string(), dv.status),
        Figure::Supplied(d) => (d.to_string(), Status::Supplied),
        Figure::Unknown => ("unknown".to_string(), Status::Unknown),
    };
    let mut push = |key: Option<String>, (value, status): (String, Status)| {
        let mut r = row(p, key, value, status);
        r.effective_from = Some(dv.from);
        r.source = dv.source.to_string();
        r.url = dv.url.as_deref().map(str::to_string);
        rows.push(r);
    };
    match &dv.data {
        ValueData::Scalar(f) => push(None, fig(f)),
        ValueData::Table(figs) => {
            for (k, f) in p.keys.iter().zip(figs) {
                push(Some(k.to_string()), fig(f));
            }
        }
        ValueData::Tiers(t) => {
            let text = t
                .iter()
                .map(|t| match t.up_to {
                    Some(u) => format!("up to {u}: {}", t.rate),
                    None => format!("above: {}", t.rate),
                })
                .collect::<Vec<_>>()
                .join("; ");
            push(None, (text, dv.status));
        }
        ValueData::Unknown if p.keys.is_empty() => push(None, ("unknown".into(), Status::Unknown)),
        ValueData::Unknown => {
            for k in &p.keys {
                push(Some(k.to_string()), ("unknown".into(), Status::Unknown));
            }
        }
    }
}

/// The rate sheet as aligned text.
pub fn rate_sheet_text(pack: &Pack, at: Option<NaiveDate>, rows: &[RateRow]) -> String {
    use std::fmt::Write;
    let mut o = String::new();
    let when = at
        .map(|d| format!("in force on {d}"))
        .unwrap_or_else(|| "history (every dated value)".into());
    let _ = writeln!(
        o,
        "Rate sheet {when}: pack {} {} ({})",
        pack.ident.id, pack.ident.version, pack.ident.digest
    );
    let _ = writeln!(o);
    for r in rows {
        let name = match &r.key {
            Some(k) => format!("{}[{k}]", r.name),
            None => r.name.clone(),
        };
        let from = r.effective_from.map(|d| format!("from {d}")).unwrap_or_default();
        let _ = writeln!(
            o,
            "{name:<44} {:>10} {:<20} {:<9} {from}",
            r.value,
            r.unit,
            r.status.as_str()
        );
        let _ = writeln!(o, "    {}", r.source);
    }
    o
}
