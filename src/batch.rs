//! Batch runs: cases streamed in from CSV or JSON Lines, decided in
//! parallel chunk by chunk, written out as JSON Lines in input order.
//! Memory is flat in the input size (one chunk at a time); every input row
//! appears in the output exactly once, as a determination or as an error
//! record with its row number and reason.

use crate::case::Case;
use crate::engine::{Engine, LineColumns, Options};
use crate::error::{Error, Location};
use rayon::prelude::*;
use serde_json::Value;
use std::borrow::Cow;
use std::io::{BufRead, Write};

/// Rows decided together (enough for every core, small enough that memory
/// stays flat).
pub const CHUNK: usize = 4096;

/// How to run.
#[derive(Debug, Clone, Default)]
pub struct BatchOptions {
    pub decision: String,
    pub as_of: Option<chrono::NaiveDate>,
    /// Keep each determination's full trace (off: `"trace": []`).
    pub trace: bool,
    /// One CSV row per account (`row, id, outcome, each line's amount,
    /// total, error`) instead of JSON Lines; the line columns are the
    /// decision's charges, in order.
    pub csv_lines: Option<Vec<String>>,
}

/// The line columns of CSV output: a declarative decision's charges, or a
/// formula decision's line formulas.
pub fn csv_columns(engine: &Engine, decision: &str) -> std::result::Result<Vec<String>, Error> {
    engine
        .declarative(decision)
        .map(|d| d.charges.iter().map(|c| c.id.to_string()).collect())
        .or_else(|| engine.formulas(decision).map(|f| f.line_names()))
        .ok_or_else(|| {
            Error::input(
                "ratebook::batch::csv_needs_charges",
                format!("CSV output has a column per line: `{decision}` is not a declarative decision with charges; use JSON Lines"),
            )
        })
}

/// The CSV header for `lines`.
pub fn csv_header(lines: &[String]) -> String {
    let mut h = String::from("row,id,outcome");
    for l in lines {
        h.push(',');
        h.push_str(l);
    }
    h.push_str(",total,error\n");
    h
}

fn csv_cell(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    push_cell(&mut out, s);
    out
}

/// Appends a CSV cell, quoted when it must be.
fn push_cell(out: &mut String, s: &str) {
    if s.contains([',', '"', '\n', '\r']) {
        out.push('"');
        out.push_str(&s.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(s);
    }
}

/// What a run did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Summary {
    pub rows: usize,
    pub decided: usize,
    pub errors: usize,
}

/// One input row: its number (1-based, counting the CSV header as row 1),
/// its `id` if the input names rows, and the case or why it could not be
/// read.
pub type Row = (usize, Option<String>, std::result::Result<Case, Box<Error>>);

/// A row as read, before it becomes a case: rows are read in order on one
/// thread and turned into cases (or facts) on the workers.
#[derive(Clone)]
pub struct RawRow {
    row: usize,
    raw: Raw,
}

#[derive(Clone)]
enum Raw {
    Line(Vec<u8>),
    Record(csv::ByteRecord),
    Bad(Box<Error>),
}

/// How raw rows become cases: the input's name, its CSV header and column map.
pub struct Source {
    name: String,
    headers: Vec<String>,
    /// With a column map (`Rows::with_columns`), how to read a record.
    plan: Option<ColumnPlan>,
}

/// Reads rows: JSON Lines (one case per line) when the first non-blank
/// byte is `{`, otherwise CSV with dotted case paths as headers.
pub struct Rows<R: BufRead> {
    source: Source,
    inner: Inner<R>,
}

enum Inner<R: BufRead> {
    Lines {
        reader: R,
        line: usize,
    },
    Csv {
        reader: csv::Reader<R>,
        row: usize,
        /// The last record's bytes and fields: the next one's room, so a
        /// record is read without growing its buffers.
        room: (usize, usize),
    },
    Done,
}

impl<R: BufRead> Rows<R> {
    pub fn new(name: &str, mut reader: R) -> std::result::Result<Rows<R>, Error> {
        let io = |e: std::io::Error| Error::input("ratebook::io", format!("{name}: {e}")).at(Location::file(name));
        let first = loop {
            let buf = reader.fill_buf().map_err(io)?;
            match buf.iter().position(|b| !b.is_ascii_whitespace()) {
                Some(i) => break buf.get(i).copied(),
                None if buf.is_empty() => break None,
                None => {
                    let n = buf.len();
                    reader.consume(n);
                }
            }
        };
        let mut headers = Vec::new();
        let inner = match first {
            None => Inner::Done,
            Some(b'{') => Inner::Lines { reader, line: 0 },
            Some(_) => {
                let mut csv = csv::ReaderBuilder::new().flexible(true).from_reader(reader);
                headers = csv
                    .headers()
                    .map_err(|e| {
                        Error::input("ratebook::batch::bad_header", format!("{name}: the CSV header: {e}"))
                            .at(Location::at(name, 1, 1))
                    })?
                    .iter()
                    .map(str::to_string)
                    .collect();
                Inner::Csv {
                    reader: csv,
                    row: 1,
                    room: (64, headers.len()),
                }
            }
        };
        Ok(Rows {
            source: Source {
                name: name.to_string(),
                headers,
                plan: None,
            },
            inner,
        })
    }

