//! Supervisor review: what a staff member determined (a claim) compared
//! with the determination, figure by figure, with the first trace step
//! where they part and the likely cause where it can be told (an old rate,
//! no proration across a rate change, the winter average, a requirement
//! overlooked). Also the batch report over many reviews. Pure: the caller
//! makes the determination and reads the files.

use crate::determination::{Determination, Event, Line, TraceStep};
use crate::error::{Error, Location, Result};
use crate::money::{money_text, parse_decimal, round_money};
use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt::Write;

/// What staff determined.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Claim {
    pub decision: Option<String>,
    pub outcome: Option<String>,
    pub total: Option<Decimal>,
    /// The amount granted or charged (a credit of $114.68 is 114.68): the
    /// size of the determination's total, 0 when it has no lines.
    pub amount: Option<Decimal>,
    pub lines: Vec<ClaimedLine>,
    /// Outputs by name, compared key by key (`next_action: { action: ... }`).
    pub outputs: serde_json::Map<String, Value>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ClaimedLine {
    pub id: String,
    /// With dates, the claim names one segment; without, every line of the id.
    pub from: Option<NaiveDate>,
    pub amount: Decimal,
}

const CLAIM_KEYS: [&str; 6] = ["decision", "outcome", "total", "amount", "lines", "outputs"];

impl Claim {
    /// Reads a claim from YAML or JSON text.
    pub fn parse(name: &str, text: &str) -> Result<Claim> {
        let case = crate::case::Case::parse(name, text)?;
        Claim::from_value(name, &case.value)
    }

    /// A claim from its JSON shape; every problem is named with its field.
    pub fn from_value(name: &str, v: &Value) -> Result<Claim> {
        let bad = |field: &str, m: String| {
            Error::input("ratebook::review::bad_claim", format!("{name}: `{field}`: {m}"))
                .at(Location::field(name, field))
        };
        let obj = v.as_object().ok_or_else(|| {
            Error::input("ratebook::review::bad_claim", format!("{name}: a claim is a map")).at(Location::file(name))
        })?;
        for k in obj.keys() {
            if !CLAIM_KEYS.contains(&k.as_str()) {
                let near = CLAIM_KEYS
                    .iter()
                    .map(|c| (strsim::jaro_winkler(c, k), c))
                    .filter(|(s, _)| *s > 0.8)
                    .max_by(|a, b| a.0.total_cmp(&b.0))
                    .map(|(_, c)| format!("; did you mean `{c}`?"))
                    .unwrap_or_default();
                return Err(bad(
                    k,
                    format!("not a claim field (one of {}){near}", CLAIM_KEYS.join(", ")),
                ));
            }
        }
        let money = |field: &str, v: &Value| -> Result<Decimal> {
            let text = match v {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                _ => String::new(),
            };
            let amount = parse_decimal(&text).ok_or_else(|| bad(field, format!("`{v}` is not an amount")))?;
            // No bill comes near; the bound keeps every sum and difference exact.
            if amount.abs() > Decimal::from(1_000_000_000_000_000i64) {
                return Err(bad(field, format!("`{v}` is beyond any bill (over 10^15)")));
            }
            Ok(amount)
        };
        let text = |field: &str| -> Result<Option<String>> {
            match obj.get(field) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(other) => Err(bad(field, format!("expected text, got `{other}`"))),
            }
        };
        let mut claim = Claim {
            decision: text("decision")?,
            outcome: text("outcome")?,
            ..Claim::default()
        };
        if let Some(t) = obj.get("total").filter(|t| !t.is_null()) {
            claim.total = Some(money("total", t)?);
        }
        if let Some(t) = obj.get("amount").filter(|t| !t.is_null()) {
            claim.amount = Some(money("amount", t)?);
        }
        match obj.get("lines") {
            None | Some(Value::Null) => {}
            Some(Value::Array(items)) => {
                for (i, it) in items.iter().enumerate() {
                    let at = format!("lines[{i}]");
                    let id = it
                        .get("id")
                        .and_then(Value::as_str)
                        .ok_or_else(|| bad(&at, "each line needs an `id`".into()))?;
                    let amount = money(&format!("{at}.amount"), it.get("amount").unwrap_or(&Value::Null))?;
                    let from = match it.get("from") {
                        None | Some(Value::Null) => None,
                        Some(f) => Some(
                            f.as_str()
                                .and_then(crate::dates::parse_date)
                                .ok_or_else(|| bad(&format!("{at}.from"), format!("`{f}` is not a date")))?,
                        ),
                    };
                    claim.lines.push(ClaimedLine {
                        id: id.to_string(),
                        from,
                        amount,
                    });
                }
            }
            Some(other) => return Err(bad("lines", format!("expected a list of lines, got `{other}`"))),
        }
        match obj.get("outputs") {
            None | Some(Value::Null) => {}
            Some(Value::Object(m)) => claim.outputs = m.clone(),
            Some(other) => return Err(bad("outputs", format!("expected a map, got `{other}`"))),
        }
        if claim.outcome.is_none()
            && claim.total.is_none()
            && claim.amount.is_none()
            && claim.lines.is_empty()
            && claim.outputs.is_empty()
        {
            return Err(Error::input(
                "ratebook::review::empty_claim",
                format!("{name}: the claim states no result (outcome, total, amount, lines or outputs)"),
            )
            .at(Location::file(name)));
        }
        Ok(claim)
    }
}

