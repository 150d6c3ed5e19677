//! `train` with `tracking: {mlflow: URL}` against a real MLflow tracking server (PyPI
//! `mlflow`, SQLite backend, artifacts served by the server), started once for this test
//! binary, and read back with MLflow's own Python client: the experiment, the training's run
//! with one child run per trial and their figures per epoch, the model's files as artifacts,
//! the input dataset, the registered model version and its alias. A server that does not
//! answer fails the task with a message naming it, without its credentials, and costs no
//! training: the next run reuses the finished trials.

mod common;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use common::{Project, rows_csv, text};
use serde_json::Value;

/// A running `mlflow server`, stopped (its whole process group) when the binary exits.
struct Mlflow {
    child: Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl Drop for Mlflow {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(format!("-{}", self.child.id()))
            .status();
        let _ = self.child.wait();
    }
}

/// A free local port (bound, then released for the server to take).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// The server of this binary, started on first use; none (skipped loudly) outside CI
/// without the test environment.
fn mlflow() -> Option<&'static str> {
    static SERVER: OnceLock<Option<Mlflow>> = OnceLock::new();
    SERVER
        .get_or_init(|| {
            let python = common::test_python("MLflow tracking")?;
            let bin = PathBuf::from(&python).with_file_name("mlflow");
            assert!(
                bin.exists(),
                "{} is missing: scripts/python-env.sh installs mlflow",
                bin.display()
            );
            let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("tempdir");
            let port = free_port();
            let mut cmd = Command::new(&bin);
            cmd.args(["server", "--host", "127.0.0.1", "--workers", "1"])
                .arg("--port")
                .arg(port.to_string())
                .arg("--backend-store-uri")
                .arg(format!("sqlite:///{}/mlflow.db", dir.path().display()))
                .arg("--artifacts-destination")
                .arg(dir.path().join("artifacts"))
                .current_dir(dir.path())
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(dir.path().join("server.log")).expect("log"));
            std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
            let child = cmd.spawn().expect("mlflow server");
            let url = format!("http://127.0.0.1:{port}");
            let health = format!("{url}/health");
            let client = reqwest::blocking::Client::new();
            let server = Mlflow {
                child,
                url,
                _dir: dir,
            };
            common::wait_for("mlflow server", Duration::from_secs(120), || {
                client
                    .get(&health)
                    .send()
                    .is_ok_and(|r| r.status().is_success())
            });
            Some(server)
        })
        .as_ref()
        .map(|s| s.url.as_str())
}

const PIPELINE: &str = r#"
name: ml
tasks:
  rows:
    op: read.csv
    path: rows.csv
  classifier:
    op: train
    input: rows
    label: label
    features: [x, y, noise]
    model: {type: mlp, hidden: [8], epochs: 5, early_stopping: 0, learning_rate: 0.01}
    split: {valid: 0.25, test: 0.15, seed: 3}
    seed: 5
    search:
      trials:
        - {hidden: [4], epochs: 3}
        - {hidden: [16, 8]}
    promote: {alias: champion}
    tracking: {mlflow: "URL", experiment: sluice-test}
"#;

/// Reads the experiment back with MLflow's client and prints what the test checks, as JSON.
const READ_BACK: &str = r#"
import json, os, sys, tempfile
from mlflow import MlflowClient
c = MlflowClient(tracking_uri=sys.argv[1])
exp = c.get_experiment_by_name("sluice-test")
runs = c.search_runs([exp.experiment_id], order_by=["attributes.start_time ASC"])
parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
children = sorted((r for r in runs if "mlflow.parentRunId" in r.data.tags),
                  key=lambda r: int(r.data.tags["sluice.trial"]))
