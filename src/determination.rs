//! The determination: what a decision returns, and the recorder that builds
//! it. Every parameter read, line, requirement and proration split goes
//! through the `Recorder`, so the trace is complete by construction. The JSON
//! shape here is the firm contract in DESIGN.md. No rendering, no I/O.

use crate::dates::Iso;
use crate::error::MissingFigure;
use crate::money::{Cents, Shown};
use crate::money::{round_half_up, round_money};
use crate::pack::PackId;
use crate::params::{DatedValue, Lookup, ParamId, ParamStore, Parameter, Status, Tier};
use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Serialize, Serializer};
use std::borrow::Cow;
use std::sync::Arc;

/// Something of the pack's (a text, a parameter, a prepared reason) as a
/// determination holds it: borrowed from the pack the engine evaluates with
/// (a copy of a pointer: no reference count to take and drop on every trace
/// step), or shared when it was made during the evaluation (a script's line,
/// a reason's worded text).
pub enum Shared<'p, T: ?Sized> {
    Pack(&'p T),
    Made(Arc<T>),
}

/// A text of a determination.
pub type Text<'p> = Shared<'p, str>;

impl<'p, T: ?Sized> Shared<'p, T> {
    /// A value made during an evaluation.
    pub fn made(value: impl Into<Arc<T>>) -> Self {
        Shared::Made(value.into())
    }

    /// The value shared, a borrowed one copied (`own`), so that it no
    /// longer borrows from the pack.
    fn into_owned(self, own: impl FnOnce(&T) -> Arc<T>) -> Shared<'static, T> {
        match self {
            Shared::Pack(r) => Shared::Made(own(r)),
            Shared::Made(a) => Shared::Made(a),
        }
    }
}

impl<T: ?Sized> Clone for Shared<'_, T> {
    fn clone(&self) -> Self {
        match self {
            Shared::Pack(r) => Shared::Pack(r),
            Shared::Made(a) => Shared::Made(Arc::clone(a)),
        }
    }
}

impl<T: ?Sized> std::ops::Deref for Shared<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        match self {
            Shared::Pack(r) => r,
            Shared::Made(a) => a,
        }
    }
}

impl<T: ?Sized + PartialEq> PartialEq for Shared<'_, T> {
    fn eq(&self, o: &Self) -> bool {
        **self == **o
    }
}

impl<T: ?Sized + std::fmt::Debug> std::fmt::Debug for Shared<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        (**self).fmt(f)
    }
}

impl<T: ?Sized + std::fmt::Display> std::fmt::Display for Shared<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        (**self).fmt(f)
    }
}

impl<T: ?Sized + Serialize> Serialize for Shared<'_, T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        (**self).serialize(s)
    }
}

fn own_text(t: Text<'_>) -> Text<'static> {
    t.into_owned(|t| Arc::from(t))
}

impl From<&str> for Text<'static> {
    fn from(t: &str) -> Self {
        Shared::Made(Arc::from(t))
    }
}

/// How an evaluation keeps what it reads from the pack (`&'s`) in a
/// determination (`'p`): borrowed, when the determination lives no longer
/// than the pack (`Borrow`, the engine's own evaluations), or shared, when
/// it must not borrow at all (`Share`, a rule script's recorder, which
/// lives in a thread-local while the script runs).
pub trait Keep<'s, 'p> {
    fn keep<T: ?Sized>(value: &'s Arc<T>) -> Shared<'p, T>;
}

/// Keeps the pack's values borrowed.
pub struct Borrow;

impl<'s: 'p, 'p> Keep<'s, 'p> for Borrow {
    #[inline(always)]
    fn keep<T: ?Sized>(value: &'s Arc<T>) -> Shared<'p, T> {
        Shared::Pack(value)
    }
}

/// Keeps the pack's values shared (their reference counts taken).
pub struct Share;

impl<'s, 'p> Keep<'s, 'p> for Share {
    fn keep<T: ?Sized>(value: &'s Arc<T>) -> Shared<'p, T> {
        Shared::Made(Arc::clone(value))
    }
}

/// Decimals as exact text; money with exactly two places.
fn money_ser<S: Serializer>(d: &Decimal, s: S) -> Result<S::Ok, S::Error> {
    crate::money::ser_display(&crate::money::Cents(*d), s)
}

fn opt_money_ser<S: Serializer>(d: &Option<Decimal>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => money_ser(d, s),
        None => s.serialize_none(),
    }
}

fn dec_ser<S: Serializer>(d: &Decimal, s: S) -> Result<S::Ok, S::Error> {
    crate::money::ser_display(d, s)
}

/// A line's exact amount before rounding: `value / divisor`, kept as that
/// fraction (the divisor is 1 when it was divided out already) and divided
/// out to a decimal's 28 digits only when read or written out, so a bill
/// that is not shown never pays for the division. The cent is found from
/// the same fraction (`money::share_to_cents`).
#[derive(Debug, Clone, Copy)]
pub struct Exact {
    value: Decimal,
    divisor: Decimal,
}

impl Exact {
    /// `value / divisor`, for a caller that has found its cents (with
    /// `money::share_to_cents`): a quotient whose cents fit a decimal fits
    /// one itself, with fewer places if need be.
    pub(crate) fn fraction(value: Decimal, divisor: Decimal) -> Exact {
        Exact { value, divisor }
    }

