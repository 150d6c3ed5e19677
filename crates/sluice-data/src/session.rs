//! The DataFusion session: sluice's SQL functions, datasets registered as tables, and the
//! table references of a query (to infer a task's dependencies).

use std::path::Path;
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, Date32Builder, ListBuilder, StringArray, StringBuilder,
};
use datafusion::arrow::datatypes::{DataType, Field};
use datafusion::common::cast::as_string_array;
use datafusion::execution::context::{SessionConfig, SessionContext};
use datafusion::logical_expr::{ColumnarValue, Volatility, create_udf};
use datafusion::prelude::ParquetReadOptions;

use crate::values::{date32, parse_date};
use crate::{DataError, Result};

/// A session with sluice's functions: `parse_date(text)` (dd/mm/yyyy, yyyy-mm-dd,
/// `1 January 2020`… to a date), `words(text)` (the distinct lower-case words of a text, split on
/// anything that is not a letter or a digit), `datediff(part, start, end)` and
/// `dateadd(part, n, date)` ([`crate::functions`]).
pub fn session() -> SessionContext {
    let mut config = SessionConfig::new().with_information_schema(true);
    // Plain Utf8 strings everywhere (view types would leak into outputs and UDF signatures).
    config
        .options_mut()
        .execution
        .parquet
        .schema_force_view_types = false;
    let ctx = SessionContext::new_with_config(config);
    ctx.register_udf(create_udf(
        "parse_date",
        vec![DataType::Utf8],
        DataType::Date32,
        Volatility::Immutable,
        Arc::new(|args: &[ColumnarValue]| map_strings(args, parse_date_array)),
    ));
    ctx.register_udf(create_udf(
        "words",
        vec![DataType::Utf8],
        DataType::List(Arc::new(Field::new_list_field(DataType::Utf8, true))),
        Volatility::Immutable,
        Arc::new(|args: &[ColumnarValue]| map_strings(args, words_array)),
    ));
    crate::functions::register(&ctx);
    ctx
}

fn map_strings(
    args: &[ColumnarValue],
    f: fn(&StringArray) -> ArrayRef,
) -> datafusion::error::Result<ColumnarValue> {
    let arrays = ColumnarValue::values_to_arrays(args)?;
    let input = as_string_array(&arrays[0])?;
    Ok(ColumnarValue::Array(f(input)))
}

fn parse_date_array(input: &StringArray) -> ArrayRef {
    let mut out = Date32Builder::with_capacity(input.len());
    for v in input.iter() {
        out.append_option(v.and_then(parse_date).map(date32));
    }
    Arc::new(out.finish())
}

fn words_array(input: &StringArray) -> ArrayRef {
    let mut out = ListBuilder::new(StringBuilder::new());
    let mut norm = Vec::new();
    let mut seen: Vec<(usize, usize)> = Vec::new();
    for v in input.iter() {
        let Some(text) = v else {
            out.append(false);
            continue;
        };
        // Each distinct word once, in order of first appearance; words are split as
        // `match.terms` splits them.
        norm.clear();
        crate::terms::normalize(text, &mut norm);
        seen.clear();
        let mut start = 0;
        for (i, b) in norm.iter().enumerate() {
            if *b != b' ' {
                continue;
            }
            let word = &norm[start..i];
            if !word.is_empty() && !seen.iter().any(|&(s, e)| &norm[s..e] == word) {
                seen.push((start, i));
                // `normalize` writes whole UTF-8 characters, so each word is valid UTF-8.
                out.values()
                    .append_value(String::from_utf8_lossy(word).as_ref());
            }
            start = i + 1;
        }
        out.append(true);
    }
    Arc::new(out.finish())
}

/// The file of a view's folder: its query and the folders of the datasets it reads.
pub use sluice_op::VIEW_FILE;

/// A stored query (a dbt `view`): what a view's folder holds instead of Parquet files.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct View {
    /// The query.
    pub sql: String,
    /// The tables it reads: name → dataset folder (a table's or another view's).
    pub inputs: std::collections::BTreeMap<String, std::path::PathBuf>,
}

