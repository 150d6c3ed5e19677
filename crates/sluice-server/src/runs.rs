//! The runs this server executes: started by the scheduler or the API on the engine, each in
//! its own tokio task, cancellable, counted in the metrics.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sluice_core::{Pipeline, RunState, TaskState};
use sluice_engine::{Event, RunOptions, new_run_id};
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
