//! `predict`: scores every row of `input` with the model a `train` task kept, batch by batch:
//! the input's columns (or those of `keep`) then the prediction — `label` and `probas` for a
//! classifier, `prediction` for a regressor, `cluster` and `distance` for k-means,
//! `projection` for PCA.

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use sluice_data::datafusion::arrow::datatypes::{Field, Schema};
use sluice_data::datafusion::arrow::record_batch::RecordBatch;
use sluice_data::export::for_each_batch_of;
use sluice_data::{DataError, DatasetTarget, DatasetWriter};
use sluice_ml::Model;
use sluice_op::{Op, OpError, OpOutput, TaskContext, blocking};

use super::{MODEL_DIR, ml_error};

/// `op: predict`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Predict {
    /// The task whose dataset holds the rows to score.
    pub input: String,
    /// The `train` task whose model scores them.
    pub model: String,
    /// Input columns copied to the output (default: all).
    #[serde(default)]
    pub keep: Option<Vec<String>>,
    /// Threads (default: every core).
    #[serde(default)]
    pub threads: Option<usize>,
}

impl Predict {
    fn predict(
        &self,
        input: PathBuf,
        model_dir: PathBuf,
        out: DatasetTarget,
    ) -> Result<OpOutput, OpError> {
        let model = Model::load(&model_dir.join(MODEL_DIR)).map_err(|e| {
            OpError::config(format!(
                "task `{}` has no model to predict with ({e}): is it a `train` task?",
                self.model
            ))
        })?;
        let threads = self.threads.unwrap_or_else(sluice_ml::all_threads).max(1);
        let schema = sluice_data::export::dataset_schema(&input)?;
        let keep: Vec<usize> = match &self.keep {
            None => (0..schema.fields().len()).collect(),
            Some(names) => names
                .iter()
                .map(|n| {
                    schema.index_of(n).map_err(|_| {
                        OpError::config(format!(
                            "keep: the dataset of `{}` has no column `{n}`",
                            self.input
                        ))
                    })
                })
                .collect::<Result<_, _>>()?,
        };
        let mut writer: Option<DatasetWriter> = None;
        let mut rows = 0u64;
        for_each_batch_of(&input, None, |_, batch| {
            let frame = model
                .frame(std::slice::from_ref(&batch))
                .map_err(|e| DataError::Check(e.to_string()))?;
            let prediction = model
                .predict(&frame, threads)
                .map_err(|e| DataError::Check(e.to_string()))?;
            // The kept columns, then the prediction's (which replace kept ones of their name).
            let predicted = model.columns(&prediction);
            let mut fields: Vec<Field> = Vec::new();
            let mut columns = Vec::new();
            for &i in &keep {
                let field = batch.schema().field(i).clone();
                if predicted.iter().all(|(f, _)| f.name() != field.name()) {
                    fields.push(field);
                    columns.push(batch.column(i).clone());
                }
            }
            for (field, array) in predicted {
                fields.push(field);
                columns.push(array);
            }
            let out_schema = Arc::new(Schema::new(fields));
            let batch = RecordBatch::try_new(out_schema.clone(), columns)?;
            rows += batch.num_rows() as u64;
            writer
                .get_or_insert_with(|| DatasetWriter::new(&out, out_schema))
                .write(&batch)
        })
        .map_err(|e| match e {
            DataError::Check(m) => ml_error(sluice_ml::MlError::Data(m)),
            other => other.into(),
        })?;
        let writer = writer
            .ok_or_else(|| OpError::data(format!("the dataset of `{}` has no rows", self.input)))?;
        Ok(OpOutput {
            dataset: Some(writer.finish()?.into()),
            metrics: sluice_op::counters(&[("rows", rows)]),
            ..OpOutput::default()
        })
    }
}

#[async_trait]
impl Op for Predict {
    async fn run(&self, ctx: &TaskContext) -> Result<OpOutput, OpError> {
        let input = ctx.input(&self.input)?.to_path_buf();
        let model = ctx.input(&self.model)?.to_path_buf();
        let out = ctx.output()?.clone();
        let op = self.clone();
        blocking(move || op.predict(input, model, out)).await
    }

    fn reads(&self) -> Vec<String> {
        vec![self.input.clone(), self.model.clone()]
    }

    fn produces_dataset(&self) -> bool {
        true
    }
}
