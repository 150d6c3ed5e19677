//! A persistent cache of vectors by text, for one model: a text embedded once is never sent
//! to the model again, whatever pipeline, task or run asks for it.
//!
//! A cache is a folder with two append-only files in lockstep: `keys.bin` (the 128-bit
//! xxHash3 of each text) and `vectors.bin` (its vector, `dimension` little-endian f32), plus
//! `meta.json`. Opening reads the keys into a hash map (about 40 bytes of memory per text:
//! 400 MB for 10 million); a lookup reads one
//! vector at its offset. Appends take an exclusive lock on the folder, write and sync the
//! vectors before the keys, and first cut whatever a writer that crashed left past the last
//! whole key: a key is never visible before its vector is on disk, and processes that share
//! the cache only ever add to it.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crate::EmbedError;

const FORMAT: u64 = 1;

/// The cache key of a text.
pub fn text_key(text: &str) -> u128 {
    twox_hash::XxHash3_128::oneshot(text.as_bytes())
}

/// The folder name for a model identity: readable, and unique by a hash of the identity.
pub fn cache_folder_name(identity: &str) -> String {
    let readable: String = identity
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .take(60)
        .collect();
    format!(
        "{readable}-{:016x}",
        twox_hash::XxHash64::oneshot(0, identity.as_bytes())
    )
}

/// The vectors of one model.
#[derive(Debug)]
pub struct VectorCache {
    dir: PathBuf,
    dimension: usize,
    index: HashMap<u128, u64>,
    /// Whole records read from `keys.bin` (duplicates included): the next record's slot.
    records: u64,
    vectors: File,
}

fn io(path: &Path, what: &str, e: std::io::Error) -> EmbedError {
    EmbedError::Cache(format!("{what} {}: {e}", path.display()))
}

impl VectorCache {
    /// Opens (or creates) the cache in `dir` for vectors of `dimension` values made by
    /// `identity`. A folder made for another dimension or identity is an error, never mixed.
    pub fn open(dir: &Path, identity: &str, dimension: usize) -> Result<VectorCache, EmbedError> {
        if dimension == 0 {
            return Err(EmbedError::Cache(format!(
                "{}: vectors of 0 values cannot be cached",
                dir.display()
            )));
        }
        std::fs::create_dir_all(dir).map_err(|e| io(dir, "cannot create", e))?;
        let vectors_path = dir.join("vectors.bin");
        let vectors = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&vectors_path)
            .map_err(|e| io(&vectors_path, "cannot open", e))?;
        let mut cache = VectorCache {
            dir: dir.to_path_buf(),
            dimension,
            index: HashMap::new(),
            records: 0,
            vectors,
        };
        // Under the lock: two processes creating the same cache write meta.json once.
        let lock = cache.lock()?;
        let meta_path = dir.join("meta.json");
        let meta =
            serde_json::json!({ "format": FORMAT, "model": identity, "dimension": dimension });
        match std::fs::read_to_string(&meta_path) {
            Ok(text) => {
                let found: serde_json::Value = serde_json::from_str(&text)
                    .map_err(|e| EmbedError::Cache(format!("{}: {e}", meta_path.display())))?;
                if found != meta {
                    return Err(EmbedError::Cache(format!(
                        "{} describes {found}, not {meta}: remove the folder to start this cache again",
                        meta_path.display()
                    )));
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let tmp = dir.join("meta.json.tmp");
                std::fs::write(&tmp, meta.to_string()).map_err(|e| io(&tmp, "cannot write", e))?;
                std::fs::rename(&tmp, &meta_path).map_err(|e| io(&meta_path, "cannot write", e))?;
            }
            Err(e) => return Err(io(&meta_path, "cannot read", e)),
        }
        cache.read_new_keys()?;
        drop(lock);
        Ok(cache)
    }

    /// The dimension recorded in the cache folder `dir`, if it holds a cache.
    pub fn dimension_in(dir: &Path) -> Option<usize> {
        let text = std::fs::read_to_string(dir.join("meta.json")).ok()?;
        let meta: serde_json::Value = serde_json::from_str(&text).ok()?;
        meta.get("dimension")?.as_u64().map(|d| d as usize)
    }

    /// Length of the vectors.
    pub fn dimension(&self) -> usize {
        self.dimension
    }

    /// Texts in the cache (as of the last open or append).
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// Whether the cache holds no vector.
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// Whether the text with this key is cached.
    pub fn contains(&self, key: u128) -> bool {
        self.index.contains_key(&key)
    }

    /// Copies the vector of `key` into `out` (`dimension` values); false when not cached.
    pub fn get(&self, key: u128, out: &mut [f32]) -> Result<bool, EmbedError> {
        let Some(&slot) = self.index.get(&key) else {
            return Ok(false);
        };
        let mut bytes = vec![0u8; self.dimension * 4];
        self.vectors
            .read_exact_at(&mut bytes, slot * self.record())
            .map_err(|e| io(&self.dir.join("vectors.bin"), "cannot read", e))?;
        for (o, b) in out.iter_mut().zip(bytes.chunks_exact(4)) {
            *o = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        }
        Ok(true)
    }

