//! Rule packs: reading a set of files (path -> text) into a validated `Pack`.
//! Owns the pack layout, parameter validation (dates, statuses, units,
//! figures written as exact text), overlays (`extends:`) and the digest.
//! Does no I/O itself: files arrive through a `Loader` (folder, memory, or
//! the embedded default pack).

pub mod format;
mod loader;

pub use loader::{Files, FolderLoader, Loader, MemoryLoader, embedded_portland, read_folder};

use crate::dates::{Calendar, Holiday, parse_date};
use crate::error::{Error, ErrorKind, Location, Result};
use crate::money::parse_decimal;
use crate::params::{DatedValue, Figure, ParamStore, Parameter, Shape, Status, Tier, ValueData};
use format::*;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::sync::Arc;

/// A citation: a code section or policy, with where to read it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Citation {
    pub id: String,
    pub title: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

/// Where a decision comes from: its definition (`decisions/<name>.yaml`:
/// title, inputs, and for a declarative decision its charges) and its logic
/// when it is a rhai script (`decisions/<name>.rhai`). A script with a
/// definition gets typed, checked facts; one without gets the case as given.
#[derive(Debug, Clone, Default)]
pub struct DecisionSource {
    pub def: Option<(String, Box<RawDecision>)>,
    pub script: Option<(String, String)>,
}

impl DecisionSource {
    /// The file to name in errors about the decision as a whole.
    pub fn file(&self) -> &str {
        match (&self.script, &self.def) {
            (Some((f, _)), _) | (None, Some((f, _))) => f,
            (None, None) => "",
        }
    }
}

/// Script sandbox limits; a pack may lower or raise them within hard maximums.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_operations: u64,
    pub max_call_levels: usize,
    pub max_expr_depth: usize,
    pub max_string_size: usize,
    pub max_array_size: usize,
    pub max_map_size: usize,
}

impl Limits {
    /// Defaults, generous for real rules and small enough that a runaway loop
    /// stops in well under a second.
    pub const DEFAULT: Limits = Limits {
        max_operations: 2_000_000,
        max_call_levels: 32,
        max_expr_depth: 64,
        max_string_size: 64 * 1024,
        max_array_size: 10_000,
        max_map_size: 10_000,
    };
    /// No pack may go beyond these.
    pub const HARD_MAX: Limits = Limits {
        max_operations: 20_000_000,
        max_call_levels: 128,
        max_expr_depth: 256,
        max_string_size: 1024 * 1024,
        max_array_size: 100_000,
        max_map_size: 100_000,
    };
}

/// Identity of a pack as it appears in every determination.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PackId {
    pub id: String,
    pub version: String,
    pub digest: String,
}

/// A loaded, validated rule pack.
#[derive(Debug, Clone)]
pub struct Pack {
    pub ident: Arc<PackId>,
    pub title: String,
    pub jurisdiction: Option<String>,
    pub currency: String,
    pub calendar: Calendar,
    pub limits: Limits,
    pub params: ParamStore,
    /// Charges by id, in file order.
    pub charges: BTreeMap<String, (String, RawCharge)>,
    pub decisions: BTreeMap<String, DecisionSource>,
    pub citations: BTreeMap<String, Citation>,
    /// Test files (path -> text), run by `ratebook test`.
    pub tests: BTreeMap<String, String>,
    /// Every file read, for error snippets.
    pub files: Files,
    /// The chain of packs this one extends, nearest first.
    pub extends: Vec<PackId>,
}

const MAX_EXTENDS_DEPTH: usize = 8;

impl Pack {
    /// Loads the embedded default pack (City of Portland).
    pub fn portland() -> Result<Pack> {
        Pack::load(&MemoryLoader::new(embedded_portland()), ".")
    }

    /// Loads the pack `name` through `loader`, following `extends:`.
    pub fn load(loader: &dyn Loader, name: &str) -> Result<Pack> {
        Self::load_chain(loader, name, &mut Vec::new())
    }

