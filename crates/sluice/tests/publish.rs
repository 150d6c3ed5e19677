//! `publish.object_store` against a real S3 endpoint (`moto[server]`, from the environment of
//! `SLUICE_TEST_PYTHON`) and `publish.huggingface` against a local server that plays the
//! Hub and checks every request: the token, the LFS uploads (sha256 of the bytes), the
//! commit's operations; nothing uploaded when nothing changed.

mod common;

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use common::{Project, boto, metrics, text};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

const ITEMS: &str = r#"
name: pub
params:
  rows: items.csv
tasks:
  items:
    op: read.csv
    path: ${params.rows}
  export:
    op: export.parquet
    input: items
    path: out/items
    max_rows: 4
    order_by: [id]
"#;

fn items_csv(n: usize, salt: &str) -> String {
    let mut s = String::from("id,label\n");
    for i in 0..n {
        s.push_str(&format!("{i},item {i}{salt}\n"));
    }
    s
}

#[test]
fn s3_versions_are_immutable_and_unchanged_content_uploads_nothing() {
    let Some(py) =
        common::test_python("s3_versions_are_immutable_and_unchanged_content_uploads_nothing")
    else {
        return;
    };
    let (moto, endpoint) = common::Moto::start(&py);
    boto(&py, &endpoint, "s3.create_bucket(Bucket='open-data')");

    let pipeline = format!(
        "{ITEMS}  publish:\n    op: publish.object_store\n    path: out/items\n    url: \
         s3://open-data/datasets\n    keep: 1\n    after: export\n    options:\n      \
         endpoint: {endpoint}\n      allow_http: \"true\"\n      region: us-east-1\n"
    );
    let p = Project::new(&pipeline);
    std::fs::write(p.path("items.csv"), items_csv(10, "")).expect("csv");
    let run = |p: &Project| {
        let out = p
            .cmd(&["run", "pipeline.yaml"])
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .output()
            .expect("run");
        assert!(out.status.success(), "{}", text(&out));
        metrics(p, &p.last_run_id(), "publish")
    };
    let m = run(&p);
    assert_eq!(m["published"], 1, "{m}");
    assert_eq!(m["files"], 3);
    // Read back with boto3: latest.json names a version whose files have the sha256 of the
    // exported files.
    let check = "latest = json.loads(s3.get_object(Bucket='open-data', \
                 Key='datasets/items/latest.json')['Body'].read())\n\
                 for f in latest['files']:\n    \
                 body = s3.get_object(Bucket='open-data', \
                 Key='datasets/items/' + latest['version'] + '/' + f['path'])['Body'].read()\n    \
                 assert hashlib.sha256(body).hexdigest() == f['sha256'], f\n\
                 keys = [o['Key'] for o in s3.list_objects_v2(Bucket='open-data')['Contents']]\n\
                 print(latest['version'], latest['rows'], len(keys))\n";
    let first = boto(&py, &endpoint, check);
    let fields: Vec<&str> = first.split_whitespace().collect();
    assert_eq!(fields[1..], ["10", "5"], "{first}"); // 3 files, manifest.json, latest.json
    let manifest: Value = serde_json::from_str(&p.read("out/items/manifest.json")).expect("m");
    assert_eq!(manifest["rows"], 10);

    // Nothing changed: nothing uploaded, the same version.
    let m = run(&p);
    assert_eq!(
        (m["published"].clone(), m["unchanged"].clone()),
        (json!(0), json!(1))
    );
    assert_eq!(boto(&py, &endpoint, check), first);

    // New content: a new version; `keep: 1` removes the previous one.
    std::fs::write(p.path("items.csv"), items_csv(6, " v2")).expect("csv");
    let m = run(&p);
    assert_eq!(m["published"], 1);
    assert_eq!(m["removed_versions"], 1);
    let second = boto(&py, &endpoint, check);
    let fields2: Vec<&str> = second.split_whitespace().collect();
    assert_ne!(fields2[0], fields[0]);
    assert_eq!(fields2[1..], ["6", "4"], "{second}"); // 2 files, manifest.json, latest.json
    drop(moto);
}

