//! Records kept in the store and the writes that change them.

use std::collections::BTreeMap;

use sluice_core::{RunState, TaskState};

/// Microseconds since the Unix epoch, UTC.
pub type Micros = i64;

/// Now, in [`Micros`].
pub fn now_micros() -> Micros {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

/// One run of a pipeline.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RunRecord {
    /// Run id, sortable by start time (`20261121-221500-a1b2c3d4`).
    pub id: String,
    /// Pipeline name.
    pub pipeline: String,
    /// Pipeline file as given.
    pub file: String,
    /// Parameters the run used.
    pub params: BTreeMap<String, String>,
    /// Current state.
    pub state: RunState,
    /// `cli`, later `schedule`, `api`…
    pub trigger: String,
    /// Start time.
    #[cfg_attr(feature = "openapi", schema(value_type = i64))]
    pub started_at: Micros,
    /// End time, once ended.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<i64>))]
    pub ended_at: Option<Micros>,
    /// Process running it, to tell a live run from one whose process died.
    pub pid: Option<i64>,
    /// Host running it.
    pub host: Option<String>,
    /// Why it failed, when the run itself (not a task) failed.
    pub error: Option<String>,
}

/// A user of the server.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UserRecord {
    /// Login name.
    pub name: String,
    /// The password's argon2id hash (PHC string); never serialised.
    #[serde(skip)]
    pub hash: String,
    /// `viewer`, `operator` or `admin`.
    pub role: String,
    /// When it was created.
    #[cfg_attr(feature = "openapi", schema(value_type = i64))]
    pub created_at: Micros,
    /// When it was disabled (it can no longer log in or use its tokens).
    #[cfg_attr(feature = "openapi", schema(value_type = Option<i64>))]
    pub disabled_at: Option<Micros>,
}

/// A token a user holds: a long-lived API token or a login session.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TokenRecord {
    /// Public id, shown in lists and used to revoke it.
    pub id: String,
    /// SHA-256 of the secret, hex; never serialised.
    #[serde(skip)]
    pub hash: String,
    /// `api` or `session`.
    pub kind: String,
    /// Its user.
    pub user_name: String,
    /// What it is for (`ci`, the browser of a login).
    pub label: String,
    /// Its role: at most its user's.
    pub role: String,
    /// When it was created.
    #[cfg_attr(feature = "openapi", schema(value_type = i64))]
    pub created_at: Micros,
    /// When it stops working, if ever.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<i64>))]
    pub expires_at: Option<Micros>,
    /// When it was last used (to the minute).
    #[cfg_attr(feature = "openapi", schema(value_type = Option<i64>))]
    pub last_used_at: Option<Micros>,
    /// When it was revoked.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<i64>))]
    pub revoked_at: Option<Micros>,
}

/// What the scheduler did with a slot of a pipeline's schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum SlotState {
    /// Its run was started (`run_id`).
    Run,
    /// Skipped by the catch-up policy, with the `skipped - 1` slots before it since the
    /// previous record.
    Skipped,
    /// When the schedule was first seen: slots before it are not the scheduler's.
    Start,
}

impl SlotState {
    /// The name in the store and in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            SlotState::Run => "run",
            SlotState::Skipped => "skipped",
            SlotState::Start => "start",
        }
    }
}

impl std::str::FromStr for SlotState {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "run" => Ok(SlotState::Run),
            "skipped" => Ok(SlotState::Skipped),
            "start" => Ok(SlotState::Start),
            other => Err(format!("unknown slot state `{other}`")),
        }
    }
}

/// One slot of a pipeline's schedule, as the scheduler recorded it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SlotRecord {
    /// Pipeline name.
    pub pipeline: String,
    /// The slot's time.
    #[cfg_attr(feature = "openapi", schema(value_type = i64))]
    pub slot: Micros,
    /// What was done.
    pub state: SlotState,
    /// The run started for it.
    pub run_id: Option<String>,
    /// Slots this record stands for (more than 1 for skipped ranges).
    pub skipped: u64,
    /// When it was recorded.
    #[cfg_attr(feature = "openapi", schema(value_type = i64))]
    pub recorded_at: Micros,
}

/// The current state of one task in one run.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TaskRunRecord {
    /// Run id.
    pub run_id: String,
    /// Task name.
    pub task: String,
    /// Current state.
    pub state: TaskState,
    /// Attempts made so far.
    pub attempts: u32,
    /// Fingerprint of the task in this run.
    pub fingerprint: Option<String>,
    /// First attempt's start.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<i64>))]
    pub started_at: Option<Micros>,
    /// Last attempt's end.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<i64>))]
    pub ended_at: Option<Micros>,
    /// Last error.
    pub error: Option<String>,
}

/// One attempt of a task.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AttemptRecord {
    /// Run id.
    pub run_id: String,
    /// Task name.
    pub task: String,
    /// 1 for the first attempt.
    pub attempt: u32,
    /// `running`, `succeeded`, `failed` or `cancelled`.
    pub state: TaskState,
    /// When the task became ready to run (upstream done, retry delay over).
    #[cfg_attr(feature = "openapi", schema(value_type = i64))]
    pub ready_at: Micros,
    /// When the attempt started.
    #[cfg_attr(feature = "openapi", schema(value_type = i64))]
    pub started_at: Micros,
    /// When it ended.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<i64>))]
    pub ended_at: Option<Micros>,
    /// Exit code of a `run:` command.
    pub exit_code: Option<i32>,
    /// Why it failed.
    pub error: Option<String>,
    /// Where its output went.
    pub log_path: Option<String>,
    /// Process group of a `run:` command, while it may be running.
    pub pid: Option<i64>,
    /// The counters the op reported when it succeeded (a JSON object).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metrics: Option<serde_json::Value>,
}

