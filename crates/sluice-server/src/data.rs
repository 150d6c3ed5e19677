//! The handlers of datasets: one dataset's versions, schema and first rows; search over a
//! dataset (`POST /api/search`, the same call as `sluice search`); OpenAI-compatible
//! embeddings (`POST /v1/embeddings`) from the local models; the lineage of the folder's
//! pipelines.

use std::collections::BTreeMap;
use std::path::PathBuf;

use axum::Json;
use axum::extract::{Path, Query, State};
use base64::Engine as _;
use serde::Deserialize;
use serde_json::{Value, json};
use sluice_embed::{Embedder, ModelSpec};
use sluice_store::DatasetVersionRecord;
use sluice_vector::text::{TextQuery, TextSearchError, search_text};

use crate::App;
use crate::error::{ApiError, ApiResult};

/// The latest version of dataset `name` (`pipeline.task`).
async fn latest(app: &App, name: &str) -> ApiResult<DatasetVersionRecord> {
    let (pipeline, task) = name.split_once('.').ok_or_else(|| {
        ApiError::BadRequest(format!(
            "name the dataset as `pipeline.task` (see GET /api/datasets), not `{name}`"
        ))
    })?;
    app.store
        .latest_datasets(Some(pipeline))
        .await?
        .into_iter()
        .find(|d| d.task == task)
        .ok_or_else(|| ApiError::NotFound(format!("no dataset `{name}`")))
}

/// Options of the dataset route.
#[derive(Debug, Deserialize)]
pub struct DatasetQuery {
    /// Rows of the preview (default 20, at most 500).
    pub rows: Option<u32>,
}

/// `GET /api/datasets/{pipeline}/{task}`: every version (oldest first: rows, bytes, run), the
/// latest one's schema and its first rows (vectors left out).
pub async fn dataset(
    State(app): State<App>,
    Path((pipeline, task)): Path<(String, String)>,
    Query(q): Query<DatasetQuery>,
) -> ApiResult<Json<Value>> {
    let name = format!("{pipeline}.{task}");
    let record = latest(&app, &name).await?;
    let mut versions = app
        .store
        .dataset_versions(Some(&pipeline), Some(&task))
        .await?;
    versions.sort_by_key(|v| v.created_at);
    let schema: Value = serde_json::from_str(&record.schema).unwrap_or(Value::Null);
    let n = q.rows.unwrap_or(20).min(500).min(record.rows as u32);
    let dir = PathBuf::from(&record.path);
    let preview = tokio::task::spawn_blocking(move || {
        sluice_vector::search::fetch_rows(&dir, &(0..n).collect::<Vec<u32>>())
    })
    .await
    .map_err(|e| ApiError::Internal(e.to_string()))?
    .map_err(|e| ApiError::Internal(format!("{name}: {e}")))?;
    let versions: Vec<Value> = versions
        .iter()
        .map(|v| {
            json!({
                "version": v.version,
                "rows": v.rows,
                "bytes": v.bytes,
                "run_id": v.run_id,
                "created_at": v.created_at,
                "latest": v.latest_since.is_some(),
            })
        })
        .collect();
    Ok(Json(json!({
        "dataset": name,
        "latest": record,
        "schema": schema,
        "versions": versions,
        "preview": preview,
    })))
}

/// A search over a dataset.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchBody {
    /// `pipeline.task`.
    pub dataset: String,
    /// The text to look for.
    pub query: String,
    /// Rows wanted (default 10, at most 1,000).
    pub k: Option<usize>,
    /// A SQL predicate on the dataset's other columns.
    #[serde(rename = "where")]
    pub filter: Option<String>,
    /// The vector column (default: the one `embed` wrote).
    pub column: Option<String>,
    /// Candidates explored (default 128).
    pub ef: Option<usize>,
}