/// What the fake Hub holds and saw.
#[derive(Default)]
struct Hub {
    /// Every request: `METHOD path`.
    requests: Vec<String>,
    /// The repository's files: path → LFS oid, or the content of a plain file.
    files: BTreeMap<String, Result<String, Vec<u8>>>,
    /// LFS objects by oid.
    lfs: BTreeMap<String, Vec<u8>>,
    /// The commits' operations.
    commits: Vec<Vec<Value>>,
    /// Answer 429 to the next LFS batch request.
    throttle_next_batch: bool,
    port: u16,
}

type Shared = Arc<Mutex<Hub>>;

const TOKEN: &str = "hf_test_token";

fn status(code: StatusCode, body: impl Into<String>) -> Response {
    (code, body.into()).into_response()
}

async fn hub(
    State(hub): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_string();
    let mut h = hub.lock().expect("lock");
    h.requests.push(format!("{method} {path}"));
    if let Some(oid) = path.strip_prefix("/lfs-upload/") {
        // Authorised by the header the batch answer gave, not by the token.
        if headers.get("x-upload-ticket").and_then(|v| v.to_str().ok()) != Some(oid) {
            return status(StatusCode::FORBIDDEN, "no ticket");
        }
        if sha256(&body) != oid {
            return status(StatusCode::BAD_REQUEST, "the bytes do not match the oid");
        }
        h.lfs.insert(oid.to_string(), body.to_vec());
        return status(StatusCode::OK, "");
    }
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if auth != format!("Bearer {TOKEN}") {
        return status(
            StatusCode::UNAUTHORIZED,
            "{\"error\":\"Invalid credentials\"}",
        );
    }
    match (method.as_str(), path.as_str()) {
        ("GET", "/api/datasets/team/data") => status(StatusCode::OK, "{\"id\":\"team/data\"}"),
        ("GET", p) if p.starts_with("/datasets/team/data/resolve/main/") => {
            let file = &p["/datasets/team/data/resolve/main/".len()..];
            match h.files.get(file) {
                Some(Err(content)) => (StatusCode::OK, content.clone()).into_response(),
                Some(Ok(oid)) => {
                    (StatusCode::OK, h.lfs.get(oid).cloned().unwrap_or_default()).into_response()
                }
                None => status(StatusCode::NOT_FOUND, "Entry not found"),
            }
        }
        ("POST", "/datasets/team/data.git/info/lfs/objects/batch") => {
            if std::mem::take(&mut h.throttle_next_batch) {
                return (
                    StatusCode::TOO_MANY_REQUESTS,
                    [("retry-after", "1")],
                    "slow down",
                )
                    .into_response();
            }
            let req: Value = serde_json::from_slice(&body).expect("batch json");
            assert_eq!(req["operation"], "upload");
            assert_eq!(req["hash_algo"], "sha256");
            let objects: Vec<Value> = req["objects"]
                .as_array()
                .expect("objects")
                .iter()
                .map(|o| {
                    let oid = o["oid"].as_str().expect("oid");
                    if h.lfs.contains_key(oid) {
                        json!({"oid": oid, "size": o["size"]})
                    } else {
                        json!({"oid": oid, "size": o["size"], "actions": {
                            "upload": {"href": format!("http://127.0.0.1:{}/lfs-upload/{oid}", h.port),
                                       "header": {"X-Upload-Ticket": oid}},
                            "verify": {"href": format!("http://127.0.0.1:{}/lfs-verify", h.port)},
                        }})
                    }
                })
                .collect();
            (
                StatusCode::OK,
                json!({"transfer": "basic", "objects": objects}).to_string(),
            )
                .into_response()
        }
        ("POST", "/lfs-verify") => {
            let req: Value = serde_json::from_slice(&body).expect("verify json");
            match h.lfs.get(req["oid"].as_str().unwrap_or_default()) {
                Some(b) if req["size"] == b.len() as u64 => status(StatusCode::OK, "{}"),
                _ => status(StatusCode::NOT_FOUND, "not uploaded"),
            }
        }
        ("POST", "/api/datasets/team/data/commit/main") => {
            let lines: Vec<Value> = String::from_utf8_lossy(&body)
                .lines()
                .map(|l| serde_json::from_str(l).expect("ndjson line"))
                .collect();
            assert_eq!(lines[0]["key"], "header");
            let ops = lines[1..].to_vec();
            // The whole commit is checked before anything is applied, as the Hub does.
            for op in &ops {
                if op["key"] == "lfsFile" {
                    let oid = op["value"]["oid"].as_str().unwrap_or_default();
                    if !h.lfs.contains_key(oid) {
                        return status(
                            StatusCode::BAD_REQUEST,
                            format!("unknown LFS object {oid}"),
                        );
                    }
                }
            }
            for op in &ops {
                let path = op["value"]["path"].as_str().expect("path").to_string();
                match op["key"].as_str() {
                    Some("lfsFile") => {
                        let oid = op["value"]["oid"].as_str().unwrap_or_default().to_string();
                        h.files.insert(path, Ok(oid));
                    }
                    Some("file") => {
                        let content = base64::engine::general_purpose::STANDARD
                            .decode(op["value"]["content"].as_str().unwrap_or_default())
                            .expect("base64");
                        h.files.insert(path, Err(content));
                    }
                    Some("deletedFile") => {
                        h.files.remove(&path);
                    }
                    other => panic!("unexpected operation {other:?}"),
                }
            }
            h.commits.push(ops);
            let n = h.commits.len();
            status(
                StatusCode::OK,
                json!({"commitOid": format!("c{n}")}).to_string(),
            )
        }
        _ => status(StatusCode::NOT_FOUND, format!("no route {path}")),
    }
}

