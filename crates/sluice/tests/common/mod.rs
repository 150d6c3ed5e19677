//! Helpers shared by the black-box tests: a temporary project and the `sluice` binary.
#![allow(dead_code)]

#[path = "../../../sluice-vector/tests/common/mod.rs"]
pub mod vector;
/// The test PostgreSQL (`SLUICE_TEST_PG_URL`), said loudly when missing outside CI.
pub use vector::pg_url;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};

use serde_json::Value;

/// A temporary folder holding a pipeline, and the `sluice` binary run in it.
pub struct Project {
    /// The folder.
    pub dir: tempfile::TempDir,
}

impl Project {
    pub fn new(pipeline: &str) -> Project {
        // Under target/tmp: `.sluice` discovery walks up from here, and must not find a stray
        // `/tmp/.sluice` left by someone else's run.
        let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("tempdir");
        std::fs::write(dir.path().join("pipeline.yaml"), pipeline).expect("write pipeline");
        Project { dir }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_sluice"));
        c.args(args)
            .current_dir(self.dir.path())
            .env_remove("SLUICE_HOME")
            .env_remove("SLUICE_STATE")
            .stdin(Stdio::null());
        c
    }

    /// `sluice ARGS` started in the background, its output discarded (to be killed).
    pub fn spawn(&self, args: &[&str]) -> std::process::Child {
        self.cmd(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn sluice")
    }

    pub fn sluice(&self, args: &[&str]) -> Output {
        self.cmd(args).output().expect("run sluice")
    }

    pub fn run_ok(&self, args: &[&str]) -> Output {
        let out = self.sluice(args);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        out
    }

    pub fn json(&self, args: &[&str]) -> Value {
        let out = self.run_ok(args);
        serde_json::from_slice(&out.stdout).expect("json output")
    }

    pub fn last_run_id(&self) -> String {
        let runs = self.json(&["runs", "--json", "--limit", "1"]);
        runs[0]["id"].as_str().expect("run id").to_string()
    }

    pub fn show(&self, run_id: &str) -> Value {
        self.json(&["show", run_id, "--json"])
    }

    pub fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.path(name)).unwrap_or_default()
    }
}

pub fn text(out: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}--- stderr\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

pub fn task<'a>(show: &'a Value, name: &str) -> &'a Value {
    show["tasks"]
        .as_array()
        .and_then(|ts| ts.iter().find(|t| t["task"] == name))
        .unwrap_or_else(|| panic!("task {name} not in {show:#}"))
}

pub fn attempts<'a>(show: &'a Value, name: &str) -> Vec<&'a Value> {
    show["attempts"]
        .as_array()
        .map(|a| a.iter().filter(|t| t["task"] == name).collect())
        .unwrap_or_default()
}

/// A process that exists and is not a zombie.
pub fn is_alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| !stat.contains(") Z "))
}

pub fn micros(v: &Value) -> i64 {
    v.as_i64().expect("timestamp")
}

/// The folder of the real model all-MiniLM-L6-v2 (`scripts/model.sh` puts it there and
/// `scripts/test.sh` exports `SLUICE_TEST_MODEL`). Outside CI a test without it is skipped
/// with a message; in CI its absence fails the test.
pub fn model_dir() -> Option<PathBuf> {
    let from_env = std::env::var_os("SLUICE_TEST_MODEL").map(PathBuf::from);
    let default = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.models/all-MiniLM-L6-v2");
    match from_env
        .or(Some(default))
        .filter(|d| d.join("tokenizer.json").is_file())
    {
        Some(d) => Some(d),
        None if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!(
                "the model all-MiniLM-L6-v2 is missing: run scripts/model.sh (scripts/test.sh does)"
            )
        }
        None => {
            eprintln!("SKIPPED: the model all-MiniLM-L6-v2 is missing; run scripts/model.sh");
            None
        }
    }
}

/// Counters the op of `task` reported in the last attempt of run `run_id`.
pub fn metrics(p: &Project, run_id: &str, task: &str) -> Value {
    let show = p.show(run_id);
    attempts(&show, task)
        .last()
        .map(|a| a["metrics"].clone())
        .unwrap_or(Value::Null)
}

