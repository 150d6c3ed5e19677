//! Object stores for sluice: S3 (and MinIO, moto…), GCS, Azure and `file://`, opened from a
//! URL with their credentials from the usual environment variables (`AWS_ACCESS_KEY_ID`,
//! `AWS_ENDPOINT_URL`, `GOOGLE_SERVICE_ACCOUNT`, `AZURE_STORAGE_ACCOUNT_KEY`…), and files
//! moved up and down in parts of 8 MiB. Used by `publish.object_store` and by a warehouse in
//! an object store (`SLUICE_WAREHOUSE`). The `object_store` crate retries 429 and 5xx
//! answers; errors here name the file and the object.

use std::collections::BTreeMap;
use std::path::Path as LocalPath;
use std::sync::Arc;

pub use object_store::path::Path as StorePath;
pub use object_store::{Error, ObjectStore, ObjectStoreExt, PutPayload};

use futures_util::{StreamExt, TryStreamExt};
use object_store::buffered::BufWriter;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Parts of an upload, and the read buffer.
const PART: usize = 8 << 20;

/// The store of `url` (`s3://bucket/prefix`, `gs://…`, `az://…`, `file:///…`) and the prefix
/// under it. Settings come from the environment's `AWS_*`, `GOOGLE_*` and `AZURE_*`
/// variables, then from `options` (`endpoint`, `region`, `allow_http`…).
pub fn open(
    url: &str,
    options: &BTreeMap<String, String>,
) -> Result<(Arc<dyn ObjectStore>, StorePath), String> {
    let parsed = url::Url::parse(url).map_err(|e| format!("not a URL: {e}"))?;
    check_scheme(&parsed)?;
    let mut settings: BTreeMap<String, String> = std::env::vars()
        .filter(|(k, _)| {
            ["AWS_", "GOOGLE_", "AZURE_"]
                .iter()
                .any(|p| k.starts_with(p))
        })
        .map(|(k, v)| (k.to_ascii_lowercase(), v))
        .collect();
    settings.extend(options.clone());
    let (store, prefix) = object_store::parse_url_opts(&parsed, settings).map_err(|e| {
        // The store's message may quote the URL: never its credentials.
        let clean = display(url);
        let mut message = e.to_string().replace(url, &clean);
        if let Some(password) = parsed.password() {
            message = message.replace(password, "***");
        }
        format!("cannot use {clean}: {message}")
    })?;
    Ok((Arc::from(store), prefix))
}

/// An error unless `url` names a kind of store this build opens.
pub fn check_scheme(url: &url::Url) -> Result<(), String> {
    object_store::ObjectStoreScheme::parse(url)
        .map(|_| ())
        .map_err(|_| {
            format!(
                "`{}://` is not a kind of store sluice opens (s3://, gs://, az://, file:// or a \
                 folder)",
                url.scheme()
            )
        })
}

/// `url` without the user, password and query it may hold (an Azure SAS token is a
/// query), for messages.
pub fn display(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) => {
            let _ = u.set_username("");
            let _ = u.set_password(None);
            u.set_query(None);
            u.set_fragment(None);
            u.to_string()
        }
        Err(_) => "(a URL that does not parse)".to_string(),
    }
}

/// `base/part/part…`.
pub fn child(base: &StorePath, parts: &[&str]) -> StorePath {
    parts.iter().fold(base.clone(), |p, part| p.join(*part))
}

/// Uploads one file in parts of 8 MiB (a multipart upload above that); returns its size.
pub async fn upload(
    store: &Arc<dyn ObjectStore>,
    from: &LocalPath,
    to: &StorePath,
) -> Result<u64, String> {
    let failed = |e: &dyn std::fmt::Display| format!("uploading {} to {to}: {e}", from.display());
    let mut file = tokio::fs::File::open(from).await.map_err(|e| failed(&e))?;
    let mut writer = BufWriter::with_capacity(store.clone(), to.clone(), PART);
    let mut sent = 0u64;
    let mut buf = vec![0u8; PART];
    loop {
        let n = file.read(&mut buf).await.map_err(|e| failed(&e))?;
        if n == 0 {
            break;
        }
        if let Err(e) = writer.write_all(&buf[..n]).await {
            let _ = writer.abort().await;
            return Err(failed(&e));
        }
        sent += n as u64;
    }
    writer.shutdown().await.map_err(|e| failed(&e))?;
    Ok(sent)
}

