//! The compiler of a pipeline file: one walk over the YAML tree that collects every problem
//! as a [`Diagnostic`] and builds the [`Pipeline`] when there is none. Tasks are compiled in
//! [`super::tasks`].

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use super::{
    CatchUp, Compression, DEFAULT_RETENTION, DEFAULTS_KEYS, LoadOptions, PARAM_KEYS, PIPELINE_KEYS,
    ParamSpec, ParamType, Pipeline, Task,
};
use crate::diag::{Diagnostic, did_you_mean};
use crate::duration::parse_duration;
use crate::interp::{Interpolated, Scope, interpolate, is_secret_name};
use crate::yaml::{Mark, Node, NodeKind, Scalar};

/// Compiles the parsed file: the pipeline when it is valid, and every problem found.
pub(super) fn compile(
    root: &Node,
    file: &Path,
    opts: &LoadOptions<'_>,
) -> (Option<Pipeline>, Vec<Diagnostic>) {
    let mut c = Compiler {
        diags: Vec::new(),
        opts,
        specs: BTreeMap::new(),
    };
    let pipeline = c.pipeline(root, file);
    (pipeline, c.diags)
}

pub(super) struct Compiler<'a, 'b> {
    pub(super) diags: Vec<Diagnostic>,
    pub(super) opts: &'a LoadOptions<'b>,
    /// The declared parameters, once read.
    pub(super) specs: BTreeMap<String, ParamSpec>,
}

/// The task settings under `defaults:`.
#[derive(Default)]
pub(super) struct Defaults {
    pub(super) retries: Option<u32>,
    pub(super) retry_delay: Option<Duration>,
    pub(super) timeout: Option<Duration>,
}

/// Whether `s` is a valid pipeline or task name: `[a-z][a-z0-9_]*`.
pub fn valid_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some('a'..='z'))
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

pub(super) fn valid_env_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

impl Compiler<'_, '_> {
    pub(super) fn err(&mut self, mark: Mark, key: &str, message: impl Into<String>) {
        self.diags.push(Diagnostic::new(mark, key, message));
    }

    pub(super) fn push(&mut self, d: Diagnostic) {
        self.diags.push(d);
    }

