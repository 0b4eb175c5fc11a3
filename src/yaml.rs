//! Reading YAML and JSON documents into typed values, with errors that carry
//! `file:line:col` and the offending text. The one place serde-saphyr is used.

use crate::error::{Error, Location, snippet_at};
use serde::de::DeserializeOwned;

/// Parses a YAML (or JSON, which YAML contains) document.
/// `code` is the stable error code to report (pack or case syntax).
pub fn parse<T: DeserializeOwned>(
    file: &str,
    text: &str,
    code: &'static str,
    kind: crate::error::ErrorKind,
) -> Result<T, Error> {
    let options = serde_saphyr::options! {
        duplicate_keys: serde_saphyr::DuplicateKeyPolicy::Error,
    };
    serde_saphyr::from_str_with_options::<T>(text, options).map_err(|e| {
        let message = plain_message(&e);
        let mut err = Error::new(kind, code, format!("{file}: {message}"));
        if let Some(near) = did_you_mean(&message) {
            err = err.with_help(format!("did you mean `{near}`?"));
        }
        if let Some(loc) = e.location() {
            let (line, col) = (loc.line(), loc.column());
            if line > 0 {
                err = err
                    .at(Location::at(file, line, col))
                    .with_snippet(snippet_at(file, text, line, col));
            } else {
                err = err.at(Location::file(file));
            }
        } else {
            err = err.at(Location::file(file));
        }
        err
    })
}

/// For "unknown field `X`, expected one of a, b, ...": the nearest name.
fn did_you_mean(message: &str) -> Option<String> {
    let rest = message.strip_prefix("unknown field `")?;
    let (field, rest) = rest.split_once('`')?;
    let expected = rest.split_once("expected one of ")?.1;
    let expected = expected.split(" at line").next().unwrap_or(expected);
    expected
        .split(", ")
        .map(|c| c.trim_matches('`'))
        .map(|c| (strsim::jaro_winkler(c, field), c))
        .filter(|(s, _)| *s > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c.to_string())
}

/// serde-saphyr's message without its own snippet rendering (we attach ours).
fn plain_message(e: &serde_saphyr::Error) -> String {
    let text = e.without_snippet().to_string();
    text.lines().next().unwrap_or_default().trim().to_string()
}

/// The line and column of a spanned YAML node.
pub fn location_of(file: &str, loc: &serde_saphyr::Location) -> Location {
    if loc.line() > 0 {
        Location::at(file, loc.line(), loc.column())
    } else {
        Location::file(file)
    }
}
