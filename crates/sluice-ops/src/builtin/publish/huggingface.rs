//! `publish.huggingface`: an export folder to a Hugging Face dataset repository, in one
//! commit: the files go to `data/<name>-latest/` (Parquet through Git LFS), the version they
//! replace is kept under `data/<name>-<version>/` (its LFS objects are referenced again, not
//! uploaded), and a dataset card (`README.md`: licence, source, schema, rows) is written.
//! Nothing is uploaded or committed when the files' sha256 equal those published. The
//! token comes from the environment (`HF_TOKEN`); 429 and 5xx answers are retried.

use std::path::{Path, PathBuf};
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine as _;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Published, Release, check_name, releases};
use crate::support::http::{answer_text, describe, send_retrying};
use crate::{Op, OpError, OpOutput, TaskContext, counters};

fn default_revision() -> String {
    "main".into()
}
fn default_token_env() -> String {
    "HF_TOKEN".into()
}

/// `op: publish.huggingface`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublishHuggingface {
    /// The `export.parquet` folder to publish, relative to the pipeline file.
    pub path: String,
    /// The dataset repository, `OWNER/NAME` (it must exist). Empty: the task publishes
    /// nothing and says so (a pipeline whose repository is a parameter, off by default).
    pub repo: String,
    /// The published name, `data/<name>-latest/` (default: the export's); with parts, put
    /// before each part's name.
    #[serde(default)]
    pub name: Option<String>,
    /// The branch (default `main`).
    #[serde(default = "default_revision")]
    pub revision: String,
    /// The Hub (default: the environment variable `HF_ENDPOINT`, else
    /// `https://huggingface.co`).
    #[serde(default)]
    pub endpoint: Option<String>,
    /// The environment variable holding a token with write access (default `HF_TOKEN`).
    #[serde(default = "default_token_env")]
    pub token_env: String,
    /// The licence, as the Hub names it (`etalab-2.0`, `cc-by-4.0`…), for the card.
    #[serde(default)]
    pub license: Option<String>,
    /// Where the data comes from, for the card.
    #[serde(default)]
    pub source: Option<String>,
    /// A paragraph for the card.
    #[serde(default)]
    pub description: Option<String>,
}

/// Builds `publish.huggingface`, checking its settings.
pub fn build(config: &sluice_core::Node) -> Result<Box<dyn Op>, sluice_core::DeError> {
    let op: PublishHuggingface = sluice_core::from_node(config)?;
    let bad = |m: String| <sluice_core::DeError as serde::de::Error>::custom(m);
    let parts: Vec<&str> = op.repo.split('/').collect();
    if !op.repo.is_empty() && (parts.len() != 2 || parts.iter().any(|p| p.is_empty())) {
        return Err(bad(format!(
            "`repo`: `{}` is not OWNER/NAME (`etalab-ia/service-public`)",
            op.repo
        )));
    }
    if let Some(name) = &op.name {
        check_name(name).map_err(bad)?;
    }
    Ok(Box::new(op))
}

/// The Hub's HTTP API for one repository.
struct Hub {
    http: reqwest::Client,
    endpoint: String,
    repo: String,
    revision: String,
    token: String,
    token_env: String,
}

/// Attempts of a request answered 429, 5xx or not at all.
const ATTEMPTS: u32 = 4;

impl Hub {
    fn api(&self, rest: &str) -> String {
        format!("{}/api/datasets/{}/{rest}", self.endpoint, self.repo)
    }

    /// Sends the request `build` makes, again after 429, 5xx or a connection error
    /// ([`send_retrying`]); a 404 is `None`.
    async fn send(
        &self,
        what: &str,
        build: impl Fn() -> Result<reqwest::RequestBuilder, OpError>,
    ) -> Result<Option<reqwest::Response>, OpError> {
        let answer = match send_retrying("the Hub", what, ATTEMPTS, build).await? {
            Ok(r) => return Ok(Some(r)),
            Err(r) if r.status().as_u16() == 404 => return Ok(None),
            Err(r) => r,
        };
        let (status, body) = answer_text(answer).await;
        let hint = match status.as_u16() {
            401 | 403 => format!(
                "; check that the token in {} has write access to {}",
                self.token_env, self.repo
            ),
            _ => String::new(),
        };
        Err(OpError::http(
            status.as_u16(),
            format!("{what}: the Hub answered {status}: {body}{hint}"),
        ))
    }

    /// [`Hub::send`] where a 404 is an error too.
    async fn send_found(
        &self,
        what: &str,
        build: impl Fn() -> Result<reqwest::RequestBuilder, OpError>,
    ) -> Result<reqwest::Response, OpError> {
        self.send(what, build)
            .await?
            .ok_or_else(|| OpError::refused(format!("{what}: the Hub answered 404")))
    }

