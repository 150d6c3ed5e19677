//! Rows written as text — a test's expected CSV file, a unit test's given and expected rows —
//! read as the types of a table, and compared with a table as multisets (order ignored,
//! duplicates counted), the differing rows shown.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::datasource::MemTable;
use datafusion::prelude::SessionContext;
use sluice_core::checks::quote_ident;

use crate::checks::failing_rows;

/// One row written as text: (column, value; `None` for null), in the writer's order.
pub type TextRow = Vec<(String, Option<String>)>;

/// One row written in a test (a unit test's given or expected row): (column, value as text; `None` for null), in the order written.
#[derive(Debug, Clone, Default)]
pub struct Row(pub TextRow);

impl<'de> serde::Deserialize<'de> for Row {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Row, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = Row;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a row: a map of column → value")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut m: A) -> Result<Row, A::Error> {
                let mut row = Vec::new();
                while let Some((k, v)) = m.next_entry::<String, Option<String>>()? {
                    row.push((k, v));
                }
                Ok(Row(row))
            }
        }
        d.deserialize_map(Visit)
    }
}

fn failed(e: datafusion::error::DataFusionError) -> String {
    e.strip_backtrace()
}

/// Registers `rows` as table `name`, every column text, in the order columns first appear; a
/// column a row does not name is null in it.
pub fn register_text_rows(
    ctx: &SessionContext,
    name: &str,
    rows: &[TextRow],
) -> Result<(), String> {
    let mut columns: Vec<String> = Vec::new();
    for row in rows {
        for (c, _) in row {
            if !columns.contains(c) {
                columns.push(c.clone());
            }
        }
    }
    let schema = Arc::new(Schema::new(
        columns
            .iter()
            .map(|c| Field::new(c, DataType::Utf8, true))
            .collect::<Vec<_>>(),
    ));
    let arrays: Vec<ArrayRef> = columns
        .iter()
        .map(|c| {
            let values = rows.iter().map(|r| {
                r.iter()
                    .find(|(k, _)| k == c)
                    .and_then(|(_, v)| v.as_deref())
            });
            Arc::new(values.collect::<StringArray>()) as ArrayRef
        })
        .collect();
    let batch = if columns.is_empty() {
        RecordBatch::new_empty(schema.clone())
    } else {
        RecordBatch::try_new(schema.clone(), arrays).map_err(|e| e.to_string())?
    };
    let table = MemTable::try_new(schema, vec![vec![batch]]).map_err(|e| e.to_string())?;
    let _ = ctx.deregister_table(name);
    ctx.register_table(name, Arc::new(table)).map_err(failed)?;
    Ok(())
}

/// The SQL name of an Arrow type, to cast text to it.
pub fn sql_type(t: &DataType) -> String {
    match t {
        DataType::Boolean => "BOOLEAN".into(),
        DataType::Int8
        | DataType::Int16
        | DataType::Int32
        | DataType::Int64
        | DataType::UInt8
        | DataType::UInt16
        | DataType::UInt32 => "BIGINT".into(),
        DataType::UInt64 => "BIGINT UNSIGNED".into(),
        DataType::Float16 | DataType::Float32 | DataType::Float64 => "DOUBLE".into(),
        DataType::Decimal128(p, s) | DataType::Decimal256(p, s) => format!("DECIMAL({p}, {s})"),
        DataType::Date32 | DataType::Date64 => "DATE".into(),
        DataType::Timestamp(_, _) => "TIMESTAMP".into(),
        _ => "VARCHAR".into(),
    }
}

/// `SELECT` of the text table `text` with each of its columns cast to the type the column of
/// the same name has in `like` (text where `like` has no such column); with `empty_is_null`,
/// an empty text is null (CSV files).
pub async fn cast_like(
    ctx: &SessionContext,
    text: &str,
    like: &datafusion::common::DFSchema,
    empty_is_null: bool,
) -> Result<String, String> {
    let source = ctx.table(text).await.map_err(failed)?;
    let mut items = Vec::new();
    for f in source.schema().fields() {
        let name = quote_ident(f.name());
        let value = if empty_is_null {
            format!("NULLIF({name}, '')")
        } else {
            name.clone()
        };
        match like.field_with_unqualified_name(f.name()) {
            Ok(field) => items.push(format!(
                "CAST({value} AS {}) AS {name}",
                sql_type(field.data_type())
            )),
            Err(_) => items.push(format!("{value} AS {name}")),
        }
    }
    if items.is_empty() {
        return Err(format!("`{text}` has no column"));
    }
    Ok(format!(
        "SELECT {} FROM {}",
        items.join(", "),
        quote_ident(text)
    ))
}

