//! The pipelines of the server's folder, their grid of runs, triggers and backfills.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Extension, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use sluice_core::{RunState, TaskState};
use sluice_engine::RunOptions;
use sluice_store::{RunFilter, RunRecord, SlotRecord, now_micros};

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::{App, catalog, runs};

/// A pipeline of the server's folder. The fields after `last_run` are there when the file is
/// valid.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Pipeline {
    /// Its name (the file's stem when the file is invalid).
    pub name: String,
    /// Its file.
    pub file: String,
    /// Whether the file loads.
    pub valid: bool,
    /// Every problem of the file, when it does not load.
    pub errors: Option<String>,
    /// Its latest run.
    pub last_run: Option<RunRecord>,
    /// What it does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Its cron schedule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<String>,
    /// The schedule's time zone (`UTC` by default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    /// What the scheduler does with missed slots: `none`, `latest` or `all`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub catchup: Option<String>,
    /// Runs going on at once at most.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_active_runs: Option<usize>,
    /// The datasets (`pipeline.task`) whose new versions start it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_new_version: Option<Vec<String>>,
    /// Its runs going on in this server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_runs: Option<usize>,
    /// Its next scheduled slot (µs since the Unix epoch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_run: Option<i64>,
    /// Its parameters' default values; secret ones are left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub params: Option<BTreeMap<String, String>>,
    /// The parameters a trigger may set, with what a value must look like.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settable_params: Option<BTreeMap<String, SettableParam>>,
    /// Its tasks, in the file's order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tasks: Option<Vec<TaskSummary>>,
}

/// A parameter an API caller may set.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SettableParam {
    /// Its default (none shown for a secret one).
    pub default: Option<String>,
    /// `string`, `integer`, `number`, `boolean`, `date` or `datetime`.
    #[serde(rename = "type")]
    pub kind: String,
    /// A regular expression the whole value must match.
    pub pattern: Option<String>,
    /// What it is for.
    pub description: Option<String>,
    /// Never shown, never stored with the run.
    pub secret: bool,
}

/// A task of a pipeline.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TaskSummary {
    /// Its name.
    pub name: String,
    /// The tasks it waits for.
    pub after: Vec<String>,
    /// What it does.
    pub description: Option<String>,
}

/// One pipeline, with the recent slots of its schedule.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PipelineDetail {
    /// The pipeline.
    #[serde(flatten)]
    pub pipeline: Pipeline,
    /// What the scheduler did with its latest slots, newest first.
    pub slots: Vec<SlotRecord>,
}

