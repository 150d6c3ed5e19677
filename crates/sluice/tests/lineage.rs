//! Lineage: the OpenLineage events of real pipelines validate against the vendored spec
//! (tests/fixtures/openlineage-spec, checked with Python's `jsonschema`), their column lineage
//! is traced field by field, and a collector that is down, or answers 500, still gets every
//! event once, in order.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

mod common;
use common::{Project, model_dir, test_python, text};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The project's home with events written to `lineage.ndjson` in it.
fn file_transport(p: &Project) {
    std::fs::create_dir_all(p.path(".sluice")).expect("home");
    std::fs::write(
        p.path(".sluice/openlineage.yml"),
        "namespace: tests\ntransport:\n  type: file\n  path: lineage.ndjson\n",
    )
    .expect("config");
}

fn events(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .expect("events")
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON event per line"))
        .collect()
}

/// Validates the events of `file` against the vendored spec, facets included.
fn validate(file: &Path) {
    let Some(python) = test_python("OpenLineage schema validation") else {
        return;
    };
    let script = repo().join("crates/sluice/tests/lineage/validate_openlineage.py");
    let out = std::process::Command::new(python)
        .arg(script)
        .arg(file)
        .output()
        .expect("python");
    assert!(out.status.success(), "{}", text(&out));
}

/// A project holding `examples/drug_mentions`, run once on its data (events to a file when
/// `events`); the data folder.
fn drug_mentions(events: bool) -> (Project, PathBuf) {
    let src = std::fs::read_to_string(repo().join("examples/drug_mentions/pipeline.yaml"))
        .expect("example");
    let p = Project::new(&src);
    if events {
        file_transport(&p);
    }
    let data = repo().join("examples/drug_mentions/data");
    p.run_ok(&[
        "run",
        "pipeline.yaml",
        "--param",
        &format!("data={}", data.display()),
    ]);
    (p, data)
}

/// `datahub check metadata-file FILE` passes (where the test environment has DataHub's CLI).
fn datahub_check(file: &Path) {
    let Some(python) = test_python("DataHub metadata-file check") else {
        return;
    };
    let check = std::process::Command::new(Path::new(&python).with_file_name("datahub"))
        .args(["check", "metadata-file"])
        .arg(file)
        .output()
        .expect("datahub");
    assert!(check.status.success(), "{}", text(&check));
    assert!(text(&check).contains("all valid"), "{}", text(&check));
}

fn job(e: &Value) -> &str {
    e["job"]["name"].as_str().unwrap_or_default()
}

/// The COMPLETE event of job `name`.
fn complete<'a>(events: &'a [Value], name: &str) -> &'a Value {
    events
        .iter()
        .find(|e| e["eventType"] == "COMPLETE" && job(e) == name)
        .unwrap_or_else(|| panic!("no COMPLETE event for {name}"))
}

/// `dataset.field SUBTYPE` for each input field of `v` (dataset: the name's last part).
fn shown(v: &Value) -> Vec<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .map(|i| {
            let name = i["name"].as_str().unwrap_or_default();
            let short = name.rsplit(['.', '/']).next().unwrap_or(name);
            let t = &i["transformations"][0];
            format!(
                "{short}.{} {}{}",
                i["field"].as_str().unwrap_or_default(),
                t["subtype"].as_str().unwrap_or_default(),
                if t["masking"] == true { " masked" } else { "" }
            )
        })
        .collect()
}

/// The column lineage of `event`'s first output: field → its inputs, and the dataset's.
fn columns(event: &Value) -> (BTreeMap<String, Vec<String>>, Vec<String>) {
    let facet = &event["outputs"][0]["facets"]["columnLineage"];
    let fields = facet["fields"]
        .as_object()
        .expect("columnLineage fields")
        .iter()
        .map(|(k, v)| (k.clone(), shown(&v["inputFields"])))
        .collect();
    (fields, shown(&facet["dataset"]))
}