/// Starts the fake Hub on a thread of its own.
fn start_hub() -> (Shared, u16) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    listener.set_nonblocking(true).expect("nonblocking");
    let shared: Shared = Arc::new(Mutex::new(Hub {
        port,
        ..Hub::default()
    }));
    let state = shared.clone();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
            let app = Router::new().fallback(hub).with_state(state);
            axum::serve(listener, app).await.expect("serve");
        });
    });
    (shared, port)
}

/// The exported files' names and sha256, from the export's manifest.
fn exported_files(p: &Project) -> BTreeMap<String, String> {
    let manifest: Value = serde_json::from_str(&p.read("out/items/manifest.json")).expect("m");
    manifest["files"]
        .as_array()
        .expect("files")
        .iter()
        .map(|f| {
            let field = |k: &str| f[k].as_str().expect("manifest field").to_string();
            (field("path"), field("sha256"))
        })
        .collect()
}

fn lfs_of(hub: &Hub, dir: &str) -> BTreeMap<String, String> {
    hub.files
        .iter()
        .filter(|(p, _)| p.starts_with(dir))
        .filter_map(|(p, f)| {
            f.as_ref()
                .ok()
                .map(|oid| (p[dir.len()..].to_string(), oid.clone()))
        })
        .collect()
}

#[test]
fn hugging_face_gets_one_commit_per_change_and_nothing_when_unchanged() {
    let (shared, port) = start_hub();
    let pipeline = format!(
        "{ITEMS}  publish:\n    op: publish.huggingface\n    path: out/items\n    repo: \
         team/data\n    endpoint: http://127.0.0.1:{port}\n    license: etalab-2.0\n    \
         source: https://example.org/items\n    after: export\n"
    );
    let p = Project::new(&pipeline);
    std::fs::write(p.path("items.csv"), items_csv(10, "")).expect("csv");
    let run = |p: &Project, token: Option<&str>| {
        let mut cmd = p.cmd(&["run", "pipeline.yaml"]);
        cmd.env_remove("HF_TOKEN").env_remove("HF_ENDPOINT");
        if let Some(t) = token {
            cmd.env("HF_TOKEN", t);
        }
        cmd.output().expect("run")
    };

    // No token: a clear error, and not one request.
    let out = run(&p, None);
    assert!(!out.status.success());
    assert!(
        text(&out).contains(
            "no Hugging Face token: the environment variable HF_TOKEN is not set (a token \
             with write access to team/data"
        ),
        "{}",
        text(&out)
    );
    assert!(shared.lock().expect("lock").requests.is_empty());

    // A wrong token: the Hub's 401, with what to check; nothing committed.
    let out = run(&p, Some("hf_wrong"));
    assert!(!out.status.success());
    assert!(
        text(&out).contains(
            "reading the repository: the Hub answered 401 Unauthorized: {\"error\":\"Invalid \
             credentials\"}; check that the token in HF_TOKEN has write access to team/data"
        ),
        "{}",
        text(&out)
    );
    shared.lock().expect("lock").requests.clear();

    // First publication, through one 429.
    shared.lock().expect("lock").throttle_next_batch = true;
    let out = run(&p, Some(TOKEN));
    assert!(out.status.success(), "{}", text(&out));
    let local = exported_files(&p);
    assert_eq!(local.len(), 3);
    {
        let h = shared.lock().expect("lock");
        let mut expected = vec![
            "GET /api/datasets/team/data".to_string(),
            "GET /datasets/team/data/resolve/main/data/items-latest/manifest.json".into(),
            "POST /datasets/team/data.git/info/lfs/objects/batch".into(),
            "POST /datasets/team/data.git/info/lfs/objects/batch".into(),
        ];
        for oid in local.values() {
            expected.push(format!("PUT /lfs-upload/{oid}"));
            expected.push("POST /lfs-verify".into());
        }
        expected.push("POST /api/datasets/team/data/commit/main".into());
        assert_eq!(h.requests, expected);
        assert_eq!(h.commits.len(), 1);
        assert_eq!(lfs_of(&h, "data/items-latest/"), local);
        let Some(Err(card)) = h.files.get("README.md") else {
            panic!("no card: {:?}", h.files.keys());
        };
        let card = String::from_utf8_lossy(card);
        assert!(card.starts_with("---\nlicense: etalab-2.0\nconfigs:\n- config_name: items\n  data_files: \"data/items-latest/*.parquet\"\n"), "{card}");
        assert!(
            card.contains("`data/items-latest/`: 10 rows in 3 Parquet files"),
            "{card}"
        );
        assert!(card.contains("| label | `Utf8` | yes |"), "{card}");
        assert!(card.contains("Source: https://example.org/items"), "{card}");
    }
    let m = metrics(&p, &p.last_run_id(), "publish");
    assert_eq!(m["uploaded_files"], 3);
    assert_eq!(m["commit"], "c1");

    // Unchanged: the manifest is read, nothing else.
    shared.lock().expect("lock").requests.clear();
    let out = run(&p, Some(TOKEN));
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        shared.lock().expect("lock").requests,
        [
            "GET /api/datasets/team/data",
            "GET /datasets/team/data/resolve/main/data/items-latest/manifest.json",
        ]
    );
    let m = metrics(&p, &p.last_run_id(), "publish");
    assert_eq!(
        (m["published"].clone(), m["unchanged"].clone()),
        (json!(0), json!(1))
    );

    // Changed: one commit; the previous version is kept under its dated folder by reference
    // (not uploaded again), the file the new version lacks leaves `latest`.
    shared.lock().expect("lock").requests.clear();
    let published: Value = {
        let h = shared.lock().expect("lock");
        let Some(Err(m)) = h.files.get("data/items-latest/manifest.json") else {
            panic!("no manifest");
        };
        serde_json::from_slice(m).expect("published manifest")
    };
    let v1 = published["version"].as_str().expect("version").to_string();
    std::fs::write(p.path("items.csv"), items_csv(6, " v2")).expect("csv");
    let out = run(&p, Some(TOKEN));
    assert!(out.status.success(), "{}", text(&out));
    let new = exported_files(&p);
    let h = shared.lock().expect("lock");
    assert_eq!(h.commits.len(), 2);
    assert_eq!(lfs_of(&h, "data/items-latest/"), new);
    assert_eq!(lfs_of(&h, &format!("data/items-{v1}/")), local);
    assert!(
        h.files
            .contains_key(&format!("data/items-{v1}/manifest.json"))
    );
    let puts = h.requests.iter().filter(|r| r.starts_with("PUT ")).count();
    assert_eq!(puts, new.len(), "{:?}", h.requests);
    assert!(h.commits[1].iter().any(|op| op["key"] == "deletedFile"
        && op["value"]["path"] == "data/items-latest/items-00002.parquet"));
}
