//! One attempt of one task.
//!
//! [`AttemptSpec`] describes an attempt completely and is serialisable: the task's work (a
//! command, or an op with its config), the folders of its input datasets, its output target,
//! the dataset it wrote last time, its environment and the secrets to mask, its log and its
//! time limit. [`execute`] runs one with an op registry and nothing else of the engine: the
//! seam a worker on another machine uses. The engine's side, `run_attempt`, prepares the
//! description (holds on the inputs, the previous version, the staging folder), records the
//! attempt, and publishes the dataset the op wrote.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sluice_core::fingerprint::settled;
use sluice_core::yaml::Node;
use sluice_core::{TaskKind, TaskState};
use sluice_op::{
    DatasetTarget, Echo, OnSpawn, Op, OpError, OpOutput, Previous, ProgressFn, Registry,
    TaskContext, TaskLog, shell,
};
use sluice_store::{AttemptRecord, Write, now_micros};
use tokio_util::sync::CancellationToken;

use crate::Event;
use crate::observe::{AttemptEvent, Observed, Phase};
use crate::publish::{own_versions, publish_dataset};
use crate::run::{Done, Shared};
use crate::warehouse::version_of;

/// Everything one attempt needs, as data.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct AttemptSpec {
    /// The pipeline.
    pub pipeline: String,
    /// The run.
    pub run_id: String,
    /// The task.
    pub task: String,
    /// 1 for the first attempt.
    pub attempt: u32,
    /// What to run.
    pub work: Work,
    /// The dataset folder of each upstream task that produces one, by task.
    pub inputs: BTreeMap<String, PathBuf>,
    /// Where the task's dataset goes (a staging folder), when it produces one.
    pub output: Option<DatasetTarget>,
    /// The task's latest dataset before this run (incremental ops).
    pub previous: Option<Previous>,
    /// The task's versions named by an alias, by alias.
    #[serde(default)]
    pub aliases: BTreeMap<String, Previous>,
    /// The folder relative paths start from (the pipeline file's).
    pub workdir: PathBuf,
    /// Environment variables of a command.
    pub env: Vec<(String, String)>,
    /// Values masked in the log and in errors.
    pub secrets: Vec<String>,
    /// The attempt's log file.
    pub log_path: PathBuf,
    /// The task's folder of raw files (downloads).
    pub raw_dir: PathBuf,
    /// The home's cache folder.
    pub cache_dir: PathBuf,
    /// The attempt's time limit.
    pub timeout: Option<Duration>,
    /// The home of the process that described it (workers with a home of their own move the
    /// paths under it to theirs).
    #[serde(default)]
    pub home: Option<PathBuf>,
    /// The object store of its warehouse (`SLUICE_WAREHOUSE`, without credentials), when
    /// it is in one.
    #[serde(default)]
    pub warehouse: Option<String>,
}

/// What an attempt runs.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Work {
    /// A shell command (`run:`), interpolated.
    Command {
        /// The command.
        command: String,
    },
    /// An op with its config (the task's other keys), interpolated.
    Op {
        /// The op's name.
        op: String,
        /// Its keys.
        config: Node,
    },
}

/// What only a caller on the same machine gives an attempt: callbacks.
#[derive(Default, Clone)]
pub struct Hooks {
    /// Each log line, as it is written.
    pub echo: Option<Echo>,
    /// Progress of the op (done, total).
    pub progress: Option<ProgressFn>,
    /// A command's process group, once started.
    pub on_spawn: Option<OnSpawn>,
}

/// How an attempt ended.
pub struct Executed {
    /// The op's output, or its error (secrets masked).
    pub result: Result<OpOutput, OpError>,
    /// Whether the time limit stopped it.
    pub timed_out: bool,
    /// Its log, for what the caller adds.
    pub log: TaskLog,
}

