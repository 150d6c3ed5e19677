//! Vector search over a dataset folder, the same call for the CLI and the server: the
//! embedded index of its vector column (built on first use and kept beside the Parquet
//! files), an optional SQL predicate on its other columns, and the matching rows as JSON.

use std::path::{Path, PathBuf};

use sluice_data::datafusion::arrow::array::{Array, AsArray, BooleanArray, RecordBatch};
use sluice_data::datafusion::arrow::datatypes::{DataType, Float32Type, Schema};
use sluice_data::datafusion::common::DFSchema;

use crate::index::{GraphBuild, Metric, Params, Update, VectorIndex};
use crate::{Error, Result};

/// How a dataset's vectors were made, kept by `embed` with the dataset (its state, under
/// `"embedding"`), so that a search embeds its query the same way.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct VectorSource {
    /// The vector column.
    pub column: String,
    /// The model's name (or path, as written in the pipeline).
    pub model: String,
    /// The local model's folder, absolute.
    pub model_dir: Option<PathBuf>,
    /// The OpenAI-compatible endpoint, for a remote model.
    pub endpoint: Option<String>,
    /// The environment variable holding its API key.
    pub api_key_env: Option<String>,
    /// What was put before each text (`"passage: "`).
    pub prefix: String,
    /// The precision a local model's products ran at (`f32`, `bf16`, `int8`); none for a
    /// remote model or a dataset embedded before precisions existed (f32).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub precision: Option<String>,
}

impl VectorSource {
    /// The prefix for queries: e5's `"query: "` for `"passage: "` documents, else the
    /// documents' own.
    pub fn query_prefix(&self) -> String {
        if self.prefix == "passage: " {
            "query: ".into()
        } else {
            self.prefix.clone()
        }
    }

    /// The precision to embed queries at: the documents' own where this CPU runs it, else
    /// none (the model's `auto`), so that a dataset embedded on another CPU stays searchable.
    pub fn query_precision(&self) -> Option<String> {
        self.precision
            .clone()
            .filter(|p| sluice_embed::Precision::choose(Some(p)).is_ok())
    }

    /// Reads it from a dataset's state.
    pub fn from_state(state: &serde_json::Value) -> Option<VectorSource> {
        serde_json::from_value(state.get("embedding")?.clone()).ok()
    }
}

/// A search.
#[derive(Debug, Clone)]
pub struct Query {
    /// The dataset folder.
    pub dataset: PathBuf,
    /// Its vector column.
    pub column: String,
    /// The query's vector (from the dataset's model).
    pub vector: Vec<f32>,
    /// Rows wanted.
    pub k: usize,
    /// A SQL predicate on the dataset's columns (`theme = 'Logement'`).
    pub filter: Option<String>,
    /// Candidates explored in the graph (at least `k`).
    pub ef: usize,
}

/// One result.
#[derive(Debug, Clone, PartialEq)]
pub struct Found {
    /// Cosine similarity (1 is the same direction).
    pub score: f32,
    /// Row number in the dataset, from 0.
    pub row: u32,
    /// The row's columns, vectors left out.
    pub values: serde_json::Map<String, serde_json::Value>,
}

/// The file of the index of `column` in a dataset folder.
pub fn index_path(dataset: &Path, column: &str) -> PathBuf {
    dataset.join(format!("{column}.cosine.hnsw"))
}

/// The vector columns of a schema (fixed-size lists of floats).
pub fn vector_columns(schema: &Schema) -> Vec<String> {
    schema
        .fields()
        .iter()
        .filter(|f| crate::is_vector(f.data_type()))
        .map(|f| f.name().clone())
        .collect()
}

/// Reads the vectors of `column` and builds their index.
pub fn build_index(dataset: &Path, column: &str, params: Params) -> Result<VectorIndex> {
    let (dim, vectors) = read_vectors(dataset, column)?;
    VectorIndex::build(dim, Metric::Cosine, params, vectors)
}

