//! Models made by `train` tasks: the list (`GET /api/models`), predictions from a version
//! (`POST /api/models/{pipeline}/{task}/predict`, the `champion` alias by default) and
//! promotion (`POST /api/models/{pipeline}/{task}/promote`). A promotion is a new alias row
//! in the store: the next request resolves it and uses the new version, requests already
//! holding the old model finish with it — nothing fails during the swap.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::{Path, Query, State};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sluice_ml::Model;
use sluice_ml::tracking::{MODEL_DIR, TrainState};
use sluice_store::{AliasRecord, DatasetVersionRecord, Write, now_micros};

use crate::App;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorBody};

/// Rows one prediction request may carry.
pub const MAX_ROWS: usize = 10_000;

/// The largest JSON body of a prediction request, in bytes (32 MiB).
pub const MAX_JSON: usize = 32 << 20;

/// Buckets of prediction latency, in seconds.
pub const PREDICT_SECONDS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Models loaded for predictions, by model and version (an alias resolves to a version on
/// every request; the artifact is read once: requests arriving while it loads wait for that
/// one load instead of each reading it).
#[derive(Default)]
pub struct ModelCache {
    loaded: Mutex<HashMap<(String, String), Arc<Loading>>>,
}

/// A version's model: loaded once, by the first request that asks for it.
type Loading = tokio::sync::OnceCell<Arc<Model>>;

/// A model and what it says about itself.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ModelInfo {
    /// `pipeline.task`.
    pub model: String,
    /// The learner (`mlp`, `logistic`, …).
    pub kind: String,
    /// Versions kept, newest first.
    pub versions: Vec<String>,
    /// The latest version.
    pub latest: Option<String>,
    /// The ranking figure's name (`valid.accuracy`).
    pub metric: String,
    /// Its value for each version, by version.
    #[schema(value_type = Object)]
    pub values: Map<String, Value>,
    /// Aliases and the version each names.
    #[schema(value_type = Object)]
    pub aliases: Map<String, Value>,
    /// Whether it predicts uploaded documents: its pipeline (among the server's) reads them
    /// with a `read.files` task upstream of its input.
    pub documents: bool,
}

/// The models and their versions and aliases, from the store.
pub(crate) async fn list_models(app: &App) -> ApiResult<Vec<ModelInfo>> {
    let versions = app.store.dataset_versions(None, None).await?;
    let catalog = app.catalog();
    let aliases = app.store.aliases(None, None, false).await?;
    let mut out: Vec<ModelInfo> = Vec::new();
    for v in &versions {
        let Some(state) = TrainState::of_version(v.state.as_deref()) else {
            continue;
        };
        let name = format!("{}.{}", v.pipeline, v.task);
        if out.last().is_none_or(|m| m.model != name) {
            out.push(ModelInfo {
                model: name.clone(),
                kind: state.kind.clone(),
                versions: Vec::new(),
                latest: None,
                metric: state.metric.clone(),
                values: Map::new(),
                documents: super::documents::reads_documents(&catalog, &v.pipeline, &v.task),
                aliases: aliases
                    .iter()
                    .filter(|a| a.pipeline == v.pipeline && a.task == v.task)
                    .map(|a| (a.alias.clone(), Value::String(a.version.clone())))
                    .collect(),
            });
        }
        if let Some(m) = out.last_mut() {
            m.versions.push(v.version.clone());
            if v.latest_since.is_some() {
                m.latest = Some(v.version.clone());
            }
            m.values
                .insert(v.version.clone(), serde_json::json!(state.value));
        }
    }
    Ok(out)
}

/// `GET /api/models`: every model, its versions with their ranking figure, and its aliases.
#[utoipa::path(get, path = "/api/models", tag = "models", responses(
    (status = 200, description = "The models.", body = Vec<ModelInfo>),
))]
pub async fn models(State(app): State<App>) -> ApiResult<Json<Vec<ModelInfo>>> {
    Ok(Json(list_models(&app).await?))
}

/// Which version answers.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Which {
    /// A version, or an alias (default `champion`, else the latest version).
    pub version: Option<String>,
}