    /// Reads the CSV's records through a column map.
    pub fn with_columns(mut self, columns: &Columns) -> std::result::Result<Rows<R>, Error> {
        match &self.inner {
            Inner::Csv { .. } => self.source.plan = Some(columns.plan(&self.source.name, &self.source.headers)?),
            Inner::Lines { .. } => {
                return Err(Error::input(
                    "ratebook::batch::bad_columns",
                    format!("{}: a column map reads CSV; this is JSON Lines", self.source.name),
                ));
            }
            Inner::Done => {}
        }
        Ok(self)
    }

    /// How this input's raw rows become cases.
    pub fn source(&self) -> &Source {
        &self.source
    }

    /// The rows as read, and how they become cases: reading stays in
    /// order on one thread while the workers make cases.
    pub fn split(self) -> (Source, RawRows<R>) {
        let name = self.source.name.clone();
        (
            self.source,
            RawRows {
                name,
                inner: self.inner,
            },
        )
    }
}

/// Rows as read, in order (see `Rows::split`).
pub struct RawRows<R: BufRead> {
    name: String,
    inner: Inner<R>,
}

impl<R: BufRead> Iterator for RawRows<R> {
    type Item = RawRow;

    fn next(&mut self) -> Option<RawRow> {
        self.inner.next_raw(&self.name, None)
    }
}

impl<R: BufRead> RawRows<R> {
    /// Reads up to `n` rows into `rows` (fewer at the end), reading into
    /// the buffers of the rows already there: a batch reads its million
    /// rows through two chunks' buffers, not one allocation per row.
    pub fn refill(&mut self, rows: &mut Vec<RawRow>, n: usize) {
        let mut i = 0;
        while i < n {
            let spare = rows
                .get_mut(i)
                .map(|r| std::mem::replace(&mut r.raw, Raw::Line(Vec::new())));
            let Some(row) = self.inner.next_raw(&self.name, spare) else {
                break;
            };
            match rows.get_mut(i) {
                Some(slot) => *slot = row,
                None => rows.push(row),
            }
            i += 1;
        }
        rows.truncate(i);
    }
}

impl<R: BufRead> Inner<R> {
    /// The next row as read (in order), or `None` at the end; read into
    /// `spare`'s buffer when it has one of the right kind.
    fn next_raw(&mut self, name: &str, spare: Option<Raw>) -> Option<RawRow> {
        match self {
            Inner::Done => None,
            Inner::Lines { reader, line } => {
                let mut buf = match spare {
                    Some(Raw::Line(b)) => b,
                    _ => Vec::new(),
                };
                loop {
                    buf.clear();
                    *line += 1;
                    let row = *line;
                    match reader.read_until(b'\n', &mut buf) {
                        Ok(0) => {
                            *self = Inner::Done;
                            return None;
                        }
                        Ok(_) if buf.iter().all(u8::is_ascii_whitespace) => continue,
                        Ok(_) => {
                            return Some(RawRow {
                                row,
                                raw: Raw::Line(buf),
                            });
                        }
                        Err(e) => {
                            *self = Inner::Done;
                            let raw = Raw::Bad(bad_row(name, row, "ratebook::io", e.to_string()));
                            return Some(RawRow { row, raw });
                        }
                    }
                }
            }
            Inner::Csv { reader, row, room } => {
                // `read_byte_record` clears the record it reads into.
                let mut rec = match spare {
                    Some(Raw::Record(rec)) => rec,
                    _ => csv::ByteRecord::with_capacity(room.0, room.1),
                };
                *row += 1;
                let at = *row;
                match reader.read_byte_record(&mut rec) {
                    Ok(false) => {
                        *self = Inner::Done;
                        None
                    }
                    Ok(true) => {
                        *room = (rec.as_slice().len(), rec.len());
                        Some(RawRow {
                            row: at,
                            raw: Raw::Record(rec),
                        })
                    }
                    Err(e) => Some(RawRow {
                        row: at,
                        raw: Raw::Bad(bad_row(name, at, "ratebook::batch::bad_row", e.to_string())),
                    }),
                }
            }
        }
    }
}

