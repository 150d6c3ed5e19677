//! `sluice search` with the real model: the query is embedded with the model the dataset
//! recorded, found in the embedded index (built on first use, kept beside the Parquet
//! files), filtered by `--where`, and found the same way in the PostgreSQL table that
//! `load.postgres` filled.

mod common;
use common::vector as chunks;

use serde_json::Value;

use common::{Project, model_dir, text};

const TEXTS: &[(&str, &str)] = &[
    (
        "Logement",
        "Les aides au logement pour les étudiants: APL, ALS et caution Visale.",
    ),
    (
        "Logement",
        "Comment résilier le bail de votre appartement et récupérer le dépôt de garantie.",
    ),
    (
        "Papiers",
        "Renouveler une carte d'identité ou un passeport à la mairie.",
    ),
    (
        "Papiers",
        "Demander un extrait d'acte de naissance en ligne.",
    ),
    (
        "Travail",
        "La rupture conventionnelle d'un contrat de travail à durée indéterminée.",
    ),
    (
        "Travail",
        "Les congés payés: combien de jours, comment les poser.",
    ),
    (
        "Transports",
        "Le permis de conduire à points: récupérer des points perdus.",
    ),
    (
        "Santé",
        "La carte Vitale et le remboursement des consultations médicales.",
    ),
];

/// A search restricted to one theme.
const FILTERED: [&str; 5] = [
    "logement étudiant",
    "-k",
    "3",
    "--where",
    "theme = 'Travail'",
];

fn pipeline(model: &str) -> String {
    format!(
        r#"name: sp
params:
  url: postgres://localhost/none
  table: none
tasks:
  sheets:
    op: read.csv
    path: sheets.csv
  embeddings:
    op: embed
    input: sheets
    model: {model}
    text: text
  load:
    op: load.postgres
    input: embeddings
    url: ${{params.url}}
    table: ${{params.table}}
    key: id
"#
    )
}