/// The pipeline of `entry` as the API shows it, with its `active_runs` ([`going_on`]).
///
/// [`going_on`]: crate::runs::going_on
fn pipeline_of(
    entry: &catalog::Entry,
    last_run: Option<RunRecord>,
    active_runs: usize,
) -> Pipeline {
    let mut v = Pipeline {
        name: entry.name(),
        file: entry.file.display().to_string(),
        valid: entry.loaded.is_ok(),
        errors: entry
            .loaded
            .as_ref()
            .err()
            .map(|e| sluice_op::redact_urls(e)),
        last_run,
        description: None,
        schedule: None,
        timezone: None,
        catchup: None,
        max_active_runs: None,
        on_new_version: None,
        active_runs: None,
        next_run: None,
        params: None,
        settable_params: None,
        tasks: None,
    };
    let Ok(l) = &entry.loaded else {
        return v;
    };
    let p = &l.pipeline;
    v.description = p.description.clone();
    v.schedule = p.schedule.clone();
    v.timezone = Some(p.timezone.clone().unwrap_or_else(|| "UTC".into()));
    v.catchup = Some(p.catchup.name().into());
    v.max_active_runs = Some(p.max_active_runs);
    v.on_new_version = Some(p.on_new_version.clone());
    v.active_runs = Some(active_runs);
    v.next_run = l.schedule.as_ref().and_then(|s| s.next_after(now_micros()));
    // Secret parameters are never shown, not even their names' values; the ones an API
    // caller may set come with what a value must look like (the trigger form).
    v.params = Some(
        p.params
            .iter()
            .filter(|(k, _)| !p.secret_params.contains(*k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    );
    v.settable_params = Some(
        p.param_specs
            .iter()
            .filter(|(_, s)| s.api)
            .map(|(k, s)| {
                let secret = p.secret_params.contains(k);
                let param = SettableParam {
                    default: if secret {
                        None
                    } else {
                        p.params.get(k).cloned()
                    },
                    kind: s.kind.name().into(),
                    pattern: s.pattern.clone(),
                    description: s.description.clone(),
                    secret,
                };
                (k.clone(), param)
            })
            .collect(),
    );
    v.tasks = Some(
        p.tasks
            .iter()
            .map(|t| TaskSummary {
                name: t.name.clone(),
                after: t.deps.iter().map(|&d| p.tasks[d].name.clone()).collect(),
                description: t.description.clone(),
            })
            .collect(),
    );
    v
}

async fn last_run(app: &App, pipeline: &str) -> ApiResult<Option<RunRecord>> {
    let runs = app
        .store
        .runs(&RunFilter {
            pipeline: Some(pipeline.into()),
            limit: 1,
            ..RunFilter::default()
        })
        .await?;
    Ok(runs.into_iter().next())
}

/// `GET /api/pipelines`.
#[utoipa::path(get, path = "/api/pipelines", tag = "pipelines", responses(
    (status = 200, description = "Every pipeline of the folder, valid or not, by name.", body = Vec<Pipeline>),
))]
pub async fn pipelines(State(app): State<App>) -> ApiResult<Json<Vec<Pipeline>>> {
    let catalog = app.catalog();
    let mut out = Vec::new();
    for entry in catalog.entries.values() {
        let last = last_run(&app, &entry.name()).await?;
        let active = crate::runs::going_on(&app, &entry.name()).await;
        out.push(pipeline_of(entry, last, active));
    }
    Ok(Json(out))
}

/// `GET /api/pipelines/{name}`: the pipeline with its recent schedule slots.
#[utoipa::path(get, path = "/api/pipelines/{name}", tag = "pipelines",
    params(("name" = String, Path, description = "The pipeline's name.")),
    responses(
        (status = 200, description = "The pipeline.", body = PipelineDetail),
        (status = 404, description = "No such pipeline.", body = ErrorBody),
))]
pub async fn pipeline(
    State(app): State<App>,
    Path(name): Path<String>,
) -> ApiResult<Json<PipelineDetail>> {
    let catalog = app.catalog();
    let entry = catalog
        .entry(&name)
        .ok_or_else(|| ApiError::NotFound(format!("no pipeline `{name}`")))?;
    let active = crate::runs::going_on(&app, &name).await;
    let pipeline = pipeline_of(entry, last_run(&app, &name).await?, active);
    let slots = app.store.slots(&name, 50).await?;
    Ok(Json(PipelineDetail { pipeline, slots }))
}

/// The answer of a trigger or a resume: the run started.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Started {
    /// The run's id.
    pub run_id: String,
}

/// What a trigger may set.
#[derive(Debug, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Trigger {
    /// Parameter overrides.
    #[serde(default)]
    pub params: BTreeMap<String, String>,
    /// Only these tasks and what they wait for.
    #[serde(default)]
    pub tasks: Vec<String>,
    /// Run every task even if cached.
    #[serde(default)]
    pub force: bool,
}

