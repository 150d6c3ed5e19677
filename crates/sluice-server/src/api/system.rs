//! Health, metrics and the OpenAPI document.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sluice_store::RunFilter;

use crate::App;

/// Whether the server and its state store answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum HealthStatus {
    /// Both answer.
    Ok,
    /// The state store does not answer.
    Unavailable,
}

/// The answer of `GET /health`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Health {
    /// `ok` or `unavailable`.
    pub status: HealthStatus,
}

/// `GET /health`: `ok`, or 503 `unavailable` when the state store does not answer. It
/// tells an anonymous caller nothing more (the cause goes to the server's log).
#[utoipa::path(get, path = "/health", tag = "system", responses(
    (status = 200, description = "The server and its state store answer.", body = Health),
    (status = 503, description = "The state store does not answer.", body = Health),
))]
pub async fn health(State(app): State<App>) -> Response {
    let filter = RunFilter {
        limit: 1,
        ..RunFilter::default()
    };
    match app.store.runs(&filter).await {
        Ok(_) => Json(Health {
            status: HealthStatus::Ok,
        })
        .into_response(),
        Err(e) => {
            tracing::error!("health check: {}", sluice_op::redact_urls(&e.to_string()));
            let body = Health {
                status: HealthStatus::Unavailable,
            };
            (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response()
        }
    }
}

/// The answer of `GET /api/workers`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Workers {
    /// Whether this server's runs queue their attempts for `sluice worker`s
    /// (`--executor workers`); when false the lists are empty.
    pub enabled: bool,
    /// The workers seen in the last 10 minutes, by host: labels, slots, what each runs, the
    /// microseconds since its last heartbeat.
    pub workers: Vec<sluice_store::WorkerRecord>,
    /// Attempts waiting for a worker and running on one, per pool (`""`: no pool).
    pub queue: Vec<sluice_store::QueueDepth>,
}

/// `GET /api/workers`: the workers and the queue's depth.
#[utoipa::path(get, path = "/api/workers", tag = "system", responses(
    (status = 200, description = "The workers and what waits for them.", body = Workers),
))]
pub async fn workers(State(app): State<App>) -> crate::error::ApiResult<Json<Workers>> {
    let Some(queue) = &app.workers else {
        return Ok(Json(Workers {
            enabled: false,
            workers: Vec::new(),
            queue: Vec::new(),
        }));
    };
    Ok(Json(Workers {
        enabled: true,
        workers: queue.workers(std::time::Duration::from_secs(600)).await?,
        queue: queue.queue_depth().await?,
    }))
}

/// `GET /api/openapi.json`: this API's OpenAPI 3.1 document, generated from its types.
#[utoipa::path(get, path = "/api/openapi.json", tag = "system", responses(
    (status = 200, description = "The OpenAPI 3.1 document of this API.", body = Object),
))]
pub async fn openapi() -> Json<Value> {
    Json(super::openapi_document())
}

/// `GET /metrics`: Prometheus's text format.
#[utoipa::path(get, path = "/metrics", tag = "system", responses(
    (status = 200, description = "Counters, gauges and histograms (text format 0.0.4).",
     body = String, content_type = "text/plain; version=0.0.4; charset=utf-8"),
))]
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
    if let Some(queue) = &app.workers {
        for d in queue.queue_depth().await.unwrap_or_default() {
            for (state, n) in [("queued", d.queued), ("claimed", d.claimed)] {
                gauges.push((
                    "sluice_queue_depth",
                    vec![("pool", d.pool.clone()), ("state", state.to_string())],
                    n as f64,
                ));
            }
        }
        let workers = queue
            .workers(std::time::Duration::from_secs(600))
            .await
            .unwrap_or_default();
        let mut by_state: std::collections::BTreeMap<String, f64> =
            ["running", "draining", "stopped", "silent"]
                .iter()
                .map(|s| (s.to_string(), 0.0))
                .collect();
        let (mut busy, mut free) = (0.0, 0.0);
        for w in &workers {
            let state = if w.state != "stopped" && w.silent_for > 60_000_000 {
                "silent".to_string()
            } else {
                w.state.clone()
            };
            if state == "running" {
                busy += w.running.len() as f64;
                free += f64::from(w.slots).max(w.running.len() as f64) - w.running.len() as f64;
            }
            *by_state.entry(state).or_default() += 1.0;
        }
        for (state, n) in by_state {
            gauges.push(("sluice_workers", vec![("state", state)], n));
        }
        gauges.push(("sluice_worker_slots", vec![("state", "busy".into())], busy));
        gauges.push(("sluice_worker_slots", vec![("state", "free".into())], free));
    }
    for m in super::models::list_models(&app).await.unwrap_or_default() {
        gauges.push((
            "sluice_model_versions",
            vec![("model", m.model.clone())],
            m.versions.len() as f64,
        ));
        let named = m
            .latest
            .iter()
            .map(|v| ("latest".to_string(), v.clone()))
            .chain(
                m.aliases
                    .iter()
                    .filter_map(|(a, v)| v.as_str().map(|v| (a.clone(), v.to_string()))),
            );
        for (which, version) in named {
            if let Some(value) = m.values.get(&version).and_then(Value::as_f64) {
                gauges.push((
                    "sluice_model_metric",
                    vec![
                        ("model", m.model.clone()),
                        ("metric", m.metric.clone()),
                        ("version", which),
                    ],
                    value,
                ));
            }
        }
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
