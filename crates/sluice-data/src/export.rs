//! Writes a dataset to a file for people and other tools: JSON (an array, pretty or compact,
//! nested from structs and lists), NDJSON, CSV or Parquet. The file is written under a
//! temporary name and renamed, so a reader never sees half a file.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::json::writer::{JsonArray, LineDelimited, WriterBuilder};
use datafusion::arrow::record_batch::{RecordBatch, RecordBatchReader};
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use datafusion::parquet::basic::{Compression, ZstdLevel};
use datafusion::parquet::file::properties::WriterProperties;

use crate::json_text::StringTracker;
use crate::{DataError, Result, io_err};

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// One JSON array of objects.
    Json {
        /// Indented, one key per line.
        pretty: bool,
    },
    /// One JSON object per line.
    Ndjson,
    /// CSV with a header line.
    Csv,
    /// Parquet (zstd).
    Parquet,
}

/// The Parquet files of a dataset folder, in order.
pub fn dataset_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(io_err(dir))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
        .collect();
    files.sort();
    Ok(files)
}

/// The schema of a dataset folder (from its first file).
pub fn dataset_schema(dir: &Path) -> Result<SchemaRef> {
    let first = dataset_files(dir)?.into_iter().next().ok_or_else(|| {
        DataError::Engine(format!(
            "dataset folder {} holds no Parquet file",
            dir.display()
        ))
    })?;
    let file = File::open(&first).map_err(io_err(&first))?;
    Ok(ParquetRecordBatchReaderBuilder::try_new(file)?
        .schema()
        .clone())
}

/// Reads a dataset folder batch by batch, in file order.
pub fn for_each_batch(
    dir: &Path,
    mut f: impl FnMut(SchemaRef, RecordBatch) -> Result<()>,
) -> Result<SchemaRef> {
    let mut schema = None;
    for path in dataset_files(dir)? {
        let file = File::open(&path).map_err(io_err(&path))?;
        let reader = ParquetRecordBatchReaderBuilder::try_new(file)?.build()?;
        let s = reader.schema();
        schema.get_or_insert(s.clone());
        for batch in reader {
            f(s.clone(), batch?)?;
        }
    }
    schema.ok_or_else(|| {
        DataError::Engine(format!(
            "dataset folder {} holds no Parquet file",
            dir.display()
        ))
    })
}

/// Writes the dataset in `dir` to `target` in `format`; returns the rows written.
pub fn export(dir: &Path, target: &Path, format: Format) -> Result<u64> {
    if let Some(parent) = target.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(io_err(parent))?;
    }
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let tmp = target.with_file_name(format!(".{name}.tmp-{}", std::process::id()));
    let result = (|| {
        let file = File::create(&tmp).map_err(io_err(&tmp))?;
        let mut out = BufWriter::with_capacity(1 << 20, file);
        let rows = write_format(&Source::Dir(dir), &mut out, format, target)?;
        out.flush().map_err(io_err(&tmp))?;
        out.get_ref().sync_all().map_err(io_err(&tmp))?;
        Ok(rows)
    })();
    match result {
        Ok(rows) => {
            std::fs::rename(&tmp, target).map_err(io_err(target))?;
            Ok(rows)
        }
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(e)
        }
    }
}

/// Indents compact JSON (as arrow-json writes it), two spaces a level, starting at `level`,
/// keeping the keys in their order. Items of the top level are separated by `,\n`.
fn reindent(compact: &[u8], level: usize, out: &mut Vec<u8>) {
    let newline = |out: &mut Vec<u8>, level: usize| {
        out.push(b'\n');
        out.extend(std::iter::repeat_n(b' ', level * 2));
    };
    let mut level = level;
    let mut strings = StringTracker::default();
    let mut i = 0;
    while i < compact.len() {
        let c = compact[i];
        if strings.in_string(c) {
            out.push(c);
            i += 1;
            continue;
        }
        match c {
            b'{' | b'[' => {
                let close = if c == b'{' { b'}' } else { b']' };
                if compact.get(i + 1) == Some(&close) {
                    out.extend([c, close]);
                    i += 2;
                    continue;
                }
                out.push(c);
                level += 1;
                newline(out, level);
            }
            b'}' | b']' => {
                level = level.saturating_sub(1);
                newline(out, level);
                out.push(c);
            }
            b',' => {
                out.push(c);
                newline(out, level);
            }
            b':' => out.extend(b": "),
            _ => out.push(c),
        }
        i += 1;
    }
}

