//! Tasks on a pool of workers: one `sluice serve --executor workers` and three `sluice
//! worker` processes on a real PostgreSQL, each with a home of its own and the warehouse in
//! an S3 endpoint (moto), a 200-task DAG, one worker killed with SIGKILL and one frozen past
//! its lease in the middle of the run.

mod common;

use std::io::Read;
use std::process::{Child, Stdio};
use std::time::Duration;

use common::{
    Project, Server, boto, call, client, json_of, pg_database, pg_query, run_state, text, trigger,
    wait_for,
};
use reqwest::Method;

/// 180 commands and 20 SQL tasks writing datasets, in 20 layers of 10: each task waits for
/// the one ten before it; each SQL task but the first reads the one before it (`t199` holds
/// 199).
fn fleet() -> String {
    let mut y = String::from("name: fleet\ndefaults: { retries: 3, retry_delay: 100ms }\ntasks:\n");
    for i in 0..200 {
        let after = if i >= 10 {
            format!(", after: [t{:03}]", i - 10)
        } else {
            String::new()
        };
        if i == 9 {
            y.push_str("  t009: { op: sql, sql: \"SELECT 9 AS n\" }\n");
        } else if i % 10 == 9 {
            y.push_str(&format!(
                "  t{i:03}: {{ op: sql, sql: \"SELECT n + 10 AS n FROM t{:03}\"{after} }}\n",
                i - 10
            ));
        } else {
            y.push_str(&format!(
                "  t{i:03}: {{ run: \"echo step {i}; sleep 0.05\"{after} }}\n"
            ));
        }
    }
    y
}

/// The key sealing what the server queues, given to it and its workers.
const QUEUE_KEY: &str = "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0";

struct Worker {
    child: Child,
}

/// The environment of a warehouse in moto's S3 at `endpoint`.
fn s3_env(endpoint: &str) -> Vec<(&'static str, String)> {
    vec![
        ("SLUICE_WAREHOUSE", "s3://warehouse/fleet-home".to_string()),
        ("AWS_ENDPOINT_URL", endpoint.to_string()),
        ("AWS_ALLOW_HTTP", "true".to_string()),
        ("AWS_REGION", "us-east-1".to_string()),
        ("AWS_ACCESS_KEY_ID", "test".to_string()),
        ("AWS_SECRET_ACCESS_KEY", "test".to_string()),
    ]
}

impl Worker {
    fn start_with(p: &Project, url: &str, env: &[(&str, String)]) -> Worker {
        let child = p
            .cmd(&["worker", "--slots", "4", "--lease", "2s", "--poll", "20ms"])
            .env("SLUICE_STATE", url)
            .env("SLUICE_QUEUE_KEY", QUEUE_KEY)
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("sluice worker");
        Worker { child }
    }

    fn pid(&self) -> String {
        self.child.id().to_string()
    }

    fn signal(&self, sig: &str) {
        let status = std::process::Command::new("kill")
            .args([sig, &self.pid()])
            .status()
            .expect("kill");
        assert!(status.success());
    }

    /// Its id in the queue, `HOST-PID-RANDOM`.
    fn id(&self, url: &str) -> String {
        let rows = pg_query(
            url,
            &[&format!(
                "SELECT id FROM workers WHERE pid = {}",
                self.pid()
            )],
        );
        rows.first()
            .and_then(|r| r[0].clone())
            .expect("worker recorded")
    }

