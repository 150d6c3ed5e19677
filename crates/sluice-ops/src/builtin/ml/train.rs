//! `train`: reads the feature and label columns of `input`, splits the rows, fits the `model`
//! (or each configuration of `search`), scores every trial on the training, validation and
//! test rows, and keeps the best by the validation `metric`. The dataset is the figures (one
//! row per trial, epoch and metric, MLflow's shape); the best model's artifact is written
//! beside it, in the version folder's `model/`, with `trials.json` (every trial's settings
//! and figures).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use sluice_data::datafusion::arrow::array::{
    ArrayRef, Float64Builder, Int32Builder, Int64Builder, StringBuilder,
};
use sluice_data::datafusion::arrow::datatypes::{DataType, Field, Schema};
use sluice_data::datafusion::arrow::record_batch::RecordBatch;
use sluice_data::{DatasetTarget, DatasetWriter};
use sluice_ml::features::{FeatureSchema, LabelSchema};
use sluice_ml::metrics::Metric;
use sluice_ml::model::Part;
use sluice_ml::split::SplitSpec;
use sluice_ml::tracking::{
    CardNotes, EVALUATION_FILE, EnergyMeter, EnergySettings, Evaluation, MODEL_DIR, TRIALS_FILE,
    TrainState, TrialRecord,
};
use sluice_ml::{Epoch, Model, ModelSpec, Run};
use sluice_op::{Op, OpError, OpOutput, ProgressFn, TaskContext, TaskLog, blocking};
use tokio_util::sync::CancellationToken;

use super::mlflow::{Tracking, Training, TrialLog};
use super::search::Search;
use super::{ml_error, read_columns};

/// `op: train`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Train {
    /// The task whose dataset holds the rows.
    pub input: String,
    /// The column to predict (classes or values); none for k-means and PCA.
    #[serde(default)]
    pub label: Option<String>,
    /// The feature columns (numbers, text categories, vectors); default: every column but the
    /// label and the split column.
    #[serde(default)]
    pub features: Option<Vec<String>>,
    /// The learner and its settings (`type: logistic | mlp | gbdt | kmeans | pca`).
    pub model: ModelSpec,
    /// How rows are split into training, validation and test rows.
    #[serde(default)]
    pub split: SplitSpec,
    /// The validation figure that ranks trials (default: accuracy for classes, rmse for
    /// values, inertia for k-means, explained variance for PCA).
    #[serde(default)]
    pub metric: Option<Metric>,
    /// Several configurations to try, the best kept.
    #[serde(default)]
    pub search: Option<Search>,
    /// Seed of every random choice.
    #[serde(default)]
    pub seed: u64,
    /// Threads (default: every core).
    #[serde(default)]
    pub threads: Option<usize>,
    /// Read a numeric label as classes (integers always are).
    #[serde(default)]
    pub classes: bool,
    /// Point an alias (`champion`) at the new model when it beats the alias's model.
    #[serde(default)]
    pub promote: Option<Promote>,
    /// The grid's carbon intensity and the power per core of the energy estimate.
    #[serde(default)]
    pub energy: EnergySettings,
    /// Where else each training is logged (`mlflow: URL`).
    #[serde(default)]
    pub tracking: Option<Tracking>,
    /// What the model card says of the model: `description`, `intended_use`,
    /// `limitations`, `owner`, `license`.
    #[serde(default)]
    pub card: Option<CardNotes>,
}

/// `promote:` of `train`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Promote {
    /// The alias moved (`champion`).
    #[serde(default = "champion")]
    pub alias: String,
    /// `better`: only when the new model's ranking figure beats the aliased model's (same
    /// metric on the same rows); `always`: every new model.
    #[serde(default, rename = "if")]
    pub when: When,
}

fn champion() -> String {
    "champion".into()
}

/// When `promote` moves its alias.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum When {
    /// When the new model is better.
    #[default]
    Better,
    /// Always.
    Always,
}