p = parents[0]
mv = c.get_model_version_by_alias("ml.classifier", "champion")
dst = tempfile.mkdtemp()
card = open(c.download_artifacts(p.info.run_id, "model/model.json", dst)).read()
readme = open(c.download_artifacts(p.info.run_id, "model/README.md", dst)).read()
print(json.dumps({
    "parents": len(parents),
    "parent": {"id": p.info.run_id, "status": p.info.status, "name": p.info.run_name,
               "params": p.data.params, "metrics": p.data.metrics, "tags": p.data.tags,
               "inputs": [(d.dataset.name, d.dataset.digest) for d in p.inputs.dataset_inputs],
               "input_schema": [json.loads(d.dataset.schema) for d in p.inputs.dataset_inputs]},
    "children": [{"name": r.info.run_name, "parent": r.data.tags["mlflow.parentRunId"],
                  "status": r.info.status, "hidden": r.data.params.get("hidden"),
                  "val_accuracy": [(m.step, m.value) for m in
                                   c.get_metric_history(r.info.run_id, "val_accuracy")],
                  "valid": r.data.metrics.get("valid.accuracy")} for r in children],
    "artifacts": sorted(f.path for f in c.list_artifacts(p.info.run_id, "model")),
    "version": {"version": mv.version, "run_id": mv.run_id, "source": mv.source,
                "tags": mv.tags, "aliases": list(mv.aliases)},
    "model_json": card,
    "readme": readme,
}))
"#;

fn pipeline(url: &str) -> String {
    PIPELINE.replace("\"URL\"", &format!("\"{url}\""))
}

/// The pipeline logging to its own experiment and registered model (the tests share the
/// server).
fn pipeline_apart(url: &str) -> String {
    pipeline(url).replace(
        "experiment: sluice-test}",
        "experiment: sluice-retry, registered_model: retried}",
    )
}

