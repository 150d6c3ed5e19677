//! Reads zip, tar, tar.gz and tar.bz2 archives as streams: each file entry is handed to the
//! caller with a reader over its content, so documents are parsed straight from the archive
//! without extracting it. Safe by construction:
//! - an entry whose name is absolute or climbs out with `..` refuses the whole archive (it
//!   was made to write outside its target);
//! - symbolic and hard links are skipped and reported, never followed;
//! - decompression bombs are stopped: a limit on the bytes decompressed in all, and on how
//!   many times an entry (zip) or the stream (tar) expands its compressed size. Both are task
//!   keys of the ops that read archives (`max_unpacked`, `max_ratio`), and the error names
//!   the key and its current value.

use std::cell::RefCell;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};
use std::rc::Rc;

/// Limits against decompression bombs: the task keys `max_unpacked` and `max_ratio`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveLimits {
    /// Bytes decompressed in all, over every entry.
    pub max_unpacked: u64,
    /// Largest ratio of decompressed to compressed bytes, checked once 1 MiB is decompressed.
    pub max_ratio: u64,
}

impl Default for ArchiveLimits {
    fn default() -> Self {
        ArchiveLimits {
            max_unpacked: 64 << 30,
            max_ratio: 200,
        }
    }
}

impl ArchiveLimits {
    /// From a task's `max_unpacked` and `max_ratio` keys; the defaults where not given.
    pub fn from_keys(max_unpacked: Option<u64>, max_ratio: Option<u64>) -> ArchiveLimits {
        let default = ArchiveLimits::default();
        ArchiveLimits {
            max_unpacked: max_unpacked.unwrap_or(default.max_unpacked),
            max_ratio: max_ratio.unwrap_or(default.max_ratio),
        }
    }
}

/// A size as a task key would give it: `64GiB`, `20MiB`, `1000`.
fn size_text(n: u64) -> String {
    for (unit, shift) in [("TiB", 40), ("GiB", 30), ("MiB", 20), ("KiB", 10)] {
        if n >= 1 << shift && n.is_multiple_of(1 << shift) {
            return format!("{}{unit}", n >> shift);
        }
    }
    n.to_string()
}

/// One file of an archive.
pub struct Entry<'a> {
    /// Its path inside the archive, `/`-separated, without `./`.
    pub name: &'a str,
    /// Its size once decompressed, as the archive states it.
    pub size: u64,
    /// Its content.
    pub reader: &'a mut dyn Read,
}

/// What a pass over an archive saw.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Summary {
    /// File entries handed to the caller.
    pub files: u64,
    /// Bytes decompressed.
    pub unpacked: u64,
    /// Links skipped (name → target).
    pub links_skipped: Vec<(String, String)>,
}

/// Why an archive could not be read. Every message names the archive.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// Not an archive of a known kind, or a broken one.
    #[error("{}: {message}", archive.display())]
    Broken {
        /// The archive.
        archive: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// An entry would be written outside the target.
    #[error("{}: entry `{entry}` would escape the target folder (absolute path or `..`); the archive is refused", archive.display())]
    Escape {
        /// The archive.
        archive: PathBuf,
        /// The entry's name as stored.
        entry: String,
    },
    /// A limit against decompression bombs was reached.
    #[error("{}: {message} at entry `{entry}`; the archive is refused (if it is expected, raise the task's `{setting}`, now {limit})", archive.display())]
    Bomb {
        /// The archive.
        archive: PathBuf,
        /// The entry being read.
        entry: String,
        /// Which limit.
        message: String,
        /// The task key that raises it.
        setting: &'static str,
        /// Its current value, as the key would be written.
        limit: String,
    },
    /// The caller failed on an entry.
    #[error("{}: entry `{entry}`: {message}", archive.display())]
    Entry {
        /// The archive.
        archive: PathBuf,
        /// The entry.
        entry: String,
        /// The caller's message.
        message: String,
    },
}

