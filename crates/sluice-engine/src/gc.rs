//! `sluice gc`: removes from a home what nothing needs any more and is older than a limit —
//! runs and their logs, dataset versions beyond their pipeline's retention, raw downloads no
//! kept version names, and what crashed attempts left in the warehouse — files first, then
//! their records, under the same locks as retention, so a running task never loses what it
//! reads.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::{Path, PathBuf};

use sluice_core::RunState;
use sluice_store::{DatasetVersionRecord, Micros, RunFilter, Write};

use crate::warehouse::VersionLock;
use crate::{Engine, EngineError};

/// What to collect.
#[derive(Debug, Clone, Default)]
pub struct GcOptions {
    /// Only what ended, or was last written, before this time.
    pub before: Micros,
    /// The retention of each pipeline whose versions may go (its file's `retention`); the
    /// versions of a pipeline not named here are all kept.
    pub retention: BTreeMap<String, usize>,
    /// Say what would go, remove nothing.
    pub dry_run: bool,
}

/// The files a dataset version names (the `path` column of a `fetch`), to keep them in its
/// task's raw folder: given the version's folder.
pub type Referenced<'a> = &'a (dyn Fn(&Path) -> Result<Vec<PathBuf>, String> + Sync);

/// What [`Engine::collect_garbage`] removed (or, dry, would remove).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct GcReport {
    /// Runs forgotten, with their task states and attempts.
    pub runs: Vec<String>,
    /// Log folders removed (one per run).
    pub log_dirs: usize,
    /// Dataset versions removed, as `pipeline.task@version`.
    pub versions: Vec<String>,
    /// Raw downloads removed.
    pub raw_files: Vec<PathBuf>,
    /// Staging folders of ended attempts, and version folders no record names.
    pub leftovers: Vec<PathBuf>,
    /// Bytes freed on disk.
    pub bytes: u64,
    /// Versions left because a running task reads them (for the next `gc`).
    pub held: Vec<String>,
    /// What could not be read or removed (the rest went on).
    pub problems: Vec<String>,
}

/// Versions removed and held by one pass of retention.
#[derive(Debug, Default)]
pub(crate) struct Retained {
    pub removed: Vec<String>,
    pub held: Vec<String>,
    pub bytes: u64,
    /// What could not be locked or removed (left for a later pass).
    pub problems: Vec<String>,
}

impl Engine {
    /// Removes the versions of `tasks` of `pipeline` beyond `retention` (the latest, and the
    /// versions an alias names, are always kept) that were written before `before` (any age
    /// when `None`); files first, then their records. A version a running task reads or
    /// wrote (in any run, in any process), or one whose folder a kept view reads
    /// (`read_by_views`, from [`Engine::read_by_views`]), is left for later. Of the versions
    /// kept, the folders a later publication of the same version superseded are removed.
    pub(crate) async fn retain(
        &self,
        pipeline: &str,
        tasks: &[String],
        retention: usize,
        before: Option<Micros>,
        dry_run: bool,
        read_by_views: &HashSet<PathBuf>,
    ) -> Result<Retained, EngineError> {
        let mut out = Retained::default();
        for task in tasks {
            let versions = self
                .store
                .dataset_versions(Some(pipeline), Some(task))
                .await?;
            let named: Vec<String> = self
                .store
                .aliases(Some(pipeline), Some(task), false)
                .await?
                .into_iter()
                .map(|a| a.version)
                .collect();
            let mut kept = usize::from(versions.iter().any(|v| v.latest_since.is_some()));
            for v in &versions {
                let path = Path::new(&v.path);
                let aliased = named.contains(&v.version);
                let young = before.is_some_and(|b| v.created_at >= b);
                let keep = v.latest_since.is_some()
                    || aliased
                    || kept < retention
                    || young
                    || read_by_views.contains(path);
                if v.latest_since.is_none() && !aliased && kept < retention {
                    kept += 1;
                }
                let name = format!("{}.{}@{}", v.pipeline, v.task, v.version);
                if dry_run {
                    if !keep {
                        out.bytes += tree_size(path.parent().unwrap_or(path), &v.version);
                        out.removed.push(name);
                    }
                    continue;
                }
                // Locked only when there is something to remove: a lock makes a run that
                // wants this version now run its task again.
                if keep && !VersionLock::has_superseded(path).unwrap_or(false) {
                    continue;
                }
                let mut lock = match VersionLock::try_take(path) {
                    Ok(Some(lock)) => lock,
                    // A running task reads it: next time.
                    Ok(None) => {
                        out.held.push(name);
                        continue;
                    }
                    Err(e) => {
                        out.problems.push(format!("{name}: {e}"));
                        continue;
                    }
                };
                if keep {
                    if let Err(e) = lock.remove_superseded(path) {
                        out.problems.push(format!("{name}: {e}"));
                    }
                    continue;
                }
                let bytes = tree_size(path.parent().unwrap_or(path), &v.version);
                if let Err(e) = lock.remove_all() {
                    out.problems.push(format!("{name}: {e}"));
                    continue;
                }
                if let Err(e) = self.warehouse.remove_remote(path).await {
                    out.problems.push(format!("{name}: {e}"));
                    continue;
                }
                // Recorded before the lock is released: a run waiting to publish this
                // version again records it after.
                self.store
                    .apply(&[Write::DeleteVersion {
                        pipeline: v.pipeline.clone(),
                        task: v.task.clone(),
                        version: v.version.clone(),
                    }])
                    .await?;
                drop(lock);
                out.bytes += bytes;
                out.removed.push(name);
            }
        }
        Ok(out)
    }