/// Rows to score.
#[derive(Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PredictBody {
    /// Rows: objects of the model's feature columns (numbers, text, arrays for vectors).
    #[schema(value_type = Option<Vec<Object>>)]
    pub rows: Option<Vec<Map<String, Value>>>,
    /// The same, as the `instances` of TensorFlow Serving and Vertex AI.
    #[schema(value_type = Option<Vec<Object>>)]
    pub instances: Option<Vec<Map<String, Value>>>,
    /// One vector, for a model that reads one vector column.
    pub vector: Option<Vec<f64>>,
}

/// The predictions.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PredictAnswer {
    /// `pipeline.task`.
    pub model: String,
    /// The version that answered.
    pub version: String,
    /// A classifier's classes, in the order of `probas`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classes: Option<Vec<String>>,
    /// One object per row: `label`, `probas` and `confidence` (1 − entropy / ln K) for
    /// classes, `prediction` (values), `cluster` and `distance`, or `projection`.
    #[schema(value_type = Vec<Object>)]
    pub predictions: Vec<Value>,
    /// For a document: what its pipeline made of it (the scalar columns of its row: id,
    /// media type, page size, OCR text and confidence…).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub document: Option<Map<String, Value>>,
}

/// The version `which` names for model `pipeline.task`, with its record.
async fn resolve(
    app: &App,
    pipeline: &str,
    task: &str,
    which: Option<&str>,
) -> ApiResult<DatasetVersionRecord> {
    let versions = app
        .store
        .dataset_versions(Some(pipeline), Some(task))
        .await?;
    let models: Vec<&DatasetVersionRecord> = versions
        .iter()
        .filter(|v| TrainState::of_version(v.state.as_deref()).is_some())
        .collect();
    if models.is_empty() {
        return Err(ApiError::NotFound(format!(
            "no model `{pipeline}.{task}` (see GET /api/models)"
        )));
    }
    let aliases = app.store.aliases(Some(pipeline), Some(task), false).await?;
    let alias = |name: &str| {
        aliases
            .iter()
            .find(|a| a.alias == name)
            .map(|a| a.version.clone())
    };
    let latest = || {
        models
            .iter()
            .find(|v| v.latest_since.is_some())
            .map_or_else(|| models[0].version.clone(), |v| v.version.clone())
    };
    let version = match which {
        Some("latest") => alias("latest").unwrap_or_else(latest),
        Some(w) => alias(w).unwrap_or_else(|| w.to_string()),
        None => alias("champion").unwrap_or_else(latest),
    };
    let record = models
        .into_iter()
        .find(|v| v.version == version)
        .cloned()
        .ok_or_else(|| {
            ApiError::NotFound(format!(
                "model `{pipeline}.{task}` has no version or alias `{version}`"
            ))
        })?;
    super::datasets::here(app, record).await
}

impl ModelCache {
    async fn get(&self, name: &str, record: &DatasetVersionRecord) -> ApiResult<Arc<Model>> {
        let key = (name.to_string(), record.version.clone());
        let cell = {
            let mut loaded = self
                .loaded
                .lock()
                .map_err(|_| ApiError::Internal("the model cache is poisoned".into()))?;
            // Versions no longer asked for are dropped with time: keep the last few.
            if loaded.len() > 16 && !loaded.contains_key(&key) {
                loaded.clear();
            }
            loaded.entry(key).or_default().clone()
        };
        let dir = PathBuf::from(&record.path).join(MODEL_DIR);
        let model = cell
            .get_or_try_init(|| async move {
                tokio::task::spawn_blocking(move || Model::load(&dir))
                    .await
                    .map_err(|e| ApiError::Internal(e.to_string()))?
                    .map(Arc::new)
                    .map_err(|e| ApiError::Internal(format!("{name}: {e}")))
            })
            .await?;
        Ok(model.clone())
    }
}

/// What a prediction request carries: JSON rows, or a document as a multipart form.
pub enum PredictInput {
    /// `application/json`.
    Rows(PredictBody),
    /// `multipart/form-data` with the document in field `image`.
    Document(super::documents::Upload),
}

