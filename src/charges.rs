//! Declarative charges: a bill's lines as data, compiled once per decision
//! and evaluated natively. A charge is a condition, a quantity basis, a time
//! basis (per period, per day, per month), a dated rate (scalar, table keyed
//! by a case field, or tiers), rounding and a citation. Proration across rate
//! changes is automatic: the service period is split wherever a figure the
//! charge uses takes a new value, and each part is charged at its own rate.

use crate::case::{Fact, Facts, FieldId, Schema};
use crate::dates::Period;
use crate::determination::{
    Basis, Event, Exact, Keep, Line, LineText, Reason, Recorder, Shared, Tallied, Text, display_quantity, line_amount,
};
use crate::error::{Error, Location, Result};
use crate::money::parse_decimal;
use crate::pack::Pack;
use crate::pack::format::RawCharge;
use crate::params::{ParamId, ParamStore, Shape};
use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde_json::Value;
use smallvec::SmallVec;
use std::sync::Arc;

/// A condition on the case.
#[derive(Debug, Clone)]
pub enum Cond {
    /// A set field includes the value with this index.
    Includes(FieldId, u16),
    /// An enum field has the value with this index.
    Equals(FieldId, u16),
    In(FieldId, Vec<u16>),
    Present(FieldId),
    All(Vec<Cond>),
    Any(Vec<Cond>),
    Not(Box<Cond>),
}

impl Cond {
    /// Whether the case meets the condition. The two single tests most
    /// charges have are made where they are asked for; the rest out of line.
    #[inline]
    pub fn eval(&self, facts: &Facts) -> bool {
        match self {
            Cond::Includes(f, v) => matches!(facts.get(*f), Fact::Set(m) if m & (1u64 << v) != 0),
            Cond::Equals(f, v) => facts.get(*f).enum_index() == Some(*v),
            _ => self.eval_compound(facts),
        }
    }

    #[inline(never)]
    fn eval_compound(&self, facts: &Facts) -> bool {
        match self {
            Cond::Includes(..) | Cond::Equals(..) => self.eval(facts),
            Cond::In(f, vs) => facts.get(*f).enum_index().is_some_and(|i| vs.contains(&i)),
            Cond::Present(f) => facts.get(*f).is_present(),
            Cond::All(cs) => cs.iter().all(|c| c.eval(facts)),
            Cond::Any(cs) => cs.iter().any(|c| c.eval(facts)),
            Cond::Not(c) => !c.eval(facts),
        }
    }
}

/// A quantity basis.
#[derive(Debug, Clone)]
pub enum Qty {
    /// A case field, with its path for messages.
    Field(FieldId, Arc<str>),
    Const(Decimal),
    Param(ParamId),
    /// The least of the present values (absent optional fields are skipped).
    Min(Vec<Qty>),
    /// The first present value (a field standing in for another when given).
    First(Vec<Qty>),
    Divide(Box<Qty>, Decimal),
    Cases(Vec<(Cond, Qty)>, Box<Qty>),
    /// The amounts of earlier lines (one credit line per referenced line):
    /// their charges' ids and positions in the decision.
    Lines(Vec<Arc<str>>, Vec<usize>),
}

/// The time basis of a charge.
#[derive(Debug, Clone, Copy)]
pub enum Per {
    /// The quantity covers the whole period; a part gets its share by days.
    Period,
    /// The quantity is per day of service.
    Day,
    /// The quantity is per month of service; months = days / days_per_month.
    Month(ParamId),
}

#[derive(Debug, Clone)]
pub struct Charge {
    /// Its position in its decision's charges.
    pub index: usize,
    pub id: Arc<str>,
    pub label: Arc<str>,
    pub unit: Arc<str>,
    pub cite: Arc<str>,
    pub when: Option<(Cond, Arc<str>)>,
    pub quantity: Qty,
    pub quantity_text: Arc<str>,
    pub per: Per,
    pub rate: ParamId,
    /// The enum field keying a table rate, and for each of its values the
    /// index of the table key.
    pub rate_key: Option<(FieldId, Vec<usize>)>,
    pub rate_is_percent: bool,
    pub scale_percent: Option<(FieldId, Arc<str>)>,
    /// A date field: no charge for days before it (a discount registered
    /// part-way through a period).
    pub starts_on: Option<(FieldId, Arc<str>)>,
    pub credit: bool,
    /// The reason given when the charge applies, and when it does not.
    pub explain: Arc<Reason>,
    pub not_applied: Arc<Reason>,
    /// The text every line of this charge shares.
    pub text: Arc<LineText>,
    /// Parameters whose change dates split the service period.
    pub splits_on: Vec<ParamId>,
    /// Their change dates, sorted, without repeats.
    pub change_dates: Vec<NaiveDate>,
}

const DAYS_PER_MONTH: &str = "calendar.days_per_month";

/// Compiles the named charges against a decision's input schema.
pub fn compile(pack: &Pack, schema: &Schema, decision_file: &str, ids: &[String]) -> Result<Vec<Charge>> {
    let mut out: Vec<Charge> = Vec::with_capacity(ids.len());
    for id in ids {
        let Some((file, raw)) = pack.charges.get(id) else {
            return Err(Error::pack(
                "ratebook::pack::unknown_charge",
                format!("{decision_file}: charge `{id}` is not defined in charges/"),
            )
            .with_help(suggest(id, pack.charges.keys().map(String::as_str)))
            .at(Location::field(decision_file, "charges")));
        };
        let earlier: Vec<&str> = out.iter().map(|c| &*c.id).collect();
        out.push(compile_one(pack, schema, file, raw, &earlier)?);
    }
    Ok(out)
}

