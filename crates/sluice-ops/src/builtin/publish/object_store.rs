//! `publish.object_store`: an export folder to a local folder, S3, GCS or Azure (the
//! `object_store` crate). Each publication is an immutable folder
//! `<url>/<name>/<version>/` (the Parquet files, then `manifest.json`); `<name>/latest.json`,
//! one object written last, points at it, so a reader never sees half a version. A version
//! folder without its `manifest.json` is an upload that was interrupted: it never counts
//! among the versions `keep` keeps, and the next publication removes it. Nothing is
//! uploaded when the files' sha256 equal those of `latest.json`. Credentials come from the
//! usual environment variables (`AWS_ACCESS_KEY_ID`, `GOOGLE_SERVICE_ACCOUNT`,
//! `AZURE_STORAGE_ACCOUNT_KEY`…) or `options`; the crate retries 429 and 5xx answers.

use std::collections::BTreeMap;
use std::sync::Arc;

use ::object_store::local::LocalFileSystem;
use async_trait::async_trait;
use serde::Deserialize;
use sluice_objects::{ObjectStore, ObjectStoreExt, PutPayload, StorePath, child};

use super::{Published, Release, check_name, releases};
use crate::{Op, OpError, OpOutput, TaskContext, counters};

/// `op: publish.object_store`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublishObjectStore {
    /// The `export.parquet` folder to publish, relative to the pipeline file.
    pub path: String,
    /// `s3://bucket/prefix`, `gs://…`, `az://…`, `file:///…`, or a folder relative to the
    /// pipeline file.
    pub url: String,
    /// The published name (default: the export's); with parts, put before each part's name.
    #[serde(default)]
    pub name: Option<String>,
    /// Settings of the store (`endpoint`, `region`, `allow_http`…), over those taken from
    /// the environment.
    #[serde(default)]
    pub options: BTreeMap<String, String>,
    /// Versions kept per name, the newest ones (default: all).
    #[serde(default)]
    pub keep: Option<usize>,
}

/// Builds `publish.object_store`, checking its settings.
pub fn build(config: &sluice_core::Node) -> Result<Box<dyn Op>, sluice_core::DeError> {
    let op: PublishObjectStore = sluice_core::from_node(config)?;
    let bad = |m: String| <sluice_core::DeError as serde::de::Error>::custom(m);
    if let Some(name) = &op.name {
        check_name(name).map_err(bad)?;
    }
    if op.keep == Some(0) {
        return Err(bad("`keep` must be at least 1".into()));
    }
    if op.url.contains("://") {
        let url = url::Url::parse(&op.url).map_err(|e| bad(format!("`url`: {e}")))?;
        sluice_objects::check_scheme(&url).map_err(|e| bad(format!("`url`: {e}")))?;
    }
    Ok(Box::new(op))
}

/// The store and the prefix under it.
fn open(
    op: &PublishObjectStore,
    workdir: &std::path::Path,
) -> Result<(Arc<dyn ObjectStore>, StorePath), OpError> {
    if !op.url.contains("://") {
        let dir = workdir.join(&op.url);
        std::fs::create_dir_all(&dir)
            .map_err(|e| OpError::internal(format!("cannot create {}: {e}", dir.display())))?;
        let store = LocalFileSystem::new_with_prefix(&dir)
            .map_err(|e| OpError::config(format!("cannot open {}: {e}", dir.display())))?;
        return Ok((Arc::new(store), StorePath::default()));
    }
    sluice_objects::open(&op.url, &op.options).map_err(OpError::config)
}

/// Uploads one file in parts of 8 MiB (a multipart upload above that).
async fn upload(
    store: &Arc<dyn ObjectStore>,
    from: &std::path::Path,
    to: StorePath,
) -> Result<u64, OpError> {
    sluice_objects::upload(store, from, &to)
        .await
        .map_err(OpError::unavailable)
}

/// The published manifest at `at`, if any.
async fn latest(
    store: &Arc<dyn ObjectStore>,
    at: &StorePath,
) -> Result<Option<Published>, OpError> {
    let bytes = sluice_objects::get_if_any(store, at)
        .await
        .map_err(OpError::unavailable)?;
    Ok(bytes.and_then(|b| serde_json::from_slice(&b).ok()))
}

