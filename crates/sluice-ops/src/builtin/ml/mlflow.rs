//! `tracking: {mlflow: URL}` of `train`: each training logged to an MLflow tracking server
//! over its REST API, as MLflow's own clients log a hyperparameter search — an experiment
//! (created when missing), a parent run for the training (the kept trial's parameters and
//! figures, the energy, the input dataset, the model's files as artifacts) with one child run
//! per trial (its parameters, its figures per epoch and at the end), a version of a registered
//! model pointing at the parent run's `model` artifacts, and the alias `promote` moved.
//! Credentials come from MLflow's own variables, with its precedence:
//! `MLFLOW_TRACKING_USERNAME` and `MLFLOW_TRACKING_PASSWORD` (basic), else
//! `MLFLOW_TRACKING_TOKEN` (bearer) — never from the URL, which is refused with credentials or
//! a query. 429, 5xx and no answer are tried again, except for the requests that create a run
//! or a model version (a retry could make a second one): the task's own retries cover those.

use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sluice_ml::tracking::{MlflowRecord, TrainState, TrialRecord};
use sluice_op::{OpError, TaskLog, redact_urls};

use crate::support::http::{answer_text, describe, send_retrying};

/// `tracking:` of `train`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Tracking {
    /// The MLflow tracking server (`http://mlflow:5000`).
    pub mlflow: String,
    /// The experiment (default: the pipeline's name); created when missing.
    #[serde(default)]
    pub experiment: Option<String>,
    /// The registered model a version is added to (default `PIPELINE.TASK`); created when
    /// missing.
    #[serde(default)]
    pub registered_model: Option<String>,
}

impl Tracking {
    /// Checks the URL's form when the pipeline is read.
    pub(crate) fn check(&self) -> Result<(), String> {
        match reqwest::Url::parse(&self.mlflow) {
            Ok(u) if !u.username().is_empty() || u.password().is_some() => Err(format!(
                "`tracking.mlflow`: give the server's address without credentials (`{}`); they \
                 go in MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD, or \
                 MLFLOW_TRACKING_TOKEN",
                shown(&u)
            )),
            Ok(u) if u.query().is_some() => Err(format!(
                "`tracking.mlflow`: give the server's address without a query (`{}`); a token \
                 goes in MLFLOW_TRACKING_TOKEN",
                shown(&u)
            )),
            Ok(u) if u.scheme() == "http" || u.scheme() == "https" => Ok(()),
            _ => Err(
                "`tracking.mlflow`: not an http(s) URL of an MLflow tracking server \
                 (`http://mlflow:5000`)"
                    .to_string(),
            ),
        }
    }

    /// Checks that MLflow accepts the alias `promote` moves (it keeps `latest` and `v1`, `v2`…
    /// for itself).
    pub(crate) fn check_alias(&self, alias: &str) -> Result<(), String> {
        let numbered = alias.len() > 1
            && alias.starts_with(['v', 'V'])
            && alias[1..].bytes().all(|b| b.is_ascii_digit());
        if alias.eq_ignore_ascii_case("latest") || numbered {
            return Err(format!(
                "`promote.alias`: MLflow keeps `{alias}` for itself; with `tracking.mlflow` give \
                 another alias (`champion`)"
            ));
        }
        Ok(())
    }
}

/// A URL as messages and the version's state show it: scheme, host, port and path only.
fn shown(url: &reqwest::Url) -> String {
    let mut u = url.clone();
    let _ = u.set_username("");
    let _ = u.set_password(None);
    u.set_query(None);
    u.set_fragment(None);
    u.as_str().trim_end_matches('/').to_string()
}

/// One trial as logged: its record and its figures per epoch (`(epoch, name, value)`).
pub(crate) struct TrialLog {
    /// Settings and final figures.
    pub record: TrialRecord,
    /// Figures per epoch.
    pub epochs: Vec<(usize, String, f64)>,
}

