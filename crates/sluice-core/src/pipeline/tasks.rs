//! The tasks of a pipeline file: each task's kind, settings and environment, then the
//! dependencies between them (`after:` and the tables each reads) and their cycles.

use std::collections::BTreeMap;

use super::compile::{Compiler, Defaults, valid_env_name, valid_name};
use super::{ColumnDoc, DEFAULT_RETRY_DELAY, Docs, EnvVar, TASK_KEYS, Task, TaskKind};
use crate::checks::Check;
use crate::dag;
use crate::de::DeError;
use crate::diag::{Diagnostic, did_you_mean};
use crate::interp::{Interpolated, Scope, is_secret_name};
use crate::yaml::{Mark, Node, NodeKind};

/// One task's source: where it is, its entries, and what interpolating its values needs.
struct Source<'n, 's> {
    /// `tasks.NAME`, the start of every path in its messages.
    prefix: String,
    /// Where the task's name is.
    mark: Mark,
    body: &'n Node,
    entries: Vec<&'n (Node, Node)>,
    scope: Scope<'s>,
    /// The parameters an API caller set.
    api_set: Vec<String>,
    /// `allow_local: true`: API parameters may point the task at this machine.
    allow_local: bool,
}

impl<'n> Source<'n, '_> {
    fn get(&self, key: &str) -> Option<&'n Node> {
        self.entries
            .iter()
            .find(|(k, _)| k.as_text() == Some(key))
            .map(|(_, v)| v)
    }

    fn path(&self, key: &str) -> String {
        format!("{}.{key}", self.prefix)
    }

    /// The first parameter of `params` that an API caller set.
    fn set_through_api<'p>(&self, params: &'p [String]) -> Option<&'p String> {
        params.iter().find(|p| self.api_set.contains(p))
    }

    /// Why the value `i` of `key`, if it holds a parameter an API caller set, may not be
    /// used there.
    fn api_misuse(&self, key: &str, mark: Mark, i: &Interpolated) -> Option<Diagnostic> {
        let p = self.set_through_api(&i.params)?;
        let env_name = key.ends_with("_env");
        let why = if env_name {
            format!("`{key}` names an environment variable of the server")
        } else if self.allow_local {
            return None;
        } else {
            crate::address::local_target(key, &i.text)?
        };
        Some(
            Diagnostic::new(
                mark,
                self.path(key),
                format!("parameter `{p}`, set through the API, cannot be used here: {why}"),
            )
            .with_hint(if env_name {
                "API callers never choose which environment variable a task reads"
            } else {
                "the pipeline's author may allow it with `allow_local: true` on the task"
            }),
        )
    }
}

/// What a task's `op:` or `run:` compiles to.
struct Kind {
    kind: TaskKind,
    /// The tables the op reads.
    reads: Vec<String>,
    produces_dataset: bool,
    /// The parameters a command names, passed as environment variables.
    param_env: Vec<String>,
}

impl Compiler<'_, '_> {
    /// Every task, with its dependencies resolved and checked for cycles.
    pub(super) fn tasks(
        &mut self,
        node: &Node,
        params: &BTreeMap<String, String>,
        defaults: &Defaults,
    ) -> Vec<Task> {
        let Some(entries) = self.map(node, "tasks", "task names to tasks") else {
            return Vec::new();
        };
        if entries.is_empty() {
            self.err(node.mark, "tasks", "a pipeline needs at least one task");
            return Vec::new();
        }
        let mut tasks = Vec::new();
        let mut afters: Vec<Vec<&Node>> = Vec::new();
        // Every declared name, valid task or not: a task with its own error is not also
        // reported as "unknown" wherever it is named in `after:`.
        let declared: Vec<&str> = entries.iter().filter_map(|(k, _)| k.as_text()).collect();
        for (k, body) in &entries {
            let name = k.as_text().unwrap_or_default().to_string();
            if !valid_name(&name) {
                self.push(
                    Diagnostic::new(
                        k.mark,
                        format!("tasks.{name}"),
                        format!("invalid task name `{name}`"),
                    )
                    .with_hint("use lower-case letters, digits and `_`, starting with a letter"),
                );
            }
            if let Some((task, after)) = self.task(&name, k.mark, body, params, defaults) {
                tasks.push(task);
                afters.push(after);
            }
        }
        self.resolve_after(&mut tasks, afters, &declared);
        self.resolve_reads(&mut tasks, &declared);
        self.check_cycles(&tasks);
        tasks
    }

