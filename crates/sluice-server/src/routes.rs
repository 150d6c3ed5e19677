//! Every route of the server and the role it needs, in one table: the guard checks each
//! request against it, `/api/openapi.json` takes each operation's role and summary from it
//! (a unit test checks that the document and the table list the same routes), and the tests
//! walk it.
//! A route the router has but the table lacks is refused (fail closed).

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{Method, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};

use crate::auth::{self, Role};
use crate::error::{ApiError, ErrorBody};
use crate::{App, api, ui};

/// One route.
#[derive(Debug, Clone)]
pub struct Route {
    /// Its method.
    pub method: Method,
    /// Its path, axum style (`/api/runs/{id}`).
    pub path: &'static str,
    /// The least role that may call it.
    pub role: Role,
    /// What it does.
    pub summary: &'static str,
}

const fn route(method: Method, path: &'static str, role: Role, summary: &'static str) -> Route {
    Route {
        method,
        path,
        role,
        summary,
    }
}

/// The routes.
pub const ROUTES: &[Route] = &[
    route(
        Method::GET,
        "/health",
        Role::Public,
        "Liveness: the server and its state store answer.",
    ),
    route(
        Method::GET,
        "/",
        Role::Public,
        "The web UI's page (it holds no data: everything comes from the API).",
    ),
    route(
        Method::GET,
        "/ui/{file}",
        Role::Public,
        "The web UI's script and style sheet.",
    ),
    route(
        Method::POST,
        "/api/login",
        Role::Public,
        "Log in with a user name and password: a session cookie and a bearer token.",
    ),
    route(
        Method::POST,
        "/api/logout",
        Role::Viewer,
        "End the current session.",
    ),
    route(
        Method::GET,
        "/api/me",
        Role::Viewer,
        "The caller: user, role and the CSRF token of a browser session.",
    ),
    route(
        Method::GET,
        "/api/openapi.json",
        Role::Viewer,
        "This API's OpenAPI document.",
    ),
    route(
        Method::GET,
        "/metrics",
        Role::Viewer,
        "Prometheus metrics (text format 0.0.4).",
    ),
    route(
        Method::GET,
        "/api/workers",
        Role::Viewer,
        "The `sluice worker`s (labels, slots, what each runs, last heartbeat) and the queue's depth per pool.",
    ),
    route(
        Method::GET,
        "/api/pipelines",
        Role::Viewer,
        "Pipelines of the folder: validity, schedule, next and last runs.",
    ),
    route(
        Method::GET,
        "/api/pipelines/{name}",
        Role::Viewer,
        "One pipeline: its tasks, schedule and recent slots.",
    ),
    route(
        Method::GET,
        "/api/pipelines/{name}/grid",
        Role::Viewer,
        "The latest runs of a pipeline, oldest first, with each task's state (`limit`).",
    ),
    route(
        Method::POST,
        "/api/pipelines/{name}/runs",
        Role::Operator,
        "Trigger a run, with parameters.",
    ),
    route(
        Method::POST,
        "/api/pipelines/{name}/backfill",
        Role::Operator,
        "Run every slot of the schedule from `from` to `to` (dates or RFC 3339 times).",
    ),
    route(
        Method::GET,
        "/api/runs",
        Role::Viewer,
        "Runs, newest first (`pipeline`, `state`, `limit`).",
    ),
    route(
        Method::GET,
        "/api/runs/{id}",
        Role::Viewer,
        "One run: its tasks and attempts.",
    ),
    route(
        Method::POST,
        "/api/runs/{id}/cancel",
        Role::Operator,
        "Cancel a run going on.",
    ),
    route(
        Method::POST,
        "/api/runs/{id}/resume",
        Role::Operator,
        "Resume a run: only what did not succeed runs again.",
    ),
    route(
        Method::GET,
        "/api/runs/{id}/tasks/{task}/logs",
        Role::Viewer,
        "A task attempt's output (`attempt`; `follow=true` streams it while it runs).",
    ),
    route(
        Method::GET,
        "/api/datasets",
        Role::Viewer,
        "The latest version of every dataset.",
    ),
    route(
        Method::GET,
        "/api/datasets/{pipeline}/{task}",
        Role::Viewer,
        "One dataset: its versions, the latest one's schema and first rows (`rows`).",
    ),
    route(
        Method::POST,
        "/api/search",
        Role::Viewer,
        "The rows of a dataset nearest to a text (`dataset`, `query`, `k`, `where`).",
    ),
    route(
        Method::POST,
        "/v1/embeddings",
        Role::Viewer,
        "OpenAI-compatible embeddings from the models of this machine.",
    ),
    route(
        Method::GET,
        "/api/lineage",
        Role::Viewer,
        "Which task wrote each dataset and which tasks read it.",
    ),
    route(
        Method::GET,
        "/api/catalog",
        Role::Viewer,
        "Datasets found by name, description, owner, tag or column.",
    ),
    route(
        Method::GET,
        "/api/catalog/{pipeline}/{task}",
        Role::Viewer,
        "A dataset's docs, where it or a column comes from, what it affects, who uses it.",
    ),
    route(
        Method::GET,
        "/api/models",
        Role::Viewer,
        "Models made by `train` tasks: versions, their ranking figure, aliases.",
    ),
    route(
        Method::GET,
        "/api/models/{pipeline}/{task}/versions/{version}",
        Role::Viewer,
        "One version of a model (or an alias, or `latest`): trials, curves, confusion, card.",
    ),
    route(
        Method::GET,
        "/api/models/{pipeline}/{task}/versions/{version}/card",
        Role::Viewer,
        "The model card of a version, as Markdown.",
    ),
    route(
        Method::POST,
        "/api/models/{pipeline}/{task}/predict",
        Role::Operator,
        "Predictions of a model (its `champion`, or `?version=`) for JSON rows, a vector, or a document (multipart `image`) read by the model's own pipeline.",
    ),
    route(
        Method::POST,
        "/api/models/{pipeline}/{task}/promote",
        Role::Admin,
        "Point an alias (`champion`) at a model version: predictions switch to it.",
    ),
    route(
        Method::GET,
        "/api/users",
        Role::Admin,
        "Users and their roles.",
    ),
    route(
        Method::POST,
        "/api/users",
        Role::Admin,
        "Create or update a user.",
    ),
    route(
        Method::GET,
        "/api/tokens",
        Role::Viewer,
        "The caller's tokens (every token for an admin).",
    ),
    route(
        Method::POST,
        "/api/tokens",
        Role::Operator,
        "Create an API token for the caller (an admin: for anyone).",
    ),
    route(
        Method::DELETE,
        "/api/tokens/{id}",
        Role::Operator,
        "Revoke a token of the caller (an admin: anyone's).",
    ),
];

