//! Batch runs: cases streamed in from CSV or JSON Lines, decided in
//! parallel chunk by chunk, written out as JSON Lines in input order.
//! Memory is flat in the input size (one chunk at a time); every input row
//! appears in the output exactly once, as a determination or as an error
//! record with its row number and reason.

use crate::case::Case;
use crate::engine::{Engine, Options};
use crate::error::{Error, Location};
use rayon::prelude::*;
use serde_json::Value;
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

/// The line columns of CSV output: a declarative decision's charges.
pub fn csv_columns(engine: &Engine, decision: &str) -> std::result::Result<Vec<String>, Error> {
    engine
        .declarative(decision)
        .map(|d| d.charges.iter().map(|c| c.id.to_string()).collect())
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
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
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
type Row = (usize, Option<String>, std::result::Result<Case, Box<Error>>);

/// Reads rows: JSON Lines (one case per line) when the first non-blank
/// byte is `{`, otherwise CSV with dotted case paths as headers.
pub struct Rows<R: BufRead> {
    name: String,
    inner: Inner<R>,
}

enum Inner<R: BufRead> {
    Lines {
        reader: R,
        line: usize,
    },
    Csv {
        reader: csv::Reader<R>,
        headers: Vec<String>,
        row: usize,
        /// With a column map (`Rows::with_columns`), how to read a record.
        plan: Option<ColumnPlan>,
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
        let inner = match first {
            None => Inner::Done,
            Some(b'{') => Inner::Lines { reader, line: 0 },
            Some(_) => {
                let mut csv = csv::ReaderBuilder::new().flexible(true).from_reader(reader);
                let headers = csv
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
                    headers,
                    row: 1,
                    plan: None,
                }
            }
        };
        Ok(Rows {
            name: name.to_string(),
            inner,
        })
    }
}

impl<R: BufRead> Rows<R> {
    /// Reads the CSV's records through a column map.
    pub fn with_columns(mut self, columns: &Columns) -> std::result::Result<Rows<R>, Error> {
        match &mut self.inner {
            Inner::Csv { headers, plan, .. } => *plan = Some(columns.plan(&self.name, headers)?),
            Inner::Lines { .. } => {
                return Err(Error::input(
                    "ratebook::batch::bad_columns",
                    format!("{}: a column map reads CSV; this is JSON Lines", self.name),
                ));
            }
            Inner::Done => {}
        }
        Ok(self)
    }
}

impl<R: BufRead> Iterator for Rows<R> {
    type Item = Row;

    fn next(&mut self) -> Option<Row> {
        let name = &self.name;
        let bad = |row: usize, code: &'static str, m: String| {
            Box::new(Error::input(code, format!("{name}: row {row}: {m}")).at(Location::at(name, row as u64, 1)))
        };
        match &mut self.inner {
            Inner::Done => None,
            Inner::Lines { reader, line } => loop {
                let mut buf = Vec::new();
                match reader.read_until(b'\n', &mut buf) {
                    Ok(0) => {
                        self.inner = Inner::Done;
                        return None;
                    }
                    Ok(_) => {}
                    Err(e) => {
                        *line += 1;
                        let row = *line;
                        self.inner = Inner::Done;
                        return Some((row, None, Err(bad(row, "ratebook::io", e.to_string()))));
                    }
                }
                *line += 1;
                let row = *line;
                if buf.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                let Ok(text) = std::str::from_utf8(&buf) else {
                    return Some((
                        row,
                        None,
                        Err(bad(
                            row,
                            "ratebook::case::not_utf8",
                            "the line is not UTF-8 text".into(),
                        )),
                    ));
                };
                let case_name = format!("{name} row {row}");
                return Some((row, None, Case::parse(&case_name, text).map_err(Box::new)));
            },
            Inner::Csv {
                reader,
                headers,
                row,
                plan,
            } => {
                let mut rec = csv::ByteRecord::new();
                *row += 1;
                let at = *row;
                match reader.read_byte_record(&mut rec) {
                    Ok(false) => {
                        self.inner = Inner::Done;
                        None
                    }
                    Ok(true) if rec.len() != headers.len() => Some((
                        at,
                        row_id(headers, &rec),
                        Err(bad(
                            at,
                            "ratebook::batch::bad_row",
                            format!("{} fields, the header has {}", rec.len(), headers.len()),
                        )),
                    )),
                    Ok(true) => {
                        let case_name = format!("{name} row {at}");
                        let (id, case) = match plan {
                            Some(plan) => mapped_case(&case_name, headers, plan, &rec),
                            None => (row_id(headers, &rec), csv_case(&case_name, headers, &rec)),
                        };
                        Some((at, id, case.map_err(|m| bad(at, "ratebook::batch::bad_row", m))))
                    }
                    Err(e) => Some((at, None, Err(bad(at, "ratebook::batch::bad_row", e.to_string())))),
                }
            }
        }
    }
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
                None => {
                    let known: Vec<String> = values.keys().map(|k| format!("`{k}`")).collect();
                    return (
                        id,
                        Err(format!(
                            "column `{column}` holds `{cell}`, which the column map does not give a value for `{path}` (it knows {})",
                            known.join(", ")
                        )),
                    );
                }
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

