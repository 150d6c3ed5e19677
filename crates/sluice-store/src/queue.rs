//! The work queue that spreads task attempts over `sluice worker` processes, and the workers'
//! own records ([`WorkQueue`], implemented by [`SqlStore`] on PostgreSQL and SQLite).
//!
//! The process running a pipeline (its *coordinator*) queues each attempt as a [`WorkItem`];
//! a worker claims ready items with `FOR UPDATE SKIP LOCKED` (PostgreSQL; SQLite serialises
//! writers), holds each under a lease that its heartbeats renew ([`WorkQueue::renew`]), and
//! records the outcome with the claim's token ([`WorkQueue::finish`]): a worker whose lease
//! ran out, and whose item the coordinator has since declared lost ([`WorkQueue::collect`]),
//! records nothing. Every time is the database's clock, so machines need not agree.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::sql::{Backend, get, query_err};
use crate::{Micros, Result, SqlStore};

/// An attempt to queue.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkItem {
    /// Its key.
    pub key: WorkKey,
    /// Its pipeline.
    pub pipeline: String,
    /// The label a worker must have to take it (`pool:` of the task), if any.
    pub pool: Option<String>,
    /// The attempt's description (the engine's `AttemptSpec`, as JSON).
    pub spec: String,
    /// The process that queued it and waits for its outcome.
    pub coordinator: String,
}

/// Which attempt: run, task, attempt number.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WorkKey {
    /// The run.
    pub run_id: String,
    /// The task.
    pub task: String,
    /// The attempt (1 for the first).
    pub attempt: u32,
}

impl std::fmt::Display for WorkKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}#{}", self.run_id, self.task, self.attempt)
    }
}

/// An item a worker claimed.
#[derive(Debug, Clone, PartialEq)]
pub struct ClaimedWork {
    /// Its key.
    pub key: WorkKey,
    /// The attempt's description.
    pub spec: String,
    /// The claim's token: the worker records its outcome with it, and nobody else can.
    pub token: String,
}

/// What a heartbeat learnt of a claimed item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lease {
    /// Still the worker's; `cancel` when the coordinator asks it to stop.
    Held {
        /// The run was stopped.
        cancel: bool,
    },
    /// No longer the worker's (it was declared lost or cancelled): stop, record nothing.
    Lost,
}

/// Where an item stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkState {
    /// Waiting for a worker.
    Queued,
    /// A worker runs it.
    Claimed,
    /// Its worker recorded an outcome.
    Done,
    /// Its worker's lease ran out before it recorded an outcome.
    Lost,
    /// Stopped before a worker took it.
    Cancelled,
}

impl WorkState {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            WorkState::Queued => "queued",
            WorkState::Claimed => "claimed",
            WorkState::Done => "done",
            WorkState::Lost => "lost",
            WorkState::Cancelled => "cancelled",
        }
    }

    fn parse(s: &str) -> Result<WorkState> {
        Ok(match s {
            "queued" => WorkState::Queued,
            "claimed" => WorkState::Claimed,
            "done" => WorkState::Done,
            "lost" => WorkState::Lost,
            "cancelled" => WorkState::Cancelled,
            other => {
                return Err(crate::StoreError::Corrupt(format!(
                    "unknown work state `{other}`"
                )));
            }
        })
    }
}

/// One row of the queue, as recorded.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkRecord {
    /// Its key.
    pub key: WorkKey,
    /// Its pipeline.
    pub pipeline: String,
    /// Required label, `""` for none.
    pub pool: String,
    /// Where it stands.
    pub state: WorkState,
    /// When it was queued (the database's clock).
    pub queued_at: Micros,
    /// When a worker claimed it.
    pub claimed_at: Option<Micros>,
    /// The worker that claimed it.
    pub worker: Option<String>,
    /// When it ended (done, lost or cancelled).
    pub ended_at: Option<Micros>,
    /// The worker's outcome (JSON), once done.
    pub outcome: Option<String>,
}