impl axum::extract::FromRequest<App> for PredictInput {
    type Rejection = axum::response::Response;

    async fn from_request(
        req: axum::extract::Request,
        state: &App,
    ) -> Result<Self, Self::Rejection> {
        use axum::response::IntoResponse as _;
        let multipart = req
            .headers()
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                v.trim_start()
                    .to_ascii_lowercase()
                    .starts_with("multipart/form-data")
            });
        if multipart {
            let form = axum::extract::Multipart::from_request(req, state)
                .await
                .map_err(|e| ApiError::BadRequest(e.body_text()).into_response())?;
            let upload = super::documents::read_upload(form)
                .await
                .map_err(|e| e.into_response())?;
            Ok(PredictInput::Document(upload))
        } else {
            // JSON rows: at most MAX_JSON bytes (the route's limit is a document's).
            let (parts, body) = req.into_parts();
            let bytes = axum::body::to_bytes(body, MAX_JSON).await.map_err(|_| {
                ApiError::TooLarge(format!(
                    "the JSON body is larger than {} MiB: send fewer rows per request",
                    MAX_JSON >> 20
                ))
                .into_response()
            })?;
            let req = axum::extract::Request::from_parts(parts, axum::body::Body::from(bytes));
            let Json(body) = Json::<PredictBody>::from_request(req, state)
                .await
                .map_err(|e| e.into_response())?;
            Ok(PredictInput::Rows(body))
        }
    }
}

/// `POST /api/models/{pipeline}/{task}/predict`: the model's predictions for JSON rows, or for
/// a document sent as a multipart form (field `image`), which the model's own pipeline reads
/// first (from its `read.files` task to the rows it trained on).
#[utoipa::path(post, path = "/api/models/{pipeline}/{task}/predict", tag = "models",
    params(("pipeline" = String, Path, description = "Pipeline."), ("task" = String, Path, description = "The `train` task."), Which),
    request_body(content(
        (PredictBody = "application/json"),
        (super::documents::UploadForm = "multipart/form-data"),
    )), responses(
    (status = 200, description = "One prediction per row (per page read of a document), each with its confidence for a classifier.", body = PredictAnswer),
    (status = 400, description = "A row without a column the model reads, a value of the wrong kind, a vector of another dimension; a form without a document.", body = ErrorBody),
    (status = 404, description = "No such model or version.", body = ErrorBody),
    (status = 413, description = "A JSON body over 32 MiB; a document over 32 MiB or the task's `max_size`, or of more than 64 million pixels.", body = ErrorBody),
    (status = 415, description = "A body neither JSON nor a multipart form; a document of a type the model's `read.files` task does not accept, or sent to a model not trained on documents.", body = ErrorBody),
    (status = 422, description = "A document the pipeline cannot read (a corrupt image), with the task and the reason.", body = ErrorBody),
    (status = 429, description = "Documents are being read: try again after `Retry-After` seconds.", body = ErrorBody),
))]
pub async fn predict(
    State(app): State<App>,
    Path((pipeline, task)): Path<(String, String)>,
    Query(which): Query<Which>,
    input: PredictInput,
) -> ApiResult<Json<PredictAnswer>> {
    let started = Instant::now();
    let name = format!("{pipeline}.{task}");
    let document = matches!(input, PredictInput::Document(_));
    let result = predict_rows(
        &app,
        &name,
        &pipeline,
        &task,
        which.version.as_deref(),
        input,
    )
    .await;
    let outcome = match &result {
        Ok(_) => "ok",
        Err(ApiError::BadRequest(_)) => "bad_request",
        Err(ApiError::TooLarge(_) | ApiError::UnsupportedMedia(_) | ApiError::Unprocessable(_)) => {
            "bad_document"
        }
        Err(_) => "error",
    };
    app.metrics.add(
        "sluice_model_predictions_total",
        vec![("model", name.clone()), ("outcome", outcome.into())],
        1.0,
    );
    if result.is_ok() {
        app.metrics.observe(
            "sluice_model_predict_seconds",
            vec![
                ("model", name),
                ("input", if document { "document" } else { "rows" }.into()),
            ],
            PREDICT_SECONDS,
            started.elapsed().as_secs_f64(),
        );
    }
    result.map(Json)
}

