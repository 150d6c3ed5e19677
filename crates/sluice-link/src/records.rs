//! The records of one input, held in memory as text columns (the pairs are streamed; the
//! records they point into are not).

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use sluice_data::datafusion::arrow::array::{Array, ArrayRef, AsArray, RecordBatch, StringArray};
use sluice_data::datafusion::arrow::compute::{cast, concat};
use sluice_data::datafusion::arrow::datatypes::{DataType, Field, Schema};
use sluice_data::export::for_each_batch;

use sluice_op::OpError;

/// One input's records: the id column and the columns the linkage uses, as text.
pub struct Records {
    /// The task the records come from.
    pub task: String,
    /// Record ids.
    pub ids: StringArray,
    columns: HashMap<String, StringArray>,
}

impl Records {
    /// Reads `id` and `columns` of the dataset in `dir` (task `task`).
    pub fn read(dir: &Path, task: &str, id: &str, columns: &[String]) -> Result<Self, OpError> {
        let mut parts: HashMap<String, Vec<ArrayRef>> = HashMap::new();
        let mut wanted: Vec<&str> = vec![id];
        for c in columns {
            if !wanted.contains(&c.as_str()) {
                wanted.push(c);
            }
        }
        let schema = for_each_batch(dir, |schema, batch| {
            for name in &wanted {
                if let Some((i, _)) = schema.column_with_name(name) {
                    parts
                        .entry((*name).to_string())
                        .or_default()
                        .push(batch.column(i).clone());
                }
            }
            Ok(())
        })?;
        let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        let mut text = HashMap::new();
        for name in &wanted {
            if schema.column_with_name(name).is_none() {
                return Err(OpError::config(format!(
                    "`{name}` is not a column of `{task}` (columns: {})",
                    names.join(", ")
                )));
            }
            let arrays = parts.remove(*name).unwrap_or_default();
            let joined: ArrayRef = if arrays.is_empty() {
                Arc::new(StringArray::from(Vec::<Option<&str>>::new()))
            } else {
                let refs: Vec<&dyn Array> = arrays.iter().map(|a| a.as_ref()).collect();
                concat(&refs).map_err(|e| OpError::internal(format!("`{task}`.`{name}`: {e}")))?
            };
            let as_text = cast(&joined, &DataType::Utf8).map_err(|e| {
                OpError::config(format!("`{task}`.`{name}` cannot be read as text: {e}"))
            })?;
            text.insert((*name).to_string(), as_text.as_string::<i32>().clone());
        }
        let ids = text
            .get(id)
            .cloned()
            .unwrap_or_else(|| StringArray::from(Vec::<&str>::new()));
        if ids.null_count() > 0 {
            let row = (0..ids.len()).find(|&i| ids.is_null(i)).unwrap_or(0);
            return Err(OpError::data(format!(
                "`{task}`: the id column `{id}` is empty at row {}: every record needs an id",
                row + 1
            )));
        }
        Ok(Records {
            task: task.to_string(),
            ids,
            columns: text,
        })
    }

    /// Number of records.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// The text column `name` (read by [`Records::read`]).
    pub fn column(&self, name: &str) -> &StringArray {
        // Every column the op uses was read, or `read` failed.
        &self.columns[name]
    }

    /// The value of `column` at `row`: `None` when null or empty.
    pub fn value(col: &StringArray, row: usize) -> Option<&str> {
        if col.is_null(row) {
            return None;
        }
        Some(col.value(row)).filter(|s| !s.is_empty())
    }

    /// The row whose id is `id`.
    pub fn row_of(&self, id: &str) -> Option<usize> {
        (0..self.len()).find(|&i| self.ids.value(i) == id)
    }

    /// The records as one batch (`__row`, then the columns), for SQL blocking rules.
    pub fn batch(&self, columns: &[String]) -> Result<RecordBatch, OpError> {
        use sluice_data::datafusion::arrow::array::UInt32Array;
        let mut fields = vec![Field::new("__row", DataType::UInt32, false)];
        let mut arrays: Vec<ArrayRef> = vec![Arc::new(UInt32Array::from_iter_values(
            0..self.len() as u32,
        ))];
        let mut names: Vec<&String> = self.columns.keys().collect();
        names.sort();
        for name in names {
            if columns.is_empty() || columns.contains(name) {
                fields.push(Field::new(name, DataType::Utf8, true));
                arrays.push(Arc::new(self.columns[name].clone()));
            }
        }
        RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)
            .map_err(|e| OpError::internal(format!("`{}`: {e}", self.task)))
    }
}
