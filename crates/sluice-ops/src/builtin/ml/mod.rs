//! Machine learning ops on `sluice-ml`: `train` (fit one model or a search of several, keep
//! the best by a validation metric, write its artifact and a metrics dataset) and `predict`
//! (score a dataset with the model of a `train` task).

pub(crate) mod mlflow;
mod predict;
mod search;
pub(crate) mod train;

pub use mlflow::Tracking;
pub use predict::Predict;
pub use train::{Promote, Train, When};

use std::path::Path;

use sluice_data::datafusion::arrow::record_batch::RecordBatch;
use sluice_data::export::{dataset_schema, for_each_batch_of};
use sluice_ml::tracking::MODEL_DIR;
use sluice_op::OpError;

/// The columns `names` of the dataset folder `dir`, whole (a training needs every row).
fn read_columns(dir: &Path, task: &str, names: &[String]) -> Result<Vec<RecordBatch>, OpError> {
    let schema = dataset_schema(dir)?;
    let mut positions = Vec::with_capacity(names.len());
    for name in names {
        let i = schema.index_of(name).map_err(|_| {
            let have: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
            OpError::config(format!(
                "the dataset of `{task}` has no column `{name}` (its columns: {})",
                have.join(", ")
            ))
        })?;
        positions.push(i);
    }
    positions.sort_unstable();
    positions.dedup();
    let mut batches = Vec::new();
    for_each_batch_of(dir, Some(&positions), |_, b| {
        batches.push(b);
        Ok(())
    })?;
    Ok(batches)
}

/// An error of `sluice-ml` as an op error of the right kind.
fn ml_error(e: sluice_ml::MlError) -> OpError {
    match e {
        sluice_ml::MlError::Data(m) => OpError::data(m),
        sluice_ml::MlError::Config(m) => OpError::config(m),
        sluice_ml::MlError::Cancelled => OpError::cancelled("training cancelled"),
        e @ sluice_ml::MlError::Artifact { .. } => OpError::internal(e.to_string()),
    }
}
