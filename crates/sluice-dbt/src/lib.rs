//! dbt projects as sluice pipelines.
//!
//! A folder with `dbt_project.yml` becomes a [`Pipeline`] named after the project, with one
//! task per seed (`read.csv`, with the column types dbt infers or `column_types` gives), per
//! model (`sql`: `table`, `view` and `incremental` models are datasets; `ephemeral` models are
//! inlined as CTEs where they are used), per snapshot (`snapshot`) and per data test (`test`:
//! generic tests from the properties files and singular tests from `tests/`). Templates are
//! rendered with minijinja ([`jinja`]); what sluice cannot run (adapter macros, Python models,
//! hooks, custom materializations) is refused with its file and line.
//!
//! This crate reads files and validates; it runs nothing. It depends on `sluice-core` only.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use sluice_core::checks::quote_ident as quote;
use sluice_core::diag::{Diagnostic, Diagnostics, did_you_mean};
use sluice_core::yaml::{Node, NodeKind};
use sluice_core::{LoadError, LoadOptions, Pipeline};

pub use embed::{load_file, newest_change, projects_of};
mod embed;
pub mod jinja;
pub mod project;
pub mod properties;
mod seeds;
mod tests;
pub mod unit_tests;

use jinja::{Globals, REF_MARK, Renderer};
use project::{Config, Origin, Project};
use properties::{NodeProps, Properties, START};

/// The table an incremental model's `{{ this }}` names: its previous version (`sql`'s
/// `incremental:` registers it).
pub const THIS: &str = "this";

/// Problems found, each where it is.
#[derive(Debug, Default)]
pub struct Problems {
    items: Vec<(Origin, String, Option<String>)>,
}

impl Problems {
    /// A problem at `origin`.
    pub fn push(&mut self, origin: Origin, message: impl Into<String>) {
        self.items.push((origin, message.into(), None));
    }

    /// A problem at `origin` with a hint.
    pub fn push_hint(&mut self, origin: Origin, message: impl Into<String>, hint: Option<String>) {
        self.items.push((origin, message.into(), hint));
    }

    fn into_diagnostics(self, file: &Path) -> Diagnostics {
        let items = self
            .items
            .into_iter()
            .map(|(o, m, h)| {
                Diagnostic::new(o.mark, "", m)
                    .with_hint_opt(h)
                    .in_file(o.file)
            })
            .collect();
        Diagnostics::new(file, items)
    }
}

/// Whether `path` is a dbt project: a folder with `dbt_project.yml`, or that file.
pub fn is_project(path: &Path) -> bool {
    project_dir(path).is_some()
}

fn project_dir(path: &Path) -> Option<PathBuf> {
    if path.is_dir() && path.join("dbt_project.yml").is_file() {
        return Some(path.to_path_buf());
    }
    if path.file_name().is_some_and(|n| n == "dbt_project.yml") && path.is_file() {
        return Some(
            path.parent()
                .filter(|p| !p.as_os_str().is_empty())
                .map_or_else(|| PathBuf::from("."), Path::to_path_buf),
        );
    }
    None
}

/// How a model is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Materialized {
    /// A dataset, computed again on each change.
    Table,
    /// A stored query: SQL reading it runs it (`sql`'s `view: true`).
    View,
    /// A dataset that each run extends (or updates by `unique_key`).
    Incremental,
    /// No dataset: its query is inlined where it is used.
    Ephemeral,
}

impl Materialized {
    fn from_name(name: &str) -> Option<Materialized> {
        Some(match name {
            "table" => Materialized::Table,
            "view" => Materialized::View,
            "incremental" => Materialized::Incremental,
            "ephemeral" => Materialized::Ephemeral,
            _ => return None,
        })
    }
}

/// One model, seed or snapshot.
struct Item {
    name: String,
    kind: ItemKind,
    /// The file, relative to the project.
    rel: PathBuf,
    /// The template (models, snapshots: the block's body with the rest blanked out).
    source: String,
    config: Config,
    props: NodeProps,
    /// Rendered SQL (with ref marks), then resolved.
    sql: String,
    /// Rendered with `is_incremental()` true.
    incremental_sql: Option<String>,
    refs: Vec<String>,
    /// `(source, table)` given to `source()`.
    sources: Vec<(String, String)>,
    materialized: Materialized,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ItemKind {
    Model,
    Seed,
    Snapshot,
}

impl ItemKind {
    fn word(self) -> &'static str {
        match self {
            ItemKind::Model => "model",
            ItemKind::Seed => "seed",
            ItemKind::Snapshot => "snapshot",
        }
    }
}

/// Loads the dbt project at `path` (its folder or its `dbt_project.yml`) as a pipeline. The
/// `--param` values of `opts` are the project's `vars`; the environment (`SLUICE_ENV`, `dev`
/// by default) is `target.name`.
pub fn load(path: &Path, opts: &LoadOptions<'_>) -> Result<Pipeline, LoadError> {
    let dir = project_dir(path).ok_or_else(|| LoadError::Io {
        path: path.to_path_buf(),
        source: std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "no dbt_project.yml in this folder",
        ),
    })?;
    let file = dir.join("dbt_project.yml");
    let mut problems = Problems::default();
    let Some(project) = Project::read(&dir, &mut problems) else {
        return Err(problems.into_diagnostics(&file).into());
    };
    let vars: BTreeMap<String, serde_json::Value> = opts
        .params
        .iter()
        .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
        .collect();
    match compile(&project, &vars, opts, &target(opts), &mut problems) {
        Some((root, origins)) if problems.items.is_empty() => {
            compile_with_origins(&root, &file, &dir, &origins, opts)
        }
        _ => Err(problems.into_diagnostics(&file).into()),
    }
}

