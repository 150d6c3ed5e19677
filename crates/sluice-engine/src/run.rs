//! The scheduler loop of one run.
//!
//! One loop owns every task's state. Ready tasks start while fewer than `max_parallel`
//! attempts run; each attempt is a tokio task that reports back through a [`JoinSet`].
//! A failed attempt with retries left becomes `up_for_retry` and frees its slot; a timer in
//! the same set brings it back after the backoff. State changes go to the store writer
//! without waiting.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::Rng;
use sluice_core::dag::{dependents, downstream_closure, upstream_closure};
use sluice_core::diag::did_you_mean;
use sluice_core::fingerprint::{fingerprints_known, settled};
use sluice_core::{Pipeline, RunState, TaskKind, TaskState};
use sluice_op::{DatasetTarget, Echo, OpError, OpOutput, Previous, TaskContext, TaskLog, shell};
use sluice_store::{AttemptRecord, RunFilter, RunRecord, TaskRunRecord, Write, now_micros};
use tokio::sync::mpsc::UnboundedSender;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::holds::Holds;
use crate::process::{hostname, is_live_sluice, kill_orphan_group};
use crate::warehouse::version_of;
use crate::writer::{self, StoreWriter};
use crate::{Engine, EngineError, Event, RunOptions, RunSummary};

/// Longest wait between two attempts, whatever the backoff says.
const MAX_RETRY_DELAY: Duration = Duration::from_secs(3600);

/// The least delay before retry number `retry` (1 for the first retry): `base × 2^(retry-1)`,
/// capped at one hour. What the server says a waiting task waits for.
pub fn retry_delay(base: Duration, retry: u32) -> Duration {
    base.saturating_mul(1u32 << retry.saturating_sub(1).min(20))
        .min(MAX_RETRY_DELAY)
}

/// Delay before retry number `retry`: [`retry_delay`] plus up to 25 % random jitter, so that
/// many failing tasks do not retry in step.
pub fn backoff(base: Duration, retry: u32) -> Duration {
    let capped = retry_delay(base, retry);
    let jitter = rand::thread_rng().gen_range(0.0..0.25);
    capped + capped.mul_f64(jitter)
}

/// Attempts a run of `pipeline` makes at once: its `max_parallel`, or one per core.
pub(crate) fn max_parallel(pipeline: &Pipeline) -> usize {
    pipeline
        .max_parallel
        .unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
        })
        .max(1)
}

/// Per-task bookkeeping of the loop.
struct Slot {
    state: TaskState,
    /// Attempts recorded for this task in this run, across resumes (the next attempt is +1).
    attempts: u32,
    /// Attempts made by this invocation (the retry budget).
    tries: u32,
    pending_deps: usize,
    fingerprint: String,
    forced: bool,
    started_at: Option<i64>,
    ended_at: Option<i64>,
    error: Option<String>,
    cancel: Option<CancellationToken>,
}

enum Done {
    Attempt {
        idx: usize,
        result: Result<OpOutput, OpError>,
        elapsed: Duration,
    },
    RetryDue(usize),
}

struct Shared {
    engine: Engine,
    pipeline: Pipeline,
    /// The built op of each op task (built once per run).
    ops: Vec<Option<Arc<dyn sluice_op::Op>>>,
    /// Fingerprint of each task; that of a task which always runs is settled once it ran
    /// (see [`settled`]), and those after it are computed again.
    fingerprints: std::sync::Mutex<Vec<String>>,
    run_id: String,
    writer: StoreWriter,
    events: Option<UnboundedSender<Event>>,
    stream_logs: bool,
    /// The dataset versions this run's tasks read or wrote, held until it ends.
    holds: Holds,
}

impl Shared {
    /// Task `i`'s current fingerprint.
    fn fingerprint(&self, i: usize) -> String {
        self.fingerprints.lock().unwrap_or_else(|e| e.into_inner())[i].clone()
    }

    /// The folder of the dataset task `i` produces with its current fingerprint.
    fn dataset_dir(&self, i: usize) -> std::path::PathBuf {
        self.engine.warehouse.current_dir(
            &self.pipeline.name,
            &self.pipeline.tasks[i].name,
            &version_of(&self.fingerprint(i)),
        )
    }

    /// Whether task `i`'s op runs every time (a download asking the server what changed).
    fn always_runs(&self, i: usize) -> bool {
        self.ops[i].as_ref().is_some_and(|op| op.always_runs())
    }