/// Reads `model:` again without its `type`, into that learner's own settings: serde's
/// tagged enum reads the mapping as a whole, so an error would name `model` and point at its
/// first line; this one names the key inside (`model.epochs`) and points at its value.
fn check_model(config: &sluice_core::Node) -> Result<(), sluice_core::DeError> {
    use sluice_core::from_node;
    use sluice_core::yaml::NodeKind;
    let key = |n: &sluice_core::Node, k: &str| n.as_text() == Some(k);
    let Some(model) = config
        .as_map()
        .and_then(|m| m.iter().find(|(k, _)| key(k, "model")))
        .map(|(_, v)| v)
    else {
        return Ok(());
    };
    let Some(entries) = model.as_map() else {
        return Ok(());
    };
    let kind = entries
        .iter()
        .find(|(k, _)| key(k, "type"))
        .and_then(|(_, v)| v.as_text());
    let rest = sluice_core::Node {
        kind: NodeKind::Map(
            entries
                .iter()
                .filter(|(k, _)| !key(k, "type"))
                .cloned()
                .collect(),
        ),
        mark: model.mark,
    };
    let checked = match kind {
        Some("logistic") => from_node::<sluice_ml::linear::LogisticParams>(&rest).map(drop),
        Some("mlp") => from_node::<sluice_ml::mlp::MlpParams>(&rest).map(drop),
        Some("gbdt") => from_node::<sluice_ml::gbdt::GbdtParams>(&rest).map(drop),
        Some("kmeans") => from_node::<sluice_ml::kmeans::KMeansParams>(&rest).map(drop),
        Some("pca") => from_node::<sluice_ml::pca::PcaParams>(&rest).map(drop),
        _ => Ok(()),
    };
    checked.map_err(|mut e| {
        e.path.insert(0, "model".into());
        e
    })
}

/// Builds a `train` op, checking its model's settings and its search configurations.
pub fn build_train(config: &sluice_core::Node) -> Result<Box<dyn Op>, sluice_core::DeError> {
    check_model(config)?;
    let op: Train = sluice_core::from_node(config)?;
    op.configurations()
        .map_err(<sluice_core::DeError as serde::de::Error>::custom)?;
    op.split
        .check()
        .map_err(|e| <sluice_core::DeError as serde::de::Error>::custom(e.to_string()))?;
    if let Some(t) = &op.tracking {
        t.check()
            .map_err(<sluice_core::DeError as serde::de::Error>::custom)?;
        if let Some(p) = &op.promote {
            t.check_alias(&p.alias)
                .map_err(<sluice_core::DeError as serde::de::Error>::custom)?;
        }
    }
    if op.model.supervised() && op.label.is_none() {
        return Err(<sluice_core::DeError as serde::de::Error>::custom(format!(
            "a {} model learns from a label: give `label`",
            op.model.kind()
        )));
    }
    Ok(Box::new(op))
}

/// Figures rows: trial, step (epoch; none for final figures), metric, value.
#[derive(Default)]
struct Figures {
    trial: Int32Builder,
    step: Int64Builder,
    metric: StringBuilder,
    value: Float64Builder,
}

impl Figures {
    fn push(&mut self, trial: usize, step: Option<usize>, metric: &str, value: f64) {
        self.trial.append_value(trial as i32);
        self.step.append_option(step.map(|s| s as i64));
        self.metric.append_value(metric);
        self.value.append_value(value);
    }

    fn write(mut self, target: &DatasetTarget) -> Result<sluice_data::DatasetInfo, OpError> {
        let schema = Arc::new(Schema::new(vec![
            Field::new("trial", DataType::Int32, false),
            Field::new("step", DataType::Int64, true),
            Field::new("metric", DataType::Utf8, false),
            Field::new("value", DataType::Float64, false),
        ]));
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.trial.finish()),
            Arc::new(self.step.finish()),
            Arc::new(self.metric.finish()),
            Arc::new(self.value.finish()),
        ];
        let batch = RecordBatch::try_new(schema.clone(), columns)
            .map_err(|e| OpError::internal(e.to_string()))?;
        let mut writer = DatasetWriter::new(target, schema);
        writer.write(&batch)?;
        Ok(writer.finish()?)
    }
}

