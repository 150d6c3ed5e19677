//! `sleep`: waits, then succeeds.

use std::time::Duration;

use async_trait::async_trait;
use serde::Deserialize;

use crate::{Op, OpError, OpOutput, TaskContext};

/// `op: sleep` with `duration: 2s`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sleep {
    /// How long to wait (`500ms`, `2s`, `1m`).
    #[serde(deserialize_with = "sluice_core::duration::deserialize")]
    pub duration: Duration,
}

#[async_trait]
impl Op for Sleep {
    async fn run(&self, ctx: &TaskContext) -> Result<OpOutput, OpError> {
        tokio::select! {
            _ = tokio::time::sleep(self.duration) => Ok(OpOutput::default()),
            _ = ctx.cancel.cancelled() => Err(OpError::cancelled("cancelled while sleeping")),
        }
    }
}

#[cfg(test)]
mod tests {
    use sluice_core::yaml::parse;

    #[test]
    fn validates_duration() {
        let reg = crate::registry();
        let spec = reg.get("sleep").expect("registered");
        assert!((spec.build)(&parse("duration: 20ms").expect("yaml")).is_ok());
        let err = (spec.build)(&parse("duration: 20").expect("yaml"))
            .err()
            .expect("invalid");
        assert_eq!(
            err.message,
            "invalid duration `20`: `20` needs a unit, like `20s` or `20m`"
        );
        let err = (spec.build)(&parse("{}").expect("yaml"))
            .err()
            .expect("invalid");
        assert_eq!(err.message, "missing required key `duration`");
    }
}
