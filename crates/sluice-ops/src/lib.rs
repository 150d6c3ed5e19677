//! The built-in operators of sluice: one file (or one folder per family) under [`builtin`],
//! each a serde config struct (`deny_unknown_fields`) implementing [`sluice_op::Op`], listed
//! once in [`registry`]. What several ops share is in [`support`]; an op never imports
//! another op.
//!
//! The op API itself (the trait, the context, the errors, the registry type, the runner of
//! `run:` commands) is `sluice-op`; the engine and the server depend on it and never on this
//! crate. The CLI builds the registry here and hands it to them.

pub mod builtin;
pub mod support;

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

pub(crate) use sluice_op::{
    Op, OpError, OpOutput, TaskContext, TaskLog, blocking, counters, file_stamp,
};

use std::sync::Arc;

use sluice_op::{CheckQuery, CheckRunner, Registry};

/// The registry of every built-in op, with data checks run by DataFusion.
pub fn registry() -> Registry {
    Registry::new(builtin::specs()).with_checks(Arc::new(DataFusionChecks))
}

/// Runs data checks with [`sluice_data::checks::run_checks`].
struct DataFusionChecks;

#[async_trait::async_trait]
impl CheckRunner for DataFusionChecks {
    async fn run(&self, dir: &std::path::Path, checks: &[CheckQuery]) -> Result<(), OpError> {
        sluice_data::checks::run_checks(dir, checks)
            .await
            .map_err(OpError::from)
    }
}

/// A secret read from the environment variable that the op's key `key` names (`api_key_env`,
/// `password_env`…); none when the key is not set.
pub(crate) fn env_secret(key: &str, var: Option<&String>) -> Result<Option<String>, OpError> {
    match var {
        Some(var) => std::env::var(var).map(Some).map_err(|_| {
            OpError::config(format!(
                "`{key}`: the environment variable {var} is not set"
            ))
        }),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use sluice_core::OpCatalog;

    #[test]
    fn names_are_unique_and_well_formed() {
        let reg = super::registry();
        let mut names = reg.op_names();
        assert!(names.iter().all(|n| {
            n.chars()
                .all(|c| c.is_ascii_lowercase() || c == '.' || c == '_')
        }));
        names.sort();
        let before = names.len();
        names.dedup();
        assert_eq!(before, names.len(), "duplicate op names");
        assert!(reg.checks().is_some());
    }
}
