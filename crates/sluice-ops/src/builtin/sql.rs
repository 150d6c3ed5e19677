//! `sql`: a DataFusion query over the datasets of upstream tasks, each visible as a table
//! named after its task. The tables a query names are its dependencies. With
//! `incremental:`, a run after the first adds (or replaces) rows of the previous version.

use async_trait::async_trait;
use datafusion::dataframe::DataFrame;
use datafusion::execution::context::SessionContext;
use datafusion::physical_plan::ExecutionPlanProperties;
use futures_util::StreamExt;
use serde::Deserialize;
use sluice_core::checks::quote_ident;
use sluice_data::DatasetWriter;
use sluice_data::session::{register_dataset, session, table_references};

use crate::{Op, OpError, OpOutput, TaskContext};

/// `op: sql`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sql {
    /// The query. Functions beyond DataFusion's: `parse_date(text)`, `words(text)`.
    pub sql: String,
    /// Run incrementally once the task has a version: the rows to add or replace.
    #[serde(default)]
    pub incremental: Option<Incremental>,
    /// Store the query rather than its rows (a dbt `view`): SQL that reads the dataset runs
    /// it over the versions of its inputs this run read. Only SQL reads a view.
    #[serde(default)]
    pub view: bool,
}

/// `incremental:` of `op: sql`: after the first run, the task's previous version is table
/// [`THIS`] and `sql` gives the rows to add (or replace, by `unique_key`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Incremental {
    /// The query of new rows; it may read `this`, the previous version.
    pub sql: String,
    /// Columns naming a row: a previous row whose key is among the new rows' is replaced.
    /// Without it new rows are appended.
    #[serde(default)]
    pub unique_key: Option<sluice_core::checks::Columns>,
}

/// The table an incremental query reads its task's previous version from.
pub const THIS: &str = "this";

/// Builds `sql`, checking the syntax of its queries.
pub fn build_sql(config: &sluice_core::Node) -> Result<Box<dyn Op>, sluice_core::DeError> {
    let op: Sql = sluice_core::from_node(config)?;
    check_syntax(config, &["sql"], &op.sql)?;
    if let Some(inc) = &op.incremental {
        check_syntax(config, &["incremental", "sql"], &inc.sql)?;
        if op.view {
            return Err(<sluice_core::DeError as serde::de::Error>::custom(
                "a view is not incremental: drop `view` or `incremental`",
            ));
        }
    }
    Ok(Box::new(op))
}

/// A syntax error of the query at `path` in `config` (`["sql"]`), pointing at the query.
pub(crate) fn check_syntax(
    config: &sluice_core::Node,
    path: &[&str],
    sql: &str,
) -> Result<(), sluice_core::DeError> {
    let Err(e) = table_references(sql) else {
        return Ok(());
    };
    let mut err = <sluice_core::DeError as serde::de::Error>::custom(format!(
        "SQL syntax error at line {}, column {} of the query: {}",
        e.line, e.column, e.message
    ));
    let mut node = Some(config);
    for key in path {
        node = node
            .and_then(|n| n.as_map())
            .and_then(|m| m.iter().find(|(k, _)| k.as_text() == Some(key)))
            .map(|(_, v)| v);
    }
    if let Some(v) = node {
        err.mark = Some(v.mark);
        err.path = path.iter().map(|k| k.to_string()).collect();
    }
    Err(err)
}

/// `failed` for DataFusion errors of a query.
pub(crate) fn query_failed(e: datafusion::error::DataFusionError) -> OpError {
    OpError::config(format!("query failed: {}", e.strip_backtrace()))
}

/// Computes `df` into the task's dataset: each output partition of the plan is computed and
/// written by a task of its own, into files of its own, so the cores share the encoding as
/// well as the query. A plan with one partition (an ORDER BY) keeps its order.
pub(crate) async fn write_dataframe(
    session: &SessionContext,
    df: DataFrame,
    ctx: &TaskContext,
) -> Result<sluice_op::Dataset, OpError> {
    let schema = std::sync::Arc::new(df.schema().as_arrow().clone());
    let plan = df.create_physical_plan().await.map_err(query_failed)?;
    let task_ctx = session.task_ctx();
    let first = DatasetWriter::new(ctx.output()?, schema);
    let mut tasks = tokio::task::JoinSet::new();
    for partition in 0..plan.output_partitioning().partition_count() {
        let mut stream = plan
            .execute(partition, task_ctx.clone())
            .map_err(query_failed)?;
        let mut writer = first.sibling();
        let cancel = ctx.cancel.clone();
        tasks.spawn(async move {
            while let Some(batch) = stream.next().await {
                if cancel.is_cancelled() {
                    return Err(OpError::cancelled("cancelled"));
                }
                writer.write(&batch.map_err(query_failed)?)?;
            }
            Ok::<_, OpError>(writer)
        });
    }
    let mut writers = vec![first];
    while let Some(joined) = tasks.join_next().await {
        // On the first error, dropping `tasks` stops the other partitions.
        let writer = joined.map_err(|e| OpError::internal(format!("query task failed: {e}")))??;
        writers.push(writer);
    }
    Ok(DatasetWriter::finish_all(writers)?.into())
}

