//! `fetch`: downloads sources into the task's raw folder and writes a dataset of the files
//! (one row each: url, name, path, bytes, sha256, etag, last_modified, stamp, status,
//! fetched_at) for the parsers after it.
//!
//! It runs every time: an unchanged source costs one conditional request answered 304, and
//! the tasks after it stay cached, since its result is keyed by the checksums of its files.
//! What it must remember between runs (validators, the last file of a listing) is kept with
//! its dataset version in the state store.
//!
//! Two modes: `url` / `urls` (fixed files), or `listing` (a directory index: the newest full
//! dump then the dated deltas newer than the last one taken; see [`listing`]).

use std::path::{Path, PathBuf};
use std::time::Duration;

use async_trait::async_trait;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sluice_data::rows::{ColumnType, RowWriter, Value};

use crate::support::http::{self as download, Known, Limits, download};
use crate::support::listing;
use crate::support::size::de_size;
use crate::{Op, OpError, OpOutput, TaskContext, blocking};

fn default_concurrency() -> usize {
    4
}

fn default_request_retries() -> u32 {
    5
}

fn default_backoff() -> Duration {
    Duration::from_secs(1)
}

fn default_pattern() -> String {
    "*".into()
}

fn default_full() -> String {
    "Freemium_*".into()
}

/// `op: fetch`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fetch {
    /// One URL (`https://…`, `file://…` or a path relative to the pipeline file).
    #[serde(default)]
    pub url: Option<String>,
    /// Several URLs, fetched `concurrency` at a time.
    #[serde(default)]
    pub urls: Vec<String>,
    /// A directory index to pick files from.
    #[serde(default)]
    pub listing: Option<Listing>,
    /// Refuse a file larger than this (`500MB`, `2GiB`, or bytes).
    #[serde(default, deserialize_with = "de_size")]
    pub max_size: Option<u64>,
    /// Downloads at the same time (default 4).
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
    /// Retries of one request after a failure that may pass: a cut, a timeout, 429, 5xx
    /// (default 5). The task's own `retries` run the whole op again.
    #[serde(default = "default_request_retries")]
    pub request_retries: u32,
    /// First wait before retrying a request, doubled each time (default `1s`); a
    /// `Retry-After` from the server wins.
    #[serde(
        default = "default_backoff",
        deserialize_with = "sluice_core::duration::deserialize"
    )]
    pub backoff: Duration,
}

/// `listing:` of `op: fetch`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Listing {
    /// The index page (`https://echanges.dila.gouv.fr/OPENDATA/CNIL/`) or a local folder.
    pub url: String,
    /// Glob the file names must match (default `*`), e.g. `*.tar.gz`.
    #[serde(default = "default_pattern")]
    pub pattern: String,
    /// Glob naming the full dumps (default `Freemium_*`); other files are deltas.
    #[serde(default = "default_full")]
    pub full: String,
}

/// What the op keeps between runs.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct State {
    /// Every file of the current dataset.
    files: Vec<FileState>,
    /// Listing mode: the stamp of the last file taken.
    #[serde(default)]
    last_stamp: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct FileState {
    url: String,
    name: String,
    #[serde(flatten)]
    known: Known,
    #[serde(default)]
    stamp: Option<String>,
    fetched_at: String,
}

/// One row of the files dataset.
struct Row {
    file: FileState,
    path: PathBuf,
    status: &'static str,
}

const COLUMNS: &[(&str, ColumnType)] = &[
    ("url", ColumnType::Text),
    ("name", ColumnType::Text),
    ("path", ColumnType::Text),
    ("bytes", ColumnType::Int),
    ("sha256", ColumnType::Text),
    ("etag", ColumnType::Text),
    ("last_modified", ColumnType::Text),
    ("stamp", ColumnType::Text),
    ("status", ColumnType::Text),
    ("fetched_at", ColumnType::Text),
];

