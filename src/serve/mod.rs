//! `ratebook serve`: the HTTP API for billing systems (axum on tokio).
//!
//! The same JSON as the CLI: a determination or the error envelope, with
//! the status saying which (400 bad case, 401 no or wrong token, 404
//! unknown pack or decision, 413 too large, 422 missing figures, 503 the
//! evaluation time limit or the audit log; 500 only for a broken pack).
//! Every determination served is in the decision log ([`audit`]) before
//! its response is sent. The OpenAPI document is made from the handlers'
//! annotations ([`openapi`]) and committed as `docs/openapi.json`.
//!
//! Packs are loaded whole, then swapped in at once (`POST /v1/reload`,
//! SIGHUP): a request runs on the packs it started with, and a pack that
//! fails to load is never served.

pub mod audit;
mod routes;
pub mod schema;

use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::pack::{FolderLoader, Pack};
use audit::AuditLog;
use indexmap::IndexMap;
use sha2::{Digest, Sha256};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

pub use routes::{openapi, router};

/// Where a served pack comes from.
#[derive(Debug, Clone)]
pub enum PackSource {
    /// The Portland pack built into the binary.
    Embedded,
    /// A pack folder, read again on every reload.
    Folder(PathBuf),
}

/// Request limits.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest request body, in bytes (413 beyond).
    pub max_body: usize,
    /// Most cases in one batch request (413 beyond).
    pub max_batch: usize,
    /// Wall-clock limit of one request's evaluation (503 beyond).
    pub time_limit: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body: 4 << 20,
            max_batch: 1000,
            time_limit: Duration::from_secs(2),
        }
    }
}

/// How to serve.
#[derive(Debug, Clone)]
pub struct Config {
    pub addr: SocketAddr,
    pub packs: Vec<PackSource>,
    pub audit_log: PathBuf,
    /// Bearer tokens: `(principal, token)`. Required to listen beyond
    /// loopback; when given, every endpoint but health and the OpenAPI
    /// document needs one.
    pub tokens: Vec<(String, String)>,
    pub limits: Limits,
}

/// The packs served, by id, each with its engine.
pub struct Served {
    pub engines: IndexMap<String, Arc<Engine>>,
    /// Engines with the figures as known on a date (`known_at`), built on
    /// first use; dropped with these packs on reload.
    known_at: std::sync::Mutex<std::collections::HashMap<(String, chrono::NaiveDate), Arc<Engine>>>,
}

/// Most `known_at` engines kept (a new one past this empties the cache).
const MAX_KNOWN_AT: usize = 64;

impl Served {
    /// Loads every source; fails (serving nothing new) if any fails or two
    /// packs share an id.
    pub fn load(sources: &[PackSource]) -> Result<Served> {
        let mut engines = IndexMap::new();
        for source in sources {
            let pack = match source {
                PackSource::Embedded => Pack::portland()?,
                PackSource::Folder(dir) => Pack::load(&FolderLoader, &dir.to_string_lossy())?,
            };
            let id = pack.ident.id.clone();
            if engines.contains_key(&id) {
                return Err(Error::input(
                    "ratebook::serve::duplicate_pack",
                    format!("two packs have the id `{id}`; each served pack needs its own id"),
                ));
            }
            engines.insert(id, Arc::new(Engine::new(pack)?));
        }
        Ok(Served {
            engines,
            known_at: Default::default(),
        })
    }

