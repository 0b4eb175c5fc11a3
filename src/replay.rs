//! Reproducibility: a determination made again from what it carries (the
//! decision, the case, the as-of date, the supplied figures), compared to
//! the byte with the recorded one; when they differ, what differs and why
//! (another pack, a changed figure or rule). Pure: the caller reads files.

use crate::case::Case;
use crate::determination::Determination;
use crate::engine::{Engine, Options, parse_override};
use crate::error::{Error, Location, Result};
use crate::pack::Pack;
use serde::Serialize;
use serde_json::Value;

/// A recorded determination, as read back.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub decision: String,
    pub pack: PackRef,
    pub as_of: chrono::NaiveDate,
    pub case: Value,
    pub set: Vec<String>,
    pub known_at: Option<chrono::NaiveDate>,
    /// The recorded JSON as text and as a value.
    pub text: String,
    pub value: Value,
    /// How it was written: `decide --format json` (pretty, with its trace)
    /// or a decision log entry (compact, without the trace).
    pub layout: Layout,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    Pretty,
    Logged,
}

/// One entry of the decision log (`ratebook serve`), as read back.
#[derive(Debug, Clone)]
pub struct LogEntry {
    pub seq: u64,
    pub status: u16,
    /// The determination served; `None` for an entry that records an error.
    pub recorded: Option<Recorded>,
}

impl LogEntry {
    /// Reads one line of the decision log; `name` says where it is.
    pub fn parse(name: &str, line: &str) -> Result<LogEntry> {
        #[derive(serde::Deserialize)]
        struct Raw<'a> {
            seq: u64,
            status: u16,
            #[serde(borrow)]
            determination: Option<&'a serde_json::value::RawValue>,
        }
        let raw: Raw<'_> = serde_json::from_str(line).map_err(|e| {
            Error::input(
                "ratebook::replay::bad_log_entry",
                format!("{name}: not a decision log entry: {e}"),
            )
            .at(Location::file(name))
        })?;
        let recorded = match raw.determination {
            None => None,
            Some(det) => {
                let mut rec = Recorded::parse(name, det.get())?;
                rec.layout = Layout::Logged;
                Some(rec)
            }
        };
        Ok(LogEntry {
            seq: raw.seq,
            status: raw.status,
            recorded,
        })
    }
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct PackRef {
    pub id: String,
    pub version: String,
    pub digest: String,
}

impl Recorded {
    /// Reads a determination's JSON (`decide --format json`).
    pub fn parse(name: &str, text: &str) -> Result<Recorded> {
        let bad = |m: String| {
            Error::input("ratebook::replay::bad_determination", format!("{name}: {m}")).at(Location::file(name))
        };
        let value: Value = serde_json::from_str(text).map_err(|e| {
            Error::input("ratebook::replay::syntax", format!("{name}: {e}")).at(Location::at(
                name,
                e.line() as u64,
                e.column() as u64,
            ))
        })?;
        let s = |v: Option<&Value>, what: &str| -> Result<String> {
            v.and_then(Value::as_str).map(str::to_string).ok_or_else(|| {
                bad(format!(
                    "it has no `{what}`; is it a determination (`decide --format json`)?"
                ))
            })
        };
        let pack = value.get("pack");
        let as_of = s(value.get("as_of"), "as_of")?;
        let case = value.get("case").cloned().ok_or_else(|| {
            bad("it does not carry its case (it was made before determinations recorded them); decide it again from the case file".into())
        })?;
        Ok(Recorded {
            decision: s(value.get("decision"), "decision")?,
            pack: PackRef {
                id: s(pack.and_then(|p| p.get("id")), "pack.id")?,
                version: s(pack.and_then(|p| p.get("version")), "pack.version")?,
                digest: s(pack.and_then(|p| p.get("digest")), "pack.digest")?,
            },
            as_of: crate::dates::parse_date(&as_of).ok_or_else(|| bad(format!("`as_of: {as_of}` is not a date")))?,
            case,
            set: value
                .get("set")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
                .unwrap_or_default(),
            known_at: value
                .get("known_at")
                .and_then(Value::as_str)
                .and_then(crate::dates::parse_date),
            text: text.to_string(),
            value,
            layout: Layout::Pretty,
        })
    }
}

/// The outcome of a replay.
#[derive(Debug, Clone, Serialize)]
pub struct Replay {
    /// `identical` (the same bytes), `same_content` (the same JSON, laid out
    /// differently) or `differs`.
    pub verdict: &'static str,
    pub recorded_pack: PackRef,
    pub replayed_pack: PackRef,
    /// Why it differs, in sentences.
    pub explanations: Vec<String>,
    /// Each differing field: `path: recorded X, replayed Y` (the first 50).
    pub differences: Vec<String>,
    /// The determination made again, as JSON text.
    #[serde(skip)]
    pub replayed: String,
}

impl Replay {
    pub fn same(&self) -> bool {
        self.verdict != "differs"
    }
}