/// What publishing did.
#[derive(Default)]
struct Counts {
    published: u64,
    unchanged: u64,
    files: u64,
    bytes: u64,
    removed_versions: u64,
    removed_incomplete: u64,
}

async fn publish_one(
    op: &PublishObjectStore,
    ctx: &TaskContext,
    store: &Arc<dyn ObjectStore>,
    prefix: &StorePath,
    release: &Release,
    counts: &mut Counts,
) -> Result<(), OpError> {
    let base = child(prefix, &[&release.name]);
    let pointer = child(&base, &["latest.json"]);
    let before = latest(store, &pointer).await?;
    if before
        .as_ref()
        .is_some_and(|b| b.same_files(&release.manifest))
    {
        let _ = ctx.log.line(&format!(
            "{}: unchanged since version {}, nothing uploaded",
            release.name,
            before.map(|b| b.version).unwrap_or_default()
        ));
        counts.unchanged += 1;
        return Ok(());
    }
    let mut published = Published::new(&release.manifest, chrono::Utc::now());
    if before
        .as_ref()
        .is_some_and(|b| b.version >= published.version)
    {
        // Two publications in the same second: the later one sorts after.
        published.version = format!("{}-{}", published.version, ctx.run_id);
    }
    if !objects_under(store, &child(&base, &[&published.version]))
        .await?
        .is_empty()
    {
        // An interrupted upload in the same second left this folder: start a clean one.
        published.version = format!("{}-{}-{}", published.version, ctx.run_id, ctx.attempt);
    }
    let folder = child(&base, &[&published.version]);
    for file in &release.manifest.files {
        let sent = upload(
            store,
            &release.dir.join(&file.path),
            child(&folder, &[&file.path]),
        )
        .await?;
        counts.files += 1;
        counts.bytes += sent;
    }
    let json = published.to_json()?;
    for at in [child(&folder, &["manifest.json"]), pointer.clone()] {
        store
            .put(&at, PutPayload::from(json.clone()))
            .await
            .map_err(|e| OpError::unavailable(format!("writing {at}: {e}")))?;
    }
    let _ = ctx.log.line(&format!(
        "{}: version {} published ({} files, {} rows)",
        release.name,
        published.version,
        release.manifest.files.len(),
        release.manifest.rows
    ));
    counts.published += 1;
    if let Some(keep) = op.keep {
        remove_old_versions(store, &base, &published.version, keep, counts).await?;
    }
    Ok(())
}

/// The objects under a prefix.
async fn objects_under(
    store: &Arc<dyn ObjectStore>,
    prefix: &StorePath,
) -> Result<Vec<StorePath>, OpError> {
    sluice_objects::objects_under(store, prefix)
        .await
        .map_err(OpError::unavailable)
}

/// Keeps the `keep` newest complete versions of a name (those with their `manifest.json`,
/// written last) and removes the older ones. A folder without a manifest older than
/// `published` (the version just completed) is an upload that was interrupted: it is removed
/// and never counted among the kept versions.
async fn remove_old_versions(
    store: &Arc<dyn ObjectStore>,
    base: &StorePath,
    published: &str,
    keep: usize,
    counts: &mut Counts,
) -> Result<(), OpError> {
    let listed = store
        .list_with_delimiter(Some(base))
        .await
        .map_err(|e| OpError::unavailable(format!("listing {base}: {e}")))?;
    let mut versions: Vec<StorePath> = listed.common_prefixes;
    versions.sort();
    // Newest first.
    let mut complete = 0;
    for version in versions.into_iter().rev() {
        let name = version.filename().unwrap_or_default().to_string();
        let manifest = child(&version, &["manifest.json"]);
        let whole = match store.head(&manifest).await {
            Ok(_) => true,
            Err(::object_store::Error::NotFound { .. }) => false,
            Err(e) => return Err(OpError::unavailable(format!("reading {manifest}: {e}"))),
        };
        if whole {
            complete += 1;
            if complete <= keep {
                continue;
            }
        } else if name.as_str() >= published {
            // Started after this publication: another one still uploading.
            continue;
        }
        let deleted = sluice_objects::delete_under(store, &version)
            .await
            .map_err(OpError::unavailable)?;
        if deleted == 0 {
            continue; // an empty folder a local store left behind
        }
        if whole {
            counts.removed_versions += 1;
        } else {
            counts.removed_incomplete += 1;
        }
    }
    Ok(())
}

