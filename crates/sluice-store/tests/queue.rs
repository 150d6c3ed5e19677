//! The work queue of `sluice worker`s, on every backend: SQLite always, PostgreSQL when
//! `SLUICE_TEST_PG_URL` is set (scripts/test.sh starts one; in CI it must be set).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use sluice_core::RunState;
use sluice_store::{
    Lease, RunRecord, SqlStore, StateStore, WorkItem, WorkKey, WorkQueue, WorkState, WorkerRecord,
    Write, now_micros,
};

fn unique() -> String {
    format!("{}_{}", std::process::id(), now_micros())
}

fn key(run: &str, task: &str, attempt: u32) -> WorkKey {
    WorkKey {
        run_id: run.into(),
        task: task.into(),
        attempt,
    }
}

async fn running_run(store: &SqlStore, id: &str) {
    store
        .apply(&[Write::Run(RunRecord {
            id: id.into(),
            pipeline: "p".into(),
            file: "p.yaml".into(),
            params: BTreeMap::new(),
            state: RunState::Running,
            trigger: "cli".into(),
            started_at: now_micros(),
            ended_at: None,
            pid: Some(1),
            host: Some("h".into()),
            error: None,
        })])
        .await
        .expect("run");
}

fn item(run: &str, task: &str, pool: Option<&str>, coordinator: &str) -> WorkItem {
    WorkItem {
        key: key(run, task, 1),
        pipeline: "p".into(),
        pool: pool.map(str::to_string),
        spec: format!("{{\"task\":\"{task}\"}}"),
        coordinator: coordinator.into(),
    }
}

const LEASE: Duration = Duration::from_secs(30);

