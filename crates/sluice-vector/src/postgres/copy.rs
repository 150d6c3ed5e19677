//! PostgreSQL's binary COPY format, written straight from Arrow batches: no text rendering
//! of numbers, no per-value allocation. pgvector's `vector` and `halfvec` go as their binary
//! forms (dimension, then big-endian floats).

use std::collections::HashSet;
use std::sync::Arc;

use sluice_data::datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BinaryArray, BooleanArray, Date32Array, FixedSizeListArray,
    Float32Array, Float64Array, Int16Array, Int32Array, Int64Array, ListArray, RecordBatch,
    StringArray, TimestampMicrosecondArray,
};
use sluice_data::datafusion::arrow::compute::{CastOptions, cast_with_options};
use sluice_data::datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use sluice_data::datafusion::arrow::util::display::FormatOptions;

use super::columns::{Column, PgType};
use crate::{Error, Result};

/// The 19 bytes every binary COPY stream starts with.
pub const HEADER: &[u8] = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0";
/// The end of a binary COPY stream.
pub const TRAILER: &[u8] = &[0xff, 0xff];

/// Days between 1970-01-01 (Arrow) and 2000-01-01 (PostgreSQL).
const EPOCH_DAYS: i32 = 10_957;
/// Microseconds between the two epochs.
const EPOCH_MICROS: i64 = 946_684_800_000_000;

/// One batch's column in the form it is written from.
enum Values {
    Bool(BooleanArray),
    I16(Int16Array),
    I32(Int32Array),
    I64(Int64Array),
    F32(Float32Array),
    F64(Float64Array),
    Text(StringArray),
    Json(StringArray),
    Bytes(BinaryArray),
    Date(Date32Array),
    Micros(TimestampMicrosecondArray),
    TextList(ListArray),
    Vector(FixedSizeListArray, Float32Array, usize),
    Half(FixedSizeListArray, Float32Array, usize),
}

fn cast(column: &Column, array: &ArrayRef, to: &DataType) -> Result<ArrayRef> {
    let options = CastOptions {
        safe: false,
        format_options: FormatOptions::default(),
    };
    cast_with_options(array, to, &options).map_err(|e| {
        Error(format!(
            "column `{}`: its values cannot be written as {}: {e}",
            column.source,
            column.ty.sql()
        ))
    })
}

/// Structs, maps and lists as JSON text, one value per row (null stays null).
fn to_json(column: &Column, array: &ArrayRef) -> Result<StringArray> {
    use sluice_data::datafusion::arrow::json::LineDelimitedWriter;
    let schema = Arc::new(Schema::new(vec![Field::new(
        "v",
        array.data_type().clone(),
        true,
    )]));
    let err = |e: &dyn std::fmt::Display| Error(format!("column `{}` as JSON: {e}", column.source));
    let batch = RecordBatch::try_new(schema, vec![array.clone()]).map_err(|e| err(&e))?;
    let mut text = Vec::new();
    {
        let mut writer = LineDelimitedWriter::new(&mut text);
        writer.write(&batch).map_err(|e| err(&e))?;
        writer.finish().map_err(|e| err(&e))?;
    }
    let text = String::from_utf8(text).map_err(|e| err(&e))?;
    // Each line is `{"v":VALUE}`, or `{}` for a null: JSON strings escape newlines.
    let values: Vec<Option<&str>> = text
        .lines()
        .map(|line| {
            line.strip_prefix("{\"v\":")
                .and_then(|l| l.strip_suffix('}'))
        })
        .collect();
    if values.len() != array.len() {
        return Err(err(&"one line per row expected"));
    }
    Ok(StringArray::from(values))
}