#[test]
fn drug_mentions_events_validate_and_trace_every_column_to_its_files() {
    let (p, data) = drug_mentions(true);
    let file = p.path(".sluice/lineage.ndjson");
    validate(&file);
    let events = events(&file);

    // The pipeline run, then a START and a COMPLETE for each of its 8 tasks, each pair under
    // one run id whose parent is the pipeline run.
    assert_eq!(events.len(), 18);
    assert_eq!(
        (events[0]["eventType"].as_str(), job(&events[0])),
        (Some("START"), "drug_mentions")
    );
    let last = &events[17];
    assert_eq!(
        (last["eventType"].as_str(), job(last)),
        (Some("COMPLETE"), "drug_mentions")
    );
    let pipeline_run = events[0]["run"]["runId"].clone();
    assert_eq!(last["run"]["runId"], pipeline_run);
    let mut by_job: BTreeMap<&str, Vec<&Value>> = BTreeMap::new();
    for e in &events[1..17] {
        by_job.entry(job(e)).or_default().push(e);
        assert_eq!(e["job"]["namespace"], "tests");
        assert_eq!(e["run"]["facets"]["parent"]["run"]["runId"], pipeline_run);
        assert_eq!(e["run"]["facets"]["parent"]["job"]["name"], "drug_mentions");
    }
    assert_eq!(by_job.len(), 8);
    for (name, pair) in &by_job {
        let kinds: Vec<&str> = pair
            .iter()
            .filter_map(|e| e["eventType"].as_str())
            .collect();
        assert_eq!(kinds, ["START", "COMPLETE"], "{name}");
        assert_eq!(pair[0]["run"]["runId"], pair[1]["run"]["runId"], "{name}");
    }

    // Datasets have stable names; what a task reads carries its schema.
    let graph = complete(&events, "drug_mentions.graph");
    let inputs: Vec<&str> = graph["inputs"]
        .as_array()
        .expect("inputs")
        .iter()
        .filter_map(|d| d["name"].as_str())
        .collect();
    assert_eq!(inputs, ["drug_mentions.drugs", "drug_mentions.mentions"]);
    let mention_fields: Vec<&str> = graph["inputs"][1]["facets"]["schema"]["fields"]
        .as_array()
        .expect("schema of an input")
        .iter()
        .filter_map(|f| f["name"].as_str())
        .collect();
    assert_eq!(
        mention_fields,
        [
            "atccode", "drug", "source", "id", "title", "date", "journal"
        ]
    );
    assert_eq!(graph["outputs"][0]["name"], "drug_mentions.graph");
    assert!(
        graph["job"]["facets"]["sql"]["query"]
            .as_str()
            .is_some_and(|q| q.contains("array_agg")),
        "{graph}"
    );

    // The graph's columns, field by field.
    let (fields, dataset) = columns(graph);
    let expect = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert_eq!(fields["drug"], expect(&["drugs.drug IDENTITY"]));
    assert_eq!(fields["atccode"], expect(&["drugs.atccode IDENTITY"]));
    assert_eq!(
        fields["journals"],
        expect(&[
            "mentions.date AGGREGATION",
            "mentions.journal AGGREGATION",
            "mentions.journal FILTER"
        ])
    );
    for list in ["pubmed", "clinical_trials"] {
        assert_eq!(
            fields[list],
            expect(&[
                "mentions.date AGGREGATION",
                "mentions.id AGGREGATION",
                "mentions.journal AGGREGATION",
                "mentions.source FILTER",
                "mentions.title AGGREGATION"
            ]),
            "{list}"
        );
    }
    assert_eq!(
        dataset,
        expect(&[
            "drugs.atccode GROUP_BY",
            "drugs.drug JOIN",
            "drugs.drug GROUP_BY",
            "drugs.drug SORT",
            "mentions.drug JOIN"
        ])
    );
    // publications: one row per publication of either source; an id made up from the content
    // is a hash of it (masking).
    let (fields, dataset) = columns(complete(&events, "drug_mentions.publications"));
    assert_eq!(
        fields["journal"],
        expect(&[
            "pubmed_csv.journal TRANSFORMATION",
            "pubmed_json.journal TRANSFORMATION",
            "trials_raw.journal AGGREGATION"
        ])
    );
    assert_eq!(fields["source"], Vec::<String>::new());
    assert!(fields["id"].contains(&"pubmed_csv.title TRANSFORMATION masked".to_string()));
    assert!(fields["id"].contains(&"pubmed_csv.id CONDITIONAL".to_string()));
    assert_eq!(
        dataset,
        expect(&[
            "trials_raw.date GROUP_BY",
            "trials_raw.scientific_title GROUP_BY"
        ])
    );
    // match.terms: the terms' columns, then the texts'.
    let (fields, dataset) = columns(complete(&events, "drug_mentions.mentions"));
    assert_eq!(fields["drug"], expect(&["drugs.drug IDENTITY"]));
    assert_eq!(
        fields["journal"],
        expect(&["publications.journal IDENTITY"])
    );
    assert_eq!(
        dataset,
        expect(&["drugs.drug JOIN", "publications.title JOIN"])
    );
    // The readers: each column from the file's column of the same name.
    let read = complete(&events, "drug_mentions.pubmed_csv");
    let csv = std::fs::canonicalize(data.join("pubmed.csv")).expect("abs");
    assert_eq!(read["inputs"][0]["namespace"], "file");
    assert_eq!(read["inputs"][0]["name"], csv.display().to_string());
    // The writer: graph.json, each field from the graph's.
    let write = complete(&events, "drug_mentions.write_graph");
    assert_eq!(write["outputs"][0]["namespace"], "file");
    assert!(
        write["outputs"][0]["name"]
            .as_str()
            .is_some_and(|n| n.ends_with("/out/graph.json")),
        "{write}"
    );
    assert_eq!(
        shown(&write["outputs"][0]["facets"]["columnLineage"]["fields"]["journals"]["inputFields"]),
        expect(&["graph.journals IDENTITY"])
    );

    // Followed from event to event, the graph's journals come from the journal and date
    // columns of the three input files, and from nothing else.
    let traced = trace(&events, "drug_mentions.graph", "journals");
    assert_eq!(
        traced,
        BTreeSet::from([
            "clinical_trials.csv.date".to_string(),
            "clinical_trials.csv.journal".into(),
            "pubmed.csv.date".into(),
            "pubmed.csv.journal".into(),
            "pubmed.json.date".into(),
            "pubmed.json.journal".into(),
        ])
    );
}

