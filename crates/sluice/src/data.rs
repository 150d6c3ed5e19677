//! Data commands: `sql`, `datasets`, `head`.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use sluice_core::interp::{Scope, interpolate};
use sluice_data::datafusion::arrow::util::pretty::pretty_format_batches;
use sluice_data::export::{Format, Source, export, write_format};
use sluice_data::session::{register_dataset, session};
use sluice_store::StateStore;

use crate::Failure;
use crate::cli::OutputFormat;
use crate::table::{table, timestamp};

/// Runs a query over the latest datasets and prints or writes the result.
pub async fn sql(
    store: Arc<dyn StateStore>,
    cache: Option<&sluice_engine::warehouse::Warehouse>,
    query: &str,
    params: &[(String, String)],
    format: OutputFormat,
    output: Option<&Path>,
) -> Result<u8, Failure> {
    let params: BTreeMap<String, String> = params.iter().cloned().collect();
    let env = |name: &str| std::env::var(name).ok();
    let query = interpolate(
        query,
        &Scope {
            params: &params,
            env: &env,
            shell: false,
        },
    )
    .map_err(|e| {
        Failure::invalid(format!(
            "error: {}{}",
            e.message,
            e.hint.map(|h| format!(" ({h})")).unwrap_or_default()
        ))
    })?
    .text;
    let ctx = session();
    let mut names = Vec::new();
    // With a cache: the tables the query names, as DataFusion's parser reads them (a query
    // it cannot parse fails below with its own message; meanwhile any name it contains
    // counts).
    let named = cache.map(|_| sluice_data::session::table_references(&query).ok());
    let lowered = query.to_lowercase();
    for d in store.latest_datasets(None).await? {
        let name = format!("{}.{}", d.pipeline, d.task);
        let mut path = std::path::PathBuf::from(&d.path);
        if let Some(cache) = cache {
            // Only the datasets the query names are downloaded.
            let wanted = match named.as_ref().and_then(Option::as_ref) {
                Some(tables) => tables.iter().any(|t| t.eq_ignore_ascii_case(&name)),
                None => lowered.contains(&name),
            };
            if !wanted {
                continue;
            }
            path = cache
                .fetch_recorded(&path, &d.pipeline, &d.task)
                .await
                .map_err(|e| Failure::env(format!("error: dataset {name}: {e}")))?;
            // A view reads other versions: those come down too (views of views as well).
            let mut views = vec![path.clone()];
            while let Some(dir) = views.pop() {
                let view = sluice_data::session::View::read(&dir)
                    .map_err(|e| Failure::env(format!("error: dataset {name}: {e}")))?;
                for input in view.map(|v| v.inputs).unwrap_or_default().into_values() {
                    let (here, _) = cache
                        .here(&input)
                        .map_err(|e| Failure::env(format!("error: dataset {name}: {e}")))?;
                    cache
                        .fetch(&here)
                        .await
                        .map_err(|e| Failure::env(format!("error: dataset {name}: {e}")))?;
                    views.push(here);
                }
            }
        }
        register_dataset(&ctx, &name, &path)
            .await
            .map_err(|e| Failure::env(format!("error: dataset {name} at {}: {e}", d.path)))?;
        names.push(name);
        // What the task rejected (read.files, image, ocr), beside its rows.
        let rejected = path.join(sluice_data::REJECTED);
        if rejected.is_dir() {
            let name = format!("{}.{}_rejected", d.pipeline, d.task);
            register_dataset(&ctx, &name, &rejected)
                .await
                .map_err(|e| Failure::env(format!("error: dataset {name}: {e}")))?;
            names.push(name);
        }
    }
    let failed = |e: String| {
        let tables = if names.is_empty() {
            "none yet: run a pipeline first".to_string()
        } else {
            names.join(", ")
        };
        Failure::invalid(format!("error: {e}\n  tables: {tables}"))
    };
    let df = ctx
        .sql(&query)
        .await
        .map_err(|e| failed(e.strip_backtrace()))?;
    let schema = Arc::new(df.schema().as_arrow().clone());
    let batches = df
        .collect()
        .await
        .map_err(|e| failed(e.strip_backtrace()))?;
    let source = Source::Batches(schema, &batches);
    let format = match (format, output) {
        (OutputFormat::Table, None) => {
            let text =
                pretty_format_batches(&batches).map_err(|e| Failure::env(format!("error: {e}")))?;
            println!("{text}");
            return Ok(0);
        }
        (OutputFormat::Table, Some(_)) => {
            return Err(Failure::invalid(
                "error: --output needs --format csv, json or parquet",
            ));
        }
        (OutputFormat::Parquet, None) => {
            return Err(Failure::invalid(
                "error: --format parquet needs --output FILE",
            ));
        }
        (OutputFormat::Csv, _) => Format::Csv,
        (OutputFormat::Json, _) => Format::Json { pretty: true },
        (OutputFormat::Parquet, _) => Format::Parquet,
    };
    let written = match output {
        Some(path) => export(&source, path, format),
        None => write_format(
            &source,
            std::io::BufWriter::new(std::io::stdout()),
            format,
            Path::new("standard output"),
        ),
    };
    written.map_err(|e| Failure::env(format!("error: {e}")))?;
    let _ = std::io::stdout().flush();
    Ok(0)
}

/// Lists datasets.
pub async fn datasets(
    store: Arc<dyn StateStore>,
    pipeline: Option<&str>,
    as_json: bool,
) -> Result<u8, Failure> {
    if as_json {
        let versions = store.dataset_versions(pipeline, None).await?;
        println!(
            "{}",
            serde_json::to_string_pretty(&versions).unwrap_or_default()
        );
        return Ok(0);
    }
    let latest = store.latest_datasets(pipeline).await?;
    if latest.is_empty() {
        println!("no datasets yet");
        return Ok(0);
    }
    let mut t = table(&["DATASET", "VERSION", "ROWS", "BYTES", "UPDATED"]);
    for d in &latest {
        t.add_row(vec![
            format!("{}.{}", d.pipeline, d.task),
            d.version.clone(),
            d.rows.to_string(),
            d.bytes.to_string(),
            timestamp(d.latest_since.unwrap_or(d.created_at)),
        ]);
    }
    println!("{t}");
    Ok(0)
}
