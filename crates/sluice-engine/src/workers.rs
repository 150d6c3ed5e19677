//! Task attempts on a pool of worker processes (`sluice run --executor workers`,
//! `sluice worker`).
//!
//! The process running a pipeline keeps its run loop, its retries and its publication; only
//! [`execute`] moves: each attempt's [`AttemptSpec`] is queued in the state store
//! ([`sluice_store::WorkQueue`]) by a [`Dispatcher`], a [`run_worker`] process claims it,
//! runs it with the same [`execute`] under a lease its heartbeats renew, and records the
//! outcome with the claim's token. The dispatcher collects outcomes, declares the attempts
//! of a worker that stopped answering lost ("worker lost": a retryable failure, so the
//! task's retry policy decides), and only then does the run loop publish a dataset, once: a
//! worker that comes back after its lease ran out is fenced and records nothing.
//!
//! The spec's paths (input and staging folders, logs, raw files) are the coordinator's.
//! Either every worker sees the same home at the same path (a shared file system), or the
//! warehouse is in an object store ([`crate::remote`]): a worker then moves the paths under
//! the coordinator's home to its own (`sluice worker --home`), downloads the versions the
//! attempt reads, uploads the dataset it made to its staging folder's place and its log;
//! the coordinator downloads both before it checks and publishes the dataset.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use sluice_op::{OpError, OpOutput, Registry, TaskLog};
use sluice_store::{
    Lease, WorkItem, WorkKey, WorkQueue, WorkRecord, WorkState, WorkerRecord, now_micros,
};
use tokio::sync::oneshot;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::attempt::{AttemptSpec, Executed, Hooks, execute};
use crate::warehouse::Warehouse;

/// What a worker records of an attempt: how [`execute`] ended.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Outcome {
    result: Result<OpOutput, OpError>,
    timed_out: bool,
    worker: String,
    /// The dataset and the log were uploaded to the warehouse's object store.
    #[serde(default)]
    uploaded: bool,
}

/// How long a claim lasts without a heartbeat, and how often queues are read.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// A claimed attempt whose worker has not renewed its lease for this long is lost.
    pub lease: Duration,
    /// How often a dispatcher reads outcomes, and an idle worker looks for work.
    pub poll: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            lease: Duration::from_secs(30),
            poll: Duration::from_millis(100),
        }
    }
}

/// The variable holding the key that seals queued attempts (64 hexadecimal digits), the
/// same for a server and its workers.
pub const QUEUE_KEY_VAR: &str = "SLUICE_QUEUE_KEY";
/// How a sealed description starts in the queue.
const SEALED: &str = "sealed:v1:";

/// The key that seals attempt descriptions in the queue (ChaCha20-Poly1305): with it, the
/// state store never holds an attempt's environment or secrets in clear.
#[derive(Clone)]
pub struct QueueKey(Arc<ring::aead::LessSafeKey>);

impl std::fmt::Debug for QueueKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("QueueKey(***)")
    }
}

impl QueueKey {
    /// The key of [`QUEUE_KEY_VAR`], if set; an error says what is wrong with it (never its
    /// value).
    pub fn from_env() -> Result<Option<QueueKey>, String> {
        match std::env::var(QUEUE_KEY_VAR) {
            Err(_) => Ok(None),
            Ok(text) => QueueKey::parse(text.trim()).map(Some),
        }
    }

    /// A key from 64 hexadecimal digits.
    pub fn parse(hex: &str) -> Result<QueueKey, String> {
        let bad = || {
            format!(
                "{QUEUE_KEY_VAR} must be 64 hexadecimal digits (32 bytes; `openssl rand -hex 32` \
                 makes one)"
            )
        };
        if hex.len() != 64 || !hex.is_ascii() {
            return Err(bad());
        }
        let bytes = (0..32)
            .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16))
            .collect::<Result<Vec<u8>, _>>()
            .map_err(|_| bad())?;
        let key = ring::aead::UnboundKey::new(&ring::aead::CHACHA20_POLY1305, &bytes)
            .map_err(|_| bad())?;
        Ok(QueueKey(Arc::new(ring::aead::LessSafeKey::new(key))))
    }

    /// `text` sealed for the attempt `aad` names: `sealed:v1:` then the nonce and the
    /// ciphertext, base64. Opened for another attempt, it fails.
    fn seal(&self, text: &str, aad: &str) -> Result<String, String> {
        use base64::Engine as _;
        use ring::rand::SecureRandom;
        let mut nonce = [0u8; 12];
        ring::rand::SystemRandom::new()
            .fill(&mut nonce)
            .map_err(|_| "no random numbers for a nonce".to_string())?;
        let mut data = text.as_bytes().to_vec();
        self.0
            .seal_in_place_append_tag(
                ring::aead::Nonce::assume_unique_for_key(nonce),
                ring::aead::Aad::from(aad.as_bytes()),
                &mut data,
            )
            .map_err(|_| "cannot seal the attempt's description".to_string())?;
        let mut all = nonce.to_vec();
        all.extend(data);
        Ok(format!(
            "{SEALED}{}",
            base64::engine::general_purpose::STANDARD.encode(all)
        ))
    }

    /// What [`QueueKey::seal`] sealed for attempt `aad`; an error when it was sealed with
    /// another key, for another attempt, or altered.
    fn open(&self, sealed: &str, aad: &str) -> Result<String, String> {
        use base64::Engine as _;
        let wrong = || {
            format!(
                "cannot open the attempt's description: sealed with another key (is \
                 {QUEUE_KEY_VAR} the same here as on the process that queued it?)"
            )
        };
        let raw = base64::engine::general_purpose::STANDARD
            .decode(sealed.strip_prefix(SEALED).unwrap_or(sealed))
            .map_err(|_| wrong())?;
        if raw.len() < 12 {
            return Err(wrong());
        }
        let (nonce, data) = raw.split_at(12);
        let mut data = data.to_vec();
        let nonce = ring::aead::Nonce::try_assume_unique_for_key(nonce).map_err(|_| wrong())?;
        let plain = self
            .0
            .open_in_place(nonce, ring::aead::Aad::from(aad.as_bytes()), &mut data)
            .map_err(|_| wrong())?;
        String::from_utf8(plain.to_vec()).map_err(|_| wrong())
    }
}

