//! The scheduler loop of one run.
//!
//! One loop owns every task's state. Ready tasks start while fewer than `max_parallel`
//! attempts run; each attempt is a tokio task that reports back through a [`JoinSet`].
//! A failed attempt with retries left becomes `up_for_retry` and frees its slot; a timer in
//! the same set brings it back after the backoff. State changes go to the store writer
//! without waiting.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::Rng;
use sluice_core::dag::{dependents, downstream_closure};
use sluice_core::fingerprint::fingerprints_known;
use sluice_core::{Pipeline, RunState, TaskState};
use sluice_op::{OpError, OpOutput};
use sluice_store::{AttemptRecord, RunRecord, TaskRunRecord, Write, now_micros};
use tokio::sync::mpsc::UnboundedSender;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::attempt::run_attempt;
use crate::holds::Holds;
use crate::observe::{Observed, Phase, RunEvent};
use crate::plan::Plan;
use crate::process::{hostname, is_live_sluice};
use crate::warehouse::{generation_of, version_of};
use crate::writer::{self, StoreWriter, WriterTask};
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

/// Attempts a run of `pipeline` makes at once: its `max_parallel`, or one per core (on
/// workers: every ready task is queued, the workers' slots bound what runs).
pub(crate) fn max_parallel(pipeline: &Pipeline, on_workers: bool) -> usize {
    pipeline
        .max_parallel
        .unwrap_or_else(|| {
            if on_workers {
                return usize::MAX;
            }
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

/// What the loop hears back: an attempt that ended, or a retry whose delay is over.
// Moved once per attempt: boxing the output would only add an allocation.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Done {
    Attempt {
        idx: usize,
        result: Result<OpOutput, OpError>,
        elapsed: Duration,
    },
    RetryDue(usize),
}

/// What every attempt of a run shares with the loop.
pub(crate) struct Shared {
    pub(crate) engine: Engine,
    pub(crate) pipeline: Arc<Pipeline>,
    /// What each task is, for observers and the lineage recorded.
    pub(crate) metas: Vec<Arc<crate::observe::TaskMeta>>,
    /// The scheduled slot the run is for.
    pub(crate) nominal_time: Option<sluice_store::Micros>,
    /// The built op of each op task (built once per run).
    pub(crate) ops: Vec<Option<Arc<dyn sluice_op::Op>>>,
    /// Fingerprint of each task; that of a task which always runs is settled once it ran
    /// (see [`settled`]), and those after it are computed again.
    pub(crate) fingerprints: std::sync::Mutex<Vec<String>>,
    pub(crate) run_id: String,
    pub(crate) writer: StoreWriter,
    pub(crate) events: Option<UnboundedSender<Event>>,
    pub(crate) stream_logs: bool,
    /// The dataset versions this run's tasks read or wrote, held until it ends.
    pub(crate) holds: Holds,
    /// With the warehouse in an object store: the version folders known complete there,
    /// relative to the warehouse (listed when the run started, and those it uploaded since).
    pub(crate) remote_kept: std::sync::Mutex<std::collections::HashSet<String>>,
}

impl Shared {
    /// Task `i`'s current fingerprint.
    pub(crate) fn fingerprint(&self, i: usize) -> String {
        self.fingerprints.lock().unwrap_or_else(|e| e.into_inner())[i].clone()
    }

    /// The folder of the dataset task `i` produces with its current fingerprint.
    pub(crate) fn dataset_dir(&self, i: usize) -> std::path::PathBuf {
        let (pipeline, task) = (&self.pipeline.name, &self.pipeline.tasks[i].name);
        let version = version_of(&self.fingerprint(i));
        let here = self.engine.warehouse.current_dir(pipeline, task, &version);
        let in_store = self.in_store();
        if in_store.is_empty() {
            return here;
        }
        // The newest folder of the version, here or in the object store.
        let generation = |name: &str| generation_of(name, &version);
        let local = here
            .is_dir()
            .then(|| {
                here.file_name()
                    .and_then(|n| generation(&n.to_string_lossy()))
            })
            .flatten()
            .unwrap_or(0);
        let prefix = format!("{pipeline}/{task}/");
        in_store
            .iter()
            .filter_map(|rel| {
                let name = rel.strip_prefix(&prefix)?;
                generation(name).map(|g| (g, rel))
            })
            .max()
            .filter(|(g, _)| *g > local)
            .map_or(here, |(_, rel)| self.engine.warehouse.root().join(rel))
    }

    /// The version folders known complete in the object store ([`Shared::remote_kept`]).
    fn in_store(&self) -> std::sync::MutexGuard<'_, std::collections::HashSet<String>> {
        self.remote_kept.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether the version folder `dir` is known complete in the object store.
    fn known_in_store(&self, dir: &std::path::Path) -> bool {
        self.engine
            .warehouse
            .relative(dir)
            .is_some_and(|rel| self.in_store().contains(&rel))
    }

    /// Notes that the version folder `dir` is complete in the object store.
    pub(crate) fn now_in_store(&self, dir: &std::path::Path) {
        if self.engine.warehouse.remote().is_some()
            && let Some(rel) = self.engine.warehouse.relative(dir)
        {
            self.in_store().insert(rel);
        }
    }

    /// Whether the version folder `dir` can be read, holding it for this run: here, or, with
    /// the warehouse in an object store, complete there (downloaded first when the attempt
    /// runs in this process).
    pub(crate) async fn available(&self, dir: &std::path::Path) -> Result<bool, String> {
        let warehouse = &self.engine.warehouse;
        let known = warehouse.remote().is_some() && self.known_in_store(dir);
        if warehouse.remote().is_some() && !known && dir.is_dir() && self.engine.on_workers() {
            // Workers download it: a version made before the warehouse was in the object
            // store goes there first.
            warehouse
                .upload_if_missing(dir)
                .await
                .map_err(|e| e.to_string())?;
            self.now_in_store(dir);
        }
        if warehouse.remote().is_some() && !dir.is_dir() {
            let found = if !self.engine.on_workers() {
                warehouse.fetch(dir).await
            } else if known {
                Ok(true)
            } else {
                warehouse.exists(dir).await
            };
            if !found.map_err(|e| e.to_string())? {
                return Ok(false);
            }
            if !dir.is_dir() {
                // In the object store only; workers download it.
                self.holds.wait(dir).await?;
                return Ok(true);
            }
        }
        Ok(self.holds.kept(dir).await)
    }

    /// Whether task `i`'s op runs every time (a download asking the server what changed).
    fn always_runs(&self, i: usize) -> bool {
        self.ops[i].as_ref().is_some_and(|op| op.always_runs())
    }

    /// Whether what task `i` left last time is still there: its dataset version and the
    /// files its op writes. A task missing either runs again instead of being cached.
    fn results_kept(&self, i: usize) -> bool {
        let dir = self.dataset_dir(i);
        let dataset_kept = !self.pipeline.tasks[i].produces_dataset
            || self.holds.kept_now(&dir)
            || self.known_in_store(&dir);
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
        let Plan {
            selected,
            forced,
            ops: built,
            stamps,
            cached,
        } = self.plan(pipeline, &opts).await?;
        let fps = fingerprints_known(pipeline, &stamps, &[]);
        let mut known: Vec<Option<String>> = vec![None; n];
        let mut slots = queued_slots(fps, &forced);

        // A new run, or the continuation of an old one.
        let (run_id, mut run_record, already_done) = match &opts.resume {
            Some(id) => {
                let (old, done) = self
                    .resume_state(id, pipeline, &selected, &stamps, &mut slots, &mut known)
                    .await?;
                (id.clone(), old, done)
            }
            None => new_run(pipeline, &opts),
        };
        let fps: Vec<String> = slots.iter().map(|s| s.fingerprint.clone()).collect();
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
        let remote_kept = match self.warehouse.remote() {
            None => Default::default(),
            Some(remote) => match remote.complete_under(&pipeline.name).await {
                Ok(found) => found.into_iter().collect(),
                Err(e) => {
                    // Its tasks then run again rather than be taken from the cache.
                    tracing::warn!("cannot list the versions in {}: {e}", remote.url());
                    Default::default()
                }
            },
        };
        let shared = Arc::new(Shared {
            engine: self.clone(),
            pipeline: Arc::new(pipeline.clone()),
            metas: (0..pipeline.tasks.len())
                .map(|i| Arc::new(crate::observe::TaskMeta::of(pipeline, i)))
                .collect(),
            nominal_time: opts.nominal_time,
            ops: built,
            fingerprints: std::sync::Mutex::new(fps.clone()),
            run_id: run_id.clone(),
            writer: writer.clone(),
            events,
            stream_logs: opts.stream_logs,
            holds: Holds::default(),
            remote_kept: std::sync::Mutex::new(remote_kept),
        });
        // What the file says of its tasks, for the catalog, even of those that stay cached.
        if let Ok(tasks) = serde_json::to_string(&shared.metas) {
            writer.send(Write::PipelineDocs {
                pipeline: pipeline.name.clone(),
                at: now_micros(),
                tasks,
            });
        }
        let total = selected.iter().filter(|s| **s).count();
        shared.emit(Event::RunStarted {
            run_id: run_id.clone(),
            tasks: total,
            already_done,
            resumed: opts.resume.is_some(),
        });
        let observed_pipeline = shared.pipeline.clone();
        let observed_run = |phase, error| {
            Observed::Run(RunEvent {
                pipeline: observed_pipeline.clone(),
                run_id: run_id.clone(),
                nominal_time: opts.nominal_time,
                phase,
                at: now_micros(),
                error,
            })
        };
        self.observe(|| observed_run(Phase::Started, None));

        let mut run = RunLoop {
            pipeline,
            shared,
            slots,
            known,
            stamps,
            cached,
            dependents: dependents(pipeline),
            selected: &selected,
            ready: VecDeque::new(),
            running: 0,
            set: JoinSet::new(),
            spawned: HashMap::new(),
            stopping: false,
            stop: stop.clone(),
            max_parallel: max_parallel(pipeline, self.on_workers()),
        };
        run.queue();
        run.go().await;
        let slots = run.finish();

        let any_failed = slots
            .iter()
            .zip(&selected)
            .any(|(s, &on)| on && matches!(s.state, TaskState::Failed | TaskState::UpstreamFailed));
        let state = if stop.is_cancelled() {
            RunState::Cancelled
        } else if any_failed {
            RunState::Failed
        } else {
            RunState::Succeeded
        };
        let state = self
            .close(pipeline, run_record, state, writer, writer_task)
            .await?;
        self.observe(|| {
            let (phase, error) = match state {
                RunState::Succeeded => (Phase::Succeeded, None),
                RunState::Cancelled => (Phase::Cancelled, Some("the run was stopped".into())),
                _ => (Phase::Failed, Some("a task failed".into())),
            };
            observed_run(phase, error)
        });
        let tasks = pipeline.tasks.iter().zip(&slots).zip(&selected);
        let tasks = tasks.filter(|(_, on)| **on);
        Ok(RunSummary {
            run_id,
            state,
            tasks: tasks
                .map(|((t, s), _)| (t.name.clone(), s.state, s.attempts))
                .collect(),
            elapsed: clock.elapsed(),
        })
    }

    /// Records the run's end, `state` unless the store refused a write (then failed), waits
    /// for every write, and applies retention. Returns the state recorded.
    async fn close(
        &self,
        pipeline: &Pipeline,
        mut record: RunRecord,
        state: RunState,
        writer: StoreWriter,
        writer_task: WriterTask,
    ) -> Result<RunState, EngineError> {
        let refused = writer.refused();
        record.state = if refused.is_some() {
            RunState::Failed
        } else {
            state
        };
        record.ended_at = Some(now_micros());
        record.error =
            refused.map(|e| format!("the state store refused a write: {e} — is the disk full?"));
        let state = record.state;
        let run_id = record.id.clone();
        writer.send(Write::Run(record));
        drop(writer);
        writer_task
            .finish()
            .await
            .map_err(|source| EngineError::StoreRefused {
                run_id,
                file: pipeline.file.display().to_string(),
                source,
            })?;
        if let Err(e) = self.apply_retention(pipeline).await {
            tracing::warn!("dataset retention failed: {e}");
        }
        Ok(state)
    }
}

/// Every task's slot before the run starts: queued, with its fingerprint.
fn queued_slots(fingerprints: Vec<String>, forced: &[bool]) -> Vec<Slot> {
    fingerprints
        .into_iter()
        .zip(forced)
        .map(|(fingerprint, &forced)| Slot {
            state: TaskState::Queued,
            attempts: 0,
            tries: 0,
            pending_deps: 0,
            fingerprint,
            forced,
            started_at: None,
            ended_at: None,
            error: None,
            cancel: None,
        })
        .collect()
}

/// The loop of one run: every task's slot, the ready queue, the attempts in flight. One
/// task owns it; attempts report back through `set`.
struct RunLoop<'p> {
    pipeline: &'p Pipeline,
    shared: Arc<Shared>,
    slots: Vec<Slot>,
    /// Fingerprints known from what a task produced (tasks that always run).
    known: Vec<Option<String>>,
    stamps: Vec<String>,
    /// `(task, fingerprint)` pairs that already succeeded.
    cached: HashSet<(String, String)>,
    dependents: Vec<Vec<usize>>,
    selected: &'p [bool],
    ready: VecDeque<(usize, i64)>,
    running: usize,
    set: JoinSet<Done>,
    /// Which task each running tokio task belongs to, to account for a panicking attempt.
    spawned: HashMap<tokio::task::Id, usize>,
    stopping: bool,
    stop: CancellationToken,
    max_parallel: usize,
}

/// What the loop waits for next.
// As `Done`.
#[allow(clippy::large_enum_variant)]
enum Next {
    Stop,
    Done(tokio::task::Id, Done),
    Crashed(tokio::task::JoinError),
    End,
}

impl RunLoop<'_> {
    /// Queues every selected task not yet done; those with nothing left upstream are ready.
    fn queue(&mut self) {
        let now = now_micros();
        for i in 0..self.slots.len() {
            if !self.selected[i] || self.slots[i].state.is_done_ok() {
                continue;
            }
            self.slots[i].pending_deps = self.pipeline.tasks[i]
                .deps
                .iter()
                .filter(|&&d| !self.slots[d].state.is_done_ok())
                .count();
            write_task(&self.shared, i, &self.slots[i]);
            if self.slots[i].pending_deps == 0 {
                self.ready.push_back((i, now));
            }
        }
    }

    /// Runs until every selected task is final, or the run stops and its attempts ended.
    async fn go(&mut self) {
        loop {
            self.stopping |= self.stop.is_cancelled();
            self.start_ready();
            if self.running == 0 && (self.ready.is_empty() || self.stopping) && self.set.is_empty()
            {
                break;
            }
            let next = tokio::select! {
                biased;
                _ = self.stop.cancelled(), if !self.stopping => Next::Stop,
                joined = self.set.join_next_with_id() => match joined {
                    Some(Ok((id, done))) => Next::Done(id, done),
                    Some(Err(e)) => Next::Crashed(e),
                    None => Next::End,
                },
            };
            let done = match next {
                Next::Stop => {
                    self.stopping = true;
                    continue;
                }
                Next::End => break,
                Next::Done(id, done) => {
                    self.spawned.remove(&id);
                    done
                }
                Next::Crashed(e) => match self.crashed(e) {
                    Some(done) => done,
                    None => continue,
                },
            };
            match done {
                Done::RetryDue(i) => self.retry_due(i),
                Done::Attempt {
                    idx,
                    result,
                    elapsed,
                } => {
                    self.running -= 1;
                    self.slots[idx].cancel = None;
                    self.slots[idx].ended_at = Some(now_micros());
                    match result {
                        Ok(_) => self.succeeded(idx, elapsed),
                        Err(e) => self.failed(idx, e, elapsed),
                    }
                }
            }
        }
    }

    /// Starts ready tasks while fewer than `max_parallel` attempts run; a task whose
    /// fingerprint already succeeded becomes `cached` without running.
    fn start_ready(&mut self) {
        while self.running < self.max_parallel && !self.stopping {
            let Some((i, ready_at)) = self.ready.pop_front() else {
                break;
            };
            if self.is_cached(i) {
                self.mark_cached(i);
                continue;
            }
            let slot = &mut self.slots[i];
            slot.attempts += 1;
            slot.tries += 1;
            slot.error = None;
            slot.started_at.get_or_insert(now_micros());
            let token = self.stop.child_token();
            slot.cancel = Some(token.clone());
            transition(&self.shared, i, slot, TaskState::Running, None, None);
            self.running += 1;
            let attempt = slot.attempts;
            let shared = self.shared.clone();
            let handle = self
                .set
                .spawn(async move { run_attempt(shared, i, attempt, ready_at, token).await });
            self.spawned.insert(handle.id(), i);
        }
    }

    /// Whether task `i` may be skipped: not forced, cacheable, its results kept, and its
    /// fingerprint already succeeded.
    fn is_cached(&self, i: usize) -> bool {
        let task = &self.pipeline.tasks[i];
        let slot = &self.slots[i];
        !slot.forced
            && task.cache
            && !self.shared.always_runs(i)
            && self.shared.results_kept(i)
            && self
                .cached
                .contains(&(task.name.clone(), slot.fingerprint.clone()))
    }

    /// Task `i` is cached: its dataset version becomes latest again.
    fn mark_cached(&mut self, i: usize) {
        let pipeline = self.pipeline;
        let task = &pipeline.tasks[i];
        let slot = &mut self.slots[i];
        slot.ended_at = Some(now_micros());
        if task.produces_dataset {
            self.shared.writer.send(Write::Latest {
                pipeline: pipeline.name.clone(),
                task: task.name.clone(),
                version: version_of(&slot.fingerprint),
                at: now_micros(),
            });
        }
        transition(&self.shared, i, slot, TaskState::Cached, None, None);
        release(i, &self.dependents, &mut self.slots, &mut self.ready);
    }

    /// An attempt whose tokio task panicked (a bug in an op): it fails like any other, the
    /// run goes on.
    fn crashed(&mut self, e: tokio::task::JoinError) -> Option<Done> {
        let i = self.spawned.remove(&e.id())?;
        let task = &self.pipeline.tasks[i].name;
        let message = format!("the op crashed (this is a bug in sluice, please report it): {e}");
        tracing::error!("task `{task}`: {message}");
        let now = now_micros();
        self.shared.writer.send(Write::Attempt(AttemptRecord {
            run_id: self.shared.run_id.clone(),
            task: task.clone(),
            attempt: self.slots[i].attempts,
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
        Some(Done::Attempt {
            idx: i,
            result: Err(OpError::internal(message)),
            elapsed: Duration::ZERO,
        })
    }

    /// The retry delay of task `i` is over: it is ready again (unless the run stops).
    fn retry_due(&mut self, i: usize) {
        if self.stopping || self.slots[i].state != TaskState::UpForRetry {
            return;
        }
        self.slots[i].state = TaskState::Queued;
        write_task(&self.shared, i, &self.slots[i]);
        self.ready.push_back((i, now_micros()));
    }

    /// An attempt of task `i` succeeded: its fingerprint is recorded and the tasks after it
    /// have one fewer task to wait for.
    fn succeeded(&mut self, i: usize, elapsed: Duration) {
        if self.shared.always_runs(i) {
            self.settle(i);
        }
        let pipeline = self.pipeline;
        let slot = &mut self.slots[i];
        self.shared.writer.send(Write::Fingerprint {
            pipeline: pipeline.name.clone(),
            task: pipeline.tasks[i].name.clone(),
            fingerprint: slot.fingerprint.clone(),
            run_id: self.shared.run_id.clone(),
            at: now_micros(),
        });
        transition(
            &self.shared,
            i,
            slot,
            TaskState::Succeeded,
            Some(elapsed),
            None,
        );
        release(i, &self.dependents, &mut self.slots, &mut self.ready);
    }

    /// Task `i` always runs: its fingerprint is settled by what it produced, and the tasks
    /// after it are fingerprinted again (they stay cached if it brought nothing new).
    fn settle(&mut self, i: usize) {
        let fingerprint = self.shared.fingerprint(i);
        self.slots[i].fingerprint = fingerprint.clone();
        self.known[i] = Some(fingerprint);
        let now_known = fingerprints_known(self.pipeline, &self.stamps, &self.known);
        let mut current = self
            .shared
            .fingerprints
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        for j in downstream_closure(self.pipeline, &[i])
            .iter()
            .enumerate()
            .filter_map(|(j, &down)| (down && j != i).then_some(j))
        {
            current[j] = now_known[j].clone();
            self.slots[j].fingerprint = now_known[j].clone();
        }
    }

    /// An attempt of task `i` failed with `e`: another starts after the backoff when retries
    /// remain and the error's kind may pass; else the task fails, and everything downstream
    /// of it; or it is cancelled when the run is stopping.
    fn failed(&mut self, i: usize, e: OpError, elapsed: Duration) {
        // The stop may not have reached the loop yet when the attempt it killed reports back:
        // ask the token, not the loop's flag.
        self.stopping |= self.stop.is_cancelled();
        let task = &self.pipeline.tasks[i];
        let slot = &mut self.slots[i];
        let retry = !self.stopping && slot.tries <= task.retries && e.kind.retryable();
        slot.error = Some(if retry || self.stopping {
            e.message
        } else {
            final_error(&e, task.retries + 1 - slot.tries.min(task.retries + 1))
        });
        if self.stopping {
            transition(
                &self.shared,
                i,
                slot,
                TaskState::Cancelled,
                Some(elapsed),
                None,
            );
        } else if retry {
            let delay = backoff(task.retry_delay, slot.tries);
            transition(
                &self.shared,
                i,
                slot,
                TaskState::UpForRetry,
                Some(elapsed),
                Some(delay),
            );
            let stop = self.stop.clone();
            self.set.spawn(async move {
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {},
                    _ = stop.cancelled() => {},
                }
                Done::RetryDue(i)
            });
        } else {
            transition(
                &self.shared,
                i,
                slot,
                TaskState::Failed,
                Some(elapsed),
                None,
            );
            fail_downstream(
                &self.shared,
                i,
                &self.dependents,
                self.selected,
                &mut self.slots,
            );
        }
    }

    /// Whatever did not get to run is cancelled; returns the final slots.
    fn finish(mut self) -> Vec<Slot> {
        for i in 0..self.slots.len() {
            if self.selected[i] && !self.slots[i].state.is_final() {
                self.slots[i]
                    .error
                    .get_or_insert_with(|| "the run was stopped before this task ran".into());
                transition(
                    &self.shared,
                    i,
                    &mut self.slots[i],
                    TaskState::Cancelled,
                    None,
                    None,
                );
            }
        }
        self.slots
    }
}

impl Engine {
    /// Takes up run `id` again: checks that it is a run of `pipeline` that no live process
    /// runs (one whose process died is marked interrupted first), then gives `slots` the
    /// attempts made and the tasks already done (with the fingerprints they were known by).
    /// Returns the run's record and how many selected tasks are done.
    async fn resume_state(
        &self,
        id: &str,
        pipeline: &Pipeline,
        selected: &[bool],
        stamps: &[String],
        slots: &mut [Slot],
        known: &mut [Option<String>],
    ) -> Result<(RunRecord, usize), EngineError> {
        let Some(old) = self.store.run(id).await? else {
            return Err(EngineError::UnknownRun(id.to_string()));
        };
        if old.pipeline != pipeline.name {
            return Err(EngineError::WrongPipeline {
                run_id: id.to_string(),
                actual: old.pipeline,
                expected: pipeline.name.clone(),
            });
        }
        if old.state == RunState::Running {
            match old.pid {
                Some(pid) if old.host.as_deref().is_some_and(|h| h != hostname()) => {
                    return Err(EngineError::RunningElsewhere {
                        run_id: id.to_string(),
                        host: old.host.clone().unwrap_or_default(),
                        pid,
                    });
                }
                Some(pid) if is_live_sluice(pid) => {
                    return Err(EngineError::StillRunning {
                        run_id: id.to_string(),
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
        let fps = fingerprints_known(pipeline, stamps, known);
        for (slot, fp) in slots.iter_mut().zip(fps) {
            slot.fingerprint = fp;
        }
        Ok((old, done))
    }
}

/// The id and record of a new run of `pipeline`.
fn new_run(pipeline: &Pipeline, opts: &RunOptions) -> (String, RunRecord, usize) {
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