impl Fetch {
    fn check(&self) -> Result<(), String> {
        let fixed = self.url.is_some() || !self.urls.is_empty();
        match (fixed, &self.listing) {
            (true, Some(_)) => Err("give `url`/`urls` or `listing`, not both".into()),
            (false, None) => Err("give `url`, `urls` or `listing`".into()),
            _ if self.concurrency == 0 => Err("`concurrency` must be at least 1".into()),
            (_, Some(l)) => {
                for (key, p) in [("pattern", &l.pattern), ("full", &l.full)] {
                    glob::Pattern::new(p).map_err(|e| format!("listing `{key}`: {e}"))?;
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    fn limits(&self) -> Limits {
        Limits {
            max_bytes: self.max_size,
            retries: self.request_retries,
            base_delay: self.backoff,
            ..Limits::default()
        }
    }

    fn fixed_urls(&self) -> Vec<String> {
        self.url.iter().chain(&self.urls).cloned().collect()
    }
}

/// Builds `fetch`, checking that exactly one mode is given.
pub fn build_fetch(config: &sluice_core::Node) -> Result<Box<dyn Op>, sluice_core::DeError> {
    let op: Fetch = sluice_core::from_node(config)?;
    op.check()
        .map_err(<sluice_core::DeError as serde::de::Error>::custom)?;
    Ok(Box::new(op))
}

/// A relative local path is relative to the pipeline file.
fn resolve(url: &str, workdir: &Path) -> String {
    let is_url = url.contains("://");
    if !is_url && Path::new(url).is_relative() {
        return workdir.join(url).display().to_string();
    }
    url.to_string()
}

/// The last segment of a URL or path, without query.
fn last_segment(url: &str) -> &str {
    let path = url.split(['?', '#']).next().unwrap_or(url);
    path.trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or(path)
}

/// File names for `urls`: their last segment, with as many segments before it as needed to
/// tell apart URLs that end alike (`part/zip/vosdroits-latest.zip`).
fn file_names(urls: &[String]) -> Vec<String> {
    let segments: Vec<Vec<&str>> = urls
        .iter()
        .map(|u| {
            let path = u.split(['?', '#']).next().unwrap_or(u);
            let path = path.split_once("://").map_or(path, |(_, rest)| rest);
            path.split('/').filter(|s| !s.is_empty()).rev().collect()
        })
        .collect();
    let name = |i: usize, depth: usize| {
        let mut parts: Vec<&str> = segments[i].iter().take(depth).copied().collect();
        parts.reverse();
        let joined = parts.join("_");
        let clean: String = joined
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "._-".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        if clean.is_empty() || clean.starts_with('.') {
            format!("file{i}{clean}")
        } else {
            clean
        }
    };
    (0..urls.len())
        .map(|i| {
            let mut depth = 1;
            while depth < segments[i].len()
                && (0..urls.len()).any(|j| j != i && name(j, depth) == name(i, depth))
            {
                depth += 1;
            }
            name(i, depth)
        })
        .collect()
}

fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// One file to fetch: its URL, the name it gets in the raw folder, and (listing mode) its stamp.
struct ToFetch {
    url: String,
    name: String,
    stamp: Option<String>,
}

/// What a run fetches, the rows of files kept from earlier runs, and the stamp to remember.
struct Wanted {
    files: Vec<ToFetch>,
    kept: Vec<Row>,
    last_stamp: Option<String>,
}

/// What the downloads of a run added up to.
#[derive(Default)]
struct Totals {
    requests: u32,
    downloaded: u64,
    resumed: u64,
}

impl Fetch {
    /// The files to fetch now: the fixed URLs, or the listing's new files after those kept.
    async fn wanted(
        &self,
        ctx: &TaskContext,
        client: &reqwest::Client,
        limits: &Limits,
        previous: &State,
        log_line: &(dyn Fn(&str) + Send + Sync),
    ) -> Result<Wanted, OpError> {
        let Some(l) = &self.listing else {
            let urls = self.fixed_urls();
            let names = file_names(&urls);
            let files = urls.into_iter().zip(names).map(|(url, name)| ToFetch {
                url,
                name,
                stamp: None,
            });
            return Ok(Wanted {
                files: files.collect(),
                kept: Vec::new(),
                last_stamp: None,
            });
        };
        let entries = self.list(ctx, l, client, limits, log_line).await?;
        let plan = listing::plan(&entries, previous.last_stamp.as_deref());
        let _ = ctx.log.line(&format!(
            "listing {}: {} matching files, {} new",
            l.url,
            entries.len(),
            plan.len()
        ));
        let kept = previous.files.iter().map(|f| Row {
            path: ctx.raw_dir.join(&f.name),
            file: f.clone(),
            status: "kept",
        });
        let last_stamp = plan
            .last()
            .map(|e| e.stamp.clone())
            .or(previous.last_stamp.clone());
        Ok(Wanted {
            files: plan
                .into_iter()
                .map(|e| ToFetch {
                    url: e.url,
                    name: e.name,
                    stamp: Some(e.stamp),
                })
                .collect(),
            kept: kept.collect(),
            last_stamp,
        })
    }

    /// Downloads `files`, `concurrency` at a time, each conditional on what the previous run
    /// knew of it.
    async fn download_all(
        &self,
        ctx: &TaskContext,
        client: &reqwest::Client,
        limits: &Limits,
        previous: &State,
        files: Vec<ToFetch>,
        log_line: &(dyn Fn(&str) + Send + Sync),
    ) -> Vec<Result<(download::Download, ToFetch), OpError>> {
        futures_util::stream::iter(files.into_iter().map(|file| {
            let known = previous.files.iter().find(|f| f.url == file.url).map(|f| &f.known);
            let dest = ctx.raw_dir.join(&file.name);
            let resolved = resolve(&file.url, &ctx.workdir);
            let cancel = ctx.cancel.clone();
            async move {
                let d = tokio::select! {
                    d = download(client, &resolved, &dest, known, limits, log_line) => d,
                    _ = cancel.cancelled() => return Err(OpError::cancelled(format!("GET {}: cancelled", file.url))),
                };
                d.map(|d| (d, file)).map_err(OpError::from)
            }
        }))
        .buffered(self.concurrency)
        .collect()
        .await
    }
}

/// The row of one download, logged; its figures are added to `totals`.
fn downloaded_row(
    ctx: &TaskContext,
    previous: &State,
    (d, file): (download::Download, ToFetch),
    totals: &mut Totals,
) -> Row {
    let ToFetch { url, name, stamp } = file;
    totals.requests += d.requests;
    totals.resumed += d.resumed_from;
    let fetched_at = if d.changed {
        totals.downloaded += d.known.bytes - d.resumed_from.min(d.known.bytes);
        now_rfc3339()
    } else {
        previous
            .files
            .iter()
            .find(|f| f.url == url)
            .map_or_else(now_rfc3339, |f| f.fetched_at.clone())
    };
    let (status, said) = if d.changed {
        ("downloaded", "downloaded")
    } else {
        ("not_modified", "not modified")
    };
    let _ = ctx.log.line(&format!(
        "{url}: {said} ({} bytes, sha256 {})",
        d.known.bytes,
        &d.known.sha256[..d.known.sha256.len().min(12)]
    ));
    Row {
        path: d.path.clone(),
        status,
        file: FileState {
            url,
            name,
            known: d.known,
            stamp,
            fetched_at,
        },
    }
}

/// The dataset of the files, one row each.
async fn write_rows(
    ctx: &TaskContext,
    rows: Vec<Row>,
) -> Result<sluice_data::DatasetInfo, OpError> {
    let out = ctx.output()?.clone();
    blocking(move || {
        let mut w = RowWriter::new(&out, COLUMNS);
        for r in rows {
            let f = r.file;
            w.push(vec![
                f.url.into(),
                f.name.into(),
                r.path.display().to_string().into(),
                Value::Int(i64::try_from(f.known.bytes).unwrap_or(i64::MAX)),
                f.known.sha256.into(),
                f.known.etag.into(),
                f.known.last_modified.into(),
                f.stamp.into(),
                r.status.into(),
                f.fetched_at.into(),
            ])?;
        }
        Ok(w.finish()?)
    })
    .await
}

#[async_trait]
impl Op for Fetch {
    async fn run(&self, ctx: &TaskContext) -> Result<OpOutput, OpError> {
        let previous: State = match ctx.previous.as_ref().and_then(|p| p.state.clone()) {
            Some(v) => serde_json::from_value(v).unwrap_or_default(),
            None => State::default(),
        };
        std::fs::create_dir_all(&ctx.raw_dir)
            .map_err(|e| OpError::internal(format!("{}: {e}", ctx.raw_dir.display())))?;
        let client = reqwest::Client::builder()
            .user_agent(concat!("sluice/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(30))
            .read_timeout(Duration::from_secs(120))
            .build()
            .map_err(|e| OpError::internal(format!("cannot start the HTTP client: {e}")))?;
        let limits = self.limits();
        let log = ctx.log.clone();
        let log_line = move |line: &str| {
            let _ = log.line(line);
        };
        let wanted = self
            .wanted(ctx, &client, &limits, &previous, &log_line)
            .await?;
        let mut rows = wanted.kept;
        let mut totals = Totals::default();
        let results = self
            .download_all(ctx, &client, &limits, &previous, wanted.files, &log_line)
            .await;
        for r in results {
            rows.push(downloaded_row(ctx, &previous, r?, &mut totals));
        }

        let mut key = Sha256::new();
        for r in &rows {
            key.update(format!("{}\t{}\n", r.file.name, r.file.known.sha256));
        }
        let state = State {
            files: rows.iter().map(|r| r.file.clone()).collect(),
            last_stamp: wanted.last_stamp,
        };
        let counts = |status: &str| rows.iter().filter(|r| r.status == status).count() as u64;
        let metrics = crate::counters(&[
            ("files", rows.len() as u64),
            ("downloaded", counts("downloaded")),
            ("not_modified", counts("not_modified")),
            ("bytes_downloaded", totals.downloaded),
            ("bytes_resumed", totals.resumed),
            ("requests", u64::from(totals.requests)),
        ]);
        let sources = rows
            .iter()
            .map(|r| {
                sluice_op::lineage::External::url(&r.file.url).unwrap_or_else(|| {
                    sluice_op::lineage::External::file(&ctx.workdir.join(&r.file.url))
                })
            })
            .collect();
        let info = write_rows(ctx, rows).await?;
        Ok(OpOutput {
            lineage: sluice_op::Lineage {
                inputs: sources,
                ..Default::default()
            },
            dataset: Some(info.into()),
            metrics,
            state: Some(
                serde_json::to_value(&state).map_err(|e| OpError::internal(e.to_string()))?,
            ),
            content_key: Some(hex::encode(key.finalize())),
            ..OpOutput::default()
        })
    }

    fn produces_dataset(&self) -> bool {
        true
    }

    fn always_runs(&self) -> bool {
        true
    }
}

impl Fetch {
    /// The files the index of `l` offers that match its pattern (a local folder is listed
    /// directly).
    async fn list(
        &self,
        ctx: &TaskContext,
        l: &Listing,
        client: &reqwest::Client,
        limits: &Limits,
        log: &(dyn Fn(&str) + Send + Sync),
    ) -> Result<Vec<listing::Entry>, OpError> {
        let pattern = glob::Pattern::new(&l.pattern).map_err(|e| OpError::config(e.to_string()))?;
        let full = glob::Pattern::new(&l.full).map_err(|e| OpError::config(e.to_string()))?;
        let resolved = resolve(&l.url, &ctx.workdir);
        let local = resolved
            .strip_prefix("file://")
            .map(PathBuf::from)
            .or_else(|| (!resolved.contains("://")).then(|| PathBuf::from(&resolved)));
        let links: Vec<(String, String)> = match local {
            Some(dir) => {
                let entries = std::fs::read_dir(&dir)
                    .map_err(|e| OpError::config(format!("listing {}: {e}", dir.display())))?;
                let mut out = Vec::new();
                for e in entries.flatten() {
                    let name = e.file_name().to_string_lossy().into_owned();
                    out.push((name, e.path().display().to_string()));
                }
                out
            }
            None => {
                let page = ctx.raw_dir.join(".listing.html");
                let d = download(client, &resolved, &page, None, limits, log)
                    .await
                    .map_err(|e| OpError::from(e).context("listing"))?;
                let html = std::fs::read_to_string(&d.path)
                    .map_err(|e| OpError::internal(format!("listing {}: {e}", d.path.display())))?;
                let base = reqwest::Url::parse(&resolved)
                    .map_err(|e| OpError::config(format!("listing {resolved}: {e}")))?;
                listing::links(&html)
                    .into_iter()
                    .filter_map(|href| {
                        let url = base.join(&href).ok()?;
                        let name = last_segment(url.path()).to_string();
                        Some((name, url.to_string()))
                    })
                    .collect()
            }
        };
        let mut entries: Vec<listing::Entry> = Vec::new();
        for (name, url) in links {
            if !pattern.matches(&name) || entries.iter().any(|e| e.name == name) {
                continue;
            }
            match listing::stamp(&name) {
                Some(stamp) => entries.push(listing::Entry {
                    full: full.matches(&name),
                    name,
                    url,
                    stamp,
                }),
                None => {
                    let _ = ctx.log.line(&format!(
                        "listing: {name} has no YYYYMMDD-HHMMSS stamp in its name; skipped"
                    ));
                }
            }
        }
        Ok(entries)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_keep_urls_apart_that_end_alike() {
        let urls = vec![
            "https://lecomarquage.service-public.fr/vdd/3.4/part/zip/vosdroits-latest.zip".into(),
            "https://lecomarquage.service-public.fr/vdd/3.4/pro/zip/vosdroits-latest.zip".into(),
            "https://x.fr/data/fiches-travail.json?raw=1".into(),
        ];
        assert_eq!(
            file_names(&urls),
            vec![
                "part_zip_vosdroits-latest.zip",
                "pro_zip_vosdroits-latest.zip",
                "fiches-travail.json"
            ]
        );
    }
}