/// One output line for a row: the determination as compact JSON, or an
/// error record `{"row": N, "error": {...}}`.
fn decide_row(engine: &Engine, opts: &BatchOptions, (row, id, case): Row) -> (bool, String) {
    let options = Options {
        as_of: opts.as_of,
        trace: opts.trace,
    };
    let result = case
        .map_err(|e| *e)
        .and_then(|c| engine.decide(&opts.decision, &c, &options));
    if let Some(lines) = &opts.csv_lines {
        let mut cells = vec![row.to_string()];
        let ok = result.is_ok();
        match result {
            Ok(det) => {
                let id = id.or_else(|| {
                    det.outputs
                        .get("account.id")
                        .and_then(|v| v.as_str())
                        .map(str::to_string)
                });
                cells.push(csv_cell(&id.unwrap_or_default()));
                cells.push(csv_cell(&det.outcome));
                for l in lines {
                    let amounts: Vec<_> = det
                        .lines
                        .iter()
                        .filter(|x| &**x.id() == l.as_str())
                        .map(|x| x.amount)
                        .collect();
                    cells.push(if amounts.is_empty() {
                        String::new()
                    } else {
                        crate::money::money_text(amounts.into_iter().sum())
                    });
                }
                cells.push(det.total.map(crate::money::money_text).unwrap_or_default());
                cells.push(String::new());
            }
            Err(e) => {
                cells.push(csv_cell(&id.unwrap_or_default()));
                cells.push(String::new());
                cells.extend(lines.iter().map(|_| String::new()));
                cells.push(String::new());
                cells.push(csv_cell(&format!("{}: {}", e.code, e.message)));
            }
        }
        return (ok, cells.join(","));
    }
    match result {
        Ok(det) => (true, serde_json::to_string(&det).unwrap_or_default()),
        Err(e) => {
            let mut v = e.to_json();
            if let Some(o) = v.as_object_mut() {
                o.insert("row".into(), Value::from(row));
                if let Some(id) = id {
                    o.insert("id".into(), Value::from(id));
                }
            }
            (false, v.to_string())
        }
    }
}

/// Decides every row, writing one line per row in input order.
/// `progress` is called with the rows done after each chunk.
pub fn run<R: BufRead>(
    engine: &Engine,
    rows: Rows<R>,
    out: &mut dyn Write,
    opts: &BatchOptions,
    progress: &dyn Fn(usize),
) -> std::io::Result<Summary> {
    let mut summary = Summary::default();
    let mut rows = rows.peekable();
    while rows.peek().is_some() {
        let chunk: Vec<Row> = rows.by_ref().take(CHUNK).collect();
        let lines: Vec<(bool, String)> = chunk.into_par_iter().map(|r| decide_row(engine, opts, r)).collect();
        for (ok, line) in lines {
            summary.rows += 1;
            if ok {
                summary.decided += 1;
            } else {
                summary.errors += 1;
            }
            out.write_all(line.as_bytes())?;
            out.write_all(b"\n")?;
        }
        progress(summary.rows);
    }
    out.flush()?;
    Ok(summary)
}
