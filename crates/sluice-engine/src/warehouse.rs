//! Where dataset versions live: `<root>/<pipeline>/<task>/<version>/part-NNNNN.parquet`.
//!
//! A task writes into a staging folder; only when it succeeded and passed its checks is the
//! folder synced to disk and renamed to its version (one atomic rename, then the task folder
//! synced), so a reader never sees half a dataset, even after a crash. A version published
//! again (the same fingerprint run with `--force` or `cache: false`) is renamed to a new
//! folder, `<version>.2`, `<version>.3`…: the newest one is the version's folder
//! ([`Warehouse::current_dir`]), and the older ones stay whole until retention removes them
//! ([`VersionLock::remove_superseded`]), so at every moment both the newest folder and the
//! one the state store records are complete.
//!
//! Runs hold the versions their tasks read or wrote ([`ReadHold`]: a shared lock on
//! `<task>/.readers/<version>.lock`); retention removes a version only under the exclusive
//! lock ([`VersionLock`]), so it never deletes a version a running task reads, whichever
//! process runs it.

use std::fs::{File, TryLockError};
use std::path::{Path, PathBuf};

/// Result of the warehouse's file operations: I/O errors that name their file and keep their
/// kind (a full disk, a missing folder).
pub type Result<T> = std::io::Result<T>;

