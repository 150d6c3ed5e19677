//! Downloads one URL to a file. The body is streamed to `<file>.part` and hashed (SHA-256) on
//! the way, then renamed, so a reader never sees half a file. Failures that may pass (a cut
//! connection, a timeout, 429, 500, 502, 503, 504) are retried with exponential backoff, or
//! after the delay the server asks for in `Retry-After`; a cut download resumes where it
//! stopped with `Range` (guarded by `If-Range`, so a file that changed meanwhile restarts from
//! zero). With the validators of the previous download (ETag, Last-Modified) the request is
//! conditional: an unchanged source costs one request answered 304. `file://` URLs and local
//! paths are copied the same way. One download writes a file at a time: the `.part` file is
//! guarded by an exclusive lock on `<file>.part.lock` (another fetch of the same file, in this
//! process or another, waits for it), removed when the download ends.

use std::path::{Path, PathBuf};
use std::time::Duration;

use futures_util::StreamExt;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

/// What is known of a downloaded file: enough to ask the server whether it changed.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Known {
    /// The `ETag` the server gave.
    pub etag: Option<String>,
    /// The `Last-Modified` the server gave (for a local file: its modification time).
    pub last_modified: Option<String>,
    /// SHA-256 of the content, hex.
    pub sha256: String,
    /// Size in bytes.
    pub bytes: u64,
}

/// Limits and patience of a download.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Refuse a file larger than this.
    pub max_bytes: Option<u64>,
    /// Attempts after the first one for failures that may pass.
    pub retries: u32,
    /// First delay of the exponential backoff (doubled at each attempt).
    pub base_delay: Duration,
    /// Longest wait between two attempts, `Retry-After` included.
    pub max_delay: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bytes: None,
            retries: 5,
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(300),
        }
    }
}

/// The result of [`download`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Download {
    /// The file.
    pub path: PathBuf,
    /// Its content, size and validators.
    pub known: Known,
    /// False when the source had not changed (304, or a local file with the same size and
    /// modification time): the file was left as it was.
    pub changed: bool,
    /// Bytes already there from an interrupted download, not downloaded again.
    pub resumed_from: u64,
    /// Requests made (attempts included).
    pub requests: u32,
}

/// Why a download failed. Each message names the URL and what to do.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The server answered with a status that retrying will not change.
    #[error("GET {url}: {status} {reason}{hint}")]
    Status {
        /// The URL.
        url: String,
        /// HTTP status.
        status: u16,
        /// Its reason phrase.
        reason: String,
        /// What to do.
        hint: &'static str,
    },
    /// Every attempt failed.
    #[error("GET {url}: gave up after {attempts} attempt{}; the last one: {last}", if *attempts == 1 { "" } else { "s" })]
    GaveUp {
        /// The URL.
        url: String,
        /// Attempts made.
        attempts: u32,
        /// The last failure.
        last: String,
    },
    /// The file is larger than allowed.
    #[error(
        "GET {url}: the file is larger than the limit of {limit} bytes{seen} (raise `max_size` if it is expected)"
    )]
    TooLarge {
        /// The URL.
        url: String,
        /// The limit.
        limit: u64,
        /// What the server announced, if it did.
        seen: String,
    },
    /// A local file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// Not a URL this op can fetch.
    #[error("{0}: unsupported URL (use http://, https://, file:// or a local path)")]
    Unsupported(String),
}

