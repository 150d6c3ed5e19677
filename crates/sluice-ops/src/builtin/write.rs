//! `write.json`, `write.ndjson`, `write.csv`, `write.parquet`: an upstream dataset to a file
//! (relative to the pipeline file), written under a temporary name and renamed.

use async_trait::async_trait;
use serde::Deserialize;
use sluice_data::export::{Format, Source, export};

use crate::{Op, OpError, OpOutput, TaskContext, blocking};

fn default_true() -> bool {
    true
}

/// Keys of every writer.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Write {
    /// The task whose dataset is written.
    pub input: String,
    /// The file to write, relative to the pipeline file.
    pub path: String,
    /// `write.json` only: indented output (default true).
    #[serde(default = "default_true")]
    pub pretty: bool,
    #[serde(skip)]
    format: Option<Format>,
}

fn build(
    config: &sluice_core::Node,
    format: Format,
    allows_pretty: bool,
) -> Result<Box<dyn Op>, sluice_core::DeError> {
    let mut op: Write = sluice_core::from_node(config)?;
    let has_pretty = config
        .as_map()
        .is_some_and(|m| m.iter().any(|(k, _)| k.as_text() == Some("pretty")));
    if has_pretty && !allows_pretty {
        return Err(<sluice_core::DeError as serde::de::Error>::custom(
            "`pretty` applies to write.json only",
        ));
    }
    op.format = Some(match format {
        Format::Json { .. } => Format::Json { pretty: op.pretty },
        f => f,
    });
    Ok(Box::new(op))
}

/// Builds `write.json`.
pub fn build_json(c: &sluice_core::Node) -> Result<Box<dyn Op>, sluice_core::DeError> {
    build(c, Format::Json { pretty: true }, true)
}
/// Builds `write.ndjson`.
pub fn build_ndjson(c: &sluice_core::Node) -> Result<Box<dyn Op>, sluice_core::DeError> {
    build(c, Format::Ndjson, false)
}
/// Builds `write.csv`.
pub fn build_csv(c: &sluice_core::Node) -> Result<Box<dyn Op>, sluice_core::DeError> {
    build(c, Format::Csv, false)
}
/// Builds `write.parquet`.
pub fn build_parquet(c: &sluice_core::Node) -> Result<Box<dyn Op>, sluice_core::DeError> {
    build(c, Format::Parquet, false)
}

#[async_trait]
impl Op for Write {
    async fn run(&self, ctx: &TaskContext) -> Result<OpOutput, OpError> {
        let dir = ctx.input(&self.input)?.to_path_buf();
        let target = ctx.workdir.join(&self.path);
        let format = self.format.unwrap_or(Format::Json {
            pretty: self.pretty,
        });
        let file = sluice_op::lineage::External::file(&target);
        let (rows, schema) = blocking(move || {
            let rows = export(&Source::Dir(&dir), &target, format)?;
            let schema = sluice_data::export::dataset_schema(&dir)?;
            Ok((rows, sluice_data::writer::schema_json(&schema)))
        })
        .await?;
        let _ = ctx.log.line(&format!("wrote {rows} rows to {}", self.path));
        let mut out = OpOutput {
            lineage: sluice_op::lineage::write_from_dataset(&self.input, file, &schema),
            ..OpOutput::default()
        };
        out.metrics.insert("rows_written".into(), rows.into());
        Ok(out)
    }

    fn reads(&self) -> Vec<String> {
        vec![self.input.clone()]
    }

    fn outputs(&self, workdir: &std::path::Path) -> Vec<std::path::PathBuf> {
        vec![workdir.join(&self.path)]
    }
}