/// Compares table `actual` with the text table `expected`, on the columns of `expected`
/// (each cast to the type it has in `actual`; every one must be there). `None` when they
/// hold the same rows as many times (nothing returned); otherwise the differences: `rows not
/// expected` and `rows missing`, each with its rows shown.
pub async fn compare_with_text(
    ctx: &SessionContext,
    actual: &str,
    expected: &str,
    empty_is_null: bool,
) -> Result<Vec<(&'static str, String)>, String> {
    let actual_df = ctx.table(actual).await.map_err(failed)?;
    let expected_df = ctx.table(expected).await.map_err(failed)?;
    let mut ours = Vec::new();
    for f in expected_df.schema().fields() {
        if actual_df
            .schema()
            .field_with_unqualified_name(f.name())
            .is_err()
        {
            let have: Vec<String> = actual_df
                .schema()
                .fields()
                .iter()
                .map(|f| f.name().clone())
                .collect();
            return Err(format!(
                "column `{}` is expected, but the output has no such column (its columns: {})",
                f.name(),
                have.join(", ")
            ));
        }
        ours.push(quote_ident(f.name()));
    }
    let ours = ours.join(", ");
    let theirs = cast_like(ctx, expected, actual_df.schema(), empty_is_null).await?;
    let actual = quote_ident(actual);
    let mut differences = Vec::new();
    for (label, q) in [
        (
            "rows not expected",
            format!("SELECT {ours} FROM {actual} EXCEPT ALL SELECT * FROM ({theirs})"),
        ),
        (
            "rows missing",
            format!("SELECT * FROM ({theirs}) EXCEPT ALL SELECT {ours} FROM {actual}"),
        ),
    ] {
        let df = ctx.sql(&q).await.map_err(failed)?;
        if let Some((_, rows)) = failing_rows(df).await.map_err(failed)? {
            differences.push((label, rows));
        }
    }
    Ok(differences)
}

/// The type text values say they are: whole numbers, numbers, `true`/`false`, dates
/// (`YYYY-MM-DD`), else text (nulls say nothing).
fn type_of_values<'a>(values: impl Iterator<Item = &'a str> + Clone) -> &'static str {
    let all = |f: &dyn Fn(&str) -> bool| values.clone().all(f);
    let any = values.clone().next().is_some();
    if !any {
        "VARCHAR"
    } else if all(&|v| v.parse::<i64>().is_ok()) {
        "BIGINT"
    } else if all(&|v| v.parse::<f64>().is_ok()) {
        "DOUBLE"
    } else if all(&|v| v.eq_ignore_ascii_case("true") || v.eq_ignore_ascii_case("false")) {
        "BOOLEAN"
    } else if all(&|v| chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d").is_ok()) {
        "DATE"
    } else {
        "VARCHAR"
    }
}

/// Registers `rows` as table `name`, each column of the type its values say (see
/// `type_of_values`): for rows given with no table to take types from.
pub async fn register_typed_rows(
    ctx: &SessionContext,
    name: &str,
    rows: &[TextRow],
) -> Result<(), String> {
    let text = format!("__text_{name}");
    register_text_rows(ctx, &text, rows)?;
    let mut columns: Vec<&str> = Vec::new();
    for row in rows {
        for (c, _) in row {
            if !columns.contains(&c.as_str()) {
                columns.push(c);
            }
        }
    }
    let items: Vec<String> = columns
        .iter()
        .map(|c| {
            let values = rows.iter().filter_map(|r| {
                r.iter()
                    .find(|(k, _)| k == c)
                    .and_then(|(_, v)| v.as_deref())
            });
            let q = quote_ident(c);
            format!("CAST({q} AS {}) AS {q}", type_of_values(values))
        })
        .collect();
    if items.is_empty() {
        return Err(format!("the rows given for `{name}` name no column"));
    }
    let sql = format!("SELECT {} FROM {}", items.join(", "), quote_ident(&text));
    let plan = ctx.sql(&sql).await.map_err(failed)?;
    let _ = ctx.deregister_table(name);
    ctx.register_table(name, plan.into_view()).map_err(failed)?;
    Ok(())
}
