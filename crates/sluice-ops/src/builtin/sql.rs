//! `sql`: a DataFusion query over the datasets of upstream tasks, each visible as a table
//! named after its task. The tables a query names are its dependencies.

use async_trait::async_trait;
use datafusion::physical_plan::ExecutionPlanProperties;
use futures_util::StreamExt;
use serde::Deserialize;
use sluice_data::DatasetWriter;
use sluice_data::session::{register_dataset, session, table_references};

use crate::{Op, OpError, OpOutput, TaskContext};

/// `op: sql`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sql {
    /// The query. Functions beyond DataFusion's: `parse_date(text)`, `words(text)`.
    pub sql: String,
}

/// Builds `sql`, checking the query's syntax.
pub fn build_sql(config: &sluice_core::Node) -> Result<Box<dyn Op>, sluice_core::DeError> {
    let op: Sql = sluice_core::from_node(config)?;
    if let Err(e) = table_references(&op.sql) {
        let mut err = <sluice_core::DeError as serde::de::Error>::custom(format!(
            "SQL syntax error at line {}, column {} of the query: {}",
            e.line, e.column, e.message
        ));
        // Point at the query itself.
        if let Some((_, v)) = config
            .as_map()
            .and_then(|m| m.iter().find(|(k, _)| k.as_text() == Some("sql")))
        {
            err.mark = Some(v.mark);
            err.path = vec!["sql".into()];
        }
        return Err(err);
    }
    Ok(Box::new(op))
}

#[async_trait]
impl Op for Sql {
    async fn run(&self, ctx: &TaskContext) -> Result<OpOutput, OpError> {
        let session = session();
        for (name, dir) in &ctx.inputs {
            register_dataset(&session, name, dir).await?;
        }
        let fail = |e: datafusion::error::DataFusionError| {
            OpError::config(format!("query failed: {}", e.strip_backtrace()))
        };
        let df = session.sql(&self.sql).await.map_err(fail)?;
        let schema = std::sync::Arc::new(df.schema().as_arrow().clone());
        let columns = sluice_data::lineage::column_lineage(df.logical_plan());
        // Each output partition of the plan is computed and written by a task of its own,
        // into files of its own: the cores share the encoding as well as the query. A plan
        // with one partition (an ORDER BY) keeps its order in one file sequence.
        let plan = df.create_physical_plan().await.map_err(fail)?;
        let task_ctx = session.task_ctx();
        let first = DatasetWriter::new(ctx.output()?, schema);
        let mut tasks = tokio::task::JoinSet::new();
        for partition in 0..plan.output_partitioning().partition_count() {
            let mut stream = plan.execute(partition, task_ctx.clone()).map_err(fail)?;
            let mut writer = first.sibling();
            let cancel = ctx.cancel.clone();
            tasks.spawn(async move {
                while let Some(batch) = stream.next().await {
                    if cancel.is_cancelled() {
                        return Err(OpError::cancelled("cancelled"));
                    }
                    writer.write(&batch.map_err(fail)?)?;
                }
                Ok::<_, OpError>(writer)
            });
        }
        let mut writers = vec![first];
        while let Some(joined) = tasks.join_next().await {
            // On the first error, dropping `tasks` stops the other partitions.
            let writer =
                joined.map_err(|e| OpError::internal(format!("query task failed: {e}")))??;
            writers.push(writer);
        }
        let info = DatasetWriter::finish_all(writers)?;
        Ok(OpOutput {
            dataset: Some(info.into()),
            lineage: sluice_op::Lineage {
                columns: vec![columns],
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

use sluice_data::datafusion;
