//! Machine learning for sluice: learners on Arrow data — multinomial logistic regression, a
//! multi-layer perceptron, histogram gradient-boosted trees, mini-batch k-means and PCA — with
//! their metrics, data splits and model artifacts (a folder: `model.json` + safetensors).
//!
//! Every learner is deterministic for a seed and a thread count, uses the threads it is given,
//! and can be stopped between epochs. Inputs are Arrow record batches, turned into a [`Frame`]
//! (numeric, vector and categorical columns) by [`features`]; a model keeps its own
//! preprocessing (categories, standardisation), so predicting needs only the model and the new
//! rows.
//!
//! Knows nothing of pipelines, the warehouse or the state store: the `train` and `predict` ops
//! (`sluice-ops`) and the server use it. Depends on no sluice crate but `sluice-kernels`.

pub mod card;
pub mod features;
pub mod gbdt;
pub mod kmeans;
pub mod linear;
pub mod metrics;
pub mod mlp;
pub mod model;
mod onnx;
pub mod pca;
pub mod split;
pub mod tracking;

mod frame;
mod rng;

pub(crate) use frame::par_chunks;
pub use frame::{Frame, Matrix};
pub use model::{Fitted, Model, ModelSpec, Prediction};

/// What went wrong while preparing data, fitting or using a model. Messages name the column,
/// the row or the setting and say what to do.
#[derive(Debug, thiserror::Error)]
pub enum MlError {
    /// The data cannot be used as given (a missing column, a wrong type or dimension, no rows,
    /// one class only): fix the data or the settings.
    #[error("{0}")]
    Data(String),
    /// A setting is out of range or unknown: fix the model's configuration.
    #[error("{0}")]
    Config(String),
    /// Stopped on request between two epochs.
    #[error("training cancelled")]
    Cancelled,
    /// Reading or writing a model artifact failed.
    #[error("{path}: {message}")]
    Artifact {
        /// The file.
        path: std::path::PathBuf,
        /// What failed.
        message: String,
    },
}

/// A result of this crate.
pub type Result<T, E = MlError> = std::result::Result<T, E>;

/// One epoch (or boosting round) of a learner, reported while it trains: the figures go to the
/// metrics dataset and the tracking store; the answer says whether to go on.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Epoch {
    /// 1-based epoch (or boosting round) number.
    pub epoch: usize,
    /// Figures of this epoch by name (`loss`, `accuracy`, `val_loss`, `val_accuracy`, …).
    pub metrics: Vec<(String, f64)>,
}

/// How a learner runs: threads, seed, and the hook called after every epoch.
pub struct Run<'a> {
    /// Threads to use (at least 1).
    pub threads: usize,
    /// Seed of every random choice (initialisation, shuffling, dropout, sampling).
    pub seed: u64,
    /// Called after each epoch; `false` stops training (the learner returns
    /// [`MlError::Cancelled`]).
    pub on_epoch: &'a mut dyn FnMut(&Epoch) -> bool,
}

impl Run<'_> {
    /// Reports an epoch; `Err(Cancelled)` when the hook asks to stop.
    pub fn report(&mut self, epoch: Epoch) -> Result<()> {
        if (self.on_epoch)(&epoch) {
            Ok(())
        } else {
            Err(MlError::Cancelled)
        }
    }
}

/// The number of CPUs, for callers that want every core.
pub fn all_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// The element-wise kernels for this CPU, detected once.
pub(crate) fn kernels() -> &'static sluice_kernels::Kernels {
    static KERNELS: std::sync::OnceLock<sluice_kernels::Kernels> = std::sync::OnceLock::new();
    KERNELS.get_or_init(|| sluice_kernels::Kernels::detect(None))
}