/// `io::Error` → the same error, its message prefixed with the path.
fn io_err(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> std::io::Error {
    let path = path.into();
    move |e| std::io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

/// The folder of the lock files of a task's versions, in its task folder.
const READERS: &str = ".readers";

/// The version id of a dataset produced by a task with this fingerprint.
pub fn version_of(fingerprint: &str) -> String {
    fingerprint.chars().take(16).collect()
}

/// The warehouse root, and the object store it mirrors when it is in one.
#[derive(Debug, Clone)]
pub struct Warehouse {
    root: PathBuf,
    remote: Option<std::sync::Arc<crate::remote::Remote>>,
}

impl Warehouse {
    /// A warehouse under `root` (usually `.sluice/warehouse`).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Warehouse {
            root: root.into(),
            remote: None,
        }
    }

    /// The warehouse, its versions kept in `remote` (an object store) and `root` a cache of
    /// them (see [`crate::remote`]).
    pub fn with_remote(mut self, remote: std::sync::Arc<crate::remote::Remote>) -> Self {
        self.remote = Some(remote);
        self
    }

    /// The object store holding its versions, if any.
    pub fn remote(&self) -> Option<&std::sync::Arc<crate::remote::Remote>> {
        self.remote.as_ref()
    }

    /// `dir` relative to the root, `/`-separated.
    pub fn relative(&self, dir: &Path) -> Option<String> {
        crate::remote::relative(&self.root, dir)
    }

    /// Whether the version folder `dir` is here; when the warehouse is in an object store
    /// and the version is complete there, it is downloaded first. `Ok(false)`: neither.
    pub async fn fetch(&self, dir: &Path) -> Result<bool> {
        if dir.is_dir() {
            return Ok(true);
        }
        let (Some(remote), Some(rel)) = (&self.remote, self.relative(dir)) else {
            return Ok(false);
        };
        if let Some(parent) = dir.parent() {
            std::fs::create_dir_all(parent).map_err(io_err(parent))?;
        }
        remote
            .pull_dir(&rel, dir)
            .await
            .map_err(std::io::Error::other)
    }

    /// The folder to read a version recorded at `recorded` (a path of the process that
    /// published it) from: `recorded` itself when it is here, else the same version folder in
    /// this warehouse, downloaded from the object store when needed.
    pub async fn fetch_recorded(
        &self,
        recorded: &Path,
        pipeline: &str,
        task: &str,
    ) -> Result<PathBuf> {
        if recorded.is_dir() {
            return Ok(recorded.to_path_buf());
        }
        let (dir, rel) = self.here(recorded)?;
        if !rel.starts_with(&format!("{pipeline}/{task}/")) {
            return Err(std::io::Error::other(format!(
                "{} is not a version folder of {pipeline}.{task}",
                recorded.display()
            )));
        }
        if self.fetch(&dir).await? {
            Ok(dir)
        } else {
            Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!(
                    "{} is not here and not complete in {}",
                    recorded.display(),
                    self.remote.as_ref().map_or("the object store", |r| r.url())
                ),
            ))
        }
    }

    /// Whether the version folder `dir` is here or complete in the object store (nothing
    /// downloaded).
    pub async fn exists(&self, dir: &Path) -> Result<bool> {
        if dir.is_dir() {
            return Ok(true);
        }
        let (Some(remote), Some(rel)) = (&self.remote, self.relative(dir)) else {
            return Ok(false);
        };
        Ok(remote
            .manifest(&rel)
            .await
            .map_err(std::io::Error::other)?
            .is_some())
    }

    /// Removes every folder of the version of `dir` from the object store, if the warehouse
    /// is in one (each one's manifest first).
    pub async fn remove_remote(&self, dir: &Path) -> Result<()> {
        let Some(remote) = &self.remote else {
            return Ok(());
        };
        let (here, rel) = self.here(dir)?;
        let (_, version) = split_version(&here)?;
        let task_rel = rel.rsplit_once('/').map_or("", |(task_rel, _)| task_rel);
        let folders = remote
            .version_folders(task_rel, &version)
            .await
            .map_err(std::io::Error::other)?;
        for name in folders {
            remote
                .remove_dir(&format!("{task_rel}/{name}"))
                .await
                .map_err(std::io::Error::other)?;
        }
        Ok(())
    }

    /// Uploads the version folder `dir` (here) to the object store unless it is complete
    /// there already.
    pub async fn upload_if_missing(&self, dir: &Path) -> Result<()> {
        let (Some(remote), Some(rel)) = (&self.remote, self.relative(dir)) else {
            return Ok(());
        };
        let there = remote.manifest(&rel).await.map_err(std::io::Error::other)?;
        if there.is_none() {
            remote
                .push_dir(dir, &rel)
                .await
                .map_err(|e| std::io::Error::other(format!("uploading {rel}: {e}")))?;
        }
        Ok(())
    }

    /// The folder in this warehouse of a version folder recorded at `recorded` (by whichever
    /// process published it: its last three parts are `pipeline/task/version`), and its
    /// path relative to the warehouse.
    pub fn here(&self, recorded: &Path) -> Result<(PathBuf, String)> {
        let tail = sluice_op::version_tail(recorded).ok_or_else(|| {
            std::io::Error::other(format!("{} is not a version folder", recorded.display()))
        })?;
        let rel = tail.join("/");
        Ok((self.root.join(&rel), rel))
    }

    /// [`Warehouse::publish`], then, when the warehouse is in an object store, the new
    /// folder there too: uploaded from staging first (its manifest last), under a generation
    /// neither this machine nor the store has, then renamed here. An upload that fails
    /// leaves the warehouse as it was.
    pub async fn publish_everywhere(&self, staging: &Path, version_dir: &Path) -> Result<PathBuf> {
        let Some(remote) = &self.remote else {
            return self.publish(staging, version_dir, 0);
        };
        let (task_dir, version) = split_version(version_dir)?;
        let task_rel = self.relative(&task_dir).ok_or_else(|| {
            std::io::Error::other(format!("{} is not in the warehouse", task_dir.display()))
        })?;
        let in_store = remote
            .version_folders(&task_rel, &version)
            .await
            .map_err(std::io::Error::other)?
            .iter()
            .filter_map(|name| generation_of(name, &version))
            .max()
            .unwrap_or(0);
        let here = generations(&task_dir, &version)?
            .last()
            .map_or(0, |(g, _)| *g);
        let next = in_store.max(here) + 1;
        let name = |g: u64| {
            generation_dir(&task_dir, &version, g)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        };
        let rel = format!("{task_rel}/{}", name(next));
        let upload = |e: String| std::io::Error::other(format!("uploading the dataset: {e}"));
        remote.push_dir(staging, &rel).await.map_err(upload)?;
        let dir = match self.publish(staging, version_dir, next - 1) {
            Ok(dir) => dir,
            Err(e) => {
                let _ = remote.remove_dir(&rel).await;
                return Err(e);
            }
        };
        if dir.file_name().map(|n| n.to_string_lossy().into_owned()) != Some(name(next)) {
            // Another run here took that generation meanwhile: the store follows this one.
            let moved = format!(
                "{task_rel}/{}",
                dir.file_name().unwrap_or_default().to_string_lossy()
            );
            remote.push_dir(&dir, &moved).await.map_err(upload)?;
            let _ = remote.remove_dir(&rel).await;
        }
        Ok(dir)
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

    /// The folder holding `version` now: the newest of `<version>`, `<version>.2`… (see
    /// [`Warehouse::publish`]), or [`Warehouse::version_dir`] when there is none.
    pub fn current_dir(&self, pipeline: &str, task: &str, version: &str) -> PathBuf {
        let base = self.version_dir(pipeline, task, version);
        let task_dir = self.root.join(pipeline).join(task);
        generations(&task_dir, version)
            .ok()
            .and_then(|mut g| g.pop())
            .map_or(base, |(_, dir)| dir)
    }

    /// Makes a staging folder a version: syncs its files and folders to disk, renames it in
    /// one step to the version's next folder (`<version>` when there is none yet, else
    /// `<version>.2`, `.3`…), then syncs the task folder; returns the new folder.
    /// `version_dir` is any folder of the version (usually [`Warehouse::version_dir`]). The
    /// version's older folders stay as they were: a task of another run may read one, and the
    /// state store points at one until it records the new one. Generations up to `taken`
    /// are left to others (those of an object store).
    pub fn publish(&self, staging: &Path, version_dir: &Path, taken: u64) -> Result<PathBuf> {
        sync_tree(staging)?;
        let (task_dir, version) = split_version(version_dir)?;
        let mut next = generations(&task_dir, &version)?
            .last()
            .map_or(1, |(g, _)| g + 1)
            .max(taken + 1);
        loop {
            let target = generation_dir(&task_dir, &version, next);
            match std::fs::rename(staging, &target) {
                Ok(()) => {
                    sync_dir(&task_dir)?;
                    return Ok(target);
                }
                // Another run published this folder of the version meanwhile.
                Err(_) if target.is_dir() && next < 1_000_000 => next += 1,
                Err(e) => return Err(io_err(&target)(e)),
            }
        }
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

    /// Removes a folder (a discarded staging folder); versions are removed under their
    /// [`VersionLock`].
    pub fn remove(&self, dir: &Path) -> Result<()> {
        match std::fs::remove_dir_all(dir) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io_err(dir)(e)),
            _ => Ok(()),
        }
    }
}

