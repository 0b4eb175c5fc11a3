//! rhai, configured in exactly one place: every sandbox limit set, strict
//! variables, no `eval`, no modules, no printing. Decisions written in rhai
//! are compiled once per pack and run with a fresh `Scope` per case. The host
//! API (param reads, proration periods, lines, requirements, outcome,
//! outputs, notes, dates) records everything in the determination's trace.
//!
//! Host functions reach the running evaluation through a thread-local slot
//! that is filled for the duration of one `run` and always emptied after it,
//! so one compiled engine serves every thread.

use crate::case::{Case, Fact, Facts, Schema};
use crate::dates::{Period, parse_date};
use crate::determination::{Event, Line, LineText, Recorder, Share, Shared, display_quantity, line_amount};
use crate::error::{Error, ErrorKind, Location, Result};
use crate::money::{round_half_up, round_money};
use crate::pack::{Limits, Pack};
use crate::params::ParamStore;
use chrono::NaiveDate;
use rhai::{AST, Array, Dynamic, EvalAltResult, Map, Position, Scope};
use rust_decimal::Decimal;
use std::cell::{Cell, RefCell};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The state a running script's host calls read and write.
pub struct ScriptState {
    pub pack: Arc<Pack>,
    /// The declarative decisions a rule may evaluate (`decide`).
    pub declaratives: Arc<crate::engine::Declaratives>,
    pub as_of: NaiveDate,
    /// A script's recorder keeps the pack's texts shared, not borrowed:
    /// it lives in a thread-local while the script runs.
    pub rec: Recorder<'static>,
}

thread_local! {
    static STATE: RefCell<Option<ScriptState>> = const { RefCell::new(None) };
    /// The wall-clock limit of the evaluations on this thread, if the
    /// caller set one (`ratebook serve`); never set in wasm, where there
    /// is no clock.
    static DEADLINE: Cell<Option<(Instant, Duration)>> = const { Cell::new(None) };
}

/// Runs `f` with a wall-clock limit on every rule it evaluates: a rule
/// still running after `limit` stops with `ratebook::rule::limit_time`.
/// The operation limit bounds a rule's work; this bounds its time on a
/// busy machine, for callers that answer within a time (the HTTP API).
pub fn with_time_limit<T>(limit: Duration, f: impl FnOnce() -> T) -> T {
    let previous = DEADLINE.with(|d| d.replace(Some((Instant::now() + limit, limit))));
    let out = f();
    DEADLINE.with(|d| d.set(previous));
    out
}

/// How often (in rhai operations) the clock is read against the limit.
const CLOCK_EVERY: u64 = 1024;

fn past_deadline(operations: u64) -> Option<Dynamic> {
    if !operations.is_multiple_of(CLOCK_EVERY) {
        return None;
    }
    match DEADLINE.with(Cell::get) {
        Some((at, _)) if Instant::now() >= at => Some(Dynamic::UNIT),
        _ => None,
    }
}

type HostResult<T> = std::result::Result<T, Box<EvalAltResult>>;

fn host_err(msg: impl Into<String>) -> Box<EvalAltResult> {
    Box::new(EvalAltResult::ErrorRuntime(Dynamic::from(msg.into()), Position::NONE))
}

fn with_state<T>(f: impl FnOnce(&mut ScriptState) -> HostResult<T>) -> HostResult<T> {
    STATE.with(|s| match s.try_borrow_mut() {
        Ok(mut guard) => match guard.as_mut() {
            Some(st) => f(st),
            None => Err(host_err("host function called outside a decision")),
        },
        Err(_) => Err(host_err("host function re-entered")),
    })
}

fn date_arg(s: &str) -> HostResult<NaiveDate> {
    parse_date(s).ok_or_else(|| host_err(format!("`{s}` is not a date (YYYY-MM-DD)")))
}

fn dec(d: &Dynamic) -> HostResult<Decimal> {
    if let Some(x) = d.clone().try_cast::<Decimal>() {
        return Ok(x);
    }
    if let Ok(i) = d.as_int() {
        return Ok(Decimal::from(i));
    }
    if let Some(s) = d.clone().try_cast::<rhai::ImmutableString>() {
        return crate::money::parse_decimal(&s).ok_or_else(|| host_err(format!("`{s}` is not a number")));
    }
    Err(host_err(format!("expected a number, got {}", d.type_name())))
}

