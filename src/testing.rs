//! A pack's own tests (`rules/<pack>/tests/*.yaml`): cases with partial
//! expectations, run against the pack, with a readable difference for each
//! failure. Expectations compare the public JSON of the determination (or of
//! the error), so a test says exactly what a user would see.
//!
//! ```yaml
//! decision: bill
//! base: { ... }                  # optional: every case is merged over it
//! cases:
//!   - name: FY23-24 typical quarterly water bill
//!     case: { ... }
//!     as_of: 2024-01-01          # optional
//!     set: ["PARAM[KEY]@DATE=VALUE"]   # optional overrides
//!     expect:                    # any part of the determination JSON
//!       total: "168.66"
//!       lines: [ { id: water.volume, amount: "105.09" }, ... ]   # lists match in full length
//!     requirements:              # reasons by rule: passed, or { passed, fix, text }
//!       repair_completed_in_time: { passed: false, fix: "the repair is completed by 2025-09-19" }
//!       field_check: true
//!   - name: a missing figure fails
//!     case: { ... }
//!     expect_error: { code: ratebook::params::unknown_value }
//! ```

use crate::case::Case;
use crate::dates::parse_date;
use crate::engine::{Engine, Options, parse_override};
use crate::error::{ErrorKind, Result};
use crate::pack::Pack;
use indexmap::IndexMap;
use serde::Deserialize;
use serde_json::Value;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TestFile {
    decision: String,
    #[serde(default)]
    description: Option<String>,
    /// A case every case of the file is merged over: maps merge key by key,
    /// anything else replaces, and `null` removes the key.
    #[serde(default)]
    base: Option<Value>,
    cases: Vec<TestCase>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TestCase {
    name: String,
    case: Value,
    #[serde(default)]
    as_of: Option<String>,
    #[serde(default)]
    set: Vec<String>,
    #[serde(default)]
    expect: Option<Value>,
    #[serde(default)]
    expect_error: Option<Value>,
    /// Reasons by rule id, each `true`/`false` or a partial reason.
    #[serde(default)]
    requirements: Option<IndexMap<String, Value>>,
    #[serde(default)]
    decision: Option<String>,
}

/// The outcome of one test case.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CaseResult {
    pub file: String,
    pub name: String,
    pub passed: bool,
    /// One line per difference: `path: expected X, got Y`.
    pub differences: Vec<String>,
    /// The reasons the determination recorded, by rule, met or not (what
    /// the test exercised).
    #[serde(skip)]
    pub exercised: Vec<(String, bool)>,
    /// What else the determination used: citations, dated parameter
    /// values (`name from DATE`) and lines.
    #[serde(skip)]
    pub used: Used,
}

/// The citations, dated values and lines one determination used.
#[derive(Debug, Clone, Default)]
pub struct Used {
    pub citations: Vec<String>,
    pub values: Vec<String>,
    pub lines: Vec<String>,
}

impl Used {
    fn of(det: &crate::determination::Determination) -> Used {
        let mut u = Used::default();
        for r in &det.reasons {
            u.citations.push(r.cite.to_string());
        }
        for l in &det.lines {
            u.citations.push(l.cite().to_string());
            u.lines.push(l.id().to_string());
        }
        for s in &det.trace {
            match &s.event {
                crate::determination::Event::Param(r) => {
                    if let Some(d) = r.dated() {
                        u.values.push(format!("{} from {}", r.param.name, d.from));
                    }
                }
                crate::determination::Event::Tiers {
                    name, effective_from, ..
                } => {
                    u.values.push(format!("{name} from {effective_from}"));
                }
                _ => {}
            }
        }
        u
    }
}

/// One kind of coverage: how many there are, and those never exercised.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Covered {
    pub total: usize,
    pub exercised: usize,
    pub never: Vec<String>,
}

/// What a pack's tests exercised, in City Code sections (citations), dated
/// parameter values, requirements (met and not met) and bill lines.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Coverage {
    pub citations: Covered,
    pub parameter_values: Covered,
    pub requirements_met: Covered,
    pub requirements_not_met: Covered,
    pub lines: Covered,
}

