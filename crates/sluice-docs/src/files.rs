//! `read.files`: files as documents, each known by the SHA-1 of its bytes.
//!
//! The dataset holds every document ever ingested by the task (the previous version's rows,
//! then the new ones): a file whose bytes were ingested before, under any name, is skipped
//! and counted, and a file whose path, size and modification time did not change since the
//! last run is not even read again. Each new document is copied into the task's raw folder as
//! `<id[0]>/<id[1]>/<id>.<ext>` (the seed's layout), so the drop folder may be emptied
//! without losing anything, and `path` points at that copy.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use sha1::{Digest, Sha1};
use sluice_data::export::{dataset_schema, for_each_batch};
use sluice_data::rows::{ColumnType, RowWriter, Value};
use sluice_op::{Op, OpError, OpOutput, TaskContext, blocking, counters, file_stamp};

use crate::rejected::{Rejected, Rejection};

/// The media types accepted when `accept` is not given: the images the seed scans.
pub const IMAGES: &[&str] = &["image/png", "image/jpeg", "image/tiff", "image/bmp"];

fn default_accept() -> Vec<String> {
    IMAGES.iter().map(|s| (*s).to_string()).collect()
}

fn default_true() -> bool {
    true
}

fn default_max_size() -> u64 {
    256 << 20
}

/// `op: read.files`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReadFiles {
    /// A folder (every file under it), a file or a glob, relative to the pipeline file.
    #[serde(default)]
    pub path: Option<String>,
    /// Or the files downloaded by a `fetch` task.
    #[serde(default)]
    pub files: Option<String>,
    /// Media types accepted, as sniffed from the bytes (default PNG, JPEG, TIFF and BMP
    /// images; `"*"` accepts any). Other files are rejected.
    #[serde(default = "default_accept")]
    pub accept: Vec<String>,
    /// Fields read from a file beside each document, by column name: `label: {file:
    /// label.txt, type: int, min: 0, max: 15}`. Sidecar files are never documents.
    #[serde(default)]
    pub sidecars: BTreeMap<String, Sidecar>,
    /// Keep a copy of each new document in the task's raw folder, by id (default true).
    #[serde(default = "default_true")]
    pub keep_copy: bool,
    /// Reject files larger than this many bytes (default 256 MiB).
    #[serde(default = "default_max_size")]
    pub max_size: u64,
}

/// A field read from a file beside the document.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sidecar {
    /// The file's name, in the document's folder (`label.txt`).
    pub file: String,
    /// `text` (default) or `int`.
    #[serde(default, rename = "type")]
    pub kind: SidecarKind,
    /// For `int`: the smallest value accepted.
    #[serde(default)]
    pub min: Option<i64>,
    /// For `int`: the largest value accepted.
    #[serde(default)]
    pub max: Option<i64>,
    /// Whether a document without it is rejected (default true); otherwise the field is null.
    #[serde(default = "default_true")]
    pub required: bool,
}

/// The type of a sidecar field.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum SidecarKind {
    /// Its text, trimmed.
    #[default]
    Text,
    /// An integer.
    Int,
}

/// Builds `read.files`, checking its keys.
pub fn build(config: &sluice_core::Node) -> Result<Box<dyn Op>, sluice_core::DeError> {
    let op: ReadFiles = sluice_core::from_node(config)?;
    op.check()
        .map_err(<sluice_core::DeError as serde::de::Error>::custom)?;
    Ok(Box::new(op))
}

/// What the op keeps for the next run: each file seen (not rejected), by source, with what
/// tells that it did not change.
/// (A change of sidecars changes the dataset's schema: then every file is read afresh.)
#[derive(Debug, Default, Serialize, Deserialize)]
struct State {
    /// Source → (size, modification time in ns, id).
    seen: BTreeMap<String, (u64, u128, String)>,
}

/// Counters of one run.
#[derive(Debug, Default)]
struct Counts {
    files: u64,
    new: u64,
    already: u64,
    unchanged: u64,
}

impl ReadFiles {
    /// A `read.files` task's `config` made to read the one file `file` instead of its
    /// folder: what a prediction of an uploaded document replays. Sidecars become optional
    /// (an upload has none: their columns are null) and no copy is kept.
    pub fn for_upload(config: &sluice_core::Node, file: &Path) -> Result<ReadFiles, String> {
        let mut op: ReadFiles = sluice_core::from_node(config).map_err(|e| e.to_string())?;
        op.path = Some(file.display().to_string());
        op.files = None;
        op.keep_copy = false;
        for s in op.sidecars.values_mut() {
            s.required = false;
        }
        op.check()?;
        Ok(op)
    }