    /// Whether what task `i` left last time is still there: its dataset version and the
    /// files its op writes. A task missing either runs again instead of being cached.
    fn results_kept(&self, i: usize) -> bool {
        let dataset_kept =
            !self.pipeline.tasks[i].produces_dataset || self.holds.kept_now(&self.dataset_dir(i));
        dataset_kept
            && self.ops[i]
                .as_ref()
                .is_none_or(|op| op.outputs(&self.pipeline.dir).iter().all(|p| p.exists()))
    }

    fn emit(&self, e: Event) {
        if let Some(tx) = &self.events {
            let _ = tx.send(e);
        }
    }
}

impl Engine {
    /// The parameters a run was started with (to resume it with the same ones).
    pub async fn run_params(
        &self,
        run_id: &str,
    ) -> Result<std::collections::BTreeMap<String, String>, EngineError> {
        match self.store.run(run_id).await? {
            Some(r) => Ok(r.params),
            None => Err(EngineError::UnknownRun(run_id.to_string())),
        }
    }

    /// Marks runs of `pipeline` whose process died (killed, machine restarted) as failed, with
    /// their running attempts, so nothing stays "running" forever, and removes the staging
    /// folders of the datasets they were writing. Returns their ids.
    pub async fn reap_dead_runs(&self, pipeline: &str) -> Result<Vec<String>, EngineError> {
        let host = hostname();
        let running = self
            .store
            .runs(&RunFilter {
                pipeline: Some(pipeline.to_string()),
                state: Some(RunState::Running),
                limit: 0,
            })
            .await?;
        let mut reaped = Vec::new();
        for run in running {
            let same_host = run.host.as_deref().is_none_or(|h| h == host);
            if !same_host || run.pid.is_some_and(is_live_sluice) {
                continue;
            }
            let writes = self.interrupted_writes(&run).await?;
            self.store.apply(&writes).await?;
            // The datasets it was writing are incomplete: nothing will publish them.
            if let Err(e) = self.warehouse.sweep_staging(pipeline, &run.id) {
                tracing::warn!("cannot remove the staging folders of run {}: {e}", run.id);
            }
            reaped.push(run.id);
        }
        Ok(reaped)
    }

    async fn interrupted_writes(&self, run: &RunRecord) -> Result<Vec<Write>, EngineError> {
        let now = now_micros();
        let why = format!(
            "interrupted: the sluice process{} stopped before this ended",
            run.pid.map(|p| format!(" (pid {p})")).unwrap_or_default()
        );
        let mut writes = Vec::new();
        let same_host = run.host.as_deref().is_none_or(|h| h == hostname());
        for mut a in self.store.attempts(&run.id, None).await? {
            if a.state == TaskState::Running {
                if let Some(pgid) = a.pid.filter(|_| same_host) {
                    kill_orphan_group(pgid);
                }
                a.pid = None;
                a.state = TaskState::Failed;
                a.ended_at = Some(now);
                a.error = Some(why.clone());
                writes.push(Write::Attempt(a));
            }
        }
        for mut t in self.store.task_runs(&run.id).await? {
            if !t.state.is_final() {
                t.state = if t.state == TaskState::Running {
                    TaskState::Failed
                } else {
                    TaskState::Cancelled
                };
                t.ended_at = Some(now);
                t.error = Some(why.clone());
                writes.push(Write::TaskRun(t));
            }
        }
        let mut r = run.clone();
        r.state = RunState::Failed;
        r.ended_at = Some(now);
        r.error = Some(format!(
            "{why}; resume it with `sluice run {} --resume {}`",
            run.file, run.id
        ));
        writes.push(Write::Run(r));
        Ok(writes)
    }

