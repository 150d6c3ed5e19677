//! What a training leaves beside its model: the figures of every trial and the kept trial
//! with its ranking figure (the state of a `train` task's dataset version, which tools read
//! back to list, compare, promote and serve models).

use serde::{Deserialize, Serialize};

use crate::ModelSpec;

/// The folder of the model artifact inside a `train` task's dataset version.
pub const MODEL_DIR: &str = "model";

/// The file of every trial's settings and figures, beside the artifact.
pub const TRIALS_FILE: &str = "trials.json";

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
    /// The dataset version folder of the input it was trained on.
    #[serde(default)]
    pub input: Option<String>,
}