async fn queue_story(store: &SqlStore) {
    let u = unique();
    let run = format!("q_{u}");
    // A coordinator's id starts with its run's host and pid: claims take only the attempts
    // of the process that runs the run now.
    let coord = format!("h-1-c_{u}");
    let gpu_pool = format!("gpu_{u}");
    running_run(store, &run).await;
    for (task, pool) in [
        ("a", None),
        ("b", None),
        ("g1", Some(gpu_pool.as_str())),
        ("g2", Some(gpu_pool.as_str())),
    ] {
        store
            .enqueue(&item(&run, task, pool, &coord))
            .await
            .expect("enqueue");
    }
    // An item of a run that is not running is never claimed.
    let ended = format!("ended_{u}");
    store
        .enqueue(&item(&ended, "x", None, &coord))
        .await
        .expect("enqueue");

    // A worker without the label takes only the items of no pool, oldest first.
    let w1 = format!("w1_{u}");
    let got = store.claim(&w1, &[], 10, LEASE).await.expect("claim");
    let names: Vec<_> = got.iter().map(|c| c.key.task.as_str()).collect();
    assert_eq!(names, ["a", "b"]);
    assert_eq!(got[0].spec, "{\"task\":\"a\"}");
    assert!(
        got.iter()
            .all(|c| c.token == got[0].token && c.token.len() == 32)
    );
    // Nothing left for it.
    assert!(
        store
            .claim(&w1, &[], 10, LEASE)
            .await
            .expect("claim")
            .is_empty()
    );

    // A pool limited to one slot: a gpu worker gets one item, the second waits.
    store
        .set_pool_slots(&gpu_pool, Some(1))
        .await
        .expect("slots");
    let w2 = format!("w2_{u}");
    let gpu = [gpu_pool.clone()];
    let g = store.claim(&w2, &gpu, 10, LEASE).await.expect("claim");
    assert_eq!(
        g.iter().map(|c| c.key.task.as_str()).collect::<Vec<_>>(),
        ["g1"]
    );
    assert_eq!(g[0].key.task, "g1");
    assert!(
        store
            .claim(&w2, &gpu, 10, LEASE)
            .await
            .expect("claim")
            .is_empty()
    );
    let depth = store.queue_depth().await.expect("depth");
    let gpu_depth = depth.iter().find(|d| d.pool == gpu_pool).expect("gpu pool");
    assert_eq!(
        (gpu_depth.queued, gpu_depth.claimed, gpu_depth.slots),
        (1, 1, Some(1))
    );

    // Heartbeats renew; the outcome is recorded with the token only.
    assert_eq!(
        store
            .renew(&got[0].key, &got[0].token, LEASE)
            .await
            .expect("renew"),
        Lease::Held { cancel: false }
    );
    assert!(
        !store
            .finish(&got[0].key, "not-the-token", "{}")
            .await
            .expect("finish")
    );
    assert!(
        store
            .finish(&got[0].key, &got[0].token, "{\"ok\":1}")
            .await
            .expect("finish")
    );
    // Recorded once: a second finish is refused.
    assert!(
        !store
            .finish(&got[0].key, &got[0].token, "{\"ok\":2}")
            .await
            .expect("finish")
    );

    // g1 ends: the pool's slot is free again for g2.
    assert!(
        store
            .finish(&g[0].key, &g[0].token, "{}")
            .await
            .expect("finish")
    );
    let g2 = store.claim(&w2, &gpu, 10, LEASE).await.expect("claim");
    assert_eq!(g2.len(), 1);
    assert_eq!(g2[0].key.task, "g2");

    // Cancellation reaches a claimed item at its next heartbeat.
    store.cancel(&g2[0].key).await.expect("cancel");
    assert_eq!(
        store
            .renew(&g2[0].key, &g2[0].token, LEASE)
            .await
            .expect("renew"),
        Lease::Held { cancel: true }
    );
    assert!(
        store
            .finish(&g2[0].key, &g2[0].token, "{\"cancelled\":true}")
            .await
            .expect("finish")
    );

    // b's worker stops answering: with a lease of 1 µs left, the coordinator declares it
    // lost; the worker comes back, is fenced, and records nothing.
    let b = &got[1];
    store
        .renew(&b.key, &b.token, Duration::from_micros(1))
        .await
        .expect("renew");
    std::thread::sleep(Duration::from_millis(5));
    let mut ended = store.collect(&coord).await.expect("collect");
    ended.sort_by(|x, y| x.key.cmp(&y.key));
    let states: Vec<_> = ended
        .iter()
        .map(|r| (r.key.task.as_str(), r.state, r.outcome.as_deref()))
        .collect();
    assert_eq!(
        states,
        [
            ("a", WorkState::Done, Some("{\"ok\":1}")),
            ("b", WorkState::Lost, None),
            ("g1", WorkState::Done, Some("{}")),
            ("g2", WorkState::Done, Some("{\"cancelled\":true}")),
        ]
    );
    assert_eq!(ended[1].worker.as_deref(), Some(w1.as_str()));
    assert_eq!(
        store.renew(&b.key, &b.token, LEASE).await.expect("renew"),
        Lease::Lost
    );
    assert!(
        !store
            .finish(&b.key, &b.token, "{\"late\":1}")
            .await
            .expect("finish")
    );
    assert!(!store.hand_back(&b.key, &b.token).await.expect("hand back"));
    // Ended items come back until their coordinator acknowledges them.
    assert_eq!(store.collect(&coord).await.expect("collect").len(), 4);
    let keys: Vec<_> = ended.iter().map(|r| r.key.clone()).collect();
    store.acknowledge(&keys).await.expect("acknowledge");
    assert!(store.collect(&coord).await.expect("collect").is_empty());

    // A queued item cancelled before any worker took it ends at once; one handed back is
    // claimed again (the same attempt) by another worker.
    let c = item(&run, "c", None, &coord);
    store.enqueue(&c).await.expect("enqueue");
    store.cancel(&c.key).await.expect("cancel");
    let d = item(&run, "d", None, &coord);
    store.enqueue(&d).await.expect("enqueue");
    let first = store.claim(&w1, &[], 1, LEASE).await.expect("claim");
    assert_eq!(first[0].key, d.key);
    assert!(
        store
            .hand_back(&d.key, &first[0].token)
            .await
            .expect("hand back")
    );
    let again = store.claim(&w2, &[], 1, LEASE).await.expect("claim");
    assert_eq!(again[0].key, d.key);
    assert_ne!(again[0].token, first[0].token);
    let ended = store.collect(&coord).await.expect("collect");
    assert_eq!(ended.len(), 1);
    assert_eq!(
        (ended[0].key.task.as_str(), ended[0].state),
        ("c", WorkState::Cancelled)
    );
    store
        .acknowledge(std::slice::from_ref(&ended[0].key))
        .await
        .expect("acknowledge");

    // A claimed attempt whose run is being stopped, handed back: it ends cancelled, not
    // queued again.
    let e = item(&run, "e", None, &coord);
    store.enqueue(&e).await.expect("enqueue");
    let got_e = store.claim(&w1, &[], 1, LEASE).await.expect("claim");
    store.cancel(&e.key).await.expect("cancel");
    assert!(
        store
            .hand_back(&e.key, &got_e[0].token)
            .await
            .expect("hand back")
    );
    let ended = store.collect(&coord).await.expect("collect");
    assert_eq!(
        ended
            .iter()
            .map(|r| (r.key.task.as_str(), r.state))
            .collect::<Vec<_>>(),
        [("e", WorkState::Cancelled)]
    );
    // Collected rows come back until acknowledged.
    assert_eq!(store.collect(&coord).await.expect("collect").len(), 1);
    store
        .acknowledge(std::slice::from_ref(&e.key))
        .await
        .expect("acknowledge");
    assert!(store.collect(&coord).await.expect("collect").is_empty());
    // An attempt queued by a process that no longer runs the run (it died; the run was
    // resumed by another) is left alone.
    store
        .enqueue(&item(&run, "stale", None, &format!("h-2-old_{u}")))
        .await
        .expect("enqueue");
    assert!(
        store
            .claim(&w1, &[], 5, LEASE)
            .await
            .expect("claim")
            .is_empty()
    );

    // The rows of the run, with who ran what.
    let rows = store.work(Some(&run)).await.expect("work");
    let by: Vec<_> = rows
        .iter()
        .map(|r| (r.key.task.as_str(), r.state, r.worker.as_deref()))
        .collect();
    assert_eq!(
        by,
        [
            ("a", WorkState::Done, Some(w1.as_str())),
            ("b", WorkState::Lost, Some(w1.as_str())),
            ("g1", WorkState::Done, Some(w2.as_str())),
            ("g2", WorkState::Done, Some(w2.as_str())),
            ("c", WorkState::Cancelled, None),
            ("d", WorkState::Claimed, Some(w2.as_str())),
            ("e", WorkState::Cancelled, Some(w1.as_str())),
            ("stale", WorkState::Queued, None),
        ]
    );

    // Workers: recorded, seen again, listed with what they run.
    let mut w = WorkerRecord {
        id: w2.clone(),
        host: "h2".into(),
        pid: 7,
        labels: gpu.to_vec(),
        slots: 4,
        state: "running".into(),
        started_at: 0,
        heartbeat_at: 0,
        silent_for: 0,
        running: Vec::new(),
    };
    store.worker_seen(&w).await.expect("seen");
    w.state = "draining".into();
    store.worker_seen(&w).await.expect("seen again");
    let listed = store
        .workers(Duration::from_secs(60))
        .await
        .expect("workers");
    let me = listed.iter().find(|x| x.id == w2).expect("listed");
    assert_eq!(me.state, "draining");
    assert_eq!(me.labels, gpu);
    assert_eq!((me.slots, me.pid, me.host.as_str()), (4, 7, "h2"));
    assert_eq!(me.running, [format!("{run}/d#1")]);
    assert!(me.silent_for >= 0 && me.silent_for < 60_000_000);
    store
        .set_pool_slots(&gpu_pool, None)
        .await
        .expect("no limit");
}

