//! Housekeeping of a home: `sluice gc`, `sluice backup` and `sluice restore`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use sluice_data::datafusion::arrow::array::{Array, StringArray};
use sluice_data::datafusion::arrow::compute::cast;
use sluice_data::datafusion::arrow::datatypes::DataType;
use sluice_engine::Engine;
use sluice_engine::gc::{GcOptions, GcReport};
use sluice_store::{RunFilter, StateStore};

use crate::cli::Cli;
use crate::{EXIT_FAILED, Failure, home};

/// `sluice gc --older-than AGE`.
pub async fn gc(cli: &Cli, older_than: Duration, dry_run: bool, json: bool) -> Result<u8, Failure> {
    let home = home::discover(&cli.home)?;
    let home = std::fs::canonicalize(&home).unwrap_or(home);
    let queue = home::open_sql_store(&cli.state, &home).await?;
    let store: std::sync::Arc<dyn StateStore> = queue.clone();
    let registry = sluice_ops::registry();
    let age = i64::try_from(older_than.as_micros()).unwrap_or(i64::MAX);
    let before = sluice_store::now_micros().saturating_sub(age);
    let (retention, unreadable) = retentions(&*store, &home, &registry).await?;
    let mut engine = Engine::new(store, std::sync::Arc::new(registry), &home);
    if let Some(remote) = crate::home::remote_warehouse()? {
        engine = engine.with_remote_warehouse(remote);
    }
    let opts = GcOptions {
        before,
        retention,
        dry_run,
    };
    let report = engine
        .collect_garbage(&opts, &raw_paths)
        .await
        .map_err(|e| Failure::env(format!("error: gc: {e}")))?;
    // The workers' queue: rows of attempts that ended, and of workers silent, that long ago.
    let (attempts, workers) = sluice_store::WorkQueue::purge(&*queue, older_than, dry_run)
        .await
        .map_err(|e| Failure::env(format!("error: gc: {e}")))?;
    if json {
        let mut out =
            serde_json::to_value(&report).map_err(|e| Failure::env(format!("error: {e}")))?;
        out["warnings"] = serde_json::json!(unreadable);
        out["queue"] = serde_json::json!({ "attempts": attempts, "workers": workers });
        println!("{out:#}");
    } else {
        if attempts + workers > 0 {
            println!(
                "workers' queue: {} {attempts} ended attempt{} and {workers} silent worker{}",
                if dry_run { "would remove" } else { "removed" },
                plural(attempts as usize),
                plural(workers as usize)
            );
        }
        for w in &unreadable {
            eprintln!("warning: {w}");
        }
        print_report(
            &report,
            dry_run,
            &sluice_core::duration::format_duration(older_than),
        );
    }
    Ok(if report.problems.is_empty() {
        0
    } else {
        EXIT_FAILED
    })
}

/// Each pipeline's `retention`, read from the file its latest run loaded (with that run's
/// parameters). A pipeline whose file cannot be loaded any more keeps all its versions: said
/// in the second list.
async fn retentions(
    store: &dyn StateStore,
    home: &Path,
    registry: &sluice_op::Registry,
) -> Result<(BTreeMap<String, usize>, Vec<String>), Failure> {
    let mut pipelines: Vec<String> = store
        .dataset_versions(None, None)
        .await?
        .into_iter()
        .map(|v| v.pipeline)
        .collect();
    pipelines.sort();
    pipelines.dedup();
    let mut retention = BTreeMap::new();
    let mut problems = Vec::new();
    for pipeline in pipelines {
        let filter = RunFilter {
            pipeline: Some(pipeline.clone()),
            state: None,
            limit: 1,
        };
        let Some(run) = store.runs(&filter).await?.pop() else {
            continue;
        };
        // As given to `sluice run`: relative to where it ran, usually the home's folder.
        let given = PathBuf::from(&run.file);
        let beside = home.parent().map(|p| p.join(&run.file));
        let file = match beside {
            Some(b) if given.is_relative() && b.exists() => b,
            _ => given,
        };
        let params: Vec<(String, String)> = run.params.into_iter().collect();
        match crate::commands::load(&file, &params, registry) {
            Ok(p) if p.name == pipeline => {
                retention.insert(pipeline, p.retention);
            }
            Ok(p) => problems.push(format!(
                "pipeline `{pipeline}`: its dataset versions were all kept: {} is now pipeline `{}`, so its retention is unknown",
                file.display(),
                p.name
            )),
            Err(e) => problems.push(format!(
                "pipeline `{pipeline}`: its dataset versions were all kept: its retention is unknown, as its file {} cannot be loaded ({}); run it once, or gc from where it ran",
                file.display(),
                first_line(&e.to_string())
            )),
        }
    }
    Ok((retention, problems))
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or_default()
}

