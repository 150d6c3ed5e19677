//! `embed` end to end: vectors equal to sentence-transformers' in the output dataset, a
//! re-run that embeds only the changed texts, and remote endpoints that throttle, fail or
//! answer wrongly (a local HTTP server).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

mod common;
use common::{Project, metrics, model_dir, text};

fn tiny_model() -> String {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../sluice-embed/tests/fixtures/tiny-xlmr")
        .display()
        .to_string()
}

fn write_texts(p: &Project, texts: &[String]) {
    let mut csv = String::from("id,text\n");
    for (i, t) in texts.iter().enumerate() {
        csv.push_str(&format!("{i},\"{}\"\n", t.replace('"', "\"\"")));
    }
    std::fs::write(p.path("texts.csv"), csv).expect("write csv");
}

fn pipeline(embed: &str) -> String {
    format!(
        "name: emb\ntasks:\n  texts:\n    op: read.csv\n    path: texts.csv\n  vectors:\n    op: embed\n    input: texts\n    text: text\n{embed}"
    )
}

fn sql(p: &Project, query: &str) -> Vec<Value> {
    let out = p.run_ok(&["sql", query, "--format", "json"]);
    serde_json::from_slice::<Value>(&out.stdout)
        .expect("json")
        .as_array()
        .expect("rows")
        .clone()
}

