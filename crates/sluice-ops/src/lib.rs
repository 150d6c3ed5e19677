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

pub use context::{Echo, TaskContext, TaskLog};
pub use registry::{OpSpec, Registry};

use async_trait::async_trait;

/// What an op reports when it succeeds.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OpOutput {
    /// Exit code of a command, if the op ran one.
    pub exit_code: Option<i32>,
    /// Counters to record on the attempt (rows written…).
    pub metrics: serde_json::Map<String, serde_json::Value>,
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

/// A built-in operator, built from its config.
#[async_trait]
pub trait Op: Send + Sync {
    /// Runs one attempt. Must return soon after `ctx.cancel` fires.
    async fn run(&self, ctx: &TaskContext) -> Result<OpOutput, OpError>;
}
