//! The handlers of the REST API: they read the store, the catalog and the runs going on,
//! and call the engine; errors become statuses in [`crate::error`].

use std::collections::BTreeMap;
use std::net::SocketAddr;

use axum::Json;
use axum::body::Body;
use axum::extract::{ConnectInfo, Extension, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use sluice_core::RunState;
use sluice_engine::RunOptions;
use sluice_store::{RunFilter, Write, now_micros};

use crate::auth::{self, Caller, Role};
use crate::catalog;
use crate::error::{ApiError, ApiResult};
use crate::routes::ROUTES;
use crate::{App, runs};

/// `GET /health`: `ok`, or 503 `unavailable` when the state store does not answer. It
/// tells an anonymous caller nothing more (the cause goes to the server's log).
pub async fn health(State(app): State<App>) -> Response {
    match app
        .store
        .runs(&RunFilter {
            limit: 1,
            ..RunFilter::default()
        })
        .await
    {
        Ok(_) => Json(json!({ "status": "ok" })).into_response(),
        Err(e) => {
            tracing::error!("health check: {}", sluice_op::redact_urls(&e.to_string()));
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({ "status": "unavailable" })),
            )
                .into_response()
        }
    }
}

/// A login.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Login {
    /// User name.
    pub user: String,
    /// Password.
    pub password: String,
}

/// A hash nobody's password matches, verified for unknown names so that the answer takes as
/// long as for a known one.
const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c2x1aWNlLWR1bW15$PfZ6tcDLnAvaSxS9PeN2pOuqbYEFcJjC1C0EFX5TM6U";

/// The address a request comes from: the peer's, or for a peer on this machine (a reverse
/// proxy) the last address of `X-Forwarded-For`.
fn client_address(peer: SocketAddr, headers: &HeaderMap) -> std::net::IpAddr {
    if peer.ip().is_loopback()
        && let Some(ip) = headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.rsplit(',').next())
            .and_then(|v| v.trim().parse().ok())
    {
        return ip;
    }
    peer.ip()
}

/// `POST /api/login`: a session (cookie and bearer token) for a user and password. The
/// fifth failure in a row for a name from one address locks that pair for 30 s (doubling
/// after), the twentieth from one address locks the address; at most
/// [`auth::MAX_HASHES`] passwords are checked at once (429 with `Retry-After` beyond).
pub async fn login(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Json(body): Json<Login>,
) -> ApiResult<Response> {
    let from = client_address(peer, &headers);
    let wrong = || ApiError::Unauthenticated("wrong user name or password".into());
    // No account has such a name: nothing to look up, hash or remember.
    if !auth::valid_user_name(&body.user) {
        tracing::warn!(
            "failed login for invalid name `{}` from {from}",
            auth::printable(&body.user)
        );
        return Err(wrong());
    }
    if body.password.len() > auth::MAX_PASSWORD_BYTES {
        return Err(ApiError::BadRequest(format!(
            "the password is longer than {} bytes",
            auth::MAX_PASSWORD_BYTES
        )));
    }
    app.throttle.check(&body.user, from)?;
    let Ok(permit) = app.hashing.clone().try_acquire_owned() else {
        return Err(ApiError::Busy {
            what: "too many logins at once".into(),
            retry_after: 1,
        });
    };
    let user = app.store.user(&body.user).await?;
    let hash = user
        .as_ref()
        .filter(|u| u.disabled_at.is_none())
        .map(|u| u.hash.clone())
        .unwrap_or_else(|| DUMMY_HASH.into());
    let password = body.password.clone();
    let ok = tokio::task::spawn_blocking(move || {
        let ok = auth::verify_password(&password, &hash);
        drop(permit);
        ok
    })
    .await
    .unwrap_or(false);
    let Some(user) = user.filter(|u| ok && u.disabled_at.is_none()) else {
        app.throttle.failed(&body.user, from);
        tracing::warn!(
            "failed login for `{}` from {from}",
            auth::printable(&body.user)
        );
        return Err(wrong());
    };
    app.throttle.succeeded(&body.user, from);
    // Sessions that ended are forgotten as new ones begin.
    app.store
        .apply(&[Write::PurgeSessions {
            before: now_micros() - 86_400_000_000,
        }])
        .await?;
    let role = Role::from_name(&user.role).unwrap_or(Role::Viewer);
    let agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("browser");
    let label = format!(
        "login from {from} ({})",
        agent.chars().take(80).collect::<String>()
    );
    let expires = now_micros() + auth::SESSION_HOURS * 3_600_000_000;
    let (record, secret) = auth::new_token("session", &user.name, &label, role, Some(expires));
    app.store.apply(&[Write::Token(record)]).await?;
    let mut cookie = format!(
        "{}={secret}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}",
        auth::SESSION_COOKIE,
        auth::SESSION_HOURS * 3600
    );
    let behind_tls = headers
        .get("x-forwarded-proto")
        .is_some_and(|v| v.as_bytes() == b"https");
    if app.secure_cookies || behind_tls {
        cookie.push_str("; Secure");
    }
    let mut response = Json(json!({
        "user": user.name,
        "role": role,
        "token": secret,
        "csrf": auth::csrf_token(&secret),
        "expires_at": expires,
    }))
    .into_response();
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, v);
    }
    Ok(response)
}

