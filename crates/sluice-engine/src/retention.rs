//! Dataset retention: the versions beyond a pipeline's `retention` are removed, except those a
//! run holds because its tasks read or wrote them (see `holds.rs`). `sluice gc` applies the
//! same rule to versions older than a limit (see `gc.rs`).

use sluice_core::Pipeline;

use crate::{Engine, EngineError};

impl Engine {
    /// Removes dataset versions beyond the pipeline's `retention` (the latest, and the versions
    /// an alias names, are always kept), files first, then their records; a version that a
    /// running task reads or wrote (in any run, in any process) is left for a later retention.
    /// Of the versions kept, the folders that a later publication of the same version
    /// superseded are removed. Returns the versions removed, as `pipeline.task@version`.
    pub async fn apply_retention(&self, pipeline: &Pipeline) -> Result<Vec<String>, EngineError> {
        let tasks: Vec<String> = pipeline
            .tasks
            .iter()
            .filter(|t| t.produces_dataset)
            .map(|t| t.name.clone())
            .collect();
        let all = self.store.dataset_versions(None, None).await?;
        let read_by_views = self.read_by_views(&all).await?;
        let retained = self
            .retain(
                &pipeline.name,
                &tasks,
                pipeline.retention,
                None,
                false,
                &read_by_views,
            )
            .await?;
        for problem in &retained.problems {
            tracing::warn!("dataset retention: {problem}");
        }
        Ok(retained.removed)
    }
}