/// The file columns `dataset.field` is computed from (DIRECT sources, followed through each
/// task's COMPLETE event).
fn trace(events: &[Value], dataset: &str, field: &str) -> BTreeSet<String> {
    let producer = events.iter().find(|e| {
        e["eventType"] == "COMPLETE"
            && e["outputs"]
                .as_array()
                .is_some_and(|o| o.iter().any(|d| d["name"] == dataset))
    });
    let Some(producer) = producer else {
        // A file: the end of the chain.
        let file = dataset.rsplit('/').next().unwrap_or(dataset);
        return BTreeSet::from([format!("{file}.{field}")]);
    };
    let output = producer["outputs"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|d| d["name"] == dataset)
        .expect("output");
    let inputs = &output["facets"]["columnLineage"]["fields"][field]["inputFields"];
    let mut out = BTreeSet::new();
    for i in inputs.as_array().into_iter().flatten() {
        if i["transformations"][0]["type"] == "DIRECT" {
            out.extend(trace(
                events,
                i["name"].as_str().unwrap_or_default(),
                i["field"].as_str().unwrap_or_default(),
            ));
        }
    }
    out
}

/// Runs the service-public example on its samples in `p`'s home.
fn run_service_public(p: &Project, model: &Path) {
    let example = repo().join("examples/mediatech/service_public.yaml");
    p.run_ok(&[
        "run",
        &example.display().to_string(),
        "--home",
        &p.path(".sluice").display().to_string(),
        "--param",
        "origin=samples/lecomarquage",
        "--param",
        &format!("model={}", model.display()),
        "--param",
        &format!("out={}", p.path("out").display()),
        "--param",
        &format!("publish_to={}", p.path("published").display()),
    ]);
}

#[test]
fn service_public_events_validate() {
    let Some(model) = model_dir() else { return };
    let p = Project::new("name: unused\ntasks:\n  t:\n    run: 'true'\n");
    file_transport(&p);
    run_service_public(&p, &model);
    let file = p.path(".sluice/lineage.ndjson");
    validate(&file);
    let events = events(&file);
    let tasks: BTreeSet<&str> = events.iter().map(job).collect();
    assert_eq!(
        tasks,
        BTreeSet::from([
            "service_public",
            "service_public.download",
            "service_public.sheets",
            "service_public.chunks",
            "service_public.embeddings",
            "service_public.load",
            "service_public.export",
            "service_public.publish",
            "service_public.publish_hf",
        ])
    );
    let (fields, _) = columns(complete(&events, "service_public.chunks"));
    assert_eq!(fields["doc_id"], ["sheets.doc_id IDENTITY"]);
    assert!(
        fields["text"].contains(&"sheets.text TRANSFORMATION".to_string()),
        "{fields:?}"
    );
    let (fields, _) = columns(complete(&events, "service_public.embeddings"));
    assert_eq!(fields["chunk_id"], ["chunks.chunk_id IDENTITY"]);
    assert!(
        fields["embedding"] == ["chunks.chunk_text TRANSFORMATION"],
        "{fields:?}"
    );
    let export = complete(&events, "service_public.export");
    assert_eq!(export["outputs"][0]["namespace"], "file");
}

/// A request a collector received: its line with the status sent, its headers (lower-case
/// names) and its body.
#[derive(Debug, Clone)]
struct Request {
    line: String,
    headers: Vec<(String, String)>,
    body: String,
}

impl Request {
    fn header(&self, name: &str) -> &str {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.as_str())
    }
}

/// A collector: records the body of each POST, answers the statuses of `answers` first (one
/// per request), then 200.
struct Collector {
    received: Arc<Mutex<Vec<Request>>>,
    answers: Arc<Mutex<VecDeque<&'static str>>>,
}

impl Collector {
    /// Listens on `port` (0: any); the port.
    fn start(port: u16) -> (Collector, u16) {
        let listener = TcpListener::bind(("127.0.0.1", port)).expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let c = Collector {
            received: Arc::default(),
            answers: Arc::default(),
        };
        let (received, answers) = (c.received.clone(), c.answers.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                let (request, headers, body) = common::read_request(&stream);
                let status = answers
                    .lock()
                    .expect("answers")
                    .pop_front()
                    .unwrap_or("200 OK");
                received.lock().expect("received").push(Request {
                    line: format!("{request} -> {status}"),
                    headers,
                    body: String::from_utf8_lossy(&body).into_owned(),
                });
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                );
            }
        });
        (c, port)
    }

    /// The events the collector took (answered 200), in order.
    fn taken(&self) -> Vec<Value> {
        self.received
            .lock()
            .expect("received")
            .iter()
            .filter(|r| r.line.ends_with("200 OK"))
            .map(|r| serde_json::from_str(&r.body).expect("event"))
            .collect()
    }
}

