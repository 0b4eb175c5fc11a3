//! Cases: the facts a decision is asked about, read from YAML or JSON, and
//! checked against a declarative decision's input schema into typed `Facts`
//! (required fields, types, enum values, ranges, periods, unknown fields
//! with "did you mean"). Owns nothing about charges or parameters.

use crate::dates::{Period, parse_date};
use crate::error::{Error, ErrorKind, Location, Result};
use crate::money::{decimal_from_json_number, parse_decimal, parse_trimmed_decimal};
use crate::pack::format::RawInput;
use chrono::NaiveDate;
use indexmap::IndexMap;
use rust_decimal::Decimal;
use serde_json::Value;
use std::sync::Arc;

/// A case as given: a JSON value (YAML is read into the same shape).
#[derive(Debug, Clone, PartialEq)]
pub struct Case {
    /// Shared, so a determination carries the case it was made on without
    /// copying it.
    pub value: Arc<Value>,
    /// Where the case came from, for error locations (`case.yaml`, `-`, `row 12`).
    pub name: String,
}

/// Longest case text accepted (a case is a few hundred bytes; this stops
/// a pasted multi-megabyte blob early).
pub const MAX_CASE_BYTES: usize = 1 << 20;

impl Case {
    /// Reads a case from YAML or JSON text.
    pub fn parse(name: &str, text: &str) -> Result<Case> {
        if text.len() > MAX_CASE_BYTES {
            return Err(Error::input(
                "ratebook::case::too_large",
                format!(
                    "{name}: the case is {} bytes; the limit is {MAX_CASE_BYTES}",
                    text.len()
                ),
            )
            .at(Location::file(name)));
        }
        let trimmed = text.trim_start();
        // JSON (a `{` then a quoted key) is read as JSON, with exact error
        // positions; anything else, including a YAML flow map `{ period: ...}`,
        // as YAML.
        let looks_like_json = trimmed
            .strip_prefix('{')
            .is_some_and(|rest| rest.trim_start().starts_with(['"', '}']));
        let value: Value = if looks_like_json {
            strict_json(text).map_err(|e| {
                let line = e.line() as u64;
                let col = e.column() as u64;
                Error::input("ratebook::case::syntax", format!("{name}: {e}"))
                    .at(Location::at(name, line, col))
                    .with_snippet(crate::error::snippet_at(name, text, line, col))
            })?
        } else {
            crate::yaml::parse(name, text, "ratebook::case::syntax", ErrorKind::Input)?
        };
        if !value.is_object() {
            return Err(Error::input(
                "ratebook::case::not_a_map",
                format!("{name}: a case is a map of fields (account, period, usage_ccf, ...)"),
            )
            .at(Location::file(name)));
        }
        Ok(Case {
            value: Arc::new(value),
            name: name.to_string(),
        })
    }

    pub fn from_value(name: &str, value: Value) -> Case {
        Case {
            value: Arc::new(value),
            name: name.to_string(),
        }
    }

    /// The case to change (copied first if a determination shares it).
    pub fn value_mut(&mut self) -> &mut Value {
        Arc::make_mut(&mut self.value)
    }

    /// The value at a dotted path (`account.class`).
    pub fn get(&self, path: &str) -> Option<&Value> {
        let mut v: &Value = &self.value;
        for seg in path.split('.') {
            v = v.get(seg)?;
        }
        if v.is_null() { None } else { Some(v) }
    }

    /// An optional `as_of` date carried by the case itself.
    pub fn as_of(&self) -> Option<NaiveDate> {
        self.value.get("as_of").and_then(Value::as_str).and_then(parse_date)
    }
}