fn bad_row(name: &str, row: usize, code: &'static str, m: String) -> Box<Error> {
    Box::new(Error::input(code, format!("{name}: row {row}: {m}")).at(Location::at(name, row as u64, 1)))
}

impl<R: BufRead> Iterator for Rows<R> {
    type Item = Row;

    fn next(&mut self) -> Option<Row> {
        let raw = self.inner.next_raw(&self.source.name, None)?;
        Some(self.source.row(&raw))
    }
}

/// How a CSV's columns are read straight into facts for one decision: each
/// column's field (or the row `id`) and, for a coded column, its values.
pub struct Direct<'a> {
    schema: &'a crate::case::Schema,
    columns: Vec<DirectColumn<'a>>,
    /// The facts of a row that gives nothing (each field's default), and
    /// the fields it must give, one bit each; none past 64 fields.
    template: Option<(crate::case::Facts, u64)>,
}

/// A column read into facts.
struct DirectColumn<'a> {
    index: usize,
    /// Its field; none for `id`.
    field: Option<crate::case::FieldId>,
    /// What its coded values mean, and the facts of those the field takes.
    coded: Option<(&'a CellValues, Vec<(&'a str, crate::case::Fact)>)>,
    /// For a period's `from` or `to`, which one it is.
    part: Option<&'static str>,
}

impl<'a> DirectColumn<'a> {
    fn new(
        schema: &crate::case::Schema,
        index: usize,
        path: &str,
        coded: Option<&'a CellValues>,
    ) -> Option<DirectColumn<'a>> {
        if path == "id" {
            return Some(DirectColumn {
                index,
                field: None,
                coded: None,
                part: None,
            });
        }
        let (field, part) = direct_field(schema, path)?;
        let coded = coded.map(|values| {
            let facts = values
                .iter()
                .filter_map(|(k, v)| Some((k.as_str(), schema.fact_of_value(field, v)?)))
                .collect();
            (values, facts)
        });
        Some(DirectColumn {
            index,
            field: Some(field),
            coded,
            part,
        })
    }
}

/// A column's field: a field path, or `PERIOD.from` / `PERIOD.to`.
fn direct_field(schema: &crate::case::Schema, path: &str) -> Option<(crate::case::FieldId, Option<&'static str>)> {
    if let Some(f) = schema.field(path) {
        return Some((f, None));
    }
    for part in ["from", "to"] {
        if let Some(f) = path
            .strip_suffix(part)
            .and_then(|p| p.strip_suffix('.'))
            .and_then(|base| schema.field(base))
            .filter(|f| schema.is_period(*f))
        {
            return Some((f, Some(part)));
        }
    }
    None
}

impl Source {
    /// A raw row as a case: its number, `id` and case (or why not).
    pub fn row(&self, r: &RawRow) -> Row {
        let name = &self.name;
        let at = r.row;
        match &r.raw {
            Raw::Bad(e) => (at, None, Err(e.clone())),
            Raw::Line(buf) => {
                let Ok(text) = std::str::from_utf8(buf) else {
                    let e = bad_row(
                        name,
                        at,
                        "ratebook::case::not_utf8",
                        "the line is not UTF-8 text".into(),
                    );
                    return (at, None, Err(e));
                };
                (
                    at,
                    None,
                    Case::parse(&format!("{name} row {at}"), text).map_err(Box::new),
                )
            }
            Raw::Record(rec) => {
                let id = || row_id(&self.headers, rec);
                if let Some(e) = self.width_error(at, rec) {
                    return (at, id(), Err(e));
                }
                let case_name = format!("{name} row {at}");
                let (id, case) = match &self.plan {
                    Some(plan) => mapped_case(&case_name, &self.headers, plan, rec),
                    None => (id(), csv_case(&case_name, &self.headers, rec)),
                };
                (
                    at,
                    id,
                    case.map_err(|m| bad_row(name, at, "ratebook::batch::bad_row", m)),
                )
            }
        }
    }

    fn width_error(&self, at: usize, rec: &csv::ByteRecord) -> Option<Box<Error>> {
        (rec.len() != self.headers.len()).then(|| {
            bad_row(
                &self.name,
                at,
                "ratebook::batch::bad_row",
                format!("{} fields, the header has {}", rec.len(), self.headers.len()),
            )
        })
    }

