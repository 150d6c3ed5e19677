//! The spool of events for a collector: an NDJSON file and the byte offset up to which its
//! events were delivered, both under a lock file so that several sluice processes of one
//! home (a run, the server) can append while one of them delivers.
//!
//! An event is appended before anyone tries to send it, and the offset moves past it only
//! once the collector took it: events survive a collector that is down and a process that
//! is killed, and go out in the order they were appended. A process killed between the
//! collector's answer and the offset's update sends that one event again next time.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// A spool folder.
#[derive(Debug, Clone)]
pub struct Spool {
    dir: PathBuf,
}

/// One event waiting: its line and the offset just past it.
#[derive(Debug, Clone)]
pub struct Pending {
    /// The event, as a JSON line without its newline.
    pub line: String,
    /// Where the next event starts.
    pub end: u64,
}

impl Spool {
    /// The spool in `dir` (created when first written).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Spool { dir: dir.into() }
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn events(&self) -> PathBuf {
        self.dir.join("events.ndjson")
    }

    fn cursor_path(&self) -> PathBuf {
        self.dir.join("delivered")
    }

    /// The file of events the collector refused (answered 4xx), with its answer.
    pub fn refused_path(&self) -> PathBuf {
        self.dir.join("refused.ndjson")
    }

    /// Holds the spool's lock while `f` runs.
    fn locked<T>(&self, f: impl FnOnce() -> std::io::Result<T>) -> std::io::Result<T> {
        std::fs::create_dir_all(&self.dir)?;
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(self.dir.join("lock"))?;
        lock.lock()?;
        let out = f();
        let _ = lock.unlock();
        out
    }

    /// The lock of the one process that delivers, if no other holds it: held while the
    /// returned file lives.
    pub fn try_deliverer(&self) -> std::io::Result<Option<File>> {
        std::fs::create_dir_all(&self.dir)?;
        let f = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(self.dir.join("deliverer"))?;
        match f.try_lock() {
            Ok(()) => Ok(Some(f)),
            Err(std::fs::TryLockError::WouldBlock) => Ok(None),
            Err(std::fs::TryLockError::Error(e)) => Err(e),
        }
    }

    /// Appends `lines` (events without newlines).
    pub fn append(&self, lines: &[String]) -> std::io::Result<()> {
        if lines.is_empty() {
            return Ok(());
        }
        self.locked(|| {
            let mut f = OpenOptions::new()
                .create(true)
                .append(true)
                .read(true)
                .open(self.events())?;
            let mut buf = Vec::new();
            // A line cut short by a killed process ends here, as a line of its own.
            let len = f.metadata()?.len();
            if len > 0 {
                let mut last = [0u8];
                f.seek(SeekFrom::Start(len - 1))?;
                f.read_exact(&mut last)?;
                if last[0] != b'\n' {
                    buf.push(b'\n');
                }
            }
            for l in lines {
                buf.extend_from_slice(l.as_bytes());
                buf.push(b'\n');
            }
            f.write_all(&buf)?;
            f.flush()
        })
    }

    fn cursor(&self) -> u64 {
        std::fs::read_to_string(self.cursor_path())
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0)
    }

    /// At most `max` events not yet delivered, oldest first.
    pub fn pending(&self, max: usize) -> std::io::Result<Vec<Pending>> {
        self.locked(|| {
            let mut f = match File::open(self.events()) {
                Ok(f) => f,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
                Err(e) => return Err(e),
            };
            let start = self.cursor().min(f.metadata()?.len());
            f.seek(SeekFrom::Start(start))?;
            let mut text = Vec::new();
            f.read_to_end(&mut text)?;
            let mut out = Vec::new();
            let mut at = start;
            for chunk in text.split_inclusive(|&b| b == b'\n') {
                if out.len() == max || chunk.last() != Some(&b'\n') {
                    break;
                }
                at += chunk.len() as u64;
                let line = String::from_utf8_lossy(&chunk[..chunk.len() - 1]).into_owned();
                if !line.trim().is_empty() {
                    out.push(Pending { line, end: at });
                } else if let Some(last) = out.last_mut() {
                    last.end = at;
                }
            }
            Ok(out)
        })
    }

    /// Marks everything before offset `end` delivered; once all is, the file starts again
    /// empty.
    pub fn delivered(&self, end: u64) -> std::io::Result<()> {
        self.locked(|| {
            let len = std::fs::metadata(self.events())
                .map(|m| m.len())
                .unwrap_or(0);
            if end >= len {
                if len > 0 {
                    OpenOptions::new()
                        .write(true)
                        .open(self.events())?
                        .set_len(0)?;
                }
                return write_atomic(&self.cursor_path(), "0");
            }
            write_atomic(&self.cursor_path(), &end.to_string())
        })
    }

    /// Sets aside an event the collector refused, with its answer.
    pub fn refuse(&self, line: &str, answer: &str) -> std::io::Result<()> {
        let mut f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.refused_path())?;
        let record = serde_json::json!({"answer": answer, "event": line});
        writeln!(f, "{record}")
    }

    /// How many events wait.
    pub fn backlog(&self) -> std::io::Result<usize> {
        Ok(self.pending(usize::MAX)?.len())
    }
}

/// Writes `text` to `path` through a temporary file renamed over it.
pub(crate) fn write_atomic(path: &Path, text: &str) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text)?;
    std::fs::rename(tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_wait_in_order_until_delivered_and_a_cut_line_stays_apart() {
        let dir = tempfile::tempdir().expect("test");
        let spool = Spool::new(dir.path().join("s"));
        assert!(spool.pending(10).expect("test").is_empty());
        spool
            .append(&["{\"a\":1}".into(), "{\"a\":2}".into()])
            .expect("test");
        let p = spool.pending(10).expect("test");
        assert_eq!(
            p.iter().map(|p| p.line.as_str()).collect::<Vec<_>>(),
            ["{\"a\":1}", "{\"a\":2}"]
        );
        spool.delivered(p[0].end).expect("test");
        assert_eq!(spool.pending(10).expect("test")[0].line, "{\"a\":2}");
        // A process killed mid-line: the next append starts a new line.
        let mut f = OpenOptions::new()
            .append(true)
            .open(spool.events())
            .expect("test");
        f.write_all(b"{\"cut").expect("test");
        spool.append(&["{\"a\":3}".into()]).expect("test");
        let lines: Vec<String> = spool
            .pending(10)
            .expect("test")
            .into_iter()
            .map(|p| p.line)
            .collect();
        assert_eq!(lines, ["{\"a\":2}", "{\"cut", "{\"a\":3}"]);
        let last = spool.pending(10).expect("test").last().expect("test").end;
        spool.delivered(last).expect("test");
        assert_eq!(std::fs::metadata(spool.events()).expect("test").len(), 0);
        assert_eq!(spool.backlog().expect("test"), 0);
    }

    #[test]
    fn one_process_delivers_at_a_time() {
        let dir = tempfile::tempdir().expect("test");
        let spool = Spool::new(dir.path());
        let held = spool.try_deliverer().expect("test");
        assert!(held.is_some());
        assert!(
            Spool::new(dir.path())
                .try_deliverer()
                .expect("test")
                .is_none()
        );
        drop(held);
        assert!(spool.try_deliverer().expect("test").is_some());
    }
}