impl From<FetchError> for crate::OpError {
    /// A status that will not change is refused (or `unavailable` for 429/5xx), giving up
    /// after retries is `unavailable`, a file over `max_size` or an unsupported URL is a
    /// setting to fix.
    fn from(e: FetchError) -> Self {
        use sluice_op::ErrorKind;
        let kind = match &e {
            FetchError::Status { status, .. } => ErrorKind::of_http_status(*status),
            FetchError::GaveUp { .. } => ErrorKind::Unavailable,
            FetchError::TooLarge { .. } | FetchError::Unsupported(_) => ErrorKind::Config,
            FetchError::Io { source, .. } => ErrorKind::of_io(source),
        };
        crate::OpError::new(kind, e.to_string())
    }
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> FetchError + '_ {
    move |source| FetchError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Downloads `url` to `dest`. `previous` is what the last download of this URL to `dest` gave:
/// when `dest` is still there the request is conditional. `log` receives one line per retry.
pub async fn download(
    client: &reqwest::Client,
    url: &str,
    dest: &Path,
    previous: Option<&Known>,
    limits: &Limits,
    log: &(dyn Fn(&str) + Send + Sync),
) -> Result<Download, FetchError> {
    let _writing = OneWriter::take(dest, url, log).await?;
    let previous = previous.filter(|_| dest.is_file());
    if let Some(local) = local_path(url)? {
        return copy_local(&local, dest, previous, limits, url).await;
    }
    let part = with_suffix(dest, ".part");
    let sidecar = with_suffix(dest, ".part.json");
    let mut attempt = 0;
    loop {
        attempt += 1;
        let (why, after) =
            match try_once(client, url, dest, &part, &sidecar, previous, limits).await {
                Ok(mut d) => {
                    d.requests = attempt;
                    return Ok(d);
                }
                Err(Attempt::Fatal(e)) => return Err(e),
                Err(Attempt::Retry { why, after }) => (why, after),
            };
        if attempt > limits.retries {
            return Err(FetchError::GaveUp {
                url: url.to_string(),
                attempts: attempt,
                last: why,
            });
        }
        let backoff = limits.base_delay.saturating_mul(1 << (attempt - 1).min(16));
        let delay = after.unwrap_or(backoff).min(limits.max_delay);
        log(&format!(
            "GET {url}: {why}; retrying in {:.1} s (attempt {} of {})",
            delay.as_secs_f64(),
            attempt + 1,
            limits.retries + 1
        ));
        tokio::time::sleep(delay).await;
    }
}

/// How one attempt ended, when it did not succeed.
enum Attempt {
    /// Worth another try (after `after`, when the server said how long to wait).
    Retry {
        why: String,
        after: Option<Duration>,
    },
    /// Not worth another try.
    Fatal(FetchError),
}

impl From<FetchError> for Attempt {
    fn from(e: FetchError) -> Self {
        Attempt::Fatal(e)
    }
}

/// The validator of a partial download: what `If-Range` must match to go on with it.
#[derive(serde::Serialize, serde::Deserialize)]
struct Partial {
    url: String,
    validator: String,
}

/// One request for `url`: a cut download resumed, or a conditional request against the
/// previous version; the body streamed into `part`, then renamed to `dest`.
async fn try_once(
    client: &reqwest::Client,
    url: &str,
    dest: &Path,
    part: &Path,
    sidecar: &Path,
    previous: Option<&Known>,
    limits: &Limits,
) -> Result<Download, Attempt> {
    let (request, asked) = request_for(client, url, part, sidecar, previous);
    let response = request.send().await.map_err(|e| Attempt::Retry {
        why: describe(&e),
        after: None,
    })?;
    let header = |name| header_of(&response, name);
    let etag = header(reqwest::header::ETAG);
    let last_modified = header(reqwest::header::LAST_MODIFIED);
    let Some(have) = accepted(&response, asked, previous, url, part, sidecar)? else {
        return Ok(Download {
            path: dest.to_path_buf(),
            known: previous.cloned().unwrap_or_default(),
            changed: false,
            resumed_from: 0,
            requests: 0,
        });
    };
    let total = response.content_length().map(|n| n + have);
    if let (Some(limit), Some(total)) = (limits.max_bytes, total)
        && total > limit
    {
        discard(part, sidecar);
        return Err(Attempt::Fatal(FetchError::TooLarge {
            url: url.to_string(),
            limit,
            seen: format!(" (the server announces {total})"),
        }));
    }
    // Remember which version the partial file holds, so a cut download can go on.
    let validator = etag.clone().or_else(|| last_modified.clone());
    match &validator {
        Some(v) if have == 0 => {
            let p = Partial {
                url: url.to_string(),
                validator: v.clone(),
            };
            let json = serde_json::to_vec(&p).unwrap_or_default();
            std::fs::write(sidecar, json).map_err(io(sidecar))?;
        }
        None => {
            let _ = std::fs::remove_file(sidecar);
        }
        _ => {}
    }
    let into = Receiving {
        url,
        part,
        sidecar,
        have,
        total,
        resumable: validator.is_some(),
        limits,
    };
    let (written, hasher) = into.receive(response).await?;
    tokio::fs::rename(part, dest).await.map_err(io(dest))?;
    let _ = std::fs::remove_file(sidecar);
    Ok(Download {
        path: dest.to_path_buf(),
        known: Known {
            etag,
            last_modified,
            sha256: hex::encode(hasher.finalize()),
            bytes: written,
        },
        changed: true,
        resumed_from: have,
        requests: 0,
    })
}

/// The value of header `name` of `response`, when it is text.
fn header_of(response: &reqwest::Response, name: reqwest::header::HeaderName) -> Option<String> {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// The request for `url` and the bytes of the partial file it asks the rest of: a partial
/// file is continued (`Range`, guarded by `If-Range`) only when the sidecar says which version
/// it holds; otherwise the request is conditional on the previous version (`If-None-Match`,
/// `If-Modified-Since`).
fn request_for(
    client: &reqwest::Client,
    url: &str,
    part: &Path,
    sidecar: &Path,
    previous: Option<&Known>,
) -> (reqwest::RequestBuilder, u64) {
    let mut have = std::fs::metadata(part).map(|m| m.len()).unwrap_or(0);
    let partial: Option<Partial> = std::fs::read(sidecar)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .filter(|p: &Partial| p.url == url);
    if have > 0 && partial.is_none() {
        have = 0;
    }
    let mut request = client.get(url);
    match (&partial, have) {
        (Some(p), 1..) => {
            request = request
                .header(reqwest::header::RANGE, format!("bytes={have}-"))
                .header(reqwest::header::IF_RANGE, &p.validator);
        }
        _ => {
            if let Some(k) = previous {
                if let Some(etag) = &k.etag {
                    request = request.header(reqwest::header::IF_NONE_MATCH, etag);
                }
                if let Some(lm) = &k.last_modified {
                    request = request.header(reqwest::header::IF_MODIFIED_SINCE, lm);
                }
            }
        }
    }
    (request, have)
}

/// What the status of `response` means: `None` for an unchanged file (304 to a conditional
/// request), else the offset its body starts at (0 for a whole file, `asked` for the rest of
/// a partial one); a retry for a failure that may pass, a fatal error for one that will not.
fn accepted(
    response: &reqwest::Response,
    asked: u64,
    previous: Option<&Known>,
    url: &str,
    part: &Path,
    sidecar: &Path,
) -> Result<Option<u64>, Attempt> {
    let status = response.status();
    let header = |name| header_of(response, name);
    match status.as_u16() {
        304 if previous.is_some() => Ok(None),
        200 => Ok(Some(0)), // the whole file, whatever was asked
        206 => {
            let start = header(reqwest::header::CONTENT_RANGE).and_then(|r| {
                r.strip_prefix("bytes ")?
                    .split('-')
                    .next()?
                    .parse::<u64>()
                    .ok()
            });
            if start != Some(asked) {
                discard(part, sidecar);
                return Err(Attempt::Retry {
                    why: "the server resumed at another offset than asked".into(),
                    after: None,
                });
            }
            Ok(Some(asked))
        }
        416 => {
            discard(part, sidecar);
            Err(Attempt::Retry {
                why: "416 Range Not Satisfiable for the partial file; starting again".into(),
                after: None,
            })
        }
        429 | 500 | 502 | 503 | 504 => Err(Attempt::Retry {
            why: format!(
                "{} {}",
                status.as_u16(),
                status.canonical_reason().unwrap_or("")
            ),
            after: header(reqwest::header::RETRY_AFTER).and_then(|v| retry_after(&v)),
        }),
        code => {
            let hint = match code {
                401 | 403 => " (the server refuses access: check the URL and any credentials)",
                404 | 410 => " (nothing at this address: check the URL)",
                _ => "",
            };
            Err(Attempt::Fatal(FetchError::Status {
                url: url.to_string(),
                status: code,
                reason: status.canonical_reason().unwrap_or("").to_string(),
                hint,
            }))
        }
    }
}

/// Where a body goes: `part`, which holds `have` bytes already, `total` expected.
struct Receiving<'a> {
    url: &'a str,
    part: &'a Path,
    sidecar: &'a Path,
    have: u64,
    total: Option<u64>,
    /// Whether a cut transfer can go on later (the server gave a validator).
    resumable: bool,
    limits: &'a Limits,
}

impl Receiving<'_> {
    /// Streams the body of `response` into the partial file, hashing it (with what the file
    /// held), within the size limit; a cut connection keeps what came for the next attempt.
    /// Returns the file's size and its hash.
    async fn receive(self, response: reqwest::Response) -> Result<(u64, Sha256), Attempt> {
        let (part, sidecar) = (self.part, self.sidecar);
        let mut hasher = Sha256::new();
        let mut file = if self.have > 0 {
            hash_file(part, &mut hasher, None).await?;
            tokio::fs::OpenOptions::new()
                .append(true)
                .open(part)
                .await
                .map_err(io(part))?
        } else {
            tokio::fs::File::create(part).await.map_err(io(part))?
        };
        let mut written = self.have;
        let mut body = response.bytes_stream();
        while let Some(chunk) = body.next().await {
            let chunk = match chunk {
                Ok(c) => c,
                Err(e) => {
                    file.flush().await.map_err(io(part))?;
                    if !self.resumable {
                        discard(part, sidecar); // nothing to resume with
                    }
                    return Err(Attempt::Retry {
                        why: format!(
                            "the connection broke after {written} bytes: {}",
                            describe(&e)
                        ),
                        after: None,
                    });
                }
            };
            written += chunk.len() as u64;
            if let Some(limit) = self.limits.max_bytes
                && written > limit
            {
                drop(file);
                discard(part, sidecar);
                return Err(Attempt::Fatal(FetchError::TooLarge {
                    url: self.url.to_string(),
                    limit,
                    seen: String::new(),
                }));
            }
            hasher.update(&chunk);
            file.write_all(&chunk).await.map_err(io(part))?;
        }
        if let Some(total) = self.total
            && written < total
        {
            file.flush().await.map_err(io(part))?;
            return Err(Attempt::Retry {
                why: format!("the connection closed after {written} of {total} bytes"),
                after: None,
            });
        }
        file.sync_all().await.map_err(io(part))?;
        Ok((written, hasher))
    }
}