/// How a script reads a figure the pack has as `unknown`.
#[derive(Clone, Copy)]
enum IfUnknown {
    /// The determination fails listing it (the script goes on with a zero
    /// placeholder so every missing figure is found).
    Fail,
    /// The script gets `()` and the determination warns that the figure is
    /// not in the pack (for a figure the result does not depend on, such as
    /// the amount of a fee on a notice whose date is the question).
    Unit,
}

fn read_param(name: &str, key: Option<&str>, date: Option<NaiveDate>) -> HostResult<Dynamic> {
    read_figure(name, key, date, IfUnknown::Fail)
}

fn read_figure(name: &str, key: Option<&str>, date: Option<NaiveDate>, if_unknown: IfUnknown) -> HostResult<Dynamic> {
    with_state(|st| {
        let before = st.rec.missing.len();
        let store: &ParamStore = &st.pack.params;
        let id = store
            .id(name)
            .ok_or_else(|| host_err(format!("parameter `{name}` is not defined in the pack")))?;
        let at = date.unwrap_or(st.as_of);
        let key = match (key, store.get(id)) {
            (Some(k), Some(p)) => Some(p.key_index(k).ok_or_else(|| {
                host_err(format!(
                    "parameter `{name}` has no key `{k}`; keys: {}",
                    p.keys.join(", ")
                ))
            })?),
            _ => None,
        };
        match (st.rec.param::<Share>(store, id, key, at, None), if_unknown) {
            (Some(r), _) => Ok(Dynamic::from(r.value)),
            // The missing figure is recorded and the script goes on with a
            // zero placeholder, so that every missing figure is found; the
            // determination then fails listing them all (its result is
            // never used).
            (None, IfUnknown::Fail) => Ok(Dynamic::from(Decimal::ZERO)),
            (None, IfUnknown::Unit) => {
                let missing: Vec<_> = st.rec.missing.drain(before..).collect();
                for m in missing {
                    st.rec.warn_once(
                        "ratebook::params::unknown_not_used",
                        format!("{m}: not in this pack, so it is shown as unknown; the result does not depend on it"),
                    );
                }
                Ok(Dynamic::UNIT)
            }
        }
    })
}

fn map_get<'a>(m: &'a Map, k: &str) -> Option<&'a Dynamic> {
    m.get(k)
}

fn text(m: &Map, k: &str) -> Option<String> {
    map_get(m, k).map(|v| v.to_string())
}

fn add_line(m: Map) -> HostResult<Dynamic> {
    with_state(|st| {
        let id = text(&m, "id").ok_or_else(|| host_err("add_line needs `id`"))?;
        let quantity = map_get(&m, "quantity").map(dec).transpose()?.unwrap_or(Decimal::ONE);
        let rate = map_get(&m, "rate").map(dec).transpose()?.unwrap_or(Decimal::ZERO);
        let exact = match map_get(&m, "amount") {
            Some(a) => dec(a)?,
            None => quantity * rate,
        };
        let from = text(&m, "from").map(|s| date_arg(&s)).transpose()?.unwrap_or(st.as_of);
        let to = text(&m, "to").map(|s| date_arg(&s)).transpose()?.unwrap_or(from);
        let cite = text(&m, "cite").ok_or_else(|| host_err(format!("add_line `{id}` needs `cite`")))?;
        if !st.pack.citations.contains_key(&cite) {
            return Err(host_err(format!("citation `{cite}` is not in citations.yaml")));
        }
        let line = Line {
            text: Shared::made(LineText {
                id: Arc::from(id.as_str()),
                label: Arc::from(text(&m, "label").unwrap_or_else(|| id.clone()).as_str()),
                unit: Arc::from(text(&m, "unit").unwrap_or_default().as_str()),
                cite: Arc::from(cite.as_str()),
            }),
            quantity: display_quantity(quantity),
            rate,
            amount: line_amount(exact),
            from,
            to,
            source: Shared::made(text(&m, "source").unwrap_or_default()),
            basis: None,
        };
        let amount = line.amount;
        st.rec.add_line(line, exact.into());
        Ok(Dynamic::from(amount))
    })
}

