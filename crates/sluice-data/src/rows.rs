//! Writing a dataset row by row: for ops that produce records one at a time (a parser, a
//! splitter) rather than whole Arrow batches. Rows are buffered into batches of
//! [`BATCH_ROWS`] and handed to a [`DatasetWriter`], so memory stays bounded.

use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, BinaryBuilder, FixedSizeListBuilder, Float32Builder, Float64Builder, Int64Builder,
    ListBuilder, StringBuilder,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;

use crate::{DataError, DatasetTarget, DatasetWriter, Result};

/// Rows per batch handed to the dataset writer.
pub const BATCH_ROWS: usize = 4096;

/// The type of a column written by a [`RowWriter`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnType {
    /// UTF-8 text (nullable).
    Text,
    /// 64-bit integer (nullable).
    Int,
    /// A list of texts (nullable).
    Texts,
    /// 64-bit float (nullable).
    Float,
    /// Bytes (nullable): an encoded image.
    Bytes,
    /// A vector of this many 32-bit floats (nullable): `FixedSizeList<Float32>`.
    Vector(i32),
}

impl ColumnType {
    fn data_type(self) -> DataType {
        match self {
            ColumnType::Text => DataType::Utf8,
            ColumnType::Int => DataType::Int64,
            ColumnType::Texts => DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))),
            ColumnType::Float => DataType::Float64,
            ColumnType::Bytes => DataType::Binary,
            ColumnType::Vector(n) => {
                DataType::FixedSizeList(Arc::new(Field::new("item", DataType::Float32, true)), n)
            }
        }
    }
}

/// One value of a row.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// Null.
    Null,
    /// Text.
    Text(String),
    /// Integer.
    Int(i64),
    /// A list of texts.
    Texts(Vec<String>),
    /// A float.
    Float(f64),
    /// Bytes.
    Bytes(Vec<u8>),
    /// A vector.
    Vector(Vec<f32>),
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::Text(s)
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::Text(s.to_string())
    }
}

impl From<Option<String>> for Value {
    fn from(s: Option<String>) -> Self {
        s.map_or(Value::Null, Value::Text)
    }
}

impl From<i64> for Value {
    fn from(n: i64) -> Self {
        Value::Int(n)
    }
}

impl From<Vec<String>> for Value {
    fn from(v: Vec<String>) -> Self {
        Value::Texts(v)
    }
}

enum Builder {
    Text(StringBuilder),
    Int(Int64Builder),
    Texts(ListBuilder<StringBuilder>),
    Float(Float64Builder),
    Bytes(BinaryBuilder),
    Vector(FixedSizeListBuilder<Float32Builder>, i32),
}

impl Builder {
    fn new(t: ColumnType) -> Self {
        match t {
            ColumnType::Text => Builder::Text(StringBuilder::new()),
            ColumnType::Int => Builder::Int(Int64Builder::new()),
            ColumnType::Texts => Builder::Texts(ListBuilder::new(StringBuilder::new())),
            ColumnType::Float => Builder::Float(Float64Builder::new()),
            ColumnType::Bytes => Builder::Bytes(BinaryBuilder::new()),
            ColumnType::Vector(n) => {
                Builder::Vector(FixedSizeListBuilder::new(Float32Builder::new(), n), n)
            }
        }
    }

    fn finish(&mut self) -> ArrayRef {
        match self {
            Builder::Text(b) => Arc::new(b.finish()),
            Builder::Int(b) => Arc::new(b.finish()),
            Builder::Texts(b) => Arc::new(b.finish()),
            Builder::Float(b) => Arc::new(b.finish()),
            Builder::Bytes(b) => Arc::new(b.finish()),
            Builder::Vector(b, _) => Arc::new(b.finish()),
        }
    }
}

/// Writes rows of typed columns into a dataset.
pub struct RowWriter {
    schema: SchemaRef,
    builders: Vec<Builder>,
    pending: usize,
    out: DatasetWriter,
}