/// Makes the recorded determination again with `pack`.
pub fn replay(pack: Pack, rec: &Recorded) -> Result<Replay> {
    let overrides = rec.set.iter().map(|s| parse_override(s)).collect::<Result<Vec<_>>>()?;
    let engine = match rec.known_at {
        Some(date) => Engine::known_at(pack, &overrides, date)?,
        None => Engine::with_overrides(pack, &overrides)?,
    };
    let case = Case::from_value("the recorded case", rec.case.clone());
    let det = engine.decide(
        &rec.decision,
        &case,
        &Options {
            as_of: Some(rec.as_of),
            trace: true,
        },
    )?;
    // Made again the way it was written: a log entry is compact and has
    // no trace.
    let (det, replayed) = match rec.layout {
        Layout::Pretty => {
            let text = det.to_json_string();
            (det, text)
        }
        Layout::Logged => {
            let det = Determination {
                trace: Vec::new(),
                ..det
            };
            let text = serde_json::to_string(&det).unwrap_or_default();
            (det, text)
        }
    };
    let now = PackRef {
        id: det.pack.id.clone(),
        version: det.pack.version.clone(),
        digest: det.pack.digest.clone(),
    };
    let new_value = serde_json::to_value(&det).unwrap_or_default();
    let mut differences = Vec::new();
    diff(&rec.value, &new_value, "", &mut differences);
    let verdict = if rec.text.trim_end() == replayed.trim_end() {
        "identical"
    } else if differences.is_empty() {
        "same_content"
    } else {
        "differs"
    };
    let mut explanations = Vec::new();
    if verdict == "differs" {
        if rec.pack.id != now.id {
            explanations.push(format!(
                "it was made with pack `{}` and is replayed with pack `{}`",
                rec.pack.id, now.id
            ));
        }
        if rec.pack.digest != now.digest {
            explanations.push(if rec.pack.version == now.version {
                format!(
                    "the pack has the same version ({}) but different contents (digest {} then, {} now): a figure or rule was changed without a new version",
                    now.version, rec.pack.digest, now.digest
                )
            } else {
                format!(
                    "the pack has changed: version {} ({}) then, version {} ({}) now",
                    rec.pack.version, rec.pack.digest, now.version, now.digest
                )
            });
        } else {
            explanations.push(
                "the pack is the same (same digest): the engine that made it differs, or the recorded determination was edited"
                    .into(),
            );
        }
        explanations.extend(changed_figures(&rec.value, &new_value));
    }
    differences.truncate(50);
    Ok(Replay {
        verdict,
        recorded_pack: rec.pack.clone(),
        replayed_pack: now,
        explanations,
        differences,
        replayed,
    })
}

/// Every path where two JSON values differ.
fn diff(a: &Value, b: &Value, path: &str, out: &mut Vec<String>) {
    let at = |k: &str| {
        if path.is_empty() {
            k.to_string()
        } else {
            format!("{path}.{k}")
        }
    };
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for (k, v) in x {
                match y.get(k) {
                    Some(w) => diff(v, w, &at(k), out),
                    None => out.push(format!("{}: recorded {}, replayed absent", at(k), short(v))),
                }
            }
            for (k, w) in y {
                if !x.contains_key(k) {
                    out.push(format!("{}: recorded absent, replayed {}", at(k), short(w)));
                }
            }
        }
        (Value::Array(x), Value::Array(y)) => {
            if x.len() != y.len() {
                out.push(format!("{path}: recorded {} item(s), replayed {}", x.len(), y.len()));
            }
            for (i, (v, w)) in x.iter().zip(y).enumerate() {
                diff(v, w, &format!("{path}[{i}]"), out);
            }
        }
        _ if a != b => out.push(format!("{path}: recorded {}, replayed {}", short(a), short(b))),
        _ => {}
    }
}

fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 80 {
        format!("{}…", s.chars().take(80).collect::<String>())
    } else {
        s
    }
}

/// Figures read in both that have another value now: the changed rule,
/// with the lines it was read for.
pub fn changed_figures(old: &Value, new: &Value) -> Vec<String> {
    type Read = (String, String, String, String, String, String);
    let reads = |v: &Value| -> Vec<Read> {
        v.get("trace")
            .and_then(Value::as_array)
            .map(|t| {
                t.iter()
                    .filter(|s| s.get("kind").and_then(Value::as_str) == Some("param"))
                    .map(|s| {
                        let f = |k: &str| s.get(k).and_then(Value::as_str).unwrap_or("").to_string();
                        (f("name"), f("key"), f("date"), f("value"), f("source"), f("line"))
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    let before = reads(old);
    let after = reads(new);
    let mut out: Vec<String> = Vec::new();
    let mut lines: Vec<Vec<String>> = Vec::new();
    for (name, key, date, value, _, line) in &before {
        if let Some((.., v2, src, _)) = after
            .iter()
            .find(|(n, k, d, ..)| n == name && k == key && d == date)
            .filter(|(_, _, _, v2, _, _)| v2 != value)
        {
            let key = if key.is_empty() {
                String::new()
            } else {
                format!("[{key}]")
            };
            let text = format!("{name}{key} in force on {date} was {value}, now {v2} ({src})");
            let at = match out.iter().position(|t| *t == text) {
                Some(i) => i,
                None => {
                    out.push(text);
                    lines.push(Vec::new());
                    out.len() - 1
                }
            };
            if let Some(l) = lines.get_mut(at)
                && !line.is_empty()
                && !l.contains(line)
            {
                l.push(line.clone());
            }
        }
    }
    out.into_iter()
        .zip(lines)
        .map(|(t, l)| {
            if l.is_empty() {
                t
            } else {
                format!("{t}: the {} line", l.join(", "))
            }
        })
        .collect()
}
