//! A dataset released as files for people and other tools: Parquet files of at most
//! `max_rows` rows that never split a group (a document's chunks), ordered, zstd, vectors as
//! `FixedSizeList<Float32>`, and a `manifest.json` listing each file's rows, bytes and
//! sha256. The folder is written beside the target and swapped in when complete.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::compute::partition;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::util::display::array_value_to_string;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::basic::{Compression, ZstdLevel};
use datafusion::parquet::file::properties::WriterProperties;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::session::{register_dataset, session};
use crate::{DataError, Result, io_err};

/// What to release, and how.
#[derive(Debug, Clone)]
pub struct ReleaseSpec {
    /// The dataset folder.
    pub dataset: PathBuf,
    /// The folder to write (replaced as a whole).
    pub target: PathBuf,
    /// File names: `<name>-00000.parquet`, …
    pub name: String,
    /// Rows per file at most (a group larger than that gets a file of its own).
    pub max_rows: usize,
    /// Rows with the same value here stay in one file.
    pub group: Option<String>,
    /// Sort order (ascending, nulls last); starts with `group` when one is set.
    pub order_by: Vec<String>,
    /// The columns released, in order (default: all).
    pub columns: Option<Vec<String>>,
    /// Rows per Parquet row group.
    pub row_group_rows: usize,
    /// zstd level (1 to 22).
    pub zstd_level: i32,
}

/// One released file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestFile {
    /// Its name in the folder.
    pub path: String,
    /// Rows.
    pub rows: u64,
    /// Size in bytes.
    pub bytes: u64,
    /// sha256 of its bytes, hex.
    pub sha256: String,
}

/// A column of the released files.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestColumn {
    /// Name.
    pub name: String,
    /// Arrow type.
    #[serde(rename = "type")]
    pub ty: String,
    /// Whether it may hold nulls.
    pub nullable: bool,
}

/// `manifest.json`: what the folder holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// The dataset's name.
    pub name: String,
    /// Rows in all files.
    pub rows: u64,
    /// Bytes of all files.
    pub bytes: u64,
    /// The files, in order.
    pub files: Vec<ManifestFile>,
    /// The columns.
    pub columns: Vec<ManifestColumn>,
    /// The grouping column.
    pub group: Option<String>,
    /// The sort order.
    pub order_by: Vec<String>,
}

/// The manifest's file name.
pub const MANIFEST: &str = "manifest.json";

/// sha256 of a file, hex.
pub fn sha256_file(path: &Path) -> Result<String> {
    let mut file = BufReader::new(File::open(path).map_err(io_err(path))?);
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut buf).map_err(io_err(path))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

/// The files being written.
struct Files<'a> {
    spec: &'a ReleaseSpec,
    dir: PathBuf,
    schema: SchemaRef,
    writer: Option<(ArrowWriter<File>, PathBuf, u64)>,
    done: Vec<(PathBuf, u64)>,
}

impl Files<'_> {
    fn rows_in_file(&self) -> u64 {
        self.writer.as_ref().map_or(0, |w| w.2)
    }

    fn open(&mut self) -> Result<()> {
        let path = self
            .dir
            .join(format!("{}-{:05}.parquet", self.spec.name, self.done.len()));
        let file = File::create(&path).map_err(io_err(&path))?;
        let level = ZstdLevel::try_new(self.spec.zstd_level)?;
        let props = WriterProperties::builder()
            .set_compression(Compression::ZSTD(level))
            .set_max_row_group_row_count(Some(self.spec.row_group_rows))
            .build();
        let writer = ArrowWriter::try_new(file, self.schema.clone(), Some(props))?;
        self.writer = Some((writer, path, 0));
        Ok(())
    }

    fn close(&mut self) -> Result<()> {
        if let Some((writer, path, rows)) = self.writer.take() {
            let file = writer.into_inner()?;
            file.sync_all().map_err(io_err(&path))?;
            self.done.push((path, rows));
        }
        Ok(())
    }

    fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        if self.writer.is_none() {
            self.open()?;
        }
        if let Some((writer, _, rows)) = self.writer.as_mut() {
            writer.write(batch)?;
            *rows += batch.num_rows() as u64;
        }
        Ok(())
    }
}

