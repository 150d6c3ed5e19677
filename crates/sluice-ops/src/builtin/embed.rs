//! `embed`: a vector for the text of each row, from a local model (run on the CPU cores) or
//! an OpenAI-compatible endpoint. The output is the input with one more column,
//! `FixedSizeList<Float32>`.
//!
//! Never the same text twice: vectors are cached by (model identity, text hash) in
//! `<warehouse>/.cache/embeddings/`, shared by every pipeline and task. A run embeds only
//! texts the model has never embedded (and each of them once, however many rows hold it);
//! the cache is written as batches complete, so a run that is killed or fails keeps what it
//! had already paid for.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde::Deserialize;
use sluice_data::datafusion::arrow::array::{
    Array, AsArray, FixedSizeListArray, Float32Array, RecordBatch,
};
use sluice_data::datafusion::arrow::buffer::NullBuffer;
use sluice_data::datafusion::arrow::compute::{CastOptions, cast_with_options};
use sluice_data::datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use sluice_data::export::for_each_batch;
use sluice_embed::{
    EmbedError, Embedder, LocalOptions, RemoteModel, RemoteOptions, VectorCache, text_key,
};

use crate::{Op, OpError, OpOutput, TaskContext, TaskLog, blocking, env_secret, file_stamp};

fn default_text() -> String {
    "chunk_text".into()
}

fn default_column() -> String {
    "embedding".into()
}

fn default_batch() -> usize {
    32
}

fn default_concurrency() -> usize {
    4
}

fn default_retries() -> u32 {
    5
}

fn default_backoff() -> Duration {
    Duration::from_secs(1)
}

fn default_timeout() -> Duration {
    Duration::from_secs(120)
}

/// `op: embed`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Embed {
    /// The task whose dataset holds the texts.
    pub input: String,
    /// The column of texts (default `chunk_text`). A null text gets a null vector.
    #[serde(default = "default_text")]
    pub text: String,
    /// The column added (default `embedding`).
    #[serde(default = "default_column")]
    pub column: String,
    /// Or a column of encoded images (PNG, JPEG bytes, such as the `image` op's `image`) to
    /// embed with an image model (a CLIP folder) instead of `text`. A null image gets a null
    /// vector.
    #[serde(default)]
    pub image: Option<String>,
    /// Put before each text, for models trained with one (`"passage: "` for e5 documents,
    /// `"query: "` for its queries).
    #[serde(default)]
    pub prefix: String,
    /// Local: a model folder (relative to the pipeline file) or a name found under
    /// `SLUICE_MODELS` or in the Hugging Face cache. Remote: the model name sent to `endpoint`.
    pub model: String,
    /// An OpenAI-compatible endpoint (`https://…/v1`): the model runs there, not here.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// The environment variable holding the endpoint's API key.
    #[serde(default)]
    pub api_key_env: Option<String>,
    /// Texts per batch: per forward pass locally (default 32), per request remotely.
    #[serde(default = "default_batch")]
    pub batch_size: usize,
    /// Local worker threads (default: every core).
    #[serde(default)]
    pub threads: Option<usize>,
    /// The number type of a local model's matrix products: `auto` (default: bf16 on a CPU
    /// with AVX-512 BF16, else int8 with AVX-512 VNNI, else f32), `f32`, `bf16`, `int8`.
    #[serde(default)]
    pub precision: Option<String>,
    /// Requests in flight at once (remote; default 4).
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
    /// Retries of a request on 429, 5xx, timeouts (remote; default 5). The task's own
    /// `retries` run the whole task again.
    #[serde(default = "default_retries")]
    pub request_retries: u32,
    /// First wait before a retry, doubled each time (remote; default 1s).
    #[serde(
        default = "default_backoff",
        deserialize_with = "sluice_core::duration::deserialize"
    )]
    pub backoff: Duration,
    /// Limit of one request (remote; default 120s). The task's own `timeout` limits the
    /// whole task.
    #[serde(
        default = "default_timeout",
        deserialize_with = "sluice_core::duration::deserialize"
    )]
    pub request_timeout: Duration,
    /// The vector length the endpoint must return (remote; checked on every answer).
    #[serde(default)]
    pub dimension: Option<usize>,
    /// Build the embedded vector index with the dataset (default true), so that the first
    /// `sluice search` does not wait for it.
    #[serde(default = "default_index")]
    pub index: bool,
}

