//! Search by text: the query embedded with the model a dataset records (`embed` keeps it in
//! the dataset's state), then the nearest rows from its embedded index or from the
//! PostgreSQL table it was loaded into. The one call behind `sluice search` and the server's
//! `POST /api/search`.

use std::path::PathBuf;

use serde_json::{Map, Value};
use sluice_embed::{ModelSpec, Models};

use crate::search::{Indexes, Query, VectorSource, search_in, vector_columns};

/// A search by text over one dataset.
#[derive(Debug, Clone)]
pub struct TextQuery {
    /// The dataset's name (`pipeline.task`), for messages.
    pub name: String,
    /// Its folder (the latest version).
    pub dir: PathBuf,
    /// Its state as recorded (JSON), where `embed` keeps its model.
    pub state: Option<Value>,
    /// The text.
    pub text: String,
    /// Rows wanted.
    pub k: usize,
    /// A SQL predicate on the dataset's other columns.
    pub filter: Option<String>,
    /// The vector column (default: the one `embed` wrote, or the only one).
    pub column: Option<String>,
    /// The model to embed the query with (default: the one recorded).
    pub model: Option<String>,
    /// Candidates explored in the graph (`hnsw.ef_search` in PostgreSQL).
    pub ef: usize,
    /// Search this PostgreSQL table instead of the embedded index.
    pub postgres: Option<Table>,
}

impl TextQuery {
    /// A search for `text` in the dataset `name` whose latest version is in `dir`, with the
    /// state recorded for it (JSON text, as the store keeps it): 10 rows, `ef` 128, no filter.
    pub fn new(name: &str, dir: PathBuf, state: Option<&str>, text: String) -> TextQuery {
        TextQuery {
            name: name.to_string(),
            dir,
            state: state.and_then(|s| serde_json::from_str(s).ok()),
            text,
            k: 10,
            filter: None,
            column: None,
            model: None,
            ef: 128,
            postgres: None,
        }
    }
}

/// A table loaded from the dataset.
#[derive(Debug, Clone)]
pub struct Table {
    /// As written in SQL (`schema.table`).
    pub table: String,
    /// The server's URL.
    pub url: String,
}

/// What a search found.
#[derive(Debug, Clone)]
pub struct Answer {
    /// The vector column searched.
    pub column: String,
    /// The dataset's columns in order, vectors left out.
    pub columns: Vec<String>,
    /// The rows, best first, with their cosine similarity.
    pub hits: Vec<(f32, Map<String, Value>)>,
    /// Seconds spent embedding the query (opening the model included, on its first use).
    pub embed_seconds: f64,
    /// Seconds spent searching: the filter, the index (or PostgreSQL) and the rows' values.
    pub search_seconds: f64,
}

/// What searches keep between calls: the models that embed queries and the indexes
/// searched. A server holds one; a single search uses a fresh one.
#[derive(Debug, Default)]
pub struct Cache {
    /// Embedding models, by spec.
    pub models: Models,
    /// Vector indexes, by dataset version and column.
    pub indexes: std::sync::Arc<Indexes>,
}

/// Why a search failed.
#[derive(Debug, thiserror::Error)]
pub enum TextSearchError {
    /// The query, the dataset or the model is not usable as asked.
    #[error("{0}")]
    Invalid(String),
    /// A server, file or thread the search needs is not available.
    #[error("{0}")]
    Unavailable(String),
}

/// Runs a search, opening the dataset's model and index through `cache` (kept there for the
/// next).
pub async fn search_text(q: &TextQuery, cache: &Cache) -> Result<Answer, TextSearchError> {
    use TextSearchError::{Invalid, Unavailable};
    let recorded = q.state.as_ref().and_then(VectorSource::from_state);
    let schema = sluice_data::export::dataset_schema(&q.dir)
        .map_err(|e| Unavailable(format!("{}: {e}", q.name)))?;
    let vectors = vector_columns(&schema);
    let column = match (&q.column, &recorded) {
        (Some(c), _) => c.clone(),
        (None, Some(r)) => r.column.clone(),
        (None, None) if vectors.len() == 1 => vectors[0].clone(),
        (None, None) => {
            return Err(Invalid(format!(
                "{} has {} vector columns ({}): choose one with --column (`column` in the API)",
                q.name,
                vectors.len(),
                vectors.join(", ")
            )));
        }
    };
    let (spec, prefix) = match (&q.model, &recorded) {
        (Some(m), _) => (ModelSpec::new(m.clone()), String::new()),
        (None, Some(r)) => (
            ModelSpec {
                endpoint: r.endpoint.clone(),
                api_key_env: r.api_key_env.clone(),
                batch_size: 1,
                precision: r.query_precision(),
                ..ModelSpec::new(
                    r.model_dir
                        .as_ref()
                        .map(|d| d.display().to_string())
                        .unwrap_or_else(|| r.model.clone()),
                )
            },
            r.query_prefix(),
        ),
        (None, None) => {
            return Err(Invalid(format!(
                "{} records no embedding model (it was not written by `embed`): give the one \
                 its vectors come from with --model (`model` in the API)",
                q.name
            )));
        }
    };
    let started = std::time::Instant::now();
    let embedder = cache
        .models
        .get(&spec)
        .await
        .map_err(|e| Invalid(e.to_string()))?;
    let vector = embedder
        .embed_one(&format!("{prefix}{}", q.text))
        .await
        .map_err(|e| Invalid(format!("embedding the query: {e}")))?;
    let embed_seconds = started.elapsed().as_secs_f64();
    let started = std::time::Instant::now();
    let hits = match &q.postgres {
        Some(t) => {
            let client =
                crate::postgres::connect(&crate::postgres::ConnectOptions::new(t.url.clone()))
                    .await
                    .map_err(|e| Unavailable(e.to_string()))?;
            let query = crate::postgres::search::TableQuery {
                table: t.table.clone(),
                column: column.clone(),
                vector,
                k: q.k,
                filter: q.filter.clone(),
                ef_search: Some(q.ef.min(u32::MAX as usize) as u32),
            };
            crate::postgres::search::search_table(&client, &query)
                .await
                .map_err(|e| Invalid(e.to_string()))?
        }
        None => {
            let query = Query {
                dataset: q.dir.clone(),
                column: column.clone(),
                vector,
                k: q.k,
                filter: q.filter.clone(),
                ef: q.ef,
            };
            let indexes = cache.indexes.clone();
            tokio::task::spawn_blocking(move || {
                search_in(&query, &*indexes.get(&query.dataset, &query.column)?)
            })
            .await
            .map_err(|e| Unavailable(format!("the search thread failed: {e}")))?
            .map_err(|e| Invalid(e.to_string()))?
            .into_iter()
            .map(|f| (f.score, f.values))
            .collect()
        }
    };
    let columns = schema
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .filter(|n| !vectors.contains(n))
        .collect();
    Ok(Answer {
        column,
        columns,
        hits,
        embed_seconds,
        search_seconds: started.elapsed().as_secs_f64(),
    })
}