    /// Runs `pipeline`. Returns when every selected task is final, or after `stop` fires
    /// and the running attempts were killed.
    pub async fn run(
        &self,
        pipeline: &Pipeline,
        opts: RunOptions,
        events: Option<UnboundedSender<Event>>,
        stop: CancellationToken,
    ) -> Result<RunSummary, EngineError> {
        let clock = Instant::now();
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
        let mut fps = fingerprints_known(pipeline, &stamps, &[]);
        let cached: HashSet<(String, String)> = self
            .store
            .fingerprints(&pipeline.name)
            .await?
            .into_iter()
            .collect();
        let mut known: Vec<Option<String>> = vec![None; n];
        let mut slots: Vec<Slot> = (0..n)
            .map(|i| Slot {
                state: TaskState::Queued,
                attempts: 0,
                tries: 0,
                pending_deps: 0,
                fingerprint: fps[i].clone(),
                forced: forced[i],
                started_at: None,
                ended_at: None,
                error: None,
                cancel: None,
            })
            .collect();

        // A new run, or the continuation of an old one.
        let (run_id, mut run_record, already_done) = match &opts.resume {
            Some(id) => {
                let Some(old) = self.store.run(id).await? else {
                    return Err(EngineError::UnknownRun(id.clone()));
                };
                if old.pipeline != pipeline.name {
                    return Err(EngineError::WrongPipeline {
                        run_id: id.clone(),
                        actual: old.pipeline,
                        expected: pipeline.name.clone(),
                    });
                }
                if old.state == RunState::Running {
                    match old.pid {
                        Some(pid) if old.host.as_deref().is_some_and(|h| h != hostname()) => {
                            return Err(EngineError::RunningElsewhere {
                                run_id: id.clone(),
                                host: old.host.clone().unwrap_or_default(),
                                pid,
                            });
                        }
                        Some(pid) if is_live_sluice(pid) => {
                            return Err(EngineError::StillRunning {
                                run_id: id.clone(),
                                pid,
                            });
                        }
                        _ => {
                            let writes = self.interrupted_writes(&old).await?;
                            self.store.apply(&writes).await?;
                        }
                    }
                }
                let mut done = 0;
                for t in self.store.task_runs(id).await? {
                    if let Some(i) = pipeline.task_index(&t.task) {
                        slots[i].attempts = t.attempts;
                        slots[i].started_at = t.started_at;
                        if t.state.is_done_ok() && selected[i] {
                            slots[i].state = t.state;
                            slots[i].ended_at = t.ended_at;
                            // A task that always runs is known by what it produced then.
                            known[i] = t.fingerprint;
                            done += 1;
                        }
                    }
                }
                fps = fingerprints_known(pipeline, &stamps, &known);
                for (slot, fp) in slots.iter_mut().zip(&fps) {
                    slot.fingerprint = fp.clone();
                }
                (id.clone(), old, done)
            }
            None => {
                let id = opts.run_id.clone().unwrap_or_else(new_run_id);
                let record = RunRecord {
                    id: id.clone(),
                    pipeline: pipeline.name.clone(),
                    file: pipeline.file.display().to_string(),
                    params: stored_params(pipeline),
                    state: RunState::Running,
                    trigger: if opts.trigger.is_empty() {
                        "cli".into()
                    } else {
                        opts.trigger.clone()
                    },
                    started_at: now_micros(),
                    ended_at: None,
                    pid: None,
                    host: None,
                    error: None,
                };
                (id, record, 0)
            }
        };
        run_record.state = RunState::Running;
        run_record.params = stored_params(pipeline);
        run_record.ended_at = None;
        run_record.error = None;
        run_record.pid = Some(i64::from(std::process::id()));
        run_record.host = Some(hostname());

        if let Some(max) = opts.max_active
            && !self.store.start_run(&run_record, max).await?
        {
            return Err(EngineError::TooManyRuns {
                pipeline: pipeline.name.clone(),
                max,
            });
        }
        // A write the store refuses stops the run (and fails it) as Ctrl-C would stop it.
        let stop = stop.child_token();
        let (writer, writer_task) = writer::start(self.store.clone(), stop.clone());
        if opts.max_active.is_none() {
            writer.send(Write::Run(run_record.clone()));
        }
        let shared = Arc::new(Shared {
            engine: self.clone(),
            pipeline: pipeline.clone(),
            ops: built,
            fingerprints: std::sync::Mutex::new(fps.clone()),
            run_id: run_id.clone(),
            writer: writer.clone(),
            events,
            stream_logs: opts.stream_logs,
            holds: Holds::default(),
        });
        let total = selected.iter().filter(|s| **s).count();
        shared.emit(Event::RunStarted {
            run_id: run_id.clone(),
            tasks: total,
            already_done,
            resumed: opts.resume.is_some(),
        });

        let dependents = dependents(pipeline);
        let mut ready: VecDeque<(usize, i64)> = VecDeque::new();
        let now = now_micros();
        for i in 0..n {
            if !selected[i] {
                continue;
            }
            if !slots[i].state.is_done_ok() {
                slots[i].pending_deps = pipeline.tasks[i]
                    .deps
                    .iter()
                    .filter(|&&d| !slots[d].state.is_done_ok())
                    .count();
                write_task(&shared, i, &slots[i]);
                if slots[i].pending_deps == 0 {
                    ready.push_back((i, now));
                }
            }
        }

        let max_parallel = max_parallel(pipeline);
        let mut running = 0usize;
        let mut set: JoinSet<Done> = JoinSet::new();
        let mut stopping = false;

        // Which task each running tokio task belongs to, to account for a panicking attempt.
        let mut spawned: std::collections::HashMap<tokio::task::Id, usize> =
            std::collections::HashMap::new();
        loop {
            stopping |= stop.is_cancelled();
            while running < max_parallel && !stopping {
                let Some((i, ready_at)) = ready.pop_front() else {
                    break;
                };
                let task = &pipeline.tasks[i];
                let slot = &mut slots[i];
                if !slot.forced
                    && task.cache
                    && !shared.always_runs(i)
                    && shared.results_kept(i)
                    && cached.contains(&(task.name.clone(), slot.fingerprint.clone()))
                {
                    slot.ended_at = Some(now_micros());
                    if task.produces_dataset {
                        shared.writer.send(Write::Latest {
                            pipeline: pipeline.name.clone(),
                            task: task.name.clone(),
                            version: version_of(&slot.fingerprint),
                            at: now_micros(),
                        });
                    }
                    transition(&shared, i, slot, TaskState::Cached, None, None);
                    release(i, &dependents, &mut slots, &mut ready);
                    continue;
                }
                slot.attempts += 1;
                slot.tries += 1;
                slot.error = None;
                let started = now_micros();
                slot.started_at.get_or_insert(started);
                let token = stop.child_token();
                slot.cancel = Some(token.clone());
                transition(&shared, i, slot, TaskState::Running, None, None);
                running += 1;
                let attempt = slot.attempts;
                let sh = shared.clone();
                let handle =
                    set.spawn(async move { run_attempt(sh, i, attempt, ready_at, token).await });
                spawned.insert(handle.id(), i);
            }
            if running == 0 && (ready.is_empty() || stopping) && set.is_empty() {
                break;
            }
            let done = tokio::select! {
                biased;
                _ = stop.cancelled(), if !stopping => {
                    stopping = true;
                    continue;
                }
                joined = set.join_next_with_id() => match joined {
                    Some(Ok((id, done))) => {
                        spawned.remove(&id);
                        done
                    }
                    Some(Err(e)) => {
                        // A bug in an op: the attempt fails like any other, the run goes on.
                        let Some(i) = spawned.remove(&e.id()) else { continue };
                        let message = format!("the op crashed (this is a bug in sluice, please report it): {e}");
                        tracing::error!("task `{}`: {message}", pipeline.tasks[i].name);
                        let now = now_micros();
                        shared.writer.send(Write::Attempt(AttemptRecord {
                            run_id: run_id.clone(),
                            task: pipeline.tasks[i].name.clone(),
                            attempt: slots[i].attempts,
                            state: TaskState::Failed,
                            ready_at: now,
                            started_at: now,
                            ended_at: Some(now),
                            exit_code: None,
                            error: Some(message.clone()),
                            log_path: None,
                            pid: None,
                            metrics: None,
                        }));
                        Done::Attempt {
                            idx: i,
                            result: Err(OpError::internal(message)),
                            elapsed: Duration::ZERO,
                        }
                    }
                    None => break,
                },
            };
            match done {
                Done::RetryDue(i) => {
                    if stopping || slots[i].state != TaskState::UpForRetry {
                        continue;
                    }
                    slots[i].state = TaskState::Queued;
                    write_task(&shared, i, &slots[i]);
                    ready.push_back((i, now_micros()));
                }
                Done::Attempt {
                    idx: i,
                    result,
                    elapsed,
                } => {
                    running -= 1;
                    let task = &pipeline.tasks[i];
                    let slot = &mut slots[i];
                    slot.cancel = None;
                    slot.ended_at = Some(now_micros());
                    match result {
                        Ok(_) => {
                            if shared.always_runs(i) {
                                // Settled by what it produced: the tasks after it are
                                // fingerprinted again, and stay cached if it brought nothing new.
                                slot.fingerprint = shared.fingerprint(i);
                                known[i] = Some(slot.fingerprint.clone());
                                let now_known = fingerprints_known(pipeline, &stamps, &known);
                                let mut current = shared
                                    .fingerprints
                                    .lock()
                                    .unwrap_or_else(|e| e.into_inner());
                                for j in downstream_closure(pipeline, &[i])
                                    .iter()
                                    .enumerate()
                                    .filter_map(|(j, &down)| (down && j != i).then_some(j))
                                {
                                    current[j] = now_known[j].clone();
                                    slots[j].fingerprint = now_known[j].clone();
                                }
                            }
                            let slot = &mut slots[i];
                            shared.writer.send(Write::Fingerprint {
                                pipeline: pipeline.name.clone(),
                                task: task.name.clone(),
                                fingerprint: slot.fingerprint.clone(),
                                run_id: run_id.clone(),
                                at: now_micros(),
                            });
                            transition(&shared, i, slot, TaskState::Succeeded, Some(elapsed), None);
                            release(i, &dependents, &mut slots, &mut ready);
                        }
                        Err(e) => {
                            // The stop may not have reached the loop yet when the attempt it
                            // killed reports back: ask the token, not the loop's flag.
                            stopping |= stop.is_cancelled();
                            let retry = !stopping && slot.tries <= task.retries;
                            slot.error = Some(if retry && e.kind.retryable() || stopping {
                                e.message
                            } else {
                                final_error(&e, task.retries + 1 - slot.tries.min(task.retries + 1))
                            });
                            if stopping {
                                transition(
                                    &shared,
                                    i,
                                    slot,
                                    TaskState::Cancelled,
                                    Some(elapsed),
                                    None,
                                );
                            } else if retry && e.kind.retryable() {
                                let delay = backoff(task.retry_delay, slot.tries);
                                transition(
                                    &shared,
                                    i,
                                    slot,
                                    TaskState::UpForRetry,
                                    Some(elapsed),
                                    Some(delay),
                                );
                                let stop = stop.clone();
                                set.spawn(async move {
                                    tokio::select! {
                                        _ = tokio::time::sleep(delay) => {},
                                        _ = stop.cancelled() => {},
                                    }
                                    Done::RetryDue(i)
                                });
                            } else {
                                transition(
                                    &shared,
                                    i,
                                    slot,
                                    TaskState::Failed,
                                    Some(elapsed),
                                    None,
                                );
                                fail_downstream(&shared, i, &dependents, &selected, &mut slots);
                            }
                        }
                    }
                }
            }
        }

        // Whatever did not get to run was cancelled.
        for i in 0..n {
            if selected[i] && !slots[i].state.is_final() {
                slots[i]
                    .error
                    .get_or_insert_with(|| "the run was stopped before this task ran".into());
                transition(&shared, i, &mut slots[i], TaskState::Cancelled, None, None);
            }
        }
        let any_failed = (0..n).any(|i| {
            selected[i]
                && matches!(
                    slots[i].state,
                    TaskState::Failed | TaskState::UpstreamFailed
                )
        });
        let refused = writer.refused();
        let state = if refused.is_some() {
            RunState::Failed
        } else if stop.is_cancelled() {
            RunState::Cancelled
        } else if any_failed {
            RunState::Failed
        } else {
            RunState::Succeeded
        };
        run_record.state = state;
        run_record.ended_at = Some(now_micros());
        run_record.error =
            refused.map(|e| format!("the state store refused a write: {e} — is the disk full?"));
        writer.send(Write::Run(run_record));
        drop(writer);
        drop(shared);
        writer_task
            .finish()
            .await
            .map_err(|source| EngineError::StoreRefused {
                run_id: run_id.clone(),
                file: pipeline.file.display().to_string(),
                source,
            })?;
        if let Err(e) = self.apply_retention(pipeline).await {
            tracing::warn!("dataset retention failed: {e}");
        }

        Ok(RunSummary {
            run_id,
            state,
            tasks: (0..n)
                .filter(|&i| selected[i])
                .map(|i| {
                    (
                        pipeline.tasks[i].name.clone(),
                        slots[i].state,
                        slots[i].attempts,
                    )
                })
                .collect(),
            elapsed: clock.elapsed(),
        })
    }
}