    /// Reading this CSV's records straight into facts for `schema`: when
    /// every column (or column-map path) is one of its fields or `id`.
    pub fn direct<'a>(&'a self, schema: &'a crate::case::Schema) -> Option<Direct<'a>> {
        if self.headers.is_empty() {
            return None;
        }
        let columns = match &self.plan {
            Some(plan) => plan
                .iter()
                .map(|(path, i, values)| DirectColumn::new(schema, *i, path, values.as_ref()))
                .collect::<Option<Vec<_>>>()?,
            None => self
                .headers
                .iter()
                .enumerate()
                .map(|(i, h)| DirectColumn::new(schema, i, h, None))
                .collect::<Option<Vec<_>>>()?,
        };
        let template = (schema.ids().count() <= 64).then(|| {
            let mut required = 0u64;
            let facts = schema
                .ids()
                .map(|f| {
                    schema.absent_fact(f).unwrap_or_else(|| {
                        required |= 1 << f.0;
                        crate::case::Fact::Absent
                    })
                })
                .collect();
            (facts, required)
        });
        Some(Direct {
            schema,
            columns,
            template,
        })
    }

    /// A raw CSV row read straight into facts (`None` for a JSON line,
    /// which becomes a case): its number, `id` and facts (or why not). A
    /// plain row is read into `buf` (one per worker, from `direct.buffer()`),
    /// so no facts are copied for it.
    pub fn facts<'r, 'f>(&self, direct: &Direct, r: &'r RawRow, buf: &'f mut RowFacts) -> Option<FactsRow<'r, 'f>> {
        let Raw::Record(rec) = &r.raw else {
            return None;
        };
        let at = r.row;
        if let Some(e) = self.width_error(at, rec) {
            return Some((at, row_id(&self.headers, rec).map(Cow::Owned), Err(e)));
        }
        if let Some(id) = plain_facts(direct, rec, &mut buf.0) {
            return Some((at, id.map(Cow::Borrowed), Ok(Cow::Borrowed(&buf.0))));
        }
        let mut id = None;
        let bad = |id, m: String| Some((at, id, Err(bad_row(&self.name, at, "ratebook::batch::bad_row", m))));
        let mut values: smallvec::SmallVec<[Option<Value>; 16]> =
            smallvec::smallvec![None; direct.schema.ids().count()];
        for DirectColumn {
            index,
            field,
            coded,
            part,
        } in &direct.columns
        {
            let column = self.headers.get(*index).map_or("", String::as_str);
            let Some(cell) = rec.get(*index) else { continue };
            let Ok(cell) = std::str::from_utf8(cell) else {
                return bad(id, format!("column `{column}` is not UTF-8 text"));
            };
            let cell = cell.trim();
            let Some(field) = field else {
                id = (!cell.is_empty()).then_some(Cow::Borrowed(cell));
                continue;
            };
            let value = match coded {
                Some((values, _)) => match values.get(cell) {
                    Some(v) => v.clone(),
                    None => return bad(id, unmapped(column, cell, direct.schema.path(*field), values)),
                },
                None if cell.is_empty() => continue,
                None => match cell_value(column, cell) {
                    Ok(v) => v,
                    Err(m) => return bad(id, m),
                },
            };
            let Some(slot) = values.get_mut(field.0) else { continue };
            match part {
                // `period.from` and `period.to` make one period.
                Some(part) => match slot {
                    Some(Value::Object(m)) => {
                        m.insert((*part).to_string(), value);
                    }
                    _ => {
                        let mut m = serde_json::Map::new();
                        m.insert((*part).to_string(), value);
                        *slot = Some(Value::Object(m));
                    }
                },
                None => *slot = Some(value),
            }
        }
        let facts = direct
            .schema
            .check_fields(&format!("{} row {at}", self.name), &values)
            .map(Cow::Owned)
            .map_err(Box::new);
        Some((at, id, facts))
    }
}

impl Source {
    /// The input's name (a file), as rows are named in messages.
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// The facts a worker reads plain rows into, one after another: a row's
/// cells overwrite their fields (an empty cell restores the default) and
/// every other field keeps its default, so a row copies no facts.
pub struct RowFacts(crate::case::Facts);

impl<'a> Direct<'a> {
    /// A buffer to read rows into with this plan (`Source::facts`).
    pub fn buffer(&self) -> RowFacts {
        RowFacts(self.template.as_ref().map(|(f, _)| f.clone()).unwrap_or_default())
    }