    /// Why a document whose bytes are `media` is refused, or `None` when it is accepted.
    pub fn refusal(&self, media: &str) -> Option<String> {
        (!self.accepts(media)).then(|| not_accepted(media, &self.accept))
    }

    fn check(&self) -> Result<(), String> {
        match (&self.path, &self.files) {
            (Some(_), None) | (None, Some(_)) => {}
            (Some(_), Some(_)) => return Err("give `path` or `files`, not both".into()),
            (None, None) => {
                return Err(
                    "give `path` (a folder, file or glob) or `files` (a fetch task)".into(),
                );
            }
        }
        if self.accept.is_empty() {
            return Err("`accept` lists no media type (use \"*\" to accept any)".into());
        }
        for (name, s) in &self.sidecars {
            if [
                "id",
                "path",
                "source",
                "name",
                "size",
                "media_type",
                "ingested_at",
            ]
            .contains(&name.as_str())
            {
                return Err(format!(
                    "sidecar `{name}` would replace a column of read.files"
                ));
            }
            if s.file.contains('/') || s.file.is_empty() {
                return Err(format!(
                    "sidecar `{name}`: `file` is a file name in the document's folder"
                ));
            }
            if s.kind == SidecarKind::Text && (s.min.is_some() || s.max.is_some()) {
                return Err(format!("sidecar `{name}`: `min`/`max` need `type: int`"));
            }
        }
        Ok(())
    }

    fn columns(&self) -> Vec<(String, ColumnType)> {
        let mut cols: Vec<(String, ColumnType)> = [
            ("id", ColumnType::Text),
            ("path", ColumnType::Text),
            ("source", ColumnType::Text),
            ("name", ColumnType::Text),
            ("size", ColumnType::Int),
            ("media_type", ColumnType::Text),
            ("ingested_at", ColumnType::Text),
        ]
        .iter()
        .map(|(n, t)| ((*n).to_string(), *t))
        .collect();
        for (name, s) in &self.sidecars {
            let t = match s.kind {
                SidecarKind::Text => ColumnType::Text,
                SidecarKind::Int => ColumnType::Int,
            };
            cols.push((name.clone(), t));
        }
        cols
    }

    fn is_sidecar(&self, path: &Path) -> bool {
        let name = path.file_name().map(|n| n.to_string_lossy());
        name.is_some_and(|n| n.starts_with('.') || self.sidecars.values().any(|s| s.file == n))
    }

    /// The candidate files, sorted, sidecars and hidden files left out.
    fn list(&self, workdir: &Path, fetched: Option<&Path>) -> Result<Vec<PathBuf>, OpError> {
        let mut out = match (&self.path, fetched) {
            (_, Some(dir)) => fetched_paths(dir)?,
            (Some(p), None) => list_path(workdir, p)?,
            (None, None) => Vec::new(),
        };
        out.retain(|p| !self.is_sidecar(p));
        Ok(out)
    }

    fn sidecar_values(&self, file: &Path) -> Result<Vec<Value>, String> {
        let dir = file.parent().unwrap_or(Path::new("."));
        let mut out = Vec::new();
        for s in self.sidecars.values() {
            let path = dir.join(&s.file);
            let text = match std::fs::read_to_string(&path) {
                Ok(t) => t.trim().to_string(),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    if s.required {
                        return Err(format!(
                            "{} is missing beside it (add it, or make the sidecar `required: false`)",
                            s.file
                        ));
                    }
                    out.push(Value::Null);
                    continue;
                }
                Err(e) => return Err(format!("{} cannot be read: {e}", s.file)),
            };
            match s.kind {
                SidecarKind::Text => out.push(Value::Text(text)),
                SidecarKind::Int => {
                    let n: i64 = text.parse().map_err(|_| {
                        format!("{} holds `{}`, not an integer", s.file, shorten(&text))
                    })?;
                    if s.min.is_some_and(|m| n < m) || s.max.is_some_and(|m| n > m) {
                        return Err(format!(
                            "{} holds {n}, outside {}–{}",
                            s.file,
                            s.min.map_or("…".into(), |m| m.to_string()),
                            s.max.map_or("…".into(), |m| m.to_string())
                        ));
                    }
                    out.push(Value::Int(n));
                }
            }
        }
        Ok(out)
    }

    fn accepts(&self, media: &str) -> bool {
        self.accept.iter().any(|a| a == "*" || a == media)
    }

    /// Every sidecar file of the listed documents, for the fingerprint.
    fn stamp_files(&self, listed: &[PathBuf]) -> Vec<PathBuf> {
        let mut out: Vec<PathBuf> = listed.to_vec();
        let dirs: HashSet<&Path> = listed.iter().filter_map(|p| p.parent()).collect();
        for d in dirs {
            for s in self.sidecars.values() {
                let p = d.join(&s.file);
                if p.exists() {
                    out.push(p);
                }
            }
        }
        out.sort();
        out.dedup();
        out
    }
}