/// `POST /api/logout`: revokes the session used and clears the cookie.
pub async fn logout(
    State(app): State<App>,
    Extension(caller): Extension<Caller>,
) -> ApiResult<Response> {
    let tokens = app.store.tokens(Some(&caller.user)).await?;
    if let Some(t) = tokens
        .into_iter()
        .find(|t| t.id == caller.token_id && t.kind == "session")
    {
        app.store
            .apply(&[Write::Token(sluice_store::TokenRecord {
                revoked_at: Some(now_micros()),
                ..t
            })])
            .await?;
    }
    let mut response = StatusCode::NO_CONTENT.into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static("sluice_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"),
    );
    Ok(response)
}

/// `GET /api/me`.
pub async fn me(Extension(caller): Extension<Caller>) -> Json<Value> {
    Json(json!({
        "user": caller.user,
        "role": caller.role,
        "token_id": caller.token_id,
        "csrf": caller.csrf,
    }))
}

/// `GET /api/openapi.json`: the routes of [`ROUTES`] as an OpenAPI 3.1 document.
pub async fn openapi() -> Json<Value> {
    Json(openapi_document())
}

/// The OpenAPI document of [`ROUTES`].
pub fn openapi_document() -> Value {
    let mut paths: BTreeMap<String, serde_json::Map<String, Value>> = BTreeMap::new();
    for r in ROUTES {
        let params: Vec<Value> = r
            .path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{')?.strip_suffix('}'))
            .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}))
            .collect();
        let mut op = json!({
            "summary": r.summary,
            "x-sluice-role": r.role,
            "parameters": params,
            "responses": {
                "200": {"description": "success"},
                "401": {"description": "no valid credentials"},
                "403": {"description": "the role is not enough, or a browser session sent no CSRF token"},
            },
        });
        if r.role == Role::Public {
            op["security"] = json!([]);
        }
        paths
            .entry(r.path.to_string())
            .or_default()
            .insert(r.method.as_str().to_lowercase(), op);
    }
    json!({
        "openapi": "3.1.0",
        "info": {"title": "sluice", "version": env!("CARGO_PKG_VERSION")},
        "components": {"securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer"},
            "session": {"type": "apiKey", "in": "cookie", "name": auth::SESSION_COOKIE},
        }},
        "security": [{"bearer": []}, {"session": []}],
        "paths": paths,
    })
}

