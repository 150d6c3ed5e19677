//! DataHub's formats, for every part of sluice that tells DataHub something (the lineage
//! catalog's export, the MLflow pull): a metadata change proposal ([`Mcp`]), the URNs of
//! entities, and the two sinks — an MCP JSON file (what `datahub ingest mcps` and DataHub's
//! `file` source read) and the REST emitter (`POST {gms}/aspects?action=ingestProposal`, as
//! DataHub's own Python emitter sends it).
//!
//! Depends on the op API only (for masking credentials in messages).

use std::time::Duration;

use serde_json::{Value, json};

/// One metadata change proposal: an aspect of an entity, upserted.
#[derive(Debug, Clone, PartialEq)]
pub struct Mcp {
    /// `dataset`, `dataFlow`, `dataJob`, `dataProcessInstance`, `mlModel`…
    pub entity_type: &'static str,
    /// The entity.
    pub entity_urn: String,
    /// The aspect's name.
    pub aspect_name: &'static str,
    /// The aspect, as DataHub's JSON.
    pub aspect: Value,
}

impl Mcp {
    /// The proposal as an MCP file holds it (`aspect.json`).
    pub fn file_form(&self) -> Value {
        json!({
            "entityType": self.entity_type,
            "entityUrn": self.entity_urn,
            "changeType": "UPSERT",
            "aspectName": self.aspect_name,
            "aspect": {"json": self.aspect},
        })
    }

    /// The body the REST emitter posts (`aspect.value`, the aspect as a JSON string).
    pub fn rest_body(&self) -> Value {
        json!({"proposal": {
            "entityType": self.entity_type,
            "entityUrn": self.entity_urn,
            "changeType": "UPSERT",
            "aspectName": self.aspect_name,
            "aspect": {"value": self.aspect.to_string(), "contentType": "application/json"},
        }})
    }
}

/// The DataHub environment of every URN.
pub const ENV: &str = "PROD";
/// Who sluice's proposals are made by.
pub const ACTOR: &str = "urn:li:corpuser:sluice";

/// The URN of a dataset of `platform`.
pub fn dataset_urn(platform: &str, name: &str) -> String {
    format!("urn:li:dataset:(urn:li:dataPlatform:{platform},{name},{ENV})")
}

/// The URN of an ML model of `platform`.
pub fn ml_model_urn(platform: &str, name: &str) -> String {
    format!("urn:li:mlModel:(urn:li:dataPlatform:{platform},{name},{ENV})")
}

/// The URN of a group of ML models of `platform`.
pub fn ml_model_group_urn(platform: &str, name: &str) -> String {
    format!("urn:li:mlModelGroup:(urn:li:dataPlatform:{platform},{name},{ENV})")
}

/// An aspect of an entity, upserted.
pub fn mcp(entity_type: &'static str, urn: &str, aspect_name: &'static str, aspect: Value) -> Mcp {
    Mcp {
        entity_type,
        entity_urn: urn.to_string(),
        aspect_name,
        aspect,
    }
}

/// The variable DataHub's own tools read a GMS token from.
pub const TOKEN_ENV: &str = "DATAHUB_GMS_TOKEN";

/// Where proposals go.
#[derive(Debug, Clone, Copy)]
pub enum Destination<'a> {
    /// An MCP JSON file.
    File(&'a std::path::Path),
    /// A GMS, its token in the variable `token_env` (usually [`TOKEN_ENV`]).
    Rest {
        /// The GMS (`http://datahub-gms:8080`).
        url: &'a str,
        /// The variable holding the token.
        token_env: &'a str,
    },
}

impl Destination<'_> {
    /// Writes or sends `mcps`; says where (`written to FILE`, `sent to URL`).
    pub async fn send(&self, mcps: &[Mcp]) -> Result<String, String> {
        match *self {
            Destination::File(path) => {
                write_file(path, mcps)?;
                Ok(format!("written to {}", path.display()))
            }
            Destination::Rest { url, token_env } => {
                let token = std::env::var(token_env).ok().filter(|t| !t.is_empty());
                emit_rest(url, token.as_deref(), mcps).await?;
                Ok(format!("sent to {}", sluice_op::redact_urls(url)))
            }
        }
    }
}

/// Writes `mcps` as an MCP JSON file (an array), atomically.
pub fn write_file(path: &std::path::Path, mcps: &[Mcp]) -> Result<(), String> {
    let all: Vec<Value> = mcps.iter().map(Mcp::file_form).collect();
    let text = serde_json::to_string_pretty(&all).map_err(|e| e.to_string())?;
    write_atomic(path, &text).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// Sends `mcps` to the DataHub GMS at `gms` (`token`: `DATAHUB_GMS_TOKEN`), in order, each
/// tried again on 5xx and 429; stops at the first refusal, naming the aspect.
pub async fn emit_rest(gms: &str, token: Option<&str>, mcps: &[Mcp]) -> Result<usize, String> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(|e| e.to_string())?;
    let base = gms.trim_end_matches('/');
    let shown = sluice_op::redact_urls(base);
    let with_auth = |r: reqwest::RequestBuilder| match token {
        Some(t) => r.bearer_auth(t),
        None => r,
    };
    // The GMS's health check: a clear error before anything is sent.
    let config = with_auth(client.get(format!("{base}/config")))
        .send()
        .await
        .map_err(|e| format!("DataHub at {shown} cannot be reached: {}", error_text(&e)))?;
    if !config.status().is_success() {
        return Err(format!(
            "DataHub at {shown} answered {} to GET /config: is it the GMS address (port 8080), and the token (DATAHUB_GMS_TOKEN) valid?",
            config.status()
        ));
    }
    let url = format!("{base}/aspects?action=ingestProposal");
    for (i, m) in mcps.iter().enumerate() {
        let mut delay = Duration::from_millis(250);
        for round in 0.. {
            let sent = with_auth(client.post(&url))
                .header("Content-Type", "application/json")
                .header("X-RestLi-Protocol-Version", "2.0.0")
                .body(m.rest_body().to_string())
                .send()
                .await;
            let retry = match sent {
                Ok(r) if r.status().is_success() => break,
                Ok(r)
                    if (r.status().is_server_error() || r.status().as_u16() == 429)
                        && round < 5 =>
                {
                    format!("HTTP {}", r.status())
                }
                Ok(r) => {
                    let status = r.status();
                    let body: String = r
                        .text()
                        .await
                        .unwrap_or_default()
                        .chars()
                        .take(300)
                        .collect();
                    return Err(format!(
                        "DataHub refused {} of {} ({}th proposal of {}): HTTP {status}: {body}",
                        m.aspect_name,
                        m.entity_urn,
                        i + 1,
                        mcps.len()
                    ));
                }
                Err(e) if round < 5 => error_text(&e),
                Err(e) => {
                    return Err(format!("DataHub at {shown}: {}", error_text(&e)));
                }
            };
            tracing::warn!("DataHub at {shown}: {retry}; trying again in {delay:?}");
            tokio::time::sleep(delay).await;
            delay *= 2;
        }
    }
    Ok(mcps.len())
}

fn write_atomic(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text)?;
    std::fs::rename(tmp, path)
}

/// A reqwest error's deepest cause (without the URL reqwest appends), credentials masked.
pub fn error_text(e: &reqwest::Error) -> String {
    let mut source: Option<&dyn std::error::Error> = std::error::Error::source(e);
    let mut deepest = e.to_string();
    while let Some(s) = source {
        deepest = s.to_string();
        source = s.source();
    }
    sluice_op::redact_urls(&deepest)
}
