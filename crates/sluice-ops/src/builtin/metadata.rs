//! `metadata.pull`: what another tool knows, pulled into a catalog. `source: mlflow` reads an
//! MLflow tracking server over its REST API, as the seed's `MlFlowSource` and DataHub's
//! `mlflow` source do:
//!
//! - each run of each active experiment (matched by `experiments.allow`, not by
//!   `experiments.deny`, which holds `Default` unless set) becomes an `mlModel` named
//!   `EXPERIMENT_RUNID`: its parameters, its latest metrics, its end time, version = run id;
//! - each registered model becomes an `mlModelGroup`, and each of its versions an `mlModel`
//!   named `MODEL_VERSION` (DataHub's own naming), with the parameters and metrics of the run
//!   that made it and its stage as a tag.
//!
//! The proposals go to an MCP file (`to: datahub-file`, `path`) or a DataHub GMS
//! (`to: datahub-rest`, `url`, token in `DATAHUB_GMS_TOKEN`). The task runs every time; the
//! tasks after it stay cached when nothing changed.

use std::collections::BTreeMap;

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{Value, json};
use sluice_datahub::{Mcp, mcp, ml_model_group_urn, ml_model_urn};

use crate::builtin::ml::mlflow::Client;
use crate::{Op, OpError, OpOutput, TaskContext};

/// Experiments to read: names matching one of `allow` and none of `deny` (regular
/// expressions, matched against the whole name).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pattern {
    /// Default: every experiment.
    #[serde(default = "allow_all")]
    pub allow: Vec<String>,
    /// Default: `Default`, MLflow's experiment of runs nobody filed.
    #[serde(default = "deny_default")]
    pub deny: Vec<String>,
}

impl Default for Pattern {
    fn default() -> Self {
        Pattern {
            allow: allow_all(),
            deny: deny_default(),
        }
    }
}

fn allow_all() -> Vec<String> {
    vec![".*".into()]
}

fn deny_default() -> Vec<String> {
    vec!["Default".into()]
}

/// A pattern, compiled.
struct Matcher {
    allow: Vec<regex::Regex>,
    deny: Vec<regex::Regex>,
}

impl Pattern {
    fn compile(&self) -> Result<Matcher, String> {
        let one = |p: &String| {
            regex::Regex::new(&format!("^(?:{p})$"))
                .map_err(|e| format!("experiment pattern `{p}`: {e}"))
        };
        Ok(Matcher {
            allow: self.allow.iter().map(one).collect::<Result<_, _>>()?,
            deny: self.deny.iter().map(one).collect::<Result<_, _>>()?,
        })
    }
}

impl Matcher {
    fn allows(&self, name: &str) -> bool {
        self.allow.iter().any(|r| r.is_match(name)) && !self.deny.iter().any(|r| r.is_match(name))
    }
}

/// Where the proposals go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum Sink {
    /// An MCP JSON file.
    #[serde(rename = "datahub-file")]
    File,
    /// A DataHub GMS's REST API.
    #[serde(rename = "datahub-rest")]
    Rest,
}

/// `op: metadata.pull`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetadataPull {
    /// What to read: `mlflow`.
    pub source: String,
    /// The MLflow tracking server (`http://mlflow:5000`); credentials from
    /// `MLFLOW_TRACKING_USERNAME`/`_PASSWORD` or `MLFLOW_TRACKING_TOKEN`.
    pub tracking_uri: String,
    /// Which experiments.
    #[serde(default)]
    pub experiments: Pattern,
    /// `datahub-file` or `datahub-rest`.
    pub to: Sink,
    /// The MCP file (`datahub-file`), relative to the pipeline file.
    #[serde(default)]
    pub path: Option<String>,
    /// The GMS (`datahub-rest`).
    #[serde(default)]
    pub url: Option<String>,
    /// The variable holding the GMS token (default `DATAHUB_GMS_TOKEN`).
    #[serde(default)]
    pub token_env: Option<String>,
}

/// Builds `metadata.pull`, checking the source, the patterns and the sink's keys.
pub fn build_metadata_pull(
    config: &sluice_core::Node,
) -> Result<Box<dyn Op>, sluice_core::DeError> {
    let op: MetadataPull = sluice_core::from_node(config)?;
    let bad = <sluice_core::DeError as serde::de::Error>::custom;
    if op.source != "mlflow" {
        return Err(bad(format!(
            "unknown source `{}` (sources: mlflow)",
            op.source
        )));
    }
    op.experiments.compile().map_err(bad)?;
    match (op.to, &op.path, &op.url) {
        (Sink::File, None, _) => return Err(bad("`to: datahub-file` needs `path`".into())),
        (Sink::Rest, _, None) => return Err(bad("`to: datahub-rest` needs `url`".into())),
        _ => {}
    }
    Ok(Box::new(op))
}