/// The environment, dbt's `target.name`: `SLUICE_ENV`, `dev` by default.
fn target(opts: &LoadOptions<'_>) -> String {
    (opts.env)(sluice_core::pipeline::ENVIRONMENT_VAR)
        .filter(|e| !e.trim().is_empty())
        .unwrap_or_else(|| sluice_core::pipeline::DEFAULT_ENVIRONMENT.to_string())
}

/// Validates the pipeline tree `root` of `file`; the problems of a task, and its `source`,
/// are those of the file `origins` names for it (shown relative to `dir`).
fn compile_with_origins(
    root: &Node,
    file: &Path,
    dir: &Path,
    origins: &BTreeMap<String, PathBuf>,
    opts: &LoadOptions<'_>,
) -> Result<Pipeline, LoadError> {
    let mut pipeline = sluice_core::compile_node(root, file, opts).map_err(|d| {
        let items = d
            .items
            .into_iter()
            .map(|mut item| {
                let task = item
                    .key
                    .strip_prefix("tasks.")
                    .map(|k| k.split('.').next().unwrap_or(k));
                if let Some(origin) = task.and_then(|t| origins.get(t)) {
                    item.file = Some(origin.clone());
                }
                item
            })
            .collect();
        LoadError::Invalid(Diagnostics::new(file, items))
    })?;
    for task in &mut pipeline.tasks {
        if let Some(f) = origins.get(&task.name) {
            task.source = Some(f.strip_prefix(dir).unwrap_or(f).to_path_buf());
        }
    }
    Ok(pipeline)
}

fn read(dir: &Path, rel: &Path, problems: &mut Problems) -> Option<String> {
    match std::fs::read_to_string(dir.join(rel)) {
        Ok(t) => Some(t),
        Err(e) => {
            problems.push(
                Origin::new(&dir.join(rel), START),
                format!("cannot read the file: {e}"),
            );
            None
        }
    }
}