/// Downloads one object into the file `to` (created or truncated), streaming; returns its
/// size. The file is synced to disk.
pub async fn download(
    store: &Arc<dyn ObjectStore>,
    from: &StorePath,
    to: &LocalPath,
) -> Result<u64, String> {
    let failed = |e: &dyn std::fmt::Display| format!("downloading {from} to {}: {e}", to.display());
    let got = store.get(from).await.map_err(|e| failed(&e))?;
    let mut file = tokio::fs::File::create(to).await.map_err(|e| failed(&e))?;
    let mut stream = got.into_stream();
    let mut received = 0u64;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| failed(&e))?;
        file.write_all(&chunk).await.map_err(|e| failed(&e))?;
        received += chunk.len() as u64;
    }
    file.sync_all().await.map_err(|e| failed(&e))?;
    Ok(received)
}

/// The object at `at`, or `None` when there is none.
pub async fn get_if_any(
    store: &Arc<dyn ObjectStore>,
    at: &StorePath,
) -> Result<Option<Vec<u8>>, String> {
    match store.get(at).await {
        Ok(got) => got
            .bytes()
            .await
            .map(|b| Some(b.to_vec()))
            .map_err(|e| format!("reading {at}: {e}")),
        Err(object_store::Error::NotFound { .. }) => Ok(None),
        Err(e) => Err(format!("reading {at}: {e}")),
    }
}

/// The objects under a prefix (at any depth).
pub async fn objects_under(
    store: &Arc<dyn ObjectStore>,
    prefix: &StorePath,
) -> Result<Vec<StorePath>, String> {
    store
        .list(Some(prefix))
        .map_ok(|m| m.location)
        .try_collect()
        .await
        .map_err(|e| format!("listing {prefix}: {e}"))
}

/// Deletes every object under a prefix; returns how many.
pub async fn delete_under(
    store: &Arc<dyn ObjectStore>,
    prefix: &StorePath,
) -> Result<usize, String> {
    let objects = objects_under(store, prefix).await?;
    let n = objects.len();
    for o in objects {
        match store.delete(&o).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(format!("deleting {o}: {e}")),
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn files_go_up_and_come_back_whole() {
        let tmp = tempfile::tempdir().expect("tmp");
        let bucket = tmp.path().join("bucket");
        std::fs::create_dir_all(&bucket).expect("bucket");
        let url = format!("file://{}", bucket.display());
        let (store, prefix) = open(&url, &BTreeMap::new()).expect("open");
        let data: Vec<u8> = (0..(PART + 12345)).map(|i| (i % 251) as u8).collect();
        let local = tmp.path().join("data.bin");
        std::fs::write(&local, &data).expect("write");
        let at = child(&prefix, &["a", "data.bin"]);
        assert_eq!(
            upload(&store, &local, &at).await.expect("up"),
            data.len() as u64
        );
        let back = tmp.path().join("back.bin");
        assert_eq!(
            download(&store, &at, &back).await.expect("down"),
            data.len() as u64
        );
        assert_eq!(std::fs::read(&back).expect("read"), data);
        assert_eq!(
            get_if_any(&store, &child(&prefix, &["a", "none"]))
                .await
                .expect("get"),
            None
        );
        assert_eq!(delete_under(&store, &child(&prefix, &["a"])).await, Ok(1));
        assert!(
            objects_under(&store, &prefix)
                .await
                .expect("list")
                .is_empty()
        );
    }

    #[test]
    fn urls_lose_their_credentials_in_messages() {
        assert_eq!(
            display("s3://key:secret@bucket/prefix"),
            "s3://bucket/prefix"
        );
        assert_eq!(display("s3://bucket/p"), "s3://bucket/p");
        assert_eq!(
            display("az://container/p?sv=2024&sig=SECRET"),
            "az://container/p"
        );
        let err = open("ftp://user:SECRET@x/y", &BTreeMap::new()).expect_err("refused");
        assert!(!err.contains("SECRET"), "{err}");
        let err = open("s3://user:SECRET@[bad", &BTreeMap::new()).expect_err("refused");
        assert!(!err.contains("SECRET"), "{err}");
    }
}