fn default_index() -> bool {
    true
}

/// Builds `embed`, checking its settings.
pub fn build_embed(config: &sluice_core::Node) -> Result<Box<dyn Op>, sluice_core::DeError> {
    let op: Embed = sluice_core::from_node(config)?;
    let bad = |m: &str| <sluice_core::DeError as serde::de::Error>::custom(m);
    if op.batch_size == 0 {
        return Err(bad("`batch_size` must be at least 1"));
    }
    if op.endpoint.is_none() {
        for (set, key) in [
            (op.api_key_env.is_some(), "api_key_env"),
            (op.dimension.is_some(), "dimension"),
        ] {
            if set {
                return Err(bad(&format!(
                    "`{key}` applies to a remote model: set `endpoint` too"
                )));
            }
        }
    }
    if let Some(p) = &op.precision {
        if op.endpoint.is_some() {
            return Err(bad(
                "`precision` applies to a local model, not to an `endpoint`",
            ));
        }
        if !sluice_embed::Precision::NAMES.contains(&p.as_str()) {
            return Err(bad(&format!(
                "`precision: {p}` is not one of {}",
                sluice_embed::Precision::NAMES.join(", ")
            )));
        }
    }
    if op.dimension == Some(0) {
        return Err(bad("`dimension` must be at least 1"));
    }
    if op.text == op.column || op.image.as_ref() == Some(&op.column) {
        return Err(bad("`column` must differ from the column embedded"));
    }
    if op.image.is_some() && op.endpoint.is_some() {
        return Err(bad(
            "`image` needs a local image model (a CLIP folder), not an `endpoint`",
        ));
    }
    Ok(Box::new(op))
}

/// What a run did, for the attempt's metrics.
#[derive(Debug, Default)]
struct Counts {
    /// The precision the model's products ran at (none for an endpoint).
    precision: Option<&'static str>,
    rows: u64,
    embedded: u64,
    from_cache: u64,
    repeated: u64,
    nulls: u64,
}

impl Embed {
    /// Every input column copied; the vector computed from the text (or image) column, by a
    /// remote model when `endpoint` is set (then an input too).
    fn lineage(&self, schema: &str) -> sluice_op::Lineage {
        use sluice_op::lineage::{ColumnLineage, DatasetRef, External, How, Source, schema_fields};
        let from = |c: &str, how| Source::new(DatasetRef::task(&self.input), c, how);
        let mut fields: std::collections::BTreeMap<String, Vec<Source>> = schema_fields(schema)
            .into_iter()
            .filter(|f| f.name != self.column)
            .map(|f| {
                let s = from(&f.name, How::Identity);
                (f.name, vec![s])
            })
            .collect();
        let source = self.image.as_deref().unwrap_or(&self.text);
        fields.insert(self.column.clone(), vec![from(source, How::Transformation)]);
        let inputs = self
            .endpoint
            .as_deref()
            .and_then(External::url)
            .into_iter()
            .collect();
        sluice_op::Lineage {
            inputs,
            columns: vec![ColumnLineage {
                output: DatasetRef::Own,
                fields,
                dataset: Vec::new(),
            }],
            ..Default::default()
        }
    }

    /// The model folder of a local model.
    fn model_dir(&self, workdir: &Path) -> Result<PathBuf, OpError> {
        let relative = workdir.join(&self.model);
        if relative.join("config.json").is_file() {
            return Ok(relative);
        }
        sluice_embed::resolve_model(&self.model).map_err(embed_error)
    }