/// The description of attempt `aad` a worker reads: opened with `key` when it was sealed.
/// A worker with a key reads only sealed ones: a row written in clear into the queue by
/// someone without the key runs nothing.
fn unseal(spec: &str, key: Option<&QueueKey>, aad: &str) -> Result<String, String> {
    if !spec.starts_with(SEALED) {
        return match key {
            Some(_) => Err(format!(
                "the attempt's description is not sealed, and this worker (with \
                 {QUEUE_KEY_VAR}) runs only sealed ones: set the same key on the process that \
                 queued it"
            )),
            None => Ok(spec.to_string()),
        };
    }
    match key {
        Some(k) => k.open(spec, aad),
        None => Err(format!(
            "the attempt's description is sealed: start this worker with {QUEUE_KEY_VAR}, the \
             key of the process that queued it"
        )),
    }
}

/// Whether `text` holds a URL with a password (`scheme://user:password@host`).
fn has_url_password(text: &str) -> bool {
    text.match_indices("://").any(|(at, _)| {
        let rest = &text[at + 3..];
        let authority = &rest[..rest
            .find(|c: char| c.is_whitespace() || "/?#\"'".contains(c))
            .unwrap_or(rest.len())];
        authority
            .rfind('@')
            .is_some_and(|end| authority[..end].contains(':'))
    })
}

/// The key of the attempt `spec` describes.
fn key_of_spec(spec: &AttemptSpec) -> WorkKey {
    WorkKey {
        run_id: spec.run_id.clone(),
        task: spec.task.clone(),
        attempt: spec.attempt,
    }
}

/// What a sealed description is bound to: its attempt.
fn key_text(key: &WorkKey) -> String {
    key.to_string()
}

/// The coordinator's side: queues attempts and hands each its outcome.
pub struct Dispatcher {
    queue: Arc<dyn WorkQueue>,
    id: String,
    timing: Timing,
    key: Option<QueueKey>,
    waiting: Mutex<HashMap<WorkKey, oneshot::Sender<WorkRecord>>>,
    collector: Mutex<bool>,
}

impl Dispatcher {
    /// A dispatcher queueing into `queue`, under an id of its own (`HOST-PID-RANDOM`),
    /// sealing what it queues with `key`. Without a key, an attempt with secrets is refused:
    /// the state store never holds a secret in clear.
    pub fn new(
        queue: Arc<dyn WorkQueue>,
        timing: Timing,
        key: Option<QueueKey>,
    ) -> Arc<Dispatcher> {
        Arc::new(Dispatcher {
            queue,
            id: process_id(),
            timing,
            key,
            waiting: Mutex::new(HashMap::new()),
            collector: Mutex::new(false),
        })
    }