/// A worker process.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WorkerRecord {
    /// Its id (`HOST-PID-RANDOM`).
    pub id: String,
    /// The machine.
    pub host: String,
    /// Its process there.
    pub pid: i64,
    /// The labels it offers (`gpu`, `big-mem`).
    pub labels: Vec<String>,
    /// How many attempts it runs at once.
    pub slots: u32,
    /// `running`, `draining` or `stopped`.
    pub state: String,
    /// When it started (the database's clock).
    #[cfg_attr(feature = "openapi", schema(value_type = i64))]
    pub started_at: Micros,
    /// Its last heartbeat (the database's clock).
    #[cfg_attr(feature = "openapi", schema(value_type = i64))]
    pub heartbeat_at: Micros,
    /// Microseconds since its last heartbeat, when read.
    #[cfg_attr(feature = "openapi", schema(value_type = i64))]
    pub silent_for: Micros,
    /// The attempts it runs now (`RUN/TASK#ATTEMPT`).
    pub running: Vec<String>,
}

/// How many attempts wait and run, per pool (`""`: no pool).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct QueueDepth {
    /// The pool.
    pub pool: String,
    /// Waiting for a worker.
    pub queued: i64,
    /// On a worker.
    pub claimed: i64,
    /// The pool's slot limit, if set.
    pub slots: Option<i64>,
}

/// The queue of attempts run by workers, and the workers' records.
#[async_trait]
pub trait WorkQueue: Send + Sync + std::fmt::Debug {
    /// Queues an attempt.
    async fn enqueue(&self, item: &WorkItem) -> Result<()>;
    /// Claims up to `max` queued attempts of running runs for worker `worker`, oldest
    /// first: those without a pool, and those whose pool is one of `labels` while the pool
    /// has a free slot; each under a lease of `lease`.
    async fn claim(
        &self,
        worker: &str,
        labels: &[String],
        max: usize,
        lease: Duration,
    ) -> Result<Vec<ClaimedWork>>;
    /// Renews the lease of a claimed item, with the claim's token.
    async fn renew(&self, key: &WorkKey, token: &str, lease: Duration) -> Result<Lease>;
    /// Records a claimed item's outcome, with the claim's token: false when the claim is no
    /// longer the worker's (fenced), and nothing was recorded.
    async fn finish(&self, key: &WorkKey, token: &str, outcome: &str) -> Result<bool>;
    /// Gives a claimed item back to the queue (a worker that stops before running it to
    /// its end): another worker runs the same attempt again. False when fenced.
    async fn hand_back(&self, key: &WorkKey, token: &str) -> Result<bool>;
    /// Asks for an item to stop: a queued one is cancelled at once; a claimed one's worker
    /// hears it at its next heartbeat.
    async fn cancel(&self, key: &WorkKey) -> Result<()>;
    /// For coordinator `coordinator`: declares its claimed items whose lease ran out lost,
    /// then returns its items that ended (done, lost or cancelled) and are not yet
    /// [acknowledged](WorkQueue::acknowledge): an answer lost on the way is read again.
    async fn collect(&self, coordinator: &str) -> Result<Vec<WorkRecord>>;
    /// Marks ended items as delivered to their coordinator: `collect` returns them no more.
    async fn acknowledge(&self, keys: &[WorkKey]) -> Result<()>;
    /// The queue's rows of a run (of every run when `None`), by queue time.
    async fn work(&self, run_id: Option<&str>) -> Result<Vec<WorkRecord>>;
    /// Records a worker (again) as `state`, its heartbeat now.
    async fn worker_seen(&self, worker: &WorkerRecord) -> Result<()>;
    /// Every worker seen in the last `within`, with what each runs now, by host and id.
    async fn workers(&self, within: Duration) -> Result<Vec<WorkerRecord>>;
    /// What waits and runs, per pool, of the runs going on (a run whose process died leaves
    /// its queued attempts behind; they are not counted, and no worker takes them).
    async fn queue_depth(&self) -> Result<Vec<QueueDepth>>;
    /// Sets the slot limit of a pool (`None`: no limit).
    async fn set_pool_slots(&self, pool: &str, slots: Option<u32>) -> Result<()>;
    /// Removes (or with `dry_run` only counts) the rows of attempts that ended more than
    /// `older_than` ago and of workers silent for longer: `(attempts, workers)`.
    async fn purge(&self, older_than: Duration, dry_run: bool) -> Result<(u64, u64)>;
    /// Whether the waits below end early on news (PostgreSQL's LISTEN/NOTIFY): pollers may
    /// then wait longer.
    fn notifies(&self) -> bool {
        false
    }
    /// Waits up to `timeout`, less when an attempt is queued or handed back.
    async fn wait_for_work(&self, timeout: Duration) {
        tokio::time::sleep(timeout).await;
    }
    /// Waits up to `timeout`, less when an attempt of `coordinator` ends.
    async fn wait_for_outcomes(&self, coordinator: &str, timeout: Duration) {
        let _ = coordinator;
        tokio::time::sleep(timeout).await;
    }
}

