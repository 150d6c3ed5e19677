//! Errors of the API and the one place where they become HTTP statuses.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sluice_op::ErrorKind;

/// The body of every error answer.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// What went wrong and what to do; URLs' credentials are masked.
    pub error: String,
}

/// What went wrong in a request; each kind has one status.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// No credentials, or credentials that are not (or no longer) valid.
    #[error("{0}")]
    Unauthenticated(String),
    /// Valid credentials without the role the route needs, or a missing CSRF token.
    #[error("{0}")]
    Forbidden(String),
    /// No such pipeline, run, task, user or token.
    #[error("{0}")]
    NotFound(String),
    /// The request is malformed or names something invalid.
    #[error("{0}")]
    BadRequest(String),
    /// The request conflicts with the current state (a run already running, a name taken).
    #[error("{0}")]
    Conflict(String),
    /// Too many failed logins: retry after this many seconds.
    #[error("too many failed logins for `{user}`: try again in {retry_after} s")]
    Throttled {
        /// The login name.
        user: String,
        /// Seconds to wait.
        retry_after: u64,
    },
    /// The server is busy with work of this kind: retry after this many seconds.
    #[error("{what}: try again in {retry_after} s")]
    Busy {
        /// What is busy.
        what: String,
        /// Seconds to wait.
        retry_after: u64,
    },
    /// The path exists but not with this method.
    #[error("{method} is not allowed here: use {allow}")]
    MethodNotAllowed {
        /// The method used.
        method: String,
        /// The methods the path has (`GET, POST`).
        allow: String,
    },
    /// The request's body, or the document it carries, is over a limit.
    #[error("{0}")]
    TooLarge(String),
    /// The request carries a document of a type the route does not take.
    #[error("{0}")]
    UnsupportedMedia(String),
    /// The work took longer than its limit.
    #[error("{0}")]
    Timeout(String),
    /// The request is well formed but the data it names cannot be used.
    #[error("{0}")]
    Unprocessable(String),
    /// Something the server needs cannot answer now (the state store refusing writes).
    #[error("{0}")]
    Unavailable(String),
    /// A service outside refused what the server asked of it.
    #[error("{0}")]
    BadGateway(String),
    /// The state store or the engine failed.
    #[error("{0}")]
    Internal(String),
}

impl ApiError {
    /// The status of this kind of error.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::Throttled { .. } | ApiError::Busy { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Timeout(_) | ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMedia(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::BadGateway(_) => StatusCode::BAD_GATEWAY,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl From<sluice_store::StoreError> for ApiError {
    fn from(e: sluice_store::StoreError) -> Self {
        ApiError::Internal(e.to_string())
    }
}

impl ApiError {
    /// The error of kind `kind` (docs/server.md, "Statuses"): `config` is 400, `data` 422,
    /// `unavailable` 503, `refused` 502, `cancelled` 503 (the server is stopping), `internal`
    /// 500.
    pub fn of_kind(kind: ErrorKind, message: String) -> ApiError {
        match kind {
            ErrorKind::Config => ApiError::BadRequest(message),
            ErrorKind::Data => ApiError::Unprocessable(message),
            ErrorKind::Unavailable | ErrorKind::Cancelled => ApiError::Unavailable(message),
            ErrorKind::Refused => ApiError::BadGateway(message),
            ErrorKind::Internal => ApiError::Internal(message),
        }
    }
}

impl From<sluice_engine::EngineError> for ApiError {
    /// By the error's kind, except what the engine finds about runs: an unknown run is 404,
    /// and a pipeline busy with its runs (still running, `max_active_runs` reached) is 409.
    fn from(e: sluice_engine::EngineError) -> Self {
        use sluice_engine::EngineError as E;
        match e {
            E::UnknownRun(_) => ApiError::NotFound(e.to_string()),
            E::StillRunning { .. } | E::RunningElsewhere { .. } | E::TooManyRuns { .. } => {
                ApiError::Conflict(e.to_string())
            }
            e => ApiError::of_kind(e.kind(), e.to_string()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::error!("{self}");
        }
        // Messages may quote URLs (a store's, a source's): never their credentials.
        let body = ErrorBody {
            error: sluice_op::redact_urls(&self.to_string()),
        };
        let mut response = (status, axum::Json(body)).into_response();
        let headers = response.headers_mut();
        match &self {
            ApiError::Unauthenticated(_) => {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"sluice\""),
                );
            }
            ApiError::Throttled { retry_after, .. } | ApiError::Busy { retry_after, .. } => {
                if let Ok(v) = HeaderValue::from_str(&retry_after.to_string()) {
                    headers.insert(header::RETRY_AFTER, v);
                }
            }
            ApiError::MethodNotAllowed { allow, .. } => {
                if let Ok(v) = HeaderValue::from_str(allow) {
                    headers.insert(header::ALLOW, v);
                }
            }
            _ => {}
        }
        response
    }
}

/// Result of a handler.
pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_engine::EngineError;

    #[test]
    fn statuses_follow_the_kinds_of_errors() {
        let status = |kind| ApiError::of_kind(kind, String::new()).status().as_u16();
        let table: Vec<(&str, u16)> = ErrorKind::ALL
            .into_iter()
            .map(|k| (k.as_str(), status(k)))
            .collect();
        assert_eq!(
            table,
            [
                ("config", 400),
                ("data", 422),
                ("unavailable", 503),
                ("refused", 502),
                ("cancelled", 503),
                ("internal", 500),
            ]
        );
    }

    #[test]
    fn engine_errors_answer_with_the_status_of_their_kind_or_of_the_run() {
        let status = |e: EngineError| ApiError::from(e).status().as_u16();
        assert_eq!(status(EngineError::UnknownRun("r".into())), 404);
        let unknown_task = EngineError::UnknownTask {
            name: "x".into(),
            hint: None,
        };
        assert_eq!(status(unknown_task), 400);
        let busy = EngineError::TooManyRuns {
            pipeline: "p".into(),
            max: 1,
        };
        assert_eq!(status(busy), 409);
        let running = EngineError::StillRunning {
            run_id: "r".into(),
            pid: 1,
        };
        assert_eq!(status(running), 409);
        let refused = EngineError::StoreRefused {
            run_id: "r".into(),
            file: "p.yaml".into(),
            source: sluice_store::StoreError::Corrupt("disk full".into()),
        };
        assert_eq!(status(refused), 503);
    }
}
