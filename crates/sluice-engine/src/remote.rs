//! A warehouse in an object store (`SLUICE_WAREHOUSE=s3://bucket/prefix`, GCS, Azure,
//! `file://`): the same layout as the local one, `<prefix>/<pipeline>/<task>/<version>/`,
//! each version folder complete only once its `_manifest.json` is there (written last, it
//! lists the files and their sizes). The local warehouse is then a cache of it: a process
//! that needs a version it does not have downloads it by its manifest into a folder of its
//! own and renames it in place, so a local version folder is always whole too.
//!
//! Workers on other machines upload a dataset they made to its staging folder's place
//! (manifest last); the process that runs the run downloads it, checks it and publishes it.
//! A worker's log goes to `<prefix>/.logs/<run>/<task>/<attempt>.log`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures_util::{StreamExt, TryStreamExt};

/// The name of a version folder's manifest, written last.
pub const MANIFEST: &str = "_manifest.json";

/// Files moved at once.
const PARALLEL: usize = 4;

/// What a version folder holds, as its manifest says.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Manifest {
    /// Format of the manifest (1).
    pub format: u32,
    /// Each file: its path in the folder (`/`-separated) and its size in bytes.
    pub files: BTreeMap<String, u64>,
}

/// The objects of an object store under the warehouse's prefix, named by keys relative to
/// it (`pipeline/task/version/part-00000.parquet`). The engine knows no object store: the
/// CLI gives it one (S3, GCS, Azure, `file://`, through the `object_store` crate).
#[async_trait::async_trait]
pub trait Objects: Send + Sync {
    /// The store's URL, without credentials (for messages).
    fn url(&self) -> &str;
    /// Uploads the file `from` to `key`; returns its size.
    async fn put_file(&self, from: &Path, key: &str) -> Result<u64, String>;
    /// Writes `bytes` to `key` in one request.
    async fn put(&self, key: &str, bytes: Vec<u8>) -> Result<(), String>;
    /// Downloads `key` into the file `to` (synced to disk); returns its size.
    async fn get_file(&self, key: &str, to: &Path) -> Result<u64, String>;
    /// The object at `key`, `None` when there is none.
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, String>;
    /// The keys under the folder `prefix`, at any depth.
    async fn list(&self, prefix: &str) -> Result<Vec<String>, String>;
    /// The names of the folders right under the folder `prefix`.
    async fn folders(&self, prefix: &str) -> Result<Vec<String>, String>;
    /// Removes `key` (none there is no error).
    async fn delete(&self, key: &str) -> Result<(), String>;
}

/// A warehouse in an object store: versions uploaded manifest last, downloaded by manifest.
pub struct Remote {
    objects: Arc<dyn Objects>,
}

impl std::fmt::Debug for Remote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Remote").field("url", &self.url()).finish()
    }
}

/// `a/b` + `c` → `a/b/c`.
fn key(base: &str, name: &str) -> String {
    match (base.trim_end_matches('/'), name) {
        ("", n) => n.to_string(),
        (b, "") => b.to_string(),
        (b, n) => format!("{b}/{n}"),
    }
}

impl Remote {
    /// The warehouse in `objects`.
    pub fn new(objects: Arc<dyn Objects>) -> Remote {
        Remote { objects }
    }

    /// Its URL, without credentials.
    pub fn url(&self) -> &str {
        self.objects.url()
    }

    /// Uploads the files of the folder `dir` under `rel`, then its manifest.
    pub async fn push_dir(&self, dir: &Path, rel: &str) -> Result<Manifest, String> {
        let mut files = Vec::new();
        list_files(dir, "", &mut files)?;
        let jobs: Vec<_> = files
            .into_iter()
            .map(|name| {
                let (from, to, objects) = (dir.join(&name), key(rel, &name), self.objects.clone());
                async move {
                    let size = objects.put_file(&from, &to).await?;
                    Ok::<_, String>((name, size))
                }
            })
            .collect();
        let sizes: Vec<(String, u64)> = futures_util::stream::iter(jobs)
            .buffer_unordered(PARALLEL)
            .try_collect()
            .await?;
        let manifest = Manifest {
            format: 1,
            files: sizes.into_iter().collect(),
        };
        let json = serde_json::to_vec(&manifest).map_err(|e| e.to_string())?;
        self.objects.put(&key(rel, MANIFEST), json).await?;
        Ok(manifest)
    }

