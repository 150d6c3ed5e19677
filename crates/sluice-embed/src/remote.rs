//! A client for OpenAI-compatible `/v1/embeddings` endpoints (the Albert API, OpenAI, TEI,
//! vLLM, Ollama…): batches sent with bounded concurrency, retries with exponential backoff on
//! 429, 5xx, timeouts and cut connections (honouring `Retry-After`), and every answer checked
//! (one vector per text, all of the expected dimension) before it is used.

use std::time::Duration;

use futures_util::{StreamExt, TryStreamExt};
use serde::Deserialize;

use crate::EmbedError;

/// How to reach an endpoint.
#[derive(Clone, Debug)]
pub struct RemoteOptions {
    /// Base URL (`https://albert.api.etalab.gouv.fr/v1`) or the full `…/embeddings` URL.
    pub url: String,
    /// The `model` sent with each request.
    pub model: String,
    /// Sent as `Authorization: Bearer …` when set.
    pub api_key: Option<String>,
    /// Texts per request (default 64).
    pub batch_size: usize,
    /// Requests in flight at once (default 4).
    pub concurrency: usize,
    /// Retries of one request after the first try (default 5).
    pub retries: u32,
    /// First wait between tries, doubled each time (default 1 s, at most 60 s).
    pub backoff: Duration,
    /// Limit of one request (default 120 s).
    pub timeout: Duration,
    /// Expected vector length; when unset, the first answer sets it.
    pub dimension: Option<usize>,
}

impl RemoteOptions {
    /// Defaults for an endpoint and model.
    pub fn new(url: &str, model: &str) -> RemoteOptions {
        RemoteOptions {
            url: url.to_string(),
            model: model.to_string(),
            api_key: None,
            batch_size: 64,
            concurrency: 4,
            retries: 5,
            backoff: Duration::from_secs(1),
            timeout: Duration::from_secs(120),
            dimension: None,
        }
    }
}

/// An embedding endpoint.
#[derive(Debug)]
pub struct RemoteModel {
    client: reqwest::Client,
    endpoint: String,
    options: RemoteOptions,
    dimension: std::sync::OnceLock<usize>,
}

#[derive(Deserialize)]
struct Answer {
    data: Vec<Item>,
}

#[derive(Deserialize)]
struct Item {
    embedding: Vec<f32>,
    #[serde(default)]
    index: Option<usize>,
}

/// Longest wait a `Retry-After` may ask for before the request is given up.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(600);
const MAX_BACKOFF: Duration = Duration::from_secs(60);

