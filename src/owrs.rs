//! Importing Open Water Rate Specification (OWRS) files as packs.
//!
//! An OWRS file gives, per customer class, fields: maps (`depends_on` /
//! `values`), tier lists, the rate types `Tiered` / `Budget`, and formulas.
//! The import writes a pack: every figure of the file as a parameter dated
//! from its effective date (with the file, class, field and line as its
//! source) and a formula decision `bill` with one formula set per class.
//! The semantics are those of the reference calculator, RateParser
//! (`../shared/domain/owrs-semantics.md`): YAML 1.1 scalars, tier caps
//! (Tiered: s_{i+1} - 1; Budget: b_{i+1}), the rounding of `*budget*`
//! fields, data columns overriding same-named fields. Where RateParser
//! fails on a file's evident meaning (the `tier_starts_commodity` dialect,
//! forward references in maps), the import computes what the file means;
//! where the file is not well defined, a diagnostic names the class, field
//! and line, and that class is left out.

use crate::formulas::{names_in, r_text};
use rust_decimal::Decimal;
use rust_decimal::prelude::*;
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

/// A YAML node read with YAML 1.1 typing (as RateParser's loader reads it).
#[derive(Debug, Clone)]
pub enum Node {
    Null,
    Bool(bool),
    Num(Decimal),
    Str(String),
    Seq(Vec<Spanned<Node>>),
    Map(Vec<(String, Spanned<Node>)>),
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Node, D::Error> {
        d.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

/// A float as R keeps it: 15 significant digits.
fn float_dec(f: f64) -> Option<Decimal> {
    let d = Decimal::from_str(&format!("{f}"))
        .ok()
        .or_else(|| Decimal::from_f64(f))?;
    Some(d.round_sf(15).unwrap_or(d).normalize())
}

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a YAML value")
    }
    fn visit_unit<E>(self) -> std::result::Result<Node, E> {
        Ok(Node::Null)
    }
    fn visit_none<E>(self) -> std::result::Result<Node, E> {
        Ok(Node::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> std::result::Result<Node, D::Error> {
        Node::deserialize(d)
    }
    fn visit_bool<E>(self, v: bool) -> std::result::Result<Node, E> {
        Ok(Node::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> std::result::Result<Node, E> {
        Ok(Node::Num(Decimal::from(v)))
    }
    fn visit_u64<E>(self, v: u64) -> std::result::Result<Node, E> {
        Ok(Node::Num(Decimal::from(v)))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> std::result::Result<Node, E> {
        float_dec(v)
            .map(Node::Num)
            .ok_or_else(|| E::custom(format!("{v} is not a number ratebook can hold")))
    }
    fn visit_str<E>(self, v: &str) -> std::result::Result<Node, E> {
        Ok(Node::Str(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> std::result::Result<Node, E> {
        Ok(Node::Str(v))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> std::result::Result<Node, A::Error> {
        let mut out = Vec::new();
        while let Some(x) = a.next_element::<Spanned<Node>>()? {
            out.push(x);
        }
        Ok(Node::Seq(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> std::result::Result<Node, A::Error> {
        let mut out: Vec<(String, Spanned<Node>)> = Vec::new();
        while let Some(k) = a.next_key::<Node>()? {
            let key = key_text(&k);
            let v = a.next_value::<Spanned<Node>>()?;
            if out.iter().any(|(x, _)| *x == key) {
                return Err(de::Error::custom(format!("duplicate map key `{key}`")));
            }
            out.push((key, v));
        }
        Ok(Node::Map(out))
    }
}

/// A mapping key as RateParser sees it: numbers as R writes them, booleans
/// as `TRUE`/`FALSE`, null as empty.
fn key_text(k: &Node) -> String {
    match k {
        Node::Null => String::new(),
        Node::Bool(b) => if *b { "TRUE" } else { "FALSE" }.into(),
        Node::Num(n) => r_text(*n),
        Node::Str(s) => s.clone(),
        Node::Seq(_) | Node::Map(_) => "<collection>".into(),
    }
}

/// A problem found importing, with where it is.
#[derive(Debug, Clone, PartialEq)]
pub struct Diagnostic {
    pub line: usize,
    pub class: Option<String>,
    pub field: Option<String>,
    pub message: String,
    /// `error`: the class is left out; `warning`: imported as described.
    pub severity: &'static str,
}

impl std::fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: line {}", self.severity, self.line)?;
        if let Some(c) = &self.class {
            write!(f, ", class {c}")?;
        }
        if let Some(x) = &self.field {
            write!(f, ", field `{x}`")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// An imported pack: its files, the classes imported, and the diagnostics.
#[derive(Debug, Clone)]
pub struct Imported {
    pub files: BTreeMap<String, String>,
    pub classes: Vec<String>,
    pub skipped: Vec<String>,
    pub diagnostics: Vec<Diagnostic>,
}

/// Data columns RateParser's callers supply, with their types; a field of
/// the same name is used only when the case does not give the column.
const COLUMNS: &[(&str, &str)] = &[
    ("usage_ccf", "number"),
    ("meter_size", "text"),
    ("water_type", "text"),
    ("hhsize", "number"),
    ("et_amount", "number"),
    ("irr_area", "number"),
    ("irrigable_area", "number"),
    ("days_in_period", "number"),
];

struct ClassOut {
    formulas: Vec<String>,
    /// Inputs used: name -> "number" | "text".
    inputs: BTreeMap<String, &'static str>,
}

struct Ctx<'a> {
    file: &'a str,
    class: &'a str,
    fields: &'a [(String, Spanned<Node>)],
    params: &'a mut String,
    date: &'a str,
    diags: Vec<Diagnostic>,
}

/// A figure's unit, as far as its field's name says (OWRS files give none).
fn unit_of(field: &str) -> &'static str {
    let f = field.to_ascii_lowercase();
    if f.contains("percent of") {
        "percent"
    } else if f.contains("tier_starts") {
        "ccf"
    } else if f.contains("price") || f.contains("rate") {
        "USD/ccf"
    } else if f.contains("charge") || f.contains("fee") {
        "USD"
    } else {
        "(as in the file)"
    }
}

fn yq(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

fn param_name(class: &str, field: &str) -> String {
    format!("{}.{}", clean(class), clean(field))
}

/// A name usable in formulas: letters, digits, `_`, `.`.
fn clean(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_alphanumeric() || c == '_' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

impl Ctx<'_> {
    fn diag(&mut self, line: usize, field: &str, severity: &'static str, message: String) {
        self.diags.push(Diagnostic {
            line,
            class: Some(self.class.to_string()),
            field: Some(field.to_string()),
            message,
            severity,
        });
    }

    fn source(&self, field: &str, line: usize) -> String {
        format!(
            "OWRS file {}, rate_structure.{}.{field} (line {line})",
            self.file, self.class
        )
    }

    fn scalar_param(&mut self, name: &str, value: Decimal, field: &str, line: usize) {
        let _ = write!(
            self.params,
            "{}:\n  description: {}\n  unit: {}\n  values:\n    - {{ from: {}, status: published, value: {}, source: {} }}\n",
            yq(name),
            yq(&format!("{} of class {} (OWRS)", field, self.class)),
            yq(unit_of(field)),
            self.date,
            yq(&value.normalize().to_string()),
            yq(&self.source(field, line)),
        );
    }

    fn table_param(&mut self, name: &str, keys: &[(String, Decimal)], field: &str, on: &str, line: usize) {
        let _ = write!(
            self.params,
            "{}:\n  description: {}\n  unit: {}\n  key: {}\n  keys: [{}]\n  values:\n    - from: {}\n      status: published\n      source: {}\n      value: {{ {} }}\n",
            yq(name),
            yq(&format!("{} of class {} by {on} (OWRS)", field, self.class)),
            yq(unit_of(field)),
            yq(on),
            keys.iter().map(|(k, _)| yq(k)).collect::<Vec<_>>().join(", "),
            self.date,
            yq(&self.source(field, line)),
            keys.iter()
                .map(|(k, v)| format!("{}: {}", yq(k), yq(&v.normalize().to_string())))
                .collect::<Vec<_>>()
                .join(", "),
        );
    }

    fn field(&self, name: &str) -> Option<&Spanned<Node>> {
        self.fields.iter().find(|(k, _)| k == name).map(|(_, v)| v)
    }
}

/// How a tier list's words are read.
#[derive(Clone, PartialEq)]
enum TierUse {
    /// Budget tiers: the budget, and the fields the words `indoor` and
    /// `outdoor` read.
    Budget {
        budget: String,
        indoor: String,
        outdoor: String,
    },
}

/// The formula for a field that cannot be imported: using it fails, saying why.
fn undefined(why: &str) -> String {
    format!("error({})", yq(&why.replace('"', "'")))
}

/// Imports an OWRS file. `name` is how the file is named in sources.
pub fn import(name: &str, text: &str) -> crate::error::Result<Imported> {
    let options = serde_saphyr::options! {
        duplicate_keys: serde_saphyr::DuplicateKeyPolicy::Error,
        legacy_octal_numbers: true,
    };
    let root: Node = serde_saphyr::from_str_with_options(text, options).map_err(|e| {
        let mut err = crate::error::Error::pack(
            "ratebook::owrs::yaml",
            format!(
                "{name}: the file is not YAML RateParser can read: {}",
                e.without_snippet().to_string().lines().next().unwrap_or("")
            ),
        );
        if let Some(loc) = e.location() {
            err = err.at(crate::error::Location::at(name, loc.line().max(1), loc.column().max(1)));
        }
        err
    })?;
    let bad = |m: &str| {
        crate::error::Error::pack("ratebook::owrs::format", format!("{name}: {m}"))
            .at(crate::error::Location::file(name))
    };
    let Node::Map(top) = root else {
        return Err(bad("the file is not a mapping with `metadata` and `rate_structure`"));
    };
    let get = |m: &[(String, Spanned<Node>)], k: &str| m.iter().find(|(x, _)| x == k).map(|(_, v)| v.value.clone());
    let meta = match get(&top, "metadata") {
        Some(Node::Map(m)) => m,
        _ => Vec::new(),
    };
    let text_of = |n: Option<Node>| match n {
        Some(Node::Str(s)) => Some(s),
        Some(Node::Num(n)) => Some(n.to_string()),
        _ => None,
    };
    let utility = text_of(get(&meta, "utility_name")).unwrap_or_else(|| "unnamed utility".into());
    let raw_date = text_of(get(&meta, "effective_date"));
    let date = raw_date
        .as_deref()
        .and_then(parse_owrs_date)
        .ok_or_else(|| bad(&format!("`metadata.effective_date` is {} (dates as YYYY-MM-DD or MM/DD/YYYY); every figure needs the date it takes effect", raw_date.as_deref().map(|d| format!("`{d}`, not a date")).unwrap_or_else(|| "missing".into()))))?;
    let link = text_of(get(&meta, "prop_218_link")).filter(|l| l.starts_with("http"));
    let Some(Node::Map(classes)) = get(&top, "rate_structure") else {
        return Err(bad("`rate_structure` is missing or not a mapping of customer classes"));
    };
    let mut params = String::new();
    let mut sets = String::new();
    let mut inputs: BTreeMap<String, &'static str> = BTreeMap::new();
    let mut imported = Vec::new();
    let mut skipped = Vec::new();
    let mut diagnostics = Vec::new();
    for (class, fields) in &classes {
        let line = fields.referenced.line() as usize;
        let Node::Map(fields) = &fields.value else {
            diagnostics.push(Diagnostic {
                line,
                class: Some(class.clone()),
                field: None,
                message: "the class is not a mapping of fields".into(),
                severity: "error",
            });
            skipped.push(class.clone());
            continue;
        };
        let mut class_params = String::new();
        let mut ctx = Ctx {
            file: name,
            class,
            fields,
            params: &mut class_params,
            date: &date,
            diags: Vec::new(),
        };
        let out = import_class(&mut ctx);
        let class_diags = std::mem::take(&mut ctx.diags);
        diagnostics.extend(class_diags);
        params.push_str(&class_params);
        let _ = writeln!(sets, "    {}:", yq(class));
        for f in &out.formulas {
            sets.push_str(f);
        }
        for (k, t) in out.inputs {
            inputs.entry(k).or_insert(t);
        }
        imported.push(class.clone());
    }
    if imported.is_empty() {
        let list = diagnostics
            .iter()
            .map(|d| format!("  - {d}"))
            .collect::<Vec<_>>()
            .join("\n");
        return Err(bad(&format!("no customer class could be imported:\n{list}")));
    }
    let id = format!("owrs-{}-{date}", slug(&utility));
    let mut files = BTreeMap::new();
    files.insert(
        "pack.yaml".into(),
        format!(
            "id: {}\ntitle: {}\njurisdiction: {}\nversion: {}\ncurrency: USD\nrounding: {{ money: half_up, places: 2 }}\ndescription: {}\ndecisions: [bill]\n",
            yq(&id),
            yq(&format!("{utility}: water rates effective {date} (imported from OWRS)")),
            yq(&utility),
            yq(&date),
            yq(&format!(
                "Imported by `ratebook import owrs` from {name}. Figures are the OWRS file's, dated from its effective date; formulas follow the reference calculator RateParser. See IMPORT.md for what was imported and what was not."
            )),
        ),
    );
    files.insert(
        "citations.yaml".into(),
        format!(
            "owrs:\n  title: {}\n{}",
            yq(&format!(
                "{utility} rate structure effective {date} (Open Water Rate Specification file {name})"
            )),
            link.map(|l| format!("  url: {}\n", yq(&l))).unwrap_or_default()
        ),
    );
    files.insert("params/owrs.yaml".into(), params);
    let mut decision = format!(
        "title: {}\ncite: owrs\ninputs:\n  cust_class: {{ type: enum, values: [{}], description: \"customer class\" }}\n",
        yq(&format!("Water bill: {utility}, rates effective {date}")),
        imported.iter().map(|c| yq(c)).collect::<Vec<_>>().join(", "),
    );
    for (k, t) in &inputs {
        let _ = writeln!(decision, "  {}: {{ type: {t}, required: false }}", yq(k));
    }
    let _ = write!(
        decision,
        "formulas:\n  select: cust_class\n  total: bill\n  effective: {date}\n  sets:\n{sets}"
    );
    files.insert("decisions/bill.yaml".into(), decision);
    let mut report = format!(
        "# Import of {name}\n\n{utility}, effective {date}.\n\nImported classes: {}.\n",
        imported.join(", ")
    );
    if !skipped.is_empty() {
        let _ = writeln!(report, "\nLeft out: {}.", skipped.join(", "));
    }
    if !diagnostics.is_empty() {
        report.push_str("\n## Diagnostics\n\n");
        for d in &diagnostics {
            let _ = writeln!(report, "- {d}");
        }
    }
    files.insert("IMPORT.md".into(), report);
    Ok(Imported {
        files,
        classes: imported,
        skipped,
        diagnostics,
    })
}

fn slug(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    out.trim_end_matches('-').to_string()
}

/// `2016-03-01`, `03/01/2016`, `3/1/2016`, `07-01-2017`.
pub fn parse_owrs_date(s: &str) -> Option<String> {
    let s = s.trim();
    if let Some(d) = crate::dates::parse_date(s) {
        return Some(d.to_string());
    }
    let parts: Vec<&str> = s.split(['/', '-']).collect();
    let [a, b, c] = parts.as_slice() else {
        return None;
    };
    let (y, m, d) = if a.len() == 4 { (a, b, c) } else { (c, a, b) };
    let date = chrono::NaiveDate::from_ymd_opt(y.parse().ok()?, m.parse().ok()?, d.parse().ok()?)?;
    Some(date.to_string())
}

/// A class's formulas and the inputs they read; what cannot be imported is
/// an `error(...)` formula and a diagnostic.
fn import_class(ctx: &mut Ctx) -> ClassOut {
    let mut out = ClassOut {
        formulas: Vec::new(),
        inputs: BTreeMap::new(),
    };
    let field_names: BTreeSet<String> = ctx.fields.iter().map(|(k, _)| k.clone()).collect();
    // Which tier lists are read as budget tiers, and the charges' formulas.
    let mut tier_use: BTreeMap<String, TierUse> = BTreeMap::new();
    let mut charge_exprs: BTreeMap<String, String> = BTreeMap::new();
    for (fname, node) in ctx.fields {
        let Node::Str(kind) = &node.value else { continue };
        if kind != "Tiered" && kind != "Budget" {
            continue;
        }
        let line = node.referenced.line() as usize;
        let (starts, prices, usage) = match tier_fields(fname, &field_names) {
            Some(t) => t,
            None => {
                let why = format!(
                    "`{fname}: {kind}` needs tier starts and prices; the class has no `tier_starts`/`tier_prices` fields for it"
                );
                ctx.diag(line, fname, "error", why.clone());
                charge_exprs.insert(fname.clone(), undefined(&why));
                continue;
            }
        };
        if kind == "Budget" {
            let TierUse::Budget { budget, .. } = &usage;
            if !field_names.contains(budget) {
                let why = format!("`{fname}: Budget` needs a `{budget}` field");
                ctx.diag(line, fname, "error", why.clone());
                charge_exprs.insert(fname.clone(), undefined(&why));
                continue;
            }
            tier_use.insert(starts.clone(), usage);
        }
        let func = if kind == "Tiered" { "tiered" } else { "budget_tiered" };
        charge_exprs.insert(
            fname.clone(),
            format!("{func}(usage_ccf, {}, {})", clean(&starts), clean(&prices)),
        );
    }
    let bill_names: Vec<String> = match ctx.field("bill").map(|n| n.value.clone()) {
        Some(Node::Str(s)) => names_in(&s).unwrap_or_default(),
        _ => Vec::new(),
    };
    for (fname, node) in ctx.fields {
        let line = node.referenced.line() as usize;
        let expr = match &node.value {
            Node::Map(m) if m.iter().any(|(k, _)| k == "depends_on" || k == "values") => {
                map_field(ctx, fname, m, line, &mut out.inputs, &field_names)
            }
            Node::Map(m) if m.len() >= 2 => {
                let items: Vec<Spanned<Node>> = m.iter().map(|(_, v)| v.clone()).collect();
                tier_list(ctx, fname, &items, line, tier_use.get(fname))
            }
            Node::Seq(items) if items.len() >= 2 => tier_list(ctx, fname, items, line, tier_use.get(fname)),
            Node::Seq(items) => match items.first().map(|i| &i.value) {
                Some(Node::Num(n)) => Some(scalar(ctx, fname, *n, line)),
                Some(Node::Str(s)) => formula(ctx, fname, s, line),
                _ => {
                    ctx.diag(line, fname, "error", "an empty list has no value".into());
                    None
                }
            },
            Node::Str(s) if s == "Tiered" || s == "Budget" => charge_exprs.get(fname).cloned(),
            Node::Num(n) => Some(scalar(ctx, fname, *n, line)),
            Node::Str(s) => formula(ctx, fname, s, line),
            Node::Bool(b) => {
                ctx.diag(
                    line,
                    fname,
                    "warning",
                    format!("`{b}` is a YAML 1.1 boolean; it is read as {}", u8::from(*b)),
                );
                Some(u8::from(*b).to_string())
            }
            Node::Null => {
                ctx.diag(
                    line,
                    fname,
                    "error",
                    "the field has no value (RateParser: argument is of length zero)".into(),
                );
                None
            }
            Node::Map(_) => {
                ctx.diag(
                    line,
                    fname,
                    "error",
                    "a mapping with one entry is neither a map nor a tier list".into(),
                );
                None
            }
        };
        let expr = match expr {
            Some(e) => e,
            None => {
                let why = ctx
                    .diags
                    .iter()
                    .rev()
                    .find(|d| d.field.as_deref() == Some(fname.as_str()))
                    .map_or_else(|| "the field could not be imported".to_string(), |d| d.message.clone());
                undefined(&why)
            }
        };
        // Names a formula uses that are not fields are data columns (inputs).
        let expr = match names_in(&expr) {
            Ok(names) => {
                for n in names {
                    if !field_names.contains(&n) && !n.contains('.') {
                        let t = COLUMNS.iter().find(|(c, _)| *c == n).map_or("number", |(_, t)| *t);
                        out.inputs.entry(n).or_insert(t);
                    }
                }
                expr
            }
            Err(m) => {
                let why = format!("`{expr}` is not a formula: {m}");
                ctx.diag(line, fname, "error", why.clone());
                undefined(&why)
            }
        };
        if let Some((_, t)) = COLUMNS.iter().find(|(c, _)| c == fname) {
            out.inputs.entry(fname.clone()).or_insert(t);
        }
        let is_line = bill_names.iter().any(|b| b == fname) && fname != "bill";
        let mut f = format!(
            "      - {{ name: {}, expr: {}, source: {}",
            yq(&clean(fname)),
            yq(&expr),
            yq(&format!("line {line}"))
        );
        if is_line {
            let _ = write!(f, ", line: {}", yq(&label(fname)));
            if expr.starts_with("tiered(usage_ccf") || expr.starts_with("budget_tiered(usage_ccf") {
                f.push_str(", unit: ccf");
            }
        }
        f.push_str(" }\n");
        out.formulas.push(f);
    }
    // The dialect's suffixed names where a formula uses the plain one
    // (`indoor` for `indoor_commodity`).
    let aliases: Vec<(String, String)> = out
        .inputs
        .keys()
        .filter(|n| !COLUMNS.iter().any(|(c, _)| c == n))
        .filter_map(|n| {
            ["commodity", "drought", "sewer"]
                .iter()
                .map(|s| format!("{n}_{s}"))
                .find(|full| field_names.contains(full))
                .map(|full| (n.clone(), full))
        })
        .collect();
    for (short, full) in aliases {
        out.inputs.remove(&short);
        let line = ctx.field(&full).map_or(0, |n| n.referenced.line() as usize);
        ctx.diag(
            line,
            &short,
            "warning",
            format!("`{short}` is not defined in the class; it is read as `{full}`"),
        );
        out.formulas.push(format!(
            "      - {{ name: {}, expr: {}, source: {} }}\n",
            yq(&clean(&short)),
            yq(&clean(&full)),
            yq(&format!("alias of {full}, line {line}"))
        ));
    }
    out
}

fn label(field: &str) -> String {
    let s = field.replace('_', " ");
    let mut c = s.chars();
    match c.next() {
        Some(first) => first.to_uppercase().collect::<String>() + c.as_str(),
        None => s,
    }
}

/// The tier starts, prices and budget fields a `Tiered`/`Budget` field
/// reads: RateParser's fixed names, or the newer dialect's suffixed ones.
fn tier_fields(field: &str, names: &BTreeSet<String>) -> Option<(String, String, TierUse)> {
    let (classic, budget): (Option<(&str, &str)>, &'static str) = match field {
        "commodity_charge" => (Some(("tier_starts", "tier_prices")), "budget"),
        "sewer_charge" => (Some(("sewer_tier_starts", "sewer_tier_prices")), "sewer_budget"),
        _ => (None, "budget"),
    };
    // The budget and the indoor and outdoor parts, by RateParser's names
    // or the dialect's (`budget_commodity`, `indoor_commodity`).
    let words: Vec<String> = field
        .split('_')
        .filter(|w| !matches!(*w, "variable" | "charge" | "surcharge" | ""))
        .map(str::to_lowercase)
        .collect();
    let pick = |base: &str| {
        if names.contains(base) {
            return base.to_string();
        }
        words
            .iter()
            .map(|w| format!("{base}_{w}"))
            .find(|n| names.contains(n))
            .unwrap_or_else(|| base.to_string())
    };
    let usage = TierUse::Budget {
        budget: pick(budget),
        indoor: pick("indoor"),
        outdoor: pick("outdoor"),
    };
    if let Some((s, p)) = classic
        && names.contains(s)
        && names.contains(p)
    {
        return Some((s.into(), p.into(), usage));
    }
    let mut suffixes = vec![field.to_string()];
    suffixes.extend(words.iter().cloned());
    for s in suffixes {
        let (ts, tp) = (format!("tier_starts_{s}"), format!("tier_prices_{s}"));
        if names.contains(&ts) && names.contains(&tp) {
            return Some((ts, tp, usage));
        }
    }
    None
}

fn scalar(ctx: &mut Ctx, field: &str, n: Decimal, line: usize) -> String {
    let p = param_name(ctx.class, field);
    ctx.scalar_param(&p, n, field, line);
    if field.contains("budget") {
        format!("round_even({p})")
    } else {
        p
    }
}

/// A kind-D formula: R syntax (`+ - * / ^`, parentheses), with RateParser's
/// rounding of every term in a `*budget*` field.
fn formula(ctx: &mut Ctx, field: &str, text: &str, line: usize) -> Option<String> {
    let text = text.trim();
    if let Ok(n) = Decimal::from_str(text).or_else(|_| Decimal::from_scientific(text)) {
        return Some(scalar(ctx, field, n, line));
    }
    let text = if field.contains("budget") {
        let spaced = text.replace('+', " + ").replace('*', " * ").replace('^', " ^ ");
        spaced
            .split_whitespace()
            .map(|t| {
                if matches!(t, "+" | "*" | "^") {
                    t.to_string()
                } else {
                    format!("round_even({t})")
                }
            })
            .collect::<Vec<_>>()
            .join(" ")
    } else {
        text.to_string()
    };
    match names_in(&text) {
        Ok(_) => Some(text),
        Err(m) => {
            ctx.diag(line, field, "error", format!("`{text}` is not a formula: {m}"));
            None
        }
    }
}

fn num_of(n: &Node) -> Option<Decimal> {
    match n {
        Node::Num(d) => Some(*d),
        Node::Str(s) => Decimal::from_str(s.trim()).ok(),
        _ => None,
    }
}

/// A tier list: numbers become parameters, words become formulas.
fn tier_list(
    ctx: &mut Ctx,
    field: &str,
    items: &[Spanned<Node>],
    line: usize,
    usage: Option<&TierUse>,
) -> Option<String> {
    let mut parts = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let item_line = item.referenced.line() as usize;
        let p = format!("{}.{}", param_name(ctx.class, field), i + 1);
        if let Some(n) = num_of(&item.value) {
            ctx.scalar_param(&p, n, &format!("{field}[{}]", i + 1), item_line);
            parts.push(p);
            continue;
        }
        let Node::Str(word) = &item.value else {
            ctx.diag(
                item_line,
                field,
                "error",
                format!("tier {} is not a number or a word", i + 1),
            );
            return None;
        };
        let w = word.trim();
        match usage {
            Some(TierUse::Budget {
                budget,
                indoor,
                outdoor,
            }) => {
                if w.eq_ignore_ascii_case("indoor") {
                    parts.push(format!("round_even({})", clean(indoor)));
                } else if w.eq_ignore_ascii_case("outdoor") {
                    parts.push(format!("round_even({})", clean(outdoor)));
                } else if w.contains('%') {
                    let digits: String = w.chars().filter(|c| c.is_ascii_digit() || *c == '.').collect();
                    let Ok(pct) = Decimal::from_str(&digits) else {
                        ctx.diag(item_line, field, "error", format!("`{w}` is not a percentage"));
                        return None;
                    };
                    ctx.scalar_param(&p, pct, &format!("{field}[{}] (percent of {budget})", i + 1), item_line);
                    parts.push(format!("round_even({p} / 100 * {budget})"));
                } else {
                    ctx.diag(
                        item_line,
                        field,
                        "warning",
                        format!("budget tier start `{w}` is not a number, `indoor`, `outdoor` or a percentage; RateParser reads it as 0, and so does this import"),
                    );
                    parts.push("0".into());
                }
            }
            _ => match names_in(w) {
                Ok(_) => parts.push(format!("({w})")),
                Err(m) => {
                    ctx.diag(
                        item_line,
                        field,
                        "error",
                        format!("tier {} `{w}` is not a number or a formula: {m}", i + 1),
                    );
                    return None;
                }
            },
        }
    }
    let _ = line;
    Some(format!("[{}]", parts.join(", ")))
}

/// A map (`depends_on` / `values`): a table parameter per value (per tier
/// position for tier lists), looked up by the row's key.
fn map_field(
    ctx: &mut Ctx,
    field: &str,
    m: &[(String, Spanned<Node>)],
    line: usize,
    inputs: &mut BTreeMap<String, &'static str>,
    field_names: &BTreeSet<String>,
) -> Option<String> {
    let get = |k: &str| m.iter().find(|(x, _)| x == k).map(|(_, v)| &v.value);
    if let Some((other, _)) = m.iter().find(|(k, _)| k != "depends_on" && k != "values") {
        ctx.diag(
            line,
            field,
            "error",
            format!("`{other}` in a map is not part of the format RateParser reads (a map has `depends_on` and `values`); a map by ranges of a column is not imported"),
        );
        return None;
    }
    let (Some(deps), Some(Node::Map(values))) = (get("depends_on"), get("values")) else {
        ctx.diag(
            line,
            field,
            "error",
            "each `depends_on` needs a `values` mapping, and each `values` a `depends_on`".into(),
        );
        return None;
    };
    let deps: Vec<String> = match deps {
        Node::Str(s) => vec![s.trim().to_string()],
        Node::Seq(xs) => xs
            .iter()
            .filter_map(|x| match &x.value {
                Node::Str(s) => Some(s.trim().to_string()),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    };
    if deps.is_empty() {
        ctx.diag(line, field, "error", "`depends_on` names no column".into());
        return None;
    }
    for d in &deps {
        if !field_names.contains(d) {
            inputs.entry(clean(d)).or_insert("text");
        }
    }
    let on = deps.join("|");
    // Meter sizes are matched however they are spelled (`1|1/2"` in the
    // file, `1 1/2"` in the data): the keys and the lookup use one spelling.
    let by_size = deps.len() == 1 && deps.first().is_some_and(|d| d == "meter_size");
    let key_args = if by_size {
        "size_key(meter_size)".to_string()
    } else {
        deps.iter().map(|d| clean(d)).collect::<Vec<_>>().join(", ")
    };
    let respelled: Vec<(String, Spanned<Node>)>;
    let values: &[(String, Spanned<Node>)] = if by_size {
        let mut seen: Vec<(String, Spanned<Node>)> = Vec::new();
        for (k, v) in values {
            let key = crate::formulas::size_key(k);
            if let Some((_, first)) = seen.iter().find(|(s, _)| *s == key) {
                ctx.diag(
                    v.referenced.line() as usize,
                    field,
                    "warning",
                    format!(
                        "meter size `{k}` is `{key}` again (line {}); the first is used",
                        first.referenced.line()
                    ),
                );
                continue;
            }
            seen.push((key, v.clone()));
        }
        respelled = seen;
        &respelled
    } else {
        values
    };
    let p = param_name(ctx.class, field);
    let tiers = matches!(values.first().map(|(_, v)| &v.value), Some(Node::Seq(xs)) if xs.len() >= 2);
    if !tiers {
        let mut keys = Vec::new();
        for (k, v) in values {
            let value = match &v.value {
                Node::Seq(xs) if xs.len() == 1 => xs.first().and_then(|x| num_of(&x.value)),
                other => num_of(other),
            };
            match value {
                Some(n) => keys.push((k.clone(), n)),
                None => {
                    ctx.diag(
                        v.referenced.line() as usize,
                        field,
                        "error",
                        format!("the value for `{k}` is not a number; map values are never formulas (RateParser turns the whole map into text)"),
                    );
                    return None;
                }
            }
        }
        ctx.table_param(&p, &keys, field, &on, line);
        let call = format!("{p}[{key_args}]");
        // A `*budget*` map is not rounded (RateParser rounds formulas only).
        return Some(call);
    }
    // Tier lists by key: one table per tier position. Keys with fewer
    // tiers than others (RateParser gives such rows no bill) are left out
    // of the later positions' tables, so each key gets its own list.
    let mut columns: Vec<Vec<(String, Decimal)>> = Vec::new();
    let mut shortest = usize::MAX;
    for (k, v) in values {
        let single;
        let items: &[Spanned<Node>] = match &v.value {
            Node::Seq(items) => items,
            _ => {
                single = [v.clone()];
                &single
            }
        };
        shortest = shortest.min(items.len());
        for (i, item) in items.iter().enumerate() {
            let Some(n) = num_of(&item.value) else {
                ctx.diag(
                    item.referenced.line() as usize,
                    field,
                    "error",
                    format!("tier {} of `{k}` is not a number", i + 1),
                );
                return None;
            };
            if columns.len() <= i {
                columns.push(Vec::new());
            }
            if let Some(c) = columns.get_mut(i) {
                c.push((k.clone(), n));
            }
        }
    }
    if shortest < columns.len() {
        ctx.diag(
            line,
            field,
            "warning",
            format!("the tier lists differ in length by key ({shortest} to {}); RateParser gives rows with the shorter lists no bill, this import bills them with their own tiers", columns.len()),
        );
    }
    let mut parts = Vec::new();
    for (i, keys) in columns.iter().enumerate() {
        let name = format!("{p}.{}", i + 1);
        ctx.table_param(&name, keys, &format!("{field}[{}]", i + 1), &on, line);
        if i < shortest {
            parts.push(format!("{name}[{key_args}]"));
        } else {
            parts.push(format!("if_present({name}[{key_args}])"));
        }
    }

    Some(format!("[{}]", parts.join(", ")))
}
