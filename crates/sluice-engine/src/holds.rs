//! The dataset versions a run reads or wrote, held until it ends ([`ReadHold`]): retention,
//! of this run or of any other in any process, leaves them alone meanwhile.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::warehouse::ReadHold;

/// The holds of one run, one per version folder, released when it is dropped (at the end
/// of the run).
#[derive(Debug, Default)]
pub(crate) struct Holds {
    held: Mutex<HashMap<PathBuf, ReadHold>>,
}

impl Holds {
    fn keep(&self, dir: &Path, hold: ReadHold) {
        self.held
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(dir.to_path_buf(), hold);
    }

    /// Whether this run already holds the version of `dir` (every task reading a dataset
    /// asks again: one lock file opened per version and run is enough).
    fn holds(&self, dir: &Path) -> bool {
        self.held
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains_key(dir)
    }

    /// Whether the version folder `dir` is there, holding its version if so. Does not wait:
    /// false while retention has the version locked (the task then runs again).
    pub(crate) fn kept_now(&self, dir: &Path) -> bool {
        if self.holds(dir) {
            return dir.is_dir();
        }
        match ReadHold::take(dir, false) {
            Ok(Some(hold)) => {
                self.keep(dir, hold);
                dir.is_dir()
            }
            Ok(None) => false,
            Err(e) => {
                tracing::warn!("cannot hold dataset version {}: {e}", dir.display());
                dir.is_dir()
            }
        }
    }

    /// Whether the version folder `dir` is there, holding its version if so; waits while
    /// retention has the version locked.
    pub(crate) async fn kept(&self, dir: &Path) -> bool {
        match self.wait(dir).await {
            Ok(()) => dir.is_dir(),
            Err(e) => {
                tracing::warn!("{e}");
                dir.is_dir()
            }
        }
    }

    /// Holds the version of folder `dir` (which need not exist yet), waiting while retention
    /// has it locked (on a thread of its own: retention may hold it across an await).
    pub(crate) async fn wait(&self, dir: &Path) -> Result<(), String> {
        if self.holds(dir) {
            return Ok(());
        }
        let at = dir.to_path_buf();
        let hold = tokio::task::spawn_blocking(move || ReadHold::take(&at, true))
            .await
            .map_err(|e| format!("holding dataset version {}: {e}", dir.display()))?
            .map_err(|e| format!("cannot hold dataset version {}: {e}", dir.display()))?;
        if let Some(hold) = hold {
            self.keep(dir, hold);
        }
        Ok(())
    }
}
