//! `fetch` end to end: a download that did not change costs one request answered 304 and
//! leaves the tasks after it cached; a listing takes the full dump then only new deltas; a
//! server answering 503 is tried again by the task's retries, one answering 404 is not.

use std::collections::VecDeque;
use std::io::Write;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use serde_json::Value;

mod common;
use common::{Project, text};

/// A file served over HTTP with an ETag; answers `If-None-Match` with 304, and the statuses
/// of `failures` first, one per request. Records each request line with its `If-None-Match`
/// and the status sent.
struct Server {
    url: String,
    body: Arc<Mutex<String>>,
    log: Arc<Mutex<Vec<String>>>,
    failures: Arc<Mutex<VecDeque<&'static str>>>,
}

fn serve(body: &str) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}/data.csv", listener.local_addr().expect("addr"));
    let body = Arc::new(Mutex::new(body.to_string()));
    let log = Arc::new(Mutex::new(Vec::new()));
    let failures = Arc::new(Mutex::new(VecDeque::new()));
    let (b, l, f) = (body.clone(), log.clone(), failures.clone());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let (request, headers, _) = common::read_request(&stream);
            let if_none_match = headers
                .into_iter()
                .find(|(k, _)| k == "if-none-match")
                .map(|(_, v)| v.to_ascii_lowercase())
                .unwrap_or_default();
            let content = b.lock().expect("body").clone();
            let etag = format!("\"{}\"", content.len());
            let failure = f.lock().expect("failures").pop_front();
            let (status, payload) = if let Some(status) = failure {
                (status, String::new())
            } else if if_none_match == etag {
                ("304 Not Modified", String::new())
            } else {
                ("200 OK", content)
            };
            l.lock().expect("log").push(format!(
                "{} inm={if_none_match} -> {status}",
                request.trim()
            ));
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\nETag: {etag}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{payload}",
                payload.len()
            );
        }
    });
    Server {
        url,
        body,
        log,
        failures,
    }
}