/// The files a dataset version names in its `path` column (a `fetch`'s downloads); none when
/// it has no such column, or is a view.
fn raw_paths(dir: &Path) -> Result<Vec<PathBuf>, String> {
    if !dir.is_dir() {
        return Err(format!("its folder {} is missing", dir.display()));
    }
    let view = dir.join(sluice_data::session::VIEW_FILE).is_file();
    let files = if view {
        Vec::new()
    } else {
        sluice_data::export::dataset_files(dir).map_err(|e| e.to_string())?
    };
    if files.is_empty() {
        return Ok(Vec::new());
    }
    let schema = sluice_data::export::dataset_schema(dir).map_err(|e| e.to_string())?;
    let Ok(i) = schema.index_of("path") else {
        return Ok(Vec::new());
    };
    if !matches!(
        schema.field(i).data_type(),
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
    ) {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    sluice_data::export::for_each_batch_of(dir, Some(&[i]), |_, batch| {
        let col = cast(batch.column(0), &DataType::Utf8)?;
        if let Some(col) = col.as_any().downcast_ref::<StringArray>() {
            out.extend(col.iter().flatten().map(PathBuf::from));
        }
        Ok(())
    })
    .map_err(|e| e.to_string())?;
    Ok(out)
}

/// What gc did, for people.
fn print_report(report: &GcReport, dry_run: bool, age: &str) {
    let verb = if dry_run { "would remove" } else { "removed" };
    if dry_run {
        for r in &report.runs {
            println!("run {r}");
        }
        for v in &report.versions {
            println!("dataset version {v}");
        }
        for f in &report.raw_files {
            println!("raw download {}", f.display());
        }
        for f in &report.leftovers {
            println!("leftover {}", f.display());
        }
    }
    println!(
        "gc ({age} and older): {verb} {} run{} ({} log folder{}), {} dataset version{}, {} raw download{}, {} leftover{} of ended attempts; {} {}",
        report.runs.len(),
        plural(report.runs.len()),
        report.log_dirs,
        plural(report.log_dirs),
        report.versions.len(),
        plural(report.versions.len()),
        report.raw_files.len(),
        plural(report.raw_files.len()),
        report.leftovers.len(),
        plural(report.leftovers.len()),
        bytes(report.bytes),
        if dry_run { "would be freed" } else { "freed" },
    );
    for h in &report.held {
        println!("kept for now (a running task reads it): {h}");
    }
    for p in &report.problems {
        eprintln!("warning: {p}");
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// `1.5 MB`, `12 kB`, `300 B`.
pub(crate) fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit + 1 < UNITS.len() {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// The name of the manifest in a backup archive (its last entry).
const MANIFEST: &str = "sluice-backup.json";

/// What a backup holds, written last in its archive and checked by `sluice restore`.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Manifest {
    /// Always `sluice-backup`.
    format: String,
    /// The manifest's version (1).
    version: u32,
    /// The sluice that wrote it.
    sluice: String,
    /// When (micros since the epoch).
    created_at: i64,
    /// The home it was taken from (absolute): paths in the store start with it.
    home: String,
    /// Runs and dataset versions in its state store.
    runs: usize,
    /// Dataset versions in its state store.
    dataset_versions: usize,
    /// Every file, with its size and SHA-256.
    files: Vec<ManifestFile>,
}

#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct ManifestFile {
    path: String,
    bytes: u64,
    sha256: String,
}

/// What the home's folders hold that is not the state store itself, the warehouse, logs or
/// locks (lineage spools, `openlineage.yml`…): copied as they are.
const OWN_ENTRIES: [&str; 6] = [
    "state.db",
    "state.db-wal",
    "state.db-shm",
    "warehouse",
    "logs",
    "locks",
];

/// `sluice backup ARCHIVE`.
pub async fn backup(cli: &Cli, output: &Path, without_caches: bool) -> Result<u8, Failure> {
    if cli.state.is_some() {
        return Err(Failure::invalid(
            "error: sluice backup saves a home whose state store is its own SQLite file; with --state/SLUICE_STATE on PostgreSQL, back the database up with pg_dump and the home's warehouse folder beside it",
        ));
    }
    let home = home::discover(&cli.home)?;
    let home = std::fs::canonicalize(&home)
        .map_err(|e| Failure::invalid(format!("error: {}: {e}", home.display())))?;
    if !home.join("state.db").is_file() {
        return Err(Failure::invalid(format!(
            "error: {} holds no state store (state.db): nothing to back up",
            home.display()
        )));
    }
    let output = std::path::absolute(output).unwrap_or_else(|_| output.to_path_buf());
    if output.starts_with(&home) {
        return Err(Failure::invalid(format!(
            "error: the archive {} would be inside the home it saves; write it elsewhere",
            output.display()
        )));
    }
    let folder = output
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let cannot =
        |what: &str, e: &dyn std::fmt::Display| Failure::env(format!("error: backup: {what}: {e}"));
    std::fs::create_dir_all(folder).map_err(|e| cannot(&folder.display().to_string(), &e))?;
    let scratch = tempfile::Builder::new()
        .prefix(".sluice-backup-")
        .tempdir_in(folder)
        .map_err(|e| cannot(&folder.display().to_string(), &e))?;

    // 1. A consistent copy of the state store, taken while runs may write to it.
    let live = sluice_store::SqlStore::open_sqlite(&home.join("state.db")).await?;
    let copy_path = scratch.path().join("state.db");
    live.snapshot_to(&copy_path).await?;
    live.close().await;
    let copy = sluice_store::SqlStore::open_sqlite(&copy_path).await?;
    // The paths the store records, spelled as the home is (a run may have named it through
    // `..` or a link): the archive's manifest names the home once.
    let versions = copy.dataset_versions(None, None).await?;
    let mut respell = Vec::new();
    for v in &versions {
        let recorded = PathBuf::from(&v.path);
        let real = std::fs::canonicalize(&recorded).unwrap_or_else(|_| recorded.clone());
        let Ok(rel) = real.strip_prefix(&home) else {
            return Err(Failure::invalid(format!(
                "error: backup: dataset version {}.{}@{} is at {}, outside the home {}: move it back, or run gc first",
                v.pipeline,
                v.task,
                v.version,
                v.path,
                home.display()
            )));
        };
        let rel = rel.to_string_lossy();
        if let Some(prefix) = v.path.strip_suffix(rel.as_ref())
            && prefix != format!("{}/", home.display())
            && !respell
                .iter()
                .any(|w| matches!(w, sluice_store::Write::Relocate { from, .. } if from == prefix))
        {
            respell.push(sluice_store::Write::Relocate {
                from: prefix.to_string(),
                to: format!("{}/", home.display()),
            });
        }
    }
    copy.apply(&respell).await?;
    let versions = copy.dataset_versions(None, None).await?;
    let runs = copy.runs(&RunFilter::default()).await?;

    // 2. The archive, written aside: every version the copy names, each held against
    // retention while it is read (one removed before it could be held is dropped from the
    // copy: the store and the files agree); the runs' logs, the raw downloads, the caches and
    // the home's other files; then the copy of the store, then the manifest.
    let partial = scratch.path().join("archive.tar.zst");
    let mut archive =
        Archive::create(&partial, &home).map_err(|e| cannot(&output.display().to_string(), &e))?;
    let mut gone = Vec::new();
    for v in &versions {
        let dir = PathBuf::from(&v.path);
        let held = dir.clone();
        let hold = tokio::task::spawn_blocking(move || {
            sluice_engine::warehouse::ReadHold::take(&held, true)
        })
        .await
        .map_err(|e| cannot("holding a dataset version", &e))?
        .map_err(|e| cannot("holding a dataset version", &e))?;
        if !dir.is_dir() {
            gone.push(sluice_store::Write::DeleteVersion {
                pipeline: v.pipeline.clone(),
                task: v.task.clone(),
                version: v.version.clone(),
            });
            continue;
        }
        archive
            .add_tree(&dir)
            .map_err(|e| cannot(&output.display().to_string(), &e))?;
        drop(hold);
    }
    copy.apply(&gone).await?;
    copy.close().await;
    let kept_versions = versions.len() - gone.len();
    let mut trees: Vec<PathBuf> = runs.iter().map(|r| home.join("logs").join(&r.id)).collect();
    let warehouse = home.join("warehouse");
    for (pipeline, dir) in children(&warehouse) {
        if pipeline == ".cache" {
            if !without_caches {
                trees.push(dir);
            }
            continue;
        }
        for (_, task_dir) in children(&dir) {
            trees.push(task_dir.join("raw"));
        }
    }
    for (name, path) in children(&home) {
        if !OWN_ENTRIES.contains(&name.as_str()) {
            trees.push(path);
        }
    }
    for tree in &trees {
        archive
            .add_tree(tree)
            .map_err(|e| cannot(&output.display().to_string(), &e))?;
    }
    let manifest = archive
        .finish(&copy_path, runs.len(), kept_versions)
        .map_err(|e| cannot(&output.display().to_string(), &e))?;
    std::fs::rename(&partial, &output).map_err(|e| cannot(&output.display().to_string(), &e))?;
    if let Ok(dir) = std::fs::File::open(folder) {
        let _ = dir.sync_all();
    }
    let total: u64 = manifest.files.iter().map(|f| f.bytes).sum();
    let size = std::fs::metadata(&output).map_or(0, |m| m.len());
    println!(
        "backup of {}: {} run{}, {} dataset version{}, {} file{} ({}) in {} ({})",
        home.display(),
        runs.len(),
        plural(runs.len()),
        kept_versions,
        plural(kept_versions),
        manifest.files.len(),
        plural(manifest.files.len()),
        bytes(total),
        output.display(),
        bytes(size)
    );
    if !gone.is_empty() {
        println!(
            "{} version{} removed by retention while the backup was taken {} left out",
            gone.len(),
            plural(gone.len()),
            if gone.len() == 1 { "was" } else { "were" }
        );
    }
    Ok(0)
}

/// The entries of a folder (none when it does not exist), sorted.
fn children(dir: &Path) -> Vec<(String, PathBuf)> {
    let mut out: Vec<(String, PathBuf)> = std::fs::read_dir(dir)
        .map(|list| {
            list.filter_map(|e| e.ok())
                .map(|e| (e.file_name().to_string_lossy().into_owned(), e.path()))
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// A backup archive being written: files under the home, then the store's copy and the
/// manifest.
struct Archive {
    tar: tar::Builder<zstd::Encoder<'static, std::io::BufWriter<std::fs::File>>>,
    home: PathBuf,
    manifest: Manifest,
}

impl Archive {
    fn create(path: &Path, home: &Path) -> std::io::Result<Archive> {
        let file = std::fs::File::create(path)?;
        let encoder = zstd::Encoder::new(std::io::BufWriter::new(file), 3)?;
        Ok(Archive {
            tar: tar::Builder::new(encoder),
            home: home.to_path_buf(),
            manifest: Manifest {
                format: "sluice-backup".into(),
                version: 1,
                sluice: env!("CARGO_PKG_VERSION").into(),
                created_at: sluice_store::now_micros(),
                home: home.display().to_string(),
                runs: 0,
                dataset_versions: 0,
                files: Vec::new(),
            },
        })
    }

    /// Adds every file under `tree` (nothing when it does not exist), named as it is under
    /// the home; a file outside the home is an error.
    fn add_tree(&mut self, tree: &Path) -> std::io::Result<()> {
        let mut stack = vec![tree.to_path_buf()];
        while let Some(p) = stack.pop() {
            let meta = match std::fs::symlink_metadata(&p) {
                Ok(m) => m,
                // Logs of a run that wrote none, a task without downloads.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(io_context(&p, e)),
            };
            if meta.is_dir() {
                let mut list: Vec<PathBuf> = std::fs::read_dir(&p)
                    .map_err(|e| io_context(&p, e))?
                    .filter_map(|e| e.ok().map(|e| e.path()))
                    .collect();
                list.sort();
                stack.extend(list.into_iter().rev());
            } else if meta.is_file() {
                let rel = p.strip_prefix(&self.home).map_err(|_| {
                    std::io::Error::other(format!(
                        "{} is outside the home {}",
                        p.display(),
                        self.home.display()
                    ))
                })?;
                let name = rel.to_string_lossy().into_owned();
                append_file(&mut self.tar, &p, &name, &mut self.manifest)?;
            }
            // Sockets, links: not part of a home.
        }
        Ok(())
    }

    /// Adds the store's copy and the manifest; syncs the archive.
    fn finish(
        mut self,
        state: &Path,
        runs: usize,
        dataset_versions: usize,
    ) -> std::io::Result<Manifest> {
        append_file(&mut self.tar, state, "state.db", &mut self.manifest)?;
        self.manifest.runs = runs;
        self.manifest.dataset_versions = dataset_versions;
        let text = serde_json::to_vec_pretty(&self.manifest).map_err(std::io::Error::other)?;
        let mut header = tar::Header::new_gnu();
        header.set_size(text.len() as u64);
        header.set_mode(0o644);
        header.set_mtime((self.manifest.created_at / 1_000_000).max(0) as u64);
        header.set_cksum();
        self.tar
            .append_data(&mut header, MANIFEST, text.as_slice())?;
        let encoder = self.tar.into_inner()?;
        let writer = encoder.finish()?;
        let file = writer.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        Ok(self.manifest)
    }
}

fn io_context(path: &Path, e: std::io::Error) -> std::io::Error {
    std::io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

/// Appends one file under `name`, hashing it as it is read; a file that grows meanwhile
/// (the log of a running task) is taken at the size it had.
fn append_file<W: std::io::Write>(
    tar: &mut tar::Builder<W>,
    path: &Path,
    name: &str,
    manifest: &mut Manifest,
) -> std::io::Result<()> {
    use sha2::Digest;
    use std::io::Read;
    let file = std::fs::File::open(path).map_err(|e| io_context(path, e))?;
    let meta = file.metadata().map_err(|e| io_context(path, e))?;
    let size = meta.len();
    let mut header = tar::Header::new_gnu();
    header.set_metadata(&meta);
    header.set_size(size);
    header.set_cksum();
    struct Hashing<R> {
        inner: R,
        hasher: sha2::Sha256,
        read: u64,
    }
    impl<R: Read> Read for Hashing<R> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = self.inner.read(buf)?;
            self.hasher.update(&buf[..n]);
            self.read += n as u64;
            Ok(n)
        }
    }
    let mut reader = Hashing {
        inner: file.take(size),
        hasher: sha2::Sha256::new(),
        read: 0,
    };
    tar.append_data(&mut header, name, &mut reader)
        .map_err(|e| io_context(path, e))?;
    if reader.read != size {
        return Err(std::io::Error::other(format!(
            "{}: shrank while it was read ({} of {size} bytes)",
            path.display(),
            reader.read
        )));
    }
    manifest.files.push(ManifestFile {
        path: name.to_string(),
        bytes: size,
        sha256: hex::encode(reader.hasher.finalize()),
    });
    Ok(())
}

/// `sluice restore ARCHIVE`.
pub async fn restore(cli: &Cli, archive: &Path, replace: bool) -> Result<u8, Failure> {
    let target = cli
        .home
        .clone()
        .unwrap_or_else(|| PathBuf::from(home::HOME_DIR));
    let target = std::path::absolute(&target).unwrap_or(target);
    let occupied = std::fs::read_dir(&target).is_ok_and(|mut d| d.next().is_some());
    if occupied && !replace {
        return Err(Failure::invalid(format!(
            "error: {} exists and is not empty: restore into another folder with --home DIR, or with --replace (the home there is moved aside, kept as {}.before-restore-TIME)",
            target.display(),
            target.display()
        )));
    }
    let parent = target.parent().unwrap_or(Path::new("/")).to_path_buf();
    let cannot = |what: &str, e: &dyn std::fmt::Display| {
        Failure::env(format!("error: restore: {what}: {e}"))
    };
    std::fs::create_dir_all(&parent).map_err(|e| cannot(&parent.display().to_string(), &e))?;
    let staging = tempfile::Builder::new()
        .prefix(".sluice-restore-")
        .tempdir_in(&parent)
        .map_err(|e| cannot(&parent.display().to_string(), &e))?;

    // 1. Unpack beside the target, checking every file against the manifest.
    let manifest = unpack(archive, staging.path()).map_err(|e| {
        Failure::invalid(format!(
            "error: {} cannot be restored: {e}; nothing was changed",
            archive.display()
        ))
    })?;

    // 2. The paths in the store name the old home: made to name the new one.
    let state = staging.path().join("state.db");
    let store = sluice_store::SqlStore::open_sqlite(&state).await?;
    let from = format!("{}/", manifest.home.trim_end_matches('/'));
    let to = format!("{}/", target.display().to_string().trim_end_matches('/'));
    if from != to {
        store
            .apply(&[sluice_store::Write::Relocate {
                from: from.clone(),
                to: to.clone(),
            }])
            .await?;
    }
    // Every path the store names must be inside the new home, as plain names: an archive
    // naming `../` there would point gc or `sluice logs` at files elsewhere.
    let inside = |path: &str| -> Option<PathBuf> {
        let rel = Path::new(path.strip_prefix(&to)?);
        rel.components()
            .all(|c| matches!(c, std::path::Component::Normal(_)))
            .then(|| staging.path().join(rel))
    };
    let refuse = |what: String| {
        Failure::invalid(format!(
            "error: {} cannot be restored: {what}; nothing was changed",
            archive.display()
        ))
    };
    let versions = store.dataset_versions(None, None).await?;
    for v in &versions {
        if !inside(&v.path)
            .is_some_and(|p| p.is_dir() && v.path.starts_with(&format!("{to}warehouse/")))
        {
            return Err(refuse(format!(
                "its state store names dataset version {}.{}@{} at {}, which the archive does not hold",
                v.pipeline, v.task, v.version, v.path
            )));
        }
    }
    for r in store.runs(&RunFilter::default()).await? {
        for a in store.attempts(&r.id, None).await? {
            if let Some(log) = a.log_path.as_deref()
                && inside(log).is_none()
            {
                return Err(refuse(format!(
                    "its state store names a log outside the home: {log} (run {}, task {})",
                    r.id, a.task
                )));
            }
        }
    }
    store.close().await;
    // Views name the folders they read: made to name the new home's.
    if from != to {
        for v in &versions {
            let Some(dir) = inside(&v.path) else { continue };
            let file = dir.join(sluice_data::session::VIEW_FILE);
            let Ok(Some(mut view)) = sluice_data::session::View::read(&dir) else {
                continue;
            };
            for folder in view.inputs.values_mut() {
                if let Some(rest) = folder.to_string_lossy().strip_prefix(&from) {
                    *folder = PathBuf::from(format!("{to}{rest}"));
                }
            }
            let text = serde_json::to_vec_pretty(&view).map_err(|e| refuse(e.to_string()))?;
            std::fs::write(&file, text).map_err(|e| refuse(format!("{}: {e}", file.display())))?;
        }
    }

    // 3. In place: the old home moved aside (never deleted), the new one renamed in — not
    // while a run writes into it.
    let _locks = hold_runs(&target)?;
    let mut aside = None;
    if target.exists() {
        let stamp = chrono::Local::now().format("%Y%m%d-%H%M%S");
        let moved = PathBuf::from(format!("{}.before-restore-{stamp}", target.display()));
        std::fs::rename(&target, &moved).map_err(|e| cannot(&target.display().to_string(), &e))?;
        aside = Some(moved);
    }
    let restored = staging.keep();
    if let Err(e) = std::fs::rename(&restored, &target) {
        // Put the old home back: nothing lost.
        if let Some(moved) = &aside {
            let _ = std::fs::rename(moved, &target);
        }
        let _ = std::fs::remove_dir_all(&restored);
        return Err(cannot(&target.display().to_string(), &e));
    }
    if let Ok(dir) = std::fs::File::open(&parent) {
        let _ = dir.sync_all();
    }
    let total: u64 = manifest.files.iter().map(|f| f.bytes).sum();
    println!(
        "restored {} into {}: {} run{}, {} dataset version{}, {} file{} ({}), saved {} by sluice {}",
        archive.display(),
        target.display(),
        manifest.runs,
        plural(manifest.runs),
        manifest.dataset_versions,
        plural(manifest.dataset_versions),
        manifest.files.len(),
        plural(manifest.files.len()),
        bytes(total),
        crate::table::timestamp(manifest.created_at),
        manifest.sluice
    );
    if let Some(moved) = aside {
        println!("the home that was there is kept as {}", moved.display());
    }
    Ok(0)
}

/// The run locks of every pipeline of the home at `home` (`locks/*.lock`), held while it is
/// replaced; an error naming the pipeline whose run is going on.
fn hold_runs(home: &Path) -> Result<Vec<std::fs::File>, Failure> {
    let mut held = Vec::new();
    for (name, path) in children(&home.join("locks")) {
        let Ok(file) = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
        else {
            continue;
        };
        match file.try_lock() {
            Ok(()) => held.push(file),
            Err(_) => {
                return Err(Failure::env(format!(
                    "error: a run of pipeline `{}` is going on in {}: let it end (or stop it) before replacing the home; nothing was changed",
                    name.trim_end_matches(".lock"),
                    home.display()
                )));
            }
        }
    }
    Ok(held)
}

/// Unpacks `archive` into `dir`: only plain files and folders, each path inside `dir`; every
/// file checked against the manifest (size and SHA-256), none missing, none extra.
fn unpack(archive: &Path, dir: &Path) -> Result<Manifest, String> {
    use sha2::Digest;
    use std::io::Read;
    let file = std::fs::File::open(archive).map_err(|e| e.to_string())?;
    let decoder = zstd::Decoder::new(file).map_err(|e| format!("not a sluice backup ({e})"))?;
    let mut tar = tar::Archive::new(decoder);
    let damaged = |e: std::io::Error| format!("the archive is damaged or truncated ({e})");
    let mut found: BTreeMap<String, (u64, String)> = BTreeMap::new();
    let mut manifest: Option<Manifest> = None;
    for entry in tar.entries().map_err(damaged)? {
        let mut entry = entry.map_err(damaged)?;
        let name = entry.path().map_err(damaged)?.into_owned();
        let safe = name
            .components()
            .all(|c| matches!(c, std::path::Component::Normal(_)));
        let text = name.to_string_lossy().into_owned();
        if !safe || text.is_empty() {
            return Err(format!("entry `{text}` points outside the home"));
        }
        let kind = entry.header().entry_type();
        if kind.is_dir() {
            continue;
        }
        if !kind.is_file() {
            return Err(format!("entry `{text}` is not a plain file"));
        }
        if text == MANIFEST {
            let mut raw = Vec::new();
            entry.read_to_end(&mut raw).map_err(damaged)?;
            let m: Manifest = serde_json::from_slice(&raw)
                .map_err(|e| format!("its manifest cannot be read ({e})"))?;
            if m.format != "sluice-backup" || m.version != 1 {
                return Err(format!(
                    "its manifest is of format {} version {}, which this sluice does not read",
                    m.format, m.version
                ));
            }
            manifest = Some(m);
            continue;
        }
        let dest = dir.join(&name);
        if let Some(p) = dest.parent() {
            std::fs::create_dir_all(p).map_err(|e| format!("{}: {e}", p.display()))?;
        }
        let mut out =
            std::fs::File::create(&dest).map_err(|e| format!("{}: {e}", dest.display()))?;
        let mut hasher = sha2::Sha256::new();
        let mut buf = vec![0u8; 1 << 16];
        let mut size = 0u64;
        loop {
            let n = entry.read(&mut buf).map_err(damaged)?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            std::io::Write::write_all(&mut out, &buf[..n])
                .map_err(|e| format!("{}: {e}", dest.display()))?;
            size += n as u64;
        }
        out.sync_all()
            .map_err(|e| format!("{}: {e}", dest.display()))?;
        found.insert(text, (size, hex::encode(hasher.finalize())));
    }
    let manifest = manifest.ok_or("it has no manifest: not a sluice backup, or cut short")?;
    for f in &manifest.files {
        match found.remove(&f.path) {
            None => return Err(format!("{} is missing from it", f.path)),
            Some((size, sha)) if size != f.bytes || sha != f.sha256 => {
                return Err(format!(
                    "{} does not match its manifest ({size} bytes, sha256 {sha}; expected {} bytes, sha256 {})",
                    f.path, f.bytes, f.sha256
                ));
            }
            Some(_) => {}
        }
    }
    if let Some(extra) = found.keys().next() {
        return Err(format!("{extra} is in it but not in its manifest"));
    }
    Ok(manifest)
}