    /// The dataset folders that the latest and aliased versions which are views read
    /// ([`sluice_op::VIEW_FILE`]), through views of views too: a view is a stored query, so
    /// what it reads stays as long as it does.
    /// `all` is every version of the store.
    pub(crate) async fn read_by_views(
        &self,
        all: &[DatasetVersionRecord],
    ) -> Result<HashSet<PathBuf>, EngineError> {
        let mut folders: Vec<PathBuf> = all
            .iter()
            .filter(|v| v.latest_since.is_some())
            .map(|v| PathBuf::from(&v.path))
            .collect();
        for a in self.store.aliases(None, None, false).await? {
            if let Some(v) = all
                .iter()
                .find(|v| v.pipeline == a.pipeline && v.task == a.task && v.version == a.version)
            {
                folders.push(PathBuf::from(&v.path));
            }
        }
        let mut read = HashSet::new();
        while let Some(dir) = folders.pop() {
            // With the warehouse in an object store, a view not here is downloaded (a
            // `view.json`): what it reads must be kept all the same.
            let mut at = dir.clone();
            if self.warehouse.remote().is_some()
                && !dir.is_dir()
                && let Ok((here, _)) = self.warehouse.here(&dir)
            {
                if let Err(e) = self.warehouse.fetch(&here).await {
                    tracing::warn!("cannot read {} from the object store: {e}", dir.display());
                }
                at = here;
            }
            let Ok(bytes) = std::fs::read(at.join(sluice_op::VIEW_FILE)) else {
                continue;
            };
            let Ok(view) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
                continue;
            };
            let inputs = view["inputs"].as_object().cloned().unwrap_or_default();
            for input in inputs.values().filter_map(|p| p.as_str()) {
                // Named as the machine that made the view saw it (a worker's home): also
                // as the same version's folder beside the view, as this store records it.
                let input = PathBuf::from(input);
                let beside = sluice_op::view_input_beside(&dir, &input);
                for folder in std::iter::once(input).chain(beside) {
                    if read.insert(folder.clone()) {
                        folders.push(folder);
                    }
                }
            }
        }
        Ok(read)
    }

    /// Removes what nothing needs and is older than `opts.before`: dataset versions beyond
    /// each pipeline's retention (of the pipelines `opts.retention` names), version folders
    /// no record names and staging folders of ended attempts, raw downloads that no kept
    /// version of their task names (`referenced` reads them), ended runs that produced no
    /// kept version (with their task states, attempts and log folder), log folders of no
    /// known run, and old schedule slots (each pipeline's latest stays).
    pub async fn collect_garbage(
        &self,
        opts: &GcOptions,
        referenced: Referenced<'_>,
    ) -> Result<GcReport, EngineError> {
        let mut report = GcReport::default();
        // 1. Versions beyond retention.
        let all = self.store.dataset_versions(None, None).await?;
        let read_by_views = self.read_by_views(&all).await?;
        let mut tasks: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
        for v in &all {
            tasks.entry(&v.pipeline).or_default().insert(v.task.clone());
        }
        for (pipeline, tasks) in &tasks {
            let Some(&retention) = opts.retention.get(*pipeline) else {
                continue;
            };
            let tasks: Vec<String> = tasks.iter().cloned().collect();
            let r = self
                .retain(
                    pipeline,
                    &tasks,
                    retention,
                    Some(opts.before),
                    opts.dry_run,
                    &read_by_views,
                )
                .await?;
            report.versions.extend(r.removed);
            report.held.extend(r.held);
            report.problems.extend(r.problems);
            report.bytes += r.bytes;
        }
        let gone: HashSet<&str> = report.versions.iter().map(String::as_str).collect();
        let kept: Vec<&DatasetVersionRecord> = all
            .iter()
            .filter(|v| !gone.contains(format!("{}.{}@{}", v.pipeline, v.task, v.version).as_str()))
            .collect();

        // 2. Runs: ended before the limit, and producing no kept version.
        let runs = self.store.runs(&RunFilter::default()).await?;
        let running: HashSet<&str> = runs
            .iter()
            .filter(|r| r.state == RunState::Running)
            .map(|r| r.id.as_str())
            .collect();
        // The runs of kept versions, and those of the schedule slots gc keeps: the scheduler
        // takes a slot whose run is unknown for one never started.
        let slot_runs = self.store.kept_slot_runs(opts.before).await?;
        let needed: HashSet<&str> = kept
            .iter()
            .map(|v| v.run_id.as_str())
            .chain(slot_runs.iter().map(String::as_str))
            .collect();
        let mut forgotten = HashSet::new();
        for r in &runs {
            let ended = r.ended_at.unwrap_or(r.started_at);
            if r.state == RunState::Running
                || ended >= opts.before
                || needed.contains(r.id.as_str())
            {
                continue;
            }
            forgotten.insert(r.id.as_str());
            report.runs.push(r.id.clone());
        }
        if !opts.dry_run {
            // One transaction per hundred runs: a crash keeps what was done.
            for chunk in report.runs.chunks(100) {
                let writes: Vec<Write> = chunk
                    .iter()
                    .map(|id| Write::DeleteRun { id: id.clone() })
                    .collect();
                self.store.apply(&writes).await?;
            }
            self.store
                .apply(&[Write::PurgeSlots {
                    before: opts.before,
                }])
                .await?;
        }

        // 3. Log folders of the runs forgotten, and of no run at all.
        let known: HashSet<&str> = runs.iter().map(|r| r.id.as_str()).collect();
        for (name, path) in entries(&self.logs_dir, &mut report.problems) {
            let orphan = !known.contains(name.as_str()) && older(&path, opts.before);
            if (forgotten.contains(name.as_str()) || orphan)
                && remove(&path, opts.dry_run, &mut report)
            {
                report.log_dirs += 1;
            }
        }

        // 4. The warehouse: leftovers of attempts, unrecorded folders, raw downloads.
        let mut recorded: HashSet<(&str, &str, &str)> = HashSet::new();
        let mut by_task: BTreeMap<(&str, &str), Vec<&DatasetVersionRecord>> = BTreeMap::new();
        // Every recorded version, removed ones included: a dry run must not count those
        // again as unrecorded folders.
        for v in &all {
            recorded.insert((&v.pipeline, &v.task, &v.version));
        }
        for v in &kept {
            by_task.entry((&v.pipeline, &v.task)).or_default().push(v);
        }
        let root = self.warehouse.root().to_path_buf();
        for (pipeline, pipeline_dir) in entries(&root, &mut report.problems) {
            if pipeline.starts_with('.') || !pipeline_dir.is_dir() {
                continue;
            }
            for (task, task_dir) in entries(&pipeline_dir, &mut report.problems) {
                if task.starts_with('.') || !task_dir.is_dir() {
                    continue;
                }
                self.task_leftovers(
                    (&pipeline, &task, &task_dir),
                    &recorded,
                    &running,
                    opts,
                    &mut report,
                );
                let versions = by_task
                    .get(&(pipeline.as_str(), task.as_str()))
                    .map(Vec::as_slice)
                    .unwrap_or_default();
                raw_files(&task_dir, versions, referenced, opts, &mut report);
            }
        }
        Ok(report)
    }

    /// Staging folders of attempts whose run ended, and version folders no record names.
    fn task_leftovers(
        &self,
        (pipeline, task, task_dir): (&str, &str, &Path),
        recorded: &HashSet<(&str, &str, &str)>,
        running: &HashSet<&str>,
        opts: &GcOptions,
        report: &mut GcReport,
    ) {
        let staging = task_dir.join(".staging");
        for (name, path) in entries(&staging, &mut report.problems) {
            // `<run_id>.<version>-<attempt>`, or `removed.<version>.<generation>`.
            let run = name.split('.').next().unwrap_or_default();
            if !running.contains(run) && older(&path, opts.before) {
                remove(&path, opts.dry_run, report).then(|| report.leftovers.push(path));
            }
        }
        for (name, path) in entries(task_dir, &mut report.problems) {
            if name.starts_with('.') || name == "raw" || !path.is_dir() {
                continue;
            }
            let version = name.split('.').next().unwrap_or_default();
            if recorded.contains(&(pipeline, task, version)) || !older(&path, opts.before) {
                continue;
            }
            if opts.dry_run {
                report.bytes += tree_size(task_dir, version);
                report.leftovers.push(path);
                continue;
            }
            match VersionLock::try_take(&path) {
                Ok(Some(mut lock)) => {
                    let bytes = tree_size(task_dir, version);
                    match lock.remove_all() {
                        Ok(()) => {
                            report.bytes += bytes;
                            report.leftovers.push(path);
                        }
                        Err(e) => report.problems.push(e.to_string()),
                    }
                }
                Ok(None) => report.held.push(format!("{pipeline}.{task}@{version}")),
                Err(e) => report.problems.push(e.to_string()),
            }
        }
    }
}

