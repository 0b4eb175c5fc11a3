//! The decision log: one JSON line per determination served, appended to a
//! file by one writer thread that commits in groups. A request's entry is
//! written and `fdatasync`ed before its response is sent, so a crash loses
//! nothing already acknowledged; under load, every entry waiting when a
//! commit starts shares its one sync (group commit).
//!
//! Entries are numbered (`seq`) in file order, continuing across restarts
//! from the last entry in the file. A torn last line (a write the crash cut
//! short, which was never acknowledged) is cut off when the log is opened.

use crate::error::{Error, Result};
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// Entries one commit writes at most (the rest wait for the next).
const MAX_GROUP: usize = 4096;
/// The least time between the starts of two commits while entries keep
/// coming (a lone entry after a quiet spell is committed at once).
const COMMIT_EVERY: Duration = Duration::from_micros(1500);
/// How far back from the end the last entry is looked for.
const TAIL_WINDOW: u64 = 8 << 20;

/// An entry waiting to be written: its JSON object without `seq`.
struct Pending {
    json: Vec<u8>,
    done: oneshot::Sender<std::result::Result<u64, String>>,
}

/// The open decision log. Dropping it (or [`AuditLog::close`]) lets the
/// writer commit what is queued and stop.
pub struct AuditLog {
    path: PathBuf,
    queue: Option<mpsc::Sender<Pending>>,
    writer: Option<JoinHandle<()>>,
}

/// What opening the log found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opened {
    /// The `seq` the next entry gets.
    pub next_seq: u64,
    /// Bytes of a torn last line cut off (0 when the file was whole).
    pub cut_bytes: u64,
}

