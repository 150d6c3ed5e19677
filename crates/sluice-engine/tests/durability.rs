//! Nothing half-written is published, nothing read is deleted: a write the state store refuses
//! stops and fails the run; a republished version is one rename into a new folder which the
//! store then records; retention leaves alone a version that a running task of another run
//! holds.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

mod common;

use async_trait::async_trait;
use sluice_core::{Pipeline, RunState, TaskState};
use sluice_engine::{Engine, EngineError, Event, RunOptions};
use sluice_store::{
    AttemptRecord, DatasetVersionRecord, RunFilter, RunRecord, SlotRecord, StateStore, StoreError,
    TaskRunRecord, TokenRecord, UserRecord, Write,
};
use tokio_util::sync::CancellationToken;

type Result<T> = std::result::Result<T, StoreError>;

/// A store that refuses `refusals` batches (as a full disk would), from the first batch that
/// records an attempt of task `from_task` on.
struct Refusing {
    inner: Arc<dyn StateStore>,
    from_task: &'static str,
    triggered: AtomicBool,
    refusals: AtomicUsize,
}

#[async_trait]
impl StateStore for Refusing {
    fn backend(&self) -> &'static str {
        self.inner.backend()
    }
    async fn apply(&self, writes: &[Write]) -> Result<()> {
        if writes
            .iter()
            .any(|w| matches!(w, Write::Attempt(a) if a.task == self.from_task))
        {
            self.triggered.store(true, Ordering::SeqCst);
        }
        if self.triggered.load(Ordering::SeqCst)
            && self
                .refusals
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok()
        {
            return Err(StoreError::Corrupt(
                "database or disk is full (test)".into(),
            ));
        }
        self.inner.apply(writes).await
    }
    async fn run(&self, id: &str) -> Result<Option<RunRecord>> {
        self.inner.run(id).await
    }
    async fn runs(&self, filter: &RunFilter) -> Result<Vec<RunRecord>> {
        self.inner.runs(filter).await
    }
    async fn lineage(&self, pipeline: Option<&str>) -> Result<Vec<sluice_store::LineageRecord>> {
        self.inner.lineage(pipeline).await
    }
    async fn pipeline_docs(&self, pipeline: Option<&str>) -> Result<Vec<(String, String)>> {
        self.inner.pipeline_docs(pipeline).await
    }
    async fn task_runs(&self, run_id: &str) -> Result<Vec<TaskRunRecord>> {
        self.inner.task_runs(run_id).await
    }
    async fn attempts(&self, run_id: &str, task: Option<&str>) -> Result<Vec<AttemptRecord>> {
        self.inner.attempts(run_id, task).await
    }
    async fn fingerprints(&self, pipeline: &str) -> Result<Vec<(String, String)>> {
        self.inner.fingerprints(pipeline).await
    }
    async fn dataset_versions(
        &self,
        pipeline: Option<&str>,
        task: Option<&str>,
    ) -> Result<Vec<DatasetVersionRecord>> {
        self.inner.dataset_versions(pipeline, task).await
    }
    async fn latest_datasets(&self, pipeline: Option<&str>) -> Result<Vec<DatasetVersionRecord>> {
        self.inner.latest_datasets(pipeline).await
    }
    async fn aliases(
        &self,
        pipeline: Option<&str>,
        task: Option<&str>,
        history: bool,
    ) -> Result<Vec<sluice_store::AliasRecord>> {
        self.inner.aliases(pipeline, task, history).await
    }
    async fn claim_slot(&self, slot: &SlotRecord) -> Result<bool> {
        self.inner.claim_slot(slot).await
    }
    async fn slots(&self, pipeline: &str, limit: usize) -> Result<Vec<SlotRecord>> {
        self.inner.slots(pipeline, limit).await
    }
    async fn kept_slot_runs(&self, before: sluice_store::Micros) -> Result<Vec<String>> {
        self.inner.kept_slot_runs(before).await
    }
    async fn user(&self, name: &str) -> Result<Option<UserRecord>> {
        self.inner.user(name).await
    }
    async fn users(&self) -> Result<Vec<UserRecord>> {
        self.inner.users().await
    }
    async fn token_by_hash(&self, hash: &str) -> Result<Option<TokenRecord>> {
        self.inner.token_by_hash(hash).await
    }
    async fn tokens(&self, user: Option<&str>) -> Result<Vec<TokenRecord>> {
        self.inner.tokens(user).await
    }
    async fn start_run(&self, run: &RunRecord, max_active: usize) -> Result<bool> {
        self.inner.start_run(run, max_active).await
    }
}

fn pipeline(dir: &std::path::Path, yaml: &str, params: &[(String, String)]) -> Pipeline {
    let file = dir.join("pipeline.yaml");
    std::fs::write(&file, yaml).expect("write pipeline");
    common::parse(yaml, &file, params)
}

fn engine(store: Arc<dyn StateStore>, dir: &std::path::Path) -> Engine {
    Engine::new(store, Arc::new(common::registry()), &dir.join(".sluice"))
}