/// `GET /metrics`.
pub async fn metrics(State(app): State<App>) -> Response {
    let catalog = app.catalog();
    let valid = catalog
        .entries
        .values()
        .filter(|e| e.loaded.is_ok())
        .count();
    let mut gauges = vec![
        (
            "sluice_pipelines",
            vec![("validity", "valid".into())],
            valid as f64,
        ),
        (
            "sluice_pipelines",
            vec![("validity", "invalid".into())],
            (catalog.entries.len() - valid) as f64,
        ),
    ];
    let mut active: BTreeMap<String, f64> = catalog
        .entries
        .values()
        .filter_map(|e| e.loaded.as_ref().ok())
        .map(|l| (l.pipeline.name.clone(), 0.0))
        .collect();
    for run in app.runs.active().values() {
        *active.entry(run.pipeline.clone()).or_default() += 1.0;
    }
    for (pipeline, n) in active {
        gauges.push(("sluice_runs_active", vec![("pipeline", pipeline)], n));
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        app.metrics.render(&gauges),
    )
        .into_response()
}

fn pipeline_json(app: &App, entry: &catalog::Entry, last: Option<Value>) -> Value {
    let mut v = json!({
        "name": entry.name(),
        "file": entry.file.display().to_string(),
        "valid": entry.loaded.is_ok(),
        "errors": entry.loaded.as_ref().err().map(|e| sluice_op::redact_urls(e)),
        "last_run": last,
    });
    if let Ok(l) = &entry.loaded {
        let p = &l.pipeline;
        v["description"] = json!(p.description);
        v["schedule"] = json!(p.schedule);
        v["timezone"] = json!(p.timezone.as_deref().unwrap_or("UTC"));
        v["catchup"] = json!(p.catchup.name());
        v["max_active_runs"] = json!(p.max_active_runs);
        v["on_new_version"] = json!(p.on_new_version);
        v["active_runs"] = json!(app.runs.active_of(&p.name));
        v["next_run"] = json!(l.schedule.as_ref().and_then(|s| s.next_after(now_micros())));
        // Secret parameters are never shown, not even their names' values; the ones an API
        // caller may set come with what a value must look like (the trigger form).
        let shown: BTreeMap<&String, &String> = p
            .params
            .iter()
            .filter(|(k, _)| !p.secret_params.contains(*k))
            .collect();
        v["params"] = json!(shown);
        let settable: BTreeMap<&String, Value> = p
            .param_specs
            .iter()
            .filter(|(_, s)| s.api)
            .map(|(k, s)| {
                let secret = p.secret_params.contains(k);
                (
                    k,
                    json!({
                        "default": if secret { None } else { p.params.get(k) },
                        "type": s.kind.name(),
                        "pattern": s.pattern,
                        "description": s.description,
                        "secret": secret,
                    }),
                )
            })
            .collect();
        v["settable_params"] = json!(settable);
        v["tasks"] = p
            .tasks
            .iter()
            .map(|t| {
                json!({
                    "name": t.name,
                    "after": t.deps.iter().map(|&d| p.tasks[d].name.clone()).collect::<Vec<_>>(),
                    "description": t.description,
                })
            })
            .collect();
    }
    v
}

async fn last_run(app: &App, pipeline: &str) -> ApiResult<Option<Value>> {
    let runs = app
        .store
        .runs(&RunFilter {
            pipeline: Some(pipeline.into()),
            limit: 1,
            ..RunFilter::default()
        })
        .await?;
    Ok(runs.first().map(|r| json!(r)))
}

/// `GET /api/pipelines`.
pub async fn pipelines(State(app): State<App>) -> ApiResult<Json<Value>> {
    let catalog = app.catalog();
    let mut out = Vec::new();
    for entry in catalog.entries.values() {
        let last = last_run(&app, &entry.name()).await?;
        out.push(pipeline_json(&app, entry, last));
    }
    Ok(Json(Value::Array(out)))
}

/// `GET /api/pipelines/{name}`: the pipeline with its recent schedule slots.
pub async fn pipeline(State(app): State<App>, Path(name): Path<String>) -> ApiResult<Json<Value>> {
    let catalog = app.catalog();
    let entry = catalog
        .entry(&name)
        .ok_or_else(|| ApiError::NotFound(format!("no pipeline `{name}`")))?;
    let mut v = pipeline_json(&app, entry, last_run(&app, &name).await?);
    v["slots"] = json!(app.store.slots(&name, 50).await?);
    Ok(Json(v))
}

