//! Planning a run: which tasks it selects and forces, each op built once (with the stamp of
//! the files it reads, part of its fingerprint), and the fingerprints that already succeeded.

use std::collections::HashSet;
use std::sync::Arc;

use sluice_core::dag::{downstream_closure, upstream_closure};
use sluice_core::diag::did_you_mean;
use sluice_core::{Pipeline, TaskKind};

use crate::{Engine, EngineError, RunOptions};

/// What a run will do, decided before it starts.
pub(crate) struct Plan {
    /// The tasks of the run: all, or those of `--task` and what they wait for.
    pub(crate) selected: Vec<bool>,
    /// The tasks that run even if cached: `--force`, `--force-task` and `cache: false` tasks
    /// and everything downstream of them.
    pub(crate) forced: Vec<bool>,
    /// The built op of each op task.
    pub(crate) ops: Vec<Option<Arc<dyn sluice_op::Op>>>,
    /// What each op says of the files it reads (`Op::input_stamp`).
    pub(crate) stamps: Vec<String>,
    /// `(task, fingerprint)` pairs that already succeeded.
    pub(crate) cached: HashSet<(String, String)>,
}

impl Engine {
    /// Plans a run of `pipeline` with `opts`; the log folder is created on the way.
    pub(crate) async fn plan(
        &self,
        pipeline: &Pipeline,
        opts: &RunOptions,
    ) -> Result<Plan, EngineError> {
        let n = pipeline.tasks.len();
        let resolve = |names: &[String]| -> Result<Vec<usize>, EngineError> {
            names
                .iter()
                .map(|name| {
                    pipeline
                        .task_index(name)
                        .ok_or_else(|| EngineError::UnknownTask {
                            name: name.clone(),
                            hint: did_you_mean(
                                name,
                                pipeline.tasks.iter().map(|t| t.name.as_str()),
                            ),
                        })
                })
                .collect()
        };
        let selected = if opts.tasks.is_empty() {
            vec![true; n]
        } else {
            upstream_closure(pipeline, &resolve(&opts.tasks)?)
        };
        // `--force-task` and `cache: false` tasks re-run, and so does everything downstream of
        // them: their output may have changed even though their fingerprint did not.
        let forced = if opts.force {
            vec![true; n]
        } else {
            let mut roots = resolve(&opts.force_tasks)?;
            roots.extend((0..n).filter(|&i| !pipeline.tasks[i].cache));
            downstream_closure(pipeline, &roots)
        };
        std::fs::create_dir_all(&self.logs_dir).map_err(|source| EngineError::Logs {
            path: self.logs_dir.clone(),
            source,
        })?;

        // Build each op once: it tells what files it reads (part of its fingerprint).
        let mut built: Vec<Option<Arc<dyn sluice_op::Op>>> = Vec::with_capacity(n);
        let mut stamps = Vec::with_capacity(n);
        for task in &pipeline.tasks {
            match &task.kind {
                TaskKind::Op { op, config } => {
                    let op_built: Option<Arc<dyn sluice_op::Op>> = self
                        .ops
                        .get(op)
                        .and_then(|spec| (spec.build)(config).ok())
                        .map(Arc::from);
                    stamps.push(match &op_built {
                        Some(o) => sluice_op::Op::input_stamp(o.as_ref(), &pipeline.dir)
                            .unwrap_or_else(|e| format!("unreadable: {e}")),
                        None => String::new(),
                    });
                    built.push(op_built);
                }
                TaskKind::Run { .. } => {
                    stamps.push(String::new());
                    built.push(None);
                }
            }
        }
        let cached: HashSet<(String, String)> = self
            .store
            .fingerprints(&pipeline.name)
            .await?
            .into_iter()
            .collect();
        Ok(Plan {
            selected,
            forced,
            ops: built,
            stamps,
            cached,
        })
    }
}