    /// The text of a field in facts read through this plan: a text field's
    /// text, an enum field's value (borrowed from the decision).
    pub fn text(&self, facts: &crate::case::Facts, f: crate::case::FieldId) -> Option<std::borrow::Cow<'a, str>> {
        match facts.get(f) {
            crate::case::Fact::Text(t) => Some(std::borrow::Cow::Owned(t.to_string())),
            crate::case::Fact::Enum(i) => self
                .schema
                .values(f)?
                .get(usize::from(*i))
                .map(|v| std::borrow::Cow::Borrowed(&**v)),
            _ => None,
        }
    }
}

/// A record's facts read into `facts` (which holds the template's defaults
/// but for the columns' fields, each of which is set here), when every cell
/// plainly is what its field takes, without making a case value: the row's
/// `id`. `None` when a cell is not, so that the row is checked as a case is
/// and its problems are reported the same way.
fn plain_facts<'r>(
    direct: &Direct,
    rec: &'r csv::ByteRecord,
    facts: &mut crate::case::Facts,
) -> Option<Option<&'r str>> {
    let schema = direct.schema;
    let (template, required) = direct.template.as_ref()?;
    let whole = std::str::from_utf8(rec.as_slice()).ok()?;
    let mut given = 0u64;
    let mut period: Option<(crate::case::FieldId, Option<&str>, Option<&str>)> = None;
    let mut id = None;
    for c in &direct.columns {
        let cell = whole.get(rec.range(c.index)?)?.trim_ascii();
        // Other white space around a cell is the case check's to trim.
        if cell.as_bytes().first().is_some_and(|b| !b.is_ascii())
            || cell.as_bytes().last().is_some_and(|b| !b.is_ascii())
        {
            return None;
        }
        let Some(field) = c.field else {
            id = (!cell.is_empty()).then_some(cell);
            continue;
        };
        let fact = match (&c.coded, c.part) {
            (Some((_, facts)), None) => facts.iter().find(|(k, _)| *k == cell)?.1.clone(),
            (Some(_), Some(_)) => return None,
            (None, _) if cell.is_empty() => {
                // The field's default, as in a row that never gave it.
                facts.set(field, template.get(field).clone())?;
                continue;
            }
            (None, Some(part)) => {
                let p = period.get_or_insert((field, None, None));
                if p.0 != field {
                    return None;
                }
                if part == "from" {
                    p.1 = Some(cell);
                } else {
                    p.2 = Some(cell);
                }
                continue;
            }
            (None, None) => schema.fact_of_text(field, cell)?,
        };
        facts.set(field, fact)?;
        given |= 1 << field.0;
    }
    if let Some((field, from, to)) = period {
        facts.set(field, schema.period_of_texts(from?, to?)?)?;
        given |= 1 << field.0;
    }
    (required & !given == 0).then_some(id)
}

/// A row read into facts: number, `id`, facts (in the worker's buffer, or
/// checked as a case's) or why not.
pub type FactsRow<'r, 'f> = (
    usize,
    Option<std::borrow::Cow<'r, str>>,
    std::result::Result<Cow<'f, crate::case::Facts>, Box<Error>>,
);

fn unmapped(column: &str, cell: &str, path: &str, values: &CellValues) -> String {
    let known: Vec<String> = values.keys().map(|k| format!("`{k}`")).collect();
    format!(
        "column `{column}` holds `{cell}`, which the column map does not give a value for `{path}` (it knows {})",
        known.join(", ")
    )
}

/// How the columns of a CSV that is not laid out as cases (a billing
/// system's extract, the benchmark's file) become case fields: read from
/// a YAML map of case path to a column, or to a column and what each of
/// its values means:
///
/// ```yaml
/// id: account_id                      # names the rows
/// period.from: bill_start
/// account.class: { column: is_residential, values: { "1": residential, "0": commercial } }
/// account.services: { column: has_sewer, values: { "1": [water, sewer], "0": [water] } }
/// ```
#[derive(Debug, Clone)]
pub struct Columns {
    file: String,
    /// Case path, column, and what each cell text means (if coded).
    fields: Vec<(String, String, Option<CellValues>)>,
}

/// What each cell text of a coded column means.
type CellValues = indexmap::IndexMap<String, Value>;

/// A column map resolved against a header: case path, column index, values.
type ColumnPlan = Vec<(String, usize, Option<CellValues>)>;