impl Values {
    fn new(column: &Column, array: &ArrayRef) -> Result<Values> {
        let float_items = |a: &ArrayRef, n: usize| -> Result<(FixedSizeListArray, Float32Array)> {
            let list = cast(column, a, &crate::f32_vector_type(n))?
                .as_fixed_size_list()
                .clone();
            let items = list.values().as_primitive().clone();
            Ok((list, items))
        };
        Ok(match &column.ty {
            PgType::Bool => Values::Bool(array.as_boolean().clone()),
            PgType::Int2 => Values::I16(
                cast(column, array, &DataType::Int16)?
                    .as_primitive()
                    .clone(),
            ),
            PgType::Int4 => Values::I32(
                cast(column, array, &DataType::Int32)?
                    .as_primitive()
                    .clone(),
            ),
            PgType::Int8 => Values::I64(
                cast(column, array, &DataType::Int64)?
                    .as_primitive()
                    .clone(),
            ),
            PgType::Float4 => Values::F32(
                cast(column, array, &DataType::Float32)?
                    .as_primitive()
                    .clone(),
            ),
            PgType::Float8 => Values::F64(
                cast(column, array, &DataType::Float64)?
                    .as_primitive()
                    .clone(),
            ),
            PgType::Text => Values::Text(cast(column, array, &DataType::Utf8)?.as_string().clone()),
            PgType::Jsonb if column.json_text => {
                Values::Json(cast(column, array, &DataType::Utf8)?.as_string().clone())
            }
            PgType::Jsonb => Values::Json(to_json(column, array)?),
            PgType::Bytea => {
                Values::Bytes(cast(column, array, &DataType::Binary)?.as_binary().clone())
            }
            PgType::Date => Values::Date(
                cast(column, array, &DataType::Date32)?
                    .as_primitive()
                    .clone(),
            ),
            PgType::Timestamp | PgType::Timestamptz => {
                let tz = match array.data_type() {
                    DataType::Timestamp(_, tz) => tz.clone(),
                    _ => None,
                };
                let to = DataType::Timestamp(TimeUnit::Microsecond, tz);
                Values::Micros(cast(column, array, &to)?.as_primitive().clone())
            }
            PgType::TextArray => {
                let to = DataType::List(Arc::new(Field::new("item", DataType::Utf8, true)));
                Values::TextList(cast(column, array, &to)?.as_list().clone())
            }
            PgType::Vector(n) => {
                let (list, items) = float_items(array, *n)?;
                Values::Vector(list, items, *n)
            }
            PgType::HalfVec(n) => {
                let (list, items) = float_items(array, *n)?;
                Values::Half(list, items, *n)
            }
        })
    }

    fn is_null(&self, row: usize) -> bool {
        match self {
            Values::Bool(a) => a.is_null(row),
            Values::I16(a) => a.is_null(row),
            Values::I32(a) => a.is_null(row),
            Values::I64(a) => a.is_null(row),
            Values::F32(a) => a.is_null(row),
            Values::F64(a) => a.is_null(row),
            Values::Text(a) | Values::Json(a) => a.is_null(row),
            Values::Bytes(a) => a.is_null(row),
            Values::Date(a) => a.is_null(row),
            Values::Micros(a) => a.is_null(row),
            Values::TextList(a) => a.is_null(row),
            Values::Vector(a, _, _) | Values::Half(a, _, _) => a.is_null(row),
        }
    }

