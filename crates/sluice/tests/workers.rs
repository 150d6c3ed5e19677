//! Tasks on a pool of workers: one `sluice serve --executor workers` and three `sluice
//! worker` processes on a real PostgreSQL, a 200-task DAG, one worker killed with SIGKILL
//! and one frozen past its lease in the middle of the run.

mod common;

use std::io::Read;
use std::process::{Child, Stdio};
use std::time::Duration;

use common::{Project, Server, client, pg_database, pg_query, run_state, text, trigger, wait_for};

/// 180 commands and 20 SQL tasks writing datasets, in 20 layers of 10: each task waits for
/// the one ten before it.
fn fleet() -> String {
    let mut y = String::from("name: fleet\ndefaults: { retries: 3, retry_delay: 100ms }\ntasks:\n");
    for i in 0..200 {
        let after = if i >= 10 {
            format!(", after: [t{:03}]", i - 10)
        } else {
            String::new()
        };
        if i % 10 == 9 {
            y.push_str(&format!(
                "  t{i:03}: {{ op: sql, sql: \"SELECT {i} AS n\"{after} }}\n"
            ));
        } else {
            y.push_str(&format!("  t{i:03}: {{ run: \"sleep 0.05\"{after} }}\n"));
        }
    }
    y
}

struct Worker {
    child: Child,
}

impl Worker {
    fn start(p: &Project, url: &str) -> Worker {
        let child = p
            .cmd(&["worker", "--slots", "4", "--lease", "2s", "--poll", "20ms"])
            .env("SLUICE_STATE", url)
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
    let server = Server::start_with(
        &p,
        &[("SLUICE_STATE", &url), ("SLUICE_EXECUTOR", "workers")],
    );
    let workers: Vec<Worker> = (0..3).map(|_| Worker::start(&p, &url)).collect();
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
    let run = trigger(&c, &server, &token, "fleet", serde_json::json!({}));

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

    // Each dataset version was published once: one version folder per task, no `V.2`.
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
