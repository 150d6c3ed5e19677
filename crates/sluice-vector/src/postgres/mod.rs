//! PostgreSQL + pgvector: connecting (TLS, password from the environment, a time limit),
//! the table a dataset becomes ([`columns`]), binary COPY ([`copy`]) and the load itself
//! ([`mod@load`]).

pub mod columns;
pub mod copy;
pub mod load;
pub mod search;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub use load::{LoadReport, LoadSpec, Mode, Reference, load};

use crate::{Error, Result};

/// Whether the connection is encrypted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TlsMode {
    /// Plain TCP (a server on the same machine or network).
    Disable,
    /// TLS when the server offers it, plain otherwise (libpq's default).
    Prefer,
    /// TLS or nothing; the server's certificate is verified against the web's root
    /// authorities or `ca_file`.
    Require,
}

/// How to reach the server.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    /// `postgres://user@host:port/db?sslmode=…` or libpq's `key=value` form.
    pub url: String,
    /// The password, when it is not in the URL (read from an environment variable).
    pub password: Option<String>,
    /// TLS, overriding the URL's `sslmode` when set.
    pub tls: Option<TlsMode>,
    /// Certificates (PEM) to trust besides the web's root authorities.
    pub ca_file: Option<PathBuf>,
    /// How long to wait for the server.
    pub connect_timeout: Duration,
}

impl ConnectOptions {
    /// `url` as it is: its own password and `sslmode`, web roots, 10 s to connect.
    pub fn new(url: impl Into<String>) -> ConnectOptions {
        ConnectOptions {
            url: url.into(),
            password: None,
            tls: None,
            ca_file: None,
            connect_timeout: Duration::from_secs(10),
        }
    }
}

/// Where a connection goes, for messages: `host:port/db as user`, never the password.
pub fn describe(config: &tokio_postgres::Config) -> String {
    let host = match config.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(h)) => h.clone(),
        Some(tokio_postgres::config::Host::Unix(p)) => p.display().to_string(),
        None => "localhost".into(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    format!(
        "{host}:{port}/{} as {}",
        config.get_dbname().unwrap_or("postgres"),
        config.get_user().unwrap_or("(default user)")
    )
}

fn tls_config(ca_file: Option<&PathBuf>) -> Result<rustls::ClientConfig> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(path) = ca_file {
        let certs = CertificateDer::pem_file_iter(path)
            .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
            .map_err(|e| Error(format!("`ca_file` {}: {e}", path.display())))?;
        if certs.is_empty() {
            return Err(Error(format!(
                "`ca_file` {}: no PEM certificate in it",
                path.display()
            )));
        }
        for cert in certs {
            roots.add(cert).map_err(|e| {
                Error(format!(
                    "`ca_file` {}: not a usable certificate: {e}",
                    path.display()
                ))
            })?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error(format!("TLS set-up: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// Connects, or says where it tried and what to check. The connection's background task
/// runs on the current runtime until the client is dropped.
pub async fn connect(options: &ConnectOptions) -> Result<tokio_postgres::Client> {
    let mut config: tokio_postgres::Config = options.url.parse().map_err(|e| {
        Error(format!(
            "not a PostgreSQL URL ({e}): expected postgres://USER@HOST:PORT/DATABASE"
        ))
    })?;
    if let Some(password) = &options.password {
        config.password(password);
    }
    if let Some(tls) = options.tls {
        config.ssl_mode(match tls {
            TlsMode::Disable => tokio_postgres::config::SslMode::Disable,
            TlsMode::Prefer => tokio_postgres::config::SslMode::Prefer,
            TlsMode::Require => tokio_postgres::config::SslMode::Require,
        });
    }
    config.connect_timeout(options.connect_timeout);
    if config.get_application_name().is_none() {
        config.application_name("sluice");
    }
    let tls = tokio_postgres_rustls::MakeRustlsConnect::new(tls_config(options.ca_file.as_ref())?);
    let target = describe(&config);
    let attempt = tokio::time::timeout(
        options.connect_timeout + Duration::from_secs(1),
        config.connect(tls),
    )
    .await;
    let (client, connection) = match attempt {
        Ok(Ok(pair)) => pair,
        Ok(Err(e)) => {
            return Err(Error(format!(
                "cannot connect to PostgreSQL at {target}: {}; check the URL (`url` or \
                 SLUICE_PG_URL), that the server runs and accepts this user",
                pg_message(&e)
            )));
        }
        Err(_) => {
            return Err(Error(format!(
                "cannot connect to PostgreSQL at {target}: no answer within {:?}; check the \
                 URL (`url` or SLUICE_PG_URL) and that the server runs",
                options.connect_timeout
            )));
        }
    };
    tokio::spawn(async move {
        // Errors surface on the client's next call; nothing to do with them here.
        let _ = connection.await;
    });
    Ok(client)
}

/// The whole of a PostgreSQL error: the server's message, detail, hint and context (which
/// COPY line, which column), or the client-side cause chain.
pub fn pg_message(e: &tokio_postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        let mut out = db.message().to_string();
        for (label, part) in [
            ("detail", db.detail()),
            ("hint", db.hint()),
            ("context", db.where_()),
        ] {
            if let Some(part) = part {
                out.push_str(&format!(" ({label}: {part})"));
            }
        }
        return out;
    }
    let mut out = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

/// An error of a statement, with what sluice was doing.
pub(crate) fn db_err(doing: &str) -> impl Fn(tokio_postgres::Error) -> Error + '_ {
    move |e| Error(format!("{doing}: {}", pg_message(&e)))
}

/// `name` quoted as a PostgreSQL identifier.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `s` as a SQL string literal.
pub fn quote_literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// PostgreSQL keeps the first 63 bytes of an identifier. A longer name is cut and ends
/// with 8 hex digits of its hash instead, so two long names never become the same one.
pub fn identifier(name: &str) -> String {
    shorten(name, 63)
}

/// `name` in at most `max` bytes (at least 16): a longer one is cut at a character boundary
/// and ends with `_` and 8 hex digits of the whole name's hash.
pub fn shorten(name: &str, max: usize) -> String {
    if name.len() <= max {
        return name.to_string();
    }
    let hash = twox_hash::XxHash64::oneshot(0, name.as_bytes());
    let suffix = format!("_{:08x}", hash as u32);
    let mut cut = max.saturating_sub(suffix.len());
    while !name.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}{suffix}", &name[..cut])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_identifiers_are_cut_without_collisions() {
        let a = format!("{}_code_du_travail", "x".repeat(60));
        let b = format!("{}_code_civil", "x".repeat(60));
        let (ia, ib) = (identifier(&a), identifier(&b));
        assert_eq!(ia.len(), 63);
        assert_eq!(ib.len(), 63);
        assert_ne!(ia, ib);
        assert_eq!(identifier("short"), "short");
        let accented = "é".repeat(40);
        assert!(identifier(&accented).len() <= 63);
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(quote_literal("l'a"), "'l''a'");
    }
}