/// JSON into a value, refusing a key given twice in one object (serde_json
/// would keep the last silently; YAML is refused the same way by its parser).
fn strict_json(text: &str) -> std::result::Result<Value, serde_json::Error> {
    use serde::de::{DeserializeSeed, Deserializer, Error as _, MapAccess, SeqAccess, Visitor};
    struct Strict;
    impl<'de> DeserializeSeed<'de> for Strict {
        type Value = Value;
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> std::result::Result<Value, D::Error> {
            d.deserialize_any(self)
        }
    }
    impl<'de> Visitor<'de> for Strict {
        type Value = Value;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a JSON value")
        }
        fn visit_bool<E>(self, v: bool) -> std::result::Result<Value, E> {
            Ok(Value::Bool(v))
        }
        fn visit_i64<E>(self, v: i64) -> std::result::Result<Value, E> {
            Ok(Value::from(v))
        }
        fn visit_u64<E>(self, v: u64) -> std::result::Result<Value, E> {
            Ok(Value::from(v))
        }
        fn visit_f64<E: serde::de::Error>(self, v: f64) -> std::result::Result<Value, E> {
            serde_json::Number::from_f64(v)
                .map(Value::Number)
                .ok_or_else(|| E::custom("a number that is not finite"))
        }
        fn visit_str<E>(self, v: &str) -> std::result::Result<Value, E> {
            Ok(Value::String(v.to_string()))
        }
        fn visit_string<E>(self, v: String) -> std::result::Result<Value, E> {
            Ok(Value::String(v))
        }
        fn visit_unit<E>(self) -> std::result::Result<Value, E> {
            Ok(Value::Null)
        }
        fn visit_none<E>(self) -> std::result::Result<Value, E> {
            Ok(Value::Null)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> std::result::Result<Value, A::Error> {
            let mut v = Vec::new();
            while let Some(x) = a.next_element_seed(Strict)? {
                v.push(x);
            }
            Ok(Value::Array(v))
        }
        fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> std::result::Result<Value, A::Error> {
            let mut m = serde_json::Map::new();
            while let Some(k) = a.next_key::<String>()? {
                if m.contains_key(&k) {
                    return Err(A::Error::custom(format!("duplicate key `{k}`")));
                }
                let v = a.next_value_seed(Strict)?;
                m.insert(k, v);
            }
            Ok(Value::Object(m))
        }
    }
    let mut de = serde_json::Deserializer::from_str(text);
    let v = Strict.deserialize(&mut de)?;
    de.end()?;
    Ok(v)
}

/// A checked input value.
#[derive(Debug, Clone, PartialEq)]
pub enum Fact {
    Absent,
    Number(Decimal),
    Text(Arc<str>),
    /// An enum value, by its index in the field's `values`.
    Enum(u16),
    Date(NaiveDate),
    Period(Period),
    /// A set of values, one bit per index in the field's `values`.
    Set(u64),
    Bool(bool),
    /// A list of records, each checked against the field's item schema.
    List(Arc<[Facts]>),
}

impl Fact {
    pub fn number(&self) -> Option<Decimal> {
        match self {
            Fact::Number(d) => Some(*d),
            _ => None,
        }
    }

    pub fn text(&self) -> Option<&Arc<str>> {
        match self {
            Fact::Text(t) => Some(t),
            _ => None,
        }
    }

    pub fn enum_index(&self) -> Option<u16> {
        match self {
            Fact::Enum(i) => Some(*i),
            _ => None,
        }
    }

    pub fn is_present(&self) -> bool {
        !matches!(self, Fact::Absent)
    }
}

/// Index of an input field in a schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldId(pub usize);

#[derive(Debug, Clone, PartialEq)]
enum Kind {
    Text,
    Number {
        min: Option<Decimal>,
        max: Option<Decimal>,
        integer: bool,
    },
    Date,
    Period,
    Enum(Vec<Arc<str>>),
    Set(Vec<Arc<str>>),
    Bool,
    List {
        items: Box<Schema>,
        max: usize,
    },
}

/// Most problems a case error describes (the rest are counted).
pub const MAX_PROBLEMS: usize = 50;

/// Most items a list input accepts unless its `max_items` says fewer.
pub const MAX_LIST_ITEMS: usize = 1000;