/// Why staff's figure likely differs.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Cause {
    pub code: &'static str,
    pub explanation: String,
}

/// One figure on which staff and ratebook differ.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Difference {
    /// `total`, `amount`, `outcome`, `line water.volume`, `output credit`.
    pub figure: String,
    pub staff: String,
    pub ratebook: String,
    /// Staff minus ratebook, for money.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub difference: Option<Decimal>,
    /// The first trace step where they part, and what it says.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_step: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cause: Option<Cause>,
}

/// The verdict on one claim.
#[derive(Debug, Clone, Serialize)]
pub struct Review {
    pub verdict: &'static str,
    pub decision: String,
    pub outcome: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<Decimal>,
    pub tolerance: Decimal,
    pub differences: Vec<Difference>,
}

impl Review {
    pub fn agrees(&self) -> bool {
        self.differences.is_empty()
    }

    /// The money at stake: the largest money difference on the result
    /// (total or amount), else the sum over lines.
    pub fn at_stake(&self) -> Decimal {
        let on = |f: &str| {
            self.differences
                .iter()
                .find(|d| d.figure == f)
                .and_then(|d| d.difference)
                .map(|d| d.abs())
        };
        on("total").or_else(|| on("amount")).unwrap_or_else(|| {
            self.differences
                .iter()
                .filter(|d| d.figure.starts_with("line "))
                .filter_map(|d| d.difference)
                .map(|d| d.abs())
                .sum()
        })
    }

    /// The cause of the result's difference (the first difference with one).
    pub fn cause(&self) -> Option<&Cause> {
        self.differences.iter().find_map(|d| d.cause.as_ref())
    }
}