/// Many workers claiming at once: every item is claimed exactly once.
async fn claims_race(store: Arc<SqlStore>) {
    let u = unique();
    let run = format!("race_{u}");
    let coord = format!("h-1-c_{u}");
    running_run(&store, &run).await;
    for i in 0..300 {
        store
            .enqueue(&item(&run, &format!("t{i:03}"), None, &coord))
            .await
            .expect("enqueue");
    }
    let mut handles = Vec::new();
    for w in 0..6 {
        let store = store.clone();
        handles.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            loop {
                let got = store
                    .claim(&format!("w{w}"), &[], 7, LEASE)
                    .await
                    .expect("claim");
                if got.is_empty() {
                    break;
                }
                mine.extend(got.into_iter().map(|c| c.key.task));
            }
            mine
        }));
    }
    let mut all = Vec::new();
    for h in handles {
        all.extend(h.await.expect("join"));
    }
    all.sort();
    let expected: Vec<String> = (0..300).map(|i| format!("t{i:03}")).collect();
    assert_eq!(all, expected);
}

#[tokio::test]
async fn sqlite_queue() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SqlStore::open_sqlite(&dir.path().join("state.db"))
        .await
        .expect("open");
    queue_story(&store).await;
    claims_race(Arc::new(store)).await;
}