fn suggest<'a>(name: &str, candidates: impl Iterator<Item = &'a str>) -> String {
    candidates
        .map(|c| (strsim::jaro_winkler(c, name), c))
        .filter(|(s, _)| *s > 0.75)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| format!("did you mean `{c}`?"))
        .unwrap_or_else(|| "check the spelling".into())
}

struct Ctx<'a> {
    pack: &'a Pack,
    schema: &'a Schema,
    file: &'a str,
    charge: &'a str,
    earlier: &'a [&'a str],
}

impl Ctx<'_> {
    fn err(&self, code: &'static str, msg: String) -> Error {
        Error::pack(code, format!("{}: charge `{}`: {msg}", self.file, self.charge))
            .at(Location::field(self.file, self.charge))
    }

    fn field(&self, path: &str) -> Result<FieldId> {
        self.schema.field(path).ok_or_else(|| {
            self.err(
                "ratebook::pack::unknown_field",
                format!("`{path}` is not an input of the decision"),
            )
        })
    }

    fn param(&self, name: &str) -> Result<ParamId> {
        self.pack.params.id(name).ok_or_else(|| {
            self.err(
                "ratebook::pack::unknown_param",
                format!("parameter `{name}` is not defined"),
            )
            .with_help(suggest(name, self.pack.params.names()))
        })
    }

    fn cond(&self, v: &Value) -> Result<(Cond, String)> {
        let obj = v.as_object().filter(|o| o.len() == 1).ok_or_else(|| {
            self.err(
                "ratebook::pack::bad_condition",
                format!("a condition is one of includes, equals, in, present, all, any, not; got `{v}`"),
            )
        })?;
        let Some((op, arg)) = obj.iter().next() else {
            return Err(self.err("ratebook::pack::bad_condition", "empty condition".into()));
        };
        let pair = |arg: &Value| -> Result<(FieldId, String, Value)> {
            match arg.as_array().map(Vec::as_slice) {
                Some([Value::String(f), x]) => Ok((self.field(f)?, f.clone(), x.clone())),
                _ => Err(self.err("ratebook::pack::bad_condition", format!("`{op}` takes [field, value]"))),
            }
        };
        let allowed = |f: FieldId, path: &str, x: &str| -> Result<u16> {
            match self.schema.values(f) {
                Some(vals) => vals.iter().position(|v| &**v == x).map(|i| i as u16).ok_or_else(|| {
                    self.err(
                        "ratebook::pack::bad_condition",
                        format!("`{x}` is not a value of `{path}`"),
                    )
                }),
                None => Err(self.err(
                    "ratebook::pack::bad_condition",
                    format!("`{path}` is not an enum or set input; conditions compare enum and set values"),
                )),
            }
        };
        let text_of = |x: &Value| match x {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        Ok(match op.as_str() {
            "includes" => {
                let (f, path, x) = pair(arg)?;
                let x = text_of(&x);
                (
                    Cond::Includes(f, allowed(f, &path, &x)?),
                    format!("{path} includes {x}"),
                )
            }
            "equals" => {
                let (f, path, x) = pair(arg)?;
                let x = text_of(&x);
                (Cond::Equals(f, allowed(f, &path, &x)?), format!("{path} is {x}"))
            }
            "in" => {
                let (f, path, x) = pair(arg)?;
                let items = x
                    .as_array()
                    .ok_or_else(|| self.err("ratebook::pack::bad_condition", "`in` takes [field, [values]]".into()))?;
                let mut vals = Vec::new();
                for it in items {
                    vals.push(allowed(f, &path, &text_of(it))?);
                }
                let shown = vals.iter().map(|v| v.to_string()).collect::<Vec<_>>().join(", ");
                (Cond::In(f, vals), format!("{path} is one of {shown}"))
            }
            "present" => {
                let path = arg
                    .as_str()
                    .ok_or_else(|| self.err("ratebook::pack::bad_condition", "`present` takes a field".into()))?;
                (Cond::Present(self.field(path)?), format!("{path} is given"))
            }
            "all" | "any" => {
                let items = arg
                    .as_array()
                    .ok_or_else(|| self.err("ratebook::pack::bad_condition", format!("`{op}` takes a list")))?;
                let mut cs = Vec::new();
                let mut ts = Vec::new();
                for it in items {
                    let (c, t) = self.cond(it)?;
                    cs.push(c);
                    ts.push(t);
                }
                let joined = ts.join(if op == "all" { " and " } else { " or " });
                (
                    if op == "all" { Cond::All(cs) } else { Cond::Any(cs) },
                    format!("({joined})"),
                )
            }
            "not" => {
                let (c, t) = self.cond(arg)?;
                (Cond::Not(Box::new(c)), format!("not {t}"))
            }
            other => return Err(self.err("ratebook::pack::bad_condition", format!("unknown condition `{other}`"))),
        })
    }

    /// Several quantities, with their texts.
    fn qty_list(&self, items: &[Value], params: &mut Vec<ParamId>) -> Result<(Vec<Qty>, Vec<String>)> {
        let mut qs = Vec::with_capacity(items.len());
        let mut ts = Vec::with_capacity(items.len());
        for it in items {
            let (q, t) = self.qty(it, params)?;
            qs.push(q);
            ts.push(t);
        }
        Ok((qs, ts))
    }

    fn qty(&self, v: &Value, params: &mut Vec<ParamId>) -> Result<(Qty, String)> {
        match v {
            Value::String(s) => {
                if let Some(d) = parse_decimal(s) {
                    return Ok((Qty::Const(d), s.clone()));
                }
                Ok((Qty::Field(self.field(s)?, Arc::from(s.as_str())), s.clone()))
            }
            Value::Number(n) if n.is_i64() || n.is_u64() => {
                let d = crate::money::decimal_from_json_number(n).unwrap_or_default();
                Ok((Qty::Const(d), n.to_string()))
            }
            Value::Object(o) if o.len() == 1 => {
                let Some((op, arg)) = o.iter().next() else {
                    return Err(self.err("ratebook::pack::bad_quantity", "empty quantity".into()));
                };
                match (op.as_str(), arg) {
                    ("param", Value::String(name)) => {
                        let id = self.param(name)?;
                        params.push(id);
                        Ok((Qty::Param(id), name.clone()))
                    }
                    ("min", Value::Array(items)) if !items.is_empty() => {
                        let (qs, ts) = self.qty_list(items, params)?;
                        Ok((Qty::Min(qs), format!("lesser of {}", ts.join(" and "))))
                    }
                    ("first", Value::Array(items)) if !items.is_empty() => {
                        let (qs, ts) = self.qty_list(items, params)?;
                        Ok((Qty::First(qs), format!("the first given of {}", ts.join(", "))))
                    }
                    ("divide", Value::Array(items)) => match items.as_slice() {
                        [a, b @ (Value::String(_) | Value::Number(_))] => {
                            let text = match b {
                                Value::String(t) => t.clone(),
                                other => other.to_string(),
                            };
                            let d = parse_decimal(&text).filter(|d| !d.is_zero()).ok_or_else(|| {
                                self.err(
                                    "ratebook::pack::bad_quantity",
                                    format!("divisor `{text}` is not a non-zero number"),
                                )
                            })?;
                            let (q, t) = self.qty(a, params)?;
                            Ok((Qty::Divide(Box::new(q), d), format!("{t} / {text}")))
                        }
                        _ => Err(self.err(
                            "ratebook::pack::bad_quantity",
                            "`divide` takes [quantity, number]".into(),
                        )),
                    },
                    ("cases", Value::Array(items)) => {
                        let mut arms = Vec::new();
                        let mut otherwise = None;
                        let mut ts = Vec::new();
                        for it in items {
                            if let Some(e) = it.get("else") {
                                let (q, t) = self.qty(e, params)?;
                                ts.push(format!("otherwise {t}"));
                                otherwise = Some(q);
                            } else if let (Some(w), Some(t)) = (it.get("when"), it.get("then")) {
                                let (c, ct) = self.cond(w)?;
                                let (q, qt) = self.qty(t, params)?;
                                ts.push(format!("{qt} when {ct}"));
                                arms.push((c, q));
                            } else {
                                return Err(self.err(
                                    "ratebook::pack::bad_quantity",
                                    "each case is `{ when: ..., then: ... }` or `{ else: ... }`".into(),
                                ));
                            }
                        }
                        let otherwise = otherwise.ok_or_else(|| {
                            self.err("ratebook::pack::bad_quantity", "`cases` needs an `else`".into())
                        })?;
                        Ok((Qty::Cases(arms, Box::new(otherwise)), ts.join("; ")))
                    }
                    ("lines", Value::Array(items)) => {
                        let mut ids = Vec::new();
                        let mut at = Vec::new();
                        for it in items {
                            let s = it.as_str().unwrap_or_default();
                            let Some(i) = self.earlier.iter().position(|e| *e == s) else {
                                return Err(self.err(
                                    "ratebook::pack::bad_quantity",
                                    format!("`lines` refers to `{s}`, which is not a charge listed before this one"),
                                ));
                            };
                            ids.push(Arc::from(s));
                            at.push(i);
                        }
                        Ok((
                            Qty::Lines(ids, at),
                            format!(
                                "amount of {}",
                                items.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(", ")
                            ),
                        ))
                    }
                    _ => Err(self.err(
                        "ratebook::pack::bad_quantity",
                        format!(
                            "unknown quantity `{op}`; use a field, a number, param, min, first, divide, cases or lines"
                        ),
                    )),
                }
            }
            other => Err(self.err("ratebook::pack::bad_quantity", format!("`{other}` is not a quantity"))),
        }
    }
}