/// Compares a claim with the determination.
pub fn review(det: &Determination, claim: &Claim, tolerance: Decimal) -> Review {
    let mut diffs = Vec::new();
    let rb_lines = group_lines(&det.lines);
    let money_differs = |a: Decimal, b: Decimal| a.checked_sub(b).is_none_or(|d| d.abs() > tolerance);

    if let Some(o) = &claim.outcome
        && *o != det.outcome
    {
        let (first_step, step, cause) = outcome_cause(det, o);
        diffs.push(Difference {
            figure: "outcome".into(),
            staff: o.clone(),
            ratebook: det.outcome.to_string(),
            difference: None,
            first_step,
            step,
            cause,
        });
    }

    // Lines, by id (or by segment where the claim gives dates).
    let mut line_diffs = Vec::new();
    let mut claimed_ids: Vec<&str> = Vec::new();
    for cl in &claim.lines {
        if !claimed_ids.contains(&cl.id.as_str()) {
            claimed_ids.push(&cl.id);
        }
    }
    for id in &claimed_ids {
        let claimed: Vec<&ClaimedLine> = claim.lines.iter().filter(|l| l.id == *id).collect();
        let segs: &[&Line] = rb_lines.get(*id).map(Vec::as_slice).unwrap_or_default();
        if claimed.iter().all(|c| c.from.is_some()) && !segs.is_empty() {
            for c in &claimed {
                let rb = segs.iter().find(|l| Some(l.from) == c.from).map(|l| l.amount);
                let rb_amount = rb.unwrap_or_default();
                if rb.is_none() || money_differs(c.amount, rb_amount) {
                    let figure = format!("line {id} from {}", c.from.map(|d| d.to_string()).unwrap_or_default());
                    line_diffs.push(line_difference(det, id, segs, figure, c.amount, rb_amount));
                }
            }
        } else {
            let staff: Decimal = claimed.iter().map(|c| c.amount).sum();
            let rb: Decimal = segs.iter().map(|l| l.amount).sum();
            if segs.is_empty() || money_differs(staff, rb) {
                line_diffs.push(line_difference(det, id, segs, format!("line {id}"), staff, rb));
            }
        }
    }
    // Lines staff did not list count as left out only when the claim also
    // gives a total (a claim of some lines only is partial).
    if !claim.lines.is_empty() && claim.total.is_some() {
        for (id, segs) in &rb_lines {
            if !claimed_ids.contains(&id.as_str()) {
                let rb: Decimal = segs.iter().map(|l| l.amount).sum();
                let mut d = line_difference(det, id, segs, format!("line {id}"), Decimal::ZERO, rb);
                d.staff = "none".into();
                d.cause = Some(Cause {
                    code: "line_missing",
                    explanation: format!("staff left out the {} line of ${}", label(segs, id), money_text(rb)),
                });
                line_diffs.push(d);
            }
        }
    }

    // The total (or the amount), explained by the lines when they differ,
    // otherwise by trying what staff may have done on each line.
    let result_figures = [
        ("total", claim.total, det.total.unwrap_or_default()),
        ("amount", claim.amount, det.total.unwrap_or_default().abs()),
    ];
    for (figure, staff, rb) in result_figures {
        let Some(staff) = staff else { continue };
        if !money_differs(staff, rb) {
            continue;
        }
        let mut d = Difference {
            figure: figure.into(),
            staff: money_text(staff),
            ratebook: money_text(rb),
            difference: Some(staff - rb),
            first_step: None,
            step: None,
            cause: None,
        };
        if let Some(first) = line_diffs.first() {
            d.first_step = first.first_step;
            d.step = first.step.clone();
            d.cause = Some(Cause {
                code: "lines",
                explanation: format!(
                    "the {} differs by the lines that differ: {}",
                    figure,
                    line_diffs
                        .iter()
                        .map(|l| l.figure.clone())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            });
        } else if let Some((step, text, cause)) = total_cause(det, &rb_lines, staff, figure == "amount") {
            d.first_step = step;
            d.step = text;
            d.cause = Some(cause);
        } else if let Some(Difference {
            first_step,
            step,
            cause,
            ..
        }) = diffs.first()
        {
            d.first_step = *first_step;
            d.step = step.clone();
            d.cause = cause.clone();
        }
        diffs.push(d);
    }
    diffs.extend(line_diffs);

    // Outputs, key by key.
    for (name, staff) in &claim.outputs {
        let rb = det.outputs.get(name).cloned().unwrap_or(Value::Null);
        let mut paths = Vec::new();
        crate::testing::compare(staff, &rb, name, &mut paths);
        let numeric = |v: &Value| match v {
            Value::String(s) => parse_decimal(s),
            Value::Number(n) => parse_decimal(&n.to_string()),
            _ => None,
        };
        let money_same = matches!((numeric(staff), numeric(&rb)), (Some(a), Some(b)) if !money_differs(a, b));
        if paths.is_empty() || money_same {
            continue;
        }
        let (first_step, step, cause) = match outcome_cause(det, "") {
            (s, t, Some(c)) => (s, t, Some(c)),
            _ => output_step(det, name),
        };
        diffs.push(Difference {
            figure: format!("output {name}"),
            staff: show(staff),
            ratebook: show(&rb),
            difference: match (numeric(staff), numeric(&rb)) {
                (Some(a), Some(b)) => Some(a - b),
                _ => None,
            },
            first_step,
            step,
            cause,
        });
    }

    Review {
        verdict: if diffs.is_empty() { "agree" } else { "disagree" },
        decision: det.decision.to_string(),
        outcome: det.outcome.to_string(),
        total: det.total,
        tolerance,
        differences: diffs,
    }
}

fn show(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "none".into(),
        other => other.to_string(),
    }
}

fn label<'a>(segs: &[&'a Line], id: &'a str) -> &'a str {
    segs.first().map(|l| l.label()).unwrap_or(id)
}

fn group_lines<'a, 'p>(lines: &'a [Line<'p>]) -> BTreeMap<String, Vec<&'a Line<'p>>> {
    let mut out: BTreeMap<String, Vec<&Line>> = BTreeMap::new();
    for l in lines {
        out.entry(l.id().to_string()).or_default().push(l);
    }
    out
}

