//! `test`: a query over upstream datasets whose rows are failures (a dbt test): the task
//! fails showing them, or only warns with `severity: warn`.

use async_trait::async_trait;
use serde::Deserialize;
use sluice_data::session::table_references;

use super::sql::{check_syntax, input_session, query_failed};
use crate::{Op, OpError, OpOutput, TaskContext};

/// What a failing test does.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The task fails (and what depends on it does not run).
    #[default]
    Error,
    /// The task succeeds; the rows go to its log as a warning.
    Warn,
}

/// `op: test`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SqlTest {
    /// The query returning the rows that break the rule.
    pub sql: String,
    /// `error` (the default) or `warn`.
    #[serde(default)]
    pub severity: Severity,
}

/// Builds `test`, checking the query's syntax.
pub fn build_test(config: &sluice_core::Node) -> Result<Box<dyn Op>, sluice_core::DeError> {
    let op: SqlTest = sluice_core::from_node(config)?;
    check_syntax(config, &["sql"], &op.sql)?;
    Ok(Box::new(op))
}

#[async_trait]
impl Op for SqlTest {
    async fn run(&self, ctx: &TaskContext) -> Result<OpOutput, OpError> {
        let session = input_session(ctx).await?;
        let df = session.sql(&self.sql).await.map_err(query_failed)?;
        let rows = sluice_data::checks::failing_rows(df)
            .await
            .map_err(query_failed)?;
        let mut out = OpOutput::default();
        let failures = rows.as_ref().map_or(0, |(n, _)| *n);
        out.metrics.insert("failures".into(), failures.into());
        match (rows, self.severity) {
            (None, _) => Ok(out),
            (Some((_, rows)), Severity::Error) => {
                Err(OpError::data(format!("test failed: {rows}")))
            }
            (Some((_, rows)), Severity::Warn) => {
                let _ = ctx
                    .log
                    .line(&format!("warning: test failed (severity warn): {rows}"));
                Ok(out)
            }
        }
    }

    fn reads(&self) -> Vec<String> {
        table_references(&self.sql).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn run(sql: &str, severity: Severity) -> (Result<OpOutput, OpError>, String) {
        let dir = tempfile::tempdir().expect("tmp");
        let ctx = TaskContext::for_test(dir.path(), "t");
        let op = SqlTest {
            sql: sql.into(),
            severity,
        };
        let out = op.run(&ctx).await;
        let log = std::fs::read_to_string(dir.path().join("t.log")).unwrap_or_default();
        (out, log)
    }

    #[tokio::test]
    async fn rows_fail_the_test_and_are_shown_or_only_warn() {
        let q = "select * from (values (1, 'a'), (1, 'b'), (2, 'c')) as t(id, v) where id = 1";
        let (out, _) = run(q, Severity::Error).await;
        let err = out.expect_err("fails").to_string();
        assert!(err.starts_with("test failed: 2 rows\n"), "{err}");
        assert!(
            err.contains("| 1  | a |") && err.contains("| 1  | b |"),
            "{err}"
        );
        let (out, log) = run(q, Severity::Warn).await;
        assert_eq!(out.expect("warns").metrics["failures"], 2);
        assert!(
            log.contains("warning: test failed (severity warn): 2 rows"),
            "{log}"
        );
        let (out, _) = run("select 1 where false", Severity::Error).await;
        assert_eq!(out.expect("passes").metrics["failures"], 0);
    }
}
