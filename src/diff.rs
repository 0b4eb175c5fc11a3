//! Semantic diff of two packs (a proposal and its base): parameters added,
//! removed and changed by date with old and new values, charges and
//! decisions changed, citations added, removed and changed. Pure.

use crate::api::{RateRow, rate_sheet};
use crate::pack::{Pack, PackId};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write;

/// One change.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Change {
    /// `added`, `removed` or `changed`.
    pub change: &'static str,
    /// What changed: `water.volume_rate[quarterly] from 2024-07-01`, a
    /// charge id, `decisions/bill.yaml`, a citation id.
    pub what: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new: Option<String>,
}

/// The diff.
#[derive(Debug, Clone, Serialize)]
pub struct PackDiff {
    pub base: PackId,
    pub proposed: PackId,
    pub parameters: Vec<Change>,
    pub charges: Vec<Change>,
    pub decisions: Vec<Change>,
    pub citations: Vec<Change>,
}

impl PackDiff {
    pub fn is_empty(&self) -> bool {
        self.parameters.is_empty() && self.charges.is_empty() && self.decisions.is_empty() && self.citations.is_empty()
    }
}

fn compare<K: Ord + Clone + std::fmt::Display>(
    old: &BTreeMap<K, String>,
    new: &BTreeMap<K, String>,
    out: &mut Vec<Change>,
) {
    for (k, v) in old {
        match new.get(k) {
            None => out.push(Change {
                change: "removed",
                what: k.to_string(),
                old: Some(v.clone()),
                new: None,
            }),
            Some(w) if w != v => out.push(Change {
                change: "changed",
                what: k.to_string(),
                old: Some(v.clone()),
                new: Some(w.clone()),
            }),
            Some(_) => {}
        }
    }
    for (k, w) in new {
        if !old.contains_key(k) {
            out.push(Change {
                change: "added",
                what: k.to_string(),
                old: None,
                new: Some(w.clone()),
            });
        }
    }
}

/// Every dated value of every parameter: `name[key] from DATE` -> `value unit (status): source`.
fn values(pack: &Pack) -> BTreeMap<String, String> {
    let shown = |r: &RateRow| format!("{} {} ({}): {}", r.value, r.unit, r.status.as_str(), r.source);
    rate_sheet(pack, None, None)
        .iter()
        .map(|r| {
            let key = r.key.as_ref().map(|k| format!("[{k}]")).unwrap_or_default();
            let from = r.effective_from.map(|d| d.to_string()).unwrap_or_default();
            (format!("{}{key} from {from}", r.name), shown(r))
        })
        .collect()
}

/// The diff from `base` to `proposed`.
pub fn diff(base: &Pack, proposed: &Pack) -> PackDiff {
    let mut d = PackDiff {
        base: (*base.ident).clone(),
        proposed: (*proposed.ident).clone(),
        parameters: Vec::new(),
        charges: Vec::new(),
        decisions: Vec::new(),
        citations: Vec::new(),
    };
    compare(&values(base), &values(proposed), &mut d.parameters);
    let charges = |p: &Pack| -> BTreeMap<String, String> {
        p.charges
            .iter()
            .map(|(id, (file, raw))| (id.clone(), format!("{raw:?} ({file})")))
            .collect()
    };
    compare(&charges(base), &charges(proposed), &mut d.charges);
    // A changed charge's whole definition is long: say which file it is in.
    for c in &mut d.charges {
        let file = |s: &Option<String>| {
            s.as_deref()
                .and_then(|t| t.rsplit_once(" ("))
                .map(|(_, f)| f.trim_end_matches(')').to_string())
        };
        if c.change == "changed" {
            c.old = file(&c.old);
            c.new = file(&c.new);
        }
    }
    let decisions = |p: &Pack| -> BTreeMap<String, String> {
        p.files
            .iter()
            .filter(|(f, _)| f.starts_with("decisions/"))
            .map(|(f, t)| (f.clone(), t.clone()))
            .collect()
    };
    compare(&decisions(base), &decisions(proposed), &mut d.decisions);
    for c in &mut d.decisions {
        // Whole files: say how many lines changed rather than print them.
        let lines = |s: &Option<String>| s.as_ref().map(|t| t.lines().count()).unwrap_or(0);
        let (o, n) = (lines(&c.old), lines(&c.new));
        c.old = (o > 0).then(|| format!("{o} lines"));
        c.new = (n > 0).then(|| format!("{n} lines"));
    }
    let citations = |p: &Pack| -> BTreeMap<String, String> {
        p.citations
            .iter()
            .map(|(id, c)| {
                (
                    id.clone(),
                    format!(
                        "{}{}",
                        c.title,
                        c.url.as_deref().map(|u| format!(" <{u}>")).unwrap_or_default()
                    ),
                )
            })
            .collect()
    };
    compare(&citations(base), &citations(proposed), &mut d.citations);
    d
}

impl PackDiff {
    /// Text for a terminal, or markdown for a proposal (`markdown: true`).
    pub fn render(&self, markdown: bool) -> String {
        let mut o = String::new();
        let head = format!(
            "{} {} -> {} {}",
            self.base.id, self.base.version, self.proposed.id, self.proposed.version
        );
        if markdown {
            let _ = writeln!(o, "## Changes: {head}\n");
        } else {
            let _ = writeln!(o, "changes: {head}");
        }
        if self.is_empty() {
            let _ = writeln!(o, "no changes to parameters, charges, decisions or citations");
        }
        for (title, list) in [
            ("parameters", &self.parameters),
            ("charges", &self.charges),
            ("decisions", &self.decisions),
            ("citations", &self.citations),
        ] {
            if list.is_empty() {
                continue;
            }
            if markdown {
                let _ = writeln!(
                    o,
                    "### {title}\n\n| change | what | before | after |\n|---|---|---|---|"
                );
            } else {
                let _ = writeln!(o, "\n{title}");
            }
            for c in list {
                let (old, new) = (c.old.as_deref().unwrap_or("-"), c.new.as_deref().unwrap_or("-"));
                if markdown {
                    let _ = writeln!(
                        o,
                        "| {} | {} | {} | {} |",
                        c.change,
                        c.what.replace('|', "\\|"),
                        old.replace('|', "\\|"),
                        new.replace('|', "\\|")
                    );
                } else {
                    let _ = writeln!(
                        o,
                        "  {:<8} {}\n           before: {old}\n           after:  {new}",
                        c.change, c.what
                    );
                }
            }
            if markdown {
                let _ = writeln!(o);
            }
        }
        o
    }
}