/// Runs the attempt `spec` describes: the command, or the op (`built`, or else built from
/// `registry` with the spec's config), under its time limit and `cancel`; errors say no more
/// than a log line may.
pub async fn execute(
    spec: &AttemptSpec,
    registry: &Registry,
    built: Option<Arc<dyn Op>>,
    hooks: Hooks,
    cancel: CancellationToken,
) -> Executed {
    let echo = hooks.echo.map(|e| (spec.task.clone(), e));
    let ctx = TaskContext {
        inputs: spec.inputs.clone(),
        output: spec.output.clone(),
        pipeline: spec.pipeline.clone(),
        run_id: spec.run_id.clone(),
        task: spec.task.clone(),
        attempt: spec.attempt,
        workdir: spec.workdir.clone(),
        env: spec.env.clone(),
        log: TaskLog::new(spec.log_path.clone(), spec.secrets.clone(), echo),
        cancel: cancel.clone(),
        previous: spec.previous.clone(),
        aliases: spec.aliases.clone(),
        raw_dir: spec.raw_dir.clone(),
        cache_dir: spec.cache_dir.clone(),
        progress: hooks.progress,
        on_spawn: hooks.on_spawn,
    };
    // The op's future borrows the context: it ends before the log is handed back.
    let (result, timed_out) = {
        let fut = async {
            match &spec.work {
                Work::Command { command } => shell::run_command(command, &ctx).await,
                Work::Op { op, config } => {
                    let op = match built {
                        Some(op) => op,
                        None => build(registry, op, config)?,
                    };
                    op.run(&ctx).await
                }
            }
        };
        tokio::pin!(fut);
        let mut timed_out = false;
        let result = match spec.timeout {
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
        (result, timed_out)
    };
    let result = match (result, timed_out) {
        (r, true) => Err(OpError {
            exit_code: r.err().and_then(|e: OpError| e.exit_code),
            ..OpError::internal(format!(
                "timed out after {}",
                sluice_core::duration::format_duration(spec.timeout.unwrap_or_default())
            ))
        }),
        (r, false) => r,
    };
    // An error says no more than a log line may: secrets and URL credentials are masked.
    let result = result.map_err(|e| redacted(e, &ctx.log));
    Executed {
        result,
        timed_out,
        log: ctx.log,
    }
}

/// `e` with what its message must not show masked.
fn redacted(mut e: OpError, log: &TaskLog) -> OpError {
    e.message = log.redact(&e.message);
    e
}

/// Op `name` built from `config` with `registry`.
fn build(registry: &Registry, name: &str, config: &Node) -> Result<Arc<dyn Op>, OpError> {
    let spec = registry
        .get(name)
        .ok_or_else(|| OpError::config(format!("unknown op `{name}` on this machine")))?;
    (spec.build)(config)
        .map(Arc::from)
        .map_err(|e| OpError::config(format!("op `{name}`: {e}")))
}

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

/// One attempt, as a tokio task: recorded as running, described ([`describe`]), executed,
/// its dataset published, recorded as ended.
pub(crate) async fn run_attempt(
    shared: Arc<Shared>,
    i: usize,
    attempt: u32,
    ready_at: i64,
    cancel: CancellationToken,
) -> Done {
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
        started_at: now_micros(),
        ended_at: None,
        exit_code: None,
        error: None,
        log_path: Some(log_path.display().to_string()),
        pid: None,
        metrics: None,
    };
    shared.writer.send(Write::Attempt(record.clone()));
    let planned = shared.fingerprint(i);
    let spec = match describe(&shared, i, attempt, &planned, log_path).await {
        Ok(spec) => spec,
        Err(e) => return fail_before_start(&shared, i, record, clock, e),
    };
    // What a restart must know (the upstream tasks succeeded, this attempt runs) is in the
    // store before an op does anything; a command waits in `on_spawn`, which also records its
    // process group.
    if matches!(spec.work, Work::Op { .. })
        && let Err(e) = shared.writer.flush().await
    {
        return fail_before_start(&shared, i, record, clock, OpError::internal(e));
    }
    let started_at = record.started_at;
    let observed = |phase, at| AttemptEvent {
        meta: shared.metas[i].clone(),
        run_id: shared.run_id.clone(),
        nominal_time: shared.nominal_time,
        attempt,
        phase,
        started_at,
        at,
        // The version ids of what it reads (a folder may be a version's second, `V.2`).
        inputs: shared.pipeline.tasks[i]
            .deps
            .iter()
            .filter(|&&d| shared.pipeline.tasks[d].produces_dataset)
            .map(|&d| {
                let name = shared.pipeline.tasks[d].name.clone();
                (name, version_of(&shared.fingerprint(d)))
            })
            .collect(),
        output: spec.output.as_ref().map(|o| o.version.clone()),
        dataset: None,
        lineage: Default::default(),
        error: None,
        will_retry: false,
    };
    shared
        .engine
        .observe(|| Observed::Attempt(observed(Phase::Started, record.started_at)));
    let Executed {
        result,
        timed_out,
        log,
    } = match &shared.engine.dispatcher {
        Some(dispatcher) => {
            dispatcher
                .run(
                    &spec,
                    task.pool.clone(),
                    &shared.engine.warehouse,
                    cancel.clone(),
                )
                .await
        }
        None => {
            let built = shared.ops[i].clone();
            let hooks = hooks(&shared, i, &record);
            execute(&spec, &shared.engine.ops, built, hooks, cancel.clone()).await
        }
    };
    let result = match result {
        Ok(out) => publish(&shared, i, &planned, spec.output.as_ref(), out, &log).await,
        Err(e) => Err(e),
    };
    if let (Some(staging), Err(_)) = (&spec.output, &result) {
        // A failed attempt leaves nothing behind; the latest version stays as it was.
        let _ = shared.engine.warehouse.remove(&staging.dir);
    }
    let cancelled = cancel.is_cancelled() && !timed_out;
    ended(&mut record, &result, cancelled, &log);
    let ended_event = |record: &AttemptRecord| {
        let mut event = observed(
            match record.state {
                TaskState::Succeeded => Phase::Succeeded,
                TaskState::Cancelled => Phase::Cancelled,
                _ => Phase::Failed,
            },
            record.ended_at.unwrap_or_else(now_micros),
        );
        match &result {
            Ok(out) => {
                event.dataset = out.dataset.clone();
                event.lineage = out.lineage.clone();
            }
            Err(e) => {
                event.error = Some(e.message.clone());
                // As the run loop decides (`failed` in run.rs), the stop aside.
                event.will_retry =
                    !cancelled && e.kind.retryable() && attempt <= shared.pipeline.tasks[i].retries;
            }
        }
        event
    };
    if record.state == TaskState::Succeeded {
        // The catalog's view of the task: what its latest success read and wrote.
        let event = ended_event(&record);
        if let Ok(facts) = serde_json::to_string(&event) {
            shared
                .writer
                .send(Write::Lineage(sluice_store::LineageRecord {
                    pipeline: shared.pipeline.name.clone(),
                    task: event.meta.task.clone(),
                    run_id: shared.run_id.clone(),
                    attempt,
                    recorded_at: event.at,
                    facts,
                }));
        }
        shared.engine.observe(|| Observed::Attempt(event));
    } else {
        shared
            .engine
            .observe(|| Observed::Attempt(ended_event(&record)));
    }
    shared.writer.send(Write::Attempt(record));
    Done::Attempt {
        idx: i,
        result,
        elapsed: clock.elapsed(),
    }
}

