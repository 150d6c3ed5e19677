//! Black-box tests of the `sluice` binary: each test writes a pipeline in a temporary folder,
//! runs the real binary, and checks exit codes, output and what the state store recorded.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

mod common;
use common::{Project, attempts, is_alive, micros, task, text};

/// A counter file: the command fails until it has been run `n` times.
const FLAKY: &str = r#"
name: flaky
tasks:
  flaky:
    run: n=$(cat count 2>/dev/null || echo 0); n=$((n+1)); echo $n > count; echo "attempt $n"; [ $n -ge 3 ]
    retries: 3
    retry_delay: 20ms
"#;

#[test]
fn task_failing_twice_then_succeeding_records_three_attempts() {
    let p = Project::new(FLAKY);
    let out = p.run_ok(&["run", "pipeline.yaml"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("up_for_retry"), "{stdout}");
    let show = p.show(&p.last_run_id());
    assert_eq!(show["run"]["state"], "succeeded");
    assert_eq!(task(&show, "flaky")["state"], "succeeded");
    assert_eq!(task(&show, "flaky")["attempts"], 3);
    let states: Vec<&str> = attempts(&show, "flaky")
        .iter()
        .map(|a| a["state"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(states, vec!["failed", "failed", "succeeded"]);
    assert_eq!(attempts(&show, "flaky")[0]["exit_code"], 1);
    assert_eq!(
        attempts(&show, "flaky")[0]["error"],
        "command exited with code 1"
    );
    // Each attempt has its own log.
    let log1 = p.sluice(&["logs", &p.last_run_id(), "flaky", "--attempt", "1"]);
    assert_eq!(
        String::from_utf8_lossy(&log1.stdout),
        "attempt 1\nsluice: attempt 1 failed: command exited with code 1\n"
    );
    let log3 = p.sluice(&["logs", &p.last_run_id(), "flaky"]);
    assert_eq!(String::from_utf8_lossy(&log3.stdout), "attempt 3\n");
}

const ALWAYS_FAILS: &str = r#"
name: broken
tasks:
  extract: { run: "n=$(cat extract.count 2>/dev/null || echo 0); echo $((n+1)) > extract.count" }
  transform:
    run: test -f fixed
    after: extract
    retries: 2
    retry_delay: 150ms
  load: { run: echo loaded >> load.out, after: transform }
  publish: { run: echo published, after: load }
  side_branch: { run: "sleep 0.3; echo side >> side.out", after: extract }
"#;

#[test]
fn always_failing_task_fails_downstream_then_resume_runs_only_the_failed_part() {
    let p = Project::new(ALWAYS_FAILS);
    let out = p.sluice(&["run", "pipeline.yaml"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("--resume"), "{stdout}");
    let run_id = p.last_run_id();
    let show = p.show(&run_id);
    assert_eq!(show["run"]["state"], "failed");
    assert_eq!(task(&show, "transform")["state"], "failed");
    assert_eq!(task(&show, "transform")["attempts"], 3);
    assert_eq!(task(&show, "load")["state"], "upstream_failed");
    assert_eq!(
        task(&show, "load")["error"],
        "upstream task `transform` failed"
    );
    assert_eq!(task(&show, "publish")["state"], "upstream_failed");
    // The independent branch finished.
    assert_eq!(task(&show, "side_branch")["state"], "succeeded");
    assert_eq!(p.read("side.out"), "side\n");

    // Delays between attempts grow exponentially from the 150ms base (plus ≤25% jitter).
    let a = attempts(&show, "transform");
    let gap1 = micros(&a[1]["started_at"]) - micros(&a[0]["ended_at"]);
    let gap2 = micros(&a[2]["started_at"]) - micros(&a[1]["ended_at"]);
    assert!(gap1 >= 150_000, "first retry after {gap1}µs");
    assert!(gap2 >= 300_000, "second retry after {gap2}µs");
    assert!(gap2 > gap1, "{gap1} then {gap2}");

    // Fix the cause, resume: only the failed task and what depends on it run.
    std::fs::write(p.path("fixed"), "").expect("fix");
    let out = p.run_ok(&["run", "pipeline.yaml", "--resume", &run_id]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains(&format!("resuming {run_id}")), "{stdout}");
    let show = p.show(&run_id);
    assert_eq!(show["run"]["state"], "succeeded");
    assert_eq!(
        task(&show, "transform")["attempts"],
        4,
        "attempt numbers continue"
    );
    assert_eq!(task(&show, "load")["state"], "succeeded");
    assert_eq!(task(&show, "publish")["state"], "succeeded");
    assert_eq!(p.read("extract.count"), "1\n", "extract ran once");
    assert_eq!(p.read("side.out"), "side\n", "side branch ran once");
    assert_eq!(p.read("load.out"), "loaded\n");
}

const KILLABLE: &str = r#"
name: killable
tasks:
  first: { run: "n=$(cat first.count 2>/dev/null || echo 0); echo $((n+1)) > first.count" }
  slow:
    run: "if [ -f fast ]; then echo fast; else sleep 30 & echo $! > slow.pid; touch slow.started; wait; fi"
    after: first
  last: { run: echo done > last.out, after: slow }
"#;

fn wait_for(path: &Path, limit: Duration) {
    let start = Instant::now();
    while !path.exists() {
        assert!(start.elapsed() < limit, "{} did not appear", path.display());
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn kill_9_mid_run_then_resume_finishes_without_rerunning_succeeded_tasks() {
    let p = Project::new(KILLABLE);
    let mut child = p
        .cmd(&["run", "pipeline.yaml"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    wait_for(&p.path("slow.started"), Duration::from_secs(20));
    child.kill().expect("kill -9");
    let _ = child.wait();

    let run_id = p.last_run_id();
    std::fs::write(p.path("fast"), "").expect("make slow fast");
    let out = p.run_ok(&["run", "pipeline.yaml", "--resume", &run_id]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("1 already succeeded"),
        "{}",
        text(&out)
    );

    let show = p.show(&run_id);
    assert_eq!(show["run"]["state"], "succeeded");
    assert_eq!(p.read("first.count"), "1\n", "first must not run again");
    assert_eq!(p.read("last.out"), "done\n");
    let slow = attempts(&show, "slow");
    assert_eq!(slow.len(), 2);
    assert_eq!(slow[0]["state"], "failed");
    assert!(
        slow[0]["error"]
            .as_str()
            .unwrap_or("")
            .starts_with("interrupted: the sluice process (pid "),
        "{:#}",
        slow[0]
    );
    assert_eq!(slow[1]["state"], "succeeded");
    // The interrupted command's process group was killed when the run was taken over.
    let pid: i32 = p.read("slow.pid").trim().parse().expect("pid");
    assert!(
        !is_alive(pid),
        "the interrupted command's child {pid} is still running"
    );
    let running: Vec<_> = show["attempts"]
        .as_array()
        .expect("attempts")
        .iter()
        .filter(|a| a["state"] == "running")
        .collect();
    assert!(running.is_empty(), "attempts left running: {running:?}");
}

const CACHEABLE: &str = r#"
name: cacheable
params: { greeting: hello }
tasks:
  a: { run: "echo ${params.greeting} >> a.out" }
  b: { run: echo b >> b.out, after: a }
  c: { run: echo c >> c.out, after: b }
  d: { run: echo d >> d.out }
"#;

#[test]
fn unchanged_second_run_executes_nothing_and_force_overrides() {
    let p = Project::new(CACHEABLE);
    p.run_ok(&["run", "pipeline.yaml"]);
    let out = p.run_ok(&["run", "pipeline.yaml"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("succeeded in"), "{stdout}");
    assert!(stdout.contains(": 4 cached\n"), "{stdout}");
    assert!(stdout.contains("nothing to do"), "{stdout}");
    assert_eq!(
        (p.read("a.out"), p.read("d.out")),
        ("hello\n".into(), "d\n".into())
    );

    // --force-task reruns the task and everything downstream, nothing else.
    p.run_ok(&["run", "pipeline.yaml", "--force-task", "b"]);
    assert_eq!(
        (
            p.read("a.out"),
            p.read("b.out"),
            p.read("c.out"),
            p.read("d.out")
        ),
        (
            "hello\n".into(),
            "b\nb\n".into(),
            "c\nc\n".into(),
            "d\n".into()
        )
    );
    // --force reruns everything.
    p.run_ok(&["run", "pipeline.yaml", "--force"]);
    assert_eq!(p.read("d.out"), "d\nd\n");
    // A changed parameter changes the fingerprint of `a` and, through it, of b and c.
    p.run_ok(&["run", "pipeline.yaml", "--param", "greeting=bonjour"]);
    assert_eq!(p.read("a.out"), "hello\nhello\nbonjour\n");
    assert_eq!(p.read("c.out"), "c\nc\nc\nc\n");
    assert_eq!(p.read("d.out"), "d\nd\n");
    let show = p.show(&p.last_run_id());
    assert_eq!(task(&show, "d")["state"], "cached");
    assert_eq!(show["run"]["params"]["greeting"], "bonjour");
}

#[test]
fn task_selection_runs_the_task_and_its_upstream_only() {
    let p = Project::new(CACHEABLE);
    p.run_ok(&["run", "pipeline.yaml", "--task", "b"]);
    assert_eq!(
        (
            p.read("a.out"),
            p.read("b.out"),
            p.read("c.out"),
            p.read("d.out")
        ),
        ("hello\n".into(), "b\n".into(), String::new(), String::new())
    );
    let out = p.sluice(&["run", "pipeline.yaml", "--task", "bb"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "error: unknown task `bb` (did you mean `b`?)\n"
    );
}

#[test]
fn timeout_kills_the_whole_process_group() {
    let p = Project::new(
        r#"
name: slow
tasks:
  hang:
    run: "sleep 30 & echo $! > bg.pid; wait"
    timeout: 300ms
"#,
    );
    let start = Instant::now();
    let out = p.sluice(&["run", "pipeline.yaml"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(start.elapsed() < Duration::from_secs(10));
    let show = p.show(&p.last_run_id());
    assert_eq!(task(&show, "hang")["state"], "failed");
    assert_eq!(attempts(&show, "hang")[0]["error"], "timed out after 300ms");
    let pid: i32 = p.read("bg.pid").trim().parse().expect("pid");
    let alive = Path::new(&format!("/proc/{pid}")).exists()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .unwrap_or_default()
            .contains(") Z ");
    assert!(!alive, "background child {pid} survived the timeout");
}

#[test]
fn ctrl_c_cancels_the_run_and_kills_running_commands() {
    let p = Project::new(
        r#"
name: interruptible
tasks:
  long: { run: "touch started; sleep 30" }
  after_long: { run: echo never > never.out, after: long }
"#,
    );
    let child = p
        .cmd(&["run", "pipeline.yaml"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    wait_for(&p.path("started"), Duration::from_secs(20));
    let start = Instant::now();
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let out = child.wait_with_output().expect("wait");
    assert!(start.elapsed() < Duration::from_secs(10));
    assert_eq!(out.status.code(), Some(130), "{}", text(&out));
    let show = p.show(&p.last_run_id());
    assert_eq!(show["run"]["state"], "cancelled");
    assert_eq!(task(&show, "long")["state"], "cancelled");
    assert_eq!(task(&show, "after_long")["state"], "cancelled");
    assert!(!p.path("never.out").exists());
}

#[test]
fn parallel_tasks_respect_max_parallel() {
    let p = Project::new(
        r#"
name: wide
max_parallel: 2
tasks:
  a: { op: sleep, duration: 300ms }
  b: { op: sleep, duration: 300ms }
  c: { op: sleep, duration: 300ms }
  d: { op: sleep, duration: 300ms }
"#,
    );
    p.run_ok(&["run", "pipeline.yaml"]);
    let show = p.show(&p.last_run_id());
    let spans: Vec<(i64, i64)> = show["attempts"]
        .as_array()
        .expect("attempts")
        .iter()
        .map(|a| (micros(&a["started_at"]), micros(&a["ended_at"])))
        .collect();
    assert_eq!(spans.len(), 4);
    // Largest number of attempts running at the same instant.
    let mut peak = 0;
    for &(s, _) in &spans {
        peak = peak.max(spans.iter().filter(|&&(s2, e2)| s2 <= s && s < e2).count());
    }
    assert_eq!(peak, 2);
}

#[test]
fn secrets_are_masked_in_logs_and_streamed_output() {
    let p = Project::new(
        r#"
name: secretive
tasks:
  call_api:
    run: echo "calling with $API_TOKEN and ${env.PLAIN_VALUE}"
    env: { API_TOKEN: "${env.TEST_API_TOKEN}" }
"#,
    );
    let out = p
        .cmd(&["run", "pipeline.yaml", "--stream"])
        .env("TEST_API_TOKEN", "tok-very-secret")
        .env("PLAIN_VALUE", "visible")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(!String::from_utf8_lossy(&out.stdout).contains("tok-very-secret"));
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .contains("call_api                 | calling with *** and visible")
    );
    let log = p.sluice(&["logs", &p.last_run_id(), "call_api"]);
    assert_eq!(
        String::from_utf8_lossy(&log.stdout),
        "calling with *** and visible\n"
    );
}

#[test]
fn validate_reports_every_error_with_position_and_exit_code_2() {
    let p = Project::new("name: x\ntasks:\n  a: { op: slep }\n  b: { run: echo, after: [c] }\n");
    let out = p.sluice(&["validate", "pipeline.yaml"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "pipeline.yaml:3:12: error: `tasks.a.op`: unknown op `slep` (did you mean `sleep`?)\n\
         pipeline.yaml:4:27: error: `tasks.b.after`: unknown task `c`\n\
         pipeline.yaml: 2 errors\n"
    );
    // `run` validates first and runs nothing.
    let out = p.sluice(&["run", "pipeline.yaml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .ends_with("pipeline.yaml: 2 errors found; nothing was run\n")
    );
    assert!(!p.path(".sluice").exists());

    let json = p.sluice(&["validate", "--json", "pipeline.yaml"]);
    let v: Value = serde_json::from_slice(&json.stdout).expect("json");
    assert_eq!(v[0]["errors"][0]["line"], 3);
    assert_eq!(v[0]["errors"][0]["column"], 12);

    std::fs::write(
        p.path("good.yaml"),
        "name: good\ntasks:\n  a: { op: noop }\n",
    )
    .expect("write");
    let out = p.run_ok(&["validate", "good.yaml"]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "ok: good.yaml (pipeline `good`, 1 tasks)\n"
    );
    let out = p.sluice(&["validate", "missing.yaml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .starts_with("error: cannot read pipeline file missing.yaml: ")
    );
}

#[test]
fn graph_draws_text_dot_and_mermaid() {
    let p = Project::new(
        "name: g\ntasks:\n  a: { op: noop }\n  b: { run: echo, after: a }\n  c: { op: noop, after: [a, b] }\n",
    );
    let out = p.run_ok(&["graph", "pipeline.yaml"]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "g — 3 tasks\nlevel 0\n  a (noop)\nlevel 1\n  b (run)  ← a\nlevel 2\n  c (noop)  ← a, b\n"
    );
    let out = p.run_ok(&["graph", "pipeline.yaml", "--format", "mermaid"]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "flowchart LR\n  a[\"a (noop)\"]\n  b[\"b (run)\"]\n  c[\"c (noop)\"]\n  a --> b\n  a --> c\n  b --> c\n"
    );
    let out = p.run_ok(&["graph", "pipeline.yaml", "--format", "dot"]);
    let dot = String::from_utf8_lossy(&out.stdout);
    assert!(
        dot.starts_with("digraph \"g\" {\n") && dot.contains("  \"a\" -> \"c\";\n"),
        "{dot}"
    );
}

#[test]
fn read_commands_explain_missing_things() {
    let p = Project::new(CACHEABLE);
    let out = p.sluice(&["runs"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no .sluice folder in"));
    p.run_ok(&["run", "pipeline.yaml"]);
    let out = p.sluice(&["show", "nope"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "error: no run `nope` (list runs with `sluice runs`)\n"
    );
    let out = p.sluice(&["logs", &p.last_run_id(), "aa"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("(did you mean `a`?)"));
    // A task the second run took from the cache has no log of its own in that run.
    p.run_ok(&["run", "pipeline.yaml"]);
    let out = p.sluice(&["logs", &p.last_run_id(), "a"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        format!(
            "error: task `a` made no attempt in run {}: it was cached: an earlier run made its \
             output with the same inputs and settings, and that run's log has it (`sluice runs` \
             lists the runs)\n",
            p.last_run_id()
        )
    );
    let out = p.run_ok(&["runs"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("RUN") && stdout.contains("cacheable") && stdout.contains("succeeded"),
        "{stdout}"
    );
}

#[test]
fn postgres_state_store_records_runs_like_sqlite() {
    let Ok(url) = std::env::var("SLUICE_TEST_PG_URL") else {
        assert!(
            std::env::var("CI").is_err(),
            "CI must run this test: SLUICE_TEST_PG_URL is not set (scripts/test.sh starts PostgreSQL)"
        );
        eprintln!(
            "SKIPPED postgres_state_store_records_runs_like_sqlite: SLUICE_TEST_PG_URL is not set"
        );
        return;
    };
    let name = format!("flaky_pg_{}", std::process::id());
    let p = Project::new(&FLAKY.replace("name: flaky", &format!("name: {name}")));
    let with_pg = |args: &[&str]| {
        let out = p.cmd(args).env("SLUICE_STATE", &url).output().expect("run");
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        out
    };
    with_pg(&["run", "pipeline.yaml"]);
    let runs: Value =
        serde_json::from_slice(&with_pg(&["runs", &name, "--json"]).stdout).expect("json");
    let run_id = runs[0]["id"].as_str().expect("id").to_string();
    let show: Value =
        serde_json::from_slice(&with_pg(&["show", &run_id, "--json"]).stdout).expect("json");
    assert_eq!(show["run"]["state"], "succeeded");
    assert_eq!(task(&show, "flaky")["attempts"], 3);
    assert!(
        !p.path(".sluice/state.db").exists(),
        "nothing written to SQLite"
    );
    // Unchanged: the second run is cached, from the fingerprints kept in PostgreSQL.
    let out = with_pg(&["run", "pipeline.yaml"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains(": 1 cached\n"));
}

#[test]
fn reference_example_runs_end_to_end() {
    let tmp = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("tempdir");
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/hello/pipeline.yaml");
    let home = tmp.path().join("home");
    let out_dir = tmp.path().join("out");
    let run = |extra: &[&str]| {
        let mut args = vec![
            "run".to_string(),
            example.display().to_string(),
            "--home".into(),
            home.display().to_string(),
            "--param".into(),
            format!("out={}", out_dir.display()),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        let out = Command::new(env!("CARGO_BIN_EXE_sluice"))
            .args(&args)
            .env_remove("SLUICE_STATE")
            .output()
            .expect("run");
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    let first = run(&[]);
    assert!(
        first.contains("flaky_upload             up_for_retry"),
        "{first}"
    );
    assert!(first.contains(": 7 succeeded\n"), "{first}");
    let read = |f: &str| std::fs::read_to_string(out_dir.join(f)).unwrap_or_default();
    assert_eq!(read("words.txt"), "65\n");
    assert_eq!(read("lines.txt"), "4\n");
    assert_eq!(read("uploaded.txt"), "65\n");
    assert_eq!(
        read("top_words.txt").lines().next().map(str::trim),
        Some("5 the")
    );
    let second = run(&[]);
    assert!(second.contains(": 7 cached\n"), "{second}");
}

#[test]
fn cache_false_task_runs_every_time_and_so_does_its_downstream() {
    let p = Project::new(
        r#"
name: always
tasks:
  fetch: { run: echo f >> fetch.out, cache: false }
  parse: { run: echo p >> parse.out, after: fetch }
  other: { run: echo o >> other.out }
"#,
    );
    p.run_ok(&["run", "pipeline.yaml"]);
    p.run_ok(&["run", "pipeline.yaml"]);
    assert_eq!(
        (
            p.read("fetch.out"),
            p.read("parse.out"),
            p.read("other.out")
        ),
        ("f\nf\n".into(), "p\np\n".into(), "o\n".into())
    );
}

#[test]
fn secret_parameters_are_masked_and_never_stored() {
    let p = Project::new(
        r#"
name: secret_params
params: { token: "${env.TEST_API_TOKEN}", day: monday }
tasks:
  call: { run: "echo token=${params.token} day=${params.day}" }
"#,
    );
    let out = p
        .cmd(&["run", "pipeline.yaml"])
        .env("TEST_API_TOKEN", "tok-very-secret")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let run_id = p.last_run_id();
    let log = p.sluice(&["logs", &run_id, "call"]);
    assert_eq!(
        String::from_utf8_lossy(&log.stdout),
        "token=*** day=monday\n"
    );
    let show = p.show(&run_id);
    assert_eq!(show["run"]["params"], serde_json::json!({"day": "monday"}));
    for file in [".sluice/state.db", ".sluice/state.db-wal"] {
        let bytes = std::fs::read(p.path(file)).unwrap_or_default();
        assert!(
            !bytes.windows(15).any(|w| w == b"tok-very-secret"),
            "the secret reached {file}"
        );
    }
}

#[test]
fn new_makes_a_runnable_folder_per_template_whose_test_passes_and_never_overwrites() {
    let p = Project::new("");
    for template in ["etl", "ml", "dbt"] {
        let name = format!("my_{template}");
        let out = p.run_ok(&["new", "pipeline", &name, "--template", template]);
        let said = text(&out);
        assert!(
            said.contains(&format!("created {name} ({template} template):")),
            "{said}"
        );
        assert!(said.contains(" passed, 0 failed"), "{said}");
        assert!(p.path(&format!("{name}/README.md")).is_file());
    }
    // The etl pipeline runs and writes what its test expects.
    p.run_ok(&["run", "my_etl/pipeline.yaml"]);
    assert_eq!(
        p.read("my_etl/out/per_customer.csv")
            .lines()
            .skip(1)
            .collect::<std::collections::BTreeSet<_>>(),
        ["alice,1,20.5", "bob,2,15.0", "carol,1,7.25"]
            .into_iter()
            .collect()
    );
    assert!(
        p.read("my_etl/pipeline.yaml")
            .starts_with("# my_etl: orders")
    );
    // The embeddings template with the real model, when there is one.
    if let Some(model) = common::model_dir() {
        let models = p.path("models");
        std::fs::create_dir_all(&models).expect("mkdir");
        std::os::unix::fs::symlink(&model, models.join("all-MiniLM-L6-v2")).expect("link");
        let out = p
            .cmd(&["new", "pipeline", "my_vectors", "--template", "embeddings"])
            .env("SLUICE_MODELS", &models)
            .output()
            .expect("new");
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        assert!(
            text(&out).contains("1 test: 1 passed, 0 failed"),
            "{}",
            text(&out)
        );
    }
    // Never over what exists; names as pipelines have them.
    let before = p.read("my_etl/pipeline.yaml");
    let out = p.sluice(&["new", "pipeline", "my_etl"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("error: my_etl already exists and is not empty: nothing was written"),
        "{}",
        text(&out)
    );
    assert_eq!(p.read("my_etl/pipeline.yaml"), before);
    let out = p.sluice(&["new", "pipeline", "Bad-Name", "--dir", "elsewhere"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("error: invalid pipeline name `Bad-Name`"),
        "{}",
        text(&out)
    );
    assert!(!p.path("elsewhere").exists());
}

/// A webhook: answers 500 to the first request and 200 to the others; the JSON bodies.
fn webhook() -> (String, std::sync::Arc<std::sync::Mutex<Vec<Value>>>) {
    use std::io::Write;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!(
        "http://{}/hooks/T000/B000/secret-token",
        listener.local_addr().expect("addr")
    );
    let bodies = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = bodies.clone();
    std::thread::spawn(move || {
        for (n, stream) in listener.incoming().enumerate() {
            let Ok(mut stream) = stream else { continue };
            let (_, _, body) = common::read_request(&stream);
            if let Ok(v) = serde_json::from_slice::<Value>(&body) {
                seen.lock().expect("lock").push(v);
            }
            let status = if n == 0 {
                "500 Internal Server Error"
            } else {
                "200 OK"
            };
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok"
            );
        }
    });
    (url, bodies)
}

#[test]
fn alerts_reach_their_webhook_retried_and_never_fail_a_run() {
    let p = Project::new(
        r#"
name: alerting
on_failure: { webhook_env: HOOK_URL }
on_retry: { webhook_env: HOOK_URL }
tasks:
  flaky:
    run: n=$(cat count 2>/dev/null || echo 0); n=$((n+1)); echo $n > count; [ $n -ge 2 ]
    retries: 1
    retry_delay: 10ms
    on_success: { webhook_env: HOOK_URL }
  broken: { run: "echo disk on fire >&2; exit 3", after: [flaky] }
"#,
    );
    let (url, bodies) = webhook();
    let out = p
        .cmd(&["run", "pipeline.yaml"])
        .env("HOOK_URL", &url)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(!text(&out).contains("alerts:"), "{}", text(&out));
    let bodies = bodies.lock().expect("lock").clone();
    let events: Vec<&str> = bodies.iter().filter_map(|b| b["event"].as_str()).collect();
    // The retry alert met a 500 and was sent again; then flaky's success; then the run's
    // failure, once (broken has no alert of its own).
    assert_eq!(
        events,
        ["retry", "retry", "success", "failure"],
        "{bodies:?}"
    );
    let retry = bodies[1]["text"].as_str().expect("text");
    assert!(
        retry.starts_with(
            "sluice: task `flaky` of pipeline `alerting` failed (attempt 1), retrying:"
        ),
        "{retry}"
    );
    assert_eq!(bodies[3]["pipeline"], "alerting");
    assert_eq!(bodies[3]["task"], Value::Null);
    let failure = bodies[3]["text"].as_str().expect("text");
    assert!(failure.starts_with("sluice: run "), "{failure}");
    assert!(
        failure.contains("of pipeline `alerting` failed"),
        "{failure}"
    );

    // A webhook that cannot be reached, or is not configured: the run succeeds all the same,
    // and the message names the variable, never the URL.
    let ok = Project::new(
        "name: quiet\non_success: { webhook_env: HOOK_URL }\ntasks:\n  a: { run: 'true' }\n",
    );
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        format!(
            "http://{}/hooks/secret-token",
            l.local_addr().expect("addr")
        )
    };
    let out = ok
        .cmd(&["run", "pipeline.yaml"])
        .env("HOOK_URL", &closed)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let said = text(&out);
    assert!(
        said.contains(
            "alerts: the webhook of HOOK_URL did not take the success alert: it cannot be reached"
        ),
        "{said}"
    );
    assert!(!said.contains("secret-token"), "{said}");
    let out = ok
        .cmd(&["run", "pipeline.yaml", "--force"])
        .env_remove("HOOK_URL")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).contains("alerts: HOOK_URL is not set: the success alert was not sent"),
        "{}",
        text(&out)
    );
}