    /// The `after:` references, now that every task is known.
    fn resolve_after(&mut self, tasks: &mut [Task], afters: Vec<Vec<&Node>>, declared: &[&str]) {
        let names: Vec<String> = tasks.iter().map(|t| t.name.clone()).collect();
        for (i, after) in afters.into_iter().enumerate() {
            for item in after {
                let path = format!("tasks.{}.after", names[i]);
                let Some(dep) = self.string(item, &path) else {
                    continue;
                };
                match names.iter().position(|n| *n == dep) {
                    Some(j) if j == i => self.err(
                        item.mark,
                        &path,
                        format!("task `{dep}` cannot run after itself"),
                    ),
                    Some(j) => {
                        if !tasks[i].deps.contains(&j) {
                            tasks[i].deps.push(j);
                        }
                    }
                    None if declared.contains(&dep.as_str()) => {}
                    None => {
                        let hint = did_you_mean(&dep, declared.iter().copied());
                        self.push(
                            Diagnostic::new(item.mark, path, format!("unknown task `{dep}`"))
                                .with_hint_opt(hint),
                        );
                    }
                }
            }
        }
    }

    /// Tables a task reads are dependencies too.
    fn resolve_reads(&mut self, tasks: &mut [Task], declared: &[&str]) {
        let names: Vec<String> = tasks.iter().map(|t| t.name.clone()).collect();
        let table_names: Vec<String> = tasks
            .iter()
            .filter(|t| t.produces_dataset)
            .map(|t| t.name.clone())
            .collect();
        for i in 0..tasks.len() {
            let tables: Vec<&str> = table_names
                .iter()
                .map(String::as_str)
                .filter(|t| *t != names[i])
                .collect();
            let path = format!("tasks.{}", names[i]);
            let mark = tasks[i].mark;
            for table in tasks[i].reads.clone() {
                let problem = match names.iter().position(|n| *n == table) {
                    Some(j) if j == i => Diagnostic::new(
                        mark,
                        &path,
                        format!("task `{table}` cannot read its own dataset"),
                    ),
                    Some(j) if !tasks[j].produces_dataset => Diagnostic::new(
                        mark,
                        &path,
                        format!("task `{table}` produces no dataset to read"),
                    )
                    .with_hint(format!("tables: {}", tables.join(", "))),
                    Some(j) => {
                        if !tasks[i].deps.contains(&j) {
                            tasks[i].deps.push(j);
                        }
                        continue;
                    }
                    None if declared.contains(&table.as_str()) => continue,
                    None => {
                        let list = if tables.is_empty() {
                            "none".to_string()
                        } else {
                            tables.join(", ")
                        };
                        let hint = match did_you_mean(&table, tables.iter().copied()) {
                            Some(h) => format!("{h} tables: {list}"),
                            None => format!("tables: {list}"),
                        };
                        Diagnostic::new(mark, &path, format!("unknown table `{table}`"))
                            .with_hint(hint)
                    }
                };
                self.push(problem);
            }
        }
    }

    fn check_cycles(&mut self, tasks: &[Task]) {
        let deps: Vec<Vec<usize>> = tasks.iter().map(|t| t.deps.clone()).collect();
        if let Some(cycle) = dag::find_cycle(&deps) {
            let path: Vec<&str> = cycle.iter().map(|&i| tasks[i].name.as_str()).collect();
            let first = &tasks[cycle[0]];
            self.push(
                Diagnostic::new(
                    first.mark,
                    format!("tasks.{}", first.name),
                    format!("dependency cycle: {}", path.join(" → ")),
                )
                .with_hint("remove one of these `after:` links"),
            );
        }
    }

