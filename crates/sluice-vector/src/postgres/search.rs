//! Nearest rows of a PostgreSQL table by cosine distance (pgvector's `<=>`, served by its
//! HNSW index), optionally filtered by a SQL predicate.

use tokio_postgres::Client;

use super::{db_err, quote_ident};
use crate::{Error, Result};

/// A search in a table.
#[derive(Debug, Clone)]
pub struct TableQuery {
    /// The table, as written in SQL (`schema.table` or `table`; quoted where needed).
    pub table: String,
    /// The vector column.
    pub column: String,
    /// The query vector.
    pub vector: Vec<f32>,
    /// Rows wanted.
    pub k: usize,
    /// A SQL predicate on the table's columns.
    pub filter: Option<String>,
    /// `hnsw.ef_search` (pgvector's default is 40).
    pub ef_search: Option<u32>,
}

/// The `k` nearest rows: (cosine similarity, the row as JSON without the vector column).
pub async fn search_table(
    client: &Client,
    query: &TableQuery,
) -> Result<Vec<(f32, serde_json::Map<String, serde_json::Value>)>> {
    if query.k == 0 {
        return Err(Error::new("`k` must be at least 1"));
    }
    if let Some(ef) = query.ef_search {
        client
            .batch_execute(&format!("SET hnsw.ef_search = {}", ef.clamp(1, 1000)))
            .await
            .map_err(db_err("setting hnsw.ef_search"))?;
    }
    let vector = format!(
        "[{}]",
        query
            .vector
            .iter()
            .map(|v| v.to_string())
            .collect::<Vec<_>>()
            .join(",")
    );
    let column = quote_ident(&query.column);
    let filter = query
        .filter
        .as_ref()
        .map(|f| format!("WHERE ({f})"))
        .unwrap_or_default();
    let sql = format!(
        "SELECT (1 - (t.{column} <=> $1::text::vector))::float4, \
         (to_jsonb(t) - $2::text)::text FROM {} t {filter} \
         ORDER BY t.{column} <=> $1::text::vector LIMIT {}",
        query.table, query.k
    );
    let rows = client
        .query(&sql, &[&vector, &query.column])
        .await
        .map_err(db_err(&format!("searching {}", query.table)))?;
    rows.iter()
        .map(|r| {
            let score: f32 = r.get(0);
            let text: String = r.get(1);
            let values = serde_json::from_str(&text)
                .map_err(|e| Error::new(format!("a row of {} as JSON: {e}", query.table)))?;
            Ok((score, values))
        })
        .collect()
}
