//! Datasets: the latest versions, one dataset's versions, schema and first rows, and the
//! lineage of the folder's pipelines.

use std::collections::BTreeMap;
use std::path::PathBuf;

use axum::Json;
use axum::extract::{Path, Query, State};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sluice_store::DatasetVersionRecord;

use crate::App;
use crate::error::{ApiError, ApiResult, ErrorBody};

/// `GET /api/datasets`.
#[utoipa::path(get, path = "/api/datasets", tag = "datasets", responses(
    (status = 200, description = "The latest version of every dataset.", body = Vec<DatasetVersionRecord>),
))]
pub async fn datasets(State(app): State<App>) -> ApiResult<Json<Vec<DatasetVersionRecord>>> {
    Ok(Json(app.store.latest_datasets(None).await?))
}

/// The latest version of dataset `name` (`pipeline.task`).
pub(crate) async fn latest(app: &App, name: &str) -> ApiResult<DatasetVersionRecord> {
    let (pipeline, task) = name.split_once('.').ok_or_else(|| {
        ApiError::BadRequest(format!(
            "name the dataset as `pipeline.task` (see GET /api/datasets), not `{name}`"
        ))
    })?;
    let record = app
        .store
        .latest_datasets(Some(pipeline))
        .await?
        .into_iter()
        .find(|d| d.task == task)
        .ok_or_else(|| ApiError::NotFound(format!("no dataset `{name}`")))?;
    here(app, record).await
}

/// `record` with its path this server's copy of the version: with the warehouse in an
/// object store, downloaded when missing.
pub(crate) async fn here(
    app: &App,
    mut record: DatasetVersionRecord,
) -> ApiResult<DatasetVersionRecord> {
    let warehouse = app.engine.warehouse();
    if warehouse.remote().is_some() {
        let dir = warehouse
            .fetch_recorded(
                std::path::Path::new(&record.path),
                &record.pipeline,
                &record.task,
            )
            .await
            .map_err(|e| {
                ApiError::Unavailable(format!("{}.{}: {e}", record.pipeline, record.task))
            })?;
        record.path = dir.display().to_string();
    }
    Ok(record)
}

/// Options of the dataset route.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DatasetQuery {
    /// Rows of the preview (default 20, at most 500).
    pub rows: Option<u32>,
}

/// `GET /api/datasets/{pipeline}/{task}`: every version (oldest first: rows, bytes, run), the
/// latest one's schema and its first rows (vectors left out).
#[utoipa::path(get, path = "/api/datasets/{pipeline}/{task}", tag = "datasets",
    params(
        ("pipeline" = String, Path, description = "The pipeline that writes it."),
        ("task" = String, Path, description = "The task that writes it."),
        DatasetQuery,
    ),
    responses(
        (status = 200, description = "The dataset.", body = DatasetDetail),
        (status = 400, description = "`rows` is not a number.", body = ErrorBody),
        (status = 404, description = "No such dataset.", body = ErrorBody),
))]
pub async fn dataset(
    State(app): State<App>,
    Path((pipeline, task)): Path<(String, String)>,
    Query(q): Query<DatasetQuery>,
) -> ApiResult<Json<DatasetDetail>> {
    let name = format!("{pipeline}.{task}");
    let record = latest(&app, &name).await?;
    let mut versions = app
        .store
        .dataset_versions(Some(&pipeline), Some(&task))
        .await?;
    versions.sort_by_key(|v| v.created_at);
    let schema: Vec<Column> = serde_json::from_str(&record.schema).unwrap_or_default();
    let n = q.rows.unwrap_or(20).min(500).min(record.rows as u32);
    let dir = PathBuf::from(&record.path);
    let preview = tokio::task::spawn_blocking(move || {
        sluice_vector::search::fetch_rows(&dir, &(0..n).collect::<Vec<u32>>())
    })
    .await
    .map_err(|e| ApiError::Internal(e.to_string()))?
    .map_err(|e| ApiError::Internal(format!("{name}: {e}")))?;
    let versions = versions
        .iter()
        .map(|v| VersionSummary {
            version: v.version.clone(),
            rows: v.rows,
            bytes: v.bytes,
            run_id: v.run_id.clone(),
            created_at: v.created_at,
            latest: v.latest_since.is_some(),
        })
        .collect();
    Ok(Json(DatasetDetail {
        dataset: name,
        latest: record,
        schema,
        versions,
        preview,
    }))
}