fn require(rule: &str, passed: bool, why: &str, cite: &str, fix: &str) -> HostResult<bool> {
    with_state(|st| {
        if !st.pack.citations.contains_key(cite) {
            return Err(host_err(format!("citation `{cite}` is not in citations.yaml")));
        }
        let fix = (!fix.is_empty()).then(|| Arc::from(fix));
        st.rec
            .requirement(Arc::from(rule), passed, Arc::from(why), Arc::from(cite), fix);
        Ok(passed)
    })
}

/// Evaluates a declarative decision of the pack (a bill) on a case the rule
/// built; its figures, warnings and missing figures join this determination.
/// Returns `#{ total, lines: [#{ id, amount, quantity, rate, from, to }],
/// amounts: #{ line id: sum of its amounts } }`.
fn decide(name: &str, case: Map) -> HostResult<Map> {
    with_state(|st| {
        let d = st.declaratives.get(name).cloned().ok_or_else(|| {
            host_err(format!(
                "`{name}` is not a declarative decision of this pack (a rule can evaluate only those)"
            ))
        })?;
        let case = Case::from_value(
            &format!("the case a rule built for `{name}`"),
            to_json(&Dynamic::from_map(case)),
        );
        let mut sub = crate::determination::Recorder::new(st.rec.trace_on());
        crate::engine::run_declarative::<Share>(&st.pack, &d, &case, None, &mut sub)
            .map_err(|e| host_err(format!("evaluating `{name}`: {}", e.message)))?;
        let total = sub
            .total()
            .ok_or_else(|| host_err(format!("evaluating `{name}`: the total is beyond 28 digits")))?;
        let mut lines = Array::new();
        let mut amounts = Map::new();
        for l in &sub.lines {
            let mut m = Map::new();
            m.insert("id".into(), Dynamic::from(l.id().to_string()));
            m.insert("amount".into(), Dynamic::from(l.amount));
            m.insert("quantity".into(), Dynamic::from(l.quantity));
            m.insert("rate".into(), Dynamic::from(l.rate));
            m.insert("from".into(), Dynamic::from(l.from.to_string()));
            m.insert("to".into(), Dynamic::from(l.to.to_string()));
            lines.push(Dynamic::from_map(m));
            let key: rhai::ImmutableString = l.id().as_ref().into();
            let before = amounts
                .get(key.as_str())
                .and_then(|v| v.clone().try_cast::<Decimal>())
                .unwrap_or_default();
            let sum = before
                .checked_add(l.amount)
                .ok_or_else(|| host_err(format!("evaluating `{name}`: an amount is beyond 28 digits")))?;
            amounts.insert(key.as_str().into(), Dynamic::from(sum));
        }
        st.rec.absorb(Arc::from(name), total, sub);
        let mut out = Map::new();
        out.insert("total".into(), Dynamic::from(total));
        out.insert("lines".into(), Dynamic::from_array(lines));
        out.insert("amounts".into(), Dynamic::from_map(amounts));
        Ok(out)
    })
}

/// The usage between two meter reads on a meter of `digits` whole-ccf
/// dials: a later reading below the earlier one has rolled over past
/// 10^digits. Returns `#{ usage, rollover }`.
fn meter_usage(previous: Decimal, current: Decimal, digits: i64) -> HostResult<Map> {
    if !(1..=12).contains(&digits) {
        return Err(host_err(format!(
            "meter_usage: {digits} digits is not between 1 and 12"
        )));
    }
    let rollover = current < previous;
    let usage = if rollover {
        current + Decimal::from(10_i64.pow(digits as u32)) - previous
    } else {
        current - previous
    };
    let mut m = Map::new();
    m.insert("usage".into(), Dynamic::from(usage));
    m.insert("rollover".into(), Dynamic::from(rollover));
    Ok(m)
}