/// `<task_dir>/<version>` for the first folder of a version, `<version>.<n>` for the next.
fn generation_dir(task_dir: &Path, version: &str, generation: u64) -> PathBuf {
    if generation <= 1 {
        task_dir.join(version)
    } else {
        task_dir.join(format!("{version}.{generation}"))
    }
}

/// The task folder and the version of a version folder (any of its generations).
fn split_version(dir: &Path) -> Result<(PathBuf, String)> {
    let not_a_version =
        || std::io::Error::other(format!("{} is not a dataset version folder", dir.display()));
    let name = dir
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(not_a_version)?;
    let task_dir = dir.parent().ok_or_else(not_a_version)?.to_path_buf();
    let version = match name.rsplit_once('.') {
        Some((v, n)) if !v.is_empty() && n.parse::<u64>().is_ok_and(|n| n >= 2) => v,
        _ => name,
    };
    Ok((task_dir, version.to_string()))
}

/// The generation of the folder `name` of `version`: 1 for `<version>`, N for
/// `<version>.N` (N ≥ 2); `None` for any other name.
pub(crate) fn generation_of(name: &str, version: &str) -> Option<u64> {
    match name.strip_prefix(version)? {
        "" => Some(1),
        rest => rest
            .strip_prefix('.')?
            .parse::<u64>()
            .ok()
            .filter(|n| *n >= 2),
    }
}