    /// The manifest of the folder `rel`, when it is complete there.
    pub async fn manifest(&self, rel: &str) -> Result<Option<Manifest>, String> {
        let at = key(rel, MANIFEST);
        match self.objects.get(&at).await? {
            None => Ok(None),
            Some(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| format!("{at} in {} is not a sluice manifest: {e}", self.url())),
        }
    }

    /// Downloads the complete folder `rel` into `dir` (which must not hold files): into a
    /// folder beside it first, sizes checked, then renamed. `false` when `rel` is not
    /// complete in the store.
    pub async fn pull_dir(&self, rel: &str, dir: &Path) -> Result<bool, String> {
        let Some(manifest) = self.manifest(rel).await? else {
            return Ok(false);
        };
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        let parent = dir
            .parent()
            .ok_or_else(|| format!("{} has no parent folder", dir.display()))?;
        let temp = parent.join(format!(".{name}.pull-{}-{}", std::process::id(), nonce()));
        for name in manifest.files.keys() {
            let plain = !name.is_empty()
                && Path::new(name)
                    .components()
                    .all(|c| matches!(c, std::path::Component::Normal(_)));
            if !plain {
                return Err(format!(
                    "{}/{rel}/{MANIFEST} names `{name}`, which is not a file of its folder: \
                     refused",
                    self.url()
                ));
            }
        }
        let result = match self.download_into(rel, &manifest, &temp).await {
            // Whole on disk before it takes its name.
            Ok(()) => crate::warehouse::sync_tree(&temp).map_err(|e| e.to_string()),
            Err(e) => Err(e),
        };
        if let Err(e) = result {
            let _ = std::fs::remove_dir_all(&temp);
            return Err(e);
        }
        // An empty folder made for it (a staging folder) gives way; one with files, made by
        // another pull meanwhile, stays.
        let _ = std::fs::remove_dir(dir);
        match std::fs::rename(&temp, dir) {
            Ok(()) => {
                crate::warehouse::sync_dir(parent).map_err(|e| e.to_string())?;
                Ok(true)
            }
            Err(_) if dir.is_dir() => {
                let _ = std::fs::remove_dir_all(&temp);
                Ok(true)
            }
            Err(e) => {
                let _ = std::fs::remove_dir_all(&temp);
                Err(format!("{}: {e}", dir.display()))
            }
        }
    }

    async fn download_into(
        &self,
        rel: &str,
        manifest: &Manifest,
        temp: &Path,
    ) -> Result<(), String> {
        std::fs::create_dir_all(temp).map_err(|e| format!("{}: {e}", temp.display()))?;
        let jobs: Vec<_> = manifest
            .files
            .iter()
            .map(|(name, size)| {
                let (from, to, size) = (key(rel, name), temp.join(name), *size);
                let (objects, url) = (self.objects.clone(), self.url().to_string());
                async move {
                    if let Some(folder) = to.parent() {
                        std::fs::create_dir_all(folder)
                            .map_err(|e| format!("{}: {e}", folder.display()))?;
                    }
                    let got = objects.get_file(&from, &to).await?;
                    if got != size {
                        return Err(format!(
                            "{from} in {url} has {got} bytes, its manifest says {size}: the \
                             object was changed after its version was published"
                        ));
                    }
                    Ok::<(), String>(())
                }
            })
            .collect();
        futures_util::stream::iter(jobs)
            .buffer_unordered(PARALLEL)
            .try_collect::<Vec<()>>()
            .await?;
        Ok(())
    }

