//! `train` and `predict` through the real binary: a search keeps the trial with the best
//! validation figure, the figures dataset has every trial's epochs and final figures, the
//! same seed gives the same figures, `predict` scores every row, and a model asked to score
//! rows without its columns fails naming the column.

mod common;

use common::{Project, metrics, rows_csv, text};
use serde_json::Value;

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
    features: [x, y, noise, colour]
    model: {type: mlp, hidden: [8], epochs: 8, early_stopping: 0, learning_rate: 0.01}
    split: {valid: 0.25, test: 0.15, seed: 3}
    metric: accuracy
    seed: 5
    search:
      trials:
        - {hidden: [2], epochs: 1, learning_rate: 0.0001}
        - {hidden: [16, 8]}
      random: 2
      space:
        learning_rate: {log_uniform: [0.001, 0.03]}
        activation: [relu, gelu]
  scored:
    op: predict
    input: rows
    model: classifier
    keep: [id, label]
"#;

fn sql(p: &Project, query: &str) -> Vec<Value> {
    let out = p.run_ok(&["sql", query, "--format", "json"]);
    serde_json::from_slice(&out.stdout).expect("json rows")
}

#[test]
fn a_search_keeps_the_best_trial_and_predict_scores_every_row() {
    let p = Project::new(PIPELINE);
    std::fs::write(p.path("rows.csv"), rows_csv(1200, 1)).expect("csv");
    p.run_ok(&["run", "pipeline.yaml"]);

    // Four trials; each has 8 epochs of figures (the first one 1) and 13 final figures.
    let counts = sql(
        &p,
        "select trial, count(step) as epochs, count(*) - count(step) as finals \
         from ml.classifier group by trial order by trial",
    );
    let counts: Vec<(i64, i64, i64)> = counts
        .iter()
        .map(|r| {
            (
                r["trial"].as_i64().unwrap_or(-1),
                r["epochs"].as_i64().unwrap_or(-1),
                r["finals"].as_i64().unwrap_or(-1),
            )
        })
        .collect();
    // mlp epochs report loss, accuracy, val_loss, val_accuracy: 4 figures per epoch.
    assert_eq!(
        counts,
        vec![(1, 4, 13), (2, 32, 13), (3, 32, 13), (4, 32, 13)]
    );

    // The kept trial is the one with the best validation accuracy.
    let valid = sql(
        &p,
        "select trial, value from ml.classifier where step is null and metric = 'valid.accuracy' \
         order by value desc, trial",
    );
    let best = valid[0]["trial"].as_i64().expect("trial");
    let run = p.last_run_id();
    let m = metrics(&p, &run, "classifier");
    assert_eq!(m["trials"], 4);
    assert_eq!(m["best_trial"].as_i64(), Some(best), "{m}");
    assert_eq!(m["valid.accuracy"].as_f64(), valid[0]["value"].as_f64());
    assert!(
        valid[0]["value"].as_f64().unwrap_or(0.0) > 0.85,
        "{valid:?}"
    );
    // The one-epoch, tiny-step trial is the worst.
    assert_eq!(
        valid.last().and_then(|r| r["trial"].as_i64()),
        Some(1),
        "{valid:?}"
    );

    // predict: every row, the kept columns then the label in the label's type and the
    // probabilities.
    let scored = sql(
        &p,
        "select count(*) as n, sum(case when label = 'booked' or label = 'seen' or label = 'consulted' then 1 else 0 end) as labelled, \
         min(array_length(probas)) as k from ml.scored",
    );
    assert_eq!(scored[0]["n"], 1200);
    assert_eq!(scored[0]["labelled"], 1200);
    assert_eq!(scored[0]["k"], 3);
    let cols = sql(&p, "select * from ml.scored limit 1");
    let names: Vec<&String> = cols[0].as_object().expect("row").keys().collect();
    assert_eq!(
        names,
        ["id", "label", "probas"],
        "the input's `label` is replaced by the prediction"
    );

    // The same seed, run again from scratch: the same figures.
    let before = sql(
        &p,
        "select trial, step, metric, value from ml.classifier where metric <> 'fit_seconds' order by trial, step, metric",
    );
    p.run_ok(&["run", "pipeline.yaml", "--force"]);
    let after = sql(
        &p,
        "select trial, step, metric, value from ml.classifier where metric <> 'fit_seconds' order by trial, step, metric",
    );
    assert_eq!(before, after);
}