/// Reads the vectors of `column` and makes their index from `previous`, the index file of
/// an earlier version of the dataset ([`VectorIndex::update`]): only the vectors that are
/// new are inserted. Without a readable `previous` the index is built whole.
pub fn update_index(
    dataset: &Path,
    column: &str,
    previous: Option<&Path>,
    params: Params,
) -> Result<(VectorIndex, Update)> {
    let (dim, vectors) = read_vectors(dataset, column)?;
    // An unreadable previous index (older format, damaged) only costs a whole build.
    match previous.and_then(|p| VectorIndex::load(p).ok()) {
        Some(old) => VectorIndex::update(&old, dim, Metric::Cosine, params, vectors),
        None => {
            let index = VectorIndex::build(dim, Metric::Cosine, params, vectors)?;
            let update = Update {
                kept: 0,
                inserted: index.vector_count(),
                removed: 0,
                graph: if index.has_graph() {
                    GraphBuild::Whole("no index of a previous version")
                } else {
                    GraphBuild::None
                },
            };
            Ok((index, update))
        }
    }
}

/// The vector length of `column` and its vectors, in row order (`None`: a null).
pub fn read_vectors(dataset: &Path, column: &str) -> Result<(usize, Vec<Option<Vec<f32>>>)> {
    let schema = sluice_data::export::dataset_schema(dataset)?;
    let dim = match schema
        .field_with_name(column)
        .map(|f| f.data_type().clone())
    {
        Ok(ref dt @ DataType::FixedSizeList(_, n)) if crate::is_vector(dt) => n as usize,
        _ => {
            return Err(Error::new(format!(
                "the dataset has no vector column `{column}` (vector columns: {})",
                display_list(&vector_columns(&schema))
            )));
        }
    };
    let mut vectors: Vec<Option<Vec<f32>>> = Vec::new();
    let position = schema
        .index_of(column)
        .map_err(|e| Error::new(e.to_string()))?;
    // Only the vector column is decoded.
    sluice_data::export::for_each_batch_of(dataset, Some(&[position]), |_, batch| {
        let list = sluice_data::datafusion::arrow::compute::cast(
            batch.column(0),
            &crate::f32_vector_type(dim),
        )?;
        let list = list.as_fixed_size_list();
        for r in 0..list.len() {
            vectors.push((!list.is_null(r)).then(|| {
                list.value(r)
                    .as_primitive::<Float32Type>()
                    .values()
                    .to_vec()
            }));
        }
        Ok(())
    })?;
    Ok((dim, vectors))
}

/// The index of `column`: the saved one, or built now and saved beside the dataset.
pub fn open_index(dataset: &Path, column: &str) -> Result<VectorIndex> {
    let path = index_path(dataset, column);
    if path.is_file() {
        let index = VectorIndex::load(&path)?;
        let rows = sluice_data::export::dataset_rows(dataset)?;
        if index.len() as u64 == rows {
            return Ok(index);
        }
    }
    let index = build_index(dataset, column, Params::default())?;
    // A read-only folder still gets its search, just without the saved index.
    let _ = index.save(&path);
    Ok(index)
}

fn display_list(names: &[String]) -> String {
    if names.is_empty() {
        "none".into()
    } else {
        names.join(", ")
    }
}

/// Which rows satisfy `predicate` (SQL, on the dataset's columns), in row order.
pub fn filter_rows(dataset: &Path, predicate: &str) -> Result<Vec<bool>> {
    let schema = sluice_data::export::dataset_schema(dataset)?;
    let df_schema = DFSchema::try_from(schema.as_ref().clone())
        .map_err(|e| Error::new(format!("`--where`: {e}")))?;
    let ctx = sluice_data::session::session();
    let expr = ctx
        .parse_sql_expr(predicate, &df_schema)
        .map_err(|e| Error::new(format!("`--where {predicate}`: {e}")))?;
    // Only the columns the condition names are read.
    let named: Vec<String> = expr.column_refs().iter().map(|c| c.name.clone()).collect();
    let mut columns: Vec<usize> = (0..schema.fields().len())
        .filter(|&i| named.contains(schema.field(i).name()))
        .collect();
    if columns.is_empty() {
        columns.push(0); // a condition on no column still needs the row count
    }
    let projected = DFSchema::try_from(
        schema
            .project(&columns)
            .map_err(|e| Error::new(e.to_string()))?,
    )
    .map_err(|e| Error::new(format!("`--where`: {e}")))?;
    let physical = ctx
        .create_physical_expr(expr, &projected)
        .map_err(|e| Error::new(format!("`--where {predicate}`: {e}")))?;
    let mut allowed = Vec::new();
    sluice_data::export::for_each_batch_of(dataset, Some(&columns), |_, batch| {
        let value = physical.evaluate(&batch)?.into_array(batch.num_rows())?;
        let mask = value
            .as_any()
            .downcast_ref::<BooleanArray>()
            .ok_or_else(|| {
                sluice_data::DataError::Engine(format!(
                    "`--where {predicate}` is not a condition (it gives {})",
                    value.data_type()
                ))
            })?;
        allowed.extend((0..mask.len()).map(|i| mask.is_valid(i) && mask.value(i)));
        Ok(())
    })?;
    Ok(allowed)
}