    /// Removes the folder `rel`: its manifest first (it stops being complete), then its files.
    pub async fn remove_dir(&self, rel: &str) -> Result<(), String> {
        self.objects.delete(&key(rel, MANIFEST)).await?;
        for k in self.objects.list(rel).await? {
            self.objects.delete(&k).await?;
        }
        Ok(())
    }

    /// The folders of `version` in the task folder `task_rel`, as names (`<version>`,
    /// `<version>.2`…).
    pub async fn version_folders(
        &self,
        task_rel: &str,
        version: &str,
    ) -> Result<Vec<String>, String> {
        Ok(self
            .objects
            .folders(task_rel)
            .await?
            .into_iter()
            .filter(|name| crate::warehouse::generation_of(name, version).is_some())
            .collect())
    }

    /// Every complete folder under `rel` (a pipeline), as paths relative to the warehouse.
    pub async fn complete_under(&self, rel: &str) -> Result<Vec<String>, String> {
        let suffix = format!("/{MANIFEST}");
        Ok(self
            .objects
            .list(rel)
            .await?
            .into_iter()
            .filter_map(|k| k.strip_suffix(&suffix).map(str::to_string))
            .collect())
    }

    /// Uploads one file to `rel`.
    pub async fn push_file(&self, file: &Path, rel: &str) -> Result<u64, String> {
        self.objects.put_file(file, rel).await
    }

    /// The object at `rel`, if any.
    pub async fn get(&self, rel: &str) -> Result<Option<Vec<u8>>, String> {
        self.objects.get(rel).await
    }

    /// Removes the object at `rel`.
    pub async fn delete(&self, rel: &str) -> Result<(), String> {
        self.objects.delete(rel).await
    }
}

/// The files under `dir`, as `/`-separated paths relative to it (a manifest aside).
fn list_files(dir: &Path, under: &str, out: &mut Vec<String>) -> Result<(), String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for entry in entries {
        let entry = entry.map_err(|e| format!("{}: {e}", dir.display()))?;
        let name = entry.file_name().to_string_lossy().to_string();
        let rel = if under.is_empty() {
            name.clone()
        } else {
            format!("{under}/{name}")
        };
        let kind = entry
            .file_type()
            .map_err(|e| format!("{}: {e}", entry.path().display()))?;
        if kind.is_dir() {
            list_files(&entry.path(), &rel, out)?;
        } else if kind.is_file() && rel != MANIFEST {
            out.push(rel);
        }
    }
    Ok(())
}

/// A few random hex digits, for folder names of one's own.
fn nonce() -> String {
    format!("{:08x}", rand::random::<u32>())
}

/// `path` relative to `root`, `/`-separated, when it is under it.
pub fn relative(root: &Path, path: &Path) -> Option<String> {
    let rest = path.strip_prefix(root).ok()?;
    let parts: Vec<String> = rest
        .components()
        .map(|c| c.as_os_str().to_string_lossy().to_string())
        .collect();
    (!parts.is_empty()).then(|| parts.join("/"))
}

