//! The built-in operators of sluice and the runner of `run:` shell commands.
//!
//! An op is one file under [`builtin`]: a serde config struct (`deny_unknown_fields`) that
//! implements [`Op`]. The [`Registry`] is the one explicit list of ops: validation asks it
//! whether an op exists and whether its config is valid; the engine asks it to build the op.
//! Ops get a [`TaskContext`] (log, cancellation, working directory, environment) and never
//! touch the state store.
//!
//! This crate depends on `sluice-core` only; it must not depend on the engine, the store or
//! the CLI.

pub mod builtin;
mod context;
mod registry;
pub mod shell;

/// Property-based tests of the parsers of untrusted input: the tests named `fuzz_<parser>`.
#[cfg(test)]
pub(crate) mod fuzz {
    /// The proptest settings of the `fuzz_` tests: [`sluice_core::fuzz_cases`] cases, no
    /// regression files (a failure found is kept as a unit test).
    pub fn config() -> proptest::test_runner::Config {
        proptest::test_runner::Config {
            cases: sluice_core::fuzz_cases(),
            failure_persistence: None,
            ..proptest::test_runner::Config::default()
        }
    }
}

pub use context::{
    Echo, OnSpawn, Previous, ProgressFn, TaskContext, TaskLog, redact_urls, redact_with,
};
pub use registry::{OpSpec, Registry};

use async_trait::async_trait;

/// What an op reports when it succeeds.
#[derive(Debug, Clone, Default)]
pub struct OpOutput {
    /// Exit code of a command, if the op ran one.
    pub exit_code: Option<i32>,
    /// Counters to record on the attempt (rows written…).
    pub metrics: serde_json::Map<String, serde_json::Value>,
    /// The dataset it wrote into [`TaskContext::output`], if it produces one.
    pub dataset: Option<sluice_data::DatasetInfo>,
    /// What to keep with that dataset for the next run ([`TaskContext::previous`]).
    pub state: Option<serde_json::Value>,
    /// For an op that [always runs](Op::always_runs): a key of what it produced. The same
    /// key as last time means nothing changed, and the tasks after it stay cached.
    pub content_key: Option<String>,
}

/// Why an op failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct OpError {
    /// What happened, for the user.
    pub message: String,
    /// Exit code of a command, if the op ran one.
    pub exit_code: Option<i32>,
}

impl OpError {
    /// An error with a message only.
    pub fn new(message: impl Into<String>) -> Self {
        OpError {
            message: message.into(),
            exit_code: None,
        }
    }
}

impl From<sluice_data::DataError> for OpError {
    fn from(e: sluice_data::DataError) -> Self {
        OpError::new(e.to_string())
    }
}

/// A built-in operator, built from its config.
#[async_trait]
pub trait Op: Send + Sync {
    /// Runs one attempt. Must return soon after `ctx.cancel` fires.
    async fn run(&self, ctx: &TaskContext) -> Result<OpOutput, OpError>;

    /// Tasks whose datasets the op reads; they become its dependencies.
    fn reads(&self) -> Vec<String> {
        Vec::new()
    }

    /// Whether the op writes a dataset (into [`TaskContext::output`]).
    fn produces_dataset(&self) -> bool {
        false
    }

    /// Whether the op runs every time, even when nothing in the pipeline changed (it asks
    /// a server whether a file changed). Its [`OpOutput::content_key`] then decides whether
    /// the tasks after it run.
    fn always_runs(&self) -> bool {
        false
    }

    /// Describes the files the op reads from outside the pipeline (paths, sizes,
    /// modification times), so that changing one changes the task's fingerprint.
    fn input_stamp(&self, _workdir: &std::path::Path) -> Result<String, OpError> {
        Ok(String::new())
    }

    /// Files the op writes outside the warehouse (a writer's `path`): when one is missing,
    /// the task runs again even if nothing else changed.
    fn outputs(&self, _workdir: &std::path::Path) -> Vec<std::path::PathBuf> {
        Vec::new()
    }
}

/// A stamp of files for [`Op::input_stamp`]: path, size and modification time of each.
pub fn file_stamp(paths: &[std::path::PathBuf]) -> String {
    let mut out = String::new();
    for p in paths {
        let (len, mtime) = std::fs::metadata(p)
            .map(|m| {
                let mtime = m
                    .modified()
                    .ok()
                    .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                    .map_or(0, |d| d.as_nanos());
                (m.len(), mtime)
            })
            .unwrap_or((0, 0));
        out.push_str(&format!("{}|{len}|{mtime}\n", p.display()));
    }
    out
}

/// Counters for [`OpOutput::metrics`], from `(name, value)` pairs.
pub fn counters(pairs: &[(&str, u64)]) -> serde_json::Map<String, serde_json::Value> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_string(), serde_json::Value::from(*v)))
        .collect()
}

/// A secret read from the environment variable that the op's key `key` names (`api_key_env`,
/// `password_env`…); none when the key is not set.
pub(crate) fn env_secret(key: &str, var: Option<&String>) -> Result<Option<String>, OpError> {
    match var {
        Some(var) => std::env::var(var).map(Some).map_err(|_| {
            OpError::new(format!(
                "`{key}`: the environment variable {var} is not set"
            ))
        }),
        None => Ok(None),
    }
}

/// Runs blocking work (file reading, Parquet writing) off the async threads.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, OpError> + Send + 'static,
) -> Result<T, OpError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| OpError::new(format!("the op stopped unexpectedly: {e}")))?
}
