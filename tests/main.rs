//! All integration tests, compiled into one binary (ripgrep's habit).

mod cli;
mod engine;
mod packs;
mod scripts;