    /// The exact amount: the decimal quotient, to a decimal's 28 digits.
    pub fn value(&self) -> Decimal {
        if crate::money::is_one(self.divisor) {
            return self.value;
        }
        crate::money::divide(self.value, self.divisor).unwrap_or(self.value)
    }
}

impl From<Decimal> for Exact {
    fn from(value: Decimal) -> Exact {
        Exact {
            value,
            divisor: Decimal::ONE,
        }
    }
}

impl std::ops::Neg for Exact {
    type Output = Exact;

    fn neg(self) -> Exact {
        Exact {
            value: -self.value,
            divisor: self.divisor,
        }
    }
}

impl PartialEq for Exact {
    fn eq(&self, other: &Exact) -> bool {
        self.value() == other.value()
    }
}

impl Serialize for Exact {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        crate::money::ser_display(&self.value(), s)
    }
}

/// Quantities are shown to 4 places (amounts are computed from the exact share).
pub fn display_quantity(q: Decimal) -> Decimal {
    if q.scale() <= 4 {
        q.normalize()
    } else {
        round_half_up(q, 4).normalize()
    }
}

/// How a line's quantity was reached from the case and the pack: the
/// figures used (named by the pack's texts, borrowed like the rest of the
/// determination), whether the least of them was taken, and any divisor.
/// Kept as data and written out as text only when serialized.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Basis<'p> {
    pub terms: Terms<'p>,
    pub lesser: bool,
    pub divisor: Option<Decimal>,
    pub result: Decimal,
}

/// The named figures of a basis, in order: two held in place (a quantity
/// rarely names more), the rest in a list. (Not a `SmallVec`, which would
/// tie a determination's lifetime invariantly.)
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Terms<'p> {
    first: [Option<(Text<'p>, Decimal)>; 2],
    more: Vec<(Text<'p>, Decimal)>,
}

impl<'p> Terms<'p> {
    pub fn push(&mut self, term: (Text<'p>, Decimal)) {
        match self.first.iter_mut().find(|t| t.is_none()) {
            Some(slot) => *slot = Some(term),
            None => self.more.push(term),
        }
    }

    pub fn iter(&self) -> <&Terms<'p> as IntoIterator>::IntoIter {
        self.into_iter()
    }

    pub fn len(&self) -> usize {
        self.first.iter().flatten().count() + self.more.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<'a, 'p> IntoIterator for &'a Terms<'p> {
    type Item = &'a (Text<'p>, Decimal);
    type IntoIter = std::iter::Chain<
        std::iter::Flatten<std::slice::Iter<'a, Option<(Text<'p>, Decimal)>>>,
        std::slice::Iter<'a, (Text<'p>, Decimal)>,
    >;

    fn into_iter(self) -> Self::IntoIter {
        self.first.iter().flatten().chain(&self.more)
    }
}

impl Basis<'_> {
    fn into_owned(self) -> Basis<'static> {
        let mut terms = Terms::default();
        for (name, v) in self.terms.iter() {
            terms.push((own_text(name.clone()), *v));
        }
        Basis {
            terms,
            lesser: self.lesser,
            divisor: self.divisor,
            result: self.result,
        }
    }
}

