//! Effective-dated parameters: every number the rules use, with its dates,
//! source, status and unit. Owns lookup ("the value in force on a date") and
//! the change dates that drive proration. Knows nothing of cases or charges.

use crate::error::{Location, MissingFigure};
use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Arc;

/// How sure a figure is (DESIGN.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Copied from an official source.
    Published,
    /// Arithmetic from published figures; carries its formula.
    Derived,
    /// No official figure: an analog or third-party figure, flagged in every
    /// determination that uses it.
    Assumed,
    /// The City set a value on that date but the pack does not have it.
    Unknown,
    /// Supplied for one evaluation (`--set`), flagged in the determination.
    Supplied,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Published => "published",
            Status::Derived => "derived",
            Status::Assumed => "assumed",
            Status::Unknown => "unknown",
            Status::Supplied => "supplied",
        }
    }
}

/// One figure: known, or known to exist but not held by the pack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Figure {
    Known(Decimal),
    Unknown,
    /// Supplied for one evaluation (`--set`), whatever the pack says.
    Supplied(Decimal),
}

/// One step of a tier list: the rate applies to quantity up to `up_to`
/// (cumulative), the last step has no upper bound.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Tier {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub up_to: Option<Decimal>,
    pub rate: Decimal,
}

/// The shape of a parameter's values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Shape {
    Scalar,
    Table,
    Tiers,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ValueData {
    Scalar(Figure),
    /// One figure per key, in the parameter's key order.
    Table(Vec<Figure>),
    Tiers(Vec<Tier>),
    /// The whole value is unknown.
    Unknown,
}

impl DatedValue {
    /// The known figure of a scalar, or of a table's key (`None` when it is
    /// unknown, or a tier list).
    pub fn known(&self, key: Option<usize>) -> Option<Decimal> {
        let f = match (&self.data, key) {
            (ValueData::Scalar(f), _) => f,
            (ValueData::Table(figs), Some(k)) => figs.get(k)?,
            _ => return None,
        };
        match f {
            Figure::Known(d) | Figure::Supplied(d) => Some(*d),
            Figure::Unknown => None,
        }
    }
}

/// A value in force from `from` until the next dated value.
#[derive(Debug, Clone)]
pub struct DatedValue {
    pub from: NaiveDate,
    pub status: Status,
    pub data: ValueData,
    pub source: Arc<str>,
    pub url: Option<Arc<str>>,
    pub formula: Option<Arc<str>>,
    pub note: Option<Arc<str>>,
    pub cite: Option<Arc<str>>,
    /// The date the figure was adopted, when known (for "as known on").
    pub adopted: Option<NaiveDate>,
    pub location: Location,
}

#[derive(Debug, Clone)]
pub struct Parameter {
    pub name: Arc<str>,
    pub description: Arc<str>,
    pub unit: Arc<str>,
    pub shape: Shape,
    /// Table keys, in order (empty unless `shape` is `Table`).
    pub keys: Vec<Arc<str>>,
    /// Sorted by `from`, no two on the same date.
    pub values: Vec<DatedValue>,
    pub location: Location,
}

impl Parameter {
    /// Whether `other` gives the same figures on every date: its shape,
    /// unit (a percent rate is divided by 100), keys and dated values (their
    /// dates, status and figures; not their sources or notes). A charge
    /// reading either works out the same amounts.
    pub fn same_figures(&self, other: &Parameter) -> bool {
        self.shape == other.shape
            && self.unit == other.unit
            && self.keys == other.keys
            && self.values.len() == other.values.len()
            && self
                .values
                .iter()
                .zip(&other.values)
                .all(|(a, b)| a.from == b.from && a.status == b.status && a.data == b.data)
    }
}

/// Index of a parameter in its store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ParamId(pub usize);

/// The result of asking for a figure on a date.
#[derive(Debug, Clone)]
pub enum Lookup<'a> {
    Found {
        value: Decimal,
        status: Status,
        /// Index of the dated value in force.
        index: usize,
        dated: &'a DatedValue,
    },
    Tiers {
        tiers: &'a [Tier],
        dated: &'a DatedValue,
    },
    Missing(MissingFigure),
}

impl Parameter {
    /// The dated value in force on `date`, if any.
    pub fn dated_at(&self, date: NaiveDate) -> Option<&DatedValue> {
        self.index_at(date).and_then(|i| self.values.get(i))
    }

