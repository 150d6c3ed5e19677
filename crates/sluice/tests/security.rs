//! The holes a review found, each tried as an attacker would against the real server and
//! binary: parameters that try to become shell code, secrets looked for in every answer a
//! viewer gets, a flood of logins, concurrent triggers past `max_active_runs`, two `sluice
//! run` of one pipeline at once, a huge log, and methods a path does not have.

mod common;

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use common::{
    Project, Server, call, client, json_of, run_json, run_state, runs_of, text, trigger,
    user_with_token, wait_for,
};

const INJECT: &str = "x; touch PWNED #";

#[test]
fn an_operator_cannot_turn_a_parameter_into_a_shell_command() {
    // `out` is not settable through the API; `dir` is, without a pattern.
    let p = Project::new(
        r#"
name: hello
params:
  out: out
  dir: { default: out, api: true }
tasks:
  a: { run: "mkdir -p ${params.out} && echo made > ${params.out}/a.txt" }
  b: { run: "mkdir -p ${params.dir} && echo made > '${params.dir}/b.txt'", after: a }
"#,
    );
    let operator = user_with_token(&p, "otto", "operator");
    let s = Server::start(&p);
    let c = client();
    // Not settable: 400 naming it, and nothing runs.
    let r = call(
        &c,
        &s,
        Method::POST,
        "/api/pipelines/hello/runs",
        Some(&operator),
    )
    .json(&json!({"params": {"out": INJECT}}))
    .send()
    .expect("trigger");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let msg = json_of(r)["error"].as_str().unwrap_or_default().to_string();
    assert!(
        msg.contains("parameter `out` cannot be set through the API"),
        "{msg}"
    );
    assert!(runs_of(&c, &s, &operator, "hello").is_empty());
    // Settable: the value is data, one word, whatever it holds.
    let id = trigger(
        &c,
        &s,
        &operator,
        "hello",
        json!({"params": {"dir": INJECT}}),
    );
    wait_for("the run", Duration::from_secs(30), || {
        run_state(&c, &s, &operator, &id) == "succeeded"
    });
    assert!(!p.path("PWNED").exists(), "an injected command ran");
    assert_eq!(p.read(&format!("{INJECT}/b.txt")), "made\n");
    assert_eq!(p.read("out/a.txt"), "made\n");
    // The command line may set any declared parameter, and it stays data there too.
    p.run_ok(&[
        "run",
        "pipeline.yaml",
        "--param",
        &format!("out={INJECT}"),
        "--force",
    ]);
    assert!(!p.path("PWNED").exists(), "an injected command ran");
    assert_eq!(p.read(&format!("{INJECT}/a.txt")), "made\n");
    // An API value may not point a download at this machine.
    std::fs::write(
        p.path("get.yaml"),
        r#"
name: get
params:
  src: { default: "https://example.org/a.csv", api: true }
tasks:
  get: { op: fetch, url: "${params.src}" }
"#,
    )
    .expect("get.yaml");
    wait_for("the new file", Duration::from_secs(10), || {
        call(&c, &s, Method::GET, "/api/pipelines/get", Some(&operator))
            .send()
            .is_ok_and(|r| r.status() == StatusCode::OK)
    });
    for (value, why) in [
        ("file:///etc/passwd", "is a `file://` URL"),
        ("http://127.0.0.1:5432/", "127.0.0.1 is a loopback address"),
        (
            "http://169.254.169.254/latest/meta-data/",
            "is a link-local address",
        ),
    ] {
        let r = call(
            &c,
            &s,
            Method::POST,
            "/api/pipelines/get/runs",
            Some(&operator),
        )
        .json(&json!({"params": {"src": value}}))
        .send()
        .expect("trigger");
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{value}");
        let msg = json_of(r)["error"].as_str().unwrap_or_default().to_string();
        assert!(msg.contains(why), "{value}: {msg}");
    }
    assert!(runs_of(&c, &s, &operator, "get").is_empty());
}

