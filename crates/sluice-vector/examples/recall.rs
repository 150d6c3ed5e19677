//! Recall and speed of the embedded index against exact search, for `bench/search`.
//!
//!     cargo run --release -p sluice-vector --example recall -- DATASET_DIR COLUMN QUERIES.json[,MORE.json] K EF...
//!
//! Each QUERIES.json: a JSON array of query vectors. Builds the index once and prints one
//! JSON object: build seconds, then under `queries`, for each file, exact search's queries/s
//! and, for each `ef`, queries/s and recall@K against exact search.

use std::time::Instant;

use sluice_vector::index::{EXACT_BELOW, Params, VectorIndex};
use sluice_vector::search::build_index;

/// Exact search's queries/s, then queries/s and recall@k at each `ef`.
fn measure(
    index: &VectorIndex,
    queries: &[Vec<f32>],
    k: usize,
    efs: &[usize],
) -> Result<serde_json::Value, Box<dyn std::error::Error>> {
    let started = Instant::now();
    let exact: Vec<Vec<u32>> = queries
        .iter()
        .map(|q| {
            index
                .exact(q, k)
                .map(|hits| hits.iter().map(|h| h.row).collect())
        })
        .collect::<Result<_, _>>()?;
    let exact_qps = queries.len() as f64 / started.elapsed().as_secs_f64();
    let mut runs = Vec::new();
    for &ef in efs {
        let started = Instant::now();
        let mut found = 0usize;
        for (q, want) in queries.iter().zip(&exact) {
            let hits = index.search(q, k, ef, None)?;
            found += hits.iter().filter(|h| want.contains(&h.row)).count();
        }
        let qps = queries.len() as f64 / started.elapsed().as_secs_f64();
        runs.push(serde_json::json!({
            "ef": ef,
            "queries_per_s": qps,
            "recall": found as f64 / (queries.len() * k) as f64,
        }));
    }
    Ok(serde_json::json!({"exact_queries_per_s": exact_qps, "hnsw": runs}))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 6 {
        return Err("usage: recall DATASET_DIR COLUMN QUERIES.json[,MORE.json] K EF...".into());
    }
    let dir = std::path::Path::new(&args[1]);
    let column = &args[2];
    let files: Vec<&str> = args[3].split(',').collect();
    let k: usize = args[4].parse()?;
    let efs: Vec<usize> = args[5..]
        .iter()
        .map(|a| a.parse())
        .collect::<Result<_, _>>()?;

    let started = Instant::now();
    let index = build_index(dir, column, Params::default())?;
    let build_s = started.elapsed().as_secs_f64();
    assert!(index.len() < EXACT_BELOW || index.has_graph());

    let mut by_file = serde_json::Map::new();
    for file in files {
        let queries: Vec<Vec<f32>> = serde_json::from_str(&std::fs::read_to_string(file)?)?;
        by_file.insert(file.to_string(), measure(&index, &queries, k, &efs)?);
    }
    let out = serde_json::json!({
        "rows": index.len(),
        "dimension": index.dimension(),
        "m": Params::default().m,
        "ef_construction": Params::default().ef_construction,
        "build_s": build_s,
        "queries": by_file,
    });
    println!("{out}");
    Ok(())
}