/// `path` moved from under `from` to under `to` (unchanged when not under `from`).
pub fn rebase(path: &Path, from: &Path, to: &Path) -> PathBuf {
    match path.strip_prefix(from) {
        Ok(rest) => to.join(rest),
        Err(_) => path.to_path_buf(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Objects as files under a folder.
    struct Folder(PathBuf);

    #[async_trait::async_trait]
    impl Objects for Folder {
        fn url(&self) -> &str {
            "folder"
        }
        async fn put_file(&self, from: &Path, key: &str) -> Result<u64, String> {
            let bytes = std::fs::read(from).map_err(|e| e.to_string())?;
            let n = bytes.len() as u64;
            self.put(key, bytes).await?;
            Ok(n)
        }
        async fn put(&self, key: &str, bytes: Vec<u8>) -> Result<(), String> {
            let to = self.0.join(key);
            std::fs::create_dir_all(to.parent().expect("parent")).map_err(|e| e.to_string())?;
            std::fs::write(to, bytes).map_err(|e| e.to_string())
        }
        async fn get_file(&self, key: &str, to: &Path) -> Result<u64, String> {
            std::fs::copy(self.0.join(key), to).map_err(|e| e.to_string())
        }
        async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, String> {
            Ok(std::fs::read(self.0.join(key)).ok())
        }
        async fn list(&self, prefix: &str) -> Result<Vec<String>, String> {
            let mut files = Vec::new();
            let _ = list_files(&self.0.join(prefix), "", &mut files);
            Ok(files.into_iter().map(|f| key(prefix, &f)).collect())
        }
        async fn folders(&self, prefix: &str) -> Result<Vec<String>, String> {
            Ok(std::fs::read_dir(self.0.join(prefix))
                .map(|d| {
                    d.flatten()
                        .map(|e| e.file_name().to_string_lossy().into_owned())
                        .collect()
                })
                .unwrap_or_default())
        }
        async fn delete(&self, key: &str) -> Result<(), String> {
            let _ = std::fs::remove_file(self.0.join(key));
            Ok(())
        }
    }

    #[tokio::test]
    async fn a_folder_is_complete_only_with_its_manifest_and_comes_back_whole() {
        let tmp = tempfile::tempdir().expect("tmp");
        let bucket = tmp.path().join("bucket");
        std::fs::create_dir_all(&bucket).expect("bucket");
        let remote = Remote::new(Arc::new(Folder(bucket.join("wh"))));
        let dir = tmp.path().join("v1");
        std::fs::create_dir_all(dir.join("sub")).expect("dir");
        std::fs::write(dir.join("part-00000.parquet"), b"abc").expect("w");
        std::fs::write(dir.join("sub/x"), b"hello").expect("w");
        assert_eq!(remote.manifest("p/t/v1").await, Ok(None));
        let m = remote.push_dir(&dir, "p/t/v1").await.expect("push");
        assert_eq!(m.files.len(), 2);
        assert_eq!(remote.manifest("p/t/v1").await, Ok(Some(m)));
        assert_eq!(
            remote.complete_under("p").await.expect("list"),
            ["p/t/v1".to_string()]
        );
        assert_eq!(
            remote.version_folders("p/t", "v1").await.expect("folders"),
            ["v1".to_string()]
        );
        let back = tmp.path().join("cache/p/t/v1");
        std::fs::create_dir_all(back.parent().expect("parent")).expect("cache");
        assert_eq!(remote.pull_dir("p/t/v1", &back).await, Ok(true));
        assert_eq!(std::fs::read(back.join("sub/x")).expect("r"), b"hello");
        assert_eq!(remote.pull_dir("p/t/v2", &back).await, Ok(false));
        // A file changed behind the manifest's back is refused, and nothing is left.
        std::fs::write(bucket.join("wh/p/t/v1/sub/x"), b"hello!").expect("w");
        let again = tmp.path().join("cache/p/t/v1b");
        let err = remote.pull_dir("p/t/v1", &again).await.expect_err("size");
        assert!(err.contains("its manifest says 5"), "{err}");
        assert!(!again.exists());
        // A manifest naming a file outside its folder is refused.
        remote
            .objects
            .put(
                "p/t/v9/_manifest.json",
                br#"{"format":1,"files":{"../../x":1}}"#.to_vec(),
            )
            .await
            .expect("put");
        let err = remote
            .pull_dir("p/t/v9", &tmp.path().join("cache/p/t/v9"))
            .await
            .expect_err("refused");
        assert!(
            err.contains("`../../x`, which is not a file of its folder"),
            "{err}"
        );
        remote.remove_dir("p/t/v9").await.expect("remove");
        remote.remove_dir("p/t/v1").await.expect("remove");
        assert_eq!(remote.manifest("p/t/v1").await, Ok(None));
        assert_eq!(remote.objects.list("p").await, Ok(Vec::new()));
        assert!(remote.complete_under("p").await.expect("list").is_empty());
    }
}
