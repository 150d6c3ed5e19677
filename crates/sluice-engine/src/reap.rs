//! Runs whose process died: found by their pid and host, marked failed with their running
//! attempts (process groups killed), their staging folders removed.

use sluice_core::{RunState, TaskState};
use sluice_store::{RunFilter, RunRecord, Write, now_micros};

use crate::process::{hostname, is_live_sluice, kill_orphan_group};
use crate::{Engine, EngineError};

impl Engine {
    /// Marks runs of `pipeline` whose process died (killed, machine restarted) as failed, with
    /// their running attempts, so nothing stays "running" forever, and removes the staging
    /// folders of the datasets they were writing. Returns their ids.
    pub async fn reap_dead_runs(&self, pipeline: &str) -> Result<Vec<String>, EngineError> {
        let host = hostname();
        let running = self
            .store
            .runs(&RunFilter {
                pipeline: Some(pipeline.to_string()),
                state: Some(RunState::Running),
                limit: 0,
            })
            .await?;
        let mut reaped = Vec::new();
        for run in running {
            let same_host = run.host.as_deref().is_none_or(|h| h == host);
            if !same_host || run.pid.is_some_and(is_live_sluice) {
                continue;
            }
            let writes = self.interrupted_writes(&run).await?;
            self.store.apply(&writes).await?;
            // The datasets it was writing are incomplete: nothing will publish them.
            if let Err(e) = self.warehouse.sweep_staging(pipeline, &run.id) {
                tracing::warn!("cannot remove the staging folders of run {}: {e}", run.id);
            }
            reaped.push(run.id);
        }
        Ok(reaped)
    }

    /// What marks run `run` as interrupted: its running attempts failed (their process groups
    /// killed when on this host), its unfinished tasks failed or cancelled, the run failed.
    pub(crate) async fn interrupted_writes(
        &self,
        run: &RunRecord,
    ) -> Result<Vec<Write>, EngineError> {
        let now = now_micros();
        let why = format!(
            "interrupted: the sluice process{} stopped before this ended",
            run.pid.map(|p| format!(" (pid {p})")).unwrap_or_default()
        );
        let mut writes = Vec::new();
        let same_host = run.host.as_deref().is_none_or(|h| h == hostname());
        for mut a in self.store.attempts(&run.id, None).await? {
            if a.state == TaskState::Running {
                if let Some(pgid) = a.pid.filter(|_| same_host) {
                    kill_orphan_group(pgid);
                }
                a.pid = None;
                a.state = TaskState::Failed;
                a.ended_at = Some(now);
                a.error = Some(why.clone());
                writes.push(Write::Attempt(a));
            }
        }
        for mut t in self.store.task_runs(&run.id).await? {
            if !t.state.is_final() {
                t.state = if t.state == TaskState::Running {
                    TaskState::Failed
                } else {
                    TaskState::Cancelled
                };
                t.ended_at = Some(now);
                t.error = Some(why.clone());
                writes.push(Write::TaskRun(t));
            }
        }
        let mut r = run.clone();
        r.state = RunState::Failed;
        r.ended_at = Some(now);
        r.error = Some(format!(
            "{why}; resume it with `sluice run {} --resume {}`",
            run.file, run.id
        ));
        writes.push(Write::Run(r));
        Ok(writes)
    }
}