/// What the blocking part needs besides the config.
struct Env {
    /// `pipeline.task`, and the run, for the model card.
    name: String,
    run_id: String,
    dir: PathBuf,
    raw_dir: PathBuf,
    aliases: std::collections::BTreeMap<String, sluice_op::Previous>,
    out: DatasetTarget,
    cancel: CancellationToken,
    progress: Option<ProgressFn>,
    log: TaskLog,
}

impl Train {
    fn configurations(&self) -> Result<Vec<ModelSpec>, String> {
        match &self.search {
            Some(s) => s.configurations(&self.model, self.seed),
            None => Ok(vec![self.model.clone()]),
        }
    }

    /// The feature columns: as given, or every column but the label and the split column.
    fn feature_names(&self, dir: &Path) -> Result<Vec<String>, OpError> {
        if let Some(f) = &self.features {
            return Ok(f.clone());
        }
        let schema = sluice_data::export::dataset_schema(dir)?;
        Ok(schema
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .filter(|n| Some(n) != self.label.as_ref() && Some(n) != self.split.column.as_ref())
            .collect())
    }

    /// The rows of the input as the learners read them: features, label, targets, split.
    fn prepare(&self, env: &Env) -> Result<Prepared, OpError> {
        let features = self.feature_names(&env.dir)?;
        let mut columns = features.clone();
        columns.extend(self.label.iter().cloned());
        columns.extend(self.split.column.iter().cloned());
        let batches = read_columns(&env.dir, &self.input, &columns)?;
        let schema = FeatureSchema::infer(&batches, &features).map_err(ml_error)?;
        let label = match (&self.label, self.model.supervised()) {
            (Some(l), true) => {
                let classes = self.classes || self.model.classifier_only();
                Some(LabelSchema::infer(&batches, l, classes).map_err(ml_error)?)
            }
            _ => None,
        };
        let frame = schema.frame(&batches).map_err(ml_error)?;
        let targets = match &label {
            Some(l) => Some(l.targets(&batches).map_err(ml_error)?),
            None => None,
        };
        let stratify = label.as_ref().and_then(|l| l.classes()).is_some();
        let split = self
            .split
            .split_batches(&batches, targets.as_deref().filter(|_| stratify))
            .map_err(ml_error)?;
        let targets = targets.as_deref();
        Ok(Prepared {
            schema,
            label,
            parts: [
                ("train", Part::take(&frame, targets, &split.train)),
                ("valid", Part::take(&frame, targets, &split.valid)),
                ("test", Part::take(&frame, targets, &split.test)),
            ],
        })
    }