fn stem(rel: &Path) -> String {
    rel.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Config keys sluice uses, and those that change nothing it does (accepted).
const USED_KEYS: &[&str] = &[
    "materialized",
    "unique_key",
    "tags",
    "enabled",
    "incremental_strategy",
    "on_schema_change",
    "column_types",
    "delimiter",
    "strategy",
    "updated_at",
    "check_cols",
    "invalidate_hard_deletes",
    "hard_deletes",
    "severity",
    "where",
    "meta",
    "full_refresh",
];
const HARMLESS_KEYS: &[&str] = &[
    "schema",
    "database",
    "target_schema",
    "target_database",
    "docs",
    "persist_docs",
    "quote_columns",
    "access",
    "group",
    "description",
];

fn check_config(config: &Config, problems: &mut Problems) {
    for (key, s) in &config.values {
        if USED_KEYS.contains(&key.as_str()) || HARMLESS_KEYS.contains(&key.as_str()) {
            continue;
        }
        let message = match key.as_str() {
            "pre_hook" | "post_hook" => {
                format!("`{key}` is not supported by sluice: hooks run SQL against an adapter")
            }
            _ => format!("config `{key}` is not supported by sluice"),
        };
        let known = USED_KEYS.iter().chain(HARMLESS_KEYS).copied();
        problems.push_hint(s.origin.clone(), message, did_you_mean(key, known));
    }
    if let Some((v, o)) = config.text("on_schema_change")
        && v != "ignore"
    {
        problems.push(
            o.clone(),
            format!("on_schema_change `{v}` is not supported by sluice (only `ignore`)"),
        );
    }
    if let Some((v, o)) = config.text("incremental_strategy")
        && !["append", "delete+insert", "merge"].contains(&v)
    {
        problems.push(
            o.clone(),
            format!("incremental_strategy `{v}` is not supported by sluice (append, delete+insert or merge)"),
        );
    }
}

/// Reads the project's files and builds the pipeline's YAML tree, with the file each task
/// comes from.
fn compile(
    project: &Project,
    vars_override: &BTreeMap<String, serde_json::Value>,
    opts: &LoadOptions<'_>,
    target: &str,
    problems: &mut Problems,
) -> Option<(Node, BTreeMap<String, PathBuf>)> {
    let dir = &project.dir;
    let mut yml = project.files(&project.model_paths, "yml");
    yml.extend(project.files(&project.seed_paths, "yml"));
    yml.extend(project.files(&project.snapshot_paths, "yml"));
    yml.extend(project.files(&project.model_paths, "yaml"));
    let props = Properties::read(dir, &yml, problems);

    // Every node, by name.
    let mut items: Vec<Item> = Vec::new();
    let push = |items: &mut Vec<Item>, problems: &mut Problems, item: Item| {
        if let Some(other) = items.iter().find(|i| i.name == item.name) {
            problems.push(
                Origin::new(&dir.join(&item.rel), START),
                format!(
                    "{} `{}` has the name of {} {}",
                    item.kind.word(),
                    item.name,
                    other.kind.word(),
                    other.rel.display()
                ),
            );
        } else {
            items.push(item);
        }
    };
    let new_item = |name: String, kind: ItemKind, rel: PathBuf, source: String| Item {
        props: props.nodes.get(&name).cloned().unwrap_or_default(),
        name,
        kind,
        rel,
        source,
        config: Config::default(),
        sql: String::new(),
        incremental_sql: None,
        refs: Vec::new(),
        sources: Vec::new(),
        materialized: Materialized::Table,
    };
    for rel in project.files(&project.seed_paths, "csv") {
        let item = new_item(stem(&rel), ItemKind::Seed, rel, String::new());
        push(&mut items, problems, item);
    }
    for rel in project.files(&project.model_paths, "py") {
        problems.push(
            Origin::new(&dir.join(&rel), START),
            "Python models are not supported by sluice: write the model in SQL, or run the script as a `run:` task",
        );
    }
    for rel in project.files(&project.model_paths, "sql") {
        let Some(source) = read(dir, &rel, problems) else {
            continue;
        };
        let item = new_item(stem(&rel), ItemKind::Model, rel, source);
        push(&mut items, problems, item);
    }
    for rel in project.files(&project.snapshot_paths, "sql") {
        let Some(source) = read(dir, &rel, problems) else {
            continue;
        };
        for (name, body) in snapshot_blocks(&source, &dir.join(&rel), problems) {
            let item = new_item(name, ItemKind::Snapshot, rel.clone(), body);
            push(&mut items, problems, item);
        }
    }
    for name in props.nodes.keys() {
        if !items.iter().any(|i| &i.name == name) {
            problems.push(
                Origin::new(&project.file, START),
                format!("properties are given for `{name}`, which is no model, seed or snapshot"),
            );
        }
    }

    // Folder-level configs, then properties.
    for item in &mut items {
        let (kind, roots) = match item.kind {
            ItemKind::Model => ("models", &project.model_paths),
            ItemKind::Seed => ("seeds", &project.seed_paths),
            ItemKind::Snapshot => ("snapshots", &project.snapshot_paths),
        };
        let mut config = Config::default();
        project.folder_config(kind, roots, &item.rel, &mut config);
        for (k, s) in &item.props.config.values {
            config.set(k, s.value.clone(), s.origin.clone());
        }
        item.config = config;
    }

    // Macros, and the renderer.
    let mut macros = Vec::new();
    for rel in project.files(&project.macro_paths, "sql") {
        if let Some(source) = read(dir, &rel, problems) {
            macros.push((rel, source));
        }
    }
    let mut env_names: Vec<String> = items
        .iter()
        .flat_map(|i| jinja::env_var_names(&i.source))
        .collect();
    env_names.extend(macros.iter().flat_map(|(_, s)| jinja::env_var_names(s)));
    let mut vars = project.vars.clone();
    vars.extend(vars_override.iter().map(|(k, v)| (k.clone(), v.clone())));
    let globals = Globals {
        project: project.name.clone(),
        target: target.to_string(),
        vars,
        env: env_names
            .into_iter()
            .filter_map(|n| Some((n.clone(), (opts.env)(&n)?)))
            .collect(),
    };
    let unit_globals = globals.clone();
    let (mut renderer, macro_problems) = Renderer::new(dir, globals, &macros);
    for p in macro_problems {
        problems.push(p.origin, p.message);
    }
    let mut sources = BTreeMap::new();
    for ((s, t), table) in &props.sources {
        if table.location.is_some() {
            sources.insert((s.clone(), t.clone()), quote(&source_task(s, t)));
        } else {
            problems.push(
                table.origin.clone(),
                format!(
                    "source `{s}.{t}` has no `meta: {{external_location: …}}`: sluice reads a source from files (CSV, Parquet or JSON)"
                ),
            );
        }
    }
    let enabled: BTreeSet<String> = items
        .iter()
        .filter(|i| i.config.enabled())
        .map(|i| i.name.clone())
        .collect();
    renderer.set_names(enabled.clone(), sources.clone());
    // A unit test overriding vars or environment variables renders its model again.
    let renderer_with = |vars: &BTreeMap<String, serde_json::Value>,
                         env: &BTreeMap<String, String>| {
        let mut g = unit_globals.clone();
        g.vars.extend(vars.clone());
        g.env.extend(env.clone());
        let (mut r, _) = Renderer::new(dir, g, &macros);
        r.set_names(enabled.clone(), sources.clone());
        r
    };
    items.retain(|i| i.config.enabled());

    // Render models and snapshots; their config() calls come last.
    for item in items.iter_mut().filter(|i| i.kind != ItemKind::Seed) {
        let file = dir.join(&item.rel);
        match renderer.render(&file, &item.source, false) {
            Ok((sql, calls)) => {
                let at = Origin::new(&file, jinja::call_position_any(&item.source, "config"));
                for (k, v) in calls.config {
                    item.config.set(&k, v, at.clone());
                }
                item.sql = sql;
                item.refs = calls.refs;
                item.sources = calls.sources;
            }
            Err(e) => {
                problems.push(
                    e.origin,
                    format!("{} `{}`: {}", item.kind.word(), item.name, e.message),
                );
                continue;
            }
        }
        check_config(&item.config, problems);
        if item.kind == ItemKind::Model {
            let m = item.config.text("materialized");
            item.materialized = match m {
                None => Materialized::View,
                Some((name, origin)) => match Materialized::from_name(name) {
                    Some(m) => m,
                    None => {
                        problems.push_hint(
                            origin.clone(),
                            format!(
                                "model `{}`: materialization `{name}` is not supported by sluice (table, view, incremental or ephemeral)",
                                item.name
                            ),
                            did_you_mean(name, ["table", "view", "incremental", "ephemeral"]),
                        );
                        Materialized::Table
                    }
                },
            };
            if item.materialized == Materialized::Incremental {
                match renderer.render(&file, &item.source, true) {
                    Ok((sql, calls)) => {
                        item.incremental_sql = Some(sql);
                        for r in calls.refs {
                            if !item.refs.contains(&r) {
                                item.refs.push(r);
                            }
                        }
                    }
                    Err(e) => problems.push(
                        e.origin,
                        format!("model `{}` (incremental run): {}", item.name, e.message),
                    ),
                }
            }
        }
    }
    for item in items.iter().filter(|i| i.kind == ItemKind::Seed) {
        check_config(&item.config, problems);
    }
    check_cycles(dir, &items, problems);
    if !problems.items.is_empty() {
        return None;
    }

    // Resolve ref marks: ephemeral models become CTEs.
    let ephemeral: BTreeMap<String, String> = items
        .iter()
        .filter(|i| i.materialized == Materialized::Ephemeral)
        .map(|i| (i.name.clone(), i.sql.clone()))
        .collect();
    let resolve = |sql: &str| resolve_refs(sql, &ephemeral);
    let mut tasks: Vec<(Node, Node)> = Vec::new();
    let mut origins = BTreeMap::new();
    let singular = project.files(&project.test_paths, "sql");
    let tests = tests::Tests::collect(
        dir, &items, &props, &renderer, &resolve, &singular, problems,
    );
    let units = unit_tasks(
        project,
        &items,
        &props,
        &tests,
        &renderer,
        &renderer_with,
        &resolve,
        problems,
    );
    for ((s, t), table) in &props.sources {
        let Some(location) = &table.location else {
            continue;
        };
        let name = source_task(s, t);
        origins.insert(name.clone(), table.origin.file.clone());
        let mut entries = vec![("op", text(source_op(location))), ("path", text(location))];
        if let Some(d) = &table.description {
            entries.push(("description", text(d)));
        }
        tasks.push((text(&name), map(entries)));
    }
    for item in &items {
        if item.materialized == Materialized::Ephemeral {
            continue;
        }
        let file = dir.join(&item.rel);
        origins.insert(item.name.clone(), file.clone());
        let mut entries: Vec<(&str, Node)> = match item.kind {
            ItemKind::Seed => seeds::task(dir, item, problems),
            ItemKind::Model => {
                let mut e = vec![("op", text("sql")), ("sql", sql_text(&resolve(&item.sql)))];
                if item.materialized == Materialized::View {
                    e.push(("view", plain("true")));
                }
                if let Some(inc) = &item.incremental_sql {
                    let mut i = vec![("sql", sql_text(&resolve(inc)))];
                    let keys = item.config.list("unique_key");
                    let append =
                        item.config.text("incremental_strategy").map(|(s, _)| s) == Some("append");
                    if !keys.is_empty() && !append {
                        i.push(("unique_key", seq(keys.iter().map(|k| text(k)).collect())));
                    }
                    e.push(("incremental", map(i)));
                }
                e
            }
            ItemKind::Snapshot => snapshot_task(&file, item, &resolve(&item.sql), problems),
        };
        add_docs(item, &mut entries);
        let mut after = tests.blocking(&item.refs);
        after.extend(
            units
                .iter()
                .filter(|u| u.model == item.name)
                .map(|u| u.name.clone()),
        );
        if !after.is_empty() {
            entries.push(("after", seq(after.iter().map(|t| text(t)).collect())));
        }
        tasks.push((text(&item.name), map(entries)));
        if let Some((name, task)) = postgres_task(item, problems) {
            origins.insert(name.clone(), file.clone());
            tasks.push((text(&name), task));
        }
    }
    for t in tests.tasks {
        origins.insert(t.name.clone(), t.file.clone());
        let mut entries = vec![("op", text("test")), ("sql", sql_text(&t.sql))];
        if t.warn {
            entries.push(("severity", text("warn")));
        }
        if let Some(d) = &t.description {
            entries.push(("description", text(d)));
        }
        tasks.push((text(&t.name), map(entries)));
    }
    for u in units {
        origins.insert(u.name.clone(), u.file.clone());
        let row_node = |row: &unit_tests::TextRow| Node {
            kind: NodeKind::Map(
                row.iter()
                    .map(|(k, v)| (text(k), v.as_deref().map_or_else(|| plain("null"), text)))
                    .collect(),
            ),
            mark: START,
        };
        let rows_node = |rows: &[unit_tests::TextRow]| seq(rows.iter().map(row_node).collect());
        let given = Node {
            kind: NodeKind::Map(
                u.given
                    .iter()
                    .map(|(table, rows)| (text(table), rows_node(rows)))
                    .collect(),
            ),
            mark: START,
        };
        let mut entries = vec![
            ("op", text("unit_test")),
            ("sql", sql_text(&u.sql)),
            ("given", given),
            ("expect", rows_node(&u.expect)),
        ];
        if let Some(q) = &u.this_sql {
            entries.push(("this_sql", sql_text(q)));
        }
        if let Some(d) = &u.description {
            entries.push(("description", text(d)));
        }
        if !u.tags.is_empty() {
            entries.push(("tags", seq(u.tags.iter().map(|t| text(t)).collect())));
        }
        tasks.push((text(&u.name), map(entries)));
    }
    let name = Node {
        kind: NodeKind::Scalar {
            text: project.name.clone(),
            plain: false,
        },
        mark: project.name_mark,
    };
    let root = map(vec![
        ("name", name),
        (
            "description",
            text(&format!(
                "dbt project {} ({})",
                project.name,
                project.file.display()
            )),
        ),
        (
            "tasks",
            Node {
                kind: NodeKind::Map(tasks),
                mark: START,
            },
        ),
    ]);
    Some((root, origins))
}

/// The keys of a model's `meta: {postgres: {…}}`.
const POSTGRES_KEYS: &[&str] = &["table", "schema", "key", "url", "password_env", "tls"];

/// A model's copy into PostgreSQL (`meta: {postgres: {key: …}}`, or `postgres: true` with
/// the model's `unique_key`): a `load.postgres` task `MODEL__postgres`, the table named after
/// the model unless `table:` says otherwise.
fn postgres_task(item: &Item, problems: &mut Problems) -> Option<(String, Node)> {
    let meta = item.config.get("meta")?;
    let spec = meta.value.get("postgres")?;
    let at = meta.origin.clone();
    let fail = |problems: &mut Problems, message: String| {
        problems.push(
            at.clone(),
            format!("model `{}`: meta.postgres: {message}", item.name),
        );
        None
    };
    let spec = match spec {
        serde_json::Value::Bool(false) => return None,
        serde_json::Value::Bool(true) => serde_json::Map::new(),
        serde_json::Value::Object(m) => m.clone(),
        _ => {
            return fail(
                problems,
                "expected true or a map (table, schema, key, url, password_env, tls)".into(),
            );
        }
    };
    if item.kind != ItemKind::Model || item.materialized == Materialized::View {
        return fail(
            problems,
            "only tables and incremental models are loaded into PostgreSQL (a view is a stored query)".into(),
        );
    }
    if let Some(k) = spec.keys().find(|k| !POSTGRES_KEYS.contains(&k.as_str())) {
        return fail(
            problems,
            format!("`{k}` is not a key of it (table, schema, key, url, password_env, tls)"),
        );
    }
    let key = match spec.get("key") {
        Some(k) => project::tag_list(k),
        None => item.config.list("unique_key"),
    };
    if key.is_empty() {
        return fail(
            problems,
            "the rows' key is needed: `key: [column, …]`, or the model's `unique_key`".into(),
        );
    }
    let mut entries = vec![
        ("op", text("load.postgres")),
        ("input", text(&item.name)),
        (
            "table",
            text(
                spec.get("table")
                    .and_then(|t| t.as_str())
                    .unwrap_or(&item.name),
            ),
        ),
        ("key", seq(key.iter().map(|k| text(k)).collect())),
        ("index", text("none")),
    ];
    for k in ["schema", "url", "password_env", "tls"] {
        if let Some(v) = spec.get(k).and_then(|v| v.as_str()) {
            entries.push((k, text(v)));
        }
    }
    Some((format!("{}__postgres", item.name), map(entries)))
}

/// Makes a renderer with more vars and environment variables (a unit test's overrides).
type RenderWith<'a> =
    &'a dyn Fn(&BTreeMap<String, serde_json::Value>, &BTreeMap<String, String>) -> Renderer;

/// A unit test, ready to be a `unit_test` task.
struct UnitTask {
    name: String,
    model: String,
    sql: String,
    /// The model's full-run query, when the test gives rows for `this`.
    this_sql: Option<String>,
    /// Table name → rows.
    given: Vec<(String, Vec<unit_tests::TextRow>)>,
    expect: Vec<unit_tests::TextRow>,
    file: PathBuf,
    description: Option<String>,
    tags: Vec<String>,
}

/// The project's unit tests: each model rendered as the test asks (`is_incremental()`,
/// vars, environment variables), every input given rows.
#[allow(clippy::too_many_arguments)]
fn unit_tasks(
    project: &Project,
    items: &[Item],
    props: &Properties,
    tests: &tests::Tests,
    renderer: &Renderer,
    renderer_with: RenderWith<'_>,
    resolve: &dyn Fn(&str) -> String,
    problems: &mut Problems,
) -> Vec<UnitTask> {
    use unit_tests::{Input, input_table, resolve_rows};
    let mut out = Vec::new();
    for spec in props.unit_tests.iter().filter(|u| u.enabled) {
        let at = &spec.origin;
        let name = &spec.name;
        let Some(item) = items
            .iter()
            .find(|i| i.name == spec.model && i.kind == ItemKind::Model)
        else {
            let models = items
                .iter()
                .filter(|i| i.kind == ItemKind::Model)
                .map(|i| i.name.as_str());
            problems.push_hint(
                spec.model_origin.clone(),
                format!("unit test `{name}`: no model `{}`", spec.model),
                did_you_mean(&spec.model, models),
            );
            continue;
        };
        if item.materialized == Materialized::Ephemeral {
            problems.push(
                at.clone(),
                format!("unit test `{name}`: unit tests of an ephemeral model are not supported by sluice"),
            );
            continue;
        }
        let clash = items.iter().any(|i| &i.name == name)
            || tests.tasks.iter().any(|t| &t.name == name)
            || out.iter().any(|u: &UnitTask| &u.name == name);
        if clash {
            problems.push(
                at.clone(),
                format!("unit test `{name}` has the name of another model, test or unit test"),
            );
            continue;
        }
        if item.materialized == Materialized::Incremental && spec.incremental.is_none() {
            problems.push(
                at.clone(),
                format!(
                    "unit test `{name}` of incremental model `{}` must say which run it tests: `overrides: {{macros: {{is_incremental: true}}}}` (or false)",
                    item.name
                ),
            );
            continue;
        }
        let incremental = spec.incremental.unwrap_or(false);
        let file = project.dir.join(&item.rel);
        let rendered = if spec.vars.is_empty() && spec.env_vars.is_empty() {
            renderer.render(&file, &item.source, incremental)
        } else {
            renderer_with(&spec.vars, &spec.env_vars).render(&file, &item.source, incremental)
        };
        let (sql, calls) = match rendered {
            Ok(r) => r,
            Err(e) => {
                problems.push(
                    e.origin,
                    format!("unit test `{name}` (model `{}`): {}", item.name, e.message),
                );
                continue;
            }
        };
        let mut given = Vec::new();
        let mut ok = true;
        let mut covered: Vec<Input> = Vec::new();
        for g in &spec.given {
            let input = input_table(&g.input);
            let read = match &input {
                Some(Input::Ref(r)) => calls.refs.contains(r),
                Some(Input::Source(s, t)) => calls.sources.contains(&(s.clone(), t.clone())),
                _ => true,
            };
            if !read {
                problems.push(
                    g.origin.clone(),
                    format!(
                        "unit test `{name}`: `{}` is not an input of model `{}`",
                        g.input, item.name
                    ),
                );
                ok = false;
                continue;
            }
            let table = match input {
                Some(Input::Ref(r)) => {
                    if items
                        .iter()
                        .any(|i| i.name == r && i.materialized == Materialized::Ephemeral)
                    {
                        problems.push(
                            g.origin.clone(),
                            format!("unit test `{name}`: rows for ephemeral model `{r}` are not supported by sluice; give rows for what it reads"),
                        );
                        ok = false;
                        continue;
                    }
                    covered.push(Input::Ref(r.clone()));
                    r
                }
                Some(Input::Source(s, t)) => {
                    covered.push(Input::Source(s.clone(), t.clone()));
                    source_task(&s, &t)
                }
                Some(Input::This) if !incremental => {
                    problems.push(
                        g.origin.clone(),
                        format!("unit test `{name}`: rows for `this` need an incremental run: add `overrides: {{macros: {{is_incremental: true}}}}`"),
                    );
                    ok = false;
                    continue;
                }
                Some(Input::This) => THIS.to_string(),
                None => {
                    problems.push(
                        g.origin.clone(),
                        format!("unit test `{name}`: `input: {}` is not ref('…'), source('…', '…') or this", g.input),
                    );
                    ok = false;
                    continue;
                }
            };
            match resolve_rows(project, &g.rows, &g.origin, name) {
                Ok(rows) => given.push((table, rows)),
                Err((origin, message)) => {
                    problems.push(origin, message);
                    ok = false;
                }
            }
        }
        // Every input given, as dbt asks: a unit test reads no real rows.
        let ephemeral = |r: &str| {
            items
                .iter()
                .any(|i| i.name == r && i.materialized == Materialized::Ephemeral)
        };
        let mut missing: Vec<String> = calls
            .refs
            .iter()
            .filter(|r| !ephemeral(r) && !covered.contains(&Input::Ref((*r).clone())))
            .map(|r| format!("ref('{r}')"))
            .collect();
        missing.extend(
            calls
                .sources
                .iter()
                .filter(|(s, t)| !covered.contains(&Input::Source(s.clone(), t.clone())))
                .map(|(s, t)| format!("source('{s}', '{t}')")),
        );
        missing.dedup();
        if !missing.is_empty() {
            problems.push(
                at.clone(),
                format!(
                    "unit test `{name}`: no rows given for {}, read by model `{}`: give every input (rows: [] for none)",
                    missing.join(", "),
                    item.name
                ),
            );
            ok = false;
        }
        if let Some(r) = calls.refs.iter().find(|r| ephemeral(r)) {
            problems.push(
                at.clone(),
                format!("unit test `{name}`: model `{}` reads ephemeral model `{r}`, which unit tests do not support in sluice yet", item.name),
            );
            ok = false;
        }
        let expect = match resolve_rows(project, &spec.expect, at, name) {
            Ok(rows) => rows,
            Err((origin, message)) => {
                problems.push(origin, message);
                continue;
            }
        };
        if !ok {
            continue;
        }
        out.push(UnitTask {
            name: name.clone(),
            model: item.name.clone(),
            sql: resolve(&sql),
            this_sql: given
                .iter()
                .any(|(t, _)| t == THIS)
                .then(|| resolve(&item.sql)),
            given,
            expect,
            file: at.file.clone(),
            description: spec.description.clone(),
            tags: spec.tags.clone(),
        });
    }
    out
}

fn add_docs(item: &Item, entries: &mut Vec<(&str, Node)>) {
    if let Some(d) = &item.props.description {
        entries.push(("description", text(d)));
    }
    let tags = item.config.list("tags");
    if !tags.is_empty() {
        entries.push(("tags", seq(tags.iter().map(|t| text(t)).collect())));
    }
    let mut owners = item.props.owners.clone();
    if let Some(meta) = item.config.get("meta") {
        for key in ["owner", "owners"] {
            if let Some(v) = meta.value.get(key) {
                owners.extend(project::tag_list(v));
            }
        }
    }
    if !owners.is_empty() {
        entries.push(("owner", seq(owners.iter().map(|t| text(t)).collect())));
    }
    let docs: Vec<(Node, Node)> = item
        .props
        .columns
        .iter()
        .map(|(name, c)| {
            let mut e = Vec::new();
            if let Some(d) = &c.description {
                e.push(("description", text(d)));
            }
            if !c.tags.is_empty() {
                e.push(("tags", seq(c.tags.iter().map(|t| text(t)).collect())));
            }
            if c.pii {
                e.push(("pii", plain("true")));
            }
            (text(name), map(e))
        })
        .collect();
    if !docs.is_empty() {
        entries.push((
            "docs",
            Node {
                kind: NodeKind::Map(docs),
                mark: START,
            },
        ));
    }
}

/// The `snapshot` task of `item`, whose file is `file`.
fn snapshot_task<'a>(
    file: &Path,
    item: &Item,
    sql: &str,
    problems: &mut Problems,
) -> Vec<(&'a str, Node)> {
    let mut e = vec![("op", text("snapshot")), ("sql", sql_text(sql))];
    let c = &item.config;
    let keys = c.list("unique_key");
    if keys.is_empty() {
        problems.push(
            Origin::new(file, START),
            format!("snapshot `{}` needs `unique_key`", item.name),
        );
    }
    e.push(("unique_key", seq(keys.iter().map(|k| text(k)).collect())));
    if let Some((s, _)) = c.text("strategy") {
        e.push(("strategy", text(s)));
    }
    if let Some((s, _)) = c.text("updated_at") {
        e.push(("updated_at", text(s)));
    }
    if let Some(s) = c.get("check_cols") {
        e.push(("check_cols", json_node(&s.value)));
    }
    let invalidate = c
        .get("invalidate_hard_deletes")
        .and_then(|s| s.value.as_bool())
        .unwrap_or(false)
        || c.text("hard_deletes").map(|(s, _)| s) == Some("invalidate");
    if let Some((s, o)) = c.text("hard_deletes")
        && !["ignore", "invalidate"].contains(&s)
    {
        problems.push(
            o.clone(),
            format!("hard_deletes `{s}` is not supported by sluice (ignore or invalidate)"),
        );
    }
    if invalidate {
        e.push(("invalidate_hard_deletes", plain("true")));
    }
    e
}

