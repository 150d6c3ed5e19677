//! The object store of a warehouse (`SLUICE_WAREHOUSE`) for the engine: its
//! [`sluice_engine::remote::Objects`] over the `object_store` crate (S3, GCS, Azure,
//! `file://`), credentials from the environment.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use sluice_objects::{ObjectStore, ObjectStoreExt, PutPayload, StorePath};

/// A warehouse's objects: keys under the URL's prefix.
pub struct StoreObjects {
    store: Arc<dyn ObjectStore>,
    prefix: StorePath,
    url: String,
}

impl StoreObjects {
    /// The objects under `url` (`s3://bucket/prefix`…).
    pub fn open(url: &str) -> Result<StoreObjects, String> {
        let (store, prefix) = sluice_objects::open(url, &BTreeMap::new())?;
        Ok(StoreObjects {
            store,
            prefix,
            url: sluice_objects::display(url)
                .trim_end_matches('/')
                .to_string(),
        })
    }

    fn at(&self, key: &str) -> StorePath {
        let parts: Vec<&str> = key.split('/').filter(|p| !p.is_empty()).collect();
        sluice_objects::child(&self.prefix, &parts)
    }

    /// `at` relative to the prefix, `/`-separated.
    fn key_of(&self, at: &StorePath) -> String {
        let skip = self.prefix.parts().count();
        at.parts()
            .skip(skip)
            .map(|p| p.as_ref().to_string())
            .collect::<Vec<_>>()
            .join("/")
    }

    fn failed(&self, what: &str, key: &str, e: impl std::fmt::Display) -> String {
        format!("{what} {key} in {}: {e}", self.url)
    }
}

#[async_trait::async_trait]
impl sluice_engine::remote::Objects for StoreObjects {
    fn url(&self) -> &str {
        &self.url
    }

    async fn put_file(&self, from: &Path, key: &str) -> Result<u64, String> {
        sluice_objects::upload(&self.store, from, &self.at(key)).await
    }

    async fn put(&self, key: &str, bytes: Vec<u8>) -> Result<(), String> {
        self.store
            .put(&self.at(key), PutPayload::from(bytes))
            .await
            .map(|_| ())
            .map_err(|e| self.failed("writing", key, e))
    }

    async fn get_file(&self, key: &str, to: &Path) -> Result<u64, String> {
        sluice_objects::download(&self.store, &self.at(key), to).await
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, String> {
        sluice_objects::get_if_any(&self.store, &self.at(key)).await
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, String> {
        Ok(sluice_objects::objects_under(&self.store, &self.at(prefix))
            .await?
            .iter()
            .map(|at| self.key_of(at))
            .collect())
    }

    async fn folders(&self, prefix: &str) -> Result<Vec<String>, String> {
        let listed = self
            .store
            .list_with_delimiter(Some(&self.at(prefix)))
            .await
            .map_err(|e| self.failed("listing", prefix, e))?;
        Ok(listed
            .common_prefixes
            .iter()
            .filter_map(|p| p.filename().map(str::to_string))
            .collect())
    }

    async fn delete(&self, key: &str) -> Result<(), String> {
        match self.store.delete(&self.at(key)).await {
            Ok(()) | Err(sluice_objects::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.failed("deleting", key, e)),
        }
    }
}