/// A session with the task's inputs registered as tables.
pub(crate) async fn input_session(ctx: &TaskContext) -> Result<SessionContext, OpError> {
    let session = session();
    for (name, dir) in &ctx.inputs {
        register_dataset(&session, name, dir).await?;
    }
    Ok(session)
}

#[async_trait]
impl Op for Sql {
    async fn run(&self, ctx: &TaskContext) -> Result<OpOutput, OpError> {
        let session = input_session(ctx).await?;
        if self.view {
            return self.store_view(&session, ctx).await;
        }
        let (df, query, mode) = match (&self.incremental, &ctx.previous) {
            (Some(inc), Some(previous)) => {
                register_dataset(&session, THIS, &previous.dir).await?;
                let new = session.sql(&inc.sql).await.map_err(query_failed)?;
                let merged = merge(&session, new, inc.unique_key.as_ref()).await?;
                (merged, &inc.sql, "incremental")
            }
            _ => (
                session.sql(&self.sql).await.map_err(query_failed)?,
                &self.sql,
                "full",
            ),
        };
        let columns = sluice_data::lineage::column_lineage(df.logical_plan());
        if self.incremental.is_some() {
            let _ = ctx.log.line(&format!("{mode} run"));
        }
        let info = write_dataframe(&session, df, ctx).await?;
        Ok(OpOutput {
            dataset: Some(info),
            lineage: sluice_op::Lineage {
                columns: vec![columns],
                sql: Some(query.clone()),
                ..Default::default()
            },
            ..OpOutput::default()
        })
    }

    fn reads(&self) -> Vec<String> {
        let mut tables = table_references(&self.sql).unwrap_or_default();
        if let Some(inc) = &self.incremental {
            tables.extend(
                table_references(&inc.sql)
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|t| t != THIS),
            );
        }
        tables.sort();
        tables.dedup();
        tables
    }

    fn produces_dataset(&self) -> bool {
        true
    }
}

impl Sql {
    /// Writes the query and its inputs' folders, after planning it (so a wrong query fails
    /// now, and the schema is known).
    async fn store_view(
        &self,
        session: &SessionContext,
        ctx: &TaskContext,
    ) -> Result<OpOutput, OpError> {
        let df = session.sql(&self.sql).await.map_err(query_failed)?;
        let columns = sluice_data::lineage::column_lineage(df.logical_plan());
        let schema = std::sync::Arc::new(df.schema().as_arrow().clone());
        let reads = self.reads();
        let view = sluice_data::session::View {
            sql: self.sql.clone(),
            inputs: ctx
                .inputs
                .iter()
                .filter(|(name, _)| reads.contains(name))
                .map(|(name, dir)| (name.clone(), dir.clone()))
                .collect(),
        };
        let dir = &ctx.output()?.dir;
        let file = dir.join(sluice_data::session::VIEW_FILE);
        let bytes = serde_json::to_vec_pretty(&view)
            .map_err(|e| OpError::internal(format!("cannot write the view: {e}")))?;
        std::fs::write(&file, &bytes)
            .map_err(|e| OpError::io(format!("cannot write {}", file.display()), &e))?;
        let _ = ctx.log.line("view: the query is stored, not its rows");
        Ok(OpOutput {
            dataset: Some(sluice_op::Dataset {
                dir: dir.clone(),
                schema: sluice_data::writer::schema_json(&schema),
                rows: 0,
                bytes: bytes.len() as u64,
            }),
            lineage: sluice_op::Lineage {
                columns: vec![columns],
                sql: Some(self.sql.clone()),
                ..Default::default()
            },
            ..OpOutput::default()
        })
    }
}

/// The previous version (table `this`) with the rows of `new` added: those whose key is
/// among `new`'s replaced when there is a key. Columns are the previous version's, by name.
async fn merge(
    session: &SessionContext,
    new: DataFrame,
    key: Option<&sluice_core::checks::Columns>,
) -> Result<DataFrame, OpError> {
    let previous = session.table(THIS).await.map_err(query_failed)?;
    let columns: Vec<String> = previous
        .schema()
        .fields()
        .iter()
        .map(|f| quote_ident(f.name()))
        .collect();
    session
        .register_table("__new", new.into_view())
        .map_err(query_failed)?;
    let list = columns.join(", ");
    let kept = match key {
        Some(key) => {
            let on: Vec<String> = key
                .names()
                .iter()
                .map(|k| {
                    let k = quote_ident(k);
                    format!("n.{k} = t.{k}")
                })
                .collect();
            format!(
                "SELECT {list} FROM {THIS} t WHERE NOT EXISTS (SELECT 1 FROM __new n WHERE {})",
                on.join(" AND ")
            )
        }
        None => format!("SELECT {list} FROM {THIS}"),
    };
    session
        .sql(&format!("{kept} UNION ALL SELECT {list} FROM __new"))
        .await
        .map_err(query_failed)
}

use sluice_data::datafusion;