    /// The index of the dated value in force on `date`.
    pub fn index_at(&self, date: NaiveDate) -> Option<usize> {
        self.values.partition_point(|v| v.from <= date).checked_sub(1)
    }

    pub fn key_index(&self, key: &str) -> Option<usize> {
        self.keys.iter().position(|k| &**k == key)
    }

    /// The figure in force on `date` when there is one (`lookup` says why
    /// not): its value, status, the index of its dated value and that value.
    pub fn figure_at(&self, date: NaiveDate, key: Option<usize>) -> Option<(Decimal, Status, usize, &DatedValue)> {
        let index = self.index_at(date)?;
        let dated = self.values.get(index)?;
        let figure = match (&dated.data, key) {
            (ValueData::Scalar(f), _) => f,
            (ValueData::Table(figs), Some(k)) => figs.get(k)?,
            _ => return None,
        };
        match figure {
            Figure::Known(v) => Some((*v, dated.status, index, dated)),
            Figure::Supplied(v) => Some((*v, Status::Supplied, index, dated)),
            Figure::Unknown => None,
        }
    }

    /// The figure in force on `date`, for `key` when the parameter is a table.
    /// `key` is the index of a table key (see `key_index`).
    pub fn lookup(&self, date: NaiveDate, key: Option<usize>) -> Lookup<'_> {
        if let Some((value, status, index, dated)) = self.figure_at(date, key) {
            return Lookup::Found {
                value,
                status,
                index,
                dated,
            };
        }
        let missing = |source: String| {
            Lookup::Missing(MissingFigure {
                param: self.name.to_string(),
                key: key.and_then(|k| self.keys.get(k)).map(|k| k.to_string()),
                date,
                source,
            })
        };
        let Some(dated) = self.dated_at(date) else {
            let first = self
                .values
                .first()
                .map(|v| v.from.to_string())
                .unwrap_or_else(|| "(none)".into());
            return missing(format!(
                "no value before {first} in this pack; the figure in force on that date is not encoded"
            ));
        };
        match &dated.data {
            ValueData::Tiers(t) => Lookup::Tiers { tiers: t, dated },
            // Unknown, or no figure for the key.
            _ => missing(dated.source.to_string()),
        }
    }

    /// Dates strictly inside (from, to) where a new value takes effect.
    pub fn changes_within(&self, from: NaiveDate, to: NaiveDate) -> impl Iterator<Item = NaiveDate> + '_ {
        let start = self.values.partition_point(|v| v.from <= from);
        self.values
            .get(start..)
            .unwrap_or_default()
            .iter()
            .map(|v| v.from)
            .take_while(move |d| *d < to)
    }
}

/// All parameters of a pack, by name.
#[derive(Debug, Clone, Default)]
pub struct ParamStore {
    params: Vec<Arc<Parameter>>,
    by_name: BTreeMap<Arc<str>, ParamId>,
}

impl ParamStore {
    pub fn insert(&mut self, p: Parameter) -> ParamId {
        if let Some(id) = self.by_name.get(&p.name) {
            if let Some(slot) = self.params.get_mut(id.0) {
                *slot = Arc::new(p);
            }
            return *id;
        }
        let id = ParamId(self.params.len());
        self.by_name.insert(p.name.clone(), id);
        self.params.push(Arc::new(p));
        id
    }

    pub fn id(&self, name: &str) -> Option<ParamId> {
        self.by_name.get(name).copied()
    }

    pub fn get(&self, id: ParamId) -> Option<&Parameter> {
        self.params.get(id.0).map(|p| &**p)
    }

    /// The shared parameter, for trace events that point at it.
    pub fn shared(&self, id: ParamId) -> Option<&Arc<Parameter>> {
        self.params.get(id.0)
    }

    pub fn get_mut(&mut self, id: ParamId) -> Option<&mut Parameter> {
        self.params.get_mut(id.0).map(Arc::make_mut)
    }

    pub fn by_name(&self, name: &str) -> Option<&Parameter> {
        self.id(name).and_then(|id| self.get(id))
    }

    /// Parameters in name order.
    pub fn iter(&self) -> impl Iterator<Item = &Parameter> {
        self.by_name.values().filter_map(|id| self.get(*id))
    }

    /// The figures as known on `date`: every dated value adopted after it is
    /// set aside (values without an adoption date are kept), so the value in
    /// force before a retroactive change applies again.
    pub fn known_at(&mut self, date: NaiveDate) {
        for p in &mut self.params {
            if p.values.iter().any(|v| v.adopted.is_some_and(|a| a > date)) {
                Arc::make_mut(p).values.retain(|v| v.adopted.is_none_or(|a| a <= date));
            }
        }
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.by_name.keys().map(|k| &**k)
    }
}