    /// Writes the field (length, then bytes) of `row`, which is not null.
    fn write(&self, row: usize, out: &mut Vec<u8>) -> std::result::Result<(), String> {
        fn field(out: &mut Vec<u8>, bytes: &[u8]) {
            out.extend_from_slice(&(bytes.len() as i32).to_be_bytes());
            out.extend_from_slice(bytes);
        }
        match self {
            Values::Bool(a) => field(out, &[a.value(row) as u8]),
            Values::I16(a) => field(out, &a.value(row).to_be_bytes()),
            Values::I32(a) => field(out, &a.value(row).to_be_bytes()),
            Values::I64(a) => field(out, &a.value(row).to_be_bytes()),
            Values::F32(a) => field(out, &a.value(row).to_be_bytes()),
            Values::F64(a) => field(out, &a.value(row).to_be_bytes()),
            Values::Text(a) => field(out, a.value(row).as_bytes()),
            Values::Json(a) => {
                let text = a.value(row).as_bytes();
                out.extend_from_slice(&(text.len() as i32 + 1).to_be_bytes());
                out.push(1); // jsonb's binary format version
                out.extend_from_slice(text);
            }
            Values::Bytes(a) => field(out, a.value(row)),
            Values::Date(a) => field(out, &(a.value(row) - EPOCH_DAYS).to_be_bytes()),
            Values::Micros(a) => field(out, &(a.value(row) - EPOCH_MICROS).to_be_bytes()),
            Values::TextList(a) => {
                let items = a.value(row);
                let items = items.as_string::<i32>();
                let start = out.len();
                out.extend_from_slice(&0i32.to_be_bytes()); // length, filled below
                let dims: i32 = if items.is_empty() { 0 } else { 1 };
                out.extend_from_slice(&dims.to_be_bytes());
                out.extend_from_slice(&((items.null_count() > 0) as i32).to_be_bytes());
                out.extend_from_slice(&25i32.to_be_bytes()); // text's type oid
                if dims == 1 {
                    out.extend_from_slice(&(items.len() as i32).to_be_bytes());
                    out.extend_from_slice(&1i32.to_be_bytes()); // lower bound
                    for i in 0..items.len() {
                        if items.is_null(i) {
                            out.extend_from_slice(&(-1i32).to_be_bytes());
                        } else {
                            field(out, items.value(i).as_bytes());
                        }
                    }
                }
                let len = (out.len() - start - 4) as i32;
                out[start..start + 4].copy_from_slice(&len.to_be_bytes());
            }
            Values::Vector(list, items, n) | Values::Half(list, items, n) => {
                let offset = list.value_offset(row) as usize;
                let values = &items.values()[offset..offset + n];
                if items.null_count() > 0 && (offset..offset + n).any(|i| items.is_null(i)) {
                    return Err("a vector holds a null value".into());
                }
                if let Some(v) = values.iter().find(|v| !v.is_finite()) {
                    return Err(format!("a vector holds {v}, which pgvector refuses"));
                }
                let half = matches!(self, Values::Half(..));
                let width = if half { 2 } else { 4 };
                out.extend_from_slice(&((4 + n * width) as i32).to_be_bytes());
                out.extend_from_slice(&(*n as u16).to_be_bytes());
                out.extend_from_slice(&0u16.to_be_bytes());
                if half {
                    for v in values {
                        out.extend_from_slice(&half::f16::from_f32(*v).to_bits().to_be_bytes());
                    }
                } else {
                    for v in values {
                        out.extend_from_slice(&v.to_be_bytes());
                    }
                }
            }
        }
        Ok(())
    }
}

/// Writes the rows of batches as binary COPY tuples, checking that the key columns are
/// never null and never repeat.
pub struct Encoder {
    columns: Vec<Column>,
    /// Positions in `columns` of the key's columns.
    key: Vec<usize>,
    keys: HashSet<u128>,
    /// Rows written so far.
    pub rows: u64,
}

