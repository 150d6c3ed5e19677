//! The handlers of the REST API, one module per resource, and the types they read and answer
//! with. The same types are the schemas of the OpenAPI document ([`openapi_document`]),
//! generated from them with `utoipa`: what the document says is what the handlers do.
//!
//! Handlers read the store, the catalog and the runs going on, and call the engine; errors
//! become statuses in [`crate::error`].

pub mod catalog;
pub mod datasets;
pub mod documents;
pub mod logs;
pub mod models;
pub mod pipelines;
pub mod runs;
pub mod search;
pub mod session;
pub mod system;
pub mod users;

use serde_json::{Value, json};
use utoipa::OpenApi as _;

use crate::auth::{self, Role};
use crate::error::ErrorBody;
use crate::routes::ROUTES;

/// The operations of the API, their parameters, bodies and answers.
#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "sluice",
        description = "The REST API of `sluice serve`: pipelines, runs, logs, datasets, \
                       search and embeddings. Every route but `/health`, the login and the web \
                       UI's files takes a bearer token (`sluice token create`) or a session \
                       cookie from `POST /api/login` (changes then need the `X-CSRF-Token` \
                       header). `x-sluice-role` names the least role an operation needs."
    ),
    paths(
        system::health,
        system::openapi,
        system::metrics,
        system::workers,
        crate::ui::index,
        crate::ui::asset,
        session::login,
        session::logout,
        session::me,
        pipelines::pipelines,
        pipelines::pipeline,
        pipelines::grid,
        pipelines::trigger,
        pipelines::backfill,
        runs::runs,
        runs::run,
        runs::cancel,
        runs::resume,
        logs::logs,
        datasets::datasets,
        datasets::dataset,
        datasets::lineage,
        catalog::search,
        catalog::dataset,
        search::search,
        search::embeddings,
        models::models,
        models::version,
        models::card,
        models::predict,
        models::promote,
        users::users,
        users::put_user,
        users::tokens,
        users::create_token,
        users::revoke_token,
    ),
    components(schemas(ErrorBody)),
    tags(
        (name = "system", description = "Health, metrics, workers, this document and the web UI."),
        (name = "session", description = "Logging in and out."),
        (name = "pipelines", description = "The pipelines of the server's folder; triggers and backfills."),
        (name = "runs", description = "Runs, their tasks and attempts, and their logs."),
        (name = "datasets", description = "Datasets, their versions and lineage."),
        (name = "search", description = "Search over embedded datasets and OpenAI-compatible embeddings."),
        (name = "models", description = "Models made by `train` tasks: versions, aliases, predictions."),
        (name = "users", description = "Users and API tokens."),
    )
)]
struct ApiDoc;

/// The OpenAPI 3.1 document of the API: the operations and schemas `utoipa` generates from
/// the handlers and their types, with, from [`ROUTES`] (the table the guard checks), each
/// operation's summary, least role (`x-sluice-role`), security and the answers every guarded
/// operation may give (401, 403) or any operation when the state store fails (500, 503).
pub fn openapi_document() -> Value {
    let mut doc = serde_json::to_value(ApiDoc::openapi()).unwrap_or_else(|_| json!({}));
    let error = |description: &str| {
        json!({
            "description": description,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}},
        })
    };
    if let Some(paths) = doc["paths"].as_object_mut() {
        for (path, ops) in paths.iter_mut() {
            let Some(ops) = ops.as_object_mut() else {
                continue;
            };
            for (method, op) in ops.iter_mut() {
                let Some(route) = ROUTES
                    .iter()
                    .find(|r| r.path == path && r.method.as_str().eq_ignore_ascii_case(method))
                else {
                    continue;
                };
                op["summary"] = json!(route.summary);
                op["x-sluice-role"] = json!(route.role);
                let public = route.role == Role::Public;
                if public {
                    op["security"] = json!([]);
                }
                let has_body = op.get("requestBody").is_some();
                let responses = &mut op["responses"];
                let mut add = |status: &str, description: &str| {
                    if responses.get(status).is_none() {
                        responses[status] = error(description);
                    }
                };
                if !public {
                    add("401", "No valid credentials.");
                    add(
                        "403",
                        "The role is not enough, or a browser session sent no CSRF token.",
                    );
                }
                if has_body {
                    add("413", "The body is larger than 2 MiB.");
                    add("415", "The body is not `application/json`.");
                    add(
                        "422",
                        "The body is JSON but lacks a field, has one it does not know, or one \
                         of the wrong type.",
                    );
                }
                add("500", "The state store or the engine failed.");
                add(
                    "503",
                    "The state store does not answer, or the server is stopping.",
                );
            }
        }
    }
    doc["components"]["securitySchemes"] = json!({
        "bearer": {"type": "http", "scheme": "bearer"},
        "session": {"type": "apiKey", "in": "cookie", "name": auth::SESSION_COOKIE},
    });
    doc["security"] = json!([{"bearer": []}, {"session": []}]);
    doc
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every route of the table is an operation of the document and the reverse, each with its
    /// role; every JSON answer and body has a schema.
    #[test]
    fn the_document_has_every_route_with_schemas() {
        let doc = openapi_document();
        assert_eq!(doc["openapi"], "3.1.0");
        let mut documented = Vec::new();
        for (path, ops) in doc["paths"].as_object().into_iter().flatten() {
            for (method, op) in ops.as_object().into_iter().flatten() {
                documented.push(format!("{} {path}", method.to_uppercase()));
                assert!(op["x-sluice-role"].is_string(), "{method} {path}: no role");
                for (status, answer) in op["responses"].as_object().into_iter().flatten() {
                    if let Some(json) = answer["content"].get("application/json") {
                        assert!(
                            json.get("schema").is_some(),
                            "{method} {path} {status}: no schema"
                        );
                    }
                }
                if let Some(body) = op.get("requestBody") {
                    assert!(
                        body["content"]["application/json"]["schema"].is_object(),
                        "{method} {path}: a body without a schema"
                    );
                }
            }
        }
        documented.sort();
        let mut table: Vec<String> = ROUTES
            .iter()
            .map(|r| format!("{} {}", r.method, r.path))
            .collect();
        table.sort();
        assert_eq!(documented, table);
        let schemas = doc["components"]["schemas"].as_object().expect("schemas");
        for name in [
            "RunRecord",
            "RunDetail",
            "Pipeline",
            "Session",
            "ErrorBody",
            "SearchBody",
            "EmbeddingsAnswer",
        ] {
            assert!(schemas.contains_key(name), "no schema {name}");
        }
        // Secrets are never part of what the API answers with.
        let text = doc.to_string();
        assert!(!text.contains("\"hash\""), "a hash in a schema");
    }
}