    /// Runs the attempt `spec` describes on a worker with label `pool` (any worker when
    /// `None`): queued, then its outcome awaited; `cancel` asks its worker to stop.
    pub(crate) async fn run(
        self: &Arc<Self>,
        spec: &AttemptSpec,
        pool: Option<String>,
        warehouse: &Warehouse,
        cancel: CancellationToken,
    ) -> Executed {
        let log = TaskLog::new(spec.log_path.clone(), spec.secrets.clone(), None);
        let failed = |e: OpError| Executed {
            result: Err(e),
            timed_out: false,
            log: log.clone(),
        };
        let key = WorkKey {
            run_id: spec.run_id.clone(),
            task: spec.task.clone(),
            attempt: spec.attempt,
        };
        let json = match serde_json::to_string(spec) {
            Ok(j) => j,
            Err(e) => {
                return failed(OpError::internal(format!(
                    "cannot describe the attempt: {e}"
                )));
            }
        };
        // Secrets: the task's own, and credentials written in a URL anywhere in it.
        let secret = !spec.secrets.is_empty() || has_url_password(&json);
        let json = match (&self.key, !secret) {
            (Some(key), _) => match key.seal(&json, &key_text(&key_of_spec(spec))) {
                Ok(sealed) => sealed,
                Err(e) => return failed(OpError::internal(e)),
            },
            (None, true) => json,
            (None, false) => {
                return failed(OpError::config(format!(
                    "task `{}` has secret values: set {QUEUE_KEY_VAR} (64 hexadecimal digits, \
                     the same for this process and its workers) to queue it sealed; sluice \
                     keeps no secret in clear in the state store",
                    spec.task
                )));
            }
        };
        let (tx, mut rx) = oneshot::channel();
        self.lock().insert(key.clone(), tx);
        self.start_collector();
        let item = WorkItem {
            key: key.clone(),
            pipeline: spec.pipeline.clone(),
            pool: pool.clone(),
            spec: json,
            coordinator: self.id.clone(),
        };
        if let Err(e) = self.queue.enqueue(&item).await {
            self.lock().remove(&key);
            // It may have been recorded all the same (the answer was lost): not to be run.
            let _ = self.queue.cancel(&key).await;
            return failed(OpError::unavailable(format!(
                "cannot queue the attempt for the workers: {e}"
            )));
        }
        let _ = log.line(&format!(
            "sluice: queued for a worker{}",
            pool.map(|p| format!(" of pool `{p}`")).unwrap_or_default()
        ));
        let record = tokio::select! {
            r = &mut rx => r,
            _ = cancel.cancelled() => {
                // Cancelled at once if no worker took it, else its worker hears it at its
                // next heartbeat; the outcome comes either way (or its lease runs out).
                let mut asked = self.queue.cancel(&key).await;
                while asked.is_err() {
                    tokio::time::sleep(self.timing.poll).await;
                    asked = self.queue.cancel(&key).await;
                }
                rx.await
            }
        };
        let Ok(record) = record else {
            return failed(OpError::internal("the dispatcher stopped"));
        };
        match record.state {
            WorkState::Done => {
                let outcome = record
                    .outcome
                    .as_deref()
                    .map(serde_json::from_str::<Outcome>);
                match outcome {
                    Some(Ok(o)) => {
                        let mut result = o.result;
                        if o.uploaded
                            && let Err(e) =
                                download(warehouse, spec, &o.worker, &log, result.is_ok()).await
                        {
                            result = Err(e);
                        }
                        Executed {
                            result,
                            timed_out: o.timed_out,
                            log,
                        }
                    }
                    _ => failed(OpError::internal(format!(
                        "worker `{}` recorded an outcome this sluice cannot read: are the \
                         workers the same version as this process ({})?",
                        record.worker.unwrap_or_default(),
                        env!("CARGO_PKG_VERSION")
                    ))),
                }
            }
            WorkState::Cancelled => failed(OpError::new(
                sluice_op::ErrorKind::Cancelled,
                "cancelled before a worker took it",
            )),
            _ => {
                let worker = record.worker.unwrap_or_default();
                let message = format!(
                    "worker `{worker}` lost: it stopped renewing its lease while it ran this \
                     attempt; whatever it records now is refused"
                );
                let _ = log.line(&format!("sluice: {message}"));
                // Its log, if it got that far, then what it uploaded: nobody's.
                let _ = download(warehouse, spec, &worker, &log, false).await;
                discard_uploads(warehouse, spec).await;
                failed(OpError::unavailable(message))
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<WorkKey, oneshot::Sender<WorkRecord>>> {
        self.waiting.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts the loop that reads ended attempts, once; it stops with the dispatcher.
    fn start_collector(self: &Arc<Self>) {
        let mut started = self.collector.lock().unwrap_or_else(|e| e.into_inner());
        if *started {
            return;
        }
        *started = true;
        let weak: Weak<Dispatcher> = Arc::downgrade(self);
        let poll = self.timing.poll;
        tokio::spawn(async move {
            let mut failures = 0u32;
            loop {
                let Some(me) = weak.upgrade() else { return };
                // Woken early when a worker records an outcome of this dispatcher's (also
                // while nothing waits yet: an attempt queued meanwhile may end at once).
                me.queue.wait_for_outcomes(&me.id, poll).await;
                if me.lock().is_empty() {
                    continue;
                }
                match me.queue.collect(&me.id).await {
                    Ok(ended) => {
                        failures = 0;
                        let keys: Vec<WorkKey> = ended.iter().map(|r| r.key.clone()).collect();
                        {
                            let mut waiting = me.lock();
                            for record in ended {
                                if let Some(tx) = waiting.remove(&record.key) {
                                    let _ = tx.send(record);
                                }
                            }
                        }
                        // Delivered: collected no more (an acknowledgement lost on the way
                        // only means they are read, and ignored, once again).
                        if let Err(e) = me.queue.acknowledge(&keys).await {
                            tracing::warn!("cannot acknowledge the workers' outcomes: {e}");
                        }
                    }
                    Err(e) => {
                        failures += 1;
                        if failures == 1 || failures.is_multiple_of(100) {
                            tracing::warn!(
                                "cannot read the workers' outcomes ({failures} tries): {e}"
                            );
                        }
                    }
                }
            }
        });
    }
}

/// `HOST-PID-RANDOM`: one process, told apart from a later one with the same pid.
fn process_id() -> String {
    use rand::Rng;
    format!(
        "{}-{}-{:06x}",
        crate::hostname(),
        std::process::id(),
        rand::thread_rng().gen_range(0..0x100_0000u32)
    )
}

/// What a worker offers.
#[derive(Debug, Clone)]
pub struct WorkerOptions {
    /// Its labels: it also runs the tasks of these pools.
    pub labels: Vec<String>,
    /// Attempts at once.
    pub slots: u32,
    /// Lease and polling.
    pub timing: Timing,
    /// After a drain was asked, how long running attempts may go on before they are
    /// stopped and handed back (`None`: until they end).
    pub drain_timeout: Option<Duration>,
    /// The key of sealed descriptions ([`QUEUE_KEY_VAR`]).
    pub key: Option<QueueKey>,
    /// Its own home, when it is not the coordinators' (their paths are moved to it).
    pub home: Option<std::path::PathBuf>,
    /// The object store of the warehouse (`SLUICE_WAREHOUSE`), the same as the coordinators'.
    pub remote: Option<Arc<crate::remote::Remote>>,
}

/// What a worker did, when it stopped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorkerSummary {
    /// Its id.
    pub id: String,
    /// Attempts whose outcome it recorded.
    pub finished: usize,
    /// Attempts it handed back when it stopped.
    pub handed_back: usize,
    /// Attempts whose outcome was refused: its lease had run out.
    pub fenced: usize,
    /// Why it stopped by itself, when it could not run what it claimed (another queue key,
    /// another sluice version, another warehouse): it handed that attempt back.
    pub misconfigured: Option<String>,
}

/// How one claimed attempt ended on this worker.
enum ItemEnd {
    Finished,
    HandedBack,
    Fenced,
    /// This worker cannot run it (its key, version or warehouse differ): handed back.
    Misconfigured(String),
}

/// Runs a worker until `drain` fires and its attempts ended: claims queued attempts while it
/// has free slots, runs each with [`execute`] and `ops`, renews their leases, records their
/// outcomes. `stop` (or the drain timeout) stops the running attempts and hands them back.
pub async fn run_worker(
    queue: Arc<dyn WorkQueue>,
    ops: Arc<Registry>,
    options: WorkerOptions,
    drain: CancellationToken,
    stop: CancellationToken,
) -> Result<WorkerSummary, sluice_store::StoreError> {
    let id = process_id();
    let mut record = WorkerRecord {
        id: id.clone(),
        host: crate::hostname(),
        pid: i64::from(std::process::id()),
        labels: options.labels.clone(),
        slots: options.slots,
        state: "running".into(),
        started_at: 0,
        heartbeat_at: 0,
        silent_for: 0,
        running: Vec::new(),
    };
    // Listening for queued work starts now, not at the first idle wait.
    queue.wait_for_work(Duration::from_millis(1)).await;
    queue.worker_seen(&record).await?;
    tracing::info!(
        "worker {id} ready: {} slot(s), labels [{}]",
        options.slots,
        options.labels.join(", ")
    );
    let timing = options.timing;
    let beat = timing.lease / 3;
    let hand_back = CancellationToken::new();
    let mut running: JoinSet<ItemEnd> = JoinSet::new();
    let mut summary = WorkerSummary {
        id: id.clone(),
        ..Default::default()
    };
    let mut last_seen = tokio::time::Instant::now();
    let mut drain_deadline: Option<tokio::time::Instant> = None;
    loop {
        let draining = drain.is_cancelled();
        if draining && drain_deadline.is_none() {
            drain_deadline = Some(match options.drain_timeout {
                Some(t) => tokio::time::Instant::now() + t,
                None => far(),
            });
            record.state = "draining".into();
            let _ = queue.worker_seen(&record).await;
            tracing::info!(
                "worker {id} draining: {} attempt(s) to finish, taking nothing new",
                running.len()
            );
        }
        if draining && running.is_empty() {
            break;
        }
        let free = (options.slots as usize).saturating_sub(running.len());
        let mut claimed = 0;
        if !draining && free > 0 {
            match queue.claim(&id, &options.labels, free, timing.lease).await {
                Ok(items) => {
                    claimed = items.len();
                    for item in items {
                        tracing::info!("worker {id} runs {}", item.key);
                        running.spawn(run_item(
                            queue.clone(),
                            ops.clone(),
                            item,
                            Claimant {
                                worker: id.clone(),
                                timing,
                                key: options.key.clone(),
                                home: options.home.clone(),
                                remote: options.remote.clone(),
                            },
                            hand_back.clone(),
                        ));
                    }
                }
                Err(e) => tracing::warn!("worker {id} cannot claim work: {e}"),
            }
        }
        if last_seen.elapsed() >= beat {
            if let Err(e) = queue.worker_seen(&record).await {
                tracing::warn!("worker {id} cannot record its heartbeat: {e}");
            }
            last_seen = tokio::time::Instant::now();
        }
        // Having claimed, look again at once: more may wait.
        let idle = if claimed > 0 {
            Duration::ZERO
        } else {
            timing.poll
        };
        tokio::select! {
            biased;
            _ = stop.cancelled(), if !hand_back.is_cancelled() => {
                hand_back.cancel();
                drain.cancel();
            }
            _ = tokio::time::sleep_until(drain_deadline.unwrap_or_else(far)), if drain_deadline.is_some() && !hand_back.is_cancelled() => {
                tracing::warn!("worker {id}: drain timeout reached, handing back what runs");
                hand_back.cancel();
            }
            Some(ended) = running.join_next(), if !running.is_empty() => {
                match ended {
                    Ok(ItemEnd::Finished) => summary.finished += 1,
                    Ok(ItemEnd::HandedBack) => summary.handed_back += 1,
                    Ok(ItemEnd::Fenced) => summary.fenced += 1,
                    Ok(ItemEnd::Misconfigured(why)) => {
                        summary.handed_back += 1;
                        if summary.misconfigured.is_none() {
                            tracing::error!("worker {id} stops: {why}");
                            summary.misconfigured = Some(why);
                        }
                        // Nothing more is taken; what runs is handed back at once.
                        drain.cancel();
                        hand_back.cancel();
                    }
                    Err(e) => tracing::error!("worker {id}: an attempt crashed: {e}"),
                }
            }
            _ = drain.cancelled(), if !draining => {}
            _ = queue.wait_for_work(idle), if !idle.is_zero() => {}
            _ = std::future::ready(()), if idle.is_zero() => {}
        }
    }
    record.state = "stopped".into();
    let _ = queue.worker_seen(&record).await;
    tracing::info!(
        "worker {id} stopped: {} finished, {} handed back, {} fenced",
        summary.finished,
        summary.handed_back,
        summary.fenced
    );
    Ok(summary)
}

fn far() -> tokio::time::Instant {
    tokio::time::Instant::now() + Duration::from_secs(100 * 365 * 86_400)
}

/// The worker a claimed attempt runs on: its id, timing and key.
struct Claimant {
    home: Option<std::path::PathBuf>,
    remote: Option<Arc<crate::remote::Remote>>,
    worker: String,
    timing: Timing,
    key: Option<QueueKey>,
}

/// One claimed attempt: run with heartbeats, its outcome recorded with the claim's token.
async fn run_item(
    queue: Arc<dyn WorkQueue>,
    ops: Arc<Registry>,
    item: sluice_store::ClaimedWork,
    me: Claimant,
    hand_back: CancellationToken,
) -> ItemEnd {
    let Claimant {
        worker,
        timing,
        key: queue_key,
        home,
        remote,
    } = me;
    let key = item.key.clone();
    let read = unseal(&item.spec, queue_key.as_ref(), &key_text(&key)).and_then(|json| {
        serde_json::from_str::<AttemptSpec>(&json).map_err(|e| {
            // Where, not what: the text may hold a secret.
            format!(
                "worker `{worker}` cannot read the attempt's description (line {}, column \
                 {}): is it the same sluice version as the process that queued it? (this one \
                 is {})",
                e.line(),
                e.column(),
                env!("CARGO_PKG_VERSION")
            )
        })
    });
    let cancel = CancellationToken::new();
    let lost = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let beats = {
        let (queue, key, token, cancel, lost) = (
            queue.clone(),
            key.clone(),
            item.token.clone(),
            cancel.clone(),
            lost.clone(),
        );
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(timing.lease / 3).await;
                match queue.renew(&key, &token, timing.lease).await {
                    Ok(Lease::Held { cancel: false }) => {}
                    Ok(Lease::Held { cancel: true }) => cancel.cancel(),
                    Ok(Lease::Lost) => {
                        lost.store(true, std::sync::atomic::Ordering::SeqCst);
                        cancel.cancel();
                        return;
                    }
                    Err(e) => tracing::warn!("cannot renew the lease of {key}: {e}"),
                }
            }
        })
    };
    // Heartbeats run from the claim until the outcome is recorded (downloads and uploads
    // included), and stop with this attempt, also when it panics: its lease then runs out
    // and the coordinator declares it lost instead of waiting for it for ever.
    let beats = AbortOnDrop(beats);
    let place = Place {
        home: home.as_deref(),
        remote: remote.as_ref(),
    };
    let read = match read {
        Ok(spec) => place.localise(spec, &worker).await,
        Err(message) => Err(OpError::config(message)),
    };
    let (spec, warehouse) = match read {
        Ok(s) => s,
        Err(e) if e.kind == sluice_op::ErrorKind::Config => {
            // This worker's fault, not the attempt's: back to the queue for a worker set up
            // like the process that queued it, and this one stops.
            tracing::error!("{key}: {}", e.message);
            if let Err(err) = queue.hand_back(&key, &item.token).await {
                tracing::warn!("cannot hand {key} back: {err}");
            }
            return ItemEnd::Misconfigured(e.message);
        }
        Err(e) => {
            tracing::error!("{key}: {}", e.message);
            let outcome = Outcome {
                result: Err(e),
                timed_out: false,
                worker: worker.clone(),
                uploaded: false,
            };
            return record(&*queue, &key, &item.token, &outcome, timing).await;
        }
    };
    // An attempt handed back by another worker may have left files in its staging folder.
    if let Some(out) = &spec.output
        && out.dir.exists()
    {
        let _ = std::fs::remove_dir_all(&out.dir);
        let _ = std::fs::create_dir_all(&out.dir);
    }
    let run = execute(&spec, &ops, None, Hooks::default(), cancel.clone());
    tokio::pin!(run);
    let mut handing_back = false;
    let executed = tokio::select! {
        biased;
        e = &mut run => e,
        _ = hand_back.cancelled() => {
            handing_back = true;
            cancel.cancel();
            run.await
        }
    };
    if lost.load(std::sync::atomic::Ordering::SeqCst) {
        let _ = executed.log.line(&format!(
            "sluice: worker `{worker}` lost its lease on this attempt: its outcome is not recorded"
        ));
        tracing::warn!("worker {worker}: lease of {key} lost, outcome dropped");
        return ItemEnd::Fenced;
    }
    if handing_back {
        let _ = executed.log.line(&format!(
            "sluice: worker `{worker}` stopped; the attempt goes back to the queue"
        ));
        return match queue.hand_back(&key, &item.token).await {
            Ok(true) => ItemEnd::HandedBack,
            Ok(false) => ItemEnd::Fenced,
            Err(e) => {
                // Its lease runs out and the coordinator declares it lost.
                tracing::warn!("cannot hand {key} back: {e}");
                ItemEnd::HandedBack
            }
        };
    }
    let mut result = executed.result;
    let uploaded = match &warehouse {
        Some(warehouse) => {
            result = upload(warehouse, &spec, result, &executed.log).await;
            true
        }
        None => false,
    };
    let outcome = Outcome {
        result,
        timed_out: executed.timed_out,
        worker: worker.clone(),
        uploaded,
    };
    if lost.load(std::sync::atomic::Ordering::SeqCst) {
        // Lost during the uploads: the coordinator has declared it lost already.
        if let Some(warehouse) = &warehouse {
            discard_uploads(warehouse, &spec).await;
        }
        return ItemEnd::Fenced;
    }
    let ended = record(&*queue, &key, &item.token, &outcome, timing).await;
    drop(beats);
    if let (ItemEnd::Fenced, Some(warehouse)) = (&ended, &warehouse) {
        // Refused (its lease ran out meanwhile): what it uploaded is nobody's. (Refused
        // also when an earlier try recorded it and its answer was lost: the coordinator then
        // finds the dataset gone and the attempt fails, retryable.)
        discard_uploads(warehouse, &spec).await;
    }
    ended
}

