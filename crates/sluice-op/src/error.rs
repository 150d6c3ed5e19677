//! Why an attempt failed, typed: the kind says who must act and whether another attempt may
//! succeed, so the engine retries only what can pass and the server answers with the right
//! status.

use serde::{Deserialize, Serialize};

/// Who must act when something fails, and whether trying again may help.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The pipeline file or a task's settings are wrong (a missing environment variable, a
    /// path that does not exist, a query naming an unknown column): fix the file. Never
    /// retried.
    Config,
    /// The data is wrong (a malformed file, a broken archive, a failed check): fix the data.
    /// Never retried.
    Data,
    /// A service outside cannot answer now (429, 5xx, a timeout, a refused or dropped
    /// connection): retried.
    Unavailable,
    /// A service outside refused the request for good (401, 403, 404, a quota): fix the
    /// credentials or the address. Never retried.
    Refused,
    /// The attempt was stopped by the user or because the run is stopping. Never retried.
    Cancelled,
    /// What sluice cannot classify (a command's exit status, an unexpected failure): retried
    /// as the task's `retries` allow.
    Internal,
}

impl ErrorKind {
    /// Every kind, in the order of the documentation.
    pub const ALL: [ErrorKind; 6] = [
        ErrorKind::Config,
        ErrorKind::Data,
        ErrorKind::Unavailable,
        ErrorKind::Refused,
        ErrorKind::Cancelled,
        ErrorKind::Internal,
    ];

    /// Whether another attempt may succeed.
    pub fn retryable(self) -> bool {
        matches!(self, ErrorKind::Unavailable | ErrorKind::Internal)
    }

    /// The kind's name in records, JSON and messages (`config`, `data`…).
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Config => "config",
            ErrorKind::Data => "data",
            ErrorKind::Unavailable => "unavailable",
            ErrorKind::Refused => "refused",
            ErrorKind::Cancelled => "cancelled",
            ErrorKind::Internal => "internal",
        }
    }

    /// The kind named `name` ([`ErrorKind::as_str`]).
    pub fn from_name(name: &str) -> Option<ErrorKind> {
        ErrorKind::ALL.into_iter().find(|k| k.as_str() == name)
    }

    /// Who must act, for messages: "fix the pipeline file"…; none for `cancelled` and
    /// `internal`, which name no one (the task's log says more).
    pub fn advice(self) -> Option<&'static str> {
        match self {
            ErrorKind::Config => Some("fix the pipeline file or the task's settings"),
            ErrorKind::Data => Some("fix the input data"),
            ErrorKind::Unavailable => Some("a service is unavailable: try again later"),
            ErrorKind::Refused => Some(
                "a service refused the request: check the address, the credentials or the quota",
            ),
            ErrorKind::Cancelled | ErrorKind::Internal => None,
        }
    }

    /// The kind of an I/O failure: a missing or forbidden path is a setting to fix, a
    /// dropped or refused connection may pass, truncated or invalid bytes are bad data.
    pub fn of_io(e: &std::io::Error) -> ErrorKind {
        use std::io::ErrorKind as Io;
        match e.kind() {
            Io::NotFound | Io::PermissionDenied | Io::IsADirectory | Io::NotADirectory => {
                ErrorKind::Config
            }
            Io::ConnectionRefused
            | Io::ConnectionReset
            | Io::ConnectionAborted
            | Io::NotConnected
            | Io::BrokenPipe
            | Io::TimedOut
            | Io::Interrupted
            | Io::WouldBlock
            | Io::HostUnreachable
            | Io::NetworkUnreachable
            | Io::NetworkDown => ErrorKind::Unavailable,
            Io::InvalidData | Io::UnexpectedEof => ErrorKind::Data,
            _ => ErrorKind::Internal,
        }
    }

    /// The kind of an HTTP status answered by a service outside: 408, 425, 429 and 5xx may
    /// pass later; any other failure status is a refusal.
    pub fn of_http_status(status: u16) -> ErrorKind {
        match status {
            408 | 425 | 429 | 500..=599 => ErrorKind::Unavailable,
            _ => ErrorKind::Refused,
        }
    }
}