fn covered(all: Vec<String>, seen: &std::collections::BTreeSet<String>) -> Covered {
    let never: Vec<String> = all.iter().filter(|a| !seen.contains(*a)).cloned().collect();
    Covered {
        total: all.len(),
        exercised: all.len() - never.len(),
        never,
    }
}

/// The rule ids a pack's scripts record with `require("id", ...)`, and
/// whether each can be met and not met (a literal `true`/`false` says no).
fn requirements(pack: &Pack) -> Vec<(String, bool, bool)> {
    let mut out: Vec<(String, bool, bool)> = Vec::new();
    for (file, text) in &pack.files {
        if !(file.starts_with("decisions/") && file.ends_with(".rhai")) {
            continue;
        }
        for call in text.split("require(\"").skip(1) {
            let Some((rule, rest)) = call.split_once('"') else {
                continue;
            };
            let arg = rest.trim_start_matches(',').trim_start();
            let (can_pass, can_fail) = (!arg.starts_with("false"), !arg.starts_with("true"));
            match out.iter_mut().find(|(r, _, _)| r == rule) {
                Some(e) => {
                    e.1 |= can_pass;
                    e.2 |= can_fail;
                }
                None => out.push((rule.to_string(), can_pass, can_fail)),
            }
        }
    }
    out
}

/// Coverage of `pack` by the test results in `report`.
pub fn coverage(pack: &Pack, report: &Report) -> Coverage {
    use std::collections::BTreeSet;
    let mut cites = BTreeSet::new();
    let mut values = BTreeSet::new();
    let mut lines = BTreeSet::new();
    let mut met = BTreeSet::new();
    let mut not_met = BTreeSet::new();
    for r in &report.results {
        cites.extend(r.used.citations.iter().cloned());
        values.extend(r.used.values.iter().cloned());
        lines.extend(r.used.lines.iter().cloned());
        for (rule, passed) in &r.exercised {
            if *passed {
                met.insert(rule.clone());
            } else {
                not_met.insert(rule.clone());
            }
        }
    }
    let all_values: Vec<String> = pack
        .params
        .iter()
        .flat_map(|p| p.values.iter().map(move |v| format!("{} from {}", p.name, v.from)))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let reqs = requirements(pack);
    Coverage {
        citations: covered(pack.citations.keys().cloned().collect(), &cites),
        parameter_values: covered(all_values, &values),
        requirements_met: covered(reqs.iter().filter(|r| r.1).map(|r| r.0.clone()).collect(), &met),
        requirements_not_met: covered(reqs.iter().filter(|r| r.2).map(|r| r.0.clone()).collect(), &not_met),
        lines: covered(pack.charges.keys().cloned().collect(), &lines),
    }
}

/// The outcome of a pack's test run.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Report {
    pub results: Vec<CaseResult>,
}

impl Report {
    pub fn passed(&self) -> usize {
        self.results.iter().filter(|r| r.passed).count()
    }
    pub fn failed(&self) -> usize {
        self.results.len() - self.passed()
    }
}

/// Runs every test of the pack whose name contains `filter`.
pub fn run(pack: &Pack, filter: Option<&str>) -> Result<Report> {
    let mut report = Report::default();
    for_each_case(pack, filter, |engine, file, decision, tc| {
        report.results.push(run_case(engine, file, decision, tc));
    })?;
    Ok(report)
}

/// One test case's determination as `decide --format json` writes it (or
/// its error envelope): what another build (wasm) must give to the byte.
#[derive(Debug, Clone, serde::Serialize, PartialEq, Eq)]
pub struct CaseOutput {
    pub file: String,
    pub name: String,
    pub output: String,
}