/// A trace step in a sentence.
pub fn describe(step: &TraceStep) -> String {
    let s = step.step;
    match &step.event {
        Event::Param(r) => {
            let key = r.key_name().map(|k| format!("[{k}]")).unwrap_or_default();
            let from = r.dated().map(|d| d.from.to_string()).unwrap_or_default();
            format!(
                "step {s}: {}{key} read for {}: {} {} in force from {from} ({})",
                r.param.name,
                r.date,
                r.value,
                r.param.unit,
                r.status.as_str()
            )
        }
        Event::Split {
            line,
            from,
            to,
            days,
            period_days,
            quantity,
        } => format!(
            "step {s}: {line} split at the rate change: {from} to {to}, {days} of {period_days} days, quantity {}",
            crate::determination::display_quantity(*quantity)
        ),
        Event::Basis { line, basis } => format!("step {s}: {line} quantity: {basis}"),
        Event::Line {
            line, from, to, amount, ..
        } => format!("step {s}: {line} {from} to {to} = ${}", money_text(*amount)),
        Event::Requirement { rule, passed, cite } => format!(
            "step {s}: requirement {rule} {} ({cite})",
            if *passed { "met" } else { "not met" }
        ),
        Event::Output { name, value } => format!("step {s}: output {name} = {}", show(value)),
        Event::Condition { rule, test, passed } => format!("step {s}: {rule} applies when {test}: {passed}"),
        Event::Note { text } => format!("step {s}: {text}"),
        Event::Evaluated { decision, total } => format!("step {s}: {decision} evaluated: ${}", money_text(*total)),
        Event::Tiers { name, date, .. } => format!("step {s}: tiers {name} read for {date}"),
    }
}

fn step_of<'a, 'p>(det: &'a Determination<'p>, f: impl Fn(&Event) -> bool) -> Option<&'a TraceStep<'p>> {
    det.trace.iter().find(|s| f(&s.event))
}

fn at(step: Option<&TraceStep>) -> (Option<u32>, Option<String>) {
    (step.map(|s| s.step), step.map(describe))
}

/// The day shares and rates of a line's segments: what each segment's
/// amount would be for another whole-period quantity.
fn amount_for(segs: &[&Line], quantity: Decimal, total_days: i64) -> Decimal {
    if total_days <= 0 {
        return Decimal::ZERO;
    }
    segs.iter()
        .map(|l| {
            let days = Decimal::from((l.to - l.from).num_days());
            round_money(quantity * l.rate * days / Decimal::from(total_days))
        })
        .sum()
}

fn total_days(segs: &[&Line]) -> i64 {
    match (segs.iter().map(|l| l.from).min(), segs.iter().map(|l| l.to).max()) {
        (Some(a), Some(b)) => (b - a).num_days(),
        _ => 0,
    }
}