fn states(out: &std::process::Output) -> Vec<(String, String)> {
    assert_eq!(out.status.code(), Some(0), "{}", text(out));
    let v: Value = serde_json::from_slice(&out.stdout).expect("summary");
    v["tasks"]
        .as_array()
        .expect("tasks")
        .iter()
        .map(|t| {
            (
                t["task"].as_str().unwrap_or("").to_string(),
                t["state"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

fn files(p: &Project) -> Value {
    let out = p.run_ok(&[
        "sql",
        "select name, bytes, status, sha256 from fetching.download order by name",
        "--format",
        "json",
    ]);
    serde_json::from_slice(&out.stdout).expect("json")
}

#[test]
fn an_unchanged_source_costs_one_304_and_the_tasks_after_it_stay_cached() {
    let server = serve("id,name\n1,a\n");
    let p = Project::new(&format!(
        r#"
name: fetching
tasks:
  download:
    op: fetch
    url: {}
  sizes:
    op: sql
    sql: select name, bytes from download
"#,
        server.url
    ));
    let pair = |a: &str, b: &str| (a.to_string(), b.to_string());
    let first = states(&p.sluice(&["run", "pipeline.yaml", "--json"]));
    assert_eq!(
        first,
        vec![pair("download", "succeeded"), pair("sizes", "succeeded")]
    );
    let f = files(&p);
    assert_eq!(f[0]["name"], "data.csv");
    assert_eq!(f[0]["bytes"], 12);
    assert_eq!(f[0]["status"], "downloaded");
    // sha256 of "id,name\n1,a\n"
    assert_eq!(
        f[0]["sha256"],
        "b7773700b1468b27c88d7122034e23bc5af7703c70bc13fd545d8e08534dcf41"
    );
    let raw: Vec<_> = std::fs::read_dir(p.path(".sluice/warehouse/fetching/download/raw"))
        .expect("raw folder")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(raw, vec!["data.csv"]);

    let second = states(&p.sluice(&["run", "pipeline.yaml", "--json"]));
    assert_eq!(
        second,
        vec![pair("download", "succeeded"), pair("sizes", "cached")]
    );
    assert_eq!(files(&p)[0]["status"], "not_modified");
    {
        let log = server.log.lock().expect("log");
        assert_eq!(log.len(), 2, "{log:?}");
        assert_eq!(
            log[1],
            "GET /data.csv HTTP/1.1 inm=\"12\" -> 304 Not Modified"
        );
    }

    *server.body.lock().expect("body") = "id,name\n1,a\n2,b\n".into();
    let third = states(&p.sluice(&["run", "pipeline.yaml", "--json"]));
    assert_eq!(
        third,
        vec![pair("download", "succeeded"), pair("sizes", "succeeded")]
    );
    assert_eq!(files(&p)[0]["bytes"], 16);
    assert_eq!(
        std::fs::read_to_string(p.path(".sluice/warehouse/fetching/download/raw/data.csv"))
            .expect("raw file"),
        "id,name\n1,a\n2,b\n"
    );
}

#[test]
fn a_listing_takes_the_newest_dump_then_only_new_deltas_in_date_order() {
    let p = Project::new(
        r#"
name: fetching
tasks:
  download:
    op: fetch
    listing:
      url: index
      pattern: "*.tar.gz"
"#,
    );
    let index = p.path("index");
    std::fs::create_dir_all(&index).expect("mkdir");
    for name in [
        "Freemium_cnil_global_20250101-000000.tar.gz",
        "CNIL_20241231-210000.tar.gz",
        "CNIL_20250102-210000.tar.gz",
        "Freemium_cnil_global_20240101-000000.tar.gz",
        "notes.txt",
    ] {
        std::fs::write(index.join(name), name).expect("write");
    }
    p.run_ok(&["run", "pipeline.yaml"]);
    let names = |v: &Value| -> Vec<String> {
        v.as_array()
            .expect("rows")
            .iter()
            .map(|r| {
                format!(
                    "{} {}",
                    r["name"].as_str().unwrap_or(""),
                    r["status"].as_str().unwrap_or("")
                )
            })
            .collect()
    };
    let order = |p: &Project| -> Value {
        let out = p.run_ok(&[
            "sql",
            "select name, status from fetching.download",
            "--format",
            "json",
        ]);
        serde_json::from_slice(&out.stdout).expect("json")
    };
    assert_eq!(
        names(&order(&p)),
        vec![
            "Freemium_cnil_global_20250101-000000.tar.gz downloaded",
            "CNIL_20250102-210000.tar.gz downloaded"
        ]
    );
    std::fs::write(index.join("CNIL_20250103-210000.tar.gz"), "delta").expect("write");
    p.run_ok(&["run", "pipeline.yaml"]);
    assert_eq!(
        names(&order(&p)),
        vec![
            "Freemium_cnil_global_20250101-000000.tar.gz kept",
            "CNIL_20250102-210000.tar.gz kept",
            "CNIL_20250103-210000.tar.gz downloaded"
        ]
    );
}

#[test]
fn a_resumed_run_reads_the_files_of_the_download_it_already_made() {
    let p = Project::new(
        r#"
name: fetching
tasks:
  download:
    op: fetch
    url: data.csv
  gate:
    run: test -f ok
    after: download
  sizes:
    op: sql
    sql: select name, bytes from download
    after: gate
"#,
    );
    std::fs::write(p.path("data.csv"), "id\n1\n").expect("write");
    let out = p.sluice(&["run", "pipeline.yaml"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let run = p.last_run_id();
    std::fs::write(p.path("ok"), "").expect("write");
    let out = p.sluice(&["run", "pipeline.yaml", "--resume", &run, "--json"]);
    let states = states(&out);
    assert_eq!(
        states,
        vec![
            ("download".to_string(), "succeeded".to_string()),
            ("gate".to_string(), "succeeded".to_string()),
            ("sizes".to_string(), "succeeded".to_string())
        ]
    );
    let rows = p.run_ok(&[
        "sql",
        "select name, bytes from fetching.sizes",
        "--format",
        "json",
    ]);
    let v: Value = serde_json::from_slice(&rows.stdout).expect("json");
    assert_eq!(v[0]["name"], "data.csv");
    assert_eq!(v[0]["bytes"], 5);
}

/// A download task with no request retries of its own, so that each failure ends the attempt.
fn flaky_download(server: &Server, retries: u32) -> Project {
    Project::new(&format!(
        "name: flaky\ntasks:\n  download: {{ op: fetch, url: {}, request_retries: 0, \
         retries: {retries}, retry_delay: 10ms }}\n",
        server.url
    ))
}

#[test]
fn a_server_answering_503_is_tried_again_by_the_tasks_retries() {
    let server = serve("id\n1\n");
    server
        .failures
        .lock()
        .expect("failures")
        .extend(["503 Service Unavailable", "503 Service Unavailable"]);
    let p = flaky_download(&server, 3);
    let out = p.sluice(&["run", "pipeline.yaml", "--json"]);
    assert_eq!(
        states(&out),
        vec![("download".to_string(), "succeeded".to_string())]
    );
    let show = p.show(&p.last_run_id());
    let errors: Vec<Value> = common::attempts(&show, "download")
        .iter()
        .map(|a| a["error"].clone())
        .collect();
    let url = &server.url;
    assert_eq!(
        errors,
        vec![
            Value::from(format!(
                "GET {url}: gave up after 1 attempt; the last one: 503 Service Unavailable"
            )),
            Value::from(format!(
                "GET {url}: gave up after 1 attempt; the last one: 503 Service Unavailable"
            )),
            Value::Null,
        ]
    );
}

#[test]
fn a_server_answering_404_fails_the_task_after_one_attempt() {
    let server = serve("id\n1\n");
    server
        .failures
        .lock()
        .expect("failures")
        .push_back("404 Not Found");
    let p = flaky_download(&server, 3);
    let out = p.sluice(&["run", "pipeline.yaml", "--json"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let show = p.show(&p.last_run_id());
    assert_eq!(common::attempts(&show, "download").len(), 1);
    let error = common::task(&show, "download")["error"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        error.ends_with(
            "refused error: a service refused the request: check the address, the credentials \
             or the quota (not retried: 3 retries skipped)"
        ),
        "{error}"
    );
    assert_eq!(server.log.lock().expect("log").len(), 1);
}

#[test]
fn a_configuration_error_with_three_retries_fails_after_one_attempt() {
    let p = Project::new(
        "name: misconfigured\ntasks:\n  read: { op: read.csv, path: missing.csv, retries: 3, \
         retry_delay: 10ms }\n",
    );
    let out = p.sluice(&["run", "pipeline.yaml"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let show = p.show(&p.last_run_id());
    assert_eq!(common::attempts(&show, "read").len(), 1);
    let error = common::task(&show, "read")["error"]
        .as_str()
        .unwrap_or_default();
    assert!(
        error.ends_with(
            "config error: fix the pipeline file or the task's settings (not retried: 3 retries \
             skipped)"
        ),
        "{error}"
    );
    assert!(
        text(&out).contains("config error: fix the pipeline file"),
        "{}",
        text(&out)
    );
}