    /// One task and the nodes of its `after:` list (resolved once every task is known).
    fn task<'n>(
        &mut self,
        name: &str,
        mark: Mark,
        body: &'n Node,
        params: &BTreeMap<String, String>,
        defaults: &Defaults,
    ) -> Option<(Task, Vec<&'n Node>)> {
        let prefix = format!("tasks.{name}");
        let entries = self.map(body, &prefix, "task keys")?;
        let api_set = if self.opts.api_params {
            self.opts.params.iter().map(|(k, _)| k.clone()).collect()
        } else {
            Vec::new()
        };
        let mut src = Source {
            prefix,
            mark,
            body,
            entries,
            scope: Scope {
                params,
                env: self.opts.env,
                shell: false,
            },
            api_set,
            allow_local: false,
        };
        src.allow_local = src
            .get("allow_local")
            .and_then(|v| self.boolean(v, &src.path("allow_local")))
            .unwrap_or(false);
        let mut secrets = Vec::new();
        let kind = self.task_kind(&src, &mut secrets);
        let after = src
            .get("after")
            .map(|n| self.after(n, &src.path("after")))
            .unwrap_or_default();
        let retries = match src.get("retries") {
            Some(v) => self.retries(v, &src.path("retries")),
            None => defaults.retries,
        };
        let retry_delay = match src.get("retry_delay") {
            Some(v) => self.duration(v, &src.path("retry_delay")),
            None => defaults.retry_delay,
        };
        let timeout = match src.get("timeout") {
            Some(v) => self.timeout(v, &src.path("timeout")),
            None => defaults.timeout,
        };
        let cache = src
            .get("cache")
            .and_then(|v| self.boolean(v, &src.path("cache")));
        let description = src
            .get("description")
            .and_then(|v| self.string(v, &src.path("description")));
        let mut env = match src.get("env") {
            Some(node) => self.task_env(&src, node, &mut secrets),
            None => Vec::new(),
        };
        let produces_dataset = kind.as_ref().is_some_and(|k| k.produces_dataset);
        let checks = self.checks(&src, produces_dataset, kind.is_some());
        let kind = kind?;
        // Each parameter a command names is passed as `SLUICE_PARAM_<NAME>`.
        for p in &kind.param_env {
            env.push(EnvVar {
                name: crate::interp::param_env_name(p),
                value: params.get(p).cloned().unwrap_or_default(),
                secret: self.specs.get(p).is_some_and(|s| s.secret),
            });
        }
        let docs = self.docs(&src);
        let pool = src.get("pool").and_then(|v| {
            let key = src.path("pool");
            let name = self.string(v, &key)?;
            self.check_name(&name, v.mark, &key, "pool");
            Some(name)
        });
        let alerts = self.alerts(&|k| src.get(k), &format!("{}.", src.prefix));
        let task = Task {
            name: name.to_string(),
            description,
            docs,
            kind: kind.kind,
            produces_dataset,
            checks,
            reads: kind.reads,
            deps: Vec::new(),
            retries: retries.unwrap_or(0),
            retry_delay: retry_delay.unwrap_or(DEFAULT_RETRY_DELAY),
            timeout,
            env,
            cache: cache.unwrap_or(true),
            secrets,
            allow_local: src.allow_local,
            pool,
            mark,
            source: None,
            alerts,
        };
        Some((task, after))
    }

    /// The task's `owner:` (one or a list), `tags:` and `docs:` (column → description, or
    /// `{description, tags, pii}`).
    fn docs(&mut self, src: &Source<'_, '_>) -> Docs {
        let mut docs = Docs::default();
        if let Some(v) = src.get("owner") {
            docs.owners = self.names(v, &src.path("owner"), "owner");
        }
        if let Some(v) = src.get("tags") {
            docs.tags = self.names(v, &src.path("tags"), "tag");
        }
        let Some(node) = src.get("docs") else {
            return docs;
        };
        let path = src.path("docs");
        let Some(entries) = self.map(node, &path, "column names") else {
            return docs;
        };
        for (k, v) in entries {
            let Some(column) = k.as_text() else { continue };
            let key = format!("{path}.{column}");
            let doc = if v.as_map().is_some() {
                match crate::from_node::<ColumnDoc>(v) {
                    Ok(mut d) => {
                        for t in &d.tags {
                            self.check_name(t, v.mark, &key, "tag");
                        }
                        d.tags.dedup();
                        d
                    }
                    Err(e) => {
                        let mut d = Diagnostic::new(
                            e.mark.unwrap_or(v.mark),
                            format!("{key}.{}", e.path.join(".")).trim_end_matches('.'),
                            e.message,
                        );
                        if let Some(h) = e.hint {
                            d = d.with_hint(h);
                        }
                        self.push(d);
                        continue;
                    }
                }
            } else {
                match self.string(v, &key) {
                    Some(text) => ColumnDoc {
                        description: Some(text),
                        ..ColumnDoc::default()
                    },
                    None => continue,
                }
            };
            docs.columns.insert(column.to_string(), doc);
        }
        docs
    }

    /// A name or a list of names (owners, tags).
    fn names(&mut self, node: &Node, key: &str, what: &str) -> Vec<String> {
        let items: Vec<&Node> = match node.as_seq() {
            Some(items) => items.iter().collect(),
            None => vec![node],
        };
        let mut out: Vec<String> = Vec::new();
        for item in items {
            if let Some(name) = self.string(item, key) {
                self.check_name(&name, item.mark, key, what);
                if !out.contains(&name) {
                    out.push(name);
                }
            }
        }
        out
    }

    /// Owners and tags become parts of catalog identifiers (`urn:li:tag:NAME`): no spaces,
    /// commas or parentheses.
    fn check_name(&mut self, name: &str, mark: Mark, key: &str, what: &str) {
        let bad = name.is_empty()
            || name
                .chars()
                .any(|c| c.is_whitespace() || matches!(c, ',' | '(' | ')'));
        if bad {
            self.push(
                Diagnostic::new(mark, key, format!("invalid {what} `{name}`")).with_hint(
                    "use letters, digits and `_.-@:` (no spaces, commas or parentheses)",
                ),
            );
        }
    }

    /// What the task runs: `op:` with its config (the keys that are not task keys) or `run:`.
    fn task_kind(&mut self, src: &Source<'_, '_>, secrets: &mut Vec<String>) -> Option<Kind> {
        let extra: Vec<(Node, Node)> = src
            .entries
            .iter()
            .filter(|(k, _)| !TASK_KEYS.contains(&k.as_text().unwrap_or_default()))
            .map(|e| (*e).clone())
            .collect();
        let mark = src.mark;
        match (src.get("op"), src.get("run")) {
            (Some(_), Some(_)) => {
                self.push(
                    Diagnostic::new(
                        mark,
                        &src.prefix,
                        "a task has either `op:` or `run:`, not both",
                    )
                    .with_hint("split it into two tasks, one after the other"),
                );
                None
            }
            (None, None) => {
                self.push(Diagnostic::new(
                    mark,
                    &src.prefix,
                    "a task needs `op:` (a built-in operator) or `run:` (a shell command)",
                ));
                self.unknown_task_keys(src, &extra);
                None
            }
            (None, Some(run)) => {
                self.unknown_task_keys(src, &extra);
                let path = src.path("run");
                let shell = Scope {
                    shell: true,
                    ..src.scope
                };
                let command = self.string(run, &path)?;
                let i = self.interp(&shell, &command, run.mark, &path, secrets)?;
                Some(Kind {
                    kind: TaskKind::Run { command: i.text },
                    reads: Vec::new(),
                    produces_dataset: false,
                    param_env: i.params,
                })
            }
            (Some(op), None) => self.op_kind(src, op, extra, secrets),
        }
    }

    fn unknown_task_keys(&mut self, src: &Source<'_, '_>, extra: &[(Node, Node)]) {
        for (k, _) in extra {
            let path = src.path(k.as_text().unwrap_or_default());
            self.unknown_key(k, &path, TASK_KEYS);
        }
    }

    /// An `op:` task: its config interpolated, then checked by the op catalog.
    fn op_kind(
        &mut self,
        src: &Source<'_, '_>,
        op: &Node,
        extra: Vec<(Node, Node)>,
        secrets: &mut Vec<String>,
    ) -> Option<Kind> {
        let path = src.path("op");
        let op_name = self.string(op, &path)?;
        let mut config = Node {
            kind: NodeKind::Map(extra),
            mark: src.body.mark,
        };
        let interpolated = self.interpolate_config(src, &mut config, secrets);
        match self.opts.catalog.check(&op_name, &config) {
            None => {
                let names = self.opts.catalog.op_names();
                let hint = did_you_mean(&op_name, names.iter().copied())
                    .unwrap_or_else(|| format!("built-in ops: {}", names.join(", ")));
                self.push(
                    Diagnostic::new(op.mark, path, format!("unknown op `{op_name}`"))
                        .with_hint(hint),
                );
                None
            }
            Some(Err(e)) => {
                self.config_error(src, e);
                None
            }
            Some(Ok(_)) if !interpolated => None,
            Some(Ok(info)) => Some(Kind {
                kind: TaskKind::Op {
                    op: op_name,
                    config,
                },
                reads: info.reads,
                produces_dataset: info.produces_dataset,
                param_env: Vec::new(),
            }),
        }
    }

    /// Interpolates every string of an op's config; false when one could not be, or holds a
    /// parameter set through the API where it may not go.
    fn interpolate_config(
        &mut self,
        src: &Source<'_, '_>,
        config: &mut Node,
        secrets: &mut Vec<String>,
    ) -> bool {
        let mut ok = true;
        let _ = config.map_strings(&mut |text, m, key| -> Result<String, ()> {
            let Some(i) = self.interp(&src.scope, text, m, &src.prefix, secrets) else {
                ok = false;
                return Ok(text.to_string());
            };
            if let Some(d) = src.api_misuse(key.unwrap_or_default(), m, &i) {
                self.push(d);
                ok = false;
            }
            Ok(i.text)
        });
        ok
    }

    /// An op config the catalog refused; a key that is a misspelt task key says so.
    fn config_error(&mut self, src: &Source<'_, '_>, e: DeError) {
        let unknown = e.unknown_key.clone();
        let mut d = e.into_diagnostic(&src.prefix, src.body.mark);
        if let Some(k) = unknown
            && let Some(h) = did_you_mean(&k, TASK_KEYS.iter().copied())
            && d.hint
                .as_deref()
                .is_none_or(|h| !h.starts_with("did you mean"))
        {
            d.hint = Some(h);
        }
        self.push(d);
    }

    /// `after:`: one task name or a list of them.
    fn after<'n>(&mut self, n: &'n Node, path: &str) -> Vec<&'n Node> {
        match n.as_seq() {
            Some(items) => items.iter().collect(),
            None if n.scalar().is_some() && !n.is_null() => vec![n],
            None => {
                self.err(
                    n.mark,
                    path,
                    format!(
                        "expected a task name or a list of task names, found {}",
                        n.describe()
                    ),
                );
                Vec::new()
            }
        }
    }

    /// `env:`, variable names to values; a value that read a secret is secret.
    fn task_env(
        &mut self,
        src: &Source<'_, '_>,
        node: &Node,
        secrets: &mut Vec<String>,
    ) -> Vec<EnvVar> {
        let env_path = src.path("env");
        let mut env = Vec::new();
        for (k, v) in self
            .map(node, &env_path, "variable names to values")
            .unwrap_or_default()
        {
            let var = k.as_text().unwrap_or_default().to_string();
            let path = format!("{env_path}.{var}");
            if !valid_env_name(&var) {
                self.err(
                    k.mark,
                    &path,
                    format!("invalid environment variable name `{var}`"),
                );
                continue;
            }
            let raw = if v.is_null() {
                String::new()
            } else {
                match self.string(v, &path) {
                    Some(raw) => raw,
                    None => continue,
                }
            };
            let before = secrets.len();
            let Some(i) = self.interp(&src.scope, &raw, v.mark, &path, secrets) else {
                continue;
            };
            if src.set_through_api(&i.params).is_some() {
                // A value sent by an API caller reaches `run:` commands only through
                // `${params.…}` in the command, never as another variable.
                self.push(
                    Diagnostic::new(v.mark, &path, "a parameter set through the API cannot set an environment variable")
                        .with_hint("name the parameter in the command instead: `${params.NAME}` is passed as `$SLUICE_PARAM_NAME`"),
                );
                continue;
            }
            let value = i.text;
            let secret = is_secret_name(&var) || secrets.len() > before;
            if secret && !value.is_empty() && secrets.len() == before {
                secrets.push(value.clone());
            }
            env.push(EnvVar {
                name: var,
                value,
                secret,
            });
        }
        env
    }

    /// `checks:`, which need a task that produces a dataset.
    fn checks(
        &mut self,
        src: &Source<'_, '_>,
        produces_dataset: bool,
        kind_ok: bool,
    ) -> Vec<Check> {
        let Some(node) = src.get("checks") else {
            return Vec::new();
        };
        let path = src.path("checks");
        let checks: Vec<Check> = match crate::de::from_node(node) {
            Ok(c) => c,
            Err(e) => {
                self.push(e.into_diagnostic(&path, node.mark));
                return Vec::new();
            }
        };
        if !checks.is_empty() && !produces_dataset && kind_ok {
            self.push(
                Diagnostic::new(
                    node.mark,
                    path,
                    "checks need a task that produces a dataset",
                )
                .with_hint("put them on the task that writes the data (read.csv, sql…)"),
            );
        }
        checks
    }
}
