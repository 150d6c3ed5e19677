//! What an op gets when it runs: identity, working directory, environment, log, cancellation.

use std::fs::File;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use tokio_util::sync::CancellationToken;

/// See [`TaskContext::on_spawn`].
pub type OnSpawn = Arc<dyn Fn(u32) -> futures_util::future::BoxFuture<'static, ()> + Send + Sync>;

/// Receives each log line as it is written, with the task name (for `--stream`).
pub type Echo = Arc<dyn Fn(&str, &str) + Send + Sync>;

/// Told how far an op is: `(done, total)` in the op's unit (rows for `embed`).
pub type ProgressFn = Arc<dyn Fn(u64, u64) + Send + Sync>;

/// The context of one attempt.
pub struct TaskContext {
    /// Pipeline name.
    pub pipeline: String,
    /// Run id.
    pub run_id: String,
    /// Task name.
    pub task: String,
    /// Attempt number, from 1.
    pub attempt: u32,
    /// Directory the task runs in (the pipeline file's directory).
    pub workdir: PathBuf,
    /// Environment variables to add for commands.
    pub env: Vec<(String, String)>,
    /// The attempt's log.
    pub log: TaskLog,
    /// Fires on timeout or when the user stops the run.
    pub cancel: CancellationToken,
    /// Told the process group id of each command the op starts, to stop it after a crash;
    /// the command's own work waits until the returned future resolves.
    pub on_spawn: Option<OnSpawn>,
    /// Dataset folders of the upstream tasks the op reads, by task name.
    pub inputs: std::collections::BTreeMap<String, PathBuf>,
    /// Where to write the op's dataset, for ops that produce one.
    pub output: Option<crate::DatasetTarget>,
    /// The task's latest dataset before this run and what the op kept with it, for ops
    /// that work incrementally (reuse what did not change, send validators to a server).
    pub previous: Option<Previous>,
    /// The task's own versions that an alias names (`champion`), by alias, for ops that
    /// compare a new result with them ([`crate::OpOutput::aliases`] moves them).
    pub aliases: std::collections::BTreeMap<String, Previous>,
    /// A folder kept across runs for the files the task downloads
    /// (`<warehouse>/<pipeline>/<task>/raw`); the op creates it when it needs it.
    pub raw_dir: PathBuf,
    /// The folder of row-level caches shared by every pipeline (`<warehouse>/.cache`), such as
    /// `embed`'s vectors by model and text.
    pub cache_dir: PathBuf,
    /// Where an op that knows its amount of work reports progress (a bar with rate and time
    /// left in `sluice run`'s live view).
    pub progress: Option<ProgressFn>,
}

impl TaskContext {
    /// A context for tests of ops: task `task` of run `r` of pipeline `p`, working and logging
    /// (`t.log`) in `dir`, with nothing upstream and no dataset to write.
    pub fn for_test(dir: &Path, task: &str) -> TaskContext {
        TaskContext {
            pipeline: "p".into(),
            run_id: "r".into(),
            task: task.into(),
            attempt: 1,
            workdir: dir.to_path_buf(),
            env: vec![],
            log: TaskLog::new(dir.join("t.log"), vec![], None),
            cancel: CancellationToken::new(),
            on_spawn: None,
            inputs: Default::default(),
            output: None,
            previous: None,
            aliases: Default::default(),
            raw_dir: dir.join("raw"),
            cache_dir: dir.join("cache"),
            progress: None,
        }
    }
}

/// A dataset version of the task itself: the latest before the current run, or one an alias
/// names.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Previous {
    /// Its version id.
    pub version: String,
    /// Its folder.
    pub dir: PathBuf,
    /// What the op returned in [`crate::OpOutput::state`] when it wrote it.
    pub state: Option<serde_json::Value>,
}

impl TaskContext {
    /// The dataset folder of upstream task `name`.
    pub fn input(&self, name: &str) -> Result<&Path, crate::OpError> {
        self.inputs.get(name).map(PathBuf::as_path).ok_or_else(|| {
            crate::OpError::internal(format!(
                "no dataset of task `{name}` is available to this task"
            ))
        })
    }

    /// Where to write this task's dataset.
    pub fn output(&self) -> Result<&crate::DatasetTarget, crate::OpError> {
        self.output.as_ref().ok_or_else(|| {
            crate::OpError::internal("this task has no dataset folder to write into")
        })
    }
}

/// The per-attempt log file. Created on the first line; secrets are masked before writing.
/// Clones share the same file.
#[derive(Clone)]
pub struct TaskLog {
    inner: Arc<LogInner>,
}

struct LogInner {
    path: PathBuf,
    file: Mutex<Option<File>>,
    secrets: Vec<String>,
    echo: Option<(String, Echo)>,
}

/// What to mask: each secret, and each long line of a multi-line secret (a PEM key is
/// written line by line). Longest first, so a secret containing another is masked whole.
fn mask_patterns(secrets: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for s in secrets {
        if s.contains('\n') {
            out.extend(
                s.lines()
                    .map(str::trim)
                    .filter(|l| l.len() >= 8)
                    .map(String::from),
            );
        } else if s.len() >= 3 {
            out.push(s);
        }
    }
    out.sort_by_key(|s| std::cmp::Reverse(s.len()));
    out.dedup();
    out
}

/// Masks `secrets` (longest first) and the credentials of URLs in `text`.
pub fn redact_with(secrets: &[String], text: &str) -> String {
    let mut out = redact_urls(text);
    for s in secrets {
        if out.contains(s.as_str()) {
            out = out.replace(s.as_str(), "***");
        }
    }
    out
}