impl RemoteModel {
    /// A client for the endpoint (no request is made yet).
    pub fn new(options: RemoteOptions) -> Result<RemoteModel, EmbedError> {
        let base = options.url.trim_end_matches('/');
        let endpoint = if base.ends_with("/embeddings") {
            base.to_string()
        } else {
            format!("{base}/embeddings")
        };
        if !endpoint.starts_with("http://") && !endpoint.starts_with("https://") {
            return Err(EmbedError::Input(format!(
                "embedding endpoint `{}` is not an http(s) URL",
                options.url
            )));
        }
        let client = reqwest::Client::builder()
            .timeout(options.timeout)
            .connect_timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| EmbedError::Input(format!("HTTP client: {e}")))?;
        let dimension = std::sync::OnceLock::new();
        if let Some(d) = options.dimension {
            let _ = dimension.set(d);
        }
        Ok(RemoteModel {
            client,
            endpoint,
            options,
            dimension,
        })
    }

    /// `model@endpoint`: caches key on it.
    pub fn identity(&self) -> String {
        format!("{}@{}", self.options.model, self.endpoint)
    }

    /// The URL requests go to.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Sets the vector length every answer must have, unless one is already set (the
    /// length of the vectors already cached for this endpoint and model).
    pub fn expect_dimension(&self, dimension: usize) {
        let _ = self.dimension.set(dimension);
    }

    /// The vector length, once configured or seen.
    pub fn dimension(&self) -> Option<usize> {
        self.dimension.get().copied()
    }

    /// Embeds `texts`: `texts.len() × dimension` values, row-major, in input order.
    /// `progress(done)` is called after each request with the number of texts embedded; no
    /// request starts once `stop` is set.
    pub async fn embed(
        &self,
        texts: &[String],
        progress: &(dyn Fn(usize) + Sync),
        stop: &std::sync::atomic::AtomicBool,
    ) -> Result<Vec<f32>, EmbedError> {
        let done = std::sync::atomic::AtomicUsize::new(0);
        // Batches by their first index: a closure over `&[String]` would make the future
        // not provably `Send` (rust-lang/rust#102211) for callers such as axum handlers.
        let size = self.options.batch_size.max(1);
        let parts: Vec<Vec<f32>> = futures_util::stream::iter((0..texts.len()).step_by(size))
            .map(|start| {
                let batch = &texts[start..(start + size).min(texts.len())];
                let done = &done;
                async move {
                    if stop.load(std::sync::atomic::Ordering::Relaxed) {
                        return Err(EmbedError::Cancelled);
                    }
                    let v = self.request(batch).await?;
                    let n = done.fetch_add(batch.len(), std::sync::atomic::Ordering::Relaxed)
                        + batch.len();
                    progress(n);
                    Ok::<_, EmbedError>(v)
                }
            })
            .buffered(self.options.concurrency.max(1))
            .try_collect()
            .await?;
        Ok(parts.concat())
    }

    /// One batch, with retries.
    async fn request(&self, batch: &[String]) -> Result<Vec<f32>, EmbedError> {
        let body = serde_json::json!({ "model": self.options.model, "input": batch, "encoding_format": "float" });
        let mut wait = self.options.backoff;
        let mut tries = 0u32;
        loop {
            tries += 1;
            let mut request = self.client.post(&self.endpoint).json(&body);
            if let Some(key) = &self.options.api_key {
                request = request.bearer_auth(key);
            }
            let (problem, retry_after) = match request.send().await {
                Err(e) if e.is_builder() => {
                    return Err(self.failure(tries, &describe(&e), false));
                }
                Err(e) => (describe(&e), None),
                Ok(response) => {
                    let status = response.status();
                    let retry_after = retry_after(response.headers());
                    if status.is_success() {
                        let bytes = response.bytes().await;
                        match bytes {
                            Ok(bytes) => return self.check(batch.len(), &bytes),
                            Err(e) => (format!("the answer was cut: {}", describe(&e)), None),
                        }
                    } else {
                        let text = response.text().await.unwrap_or_default();
                        let excerpt: String = text.chars().take(300).collect();
                        let last = format!(
                            "HTTP {status}{}",
                            if excerpt.is_empty() {
                                String::new()
                            } else {
                                format!(": {excerpt}")
                            }
                        );
                        if status.as_u16() != 429 && !status.is_server_error() {
                            let hint = match status.as_u16() {
                                401 | 403 => " (check the API key)",
                                404 => " (check the URL and the model name)",
                                413 => " (lower `batch_size`)",
                                _ => "",
                            };
                            return Err(self.failure(tries, &format!("{last}{hint}"), false));
                        }
                        (last, retry_after)
                    }
                }
            };
            if tries > self.options.retries {
                return Err(self.failure(tries, &problem, true));
            }
            let pause = match retry_after {
                Some(asked) if asked > MAX_RETRY_AFTER => {
                    return Err(self.failure(
                        tries,
                        &format!("{problem}; the server asks to wait {} s", asked.as_secs()),
                        true,
                    ));
                }
                Some(asked) => asked.max(wait.min(MAX_BACKOFF)),
                None => wait.min(MAX_BACKOFF),
            };
            tokio::time::sleep(pause).await;
            wait = wait.saturating_mul(2);
        }
    }

    fn failure(&self, tries: u32, last: &str, transient: bool) -> EmbedError {
        EmbedError::Remote {
            url: self.endpoint.clone(),
            message: format!("gave up after {tries} tries; last answer: {last}"),
            transient,
        }
    }

    /// Parses and checks an answer: one vector per text, each of the expected length.
    fn check(&self, count: usize, bytes: &[u8]) -> Result<Vec<f32>, EmbedError> {
        let bad = |message: String| EmbedError::Remote {
            url: self.endpoint.clone(),
            message,
            transient: false,
        };
        let answer: Answer = serde_json::from_slice(bytes).map_err(|e| {
            let excerpt: String = String::from_utf8_lossy(bytes).chars().take(200).collect();
            bad(format!(
                "the answer is not an embeddings response ({e}): {excerpt}"
            ))
        })?;
        if answer.data.len() != count {
            return Err(bad(format!(
                "{} vectors for {count} texts",
                answer.data.len()
            )));
        }
        let mut slots: Vec<Option<Vec<f32>>> = vec![None; count];
        for (position, item) in answer.data.into_iter().enumerate() {
            let i = item.index.unwrap_or(position);
            if item.embedding.is_empty() {
                return Err(bad(format!("vector {i} is empty")));
            }
            let expected = *self.dimension.get_or_init(|| item.embedding.len());
            if item.embedding.len() != expected {
                return Err(bad(format!(
                    "vector {i} has {} dimensions, {expected} expected",
                    item.embedding.len()
                )));
            }
            if item.embedding.iter().any(|v| !v.is_finite()) {
                return Err(bad(format!("vector {i} holds a NaN or infinite value")));
            }
            match slots.get_mut(i) {
                Some(slot @ None) => *slot = Some(item.embedding),
                _ => return Err(bad(format!("index {i} is out of range or repeated"))),
            }
        }
        Ok(slots.into_iter().flatten().flatten().collect())
    }
}

fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".to_string()
    } else if e.is_connect() {
        format!("could not connect ({e})")
    } else {
        e.to_string()
    }
}

/// `Retry-After` in seconds or as an HTTP date.
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let value = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = httpdate(value)?;
    let now = std::time::SystemTime::now();
    Some(when.duration_since(now).unwrap_or(Duration::ZERO))
}

/// An IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), the form servers send.
fn httpdate(value: &str) -> Option<std::time::SystemTime> {
    let parts: Vec<&str> = value.split_whitespace().collect();
    let [_, day, month, year, time, "GMT"] = parts.as_slice() else {
        return None;
    };
    let month = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ]
    .iter()
    .position(|m| m == month)? as i64
        + 1;
    let (day, year): (i64, i64) = (day.parse().ok()?, year.parse().ok()?);
    let hms: Vec<i64> = time
        .split(':')
        .map(|p| p.parse().ok())
        .collect::<Option<_>>()?;
    let [h, m, s] = hms.as_slice() else {
        return None;
    };
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + h * 3600 + m * 60 + s;
    u64::try_from(secs)
        .ok()
        .map(|s| std::time::UNIX_EPOCH + Duration::from_secs(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_dates_and_endpoints() {
        let t = httpdate("Sun, 06 Nov 1994 08:49:37 GMT").expect("date");
        assert_eq!(
            t.duration_since(std::time::UNIX_EPOCH)
                .expect("after")
                .as_secs(),
            784_111_777
        );
        assert!(httpdate("tomorrow").is_none());
        let m = RemoteModel::new(RemoteOptions::new("http://h:1/v1/", "m")).expect("client");
        assert_eq!(m.endpoint(), "http://h:1/v1/embeddings");
        let m =
            RemoteModel::new(RemoteOptions::new("http://h:1/api/embeddings", "m")).expect("client");
        assert_eq!(m.endpoint(), "http://h:1/api/embeddings");
        assert!(RemoteModel::new(RemoteOptions::new("ftp://h", "m")).is_err());
    }

    #[test]
    fn answers_are_checked_for_count_dimension_and_order() {
        let mut o = RemoteOptions::new("http://h/v1", "m");
        o.dimension = Some(2);
        let m = RemoteModel::new(o).expect("client");
        let ok = br#"{"data":[{"index":1,"embedding":[3,4]},{"index":0,"embedding":[1,2]}]}"#;
        assert_eq!(m.check(2, ok).expect("ok"), vec![1.0, 2.0, 3.0, 4.0]);
        let e = m.check(3, ok).expect_err("count").to_string();
        assert!(
            e.contains("2 vectors for 3 texts") && e.contains("http://h/v1/embeddings"),
            "{e}"
        );
        let e = m
            .check(1, br#"{"data":[{"index":0,"embedding":[1,2,3]}]}"#)
            .expect_err("dim")
            .to_string();
        assert!(e.contains("3 dimensions, 2 expected"), "{e}");
        let e = m
            .check(
                2,
                br#"{"data":[{"index":0,"embedding":[1,2]},{"index":0,"embedding":[1,2]}]}"#,
            )
            .expect_err("dup")
            .to_string();
        assert!(e.contains("repeated"), "{e}");
    }
}
