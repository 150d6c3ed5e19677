//! The engine of sluice: runs a validated pipeline's DAG on tokio with bounded parallelism,
//! retries with exponential backoff, timeouts, fingerprint caching, cancellation and resume,
//! recording every state change in the state store.
//!
//! Main types: [`Engine`] (holds the store and the op registry), [`RunOptions`], [`Event`]
//! (what a front end shows while a run goes on), [`RunSummary`].
//!
//! The engine knows the op API (`sluice-op`: the registry, the trait, typed errors) and the
//! store trait, never a concrete op or backend, and not DataFusion: data checks run through
//! the registry's [`sluice_op::CheckRunner`]. It must not depend on the built-in ops, the CLI
//! or the server. It owns the warehouse's layout ([`warehouse`]: version folders, staging,
//! the locks that keep a version a run reads).

mod attempt;
pub mod gc;
mod holds;
pub mod observe;
mod plan;
mod process;
mod publish;
mod reap;
pub mod remote;
pub mod replay;
mod retention;
mod run;
pub mod schedule;
pub mod warehouse;
pub mod why;
pub mod workers;
mod writer;

#[cfg(test)]
mod fuzz;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use sluice_core::{RunState, TaskState};
use sluice_op::{ErrorKind, Registry};
use sluice_store::{StateStore, StoreError};

pub use attempt::{AttemptSpec, Executed, Hooks, Work, execute};
pub use observe::{Observed, Observer};
pub use process::{hostname, is_live_sluice};
pub use run::{backoff, new_run_id, retry_delay};

/// Runs pipelines.
#[derive(Clone)]
pub struct Engine {
    store: Arc<dyn StateStore>,
    ops: Arc<Registry>,
    logs_dir: PathBuf,
    warehouse: warehouse::Warehouse,
    observers: Vec<Arc<dyn Observer>>,
    /// Where attempts run: here (`None`), or on workers through this dispatcher.
    dispatcher: Option<Arc<workers::Dispatcher>>,
}

/// How to run.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Run only these tasks and what they wait for (empty: all).
    pub tasks: Vec<String>,
    /// Run every task even if cached.
    pub force: bool,
    /// Run these tasks and everything downstream of them even if cached.
    pub force_tasks: Vec<String>,
    /// Continue this run: only what did not succeed runs again.
    pub resume: Option<String>,
    /// Send every log line as an [`Event::Log`].
    pub stream_logs: bool,
    /// Who started the run (`cli`, `schedule`, `api`).
    pub trigger: String,
    /// The id of a new run (default: a fresh one); the scheduler claims a slot under it
    /// before the run starts.
    pub run_id: Option<String>,
    /// Start only while fewer than this many runs of the pipeline are running, checked and
    /// recorded in one step by the store ([`EngineError::TooManyRuns`] otherwise).
    pub max_active: Option<usize>,
    /// The scheduled slot the run is for (the scheduler's runs and backfills).
    pub nominal_time: Option<sluice_store::Micros>,
}

/// What happens during a run, for live views.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// The run started (or resumed).
    RunStarted {
        /// Run id.
        run_id: String,
        /// Tasks in this run.
        tasks: usize,
        /// Tasks already done before (resume).
        already_done: usize,
        /// True when resuming.
        resumed: bool,
    },
    /// A task changed state.
    Task {
        /// Task name.
        task: String,
        /// New state.
        state: TaskState,
        /// Attempt number (0 if none yet).
        attempt: u32,
        /// Error of the failed attempt.
        error: Option<String>,
        /// Duration of the attempt that just ended.
        elapsed: Option<Duration>,
        /// Delay before the next attempt (for `up_for_retry`).
        retry_in: Option<Duration>,
    },
    /// A line of a task's output (only with [`RunOptions::stream_logs`]).
    Log {
        /// Task name.
        task: String,
        /// The line, secrets masked.
        line: String,
    },
    /// How far a running task is, for ops that know their amount of work.
    Progress {
        /// Task name.
        task: String,
        /// Units done (rows for `embed`).
        done: u64,
        /// Units in all.
        total: u64,
    },
}

/// How a run ended.
#[derive(Debug, Clone)]
pub struct RunSummary {
    /// Run id.
    pub run_id: String,
    /// Final state.
    pub state: RunState,
    /// Final state of each task of the run, in pipeline order, with attempts made.
    pub tasks: Vec<(String, TaskState, u32)>,
    /// Wall time of this invocation.
    pub elapsed: Duration,
}

impl RunSummary {
    /// How many tasks ended in `state`.
    pub fn count(&self, state: TaskState) -> usize {
        self.tasks.iter().filter(|t| t.1 == state).count()
    }
}

