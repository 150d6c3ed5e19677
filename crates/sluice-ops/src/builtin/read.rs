//! `read.csv`, `read.json`, `read.parquet`: files (paths may be globs, relative to the
//! pipeline file) into the task's dataset.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use serde::Deserialize;
use sluice_data::read_csv::{CsvOptions, csv_schema, read_csv};
use sluice_data::read_json::{JsonOptions, json_schema, read_json};
use sluice_data::values::Kind;
use sluice_data::{DatasetTarget, DatasetWriter, expand_paths};

use crate::builtin::parse::{Inputs, Sourced};
use crate::{Op, OpError, OpOutput, TaskContext, blocking, file_stamp};
use sluice_op::lineage::External;

fn default_true() -> bool {
    true
}

fn default_delimiter() -> char {
    ','
}

fn default_quote() -> char {
    '"'
}

/// `op: read.csv`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReadCsv {
    /// File or glob (`data/*.csv`), relative to the pipeline file.
    #[serde(default)]
    pub path: Option<String>,
    /// Or the files downloaded by a `fetch` task.
    #[serde(default)]
    pub files: Option<String>,
    /// Field separator (default `,`).
    #[serde(default = "default_delimiter")]
    pub delimiter: char,
    /// Quote character (default `"`).
    #[serde(default = "default_quote")]
    pub quote: char,
    /// Whether the first line names the columns (default true).
    #[serde(default = "default_true")]
    pub header: bool,
    /// Types of some columns: `string`, `int`, `float`, `bool`, `date` or `timestamp`.
    #[serde(default)]
    pub columns: BTreeMap<String, String>,
    /// Infer the types of the other columns from the data (default true; false: text).
    #[serde(default = "default_true")]
    pub infer: bool,
    /// Decode literal `\xNN` escapes when they form UTF-8, drop them otherwise (default true).
    #[serde(default = "default_true")]
    pub repair_escapes: bool,
    /// Trim spaces around values (default false).
    #[serde(default)]
    pub trim: bool,
}

impl ReadCsv {
    fn options(&self) -> Result<CsvOptions, String> {
        let byte = |c: char, what: &str| {
            u8::try_from(c)
                .ok()
                .filter(u8::is_ascii)
                .ok_or_else(|| format!("{what} must be one ASCII character"))
        };
        let mut types = BTreeMap::new();
        for (col, name) in &self.columns {
            let kind = Kind::from_name(name).ok_or_else(|| {
                format!(
                    "column `{col}`: unknown type `{name}` (use string, int, float, bool, date or timestamp)"
                )
            })?;
            types.insert(col.clone(), kind);
        }
        Ok(CsvOptions {
            delimiter: byte(self.delimiter, "delimiter")?,
            quote: byte(self.quote, "quote")?,
            header: self.header,
            types,
            infer: self.infer,
            repair_escapes: self.repair_escapes,
            trim: self.trim,
        })
    }
}

/// Builds `read.csv`, checking the options.
pub fn build_read_csv(config: &sluice_core::Node) -> Result<Box<dyn Op>, sluice_core::DeError> {
    let op: ReadCsv = sluice_core::from_node(config)?;
    op.options()
        .map_err(<sluice_core::DeError as serde::de::Error>::custom)?;
    Inputs::from_keys(&op.files, &op.path)
        .map_err(<sluice_core::DeError as serde::de::Error>::custom)?;
    Ok(Box::new(op))
}

fn paths(workdir: &Path, pattern: &str) -> Result<Vec<PathBuf>, OpError> {
    Ok(expand_paths(workdir, pattern)?)
}

impl Sourced for ReadCsv {
    fn keys(&self) -> (&Option<String>, &Option<String>) {
        (&self.files, &self.path)
    }
}

/// Runs `read` off the async threads with the files matching `pattern` and the task's dataset
/// folder; what it wrote is the task's dataset.
async fn read_files(
    ctx: &TaskContext,
    inputs: Inputs,
    read: impl FnOnce(Vec<PathBuf>, DatasetTarget) -> Result<sluice_data::DatasetInfo, OpError>
    + Send
    + 'static,
) -> Result<OpOutput, OpError> {
    let files = inputs.resolve(ctx)?;
    // Many files matched by a glob are one dataset, named by the glob.
    let sources = match (&inputs, files.as_slice()) {
        (Inputs::Path(_), [one]) => vec![External::file(one)],
        (Inputs::Path(pattern), _) => vec![External::file(&ctx.workdir.join(pattern))],
        (Inputs::Files(_), _) => files.iter().map(|f| External::file(f)).collect(),
    };
    let out = ctx.output()?.clone();
    let info = blocking(move || read(files, out)).await?;
    let dataset: sluice_op::Dataset = info.into();
    Ok(OpOutput {
        lineage: sluice_op::lineage::read_into_dataset(sources, &dataset.schema),
        dataset: Some(dataset),
        ..OpOutput::default()
    })
}