#[test]
fn the_output_holds_sentence_transformers_vectors_for_each_row() {
    let Some(model) = model_dir() else { return };
    let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../sluice-embed/tests/fixtures/minilm");
    let texts: Vec<String> = std::fs::read_to_string(fixture.join("texts.jsonl"))
        .expect("texts")
        .lines()
        .take(12)
        .map(|l| {
            serde_json::from_str::<Value>(l).expect("json")["text"]
                .as_str()
                .expect("text")
                .to_string()
        })
        .collect();
    let reference: Vec<f32> = std::fs::read(fixture.join("vectors.f32"))
        .expect("vectors")
        .chunks_exact(4)
        .take(12 * 384)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    // f32: sluice's reference vectors, equal to sentence-transformers' (the default precision
    // is checked below).
    let p = Project::new(&pipeline(&format!(
        "    model: {}\n    precision: f32\n",
        model.display()
    )));
    write_texts(&p, &texts);
    p.run_ok(&["run", "pipeline.yaml"]);
    let rows = sql(
        &p,
        "select id, arrow_typeof(embedding) as t, embedding from emb.vectors order by id",
    );
    assert_eq!(rows.len(), 12);
    assert_eq!(rows[0]["t"], "FixedSizeList(384 x non-null Float32)");
    // Both sides are normalised: the cosine is the dot product.
    let cosine = |v: &Value, i: usize| -> f32 {
        v.as_array()
            .expect("vector")
            .iter()
            .zip(&reference[i * 384..(i + 1) * 384])
            .map(|(x, r)| x.as_f64().expect("f") as f32 * r)
            .sum()
    };
    for (i, row) in rows.iter().enumerate() {
        let cos = cosine(&row["embedding"], i);
        assert!(cos > 0.9999, "row {i}: cosine {cos}");
    }
    // The same vectors from the command line; with the default precision (bf16 or int8 where
    // the CPU has them), close to them.
    let model = model.display().to_string();
    for (precision, bar) in [(Some("f32"), 0.9999), (None, 0.99)] {
        let mut args = vec!["embed", "--model", &model, &texts[3]];
        args.extend(precision.iter().flat_map(|p| ["--precision", *p]));
        let out = p.run_ok(&args);
        let line: Value = serde_json::from_slice(&out.stdout).expect("json");
        let cos = cosine(&line["embedding"], 3);
        assert!(cos > bar, "cli, precision {precision:?}: cosine {cos}");
    }
    // A search embeds its query at the documents' precision (recorded with the dataset), not
    // at this CPU's default: a document's own text finds it at a cosine of 1, where a query
    // in another precision scores about 0.998 against int8 vectors.
    std::fs::write(
        p.path("pipeline.yaml"),
        pipeline(&format!("    model: {model}\n    precision: int8\n")),
    )
    .expect("pipeline.yaml");
    let out = p.sluice(&["run", "pipeline.yaml"]);
    if text(&out).contains("needs a CPU with AVX-512 VNNI") {
        eprintln!("this CPU has no AVX-512 VNNI: the int8 search is not checked");
    } else {
        assert!(out.status.success(), "{}", text(&out));
        for i in [3, 7] {
            let out = p.run_ok(&[
                "search",
                "emb.vectors",
                &texts[i],
                "-k",
                "1",
                "--format",
                "json",
            ]);
            let hit: Value = serde_json::from_slice(&out.stdout).expect("json");
            assert_eq!(hit["row"]["id"], i, "{hit}");
            let score = hit["score"].as_f64().expect("score");
            assert!(score > 0.99999, "text {i}: score {score}");
        }
    }
    // A precision that does not exist is refused before anything runs.
    std::fs::write(
        p.path("bad.yaml"),
        pipeline(&format!("    model: {model}\n    precision: fp8\n")),
    )
    .expect("bad.yaml");
    let out = p.sluice(&["validate", "bad.yaml"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("`precision: fp8` is not one of auto, f32, bf16, int8"),
        "{stderr}"
    );
}

#[test]
fn changing_10_of_10000_texts_embeds_exactly_10_and_null_texts_get_null_vectors() {
    let mut texts: Vec<String> = (0..10_000)
        .map(|i| {
            format!(
                "document {i} sur la commune n° {} et le code {}",
                i % 97,
                i * 7919 % 10_007
            )
        })
        .collect();
    let p = Project::new(&pipeline(&format!(
        "    model: {}\n    batch_size: 64\n",
        tiny_model()
    )));
    write_texts(&p, &texts);
    p.run_ok(&["run", "pipeline.yaml"]);
    let first = p.last_run_id();
    let m = metrics(&p, &first, "vectors");
    assert_eq!(
        (
            m["rows"].as_u64(),
            m["embedded"].as_u64(),
            m["from_cache"].as_u64()
        ),
        (Some(10_000), Some(10_000), Some(0)),
        "{m}"
    );
    let before = sql(
        &p,
        "select id, embedding from emb.vectors where id in (5, 6) order by id",
    );

    for i in (0..10_000).step_by(1000) {
        texts[i] = format!("texte modifié {i}");
    }
    write_texts(&p, &texts);
    p.run_ok(&["run", "pipeline.yaml"]);
    let m = metrics(&p, &p.last_run_id(), "vectors");
    assert_eq!(
        (
            m["rows"].as_u64(),
            m["embedded"].as_u64(),
            m["from_cache"].as_u64()
        ),
        (Some(10_000), Some(10), Some(9_990)),
        "{m}"
    );
    // Vectors from the cache are the ones computed the first time.
    assert_eq!(
        sql(
            &p,
            "select id, embedding from emb.vectors where id in (5, 6) order by id"
        ),
        before
    );
    let count = sql(
        &p,
        "select count(*) as n from emb.vectors where embedding is not null",
    );
    assert_eq!(count[0]["n"], 10_000);

    // A repeated text is embedded once; an empty CSV field is a null text and a null vector.
    std::fs::write(
        p.path("texts.csv"),
        "id,text\n1,un texte neuf\n2,un texte neuf\n3,\n",
    )
    .expect("csv");
    p.run_ok(&["run", "pipeline.yaml"]);
    let m = metrics(&p, &p.last_run_id(), "vectors");
    assert_eq!(
        (
            m["embedded"].as_u64(),
            m["repeated"].as_u64(),
            m["nulls"].as_u64()
        ),
        (Some(1), Some(1), Some(1)),
        "{m}"
    );
    let rows = sql(
        &p,
        "select id, embedding is null as missing from emb.vectors order by id",
    );
    assert_eq!(
        rows.iter()
            .map(|r| r["missing"].as_bool())
            .collect::<Vec<_>>(),
        vec![Some(false), Some(false), Some(true)]
    );
}

#[test]
fn a_missing_model_or_column_is_named_with_what_to_do() {
    let p = Project::new(&pipeline("    model: no-such-model\n"));
    write_texts(&p, &["a".to_string()]);
    let out = p.sluice(&["run", "pipeline.yaml"]);
    assert_ne!(out.status.code(), Some(0));
    let log = text(&p.sluice(&["logs", &p.last_run_id(), "vectors"]));
    assert!(
        log.contains("model `no-such-model` not found") && log.contains("scripts/model.sh"),
        "{log}"
    );

    let p = Project::new(
        &pipeline(&format!("    model: {}\n    text: body\n", tiny_model()))
            .replace("    text: text\n", ""),
    );
    write_texts(&p, &["a".to_string()]);
    assert_ne!(p.sluice(&["run", "pipeline.yaml"]).status.code(), Some(0));
    let log = text(&p.sluice(&["logs", &p.last_run_id(), "vectors"]));
    assert!(
        log.contains("has no column `body` (it has: id, text)"),
        "{log}"
    );
}

/// An OpenAI-compatible endpoint answering from a script: each request takes the next
/// answer (the last one repeats). `Ok(dim)` answers vectors of `dim` values per input
/// (`dim + 1` for the text "wrong"); `Err((status, retry_after))` an error status.
struct Endpoint {
    url: String,
    log: Arc<Mutex<Vec<(Instant, usize)>>>,
}

fn endpoint(script: Vec<Result<usize, (u16, Option<u64>)>>, drop_one: bool) -> Endpoint {
    slow_endpoint(script, drop_one, Duration::ZERO)
}

/// As [`endpoint`], each answer sent after `delay`.
fn slow_endpoint(
    script: Vec<Result<usize, (u16, Option<u64>)>>,
    drop_one: bool,
    delay: Duration,
) -> Endpoint {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}/v1", listener.local_addr().expect("addr"));
    let log = Arc::new(Mutex::new(Vec::new()));
    let l = log.clone();
    std::thread::spawn(move || {
        for (n, stream) in listener.incoming().enumerate() {
            let Ok(mut stream) = stream else { return };
            let mut reader = BufReader::new(stream.try_clone().expect("clone"));
            let mut length = 0usize;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line.trim().is_empty() {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0u8; length];
            let _ = reader.read_exact(&mut body);
            let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            let inputs: Vec<String> = request["input"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|t| t.as_str().unwrap_or("").to_string())
                        .collect()
                })
                .unwrap_or_default();
            l.lock().expect("log").push((Instant::now(), inputs.len()));
            std::thread::sleep(delay);
            let answer = script[n.min(script.len() - 1)];
            let (status, extra, payload) = match answer {
                Ok(dim) => {
                    let mut data: Vec<Value> = inputs
                        .iter()
                        .enumerate()
                        .map(|(i, t)| {
                            let d = if t == "wrong" { dim + 1 } else { dim };
                            serde_json::json!({"object": "embedding", "index": i, "embedding": vec![t.len() as f32; d]})
                        })
                        .collect();
                    if drop_one {
                        data.pop();
                    }
                    ("200 OK", String::new(), serde_json::json!({"object": "list", "data": data, "model": request["model"]}).to_string())
                }
                Err((code, retry)) => (
                    if code == 429 {
                        "429 Too Many Requests"
                    } else {
                        "503 Service Unavailable"
                    },
                    retry
                        .map(|s| format!("Retry-After: {s}\r\n"))
                        .unwrap_or_default(),
                    format!("{{\"error\": \"status {code}\"}}"),
                ),
            };
            let status = if answer == Err((500, None)) {
                "500 Internal Server Error"
            } else {
                status
            };
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\nContent-Type: application/json\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n{payload}",
                payload.len()
            );
        }
    });
    Endpoint { url, log }
}