impl std::fmt::Display for Basis<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.lesser && self.terms.len() > 1 {
            f.write_str("lesser of ")?;
        }
        for (i, (name, v)) in self.terms.iter().enumerate() {
            if i > 0 {
                f.write_str(" and ")?;
            }
            if name.is_empty() {
                write!(f, "{v}")?;
            } else {
                write!(f, "{name} {v}")?;
            }
        }
        if let Some(d) = self.divisor {
            write!(f, " / {d}")?;
        }
        write!(f, " = {}", display_quantity(self.result))
    }
}

impl Serialize for Basis<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// The fixed text of a line (the same on every bill, so shared).
#[derive(Debug, Clone, PartialEq)]
pub struct LineText {
    pub id: Arc<str>,
    pub label: Arc<str>,
    pub unit: Arc<str>,
    pub cite: Arc<str>,
}

/// One line of a bill (or of any decision that adds lines). Serialized flat:
/// `id, label, quantity, unit, rate, amount, from, to, cite, source, basis`.
#[derive(Debug, Clone, PartialEq)]
pub struct Line<'p> {
    pub text: Shared<'p, LineText>,
    pub quantity: Decimal,
    pub rate: Decimal,
    pub amount: Decimal,
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub source: Text<'p>,
    /// Shared with the trace's basis step; most lines have none.
    pub basis: Option<Arc<Basis<'p>>>,
}

impl<'p> Line<'p> {
    pub fn id(&self) -> &Arc<str> {
        &self.text.id
    }
    fn into_owned(self) -> Line<'static> {
        Line {
            text: self.text.into_owned(|t| Arc::new(t.clone())),
            quantity: self.quantity,
            rate: self.rate,
            amount: self.amount,
            from: self.from,
            to: self.to,
            source: own_text(self.source),
            basis: self.basis.map(|b| Arc::new(Arc::unwrap_or_clone(b).into_owned())),
        }
    }

    /// The line's id as the trace holds it (borrowed when its text is).
    pub fn id_text(&self) -> Text<'p> {
        match &self.text {
            Shared::Pack(t) => Shared::Pack(&t.id),
            Shared::Made(t) => Shared::Made(Arc::clone(&t.id)),
        }
    }
    pub fn label(&self) -> &str {
        &self.text.label
    }
    pub fn unit(&self) -> &str {
        &self.text.unit
    }
    pub fn cite(&self) -> &str {
        &self.text.cite
    }
}

impl Serialize for Line<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("Line", 11)?;
        st.serialize_field("id", &self.text.id)?;
        st.serialize_field("label", &self.text.label)?;
        st.serialize_field("quantity", &Shown(self.quantity))?;
        st.serialize_field("unit", &self.text.unit)?;
        st.serialize_field("rate", &Shown(self.rate))?;
        st.serialize_field("amount", &Shown(Cents(self.amount)))?;
        st.serialize_field("from", &Iso(self.from))?;
        st.serialize_field("to", &Iso(self.to))?;
        st.serialize_field("cite", &self.text.cite)?;
        st.serialize_field("source", &self.source)?;
        if let Some(b) = &self.basis {
            st.serialize_field("basis", b)?;
        }
        st.end()
    }
}

/// A requirement or rule that was checked, with its citation.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Reason {
    pub rule: Arc<str>,
    pub passed: bool,
    pub text: Arc<str>,
    pub cite: Arc<str>,
    /// For a failed requirement: the concrete change that would meet it,
    /// where one exists ("the repair is completed by 2025-09-19").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<Arc<str>>,
}

/// Something the reader must know: an assumed or supplied figure, a note.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Warning {
    pub code: &'static str,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub param: Option<Arc<str>>,
}

