//! `chunk` end to end with the real tokenizer of all-MiniLM-L6-v2: sizes in tokens, unique
//! ids across sections, the template, and incremental runs (one changed document is split
//! again, the others reuse their chunks; deleted and emptied documents lose theirs).

use serde_json::{Value, json};

mod common;
use common::{Project, metrics, model_dir};

const SIZE: usize = 40;

fn pipeline(model: &std::path::Path) -> String {
    format!(
        r#"
name: chunking
tasks:
  docs:
    op: read.json
    path: docs.json
  chunks:
    op: chunk
    input: docs
    size: {SIZE}
    tokenizer: {}
    template: "{{title}}\n{{context}}\n{{text}}"
"#,
        model.display()
    )
}

fn paragraph(topic: &str, n: usize) -> String {
    (0..n)
        .map(|i| {
            format!(
                "La demande de {topic} numéro {i} se fait en ligne ou au guichet de la mairie, \
                 avec une pièce d'identité et un justificatif de domicile récent."
            )
        })
        .collect::<Vec<_>>()
        .join("\n\n")
}

fn write_docs(p: &Project, docs: &Value) {
    std::fs::write(p.path("docs.json"), docs.to_string()).expect("write docs");
}

fn docs(b_text: &str) -> Value {
    json!([
        {"doc_id": "F1", "title": "Carte d'identité", "context": "Démarches", "text": paragraph("carte", 4)},
        {"doc_id": "F1", "title": "Carte d'identité", "context": "Délais", "text": paragraph("délai", 3)},
        {"doc_id": "F2", "title": "Passeport", "context": null, "text": b_text},
        {"doc_id": "F3", "title": "Permis", "context": "Examen", "text": paragraph("permis", 2)}
    ])
}

fn chunks(p: &Project) -> Vec<Value> {
    let out = p.run_ok(&[
        "sql",
        "select chunk_id, doc_id, chunk_index, text, chunk_text, chunk_xxh64 from chunking.chunks order by doc_id, chunk_index",
        "--format",
        "json",
    ]);
    serde_json::from_slice::<Value>(&out.stdout)
        .expect("json")
        .as_array()
        .cloned()
        .unwrap_or_default()
}