fn compile_one(pack: &Pack, schema: &Schema, file: &str, raw: &RawCharge, earlier: &[&str]) -> Result<Charge> {
    let cx = Ctx {
        pack,
        schema,
        file,
        charge: &raw.id,
        earlier,
    };
    let when = raw
        .when
        .as_ref()
        .map(|w| cx.cond(w))
        .transpose()?
        .map(|(c, t)| (c, Arc::from(t.as_str())));
    let mut splits_on = Vec::new();
    let (quantity, quantity_text) = cx.qty(&raw.quantity, &mut splits_on)?;
    let per = match raw.per.as_deref() {
        None | Some("period") => Per::Period,
        Some("day") => Per::Day,
        Some("month") => {
            let id = cx.param(DAYS_PER_MONTH)?;
            let bad = pack
                .params
                .get(id)
                .into_iter()
                .flat_map(|p| &p.values)
                .any(|v| match &v.data {
                    crate::params::ValueData::Scalar(
                        crate::params::Figure::Known(d) | crate::params::Figure::Supplied(d),
                    ) => *d <= Decimal::ZERO,
                    _ => false,
                });
            if bad {
                return Err(cx.err(
                    "ratebook::pack::bad_value",
                    format!("`{DAYS_PER_MONTH}` must be above zero"),
                ));
            }
            splits_on.push(id);
            Per::Month(id)
        }
        Some(other) => {
            return Err(cx.err(
                "ratebook::pack::bad_per",
                format!("`per: {other}` is not one of period, day, month"),
            ));
        }
    };
    let rate = cx.param(&raw.rate)?;
    splits_on.insert(0, rate);
    let rp = pack
        .params
        .get(rate)
        .ok_or_else(|| cx.err("ratebook::pack::unknown_param", raw.rate.clone()))?;
    let rate_is_percent = &*rp.unit == "percent";
    let expected = format!("USD/{}", raw.unit);
    if rate_is_percent {
        if raw.unit != "USD" {
            return Err(cx.err(
                "ratebook::pack::unit_mismatch",
                format!(
                    "a percent rate applies to an amount in USD, but the quantity unit is `{}`",
                    raw.unit
                ),
            ));
        }
    } else if *rp.unit != *expected {
        return Err(cx.err(
            "ratebook::pack::unit_mismatch",
            format!(
                "the quantity is in `{}` so the rate must be in `{expected}`, but `{}` is in `{}`",
                raw.unit, raw.rate, rp.unit
            ),
        ));
    }
    if matches!(quantity, Qty::Lines(..)) && !matches!(per, Per::Period) {
        return Err(cx.err(
            "ratebook::pack::bad_per",
            "a charge on other lines' amounts is `per: period`".into(),
        ));
    }
    let rate_key = match (&raw.rate_key, rp.shape) {
        (Some(k), Shape::Table) => {
            let f = cx.field(k)?;
            let vals = schema.values(f).filter(|_| !schema.is_set(f)).ok_or_else(|| {
                cx.err(
                    "ratebook::pack::table_key",
                    format!("`rate_key: {k}` must be an enum input"),
                )
            })?;
            let mut map = Vec::with_capacity(vals.len());
            for v in vals {
                let i = rp.key_index(v).ok_or_else(|| {
                    cx.err(
                        "ratebook::pack::table_key",
                        format!("`{k}` can be `{v}`, which is not a key of `{}`", raw.rate),
                    )
                })?;
                map.push(i);
            }
            Some((f, map))
        }
        (None, Shape::Table) => {
            return Err(cx.err(
                "ratebook::pack::table_key",
                format!("`{}` is a table; give `rate_key:`", raw.rate),
            ));
        }
        (Some(_), _) => {
            return Err(cx.err(
                "ratebook::pack::table_key",
                format!("`{}` is not a table; remove `rate_key:`", raw.rate),
            ));
        }
        (None, _) => None,
    };
    let scale_percent = match raw.scale_percent.as_deref() {
        Some(f) => Some((cx.field(f)?, Arc::from(f))),
        None => None,
    };
    let starts_on = match raw.starts_on.as_deref() {
        Some(f) => {
            let id = cx.field(f)?;
            if !schema.is_date(id) || schema.is_period(id) {
                return Err(cx.err(
                    "ratebook::pack::bad_charge",
                    format!("`starts_on: {f}` is not a date input"),
                ));
            }
            Some((id, Arc::from(f)))
        }
        None => None,
    };
    if matches!(quantity, Qty::Lines(..)) && raw.unit != "USD" {
        return Err(cx.err(
            "ratebook::pack::unit_mismatch",
            "a charge on other lines' amounts is in `USD`".into(),
        ));
    }
    if !pack.citations.contains_key(&raw.cite) {
        return Err(cx
            .err(
                "ratebook::pack::unknown_citation",
                format!("citation `{}` is not in citations.yaml", raw.cite),
            )
            .with_help(suggest(&raw.cite, pack.citations.keys().map(String::as_str))));
    }
    let explain: Arc<str> = Arc::from(
        raw.explain
            .clone()
            .unwrap_or_else(|| format!("{} charged on {}", raw.label, quantity_text))
            .as_str(),
    );
    let not_applied: Arc<str> = Arc::from(
        raw.not_applied
            .clone()
            .unwrap_or_else(|| {
                format!(
                    "{} not charged: {} is not the case",
                    raw.label,
                    when.as_ref().map(|w| &*w.1).unwrap_or("its condition")
                )
            })
            .as_str(),
    );
    let mut change_dates: Vec<NaiveDate> = splits_on
        .iter()
        .filter_map(|p| pack.params.get(*p))
        .flat_map(|p| p.values.iter().map(|v| v.from))
        .collect();
    change_dates.sort_unstable();
    change_dates.dedup();
    let id: Arc<str> = Arc::from(raw.id.as_str());
    let cite: Arc<str> = Arc::from(raw.cite.as_str());
    let reason = |passed: bool, text: Arc<str>| {
        Arc::new(Reason {
            rule: id.clone(),
            passed,
            text,
            cite: cite.clone(),
            fix: None,
        })
    };
    let explain = reason(true, explain);
    let not_applied = reason(false, not_applied);
    let text = Arc::new(LineText {
        id: id.clone(),
        label: Arc::from(raw.label.as_str()),
        unit: Arc::from(raw.unit.as_str()),
        cite: cite.clone(),
    });
    Ok(Charge {
        index: earlier.len(),
        text,
        id: Arc::from(raw.id.as_str()),
        label: Arc::from(raw.label.as_str()),
        unit: Arc::from(raw.unit.as_str()),
        cite: Arc::from(raw.cite.as_str()),
        when,
        quantity,
        quantity_text: Arc::from(quantity_text.as_str()),
        per,
        rate,
        rate_key,
        rate_is_percent,
        scale_percent,
        starts_on,
        credit: raw.credit,
        explain,
        not_applied,
        splits_on,
        change_dates,
    })
}