const SMALL: &str = "name: small
tasks:
  numbers:
    run: 'true'
  doubled:
    op: sql
    sql: select 2 * x as y from (values (1), (2)) as t(x)
    after: numbers
";

/// (event type, job) of each event.
fn kinds(events: &[Value]) -> Vec<(String, String)> {
    events
        .iter()
        .map(|e| {
            (
                e["eventType"].as_str().unwrap_or_default().to_string(),
                job(e).to_string(),
            )
        })
        .collect()
}

#[test]
fn events_for_a_collector_that_is_down_wait_and_arrive_once_in_order() {
    let p = Project::new(SMALL);
    // A port nobody listens on yet.
    let port = TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let run = |p: &Project| {
        let started = Instant::now();
        let out = p
            .cmd(&["run", "pipeline.yaml", "--force"])
            .env("OPENLINEAGE_URL", &url)
            .env("OPENLINEAGE_API_KEY", "s3cret-key")
            .output()
            .expect("run");
        (out, started.elapsed())
    };
    let (out, took) = run(&p);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    // No wait for the collector: the run's end does not spend the grace period on it.
    assert!(took < Duration::from_secs(10), "took {took:?}");
    assert!(
        text(&out).contains("lineage: 6 event(s) wait for"),
        "{}",
        text(&out)
    );
    assert!(!text(&out).contains("s3cret-key"));

    // The collector is back: `sluice metadata flush` sends the six, in order.
    let (collector, _) = Collector::start(port);
    let out = p
        .cmd(&["metadata", "flush"])
        .env("OPENLINEAGE_URL", &url)
        .env("OPENLINEAGE_API_KEY", "s3cret-key")
        .output()
        .expect("flush");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).contains("6 sent, 0 refused, 0 waiting"),
        "{}",
        text(&out)
    );
    let first = collector.taken();
    let expected = [
        ("START", "small"),
        ("START", "small.numbers"),
        ("COMPLETE", "small.numbers"),
        ("START", "small.doubled"),
        ("COMPLETE", "small.doubled"),
        ("COMPLETE", "small"),
    ]
    .map(|(a, b)| (a.to_string(), b.to_string()));
    assert_eq!(kinds(&first), expected);
    {
        let received = collector.received.lock().expect("received");
        assert!(received.iter().all(|r| {
            r.line.starts_with("POST /api/v1/lineage ")
                && r.header("authorization") == "Bearer s3cret-key"
        }));
    }
    // Nothing is sent twice: a second flush has nothing, and the next run sends its own six.
    let out = p
        .cmd(&["metadata", "flush"])
        .env("OPENLINEAGE_URL", &url)
        .output()
        .expect("flush");
    assert!(
        text(&out).contains("0 sent, 0 refused, 0 waiting"),
        "{}",
        text(&out)
    );
    let (out, _) = run(&p);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let all = collector.taken();
    assert_eq!(all.len(), 12);
    assert_eq!(kinds(&all[6..]), expected);
    let ids: BTreeSet<(String, String)> = all
        .iter()
        .map(|e| (e["run"]["runId"].to_string(), e["eventType"].to_string()))
        .collect();
    assert_eq!(ids.len(), 12, "each event once");
}

#[test]
fn a_collector_answering_500_gets_the_events_after_a_retry() {
    let p = Project::new(SMALL);
    let (collector, port) = Collector::start(0);
    collector
        .answers
        .lock()
        .expect("answers")
        .extend(["500 Internal Server Error", "503 Service Unavailable"]);
    let out = p
        .cmd(&["run", "pipeline.yaml"])
        .env("OPENLINEAGE_URL", format!("http://127.0.0.1:{port}"))
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let received: Vec<String> = collector
        .received
        .lock()
        .expect("received")
        .iter()
        .map(|r| r.line.clone())
        .collect();
    assert_eq!(received.len(), 8, "{received:#?}");
    assert!(received[0].ends_with("500 Internal Server Error"));
    assert!(received[1].ends_with("503 Service Unavailable"));
    let taken = collector.taken();
    assert_eq!(taken.len(), 6);
    assert_eq!(kinds(&taken)[0], ("START".to_string(), "small".to_string()));
    assert!(!text(&out).contains("wait for"), "{}", text(&out));
}