    fn get(&self, url: &str) -> reqwest::RequestBuilder {
        self.http.get(url).bearer_auth(&self.token)
    }

    fn post_json(&self, url: &str, body: &Value, lfs: bool) -> reqwest::RequestBuilder {
        let kind = if lfs {
            "application/vnd.git-lfs+json"
        } else {
            "application/json"
        };
        self.http
            .post(url)
            .bearer_auth(&self.token)
            .header(reqwest::header::CONTENT_TYPE, kind)
            .header(reqwest::header::ACCEPT, kind)
            .body(body.to_string())
    }

    /// The repository exists and the token may read it, before anything is sent.
    async fn check_repo(&self) -> Result<(), OpError> {
        let url = format!("{}/api/datasets/{}", self.endpoint, self.repo);
        match self
            .send("reading the repository", || Ok(self.get(&url)))
            .await?
        {
            Some(_) => Ok(()),
            None => Err(OpError::refused(format!(
                "the dataset repository {} does not exist on {} (create it first, or fix \
                 `repo`)",
                self.repo, self.endpoint
            ))),
        }
    }

    /// The manifest published under `data/<name>-latest/`, if any.
    async fn published(&self, name: &str) -> Result<Option<(Published, Vec<u8>)>, OpError> {
        let url = format!(
            "{}/datasets/{}/resolve/{}/data/{name}-latest/manifest.json",
            self.endpoint, self.repo, self.revision
        );
        let what = format!("reading data/{name}-latest/manifest.json");
        let Some(answer) = self.send(&what, || Ok(self.get(&url))).await? else {
            return Ok(None);
        };
        let bytes = answer
            .bytes()
            .await
            .map_err(|e| OpError::unavailable(format!("{what}: {}", describe(&e))))?;
        Ok(serde_json::from_slice(&bytes)
            .ok()
            .map(|p| (p, bytes.to_vec())))
    }

    /// Uploads the files (path, sha256, size) the LFS store does not have yet.
    async fn upload_lfs(&self, files: &[(PathBuf, String, u64)]) -> Result<(u64, u64), OpError> {
        if files.is_empty() {
            return Ok((0, 0));
        }
        let url = format!(
            "{}/datasets/{}.git/info/lfs/objects/batch",
            self.endpoint, self.repo
        );
        let objects: Vec<Value> = files
            .iter()
            .map(|(_, oid, size)| json!({"oid": oid, "size": size}))
            .collect();
        let body = json!({
            "operation": "upload", "transfers": ["basic"], "objects": objects,
            "hash_algo": "sha256", "ref": {"name": format!("refs/heads/{}", self.revision)},
        });
        let what = "asking the LFS store where to upload";
        let answer = self
            .send_found(what, || Ok(self.post_json(&url, &body, true)))
            .await?;
        let batch: Value = serde_json::from_slice(
            &answer
                .bytes()
                .await
                .map_err(|e| OpError::unavailable(format!("{what}: {}", describe(&e))))?,
        )
        .map_err(|e| OpError::unavailable(format!("{what}: not JSON: {e}")))?;
        let (mut uploaded, mut bytes) = (0, 0);
        for object in batch["objects"].as_array().into_iter().flatten() {
            let oid = object["oid"].as_str().unwrap_or_default();
            let Some((path, _, size)) = files.iter().find(|f| f.1 == oid) else {
                continue;
            };
            if let Some(e) = object.get("error") {
                return Err(OpError::refused(format!(
                    "the LFS store refused {}: {e}",
                    path.display()
                )));
            }
            if let Some(upload) = object["actions"].get("upload") {
                self.put_file(path, upload).await?;
                uploaded += 1;
                bytes += size;
            }
            if let Some(verify) = object["actions"].get("verify") {
                let href = verify["href"].as_str().unwrap_or_default();
                let body = json!({"oid": oid, "size": size});
                let what = format!("verifying the upload of {}", path.display());
                self.send_found(&what, || {
                    Ok(with_headers(self.post_json(href, &body, true), verify))
                })
                .await?;
            }
        }
        Ok((uploaded, bytes))
    }

    async fn put_file(&self, path: &Path, action: &Value) -> Result<(), OpError> {
        let href = action["href"].as_str().unwrap_or_default();
        let what = format!("uploading {}", path.display());
        self.send_found(&what, || {
            let file = std::fs::File::open(path)
                .map_err(|e| OpError::internal(format!("cannot read {}: {e}", path.display())))?;
            let stream = tokio_util::io::ReaderStream::new(tokio::fs::File::from_std(file));
            Ok(with_headers(
                self.http.put(href).body(reqwest::Body::wrap_stream(stream)),
                action,
            ))
        })
        .await?;
        Ok(())
    }

