//! Where datasets are served from once they are built: PostgreSQL with pgvector (binary
//! COPY into a staging table, then one transaction that merges it into the table readers
//! use) and vector search over it.
//!
//! This crate reads datasets through `sluice-data` and knows nothing of pipelines, tasks or
//! the state store: the `load.postgres` op and the CLI call it.

pub mod index;
pub mod postgres;
pub mod search;

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
