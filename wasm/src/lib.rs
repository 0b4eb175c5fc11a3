//! WebAssembly bindings: glue over `ratebook::api`, the same JSON as the CLI.
//! Errors cross as the JSON error envelope (code, message, help, locations,
//! missing), never as bare strings. The full web API is its own piece of work;
//! this is the part the foundation needs: the embedded pack and `decide`.

use ratebook::api::{self, DecideRequest};
use ratebook::render::Format;
use ratebook::{Engine, Pack};
use std::sync::OnceLock;
use wasm_bindgen::prelude::*;

/// The embedded pack's engine, built on first use and kept.
fn portland() -> Result<&'static Engine, JsValue> {
    static ENGINE: OnceLock<Result<Engine, ratebook::Error>> = OnceLock::new();
    ENGINE
        .get_or_init(|| Pack::portland().and_then(Engine::new))
        .as_ref()
        .map_err(error_value)
}

fn error_value(e: &ratebook::Error) -> JsValue {
    JsValue::from_str(&api::error_json(e))
}

/// Decides a case (YAML or JSON text) on the embedded Portland pack and
/// returns the determination as JSON text. Throws the JSON error envelope.
#[wasm_bindgen]
pub fn decide(decision: &str, case_text: &str) -> Result<String, JsValue> {
    let req = DecideRequest {
        decision,
        case_text,
        case_name: "case",
        as_of: None,
        set: &[],
    };
    api::decide(portland()?, &req, Format::Json).map_err(|e| error_value(&e))
}

/// The embedded pack's identity: `{ id, version, digest }` as JSON text.
#[wasm_bindgen]
pub fn pack_info() -> Result<String, JsValue> {
    serde_json_text(&portland()?.pack().ident)
}

fn serde_json_text(v: &impl serde::Serialize) -> Result<String, JsValue> {
    serde_json::to_string(v).map_err(|e| JsValue::from_str(&e.to_string()))
}