/// On PostgreSQL, waiters are woken by notifications: a worker waiting for work as soon as
/// an attempt is queued, a coordinator as soon as one of its attempts ends (not another's).
async fn notifications(store: Arc<SqlStore>) {
    assert!(store.notifies());
    let u = unique();
    let run = format!("n_{u}");
    running_run(&store, &run).await;
    let long = Duration::from_secs(20);
    // Listening starts with the first wait: one that times out quickly opens it.
    store.wait_for_work(Duration::from_millis(10)).await;
    store
        .wait_for_outcomes("h-1-mine", Duration::from_millis(10))
        .await;
    let waiter = {
        let store = store.clone();
        tokio::spawn(async move {
            let t = std::time::Instant::now();
            store.wait_for_work(long).await;
            t.elapsed()
        })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    store
        .enqueue(&item(&run, "a", None, "h-1-mine"))
        .await
        .expect("enqueue");
    let waited = waiter.await.expect("join");
    assert!(waited < long / 2, "not woken: waited {waited:?}");

    store
        .enqueue(&item(&run, "b", None, "h-1-theirs"))
        .await
        .expect("enqueue");
    let claimed = store.claim("w", &[], 2, LEASE).await.expect("claim");
    assert_eq!(claimed.len(), 2);
    let waiter = {
        let store = store.clone();
        tokio::spawn(async move {
            let t = std::time::Instant::now();
            store.wait_for_outcomes("h-1-mine", long).await;
            t.elapsed()
        })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    for c in claimed.iter().filter(|c| c.key.task == "b") {
        store.finish(&c.key, &c.token, "{}").await.expect("finish");
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !waiter.is_finished(),
        "woken by another coordinator's outcome"
    );
    for c in claimed.iter().filter(|c| c.key.task == "a") {
        store.finish(&c.key, &c.token, "{}").await.expect("finish");
    }
    let waited = waiter.await.expect("join");
    assert!(waited < long / 2, "not woken: waited {waited:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_queue() {
    let Ok(url) = std::env::var("SLUICE_TEST_PG_URL") else {
        assert!(
            std::env::var("CI").is_err(),
            "CI must run the PostgreSQL suite: SLUICE_TEST_PG_URL is not set (scripts/test.sh starts PostgreSQL)"
        );
        eprintln!(
            "SKIPPED postgres_queue: SLUICE_TEST_PG_URL is not set; run scripts/test.sh to start PostgreSQL"
        );
        return;
    };
    // A database of its own: no other test's queued work to claim.
    let name = format!("queue_{}", std::process::id());
    {
        use sqlx::Executor;
        sqlx::any::install_default_drivers();
        let admin = sqlx::AnyPool::connect(&url).await.expect("connect");
        admin
            .execute(format!("DROP DATABASE IF EXISTS {name}").as_str())
            .await
            .expect("drop");
        admin
            .execute(format!("CREATE DATABASE {name}").as_str())
            .await
            .expect("create");
    }
    let base = url.rsplit_once('/').map_or(url.as_str(), |(b, _)| b);
    let store = SqlStore::connect(&format!("{base}/{name}"))
        .await
        .expect("connect");
    queue_story(&store).await;
    let store = Arc::new(store);
    claims_race(store.clone()).await;
    notifications(store).await;
}
