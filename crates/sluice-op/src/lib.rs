//! The op API of sluice: what every op implements and everything the engine needs to run one.
//!
//! An op is a serde config struct (`deny_unknown_fields`) that implements [`Op`]. The
//! [`Registry`] is the explicit list of ops a build of sluice has: validation asks it whether
//! an op exists and whether its config is valid; the engine asks it to build the op. The CLI is
//! the one place that fills it (with `sluice_ops::registry()`, the built-ins) and hands it to
//! the engine and the server, which depend on this crate only, never on the built-ins.
//!
//! An attempt gets a [`TaskContext`] (log, cancellation, working directory, environment, the
//! dataset folders it reads and the [`DatasetTarget`] it writes) and returns an [`OpOutput`] or
//! an [`OpError`] whose [`ErrorKind`] decides whether it is retried. `run:` commands go through
//! [`shell::run_command`]. Ops never touch the state store.
//!
//! This crate depends on `sluice-core` only.

mod context;
mod error;
pub mod lineage;
mod names;
mod registry;
pub mod shell;

pub use context::{
    Echo, OnSpawn, Previous, ProgressFn, TaskContext, TaskLog, redact_urls, redact_with,
};
pub use error::{ErrorKind, OpError};
pub use lineage::Lineage;
pub use names::Names;
pub use registry::{CheckQuery, CheckRunner, OpSpec, Registry, build};

use std::path::PathBuf;

/// The file of a view's dataset folder (a stored query, instead of Parquet files): JSON with
/// the query (`sql`) and the dataset folders it reads (`inputs`: table → folder). Written and
/// read by `sluice-data`; the engine's retention keeps the folders a kept view reads.
pub const VIEW_FILE: &str = "view.json";

/// The folder a view's input `input` (`…/pipeline/task/version`, as the machine that made
/// the view saw it: a worker's home) has in the warehouse of the view's version folder `dir`
/// (`<root>/pipeline/task/version`).
pub fn view_input_beside(dir: &std::path::Path, input: &std::path::Path) -> Option<PathBuf> {
    let root = dir.parent()?.parent()?.parent()?;
    Some(
        version_tail(input)?
            .iter()
            .fold(root.to_path_buf(), |p, c| p.join(c)),
    )
}

/// The last three parts of a version folder's path, `[pipeline, task, version]`: where it is
/// in any warehouse, whichever machine's path names it. `None` when they are not three plain
/// names.
pub fn version_tail(path: &std::path::Path) -> Option<[String; 3]> {
    let mut parts = path.components().rev().take(3).map(|c| match c {
        std::path::Component::Normal(p) => Some(p.to_string_lossy().into_owned()),
        _ => None,
    });
    let (version, task, pipeline) = (parts.next()??, parts.next()??, parts.next()??);
    Some([pipeline, task, version])
}

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use sluice_core::pipeline::Compression;

/// Where a task writes its dataset: the staging folder, which exists, and how its Parquet pages
/// are compressed (the pipeline's `compression`). Serialisable: it is part of what a worker
/// needs to run one attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatasetTarget {
    /// The folder, which must exist.
    pub dir: PathBuf,
    /// Page compression.
    pub compression: Compression,
    /// The version id the dataset is published as (empty where no engine runs the op, as in
    /// tests of ops): what an op names it by outside sluice (an MLflow model version's tag).
    #[serde(default)]
    pub version: String,
}

impl DatasetTarget {
    /// A target with the pipelines' default compression (LZ4).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        DatasetTarget {
            dir: dir.into(),
            compression: Compression::default(),
            version: String::new(),
        }
    }
}

/// What a finished dataset holds, as the engine records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dataset {
    /// Its folder.
    pub dir: PathBuf,
    /// Its schema as JSON: `[{"name": …, "type": …, "nullable": …}]`.
    pub schema: String,
    /// Row count.
    pub rows: u64,
    /// Bytes on disk.
    pub bytes: u64,
}

/// What an op reports when it succeeds.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct OpOutput {
    /// Exit code of a command, if the op ran one.
    pub exit_code: Option<i32>,
    /// Counters to record on the attempt (rows written…).
    pub metrics: serde_json::Map<String, serde_json::Value>,
    /// The dataset it wrote into [`TaskContext::output`], if it produces one.
    pub dataset: Option<Dataset>,
    /// What to keep with that dataset for the next run ([`TaskContext::previous`]).
    pub state: Option<serde_json::Value>,
    /// For an op that [always runs](Op::always_runs): a key of what it produced. The same
    /// key as last time means nothing changed, and the tasks after it stay cached.
    pub content_key: Option<String>,
    /// Aliases to point at the dataset it wrote once it is published (a model promoted to
    /// `champion`), each with a note saying why.
    pub aliases: Vec<(String, String)>,
    /// What it read and wrote outside the warehouse, and where its columns come from.
    #[serde(default)]
    pub lineage: Lineage,
}

/// An op, built from its config.
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

/// Runs blocking work (file reading, Parquet writing, CPU-bound loops) off the async threads.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, OpError> + Send + 'static,
) -> Result<T, OpError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| OpError::internal(format!("the op stopped unexpectedly: {e}")))?
}