/// Removes from the object store the dataset and the log an attempt uploaded.
async fn discard_uploads(warehouse: &Warehouse, spec: &AttemptSpec) {
    let Some(remote) = warehouse.remote() else {
        return;
    };
    if let Some(Ok(rel)) = spec.output.as_ref().map(|o| staging_rel(warehouse, &o.dir))
        && let Err(e) = remote.remove_dir(&rel).await
    {
        tracing::warn!("cannot remove {rel} from {}: {e}", remote.url());
    }
    if let Some(rel) = log_rel(spec) {
        let _ = remote.delete(&rel).await;
    }
}

/// Where a worker runs attempts: its own home, if any, and the warehouse's object store.
struct Place<'a> {
    home: Option<&'a std::path::Path>,
    remote: Option<&'a Arc<crate::remote::Remote>>,
}

impl Place<'_> {
    /// `spec` with the coordinator's home moved to this worker's, and the versions it reads
    /// downloaded from the warehouse's object store; with the local warehouse they are in,
    /// when the warehouse is in an object store.
    async fn localise(
        &self,
        mut spec: AttemptSpec,
        worker: &str,
    ) -> Result<(AttemptSpec, Option<Warehouse>), OpError> {
        let remote = match (self.remote, &spec.warehouse) {
            (None, None) => return Ok((spec, None)),
            (Some(mine), Some(theirs)) if mine.url() == theirs => mine.clone(),
            (mine, theirs) => {
                return Err(OpError::config(format!(
                    "worker `{worker}` has its warehouse in {} but this attempt's is in {}: \
                     start the workers with the SLUICE_WAREHOUSE of the process that runs the \
                     run",
                    mine.map_or("its home", |r| r.url()),
                    theirs.as_deref().unwrap_or("the coordinator's home")
                )));
            }
        };
        if let (Some(mine), Some(theirs)) = (self.home, spec.home.clone())
            && mine != theirs
        {
            let to = |p: &std::path::Path| crate::remote::rebase(p, &theirs, mine);
            for dir in spec.inputs.values_mut() {
                *dir = to(dir);
            }
            if let Some(out) = &mut spec.output {
                out.dir = to(&out.dir);
            }
            if let Some(p) = &mut spec.previous {
                p.dir = to(&p.dir);
            }
            for p in spec.aliases.values_mut() {
                p.dir = to(&p.dir);
            }
            spec.log_path = to(&spec.log_path);
            spec.raw_dir = to(&spec.raw_dir);
            spec.cache_dir = to(&spec.cache_dir);
            spec.home = Some(mine.to_path_buf());
        }
        let root = spec
            .home
            .as_ref()
            .map(|h| h.join("warehouse"))
            .ok_or_else(|| OpError::internal("the attempt names no home (this is a bug)"))?;
        let warehouse = Warehouse::new(root).with_remote(remote);
        let dirs = spec
            .inputs
            .iter()
            .map(|(name, dir)| (name.clone(), dir.clone()))
            .chain(
                spec.previous
                    .iter()
                    .chain(spec.aliases.values())
                    .map(|p| (spec.task.clone(), p.dir.clone())),
            );
        for (name, dir) in dirs {
            match warehouse.fetch(&dir).await {
                Ok(true) => {}
                Ok(false) => {
                    return Err(OpError::data(format!(
                        "the dataset of task `{name}` is neither on this worker nor \
                         complete in {} ({} is missing); run again with --force-task {name}",
                        warehouse.remote().map_or("", |r| r.url()),
                        dir.display()
                    )));
                }
                Err(e) => {
                    return Err(OpError::unavailable(format!(
                        "cannot download the dataset of task `{name}`: {e}"
                    )));
                }
            }
        }
        if let Some(out) = &spec.output {
            std::fs::create_dir_all(&out.dir)
                .map_err(|e| OpError::io("cannot prepare the dataset folder", &e))?;
        }
        if let Some(folder) = spec.log_path.parent() {
            let _ = std::fs::create_dir_all(folder);
        }
        Ok((spec, Some(warehouse)))
    }
}