/// What a quantity is evaluated against: the case's facts, the pack's
/// figures, the date of the part of the period, and the line it is for.
#[derive(Clone, Copy)]
struct Ask<'a, 's, 'p> {
    facts: &'a Facts,
    store: &'s ParamStore,
    date: NaiveDate,
    line: &'a Text<'p>,
}

/// Evaluates a quantity; `None` when a figure it needs is missing. Records
/// the figures used (the branch taken) in `basis`. A constant, or a case
/// field that is given, is read where it is asked for; the rest out of line.
#[inline]
fn eval_qty<'s, 'p, K: Keep<'s, 'p>>(
    q: &'s Qty,
    ask: Ask<'_, 's, 'p>,
    rec: &mut Recorder<'p>,
    basis: Option<&mut Basis<'p>>,
) -> Option<Decimal> {
    match (q, &basis) {
        (Qty::Const(d), _) => return Some(*d),
        (Qty::Field(f, _), None) => {
            if let Some(v) = ask.facts.get(*f).number() {
                return Some(v);
            }
        }
        _ => {}
    }
    eval_qty_compound::<K>(q, ask, rec, basis)
}

#[inline(never)]
fn eval_qty_compound<'s, 'p, K: Keep<'s, 'p>>(
    q: &'s Qty,
    ask: Ask<'_, 's, 'p>,
    rec: &mut Recorder<'p>,
    mut basis: Option<&mut Basis<'p>>,
) -> Option<Decimal> {
    let Ask {
        facts,
        store,
        date,
        line,
    } = ask;
    match q {
        Qty::Const(d) => Some(*d),
        Qty::Field(f, path) => {
            let v = facts.get(*f).number();
            match (v, basis) {
                (Some(v), Some(b)) => b.terms.push((K::keep(path), v)),
                (Some(_), None) => {}
                (None, _) => rec.absent(path, line),
            }
            v
        }
        Qty::Param(p) => {
            let v = rec.param::<K>(store, *p, None, date, Some(line))?.value;
            if let (Some(param), Some(b)) = (store.get(*p), basis) {
                b.terms.push((K::keep(&param.name), v));
            }
            Some(v)
        }
        Qty::Min(qs) => {
            let mut best: Option<Decimal> = None;
            for q in qs {
                // An absent optional field is skipped; the others decide.
                if let Qty::Field(f, _) = q
                    && !facts.get(*f).is_present()
                {
                    continue;
                }
                if let Qty::First(first) = q
                    && first
                        .iter()
                        .all(|t| matches!(t, Qty::Field(f, _) if !facts.get(*f).is_present()))
                {
                    continue;
                }
                let v = eval_qty::<K>(q, ask, rec, basis.as_deref_mut())?;
                best = Some(best.map_or(v, |b| crate::money::lesser(b, v)));
            }
            if let Some(b) = basis {
                b.lesser = true;
            }
            best
        }
        Qty::First(qs) => {
            // Absent optional fields are passed over; the last term decides
            // (and reports itself absent) when none before it is given.
            let last = qs.len().saturating_sub(1);
            for (i, q) in qs.iter().enumerate() {
                if i < last
                    && let Qty::Field(f, _) = q
                    && !facts.get(*f).is_present()
                {
                    continue;
                }
                return eval_qty::<K>(q, ask, rec, basis);
            }
            None
        }
        Qty::Divide(a, d) => {
            if let Some(b) = basis.as_deref_mut() {
                b.divisor = Some(*d);
            }
            let v = eval_qty::<K>(a, ask, rec, basis)?;
            let q = crate::money::divide(v, *d);
            if q.is_none() {
                rec.overflowed(line);
            }
            q
        }
        Qty::Cases(arms, otherwise) => {
            for (c, q) in arms {
                if c.eval(facts) {
                    return eval_qty::<K>(q, ask, rec, basis);
                }
            }
            eval_qty::<K>(otherwise, ask, rec, basis)
        }
        Qty::Lines(..) => None,
    }
}

