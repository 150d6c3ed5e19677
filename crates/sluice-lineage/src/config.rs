//! Where lineage goes, configured once for a home: `HOME/openlineage.yml` (or the file
//! `OPENLINEAGE_CONFIG` names), else `OPENLINEAGE_URL`. The names follow OpenLineage's own
//! clients:
//!
//! ```yaml
//! namespace: data_team            # the jobs' namespace (default: OPENLINEAGE_NAMESPACE, or sluice)
//! transport:                      # one transport, or a list of them
//!   type: http                    # http | file | console
//!   url: http://localhost:5000    # the collector (Marquez, DataHub's /openapi/openlineage/)
//!   endpoint: api/v1/lineage      # the default
//!   timeout: 5s                   # per request
//!   api_key_env: OPENLINEAGE_API_KEY   # the variable holding the bearer key (never the key)
//! ```
//!
//! `type: file` takes `path` (NDJSON, one event per line, relative to the home);
//! `OPENLINEAGE_DISABLED=true` turns everything off.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

/// The config file's name in a home.
pub const FILE: &str = "openlineage.yml";

/// Where events go.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The jobs' namespace.
    pub namespace: String,
    /// The transports, each gets every event.
    pub transports: Vec<Transport>,
}

/// One destination of events.
#[derive(Debug, Clone, PartialEq)]
pub enum Transport {
    /// POST each event to a collector.
    Http {
        /// The full address events are posted to.
        url: String,
        /// The bearer key, read from the environment.
        api_key: Option<String>,
        /// Per request.
        timeout: Duration,
    },
    /// Append each event as a line of this file.
    File {
        /// The file.
        path: PathBuf,
    },
    /// Print each event on standard error.
    Console,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
enum TransportConfig {
    Http {
        url: String,
        endpoint: Option<String>,
        timeout: Option<String>,
        api_key_env: Option<String>,
    },
    File {
        path: PathBuf,
    },
    Console {},
}

const DEFAULT_ENDPOINT: &str = "api/v1/lineage";
const DEFAULT_KEY_ENV: &str = "OPENLINEAGE_API_KEY";

impl Config {
    /// The configuration of `home`, `None` when lineage is off. `env` reads a variable.
    pub fn of_home(
        home: &Path,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Option<Config>, String> {
        if env("OPENLINEAGE_DISABLED").is_some_and(|v| v.eq_ignore_ascii_case("true") || v == "1") {
            return Ok(None);
        }
        let namespace = env("OPENLINEAGE_NAMESPACE").unwrap_or_else(|| "sluice".into());
        let file = env("OPENLINEAGE_CONFIG")
            .map(PathBuf::from)
            .unwrap_or_else(|| home.join(FILE));
        match std::fs::read_to_string(&file) {
            Ok(text) => Self::parse(&text, &file, home, &namespace, env).map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if env("OPENLINEAGE_CONFIG").is_some() {
                    return Err(format!(
                        "{}: no such file (named by OPENLINEAGE_CONFIG)",
                        file.display()
                    ));
                }
                Ok(env("OPENLINEAGE_URL").map(|url| Config {
                    namespace,
                    transports: vec![Transport::Http {
                        url: join_url(
                            &url,
                            &env("OPENLINEAGE_ENDPOINT").unwrap_or_else(|| DEFAULT_ENDPOINT.into()),
                        ),
                        api_key: env(DEFAULT_KEY_ENV).filter(|k| !k.is_empty()),
                        timeout: Duration::from_secs(5),
                    }],
                }))
            }
            Err(e) => Err(format!("cannot read {}: {e}", file.display())),
        }
    }

