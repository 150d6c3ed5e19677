//! `sluice embed`: vectors for texts given on the command line, in a file or on stdin.

use std::io::{BufRead, Write};
use std::sync::Arc;
use std::time::Instant;

use serde_json::json;
use sluice_embed::{Embedder, ModelSpec};

use crate::Failure;
use crate::cli::EmbedArgs;

/// Texts from a file: JSON Lines with a `text` field, or plain lines.
fn read_texts(path: &std::path::Path) -> Result<Vec<String>, Failure> {
    let file = std::fs::File::open(path)
        .map_err(|e| Failure::invalid(format!("error: cannot read {}: {e}", path.display())))?;
    let mut texts = Vec::new();
    for (n, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line
            .map_err(|e| Failure::invalid(format!("error: {}:{}: {e}", path.display(), n + 1)))?;
        if line.trim().is_empty() {
            continue;
        }
        if line.trim_start().starts_with('{') {
            let v: serde_json::Value = serde_json::from_str(&line).map_err(|e| {
                Failure::invalid(format!(
                    "error: {}:{}: not valid JSON: {e}",
                    path.display(),
                    n + 1
                ))
            })?;
            let text = v.get("text").and_then(|t| t.as_str()).ok_or_else(|| {
                Failure::invalid(format!(
                    "error: {}:{}: no string field `text`",
                    path.display(),
                    n + 1
                ))
            })?;
            texts.push(text.to_string());
        } else {
            texts.push(line);
        }
    }
    Ok(texts)
}

/// Runs `sluice embed`.
pub async fn embed(args: EmbedArgs) -> Result<u8, Failure> {
    let texts = match (&args.input, args.texts.is_empty()) {
        (Some(path), _) => read_texts(path)?,
        (None, false) => args.texts.clone(),
        (None, true) => std::io::stdin()
            .lock()
            .lines()
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| Failure::invalid(format!("error: reading stdin: {e}")))?
            .into_iter()
            .filter(|l| !l.trim().is_empty())
            .collect(),
    };
    let failed = |e: sluice_embed::EmbedError| Failure::invalid(format!("error: {e}"));
    let spec = ModelSpec {
        model: args.model.clone(),
        endpoint: args.endpoint.clone(),
        api_key_env: args.api_key_env.clone(),
        threads: args.threads,
        batch_size: args.batch_size,
        kernels: args.kernels.clone(),
        precision: args.precision.clone(),
    };
    let embedder = Embedder::open(&spec).await.map_err(failed)?;
    // The model sees the prefixed texts; the output shows them as given.
    let given = texts;
    let texts: Arc<Vec<String>> = Arc::new(
        given
            .iter()
            .map(|t| format!("{}{t}", args.prefix))
            .collect(),
    );
    let quiet: Arc<dyn Fn(usize) + Send + Sync> = Arc::new(|_| {});
    let go = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut stdout = std::io::stdout().lock();
    if args.bench {
        let warm = Arc::new(
            texts
                .iter()
                .take(args.batch_size)
                .cloned()
                .collect::<Vec<_>>(),
        );
        embedder
            .embed(warm, quiet.clone(), go.clone())
            .await
            .map_err(failed)?;
        let tokens: Option<usize> = match &embedder {
            Embedder::Local(m) => Some(
                texts
                    .iter()
                    .map(|t| m.tokenize(t).map(|ids| ids.len()).unwrap_or(0))
                    .sum(),
            ),
            Embedder::Remote(_) | Embedder::Clip(_) => None,
        };
        let start = Instant::now();
        embedder
            .embed(texts.clone(), quiet, go)
            .await
            .map_err(failed)?;
        let seconds = start.elapsed().as_secs_f64();
        let precision = embedder.precision();
        let (threads, kernels) = match &embedder {
            Embedder::Local(m) => (Some(m.threads()), Some(m.kernel_level())),
            Embedder::Remote(_) => (None, None),
            Embedder::Clip(m) => (Some(m.threads()), None),
        };
        let figures = json!({
            "model": embedder.identity(),
            "texts": texts.len(),
            "tokens": tokens,
            "seconds": seconds,
            "texts_per_second": texts.len() as f64 / seconds.max(1e-9),
            "tokens_per_second": tokens.map(|t| t as f64 / seconds.max(1e-9)),
            "threads": threads,
            "batch_size": args.batch_size,
            "kernels": kernels,
            "precision": precision,
        });
        let _ = writeln!(stdout, "{figures}");
        return Ok(0);
    }
    let vectors = embedder
        .embed(texts.clone(), quiet, go)
        .await
        .map_err(failed)?;
    let dim = vectors.len() / texts.len().max(1);
    for (i, (text, v)) in given
        .iter()
        .zip(vectors.chunks_exact(dim.max(1)))
        .enumerate()
    {
        // Keys in this order (index, text, embedding), which json! would sort; floats in
        // their shortest f32 form.
        let line = format!(
            "{{\"index\":{i},\"text\":{},\"embedding\":{}}}",
            serde_json::to_string(text).unwrap_or_default(),
            serde_json::to_string(v).unwrap_or_default()
        );
        if writeln!(stdout, "{line}").is_err() {
            break; // stdout closed (piped into head)
        }
    }
    Ok(0)
}