/// Channel of the notifications that work was queued.
const WORK_CHANNEL: &str = "sluice_work";
/// Channel of the notifications that an attempt ended (payload: its coordinator).
const DONE_CHANNEL: &str = "sluice_done";

/// What a PostgreSQL store heard on its LISTEN connections: one background task per channel,
/// started on first wait, owns the connection and turns each notification into a permit
/// that the next wait takes (a burst of notifications is one permit: one wake-up).
#[derive(Default)]
pub(crate) struct Listeners {
    /// Which channels have their task.
    started: std::sync::Mutex<std::collections::HashSet<&'static str>>,
    /// Work was queued.
    work: Arc<tokio::sync::Notify>,
    /// An attempt of this coordinator ended.
    done: std::sync::Mutex<std::collections::HashMap<String, Arc<tokio::sync::Notify>>>,
}

impl Listeners {
    /// The permit of `channel` (for `payload`, on the done channel), made for a waiter.
    fn waiter(&self, channel: &str, payload: &str) -> Arc<tokio::sync::Notify> {
        if channel == WORK_CHANNEL {
            return self.work.clone();
        }
        self.done
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(payload.to_string())
            .or_default()
            .clone()
    }

    /// Gives the permit of a notification, to a waiter of this process only (another
    /// coordinator's outcomes make no entry).
    fn heard(&self, channel: &str, payload: &str) {
        if channel == WORK_CHANNEL {
            self.work.notify_one();
        } else if let Some(n) = self
            .done
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(payload)
        {
            n.notify_one();
        }
    }
}

impl std::fmt::Debug for Listeners {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Listeners")
    }
}

/// Binds an attempt's key to `$1`, `$2`, `$3` (run, task, attempt) of a query.
trait BindKey {
    fn bind_key(self, key: &WorkKey) -> Self;
}

impl<'q> BindKey for sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    fn bind_key(self, key: &WorkKey) -> Self {
        self.bind(key.run_id.clone())
            .bind(key.task.clone())
            .bind(i64::from(key.attempt))
    }
}

/// Who claims, under which token, for how long.
struct Claimer<'a> {
    worker: &'a str,
    token: &'a str,
    lease: Duration,
}

/// `d` in microseconds.
fn micros(d: Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

/// A fresh claim token: 128 random bits, hex.
fn new_token() -> String {
    use std::hash::{BuildHasher, Hasher};
    // Two independently keyed SipHashes of the time: unpredictable enough to tell claims
    // apart, which is all a token must do (it is no secret).
    let mut out = String::with_capacity(32);
    for _ in 0..2 {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0),
        );
        out.push_str(&format!("{:016x}", h.finish()));
    }
    out
}

fn key_of(row: &AnyRow) -> Result<WorkKey> {
    let attempt: i64 = get(row, "attempt")?;
    Ok(WorkKey {
        run_id: get(row, "run_id")?,
        task: get(row, "task")?,
        attempt: u32::try_from(attempt)
            .map_err(|_| crate::StoreError::Corrupt(format!("attempt number {attempt}")))?,
    })
}

fn record_of(row: &AnyRow) -> Result<WorkRecord> {
    let state: String = get(row, "state")?;
    Ok(WorkRecord {
        key: key_of(row)?,
        pipeline: get(row, "pipeline")?,
        pool: get(row, "pool")?,
        state: WorkState::parse(&state)?,
        queued_at: get(row, "queued_at")?,
        claimed_at: get(row, "claimed_at")?,
        worker: get(row, "worker")?,
        ended_at: get(row, "ended_at")?,
        outcome: get(row, "outcome")?,
    })
}

const RECORD_COLUMNS: &str = "run_id, task, attempt, pipeline, pool, state, queued_at, claimed_at, worker, ended_at, outcome";

/// `,a,b,`: labels as one text that [`SqlStore::has_label`] searches.
fn label_list(labels: &[String]) -> String {
    let mut s = String::from(",");
    for l in labels {
        s.push_str(l);
        s.push(',');
    }
    s
}

