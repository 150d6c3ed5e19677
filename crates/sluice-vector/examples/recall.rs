//! Recall and speed of the embedded index against exact search, for `bench/search`.
//!
//!     cargo run --release -p sluice-vector --example recall -- DATASET_DIR COLUMN QUERIES.json[,MORE.json] K EF...
//!
//!     ... recall -- DATASET_DIR COLUMN QUERIES.json K EF... --update PCT
//!
//! Each QUERIES.json: a JSON array of query vectors. Builds the index once and prints one
//! JSON object: build seconds, then under `queries`, for each file, exact search's queries/s
//! and, for each `ef`, queries/s and recall@K against exact search.
//!
//! With `--allow ROWS.json[,MORE.json]` (each a JSON array of the row numbers a filter
//! keeps), also each filter at each `ef`, for each query file: queries/s, rows returned on
//! average and the rows found (`hits`, the caller measures recall against its own filtered
//! exact search), under `filtered`.
//!
//! With `--update PCT`, the incremental update instead, on two versions of the dataset's
//! vectors that differ by PCT % of rows each way: version 1 lacks one row in 100/PCT (the
//! rows that version 2 adds), version 2 lacks another one in 100/PCT (the rows it deletes).
//! Version 1's index is built, then version 2's is made by `VectorIndex::update` from it and
//! also built whole; both are timed and measured as above, under `update`.

use std::time::Instant;

use sluice_vector::index::Metric;
use sluice_vector::index::{EXACT_BELOW, Params, VectorIndex};
use sluice_vector::search::{build_index, read_vectors};

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

/// Version 2's index updated from version 1's and built whole: seconds, counts, recall.
fn update_figures(
    dir: &std::path::Path,
    column: &str,
    pct: f64,
    queries: &[(String, Vec<Vec<f32>>)],
    k: usize,
    efs: &[usize],
) -> Result<serde_json::Value, Box<dyn std::error::Error>> {
    let every = ((100.0 / pct).round() as usize).max(2);
    let (dim, all) = read_vectors(dir, column)?;
    let version = |skip: usize| -> Vec<Option<Vec<f32>>> {
        all.iter()
            .enumerate()
            .filter(|(i, _)| i % every != skip)
            .map(|(_, v)| v.clone())
            .collect()
    };
    let (v1, v2) = (version(every / 2), version(0));
    let params = Params::default();
    let started = Instant::now();
    let old = VectorIndex::build(dim, Metric::Cosine, params, v1)?;
    let old_s = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let (updated, update) = VectorIndex::update(&old, dim, Metric::Cosine, params, v2.clone())?;
    let update_s = started.elapsed().as_secs_f64();
    drop(old);
    let started = Instant::now();
    let whole = VectorIndex::build(dim, Metric::Cosine, params, v2)?;
    let whole_s = started.elapsed().as_secs_f64();
    let mut by_file = serde_json::Map::new();
    for (file, q) in queries {
        by_file.insert(
            file.clone(),
            serde_json::json!({
                "updated": measure(&updated, q, k, efs)?,
                "whole": measure(&whole, q, k, efs)?,
            }),
        );
    }
    Ok(serde_json::json!({
        "changed_pct": pct,
        "rows": updated.len(),
        "version1_build_s": old_s,
        "update_s": update_s,
        "whole_build_s": whole_s,
        "kept": update.kept,
        "inserted": update.inserted,
        "removed": update.removed,
        "graph": format!("{:?}", update.graph),
        "queries": by_file,
    }))
}

/// Each filter at each `ef`: queries/s, mean rows returned, and the rows found per query.
fn filtered(
    index: &VectorIndex,
    queries: &[Vec<f32>],
    k: usize,
    efs: &[usize],
    allow: &[bool],
) -> Result<Vec<serde_json::Value>, Box<dyn std::error::Error>> {
    let mut runs = Vec::new();
    for &ef in efs {
        let started = Instant::now();
        let mut hits = Vec::with_capacity(queries.len());
        for q in queries {
            let found = index.search(q, k, ef, Some(allow))?;
            hits.push(found.iter().map(|h| h.row).collect::<Vec<u32>>());
        }
        let qps = queries.len() as f64 / started.elapsed().as_secs_f64();
        let rows = hits.iter().map(Vec::len).sum::<usize>() as f64 / queries.len().max(1) as f64;
        runs.push(serde_json::json!({
            "ef": ef,
            "queries_per_s": qps,
            "rows_mean": rows,
            "hits": hits,
        }));
    }
    Ok(runs)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args: Vec<String> = std::env::args().collect();
    let allow_files: Vec<String> = match args.iter().position(|a| a == "--allow") {
        Some(at) => {
            let files = args
                .get(at + 1)
                .ok_or("--allow needs files")?
                .split(',')
                .map(str::to_string)
                .collect();
            args.drain(at..at + 2);
            files
        }
        None => Vec::new(),
    };
    let update = match args.iter().position(|a| a == "--update") {
        Some(at) => {
            let pct: f64 = args
                .get(at + 1)
                .ok_or("--update needs a percentage")?
                .parse()?;
            args.drain(at..at + 2);
            Some(pct)
        }
        None => None,
    };
    if args.len() < 6 {
        return Err(
            "usage: recall DATASET_DIR COLUMN QUERIES.json[,MORE.json] K EF... [--allow ROWS.json[,MORE.json]] [--update PCT]"
                .into(),
        );
    }
    let dir = std::path::Path::new(&args[1]);
    let column = &args[2];
    let files: Vec<&str> = args[3].split(',').collect();
    let k: usize = args[4].parse()?;
    let efs: Vec<usize> = args[5..]
        .iter()
        .map(|a| a.parse())
        .collect::<Result<_, _>>()?;

    let mut queries = Vec::new();
    for file in files {
        let q: Vec<Vec<f32>> = serde_json::from_str(&std::fs::read_to_string(file)?)?;
        queries.push((file.to_string(), q));
    }
    if let Some(pct) = update {
        println!("{}", update_figures(dir, column, pct, &queries, k, &efs)?);
        return Ok(());
    }

    let started = Instant::now();
    let index = build_index(dir, column, Params::default())?;
    let build_s = started.elapsed().as_secs_f64();
    assert!(index.len() < EXACT_BELOW || index.has_graph());

    let mut by_file = serde_json::Map::new();
    for (file, q) in &queries {
        by_file.insert(file.clone(), measure(&index, q, k, &efs)?);
    }
    let mut by_filter = serde_json::Map::new();
    for allow_file in &allow_files {
        let rows: Vec<usize> = serde_json::from_str(&std::fs::read_to_string(allow_file)?)?;
        let mut allow = vec![false; index.len()];
        for r in rows {
            *allow
                .get_mut(r)
                .ok_or("an allowed row past the dataset's end")? = true;
        }
        let mut per_file = serde_json::Map::new();
        for (file, q) in &queries {
            per_file.insert(
                file.clone(),
                serde_json::Value::from(filtered(&index, q, k, &efs, &allow)?),
            );
        }
        by_filter.insert(allow_file.clone(), per_file.into());
    }
    let out = serde_json::json!({
        "filtered": by_filter,
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