/// The folders of `version` in `task_dir` with their generation, oldest first.
fn generations(task_dir: &Path, version: &str) -> Result<Vec<(u64, PathBuf)>> {
    let entries = match std::fs::read_dir(task_dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_err(task_dir)(e)),
    };
    let mut found = Vec::new();
    for entry in entries {
        let entry = entry.map_err(io_err(task_dir))?;
        let name = entry.file_name();
        let Some(generation) = name.to_str().and_then(|n| generation_of(n, version)) else {
            continue;
        };
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            found.push((generation, entry.path()));
        }
    }
    found.sort();
    Ok(found)
}

/// The folders of `version` but the newest and `recorded`.
fn superseded(task_dir: &Path, version: &str, recorded: &Path) -> Result<Vec<(u64, PathBuf)>> {
    let mut folders = generations(task_dir, version)?;
    folders.pop();
    folders.retain(|(_, d)| d != recorded);
    Ok(folders)
}

/// Syncs every file under `dir` to disk, then each folder (deepest first), then `dir`.
pub(crate) fn sync_tree(dir: &Path) -> Result<()> {
    for entry in std::fs::read_dir(dir).map_err(io_err(dir))? {
        let entry = entry.map_err(io_err(dir))?;
        let path = entry.path();
        let kind = entry.file_type().map_err(io_err(&path))?;
        if kind.is_dir() {
            sync_tree(&path)?;
        } else if kind.is_file() {
            File::open(&path)
                .and_then(|f| f.sync_all())
                .map_err(io_err(&path))?;
        }
    }
    sync_dir(dir)
}

/// Syncs a folder's entries (a rename in it, the files made in it) to disk.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|f| f.sync_all())
        .map_err(io_err(dir))
}

/// The lock file of the version of folder `dir`: `<task>/.readers/<version>.lock`.
fn lock_file(dir: &Path) -> Result<PathBuf> {
    let (task_dir, version) = split_version(dir)?;
    let readers = task_dir.join(READERS);
    std::fs::create_dir_all(&readers).map_err(io_err(&readers))?;
    Ok(readers.join(format!("{version}.lock")))
}

/// Opens (creating) a lock file.
fn open_lock(path: &Path) -> Result<File> {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(io_err(path))
}

/// Whether the open `file` is still the one at `path`: a version's remover deletes its lock
/// file under the lock, so whoever waited on that file must take the one there now.
fn still_there(file: &File, path: &Path) -> Result<bool> {
    use std::os::unix::fs::MetadataExt;
    let held = file.metadata().map_err(io_err(path))?;
    Ok(std::fs::metadata(path).is_ok_and(|now| now.dev() == held.dev() && now.ino() == held.ino()))
}

/// A shared hold on a dataset version, kept by a run while its tasks read or write it:
/// meanwhile no [`VersionLock`] can be taken, so retention leaves the version alone.
#[derive(Debug)]
pub struct ReadHold {
    _file: File,
}

impl ReadHold {
    /// Holds the version of folder `dir` (any of its generations, which need not exist
    /// yet). While a remover holds it: with `wait`, waits (blocking) until it is done;
    /// without, returns `None`.
    pub fn take(dir: &Path, wait: bool) -> Result<Option<ReadHold>> {
        let path = lock_file(dir)?;
        loop {
            let file = open_lock(&path)?;
            if wait {
                file.lock_shared().map_err(io_err(&path))?;
            } else {
                match file.try_lock_shared() {
                    Ok(()) => {}
                    Err(TryLockError::WouldBlock) => return Ok(None),
                    Err(TryLockError::Error(e)) => return Err(io_err(&path)(e)),
                }
            }
            if still_there(&file, &path)? {
                return Ok(Some(ReadHold { _file: file }));
            }
        }
    }
}

