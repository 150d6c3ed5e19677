//! `sluice serve`: one process that loads a folder of pipelines (reloaded on change), runs
//! their schedules, executes runs on the engine, and serves the REST API with
//! authentication, roles and Prometheus metrics.
//!
//! Layout: [`routes`] lists every route with the role it needs (the one table the guard,
//! the OpenAPI document and the tests read); [`api`] holds the handlers, one module per
//! resource with the types they read and answer with (the OpenAPI document's schemas), which
//! call the engine or the store (no SQL here); [`error`] maps errors to statuses in one place;
//! [`auth`] checks credentials; [`catalog`] loads the pipeline folder; [`runs`] starts and
//! cancels runs; [`metrics`] renders `/metrics`.
//!
//! This crate depends on the engine, the store, the ops registry, and on `sluice-vector` and
//! `sluice-embed` for searches and embeddings; nothing depends on it but the CLI.

pub mod api;
pub mod auth;
pub mod catalog;
pub mod error;
pub mod metrics;
pub mod routes;
pub mod runs;
pub mod ui;

#[cfg(test)]
mod fuzz;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use sluice_engine::schedule::Scheduler;
use sluice_engine::{Engine, RunOptions};
use sluice_op::Registry;
use sluice_store::{StateStore, now_micros};
use tokio_util::sync::CancellationToken;

use crate::catalog::Catalog;
use crate::metrics::{LAG_SECONDS, Metrics};
use crate::runs::Runs;

/// How to serve.
#[derive(Debug, Clone)]
pub struct Config {
    /// The folder of pipeline files.
    pub pipelines: PathBuf,
    /// The state folder (logs, warehouse); the store is opened by the caller.
    pub home: PathBuf,
    /// Where to listen.
    pub bind: SocketAddr,
    /// Mark the session cookie `Secure` (the server is behind a TLS proxy).
    pub secure_cookies: bool,
    /// The ops pipelines may use (the CLI gives the built-ins).
    pub registry: Arc<Registry>,
    /// Told of every run and attempt (the home's lineage emitter).
    pub observers: Vec<Arc<dyn sluice_engine::Observer>>,
    /// The queue of `sluice worker`s, when runs' attempts run on them.
    pub workers: Option<Arc<dyn sluice_store::WorkQueue>>,
    /// The key sealing what is queued for workers (`SLUICE_QUEUE_KEY`).
    pub queue_key: Option<sluice_engine::workers::QueueKey>,
    /// The object store of the warehouse (`SLUICE_WAREHOUSE`), when it is in one.
    pub remote_warehouse: Option<Arc<sluice_engine::remote::Remote>>,
}

/// The server's shared state.
#[derive(Clone)]
pub struct App(Arc<Inner>);

/// What [`App`] holds.
pub struct Inner {
    /// The engine runs execute on.
    pub engine: Engine,
    /// The state store.
    pub store: Arc<dyn StateStore>,
    /// The op registry pipelines are validated against.
    pub registry: Arc<Registry>,
    /// The folder of pipeline files.
    pub dir: PathBuf,
    /// The pipelines of the folder.
    pub catalog: RwLock<Catalog>,
    /// The runs going on.
    pub runs: Runs,
    /// Counters and histograms.
    pub metrics: Metrics,
    /// Failed logins.
    pub throttle: auth::Throttle,
    /// Password hashes computed at once at most (each takes tens of milliseconds of a core):
    /// beyond, logins are answered 429.
    pub hashing: Arc<tokio::sync::Semaphore>,
    /// Mark cookies `Secure`.
    pub secure_cookies: bool,
    /// Fires when the server stops: runs are cancelled.
    pub stop: CancellationToken,
    /// Embedding models and vector indexes opened by searches and `/v1/embeddings`, kept
    /// for the next request.
    pub search: sluice_vector::text::Cache,
    /// Models loaded for predictions.
    pub models: api::models::ModelCache,
    /// Turns of the documents read for predictions ([`api::documents::AT_ONCE`] at once).
    pub documents: Arc<tokio::sync::Semaphore>,
    /// Pipelines with backfill runs claimed and not all started.
    pub backfills: std::sync::Mutex<std::collections::BTreeSet<String>>,
    /// The workers' queue, when runs' attempts run on `sluice worker`s.
    pub workers: Option<Arc<dyn sluice_store::WorkQueue>>,
}