/// One step of the explanation trace.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TraceStep<'p> {
    pub step: u32,
    #[serde(flatten)]
    pub event: Event<'p>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Event<'p> {
    /// A parameter read: the figure in force on a date, with its provenance.
    Param(ParamRead<'p>),
    /// A tier list read: the tiers in force on a date, with their provenance.
    Tiers {
        name: Text<'p>,
        #[serde(serialize_with = "crate::dates::ser")]
        date: NaiveDate,
        tiers: Vec<Tier>,
        unit: Text<'p>,
        status: Status,
        #[serde(serialize_with = "crate::dates::ser")]
        effective_from: NaiveDate,
        source: Text<'p>,
    },
    /// A charge's condition, tested against the case.
    Condition {
        rule: Text<'p>,
        test: Text<'p>,
        passed: bool,
    },
    /// How a line's quantity was determined from the case.
    Basis {
        line: Text<'p>,
        basis: Arc<Basis<'p>>,
    },
    /// A share of the service period at one set of rates (proration by days).
    Split {
        line: Text<'p>,
        #[serde(serialize_with = "crate::dates::ser")]
        from: NaiveDate,
        #[serde(serialize_with = "crate::dates::ser")]
        to: NaiveDate,
        days: i64,
        period_days: i64,
        #[serde(serialize_with = "dec_ser")]
        quantity: Decimal,
    },
    /// A line added: exact amount before rounding, and the rounded amount.
    Line {
        line: Text<'p>,
        #[serde(serialize_with = "crate::dates::ser")]
        from: NaiveDate,
        #[serde(serialize_with = "crate::dates::ser")]
        to: NaiveDate,
        #[serde(serialize_with = "dec_ser")]
        quantity: Decimal,
        #[serde(serialize_with = "dec_ser")]
        rate: Decimal,
        exact: Exact,
        #[serde(serialize_with = "money_ser")]
        amount: Decimal,
    },
    Requirement {
        rule: Text<'p>,
        passed: bool,
        cite: Text<'p>,
    },
    Output {
        name: String,
        value: serde_json::Value,
    },
    Note {
        text: String,
    },
    /// A rule evaluated another decision (a bill under corrected facts);
    /// that determination's own steps follow.
    Evaluated {
        decision: Arc<str>,
        #[serde(serialize_with = "money_ser")]
        total: Decimal,
    },
}

impl Event<'_> {
    fn into_owned(self) -> Event<'static> {
        match self {
            Event::Param(r) => Event::Param(ParamRead {
                param: r.param.into_owned(|p| Arc::new(p.clone())),
                key: r.key,
                date: r.date,
                value: r.value,
                status: r.status,
                index: r.index,
                line: r.line.map(own_text),
            }),
            Event::Tiers {
                name,
                date,
                tiers,
                unit,
                status,
                effective_from,
                source,
            } => Event::Tiers {
                name: own_text(name),
                date,
                tiers,
                unit: own_text(unit),
                status,
                effective_from,
                source: own_text(source),
            },
            Event::Condition { rule, test, passed } => Event::Condition {
                rule: own_text(rule),
                test: own_text(test),
                passed,
            },
            Event::Basis { line, basis } => Event::Basis {
                line: own_text(line),
                basis: Arc::new(Arc::unwrap_or_clone(basis).into_owned()),
            },
            Event::Split {
                line,
                from,
                to,
                days,
                period_days,
                quantity,
            } => Event::Split {
                line: own_text(line),
                from,
                to,
                days,
                period_days,
                quantity,
            },
            Event::Line {
                line,
                from,
                to,
                quantity,
                rate,
                exact,
                amount,
            } => Event::Line {
                line: own_text(line),
                from,
                to,
                quantity,
                rate,
                exact,
                amount,
            },
            Event::Requirement { rule, passed, cite } => Event::Requirement {
                rule: own_text(rule),
                passed,
                cite: own_text(cite),
            },
            Event::Output { name, value } => Event::Output { name, value },
            Event::Note { text } => Event::Note { text },
            Event::Evaluated { decision, total } => Event::Evaluated { decision, total },
        }
    }
}

/// A parameter read, pointing at the parameter it came from (so a trace
/// step costs one shared reference, not a copy of every text).
#[derive(Debug, Clone)]
pub struct ParamRead<'p> {
    pub param: Shared<'p, Parameter>,
    /// Index of the table key read, if any.
    pub key: Option<usize>,
    pub date: NaiveDate,
    pub value: Decimal,
    pub status: Status,
    /// Index of the dated value in force.
    pub index: usize,
    /// The line the figure was read for.
    pub line: Option<Text<'p>>,
}

impl ParamRead<'_> {
    pub fn key_name(&self) -> Option<&Arc<str>> {
        self.key.and_then(|k| self.param.keys.get(k))
    }

    pub fn dated(&self) -> Option<&DatedValue> {
        self.param.values.get(self.index)
    }
}

