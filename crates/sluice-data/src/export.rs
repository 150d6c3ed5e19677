//! Writes a dataset to a file for people and other tools: JSON (an array, pretty or compact,
//! nested from structs and lists), NDJSON, CSV or Parquet. The file is written under a
//! temporary name and renamed, so a reader never sees half a file.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::json::writer::{JsonArray, LineDelimited, WriterBuilder};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use datafusion::parquet::basic::{Compression, ZstdLevel};
use datafusion::parquet::file::properties::WriterProperties;

use crate::json_pretty;
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

/// The Parquet files of a dataset folder, in order. A view's folder has none: it is an
/// error, as only SQL reads a view.
pub fn dataset_files(dir: &Path) -> Result<Vec<PathBuf>> {
    if dir.join(crate::session::VIEW_FILE).is_file() {
        return Err(DataError::Engine(format!(
            "{} is a view (a stored query): only `sql` tasks and `sluice sql` read views; make it a table (`materialized: table`) to read it here",
            dir.display()
        )));
    }
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
    first_file_schema(dir, &dataset_files(dir)?)
}

/// The number of rows of a dataset folder, from its files' metadata (nothing is decoded).
pub fn dataset_rows(dir: &Path) -> Result<u64> {
    let mut rows = 0u64;
    for path in dataset_files(dir)? {
        let file = File::open(&path).map_err(io_err(&path))?;
        let meta = ParquetRecordBatchReaderBuilder::try_new(file)?;
        rows += meta.metadata().file_metadata().num_rows().max(0) as u64;
    }
    Ok(rows)
}

/// The schema of the first of `files`, the Parquet files of the dataset folder `dir`.
fn first_file_schema(dir: &Path, files: &[PathBuf]) -> Result<SchemaRef> {
    let first = files.first().ok_or_else(|| {
        DataError::Engine(format!(
            "dataset folder {} holds no Parquet file",
            dir.display()
        ))
    })?;
    let file = File::open(first).map_err(io_err(first))?;
    Ok(ParquetRecordBatchReaderBuilder::try_new(file)?
        .schema()
        .clone())
}

/// Bytes of decoded data per batch when reading a dataset for export.
const BATCH_BYTES: u64 = 4 << 20;

/// Rows per batch for a file whose rows average `bytes / rows` decoded bytes: about
/// [`BATCH_BYTES`] a batch, between 16 and 8192 rows (wide nested rows come in small batches,
/// so reading and writing overlap).
fn batch_rows(meta: &datafusion::parquet::file::metadata::ParquetMetaData) -> usize {
    let rows: i64 = meta.row_groups().iter().map(|g| g.num_rows()).sum();
    let bytes: i64 = meta.row_groups().iter().map(|g| g.total_byte_size()).sum();
    if rows <= 0 || bytes <= 0 {
        return 8192;
    }
    let per_row = (bytes as u64).div_ceil(rows as u64).max(1);
    (BATCH_BYTES / per_row).clamp(16, 8192) as usize
}

/// Reads a dataset folder batch by batch, in file order. Batches are decoded on a thread of
/// their own while `f` handles the previous ones.
pub fn for_each_batch(
    dir: &Path,
    f: impl FnMut(SchemaRef, RecordBatch) -> Result<()>,
) -> Result<SchemaRef> {
    for_each_batch_of(dir, None, f)
}

/// [`for_each_batch`] decoding only the top-level columns at `columns` (positions in the
/// dataset's schema; all when `None`): the others are not read at all.
pub fn for_each_batch_of(
    dir: &Path,
    columns: Option<&[usize]>,
    mut f: impl FnMut(SchemaRef, RecordBatch) -> Result<()>,
) -> Result<SchemaRef> {
    let files = dataset_files(dir)?;
    let schema = first_file_schema(dir, &files)?;
    std::thread::scope(|scope| {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Result<RecordBatch>>(4);
        scope.spawn(move || {
            let read = || -> Result<()> {
                for path in &files {
                    let file = File::open(path).map_err(io_err(path))?;
                    let mut builder = ParquetRecordBatchReaderBuilder::try_new(file)?;
                    let rows = batch_rows(builder.metadata());
                    if let Some(columns) = columns {
                        let mask = datafusion::parquet::arrow::ProjectionMask::roots(
                            builder.parquet_schema(),
                            columns.iter().copied(),
                        );
                        builder = builder.with_projection(mask);
                    }
                    for batch in builder.with_batch_size(rows).build()? {
                        if tx.send(Ok(batch?)).is_err() {
                            return Ok(()); // the consumer stopped
                        }
                    }
                }
                Ok(())
            };
            if let Err(e) = read() {
                let _ = tx.send(Err(e));
            }
        });
        for batch in rx {
            f(schema.clone(), batch?)?;
        }
        Ok(schema.clone())
    })
}