#[test]
fn predicting_rows_without_the_models_columns_names_the_column() {
    let pipeline = PIPELINE.replace(
        "    keep: [id, label]\n",
        "    keep: [id, label]\n  other:\n    op: sql\n    sql: select id, x, noise, colour from rows\n  wrong:\n    op: predict\n    input: other\n    model: classifier\n",
    );
    let p = Project::new(&pipeline);
    std::fs::write(p.path("rows.csv"), rows_csv(300, 2)).expect("csv");
    let out = p.sluice(&["run", "pipeline.yaml"]);
    assert_ne!(out.status.code(), Some(0), "{}", text(&out));
    let all = text(&out);
    assert!(
        all.contains("the input has no column `y` (its columns: id, x, noise, colour)"),
        "{all}"
    );
    assert!(all.contains("data error: fix the input data"), "{all}");
}

#[test]
fn a_search_that_cannot_make_a_model_is_refused_before_running() {
    let pipeline = PIPELINE.replace(
        "        - {hidden: [16, 8]}\n",
        "        - {hidden: [16, 8], dropuot: 0.2}\n",
    );
    let p = Project::new(&pipeline);
    let out = p.sluice(&["validate", "pipeline.yaml"]);
    assert_ne!(out.status.code(), Some(0));
    let all = text(&out);
    assert!(
        all.contains("search.trials[1]: unknown field `dropuot`"),
        "{all}"
    );

    // A wrong value inside `model:` names its key and points at its line and column.
    let pipeline = PIPELINE.replace("epochs: 8, early_stopping", "epochs: eight, early_stopping");
    std::fs::write(p.path("pipeline.yaml"), pipeline).expect("pipeline");
    let out = p.sluice(&["validate", "pipeline.yaml"]);
    let all = text(&out);
    assert!(
        all.contains(
            "pipeline.yaml:12:45: error: `tasks.classifier.model.epochs`: expected usize, found string \"eight\""
        ),
        "{all}"
    );
}

const PROMOTE: &str = r#"
name: ml
retention: 1
params:
  epochs: 1
  rate: 0.001
tasks:
  rows:
    op: read.csv
    path: rows.csv
  classifier:
    op: train
    input: rows
    label: label
    model:
      type: mlp
      hidden: [8]
      epochs: ${params.epochs}
      early_stopping: 0
      learning_rate: ${params.rate}
    split: {valid: 0.25, seed: 3}
    promote: {alias: champion, if: better}
"#;