/// The lines that differ between two sub-determinations of the same
/// decision (`decide` results), segment by segment: `after - before`.
fn line_changes(before: Map, after: Map) -> Array {
    let lines = |m: &Map| {
        m.get("lines")
            .and_then(|l| l.clone().try_cast::<Array>())
            .unwrap_or_default()
    };
    let field = |m: &Map, k: &str| m.get(k).cloned().unwrap_or(Dynamic::UNIT);
    let num = |m: &Map, k: &str| {
        m.get(k)
            .and_then(|v| v.clone().try_cast::<Decimal>())
            .unwrap_or_default()
    };
    let after_lines: Vec<Map> = lines(&after).into_iter().filter_map(|l| l.try_cast::<Map>()).collect();
    let mut out = Array::new();
    for b in lines(&before).into_iter().filter_map(|l| l.try_cast::<Map>()) {
        let same = |a: &&Map| {
            field(a, "id").to_string() == field(&b, "id").to_string()
                && field(a, "from").to_string() == field(&b, "from").to_string()
        };
        let (qa, aa) = match after_lines.iter().find(same) {
            Some(a) => (num(a, "quantity"), num(a, "amount")),
            None => (Decimal::ZERO, Decimal::ZERO),
        };
        let amount = aa - num(&b, "amount");
        if amount.is_zero() {
            continue;
        }
        let mut m = Map::new();
        m.insert("id".into(), field(&b, "id"));
        m.insert("quantity".into(), Dynamic::from(qa - num(&b, "quantity")));
        m.insert("rate".into(), field(&b, "rate"));
        m.insert("amount".into(), Dynamic::from(amount));
        m.insert("from".into(), field(&b, "from"));
        m.insert("to".into(), field(&b, "to"));
        out.push(Dynamic::from_map(m));
    }
    out
}

/// Checked facts as a script sees them: numbers are decimals, dates and
/// enum values text, a period `#{ from, to, days }`, a set an array, a list
/// an array of maps; absent optional fields are left out (test with `in`).
pub fn facts_value(schema: &Schema, facts: &Facts) -> Dynamic {
    let mut root = Map::new();
    for id in schema.ids() {
        let v = match facts.get(id) {
            Fact::Absent => continue,
            Fact::Number(d) => Dynamic::from(*d),
            Fact::Text(t) => Dynamic::from(t.to_string()),
            Fact::Bool(b) => Dynamic::from(*b),
            Fact::Date(d) => Dynamic::from(d.to_string()),
            Fact::Period(p) => {
                let mut m = Map::new();
                m.insert("from".into(), Dynamic::from(p.from.to_string()));
                m.insert("to".into(), Dynamic::from(p.to.to_string()));
                m.insert("days".into(), Dynamic::from(p.days()));
                Dynamic::from_map(m)
            }
            Fact::Enum(i) => match schema.values(id).and_then(|v| v.get(usize::from(*i))) {
                Some(v) => Dynamic::from(v.to_string()),
                None => continue,
            },
            Fact::Set(mask) => Dynamic::from_array(
                schema
                    .values(id)
                    .unwrap_or_default()
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| mask & (1u64 << i) != 0)
                    .map(|(_, v)| Dynamic::from(v.to_string()))
                    .collect(),
            ),
            Fact::List(items) => match schema.items(id) {
                Some(item_schema) => Dynamic::from_array(items.iter().map(|f| facts_value(item_schema, f)).collect()),
                None => continue,
            },
        };
        insert_path(&mut root, schema.segments(id), v);
    }
    Dynamic::from_map(root)
}

fn insert_path(m: &mut Map, segments: &[String], v: Dynamic) {
    match segments {
        [] => {}
        [last] => {
            m.insert(last.as_str().into(), v);
        }
        [first, rest @ ..] => {
            let mut inner = m
                .remove(first.as_str())
                .and_then(|d| d.try_cast::<Map>())
                .unwrap_or_default();
            insert_path(&mut inner, rest, v);
            m.insert(first.as_str().into(), Dynamic::from_map(inner));
        }
    }
}

fn to_json(v: &Dynamic) -> serde_json::Value {
    if let Some(d) = v.clone().try_cast::<Decimal>() {
        return serde_json::Value::String(d.to_string());
    }
    if let Ok(i) = v.as_int() {
        return serde_json::Value::from(i);
    }
    if let Ok(b) = v.as_bool() {
        return serde_json::Value::Bool(b);
    }
    if v.is_unit() {
        return serde_json::Value::Null;
    }
    if let Some(a) = v.clone().try_cast::<Array>() {
        return serde_json::Value::Array(a.iter().map(to_json).collect());
    }
    if let Some(m) = v.clone().try_cast::<Map>() {
        let mut sorted: Vec<_> = m.iter().collect();
        sorted.sort_by(|a, b| a.0.cmp(b.0));
        return serde_json::Value::Object(sorted.into_iter().map(|(k, v)| (k.to_string(), to_json(v))).collect());
    }
    serde_json::Value::String(v.to_string())
}

