//! Where state lives: the home folder (`.sluice/`) and the state store.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use sluice_store::{SqlStore, StateStore};

use crate::Failure;

/// Name of the home folder next to pipeline files.
pub const HOME_DIR: &str = ".sluice";

/// The home for a pipeline file: `--home`/SLUICE_HOME, else `.sluice` next to the file (in
/// the folder, for a dbt project's folder). Always absolute, so the log paths recorded in the
/// store work from any directory.
pub fn for_file(home: &Option<PathBuf>, file: &Path) -> PathBuf {
    let home = match home {
        Some(h) => h.clone(),
        None if file.is_dir() => file.join(HOME_DIR),
        None => file
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .join(HOME_DIR),
    };
    std::path::absolute(&home).unwrap_or(home)
}

/// ` --home DIR` when read commands run from the current directory would not find `home`
/// by themselves; empty otherwise. Appended to the commands sluice suggests.
pub fn flag_if_needed(home: &Path) -> String {
    let found = discover(&None)
        .ok()
        .and_then(|h| std::fs::canonicalize(h).ok());
    if found.is_some() && found == std::fs::canonicalize(home).ok() {
        String::new()
    } else {
        format!(" --home {}", home.display())
    }
}

/// The home for commands without a file: `--home`/SLUICE_HOME, else the nearest `.sluice`
/// in the current directory or above it.
pub fn discover(home: &Option<PathBuf>) -> Result<PathBuf, Failure> {
    if let Some(h) = home {
        return Ok(h.clone());
    }
    let cwd = std::env::current_dir()
        .map_err(|e| Failure::env(format!("error: cannot read the current directory: {e}")))?;
    for dir in cwd.ancestors() {
        let candidate = dir.join(HOME_DIR);
        if candidate.is_dir() {
            return Ok(candidate);
        }
    }
    Err(Failure::invalid(format!(
        "error: no {HOME_DIR} folder in {} or above it\n  run a pipeline first, or point at its state with --home DIR (or SLUICE_HOME)",
        cwd.display()
    )))
}

/// Opens the state store: `--state`/SLUICE_STATE if set, else SQLite in `home`.
pub async fn open_store(
    state: &Option<String>,
    home: &Path,
) -> Result<Arc<dyn StateStore>, Failure> {
    Ok(open_sql_store(state, home).await?)
}

/// [`open_store`], as the SQL store itself (which is also the workers' queue).
pub async fn open_sql_store(state: &Option<String>, home: &Path) -> Result<Arc<SqlStore>, Failure> {
    let store = match state {
        Some(url) => SqlStore::connect(url).await?,
        None => SqlStore::open_sqlite(&home.join("state.db")).await?,
    };
    Ok(Arc::new(store))
}

/// The engine over `store`, its warehouse in the object store of `SLUICE_WAREHOUSE` when
/// set, running its attempts on workers when `executor` says so (sealing what it queues
/// with the key of `SLUICE_QUEUE_KEY`, when set).
pub fn with_executor(
    engine: sluice_engine::Engine,
    executor: crate::cli::Executor,
    store: &Arc<SqlStore>,
) -> Result<sluice_engine::Engine, Failure> {
    let engine = match remote_warehouse()? {
        Some(remote) => engine.with_remote_warehouse(remote),
        None => engine,
    };
    Ok(match executor {
        crate::cli::Executor::Local => engine,
        crate::cli::Executor::Workers => {
            engine.with_dispatcher(sluice_engine::workers::Dispatcher::new(
                store.clone(),
                sluice_engine::workers::Timing::default(),
                queue_key()?,
            ))
        }
    })
}

/// The variable naming the object store of the warehouse.
pub const WAREHOUSE_VAR: &str = "SLUICE_WAREHOUSE";

/// The object store of `SLUICE_WAREHOUSE` (`s3://bucket/prefix`, `gs://…`, `az://…`,
/// `file:///…`), if set.
pub fn remote_warehouse() -> Result<Option<Arc<sluice_engine::remote::Remote>>, Failure> {
    match std::env::var(WAREHOUSE_VAR) {
        Ok(url) if !url.trim().is_empty() => crate::objects::StoreObjects::open(url.trim())
            .map(|o| Some(Arc::new(sluice_engine::remote::Remote::new(Arc::new(o)))))
            .map_err(|e| Failure::invalid(format!("error: {WAREHOUSE_VAR}: {e}"))),
        _ => Ok(None),
    }
}

/// The key of `SLUICE_QUEUE_KEY`, if set.
pub fn queue_key() -> Result<Option<sluice_engine::workers::QueueKey>, Failure> {
    sluice_engine::workers::QueueKey::from_env()
        .map_err(|e| Failure::invalid(format!("error: {e}")))
}

