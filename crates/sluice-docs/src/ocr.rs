//! `ocr`: the text of each page, read by Tesseract on every core.
//!
//! Results are cached by (document id, page) under the settings that made them — Tesseract's
//! version, languages, page segmentation mode, resolution, language data — in
//! `<warehouse>/.cache/ocr/<settings>/`, one small JSON file per page written as soon as the
//! page is read: a re-run, or a run killed halfway and started again, reads only pages it has
//! never read with these settings.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use sluice_data::datafusion::arrow::array::RecordBatch;
use sluice_data::datafusion::arrow::array::{
    ArrayRef, Float64Builder, Int64Builder, StringBuilder,
};
use sluice_data::datafusion::arrow::datatypes::{DataType, Field};
use sluice_op::{ErrorKind, Op, OpError, OpOutput, TaskContext, TaskLog, blocking, counters};

use crate::rejected::{Rejected, Rejection};
use crate::rows::{extend, ints, texts, texts_if_any};
use crate::tess::{Engine, Reading, Settings};

fn default_path() -> String {
    "path".into()
}

fn default_lang() -> String {
    "eng".into()
}

fn default_psm() -> u8 {
    3
}

fn default_max_pixels() -> u64 {
    crate::image::MAX_PIXELS
}

fn default_column() -> String {
    "text".into()
}

/// `op: ocr`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OcrOp {
    /// The task whose rows name the files (`read.files` or `image`: one row per page, its
    /// `page` column read when present).
    pub input: String,
    /// The column of file paths (default `path`).
    #[serde(default = "default_path")]
    pub path: String,
    /// Tesseract's languages, `+`-joined (default `eng`; `fra`, `eng+fra`…).
    #[serde(default = "default_lang")]
    pub lang: String,
    /// Page segmentation mode, 0–13 (default 3, fully automatic, as the `tesseract` command).
    #[serde(default = "default_psm")]
    pub psm: u8,
    /// The resolution to assume when an image does not say it (`--dpi`).
    #[serde(default)]
    pub dpi: Option<u32>,
    /// The folder of Tesseract's language data (default: Tesseract's own).
    #[serde(default)]
    pub tessdata: Option<String>,
    /// Pages read at once (default: one per core).
    #[serde(default)]
    pub threads: Option<usize>,
    /// Pages of more pixels are rejected from their header, before Tesseract decodes them
    /// (default 64 million).
    #[serde(default = "default_max_pixels")]
    pub max_pixels: u64,
    /// The column of text added (default `text`); `confidence` (mean word confidence,
    /// 0–100), `words`, `processor` and `processed_at` come with it.
    #[serde(default = "default_column")]
    pub column: String,
}

/// Builds `ocr`, checking its settings.
pub fn build(config: &sluice_core::Node) -> Result<Box<dyn Op>, sluice_core::DeError> {
    let op: OcrOp = sluice_core::from_node(config)?;
    let bad = <sluice_core::DeError as serde::de::Error>::custom;
    if op.psm > 13 {
        return Err(bad("`psm` is a page segmentation mode, 0 to 13"));
    }
    if op.lang.is_empty()
        || !op
            .lang
            .split('+')
            .all(|l| !l.is_empty() && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
    {
        return Err(bad(
            "`lang` is Tesseract's language names joined by `+` (eng, eng+fra)",
        ));
    }
    if op.dpi.is_some_and(|d| !(70..=2400).contains(&d)) {
        return Err(bad("`dpi` is 70 to 2400"));
    }
    if op.threads == Some(0) {
        return Err(bad("`threads` must be at least 1"));
    }
    Ok(Box::new(op))
}

/// A page read, as cached.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Cached {
    text: String,
    confidence: Option<f64>,
    words: u32,
    processed_at: String,
}

/// The pages of a batch found in the cache (by row), and those to read.
type Plan = (Vec<(usize, Cached)>, Vec<Job>);

/// One page to read.
struct Job {
    row: usize,
    id: String,
    page: u32,
    path: PathBuf,
}

impl OcrOp {
    fn settings(&self, workdir: &Path) -> Settings {
        Settings {
            lang: self.lang.clone(),
            psm: self.psm,
            dpi: self.dpi,
            tessdata: self
                .tessdata
                .as_ref()
                .map(|t| workdir.join(t).display().to_string()),
        }
    }