/// What a trigger may set.
#[derive(Debug, Default, Deserialize)]
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
    if app.runs.active_of(&name) >= max_active {
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

/// Loads `file` with `params` (a problem is a 400 naming it) and starts the run: `202
/// {"run_id"}`.
async fn load_and_start(
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
    Ok((StatusCode::ACCEPTED, Json(json!({ "run_id": id }))).into_response())
}

/// A range of slots to run again.
#[derive(Debug, Deserialize)]
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
    let runs: Vec<Value> = claimed
        .iter()
        .map(|d| json!({ "slot": d.slot, "run_id": d.run_id }))
        .collect();
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({
            "pipeline": name,
            "slots": slots,
            "claimed": claimed.len(),
            "already_claimed": slots - claimed.len(),
            "runs": runs,
        })),
    )
        .into_response())
}

/// Filters of `GET /api/runs`.
#[derive(Debug, Deserialize)]
pub struct RunsQuery {
    /// Only this pipeline's.
    pub pipeline: Option<String>,
    /// Only runs in this state.
    pub state: Option<String>,
    /// At most this many (default 50).
    pub limit: Option<usize>,
}

/// `GET /api/runs`.
pub async fn runs(State(app): State<App>, Query(q): Query<RunsQuery>) -> ApiResult<Json<Value>> {
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
    Ok(Json(json!(runs)))
}

/// `GET /api/runs/{id}`: the run, its tasks (each not yet final with `why` it is not
/// running) and every attempt.
pub async fn run(State(app): State<App>, Path(id): Path<String>) -> ApiResult<Json<Value>> {
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
    let tasks: Vec<Value> = tasks
        .iter()
        .map(|t| {
            let mut v = json!(t);
            if let Some(w) = reasons.get(&t.task) {
                v["why"] = json!(w);
            }
            v
        })
        .collect();
    Ok(Json(
        json!({ "run": run, "tasks": tasks, "attempts": attempts }),
    ))
}

/// Options of the grid.
#[derive(Debug, Deserialize)]
pub struct GridQuery {
    /// Runs shown (default 25, at most 200).
    pub limit: Option<usize>,
}

/// `GET /api/pipelines/{name}/grid`: the latest runs, oldest first, and each task's state in
/// each (Airflow's grid).
pub async fn grid(
    State(app): State<App>,
    Path(name): Path<String>,
    Query(q): Query<GridQuery>,
) -> ApiResult<Json<Value>> {
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
        let states: BTreeMap<String, &'static str> = app
            .store
            .task_runs(&r.id)
            .await?
            .into_iter()
            .map(|t| (t.task, t.state.as_str()))
            .collect();
        out.push(json!({
            "id": r.id,
            "state": r.state.as_str(),
            "trigger": r.trigger,
            "started_at": r.started_at,
            "ended_at": r.ended_at,
            "tasks": states,
        }));
    }
    Ok(Json(json!({ "tasks": tasks, "runs": out })))
}