/// Writes the release; returns its manifest.
pub async fn release(spec: &ReleaseSpec) -> Result<Manifest> {
    if spec.max_rows == 0 || spec.row_group_rows == 0 {
        return Err(DataError::Engine(
            "`max_rows` and `row_group_rows` must be at least 1".into(),
        ));
    }
    let ctx = session();
    register_dataset(&ctx, "release", &spec.dataset).await?;
    let mut df = ctx.table("release").await?;
    let quoted = |c: &str| format!("\"{}\"", c.replace('"', "\"\""));
    if let Some(columns) = &spec.columns {
        let exprs: Vec<&str> = columns.iter().map(String::as_str).collect();
        df = df.select_columns(&exprs)?;
    }
    let mut order = spec.order_by.clone();
    if let Some(g) = &spec.group
        && order.first() != Some(g)
    {
        order.retain(|c| c != g);
        order.insert(0, g.clone());
    }
    if !order.is_empty() {
        let exprs = order
            .iter()
            .map(|c| datafusion::logical_expr::col(quoted(c)).sort(true, false))
            .collect();
        df = df.sort(exprs)?;
    }
    let schema: SchemaRef = df.schema().inner().clone();
    let group_index = match &spec.group {
        Some(g) => Some(schema.index_of(g).map_err(|_| {
            DataError::Engine(format!("`group` names `{g}`, which is not a column"))
        })?),
        None => None,
    };

    let parent = spec
        .target
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(io_err(parent))?;
    let base = spec
        .target
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_else(|| "release".into());
    let staging = parent.join(format!(".{base}.tmp-{}", std::process::id()));
    if staging.exists() {
        std::fs::remove_dir_all(&staging).map_err(io_err(&staging))?;
    }
    std::fs::create_dir_all(&staging).map_err(io_err(&staging))?;
    let result = write_files(spec, df, schema.clone(), group_index, &staging).await;
    let files = match result {
        Ok(files) => files,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&staging);
            return Err(e);
        }
    };
    let mut manifest = Manifest {
        name: spec.name.clone(),
        rows: 0,
        bytes: 0,
        files: Vec::new(),
        columns: schema
            .fields()
            .iter()
            .map(|f| ManifestColumn {
                name: f.name().clone(),
                ty: f.data_type().to_string(),
                nullable: f.is_nullable(),
            })
            .collect(),
        group: spec.group.clone(),
        order_by: order,
    };
    for (path, rows) in files {
        let bytes = std::fs::metadata(&path).map_err(io_err(&path))?.len();
        manifest.files.push(ManifestFile {
            path: path
                .file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_default(),
            rows,
            bytes,
            sha256: sha256_file(&path)?,
        });
        manifest.rows += rows;
        manifest.bytes += bytes;
    }
    let text = serde_json::to_string_pretty(&manifest)
        .map_err(|e| DataError::Engine(format!("manifest: {e}")))?;
    let manifest_path = staging.join(MANIFEST);
    std::fs::write(&manifest_path, text + "\n").map_err(io_err(&manifest_path))?;
    swap_in(&staging, &spec.target)?;
    Ok(manifest)
}

/// Replaces `target` with `staging`: the old folder is moved aside, the new one renamed
/// in, the old one removed.
fn swap_in(staging: &Path, target: &Path) -> Result<()> {
    let old = target.with_file_name(format!(
        ".{}.old-{}",
        target
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default(),
        std::process::id()
    ));
    let had_old = target.exists();
    if had_old {
        std::fs::rename(target, &old).map_err(io_err(target))?;
    }
    if let Err(e) = std::fs::rename(staging, target) {
        if had_old {
            let _ = std::fs::rename(&old, target);
        }
        return Err(io_err(target)(e));
    }
    if had_old {
        std::fs::remove_dir_all(&old).map_err(io_err(&old))?;
    }
    Ok(())
}