fn remote(url: &str, extra: &str) -> String {
    pipeline(&format!(
        "    model: bge-m3\n    endpoint: {url}\n    batch_size: 2\n    backoff: 50ms\n{extra}"
    ))
}

#[test]
fn a_throttled_then_failing_endpoint_is_retried_and_its_retry_after_respected() {
    let server = endpoint(vec![Err((429, Some(1))), Err((500, None)), Ok(4)], false);
    let p = Project::new(&remote(
        &server.url,
        "    concurrency: 1\n    dimension: 4\n",
    ));
    write_texts(&p, &["un".into(), "deux".into(), "trois".into()]);
    p.run_ok(&["run", "pipeline.yaml"]);
    let log = server.log.lock().expect("log").clone();
    // 429, 500, then the two batches (2 texts, 1 text).
    assert_eq!(
        log.iter().map(|(_, n)| *n).collect::<Vec<_>>(),
        vec![2, 2, 2, 1],
        "{log:?}"
    );
    let waited = log[1].0 - log[0].0;
    assert!(
        waited >= Duration::from_millis(1000),
        "Retry-After: 1 was not respected: {waited:?}"
    );
    let m = metrics(&p, &p.last_run_id(), "vectors");
    assert_eq!(m["embedded"].as_u64(), Some(3), "{m}");
    let rows = sql(&p, "select id, embedding from emb.vectors order by id");
    assert_eq!(
        rows[2]["embedding"],
        serde_json::json!([5.0, 5.0, 5.0, 5.0])
    );
}

