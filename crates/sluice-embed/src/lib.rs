//! Sentence embeddings for sluice: sentence-transformers models (BERT and XLM-RoBERTa
//! families) run on the CPU by an encoder of our own, and a client for OpenAI-compatible
//! `/v1/embeddings` endpoints. Knows nothing of pipelines.

mod cache;
mod clip;
mod config;
mod encoder;
mod local;
mod remote;

use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use cache::{VectorCache, cache_folder_name, text_key};
pub use clip::{ClipModel, Preprocess, is_clip};
pub use config::{Family, ModelConfig, Pooling, resolve_model};
pub use local::{LocalModel, LocalOptions};
pub use remote::{RemoteModel, RemoteOptions};
pub use sluice_kernels::Precision;

/// A model that turns texts into vectors: on this machine, or behind an HTTP endpoint.
#[derive(Clone, Debug)]
pub enum Embedder {
    /// Run on the CPU.
    Local(Arc<LocalModel>),
    /// An OpenAI-compatible endpoint.
    Remote(Arc<RemoteModel>),
    /// CLIP on the CPU: texts through its text tower, images through its vision tower.
    Clip(Arc<ClipModel>),
}

impl Embedder {
    /// What caches key on: changes whenever the vectors could.
    pub fn identity(&self) -> String {
        match self {
            Embedder::Local(m) => m.identity().to_string(),
            Embedder::Remote(m) => m.identity(),
            Embedder::Clip(m) => format!("clip:{}", m.identity()),
        }
    }

    /// The number type of a local model's products (`f32`, `bf16`, `int8`; CLIP's are f32);
    /// none for a remote model.
    pub fn precision(&self) -> Option<&'static str> {
        match self {
            Embedder::Local(m) => Some(m.precision()),
            Embedder::Remote(_) => None,
            Embedder::Clip(_) => Some("f32"),
        }
    }

    /// The vector length, when known before the first request.
    pub fn dimension(&self) -> Option<usize> {
        match self {
            Embedder::Local(m) => Some(m.dimension()),
            Embedder::Remote(m) => m.dimension(),
            Embedder::Clip(m) => Some(m.dimension()),
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
            Embedder::Clip(m) => {
                let m = m.clone();
                tokio::task::spawn_blocking(move || {
                    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
                    m.embed_texts_until(&refs, &*progress, &stop)
                })
                .await
                .map_err(|e| EmbedError::Input(format!("the embedding thread failed: {e}")))?
            }
        }
    }

    /// Embeds encoded images (PNG, JPEG) with an image model (CLIP): as [`Embedder::embed`].
    pub async fn embed_images(
        &self,
        images: Arc<Vec<Vec<u8>>>,
        progress: Arc<dyn Fn(usize) + Send + Sync>,
        stop: Arc<std::sync::atomic::AtomicBool>,
    ) -> Result<Vec<f32>, EmbedError> {
        match self {
            Embedder::Clip(m) => {
                let m = m.clone();
                tokio::task::spawn_blocking(move || m.embed_encoded(&images, &*progress, &stop))
                    .await
                    .map_err(|e| EmbedError::Input(format!("the embedding thread failed: {e}")))?
            }
            _ => Err(EmbedError::Input(
                "images are embedded by an image model (a CLIP folder); this one reads texts"
                    .into(),
            )),
        }
    }

    /// Opens the model `spec` names: loads a local one (on a blocking thread) or sets up the
    /// endpoint's client.
    pub async fn open(spec: &ModelSpec) -> Result<Embedder, EmbedError> {
        match &spec.endpoint {
            Some(url) => {
                let api_key = match &spec.api_key_env {
                    Some(var) => Some(std::env::var(var).map_err(|_| {
                        EmbedError::Input(format!("the environment variable {var} is not set"))
                    })?),
                    None => None,
                };
                let options = RemoteOptions {
                    api_key,
                    batch_size: spec.batch_size,
                    ..RemoteOptions::new(url, &spec.model)
                };
                Ok(Embedder::Remote(Arc::new(RemoteModel::new(options)?)))
            }
            None => {
                let dir = resolve_model(&spec.model)?;
                let options = LocalOptions {
                    threads: spec.threads,
                    batch_size: spec.batch_size,
                    kernels: spec.kernels.clone(),
                    precision: spec.precision.clone(),
                };
                tokio::task::spawn_blocking(move || Embedder::load_local(&dir, &options))
                    .await
                    .map_err(|e| EmbedError::Input(format!("the loading thread failed: {e}")))?
            }
        }
    }

    /// Loads the model folder `dir`: CLIP when its config says so, else a sentence-transformers
    /// model.
    pub fn load_local(
        dir: &std::path::Path,
        options: &LocalOptions,
    ) -> Result<Embedder, EmbedError> {
        if is_clip(dir) {
            Ok(Embedder::Clip(Arc::new(ClipModel::load(
                dir,
                options.threads,
            )?)))
        } else {
            Ok(Embedder::Local(Arc::new(LocalModel::load(dir, options)?)))
        }
    }

    /// Embeds one text: its vector.
    pub async fn embed_one(&self, text: &str) -> Result<Vec<f32>, EmbedError> {
        self.embed(
            Arc::new(vec![text.to_string()]),
            Arc::new(|_| {}),
            Arc::new(std::sync::atomic::AtomicBool::new(false)),
        )
        .await
    }
}

/// Which model embeds, and how: what [`Embedder::open`] takes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ModelSpec {
    /// A model folder or name ([`resolve_model`]); with `endpoint`, the name sent to it.
    pub model: String,
    /// An OpenAI-compatible endpoint.
    pub endpoint: Option<String>,
    /// The environment variable holding the endpoint's API key.
    pub api_key_env: Option<String>,
    /// Local worker threads (default: every core).
    pub threads: Option<usize>,
    /// Texts per batch or request.
    pub batch_size: usize,
    /// A forced kernel level of a local model (`baseline`, `avx2`).
    pub kernels: Option<String>,
    /// The precision of a local model's products (`auto`, `f32`, `bf16`, `int8`; none: auto).
    pub precision: Option<String>,
}

impl ModelSpec {
    /// A local model or name with the default settings.
    pub fn new(model: impl Into<String>) -> ModelSpec {
        ModelSpec {
            model: model.into(),
            endpoint: None,
            api_key_env: None,
            threads: None,
            batch_size: 32,
            kernels: None,
            precision: None,
        }
    }
}

/// Models opened once and kept, by spec: what a server holds so that each request does not
/// load its model again.
#[derive(Debug, Default)]
pub struct Models {
    open: tokio::sync::Mutex<std::collections::HashMap<ModelSpec, Embedder>>,
}

impl Models {
    /// The model `spec` names, opened on first use. A local model's precision is keyed as
    /// it runs on this CPU: `auto` (or none) and the precision it picks are one open model.
    pub async fn get(&self, spec: &ModelSpec) -> Result<Embedder, EmbedError> {
        let mut key = spec.clone();
        if key.endpoint.is_none()
            && let Ok(p) = Precision::choose(key.precision.as_deref())
        {
            key.precision = Some(p.name().to_string());
        }
        let mut open = self.open.lock().await;
        if let Some(e) = open.get(&key) {
            return Ok(e.clone());
        }
        let e = Embedder::open(&key).await?;
        open.insert(key, e.clone());
        Ok(e)
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
        /// Whether the endpoint may answer later (429, 5xx or no answer until the retries ran
        /// out), rather than refusing the request (401, 404, an unusable answer).
        transient: bool,
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
