//! The one error shape every operation returns: a stable code, a message for
//! rule authors and supervisors, help, file locations, and the list of
//! missing figures. It renders as a miette diagnostic on a terminal and as the
//! firm JSON error envelope everywhere else. It owns the exit-code mapping.
//!
//! One struct rather than an enum per operation: every caller (CLI, wasm, test
//! runner, batch) needs the same fields, and the codes below are the stable
//! part that tests assert.

use chrono::NaiveDate;
use serde::Serialize;
use std::fmt;

/// What kind of failure this is; decides the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The case or the invocation is wrong (exit 2).
    Input,
    /// The pack or a rule is broken (exit 3).
    Pack,
    /// Figures the case needs are missing from the pack (exit 3).
    MissingFigures,
}

impl ErrorKind {
    /// Exit code per DESIGN.md: 2 bad input, 3 broken pack or missing figures.
    pub fn exit_code(self) -> i32 {
        match self {
            ErrorKind::Input => 2,
            ErrorKind::Pack | ErrorKind::MissingFigures => 3,
        }
    }
}

/// A place in a file: 1-based line and column.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Location {
    pub file: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub col: Option<u64>,
    /// A path inside a document (`account.class`) when there is no line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl Location {
    pub fn file(file: impl Into<String>) -> Self {
        Location {
            file: file.into(),
            line: None,
            col: None,
            field: None,
        }
    }

    /// A line and column, both from 1 (a parser's column 0, "before the
    /// first character", is column 1).
    pub fn at(file: impl Into<String>, line: u64, col: u64) -> Self {
        Location {
            file: file.into(),
            line: Some(line.max(1)),
            col: Some(col.max(1)),
            field: None,
        }
    }

    pub fn field(file: impl Into<String>, field: impl Into<String>) -> Self {
        Location {
            file: file.into(),
            line: None,
            col: None,
            field: Some(field.into()),
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let (Some(l), Some(c)) = (self.line, self.col) {
            write!(f, ":{l}:{c}")?;
        }
        if let Some(field) = &self.field {
            write!(f, " ({field})")?;
        }
        Ok(())
    }
}

/// A figure a determination needed that the pack does not have.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MissingFigure {
    pub param: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    pub date: NaiveDate,
    pub source: String,
}

impl fmt::Display for MissingFigure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.param)?;
        if let Some(k) = &self.key {
            write!(f, "[{k}]")?;
        }
        write!(f, " in force on {}: published in {}", self.date, self.source)
    }
}

/// Source text attached to an error so a terminal can underline it.
#[derive(Debug, Clone)]
pub struct Snippet {
    pub name: String,
    pub text: String,
    pub offset: usize,
    pub len: usize,
}

/// The ratebook error. See the module docs.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct Error {
    pub kind: ErrorKind,
    pub code: &'static str,
    pub message: String,
    pub help: Option<Box<str>>,
    pub locations: Vec<Location>,
    pub missing: Vec<MissingFigure>,
    pub snippet: Option<Box<Snippet>>,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(kind: ErrorKind, code: &'static str, message: impl Into<String>) -> Self {
        Error {
            kind,
            code,
            message: message.into(),
            help: None,
            locations: Vec::new(),
            missing: Vec::new(),
            snippet: None,
        }
    }

    pub fn input(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Input, code, message)
    }

    pub fn pack(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Pack, code, message)
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into().into_boxed_str());
        self
    }

    pub fn at(mut self, location: Location) -> Self {
        self.locations.push(location);
        self
    }

    pub fn with_snippet(mut self, snippet: Snippet) -> Self {
        self.snippet = Some(Box::new(snippet));
        self
    }

    /// The exit code this error maps to (DESIGN.md).
    pub fn exit_code(&self) -> i32 {
        self.kind.exit_code()
    }

    /// The firm JSON error envelope: `{ "error": { code, message, help, locations, missing } }`.
    pub fn to_json(&self) -> serde_json::Value {
        let mut body = serde_json::Map::new();
        body.insert("code".into(), self.code.into());
        body.insert("message".into(), self.message.clone().into());
        if let Some(h) = &self.help {
            body.insert("help".into(), h.to_string().into());
        }
        body.insert(
            "locations".into(),
            serde_json::to_value(&self.locations).unwrap_or_default(),
        );
        if !self.missing.is_empty() {
            body.insert(
                "missing".into(),
                serde_json::to_value(&self.missing).unwrap_or_default(),
            );
        }
        serde_json::json!({ "error": body })
    }
}

impl miette::Diagnostic for Error {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new(self.code))
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        let mut parts: Vec<String> = Vec::new();
        if let Some(h) = &self.help {
            parts.push(h.to_string());
        }
        if self.snippet.is_none() {
            for l in &self.locations {
                parts.push(format!("at {l}"));
            }
        }
        if parts.is_empty() {
            None
        } else {
            Some(Box::new(parts.join("\n")))
        }
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        self.snippet.as_ref().map(|s| &s.text as &dyn miette::SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = miette::LabeledSpan> + '_>> {
        let s = self.snippet.as_ref()?;
        let label = match self.locations.first() {
            Some(l) => format!("{l}"),
            None => s.name.clone(),
        };
        Some(Box::new(std::iter::once(miette::LabeledSpan::new(
            Some(label),
            s.offset,
            s.len.max(1),
        ))))
    }
}

/// Byte offset of a 1-based line and column in `text` (columns count chars).
pub fn offset_of(text: &str, line: u64, col: u64) -> usize {
    let mut offset = 0usize;
    for (i, l) in text.split_inclusive('\n').enumerate() {
        if (i as u64) + 1 == line {
            let chars: usize = l
                .char_indices()
                .nth(col.saturating_sub(1) as usize)
                .map(|(b, _)| b)
                .unwrap_or(l.len());
            return offset + chars;
        }
        offset += l.len();
    }
    offset.min(text.len())
}

/// Builds a snippet underlining the token that starts at line:col.
pub fn snippet_at(name: &str, text: &str, line: u64, col: u64) -> Snippet {
    let offset = offset_of(text, line, col);
    let len = text
        .get(offset..)
        .map(|rest| rest.find(['\n', ',', '}']).unwrap_or(rest.len()))
        .unwrap_or(0);
    Snippet {
        name: name.to_string(),
        text: text.to_string(),
        offset,
        len: len.max(1),
    }
}