impl std::ops::Deref for App {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl App {
    /// The server's state over `store`, its pipelines read from `config.pipelines`.
    pub fn new(config: &Config, store: Arc<dyn StateStore>, stop: CancellationToken) -> App {
        let registry = config.registry.clone();
        let mut engine = config.observers.iter().fold(
            Engine::new(store.clone(), registry.clone(), &config.home),
            |engine, o| engine.with_observer(o.clone()),
        );
        if let Some(remote) = &config.remote_warehouse {
            engine = engine.with_remote_warehouse(remote.clone());
        }
        if let Some(queue) = &config.workers {
            engine = engine.with_dispatcher(sluice_engine::workers::Dispatcher::new(
                queue.clone(),
                sluice_engine::workers::Timing::default(),
                config.queue_key.clone(),
            ));
        }
        App(Arc::new(Inner {
            engine,
            store,
            registry,
            dir: config.pipelines.clone(),
            catalog: RwLock::new(Catalog::default()),
            runs: Runs::default(),
            metrics: Metrics::default(),
            throttle: auth::Throttle::default(),
            hashing: Arc::new(tokio::sync::Semaphore::new(auth::MAX_HASHES)),
            secure_cookies: config.secure_cookies,
            stop,
            search: sluice_vector::text::Cache::default(),
            models: Default::default(),
            documents: Arc::new(tokio::sync::Semaphore::new(api::documents::AT_ONCE)),
            backfills: Default::default(),
            workers: config.workers.clone(),
        }))
    }

    /// Reads the pipeline folder again; true when something changed.
    pub fn refresh(&self) -> std::io::Result<bool> {
        let mut fresh = self.catalog.read().map(|c| c.clone()).unwrap_or_default();
        let changed = fresh.refresh(&self.dir, &self.registry)?;
        if changed && let Ok(mut c) = self.catalog.write() {
            *c = fresh;
        }
        Ok(changed)
    }

    /// A copy of the catalog.
    pub fn catalog(&self) -> Catalog {
        self.catalog.read().map(|c| c.clone()).unwrap_or_default()
    }
}

/// Serves until `stop` fires: recovers what a previous server left, then runs the scheduler
/// and the HTTP server. Returns the address it listened on through `bound` as soon as it is
/// listening.
pub async fn serve(
    config: Config,
    store: Arc<dyn StateStore>,
    stop: CancellationToken,
    bound: Option<tokio::sync::oneshot::Sender<SocketAddr>>,
) -> Result<(), String> {
    let app = App::new(&config, store, stop.clone());
    app.refresh()
        .map_err(|e| format!("cannot read {}: {e}", config.pipelines.display()))?;
    recover(&app).await;
    let listener = tokio::net::TcpListener::bind(config.bind)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", config.bind))?;
    let addr = listener
        .local_addr()
        .map_err(|e| format!("cannot listen on {}: {e}", config.bind))?;
    tracing::info!("listening on http://{addr}");
    if let Some(tx) = bound {
        let _ = tx.send(addr);
    }
    let scheduler = tokio::spawn(schedule_loop(app.clone()));
    let router = routes::router(app.clone());
    let shutdown = stop.clone();
    let served = axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move { shutdown.cancelled().await })
    .await
    .map_err(|e| format!("the HTTP server stopped: {e}"));
    stop.cancel();
    let _ = scheduler.await;
    // Runs were cancelled with `stop`; give them a moment to record it.
    let waited = std::time::Instant::now();
    while !app.runs.active().is_empty() && waited.elapsed() < Duration::from_secs(10) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    served
}

