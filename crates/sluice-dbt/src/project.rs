//! A dbt project on disk: `dbt_project.yml`, the files of its models, seeds, snapshots,
//! macros and tests, the properties of its YAML files, and the configs that apply to each
//! node (folder-level `+key`s, then properties, then the file's own `config()`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use sluice_core::diag::did_you_mean;
use sluice_core::yaml::{self, Mark, Node};

use crate::Problems;

/// Where a value was written: a file and a position in it.
#[derive(Debug, Clone, PartialEq)]
pub struct Origin {
    /// The file.
    pub file: PathBuf,
    /// The position.
    pub mark: Mark,
}

impl Origin {
    pub(crate) fn new(file: &Path, mark: Mark) -> Self {
        Origin {
            file: file.to_path_buf(),
            mark,
        }
    }
}

/// Keys of `dbt_project.yml` sluice reads or that change nothing it does.
const PROJECT_KEYS: &[&str] = &[
    "name",
    "version",
    "config-version",
    "profile",
    "model-paths",
    "seed-paths",
    "snapshot-paths",
    "macro-paths",
    "test-paths",
    "analysis-paths",
    "docs-paths",
    "asset-paths",
    "target-path",
    "log-path",
    "packages-install-path",
    "clean-targets",
    "require-dbt-version",
    "vars",
    "models",
    "seeds",
    "snapshots",
    "tests",
    "data_tests",
    "sources",
    "quoting",
    "flags",
];

/// The project file, read.
pub struct Project {
    /// The project's folder.
    pub dir: PathBuf,
    /// `dir/dbt_project.yml`.
    pub file: PathBuf,
    /// `name:`.
    pub name: String,
    /// Where `name:` is.
    pub name_mark: Mark,
    /// `vars:`.
    pub vars: BTreeMap<String, serde_json::Value>,
    /// Folders of each kind of file, relative to `dir`.
    pub model_paths: Vec<String>,
    /// Seeds' folders.
    pub seed_paths: Vec<String>,
    /// Snapshots' folders.
    pub snapshot_paths: Vec<String>,
    /// Macros' folders.
    pub macro_paths: Vec<String>,
    /// Singular tests' folders.
    pub test_paths: Vec<String>,
    /// `models:`, `seeds:`, `snapshots:`, `data_tests:` (folder-level configs).
    pub configs: BTreeMap<&'static str, Node>,
}

fn strings(node: &Node, file: &Path, key: &str, problems: &mut Problems) -> Vec<String> {
    match node.as_seq() {
        Some(items) => items
            .iter()
            .filter_map(|n| n.as_text().map(String::from))
            .collect(),
        None => match node.as_text() {
            Some(t) => vec![t.to_string()],
            None => {
                problems.push(
                    Origin::new(file, node.mark),
                    format!("`{key}` must be a list of folders"),
                );
                Vec::new()
            }
        },
    }
}