/// The exclusive hold on a file being downloaded: whoever else downloads the same file waits.
/// The lock file is removed (under the lock) when the hold ends, so that none is left
/// beside the files; a waiter then finds the lock file gone and takes the new one.
struct OneWriter {
    file: std::fs::File,
    path: PathBuf,
}

impl OneWriter {
    async fn take(
        dest: &Path,
        url: &str,
        log: &(dyn Fn(&str) + Send + Sync),
    ) -> Result<OneWriter, FetchError> {
        use std::os::unix::fs::MetadataExt;
        let path = with_suffix(dest, ".part.lock");
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io(parent))?;
        }
        let mut told = false;
        loop {
            let file = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(false)
                .open(&path)
                .map_err(io(&path))?;
            let file = match file.try_lock() {
                Ok(()) => file,
                Err(std::fs::TryLockError::WouldBlock) => {
                    if !told {
                        log(&format!(
                            "GET {url}: waiting for another download of {} to end",
                            dest.display()
                        ));
                        told = true;
                    }
                    let at = path.clone();
                    tokio::task::spawn_blocking(move || file.lock().map(|()| file))
                        .await
                        .map_err(|e| FetchError::Io {
                            path: at,
                            source: std::io::Error::other(e),
                        })?
                        .map_err(io(&path))?
                }
                Err(std::fs::TryLockError::Error(e)) => return Err(io(&path)(e)),
            };
            let held = file.metadata().map_err(io(&path))?;
            let there = std::fs::metadata(&path)
                .is_ok_and(|now| now.dev() == held.dev() && now.ino() == held.ino());
            if there {
                return Ok(OneWriter { file, path });
            }
        }
    }
}

