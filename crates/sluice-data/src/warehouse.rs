//! Where dataset versions live: `<root>/<pipeline>/<task>/<version>/part-NNNNN.parquet`.
//!
//! A task writes into a staging folder; only when it succeeded and passed its checks is the
//! folder renamed to its version (one atomic rename), so a reader never sees half a dataset.

use std::path::{Path, PathBuf};

use crate::{Result, io_err};

/// The version id of a dataset produced by a task with this fingerprint.
pub fn version_of(fingerprint: &str) -> String {
    fingerprint.chars().take(16).collect()
}

/// The warehouse root.
#[derive(Debug, Clone)]
pub struct Warehouse {
    root: PathBuf,
}

impl Warehouse {
    /// A warehouse under `root` (usually `.sluice/warehouse`).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Warehouse { root: root.into() }
    }

    /// The root folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Folder of one version.
    pub fn version_dir(&self, pipeline: &str, task: &str, version: &str) -> PathBuf {
        self.root.join(pipeline).join(task).join(version)
    }

    /// The folder kept across runs for the files a task downloads.
    pub fn raw_dir(&self, pipeline: &str, task: &str) -> PathBuf {
        self.root.join(pipeline).join(task).join("raw")
    }

    /// The folder of row-level caches shared by every pipeline (embeddings by model and
    /// text), kept across runs: `<root>/.cache`.
    pub fn cache_dir(&self) -> PathBuf {
        self.root.join(".cache")
    }

    /// A fresh staging folder for an attempt of run `run_id` (removed first if a crashed
    /// attempt left it): `<pipeline>/<task>/.staging/<run_id>.<version>-<attempt>`.
    pub fn staging_dir(
        &self,
        pipeline: &str,
        task: &str,
        version: &str,
        run_id: &str,
        attempt: u32,
    ) -> Result<PathBuf> {
        let dir = self
            .root
            .join(pipeline)
            .join(task)
            .join(".staging")
            .join(format!("{run_id}.{version}-{attempt}"));
        if dir.exists() {
            std::fs::remove_dir_all(&dir).map_err(io_err(&dir))?;
        }
        std::fs::create_dir_all(&dir).map_err(io_err(&dir))?;
        Ok(dir)
    }

    /// Makes a staging folder the version folder: one rename. A version folder already there
    /// (the same fingerprint run again with `--force`) is replaced.
    pub fn publish(&self, staging: &Path, version_dir: &Path) -> Result<()> {
        if version_dir.exists() {
            let old = version_dir.with_extension("replaced");
            let _ = std::fs::remove_dir_all(&old);
            std::fs::rename(version_dir, &old).map_err(io_err(version_dir))?;
            std::fs::rename(staging, version_dir).map_err(io_err(version_dir))?;
            let _ = std::fs::remove_dir_all(&old);
        } else {
            std::fs::rename(staging, version_dir).map_err(io_err(version_dir))?;
        }
        Ok(())
    }

    /// Removes the staging folders that run `run_id` of `pipeline` left (its process was
    /// killed before it could clean up).
    pub fn sweep_staging(&self, pipeline: &str, run_id: &str) -> Result<()> {
        let prefix = format!("{run_id}.");
        let dir = self.root.join(pipeline);
        let tasks = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(io_err(&dir)(e)),
        };
        for task in tasks.flatten() {
            let Ok(entries) = std::fs::read_dir(task.path().join(".staging")) else {
                continue;
            };
            for entry in entries.flatten() {
                if entry.file_name().to_string_lossy().starts_with(&prefix) {
                    self.remove(&entry.path())?;
                }
            }
        }
        Ok(())
    }

    /// Removes a folder (a discarded staging folder or a version dropped by retention).
    pub fn remove(&self, dir: &Path) -> Result<()> {
        match std::fs::remove_dir_all(dir) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io_err(dir)(e)),
            _ => Ok(()),
        }
    }
}