/// What staff may have done on one line instead: each candidate is the
/// line's amount under that mistake, the trace step where it would part,
/// and the cause.
fn line_candidates<'a, 'p>(
    det: &'a Determination<'p>,
    id: &str,
    segs: &[&Line],
) -> Vec<(Decimal, Option<&'a TraceStep<'p>>, Cause)> {
    let mut out = Vec::new();
    let (Some(first), Some(last)) = (segs.first(), segs.last()) else {
        return out;
    };
    let days = total_days(segs);
    let unit = first.unit();
    // The whole-period quantity: a split line's quantity is its share.
    let quantity: Decimal = if first.unit() == "day" {
        Decimal::ONE
    } else {
        segs.iter().map(|l| l.quantity).sum()
    };
    let whole_at = |rate: Decimal| -> Decimal {
        if unit == "day" {
            round_money(rate * Decimal::from(days))
        } else {
            round_money(quantity * rate)
        }
    };
    let split_step = step_of(det, |e| matches!(e, Event::Split { line, .. } if &**line == id));
    if segs.len() > 1 {
        let change = segs.get(1).map(|l| l.from.to_string()).unwrap_or_default();
        out.push((
            whole_at(first.rate),
            split_step,
            Cause {
                code: "old_rate_no_proration",
                explanation: format!(
                    "staff charged the whole period ({} to {}) at ${}, the rate before {change}, instead of splitting it by days at the rate change",
                    first.from, last.to, first.rate
                ),
            },
        ));
        out.push((
            whole_at(last.rate),
            split_step,
            Cause {
                code: "new_rate_no_proration",
                explanation: format!(
                    "staff charged the whole period ({} to {}) at ${}, the rate from {change}, instead of splitting it by days at the rate change",
                    first.from, last.to, last.rate
                ),
            },
        ));
    }
    // An earlier dated value of the rate, for the whole period.
    for s in &det.trace {
        if let Event::Param(r) = &s.event
            && r.line.as_deref() == Some(id)
            && r.param.unit.starts_with("USD/")
        {
            for prev in r.param.values.iter().take(r.index).rev() {
                let Some(v) = prev.known(r.key) else {
                    continue;
                };
                out.push((
                    whole_at(v),
                    Some(s),
                    Cause {
                        code: "old_rate",
                        explanation: format!(
                            "staff used ${v} for {}, the rate in force from {}, not ${} in force from {}",
                            label(segs, id),
                            prev.from,
                            r.value,
                            r.dated().map(|d| d.from.to_string()).unwrap_or_default()
                        ),
                    },
                ));
            }
            break;
        }
    }
    // The lesser-of basis (residential sewer on the winter average).
    if let Some(s) = step_of(det, |e| matches!(e, Event::Basis { line, .. } if &**line == id))
        && let Event::Basis { basis, .. } = &s.event
        && basis.lesser
    {
        for (name, value) in &basis.terms {
            if *value == basis.result {
                continue;
            }
            let code = if name.contains("winter_average") {
                "winter_average_misapplied"
            } else {
                "winter_average_not_applied"
            };
            let explanation = if code == "winter_average_not_applied" {
                format!(
                    "staff billed {} on {name} {value}, not the lesser {} (the winter average rule, PCC 17.36.050)",
                    label(segs, id),
                    basis.result
                )
            } else {
                format!(
                    "staff billed {} on {name} {value}, above actual use of {}: the lesser applies (PCC 17.36.050)",
                    label(segs, id),
                    basis.result
                )
            };
            out.push((amount_for(segs, *value, days), Some(s), Cause { code, explanation }));
        }
    }
    out
}

fn line_difference(
    det: &Determination,
    id: &str,
    segs: &[&Line],
    figure: String,
    staff: Decimal,
    rb: Decimal,
) -> Difference {
    let mut d = Difference {
        figure,
        staff: money_text(staff),
        ratebook: if segs.is_empty() { "none".into() } else { money_text(rb) },
        difference: Some(staff - rb),
        first_step: None,
        step: None,
        cause: None,
    };
    if segs.is_empty() {
        // A line that does not apply: the charge's reason says why.
        let reason = det.reasons.iter().find(|r| &*r.rule == id && !r.passed);
        d.cause = Some(Cause {
            code: "line_not_applicable",
            explanation: match reason {
                Some(r) => format!("staff charged {id}, which does not apply: {}", r.text),
                None => format!("staff charged {id}, which this determination does not have"),
            },
        });
        let step = step_of(
            det,
            |e| matches!(e, Event::Condition { rule, passed: false, .. } if &**rule == id),
        );
        (d.first_step, d.step) = at(step);
        return d;
    }
    if let Some((_, step, cause)) = line_candidates(det, id, segs).into_iter().find(|(a, _, _)| *a == staff) {
        (d.first_step, d.step) = at(step);
        d.cause = Some(cause);
    } else {
        let implied = match segs {
            [one] if !one.rate.is_zero() => Some(round_money(staff / one.rate)),
            _ => None,
        };
        let step = step_of(det, |e| match e {
            Event::Split { line, .. } | Event::Basis { line, .. } | Event::Line { line, .. } => &**line == id,
            Event::Param(r) => r.line.as_deref() == Some(id),
            _ => false,
        });
        (d.first_step, d.step) = at(step);
        let rate = segs.first().map(|l| l.rate).unwrap_or_default();
        let unit = segs.first().map(|l| l.unit()).unwrap_or_default();
        // The winter average the case gives, when the line's quantity used one.
        let winter =
            step_of(det, |e| matches!(e, Event::Basis { line, .. } if &**line == id)).and_then(|s| match &s.event {
                Event::Basis { basis, .. } => basis
                    .terms
                    .iter()
                    .find(|(n, _)| n.contains("winter_average"))
                    .map(|(_, v)| (*v, basis.result)),
                _ => None,
            });
        d.cause = implied.filter(|q| round_money(*q * rate) == staff).map(|q| match winter {
            Some((w, billed)) => Cause {
                code: "wrong_winter_average",
                explanation: if w == billed {
                    format!(
                        "staff billed {} on {q} {unit}, not the case's winter average of {w} {unit} (PCC 17.36.050)",
                        label(segs, id)
                    )
                } else {
                    format!(
                        "staff billed {} on {q} {unit}, neither the case's winter average of {w} nor the {billed} {unit} the rule gives (PCC 17.36.050)",
                        label(segs, id)
                    )
                },
            },
            None => Cause {
                code: "other_quantity",
                explanation: format!(
                    "staff's amount is {q} {unit} at ${rate}; this determination's quantity is {}",
                    segs.first().map(|l| l.quantity).unwrap_or_default()
                ),
            },
        });
    }
    d
}