/// Masks the user information (`user:password@`) and the query string of every URL in
/// `text`: both often carry credentials (`?api_key=…`, `postgres://u:pw@host`).
pub fn redact_urls(text: &str) -> String {
    if !text.contains("://") {
        return text.to_string();
    }
    let ends = |c: char| c.is_whitespace() || "\"'<>`".contains(c);
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find("://") {
        let (before, after) = rest.split_at(pos + 3);
        out.push_str(before);
        let mut end = after.find(ends).unwrap_or(after.len());
        // A password may hold a quote or `<>` (`postgres://bob:it's@db`): the credentials run
        // to the last `@` before the first `/`, `?`, `#` or space, past such a character.
        let authority = after
            .find(|c: char| c.is_whitespace() || "/?#".contains(c))
            .unwrap_or(after.len());
        if let Some(at) = after[..authority].rfind('@')
            && at > end
        {
            end = at + 1 + after[at + 1..].find(ends).unwrap_or(after.len() - at - 1);
        }
        let (url, tail) = after.split_at(end);
        let authority_end = url.find(['/', '?', '#']).unwrap_or(url.len());
        let (authority, path) = url.split_at(authority_end);
        match authority.rfind('@') {
            Some(at) => {
                out.push_str("***");
                out.push_str(&authority[at..]);
            }
            None => out.push_str(authority),
        }
        match path.find('?') {
            Some(q) => {
                out.push_str(&path[..q]);
                out.push_str("?***");
                if let Some(h) = path[q..].find('#') {
                    out.push_str(&path[q + h..]);
                }
            }
            None => out.push_str(path),
        }
        rest = tail;
    }
    out.push_str(rest);
    out
}

impl TaskLog {
    /// A log at `path` masking `secrets`; `echo` also receives every line.
    pub fn new(path: PathBuf, secrets: Vec<String>, echo: Option<(String, Echo)>) -> Self {
        TaskLog {
            inner: Arc::new(LogInner {
                path,
                file: Mutex::new(None),
                secrets: mask_patterns(secrets),
                echo,
            }),
        }
    }

    /// The log file's path (it exists once a line was written).
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Masks every secret in `line`, and the user information and query string of every URL
    /// in it (`https://***@host/path?***`).
    pub fn redact(&self, line: &str) -> String {
        redact_with(&self.inner.secrets, line)
    }

    /// Where to cut a long line of `buf` (at least `min` bytes kept before the cut) so that
    /// no secret spans the cut: the pieces are masked one by one.
    pub fn safe_cut(&self, buf: &[u8], min: usize) -> usize {
        let longest = self.inner.secrets.first().map_or(0, String::len);
        let mut cut = buf.len().saturating_sub(longest.saturating_sub(1)).max(min);
        // Move the cut before any secret it would split; each move goes left, so this ends.
        loop {
            let spanning = self.inner.secrets.iter().find_map(|s| {
                let s = s.as_bytes();
                let lo = cut.saturating_sub(s.len() - 1);
                (lo..cut).find(|&p| p + s.len() > cut && buf[p..].starts_with(s))
            });
            match spanning {
                Some(p) if p > 0 => cut = p,
                _ => break,
            }
        }
        cut
    }

    /// Appends one line (a newline is added).
    pub fn line(&self, line: &str) -> std::io::Result<()> {
        let line = self.redact(line.trim_end_matches(['\n', '\r']));
        if let Some((task, echo)) = &self.inner.echo {
            echo(task, &line);
        }
        let mut guard = self.inner.file.lock().unwrap_or_else(|e| e.into_inner());
        if guard.is_none() {
            if let Some(dir) = self.inner.path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            *guard = Some(
                File::options()
                    .create(true)
                    .append(true)
                    .open(&self.inner.path)?,
            );
        }
        match guard.as_mut() {
            Some(f) => writeln!(f, "{line}"),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_secrets_and_creates_file_lazily() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("a/b/1.log");
        let log = TaskLog::new(path.clone(), vec!["hunter2".into(), "x".into()], None);
        assert!(!path.exists());
        log.line("password=hunter2 x").expect("write");
        assert_eq!(
            std::fs::read_to_string(&path).expect("read"),
            "password=*** x\n"
        );
    }

    #[test]
    fn urls_lose_their_credentials_and_query() {
        assert_eq!(
            redact_urls(
                "GET https://u:pw@h.example/a/b?key=s3cr3t&x=1#frag failed; see postgres://bob:hunter2@db:5432/x"
            ),
            "GET https://***@h.example/a/b?***#frag failed; see postgres://***@db:5432/x"
        );
        assert_eq!(redact_urls("no url here"), "no url here");
        assert_eq!(redact_urls("'http://h/p'"), "'http://h/p'");
        // A password holding a quote or an angle bracket is masked whole.
        assert_eq!(
            redact_urls("psql 'postgres://bob:it's<pw>@db:5432/x' failed"),
            "psql 'postgres://***@db:5432/x' failed"
        );
        assert_eq!(
            redact_urls("see \"http://u:a\"b@h/p\" and 'http://h/q'"),
            "see \"http://***@h/p\" and 'http://h/q'"
        );
    }

    #[test]
    fn a_long_line_is_never_cut_inside_a_secret() {
        let secret = "s3cr3t-token-value";
        let log = TaskLog::new(PathBuf::from("/nonexistent"), vec![secret.into()], None);
        let mut buf = vec![b'a'; 100];
        // The secret straddles every naive cut from 95 to 100.
        buf.splice(90..90, secret.bytes());
        let cut = log.safe_cut(&buf, 10);
        assert!(cut <= 90, "{cut}");
        let (head, tail) = buf.split_at(cut);
        assert!(!String::from_utf8_lossy(head).contains("s3cr3t"));
        assert!(String::from_utf8_lossy(tail).contains(secret));
    }
}