/// What a stopped or killed server left: runs marked "running" whose process is gone are
/// marked failed (with their attempts), and slots claimed for a run that never started are
/// run now.
async fn recover(app: &App) {
    let catalog = app.catalog();
    let sched = Scheduler::new(app.store.clone());
    for entry in catalog.entries.values() {
        let Ok(loaded) = &entry.loaded else { continue };
        let name = &loaded.pipeline.name;
        match app.engine.reap_dead_runs(name).await {
            Ok(ids) => {
                for id in ids {
                    tracing::warn!(
                        "run {id} of {name} was interrupted (its process is gone): marked failed; resume it with POST /api/runs/{id}/resume"
                    );
                }
            }
            Err(e) => tracing::warn!("cannot check the runs of {name}: {e}"),
        }
        match sched.unstarted_for_datasets(&loaded.pipeline).await {
            Ok(owed) => {
                for run_id in owed {
                    let opts = RunOptions {
                        trigger: "dataset".into(),
                        run_id: Some(run_id.clone()),
                        ..RunOptions::default()
                    };
                    if let Err(e) = runs::start(app, loaded.pipeline.clone(), opts).await {
                        tracing::warn!("cannot start run {run_id} of {name}: {e}");
                    }
                }
            }
            Err(e) => tracing::warn!("cannot read the dataset triggers of {name}: {e}"),
        }
        if loaded.schedule.is_none() {
            continue;
        }
        match sched.unstarted(name).await {
            Ok(owed) => {
                for due in owed {
                    start_slot(app, &entry.file, &loaded.pipeline, &due, "schedule").await;
                }
            }
            Err(e) => tracing::warn!("cannot read the schedule of {name}: {e}"),
        }
        if sched
            .unstarted_backfill(name)
            .await
            .is_ok_and(|owed| !owed.is_empty())
            && let Ok(mut b) = app.backfills.lock()
        {
            b.insert(name.clone());
        }
    }
}