impl RowWriter {
    /// A writer of `columns` into `target`.
    pub fn new(target: &DatasetTarget, columns: &[(&str, ColumnType)]) -> Self {
        let schema = Arc::new(Schema::new(
            columns
                .iter()
                .map(|(name, t)| Field::new(*name, t.data_type(), true))
                .collect::<Vec<_>>(),
        ));
        RowWriter {
            builders: columns.iter().map(|(_, t)| Builder::new(*t)).collect(),
            out: DatasetWriter::new(target, schema.clone()),
            schema,
            pending: 0,
        }
    }

    /// The schema written.
    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// Appends one row; values must follow the columns' order and types.
    pub fn push(&mut self, row: Vec<Value>) -> Result<()> {
        if row.len() != self.builders.len() {
            return Err(DataError::Engine(format!(
                "a row of {} values for {} columns",
                row.len(),
                self.builders.len()
            )));
        }
        for (i, (b, v)) in self.builders.iter_mut().zip(row).enumerate() {
            match (b, v) {
                (Builder::Text(b), Value::Text(s)) => b.append_value(s),
                (Builder::Text(b), Value::Null) => b.append_null(),
                (Builder::Int(b), Value::Int(n)) => b.append_value(n),
                (Builder::Int(b), Value::Null) => b.append_null(),
                (Builder::Texts(b), Value::Texts(items)) => {
                    for item in items {
                        b.values().append_value(item);
                    }
                    b.append(true);
                }
                (Builder::Texts(b), Value::Null) => b.append(false),
                (Builder::Float(b), Value::Float(x)) => b.append_value(x),
                (Builder::Float(b), Value::Null) => b.append_null(),
                (Builder::Bytes(b), Value::Bytes(x)) => b.append_value(x),
                (Builder::Bytes(b), Value::Null) => b.append_null(),
                (Builder::Vector(b, n), Value::Vector(x)) if x.len() == *n as usize => {
                    b.values().append_slice(&x);
                    b.append(true);
                }
                (Builder::Vector(b, n), Value::Null) => {
                    for _ in 0..*n {
                        b.values().append_null();
                    }
                    b.append(false);
                }
                (_, v) => {
                    return Err(DataError::Engine(format!(
                        "column `{}` cannot hold {v:?}",
                        self.schema.field(i).name()
                    )));
                }
            }
        }
        self.pending += 1;
        if self.pending >= BATCH_ROWS {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        if self.pending == 0 {
            return Ok(());
        }
        let columns: Vec<ArrayRef> = self.builders.iter_mut().map(Builder::finish).collect();
        let batch = RecordBatch::try_new(self.schema.clone(), columns)
            .map_err(|e| DataError::Engine(e.to_string()))?;
        self.pending = 0;
        self.out.write(&batch)
    }

    /// Writes batches produced elsewhere with the same schema (rows copied from a previous
    /// version, for instance), after the rows pushed so far.
    pub fn write_batch(&mut self, batch: &RecordBatch) -> Result<()> {
        self.flush()?;
        self.out.write(batch)
    }

    /// Writes what is buffered and closes the dataset.
    pub fn finish(mut self) -> Result<crate::DatasetInfo> {
        self.flush()?;
        self.out.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_of_each_type_come_back_from_the_dataset() {
        let dir = tempfile::tempdir().expect("tempdir");
        let target = DatasetTarget::new(dir.path());
        let mut w = RowWriter::new(
            &target,
            &[
                ("id", ColumnType::Text),
                ("n", ColumnType::Int),
                ("tags", ColumnType::Texts),
            ],
        );
        w.push(vec!["a".into(), 1.into(), vec!["x".to_string()].into()])
            .expect("row");
        w.push(vec![Value::Null, Value::Null, Value::Null])
            .expect("row");
        let err = w
            .push(vec![Value::Int(3), Value::Null, Value::Null])
            .expect_err("wrong type");
        assert_eq!(err.to_string(), "column `id` cannot hold Int(3)");
        let info = w.finish().expect("finish");
        assert_eq!(info.rows, 2);
    }
}