    /// The pages of a batch: those the cache has, and those to read.
    fn plan(
        &self,
        batch: &RecordBatch,
        workdir: &Path,
        cache: &Cache,
        rejected: &mut Rejected,
        log: &TaskLog,
    ) -> Result<Plan, OpError> {
        let paths = texts(batch, &self.path, &self.input)?;
        let ids = texts_if_any(batch, "id", &self.input)?;
        let pages = ints(batch, "page");
        let (mut found, mut jobs) = (Vec::new(), Vec::new());
        for i in 0..batch.num_rows() {
            let page = pages[i]
                .and_then(|p| u32::try_from(p).ok())
                .unwrap_or(1)
                .max(1);
            let mut reject = |source: String, reason: String| {
                rejected.push(
                    log,
                    Rejection {
                        source,
                        id: ids[i].clone(),
                        page: Some(page),
                        reason,
                    },
                );
            };
            let Some(path) = &paths[i] else {
                reject(String::new(), format!("no file: `{}` is null", self.path));
                continue;
            };
            let path = workdir.join(path);
            // Without an id column, the document's id is the SHA-1 of its bytes, as read.files.
            let id = match &ids[i] {
                Some(id) => id.clone(),
                None => match std::fs::read(&path) {
                    Ok(b) => crate::files::document_id(&b),
                    Err(e) => {
                        reject(path.display().to_string(), format!("cannot be read: {e}"));
                        continue;
                    }
                },
            };
            match cache.get(&id, page) {
                Some(c) => found.push((i, c)),
                None => jobs.push(Job {
                    row: i,
                    id,
                    page,
                    path,
                }),
            }
        }
        Ok((found, jobs))
    }

    fn added(&self) -> Vec<Field> {
        vec![
            Field::new(&self.column, DataType::Utf8, false),
            Field::new("confidence", DataType::Float64, true),
            Field::new("words", DataType::Int64, false),
            Field::new("processor", DataType::Utf8, false),
            Field::new("processed_at", DataType::Utf8, false),
        ]
    }
}

/// The cache of one set of settings.
struct Cache {
    dir: PathBuf,
}

impl Cache {
    fn new(root: &Path, identity: &str) -> Cache {
        let key = twox_hash::XxHash64::oneshot(0, identity.as_bytes());
        Cache {
            dir: root.join("ocr").join(format!("{key:016x}")),
        }
    }

    fn file(&self, id: &str, page: u32) -> PathBuf {
        let shard: String = id.chars().take(2).collect();
        self.dir.join(shard).join(format!("{id}-p{page}.json"))
    }