/// The route of a request, by method and matched path (`HEAD` is a `GET` without its body).
pub fn find(method: &Method, path: &str) -> Option<&'static Route> {
    let method = if *method == Method::HEAD {
        &Method::GET
    } else {
        method
    };
    ROUTES
        .iter()
        .find(|r| r.method == *method && r.path == path)
}

/// The router: every route of [`ROUTES`], behind the guard.
pub fn router(app: App) -> Router {
    Router::new()
        .route("/health", get(api::system::health))
        .route("/", get(ui::index))
        .route("/ui/{file}", get(ui::asset))
        .route("/api/login", post(api::session::login))
        .route("/api/logout", post(api::session::logout))
        .route("/api/me", get(api::session::me))
        .route("/api/openapi.json", get(api::system::openapi))
        .route("/metrics", get(api::system::metrics))
        .route("/api/workers", get(api::system::workers))
        .route("/api/pipelines", get(api::pipelines::pipelines))
        .route("/api/pipelines/{name}", get(api::pipelines::pipeline))
        .route("/api/pipelines/{name}/grid", get(api::pipelines::grid))
        .route("/api/pipelines/{name}/runs", post(api::pipelines::trigger))
        .route(
            "/api/pipelines/{name}/backfill",
            post(api::pipelines::backfill),
        )
        .route("/api/runs", get(api::runs::runs))
        .route("/api/runs/{id}", get(api::runs::run))
        .route("/api/runs/{id}/cancel", post(api::runs::cancel))
        .route("/api/runs/{id}/resume", post(api::runs::resume))
        .route("/api/runs/{id}/tasks/{task}/logs", get(api::logs::logs))
        .route("/api/datasets", get(api::datasets::datasets))
        .route(
            "/api/datasets/{pipeline}/{task}",
            get(api::datasets::dataset),
        )
        .route("/api/search", post(api::search::search))
        .route("/v1/embeddings", post(api::search::embeddings))
        .route("/api/models", get(api::models::models))
        .route(
            "/api/models/{pipeline}/{task}/versions/{version}",
            get(api::models::version),
        )
        .route(
            "/api/models/{pipeline}/{task}/versions/{version}/card",
            get(api::models::card),
        )
        .route(
            "/api/models/{pipeline}/{task}/predict",
            post(api::models::predict).layer(axum::extract::DefaultBodyLimit::max(
                api::documents::MAX_BODY,
            )),
        )
        .route(
            "/api/models/{pipeline}/{task}/promote",
            post(api::models::promote),
        )
        .route("/api/lineage", get(api::datasets::lineage))
        .route("/api/catalog", get(api::catalog::search))
        .route("/api/catalog/{pipeline}/{task}", get(api::catalog::dataset))
        .route(
            "/api/users",
            get(api::users::users).post(api::users::put_user),
        )
        .route(
            "/api/tokens",
            get(api::users::tokens).post(api::users::create_token),
        )
        .route("/api/tokens/{id}", delete(api::users::revoke_token))
        .route_layer(middleware::from_fn_with_state(app.clone(), guard))
        .fallback(not_found)
        .layer(middleware::map_response(json_errors))
        .with_state(app)
}