    /// Entries of a mapping node, reporting duplicates; `None` (and an error) if not a mapping.
    pub(super) fn map<'n>(
        &mut self,
        node: &'n Node,
        key: &str,
        what: &str,
    ) -> Option<Vec<&'n (Node, Node)>> {
        let Some(entries) = node.as_map() else {
            if node.is_null() {
                return Some(Vec::new());
            }
            self.err(
                node.mark,
                key,
                format!("expected a mapping of {what}, found {}", node.describe()),
            );
            return None;
        };
        let mut seen: HashMap<&str, Mark> = HashMap::new();
        let mut out = Vec::with_capacity(entries.len());
        for entry in entries {
            let Some(k) = entry.0.as_text() else {
                self.err(entry.0.mark, key, "keys must be plain names");
                continue;
            };
            if let Some(first) = seen.get(k) {
                let message = if key == "tasks" {
                    format!("duplicate task name `{k}` (first defined at {first})")
                } else {
                    format!("duplicate key `{k}` (first set at {first})")
                };
                let path = if key.is_empty() {
                    k.to_string()
                } else {
                    format!("{key}.{k}")
                };
                self.err(entry.0.mark, &path, message);
                continue;
            }
            seen.insert(k, entry.0.mark);
            out.push(entry);
        }
        Some(out)
    }

    pub(super) fn string(&mut self, node: &Node, key: &str) -> Option<String> {
        match &node.kind {
            NodeKind::Scalar { text, .. } if !node.is_null() => Some(text.clone()),
            _ => {
                self.err(
                    node.mark,
                    key,
                    format!("expected a string, found {}", node.describe()),
                );
                None
            }
        }
    }

    /// A dataset name (`pipeline.task`) or a list of them.
    pub(super) fn dataset_names(&mut self, node: &Node, key: &str) -> Vec<String> {
        let items: Vec<&Node> = match node.as_seq() {
            Some(items) => items.iter().collect(),
            None => vec![node],
        };
        let mut out = Vec::new();
        for item in items {
            let Some(name) = self.string(item, key) else {
                continue;
            };
            let valid = name.split_once('.').is_some_and(|(p, t)| {
                !p.is_empty() && !t.is_empty() && !t.contains('.') && !name.contains(' ')
            });
            if valid {
                if !out.contains(&name) {
                    out.push(name);
                }
            } else {
                self.push(
                    Diagnostic::new(item.mark, key, format!("`{name}` is not a dataset name"))
                        .with_hint("name a dataset as `pipeline.task`, e.g. `legi.parts`"),
                );
            }
        }
        out
    }

    pub(super) fn uint(&mut self, node: &Node, key: &str) -> Option<u64> {
        match node.scalar() {
            Some(Scalar::Int(i)) if i >= 0 => Some(i as u64),
            _ => {
                self.err(
                    node.mark,
                    key,
                    format!("expected a non-negative integer, found {}", node.describe()),
                );
                None
            }
        }
    }

    pub(super) fn retries(&mut self, node: &Node, key: &str) -> Option<u32> {
        let n = self.uint(node, key)?;
        match u32::try_from(n) {
            Ok(n) if n <= 1000 => Some(n),
            _ => {
                self.err(
                    node.mark,
                    key,
                    format!("{n} retries is more than the 1000 allowed"),
                );
                None
            }
        }
    }

    pub(super) fn timeout(&mut self, node: &Node, key: &str) -> Option<Duration> {
        let d = self.duration(node, key)?;
        if d.is_zero() {
            self.push(
                Diagnostic::new(
                    node.mark,
                    key,
                    "a timeout of 0 would stop every attempt at once",
                )
                .with_hint("remove `timeout` for no limit"),
            );
            return None;
        }
        Some(d)
    }

    pub(super) fn boolean(&mut self, node: &Node, key: &str) -> Option<bool> {
        match node.scalar() {
            Some(Scalar::Bool(b)) => Some(b),
            _ => {
                self.err(
                    node.mark,
                    key,
                    format!("expected true or false, found {}", node.describe()),
                );
                None
            }
        }
    }

    pub(super) fn duration(&mut self, node: &Node, key: &str) -> Option<Duration> {
        let text = self.string(node, key)?;
        match parse_duration(&text) {
            Ok(d) => Some(d),
            Err(message) => {
                self.push(
                    Diagnostic::new(node.mark, key, message)
                        .with_hint("durations look like `500ms`, `30s`, `10m`, `2h`"),
                );
                None
            }
        }
    }

    /// Interpolates `text`, moving the secret values it read into `secrets`; an error is
    /// reported at `mark` and gives `None`.
    pub(super) fn interp(
        &mut self,
        scope: &Scope<'_>,
        text: &str,
        mark: Mark,
        path: &str,
        secrets: &mut Vec<String>,
    ) -> Option<Interpolated> {
        match interpolate(text, scope) {
            Ok(mut i) => {
                secrets.append(&mut i.secrets);
                Some(i)
            }
            Err(e) => {
                self.push(Diagnostic::new(mark, path, e.message).with_hint_opt(e.hint));
                None
            }
        }
    }

    pub(super) fn unknown_key(&mut self, k: &Node, path: &str, valid: &[&str]) {
        let name = k.as_text().unwrap_or_default();
        let hint = did_you_mean(name, valid.iter().copied()).unwrap_or_else(|| {
            let list: Vec<String> = valid.iter().map(|v| format!("`{v}`")).collect();
            format!("valid keys: {}", list.join(", "))
        });
        self.push(Diagnostic::new(k.mark, path, format!("unknown key `{name}`")).with_hint(hint));
    }

    fn pipeline(&mut self, root: &Node, file: &Path) -> Option<Pipeline> {
        let entries = self.top_level(root)?;
        let get = |name: &str| {
            entries
                .iter()
                .find(|(k, _)| k.as_text() == Some(name))
                .map(|(_, v)| v)
        };
        let name = match get("name") {
            Some(v) => self.pipeline_name(v),
            None => {
                self.err(root.mark, "name", "missing required key `name`");
                None
            }
        };
        let description = get("description").and_then(|v| self.string(v, "description"));
        let schedule = get("schedule").and_then(|v| self.schedule(v));
        let timezone = get("timezone").and_then(|v| self.timezone(v));
        let catchup = get("catchup").and_then(|v| {
            let names = &CatchUp::NAMES[..];
            self.choice(v, "catchup", "catch-up policy", names, CatchUp::from_name)
        });
        let max_active_runs =
            get("max_active_runs").and_then(|v| self.positive(v, "max_active_runs", ""));
        let alerts = self.alerts(&|k| get(k), "");
        let on_new_version = get("on_new_version")
            .map(|v| self.dataset_names(v, "on_new_version"))
            .unwrap_or_default();
        let max_parallel = get("max_parallel").and_then(|v| self.positive(v, "max_parallel", ""));
        let mut secret_params = BTreeSet::new();
        let params = self.params(get("params"), root.mark, &mut secret_params);
        let env_passthrough = get("env_passthrough")
            .map(|v| self.env_passthrough(v))
            .unwrap_or_default();
        let retention = get("retention")
            .and_then(|v| self.positive(v, "retention", " (the latest version is always kept)"));
        let compression = get("compression").and_then(|v| {
            let names = &Compression::NAMES[..];
            self.choice(
                v,
                "compression",
                "compression",
                names,
                Compression::from_name,
            )
        });
        let defaults = get("defaults")
            .map(|v| self.defaults(v))
            .unwrap_or_default();
        let mut tasks = match get("tasks") {
            Some(v) => self.tasks(v, &params, &defaults),
            None => {
                self.err(root.mark, "tasks", "missing required key `tasks`");
                Vec::new()
            }
        };
        mask_secret_params(&mut tasks, &secret_params, &params);
        Some(Pipeline {
            name: name?,
            description,
            schedule,
            timezone,
            catchup: catchup.unwrap_or_default(),
            max_active_runs: max_active_runs.unwrap_or(1),
            on_new_version,
            alerts,
            params,
            param_specs: std::mem::take(&mut self.specs),
            env_passthrough,
            secret_params,
            max_parallel,
            retention: retention.unwrap_or(DEFAULT_RETENTION),
            compression: compression.unwrap_or_default(),
            tasks,
            file: file.to_path_buf(),
            dir: tasks_dir(file),
        })
    }

    /// `on_failure`, `on_success` and `on_retry` (`{webhook_env: NAME}`), found by `get`;
    /// `prefix` is the key path before them (`tasks.load.`).
    pub(super) fn alerts<'n>(
        &mut self,
        get: &dyn Fn(&str) -> Option<&'n Node>,
        prefix: &str,
    ) -> super::Alerts {
        let mut one = |key: &str| -> Option<super::Notify> {
            let v = get(key)?;
            let path = format!("{prefix}{key}");
            match crate::from_node::<super::Notify>(v) {
                Ok(n) if valid_env_name(&n.webhook_env) => Some(n),
                Ok(n) => {
                    self.err(
                        v.mark,
                        &format!("{path}.webhook_env"),
                        format!("invalid environment variable name `{}`", n.webhook_env),
                    );
                    None
                }
                Err(e) => {
                    let d = e.into_diagnostic(&path, v.mark);
                    self.push(d.with_hint("write `{ webhook_env: SLACK_WEBHOOK_URL }`: the variable holds the webhook's URL"));
                    None
                }
            }
        };
        super::Alerts {
            on_failure: one("on_failure"),
            on_success: one("on_success"),
            on_retry: one("on_retry"),
        }
    }

    /// The entries of the file's top mapping, each unknown key reported.
    fn top_level<'n>(&mut self, root: &'n Node) -> Option<Vec<&'n (Node, Node)>> {
        if root.as_map().is_none() {
            self.err(
                root.mark,
                "",
                format!(
                    "a pipeline file must be a mapping with `name` and `tasks`, found {}",
                    root.describe()
                ),
            );
            return None;
        }
        let entries = self.map(root, "", "pipeline keys")?;
        for (k, _) in &entries {
            if !PIPELINE_KEYS.contains(&k.as_text().unwrap_or_default()) {
                let path = k.as_text().unwrap_or_default().to_string();
                self.unknown_key(k, &path, PIPELINE_KEYS);
            }
        }
        Some(entries)
    }

    fn pipeline_name(&mut self, v: &Node) -> Option<String> {
        let n = self.string(v, "name")?;
        if valid_name(&n) {
            return Some(n);
        }
        self.push(
            Diagnostic::new(v.mark, "name", format!("invalid pipeline name `{n}`"))
                .with_hint("use lower-case letters, digits and `_`, starting with a letter"),
        );
        None
    }

    /// The environment pipelines are loaded for: `SLUICE_ENV` (the CLI's `--env`), else
    /// [`super::DEFAULT_ENVIRONMENT`].
    fn environment(&self) -> String {
        (self.opts.env)(super::ENVIRONMENT_VAR)
            .filter(|e| !e.trim().is_empty())
            .unwrap_or_else(|| super::DEFAULT_ENVIRONMENT.to_string())
    }

    /// `schedule: "0 6 * * *"`, or one per environment (`{dev: null, prod: "0 6 * * *"}`: an
    /// environment missing or null has no schedule).
    fn schedule(&mut self, v: &Node) -> Option<String> {
        if let Some(entries) = v.as_map() {
            let environment = self.environment();
            let mut chosen = None;
            for (k, cron) in entries {
                let env = k.as_text().unwrap_or_default();
                if cron.is_null() {
                    continue;
                }
                let parsed = self.one_schedule(cron, &format!("schedule.{env}"));
                if env == environment {
                    chosen = parsed;
                }
            }
            return chosen;
        }
        self.one_schedule(v, "schedule")
    }

    fn one_schedule(&mut self, v: &Node, path: &str) -> Option<String> {
        let s = self.string(v, path)?;
        match croner::Cron::new(&s).parse() {
            Ok(_) => Some(s),
            Err(e) => {
                self.push(
                    Diagnostic::new(
                        v.mark,
                        path,
                        format!("invalid cron expression `{s}`: {e}"),
                    )
                    .with_hint(
                        "5 fields: minute hour day-of-month month day-of-week, e.g. `0 6 * * *`",
                    ),
                );
                None
            }
        }
    }

    fn timezone(&mut self, v: &Node) -> Option<String> {
        let s = self.string(v, "timezone")?;
        if chrono_tz::Tz::from_str(&s).is_ok() {
            return Some(s);
        }
        let hint = did_you_mean(&s, chrono_tz::TZ_VARIANTS.iter().map(|tz| tz.name()))
            .unwrap_or_else(|| "use an IANA name like `Europe/Paris` or `UTC`".into());
        self.push(
            Diagnostic::new(v.mark, "timezone", format!("unknown time zone `{s}`")).with_hint(hint),
        );
        None
    }

    /// One of a fixed list of names (`names`), read by `parse`; `what` names it in the error.
    fn choice<T>(
        &mut self,
        v: &Node,
        key: &str,
        what: &str,
        names: &[&str],
        parse: impl Fn(&str) -> Option<T>,
    ) -> Option<T> {
        let s = self.string(v, key)?;
        let c = parse(&s);
        if c.is_none() {
            let hint = did_you_mean(&s, names.iter().copied())
                .unwrap_or_else(|| format!("use one of: {}", names.join(", ")));
            self.push(
                Diagnostic::new(v.mark, key, format!("unknown {what} `{s}`")).with_hint(hint),
            );
        }
        c
    }

    /// A count of at least 1; `why` follows "must be at least 1" in the error.
    fn positive(&mut self, v: &Node, key: &str, why: &str) -> Option<usize> {
        match self.uint(v, key)? {
            0 => {
                self.err(v.mark, key, format!("must be at least 1{why}"));
                None
            }
            n => Some(n as usize),
        }
    }

    /// `env_passthrough`: one variable name or a list of them.
    fn env_passthrough(&mut self, v: &Node) -> Vec<String> {
        let items: Vec<&Node> = match v.as_seq() {
            Some(items) => items.iter().collect(),
            None => vec![v],
        };
        items
            .into_iter()
            .filter_map(|item| {
                let n = self.string(item, "env_passthrough")?;
                if valid_env_name(&n) {
                    Some(n)
                } else {
                    self.err(
                        item.mark,
                        "env_passthrough",
                        format!("invalid environment variable name `{n}`"),
                    );
                    None
                }
            })
            .collect()
    }

    /// The parameters: the declared defaults, then the overrides, every value checked against
    /// its declared type and pattern. Parameters whose values are secret go into `secret`.
    fn params(
        &mut self,
        node: Option<&Node>,
        root_mark: Mark,
        secret: &mut BTreeSet<String>,
    ) -> BTreeMap<String, String> {
        let mut declared = Declared::default();
        if let Some(node) = node {
            for (k, v) in self
                .map(node, "params", "parameter defaults")
                .unwrap_or_default()
            {
                self.declare_param(k, v, &mut declared, secret);
            }
        }
        let mark = node.map_or(root_mark, |n| n.mark);
        self.override_params(&mut declared, mark);
        self.check_param_values(&declared, mark, secret);
        declared.values
    }

    /// One entry of `params:`, short (`name: value`) or long (`name: { default: …, … }`).
    fn declare_param(
        &mut self,
        k: &Node,
        v: &Node,
        declared: &mut Declared,
        secret: &mut BTreeSet<String>,
    ) {
        let name = k.as_text().unwrap_or_default().to_string();
        let path = format!("params.{name}");
        if !valid_env_name(&name) {
            self.push(
                Diagnostic::new(k.mark, &path, format!("invalid parameter name `{name}`"))
                    .with_hint("use letters, digits and `_`, not starting with a digit"),
            );
            return;
        }
        let (value_node, spec) = if v.as_map().is_some() {
            match self.param_spec(v, &path) {
                Some(x) => x,
                None => return,
            }
        } else if v.as_seq().is_some() {
            self.push(
                Diagnostic::new(
                    v.mark,
                    &path,
                    format!("a parameter is a single value, found {}", v.describe()),
                )
                .with_hint("or a mapping: `{ default: …, api: true, pattern: \"^[a-z]+$\" }`"),
            );
            return;
        } else {
            (Some(v), ParamSpec::default())
        };
        if spec.secret {
            secret.insert(name.clone());
        }
        self.specs.insert(name.clone(), spec);
        let raw = match value_node {
            Some(v) if !v.is_null() => v.as_text().unwrap_or_default(),
            _ => "",
        };
        let scope = Scope {
            params: &BTreeMap::new(),
            env: self.opts.env,
            shell: false,
        };
        match interpolate(raw, &scope) {
            Ok(i) => {
                if !i.secrets.is_empty() || is_secret_name(&name) {
                    secret.insert(name.clone());
                }
                declared.values.insert(name.clone(), i.text);
            }
            Err(e) => self.push(Diagnostic::new(v.mark, path, e.message).with_hint_opt(e.hint)),
        }
        declared.marks.insert(name, k.mark);
    }

    /// The `--param` (or API) overrides, each of a declared parameter, and from an API caller
    /// only of one declared `api: true`.
    fn override_params(&mut self, declared: &mut Declared, mark: Mark) {
        for (k, v) in self.opts.params {
            if !declared.values.contains_key(k) && !declared.marks.contains_key(k) {
                let hint = did_you_mean(k, declared.values.keys().map(String::as_str))
                    .unwrap_or_else(|| "declare it under `params:` in the pipeline file".into());
                self.push(
                    Diagnostic::new(
                        mark,
                        "params",
                        format!("`--param {k}=…` sets a parameter the pipeline does not declare"),
                    )
                    .with_hint(hint),
                );
                continue;
            }
            let settable = self.specs.get(k).is_some_and(|s| s.api);
            if self.opts.api_params && !settable {
                self.push(
                    Diagnostic::new(
                        declared.marks.get(k).copied().unwrap_or(mark),
                        format!("params.{k}"),
                        format!("parameter `{k}` cannot be set through the API"),
                    )
                    .with_hint(format!(
                        "the pipeline's author may allow it: `{k}: {{ default: …, api: true, pattern: \"…\" }}`"
                    )),
                );
                continue;
            }
            declared.values.insert(k.clone(), v.clone());
        }
    }

    /// Every value, default or override, has the declared type and matches the pattern.
    fn check_param_values(&mut self, declared: &Declared, mark: Mark, secret: &BTreeSet<String>) {
        for (name, value) in &declared.values {
            let Some(spec) = self.specs.get(name) else {
                continue;
            };
            let shown = if spec.secret || secret.contains(name) {
                "(secret)".to_string()
            } else {
                format!("`{}`", value.chars().take(200).collect::<String>())
            };
            let m = declared.marks.get(name).copied().unwrap_or(mark);
            let path = format!("params.{name}");
            let message = if !spec.kind.accepts(value) {
                format!(
                    "parameter `{name}` must be of type {}, got {shown}",
                    spec.kind.name()
                )
            } else if let Some(pattern) = &spec.pattern
                && !regex::Regex::new(&format!("^(?:{pattern})$")).is_ok_and(|r| r.is_match(value))
            {
                format!("parameter `{name}` = {shown} does not match its pattern `{pattern}`")
            } else {
                continue;
            };
            self.push(Diagnostic::new(m, &path, message));
        }
    }

    /// A parameter's long form: its default value's node and what it declares.
    fn param_spec<'n>(
        &mut self,
        node: &'n Node,
        path: &str,
    ) -> Option<(Option<&'n Node>, ParamSpec)> {
        let mut spec = ParamSpec::default();
        let mut default = None;
        let mut by_env = None;
        let mut ok = true;
        for (k, v) in self.map(node, path, "parameter settings")? {
            let key = k.as_text().unwrap_or_default();
            let kpath = format!("{path}.{key}");
            match key {
                "default" => {
                    if v.as_map().is_some() || v.as_seq().is_some() {
                        self.err(
                            v.mark,
                            &kpath,
                            format!("a default is a single value, found {}", v.describe()),
                        );
                        ok = false;
                    }
                    default = Some(v);
                }
                "by_env" => {
                    // The value in this environment, when it has one, replaces the default.
                    let environment = self.environment();
                    for (ek, ev) in self.map(v, &kpath, "values by environment")? {
                        let env = ek.as_text().unwrap_or_default();
                        if ev.as_map().is_some() || ev.as_seq().is_some() {
                            self.err(
                                ev.mark,
                                &format!("{kpath}.{env}"),
                                format!("a value is a single value, found {}", ev.describe()),
                            );
                            ok = false;
                        } else if env == environment {
                            by_env = Some(ev);
                        }
                    }
                }
                "description" => spec.description = self.string(v, &kpath),
                "api" => spec.api = self.boolean(v, &kpath).unwrap_or(false),
                "secret" => spec.secret = self.boolean(v, &kpath).unwrap_or(false),
                "type" => match self.string(v, &kpath) {
                    Some(t) => match ParamType::from_name(&t) {
                        Some(kind) => spec.kind = kind,
                        None => {
                            self.push(
                                Diagnostic::new(
                                    v.mark,
                                    &kpath,
                                    format!("unknown parameter type `{t}`"),
                                )
                                .with_hint(format!("use one of: {}", ParamType::NAMES.join(", "))),
                            );
                            ok = false;
                        }
                    },
                    None => ok = false,
                },
                "pattern" => match self.string(v, &kpath) {
                    Some(p) => match regex::Regex::new(&format!("^(?:{p})$")) {
                        Ok(_) => spec.pattern = Some(p),
                        Err(e) => {
                            self.err(v.mark, &kpath, format!("invalid regular expression: {e}"));
                            ok = false;
                        }
                    },
                    None => ok = false,
                },
                _ => {
                    self.unknown_key(k, &kpath, PARAM_KEYS);
                    ok = false;
                }
            }
        }
        ok.then_some((by_env.or(default), spec))
    }

    fn defaults(&mut self, node: &Node) -> Defaults {
        let mut d = Defaults::default();
        for (k, v) in self
            .map(node, "defaults", "task defaults")
            .unwrap_or_default()
        {
            let name = k.as_text().unwrap_or_default();
            let path = format!("defaults.{name}");
            match name {
                "retries" => d.retries = self.retries(v, &path),
                "retry_delay" => d.retry_delay = self.duration(v, &path),
                "timeout" => d.timeout = self.timeout(v, &path),
                _ => self.unknown_key(k, &path, DEFAULTS_KEYS),
            }
        }
        d
    }
}

/// The declared parameters' values and where each was declared.
#[derive(Default)]
struct Declared {
    values: BTreeMap<String, String>,
    marks: HashMap<String, Mark>,
}

/// A secret parameter's value is masked in every task's output, and the variable that passes
/// it to a command is secret.
fn mask_secret_params(
    tasks: &mut [Task],
    secret_params: &BTreeSet<String>,
    params: &BTreeMap<String, String>,
) {
    let secret_values: Vec<&String> = secret_params
        .iter()
        .filter_map(|k| params.get(k))
        .filter(|v| !v.is_empty())
        .collect();
    for t in tasks {
        for v in &secret_values {
            if !t.secrets.contains(v) {
                t.secrets.push((*v).clone());
            }
        }
        for e in &mut t.env {
            if secret_params
                .iter()
                .any(|k| crate::interp::param_env_name(k) == e.name)
            {
                e.secret = true;
            }
        }
    }
}

/// The directory tasks run in: the pipeline file's, made absolute.
fn tasks_dir(file: &Path) -> PathBuf {
    let dir = file
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    std::path::absolute(&dir).unwrap_or(dir)
}
