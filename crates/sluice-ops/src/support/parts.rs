//! The layout of a `split` task's dataset: the mapping (part, rule column, value or pattern,
//! rows, folder) is the dataset, and each part a dataset of its own under
//! `<version>/parts/<name>/`; `load.postgres` and `export.parquet` take the parts one by one.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use sluice_data::datafusion::arrow::array::{Array, StringArray};
use sluice_data::datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use sluice_data::export::{dataset_schema, for_each_batch};

use crate::OpError;

/// The folder of the parts inside the split task's dataset version.
pub const PARTS: &str = "parts";

/// The list of exported parts, in the export folder of `export.parquet` with `parts: true`.
pub const PARTS_LIST: &str = "parts.json";

/// The mapping's schema.
pub fn mapping_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("part", DataType::Utf8, false),
        Field::new("column", DataType::Utf8, false),
        Field::new("value", DataType::Utf8, false),
        Field::new("pattern", DataType::Utf8, true),
        Field::new("rows", DataType::Int64, false),
        Field::new("path", DataType::Utf8, false),
    ]))
}

/// The parts of a `split` task's dataset, by name: each a dataset folder.
pub fn parts_of(dir: &Path, task: &str) -> Result<Vec<(String, PathBuf)>, OpError> {
    let not_split = || {
        OpError::config(format!(
            "`parts: true` reads the parts of a `split` task, and `{task}` is not one"
        ))
    };
    let schema = dataset_schema(dir)?;
    if schema.as_ref() != mapping_schema().as_ref() {
        return Err(not_split());
    }
    let mut out = Vec::new();
    for_each_batch(dir, |_, batch| {
        let part = batch.column(0).as_any().downcast_ref::<StringArray>();
        let path = batch.column(5).as_any().downcast_ref::<StringArray>();
        if let (Some(part), Some(path)) = (part, path) {
            for i in 0..batch.num_rows() {
                out.push((part.value(i).to_string(), dir.join(path.value(i))));
            }
        }
        Ok(())
    })?;
    for (_, p) in &out {
        if !p.is_dir() {
            return Err(OpError::data(format!(
                "the part folder {} of `{task}` is missing; run `{task}` again",
                p.display()
            )));
        }
    }
    Ok(out)
}