/// The files directly in a task's `raw/` folder that none of its kept `versions` names,
/// older than the limit. A task with no kept version is left alone: nothing says what its
/// files are for.
fn raw_files(
    task_dir: &Path,
    versions: &[&DatasetVersionRecord],
    referenced: Referenced<'_>,
    opts: &GcOptions,
    report: &mut GcReport,
) {
    let raw = task_dir.join("raw");
    if versions.is_empty() || !raw.is_dir() {
        return;
    }
    // By file name: the paths a version recorded may be spelled otherwise (`..`, a link, a
    // home restored elsewhere), and a task's downloads are the files directly in `raw/`.
    let mut named = HashSet::new();
    for v in versions {
        match referenced(Path::new(&v.path)) {
            Ok(paths) => named.extend(
                paths
                    .iter()
                    .filter(|p| p.parent().and_then(Path::file_name) == Some("raw".as_ref()))
                    .filter_map(|p| p.file_name().map(|n| n.to_os_string())),
            ),
            Err(e) => {
                // Unsure what is needed: keep everything of this task.
                report.problems.push(format!(
                    "{}.{}@{}: {e}; its raw files were kept",
                    v.pipeline, v.task, v.version
                ));
                return;
            }
        }
    }
    for (name, path) in entries(&raw, &mut report.problems) {
        if name.starts_with('.') || !path.is_file() || named.contains(std::ffi::OsStr::new(&name)) {
            continue;
        }
        if older(&path, opts.before) {
            let size = std::fs::metadata(&path).map_or(0, |m| m.len());
            if remove(&path, opts.dry_run, report) {
                report.bytes += size;
                report.raw_files.push(path);
            }
        }
    }
}