impl Columns {
    /// Reads a column map; every problem names the case path.
    pub fn parse(file: &str, text: &str) -> std::result::Result<Columns, Error> {
        let raw: indexmap::IndexMap<String, Value> = crate::yaml::parse(
            file,
            text,
            "ratebook::batch::bad_columns",
            crate::error::ErrorKind::Input,
        )?;
        let bad = |path: &str, m: &str| {
            Error::input("ratebook::batch::bad_columns", format!("{file}: `{path}`: {m}"))
                .at(Location::field(file, path))
        };
        let mut fields = Vec::new();
        for (path, spec) in raw {
            let (column, values) = match spec {
                Value::String(column) => (column, None),
                Value::Object(mut m) => {
                    if let Some(other) = m.keys().find(|k| *k != "column" && *k != "values") {
                        return Err(bad(
                            &path,
                            &format!("unknown key `{other}` (a column map gives `column` and `values`)"),
                        ));
                    }
                    let Some(Value::String(column)) = m.remove("column") else {
                        return Err(bad(&path, "`column` must name a column"));
                    };
                    let Some(Value::Object(values)) = m.remove("values") else {
                        return Err(bad(&path, "`values` must map each cell text to the value it means"));
                    };
                    (column, Some(values.into_iter().collect()))
                }
                _ => {
                    return Err(bad(
                        &path,
                        "give a column name, or `{ column: NAME, values: { CELL: VALUE } }`",
                    ));
                }
            };
            fields.push((path, column, values));
        }
        Ok(Columns {
            file: file.to_string(),
            fields,
        })
    }

    fn plan(&self, csv: &str, headers: &[String]) -> std::result::Result<ColumnPlan, Error> {
        self.fields
            .iter()
            .map(
                |(path, column, values)| match headers.iter().position(|h| h == column) {
                    Some(i) => Ok((path.clone(), i, values.clone())),
                    None => Err(Error::input(
                        "ratebook::batch::bad_columns",
                        format!(
                            "{}: `{path}` reads the column `{column}`, which {csv} does not have (its columns: {})",
                            self.file,
                            headers.join(", ")
                        ),
                    )
                    .at(Location::field(&self.file, path))),
                },
            )
            .collect()
    }
}

/// A cell's value: `[...]` or `{...}` is JSON, `true`/`false` booleans,
/// anything else text.
fn cell_value(column: &str, cell: &str) -> std::result::Result<Value, String> {
    if cell.starts_with('[') || cell.starts_with('{') {
        serde_json::from_str(cell).map_err(|e| format!("column `{column}`: {e}"))
    } else if cell == "true" || cell == "false" {
        Ok(Value::Bool(cell == "true"))
    } else {
        Ok(Value::String(cell.to_string()))
    }
}

/// A case from a CSV record through a column map; its `id` names the row.
fn mapped_case(
    name: &str,
    headers: &[String],
    plan: &ColumnPlan,
    rec: &csv::ByteRecord,
) -> (Option<String>, std::result::Result<Case, String>) {
    let mut root = Value::Object(Default::default());
    let mut id = None;
    for (path, i, values) in plan {
        let column = headers.get(*i).map_or("", String::as_str);
        let Some(cell) = rec.get(*i) else { continue };
        let Ok(cell) = std::str::from_utf8(cell) else {
            return (id, Err(format!("column `{column}` is not UTF-8 text")));
        };
        let cell = cell.trim();
        if path == "id" {
            id = (!cell.is_empty()).then(|| cell.to_string());
            continue;
        }
        let value = match values {
            Some(values) => match values.get(cell) {
                Some(v) => v.clone(),
                None => return (id, Err(unmapped(column, cell, path, values))),
            },
            None if cell.is_empty() => continue,
            None => match cell_value(column, cell) {
                Ok(v) => v,
                Err(e) => return (id, Err(e)),
            },
        };
        crate::review::put(&mut root, path, value);
    }
    (id, Ok(Case::from_value(name, root)))
}

/// The `id` column of a record, if there is one.
fn row_id(headers: &[String], rec: &csv::ByteRecord) -> Option<String> {
    let i = headers.iter().position(|h| h == "id")?;
    let cell = std::str::from_utf8(rec.get(i)?).ok()?.trim();
    (!cell.is_empty()).then(|| cell.to_string())
}

/// A case from a CSV record: dotted headers make nested maps; a cell
/// holding `[...]` or `{...}` is JSON, `true`/`false` booleans, an empty
/// cell absent. An `id` column names the row (it is not part of the case).
fn csv_case(name: &str, headers: &[String], rec: &csv::ByteRecord) -> std::result::Result<Case, String> {
    let mut root = Value::Object(Default::default());
    for (h, cell) in headers.iter().zip(rec.iter()) {
        let cell = std::str::from_utf8(cell).map_err(|_| format!("column `{h}` is not UTF-8 text"))?;
        let cell = cell.trim();
        if cell.is_empty() || h == "id" {
            continue;
        }
        crate::review::put(&mut root, h, cell_value(h, cell)?);
    }
    Ok(Case::from_value(name, root))
}