/// One materialised version of a task's dataset.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DatasetVersionRecord {
    /// Pipeline name.
    pub pipeline: String,
    /// Task that produced it.
    pub task: String,
    /// Version id (derived from the task's fingerprint).
    pub version: String,
    /// Folder holding its Parquet files.
    pub path: String,
    /// Arrow schema, as JSON.
    pub schema: String,
    /// Row count.
    pub rows: u64,
    /// Size of its files.
    pub bytes: u64,
    /// Run that produced it.
    pub run_id: String,
    /// When it was written.
    #[cfg_attr(feature = "openapi", schema(value_type = i64))]
    pub created_at: Micros,
    /// When it became latest, if it is.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<i64>))]
    pub latest_since: Option<Micros>,
    /// What the op keeps for its next run (JSON), if anything.
    pub state: Option<String>,
}

/// What a task's latest successful attempt read and wrote, as the engine observed it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LineageRecord {
    /// Pipeline name.
    pub pipeline: String,
    /// Task name.
    pub task: String,
    /// The run of the attempt.
    pub run_id: String,
    /// The attempt.
    pub attempt: u32,
    /// When it ended.
    pub recorded_at: Micros,
    /// The engine's observation, as JSON (`sluice_engine::observe::AttemptEvent`).
    pub facts: String,
}

/// An alias of a dataset version (`champion` of a model), as set at one moment.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AliasRecord {
    /// Pipeline name.
    pub pipeline: String,
    /// Task whose version it names.
    pub task: String,
    /// The alias (`champion`).
    pub alias: String,
    /// The version it points at.
    pub version: String,
    /// When it was set.
    #[cfg_attr(feature = "openapi", schema(value_type = i64))]
    pub set_at: Micros,
    /// Who set it: `run <id>` or `user <name>`.
    pub set_by: String,
    /// Why (the figures compared).
    pub note: Option<String>,
}

/// Which runs to list.
#[derive(Debug, Clone, Default)]
pub struct RunFilter {
    /// Only this pipeline.
    pub pipeline: Option<String>,
    /// Only runs in this state.
    pub state: Option<RunState>,
    /// At most this many (0: no limit).
    pub limit: usize,
}

/// A change to the store. Writes are upserts, so replaying one is harmless.
#[derive(Debug, Clone, PartialEq)]
pub enum Write {
    /// Insert or replace a run.
    Run(RunRecord),
    /// Insert or replace a task's state in a run.
    TaskRun(TaskRunRecord),
    /// Insert or replace an attempt.
    Attempt(AttemptRecord),
    /// Record a new dataset version.
    DatasetVersion(DatasetVersionRecord),
    /// Make a version the latest of its task (after it succeeded and passed its checks).
    Latest {
        /// Pipeline name.
        pipeline: String,
        /// Task name.
        task: String,
        /// The version.
        version: String,
        /// When.
        at: Micros,
    },
    /// Point an alias at a version (kept as history).
    Alias(AliasRecord),
    /// Replace a task's lineage with that of its latest successful attempt.
    Lineage(LineageRecord),
    /// Replace what a pipeline file says of its tasks (a JSON array).
    PipelineDocs {
        /// Pipeline name.
        pipeline: String,
        /// When (the run's start).
        at: Micros,
        /// One object per task.
        tasks: String,
    },
    /// Forget a version (its files were removed by retention).
    DeleteVersion {
        /// Pipeline name.
        pipeline: String,
        /// Task name.
        task: String,
        /// The version.
        version: String,
    },
    /// Forget a run: its record, its tasks' states and its attempts (`sluice gc`).
    DeleteRun {
        /// The run's id.
        id: String,
    },
    /// Forget the schedule slots recorded before this time, except each pipeline's latest
    /// (the one the scheduler goes on from).
    PurgeSlots {
        /// The limit.
        before: Micros,
    },
    /// Rewrite the paths of dataset versions and attempts' logs that start with `from` to
    /// start with `to` (a home restored elsewhere: `sluice restore`).
    Relocate {
        /// The old home, ending with `/`.
        from: String,
        /// The new home, ending with `/`.
        to: String,
    },
    /// Insert or replace a user.
    User(UserRecord),
    /// Insert a token, or change its role, label, expiry or revocation.
    Token(TokenRecord),
    /// Record a token's last use: that column alone, so a revocation written meanwhile stays.
    TokenUsed {
        /// The token's id.
        id: String,
        /// When.
        at: Micros,
    },
    /// Forget login sessions that expired or were revoked before this time.
    PurgeSessions {
        /// The limit.
        before: Micros,
    },
    /// Record that a task succeeded with this fingerprint.
    Fingerprint {
        /// Pipeline name.
        pipeline: String,
        /// Task name.
        task: String,
        /// Fingerprint.
        fingerprint: String,
        /// The run it succeeded in.
        run_id: String,
        /// When.
        at: Micros,
    },
}
