//! All integration tests, compiled into one binary (ripgrep's habit).
// Tests may unwrap, expect and index: a failure there is the test failing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod bad_inputs;
mod batch;
mod cli;
mod decisions;
mod engine;
mod impact;
mod invariants;
mod owrs;
mod packs;
mod review;
mod scripts;
mod serve;