/// One problem found in a case: its code, the field's full path, the message.
type Problem = (&'static str, String, String);

#[derive(Debug, Clone, PartialEq)]
struct Field {
    path: Arc<str>,
    /// `path` split at the dots.
    segments: Vec<String>,
    kind: Kind,
    required: bool,
    default: Fact,
}

/// The input schema of a declarative decision.
#[derive(Debug, Clone, PartialEq)]
pub struct Schema {
    fields: Vec<Field>,
    /// The field paths as a tree, to find unknown fields in one walk.
    tree: Node,
}

/// A level of the field tree: the names allowed here, each either a field
/// (a leaf) or a map of further fields.
#[derive(Debug, Clone, Default, PartialEq)]
struct Node {
    children: Vec<(String, Node)>,
    /// The field that ends here, if any.
    field: Option<usize>,
}

impl Node {
    fn insert(&mut self, segments: &[String], field: usize) {
        let Some((first, rest)) = segments.split_first() else {
            self.field = Some(field);
            return;
        };
        let i = match self.children.iter().position(|(n, _)| n == first) {
            Some(i) => i,
            None => {
                self.children.push((first.clone(), Node::default()));
                self.children.len() - 1
            }
        };
        if let Some((_, child)) = self.children.get_mut(i) {
            child.insert(rest, field);
        }
    }
}

/// What a walk of a case finds: each field's value (by `FieldId`), and the
/// case's own `as_of`.
struct Walked<'f, 'a> {
    found: &'f mut [Option<&'a Value>],
    as_of: Option<&'a Value>,
}

/// Checked facts, indexed by `FieldId`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Facts(smallvec::SmallVec<[Fact; 12]>);

impl Facts {
    pub fn get(&self, id: FieldId) -> &Fact {
        self.0.get(id.0).unwrap_or(&Fact::Absent)
    }

    /// Sets a field's fact; `None` when there is no such field.
    pub fn set(&mut self, id: FieldId, fact: Fact) -> Option<()> {
        *self.0.get_mut(id.0)? = fact;
        Some(())
    }
}

impl FromIterator<Fact> for Facts {
    fn from_iter<I: IntoIterator<Item = Fact>>(iter: I) -> Self {
        Facts(iter.into_iter().collect())
    }
}

impl Schema {
    pub fn compile(file: &str, inputs: &IndexMap<String, RawInput>) -> Result<Schema> {
        let mut fields = Vec::new();
        for (path, raw) in inputs {
            let bad = |m: String| {
                Error::pack("ratebook::pack::bad_input", format!("{file}: input `{path}`: {m}"))
                    .at(Location::field(file, path))
            };
            let bound = |b: &Option<String>| -> Result<Option<Decimal>> {
                b.as_deref()
                    .map(|t| parse_decimal(t).ok_or_else(|| bad(format!("bound `{t}` is not a number"))))
                    .transpose()
            };
            let values: Vec<Arc<str>> = raw.values.iter().map(|v| Arc::from(v.as_str())).collect();
            let kind = match raw.kind.as_str() {
                "text" => Kind::Text,
                "number" => Kind::Number {
                    min: bound(&raw.min)?,
                    max: bound(&raw.max)?,
                    integer: false,
                },
                "integer" => Kind::Number {
                    min: bound(&raw.min)?,
                    max: bound(&raw.max)?,
                    integer: true,
                },
                "date" => Kind::Date,
                "period" => Kind::Period,
                "bool" => Kind::Bool,
                "list" => {
                    let items = raw
                        .items
                        .as_ref()
                        .ok_or_else(|| bad("a list needs `items:` (the fields of each item)".into()))?;
                    let max = raw.max_items.unwrap_or(MAX_LIST_ITEMS);
                    if max > MAX_LIST_ITEMS {
                        return Err(bad(format!("max_items {max} is above the limit {MAX_LIST_ITEMS}")));
                    }
                    Kind::List {
                        items: Box::new(Schema::compile(&format!("{file}: {path}[]"), items)?),
                        max,
                    }
                }
                "enum" | "set" if values.len() > 64 => return Err(bad("has more than 64 values".into())),
                "enum" if !values.is_empty() => Kind::Enum(values),
                "set" if !values.is_empty() => Kind::Set(values),
                "enum" | "set" => return Err(bad("needs `values:`".into())),
                other => {
                    return Err(bad(format!(
                        "type `{other}` is not one of text, number, integer, bool, date, period, enum, set, list"
                    )));
                }
            };
            let mut field = Field {
                path: Arc::from(path.as_str()),
                segments: path.split('.').map(str::to_string).collect(),
                kind,
                required: raw.required,
                default: Fact::Absent,
            };
            if raw.items.is_some() && !matches!(field.kind, Kind::List { .. }) {
                return Err(bad("`items:` is only for `type: list`".into()));
            }
            if let Some(d) = &raw.default {
                field.default = match &field.kind {
                    Kind::List { .. } if d.as_array().is_some_and(Vec::is_empty) => Fact::List(Arc::from([])),
                    Kind::List { .. } => return Err(bad("a list's default can only be `[]`".into())),
                    _ => check(&field, d).map_err(|(_, m)| bad(format!("default: {m}")))?,
                };
                field.required = false;
            }
            fields.push(field);
        }
        let mut tree = Node::default();
        for (i, f) in fields.iter().enumerate() {
            tree.insert(&f.segments, i);
        }
        Ok(Schema { fields, tree })
    }

