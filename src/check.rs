//! `ratebook check`: every problem in a pack at once, each with a stable
//! code and where it is. Errors: YAML syntax and schema (unknown keys with
//! "did you mean"), parameters (dates, statuses, sources, units, floats),
//! charges and decisions (unknown fields, parameters, citations, units),
//! rhai compile errors at the script's line and column, parameters a script
//! names that do not exist. Warnings: parameters nothing uses, fiscal years
//! with no entry. Notes: how many values are `assumed` and `unknown`.

use crate::error::{Error, ErrorKind, Location};
use crate::pack::format::{RawChargeFile, RawCitations, RawDecision, RawManifest};
use crate::pack::{Loader, Pack};
use crate::params::Status;
use serde::Serialize;
use std::collections::BTreeSet;

/// One finding.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    /// `error`, `warning` or `note`.
    pub severity: &'static str,
    #[serde(flatten)]
    pub error: serde_json::Value,
    /// The error itself, for rendering with its snippet.
    #[serde(skip)]
    pub source: Error,
}

fn finding(severity: &'static str, e: Error) -> Finding {
    let json = e.to_json().get("error").cloned().unwrap_or_default();
    Finding {
        severity,
        error: json,
        source: e,
    }
}

/// Checks the pack called `name`; an empty list is a clean pack.
pub fn check(loader: &dyn Loader, name: &str) -> Vec<Finding> {
    let files = match loader.files(name) {
        Ok(f) => f,
        Err(e) => return vec![finding("error", e)],
    };
    let mut out = Vec::new();
    let mut err = |e: Error| out.push(finding("error", e));
    // Every file on its own, so one broken file hides nothing else.
    for (path, text) in &files {
        let yaml = |code| crate::yaml::parse::<serde_json::Value>(path, text, code, ErrorKind::Pack);
        if path == "pack.yaml" {
            if let Err(e) = crate::yaml::parse::<RawManifest>(path, text, "ratebook::pack::yaml", ErrorKind::Pack) {
                err(e);
            }
        } else if path == "citations.yaml" {
            if let Err(e) = crate::yaml::parse::<RawCitations>(path, text, "ratebook::pack::yaml", ErrorKind::Pack) {
                err(e);
            }
        } else if path.starts_with("params/") && path.ends_with(".yaml") {
            for e in crate::pack::check_params(path, text) {
                err(e);
            }
        } else if path.starts_with("charges/") && path.ends_with(".yaml") {
            if let Err(e) = crate::yaml::parse::<RawChargeFile>(path, text, "ratebook::pack::yaml", ErrorKind::Pack) {
                err(e);
            }
        } else if path.starts_with("decisions/") && path.ends_with(".yaml") {
            if let Err(e) = crate::yaml::parse::<RawDecision>(path, text, "ratebook::pack::yaml", ErrorKind::Pack) {
                err(e);
            }
        } else if path.starts_with("tests/")
            && path.ends_with(".yaml")
            && let Err(e) = yaml("ratebook::test::yaml")
        {
            err(e);
        }
    }
    let rhai = crate::script::engine(&crate::pack::Limits::DEFAULT);
    for (path, text) in &files {
        if path.starts_with("decisions/")
            && path.ends_with(".rhai")
            && let Err(e) = crate::script::compile(&rhai, path, text)
        {
            err(e);
        }
    }
    if !out.is_empty() {
        return out;
    }
    // The pack as a whole, then each decision on its own.
    let pack = match Pack::load(loader, name) {
        Ok(p) => p,
        Err(e) => return vec![finding("error", e)],
    };
    for src in pack.decisions.values() {
        if let Err(e) = crate::engine::check_decision(&pack, &rhai, src) {
            out.push(finding("error", e));
        }
    }
    lint(&pack, &mut out);
    out
}

