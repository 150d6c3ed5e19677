//! `sluice search`: the rows of a dataset nearest to a text, from the dataset's embedded
//! index or from the PostgreSQL table it was loaded into.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use serde_json::{Map, Value, json};
use sluice_store::StateStore;
use sluice_vector::text::{Cache, Table, TextQuery, TextSearchError, search_text};

use crate::Failure;
use crate::cli::SearchArgs;

/// The latest version of the dataset `name` (`pipeline.task`), or an error listing those
/// there are.
pub async fn find_dataset(
    store: &dyn StateStore,
    name: &str,
) -> Result<sluice_store::DatasetVersionRecord, Failure> {
    let latest = store.latest_datasets(None).await?;
    let names: Vec<String> = latest
        .iter()
        .map(|d| format!("{}.{}", d.pipeline, d.task))
        .collect();
    latest
        .into_iter()
        .find(|d| format!("{}.{}", d.pipeline, d.task) == name)
        .ok_or_else(|| {
            Failure::invalid(format!(
                "error: no dataset `{name}` (datasets: {})",
                if names.is_empty() {
                    "none yet: run a pipeline first".to_string()
                } else {
                    names.join(", ")
                }
            ))
        })
}

/// Runs `sluice search`.
pub async fn run(store: Arc<dyn StateStore>, args: SearchArgs) -> Result<u8, Failure> {
    let record = find_dataset(store.as_ref(), &args.dataset).await?;
    let query = TextQuery {
        k: args.k,
        filter: args.filter.clone(),
        column: args.column.clone(),
        model: args.model.clone(),
        ef: args.ef,
        postgres: match &args.postgres {
            Some(table) => Some(Table {
                table: table.clone(),
                url: args
                    .url
                    .clone()
                    .or_else(|| std::env::var("SLUICE_PG_URL").ok())
                    .ok_or_else(|| {
                        Failure::invalid(
                            "error: --postgres needs the server: --url or SLUICE_PG_URL"
                                .to_string(),
                        )
                    })?,
            }),
            None => None,
        },
        ..TextQuery::new(
            &args.dataset,
            PathBuf::from(&record.path),
            record.state.as_deref(),
            args.query.clone(),
        )
    };
    let answer = search_text(&query, &Cache::default())
        .await
        .map_err(|e| match e {
            TextSearchError::Invalid(m) => Failure::invalid(format!("error: {m}")),
            TextSearchError::Unavailable(m) => Failure::env(format!("error: {m}")),
        })?;
    let (names, found) = (answer.columns, answer.hits);
    print(&args, &names, &found);
    Ok(0)
}

fn cell(v: &Value) -> String {
    let text = match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    };
    let flat = text.replace(['\n', '\r', '\t'], " ");
    if flat.chars().count() > 60 {
        format!("{}…", flat.chars().take(59).collect::<String>())
    } else {
        flat
    }
}

/// Prints the results; `names` are the dataset's columns in order, vectors left out.
fn print(args: &SearchArgs, names: &[String], found: &[(f32, Map<String, Value>)]) {
    let mut out = std::io::stdout().lock();
    if args.format == crate::cli::SearchFormat::Json {
        for (score, row) in found {
            let line = json!({"score": score, "row": row});
            if writeln!(out, "{line}").is_err() {
                return;
            }
        }
        return;
    }
    let columns: Vec<String> = match &args.columns {
        Some(c) => c.clone(),
        None => {
            // The first columns, and the text that was embedded when there is one.
            let mut pick: Vec<String> = names.iter().take(3).cloned().collect();
            for text in ["chunk_text", "text"] {
                if names.iter().any(|n| n == text) && !pick.iter().any(|p| p == text) {
                    pick.push(text.to_string());
                    break;
                }
            }
            pick
        }
    };
    let mut header = vec!["score"];
    header.extend(columns.iter().map(String::as_str));
    let mut t = crate::table::table(&header);
    for (score, row) in found {
        let mut cells = vec![format!("{score:.4}")];
        cells.extend(
            columns
                .iter()
                .map(|c| cell(row.get(c).unwrap_or(&Value::Null))),
        );
        t.add_row(cells);
    }
    let _ = writeln!(out, "{t}");
}
