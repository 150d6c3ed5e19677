//! The pipelines the server knows: every `*.yaml`/`*.yml` file of its folder, loaded and
//! validated (its `op: dbt` tasks made the tasks of their projects), reloaded when a file, or
//! a file of a project it names, changes. A file with problems stays listed with its
//! problems (file:line:column) instead of stopping the server; its previous valid version is
//! not scheduled meanwhile.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use sluice_core::Pipeline;
use sluice_engine::schedule::Schedule;
use sluice_op::Registry;

/// One pipeline file.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The file.
    pub file: PathBuf,
    /// Its modification time when it was read.
    pub modified: Option<SystemTime>,
    /// The pipeline, or every problem of the file (a name another file defines first is
    /// one).
    pub loaded: Result<Loaded, String>,
    /// What the file alone gives.
    read: Result<Loaded, String>,
}

/// A valid pipeline and its schedule.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The pipeline with its default parameters.
    pub pipeline: Pipeline,
    /// Its schedule, if it has one.
    pub schedule: Option<Schedule>,
}

impl Entry {
    /// The pipeline's name, or the file's stem when the file is invalid.
    pub fn name(&self) -> String {
        match &self.loaded {
            Ok(l) => l.pipeline.name.clone(),
            Err(_) => self
                .file
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default(),
        }
    }
}

/// The pipelines of a folder.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    /// By file.
    pub entries: BTreeMap<PathBuf, Entry>,
}

/// Loads `file` with `params` overriding its defaults.
pub fn load(
    file: &Path,
    params: &[(String, String)],
    registry: &Registry,
) -> Result<Pipeline, String> {
    load_params(file, params, registry, false)
}

/// Loads `file` with `params`; `from_api`: they come from an API caller, who may set only
/// the parameters declared `api: true`.
pub fn load_params(
    file: &Path,
    params: &[(String, String)],
    registry: &Registry,
    from_api: bool,
) -> Result<Pipeline, String> {
    let opts = sluice_core::LoadOptions {
        params,
        catalog: registry,
        env: &|name| std::env::var(name).ok(),
        api_params: from_api,
    };
    // Pipeline files, with their `op: dbt` tasks made the tasks of their projects.
    sluice_dbt::load_file(file, &opts).map_err(|e| sluice_op::redact_urls(&e.to_string()))
}

fn pipeline_files(dir: &Path) -> std::io::Result<Vec<(PathBuf, Option<SystemTime>)>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let hidden = path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with('.'));
        let yaml = path.extension().is_some_and(|e| e == "yaml" || e == "yml");
        if yaml && !hidden && path.is_file() {
            // A change to a dbt project an `op: dbt` task names reloads the pipeline too.
            let modified = sluice_dbt::projects_of(&path)
                .iter()
                .map(|p| sluice_dbt::newest_change(p))
                .fold(
                    std::fs::metadata(&path).and_then(|m| m.modified()).ok(),
                    Option::max,
                );
            files.push((path, modified));
        }
    }
    files.sort();
    Ok(files)
}

impl Catalog {
    /// Reads the folder again: new and changed files are loaded, removed ones forgotten.
    /// Returns whether anything changed.
    pub fn refresh(&mut self, dir: &Path, registry: &Registry) -> std::io::Result<bool> {
        let files = pipeline_files(dir)?;
        let mut changed = false;
        let before = self.entries.len();
        self.entries
            .retain(|path, _| files.iter().any(|(p, _)| p == path));
        changed |= self.entries.len() != before;
        for (path, modified) in files {
            if self
                .entries
                .get(&path)
                .is_some_and(|e| e.modified == modified && modified.is_some())
            {
                continue;
            }
            let loaded = load(&path, &[], registry).and_then(|pipeline| {
                let schedule = Schedule::of(&pipeline)?;
                Ok(Loaded { pipeline, schedule })
            });
            if let Err(e) = &loaded {
                tracing::warn!("{e}");
            }
            self.entries.insert(
                path.clone(),
                Entry {
                    file: path,
                    modified,
                    loaded: loaded.clone(),
                    read: loaded,
                },
            );
            changed = true;
        }
        if changed {
            self.mark_duplicates();
        }
        Ok(changed)
    }

    /// A second file defining a pipeline name already defined is an error.
    fn mark_duplicates(&mut self) {
        let mut seen: BTreeMap<String, PathBuf> = BTreeMap::new();
        for entry in self.entries.values_mut() {
            entry.loaded = entry.read.clone();
            let Ok(l) = &entry.loaded else { continue };
            let name = l.pipeline.name.clone();
            match seen.get(&name) {
                Some(first) => {
                    entry.loaded = Err(format!(
                        "{}: error: pipeline `{name}` is already defined in {}; give one of them another `name`",
                        entry.file.display(),
                        first.display()
                    ));
                }
                None => {
                    seen.insert(name, entry.file.clone());
                }
            }
        }
    }

    /// The valid pipeline named `name`.
    pub fn get(&self, name: &str) -> Option<&Loaded> {
        self.entries
            .values()
            .filter_map(|e| e.loaded.as_ref().ok())
            .find(|l| l.pipeline.name == name)
    }

    /// The entry (valid or not) named `name`.
    pub fn entry(&self, name: &str) -> Option<&Entry> {
        self.entries.values().find(|e| e.name() == name)
    }

    /// The valid pipelines that have a schedule.
    pub fn scheduled(&self) -> Vec<(Pipeline, Schedule)> {
        self.entries
            .values()
            .filter_map(|e| e.loaded.as_ref().ok())
            .filter_map(|l| Some((l.pipeline.clone(), l.schedule.clone()?)))
            .collect()
    }

    /// The valid pipelines that run on new versions of datasets (`on_new_version`).
    pub fn triggered(&self) -> Vec<Pipeline> {
        self.entries
            .values()
            .filter_map(|e| e.loaded.as_ref().ok())
            .filter(|l| !l.pipeline.on_new_version.is_empty())
            .map(|l| l.pipeline.clone())
            .collect()
    }
}
