//! Streams record batches into the Parquet files of a dataset version.

use std::fs::File;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::basic::Compression;
use datafusion::parquet::file::properties::WriterProperties;

use crate::{DatasetTarget, Result, io_err};

/// Rows per Parquet file before a new one starts.
pub const ROWS_PER_FILE: usize = 1_000_000;

/// Rows per row group: small enough that queries read a file with several threads.
pub const ROWS_PER_GROUP: usize = 128 * 1024;

/// Bytes of a data page (before compression) at most, give or take [`PAGE_BATCH`] values:
/// small, so that a lookup of a few scattered rows ([`crate::export::take_rows`], what a search
/// returns) decompresses little (Parquet's default is 1 MiB; measured in
/// `examples/page_lookup.rs` and `bench/search/README.md`).
pub const PAGE_BYTES: usize = 64 * 1024;

/// Values written at a time, the step at which [`PAGE_BYTES`] is checked.
pub const PAGE_BATCH: usize = 128;

/// Bytes of a column's dictionary at most; past it the column falls back to plain values.
/// A lookup reads the whole dictionary page of every column it returns.
pub const DICTIONARY_BYTES: usize = 128 * 1024;

/// What a finished dataset holds.
#[derive(Debug, Clone)]
pub struct DatasetInfo {
    /// Its folder.
    pub dir: PathBuf,
    /// Its schema.
    pub schema: SchemaRef,
    /// Row count.
    pub rows: u64,
    /// Bytes on disk.
    pub bytes: u64,
}

impl DatasetInfo {
    /// The schema as JSON: `[{"name": …, "type": …, "nullable": …}]`.
    pub fn schema_json(&self) -> String {
        schema_json(&self.schema)
    }
}

/// A schema as JSON, for the state store and the CLI.
pub fn schema_json(schema: &SchemaRef) -> String {
    let fields: Vec<serde_json::Value> = schema
        .fields()
        .iter()
        .map(|f| serde_json::json!({"name": f.name(), "type": f.data_type().to_string(), "nullable": f.is_nullable()}))
        .collect();
    serde_json::Value::Array(fields).to_string()
}

/// Writes one dataset: `part-00000.parquet`, `part-00001.parquet`… Several writers made with
/// [`DatasetWriter::sibling`] can fill the same dataset from different threads.
pub struct DatasetWriter {
    dir: PathBuf,
    compression: Compression,
    schema: SchemaRef,
    writer: Option<ArrowWriter<File>>,
    /// Files started by this writer and its siblings.
    files: Arc<AtomicUsize>,
    rows_in_file: usize,
    rows: u64,
}

/// The Parquet codec of a pipeline's `compression`.
pub fn parquet_codec(c: sluice_core::pipeline::Compression) -> Compression {
    use sluice_core::pipeline::Compression as C;
    match c {
        C::None => Compression::UNCOMPRESSED,
        C::Lz4 => Compression::LZ4_RAW,
        C::Zstd => Compression::ZSTD(Default::default()),
    }
}

impl DatasetWriter {
    /// A writer for batches of `schema` into `target`'s folder.
    pub fn new(target: &DatasetTarget, schema: SchemaRef) -> Self {
        DatasetWriter {
            dir: target.dir.clone(),
            compression: parquet_codec(target.compression),
            schema,
            writer: None,
            files: Arc::new(AtomicUsize::new(0)),
            rows_in_file: 0,
            rows: 0,
        }
    }

    /// Another writer into the same dataset, writing files of its own; finish them all
    /// together with [`DatasetWriter::finish_all`].
    pub fn sibling(&self) -> Self {
        DatasetWriter {
            dir: self.dir.clone(),
            compression: self.compression,
            schema: self.schema.clone(),
            writer: None,
            files: self.files.clone(),
            rows_in_file: 0,
            rows: 0,
        }
    }

    /// The schema batches must have.
    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn open(&mut self) -> Result<&mut ArrowWriter<File>> {
        if self.writer.is_none() {
            let n = self.files.fetch_add(1, Ordering::SeqCst);
            let path = self.dir.join(format!("part-{n:05}.parquet"));
            let file = File::create(&path).map_err(io_err(&path))?;
            let props = WriterProperties::builder()
                .set_compression(self.compression)
                .set_max_row_group_row_count(Some(ROWS_PER_GROUP))
                .set_write_batch_size(PAGE_BATCH)
                .set_data_page_size_limit(PAGE_BYTES)
                .set_dictionary_page_size_limit(DICTIONARY_BYTES)
                .build();
            self.writer = Some(ArrowWriter::try_new(
                file,
                self.schema.clone(),
                Some(props),
            )?);
            self.rows_in_file = 0;
        }
        match self.writer.as_mut() {
            Some(w) => Ok(w),
            None => Err(crate::DataError::Engine("parquet writer missing".into())),
        }
    }

