//! Why a task that is not final is not running, for the server's `GET /api/runs/{id}`: the
//! same rules the run loop follows (dependencies, `max_parallel`, the retry delay).

use std::collections::BTreeMap;

use sluice_core::{Pipeline, RunState, TaskState};
use sluice_store::{AttemptRecord, RunRecord, TaskRunRecord};

use crate::retry_delay;

/// Why each task of a run that is not final is not running: the upstream tasks it waits
/// for, a full `max_parallel`, a retry's delay, or a run that is not going on. `pipeline` is
/// the run's pipeline as it is now (none when its file is gone or invalid); `here` says
/// whether the run goes on in this process.
pub fn waiting(
    pipeline: Option<&Pipeline>,
    here: bool,
    run: &RunRecord,
    tasks: &[TaskRunRecord],
    attempts: &[AttemptRecord],
) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let waiting: Vec<&TaskRunRecord> = tasks
        .iter()
        .filter(|t| matches!(t.state, TaskState::Queued | TaskState::UpForRetry))
        .collect();
    if waiting.is_empty() {
        return out;
    }
    if !here {
        let reason = if run.state == RunState::Running {
            format!(
                "the run goes on in another process (pid {} on {}), not in this server",
                run.pid.unwrap_or_default(),
                run.host.clone().unwrap_or_default()
            )
        } else {
            format!("the run {}: resume it to run this task", run.state.as_str())
        };
        for t in waiting {
            out.insert(t.task.clone(), reason.clone());
        }
        return out;
    }
    let state_of: BTreeMap<&str, TaskState> =
        tasks.iter().map(|t| (t.task.as_str(), t.state)).collect();
    let Some(p) = pipeline else {
        return out;
    };
    let running = tasks
        .iter()
        .filter(|t| t.state == TaskState::Running)
        .count();
    // On workers nothing waits for a slot of the run (it never reaches its limit).
    let max_parallel = crate::run::max_parallel(p, false);
    for t in waiting {
        let Some(task) = p.tasks.iter().find(|x| x.name == t.task) else {
            continue;
        };
        let reason = if t.state == TaskState::UpForRetry {
            let last = attempts.iter().rfind(|a| a.task == t.task);
            let n = last.map_or(t.attempts, |a| a.attempt);
            // The engine's own rule (doubling, capped at an hour), without its jitter.
            let delay = retry_delay(task.retry_delay, n);
            let at = last.and_then(|a| a.ended_at).map(|e| {
                let due = e + delay.as_micros() as i64;
                chrono::DateTime::<chrono::Utc>::from_timestamp_micros(due)
                    .map(|d| d.format("%H:%M:%S UTC").to_string())
                    .unwrap_or_default()
            });
            format!(
                "attempt {n} of {} failed: {}; the next one starts at about {} (retry_delay {}s, doubling, at most 1 h)",
                task.retries + 1,
                last.and_then(|a| a.error.clone()).unwrap_or_default(),
                at.unwrap_or_default(),
                task.retry_delay.as_secs()
            )
        } else {
            let pending: Vec<String> = task
                .deps
                .iter()
                .map(|&d| p.tasks[d].name.as_str())
                .filter(|d| !state_of.get(d).is_some_and(|s| s.is_done_ok()))
                .map(|d| {
                    format!(
                        "{d} ({})",
                        state_of.get(d).map_or("not started", |s| s.as_str())
                    )
                })
                .collect();
            if !pending.is_empty() {
                format!("waiting for upstream: {}", pending.join(", "))
            } else if running >= max_parallel {
                format!(
                    "waiting for a free slot: {running} tasks running, max_parallel {max_parallel}"
                )
            } else {
                "ready: starting".to_string()
            }
        };
        out.insert(t.task.clone(), reason);
    }
    out
}