    /// Adds vectors (`keys.len() × dimension` values). Keys another process added meanwhile
    /// are skipped.
    pub fn append(&mut self, keys: &[u128], vectors: &[f32]) -> Result<(), EmbedError> {
        assert_eq!(
            keys.len() * self.dimension,
            vectors.len(),
            "one vector per key"
        );
        let lock = self.lock()?;
        let count = self.read_new_keys()?;
        let mut new_keys = Vec::new();
        let mut bytes = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for (key, v) in keys.iter().zip(vectors.chunks_exact(self.dimension)) {
            if self.index.contains_key(key) || !seen.insert(*key) {
                continue;
            }
            new_keys.extend_from_slice(&key.to_le_bytes());
            for x in v {
                bytes.extend_from_slice(&x.to_le_bytes());
            }
        }
        if new_keys.is_empty() {
            return Ok(());
        }
        let vectors_path = self.dir.join("vectors.bin");
        let keys_path = self.dir.join("keys.bin");
        // Whatever lies past the last whole key was left by a writer that crashed.
        self.vectors
            .set_len(count * self.record())
            .map_err(|e| io(&vectors_path, "cannot cut", e))?;
        self.vectors
            .write_all_at(&bytes, count * self.record())
            .map_err(|e| io(&vectors_path, "cannot write", e))?;
        self.vectors
            .sync_data()
            .map_err(|e| io(&vectors_path, "cannot sync", e))?;
        let mut keys_file = self.keys_file()?;
        keys_file
            .set_len(count * 16)
            .map_err(|e| io(&keys_path, "cannot cut", e))?;
        keys_file
            .seek(SeekFrom::End(0))
            .map_err(|e| io(&keys_path, "cannot seek", e))?;
        keys_file
            .write_all(&new_keys)
            .map_err(|e| io(&keys_path, "cannot write", e))?;
        keys_file
            .sync_data()
            .map_err(|e| io(&keys_path, "cannot sync", e))?;
        for (i, k) in new_keys.chunks_exact(16).enumerate() {
            let key = u128::from_le_bytes(k.try_into().unwrap_or([0; 16]));
            self.index.insert(key, count + i as u64);
        }
        self.records = count + (new_keys.len() / 16) as u64;
        drop(lock);
        Ok(())
    }

    fn record(&self) -> u64 {
        (self.dimension * 4) as u64
    }

    fn keys_file(&self) -> Result<File, EmbedError> {
        let path = self.dir.join("keys.bin");
        OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| io(&path, "cannot open", e))
    }

    /// Reads the keys added since the last read (by this or another process); returns the
    /// number of whole keys whose vectors are complete.
    fn read_new_keys(&mut self) -> Result<u64, EmbedError> {
        let path = self.dir.join("keys.bin");
        let mut file = self.keys_file()?;
        let known = self.records;
        let vectors_len = self
            .vectors
            .metadata()
            .map_err(|e| io(&self.dir.join("vectors.bin"), "cannot read", e))?
            .len();
        file.seek(SeekFrom::Start(known * 16))
            .map_err(|e| io(&path, "cannot seek", e))?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)
            .map_err(|e| io(&path, "cannot read", e))?;
        let mut count = known;
        for k in bytes.chunks_exact(16) {
            if (count + 1) * self.record() > vectors_len {
                break;
            }
            let key = u128::from_le_bytes(k.try_into().unwrap_or([0; 16]));
            self.index.entry(key).or_insert(count);
            count += 1;
        }
        self.records = count;
        Ok(count)
    }

    fn lock(&self) -> Result<File, EmbedError> {
        let path = self.dir.join("lock");
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| io(&path, "cannot open", e))?;
        file.lock().map_err(|e| io(&path, "cannot lock", e))?;
        Ok(file)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vectors_survive_reopening_and_a_torn_append_is_cut() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut c = VectorCache::open(dir.path(), "m@1", 2).expect("open");
        c.append(
            &[text_key("a"), text_key("b"), text_key("a")],
            &[1.0, 2.0, 3.0, 4.0, 9.0, 9.0],
        )
        .expect("append");
        assert_eq!(c.len(), 2);
        // A writer that died after its vectors but before its keys, and mid-key.
        let mut v = OpenOptions::new()
            .append(true)
            .open(dir.path().join("vectors.bin"))
            .expect("v");
        v.write_all(&[0u8; 8]).expect("write");
        let mut k = OpenOptions::new()
            .append(true)
            .open(dir.path().join("keys.bin"))
            .expect("k");
        k.write_all(&[7u8; 5]).expect("write");
        let mut c = VectorCache::open(dir.path(), "m@1", 2).expect("reopen");
        assert_eq!(c.len(), 2);
        let mut out = [0.0f32; 2];
        assert!(c.get(text_key("b"), &mut out).expect("get"));
        assert_eq!(out, [3.0, 4.0]);
        assert!(!c.get(text_key("c"), &mut out).expect("get"));
        c.append(&[text_key("c")], &[5.0, 6.0]).expect("append");
        let c = VectorCache::open(dir.path(), "m@1", 2).expect("reopen");
        assert!(c.get(text_key("c"), &mut out).expect("get"));
        assert_eq!(out, [5.0, 6.0]);
        assert_eq!(
            std::fs::metadata(dir.path().join("keys.bin"))
                .expect("keys")
                .len(),
            3 * 16
        );
        let e = VectorCache::open(dir.path(), "other@2", 2)
            .expect_err("other model")
            .to_string();
        assert!(e.contains("remove the folder"), "{e}");
    }
}