    fn embedder(&self, workdir: &Path) -> Result<Embedder, OpError> {
        match &self.endpoint {
            Some(url) => {
                let api_key = env_secret("api_key_env", self.api_key_env.as_ref())?;
                let options = RemoteOptions {
                    api_key,
                    batch_size: self.batch_size,
                    concurrency: self.concurrency,
                    retries: self.request_retries,
                    backoff: self.backoff,
                    timeout: self.request_timeout,
                    dimension: self.dimension,
                    ..RemoteOptions::new(url, &self.model)
                };
                Ok(Embedder::Remote(Arc::new(
                    RemoteModel::new(options).map_err(embed_error)?,
                )))
            }
            None => {
                let dir = self.model_dir(workdir)?;
                let options = LocalOptions {
                    threads: self.threads,
                    batch_size: self.batch_size,
                    kernels: None,
                    precision: self.precision.clone(),
                };
                let model = Embedder::load_local(&dir, &options).map_err(embed_error)?;
                if self.image.is_some() && !matches!(model, Embedder::Clip(_)) {
                    return Err(OpError::config(format!(
                        "`image` needs an image model: {} is a text model (use a CLIP folder such as openai/clip-vit-base-patch32)",
                        dir.display()
                    )));
                }
                Ok(model)
            }
        }
    }

    fn output_schema(&self, input: &Schema, dimension: usize) -> SchemaRef {
        let mut fields: Vec<Field> = input
            .fields()
            .iter()
            .filter(|f| f.name() != &self.column)
            .map(|f| f.as_ref().clone())
            .collect();
        fields.push(Field::new(
            &self.column,
            DataType::FixedSizeList(
                Arc::new(Field::new("item", DataType::Float32, false)),
                dimension as i32,
            ),
            true,
        ));
        Arc::new(Schema::new(fields))
    }