impl PartialEq for ParamRead<'_> {
    fn eq(&self, o: &Self) -> bool {
        self.param.name == o.param.name
            && self.key == o.key
            && self.date == o.date
            && self.value == o.value
            && self.status == o.status
            && self.index == o.index
            && self.line == o.line
    }
}

impl Serialize for ParamRead<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let dated = self.dated();
        let mut st = s.serialize_struct("ParamRead", 10)?;
        st.serialize_field("name", &self.param.name)?;
        if let Some(k) = self.key_name() {
            st.serialize_field("key", k)?;
        }
        st.serialize_field("date", &Iso(self.date))?;
        st.serialize_field("value", &Shown(self.value))?;
        st.serialize_field("unit", &self.param.unit)?;
        st.serialize_field("status", &self.status)?;
        st.serialize_field("effective_from", &dated.map(|d| Iso(d.from)))?;
        st.serialize_field("source", &dated.map(|d| &d.source))?;
        if let Some(f) = dated.and_then(|d| d.formula.as_ref()) {
            st.serialize_field("formula", f)?;
        }
        if let Some(l) = &self.line {
            st.serialize_field("line", l)?;
        }
        st.end()
    }
}

/// Named outputs in the order they were set (a later value for the same
/// name replaces the earlier one). Serialized as a JSON object.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Outputs(Vec<(Arc<str>, serde_json::Value)>);

impl Outputs {
    pub fn insert(&mut self, name: Arc<str>, value: serde_json::Value) {
        match self.0.iter_mut().find(|(k, _)| *k == name) {
            Some(slot) => slot.1 = value,
            None => self.0.push((name, value)),
        }
    }

    pub fn get(&self, name: &str) -> Option<&serde_json::Value> {
        self.0.iter().find(|(k, _)| &**k == name).map(|(_, v)| v)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &serde_json::Value)> {
        self.0.iter().map(|(k, v)| (&**k, v))
    }
}

impl std::ops::Index<&str> for Outputs {
    type Output = serde_json::Value;
    fn index(&self, name: &str) -> &serde_json::Value {
        static NULL: serde_json::Value = serde_json::Value::Null;
        self.get(name).unwrap_or(&NULL)
    }
}

impl Serialize for Outputs {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.0.iter().map(|(k, v)| (k, v)))
    }
}

/// The result of a decision (DESIGN.md, firm).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Determination<'p> {
    pub decision: Text<'p>,
    pub pack: Shared<'p, PackId>,
    #[serde(serialize_with = "crate::dates::ser")]
    pub as_of: NaiveDate,
    pub outcome: Cow<'static, str>,
    #[serde(serialize_with = "opt_money_ser", skip_serializing_if = "Option::is_none")]
    pub total: Option<Decimal>,
    pub lines: Vec<Line<'p>>,
    pub outputs: Outputs,
    pub reasons: Vec<Shared<'p, Reason>>,
    pub trace: Vec<TraceStep<'p>>,
    pub warnings: Vec<Warning>,
    /// The case as given: with the pack, `as_of` and `set` it is everything
    /// needed to make the determination again (`ratebook replay`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub case: Option<Arc<serde_json::Value>>,
    /// Figures supplied for the evaluation (`--set`), as given.
    #[serde(skip_serializing_if = "nothing_set")]
    pub set: Shared<'p, [String]>,
    /// Made with the figures as known on this date (`--known-at`).
    #[serde(serialize_with = "crate::dates::ser_opt", skip_serializing_if = "Option::is_none")]
    pub known_at: Option<NaiveDate>,
}

fn nothing_set(set: &Shared<'_, [String]>) -> bool {
    set.is_empty()
}

