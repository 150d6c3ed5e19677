//! The French public-data parsers on the real samples of `../shared/mediatech-samples/` and
//! on the project's own samples under `examples/mediatech/samples/`, chunked with the real
//! tokenizer of all-MiniLM-L6-v2.

use std::path::{Path, PathBuf};

use serde_json::Value;

mod common;
use common::{Project, metrics, model_dir};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn rows(p: &Project, sql: &str) -> Vec<Value> {
    let out = p.run_ok(&["sql", sql, "--format", "json"]);
    serde_json::from_slice::<Value>(&out.stdout)
        .expect("json")
        .as_array()
        .cloned()
        .unwrap_or_default()
}

// The real service-public sheets parsed and chunked: tests/golden/service_public.

#[test]
fn service_public_part_and_pro_feeds_share_sheets_without_overwriting() {
    let Some(model) = model_dir() else { return };
    let samples = repo().join("examples/mediatech/samples/lecomarquage/vdd/3.4");
    let p = Project::new(&format!(
        r#"
name: sp
tasks:
  download:
    op: fetch
    urls:
      - {}/part/zip/vosdroits-latest.zip
      - {}/pro/zip/vosdroits-latest.zip
  sheets:
    op: parse.service_public
    files: download
"#,
        samples.display(),
        samples.display()
    ));
    let _ = model;
    p.run_ok(&["run", "pipeline.yaml"]);
    let m = metrics(&p, &p.last_run_id(), "sheets");
    assert_eq!(
        (
            m["documents"].as_u64(),
            m["skipped"].as_u64(),
            m["duplicates"].as_u64(),
            m["duplicates_differing"].as_u64()
        ),
        (Some(7), Some(2), Some(1), Some(0)),
        "{m}"
    );
    let ids: Vec<String> = rows(&p, "select distinct doc_id from sp.sheets order by doc_id")
        .iter()
        .filter_map(|r| r["doc_id"].as_str().map(String::from))
        .collect();
    assert_eq!(
        ids,
        vec![
            "F1878", "F23107", "F2923", "F31228", "F35138", "N19808", "N24267"
        ]
    );
    let table = rows(
        &p,
        "select text from sp.sheets where doc_id = 'F1878' and text like '%| --- |%' order by section limit 1",
    );
    let text = table[0]["text"].as_str().expect("a section with a table");
    assert!(
        text.contains("Plafond de ressources selon le nombre d'enfants à charge\n| Nombre d'enfants à charge | Plafond de ressources 2023 |\n| --- | --- |\n| 1 enfant | 26 300 € |"),
        "{text}"
    );
    assert!(text.contains("(À noter : Si vos ressources dépassent légèrement le plafond"));
}

// Real LEGI articles and a CNIL deliberation parsed and chunked: tests/golden/dila_legi_cnil.

/// Copies the sample archives named `names` of a DILA folder into `index`.
fn publish(index: &Path, folder: &str, names: &[&str]) {
    std::fs::create_dir_all(index).expect("mkdir");
    for n in names {
        std::fs::copy(
            repo()
                .join("examples/mediatech/samples/dila")
                .join(folder)
                .join(n),
            index.join(n),
        )
        .expect("copy sample");
    }
}