    pub fn field(&self, path: &str) -> Option<FieldId> {
        self.fields.iter().position(|f| &*f.path == path).map(FieldId)
    }

    pub fn path(&self, id: FieldId) -> &str {
        self.fields.get(id.0).map(|f| &*f.path).unwrap_or("")
    }

    /// The allowed values of an enum or set field.
    pub fn values(&self, id: FieldId) -> Option<&[Arc<str>]> {
        match &self.fields.get(id.0)?.kind {
            Kind::Enum(v) | Kind::Set(v) => Some(v),
            _ => None,
        }
    }

    /// Every field, in declaration order.
    pub fn ids(&self) -> impl Iterator<Item = FieldId> + use<> {
        (0..self.fields.len()).map(FieldId)
    }

    /// A field's path split at the dots.
    pub fn segments(&self, id: FieldId) -> &[String] {
        self.fields.get(id.0).map(|f| f.segments.as_slice()).unwrap_or_default()
    }

    /// The item schema of a list field.
    pub fn items(&self, id: FieldId) -> Option<&Schema> {
        match &self.fields.get(id.0)?.kind {
            Kind::List { items, .. } => Some(items),
            _ => None,
        }
    }

    /// The fact a CSV cell's text gives a field when the text plainly is
    /// one: the fact a case with that text gets. `None` for anything else
    /// (text the field refuses, a list written as JSON, `true` in a text
    /// field), which the caller checks as a case value, so that it is
    /// judged and reported exactly as a case's is.
    pub fn fact_of_text(&self, id: FieldId, text: &str) -> Option<Fact> {
        let f = self.fields.get(id.0)?;
        if text.starts_with('[') || text.starts_with('{') {
            return None;
        }
        let boolean = text == "true" || text == "false";
        match &f.kind {
            Kind::Text if !boolean => Some(Fact::Text(Arc::from(text))),
            Kind::Number { .. } if !boolean => number_fact(&f.kind, parse_trimmed_decimal(text)?).ok(),
            Kind::Date => parse_date(text).map(Fact::Date),
            Kind::Enum(values) => values.iter().position(|v| **v == *text).map(|i| Fact::Enum(i as u16)),
            Kind::Bool if boolean => Some(Fact::Bool(text == "true")),
            _ => None,
        }
    }