fn model_versions(p: &Project) -> Vec<Value> {
    p.json(&["models", "versions", "ml.classifier", "--json"])
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn champion(p: &Project) -> (String, f64) {
    let v = model_versions(p);
    let c = v
        .iter()
        .find(|v| {
            v["aliases"]
                .as_array()
                .is_some_and(|a| a.iter().any(|x| x == "champion"))
        })
        .expect("a champion");
    (
        c["version"].as_str().unwrap_or_default().to_string(),
        c["state"]["value"].as_f64().unwrap_or(f64::NAN),
    )
}

#[test]
fn promote_moves_the_champion_only_when_the_new_model_is_better() {
    let p = Project::new(PROMOTE);
    std::fs::write(p.path("rows.csv"), rows_csv(900, 4)).expect("csv");
    p.run_ok(&["run", "pipeline.yaml"]);
    let m = metrics(&p, &p.last_run_id(), "classifier");
    assert_eq!(
        m["promoted"], 1,
        "the first model is the first champion: {m}"
    );
    let (first, first_value) = champion(&p);

    // A tiny step: worse; the champion stays, and retention (1 version) keeps
    // its version because the alias names it.
    p.run_ok(&[
        "run",
        "pipeline.yaml",
        "-p",
        "epochs=1",
        "-p",
        "rate=0.00001",
    ]);
    let m = metrics(&p, &p.last_run_id(), "classifier");
    assert_eq!(m["promoted"], 0, "{m}");
    assert_eq!(champion(&p).0, first);
    let versions = model_versions(&p);
    assert_eq!(versions.len(), 2, "latest and champion kept: {versions:?}");
    let log = p.run_ok(&["logs", &p.last_run_id(), "classifier"]);
    assert!(
        common::text(&log).contains(&format!("champion stays version {first}: valid.accuracy")),
        "{}",
        common::text(&log)
    );

    // By hand: the champion to the latest version, then back; `compare` puts both side by
    // side.
    let latest = versions[0]["version"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let out = p.run_ok(&[
        "models",
        "promote",
        "ml.classifier",
        &latest,
        "--note",
        "try it",
    ]);
    assert!(common::text(&out).contains(&format!("ml.classifier: champion → version {latest}")));
    assert_eq!(champion(&p).0, latest);
    let cmp = p.json(&[
        "models",
        "compare",
        "ml.classifier",
        &first,
        "champion",
        "--json",
    ]);
    assert_eq!(cmp["a"], Value::String(first.clone()));
    assert_eq!(cmp["b"], Value::String(latest.clone()));
    let figures = cmp["figures"].as_array().expect("figures");
    assert!(
        figures
            .iter()
            .any(|f| f["metric"] == "valid.accuracy" && f["a"].as_f64() == Some(first_value)),
        "{cmp}"
    );
    p.run_ok(&["models", "promote", "ml.classifier", &first]);
    assert_eq!(champion(&p).0, first);

    // Longer training with a larger step: better; the champion moves to it, and retention
    // then drops the versions no alias names.
    p.run_ok(&["run", "pipeline.yaml", "-p", "epochs=30", "-p", "rate=0.01"]);
    let m = metrics(&p, &p.last_run_id(), "classifier");
    let (now, value) = champion(&p);
    assert_eq!(m["promoted"], 1, "{m}");
    assert_ne!(now, first);
    assert!(value > first_value, "{value} > {first_value}");
    assert_eq!(model_versions(&p).len(), 1);
    let list = p.json(&["models", "--json"]);
    assert_eq!(list[0]["model"], "ml.classifier");
    assert_eq!(list[0]["type"], "mlp");

    // The champion's card: the version and alias, the figures of the kept trial, the
    // confusion matrix on the validation rows (no test rows), what the pipeline did not say.
    let card = p.run_ok(&["models", "card", "ml.classifier@champion"]);
    let card = String::from_utf8_lossy(&card.stdout).to_string();
    assert!(
        card.starts_with(&format!(
            "# Model card: ml.classifier\n\nVersion `{now}` (aliases: champion) · mlp · trained "
        )),
        "{card}"
    );
    for part in [
        "## Intended use\n\n_Not stated: set `card.intended_use` on the `train` task._",
        "| Features | id (number), x (number), y (number), noise (number), colour (category, 3 values) |",
        "| Label | label: 3 classes (booked, consulted, seen) |",
        "## Figures\n\nTrial 1 of 1, kept for its valid.accuracy of ",
        "## Confusion matrix (valid rows)",
        "| true \\ predicted | booked | consulted | seen |",
        "## Energy",
    ] {
        assert!(card.contains(part), "{part}\n---\n{card}");
    }
    let out = p.run_ok(&["models", "card", "ml.classifier", "-o", "card.md"]);
    assert!(
        text(&out).contains("(model card, Markdown)"),
        "{}",
        text(&out)
    );
    assert_eq!(p.read("card.md"), card);
}

const RESUMABLE: &str = r#"
name: ml
tasks:
  rows:
    op: read.csv
    path: rows.csv
  classifier:
    op: train
    input: rows
    label: label
    features: [x, y]
    model: {type: mlp, hidden: [4], epochs: 2, early_stopping: 0}
    split: {valid: 0.25, seed: 3}
    search:
      trials:
        - {epochs: 2}
        - {epochs: 20000}
"#;

/// The first file named `name` under `dir`.
fn find_file(dir: &std::path::Path, name: &str) -> Option<std::path::PathBuf> {
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let path = entry.path();
        if path.is_dir() {
            if let Some(found) = find_file(&path, name) {
                return Some(found);
            }
        } else if path.file_name().is_some_and(|n| n == name) {
            return Some(path);
        }
    }
    None
}

#[test]
fn a_killed_training_resumes_from_its_last_finished_trial() {
    let p = Project::new(RESUMABLE);
    std::fs::write(p.path("rows.csv"), rows_csv(300, 5)).expect("csv");
    let mut child = p.spawn(&["run", "pipeline.yaml"]);
    // Killed once trial 1 is kept, while trial 2 trains.
    let start = std::time::Instant::now();
    let kept = loop {
        // Not while it is still in its staging folder (`.trial-1.tmp`, renamed once written).
        if let Some(f) = find_file(p.dir.path(), "trial.json")
            && !f
                .parent()
                .is_some_and(|d| d.to_string_lossy().ends_with(".tmp"))
        {
            break f;
        }
        assert!(start.elapsed().as_secs() < 60, "trial 1 was never kept");
        std::thread::sleep(std::time::Duration::from_millis(10));
    };
    child.kill().expect("kill -9");
    let _ = child.wait();
    assert!(
        kept.parent().is_some_and(|d| d.ends_with("trial-1")),
        "{}",
        kept.display()
    );
    let run_id = p.last_run_id();
    p.run_ok(&["run", "pipeline.yaml", "--resume", &run_id]);
    let show = p.show(&run_id);
    assert_eq!(show["run"]["state"], "succeeded");
    let log = text(&p.run_ok(&["logs", &run_id, "classifier", "--attempt", "2"]));
    assert!(
        log.contains("trial 1/2: reused, finished before the interruption"),
        "{log}"
    );
    assert!(!log.contains("trial 2/2: reused"), "{log}");
    // Both trials' figures are in the dataset, and the checkpoints are gone.
    let trials = sql(&p, "select count(distinct trial) as n from ml.classifier");
    assert_eq!(trials[0]["n"], 2);
    assert!(
        find_file(p.dir.path(), "trial.json").is_none(),
        "checkpoints left behind"
    );
}

const EXPORTABLE: &str = r#"
name: ml
tasks:
  rows:
    op: read.csv
    path: rows.csv
  logistic:
    op: train
    input: rows
    label: label
    features: [x, y]
    model: {type: logistic}
    split: {valid: 0.25, seed: 3}
  mlp:
    op: train
    input: rows
    label: label
    features: [x, y]
    model: {type: mlp, hidden: [16, 8], activation: leaky_relu, negative_slope: 0.1, epochs: 5}
    split: {valid: 0.25, seed: 3}
  gelu:
    op: train
    input: rows
    label: label
    features: [x, y]
    model: {type: mlp, hidden: [8], activation: gelu, epochs: 3}
    split: {valid: 0.25, seed: 3}
  scored_logistic: {op: predict, input: rows, model: logistic, keep: [id, x, y]}
  scored_mlp: {op: predict, input: rows, model: mlp, keep: [id, x, y]}
  scored_gelu: {op: predict, input: rows, model: gelu, keep: [id, x, y]}
"#;

/// Runs the ONNX file with onnxruntime on the rows' x and y, and prints the largest
/// difference from sluice's own probabilities.
const ORT: &str = r#"
import json, sys
import numpy as np
import onnxruntime as ort
model, rows = sys.argv[1], json.loads(open(sys.argv[2]).read())
x = np.array([[r["x"], r["y"]] for r in rows], dtype=np.float32)
want = np.array([r["probas"] for r in rows], dtype=np.float32)
s = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
got = s.run(["probas"], {"input": x})[0]
print(float(np.abs(got - want).max()))
"#;

#[test]
fn exported_onnx_models_give_the_same_probabilities_under_onnxruntime() {
    let Some(python) = common::test_python("ONNX export under onnxruntime") else {
        return;
    };
    let p = Project::new(EXPORTABLE);
    std::fs::write(p.path("rows.csv"), rows_csv(400, 6)).expect("csv");
    p.run_ok(&["run", "pipeline.yaml"]);
    std::fs::write(p.path("ort.py"), ORT).expect("script");
    for task in ["logistic", "mlp", "gelu"] {
        let file = p.path(&format!("{task}.onnx"));
        let out = p.run_ok(&[
            "models",
            "export",
            &format!("ml.{task}"),
            "-o",
            file.to_str().expect("path"),
        ]);
        assert!(text(&out).contains("(ONNX, "), "{}", text(&out));
        let rows = sql(
            &p,
            &format!("select x, y, probas from ml.scored_{task} order by id"),
        );
        std::fs::write(
            p.path("rows.json"),
            serde_json::to_string(&rows).expect("json"),
        )
        .expect("rows");
        let out = std::process::Command::new(&python)
            .arg(p.path("ort.py"))
            .arg(&file)
            .arg(p.path("rows.json"))
            .output()
            .expect("python");
        assert!(
            out.status.success(),
            "{task}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let diff: f64 = String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .expect("a number");
        assert!(diff < 1e-5, "{task}: onnxruntime differs by {diff}");
    }
    // A task that made no model is named.
    let out = p.sluice(&["models", "export", "ml.rows", "-o", "x.onnx"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out).contains("no model version `ml.rows`"),
        "{}",
        text(&out)
    );
}

#[test]
fn the_pairs_example_learns_febrl_matches_with_boosted_trees() {
    let example = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let pipeline = std::fs::read_to_string(example.join("ml/pairs.yaml")).expect("example");
    let p = Project::new(&pipeline);
    let data = format!("data={}", example.join("record_linkage/data").display());
    p.run_ok(&["run", "pipeline.yaml", "-p", &data]);
    let quality = sql(&p, "select * from ml_pairs.quality order by scorer desc");
    assert_eq!(quality[0]["scorer"], "gbdt (probas >= 0.5)", "{quality:?}");
    let errors = |r: &Value| {
        r["false_positives"].as_i64().unwrap_or(-1) + r["false_negatives"].as_i64().unwrap_or(-1)
    };
    let found = quality[0]["true_positives"].as_i64().unwrap_or(0);
    assert!(found > 0 && errors(&quality[0]) <= 2, "{quality:?}");
    let models = p.json(&["models", "--json"]);
    assert_eq!(models[0]["model"], "ml_pairs.matcher");
    assert_eq!(models[0]["type"], "gbdt");
    // The card says what the pipeline says of the model, and the grid it was trained on.
    let card = p.run_ok(&["models", "card", "ml_pairs.matcher"]);
    let card = String::from_utf8_lossy(&card.stdout).to_string();
    assert!(
        card.contains("## Intended use\n\nDeciding which candidate pairs")
            && card.contains("| Owner | the deduplication team |")
            && card.contains("g CO2 at 56 g CO2/kWh.")
            && card.contains("| true \\ predicted | false | true |"),
        "{card}"
    );
}