/// Every parameter a charge reads, in a fixed order: its rate, the figures
/// of its quantity, its days per month and what splits its period.
pub fn reads(c: &Charge) -> Vec<ParamId> {
    fn qty(q: &Qty, out: &mut Vec<ParamId>) {
        match q {
            Qty::Param(p) => out.push(*p),
            Qty::Min(qs) | Qty::First(qs) => qs.iter().for_each(|q| qty(q, out)),
            Qty::Divide(q, _) => qty(q, out),
            Qty::Cases(arms, otherwise) => {
                arms.iter().for_each(|(_, q)| qty(q, out));
                qty(otherwise, out);
            }
            Qty::Field(..) | Qty::Const(_) | Qty::Lines(..) => {}
        }
    }
    let mut out = vec![c.rate];
    qty(&c.quantity, &mut out);
    if let Per::Month(p) = c.per {
        out.push(p);
    }
    out.extend(&c.splits_on);
    out
}

fn is_simple(q: &Qty) -> bool {
    matches!(q, Qty::Const(_) | Qty::Field(..))
}

/// The parts of a service period (rarely more than two).
pub type Segments = SmallVec<[Period; 4]>;

/// `x * num / den`, dividing last, and skipping the work when it is a no-op;
/// `None` beyond a decimal's digits. Out of line, like `tiered` and
/// `credit_on_lines`: one copy serves every call site, which keeps the code
/// a bill runs through small (see `benches/instructions.sh`). (`push_line`
/// is inlined: its arguments are decimals just made, and passing them
/// through memory stalled the loads that read them back.)
#[inline(never)]
fn scale_by(x: Decimal, num: Decimal, den: Decimal) -> Option<Decimal> {
    let x = if crate::money::is_one(num) {
        x
    } else {
        x.checked_mul(num)?
    };
    if crate::money::is_one(den) {
        Some(x)
    } else {
        crate::money::divide(x, den)
    }
}

/// Whether any of the sorted `dates` falls strictly inside `period`.
fn changes_within(dates: &[NaiveDate], period: Period) -> bool {
    dates
        .get(dates.partition_point(|d| *d <= period.from))
        .is_some_and(|d| *d < period.to)
}