/// `POST /api/search`: the rows of a dataset nearest to a text, from its embedded index, with
/// their scores.
pub async fn search(
    State(app): State<App>,
    Json(body): Json<SearchBody>,
) -> ApiResult<Json<Value>> {
    let k = body.k.unwrap_or(10);
    if !(1..=1000).contains(&k) {
        return Err(ApiError::BadRequest(format!(
            "`k` must be between 1 and 1000, not {k}"
        )));
    }
    if body.query.len() > MAX_QUERY_BYTES {
        return Err(ApiError::BadRequest(format!(
            "`query` is longer than {MAX_QUERY_BYTES} bytes"
        )));
    }
    if body
        .filter
        .as_ref()
        .is_some_and(|f| f.len() > MAX_WHERE_BYTES)
    {
        return Err(ApiError::BadRequest(format!(
            "`where` is longer than {MAX_WHERE_BYTES} bytes"
        )));
    }
    if body.ef.is_some_and(|ef| ef > 10_000) {
        return Err(ApiError::BadRequest("`ef` must be at most 10000".into()));
    }
    let record = latest(&app, &body.dataset).await?;
    let query = TextQuery {
        k,
        filter: body.filter,
        column: body.column,
        ef: body.ef.unwrap_or(128).max(k),
        ..TextQuery::new(
            &body.dataset,
            PathBuf::from(&record.path),
            record.state.as_deref(),
            body.query,
        )
    };
    let answer = tokio::time::timeout(WORK_LIMIT, search_text(&query, &app.search))
        .await
        .map_err(|_| {
            ApiError::Timeout(format!(
                "the search took more than {} s: narrow `where`, or lower `k` and `ef`",
                WORK_LIMIT.as_secs()
            ))
        })?
        .map_err(|e| match e {
            TextSearchError::Invalid(m) => ApiError::BadRequest(m),
            TextSearchError::Unavailable(m) => ApiError::Internal(m),
        })?;
    let hits: Vec<Value> = answer
        .hits
        .into_iter()
        .map(|(score, row)| json!({ "score": score, "row": row }))
        .collect();
    Ok(Json(json!({
        "dataset": body.dataset,
        "column": answer.column,
        "columns": answer.columns,
        "hits": hits,
    })))
}

/// What `input` may be: one text or several.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Input {
    /// One text.
    One(String),
    /// Several texts.
    Many(Vec<String>),
}

/// An OpenAI embeddings request.
#[derive(Debug, Deserialize)]
pub struct EmbeddingsBody {
    /// The text or texts.
    pub input: Input,
    /// A model name under `SLUICE_MODELS` (`all-MiniLM-L6-v2`) or in the Hugging Face cache.
    pub model: String,
    /// `float` (default) or `base64` (little-endian f32).
    pub encoding_format: Option<String>,
    /// Vector length wanted: only the model's own is served.
    pub dimensions: Option<usize>,
    /// The caller's end user, as OpenAI takes it (not used).
    pub user: Option<String>,
}

/// Texts in one request at most (OpenAI's limit).
const MAX_INPUTS: usize = 2048;
/// Bytes of text in one embeddings request at most.
const MAX_INPUT_BYTES: usize = 4 << 20;
/// Bytes of a search's query text at most.
const MAX_QUERY_BYTES: usize = 16 * 1024;
/// Bytes of a search's `where` filter at most.
const MAX_WHERE_BYTES: usize = 4 * 1024;
/// The longest a search or an embeddings request may work.
const WORK_LIMIT: std::time::Duration = std::time::Duration::from_secs(60);