impl Encoder {
    /// An encoder for `columns`, of which `key` (table names) is the key.
    pub fn new(columns: Vec<Column>, key: &[String], expected_rows: usize) -> Result<Encoder> {
        let key = key
            .iter()
            .map(|k| {
                columns.iter().position(|c| &c.name == k).ok_or_else(|| {
                    Error(format!(
                        "the key column `{k}` is not one of the loaded columns"
                    ))
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Encoder {
            columns,
            key,
            keys: HashSet::with_capacity(expected_rows),
            rows: 0,
        })
    }

    /// Appends the rows of `batch` to `out`.
    pub fn encode(&mut self, batch: &RecordBatch, out: &mut Vec<u8>) -> Result<()> {
        let values = self
            .columns
            .iter()
            .map(|c| Values::new(c, batch.column(c.index)))
            .collect::<Result<Vec<_>>>()?;
        let count = self.columns.len() as i16;
        let mut key_bytes = Vec::new();
        for row in 0..batch.num_rows() {
            let number = self.rows + 1;
            out.extend_from_slice(&count.to_be_bytes());
            key_bytes.clear();
            for (i, (column, values)) in self.columns.iter().zip(&values).enumerate() {
                let in_key = self.key.contains(&i);
                if values.is_null(row) {
                    if in_key {
                        return Err(Error(format!(
                            "row {number} of the dataset has no value in the key column `{}`: \
                             every row needs a key",
                            column.source
                        )));
                    }
                    out.extend_from_slice(&(-1i32).to_be_bytes());
                    continue;
                }
                let start = out.len();
                values.write(row, out).map_err(|e| {
                    Error(format!(
                        "row {number} of the dataset, column `{}`: {e}",
                        column.source
                    ))
                })?;
                if in_key {
                    key_bytes.extend_from_slice(&out[start..]);
                }
            }
            let hash = twox_hash::XxHash3_128::oneshot(&key_bytes);
            if !self.keys.insert(hash) {
                let shown: Vec<String> = self
                    .key
                    .iter()
                    .map(|&i| {
                        let c = &self.columns[i];
                        let v =
                            sluice_data::datafusion::arrow::util::display::array_value_to_string(
                                batch.column(c.index),
                                row,
                            )
                            .unwrap_or_default();
                        format!("{} = {v}", c.source)
                    })
                    .collect();
                return Err(Error(format!(
                    "row {number} of the dataset repeats the key {} of an earlier row: the key \
                     must identify one row (choose another `key`, or remove the duplicates in \
                     a `sql` task)",
                    shown.join(", ")
                )));
            }
            self.rows += 1;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::postgres::columns::{ColumnSpec, plan};
    use sluice_data::datafusion::arrow::array::{
        FixedSizeListBuilder, Float32Builder, StringArray,
    };

    fn batch(ids: &[&str]) -> RecordBatch {
        let mut vectors = FixedSizeListBuilder::new(Float32Builder::new(), 2);
        for i in 0..ids.len() {
            vectors.values().append_slice(&[i as f32, 0.5]);
            vectors.append(true);
        }
        let vectors = vectors.finish();
        let schema = Schema::new(vec![
            Field::new("id", DataType::Utf8, false),
            Field::new("v", vectors.data_type().clone(), true),
        ]);
        RecordBatch::try_new(
            Arc::new(schema),
            vec![Arc::new(StringArray::from(ids.to_vec())), Arc::new(vectors)],
        )
        .expect("batch")
    }

    #[test]
    fn writes_tuples_and_refuses_repeated_keys() {
        let b = batch(&["a", "b"]);
        let cols = plan(&b.schema(), &ColumnSpec::default()).expect("plan");
        let mut enc = Encoder::new(cols, &["id".into()], 2).expect("encoder");
        let mut out = Vec::new();
        enc.encode(&b, &mut out).expect("encode");
        let mut want = vec![0, 2, 0, 0, 0, 1, b'a', 0, 0, 0, 12, 0, 2, 0, 0];
        want.extend_from_slice(&0f32.to_be_bytes());
        want.extend_from_slice(&0.5f32.to_be_bytes());
        assert_eq!(&out[..want.len()], &want[..]);
        assert_eq!(enc.rows, 2);
        let err = enc
            .encode(&batch(&["c", "a"]), &mut out)
            .expect_err("repeat");
        assert_eq!(
            err.0,
            "row 4 of the dataset repeats the key id = a of an earlier row: the key must \
             identify one row (choose another `key`, or remove the duplicates in a `sql` task)"
        );
    }
}