fn search(p: &Project, args: &[&str]) -> Vec<Value> {
    let mut all = vec!["search", "sp.embeddings"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--format", "json"]);
    let out = p.run_ok(&all);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect()
}

#[test]
fn search_finds_the_nearest_rows_in_the_index_and_in_postgres() {
    let Some(model) = model_dir() else { return };
    let url = chunks::pg_url("search_finds_the_nearest_rows_in_the_index_and_in_postgres");
    let p = Project::new(&pipeline(&model.display().to_string()));
    let mut csv = String::from("id,theme,text\n");
    for (i, (theme, t)) in TEXTS.iter().enumerate() {
        csv.push_str(&format!("{i},{theme},\"{t}\"\n"));
    }
    std::fs::write(p.path("sheets.csv"), csv).expect("csv");
    // Without a server the load fails, after the embeddings succeeded.
    let table = format!("search_{}", std::process::id());
    let mut run = vec!["run", "pipeline.yaml"];
    let params;
    if let Some(url) = &url {
        params = [format!("url={url}"), format!("table={table}")];
        run.extend(["--param", &params[0], "--param", &params[1]]);
        p.run_ok(&run);
    } else {
        let _ = p.sluice(&run);
    }

    let index = std::fs::read_dir(p.path(".sluice/warehouse/sp/embeddings"))
        .expect("warehouse")
        .filter_map(|e| e.ok())
        .any(|e| e.path().join("embedding.cosine.hnsw").is_file());
    assert!(
        index,
        "embed built the index beside the dataset, before any search"
    );

    let hits = search(&p, &["logement étudiant", "-k", "3"]);
    assert_eq!(hits.len(), 3);
    assert_eq!(hits[0]["row"]["id"], 0, "{hits:#?}");
    let scores: Vec<f64> = hits
        .iter()
        .map(|h| h["score"].as_f64().expect("score"))
        .collect();
    assert!(scores.windows(2).all(|w| w[0] >= w[1]), "{scores:?}");
    assert!(
        hits[0]["row"].get("embedding").is_none(),
        "vectors are left out"
    );

    // The same question with the same text: the document itself, score 1.
    let hits = search(&p, &[TEXTS[2].1, "-k", "1"]);
    assert_eq!(hits[0]["row"]["id"], 2);
    assert!(hits[0]["score"].as_f64() > Some(0.9999), "{hits:?}");

    // A filter: only rows of that theme.
    let hits = search(&p, &FILTERED);
    assert_eq!(hits.len(), 2);
    assert!(
        hits.iter().all(|h| h["row"]["theme"] == "Travail"),
        "{hits:?}"
    );

    // A table for people.
    let out = p.run_ok(&["search", "sp.embeddings", "carte vitale", "-k", "1"]);
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(
        shown.contains("score") && shown.contains("La carte Vitale"),
        "{shown}"
    );

    // Mistakes are named.
    let out = p.sluice(&["search", "sp.nope", "x"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("error: no dataset `sp.nope` (datasets: "),
        "{}",
        text(&out)
    );
    let out = p.sluice(&["search", "sp.embeddings", "x", "--where", "nope = 1"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("`--where nope = 1`"),
        "{}",
        text(&out)
    );

    // The next version: row 5 rewritten, row 7 gone, row 8 new. Its index is the previous
    // one updated: the two new vectors in, the two old ones out, the six others kept.
    let mut csv = String::from("id,theme,text\n");
    for (i, (theme, t)) in TEXTS.iter().enumerate() {
        match i {
            5 => csv.push_str("5,Travail,\"Les congés payés des salariés à temps partiel.\"\n"),
            7 => {}
            _ => csv.push_str(&format!("{i},{theme},\"{t}\"\n")),
        }
    }
    csv.push_str("8,Transports,\"Le contrôle technique d'une voiture de plus de quatre ans.\"\n");
    std::fs::write(p.path("sheets.csv"), csv).expect("csv");
    if url.is_some() {
        p.run_ok(&run);
    } else {
        let _ = p.sluice(&run);
    }
    let run_id = p.last_run_id();
    let m = common::metrics(&p, &run_id, "embeddings");
    let counts: Vec<&Value> = [
        "embedded",
        "from_cache",
        "index_kept",
        "index_inserted",
        "index_removed",
    ]
    .iter()
    .map(|k| &m[*k])
    .collect();
    assert_eq!(counts, [2, 6, 6, 2, 2], "{m}");
    let log = text(&p.run_ok(&["logs", &run_id, "embeddings"]));
    assert!(
        log.contains("indexed 8 rows for exact search in ")
            && log.contains(
                "(6 vectors as in the previous version, 2 new, 2 gone; a graph is built from \
                 20000 rows)"
            ),
        "{log}"
    );
    let hits = search(&p, &["contrôle technique de la voiture", "-k", "1"]);
    assert_eq!(hits[0]["row"]["id"], 8, "{hits:?}");
    let hits = search(&p, &["la carte vitale", "-k", "8"]);
    assert!(hits.iter().all(|h| h["row"]["id"] != 7), "{hits:?}");

    // PostgreSQL gives the same rows in the same order.
    let Some(url) = url else { return };
    let index_rows: Vec<Value> = search(&p, &["papiers d'identité", "-k", "4"])
        .iter()
        .map(|h| h["row"]["id"].clone())
        .collect();
    let pg = search(
        &p,
        &[
            "papiers d'identité",
            "-k",
            "4",
            "--postgres",
            &table,
            "--url",
            &url,
        ],
    );
    let pg_rows: Vec<Value> = pg.iter().map(|h| h["row"]["id"].clone()).collect();
    assert_eq!(pg_rows, index_rows);
    let mut filtered = FILTERED.to_vec();
    filtered.extend(["--postgres", &table, "--url", &url]);
    let pg = search(&p, &filtered);
    assert_eq!(pg.len(), 2);
    assert!(pg.iter().all(|h| h["row"]["theme"] == "Travail"), "{pg:?}");
}