/// `POST /v1/embeddings`: OpenAI's embeddings API over the models of this machine, so that
/// clients written for it (LangChain, LlamaIndex, the `openai` package) use sluice's models.
pub async fn embeddings(
    State(app): State<App>,
    Json(body): Json<EmbeddingsBody>,
) -> ApiResult<Json<Value>> {
    let texts = match body.input {
        Input::One(t) => vec![t],
        Input::Many(t) => t,
    };
    if texts.is_empty() || texts.len() > MAX_INPUTS {
        return Err(ApiError::BadRequest(format!(
            "`input` must hold 1 to {MAX_INPUTS} texts, not {}",
            texts.len()
        )));
    }
    let bytes: usize = texts.iter().map(String::len).sum();
    if bytes > MAX_INPUT_BYTES {
        return Err(ApiError::BadRequest(format!(
            "`input` holds {bytes} bytes of text, more than the {MAX_INPUT_BYTES} allowed: send fewer texts per request"
        )));
    }
    let base64 = match body.encoding_format.as_deref() {
        None | Some("float") => false,
        Some("base64") => true,
        Some(other) => {
            return Err(ApiError::BadRequest(format!(
                "unknown encoding_format `{other}`: use float or base64"
            )));
        }
    };
    let name = &body.model;
    if name.is_empty() || name.starts_with(['/', '.', '~']) || name.contains("..") {
        return Err(ApiError::BadRequest(format!(
            "model `{name}` is not a model name: name a model of the server's SLUICE_MODELS \
             folder (`all-MiniLM-L6-v2`) or of its Hugging Face cache, not a path"
        )));
    }
    let embedder = app
        .search
        .models
        .get(&ModelSpec::new(name.clone()))
        .await
        .map_err(|e| ApiError::NotFound(e.to_string()))?;
    let Embedder::Local(model) = &embedder else {
        return Err(ApiError::Internal("only local models are served".into()));
    };
    let dimension = model.dimension();
    if let Some(d) = body.dimensions.filter(|d| *d != dimension) {
        return Err(ApiError::BadRequest(format!(
            "model `{name}` makes vectors of {dimension} dimensions, not {d}"
        )));
    }
    let mut tokens = 0usize;
    for t in &texts {
        tokens += model
            .tokenize(t)
            .map_err(|e| ApiError::BadRequest(e.to_string()))?
            .len();
    }
    let count = texts.len();
    let started = std::time::Instant::now();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let work = embedder.embed(
        std::sync::Arc::new(texts),
        std::sync::Arc::new(|_| {}),
        stop.clone(),
    );
    let vectors = match tokio::time::timeout(WORK_LIMIT, work).await {
        Ok(v) => v.map_err(|e| ApiError::BadRequest(e.to_string()))?,
        Err(_) => {
            // The encoder stops at its next batch.
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
            return Err(ApiError::Timeout(format!(
                "embedding took more than {} s: send fewer or shorter texts",
                WORK_LIMIT.as_secs()
            )));
        }
    };
    app.metrics.set(
        "sluice_embedding_rows_per_second",
        vec![("pipeline", "api".into()), ("task", "v1_embeddings".into())],
        count as f64 / started.elapsed().as_secs_f64().max(1e-6),
    );
    let data: Vec<Value> = vectors
        .chunks(dimension.max(1))
        .enumerate()
        .map(|(i, v)| {
            let embedding = if base64 {
                let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
                json!(base64::engine::general_purpose::STANDARD.encode(bytes))
            } else {
                json!(v)
            };
            json!({ "object": "embedding", "index": i, "embedding": embedding })
        })
        .collect();
    Ok(Json(json!({
        "object": "list",
        "data": data,
        "model": name,
        "usage": { "prompt_tokens": tokens, "total_tokens": tokens },
    })))
}

/// `GET /api/lineage`: the datasets of the folder's pipelines and the tasks that read and
/// wrote them: a node per task (`pipeline.task`, with its latest version and rows), an edge
/// from each task to each task that reads its output, and from each dataset a pipeline runs
/// on (`on_new_version`) to that pipeline's first tasks (`"trigger": true`).
pub async fn lineage(State(app): State<App>) -> ApiResult<Json<Value>> {
    let catalog = app.catalog();
    let latest: BTreeMap<String, DatasetVersionRecord> = app
        .store
        .latest_datasets(None)
        .await?
        .into_iter()
        .map(|d| (format!("{}.{}", d.pipeline, d.task), d))
        .collect();
    let mut nodes = Vec::new();
    let mut edges = Vec::new();
    for entry in catalog.entries.values() {
        let Ok(loaded) = &entry.loaded else { continue };
        let p = &loaded.pipeline;
        for t in &p.tasks {
            let id = format!("{}.{}", p.name, t.name);
            let version = latest.get(&id);
            nodes.push(json!({
                "id": id,
                "pipeline": p.name,
                "task": t.name,
                "dataset": version.is_some(),
                "version": version.map(|v| v.version.clone()),
                "rows": version.map(|v| v.rows),
                "run_id": version.map(|v| v.run_id.clone()),
            }));
            for &d in &t.deps {
                edges.push(json!({ "from": format!("{}.{}", p.name, p.tasks[d].name), "to": id }));
            }
            if t.deps.is_empty() {
                for dataset in &p.on_new_version {
                    edges.push(json!({ "from": dataset, "to": id, "trigger": true }));
                }
            }
        }
    }
    Ok(Json(json!({ "nodes": nodes, "edges": edges })))
}