    /// Drained with SIGTERM: its exit code and what it printed.
    fn drain(mut self) -> (Option<i32>, String) {
        self.signal("-TERM");
        let status = self.child.wait().expect("wait");
        let mut err = String::new();
        if let Some(mut e) = self.child.stderr.take() {
            let _ = e.read_to_string(&mut err);
        }
        (status.code(), err)
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `(worker, state) -> rows` of the run's queue.
fn queue_rows(url: &str, run: &str, worker: &str, state: &str) -> usize {
    let rows = pg_query(
        url,
        &[&format!(
            "SELECT COUNT(*) FROM work_queue WHERE run_id = '{run}' AND worker = '{worker}' \
             AND state = '{state}'"
        )],
    );
    rows[0][0]
        .as_deref()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

#[test]
fn a_dag_runs_on_three_workers_and_survives_a_killed_and_a_frozen_one() {
    let Some(url) = pg_database("workers", "workers") else {
        return;
    };
    let Some(py) =
        common::test_python("a_dag_runs_on_three_workers_and_survives_a_killed_and_a_frozen_one")
    else {
        return;
    };
    let (_moto, endpoint) = common::Moto::start(&py);
    boto(&py, &endpoint, "s3.create_bucket(Bucket='warehouse')");
    let s3 = s3_env(&endpoint);
    let p = Project::new(&fleet());
    let out = p
        .cmd(&["user", "add", "ops", "--role", "operator"])
        .env("SLUICE_STATE", &url)
        .env("SLUICE_PASSWORD", "ops-password")
        .output()
        .expect("user add");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let out = p
        .cmd(&["token", "create", "--user", "ops", "--label", "tests"])
        .env("SLUICE_STATE", &url)
        .output()
        .expect("token");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let token = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let mut env: Vec<(&str, &str)> = vec![
        ("SLUICE_STATE", &url),
        ("SLUICE_EXECUTOR", "workers"),
        ("SLUICE_QUEUE_KEY", QUEUE_KEY),
    ];
    env.extend(s3.iter().map(|(k, v)| (*k, v.as_str())));
    let server = Server::start_with(&p, &env);
    // Each worker has a home of its own: the object store is all they share with the server.
    let workers: Vec<Worker> = (0..3)
        .map(|i| {
            let mut env = s3.clone();
            let home = p.path(&format!("worker-{i}"));
            env.push(("SLUICE_HOME", home.display().to_string()));
            Worker::start_with(&p, &url, &env)
        })
        .collect();
    wait_for("three workers", Duration::from_secs(30), || {
        pg_query(
            &url,
            &["SELECT COUNT(*) FROM workers WHERE state = 'running'"],
        )[0][0]
            .as_deref()
            == Some("3")
    });
    let ids: Vec<String> = workers.iter().map(|w| w.id(&url)).collect();
    let c = client();
    // The API and the metrics show them.
    let listed = json_of(
        call(&c, &server, Method::GET, "/api/workers", Some(&token))
            .send()
            .expect("workers"),
    );
    assert_eq!(listed["enabled"], true);
    let mut seen: Vec<&str> = listed["workers"]
        .as_array()
        .expect("workers")
        .iter()
        .map(|w| {
            assert_eq!(w["slots"], 4);
            assert_eq!(w["state"], "running");
            w["id"].as_str().expect("id")
        })
        .collect();
    seen.sort_unstable();
    let mut expected: Vec<&str> = ids.iter().map(String::as_str).collect();
    expected.sort_unstable();
    assert_eq!(seen, expected);
    let metrics = call(&c, &server, Method::GET, "/metrics", Some(&token))
        .send()
        .expect("metrics")
        .text()
        .expect("text");
    assert!(
        metrics.contains("sluice_workers{state=\"running\"} 3\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("sluice_worker_slots{state=\"free\"} 12\n"),
        "{metrics}"
    );
    let run = trigger(&c, &server, &token, "fleet", serde_json::json!({}));
    wait_for("work queued", Duration::from_secs(30), || {
        let sealed = pg_query(
            &url,
            &[&format!(
                "SELECT COUNT(*), COUNT(*) FILTER (WHERE spec LIKE 'sealed:v1:%') \
                 FROM work_queue WHERE run_id = '{run}' AND state IN ('queued', 'claimed')"
            )],
        );
        let n = |i: usize| sealed[0][i].as_deref().and_then(|v| v.parse::<u32>().ok());
        assert_eq!(n(0), n(1), "a description queued in clear");
        n(0).is_some_and(|n| n > 0)
    });

    // The first worker dies with SIGKILL once it has done some work and runs more.
    wait_for("worker 1 busy", Duration::from_secs(60), || {
        queue_rows(&url, &run, &ids[0], "done") >= 5
            && queue_rows(&url, &run, &ids[0], "claimed") >= 1
    });
    let mut workers = workers.into_iter();
    let mut killed = workers.next().expect("w1");
    killed.signal("-KILL");
    let _ = killed.child.wait();
    // The second freezes while it runs an attempt, past its lease: the server declares what
    // it held lost; then it wakes up and tries to record outcomes.
    let frozen = workers.next().expect("w2");
    wait_for("worker 2 busy", Duration::from_secs(60), || {
        queue_rows(&url, &run, &ids[1], "claimed") >= 1
    });
    frozen.signal("-STOP");
    wait_for("worker 2 declared lost", Duration::from_secs(30), || {
        queue_rows(&url, &run, &ids[1], "claimed") == 0
    });
    frozen.signal("-CONT");
    let third = workers.next().expect("w3");

    wait_for("the run to end", Duration::from_secs(180), || {
        run_state(&c, &server, &token, &run) != "running"
    });
    assert_eq!(run_state(&c, &server, &token, &run), "succeeded");

    // Every task succeeded, each attempt on some worker; all three did some.
    let by_worker = pg_query(
        &url,
        &[&format!(
            "SELECT worker, state, COUNT(*) FROM work_queue WHERE run_id = '{run}' \
             GROUP BY worker, state ORDER BY worker, state"
        )],
    );
    let count = |w: &str, s: &str| {
        by_worker
            .iter()
            .find(|r| r[0].as_deref() == Some(w) && r[1].as_deref() == Some(s))
            .and_then(|r| r[2].as_deref())
            .and_then(|n| n.parse::<usize>().ok())
            .unwrap_or(0)
    };
    for id in &ids {
        assert!(count(id, "done") >= 1, "{id} did nothing: {by_worker:?}");
    }
    let done: usize = ids.iter().map(|id| count(id, "done")).sum();
    let lost: usize = ids.iter().map(|id| count(id, "lost")).sum();
    assert!(count(&ids[0], "lost") >= 1, "{by_worker:?}");
    assert!(count(&ids[1], "lost") >= 1, "{by_worker:?}");
    // One successful attempt per task; every other attempt is a lost one, which no worker
    // recorded (no outcome) and the run retried.
    let succeeded = pg_query(
        &url,
        &[&format!(
            "SELECT COUNT(*), COUNT(DISTINCT task) FROM attempts WHERE run_id = '{run}' \
             AND state = 'succeeded'"
        )],
    );
    assert_eq!(
        succeeded[0],
        [Some("200".to_string()), Some("200".to_string())]
    );
    assert_eq!(done, 200, "{by_worker:?}");
    // `sluice show` names the worker of each attempt.
    let out = p
        .cmd(&["show", &run, "--json"])
        .env("SLUICE_STATE", &url)
        .output()
        .expect("show");
    let shown: serde_json::Value = serde_json::from_slice(&out.stdout).expect("show json");
    let on: Vec<&str> = shown["attempts"]
        .as_array()
        .expect("attempts")
        .iter()
        .filter_map(|a| a["worker"].as_str())
        .collect();
    assert_eq!(on.len(), done + lost, "{}", text(&out));
    assert!(on.iter().all(|w| ids.iter().any(|id| id == w)), "{on:?}");
    let failed = pg_query(
        &url,
        &[&format!(
            "SELECT error FROM attempts WHERE run_id = '{run}' AND state = 'failed'"
        )],
    );
    assert_eq!(failed.len(), lost, "{failed:?}");
    for row in &failed {
        let error = row[0].as_deref().unwrap_or_default();
        assert!(
            error.starts_with("worker `")
                && error.contains("` lost: it stopped renewing its lease"),
            "{error}"
        );
    }
    let outcomes = pg_query(
        &url,
        &[&format!(
            "SELECT COUNT(*) FROM work_queue WHERE run_id = '{run}' AND state = 'lost' \
             AND outcome IS NOT NULL"
        )],
    );
    assert_eq!(outcomes[0][0].as_deref(), Some("0"));
    // What was queued was sealed, and is gone once each attempt ended.
    let kept = pg_query(
        &url,
        &[&format!(
            "SELECT COUNT(*) FROM work_queue WHERE run_id = '{run}' AND spec <> ''"
        )],
    );
    assert_eq!(kept[0][0].as_deref(), Some("0"));

    // Each dataset version was published once: one complete version folder per task in the
    // object store, no `V.2`, and nothing left of staging or of the workers' logs.
    let listed = boto(
        &py,
        &endpoint,
        "keys = []\n\
         for page in s3.get_paginator('list_objects_v2').paginate(Bucket='warehouse'):\n    \
         keys += [o['Key'] for o in page.get('Contents', [])]\n\
         print('\\n'.join(keys))\n",
    );
    let keys: Vec<&str> = listed.lines().collect();
    assert!(
        keys.iter()
            .all(|k| k.starts_with("fleet-home/fleet/t") && !k.contains("/.staging/")),
        "{keys:?}"
    );
    for i in (9..200).step_by(10) {
        let task = format!("t{i:03}");
        let manifests: Vec<&&str> = keys
            .iter()
            .filter(|k| {
                k.starts_with(&format!("fleet-home/fleet/{task}/"))
                    && k.ends_with("/_manifest.json")
            })
            .collect();
        assert_eq!(manifests.len(), 1, "{task}: {manifests:?}");
        let version = manifests[0].split('/').nth(3).unwrap_or_default();
        assert!(!version.contains('.'), "{task}: {manifests:?}");
    }
    // The server's home holds them too (it checked and published each), the workers' homes
    // the versions their attempts read.
    let home = p.path(".sluice/warehouse/fleet");
    for i in (9..200).step_by(10) {
        let task = format!("t{i:03}");
        let versions: Vec<String> = std::fs::read_dir(home.join(&task))
            .expect("task folder")
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().to_string())
            .filter(|n| !n.starts_with('.') && n != "raw")
            .collect();
        assert_eq!(versions.len(), 1, "{task}: {versions:?}");
        assert!(!versions[0].contains('.'), "{task}: {versions:?}");
    }
    let downloaded: usize = (0..3)
        .map(|i| {
            (19..200)
                .step_by(10)
                .filter(|t| {
                    std::fs::read_dir(p.path(&format!("worker-{i}/warehouse/fleet/t{:03}", t - 10)))
                        .is_ok_and(|d| {
                            d.flatten()
                                .any(|e| !e.file_name().to_string_lossy().starts_with('.'))
                        })
                })
                .count()
        })
        .sum();
    assert!(
        downloaded >= 19,
        "inputs downloaded by the workers: {downloaded}"
    );
    // A worker's log is shipped to the server's log of the attempt.
    let log = std::fs::read_to_string(p.path(&format!(".sluice/logs/{run}/t005/1.log")))
        .expect("log of t005");
    assert!(log.contains("step 5"), "{log}");
    // A reader on another machine: its own home, the same state and warehouse.
    let out = p
        .cmd(&["sql", "SELECT n FROM fleet.t199", "--format", "csv"])
        .env("SLUICE_STATE", &url)
        .env("SLUICE_HOME", p.path("reader"))
        .envs(s3.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .expect("sql");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "n\n199\n",
        "{}",
        text(&out)
    );
    let published = pg_query(
        &url,
        &["SELECT COUNT(*), COUNT(DISTINCT task) FROM dataset_versions WHERE pipeline = 'fleet'"],
    );
    assert_eq!(
        published[0],
        [Some("20".to_string()), Some("20".to_string())]
    );

    // The frozen worker came back fenced: what it tried to record was refused.
    let (code, err) = frozen.drain();
    assert_eq!(code, Some(0), "{err}");
    let summary = err
        .lines()
        .find(|l| l.starts_with("sluice worker "))
        .unwrap_or_else(|| panic!("no summary in {err}"));
    let refused: usize = summary
        .split(", ")
        .find_map(|part| part.strip_suffix(" refused (lease lost)"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{summary}"));
    eprintln!("queue by worker and state: {by_worker:?}; frozen worker: {summary}");
    assert!(refused >= 1, "{summary}");
    let (code, err) = third.drain();
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("0 handed back"), "{err}");
    drop(server);
}

/// A worker asked to stop drains: it takes nothing new, and once its `--drain-timeout` is
/// over it stops what runs and hands it back; another worker runs the same attempt to its
/// end (no retry spent). On SQLite: workers on one machine share the home's store.
#[test]
fn a_draining_worker_hands_back_what_runs_past_its_drain_timeout() {
    let p = Project::new(
        "name: drain\ntasks:\n  slow: { run: \"sleep 2 && echo slept\" }\n  after: { run: \"echo after\", after: [slow] }\n",
    );
    let home = p.path(".sluice");
    std::fs::create_dir_all(&home).expect("home");
    let home_arg = home.display().to_string();
    let spawn_worker = || {
        p.cmd(&[
            "--home",
            &home_arg,
            "worker",
            "--slots",
            "1",
            "--drain-timeout",
            "500ms",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("worker")
    };
    let first = Worker {
        child: spawn_worker(),
    };
    let run = p
        .cmd(&["run", "pipeline.yaml", "--executor", "workers", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run");
    let log = home.join("logs");
    // The first worker has started the command: its log says so.
    wait_for("the slow task to start", Duration::from_secs(30), || {
        std::fs::read_dir(&log).ok().is_some_and(|runs| {
            runs.filter_map(|r| r.ok()).any(|r| {
                std::fs::read_to_string(r.path().join("slow/1.log"))
                    .is_ok_and(|t| t.contains("queued for a worker"))
            })
        }) && {
            let listed = p.sluice(&["--home", &home_arg, "workers", "--json"]);
            let v: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap_or_default();
            v["workers"][0]["running"]
                .as_array()
                .is_some_and(|r| r.len() == 1)
        }
    });
    let (code, err) = first.drain();
    assert_eq!(code, Some(0), "{err}");
    assert!(
        err.contains("0 attempt(s) finished, 1 handed back, 0 refused"),
        "{err}"
    );
    let second = Worker {
        child: spawn_worker(),
    };
    let out = run.wait_with_output().expect("run ends");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).expect("summary");
    assert_eq!(summary["state"], "succeeded");
    // One attempt each: the hand-back spent no retry.
    for t in summary["tasks"].as_array().expect("tasks") {
        assert_eq!(t["attempts"], 1, "{summary}");
    }
    let run_id = summary["run_id"].as_str().expect("run id");
    let slow = std::fs::read_to_string(log.join(run_id).join("slow/1.log")).expect("log");
    assert!(
        slow.contains("the attempt goes back to the queue"),
        "{slow}"
    );
    assert!(slow.trim_end().ends_with("slept"), "{slow}");
    let (code, err) = second.drain();
    assert_eq!(code, Some(0), "{err}");
    assert!(
        err.contains("2 attempt(s) finished, 0 handed back"),
        "{err}"
    );
    // `sluice gc` forgets the queue's ended attempts and the stopped workers.
    let gc = |dry: bool| {
        let mut args = vec!["--home", &home_arg, "gc", "--older-than", "0s", "--json"];
        if dry {
            args.push("--dry-run");
        }
        let out = p.sluice(&args);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
        v["queue"].clone()
    };
    assert_eq!(gc(true), serde_json::json!({ "attempts": 2, "workers": 2 }));
    assert_eq!(
        gc(false),
        serde_json::json!({ "attempts": 2, "workers": 2 })
    );
    assert_eq!(gc(true), serde_json::json!({ "attempts": 0, "workers": 0 }));
    let listed = p.sluice(&["--home", &home_arg, "workers", "--all", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&listed.stdout).expect("json");
    assert_eq!(v["workers"], serde_json::json!([]), "{v}");
}

/// An attempt's environment may hold secrets: it is queued only sealed with
/// `SLUICE_QUEUE_KEY`, a worker without the key (or with another) cannot read it, and once
/// the attempt ended the queue keeps nothing of it.
#[test]
fn attempts_with_secrets_are_queued_only_sealed_with_the_queue_key() {
    const SECRET: &str = "s3cr3t-Value-42";
    const KEY: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
    const OTHER: &str = "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100";
    let p = Project::new(
        "name: secretive\ntasks:\n  shout:\n    run: \"echo token=$MY_SECRET\"\n    env: { MY_SECRET: \"${env.API_TOKEN}\" }\n",
    );
    let home = p.path(".sluice");
    std::fs::create_dir_all(&home).expect("home");
    let home_arg = home.display().to_string();
    let worker = |key: Option<&str>| {
        let mut c = p.cmd(&["--home", &home_arg, "worker", "--slots", "1"]);
        if let Some(k) = key {
            c.env("SLUICE_QUEUE_KEY", k);
        }
        Worker {
            child: c
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .expect("worker"),
        }
    };
    let command = |key: Option<&str>| {
        let mut c = p.cmd(&[
            "run",
            "pipeline.yaml",
            "--executor",
            "workers",
            "--force",
            "--json",
        ]);
        c.env("API_TOKEN", SECRET);
        if let Some(k) = key {
            c.env("SLUICE_QUEUE_KEY", k);
        }
        c
    };
    let run = |key: Option<&str>| {
        let out = command(key).output().expect("run");
        let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        (out, summary)
    };
    let error_of = |summary: &serde_json::Value| {
        let id = summary["run_id"].as_str().expect("run id");
        let show = p.show(id);
        common::attempts(&show, "shout")[0]["error"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };

    // No key: refused before anything is queued.
    let (out, summary) = run(None);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert_eq!(
        error_of(&summary),
        "task `shout` has secret values: set SLUICE_QUEUE_KEY (64 hexadecimal digits, the \
         same for this process and its workers) to queue it sealed; sluice keeps no secret in \
         clear in the state store"
    );
    // A key that is not one: refused at once.
    let mut bad = p.cmd(&["run", "pipeline.yaml", "--executor", "workers"]);
    let out = bad
        .env("SLUICE_QUEUE_KEY", "not-hex")
        .env("API_TOKEN", SECRET)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out).contains(
            "error: SLUICE_QUEUE_KEY must be 64 hexadecimal digits (32 bytes; `openssl rand -hex 32` makes one)"
        ),
        "{}",
        text(&out)
    );

    // A worker with another key cannot open it: it hands the attempt back and stops, saying
    // why; a worker with the key then runs the same attempt (no retry spent).
    let mut stranger = worker(Some(OTHER));
    let pending = command(Some(KEY))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run");
    let mut stopped = None;
    wait_for("the stranger to stop", Duration::from_secs(30), || {
        stopped = stranger.child.try_wait().ok().flatten();
        stopped.is_some()
    });
    let mut err = String::new();
    if let Some(mut e) = stranger.child.stderr.take() {
        let _ = e.read_to_string(&mut err);
    }
    assert_eq!(stopped.and_then(|s| s.code()), Some(3), "{err}");
    assert!(
        err.contains(
            "error: cannot open the attempt's description: sealed with another key (is \
             SLUICE_QUEUE_KEY the same here as on the process that queued it?)\nthis worker \
             stopped and handed the attempt back to the queue"
        ),
        "{err}"
    );
    assert!(
        err.contains("0 attempt(s) finished, 1 handed back"),
        "{err}"
    );
    let helper = worker(Some(KEY));
    let out = pending.wait_with_output().expect("run ends");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).expect("summary");
    assert_eq!(summary["tasks"][0]["attempts"], 1, "{summary}");
    drop(helper);

    // The same key: it runs, the secret masked in the log; nothing stays in the queue.
    let trusted = worker(Some(KEY));
    let (out, summary) = run(Some(KEY));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let id = summary["run_id"].as_str().expect("run id");
    let log = std::fs::read_to_string(home.join("logs").join(id).join("shout/1.log")).expect("log");
    assert!(log.contains("token=***"), "{log}");
    assert!(!log.contains(SECRET), "{log}");
    let (code, err) = trusted.drain();
    assert_eq!(code, Some(0), "{err}");
    let db = std::fs::read(home.join("state.db")).expect("store");
    let wal = std::fs::read(home.join("state.db-wal")).unwrap_or_default();
    for bytes in [db, wal] {
        assert!(
            !bytes.windows(SECRET.len()).any(|w| w == SECRET.as_bytes()),
            "the store holds the secret in clear"
        );
    }
}