impl View {
    /// The view stored in `dir`, if `dir` is a view's folder.
    /// An input named by a path of another machine (a worker's home) is read from the same
    /// version's folder in the warehouse `dir` is in, when that one is there.
    pub fn read(dir: &Path) -> Result<Option<View>> {
        let file = dir.join(VIEW_FILE);
        match std::fs::read(&file) {
            Ok(bytes) => serde_json::from_slice::<View>(&bytes)
                .map(|mut view| {
                    for input in view.inputs.values_mut() {
                        if let Some(here) = sluice_op::view_input_beside(dir, input)
                            && here.is_dir()
                        {
                            *input = here;
                        }
                    }
                    Some(view)
                })
                .map_err(|e| DataError::Engine(format!("{}: not a view: {e}", file.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(DataError::Engine(format!(
                "cannot read {}: {e}",
                file.display()
            ))),
        }
    }
}

/// Registers the dataset in `dir` as table `name` (`task`, or `pipeline.task`). A view's
/// folder is registered as its query over the datasets it reads, read as they were when the
/// view was made.
pub async fn register_dataset(ctx: &SessionContext, name: &str, dir: &Path) -> Result<()> {
    register_nested(ctx, name, dir, 0).await
}

fn register_nested<'a>(
    ctx: &'a SessionContext,
    name: &'a str,
    dir: &'a Path,
    depth: usize,
) -> futures_util::future::BoxFuture<'a, Result<()>> {
    Box::pin(async move {
        if let Some((schema, _)) = name.split_once('.') {
            let catalog = ctx
                .catalog("datafusion")
                .ok_or_else(|| DataError::Engine("the default catalog is missing".into()))?;
            if catalog.schema(schema).is_none() {
                ctx.sql(&format!("CREATE SCHEMA \"{schema}\"")).await?;
            }
        }
        if let Some(view) = View::read(dir)? {
            if depth > 64 {
                return Err(DataError::Engine(format!(
                    "view {name} reads views more than 64 deep"
                )));
            }
            // Its own tables, in a session of its own: their names never meet the reader's.
            let inner = session();
            for (input, input_dir) in &view.inputs {
                register_nested(&inner, input, input_dir, depth + 1).await?;
            }
            let df = inner.sql(&view.sql).await?;
            ctx.register_table(name, df.into_view())?;
            return Ok(());
        }
        let mut path = dir.display().to_string();
        if !path.ends_with('/') {
            path.push('/');
        }
        ctx.register_parquet(name, &path, ParquetReadOptions::default())
            .await?;
        Ok(())
    })
}

/// A syntax error in a query, with its position in the query.
#[derive(Debug, Clone, PartialEq)]
pub struct SqlSyntaxError {
    /// Line in the query, from 1 (0 when unknown).
    pub line: u64,
    /// Column, from 1 (0 when unknown).
    pub column: u64,
    /// The parser's message.
    pub message: String,
}

fn position(message: &str) -> (u64, u64) {
    let num = |key: &str| {
        message
            .rfind(key)
            .and_then(|i| {
                message[i + key.len()..]
                    .split(|c: char| !c.is_ascii_digit())
                    .next()
            })
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    };
    (num("Line: "), num("Column: "))
}

/// The tables a query reads (CTE names excluded), or its syntax error.
pub fn table_references(sql: &str) -> std::result::Result<Vec<String>, SqlSyntaxError> {
    let ctx = SessionContext::new();
    let state = ctx.state();
    let err = |e: datafusion::error::DataFusionError| {
        let message = e.strip_backtrace();
        let (line, column) = position(&message);
        SqlSyntaxError {
            line,
            column,
            message,
        }
    };
    let statement = state
        .sql_to_statement(sql, &datafusion::config::Dialect::Generic)
        .map_err(err)?;
    let refs = state.resolve_table_references(&statement).map_err(err)?;
    let mut names: Vec<String> = refs.iter().map(|r| r.to_string()).collect();
    names.sort();
    names.dedup();
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_tables_and_syntax_errors() {
        let refs = table_references("with x as (select * from drugs) select * from x join pubmed p on true join other.t on true")
            .expect("valid");
        assert_eq!(refs, vec!["drugs", "other.t", "pubmed"]);
        let err = table_references("select * form drugs").expect_err("invalid");
        assert_eq!((err.line, err.column), (1, 10), "{err:?}");
    }

    #[tokio::test]
    async fn udfs_parse_dates_and_split_words() {
        let ctx = session();
        let df = ctx
            .sql("select parse_date('27 April 2020') as d, parse_date('01/03/2020') as e, words('Tetracycline-resistant, ETHANOL! ethanol') as w, words('Éthanol et ÉTHANOL, café') as f")
            .await
            .expect("plan");
        let batches = df.collect().await.expect("run");
        let text = datafusion::arrow::util::pretty::pretty_format_batches(&batches)
            .expect("fmt")
            .to_string();
        assert!(
            text.contains(
                "2020-04-27 | 2020-03-01 | [tetracycline, resistant, ethanol] | [éthanol, et, café]"
            ),
            "{text}"
        );
    }
}
