//! What the ops that add columns to their input's rows share: reading a column by name and
//! building the output batch from the rows kept.

use std::sync::Arc;

use sluice_data::datafusion::arrow::array::{Array, ArrayRef, AsArray, RecordBatch, UInt32Array};
use sluice_data::datafusion::arrow::compute::take;
use sluice_data::datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use sluice_data::export::{dataset_schema, for_each_batch};
use sluice_data::{DatasetInfo, DatasetTarget, DatasetWriter};
use sluice_op::OpError;

/// The text column `name` of `batch`, as owned optional strings.
pub fn texts(batch: &RecordBatch, name: &str, task: &str) -> Result<Vec<Option<String>>, OpError> {
    let col = batch.column_by_name(name).ok_or_else(|| {
        OpError::config(format!("the dataset of `{task}` has no column `{name}`"))
    })?;
    let cast;
    let col = if matches!(col.data_type(), DataType::Utf8) {
        col
    } else {
        cast =
            sluice_data::datafusion::arrow::compute::cast(col, &DataType::Utf8).map_err(|_| {
                OpError::config(format!(
                    "column `{name}` of `{task}` is {}, not text",
                    col.data_type()
                ))
            })?;
        &cast
    };
    let s = col.as_string::<i32>();
    Ok((0..s.len())
        .map(|i| (!s.is_null(i)).then(|| s.value(i).to_string()))
        .collect())
}

/// The text column `name` when the batch has one, else nulls.
pub fn texts_if_any(
    batch: &RecordBatch,
    name: &str,
    task: &str,
) -> Result<Vec<Option<String>>, OpError> {
    if batch.column_by_name(name).is_some() {
        texts(batch, name, task)
    } else {
        Ok(vec![None; batch.num_rows()])
    }
}

/// Writes the dataset of `input` into `target` with columns added: for each batch, `f`
/// returns the rows that go out (in order; a row may repeat, one per page) and the added
/// columns' arrays for them. The input's columns are carried ([`carried`]).
pub fn extend(
    input: &std::path::Path,
    target: &DatasetTarget,
    added: &[Field],
    mut f: impl FnMut(&RecordBatch) -> Result<(Vec<u32>, Vec<ArrayRef>), OpError>,
) -> Result<DatasetInfo, OpError> {
    let schema_in = dataset_schema(input)?;
    let keep = carried(&schema_in, added);
    let schema = out_schema(&schema_in, &keep, added);
    let mut w = DatasetWriter::new(target, schema.clone());
    let mut failed: Option<OpError> = None;
    let read = for_each_batch(input, |_, batch| {
        let out = f(&batch).and_then(|(rows, cols)| assemble(&schema, &batch, &keep, &rows, cols));
        match out {
            Ok(out) => w.write(&out),
            Err(e) => {
                let message = e.to_string();
                failed = Some(e);
                Err(sluice_data::DataError::Engine(message))
            }
        }
    });
    if let Some(e) = failed {
        return Err(e);
    }
    read?;
    Ok(w.finish()?)
}

/// The integer column `name` of `batch` (None where it is absent or null).
pub fn ints(batch: &RecordBatch, name: &str) -> Vec<Option<i64>> {
    let Some(col) = batch.column_by_name(name) else {
        return vec![None; batch.num_rows()];
    };
    match sluice_data::datafusion::arrow::compute::cast(col, &DataType::Int64) {
        Ok(c) => {
            let c = c.as_primitive::<sluice_data::datafusion::arrow::datatypes::Int64Type>();
            (0..c.len())
                .map(|i| (!c.is_null(i)).then(|| c.value(i)))
                .collect()
        }
        Err(_) => vec![None; batch.num_rows()],
    }
}

/// The columns of the input carried to the output: all but the binary ones (images are not
/// copied from task to task) and those the op writes itself.
fn carried(input: &SchemaRef, added: &[Field]) -> Vec<usize> {
    input
        .fields()
        .iter()
        .enumerate()
        .filter(|(_, f)| {
            !matches!(f.data_type(), DataType::Binary | DataType::LargeBinary)
                && !added.iter().any(|a| a.name() == f.name())
        })
        .map(|(i, _)| i)
        .collect()
}

/// The output schema: the carried columns, then the added ones.
fn out_schema(input: &SchemaRef, carried: &[usize], added: &[Field]) -> SchemaRef {
    let mut fields: Vec<Field> = carried.iter().map(|&i| input.field(i).clone()).collect();
    fields.extend(added.iter().cloned());
    Arc::new(Schema::new(fields))
}

/// Rows `rows` of `batch` (repeats allowed: one per page), its carried columns, then `added`.
fn assemble(
    schema: &SchemaRef,
    batch: &RecordBatch,
    carried: &[usize],
    rows: &[u32],
    added: Vec<ArrayRef>,
) -> Result<RecordBatch, OpError> {
    let idx = UInt32Array::from(rows.to_vec());
    let mut cols: Vec<ArrayRef> = Vec::with_capacity(carried.len() + added.len());
    for &c in carried {
        cols.push(
            take(batch.column(c).as_ref(), &idx, None)
                .map_err(|e| OpError::internal(e.to_string()))?,
        );
    }
    cols.extend(added);
    RecordBatch::try_new(schema.clone(), cols).map_err(|e| OpError::internal(e.to_string()))
}
