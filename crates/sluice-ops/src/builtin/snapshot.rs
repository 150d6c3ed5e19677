//! `snapshot`: the history of a query's rows, as dbt's snapshots keep it (type-2 slowly
//! changing dimension). Each run compares the query's rows with the current rows of the
//! previous version by `unique_key`: a changed row is closed (`dbt_valid_to` set) and its new
//! values added; a new key is added; with `invalidate_hard_deletes`, a key gone from the query
//! is closed.

use async_trait::async_trait;
use serde::Deserialize;
use sluice_core::checks::{Columns, quote_ident};
use sluice_data::datafusion::arrow::datatypes::{DataType, TimeUnit};
use sluice_data::session::{register_dataset, table_references};

use super::sql::{check_syntax, input_session, query_failed, write_dataframe};
use crate::{Op, OpError, OpOutput, TaskContext};

/// How a changed row is found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Strategy {
    /// Its `updated_at` column is later than the snapshot's.
    Timestamp,
    /// One of `check_cols` differs.
    Check,
}

/// `check_cols: all` or a list of columns.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum CheckCols {
    /// `all`: every column of the query.
    All(String),
    /// These columns.
    Some(Vec<String>),
}

/// `op: snapshot`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Snapshot {
    /// The query whose rows are tracked.
    pub sql: String,
    /// The column(s) naming a row.
    pub unique_key: Columns,
    /// `timestamp` or `check`.
    pub strategy: Strategy,
    /// With `timestamp`: the column saying when the row last changed.
    #[serde(default)]
    pub updated_at: Option<String>,
    /// With `check`: the columns compared (`all`, or a list).
    #[serde(default)]
    pub check_cols: Option<CheckCols>,
    /// Close the current row of a key the query no longer returns (default false).
    #[serde(default)]
    pub invalidate_hard_deletes: bool,
}

fn invalid(message: String) -> sluice_core::DeError {
    <sluice_core::DeError as serde::de::Error>::custom(message)
}

/// Builds `snapshot`, checking the query and that the strategy has what it needs.
pub fn build_snapshot(config: &sluice_core::Node) -> Result<Box<dyn Op>, sluice_core::DeError> {
    let op: Snapshot = sluice_core::from_node(config)?;
    check_syntax(config, &["sql"], &op.sql)?;
    match (op.strategy, &op.updated_at, &op.check_cols) {
        (Strategy::Timestamp, None, _) => {
            return Err(invalid(
                "strategy `timestamp` needs `updated_at`, the column saying when a row changed"
                    .into(),
            ));
        }
        (Strategy::Check, _, None) => {
            return Err(invalid(
                "strategy `check` needs `check_cols`: `all` or a list of columns".into(),
            ));
        }
        (_, _, Some(CheckCols::All(s))) if s != "all" => {
            return Err(invalid(format!(
                "`check_cols` is `all` or a list of columns, not `{s}`"
            )));
        }
        _ => {}
    }
    Ok(Box::new(op))
}

/// Columns sluice adds, as dbt names them.
pub const META_COLUMNS: [&str; 4] = [
    "dbt_scd_id",
    "dbt_updated_at",
    "dbt_valid_from",
    "dbt_valid_to",
];