/// Every test case's determination, as JSON text.
pub fn determinations(pack: &Pack) -> Result<Vec<CaseOutput>> {
    let mut out = Vec::new();
    for_each_case(pack, None, |engine, file, decision, tc| {
        let as_of = tc.as_of.as_deref().and_then(parse_date);
        let case = Case::from_value(&format!("{file}: {}", tc.name), tc.case.clone());
        let output = match engine.decide(decision, &case, &Options { as_of, trace: true }) {
            Ok(det) => crate::render::render(&det, engine.pack(), crate::render::Format::Json),
            Err(e) => crate::api::error_json(&e),
        };
        out.push(CaseOutput {
            file: file.to_string(),
            name: tc.name.clone(),
            output,
        });
    })?;
    Ok(out)
}

/// Calls `f` for every test case (merged over its file's base), with the
/// engine its supplied figures need.
fn for_each_case(pack: &Pack, filter: Option<&str>, mut f: impl FnMut(&Engine, &str, &str, &TestCase)) -> Result<()> {
    let base = Engine::new(pack.clone())?;
    let mut engines: IndexMap<Vec<String>, Engine> = IndexMap::new();
    for (file, text) in &pack.tests {
        let tf: TestFile = crate::yaml::parse(file, text, "ratebook::test::yaml", ErrorKind::Pack)?;
        let _ = &tf.description;
        for mut tc in tf.cases {
            if filter.is_some_and(|f| !tc.name.contains(f)) {
                continue;
            }
            if let Some(base) = &tf.base {
                let mut merged = base.clone();
                merge(&mut merged, std::mem::take(&mut tc.case));
                tc.case = merged;
            }
            let decision = tc.decision.clone().unwrap_or_else(|| tf.decision.clone());
            let engine = if tc.set.is_empty() {
                &base
            } else {
                if !engines.contains_key(&tc.set) {
                    let overrides = tc.set.iter().map(|s| parse_override(s)).collect::<Result<Vec<_>>>()?;
                    engines.insert(tc.set.clone(), Engine::with_overrides(pack.clone(), &overrides)?);
                }
                match engines.get(&tc.set) {
                    Some(e) => e,
                    None => &base,
                }
            };
            f(engine, file, &decision, &tc);
        }
    }
    Ok(())
}

/// Merges `over` into `base`: maps key by key, `null` removes a key,
/// anything else replaces.
fn merge(base: &mut Value, over: Value) {
    match (base, over) {
        (Value::Object(b), Value::Object(o)) => {
            for (k, v) in o {
                if v.is_null() {
                    b.remove(&k);
                } else if let Some(slot) = b.get_mut(&k) {
                    merge(slot, v);
                } else {
                    b.insert(k, v);
                }
            }
        }
        (slot, v) => *slot = v,
    }
}

fn run_case(engine: &Engine, file: &str, decision: &str, tc: &TestCase) -> CaseResult {
    let mut diffs = Vec::new();
    let as_of = tc.as_of.as_deref().and_then(parse_date);
    if tc.as_of.is_some() && as_of.is_none() {
        diffs.push("as_of: not a date".to_string());
    }
    let case = Case::from_value(&format!("{file}: {}", tc.name), tc.case.clone());
    let result = engine.decide(decision, &case, &Options { as_of, trace: true });
    let (exercised, used) = match &result {
        Ok(det) => (
            det.reasons.iter().map(|r| (r.rule.to_string(), r.passed)).collect(),
            Used::of(det),
        ),
        // A test of a missing figure exercises the unknown value it names.
        Err(e) => {
            let mut u = Used::default();
            for m in &e.missing {
                if let Some(d) = engine.pack().params.by_name(&m.param).and_then(|p| p.dated_at(m.date)) {
                    u.values.push(format!("{} from {}", m.param, d.from));
                }
            }
            (Vec::new(), u)
        }
    };
    match (result, &tc.expect, &tc.expect_error) {
        (Ok(det), Some(exp), None) => {
            let actual = serde_json::to_value(&det).unwrap_or_default();
            compare(exp, &actual, "", &mut diffs);
            if let Some(reqs) = &tc.requirements {
                compare_requirements(reqs, &actual, &mut diffs);
            }
        }
        (Err(e), None, Some(exp)) => {
            let actual = e.to_json().get("error").cloned().unwrap_or_default();
            compare(exp, &actual, "error", &mut diffs);
        }
        (Ok(det), None, Some(_)) => diffs.push(format!("expected an error, got outcome `{}`", det.outcome)),
        (Err(e), Some(_), None) => diffs.push(format!("unexpected error {}: {}", e.code, e.message)),
        (_, None, None) => diffs.push("the test has neither `expect` nor `expect_error`".into()),
        (_, Some(_), Some(_)) => diffs.push("the test has both `expect` and `expect_error`".into()),
    }
    CaseResult {
        file: file.to_string(),
        name: tc.name.clone(),
        passed: diffs.is_empty(),
        differences: diffs,
        exercised,
        used,
    }
}