/// The rows at `rows` (row numbers in the dataset, from 0; in that order, repeats allowed),
/// decoding only the row groups that hold them and the top-level columns at `columns` (all
/// when `None`): what a search reads to show its hits without scanning the dataset. A row
/// past the end is an error.
pub fn take_rows(dir: &Path, columns: Option<&[usize]>, rows: &[u64]) -> Result<RecordBatch> {
    use datafusion::arrow::array::UInt32Array;
    use datafusion::parquet::arrow::arrow_reader::{ArrowReaderOptions, RowSelection, RowSelector};
    use datafusion::parquet::file::metadata::PageIndexPolicy;
    let files = dataset_files(dir)?;
    let schema = first_file_schema(dir, &files)?;
    let mut wanted: Vec<u64> = rows.to_vec();
    wanted.sort_unstable();
    wanted.dedup();
    let mut parts: Vec<RecordBatch> = Vec::new();
    let mut start = 0u64; // the first row of the current row group in the dataset
    let mut next = 0usize; // the first wanted row not read yet
    for path in &files {
        if next == wanted.len() {
            break;
        }
        let file = File::open(path).map_err(io_err(path))?;
        // With the offset index (where pages start), pages holding none of the rows are
        // skipped unread.
        let options = ArrowReaderOptions::new().with_offset_index_policy(PageIndexPolicy::Optional);
        let mut builder = ParquetRecordBatchReaderBuilder::try_new_with_options(file, options)?;
        let mut groups = Vec::new();
        let mut selectors = Vec::new();
        for (i, g) in builder.metadata().row_groups().iter().enumerate() {
            let n = g.num_rows().max(0) as u64;
            let mut cursor = 0u64;
            while next < wanted.len() && wanted[next] < start + n {
                let local = wanted[next] - start;
                if groups.last() != Some(&i) {
                    groups.push(i);
                }
                if local > cursor {
                    selectors.push(RowSelector::skip((local - cursor) as usize));
                }
                selectors.push(RowSelector::select(1));
                cursor = local + 1;
                next += 1;
            }
            if groups.last() == Some(&i) && cursor < n {
                selectors.push(RowSelector::skip((n - cursor) as usize));
            }
            start += n;
        }
        if groups.is_empty() {
            continue;
        }
        if let Some(columns) = columns {
            let mask = datafusion::parquet::arrow::ProjectionMask::roots(
                builder.parquet_schema(),
                columns.iter().copied(),
            );
            builder = builder.with_projection(mask);
        }
        let reader = builder
            .with_row_groups(groups)
            .with_row_selection(RowSelection::from(selectors))
            .build()?;
        for batch in reader {
            parts.push(batch?);
        }
    }
    if next < wanted.len() {
        return Err(DataError::Engine(format!(
            "row {} is past the end of {} ({start} rows)",
            wanted[next],
            dir.display()
        )));
    }
    let projected = match columns {
        Some(c) => std::sync::Arc::new(schema.project(c)?),
        None => schema,
    };
    let all = datafusion::arrow::compute::concat_batches(&projected, &parts)?;
    let order: Vec<u32> = rows
        .iter()
        .map(|r| wanted.binary_search(r).map_or(0, |i| i as u32))
        .collect();
    Ok(datafusion::arrow::compute::take_record_batch(
        &all,
        &UInt32Array::from(order),
    )?)
}

/// A file written by a thread of its own: the caller formats into 1 MiB buffers while the
/// previous ones are copied to the file.
struct OffThreadFile {
    buf: Vec<u8>,
    tx: Option<std::sync::mpsc::SyncSender<Vec<u8>>>,
    thread: Option<std::thread::JoinHandle<std::io::Result<File>>>,
}

const CHUNK: usize = 1 << 20;

impl OffThreadFile {
    fn new(mut file: File) -> Self {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(4);
        let thread = std::thread::spawn(move || {
            for chunk in rx {
                file.write_all(&chunk)?;
            }
            Ok(file)
        });
        OffThreadFile {
            buf: Vec::with_capacity(CHUNK),
            tx: Some(tx),
            thread: Some(thread),
        }
    }

