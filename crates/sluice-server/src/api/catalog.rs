//! The catalog: datasets found by name, description, column or tag, and each dataset's
//! descriptions, owners, tags, column docs and lineage (dataset and column level, upstream
//! and downstream), from what every task's latest success recorded (`sluice-lineage`).

use axum::Json;
use axum::extract::{Path, Query, State};
use serde::{Deserialize, Serialize};
use sluice_lineage::catalog::Catalog;
use sluice_lineage::graph::{Graph, Step};

use crate::App;
use crate::error::{ApiError, ApiResult, ErrorBody};

/// Options of the catalog search.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CatalogQuery {
    /// Words to find in a dataset's name, description, owners, tags, column names or column
    /// descriptions (every word must match; none: every dataset).
    pub q: Option<String>,
}

/// A dataset of the catalog.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CatalogEntry {
    /// `pipeline.task`.
    pub dataset: String,
    /// What it holds.
    pub description: Option<String>,
    /// Who answers for it.
    pub owners: Vec<String>,
    /// Its tags.
    pub tags: Vec<String>,
    /// Its columns with what is said of them.
    pub columns: Vec<ColumnEntry>,
    /// The latest version's rows, when it has one.
    pub rows: Option<u64>,
    /// Where the words were found (`name`, `description`, `column journal`, `tag gold`…).
    pub matched: Vec<String>,
}

/// A column of a catalog dataset.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ColumnEntry {
    /// Its name.
    pub name: String,
    /// Its type, where known.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// What it holds.
    pub description: Option<String>,
    /// Its tags.
    pub tags: Vec<String>,
    /// It holds personal data.
    pub pii: bool,
}

async fn load(app: &App) -> ApiResult<Catalog> {
    Catalog::load(app.store.as_ref(), None)
        .await
        .map_err(ApiError::Internal)
}

/// The catalog's datasets (those a task wrote and recorded), with their docs.
fn entries(catalog: &Catalog) -> Vec<CatalogEntry> {
    catalog
        .tasks
        .iter()
        .filter(|t| t.output.is_some())
        .map(|t| {
            let name = format!("{}.{}", t.meta.pipeline, t.meta.task);
            let latest = catalog.datasets.get(&name);
            let schema = latest
                .map(|d| d.schema.clone())
                .or_else(|| t.dataset.as_ref().map(|d| d.schema.clone()))
                .unwrap_or_default();
            let docs = &t.meta.docs;
            let columns = sluice_op::lineage::schema_fields(&schema)
                .into_iter()
                .map(|f| {
                    let doc = docs.columns.get(&f.name);
                    ColumnEntry {
                        description: doc.and_then(|d| d.description.clone()),
                        tags: doc.map(|d| d.tags.clone()).unwrap_or_default(),
                        pii: doc.is_some_and(|d| d.pii),
                        kind: Some(f.data_type),
                        name: f.name,
                    }
                })
                .collect();
            CatalogEntry {
                dataset: name,
                description: t.meta.description.clone(),
                owners: docs.owners.clone(),
                tags: docs.tags.clone(),
                columns,
                rows: latest.map(|d| d.rows),
                matched: Vec::new(),
            }
        })
        .collect()
}

/// Where each of `words` is found in `e`; `None` when one is found nowhere.
fn matches(e: &CatalogEntry, words: &[String]) -> Option<Vec<String>> {
    let has = |text: &str, w: &str| text.to_lowercase().contains(w);
    let mut found = Vec::new();
    for w in words {
        let mut here = Vec::new();
        if has(&e.dataset, w) {
            here.push("name".to_string());
        }
        if e.description.as_deref().is_some_and(|d| has(d, w)) {
            here.push("description".into());
        }
        here.extend(
            e.owners
                .iter()
                .filter(|o| has(o, w))
                .map(|o| format!("owner {o}")),
        );
        here.extend(
            e.tags
                .iter()
                .filter(|t| has(t, w))
                .map(|t| format!("tag {t}")),
        );
        for c in &e.columns {
            if has(&c.name, w) || c.description.as_deref().is_some_and(|d| has(d, w)) {
                here.push(format!("column {}", c.name));
            }
            here.extend(
                c.tags
                    .iter()
                    .chain(c.pii.then_some(&"pii".to_string()))
                    .filter(|t| has(t, w))
                    .map(|t| format!("column {} tag {t}", c.name)),
            );
        }
        if here.is_empty() {
            return None;
        }
        found.extend(here);
    }
    found.dedup();
    Some(found)
}

