//! The one list of built-in ops.

use serde::de::DeserializeOwned;
use sluice_core::{DeError, Node, OpCatalog, OpInfo, from_node};

use crate::Op;
use crate::builtin;

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

/// The built-in ops.
pub struct Registry {
    specs: Vec<OpSpec>,
}

impl Registry {
    /// Every built-in op.
    pub fn builtin() -> Self {
        Registry {
            specs: builtin::specs(),
        }
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

    #[test]
    fn names_are_unique_and_well_formed() {
        let reg = Registry::builtin();
        let mut names = reg.op_names();
        assert!(names.iter().all(|n| {
            n.chars()
                .all(|c| c.is_ascii_lowercase() || c == '.' || c == '_')
        }));
        names.sort();
        let before = names.len();
        names.dedup();
        assert_eq!(before, names.len(), "duplicate op names");
    }
}