impl std::fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why an op failed: its [kind](ErrorKind) and a message for the user.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[error("{message}")]
pub struct OpError {
    /// Who must act, and whether a retry may help.
    pub kind: ErrorKind,
    /// What happened, for the user: which file, line, key or address.
    pub message: String,
    /// Exit code of a command, if the op ran one.
    pub exit_code: Option<i32>,
}

impl OpError {
    /// An error of kind `kind`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        OpError {
            kind,
            message: message.into(),
            exit_code: None,
        }
    }

    /// The pipeline file or the task's settings are wrong ([`ErrorKind::Config`]).
    pub fn config(message: impl Into<String>) -> Self {
        OpError::new(ErrorKind::Config, message)
    }

    /// The data is wrong ([`ErrorKind::Data`]).
    pub fn data(message: impl Into<String>) -> Self {
        OpError::new(ErrorKind::Data, message)
    }

    /// A service outside cannot answer now ([`ErrorKind::Unavailable`]).
    pub fn unavailable(message: impl Into<String>) -> Self {
        OpError::new(ErrorKind::Unavailable, message)
    }

    /// A service outside refused for good ([`ErrorKind::Refused`]).
    pub fn refused(message: impl Into<String>) -> Self {
        OpError::new(ErrorKind::Refused, message)
    }

    /// The attempt was stopped ([`ErrorKind::Cancelled`]).
    pub fn cancelled(message: impl Into<String>) -> Self {
        OpError::new(ErrorKind::Cancelled, message)
    }

    /// Anything else ([`ErrorKind::Internal`]).
    pub fn internal(message: impl Into<String>) -> Self {
        OpError::new(ErrorKind::Internal, message)
    }

    /// An I/O failure, its kind from the error ([`ErrorKind::of_io`]); `message` says what
    /// was being done to which file.
    pub fn io(message: impl std::fmt::Display, e: &std::io::Error) -> Self {
        OpError::new(ErrorKind::of_io(e), format!("{message}: {e}"))
    }

    /// A failure status from a service outside ([`ErrorKind::of_http_status`]).
    pub fn http(status: u16, message: impl Into<String>) -> Self {
        OpError::new(ErrorKind::of_http_status(status), message)
    }

    /// The same error with its message prefixed by `context` (`"part a: …"`).
    pub fn context(mut self, context: impl std::fmt::Display) -> Self {
        self.message = format!("{context}: {}", self.message);
        self
    }
}

impl From<std::io::Error> for OpError {
    fn from(e: std::io::Error) -> Self {
        OpError::new(ErrorKind::of_io(&e), e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_and_only_outside_failures_that_may_pass_are_retried() {
        for k in ErrorKind::ALL {
            assert_eq!(ErrorKind::from_name(k.as_str()), Some(k));
            assert_eq!(
                serde_json::to_string(&k).expect("json"),
                format!("\"{}\"", k.as_str())
            );
        }
        let retried: Vec<_> = ErrorKind::ALL
            .into_iter()
            .filter(|k| k.retryable())
            .collect();
        assert_eq!(retried, [ErrorKind::Unavailable, ErrorKind::Internal]);
    }

    #[test]
    fn http_and_io_failures_are_classified() {
        assert_eq!(ErrorKind::of_http_status(503), ErrorKind::Unavailable);
        assert_eq!(ErrorKind::of_http_status(429), ErrorKind::Unavailable);
        assert_eq!(ErrorKind::of_http_status(404), ErrorKind::Refused);
        assert_eq!(ErrorKind::of_http_status(401), ErrorKind::Refused);
        let missing = std::io::Error::from(std::io::ErrorKind::NotFound);
        assert_eq!(
            OpError::io("reading a.csv", &missing).kind,
            ErrorKind::Config
        );
        let reset = std::io::Error::from(std::io::ErrorKind::ConnectionReset);
        assert_eq!(OpError::from(reset).kind, ErrorKind::Unavailable);
    }
}
