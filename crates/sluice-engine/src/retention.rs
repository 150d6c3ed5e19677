//! Dataset retention: the versions beyond a pipeline's `retention` are removed, except those a
//! run holds because its tasks read or wrote them (see `holds.rs`).

use std::path::Path;

use crate::warehouse::VersionLock;
use sluice_core::Pipeline;
use sluice_store::Write;

use crate::{Engine, EngineError};

impl Engine {
    /// Removes dataset versions beyond the pipeline's `retention` (the latest, and the versions
    /// an alias names, are always kept),
    /// files first, then their records; a version that a running task reads or wrote (in any
    /// run, in any process) is left for a later retention. Of the versions kept, the folders
    /// that a later publication of the same version superseded are removed. Returns the
    /// versions removed, as `pipeline.task@version`.
    pub async fn apply_retention(&self, pipeline: &Pipeline) -> Result<Vec<String>, EngineError> {
        let mut removed = Vec::new();
        for task in pipeline.tasks.iter().filter(|t| t.produces_dataset) {
            let versions = self
                .store
                .dataset_versions(Some(&pipeline.name), Some(&task.name))
                .await?;
            let named: Vec<String> = self
                .store
                .aliases(Some(&pipeline.name), Some(&task.name), false)
                .await?
                .into_iter()
                .map(|a| a.version)
                .collect();
            let mut kept = usize::from(versions.iter().any(|v| v.latest_since.is_some()));
            for v in &versions {
                let path = Path::new(&v.path);
                let aliased = named.contains(&v.version);
                let keep = v.latest_since.is_some() || aliased || kept < pipeline.retention;
                if v.latest_since.is_none() && !aliased && keep {
                    kept += 1;
                }
                // Locked only when there is something to remove: a lock makes a run that
                // wants this version now run its task again.
                if keep && !VersionLock::has_superseded(path).unwrap_or(false) {
                    continue;
                }
                let mut lock = match VersionLock::try_take(path) {
                    Ok(Some(lock)) => lock,
                    // A running task reads it: next time.
                    Ok(None) => continue,
                    Err(e) => {
                        tracing::warn!("dataset retention: {e}");
                        continue;
                    }
                };
                if keep {
                    if let Err(e) = lock.remove_superseded(path) {
                        tracing::warn!("dataset retention: {e}");
                    }
                    continue;
                }
                if let Err(e) = lock.remove_all() {
                    tracing::warn!("dataset retention: {e}");
                    continue;
                }
                // Recorded before the lock is released: a run waiting to publish this version
                // again records it after.
                self.store
                    .apply(&[Write::DeleteVersion {
                        pipeline: v.pipeline.clone(),
                        task: v.task.clone(),
                        version: v.version.clone(),
                    }])
                    .await?;
                drop(lock);
                removed.push(format!("{}.{}@{}", v.pipeline, v.task, v.version));
            }
        }
        Ok(removed)
    }
}