/// `POST /api/pipelines/{name}/runs`: starts a run; 202 with its id.
#[utoipa::path(post, path = "/api/pipelines/{name}/runs", tag = "pipelines",
    params(("name" = String, Path, description = "The pipeline's name.")),
    request_body(content = Option<Trigger>, description = "What to run; no body runs every task with the file's parameters."),
    responses(
        (status = 202, description = "The run started.", body = Started),
        (status = 400, description = "A parameter or task the pipeline refuses, or a malformed body.", body = ErrorBody),
        (status = 404, description = "No such pipeline.", body = ErrorBody),
        (status = 409, description = "The file has problems, or `max_active_runs` runs are going on.", body = ErrorBody),
))]
pub async fn trigger(
    State(app): State<App>,
    Path(name): Path<String>,
    Extension(caller): Extension<Caller>,
    body: Option<Json<Trigger>>,
) -> ApiResult<Response> {
    let body = body.map(|b| b.0).unwrap_or_default();
    let (file, max_active) = {
        let catalog = app.catalog();
        let entry = catalog
            .entry(&name)
            .ok_or_else(|| ApiError::NotFound(format!("no pipeline `{name}`")))?;
        match &entry.loaded {
            Ok(l) => (entry.file.clone(), l.pipeline.max_active_runs),
            Err(e) => {
                return Err(ApiError::Conflict(format!(
                    "pipeline `{name}` has problems; fix its file first:\n{e}"
                )));
            }
        }
    };
    // A fast refusal without loading the file; the state store's `start_run` is what
    // enforces the limit, for every way a run starts.
    if crate::runs::going_on(&app, &name).await >= max_active {
        return Err(ApiError::Conflict(format!(
            "pipeline `{name}` already has {max_active} run(s) going on (max_active_runs {max_active})"
        )));
    }
    let opts = RunOptions {
        tasks: body.tasks,
        force: body.force,
        trigger: format!("api:{}", caller.user),
        ..RunOptions::default()
    };
    load_and_start(&app, file, body.params.into_iter().collect(), opts, true).await
}

/// Loads `file` with `params` (a problem is a 400 naming it) and starts the run: 202 with
/// [`Started`].
pub(crate) async fn load_and_start(
    app: &App,
    file: std::path::PathBuf,
    params: Vec<(String, String)>,
    opts: RunOptions,
    from_api: bool,
) -> ApiResult<Response> {
    let registry = app.registry.clone();
    let pipeline = tokio::task::spawn_blocking(move || {
        catalog::load_params(&file, &params, &registry, from_api)
    })
    .await
    .map_err(|e| ApiError::Internal(e.to_string()))?
    .map_err(ApiError::BadRequest)?;
    let id = runs::start(app, pipeline, opts).await?;
    Ok((StatusCode::ACCEPTED, Json(Started { run_id: id })).into_response())
}

/// A range of slots to run again.
#[derive(Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Backfill {
    /// The first day (`2026-11-01`, in the schedule's time zone) or time (RFC 3339).
    pub from: String,
    /// The last day or time, included.
    pub to: String,
}

/// `POST /api/pipelines/{name}/backfill`: claims a run for every slot of the pipeline's
/// schedule in the range (each slot once, even when asked twice); the server starts them
/// oldest first within `max_active_runs`, with the slot's `slot`/`slot_date` parameters.
#[utoipa::path(post, path = "/api/pipelines/{name}/backfill", tag = "pipelines",
    params(("name" = String, Path, description = "The pipeline's name.")),
    request_body = Backfill,
    responses(
        (status = 202, description = "The slots claimed; their runs start oldest first.", body = Backfilled),
        (status = 400, description = "The pipeline has no schedule, or the range is not one.", body = ErrorBody),
        (status = 404, description = "No valid pipeline of this name.", body = ErrorBody),
))]
pub async fn backfill(
    State(app): State<App>,
    Path(name): Path<String>,
    Json(body): Json<Backfill>,
) -> ApiResult<Response> {
    let (pipeline, schedule) = {
        let catalog = app.catalog();
        let loaded = catalog.get(&name).ok_or_else(|| {
            ApiError::NotFound(format!(
                "no valid pipeline `{name}` in this server's folder"
            ))
        })?;
        let schedule = loaded.schedule.clone().ok_or_else(|| {
            ApiError::BadRequest(format!(
                "pipeline `{name}` has no schedule: a backfill runs the slots of a schedule"
            ))
        })?;
        (loaded.pipeline.clone(), schedule)
    };
    let (from, to, slots) = schedule
        .backfill_range(&body.from, &body.to, ("from", "to"))
        .map_err(ApiError::BadRequest)?;
    let claimed = sluice_engine::schedule::Scheduler::new(app.store.clone())
        .backfill(&pipeline, &schedule, from, to, now_micros())
        .await?;
    if let Ok(mut b) = app.backfills.lock() {
        b.insert(name.clone());
    }
    let runs = claimed
        .iter()
        .map(|d| BackfillRun {
            slot: d.slot,
            run_id: d.run_id.clone(),
        })
        .collect();
    let answer = Backfilled {
        pipeline: name,
        slots,
        claimed: claimed.len(),
        already_claimed: slots - claimed.len(),
        runs,
    };
    Ok((StatusCode::ACCEPTED, Json(answer)).into_response())
}