    fn train(&self, env: Env) -> Result<(OpOutput, Trained), OpError> {
        let meter = EnergyMeter::start();
        let threads = self.threads.unwrap_or_else(sluice_ml::all_threads).max(1);
        let Prepared {
            schema,
            label,
            parts,
        } = self.prepare(&env)?;
        let regression = label.as_ref().is_some_and(|l| l.classes().is_none());
        let metric = self.metric.unwrap_or(self.model.default_metric(regression));
        let ranked_on = if parts[1].1.frame.rows == 0 {
            "train"
        } else {
            "valid"
        };
        let configs = self.configurations().map_err(OpError::config)?;
        let mut figures = Figures::default();
        let mut logs = Vec::new();
        let mut best: Option<(f64, usize, Model)> = None;
        let _ = env.log.line(&format!(
            "{} rows: {} train, {} valid, {} test; {} feature value(s) per row; {} trial(s), ranked by {ranked_on}.{}",
            parts.iter().map(|(_, p)| p.frame.rows).sum::<usize>(),
            parts[0].1.frame.rows,
            parts[1].1.frame.rows,
            parts[2].1.frame.rows,
            parts[0].1.frame.width(),
            configs.len(),
            metric.name()
        ));
        let checkpoints = Checkpoints::new(&env.raw_dir, self, &env.dir, threads);
        let key = format!("{ranked_on}.{}", metric.name());
        for (i, spec) in configs.iter().enumerate() {
            let trial = i + 1;
            let finished = match checkpoints.load(trial) {
                Some(f) => {
                    let _ = env.log.line(&format!(
                        "trial {trial}/{}: reused, finished before the interruption",
                        configs.len()
                    ));
                    f
                }
                None => {
                    let at = Trial {
                        trial,
                        of: configs.len(),
                        spec,
                        parts: &parts,
                        schema: &schema,
                        label: &label,
                        threads,
                    };
                    let f = self.trial(&at, &env)?;
                    checkpoints.save(&f, &env.log);
                    f
                }
            };
            for (step, name, value) in &finished.rows {
                figures.push(trial, *step, name, *value);
            }
            let score = finished
                .record
                .figures
                .iter()
                .find(|(n, _)| *n == key)
                .map_or(f64::NAN, |(_, v)| *v);
            let _ = env.log.line(&format!(
                "trial {trial}/{}: {} — {key} {score:.4} ({} epoch(s), {:.1} s)",
                configs.len(),
                serde_json::to_string(spec).unwrap_or_default(),
                finished.record.epochs,
                finished.record.figures.first().map_or(0.0, |f| f.1),
            ));
            if let Some(model) = finished.model
                && best
                    .as_ref()
                    .is_none_or(|(b, _, _)| metric.better(score, *b))
            {
                best = Some((score, trial, model));
            }
            logs.push(TrialLog {
                epochs: finished
                    .rows
                    .iter()
                    .filter_map(|(step, n, v)| Some(((*step)?, n.clone(), *v)))
                    .collect(),
                record: finished.record,
            });
        }
        let (value, best_trial, model) = best.ok_or_else(|| OpError::internal("no trial ran"))?;
        let model_dir = env.out.dir.join(MODEL_DIR);
        model.save(&model_dir).map_err(ml_error)?;
        let trials_path = model_dir.join(TRIALS_FILE);
        let records: Vec<&TrialRecord> = logs.iter().map(|l| &l.record).collect();
        let text =
            serde_json::to_string_pretty(&records).map_err(|e| OpError::internal(e.to_string()))?;
        std::fs::write(&trials_path, text).map_err(|e| OpError::io(trials_path.display(), &e))?;
        let evaluation = evaluate(&model, &parts, label.as_ref(), threads)?;
        let path = model_dir.join(EVALUATION_FILE);
        let text = serde_json::to_string_pretty(&evaluation)
            .map_err(|e| OpError::internal(e.to_string()))?;
        std::fs::write(&path, text).map_err(|e| OpError::io(path.display(), &e))?;
        let info = figures.write(&env.out)?;
        let state = TrainState {
            kind: self.model.kind().into(),
            metric: key,
            value,
            best_trial,
            trials: configs.len(),
            input: env
                .dir
                .file_name()
                .map(|n| format!("{}@{}", self.input, n.to_string_lossy())),
            energy: Some(meter.finish(&self.energy)),
            card: self.card.clone(),
            mlflow: None,
        };
        let out = OpOutput {
            dataset: Some(info.into()),
            ..self.outcome(&state, &env)
        };
        let extra = match &self.tracking {
            Some(_) => artifacts(&model, &state, &logs, &evaluation, &out.aliases, &env),
            None => Vec::new(),
        };
        let trained = Trained {
            checkpoints,
            state,
            trials: logs,
            params: self.common_params(&schema),
            extra,
        };
        Ok((out, trained))
    }