/// A figure supplied for one evaluation (`--set`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Override {
    pub param: String,
    pub key: Option<String>,
    /// With a date: a value in force from that date (until the pack's next
    /// dated value). Without: the figure for every date.
    pub from: Option<NaiveDate>,
    pub value: Decimal,
}

impl std::fmt::Display for Override {
    /// The `--set` text: `PARAM[KEY]@DATE=VALUE`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.param)?;
        if let Some(k) = &self.key {
            write!(f, "[{k}]")?;
        }
        if let Some(d) = self.from {
            write!(f, "@{d}")?;
        }
        write!(f, "={}", self.value)
    }
}

impl ParamStore {
    /// Applies a supplied figure. Its status is `supplied`, so every
    /// determination that uses it says so.
    pub fn supply(&mut self, o: &Override) -> crate::error::Result<()> {
        use crate::error::Error;
        let names: Vec<String> = self.names().map(str::to_string).collect();
        let id = self.id(&o.param).ok_or_else(|| {
            Error::input(
                "ratebook::cli::unknown_param",
                format!("`--set`: there is no parameter `{}`", o.param),
            )
            .with_help(
                names
                    .iter()
                    .map(|n| (strsim::jaro_winkler(n, &o.param), n))
                    .filter(|(s, _)| *s > 0.8)
                    .max_by(|a, b| a.0.total_cmp(&b.0))
                    .map(|(_, n)| format!("did you mean `{n}`?"))
                    .unwrap_or_else(|| "`ratebook params` lists them".into()),
            )
        })?;
        let Some(p) = self.get_mut(id) else { return Ok(()) };
        let key_index = match (&o.key, p.shape) {
            (Some(k), Shape::Table) => Some(p.key_index(k).ok_or_else(|| {
                Error::input(
                    "ratebook::cli::unknown_key",
                    format!("`--set`: `{}` has no key `{k}`; keys: {}", o.param, p.keys.join(", ")),
                )
            })?),
            (None, Shape::Scalar) => None,
            (None, Shape::Table) => {
                return Err(Error::input(
                    "ratebook::cli::unknown_key",
                    format!(
                        "`--set`: `{}` is a table; say which key: {}[KEY]=VALUE",
                        o.param, o.param
                    ),
                ));
            }
            _ => {
                return Err(Error::input(
                    "ratebook::cli::bad_set",
                    format!("`--set`: `{}` cannot be set this way", o.param),
                ));
            }
        };
        let nkeys = p.keys.len();
        let apply = |data: &mut ValueData| match (data, key_index) {
            (ValueData::Table(figs), Some(i)) => {
                if let Some(f) = figs.get_mut(i) {
                    *f = Figure::Supplied(o.value);
                }
            }
            (d @ ValueData::Unknown, Some(i)) => {
                let mut figs = vec![Figure::Unknown; nkeys];
                if let Some(f) = figs.get_mut(i) {
                    *f = Figure::Supplied(o.value);
                }
                *d = ValueData::Table(figs);
            }
            (d, None) => *d = ValueData::Scalar(Figure::Supplied(o.value)),
            _ => {}
        };
        let template = |from: NaiveDate, base: Option<&DatedValue>| DatedValue {
            from,
            status: base.map(|b| b.status).unwrap_or(Status::Unknown),
            data: base.map(|b| b.data.clone()).unwrap_or(ValueData::Unknown),
            source: Arc::from("supplied with --set"),
            url: None,
            formula: None,
            note: None,
            cite: None,
            adopted: None,
            location: crate::error::Location::file("--set"),
        };
        match o.from {
            Some(from) => {
                let i = p.values.partition_point(|v| v.from < from);
                if p.values.get(i).is_none_or(|v| v.from != from) {
                    let base = p.dated_at(from).cloned();
                    p.values.insert(i, template(from, base.as_ref()));
                }
                if let Some(v) = p.values.get_mut(i) {
                    apply(&mut v.data);
                }
            }
            None => {
                let first = p.values.first().map(|v| v.from);
                if first.is_none_or(|f| f > NaiveDate::MIN) {
                    p.values.insert(0, template(NaiveDate::MIN, None));
                }
                for v in p.values.iter_mut() {
                    apply(&mut v.data);
                }
            }
        }
        Ok(())
    }
}