    /// A period field's fact from the texts of its two dates, when they make
    /// a period a case would be given (`None` otherwise, as above).
    pub fn period_of_texts(&self, from: &str, to: &str) -> Option<Fact> {
        period_fact(Period {
            from: parse_date(from)?,
            to: parse_date(to)?,
        })
        .ok()
    }

    /// A field's fact from a case value, when the value is right for it.
    pub fn fact_of_value(&self, id: FieldId, v: &Value) -> Option<Fact> {
        let f = self.fields.get(id.0)?;
        match f.kind {
            Kind::List { .. } => None,
            _ => check(f, v).ok(),
        }
    }

    /// The fact of a field a case leaves out: its default, or `None` when
    /// it is required.
    pub fn absent_fact(&self, id: FieldId) -> Option<Fact> {
        let f = self.fields.get(id.0)?;
        (!f.required).then(|| f.default.clone())
    }

    pub fn is_number(&self, id: FieldId) -> bool {
        matches!(self.fields.get(id.0).map(|f| &f.kind), Some(Kind::Number { .. }))
    }

    pub fn is_set(&self, id: FieldId) -> bool {
        matches!(self.fields.get(id.0).map(|f| &f.kind), Some(Kind::Set(_)))
    }

    pub fn is_period(&self, id: FieldId) -> bool {
        matches!(self.fields.get(id.0).map(|f| &f.kind), Some(Kind::Period))
    }

    pub fn is_date(&self, id: FieldId) -> bool {
        matches!(self.fields.get(id.0).map(|f| &f.kind), Some(Kind::Date | Kind::Period))
    }

    /// Checks a case, reporting every problem at once.
    pub fn check(&self, case: &Case) -> Result<Facts> {
        let mut facts = Facts::default();
        self.check_into(case, &mut facts)?;
        Ok(facts)
    }

    /// Checks a case into `facts` (empty), reporting every problem at once,
    /// the `as_of` date a case may give among them; that date, if given.
    pub fn check_into(&self, case: &Case, facts: &mut Facts) -> Result<Option<NaiveDate>> {
        let mut problems: Vec<Problem> = Vec::new();
        let as_of = match self.check_map(&case.value, "", &mut problems, facts) {
            None => None,
            Some(v) => {
                let date = v.as_str().and_then(parse_date);
                if date.is_none() {
                    problems.insert(
                        0,
                        (
                            "ratebook::case::bad_date",
                            "as_of".to_string(),
                            format!("`as_of: {v}` is not a real date (YYYY-MM-DD)"),
                        ),
                    );
                }
                date
            }
        };
        self.report(&case.name, problems)?;
        Ok(as_of)
    }

    /// The error for the problems found in a case, if any.
    fn report(&self, name: &str, mut problems: Vec<Problem>) -> Result<()> {
        if let Some(&(code, _, _)) = problems.first() {
            let more = problems.len().saturating_sub(MAX_PROBLEMS);
            problems.truncate(MAX_PROBLEMS);
            let mut message = problems.iter().map(|p| p.2.as_str()).collect::<Vec<_>>().join("; ");
            if more > 0 {
                message.push_str(&format!("; and {more} more problem(s)"));
            }
            let mut err = Error::input(code, format!("{}: {message}", name));
            for (_, path, _) in &problems {
                err = err.at(Location::field(name.to_string(), path.clone()));
            }
            if let Some(h) = problems
                .iter()
                .find_map(|p| p.2.split_once(" did you mean ").map(|(_, s)| s.to_string()))
            {
                err = err.with_help(format!("did you mean {h}"));
            }
            return Err(err);
        }
        Ok(())
    }

