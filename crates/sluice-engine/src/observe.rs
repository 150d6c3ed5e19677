//! Observers of runs: told when a run and each task attempt start and end, with what the
//! engine knows of them (inputs, output, schema, the op's [`Lineage`]). The lineage emitters
//! (OpenLineage, DataHub) are observers; the CLI and the server attach them with
//! [`crate::Engine::with_observer`].
//!
//! An observer is called on the run's own threads: it must only queue what it is given and
//! return, so that emitting never slows a run.

use std::sync::Arc;

use sluice_core::Pipeline;
use sluice_op::{Dataset, Lineage};
use sluice_store::Micros;

/// Told of runs and attempts.
pub trait Observer: Send + Sync {
    /// Something happened. Must return at once.
    fn observe(&self, event: Observed);
}

/// What happened.
#[derive(Debug, Clone)]
// Queued once per event and read once: boxing would only add an allocation.
#[allow(clippy::large_enum_variant)]
pub enum Observed {
    /// A run started or ended.
    Run(RunEvent),
    /// A task attempt started or ended.
    Attempt(AttemptEvent),
}

/// Where a run or an attempt is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// It started.
    Started,
    /// It ended well.
    Succeeded,
    /// It failed.
    Failed,
    /// It was stopped (Ctrl-C, a server shutting down).
    Cancelled,
}

/// A run started or ended.
#[derive(Debug, Clone)]
pub struct RunEvent {
    /// The pipeline, as the run sees it.
    pub pipeline: Arc<Pipeline>,
    /// The run.
    pub run_id: String,
    /// The scheduled slot the run is for.
    pub nominal_time: Option<Micros>,
    /// Where it is.
    pub phase: Phase,
    /// When.
    pub at: Micros,
    /// Why it failed.
    pub error: Option<String>,
}

/// What a task is, beyond its runs: named once per run, shared by its events.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TaskMeta {
    /// The pipeline.
    pub pipeline: String,
    /// The pipeline's description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pipeline_description: Option<String>,
    /// The task.
    pub task: String,
    /// The task's description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Its op (none for a `run:` command).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub op: Option<String>,
    /// The tasks it waits for.
    #[serde(default)]
    pub upstream: Vec<String>,
    /// Owners, tags, column docs.
    #[serde(default, skip_serializing_if = "sluice_core::Docs::is_empty")]
    pub docs: sluice_core::Docs,
}

impl TaskMeta {
    /// What the engine says of task `i` of `pipeline`.
    pub fn of(pipeline: &Pipeline, i: usize) -> TaskMeta {
        let task = &pipeline.tasks[i];
        TaskMeta {
            pipeline: pipeline.name.clone(),
            pipeline_description: pipeline.description.clone(),
            task: task.name.clone(),
            description: task.description.clone(),
            op: task.op().map(String::from),
            upstream: task
                .deps
                .iter()
                .map(|&d| pipeline.tasks[d].name.clone())
                .collect(),
            docs: task.docs.clone(),
        }
    }
}

/// A task attempt started or ended. Serialisable: the state store keeps that of each task's
/// latest success ([`sluice_store::LineageRecord`]).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct AttemptEvent {
    /// The task.
    pub meta: Arc<TaskMeta>,
    /// The run.
    pub run_id: String,
    /// The scheduled slot the run is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nominal_time: Option<Micros>,
    /// 1 for the first attempt.
    pub attempt: u32,
    /// Where it is.
    pub phase: Phase,
    /// When it started.
    pub started_at: Micros,
    /// When (it started, or it ended).
    pub at: Micros,
    /// The upstream tasks' datasets it reads: task and version.
    #[serde(default)]
    pub inputs: Vec<(String, String)>,
    /// The version its dataset is published as, when it produces one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
    /// The dataset it wrote (once succeeded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dataset: Option<Dataset>,
    /// What the op says it read and wrote (once succeeded).
    #[serde(default)]
    pub lineage: Lineage,
    /// Why it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// It failed and another attempt follows (unless the run is being stopped).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub will_retry: bool,
}

impl std::fmt::Debug for dyn Observer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Observer")
    }
}