/// What a pull found.
#[derive(Debug, Default)]
pub struct Pulled {
    /// The proposals.
    pub mcps: Vec<Mcp>,
    /// Experiments read.
    pub experiments: usize,
    /// Experiments left out by the pattern.
    pub denied: Vec<String>,
    /// Runs turned into models.
    pub runs: usize,
    /// Registered model versions turned into models.
    pub versions: usize,
}

impl Pulled {
    /// One line saying what was read from `uri` and made.
    pub fn summary(&self, uri: &str) -> String {
        format!(
            "MLflow {}: {} experiments read, {} left out ({}), {} runs and {} model versions: {} proposals",
            sluice_op::redact_urls(uri),
            self.experiments,
            self.denied.len(),
            self.denied.join(", "),
            self.runs,
            self.versions,
            self.mcps.len()
        )
    }
}

/// A metric as Python prints a float (`repr`): what DataHub's own source writes.
pub fn python_float(v: f64) -> String {
    if v.is_nan() {
        return "nan".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "inf" } else { "-inf" }.into();
    }
    // Shortest digits that read back the same, and the decimal exponent.
    let sci = format!("{v:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let negative = mantissa.starts_with('-');
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let sign = if negative { "-" } else { "" };
    if (-4..16).contains(&exp) {
        let point = exp + 1;
        let body = if point <= 0 {
            format!("0.{}{digits}", "0".repeat((-point) as usize))
        } else if point as usize >= digits.len() {
            format!("{digits}{}.0", "0".repeat(point as usize - digits.len()))
        } else {
            format!(
                "{}.{}",
                &digits[..point as usize],
                &digits[point as usize..]
            )
        };
        format!("{sign}{body}")
    } else {
        let rest = if digits.len() > 1 {
            format!(".{}", &digits[1..])
        } else {
            String::new()
        };
        let e_sign = if exp < 0 { '-' } else { '+' };
        format!("{sign}{}{rest}e{e_sign}{:02}", &digits[..1], exp.abs())
    }
}

fn name_values(list: &Value, value: impl Fn(&Value) -> String) -> Vec<Value> {
    list.as_array()
        .into_iter()
        .flatten()
        .map(|p| json!({"name": p["key"], "value": value(&p["value"])}))
        .collect()
}

fn params(run: &Value) -> Vec<Value> {
    name_values(&run["data"]["params"], |v| {
        v.as_str().unwrap_or_default().to_string()
    })
}

fn metrics(run: &Value) -> Vec<Value> {
    name_values(&run["data"]["metrics"], |v| {
        v.as_f64().map(python_float).unwrap_or_default()
    })
}

fn millis(v: &Value) -> Option<i64> {
    v.as_i64()
        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
}

fn tags_map(v: &Value) -> BTreeMap<String, String> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| {
            Some((
                t["key"].as_str()?.to_string(),
                t["value"].as_str().unwrap_or_default().to_string(),
            ))
        })
        .collect()
}

/// Pages of an MLflow search: `field` of each answer, following `next_page_token`.
async fn search(
    client: &Client,
    what: &str,
    get: bool,
    path: &str,
    body: Value,
    field: &str,
) -> Result<Vec<Value>, OpError> {
    let mut out = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut body = body.clone();
        if let Some(t) = &token {
            body["page_token"] = t.clone().into();
        }
        let answer = client
            .call(what, get, path, &body)
            .await?
            .map_err(|(code, message)| {
                OpError::refused(format!("{what}: MLflow answered {code}: {message}"))
            })?;
        out.extend(answer[field].as_array().cloned().unwrap_or_default());
        match answer["next_page_token"].as_str() {
            Some(t) if !t.is_empty() => token = Some(t.to_string()),
            _ => return Ok(out),
        }
    }
}