/// The kinds of archives read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArchiveKind {
    /// `.zip`.
    Zip,
    /// `.tar`.
    Tar,
    /// `.tar.gz`, `.tgz`.
    TarGz,
    /// `.tar.bz2`, `.tbz2`.
    TarBz2,
}

impl ArchiveKind {
    /// The kind of a file, from its first bytes (its name is not trusted).
    pub fn detect(path: &Path) -> Result<ArchiveKind, ArchiveError> {
        let mut head = Vec::with_capacity(512);
        File::open(path)
            .and_then(|f| f.take(512).read_to_end(&mut head))
            .map_err(|e| broken(path, e.to_string()))?;
        let head = head.as_slice();
        Ok(match head {
            [b'P', b'K', 3, 4, ..] | [b'P', b'K', 5, 6, ..] => ArchiveKind::Zip,
            [0x1f, 0x8b, ..] => ArchiveKind::TarGz,
            [b'B', b'Z', b'h', ..] => ArchiveKind::TarBz2,
            _ if head.len() >= 262 && &head[257..262] == b"ustar" => ArchiveKind::Tar,
            _ => {
                return Err(broken(
                    path,
                    "not a zip, tar, tar.gz or tar.bz2 archive (its first bytes match none)".into(),
                ));
            }
        })
    }
}

fn broken(archive: &Path, message: String) -> ArchiveError {
    ArchiveError::Broken {
        archive: archive.to_path_buf(),
        message,
    }
}

/// The name of an entry made safe: `/`-separated, no `.` parts; `None` for a folder entry.
/// An absolute name or one with `..` is an [`ArchiveError::Escape`].
pub fn safe_name(archive: &Path, raw: &str) -> Result<Option<String>, ArchiveError> {
    let unified = raw.replace('\\', "/");
    let escape = || ArchiveError::Escape {
        archive: archive.to_path_buf(),
        entry: raw.to_string(),
    };
    let drive = unified.len() >= 2 && unified.as_bytes()[1] == b':';
    if unified.starts_with('/') || drive {
        return Err(escape());
    }
    let mut parts = Vec::new();
    for part in unified.split('/') {
        match part {
            "" | "." => {}
            ".." => return Err(escape()),
            p => parts.push(p),
        }
    }
    if parts.is_empty() || unified.ends_with('/') {
        return Ok(None);
    }
    Ok(Some(parts.join("/")))
}

/// Counts what passes through a reader and stops at the limits; the first limit reached is
/// kept in `tripped` so the error names it, whoever sees the I/O error first.
struct Guard<R> {
    inner: R,
    state: Rc<RefCell<GuardState>>,
}

#[derive(Default)]
struct GuardState {
    unpacked: u64,
    /// Compressed bytes behind what was unpacked (updated by the caller or a counting reader).
    packed: u64,
    /// Unpacked bytes of the current zip entry, and its compressed size.
    entry_unpacked: u64,
    entry_packed: Option<u64>,
    tripped: Option<Tripped>,
    limits: ArchiveLimits,
}

/// A limit reached: why, the task key that raises it, its current value.
#[derive(Clone)]
struct Tripped {
    why: String,
    setting: &'static str,
    limit: String,
}

impl GuardState {
    fn check(&mut self) -> Option<Tripped> {
        let limits = &self.limits;
        if self.unpacked > limits.max_unpacked {
            return Some(Tripped {
                why: format!("more than {} bytes decompressed", limits.max_unpacked),
                setting: "max_unpacked",
                limit: size_text(limits.max_unpacked),
            });
        }
        let (unpacked, packed) = match self.entry_packed {
            Some(p) => (self.entry_unpacked, p),
            None => (self.unpacked, self.packed),
        };
        if unpacked > 1 << 20 && unpacked / packed.max(1) > limits.max_ratio {
            return Some(Tripped {
                why: format!(
                    "{unpacked} bytes decompressed from {packed} (more than {}×: a decompression bomb?)",
                    limits.max_ratio
                ),
                setting: "max_ratio",
                limit: limits.max_ratio.to_string(),
            });
        }
        None
    }
}