/// A case value as a script sees it: numbers are decimals, dates are text.
pub fn from_json(v: &serde_json::Value) -> Dynamic {
    match v {
        serde_json::Value::Null => Dynamic::UNIT,
        serde_json::Value::Bool(b) => Dynamic::from(*b),
        serde_json::Value::Number(n) => match crate::money::decimal_from_json_number(n) {
            Some(d) => Dynamic::from(d),
            None => Dynamic::UNIT,
        },
        serde_json::Value::String(s) => Dynamic::from(s.clone()),
        serde_json::Value::Array(a) => Dynamic::from_array(a.iter().map(from_json).collect()),
        serde_json::Value::Object(o) => {
            let mut m = Map::new();
            for (k, v) in o {
                m.insert(k.as_str().into(), from_json(v));
            }
            Dynamic::from_map(m)
        }
    }
}

fn periods(from: &str, to: &str, names: Array) -> HostResult<Array> {
    let from = date_arg(from)?;
    let to = date_arg(to)?;
    if to <= from {
        return Err(host_err(format!("periods: {to} is not after {from}")));
    }
    with_state(|st| {
        let mut ids = Vec::new();
        for n in &names {
            let n = n.to_string();
            ids.push(
                st.pack
                    .params
                    .id(&n)
                    .ok_or_else(|| host_err(format!("parameter `{n}` is not defined in the pack")))?,
            );
        }
        let whole = Period { from, to };
        let parts = crate::charges::segments(&st.pack.params, &ids, whole);
        let mut out = Array::new();
        for p in parts {
            st.rec.event(|| Event::Split {
                line: Shared::made("periods"),
                from: p.from,
                to: p.to,
                days: p.days(),
                period_days: whole.days(),
                quantity: Decimal::from(p.days()),
            });
            let mut m = Map::new();
            m.insert("from".into(), Dynamic::from(p.from.to_string()));
            m.insert("to".into(), Dynamic::from(p.to.to_string()));
            m.insert("days".into(), Dynamic::from(p.days()));
            out.push(Dynamic::from_map(m));
        }
        Ok(out)
    })
}

/// Records that a business-day count reached a day the pack's holiday list
/// does not cover: a missing figure, like an unknown parameter.
fn holidays_missing(st: &mut ScriptState, day: NaiveDate) {
    use chrono::Datelike;
    let figure = crate::error::MissingFigure {
        param: "calendar.holidays".into(),
        key: Some(day.year().to_string()),
        date: day,
        source: format!(
            "the City's holiday schedule for {} (calendar.holidays in pack.yaml)",
            day.year()
        ),
    };
    if !st.rec.missing.contains(&figure) {
        st.rec.missing.push(figure);
    }
}

/// `n` business days after `d` on the pack's calendar; holidays passed over
/// are traced, and warned about once each when the list is assumed.
fn add_business_days(d: &str, n: i64) -> HostResult<String> {
    let d = date_arg(d)?;
    with_state(|st| {
        let pack = st.pack.clone();
        let cal = &pack.calendar;
        match cal.add_business_days(d, n) {
            Ok(r) => {
                for h in r.skipped {
                    let text = format!("{} ({}) is not a business day", h.date, h.name);
                    if cal.assumed {
                        st.rec.warn_once(
                            "ratebook::calendar::assumed_holiday",
                            format!(
                                "{text}: an assumed holiday, not from the City's own list ({})",
                                cal.source
                            ),
                        );
                    }
                    st.rec.event(|| Event::Note { text });
                }
                Ok(r.date.to_string())
            }
            Err(day) => {
                holidays_missing(st, day);
                // A placeholder: the determination fails listing the figure.
                Ok(d.to_string())
            }
        }
    })
}

fn is_business_day(d: &str) -> HostResult<bool> {
    let d = date_arg(d)?;
    with_state(|st| {
        let pack = st.pack.clone();
        match pack.calendar.is_business_day(d) {
            Ok(b) => Ok(b),
            Err(day) => {
                holidays_missing(st, day);
                Ok(false)
            }
        }
    })
}