impl SqlStore {
    /// The database's clock, in microseconds since the epoch, as SQL.
    fn now_sql(&self) -> &'static str {
        match self.backend {
            Backend::Postgres => "CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000000 AS BIGINT)",
            Backend::Sqlite => "CAST((julianday('now') - 2440587.5) * 86400000000.0 AS INTEGER)",
        }
    }

    /// SQL true when the label list `param` (`,a,b,`) holds `q.pool`, compared as text
    /// (`LIKE` would read `_` in a name as a wildcard).
    fn has_label(&self, param: &str) -> String {
        match self.backend {
            Backend::Postgres => format!("strpos({param}, ',' || q.pool || ',') > 0"),
            Backend::Sqlite => format!("instr({param}, ',' || q.pool || ',') > 0"),
        }
    }

    /// Sends a notification on `channel` (PostgreSQL; nothing on SQLite, whose waiters poll).
    async fn notify(&self, channel: &str, payload: &str) {
        if self.backend == Backend::Postgres {
            // A lost notification only delays a waiter until its next poll.
            let _ = sqlx::query("SELECT pg_notify($1, $2)")
                .bind(channel)
                .bind(payload)
                .execute(&self.pool)
                .await;
        }
    }

    /// Waits up to `timeout` for a notification on `channel` (with `payload`, when given).
    async fn wait_on(&self, channel: &'static str, payload: &str, timeout: Duration) {
        if self.backend != Backend::Postgres {
            tokio::time::sleep(timeout).await;
            return;
        }
        self.start_listening(channel);
        let permit = self.listeners.waiter(channel, payload);
        // `Notified` is cancel-safe: a permit not taken stays for the next wait.
        let _ = tokio::time::timeout(timeout, permit.notified()).await;
    }

    /// Starts the task that LISTENs on `channel`, once per store. It reconnects after a
    /// failure (waiters poll meanwhile) and ends when the store is dropped.
    fn start_listening(&self, channel: &'static str) {
        {
            let mut started = self
                .listeners
                .started
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            if !started.insert(channel) {
                return;
            }
        }
        let any = self.pool.connect_options();
        let Ok(options) = sqlx::postgres::PgConnectOptions::try_from(&*any) else {
            return;
        };
        let weak = Arc::downgrade(&self.listeners);
        tokio::spawn(async move {
            loop {
                let pool = sqlx::postgres::PgPoolOptions::new()
                    .max_connections(1)
                    .connect_lazy_with(options.clone());
                let listener = async {
                    let mut l = sqlx::postgres::PgListener::connect_with(&pool).await?;
                    l.listen(channel).await?;
                    Ok::<_, sqlx::Error>(l)
                };
                let mut listener = match listener.await {
                    Ok(l) => l,
                    Err(e) => {
                        if weak.strong_count() == 0 {
                            return;
                        }
                        eprintln!(
                            "sluice: cannot LISTEN on `{channel}` ({}); polling until it can",
                            crate::redact_url(&e.to_string())
                        );
                        tokio::time::sleep(Duration::from_secs(5)).await;
                        continue;
                    }
                };
                // Until the connection fails; every 30 s of silence, check the store lives.
                loop {
                    match tokio::time::timeout(Duration::from_secs(30), listener.try_recv()).await {
                        Ok(Ok(Some(n))) => {
                            let Some(listeners) = weak.upgrade() else {
                                return;
                            };
                            listeners.heard(channel, n.payload());
                        }
                        // Lost, or failed: a new connection (waiters poll meanwhile).
                        Ok(Ok(None)) | Ok(Err(_)) => break,
                        Err(_) => {
                            if weak.strong_count() == 0 {
                                return;
                            }
                        }
                    }
                }
            }
        });
    }

    /// `sql` with `{now}` as the database's clock and placeholders for this backend.
    fn qn(&self, sql: &str) -> String {
        self.q(&sql.replace("{now}", self.now_sql())).into_owned()
    }

    /// Claims up to `max` queued items matching `filter` (SQL on `q`, binding `$5` on) in
    /// one statement.
    async fn claim_where<'e, E>(
        &self,
        executor: E,
        claim: &Claimer<'_>,
        max: usize,
        filter: &str,
        bind: Option<&str>,
    ) -> Result<Vec<ClaimedWork>>
    where
        E: sqlx::Executor<'e, Database = sqlx::Any>,
    {
        let pick = format!(
            "SELECT q.run_id, q.task, q.attempt FROM work_queue q \
             JOIN runs r ON r.id = q.run_id AND r.state = 'running' \
             AND q.coordinator LIKE r.host || '-' || CAST(r.pid AS TEXT) || '-%' \
             WHERE q.state = 'queued' AND q.cancel = 0 AND ({filter}) \
             ORDER BY q.queued_at, q.run_id, q.task LIMIT $4"
        );
        let set = "state = 'claimed', worker = $1, token = $2, claimed_at = {now}, \
                   lease_until = {now} + $3";
        let sql = match self.backend {
            // The picked rows are locked once, in a materialised CTE: as an `IN` subquery,
            // PostgreSQL may run it again per row, skipping other rows each time.
            Backend::Postgres => format!(
                "WITH picked AS MATERIALIZED ({pick} FOR UPDATE OF q SKIP LOCKED) \
                 UPDATE work_queue w SET {set} FROM picked p \
                 WHERE w.run_id = p.run_id AND w.task = p.task AND w.attempt = p.attempt \
                 RETURNING w.run_id, w.task, w.attempt, w.spec"
            ),
            // SQLite has one writer at a time: the statement is atomic as it is.
            Backend::Sqlite => format!(
                "UPDATE work_queue SET {set} WHERE state = 'queued' AND \
                 (run_id, task, attempt) IN ({pick}) RETURNING run_id, task, attempt, spec"
            ),
        };
        let sql = self.qn(&sql);
        let mut query = sqlx::query(&sql)
            .bind(claim.worker)
            .bind(claim.token)
            .bind(micros(claim.lease))
            .bind(i64::try_from(max).unwrap_or(i64::MAX));
        if let Some(b) = bind {
            query = query.bind(b);
        }
        let rows = query
            .fetch_all(executor)
            .await
            .map_err(query_err("claiming queued work"))?;
        rows.iter()
            .map(|row| {
                Ok(ClaimedWork {
                    key: key_of(row)?,
                    spec: get(row, "spec")?,
                    token: claim.token.to_string(),
                })
            })
            .collect()
    }
}