/// One output line for a row. For CSV output, when the columns are the
/// decision's fields, a record is read straight into facts; otherwise the
/// row becomes a case first (the same checks either way).
fn decide_raw(
    engine: &Engine,
    opts: &BatchOptions,
    source: &Source,
    direct: Option<(&Direct, &LineColumns, &mut RowFacts)>,
    raw: &RawRow,
    out: &mut String,
) -> bool {
    let options = Options {
        as_of: opts.as_of,
        trace: opts.trace,
    };
    if let Some((direct, columns, buf)) = direct
        && let Some((row, id, facts)) = source.facts(direct, raw, buf)
    {
        let amounts = facts.map_err(|e| *e).and_then(|f| {
            engine
                .amounts(&opts.decision, &RowName(&source.name, row), &f, opts.as_of, columns)
                .unwrap_or_else(|| {
                    engine.check_decision_name(&opts.decision).and(Err(Error::input(
                        "ratebook::batch::no_facts",
                        format!(
                            "`{}` is decided by a script, which reads the case itself",
                            opts.decision
                        ),
                    )))
                })
        });
        return amounts_line(columns.len(), row, id, amounts, out);
    }
    let (row, id, case) = source.row(raw);
    let result = case
        .map_err(|e| *e)
        .and_then(|c| engine.decide(&opts.decision, &c, &options));
    let ok = output_line(opts, row, id, result, out);
    out.push('\n');
    ok
}

thread_local! {
    /// A worker's buffer for a determination's JSON, reused row after row
    /// (so no row grows a string of its own from nothing).
    static JSON: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Appends a determination's JSON to `into`.
fn push_json(into: &mut String, det: &crate::determination::Determination) {
    JSON.with(|buf| {
        let Ok(mut buf) = buf.try_borrow_mut() else {
            into.push_str(&serde_json::to_string(det).unwrap_or_default());
            return;
        };
        buf.clear();
        if serde_json::to_writer(&mut *buf, det).is_ok()
            && let Ok(text) = std::str::from_utf8(&buf)
        {
            into.push_str(text);
        }
    });
}

/// A row's name in messages (`accounts.csv row 12`), written only when one is.
pub(crate) struct RowName<'a>(pub(crate) &'a str, pub(crate) usize);

impl std::fmt::Display for RowName<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} row {}", self.0, self.1)
    }
}

/// A CSV row from a determination's amounts, added to `out`: each line's
/// amount and the total, to the cent (a formula line's value rounded
/// once). Whether the row was decided.
fn amounts_line(
    columns: usize,
    row: usize,
    id: Option<Cow<str>>,
    result: std::result::Result<crate::engine::Amounts, Error>,
    out: &mut String,
) -> bool {
    out.push_str(itoa::Buffer::new().format(row));
    out.push(',');
    let ok = match result {
        Ok(run) => {
            push_cell(out, id.as_deref().or(run.id.as_deref()).unwrap_or_default());
            out.push_str(",computed");
            for v in &run.lines {
                out.push(',');
                if let Some(v) = v {
                    crate::money::push_money(out, *v);
                }
            }
            out.push(',');
            if let Some(t) = run.total {
                crate::money::push_money(out, t);
            }
            out.push(',');
            true
        }
        Err(e) => {
            push_cell(out, id.as_deref().unwrap_or_default());
            out.push(',');
            for _ in 0..columns {
                out.push(',');
            }
            out.push_str(",,");
            out.push_str(&csv_cell(&format!("{}: {}", e.code, e.message)));
            false
        }
    };
    out.push('\n');
    ok
}

/// The output line for a row's result: a CSV row, the determination as
/// compact JSON, or an error record `{"row": N, "error": {...}}`.
fn output_line(
    opts: &BatchOptions,
    row: usize,
    id: Option<String>,
    result: std::result::Result<crate::determination::Determination, Error>,
    into: &mut String,
) -> bool {
    if let Some(lines) = &opts.csv_lines {
        let ok = result.is_ok();
        let mut out = row.to_string();
        let mut cell = |text: &str| {
            out.push(',');
            out.push_str(&csv_cell(text));
        };
        match result {
            Ok(det) => {
                let id = id.or_else(|| {
                    det.outputs
                        .get("account.id")
                        .and_then(|v| v.as_str())
                        .map(str::to_string)
                });
                cell(&id.unwrap_or_default());
                cell(&det.outcome);
                for l in lines {
                    cell(&line_cell(&det, l));
                }
                cell(&det.total.map(crate::money::money_text).unwrap_or_default());
                cell("");
            }
            Err(e) => {
                cell(&id.unwrap_or_default());
                cell("");
                for _ in lines {
                    cell("");
                }
                cell("");
                cell(&format!("{}: {}", e.code, e.message));
            }
        }
        into.push_str(&out);
        return ok;
    }
    match result {
        Ok(det) => {
            push_json(into, &det);
            true
        }
        Err(e) => {
            let mut v = e.to_json();
            if let Some(o) = v.as_object_mut() {
                o.insert("row".into(), Value::from(row));
                if let Some(id) = id {
                    o.insert("id".into(), Value::from(id));
                }
            }
            into.push_str(&v.to_string());
            false
        }
    }
}