#[test]
fn a_training_is_logged_to_mlflow_and_read_back_with_its_client() {
    let Some(url) = mlflow() else { return };
    let python = common::test_python("MLflow tracking").expect("python");
    let p = Project::new(&pipeline(url));
    std::fs::write(p.path("rows.csv"), rows_csv(600, 2)).expect("csv");
    p.run_ok(&["run", "pipeline.yaml"]);

    let versions = p.json(&["models", "versions", "ml.classifier", "--json"]);
    let version = versions[0]["version"]
        .as_str()
        .expect("version")
        .to_string();
    let state = &versions[0]["state"];
    let got = common::run_python(&python, READ_BACK, &[url.as_ref()]);
    let got: Value = serde_json::from_slice(&got).expect("json");

    // One run for the training, named after the task and version, finished; the kept
    // trial's settings, the shared ones and the search's.
    assert_eq!(got["parents"], 1, "{got}");
    let parent = &got["parent"];
    assert_eq!(parent["status"], "FINISHED");
    assert_eq!(parent["name"], format!("classifier {version}"));
    assert_eq!(parent["tags"]["sluice.version"], version.as_str());
    assert_eq!(parent["tags"]["sluice.pipeline"], "ml");
    assert_eq!(parent["params"]["trials"], "2");
    assert_eq!(parent["params"]["label"], "label");
    assert_eq!(parent["params"]["features"], "x,y,noise");
    assert_eq!(parent["params"]["ranked_by"], "valid.accuracy");
    let best = state["best_trial"].as_u64().expect("best trial");
    assert_eq!(parent["params"]["best_trial"], best.to_string());
    assert_eq!(
        parent["metrics"]["valid.accuracy"].as_f64(),
        state["value"].as_f64()
    );
    for energy in ["energy_kwh", "co2_grams", "cpu_seconds", "duration_seconds"] {
        assert!(parent["metrics"][energy].is_number(), "{energy}: {parent}");
    }
    // The input dataset: the `rows` task at the version the model learnt from.
    let input = state["input"].as_str().expect("input");
    let (_, input_version) = input.split_once('@').expect("task@version");
    assert_eq!(
        parent["inputs"],
        serde_json::json!([["ml.rows", input_version]])
    );
    // Its columns, as MLflow's clients log a schema (DataHub's `mlflow` source reads it).
    let columns: Vec<(String, String)> = parent["input_schema"][0]["mlflow_colspec"]
        .as_array()
        .expect("colspec")
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap_or_default().to_string(),
                c["type"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    assert!(
        columns.contains(&("x".to_string(), "double".to_string())),
        "{columns:?}"
    );

    // A child run per trial, with its settings and val_accuracy at every epoch.
    let children = got["children"].as_array().expect("children");
    assert_eq!(children.len(), 2, "{got}");
    let parent_id = parent["id"].as_str().expect("id");
    for (child, (hidden, epochs)) in children.iter().zip([("[4]", 3), ("[16,8]", 5)]) {
        assert_eq!(child["parent"], parent_id);
        assert_eq!(child["status"], "FINISHED");
        assert_eq!(child["hidden"], hidden);
        let steps: Vec<u64> = child["val_accuracy"]
            .as_array()
            .expect("history")
            .iter()
            .filter_map(|s| s[0].as_u64())
            .collect();
        assert_eq!(steps, (1..=epochs).collect::<Vec<u64>>(), "{child}");
    }

    // The model's files, its card and ONNX export with them; model.json as sluice wrote it.
    assert_eq!(
        got["artifacts"],
        serde_json::json!([
            "model/README.md",
            "model/evaluation.json",
            "model/model.json",
            "model/model.onnx",
            "model/trials.json",
            "model/weights.safetensors"
        ])
    );
    let dir = find_version_dir(&p, &version);
    let written = std::fs::read_to_string(dir.join("model").join("model.json")).expect("model");
    assert_eq!(got["model_json"], written.as_str());
    let readme = got["readme"].as_str().unwrap_or_default();
    assert!(
        readme.starts_with("# Model card: ml.classifier\n\nVersion `")
            && readme.contains("(aliases: champion)")
            && readme.contains("## Confusion matrix (test rows)"),
        "{readme}"
    );

    // The registered version: from the training's run, tagged with sluice's version, the
    // alias `promote` moved; sluice keeps where it went.
    let mv = &got["version"];
    assert_eq!(mv["version"], "1");
    assert_eq!(mv["run_id"], parent_id);
    assert_eq!(mv["tags"]["sluice.version"], version.as_str());
    assert_eq!(mv["aliases"], serde_json::json!(["champion"]));
    assert!(
        mv["source"]
            .as_str()
            .unwrap_or_default()
            .ends_with("/model"),
        "{mv}"
    );
    assert_eq!(state["mlflow"]["run_id"], parent_id);
    assert_eq!(state["mlflow"]["model_version"], "1");
    assert_eq!(state["mlflow"]["registered_model"], "ml.classifier");
}

/// The folder of `ml.classifier`'s version `version` in the project's warehouse.
fn find_version_dir(p: &Project, version: &str) -> PathBuf {
    let mut todo = vec![p.dir.path().to_path_buf()];
    while let Some(dir) = todo.pop() {
        for entry in std::fs::read_dir(&dir).expect("read dir").flatten() {
            let path = entry.path();
            if !path.is_dir() {
                continue;
            }
            if path.file_name().is_some_and(|n| n == version)
                && path.parent().is_some_and(|t| t.ends_with("ml/classifier"))
            {
                return path;
            }
            todo.push(path);
        }
    }
    panic!("no folder of version {version}")
}

#[test]
fn a_server_that_does_not_answer_fails_the_task_and_costs_no_training() {
    let Some(url) = mlflow() else { return };
    // Credentials belong in MLflow's variables, never in the URL: refused, and not shown.
    let p = Project::new(&pipeline_apart(&format!(
        "http://sluice:it's s3cret-pw@127.0.0.1:{}",
        free_port()
    )));
    let out = p.sluice(&["validate", "pipeline.yaml"]);
    let said = text(&out);
    assert_ne!(out.status.code(), Some(0), "{said}");
    assert!(
        said.contains("`tracking.mlflow`: give the server's address without credentials"),
        "{said}"
    );
    assert!(!said.contains("s3cret"), "{said}");
    // MLflow keeps `latest` for itself.
    std::fs::write(
        p.path("pipeline.yaml"),
        pipeline_apart(url).replace("promote: {alias: champion}", "promote: {alias: latest}"),
    )
    .expect("pipeline");
    let said = text(&p.sluice(&["validate", "pipeline.yaml"]));
    assert!(
        said.contains("`promote.alias`: MLflow keeps `latest` for itself"),
        "{said}"
    );

    // Nothing listens on this port; the password in MLflow's variable is never shown.
    let dead = format!("http://127.0.0.1:{}", free_port());
    std::fs::write(p.path("pipeline.yaml"), pipeline_apart(&dead)).expect("pipeline");
    std::fs::write(p.path("rows.csv"), rows_csv(600, 2)).expect("csv");
    let out = p
        .cmd(&["run", "pipeline.yaml"])
        .env("MLFLOW_TRACKING_USERNAME", "sluice")
        .env("MLFLOW_TRACKING_PASSWORD", "s3cret-pw")
        .output()
        .expect("run");
    let said = text(&out);
    assert_ne!(out.status.code(), Some(0), "{said}");
    assert!(
        said.contains("logging the training to MLflow (its trials are kept"),
        "{said}"
    );
    assert!(said.contains("(4 attempts); try again later"), "{said}");
    assert!(said.contains(&dead), "{said}");
    let logs = p.sluice(&["logs", &p.last_run_id(), "classifier"]);
    for shown in [said.as_str(), text(&logs).as_str()] {
        assert!(!shown.contains("s3cret-pw"), "{shown}");
    }

    // The server comes back: the trials finished before are not trained again.
    std::fs::write(p.path("pipeline.yaml"), pipeline_apart(url)).expect("pipeline");
    p.run_ok(&["run", "pipeline.yaml"]);
    let logs = text(&p.sluice(&["logs", &p.last_run_id(), "classifier"]));
    assert!(
        logs.contains("trial 1/2: reused, finished before the interruption")
            && logs.contains("trial 2/2: reused, finished before the interruption"),
        "{logs}"
    );
    assert!(logs.contains("MLflow: run "), "{logs}");
}

/// Experiments, runs and a registered model made with MLflow's client; prints the run ids.
const MAKE_RUNS: &str = r#"
import json, sys
from mlflow import MlflowClient
c = MlflowClient(tracking_uri=sys.argv[1])
a = c.create_experiment("pull-a", tags={"team": "ml"})
b = c.create_experiment("pull-b")
ids = {}
for exp, name, params, metrics in [(a, "first", {"lr": "0.1", "depth": "3"}, {"accuracy": 0.91, "loss": 1e-05}),
                                   (a, "second", {"lr": "0.01"}, {"accuracy": 0.93, "epochs": 12.0}),
                                   (b, "only", {"k": "5"}, {"f1": 0.5}),
                                   ("0", "filed-nowhere", {"x": "1"}, {"m": 1.0})]:
    r = c.create_run(exp, run_name=name)
    for k, v in params.items():
        c.log_param(r.info.run_id, k, v)
    for k, v in metrics.items():
        c.log_metric(r.info.run_id, k, v)
    c.set_terminated(r.info.run_id)
    ids[name] = r.info.run_id
c.create_registered_model("pull-model", description="made for the pull test")
c.create_model_version("pull-model", f"runs:/{ids['first']}/model", run_id=ids["first"])
print(json.dumps(ids))
"#;

/// `{name: value}` of a list of `{name, value}`.
fn named(v: &Value) -> std::collections::BTreeMap<String, String> {
    v.as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            (
                p["name"].as_str().unwrap_or_default().to_string(),
                p["value"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

/// The aspect `name` of `urn` in an MCP file's proposals.
fn aspect_of<'a>(mcps: &'a [Value], urn: &str, name: &str) -> Option<&'a Value> {
    mcps.iter()
        .find(|m| m["entityUrn"] == urn && m["aspectName"] == name)
        .map(|m| &m["aspect"]["json"])
}

#[test]
fn the_mlflow_pull_gives_the_models_params_and_metrics_datahub_s_own_source_gives() {
    let Some(url) = mlflow() else { return };
    let Some(python) = common::test_python("MLflow pull") else {
        return;
    };
    // MLflow prints links to the runs before the ids: the ids are the last line.
    let printed = common::run_python(&python, MAKE_RUNS, &[std::ffi::OsStr::new(url)]);
    let printed = String::from_utf8_lossy(&printed);
    let ids: Value =
        serde_json::from_str(printed.lines().last().unwrap_or_default()).expect("run ids");
    let p = Project::new(&format!(
        "name: catalog\ntasks:\n  mlflow_models:\n    op: metadata.pull\n    source: mlflow\n    tracking_uri: {url}\n    experiments: {{allow: ['pull-.*']}}\n    to: datahub-file\n    path: out/mlflow.json\n"
    ));
    let out = p.run_ok(&[
        "metadata",
        "pull",
        "mlflow",
        "--tracking-uri",
        url,
        "--experiment-pattern",
        "pull-.*",
        "--to",
        "datahub-file",
        "ours.json",
    ]);
    assert!(
        text(&out).contains("2 experiments read, ") && text(&out).contains(" 3 runs and "),
        "{}",
        text(&out)
    );
    // DataHub's own `mlflow` source on the same server, to a file.
    let recipe = p.path("recipe.yml");
    std::fs::write(
        &recipe,
        format!(
            "source:\n  type: mlflow\n  config:\n    tracking_uri: {url}\nsink:\n  type: file\n  config:\n    filename: {}\n",
            p.path("datahub.json").display()
        ),
    )
    .expect("recipe");
    let datahub = PathBuf::from(&python).with_file_name("datahub");
    let ingest = Command::new(&datahub)
        .args(["ingest", "-c"])
        .arg(&recipe)
        .output()
        .expect("datahub ingest");
    assert!(ingest.status.success(), "{}", text(&ingest));
    let check = Command::new(&datahub)
        .args(["check", "metadata-file"])
        .arg(p.path("ours.json"))
        .output()
        .expect("datahub check");
    assert!(check.status.success(), "{}", text(&check));

    let ours: Vec<Value> = serde_json::from_str(&p.read("ours.json")).expect("ours");
    let theirs: Vec<Value> = serde_json::from_str(&p.read("datahub.json")).expect("theirs");
    // Each run: our model (version = run id) has the parameters and metrics DataHub's
    // training run has.
    let mut runs = 0;
    for (name, exp) in [
        ("first", "pull-a"),
        ("second", "pull-a"),
        ("only", "pull-b"),
    ] {
        let id = ids[name].as_str().expect("id");
        let urn = format!("urn:li:mlModel:(urn:li:dataPlatform:mlflow,{exp}_{id},PROD)");
        let model = aspect_of(&ours, &urn, "mlModelProperties").expect("our model of the run");
        assert_eq!(model["version"]["versionTag"], id);
        assert!(model["date"].as_i64().is_some_and(|t| t > 0), "{model}");
        let training = theirs
            .iter()
            .filter(|m| m["aspectName"] == "mlTrainingRunProperties")
            .map(|m| &m["aspect"]["json"])
            .find(|a| a["id"] == id)
            .expect("DataHub's training run");
        assert_eq!(
            named(&model["hyperParams"]),
            named(&training["hyperParams"]),
            "{name}"
        );
        assert_eq!(
            named(&model["trainingMetrics"]),
            named(&training["trainingMetrics"]),
            "{name}"
        );
        runs += 1;
    }
    assert_eq!(runs, 3);
    assert_eq!(
        named(
            &aspect_of(
                &ours,
                &format!(
                    "urn:li:mlModel:(urn:li:dataPlatform:mlflow,pull-a_{},PROD)",
                    ids["first"].as_str().unwrap_or_default()
                ),
                "mlModelProperties"
            )
            .expect("model")["trainingMetrics"]
        )["loss"],
        "1e-05"
    );
    // The registered model version: the same entity, parameters, metrics, group and stage.
    let urn = "urn:li:mlModel:(urn:li:dataPlatform:mlflow,pull-model_1,PROD)";
    let (mine, its) = (
        aspect_of(&ours, urn, "mlModelProperties").expect("ours"),
        aspect_of(&theirs, urn, "mlModelProperties").expect("DataHub's"),
    );
    for key in ["hyperParams", "trainingMetrics"] {
        assert_eq!(named(&mine[key]), named(&its[key]), "{key}");
        assert!(!named(&mine[key]).is_empty());
    }
    assert_eq!(mine["groups"], its["groups"]);
    assert_eq!(
        aspect_of(&ours, urn, "globalTags"),
        aspect_of(&theirs, urn, "globalTags")
    );
    let group = "urn:li:mlModelGroup:(urn:li:dataPlatform:mlflow,pull-model,PROD)";
    assert_eq!(
        aspect_of(&ours, group, "mlModelGroupProperties").expect("group")["description"],
        "made for the pull test"
    );
    // `Default` is left out unless asked for: DataHub's source read its run, ours did not.
    let default_id = ids["filed-nowhere"].as_str().expect("id");
    assert!(
        theirs
            .iter()
            .any(|m| m["aspect"]["json"]["id"] == default_id)
    );
    assert!(!p.read("ours.json").contains(default_id));

    // The same pull as a pipeline task, to run on a schedule: the same proposals.
    p.run_ok(&["run", "pipeline.yaml"]);
    assert_eq!(p.read("out/mlflow.json"), p.read("ours.json"));
    let again = p.json(&["run", "pipeline.yaml", "--json"]);
    assert_eq!(
        again["tasks"][0]["state"], "succeeded",
        "it runs every time"
    );
}
