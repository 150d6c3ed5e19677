//! The parse family: French public-data sources into documents datasets.
//!
//! A parser reads files given either by `files:` (the task of a `fetch`, whose dataset lists
//! the downloaded files in order) or by `path:` (a file or glob relative to the pipeline
//! file). Archives (zip, tar, tar.gz, tar.bz2) are read as streams, entry by entry: nothing is
//! extracted to disk. A file that is not an archive is read as one entry.

use std::io::Read;
use std::path::{Path, PathBuf};

use sluice_data::datafusion::arrow::array::AsArray;
use sluice_data::export::for_each_batch;

use crate::support::archive::{ArchiveKind, ArchiveLimits, for_each_entry};
use crate::{OpError, TaskContext, file_stamp};

/// An op whose files come from `files` (a fetch task) or `path` (a glob).
pub trait Sourced {
    /// Its `files` and `path` keys.
    fn keys(&self) -> (&Option<String>, &Option<String>);

    /// Where its files come from.
    fn inputs(&self) -> Inputs {
        let (files, path) = self.keys();
        Inputs::from_keys(files, path).unwrap_or(Inputs::Path(String::new()))
    }

    /// The limits its archives are read with: its `max_unpacked` and `max_ratio` keys (the
    /// parsers' own), the defaults for an op without them.
    fn archive_limits(&self) -> ArchiveLimits {
        ArchiveLimits::default()
    }
}

/// Builds a parser, checking that exactly one of `files` and `path` is given.
pub fn build_parser<T>(
    config: &sluice_core::Node,
) -> Result<Box<dyn crate::Op>, sluice_core::DeError>
where
    T: serde::de::DeserializeOwned + crate::Op + Sourced + 'static,
{
    let op: T = sluice_core::from_node(config)?;
    let (files, path) = op.keys();
    Inputs::from_keys(files, path).map_err(<sluice_core::DeError as serde::de::Error>::custom)?;
    Ok(Box::new(op))
}

/// The `Op` methods every [`Sourced`] op shares: it reads its `files` task, writes a dataset,
/// and its `path` files are part of its fingerprint.
macro_rules! sourced_methods {
    () => {
        fn reads(&self) -> Vec<String> {
            $crate::builtin::parse::Sourced::inputs(self).reads()
        }

        fn produces_dataset(&self) -> bool {
            true
        }

        fn input_stamp(&self, workdir: &std::path::Path) -> Result<String, $crate::OpError> {
            $crate::builtin::parse::Sourced::inputs(self).stamp(workdir)
        }
    };
}
pub(crate) use sourced_methods;

/// Declares a parser whose only keys are `files` and `path` (and the archive limits
/// `max_unpacked`, `max_ratio`): its config struct, its `build` function (checking that
/// exactly one of `files` and `path` is given) and its [`Sourced`] impl.
macro_rules! file_parser {
    ($(#[$doc:meta])* $name:ident, $op:literal, $files:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct $name {
            #[doc = $files]
            #[serde(default)]
            pub files: Option<String>,
            /// Or a file or glob, relative to the pipeline file.
            #[serde(default)]
            pub path: Option<String>,
            /// Archives: refuse one that decompresses to more than this in all (default
            /// `64GiB`; `500MB`, `2GiB` or bytes).
            #[serde(default, deserialize_with = "crate::support::size::de_size")]
            pub max_unpacked: Option<u64>,
            /// Archives: refuse an entry (zip) or a stream (tar) that decompresses to more
            /// than this many times its compressed size (default 200).
            #[serde(default)]
            pub max_ratio: Option<u64>,
        }

        #[doc = concat!("Builds `", $op, "`.")]
        pub fn build(
            config: &sluice_core::Node,
        ) -> Result<Box<dyn $crate::Op>, sluice_core::DeError> {
            $crate::builtin::parse::build_parser::<$name>(config)
        }

        impl $crate::builtin::parse::Sourced for $name {
            fn keys(&self) -> (&Option<String>, &Option<String>) {
                (&self.files, &self.path)
            }

            fn archive_limits(&self) -> $crate::support::archive::ArchiveLimits {
                $crate::support::archive::ArchiveLimits::from_keys(
                    self.max_unpacked,
                    self.max_ratio,
                )
            }
        }
    };
}
pub(crate) use file_parser;

