//! Predictions of an uploaded document (`POST /api/models/{pipeline}/{task}/predict` with a
//! multipart `image`): the model's own pipeline, from its `read.files` task down to the
//! `train` task's input, is replayed on the one file ([`sluice_engine::Engine::replay`]) —
//! the ops and settings that made the training rows make the document's row, with the OCR
//! and vector caches of the runs — and the model scores that row.
//!
//! Before any work: the file's size (at most [`MAX_UPLOAD`] and the task's `max_size`), its
//! type sniffed from its bytes (the task's `accept`, else 415) and its pixel count from the
//! image header (at most [`sluice_docs::image::MAX_PIXELS`], else 413).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::Multipart;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sluice_core::{Pipeline, TaskKind};
use sluice_data::datafusion::arrow::record_batch::RecordBatch;
use sluice_docs::files::ReadFiles;
use sluice_engine::replay::upstream;

use crate::App;
use crate::catalog::Catalog;
use crate::error::{ApiError, ApiResult};

/// The largest document a prediction takes, in bytes (32 MiB).
pub const MAX_UPLOAD: usize = 32 << 20;

/// The most a prediction request's body may carry before the connection is dropped: a
/// document over [`MAX_UPLOAD`] is read to its end (up to this) so that the client, still
/// sending, gets its 413 instead of a broken connection.
pub const MAX_BODY: usize = 4 * MAX_UPLOAD;

/// Documents read at once; more wait (up to a minute) for one to finish.
pub const AT_ONCE: usize = 2;

/// How long a document waits for its turn before the answer is 429.
const WAIT: Duration = Duration::from_secs(60);

/// The op an uploaded document replays from.
const SOURCE_OP: &str = "read.files";

/// Text fields longer than this are cut in the answer's `document`.
const TEXT_SHOWN: usize = 4000;

/// A document sent for prediction.
#[derive(Debug)]
pub struct Upload {
    /// Its bytes.
    pub bytes: Vec<u8>,
    /// The name the client gave it.
    pub name: String,
}

/// The multipart form of a document prediction (the schema of the OpenAPI document).
#[derive(Debug, Deserialize, Serialize, utoipa::ToSchema)]
pub struct UploadForm {
    /// The document: a PNG, JPEG, TIFF or BMP image (what the model's `read.files` task
    /// accepts), at most 32 MiB.
    #[schema(value_type = String, format = Binary)]
    pub image: String,
}

/// What the pipeline made of the document: the scalar columns of its row (the OCR text, its
/// confidence, the page's size…).
pub type DocumentRow = Map<String, Value>;

/// Reads the field `image` (or `file`, `document`) of a multipart form, refusing more than
/// [`MAX_UPLOAD`] bytes as it arrives.
pub async fn read_upload(mut form: Multipart) -> ApiResult<Upload> {
    let too_large = || {
        ApiError::TooLarge(format!(
            "the document is larger than {} MiB, the most a prediction takes",
            MAX_UPLOAD >> 20
        ))
    };
    let multipart = |e: axum::extract::multipart::MultipartError| {
        if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
            too_large()
        } else {
            ApiError::BadRequest(format!(
                "the multipart body cannot be read: {}",
                e.body_text()
            ))
        }
    };
    while let Some(mut field) = form.next_field().await.map_err(multipart)? {
        if !matches!(field.name(), Some("image" | "file" | "document")) {
            continue;
        }
        let name = field.file_name().unwrap_or("document").to_string();
        let mut bytes = Vec::new();
        while let Some(chunk) = field.chunk().await.map_err(multipart)? {
            if bytes.len() + chunk.len() > MAX_UPLOAD {
                // Read the rest (up to MAX_BODY), so that the client reads the answer.
                drop(bytes);
                while let Ok(Some(_)) = field.chunk().await {}
                while let Ok(Some(mut rest)) = form.next_field().await {
                    while let Ok(Some(_)) = rest.chunk().await {}
                }
                return Err(too_large());
            }
            bytes.extend_from_slice(&chunk);
        }
        if bytes.is_empty() {
            return Err(ApiError::BadRequest(format!(
                "the document `{name}` is empty (0 bytes)"
            )));
        }
        return Ok(Upload { bytes, name });
    }
    Err(ApiError::BadRequest(
        "no document in the form: send it as the multipart field `image`".into(),
    ))
}

