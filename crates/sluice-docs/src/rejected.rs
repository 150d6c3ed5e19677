//! The second output of the document ops: what a task could not take, one row per file or
//! page, with the reason. It is a dataset of its own inside the task's version folder
//! (`<version>/rejected/`, beside the task's dataset files, as `split` keeps its parts), so it
//! becomes latest together with the rows that were accepted, and `sluice sql` reads it as
//! `pipeline.task_rejected`.

use std::path::{Path, PathBuf};

use sluice_data::DatasetTarget;
use sluice_data::rows::{ColumnType, RowWriter, Value};
use sluice_op::{OpError, TaskLog};

pub use sluice_data::REJECTED;

/// The rejected rows' columns.
pub const COLUMNS: &[(&str, ColumnType)] = &[
    ("source", ColumnType::Text),
    ("id", ColumnType::Text),
    ("page", ColumnType::Int),
    ("reason", ColumnType::Text),
];

/// One thing a task did not take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// The file, as the task found it (relative to the pipeline file when inside it).
    pub source: String,
    /// The document's id, when it was known.
    pub id: Option<String>,
    /// The page, from 1, when one page was rejected.
    pub page: Option<u32>,
    /// Why, and what to do.
    pub reason: String,
}

/// The rejected rows of one attempt.
#[derive(Debug, Default)]
pub struct Rejected {
    rows: Vec<Rejection>,
}

impl Rejected {
    /// Adds one, and says it in the task's log.
    pub fn push(&mut self, log: &TaskLog, r: Rejection) {
        let page = r.page.map(|p| format!(" page {p}")).unwrap_or_default();
        let _ = log.line(&format!("rejected {}{page}: {}", r.source, r.reason));
        self.rows.push(r);
    }

    /// How many.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The rows.
    pub fn rows(&self) -> &[Rejection] {
        &self.rows
    }

    /// Writes them as the dataset `<target>/rejected/` (with its columns even when empty).
    pub fn write(&self, target: &DatasetTarget) -> Result<(), OpError> {
        let dir = target.dir.join(REJECTED);
        std::fs::create_dir_all(&dir)
            .map_err(|e| OpError::internal(format!("{}: {e}", dir.display())))?;
        let mut sub = target.clone();
        sub.dir = dir;
        let mut w = RowWriter::new(&sub, COLUMNS);
        for r in &self.rows {
            w.push(vec![
                Value::from(r.source.as_str()),
                Value::from(r.id.clone()),
                r.page.map_or(Value::Null, |p| Value::Int(i64::from(p))),
                Value::from(r.reason.as_str()),
            ])?;
        }
        w.finish()?;
        Ok(())
    }
}

/// The rejected rows' folder of a task's dataset version, when it has one.
pub fn rejected_of(version: &Path) -> Option<PathBuf> {
    let dir = version.join(REJECTED);
    dir.is_dir().then_some(dir)
}

/// The reasons of the rejected rows of a task's dataset version (none when it has no
/// rejected rows, or they cannot be read).
pub fn reasons(version: &Path) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(dir) = rejected_of(version) {
        let _ = sluice_data::export::for_each_batch(&dir, |_, b| {
            if let Ok(reasons) = crate::rows::texts(&b, "reason", REJECTED) {
                out.extend(reasons.into_iter().flatten());
            }
            Ok(())
        });
    }
    out
}