    fn load_chain(loader: &dyn Loader, name: &str, seen: &mut Vec<String>) -> Result<Pack> {
        let files = loader.files(name)?;
        let manifest_text = files.get("pack.yaml").ok_or_else(|| {
            Error::pack(
                "ratebook::pack::no_manifest",
                format!("{name}: the pack has no pack.yaml"),
            )
            .with_help("a pack is a folder with pack.yaml, params/, charges/, decisions/, citations.yaml and tests/")
        })?;
        let manifest: RawManifest =
            crate::yaml::parse("pack.yaml", manifest_text, "ratebook::pack::yaml", ErrorKind::Pack)?;
        if seen.contains(&manifest.id) || seen.len() > MAX_EXTENDS_DEPTH {
            return Err(Error::pack(
                "ratebook::pack::extends_cycle",
                format!("pack `{}` extends itself through {}", manifest.id, seen.join(" -> ")),
            )
            .at(Location::file("pack.yaml")));
        }
        seen.push(manifest.id.clone());
        let base = match &manifest.extends {
            Some(parent) => Some(Self::load_chain(loader, &loader.resolve(name, parent), seen)?),
            None => None,
        };
        Self::build(manifest, files, base)
    }

    fn build(m: RawManifest, files: Files, base: Option<Pack>) -> Result<Pack> {
        if let Some(r) = &m.rounding
            && (r.money != "half_up" || r.places != 2)
        {
            return Err(Error::pack(
                "ratebook::pack::rounding",
                format!("rounding `{}` to {} places is not supported", r.money, r.places),
            )
            .with_help("money is rounded half_up to 2 places, line by line")
            .at(Location::file("pack.yaml")));
        }
        let digest = digest(&files, base.as_ref().map(|b| b.ident.digest.as_str()));
        let mut pack = match base {
            Some(b) => {
                let mut extends = vec![(*b.ident).clone()];
                extends.extend(b.extends.iter().cloned());
                Pack { extends, ..b }
            }
            None => Pack {
                ident: Arc::new(PackId {
                    id: String::new(),
                    version: String::new(),
                    digest: String::new(),
                }),
                title: String::new(),
                jurisdiction: None,
                currency: m.currency.clone(),
                calendar: Calendar::default(),
                limits: Limits::DEFAULT,
                params: ParamStore::default(),
                charges: BTreeMap::new(),
                decisions: BTreeMap::new(),
                citations: BTreeMap::new(),
                tests: BTreeMap::new(),
                files: Files::new(),
                extends: Vec::new(),
            },
        };
        pack.ident = Arc::new(PackId {
            id: m.id.clone(),
            version: m.version.clone(),
            digest,
        });
        pack.title = m.title.clone();
        if m.jurisdiction.is_some() {
            pack.jurisdiction = m.jurisdiction.clone();
        }
        pack.currency = m.currency.clone();
        if let Some(cal) = &m.calendar {
            pack.calendar = calendar(cal)?;
        }
        if let Some(l) = &m.limits {
            pack.limits = limits(l)?;
        }
        // An overlay's own tests replace the base's: they test the proposal.
        if files.keys().any(|f| f.starts_with("tests/")) {
            pack.tests.clear();
        }
        for (path, text) in &files {
            if let Some(rest) = path.strip_prefix("params/") {
                if is_yaml(rest) {
                    load_params(&mut pack.params, path, text)?;
                }
            } else if let Some(rest) = path.strip_prefix("charges/") {
                if is_yaml(rest) {
                    let raw: RawChargeFile = crate::yaml::parse(path, text, "ratebook::pack::yaml", ErrorKind::Pack)?;
                    for c in raw.charges {
                        pack.charges.insert(c.value.id.clone(), (path.clone(), c.value));
                    }
                }
            } else if let Some(rest) = path.strip_prefix("decisions/") {
                // An overlay's file replaces only that part of a decision.
                if let Some(name) = rest.strip_suffix(".rhai") {
                    pack.decisions.entry(name.to_string()).or_default().script = Some((path.clone(), text.clone()));
                } else if let Some(name) = rest.strip_suffix(".yaml") {
                    let def: RawDecision = crate::yaml::parse(path, text, "ratebook::pack::yaml", ErrorKind::Pack)?;
                    pack.decisions.entry(name.to_string()).or_default().def = Some((path.clone(), Box::new(def)));
                }
            } else if path == "citations.yaml" {
                let raw: RawCitations = crate::yaml::parse(path, text, "ratebook::pack::yaml", ErrorKind::Pack)?;
                for (id, c) in raw {
                    pack.citations.insert(
                        id.clone(),
                        Citation {
                            id,
                            title: c.title,
                            url: c.url,
                            text: c.text,
                        },
                    );
                }
            } else if let Some(rest) = path.strip_prefix("tests/")
                && is_yaml(rest)
            {
                pack.tests.insert(path.clone(), text.clone());
            }
        }
        for d in &m.decisions {
            if !pack.decisions.contains_key(d) {
                return Err(Error::pack(
                    "ratebook::pack::missing_decision",
                    format!("pack.yaml lists decision `{d}` but there is no decisions/{d}.yaml or decisions/{d}.rhai"),
                )
                .at(Location::file("pack.yaml")));
            }
        }
        for (path, text) in files {
            pack.files.insert(path, text);
        }
        Ok(pack)
    }