fn shorten(s: &str) -> String {
    let mut t: String = s.chars().take(40).collect();
    if t.len() < s.len() {
        t.push('…');
    }
    t
}

/// The files of a folder (recursively), a glob's files, or the one file.
fn list_path(workdir: &Path, pattern: &str) -> Result<Vec<PathBuf>, OpError> {
    let full = workdir.join(pattern);
    let text = full.to_string_lossy().to_string();
    let mut out = Vec::new();
    if text.contains(['*', '?', '[']) {
        let paths = glob_paths(&text)?;
        for p in paths {
            if p.is_dir() {
                walk(&p, &mut out)?;
            } else {
                out.push(p);
            }
        }
    } else if full.is_dir() {
        walk(&full, &mut out)?;
    } else if full.exists() {
        out.push(full);
    } else {
        return Err(OpError::config(format!(
            "{}: no such file or folder",
            full.display()
        )));
    }
    out.sort();
    out.dedup();
    Ok(out)
}

fn glob_paths(pattern: &str) -> Result<Vec<PathBuf>, OpError> {
    // An empty drop folder is not an error: nothing new arrived.
    match sluice_data::expand_paths(Path::new("/"), pattern) {
        Ok(p) => Ok(p),
        Err(sluice_data::DataError::Malformed { message, .. })
            if message.starts_with("no file matches") =>
        {
            Ok(Vec::new())
        }
        Err(e) => Err(OpError::config(e.to_string())),
    }
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), OpError> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| OpError::config(format!("{}: cannot list this folder: {e}", dir.display())))?;
    for entry in entries {
        let entry = entry.map_err(|e| OpError::config(format!("{}: {e}", dir.display())))?;
        let path = entry.path();
        if path.is_dir() {
            walk(&path, out)?;
        } else {
            out.push(path);
        }
    }
    Ok(())
}

/// The `path` column of a `fetch` task's dataset.
fn fetched_paths(dir: &Path) -> Result<Vec<PathBuf>, OpError> {
    let mut out = Vec::new();
    for_each_batch(dir, |_, batch| {
        let batch = &batch;
        let paths = crate::rows::texts(batch, "path", "files")
            .map_err(|e| sluice_data::DataError::Engine(e.to_string()))?;
        out.extend(paths.into_iter().flatten().map(PathBuf::from));
        Ok(())
    })?;
    Ok(out)
}

fn mtime_ns(meta: &std::fs::Metadata) -> u128 {
    meta.modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos())
}

/// A document's id: the SHA-1 of its bytes, in hex (the seed's).
pub fn document_id(bytes: &[u8]) -> String {
    hex::encode(Sha1::digest(bytes))
}

/// The media type of `bytes`, sniffed from their first bytes.
pub fn sniff(bytes: &[u8]) -> String {
    match infer::get(bytes) {
        Some(t) => t.mime_type().to_string(),
        None if std::str::from_utf8(bytes).is_ok() => "text/plain".into(),
        None => "application/octet-stream".into(),
    }
}

/// The extension a stored copy gets for a media type.
fn extension(media: &str, source: &Path) -> String {
    match media {
        "image/png" => "png".into(),
        "image/jpeg" => "jpg".into(),
        "image/tiff" => "tif".into(),
        "image/bmp" => "bmp".into(),
        "application/pdf" => "pdf".into(),
        _ => source
            .extension()
            .map(|e| e.to_string_lossy().to_lowercase())
            .filter(|e| e.len() <= 8 && e.chars().all(|c| c.is_ascii_alphanumeric()))
            .unwrap_or_else(|| "bin".into()),
    }
}