impl Project {
    /// Reads `dir/dbt_project.yml`; problems go to `problems`.
    pub fn read(dir: &Path, problems: &mut Problems) -> Option<Project> {
        let file = dir.join("dbt_project.yml");
        let root = read_yaml(&file, problems)?;
        let Some(entries) = root.as_map() else {
            problems.push(
                Origin::new(&file, root.mark),
                "dbt_project.yml must be a mapping",
            );
            return None;
        };
        let mut p = Project {
            dir: dir.to_path_buf(),
            file: file.clone(),
            name: String::new(),
            name_mark: root.mark,
            vars: BTreeMap::new(),
            model_paths: vec!["models".into()],
            seed_paths: vec!["seeds".into()],
            snapshot_paths: vec!["snapshots".into()],
            macro_paths: vec!["macros".into()],
            test_paths: vec!["tests".into()],
            configs: BTreeMap::new(),
        };
        for (k, v) in entries {
            let key = k.as_text().unwrap_or_default();
            let at = Origin::new(&file, k.mark);
            match key {
                "name" => {
                    p.name = v.as_text().unwrap_or_default().to_string();
                    p.name_mark = v.mark;
                }
                "model-paths" => p.model_paths = strings(v, &file, key, problems),
                "seed-paths" => p.seed_paths = strings(v, &file, key, problems),
                "snapshot-paths" => p.snapshot_paths = strings(v, &file, key, problems),
                "macro-paths" => p.macro_paths = strings(v, &file, key, problems),
                "test-paths" => p.test_paths = strings(v, &file, key, problems),
                "vars" => {
                    if let Some(vars) = v.as_map() {
                        for (name, value) in vars {
                            if let Some(name) = name.as_text() {
                                p.vars.insert(name.to_string(), value.to_json());
                            }
                        }
                    }
                }
                "models" => {
                    p.configs.insert("models", v.clone());
                }
                "seeds" => {
                    p.configs.insert("seeds", v.clone());
                }
                "snapshots" => {
                    p.configs.insert("snapshots", v.clone());
                }
                "tests" | "data_tests" => {
                    p.configs.insert("data_tests", v.clone());
                }
                "on-run-start" | "on-run-end" | "dispatch" => problems.push(
                    at,
                    format!("`{key}` is not supported by sluice (it runs SQL against an adapter)"),
                ),
                _ if PROJECT_KEYS.contains(&key) => {}
                _ => problems.push_hint(
                    at,
                    format!("`{key}` is not a dbt_project.yml key sluice knows"),
                    did_you_mean(key, PROJECT_KEYS.iter().copied()),
                ),
            }
        }
        if p.name.is_empty() {
            problems.push(
                Origin::new(&file, root.mark),
                "dbt_project.yml has no `name`",
            );
        }
        if dir.join("packages.yml").is_file() || dir.join("dependencies.yml").is_file() {
            problems.push(
                Origin::new(&file, Mark { line: 1, col: 1 }),
                "dbt packages (packages.yml) are not supported by sluice: copy the macros you use into macros/",
            );
        }
        Some(p)
    }

    /// Files ending in `ext` under each of `paths`, sorted, relative to the project.
    pub fn files(&self, paths: &[String], ext: &str) -> Vec<PathBuf> {
        let mut out = Vec::new();
        for p in paths {
            walk(&self.dir, &self.dir.join(p), ext, &mut out);
        }
        out.sort();
        out.dedup();
        out
    }
}

fn walk(root: &Path, dir: &Path, ext: &str, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    entries.sort();
    for path in entries {
        let hidden = path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with('.'));
        if hidden {
            continue;
        }
        if path.is_dir() {
            walk(root, &path, ext, out);
        } else if path.extension().is_some_and(|e| e == ext)
            && let Ok(rel) = path.strip_prefix(root)
        {
            out.push(rel.to_path_buf());
        }
    }
}

/// Reads and parses a YAML file.
pub fn read_yaml(file: &Path, problems: &mut Problems) -> Option<Node> {
    let text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) => {
            problems.push(
                Origin::new(file, Mark { line: 1, col: 1 }),
                format!("cannot read the file: {e}"),
            );
            return None;
        }
    };
    match yaml::parse(&text) {
        Ok(n) => Some(n),
        Err(e) => {
            problems.push(
                Origin::new(file, e.mark),
                format!("invalid YAML: {}", e.message),
            );
            None
        }
    }
}

/// A config value with where it was set.
#[derive(Debug, Clone)]
pub struct Setting {
    /// The value.
    pub value: serde_json::Value,
    /// Where.
    pub origin: Origin,
}

/// The configs of one node, by key.
#[derive(Debug, Clone, Default)]
pub struct Config {
    /// Key → value; `tags` accumulate, the others are replaced by later settings.
    pub values: BTreeMap<String, Setting>,
}

