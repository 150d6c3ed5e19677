//! The web UI in a real browser: Debian's chromium driven by playwright-core (`tests/ui/
//! flow.js`) against the real `sluice serve`. It logs in (after a wrong password), triggers
//! a pipeline, sees why a task waits, watches the run finish in the grid, reads a task's log,
//! opens a dataset (schema, rows over versions, first rows), searches it with the real model,
//! follows the lineage, opens a model (card, training curves, confusion matrix, trials, two
//! versions compared, the card as Markdown), and logs out. Screenshots of each step are kept in `target/tmp/flow-screenshots/`.
//! `tests/ui/catalog.js` finds a dataset in the catalog by a column and a tag, reads its docs
//! and follows one column's lineage back to the files it comes from.
//! scripts/browser.sh installs chromium and playwright-core; scripts/test.sh sets
//! SLUICE_TEST_CHROMIUM and SLUICE_TEST_NODE_PATH (required in CI).

mod common;

use common::{DOCS, Project, Server, docs_pipeline, model_dir, text};

const WATCH: &str = r#"
name: watch
tasks:
  slow: { run: "sleep 3; echo slow step done" }
  report: { run: "echo report", after: slow }
"#;

const ML: &str = r#"
name: ml
tasks:
  rows: {op: read.csv, path: ml.csv}
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
    split: {valid: 0.25, test: 0.2, seed: 3}
    search: {trials: [{hidden: [4]}, {hidden: [16]}]}
    promote: {alias: champion}
    card:
      intended_use: Sorting offers by what a user will do with them.
      limitations: Synthetic rows.
params:
  epochs: 4
"#;

#[test]
fn a_user_logs_in_triggers_a_run_watches_it_and_reads_a_log() {
    if common::browser("flow.js").is_none() {
        return;
    }
    let Some(model) = model_dir() else { return };
    let p = Project::new(WATCH);
    // A dataset with vectors from the real model, for the dataset and search pages.
    std::fs::write(p.path("docs.yaml"), docs_pipeline(&model)).expect("docs.yaml");
    std::fs::write(p.path("docs.csv"), DOCS).expect("docs.csv");
    p.run_ok(&["run", "docs.yaml"]);
    // A model with two versions, for the models pages.
    std::fs::write(p.path("ml.yaml"), ML).expect("ml.yaml");
    std::fs::write(p.path("ml.csv"), common::rows_csv(600, 4)).expect("ml.csv");
    p.run_ok(&["run", "ml.yaml"]);
    p.run_ok(&["run", "ml.yaml", "-p", "epochs=6"]);
    let out = p
        .cmd(&["user", "add", "otto", "--role", "operator"])
        .env("SLUICE_PASSWORD", "otto-password")
        .output()
        .expect("user add");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let server = Server::start(&p);
    common::browser_flow(
        "flow.js",
        &server,
        &["otto".as_ref(), "otto-password".as_ref()],
        14,
    );
    let shots = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("flow-screenshots");
    assert!(shots.join("01-login.png").is_file());
}

#[test]
fn the_catalog_finds_a_dataset_by_column_and_tag_and_follows_a_column_to_its_files() {
    if common::browser("catalog.js").is_none() {
        return;
    }
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let src = std::fs::read_to_string(root.join("examples/drug_mentions/pipeline.yaml"))
        .expect("example");
    let p = Project::new(&src);
    let data = root.join("examples/drug_mentions/data");
    p.run_ok(&[
        "run",
        "pipeline.yaml",
        "--param",
        &format!("data={}", data.display()),
    ]);
    let out = p
        .cmd(&["user", "add", "vera", "--role", "viewer"])
        .env("SLUICE_PASSWORD", "vera-password")
        .output()
        .expect("user add");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let server = Server::start(&p);
    common::browser_flow(
        "catalog.js",
        &server,
        &["vera".as_ref(), "vera-password".as_ref()],
        4,
    );
}