/// What to say when a media type is not accepted.
fn not_accepted(media: &str, accept: &[String]) -> String {
    let hint = if media == "application/pdf" {
        "; PDF documents are not supported yet: convert them to images (pdftoppm -png)"
    } else {
        ""
    };
    format!(
        "its bytes are {media}, which is not accepted (accepted: {}){hint}",
        accept.join(", ")
    )
}

/// Copies `bytes` to `<raw>/<id[0]>/<id[1]>/<id>.<ext>` unless it is there: written to a
/// temporary name, synced, then renamed.
fn keep(raw: &Path, id: &str, ext: &str, bytes: &[u8]) -> Result<PathBuf, OpError> {
    let dir = raw.join(&id[..1]).join(&id[1..2]);
    let path = dir.join(format!("{id}.{ext}"));
    if path.exists() {
        return Ok(path);
    }
    let failed =
        |e: std::io::Error| OpError::io(format!("{}: cannot keep a copy", path.display()), &e);
    std::fs::create_dir_all(&dir).map_err(failed)?;
    let tmp = dir.join(format!(".{id}.{}.tmp", std::process::id()));
    {
        use std::io::Write as _;
        let mut f = std::fs::File::create(&tmp).map_err(failed)?;
        f.write_all(bytes).map_err(failed)?;
        f.sync_all().map_err(failed)?;
    }
    std::fs::rename(&tmp, &path).map_err(failed)?;
    Ok(path)
}

