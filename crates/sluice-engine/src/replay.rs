//! Replays part of a pipeline on other input, recording nothing: the tasks from one task
//! (its op replaced, as `read.files` reading one uploaded file) down to another, in a scratch
//! folder. The server predicts an uploaded document with it: the same tasks, ops and settings
//! that made the model's training rows make the document's row — one code path, not a copy.
//!
//! Inputs of the replayed tasks that are not replayed themselves (a lookup table joined in)
//! are their latest published versions, held while the replay reads them. Row-level caches
//! (`<warehouse>/.cache`: OCR results, vectors) are shared with runs; nothing else of the
//! warehouse or the store is written.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use sluice_core::{Pipeline, TaskKind};
use sluice_op::{DatasetTarget, Op, OpError};
use tokio_util::sync::CancellationToken;

use crate::Engine;
use crate::attempt::{AttemptSpec, Hooks, Work, execute};
use crate::warehouse::ReadHold;

/// What a replay produced.
#[derive(Debug)]
pub struct Replayed {
    /// The dataset folder of the last task that ran (inside the scratch folder).
    pub dir: PathBuf,
    /// The task that kept no row, which stopped the replay (`dir` is its dataset, where
    /// its op may have said why, as the documents' rejected rows do).
    pub kept_nothing: Option<String>,
}

/// Task `i` and every task upstream of it, by index.
pub fn upstream(pipeline: &Pipeline, i: usize) -> BTreeSet<usize> {
    let mut up = BTreeSet::new();
    let mut stack = vec![i];
    while let Some(i) = stack.pop() {
        if up.insert(i) {
            stack.extend(pipeline.tasks[i].deps.iter().copied());
        }
    }
    up
}

/// The tasks between `from` and `to` (both included): `to`'s upstream tasks that have `from`
/// upstream of them, in an order where each comes after those it waits for.
pub fn chain(pipeline: &Pipeline, from: &str, to: &str) -> Result<Vec<usize>, String> {
    let index = |name: &str| {
        pipeline
            .tasks
            .iter()
            .position(|t| t.name == name)
            .ok_or_else(|| format!("pipeline `{}` has no task `{name}`", pipeline.name))
    };
    let (start, end) = (index(from)?, index(to)?);
    let up = upstream(pipeline, end);
    if !up.contains(&start) {
        return Err(format!(
            "task `{to}` of pipeline `{}` does not read from `{from}`",
            pipeline.name
        ));
    }
    // Of those, the ones downstream of `start`, in dependency order.
    let mut order: Vec<usize> = Vec::new();
    let mut on_chain = BTreeSet::from([start]);
    let mut placed = BTreeSet::new();
    while placed.len() < up.len() {
        let before = placed.len();
        for &i in &up {
            if placed.contains(&i) || !pipeline.tasks[i].deps.iter().all(|d| placed.contains(d)) {
                continue;
            }
            placed.insert(i);
            if i == start || pipeline.tasks[i].deps.iter().any(|d| on_chain.contains(d)) {
                on_chain.insert(i);
                order.push(i);
            }
        }
        if placed.len() == before {
            return Err(format!("pipeline `{}` has a cycle", pipeline.name));
        }
    }
    Ok(order)
}