#[test]
fn an_endpoint_that_never_succeeds_fails_the_task_with_its_url_and_last_status() {
    let server = endpoint(vec![Err((503, None))], false);
    let p = Project::new(&remote(&server.url, "    request_retries: 2\n"));
    write_texts(&p, &["un".into()]);
    assert_ne!(p.sluice(&["run", "pipeline.yaml"]).status.code(), Some(0));
    assert_eq!(
        server.log.lock().expect("log").len(),
        3,
        "one try and two retries"
    );
    let log = text(&p.sluice(&["logs", &p.last_run_id(), "vectors"]));
    assert!(
        log.contains(&format!("embedding endpoint {}/embeddings: gave up after 3 tries; last answer: HTTP 503 Service Unavailable", server.url)),
        "{log}"
    );
}

#[test]
fn a_wrong_dimension_or_count_is_an_error_and_nothing_is_stored() {
    let server = endpoint(vec![Ok(4)], false);
    let p = Project::new(&remote(&server.url, "    dimension: 4\n"));
    write_texts(&p, &["juste".into(), "wrong".into()]);
    assert_ne!(p.sluice(&["run", "pipeline.yaml"]).status.code(), Some(0));
    let log = text(&p.sluice(&["logs", &p.last_run_id(), "vectors"]));
    assert!(
        log.contains("vector 1 has 5 dimensions, 4 expected"),
        "{log}"
    );
    let datasets = text(&p.sluice(&["datasets"]));
    assert!(!datasets.contains("emb.vectors"), "{datasets}");

    let server = endpoint(vec![Ok(4)], true);
    let p = Project::new(&remote(&server.url, ""));
    write_texts(&p, &["un".into(), "deux".into()]);
    assert_ne!(p.sluice(&["run", "pipeline.yaml"]).status.code(), Some(0));
    let log = text(&p.sluice(&["logs", &p.last_run_id(), "vectors"]));
    assert!(log.contains("1 vectors for 2 texts"), "{log}");
}