fn shown(workdir: &Path, p: &Path) -> String {
    p.strip_prefix(workdir).unwrap_or(p).display().to_string()
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

#[async_trait]
impl Op for ReadFiles {
    async fn run(&self, ctx: &TaskContext) -> Result<OpOutput, OpError> {
        let op = self.clone();
        let workdir = ctx.workdir.clone();
        let fetched = match &self.files {
            Some(task) => Some(ctx.input(task)?.to_path_buf()),
            None => None,
        };
        let target = ctx.output()?.clone();
        let raw = ctx.raw_dir.clone();
        let log = ctx.log.clone();
        let cancel = ctx.cancel.clone();
        let previous = ctx.previous.clone();
        blocking(move || {
            let columns = op.columns();
            let cols: Vec<(&str, ColumnType)> =
                columns.iter().map(|(n, t)| (n.as_str(), *t)).collect();
            let mut w = RowWriter::new(&target, &cols);

            // What the previous version holds, when it has the same columns.
            let mut state = State::default();
            let mut known: HashMap<String, String> = HashMap::new(); // id → source
            if let Some(prev) = &previous {
                let old: Option<State> = prev
                    .state
                    .clone()
                    .and_then(|s| serde_json::from_value(s).ok());
                let same = dataset_schema(&prev.dir)
                    .map(|s| s.as_ref() == w.schema().as_ref())
                    .unwrap_or(false);
                match old {
                    Some(old) if same => {
                        for_each_batch(&prev.dir, |_, batch| {
 let batch = &batch;
                            let ids = crate::rows::texts(batch, "id", "read.files")
                                .map_err(|e| sluice_data::DataError::Engine(e.to_string()))?;
                            let sources = crate::rows::texts(batch, "source", "read.files")
                                .map_err(|e| sluice_data::DataError::Engine(e.to_string()))?;
                            for (id, src) in ids.into_iter().zip(sources) {
                                if let Some(id) = id {
                                    known.insert(id, src.unwrap_or_default());
                                }
                            }
                            w.write_batch(batch)
                        })?;
                        state.seen = old.seen;
                    }
                    _ => {
                        let _ = log.line(
                            "the sidecars changed since the last run: every file is read again",
                        );
                    }
                }
            }

            let listed = op.list(&workdir, fetched.as_deref())?;
            let mut rejected = Rejected::default();
            let mut counts = Counts::default();
            let mut seen: BTreeMap<String, (u64, u128, String)> = BTreeMap::new();
            for file in &listed {
                if cancel.is_cancelled() {
                    return Err(OpError::cancelled("stopped"));
                }
                counts.files += 1;
                let source = shown(&workdir, file);
                let reject = |rejected: &mut Rejected, id: Option<String>, reason: String| {
                    rejected.push(
                        &log,
                        Rejection {
                            source: source.clone(),
                            id,
                            page: None,
                            reason,
                        },
                    );
                };
                let meta = match std::fs::metadata(file) {
                    Ok(m) => m,
                    Err(e) => {
                        reject(&mut rejected, None, format!("cannot be read: {e}"));
                        continue;
                    }
                };
                let (size, mtime) = (meta.len(), mtime_ns(&meta));
                if let Some((s, m, id)) = state.seen.get(&source)
                    && *s == size
                    && *m == mtime
                    && known.contains_key(id)
                {
                    counts.already += 1;
                    counts.unchanged += 1;
                    seen.insert(source.clone(), (size, mtime, id.clone()));
                    continue;
                }
                if size == 0 {
                    reject(&mut rejected, None, "empty file (0 bytes)".into());
                    continue;
                }
                if size > op.max_size {
                    reject(
                        &mut rejected,
                        None,
                        format!(
                            "{size} bytes, more than max_size ({} bytes)",
                            op.max_size
                        ),
                    );
                    continue;
                }
                let bytes = match std::fs::read(file) {
                    Ok(b) => b,
                    Err(e) => {
                        reject(&mut rejected, None, format!("cannot be read: {e}"));
                        continue;
                    }
                };
                let id = document_id(&bytes);
                if let Some(first) = known.get(&id) {
                    counts.already += 1;
                    if *first != source {
                        let _ = log.line(&format!(
                            "{source}: the same bytes as {first} (document {id}), already ingested: skipped"
                        ));
                    }
                    seen.insert(source.clone(), (size, mtime, id));
                    continue;
                }
                let media = sniff(&bytes);
                if !op.accepts(&media) {
                    reject(&mut rejected, Some(id), not_accepted(&media, &op.accept));
                    continue;
                }
                let extra = match op.sidecar_values(file) {
                    Ok(v) => v,
                    Err(reason) => {
                        reject(&mut rejected, Some(id), reason);
                        continue;
                    }
                };
                let stored = if op.keep_copy {
                    keep(&raw, &id, &extension(&media, file), &bytes)?
                } else {
                    file.clone()
                };
                let name = file
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let mut row = vec![
                    Value::from(id.as_str()),
                    Value::from(stored.display().to_string()),
                    Value::from(source.as_str()),
                    Value::from(name),
                    Value::Int(size as i64),
                    Value::from(media),
                    Value::from(now()),
                ];
                row.extend(extra);
                w.push(row)?;
                counts.new += 1;
                known.insert(id.clone(), source.clone());
                seen.insert(source.clone(), (size, mtime, id));
            }
            let info = w.finish()?;
            rejected.write(&target)?;
            let _ = log.line(&format!(
                "{} files: {} new documents, {} already ingested, {} rejected; {} documents in all",
                counts.files,
                counts.new,
                counts.already,
                rejected.len(),
                info.rows
            ));
            state.seen = seen;
            Ok(OpOutput {
                metrics: counters(&[
                    ("files", counts.files),
                    ("new", counts.new),
                    ("already_ingested", counts.already),
                    ("unchanged", counts.unchanged),
                    ("rejected", rejected.len() as u64),
                    ("documents", info.rows),
                ]),
                dataset: Some(info.into()),
                state: Some(serde_json::to_value(&state).map_err(|e| OpError::internal(e.to_string()))?),
                ..OpOutput::default()
            })
        })
        .await
    }

    fn reads(&self) -> Vec<String> {
        self.files.iter().cloned().collect()
    }

    fn produces_dataset(&self) -> bool {
        true
    }

    fn input_stamp(&self, workdir: &Path) -> Result<String, OpError> {
        match &self.path {
            Some(p) => {
                let listed = list_path(workdir, p)?;
                Ok(file_stamp(&self.stamp_files(&listed)))
            }
            None => Ok(String::new()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_data::DatasetTarget;
    use sluice_op::Previous;

    fn png(shade: u8) -> Vec<u8> {
        let img = image::GrayImage::from_pixel(4, 3, image::Luma([shade]));
        crate::image::png(&image::DynamicImage::ImageLuma8(img)).expect("png")
    }

    fn doc(root: &Path, name: &str, file: &str, bytes: &[u8], label: Option<&str>) {
        let d = root.join("in").join(name);
        std::fs::create_dir_all(&d).expect("dir");
        std::fs::write(d.join(file), bytes).expect("file");
        if let Some(l) = label {
            std::fs::write(d.join("label.txt"), l).expect("label");
        }
    }

    fn op() -> ReadFiles {
        let node = sluice_core::yaml::parse(
            "path: in\nsidecars:\n  label: {file: label.txt, type: int, min: 0, max: 15}\n",
        )
        .expect("yaml");
        sluice_core::from_node(&node).expect("config")
    }

    async fn run(root: &Path, out: &str, previous: Option<Previous>) -> OpOutput {
        let mut ctx = TaskContext::for_test(root, "ingest");
        let dir = root.join(out);
        std::fs::create_dir_all(&dir).expect("out");
        ctx.output = Some(DatasetTarget::new(&dir));
        ctx.previous = previous;
        op().run(&ctx).await.expect("run")
    }

    fn rows(dir: &Path, column: &str) -> Vec<String> {
        let mut out = Vec::new();
        for_each_batch(dir, |_, b| {
            out.extend(
                crate::rows::texts(&b, column, "t")
                    .expect("column")
                    .into_iter()
                    .map(Option::unwrap_or_default),
            );
            Ok(())
        })
        .expect("read");
        out
    }

    #[tokio::test]
    async fn documents_by_content_rejections_with_reasons_and_nothing_twice() {
        let tmp = tempfile::tempdir().expect("tmp");
        let root = tmp.path();
        doc(root, "a", "page.png", &png(10), Some("3\n"));
        doc(root, "b", "scan.png", &png(10), Some("3")); // the same bytes as a
        doc(
            root,
            "c",
            "page.pdf",
            b"%PDF-1.4\n%\xe2\xe3\n1 0 obj\n<<>>\nendobj\n",
            Some("1"),
        );
        doc(root, "d", "page.png", &png(20), None);
        doc(root, "e", "page.png", &png(30), Some("x"));
        doc(root, "f", "page.png", b"", Some("1"));
        let first = run(root, "v1", None).await;
        let m = &first.metrics;
        assert_eq!(
            (
                m["files"].as_u64(),
                m["new"].as_u64(),
                m["already_ingested"].as_u64(),
                m["rejected"].as_u64()
            ),
            (Some(6), Some(1), Some(1), Some(4)),
            "{m:?}"
        );
        let v1 = root.join("v1");
        let ids = rows(&v1, "id");
        assert_eq!(ids, vec![hex::encode(Sha1::digest(png(10)))]);
        // The copy kept by id.
        let stored = rows(&v1, "path");
        let id = &ids[0];
        assert!(
            stored[0].ends_with(&format!("raw/{}/{}/{id}.png", &id[..1], &id[1..2])),
            "{stored:?}"
        );
        assert_eq!(std::fs::read(&stored[0]).expect("copy"), png(10));
        let reasons: Vec<(String, String)> = rows(&v1.join("rejected"), "source")
            .into_iter()
            .zip(rows(&v1.join("rejected"), "reason"))
            .collect();
        assert_eq!(
            reasons,
            vec![
                (
                    "in/c/page.pdf".to_string(),
                    "its bytes are application/pdf, which is not accepted (accepted: image/png, image/jpeg, image/tiff, image/bmp); PDF documents are not supported yet: convert them to images (pdftoppm -png)".to_string()
                ),
                (
                    "in/d/page.png".to_string(),
                    "label.txt is missing beside it (add it, or make the sidecar `required: false`)".to_string()
                ),
                ("in/e/page.png".to_string(), "label.txt holds `x`, not an integer".to_string()),
                ("in/f/page.png".to_string(), "empty file (0 bytes)".to_string()),
            ]
        );

        // Next run: d gets its label, g arrives; a and b are not read again.
        std::fs::write(root.join("in/d/label.txt"), "15").expect("label");
        doc(root, "g", "page.png", &png(40), Some("0"));
        let previous = Previous {
            version: "v1".into(),
            dir: v1.clone(),
            state: first.state.clone(),
        };
        let second = run(root, "v2", Some(previous)).await;
        let m = &second.metrics;
        assert_eq!(
            (
                m["new"].as_u64(),
                m["already_ingested"].as_u64(),
                m["unchanged"].as_u64(),
                m["rejected"].as_u64(),
                m["documents"].as_u64()
            ),
            (Some(2), Some(2), Some(2), Some(3), Some(3)),
            "{m:?}"
        );
        assert_eq!(
            rows(&root.join("v2"), "source"),
            vec!["in/a/page.png", "in/d/page.png", "in/g/page.png"]
        );
    }

    /// A TIFF of three pages.
    fn tiff3() -> Vec<u8> {
        let mut bytes = std::io::Cursor::new(Vec::new());
        {
            let mut enc = tiff::encoder::TiffEncoder::new(&mut bytes).expect("tiff");
            for (w, h) in [(30u32, 20u32), (40, 50), (10, 10)] {
                let data = vec![200u8; (w * h) as usize];
                enc.write_image::<tiff::encoder::colortype::Gray8>(w, h, &data)
                    .expect("page");
            }
        }
        bytes.into_inner()
    }

    #[tokio::test]
    async fn pages_all_gives_a_row_per_page_and_an_upload_needs_no_sidecar() {
        let tmp = tempfile::tempdir().expect("tmp");
        let root = tmp.path();
        doc(root, "a", "scan.tif", &tiff3(), Some("2"));
        doc(root, "b", "page.png", &png(10), Some("1"));
        run(root, "v1", None).await;
        let node = sluice_core::yaml::parse("input: ingest\npages: all\n").expect("yaml");
        let image = crate::image::build(&node).expect("image op");
        let mut ctx = TaskContext::for_test(root, "pages");
        ctx.inputs.insert("ingest".into(), root.join("v1"));
        let out = root.join("pages");
        std::fs::create_dir_all(&out).expect("out");
        ctx.output = Some(DatasetTarget::new(&out));
        image.run(&ctx).await.expect("pages");
        let mut got: Vec<(String, i64, i64, i64)> = Vec::new();
        for_each_batch(&out, |_, b| {
            let names = crate::rows::texts(&b, "name", "t").expect("names");
            let (page, pages, width) = (
                crate::rows::ints(&b, "page"),
                crate::rows::ints(&b, "pages"),
                crate::rows::ints(&b, "width"),
            );
            for i in 0..b.num_rows() {
                got.push((
                    names[i].clone().unwrap_or_default(),
                    page[i].unwrap_or(-1),
                    pages[i].unwrap_or(-1),
                    width[i].unwrap_or(-1),
                ));
            }
            Ok(())
        })
        .expect("read");
        got.sort();
        assert_eq!(
            got,
            vec![
                ("page.png".to_string(), 1, 1, 4),
                ("scan.tif".to_string(), 1, 3, 30),
                ("scan.tif".to_string(), 2, 3, 40),
                ("scan.tif".to_string(), 3, 3, 10),
            ]
        );

        // An upload: the task's settings on one file, its sidecar optional, no copy kept.
        let file = root.join("upload/document.png");
        std::fs::create_dir_all(file.parent().expect("parent")).expect("dir");
        std::fs::write(&file, png(30)).expect("upload");
        let config = sluice_core::yaml::parse(
            "path: in\nsidecars:\n  label: {file: label.txt, type: int, min: 0, max: 15}\n",
        )
        .expect("yaml");
        let upload = ReadFiles::for_upload(&config, &file).expect("for upload");
        assert_eq!(upload.refusal("image/png"), None);
        assert!(
            upload
                .refusal("application/pdf")
                .is_some_and(|r| r.contains("pdftoppm"))
        );
        let mut ctx = TaskContext::for_test(root, "ingest");
        let out = root.join("uploaded");
        std::fs::create_dir_all(&out).expect("out");
        ctx.output = Some(DatasetTarget::new(&out));
        let m = upload.run(&ctx).await.expect("upload").metrics;
        assert_eq!(
            (m["new"].as_u64(), m["rejected"].as_u64()),
            (Some(1), Some(0))
        );
        assert_eq!(rows(&out, "path"), vec![file.display().to_string()]);
        let mut labels = Vec::new();
        for_each_batch(&out, |_, b| {
            labels.extend(crate::rows::ints(&b, "label"));
            Ok(())
        })
        .expect("read");
        assert_eq!(labels, vec![None]);
        let id = document_id(&png(30));
        let copy = root
            .join("raw")
            .join(&id[..1])
            .join(&id[1..2])
            .join(format!("{id}.png"));
        assert!(!copy.exists(), "{}", copy.display());
    }
}