/// Reads `tracking_uri` and makes the proposals.
pub async fn pull_mlflow(tracking_uri: &str, pattern: &Pattern) -> Result<Pulled, OpError> {
    let matcher = pattern.compile().map_err(OpError::config)?;
    let client = Client::new(tracking_uri)?;
    let web = tracking_uri.trim_end_matches('/');
    let mut pulled = Pulled::default();
    let experiments = search(
        &client,
        "listing experiments",
        false,
        "experiments/search",
        json!({"max_results": 1000, "view_type": "ACTIVE_ONLY"}),
        "experiments",
    )
    .await?;
    let mut runs_by_id: BTreeMap<String, Value> = BTreeMap::new();
    for e in &experiments {
        let (Some(name), Some(id)) = (e["name"].as_str(), e["experiment_id"].as_str()) else {
            continue;
        };
        if !matcher.allows(name) {
            pulled.denied.push(name.to_string());
            continue;
        }
        pulled.experiments += 1;
        let runs = search(
            &client,
            &format!("listing the runs of experiment {name}"),
            false,
            "runs/search",
            json!({"experiment_ids": [id], "max_results": 1000, "run_view_type": "ACTIVE_ONLY"}),
            "runs",
        )
        .await?;
        for run in runs {
            let info = &run["info"];
            let Some(run_id) = info["run_id"].as_str() else {
                continue;
            };
            let model = format!("{name}_{run_id}");
            let urn = ml_model_urn("mlflow", &model);
            let mut props = json!({
                "customProperties": {
                    "experiment": name,
                    "experiment_id": id,
                    "run_name": info["run_name"].as_str().unwrap_or_default(),
                    "status": info["status"].as_str().unwrap_or_default(),
                    "artifact_uri": info["artifact_uri"].as_str().unwrap_or_default(),
                },
                "name": model,
                "version": {"versionTag": run_id},
                "hyperParams": params(&run),
                "trainingMetrics": metrics(&run),
                "tags": [],
                "groups": [],
                "trainingJobs": [],
            });
            if web.starts_with("http") {
                props["externalUrl"] = format!("{web}/#/experiments/{id}/runs/{run_id}").into();
            }
            if let Some(end) = millis(&info["end_time"]) {
                props["date"] = end.into();
            }
            if let Some(start) = millis(&info["start_time"]) {
                props["created"] = json!({ "time": start });
            }
            pulled
                .mcps
                .push(mcp("mlModel", &urn, "mlModelProperties", props));
            pulled
                .mcps
                .push(mcp("mlModel", &urn, "status", json!({"removed": false})));
            pulled.runs += 1;
            runs_by_id.insert(run_id.to_string(), run);
        }
    }
    // The model registry: groups and versions, as DataHub's own source names them.
    let models = search(
        &client,
        "listing registered models",
        true,
        "registered-models/search",
        json!({"max_results": 1000}),
        "registered_models",
    )
    .await?;
    for m in &models {
        let Some(name) = m["name"].as_str() else {
            continue;
        };
        let group = ml_model_group_urn("mlflow", name);
        let mut props = json!({
            "customProperties": tags_map(&m["tags"]),
            "name": name,
            "description": m["description"].as_str().unwrap_or_default(),
        });
        if let Some(t) = millis(&m["creation_timestamp"]) {
            props["created"] = json!({ "time": t });
        }
        if let Some(t) = millis(&m["last_updated_timestamp"]) {
            props["lastModified"] = json!({ "time": t });
        }
        pulled
            .mcps
            .push(mcp("mlModelGroup", &group, "mlModelGroupProperties", props));
        pulled.mcps.push(mcp(
            "mlModelGroup",
            &group,
            "status",
            json!({"removed": false}),
        ));
        let versions = search(
            &client,
            &format!("listing the versions of model {name}"),
            true,
            "model-versions/search",
            json!({"filter": format!("name='{}'", name.replace('\'', "\\'")), "max_results": 1000}),
            "model_versions",
        )
        .await?;
        for v in versions {
            let Some(version) = v["version"].as_str() else {
                continue;
            };
            let urn = ml_model_urn("mlflow", &format!("{name}_{version}"));
            let run = match v["run_id"].as_str().filter(|r| !r.is_empty()) {
                Some(id) => match runs_by_id.get(id) {
                    Some(run) => Some(run.clone()),
                    None => {
                        let answer = client
                            .call(
                                "reading a model version's run",
                                true,
                                "runs/get",
                                &json!({ "run_id": id }),
                            )
                            .await?;
                        answer.ok().map(|a| a["run"].clone())
                    }
                },
                None => None,
            };
            let tags = tags_map(&v["tags"]);
            let mut props = json!({
                "customProperties": tags,
                "name": format!("{name}_{version}"),
                "description": v["description"].as_str().unwrap_or_default(),
                "version": {"versionTag": version},
                "tags": tags.iter().map(|(k, v)| format!("{k}:{v}")).collect::<Vec<_>>(),
                "groups": [group],
                "trainingJobs": [],
            });
            if let Some(run) = &run {
                props["hyperParams"] = params(run).into();
                props["trainingMetrics"] = metrics(run).into();
            }
            if web.starts_with("http") {
                props["externalUrl"] = format!("{web}/#/models/{name}/versions/{version}").into();
            }
            if let Some(t) = millis(&v["creation_timestamp"]) {
                props["created"] = json!({ "time": t });
            }
            if let Some(t) = millis(&v["last_updated_timestamp"]) {
                props["lastModified"] = json!({ "time": t });
            }
            pulled
                .mcps
                .push(mcp("mlModel", &urn, "mlModelProperties", props));
            let stage = v["current_stage"].as_str().unwrap_or("None").to_lowercase();
            pulled.mcps.push(mcp(
                "mlModel",
                &urn,
                "globalTags",
                json!({"tags": [{"tag": format!("urn:li:tag:mlflow_{stage}")}]}),
            ));
            pulled
                .mcps
                .push(mcp("mlModel", &urn, "status", json!({"removed": false})));
            pulled.versions += 1;
        }
    }
    Ok(pulled)
}