impl Drop for OneWriter {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
        let _ = self.file.unlock();
    }
}

/// `path` with `suffix` appended to its file name.
fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(suffix);
    path.with_file_name(name)
}

fn discard(part: &Path, sidecar: &Path) {
    let _ = std::fs::remove_file(part);
    let _ = std::fs::remove_file(sidecar);
}

/// An error of reqwest in a few words, with its cause (reqwest's own message is terse).
pub(crate) fn describe(e: &reqwest::Error) -> String {
    let mut s = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        s.push_str(": ");
        s.push_str(&cause.to_string());
        source = cause.source();
    }
    s
}

/// Sends the request `build` makes to an API (`service`: "the Hub", "MLflow"), again after
/// 429, 5xx or no answer — `attempts` tries in all, waiting 1, 2, 4… s or what `Retry-After`
/// asks (at most a minute). `Ok(Ok(answer))` is a success; `Ok(Err(answer))` an answer that
/// trying again will not change (404, 400, 401…), for the caller to explain; `Err` says that
/// every try failed, with `what` and the last failure.
pub(crate) async fn send_retrying(
    service: &str,
    what: &str,
    attempts: u32,
    build: impl Fn() -> Result<reqwest::RequestBuilder, sluice_op::OpError>,
) -> Result<Result<reqwest::Response, reqwest::Response>, sluice_op::OpError> {
    let mut attempt = 1;
    loop {
        let backoff = Duration::from_secs(1 << (attempt - 1).min(6));
        let (wait, why) = match build()?.send().await {
            Err(mut e) => {
                // The query may carry credentials, and says nothing of the failure.
                if let Some(url) = e.url_mut() {
                    url.set_query(None);
                }
                (backoff, describe(&e))
            }
            Ok(r) if r.status().is_success() => return Ok(Ok(r)),
            Ok(r) if r.status().as_u16() == 429 || r.status().is_server_error() => {
                let after = r
                    .headers()
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(retry_after);
                (
                    after.unwrap_or(backoff),
                    format!("{service} answered {}", r.status()),
                )
            }
            Ok(r) => return Ok(Err(r)),
        };
        if attempt >= attempts {
            return Err(sluice_op::OpError::unavailable(format!(
                "{what}: {why} ({attempts} attempts); try again later"
            )));
        }
        tokio::time::sleep(wait.min(Duration::from_secs(60))).await;
        attempt += 1;
    }
}