/// A total that differs with no lines claimed: which single mistake, or the
/// same mistake on every split line, gives staff's figure?
fn total_cause(
    det: &Determination,
    rb_lines: &BTreeMap<String, Vec<&Line>>,
    staff: Decimal,
    absolute: bool,
) -> Option<(Option<u32>, Option<String>, Cause)> {
    let total = det.total.unwrap_or_default();
    let matches = |t: Decimal| if absolute { t.abs() == staff } else { t == staff };
    let mut all_old = total;
    let mut any_split = None;
    for (id, segs) in rb_lines {
        let rb: Decimal = segs.iter().map(|l| l.amount).sum();
        for (amount, step, cause) in line_candidates(det, id, segs) {
            if cause.code == "old_rate_no_proration" {
                all_old += amount - rb;
                // Where they part: the earliest split in the trace.
                if any_split.is_none_or(|s: Option<&TraceStep>| step.map(|x| x.step) < s.map(|x| x.step)) {
                    any_split = Some(step);
                }
            }
            if matches(total - rb + amount) {
                let (s, t) = at(step);
                return Some((s, t, cause));
            }
        }
    }
    if let Some(step) = any_split
        && matches(all_old)
    {
        let (s, t) = at(step);
        return Some((
            s,
            t,
            Cause {
                code: "old_rate_no_proration",
                explanation: "staff charged every line at the rates in force before the rate change, instead of splitting the period by days".into(),
            },
        ));
    }
    None
}

/// A different outcome (or output) explained by the requirements.
fn outcome_cause(det: &Determination, staff_outcome: &str) -> (Option<u32>, Option<String>, Option<Cause>) {
    let failed: Vec<_> = det.reasons.iter().filter(|r| !r.passed).collect();
    let failed_step = step_of(det, |e| matches!(e, Event::Requirement { passed: false, .. }));
    if !failed.is_empty() && failed_step.is_some() {
        let (s, t) = at(failed_step);
        let list = failed
            .iter()
            .map(|r| format!("{} ({})", r.text, r.cite))
            .collect::<Vec<_>>()
            .join("; ");
        return (
            s,
            t,
            Some(Cause {
                code: "requirement_overlooked",
                explanation: format!("{} requirement(s) not met: {list}", failed.len()),
            }),
        );
    }
    if staff_outcome == "ineligible" && det.outcome == "eligible" {
        let step = step_of(det, |e| matches!(e, Event::Requirement { .. }));
        let (s, t) = at(step);
        return (
            s,
            t,
            Some(Cause {
                code: "requirement_misapplied",
                explanation: "staff denied it, but every requirement is met".into(),
            }),
        );
    }
    (None, None, None)
}

fn output_step(det: &Determination, name: &str) -> (Option<u32>, Option<String>, Option<Cause>) {
    let step = step_of(det, |e| matches!(e, Event::Output { name: n, .. } if n == name));
    let (s, t) = at(step);
    (s, t, None)
}

/// Text for a terminal: the verdict, then each difference with where it
/// parts and the likely cause.
pub fn text(r: &Review, name: &str) -> String {
    let mut o = String::new();
    let verdict = if r.agrees() { "AGREE" } else { "DISAGREE" };
    let _ = writeln!(
        o,
        "review of {} for {name}: {verdict}{}",
        r.decision,
        if r.agrees() {
            String::new()
        } else {
            format!(" ({} figure(s) differ)", r.differences.len())
        }
    );
    let _ = writeln!(
        o,
        "ratebook: {}{}",
        r.outcome,
        r.total
            .map(|t| format!(", total ${}", money_text(t)))
            .unwrap_or_default()
    );
    for d in &r.differences {
        let diff = d
            .difference
            .map(|x| {
                format!(
                    ", difference {}{}",
                    if x.is_sign_negative() { "-$" } else { "+$" },
                    money_text(x.abs())
                )
            })
            .unwrap_or_default();
        let _ = writeln!(o, "\n  {}: staff {}, ratebook {}{diff}", d.figure, d.staff, d.ratebook);
        if let Some(s) = &d.step {
            let _ = writeln!(o, "    where they part: {s}");
        }
        match &d.cause {
            Some(c) => {
                let _ = writeln!(o, "    likely cause ({}): {}", c.code, c.explanation);
            }
            None => {
                let _ = writeln!(
                    o,
                    "    likely cause: not determined; compare the trace from the step above"
                );
            }
        }
    }
    o
}