/// The task reading source table `s.t`.
fn source_task(s: &str, t: &str) -> String {
    format!("{s}__{t}")
}

fn source_op(location: &str) -> &'static str {
    if location.ends_with(".parquet") {
        "read.parquet"
    } else if location.ends_with(".json") || location.ends_with(".ndjson") {
        "read.json"
    } else {
        "read.csv"
    }
}

/// Replaces ref marks: a dataset by its quoted name, an ephemeral model by its CTE, whose
/// definitions (and those they need) are put in front of the query.
fn resolve_refs(sql: &str, ephemeral: &BTreeMap<String, String>) -> String {
    let mut ctes: Vec<(String, String)> = Vec::new();
    let body = replace_marks(sql, ephemeral, &mut ctes, 0);
    if ctes.is_empty() {
        return body;
    }
    let defs: Vec<String> = ctes
        .iter()
        .map(|(n, q)| format!("__dbt__cte__{n} as (\n{q}\n)"))
        .collect();
    let defs = defs.join(",\n");
    // Into the query's own WITH, or as one.
    let trimmed = body.trim_start();
    let lead = body.len() - trimmed.len();
    if trimmed.len() >= 4
        && trimmed[..4].eq_ignore_ascii_case("with")
        && trimmed[4..].starts_with(|c: char| c.is_whitespace())
    {
        let rest = &trimmed[4..];
        let recursive = rest
            .trim_start()
            .to_ascii_lowercase()
            .starts_with("recursive ");
        if !recursive {
            return format!("{}with {defs},{rest}", &body[..lead]);
        }
    }
    format!("with {defs}\n{body}")
}