    /// Checks one map of fields (the case, or an item of a list) whose
    /// paths start with `prefix`; problems are collected, not returned.
    /// The case's own `as_of` value, if it gives one (at the top).
    fn check_map<'a>(
        &self,
        value: &'a Value,
        prefix: &str,
        problems: &mut Vec<Problem>,
        facts: &mut Facts,
    ) -> Option<&'a Value> {
        let mut unknown: Vec<Problem> = Vec::new();
        // Each field's value, by `FieldId`: on the stack for a schema of
        // up to 16 fields.
        let mut few = [None; 16];
        let mut many;
        let found: &mut [Option<&Value>] = match few.get_mut(..self.fields.len()) {
            Some(found) => found,
            None => {
                many = vec![None; self.fields.len()];
                &mut many
            }
        };
        let mut walked = Walked { found, as_of: None };
        self.walk(
            value,
            &self.tree,
            prefix,
            &mut smallvec::SmallVec::new(),
            &mut walked,
            &mut unknown,
        );
        self.check_found(walked.found, prefix, problems, facts);
        problems.append(&mut unknown);
        walked.as_of
    }

    /// Checks a case given as one value per field (by `FieldId`): a CSV
    /// row whose columns are field paths. The same checks and messages as
    /// `check`, without building the case.
    pub fn check_fields(&self, name: &str, values: &[Option<Value>]) -> Result<Facts> {
        let found: smallvec::SmallVec<[Option<&Value>; 16]> = self
            .fields
            .iter()
            .enumerate()
            .map(|(i, _)| values.get(i).and_then(Option::as_ref))
            .collect();
        let mut problems = Vec::new();
        let mut facts = Facts::default();
        self.check_found(&found, "", &mut problems, &mut facts);
        self.report(name, problems)?;
        Ok(facts)
    }

    /// Each field's fact from its value (found by path), collecting problems.
    fn check_found(&self, found: &[Option<&Value>], prefix: &str, problems: &mut Vec<Problem>, into: &mut Facts) {
        let facts = &mut into.0;
        facts.reserve(self.fields.len());
        for (f, v) in self.fields.iter().zip(found.iter().copied()) {
            let path = || format!("{prefix}{}", f.path);
            match v.filter(|v| !v.is_null()) {
                None if f.required => problems.push((
                    "ratebook::case::missing_field",
                    path(),
                    format!("`{}` is required", path()),
                )),
                None => facts.push(f.default.clone()),
                Some(v) => {
                    let fact = match &f.kind {
                        Kind::List { items, max } => check_list(items, *max, v, &path(), problems),
                        _ => check(f, v),
                    };
                    match fact {
                        Ok(fact) => facts.push(fact),
                        Err((code, m)) => {
                            facts.push(Fact::Absent);
                            problems.push((code, path(), format!("`{}`: {m}", path())));
                        }
                    }
                }
            }
        }
    }

    /// Walks the case and the field tree together: finds each field's value
    /// and reports fields the decision does not know, without allocating
    /// unless there is something to report.
    fn walk<'a>(
        &self,
        v: &'a Value,
        node: &Node,
        base: &str,
        prefix: &mut smallvec::SmallVec<[&'a str; 4]>,
        walked: &mut Walked<'_, 'a>,
        problems: &mut Vec<Problem>,
    ) {
        let Some(map) = v.as_object() else { return };
        for (k, child) in map {
            if prefix.is_empty() && base.is_empty() && k == "as_of" {
                walked.as_of = Some(child);
                continue;
            }
            match node.children.iter().find(|(n, _)| n == k) {
                Some((_, n)) => {
                    if let Some(slot) = n.field.and_then(|i| walked.found.get_mut(i)) {
                        *slot = Some(child);
                    } else {
                        prefix.push(k);
                        self.walk(child, n, base, prefix, walked, problems);
                        prefix.pop();
                    }
                }
                None if problems.len() >= MAX_PROBLEMS => {
                    // Counted, not described: the message stays readable.
                    problems.push(("ratebook::case::unknown_field", String::new(), String::new()));
                }
                None => {
                    prefix.push(k);
                    let path = prefix.join(".");
                    prefix.pop();
                    let suggestion = self
                        .fields
                        .iter()
                        .map(|f| (strsim::jaro_winkler(&f.path, &path), &f.path))
                        .filter(|(s, _)| *s > 0.8)
                        .max_by(|a, b| a.0.total_cmp(&b.0))
                        .map(|(_, p)| format!("; did you mean `{p}`?"))
                        .unwrap_or_default();
                    problems.push((
                        "ratebook::case::unknown_field",
                        format!("{base}{path}"),
                        format!("`{base}{path}` is not a field of this decision{suggestion}"),
                    ));
                }
            }
        }
    }
}