    /// The whole job, on a blocking thread (remote requests run on the runtime through
    /// `job.handle`).
    fn embed_all(&self, job: Job) -> Result<(sluice_data::DatasetInfo, Counts), OpError> {
        let Job {
            input,
            target,
            workdir,
            cache_root,
            log,
            live,
            handle,
            cancel,
        } = job;
        let (input, workdir, log) = (input.as_path(), workdir.as_path(), &log);
        let embedder = self.embedder(workdir)?;
        let identity = embedder.identity();
        let _ = log.line(&format!("model {identity}"));
        let in_schema = sluice_data::export::dataset_schema(input)?;
        let embedded = self.image.as_ref().unwrap_or(&self.text);
        if in_schema.index_of(embedded).is_err() {
            let names: Vec<&str> = in_schema
                .fields()
                .iter()
                .map(|f| f.name().as_str())
                .collect();
            return Err(OpError::config(format!(
                "the dataset of `{}` has no column `{}` (it has: {})",
                self.input,
                embedded,
                names.join(", ")
            )));
        }
        let total_rows = sluice_data::export::dataset_rows(input).unwrap_or(0);
        let cache_dir = cache_root
            .join("embeddings")
            .join(sluice_embed::cache_folder_name(&identity));
        let known = embedder
            .dimension()
            .or_else(|| VectorCache::dimension_in(&cache_dir));
        // An endpoint must keep answering the dimension its cached vectors have.
        if let (Embedder::Remote(m), Some(d)) = (&embedder, known) {
            m.expect_dimension(d);
        }
        let mut cache: Option<VectorCache> = match known {
            Some(d) => Some(VectorCache::open(&cache_dir, &identity, d).map_err(embed_error)?),
            None => None,
        };
        let mut writer: Option<sluice_data::DatasetWriter> = None;
        let mut counts = Counts {
            precision: embedder.precision(),
            ..Counts::default()
        };
        let progress = Progress::new(log.clone(), live, total_rows as usize);
        // Texts per call of the model: a few batches per worker or request slot.
        let group = match &embedder {
            Embedder::Local(m) => self.batch_size * m.threads() * 4,
            Embedder::Clip(m) => self.batch_size * m.threads() * 4,
            Embedder::Remote(_) => self.batch_size * self.concurrency.max(1) * 2,
        }
        .max(1);

        for_each_batch(input, |_, batch| {
            if cancel.is_cancelled() {
                return Err(sluice_data::DataError::Engine("cancelled".into()));
            }
            let source = Source::of(&batch, self)?;
            let n = batch.num_rows();
            counts.rows += n as u64;

            // Which rows need the model: inputs neither cached nor already seen in this batch.
            // What the model sees of a text: the prefix, then the text (the cache keys on that
            // string); of an image, its bytes.
            let keys: Vec<Option<u128>> = (0..n).map(|i| source.key(i, &self.prefix)).collect();
            let mut todo: Vec<usize> = Vec::new();
            let mut todo_keys: Vec<u128> = Vec::new();
            let mut first: HashMap<u128, usize> = HashMap::new();
            for (i, key) in keys.iter().enumerate() {
                let Some(key) = key else {
                    counts.nulls += 1;
                    continue;
                };
                if cache.as_ref().is_some_and(|c| c.contains(*key)) {
                    counts.from_cache += 1;
                } else if first.contains_key(key) {
                    counts.repeated += 1;
                } else {
                    first.insert(*key, todo.len());
                    todo.push(i);
                    todo_keys.push(*key);
                }
            }
            // The model runs on groups of a few seconds of work; each group's vectors go to
            // the cache at once, so a run that is killed or cancelled keeps what it paid for.
            let done_before = counts.rows as usize - n;
            let mut fresh: Vec<f32> = Vec::new();
            for (g, (rows, keys)) in todo.chunks(group).zip(todo_keys.chunks(group)).enumerate() {
                if cancel.is_cancelled() {
                    return Err(sluice_data::DataError::Engine("cancelled".into()));
                }
                let p = progress.clone();
                let offset = done_before + g * group;
                let report: Arc<dyn Fn(usize) + Send + Sync> = Arc::new(move |done: usize| p.update(offset + done));
                // Ctrl-C or the task's timeout stop it at once: remote requests are dropped,
                // local workers stop before their next batch.
                let stop = Arc::new(AtomicBool::new(false));
                let vectors = handle
                    .block_on(async {
                        tokio::select! {
                            r = source.embed(&embedder, rows, &self.prefix, report, stop.clone()) => r,
                            () = cancel.cancelled() => {
                                stop.store(true, Ordering::Relaxed);
                                Err(EmbedError::Cancelled)
                            }
                        }
                    })
                    .map_err(|e| sluice_data::DataError::Engine(e.to_string()))?;
                counts.embedded += keys.len() as u64;
                if cache.is_none() {
                    let d = vectors.len() / keys.len().max(1);
                    cache = Some(VectorCache::open(&cache_dir, &identity, d).map_err(|e| sluice_data::DataError::Engine(e.to_string()))?);
                }
                if let Some(c) = cache.as_mut() {
                    c.append(keys, &vectors).map_err(|e| sluice_data::DataError::Engine(e.to_string()))?;
                }
                fresh.extend_from_slice(&vectors);
            }
            progress.update(counts.rows as usize);
            let Some(c) = cache.as_ref() else {
                // Every text so far is null and the endpoint's dimension is still unknown.
                return Err(sluice_data::DataError::Engine(
                    "the first rows hold only null texts and the endpoint's dimension is unknown: set `dimension`".into(),
                ));
            };
            let dim = c.dimension();
            let mut values = vec![0.0f32; n * dim];
            for (i, key) in keys.iter().enumerate() {
                let Some(key) = key else { continue };
                let out = &mut values[i * dim..(i + 1) * dim];
                if let Some(&j) = first.get(key) {
                    out.copy_from_slice(&fresh[j * dim..(j + 1) * dim]);
                } else if !c.get(*key, out).map_err(|e| sluice_data::DataError::Engine(e.to_string()))? {
                    return Err(sluice_data::DataError::Engine(format!(
                        "a vector is missing from the cache {}: remove that folder and run again",
                        cache_dir.display()
                    )));
                }
            }
            let nulls = NullBuffer::from(keys.iter().map(Option::is_some).collect::<Vec<bool>>());
            let list = FixedSizeListArray::try_new(
                Arc::new(Field::new("item", DataType::Float32, false)),
                dim as i32,
                Arc::new(Float32Array::from(values)),
                Some(nulls),
            )
            .map_err(|e| sluice_data::DataError::Engine(e.to_string()))?;
            let schema = self.output_schema(&batch.schema(), dim);
            let mut columns: Vec<Arc<dyn Array>> = Vec::new();
            for (f, col) in batch.schema().fields().iter().zip(batch.columns()) {
                if f.name() != &self.column {
                    columns.push(col.clone());
                }
            }
            columns.push(Arc::new(list));
            let out = RecordBatch::try_new(schema.clone(), columns).map_err(|e| sluice_data::DataError::Engine(e.to_string()))?;
            writer.get_or_insert_with(|| sluice_data::DatasetWriter::new(&target, schema)).write(&out)
        })
        .map_err(|e| OpError::from(e).context(format!("embedding `{embedded}` of `{}`", self.input)))?;
        let info = match writer {
            Some(w) => w.finish()?,
            None => {
                let dim = cache
                    .as_ref()
                    .map(VectorCache::dimension)
                    .or(self.dimension)
                    .unwrap_or(0);
                sluice_data::DatasetWriter::new(&target, self.output_schema(&in_schema, dim))
                    .finish()?
            }
        };
        progress.finish(counts.rows as usize);
        Ok((info, counts))
    }
}