fn replace_marks(
    sql: &str,
    ephemeral: &BTreeMap<String, String>,
    ctes: &mut Vec<(String, String)>,
    depth: usize,
) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut rest = sql;
    let open = format!("{REF_MARK}ref:");
    while let Some(i) = rest.find(&open) {
        out.push_str(&rest[..i]);
        let after = &rest[i + open.len()..];
        let Some(end) = after.find(REF_MARK) else {
            out.push_str(&rest[i..]);
            return out;
        };
        let name = &after[..end];
        match ephemeral.get(name) {
            Some(q) if depth < 64 => {
                if !ctes.iter().any(|(n, _)| n == name) {
                    let inner = replace_marks(q, ephemeral, ctes, depth + 1);
                    ctes.push((name.to_string(), inner));
                }
                out.push_str(&format!("__dbt__cte__{name}"));
            }
            _ => out.push_str(&quote(name)),
        }
        rest = &after[end + REF_MARK.len_utf8()..];
    }
    out.push_str(rest);
    out
}

fn check_cycles(dir: &Path, items: &[Item], problems: &mut Problems) {
    let index: BTreeMap<&str, usize> = items
        .iter()
        .enumerate()
        .map(|(i, it)| (it.name.as_str(), i))
        .collect();
    // 0 unseen, 1 on the path, 2 done.
    let mut state = vec![0u8; items.len()];
    let mut reported = false;
    fn visit(
        i: usize,
        items: &[Item],
        index: &BTreeMap<&str, usize>,
        state: &mut [u8],
        path: &mut Vec<usize>,
    ) -> Option<Vec<usize>> {
        state[i] = 1;
        path.push(i);
        for r in &items[i].refs {
            let Some(&j) = index.get(r.as_str()) else {
                continue;
            };
            if state[j] == 1 {
                let from = path.iter().position(|&p| p == j).unwrap_or(0);
                let mut cycle = path[from..].to_vec();
                cycle.push(j);
                return Some(cycle);
            }
            if state[j] == 0
                && let Some(c) = visit(j, items, index, state, path)
            {
                return Some(c);
            }
        }
        path.pop();
        state[i] = 2;
        None
    }
    for i in 0..items.len() {
        if state[i] == 0 && !reported {
            let mut path = Vec::new();
            if let Some(cycle) = visit(i, items, &index, &mut state, &mut path) {
                reported = true;
                let names: Vec<&str> = cycle.iter().map(|&c| items[c].name.as_str()).collect();
                let first = &items[cycle[0]];
                let next = &items[cycle[1]].name;
                problems.push(
                    Origin::new(
                        &dir.join(&first.rel),
                        jinja::call_position(&first.source, "ref", next),
                    ),
                    format!(
                        "{} `{}`: ref('{next}') makes a cycle: {}",
                        first.kind.word(),
                        first.name,
                        names.join(" → ")
                    ),
                );
            }
        }
    }
}