#[async_trait]
impl WorkQueue for SqlStore {
    async fn enqueue(&self, item: &WorkItem) -> Result<()> {
        sqlx::query(&self.qn(
            "INSERT INTO work_queue (run_id, task, attempt, pipeline, pool, spec, coordinator, \
             state, queued_at, cancel, collected) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, 'queued', {now}, 0, 0)",
        ))
        .bind(&item.key.run_id)
        .bind(&item.key.task)
        .bind(i64::from(item.key.attempt))
        .bind(&item.pipeline)
        .bind(item.pool.clone().unwrap_or_default())
        .bind(&item.spec)
        .bind(&item.coordinator)
        .execute(&self.pool)
        .await
        .map_err(query_err("queueing an attempt"))?;
        self.notify(WORK_CHANNEL, "").await;
        Ok(())
    }

    async fn claim(
        &self,
        worker: &str,
        labels: &[String],
        max: usize,
        lease: Duration,
    ) -> Result<Vec<ClaimedWork>> {
        if max == 0 {
            return Ok(Vec::new());
        }
        let token = new_token();
        let claimer = Claimer {
            worker,
            token: &token,
            lease,
        };
        let labels = label_list(labels);
        // Items of no pool, or of a pool of the worker's labels that has no slot limit.
        let mut claimed = self
            .claim_where(
                &self.pool,
                &claimer,
                max,
                &format!(
                    "q.pool = '' OR ({} AND \
                     NOT EXISTS (SELECT 1 FROM pools p WHERE p.name = q.pool))",
                    self.has_label("$5")
                ),
                Some(&labels),
            )
            .await?;
        // Only a worker with labels may take work of a pool with a limit.
        if claimed.len() >= max || labels == "," {
            return Ok(claimed);
        }
        // Pools with a limit: one transaction per pool holding the pool's row, so that two
        // workers cannot both take its last slot.
        let limited = sqlx::query(&self.q(&format!(
            "SELECT DISTINCT q.pool FROM work_queue q JOIN pools p ON p.name = q.pool \
             WHERE q.state = 'queued' AND {} ORDER BY q.pool",
            self.has_label("$1")
        )))
        .bind(&labels)
        .fetch_all(&self.pool)
        .await
        .map_err(query_err("reading pools"))?;
        for row in &limited {
            let pool: String = get(row, "pool")?;
            let mut tx = self
                .pool
                .begin()
                .await
                .map_err(query_err("claiming queued work"))?;
            let lock = match self.backend {
                Backend::Postgres => " FOR UPDATE",
                Backend::Sqlite => "",
            };
            if self.backend == Backend::Sqlite {
                // Takes SQLite's write lock now, before counting.
                sqlx::query("UPDATE pools SET slots = slots WHERE name = ?1")
                    .bind(&pool)
                    .execute(&mut *tx)
                    .await
                    .map_err(query_err("claiming queued work"))?;
            }
            let slots: Option<i64> =
                sqlx::query(&self.q(&format!("SELECT slots FROM pools WHERE name = $1{lock}")))
                    .bind(&pool)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(query_err("claiming queued work"))?
                    .map(|r| r.try_get::<i64, _>(0))
                    .transpose()
                    .map_err(query_err("claiming queued work"))?;
            // Claims whose lease ran out (their worker and coordinator gone) free their slot.
            let busy: i64 = sqlx::query(&self.qn(
                "SELECT COUNT(*) FROM work_queue WHERE pool = $1 AND state = 'claimed' \
                 AND lease_until >= {now}",
            ))
            .bind(&pool)
            .fetch_one(&mut *tx)
            .await
            .and_then(|r| r.try_get::<i64, _>(0))
            .map_err(query_err("claiming queued work"))?;
            let free = usize::try_from(slots.unwrap_or(0) - busy).unwrap_or(0);
            let n = free.min(max - claimed.len());
            if n > 0 {
                let got = self
                    .claim_where(&mut *tx, &claimer, n, "q.pool = $5", Some(&pool))
                    .await?;
                claimed.extend(got);
            }
            tx.commit()
                .await
                .map_err(query_err("claiming queued work"))?;
            if claimed.len() >= max {
                break;
            }
        }
        Ok(claimed)
    }