    /// The settings every trial shares, as MLflow parameters.
    fn common_params(&self, schema: &FeatureSchema) -> Vec<(String, String)> {
        let mut p = vec![
            ("seed".to_string(), self.seed.to_string()),
            (
                "features".to_string(),
                schema
                    .columns
                    .iter()
                    .map(|c| c.name.as_str())
                    .collect::<Vec<_>>()
                    .join(","),
            ),
            (
                "split".to_string(),
                serde_json::to_string(&self.split).unwrap_or_default(),
            ),
        ];
        if let Some(l) = &self.label {
            p.push(("label".to_string(), l.clone()));
        }
        p
    }

    /// What the attempt reports of a finished training: the log lines, counters, the state
    /// kept with the version and the aliases to move.
    fn outcome(&self, state: &TrainState, env: &Env) -> OpOutput {
        if let Some(e) = &state.energy {
            let _ = env.log.line(&format!(
                "{:.1} s, {:.1} CPU s, {:.6} kWh ({}), {:.3} g CO2 at {} g/kWh",
                e.seconds, e.cpu_seconds, e.kwh, e.method, e.co2_grams, e.grid_intensity
            ));
        }
        let aliases = self.promotion(state, env);
        let _ = env.log.line(&format!(
            "kept trial {}: {} {:.4}",
            state.best_trial, state.metric, state.value
        ));
        let mut metrics = sluice_op::counters(&[
            ("trials", state.trials as u64),
            ("best_trial", state.best_trial as u64),
        ]);
        metrics.insert(state.metric.clone(), serde_json::json!(state.value));
        if let Some(e) = &state.energy {
            metrics.insert("cpu_seconds".into(), serde_json::json!(e.cpu_seconds));
            metrics.insert("energy_kwh".into(), serde_json::json!(e.kwh));
            metrics.insert("co2_grams".into(), serde_json::json!(e.co2_grams));
        }
        if self.promote.is_some() {
            metrics.insert(
                "promoted".into(),
                serde_json::json!(u64::from(!aliases.is_empty())),
            );
        }
        OpOutput {
            metrics,
            state: serde_json::to_value(state).ok(),
            aliases,
            ..OpOutput::default()
        }
    }

    /// The alias to move to the new model, with why — or nothing, saying why in the log.
    fn promotion(&self, new: &TrainState, env: &Env) -> Vec<(String, String)> {
        let Some(promote) = &self.promote else {
            return Vec::new();
        };
        let alias = &promote.alias;
        let current = env.aliases.get(alias);
        let theirs = current
            .and_then(|p| p.state.clone())
            .and_then(|s| serde_json::from_value::<TrainState>(s).ok());
        let (version, theirs) = match (current, theirs) {
            (Some(p), Some(t)) => (p.version.clone(), t),
            _ => {
                return vec![(
                    alias.clone(),
                    format!("first {alias}: {} {:.4}", new.metric, new.value),
                )];
            }
        };
        if promote.when == When::Always {
            return vec![(
                alias.clone(),
                format!(
                    "promote: always ({} {:.4}, was {:.4})",
                    new.metric, new.value, theirs.value
                ),
            )];
        }
        let metric = self
            .metric
            .unwrap_or_else(|| self.model.default_metric(false));
        let comparable = theirs.metric == new.metric;
        let better = comparable
            && metric_of(&new.metric)
                .unwrap_or(metric)
                .better(new.value, theirs.value);
        if better {
            vec![(
                alias.clone(),
                format!(
                    "{} {:.4} beats {:.4} of version {version}",
                    new.metric, new.value, theirs.value
                ),
            )]
        } else {
            let why = if comparable {
                format!(
                    "{} {:.4} does not beat {:.4}",
                    new.metric, new.value, theirs.value
                )
            } else {
                format!(
                    "it was ranked by {}, this model by {}: not comparable (use `if: always` to move it)",
                    theirs.metric, new.metric
                )
            };
            let _ = env
                .log
                .line(&format!("{alias} stays version {version}: {why}"));
            Vec::new()
        }
    }
}