    /// One commit of `operations` (the lines after the header).
    async fn commit(&self, summary: &str, operations: &[Value]) -> Result<String, OpError> {
        let mut body =
            json!({"key": "header", "value": {"summary": summary, "description": ""}}).to_string();
        for op in operations {
            body.push('\n');
            body.push_str(&op.to_string());
        }
        let url = self.api(&format!("commit/{}", self.revision));
        let what = "committing";
        let answer = self
            .send_found(what, || {
                Ok(self
                    .http
                    .post(&url)
                    .bearer_auth(&self.token)
                    .header(reqwest::header::CONTENT_TYPE, "application/x-ndjson")
                    .body(body.clone()))
            })
            .await?;
        let done: Value =
            serde_json::from_slice(&answer.bytes().await.unwrap_or_default()).unwrap_or_default();
        Ok(done["commitOid"].as_str().unwrap_or_default().to_string())
    }
}

/// The headers an LFS action asks for.
fn with_headers(mut request: reqwest::RequestBuilder, action: &Value) -> reqwest::RequestBuilder {
    if let Some(headers) = action["header"].as_object() {
        for (k, v) in headers {
            if let Some(v) = v.as_str() {
                request = request.header(k.as_str(), v);
            }
        }
    }
    request
}

fn lfs_file(path: String, oid: &str, size: u64) -> Value {
    json!({"key": "lfsFile", "value": {"path": path, "algo": "sha256", "oid": oid, "size": size}})
}

fn plain_file(path: String, content: &[u8]) -> Value {
    json!({"key": "file", "value": {
        "path": path,
        "encoding": "base64",
        "content": base64::engine::general_purpose::STANDARD.encode(content),
    }})
}

/// The dataset card: licence and configurations for the Hub, then each published name's
/// rows, files and schema.
fn card(op: &PublishHuggingface, published: &[(String, Published)]) -> String {
    let mut out = String::from("---\n");
    if let Some(license) = &op.license {
        out.push_str(&format!("license: {license}\n"));
    }
    out.push_str("configs:\n");
    for (i, (name, _)) in published.iter().enumerate() {
        out.push_str(&format!(
            "- config_name: {name}\n  data_files: \"data/{name}-latest/*.parquet\"\n"
        ));
        if i == 0 {
            out.push_str("  default: true\n");
        }
    }
    out.push_str("---\n\n");
    out.push_str(&format!("# {}\n\n", op.repo));
    if let Some(d) = &op.description {
        out.push_str(&format!("{d}\n\n"));
    }
    if let Some(source) = &op.source {
        out.push_str(&format!("Source: {source}\n\n"));
    }
    if let Some(license) = &op.license {
        out.push_str(&format!("Licence: {license}\n\n"));
    }
    for (name, p) in published {
        let m = &p.manifest;
        out.push_str(&format!(
            "## {name}\n\n`data/{name}-latest/`: {} rows in {} Parquet files ({} bytes), \
             published {} (version {}). Earlier versions stay under `data/{name}-<version>/`.\n",
            m.rows,
            m.files.len(),
            m.bytes,
            p.published_at,
            p.version
        ));
        if let Some(group) = &m.group {
            out.push_str(&format!("A file never splits a `{group}`."));
        }
        if !m.order_by.is_empty() {
            out.push_str(&format!(" Rows are ordered by {}.", m.order_by.join(", ")));
        }
        out.push_str("\n\n| column | type | nullable |\n|---|---|---|\n");
        for c in &m.columns {
            out.push_str(&format!(
                "| {} | `{}` | {} |\n",
                c.name,
                c.ty,
                if c.nullable { "yes" } else { "no" }
            ));
        }
        out.push('\n');
    }
    out.push_str("Published by [sluice](https://github.com/sluice-data/sluice).\n");
    out
}

