//! `sluice serve` as users run it: the real binary on a free port, users and tokens made with
//! `sluice user` and `sluice token`, every route of the server's own OpenAPI document called
//! without credentials, with too small a role and with enough; failed logins throttled; CSRF
//! on browser sessions; `/metrics` parsed by Prometheus's own parser; and the scheduler across
//! a `kill -9` of the server.

mod common;

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use common::{
    DOCS, Project, Server, YEARLY, call, client, copy_dir, docs_pipeline, json_of, model_dir,
    run_state, runs_of, trigger, user_with_token, wait_for,
};

const PIPELINES: &str = r#"
name: quick
max_active_runs: 5
tasks:
  a: { run: "echo quick-output" }
"#;

const ML: &str = r#"
name: ml
tasks:
  rows:
    op: read.csv
    path: ml.csv
  classifier:
    op: train
    input: rows
    label: label
    features: [x, y, colour]
    model:
      type: mlp
      hidden: [8]
      epochs: ${params.epochs}
      early_stopping: 0
      learning_rate: 0.01
    split: {valid: 0.25, seed: 3}
    promote: {alias: champion, if: always}
params:
  epochs: 5
"#;

/// The versions of model `ml.classifier`, newest first.
fn ml_versions(p: &Project) -> Vec<String> {
    p.json(&["models", "versions", "ml.classifier", "--json"])
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v["version"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

const LONG: &str = r#"
name: long
max_active_runs: 5
tasks:
  a: { run: "echo started; sleep 60" }
"#;

#[test]
fn every_route_answers_401_403_or_success_by_role() {
    let p = Project::new(PIPELINES);
    std::fs::write(p.path("long.yaml"), LONG).expect("long");
    std::fs::write(p.path("yearly.yaml"), YEARLY).expect("yearly");
    let viewer = user_with_token(&p, "vic", "viewer");
    let operator = user_with_token(&p, "otto", "operator");
    let admin = user_with_token(&p, "ada", "admin");
    let spare = String::from_utf8_lossy(
        &p.run_ok(&["token", "create", "--user", "otto", "--label", "spare"])
            .stdout,
    )
    .trim()
    .to_string();
    let spare_id = spare.split('_').nth(1).expect("token id").to_string();
    // A model, for the models routes.
    std::fs::write(p.path("ml.yaml"), ML).expect("ml.yaml");
    std::fs::write(p.path("ml.csv"), common::rows_csv(300, 1)).expect("ml.csv");
    p.run_ok(&["run", "ml.yaml"]);
    let ml_version = ml_versions(&p).remove(0);
    // A dataset with vectors from the real model, for the search route.
    let model = model_dir();
    if let Some(model) = &model {
        std::fs::write(p.path("docs.yaml"), docs_pipeline(model)).expect("docs.yaml");
        std::fs::write(p.path("docs.csv"), DOCS).expect("docs.csv");
        p.run_ok(&["run", "docs.yaml"]);
    }
    let s = Server::start(&p);
    let c = client();

    // Fixtures: a finished run, a long run to cancel, a cancelled run to resume.
    let done = trigger(&c, &s, &operator, "quick", json!({}));
    wait_for("the quick run", Duration::from_secs(30), || {
        run_state(&c, &s, &viewer, &done) == "succeeded"
    });
    let start_long = || trigger(&c, &s, &operator, "long", json!({}));
    let to_cancel = start_long();
    let to_resume = start_long();
    let r = call(
        &c,
        &s,
        Method::POST,
        &format!("/api/runs/{to_resume}/cancel"),
        Some(&operator),
    )
    .send()
    .expect("cancel");
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    wait_for("the cancelled run", Duration::from_secs(30), || {
        run_state(&c, &s, &viewer, &to_resume) == "cancelled"
    });

    // The routes, from the server's own OpenAPI document.
    let doc = json_of(
        call(&c, &s, Method::GET, "/api/openapi.json", Some(&viewer))
            .send()
            .expect("openapi"),
    );
    let mut routes: Vec<(Method, String, String)> = Vec::new();
    for (path, ops) in doc["paths"].as_object().expect("paths") {
        for (method, op) in ops.as_object().expect("ops") {
            let role = op["x-sluice-role"].as_str().expect("role").to_string();
            routes.push((
                method.to_uppercase().parse().expect("method"),
                path.clone(),
                role,
            ));
        }
    }
    assert_eq!(routes.len(), 36, "{routes:?}");
    let concrete = |method: &Method, path: &str| -> String {
        let id = if path.ends_with("/cancel") {
            &to_cancel
        } else if path.ends_with("/resume") {
            &to_resume
        } else {
            &done
        };
        let token_id = if *method == Method::DELETE {
            &spare_id
        } else {
            ""
        };
        let name = if path.ends_with("/backfill") {
            "yearly"
        } else {
            "quick"
        };
        path.replace("{name}", name)
            .replace("/api/models/{pipeline}/{task}", "/api/models/ml/classifier")
            .replace("/versions/{version}", "/versions/champion")
            .replace("{pipeline}/{task}", "docs/embeddings")
            .replace("{task}", "a")
            .replace("{file}", "app.js")
            .replace("/tokens/{id}", &format!("/tokens/{token_id}"))
            .replace("{id}", id)
    };
    let body = |method: &Method, path: &str| -> Option<Value> {
        match (method.as_str(), path) {
            ("POST", "/api/login") => Some(json!({"user": "vic", "password": "vic-password"})),
            ("POST", "/api/users") => {
                Some(json!({"name": "newcomer", "password": "long enough", "role": "viewer"}))
            }
            ("POST", "/api/tokens") => Some(json!({"label": "made by the test"})),
            ("POST", "/api/pipelines/{name}/backfill") => {
                Some(json!({"from": "2020-01-01", "to": "2021-12-31"}))
            }
            ("POST", "/api/search") => {
                Some(json!({"dataset": "docs.embeddings", "query": "logement"}))
            }
            ("POST", "/v1/embeddings") => {
                Some(json!({"model": "all-MiniLM-L6-v2", "input": "logement"}))
            }
            ("POST", "/api/models/{pipeline}/{task}/predict") => {
                Some(json!({"rows": [{"x": 2.4, "y": 0.4, "colour": "green"}]}))
            }
            ("POST", "/api/models/{pipeline}/{task}/promote") => {
                Some(json!({"version": ml_version}))
            }
            _ => None,
        }
    };
    let send = |method: &Method, path: &str, token: Option<&str>| {
        let mut r = call(&c, &s, method.clone(), &concrete(method, path), token);
        if let Some(b) = body(method, path) {
            r = r.json(&b);
        }
        r.send().expect("request")
    };
    for (method, path, role) in &routes {
        let anonymous = send(method, path, None);
        if role == "public" {
            assert!(
                anonymous.status().is_success(),
                "{method} {path} is public: {}",
                anonymous.status()
            );
            continue;
        }
        assert_eq!(
            anonymous.status(),
            StatusCode::UNAUTHORIZED,
            "{method} {path} without credentials"
        );
        let forged = send(method, path, Some("slc_00000000_forged"));
        assert_eq!(forged.status(), StatusCode::UNAUTHORIZED, "{method} {path}");
        let (below, enough): (Vec<&str>, &str) = match role.as_str() {
            "viewer" => (vec![], &viewer),
            "operator" => (vec![&viewer], &operator),
            "admin" => (vec![&viewer, &operator], &admin),
            other => panic!("role {other}"),
        };
        for token in below {
            let r = send(method, path, Some(token));
            assert_eq!(r.status(), StatusCode::FORBIDDEN, "{method} {path}");
            let msg = json_of(r)["error"].as_str().unwrap_or_default().to_string();
            assert!(
                msg.starts_with(&format!("this needs the {role} role")),
                "{msg}"
            );
        }
        if *method == Method::POST && path == "/api/logout" {
            continue; // it would end the viewer's token; tested below with a session
        }
        let needs_model = path.contains("datasets/{pipeline}")
            || path == "/api/search"
            || path == "/v1/embeddings";
        if needs_model && model.is_none() {
            eprintln!("SKIPPED {method} {path} as {role}: no model (run scripts/model.sh)");
            continue;
        }
        let r = send(method, path, Some(enough));
        assert!(
            r.status().is_success(),
            "{method} {path} as {role}: {} {}",
            r.status(),
            r.text().unwrap_or_default()
        );
    }
    // Unknown paths tell nothing without credentials.
    let r = call(&c, &s, Method::GET, "/api/nothing-here", None)
        .send()
        .expect("x");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = call(&c, &s, Method::GET, "/api/nothing-here", Some(&viewer))
        .send()
        .expect("x");
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    // The revoked spare token no longer works; the cancelled run was cancelled.
    let r = call(&c, &s, Method::GET, "/api/me", Some(&spare))
        .send()
        .expect("me");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    wait_for("the cancel", Duration::from_secs(30), || {
        run_state(&c, &s, &viewer, &to_cancel) == "cancelled"
    });
    // A log, as text.
    let log = call(
        &c,
        &s,
        Method::GET,
        &format!("/api/runs/{done}/tasks/a/logs"),
        Some(&viewer),
    )
    .send()
    .expect("log")
    .text()
    .expect("text");
    assert_eq!(log, "quick-output\n");

    // Five wrong passwords in a row: the sixth try is throttled, even with the right one.
    for _ in 0..5 {
        let r = call(&c, &s, Method::POST, "/api/login", None)
            .json(&json!({"user": "otto", "password": "wrong"}))
            .send()
            .expect("login");
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    let r = call(&c, &s, Method::POST, "/api/login", None)
        .json(&json!({"user": "otto", "password": "otto-password"}))
        .send()
        .expect("login");
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    let wait: u64 = r.headers()["retry-after"]
        .to_str()
        .expect("retry-after")
        .parse()
        .expect("seconds");
    assert!((25..=30).contains(&wait), "{wait}");
    // The name is locked for the address that failed, not for its owner elsewhere (behind
    // a reverse proxy on this machine, the address is the one it forwards).
    let r = call(&c, &s, Method::POST, "/api/login", None)
        .header("x-forwarded-for", "198.51.100.7")
        .json(&json!({"user": "otto", "password": "otto-password"}))
        .send()
        .expect("login");
    assert_eq!(r.status(), StatusCode::OK);

    // A browser session: the cookie reads, but a change needs the CSRF header.
    let r = call(&c, &s, Method::POST, "/api/login", None)
        .json(&json!({"user": "ada", "password": "ada-password"}))
        .send()
        .expect("login");
    assert_eq!(r.status(), StatusCode::OK);
    let cookie = r.headers()["set-cookie"]
        .to_str()
        .expect("cookie")
        .to_string();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let session = cookie.split(';').next().expect("pair").to_string();
    let login = json_of(r);
    let with_cookie = |method: Method, path: &str| {
        c.request(method, format!("{}{path}", s.base))
            .header("cookie", &session)
    };
    let r = with_cookie(Method::GET, "/api/me").send().expect("me");
    assert_eq!(json_of(r)["csrf"], login["csrf"]);
    let r = with_cookie(Method::POST, "/api/pipelines/quick/runs")
        .send()
        .expect("x");
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(
        json_of(r)["error"]
            .as_str()
            .unwrap_or_default()
            .contains("CSRF")
    );
    let r = with_cookie(Method::POST, "/api/pipelines/quick/runs")
        .header("x-csrf-token", login["csrf"].as_str().expect("csrf"))
        .send()
        .expect("x");
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    // Logging out ends the session, as cookie and as bearer token.
    let r = with_cookie(Method::POST, "/api/logout")
        .header("x-csrf-token", login["csrf"].as_str().expect("csrf"))
        .send()
        .expect("logout");
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let bearer = login["token"].as_str().expect("token");
    let r = call(&c, &s, Method::GET, "/api/me", Some(bearer))
        .send()
        .expect("me");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

#[test]
fn metrics_parse_as_prometheus_text_and_count_runs() {
    let Some(python) = common::test_python("the Prometheus parser check of /metrics") else {
        return;
    };
    let p = Project::new(PIPELINES);
    let viewer = user_with_token(&p, "vic", "viewer");
    let operator = user_with_token(&p, "otto", "operator");
    let s = Server::start(&p);
    let c = client();
    let scrape = || {
        call(&c, &s, Method::GET, "/metrics", Some(&viewer))
            .send()
            .expect("metrics")
            .text()
            .expect("text")
    };
    let parse = |text: &str| -> Value {
        let dir = tempfile::tempdir().expect("tmp");
        let file = dir.path().join("metrics.txt");
        std::fs::write(&file, text).expect("write");
        let out = common::run_python(
            &python,
            "import json, sys\n\
             from prometheus_client.parser import text_string_to_metric_families\n\
             out = {}\n\
             for fam in text_string_to_metric_families(open(sys.argv[1]).read()):\n\
             \x20   for s in fam.samples:\n\
             \x20       key = s.name + json.dumps(s.labels, sort_keys=True)\n\
             \x20       out[key] = s.value\n\
             print(json.dumps(out))\n",
            &[file.as_os_str()],
        );
        serde_json::from_slice(&out).expect("json")
    };
    let before = parse(&scrape());
    let finished = r#"sluice_runs_finished_total{"pipeline": "quick", "state": "succeeded"}"#;
    assert_eq!(before.get(finished), None);
    assert_eq!(
        before[r#"sluice_pipelines{"validity": "valid"}"#],
        json!(1.0)
    );
    for _ in 0..2 {
        // Forced: the second run's task would otherwise be cached.
        let id = trigger(&c, &s, &operator, "quick", json!({"force": true}));
        wait_for("the run", Duration::from_secs(30), || {
            run_state(&c, &s, &viewer, &id) == "succeeded"
        });
    }
    wait_for("the counters", Duration::from_secs(10), || {
        parse(&scrape()).get(finished) == Some(&json!(2.0))
    });
    let after = parse(&scrape());
    assert_eq!(
        after[r#"sluice_runs_started_total{"pipeline": "quick", "trigger": "api:otto"}"#],
        json!(2.0)
    );
    assert_eq!(
        after[r#"sluice_tasks_finished_total{"pipeline": "quick", "state": "succeeded"}"#],
        json!(2.0)
    );
    assert_eq!(
        after[r#"sluice_task_duration_seconds_count{"pipeline": "quick"}"#],
        json!(2.0)
    );
    assert_eq!(
        after[r#"sluice_task_duration_seconds_bucket{"le": "+Inf", "pipeline": "quick"}"#],
        json!(2.0)
    );
}

const EVERY_MINUTE: &str = r#"
name: every_minute
schedule: "* * * * *"
catchup: all
tasks:
  a: { run: "echo tick" }
"#;

/// Minutes since the epoch of a time in microseconds.
fn minute_of(micros: i64) -> i64 {
    micros.div_euclid(60_000_000)
}

#[test]
fn the_schedule_survives_a_killed_server_without_repeating_or_skipping_a_slot() {
    let p = Project::new(EVERY_MINUTE);
    std::fs::write(p.path("long.yaml"), LONG).expect("long");
    let operator = user_with_token(&p, "otto", "operator");
    let c = client();
    // Not in the last seconds of a minute: the first slot must come after the start.
    let now = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_micros() as i64
    };
    while now() % 60_000_000 > 55_000_000 {
        std::thread::sleep(Duration::from_millis(200));
    }
    let mut first = Server::start(&p);
    let slots = |s: &Server| -> Vec<Value> {
        let v = json_of(
            call(
                &c,
                s,
                Method::GET,
                "/api/pipelines/every_minute",
                Some(&operator),
            )
            .send()
            .expect("pipeline"),
        );
        v["slots"].as_array().cloned().unwrap_or_default()
    };
    wait_for("the first slot", Duration::from_secs(70), || {
        slots(&first).iter().any(|s| s["state"] == "run")
    });
    // A long run going on when the server is killed.
    let long = trigger(&c, &first, &operator, "long", json!({}));
    wait_for("the long task", Duration::from_secs(30), || {
        let v = json_of(
            call(
                &c,
                &first,
                Method::GET,
                &format!("/api/runs/{long}"),
                Some(&operator),
            )
            .send()
            .expect("run"),
        );
        v["tasks"][0]["state"] == "running"
    });
    let first_slot = slots(&first)
        .iter()
        .find(|s| s["state"] == "run")
        .and_then(|s| s["slot"].as_i64())
        .expect("slot");
    first.kill9();
    // Down while the next slot passes.
    let missed = minute_of(first_slot) + 1;
    while minute_of(now()) <= missed {
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(Duration::from_secs(1));
    let second = Server::start(&p);

    // The killed server's run is failed, not running.
    let v = json_of(
        call(
            &c,
            &second,
            Method::GET,
            &format!("/api/runs/{long}"),
            Some(&operator),
        )
        .send()
        .expect("run"),
    );
    assert_eq!(v["run"]["state"], "failed", "{v}");
    assert!(
        v["run"]["error"]
            .as_str()
            .unwrap_or_default()
            .starts_with("interrupted: the sluice process"),
        "{v}"
    );
    assert_eq!(v["attempts"][0]["state"], "failed", "{v}");
    let running = json_of(
        call(
            &c,
            &second,
            Method::GET,
            "/api/runs?state=running",
            Some(&operator),
        )
        .send()
        .expect("runs"),
    );
    assert!(
        running
            .as_array()
            .expect("runs")
            .iter()
            .all(|r| r["pipeline"] != "long"),
        "{running}"
    );

    // Catch-up `all`: the missed slot runs at once; every slot once, in order, each run
    // succeeded.
    wait_for("the missed slot", Duration::from_secs(20), || {
        slots(&second)
            .iter()
            .any(|s| s["slot"].as_i64().map(minute_of) == Some(missed))
    });
    // Every minute from the first slot to now has its run (the current minute's comes after
    // the missed one's: max_active_runs 1).
    let run_minutes = |recorded: &[Value]| -> Vec<i64> {
        recorded
            .iter()
            .filter(|s| s["state"] == "run")
            .filter_map(|s| s["slot"].as_i64().map(minute_of))
            .collect()
    };
    let want = || -> Vec<i64> { (minute_of(first_slot)..=minute_of(now())).rev().collect() };
    wait_for("a run for every minute", Duration::from_secs(30), || {
        run_minutes(&slots(&second)) == want()
    });
    let recorded = slots(&second);
    let runs = run_minutes(&recorded);
    assert!(
        recorded.iter().all(|s| s["state"] != "skipped"),
        "{recorded:#?}"
    );
    for s in recorded.iter().filter(|s| s["state"] == "run") {
        let id = s["run_id"].as_str().expect("run id");
        wait_for("a slot's run", Duration::from_secs(30), || {
            run_state(&c, &second, &operator, id) == "succeeded"
        });
    }
    let all = json_of(
        call(
            &c,
            &second,
            Method::GET,
            "/api/runs?pipeline=every_minute",
            Some(&operator),
        )
        .send()
        .expect("runs"),
    );
    assert_eq!(all.as_array().map(Vec::len), Some(runs.len()), "{all}");
    assert!(
        all.as_array()
            .expect("runs")
            .iter()
            .all(|r| r["trigger"] == "schedule"),
        "{all}"
    );
}

#[test]
fn search_datasets_lineage_and_embeddings_answer_with_the_real_model() {
    let Some(model) = model_dir() else { return };
    let p = Project::new(PIPELINES);
    std::fs::write(p.path("docs.yaml"), docs_pipeline(&model)).expect("docs.yaml");
    std::fs::write(p.path("docs.csv"), DOCS).expect("docs.csv");
    p.run_ok(&["run", "docs.yaml"]);
    let viewer = user_with_token(&p, "vic", "viewer");
    let s = Server::start(&p);
    let c = client();
    let post = |path: &str, body: Value| {
        call(&c, &s, Method::POST, path, Some(&viewer))
            .json(&body)
            .send()
            .expect("post")
    };

    // Search: the nearest rows first, with their columns and without vectors.
    let r = post(
        "/api/search",
        json!({"dataset": "docs.embeddings", "query": "logement étudiant", "k": 2}),
    );
    assert_eq!(r.status(), StatusCode::OK);
    // Where the time went: embedding the query, then the search, in milliseconds.
    let timing = r
        .headers()
        .get("server-timing")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let durations: Vec<(String, f64)> = timing
        .split(", ")
        .filter_map(|part| {
            let mut fields = part.split(';');
            let name = fields.next()?.to_string();
            let dur = fields.find_map(|f| f.strip_prefix("dur="))?.parse().ok()?;
            Some((name, dur))
        })
        .collect();
    assert_eq!(
        durations
            .iter()
            .map(|(n, _)| n.as_str())
            .collect::<Vec<_>>(),
        ["embed", "search"],
        "{timing}"
    );
    assert!(durations.iter().all(|(_, d)| *d > 0.0), "{timing}");
    let v = json_of(r);
    assert_eq!(v["column"], "embedding");
    assert_eq!(v["columns"], json!(["id", "theme", "text"]));
    let hits = v["hits"].as_array().expect("hits");
    assert_eq!(hits.len(), 2);
    assert_eq!(hits[0]["row"]["id"], 0, "{hits:?}");
    assert!(hits[0]["row"].get("embedding").is_none());
    assert!(hits[0]["score"].as_f64() >= hits[1]["score"].as_f64());
    let v = json_of(post(
        "/api/search",
        json!({"dataset": "docs.embeddings", "query": "logement étudiant", "where": "theme = 'Santé'"}),
    ));
    assert_eq!(v["hits"].as_array().map(Vec::len), Some(1), "{v}");
    assert_eq!(v["hits"][0]["row"]["id"], 3);
    // Bad requests, each with its message.
    for (body, status, message) in [
        (
            json!({"dataset": "docs.nothing", "query": "x"}),
            StatusCode::NOT_FOUND,
            "no dataset `docs.nothing`",
        ),
        (
            json!({"dataset": "docs", "query": "x"}),
            StatusCode::BAD_REQUEST,
            "name the dataset as `pipeline.task` (see GET /api/datasets), not `docs`",
        ),
        (
            json!({"dataset": "docs.embeddings", "query": "x", "k": 0}),
            StatusCode::BAD_REQUEST,
            "`k` must be between 1 and 1000, not 0",
        ),
    ] {
        let r = post("/api/search", body);
        assert_eq!(r.status(), status);
        assert_eq!(json_of(r)["error"], message);
    }
    let r = post(
        "/api/search",
        json!({"dataset": "docs.sheets", "query": "x"}),
    );
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let msg = json_of(r)["error"].as_str().unwrap_or_default().to_string();
    assert!(msg.starts_with("docs.sheets has 0 vector columns"), "{msg}");

    // One dataset: versions, schema, first rows.
    let v = json_of(
        call(
            &c,
            &s,
            Method::GET,
            "/api/datasets/docs/embeddings?rows=3",
            Some(&viewer),
        )
        .send()
        .expect("dataset"),
    );
    assert_eq!(v["dataset"], "docs.embeddings");
    assert_eq!(v["versions"].as_array().map(Vec::len), Some(1));
    assert_eq!(v["versions"][0]["rows"], 4);
    let fields: Vec<&str> = v["schema"]
        .as_array()
        .expect("fields")
        .iter()
        .filter_map(|f| f["name"].as_str())
        .collect();
    assert_eq!(fields, ["id", "theme", "text", "embedding"]);
    assert!(
        v["schema"][3]["type"]
            .as_str()
            .is_some_and(|t| t.starts_with("FixedSizeList") && t.contains("384")),
        "{}",
        v["schema"]
    );
    assert_eq!(
        v["preview"],
        json!([
            {"id": 0, "theme": "Logement", "text": "Les aides au logement pour les étudiants: APL, ALS et caution Visale."},
            {"id": 1, "theme": "Papiers", "text": "Renouveler une carte d'identité ou un passeport à la mairie."},
            {"id": 2, "theme": "Travail", "text": "Les congés payés: combien de jours, comment les poser."},
        ])
    );

    // Lineage: the embeddings read the sheets.
    let v = json_of(
        call(&c, &s, Method::GET, "/api/lineage", Some(&viewer))
            .send()
            .expect("lineage"),
    );
    assert_eq!(
        v["edges"],
        json!([{"from": "docs.sheets", "to": "docs.embeddings"}]),
        "{v}"
    );
    let embeddings = v["nodes"]
        .as_array()
        .and_then(|n| n.iter().find(|n| n["id"] == "docs.embeddings"))
        .expect("node");
    assert_eq!(embeddings["rows"], 4);

    // OpenAI's embeddings API: the same vectors as `sluice embed`.
    let r = post(
        "/v1/embeddings",
        json!({"model": "all-MiniLM-L6-v2", "input": ["logement", "congés payés"]}),
    );
    assert_eq!(r.status(), StatusCode::OK);
    let v = json_of(r);
    assert_eq!(v["object"], "list");
    assert_eq!(v["model"], "all-MiniLM-L6-v2");
    let data = v["data"].as_array().expect("data");
    assert_eq!(data.len(), 2);
    assert_eq!(data[1]["index"], 1);
    assert_eq!(data[1]["object"], "embedding");
    let served: Vec<f32> = data[0]["embedding"]
        .as_array()
        .expect("floats")
        .iter()
        .map(|x| x.as_f64().expect("float") as f32)
        .collect();
    assert_eq!(served.len(), 384);
    assert!(v["usage"]["prompt_tokens"].as_u64() > Some(4), "{v}");
    let cli = p.run_ok(&["embed", "--model", &model.display().to_string(), "logement"]);
    let line: Value = serde_json::from_slice(&cli.stdout).expect("embed json");
    let expected: Vec<f32> = line["embedding"]
        .as_array()
        .expect("floats")
        .iter()
        .map(|x| x.as_f64().expect("float") as f32)
        .collect();
    let worst = served
        .iter()
        .zip(&expected)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    assert!(worst < 1e-5, "largest difference {worst}");
    // base64: little-endian f32, the same values.
    let v = json_of(post(
        "/v1/embeddings",
        json!({"model": "all-MiniLM-L6-v2", "input": "logement", "encoding_format": "base64"}),
    ));
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(v["data"][0]["embedding"].as_str().expect("base64"))
        .expect("decode");
    assert_eq!(bytes.len(), 384 * 4);
    let first = f32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    assert!((first - expected[0]).abs() < 1e-5);
    for (body, status, start) in [
        (
            json!({"model": "/etc", "input": "x"}),
            StatusCode::BAD_REQUEST,
            "model `/etc` is not a model name",
        ),
        (
            json!({"model": "no-such-model", "input": "x"}),
            StatusCode::NOT_FOUND,
            "model `no-such-model` not found",
        ),
        (
            json!({"model": "all-MiniLM-L6-v2", "input": []}),
            StatusCode::BAD_REQUEST,
            "`input` must hold 1 to 2048 texts, not 0",
        ),
        (
            json!({"model": "all-MiniLM-L6-v2", "input": "x", "dimensions": 100}),
            StatusCode::BAD_REQUEST,
            "model `all-MiniLM-L6-v2` makes vectors of 384 dimensions, not 100",
        ),
    ] {
        let r = post("/v1/embeddings", body);
        assert_eq!(r.status(), status);
        let msg = json_of(r)["error"].as_str().unwrap_or_default().to_string();
        assert!(msg.starts_with(start), "{msg}");
    }
}

const UPSTREAM: &str = r#"
name: up
tasks:
  data: { op: read.csv, path: data.csv }
"#;

const DOWNSTREAM: &str = r#"
name: down
on_new_version: [up.data]
tasks:
  first: { run: "echo first" }
  second: { run: "echo second", after: first }
"#;

#[test]
fn a_new_version_of_a_dataset_starts_the_pipeline_that_runs_on_it_once() {
    let p = Project::new(UPSTREAM);
    std::fs::write(p.path("data.csv"), "id\n1\n2\n").expect("csv");
    std::fs::write(p.path("down.yaml"), DOWNSTREAM).expect("down");
    // A version made before the server first looks is not new.
    p.run_ok(&["run", "pipeline.yaml"]);
    let operator = user_with_token(&p, "otto", "operator");
    let c = client();
    let down_runs = |s: &Server| runs_of(&c, s, &operator, "down");
    let mut s = Server::start(&p);
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        down_runs(&s).len(),
        0,
        "no run for the version already there"
    );

    // A new version: one run of `down`, triggered by it.
    std::fs::write(p.path("data.csv"), "id\n1\n2\n3\n").expect("csv");
    let up = trigger(&c, &s, &operator, "up", json!({}));
    wait_for("the up run", Duration::from_secs(30), || {
        run_state(&c, &s, &operator, &up) == "succeeded"
    });
    wait_for("the down run", Duration::from_secs(30), || {
        down_runs(&s)
            .first()
            .is_some_and(|r| r["state"] == "succeeded")
    });
    let runs = down_runs(&s);
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(runs[0]["trigger"], "dataset:up.data");

    // The same data again: `up` is cached, no new version, no run.
    let again = trigger(&c, &s, &operator, "up", json!({}));
    wait_for("the cached up run", Duration::from_secs(30), || {
        run_state(&c, &s, &operator, &again) == "succeeded"
    });
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(down_runs(&s).len(), 1);

    // Across a restart the version already run for is not run again.
    s.kill9();
    let s = Server::start(&p);
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(down_runs(&s).len(), 1);
    // The lineage shows the trigger.
    let v = json_of(
        call(&c, &s, Method::GET, "/api/lineage", Some(&operator))
            .send()
            .expect("lineage"),
    );
    let edges = v["edges"].as_array().cloned().unwrap_or_default();
    assert!(
        edges.contains(&json!({"from": "up.data", "to": "down.first", "trigger": true})),
        "{edges:?}"
    );
    assert!(
        edges.contains(&json!({"from": "down.first", "to": "down.second"})),
        "{edges:?}"
    );
    assert_eq!(edges.len(), 2, "{edges:?}");
}

#[test]
fn a_backfill_runs_each_slot_once_with_its_date() {
    let p = Project::new(PIPELINES);
    std::fs::write(p.path("yearly.yaml"), YEARLY).expect("yearly");
    let operator = user_with_token(&p, "otto", "operator");
    let s = Server::start(&p);
    let c = client();
    let backfill = |name: &str, body: Value| {
        call(
            &c,
            &s,
            Method::POST,
            &format!("/api/pipelines/{name}/backfill"),
            Some(&operator),
        )
        .json(&body)
        .send()
        .expect("backfill")
    };
    let r = backfill("yearly", json!({"from": "2020-01-01", "to": "2022-12-31"}));
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let v = json_of(r);
    assert_eq!(v["slots"], 3);
    assert_eq!(v["claimed"], 3);
    let runs = |s: &Server| runs_of(&c, s, &operator, "yearly");
    wait_for("the three backfill runs", Duration::from_secs(60), || {
        let r = runs(&s);
        r.len() == 3 && r.iter().all(|r| r["state"] == "succeeded")
    });
    let mut logs: Vec<String> = runs(&s)
        .iter()
        .map(|r| {
            assert_eq!(r["trigger"], "backfill");
            let id = r["id"].as_str().expect("id");
            call(
                &c,
                &s,
                Method::GET,
                &format!("/api/runs/{id}/tasks/a/logs"),
                Some(&operator),
            )
            .send()
            .expect("log")
            .text()
            .expect("text")
        })
        .collect();
    logs.sort();
    assert_eq!(
        logs,
        [
            "year of 2020-01-01\n",
            "year of 2021-01-01\n",
            "year of 2022-01-01\n"
        ]
    );
    // The same range again: nothing new.
    let v = json_of(backfill(
        "yearly",
        json!({"from": "2020-01-01", "to": "2022-12-31"}),
    ));
    assert_eq!(
        (v["claimed"].clone(), v["already_claimed"].clone()),
        (json!(0), json!(3))
    );
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(runs(&s).len(), 3);
    // Bad requests, each with its message.
    for (name, body, message) in [
        (
            "yearly",
            json!({"from": "2022-01-01", "to": "2020-01-01"}),
            "the range ends (2020-01-01) before it starts (2022-01-01)",
        ),
        (
            "yearly",
            json!({"from": "last year", "to": "2020-01-01"}),
            "from: `last year` is neither a date (2026-11-01) nor an RFC 3339 time",
        ),
        (
            "quick",
            json!({"from": "2020-01-01", "to": "2020-01-02"}),
            "pipeline `quick` has no schedule: a backfill runs the slots of a schedule",
        ),
        (
            "yearly",
            json!({"from": "1900-01-01", "to": "3000-12-31"}),
            "more than 1000 slots from 1900-01-01 to 3000-12-31: a backfill runs at most 1000; split the range",
        ),
    ] {
        let r = backfill(name, body);
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        assert_eq!(json_of(r)["error"], message);
    }
}

/// The OpenAPI document validates as OpenAPI 3.1 (`openapi-spec-validator`), and a bounded,
/// seeded property-based run of `schemathesis` against the real server (every operation, its
/// examples, boundary values, random and schema-breaking data, and sequences following the
/// links it infers) finds no 5xx answer, no status the document does not list, and no answer,
/// content type or header that does not match the document. Its dictionaries point some of
/// the generated names at real pipelines, runs, datasets and the real model, so that the
/// answers of success are checked too, not only the refusals.
#[test]
fn the_api_matches_its_openapi_document_under_schemathesis() {
    let Some(python) = common::test_python("the schemathesis run") else {
        return;
    };
    let Some(model) = model_dir() else { return };
    let p = Project::new(PIPELINES);
    std::fs::write(p.path("yearly.yaml"), YEARLY).expect("yearly");
    std::fs::write(p.path("docs.yaml"), docs_pipeline(&model)).expect("docs.yaml");
    std::fs::write(p.path("docs.csv"), DOCS).expect("docs.csv");
    p.run_ok(&["run", "docs.yaml"]);
    let admin = user_with_token(&p, "schemathesis-admin-7f3a", "admin");
    let s = Server::start(&p);
    let c = client();
    let done = trigger(&c, &s, &admin, "quick", json!({}));
    wait_for("the quick run", Duration::from_secs(30), || {
        run_state(&c, &s, &admin, &done) == "succeeded"
    });

    let doc = call(&c, &s, Method::GET, "/api/openapi.json", Some(&admin))
        .send()
        .expect("openapi")
        .text()
        .expect("text");
    let file = p.path("openapi.json");
    std::fs::write(&file, &doc).expect("openapi.json");
    let out = std::process::Command::new(&python)
        .args(["-m", "openapi_spec_validator"])
        .arg(&file)
        .output()
        .expect("openapi-spec-validator");
    assert!(
        out.status.success(),
        "the OpenAPI document does not validate:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).ends_with(": OK\n"));

    let model_name = model.file_name().and_then(|n| n.to_str()).expect("model");
    let config = format!(
        r#"
[dictionaries]
pipelines = {{ values = ["quick", "yearly", "docs"] }}
runs = {{ values = ["{done}"] }}
tasks = {{ values = ["a", "embeddings"] }}
datasets = {{ values = ["docs.embeddings"] }}
models = {{ values = ["{model_name}"] }}

[parameters]
"path.name" = {{ dictionary = "pipelines", probability = 0.5 }}
"path.pipeline" = {{ dictionary = "pipelines", probability = 0.5 }}
"path.id" = {{ dictionary = "runs", probability = 0.5 }}
"path.task" = {{ dictionary = "tasks", probability = 0.5 }}
"body.dataset" = {{ dictionary = "datasets", probability = 0.5 }}
"body.model" = {{ dictionary = "models", probability = 0.5 }}
"#
    );
    let config_file = p.path("schemathesis.toml");
    std::fs::write(&config_file, config).expect("schemathesis.toml");
    let schemathesis = std::path::Path::new(&python).with_file_name("schemathesis");
    let mut child = std::process::Command::new(schemathesis)
        .arg("--config-file")
        .arg(&config_file)
        .arg("run")
        .arg(&file)
        .args(["--url", &s.base])
        .args(["--header", &format!("Authorization: Bearer {admin}")])
        .args([
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,\
             response_schema_conformance,response_headers_conformance,negative_data_rejection",
            "--max-examples",
            "25",
            "--seed",
            "20261205",
            "--workers",
            "1",
            "--no-color",
        ])
        .current_dir(p.path(""))
        .stdout(std::fs::File::create(p.path("schemathesis.out")).expect("out"))
        .stderr(std::fs::File::create(p.path("schemathesis.err")).expect("err"))
        .spawn()
        .expect("schemathesis (scripts/python-env.sh installs it)");
    // Bounded: a run that has not ended in 5 minutes fails the test.
    let deadline = std::time::Instant::now() + Duration::from_secs(300);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!(
                "schemathesis ran for more than 5 minutes:\n{}",
                p.read("schemathesis.out")
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let report = p.read("schemathesis.out");
    assert!(
        status.success(),
        "schemathesis found answers that break the document:\n{report}\n{}",
        p.read("schemathesis.err")
    );
    assert!(report.contains("Tested: 36"), "{report}");
}

#[test]
fn models_are_served_from_their_champion_and_a_promotion_fails_no_request() {
    let p = Project::new(ML);
    std::fs::write(p.path("ml.csv"), common::rows_csv(600, 2)).expect("ml.csv");
    p.run_ok(&["run", "pipeline.yaml"]);
    p.run_ok(&["run", "pipeline.yaml", "-p", "epochs=6"]);
    let versions = ml_versions(&p);
    assert_eq!(versions.len(), 2, "{versions:?}");
    let (newest, oldest) = (versions[0].clone(), versions[1].clone());
    let operator = user_with_token(&p, "otto", "operator");
    let admin = user_with_token(&p, "ada", "admin");
    let viewer = user_with_token(&p, "vic", "viewer");
    let s = Server::start(&p);
    let c = client();
    let predict = |body: Value, token: &str| {
        call(
            &c,
            &s,
            Method::POST,
            "/api/models/ml/classifier/predict",
            Some(token),
        )
        .json(&body)
        .send()
        .expect("predict")
    };
    let row = json!({"rows": [{"x": 2.4, "y": 0.4, "colour": "green"}, {"x": 0.1, "y": 2.6, "colour": null}]});

    // The champion answers: labels in the label's type, one probability per class.
    let a = json_of(predict(row.clone(), &operator));
    assert_eq!(a["model"], "ml.classifier");
    assert_eq!(
        a["version"],
        Value::String(newest.clone()),
        "promote: always made the newest champion"
    );
    assert_eq!(a["predictions"][0]["label"], "consulted", "{a}");
    assert_eq!(a["predictions"][1]["label"], "booked", "{a}");
    let probas = a["predictions"][0]["probas"].as_array().expect("probas");
    assert_eq!(probas.len(), 3);
    let total: f64 = probas.iter().filter_map(Value::as_f64).sum();
    assert!((total - 1.0).abs() < 1e-5, "{total}");

    // Input checked against the model's schema: 400 naming the column.
    let r = predict(json!({"rows": [{"x": 1.0, "colour": "red"}]}), &operator);
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(json_of(r)["error"], "row 1: missing column `y`");
    let r = predict(
        json!({"rows": [{"x": "far", "y": 1.0, "colour": "red"}]}),
        &operator,
    );
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        json_of(r)["error"],
        "row 1: column `x` is \"far\"; the model expects a number"
    );
    let r = predict(json!({"vector": [1.0, 2.0]}), &operator);
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(
        json_of(r)["error"]
            .as_str()
            .unwrap_or_default()
            .starts_with("`vector` is for a model that reads one vector column")
    );
    // A viewer may not predict; no token at all is 401.
    assert_eq!(
        predict(row.clone(), &viewer).status(),
        StatusCode::FORBIDDEN
    );
    let r = call(
        &c,
        &s,
        Method::POST,
        "/api/models/ml/classifier/predict",
        None,
    )
    .json(&row)
    .send()
    .expect("x");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // A pinned version.
    let r = call(
        &c,
        &s,
        Method::POST,
        &format!("/api/models/ml/classifier/predict?version={oldest}"),
        Some(&operator),
    )
    .json(&row)
    .send()
    .expect("pinned");
    assert_eq!(json_of(r)["version"], Value::String(oldest.clone()));

    // Promotions back and forth while requests keep coming: every request answers 200, and
    // both versions answer.
    let stop = std::sync::atomic::AtomicBool::new(false);
    let seen = std::thread::scope(|scope| {
        let load = scope.spawn(|| {
            let mut seen = std::collections::BTreeMap::<String, usize>::new();
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) || n < 50 {
                let r = predict(row.clone(), &operator);
                assert_eq!(r.status(), StatusCode::OK, "request {n} during promotions");
                let v = json_of(r)["version"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                *seen.entry(v).or_default() += 1;
                n += 1;
            }
            seen
        });
        for i in 0..6 {
            let version = if i % 2 == 0 { &oldest } else { &newest };
            let r = call(
                &c,
                &s,
                Method::POST,
                "/api/models/ml/classifier/promote",
                Some(&admin),
            )
            .json(&json!({"version": version, "note": "load test"}))
            .send()
            .expect("promote");
            assert_eq!(r.status(), StatusCode::OK);
            std::thread::sleep(Duration::from_millis(30));
        }
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
        load.join().expect("load thread")
    });
    assert_eq!(seen.len(), 2, "both versions answered: {seen:?}");

    // /metrics: the requests by outcome, the latency histogram, the models' figures.
    let metrics_text = || {
        call(&c, &s, Method::GET, "/metrics", Some(&viewer))
            .send()
            .expect("metrics")
            .text()
            .expect("text")
    };
    let text = metrics_text();
    assert!(
        text.contains(
            "sluice_model_predictions_total{model=\"ml.classifier\",outcome=\"bad_request\"} 3"
        ),
        "{text}"
    );
    assert!(
        text.contains("sluice_model_predict_seconds_bucket{model=\"ml.classifier\",input=\"rows\",le=\"+Inf\"}"),
        "{text}"
    );
    assert!(
        text.contains("sluice_model_versions{model=\"ml.classifier\"} 2"),
        "{text}"
    );
    assert!(text.contains("sluice_model_metric{model=\"ml.classifier\",metric=\"valid.accuracy\",version=\"champion\"}"), "{text}");

    // A training the server runs counts by outcome.
    let id = trigger(&c, &s, &operator, "ml", json!({"force": true}));
    wait_for("the training run", Duration::from_secs(120), || {
        run_state(&c, &s, &viewer, &id) == "succeeded"
    });
    let text = metrics_text();
    assert!(
        text.contains(
            "sluice_model_trainings_total{model=\"ml.classifier\",outcome=\"succeeded\"} 1"
        ),
        "{text}"
    );
}

#[test]
fn a_served_pipeline_runs_its_dbt_project_and_reloads_when_a_model_is_added() {
    let p = Project::new(
        r#"
name: nightly
schedule: "0 3 * * *"
tasks:
  start: { run: "echo start" }
  shop: { op: dbt, project: shop, after: [start] }
"#,
    );
    copy_dir(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/dbt"),
        &p.path("shop"),
    );
    let operator = user_with_token(&p, "otto", "operator");
    let c = client();
    let s = Server::start(&p);
    let tasks = |c: &reqwest::blocking::Client| -> Vec<String> {
        let v = json_of(
            call(
                c,
                &s,
                Method::GET,
                "/api/pipelines/nightly",
                Some(&operator),
            )
            .send()
            .expect("pipeline"),
        );
        v["tasks"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .filter_map(|t| t["name"].as_str().map(String::from))
            .collect()
    };
    let listed = tasks(&c);
    assert_eq!(listed.len(), 31, "{listed:?}");
    assert!(listed.contains(&"daily_revenue".to_string()), "{listed:?}");
    let run = trigger(&c, &s, &operator, "nightly", json!({}));
    wait_for("the nightly run", Duration::from_secs(60), || {
        run_state(&c, &s, &operator, &run) == "succeeded"
    });
    // A model added to the project: the server loads the pipeline again.
    std::fs::write(
        p.path("shop/models/marts/big_orders.sql"),
        "select * from {{ ref('orders') }} where amount > 20",
    )
    .expect("model");
    wait_for("the reload", Duration::from_secs(30), || {
        tasks(&c).contains(&"big_orders".to_string())
    });
}