#[async_trait]
impl Op for ReadCsv {
    async fn run(&self, ctx: &TaskContext) -> Result<OpOutput, OpError> {
        let opts = self.options().map_err(OpError::config)?;
        let cancel = ctx.cancel.clone();
        read_files(ctx, self.inputs(), move |files, out| {
            let schema = csv_schema(&files, &opts)?;
            let mut writer = DatasetWriter::new(&out, schema.clone());
            read_csv(&files, &opts, &schema, &mut |batch| {
                if cancel.is_cancelled() {
                    return Err(sluice_data::DataError::Engine("cancelled".into()));
                }
                writer.write(&batch)
            })?;
            Ok(writer.finish()?)
        })
        .await
    }

    crate::builtin::parse::sourced_methods!();
}

/// `op: read.json`: a JSON array of objects, or one object per line, streamed (read twice:
/// once for the columns and their types, once for the rows).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReadJson {
    /// File or glob, relative to the pipeline file.
    pub path: String,
    /// Accept trailing commas and fields whose type varies (read as text).
    #[serde(default)]
    pub lenient: bool,
    /// Decode literal `\xNN` escapes when they form UTF-8, drop them otherwise (default true).
    #[serde(default = "default_true")]
    pub repair_escapes: bool,
}

#[async_trait]
impl Op for ReadJson {
    async fn run(&self, ctx: &TaskContext) -> Result<OpOutput, OpError> {
        let opts = JsonOptions {
            lenient: self.lenient,
            repair_escapes: self.repair_escapes,
        };
        let cancel = ctx.cancel.clone();
        read_files(ctx, Inputs::Path(self.path.clone()), move |files, out| {
            let schema = json_schema(&files, &opts)?;
            let mut writer = DatasetWriter::new(&out, schema.clone());
            read_json(&files, &opts, &schema, &mut |batch| {
                if cancel.is_cancelled() {
                    return Err(sluice_data::DataError::Engine("cancelled".into()));
                }
                writer.write(&batch)
            })?;
            Ok(writer.finish()?)
        })
        .await
    }

    fn produces_dataset(&self) -> bool {
        true
    }

    fn input_stamp(&self, workdir: &Path) -> Result<String, OpError> {
        Ok(file_stamp(&paths(workdir, &self.path)?))
    }
}

/// `op: read.parquet`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReadParquet {
    /// File or glob, relative to the pipeline file.
    pub path: String,
}

#[async_trait]
impl Op for ReadParquet {
    async fn run(&self, ctx: &TaskContext) -> Result<OpOutput, OpError> {
        use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
        use sluice_data::datafusion;
        read_files(ctx, Inputs::Path(self.path.clone()), move |files, out| {
            let mut writer: Option<DatasetWriter> = None;
            for path in &files {
                let file = std::fs::File::open(path)
                    .map_err(|e| OpError::config(format!("{}: {e}", path.display())))?;
                let unreadable = |e| {
                    OpError::data(format!(
                        "{}: not a readable Parquet file: {e}",
                        path.display()
                    ))
                };
                let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(unreadable)?;
                // The schema comes from the file's footer: a file without rows still has one.
                let w = writer
                    .get_or_insert_with(|| DatasetWriter::new(&out, builder.schema().clone()));
                if w.schema().fields() != builder.schema().fields() {
                    return Err(OpError::data(format!(
                        "{}: its columns differ from those of {}",
                        path.display(),
                        files[0].display()
                    )));
                }
                for batch in builder.build().map_err(unreadable)? {
                    let batch =
                        batch.map_err(|e| OpError::data(format!("{}: {e}", path.display())))?;
                    w.write(&batch)?;
                }
            }
            match writer {
                Some(w) => Ok(w.finish()?),
                None => Err(OpError::data(format!(
                    "{}: no rows and no schema to read",
                    files[0].display()
                ))),
            }
        })
        .await
    }