/// `{% snapshot name %} … {% endsnapshot %}` blocks: each body with the rest of the file
/// blanked out, so positions stay those of the file.
fn snapshot_blocks(source: &str, file: &Path, problems: &mut Problems) -> Vec<(String, String)> {
    let blocks = jinja::scan_blocks(source);
    let mut out = Vec::new();
    let mut open: Option<(String, usize)> = None;
    for (word, name, at) in blocks {
        match word.as_str() {
            "snapshot" => {
                let body_start = source[at..].find("%}").map_or(source.len(), |e| at + e + 2);
                open = Some((name, body_start));
            }
            "endsnapshot" => {
                if let Some((name, start)) = open.take() {
                    let blank: String = source
                        .char_indices()
                        .map(|(i, c)| {
                            if (start..at).contains(&i) || c == '\n' {
                                c
                            } else {
                                ' '
                            }
                        })
                        .collect();
                    out.push((name, blank));
                }
            }
            _ => {}
        }
    }
    if let Some((name, start)) = open {
        problems.push(
            Origin::new(file, jinja::position(source, start)),
            format!("snapshot `{name}` has no `{{% endsnapshot %}}`"),
        );
    }
    out
}

// Building the YAML tree.

fn text(s: &str) -> Node {
    Node::string(s, START)
}

