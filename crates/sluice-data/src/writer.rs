//! Streams record batches into the Parquet files of a dataset version.

use std::fs::File;
use std::path::{Path, PathBuf};

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::basic::{Compression, ZstdLevel};
use datafusion::parquet::file::properties::WriterProperties;

use crate::{Result, io_err};

/// Rows per Parquet file before a new one starts.
pub const ROWS_PER_FILE: usize = 1_000_000;

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

/// Writes one dataset: `part-00000.parquet`, `part-00001.parquet`… (zstd).
pub struct DatasetWriter {
    dir: PathBuf,
    schema: SchemaRef,
    writer: Option<ArrowWriter<File>>,
    files: usize,
    rows_in_file: usize,
    rows: u64,
}

impl DatasetWriter {
    /// A writer into `dir` (which must exist) for batches of `schema`.
    pub fn new(dir: &Path, schema: SchemaRef) -> Self {
        DatasetWriter {
            dir: dir.to_path_buf(),
            schema,
            writer: None,
            files: 0,
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
            let path = self.dir.join(format!("part-{:05}.parquet", self.files));
            let file = File::create(&path).map_err(io_err(&path))?;
            let props = WriterProperties::builder()
                .set_compression(Compression::ZSTD(ZstdLevel::default()))
                .build();
            self.writer = Some(ArrowWriter::try_new(
                file,
                self.schema.clone(),
                Some(props),
            )?);
            self.files += 1;
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

    /// Closes the files; an empty dataset still gets one file carrying its schema.
    pub fn finish(mut self) -> Result<DatasetInfo> {
        if self.files == 0 {
            self.open()?;
        }
        if let Some(w) = self.writer.take() {
            w.close()?;
        }
        let mut bytes = 0;
        for entry in std::fs::read_dir(&self.dir).map_err(io_err(&self.dir))? {
            let entry = entry.map_err(io_err(&self.dir))?;
            bytes += entry.metadata().map_err(io_err(entry.path()))?.len();
        }
        Ok(DatasetInfo {
            dir: self.dir,
            schema: self.schema,
            rows: self.rows,
            bytes,
        })
    }
}
