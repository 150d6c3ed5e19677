//! One behaviour suite, run on every backend: SQLite always, PostgreSQL when
//! `SLUICE_TEST_PG_URL` is set (scripts/test.sh starts one; in CI it must be set).

use std::collections::BTreeMap;

use sluice_core::{RunState, TaskState};
use sluice_store::{
    AttemptRecord, DatasetVersionRecord, RunFilter, RunRecord, SlotRecord, SlotState, SqlStore,
    StateStore, TaskRunRecord, TokenRecord, UserRecord, Write, now_micros,
};

fn unique() -> String {
    format!("{}_{}", std::process::id(), now_micros())
}

fn run(id: &str, pipeline: &str, started_at: i64, state: RunState) -> RunRecord {
    RunRecord {
        id: id.into(),
        pipeline: pipeline.into(),
        file: "p.yaml".into(),
        params: BTreeMap::from([("data".to_string(), "./d".to_string())]),
        state,
        trigger: "cli".into(),
        started_at,
        ended_at: None,
        pid: Some(42),
        host: Some("h".into()),
        error: None,
    }
}

fn attempt(run_id: &str, task: &str, n: u32, state: TaskState) -> AttemptRecord {
    AttemptRecord {
        run_id: run_id.into(),
        task: task.into(),
        attempt: n,
        state,
        ready_at: 1_000 + i64::from(n),
        started_at: 1_100 + i64::from(n),
        ended_at: None,
        exit_code: None,
        error: None,
        log_path: Some(format!("logs/{run_id}/{task}/{n}.log")),
        pid: Some(4242),
        metrics: (state == TaskState::Succeeded).then(|| serde_json::json!({"rows": 7})),
    }
}

