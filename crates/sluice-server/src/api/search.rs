//! Search over embedded datasets (`POST /api/search`, the same call as `sluice search`) and
//! OpenAI-compatible embeddings (`POST /v1/embeddings`) from the local models.

use std::path::PathBuf;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sluice_embed::{Embedder, ModelSpec};
use sluice_vector::text::{TextQuery, TextSearchError, search_text};

use crate::App;
use crate::error::{ApiError, ApiResult, ErrorBody};

/// A search over a dataset.
#[derive(Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SearchBody {
    /// `pipeline.task`.
    pub dataset: String,
    /// The text to look for.
    pub query: String,
    /// Rows wanted (default 10, at most 1,000).
    #[schema(minimum = 1, maximum = 1000)]
    pub k: Option<usize>,
    /// A SQL predicate on the dataset's other columns.
    #[serde(rename = "where")]
    pub filter: Option<String>,
    /// The vector column (default: the one `embed` wrote).
    pub column: Option<String>,
    /// Candidates explored (default 128, at most 10,000).
    #[schema(maximum = 10000)]
    pub ef: Option<usize>,
}

/// `POST /api/search`: the rows of a dataset nearest to a text, from its embedded index, with
/// their scores.
#[utoipa::path(post, path = "/api/search", tag = "search", request_body = SearchBody, responses(
    (status = 200, description = "The nearest rows, best first. The `Server-Timing` header gives the milliseconds spent embedding the query (`embed`) and searching (`search`).", body = SearchAnswer),
    (status = 400, description = "A limit passed, a bad `where`, or a dataset without vectors.", body = ErrorBody),
    (status = 404, description = "No such dataset.", body = ErrorBody),
    (status = 503, description = "The search took longer than its limit.", body = ErrorBody),
))]
pub async fn search(
    State(app): State<App>,
    Json(body): Json<SearchBody>,
) -> ApiResult<(HeaderMap, Json<SearchAnswer>)> {
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
    let record = super::datasets::latest(&app, &body.dataset).await?;
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
    // Where the time went, in the standard header (milliseconds), for clients and
    // browsers' developer tools.
    let mut headers = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_str(&format!(
        "embed;dur={:.3};desc=\"embedding the query\", search;dur={:.3};desc=\"filter, index and rows\"",
        answer.embed_seconds * 1e3,
        answer.search_seconds * 1e3
    )) {
        headers.insert(HeaderName::from_static("server-timing"), v);
    }
    let hits = answer
        .hits
        .into_iter()
        .map(|(score, row)| Hit { score, row })
        .collect();
    Ok((
        headers,
        Json(SearchAnswer {
            dataset: body.dataset,
            column: answer.column,
            columns: answer.columns,
            hits,
        }),
    ))
}

/// The answer of a search.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SearchAnswer {
    /// The dataset searched.
    pub dataset: String,
    /// The vector column searched.
    pub column: String,
    /// The columns of each row.
    pub columns: Vec<String>,
    /// The nearest rows, best first.
    pub hits: Vec<Hit>,
}

/// A row found.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Hit {
    /// Its similarity to the query (cosine; higher is nearer).
    pub score: f32,
    /// The row, by column (vector columns left out).
    #[schema(value_type = Object)]
    pub row: serde_json::Map<String, Value>,
}

/// What `input` may be: one text or several.
#[derive(Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum Input {
    /// One text.
    One(String),
    /// Several texts.
    Many(Vec<String>),
}

/// An OpenAI embeddings request.
#[derive(Debug, Deserialize, Serialize, utoipa::ToSchema)]
pub struct EmbeddingsBody {
    /// The text or texts.
    pub input: Input,
    /// A model name under `SLUICE_MODELS` (`all-MiniLM-L6-v2`) or in the Hugging Face cache.
    pub model: String,
    /// `float` (default) or `base64` (little-endian f32).
    #[schema(pattern = "^(float|base64)$")]
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
#[utoipa::path(post, path = "/v1/embeddings", tag = "search", request_body = EmbeddingsBody, responses(
    (status = 200, description = "One vector per text, in order.", body = EmbeddingsAnswer),
    (status = 400, description = "A limit passed, a path for a model, or an unknown format.", body = ErrorBody),
    (status = 404, description = "No such model on this machine.", body = ErrorBody),
    (status = 503, description = "Embedding took longer than its limit.", body = ErrorBody),
))]
pub async fn embeddings(
    State(app): State<App>,
    Json(body): Json<EmbeddingsBody>,
) -> ApiResult<Json<EmbeddingsAnswer>> {
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
    let data = vectors
        .chunks(dimension.max(1))
        .enumerate()
        .map(|(index, v)| Embedding {
            object: "embedding".into(),
            index,
            embedding: if base64 {
                let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
                Vector::Base64(base64::engine::general_purpose::STANDARD.encode(bytes))
            } else {
                Vector::Float(v.to_vec())
            },
        })
        .collect();
    Ok(Json(EmbeddingsAnswer {
        object: "list".into(),
        data,
        model: name.clone(),
        usage: Usage {
            prompt_tokens: tokens,
            total_tokens: tokens,
        },
    }))
}

/// OpenAI's answer to an embeddings request.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EmbeddingsAnswer {
    /// Always `list`.
    pub object: String,
    /// One vector per text, in the order of `input`.
    pub data: Vec<Embedding>,
    /// The model used.
    pub model: String,
    /// The tokens of the texts.
    pub usage: Usage,
}

/// The vector of one text.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Embedding {
    /// Always `embedding`.
    pub object: String,
    /// The text's place in `input`.
    pub index: usize,
    /// The vector.
    pub embedding: Vector,
}

/// A vector, as `encoding_format` asked.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum Vector {
    /// `float`: the numbers.
    Float(Vec<f32>),
    /// `base64`: the little-endian f32 bytes, in base64.
    Base64(String),
}

/// Tokens counted.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Usage {
    /// Tokens of the texts.
    pub prompt_tokens: usize,
    /// The same: nothing else is counted.
    pub total_tokens: usize,
}