/// Rows decided together, their output lines written into one buffer.
const BLOCK: usize = 64;

/// A block's output lines and how many of its rows were decided.
struct Block {
    rows: usize,
    decided: usize,
    text: String,
}

/// Decides every row, writing one line per row in input order.
/// `progress` is called with the rows done after each chunk. While the
/// workers decide one chunk, this thread writes the last one out and reads
/// the next in.
pub fn run<R: BufRead + Send>(
    engine: &Engine,
    rows: Rows<R>,
    out: &mut (dyn Write + Send),
    opts: &BatchOptions,
    progress: &dyn Fn(usize),
) -> std::io::Result<Summary> {
    let (source, mut raw) = rows.split();
    let direct = match (&opts.csv_lines, engine.schema(&opts.decision)) {
        (Some(ids), Some(schema)) => source
            .direct(schema)
            .map(|d| (d, engine.line_columns(&opts.decision, ids))),
        _ => None,
    };
    let mut summary = Summary::default();
    let write = |out: &mut (dyn Write + Send), summary: &mut Summary, blocks: Vec<Block>| {
        for b in blocks {
            summary.rows += b.rows;
            summary.decided += b.decided;
            summary.errors += b.rows - b.decided;
            out.write_all(b.text.as_bytes())?;
        }
        std::io::Result::Ok(())
    };
    // Two chunks of rows: one decided while the next is read into the
    // other's buffers (and the one before written).
    // About the size of an output row (a Portland bill's: a CSV row, a
    // determination, one with its trace), so that a block's text is
    // rarely grown and copied.
    let row_bytes = match (&opts.csv_lines, opts.trace) {
        (Some(_), _) => 96,
        (None, false) => 3 << 10,
        (None, true) => 6 << 10,
    };
    let mut current = Vec::with_capacity(CHUNK);
    raw.refill(&mut current, CHUNK);
    let mut upcoming = Vec::with_capacity(CHUNK);
    let mut decided: Vec<Block> = Vec::new();
    while !current.is_empty() {
        let previous = std::mem::take(&mut decided);
        let (written, blocks) = rayon::join(
            || {
                raw.refill(&mut upcoming, CHUNK);
                write(&mut *out, &mut summary, previous)
            },
            || {
                let direct = direct.as_ref().map(|(d, c)| (d, c));
                current
                    .par_iter()
                    .chunks(BLOCK)
                    .map(|rows| {
                        let mut b = Block {
                            rows: rows.len(),
                            decided: 0,
                            text: String::with_capacity(rows.len() * row_bytes),
                        };
                        let mut buf = direct.map(|(d, _)| d.buffer());
                        for r in rows {
                            let direct = direct.zip(buf.as_mut()).map(|((d, c), f)| (d, c, f));
                            b.decided += usize::from(decide_raw(engine, opts, &source, direct, r, &mut b.text));
                        }
                        b
                    })
                    .collect::<Vec<_>>()
            },
        );
        written?;
        progress(summary.rows);
        std::mem::swap(&mut current, &mut upcoming);
        decided = blocks;
    }
    write(out, &mut summary, decided)?;
    progress(summary.rows);
    out.flush()?;
    Ok(summary)
}

/// A line's amount for a CSV cell: the sum of the charge's lines, or for a
/// formula line its value rounded once (its tiers' lines are each rounded).
fn line_cell(det: &crate::determination::Determination, line: &str) -> String {
    if let Some(exact) = det
        .outputs
        .get(line)
        .and_then(|v| v.as_str())
        .and_then(crate::money::parse_decimal)
    {
        return crate::money::money_text(exact);
    }
    let mut lines = det.lines.iter().filter(|x| &**x.id() == line).peekable();
    if lines.peek().is_none() {
        return String::new();
    }
    crate::money::money_text(lines.map(|x| x.amount).sum())
}
