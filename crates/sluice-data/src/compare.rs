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

/// `value` (SQL) cast to type `t`: text stays plain Utf8 (a `CAST … AS VARCHAR` gives a
/// string view type, which the session keeps out of outputs).
pub fn cast_to(value: &str, t: &DataType) -> String {
    match sql_type(t).as_str() {
        "VARCHAR" => format!("arrow_cast({value}, 'Utf8')"),
        sql => format!("CAST({value} AS {sql})"),
    }
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
            Ok(field) => items.push(format!("{} AS {name}", cast_to(&value, field.data_type()))),
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
/// (each cast to the type it has in `actual`; every one must be there). Nothing returned
/// when they hold the same rows, each as many times; otherwise the differences: `rows not
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
    // Each copy of a row numbered, so that set differences count duplicates (DataFusion's
    // EXCEPT ALL does not: [a, a] EXCEPT ALL [a] is empty there).
    let numbered = |from: &str| {
        format!("SELECT {ours}, row_number() OVER (PARTITION BY {ours}) AS __copy FROM {from}")
    };
    let ours_n = numbered(&quote_ident(actual));
    let theirs_n = numbered(&format!("({theirs}) AS __expected"));
    let mut differences = Vec::new();
    for (label, q) in [
        (
            "rows not expected",
            format!("SELECT {ours} FROM ({ours_n} EXCEPT {theirs_n}) AS __d"),
        ),
        (
            "rows missing",
            format!("SELECT {ours} FROM ({theirs_n} EXCEPT {ours_n}) AS __d"),
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
    } else if all(&|v| v.parse::<i64>().is_ok() && !leading_zero(v)) {
        "BIGINT"
    } else if all(&|v| {
        v.parse::<f64>().is_ok() && v.contains(|c: char| c.is_ascii_digit()) && !leading_zero(v)
    }) {
        "DOUBLE"
    } else if all(&|v| v.eq_ignore_ascii_case("true") || v.eq_ignore_ascii_case("false")) {
        "BOOLEAN"
    } else if all(&|v| chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d").is_ok()) {
        "DATE"
    } else {
        "VARCHAR"
    }
}

/// `007`, `-01`: a code, not a number (`0`, `0.5` are numbers).
fn leading_zero(v: &str) -> bool {
    let digits = v.trim_start_matches(['-', '+']);
    digits.len() > 1 && digits.starts_with('0') && !digits.starts_with("0.")
}

/// Registers `rows` as table `name`, each column of the type its values say (see
/// `type_of_values`): for rows given with no table to take types from.
pub async fn register_typed_rows(
    ctx: &SessionContext,
    name: &str,
    rows: &[TextRow],
) -> Result<(), String> {
    let text = format!(
        "__text_{}",
        name.replace(|c: char| !c.is_ascii_alphanumeric(), "_")
    );
    register_text_rows(ctx, &text, rows)?;
    // Its columns, in the order they first appear.
    let columns: Vec<String> = ctx
        .table(text.as_str())
        .await
        .map_err(failed)?
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    let items: Vec<String> = columns
        .iter()
        .map(|c| {
            let values = rows.iter().filter_map(|r| {
                r.iter()
                    .find(|(k, _)| k == c)
                    .and_then(|(_, v)| v.as_deref())
            });
            let q = quote_ident(c);
            match type_of_values(values) {
                "VARCHAR" => format!("{q} AS {q}"),
                sql => format!("CAST({q} AS {sql}) AS {q}"),
            }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(text: &[&[(&str, &str)]]) -> Vec<TextRow> {
        text.iter()
            .map(|r| {
                r.iter()
                    .map(|(k, v)| (k.to_string(), Some(v.to_string())))
                    .collect()
            })
            .collect()
    }

    #[tokio::test]
    async fn duplicates_count_and_values_say_their_types() {
        let ctx = crate::session::session();
        register_typed_rows(
            &ctx,
            "actual",
            &rows(&[
                &[
                    ("a", "1"),
                    ("code", "007"),
                    ("x", "1.5"),
                    ("d", "2024-01-02"),
                ],
                &[
                    ("a", "1"),
                    ("code", "007"),
                    ("x", "1.5"),
                    ("d", "2024-01-02"),
                ],
            ]),
        )
        .await
        .expect("typed");
        let schema = ctx.table("actual").await.expect("table").schema().clone();
        let types: Vec<String> = schema
            .fields()
            .iter()
            .map(|f| f.data_type().to_string())
            .collect();
        assert_eq!(types, ["Int64", "Utf8", "Float64", "Date32"]);
        // One copy expected, two there: a row not expected.
        register_text_rows(&ctx, "expected", &rows(&[&[("a", "1"), ("code", "007")]]))
            .expect("text");
        let diff = compare_with_text(&ctx, "actual", "expected", false)
            .await
            .expect("compared");
        assert_eq!(diff.len(), 1, "{diff:?}");
        assert_eq!(diff[0].0, "rows not expected");
        assert!(diff[0].1.starts_with("1 row\n"), "{}", diff[0].1);
        // Two copies each: the same.
        register_text_rows(
            &ctx,
            "expected",
            &rows(&[
                &[("code", "007"), ("a", "1")],
                &[("a", "1"), ("code", "007")],
            ]),
        )
        .expect("text");
        let diff = compare_with_text(&ctx, "actual", "expected", false)
            .await
            .expect("compared");
        assert!(diff.is_empty(), "{diff:?}");
    }
}