/// The rows at `rows` (in that order), vector columns left out, as JSON objects: only the
/// row groups holding them are read.
pub fn fetch_rows(
    dataset: &Path,
    rows: &[u32],
) -> Result<Vec<serde_json::Map<String, serde_json::Value>>> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    // Vectors are not decoded: they are most of the bytes and are not shown.
    let schema = sluice_data::export::dataset_schema(dataset)?;
    let keep: Vec<usize> = schema
        .fields()
        .iter()
        .enumerate()
        .filter(|(_, f)| !crate::is_vector(f.data_type()))
        .map(|(i, _)| i)
        .collect();
    let wanted: Vec<u64> = rows.iter().map(|&r| u64::from(r)).collect();
    let batch = sluice_data::export::take_rows(dataset, Some(&keep), &wanted)?;
    to_json(&batch)
}

fn to_json(batch: &RecordBatch) -> Result<Vec<serde_json::Map<String, serde_json::Value>>> {
    use sluice_data::datafusion::arrow::json::{WriterBuilder, writer::LineDelimited};
    let mut buf = Vec::new();
    {
        let mut w = WriterBuilder::new()
            .with_explicit_nulls(true)
            .build::<_, LineDelimited>(&mut buf);
        w.write(batch)
            .map_err(|e| Error::new(format!("rows as JSON: {e}")))?;
        w.finish()
            .map_err(|e| Error::new(format!("rows as JSON: {e}")))?;
    }
    buf.split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).map_err(|e| Error::new(format!("rows as JSON: {e}"))))
        .collect()
}

/// Runs a search.
pub fn search(query: &Query) -> Result<Vec<Found>> {
    if query.k == 0 {
        return Err(Error::new("`k` must be at least 1"));
    }
    search_in(query, &open_index(&query.dataset, &query.column)?)
}

/// Runs a search with the dataset's index already open.
pub fn search_in(query: &Query, index: &VectorIndex) -> Result<Vec<Found>> {
    if query.k == 0 {
        return Err(Error::new("`k` must be at least 1"));
    }
    let allowed = match &query.filter {
        Some(p) => Some(filter_rows(&query.dataset, p)?),
        None => None,
    };
    let hits = index.search(&query.vector, query.k, query.ef, allowed.as_deref())?;
    let rows: Vec<u32> = hits.iter().map(|h| h.row).collect();
    let values = fetch_rows(&query.dataset, &rows)?;
    Ok(hits
        .iter()
        .zip(values)
        .map(|(h, values)| Found {
            score: 1.0 - h.distance,
            row: h.row,
            values,
        })
        .collect())
}

/// Indexes opened once and kept, by dataset folder and column (a version's folder never
/// changes): what a server holds so that each search does not read its index again. At
/// most [`Indexes::KEPT`] are kept.
#[derive(Debug, Default)]
pub struct Indexes {
    open:
        std::sync::Mutex<std::collections::HashMap<(PathBuf, String), std::sync::Arc<VectorIndex>>>,
}

impl Indexes {
    /// Indexes kept at most; past it, one is dropped.
    pub const KEPT: usize = 16;

    /// The index of `column` in `dataset`, opened on first use ([`open_index`]).
    pub fn get(&self, dataset: &Path, column: &str) -> Result<std::sync::Arc<VectorIndex>> {
        let key = (dataset.to_path_buf(), column.to_string());
        if let Some(i) = self.open.lock().ok().and_then(|o| o.get(&key).cloned()) {
            return Ok(i);
        }
        let index = std::sync::Arc::new(open_index(dataset, column)?);
        if let Ok(mut open) = self.open.lock() {
            if open.len() >= Self::KEPT
                && let Some(k) = open.keys().next().cloned()
            {
                open.remove(&k);
            }
            open.insert(key, index.clone());
        }
        Ok(index)
    }
}