/// SQL as a string node: BigQuery's `safe_cast(` made DataFusion's `try_cast(`, and `${`
/// written `$${` so the pipeline compiler leaves it as is.
fn sql_text(s: &str) -> Node {
    Node::string(safe_cast_to_try_cast(s).replace("${", "$${"), START)
}

/// `safe_cast(` (any case, not inside a longer name) as `try_cast(`.
fn safe_cast_to_try_cast(sql: &str) -> String {
    let lower = sql.to_ascii_lowercase();
    let mut out = String::with_capacity(sql.len());
    let mut last = 0;
    for (i, _) in lower.match_indices("safe_cast(") {
        let before = lower[..i].chars().next_back();
        if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.') {
            continue;
        }
        out.push_str(&sql[last..i]);
        out.push_str("try_cast(");
        last = i + "safe_cast(".len();
    }
    out.push_str(&sql[last..]);
    out
}

fn plain(s: &str) -> Node {
    Node {
        kind: NodeKind::Scalar {
            text: s.into(),
            plain: true,
        },
        mark: START,
    }
}

fn map(entries: Vec<(&str, Node)>) -> Node {
    Node {
        kind: NodeKind::Map(entries.into_iter().map(|(k, v)| (text(k), v)).collect()),
        mark: START,
    }
}