/// The column a batch's rows are embedded from.
enum Source {
    /// Texts (any column cast to text).
    Texts(sluice_data::datafusion::arrow::array::StringArray),
    /// Encoded images.
    Images(sluice_data::datafusion::arrow::array::BinaryArray),
}

impl Source {
    fn of(batch: &RecordBatch, op: &Embed) -> Result<Source, sluice_data::DataError> {
        let engine = sluice_data::DataError::Engine;
        let name = op.image.as_ref().unwrap_or(&op.text);
        let col = batch
            .column_by_name(name)
            .ok_or_else(|| engine(format!("column `{name}` is missing")))?;
        let (to, what) = if op.image.is_some() {
            (DataType::Binary, "images (bytes)")
        } else {
            (DataType::Utf8, "text")
        };
        let cast = cast_with_options(
            col,
            &to,
            &CastOptions {
                safe: false,
                ..CastOptions::default()
            },
        )
        .map_err(|e| engine(format!("column `{name}` cannot be read as {what}: {e}")))?;
        Ok(if op.image.is_some() {
            Source::Images(cast.as_binary::<i32>().clone())
        } else {
            Source::Texts(cast.as_string::<i32>().clone())
        })
    }

    /// The cache key of row `i` (None when it is null): a text's with its prefix, or the
    /// hash of an image's bytes (tagged, so that no text shares it).
    fn key(&self, i: usize, prefix: &str) -> Option<u128> {
        match self {
            Source::Texts(t) => t
                .is_valid(i)
                .then(|| text_key(&format!("{prefix}{}", t.value(i)))),
            Source::Images(b) => b.is_valid(i).then(|| {
                let mut bytes = b"image\0".to_vec();
                bytes.extend_from_slice(b.value(i));
                twox_hash::XxHash3_128::oneshot(&bytes)
            }),
        }
    }

    async fn embed(
        &self,
        embedder: &Embedder,
        rows: &[usize],
        prefix: &str,
        report: Arc<dyn Fn(usize) + Send + Sync>,
        stop: Arc<AtomicBool>,
    ) -> Result<Vec<f32>, EmbedError> {
        match self {
            Source::Texts(t) => {
                let texts = rows
                    .iter()
                    .map(|&i| format!("{prefix}{}", t.value(i)))
                    .collect();
                embedder.embed(Arc::new(texts), report, stop).await
            }
            Source::Images(b) => {
                let images = rows.iter().map(|&i| b.value(i).to_vec()).collect();
                embedder.embed_images(Arc::new(images), report, stop).await
            }
        }
    }
}

