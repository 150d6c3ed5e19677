//! Ops for the engine's tests, so that they need none of the built-ins: `noop`, `emit` (writes
//! a one-file dataset) and `fail` (fails its first attempts with an error of a given kind).

#![allow(dead_code)]

use async_trait::async_trait;
use serde::Deserialize;
use sluice_op::{Dataset, ErrorKind, Op, OpError, OpOutput, OpSpec, Registry, TaskContext, build};

/// Succeeds at once.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Noop {}

#[async_trait]
impl Op for Noop {
    async fn run(&self, _ctx: &TaskContext) -> Result<OpOutput, OpError> {
        Ok(OpOutput::default())
    }
}

/// Writes `text` as the dataset's one file, `part-00000.parquet`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Emit {
    text: String,
}

#[async_trait]
impl Op for Emit {
    async fn run(&self, ctx: &TaskContext) -> Result<OpOutput, OpError> {
        let dir = ctx.output()?.dir.clone();
        std::fs::write(dir.join("part-00000.parquet"), &self.text)?;
        Ok(OpOutput {
            dataset: Some(Dataset {
                dir,
                schema: "[]".into(),
                rows: 1,
                bytes: self.text.len() as u64,
            }),
            ..OpOutput::default()
        })
    }

    fn produces_dataset(&self) -> bool {
        true
    }
}

/// Fails its first `times` attempts (every attempt when not set) with an error of `kind`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fail {
    kind: String,
    times: Option<u32>,
}

#[async_trait]
impl Op for Fail {
    async fn run(&self, ctx: &TaskContext) -> Result<OpOutput, OpError> {
        if self.times.is_some_and(|t| ctx.attempt > t) {
            return Ok(OpOutput::default());
        }
        let kind = ErrorKind::from_name(&self.kind)
            .ok_or_else(|| OpError::config(format!("no error kind `{}`", self.kind)))?;
        Err(OpError::new(
            kind,
            format!("attempt {} failed on purpose", ctx.attempt),
        ))
    }
}

/// The registry of these ops.
pub fn registry() -> Registry {
    Registry::new(vec![
        OpSpec {
            name: "noop",
            summary: "Succeeds.",
            build: build::<Noop>,
        },
        OpSpec {
            name: "emit",
            summary: "Writes a one-file dataset.",
            build: build::<Emit>,
        },
        OpSpec {
            name: "fail",
            summary: "Fails its first attempts.",
            build: build::<Fail>,
        },
    ])
}

/// `yaml` parsed as the pipeline file `file` (which need not exist) against [`registry`],
/// with `params` overrides.
pub fn parse(
    yaml: &str,
    file: &std::path::Path,
    params: &[(String, String)],
) -> sluice_core::Pipeline {
    let registry = registry();
    let opts = sluice_core::LoadOptions {
        params,
        catalog: &registry,
        env: &|_: &str| None,
        api_params: false,
    };
    sluice_core::parse_pipeline(yaml, file, &opts).expect("valid pipeline")
}

/// A SQLite state store in `dir`.
pub async fn sqlite(dir: &std::path::Path) -> std::sync::Arc<dyn sluice_store::StateStore> {
    std::sync::Arc::new(
        sluice_store::SqlStore::open_sqlite(&dir.join("state.db"))
            .await
            .expect("store"),
    )
}