/// What a model scores: JSON rows, or the rows a document's pipeline made of it.
enum Scored {
    Json(Vec<Map<String, Value>>),
    Batches(Vec<sluice_data::datafusion::arrow::record_batch::RecordBatch>),
}

async fn predict_rows(
    app: &App,
    name: &str,
    pipeline: &str,
    task: &str,
    which: Option<&str>,
    input: PredictInput,
) -> ApiResult<PredictAnswer> {
    let record = resolve(app, pipeline, task, which).await?;
    let model = app.models.get(name, &record).await?;
    let (scored, document) = match input {
        PredictInput::Rows(body) => (Scored::Json(json_rows(&model, name, body)?), None),
        PredictInput::Document(upload) => {
            let (batches, row) =
                super::documents::document_rows(app, pipeline, task, upload).await?;
            (Scored::Batches(batches), Some(row))
        }
    };
    let m = model.clone();
    let predictions =
        tokio::task::spawn_blocking(move || -> Result<Vec<Value>, sluice_ml::MlError> {
            let frame = match &scored {
                Scored::Json(rows) => m.features.frame_from_json(rows)?,
                Scored::Batches(batches) => m.frame(batches)?,
            };
            let p = m.predict(&frame, 1)?;
            Ok(m.json(&p))
        })
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?
        .map_err(|e| match document {
            Some(_) => ApiError::Unprocessable(format!("the document's row: {e}")),
            None => ApiError::BadRequest(e.to_string()),
        })?;
    Ok(PredictAnswer {
        model: name.to_string(),
        version: record.version,
        classes: model.classes().map(<[String]>::to_vec),
        predictions,
        document,
    })
}