/// `POST /api/runs/{id}/cancel`.
pub async fn cancel(State(app): State<App>, Path(id): Path<String>) -> ApiResult<Response> {
    if app.runs.cancel(&id) {
        return Ok((
            StatusCode::ACCEPTED,
            Json(json!({ "run_id": id, "cancelling": true })),
        )
            .into_response());
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
    load_and_start(&app, file, run.params.into_iter().collect(), opts, false).await
}

/// Options of the logs route.
#[derive(Debug, Deserialize)]
pub struct LogsQuery {
    /// The attempt (default: the last).
    pub attempt: Option<u32>,
    /// Stream the log until the attempt ends.
    #[serde(default)]
    pub follow: bool,
    /// The first byte to send (default: the last [`LOG_WINDOW`] bytes of the log).
    pub offset: Option<u64>,
    /// Bytes to send at most (default and limit [`LOG_WINDOW`]); with `follow`, the bytes
    /// sent before the stream goes on with what is appended.
    pub max_bytes: Option<u64>,
}

/// The most of a log one answer sends (follow mode streams the rest as it is written).
pub const LOG_WINDOW: u64 = 1 << 20;

/// Reads at most `len` bytes of `path` from `offset`, in one bounded buffer.
async fn read_window(path: &std::path::Path, offset: u64, len: u64) -> std::io::Result<Vec<u8>> {
    use tokio::io::{AsyncReadExt, AsyncSeekExt};
    let mut f = tokio::fs::File::open(path).await?;
    f.seek(std::io::SeekFrom::Start(offset)).await?;
    let mut buf = Vec::with_capacity(len.min(LOG_WINDOW) as usize);
    f.take(len).read_to_end(&mut buf).await?;
    Ok(buf)
}

/// `GET /api/runs/{id}/tasks/{task}/logs`: the attempt's output, as text; with
/// `follow=true`, streamed as it is written until the attempt ends.
pub async fn logs(
    State(app): State<App>,
    Path((id, task)): Path<(String, String)>,
    Query(q): Query<LogsQuery>,
) -> ApiResult<Response> {
    let attempts = app.store.attempts(&id, Some(&task)).await?;
    let chosen = match q.attempt {
        Some(n) => attempts.iter().find(|a| a.attempt == n),
        None => attempts.last(),
    }
    .cloned()
    .ok_or_else(|| {
        ApiError::NotFound(format!(
            "task `{task}` of run {id} has no attempt{}",
            q.attempt.map(|n| format!(" {n}")).unwrap_or_default()
        ))
    })?;
    let text = |size: u64, offset: u64| {
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            ),
            (
                header::HeaderName::from_static("x-log-size"),
                HeaderValue::from(size),
            ),
            (
                header::HeaderName::from_static("x-log-offset"),
                HeaderValue::from(offset),
            ),
        ]
    };
    let Some(path) = chosen.log_path.clone().map(std::path::PathBuf::from) else {
        return Ok((text(0, 0), Vec::new()).into_response());
    };
    let size = tokio::fs::metadata(&path).await.map_or(0, |m| m.len());
    let window = q.max_bytes.unwrap_or(LOG_WINDOW).clamp(1, LOG_WINDOW);
    let start = q
        .offset
        .unwrap_or_else(|| size.saturating_sub(window))
        .min(size);
    let first = read_window(&path, start, window).await.unwrap_or_default();
    let headers = text(size, start);
    if !q.follow || chosen.state.is_final() {
        return Ok((headers, first).into_response());
    }
    // Follow: the window, then what the file gains until the attempt is final, read from
    // where the last read stopped in bounded pieces.
    let store = app.store.clone();
    let n = chosen.attempt;
    let offset = start + first.len() as u64;
    let stream = futures_util::stream::unfold(
        (Some(first), offset, false),
        move |(first, offset, done)| {
            let (store, path, id, task) = (store.clone(), path.clone(), id.clone(), task.clone());
            async move {
                if let Some(first) = first {
                    return Some((Ok::<_, std::io::Error>(first), (None, offset, false)));
                }
                if done {
                    return None;
                }
                loop {
                    let finished = store
                        .attempts(&id, Some(&task))
                        .await
                        .map(|a| {
                            a.iter()
                                .find(|a| a.attempt == n)
                                .is_none_or(|a| a.state.is_final())
                        })
                        .unwrap_or(true);
                    let new = read_window(&path, offset, 64 * 1024)
                        .await
                        .unwrap_or_default();
                    if !new.is_empty() {
                        let next = offset + new.len() as u64;
                        return Some((Ok(new), (None, next, false)));
                    }
                    if finished {
                        return None;
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(250)).await;
                }
            }
        },
    );
    Ok((headers, Body::from_stream(stream)).into_response())
}