/// One dataset.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DatasetDetail {
    /// Its name, `pipeline.task`.
    pub dataset: String,
    /// Its latest version.
    pub latest: DatasetVersionRecord,
    /// The latest version's columns.
    pub schema: Vec<Column>,
    /// Every version, oldest first.
    pub versions: Vec<VersionSummary>,
    /// The latest version's first rows, by column (vector columns left out).
    #[schema(value_type = Vec<Object>)]
    pub preview: Vec<serde_json::Map<String, Value>>,
}

/// A column of a dataset.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Column {
    /// Its name.
    pub name: String,
    /// Its Arrow type (`Int64`, `Utf8`, `FixedSizeList(384 x non-null Float32)`…).
    #[serde(rename = "type")]
    pub kind: String,
    /// Whether it may hold nulls.
    pub nullable: bool,
}

/// A version of a dataset.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct VersionSummary {
    /// Its id.
    pub version: String,
    /// Its rows.
    pub rows: u64,
    /// The size of its files.
    pub bytes: u64,
    /// The run that wrote it.
    pub run_id: String,
    /// When it was written (µs since the Unix epoch).
    pub created_at: i64,
    /// Whether it is the latest.
    pub latest: bool,
}

/// `GET /api/lineage`: the datasets of the folder's pipelines and the tasks that read and
/// wrote them: a node per task (`pipeline.task`, with its latest version and rows), an edge
/// from each task to each task that reads its output, and from each dataset a pipeline runs
/// on (`on_new_version`) to that pipeline's first tasks (`"trigger": true`).
#[utoipa::path(get, path = "/api/lineage", tag = "datasets", responses(
    (status = 200, description = "The graph of tasks and datasets.", body = Lineage),
))]
pub async fn lineage(State(app): State<App>) -> ApiResult<Json<Lineage>> {
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
            for &d in &t.deps {
                edges.push(LineageEdge {
                    from: format!("{}.{}", p.name, p.tasks[d].name),
                    to: id.clone(),
                    trigger: false,
                });
            }
            if t.deps.is_empty() {
                for dataset in &p.on_new_version {
                    edges.push(LineageEdge {
                        from: dataset.clone(),
                        to: id.clone(),
                        trigger: true,
                    });
                }
            }
            nodes.push(LineageNode {
                id,
                pipeline: p.name.clone(),
                task: t.name.clone(),
                dataset: version.is_some(),
                version: version.map(|v| v.version.clone()),
                rows: version.map(|v| v.rows),
                run_id: version.map(|v| v.run_id.clone()),
            });
        }
    }
    Ok(Json(Lineage { nodes, edges }))
}

/// Which task wrote each dataset and which tasks read it.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Lineage {
    /// A node per task of every valid pipeline.
    pub nodes: Vec<LineageNode>,
    /// Who reads whom.
    pub edges: Vec<LineageEdge>,
}

/// A task and its dataset.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LineageNode {
    /// `pipeline.task`.
    pub id: String,
    /// The pipeline.
    pub pipeline: String,
    /// The task.
    pub task: String,
    /// Whether the task has written a dataset.
    pub dataset: bool,
    /// Its latest version.
    pub version: Option<String>,
    /// The latest version's rows.
    pub rows: Option<u64>,
    /// The run that wrote the latest version.
    pub run_id: Option<String>,
}

/// An edge of the lineage graph.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LineageEdge {
    /// The task (`pipeline.task`) or dataset read.
    pub from: String,
    /// The task that reads it.
    pub to: String,
    /// True when a new version of `from` starts `to`'s pipeline (`on_new_version`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub trigger: bool,
}