#[test]
fn a_viewer_sees_no_secret_value_anywhere() {
    const SECRET: &str = "s3cr3t-Value-42";
    let p = Project::new(
        r#"
name: leaky
params:
  token: "${env.API_TOKEN}"
  day: monday
tasks:
  shout:
    run: "echo token=${params.token} env=$MY_SECRET; echo server-state=$SLUICE_STATE_TEST"
    env: { MY_SECRET: "${env.API_TOKEN}" }
  call:
    op: fetch
    url: "http://127.0.0.1:9/data.csv?key=${params.token}"
    request_retries: 0
    retries: 0
    after: shout
"#,
    );
    let viewer = user_with_token(&p, "vic", "viewer");
    let operator = user_with_token(&p, "otto", "operator");
    let s = Server::start_with(
        &p,
        &[
            ("API_TOKEN", SECRET),
            ("SLUICE_STATE_TEST", "postgres://u:pw-of-the-store@db/x"),
        ],
    );
    let c = client();
    let id = trigger(&c, &s, &operator, "leaky", json!({}));
    wait_for("the run", Duration::from_secs(60), || {
        run_state(&c, &s, &viewer, &id) == "failed"
    });
    let run = run_json(&c, &s, &viewer, &id);
    let error = run["attempts"]
        .as_array()
        .and_then(|a| a.iter().find(|a| a["task"] == "call"))
        .map(|a| a["error"].as_str().unwrap_or_default().to_string())
        .unwrap_or_default();
    assert!(error.contains("data.csv?***"), "{error}");
    let mut bodies = Vec::new();
    for path in [
        "/api/pipelines".to_string(),
        "/api/pipelines/leaky".to_string(),
        "/api/pipelines/leaky/grid".to_string(),
        "/api/runs".to_string(),
        format!("/api/runs/{id}"),
        format!("/api/runs/{id}/tasks/shout/logs"),
        format!("/api/runs/{id}/tasks/call/logs"),
        "/api/datasets".to_string(),
        "/api/lineage".to_string(),
        "/api/me".to_string(),
        "/api/tokens".to_string(),
        "/metrics".to_string(),
        "/health".to_string(),
    ] {
        let r = call(&c, &s, Method::GET, &path, Some(&viewer))
            .send()
            .expect("get");
        assert!(r.status().is_success(), "{path}: {}", r.status());
        let body = r.text().expect("body");
        assert!(!body.contains(SECRET), "{path} shows the secret: {body}");
        assert!(!body.contains("pw-of-the-store"), "{path}: {body}");
        bodies.push((path, body));
    }
    // The log says the command ran, with the secret masked and the server's own
    // environment absent.
    let log = &bodies[5].1;
    assert_eq!(log, "token=*** env=***\nserver-state=\n", "{log}");
    // The pipeline shows its other parameters, not the secret one.
    let pipeline: Value = serde_json::from_str(&bodies[1].1).expect("json");
    assert_eq!(pipeline["params"], json!({"day": "monday"}));
}

#[test]
fn a_flood_of_huge_login_names_keeps_memory_and_runs_bounded() {
    let p = Project::new("name: quick\ntasks:\n  a: { run: \"echo ok\" }\n");
    let operator = user_with_token(&p, "otto", "operator");
    let s = Server::start(&p);
    let c = client();
    // A first run, so the server has done its one-time work before we measure.
    let id = trigger(&c, &s, &operator, "quick", json!({"force": true}));
    wait_for("the first run", Duration::from_secs(30), || {
        run_state(&c, &s, &operator, &id) == "succeeded"
    });
    let before = s.status_kb("VmRSS");
    let base = s.base.clone();
    let flood: Vec<_> = (0..4)
        .map(|t| {
            let base = base.clone();
            std::thread::spawn(move || {
                let c = client();
                let mut codes = Vec::new();
                for i in 0..50 {
                    let name = format!("{t}-{i}-{}", "n".repeat(1 << 20));
                    let r = c
                        .post(format!("{base}/api/login"))
                        .json(&json!({"user": name, "password": "whatever"}))
                        .send()
                        .expect("login");
                    codes.push(r.status());
                }
                codes
            })
        })
        .collect();
    // Runs go on meanwhile, as fast as ever.
    let started = Instant::now();
    let id = trigger(&c, &s, &operator, "quick", json!({"force": true}));
    wait_for("the run during the flood", Duration::from_secs(30), || {
        run_state(&c, &s, &operator, &id) == "succeeded"
    });
    let during = started.elapsed();
    for t in flood {
        let codes = t.join().expect("flood thread");
        assert!(
            codes.iter().all(|c| *c == StatusCode::UNAUTHORIZED),
            "{codes:?}"
        );
    }
    let after = s.status_kb("VmRSS");
    eprintln!(
        "200 logins of 1 MiB names: resident memory {before} kB -> {after} kB; a run during the flood took {during:?}"
    );
    // 200 names of 1 MiB: kept, they would be 200 MiB.
    assert!(
        after < before + 64 * 1024,
        "resident memory grew from {before} kB to {after} kB"
    );
    assert!(during < Duration::from_secs(10), "a run took {during:?}");
    // The owner of a real account still logs in.
    let r = call(&c, &s, Method::POST, "/api/login", None)
        .json(&json!({"user": "otto", "password": "otto-password"}))
        .send()
        .expect("login");
    assert_eq!(r.status(), StatusCode::OK);
}

