//! The catalog: every task's latest success as the state store recorded it (what it read and
//! wrote, column by column), with the latest version of every dataset. What the metadata
//! exports and `sluice lineage` read.

use std::collections::BTreeMap;

use sluice_engine::observe::{AttemptEvent, TaskMeta};
use sluice_store::{DatasetVersionRecord, StateStore};

/// What the store knows of pipelines, tasks and datasets.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    /// Each task's latest successful attempt, by pipeline then task.
    pub tasks: Vec<AttemptEvent>,
    /// The latest version of each dataset, by `pipeline.task`.
    pub datasets: BTreeMap<String, DatasetVersionRecord>,
}

impl Catalog {
    /// The catalog of `store` (of one pipeline when given).
    pub async fn load(store: &dyn StateStore, pipeline: Option<&str>) -> Result<Catalog, String> {
        let records = store
            .lineage(pipeline)
            .await
            .map_err(|e| format!("cannot read the lineage: {e}"))?;
        let mut tasks: Vec<AttemptEvent> = Vec::new();
        for r in records {
            let event: AttemptEvent = serde_json::from_str(&r.facts).map_err(|e| {
                format!(
                    "the lineage recorded for {}.{} is not readable ({e}); run the task again \
                     with --force-task {}",
                    r.pipeline, r.task, r.task
                )
            })?;
            tasks.push(event);
        }
        // What each pipeline file says of its tasks now (docs are not in fingerprints: the
        // latest run's word wins over that of a task's latest success).
        let docs = store
            .pipeline_docs(pipeline)
            .await
            .map_err(|e| format!("cannot read the pipelines' docs: {e}"))?;
        let mut metas: BTreeMap<(String, String), std::sync::Arc<TaskMeta>> = BTreeMap::new();
        for (name, json) in docs {
            let list: Vec<TaskMeta> = serde_json::from_str(&json).map_err(|e| {
                format!("the docs recorded for pipeline {name} are not readable: {e}")
            })?;
            for m in list {
                metas.insert((m.pipeline.clone(), m.task.clone()), std::sync::Arc::new(m));
            }
        }
        for t in &mut tasks {
            if let Some(m) = metas.get(&(t.meta.pipeline.clone(), t.meta.task.clone())) {
                t.meta = m.clone();
            }
        }
        let datasets = store
            .latest_datasets(pipeline)
            .await
            .map_err(|e| format!("cannot read the datasets: {e}"))?
            .into_iter()
            .map(|d| (format!("{}.{}", d.pipeline, d.task), d))
            .collect();
        Ok(Catalog { tasks, datasets })
    }

    /// The pipelines, each with its description, in name order.
    pub fn pipelines(&self) -> BTreeMap<&str, Option<&str>> {
        self.tasks
            .iter()
            .map(|t| {
                (
                    t.meta.pipeline.as_str(),
                    t.meta.pipeline_description.as_deref(),
                )
            })
            .collect()
    }

    /// The schema (the engine's JSON) of version `version` of task `task`'s dataset of
    /// `pipeline`, when it is the latest or the task's last success wrote it.
    pub fn schema(&self, pipeline: &str, task: &str, version: &str) -> Option<String> {
        let key = format!("{pipeline}.{task}");
        if let Some(d) = self.datasets.get(&key).filter(|d| d.version == version) {
            return Some(d.schema.clone());
        }
        self.tasks
            .iter()
            .find(|t| t.meta.pipeline == pipeline && t.meta.task == task)
            .filter(|t| t.output.as_deref() == Some(version))
            .and_then(|t| t.dataset.as_ref().map(|d| d.schema.clone()))
    }
}