/// `GET /api/catalog`: the datasets whose name, description, owners, tags or columns hold
/// every word of `q`, by name.
#[utoipa::path(get, path = "/api/catalog", operation_id = "catalog_search", tag = "datasets", params(CatalogQuery), responses(
    (status = 200, description = "The datasets found.", body = Vec<CatalogEntry>),
))]
pub async fn search(
    State(app): State<App>,
    Query(q): Query<CatalogQuery>,
) -> ApiResult<Json<Vec<CatalogEntry>>> {
    let catalog = load(&app).await?;
    let words: Vec<String> =
        q.q.unwrap_or_default()
            .split_whitespace()
            .map(str::to_lowercase)
            .collect();
    let mut out: Vec<CatalogEntry> = entries(&catalog)
        .into_iter()
        .filter_map(|mut e| {
            e.matched = matches(&e, &words)?;
            Some(e)
        })
        .collect();
    out.sort_by(|a, b| a.dataset.cmp(&b.dataset));
    Ok(Json(out))
}

/// Options of a dataset's lineage.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LineageQuery {
    /// A column: its lineage instead of the dataset's.
    pub column: Option<String>,
    /// At most this many steps each way (default 20).
    pub depth: Option<u32>,
}

/// A dataset's (or a column's) lineage, with what the catalog says of the dataset.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DatasetLineage {
    /// The dataset, with its docs.
    pub entry: CatalogEntry,
    /// The column asked for.
    pub column: Option<String>,
    /// What it comes from, nearest first: `{dataset, column?, how?, kind?, via, depth, to}`.
    #[schema(value_type = Vec<Object>)]
    pub upstream: Vec<Step>,
    /// What it affects, nearest first.
    #[schema(value_type = Vec<Object>)]
    pub downstream: Vec<Step>,
    /// The tasks that read it (`pipeline.task`), with the run of their latest success.
    pub used_by: Vec<UsedBy>,
}

/// A task reading a dataset.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct UsedBy {
    /// `pipeline.task`.
    pub task: String,
    /// Its op.
    pub op: Option<String>,
    /// The run of its latest success.
    pub run_id: String,
    /// Whether it trains a model on it.
    pub model: bool,
}

/// `GET /api/catalog/{pipeline}/{task}`: the dataset's docs, where it (or one column)
/// comes from and what it affects, and the tasks, runs and models that use it.
#[utoipa::path(get, path = "/api/catalog/{pipeline}/{task}", operation_id = "catalog_dataset", tag = "datasets",
    params(
        ("pipeline" = String, Path, description = "The pipeline that writes it."),
        ("task" = String, Path, description = "The task that writes it."),
        LineageQuery,
    ),
    responses(
        (status = 200, description = "The dataset's lineage.", body = DatasetLineage),
        (status = 400, description = "`depth` is not a number.", body = ErrorBody),
        (status = 404, description = "No such dataset or column in the lineage recorded.", body = ErrorBody),
))]
pub async fn dataset(
    State(app): State<App>,
    Path((pipeline, task)): Path<(String, String)>,
    Query(q): Query<LineageQuery>,
) -> ApiResult<Json<DatasetLineage>> {
    let catalog = load(&app).await?;
    let name = format!("{pipeline}.{task}");
    let entry = entries(&catalog)
        .into_iter()
        .find(|e| e.dataset == name)
        .ok_or_else(|| {
            ApiError::NotFound(format!(
                "no dataset `{name}` in the lineage recorded (its task has not succeeded since \
                 lineage is recorded)"
            ))
        })?;
    let graph = Graph::of(&catalog);
    if let Some(c) = &q.column
        && !entry.columns.iter().any(|e| &e.name == c)
    {
        return Err(ApiError::NotFound(format!(
            "dataset `{name}` has no column `{c}`"
        )));
    }
    let depth = q.depth.map_or(20, |d| d as usize);
    let column = q.column.as_deref();
    let used_by = catalog
        .tasks
        .iter()
        .filter(|t| t.meta.pipeline == pipeline && t.inputs.iter().any(|(i, _)| *i == task))
        .map(|t| UsedBy {
            task: format!("{}.{}", t.meta.pipeline, t.meta.task),
            op: t.meta.op.clone(),
            run_id: t.run_id.clone(),
            model: t.lineage.model.is_some(),
        })
        .collect();
    Ok(Json(DatasetLineage {
        upstream: graph.walk(&name, column, true, depth),
        downstream: graph.walk(&name, column, false, depth),
        column: q.column,
        entry,
        used_by,
    }))
}
