//! A task's dataset: checked, moved from staging to its version folder and made latest in
//! one batch of writes; and the previous latest version an incremental op starts from.

use sluice_op::{OpError, OpOutput, Previous, TaskLog};
use sluice_store::{Write, now_micros};

use crate::run::Shared;
use crate::warehouse::version_of;

/// Checks a new dataset, moves it from staging to its version folder and makes it latest.
pub(crate) async fn publish_dataset(
    shared: &Shared,
    i: usize,
    staging: &std::path::Path,
    out: &OpOutput,
    log: &TaskLog,
) -> Result<(), OpError> {
    let task = &shared.pipeline.tasks[i];
    let version = &version_of(&shared.fingerprint(i));
    let info = out
        .dataset
        .as_ref()
        .ok_or_else(|| OpError::internal("the op wrote no dataset (this is a bug in sluice)"))?;
    let checks: Vec<sluice_op::CheckQuery> = task
        .checks
        .iter()
        .flat_map(sluice_core::Check::queries)
        .map(|(name, sql)| sluice_op::CheckQuery { name, sql })
        .collect();
    if !checks.is_empty() {
        let runner = shared.engine.ops.checks().ok_or_else(|| {
            OpError::config(
                "this build of sluice cannot run data checks: remove the task's `checks`",
            )
        })?;
        if let Err(mut e) = runner.run(staging, &checks).await {
            for line in e.message.lines() {
                let _ = log.line(line);
            }
            e.message
                .push_str("\nthe new dataset was discarded; the latest version stays as it was");
            return Err(e);
        }
    }
    let dir = shared.dataset_dir(i);
    shared.holds.wait(&dir).await.map_err(OpError::internal)?;
    let dir = shared.engine.warehouse.publish(staging, &dir)?;
    let now = now_micros();
    let _ = log.line(&format!(
        "dataset {}.{} version {version}: {} rows, {} bytes",
        shared.pipeline.name, task.name, info.rows, info.bytes
    ));
    shared
        .writer
        .send(Write::DatasetVersion(sluice_store::DatasetVersionRecord {
            pipeline: shared.pipeline.name.clone(),
            task: task.name.clone(),
            version: version.to_string(),
            path: dir.display().to_string(),
            schema: info.schema.clone(),
            rows: info.rows,
            bytes: info.bytes,
            run_id: shared.run_id.clone(),
            created_at: now,
            latest_since: None,
            state: out.state.as_ref().map(|s| s.to_string()),
        }));
    shared.writer.send(Write::Latest {
        pipeline: shared.pipeline.name.clone(),
        task: task.name.clone(),
        version: version.to_string(),
        at: now,
    });
    Ok(())
}

/// Task `i`'s latest dataset before this run (its folder must still exist) and the state
/// its op kept with it.
pub(crate) async fn previous_dataset(
    shared: &Shared,
    i: usize,
) -> Result<Option<Previous>, String> {
    let task = &shared.pipeline.tasks[i].name;
    let versions = shared
        .engine
        .store
        .dataset_versions(Some(&shared.pipeline.name), Some(task))
        .await
        .map_err(|e| format!("cannot read the previous dataset of this task: {e}"))?;
    let Some(latest) = versions.into_iter().find(|v| v.latest_since.is_some()) else {
        return Ok(None);
    };
    let dir = std::path::PathBuf::from(&latest.path);
    if !shared.holds.kept(&dir).await {
        return Ok(None);
    }
    let state = match latest.state.as_deref() {
        None => None,
        Some(text) => Some(serde_json::from_str(text).map_err(|e| {
            format!(
                "the state kept with dataset version {} is not valid JSON ({e}); \
                 run with --force-task {task} to start this task afresh",
                latest.version
            )
        })?),
    };
    Ok(Some(Previous { dir, state }))
}