/// What `embed_all` needs of the task's context, owned for the blocking thread.
struct Job {
    input: PathBuf,
    target: sluice_data::DatasetTarget,
    workdir: PathBuf,
    cache_root: PathBuf,
    log: TaskLog,
    live: Option<sluice_op::ProgressFn>,
    handle: tokio::runtime::Handle,
    cancel: tokio_util::sync::CancellationToken,
}

/// Progress: to the live view as it comes, and in the task log (rows done, rows/s, time
/// left) every 10 seconds.
#[derive(Clone)]
struct Progress {
    inner: Arc<std::sync::Mutex<(Instant, Instant)>>,
    log: TaskLog,
    live: Option<sluice_op::ProgressFn>,
    total: usize,
}

impl Progress {
    fn new(log: TaskLog, live: Option<sluice_op::ProgressFn>, total: usize) -> Progress {
        let now = Instant::now();
        Progress {
            inner: Arc::new(std::sync::Mutex::new((now, now))),
            log,
            live,
            total,
        }
    }

    fn update(&self, done: usize) {
        if let Some(live) = &self.live {
            live(done as u64, self.total as u64);
        }
        let Ok(mut times) = self.inner.lock() else {
            return;
        };
        if times.1.elapsed() < Duration::from_secs(10) {
            return;
        }
        times.1 = Instant::now();
        let elapsed = times.0.elapsed().as_secs_f64();
        let rate = done as f64 / elapsed.max(1e-9);
        let left = if rate > 0.0 && self.total > done {
            (self.total - done) as f64 / rate
        } else {
            0.0
        };
        let _ = self.log.line(&format!(
            "{done} of {} rows ({rate:.1} rows/s, about {} left)",
            self.total,
            human_secs(left)
        ));
    }

    fn finish(&self, done: usize) {
        let elapsed = self
            .inner
            .lock()
            .map(|t| t.0.elapsed().as_secs_f64())
            .unwrap_or(0.0);
        let _ = self.log.line(&format!(
            "{done} rows in {} ({:.1} rows/s)",
            human_secs(elapsed),
            done as f64 / elapsed.max(1e-9)
        ));
    }
}

/// Seconds as users write durations (`7m26s`), to the second.
fn human_secs(s: f64) -> String {
    sluice_core::duration::format_duration(Duration::from_secs(s.round() as u64))
}