    async fn renew(&self, key: &WorkKey, token: &str, lease: Duration) -> Result<Lease> {
        let row = sqlx::query(&self.qn("UPDATE work_queue SET lease_until = {now} + $5 \
             WHERE run_id = $1 AND task = $2 AND attempt = $3 AND token = $4 \
             AND state = 'claimed' RETURNING cancel"))
        .bind_key(key)
        .bind(token)
        .bind(micros(lease))
        .fetch_optional(&self.pool)
        .await
        .map_err(query_err("renewing a lease"))?;
        Ok(match row {
            Some(row) => Lease::Held {
                cancel: get::<i64>(&row, "cancel")? != 0,
            },
            None => Lease::Lost,
        })
    }

    async fn finish(&self, key: &WorkKey, token: &str, outcome: &str) -> Result<bool> {
        let done = sqlx::query(&self.qn(
            "UPDATE work_queue SET state = 'done', outcome = $5, ended_at = {now}, spec = '' \
             WHERE run_id = $1 AND task = $2 AND attempt = $3 AND token = $4 \
             AND state = 'claimed' RETURNING coordinator",
        ))
        .bind_key(key)
        .bind(token)
        .bind(outcome)
        .fetch_optional(&self.pool)
        .await
        .map_err(query_err("recording an attempt's outcome"))?;
        match done {
            Some(row) => {
                let coordinator: String = get(&row, "coordinator")?;
                self.notify(DONE_CHANNEL, &coordinator).await;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    async fn hand_back(&self, key: &WorkKey, token: &str) -> Result<bool> {
        // Given back while its run was being stopped: it ends here, cancelled, rather than
        // waiting in the queue for a claim that never comes (claims skip `cancel = 1`).
        let row = sqlx::query(&self.qn("UPDATE work_queue SET \
             state = CASE WHEN cancel = 1 THEN 'cancelled' ELSE 'queued' END, \
             ended_at = CASE WHEN cancel = 1 THEN {now} ELSE NULL END, \
             spec = CASE WHEN cancel = 1 THEN '' ELSE spec END, \
             worker = CASE WHEN cancel = 1 THEN worker ELSE NULL END, \
             token = NULL, claimed_at = CASE WHEN cancel = 1 THEN claimed_at ELSE NULL END, \
             lease_until = NULL \
             WHERE run_id = $1 AND task = $2 AND attempt = $3 AND token = $4 \
             AND state = 'claimed' RETURNING state, coordinator"))
        .bind_key(key)
        .bind(token)
        .fetch_optional(&self.pool)
        .await
        .map_err(query_err("handing work back"))?;
        let Some(row) = row else { return Ok(false) };
        let state: String = get(&row, "state")?;
        if state == "cancelled" {
            let coordinator: String = get(&row, "coordinator")?;
            self.notify(DONE_CHANNEL, &coordinator).await;
        } else {
            self.notify(WORK_CHANNEL, "").await;
        }
        Ok(true)
    }

    async fn cancel(&self, key: &WorkKey) -> Result<()> {
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(query_err("cancelling work"))?;
        for sql in [
            "UPDATE work_queue SET state = 'cancelled', ended_at = {now}, cancel = 1, spec = '' \
             WHERE run_id = $1 AND task = $2 AND attempt = $3 AND state = 'queued'",
            "UPDATE work_queue SET cancel = 1 \
             WHERE run_id = $1 AND task = $2 AND attempt = $3 AND state = 'claimed'",
        ] {
            sqlx::query(&self.qn(sql))
                .bind_key(key)
                .execute(&mut *tx)
                .await
                .map_err(query_err("cancelling work"))?;
        }
        tx.commit().await.map_err(query_err("cancelling work"))?;
        Ok(())
    }

    async fn collect(&self, coordinator: &str) -> Result<Vec<WorkRecord>> {
        sqlx::query(&self.qn(
            "UPDATE work_queue SET state = 'lost', ended_at = {now}, spec = '' \
             WHERE coordinator = $1 AND state = 'claimed' AND lease_until < {now}",
        ))
        .bind(coordinator)
        .execute(&self.pool)
        .await
        .map_err(query_err("declaring lost work"))?;
        let rows = sqlx::query(&self.q(&format!(
            "SELECT {RECORD_COLUMNS} FROM work_queue WHERE coordinator = $1 AND collected = 0 \
             AND state IN ('done', 'lost', 'cancelled')"
        )))
        .bind(coordinator)
        .fetch_all(&self.pool)
        .await
        .map_err(query_err("collecting ended work"))?;
        rows.iter().map(record_of).collect()
    }

    async fn acknowledge(&self, keys: &[WorkKey]) -> Result<()> {
        if keys.is_empty() {
            return Ok(());
        }
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(query_err("acknowledging ended work"))?;
        for key in keys {
            sqlx::query(&self.q("UPDATE work_queue SET collected = 1 \
                 WHERE run_id = $1 AND task = $2 AND attempt = $3"))
            .bind_key(key)
            .execute(&mut *tx)
            .await
            .map_err(query_err("acknowledging ended work"))?;
        }
        tx.commit()
            .await
            .map_err(query_err("acknowledging ended work"))?;
        Ok(())
    }

    async fn work(&self, run_id: Option<&str>) -> Result<Vec<WorkRecord>> {
        let rows = sqlx::query(&self.q(&format!(
            "SELECT {RECORD_COLUMNS} FROM work_queue WHERE ($1 = '' OR run_id = $1) \
             ORDER BY queued_at, run_id, task, attempt"
        )))
        .bind(run_id.unwrap_or_default())
        .fetch_all(&self.pool)
        .await
        .map_err(query_err("reading the work queue"))?;
        rows.iter().map(record_of).collect()
    }

    async fn worker_seen(&self, w: &WorkerRecord) -> Result<()> {
        sqlx::query(&self.qn(
            "INSERT INTO workers (id, host, pid, labels, slots, state, started_at, heartbeat_at) \
             VALUES ($1, $2, $3, $4, $5, $6, {now}, {now}) \
             ON CONFLICT (id) DO UPDATE SET state = $6, heartbeat_at = {now}",
        ))
        .bind(&w.id)
        .bind(&w.host)
        .bind(w.pid)
        .bind(w.labels.join(","))
        .bind(i64::from(w.slots))
        .bind(&w.state)
        .execute(&self.pool)
        .await
        .map_err(query_err("recording a worker"))?;
        Ok(())
    }

    async fn workers(&self, within: Duration) -> Result<Vec<WorkerRecord>> {
        let rows = sqlx::query(&self.qn(
            "SELECT id, host, pid, labels, slots, state, started_at, heartbeat_at, \
             {now} - heartbeat_at AS silent_for FROM workers \
             WHERE heartbeat_at >= {now} - $1 ORDER BY host, id",
        ))
        .bind(micros(within))
        .fetch_all(&self.pool)
        .await
        .map_err(query_err("reading workers"))?;
        let running = sqlx::query(
            "SELECT worker, run_id, task, attempt FROM work_queue WHERE state = 'claimed' \
             ORDER BY claimed_at",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(query_err("reading workers"))?;
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            let id: String = get(row, "id")?;
            let labels: String = get(row, "labels")?;
            let slots: i64 = get(row, "slots")?;
            let mut current = Vec::new();
            for r in &running {
                if get::<Option<String>>(r, "worker")?.as_deref() == Some(id.as_str()) {
                    current.push(key_of(r)?.to_string());
                }
            }
            out.push(WorkerRecord {
                host: get(row, "host")?,
                pid: get(row, "pid")?,
                labels: labels
                    .split(',')
                    .filter(|l| !l.is_empty())
                    .map(str::to_string)
                    .collect(),
                slots: u32::try_from(slots).unwrap_or(0),
                state: get(row, "state")?,
                started_at: get(row, "started_at")?,
                heartbeat_at: get(row, "heartbeat_at")?,
                silent_for: get(row, "silent_for")?,
                running: current,
                id,
            });
        }
        Ok(out)
    }

    async fn queue_depth(&self) -> Result<Vec<QueueDepth>> {
        let rows = sqlx::query(
            "SELECT q.pool AS pool, \
             SUM(CASE WHEN q.state = 'queued' THEN 1 ELSE 0 END) AS queued, \
             SUM(CASE WHEN q.state = 'claimed' THEN 1 ELSE 0 END) AS claimed, \
             MAX(p.slots) AS slots \
             FROM work_queue q JOIN runs r ON r.id = q.run_id AND r.state = 'running' \
             LEFT JOIN pools p ON p.name = q.pool \
             WHERE q.state IN ('queued', 'claimed') GROUP BY q.pool ORDER BY q.pool",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(query_err("reading the queue's depth"))?;
        rows.iter()
            .map(|row| {
                Ok(QueueDepth {
                    pool: get(row, "pool")?,
                    queued: get(row, "queued")?,
                    claimed: get(row, "claimed")?,
                    slots: get(row, "slots")?,
                })
            })
            .collect()
    }

    async fn purge(&self, older_than: Duration, dry_run: bool) -> Result<(u64, u64)> {
        let age = i64::try_from(older_than.as_micros()).unwrap_or(i64::MAX / 2);
        let attempts = "FROM work_queue WHERE ended_at IS NOT NULL AND ended_at < {now} - $1";
        let workers = "FROM workers WHERE heartbeat_at < {now} - $1";
        let mut counts = [0u64; 2];
        for (n, from) in [attempts, workers].into_iter().enumerate() {
            counts[n] = if dry_run {
                let row = sqlx::query(&self.qn(&format!("SELECT COUNT(*) AS n {from}")))
                    .bind(age)
                    .fetch_one(&self.pool)
                    .await
                    .map_err(query_err("counting old queue rows"))?;
                u64::try_from(get::<i64>(&row, "n")?).unwrap_or(0)
            } else {
                sqlx::query(&self.qn(&format!("DELETE {from}")))
                    .bind(age)
                    .execute(&self.pool)
                    .await
                    .map_err(query_err("removing old queue rows"))?
                    .rows_affected()
            };
        }
        Ok((counts[0], counts[1]))
    }

    async fn set_pool_slots(&self, pool: &str, slots: Option<u32>) -> Result<()> {
        let sql = match slots {
            Some(_) => {
                "INSERT INTO pools (name, slots) VALUES ($1, $2) \
                 ON CONFLICT (name) DO UPDATE SET slots = $2"
            }
            None => "DELETE FROM pools WHERE name = $1",
        };
        let sql = self.q(sql);
        let mut query = sqlx::query(&sql).bind(pool);
        if let Some(s) = slots {
            query = query.bind(i64::from(s));
        }
        query
            .execute(&self.pool)
            .await
            .map_err(query_err("setting a pool's slots"))?;
        Ok(())
    }

    fn notifies(&self) -> bool {
        self.backend == Backend::Postgres
    }

    async fn wait_for_work(&self, timeout: Duration) {
        self.wait_on(WORK_CHANNEL, "", timeout).await;
    }

    async fn wait_for_outcomes(&self, coordinator: &str, timeout: Duration) {
        self.wait_on(DONE_CHANNEL, coordinator, timeout).await;
    }
}