/// Builds the one configured rhai engine for a pack.
pub fn engine(limits: &Limits) -> rhai::Engine {
    let mut e = rhai::Engine::new();
    e.set_max_operations(limits.max_operations)
        .set_max_call_levels(limits.max_call_levels)
        .set_max_expr_depths(limits.max_expr_depth, limits.max_expr_depth)
        .set_max_string_size(limits.max_string_size)
        .set_max_array_size(limits.max_array_size)
        .set_max_map_size(limits.max_map_size)
        .set_max_variables(1_000)
        .set_max_functions(1_000)
        .set_strict_variables(true)
        .set_fail_on_invalid_map_property(true);
    e.on_progress(past_deadline);
    e.disable_symbol("eval");
    e.on_print(|_| {});
    e.on_debug(|_, _, _| {});

    e.register_fn("param", |n: &str| read_param(n, None, None));
    e.register_fn("param", |n: &str, k: &str| read_param(n, Some(k), None));
    e.register_fn("param_at", |n: &str, d: &str| read_param(n, None, Some(date_arg(d)?)));
    e.register_fn("param_at", |n: &str, k: &str, d: &str| {
        read_param(n, Some(k), Some(date_arg(d)?))
    });
    e.register_fn("param_or_unknown", |n: &str, d: &str| {
        read_figure(n, None, Some(date_arg(d)?), IfUnknown::Unit)
    });
    e.register_fn("periods", periods);
    e.register_fn("add_line", add_line);
    e.register_fn("require", |r: &str, p: bool, w: &str, c: &str| require(r, p, w, c, ""));
    e.register_fn("require", require);
    e.register_fn("decide", decide);
    e.register_fn("line_changes", line_changes);
    e.register_fn("meter_usage", meter_usage);
    e.register_fn("outcome", |o: &str| {
        with_state(|st| {
            st.rec.outcome = Some(o.to_string());
            Ok(())
        })
    });
    e.register_fn("output", |k: &str, v: Dynamic| {
        with_state(|st| {
            let value = to_json(&v);
            let name = k.to_string();
            let shown = value.clone();
            st.rec.event(|| Event::Output {
                name: name.clone(),
                value: shown,
            });
            st.rec.outputs.insert(Arc::from(name.as_str()), value);
            Ok(())
        })
    });
    e.register_fn("note", |t: &str| {
        with_state(|st| {
            let text = t.to_string();
            st.rec.event(|| Event::Note { text });
            Ok(())
        })
    });
    e.register_fn("warn", |t: &str| {
        with_state(|st| {
            st.rec.warn("ratebook::rule::warning", t.to_string());
            Ok(())
        })
    });
    e.register_fn("round_money", |d: Decimal| round_money(d));
    e.register_fn("round_half_up", |d: Decimal, p: i64| {
        round_half_up(d, p.clamp(0, 28) as u32)
    });
    e.register_fn("decimal", |d: Dynamic| dec(&d));
    e.register_fn("date", |s: &str| date_arg(s).map(|d| d.to_string()));
    e.register_fn("days_between", |a: &str, b: &str| -> HostResult<i64> {
        Ok((date_arg(b)? - date_arg(a)?).num_days())
    });
    e.register_fn("add_days", |a: &str, n: i64| -> HostResult<String> {
        let d = date_arg(a)?;
        d.checked_add_signed(chrono::Duration::days(n))
            .map(|d| d.to_string())
            .ok_or_else(|| host_err("date out of range"))
    });
    e.register_fn("add_months", |a: &str, n: i64| -> HostResult<String> {
        let d = date_arg(a)?;
        let months = chrono::Months::new(u32::try_from(n.unsigned_abs()).unwrap_or(u32::MAX));
        let r = if n >= 0 {
            d.checked_add_months(months)
        } else {
            d.checked_sub_months(months)
        };
        r.map(|d| d.to_string()).ok_or_else(|| host_err("date out of range"))
    });
    e.register_fn("add_business_days", add_business_days);
    e.register_fn("is_business_day", is_business_day);
    e
}