    fn parse(
        text: &str,
        file: &Path,
        home: &Path,
        namespace: &str,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, String> {
        let at =
            |line: usize, col: usize, msg: &str| format!("{}:{line}:{col}: {msg}", file.display());
        let node =
            sluice_core::yaml::parse(text).map_err(|e| at(e.mark.line, e.mark.col, &e.message))?;
        let map = node.as_map().ok_or_else(|| {
            at(
                node.mark.line,
                node.mark.col,
                "expected keys `namespace` and `transport`",
            )
        })?;
        let mut own_namespace = None;
        let mut items = Vec::new();
        for (k, v) in map {
            match k.as_text() {
                Some("namespace") => {
                    own_namespace =
                        Some(v.as_text().map(str::to_string).ok_or_else(|| {
                            at(v.mark.line, v.mark.col, "`namespace` must be text")
                        })?)
                }
                Some("transport") => match v.as_seq() {
                    Some(list) => items.extend(list.iter()),
                    None => items.push(v),
                },
                _ => {
                    return Err(at(
                        k.mark.line,
                        k.mark.col,
                        &format!(
                            "unknown key `{}` (expected `namespace` or `transport`)",
                            k.as_text().unwrap_or_default()
                        ),
                    ));
                }
            }
        }
        if items.is_empty() {
            return Err(at(
                node.mark.line,
                node.mark.col,
                "no `transport`: say where events go",
            ));
        }
        let mut transports = Vec::new();
        for item in items {
            let t: TransportConfig = sluice_core::from_node(item).map_err(|e| {
                let mark = e.mark.unwrap_or(item.mark);
                at(mark.line, mark.col, &e.to_string())
            })?;
            transports.push(match t {
                TransportConfig::Http {
                    url,
                    endpoint,
                    timeout,
                    api_key_env,
                } => {
                    let timeout = match timeout {
                        Some(t) => sluice_core::duration::parse_duration(&t)
                            .map_err(|e| format!("{}: transport timeout: {e}", file.display()))?,
                        None => Duration::from_secs(5),
                    };
                    let key_env = api_key_env.unwrap_or_else(|| DEFAULT_KEY_ENV.into());
                    Transport::Http {
                        url: join_url(&url, endpoint.as_deref().unwrap_or(DEFAULT_ENDPOINT)),
                        api_key: env(&key_env).filter(|k| !k.is_empty()),
                        timeout,
                    }
                }
                TransportConfig::File { path } => Transport::File {
                    path: home.join(path),
                },
                TransportConfig::Console {} => Transport::Console,
            });
        }
        Ok(Config {
            namespace: own_namespace.unwrap_or_else(|| namespace.to_string()),
            transports,
        })
    }
}

fn join_url(base: &str, endpoint: &str) -> String {
    format!(
        "{}/{}",
        base.trim_end_matches('/'),
        endpoint.trim_start_matches('/')
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| {
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn the_url_variable_alone_posts_to_the_collector_with_its_key() {
        let home = tempfile::tempdir().expect("test");
        let vars = [
            ("OPENLINEAGE_URL", "http://marquez:5000/"),
            ("OPENLINEAGE_API_KEY", "k3y"),
            ("OPENLINEAGE_NAMESPACE", "team"),
        ];
        let c = Config::of_home(home.path(), &env(&vars))
            .expect("test")
            .expect("test");
        assert_eq!(c.namespace, "team");
        assert_eq!(
            c.transports,
            [Transport::Http {
                url: "http://marquez:5000/api/v1/lineage".into(),
                api_key: Some("k3y".into()),
                timeout: Duration::from_secs(5)
            }]
        );
        assert_eq!(Config::of_home(home.path(), &env(&[])).expect("test"), None);
        let off = [
            ("OPENLINEAGE_URL", "http://x"),
            ("OPENLINEAGE_DISABLED", "true"),
        ];
        assert_eq!(
            Config::of_home(home.path(), &env(&off)).expect("test"),
            None
        );
    }

    #[test]
    fn the_home_file_wins_and_says_where_it_is_wrong() {
        let home = tempfile::tempdir().expect("test");
        std::fs::write(
            home.path().join(FILE),
            "namespace: team\ntransport:\n  - type: file\n    path: lineage.ndjson\n  - type: http\n    url: http://c:5000\n    timeout: 2s\n    api_key_env: MY_KEY\n",
        )
        .expect("test");
        let vars = [("OPENLINEAGE_URL", "http://ignored"), ("MY_KEY", "s")];
        let c = Config::of_home(home.path(), &env(&vars))
            .expect("test")
            .expect("test");
        assert_eq!(c.namespace, "team");
        assert_eq!(
            c.transports,
            [
                Transport::File {
                    path: home.path().join("lineage.ndjson")
                },
                Transport::Http {
                    url: "http://c:5000/api/v1/lineage".into(),
                    api_key: Some("s".into()),
                    timeout: Duration::from_secs(2)
                }
            ]
        );
        std::fs::write(home.path().join(FILE), "transport:\n  type: kafka\n").expect("test");
        let err = Config::of_home(home.path(), &env(&[])).expect_err("a bad config");
        assert!(
            err.starts_with(&format!("{}:", home.path().join(FILE).display())),
            "{err}"
        );
        assert!(err.contains("kafka"), "{err}");
    }
}