/// The status of an answer and the start of its body (300 characters), for an error message.
pub(crate) async fn answer_text(answer: reqwest::Response) -> (reqwest::StatusCode, String) {
    let status = answer.status();
    let body = answer.text().await.unwrap_or_default();
    (status, body.chars().take(300).collect())
}

/// `Retry-After`: seconds, or an HTTP date.
pub(crate) fn retry_after(value: &str) -> Option<Duration> {
    if let Ok(secs) = value.trim().parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = chrono::DateTime::parse_from_rfc2822(value.trim()).ok()?;
    let wait = when.signed_duration_since(chrono::Utc::now());
    Some(wait.to_std().unwrap_or(Duration::ZERO))
}

/// Feeds the file at `path` to `hasher`, copying it to `copy` on the way if given; returns
/// its size.
async fn hash_file(
    path: &Path,
    hasher: &mut Sha256,
    mut copy: Option<(&mut tokio::fs::File, &Path)>,
) -> Result<u64, FetchError> {
    use tokio::io::AsyncReadExt;
    let mut f = tokio::fs::File::open(path).await.map_err(io(path))?;
    let mut buf = vec![0u8; 1 << 20];
    let mut n = 0;
    loop {
        let read = f.read(&mut buf).await.map_err(io(path))?;
        if read == 0 {
            return Ok(n);
        }
        hasher.update(&buf[..read]);
        if let Some((out, out_path)) = copy.as_mut() {
            out.write_all(&buf[..read]).await.map_err(io(out_path))?;
        }
        n += read as u64;
    }
}

/// The local file a `file://` URL or a plain path names; `None` for http(s).
fn local_path(url: &str) -> Result<Option<PathBuf>, FetchError> {
    if url.starts_with("http://") || url.starts_with("https://") {
        return Ok(None);
    }
    if let Some(rest) = url.strip_prefix("file://") {
        return Ok(Some(PathBuf::from(rest)));
    }
    if url.contains("://") {
        return Err(FetchError::Unsupported(url.to_string()));
    }
    Ok(Some(PathBuf::from(url)))
}

