//! What a training leaves beside its model: the figures of every trial and the kept trial
//! with its ranking figure (the state of a `train` task's dataset version, which tools read
//! back to list, compare, promote and serve models).

use serde::{Deserialize, Serialize};

use crate::ModelSpec;

/// The folder of the model artifact inside a `train` task's dataset version.
pub const MODEL_DIR: &str = "model";

/// The file of every trial's settings and figures, beside the artifact.
pub const TRIALS_FILE: &str = "trials.json";

/// The kept model's rows per part and confusion matrices, beside the artifact.
pub const EVALUATION_FILE: &str = "evaluation.json";

/// The rows of each part of the split and, for a classifier, its confusion matrices on the
/// rows it did not learn from.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    /// Rows by part (`train`, `valid`, `test`).
    #[serde(default)]
    pub rows: std::collections::BTreeMap<String, usize>,
    /// The classes, in the order of the matrices' rows and columns.
    #[serde(default)]
    pub classes: Vec<String>,
    /// `confusion[true][predicted]` counts, by part (`valid`, `test`).
    #[serde(default)]
    pub confusion: std::collections::BTreeMap<String, Vec<Vec<u64>>>,
}

/// What people say of a model, for its card (`card:` of `train`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CardNotes {
    /// What the model does, in a sentence or two.
    pub description: Option<String>,
    /// What it is for, and for whom.
    pub intended_use: Option<String>,
    /// Where it should not be trusted.
    pub limitations: Option<String>,
    /// Who answers for it.
    pub owner: Option<String>,
    /// Its licence.
    pub license: Option<String>,
}

/// One trial's settings and figures, as kept in `trials.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrialRecord {
    /// 1-based.
    pub trial: usize,
    /// The configuration.
    pub model: ModelSpec,
    /// Final figures: `train.accuracy`, `valid.accuracy`, …, `fit_seconds`.
    pub figures: Vec<(String, f64)>,
    /// Epochs run.
    pub epochs: usize,
}

/// What a run of the op leaves in its version: the best trial and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainState {
    /// The learner.
    pub kind: String,
    /// The metric trials were ranked by and on which rows (`valid.accuracy`).
    pub metric: String,
    /// Its value for the kept model.
    pub value: f64,
    /// The kept trial (1-based).
    pub best_trial: usize,
    /// Trials run.
    pub trials: usize,
    /// The input it was trained on: `task@version folder`.
    #[serde(default)]
    pub input: Option<String>,
    /// Time, CPU time, energy and CO2 of the whole training (every trial).
    #[serde(default)]
    pub energy: Option<Energy>,
    /// What the pipeline says of the model (`card:`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub card: Option<CardNotes>,
    /// Where the training was logged in MLflow (`tracking: {mlflow: URL}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mlflow: Option<MlflowRecord>,
}

/// A training as logged in an MLflow tracking server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MlflowRecord {
    /// The server, without credentials.
    pub server: String,
    /// The experiment's id.
    pub experiment_id: String,
    /// The training's (parent) run.
    pub run_id: String,
    /// The registered model.
    pub registered_model: String,
    /// The version of it this training added.
    pub model_version: String,
}

/// The trials kept in a model folder's `trials.json` (none when it is missing or unreadable).
pub fn read_trials(model_dir: &std::path::Path) -> Vec<TrialRecord> {
    std::fs::read_to_string(model_dir.join(TRIALS_FILE))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default()
}

/// The evaluation kept in a model folder (versions trained before it was kept have none).
pub fn read_evaluation(model_dir: &std::path::Path) -> Option<Evaluation> {
    let text = std::fs::read_to_string(model_dir.join(EVALUATION_FILE)).ok()?;
    serde_json::from_str(&text).ok()
}

impl TrainState {
    /// The state a dataset version keeps (its JSON text), when that version is a model's.
    pub fn of_version(state: Option<&str>) -> Option<TrainState> {
        serde_json::from_str(state?).ok()
    }
}

