#![doc = include_str!("../README.md")]
//!
//! ## Library map
//!
//! `pack` loads and validates rule packs; `engine` compiles them and makes
//! determinations; `charges` evaluates declarative rate schedules; `script`
//! hosts rhai decisions; `determination` is the result and its trace;
//! `render` turns it into text; `review` checks a staff determination against
//! it; `testing` runs a pack's own tests; `api` is
//! the JSON contract shared by the CLI and the wasm module.

pub mod api;
#[cfg(feature = "batch")]
pub mod batch;
pub mod case;
pub mod charges;
pub mod check;
pub mod dates;
pub mod determination;
pub mod diff;
pub mod engine;
pub mod error;
pub mod formulas;
#[cfg(feature = "batch")]
pub mod impact;
pub mod money;
pub mod owrs;
pub mod pack;
pub mod params;
pub mod render;
pub mod replay;
pub mod review;
pub mod script;
#[cfg(feature = "serve")]
pub mod serve;
#[cfg(feature = "synth")]
pub mod synth;
pub mod testing;
mod yaml;

pub use case::Case;
pub use determination::Determination;
pub use engine::{Engine, Options};
pub use error::{Error, ErrorKind, Result};
pub use pack::Pack;