/// Each named rule must be among the reasons, matching `passed` (or the
/// partial reason given); a rule may appear once only.
fn compare_requirements(reqs: &IndexMap<String, Value>, actual: &Value, diffs: &mut Vec<String>) {
    let reasons = actual
        .get("reasons")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for (rule, want) in reqs {
        let found: Vec<&Value> = reasons
            .iter()
            .filter(|r| r.get("rule").and_then(Value::as_str) == Some(rule))
            .collect();
        let path = format!("requirements.{rule}");
        match found.as_slice() {
            [] => {
                let known: Vec<&str> = reasons.iter().filter_map(|r| r.get("rule")?.as_str()).collect();
                diffs.push(format!("{path}: not among the reasons ({})", known.join(", ")));
            }
            [one] => match want {
                Value::Bool(_) => compare(want, one.get("passed").unwrap_or(&Value::Null), &path, diffs),
                _ => compare(want, one, &path, diffs),
            },
            _ => diffs.push(format!("{path}: recorded {} times", found.len())),
        }
    }
}

fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Null => Some("null".into()),
        _ => None,
    }
}

/// Partial comparison: every key the expectation names must match; lists
/// must have the same length; scalars compare as text ("15" equals 15).
pub fn compare(expected: &Value, actual: &Value, path: &str, diffs: &mut Vec<String>) {
    let at = |k: &str| {
        if path.is_empty() {
            k.to_string()
        } else {
            format!("{path}.{k}")
        }
    };
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => {
            for (k, ev) in e {
                match a.get(k) {
                    Some(av) => compare(ev, av, &at(k), diffs),
                    None => diffs.push(format!("{}: expected {}, but it is absent", at(k), short(ev))),
                }
            }
        }
        (Value::Array(e), Value::Array(a)) => {
            if e.len() != a.len() {
                diffs.push(format!(
                    "{path}: expected {} item(s), got {}: {}",
                    e.len(),
                    a.len(),
                    summary(a)
                ));
            }
            for (i, (ev, av)) in e.iter().zip(a).enumerate() {
                compare(ev, av, &format!("{path}[{i}]"), diffs);
            }
        }
        (e, a) => match (scalar_text(e), scalar_text(a)) {
            (Some(x), Some(y)) if x == y => {}
            _ => diffs.push(format!("{path}: expected {}, got {}", short(e), short(a))),
        },
    }
}

fn summary(a: &[Value]) -> String {
    let ids: Vec<String> = a
        .iter()
        .map(|v| {
            match (
                v.get("id").or_else(|| v.get("code")).or_else(|| v.get("param")),
                v.get("amount"),
            ) {
                (Some(id), Some(am)) => format!(
                    "{}={}",
                    scalar_text(id).unwrap_or_default(),
                    scalar_text(am).unwrap_or_default()
                ),
                (Some(id), None) => scalar_text(id).unwrap_or_default(),
                _ => short(v),
            }
        })
        .collect();
    format!("[{}]", ids.join(", "))
}

fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 120 {
        format!("{}…", s.chars().take(120).collect::<String>())
    } else {
        s
    }
}