/// Energy and emissions of a training (codecarbon's method): the CPU package's energy
/// counters (RAPL, `/sys/class/powercap/intel-rapl:*`) when readable, otherwise the process's
/// CPU time × a power per busy core; CO2 = energy × the grid's carbon intensity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Energy {
    /// Wall time.
    pub seconds: f64,
    /// CPU time of the process (user + system) over that time; other work of the same
    /// process counts too.
    pub cpu_seconds: f64,
    /// Energy used, in kWh.
    pub kwh: f64,
    /// CO2 emitted, in grams.
    pub co2_grams: f64,
    /// `rapl` (measured) or `estimate` (CPU time × `watts_per_core`).
    pub method: String,
    /// The grid's carbon intensity used, g CO2 / kWh.
    pub grid_intensity: f64,
}

/// Settings of the energy estimate (`energy:` of `train`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EnergySettings {
    /// g CO2 per kWh of the grid (475: the world average codecarbon uses; France ≈ 56).
    pub grid_intensity: f64,
    /// Watts per busy core when no energy counter is readable.
    pub watts_per_core: f64,
}

impl Default for EnergySettings {
    fn default() -> Self {
        EnergySettings {
            grid_intensity: 475.0,
            watts_per_core: 10.0,
        }
    }
}

/// Measures a training's energy from its start to [`EnergyMeter::finish`].
pub struct EnergyMeter {
    started: std::time::Instant,
    cpu: Option<f64>,
    rapl: Vec<(std::path::PathBuf, u64, u64)>,
}

/// CPU seconds (user + system) of this process, from `/proc/self/stat` (clock ticks of
/// 1/100 s, Linux's USER_HZ).
fn process_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which may hold spaces) start at state (field 3).
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

/// The package energy counters readable here: (file, value in µJ, wrap-around range).
fn rapl_counters() -> Vec<(std::path::PathBuf, u64, u64)> {
    let Ok(dir) = std::fs::read_dir("/sys/class/powercap") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for entry in dir.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        // Packages only (intel-rapl:0), not their sub-domains (intel-rapl:0:0).
        if !name.starts_with("intel-rapl:") || name.matches(':').count() != 1 {
            continue;
        }
        let read = |f: &str| -> Option<u64> {
            std::fs::read_to_string(entry.path().join(f))
                .ok()?
                .trim()
                .parse()
                .ok()
        };
        if let (Some(v), Some(range)) = (read("energy_uj"), read("max_energy_range_uj")) {
            out.push((entry.path().join("energy_uj"), v, range));
        }
    }
    out
}

impl EnergyMeter {
    /// Starts measuring.
    pub fn start() -> EnergyMeter {
        EnergyMeter {
            started: std::time::Instant::now(),
            cpu: process_cpu_seconds(),
            rapl: rapl_counters(),
        }
    }

    /// The energy since [`EnergyMeter::start`].
    pub fn finish(&self, settings: &EnergySettings) -> Energy {
        let seconds = self.started.elapsed().as_secs_f64();
        let cpu_seconds = match (self.cpu, process_cpu_seconds()) {
            (Some(a), Some(b)) => (b - a).max(0.0),
            _ => seconds,
        };
        let mut joules = 0.0;
        let mut measured = !self.rapl.is_empty();
        for (path, before, range) in &self.rapl {
            let now = std::fs::read_to_string(path)
                .ok()
                .and_then(|t| t.trim().parse::<u64>().ok());
            match now {
                Some(now) if now >= *before => joules += (now - before) as f64 / 1e6,
                Some(now) => joules += (range - before + now) as f64 / 1e6,
                None => measured = false,
            }
        }
        let (kwh, method) = if measured {
            (joules / 3.6e6, "rapl")
        } else {
            (cpu_seconds * settings.watts_per_core / 3.6e6, "estimate")
        };
        Energy {
            seconds,
            cpu_seconds,
            kwh,
            co2_grams: kwh * settings.grid_intensity,
            method: method.into(),
            grid_intensity: settings.grid_intensity,
        }
    }
}