/// Splits `period` at the sorted `dates` that fall strictly inside it.
pub fn split_at(dates: &[NaiveDate], period: Period) -> Segments {
    // Most periods lie between two changes.
    if !changes_within(dates, period) {
        return smallvec::smallvec![period];
    }
    let inside = dates
        .get(dates.partition_point(|d| *d <= period.from)..)
        .unwrap_or_default();
    let mut out = Segments::new();
    let mut from = period.from;
    for &d in inside.iter().take_while(|d| **d < period.to) {
        out.push(Period { from, to: d });
        from = d;
    }
    out.push(Period { from, to: period.to });
    out
}

/// The parts of `period` over which every parameter in `params` is constant.
pub fn segments(store: &ParamStore, params: &[ParamId], period: Period) -> Segments {
    let mut cuts: SmallVec<[NaiveDate; 4]> = SmallVec::new();
    for id in params {
        if let Some(p) = store.get(*id) {
            cuts.extend(p.changes_within(period.from, period.to));
        }
    }
    cuts.sort_unstable();
    cuts.dedup();
    split_at(&cuts, period)
}

/// Evaluates one charge, adding its lines (or its reason for not applying).
///
/// `K` says how the determination keeps the pack's texts: borrowed from
/// `c` and `store` (the engine's evaluations), or shared (a rule script's).
pub fn evaluate<'s, 'p, K: Keep<'s, 'p>>(
    c: &'s Charge,
    facts: &Facts,
    period: Period,
    store: &'s ParamStore,
    rec: &mut Recorder<'p>,
) {
    let id: Text<'p> = K::keep(&c.id);
    if let Some((cond, text)) = &c.when {
        let passed = cond.eval(facts);
        rec.event(|| Event::Condition {
            rule: id.clone(),
            test: K::keep(text),
            passed,
        });
        if !passed {
            rec.push_reason::<K>(&c.not_applied);
            return;
        }
    }
    let scale = match &c.scale_percent {
        Some((f, path)) => match facts.get(*f).number() {
            Some(p) => Some(p),
            None => {
                rec.absent(path, &c.id);
                return;
            }
        },
        None => None,
    };
    let starts = match &c.starts_on {
        Some((f, path)) => match facts.get(*f) {
            Fact::Date(d) if *d > period.from => {
                let applies = *d < period.to;
                starts_reason(c, rec, *d, path, applies);
                if !applies {
                    return;
                }
                Some(*d)
            }
            _ => None,
        },
        None => None,
    };
    let key: Option<usize> = c
        .rate_key
        .as_ref()
        .and_then(|(f, map)| facts.get(*f).enum_index().and_then(|i| map.get(i as usize).copied()));
    if let Qty::Lines(ids, at) = &c.quantity {
        credit_on_lines::<K>(c, rec, store, (ids, at), key, starts, scale);
        return;
    }
    let period_days = period.days();
    let total_days = Decimal::from(period_days);
    // Most periods lie between two changes: then the period is the one
    // part, as it is (no list of parts made and read back).
    let whole_period = [period];
    let many: Segments;
    let (parts, split): (&[Period], bool) = match starts {
        Some(s) => {
            let mut cuts = c.change_dates.clone();
            if let Err(i) = cuts.binary_search(&s) {
                cuts.insert(i, s);
            }
            let mut all = split_at(&cuts, period);
            let split = all.len() > 1;
            all.retain(|p| p.from >= s);
            many = all;
            (&many, split)
        }
        None if changes_within(&c.change_dates, period) => {
            many = split_at(&c.change_dates, period);
            (&many, many.len() > 1)
        }
        None => (&whole_period, false),
    };
    // A quantity for the whole period shared by days: the last part's
    // quantity is what the others left, so the parts sum exactly to it.
    let share_remainder = split && starts.is_none() && matches!(c.per, Per::Period);
    let mut allocated = Decimal::ZERO;
    let mut whole: Option<Decimal> = None;
    let last = parts.len().saturating_sub(1);
    for (i, &part) in parts.iter().enumerate() {
        // How the quantity was found, shown on the line unless it is plain
        // (or only amounts are wanted).
        let mut shown = (!is_simple(&c.quantity) && !rec.amounts_only()).then(Basis::default);
        let ask = Ask {
            facts,
            store,
            date: part.from,
            line: &id,
        };
        let Some(q) = eval_qty::<K>(&c.quantity, ask, rec, shown.as_mut()) else {
            // A missing figure was recorded; keep going to find the others.
            let _ = rec.param::<K>(store, c.rate, key, part.from, Some(&id));
            continue;
        };
        let basis = shown.map(|shown| Arc::new(Basis { result: q, ..shown }));
        if let Some(b) = &basis {
            rec.event(|| Event::Basis {
                line: id.clone(),
                basis: b.clone(),
            });
        }
        let part_days = if split { part.days() } else { period_days };
        let days = Decimal::from(part_days);
        // Quantity for this part, and the multiplier/divisor that turn the
        // whole-period quantity into it; the amount is computed as
        // (q x rate x num) / den so the only division comes last.
        let (num, den) = match c.per {
            Per::Period if split => (days, total_days),
            Per::Period => (Decimal::ONE, Decimal::ONE),
            Per::Day => (days, Decimal::ONE),
            Per::Month(dpm) => match rec.param::<K>(store, dpm, None, part.from, Some(&id)) {
                Some(r) => (days, r.value),
                None => continue, // the missing figure is recorded
            },
        };
        let remainder = share_remainder && i == last && whole == Some(q);
        // The part's quantity is shown, not charged (the amount below is
        // q x rate x num / den): amounts-only lines carry none.
        let part_qty = if rec.amounts_only() {
            Decimal::ZERO
        } else if !split {
            // The one part's quantity, nothing shared out; only shown (on
            // the line, to 4 places): a share of days rounded from the
            // exact fraction, without the decimal division.
            let shown = if crate::money::is_one(den) {
                scale_by(q, num, den)
            } else {
                crate::money::share_to_4_places(q, num, den).or_else(|| scale_by(q, num, den))
            };
            match shown {
                Some(p) => p,
                None => {
                    rec.overflowed(&c.id);
                    continue;
                }
            }
        } else {
            let part = match remainder {
                true => q.checked_sub(allocated),
                false => scale_by(q, num, den),
            };
            let Some((part, sum)) = part.and_then(|p| Some((p, allocated.checked_add(p)?))) else {
                rec.overflowed(&c.id);
                continue;
            };
            allocated = sum;
            part
        };
        whole.get_or_insert(q);
        if split {
            rec.event(|| Event::Split {
                line: id.clone(),
                from: part.from,
                to: part.to,
                days: part_days,
                period_days,
                quantity: part_qty,
            });
        }
        match store.get(c.rate).map(|p| p.shape) {
            Some(Shape::Tiers) => tiered::<K>(c, store, rec, q, (num, den), part, basis, scale),
            _ => {
                let Some(rate) = rec.param::<K>(store, c.rate, key, part.from, Some(&id)) else {
                    continue;
                };
                // The amount is the exact share, q x rate x days / period
                // days, dividing last and rounding once (a tie at half a cent
                // stays a tie): the cent is found from the exact fraction
                // with one integer division (`money::share_to_cents`). A
                // trace keeps the fraction, to show as its decimal quotient;
                // a percent rate or scale is divided out step by step.
                let product = q.checked_mul(rate.value);
                let amount = if rec.trace_on() && (c.rate_is_percent || scale.is_some()) {
                    product
                        .and_then(|x| scale_by(x, num, den))
                        .and_then(|x| adjust(c, x, scale))
                        .map(Amount::of)
                } else if rec.trace_on() {
                    product.and_then(|x| Amount::share(x, num, den))
                } else {
                    share(c, (num, den), scale)
                        .zip(product)
                        .and_then(|((n, d), x)| crate::money::share_to_cents(x, n, d))
                        .map(|cents| Amount {
                            exact: Exact::from(cents),
                            cents,
                        })
                };
                let Some(amount) = amount else {
                    rec.overflowed(&c.id);
                    continue;
                };
                let text = K::keep(&c.text);
                push_line(
                    c,
                    text,
                    rec,
                    part_qty,
                    rate.value,
                    amount,
                    part,
                    K::keep(rate.source),
                    basis,
                );
            }
        }
    }
    explain::<K>(c, rec);
}