#[async_trait]
impl Op for PublishObjectStore {
    async fn run(&self, ctx: &TaskContext) -> Result<OpOutput, OpError> {
        let folder = ctx.workdir.join(&self.path);
        let releases = releases(&folder, self.name.as_deref())?;
        let (store, prefix) = open(self, &ctx.workdir)?;
        let mut counts = Counts::default();
        let work = async {
            for release in &releases {
                publish_one(self, ctx, &store, &prefix, release, &mut counts).await?;
            }
            Ok::<(), OpError>(())
        };
        tokio::select! {
            r = work => r?,
            _ = ctx.cancel.cancelled() => {
                return Err(OpError::cancelled(
                    "stopped; the published versions were left as they were (latest.json is \
                     written last)",
                ));
            }
        }
        let destination = sluice_op::lineage::External::url(&self.url)
            .unwrap_or_else(|| sluice_op::lineage::External::file(&ctx.workdir.join(&self.url)));
        Ok(OpOutput {
            lineage: sluice_op::Lineage {
                inputs: vec![sluice_op::lineage::External::file(
                    &ctx.workdir.join(&self.path),
                )],
                outputs: vec![destination],
                ..Default::default()
            },
            metrics: counters(&[
                ("published", counts.published),
                ("unchanged", counts.unchanged),
                ("files", counts.files),
                ("bytes", counts.bytes),
                ("removed_versions", counts.removed_versions),
                ("removed_incomplete", counts.removed_incomplete),
            ]),
            content_key: Some(super::content_key(&self.url, &releases)),
            ..OpOutput::default()
        })
    }

    /// The destination may have changed since (or the export): it is asked every time, and
    /// nothing is uploaded when it already holds the same files.
    fn always_runs(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use serde_json::json;

    use super::*;

    fn ctx(dir: &Path) -> TaskContext {
        TaskContext::for_test(dir, "publish")
    }

    fn manifest(sha256: &str) -> serde_json::Value {
        json!({
            "name": "items", "rows": 1, "bytes": 4,
            "files": [{"path": "items.parquet", "rows": 1, "bytes": 4, "sha256": sha256}],
            "columns": [], "group": null, "order_by": []
        })
    }

    fn write(path: &Path, text: &str) {
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, text).expect("write");
    }

    #[tokio::test]
    async fn an_interrupted_upload_is_never_kept_nor_made_latest() {
        let tmp = tempfile::tempdir().expect("tmp");
        let dir = tmp.path();
        write(&dir.join("export/items.parquet"), "rows");
        write(
            &dir.join("export/manifest.json"),
            &manifest("new").to_string(),
        );
        // Published before: a complete version, then an upload cut before its manifest.
        let dest = dir.join("pub/items");
        let mut old = manifest("old");
        old["version"] = json!("20200101T000000Z");
        old["published_at"] = json!("2020-01-01T00:00:00Z");
        write(&dest.join("20200101T000000Z/items.parquet"), "old!");
        write(
            &dest.join("20200101T000000Z/manifest.json"),
            &old.to_string(),
        );
        write(&dest.join("latest.json"), &old.to_string());
        write(&dest.join("20200102T000000Z/items.parquet"), "cut!");

        let op = PublishObjectStore {
            path: "export".into(),
            url: "pub".into(),
            name: None,
            options: BTreeMap::new(),
            keep: Some(2),
        };
        let out = op.run(&ctx(dir)).await.expect("publish");
        let metric = |k: &str| out.metrics[k].as_u64().expect("counter");
        assert_eq!(
            (
                metric("published"),
                metric("removed_versions"),
                metric("removed_incomplete")
            ),
            (1, 0, 1)
        );
        let latest: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dest.join("latest.json")).expect("latest"))
                .expect("json");
        let new = latest["version"].as_str().expect("version").to_string();
        assert!(new.as_str() > "20200102T000000Z", "{new}");
        // Kept: the two complete versions. The cut upload is gone, and was not one of them.
        assert!(dest.join(&new).join("manifest.json").is_file());
        assert!(dest.join("20200101T000000Z/manifest.json").is_file());
        assert!(!dest.join("20200102T000000Z/items.parquet").exists());
    }
}