/// Where a document's row comes from: the pipeline, its `read.files` task and the train
/// task's input.
struct Route {
    pipeline: Pipeline,
    source: String,
    config: sluice_core::Node,
    input: String,
}

/// The `read.files` task and the input task (indices) of model `task` of `p`.
fn source_of(p: &Pipeline, task: &str) -> ApiResult<(usize, usize)> {
    let pipeline = &p.name;
    let train = p
        .task_index(task)
        .ok_or_else(|| ApiError::NotFound(format!("pipeline `{pipeline}` has no task `{task}`")))?;
    let input = p.tasks[train]
        .deps
        .iter()
        .copied()
        .find(|&d| p.tasks[d].produces_dataset)
        .ok_or_else(|| {
            ApiError::BadRequest(format!("task `{task}` reads no dataset: send `rows`"))
        })?;
    let sources: Vec<usize> = upstream(p, input)
        .into_iter()
        .filter(|&i| p.tasks[i].op() == Some(SOURCE_OP))
        .collect();
    match sources.as_slice() {
        [source] => Ok((*source, input)),
        [] => Err(ApiError::UnsupportedMedia(format!(
            "model `{pipeline}.{task}` is not trained on documents (no `{SOURCE_OP}` task upstream of `{}`): send JSON `rows`",
            p.tasks[input].name
        ))),
        many => Err(ApiError::BadRequest(format!(
            "model `{pipeline}.{task}` reads documents from {} `{SOURCE_OP}` tasks ({}): a prediction reads from one",
            many.len(),
            many.iter()
                .map(|&i| p.tasks[i].name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// The replay route of model `pipeline.task`, from the server's pipelines.
fn route(app: &App, pipeline: &str, task: &str) -> ApiResult<Route> {
    let catalog = app.catalog();
    let loaded = catalog.get(pipeline).ok_or_else(|| {
        ApiError::NotFound(format!(
            "pipeline `{pipeline}` is not among the server's pipelines (or its file has problems): a document is read by the pipeline that trained the model"
        ))
    })?;
    let p = &loaded.pipeline;
    let (source, input) = source_of(p, task)?;
    let TaskKind::Op { config, .. } = &p.tasks[source].kind else {
        return Err(ApiError::Internal(format!(
            "`{}` is not an op",
            p.tasks[source].name
        )));
    };
    Ok(Route {
        source: p.tasks[source].name.clone(),
        config: config.clone(),
        input: p.tasks[input].name.clone(),
        pipeline: p.clone(),
    })
}

/// Whether model `pipeline.task` of `catalog` predicts documents: a `read.files` task of its
/// pipeline feeds its input.
pub fn reads_documents(catalog: &Catalog, pipeline: &str, task: &str) -> bool {
    catalog
        .get(pipeline)
        .is_some_and(|l| source_of(&l.pipeline, task).is_ok())
}

/// A scratch folder, removed when dropped.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The rows the model's pipeline makes of `upload` (one per page read), after the checks
/// of the module's header.
pub async fn document_rows(
    app: &App,
    pipeline: &str,
    task: &str,
    upload: Upload,
) -> ApiResult<(Vec<RecordBatch>, DocumentRow)> {
    let route = route(app, pipeline, task)?;
    let scratch = Scratch(
        app.engine
            .warehouse()
            .root()
            .join(".scratch")
            .join(format!("predict-{:016x}", rand::random::<u64>())),
    );
    let media = sluice_docs::files::sniff(&upload.bytes);
    // Named by its type: the client's name could be a sidecar's (`label.txt`) or hidden.
    let extension = media.rsplit('/').next().unwrap_or("bin");
    let file = scratch
        .0
        .join("upload")
        .join(format!("document.{extension}"));
    let op = ReadFiles::for_upload(&route.config, &file).map_err(|e| {
        ApiError::BadRequest(format!("task `{}` of `{pipeline}`: {e}", route.source))
    })?;
    if upload.bytes.len() as u64 > op.max_size {
        return Err(ApiError::TooLarge(format!(
            "the document is {} bytes, more than task `{}`'s max_size ({})",
            upload.bytes.len(),
            route.source,
            op.max_size
        )));
    }
    if let Some(why) = op.refusal(&media) {
        return Err(ApiError::UnsupportedMedia(format!(
            "{}: {why}",
            upload.name
        )));
    }
    if media.starts_with("image/") {
        sluice_docs::image::check_pixels(&upload.bytes, 0, sluice_docs::image::MAX_PIXELS)
            .map_err(|why| ApiError::TooLarge(format!("{}: {why}", upload.name)))?;
    }
    let _turn = tokio::time::timeout(WAIT, app.documents.clone().acquire_owned())
        .await
        .map_err(|_| ApiError::Busy {
            what: format!("{AT_ONCE} documents are being read"),
            retry_after: 5,
        })?
        .map_err(|_| ApiError::Unavailable("the server is stopping".into()))?;
    let parent = file.parent().unwrap_or(&scratch.0).to_path_buf();
    let bytes = upload.bytes;
    let written = file.clone();
    tokio::task::spawn_blocking(move || {
        std::fs::create_dir_all(&parent)?;
        std::fs::write(&written, bytes)
    })
    .await
    .map_err(|e| ApiError::Internal(e.to_string()))?
    .map_err(|e| ApiError::Internal(format!("cannot keep the document for reading: {e}")))?;
    let replayed = app
        .engine
        .replay(
            &route.pipeline,
            &route.source,
            Arc::new(op),
            &route.input,
            &scratch.0,
            app.stop.child_token(),
        )
        .await
        .map_err(|e| ApiError::of_kind(e.kind, format!("{}: {}", upload.name, e.message)))?;
    if let Some(task) = replayed.kept_nothing {
        let why = sluice_docs::rejected::reasons(&replayed.dir);
        return Err(ApiError::Unprocessable(format!(
            "{}: task `{task}` kept nothing of it{}",
            upload.name,
            if why.is_empty() {
                String::new()
            } else {
                format!(": {}", why.join("; "))
            }
        )));
    }
    let dir = replayed.dir;
    let inside = scratch.0.display().to_string();
    tokio::task::spawn_blocking(move || {
        let mut batches = Vec::new();
        sluice_data::export::for_each_batch(&dir, |_, b| {
            batches.push(b);
            Ok(())
        })
        .map_err(|e| e.to_string())?;
        let first = sluice_vector::search::fetch_rows(&dir, &[0]).map_err(|e| e.to_string())?;
        Ok((
            batches,
            shown(first.into_iter().next().unwrap_or_default(), &inside),
        ))
    })
    .await
    .map_err(|e| ApiError::Internal(e.to_string()))?
    .map_err(|e: String| ApiError::Internal(format!("the document's row cannot be read: {e}")))
}

/// What the answer shows of a row: its scalar values (no lists, no objects), text cut to
/// [`TEXT_SHOWN`] characters, paths into the scratch folder `inside` left out.
fn shown(row: DocumentRow, inside: &str) -> DocumentRow {
    row.into_iter()
        .filter_map(|(k, v)| match v {
            Value::Array(_) | Value::Object(_) => None,
            Value::String(s) if s.starts_with(inside) => None,
            Value::String(s) if s.chars().count() > TEXT_SHOWN => Some((
                k,
                Value::from(format!(
                    "{}…",
                    s.chars().take(TEXT_SHOWN).collect::<String>()
                )),
            )),
            v => Some((k, v)),
        })
        .collect()
}
