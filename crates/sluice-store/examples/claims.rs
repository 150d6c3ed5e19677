//! How the workers' queue scales with the number of workers: N claimers, each with its own
//! connection (as N `sluice worker` processes have), empty a queue of queued attempts on
//! PostgreSQL, each claiming `--batch` at a time and recording every outcome, as a worker
//! does, on one connection of its own. Prints one JSON line per N: claims per second, and the p50/p99 time of one claim.
//!
//! `cargo run --release -p sluice-store --example claims -- postgres://… [--items 20000]
//! [--workers 1,10,25,50,90] [--batch 1]` (bench/workers/bench.py runs it).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sluice_core::RunState;
use sluice_store::{RunRecord, SqlStore, StateStore, WorkItem, WorkKey, WorkQueue, Write};

fn arg<'a>(args: &'a [String], name: &str) -> Option<&'a str> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(String::as_str)
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let url = args
        .first()
        .filter(|a| a.starts_with("postgres"))
        .ok_or("usage: claims postgres://… [--items N] [--workers 1,10,…] [--batch B]")?
        .clone();
    let items: usize = arg(&args, "--items").unwrap_or("20000").parse()?;
    let batch: usize = arg(&args, "--batch").unwrap_or("1").parse()?;
    let levels: Vec<usize> = arg(&args, "--workers")
        .unwrap_or("1,10,25,50,90")
        .split(',')
        .map(str::parse)
        .collect::<Result<_, _>>()?;
    let admin = SqlStore::connect(&url).await?;
    for n in levels {
        let run = format!("claims-{n}-{}", std::process::id());
        admin
            .apply(&[Write::Run(RunRecord {
                id: run.clone(),
                pipeline: "claims".into(),
                file: "claims.yaml".into(),
                params: BTreeMap::new(),
                state: RunState::Running,
                trigger: "bench".into(),
                started_at: sluice_store::now_micros(),
                ended_at: None,
                pid: Some(1),
                host: Some("bench".into()),
                error: None,
            })])
            .await?;
        let spec = "{\"work\":\"noop\"}".repeat(20);
        for i in 0..items {
            admin
                .enqueue(&WorkItem {
                    key: WorkKey {
                        run_id: run.clone(),
                        task: format!("t{i:06}"),
                        attempt: 1,
                    },
                    pipeline: "claims".into(),
                    pool: None,
                    spec: spec.clone(),
                    // As the run's process: its host and pid first.
                    coordinator: format!("bench-1-{n}"),
                })
                .await?;
        }
        let mut stores = Vec::with_capacity(n);
        for _ in 0..n {
            // One connection each: a hundred claimers, a hundred of PostgreSQL's connections.
            stores.push(Arc::new(SqlStore::connect_pooled(&url, 1).await?));
        }
        let started = Instant::now();
        let mut tasks = Vec::with_capacity(n);
        for (w, store) in stores.iter().cloned().enumerate() {
            tasks.push(tokio::spawn(async move {
                let mut times = Vec::new();
                loop {
                    let t = Instant::now();
                    let got = store
                        .claim(&format!("w{w}"), &[], batch, Duration::from_secs(60))
                        .await?;
                    times.push(t.elapsed());
                    if got.is_empty() {
                        return Ok::<_, sluice_store::StoreError>(times);
                    }
                    for c in got {
                        store.finish(&c.key, &c.token, "{}").await?;
                    }
                }
            }));
        }
        let mut times = Vec::new();
        for t in tasks {
            times.extend(t.await??);
        }
        let elapsed = started.elapsed();
        // Each claimer's connection closed before the next level opens its own: PostgreSQL
        // allows 100 by default.
        for store in &stores {
            store.close().await;
        }
        times.sort();
        let pct = |p: f64| {
            let i = ((times.len() as f64 - 1.0) * p).round() as usize;
            times.get(i).map_or(0.0, |d| d.as_secs_f64() * 1000.0)
        };
        let done = admin
            .work(Some(&run))
            .await?
            .iter()
            .filter(|r| r.state == sluice_store::WorkState::Done)
            .count();
        if done != items {
            return Err(format!("{done} of {items} items done with {n} claimers").into());
        }
        println!(
            "{{\"workers\": {n}, \"batch\": {batch}, \"items\": {items}, \"seconds\": {:.3}, \
             \"claims_per_s\": {:.0}, \"claim_ms_p50\": {:.2}, \"claim_ms_p99\": {:.2}}}",
            elapsed.as_secs_f64(),
            items as f64 / elapsed.as_secs_f64(),
            pct(0.5),
            pct(0.99)
        );
    }
    Ok(())
}
