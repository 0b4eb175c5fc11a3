//! WebAssembly bindings: a thin layer over the library's JSON API, so a web
//! page gets the same JSON as the CLI. A `RulePack` is the embedded Portland
//! pack or a pack from a map of files (an edited copy in a playground),
//! compiled once. Errors are thrown as structured objects `{ code, message,
//! help, locations, missing }`, never bare strings. TypeScript declarations
//! for every method and for the case and determination shapes are generated
//! with the bindings (see `TS_TYPES`).

use ratebook::api::{self, DecideRequest};
use ratebook::pack::{Files, MemoryLoader, Pack};
use ratebook::render::Format;
use ratebook::{Engine, Error};
use serde::Deserialize;
use wasm_bindgen::prelude::*;

#[wasm_bindgen(typescript_custom_section)]
const TS_TYPES: &str = r#"
/** A case: the facts a decision is asked about (see the decision's inputs). */
export type Case = Record<string, unknown>;

/** Options of a determination. */
export interface DecideOptions {
  /** The date it is made as of (YYYY-MM-DD); default: the decision's. */
  asOf?: string;
  /** Figures supplied for this evaluation: `PARAM[KEY]@DATE=VALUE`. */
  set?: string[];
}

export interface PackIdent { id: string; version: string; digest: string; }
export interface PackInfo extends PackIdent { title: string; decisions: string[]; }

export interface Line {
  id: string; label: string; quantity: string; unit: string; rate: string;
  amount: string; from: string; to: string; cite: string; source: string; basis?: string;
}
export interface Reason { rule: string; passed: boolean; text: string; cite: string; fix?: string; }
export interface Warning { code: string; message: string; param?: string; }
export interface TraceStep { step: number; kind: string; [field: string]: unknown; }

/** A determination: the same JSON as `ratebook decide --format json`. */
export interface Determination {
  decision: string;
  pack: PackIdent;
  as_of: string;
  outcome: string;
  total?: string;
  lines: Line[];
  outputs: Record<string, unknown>;
  reasons: Reason[];
  trace: TraceStep[];
  warnings: Warning[];
  case?: Case;
  set?: string[];
}

export interface Location { file: string; line?: number; col?: number; field?: string; }
export interface MissingFigure { param: string; key?: string; date: string; source: string; }
/** What every method throws. */
export interface RatebookError {
  code: string; message: string; help?: string;
  locations?: Location[]; missing?: MissingFigure[];
}

export interface TestResult { file: string; name: string; passed: boolean; differences: string[]; }
export interface TestReport { results: TestResult[]; }
export interface CaseOutput { file: string; name: string; output: string; }
export interface RateRow {
  name: string; description: string; unit: string; key?: string;
  [field: string]: unknown;
}
export interface ReviewDifference {
  figure: string; staff: string; ratebook: string; difference?: string;
  first_step?: number; step?: string; cause?: { code: string; explanation: string };
}
export interface Review {
  verdict: "agree" | "disagree"; decision: string; outcome: string; total?: string;
  tolerance: string; differences: ReviewDifference[];
}
"#;

/// Parses JSON text into a JS value (the text itself if it is not JSON).
fn js(text: &str) -> JsValue {
    js_sys::JSON::parse(text).unwrap_or_else(|_| JsValue::from_str(text))
}

/// An error as the object JS code catches.
fn thrown(e: &Error) -> JsValue {
    let envelope = e.to_json();
    js(&envelope.get("error").map(|v| v.to_string()).unwrap_or_default())
}

fn to_js(v: &impl serde::Serialize) -> Result<JsValue, JsValue> {
    serde_json::to_string(v)
        .map(|t| js(&t))
        .map_err(|e| thrown(&Error::input("ratebook::wasm::json", e.to_string())))
}

