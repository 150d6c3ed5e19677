//! Runs: the list, one run with its tasks and attempts, cancelling and resuming.

use axum::Json;
use axum::extract::{Extension, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use sluice_core::RunState;
use sluice_engine::RunOptions;
use sluice_store::{AttemptRecord, RunFilter, RunRecord, TaskRunRecord};

use crate::App;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorBody};

/// The id of a run, as a path parameter.
const RUN_ID: &str = "The run's id (`20261121-221500-a1b2c3d4`).";

/// Filters of `GET /api/runs`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RunsQuery {
    /// Only this pipeline's.
    pub pipeline: Option<String>,
    /// Only runs in this state.
    #[param(value_type = Option<RunState>)]
    pub state: Option<String>,
    /// At most this many (default 50).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<usize>,
}

/// `GET /api/runs`.
#[utoipa::path(get, path = "/api/runs", tag = "runs", params(RunsQuery), responses(
    (status = 200, description = "Runs, newest first.", body = Vec<RunRecord>),
    (status = 400, description = "An unknown state, or `limit` out of 1 to 1000.", body = ErrorBody),
))]
pub async fn runs(
    State(app): State<App>,
    Query(q): Query<RunsQuery>,
) -> ApiResult<Json<Vec<RunRecord>>> {
    let state = match q.state.as_deref() {
        Some(s) => Some(s.parse::<RunState>().map_err(|_| {
            ApiError::BadRequest(format!(
                "unknown run state `{s}`: use running, succeeded, failed or cancelled"
            ))
        })?),
        None => None,
    };
    let limit = q.limit.unwrap_or(50);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::BadRequest(format!(
            "`limit` must be between 1 and 1000, not {limit}"
        )));
    }
    let runs = app
        .store
        .runs(&RunFilter {
            pipeline: q.pipeline,
            state,
            limit,
        })
        .await?;
    Ok(Json(runs))
}

/// `GET /api/runs/{id}`: the run, its tasks (each not yet final with `why` it is not
/// running) and every attempt.
#[utoipa::path(get, path = "/api/runs/{id}", tag = "runs",
    params(("id" = String, Path, description = RUN_ID)),
    responses(
        (status = 200, description = "The run.", body = RunDetail),
        (status = 404, description = "No such run.", body = ErrorBody),
))]
pub async fn run(State(app): State<App>, Path(id): Path<String>) -> ApiResult<Json<RunDetail>> {
    let run = app
        .store
        .run(&id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no run `{id}`")))?;
    let tasks = app.store.task_runs(&id).await?;
    let attempts = app.store.attempts(&id, None).await?;
    let catalog = app.catalog();
    let pipeline = catalog.get(&run.pipeline).map(|l| &l.pipeline);
    let here = app.runs.active().contains_key(&run.id);
    let reasons = sluice_engine::why::waiting(pipeline, here, &run, &tasks, &attempts);
    drop(catalog);
    let tasks = tasks
        .into_iter()
        .map(|t| TaskOfRun {
            why: reasons.get(&t.task).cloned(),
            task: t,
        })
        .collect();
    Ok(Json(RunDetail {
        run,
        tasks,
        attempts,
    }))
}

/// A run with its tasks and every attempt.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RunDetail {
    /// The run.
    pub run: RunRecord,
    /// Its tasks, each with its current state.
    pub tasks: Vec<TaskOfRun>,
    /// Every attempt of every task, in order.
    pub attempts: Vec<AttemptRecord>,
}

/// A task of a run.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TaskOfRun {
    /// Its state in the run.
    #[serde(flatten)]
    pub task: TaskRunRecord,
    /// Why a task not yet final is not running (what it waits for, when it retries).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub why: Option<String>,
}

/// The answer of a cancel.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Cancelling {
    /// The run.
    pub run_id: String,
    /// Always true: the run is stopping (its state becomes `cancelled` once its tasks stop).
    pub cancelling: bool,
}

/// `POST /api/runs/{id}/cancel`.
#[utoipa::path(post, path = "/api/runs/{id}/cancel", tag = "runs",
    params(("id" = String, Path, description = RUN_ID)),
    responses(
        (status = 202, description = "The run is stopping.", body = Cancelling),
        (status = 404, description = "No such run.", body = ErrorBody),
        (status = 409, description = "The run is over, or going on in another process.", body = ErrorBody),
))]
pub async fn cancel(State(app): State<App>, Path(id): Path<String>) -> ApiResult<Response> {
    if app.runs.cancel(&id) {
        let answer = Cancelling {
            run_id: id,
            cancelling: true,
        };
        return Ok((StatusCode::ACCEPTED, Json(answer)).into_response());
    }
    match app.store.run(&id).await? {
        None => Err(ApiError::NotFound(format!("no run `{id}`"))),
        Some(r) if r.state == RunState::Running => Err(ApiError::Conflict(format!(
            "run {id} is not going on in this server (pid {} on {}); stop it there",
            r.pid.unwrap_or_default(),
            r.host.unwrap_or_default()
        ))),
        Some(r) => Err(ApiError::Conflict(format!(
            "run {id} is not going on: it {}",
            r.state.as_str()
        ))),
    }
}

/// `POST /api/runs/{id}/resume`: the run again with its parameters; only what did not
/// succeed runs.
#[utoipa::path(post, path = "/api/runs/{id}/resume", tag = "runs",
    params(("id" = String, Path, description = RUN_ID)),
    responses(
        (status = 202, description = "The run goes on.", body = super::pipelines::Started),
        (status = 400, description = "Its pipeline's file no longer loads.", body = ErrorBody),
        (status = 404, description = "No such run, or its pipeline is not in the folder.", body = ErrorBody),
        (status = 409, description = "The run succeeded, or is still going on.", body = ErrorBody),
))]
pub async fn resume(
    State(app): State<App>,
    Path(id): Path<String>,
    Extension(caller): Extension<Caller>,
) -> ApiResult<Response> {
    let run = app
        .store
        .run(&id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no run `{id}`")))?;
    if run.state == RunState::Succeeded {
        return Err(ApiError::Conflict(format!(
            "run {id} succeeded: there is nothing to resume"
        )));
    }
    let file = app
        .catalog()
        .entry(&run.pipeline)
        .map(|e| e.file.clone())
        .ok_or_else(|| {
            ApiError::NotFound(format!(
                "pipeline `{}` of run {id} is not in this server's folder",
                run.pipeline
            ))
        })?;
    // The run's parameters were checked when it started (a resume request sets none); the
    // stored ones include the file's defaults, which an API caller does not set.
    let opts = RunOptions {
        resume: Some(id),
        trigger: format!("api:{}", caller.user),
        ..RunOptions::default()
    };
    super::pipelines::load_and_start(&app, file, run.params.into_iter().collect(), opts, false)
        .await
}
