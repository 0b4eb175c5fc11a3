//! The one interface packs are read through: a folder on disk (CLI), a map of
//! files in memory (wasm, tests), and the Portland pack embedded at build time.

use crate::error::{Error, Location, Result};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A pack's files: relative path (with `/`) -> text.
pub type Files = BTreeMap<String, String>;

/// The name under which the embedded Portland pack can be extended.
pub const EMBEDDED_PORTLAND: &str = "portland";

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/embedded_packs.rs"));
}

/// The embedded Portland pack's files.
pub fn embedded_portland() -> Files {
    embedded::PORTLAND
        .iter()
        .map(|(p, t)| ((*p).to_string(), (*t).to_string()))
        .collect()
}

/// Reads pack files by name and resolves `extends:` names.
pub trait Loader {
    /// The files of the pack called `name`.
    fn files(&self, name: &str) -> Result<Files>;
    /// The name of the pack that `from` extends with `extends: parent`.
    fn resolve(&self, from: &str, parent: &str) -> String;
}

/// Packs given as files in memory; `extends: portland` finds the embedded pack.
#[derive(Debug, Clone, Default)]
pub struct MemoryLoader {
    packs: BTreeMap<String, Files>,
}

impl MemoryLoader {
    /// A loader whose main pack (name `.`) is `files`.
    pub fn new(files: Files) -> Self {
        let mut packs = BTreeMap::new();
        packs.insert(".".to_string(), files);
        MemoryLoader { packs }
    }

    /// Adds another pack that the main pack may extend by name.
    pub fn with_pack(mut self, name: &str, files: Files) -> Self {
        self.packs.insert(name.to_string(), files);
        self
    }
}

impl Loader for MemoryLoader {
    fn files(&self, name: &str) -> Result<Files> {
        if let Some(f) = self.packs.get(name) {
            return Ok(f.clone());
        }
        if name == EMBEDDED_PORTLAND {
            return Ok(embedded_portland());
        }
        Err(Error::pack(
            "ratebook::pack::not_found",
            format!("no pack named `{name}`"),
        ))
    }

    fn resolve(&self, _from: &str, parent: &str) -> String {
        parent.to_string()
    }
}

/// Packs in folders; `extends:` is a path relative to the extending pack, or
/// `portland` for the embedded pack when no such folder exists.
#[derive(Debug, Clone, Default)]
pub struct FolderLoader;

impl Loader for FolderLoader {
    fn files(&self, name: &str) -> Result<Files> {
        if name == EMBEDDED_PORTLAND && !Path::new(name).join("pack.yaml").is_file() {
            return Ok(embedded_portland());
        }
        read_folder(Path::new(name))
    }

    fn resolve(&self, from: &str, parent: &str) -> String {
        let candidate: PathBuf = Path::new(from).join(parent);
        if candidate.join("pack.yaml").is_file() || parent != EMBEDDED_PORTLAND {
            candidate.to_string_lossy().into_owned()
        } else {
            EMBEDDED_PORTLAND.to_string()
        }
    }
}

/// Files a pack may hold; anything else in the folder is ignored.
fn is_pack_file(rel: &str) -> bool {
    rel.ends_with(".yaml") || rel.ends_with(".yml") || rel.ends_with(".rhai") || rel.ends_with(".md")
}

/// Reads every pack file under `dir` (recursively, hidden entries skipped).
pub fn read_folder(dir: &Path) -> Result<Files> {
    if !dir.join("pack.yaml").is_file() {
        return Err(Error::input(
            "ratebook::pack::not_found",
            format!("{} is not a pack folder (no pack.yaml)", dir.display()),
        )
        .at(Location::file(dir.display().to_string())));
    }
    let mut files = Files::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let full = dir.join(&rel);
        let entries = std::fs::read_dir(&full).map_err(|e| io_error(&full, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| io_error(&full, e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue;
            }
            let child = rel.join(&name);
            let ty = entry.file_type().map_err(|e| io_error(&full, e))?;
            if ty.is_dir() {
                stack.push(child);
            } else {
                let key = child.to_string_lossy().replace('\\', "/");
                if is_pack_file(&key) {
                    let bytes = std::fs::read(dir.join(&child)).map_err(|e| io_error(&dir.join(&child), e))?;
                    let text = String::from_utf8(bytes).map_err(|_| {
                        Error::pack("ratebook::pack::not_utf8", format!("{key} is not UTF-8 text"))
                            .at(Location::file(key.clone()))
                    })?;
                    files.insert(key, text);
                }
            }
        }
    }
    Ok(files)
}

fn io_error(path: &Path, e: std::io::Error) -> Error {
    Error::input("ratebook::io", format!("cannot read {}: {e}", path.display()))
        .at(Location::file(path.display().to_string()))
}