/// `GET /api/datasets`.
pub async fn datasets(State(app): State<App>) -> ApiResult<Json<Value>> {
    Ok(Json(json!(app.store.latest_datasets(None).await?)))
}

/// `GET /api/users`.
pub async fn users(State(app): State<App>) -> ApiResult<Json<Value>> {
    Ok(Json(json!(app.store.users().await?)))
}

/// A user to create or update.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    /// Login name.
    pub name: String,
    /// Password (8 characters at least).
    pub password: String,
    /// `viewer`, `operator` or `admin`.
    pub role: String,
}

/// `POST /api/users`.
pub async fn put_user(State(app): State<App>, Json(body): Json<NewUser>) -> ApiResult<Response> {
    let role = parse_role(&body.role)?;
    let user = auth::put_user(app.store.as_ref(), &body.name, &body.password, role)
        .await
        .map_err(ApiError::BadRequest)?;
    Ok((StatusCode::CREATED, Json(json!(user))).into_response())
}

fn parse_role(name: &str) -> ApiResult<Role> {
    Role::from_name(name).ok_or_else(|| {
        ApiError::BadRequest(format!(
            "unknown role `{name}`: use {}",
            Role::NAMES.join(", ")
        ))
    })
}

/// `GET /api/tokens`: the caller's (everyone's for an admin).
pub async fn tokens(
    State(app): State<App>,
    Extension(caller): Extension<Caller>,
) -> ApiResult<Json<Value>> {
    let user = (caller.role < Role::Admin).then_some(caller.user.as_str());
    Ok(Json(json!(app.store.tokens(user).await?)))
}

/// A token to create.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewToken {
    /// What it is for.
    pub label: String,
    /// Its role (default: the caller's; never above the user's).
    pub role: Option<String>,
    /// Its user (an admin only; default the caller).
    pub user: Option<String>,
    /// Days before it expires (default: never).
    pub expires_in_days: Option<u32>,
}

/// `POST /api/tokens`: a new API token; its secret is in this answer only.
pub async fn create_token(
    State(app): State<App>,
    Extension(caller): Extension<Caller>,
    Json(body): Json<NewToken>,
) -> ApiResult<Response> {
    let user = body.user.unwrap_or_else(|| caller.user.clone());
    if user != caller.user && caller.role < Role::Admin {
        return Err(ApiError::Forbidden(
            "only an admin creates tokens for other users".into(),
        ));
    }
    let owner = app
        .store
        .user(&user)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no user `{user}`")))?;
    let owner_role = Role::from_name(&owner.role).unwrap_or(Role::Viewer);
    let role = match &body.role {
        Some(r) => parse_role(r)?,
        None => owner_role,
    };
    if role > owner_role {
        return Err(ApiError::BadRequest(format!(
            "a token of `{user}` cannot have the {} role: the user has {}",
            role.name(),
            owner_role.name()
        )));
    }
    let expires = body
        .expires_in_days
        .map(|d| now_micros() + i64::from(d) * 86_400_000_000);
    let (record, secret) = auth::new_token("api", &user, &body.label, role, expires);
    app.store.apply(&[Write::Token(record.clone())]).await?;
    let mut v = json!(record);
    v["token"] = json!(secret);
    Ok((StatusCode::CREATED, Json(v)).into_response())
}

/// `DELETE /api/tokens/{id}`.
pub async fn revoke_token(
    State(app): State<App>,
    Path(id): Path<String>,
    Extension(caller): Extension<Caller>,
) -> ApiResult<Response> {
    let user = (caller.role < Role::Admin).then_some(caller.user.as_str());
    let token = app
        .store
        .tokens(user)
        .await?
        .into_iter()
        .find(|t| t.id == id)
        .ok_or_else(|| ApiError::NotFound(format!("no token `{id}` of yours")))?;
    app.store
        .apply(&[Write::Token(sluice_store::TokenRecord {
            revoked_at: Some(now_micros()),
            ..token
        })])
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
