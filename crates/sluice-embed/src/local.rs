//! A sentence-transformers model run on this machine's CPU cores.

use std::hash::Hasher;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use tokenizers::{Tokenizer, TruncationParams};
use twox_hash::XxHash64;

use crate::EmbedError;
use crate::config::ModelConfig;
use crate::encoder::{Encoder, Workspace};
use sluice_kernels::Precision;

/// How a local model runs.
#[derive(Clone, Debug)]
pub struct LocalOptions {
    /// Worker threads (default: every core).
    pub threads: Option<usize>,
    /// Texts per batch (default 32). Texts are sorted by length first, so a batch holds texts
    /// of similar lengths; batches carry no padding at all.
    pub batch_size: usize,
    /// Force a lower CPU level for the element-wise kernels (`baseline` or `avx2`), to
    /// compare levels; default: the best this CPU has.
    pub kernels: Option<String>,
    /// The number type of the dense layers' products: `auto` (default: bf16 where the CPU has
    /// AVX-512 BF16, else int8 where it has AVX-512 VNNI, else f32), `f32`, `bf16`, `int8`.
    pub precision: Option<String>,
}

impl Default for LocalOptions {
    fn default() -> Self {
        LocalOptions {
            threads: None,
            batch_size: 32,
            kernels: None,
            precision: None,
        }
    }
}

/// Most tokens in one batch.
const MAX_BATCH_TOKENS: usize = 16_384;

/// A loaded model: tokenizer, encoder weights, pooling.
pub struct LocalModel {
    dir: PathBuf,
    identity: String,
    config: ModelConfig,
    tokenizer: Tokenizer,
    encoder: Encoder,
    threads: usize,
    batch_size: usize,
}

impl std::fmt::Debug for LocalModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalModel")
            .field("dir", &self.dir)
            .field("identity", &self.identity)
            .finish()
    }
}