/// What a backfill claimed.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Backfilled {
    /// The pipeline.
    pub pipeline: String,
    /// Slots of the schedule in the range.
    pub slots: usize,
    /// Slots claimed by this request.
    pub claimed: usize,
    /// Slots an earlier backfill had claimed.
    pub already_claimed: usize,
    /// The runs claimed, oldest first.
    pub runs: Vec<BackfillRun>,
}

/// A run a backfill claimed.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct BackfillRun {
    /// Its slot (µs since the Unix epoch).
    pub slot: i64,
    /// The id its run has.
    pub run_id: String,
}

/// Options of the grid.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct GridQuery {
    /// Runs shown (default 25; taken into 1 to 200).
    pub limit: Option<usize>,
}

/// `GET /api/pipelines/{name}/grid`: the latest runs, oldest first, and each task's state in
/// each (Airflow's grid).
#[utoipa::path(get, path = "/api/pipelines/{name}/grid", tag = "pipelines",
    params(("name" = String, Path, description = "The pipeline's name."), GridQuery),
    responses(
        (status = 200, description = "The grid.", body = Grid),
        (status = 400, description = "`limit` is not a number.", body = ErrorBody),
        (status = 404, description = "No such pipeline and no runs of one.", body = ErrorBody),
))]
pub async fn grid(
    State(app): State<App>,
    Path(name): Path<String>,
    Query(q): Query<GridQuery>,
) -> ApiResult<Json<Grid>> {
    let tasks: Vec<String> = app
        .catalog()
        .get(&name)
        .map(|l| l.pipeline.tasks.iter().map(|t| t.name.clone()).collect())
        .unwrap_or_default();
    let mut runs = app
        .store
        .runs(&RunFilter {
            pipeline: Some(name.clone()),
            limit: q.limit.unwrap_or(25).clamp(1, 200),
            ..RunFilter::default()
        })
        .await?;
    if tasks.is_empty() && runs.is_empty() {
        return Err(ApiError::NotFound(format!("no pipeline `{name}`")));
    }
    runs.reverse();
    let mut out = Vec::with_capacity(runs.len());
    for r in runs {
        let tasks: BTreeMap<String, TaskState> = app
            .store
            .task_runs(&r.id)
            .await?
            .into_iter()
            .map(|t| (t.task, t.state))
            .collect();
        out.push(GridRun {
            id: r.id,
            state: r.state,
            trigger: r.trigger,
            started_at: r.started_at,
            ended_at: r.ended_at,
            tasks,
        });
    }
    Ok(Json(Grid { tasks, runs: out }))
}

/// The latest runs of a pipeline and each task's state in each (Airflow's grid).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Grid {
    /// The pipeline's tasks, in its file's order.
    pub tasks: Vec<String>,
    /// Its latest runs, oldest first.
    pub runs: Vec<GridRun>,
}

/// A column of the grid.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct GridRun {
    /// The run's id.
    pub id: String,
    /// Its state.
    pub state: RunState,
    /// What started it (`cli`, `schedule`, `api:<user>`…).
    pub trigger: String,
    /// When it started (µs since the Unix epoch).
    pub started_at: i64,
    /// When it ended.
    pub ended_at: Option<i64>,
    /// Each task's state in it, by task.
    pub tasks: BTreeMap<String, TaskState>,
}