#[inline]
fn number_of(v: &Value) -> Option<Decimal> {
    match v {
        Value::Number(n) => decimal_from_json_number(n),
        Value::String(s) => parse_decimal(s),
        _ => None,
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "nothing",
        Value::Bool(_) => "true/false",
        Value::Number(_) => "a number",
        Value::String(_) => "text",
        Value::Array(_) => "a list",
        Value::Object(_) => "a map",
    }
}

#[inline]
fn pick(values: &[Arc<str>], v: &Value) -> Result<u16, (&'static str, String)> {
    let text: std::borrow::Cow<str> = match v {
        Value::String(s) => s.as_str().into(),
        Value::Number(n) => n.to_string().into(),
        Value::Bool(b) => b.to_string().into(),
        other => {
            return Err((
                "ratebook::case::wrong_type",
                format!("expected one of {}, got {}", list(values), type_name(other)),
            ));
        }
    };
    values
        .iter()
        .position(|x| **x == *text)
        .map(|i| i as u16)
        .ok_or_else(|| {
            let near = values
                .iter()
                .map(|v| (strsim::jaro_winkler(v, &text), v))
                .filter(|(s, _)| *s > 0.8)
                .max_by(|a, b| a.0.total_cmp(&b.0))
                .map(|(_, v)| format!("; did you mean `{v}`?"))
                .unwrap_or_default();
            (
                "ratebook::case::bad_value",
                format!("`{text}` is not one of {}{near}", list(values)),
            )
        })
}

fn list(values: &[Arc<str>]) -> String {
    values.iter().map(|v| v.to_string()).collect::<Vec<_>>().join(", ")
}

/// A list of records: each item is checked against the item schema, its
/// problems reported at `path[i].field`.
fn check_list(
    items: &Schema,
    max: usize,
    v: &Value,
    path: &str,
    problems: &mut Vec<Problem>,
) -> Result<Fact, (&'static str, String)> {
    let list = v.as_array().ok_or_else(|| {
        (
            "ratebook::case::wrong_type",
            format!("expected a list, got {} `{}`", type_name(v), short(v)),
        )
    })?;
    if list.len() > max {
        return Err((
            "ratebook::case::out_of_range",
            format!("has {} items; the limit is {max}", list.len()),
        ));
    }
    let mut out = Vec::with_capacity(list.len());
    for (i, item) in list.iter().enumerate() {
        let at = format!("{path}[{i}]");
        if !item.is_object() {
            problems.push((
                "ratebook::case::wrong_type",
                at.clone(),
                format!(
                    "`{at}`: expected a map of fields, got {} `{}`",
                    type_name(item),
                    short(item)
                ),
            ));
            continue;
        }
        let mut facts = Facts::default();
        items.check_map(item, &format!("{at}."), problems, &mut facts);
        out.push(facts);
    }
    Ok(Fact::List(Arc::from(out)))
}

