//! Retries follow the kind of the error: a configuration, data or refusal error fails the task
//! after one attempt, its remaining retries reported as skipped; an unavailable service is
//! tried again.

mod common;

use std::sync::Arc;

use sluice_core::{RunState, TaskState};
use sluice_engine::{Engine, RunOptions};
use sluice_store::{StateStore, TaskRunRecord};
use tokio_util::sync::CancellationToken;

/// What [`run`] returns: the run's state, its task records, the store (and the folder holding
/// it, removed when this is dropped).
type Ran = (
    RunState,
    Vec<TaskRunRecord>,
    Arc<dyn StateStore>,
    tempfile::TempDir,
);

/// Runs `tasks` (YAML of the `tasks:` map).
async fn run(tasks: &str) -> Ran {
    let dir = tempfile::tempdir().expect("tmp");
    let yaml = format!("name: kinds\ntasks:\n{tasks}");
    let pipeline = common::parse(&yaml, &dir.path().join("pipeline.yaml"), &[]);
    let store = common::sqlite(dir.path()).await;
    let engine = Engine::new(
        store.clone(),
        Arc::new(common::registry()),
        &dir.path().join(".sluice"),
    );
    let options = RunOptions {
        run_id: Some("r".into()),
        ..RunOptions::default()
    };
    let summary = engine
        .run(&pipeline, options, None, CancellationToken::new())
        .await
        .expect("run");
    let tasks = store.task_runs("r").await.expect("task runs");
    (summary.state, tasks, store, dir)
}

fn task<'a>(tasks: &'a [TaskRunRecord], name: &str) -> &'a TaskRunRecord {
    tasks.iter().find(|t| t.task == name).expect("task")
}

#[tokio::test]
async fn a_configuration_error_with_three_retries_fails_after_one_attempt() {
    let (state, tasks, store, _dir) = run(
        "  a: { op: fail, kind: config, retries: 3, retry_delay: 1ms }\n  \
         b: { op: noop, after: a }\n",
    )
    .await;
    assert_eq!(state, RunState::Failed);
    let a = task(&tasks, "a");
    assert_eq!((a.state, a.attempts), (TaskState::Failed, 1));
    assert_eq!(
        a.error.as_deref(),
        Some(
            "attempt 1 failed on purpose\nconfig error: fix the pipeline file or the task's \
             settings (not retried: 3 retries skipped)"
        )
    );
    assert_eq!(task(&tasks, "b").state, TaskState::UpstreamFailed);
    let attempts = store.attempts("r", Some("a")).await.expect("attempts");
    assert_eq!(attempts.len(), 1);
}

#[tokio::test]
async fn data_and_refusal_errors_are_not_retried_either() {
    let (_, tasks, _, _dir) = run(
        "  d: { op: fail, kind: data, retries: 1, retry_delay: 1ms }\n  \
         r: { op: fail, kind: refused, retries: 2, retry_delay: 1ms }\n",
    )
    .await;
    let d = task(&tasks, "d");
    assert_eq!((d.state, d.attempts), (TaskState::Failed, 1));
    assert!(
        d.error.as_deref().is_some_and(
            |e| e.ends_with("data error: fix the input data (not retried: 1 retry skipped)")
        ),
        "{:?}",
        d.error
    );
    let r = task(&tasks, "r");
    assert_eq!((r.state, r.attempts), (TaskState::Failed, 1));
}

#[tokio::test]
async fn an_unavailable_service_is_tried_again_until_it_answers() {
    let (state, tasks, store, _dir) =
        run("  a: { op: fail, kind: unavailable, times: 2, retries: 3, retry_delay: 1ms }\n").await;
    assert_eq!(state, RunState::Succeeded);
    let a = task(&tasks, "a");
    assert_eq!((a.state, a.attempts), (TaskState::Succeeded, 3));
    let errors: Vec<_> = store
        .attempts("r", Some("a"))
        .await
        .expect("attempts")
        .into_iter()
        .map(|a| (a.state, a.error))
        .collect();
    assert_eq!(
        errors,
        [
            (
                TaskState::Failed,
                Some("attempt 1 failed on purpose".to_string())
            ),
            (
                TaskState::Failed,
                Some("attempt 2 failed on purpose".to_string())
            ),
            (TaskState::Succeeded, None),
        ]
    );
}

#[tokio::test]
async fn an_error_that_exhausts_its_retries_says_its_kind() {
    let (_, tasks, _, _dir) =
        run("  a: { op: fail, kind: unavailable, retries: 1, retry_delay: 1ms }\n").await;
    let a = task(&tasks, "a");
    assert_eq!((a.state, a.attempts), (TaskState::Failed, 2));
    assert_eq!(
        a.error.as_deref(),
        Some(
            "attempt 2 failed on purpose\nunavailable error: a service is unavailable: try again later"
        )
    );
}