#[test]
fn dila_deltas_apply_replacements_and_suppressions_and_only_changed_documents_are_chunked() {
    let p = Project::new(
        r#"
name: cnil
tasks:
  download:
    op: fetch
    listing:
      url: index
      pattern: "*.tar.gz"
  documents:
    op: parse.dila
    kind: cnil
    files: download
  chunks:
    op: chunk
    input: documents
    size: 1500
    template: "{title}\n{text}"
"#,
    );
    let index = p.path("index");
    publish(
        &index,
        "CNIL",
        &["Freemium_cnil_global_20250101-000000.tar.gz"],
    );
    p.run_ok(&["run", "pipeline.yaml"]);
    let ids = |p: &Project| -> Vec<String> {
        rows(p, "select doc_id from cnil.documents order by doc_id")
            .iter()
            .filter_map(|r| r["doc_id"].as_str().map(String::from))
            .collect()
    };
    assert_eq!(
        ids(&p),
        vec![
            "CNILTEXT000026026299",
            "CNILTEXT000048765120",
            "CNILTEXT000049857312",
            "CNILTEXT000050012874"
        ]
    );
    let run = p.last_run_id();
    assert_eq!(metrics(&p, &run, "chunks")["docs_new"], 4);
    let before = rows(
        &p,
        "select chunk_id, chunk_text from cnil.chunks where doc_id = 'CNILTEXT000050012874' order by chunk_index",
    );

    // A delta: one document changed, one new, one deleted (its line ends with ` D`), and
    // one deletion of a document the dump never had.
    publish(&index, "CNIL", &["CNIL_20250711-212007.tar.gz"]);
    p.run_ok(&["run", "pipeline.yaml"]);
    let run = p.last_run_id();
    let m = metrics(&p, &run, "documents");
    assert_eq!(
        (
            m["archives"].as_u64(),
            m["new"].as_u64(),
            m["replaced"].as_u64(),
            m["deleted"].as_u64()
        ),
        (Some(1), Some(1), Some(1), Some(1)),
        "{m}"
    );
    assert_eq!(
        ids(&p),
        vec![
            "CNILTEXT000048765120",
            "CNILTEXT000049857312",
            "CNILTEXT000050012874",
            "CNILTEXT000051880710"
        ]
    );
    let m = metrics(&p, &run, "chunks");
    assert_eq!(
        (
            m["docs_new"].as_u64(),
            m["docs_changed"].as_u64(),
            m["docs_unchanged"].as_u64(),
            m["docs_deleted"].as_u64()
        ),
        (Some(1), Some(1), Some(2), Some(1)),
        "{m}"
    );
    let deleted = rows(
        &p,
        "select count(*) as n from cnil.chunks where doc_id = 'CNILTEXT000026026299'",
    );
    assert_eq!(deleted[0]["n"], 0);
    let after = rows(
        &p,
        "select chunk_id, chunk_text from cnil.chunks where doc_id = 'CNILTEXT000050012874' order by chunk_index",
    );
    assert_eq!(before, after, "an unchanged document keeps its chunks");

    // Nothing new at the source: the download runs, the rest is cached.
    let out = p.run_ok(&["run", "pipeline.yaml", "--json"]);
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    let states: Vec<String> = v["tasks"]
        .as_array()
        .expect("tasks")
        .iter()
        .map(|t| {
            format!(
                "{} {}",
                t["task"].as_str().unwrap_or(""),
                t["state"].as_str().unwrap_or("")
            )
        })
        .collect();
    assert_eq!(
        states,
        vec!["download succeeded", "documents cached", "chunks cached"]
    );

    // The next delta adds one document.
    publish(&index, "CNIL", &["CNIL_20250718-211500.tar.gz"]);
    p.run_ok(&["run", "pipeline.yaml"]);
    let m = metrics(&p, &p.last_run_id(), "documents");
    assert_eq!(
        (m["archives"].as_u64(), m["new"].as_u64()),
        (Some(1), Some(1)),
        "{m}"
    );
    assert_eq!(ids(&p).len(), 5);
}

