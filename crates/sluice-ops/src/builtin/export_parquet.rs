//! `export.parquet`: an upstream dataset as a folder of Parquet files for people and for
//! publishing: at most `max_rows` rows a file without splitting a `group`, ordered, zstd,
//! vectors as `FixedSizeList<Float32>`, and a `manifest.json` (files, rows, bytes, sha256).
//! The work is in `sluice_data::release`.

use async_trait::async_trait;
use serde::Deserialize;
use sluice_data::release::{MANIFEST, ReleaseSpec, release};

use crate::support::parts::PARTS_LIST;
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
    /// The input is a `split` task: each part goes to `path/<part>/`, files named after it,
    /// and `path/parts.json` lists them (folders of parts that are gone are removed).
    #[serde(default)]
    pub parts: bool,
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
    if op.parts && op.name.is_some() {
        return Err(bad(
            "with `parts: true` the files are named after their part: remove `name`",
        ));
    }
    Ok(Box::new(op))
}

#[async_trait]
impl Op for ExportParquet {
    async fn run(&self, ctx: &TaskContext) -> Result<OpOutput, OpError> {
        let dataset = ctx.input(&self.input)?.to_path_buf();
        let target = ctx.workdir.join(&self.path);
        let releases = match self.parts {
            false => vec![(
                self.name.clone().unwrap_or_else(|| self.input.clone()),
                dataset,
                target.clone(),
            )],
            true => crate::support::parts::parts_of(&dataset, &self.input)?
                .into_iter()
                .map(|(name, dir)| (name.clone(), dir, target.join(name)))
                .collect(),
        };
        if self.parts && target.join(MANIFEST).is_file() {
            // The folder held a single export before: the parts replace it.
            std::fs::remove_dir_all(&target).map_err(|e| {
                OpError::internal(format!("cannot replace {}: {e}", target.display()))
            })?;
        }
        let (mut rows, mut files, mut bytes) = (0, 0, 0);
        let mut listed = Vec::new();
        for (name, dataset, folder) in releases {
            let spec = ReleaseSpec {
                dataset,
                target: folder,
                name: name.clone(),
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
                    return Err(OpError::cancelled(format!("stopped; {} was left as it was", self.path)));
                }
            };
            rows += manifest.rows;
            files += manifest.files.len() as u64;
            bytes += manifest.bytes;
            listed.push(serde_json::json!({
                "part": name, "rows": manifest.rows, "files": manifest.files.len(),
                "bytes": manifest.bytes,
            }));
        }
        if self.parts {
            write_parts_list(&target, &listed)?;
        }
        let _ = ctx.log.line(&format!(
            "wrote {rows} rows in {files} files ({bytes} bytes) to {}",
            self.path
        ));
        let schema = sluice_data::export::dataset_schema(ctx.input(&self.input)?)
            .map(|s| sluice_data::writer::schema_json(&s))
            .map_err(|e| OpError::data(e.to_string()))?;
        Ok(OpOutput {
            metrics: counters(&[("rows", rows), ("files", files), ("bytes", bytes)]),
            lineage: sluice_op::lineage::write_from_dataset(
                &self.input,
                sluice_op::lineage::External::file(&target),
                &schema,
            ),
            ..OpOutput::default()
        })
    }

    fn reads(&self) -> Vec<String> {
        vec![self.input.clone()]
    }

    fn outputs(&self, workdir: &std::path::Path) -> Vec<std::path::PathBuf> {
        let file = if self.parts { PARTS_LIST } else { MANIFEST };
        vec![workdir.join(&self.path).join(file)]
    }
}

/// Writes `parts.json` (through a temporary file) and removes the folders of parts that the
/// previous list named and this one does not.
fn write_parts_list(target: &std::path::Path, listed: &[serde_json::Value]) -> Result<(), OpError> {
    let path = target.join(PARTS_LIST);
    let io = |e: std::io::Error| OpError::internal(format!("cannot write {}: {e}", path.display()));
    let before: Vec<serde_json::Value> = std::fs::read(&path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    std::fs::create_dir_all(target).map_err(io)?;
    let tmp = target.join(format!(".{PARTS_LIST}.tmp"));
    let text =
        serde_json::to_string_pretty(listed).map_err(|e| OpError::internal(e.to_string()))?;
    std::fs::write(&tmp, text).map_err(io)?;
    std::fs::rename(&tmp, &path).map_err(io)?;
    let now: std::collections::HashSet<&str> =
        listed.iter().filter_map(|p| p["part"].as_str()).collect();
    for old in before.iter().filter_map(|p| p["part"].as_str()) {
        let dir = target.join(old);
        if !now.contains(old) && !old.contains(['/', '\\', '.']) && dir.join(MANIFEST).is_file() {
            std::fs::remove_dir_all(&dir).map_err(io)?;
        }
    }
    Ok(())
}