/// The rows of a JSON prediction request, checked against the model.
fn json_rows(model: &Model, name: &str, body: PredictBody) -> ApiResult<Vec<Map<String, Value>>> {
    let rows = match (body.rows, body.instances, body.vector) {
        (Some(r), None, None) | (None, Some(r), None) => r,
        (None, None, Some(v)) => {
            let vectors: Vec<&str> = model
                .features
                .columns
                .iter()
                .filter(|c| matches!(c.kind, sluice_ml::features::FeatureKind::Vector { .. }))
                .map(|c| c.name.as_str())
                .collect();
            if model.features.columns.len() != 1 || vectors.len() != 1 {
                return Err(ApiError::BadRequest(format!(
                    "`vector` is for a model that reads one vector column; {name} reads {}: send `rows`",
                    model
                        .features
                        .columns
                        .iter()
                        .map(|c| c.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
            let mut row = Map::new();
            row.insert(vectors[0].to_string(), serde_json::json!(v));
            vec![row]
        }
        _ => {
            return Err(ApiError::BadRequest(
                "send one of `rows`, `instances` or `vector`".into(),
            ));
        }
    };
    if rows.is_empty() || rows.len() > MAX_ROWS {
        return Err(ApiError::BadRequest(format!(
            "send between 1 and {MAX_ROWS} rows, not {}",
            rows.len()
        )));
    }
    Ok(rows)
}

/// A promotion.
#[derive(Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PromoteBody {
    /// The version to point the alias at.
    pub version: String,
    /// The alias (default `champion`).
    pub alias: Option<String>,
    /// Why (kept with the alias's history).
    pub note: Option<String>,
}

/// `POST /api/models/{pipeline}/{task}/promote`: points an alias at a version; the next
/// prediction uses it.
#[utoipa::path(post, path = "/api/models/{pipeline}/{task}/promote", tag = "models",
    params(("pipeline" = String, Path, description = "Pipeline."), ("task" = String, Path, description = "The `train` task.")),
    request_body = PromoteBody, responses(
    (status = 200, description = "The alias's new row.", body = AliasRecord),
    (status = 400, description = "A body that is not JSON, or an alias given as the version.", body = ErrorBody),
    (status = 404, description = "No such model or version.", body = ErrorBody),
))]
pub async fn promote(
    State(app): State<App>,
    Extension(caller): Extension<Caller>,
    Path((pipeline, task)): Path<(String, String)>,
    Json(body): Json<PromoteBody>,
) -> ApiResult<Json<AliasRecord>> {
    let record = resolve(&app, &pipeline, &task, Some(&body.version)).await?;
    if record.version != body.version {
        return Err(ApiError::BadRequest(format!(
            "`{}` is an alias: give a version",
            body.version
        )));
    }
    let alias = AliasRecord {
        pipeline,
        task,
        alias: body.alias.unwrap_or_else(|| "champion".into()),
        version: record.version,
        set_at: now_micros(),
        set_by: format!("user {}", caller.user),
        note: body.note,
    };
    app.store.apply(&[Write::Alias(alias.clone())]).await?;
    Ok(Json(alias))
}

/// One version of a model, with what the UI shows of it.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ModelVersion {
    /// `pipeline.task`.
    pub model: String,
    /// The version.
    pub version: String,
    /// When it was written (µs since 1970).
    pub created_at: i64,
    /// The run that trained it.
    pub run_id: String,
    /// Whether it is the task's latest version.
    pub latest: bool,
    /// The aliases naming it.
    pub aliases: Vec<String>,
    /// What `train` kept with it: kind, ranking figure, best trial, input, energy, MLflow.
    #[schema(value_type = Object)]
    pub state: Value,
    /// The kept trial's settings.
    #[schema(value_type = Object)]
    pub spec: Value,
    /// The columns it reads, with their kind.
    #[schema(value_type = Vec<Object>)]
    pub features: Value,
    /// The label's column, for supervised models.
    pub label: Option<String>,
    /// The classes, for classifiers.
    pub classes: Option<Vec<String>>,
    /// Every trial: settings, epochs, final figures.
    #[schema(value_type = Vec<Object>)]
    pub trials: Value,
    /// Figures per epoch: `{trial: {metric: [[epoch, value], …]}}`.
    #[schema(value_type = Object)]
    pub curves: Value,
    /// Rows per part and confusion matrices (`confusion[part][true][predicted]`), when kept.
    #[schema(value_type = Object)]
    pub evaluation: Value,
    /// The model card, as Markdown.
    pub card: String,
}

/// Which version of which model.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub struct VersionPath {
    /// Pipeline.
    pub pipeline: String,
    /// The `train` task.
    pub task: String,
    /// A version, an alias (`champion`) or `latest`.
    pub version: String,
}

/// The figures dataset of a version as curves: `{trial: {metric: [[epoch, value]]}}`.
fn curves(dir: &std::path::Path) -> Result<Value, sluice_op::OpError> {
    use sluice_data::datafusion::arrow::array::{
        Array, Float64Array, Int32Array, Int64Array, StringArray,
    };
    let mut out: std::collections::BTreeMap<
        String,
        std::collections::BTreeMap<String, Vec<Value>>,
    > = Default::default();
    sluice_data::export::for_each_batch_of(dir, None, |_, b| {
        let (Some(trial), Some(step), Some(metric), Some(value)) = (
            b.column_by_name("trial")
                .and_then(|c| c.as_any().downcast_ref::<Int32Array>()),
            b.column_by_name("step")
                .and_then(|c| c.as_any().downcast_ref::<Int64Array>()),
            b.column_by_name("metric")
                .and_then(|c| c.as_any().downcast_ref::<StringArray>()),
            b.column_by_name("value")
                .and_then(|c| c.as_any().downcast_ref::<Float64Array>()),
        ) else {
            return Ok(());
        };
        for i in 0..b.num_rows() {
            if step.is_null(i) || !value.value(i).is_finite() {
                continue;
            }
            out.entry(trial.value(i).to_string())
                .or_default()
                .entry(metric.value(i).to_string())
                .or_default()
                .push(serde_json::json!([step.value(i), value.value(i)]));
        }
        Ok(())
    })?;
    Ok(serde_json::to_value(out).unwrap_or_default())
}