fn seq(items: Vec<Node>) -> Node {
    Node {
        kind: NodeKind::Seq(items),
        mark: START,
    }
}

fn json_node(v: &serde_json::Value) -> Node {
    match v {
        serde_json::Value::String(s) => text(s),
        serde_json::Value::Array(items) => seq(items.iter().map(json_node).collect()),
        serde_json::Value::Object(m) => Node {
            kind: NodeKind::Map(m.iter().map(|(k, v)| (text(k), json_node(v))).collect()),
            mark: START,
        },
        serde_json::Value::Null => plain("null"),
        other => plain(&other.to_string()),
    }
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn safe_cast_becomes_try_cast() {
        assert_eq!(
            safe_cast_to_try_cast("select SAFE_CAST(x as int), my_safe_cast(y) from t"),
            "select try_cast(x as int), my_safe_cast(y) from t"
        );
    }

    #[test]
    fn ephemeral_models_join_the_query_s_own_with() {
        let eph = BTreeMap::from([("e".to_string(), "select 1 as id".to_string())]);
        let m = |n: &str| format!("{REF_MARK}ref:{n}{REF_MARK}");
        assert_eq!(
            resolve_refs(&format!("select * from {}", m("e")), &eph),
            "with __dbt__cte__e as (\nselect 1 as id\n)\nselect * from __dbt__cte__e"
        );
        assert_eq!(
            resolve_refs(
                &format!(
                    "with x as (select * from {}) select * from x join {} using (id)",
                    m("e"),
                    m("t")
                ),
                &eph
            ),
            "with __dbt__cte__e as (\nselect 1 as id\n), x as (select * from __dbt__cte__e) select * from x join \"t\" using (id)"
        );
    }
}