/// After an attempt on a worker whose warehouse is in an object store: its dataset uploaded
/// to its staging folder's place (manifest last) and removed here, its log uploaded.
async fn upload(
    warehouse: &Warehouse,
    spec: &AttemptSpec,
    mut result: Result<OpOutput, OpError>,
    log: &TaskLog,
) -> Result<OpOutput, OpError> {
    let Some(remote) = warehouse.remote() else {
        return result;
    };
    if let (Ok(_), Some(out)) = (&result, &spec.output) {
        let rel = staging_rel(warehouse, &out.dir)?;
        match remote.push_dir(&out.dir, &rel).await {
            Ok(m) => {
                let _ = log.line(&format!(
                    "sluice: dataset uploaded to {}/{rel} ({} file(s))",
                    remote.url(),
                    m.files.len()
                ));
            }
            Err(e) => {
                // What went up is half a folder, without its manifest: nobody's.
                let _ = remote.remove_dir(&rel).await;
                result = Err(OpError::unavailable(format!(
                    "cannot upload the dataset to {}: {e}",
                    remote.url()
                )));
            }
        }
    }
    if let Some(out) = &spec.output {
        let _ = std::fs::remove_dir_all(&out.dir);
    }
    if let Some(rel) = log_rel(spec)
        && let Err(e) = remote.push_file(&spec.log_path, &rel).await
    {
        tracing::warn!(
            "cannot upload the log of {}/{}: {e}",
            spec.run_id,
            spec.task
        );
    }
    result
}