/// The files logged beside the model's own: its card (`README.md`) and, when the model has
/// one, its ONNX copy.
fn artifacts(
    model: &Model,
    state: &TrainState,
    logs: &[TrialLog],
    evaluation: &Evaluation,
    moved: &[(String, String)],
    env: &Env,
) -> Vec<(String, Vec<u8>)> {
    let trials: Vec<TrialRecord> = logs.iter().map(|l| l.record.clone()).collect();
    let aliases: Vec<String> = moved.iter().map(|(a, _)| a.clone()).collect();
    let created = chrono::Utc::now().format("%Y-%m-%d %H:%M UTC").to_string();
    let card = sluice_ml::card::Card {
        name: &env.name,
        version: &env.out.version,
        created: &created,
        run_id: &env.run_id,
        aliases: &aliases,
        state,
        model,
        trials: &trials,
        evaluation: Some(evaluation),
    };
    let mut out = vec![("README.md".to_string(), card.markdown().into_bytes())];
    match model.to_onnx() {
        Ok(bytes) => out.push(("model.onnx".to_string(), bytes)),
        Err(e) => {
            let _ = env
                .log
                .line(&format!("no ONNX copy of the model for MLflow: {e}"));
        }
    }
    out
}

/// The rows of each part and, for a classifier, the kept model's confusion matrices on the
/// validation and test rows.
fn evaluate(
    model: &Model,
    parts: &[(&'static str, Part); 3],
    label: Option<&LabelSchema>,
    threads: usize,
) -> Result<Evaluation, OpError> {
    let mut e = Evaluation {
        classes: label
            .and_then(|l| l.classes())
            .map(<[String]>::to_vec)
            .unwrap_or_default(),
        ..Evaluation::default()
    };
    for (name, part) in parts {
        e.rows.insert(name.to_string(), part.frame.rows);
        if *name != "train"
            && let Some(c) = model
                .confusion(&part.frame, part.targets.as_deref(), threads)
                .map_err(ml_error)?
        {
            e.confusion.insert(name.to_string(), c);
        }
    }
    Ok(e)
}

/// The metric of a ranking key (`valid.accuracy`).
fn metric_of(key: &str) -> Option<Metric> {
    let name = key.rsplit('.').next()?;
    serde_json::from_value(serde_json::Value::String(name.into())).ok()
}

/// The input, read and split into its training, validation and test parts (taken once for
/// every trial).
struct Prepared {
    schema: FeatureSchema,
    label: Option<LabelSchema>,
    parts: [(&'static str, Part); 3],
}

/// What a finished training hands to the logging that follows it: its checkpoints (removed
/// once everything is logged, so that a failed logging does not cost the training), the state
/// kept with the version, its trials, shared settings, and the files logged beside the model.
struct Trained {
    checkpoints: Checkpoints,
    state: TrainState,
    trials: Vec<TrialLog>,
    params: Vec<(String, String)>,
    extra: Vec<(String, Vec<u8>)>,
}

/// One trial to run: its configuration and the rows.
struct Trial<'a> {
    trial: usize,
    of: usize,
    spec: &'a ModelSpec,
    parts: &'a [(&'static str, Part); 3],
    schema: &'a FeatureSchema,
    label: &'a Option<LabelSchema>,
    threads: usize,
}

/// A finished trial: its model, its record (settings, final figures) and its figure rows
/// (each epoch's, then the final ones).
#[derive(Serialize, Deserialize)]
struct Finished {
    #[serde(skip)]
    model: Option<Model>,
    record: TrialRecord,
    rows: Vec<(Option<usize>, String, f64)>,
}

impl Train {
    /// Fits one configuration and scores it on each part of the split.
    fn trial(&self, t: &Trial, env: &Env) -> Result<Finished, OpError> {
        let started = Instant::now();
        let mut rows = Vec::new();
        let mut epochs = 0;
        let total = t.of as u64 * 1000;
        let max = max_epochs(t.spec).max(1) as u64;
        let mut hook = |e: &Epoch| {
            epochs = e.epoch;
            for (name, value) in &e.metrics {
                rows.push((Some(e.epoch), name.clone(), *value));
            }
            if let Some(p) = &env.progress {
                let done = (t.trial as u64 - 1) * 1000 + (e.epoch as u64).min(max) * 1000 / max;
                p(done, total);
            }
            !env.cancel.is_cancelled()
        };
        let mut run = Run {
            threads: t.threads,
            seed: self.seed,
            on_epoch: &mut hook,
        };
        let model = Model::fit(
            t.spec,
            t.schema.clone(),
            t.label.clone(),
            &t.parts[0].1,
            &t.parts[1].1,
            &mut run,
        )
        .map_err(ml_error)?;
        let mut finals = vec![("fit_seconds".to_string(), started.elapsed().as_secs_f64())];
        for (part, data) in t.parts {
            let scores = model.score(&data.frame, data.targets.as_deref(), t.threads);
            for (m, v) in scores.map_err(ml_error)? {
                finals.push((format!("{part}.{}", m.name()), v));
            }
        }
        rows.extend(finals.iter().map(|(n, v)| (None, n.clone(), *v)));
        Ok(Finished {
            model: Some(model),
            record: TrialRecord {
                trial: t.trial,
                model: t.spec.clone(),
                figures: finals,
                epochs,
            },
            rows,
        })
    }
}

/// Finished trials of a training that has not completed, kept in the task's raw folder
/// (`raw/trials/<key>/trial-N/`) under a key of the configuration, the input version and the
/// threads, so that a killed or failed training resumes from its last finished trial; removed
/// once the version is written.
struct Checkpoints {
    dir: PathBuf,
}

impl Checkpoints {
    fn new(raw_dir: &Path, op: &Train, input: &Path, threads: usize) -> Checkpoints {
        use sha2::Digest;
        let mut h = sha2::Sha256::new();
        // Where the training is logged and which alias it moves change no trial.
        let trials = Train {
            tracking: None,
            promote: None,
            card: None,
            ..op.clone()
        };
        h.update(serde_json::to_string(&trials).unwrap_or_default());
        h.update(input.display().to_string());
        h.update(threads.to_le_bytes());
        let key = hex::encode(&h.finalize()[..8]);
        Checkpoints {
            dir: raw_dir.join("trials").join(key),
        }
    }

    fn load(&self, trial: usize) -> Option<Finished> {
        let dir = self.dir.join(format!("trial-{trial}"));
        let text = std::fs::read_to_string(dir.join("trial.json")).ok()?;
        let mut f: Finished = serde_json::from_str(&text).ok()?;
        f.model = Some(Model::load(&dir.join(MODEL_DIR)).ok()?);
        Some(f)
    }

    /// Saves a finished trial (written aside, then renamed: a half-written one is never
    /// read). A checkpoint that cannot be written only costs the trial on a resume.
    fn save(&self, f: &Finished, log: &TaskLog) {
        let dir = self.dir.join(format!("trial-{}", f.record.trial));
        let tmp = self.dir.join(format!(".trial-{}.tmp", f.record.trial));
        let write = || -> std::io::Result<()> {
            let _ = std::fs::remove_dir_all(&tmp);
            std::fs::create_dir_all(&tmp)?;
            if let Some(m) = &f.model {
                m.save(&tmp.join(MODEL_DIR))
                    .map_err(std::io::Error::other)?;
            }
            std::fs::write(
                tmp.join("trial.json"),
                serde_json::to_string(f).map_err(std::io::Error::other)?,
            )?;
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::rename(&tmp, &dir)
        };
        if let Err(e) = write() {
            let _ = log.line(&format!(
                "cannot keep trial {} for a resume: {e}",
                f.record.trial
            ));
        }
    }

    fn clear(&self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Epochs (or rounds, or passes) a configuration runs at most, for the progress bar.
fn max_epochs(spec: &ModelSpec) -> usize {
    match spec {
        ModelSpec::Logistic(p) => p.max_iter.min(100),
        ModelSpec::Mlp(p) => p.epochs,
        ModelSpec::Gbdt(p) => p.max_iter,
        ModelSpec::Kmeans(p) => p.max_iter.min(20),
        ModelSpec::Pca(_) => 1,
    }
}

#[async_trait]
impl Op for Train {
    async fn run(&self, ctx: &TaskContext) -> Result<OpOutput, OpError> {
        let started_ms = chrono::Utc::now().timestamp_millis();
        let out_dir = ctx.output()?.dir.clone();
        let version = ctx.output()?.version.clone();
        let env = Env {
            name: format!("{}.{}", ctx.pipeline, ctx.task),
            run_id: ctx.run_id.clone(),
            dir: ctx.input(&self.input)?.to_path_buf(),
            raw_dir: ctx.raw_dir.clone(),
            aliases: ctx.aliases.clone(),
            out: ctx.output()?.clone(),
            cancel: ctx.cancel.clone(),
            progress: ctx.progress.clone(),
            log: ctx.log.clone(),
        };
        let op = self.clone();
        let (mut out, trained) = blocking(move || op.train(env)).await?;
        let Trained {
            checkpoints,
            state,
            trials,
            params,
            extra,
        } = trained;
        // The kept trial for catalogs: its settings and its figures.
        if let Some(best) = trials.iter().find(|l| l.record.trial == state.best_trial) {
            let mut all = params.clone();
            all.extend(super::mlflow::params_of(&best.record.model));
            out.lineage.model = Some(sluice_op::lineage::Model {
                kind: state.kind.clone(),
                params: all,
                metrics: best.record.figures.clone().into_iter().collect(),
            });
        }
        if let Some(tracking) = &self.tracking {
            let alias = out.aliases.first().map(|(a, _)| a.as_str());
            let training = Training {
                pipeline: &ctx.pipeline,
                task: &ctx.task,
                run_id: &ctx.run_id,
                version: &version,
                state: &state,
                trials: &trials,
                params,
                model_dir: &out_dir.join(MODEL_DIR),
                extra,
                alias,
                input_schema: sluice_data::export::dataset_schema(ctx.input(&self.input)?)
                    .map(|s| {
                        s.fields()
                            .iter()
                            .map(|f| (f.name().clone(), super::mlflow::mlflow_type(f.data_type())))
                            .collect()
                    })
                    .unwrap_or_default(),
                started_ms,
                ended_ms: chrono::Utc::now().timestamp_millis(),
            };
            let logged = tokio::select! {
                r = super::mlflow::log(tracking, &training, &ctx.log) => r,
                _ = ctx.cancel.cancelled() => Err(OpError::cancelled(
                    "stopped while logging to MLflow (the run there stays open)",
                )),
            };
            let record = logged.map_err(|e| {
                e.context(
                    "logging the training to MLflow (its trials are kept: a retry logs them \
                     again, in a new MLflow run, without training again)",
                )
            })?;
            let state = TrainState {
                mlflow: Some(record),
                ..state
            };
            out.state = serde_json::to_value(&state).ok();
        }
        // A timeout or a stop that came meanwhile fails the attempt: its trials stay for the
        // next one.
        if !ctx.cancel.is_cancelled() {
            checkpoints.clear();
        }
        Ok(out)
    }

    fn reads(&self) -> Vec<String> {
        vec![self.input.clone()]
    }

    fn produces_dataset(&self) -> bool {
        true
    }
}