/// A version of a model as [`ModelVersion`], read from its folder; its curves (a read of the
/// figures dataset) only `with_curves`.
async fn model_version(app: &App, at: &VersionPath, with_curves: bool) -> ApiResult<ModelVersion> {
    let record = resolve(app, &at.pipeline, &at.task, Some(&at.version)).await?;
    let aliases: Vec<String> = app
        .store
        .aliases(Some(&at.pipeline), Some(&at.task), false)
        .await?
        .into_iter()
        .filter(|a| a.version == record.version)
        .map(|a| a.alias)
        .collect();
    let name = format!("{}.{}", at.pipeline, at.task);
    let model = app.models.get(&name, &record).await?;
    tokio::task::spawn_blocking(move || -> ApiResult<ModelVersion> {
        let dir = PathBuf::from(&record.path);
        let model_dir = dir.join(MODEL_DIR);
        let state = TrainState::of_version(record.state.as_deref())
            .ok_or_else(|| ApiError::Internal(format!("{name}: the version has no model state")))?;
        let trials = sluice_ml::tracking::read_trials(&model_dir);
        let evaluation = sluice_ml::tracking::read_evaluation(&model_dir);
        let created = chrono::DateTime::from_timestamp_micros(record.created_at)
            .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
            .unwrap_or_default();
        let card = sluice_ml::card::Card {
            name: &name,
            version: &record.version,
            created: &created,
            run_id: &record.run_id,
            aliases: &aliases,
            state: &state,
            model: &model,
            trials: &trials,
            evaluation: evaluation.as_ref(),
        }
        .markdown();
        Ok(ModelVersion {
            model: name.clone(),
            version: record.version.clone(),
            created_at: record.created_at,
            run_id: record.run_id.clone(),
            latest: record.latest_since.is_some(),
            aliases: aliases.clone(),
            state: serde_json::to_value(&state).unwrap_or_default(),
            spec: serde_json::to_value(&model.spec).unwrap_or_default(),
            features: serde_json::to_value(&model.features.columns).unwrap_or_default(),
            label: model.label.as_ref().map(|l| l.name().to_string()),
            classes: model
                .label
                .as_ref()
                .and_then(|l| l.classes())
                .map(<[String]>::to_vec),
            trials: serde_json::to_value(&trials).unwrap_or_default(),
            curves: if with_curves {
                curves(&dir).map_err(|e| ApiError::Internal(format!("{name}: {}", e.message)))?
            } else {
                Value::Null
            },
            evaluation: serde_json::to_value(&evaluation).unwrap_or_default(),
            card,
        })
    })
    .await
    .map_err(|e| ApiError::Internal(e.to_string()))?
}

/// `GET /api/models/{pipeline}/{task}/versions/{version}`: one version of a model — its
/// trials, training curves, confusion matrices and card.
#[utoipa::path(get, path = "/api/models/{pipeline}/{task}/versions/{version}", tag = "models",
    params(VersionPath), responses(
    (status = 200, description = "The version.", body = ModelVersion),
    (status = 404, description = "No such model or version.", body = ErrorBody),
))]
pub async fn version(
    State(app): State<App>,
    Path(at): Path<VersionPath>,
) -> ApiResult<Json<ModelVersion>> {
    Ok(Json(model_version(&app, &at, true).await?))
}

/// `GET /api/models/{pipeline}/{task}/versions/{version}/card`: the version's model card, as
/// Markdown.
#[utoipa::path(get, path = "/api/models/{pipeline}/{task}/versions/{version}/card", tag = "models",
    params(VersionPath), responses(
    (status = 200, description = "The card.", body = String, content_type = "text/markdown"),
    (status = 404, description = "No such model or version.", body = ErrorBody),
))]
pub async fn card(
    State(app): State<App>,
    Path(at): Path<VersionPath>,
) -> ApiResult<axum::response::Response> {
    use axum::response::IntoResponse;
    let v = model_version(&app, &at, false).await?;
    let file = format!("attachment; filename=\"{}-{}.md\"", v.model, v.version);
    Ok((
        [
            (
                axum::http::header::CONTENT_TYPE,
                "text/markdown; charset=utf-8".to_string(),
            ),
            (axum::http::header::CONTENT_DISPOSITION, file),
        ],
        v.card,
    )
        .into_response())
}