    /// Appends a batch.
    pub fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let batch = if batch.schema() == self.schema {
            batch.clone()
        } else {
            RecordBatch::try_new(self.schema.clone(), batch.columns().to_vec())?
        };
        self.open()?.write(&batch)?;
        self.rows_in_file += batch.num_rows();
        self.rows += batch.num_rows() as u64;
        if self.rows_in_file >= ROWS_PER_FILE
            && let Some(w) = self.writer.take()
        {
            w.close()?;
        }
        Ok(())
    }

    /// Bytes held in memory for the row group being written.
    pub fn buffered_bytes(&self) -> usize {
        self.writer
            .as_ref()
            .map_or(0, ArrowWriter::in_progress_size)
    }

    /// Writes the buffered rows out as a row group, freeing their memory (many writers open at
    /// once keep memory bounded this way).
    pub fn flush(&mut self) -> Result<()> {
        if let Some(w) = self.writer.as_mut() {
            w.flush()?;
        }
        Ok(())
    }

    /// Rows written so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Closes the files; an empty dataset still gets one file carrying its schema.
    pub fn finish(self) -> Result<DatasetInfo> {
        Self::finish_all(vec![self])
    }

    /// Closes the files of a writer and its siblings (at least one writer).
    pub fn finish_all(writers: Vec<DatasetWriter>) -> Result<DatasetInfo> {
        let mut rows = 0;
        let mut last = None;
        for mut w in writers {
            if let Some(file) = w.writer.take() {
                file.close()?;
            }
            rows += w.rows;
            last = Some(w);
        }
        let Some(mut w) = last else {
            return Err(crate::DataError::Engine(
                "no dataset writer to finish".into(),
            ));
        };
        if w.files.load(Ordering::SeqCst) == 0 {
            w.open()?;
            if let Some(file) = w.writer.take() {
                file.close()?;
            }
        }
        let mut bytes = 0;
        for entry in std::fs::read_dir(&w.dir).map_err(io_err(&w.dir))? {
            let entry = entry.map_err(io_err(&w.dir))?;
            bytes += entry.metadata().map_err(io_err(entry.path()))?.len();
        }
        Ok(DatasetInfo {
            dir: w.dir,
            schema: w.schema,
            rows,
            bytes,
        })
    }
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::array::{ArrayRef, StringArray};
    use datafusion::parquet::file::reader::{FileReader, SerializedFileReader};

    use super::*;

    #[test]
    fn pages_are_compressed_with_the_targets_codec() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let text: ArrayRef = Arc::new(StringArray::from(vec!["some text"; 1000]));
        let batch = RecordBatch::try_from_iter([("t", text)]).expect("batch");
        use sluice_core::pipeline::Compression as C;
        for setting in [C::None, C::Lz4, C::Zstd] {
            let codec = parquet_codec(setting);
            let dir = tmp.path().join(codec.to_string());
            std::fs::create_dir_all(&dir).expect("mkdir");
            let target = DatasetTarget {
                dir: dir.clone(),
                compression: setting,
                version: String::new(),
            };
            let mut w = DatasetWriter::new(&target, batch.schema());
            w.write(&batch).expect("write");
            assert_eq!(w.finish().expect("finish").rows, 1000);
            let file = File::open(dir.join("part-00000.parquet")).expect("open");
            let reader = SerializedFileReader::new(file).expect("parquet");
            assert_eq!(
                reader.metadata().row_group(0).column(0).compression(),
                codec
            );
        }
    }

    /// A wide text column is cut into pages of about [`PAGE_BYTES`], listed in the page
    /// index, so that a lookup of one row decompresses one small page.
    #[test]
    fn a_wide_text_column_is_written_in_small_indexed_pages() {
        use datafusion::parquet::arrow::arrow_reader::{ArrowReaderMetadata, ArrowReaderOptions};
        use datafusion::parquet::file::metadata::PageIndexPolicy;
        let tmp = tempfile::tempdir().expect("tempdir");
        // 20,000 distinct texts of 500 bytes: 10 MB, one row group.
        let texts: Vec<String> = (0..20_000)
            .map(|i| format!("{i:05} {}", "x".repeat(494)))
            .collect();
        let text: ArrayRef = Arc::new(StringArray::from(texts));
        let batch = RecordBatch::try_from_iter([("t", text)]).expect("batch");
        let target = DatasetTarget::new(tmp.path().to_path_buf());
        let mut w = DatasetWriter::new(&target, batch.schema());
        w.write(&batch).expect("write");
        w.finish().expect("finish");
        let file = File::open(tmp.path().join("part-00000.parquet")).expect("open");
        let meta = ArrowReaderMetadata::load(
            &file,
            ArrowReaderOptions::new().with_offset_index_policy(PageIndexPolicy::Optional),
        )
        .expect("metadata");
        let offsets = meta.metadata().offset_index().expect("an offset index");
        let pages = &offsets[0][0].page_locations;
        // 10 MB in pages of 64 KiB, give or take 128 values (64 KB here): 76 to 160 pages,
        // where Parquet's defaults give 10.
        assert!((76..=160).contains(&pages.len()), "{} pages", pages.len());
        let rows: Vec<i64> = pages.iter().map(|p| p.first_row_index).collect();
        let widest = rows.windows(2).map(|w| w[1] - w[0]).max().unwrap_or(0);
        // 128 or 256 rows a page; the first holds what the dictionary took before it
        // reached DICTIONARY_BYTES (261 values here).
        assert!(widest <= 300, "a page of {widest} rows");
        // The rows are read back whole, from the middle of the column.
        let back = crate::export::take_rows(tmp.path(), None, &[12_345, 7]).expect("rows");
        let back = back
            .column(0)
            .as_any()
            .downcast_ref::<StringArray>()
            .expect("text");
        assert!(back.value(0).starts_with("12345 x"));
        assert!(back.value(1).starts_with("00007 x"));
    }
}