/// Where a parser's files come from.
#[derive(Debug, Clone)]
pub enum Inputs {
    /// The files dataset of a `fetch` task.
    Files(String),
    /// A file or glob, relative to the pipeline file.
    Path(String),
}

impl Inputs {
    /// From a parser's `files` and `path` keys (exactly one).
    pub fn from_keys(files: &Option<String>, path: &Option<String>) -> Result<Inputs, String> {
        match (files, path) {
            (Some(f), None) => Ok(Inputs::Files(f.clone())),
            (None, Some(p)) => Ok(Inputs::Path(p.clone())),
            (Some(_), Some(_)) => Err("give `files` or `path`, not both".into()),
            (None, None) => Err("give `files` (a fetch task) or `path` (a file or glob)".into()),
        }
    }

    /// The task read, if any (a dependency).
    pub fn reads(&self) -> Vec<String> {
        match self {
            Inputs::Files(t) => vec![t.clone()],
            Inputs::Path(_) => Vec::new(),
        }
    }

    /// Files read from outside the pipeline, for the fingerprint.
    pub fn stamp(&self, workdir: &Path) -> Result<String, OpError> {
        match self {
            Inputs::Files(_) => Ok(String::new()),
            Inputs::Path(p) => Ok(file_stamp(&sluice_data::expand_paths(workdir, p)?)),
        }
    }

    /// The files, in order: those of the fetch dataset (column `path`), or the glob's.
    pub fn resolve(&self, ctx: &TaskContext) -> Result<Vec<PathBuf>, OpError> {
        match self {
            Inputs::Path(p) => Ok(sluice_data::expand_paths(&ctx.workdir, p)?),
            Inputs::Files(task) => Ok(fetched_files(ctx, task)?
                .into_iter()
                .map(|f| f.path)
                .collect()),
        }
    }
}

/// One file of a `fetch` task's dataset.
#[derive(Debug, Clone)]
pub struct Fetched {
    /// Where it was downloaded.
    pub path: PathBuf,
    /// Its file name.
    pub name: String,
    /// Its SHA-256, hex.
    pub sha256: String,
}

/// The files of the `fetch` task `task`, in its dataset's order.
pub fn fetched_files(ctx: &TaskContext, task: &str) -> Result<Vec<Fetched>, OpError> {
    let dir = ctx.input(task)?;
    let mut out = Vec::new();
    for_each_batch(dir, |_, batch| {
        let col = |name: &str| {
            batch
                .column_by_name(name)
                .and_then(|c| c.as_string_opt::<i32>())
                .ok_or_else(|| {
                    sluice_data::DataError::Engine(format!(
                        "the dataset of `{task}` has no text column `{name}`: `files` must name a fetch task"
                    ))
                })
        };
        let (paths, names, shas) = (col("path")?, col("name")?, col("sha256")?);
        for i in 0..batch.num_rows() {
            out.push(Fetched {
                path: PathBuf::from(paths.value(i)),
                name: names.value(i).to_string(),
                sha256: shas.value(i).to_string(),
            });
        }
        Ok(())
    })?;
    Ok(out)
}