    /// The engine of `pack`, or the error naming the packs there are; with
    /// `known_at`, the engine with the figures as known on that date.
    pub fn engine(&self, pack: &str, known_at: Option<chrono::NaiveDate>) -> Result<Arc<Engine>> {
        let engine = self.engines.get(pack).ok_or_else(|| {
            Error::input(
                "ratebook::serve::unknown_pack",
                format!(
                    "there is no pack `{pack}` here; the packs served are {}",
                    self.engines
                        .keys()
                        .map(|k| format!("`{k}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )
        })?;
        let Some(date) = known_at else {
            return Ok(engine.clone());
        };
        let key = (pack.to_string(), date);
        let cached = self.known_at.lock().ok().and_then(|c| c.get(&key).cloned());
        if let Some(e) = cached {
            return Ok(e);
        }
        let built = Arc::new(Engine::known_at(engine.pack().clone(), &[], date)?);
        if let Ok(mut cache) = self.known_at.lock() {
            if cache.len() >= MAX_KNOWN_AT {
                cache.clear();
            }
            cache.insert(key, built.clone());
        }
        Ok(built)
    }
}

/// A token's holder, as the audit log names them.
#[derive(Debug, Clone)]
pub struct Principal(pub Option<Arc<str>>);

/// The server's shared state.
pub struct State {
    served: RwLock<Arc<Served>>,
    sources: Vec<PackSource>,
    reloading: tokio::sync::Mutex<()>,
    audit: AuditLog,
    /// `(principal, sha256 of the token)`.
    tokens: Vec<(Arc<str>, [u8; 32])>,
    limits: Limits,
}

impl State {
    /// State for serving `served`, logging to `audit`.
    pub fn new(
        served: Served,
        sources: Vec<PackSource>,
        audit: AuditLog,
        tokens: &[(String, String)],
        limits: Limits,
    ) -> State {
        State {
            served: RwLock::new(Arc::new(served)),
            sources,
            reloading: tokio::sync::Mutex::new(()),
            audit,
            tokens: tokens
                .iter()
                .map(|(who, token)| (Arc::from(who.as_str()), token_digest(token)))
                .collect(),
            limits,
        }
    }

    /// The packs as they are now (a request keeps these to its end).
    pub fn served(&self) -> Arc<Served> {
        match self.served.read() {
            Ok(s) => s.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Loads every pack again and swaps them in at once; on failure the
    /// packs served stay as they were.
    pub async fn reload(&self) -> Result<Arc<Served>> {
        let _one_at_a_time = self.reloading.lock().await;
        let sources = self.sources.clone();
        let loaded = tokio::task::spawn_blocking(move || Served::load(&sources))
            .await
            .map_err(|e| Error::pack("ratebook::serve::reload", format!("the reload stopped: {e}")))??;
        let loaded = Arc::new(loaded);
        match self.served.write() {
            Ok(mut s) => *s = loaded.clone(),
            Err(poisoned) => *poisoned.into_inner() = loaded.clone(),
        }
        Ok(loaded)
    }

    /// Who holds this bearer token, if anyone.
    fn principal_of(&self, token: &str) -> Option<Arc<str>> {
        let digest = token_digest(token);
        self.tokens
            .iter()
            .find(|(_, d)| constant_time_eq(d, &digest))
            .map(|(who, _)| who.clone())
    }

    /// Commits what the audit log has queued; the server has stopped.
    pub fn close(self) {
        self.audit.close();
    }
}

fn token_digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

fn constant_time_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Reads a tokens file: one `PRINCIPAL TOKEN` per line, `#` comments.
pub fn read_tokens(path: &Path) -> Result<Vec<(String, String)>> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::input("ratebook::serve::tokens", format!("cannot read {name}: {e}")))?;
    let mut tokens = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let at = crate::error::Location::at(&name, i as u64 + 1, 1);
        let mut parts = line.split_whitespace();
        match (parts.next(), parts.next(), parts.next()) {
            (Some(who), Some(token), None) if token.len() >= 16 => tokens.push((who.to_string(), token.to_string())),
            (Some(_), Some(_), None) => {
                return Err(Error::input(
                    "ratebook::serve::tokens",
                    format!("{name}:{}: the token is shorter than 16 characters", i + 1),
                )
                .at(at));
            }
            _ => {
                return Err(Error::input(
                    "ratebook::serve::tokens",
                    format!("{name}:{}: expected `PRINCIPAL TOKEN`", i + 1),
                )
                .at(at));
            }
        }
    }
    if tokens.is_empty() {
        return Err(Error::input(
            "ratebook::serve::tokens",
            format!("{name} holds no tokens"),
        ));
    }
    Ok(tokens)
}

/// Serves until SIGINT or SIGTERM, then finishes the requests in flight
/// and commits the audit log. SIGHUP reloads the packs. `ready` is told the
/// address listened on (the port, when `addr` asks for port 0).
pub async fn run(config: Config, ready: impl FnOnce(SocketAddr, &audit::Opened, &Served)) -> Result<()> {
    if !config.addr.ip().is_loopback() && config.tokens.is_empty() {
        return Err(Error::input(
            "ratebook::serve::needs_tokens",
            format!(
                "refusing to listen on {} without bearer tokens: beyond loopback every request must say who it is",
                config.addr
            ),
        )
        .with_help("give --tokens FILE (one `PRINCIPAL TOKEN` per line), or listen on 127.0.0.1"));
    }
    let sources = config.packs.clone();
    let served = tokio::task::spawn_blocking(move || Served::load(&sources))
        .await
        .map_err(|e| Error::pack("ratebook::serve::load", format!("loading the packs stopped: {e}")))??;
    let (audit, opened) = AuditLog::open(&config.audit_log)?;
    let listener = tokio::net::TcpListener::bind(config.addr).await.map_err(|e| {
        Error::input(
            "ratebook::serve::bind",
            format!("cannot listen on {}: {e}", config.addr),
        )
    })?;
    let addr = listener.local_addr().map_err(|e| {
        Error::input(
            "ratebook::serve::bind",
            format!("cannot listen on {}: {e}", config.addr),
        )
    })?;
    ready(addr, &opened, &served);
    let state = Arc::new(State::new(served, config.packs, audit, &config.tokens, config.limits));
    let app = router(state.clone()).into_make_service_with_connect_info::<SocketAddr>();
    let reloader = tokio::spawn(reload_on_hangup(state.clone()));
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await;
    reloader.abort();
    let _ = reloader.await;
    served.map_err(|e| Error::input("ratebook::serve::io", format!("the server stopped: {e}")))?;
    match Arc::try_unwrap(state) {
        Ok(state) => state.close(),
        // A handler still holds the state: dropping the last reference
        // commits the log all the same.
        Err(state) => drop(state),
    }
    Ok(())
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

async fn reload_on_hangup(state: Arc<State>) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let Ok(mut hup) = signal(SignalKind::hangup()) else {
            return;
        };
        while hup.recv().await.is_some() {
            match state.reload().await {
                Ok(served) => eprintln!(
                    "ratebook serve: reloaded {}",
                    served
                        .engines
                        .values()
                        .map(|e| format!("{} {}", e.pack().ident.id, e.pack().ident.version))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                Err(e) => eprintln!("ratebook serve: reload failed, still serving the packs loaded before: {e}"),
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = state;
    }
}
