//! What an op gets when it runs: identity, working directory, environment, log, cancellation.

use std::fs::File;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use sluice_data::DatasetTarget;
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
    pub output: Option<DatasetTarget>,
    /// The task's latest dataset before this run and what the op kept with it, for ops
    /// that work incrementally (reuse what did not change, send validators to a server).
    pub previous: Option<Previous>,
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

/// The latest dataset of a task before the current run.
#[derive(Debug, Clone)]
pub struct Previous {
    /// Its folder.
    pub dir: PathBuf,
    /// What the op returned in [`crate::OpOutput::state`] when it wrote it.
    pub state: Option<serde_json::Value>,
}

impl TaskContext {
    /// The dataset folder of upstream task `name`.
    pub fn input(&self, name: &str) -> Result<&Path, crate::OpError> {
        self.inputs.get(name).map(PathBuf::as_path).ok_or_else(|| {
            crate::OpError::new(format!(
                "no dataset of task `{name}` is available to this task"
            ))
        })
    }

    /// Where to write this task's dataset.
    pub fn output(&self) -> Result<&DatasetTarget, crate::OpError> {
        self.output
            .as_ref()
            .ok_or_else(|| crate::OpError::new("this task has no dataset folder to write into"))
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

    /// Masks every secret in `line`.
    pub fn redact(&self, line: &str) -> String {
        let mut out = line.to_string();
        for s in &self.inner.secrets {
            if out.contains(s.as_str()) {
                out = out.replace(s.as_str(), "***");
            }
        }
        out
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
}