/// Why a run could not start or finish properly.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The state store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The state store refused a write during a run (disk full, database locked): the run
    /// was stopped, since what it does could no longer be recorded.
    #[error(
        "run {run_id} stopped: the state store refused a write: {source} — is the disk full? \
         Once the store accepts writes again, resume it with `sluice run {file} --resume {run_id}`"
    )]
    StoreRefused {
        /// The run.
        run_id: String,
        /// Its pipeline file.
        file: String,
        /// The first write the store refused.
        source: StoreError,
    },
    /// `--resume` names no known run.
    #[error("no run `{0}` in the state store (list runs with `sluice runs`)")]
    UnknownRun(String),
    /// `--resume` names a run of another pipeline.
    #[error("run `{run_id}` belongs to pipeline `{actual}`, not `{expected}`")]
    WrongPipeline {
        /// The run.
        run_id: String,
        /// Its pipeline.
        actual: String,
        /// The pipeline being run.
        expected: String,
    },
    /// `--resume` names a run that is still going on in another process.
    #[error("run `{run_id}` is still running (pid {pid}); stop it first or wait for it to end")]
    StillRunning {
        /// The run.
        run_id: String,
        /// Its process.
        pid: i64,
    },
    /// `--resume` names a run recorded as running on another machine.
    #[error(
        "run `{run_id}` is recorded as running on host `{host}` (pid {pid}); resume it there, or once it has ended"
    )]
    RunningElsewhere {
        /// The run.
        run_id: String,
        /// The host it runs on.
        host: String,
        /// Its process there.
        pid: i64,
    },
    /// `--task` or `--force-task` names no task.
    #[error("unknown task `{name}`{}", hint.as_ref().map(|h| format!(" ({h})")).unwrap_or_default())]
    UnknownTask {
        /// The name given.
        name: String,
        /// A "did you mean" hint.
        hint: Option<String>,
    },
    /// The pipeline already has `max_active_runs` runs going on.
    #[error(
        "pipeline `{pipeline}` already has {max} run(s) going on (max_active_runs {max}); wait for one to end"
    )]
    TooManyRuns {
        /// The pipeline.
        pipeline: String,
        /// Its `max_active_runs`.
        max: usize,
    },
    /// A log file could not be created.
    #[error("cannot create the log folder {}: {source}", path.display())]
    Logs {
        /// The folder.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

impl EngineError {
    /// Who must act: what the caller asked for is wrong ([`ErrorKind::Config`]: an unknown
    /// run or task), the store or the pipeline cannot take it now ([`ErrorKind::Unavailable`]:
    /// a run still going on, `max_active_runs` reached, a store refusing writes), or
    /// something failed inside ([`ErrorKind::Internal`]).
    pub fn kind(&self) -> ErrorKind {
        match self {
            EngineError::UnknownRun(_)
            | EngineError::WrongPipeline { .. }
            | EngineError::UnknownTask { .. } => ErrorKind::Config,
            EngineError::StillRunning { .. }
            | EngineError::RunningElsewhere { .. }
            | EngineError::TooManyRuns { .. }
            | EngineError::StoreRefused { .. } => ErrorKind::Unavailable,
            EngineError::Store(_) | EngineError::Logs { .. } => ErrorKind::Internal,
        }
    }
}

impl Engine {
    /// An engine recording to `store`, with logs and datasets under `home` (`.sluice`):
    /// `home/logs/RUN/TASK/N.log` and `home/warehouse/PIPELINE/TASK/VERSION/`.
    pub fn new(store: Arc<dyn StateStore>, ops: Arc<Registry>, home: &std::path::Path) -> Self {
        let logs_dir = home.join("logs");
        let warehouse = warehouse::Warehouse::new(home.join("warehouse"));
        Engine {
            store,
            ops,
            logs_dir,
            warehouse,
            observers: Vec::new(),
            dispatcher: None,
        }
    }

    /// The engine, running every attempt on `sluice worker` processes through `dispatcher`
    /// instead of here (the run loop, retries and publication stay here).
    pub fn with_dispatcher(mut self, dispatcher: Arc<workers::Dispatcher>) -> Self {
        self.dispatcher = Some(dispatcher);
        self
    }

    /// The engine, its warehouse's versions kept in the object store `remote`
    /// (`SLUICE_WAREHOUSE`) and its home's warehouse a cache of them.
    pub fn with_remote_warehouse(mut self, remote: Arc<remote::Remote>) -> Self {
        self.warehouse = self.warehouse.with_remote(remote);
        self
    }

    /// Whether attempts run on workers.
    pub fn on_workers(&self) -> bool {
        self.dispatcher.is_some()
    }

    /// The engine, telling `observer` of every run and attempt (lineage emitters).
    pub fn with_observer(mut self, observer: Arc<dyn Observer>) -> Self {
        self.observers.push(observer);
        self
    }

    /// Tells every observer of `event`.
    pub(crate) fn observe(&self, event: impl FnOnce() -> Observed) {
        if self.observers.is_empty() {
            return;
        }
        let event = event();
        for o in &self.observers {
            o.observe(event.clone());
        }
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn StateStore> {
        &self.store
    }

    /// The warehouse.
    pub fn warehouse(&self) -> &warehouse::Warehouse {
        &self.warehouse
    }
}