impl LocalModel {
    /// Loads the model in `dir` (see [`crate::resolve_model`] to find it from a name).
    pub fn load(dir: &Path, options: &LocalOptions) -> Result<LocalModel, EmbedError> {
        let config = ModelConfig::read(dir)?;
        let mut hash = XxHash64::with_seed(0);
        for file in &config.files {
            let bytes = std::fs::read(file).map_err(|e| EmbedError::io(file, e))?;
            hash.write(
                file.strip_prefix(dir)
                    .unwrap_or(file)
                    .to_string_lossy()
                    .as_bytes(),
            );
            hash.write(&bytes);
        }
        let tokenizer_path = dir.join("tokenizer.json");
        let tokenizer_bytes =
            std::fs::read(&tokenizer_path).map_err(|e| EmbedError::io(&tokenizer_path, e))?;
        hash.write(&tokenizer_bytes);
        let mut tokenizer =
            Tokenizer::from_bytes(&tokenizer_bytes).map_err(|e| EmbedError::Model {
                path: tokenizer_path.clone(),
                message: format!("not a readable tokenizer: {e}"),
            })?;
        tokenizer.with_padding(None);
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: config.max_tokens,
                ..Default::default()
            }))
            .map_err(|e| EmbedError::Model {
                path: tokenizer_path.clone(),
                message: e.to_string(),
            })?;

        let weights_path = dir.join("model.safetensors");
        if !weights_path.is_file() {
            return Err(EmbedError::Model {
                path: weights_path,
                message: "missing: sluice reads weights in safetensors format only (a \
                          pytorch_model.bin can be converted with the `safetensors` Python package)"
                    .into(),
            });
        }
        let bytes = std::fs::read(&weights_path).map_err(|e| EmbedError::io(&weights_path, e))?;
        hash.write(&bytes);
        let precision =
            Precision::choose(options.precision.as_deref()).map_err(EmbedError::Input)?;
        let encoder = Encoder::load(
            &weights_path,
            &bytes,
            &config,
            options.kernels.as_deref(),
            precision,
        )?;
        drop(bytes);

        let name = dir
            .canonicalize()
            .ok()
            .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_else(|| "model".to_string());
        let threads = options
            .threads
            .filter(|t| *t > 0)
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
        Ok(LocalModel {
            dir: dir.to_path_buf(),
            // Vectors differ with the precision: caches keep them apart.
            identity: match precision {
                Precision::F32 => format!("{name}@{:016x}", hash.finish()),
                p => format!("{name}@{:016x}+{}", hash.finish(), p.name()),
            },
            config,
            tokenizer,
            encoder,
            threads,
            batch_size: options.batch_size.max(1),
        })
    }

    /// `folder-name@hash`, with `+bf16` or `+int8` for a reduced precision: changes when
    /// anything that affects vectors changes (weights, tokenizer, config, pooling, precision).
    /// Caches key on it.
    pub fn identity(&self) -> &str {
        &self.identity
    }

    /// Length of the vectors.
    pub fn dimension(&self) -> usize {
        self.config.dimension()
    }

    /// The model's configuration as read from its files.
    pub fn config(&self) -> &ModelConfig {
        &self.config
    }

    /// Worker threads used.
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// The CPU level of the element-wise kernels (`avx512`, `avx2` or `baseline`).
    pub fn kernel_level(&self) -> &'static str {
        self.encoder.kernel_level()
    }

    /// The number type of the dense layers' products (`f32`, `bf16`, `int8`).
    pub fn precision(&self) -> &'static str {
        self.encoder.precision().name()
    }

    /// Token ids of a text as the model sees them (special tokens added, truncated).
    pub fn tokenize(&self, text: &str) -> Result<Vec<u32>, EmbedError> {
        let lowered;
        let text = if self.config.lower_case {
            lowered = text.to_lowercase();
            lowered.as_str()
        } else {
            text
        };
        let encoding = self.tokenizer.encode(text, true).map_err(|e| {
            let start: String = text.chars().take(60).collect();
            EmbedError::Input(format!(
                "the tokenizer of {} failed on the text starting \"{start}\": {e}",
                self.dir.display()
            ))
        })?;
        Ok(encoding.get_ids().to_vec())
    }

    /// Embeds `texts`: `texts.len() × dimension()` values, row-major, in input order.
    pub fn embed(&self, texts: &[&str]) -> Result<Vec<f32>, EmbedError> {
        self.embed_with_progress(texts, &|_| {})
    }

    /// As [`embed`](Self::embed), calling `progress(done)` after each batch with the number
    /// of texts embedded so far (from any worker thread).
    pub fn embed_with_progress(
        &self,
        texts: &[&str],
        progress: &(dyn Fn(usize) + Sync),
    ) -> Result<Vec<f32>, EmbedError> {
        self.embed_until(texts, progress, &AtomicBool::new(false))
    }

    /// As [`embed_with_progress`](Self::embed_with_progress), stopping with
    /// [`EmbedError::Cancelled`] before the next batch once `stop` is set.
    pub fn embed_until(
        &self,
        texts: &[&str],
        progress: &(dyn Fn(usize) + Sync),
        stop: &AtomicBool,
    ) -> Result<Vec<f32>, EmbedError> {
        let n = texts.len();
        let dim = self.dimension();
        let workers = self.threads.min(n.div_ceil(self.batch_size).max(1)).max(1);

        // Tokenize on every worker, in contiguous ranges.
        let per = n.div_ceil(workers).max(1);
        let tokenized: Vec<Result<Vec<Vec<u32>>, EmbedError>> = std::thread::scope(|scope| {
            let handles: Vec<_> = texts
                .chunks(per)
                .map(|part| scope.spawn(move || part.iter().map(|t| self.tokenize(t)).collect()))
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join().unwrap_or_else(|_| {
                        Err(EmbedError::Input("a tokenizer thread panicked".into()))
                    })
                })
                .collect()
        });
        let mut ids: Vec<Vec<u32>> = Vec::with_capacity(n);
        for part in tokenized {
            ids.extend(part?);
        }

        // Longest first, in batches of similar lengths.
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(ids[i].len()));
        // At most `batch_size` texts and MAX_BATCH_TOKENS tokens a batch: the buffers of a
        // worker grow with the tokens of its batch (long texts of a large model would
        // otherwise take gigabytes per worker).
        let mut batches: Vec<&[usize]> = Vec::new();
        let (mut from, mut tokens) = (0, 0);
        for (k, &i) in order.iter().enumerate() {
            let len = ids[i].len();
            if k > from && (k - from == self.batch_size || tokens + len > MAX_BATCH_TOKENS) {
                batches.push(&order[from..k]);
                (from, tokens) = (k, 0);
            }
            tokens += len;
        }
        if from < n {
            batches.push(&order[from..]);
        }

        let next = AtomicUsize::new(0);
        let done = AtomicUsize::new(0);
        let failure: Mutex<Option<EmbedError>> = Mutex::new(None);
        let results: Vec<Vec<(usize, Vec<f32>)>> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..workers)
                .map(|_| {
                    scope.spawn(|| {
                        let mut ws = Workspace::default();
                        let mut mine = Vec::new();
                        loop {
                            let b = next.fetch_add(1, Ordering::Relaxed);
                            let Some(batch) = batches.get(b) else { break };
                            if failure.lock().map(|f| f.is_some()).unwrap_or(true) {
                                break;
                            }
                            if stop.load(Ordering::Relaxed) {
                                if let Ok(mut f) = failure.lock() {
                                    f.get_or_insert(EmbedError::Cancelled);
                                }
                                break;
                            }
                            let seqs: Vec<&[u32]> =
                                batch.iter().map(|&i| ids[i].as_slice()).collect();
                            let mut out = vec![0.0f32; batch.len() * dim];
                            match self.encoder.forward(&seqs, &mut ws, &mut out) {
                                Ok(()) => {
                                    mine.push((b, out));
                                    progress(
                                        done.fetch_add(batch.len(), Ordering::Relaxed)
                                            + batch.len(),
                                    );
                                }
                                Err(e) => {
                                    if let Ok(mut f) = failure.lock() {
                                        f.get_or_insert(e);
                                    }
                                    break;
                                }
                            }
                        }
                        mine
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_default())
                .collect()
        });
        if let Some(e) = failure.into_inner().ok().flatten() {
            return Err(e);
        }
        let mut out = vec![0.0f32; n * dim];
        let mut filled = 0;
        for (b, vectors) in results.into_iter().flatten() {
            for (&i, v) in batches[b].iter().zip(vectors.chunks_exact(dim)) {
                out[i * dim..(i + 1) * dim].copy_from_slice(v);
                filled += 1;
            }
        }
        if filled != n {
            return Err(EmbedError::Input(format!(
                "a worker thread stopped: {filled} of {n} texts embedded"
            )));
        }
        Ok(out)
    }
}