/// The Python of the test environment (`SLUICE_TEST_PYTHON`, set by scripts/test.sh), or
/// none outside CI, where `what` is skipped loudly; in CI its absence fails the test.
pub fn test_python(what: &str) -> Option<String> {
    match std::env::var("SLUICE_TEST_PYTHON") {
        Ok(p) if !p.is_empty() => Some(p),
        _ => {
            assert!(
                std::env::var("CI").is_err(),
                "{what}: SLUICE_TEST_PYTHON must be set in CI (scripts/test.sh sets it)"
            );
            eprintln!("SKIPPED {what}: set SLUICE_TEST_PYTHON (scripts/python-env.sh)");
            None
        }
    }
}

/// Runs `python -c script args…`, asserting it succeeds; its standard output.
pub fn run_python(python: &str, script: &str, args: &[&std::ffi::OsStr]) -> Vec<u8> {
    let out = Command::new(python)
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .expect("python");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// A running `sluice serve`, killed when dropped.
pub struct Server {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
}

impl Server {
    /// Starts `sluice serve` on a free port in the project's folder; the real model's folder
    /// (when there is one) is its `SLUICE_MODELS`, so `/v1/embeddings` serves
    /// `all-MiniLM-L6-v2`.
    pub fn start(p: &Project) -> Server {
        Server::start_with(p, &[])
    }

    /// [`Server::start`] with more environment variables.
    pub fn start_with(p: &Project, env: &[(&str, &str)]) -> Server {
        let mut cmd = p.cmd(&["serve", "--bind", "127.0.0.1:0", "--pipelines", "."]);
        cmd.envs(env.iter().copied());
        if let Some(parent) = model_dir().as_deref().and_then(std::path::Path::parent) {
            cmd.env("SLUICE_MODELS", parent);
        }
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("sluice serve");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).expect("line");
        let base = line
            .trim()
            .strip_prefix("sluice serve: listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_string();
        Server { child, base }
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// A line of its `/proc/PID/status` in kB (`VmHWM`: the peak resident memory).
    pub fn status_kb(&self, field: &str) -> u64 {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.pid())).expect("proc status");
        status
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{field}:")))
            .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
            .unwrap_or_else(|| panic!("no {field} in {status}"))
    }

    /// Kills it with SIGKILL.
    pub fn kill9(&mut self) {
        let _ = Command::new("kill")
            .args(["-9", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Four short texts with a theme each, for search tests.
pub const DOCS: &str = "id,theme,text
0,Logement,\"Les aides au logement pour les étudiants: APL, ALS et caution Visale.\"
1,Papiers,\"Renouveler une carte d'identité ou un passeport à la mairie.\"
2,Travail,\"Les congés payés: combien de jours, comment les poser.\"
3,Santé,\"La carte Vitale et le remboursement des consultations médicales.\"
";

/// The `docs` pipeline: `docs.csv` ([`DOCS`]) embedded by the model in `model`.
pub fn docs_pipeline(model: &std::path::Path) -> String {
    format!(
        "name: docs\ntasks:\n  sheets: {{ op: read.csv, path: docs.csv }}\n  \
         embeddings: {{ op: embed, input: sheets, model: {}, text: text }}\n",
        model.display()
    )
}

/// A pipeline scheduled on the 1st of January, midnight in Paris, whose task prints its
/// slot's date: backfill tests.
pub const YEARLY: &str = r#"
name: yearly
schedule: "0 0 1 1 *"
timezone: Europe/Paris
catchup: none
max_active_runs: 2
params:
  slot_date: ""
tasks:
  a: { run: "echo year of ${params.slot_date}" }
"#;

// --- calling a running server ------------------------------------------------------------

use reqwest::blocking::{Client, RequestBuilder};
use reqwest::{Method, StatusCode};
use sluice_server::api::pipelines::Started;
use sluice_server::api::runs::RunDetail;
use std::time::{Duration, Instant};

pub fn client() -> Client {
    Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client")
}

pub fn call(
    c: &Client,
    s: &Server,
    method: Method,
    path: &str,
    token: Option<&str>,
) -> RequestBuilder {
    let r = c.request(method, format!("{}{path}", s.base));
    match token {
        Some(t) => r.bearer_auth(t),
        None => r,
    }
}

pub fn json_of(r: reqwest::blocking::Response) -> Value {
    let status = r.status();
    let body = r.text().expect("body");
    serde_json::from_str(&body).unwrap_or_else(|_| panic!("{status}: {body}"))
}

/// The answer of `r` as `T`, one of the server's own answer types (those its OpenAPI schemas
/// are generated from): a field renamed or retyped on one side fails here.
pub fn answer<T: serde::de::DeserializeOwned>(r: reqwest::blocking::Response) -> T {
    let status = r.status();
    let body = r.text().expect("body");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{status}: {e}: {body}"))
}

/// Adds a user and returns an API token of theirs.
pub fn user_with_token(p: &Project, name: &str, role: &str) -> String {
    let out = p
        .cmd(&["user", "add", name, "--role", role])
        .env("SLUICE_PASSWORD", format!("{name}-password"))
        .output()
        .expect("user add");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let out = p.run_ok(&["token", "create", "--user", name, "--label", "tests"]);
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// The runs of `pipeline`, newest first.
pub fn runs_of(c: &Client, s: &Server, token: &str, pipeline: &str) -> Vec<Value> {
    let path = format!("/api/runs?pipeline={pipeline}");
    json_of(
        call(c, s, Method::GET, &path, Some(token))
            .send()
            .expect("runs"),
    )
    .as_array()
    .cloned()
    .unwrap_or_default()
}

pub fn wait_for(what: &str, limit: Duration, mut ok: impl FnMut() -> bool) {
    let started = Instant::now();
    while !ok() {
        assert!(started.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Triggers a run of `pipeline` with `body` and returns its id.
pub fn trigger(c: &Client, s: &Server, token: &str, pipeline: &str, body: Value) -> String {
    let path = format!("/api/pipelines/{pipeline}/runs");
    let r = call(c, s, Method::POST, &path, Some(token))
        .json(&body)
        .send()
        .expect("trigger");
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    answer::<Started>(r).run_id
}

/// `GET /api/runs/{id}`: the run, its tasks and attempts.
pub fn run_json(c: &Client, s: &Server, token: &str, id: &str) -> Value {
    json_of(
        call(c, s, Method::GET, &format!("/api/runs/{id}"), Some(token))
            .send()
            .expect("run"),
    )
}

/// The state of run `id`, read as the server's own [`RunDetail`].
pub fn run_state(c: &Client, s: &Server, token: &str, id: &str) -> String {
    let r = call(c, s, Method::GET, &format!("/api/runs/{id}"), Some(token))
        .send()
        .expect("run");
    answer::<RunDetail>(r).run.state.as_str().to_string()
}

/// Three classes: two numeric features carry them, a text column partly, a third number is
/// noise with missing values. A fixed linear congruential generator makes the file.
pub fn rows_csv(rows: usize, seed: u64) -> String {
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let mut next = || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 33) as f64 / (1u64 << 31) as f64
    };
    let mut out = String::from("id,x,y,noise,colour,label\n");
    for i in 0..rows {
        let label = (next() * 3.0) as usize % 3;
        let (cx, cy) = [(0.0, 0.0), (2.5, 0.5), (0.5, 2.5)][label];
        let x = cx + next() * 2.0 - 1.0;
        let y = cy + next() * 2.0 - 1.0;
        let noise = if next() < 0.1 {
            String::new()
        } else {
            format!("{:.3}", next())
        };
        let colour = ["red", "green", "blue"][if next() < 0.7 { label } else { (label + 1) % 3 }];
        let name = ["seen", "consulted", "booked"][label];
        out.push_str(&format!("{i},{x:.4},{y:.4},{noise},{colour},{name}\n"));
    }
    out
}

/// Runs the browser flow `tests/ui/SCRIPT` with `node` against `server` (the script gets the
/// base URL, a screenshot folder under the target's tmp folder, then `args`) and checks that
/// it exits 0 printing `ok: N screenshots`. `false` (skipped loudly) outside CI when
/// scripts/browser.sh's chromium and playwright-core are not given; in CI their absence fails.
pub fn browser_flow(
    script: &str,
    server: &Server,
    args: &[&std::ffi::OsStr],
    shots: usize,
) -> bool {
    let Some((chromium, node_path)) = browser(script) else {
        return false;
    };
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("{}-screenshots", script.trim_end_matches(".js")));
    let _ = std::fs::remove_dir_all(&dir);
    let flow = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/ui")
        .join(script);
    let out = Command::new("node")
        .arg(flow)
        .arg(&server.base)
        .arg(&dir)
        .args(args)
        .env("NODE_PATH", &node_path)
        .env("SLUICE_TEST_CHROMIUM", &chromium)
        .output()
        .expect("node");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{} (screenshots in {})",
        text(&out),
        dir.display()
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).starts_with(&format!("ok: {shots} screenshots")),
        "{}",
        text(&out)
    );
    true
}

/// scripts/browser.sh's chromium and playwright-core's folder, or `None` (said loudly) outside
/// CI when they are not given; in CI their absence fails the test.
pub fn browser(what: &str) -> Option<(String, String)> {
    let (Ok(chromium), Ok(node_path)) = (
        std::env::var("SLUICE_TEST_CHROMIUM"),
        std::env::var("SLUICE_TEST_NODE_PATH"),
    ) else {
        assert!(
            std::env::var("CI").is_err(),
            "CI must run the browser test: SLUICE_TEST_CHROMIUM and SLUICE_TEST_NODE_PATH are not set (scripts/test.sh sets them with scripts/browser.sh)"
        );
        eprintln!(
            "SKIPPED the browser test {what}: SLUICE_TEST_CHROMIUM / SLUICE_TEST_NODE_PATH are not set; run scripts/test.sh"
        );
        return None;
    };
    Some((chromium, node_path))
}

/// One HTTP/1.1 request read from `stream`: its request line, its headers (names in lower
/// case) and its body (`Content-Length` bytes), for the small servers tests start.
pub fn read_request(stream: &std::net::TcpStream) -> (String, Vec<(String, String)>, Vec<u8>) {
    use std::io::Read;
    let mut reader = BufReader::new(stream.try_clone().expect("clone"));
    let mut request = String::new();
    let _ = reader.read_line(&mut request);
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    let len = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; len];
    let _ = reader.read_exact(&mut body);
    (request.trim().to_string(), headers, body)
}

/// Copies a folder, recursively (an example project into a test's folder).
pub fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

/// Runs `statements` on PostgreSQL at `url` (simple protocol); the rows of the last one, as text.
pub fn pg_query(url: &str, statements: &[&str]) -> Vec<Vec<Option<String>>> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
            .await
            .expect("connect");
        tokio::spawn(conn);
        let mut rows = Vec::new();
        for s in statements {
            rows = client
                .simple_query(s)
                .await
                .unwrap_or_else(|e| panic!("{s}: {e}"))
                .into_iter()
                .filter_map(|m| match m {
                    tokio_postgres::SimpleQueryMessage::Row(r) => {
                        Some((0..r.len()).map(|i| r.get(i).map(str::to_string)).collect())
                    }
                    _ => None,
                })
                .collect();
        }
        rows
    })
}