/// Why a charge registered during the period applies only from its date
/// (or not at all): a reason with the charge's citation.
#[cold]
fn starts_reason(c: &Charge, rec: &mut Recorder, d: NaiveDate, path: &str, applies: bool) {
    let text = if applies {
        format!(
            "{} applies from {d} (`{path}`); none for the days of this period before it.",
            c.label
        )
    } else {
        format!(
            "No {} for this period: it applies from {d} (`{path}`), after the period ends.",
            c.label.to_lowercase()
        )
    };
    let rule = format!("{}.starts_on", c.id);
    rec.reason(
        Arc::from(rule.as_str()),
        applies,
        Arc::from(text.as_str()),
        c.cite.clone(),
    );
}

/// A charge on earlier lines (a credit as a share of them): one line for
/// each, at the rate in force at its start, days before `starts` left out.
#[inline(never)]
fn credit_on_lines<'s, 'p, K: Keep<'s, 'p>>(
    c: &'s Charge,
    rec: &mut Recorder<'p>,
    store: &'s ParamStore,
    (ids, at): (&[Arc<str>], &[usize]),
    key: Option<usize>,
    starts: Option<NaiveDate>,
    scale: Option<Decimal>,
) {
    // The earlier lines' periods and amounts.
    let basis: Vec<(NaiveDate, NaiveDate, Decimal)> = if rec.amounts_only() {
        rec.tallied
            .iter()
            .filter(|t| at.contains(&t.charge))
            .map(|t| (t.from, t.to, t.amount))
            .collect()
    } else {
        rec.lines
            .iter()
            .filter(|l| ids.contains(l.id()))
            .map(|l| (l.from, l.to, l.amount))
            .collect()
    };
    for (l_from, l_to, l_amount) in basis {
        // Days before `starts_on` are left out, the line's amount
        // shared by days.
        let (from, base) = match starts {
            Some(s) if l_to <= s => continue,
            Some(s) if l_from < s => {
                let all = Decimal::from((l_to - l_from).num_days());
                let kept = Decimal::from((l_to - s).num_days());
                let Some(share) = l_amount.checked_mul(kept).and_then(|x| crate::money::divide(x, all)) else {
                    rec.overflowed(&c.id);
                    continue;
                };
                (s, crate::money::round_money(share))
            }
            _ => (l_from, l_amount),
        };
        let Some(rate) = rec.param::<K>(store, c.rate, key, from, Some(&K::keep(&c.id))) else {
            continue;
        };
        let Some(exact) = base.checked_mul(rate.value).and_then(|x| adjust(c, x, scale)) else {
            rec.overflowed(&c.id);
            continue;
        };
        push_line(
            c,
            K::keep(&c.text),
            rec,
            base,
            rate.value,
            Amount::of(exact),
            Period { from, to: l_to },
            K::keep(rate.source),
            None,
        );
    }
    explain::<K>(c, rec);
}