/// Copies a local file like a download: unchanged when its size and modification time are
/// those of the previous copy.
async fn copy_local(
    src: &Path,
    dest: &Path,
    previous: Option<&Known>,
    limits: &Limits,
    url: &str,
) -> Result<Download, FetchError> {
    let meta = std::fs::metadata(src).map_err(io(src))?;
    let mtime = meta
        .modified()
        .ok()
        .map(|t| chrono::DateTime::<chrono::Utc>::from(t).to_rfc3339());
    if let Some(k) = previous
        && k.bytes == meta.len()
        && k.last_modified == mtime
    {
        return Ok(Download {
            path: dest.to_path_buf(),
            known: k.clone(),
            changed: false,
            resumed_from: 0,
            requests: 0,
        });
    }
    if let Some(limit) = limits.max_bytes
        && meta.len() > limit
    {
        return Err(FetchError::TooLarge {
            url: url.to_string(),
            limit,
            seen: format!(" (the file has {})", meta.len()),
        });
    }
    let part = with_suffix(dest, ".part");
    let mut file = tokio::fs::File::create(&part).await.map_err(io(&part))?;
    let mut hasher = Sha256::new();
    let bytes = hash_file(src, &mut hasher, Some((&mut file, &part))).await?;
    file.sync_all().await.map_err(io(&part))?;
    drop(file);
    tokio::fs::rename(&part, dest).await.map_err(io(dest))?;
    Ok(Download {
        path: dest.to_path_buf(),
        known: Known {
            etag: None,
            last_modified: mtime,
            sha256: hex::encode(hasher.finalize()),
            bytes,
        },
        changed: true,
        resumed_from: 0,
        requests: 0,
    })
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    /// Answers request `n` (from 0) whose head is `head` with raw bytes, then closes.
    type Script = dyn Fn(usize, &str) -> Vec<u8> + Send + Sync;

    /// Reads a request's head (up to the blank line), lower-cased.
    async fn read_head(sock: &mut tokio::net::TcpStream) -> String {
        let mut head = Vec::new();
        let mut buf = [0u8; 1024];
        while !head.ends_with(b"\r\n\r\n") {
            match sock.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => head.extend_from_slice(&buf[..n]),
            }
        }
        String::from_utf8_lossy(&head).to_lowercase()
    }

    /// A local HTTP server playing `script`; returns its base URL and the request heads seen.
    async fn serve(script: Arc<Script>) -> (String, Arc<Mutex<Vec<String>>>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        tokio::spawn(async move {
            loop {
                let Ok((mut sock, _)) = listener.accept().await else {
                    return;
                };
                let head = read_head(&mut sock).await;
                let n = {
                    let mut s = log.lock().expect("lock");
                    s.push(head.clone());
                    s.len() - 1
                };
                let _ = sock.write_all(&script(n, &head)).await;
                let _ = sock.shutdown().await;
            }
        });
        (format!("http://{addr}"), seen)
    }

    fn response(status: &str, headers: &[(&str, String)], body: &[u8]) -> Vec<u8> {
        let mut out = format!("HTTP/1.1 {status}\r\nconnection: close\r\n");
        for (k, v) in headers {
            out.push_str(&format!("{k}: {v}\r\n"));
        }
        out.push_str("\r\n");
        let mut out = out.into_bytes();
        out.extend_from_slice(body);
        out
    }

    fn content() -> Vec<u8> {
        (0..100_000u32)
            .flat_map(|i| (i % 251) as u8..=(i % 251) as u8)
            .collect()
    }

    fn sha(bytes: &[u8]) -> String {
        hex::encode(Sha256::digest(bytes))
    }

    fn quick() -> Limits {
        Limits {
            base_delay: Duration::from_millis(10),
            ..Limits::default()
        }
    }

    async fn get(
        url: &str,
        dest: &Path,
        previous: Option<&Known>,
        limits: &Limits,
    ) -> (Result<Download, FetchError>, Vec<String>) {
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        let log = move |l: &str| sink.lock().expect("lock").push(l.to_string());
        let r = download(&reqwest::Client::new(), url, dest, previous, limits, &log).await;
        let lines = lines.lock().expect("lock").clone();
        (r, lines)
    }

    #[tokio::test]
    async fn a_cut_download_resumes_with_range() {
        let body = content();
        let b = body.clone();
        let (base, seen) = serve(Arc::new(move |n, _| {
            let etag = ("etag", "\"v1\"".to_string());
            if n == 0 {
                // Announces everything, sends 40 %, hangs up.
                let len = ("content-length", b.len().to_string());
                response("200 OK", &[len, etag], &b[..40_000])
            } else {
                let range = (
                    "content-range",
                    format!("bytes 40000-{}/{}", b.len() - 1, b.len()),
                );
                let len = ("content-length", (b.len() - 40_000).to_string());
                response("206 Partial Content", &[range, len, etag], &b[40_000..])
            }
        }))
        .await;
        let dir = tempfile::tempdir().expect("tempdir");
        let dest = dir.path().join("data.bin");
        let (r, log) = get(&format!("{base}/data.bin"), &dest, None, &quick()).await;
        let d = r.expect("download");
        assert_eq!(d.requests, 2);
        assert_eq!(d.resumed_from, 40_000);
        assert_eq!(d.known.bytes, body.len() as u64);
        assert_eq!(d.known.sha256, sha(&body));
        assert_eq!(d.known.etag.as_deref(), Some("\"v1\""));
        assert_eq!(std::fs::read(&dest).expect("read"), body);
        let seen = seen.lock().expect("lock").clone();
        assert!(seen[1].contains("range: bytes=40000-"), "{}", seen[1]);
        assert!(seen[1].contains("if-range: \"v1\""), "{}", seen[1]);
        assert_eq!(log.len(), 1);
        assert!(
            log[0].contains("the connection broke after 40000 bytes")
                && log[0].contains("end of file before message length reached; retrying in"),
            "{log:?}"
        );
        assert!(!with_suffix(&dest, ".part").exists());
        assert!(!with_suffix(&dest, ".part.json").exists());
    }

    #[tokio::test]
    async fn an_unchanged_source_costs_one_request_answered_304() {
        let (base, seen) = serve(Arc::new(|n, head: &str| {
            if n > 0 && head.contains("if-none-match: \"v1\"") {
                response("304 Not Modified", &[], b"")
            } else {
                response(
                    "200 OK",
                    &[("etag", "\"v1\"".into()), ("content-length", "5".into())],
                    b"hello",
                )
            }
        }))
        .await;
        let dir = tempfile::tempdir().expect("tempdir");
        let dest = dir.path().join("f.txt");
        let url = format!("{base}/f.txt");
        let (first, _) = get(&url, &dest, None, &quick()).await;
        let first = first.expect("first");
        assert!(first.changed);
        let (second, _) = get(&url, &dest, Some(&first.known), &quick()).await;
        let second = second.expect("second");
        assert!(!second.changed);
        assert_eq!(second.requests, 1);
        assert_eq!(second.known, first.known);
        assert_eq!(std::fs::read_to_string(&dest).expect("read"), "hello");
        assert_eq!(seen.lock().expect("lock").len(), 2);

        // The file was deleted since: the request is not conditional, the file comes back.
        std::fs::remove_file(&dest).expect("rm");
        let (third, _) = get(&url, &dest, Some(&first.known), &quick()).await;
        assert!(third.expect("third").changed);
        assert!(!seen.lock().expect("lock")[2].contains("if-none-match"));
    }

    #[tokio::test]
    async fn unavailable_twice_then_ok_succeeds_and_retry_after_is_honoured() {
        let (base, _) = serve(Arc::new(|n, _| match n {
            0 => response(
                "503 Service Unavailable",
                &[("retry-after", "1".into())],
                b"",
            ),
            1 => response(
                "429 Too Many Requests",
                &[("content-length", "0".into())],
                b"",
            ),
            _ => response("200 OK", &[("content-length", "2".into())], b"ok"),
        }))
        .await;
        let dir = tempfile::tempdir().expect("tempdir");
        let dest = dir.path().join("f");
        let start = std::time::Instant::now();
        let (r, log) = get(&format!("{base}/f"), &dest, None, &quick()).await;
        let d = r.expect("download");
        assert_eq!(d.requests, 3);
        assert!(
            start.elapsed() >= Duration::from_secs(1),
            "Retry-After: 1 was not waited for"
        );
        assert_eq!(
            log,
            vec![
                format!(
                    "GET {base}/f: 503 Service Unavailable; retrying in 1.0 s (attempt 2 of 6)"
                ),
                format!("GET {base}/f: 429 Too Many Requests; retrying in 0.0 s (attempt 3 of 6)"),
            ]
        );
        assert_eq!(std::fs::read_to_string(&dest).expect("read"), "ok");
    }

    #[tokio::test]
    async fn not_found_fails_at_once_with_the_url_and_retries_run_out() {
        let (base, seen) = serve(Arc::new(|n, _| match n {
            0 => response("404 Not Found", &[("content-length", "0".into())], b""),
            _ => response(
                "500 Internal Server Error",
                &[("content-length", "0".into())],
                b"",
            ),
        }))
        .await;
        let dir = tempfile::tempdir().expect("tempdir");
        let (r, _) = get(
            &format!("{base}/missing.zip"),
            &dir.path().join("m"),
            None,
            &quick(),
        )
        .await;
        assert_eq!(
            r.expect_err("404").to_string(),
            format!(
                "GET {base}/missing.zip: 404 Not Found (nothing at this address: check the URL)"
            )
        );
        assert_eq!(seen.lock().expect("lock").len(), 1, "a 404 is not retried");

        let limits = Limits {
            retries: 2,
            ..quick()
        };
        let (r, log) = get(
            &format!("{base}/broken"),
            &dir.path().join("b"),
            None,
            &limits,
        )
        .await;
        assert_eq!(
            r.expect_err("500").to_string(),
            format!(
                "GET {base}/broken: gave up after 3 attempts; the last one: 500 Internal Server Error"
            )
        );
        assert_eq!(log.len(), 2);
        assert!(!dir.path().join("b").exists());
    }

    #[tokio::test]
    async fn a_file_over_the_limit_is_refused() {
        let (base, _) = serve(Arc::new(|n, _| {
            if n == 0 {
                response("200 OK", &[("content-length", "100".into())], &[b'x'; 100])
            } else {
                // No length announced: counted while streaming.
                response("200 OK", &[], &[b'x'; 100])
            }
        }))
        .await;
        let dir = tempfile::tempdir().expect("tempdir");
        let limits = Limits {
            max_bytes: Some(50),
            ..quick()
        };
        for (i, seen) in [" (the server announces 100)", ""].into_iter().enumerate() {
            let dest = dir.path().join(format!("f{i}"));
            let (r, _) = get(&format!("{base}/f"), &dest, None, &limits).await;
            assert_eq!(
                r.expect_err("too large").to_string(),
                format!(
                    "GET {base}/f: the file is larger than the limit of 50 bytes{seen} (raise `max_size` if it is expected)"
                )
            );
            assert!(!dest.exists() && !with_suffix(&dest, ".part").exists());
        }
    }

    #[tokio::test]
    async fn local_files_are_copied_and_unchanged_ones_skipped() {
        let dir = tempfile::tempdir().expect("tempdir");
        let src = dir.path().join("src.txt");
        std::fs::write(&src, "local data").expect("write");
        let dest = dir.path().join("copy.txt");
        let url = format!("file://{}", src.display());
        let (r, _) = get(&url, &dest, None, &quick()).await;
        let first = r.expect("copy");
        assert!(first.changed);
        assert_eq!(first.known.sha256, sha(b"local data"));
        let (r, _) = get(
            src.to_str().expect("utf-8"),
            &dest,
            Some(&first.known),
            &quick(),
        )
        .await;
        assert!(!r.expect("again").changed);
        let (r, _) = get("ftp://example.org/x", &dest, None, &quick()).await;
        assert_eq!(
            r.expect_err("ftp").to_string(),
            "ftp://example.org/x: unsupported URL (use http://, https://, file:// or a local path)"
        );
    }

    #[tokio::test]
    async fn two_downloads_of_one_file_take_turns() {
        // The first request gets half the body, then the rest once `release` fires.
        let release = Arc::new(tokio::sync::Notify::new());
        let (asked_tx, mut asked) = tokio::sync::mpsc::unbounded_channel::<usize>();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let body = content();
        let served = {
            let (body, release) = (body.clone(), release.clone());
            tokio::spawn(async move {
                for n in 0.. {
                    let Ok((mut sock, _)) = listener.accept().await else {
                        return;
                    };
                    read_head(&mut sock).await;
                    let _ = asked_tx.send(n);
                    let len = ("content-length", body.len().to_string());
                    let all = response("200 OK", &[len], &body);
                    let half = all.len() - body.len() / 2;
                    let _ = sock.write_all(&all[..half]).await;
                    if n == 0 {
                        release.notified().await;
                    }
                    let _ = sock.write_all(&all[half..]).await;
                    let _ = sock.shutdown().await;
                }
            })
        };
        let dir = tempfile::tempdir().expect("tempdir");
        let dest = dir.path().join("data.bin");
        let url = format!("{base}/data.bin");
        let first = tokio::spawn({
            let (url, dest) = (url.clone(), dest.clone());
            async move { get(&url, &dest, None, &quick()).await }
        });
        assert_eq!(asked.recv().await, Some(0));

        // A second download of the same file while the first is half-way: it waits, and
        // says so, instead of writing into the same `.part` file.
        let (said_tx, mut said) = tokio::sync::mpsc::unbounded_channel::<String>();
        let second = tokio::spawn({
            let (url, dest) = (url.clone(), dest.clone());
            async move {
                let log = move |l: &str| {
                    let _ = said_tx.send(l.to_string());
                };
                download(&reqwest::Client::new(), &url, &dest, None, &quick(), &log).await
            }
        });
        tokio::select! {
            line = said.recv() => assert_eq!(
                line.as_deref(),
                Some(format!("GET {url}: waiting for another download of {} to end", dest.display()).as_str())
            ),
            n = asked.recv() => panic!("request {n:?} made while the first download writes"),
        }
        release.notify_one();
        let (r, _) = first.await.expect("first");
        assert_eq!(r.expect("first download").known.sha256, sha(&body));
        let d = second.await.expect("second").expect("second download");
        assert_eq!(d.known.sha256, sha(&body));
        assert_eq!(asked.recv().await, Some(1));
        assert_eq!(std::fs::read(&dest).expect("read"), body);
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .expect("dir")
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["data.bin"], "nothing left beside the file");
        served.abort();
    }

    #[test]
    fn retry_after_takes_seconds_or_a_date() {
        assert_eq!(retry_after("120"), Some(Duration::from_secs(120)));
        assert_eq!(
            retry_after("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(Duration::ZERO)
        );
        assert_eq!(retry_after("soon"), None);
    }
}
