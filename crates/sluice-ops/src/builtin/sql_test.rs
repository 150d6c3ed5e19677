//! `test`: a query over upstream datasets whose rows are failures (a dbt test): the task
//! fails showing them, or only warns with `severity: warn`. `unit_test`: a model's query on
//! rows given for its inputs, compared with the rows expected (a dbt unit test).

use std::collections::BTreeMap;

use async_trait::async_trait;
use serde::Deserialize;
use sluice_core::checks::quote_ident;
use sluice_data::compare::{
    Row, TextRow, cast_to, compare_with_text, register_text_rows, register_typed_rows,
};
use sluice_data::datafusion;
use sluice_data::datafusion::datasource::MemTable;
use sluice_data::datafusion::prelude::SessionContext;
use sluice_data::session::table_references;

use super::sql::{THIS, check_syntax, input_session, query_failed};
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

/// `op: unit_test`: a model's query run on rows given for its inputs, its output compared
/// with the rows expected (a dbt unit test). The inputs are read only for their column types.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnitTest {
    /// The model's query.
    pub sql: String,
    /// Rows standing in for input tables (`this`: the previous version of an incremental
    /// model), by table name. Values are text, read as the types of the real input's
    /// columns; a column not given is null.
    #[serde(default)]
    pub given: BTreeMap<String, Vec<Row>>,
    /// The rows the query must return, compared on the columns they name, in any order.
    pub expect: Vec<Row>,
    /// The model's query in a full run: the rows given for `this` take the types of its
    /// columns when the model has no version yet.
    #[serde(default)]
    pub this_sql: Option<String>,
}

/// Builds `unit_test`, checking the query's syntax.
pub fn build_unit_test(config: &sluice_core::Node) -> Result<Box<dyn Op>, sluice_core::DeError> {
    let op: UnitTest = sluice_core::from_node(config)?;
    check_syntax(config, &["sql"], &op.sql)?;
    Ok(Box::new(op))
}

impl UnitTest {
    /// Replaces table `table` with the rows given for it, typed as its columns are.
    async fn stand_in(
        &self,
        session: &SessionContext,
        table: &str,
        rows: &[Row],
        n: usize,
    ) -> Result<(), OpError> {
        let rows: Vec<TextRow> = rows.iter().map(|r| r.0.clone()).collect();
        let text = format!("__given_{n}");
        register_text_rows(session, &text, &rows).map_err(OpError::data)?;
        let given: Vec<String> = session
            .table(text.as_str())
            .await
            .map_err(query_failed)?
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        let like = match session.table(table).await {
            Ok(real) => Some(real.schema().clone()),
            Err(_) if table == THIS => match &self.this_sql {
                Some(q) => Some(session.sql(q).await.map_err(query_failed)?.schema().clone()),
                None => None,
            },
            Err(_) => None,
        };
        let select = match like {
            Some(real) => {
                let columns: Vec<String> = real.fields().iter().map(|f| f.name().clone()).collect();
                if let Some(odd) = given.iter().find(|c| !columns.contains(c)) {
                    return Err(OpError::data(format!(
                        "unit test: the rows given for `{table}` have column `{odd}`, which it does not have (its columns: {})",
                        columns.join(", ")
                    )));
                }
                let items: Vec<String> = real
                    .fields()
                    .iter()
                    .map(|f| {
                        let name = quote_ident(f.name());
                        let value = if given.contains(f.name()) {
                            name.clone()
                        } else {
                            "NULL".into()
                        };
                        format!("{} AS {name}", cast_to(&value, f.data_type()))
                    })
                    .collect();
                format!("SELECT {} FROM {}", items.join(", "), quote_ident(&text))
            }
            // No such input, nor a query saying its columns: types told by the values.
            None => {
                register_typed_rows(session, table, &rows)
                    .await
                    .map_err(OpError::data)?;
                return Ok(());
            }
        };
        let df = session.sql(&select).await.map_err(query_failed)?;
        let batches = df.collect().await.map_err(query_failed)?;
        let schema = batches
            .first()
            .map(|b| b.schema())
            .unwrap_or_else(|| std::sync::Arc::new(datafusion::arrow::datatypes::Schema::empty()));
        let mem = MemTable::try_new(schema, vec![batches]).map_err(query_failed)?;
        let _ = session.deregister_table(table);
        session
            .register_table(table, std::sync::Arc::new(mem))
            .map_err(query_failed)?;
        Ok(())
    }
}