/// The parameter names a script reads (`param`, `param_at`,
/// `param_or_unknown` with a literal name), with their lines; a name built
/// with `${...}` gives its fixed start.
fn script_params(text: &str) -> Vec<(String, u64, bool)> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        for f in ["param(", "param_at(", "param_or_unknown("] {
            for part in line.split(f).skip(1) {
                let Some(q) = part.chars().next().filter(|c| *c == '"' || *c == '`') else {
                    continue;
                };
                let rest = &part[1..];
                let Some(end) = rest.find(q) else { continue };
                let name = &rest[..end];
                match name.find("${") {
                    Some(j) => out.push((name[..j].to_string(), i as u64 + 1, true)),
                    None => out.push((name.to_string(), i as u64 + 1, false)),
                }
            }
        }
    }
    out
}

fn lint(pack: &Pack, out: &mut Vec<Finding>) {
    let mut used: BTreeSet<String> = BTreeSet::new();
    let mut prefixes: Vec<String> = Vec::new();
    for (file, text) in &pack.files {
        if !(file.starts_with("decisions/") && file.ends_with(".rhai")) {
            continue;
        }
        // A name given as a literal anywhere (a list of names a loop reads).
        for p in pack.params.names() {
            if text.contains(&format!("\"{p}\"")) {
                used.insert(p.to_string());
            }
        }
        for (name, line, prefix) in script_params(text) {
            if prefix {
                prefixes.push(name);
            } else if pack.params.by_name(&name).is_none() {
                out.push(finding(
                    "error",
                    Error::pack(
                        "ratebook::check::unknown_param",
                        format!("{file}: the script reads parameter `{name}`, which the pack does not define"),
                    )
                    .at(Location::at(file.clone(), line, 1)),
                ));
            } else {
                used.insert(name);
            }
        }
    }
    // Names a formula decision's formulas read.
    for src in pack.decisions.values() {
        let Some((_, def)) = &src.def else { continue };
        for f in def.formulas.iter().flat_map(|fs| fs.sets.values()).flatten() {
            used.extend(crate::formulas::names_in(&f.expr).unwrap_or_default());
            used.extend(crate::formulas::tables_in(&f.expr).unwrap_or_default());
        }
    }
    for (_, raw) in pack.charges.values() {
        used.insert(raw.rate.clone());
        let q = raw.quantity.to_string();
        for p in pack.params.names() {
            if q.contains(&format!("\"{p}\"")) {
                used.insert(p.to_string());
            }
        }
        if raw.per.as_deref() == Some("month") {
            used.insert("calendar.days_per_month".into());
        }
    }
    let mut assumed = 0;
    let mut unknown = 0;
    for p in pack.params.iter() {
        let loc = p.location.clone();
        if !used.contains(&*p.name) && !prefixes.iter().any(|x| p.name.starts_with(x.as_str())) {
            out.push(finding(
                "warning",
                Error::pack(
                    "ratebook::check::unused_param",
                    format!("parameter `{}` is not used by any charge or script", p.name),
                )
                .at(loc.clone()),
            ));
        }
        for w in p.values.windows(2) {
            let [a, b] = w else { continue };
            let july = |d: chrono::NaiveDate| chrono::Datelike::month(&d) == 7 && chrono::Datelike::day(&d) == 1;
            if july(a.from) && july(b.from) && (b.from - a.from).num_days() > 366 {
                out.push(finding(
                    "warning",
                    Error::pack(
                        "ratebook::check::fiscal_year_gap",
                        format!(
                            "parameter `{}` has no value for a fiscal year between {} and {}: the value from {} is carried past July 1",
                            p.name, a.from, b.from, a.from
                        ),
                    )
                    .at(b.location.clone()),
                ));
            }
        }
        for v in &p.values {
            match v.status {
                Status::Assumed => assumed += 1,
                Status::Unknown => unknown += 1,
                _ => {}
            }
        }
    }
    out.push(finding(
        "note",
        Error::pack(
            "ratebook::check::summary",
            format!("{assumed} dated value(s) are `assumed` and {unknown} are `unknown` (see `ratebook params`)"),
        ),
    ));
}
