//! The warehouse of sluice: datasets as Arrow schemas plus Parquet files, the DataFusion
//! session that queries them, and the readers and writers of outside formats.
//!
//! Main types: [`DatasetWriter`] (streams record
//! batches into a version's Parquet files), [`session`] (a DataFusion context with sluice's
//! functions), readers ([`read_csv`], [`read_json`]), [`export`] (JSON, NDJSON, CSV,
//! Parquet files for people), [`checks`] (data tests).
//!
//! This crate knows files and tables, not pipelines or runs: of the other sluice crates it
//! depends only on the op API (`sluice-op`, for [`DatasetTarget`] and the kinds of
//! [`DataError`] as an `OpError`) and what that depends on.

pub mod checks;
pub mod compare;
pub mod escapes;
pub mod export;
pub mod functions;
mod json_pretty;
mod json_text;
pub mod lineage;
pub mod read_csv;
pub mod read_json;
pub mod release;
pub mod rows;
pub mod session;
pub mod terms;
pub mod values;
pub mod writer;

pub use datafusion;
pub use sluice_op::DatasetTarget;
pub use writer::{DatasetInfo, DatasetWriter};

/// The folder, inside a task's dataset version, of the rows the task rejected (a dataset of
/// its own: file, id, page, reason), for ops that set aside what they cannot take;
/// `sluice sql` reads it as `pipeline.task_rejected`.
pub const REJECTED: &str = "rejected";

use std::path::PathBuf;

/// What went wrong reading, writing or querying data. Messages name the file, line or query.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// An input file is malformed.
    #[error("{}{}: {message}", path.display(), line.map(|l| format!(":{l}")).unwrap_or_default())]
    Malformed {
        /// The file.
        path: PathBuf,
        /// The line, when known.
        line: Option<u64>,
        /// What is wrong and what to do.
        message: String,
    },
    /// A query failed (syntax, unknown column, type error…).
    #[error("{0}")]
    Query(String),
    /// A data check failed.
    #[error("{0}")]
    Check(String),
    /// Anything else from Arrow, Parquet or DataFusion.
    #[error("{0}")]
    Engine(String),
}

impl From<datafusion::error::DataFusionError> for DataError {
    fn from(e: datafusion::error::DataFusionError) -> Self {
        DataError::Query(e.strip_backtrace())
    }
}

impl From<datafusion::arrow::error::ArrowError> for DataError {
    fn from(e: datafusion::arrow::error::ArrowError) -> Self {
        DataError::Engine(e.to_string())
    }
}

impl From<datafusion::parquet::errors::ParquetError> for DataError {
    fn from(e: datafusion::parquet::errors::ParquetError) -> Self {
        DataError::Engine(e.to_string())
    }
}

impl From<DataError> for sluice_op::OpError {
    /// A malformed file or a failed check is bad data; a query that cannot run is a setting
    /// to fix; an I/O failure is classified by its cause.
    fn from(e: DataError) -> Self {
        use sluice_op::{ErrorKind, OpError};
        let kind = match &e {
            DataError::Io { source, .. } => ErrorKind::of_io(source),
            DataError::Malformed { .. } | DataError::Check(_) => ErrorKind::Data,
            DataError::Query(_) => ErrorKind::Config,
            DataError::Engine(_) => ErrorKind::Internal,
        };
        OpError::new(kind, e.to_string())
    }
}

impl From<DatasetInfo> for sluice_op::Dataset {
    fn from(info: DatasetInfo) -> Self {
        sluice_op::Dataset {
            schema: info.schema_json(),
            dir: info.dir,
            rows: info.rows,
            bytes: info.bytes,
        }
    }
}

/// Result alias.
pub type Result<T> = std::result::Result<T, DataError>;

/// `io::Error` → [`DataError::Io`] with the path.
pub(crate) fn io_err(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> DataError {
    let path = path.into();
    move |source| DataError::Io { path, source }
}

/// Expands a path that may be a glob (`data/*.csv`), relative to `base`, sorted. A plain path
/// is returned as is (a missing file is reported when it is opened).
pub fn expand_paths(base: &std::path::Path, pattern: &str) -> Result<Vec<PathBuf>> {
    let full = base.join(pattern);
    let text = full.to_string_lossy().to_string();
    if !text.contains(['*', '?', '[']) {
        return Ok(vec![full]);
    }
    let mut out: Vec<PathBuf> = glob::glob(&text)
        .map_err(|e| DataError::Malformed {
            path: full.clone(),
            line: None,
            message: format!("invalid glob pattern: {e}"),
        })?
        .filter_map(std::result::Result::ok)
        .collect();
    out.sort();
    if out.is_empty() {
        return Err(DataError::Malformed {
            path: full,
            line: None,
            message: "no file matches this pattern".into(),
        });
    }
    Ok(out)
}
