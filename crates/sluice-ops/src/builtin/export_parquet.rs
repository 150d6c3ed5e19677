//! `export.parquet`: an upstream dataset as a folder of Parquet files for people and for
//! publishing: at most `max_rows` rows a file without splitting a `group`, ordered, zstd,
//! vectors as `FixedSizeList<Float32>`, and a `manifest.json` (files, rows, bytes, sha256).
//! The work is in `sluice_data::release`.

use async_trait::async_trait;
use serde::Deserialize;
use sluice_data::release::{MANIFEST, ReleaseSpec, release};

use crate::{Op, OpError, OpOutput, TaskContext, counters};

fn default_max_rows() -> usize {
    250_000
}
fn default_row_group() -> usize {
    10_000
}
fn default_level() -> i32 {
    3
}

/// `op: export.parquet`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportParquet {
    /// The task whose dataset is exported.
    pub input: String,
    /// The folder to write, relative to the pipeline file (replaced as a whole).
    pub path: String,
    /// File names, `<name>-00000.parquet`… (default: the input task's name).
    #[serde(default)]
    pub name: Option<String>,
    /// Rows per file at most (default 250,000); a group larger than that gets a file of
    /// its own.
    #[serde(default = "default_max_rows")]
    pub max_rows: usize,
    /// A column whose rows stay together in one file (`doc_id`: a document's chunks).
    #[serde(default)]
    pub group: Option<String>,
    /// Sort order, ascending (default: `group`, then nothing).
    #[serde(default)]
    pub order_by: Vec<String>,
    /// The columns exported, in this order (default: all).
    #[serde(default)]
    pub columns: Option<Vec<String>>,
    /// Rows per Parquet row group (default 10,000).
    #[serde(default = "default_row_group")]
    pub row_group_rows: usize,
    /// zstd level, 1 to 22 (default 3).
    #[serde(default = "default_level")]
    pub zstd_level: i32,
}

/// Builds `export.parquet`, checking its settings.
pub fn build_export_parquet(
    config: &sluice_core::Node,
) -> Result<Box<dyn Op>, sluice_core::DeError> {
    let op: ExportParquet = sluice_core::from_node(config)?;
    let bad = |m: &str| <sluice_core::DeError as serde::de::Error>::custom(m);
    if op.max_rows == 0 || op.row_group_rows == 0 {
        return Err(bad("`max_rows` and `row_group_rows` must be at least 1"));
    }
    if !(1..=22).contains(&op.zstd_level) {
        return Err(bad("`zstd_level` must be between 1 and 22"));
    }
    if let Some(name) = &op.name
        && (name.is_empty() || name.contains(['/', '\\']))
    {
        return Err(bad("`name` must be a file name prefix, without `/`"));
    }
    Ok(Box::new(op))
}

#[async_trait]
impl Op for ExportParquet {
    async fn run(&self, ctx: &TaskContext) -> Result<OpOutput, OpError> {
        let spec = ReleaseSpec {
            dataset: ctx.input(&self.input)?.to_path_buf(),
            target: ctx.workdir.join(&self.path),
            name: self.name.clone().unwrap_or_else(|| self.input.clone()),
            max_rows: self.max_rows,
            group: self.group.clone(),
            order_by: self.order_by.clone(),
            columns: self.columns.clone(),
            row_group_rows: self.row_group_rows,
            zstd_level: self.zstd_level,
        };
        let manifest = tokio::select! {
            m = release(&spec) => m?,
            _ = ctx.cancel.cancelled() => {
                return Err(OpError::new(format!("stopped; {} was left as it was", self.path)));
            }
        };
        let _ = ctx.log.line(&format!(
            "wrote {} rows in {} files ({} bytes) to {}",
            manifest.rows,
            manifest.files.len(),
            manifest.bytes,
            self.path
        ));
        Ok(OpOutput {
            metrics: counters(&[
                ("rows", manifest.rows),
                ("files", manifest.files.len() as u64),
                ("bytes", manifest.bytes),
            ]),
            ..OpOutput::default()
        })
    }

    fn reads(&self) -> Vec<String> {
        vec![self.input.clone()]
    }

    fn outputs(&self, workdir: &std::path::Path) -> Vec<std::path::PathBuf> {
        vec![workdir.join(&self.path).join(MANIFEST)]
    }
}