#[test]
fn dila_folder_deletions_and_dole_ids_that_repeat_across_parts() {
    let p = Project::new(
        r#"
name: dila
tasks:
  legi:
    op: parse.dila
    kind: legi
    path: index/LEGI/*.tar.gz
  dole:
    op: parse.dila
    kind: dole
    path: index/DOLE/*.tar.gz
  dole_chunks:
    op: chunk
    input: dole
    size: 8000
    template: "{title}\n{text}"
"#,
    );
    let index = p.path("index");
    publish(
        &index.join("LEGI"),
        "LEGI",
        &[
            "Freemium_legi_global_20250101-000000.tar.gz",
            "LEGI_20250711-211004.tar.gz",
        ],
    );
    publish(
        &index.join("DOLE"),
        "DOLE",
        &["Freemium_dole_global_20250101-000000.tar.gz"],
    );
    p.run_ok(&["run", "pipeline.yaml"]);
    // The delta deletes one article (flagged ` D`) and a whole decree (a folder line: its
    // two articles), changes one and adds one; the section and text files are not articles.
    let legi: Vec<String> = rows(&p, "select doc_id, status from dila.legi order by doc_id")
        .iter()
        .map(|r| {
            format!(
                "{} {}",
                r["doc_id"].as_str().unwrap_or(""),
                r["status"].as_str().unwrap_or("")
            )
        })
        .collect();
    assert_eq!(
        legi,
        vec![
            "LEGIARTI000006398191 MODIFIE",
            "LEGIARTI000006398192 VIGUEUR",
            "LEGIARTI000033020517 VIGUEUR",
            "LEGIARTI000035652034 MODIFIE",
            "LEGIARTI000051834217 VIGUEUR"
        ]
    );
    // DOLE: articles numbered alike in two parts of a dossier get one row per number, and
    // every chunk id is unique.
    let dole = rows(
        &p,
        "select content_type, article_number from dila.dole where doc_id = 'JORFDOLE000047251836' order by article_number nulls first",
    );
    let kinds: Vec<String> = dole
        .iter()
        .map(|r| {
            format!(
                "{} {}",
                r["content_type"].as_str().unwrap_or(""),
                r["article_number"]
            )
        })
        .collect();
    assert_eq!(
        kinds,
        vec![
            "explanatory_memorandum null",
            "article 1",
            "article 2",
            "article 3",
            "article 4"
        ]
    );
    let ids = rows(&p, "select chunk_id from dila.dole_chunks");
    let mut seen: Vec<&str> = ids.iter().filter_map(|r| r["chunk_id"].as_str()).collect();
    let n = seen.len();
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), n, "two DOLE chunks share an id");
}

// Real travail-emploi fiches and a directory entry parsed and chunked:
// tests/golden/travail_directory.

/// Every example pipeline runs offline on the project's samples.
#[test]
fn every_mediatech_example_runs_on_its_samples() {
    let Some(model) = model_dir() else { return };
    let home = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("tempdir");
    let examples = repo().join("examples/mediatech");
    let csv = "csv=samples/data_gouv/export-dataset-20250601-000000.csv".to_string();
    let cases: Vec<(&str, Vec<String>)> = vec![
        ("cnil", vec!["origin=samples/dila".into()]),
        ("constit", vec!["origin=samples/dila".into()]),
        ("dole", vec!["origin=samples/dila".into()]),
        ("legi", vec!["origin=samples/dila".into()]),
        ("state_directory", vec!["origin=samples/dila".into()]),
        (
            "local_directory",
            vec!["origin=samples/lecomarquage".into()],
        ),
        ("service_public", vec!["origin=samples/lecomarquage".into()]),
        ("travail_emploi", vec!["origin=samples/github".into()]),
        ("data_gouv_catalog", vec![csv.clone()]),
    ];
    for (name, params) in &cases {
        let mut args = vec![
            "run".to_string(),
            examples.join(format!("{name}.yaml")).display().to_string(),
            "--home".into(),
            home.path().display().to_string(),
        ];
        if ["legi", "service_public", "travail_emploi"].contains(name) {
            args.push("--param".into());
            args.push(format!("model={}", model.display()));
            // Exports and the local publication under the test's folder.
            args.push("--param".into());
            args.push(format!("out={}", home.path().join("out").display()));
            args.push("--param".into());
            args.push(format!(
                "publish_to={}",
                home.path().join("published").display()
            ));
        }
        for p in params {
            args.push("--param".into());
            args.push(p.clone());
        }
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_sluice"))
            .args(&args)
            .env_remove("SLUICE_STATE")
            .output()
            .expect("run");
        assert_eq!(out.status.code(), Some(0), "{name}: {}", common::text(&out));
    }
    let count = |sql: &str| -> i64 {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_sluice"))
            .args([
                "sql",
                "--home",
                &home.path().display().to_string(),
                "--format",
                "json",
                sql,
            ])
            .env_remove("SLUICE_STATE")
            .output()
            .expect("sql");
        let v: Value = serde_json::from_slice(&out.stdout).expect("json");
        v[0]["n"].as_i64().unwrap_or(-1)
    };
    assert_eq!(
        count("select count(distinct doc_id) as n from cnil.documents"),
        5
    );
    assert_eq!(
        count("select count(distinct doc_id) as n from constit.documents"),
        3
    );
    assert_eq!(
        count("select count(*) as n from state_directory.services"),
        5
    );
    assert_eq!(
        count("select count(*) as n from local_directory.services"),
        5
    );
    assert_eq!(
        count("select count(distinct doc_id) as n from service_public.sheets"),
        7
    );
    // Every chunk of the sources that have a model gets a 384-dimension vector.
    for source in ["service_public", "travail_emploi", "legi"] {
        let chunks = count(&format!("select count(*) as n from {source}.chunks"));
        assert!(chunks > 0, "{source}");
        assert_eq!(
            count(&format!(
                "select count(*) as n from {source}.embeddings where array_length(embedding) = 384"
            )),
            chunks,
            "{source}"
        );
    }
    assert_eq!(
        count("select count(distinct doc_id) as n from travail_emploi.sheets"),
        4
    );
    assert_eq!(
        count("select count(*) as n from data_gouv_catalog.datasets"),
        6
    );
    assert!(count("select count(*) as n from legi.chunks") >= 5);

    // Exported, then published to the local folder: every chunk, the same files.
    for source in ["service_public", "travail_emploi"] {
        let manifest: Value = serde_json::from_slice(
            &std::fs::read(
                home.path()
                    .join(format!("out/export/{source}/manifest.json")),
            )
            .expect("manifest"),
        )
        .expect("json");
        assert_eq!(
            manifest["rows"].as_i64(),
            Some(count(&format!(
                "select count(*) as n from {source}.embeddings"
            ))),
            "{source}"
        );
        let latest: Value = serde_json::from_slice(
            &std::fs::read(home.path().join(format!("published/{source}/latest.json")))
                .expect("latest.json"),
        )
        .expect("json");
        assert_eq!(latest["files"], manifest["files"], "{source}");
    }
    // LEGI: one part per code and one per kind of text, each exported and published.
    let parts: Value = serde_json::from_slice(
        &std::fs::read(home.path().join("out/export/legi/parts.json")).expect("parts.json"),
    )
    .expect("json");
    let names: Vec<&str> = parts
        .as_array()
        .expect("parts")
        .iter()
        .filter_map(|p| p["part"].as_str())
        .collect();
    assert!(names.contains(&"legi_code_du_travail"), "{names:?}");
    assert!(names.contains(&"legi_category_code"), "{names:?}");
    for name in &names {
        assert!(
            home.path()
                .join(format!("published/{name}/latest.json"))
                .is_file(),
            "{name}"
        );
    }
    assert_eq!(
        count("select sum(rows) as n from legi.parts where part = 'legi_category_code'"),
        count("select count(*) as n from legi.embeddings where category = 'CODE'")
    );
}