#[test]
fn ten_concurrent_triggers_with_max_active_runs_1_give_one_run() {
    let p = Project::new(
        "name: single\nmax_active_runs: 1\ntasks:\n  a: { run: \"sleep 5\", cache: false }\n",
    );
    let operator = user_with_token(&p, "otto", "operator");
    let s = Server::start(&p);
    let base = s.base.clone();
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(10));
    let threads: Vec<_> = (0..10)
        .map(|_| {
            let (base, token, barrier) = (base.clone(), operator.clone(), barrier.clone());
            std::thread::spawn(move || {
                let c = client();
                barrier.wait();
                let r = c
                    .post(format!("{base}/api/pipelines/single/runs"))
                    .bearer_auth(token)
                    .json(&json!({}))
                    .send()
                    .expect("trigger");
                let status = r.status();
                (status, r.text().unwrap_or_default())
            })
        })
        .collect();
    let answers: Vec<(StatusCode, String)> = threads
        .into_iter()
        .map(|t| t.join().expect("thread"))
        .collect();
    let accepted = answers
        .iter()
        .filter(|(s, _)| *s == StatusCode::ACCEPTED)
        .count();
    assert_eq!(accepted, 1, "{answers:?}");
    for (status, body) in answers.iter().filter(|(s, _)| *s != StatusCode::ACCEPTED) {
        assert_eq!(*status, StatusCode::CONFLICT, "{body}");
        assert!(body.contains("max_active_runs 1"), "{body}");
    }
    let c = client();
    assert_eq!(runs_of(&c, &s, &operator, "single").len(), 1);
}