/// A fresh database `PREFIX_PID` on the test PostgreSQL (see [`pg_url`]), its URL.
pub fn pg_database(test: &str, prefix: &str) -> Option<String> {
    let url = pg_url(test)?;
    let name = format!("{prefix}_{}", std::process::id());
    pg_query(
        &url,
        &[
            &format!("DROP DATABASE IF EXISTS {name}"),
            &format!("CREATE DATABASE {name}"),
        ],
    );
    let base = url.rsplit_once('/').map_or(url.as_str(), |(b, _)| b);
    Some(format!("{base}/{name}"))
}

/// A moto S3 server (from the environment of `SLUICE_TEST_PYTHON`), stopped on drop.
pub struct Moto(std::process::Child);

impl Moto {
    /// Started on a free port of loopback; with its endpoint URL, once it answers.
    pub fn start(python: &str) -> (Moto, String) {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let moto = Moto(
            Command::new(python)
                .args([
                    "-m",
                    "moto.server",
                    "-H",
                    "127.0.0.1",
                    "-p",
                    &port.to_string(),
                ])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("moto"),
        );
        let start = std::time::Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                start.elapsed() < std::time::Duration::from_secs(60),
                "moto did not start"
            );
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
        (moto, format!("http://127.0.0.1:{port}"))
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs a few lines of Python with boto3 (`s3`, a client of the moto endpoint); returns
/// stdout.
pub fn boto(python: &str, endpoint: &str, code: &str) -> String {
    let script = format!(
        "import boto3, json, hashlib\n\
         s3 = boto3.client('s3', endpoint_url='{endpoint}', region_name='us-east-1', \
         aws_access_key_id='test', aws_secret_access_key='test')\n{code}"
    );
    String::from_utf8_lossy(&run_python(python, &script, &[])).to_string()
}
