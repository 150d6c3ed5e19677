//! The pipeline model of sluice: YAML pipeline files → a validated [`Pipeline`], the task
//! graph, fingerprints, and the diagnostics that say what is wrong and where.
//!
//! Main types: [`Pipeline`] and [`Task`] (validated), [`Node`] (the YAML tree with positions),
//! [`Diagnostic`] (`file:line:column: error: …`), [`OpCatalog`] (what validation asks of the
//! operators without depending on them).
//!
//! This crate does no I/O beyond reading the pipeline file and runs nothing. It must not
//! depend on any other sluice crate.
//!
//! ```
//! use sluice_core::{LoadOptions, OpCatalog, parse_pipeline, Node, DeError};
//! struct NoOps;
//! impl OpCatalog for NoOps {
//!     fn op_names(&self) -> Vec<&'static str> { vec![] }
//!     fn check(&self, _: &str, _: &Node) -> Option<Result<sluice_core::OpInfo, DeError>> { None }
//! }
//! let yaml = "name: hello\ntasks:\n  greet: { run: echo hi }\n  after_greet: { run: echo done, after: [greet] }\n";
//! let opts = LoadOptions { params: &[], catalog: &NoOps, env: &|_| None, api_params: false };
//! let p = parse_pipeline(yaml, "hello.yaml".as_ref(), &opts).unwrap();
//! assert_eq!(p.tasks[1].deps, vec![0]);
//! ```

pub mod address;
pub mod checks;
pub mod dag;
pub mod de;
pub mod diag;
pub mod duration;
pub mod fingerprint;
pub mod interp;
pub mod pipeline;
pub mod select;
pub mod state;
pub mod yaml;

pub use checks::Check;
pub use de::{DeError, from_node};
pub use diag::{Diagnostic, Diagnostics};
pub use pipeline::{
    Alerts, CatchUp, ColumnDoc, Docs, EnvVar, LoadError, LoadOptions, Notify, OpCatalog, OpInfo,
    ParamSpec, ParamType, Pipeline, Task, TaskKind, compile_node, load_file, load_file_from,
    load_file_with_env, parse_pipeline,
};
pub use state::{RunState, TaskState};
pub use yaml::{Mark, Node};

/// Cases each `fuzz_*` property test of the workspace runs: `SLUICE_FUZZ_CASES`, default 256
/// (the short run CI does; `SLUICE_FUZZ_CASES=100000` for a long one, see docs/fuzzing.md).
pub fn fuzz_cases() -> u32 {
    std::env::var("SLUICE_FUZZ_CASES")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(256)
}