/// The refusals of axum's own extractors (a body that is not JSON, a query string or path
/// that does not parse, a body over the size limit) come as plain text: they get the JSON
/// [`ErrorBody`] of every other error, with their status.
async fn json_errors(response: Response) -> Response {
    let status = response.status();
    let plain = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"text/plain"));
    if !(status.is_client_error() || status.is_server_error()) || !plain {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, 64 * 1024)
        .await
        .unwrap_or_default();
    let error = ErrorBody {
        error: String::from_utf8_lossy(&text).into_owned(),
    };
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    let body = serde_json::to_vec(&error).unwrap_or_default();
    Response::from_parts(parts, axum::body::Body::from(body))
}

/// Checks the caller against the route's role and hands the [`auth::Caller`] to the handler.
async fn guard(
    State(app): State<App>,
    matched: Option<MatchedPath>,
    mut request: Request,
    next: Next,
) -> Response {
    let path = matched.as_ref().map(|m| m.as_str()).unwrap_or_default();
    let Some(route) = find(request.method(), path) else {
        // The path exists with other methods (the router matched it): 405 naming them, after
        // the same credential check as an unknown path, so an anonymous caller learns nothing.
        let allow: Vec<&str> = ROUTES
            .iter()
            .filter(|r| r.path == path)
            .map(|r| r.method.as_str())
            .collect();
        let public = ROUTES
            .iter()
            .any(|r| r.path == path && r.role == Role::Public);
        if !public
            && let Err(e) = auth::check(
                app.store.as_ref(),
                &Method::GET,
                request.headers(),
                Role::Viewer,
            )
            .await
        {
            return e.into_response();
        }
        return ApiError::MethodNotAllowed {
            method: request.method().to_string(),
            allow: allow.join(", "),
        }
        .into_response();
    };
    match auth::check(
        app.store.as_ref(),
        request.method(),
        request.headers(),
        route.role,
    )
    .await
    {
        Ok(caller) => {
            if let Some(caller) = caller {
                request.extensions_mut().insert(caller);
            }
            next.run(request).await
        }
        Err(e) => e.into_response(),
    }
}

/// Unknown paths: 401 without credentials (nothing is told about what exists), else 404.
async fn not_found(State(app): State<App>, request: Request) -> Response {
    match auth::check(
        app.store.as_ref(),
        &Method::GET,
        request.headers(),
        Role::Viewer,
    )
    .await
    {
        Ok(_) => ApiError::NotFound(format!("no route {} {}", request.method(), request.uri()))
            .into_response(),
        Err(e) => e.into_response(),
    }
}