/// The staging folder `dir` relative to the warehouse (never empty: the warehouse's root is
/// no staging folder).
fn staging_rel(warehouse: &Warehouse, dir: &std::path::Path) -> Result<String, OpError> {
    warehouse.relative(dir).ok_or_else(|| {
        OpError::internal(format!(
            "the staging folder {} is not in the warehouse {} (this is a bug)",
            dir.display(),
            warehouse.root().display()
        ))
    })
}

/// Where an attempt's log goes in the warehouse's object store.
fn log_rel(spec: &AttemptSpec) -> Option<String> {
    let name = spec.log_path.file_name()?.to_string_lossy().to_string();
    Some(format!(".logs/{}/{}/{name}", spec.run_id, spec.task))
}

/// On the coordinator, after a worker uploaded what an attempt made: its log appended to
/// the local one, its dataset (when it `succeeded`) downloaded into the staging folder, then
/// removed from the object store.
async fn download(
    warehouse: &Warehouse,
    spec: &AttemptSpec,
    worker: &str,
    log: &TaskLog,
    succeeded: bool,
) -> Result<(), OpError> {
    let Some(remote) = warehouse.remote() else {
        return Ok(());
    };
    if let Some(rel) = log_rel(spec) {
        match remote.get(&rel).await {
            Ok(Some(text)) => {
                let _ = log.line(&format!("sluice: the log of worker `{worker}` follows"));
                let text = String::from_utf8_lossy(&text);
                for line in text.lines() {
                    let _ = log.line(line);
                }
                let _ = remote.delete(&rel).await;
            }
            Ok(None) => {
                let _ = log.line(&format!("sluice: worker `{worker}` uploaded no log"));
            }
            Err(e) => {
                let _ = log.line(&format!("sluice: cannot download the worker's log: {e}"));
            }
        }
    }
    let (Some(out), true) = (&spec.output, succeeded) else {
        return Ok(());
    };
    let rel = staging_rel(warehouse, &out.dir)?;
    let has_files = std::fs::read_dir(&out.dir).is_ok_and(|mut d| d.next().is_some());
    if !has_files {
        match remote.pull_dir(&rel, &out.dir).await {
            Ok(true) => {}
            Ok(false) => {
                return Err(OpError::unavailable(format!(
                    "worker `{worker}` said it uploaded the dataset, but {}/{rel} is \
                     not complete",
                    remote.url()
                )));
            }
            Err(e) => {
                return Err(OpError::unavailable(format!(
                    "cannot download the dataset worker `{worker}` made: {e}"
                )));
            }
        }
    }
    if let Err(e) = remote.remove_dir(&rel).await {
        tracing::warn!("cannot remove {rel} from {}: {e}", remote.url());
    }
    Ok(())
}