impl Determination<'_> {
    /// The determination without borrowing from the engine that made it
    /// (its pack's texts and figures copied or shared), for a caller that
    /// keeps it after dropping the engine. The same JSON.
    pub fn into_owned(self) -> Determination<'static> {
        Determination {
            decision: own_text(self.decision),
            pack: self.pack.into_owned(|p| Arc::new(p.clone())),
            as_of: self.as_of,
            outcome: self.outcome,
            total: self.total,
            lines: self.lines.into_iter().map(Line::into_owned).collect(),
            outputs: self.outputs,
            reasons: self
                .reasons
                .into_iter()
                .map(|r| r.into_owned(|r| Arc::new(r.clone())))
                .collect(),
            trace: self
                .trace
                .into_iter()
                .map(|t| TraceStep {
                    step: t.step,
                    event: t.event.into_owned(),
                })
                .collect(),
            warnings: self.warnings,
            case: self.case,
            set: self.set.into_owned(|s| Arc::from(s)),
            known_at: self.known_at,
        }
    }

    /// Pretty JSON, the CLI's `--format json`.
    pub fn to_json_string(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }
}

/// A value read from a parameter, for the caller.
#[derive(Debug, Clone, Copy)]
pub struct Read<'a> {
    pub value: Decimal,
    pub effective_from: NaiveDate,
    pub source: &'a Arc<str>,
}

/// A charge's line when only amounts are wanted: which charge, the part of
/// the period and the amount to the cent (no texts to share or copy).
#[derive(Debug, Clone, Copy)]
pub struct Tallied {
    /// The charge's position in its decision.
    pub charge: usize,
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub amount: Decimal,
}

/// Builds a determination while a decision runs.
pub struct Recorder<'p> {
    trace_on: bool,
    step: u32,
    pub trace: Vec<TraceStep<'p>>,
    pub lines: Vec<Line<'p>>,
    /// Charges' lines when only amounts are wanted (instead of `lines`).
    pub tallied: smallvec::SmallVec<[Tallied; 8]>,
    pub reasons: Vec<Shared<'p, Reason>>,
    pub warnings: Vec<Warning>,
    pub outputs: Outputs,
    pub missing: Vec<MissingFigure>,
    pub outcome: Option<String>,
    /// Case fields a charge needed that the case does not give.
    pub absent: Vec<String>,
    /// Lines whose amounts are beyond a decimal's digits.
    pub overflow: Vec<String>,
    warned: Vec<(ParamId, NaiveDate)>,
    /// Only amounts are wanted (a batch's CSV): no warnings are written.
    amounts_only: bool,
}

impl<'p> Recorder<'p> {
    pub fn new(trace_on: bool) -> Self {
        Recorder::with(trace_on, false)
    }

    /// A recorder for amounts alone: lines and missing figures, no trace,
    /// reasons or warnings (their text is the cost).
    pub fn for_amounts() -> Self {
        Recorder::with(false, true)
    }

    fn with(trace_on: bool, amounts_only: bool) -> Self {
        Recorder {
            trace_on,
            step: 0,
            trace: Vec::with_capacity(if trace_on { 48 } else { 0 }),
            lines: Vec::with_capacity(match (trace_on, amounts_only) {
                (true, _) => 12,
                (false, false) => 8,
                (false, true) => 0,
            }),
            tallied: smallvec::SmallVec::new(),
            reasons: Vec::with_capacity(if amounts_only { 0 } else { 12 }),
            warnings: Vec::new(),
            outputs: Outputs::default(),
            missing: Vec::new(),
            outcome: None,
            absent: Vec::new(),
            overflow: Vec::new(),
            warned: Vec::new(),
            amounts_only,
        }
    }

    pub fn amounts_only(&self) -> bool {
        self.amounts_only
    }

    /// Records a trace event (nothing when the trace is off: the test is
    /// made where the event would be, the event is never built).
    #[inline(always)]
    pub fn event(&mut self, event: impl FnOnce() -> Event<'p>) {
        if self.trace_on {
            self.step += 1;
            let step = self.step;
            // Room is made first and the step then built where it is kept:
            // built aside and copied in (as `push` does), its last fields'
            // small stores stall the wide loads that copy them.
            self.trace
                .extend(std::iter::once_with(|| TraceStep { step, event: event() }));
        }
    }

