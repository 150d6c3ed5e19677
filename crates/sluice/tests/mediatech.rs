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

fn shared(path: &str) -> PathBuf {
    repo().join("../shared/mediatech-samples").join(path)
}

fn rows(p: &Project, sql: &str) -> Vec<Value> {
    let out = p.run_ok(&["sql", sql, "--format", "json"]);
    serde_json::from_slice::<Value>(&out.stdout)
        .expect("json")
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// Chunks of at most `size` tokens (the template included), with unique ids.
fn assert_chunks_fit(p: &Project, table: &str, model: &Path, size: usize) -> usize {
    let tokenizer = sluice_ops::builtin::load_tokenizer(model).expect("tokenizer");
    let chunks = rows(p, &format!("select chunk_id, chunk_text from {table}"));
    assert!(!chunks.is_empty());
    let mut ids = Vec::new();
    for c in &chunks {
        let text = c["chunk_text"].as_str().expect("chunk_text");
        let n = tokenizer
            .encode(text, false)
            .expect("encode")
            .get_ids()
            .len();
        assert!(n <= size, "{} has {n} tokens > {size}", c["chunk_id"]);
        ids.push(c["chunk_id"].as_str().expect("id").to_string());
    }
    let total = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), total, "two chunks share an id");
    total
}

fn sheets_pipeline(path: &str, model: &Path) -> String {
    format!(
        r#"
name: sp
tasks:
  sheets:
    op: parse.service_public
    path: {path}
  chunks:
    op: chunk
    input: sheets
    size: 128
    tokenizer: {}
    template: "{{title}}\n{{context}}\n{{text}}"
"#,
        model.display()
    )
}

#[test]
fn service_public_real_sheets() {
    let Some(model) = model_dir() else { return };
    let glob = format!("{}/*.xml", shared("service_public").display());
    let p = Project::new(&sheets_pipeline(&glob, &model));
    p.run_ok(&["run", "pipeline.yaml"]);
    let docs = rows(
        &p,
        "select doc_id, title, date, audience, theme, surtitle, url, count(*) as sections \
         from sp.sheets group by doc_id, title, date, audience, theme, surtitle, url order by doc_id",
    );
    let summary: Vec<String> = docs
        .iter()
        .map(|d| {
            format!(
                "{} | {} | {} | {} | {} | {} | {}",
                d["doc_id"].as_str().unwrap_or(""),
                d["title"].as_str().unwrap_or(""),
                d["date"].as_str().unwrap_or(""),
                d["audience"].as_str().unwrap_or(""),
                d["theme"].as_str().unwrap_or(""),
                d["surtitle"].as_str().unwrap_or(""),
                d["sections"]
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            "F1119 | Déclaration initiale d'une association | 2024-11-05 | Associations, Particuliers | Formalités administratives d'une association | Fiche pratique | 11",
            "F2614 | Arrêt maladie d'un salarié pendant le préavis : quelles conséquences ? | 2025-10-24 | Particuliers | Travail - Formation | Question-réponse | 2",
            "N19806 | Travail - Formation | 2022-07-12 | Particuliers |  | Thème | 1",
        ]
    );
    assert_eq!(
        docs[1]["url"],
        "https://www.service-public.gouv.fr/particuliers/vosdroits/F2614"
    );

    // Sections: the path of titles above them, lists as bullets, cases and notes kept.
    let f1119 = rows(
        &p,
        "select section, context, text from sp.sheets where doc_id = 'F1119' order by section",
    );
    assert_eq!(f1119[0]["context"], serde_json::json!([]));
    assert!(f1119[0]["text"].as_str().is_some_and(|t| {
        t.ends_with("Cette fiche aborde les points suivants :\n- Cas général\n- Alsace-Moselle")
    }));
    assert_eq!(
        f1119[1]["context"],
        serde_json::json!([
            "Cas général",
            "Préparer la déclaration initiale de l'association"
        ])
    );
    let text = f1119[1]["text"].as_str().expect("text");
    assert!(
        text.contains("La déclaration doit indiquer les éléments suivants :\n\n- Nom de l'association, tel qu'il figure dans les statuts (250 caractères maximum), et le sigle, s'il en existe un\n- Objet,"),
        "{text}"
    );
    assert!(text.ends_with("(Attention : La déclaration peut être rejetée si une date de naissance apparaît sur les documents joints (statuts, procès-verbal, mandat). Cette information ne doit pas y figurer.)"));
    assert_eq!(
        f1119[6]["context"],
        serde_json::json!([
            "Alsace-Moselle",
            "Préparer l'inscription de l'association au registre des associations"
        ])
    );
    let f2614 = rows(
        &p,
        "select text, related_questions from sp.sheets where doc_id = 'F2614' and section = 2",
    );
    let text = f2614[0]["text"].as_str().expect("text");
    assert!(text.starts_with("Rémunération:\n\nVous pouvez être en arrêt de travail"));
    assert!(text.contains("\n\nCas : Maladie non professionnelle\n\nL’arrêt de travail"));
    let questions: Value =
        serde_json::from_str(f2614[0]["related_questions"].as_str().expect("json")).expect("json");
    assert_eq!(
        questions,
        serde_json::json!([{
            "question": "Arrêt maladie pendant la période d'essai : quelles sont les règles ?",
            "sid": "F317",
            "url": "https://www.service-public.gouv.fr/particuliers/vosdroits/F317"
        }])
    );
    let services = rows(
        &p,
        "select web_services from sp.sheets where doc_id = 'F1119' and section = 1",
    );
    let services: Value =
        serde_json::from_str(services[0]["web_services"].as_str().expect("json")).expect("json");
    assert_eq!(
        services[0]["url"],
        "https://demarches.service-public.gouv.fr/asso_mademarche/CR/demarche"
    );
    assert_eq!(
        services[0]["title"],
        "Création d'une association (e-création)"
    );

    let n = assert_chunks_fit(&p, "sp.chunks", &model, 128);
    let by_doc = rows(
        &p,
        "select doc_id, max(chunk_index) as last, count(*) as n from sp.chunks group by doc_id order by doc_id",
    );
    for d in &by_doc {
        assert_eq!(
            d["last"], d["n"],
            "chunk_index runs from 1 without gaps: {d}"
        );
    }
    assert!(n > 20, "{n} chunks");
}

#[test]
fn service_public_part_and_pro_feeds_share_sheets_without_overwriting() {
    let Some(model) = model_dir() else { return };
    let samples = repo().join("examples/mediatech/samples/service_public");
    let p = Project::new(&format!(
        r#"
name: sp
tasks:
  download:
    op: fetch
    urls:
      - {}/part/vosdroits-latest.zip
      - {}/pro/vosdroits-latest.zip
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
