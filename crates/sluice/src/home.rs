//! Where state lives: the home folder (`.sluice/`) and the state store.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use sluice_store::{SqlStore, StateStore};

use crate::Failure;

/// Name of the home folder next to pipeline files.
pub const HOME_DIR: &str = ".sluice";

/// The home for a pipeline file: `--home`/SLUICE_HOME, else `.sluice` next to the file.
/// Always absolute, so the log paths recorded in the store work from any directory.
pub fn for_file(home: &Option<PathBuf>, file: &Path) -> PathBuf {
    let home = match home {
        Some(h) => h.clone(),
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
    let store = match state {
        Some(url) => SqlStore::connect(url).await?,
        None => SqlStore::open_sqlite(&home.join("state.db")).await?,
    };
    Ok(Arc::new(store))
}