#[test]
fn chunks_fit_the_token_limit_and_only_changed_documents_are_split_again() {
    let Some(model) = model_dir() else { return };
    let tokenizer = sluice_ops::builtin::load_tokenizer(&model).expect("tokenizer");
    let tokens = |s: &str| tokenizer.encode(s, false).expect("encode").get_ids().len();
    let p = Project::new(&pipeline(&model));
    write_docs(&p, &docs(&paragraph("passeport", 2)));
    p.run_ok(&["run", "pipeline.yaml"]);
    let first = chunks(&p);
    let run1 = p.last_run_id();
    let m = metrics(&p, &run1, "chunks");
    assert_eq!(
        (m["docs"].as_u64(), m["docs_new"].as_u64()),
        (Some(3), Some(3)),
        "{m}"
    );

    // Every chunk fits, ids are unique and numbered from 1 across a document's sections.
    let mut ids: Vec<&str> = first
        .iter()
        .filter_map(|c| c["chunk_id"].as_str())
        .collect();
    for c in &first {
        let text = c["chunk_text"].as_str().expect("chunk_text");
        assert!(
            tokens(text) <= SIZE,
            "{} tokens > {SIZE}: {text}",
            tokens(text)
        );
        assert_eq!(
            c["chunk_id"].as_str(),
            Some(
                format!(
                    "{}_{}",
                    c["doc_id"].as_str().unwrap_or(""),
                    c["chunk_index"]
                )
                .as_str()
            )
        );
        assert!(text.ends_with(c["text"].as_str().expect("text")));
    }
    let f1: Vec<&Value> = first.iter().filter(|c| c["doc_id"] == "F1").collect();
    assert!(f1.len() >= 7, "F1 has 7 paragraphs: {}", f1.len());
    assert_eq!(f1[0]["chunk_index"], 1);
    assert!(f1[0]["chunk_text"].as_str().is_some_and(|t| {
        t.starts_with("Carte d'identité\nDémarches\nLa demande de carte numéro 0")
    }));
    // A null context leaves no empty line.
    let f2 = first.iter().find(|c| c["doc_id"] == "F2").expect("F2");
    assert!(
        f2["chunk_text"]
            .as_str()
            .is_some_and(|t| t.starts_with("Passeport\nLa demande"))
    );
    let n = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), n, "duplicate chunk ids");

    // One document changes: it alone is split again.
    write_docs(&p, &docs(&paragraph("passeport biométrique", 3)));
    p.run_ok(&["run", "pipeline.yaml"]);
    let m = metrics(&p, &p.last_run_id(), "chunks");
    let f2_after = chunks(&p).iter().filter(|c| c["doc_id"] == "F2").count();
    assert_eq!(
        (
            m["docs_changed"].as_u64(),
            m["docs_unchanged"].as_u64(),
            m["docs_new"].as_u64()
        ),
        (Some(1), Some(2), Some(0)),
        "{m}"
    );
    assert_eq!(m["chunks_written"].as_u64(), Some(f2_after as u64), "{m}");
    assert_eq!(
        m["chunks_reused"].as_u64(),
        Some((first.len() - first.iter().filter(|c| c["doc_id"] == "F2").count()) as u64)
    );
    let reused: Vec<Value> = chunks(&p)
        .into_iter()
        .filter(|c| c["doc_id"] != "F2")
        .collect();
    let before: Vec<Value> = first
        .iter()
        .filter(|c| c["doc_id"] != "F2")
        .cloned()
        .collect();
    assert_eq!(reused, before);

    // F3 disappears and F2 has no text any more: both lose their chunks.
    let mut d = docs("   ");
    d.as_array_mut().expect("array").pop();
    write_docs(&p, &d);
    p.run_ok(&["run", "pipeline.yaml"]);
    let m = metrics(&p, &p.last_run_id(), "chunks");
    assert_eq!(
        (
            m["docs_deleted"].as_u64(),
            m["docs_without_chunks"].as_u64(),
            m["chunks_written"].as_u64()
        ),
        (Some(1), Some(1), Some(0)),
        "{m}"
    );
    let left: Vec<String> = chunks(&p)
        .iter()
        .filter_map(|c| c["doc_id"].as_str().map(String::from))
        .collect();
    assert!(left.iter().all(|d| d == "F1"), "{left:?}");
}

#[test]
fn rows_of_one_document_must_be_contiguous() {
    let p = Project::new(
        r#"
name: chunking
tasks:
  docs:
    op: read.json
    path: docs.json
  chunks:
    op: chunk
    input: docs
    size: 100
"#,
    );
    write_docs(
        &p,
        &json!([
            {"doc_id": "A", "text": "un"},
            {"doc_id": "B", "text": "deux"},
            {"doc_id": "A", "text": "trois"}
        ]),
    );
    let out = p.sluice(&["run", "pipeline.yaml"]);
    assert_eq!(out.status.code(), Some(1));
    let log = p.run_ok(&["logs", &p.last_run_id(), "chunks"]);
    let log = String::from_utf8_lossy(&log.stdout);
    assert!(
        log.contains("document `A` appears in two separate places of `docs`: the rows of a document must follow each other"),
        "{log}"
    );
}

#[test]
fn integer_document_ids_are_reused_on_the_next_run() {
    let p = Project::new(
        r#"
name: chunking
tasks:
  docs:
    op: read.json
    path: docs.json
  chunks:
    op: chunk
    input: docs
    size: 60
"#,
    );
    let docs = |second: &str| {
        json!([
            {"doc_id": 7, "text": paragraph("carte", 2)},
            {"doc_id": 8, "text": second}
        ])
    };
    write_docs(&p, &docs("Premier texte."));
    p.run_ok(&["run", "pipeline.yaml"]);
    write_docs(&p, &docs("Second texte."));
    p.run_ok(&["run", "pipeline.yaml"]);
    let m = metrics(&p, &p.last_run_id(), "chunks");
    assert_eq!(
        (m["docs_changed"].as_u64(), m["docs_unchanged"].as_u64()),
        (Some(1), Some(1)),
        "{m}"
    );
    let ids = chunks(&p)
        .iter()
        .filter_map(|c| c["chunk_id"].as_str().map(String::from))
        .collect::<Vec<_>>();
    assert!(
        ids.contains(&"7_1".to_string()) && ids.contains(&"8_1".to_string()),
        "{ids:?}"
    );
}