impl Engine {
    /// Runs the tasks of `pipeline` from `from` to `to` in `scratch` (an empty folder the
    /// caller removes), `from` running `op` instead of its own. A task that runs a command or
    /// fails fails the replay with its name; one that keeps no row stops it
    /// ([`Replayed::kept_nothing`]).
    pub async fn replay(
        &self,
        pipeline: &Pipeline,
        from: &str,
        op: Arc<dyn Op>,
        to: &str,
        scratch: &Path,
        cancel: CancellationToken,
    ) -> Result<Replayed, OpError> {
        let order = chain(pipeline, from, to).map_err(OpError::config)?;
        let mut made: BTreeMap<usize, PathBuf> = BTreeMap::new();
        let mut holds = Vec::new();
        for &i in &order {
            let task = &pipeline.tasks[i];
            let TaskKind::Op { op: name, config } = &task.kind else {
                return Err(OpError::config(format!(
                    "task `{}` runs a command: a replay runs ops only",
                    task.name
                )));
            };
            let mut inputs = BTreeMap::new();
            for &d in &task.deps {
                let dep = &pipeline.tasks[d];
                if !dep.produces_dataset {
                    continue;
                }
                let dir = match made.get(&d) {
                    Some(dir) => dir.clone(),
                    None => {
                        let (dir, hold) = self.latest_held(&pipeline.name, &dep.name).await?;
                        holds.push(hold);
                        dir
                    }
                };
                inputs.insert(dep.name.clone(), dir);
            }
            let dir = scratch.join(&task.name);
            std::fs::create_dir_all(&dir)
                .map_err(|e| OpError::io(format!("{}: cannot create", dir.display()), &e))?;
            let spec = AttemptSpec {
                pipeline: pipeline.name.clone(),
                run_id: "replay".into(),
                task: task.name.clone(),
                attempt: 1,
                work: Work::Op {
                    op: name.clone(),
                    config: config.clone(),
                },
                inputs,
                output: task.produces_dataset.then(|| DatasetTarget {
                    dir: dir.clone(),
                    compression: pipeline.compression,
                    version: String::new(),
                }),
                previous: None,
                aliases: BTreeMap::new(),
                workdir: pipeline.dir.clone(),
                env: task
                    .env
                    .iter()
                    .map(|e| (e.name.clone(), e.value.clone()))
                    .collect(),
                secrets: task.secrets.clone(),
                log_path: scratch.join(format!("{}.log", task.name)),
                raw_dir: scratch.join("raw").join(&task.name),
                cache_dir: self.warehouse.cache_dir(),
                timeout: task.timeout,
                home: None,
                warehouse: None,
            };
            let built = (task.name == from).then(|| op.clone());
            let executed = execute(&spec, &self.ops, built, Hooks::default(), cancel.clone()).await;
            let output = executed
                .result
                .map_err(|e| e.context(format!("task `{}`", task.name)))?;
            if output.dataset.as_ref().is_some_and(|d| d.rows == 0) {
                return Ok(Replayed {
                    dir,
                    kept_nothing: Some(task.name.clone()),
                });
            }
            made.insert(i, dir);
        }
        let last = order.last().and_then(|i| made.get(i)).cloned();
        drop(holds);
        Ok(Replayed {
            dir: last.unwrap_or_else(|| scratch.to_path_buf()),
            kept_nothing: None,
        })
    }

    /// The latest published version of `pipeline.task`, held against retention.
    async fn latest_held(
        &self,
        pipeline: &str,
        task: &str,
    ) -> Result<(PathBuf, ReadHold), OpError> {
        let versions = self
            .store
            .dataset_versions(Some(pipeline), Some(task))
            .await
            .map_err(|e| OpError::internal(e.to_string()))?;
        let missing = || {
            OpError::data(format!(
                "task `{task}` has no dataset yet: run pipeline `{pipeline}` first"
            ))
        };
        let latest = versions
            .iter()
            .find(|v| v.latest_since.is_some())
            .ok_or_else(missing)?;
        let dir = PathBuf::from(&latest.path);
        let held = {
            let dir = dir.clone();
            tokio::task::spawn_blocking(move || ReadHold::take(&dir, true))
                .await
                .map_err(|e| OpError::internal(e.to_string()))?
                .map_err(|e| OpError::internal(e.to_string()))?
        };
        match held {
            Some(hold) if dir.is_dir() => Ok((dir, hold)),
            _ => Err(missing()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pipeline(yaml: &str) -> Pipeline {
        let registry = sluice_op::Registry::new(Vec::new());
        let opts = sluice_core::LoadOptions {
            params: &[],
            catalog: &registry,
            env: &|_: &str| None,
            api_params: false,
        };
        sluice_core::parse_pipeline(yaml, Path::new("p.yaml"), &opts).expect("valid pipeline")
    }

    #[test]
    fn the_chain_is_what_lies_between_in_dependency_order() {
        let p = pipeline(
            r#"
name: p
tasks:
  lookup: {run: "true"}
  c: {run: "true", after: [b, lookup]}
  a: {run: "true"}
  b: {run: "true", after: a}
  side: {run: "true", after: a}
  d: {run: "true", after: c}
"#,
        );
        let names = |v: Vec<usize>| -> Vec<String> {
            v.into_iter().map(|i| p.tasks[i].name.clone()).collect()
        };
        assert_eq!(
            names(chain(&p, "a", "d").expect("chain")),
            ["a", "b", "c", "d"]
        );
        assert_eq!(names(chain(&p, "b", "c").expect("chain")), ["b", "c"]);
        assert_eq!(
            chain(&p, "side", "d").expect_err("not upstream"),
            "task `d` of pipeline `p` does not read from `side`"
        );
        assert_eq!(
            chain(&p, "a", "nope").expect_err("unknown"),
            "pipeline `p` has no task `nope`"
        );
    }
}