/// The description of attempt `attempt` of task `i`: its upstream datasets (held until the run
/// ends, so that no retention removes them while it reads them), its previous version and
/// staging folder when it produces a dataset, its environment and the secrets to mask.
async fn describe(
    shared: &Shared,
    i: usize,
    attempt: u32,
    planned: &str,
    log_path: PathBuf,
) -> Result<AttemptSpec, OpError> {
    let task = &shared.pipeline.tasks[i];
    let inputs = task
        .deps
        .iter()
        .filter(|&&d| shared.pipeline.tasks[d].produces_dataset)
        .map(|&d| (shared.pipeline.tasks[d].name.clone(), shared.dataset_dir(d)))
        .collect::<BTreeMap<_, _>>();
    for (name, dir) in &inputs {
        let here = shared.available(dir).await.map_err(|e| {
            OpError::unavailable(format!("cannot read the dataset of task `{name}`: {e}"))
        })?;
        if !here {
            return Err(OpError::data(format!(
                "the dataset of task `{name}` is gone ({} was removed); run again with \
                 --force-task {name}",
                dir.display()
            )));
        }
    }
    let (previous, aliases, output) = if task.produces_dataset {
        let (previous, aliases) = own_versions(shared, i).await.map_err(OpError::internal)?;
        let version = version_of(planned);
        let dir = shared
            .engine
            .warehouse
            .staging_dir(
                &shared.pipeline.name,
                &task.name,
                &version,
                &shared.run_id,
                attempt,
            )
            .map_err(|e| OpError::io("cannot prepare the dataset folder", &e))?;
        let output = DatasetTarget {
            dir,
            compression: shared.pipeline.compression,
            version: version.to_string(),
        };
        (previous, aliases, Some(output))
    } else {
        (None, BTreeMap::new(), None)
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
    let work = match &task.kind {
        TaskKind::Run { command } => Work::Command {
            command: command.clone(),
        },
        TaskKind::Op { op, config } => Work::Op {
            op: op.clone(),
            config: config.clone(),
        },
    };
    Ok(AttemptSpec {
        pipeline: shared.pipeline.name.clone(),
        run_id: shared.run_id.clone(),
        task: task.name.clone(),
        attempt,
        work,
        inputs,
        output,
        previous,
        aliases,
        workdir: shared.pipeline.dir.clone(),
        env: task
            .env
            .iter()
            .map(|e| (e.name.clone(), e.value.clone()))
            .chain(passthrough)
            .collect(),
        secrets,
        log_path,
        raw_dir: shared
            .engine
            .warehouse
            .raw_dir(&shared.pipeline.name, &task.name),
        cache_dir: shared.engine.warehouse.cache_dir(),
        timeout: task.timeout,
        home: shared
            .engine
            .warehouse
            .root()
            .parent()
            .and_then(|h| std::path::absolute(h).ok()),
        warehouse: shared
            .engine
            .warehouse
            .remote()
            .map(|r| r.url().to_string()),
    })
}

/// The callbacks of task `i`'s attempt: log lines and progress as events, a command's process
/// group recorded (and the store flushed) as soon as it starts.
fn hooks(shared: &Shared, i: usize, record: &AttemptRecord) -> Hooks {
    let task = shared.pipeline.tasks[i].name.clone();
    let echo: Option<Echo> = match (&shared.events, shared.stream_logs) {
        (Some(tx), true) => {
            let tx = tx.clone();
            Some(Arc::new(move |task: &str, line: &str| {
                let _ = tx.send(Event::Log {
                    task: task.to_string(),
                    line: line.to_string(),
                });
            }))
        }
        _ => None,
    };
    let progress = shared.events.clone().map(|tx| {
        let progress: ProgressFn = Arc::new(move |done: u64, total: u64| {
            let _ = tx.send(Event::Progress {
                task: task.clone(),
                done,
                total,
            });
        });
        progress
    });
    let writer = shared.writer.clone();
    let record = record.clone();
    let on_spawn: OnSpawn = Arc::new(move |pid: u32| {
        let mut r = record.clone();
        r.pid = Some(i64::from(pid));
        writer.send(Write::Attempt(r));
        let writer = writer.clone();
        // A refusal stops the run, which kills the command.
        Box::pin(async move {
            let _ = writer.flush().await;
        })
    });
    Hooks {
        echo,
        progress,
        on_spawn: Some(on_spawn),
    }
}

/// After a successful attempt: the fingerprint of a task that always runs settles on what it
/// found, and the dataset written in `output` becomes the task's latest version.
async fn publish(
    shared: &Shared,
    i: usize,
    planned: &str,
    output: Option<&DatasetTarget>,
    out: OpOutput,
    log: &TaskLog,
) -> Result<OpOutput, OpError> {
    if let Some(key) = &out.content_key {
        let fp = settled(planned, key);
        shared
            .fingerprints
            .lock()
            .unwrap_or_else(|e| e.into_inner())[i] = fp;
    }
    match output {
        Some(staging) => publish_dataset(shared, i, &staging.dir, &out, log)
            .await
            .map(|()| out)
            .map_err(|e| redacted(e, log)),
        None => Ok(out),
    }
}

/// `record` once its attempt ended with `result`; a failure is also the log's last line.
fn ended(
    record: &mut AttemptRecord,
    result: &Result<OpOutput, OpError>,
    cancelled: bool,
    log: &TaskLog,
) {
    record.ended_at = Some(now_micros());
    record.pid = None;
    match result {
        Ok(out) => {
            record.state = TaskState::Succeeded;
            record.exit_code = out.exit_code;
            if !out.metrics.is_empty() {
                record.metrics = Some(serde_json::Value::Object(out.metrics.clone()));
            }
        }
        Err(e) => {
            record.state = if cancelled {
                TaskState::Cancelled
            } else {
                TaskState::Failed
            };
            record.exit_code = e.exit_code;
            record.error = Some(e.message.clone());
            let _ = log.line(&format!(
                "sluice: attempt {} failed: {}",
                record.attempt, e.message
            ));
        }
    }
}