    /// A citation's display text: its id, which is the section name itself.
    pub fn citation(&self, id: &str) -> Option<&Citation> {
        self.citations.get(id)
    }

    /// Names of decisions, sorted.
    pub fn decision_names(&self) -> impl Iterator<Item = &str> {
        self.decisions.keys().map(String::as_str)
    }

    /// A decision's title from its definition, if it has one.
    pub fn decision_title(&self, name: &str) -> Option<&str> {
        self.decisions.get(name)?.def.as_ref().map(|(_, d)| d.title.as_str())
    }
}

fn is_yaml(name: &str) -> bool {
    name.ends_with(".yaml") || name.ends_with(".yml")
}

/// sha256 over every file (path and text, in path order), chained with the
/// base pack's digest for overlays.
fn digest(files: &Files, base: Option<&str>) -> String {
    let mut h = Sha256::new();
    if let Some(b) = base {
        h.update(b.as_bytes());
        h.update([0u8]);
    }
    for (path, text) in files {
        h.update(path.as_bytes());
        h.update([0u8]);
        h.update(text.as_bytes());
        h.update([0u8]);
    }
    let bytes = h.finalize();
    let mut out = String::from("sha256:");
    for b in bytes.iter() {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

fn calendar(raw: &RawCalendar) -> Result<Calendar> {
    let date = |h: &str| {
        parse_date(h).ok_or_else(|| {
            Error::pack(
                "ratebook::pack::bad_date",
                format!("pack.yaml: holiday `{h}` is not a date (YYYY-MM-DD)"),
            )
            .at(Location::field("pack.yaml", "calendar.holidays"))
        })
    };
    let mut cal = Calendar::default();
    match &raw.holidays {
        RawHolidays::Dates(dates) => {
            for h in dates {
                cal.holidays.push(Holiday {
                    date: date(h)?,
                    name: Arc::from("holiday"),
                });
            }
        }
        RawHolidays::Listed(list) => {
            cal.assumed = match list.status.as_str() {
                "published" => false,
                "assumed" => true,
                other => {
                    return Err(Error::pack(
                        "ratebook::pack::bad_status",
                        format!("pack.yaml: holiday list status `{other}` is not `published` or `assumed`"),
                    )
                    .at(Location::field("pack.yaml", "calendar.holidays.status")));
                }
            };
            cal.source = Arc::from(list.source.as_str());
            let (from, to) = (date(&list.covers.from)?, date(&list.covers.to)?);
            for h in &list.dates {
                let d = date(&h.date)?;
                if d < from || d > to {
                    return Err(Error::pack(
                        "ratebook::pack::bad_date",
                        format!(
                            "pack.yaml: holiday {d} ({}) is outside the dates the list covers, {from} to {to}",
                            h.name
                        ),
                    )
                    .at(Location::field("pack.yaml", "calendar.holidays.dates")));
                }
                cal.holidays.push(Holiday {
                    date: d,
                    name: Arc::from(h.name.as_str()),
                });
            }
            cal.covers = Some((from, to));
        }
    }
    cal.holidays.sort_by_key(|h| h.date);
    cal.holidays.dedup_by_key(|h| h.date);
    Ok(cal)
}

fn limits(raw: &RawLimits) -> Result<Limits> {
    let d = Limits::DEFAULT;
    let h = Limits::HARD_MAX;
    let check = |name: &str, v: Option<u64>, def: u64, max: u64| -> Result<u64> {
        match v {
            None => Ok(def),
            Some(v) if v >= 1 && v <= max => Ok(v),
            Some(v) => Err(Error::pack(
                "ratebook::pack::limit_out_of_range",
                format!("pack.yaml: limits.{name} = {v} is outside 1..={max}"),
            )
            .at(Location::field("pack.yaml", format!("limits.{name}")))),
        }
    };
    let u = |x: Option<usize>| x.map(|v| v as u64);
    Ok(Limits {
        max_operations: check("max_operations", raw.max_operations, d.max_operations, h.max_operations)?,
        max_call_levels: check(
            "max_call_levels",
            u(raw.max_call_levels),
            d.max_call_levels as u64,
            h.max_call_levels as u64,
        )? as usize,
        max_expr_depth: check(
            "max_expr_depth",
            u(raw.max_expr_depth),
            d.max_expr_depth as u64,
            h.max_expr_depth as u64,
        )? as usize,
        max_string_size: check(
            "max_string_size",
            u(raw.max_string_size),
            d.max_string_size as u64,
            h.max_string_size as u64,
        )? as usize,
        max_array_size: check(
            "max_array_size",
            u(raw.max_array_size),
            d.max_array_size as u64,
            h.max_array_size as u64,
        )? as usize,
        max_map_size: check(
            "max_map_size",
            u(raw.max_map_size),
            d.max_map_size as u64,
            h.max_map_size as u64,
        )? as usize,
    })
}

fn load_params(store: &mut ParamStore, path: &str, text: &str) -> Result<()> {
    let raw: RawParamFile = crate::yaml::parse(path, text, "ratebook::pack::yaml", ErrorKind::Pack)?;
    for (name, spanned) in raw {
        let loc = crate::yaml::location_of(path, &spanned.referenced);
        let p = compile_param(path, &name, spanned.value, loc)?;
        match store.id(&name) {
            Some(id) => {
                if let Some(existing) = store.get_mut(id) {
                    merge_param(existing, p)?;
                }
            }
            None => {
                store.insert(p);
            }
        }
    }
    Ok(())
}

/// An overlay's parameter: its dated values replace the base's on the same
/// date and add the others; unit, shape and keys must agree.
fn merge_param(base: &mut Parameter, over: Parameter) -> Result<()> {
    if base.unit != over.unit || base.shape != over.shape || base.keys != over.keys {
        return Err(Error::pack(
            "ratebook::pack::overlay_mismatch",
            format!(
                "parameter `{}` is redefined with unit `{}` ({:?}, keys {:?}) but the base pack has unit `{}` ({:?}, keys {:?})",
                over.name, over.unit, over.shape, over.keys, base.unit, base.shape, base.keys
            ),
        )
        .with_help("an overlay may add or replace dated values; the unit, shape and keys must stay the same")
        .at(over.location));
    }
    for v in over.values {
        // A value without `adopted:` replaces the base's values on its date;
        // a correction (`adopted:`) is kept beside them, in (date, adoption)
        // order, so figures "as known" before it can still be used.
        if v.adopted.is_none() {
            base.values.retain(|x| x.from != v.from);
        } else {
            base.values.retain(|x| (x.from, x.adopted) != (v.from, v.adopted));
        }
        let at = base
            .values
            .partition_point(|x| (x.from, x.adopted) < (v.from, v.adopted));
        base.values.insert(at, v);
    }
    base.description = over.description;
    Ok(())
}

/// Every problem in one params file, each parameter checked on its own.
pub(crate) fn check_params(path: &str, text: &str) -> Vec<Error> {
    let raw: RawParamFile = match crate::yaml::parse(path, text, "ratebook::pack::yaml", ErrorKind::Pack) {
        Ok(r) => r,
        Err(e) => return vec![e],
    };
    let mut out = Vec::new();
    for (name, spanned) in raw {
        let loc = crate::yaml::location_of(path, &spanned.referenced);
        if let Err(e) = compile_param(path, &name, spanned.value, loc) {
            out.push(e);
        }
    }
    out
}

fn compile_param(file: &str, name: &str, raw: RawParam, location: Location) -> Result<Parameter> {
    let err = |code: &'static str, msg: String, loc: &Location| {
        Error::pack(code, format!("{file}: parameter `{name}`: {msg}")).at(loc.clone())
    };
    let shape = match raw.shape.as_deref() {
        None if raw.keys.is_empty() => Shape::Scalar,
        None | Some("table") => Shape::Table,
        Some("scalar") => Shape::Scalar,
        Some("tiers") => Shape::Tiers,
        Some(other) => {
            return Err(err(
                "ratebook::pack::bad_shape",
                format!("shape `{other}` is not one of scalar, table, tiers"),
                &location,
            ));
        }
    };
    if shape == Shape::Table && raw.keys.is_empty() {
        return Err(err(
            "ratebook::pack::bad_shape",
            "a table needs `keys:`".into(),
            &location,
        ));
    }
    check_unit(&raw.unit).map_err(|m| err("ratebook::pack::bad_unit", m, &location))?;
    let keys: Vec<Arc<str>> = raw.keys.iter().map(|k| Arc::from(k.as_str())).collect();
    let mut values: Vec<DatedValue> = Vec::with_capacity(raw.values.len());
    for sv in raw.values {
        let vloc = crate::yaml::location_of(file, &sv.referenced);
        let v = sv.value;
        let from = parse_date(&v.from).ok_or_else(|| {
            err(
                "ratebook::pack::bad_date",
                format!("`from: {}` is not a date (YYYY-MM-DD)", v.from),
                &vloc,
            )
        })?;
        let status: Status = match v.status.as_str() {
            "published" => Status::Published,
            "derived" => Status::Derived,
            "assumed" => Status::Assumed,
            "unknown" => Status::Unknown,
            other => {
                return Err(err(
                    "ratebook::pack::bad_status",
                    format!("status `{other}` is not one of published, derived, assumed, unknown"),
                    &vloc,
                ));
            }
        };
        let source = v.source.clone().ok_or_else(|| {
            err(
                "ratebook::pack::no_source",
                format!("the value from {from} has no `source:`"),
                &vloc,
            )
            .with_help("every figure names where it comes from; an unknown figure names where it is published")
        })?;
        if status == Status::Derived && v.formula.is_none() {
            return Err(err(
                "ratebook::pack::no_formula",
                format!("the derived value from {from} has no `formula:`"),
                &vloc,
            ));
        }
        let adopted = match &v.adopted {
            Some(a) => Some(parse_date(a).ok_or_else(|| {
                err(
                    "ratebook::pack::bad_date",
                    format!("`adopted: {a}` is not a date"),
                    &vloc,
                )
            })?),
            None => None,
        };
        let data = match (&v.value, status) {
            (None, Status::Unknown) => ValueData::Unknown,
            (Some(_), Status::Unknown) if shape != Shape::Table => {
                return Err(err(
                    "ratebook::pack::unknown_with_value",
                    format!("the value from {from} is `unknown` but gives a figure"),
                    &vloc,
                ));
            }
            (None, _) => {
                return Err(err(
                    "ratebook::pack::no_value",
                    format!("the {} value from {from} has no `value:`", status.as_str()),
                    &vloc,
                ));
            }
            (Some(val), _) => {
                let at = crate::yaml::location_of(file, &val.referenced);
                value_data(shape, &keys, &val.value, status).map_err(|m| err("ratebook::pack::bad_value", m, &at))?
            }
        };
        // A value may repeat a date only to correct it later: both carry
        // `adopted:`, the correction adopted after the value it replaces.
        let correction =
            |prev: &DatedValue| prev.from == from && matches!((prev.adopted, adopted), (Some(a), Some(b)) if a < b);
        if let Some(prev) = values.last()
            && prev.from >= from
            && !correction(prev)
        {
            return Err(err(
                "ratebook::pack::dates_out_of_order",
                format!(
                    "the value from {from} comes after the value from {}; dated values must be in increasing order with no repeats (a retroactive correction repeats the date with a later `adopted:`)",
                    prev.from
                ),
                &vloc,
            ));
        }
        values.push(DatedValue {
            from,
            status,
            data,
            source: Arc::from(source.as_str()),
            url: v.url.as_deref().map(Arc::from),
            formula: v.formula.as_deref().map(Arc::from),
            note: v.note.as_deref().map(Arc::from),
            cite: v.cite.as_deref().map(Arc::from),
            adopted,
            location: vloc,
        });
    }
    Ok(Parameter {
        name: Arc::from(name),
        description: Arc::from(raw.description.as_str()),
        unit: Arc::from(raw.unit.as_str()),
        shape,
        keys,
        values,
        location,
    })
}

/// Units are `USD/<thing>`, `USD`, `percent`, or a quantity unit (`ccf`, `days`, `sqft`...).
fn check_unit(unit: &str) -> std::result::Result<(), String> {
    if unit.trim().is_empty() || unit.trim() != unit {
        return Err(format!("unit `{unit}` is empty or has surrounding spaces"));
    }
    if let Some(rest) = unit.strip_prefix("USD/")
        && rest.is_empty()
    {
        return Err("unit `USD/` names no quantity".into());
    }
    Ok(())
}

fn figure(v: &serde_json::Value, what: &str) -> std::result::Result<Figure, String> {
    match v {
        serde_json::Value::String(s) if s == "unknown" => Ok(Figure::Unknown),
        serde_json::Value::String(s) => parse_decimal(s)
            .map(Figure::Known)
            .ok_or_else(|| format!("{what} `{s}` is not a number")),
        serde_json::Value::Number(n) if n.is_i64() || n.is_u64() => crate::money::decimal_from_json_number(n)
            .map(Figure::Known)
            .ok_or_else(|| format!("{what} `{n}` is not a number")),
        serde_json::Value::Number(n) => Err(format!(
            "{what} {n} is written as a bare number with a fraction; write it quoted (\"{n}\") so no digit is lost to binary floating point"
        )),
        other => Err(format!("{what} `{other}` is not a number")),
    }
}

fn value_data(
    shape: Shape,
    keys: &[Arc<str>],
    v: &serde_json::Value,
    status: Status,
) -> std::result::Result<ValueData, String> {
    match shape {
        Shape::Scalar => match figure(v, "value")? {
            Figure::Unknown => {
                Err("a scalar value is written `unknown` inside `value:`; use `status: unknown` instead".into())
            }
            f => Ok(ValueData::Scalar(f)),
        },
        Shape::Table => {
            let map = v
                .as_object()
                .ok_or_else(|| format!("a table value must map each key ({}) to a figure", join(keys)))?;
            for k in map.keys() {
                if !keys.iter().any(|x| &**x == k) {
                    return Err(format!("key `{k}` is not one of the table's keys ({})", join(keys)));
                }
            }
            let mut figs = Vec::with_capacity(keys.len());
            for k in keys {
                let f = map
                    .get(&**k)
                    .ok_or_else(|| format!("key `{k}` is missing; write `{k}: unknown` if the figure is not known"))?;
                figs.push(figure(f, &format!("`{k}`"))?);
            }
            if status == Status::Unknown && figs.iter().any(|f| matches!(f, Figure::Known(_))) {
                return Err("an `unknown` value lists a known figure; give the known figures their own status".into());
            }
            Ok(ValueData::Table(figs))
        }
        Shape::Tiers => {
            let list = v
                .as_array()
                .ok_or("a tier list is a list of `{ up_to: \"n\", rate: \"r\" }`, the last without `up_to`")?;
            let mut tiers = Vec::with_capacity(list.len());
            let mut last: Option<rust_decimal::Decimal> = None;
            for (i, t) in list.iter().enumerate() {
                let up_to = match t.get("up_to") {
                    None | Some(serde_json::Value::Null) => None,
                    Some(u) => match figure(u, "up_to")? {
                        Figure::Known(d) => Some(d),
                        Figure::Unknown | Figure::Supplied(_) => return Err("a tier bound cannot be unknown".into()),
                    },
                };
                let rate = match t.get("rate").map(|r| figure(r, "rate")).transpose()? {
                    Some(Figure::Known(d)) => d,
                    _ => return Err(format!("tier {} has no known `rate`", i + 1)),
                };
                if up_to.is_none() && i + 1 != list.len() {
                    return Err(format!("tier {} has no `up_to` but is not the last", i + 1));
                }
                if let (Some(prev), Some(u)) = (last, up_to)
                    && u <= prev
                {
                    return Err(format!(
                        "tier {} ends at {u}, not above the previous tier's {prev}",
                        i + 1
                    ));
                }
                last = up_to.or(last);
                tiers.push(Tier { up_to, rate });
            }
            Ok(ValueData::Tiers(tiers))
        }
    }
}

fn join(keys: &[Arc<str>]) -> String {
    keys.iter().map(|k| k.to_string()).collect::<Vec<_>>().join(", ")
}