/// Compiles a decision script, mapping syntax errors to file:line:col.
pub fn compile(engine: &rhai::Engine, file: &str, text: &str) -> Result<AST> {
    // Strict variables: the compiler must know the names every script gets.
    // They are declared as variables here, not constants, so the optimizer
    // does not fold these placeholder values into the script.
    let mut scope = Scope::new();
    scope.push("facts", Dynamic::from_map(Map::new()));
    scope.push("as_of", String::new());
    engine.compile_with_scope(&scope, text).map_err(|e| {
        let pos = e.1;
        let mut err = Error::pack("ratebook::rule::syntax", format!("{file}: {}", e.0));
        if let (Some(line), Some(col)) = (pos.line(), pos.position()) {
            err = err
                .at(Location::at(file, line as u64, col as u64))
                .with_snippet(crate::error::snippet_at(file, text, line as u64, col as u64));
        } else {
            err = err.at(Location::file(file));
        }
        err
    })
}

/// Runs a compiled decision script against a case.
pub fn run(
    engine: &rhai::Engine,
    ast: &AST,
    file: &str,
    facts: Dynamic,
    state: ScriptState,
) -> (Recorder<'static>, Result<()>) {
    let limits = state.pack.limits;
    let mut scope = Scope::new();
    scope.push_constant("facts", facts);
    scope.push_constant("as_of", state.as_of.to_string());
    STATE.with(|s| {
        if let Ok(mut slot) = s.try_borrow_mut() {
            *slot = Some(state);
        }
    });
    let outcome = engine.run_ast_with_scope(&mut scope, ast);
    let state = STATE.with(|s| s.try_borrow_mut().ok().and_then(|mut slot| slot.take()));
    let rec = state.map(|s| s.rec).unwrap_or_else(|| Recorder::new(false));
    let result = outcome.map_err(|e| script_error(file, &e, &limits));
    (rec, result)
}

fn script_error(file: &str, e: &EvalAltResult, limits: &Limits) -> Error {
    let pos = e.position();
    let (code, kind, msg) = match e {
        EvalAltResult::ErrorTooManyOperations(_) => (
            "ratebook::rule::limit_operations",
            ErrorKind::Pack,
            format!(
                "{file}: the rule ran more than {} operations, its limit `limits.max_operations` (a loop that does not end?)",
                limits.max_operations
            ),
        ),
        EvalAltResult::ErrorTerminated(..) => (
            "ratebook::rule::limit_time",
            ErrorKind::Pack,
            format!(
                "{file}: the rule ran past the evaluation time limit ({} ms) and was stopped",
                DEADLINE.with(Cell::get).map_or(0, |(_, limit)| limit.as_millis())
            ),
        ),
        EvalAltResult::ErrorStackOverflow(_) => (
            "ratebook::rule::limit_call_depth",
            ErrorKind::Pack,
            format!(
                "{file}: the rule called functions more than {} deep, its limit `limits.max_call_levels` (recursion that does not end?)",
                limits.max_call_levels
            ),
        ),
        EvalAltResult::ErrorDataTooLarge(what, _) => (
            "ratebook::rule::limit_size",
            ErrorKind::Pack,
            format!(
                "{file}: {what} grew past its limit (`limits.max_string_size` {}, `max_array_size` {}, `max_map_size` {})",
                limits.max_string_size, limits.max_array_size, limits.max_map_size
            ),
        ),
        EvalAltResult::ErrorTooManyVariables(_) | EvalAltResult::ErrorTooManyModules(_) => {
            ("ratebook::rule::limit_size", ErrorKind::Pack, format!("{file}: {e}"))
        }
        EvalAltResult::ErrorPropertyNotFound(p, _) | EvalAltResult::ErrorVariableNotFound(p, _) => (
            "ratebook::rule::missing_value",
            ErrorKind::Input,
            format!("{file}: the rule needs `{p}`, which the case does not give"),
        ),
        _ => ("ratebook::rule::runtime", ErrorKind::Pack, format!("{file}: {e}")),
    };
    let mut err = Error::new(kind, code, msg);
    if let (Some(line), Some(col)) = (pos.line(), pos.position()) {
        err = err.at(Location::at(file, line as u64, col as u64));
    } else {
        err = err.at(Location::file(file));
    }
    err
}
