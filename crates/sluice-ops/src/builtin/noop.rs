//! `noop`: does nothing.

use async_trait::async_trait;
use serde::Deserialize;

use crate::{Op, OpError, OpOutput, TaskContext};

/// `op: noop` takes no keys.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Noop {}

#[async_trait]
impl Op for Noop {
    async fn run(&self, _ctx: &TaskContext) -> Result<OpOutput, OpError> {
        Ok(OpOutput::default())
    }
}

#[cfg(test)]
mod tests {
    use sluice_core::yaml::parse;

    #[test]
    fn rejects_keys() {
        let reg = crate::registry();
        let spec = reg.get("noop").expect("registered");
        assert!((spec.build)(&parse("{}").expect("yaml")).is_ok());
        let err = (spec.build)(&parse("x: 1").expect("yaml"))
            .err()
            .expect("invalid");
        assert_eq!(err.message, "unknown key `x`");
    }
}