/// The multiplier and divisor that make `quantity x rate` a line's exact
/// amount: the part's share of the period, then what `adjust` applies.
fn share(c: &Charge, (num, den): (Decimal, Decimal), scale: Option<Decimal>) -> Option<(Decimal, Decimal)> {
    let den = if c.rate_is_percent {
        den.checked_mul(Decimal::ONE_HUNDRED)?
    } else {
        den
    };
    match scale {
        Some(s) => Some((num.checked_mul(s)?, den.checked_mul(Decimal::ONE_HUNDRED)?)),
        None => Some((num, den)),
    }
}

/// A line's exact amount (shown in a trace) and that amount to the cent.
struct Amount {
    exact: Exact,
    cents: Decimal,
}

impl Amount {
    fn of(exact: Decimal) -> Amount {
        Amount {
            cents: line_amount(exact),
            exact: Exact::from(exact),
        }
    }

    /// `x * num / den`, kept as that fraction, and its cent found from it.
    /// `None` beyond a decimal's digits.
    #[inline(always)]
    fn share(x: Decimal, num: Decimal, den: Decimal) -> Option<Amount> {
        let value = if crate::money::is_one(num) {
            x
        } else {
            x.checked_mul(num)?
        };
        Some(Amount {
            cents: crate::money::share_to_cents(x, num, den)?,
            exact: Exact::fraction(value, den),
        })
    }
}

/// Applies what a charge says about its rate: a percent rate, and the
/// case's percent scale (a discount's registered share). `None` beyond a
/// decimal's digits.
fn adjust(c: &Charge, amount: Decimal, scale: Option<Decimal>) -> Option<Decimal> {
    let amount = if c.rate_is_percent {
        amount / Decimal::ONE_HUNDRED
    } else {
        amount
    };
    match scale {
        Some(s) => Some(amount.checked_mul(s)? / Decimal::ONE_HUNDRED),
        None => Some(amount),
    }
}

fn explain<'s, 'p, K: Keep<'s, 'p>>(c: &'s Charge, rec: &mut Recorder<'p>) {
    rec.push_reason::<K>(&c.explain);
}

fn rec_source<'s, 'p, K: Keep<'s, 'p>>(store: &'s ParamStore, c: &Charge, date: NaiveDate) -> Text<'p> {
    match store.get(c.rate).and_then(|p| p.dated_at(date)) {
        Some(d) => K::keep(&d.source),
        None => Text::from(""),
    }
}

#[expect(clippy::too_many_arguments, reason = "the parts of one line, each named at the call")]
#[inline(always)]
fn push_line<'p>(
    c: &Charge,
    text: Shared<'p, LineText>,
    rec: &mut Recorder<'p>,
    qty: Decimal,
    rate: Decimal,
    amount: Amount,
    part: Period,
    source: Text<'p>,
    basis: Option<Arc<Basis<'p>>>,
) {
    // A credit is the charge's amount taken off (half-up rounding is the
    // same either side of zero).
    let (exact, cents) = if c.credit {
        (-amount.exact, -amount.cents)
    } else {
        (amount.exact, amount.cents)
    };
    if rec.amounts_only() {
        rec.tallied.push(Tallied {
            charge: c.index,
            from: part.from,
            to: part.to,
            amount: cents,
        });
        return;
    }
    let line = Line {
        text,
        quantity: display_quantity(qty),
        rate,
        amount: cents,
        from: part.from,
        to: part.to,
        source,
        basis,
    };
    rec.add_line(line, exact);
}

#[expect(
    clippy::too_many_arguments,
    reason = "the parts of one split of a charge, each named at the call"
)]
/// Tiered rates: the quantity fills each tier in turn. When the period is
/// split, each part's tier bounds are the bounds scaled by its share of days.
#[inline(never)]
fn tiered<'s, 'p, K: Keep<'s, 'p>>(
    c: &'s Charge,
    store: &'s ParamStore,
    rec: &mut Recorder<'p>,
    q: Decimal,
    (num, den): (Decimal, Decimal),
    part: Period,
    basis: Option<Arc<Basis<'p>>>,
    scale: Option<Decimal>,
) {
    let Some(tiers) = rec.tiers::<K>(store, c.rate, part.from) else {
        return;
    };
    let src = rec_source::<K>(store, c, part.from);
    let share = |x: Decimal| x.checked_mul(num).and_then(|x| x.checked_div(den));
    let Some(part_q) = share(q) else {
        rec.overflowed(&c.id);
        return;
    };
    let mut lower = Decimal::ZERO;
    for (i, t) in tiers.iter().enumerate() {
        let upper = match t.up_to.map(share) {
            Some(None) => {
                rec.overflowed(&c.id);
                return;
            }
            Some(Some(u)) => Some(u),
            None => None,
        };
        let in_tier = match upper {
            Some(u) => (part_q.min(u) - lower).max(Decimal::ZERO),
            None => (part_q - lower).max(Decimal::ZERO),
        };
        if !in_tier.is_zero() {
            let Some(exact) = in_tier.checked_mul(t.rate).and_then(|x| adjust(c, x, scale)) else {
                rec.overflowed(&c.id);
                return;
            };
            let text = Shared::made(LineText {
                id: c.id.clone(),
                label: Arc::from(format!("{}, tier {}", c.label, i + 1).as_str()),
                unit: c.unit.clone(),
                cite: c.cite.clone(),
            });
            let amount = Amount::of(exact);
            push_line(c, text, rec, in_tier, t.rate, amount, part, src.clone(), basis.clone());
        }
        match upper {
            Some(u) => lower = u,
            None => break,
        }
    }
}