fn run_id(id: &str) -> RunOptions {
    RunOptions {
        run_id: Some(id.into()),
        ..RunOptions::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_the_store_refuses_stops_and_fails_the_run() {
    let dir = tempfile::tempdir().expect("tmp");
    let p = pipeline(
        dir.path(),
        "name: full\ntasks:\n  a: { run: \"true\" }\n  b: { run: touch b-ran, after: a }\n  \
         c: { run: touch c-ran, after: b }\n",
        &[],
    );
    let inner = common::sqlite(dir.path()).await;
    let store = Arc::new(Refusing {
        inner: inner.clone(),
        from_task: "b",
        triggered: AtomicBool::new(false),
        refusals: AtomicUsize::new(1),
    });
    let e = engine(store, dir.path())
        .run(&p, run_id("r1"), None, CancellationToken::new())
        .await
        .expect_err("the store refused a write");
    assert!(matches!(e, EngineError::StoreRefused { .. }), "{e:?}");
    assert_eq!(
        e.to_string(),
        format!(
            "run r1 stopped: the state store refused a write: state store holds an invalid value: \
             database or disk is full (test) — is the disk full? Once the store accepts writes \
             again, resume it with `sluice run {} --resume r1`",
            p.file.display()
        )
    );
    // Nothing ran after the refusal: not `b`, whose start it was, nor `c`.
    assert!(
        !dir.path().join("b-ran").exists(),
        "b ran after the refusal"
    );
    assert!(
        !dir.path().join("c-ran").exists(),
        "c ran after the refusal"
    );
    // The store took writes again afterwards: the run is recorded as failed, with the cause.
    let run = inner.run("r1").await.expect("read").expect("run");
    assert_eq!(run.state, RunState::Failed);
    assert_eq!(
        run.error.as_deref(),
        Some(
            "the state store refused a write: state store holds an invalid value: database or \
             disk is full (test) — is the disk full?"
        )
    );
    let c = inner
        .task_runs("r1")
        .await
        .expect("read")
        .into_iter()
        .find(|t| t.task == "c")
        .expect("c");
    assert_eq!(c.state, TaskState::Cancelled);
}

const PUBLISHED: &str = "name: keep\nretention: 1\nparams:\n  n: \"1\"\ntasks:\n  \
    a: { op: emit, text: \"${params.n}\" }\n  \
    b: { run: \"echo started; while [ ! -e go ]; do sleep 0.02; done\", after: a }\n";

async fn versions(store: &Arc<dyn StateStore>) -> Vec<(String, String)> {
    let mut v: Vec<_> = store
        .dataset_versions(Some("keep"), Some("a"))
        .await
        .expect("versions")
        .into_iter()
        .map(|v| (v.version, v.path))
        .collect();
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_published_again_is_one_rename_into_a_new_folder_which_the_store_records() {
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::write(dir.path().join("go"), "").expect("go");
    let p = pipeline(dir.path(), PUBLISHED, &[]);
    let store = common::sqlite(dir.path()).await;
    let e = engine(store.clone(), dir.path());
    let first = e
        .run(&p, run_id("r1"), None, CancellationToken::new())
        .await
        .expect("run");
    assert_eq!(first.state, RunState::Succeeded);
    let [(version, path)] = &versions(&store).await[..] else {
        panic!("one version")
    };
    let base = dir.path().join(".sluice/warehouse/keep/a").join(version);
    assert_eq!(path, &base.display().to_string());

    let forced = RunOptions {
        force: true,
        ..run_id("r2")
    };
    let second = e
        .run(&p, forced, None, CancellationToken::new())
        .await
        .expect("run");
    assert_eq!(second.state, RunState::Succeeded);
    // The same version, in a new folder that the store now records; the superseded folder
    // was removed by the run's retention, once nothing pointed at it.
    let again = base.with_file_name(format!("{version}.2"));
    assert_eq!(
        versions(&store).await,
        vec![(version.clone(), again.display().to_string())]
    );
    assert!(again.join("part-00000.parquet").is_file());
    assert!(!base.exists(), "the superseded folder is left");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_leaves_a_version_that_a_running_task_of_another_run_holds() {
    let dir = tempfile::tempdir().expect("tmp");
    let store = common::sqlite(dir.path()).await;
    let e = engine(store.clone(), dir.path());

    // Run A: `a` publishes version 1, then `b` runs until the file `go` appears (its first
    // line comes once the writes before it, version 1's record included, are applied).
    let pa = pipeline(dir.path(), PUBLISHED, &[("n".into(), "1".into())]);
    let (tx, mut events) = tokio::sync::mpsc::unbounded_channel();
    let run_a = tokio::spawn({
        let e = e.clone();
        async move {
            let streamed = RunOptions {
                stream_logs: true,
                ..run_id("ra")
            };
            e.run(&pa, streamed, Some(tx), CancellationToken::new())
                .await
        }
    });
    while let Some(event) = events.recv().await {
        if matches!(&event, Event::Log { task, line } if task == "b" && line == "started") {
            break;
        }
    }
    let [(v1, path1)] = &versions(&store).await[..] else {
        panic!("one version")
    };

    // Run B (another parameter, so another version) makes version 2 latest; with
    // `retention: 1` version 1 is beyond retention, but run A still holds it.
    let pb = pipeline(dir.path(), PUBLISHED, &[("n".into(), "2".into())]);
    let only_a = RunOptions {
        tasks: vec!["a".into()],
        ..run_id("rb")
    };
    let b = e
        .run(&pb, only_a, None, CancellationToken::new())
        .await
        .expect("run B");
    assert_eq!(b.state, RunState::Succeeded);
    let after_b = versions(&store).await;
    assert_eq!(after_b.len(), 2, "{after_b:?}");
    assert!(after_b.contains(&(v1.clone(), path1.clone())));
    assert!(
        std::path::Path::new(path1)
            .join("part-00000.parquet")
            .is_file()
    );

    // Run A ends: nothing holds version 1 any more, its retention removes it.
    std::fs::write(dir.path().join("go"), "").expect("go");
    let a = run_a.await.expect("join").expect("run A");
    assert_eq!(a.state, RunState::Succeeded);
    let left = versions(&store).await;
    assert_eq!(left.len(), 1, "{left:?}");
    assert_ne!(&left[0].0, v1);
    assert!(!std::path::Path::new(path1).exists());
}