#[async_trait]
impl Op for UnitTest {
    async fn run(&self, ctx: &TaskContext) -> Result<OpOutput, OpError> {
        let session = input_session(ctx).await?;
        // `this` last: its columns come from the model's query on the other rows given.
        let mut given: Vec<(&String, &Vec<Row>)> = self.given.iter().collect();
        given.sort_by_key(|(t, _)| t.as_str() == THIS);
        for (n, (table, rows)) in given.into_iter().enumerate() {
            self.stand_in(&session, table, rows, n).await?;
        }
        let tables = table_references(&self.sql).unwrap_or_default();
        if tables.iter().any(|t| t == THIS) && !self.given.contains_key(THIS) {
            return Err(OpError::data(
                "unit test: the query reads `this` (an incremental run): give rows for it (`input: this`)",
            ));
        }
        let df = session.sql(&self.sql).await.map_err(query_failed)?;
        // An empty result keeps the query's columns.
        let planned = std::sync::Arc::new(df.schema().as_arrow().clone());
        let batches = df.collect().await.map_err(query_failed)?;
        let schema = batches.first().map_or(planned, |b| b.schema());
        let actual_rows: usize = batches.iter().map(|b| b.num_rows()).sum();
        let mut out = OpOutput::default();
        out.metrics.insert("rows".into(), actual_rows.into());
        if self.expect.is_empty() {
            if actual_rows == 0 {
                return Ok(out);
            }
            let mem = MemTable::try_new(schema, vec![batches]).map_err(query_failed)?;
            let df = session
                .read_table(std::sync::Arc::new(mem))
                .map_err(query_failed)?;
            let rows = sluice_data::checks::failing_rows(df)
                .await
                .map_err(query_failed)?
                .map(|(_, r)| r)
                .unwrap_or_default();
            return Err(OpError::data(format!(
                "unit test failed: no row expected, but the query returned {rows}"
            )));
        }
        let mem = MemTable::try_new(schema, vec![batches]).map_err(query_failed)?;
        session
            .register_table("__actual", std::sync::Arc::new(mem))
            .map_err(query_failed)?;
        let expected: Vec<TextRow> = self.expect.iter().map(|r| r.0.clone()).collect();
        register_text_rows(&session, "__expected", &expected).map_err(OpError::data)?;
        let differences = compare_with_text(&session, "__actual", "__expected", false)
            .await
            .map_err(|e| OpError::data(format!("unit test: {e}")))?;
        if differences.is_empty() {
            return Ok(out);
        }
        let shown: Vec<String> = differences
            .iter()
            .map(|(label, rows)| format!("{label}: {rows}"))
            .collect();
        Err(OpError::data(format!(
            "unit test failed: {}",
            shown.join("\n")
        )))
    }

    fn reads(&self) -> Vec<String> {
        let mut tables: Vec<String> = table_references(&self.sql)
            .unwrap_or_default()
            .into_iter()
            .filter(|t| t != THIS)
            .collect();
        tables.sort();
        tables.dedup();
        tables
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::{Path, PathBuf};

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

    /// An input dataset `orders` (id BIGINT, day DATE, amount DOUBLE, note VARCHAR) in `dir`.
    async fn orders(dir: &Path) -> PathBuf {
        let folder = dir.join("orders");
        std::fs::create_dir_all(&folder).expect("folder");
        let ctx = sluice_data::session::session();
        ctx.sql(
            "select 7::bigint as id, date '2024-01-01' as day, 9.5::double as amount, 'x' as note",
        )
        .await
        .expect("query")
        .write_parquet(
            folder.join("part-00000.parquet").to_str().expect("utf8"),
            datafusion::dataframe::DataFrameWriteOptions::new(),
            None,
        )
        .await
        .expect("write");
        folder
    }

    fn rows(text: &[&[(&str, Option<&str>)]]) -> Vec<Row> {
        text.iter()
            .map(|r| {
                Row(r
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.map(String::from)))
                    .collect())
            })
            .collect()
    }

    async fn unit(given: Vec<Row>, expect: Vec<Row>) -> Result<OpOutput, OpError> {
        let dir = tempfile::tempdir().expect("tmp");
        let mut ctx = TaskContext::for_test(dir.path(), "t");
        ctx.inputs.insert("orders".into(), orders(dir.path()).await);
        let op = UnitTest {
            sql: "select day, sum(amount) as total, count(note) as notes from orders \
                  where day >= date '2024-01-01' group by day"
                .into(),
            given: BTreeMap::from([("orders".to_string(), given)]),
            expect,
            this_sql: None,
        };
        op.run(&ctx).await
    }

    #[tokio::test]
    async fn given_rows_take_the_inputs_types_and_the_output_is_compared_in_any_order() {
        let given = rows(&[
            &[("day", Some("2024-01-02")), ("amount", Some("1.5"))],
            &[
                ("day", Some("2024-01-02")),
                ("amount", Some("2")),
                ("note", Some("n")),
            ],
            &[("day", Some("2024-01-03")), ("amount", Some("4"))],
            &[("day", Some("2023-12-31")), ("amount", Some("100"))],
        ]);
        // Compared on the columns named; dates and numbers as text.
        let expect = rows(&[
            &[("total", Some("4.0")), ("day", Some("2024-01-03"))],
            &[("day", Some("2024-01-02")), ("total", Some("3.5"))],
        ]);
        let out = unit(given.clone(), expect).await.expect("passes");
        assert_eq!(out.metrics["rows"], 2);
        let wrong = rows(&[
            &[
                ("day", Some("2024-01-02")),
                ("total", Some("3.5")),
                ("notes", Some("2")),
            ],
            &[
                ("day", Some("2024-01-03")),
                ("total", Some("4")),
                ("notes", Some("0")),
            ],
        ]);
        let err = unit(given.clone(), wrong)
            .await
            .expect_err("fails")
            .to_string();
        assert!(
            err.starts_with("unit test failed: rows not expected: 1 row\n"),
            "{err}"
        );
        assert!(err.contains("| 2024-01-02 | 3.5   | 1     |"), "{err}");
        assert!(err.contains("\nrows missing: 1 row\n"), "{err}");
        assert!(err.contains("| 2024-01-02 | 3.5   | 2     |"), "{err}");
        let odd = rows(&[&[("dya", Some("2024-01-02"))]]);
        let err = unit(odd, vec![]).await.expect_err("odd column").to_string();
        assert_eq!(
            err,
            "unit test: the rows given for `orders` have column `dya`, which it does not have (its columns: id, day, amount, note)"
        );
        let err = unit(given, vec![]).await.expect_err("rows").to_string();
        assert!(
            err.starts_with("unit test failed: no row expected, but the query returned 2 rows\n"),
            "{err}"
        );
        let err = unit(vec![], rows(&[&[("missing", Some("1"))]]))
            .await
            .expect_err("unknown expected column")
            .to_string();
        assert_eq!(
            err,
            "unit test: column `missing` is expected, but the output has no such column (its columns: day, total, notes)"
        );
    }
}