impl AuditLog {
    /// Opens (or creates) the log at `path` and starts its writer.
    pub fn open(path: &Path) -> Result<(AuditLog, Opened)> {
        let io = |what: &str, e: std::io::Error| {
            Error::input(
                "ratebook::serve::audit_log",
                format!("cannot {what} the audit log {}: {e}", path.display()),
            )
        };
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(path)
            .map_err(|e| io("open", e))?;
        let opened = recover(&mut file).map_err(|e| io("read", e))?;
        let (queue, rx) = mpsc::channel();
        let mut seq = opened.next_seq;
        let writer = std::thread::Builder::new()
            .name("ratebook-audit".into())
            .spawn(move || write_loop(file, rx, &mut seq))
            .map_err(|e| io("start the writer of", e))?;
        Ok((
            AuditLog {
                path: path.to_path_buf(),
                queue: Some(queue),
                writer: Some(writer),
            },
            opened,
        ))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Queues an entry (a JSON object, without `seq`) and returns a
    /// receiver that yields its `seq` once it is durably written.
    pub fn append(&self, json: Vec<u8>) -> oneshot::Receiver<std::result::Result<u64, String>> {
        let (done, rx) = oneshot::channel();
        if let Some(queue) = &self.queue
            && let Err(mpsc::SendError(p)) = queue.send(Pending { json, done })
        {
            let _ = p.done.send(Err("the audit log writer has stopped".into()));
        }
        rx
    }

    /// Commits what is queued and stops the writer.
    pub fn close(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        self.queue = None;
        if let Some(w) = self.writer.take() {
            let _ = w.join();
        }
    }
}

impl Drop for AuditLog {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Finds the last entry's `seq` and cuts off a torn last line.
fn recover(file: &mut File) -> std::io::Result<Opened> {
    let len = file.metadata()?.len();
    if len == 0 {
        return Ok(Opened {
            next_seq: 1,
            cut_bytes: 0,
        });
    }
    let start = len.saturating_sub(TAIL_WINDOW);
    file.seek(SeekFrom::Start(start))?;
    let mut tail = Vec::new();
    file.read_to_end(&mut tail)?;
    let whole = tail.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    let cut_bytes = (tail.len() - whole) as u64;
    if cut_bytes > 0 {
        file.set_len(start + whole as u64)?;
        file.sync_data()?;
    }
    let complete = tail.get(..whole).unwrap_or_default();
    let last = complete
        .strip_suffix(b"\n")
        .unwrap_or(complete)
        .rsplit(|&b| b == b'\n')
        .next()
        .unwrap_or_default();
    let last_seq = serde_json::from_slice::<serde_json::Value>(last)
        .ok()
        .and_then(|v| v.get("seq").and_then(serde_json::Value::as_u64))
        .unwrap_or(0);
    Ok(Opened {
        next_seq: last_seq + 1,
        cut_bytes,
    })
}

fn write_loop(mut file: File, queue: mpsc::Receiver<Pending>, seq: &mut u64) {
    let mut group: Vec<Pending> = Vec::new();
    let mut buf: Vec<u8> = Vec::new();
    let mut last_commit = Instant::now();
    while let Ok(first) = queue.recv() {
        group.push(first);
        // Under load, let entries gather until COMMIT_EVERY after the last
        // commit began: fewer, larger syncs (each costs the same). Sleeping
        // rather than waiting on the queue spares every sender a wake-up.
        let wait = (last_commit + COMMIT_EVERY).saturating_duration_since(Instant::now());
        if !wait.is_zero() {
            std::thread::sleep(wait);
        }
        while group.len() < MAX_GROUP {
            match queue.try_recv() {
                Ok(p) => group.push(p),
                Err(_) => break,
            }
        }
        last_commit = Instant::now();
        buf.clear();
        let first_seq = *seq;
        for p in &group {
            // `{...}` becomes `{"seq":N,...}`.
            buf.extend_from_slice(format!("{{\"seq\":{},", *seq).as_bytes());
            buf.extend_from_slice(p.json.get(1..).unwrap_or_default());
            buf.push(b'\n');
            *seq += 1;
        }
        let committed = commit(&mut file, &buf);
        if committed.is_err() {
            *seq = first_seq;
        }
        for (i, p) in group.drain(..).enumerate() {
            let _ = p.done.send(match &committed {
                Ok(()) => Ok(first_seq + i as u64),
                Err(e) => Err(e.clone()),
            });
        }
    }
}

/// Appends and syncs; on failure, takes the partial write back out so the
/// file holds only acknowledged entries.
fn commit(file: &mut File, buf: &[u8]) -> std::result::Result<(), String> {
    let before = file.metadata().map_err(|e| e.to_string())?.len();
    match file.write_all(buf).and_then(|()| file.sync_data()) {
        Ok(()) => Ok(()),
        Err(e) => {
            let _ = file.set_len(before);
            Err(e.to_string())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("ratebook-audit-{}-{name}", std::process::id()));
        let _ = std::fs::remove_file(&dir);
        dir
    }

    #[test]
    fn numbers_entries_and_continues_after_a_restart() -> std::result::Result<(), Box<dyn std::error::Error>> {
        let path = temp("restart");
        let (log, opened) = AuditLog::open(&path)?;
        assert_eq!(opened.next_seq, 1);
        let a = log.append(br#"{"a":1}"#.to_vec());
        let b = log.append(br#"{"b":2}"#.to_vec());
        assert_eq!(a.blocking_recv()?, Ok(1));
        assert_eq!(b.blocking_recv()?, Ok(2));
        log.close();
        assert_eq!(
            std::fs::read_to_string(&path)?,
            "{\"seq\":1,\"a\":1}\n{\"seq\":2,\"b\":2}\n"
        );
        let (log, opened) = AuditLog::open(&path)?;
        assert_eq!(opened.next_seq, 3);
        assert_eq!(log.append(br#"{"c":3}"#.to_vec()).blocking_recv()?, Ok(3));
        log.close();
        std::fs::remove_file(&path)?;
        Ok(())
    }

    #[test]
    fn cuts_a_torn_last_line() -> std::result::Result<(), Box<dyn std::error::Error>> {
        let path = temp("torn");
        std::fs::write(&path, "{\"seq\":7,\"a\":1}\n{\"seq\":8,\"b\"")?;
        let (log, opened) = AuditLog::open(&path)?;
        assert_eq!(
            opened,
            Opened {
                next_seq: 8,
                cut_bytes: 12
            }
        );
        assert_eq!(log.append(br#"{"c":3}"#.to_vec()).blocking_recv()?, Ok(8));
        log.close();
        assert_eq!(
            std::fs::read_to_string(&path)?,
            "{\"seq\":7,\"a\":1}\n{\"seq\":8,\"c\":3}\n"
        );
        std::fs::remove_file(&path)?;
        Ok(())
    }
}