    fn get(&self, id: &str, page: u32) -> Option<Cached> {
        let bytes = std::fs::read(self.file(id, page)).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    fn put(&self, id: &str, page: u32, c: &Cached) -> Result<(), OpError> {
        let path = self.file(id, page);
        let dir = path.parent().unwrap_or(&self.dir);
        let failed = |e: std::io::Error| OpError::io(format!("{}: OCR cache", path.display()), &e);
        std::fs::create_dir_all(dir).map_err(failed)?;
        let tmp = dir.join(format!(".{id}-p{page}.{}.tmp", std::process::id()));
        let body = serde_json::to_vec(c).map_err(|e| OpError::internal(e.to_string()))?;
        std::fs::write(&tmp, body).map_err(failed)?;
        std::fs::rename(&tmp, &path).map_err(failed)
    }

    fn write_identity(&self, identity: &str) {
        let _ = std::fs::create_dir_all(&self.dir);
        let _ = std::fs::write(self.dir.join("settings.txt"), identity);
    }
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Reads every job on `threads` threads, each with its own Tesseract; each result is cached
/// as soon as it is read. Returns the results by job.
fn read_all(
    jobs: &[Job],
    engines: &mut [Engine],
    cache: &Cache,
    max_pixels: u64,
    cancel: &tokio_util::sync::CancellationToken,
    progress: &(dyn Fn() + Sync),
) -> Result<Vec<Result<Cached, String>>, OpError> {
    let next = AtomicUsize::new(0);
    let results: Vec<Mutex<Option<Result<Cached, String>>>> =
        jobs.iter().map(|_| Mutex::new(None)).collect();
    let failure: Mutex<Option<OpError>> = Mutex::new(None);
    std::thread::scope(|s| {
        for engine in engines.iter_mut() {
            let (next, results, failure) = (&next, &results, &failure);
            s.spawn(move || {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= jobs.len() || cancel.is_cancelled() {
                        break;
                    }
                    let job = &jobs[i];
                    let out = read_one(engine, job, max_pixels);
                    if let Ok(c) = &out
                        && let Err(e) = cache.put(&job.id, job.page, c)
                    {
                        if let Ok(mut f) = failure.lock() {
                            f.get_or_insert(e);
                        }
                        break;
                    }
                    if let Ok(mut slot) = results[i].lock() {
                        *slot = Some(out);
                    }
                    progress();
                }
            });
        }
    });
    if let Some(e) = failure.into_inner().ok().flatten() {
        return Err(e);
    }
    if cancel.is_cancelled() {
        return Err(OpError::cancelled(
            "stopped; the pages read so far are cached",
        ));
    }
    Ok(results
        .into_iter()
        .map(|m| {
            m.into_inner()
                .ok()
                .flatten()
                .unwrap_or_else(|| Err("not read".into()))
        })
        .collect())
}

fn read_one(engine: &mut Engine, job: &Job, max_pixels: u64) -> Result<Cached, String> {
    let bytes = std::fs::read(&job.path).map_err(|e| format!("cannot be read: {e}"))?;
    crate::image::check_pixels(&bytes, job.page.saturating_sub(1), max_pixels)?;
    let tiff = crate::files::sniff(&bytes) == "image/tiff";
    let Reading {
        text,
        confidence,
        words,
    } = engine
        .read(&bytes, job.page.saturating_sub(1), tiff)
        .map_err(|e| e.0)?;
    Ok(Cached {
        text,
        confidence,
        words,
        processed_at: now(),
    })
}

fn columns(results: &[(usize, Cached)], processor: &str) -> Vec<ArrayRef> {
    let mut text = StringBuilder::new();
    let mut conf = Float64Builder::new();
    let mut words = Int64Builder::new();
    let mut proc_ = StringBuilder::new();
    let mut at = StringBuilder::new();
    for (_, c) in results {
        text.append_value(&c.text);
        conf.append_option(c.confidence);
        words.append_value(i64::from(c.words));
        proc_.append_value(processor);
        at.append_value(&c.processed_at);
    }
    vec![
        Arc::new(text.finish()),
        Arc::new(conf.finish()),
        Arc::new(words.finish()),
        Arc::new(proc_.finish()),
        Arc::new(at.finish()),
    ]
}

#[async_trait]
impl Op for OcrOp {
    async fn run(&self, ctx: &TaskContext) -> Result<OpOutput, OpError> {
        let op = self.clone();
        let input: PathBuf = ctx.input(&self.input)?.to_path_buf();
        let target = ctx.output()?.clone();
        let log = ctx.log.clone();
        let cancel = ctx.cancel.clone();
        let workdir = ctx.workdir.clone();
        let cache_root = ctx.cache_dir.clone();
        let progress = ctx.progress.clone();
        blocking(move || {
            let not_installed = |e: crate::tess::TessError| OpError::new(ErrorKind::Config, e.0);
            let version = crate::tess::version().map_err(not_installed)?;
            let settings = op.settings(&workdir);
            let identity = format!(
                "tesseract {version}; lang {}; psm {}; dpi {}; tessdata {}",
                settings.lang,
                settings.psm,
                settings.dpi.map_or("auto".into(), |d| d.to_string()),
                settings.tessdata.as_deref().unwrap_or("default"),
            );
            let processor = format!(
                "tesseract {version} ({}, psm {}{})",
                settings.lang,
                settings.psm,
                settings
                    .dpi
                    .map(|d| format!(", {d} dpi"))
                    .unwrap_or_default()
            );
            let cache = Cache::new(&cache_root, &identity);
            cache.write_identity(&identity);
            let threads = op.threads.unwrap_or_else(|| {
                std::thread::available_parallelism().map_or(1, std::num::NonZero::get)
            });

            let total = sluice_data::export::dataset_rows(&input)?;
            let mut rejected = Rejected::default();
            let mut engines: Vec<Engine> = Vec::new();
            let (mut read, mut cached, mut done) = (0u64, 0u64, 0u64);
            let info = extend(&input, &target, &op.added(), |batch| {
                let (mut found, jobs) = op.plan(batch, &workdir, &cache, &mut rejected, &log)?;
                cached += found.len() as u64;
                done += found.len() as u64;
                if !jobs.is_empty() {
                    if engines.is_empty() {
                        for _ in 0..threads.min(total as usize).max(1) {
                            engines.push(Engine::new(&settings).map_err(not_installed)?);
                        }
                    }
                    let counter = AtomicUsize::new(done as usize);
                    let tick = || {
                        let d = counter.fetch_add(1, Ordering::Relaxed) + 1;
                        if let Some(p) = &progress {
                            p(d as u64, total);
                        }
                    };
                    let results =
                        read_all(&jobs, &mut engines, &cache, op.max_pixels, &cancel, &tick)?;
                    for (job, r) in jobs.iter().zip(results) {
                        match r {
                            Ok(c) => {
                                read += 1;
                                found.push((job.row, c));
                            }
                            Err(reason) => rejected.push(
                                &log,
                                Rejection {
                                    source: job.path.display().to_string(),
                                    id: Some(job.id.clone()),
                                    page: Some(job.page),
                                    reason,
                                },
                            ),
                        }
                    }
                    done += jobs.len() as u64;
                }
                found.sort_by_key(|(i, _)| *i);
                let rows = found.iter().map(|(i, _)| *i as u32).collect();
                Ok((rows, columns(&found, &processor)))
            })?;
            rejected.write(&target)?;
            let _ = log.line(&format!(
                "{processor}: {read} pages read, {cached} from the cache, {} rejected",
                rejected.len()
            ));
            Ok(OpOutput {
                metrics: counters(&[
                    ("read", read),
                    ("cached", cached),
                    ("rejected", rejected.len() as u64),
                    ("pages", info.rows),
                ]),
                dataset: Some(info.into()),
                ..OpOutput::default()
            })
        })
        .await
    }

    fn reads(&self) -> Vec<String> {
        vec![self.input.clone()]
    }

    fn produces_dataset(&self) -> bool {
        true
    }
}