/// An exclusive hold on a dataset version, to remove its folders: taken only while no run
/// holds it for reading. When the version was removed, its lock file goes too, as the lock is
/// released (record the removal in the state store before dropping it).
#[derive(Debug)]
pub struct VersionLock {
    file: File,
    path: PathBuf,
    task_dir: PathBuf,
    version: String,
    removed: bool,
    /// Folders moved out of the version, deleted once the lock is released.
    trash: Vec<PathBuf>,
}

impl VersionLock {
    /// Locks the version of folder `dir`, or `None` while a run holds it ([`ReadHold`]).
    pub fn try_take(dir: &Path) -> Result<Option<VersionLock>> {
        let (task_dir, version) = split_version(dir)?;
        let path = lock_file(dir)?;
        loop {
            let file = open_lock(&path)?;
            match file.try_lock() {
                Ok(()) => {}
                Err(TryLockError::WouldBlock) => return Ok(None),
                Err(TryLockError::Error(e)) => return Err(io_err(&path)(e)),
            }
            if still_there(&file, &path)? {
                return Ok(Some(VersionLock {
                    file,
                    path,
                    task_dir,
                    version,
                    removed: false,
                    trash: Vec::new(),
                }));
            }
        }
    }

    /// Removes every folder of the version (deleted once the lock is released).
    pub fn remove_all(&mut self) -> Result<()> {
        self.removed = true;
        for (generation, dir) in generations(&self.task_dir, &self.version)? {
            self.discard(generation, &dir)?;
        }
        Ok(())
    }

    /// Moves a folder of the version out of its name in one rename (no half version is ever
    /// left under it); the folder is deleted once the lock is released.
    fn discard(&mut self, generation: u64, dir: &Path) -> Result<()> {
        let trash = self.task_dir.join(".staging");
        std::fs::create_dir_all(&trash).map_err(io_err(&trash))?;
        let doomed = trash.join(format!("removed.{}.{generation}", self.version));
        if doomed.exists() {
            std::fs::remove_dir_all(&doomed).map_err(io_err(&doomed))?;
        }
        std::fs::rename(dir, &doomed).map_err(io_err(dir))?;
        self.trash.push(doomed);
        Ok(())
    }

    /// Removes the folders of the version that a later publication superseded: all but the
    /// newest and `recorded` (the one the state store points at). Returns how many.
    pub fn remove_superseded(&mut self, recorded: &Path) -> Result<usize> {
        let folders = superseded(&self.task_dir, &self.version, recorded)?;
        for (generation, dir) in &folders {
            self.discard(*generation, dir)?;
        }
        Ok(folders.len())
    }

    /// Whether the version of `recorded` has folders [`VersionLock::remove_superseded`]
    /// would remove (to lock it only then).
    pub fn has_superseded(recorded: &Path) -> Result<bool> {
        let (task_dir, version) = split_version(recorded)?;
        Ok(!superseded(&task_dir, &version, recorded)?.is_empty())
    }
}