#[inline(always)]
fn check(f: &Field, v: &Value) -> Result<Fact, (&'static str, String)> {
    let wrong = |want: &str| {
        (
            "ratebook::case::wrong_type",
            format!("expected {want}, got {} `{}`", type_name(v), short(v)),
        )
    };
    match &f.kind {
        Kind::Text => match v {
            Value::String(s) => Ok(Fact::Text(Arc::from(s.as_str()))),
            Value::Number(n) => Ok(Fact::Text(Arc::from(n.to_string().as_str()))),
            _ => Err(wrong("text")),
        },
        Kind::Number { .. } => number_fact(&f.kind, number_of(v).ok_or_else(|| wrong("a number"))?),
        Kind::Date => {
            let s = v.as_str().ok_or_else(|| wrong("a date (YYYY-MM-DD)"))?;
            parse_date(s).map(Fact::Date).ok_or_else(|| {
                (
                    "ratebook::case::bad_date",
                    format!("`{s}` is not a real date (YYYY-MM-DD)"),
                )
            })
        }
        Kind::Period => {
            let obj = v
                .as_object()
                .ok_or_else(|| wrong("a period `{ from: YYYY-MM-DD, to: YYYY-MM-DD }`"))?;
            // One pass over the period's entries: `from`, `to`, nothing else.
            let (mut from, mut to) = (None, None);
            for (k, v) in obj {
                match k.as_str() {
                    "from" => from = Some(v),
                    "to" => to = Some(v),
                    _ => {
                        return Err((
                            "ratebook::case::unknown_field",
                            format!("a period has only `from` and `to`, not `{k}`"),
                        ));
                    }
                }
            }
            let date = |k: &str, v: Option<&Value>| -> Result<NaiveDate, (&'static str, String)> {
                let s = v
                    .and_then(Value::as_str)
                    .ok_or_else(|| ("ratebook::case::missing_field", format!("the period has no `{k}` date")))?;
                parse_date(s).ok_or_else(|| {
                    (
                        "ratebook::case::bad_date",
                        format!("`{k}: {s}` is not a real date (YYYY-MM-DD)"),
                    )
                })
            };
            period_fact(Period {
                from: date("from", from)?,
                to: date("to", to)?,
            })
        }
        Kind::Bool => v.as_bool().map(Fact::Bool).ok_or_else(|| wrong("true or false")),
        // Lists are checked by `check_list`, which reports inside items.
        Kind::List { .. } => Err(wrong("a list")),
        Kind::Enum(values) => pick(values, v).map(Fact::Enum),
        Kind::Set(values) => {
            let items = v
                .as_array()
                .ok_or_else(|| wrong(&format!("a list of {}", list(values))))?;
            let mut mask = 0u64;
            for it in items {
                mask |= 1u64 << pick(values, it)?;
            }
            Ok(Fact::Set(mask))
        }
    }
}

/// A number checked against its field's bounds.
#[inline]
fn number_fact(kind: &Kind, d: Decimal) -> Result<Fact, (&'static str, String)> {
    let Kind::Number { min, max, integer } = kind else {
        return Err(("ratebook::case::wrong_type", format!("expected a number, got `{d}`")));
    };
    if *integer && !d.fract().is_zero() {
        return Err(("ratebook::case::bad_value", format!("{d} is not a whole number")));
    }
    if let Some(m) = min
        && crate::money::less(d, *m)
    {
        return Err(("ratebook::case::out_of_range", format!("{d} is below the minimum {m}")));
    }
    if let Some(m) = max
        && crate::money::less(*m, d)
    {
        return Err(("ratebook::case::out_of_range", format!("{d} is above the maximum {m}")));
    }
    Ok(Fact::Number(d))
}

/// A period that ends after it starts and is not too long.
#[inline]
fn period_fact(p: Period) -> Result<Fact, (&'static str, String)> {
    if p.to <= p.from {
        return Err((
            "ratebook::case::bad_period",
            format!("the period ends ({}) on or before it starts ({})", p.to, p.from),
        ));
    }
    if p.days() > MAX_PERIOD_DAYS {
        return Err((
            "ratebook::case::bad_period",
            format!("the period is {} days long; the limit is {MAX_PERIOD_DAYS}", p.days()),
        ));
    }
    Ok(Fact::Period(p))
}

/// Longest service period accepted: about three years.
pub const MAX_PERIOD_DAYS: i64 = 1100;

fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 40 {
        format!("{}…", s.chars().take(40).collect::<String>())
    } else {
        s
    }
}
