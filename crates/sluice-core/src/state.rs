//! States of runs and tasks, shared by the engine, the store and the CLI.

use std::fmt;
use std::str::FromStr;

/// State of a whole run; in JSON, its name (`running`, `succeeded`, `failed`, `cancelled`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum RunState {
    /// Tasks are being run.
    Running,
    /// Every selected task succeeded or was cached.
    Succeeded,
    /// At least one task failed (its dependents are `upstream_failed`).
    Failed,
    /// Stopped by the user (Ctrl-C, SIGTERM).
    Cancelled,
}

/// State of one task in one run; in JSON, its name (`queued`, `up_for_retry`…).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum TaskState {
    /// Waiting for its upstream tasks or for a free slot.
    Queued,
    /// An attempt is running.
    Running,
    /// The last attempt succeeded.
    Succeeded,
    /// Every attempt failed.
    Failed,
    /// An attempt failed; another is scheduled after the retry delay.
    UpForRetry,
    /// A task it waits for failed, so it did not run.
    UpstreamFailed,
    /// Stopped by the user, or never started because the run was stopped.
    Cancelled,
    /// Not run: a run with the same fingerprint already succeeded.
    Cached,
}

impl TaskState {
    /// Every state, in a stable order.
    pub const ALL: [TaskState; 8] = [
        TaskState::Queued,
        TaskState::Running,
        TaskState::Succeeded,
        TaskState::Failed,
        TaskState::UpForRetry,
        TaskState::UpstreamFailed,
        TaskState::Cancelled,
        TaskState::Cached,
    ];

    /// The name used in the store, the CLI and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            TaskState::Queued => "queued",
            TaskState::Running => "running",
            TaskState::Succeeded => "succeeded",
            TaskState::Failed => "failed",
            TaskState::UpForRetry => "up_for_retry",
            TaskState::UpstreamFailed => "upstream_failed",
            TaskState::Cancelled => "cancelled",
            TaskState::Cached => "cached",
        }
    }

    /// True when its output is there: succeeded or cached.
    pub fn is_done_ok(self) -> bool {
        matches!(self, TaskState::Succeeded | TaskState::Cached)
    }

    /// True when nothing more will happen to the task in this run.
    pub fn is_final(self) -> bool {
        !matches!(
            self,
            TaskState::Queued | TaskState::Running | TaskState::UpForRetry
        )
    }
}

impl RunState {
    /// The name used in the store, the CLI and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            RunState::Running => "running",
            RunState::Succeeded => "succeeded",
            RunState::Failed => "failed",
            RunState::Cancelled => "cancelled",
        }
    }
}

/// An unknown state name read back from a store.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown state `{0}`")]
pub struct UnknownState(pub String);

impl FromStr for TaskState {
    type Err = UnknownState;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        TaskState::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| UnknownState(s.to_string()))
    }
}

impl FromStr for RunState {
    type Err = UnknownState;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [
            RunState::Running,
            RunState::Succeeded,
            RunState::Failed,
            RunState::Cancelled,
        ]
        .into_iter()
        .find(|t| t.as_str() == s)
        .ok_or_else(|| UnknownState(s.to_string()))
    }
}

impl fmt::Display for TaskState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for RunState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