#[async_trait]
impl Op for PublishHuggingface {
    async fn run(&self, ctx: &TaskContext) -> Result<OpOutput, OpError> {
        if self.repo.is_empty() {
            let _ = ctx
                .log
                .line("not published: `repo` is empty (no Hugging Face repository configured)");
            return Ok(OpOutput {
                metrics: counters(&[("published", 0)]),
                content_key: Some(String::new()),
                ..OpOutput::default()
            });
        }
        let token = std::env::var(&self.token_env).map_err(|_| {
            OpError::config(format!(
                "no Hugging Face token: the environment variable {} is not set (a token with \
                 write access to {}, from https://huggingface.co/settings/tokens); nothing \
                 was sent",
                self.token_env, self.repo
            ))
        })?;
        let releases = releases(&ctx.workdir.join(&self.path), self.name.as_deref())?;
        let endpoint = self
            .endpoint
            .clone()
            .or_else(|| std::env::var("HF_ENDPOINT").ok())
            .unwrap_or_else(|| "https://huggingface.co".into())
            .trim_end_matches('/')
            .to_string();
        let http = reqwest::Client::builder()
            .user_agent(concat!("sluice/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| OpError::internal(format!("cannot start an HTTP client: {e}")))?;
        let hub = Hub {
            http,
            endpoint,
            repo: self.repo.clone(),
            revision: self.revision.clone(),
            token,
            token_env: self.token_env.clone(),
        };
        let work = self.publish(ctx, &hub, &releases);
        let counts = tokio::select! {
            r = work => r?,
            _ = ctx.cancel.cancelled() => {
                return Err(OpError::cancelled("stopped before the commit; the repository was left as it was"));
            }
        };
        let hub = self.endpoint.as_deref().unwrap_or("https://huggingface.co");
        let mut out = OpOutput {
            lineage: sluice_op::Lineage {
                inputs: vec![sluice_op::lineage::External::file(
                    &ctx.workdir.join(&self.path),
                )],
                outputs: vec![sluice_op::lineage::External {
                    namespace: sluice_op::redact_urls(hub.trim_end_matches('/')),
                    name: format!("datasets/{}", self.repo),
                    fields: Vec::new(),
                }],
                ..Default::default()
            },
            metrics: counters(&[
                ("published", counts.0),
                ("unchanged", counts.1),
                ("uploaded_files", counts.2),
                ("uploaded_bytes", counts.3),
            ]),
            content_key: Some(super::content_key(&self.repo, &releases)),
            ..OpOutput::default()
        };
        if let Some(commit) = counts.4 {
            out.metrics.insert("commit".into(), commit.into());
        }
        Ok(out)
    }

    /// The repository may have changed since: it is asked every time, and nothing is sent
    /// when it already holds the same files.
    fn always_runs(&self) -> bool {
        true
    }
}

impl PublishHuggingface {
    /// (published, unchanged, uploaded files, uploaded bytes, commit id)
    async fn publish(
        &self,
        ctx: &TaskContext,
        hub: &Hub,
        releases: &[Release],
    ) -> Result<(u64, u64, u64, u64, Option<String>), OpError> {
        hub.check_repo().await?;
        let now = chrono::Utc::now();
        let mut operations = Vec::new();
        let mut uploads = Vec::new();
        let mut card_entries = Vec::new();
        let (mut published, mut unchanged) = (0, 0);
        for release in releases {
            let latest = format!("data/{}-latest", release.name);
            let before = hub.published(&release.name).await?;
            if let Some((b, _)) = &before
                && b.same_files(&release.manifest)
            {
                let _ = ctx.log.line(&format!(
                    "{}: unchanged since version {}, nothing to upload",
                    release.name, b.version
                ));
                unchanged += 1;
                card_entries.push((release.name.clone(), b.clone()));
                continue;
            }
            let mut new = Published::new(&release.manifest, now);
            if let Some((b, raw)) = &before {
                if b.version >= new.version {
                    new.version = format!("{}-{}", new.version, ctx.run_id);
                }
                let kept = format!("data/{}-{}", release.name, b.version);
                for f in &b.manifest.files {
                    operations.push(lfs_file(format!("{kept}/{}", f.path), &f.sha256, f.bytes));
                    if !release.manifest.files.iter().any(|n| n.path == f.path) {
                        operations.push(json!({"key": "deletedFile", "value": {"path": format!("{latest}/{}", f.path)}}));
                    }
                }
                operations.push(plain_file(format!("{kept}/manifest.json"), raw));
                let _ = ctx.log.line(&format!(
                    "{}: version {} kept under {kept}/",
                    release.name, b.version
                ));
            }
            for f in &release.manifest.files {
                uploads.push((release.dir.join(&f.path), f.sha256.clone(), f.bytes));
                operations.push(lfs_file(format!("{latest}/{}", f.path), &f.sha256, f.bytes));
            }
            operations.push(plain_file(
                format!("{latest}/manifest.json"),
                &new.to_json()?,
            ));
            let _ = ctx.log.line(&format!(
                "{}: version {} ({} rows, {} files) to {latest}/",
                release.name,
                new.version,
                release.manifest.rows,
                release.manifest.files.len()
            ));
            card_entries.push((release.name.clone(), new));
            published += 1;
        }
        if published == 0 {
            return Ok((0, unchanged, 0, 0, None));
        }
        operations.push(plain_file(
            "README.md".into(),
            card(self, &card_entries).as_bytes(),
        ));
        let (files, bytes) = hub.upload_lfs(&uploads).await?;
        let names: Vec<&str> = card_entries.iter().map(|(n, _)| n.as_str()).collect();
        let commit = hub
            .commit(
                &format!("sluice: publish {}", names.join(", ")),
                &operations,
            )
            .await?;
        let _ = ctx.log.line(&format!(
            "committed {commit} to {} ({files} files, {bytes} bytes uploaded)",
            self.repo
        ));
        Ok((published, unchanged, files, bytes, Some(commit)))
    }
}