#[test]
fn a_run_seen_finished_makes_room_for_the_next_at_once() {
    // The store records a run's end a moment before the server's task for it ends (it applies
    // retention after): a client that reads "succeeded" and triggers again at once must not be
    // told that `max_active_runs` runs are going on.
    let p = Project::new(
        "name: serial\nmax_active_runs: 1\ntasks:\n  a: { run: \"true\", cache: false }\n",
    );
    let operator = user_with_token(&p, "otto", "operator");
    let s = Server::start(&p);
    let c = client();
    for round in 0..10 {
        let id = trigger(&c, &s, &operator, "serial", json!({}));
        let started = Instant::now();
        while run_state(&c, &s, &operator, &id) != "succeeded" {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "round {round}: run {id} did not finish"
            );
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    assert_eq!(runs_of(&c, &s, &operator, "serial").len(), 10);
}

#[test]
fn two_sluice_runs_of_one_pipeline_never_interleave() {
    let p = Project::new(
        r#"
name: serial
tasks:
  a: { run: "echo start >> trace; sleep 1; echo end >> trace", cache: false }
"#,
    );
    let first = p
        .cmd(&["run", "pipeline.yaml"])
        .stderr(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("first run");
    wait_for("the first run to start", Duration::from_secs(30), || {
        p.read("trace").contains("start")
    });
    // Without waiting: refused, exit 3, naming the holder.
    let out = p.sluice(&["run", "pipeline.yaml", "--no-wait"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!(
            "another `sluice run` of pipeline `serial` is going on (pid {})",
            first.id()
        )),
        "{err}"
    );
    // Waiting: it says so and starts after the first ends.
    let out = p.sluice(&["run", "pipeline.yaml"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("waiting: another `sluice run`"),
        "{}",
        text(&out)
    );
    let mut first = first;
    assert!(first.wait().expect("first").success());
    assert_eq!(p.read("trace"), "start\nend\nstart\nend\n");
}

#[test]
fn a_2_gb_log_is_served_in_bounded_windows() {
    let p = Project::new("name: quick\ntasks:\n  a: { run: \"echo first-line\" }\n");
    let viewer = user_with_token(&p, "vic", "viewer");
    let operator = user_with_token(&p, "otto", "operator");
    let s = Server::start(&p);
    let c = client();
    let id = trigger(&c, &s, &operator, "quick", json!({}));
    wait_for("the run", Duration::from_secs(30), || {
        run_state(&c, &s, &viewer, &id) == "succeeded"
    });
    let run = run_json(&c, &s, &viewer, &id);
    let log = run["attempts"][0]["log_path"].as_str().expect("log path");
    let log = match std::path::Path::new(log).is_absolute() {
        true => std::path::PathBuf::from(log),
        false => p.path(log),
    };
    // 2 GiB, most of it a hole: the server reads what it serves, wherever it is.
    let size: u64 = 2 << 30;
    std::fs::OpenOptions::new()
        .write(true)
        .open(&log)
        .and_then(|f| f.set_len(size))
        .expect("grow the log");
    let logs = format!("/api/runs/{id}/tasks/a/logs");
    let r = call(&c, &s, Method::GET, &logs, Some(&viewer))
        .send()
        .expect("tail");
    assert_eq!(r.headers()["x-log-size"], size.to_string().as_str());
    assert_eq!(
        r.headers()["x-log-offset"],
        (size - (1 << 20)).to_string().as_str()
    );
    assert_eq!(r.bytes().expect("body").len(), 1 << 20);
    let r = call(
        &c,
        &s,
        Method::GET,
        &format!("{logs}?offset=0&max_bytes=11"),
        Some(&viewer),
    )
    .send()
    .expect("head");
    assert_eq!(r.text().expect("text"), "first-line\n");
    let r = call(
        &c,
        &s,
        Method::GET,
        &format!("{logs}?follow=true"),
        Some(&viewer),
    )
    .send()
    .expect("follow");
    assert_eq!(r.bytes().expect("body").len(), 1 << 20);
    let peak = s.status_kb("VmHWM");
    eprintln!("serving a 2 GiB log: the server's peak resident memory was {peak} kB");
    assert!(peak < 100 * 1024, "the server's peak memory was {peak} kB");
}

#[test]
fn a_method_a_path_does_not_have_is_405_and_anonymous_callers_learn_nothing() {
    let p = Project::new("name: quick\ntasks:\n  a: { run: \"echo ok\" }\n");
    let viewer = user_with_token(&p, "vic", "viewer");
    let s = Server::start(&p);
    let c = client();
    let trace = Method::from_bytes(b"TRACE").expect("method");
    for (method, path, allow) in [
        (Method::POST, "/api/runs", "GET"),
        (Method::DELETE, "/api/pipelines/quick", "GET"),
        (trace.clone(), "/api/runs", "GET"),
        (Method::PUT, "/api/users", "GET, POST"),
    ] {
        let r = call(&c, &s, method.clone(), path, None).send().expect("x");
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{method} {path}");
        let r = call(&c, &s, method.clone(), path, Some(&viewer))
            .send()
            .expect("x");
        assert_eq!(
            r.status(),
            StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path}"
        );
        assert_eq!(r.headers()["allow"], allow);
    }
    // A public path answers 405 to anyone.
    let r = call(&c, &s, Method::POST, "/health", None)
        .send()
        .expect("x");
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
    // `/health` says nothing of the inside; `limit=0` is refused, not "everything".
    let r = call(&c, &s, Method::GET, "/health", None)
        .send()
        .expect("x");
    assert_eq!(json_of(r), json!({"status": "ok"}));
    let r = call(&c, &s, Method::GET, "/api/runs?limit=0", Some(&viewer))
        .send()
        .expect("x");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
}

#[test]
fn a_200000_deep_xml_document_fails_its_task_and_the_server_keeps_serving() {
    let p = Project::new(
        "name: sheets\ntasks:\n  parse: { op: parse.service_public, path: F1.xml, retries: 0 }\n",
    );
    let depth = 200_000;
    let mut xml = String::from("<?xml version=\"1.0\"?>\n");
    xml.push_str(&"<Publication>".repeat(depth));
    xml.push_str(&"</Publication>".repeat(depth));
    std::fs::write(p.path("F1.xml"), xml).expect("F1.xml");
    let operator = user_with_token(&p, "otto", "operator");
    let s = Server::start(&p);
    let c = client();
    let id = trigger(&c, &s, &operator, "sheets", json!({}));
    wait_for("the run", Duration::from_secs(60), || {
        run_state(&c, &s, &operator, &id) == "failed"
    });
    let run = run_json(&c, &s, &operator, &id);
    let error = run["attempts"][0]["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("F1.xml") && error.contains("XML nested too deep at line 2"),
        "{error}"
    );
    let r = call(&c, &s, Method::GET, "/health", None)
        .send()
        .expect("health");
    assert_eq!(json_of(r), json!({"status": "ok"}));
}
