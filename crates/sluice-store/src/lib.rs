//! The state store of sluice: runs, task states, attempts and fingerprints.
//!
//! One trait, [`StateStore`], held as `Arc<dyn StateStore>`; one SQL implementation,
//! [`SqlStore`], that runs on SQLite (the default, `.sluice/state.db`) and on PostgreSQL
//! (`SLUICE_STATE=postgres://…`) with the same embedded migrations and the same queries.
//! Writes come in batches ([`Write`]) applied in one transaction, so the engine can queue
//! them without waiting and a crash never leaves half a batch.
//!
//! This crate knows the records, not pipelines: it depends only on `sluice-core` for the
//! state enums and must not depend on the engine, the ops or the CLI.

mod queue;
mod records;
mod sql;

pub use queue::{
    ClaimedWork, Lease, QueueDepth, WorkItem, WorkKey, WorkQueue, WorkRecord, WorkState,
    WorkerRecord,
};
pub use records::{
    AliasRecord, AttemptRecord, DatasetVersionRecord, LineageRecord, Micros, RunFilter, RunRecord,
    SlotRecord, SlotState, TaskRunRecord, TokenRecord, UserRecord, Write, now_micros,
};
pub use sql::{SqlStore, redact_url};

use async_trait::async_trait;

/// What went wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database could not be opened or reached.
    #[error("cannot open the state store at {url}: {source}")]
    Connect {
        /// The URL, password removed.
        url: String,
        /// The cause.
        source: sqlx::Error,
    },
    /// Migrations failed.
    #[error("cannot migrate the state store at {url}: {source}")]
    Migrate {
        /// The URL, password removed.
        url: String,
        /// The cause.
        source: sqlx::migrate::MigrateError,
    },
    /// A query failed.
    #[error("state store error while {what}: {source}")]
    Query {
        /// What the store was doing.
        what: &'static str,
        /// The cause.
        source: sqlx::Error,
    },
    /// A stored value could not be read back.
    #[error("state store holds an invalid value: {0}")]
    Corrupt(String),
    /// The URL names no supported backend.
    #[error("unsupported state store URL `{0}`: use sqlite://PATH or postgres://…")]
    Unsupported(String),
}

/// Result alias for the store.
pub type Result<T> = std::result::Result<T, StoreError>;

/// Durable state of runs. Implementations must be safe to share between tasks.
#[async_trait]
pub trait StateStore: Send + Sync {
    /// `sqlite` or `postgres`.
    fn backend(&self) -> &'static str;
    /// Applies writes in order, in one transaction.
    async fn apply(&self, writes: &[Write]) -> Result<()>;
    /// One run.
    async fn run(&self, id: &str) -> Result<Option<RunRecord>>;
    /// Runs, newest first.
    async fn runs(&self, filter: &RunFilter) -> Result<Vec<RunRecord>>;
    /// The state of every task of a run, in the order they were first recorded.
    async fn task_runs(&self, run_id: &str) -> Result<Vec<TaskRunRecord>>;
    /// Attempts of a run (of one task if given), by task then attempt number.
    async fn attempts(&self, run_id: &str, task: Option<&str>) -> Result<Vec<AttemptRecord>>;
    /// `(task, fingerprint)` pairs that succeeded for a pipeline.
    async fn fingerprints(&self, pipeline: &str) -> Result<Vec<(String, String)>>;
    /// Dataset versions, newest first; of one pipeline and task when given.
    async fn dataset_versions(
        &self,
        pipeline: Option<&str>,
        task: Option<&str>,
    ) -> Result<Vec<DatasetVersionRecord>>;
    /// The aliases of dataset versions (of one pipeline and task when given), by pipeline,
    /// task and alias: each alias's current version, or with `history` every move, newest
    /// first.
    async fn aliases(
        &self,
        pipeline: Option<&str>,
        task: Option<&str>,
        history: bool,
    ) -> Result<Vec<AliasRecord>>;
    /// The lineage of every task (of one pipeline when given) as its latest successful
    /// attempt recorded it, by pipeline and task.
    async fn lineage(&self, pipeline: Option<&str>) -> Result<Vec<LineageRecord>>;
    /// What each pipeline file (one when given) said of its tasks at its latest run:
    /// `(pipeline, JSON array)`, by pipeline.
    async fn pipeline_docs(&self, pipeline: Option<&str>) -> Result<Vec<(String, String)>>;
    /// The latest version of every dataset (of one pipeline when given), by pipeline and task.
    async fn latest_datasets(&self, pipeline: Option<&str>) -> Result<Vec<DatasetVersionRecord>>;
    /// Records a slot of a schedule unless one is recorded for the same pipeline and time:
    /// true when this call recorded it (the caller owns the slot and may start its run).
    async fn claim_slot(&self, slot: &SlotRecord) -> Result<bool>;
    /// The recorded slots of a pipeline, newest first (`limit` 0: all).
    async fn slots(&self, pipeline: &str, limit: usize) -> Result<Vec<SlotRecord>>;
    /// One user.
    async fn user(&self, name: &str) -> Result<Option<UserRecord>>;
    /// Every user, by name.
    async fn users(&self) -> Result<Vec<UserRecord>>;
    /// The token whose secret has this SHA-256 (hex).
    async fn token_by_hash(&self, hash: &str) -> Result<Option<TokenRecord>>;
    /// The tokens of a user (of everyone when `None`), oldest first.
    async fn tokens(&self, user: Option<&str>) -> Result<Vec<TokenRecord>>;
    /// The runs named by the schedule slots a purge before `before` keeps (recorded since,
    /// or the latest of their pipeline): runs `sluice gc` must not forget.
    async fn kept_slot_runs(&self, before: Micros) -> Result<Vec<String>>;
    /// Records a run as running (a new one, or one resumed) only while fewer than
    /// `max_active` other runs of its pipeline are running, in one atomic step: false when
    /// the limit is reached and nothing was written.
    async fn start_run(&self, run: &RunRecord, max_active: usize) -> Result<bool>;
}
