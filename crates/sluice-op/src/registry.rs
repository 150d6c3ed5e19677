//! The registry: the ops a build of sluice has, and the services they give the engine.

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use serde::de::DeserializeOwned;
use sluice_core::{DeError, Node, OpCatalog, OpInfo, from_node};

use crate::{Op, OpError};

/// One op: its name, a one-line summary, and how to build it from its config.
pub struct OpSpec {
    /// Name used after `op:`.
    pub name: &'static str,
    /// One line for `--help` and docs.
    pub summary: &'static str,
    /// Builds the op from the task's keys (everything but the common task keys).
    pub build: fn(&Node) -> Result<Box<dyn Op>, DeError>,
}

/// Builds an op whose config struct is the op itself.
pub fn build<C: DeserializeOwned + Op + 'static>(config: &Node) -> Result<Box<dyn Op>, DeError> {
    Ok(Box::new(from_node::<C>(config)?))
}

/// One data check: a name for messages and the query finding offending rows in table `data`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CheckQuery {
    /// `not_null(journal)`, `row_count(min 1)`…
    pub name: String,
    /// `SELECT … FROM data WHERE …`.
    pub sql: String,
}

/// Runs a task's data checks on the dataset it just wrote, before the engine publishes it.
#[async_trait]
pub trait CheckRunner: Send + Sync {
    /// Runs `checks` on the dataset in `dir`; the first failing check is an error of kind
    /// [`ErrorKind::Data`](crate::ErrorKind::Data) listing the offending rows.
    async fn run(&self, dir: &Path, checks: &[CheckQuery]) -> Result<(), OpError>;
}

/// The ops of this build of sluice, and what runs data checks. Built once by the CLI and
/// shared by validation, the engine and the server.
pub struct Registry {
    specs: Vec<OpSpec>,
    checks: Option<Arc<dyn CheckRunner>>,
}

impl Registry {
    /// A registry of `specs`, without data checks.
    pub fn new(specs: Vec<OpSpec>) -> Self {
        Registry {
            specs,
            checks: None,
        }
    }

    /// The same registry, running data checks with `runner`.
    pub fn with_checks(mut self, runner: Arc<dyn CheckRunner>) -> Self {
        self.checks = Some(runner);
        self
    }

    /// What runs data checks, when this build has it.
    pub fn checks(&self) -> Option<&Arc<dyn CheckRunner>> {
        self.checks.as_ref()
    }

    /// All ops, in registry order.
    pub fn specs(&self) -> &[OpSpec] {
        &self.specs
    }

    /// The op named `name`.
    pub fn get(&self, name: &str) -> Option<&OpSpec> {
        self.specs.iter().find(|s| s.name == name)
    }
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("ops", &self.op_names())
            .field("checks", &self.checks.is_some())
            .finish()
    }
}

impl OpCatalog for Registry {
    fn op_names(&self) -> Vec<&'static str> {
        self.specs.iter().map(|s| s.name).collect()
    }

    fn check(&self, op: &str, config: &Node) -> Option<Result<OpInfo, DeError>> {
        self.get(op).map(|spec| {
            (spec.build)(config).map(|built| OpInfo {
                reads: built.reads(),
                produces_dataset: built.produces_dataset(),
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Nothing {}

    #[async_trait]
    impl Op for Nothing {
        async fn run(&self, _ctx: &crate::TaskContext) -> Result<crate::OpOutput, OpError> {
            Ok(crate::OpOutput::default())
        }
    }

    #[test]
    fn the_catalog_answers_from_the_specs() {
        let reg = Registry::new(vec![OpSpec {
            name: "nothing",
            summary: "Does nothing.",
            build: build::<Nothing>,
        }]);
        assert_eq!(reg.op_names(), ["nothing"]);
        let empty = sluice_core::yaml::parse("{}").expect("yaml");
        assert!(reg.check("other", &empty).is_none());
        assert!(matches!(reg.check("nothing", &empty), Some(Ok(_))));
        let extra = sluice_core::yaml::parse("{x: 1}").expect("yaml");
        assert!(matches!(reg.check("nothing", &extra), Some(Err(_))));
        assert!(reg.checks().is_none());
    }
}