impl Config {
    /// Sets `key` (tags are added to those already there).
    pub fn set(&mut self, key: &str, value: serde_json::Value, origin: Origin) {
        let key = key.trim_start_matches('+').replace('-', "_");
        // `meta` maps are merged, the later keys winning, as dbt does.
        if key == "meta"
            && let (Some(old), serde_json::Value::Object(new)) = (self.values.get(&key), &value)
            && let serde_json::Value::Object(old) = &old.value
        {
            let mut merged = old.clone();
            merged.extend(new.clone());
            let value = serde_json::Value::Object(merged);
            self.values.insert(key, Setting { value, origin });
            return;
        }
        if key == "tags"
            && let Some(old) = self.values.get(&key)
        {
            let mut tags = tag_list(&old.value);
            for t in tag_list(&value) {
                if !tags.contains(&t) {
                    tags.push(t);
                }
            }
            let value = serde_json::Value::from(tags);
            self.values.insert(key, Setting { value, origin });
            return;
        }
        self.values.insert(key, Setting { value, origin });
    }

    /// The text of `key`.
    pub fn text(&self, key: &str) -> Option<(&str, &Origin)> {
        let s = self.values.get(key)?;
        Some((s.value.as_str()?, &s.origin))
    }

    /// A setting.
    pub fn get(&self, key: &str) -> Option<&Setting> {
        self.values.get(key)
    }

    /// A list of texts (`x` or `[x, y]`).
    pub fn list(&self, key: &str) -> Vec<String> {
        self.values
            .get(key)
            .map(|s| tag_list(&s.value))
            .unwrap_or_default()
    }

    /// Whether `enabled` is not false.
    pub fn enabled(&self) -> bool {
        self.values
            .get("enabled")
            .is_none_or(|s| s.value.as_bool() != Some(false))
    }
}

/// `x` or `[x, y]` as a list.
pub fn tag_list(v: &serde_json::Value) -> Vec<String> {
    match v {
        serde_json::Value::String(s) => vec![s.clone()],
        serde_json::Value::Array(items) => items
            .iter()
            .filter_map(|i| i.as_str().map(String::from))
            .collect(),
        _ => Vec::new(),
    }
}

/// Config keys that may be written without `+` in `dbt_project.yml` (the others, without
/// `+`, are folder names).
const BARE_KEYS: &[&str] = &[
    "materialized",
    "enabled",
    "tags",
    "schema",
    "unique_key",
    "incremental_strategy",
    "on_schema_change",
    "column_types",
    "severity",
    "strategy",
    "updated_at",
    "check_cols",
    "target_schema",
    "full_refresh",
    "docs",
    "persist_docs",
    "meta",
    "alias",
    "database",
    "quote_columns",
    "delimiter",
    "pre-hook",
    "post-hook",
    "grants",
    "contract",
];

impl Project {
    /// The folder-level configs of `dbt_project.yml` that apply to a node of `kind`
    /// (`models`, `seeds`, …) whose file is `rel` (relative to the project, under one of
    /// `roots`).
    pub fn folder_config(&self, kind: &str, roots: &[String], rel: &Path, config: &mut Config) {
        let Some(top) = self.configs.get(kind) else {
            return;
        };
        // The path below its root folder, then the file's stem.
        let below = roots
            .iter()
            .find_map(|r| rel.strip_prefix(r).ok())
            .unwrap_or(rel);
        let mut parts: Vec<String> = below
            .parent()
            .map(|p| {
                p.components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        if let Some(stem) = rel.file_stem() {
            parts.push(stem.to_string_lossy().into_owned());
        }
        // Settings straight under `models:` apply to every project; then the project's block.
        let mut level = Some(top);
        let mut depth = 0;
        let mut names = vec![self.name.clone()];
        names.extend(parts);
        while let Some(node) = level {
            let Some(entries) = node.as_map() else { break };
            let mut next = None;
            for (k, v) in entries {
                let Some(key) = k.as_text() else { continue };
                let origin = Origin::new(&self.file, k.mark);
                if key.starts_with('+') || (BARE_KEYS.contains(&key) && v.as_map().is_none()) {
                    config.set(key, v.to_json(), origin);
                } else if names.get(depth).is_some_and(|n| n == key) {
                    next = Some(v);
                } else if BARE_KEYS.contains(&key) {
                    config.set(key, v.to_json(), origin);
                }
            }
            level = next;
            depth += 1;
        }
    }
}
