//! `sluice search`: the rows of a dataset nearest to a text, from the dataset's embedded
//! index or from the PostgreSQL table it was loaded into.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use serde_json::{Map, Value, json};
use sluice_store::StateStore;
use sluice_vector::search::{Query, VectorSource, search, vector_columns};

use crate::Failure;
use crate::embed::{Source, load_embedder};

/// The command's arguments.
pub struct Args {
    pub dataset: String,
    pub query: String,
    pub k: usize,
    pub filter: Option<String>,
    pub json: bool,
    pub column: Option<String>,
    pub model: Option<String>,
    pub columns: Option<Vec<String>>,
    pub ef: usize,
    pub postgres: Option<String>,
    pub url: Option<String>,
}

/// Runs `sluice search`.
pub async fn run(store: Arc<dyn StateStore>, args: Args) -> Result<u8, Failure> {
    let latest = store.latest_datasets(None).await?;
    let record = latest
        .iter()
        .find(|d| format!("{}.{}", d.pipeline, d.task) == args.dataset)
        .ok_or_else(|| {
            let names: Vec<String> = latest
                .iter()
                .map(|d| format!("{}.{}", d.pipeline, d.task))
                .collect();
            Failure::invalid(format!(
                "error: no dataset `{}` (datasets: {})",
                args.dataset,
                if names.is_empty() {
                    "none yet: run a pipeline first".to_string()
                } else {
                    names.join(", ")
                }
            ))
        })?;
    let dir = PathBuf::from(&record.path);
    let recorded = record
        .state
        .as_deref()
        .and_then(|s| serde_json::from_str::<Value>(s).ok())
        .and_then(|s| VectorSource::from_state(&s));
    let schema = sluice_data::export::dataset_schema(&dir)
        .map_err(|e| Failure::env(format!("error: {e}")))?;
    let vectors = vector_columns(&schema);
    let column = match (&args.column, &recorded) {
        (Some(c), _) => c.clone(),
        (None, Some(r)) => r.column.clone(),
        (None, None) if vectors.len() == 1 => vectors[0].clone(),
        (None, None) => {
            return Err(Failure::invalid(format!(
                "error: {} has {} vector columns ({}): choose one with --column",
                args.dataset,
                vectors.len(),
                vectors.join(", ")
            )));
        }
    };
    let (model, endpoint, api_key_env, prefix) = match (&args.model, &recorded) {
        (Some(m), _) => (m.clone(), None, None, String::new()),
        (None, Some(r)) => (
            r.model_dir
                .as_ref()
                .map(|d| d.display().to_string())
                .unwrap_or_else(|| r.model.clone()),
            r.endpoint.clone(),
            r.api_key_env.clone(),
            r.query_prefix(),
        ),
        (None, None) => {
            return Err(Failure::invalid(format!(
                "error: {} records no embedding model (it was not written by `embed`): give \
                 the one its vectors come from with --model",
                args.dataset
            )));
        }
    };
    let embedder = load_embedder(&Source {
        model: &model,
        endpoint: endpoint.as_deref(),
        api_key_env: api_key_env.as_deref(),
        threads: None,
        batch_size: 1,
        kernels: None,
    })
    .await?;
    let texts = Arc::new(vec![format!("{prefix}{}", args.query)]);
    let vector = embedder
        .embed(
            texts,
            Arc::new(|_| {}),
            Arc::new(std::sync::atomic::AtomicBool::new(false)),
        )
        .await
        .map_err(|e| Failure::invalid(format!("error: embedding the query: {e}")))?;

    let found: Vec<(f32, Map<String, Value>)> = match &args.postgres {
        Some(table) => {
            let url = args
                .url
                .clone()
                .or_else(|| std::env::var("SLUICE_PG_URL").ok())
                .ok_or_else(|| {
                    Failure::invalid(
                        "error: --postgres needs the server: --url or SLUICE_PG_URL".to_string(),
                    )
                })?;
            let client = sluice_vector::postgres::connect(
                &sluice_vector::postgres::ConnectOptions::new(url),
            )
            .await
            .map_err(|e| Failure::env(format!("error: {e}")))?;
            let query = sluice_vector::postgres::search::TableQuery {
                table: table.clone(),
                column: column.clone(),
                vector,
                k: args.k,
                filter: args.filter.clone(),
                ef_search: Some(args.ef as u32),
            };
            sluice_vector::postgres::search::search_table(&client, &query)
                .await
                .map_err(|e| Failure::invalid(format!("error: {e}")))?
        }
        None => {
            let query = Query {
                dataset: dir,
                column: column.clone(),
                vector,
                k: args.k,
                filter: args.filter.clone(),
                ef: args.ef,
            };
            tokio::task::spawn_blocking(move || search(&query))
                .await
                .map_err(|e| Failure::env(format!("error: {e}")))?
                .map_err(|e| Failure::invalid(format!("error: {e}")))?
                .into_iter()
                .map(|f| (f.score, f.values))
                .collect()
        }
    };
    let names: Vec<String> = schema
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .filter(|n| !vectors.contains(n))
        .collect();
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
fn print(args: &Args, names: &[String], found: &[(f32, Map<String, Value>)]) {
    let mut out = std::io::stdout().lock();
    if args.json {
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
