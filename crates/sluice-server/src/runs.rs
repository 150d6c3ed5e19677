//! The runs this server executes: started by the scheduler or the API on the engine, each in
//! its own tokio task, cancellable, counted in the metrics.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sluice_core::{Pipeline, RunState, TaskState};
use sluice_engine::{Event, RunOptions, new_run_id};
use sluice_store::{Micros, now_micros};
use tokio_util::sync::CancellationToken;

use crate::App;
use crate::error::{ApiError, ApiResult};
use crate::metrics::TASK_SECONDS;

/// A run going on in this server.
#[derive(Debug, Clone)]
pub struct Active {
    /// Its pipeline.
    pub pipeline: String,
    /// Fires to stop it.
    pub cancel: CancellationToken,
    /// When this server started it (or resumed it).
    pub since: Micros,
}

/// The runs going on.
#[derive(Default)]
pub struct Runs {
    active: Mutex<HashMap<String, Active>>,
}

impl Runs {
    /// Runs of `pipeline` going on.
    pub fn active_of(&self, pipeline: &str) -> usize {
        self.active
            .lock()
            .map(|a| a.values().filter(|r| r.pipeline == pipeline).count())
            .unwrap_or(0)
    }

    /// The runs of `pipeline` started here whose task has not ended: id and start.
    fn ids_of(&self, pipeline: &str) -> Vec<(String, Micros)> {
        self.active
            .lock()
            .map(|a| {
                a.iter()
                    .filter(|(_, r)| r.pipeline == pipeline)
                    .map(|(id, r)| (id.clone(), r.since))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Every run going on, by id.
    pub fn active(&self) -> HashMap<String, Active> {
        self.active.lock().map(|a| a.clone()).unwrap_or_default()
    }

    /// Stops run `id` if it goes on here; false otherwise.
    pub fn cancel(&self, id: &str) -> bool {
        match self.active.lock().ok().and_then(|a| a.get(id).cloned()) {
            Some(run) => {
                run.cancel.cancel();
                true
            }
            None => false,
        }
    }

    fn insert(&self, id: &str, run: Active) -> bool {
        let Ok(mut a) = self.active.lock() else {
            return false;
        };
        if a.contains_key(id) {
            return false;
        }
        a.insert(id.to_string(), run);
        true
    }

    fn remove(&self, id: &str) {
        if let Ok(mut a) = self.active.lock() {
            a.remove(id);
        }
    }
}

/// Runs of `pipeline` going on here, less those the store records as ended since this server
/// started them.
///
/// A run's end is stored a moment before its task here ends, so a client (or the scheduler)
/// that saw a run finish may start the next one at once, even under `max_active_runs: 1`. A
/// run being resumed still shows its earlier end until the engine records it running again:
/// it counts. So does a run the store cannot answer for.
pub async fn going_on(app: &App, pipeline: &str) -> usize {
    let mut n = 0;
    for (id, since) in app.runs.ids_of(pipeline) {
        match app.store.run(&id).await {
            Ok(Some(r))
                if r.state != RunState::Running && r.ended_at.is_some_and(|e| e >= since) => {}
            _ => n += 1,
        }
    }
    n
}

/// Starts a run of `pipeline` (a new one, or `opts.resume`) and returns its id once the store
/// has it, so a client can read it at once. An error before the run is recorded (an unknown
/// task, a run still going elsewhere) is returned.
pub async fn start(app: &App, pipeline: Pipeline, mut opts: RunOptions) -> ApiResult<String> {
    let id = match &opts.resume {
        Some(id) => id.clone(),
        None => opts.run_id.get_or_insert_with(new_run_id).clone(),
    };
    // The store admits the run only below `max_active_runs`, whoever starts it.
    opts.max_active = Some(pipeline.max_active_runs);
    let cancel = app.stop.child_token();
    let name = pipeline.name.clone();
    if !app.runs.insert(
        &id,
        Active {
            pipeline: name.clone(),
            cancel: cancel.clone(),
            since: now_micros(),
        },
    ) {
        return Err(ApiError::Conflict(format!("run {id} is already going on")));
    }
    app.metrics.add(
        "sluice_runs_started_total",
        vec![
            ("pipeline", name.clone()),
            ("trigger", opts.trigger.clone()),
        ],
        1.0,
    );
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let trainings: Vec<String> = pipeline
        .tasks
        .iter()
        .filter(|t| t.op() == Some("train"))
        .map(|t| t.name.clone())
        .collect();
    tokio::spawn(count_events(app.clone(), name.clone(), trainings, rx));
    let worker = {
        let app = app.clone();
        let id = id.clone();
        tokio::spawn(async move {
            let result = app.engine.run(&pipeline, opts, Some(tx), cancel).await;
            app.runs.remove(&id);
            let state = match &result {
                Ok(summary) => summary.state,
                Err(e) => {
                    tracing::warn!("run {id} of {name}: {e}");
                    RunState::Failed
                }
            };
            app.metrics.add(
                "sluice_runs_finished_total",
                vec![("pipeline", name.clone()), ("state", state.as_str().into())],
                1.0,
            );
            if let Ok(versions) = app.store.dataset_versions(Some(&name), None).await {
                let rows: u64 = versions
                    .iter()
                    .filter(|v| v.run_id == id)
                    .map(|v| v.rows)
                    .sum();
                app.metrics.add(
                    "sluice_rows_written_total",
                    vec![("pipeline", name.clone())],
                    rows as f64,
                );
            }
            result.map(|_| ())
        })
    };
    // The client may read the run as soon as this returns.
    let waited = Instant::now();
    loop {
        if app.store.run(&id).await?.is_some() {
            return Ok(id);
        }
        if worker.is_finished() {
            return match worker.await {
                Ok(Err(e)) => Err(e.into()),
                Ok(Ok(())) => Ok(id),
                Err(e) => Err(ApiError::Internal(format!("run {id} stopped: {e}"))),
            };
        }
        if waited.elapsed() > Duration::from_secs(10) {
            return Ok(id);
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Counts what the engine reports: task attempts by state, their durations, embedding rates,
/// and the attempts of the `trainings` (`train` tasks) by outcome.
async fn count_events(
    app: App,
    pipeline: String,
    trainings: Vec<String>,
    mut rx: tokio::sync::mpsc::UnboundedReceiver<Event>,
) {
    let mut progress: HashMap<String, (Instant, u64)> = HashMap::new();
    while let Some(event) = rx.recv().await {
        match event {
            Event::Task {
                task,
                state,
                elapsed,
                ..
            } => {
                if state == TaskState::Running {
                    progress.remove(&task);
                    continue;
                }
                if !matches!(
                    state,
                    TaskState::Succeeded
                        | TaskState::Failed
                        | TaskState::UpForRetry
                        | TaskState::Cached
                        | TaskState::UpstreamFailed
                        | TaskState::Cancelled
                ) {
                    continue;
                }
                app.metrics.add(
                    "sluice_tasks_finished_total",
                    vec![
                        ("pipeline", pipeline.clone()),
                        ("state", state.as_str().into()),
                    ],
                    1.0,
                );
                if trainings.contains(&task) {
                    app.metrics.add(
                        "sluice_model_trainings_total",
                        vec![
                            ("model", format!("{pipeline}.{task}")),
                            ("outcome", state.as_str().into()),
                        ],
                        1.0,
                    );
                }
                if let Some(elapsed) = elapsed {
                    app.metrics.observe(
                        "sluice_task_duration_seconds",
                        vec![("pipeline", pipeline.clone())],
                        TASK_SECONDS,
                        elapsed.as_secs_f64(),
                    );
                }
                if let (TaskState::Succeeded, Some((started, rows))) =
                    (state, progress.remove(&task))
                {
                    let secs = started.elapsed().as_secs_f64().max(1e-6);
                    app.metrics.set(
                        "sluice_embedding_rows_per_second",
                        vec![("pipeline", pipeline.clone()), ("task", task)],
                        rows as f64 / secs,
                    );
                }
            }
            Event::Progress { task, done, .. } => {
                progress.entry(task).or_insert((Instant::now(), 0)).1 = done;
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use sluice_op::Registry;
    use sluice_store::{RunRecord, SqlStore, StateStore, Write};
    use tokio_util::sync::CancellationToken;

    use super::*;
    use crate::Config;

    fn record(id: &str, state: RunState) -> RunRecord {
        RunRecord {
            id: id.into(),
            pipeline: "serial".into(),
            file: "serial.yaml".into(),
            params: Default::default(),
            state,
            trigger: "test".into(),
            started_at: 1,
            ended_at: None,
            pid: None,
            host: None,
            error: None,
        }
    }

    /// A run the store records as ended since it started here no longer counts, though its
    /// task here has not ended yet; one still running, not yet recorded, or ended before it
    /// was resumed here, does.
    #[tokio::test]
    async fn a_run_the_store_records_as_finished_is_not_going_on() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SqlStore::open_sqlite(&dir.path().join("state.db"))
            .await
            .expect("store");
        let store: Arc<dyn StateStore> = Arc::new(store);
        let config = Config {
            pipelines: dir.path().to_path_buf(),
            home: dir.path().to_path_buf(),
            bind: "127.0.0.1:0".parse().expect("address"),
            secure_cookies: false,
            registry: Arc::new(Registry::new(vec![])),
            observers: vec![],
            workers: None,
            queue_key: None,
            remote_warehouse: None,
        };
        let app = App::new(&config, store.clone(), CancellationToken::new());
        let since = 1_000;
        for id in ["done", "going", "unrecorded", "resumed"] {
            let active = Active {
                pipeline: "serial".into(),
                cancel: CancellationToken::new(),
                since,
            };
            assert!(app.runs.insert(id, active));
        }
        let ended = |id, state, at| RunRecord {
            ended_at: Some(at),
            ..record(id, state)
        };
        store
            .apply(&[
                Write::Run(ended("done", RunState::Succeeded, since + 1)),
                Write::Run(record("going", RunState::Running)),
                // Failed before this server resumed it; the engine has not recorded it again.
                Write::Run(ended("resumed", RunState::Failed, since - 1)),
            ])
            .await
            .expect("write");
        assert_eq!(app.runs.active_of("serial"), 4);
        assert_eq!(going_on(&app, "serial").await, 3);
        assert_eq!(going_on(&app, "other").await, 0);
    }
}
