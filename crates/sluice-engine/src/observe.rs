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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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

/// A task attempt started or ended.
#[derive(Debug, Clone)]
pub struct AttemptEvent {
    /// The pipeline, as the run sees it.
    pub pipeline: Arc<Pipeline>,
    /// The run.
    pub run_id: String,
    /// The scheduled slot the run is for.
    pub nominal_time: Option<Micros>,
    /// The task's index in the pipeline.
    pub task: usize,
    /// 1 for the first attempt.
    pub attempt: u32,
    /// Where it is.
    pub phase: Phase,
    /// When.
    pub at: Micros,
    /// The upstream tasks' datasets it reads: task and version.
    pub inputs: Vec<(String, String)>,
    /// The version its dataset is published as, when it produces one.
    pub output: Option<String>,
    /// The dataset it wrote (once succeeded).
    pub dataset: Option<Dataset>,
    /// What the op says it read and wrote (once succeeded).
    pub lineage: Lineage,
    /// Why it failed.
    pub error: Option<String>,
}

impl AttemptEvent {
    /// The task's name.
    pub fn task_name(&self) -> &str {
        &self.pipeline.tasks[self.task].name
    }
}

impl std::fmt::Debug for dyn Observer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Observer")
    }
}