    fn send(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK));
        match self.tx.as_ref().map(|tx| tx.send(chunk)) {
            Some(Ok(())) => Ok(()),
            // The thread stopped on an error; `finish` reports it.
            _ => Err(std::io::Error::other("the file writer stopped")),
        }
    }

    /// Writes what is buffered, waits for the thread and returns the file.
    fn finish(mut self) -> std::io::Result<File> {
        let sent = self.send();
        self.tx = None;
        let file = match self.thread.take().map(|t| t.join()) {
            Some(Ok(result)) => result?,
            _ => return Err(std::io::Error::other("the file writer panicked")),
        };
        sent.map(|()| file)
    }
}

impl Write for OffThreadFile {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.send()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for OffThreadFile {
    fn drop(&mut self) {
        self.tx = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Writes `source` (a dataset folder or a query result) to `target` in `format`, under a
/// temporary name renamed when complete; returns the rows written.
pub fn export(source: &Source<'_>, target: &Path, format: Format) -> Result<u64> {
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
        let mut out = OffThreadFile::new(file);
        let written = write_format(source, &mut out, format, target);
        // An error of the writing thread (a full disk…) is the cause of any write error.
        let file = out.finish().map_err(io_err(&tmp))?;
        let rows = written?;
        file.sync_all().map_err(io_err(&tmp))?;
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
            out.write_all(b"[").map_err(io_err(path))?;
            let mut first = true;
            let mut buf = Vec::new();
            source.each(|_, b| {
                if b.num_rows() == 0 {
                    return Ok(());
                }
                rows += b.num_rows() as u64;
                buf.clear();
                json_pretty::write_rows(&b, 1, first.then_some(&b"\n  "[..]), b",\n  ", &mut buf)?;
                first = false;
                out.write_all(&buf).map_err(io_err(path))
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
    use std::sync::Arc;

    use datafusion::arrow::array::{AsArray, Int64Array, StringArray};
    use datafusion::arrow::datatypes::{DataType, Field, Int64Type, Schema};

    use super::*;

    /// Two files of 10 and 7 rows in row groups of 4: `id` = row number, `name` = "n{id}".
    fn dataset(dir: &Path) {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("name", DataType::Utf8, false),
        ]));
        for (file, ids) in [("a.parquet", 0..10i64), ("b.parquet", 10..17)] {
            let ids: Vec<i64> = ids.collect();
            let names: Vec<String> = ids.iter().map(|i| format!("n{i}")).collect();
            let batch = RecordBatch::try_new(
                schema.clone(),
                vec![
                    Arc::new(Int64Array::from(ids)),
                    Arc::new(StringArray::from(names)),
                ],
            )
            .expect("batch");
            let props = WriterProperties::builder()
                .set_max_row_group_row_count(Some(4))
                .build();
            let out = File::create(dir.join(file)).expect("file");
            let mut w = ArrowWriter::try_new(out, schema.clone(), Some(props)).expect("writer");
            w.write(&batch).expect("write");
            w.close().expect("close");
        }
    }

    #[test]
    fn take_rows_reads_the_rows_asked_in_their_order_across_files_and_row_groups() {
        let dir = tempfile::tempdir().expect("tempdir");
        dataset(dir.path());
        let batch = take_rows(dir.path(), None, &[15, 3, 3, 9, 0, 16, 10]).expect("rows");
        let ids: Vec<i64> = batch
            .column(0)
            .as_primitive::<Int64Type>()
            .values()
            .to_vec();
        assert_eq!(ids, [15, 3, 3, 9, 0, 16, 10]);
        let names = batch.column(1).as_string::<i32>();
        assert_eq!(names.value(0), "n15");
        assert_eq!(names.value(5), "n16");
        // Only the columns asked for.
        let batch = take_rows(dir.path(), Some(&[1]), &[4]).expect("row");
        assert_eq!(batch.num_columns(), 1);
        assert_eq!(batch.column(0).as_string::<i32>().value(0), "n4");
        // Nothing asked: no row.
        assert_eq!(
            take_rows(dir.path(), None, &[]).expect("none").num_rows(),
            0
        );
        let e = take_rows(dir.path(), None, &[2, 17]).expect_err("past the end");
        assert_eq!(
            e.to_string(),
            format!(
                "row 17 is past the end of {} (17 rows)",
                dir.path().display()
            )
        );
    }
}