async fn story(store: &dyn StateStore) {
    let u = unique();
    let pipeline = format!("story_{u}");
    let r1 = format!("r1_{u}");
    let r2 = format!("r2_{u}");

    // A run starts: run, task states and a first attempt in one batch.
    store
        .apply(&[
            Write::Run(run(&r1, &pipeline, 10, RunState::Running)),
            Write::TaskRun(TaskRunRecord {
                run_id: r1.clone(),
                task: "extract".into(),
                state: TaskState::Running,
                attempts: 1,
                fingerprint: Some("fp-e".into()),
                started_at: Some(1_101),
                ended_at: None,
                error: None,
            }),
            Write::Attempt(attempt(&r1, "extract", 1, TaskState::Running)),
        ])
        .await
        .expect("apply");
    let got = store.run(&r1).await.expect("read").expect("present");
    assert_eq!(got, run(&r1, &pipeline, 10, RunState::Running));

    // The attempt fails, a retry succeeds, the fingerprint is recorded, the run ends.
    let mut failed = attempt(&r1, "extract", 1, TaskState::Failed);
    failed.ended_at = Some(1_200);
    failed.exit_code = Some(3);
    failed.error = Some("exit code 3".into());
    let mut ok = attempt(&r1, "extract", 2, TaskState::Succeeded);
    ok.ended_at = Some(1_300);
    ok.exit_code = Some(0);
    let mut ended = run(&r1, &pipeline, 10, RunState::Succeeded);
    ended.ended_at = Some(2_000);
    store
        .apply(&[
            Write::Attempt(failed.clone()),
            Write::Attempt(ok.clone()),
            Write::TaskRun(TaskRunRecord {
                run_id: r1.clone(),
                task: "extract".into(),
                state: TaskState::Succeeded,
                attempts: 2,
                fingerprint: Some("fp-e".into()),
                started_at: Some(1_101),
                ended_at: Some(1_300),
                error: None,
            }),
            Write::TaskRun(TaskRunRecord {
                run_id: r1.clone(),
                task: "load".into(),
                state: TaskState::UpstreamFailed,
                attempts: 0,
                fingerprint: None,
                started_at: None,
                ended_at: None,
                error: Some("upstream `x` failed".into()),
            }),
            Write::Fingerprint {
                pipeline: pipeline.clone(),
                task: "extract".into(),
                fingerprint: "fp-e".into(),
                run_id: r1.clone(),
                at: 1_300,
            },
            Write::Run(ended.clone()),
        ])
        .await
        .expect("apply");

    assert_eq!(store.run(&r1).await.expect("read"), Some(ended));
    assert_eq!(
        store.attempts(&r1, Some("extract")).await.expect("read"),
        vec![failed, ok]
    );
    assert_eq!(
        store.attempts(&r1, Some("nope")).await.expect("read"),
        vec![]
    );
    let tasks = store.task_runs(&r1).await.expect("read");
    assert_eq!(tasks.len(), 2);
    assert_eq!(
        (tasks[0].task.as_str(), tasks[0].state, tasks[0].attempts),
        ("extract", TaskState::Succeeded, 2)
    );
    assert_eq!(
        (tasks[1].task.as_str(), tasks[1].state),
        ("load", TaskState::UpstreamFailed)
    );
    assert_eq!(tasks[1].error.as_deref(), Some("upstream `x` failed"));

    // Fingerprints: replaying the same write is harmless.
    store
        .apply(&[Write::Fingerprint {
            pipeline: pipeline.clone(),
            task: "extract".into(),
            fingerprint: "fp-e".into(),
            run_id: r1.clone(),
            at: 1_400,
        }])
        .await
        .expect("replay");
    assert_eq!(
        store.fingerprints(&pipeline).await.expect("read"),
        vec![("extract".to_string(), "fp-e".to_string())]
    );

    // Listing: newest first, filters by pipeline and state, limit.
    store
        .apply(&[Write::Run(run(&r2, &pipeline, 20, RunState::Failed))])
        .await
        .expect("apply");
    let filter = |state, limit| RunFilter {
        pipeline: Some(pipeline.clone()),
        state,
        limit,
    };
    let ids = |rs: Vec<RunRecord>| rs.into_iter().map(|r| r.id).collect::<Vec<_>>();
    assert_eq!(
        ids(store.runs(&filter(None, 0)).await.expect("list")),
        vec![r2.clone(), r1.clone()]
    );
    assert_eq!(
        ids(store.runs(&filter(None, 1)).await.expect("list")),
        vec![r2.clone()]
    );
    assert_eq!(
        ids(store
            .runs(&filter(Some(RunState::Succeeded), 0))
            .await
            .expect("list")),
        vec![r1.clone()]
    );
    assert!(store.run("missing").await.expect("read").is_none());

    // Datasets: versions, an atomic switch of "latest", retention deleting an old version.
    let version = |v: &str, at: i64| DatasetVersionRecord {
        pipeline: pipeline.clone(),
        task: "mentions".into(),
        version: v.into(),
        path: format!("/w/{v}"),
        schema: "{}".into(),
        rows: 19,
        bytes: 2048,
        run_id: r1.clone(),
        created_at: at,
        latest_since: None,
        state: (v == "v2").then(|| r#"{"etag":"\"abc\""}"#.to_string()),
    };
    let latest = |v: &str, at: i64| Write::Latest {
        pipeline: pipeline.clone(),
        task: "mentions".into(),
        version: v.into(),
        at,
    };
    store
        .apply(&[Write::DatasetVersion(version("v1", 100)), latest("v1", 101)])
        .await
        .expect("v1");
    store
        .apply(&[Write::DatasetVersion(version("v2", 200)), latest("v2", 201)])
        .await
        .expect("v2");
    let all = store
        .dataset_versions(Some(&pipeline), None)
        .await
        .expect("versions");
    assert_eq!(
        all.iter().map(|d| d.version.as_str()).collect::<Vec<_>>(),
        vec!["v2", "v1"]
    );
    assert_eq!(
        (all[0].latest_since, all[1].latest_since),
        (Some(201), None)
    );
    // The same version again (a cached run) keeps the time it became latest: dataset
    // triggers see no new version.
    store.apply(&[latest("v2", 300)]).await.expect("v2 again");
    let latest_now = store
        .latest_datasets(Some(&pipeline))
        .await
        .expect("latest");
    assert_eq!(latest_now[0].latest_since, Some(201));
    assert_eq!(latest_now.len(), 1);
    assert_eq!(
        (
            latest_now[0].version.as_str(),
            latest_now[0].rows,
            latest_now[0].bytes,
            latest_now[0].state.as_deref()
        ),
        ("v2", 19, 2048, Some(r#"{"etag":"\"abc\""}"#))
    );
    assert_eq!(all[1].state, None, "a version saved without state has none");
    store
        .apply(&[Write::DeleteVersion {
            pipeline: pipeline.clone(),
            task: "mentions".into(),
            version: "v1".into(),
        }])
        .await
        .expect("delete");
    assert_eq!(
        store
            .dataset_versions(Some(&pipeline), Some("mentions"))
            .await
            .expect("versions")
            .len(),
        1
    );

    // Schedule slots: a slot is claimed once; the second claim of the same time fails.
    let slot = |at: i64, state: SlotState, run_id: Option<&str>| SlotRecord {
        pipeline: pipeline.clone(),
        slot: at,
        state,
        run_id: run_id.map(String::from),
        skipped: if state == SlotState::Skipped { 3 } else { 1 },
        recorded_at: at + 5,
    };
    assert!(store.slots(&pipeline, 0).await.expect("slots").is_empty());
    let start = slot(60_000_000, SlotState::Start, None);
    let skipped = slot(240_000_000, SlotState::Skipped, None);
    let first = slot(300_000_000, SlotState::Run, Some("run-a"));
    for s in [&start, &skipped, &first] {
        assert!(store.claim_slot(s).await.expect("claim"));
    }
    let again = slot(300_000_000, SlotState::Run, Some("run-b"));
    assert!(!store.claim_slot(&again).await.expect("claim again"));
    assert_eq!(
        store.slots(&pipeline, 0).await.expect("slots"),
        vec![first.clone(), skipped, start]
    );
    assert_eq!(
        store.slots(&pipeline, 1).await.expect("last"),
        vec![first.clone()]
    );
    // `sluice gc`: slots recorded before a time are forgotten, but for the latest, whose run
    // must stay known.
    assert_eq!(
        store
            .kept_slot_runs(1_000_000_000)
            .await
            .expect("slot runs")
            .iter()
            .filter(|r| r.as_str() == "run-a")
            .count(),
        1
    );
    store
        .apply(&[Write::PurgeSlots {
            before: 1_000_000_000,
        }])
        .await
        .expect("purge slots");
    assert_eq!(store.slots(&pipeline, 0).await.expect("slots"), vec![first]);
    // A run forgotten takes its task states and attempts with it; others stay.
    let gone = format!("gone_{u}");
    let kept = format!("kept_{u}");
    for id in [&gone, &kept] {
        store
            .apply(&[
                Write::Run(run(id, &pipeline, 5, RunState::Succeeded)),
                Write::TaskRun(TaskRunRecord {
                    run_id: id.clone(),
                    task: "a".into(),
                    state: TaskState::Succeeded,
                    attempts: 1,
                    fingerprint: None,
                    started_at: Some(5),
                    ended_at: Some(6),
                    error: None,
                }),
                Write::Attempt(attempt(id, "a", 1, TaskState::Succeeded)),
            ])
            .await
            .expect("runs to forget");
    }
    store
        .apply(&[Write::DeleteRun { id: gone.clone() }])
        .await
        .expect("delete run");
    assert_eq!(store.run(&gone).await.expect("run"), None);
    assert!(store.task_runs(&gone).await.expect("tasks").is_empty());
    assert!(
        store
            .attempts(&gone, None)
            .await
            .expect("attempts")
            .is_empty()
    );
    assert!(store.run(&kept).await.expect("run").is_some());
    assert_eq!(store.task_runs(&kept).await.expect("tasks").len(), 1);
    assert_eq!(
        store.attempts(&kept, None).await.expect("attempts").len(),
        1
    );
    // A home restored elsewhere: paths under the old home follow it, others do not.
    let moved = |path: String, run_id: &str| {
        let mut a = attempt(run_id, "a", 2, TaskState::Succeeded);
        a.log_path = Some(path);
        Write::Attempt(a)
    };
    store
        .apply(&[
            moved(format!("/old_{u}/logs/1.log"), &kept),
            moved(format!("/old_{u}x/logs/1.log"), &gone),
            Write::Relocate {
                from: format!("/old_{u}/"),
                to: format!("/new_{u}/home/"),
            },
        ])
        .await
        .expect("relocate");
    for (run_id, path) in [
        (&kept, format!("/new_{u}/home/logs/1.log")),
        (&gone, format!("/old_{u}x/logs/1.log")),
    ] {
        let logs: Vec<Option<String>> = store
            .attempts(run_id, None)
            .await
            .expect("attempts")
            .into_iter()
            .filter(|a| a.attempt == 2)
            .map(|a| a.log_path)
            .collect();
        assert_eq!(logs, vec![Some(path)]);
    }

    // Users and tokens: written in batches, read back by name and by the secret's hash.
    let user = UserRecord {
        name: format!("ada_{u}"),
        hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
        role: "operator".into(),
        created_at: 7,
        disabled_at: None,
    };
    let token = TokenRecord {
        id: format!("t_{u}"),
        hash: format!("sha_{u}"),
        kind: "api".into(),
        user_name: user.name.clone(),
        label: "ci".into(),
        role: "viewer".into(),
        created_at: 8,
        expires_at: None,
        last_used_at: None,
        revoked_at: None,
    };
    store
        .apply(&[Write::User(user.clone()), Write::Token(token.clone())])
        .await
        .expect("user and token");
    assert_eq!(
        store.user(&user.name).await.expect("user"),
        Some(user.clone())
    );
    assert!(store.users().await.expect("users").contains(&user));
    assert_eq!(
        store.token_by_hash(&token.hash).await.expect("token"),
        Some(token.clone())
    );
    assert_eq!(store.token_by_hash("nope").await.expect("none"), None);
    let revoked = TokenRecord {
        revoked_at: Some(9),
        last_used_at: Some(8),
        ..token.clone()
    };
    let disabled = UserRecord {
        disabled_at: Some(10),
        role: "viewer".into(),
        ..user.clone()
    };
    store
        .apply(&[Write::Token(revoked.clone()), Write::User(disabled.clone())])
        .await
        .expect("revoke");
    assert_eq!(
        store.tokens(Some(&user.name)).await.expect("tokens"),
        vec![revoked]
    );
    assert_eq!(store.user(&user.name).await.expect("user"), Some(disabled));

    // A token revoked while a request that read it is still going on stays revoked: that
    // request records the use alone.
    let live = TokenRecord {
        id: format!("live_{u}"),
        hash: format!("sha_live_{u}"),
        ..token.clone()
    };
    store
        .apply(&[Write::Token(live.clone())])
        .await
        .expect("live token");
    let read_by_request = store
        .token_by_hash(&live.hash)
        .await
        .expect("read")
        .expect("there");
    store
        .apply(&[Write::Token(TokenRecord {
            revoked_at: Some(20),
            ..live.clone()
        })])
        .await
        .expect("revoke");
    store
        .apply(&[Write::TokenUsed {
            id: read_by_request.id.clone(),
            at: 21,
        }])
        .await
        .expect("use");
    let after = store
        .token_by_hash(&live.hash)
        .await
        .expect("read")
        .expect("there");
    assert_eq!((after.revoked_at, after.last_used_at), (Some(20), Some(21)));
    // Sessions that ended before a time are forgotten; API tokens are kept.
    let session = |id: &str, expires: i64| TokenRecord {
        id: format!("{id}_{u}"),
        hash: format!("sha_{id}_{u}"),
        kind: "session".into(),
        expires_at: Some(expires),
        ..token.clone()
    };
    store
        .apply(&[
            Write::Token(session("old", 100)),
            Write::Token(session("new", 10_000)),
            Write::PurgeSessions { before: 1_000 },
        ])
        .await
        .expect("purge");
    let ids: Vec<String> = store
        .tokens(Some(&user.name))
        .await
        .expect("tokens")
        .into_iter()
        .map(|t| t.id)
        .collect();
    assert!(
        ids.contains(&format!("new_{u}")) && !ids.contains(&format!("old_{u}")),
        "{ids:?}"
    );
    assert!(ids.contains(&format!("t_{u}")), "{ids:?}");

    // Ten runs started at once under `max_active_runs: 1`: the store admits one.
    let limited = format!("limited_{u}");
    let starts: Vec<_> = (0..10)
        .map(|i| {
            let r = run(&format!("l{i}_{u}"), &limited, 100 + i, RunState::Running);
            async move { store.start_run(&r, 1).await.expect("start") }
        })
        .collect();
    let admitted = futures_util::future::join_all(starts).await;
    assert_eq!(admitted.iter().filter(|a| **a).count(), 1, "{admitted:?}");
    let running = store
        .runs(&RunFilter {
            pipeline: Some(limited.clone()),
            ..RunFilter::default()
        })
        .await
        .expect("runs");
    assert_eq!(running.len(), 1);
    // That run may be recorded again (a resume), and a second one is admitted once it ends.
    let mut first = running[0].clone();
    assert!(store.start_run(&first, 1).await.expect("again"));
    let second = run(&format!("second_{u}"), &limited, 200, RunState::Running);
    assert!(!store.start_run(&second, 1).await.expect("refused"));
    first.state = RunState::Succeeded;
    store
        .apply(&[Write::Run(first)])
        .await
        .expect("end the first");
    assert!(store.start_run(&second, 1).await.expect("admitted"));
    assert!(
        store
            .start_run(
                &run(&format!("third_{u}"), &limited, 300, RunState::Running),
                2
            )
            .await
            .expect("two allowed")
    );

    // Aliases: the current version of each, or every move, newest first.
    let models = format!("models_{u}");
    let alias = |name: &str, version: &str, at: i64| {
        Write::Alias(sluice_store::AliasRecord {
            pipeline: models.clone(),
            task: "clf".into(),
            alias: name.into(),
            version: version.into(),
            set_at: at,
            set_by: "run r1".into(),
            note: Some(format!("to {version}")),
        })
    };
    store
        .apply(&[
            alias("champion", "v1", 10),
            alias("champion", "v2", 20),
            alias("staging", "v3", 15),
        ])
        .await
        .expect("aliases");
    let current = store
        .aliases(Some(&models), Some("clf"), false)
        .await
        .expect("current");
    let current: Vec<(&str, &str)> = current
        .iter()
        .map(|a| (a.alias.as_str(), a.version.as_str()))
        .collect();
    assert_eq!(current, [("champion", "v2"), ("staging", "v3")]);
    let history = store
        .aliases(Some(&models), None, true)
        .await
        .expect("history");
    let history: Vec<(&str, &str)> = history
        .iter()
        .map(|a| (a.alias.as_str(), a.version.as_str()))
        .collect();
    assert_eq!(
        history,
        [("champion", "v2"), ("champion", "v1"), ("staging", "v3")]
    );
    assert!(
        store
            .aliases(Some("nobody"), None, false)
            .await
            .expect("none")
            .is_empty()
    );
}

#[tokio::test]
async fn sqlite_story() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("nested/state.db");
    let store = SqlStore::open_sqlite(&path).await.expect("open");
    assert_eq!(store.backend(), "sqlite");
    story(&store).await;
    drop(store);
    // Reopening runs the migrations again (a no-op) and keeps the data.
    let store = SqlStore::open_sqlite(&path).await.expect("reopen");
    assert_eq!(
        store.runs(&RunFilter::default()).await.expect("list").len(),
        6
    );
}

#[tokio::test]
async fn postgres_story() {
    let Ok(url) = std::env::var("SLUICE_TEST_PG_URL") else {
        assert!(
            std::env::var("CI").is_err(),
            "CI must run the PostgreSQL suite: SLUICE_TEST_PG_URL is not set (scripts/test.sh starts PostgreSQL)"
        );
        eprintln!(
            "SKIPPED postgres_story: SLUICE_TEST_PG_URL is not set; run scripts/test.sh to start PostgreSQL"
        );
        return;
    };
    let store = SqlStore::connect(&url).await.expect("connect");
    assert_eq!(store.backend(), "postgres");
    story(&store).await;
    // Connecting again migrates nothing and fails nothing.
    SqlStore::connect(&url).await.expect("reconnect");
}

#[tokio::test]
async fn unsupported_url_is_a_clear_error() {
    let err = SqlStore::connect("mysql://u:pw@h/db")
        .await
        .expect_err("unsupported");
    assert_eq!(
        err.to_string(),
        "unsupported state store URL `mysql://u:***@h/db`: use sqlite://PATH or postgres://…"
    );
}