impl<R: Read> Read for Guard<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let mut s = self.state.borrow_mut();
        s.unpacked += n as u64;
        s.entry_unpacked += n as u64;
        if s.tripped.is_none() {
            s.tripped = s.check();
        }
        if let Some(t) = &s.tripped {
            return Err(std::io::Error::other(t.why.clone()));
        }
        Ok(n)
    }
}

/// Counts the compressed bytes read from the file (tar streams).
struct Packed<R> {
    inner: R,
    state: Rc<RefCell<GuardState>>,
}

impl<R: Read> Read for Packed<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.state.borrow_mut().packed += n as u64;
        Ok(n)
    }
}

/// Hands each file entry of the archive at `path` to `f`, in archive order. `f` returns an
/// error message to stop. Entries are checked before `f` sees them.
pub fn for_each_entry(
    path: &Path,
    limits: &ArchiveLimits,
    mut f: impl FnMut(Entry<'_>) -> Result<(), String>,
) -> Result<Summary, ArchiveError> {
    let kind = ArchiveKind::detect(path)?;
    let state = Rc::new(RefCell::new(GuardState {
        limits: limits.clone(),
        ..GuardState::default()
    }));
    let mut summary = Summary::default();
    // The error to report when an entry failed: a tripped limit wins over what it caused.
    let fail = |entry: &str, message: String| -> ArchiveError {
        match state.borrow().tripped.clone() {
            Some(t) => ArchiveError::Bomb {
                archive: path.to_path_buf(),
                entry: entry.to_string(),
                message: t.why,
                setting: t.setting,
                limit: t.limit,
            },
            None => ArchiveError::Entry {
                archive: path.to_path_buf(),
                entry: entry.to_string(),
                message,
            },
        }
    };
    let file = File::open(path).map_err(|e| broken(path, e.to_string()))?;
    match kind {
        ArchiveKind::Zip => {
            let mut zip = zip::ZipArchive::new(BufReader::new(file))
                .map_err(|e| broken(path, format!("not a readable zip archive: {e}")))?;
            for i in 0..zip.len() {
                let entry = zip
                    .by_index(i)
                    .map_err(|e| broken(path, format!("broken zip entry {i}: {e}")))?;
                let raw = entry.name().to_string();
                let Some(name) = safe_name(path, &raw)? else {
                    continue;
                };
                if entry.is_symlink() {
                    summary.links_skipped.push((name, String::new()));
                    continue;
                }
                let size = entry.size();
                {
                    let mut s = state.borrow_mut();
                    s.entry_unpacked = 0;
                    s.entry_packed = Some(entry.compressed_size());
                }
                let mut reader = Guard {
                    inner: entry,
                    state: state.clone(),
                };
                f(Entry {
                    name: &name,
                    size,
                    reader: &mut reader,
                })
                .map_err(|m| fail(&name, m))?;
                summary.files += 1;
            }
        }
        ArchiveKind::Tar | ArchiveKind::TarGz | ArchiveKind::TarBz2 => {
            let packed = Packed {
                inner: BufReader::new(file),
                state: state.clone(),
            };
            let stream: Box<dyn Read> = match kind {
                ArchiveKind::TarGz => Box::new(flate2::read::MultiGzDecoder::new(packed)),
                ArchiveKind::TarBz2 => Box::new(bzip2::read::MultiBzDecoder::new(packed)),
                _ => Box::new(packed),
            };
            let guarded = Guard {
                inner: stream,
                state: state.clone(),
            };
            let mut tar = tar::Archive::new(guarded);
            let entries = tar
                .entries()
                .map_err(|e| broken(path, format!("not a readable tar archive: {e}")))?;
            let mut last: Option<String> = None;
            for entry in entries {
                let mut entry =
                    entry.map_err(|e| match (state.borrow().tripped.clone(), &last) {
                        (Some(_), _) => fail(last.as_deref().unwrap_or_default(), e.to_string()),
                        (None, None) => broken(
                            path,
                            format!(
                                "damaged or cut before its first entry: {e} (download it again)"
                            ),
                        ),
                        (None, Some(name)) => broken(
                            path,
                            format!("damaged or cut after entry `{name}`: {e} (download it again)"),
                        ),
                    })?;
                let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
                let Some(name) = safe_name(path, &raw)? else {
                    continue;
                };
                last = Some(name.clone());
                let kind = entry.header().entry_type();
                if kind.is_symlink() || kind.is_hard_link() {
                    let target = entry
                        .link_name_bytes()
                        .map(|t| String::from_utf8_lossy(&t).into_owned())
                        .unwrap_or_default();
                    summary.links_skipped.push((name, target));
                    continue;
                }
                if !kind.is_file() {
                    continue;
                }
                state.borrow_mut().entry_packed = None;
                let size = entry.size();
                f(Entry {
                    name: &name,
                    size,
                    reader: &mut entry,
                })
                .map_err(|m| fail(&name, m))?;
                summary.files += 1;
            }
        }
    }
    summary.unpacked = state.borrow().unpacked;
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn zip_of(path: &Path, entries: &[(&str, &[u8])]) {
        let mut z = zip::ZipWriter::new(File::create(path).expect("create"));
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        for (name, data) in entries {
            z.start_file(*name, opts).expect("start");
            z.write_all(data).expect("write");
        }
        z.finish().expect("finish");
    }

    /// A tar stream; `raw_name` entries are written with the name bytes as given (the tar
    /// crate's own builder refuses `..`).
    fn tar_bytes(entries: &[(&str, &[u8])], link: Option<(&str, &str)>) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (name, data) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            let field = &mut h.as_old_mut().name;
            field[..name.len()].copy_from_slice(name.as_bytes());
            h.set_cksum();
            b.append(&h, *data).expect("append");
        }
        if let Some((name, target)) = link {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(tar::EntryType::Symlink);
            h.set_size(0);
            b.append_link(&mut h, name, target).expect("link");
        }
        b.into_inner().expect("tar")
    }

    fn read_all(
        path: &Path,
        limits: &ArchiveLimits,
    ) -> Result<(Vec<(String, String)>, Summary), ArchiveError> {
        let mut seen = Vec::new();
        let summary = for_each_entry(path, limits, |e| {
            let mut s = String::new();
            e.reader.read_to_string(&mut s).map_err(|e| e.to_string())?;
            seen.push((e.name.to_string(), s));
            Ok(())
        })?;
        Ok((seen, summary))
    }

    #[test]
    fn reads_zip_tar_gz_and_tar_bz2_entries_in_order() {
        let dir = tempfile::tempdir().expect("tempdir");
        let entries: [(&str, &[u8]); 3] = [
            ("./a/one.xml", b"<a/>"),
            ("a/", b""),
            ("b/two.txt", b"deux"),
        ];
        let zip = dir.path().join("x.zip");
        zip_of(&zip, &entries);
        let tar = tar_bytes(
            &[("./a/one.xml", b"<a/>"), ("b/two.txt", b"deux")],
            Some(("b/link", "../../etc/passwd")),
        );
        let gz = dir.path().join("x.tar.gz");
        let mut enc = flate2::write::GzEncoder::new(
            File::create(&gz).expect("gz"),
            flate2::Compression::default(),
        );
        enc.write_all(&tar).expect("write");
        enc.finish().expect("finish");
        let bz = dir.path().join("x.tbz");
        let mut enc = bzip2::write::BzEncoder::new(
            File::create(&bz).expect("bz"),
            bzip2::Compression::default(),
        );
        enc.write_all(&tar).expect("write");
        enc.finish().expect("finish");
        let want = vec![
            ("a/one.xml".to_string(), "<a/>".to_string()),
            ("b/two.txt".to_string(), "deux".to_string()),
        ];
        for (path, kind) in [
            (&zip, ArchiveKind::Zip),
            (&gz, ArchiveKind::TarGz),
            (&bz, ArchiveKind::TarBz2),
        ] {
            assert_eq!(ArchiveKind::detect(path).expect("kind"), kind);
            let (seen, summary) = read_all(path, &ArchiveLimits::default()).expect("read");
            assert_eq!(seen, want, "{kind:?}");
            assert_eq!(summary.files, 2);
        }
        // The link is skipped and reported, never followed.
        let (_, summary) = read_all(&gz, &ArchiveLimits::default()).expect("read");
        assert_eq!(
            summary.links_skipped,
            vec![("b/link".to_string(), "../../etc/passwd".to_string())]
        );
    }

    #[test]
    fn an_entry_escaping_the_target_refuses_the_archive() {
        let dir = tempfile::tempdir().expect("tempdir");
        let zip = dir.path().join("evil.zip");
        zip_of(&zip, &[("ok.txt", b"fine"), ("../../evil.sh", b"rm -rf")]);
        let err = read_all(&zip, &ArchiveLimits::default()).expect_err("escape");
        assert_eq!(
            err.to_string(),
            format!(
                "{}: entry `../../evil.sh` would escape the target folder (absolute path or `..`); the archive is refused",
                zip.display()
            )
        );
        let tar = dir.path().join("evil.tar");
        std::fs::write(&tar, tar_bytes(&[("/etc/cron.d/x", b"x")], None)).expect("write");
        assert!(
            matches!(read_all(&tar, &ArchiveLimits::default()), Err(ArchiveError::Escape { entry, .. }) if entry == "/etc/cron.d/x")
        );
        assert!(safe_name(&tar, "C:\\Windows\\x").is_err());
        assert_eq!(
            safe_name(&tar, "a\\.\\b.xml").expect("ok"),
            Some("a/b.xml".into())
        );
    }

    #[test]
    fn decompression_bombs_are_stopped() {
        let dir = tempfile::tempdir().expect("tempdir");
        let zeros = vec![0u8; 20 << 20];
        let zip = dir.path().join("bomb.zip");
        zip_of(&zip, &[("zeros.bin", &zeros)]);
        let err = read_all(&zip, &ArchiveLimits::default()).expect_err("bomb");
        let msg = err.to_string();
        assert!(
            msg.contains("(more than 200×: a decompression bomb?) at entry `zeros.bin`; the archive is refused (if it is expected, raise the task's `max_ratio`, now 200)"),
            "{msg}"
        );
        let gz = dir.path().join("bomb.tar.gz");
        let mut enc = flate2::write::GzEncoder::new(
            File::create(&gz).expect("gz"),
            flate2::Compression::default(),
        );
        enc.write_all(&tar_bytes(&[("zeros.bin", &zeros)], None))
            .expect("write");
        enc.finish().expect("finish");
        assert!(matches!(
            read_all(&gz, &ArchiveLimits::default()),
            Err(ArchiveError::Bomb {
                setting: "max_ratio",
                ..
            })
        ));
        // The total limit, with the ratio allowed.
        let limits = ArchiveLimits {
            max_unpacked: 1 << 20,
            max_ratio: u64::MAX,
        };
        let err = read_all(&gz, &limits).expect_err("total");
        assert!(
            err.to_string().contains(
                "more than 1048576 bytes decompressed at entry `zeros.bin`; the archive is refused (if it is expected, raise the task's `max_unpacked`, now 1MiB)"
            ),
            "{err}"
        );
        // Not a bomb once allowed: the caller skips the entry, the archive reads to the end.
        let limits = ArchiveLimits {
            max_unpacked: 1 << 30,
            max_ratio: 10_000,
        };
        let summary = for_each_entry(&gz, &limits, |_| Ok(())).expect("allowed");
        assert_eq!(summary.files, 1);
        assert!(summary.unpacked >= 20 << 20);
    }

    /// The same small archive as zip, tar, tar.gz and tar.bz2.
    fn samples() -> Vec<Vec<u8>> {
        let entries: [(&str, &[u8]); 3] = [
            ("a/one.xml", b"<a>un</a>"),
            ("b/two.txt", &[b'x'; 3000]),
            ("three", b""),
        ];
        let mut z = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        for (name, data) in entries {
            z.start_file(name, opts).expect("start");
            z.write_all(data).expect("write");
        }
        let zip = z.finish().expect("finish").into_inner();
        let tar = tar_bytes(&entries, Some(("b/link", "../x")));
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&tar).expect("gz");
        let gz = gz.finish().expect("gz");
        let mut bz = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::default());
        bz.write_all(&tar).expect("bz");
        let bz = bz.finish().expect("bz");
        vec![zip, tar, gz, bz]
    }

    /// Reads every entry of `bytes` (as a file) to the end, within small limits; the bytes
    /// read, or the error.
    fn read_through(bytes: &[u8]) -> Result<u64, ArchiveError> {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("fuzz");
        std::fs::write(&path, bytes).expect("write");
        let limits = ArchiveLimits {
            max_unpacked: 1 << 20,
            max_ratio: 200,
        };
        let mut read = 0u64;
        for_each_entry(&path, &limits, |e| {
            let n = std::io::copy(e.reader, &mut std::io::sink()).map_err(|e| e.to_string())?;
            read += n;
            Ok(())
        })?;
        Ok(read)
    }

    proptest::proptest! {
        #![proptest_config(crate::fuzz::config())]

        /// Random bytes, and valid archives with bytes changed, cut or inserted: read or
        /// refused, never a panic, and never more than the limit decompressed.
        #[test]
        fn fuzz_archive(
            sample in 0usize..4,
            edits in proptest::collection::vec((proptest::prelude::any::<usize>(), proptest::prelude::any::<u8>(), 0u8..4), 0..8),
            noise in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..600),
            raw in proptest::prelude::any::<bool>(),
        ) {
            static SAMPLES: std::sync::OnceLock<Vec<Vec<u8>>> = std::sync::OnceLock::new();
            let mut bytes = if raw { noise } else { SAMPLES.get_or_init(samples)[sample].clone() };
            for (at, byte, how) in edits {
                if bytes.is_empty() {
                    bytes.push(byte);
                    continue;
                }
                let at = at % bytes.len();
                match how {
                    0 => bytes[at] = byte,
                    1 => bytes[at] ^= 1 << (byte % 8),
                    2 => bytes.truncate(at),
                    _ => bytes.insert(at, byte),
                }
            }
            if let Ok(read) = read_through(&bytes) {
                proptest::prop_assert!(read <= 1 << 20);
            }
        }
    }

    #[test]
    fn broken_and_unknown_files_are_named() {
        let dir = tempfile::tempdir().expect("tempdir");
        let text = dir.path().join("notes.zip");
        std::fs::write(&text, "just text").expect("write");
        assert_eq!(
            read_all(&text, &ArchiveLimits::default())
                .expect_err("unknown")
                .to_string(),
            format!(
                "{}: not a zip, tar, tar.gz or tar.bz2 archive (its first bytes match none)",
                text.display()
            )
        );
        let zip = dir.path().join("ok.zip");
        zip_of(&zip, &[("a.txt", b"aaaa")]);
        let mut bytes = std::fs::read(&zip).expect("read");
        bytes.truncate(bytes.len() - 30); // the central directory is cut
        let cut = dir.path().join("cut.zip");
        std::fs::write(&cut, bytes).expect("write");
        let msg = read_all(&cut, &ArchiveLimits::default())
            .expect_err("cut")
            .to_string();
        assert!(
            msg.starts_with(&format!("{}: not a readable zip archive: ", cut.display())),
            "{msg}"
        );
        let gz = dir.path().join("cut.tar.gz");
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(&tar_bytes(
            &[("a.txt", &[b'a'; 5000]), ("b.txt", b"b")],
            None,
        ))
        .expect("write");
        let mut bytes = enc.finish().expect("finish");
        bytes.truncate(bytes.len() / 2);
        std::fs::write(&gz, bytes).expect("write");
        let msg = read_all(&gz, &ArchiveLimits::default())
            .expect_err("cut gz")
            .to_string();
        assert_eq!(
            msg,
            format!(
                "{}: damaged or cut before its first entry: incomplete deflate stream (download it again)",
                gz.display()
            )
        );
    }
}