/// What one training logs.
pub(crate) struct Training<'a> {
    /// The pipeline, task and run of sluice.
    pub pipeline: &'a str,
    /// The `train` task.
    pub task: &'a str,
    /// sluice's run id.
    pub run_id: &'a str,
    /// The dataset version the model becomes.
    pub version: &'a str,
    /// The kept trial and the training's figures.
    pub state: &'a TrainState,
    /// Every trial.
    pub trials: &'a [TrialLog],
    /// The settings common to every trial (`seed`, `split.valid`, `label`…).
    pub params: Vec<(String, String)>,
    /// The folder of the model's files (uploaded as the run's `model/` artifacts).
    pub model_dir: &'a Path,
    /// Extra artifacts: name and bytes (the ONNX export).
    pub extra: Vec<(String, Vec<u8>)>,
    /// The alias `promote` moved to this version, if it did.
    pub alias: Option<&'a str>,
    /// The input dataset's columns with their MLflow types (the logged input's schema).
    pub input_schema: Vec<(String, &'static str)>,
    /// When the training started and ended, ms since 1970.
    pub started_ms: i64,
    /// See `started_ms`.
    pub ended_ms: i64,
}

/// A dataset's schema as MLflow's clients log it (`{"mlflow_colspec": [...]}`, as text).
fn input_schema(columns: &[(String, &'static str)]) -> String {
    let cols: Vec<Value> = columns
        .iter()
        .map(|(name, t)| json!({"type": t, "name": name, "required": false}))
        .collect();
    json!({ "mlflow_colspec": cols }).to_string()
}

/// MLflow's column type of an Arrow type.
pub(crate) fn mlflow_type(t: &sluice_data::datafusion::arrow::datatypes::DataType) -> &'static str {
    use sluice_data::datafusion::arrow::datatypes::DataType as D;
    match t {
        D::Int64 | D::UInt32 | D::UInt64 => "long",
        D::Int8 | D::Int16 | D::Int32 | D::UInt8 | D::UInt16 => "integer",
        D::Float64 => "double",
        D::Float16 | D::Float32 => "float",
        D::Boolean => "boolean",
        D::Binary | D::LargeBinary | D::BinaryView | D::FixedSizeBinary(_) => "binary",
        D::Date32 | D::Date64 | D::Timestamp(..) => "datetime",
        _ => "string",
    }
}

/// Attempts of one request answered 429, 5xx or not at all.
const ATTEMPTS: u32 = 4;
/// Metrics of one `log-batch` request (MLflow's limit: 1000).
const METRICS_PER_BATCH: usize = 1000;
/// Parameters of one `log-batch` request (MLflow's limit: 100).
const PARAMS_PER_BATCH: usize = 100;
/// MLflow's limit on a parameter's value.
const PARAM_CHARS: usize = 6000;

/// A client of one MLflow tracking server.
pub(crate) struct Client {
    http: reqwest::Client,
    base: String,
    shown: String,
    auth: Option<Auth>,
}

enum Auth {
    Bearer(String),
    Basic(String, String),
}

impl Client {
    pub(crate) fn new(url: &str) -> Result<Client, OpError> {
        let parsed = reqwest::Url::parse(url)
            .map_err(|_| OpError::config("`tracking.mlflow` is not a URL"))?;
        let shown = shown(&parsed);
        // MLflow's own precedence: a user and password, else a token.
        let auth = match (
            std::env::var("MLFLOW_TRACKING_USERNAME"),
            std::env::var("MLFLOW_TRACKING_PASSWORD"),
            std::env::var("MLFLOW_TRACKING_TOKEN"),
        ) {
            (Ok(u), Ok(p), _) if !u.is_empty() => Some(Auth::Basic(u, p)),
            (_, _, Ok(t)) if !t.is_empty() => Some(Auth::Bearer(t)),
            _ => None,
        };
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(300))
            .build()
            .map_err(|e| OpError::internal(format!("HTTP client: {}", describe(&e))))?;
        Ok(Client {
            http,
            base: url.trim_end_matches('/').to_string(),
            shown,
            auth,
        })
    }

    fn authorised(&self, r: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.auth {
            Some(Auth::Bearer(t)) => r.bearer_auth(t),
            Some(Auth::Basic(u, p)) => r.basic_auth(u, Some(p)),
            None => r,
        }
    }

    /// Calls `POST|GET /api/2.0/mlflow/<path>`; an MLflow error answer is `Err((code,
    /// message))` for the caller to read (`RESOURCE_ALREADY_EXISTS`…).
    pub(crate) async fn call(
        &self,
        what: &str,
        get: bool,
        path: &str,
        body: &Value,
    ) -> Result<Result<Value, (String, String)>, OpError> {
        // A request that creates a run or a model version is sent once: after a 5xx or a lost
        // answer it may have been done, and sending it again would make a second one.
        let attempts = if path == "runs/create" || path == "model-versions/create" {
            1
        } else {
            ATTEMPTS
        };
        let url = format!("{}/api/2.0/mlflow/{path}", self.base);
        let what = format!("{what} ({})", self.shown);
        let build = || {
            let r = if get {
                self.http
                    .get(&url)
                    .query(body.as_object().unwrap_or(&Default::default()))
            } else {
                self.http.post(&url).json(body)
            };
            Ok(self.authorised(r))
        };
        match send_retrying("MLflow", &what, attempts, build).await? {
            Ok(answer) => {
                let bytes = answer
                    .bytes()
                    .await
                    .map_err(|e| OpError::unavailable(format!("{what}: {}", describe(&e))))?;
                if bytes.is_empty() {
                    return Ok(Ok(json!({})));
                }
                serde_json::from_slice(&bytes).map(Ok).map_err(|e| {
                    OpError::unavailable(format!(
                        "{what}: the answer is not JSON ({e}); is {} an MLflow tracking server?",
                        self.shown
                    ))
                })
            }
            Err(answer) => {
                let (status, body) = answer_text(answer).await;
                let error: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
                match error["error_code"].as_str() {
                    Some(code) if status.as_u16() != 401 && status.as_u16() != 403 => Ok(Err((
                        code.to_string(),
                        error["message"].as_str().unwrap_or_default().to_string(),
                    ))),
                    _ => Err(self.refused(&what, status, &body)),
                }
            }
        }
    }

    fn refused(&self, what: &str, status: reqwest::StatusCode, body: &str) -> OpError {
        let hint = match status.as_u16() {
            401 | 403 => "; set MLFLOW_TRACKING_TOKEN, or MLFLOW_TRACKING_USERNAME and \
                          MLFLOW_TRACKING_PASSWORD, to credentials the server accepts"
                .to_string(),
            404 => format!("; is {} an MLflow tracking server?", self.shown),
            _ => String::new(),
        };
        OpError::http(
            status.as_u16(),
            format!("{what}: MLflow answered {status}: {body}{hint}"),
        )
    }

    /// An MLflow error answer (`RESOURCE_DOES_NOT_EXIST`…) to `what` as the op's error.
    fn answered(&self, what: &str, (code, message): (String, String)) -> OpError {
        OpError::refused(format!(
            "{what} ({}): MLflow answered {code}: {message}",
            self.shown
        ))
    }

    /// [`Client::call`] where any MLflow error is the op's error.
    async fn post(&self, what: &str, path: &str, body: Value) -> Result<Value, OpError> {
        self.call(what, false, path, &body)
            .await?
            .map_err(|e| self.answered(what, e))
    }

    /// The experiment's id, created when missing.
    async fn experiment(&self, name: &str) -> Result<String, OpError> {
        let what = format!("finding experiment `{name}`");
        let creating = format!("creating experiment `{name}`");
        for _ in 0..2 {
            let found = self
                .call(
                    &what,
                    true,
                    "experiments/get-by-name",
                    &json!({"experiment_name": name}),
                )
                .await?;
            match found {
                Ok(v) => {
                    if v["experiment"]["lifecycle_stage"] == "deleted" {
                        return Err(OpError::config(format!(
                            "experiment `{name}` is deleted on {}: restore it there, or log to \
                             another (`tracking.experiment`)",
                            self.shown
                        )));
                    }
                    return id_of(&v["experiment"]["experiment_id"], &what);
                }
                Err((code, _)) if code == "RESOURCE_DOES_NOT_EXIST" => {}
                Err(e) => return Err(self.answered(&what, e)),
            }
            let created = self
                .call(
                    &creating,
                    false,
                    "experiments/create",
                    &json!({"name": name, "tags": [{"key": "sluice", "value": "true"}]}),
                )
                .await?;
            match created {
                Ok(v) => return id_of(&v["experiment_id"], &what),
                // Another training created it meanwhile: read it again.
                Err((code, _)) if code == "RESOURCE_ALREADY_EXISTS" => {}
                Err(e) => return Err(self.answered(&creating, e)),
            }
        }
        Err(OpError::unavailable(format!(
            "{what} ({}): it is neither found nor created; try again",
            self.shown
        )))
    }

    /// Starts a run; returns its id and artifact URI.
    async fn start_run(
        &self,
        experiment: &str,
        name: &str,
        started_ms: i64,
        tags: &[(String, String)],
    ) -> Result<(String, String), OpError> {
        let what = format!("creating run `{name}`");
        let v = self
            .post(
                &what,
                "runs/create",
                json!({"experiment_id": experiment, "run_name": name,
                       "start_time": started_ms, "tags": pairs(tags)}),
            )
            .await?;
        let info = &v["run"]["info"];
        Ok((
            id_of(&info["run_id"], &what)?,
            info["artifact_uri"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        ))
    }

    /// Logs parameters and metrics, in batches of MLflow's sizes.
    async fn log(
        &self,
        run: &str,
        params: &[(String, String)],
        metrics: &[(String, f64, i64)],
        at_ms: i64,
    ) -> Result<(), OpError> {
        for chunk in params.chunks(PARAMS_PER_BATCH) {
            let params: Vec<Value> = chunk
                .iter()
                .map(|(k, v)| json!({"key": k, "value": v.chars().take(PARAM_CHARS).collect::<String>()}))
                .collect();
            self.post(
                "logging parameters",
                "runs/log-batch",
                json!({"run_id": run, "params": params}),
            )
            .await?;
        }
        // MLflow refuses NaN and infinities in JSON: a figure that is not a number is left out.
        let finite: Vec<&(String, f64, i64)> =
            metrics.iter().filter(|(_, v, _)| v.is_finite()).collect();
        for chunk in finite.chunks(METRICS_PER_BATCH) {
            let metrics: Vec<Value> = chunk
                .iter()
                .map(|(k, v, step)| json!({"key": k, "value": v, "timestamp": at_ms, "step": step}))
                .collect();
            self.post(
                "logging metrics",
                "runs/log-batch",
                json!({"run_id": run, "metrics": metrics}),
            )
            .await?;
        }
        Ok(())
    }

    async fn end_run(&self, run: &str, status: &str, ended_ms: i64) -> Result<(), OpError> {
        self.post(
            "ending the run",
            "runs/update",
            json!({"run_id": run, "status": status, "end_time": ended_ms}),
        )
        .await
        .map(|_| ())
    }

    /// Uploads one artifact through the server's artifact proxy; `artifacts` is the run's
    /// folder there ([`artifact_folder`]).
    async fn upload(&self, artifacts: &str, name: &str, bytes: Vec<u8>) -> Result<(), OpError> {
        let url = format!(
            "{}/api/2.0/mlflow-artifacts/artifacts/{artifacts}/{name}",
            self.base
        );
        let what = format!("uploading artifact {name} ({})", self.shown);
        let build = || Ok(self.authorised(self.http.put(&url).body(bytes.clone())));
        match send_retrying("MLflow", &what, ATTEMPTS, build).await? {
            Ok(_) => Ok(()),
            Err(answer) => {
                let (status, body) = answer_text(answer).await;
                Err(self.refused(&what, status, &body))
            }
        }
    }

    /// Adds a version to a registered model (created when missing); returns its number.
    async fn register(
        &self,
        model: &str,
        source: &str,
        run: &str,
        tags: &[(String, String)],
        description: &str,
    ) -> Result<String, OpError> {
        let registering = format!("registering model `{model}`");
        let created = self
            .call(
                &registering,
                false,
                "registered-models/create",
                &json!({"name": model, "description": "Trained by sluice."}),
            )
            .await?;
        if let Err(e) = created
            && e.0 != "RESOURCE_ALREADY_EXISTS"
        {
            return Err(self.answered(&registering, e));
        }
        let what = format!("adding a version to model `{model}`");
        let v = self
            .post(
                &what,
                "model-versions/create",
                json!({"name": model, "source": source, "run_id": run,
                       "tags": pairs(tags), "description": description}),
            )
            .await?;
        id_of(&v["model_version"]["version"], &what)
    }
}

/// The run's artifact folder behind the server's proxy, from its artifact URI
/// (`mlflow-artifacts:/1/<run>/artifacts`, or `mlflow-artifacts://host:port/1/…`): only
/// those can be written through the tracking server.
fn artifact_folder(artifact_uri: &str) -> Result<String, OpError> {
    let folder = reqwest::Url::parse(artifact_uri)
        .ok()
        .filter(|u| u.scheme() == "mlflow-artifacts")
        .map(|u| u.path().trim_matches('/').to_string())
        .filter(|p| !p.is_empty());
    folder.ok_or_else(|| {
        OpError::config(format!(
            "the run's artifacts go to `{}`, which sluice cannot write through the tracking \
             server: run `mlflow server` with artifact serving (the default; not \
             --no-serve-artifacts), or log to an experiment whose artifact location is \
             `mlflow-artifacts:`",
            redact_urls(artifact_uri)
        ))
    })
}

/// `{key, value}` objects.
fn pairs(tags: &[(String, String)]) -> Vec<Value> {
    tags.iter()
        .map(|(k, v)| json!({"key": k, "value": v}))
        .collect()
}

/// An id MLflow answered (a string, or a number in older servers).
fn id_of(v: &Value, what: &str) -> Result<String, OpError> {
    match v {
        Value::String(s) if !s.is_empty() => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        _ => Err(OpError::unavailable(format!(
            "{what}: MLflow's answer has no id (not an MLflow server of version 2 or later?)"
        ))),
    }
}

/// A model's settings as MLflow parameters: one per key, lists and objects as JSON.
pub(crate) fn params_of(spec: &sluice_ml::ModelSpec) -> Vec<(String, String)> {
    let Ok(Value::Object(map)) = serde_json::to_value(spec) else {
        return Vec::new();
    };
    map.into_iter()
        .map(|(k, v)| {
            let text = match v {
                Value::String(s) => s,
                other => other.to_string(),
            };
            (k, text)
        })
        .collect()
}

/// A trial's metrics: each figure per epoch at its step, the final figures at step 0.
fn metrics_of(trial: &TrialLog) -> Vec<(String, f64, i64)> {
    trial
        .epochs
        .iter()
        .map(|(e, n, v)| (n.clone(), *v, *e as i64))
        .chain(trial.record.figures.iter().map(|(n, v)| (n.clone(), *v, 0)))
        .collect()
}

/// Logs `t` to the server of `tracking`; returns where it went.
pub(crate) async fn log(
    tracking: &Tracking,
    t: &Training<'_>,
    log: &TaskLog,
) -> Result<MlflowRecord, OpError> {
    let client = Client::new(&tracking.mlflow)?;
    let experiment_name = tracking
        .experiment
        .clone()
        .unwrap_or_else(|| t.pipeline.to_string());
    let model = tracking
        .registered_model
        .clone()
        .unwrap_or_else(|| format!("{}.{}", t.pipeline, t.task));
    let experiment = client.experiment(&experiment_name).await?;
    let tags = vec![
        ("mlflow.source.type".to_string(), "JOB".to_string()),
        (
            "mlflow.source.name".to_string(),
            format!("sluice:{}.{}", t.pipeline, t.task),
        ),
        ("sluice.pipeline".to_string(), t.pipeline.to_string()),
        ("sluice.task".to_string(), t.task.to_string()),
        ("sluice.run_id".to_string(), t.run_id.to_string()),
        ("sluice.version".to_string(), t.version.to_string()),
        ("sluice.model_type".to_string(), t.state.kind.clone()),
    ];
    let (parent, artifacts) = client
        .start_run(
            &experiment,
            &format!("{} {}", t.task, t.version),
            t.started_ms,
            &tags,
        )
        .await?;
    let logged = match artifact_folder(&artifacts) {
        Ok(folder) => {
            let run = (parent.as_str(), artifacts.as_str(), folder.as_str());
            log_parent(&client, t, run, &model, &experiment).await
        }
        Err(e) => Err(e),
    };
    let status = if logged.is_ok() { "FINISHED" } else { "FAILED" };
    let ended = client.end_run(&parent, status, t.ended_ms).await;
    let version = logged?;
    if let Err(e) = ended {
        // Everything is logged: a run left open is not worth failing the training for.
        let _ = log.line(&format!(
            "MLflow: run {parent} is logged but could not be marked finished: {}",
            e.message
        ));
    }
    let record = MlflowRecord {
        server: client.shown.clone(),
        experiment_id: experiment,
        run_id: parent,
        registered_model: model,
        model_version: version,
    };
    let _ = log.line(&format!(
        "MLflow: run {} in experiment `{experiment_name}` ({}/#/experiments/{}/runs/{}), \
         {} trial run(s), model `{}` version {}{}",
        record.run_id,
        record.server,
        record.experiment_id,
        record.run_id,
        t.trials.len(),
        record.registered_model,
        record.model_version,
        t.alias.map(|a| format!(", alias {a}")).unwrap_or_default()
    ));
    Ok(record)
}

/// The trial runs, then the parent's figures, input, artifacts and registered version;
/// returns the version's number.
async fn log_parent(
    client: &Client,
    t: &Training<'_>,
    parent: (&str, &str, &str),
    model: &str,
    experiment: &str,
) -> Result<String, OpError> {
    // The run, its artifact URI and that folder behind the proxy.
    let (parent, artifact_uri, artifacts) = parent;
    let now = t.ended_ms;
    for trial in t.trials {
        let name = format!("trial {}", trial.record.trial);
        let tags = vec![
            ("mlflow.parentRunId".to_string(), parent.to_string()),
            ("sluice.trial".to_string(), trial.record.trial.to_string()),
        ];
        let (run, _) = client
            .start_run(experiment, &name, t.started_ms, &tags)
            .await?;
        let mut params = t.params.clone();
        params.extend(params_of(&trial.record.model));
        let logged = client.log(&run, &params, &metrics_of(trial), now).await;
        let status = if logged.is_ok() { "FINISHED" } else { "FAILED" };
        client.end_run(&run, status, now).await?;
        logged?;
    }
    let best = t
        .trials
        .iter()
        .find(|l| l.record.trial == t.state.best_trial);
    let mut params = t.params.clone();
    params.push(("trials".into(), t.trials.len().to_string()));
    params.push(("ranked_by".into(), t.state.metric.clone()));
    params.push(("best_trial".into(), t.state.best_trial.to_string()));
    let mut metrics = Vec::new();
    if let Some(best) = best {
        params.extend(params_of(&best.record.model));
        metrics = metrics_of(best);
    }
    if let Some(e) = &t.state.energy {
        metrics.extend([
            ("duration_seconds".to_string(), e.seconds, 0),
            ("cpu_seconds".to_string(), e.cpu_seconds, 0),
            ("energy_kwh".to_string(), e.kwh, 0),
            ("co2_grams".to_string(), e.co2_grams, 0),
        ]);
    }
    client.log(parent, &params, &metrics, now).await?;
    if let Some(input) = &t.state.input {
        let (name, digest) = input.split_once('@').unwrap_or((input.as_str(), ""));
        let source = json!({"uri": format!("sluice://{}/{name}@{digest}", t.pipeline)});
        client
            .post(
                "logging the input dataset",
                "runs/log-inputs",
                json!({"run_id": parent, "datasets": [{
                    "dataset": {"name": format!("{}.{name}", t.pipeline), "digest": digest,
                                "source_type": "sluice", "source": source.to_string(),
                                "schema": input_schema(&t.input_schema)},
                    "tags": [{"key": "mlflow.data.context", "value": "training"}]}]}),
            )
            .await?;
    }
    let mut files: Vec<_> = std::fs::read_dir(t.model_dir)
        .map_err(|e| OpError::io(t.model_dir.display(), &e))?
        .flatten()
        .filter(|e| e.path().is_file())
        .map(|e| e.path())
        .collect();
    files.sort();
    for path in files {
        let bytes = std::fs::read(&path).map_err(|e| OpError::io(path.display(), &e))?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        client
            .upload(artifacts, &format!("model/{name}"), bytes)
            .await?;
    }
    for (name, bytes) in &t.extra {
        client
            .upload(artifacts, &format!("model/{name}"), bytes.clone())
            .await?;
    }
    let version = client
        .register(
            model,
            &format!("{}/model", artifact_uri.trim_end_matches('/')),
            parent,
            &[("sluice.version".to_string(), t.version.to_string())],
            &format!(
                "sluice {}.{} version {}: {} {:.4}",
                t.pipeline, t.task, t.version, t.state.metric, t.state.value
            ),
        )
        .await?;
    if let Some(alias) = t.alias {
        client
            .post(
                &format!("setting alias {alias}"),
                "registered-models/alias",
                json!({"name": model, "alias": alias, "version": version}),
            )
            .await?;
    }
    Ok(version)
}
