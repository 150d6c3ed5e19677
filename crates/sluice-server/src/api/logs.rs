//! The output of task attempts, as text, streamed while they run.

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use crate::App;
use crate::error::{ApiError, ApiResult, ErrorBody};

/// Options of the logs route.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LogsQuery {
    /// The attempt (default: the last).
    pub attempt: Option<u32>,
    /// Stream the log until the attempt ends.
    #[serde(default)]
    pub follow: bool,
    /// The first byte to send (default: the last [`LOG_WINDOW`] bytes of the log).
    pub offset: Option<u64>,
    /// Bytes to send at most (default and limit [`LOG_WINDOW`]); with `follow`, the bytes
    /// sent before the stream goes on with what is appended.
    pub max_bytes: Option<u64>,
}

/// The most of a log one answer sends (follow mode streams the rest as it is written).
pub const LOG_WINDOW: u64 = 1 << 20;

/// Reads at most `len` bytes of `path` from `offset`, in one bounded buffer.
async fn read_window(path: &std::path::Path, offset: u64, len: u64) -> std::io::Result<Vec<u8>> {
    use tokio::io::{AsyncReadExt, AsyncSeekExt};
    let mut f = tokio::fs::File::open(path).await?;
    f.seek(std::io::SeekFrom::Start(offset)).await?;
    let mut buf = Vec::with_capacity(len.min(LOG_WINDOW) as usize);
    f.take(len).read_to_end(&mut buf).await?;
    Ok(buf)
}

/// `GET /api/runs/{id}/tasks/{task}/logs`: the attempt's output, as text; with
/// `follow=true`, streamed as it is written until the attempt ends.
#[utoipa::path(get, path = "/api/runs/{id}/tasks/{task}/logs", tag = "runs",
    params(
        ("id" = String, Path, description = "The run's id."),
        ("task" = String, Path, description = "The task's name."),
        LogsQuery,
    ),
    responses(
        (status = 200, description = "The attempt's output, from `X-Log-Offset`.", body = String,
         content_type = "text/plain; charset=utf-8",
         headers(
             ("x-log-size" = u64, description = "The log's size when it was read."),
             ("x-log-offset" = u64, description = "Where in the log the text sent starts."),
         )),
        (status = 400, description = "A parameter is not a number or a boolean.", body = ErrorBody),
        (status = 404, description = "The task has no such attempt in this run.", body = ErrorBody),
))]
pub async fn logs(
    State(app): State<App>,
    Path((id, task)): Path<(String, String)>,
    Query(q): Query<LogsQuery>,
) -> ApiResult<Response> {
    let attempts = app.store.attempts(&id, Some(&task)).await?;
    let chosen = match q.attempt {
        Some(n) => attempts.iter().find(|a| a.attempt == n),
        None => attempts.last(),
    }
    .cloned()
    .ok_or_else(|| {
        ApiError::NotFound(format!(
            "task `{task}` of run {id} has no attempt{}",
            q.attempt.map(|n| format!(" {n}")).unwrap_or_default()
        ))
    })?;
    let text = |size: u64, offset: u64| {
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            ),
            (
                header::HeaderName::from_static("x-log-size"),
                HeaderValue::from(size),
            ),
            (
                header::HeaderName::from_static("x-log-offset"),
                HeaderValue::from(offset),
            ),
        ]
    };
    let Some(path) = chosen.log_path.clone().map(std::path::PathBuf::from) else {
        return Ok((text(0, 0), Vec::new()).into_response());
    };
    let size = tokio::fs::metadata(&path).await.map_or(0, |m| m.len());
    let window = q.max_bytes.unwrap_or(LOG_WINDOW).clamp(1, LOG_WINDOW);
    let start = q
        .offset
        .unwrap_or_else(|| size.saturating_sub(window))
        .min(size);
    let first = read_window(&path, start, window).await.unwrap_or_default();
    let headers = text(size, start);
    if !q.follow || chosen.state.is_final() {
        return Ok((headers, first).into_response());
    }
    // Follow: the window, then what the file gains until the attempt is final, read from
    // where the last read stopped in bounded pieces.
    let store = app.store.clone();
    let n = chosen.attempt;
    let offset = start + first.len() as u64;
    let stream = futures_util::stream::unfold(
        (Some(first), offset, false),
        move |(first, offset, done)| {
            let (store, path, id, task) = (store.clone(), path.clone(), id.clone(), task.clone());
            async move {
                if let Some(first) = first {
                    return Some((Ok::<_, std::io::Error>(first), (None, offset, false)));
                }
                if done {
                    return None;
                }
                loop {
                    let finished = store
                        .attempts(&id, Some(&task))
                        .await
                        .map(|a| {
                            a.iter()
                                .find(|a| a.attempt == n)
                                .is_none_or(|a| a.state.is_final())
                        })
                        .unwrap_or(true);
                    let new = read_window(&path, offset, 64 * 1024)
                        .await
                        .unwrap_or_default();
                    if !new.is_empty() {
                        let next = offset + new.len() as u64;
                        return Some((Ok(new), (None, next, false)));
                    }
                    if finished {
                        return None;
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(250)).await;
                }
            }
        },
    );
    Ok((headers, Body::from_stream(stream)).into_response())
}