/// About once a second: reloads changed pipeline files and starts the runs of the slots
/// that are due, sleeping until the next slot when it is sooner.
async fn schedule_loop(app: App) {
    let sched = Scheduler::new(app.store.clone());
    let mut last_refresh = std::time::Instant::now();
    loop {
        if last_refresh.elapsed() >= Duration::from_secs(1) {
            last_refresh = std::time::Instant::now();
            let refreshed = {
                let app = app.clone();
                tokio::task::spawn_blocking(move || app.refresh()).await
            };
            match refreshed {
                Ok(Ok(true)) => tracing::info!("pipelines reloaded from {}", app.dir.display()),
                Ok(Err(e)) => tracing::warn!("cannot read {}: {e}", app.dir.display()),
                _ => {}
            }
        }
        let now = now_micros();
        let mut next_slot: Option<i64> = None;
        for (pipeline, schedule) in app.catalog().scheduled() {
            let free = pipeline
                .max_active_runs
                .saturating_sub(runs::going_on(&app, &pipeline.name).await);
            match sched.tick(&pipeline, &schedule, now, free).await {
                Ok(due) => {
                    for d in due {
                        app.metrics.observe(
                            "sluice_scheduler_lag_seconds",
                            vec![],
                            LAG_SECONDS,
                            (now_micros() - d.slot) as f64 / 1e6,
                        );
                        start_slot(&app, &pipeline.file, &pipeline, &d, "schedule").await;
                    }
                }
                Err(e) => tracing::warn!("scheduler: {}: {e}", pipeline.name),
            }
            if let Some(next) = schedule.next_after(now) {
                next_slot = Some(next_slot.map_or(next, |n| n.min(next)));
            }
        }
        let pending: Vec<String> = app
            .backfills
            .lock()
            .map(|b| b.iter().cloned().collect())
            .unwrap_or_default();
        for name in pending {
            let Some(pipeline) = app.catalog().get(&name).map(|l| l.pipeline.clone()) else {
                continue;
            };
            let free = pipeline
                .max_active_runs
                .saturating_sub(runs::going_on(&app, &name).await);
            if free == 0 {
                continue;
            }
            match sched.unstarted_backfill(&name).await {
                Ok(owed) if owed.is_empty() => {
                    if let Ok(mut b) = app.backfills.lock() {
                        b.remove(&name);
                    }
                }
                Ok(owed) => {
                    for due in owed.iter().take(free) {
                        start_slot(&app, &pipeline.file, &pipeline, due, "backfill").await;
                    }
                }
                Err(e) => tracing::warn!("backfill of {name}: {e}"),
            }
        }
        for pipeline in app.catalog().triggered() {
            let free = pipeline
                .max_active_runs
                .saturating_sub(runs::going_on(&app, &pipeline.name).await);
            match sched.tick_datasets(&pipeline, now_micros(), free).await {
                Ok(Some(due)) => {
                    let names: Vec<String> = due
                        .datasets
                        .iter()
                        .map(|(d, v)| format!("{d}@{v}"))
                        .collect();
                    tracing::info!(
                        "new version of {}: run {} of {}",
                        names.join(", "),
                        due.run_id,
                        pipeline.name
                    );
                    let opts = RunOptions {
                        trigger: format!(
                            "dataset:{}",
                            due.datasets
                                .iter()
                                .map(|(d, _)| d.as_str())
                                .collect::<Vec<_>>()
                                .join(",")
                        ),
                        run_id: Some(due.run_id.clone()),
                        ..RunOptions::default()
                    };
                    if let Err(e) = runs::start(&app, pipeline.clone(), opts).await {
                        tracing::warn!("cannot start run {} of {}: {e}", due.run_id, pipeline.name);
                    }
                }
                Ok(None) => {}
                Err(e) => tracing::warn!("dataset triggers of {}: {e}", pipeline.name),
            }
        }
        let until_next = next_slot
            .map(|n| Duration::from_micros((n - now_micros()).max(0) as u64))
            .unwrap_or(Duration::from_secs(1))
            .min(Duration::from_secs(1));
        tokio::select! {
            _ = app.stop.cancelled() => break,
            _ = tokio::time::sleep(until_next) => {}
        }
    }
}

/// Starts the run claimed for a slot of `pipeline`'s schedule: with the slot's parameters
/// (`slot`, `slot_date`) when the pipeline declares them, its file loaded again with them.
async fn start_slot(
    app: &App,
    file: &std::path::Path,
    pipeline: &sluice_core::Pipeline,
    due: &sluice_engine::schedule::Due,
    trigger: &str,
) {
    let params = match sluice_engine::schedule::Schedule::of(pipeline) {
        Ok(Some(s)) => s.slot_params(pipeline, due.slot),
        _ => Vec::new(),
    };
    let pipeline = if params.is_empty() {
        Ok(pipeline.clone())
    } else {
        let (file, registry) = (file.to_path_buf(), app.registry.clone());
        tokio::task::spawn_blocking(move || catalog::load(&file, &params, &registry))
            .await
            .unwrap_or_else(|e| Err(e.to_string()))
    };
    let name = &due.run_id;
    match pipeline {
        Ok(pipeline) => {
            let opts = RunOptions {
                trigger: trigger.into(),
                run_id: Some(due.run_id.clone()),
                nominal_time: Some(due.slot),
                ..RunOptions::default()
            };
            if let Err(e) = runs::start(app, pipeline.clone(), opts).await {
                tracing::warn!("cannot start run {name} of {}: {e}", pipeline.name);
            }
        }
        Err(e) => tracing::warn!("cannot start run {name}: {e}"),
    }
}