    fn produces_dataset(&self) -> bool {
        true
    }

    fn input_stamp(&self, workdir: &Path) -> Result<String, OpError> {
        Ok(file_stamp(&paths(workdir, &self.path)?))
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::{Map, Value};
    use sluice_data::read_json::for_each_record;

    use super::*;

    /// The records `for_each_record` finds in `bytes`, or its error.
    fn records(bytes: &[u8], lenient: bool) -> Result<Vec<Map<String, Value>>, String> {
        let mut out = Vec::new();
        let opts = JsonOptions {
            lenient,
            repair_escapes: true,
        };
        for_each_record(bytes, Path::new("f.json"), &opts, &mut |_, m| {
            out.push(m);
            Ok(())
        })
        .map_err(|e| e.to_string())?;
        Ok(out)
    }

    /// Pieces of JSON put together at random.
    fn json_soup() -> impl Strategy<Value = Vec<u8>> {
        let piece = prop::sample::select(vec![
            "[",
            "]",
            "{",
            "}",
            ",",
            ":",
            "\"a\"",
            "\"b\"",
            "1",
            "-2.5e3",
            "true",
            "null",
            "\"x\\\"y,]\"",
            "\"\\u00e9\"",
            "\"\\ud800\"",
            " ",
            "\n",
            "\"",
            "\\",
            "1e999",
            "18446744073709551616",
            "é",
            "\u{0}",
        ]);
        prop::collection::vec(piece, 0..96).prop_map(|p| p.concat().into_bytes())
    }

    fn record() -> impl Strategy<Value = Map<String, Value>> {
        let scalar = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            (-1e12f64..1e12).prop_map(Value::from),
            any::<String>().prop_map(Value::from),
            prop::sample::select(vec![",]", ",}", "\\\",]", "[1,]"]).prop_map(Value::from),
        ];
        let value = scalar.prop_recursive(3, 16, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
                prop::collection::btree_map("[a-c]", inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        });
        prop::collection::btree_map("[a-e]{1,2}", value, 0..5).prop_map(|m| m.into_iter().collect())
    }

    proptest! {
        #![proptest_config(crate::fuzz::config())]

        /// Any bytes, strict or lenient: records or an error naming the file, never a panic;
        /// no more records than bytes.
        #[test]
        fn fuzz_read_json(
            bytes in prop_oneof![json_soup(), prop::collection::vec(any::<u8>(), 0..512)],
            lenient in any::<bool>(),
        ) {
            match records(&bytes, lenient) {
                Ok(found) => prop_assert!(found.len() <= bytes.len()),
                Err(e) => prop_assert!(e.starts_with("f.json:"), "{e}"),
            }
        }

        /// Records written as an array or one per line, with trailing commas or not, are
        /// read back as they were (trailing commas: with `lenient` only).
        #[test]
        fn fuzz_read_json_records(
            written in prop::collection::vec(record(), 0..12),
            array in any::<bool>(),
            trailing in any::<bool>(),
            lenient in any::<bool>(),
        ) {
            let texts: Vec<String> = written
                .iter()
                .map(|m| {
                    let mut t = Value::Object(m.clone()).to_string();
                    if trailing && !m.is_empty() {
                        t.insert(t.len() - 1, ',');
                    }
                    t
                })
                .collect();
            let text = if array {
                let comma = if trailing && !written.is_empty() { "," } else { "" };
                format!("[{}{comma}\n]", texts.join(",\n"))
            } else {
                texts.iter().map(|t| format!("{t}\n")).collect()
            };
            let has_trailing =
                trailing && ((array && !written.is_empty()) || written.iter().any(|m| !m.is_empty()));
            // As a whole-text parse reads them (floats may differ from `written` in the last
            // digit: serde_json parses them that way).
            let expected: Vec<Map<String, Value>> = written
                .iter()
                .map(|m| serde_json::from_str(&Value::Object(m.clone()).to_string()))
                .collect::<Result<_, _>>()
                .expect("json");
            match records(text.as_bytes(), lenient) {
                Ok(read) => {
                    prop_assert!(lenient || !has_trailing, "strict accepted {text}");
                    prop_assert_eq!(read, expected);
                }
                Err(e) => {
                    prop_assert!(!lenient && has_trailing, "{e}\n{text}");
                    prop_assert!(e.contains("trailing comma"), "{e}");
                }
            }
        }
    }
}
