//! `publish.*`: an `export.parquet` folder (one `manifest.json`, or the parts listed in
//! `parts.json`) published where users fetch it. What the two destinations share: finding
//! the releases of the folder, the published manifest, and "nothing changed" by sha256.

pub mod huggingface;
pub mod object_store;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sluice_data::release::{MANIFEST, Manifest};

use crate::OpError;
use crate::support::parts::PARTS_LIST;

/// One folder to publish: its name at the destination and its manifest.
#[derive(Debug, Clone)]
pub(crate) struct Release {
    pub name: String,
    pub dir: PathBuf,
    pub manifest: Manifest,
}

/// The manifest as published: the export's, with when and as which version.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Published {
    #[serde(flatten)]
    pub manifest: Manifest,
    /// The version folder (`20261122T101500Z`).
    pub version: String,
    /// RFC 3339.
    pub published_at: String,
}

impl Published {
    pub fn new(manifest: &Manifest, now: chrono::DateTime<chrono::Utc>) -> Self {
        Published {
            manifest: manifest.clone(),
            version: now.format("%Y%m%dT%H%M%SZ").to_string(),
            published_at: now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        }
    }

    /// Whether it holds the same files, by name and sha256, as `manifest`.
    pub fn same_files(&self, manifest: &Manifest) -> bool {
        let key = |m: &Manifest| -> Vec<(String, String)> {
            m.files
                .iter()
                .map(|f| (f.path.clone(), f.sha256.clone()))
                .collect()
        };
        key(&self.manifest) == key(manifest)
    }

    pub fn to_json(&self) -> Result<Vec<u8>, OpError> {
        serde_json::to_vec_pretty(self).map_err(|e| OpError::internal(e.to_string()))
    }
}

fn read_manifest(dir: &Path) -> Result<Manifest, OpError> {
    let path = dir.join(MANIFEST);
    let bytes = std::fs::read(&path)
        .map_err(|e| OpError::config(format!("cannot read {}: {e}", path.display())))?;
    serde_json::from_slice(&bytes).map_err(|e| {
        OpError::data(format!(
            "{} is not an export manifest ({e}); run the export task again",
            path.display()
        ))
    })
}

/// The releases of an export folder: the folder itself when it has a `manifest.json`
/// (named `name`, else the manifest's name), else each part of its `parts.json`.
pub(crate) fn releases(folder: &Path, name: Option<&str>) -> Result<Vec<Release>, OpError> {
    if folder.join(MANIFEST).is_file() {
        let manifest = read_manifest(folder)?;
        return Ok(vec![Release {
            name: name.map_or_else(|| manifest.name.clone(), str::to_string),
            dir: folder.to_path_buf(),
            manifest,
        }]);
    }
    let list = folder.join(PARTS_LIST);
    if !list.is_file() {
        return Err(OpError::config(format!(
            "{} holds no {MANIFEST} nor {PARTS_LIST}: `path` must be the folder of an \
             `export.parquet` task, and the publishing task must come `after:` it",
            folder.display()
        )));
    }
    let parts: Vec<serde_json::Value> = std::fs::read(&list)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(|| OpError::data(format!("{} is not a list of parts", list.display())))?;
    let mut out = Vec::new();
    for part in parts.iter().filter_map(|p| p["part"].as_str()) {
        let dir = folder.join(part);
        let manifest = read_manifest(&dir)?;
        out.push(Release {
            name: match name {
                Some(prefix) => format!("{prefix}{part}"),
                None => part.to_string(),
            },
            dir,
            manifest,
        });
    }
    Ok(out)
}

/// A release name usable in a path: no separators, no `..`.
pub(crate) fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.contains(['/', '\\']) || name.starts_with('.') {
        return Err(format!(
            "`{name}` cannot name a published dataset: no `/`, `\\` or leading `.`"
        ));
    }
    Ok(())
}

/// What was published, as a key: the destination, then each release's name and files'
/// sha256 (the tasks after a publication run again only when it changes).
pub(crate) fn content_key(destination: &str, releases: &[Release]) -> String {
    let mut key = destination.to_string();
    for r in releases {
        key.push('|');
        key.push_str(&r.name);
        for f in &r.manifest.files {
            key.push(':');
            key.push_str(&f.sha256);
        }
    }
    key
}