/// The entries of `dir` (none when it does not exist), as (name, path).
fn entries(dir: &Path, problems: &mut Vec<String>) -> Vec<(String, PathBuf)> {
    match std::fs::read_dir(dir) {
        Ok(list) => list
            .filter_map(|e| e.ok())
            .map(|e| (e.file_name().to_string_lossy().into_owned(), e.path()))
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => {
            problems.push(format!("{}: {e}", dir.display()));
            Vec::new()
        }
    }
}

/// Whether `path` was last modified before `before` (micros since the epoch).
fn older(path: &Path, before: Micros) -> bool {
    std::fs::symlink_metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .is_some_and(|d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX) < before)
}

/// Removes a file or folder (not when dry), counting a folder's bytes; false when it failed.
fn remove(path: &Path, dry_run: bool, report: &mut GcReport) -> bool {
    if path.is_dir() {
        report.bytes += dir_size(path);
    }
    if dry_run {
        return true;
    }
    let done = if path.is_dir() {
        std::fs::remove_dir_all(path)
    } else {
        std::fs::remove_file(path)
    };
    match done {
        Ok(()) => true,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => true,
        Err(e) => {
            report.problems.push(format!("{}: {e}", path.display()));
            false
        }
    }
}

/// The bytes of every folder of `version` in `task_dir` (`<version>`, `<version>.2`…).
fn tree_size(task_dir: &Path, version: &str) -> u64 {
    let Ok(list) = std::fs::read_dir(task_dir) else {
        return 0;
    };
    list.filter_map(|e| e.ok())
        .filter(|e| {
            let name = e.file_name();
            let name = name.to_string_lossy();
            name.split('.').next() == Some(version)
        })
        .map(|e| dir_size(&e.path()))
        .sum()
}

/// The bytes of the files under `dir`.
fn dir_size(dir: &Path) -> u64 {
    let Ok(list) = std::fs::read_dir(dir) else {
        return 0;
    };
    list.filter_map(|e| e.ok())
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => dir_size(&e.path()),
            Ok(_) => e.metadata().map_or(0, |m| m.len()),
            Err(_) => 0,
        })
        .sum()
}