/// Where batches come from: a dataset folder, or batches in memory.
pub enum Source<'a> {
    /// A dataset folder.
    Dir(&'a Path),
    /// Batches already computed (a query result), with their schema.
    Batches(SchemaRef, &'a [RecordBatch]),
}

impl Source<'_> {
    fn schema(&self) -> Result<SchemaRef> {
        match self {
            Source::Dir(dir) => dataset_schema(dir),
            Source::Batches(schema, _) => Ok(schema.clone()),
        }
    }

    fn each(&self, mut f: impl FnMut(SchemaRef, RecordBatch) -> Result<()>) -> Result<()> {
        match self {
            Source::Dir(dir) => for_each_batch(dir, f).map(|_| ()),
            Source::Batches(schema, batches) => batches
                .iter()
                .try_for_each(|b| f(schema.clone(), b.clone())),
        }
    }
}

/// Writes `source` to `out` in `format` (`path` names the destination in errors); returns
/// the rows written.
pub fn write_format<W: Write + Send>(
    source: &Source<'_>,
    mut out: W,
    format: Format,
    path: &Path,
) -> Result<u64> {
    let mut rows = 0u64;
    match format {
        Format::Json { pretty: false } => {
            let mut w = WriterBuilder::new()
                .with_explicit_nulls(true)
                .build::<_, JsonArray>(&mut out);
            source.each(|_, b| {
                rows += b.num_rows() as u64;
                Ok(w.write(&b)?)
            })?;
            w.finish()?;
        }
        Format::Json { pretty: true } => {
            // arrow-json writes compact JSON; re-indent one batch at a time.
            out.write_all(b"[").map_err(io_err(path))?;
            let mut first = true;
            source.each(|_, b| {
                rows += b.num_rows() as u64;
                let mut buf = Vec::new();
                {
                    let mut w = WriterBuilder::new()
                        .with_explicit_nulls(true)
                        .build::<_, JsonArray>(&mut buf);
                    w.write(&b)?;
                    w.finish()?;
                }
                while buf.last().is_some_and(u8::is_ascii_whitespace) {
                    buf.pop();
                }
                // `buf` is `[{…},{…}]`: indent its items one level into the file's array.
                let inner = buf.get(1..buf.len().saturating_sub(1)).unwrap_or_default();
                if !inner.is_empty() {
                    out.write_all(if first { b"\n  " } else { b",\n  " })
                        .map_err(io_err(path))?;
                    first = false;
                    let mut pretty = Vec::with_capacity(inner.len() * 2);
                    reindent(inner, 1, &mut pretty);
                    out.write_all(&pretty).map_err(io_err(path))?;
                }
                Ok(())
            })?;
            out.write_all(if first { b"]\n" } else { b"\n]\n" })
                .map_err(io_err(path))?;
        }
        Format::Ndjson => {
            let mut w = WriterBuilder::new()
                .with_explicit_nulls(true)
                .build::<_, LineDelimited>(&mut out);
            source.each(|_, b| {
                rows += b.num_rows() as u64;
                Ok(w.write(&b)?)
            })?;
            w.finish()?;
        }
        Format::Csv => {
            let mut w = datafusion::arrow::csv::WriterBuilder::new()
                .with_header(true)
                .build(&mut out);
            source.each(|_, b| {
                rows += b.num_rows() as u64;
                w.write(&b).map_err(|e| {
                    DataError::Engine(format!(
                        "CSV cannot hold this dataset ({e}); use JSON or Parquet for nested columns"
                    ))
                })
            })?;
        }
        Format::Parquet => {
            let props = WriterProperties::builder()
                .set_compression(Compression::ZSTD(ZstdLevel::default()))
                .build();
            let mut w = ArrowWriter::try_new(&mut out, source.schema()?, Some(props))?;
            source.each(|_, b| {
                rows += b.num_rows() as u64;
                Ok(w.write(&b)?)
            })?;
            w.close()?;
        }
    }
    out.flush().map_err(io_err(path))?;
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::reindent;

    #[test]
    fn reindents_keeping_key_order() {
        let mut out = Vec::new();
        reindent(
            br#"{"z":1,"a":[{"k":"x,\"y\":{"}],"e":[],"n":null}"#,
            0,
            &mut out,
        );
        assert_eq!(
            String::from_utf8(out).expect("utf8"),
            "{\n  \"z\": 1,\n  \"a\": [\n    {\n      \"k\": \"x,\\\"y\\\":{\"\n    }\n  ],\n  \"e\": [],\n  \"n\": null\n}"
        );
    }
}