/// One row of a batch review.
#[derive(Debug, Clone, Serialize)]
pub struct BatchRow {
    pub row: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub review: Option<Review>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<Value>,
}

/// Disagreements of one cause, and the money at stake.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CauseSummary {
    pub cause: String,
    pub count: usize,
    pub at_stake: Decimal,
}

/// A day's batch: counts, disagreements by cause, the money at stake.
#[derive(Debug, Clone, Serialize)]
pub struct BatchReport {
    pub rows: usize,
    pub agree: usize,
    pub disagree: usize,
    pub errors: usize,
    pub at_stake: Decimal,
    pub by_cause: Vec<CauseSummary>,
    pub results: Vec<BatchRow>,
}

impl BatchReport {
    pub fn new(results: Vec<BatchRow>) -> BatchReport {
        let mut by: BTreeMap<String, (usize, Decimal)> = BTreeMap::new();
        let (mut agree, mut disagree, mut errors, mut stake) = (0, 0, 0, Decimal::ZERO);
        for r in &results {
            match &r.review {
                Some(rv) if rv.agrees() => agree += 1,
                Some(rv) => {
                    disagree += 1;
                    let cause = rv.cause().map(|c| c.code).unwrap_or("not_determined").to_string();
                    let e = by.entry(cause).or_default();
                    e.0 += 1;
                    e.1 += rv.at_stake();
                    stake += rv.at_stake();
                }
                None => errors += 1,
            }
        }
        let mut by_cause: Vec<CauseSummary> = by
            .into_iter()
            .map(|(cause, (count, at_stake))| CauseSummary { cause, count, at_stake })
            .collect();
        by_cause.sort_by(|a, b| b.count.cmp(&a.count).then(a.cause.cmp(&b.cause)));
        BatchReport {
            rows: results.len(),
            agree,
            disagree,
            errors,
            at_stake: stake,
            by_cause,
            results,
        }
    }

    /// Markdown for a ticket or an email.
    pub fn markdown(&self) -> String {
        let mut o = String::new();
        let _ = writeln!(o, "## Review of {} determinations\n", self.rows);
        let _ = writeln!(
            o,
            "- agree: {}\n- disagree: {}\n- could not be reviewed: {}\n- money at stake: ${}\n",
            self.agree,
            self.disagree,
            self.errors,
            money_text(self.at_stake)
        );
        if !self.by_cause.is_empty() {
            let _ = writeln!(
                o,
                "### Disagreements by cause\n\n| cause | count | at stake |\n|---|---:|---:|"
            );
            for c in &self.by_cause {
                let _ = writeln!(o, "| {} | {} | ${} |", c.cause, c.count, money_text(c.at_stake));
            }
            let _ = writeln!(
                o,
                "\n### Disagreements\n\n| row | id | figure | staff | ratebook | difference | cause |\n|---:|---|---|---:|---:|---:|---|"
            );
            for r in &self.results {
                let Some(rv) = &r.review else { continue };
                for d in &rv.differences {
                    let _ = writeln!(
                        o,
                        "| {} | {} | {} | {} | {} | {} | {} |",
                        r.row,
                        r.id.as_deref().unwrap_or(""),
                        d.figure,
                        d.staff.replace('|', "\\|"),
                        d.ratebook.replace('|', "\\|"),
                        d.difference.map(money_text).unwrap_or_default(),
                        d.cause
                            .as_ref()
                            .map(|c| format!("{}: {}", c.code, c.explanation.replace('|', "\\|")))
                            .unwrap_or_else(|| "not determined".into())
                    );
                }
            }
        }
        let failed: Vec<_> = self.results.iter().filter(|r| r.error.is_some()).collect();
        if !failed.is_empty() {
            let _ = writeln!(o, "\n### Could not be reviewed\n\n| row | id | error |\n|---:|---|---|");
            for r in failed {
                let msg = r
                    .error
                    .as_ref()
                    .and_then(|e| e.get("message"))
                    .and_then(Value::as_str)
                    .unwrap_or("");
                let _ = writeln!(
                    o,
                    "| {} | {} | {} |",
                    r.row,
                    r.id.as_deref().unwrap_or(""),
                    msg.replace('|', "\\|").replace('\n', " ")
                );
            }
        }
        o
    }
}

