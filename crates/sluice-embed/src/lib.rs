//! Sentence embeddings for sluice: sentence-transformers models (BERT and XLM-RoBERTa
//! families) run on the CPU by an encoder of our own, and a client for OpenAI-compatible
//! `/v1/embeddings` endpoints. Knows nothing of pipelines.

mod cache;
mod config;
mod encoder;
mod kernels;
mod local;
mod remote;

use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use cache::{VectorCache, cache_folder_name, text_key};
pub use config::{Family, ModelConfig, Pooling, resolve_model};
pub use local::{LocalModel, LocalOptions};
pub use remote::{RemoteModel, RemoteOptions};

/// A model that turns texts into vectors: on this machine, or behind an HTTP endpoint.
#[derive(Clone, Debug)]
pub enum Embedder {
    /// Run on the CPU.
    Local(Arc<LocalModel>),
    /// An OpenAI-compatible endpoint.
    Remote(Arc<RemoteModel>),
}

impl Embedder {
    /// What caches key on: changes whenever the vectors could.
    pub fn identity(&self) -> String {
        match self {
            Embedder::Local(m) => m.identity().to_string(),
            Embedder::Remote(m) => m.identity(),
        }
    }

    /// The vector length, when known before the first request.
    pub fn dimension(&self) -> Option<usize> {
        match self {
            Embedder::Local(m) => Some(m.dimension()),
            Embedder::Remote(m) => m.dimension(),
        }
    }

    /// Embeds `texts` (`texts.len() × dimension` values, in order), calling `progress(done)`
    /// as batches complete, and stopping with [`EmbedError::Cancelled`] before the next batch
    /// once `stop` is set. Local models run on blocking threads.
    pub async fn embed(
        &self,
        texts: Arc<Vec<String>>,
        progress: Arc<dyn Fn(usize) + Send + Sync>,
        stop: Arc<std::sync::atomic::AtomicBool>,
    ) -> Result<Vec<f32>, EmbedError> {
        match self {
            Embedder::Local(m) => {
                let m = m.clone();
                tokio::task::spawn_blocking(move || {
                    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
                    m.embed_until(&refs, &*progress, &stop)
                })
                .await
                .map_err(|e| EmbedError::Input(format!("the embedding thread failed: {e}")))?
            }
            Embedder::Remote(m) => m.embed(&texts, &*progress, &stop).await,
        }
    }
}

/// What can go wrong while finding, loading or running a model.
#[derive(Debug, thiserror::Error)]
pub enum EmbedError {
    /// No model folder was found.
    #[error(
        "model `{spec}` not found; looked in:\n  {}\nGive a folder path, put the model under \
         SLUICE_MODELS (default .models), or download it into the Hugging Face cache \
         (`huggingface-cli download {spec}`); scripts/model.sh installs all-MiniLM-L6-v2",
        tried.join("\n  ")
    )]
    ModelNotFound {
        /// What the user asked for.
        spec: String,
        /// Every path looked at.
        tried: Vec<String>,
    },
    /// A model file is unreadable, malformed or describes something unsupported.
    #[error("{}: {message}", path.display())]
    Model {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// A text could not be embedded.
    #[error("{0}")]
    Input(String),
    /// An embedding endpoint failed or answered something unusable.
    #[error("embedding endpoint {url}: {message}")]
    Remote {
        /// The URL requested.
        url: String,
        /// What went wrong, with the last status.
        message: String,
    },
    /// The work was stopped (Ctrl-C, a task's timeout).
    #[error("cancelled")]
    Cancelled,
    /// The vector cache could not be read or written.
    #[error("embedding cache: {0}")]
    Cache(String),
}

impl EmbedError {
    pub(crate) fn io(path: &Path, e: std::io::Error) -> EmbedError {
        EmbedError::Model {
            path: path.to_path_buf(),
            message: e.to_string(),
        }
    }
}