#[test]
fn a_killed_run_keeps_the_vectors_it_had_paid_for() {
    // Two texts per request, one request at a time: the cache is written every 4 texts.
    let server = slow_endpoint(vec![Ok(4)], false, Duration::from_millis(100));
    let p = Project::new(&remote(
        &server.url,
        "    concurrency: 1\n    dimension: 4\n",
    ));
    let texts: Vec<String> = (0..40).map(|i| format!("texte {i}")).collect();
    write_texts(&p, &texts);
    let mut child = p.cmd(&["run", "pipeline.yaml"]).spawn().expect("spawn");
    let start = Instant::now();
    while server.log.lock().expect("log").len() < 7 {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the endpoint was never called"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    child.kill().expect("kill");
    child.wait().expect("wait");
    let sent_before: usize = server.log.lock().expect("log").iter().map(|(_, n)| n).sum();
    assert!(
        sent_before < 40,
        "the run was killed too late: {sent_before} texts sent"
    );

    p.run_ok(&["run", "pipeline.yaml"]);
    let m = metrics(&p, &p.last_run_id(), "vectors");
    let (embedded, cached) = (
        m["embedded"].as_u64().expect("embedded"),
        m["from_cache"].as_u64().expect("cached"),
    );
    assert_eq!(embedded + cached, 40, "{m}");
    // Six answers make three groups of four texts; the one in flight may be lost.
    assert!(cached >= 12, "only {cached} vectors survived the kill: {m}");
    let sent: usize = server.log.lock().expect("log").iter().map(|(_, n)| n).sum();
    assert!(sent <= 40 + 4, "{sent} texts sent in all for 40");
    let count = sql(
        &p,
        "select count(*) as n from emb.vectors where embedding is not null",
    );
    assert_eq!(count[0]["n"], 40);
}

#[test]
fn a_task_timeout_stops_a_slow_endpoint_at_once() {
    let server = slow_endpoint(vec![Ok(4)], false, Duration::from_secs(8));
    let p = Project::new(&remote(&server.url, "    dimension: 4\n    timeout: 1s\n"));
    write_texts(&p, &["un".into(), "deux".into()]);
    let start = Instant::now();
    let out = p.sluice(&["run", "pipeline.yaml"]);
    let took = start.elapsed();
    assert_ne!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        took < Duration::from_secs(6),
        "the run waited for the endpoint: {took:?}"
    );
    assert!(text(&out).contains("timed out"), "{}", text(&out));
}

#[test]
fn a_prefix_is_embedded_with_each_text_and_keys_the_cache() {
    let model = tiny_model();
    let p = Project::new(&pipeline(&format!(
        "    model: {model}\n    prefix: \"passage: \"\n"
    )));
    write_texts(&p, &["les congés payés".into()]);
    p.run_ok(&["run", "pipeline.yaml"]);
    let stored = sql(&p, "select embedding from emb.vectors");
    let cli = |args: &[&str]| -> Value {
        let out = p.run_ok(&[&["embed", "--model", &model][..], args].concat());
        serde_json::from_slice::<Value>(&out.stdout).expect("json")
    };
    let prefixed = cli(&["--prefix", "passage: ", "les congés payés"]);
    assert_eq!(prefixed["text"], "les congés payés");
    assert_eq!(stored[0]["embedding"], prefixed["embedding"]);
    assert_eq!(
        cli(&["passage: les congés payés"])["embedding"],
        prefixed["embedding"]
    );
    assert_ne!(
        cli(&["les congés payés"])["embedding"],
        prefixed["embedding"]
    );
    // Another prefix is another text for the cache.
    std::fs::write(
        p.path("pipeline.yaml"),
        pipeline(&format!("    model: {model}\n    prefix: \"query: \"\n")),
    )
    .expect("write");
    p.run_ok(&["run", "pipeline.yaml"]);
    let m = metrics(&p, &p.last_run_id(), "vectors");
    assert_eq!(
        (m["embedded"].as_u64(), m["from_cache"].as_u64()),
        (Some(1), Some(0)),
        "{m}"
    );
}