#[test]
fn a_failed_task_emits_fail_with_its_error_and_a_bad_config_names_its_line() {
    let p = Project::new("name: failing\ntasks:\n  broken:\n    run: echo boom >&2; exit 3\n");
    file_transport(&p);
    let out = p.sluice(&["run", "pipeline.yaml"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let file = p.path(".sluice/lineage.ndjson");
    validate(&file);
    let events = events(&file);
    assert_eq!(
        kinds(&events),
        [
            ("START", "failing"),
            ("START", "failing.broken"),
            ("FAIL", "failing.broken"),
            ("FAIL", "failing")
        ]
        .map(|(a, b)| (a.to_string(), b.to_string()))
    );
    let message = events[2]["run"]["facets"]["errorMessage"]["message"]
        .as_str()
        .unwrap_or_default();
    assert!(message.contains("exit"), "{message}");

    std::fs::write(
        p.path(".sluice/openlineage.yml"),
        "transport:\n  type: kafka\n",
    )
    .expect("config");
    let out = p.sluice(&["run", "pipeline.yaml"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains(
            "openlineage.yml:2:9: unknown value `kafka`, expected one of `http`, `file`, `console`"
        ),
        "{}",
        text(&out)
    );
}

#[test]
fn the_catalog_exports_as_datahub_proposals_a_file_and_a_gms_both_take() {
    let (p, _) = drug_mentions(false);
    if let Some(model) = model_dir() {
        run_service_public(&p, &model);
    }
    let out = p.run_ok(&["metadata", "export", "--format", "datahub", "mcps.json"]);
    assert!(
        text(&out).contains("metadata change proposals for"),
        "{}",
        text(&out)
    );
    datahub_check(&p.path("mcps.json"));
    let mcps: Vec<Value> =
        serde_json::from_str(&p.read("mcps.json")).expect("an MCP file is a JSON array");
    let aspect = |urn: &str, name: &str| -> Value {
        mcps.iter()
            .find(|m| m["entityUrn"] == urn && m["aspectName"] == name)
            .unwrap_or_else(|| panic!("no {name} for {urn}"))["aspect"]["json"]
            .clone()
    };
    let ds =
        |t: &str| format!("urn:li:dataset:(urn:li:dataPlatform:sluice,drug_mentions.{t},PROD)");
    let field = |t: &str, f: &str| format!("urn:li:schemaField:({},{f})", ds(t));
    // The graph: its upstreams, and its journals column from the mentions' journal and date.
    let lineage = aspect(&ds("graph"), "upstreamLineage");
    let upstreams: Vec<&str> = lineage["upstreams"]
        .as_array()
        .expect("upstreams")
        .iter()
        .filter_map(|u| u["dataset"].as_str())
        .collect();
    assert_eq!(upstreams, [ds("drugs"), ds("mentions")]);
    let journals = lineage["fineGrainedLineages"]
        .as_array()
        .expect("fine-grained")
        .iter()
        .find(|f| f["downstreams"][0] == field("graph", "journals"))
        .expect("journals");
    assert_eq!(
        journals["upstreams"],
        serde_json::json!([field("mentions", "date"), field("mentions", "journal")])
    );
    assert_eq!(journals["transformOperation"], "AGGREGATION,FILTER");
    let schema = aspect(&ds("graph"), "schemaMetadata");
    let types: Vec<(String, String)> = schema["fields"]
        .as_array()
        .expect("fields")
        .iter()
        .map(|f| {
            (
                f["fieldPath"].as_str().unwrap_or_default().to_string(),
                f["type"]["type"]
                    .as_object()
                    .and_then(|o| o.keys().next().cloned())
                    .unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        types[0],
        ("drug".into(), "com.linkedin.schema.StringType".into())
    );
    assert_eq!(
        types[2],
        ("pubmed".into(), "com.linkedin.schema.ArrayType".into())
    );
    // The job writing graph.json: its inputs and outputs, and the job before it.
    let job = "urn:li:dataJob:(urn:li:dataFlow:(sluice,drug_mentions,PROD),write_graph)";
    let io = aspect(job, "dataJobInputOutput");
    assert_eq!(io["inputDatasets"], serde_json::json!([ds("graph")]));
    assert!(
        io["outputDatasets"][0].as_str().is_some_and(|u| u
            .starts_with("urn:li:dataset:(urn:li:dataPlatform:file,")
            && u.ends_with("/out/graph.json,PROD)")),
        "{io}"
    );
    assert_eq!(
        io["inputDatajobs"],
        serde_json::json!(["urn:li:dataJob:(urn:li:dataFlow:(sluice,drug_mentions,PROD),graph)"])
    );
    assert_eq!(
        aspect(
            "urn:li:dataFlow:(sluice,drug_mentions,PROD)",
            "dataFlowInfo"
        )["description"],
        "Drugs × PubMed × clinical trials → a graph of mentions with dates, as one JSON file."
    );

    // The same proposals through the REST emitter: a health check, then one POST each, in
    // the file's order, each aspect the file's.
    let (gms, port) = Collector::start(0);
    gms.answers
        .lock()
        .expect("answers")
        .extend(["200 OK", "503 Service Unavailable"]);
    let out = p
        .cmd(&[
            "metadata",
            "export",
            "--format",
            "datahub",
            "--datahub-url",
            &format!("http://127.0.0.1:{port}"),
        ])
        .env("DATAHUB_GMS_TOKEN", "gms-t0ken")
        .output()
        .expect("export");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(!text(&out).contains("gms-t0ken"));
    let received = gms.received.lock().expect("received").clone();
    assert_eq!(received[0].line, "GET /config HTTP/1.1 -> 200 OK");
    assert!(
        received[1].line.ends_with("503 Service Unavailable"),
        "retried: {:?}",
        received[1].line
    );
    let posts = &received[2..];
    assert_eq!(posts.len(), mcps.len());
    for (m, post) in mcps.iter().zip(posts) {
        assert!(
            post.line
                .starts_with("POST /aspects?action=ingestProposal "),
            "{}",
            post.line
        );
        assert_eq!(post.header("authorization"), "Bearer gms-t0ken");
        assert_eq!(post.header("x-restli-protocol-version"), "2.0.0");
        let sent: Value = serde_json::from_str(&post.body).expect("json body");
        let proposal = &sent["proposal"];
        for key in ["entityType", "entityUrn", "changeType", "aspectName"] {
            assert_eq!(proposal[key], m[key], "{key}");
        }
        assert_eq!(proposal["aspect"]["contentType"], "application/json");
        let value: Value =
            serde_json::from_str(proposal["aspect"]["value"].as_str().expect("value"))
                .expect("the aspect as a JSON string");
        assert_eq!(value, m["aspect"]["json"]);
    }

    // The OpenLineage export of the same catalog validates too.
    p.run_ok(&[
        "metadata",
        "export",
        "--format",
        "openlineage",
        "catalog.ndjson",
    ]);
    validate(&p.path("catalog.ndjson"));
    let exported = events(&p.path("catalog.ndjson"));
    let graph = complete(&exported, "drug_mentions.graph");
    assert_eq!(
        columns(graph).0["journals"],
        [
            "mentions.date AGGREGATION",
            "mentions.journal AGGREGATION",
            "mentions.journal FILTER"
        ]
    );
}

#[test]
fn sluice_lineage_answers_where_a_column_comes_from_and_what_it_affects() {
    let (p, data) = drug_mentions(false);
    let file = |name: &str, column: &str| {
        let path = std::fs::canonicalize(data.join(name)).expect("abs");
        format!("file:{}.{column}", path.display())
    };
    // Upstream, DIRECT all the way: the journal and date columns of the three files.
    let up = p.json(&[
        "lineage",
        "drug_mentions.graph.journals",
        "--upstream",
        "--format",
        "json",
    ]);
    assert_eq!(up["dataset"], "drug_mentions.graph");
    assert_eq!(up["column"], "journals");
    assert!(up.get("downstream").is_none());
    let steps = up["upstream"].as_array().expect("steps");
    let name = |s: &Value| {
        format!(
            "{}.{}",
            s["dataset"].as_str().unwrap_or(""),
            s["column"].as_str().unwrap_or("")
        )
    };
    let files: BTreeSet<String> = steps
        .iter()
        .filter(|s| {
            s["dataset"]
                .as_str()
                .is_some_and(|d| d.starts_with("file:"))
        })
        .map(name)
        .collect();
    assert_eq!(
        files,
        BTreeSet::from([
            file("clinical_trials.csv", "date"),
            file("clinical_trials.csv", "journal"),
            file("pubmed.csv", "date"),
            file("pubmed.csv", "journal"),
            file("pubmed.json", "date"),
            file("pubmed.json", "journal"),
        ])
    );
    let first = &steps[0];
    assert_eq!(first["depth"], 1);
    assert_eq!(first["to"], "drug_mentions.graph.journals");
    assert!(
        steps.iter().any(|s| name(s) == "drug_mentions.drugs.drug"
            && s["how"] == "JOIN"
            && s["kind"] == "INDIRECT"),
        "{up}"
    );

    // Downstream: what changes if pubmed.csv's journal column changes, down to graph.json.
    let down = p.json(&[
        "lineage",
        "drug_mentions.pubmed_csv.journal",
        "--downstream",
        "--format",
        "json",
    ]);
    let reached: BTreeSet<String> = down["downstream"]
        .as_array()
        .expect("steps")
        .iter()
        .map(name)
        .collect();
    for expected in [
        "drug_mentions.publications.journal",
        "drug_mentions.publications.id",
        "drug_mentions.mentions.journal",
        "drug_mentions.graph.journals",
        "drug_mentions.graph.pubmed",
    ] {
        assert!(reached.contains(expected), "{expected}: {reached:?}");
    }
    assert!(
        reached
            .iter()
            .any(|r| r.starts_with("file:") && r.ends_with("/out/graph.json.journals")),
        "{reached:?}"
    );

    // Text and dot, and a dataset as a whole.
    let text_out = p.run_ok(&["lineage", "drug_mentions.graph"]);
    let shown = String::from_utf8_lossy(&text_out.stdout).into_owned();
    assert!(
        shown.starts_with(
            "drug_mentions.graph comes from:\n  drug_mentions.drugs  [drug_mentions.graph]\n"
        ),
        "{shown}"
    );
    assert!(
        shown.contains("drug_mentions.graph is used by:\n  file:"),
        "{shown}"
    );
    let dot = p.run_ok(&["lineage", "drug_mentions.mentions.title", "--format", "dot"]);
    let dot = String::from_utf8_lossy(&dot.stdout).into_owned();
    assert!(dot.starts_with("digraph lineage {"), "{dot}");
    assert!(
        dot.contains("\"drug_mentions.publications.title\" -> \"drug_mentions.mentions.title\" [label=\"IDENTITY · drug_mentions.mentions\"];"),
        "{dot}"
    );

    // A wrong name says what there is.
    let out = p.sluice(&["lineage", "drug_mentions.graph.jounals"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out).contains("dataset `drug_mentions.graph` has no column `jounals` (its columns: atccode, clinical_trials, drug, journals, pubmed)"),
        "{}",
        text(&out)
    );
}

#[test]
fn owners_tags_and_column_docs_reach_the_events_and_the_catalog_without_a_rerun() {
    let pipeline = "name: people
tasks:
  people:
    op: sql
    sql: select 'Ada' as name, 36 as age
    description: People we know.
    owner: [ada@example.org, team:hr]
    tags: [restricted]
    docs:
      name: {description: Full name, pii: true}
      age: Age in years
";
    let p = Project::new(pipeline);
    file_transport(&p);
    p.run_ok(&["run", "pipeline.yaml"]);
    let file = p.path(".sluice/lineage.ndjson");
    validate(&file);
    let events = events(&file);
    let facets = &complete(&events, "people.people")["outputs"][0]["facets"];
    assert_eq!(facets["documentation"]["description"], "People we know.");
    assert_eq!(
        facets["ownership"]["owners"],
        serde_json::json!([
            {"name": "ada@example.org", "type": "OWNER"},
            {"name": "team:hr", "type": "OWNER"}
        ])
    );
    let tags: Vec<(String, String)> = facets["tags"]["tags"]
        .as_array()
        .expect("tags")
        .iter()
        .map(|t| {
            (
                t["key"].as_str().unwrap_or_default().to_string(),
                t["field"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    assert_eq!(
        tags,
        [
            ("restricted".into(), String::new()),
            ("pii".into(), "name".into())
        ]
    );
    assert_eq!(facets["schema"]["fields"][0]["description"], "Full name");
    assert_eq!(facets["schema"]["fields"][1]["description"], "Age in years");

    // A new description, nothing else: the task stays cached, the catalog has the new words.
    std::fs::write(
        p.path("pipeline.yaml"),
        pipeline.replace("Age in years", "Age in whole years, at the run"),
    )
    .expect("write");
    let out = p.run_ok(&["run", "pipeline.yaml"]);
    assert!(text(&out).contains("1 cached"), "{}", text(&out));
    p.run_ok(&["metadata", "export", "--format", "datahub", "mcps.json"]);
    datahub_check(&p.path("mcps.json"));
    let mcps: Vec<Value> = serde_json::from_str(&p.read("mcps.json")).expect("mcps");
    let urn = "urn:li:dataset:(urn:li:dataPlatform:sluice,people.people,PROD)";
    let aspect = |name: &str| {
        mcps.iter()
            .find(|m| m["entityUrn"] == urn && m["aspectName"] == name)
            .map(|m| m["aspect"]["json"].clone())
            .unwrap_or_else(|| panic!("no {name}"))
    };
    assert_eq!(
        aspect("ownership")["owners"],
        serde_json::json!([
            {"owner": "urn:li:corpuser:ada@example.org", "type": "DATAOWNER"},
            {"owner": "urn:li:corpGroup:hr", "type": "DATAOWNER"}
        ])
    );
    assert_eq!(
        aspect("globalTags"),
        serde_json::json!({"tags": [{"tag": "urn:li:tag:restricted"}]})
    );
    let fields = aspect("schemaMetadata")["fields"].clone();
    assert_eq!(fields[0]["description"], "Full name");
    assert_eq!(
        fields[0]["globalTags"],
        serde_json::json!({"tags": [{"tag": "urn:li:tag:pii"}]})
    );
    assert_eq!(fields[1]["description"], "Age in whole years, at the run");
    assert_eq!(
        aspect("datasetProperties")["description"],
        "People we know."
    );

    // Mistakes are reported where they are.
    std::fs::write(
        p.path("pipeline.yaml"),
        "name: people\ntasks:\n  people:\n    op: sql\n    sql: select 1 as x\n    tags: [ok, not ok]\n    docs:\n      x: {pii: maybe}\n",
    )
    .expect("write");
    let out = p.sluice(&["validate", "pipeline.yaml"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let shown = text(&out);
    assert!(shown.contains("pipeline.yaml:6:"), "{shown}");
    assert!(shown.contains("invalid tag `not ok`"), "{shown}");
    assert!(shown.contains("pipeline.yaml:8:"), "{shown}");
}

#[test]
fn a_trained_model_is_an_ml_model_of_its_task_s_group_in_the_datahub_export() {
    let p = Project::new(
        "name: ml
tasks:
  rows:
    op: read.csv
    path: rows.csv
  classifier:
    op: train
    input: rows
    label: label
    features: [x, y, noise]
    model: {type: logistic}
    split: {valid: 0.25, test: 0.15, seed: 3}
    description: Which class a row is.
",
    );
    std::fs::write(p.path("rows.csv"), common::rows_csv(300, 7)).expect("rows");
    let out = p.run_ok(&["run", "pipeline.yaml"]);
    assert!(text(&out).contains("succeeded"), "{}", text(&out));
    p.run_ok(&["metadata", "export", "--format", "datahub", "mcps.json"]);
    datahub_check(&p.path("mcps.json"));
    let mcps: Vec<Value> = serde_json::from_str(&p.read("mcps.json")).expect("mcps");
    let model = mcps
        .iter()
        .find(|m| m["entityType"] == "mlModel" && m["aspectName"] == "mlModelProperties")
        .expect("an mlModel");
    let urn = model["entityUrn"].as_str().expect("urn");
    assert!(
        urn.starts_with("urn:li:mlModel:(urn:li:dataPlatform:sluice,ml.classifier_"),
        "{urn}"
    );
    let props = &model["aspect"]["json"];
    assert_eq!(
        props["groups"],
        serde_json::json!(["urn:li:mlModelGroup:(urn:li:dataPlatform:sluice,ml.classifier,PROD)"])
    );
    assert_eq!(
        props["trainingJobs"],
        serde_json::json!(["urn:li:dataJob:(urn:li:dataFlow:(sluice,ml,PROD),classifier)"])
    );
    assert_eq!(props["description"], "Which class a row is.");
    let params: BTreeMap<&str, &str> = props["hyperParams"]
        .as_array()
        .expect("params")
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap_or(""),
                p["value"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(params.get("type"), Some(&"logistic"), "{params:?}");
    assert_eq!(params.get("label"), Some(&"label"), "{params:?}");
    let metrics: Vec<&str> = props["trainingMetrics"]
        .as_array()
        .expect("metrics")
        .iter()
        .filter_map(|m| m["name"].as_str())
        .collect();
    assert!(
        metrics.iter().any(|m| m.ends_with("accuracy")),
        "{metrics:?}"
    );
    let data = mcps
        .iter()
        .find(|m| m["entityUrn"] == urn && m["aspectName"] == "mlModelTrainingData")
        .expect("training data");
    assert_eq!(
        data["aspect"]["json"]["trainingData"],
        serde_json::json!([{"dataset": "urn:li:dataset:(urn:li:dataPlatform:sluice,ml.rows,PROD)"}])
    );
}

#[test]
fn a_stopped_run_emits_abort_and_a_backfilled_slot_its_nominal_time() {
    // Ctrl-C during a task: ABORT for the task and the run, each valid.
    let p = Project::new("name: stopped\ntasks:\n  long: { run: \"touch started; sleep 30\" }\n");
    file_transport(&p);
    let child = p
        .cmd(&["run", "pipeline.yaml"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn");
    common::wait_for("the task to start", Duration::from_secs(20), || {
        p.path("started").exists()
    });
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let out = child.wait_with_output().expect("wait");
    assert_eq!(out.status.code(), Some(130));
    let file = p.path(".sluice/lineage.ndjson");
    validate(&file);
    assert_eq!(
        kinds(&events(&file)),
        [
            ("START", "stopped"),
            ("START", "stopped.long"),
            ("ABORT", "stopped.long"),
            ("ABORT", "stopped")
        ]
        .map(|(a, b)| (a.to_string(), b.to_string()))
    );

    // A backfill: each slot's events carry the slot as their nominal time.
    let p = Project::new(common::YEARLY);
    file_transport(&p);
    p.run_ok(&[
        "backfill",
        "pipeline.yaml",
        "--from",
        "2020-01-01",
        "--to",
        "2021-12-31",
    ]);
    let file = p.path(".sluice/lineage.ndjson");
    validate(&file);
    let nominal: BTreeSet<String> = events(&file)
        .iter()
        .map(|e| {
            e["run"]["facets"]["nominalTime"]["nominalStartTime"]
                .as_str()
                .unwrap_or("none")
                .to_string()
        })
        .collect();
    // Midnight on 1 January in Paris, each year.
    assert_eq!(
        nominal,
        BTreeSet::from([
            "2019-12-31T23:00:00.000000Z".to_string(),
            "2020-12-31T23:00:00.000000Z".to_string()
        ])
    );
}
