//! One attempt of one task: its log, its dataset folders, its environment, the op or command
//! under its timeout, then the dataset published and the attempt recorded.

use std::sync::Arc;
use std::time::Instant;

use sluice_core::fingerprint::settled;
use sluice_core::{TaskKind, TaskState};
use sluice_op::{DatasetTarget, Echo, OpError, TaskContext, TaskLog, shell};
use sluice_store::{AttemptRecord, Write, now_micros};
use tokio_util::sync::CancellationToken;

use crate::Event;
use crate::publish::{previous_dataset, publish_dataset};
use crate::run::{Done, Shared};
use crate::warehouse::version_of;

/// An attempt that failed before its op could start.
fn fail_before_start(
    shared: &Shared,
    i: usize,
    mut record: AttemptRecord,
    clock: Instant,
    error: OpError,
) -> Done {
    record.state = TaskState::Failed;
    record.ended_at = Some(now_micros());
    record.error = Some(error.message.clone());
    shared.writer.send(Write::Attempt(record));
    Done::Attempt {
        idx: i,
        result: Err(error),
        elapsed: clock.elapsed(),
    }
}

/// One attempt, as a tokio task.
pub(crate) async fn run_attempt(
    shared: Arc<Shared>,
    i: usize,
    attempt: u32,
    ready_at: i64,
    cancel: CancellationToken,
) -> Done {
    let started_at = now_micros();
    let clock = Instant::now();
    let task = &shared.pipeline.tasks[i];
    let log_path = shared
        .engine
        .logs_dir
        .join(&shared.run_id)
        .join(&task.name)
        .join(format!("{attempt}.log"));
    let mut record = AttemptRecord {
        run_id: shared.run_id.clone(),
        task: task.name.clone(),
        attempt,
        state: TaskState::Running,
        ready_at,
        started_at,
        ended_at: None,
        exit_code: None,
        error: None,
        log_path: Some(log_path.display().to_string()),
        pid: None,
        metrics: None,
    };
    shared.writer.send(Write::Attempt(record.clone()));

    let echo: Option<(String, Echo)> = match (&shared.events, shared.stream_logs) {
        (Some(tx), true) => {
            let tx = tx.clone();
            Some((
                task.name.clone(),
                Arc::new(move |task: &str, line: &str| {
                    let _ = tx.send(Event::Log {
                        task: task.to_string(),
                        line: line.to_string(),
                    });
                }),
            ))
        }
        _ => None,
    };
    // Datasets: those of the upstream tasks, and a staging folder for this task's own.
    let inputs = task
        .deps
        .iter()
        .filter(|&&d| shared.pipeline.tasks[d].produces_dataset)
        .map(|&d| (shared.pipeline.tasks[d].name.clone(), shared.dataset_dir(d)))
        .collect::<std::collections::BTreeMap<_, _>>();
    // Held until the run ends, so that no retention removes them while this task reads them.
    for (name, dir) in &inputs {
        if !shared.holds.kept(dir).await {
            let message = format!(
                "the dataset of task `{name}` is gone ({} was removed); run again with \
                 --force-task {name}",
                dir.display()
            );
            return fail_before_start(&shared, i, record, clock, OpError::data(message));
        }
    }
    let planned = shared.fingerprint(i);
    let version = version_of(&planned);
    let previous = if task.produces_dataset {
        match previous_dataset(&shared, i).await {
            Ok(p) => p,
            Err(e) => return fail_before_start(&shared, i, record, clock, OpError::internal(e)),
        }
    } else {
        None
    };
    let output = if task.produces_dataset {
        match shared.engine.warehouse.staging_dir(
            &shared.pipeline.name,
            &task.name,
            &version,
            &shared.run_id,
            attempt,
        ) {
            Ok(dir) => Some(DatasetTarget {
                dir,
                compression: shared.pipeline.compression,
            }),
            Err(e) => {
                return fail_before_start(
                    &shared,
                    i,
                    record,
                    clock,
                    OpError::io("cannot prepare the dataset folder", &e),
                );
            }
        }
    } else {
        None
    };
    // The variables of sluice's environment the pipeline passes to its commands; those named
    // like secrets are masked like the task's own.
    let passthrough: Vec<(String, String)> = shared
        .pipeline
        .env_passthrough
        .iter()
        .filter_map(|name| std::env::var(name).ok().map(|v| (name.clone(), v)))
        .collect();
    let mut secrets = task.secrets.clone();
    secrets.extend(
        passthrough
            .iter()
            .filter(|(k, v)| sluice_core::interp::is_secret_name(k) && !v.is_empty())
            .map(|(_, v)| v.clone()),
    );
    let ctx = TaskContext {
        inputs,
        output: output.clone(),
        pipeline: shared.pipeline.name.clone(),
        run_id: shared.run_id.clone(),
        task: task.name.clone(),
        attempt,
        workdir: shared.pipeline.dir.clone(),
        env: task
            .env
            .iter()
            .map(|e| (e.name.clone(), e.value.clone()))
            .chain(passthrough.iter().cloned())
            .collect(),
        log: TaskLog::new(log_path, secrets, echo),
        cancel: cancel.clone(),
        previous,
        raw_dir: shared
            .engine
            .warehouse
            .raw_dir(&shared.pipeline.name, &task.name),
        cache_dir: shared.engine.warehouse.cache_dir(),
        progress: shared.events.clone().map(|tx| {
            let task = task.name.clone();
            let progress: sluice_op::ProgressFn = Arc::new(move |done: u64, total: u64| {
                let _ = tx.send(Event::Progress {
                    task: task.clone(),
                    done,
                    total,
                });
            });
            progress
        }),
        on_spawn: Some({
            let writer = shared.writer.clone();
            let record = record.clone();
            let on_spawn: sluice_op::OnSpawn = Arc::new(move |pid: u32| {
                let mut r = record.clone();
                r.pid = Some(i64::from(pid));
                writer.send(Write::Attempt(r));
                let writer = writer.clone();
                // A refusal stops the run, which kills the command.
                Box::pin(async move {
                    let _ = writer.flush().await;
                })
            });
            on_spawn
        }),
    };

    let fut = async {
        // What a restart must know (the upstream tasks succeeded, this attempt runs) is in the
        // store before the op does anything; a command waits in `on_spawn`, which also
        // records its process group.
        let out = match (&task.kind, &shared.ops[i]) {
            (TaskKind::Run { command }, _) => shell::run_command(command, &ctx).await,
            (TaskKind::Op { .. }, Some(op)) => {
                shared.writer.flush().await.map_err(OpError::internal)?;
                op.run(&ctx).await
            }
            (TaskKind::Op { op, .. }, None) => {
                Err(OpError::config(format!("op `{op}` could not be built")))
            }
        }?;
        if let Some(key) = &out.content_key {
            let fp = settled(&planned, key);
            shared
                .fingerprints
                .lock()
                .unwrap_or_else(|e| e.into_inner())[i] = fp;
        }
        match &output {
            Some(staging) => {
                publish_dataset(&shared, i, &staging.dir, &out, &ctx.log).await?;
                Ok(out)
            }
            None => Ok(out),
        }
    };
    tokio::pin!(fut);
    let mut timed_out = false;
    let result = match task.timeout {
        Some(limit) => tokio::select! {
            r = &mut fut => r,
            _ = tokio::time::sleep(limit) => {
                timed_out = true;
                cancel.cancel();
                // The op stops promptly on cancellation (a command's group is killed).
                fut.await
            }
        },
        None => fut.await,
    };
    let result = match (result, timed_out) {
        (r, true) => Err(OpError {
            exit_code: r.err().and_then(|e: OpError| e.exit_code),
            ..OpError::internal(format!(
                "timed out after {}",
                sluice_core::duration::format_duration(task.timeout.unwrap_or_default())
            ))
        }),
        (r, false) => r,
    };
    // An error says no more than a log line may: secrets and URL credentials are masked.
    let result = result.map_err(|mut e| {
        e.message = ctx.log.redact(&e.message);
        e
    });

    if let (Some(staging), Err(_)) = (&output, &result) {
        // A failed attempt leaves nothing behind; the latest version stays as it was.
        let _ = shared.engine.warehouse.remove(&staging.dir);
    }
    record.ended_at = Some(now_micros());
    record.pid = None;
    match &result {
        Ok(out) => {
            record.state = TaskState::Succeeded;
            record.exit_code = out.exit_code;
            if !out.metrics.is_empty() {
                record.metrics = Some(serde_json::Value::Object(out.metrics.clone()));
            }
        }
        Err(e) => {
            record.state = if cancel.is_cancelled() && !timed_out {
                TaskState::Cancelled
            } else {
                TaskState::Failed
            };
            record.exit_code = e.exit_code;
            record.error = Some(e.message.clone());
            let _ = ctx.log.line(&format!(
                "sluice: attempt {attempt} failed: {}",
                record.error.as_deref().unwrap_or_default()
            ));
        }
    }
    shared.writer.send(Write::Attempt(record));
    Done::Attempt {
        idx: i,
        result,
        elapsed: clock.elapsed(),
    }
}