#[async_trait]
impl Op for MetadataPull {
    async fn run(&self, ctx: &TaskContext) -> Result<OpOutput, OpError> {
        let pulled = pull_mlflow(&self.tracking_uri, &self.experiments).await?;
        let _ = ctx.log.line(&pulled.summary(&self.tracking_uri));
        let key = {
            use sha2::Digest;
            let mut h = sha2::Sha256::new();
            for m in &pulled.mcps {
                h.update(m.file_form().to_string().as_bytes());
            }
            hex::encode(h.finalize())
        };
        let path = ctx.workdir.join(self.path.as_deref().unwrap_or_default());
        let destination = match self.to {
            Sink::File => {
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir)
                        .map_err(|e| OpError::io("cannot create the MCP file's folder", &e))?;
                }
                sluice_datahub::Destination::File(&path)
            }
            Sink::Rest => sluice_datahub::Destination::Rest {
                url: self.url.as_deref().unwrap_or_default(),
                token_env: self
                    .token_env
                    .as_deref()
                    .unwrap_or(sluice_datahub::TOKEN_ENV),
            },
        };
        let sent = destination
            .send(&pulled.mcps)
            .await
            .map_err(|e| match self.to {
                Sink::File => OpError::internal(e),
                Sink::Rest => OpError::unavailable(e),
            })?;
        let _ = ctx
            .log
            .line(&format!("{} proposals {sent}", pulled.mcps.len()));
        Ok(OpOutput {
            metrics: crate::counters(&[
                ("experiments", pulled.experiments as u64),
                ("runs", pulled.runs as u64),
                ("model_versions", pulled.versions as u64),
                ("proposals", pulled.mcps.len() as u64),
            ]),
            content_key: Some(key),
            lineage: sluice_op::Lineage {
                inputs: sluice_op::lineage::External::url(&self.tracking_uri)
                    .into_iter()
                    .collect(),
                ..Default::default()
            },
            ..OpOutput::default()
        })
    }

    fn always_runs(&self) -> bool {
        true
    }

    fn outputs(&self, workdir: &std::path::Path) -> Vec<std::path::PathBuf> {
        match (self.to, &self.path) {
            (Sink::File, Some(p)) => vec![workdir.join(p)],
            _ => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_read_as_python_prints_them() {
        for (v, text) in [
            (0.91, "0.91"),
            (1.0, "1.0"),
            (0.25, "0.25"),
            (100.0, "100.0"),
            (1e-5, "1e-05"),
            (0.0001, "0.0001"),
            (123456.789, "123456.789"),
            (1e16, "1e+16"),
            (-2.5, "-2.5"),
            (0.1 + 0.2, "0.30000000000000004"),
        ] {
            assert_eq!(python_float(v), text, "{v}");
        }
    }

    #[test]
    fn default_is_left_out_unless_asked_for() {
        let m = Pattern::default().compile().expect("pattern");
        assert!(m.allows("team-a"));
        assert!(!m.allows("Default"));
        let only = Pattern {
            allow: vec!["team-.*".into()],
            deny: vec![],
        }
        .compile()
        .expect("pattern");
        assert!(only.allows("team-a") && !only.allows("other") && !only.allows("xteam-a"));
    }
}