/// The parameters recorded on a run: secret ones are left out (they are read from the
/// environment again on resume, and never stored).
fn stored_params(p: &Pipeline) -> std::collections::BTreeMap<String, String> {
    p.params
        .iter()
        .filter(|(k, _)| !p.secret_params.contains(*k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// A new run id: its start time to the second, sortable, and 32 random bits (thousands of
/// runs a second started by the server never share one).
pub fn new_run_id() -> String {
    let now = chrono::Utc::now();
    format!(
        "{}-{:08x}",
        now.format("%Y%m%d-%H%M%S"),
        rand::thread_rng().r#gen::<u32>()
    )
}

/// Moves task `i` to `state`: records it and tells the front end.
fn transition(
    shared: &Shared,
    i: usize,
    slot: &mut Slot,
    state: TaskState,
    elapsed: Option<Duration>,
    retry_in: Option<Duration>,
) {
    slot.state = state;
    write_task(shared, i, slot);
    shared.emit(Event::Task {
        task: shared.pipeline.tasks[i].name.clone(),
        state,
        attempt: slot.attempts,
        error: slot.error.clone(),
        elapsed,
        retry_in,
    });
}

fn write_task(shared: &Shared, i: usize, slot: &Slot) {
    shared.writer.send(Write::TaskRun(TaskRunRecord {
        run_id: shared.run_id.clone(),
        task: shared.pipeline.tasks[i].name.clone(),
        state: slot.state,
        attempts: slot.attempts,
        fingerprint: Some(slot.fingerprint.clone()),
        started_at: slot.started_at,
        ended_at: slot.ended_at,
        error: slot.error.clone(),
    }));
}

/// Task `i` is done: its dependents have one fewer task to wait for.
fn release(
    i: usize,
    dependents: &[Vec<usize>],
    slots: &mut [Slot],
    ready: &mut VecDeque<(usize, i64)>,
) {
    let now = now_micros();
    for &j in &dependents[i] {
        if slots[j].state != TaskState::Queued || slots[j].pending_deps == 0 {
            continue;
        }
        slots[j].pending_deps -= 1;
        if slots[j].pending_deps == 0 {
            ready.push_back((j, now));
        }
    }
}

/// The message of a task's final failure: the attempt's error, then, when its kind names who
/// must act, the kind and that advice, with the retries the kind made pointless (`skipped`).
fn final_error(e: &OpError, skipped: u32) -> String {
    let Some(advice) = e.kind.advice() else {
        return e.message.clone();
    };
    let mut out = format!("{}\n{} error: {advice}", e.message, e.kind);
    if skipped > 0 && !e.kind.retryable() {
        let s = if skipped == 1 { "y" } else { "ies" };
        out.push_str(&format!(" (not retried: {skipped} retr{s} skipped)"));
    }
    out
}

/// Task `i` failed: everything downstream that has not run becomes `upstream_failed`.
fn fail_downstream(
    shared: &Shared,
    i: usize,
    dependents: &[Vec<usize>],
    selected: &[bool],
    slots: &mut [Slot],
) {
    let failed = &shared.pipeline.tasks[i].name;
    let mut stack = dependents[i].clone();
    while let Some(j) = stack.pop() {
        if !selected[j] || slots[j].state != TaskState::Queued {
            continue;
        }
        slots[j].error = Some(format!("upstream task `{failed}` failed"));
        transition(
            shared,
            j,
            &mut slots[j],
            TaskState::UpstreamFailed,
            None,
            None,
        );
        stack.extend(&dependents[j]);
    }
}

/// Checks a new dataset, moves it from staging to its version folder and makes it latest.
async fn publish_dataset(
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
async fn previous_dataset(shared: &Shared, i: usize) -> Result<Option<Previous>, String> {
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
async fn run_attempt(
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_bounded_jitter() {
        let base = Duration::from_millis(100);
        for retry in 1..=4 {
            let d = backoff(base, retry);
            let lo = base * (1 << (retry - 1));
            assert!(d >= lo && d < lo.mul_f64(1.25), "retry {retry}: {d:?}");
        }
        assert!(backoff(Duration::from_secs(3000), 5) <= MAX_RETRY_DELAY.mul_f64(1.25));
        assert_eq!(retry_delay(Duration::from_secs(3000), 5), MAX_RETRY_DELAY);
        assert_eq!(retry_delay(base, 3), base * 4);
    }
}