impl Drop for VersionLock {
    fn drop(&mut self) {
        if self.removed {
            // Under the lock still: a reader waiting on it sees it gone and takes the new one.
            let _ = std::fs::remove_file(&self.path);
        }
        let _ = self.file.unlock();
        for dir in &self.trash {
            // One left behind only takes space: the next removal of the version replaces it.
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn staged(w: &Warehouse, run: &str, content: &str) -> PathBuf {
        let dir = w.staging_dir("p", "t", "v1", run, 1).expect("staging");
        std::fs::create_dir_all(dir.join("parts/a")).expect("parts");
        std::fs::write(dir.join("part-00000.parquet"), content).expect("part");
        std::fs::write(dir.join("parts/a/part-00000.parquet"), content).expect("part");
        dir
    }

    #[test]
    fn republishing_renames_once_to_a_new_folder_and_the_old_one_stays_whole() {
        let tmp = tempfile::tempdir().expect("tmp");
        let w = Warehouse::new(tmp.path());
        let base = w.version_dir("p", "t", "v1");
        assert_eq!(w.current_dir("p", "t", "v1"), base);

        let first = w
            .publish(&staged(&w, "r1", "one"), &base, 0)
            .expect("publish");
        assert_eq!(first, base);
        assert_eq!(w.current_dir("p", "t", "v1"), base);

        // Published again: one rename into `v1.2`; `v1` is untouched until retention.
        let second = w
            .publish(&staged(&w, "r2", "two"), &base, 0)
            .expect("again");
        assert_eq!(second, tmp.path().join("p/t/v1.2"));
        assert_eq!(w.current_dir("p", "t", "v1"), second);
        let read = |d: &Path| std::fs::read_to_string(d.join("parts/a/part-00000.parquet"));
        assert_eq!(read(&base).expect("old"), "one");
        assert_eq!(read(&second).expect("new"), "two");
        let third = w
            .publish(&staged(&w, "r3", "three"), &second, 0)
            .expect("third");
        assert_eq!(third, tmp.path().join("p/t/v1.3"));
        // Generations sort as numbers, and other versions' folders are not taken for them.
        std::fs::create_dir_all(tmp.path().join("p/t/v1.10")).expect("v1.10");
        std::fs::create_dir_all(tmp.path().join("p/t/v10")).expect("v10");
        assert_eq!(w.current_dir("p", "t", "v1"), tmp.path().join("p/t/v1.10"));
        std::fs::remove_dir(tmp.path().join("p/t/v1.10")).expect("rm");

        // The store records `v1.2` (the run that published `v1.3` crashed before recording
        // it): the sweep keeps both, removes `v1`.
        assert!(VersionLock::has_superseded(&second).expect("look"));
        let mut lock = VersionLock::try_take(&base).expect("lock").expect("free");
        assert_eq!(lock.remove_superseded(&second).expect("sweep"), 1);
        drop(lock);
        assert!(!base.exists() && second.is_dir() && third.is_dir());
        assert!(!VersionLock::has_superseded(&second).expect("look"));
        let mut staging = std::fs::read_dir(tmp.path().join("p/t/.staging")).expect("staging");
        assert!(staging.next().is_none(), "staging folders were moved");
    }

    #[test]
    fn a_held_version_cannot_be_removed_and_a_removed_one_frees_its_lock_file() {
        let tmp = tempfile::tempdir().expect("tmp");
        let w = Warehouse::new(tmp.path());
        let base = w.version_dir("p", "t", "v1");
        w.publish(&staged(&w, "r1", "one"), &base, 0)
            .expect("publish");

        let hold = ReadHold::take(&base, false).expect("hold").expect("free");
        assert!(VersionLock::try_take(&base).expect("try").is_none(), "held");
        let other = ReadHold::take(&base, false).expect("hold").expect("shared");
        drop(hold);
        assert!(
            VersionLock::try_take(&base).expect("try").is_none(),
            "still held"
        );
        drop(other);

        let mut lock = VersionLock::try_take(&base).expect("try").expect("free");
        assert!(
            ReadHold::take(&base, false).expect("try").is_none(),
            "being removed"
        );
        // A reader waiting meanwhile gets the lock once the remover is done, on the new lock
        // file, and finds the version gone.
        let waiting = std::thread::spawn({
            let base = base.clone();
            move || ReadHold::take(&base, true).map(|h| (h.is_some(), base.is_dir()))
        });
        lock.remove_all().expect("remove");
        drop(lock);
        assert_eq!(
            waiting.join().expect("thread").expect("hold"),
            (true, false)
        );
        assert!(!base.exists());
        assert!(VersionLock::try_take(&base).expect("try").is_some());
    }
}
