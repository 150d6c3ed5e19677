//! Where datasets are served from once they are built: PostgreSQL with pgvector (binary
//! COPY into a staging table, then one transaction that merges it into the table readers
//! use) and vector search over it.
//!
//! This crate reads datasets through `sluice-data`, embeds queries through `sluice-embed`, and
//! knows nothing of pipelines, tasks or the state store: the `load.postgres` op, the CLI and
//! the server call it.

pub mod index;
pub mod postgres;
pub mod search;
pub mod text;

use sluice_data::datafusion::arrow::datatypes::DataType;

/// Whether a column holds vectors: fixed-size lists of floats (what `embed` writes).
pub fn is_vector(data_type: &DataType) -> bool {
    matches!(data_type, DataType::FixedSizeList(item, n)
        if *n > 0
            && matches!(item.data_type(), DataType::Float16 | DataType::Float32 | DataType::Float64))
}

/// The form vectors are read in: fixed-size lists of `dim` f32 (other float widths cast).
pub(crate) fn f32_vector_type(dim: usize) -> DataType {
    DataType::FixedSizeList(
        std::sync::Arc::new(sluice_data::datafusion::arrow::datatypes::Field::new(
            "item",
            DataType::Float32,
            true,
        )),
        dim as i32,
    )
}

/// Why loading or searching failed, worded for the user (which table, column, row; what to
/// do about it).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Error(pub String);

impl Error {
    /// An error with this message.
    pub fn new(message: impl Into<String>) -> Self {
        Error(message.into())
    }
}

impl From<sluice_data::DataError> for Error {
    fn from(e: sluice_data::DataError) -> Self {
        Error(e.to_string())
    }
}

/// Results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