/// Aborts a task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Records `outcome`, retrying while the store cannot be reached and the lease may still
/// hold.
async fn record(
    queue: &dyn WorkQueue,
    key: &WorkKey,
    token: &str,
    outcome: &Outcome,
    timing: Timing,
) -> ItemEnd {
    let json = match serde_json::to_string(outcome) {
        Ok(j) => j,
        Err(e) => {
            tracing::error!("cannot encode the outcome of {key}: {e}");
            return ItemEnd::Fenced;
        }
    };
    let started = now_micros();
    loop {
        match queue.finish(key, token, &json).await {
            Ok(true) => return ItemEnd::Finished,
            Ok(false) => {
                tracing::warn!(
                    "the outcome of {key} was refused: its lease ran out (or an earlier try, \
                     whose answer was lost, recorded it)"
                );
                return ItemEnd::Fenced;
            }
            Err(e) => {
                let waited =
                    Duration::from_micros(u64::try_from(now_micros() - started).unwrap_or(0));
                if waited > timing.lease {
                    tracing::error!("cannot record the outcome of {key}: {e}; giving up");
                    return ItemEnd::Fenced;
                }
                tracing::warn!("cannot record the outcome of {key} yet: {e}");
                tokio::time::sleep(timing.poll.max(Duration::from_millis(200))).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

    #[test]
    fn sealed_descriptions_open_only_with_their_key_for_their_attempt() {
        let key = QueueKey::parse(KEY).expect("key");
        let sealed = key.seal("{\"a\":1}", "r/t#1").expect("seal");
        assert!(sealed.starts_with(SEALED));
        assert_eq!(
            unseal(&sealed, Some(&key), "r/t#1").as_deref(),
            Ok("{\"a\":1}")
        );
        // Moved to another attempt's row, or opened with another key: refused.
        assert!(unseal(&sealed, Some(&key), "r/t#2").is_err());
        let other = QueueKey::parse(&"f".repeat(64)).expect("key");
        assert!(unseal(&sealed, Some(&other), "r/t#1").is_err());
        // Without a key, nothing sealed is read; with one, nothing in clear is.
        assert!(unseal(&sealed, None, "r/t#1").is_err());
        assert!(unseal("{}", Some(&key), "r/t#1").is_err());
        assert_eq!(unseal("{}", None, "r/t#1").as_deref(), Ok("{}"));
        // Two seals of one text differ (a nonce each).
        assert_ne!(sealed, key.seal("{\"a\":1}", "r/t#1").expect("seal"));
        assert!(QueueKey::parse("abc").is_err());
        assert!(QueueKey::parse(&"g".repeat(64)).is_err());
        assert_eq!(format!("{key:?}"), "QueueKey(***)");
    }

    #[test]
    fn passwords_in_urls_are_found() {
        assert!(has_url_password(
            "{\"url\":\"postgres://bob:pw@db:5432/x\"}"
        ));
        assert!(has_url_password("x https://u:p@h/path"));
        assert!(!has_url_password(
            "{\"url\":\"postgres://postgres@127.0.0.1:5432/x\"}"
        ));
        assert!(!has_url_password("http://h:8080/a@b"));
        assert!(!has_url_password("no url here"));
    }
}