/// A batch row that could not be read: its row number and why.
pub type BadRow = (usize, Box<Error>);

/// One row of a batch to review: a case and what staff claimed for it.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchInput {
    pub row: usize,
    pub id: Option<String>,
    pub decision: Option<String>,
    pub case: Value,
    pub claimed: Value,
}

/// Reads a batch: JSON Lines (`{"id", "decision", "case", "claimed"}` per
/// line) or CSV whose headers are dotted case paths (`account.class`) and
/// `claimed.`-prefixed claim paths (`claimed.total`), with optional `id` and
/// `decision` columns. A cell holding `[...]` or `{...}` is read as JSON,
/// `true`/`false` as booleans, an empty cell as absent. A row that cannot be
/// read is returned as an error with its row number; the others go on.
pub fn parse_batch(name: &str, text: &str) -> Vec<std::result::Result<BatchInput, BadRow>> {
    let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    if first.trim_start().starts_with('{') {
        text.lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
            .map(|(i, l)| {
                let row = i + 1;
                let bad = |m: String| {
                    (
                        row,
                        Box::new(
                            Error::input("ratebook::review::bad_row", format!("{name}: row {row}: {m}"))
                                .at(Location::at(name, row as u64, 1)),
                        ),
                    )
                };
                let v: Value = serde_json::from_str(l).map_err(|e| bad(e.to_string()))?;
                let text = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
                Ok(BatchInput {
                    row,
                    id: text("id"),
                    decision: text("decision"),
                    case: v.get("case").cloned().ok_or_else(|| bad("no `case`".into()))?,
                    claimed: v.get("claimed").cloned().ok_or_else(|| bad("no `claimed`".into()))?,
                })
            })
            .collect()
    } else {
        csv_rows(name, text)
    }
}

fn csv_rows(name: &str, text: &str) -> Vec<std::result::Result<BatchInput, BadRow>> {
    let mut reader = csv::ReaderBuilder::new().flexible(false).from_reader(text.as_bytes());
    let headers = match reader.headers() {
        Ok(h) => h.clone(),
        Err(e) => {
            return vec![Err((
                1,
                Box::new(
                    Error::input("ratebook::review::bad_row", format!("{name}: the header: {e}"))
                        .at(Location::at(name, 1, 1)),
                ),
            ))];
        }
    };
    let mut out = Vec::new();
    for (i, rec) in reader.records().enumerate() {
        let row = i + 2;
        let rec = match rec {
            Ok(r) => r,
            Err(e) => {
                out.push(Err((
                    row,
                    Box::new(
                        Error::input("ratebook::review::bad_row", format!("{name}: row {row}: {e}"))
                            .at(Location::at(name, row as u64, 1)),
                    ),
                )));
                continue;
            }
        };
        let mut input = BatchInput {
            row,
            id: None,
            decision: None,
            case: Value::Object(Default::default()),
            claimed: Value::Object(Default::default()),
        };
        for (h, cell) in headers.iter().zip(rec.iter()) {
            let cell = cell.trim();
            if cell.is_empty() {
                continue;
            }
            let value = if cell.starts_with('[') || cell.starts_with('{') {
                serde_json::from_str(cell).unwrap_or_else(|_| Value::String(cell.to_string()))
            } else if cell == "true" || cell == "false" {
                Value::Bool(cell == "true")
            } else {
                Value::String(cell.to_string())
            };
            match h {
                "id" => input.id = Some(cell.to_string()),
                "decision" => input.decision = Some(cell.to_string()),
                _ => match h.strip_prefix("claimed.") {
                    Some(path) => put(&mut input.claimed, path, value),
                    None => put(&mut input.case, h, value),
                },
            }
        }
        out.push(Ok(input));
    }
    out
}

/// Sets a dotted path in a JSON map, making the maps on the way.
pub fn put(root: &mut Value, path: &str, value: Value) {
    let mut v = root;
    let mut parts = path.split('.').peekable();
    while let Some(p) = parts.next() {
        let Value::Object(map) = v else { return };
        if parts.peek().is_none() {
            map.insert(p.to_string(), value);
            return;
        }
        v = map
            .entry(p.to_string())
            .or_insert_with(|| Value::Object(Default::default()));
    }
}
