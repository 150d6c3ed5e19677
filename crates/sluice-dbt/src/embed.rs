//! `op: dbt` in a pipeline file: a task naming a dbt project (`project:`) becomes the
//! project's tasks — one per model, seed, snapshot and test, under their own names — in the
//! pipeline, so that its schedule, parameters, alerts and other tasks go with them: the
//! project's tasks wait for the dbt task's `after:`, and `after: [TASK]` elsewhere waits for
//! all of them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use sluice_core::yaml::{Node, NodeKind};
use sluice_core::{Diagnostic, Diagnostics, LoadError, LoadOptions, Pipeline};

use crate::project::Project;
use crate::properties::field;
use crate::{Problems, compile, compile_with_origins, is_project, target};

/// The keys of an `op: dbt` task.
const KEYS: &[&str] = &["op", "project", "vars", "after", "description"];

/// The ops whose `path:` names files, made absolute when the project's tasks move into a
/// pipeline of another folder.
const READERS: &[&str] = &["read.csv", "read.parquet", "read.json"];

/// Loads a pipeline file, a dbt project (its folder or `dbt_project.yml`), or a pipeline file
/// with `op: dbt` tasks, which become the tasks of their projects.
pub fn load_file(path: &Path, opts: &LoadOptions<'_>) -> Result<Pipeline, LoadError> {
    if is_project(path) {
        return crate::load(path, opts);
    }
    let source = std::fs::read_to_string(path).map_err(|source| LoadError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let root = match sluice_core::yaml::parse(&source) {
        Ok(root) if has_dbt_task(&root) => root,
        // Every other file (an invalid one too: its errors say why) as the core reads it.
        _ => return Ok(sluice_core::parse_pipeline(&source, path, opts)?),
    };
    let (root, origins) = expand(&root, path, opts)?;
    let dir = path.parent().unwrap_or(Path::new("."));
    compile_with_origins(&root, path, dir, &origins, opts)
}

fn tasks_of(root: &Node) -> Option<&[(Node, Node)]> {
    field(root, "tasks").and_then(Node::as_map)
}

fn op_of(task: &Node) -> Option<&str> {
    field(task, "op").and_then(Node::as_text)
}

fn has_dbt_task(root: &Node) -> bool {
    tasks_of(root).is_some_and(|tasks| tasks.iter().any(|(_, t)| op_of(t) == Some("dbt")))
}

/// `after:` as a list of names (one name or a list).
fn names(node: Option<&Node>) -> Vec<String> {
    match node {
        None => Vec::new(),
        Some(n) => match n.as_seq() {
            Some(items) => items
                .iter()
                .filter_map(|i| i.as_text().map(String::from))
                .collect(),
            None => n.as_text().map(String::from).into_iter().collect(),
        },
    }
}

fn names_node(items: &[String], mark: sluice_core::Mark) -> Node {
    Node {
        kind: NodeKind::Seq(
            items
                .iter()
                .map(|s| Node::string(s.as_str(), mark))
                .collect(),
        ),
        mark,
    }
}

/// The pipeline tree with each `op: dbt` task replaced by its project's tasks, and the file
/// each of those comes from.
fn expand(
    root: &Node,
    file: &Path,
    opts: &LoadOptions<'_>,
) -> Result<(Node, BTreeMap<String, PathBuf>), Diagnostics> {
    let base = file.parent().unwrap_or(Path::new("."));
    let tasks = tasks_of(root).unwrap_or_default();
    let mut diags: Vec<Diagnostic> = Vec::new();
    let mut origins = BTreeMap::new();
    let mut groups: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut out: Vec<(Node, Node)> = Vec::new();
    let host: Vec<&str> = tasks
        .iter()
        .filter(|(_, t)| op_of(t) != Some("dbt"))
        .filter_map(|(k, _)| k.as_text())
        .collect();
    for (key, task) in tasks {
        let name = key.as_text().unwrap_or_default();
        if op_of(task) != Some("dbt") {
            out.push((key.clone(), task.clone()));
            continue;
        }
        let at = |mark, message: String| Diagnostic::new(mark, format!("tasks.{name}"), message);
        for (k, _) in task.as_map().unwrap_or_default() {
            let k_text = k.as_text().unwrap_or_default();
            if !KEYS.contains(&k_text) {
                diags.push(
                    at(k.mark, format!("`{k_text}` is not a key of a dbt task")).with_hint_opt(
                        sluice_core::diag::did_you_mean(k_text, KEYS.iter().copied()),
                    ),
                );
            }
        }
        let Some(project_node) = field(task, "project") else {
            diags.push(at(
                key.mark,
                "a dbt task needs `project:`, the folder holding dbt_project.yml".to_string(),
            ));
            continue;
        };
        let dir = base.join(project_node.as_text().unwrap_or_default());
        if !is_project(&dir) {
            diags.push(at(
                project_node.mark,
                format!("{} holds no dbt_project.yml", dir.display()),
            ));
            continue;
        }
        let dir = std::fs::canonicalize(&dir).unwrap_or(dir);
        let vars: BTreeMap<String, serde_json::Value> = match field(task, "vars").map(Node::to_json)
        {
            Some(serde_json::Value::Object(m)) => m.into_iter().collect(),
            Some(_) => {
                diags.push(at(
                    project_node.mark,
                    "`vars` must be a map of the project's vars".to_string(),
                ));
                continue;
            }
            None => BTreeMap::new(),
        };
        let mut problems = Problems::default();
        let compiled = Project::read(&dir, &mut problems)
            .and_then(|project| compile(&project, &vars, opts, &target(opts), &mut problems));
        let project_file = dir.join("dbt_project.yml");
        let Some((project_root, project_origins)) = compiled.filter(|_| problems.items.is_empty())
        else {
            diags.extend(
                problems
                    .into_diagnostics(&project_file)
                    .items
                    .into_iter()
                    .map(|mut d| {
                        d.file.get_or_insert_with(|| project_file.clone());
                        d
                    }),
            );
            continue;
        };
        let waits = names(field(task, "after"));
        let mut members = Vec::new();
        for (tkey, tnode) in tasks_of(&project_root).unwrap_or_default() {
            let tname = tkey.as_text().unwrap_or_default().to_string();
            if host.contains(&tname.as_str()) || origins.contains_key(&tname) {
                diags.push(at(
                    key.mark,
                    format!(
                        "the dbt project's `{tname}` has the name of another task of this pipeline: rename one"
                    ),
                ));
                continue;
            }
            let mut node = tnode.clone();
            if let NodeKind::Map(entries) = &mut node.kind {
                let reader = entries.iter().any(|(k, v)| {
                    k.as_text() == Some("op") && v.as_text().is_some_and(|o| READERS.contains(&o))
                });
                for (k, v) in entries.iter_mut() {
                    if reader && k.as_text() == Some("path") {
                        let p = Path::new(v.as_text().unwrap_or_default());
                        if p.is_relative() {
                            *v = Node::string(dir.join(p).to_string_lossy(), v.mark);
                        }
                    }
                }
                if !waits.is_empty() {
                    match entries
                        .iter_mut()
                        .find(|(k, _)| k.as_text() == Some("after"))
                    {
                        Some((_, after)) => {
                            let mut all = names(Some(after));
                            all.extend(waits.iter().cloned());
                            *after = names_node(&all, after.mark);
                        }
                        None => entries.push((
                            Node::string("after", key.mark),
                            names_node(&waits, key.mark),
                        )),
                    }
                }
            }
            if let Some(f) = project_origins.get(&tname) {
                origins.insert(tname.clone(), f.clone());
            } else {
                origins.insert(tname.clone(), project_file.clone());
            }
            members.push(tname);
            out.push((tkey.clone(), node));
        }
        groups.insert(name.to_string(), members);
    }
    if !diags.is_empty() {
        return Err(Diagnostics::new(file, diags));
    }
    // `after: [TASK]` of a dbt task: all of its project's tasks.
    for (_, task) in out.iter_mut() {
        let NodeKind::Map(entries) = &mut task.kind else {
            continue;
        };
        for (k, v) in entries.iter_mut() {
            if k.as_text() != Some("after") {
                continue;
            }
            let before = names(Some(v));
            if !before.iter().any(|n| groups.contains_key(n)) {
                continue;
            }
            let after: Vec<String> = before
                .into_iter()
                .flat_map(|n| groups.get(&n).cloned().unwrap_or_else(|| vec![n]))
                .collect();
            *v = names_node(&after, v.mark);
        }
    }
    let mut root = root.clone();
    if let NodeKind::Map(entries) = &mut root.kind {
        for (k, v) in entries.iter_mut() {
            if k.as_text() == Some("tasks") {
                v.kind = NodeKind::Map(out.clone());
            }
        }
    }
    Ok((root, origins))
}

/// The dbt project folders the `op: dbt` tasks of pipeline file `path` name (none for a file
/// that cannot be read), so that a server reloads the pipeline when one of them changes.
pub fn projects_of(path: &Path) -> Vec<PathBuf> {
    let Ok(source) = std::fs::read_to_string(path) else {
        return Vec::new();
    };
    let Ok(root) = sluice_core::yaml::parse(&source) else {
        return Vec::new();
    };
    let base = path.parent().unwrap_or(Path::new("."));
    tasks_of(&root)
        .unwrap_or_default()
        .iter()
        .filter(|(_, t)| op_of(t) == Some("dbt"))
        .filter_map(|(_, t)| field(t, "project").and_then(Node::as_text))
        .map(|p| base.join(p))
        .collect()
}

/// The newest modification time of the files and folders of a project (not its hidden
/// folders, `target`, `logs` or `dbt_packages`): a change, an added or removed file moves it.
pub fn newest_change(dir: &Path) -> Option<std::time::SystemTime> {
    let mut newest = std::fs::metadata(dir).and_then(|m| m.modified()).ok();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return newest;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') || ["target", "logs", "dbt_packages"].contains(&name.as_ref()) {
            continue;
        }
        let path = entry.path();
        let time = if path.is_dir() {
            newest_change(&path)
        } else {
            entry.metadata().and_then(|m| m.modified()).ok()
        };
        newest = newest.max(time);
    }
    newest
}
