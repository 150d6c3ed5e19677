//! A task's dataset: checked, moved from staging to its version folder and made latest in
//! one batch of writes; and the previous latest version an incremental op starts from.

use std::collections::BTreeMap;

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
    let dir = shared
        .engine
        .warehouse
        .publish_everywhere(staging, &dir)
        .await?;
    shared.now_in_store(&dir);
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
    for (alias, note) in &out.aliases {
        let _ = log.line(&format!("alias {alias} → version {version}: {note}"));
        shared.writer.send(Write::Alias(sluice_store::AliasRecord {
            pipeline: shared.pipeline.name.clone(),
            task: task.name.clone(),
            alias: alias.clone(),
            version: version.to_string(),
            set_at: now,
            set_by: format!("run {}", shared.run_id),
            note: Some(note.clone()),
        }));
    }
    Ok(())
}

/// Task `i`'s latest dataset before this run and its versions named by an alias (each only
/// while its folder still exists), with the state its op kept with each.
pub(crate) async fn own_versions(
    shared: &Shared,
    i: usize,
) -> Result<(Option<Previous>, BTreeMap<String, Previous>), String> {
    let task = &shared.pipeline.tasks[i].name;
    let store = &shared.engine.store;
    let pipeline = Some(shared.pipeline.name.as_str());
    let versions = store
        .dataset_versions(pipeline, Some(task))
        .await
        .map_err(|e| format!("cannot read the previous dataset of this task: {e}"))?;
    let aliases = store
        .aliases(pipeline, Some(task), false)
        .await
        .map_err(|e| format!("cannot read the aliases of this task: {e}"))?;
    let mut previous = None;
    let mut named = BTreeMap::new();
    for v in &versions {
        let latest = v.latest_since.is_some();
        let names: Vec<&str> = aliases
            .iter()
            .filter(|a| a.version == v.version)
            .map(|a| a.alias.as_str())
            .collect();
        if !latest && names.is_empty() {
            continue;
        }
        let mut dir = std::path::PathBuf::from(&v.path);
        if shared.engine.warehouse.remote().is_some() {
            // Recorded by whichever process published it: its folder in this warehouse.
            dir = shared
                .engine
                .warehouse
                .here(&dir)
                .map_err(|e| e.to_string())?
                .0;
        }
        if !shared.available(&dir).await? {
            continue;
        }
        let state = match v.state.as_deref() {
            None => None,
            Some(text) => Some(serde_json::from_str(text).map_err(|e| {
                format!(
                    "the state kept with dataset version {} is not valid JSON ({e}); \
                     run with --force-task {task} to start this task afresh",
                    v.version
                )
            })?),
        };
        let found = Previous {
            version: v.version.clone(),
            dir,
            state,
        };
        for name in names {
            named.insert(name.to_string(), found.clone());
        }
        if latest {
            previous = Some(found);
        }
    }
    Ok((previous, named))
}