async fn write_files(
    spec: &ReleaseSpec,
    df: datafusion::dataframe::DataFrame,
    schema: SchemaRef,
    group_index: Option<usize>,
    dir: &Path,
) -> Result<Vec<(PathBuf, u64)>> {
    let mut files = Files {
        spec,
        dir: dir.to_path_buf(),
        schema,
        writer: None,
        done: Vec::new(),
    };
    let max = spec.max_rows as u64;
    let mut last_group: Option<String> = None;
    let mut stream = df.execute_stream().await?;
    while let Some(batch) = stream.next().await {
        let batch = batch?;
        if batch.num_rows() == 0 {
            continue;
        }
        match group_index {
            None => {
                let mut start = 0;
                while start < batch.num_rows() {
                    if files.rows_in_file() >= max {
                        files.close()?;
                    }
                    let room = (max - files.rows_in_file()) as usize;
                    let len = room.min(batch.num_rows() - start);
                    files.write(&batch.slice(start, len))?;
                    start += len;
                }
            }
            Some(g) => {
                let column = batch.column(g);
                let ranges = partition(std::slice::from_ref(column))?.ranges();
                let mut start = 0;
                for range in ranges {
                    // A new file only where the group changes, never inside a group.
                    let continues = range.start == 0
                        && last_group.as_deref()
                            == Some(array_value_to_string(column, 0)?.as_str());
                    let pending = (range.start - start) as u64;
                    let len = (range.end - range.start) as u64;
                    if !continues
                        && files.rows_in_file() + pending > 0
                        && files.rows_in_file() + pending + len > max
                    {
                        files.write(&batch.slice(start, range.start - start))?;
                        files.close()?;
                        start = range.start;
                    }
                }
                files.write(&batch.slice(start, batch.num_rows() - start))?;
                last_group = Some(array_value_to_string(column, batch.num_rows() - 1)?);
            }
        }
    }
    if files.done.is_empty() && files.writer.is_none() {
        // An empty dataset still gets one file, so readers see its columns.
        files.open()?;
    }
    files.close()?;
    Ok(files.done)
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Int64Array, StringArray};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    use std::collections::BTreeMap;
    use std::sync::Arc;

    #[tokio::test]
    async fn groups_stay_whole_across_batches_and_files() {
        let tmp = tempfile::tempdir().expect("tmp");
        let data = tmp.path().join("data");
        std::fs::create_dir_all(&data).expect("mkdir");
        // 20,000 rows in groups of 7, written in reverse: the sorted stream comes in several
        // batches whose edges fall inside groups.
        let rows = 20_000i64;
        let groups: Vec<String> = (0..rows).rev().map(|i| format!("g{:05}", i / 7)).collect();
        let schema = Arc::new(Schema::new(vec![
            Field::new("g", DataType::Utf8, false),
            Field::new("i", DataType::Int64, false),
        ]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(StringArray::from(groups)),
                Arc::new(Int64Array::from((0..rows).rev().collect::<Vec<_>>())),
            ],
        )
        .expect("batch");
        let file = File::create(data.join("a.parquet")).expect("create");
        let mut w = ArrowWriter::try_new(file, schema, None).expect("writer");
        w.write(&batch).expect("write");
        w.close().expect("close");
        let spec = ReleaseSpec {
            dataset: data,
            target: tmp.path().join("out"),
            name: "t".into(),
            max_rows: 1000,
            group: Some("g".into()),
            order_by: vec!["i".into()],
            columns: None,
            row_group_rows: 300,
            zstd_level: 3,
        };
        let manifest = release(&spec).await.expect("release");
        assert_eq!(manifest.rows, 20_000);
        assert_eq!(manifest.order_by, ["g", "i"]);
        let mut file_of: BTreeMap<String, usize> = BTreeMap::new();
        let mut last = -1i64;
        for (n, f) in manifest.files.iter().enumerate() {
            let last_file = n + 1 == manifest.files.len();
            assert!(f.rows <= 1000 && (f.rows >= 994 || last_file), "{f:?}");
            let reader = ParquetRecordBatchReaderBuilder::try_new(
                File::open(spec.target.join(&f.path)).expect("open"),
            )
            .expect("reader");
            for b in reader.build().expect("build") {
                let b = b.expect("batch");
                let g = b
                    .column(0)
                    .as_any()
                    .downcast_ref::<StringArray>()
                    .expect("g");
                let i = b
                    .column(1)
                    .as_any()
                    .downcast_ref::<Int64Array>()
                    .expect("i");
                for r in 0..b.num_rows() {
                    assert!(i.value(r) > last);
                    last = i.value(r);
                    let seen = file_of.entry(g.value(r).to_string()).or_insert(n);
                    assert_eq!(*seen, n, "group {} split", g.value(r));
                }
            }
        }
        // Releasing again replaces the folder.
        let again = release(&spec).await.expect("again");
        assert_eq!(again, manifest);
        let names: Vec<String> = std::fs::read_dir(tmp.path())
            .expect("dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().to_string())
            .collect();
        assert_eq!(names.len(), 2, "no staging folder left: {names:?}");
    }
}