#[async_trait]
impl Op for Embed {
    async fn run(&self, ctx: &TaskContext) -> Result<OpOutput, OpError> {
        let job = Job {
            input: ctx.input(&self.input)?.to_path_buf(),
            target: ctx.output()?.clone(),
            workdir: ctx.workdir.clone(),
            cache_root: ctx.cache_dir.clone(),
            log: ctx.log.clone(),
            live: ctx.progress.clone(),
            handle: tokio::runtime::Handle::current(),
            cancel: ctx.cancel.clone(),
        };
        let mut source = sluice_vector::search::VectorSource {
            column: self.column.clone(),
            model: self.model.clone(),
            model_dir: match &self.endpoint {
                Some(_) => None,
                None => self
                    .model_dir(&ctx.workdir)
                    .ok()
                    .map(|d| std::fs::canonicalize(&d).unwrap_or(d)),
            },
            endpoint: self.endpoint.clone(),
            api_key_env: self.api_key_env.clone(),
            prefix: self.prefix.clone(),
            precision: None,
        };
        let op = self.clone();
        let dir = ctx.output()?.dir.clone();
        let (info, counts) = blocking(move || op.embed_all(job)).await?;
        source.precision = counts.precision.map(str::to_string);
        let mut index_counts = None;
        if self.index && info.rows > 0 {
            let column = self.column.clone();
            // The previous version's index is updated with the delta rather than rebuilt.
            let previous = ctx
                .previous
                .as_ref()
                .map(|p| sluice_vector::search::index_path(&p.dir, &column))
                .filter(|p| p.is_file());
            let started = Instant::now();
            let (rows, update) = blocking(move || {
                let (index, update) = sluice_vector::search::update_index(
                    &dir,
                    &column,
                    previous.as_deref(),
                    sluice_vector::index::Params::default(),
                )
                .map_err(|e| OpError::internal(e.0))?;
                index
                    .save(&sluice_vector::search::index_path(&dir, &column))
                    .map_err(|e| OpError::internal(e.0))?;
                Ok((index.len(), update))
            })
            .await?;
            let took = human_secs(started.elapsed().as_secs_f64());
            let (kept, inserted, removed) = (update.kept, update.inserted, update.removed);
            use sluice_vector::index::GraphBuild;
            let _ = ctx.log.line(&match update.graph {
                GraphBuild::None => format!(
                    "indexed {rows} rows for exact search in {took} ({kept} vectors as in \
                     the previous version, {inserted} new, {removed} gone; a graph is built \
                     from {} rows)",
                    sluice_vector::index::EXACT_BELOW
                ),
                GraphBuild::Updated => format!(
                    "updated the previous version's search index in {took}: {kept} vectors \
                     kept, {inserted} inserted, {removed} removed ({rows} rows)"
                ),
                GraphBuild::Whole(why) => {
                    format!("built the search index of {rows} rows in {took} ({why})")
                }
            });
            index_counts = Some(update);
        }
        let _ = ctx.log.line(&format!(
            "{} rows: {} texts embedded, {} from the cache, {} repeated in this run, {} null",
            counts.rows, counts.embedded, counts.from_cache, counts.repeated, counts.nulls
        ));
        let mut metrics = crate::counters(&[
            ("rows", counts.rows),
            ("embedded", counts.embedded),
            ("from_cache", counts.from_cache),
            ("repeated", counts.repeated),
            ("nulls", counts.nulls),
        ]);
        if let Some(u) = index_counts {
            metrics.extend(crate::counters(&[
                ("index_kept", u.kept as u64),
                ("index_inserted", u.inserted as u64),
                ("index_removed", u.removed as u64),
            ]));
        }
        let dataset: sluice_op::Dataset = info.into();
        Ok(OpOutput {
            lineage: self.lineage(&dataset.schema),
            dataset: Some(dataset),
            // How the vectors were made, for searches (`sluice search`) to embed queries alike.
            state: Some(serde_json::json!({ "embedding": source })),
            metrics,
            ..OpOutput::default()
        })
    }

    fn reads(&self) -> Vec<String> {
        vec![self.input.clone()]
    }

    fn produces_dataset(&self) -> bool {
        true
    }

    fn input_stamp(&self, workdir: &Path) -> Result<String, OpError> {
        if self.endpoint.is_some() {
            return Ok(String::new());
        }
        let dir = self.model_dir(workdir)?;
        let mut files = sluice_embed::ModelConfig::read(&dir)
            .map_err(embed_error)?
            .files;
        files.push(dir.join("tokenizer.json"));
        files.push(dir.join("model.safetensors"));
        Ok(file_stamp(&files))
    }
}

/// An embedding failure as an op error: a model that cannot be found or read is a setting to
/// fix, a text that cannot be embedded is bad data, an endpoint that may answer later is
/// `unavailable` and one that refused is `refused`.
fn embed_error(e: EmbedError) -> OpError {
    use sluice_op::ErrorKind;
    let kind = match &e {
        EmbedError::ModelNotFound { .. } | EmbedError::Model { .. } => ErrorKind::Config,
        EmbedError::Input(_) => ErrorKind::Data,
        EmbedError::Remote {
            transient: true, ..
        } => ErrorKind::Unavailable,
        EmbedError::Remote { .. } => ErrorKind::Refused,
        EmbedError::Cancelled => ErrorKind::Cancelled,
        EmbedError::Cache(_) => ErrorKind::Internal,
    };
    OpError::new(kind, e.to_string())
}