/// Calls `f` with each entry (its name inside the archive, or the file's name) of each
/// file, in order. `f` returns an error message to stop; the message is prefixed with the
/// file and entry.
pub fn for_each_input(
    files: &[PathBuf],
    limits: &ArchiveLimits,
    mut f: impl FnMut(&Path, &str, &mut dyn Read) -> Result<(), String>,
) -> Result<(), OpError> {
    for file in files {
        if ArchiveKind::detect(file).is_ok() {
            for_each_entry(file, limits, |entry| f(file, entry.name, entry.reader))
                .map_err(|e| OpError::data(e.to_string()))?;
        } else {
            let name = file
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let mut reader = std::fs::File::open(file)
                .map_err(|e| OpError::config(format!("{}: {e}", file.display())))?;
            f(file, &name, &mut reader)
                .map_err(|e| OpError::data(format!("{}: {e}", file.display())))?;
        }
    }
    Ok(())
}

/// The last segment of an entry name (`a/b/F1234.xml` → `F1234.xml`).
pub fn base_name(name: &str) -> &str {
    name.rsplit('/').next().unwrap_or(name)
}

/// Reads an entry whole (documents are small: a sheet, an article).
pub fn read_all(reader: &mut dyn Read) -> Result<Vec<u8>, String> {
    let mut bytes = Vec::new();
    reader
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read: {e}"))?;
    Ok(bytes)
}

pub mod dila;
pub mod directory;
pub mod service_public;
pub mod travail_emploi;
pub mod xml;

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use super::*;
    use crate::builtin::parse::dila::ParseDila;
    use crate::builtin::parse::service_public::ParseServicePublic;

    fn config<T: serde::de::DeserializeOwned>(yaml: &str) -> T {
        let node = sluice_core::yaml::parse(yaml).expect("yaml");
        sluice_core::from_node(&node).expect("config")
    }

    /// Reads every entry to the end, as a parser does.
    fn read_through(files: &[PathBuf], limits: &ArchiveLimits) -> Result<(), OpError> {
        for_each_input(files, limits, |_, _, reader| {
            std::io::copy(reader, &mut std::io::sink())
                .map(|_| ())
                .map_err(|e| format!("cannot read: {e}"))
        })
    }

    #[test]
    fn the_archive_limits_are_the_task_keys_the_error_names() {
        let dir = tempfile::tempdir().expect("tempdir");
        let zip = dir.path().join("bomb.zip");
        let mut z = zip::ZipWriter::new(std::fs::File::create(&zip).expect("create"));
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        z.start_file("F1.xml", opts).expect("start");
        z.write_all(&vec![b' '; 20 << 20]).expect("write");
        z.finish().expect("finish");
        let files = [zip.clone()];

        // By default: refused, naming the key and its value.
        let op: ParseServicePublic = config("path: bomb.zip\n");
        assert_eq!(op.archive_limits(), ArchiveLimits::default());
        let err = read_through(&files, &op.archive_limits()).expect_err("bomb");
        assert!(
            err.message.ends_with(
                "(more than 200×: a decompression bomb?) at entry `F1.xml`; the archive is refused (if it is expected, raise the task's `max_ratio`, now 200)"
            ),
            "{}",
            err.message
        );

        // The key raised: read.
        let op: ParseServicePublic = config("path: bomb.zip\nmax_ratio: 100000\n");
        read_through(&files, &op.archive_limits()).expect("allowed");

        // The total, with a size as `fetch`'s `max_size` takes it.
        let op: ParseDila =
            config("kind: legi\npath: bomb.zip\nmax_ratio: 100000\nmax_unpacked: 1MiB\n");
        assert_eq!(
            op.archive_limits(),
            ArchiveLimits {
                max_unpacked: 1 << 20,
                max_ratio: 100_000
            }
        );
        let err = read_through(&files, &op.archive_limits()).expect_err("total");
        assert!(
            err.message.ends_with(
                "more than 1048576 bytes decompressed at entry `F1.xml`; the archive is refused (if it is expected, raise the task's `max_unpacked`, now 1MiB)"
            ),
            "{}",
            err.message
        );
        let op: ParseDila =
            config("kind: legi\npath: bomb.zip\nmax_ratio: 100000\nmax_unpacked: 1GB\n");
        read_through(&files, &op.archive_limits()).expect("allowed");
    }
}