#[async_trait]
impl Op for Snapshot {
    async fn run(&self, ctx: &TaskContext) -> Result<OpOutput, OpError> {
        let session = input_session(ctx).await?;
        let source = session.sql(&self.sql).await.map_err(query_failed)?;
        let columns: Vec<(String, DataType)> = source
            .schema()
            .fields()
            .iter()
            .map(|f| (f.name().clone(), f.data_type().clone()))
            .collect();
        if let Some(c) = columns
            .iter()
            .find(|(c, _)| META_COLUMNS.contains(&c.as_str()))
        {
            return Err(OpError::config(format!(
                "the snapshot's query returns a column `{}`, which the snapshot adds itself",
                c.0
            )));
        }
        let names: Vec<&str> = columns.iter().map(|(c, _)| c.as_str()).collect();
        let keys = self.unique_key.names();
        let mut wanted: Vec<&String> = keys.iter().collect();
        wanted.extend(self.updated_at.iter());
        if let Some(CheckCols::Some(cols)) = &self.check_cols {
            wanted.extend(cols);
        }
        if let Some(missing) = wanted.iter().find(|c| !names.contains(&c.as_str())) {
            return Err(OpError::config(format!(
                "the snapshot's query has no column `{missing}` (it has {})",
                names.join(", ")
            )));
        }
        session
            .register_table("__source", source.into_view())
            .map_err(query_failed)?;
        // One instant for the whole run, as dbt's `snapshot_get_time()`.
        let now = format!(
            "CAST('{}' AS TIMESTAMP)",
            chrono::Utc::now()
                .naive_utc()
                .format("%Y-%m-%d %H:%M:%S%.6f")
        );
        let text = |expr: &str, ty: Option<&DataType>| match ty {
            Some(DataType::Timestamp(_, _)) => {
                format!("coalesce(to_char({expr}, '%Y-%m-%d %H:%M:%S%.f'), '')")
            }
            _ => format!("coalesce(CAST({expr} AS VARCHAR), '')"),
        };
        let type_of = |c: &str| columns.iter().find(|(n, _)| n == c).map(|(_, t)| t);
        let (changed_at, changed_at_type) = match self.strategy {
            Strategy::Timestamp => {
                let c = self.updated_at.as_deref().unwrap_or_default();
                (format!("s.{}", quote_ident(c)), type_of(c).cloned())
            }
            Strategy::Check => (
                now.clone(),
                Some(DataType::Timestamp(TimeUnit::Nanosecond, None)),
            ),
        };
        let mut hashed: Vec<String> = keys
            .iter()
            .map(|k| text(&format!("s.{}", quote_ident(k)), type_of(k)))
            .collect();
        hashed.push(text(&changed_at, changed_at_type.as_ref()));
        let scd_id = format!("md5({})", hashed.join(" || '|' || "));
        let source_cols: Vec<String> = names
            .iter()
            .map(|c| format!("s.{}", quote_ident(c)))
            .collect();
        let inserted = format!(
            "SELECT {}, {scd_id} AS dbt_scd_id, {changed_at} AS dbt_updated_at, \
             {changed_at} AS dbt_valid_from, CASE WHEN false THEN {changed_at} END AS dbt_valid_to \
             FROM __source s",
            source_cols.join(", ")
        );
        let (query, mode) = match &ctx.previous {
            None => (inserted, "first run"),
            Some(previous) => {
                register_dataset(&session, "__this", &previous.dir).await?;
                let on = |a: &str, b: &str| {
                    keys.iter()
                        .map(|k| {
                            let k = quote_ident(k);
                            format!("{a}.{k} = {b}.{k}")
                        })
                        .collect::<Vec<_>>()
                        .join(" AND ")
                };
                let changed = match self.strategy {
                    Strategy::Timestamp => format!("{changed_at} > t.dbt_updated_at"),
                    Strategy::Check => {
                        let cols: Vec<&str> = match &self.check_cols {
                            Some(CheckCols::Some(cols)) => {
                                cols.iter().map(String::as_str).collect()
                            }
                            _ => names.clone(),
                        };
                        let diffs: Vec<String> = cols
                            .iter()
                            .map(|c| {
                                let c = quote_ident(c);
                                format!("s.{c} IS DISTINCT FROM t.{c}")
                            })
                            .collect();
                        format!("({})", diffs.join(" OR "))
                    }
                };
                let key_list: Vec<String> = keys
                    .iter()
                    .map(|k| format!("s.{}", quote_ident(k)))
                    .collect();
                session
                    .register_table(
                        "__changed",
                        session
                            .sql(&format!(
                                "SELECT {}, {changed_at} AS __closed_at FROM __source s \
                                 JOIN __this t ON {} AND t.dbt_valid_to IS NULL WHERE {changed}",
                                key_list.join(", "),
                                on("s", "t")
                            ))
                            .await
                            .map_err(query_failed)?
                            .into_view(),
                    )
                    .map_err(query_failed)?;
                let gone = if self.invalidate_hard_deletes {
                    format!(
                        "WHEN t.dbt_valid_to IS NULL AND NOT EXISTS \
                         (SELECT 1 FROM __source s WHERE {}) THEN {now} ",
                        on("s", "t")
                    )
                } else {
                    String::new()
                };
                let kept_cols: Vec<String> = names
                    .iter()
                    .chain(&META_COLUMNS[..3])
                    .map(|c| format!("t.{}", quote_ident(c)))
                    .collect();
                let history = format!(
                    "SELECT {}, CASE WHEN t.dbt_valid_to IS NULL AND c.__closed_at IS NOT NULL \
                     THEN c.__closed_at {gone}ELSE t.dbt_valid_to END AS dbt_valid_to \
                     FROM __this t LEFT JOIN __changed c ON {}",
                    kept_cols.join(", "),
                    on("c", "t")
                );
                let new_rows = format!(
                    "{inserted} WHERE NOT EXISTS (SELECT 1 FROM __this t WHERE {} AND \
                     t.dbt_valid_to IS NULL) OR EXISTS (SELECT 1 FROM __changed c WHERE {})",
                    on("s", "t"),
                    on("c", "s")
                );
                (format!("{history} UNION ALL {new_rows}"), "update")
            }
        };
        let df = session.sql(&query).await.map_err(query_failed)?;
        let _ = ctx.log.line(&format!("snapshot {mode}"));
        let dataset = write_dataframe(&session, df, ctx).await?;
        Ok(OpOutput {
            dataset: Some(dataset),
            lineage: sluice_op::Lineage {
                sql: Some(self.sql.clone()),
                ..Default::default()
            },
            ..OpOutput::default()
        })
    }

    fn reads(&self) -> Vec<String> {
        table_references(&self.sql).unwrap_or_default()
    }

    fn produces_dataset(&self) -> bool {
        true
    }
}