/// A JS value read as a Rust shape, through JSON.
fn from_js<T: for<'de> Deserialize<'de> + Default>(v: &JsValue, what: &str) -> Result<T, JsValue> {
    if v.is_undefined() || v.is_null() {
        return Ok(T::default());
    }
    let text: String = js_sys::JSON::stringify(v).map(String::from).map_err(|_| {
        thrown(&Error::input(
            "ratebook::wasm::bad_argument",
            format!("{what} is not JSON-like"),
        ))
    })?;
    serde_json::from_str(&text)
        .map_err(|e| thrown(&Error::input("ratebook::wasm::bad_argument", format!("{what}: {e}"))))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct DecideOptions {
    as_of: Option<String>,
    #[serde(default)]
    set: Vec<String>,
}

impl DecideOptions {
    fn as_of(&self) -> Result<Option<ratebook::dates::NaiveDate>, JsValue> {
        match &self.as_of {
            None => Ok(None),
            Some(d) => ratebook::dates::parse_date(d).map(Some).ok_or_else(|| {
                thrown(&Error::input(
                    "ratebook::wasm::bad_argument",
                    format!("asOf `{d}` is not a date (YYYY-MM-DD)"),
                ))
            }),
        }
    }
}

/// A rule pack, compiled once, for every determination the page makes.
#[wasm_bindgen]
pub struct RulePack {
    engine: Engine,
}

#[wasm_bindgen]
impl RulePack {
    /// The City of Portland pack embedded in the module.
    pub fn portland() -> Result<RulePack, JsValue> {
        let pack = Pack::portland().map_err(|e| thrown(&e))?;
        Ok(RulePack {
            engine: Engine::new(pack).map_err(|e| thrown(&e))?,
        })
    }

    /// A pack from a map of files (`{"pack.yaml": "...", "params/water.yaml": "..."}`);
    /// `extends: portland` builds on the embedded pack.
    #[wasm_bindgen(js_name = fromFiles)]
    pub fn from_files(
        #[wasm_bindgen(unchecked_param_type = "Record<string, string>")] files: JsValue,
    ) -> Result<RulePack, JsValue> {
        let files: Files = from_js(&files, "files")?;
        let pack = Pack::load(&MemoryLoader::new(files), ".").map_err(|e| thrown(&e))?;
        Ok(RulePack {
            engine: Engine::new(pack).map_err(|e| thrown(&e))?,
        })
    }

    /// A pack imported from an Open Water Rate Specification file (its
    /// name, for sources, and its text): what `ratebook import owrs` writes.
    /// Its `files()` are that pack's files.
    #[wasm_bindgen(js_name = fromOwrs)]
    pub fn from_owrs(name: &str, text: &str) -> Result<RulePack, JsValue> {
        let imported = ratebook::owrs::import(name, text).map_err(|e| thrown(&e))?;
        let pack = Pack::load(&MemoryLoader::new(imported.files), ".").map_err(|e| thrown(&e))?;
        Ok(RulePack {
            engine: Engine::new(pack).map_err(|e| thrown(&e))?,
        })
    }

    /// The pack's identity, title and decisions.
    #[wasm_bindgen(unchecked_return_type = "PackInfo")]
    pub fn info(&self) -> Result<JsValue, JsValue> {
        let p = self.engine.pack();
        to_js(&serde_json::json!({
            "id": p.ident.id, "version": p.ident.version, "digest": p.ident.digest,
            "title": p.title, "decisions": self.engine.decision_names().collect::<Vec<_>>(),
        }))
    }

    /// The pack's files (to edit a copy and load it with `fromFiles`).
    #[wasm_bindgen(unchecked_return_type = "Record<string, string>")]
    pub fn files(&self) -> Result<JsValue, JsValue> {
        to_js(&self.engine.pack().files)
    }

    /// A determination, as an object.
    #[wasm_bindgen(unchecked_return_type = "Determination")]
    pub fn decide(
        &self,
        decision: &str,
        case_text: &str,
        #[wasm_bindgen(unchecked_param_type = "DecideOptions | undefined")] options: JsValue,
    ) -> Result<JsValue, JsValue> {
        Ok(js(&self.render(decision, case_text, &options, Format::Json)?))
    }

    /// A determination as JSON text, the same bytes as `ratebook decide --format json`.
    #[wasm_bindgen(js_name = decideJson)]
    pub fn decide_json(
        &self,
        decision: &str,
        case_text: &str,
        #[wasm_bindgen(unchecked_param_type = "DecideOptions | undefined")] options: JsValue,
    ) -> Result<String, JsValue> {
        self.render(decision, case_text, &options, Format::Json)
    }

    /// A determination explained: `text`, `markdown` or `letter` (plain
    /// language for the customer, with the citations).
    pub fn explain(
        &self,
        decision: &str,
        case_text: &str,
        #[wasm_bindgen(unchecked_param_type = "\"text\" | \"markdown\" | \"letter\"")] format: &str,
        #[wasm_bindgen(unchecked_param_type = "DecideOptions | undefined")] options: JsValue,
    ) -> Result<String, JsValue> {
        let f = match Format::parse(format) {
            Some(f) if f != Format::Json => f,
            _ => {
                return Err(thrown(&Error::input(
                    "ratebook::wasm::bad_argument",
                    format!("format `{format}` is not text, markdown or letter"),
                )));
            }
        };
        self.render(decision, case_text, &options, f)
    }

    /// Runs the pack's own tests.
    #[wasm_bindgen(unchecked_return_type = "TestReport")]
    pub fn test(&self, filter: Option<String>) -> Result<JsValue, JsValue> {
        let report = ratebook::testing::run(self.engine.pack(), filter.as_deref()).map_err(|e| thrown(&e))?;
        to_js(&report)
    }

    /// Every test case's determination as JSON text (to check this build
    /// against the native one, byte for byte).
    #[wasm_bindgen(js_name = testDeterminations, unchecked_return_type = "CaseOutput[]")]
    pub fn test_determinations(&self) -> Result<JsValue, JsValue> {
        to_js(&ratebook::testing::determinations(self.engine.pack()).map_err(|e| thrown(&e))?)
    }

    /// The rate sheet in force on a date (every dated value without one),
    /// for the parameters whose names start with `name`.
    #[wasm_bindgen(unchecked_return_type = "RateRow[]")]
    pub fn params(&self, at: Option<String>, name: Option<String>) -> Result<JsValue, JsValue> {
        let at = match at.as_deref() {
            None | Some("") => None,
            Some(d) => Some(ratebook::dates::parse_date(d).ok_or_else(|| {
                thrown(&Error::input(
                    "ratebook::wasm::bad_argument",
                    format!("`{d}` is not a date (YYYY-MM-DD)"),
                ))
            })?),
        };
        to_js(&api::rate_sheet(self.engine.pack(), at, name.as_deref()))
    }

    /// Checks what staff determined (a claim, YAML or JSON) against the
    /// determination: agree, or each differing figure with its likely cause.
    #[wasm_bindgen(unchecked_return_type = "Review")]
    pub fn review(
        &self,
        decision: &str,
        case_text: &str,
        claim_text: &str,
        tolerance: Option<String>,
    ) -> Result<JsValue, JsValue> {
        let claim = ratebook::review::Claim::parse("claim", claim_text).map_err(|e| thrown(&e))?;
        let case = ratebook::Case::parse("case", case_text).map_err(|e| thrown(&e))?;
        let det = self
            .engine
            .decide(decision, &case, &ratebook::Options::default())
            .map_err(|e| thrown(&e))?;
        let tolerance = match tolerance.as_deref() {
            None | Some("") => Default::default(),
            Some(t) => ratebook::money::parse_decimal(t).ok_or_else(|| {
                thrown(&Error::input(
                    "ratebook::wasm::bad_argument",
                    format!("tolerance `{t}` is not an amount"),
                ))
            })?,
        };
        to_js(&ratebook::review::review(&det, &claim, tolerance))
    }
}

impl RulePack {
    fn render(&self, decision: &str, case_text: &str, options: &JsValue, format: Format) -> Result<String, JsValue> {
        let opts: DecideOptions = from_js(options, "options")?;
        let req = DecideRequest {
            decision,
            case_text,
            case_name: "case",
            as_of: opts.as_of()?,
            set: &opts.set,
        };
        api::decide(&self.engine, &req, format).map_err(|e| thrown(&e))
    }
}