    /// Reads a scalar or table figure in force on `date`. A missing figure
    /// is collected (every one the determination needs is reported) and
    /// `None` returned; an assumed or supplied figure adds a warning.
    /// When only amounts are wanted a figure found is read where it is
    /// asked for (there is nothing to trace or warn of); the rest is out
    /// of line, one copy for every read a charge makes.
    #[inline]
    pub fn param<'s, K: Keep<'s, 'p>>(
        &mut self,
        store: &'s ParamStore,
        id: ParamId,
        key: Option<usize>,
        date: NaiveDate,
        line: Option<&Text<'p>>,
    ) -> Option<Read<'s>> {
        if self.amounts_only
            && let Some((value, _, _, dated)) = store.get(id).and_then(|p| p.figure_at(date, key))
        {
            return Some(Read {
                value,
                effective_from: dated.from,
                source: &dated.source,
            });
        }
        self.param_recorded::<K>(store, id, key, date, line)
    }

    #[inline(never)]
    fn param_recorded<'s, K: Keep<'s, 'p>>(
        &mut self,
        store: &'s ParamStore,
        id: ParamId,
        key: Option<usize>,
        date: NaiveDate,
        line: Option<&Text<'p>>,
    ) -> Option<Read<'s>> {
        let shared = store.shared(id)?;
        let p: &Parameter = shared;
        let key_name = key.and_then(|k| p.keys.get(k));
        let Some((value, status, index, dated)) = p.figure_at(date, key) else {
            // Why not: collected, so that every missing figure is reported.
            if let Lookup::Missing(m) = p.lookup(date, key)
                && !self.missing.contains(&m)
            {
                self.missing.push(m);
            }
            return None;
        };
        self.event(|| {
            Event::Param(ParamRead {
                param: K::keep(shared),
                key,
                date,
                value,
                status,
                index,
                line: line.cloned(),
            })
        });
        self.flag(id, p, status, dated, || match key_name {
            Some(k) => format!("[{k}] = {value}"),
            None => format!(" = {value}"),
        });
        Some(Read {
            value,
            effective_from: dated.from,
            source: &dated.source,
        })
    }

    /// Reads a tier list in force on `date` (traced, flagged and collected
    /// like any other figure).
    pub fn tiers<'s, K: Keep<'s, 'p>>(
        &mut self,
        store: &'s ParamStore,
        id: ParamId,
        date: NaiveDate,
    ) -> Option<&'s [Tier]> {
        let p = store.get(id)?;
        match p.lookup(date, None) {
            Lookup::Tiers { tiers, dated } => {
                self.event(|| Event::Tiers {
                    name: K::keep(&p.name),
                    date,
                    tiers: tiers.to_vec(),
                    unit: K::keep(&p.unit),
                    status: dated.status,
                    effective_from: dated.from,
                    source: K::keep(&dated.source),
                });
                self.flag(id, p, dated.status, dated, || " (tiers)".to_string());
                Some(tiers)
            }
            Lookup::Missing(m) => {
                if !self.missing.contains(&m) {
                    self.missing.push(m);
                }
                None
            }
            Lookup::Found { .. } => None,
        }
    }

    /// Warns, once per dated value, that an assumed or supplied figure was used.
    fn flag(&mut self, id: ParamId, p: &Parameter, status: Status, dated: &DatedValue, shown: impl FnOnce() -> String) {
        if self.amounts_only
            || !matches!(status, Status::Assumed | Status::Supplied)
            || self.warned.contains(&(id, dated.from))
        {
            return;
        }
        self.warned.push((id, dated.from));
        let (code, what) = if status == Status::Assumed {
            (
                "ratebook::params::assumed_value",
                "an assumed figure, not an official one",
            )
        } else {
            (
                "ratebook::params::supplied_value",
                "a figure supplied for this evaluation, not from the pack",
            )
        };
        let note = dated.note.as_deref().map(|n| format!(" ({n})")).unwrap_or_default();
        self.warnings.push(Warning {
            code,
            message: format!(
                "{}{} (in force from {}) is {what}: {}{note}",
                p.name,
                shown(),
                dated.from,
                dated.source
            ),
            param: Some(p.name.clone()),
        });
    }

    /// Notes that an amount of `line` is beyond a decimal's 28 digits (an
    /// absurd figure or quantity): reported, never wrapped or rounded away.
    pub fn overflowed(&mut self, line: &str) {
        let text = format!(
            "an amount of the `{line}` line is too large to compute exactly (beyond 28 digits); check the figures and quantities it uses"
        );
        if !self.overflow.contains(&text) {
            self.overflow.push(text);
        }
    }

    /// Notes that `line` needed the case field `path`, which is absent.
    pub fn absent(&mut self, path: &str, line: &str) {
        let text = format!("`{path}` is required for the `{line}` line");
        if !self.absent.contains(&text) {
            self.absent.push(text);
        }
    }

    pub fn add_line(&mut self, line: Line<'p>, exact: Exact) {
        self.event(|| Event::Line {
            line: line.id_text(),
            from: line.from,
            to: line.to,
            quantity: line.quantity,
            rate: line.rate,
            exact,
            amount: line.amount,
        });
        self.lines.push(line);
    }

    /// Adds a reason. (A charge's condition is traced where it is tested;
    /// a script's requirement is traced by `requirement`.)
    pub fn reason(&mut self, rule: Arc<str>, passed: bool, text: Arc<str>, cite: Arc<str>) {
        if self.amounts_only {
            return;
        }
        self.reasons.push(Shared::made(Reason {
            rule,
            passed,
            text,
            cite,
            fix: None,
        }));
    }

    /// Adds a prepared reason (a charge's, shared by every bill).
    pub fn push_reason<'s, K: Keep<'s, 'p>>(&mut self, reason: &'s Arc<Reason>) {
        if self.amounts_only {
            return;
        }
        self.reasons.push(K::keep(reason));
    }

    /// A requirement checked by a rule: traced and given as a reason, with
    /// the change that would meet it when it failed and one is known.
    pub fn requirement(&mut self, rule: Arc<str>, passed: bool, text: Arc<str>, cite: Arc<str>, fix: Option<Arc<str>>) {
        self.event(|| Event::Requirement {
            rule: Shared::Made(rule.clone()),
            passed,
            cite: Shared::Made(cite.clone()),
        });
        self.reasons.push(Shared::made(Reason {
            rule,
            passed,
            text,
            cite,
            fix: if passed { None } else { fix },
        }));
    }

    pub fn trace_on(&self) -> bool {
        self.trace_on
    }

    /// Takes in what a sub-determination (a bill a rule asked for) found:
    /// its trace steps, its warnings (once each) and its missing figures.
    pub fn absorb(&mut self, decision: Arc<str>, total: Decimal, sub: Recorder<'p>) {
        self.event(|| Event::Evaluated { decision, total });
        for step in sub.trace {
            self.event(|| step.event);
        }
        for w in sub.warnings {
            if !self.warnings.contains(&w) {
                self.warnings.push(w);
            }
        }
        for m in sub.missing {
            if !self.missing.contains(&m) {
                self.missing.push(m);
            }
        }
    }

    /// Warns unless the same warning was already given.
    pub fn warn_once(&mut self, code: &'static str, message: String) {
        if !self.warnings.iter().any(|w| w.code == code && w.message == message) {
            self.warn(code, message);
        }
    }

    pub fn warn(&mut self, code: &'static str, message: String) {
        self.warnings.push(Warning {
            code,
            message,
            param: None,
        });
    }

    /// The sum of the line amounts (each already rounded to the cent);
    /// `None` beyond a decimal's 28 digits.
    pub fn total(&self) -> Option<Decimal> {
        crate::money::sum(
            self.lines
                .iter()
                .map(|l| l.amount)
                .chain(self.tallied.iter().map(|t| t.amount)),
        )
    }

    /// The determination, naming the decision, pack and figures supplied
    /// by reference to the engine's own (no reference counts taken).
    pub fn finish<'q>(
        self,
        decision: &'q str,
        pack: &'q PackId,
        as_of: NaiveDate,
        total: Option<Decimal>,
        set: &'q [String],
    ) -> Determination<'q>
    where
        'p: 'q,
    {
        Determination {
            decision: Shared::Pack(decision),
            pack: Shared::Pack(pack),
            as_of,
            outcome: self.outcome.map_or(Cow::Borrowed("computed"), Cow::Owned),
            total,
            lines: self.lines,
            outputs: self.outputs,
            reasons: self.reasons,
            trace: self.trace,
            warnings: self.warnings,
            case: None,
            set: Shared::Pack(set),
            known_at: None,
        }
    }
}

/// The amount of a line, rounded per the pack's rule (half-up to the cent).
pub fn line_amount(exact: Decimal) -> Decimal {
    let mut a = if exact.scale() <= 2 { exact } else { round_money(exact) };
    a.rescale(2);
    a
}