/// Holds the lock of a pipeline's runs on a home; released when dropped (or when the
/// process dies: the kernel drops the lock with the file).
pub struct RunLock {
    _file: std::fs::File,
}

/// Takes the lock of `pipeline`'s runs in `home` (`locks/PIPELINE.lock`): a second
/// `sluice run` of the same pipeline waits, saying so, or with `wait` false fails (exit 3).
pub async fn lock_pipeline(home: &Path, pipeline: &str, wait: bool) -> Result<RunLock, Failure> {
    use std::io::{Read, Seek, Write};
    let dir = home.join("locks");
    let path = dir.join(format!("{pipeline}.lock"));
    let cannot =
        |e: std::io::Error| Failure::env(format!("error: cannot lock {}: {e}", path.display()));
    std::fs::create_dir_all(&dir).map_err(cannot)?;
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(cannot)?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            let holder = holder.trim();
            let who = if holder.is_empty() {
                String::new()
            } else {
                format!(" (pid {holder})")
            };
            if !wait {
                return Err(Failure::env(format!(
                    "error: another `sluice run` of pipeline `{pipeline}` is going on{who}; \
                     wait for it, or run again without --no-wait to wait for it"
                )));
            }
            eprintln!(
                "waiting: another `sluice run` of pipeline `{pipeline}` is going on{who}; this run starts when it ends"
            );
            file = tokio::task::spawn_blocking(move || file.lock().map(|()| file))
                .await
                .map_err(|e| Failure::env(format!("error: waiting for the run lock: {e}")))?
                .map_err(cannot)?;
        }
        Err(std::fs::TryLockError::Error(e)) => return Err(cannot(e)),
    }
    // Who holds it, for the message of the next one.
    let _ = file.set_len(0);
    let _ = file.rewind();
    let _ = write!(file, "{}", std::process::id());
    let _ = file.flush();
    Ok(RunLock { _file: file })
}

/// The lineage emitter `home` is configured for (`openlineage.yml`, `OPENLINEAGE_URL`), if
/// any: attach it to the engine, and [`finish_lineage`] it when the command ends.
pub fn lineage(
    home: &Path,
    store: &Arc<dyn StateStore>,
) -> Result<Option<Arc<sluice_lineage::Emitter>>, Failure> {
    match lineage_config(home)? {
        None => Ok(None),
        Some(c) => sluice_lineage::Emitter::start(&c, home, Some(store.clone()))
            .map(Some)
            .map_err(|e| Failure::env(format!("error: lineage: {e}"))),
    }
}

/// Where `home` sends lineage (`openlineage.yml`, `OPENLINEAGE_URL`), if anywhere.
pub fn lineage_config(home: &Path) -> Result<Option<sluice_lineage::Config>, Failure> {
    sluice_lineage::Config::of_home(home, &|k| std::env::var(k).ok())
        .map_err(|e| Failure::invalid(format!("error: lineage: {e}")))
}

/// The observer sending the pipelines' `on_failure` / `on_success` / `on_retry` alerts,
/// reading webhook URLs from the environment; [`finish_alerts`] it when the command ends.
pub fn alerts() -> Arc<sluice_lineage::alerts::Alerter> {
    sluice_lineage::alerts::Alerter::new(Arc::new(|k: &str| std::env::var(k).ok()))
}

/// How long a command's end waits for alerts still being sent (with their retries).
pub const ALERTS_GRACE: std::time::Duration = std::time::Duration::from_secs(20);

/// Sends the alerts queued (waiting at most [`ALERTS_GRACE`]); says which were not sent.
pub fn finish_alerts(alerter: &sluice_lineage::alerts::Alerter) {
    for problem in alerter.finish(ALERTS_GRACE) {
        eprintln!("{problem}");
    }
}

/// How long a command's end waits for a collector that answers to take the events.
pub const LINEAGE_GRACE: std::time::Duration = std::time::Duration::from_secs(10);

/// Writes out the events `emitter` queued and gives collectors [`LINEAGE_GRACE`]; says what
/// waits in a spool.
pub fn finish_lineage(emitter: Option<Arc<sluice_lineage::Emitter>>) {
    let Some(emitter) = emitter else { return };
    for d in emitter.finish(LINEAGE_GRACE) {
        if d.left > 0 {
            eprintln!(
                "lineage: {} event(s) wait for {} (it does not take them now); the next sluice run or `sluice serve` sends them",
                d.left, d.url
            );
        }
        if d.refused > 0 {
            eprintln!(
                "lineage: {} refused {} event(s); they are kept in the home's lineage folder (refused.ndjson)",
                d.url, d.refused
            );
        }
    }
}
