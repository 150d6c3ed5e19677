//! Pipeline files, in two phases: the YAML tree (with positions) is walked once, every problem
//! is collected as a [`Diagnostic`], and only a file without problems becomes a [`Pipeline`].

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use crate::dag;
use crate::de::DeError;
use crate::diag::{Diagnostic, Diagnostics, did_you_mean};
use crate::duration::parse_duration;
use crate::interp::{Interpolated, Scope, interpolate, is_secret_name};
use crate::yaml::{self, Mark, Node, NodeKind, Scalar};

/// Keys allowed at the top of a pipeline file.
pub const PIPELINE_KEYS: &[&str] = &[
    "name",
    "description",
    "schedule",
    "timezone",
    "catchup",
    "max_active_runs",
    "on_new_version",
    "params",
    "env_passthrough",
    "defaults",
    "max_parallel",
    "retention",
    "compression",
    "tasks",
];

/// Keys every task may have, whatever its op.
pub const TASK_KEYS: &[&str] = &[
    "op",
    "run",
    "after",
    "description",
    "retries",
    "retry_delay",
    "timeout",
    "env",
    "cache",
    "checks",
    "allow_local",
];

/// Keys of a parameter's long form (`out: { default: out, api: true }`).
pub const PARAM_KEYS: &[&str] = &["default", "description", "api", "type", "pattern", "secret"];

/// Environment variables every `run:` command gets from sluice's own environment; others
/// only when the pipeline lists them under `env_passthrough`.
pub const BASE_ENV: &[&str] = &["PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR", "USER"];

/// Keys allowed under `defaults:`.
pub const DEFAULTS_KEYS: &[&str] = &["retries", "retry_delay", "timeout"];

/// Base delay before a retry when neither the task nor `defaults` sets `retry_delay`.
pub const DEFAULT_RETRY_DELAY: Duration = Duration::from_secs(10);

/// What validation needs to know about the built-in operators.
pub trait OpCatalog {
    /// Every op name, for "did you mean" hints.
    fn op_names(&self) -> Vec<&'static str>;
    /// Checks an op's config; `None` when the op does not exist.
    fn check(&self, op: &str, config: &Node) -> Option<Result<OpInfo, DeError>>;
}

/// What validation learns from a valid op config.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OpInfo {
    /// Tasks whose datasets the op reads (a `sql` query's tables, a writer's `input`): they
    /// become dependencies, no `after:` needed.
    pub reads: Vec<String>,
    /// Whether the op produces a dataset.
    pub produces_dataset: bool,
}

/// Dataset versions kept per task when `retention` is not set (besides the latest).
pub const DEFAULT_RETENTION: usize = 3;

/// How the Parquet pages of a pipeline's datasets are compressed (`compression:`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    /// Stored as is: the fastest to write and read, the largest on disk.
    None,
    /// LZ4: cheap to write and read back, about half the size (the default).
    #[default]
    Lz4,
    /// Zstandard: the smallest, the slowest to write.
    Zstd,
}

impl Compression {
    /// The names accepted in a pipeline file.
    pub const NAMES: [&'static str; 3] = ["none", "lz4", "zstd"];

    /// The value named `name` in a pipeline file.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "none" => Some(Compression::None),
            "lz4" => Some(Compression::Lz4),
            "zstd" => Some(Compression::Zstd),
            _ => None,
        }
    }
}

/// Inputs to [`load_file`] and [`parse_pipeline`] besides the file itself.
pub struct LoadOptions<'a> {
    /// `--param k=v` overrides.
    pub params: &'a [(String, String)],
    /// The op catalog.
    pub catalog: &'a dyn OpCatalog,
    /// Reads an environment variable (`std::env::var` in the CLI; a map in tests).
    pub env: &'a dyn Fn(&str) -> Option<String>,
    /// The `params` overrides come from an API caller: each must be declared `api: true`,
    /// and a value may not point a task at this machine (see [`crate::address`]) unless the
    /// task says `allow_local: true`.
    pub api_params: bool,
}

/// The type a parameter's value must have.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ParamType {
    /// Any text (the default).
    #[default]
    String,
    /// A whole number.
    Integer,
    /// A number.
    Number,
    /// `true` or `false`.
    Boolean,
}

impl ParamType {
    /// The names in pipeline files.
    pub const NAMES: [&'static str; 4] = ["string", "integer", "number", "boolean"];

    fn from_name(name: &str) -> Option<ParamType> {
        match name {
            "string" => Some(ParamType::String),
            "integer" => Some(ParamType::Integer),
            "number" => Some(ParamType::Number),
            "boolean" => Some(ParamType::Boolean),
            _ => None,
        }
    }

    /// Its name in pipeline files.
    pub fn name(self) -> &'static str {
        match self {
            ParamType::String => "string",
            ParamType::Integer => "integer",
            ParamType::Number => "number",
            ParamType::Boolean => "boolean",
        }
    }

    fn accepts(self, v: &str) -> bool {
        match self {
            ParamType::String => true,
            ParamType::Integer => v.parse::<i64>().is_ok(),
            ParamType::Number => v.parse::<f64>().is_ok_and(f64::is_finite),
            ParamType::Boolean => v == "true" || v == "false",
        }
    }
}

/// A declared parameter: what may set it and what its values look like.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ParamSpec {
    /// Free text.
    pub description: Option<String>,
    /// An API caller (a trigger) may set it; other parameters only come from the file and
    /// the command line.
    pub api: bool,
    /// The type every value must have.
    pub kind: ParamType,
    /// A regular expression the whole value must match.
    pub pattern: Option<String>,
    /// Never shown, never stored with the run, masked in output.
    pub secret: bool,
}

/// Why a pipeline file could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be read.
    #[error("cannot read pipeline file {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file has problems.
    #[error(transparent)]
    Invalid(#[from] Diagnostics),
}

/// What the scheduler does with the slots of a schedule that passed while no server ran.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum CatchUp {
    /// Skip them: the next run is the next slot to come.
    None,
    /// Run the latest of them once, skip the others (the default).
    #[default]
    Latest,
    /// Run every one of them, oldest first, within `max_active_runs`.
    All,
}

impl CatchUp {
    /// The names in pipeline files.
    pub const NAMES: [&'static str; 3] = ["none", "latest", "all"];

    /// The policy of a name.
    pub fn from_name(name: &str) -> Option<CatchUp> {
        match name {
            "none" => Some(CatchUp::None),
            "latest" => Some(CatchUp::Latest),
            "all" => Some(CatchUp::All),
            _ => None,
        }
    }

    /// Its name in pipeline files.
    pub fn name(self) -> &'static str {
        match self {
            CatchUp::None => "none",
            CatchUp::Latest => "latest",
            CatchUp::All => "all",
        }
    }
}

/// A validated pipeline.
#[derive(Debug, Clone)]
pub struct Pipeline {
    /// `[a-z][a-z0-9_]*`.
    pub name: String,
    /// Free text.
    pub description: Option<String>,
    /// 5-field cron expression, validated.
    pub schedule: Option<String>,
    /// IANA time zone for the schedule.
    pub timezone: Option<String>,
    /// What the scheduler does with the slots it missed while stopped.
    pub catchup: CatchUp,
    /// At most this many runs of the pipeline at once (scheduled, triggered); default 1.
    pub max_active_runs: usize,
    /// Datasets (`pipeline.task`) whose new versions start a run of this pipeline under
    /// `sluice serve`.
    pub on_new_version: Vec<String>,
    /// Parameters after `--param` overrides.
    pub params: BTreeMap<String, String>,
    /// How each parameter was declared.
    pub param_specs: BTreeMap<String, ParamSpec>,
    /// Names of sluice's environment variables passed to `run:` commands besides [`BASE_ENV`].
    pub env_passthrough: Vec<String>,
    /// Parameters holding secrets (read from a secret environment variable, or named like
    /// one): never stored with the run, masked in output.
    pub secret_params: std::collections::BTreeSet<String>,
    /// At most this many tasks run at once; `None` means one per core.
    pub max_parallel: Option<usize>,
    /// Dataset versions kept per task, the latest included.
    pub retention: usize,
    /// How its datasets' Parquet pages are compressed.
    pub compression: Compression,
    /// Tasks in file order.
    pub tasks: Vec<Task>,
    /// The file as given.
    pub file: PathBuf,
    /// Directory tasks run in: the file's directory.
    pub dir: PathBuf,
}

/// One validated task.
#[derive(Debug, Clone)]
pub struct Task {
    /// Name, unique in the pipeline.
    pub name: String,
    /// Free text.
    pub description: Option<String>,
    /// What the task does.
    pub kind: TaskKind,
    /// Indices (into [`Pipeline::tasks`]) of the tasks this one waits for.
    pub deps: Vec<usize>,
    /// Retries after the first attempt.
    pub retries: u32,
    /// Base of the exponential backoff between attempts.
    pub retry_delay: Duration,
    /// Limit for one attempt.
    pub timeout: Option<Duration>,
    /// Extra environment for `run:` commands (the task's `env:`, then `SLUICE_PARAM_*` of the
    /// parameters the command names).
    pub env: Vec<EnvVar>,
    /// Whether an unchanged fingerprint lets the task be skipped as cached.
    pub cache: bool,
    /// Whether the task's op produces a dataset.
    pub produces_dataset: bool,
    /// Checks its dataset must pass to become latest.
    pub checks: Vec<crate::checks::Check>,
    /// Values that must never be printed (from secret environment variables).
    pub secrets: Vec<String>,
    /// Tasks whose datasets the op reads (already part of `deps`).
    pub reads: Vec<String>,
    /// Values set by an API caller may point this task at this machine (`allow_local`).
    pub allow_local: bool,
    /// Where the task is defined.
    pub mark: Mark,
}

/// A task is a built-in op or a shell command.
#[derive(Debug, Clone)]
pub enum TaskKind {
    /// A built-in operator with its config (the task's other keys), interpolated.
    Op {
        /// Op name, e.g. `sleep`.
        op: String,
        /// The op's keys as a mapping.
        config: Node,
    },
    /// A shell command, run with `sh -c`.
    Run {
        /// The command, interpolated.
        command: String,
    },
}

/// An environment variable set for a task.
#[derive(Debug, Clone, PartialEq)]
pub struct EnvVar {
    /// Variable name.
    pub name: String,
    /// Value, interpolated.
    pub value: String,
    /// Never printed; not part of the fingerprint.
    pub secret: bool,
}

impl Pipeline {
    /// Index of the task named `name`.
    pub fn task_index(&self, name: &str) -> Option<usize> {
        self.tasks.iter().position(|t| t.name == name)
    }
}

/// Loads a pipeline file with `params` overriding its defaults, reading environment
/// variables from the process (what the CLI and the server do).
pub fn load_file_with_env(
    path: &Path,
    params: &[(String, String)],
    catalog: &dyn OpCatalog,
) -> Result<Pipeline, LoadError> {
    load_file_from(path, params, catalog, false)
}

/// [`load_file_with_env`], saying whether `params` come from an API caller (`api_params`):
/// then each must be declared `api: true` and its values are held to [`crate::address`]'s
/// rules.
pub fn load_file_from(
    path: &Path,
    params: &[(String, String)],
    catalog: &dyn OpCatalog,
    api_params: bool,
) -> Result<Pipeline, LoadError> {
    load_file(
        path,
        &LoadOptions {
            params,
            catalog,
            env: &|name| std::env::var(name).ok(),
            api_params,
        },
    )
}

/// Reads, parses and validates a pipeline file.
pub fn load_file(path: &Path, opts: &LoadOptions<'_>) -> Result<Pipeline, LoadError> {
    let source = std::fs::read_to_string(path).map_err(|source| LoadError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(parse_pipeline(&source, path, opts)?)
}

/// Parses and validates pipeline source text; `file` is used in messages and to find the
/// directory tasks run in.
pub fn parse_pipeline(
    source: &str,
    file: &Path,
    opts: &LoadOptions<'_>,
) -> Result<Pipeline, Diagnostics> {
    let root = yaml::parse(source).map_err(|e| {
        Diagnostics::new(
            file,
            vec![Diagnostic::new(
                e.mark,
                "",
                format!("invalid YAML: {}", e.message),
            )],
        )
    })?;
    let mut c = Compiler {
        diags: Vec::new(),
        opts,
        specs: BTreeMap::new(),
    };
    let pipeline = c.pipeline(&root, file);
    if c.diags.is_empty()
        && let Some(p) = pipeline
    {
        return Ok(p);
    }
    Err(Diagnostics::new(file, c.diags))
}

struct Compiler<'a, 'b> {
    diags: Vec<Diagnostic>,
    opts: &'a LoadOptions<'b>,
    /// The declared parameters, once read.
    specs: BTreeMap<String, ParamSpec>,
}

#[derive(Default)]
struct Defaults {
    retries: Option<u32>,
    retry_delay: Option<Duration>,
    timeout: Option<Duration>,
}

fn valid_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some('a'..='z'))
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

fn valid_env_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

impl Compiler<'_, '_> {
    fn err(&mut self, mark: Mark, key: &str, message: impl Into<String>) {
        self.diags.push(Diagnostic::new(mark, key, message));
    }

    fn push(&mut self, d: Diagnostic) {
        self.diags.push(d);
    }

    /// Entries of a mapping node, reporting duplicates; `None` (and an error) if not a mapping.
    fn map<'n>(&mut self, node: &'n Node, key: &str, what: &str) -> Option<Vec<&'n (Node, Node)>> {
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

    fn string(&mut self, node: &Node, key: &str) -> Option<String> {
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
    fn dataset_names(&mut self, node: &Node, key: &str) -> Vec<String> {
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

    fn uint(&mut self, node: &Node, key: &str) -> Option<u64> {
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

    fn retries(&mut self, node: &Node, key: &str) -> Option<u32> {
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

    fn timeout(&mut self, node: &Node, key: &str) -> Option<Duration> {
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

    fn boolean(&mut self, node: &Node, key: &str) -> Option<bool> {
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

    fn duration(&mut self, node: &Node, key: &str) -> Option<Duration> {
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
    fn interp(
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

    fn unknown_key(&mut self, k: &Node, path: &str, valid: &[&str]) {
        let name = k.as_text().unwrap_or_default();
        let hint = did_you_mean(name, valid.iter().copied()).unwrap_or_else(|| {
            let list: Vec<String> = valid.iter().map(|v| format!("`{v}`")).collect();
            format!("valid keys: {}", list.join(", "))
        });
        self.push(Diagnostic::new(k.mark, path, format!("unknown key `{name}`")).with_hint(hint));
    }

    fn pipeline(&mut self, root: &Node, file: &Path) -> Option<Pipeline> {
        let entries = match root.as_map() {
            Some(_) => self.map(root, "", "pipeline keys")?,
            None => {
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
        };
        let get = |name: &str| {
            entries
                .iter()
                .find(|(k, _)| k.as_text() == Some(name))
                .map(|(k, v)| (k, v))
        };
        for (k, _) in &entries {
            if !PIPELINE_KEYS.contains(&k.as_text().unwrap_or_default()) {
                let path = k.as_text().unwrap_or_default().to_string();
                self.unknown_key(k, &path, PIPELINE_KEYS);
            }
        }

        let name = match get("name") {
            Some((_, v)) => self.string(v, "name").and_then(|n| {
                if valid_name(&n) {
                    Some(n)
                } else {
                    self.push(
                        Diagnostic::new(v.mark, "name", format!("invalid pipeline name `{n}`"))
                            .with_hint(
                                "use lower-case letters, digits and `_`, starting with a letter",
                            ),
                    );
                    None
                }
            }),
            None => {
                self.err(root.mark, "name", "missing required key `name`");
                None
            }
        };
        let description = get("description").and_then(|(_, v)| self.string(v, "description"));
        let schedule = get("schedule").and_then(|(_, v)| {
            let s = self.string(v, "schedule")?;
            match croner::Cron::new(&s).parse() {
                Ok(_) => Some(s),
                Err(e) => {
                    self.push(
                        Diagnostic::new(v.mark, "schedule", format!("invalid cron expression `{s}`: {e}"))
                            .with_hint("5 fields: minute hour day-of-month month day-of-week, e.g. `0 6 * * *`"),
                    );
                    None
                }
            }
        });
        let timezone = get("timezone").and_then(|(_, v)| {
            let s = self.string(v, "timezone")?;
            if chrono_tz::Tz::from_str(&s).is_ok() {
                return Some(s);
            }
            let hint = did_you_mean(&s, chrono_tz::TZ_VARIANTS.iter().map(|tz| tz.name()))
                .unwrap_or_else(|| "use an IANA name like `Europe/Paris` or `UTC`".into());
            self.push(
                Diagnostic::new(v.mark, "timezone", format!("unknown time zone `{s}`"))
                    .with_hint(hint),
            );
            None
        });
        let catchup = get("catchup").and_then(|(_, v)| {
            let s = self.string(v, "catchup")?;
            let c = CatchUp::from_name(&s);
            if c.is_none() {
                let hint = did_you_mean(&s, CatchUp::NAMES.iter().copied())
                    .unwrap_or_else(|| format!("use one of: {}", CatchUp::NAMES.join(", ")));
                self.push(
                    Diagnostic::new(v.mark, "catchup", format!("unknown catch-up policy `{s}`"))
                        .with_hint(hint),
                );
            }
            c
        });
        let max_active_runs =
            get("max_active_runs").and_then(|(_, v)| match self.uint(v, "max_active_runs")? {
                0 => {
                    self.err(v.mark, "max_active_runs", "must be at least 1");
                    None
                }
                n => Some(n as usize),
            });
        let on_new_version = get("on_new_version")
            .map(|(_, v)| self.dataset_names(v, "on_new_version"))
            .unwrap_or_default();
        let max_parallel =
            get("max_parallel").and_then(|(_, v)| match self.uint(v, "max_parallel")? {
                0 => {
                    self.err(v.mark, "max_parallel", "must be at least 1");
                    None
                }
                n => Some(n as usize),
            });
        let mut secret_params = std::collections::BTreeSet::new();
        let params = self.params(get("params").map(|(_, v)| v), root.mark, &mut secret_params);
        let env_passthrough: Vec<String> = match get("env_passthrough") {
            None => Vec::new(),
            Some((_, v)) => {
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
        };
        let retention = get("retention").and_then(|(_, v)| match self.uint(v, "retention")? {
            0 => {
                self.err(
                    v.mark,
                    "retention",
                    "must be at least 1 (the latest version is always kept)",
                );
                None
            }
            n => Some(n as usize),
        });
        let compression = get("compression").and_then(|(_, v)| {
            let s = self.string(v, "compression")?;
            let c = Compression::from_name(&s);
            if c.is_none() {
                let hint = did_you_mean(&s, Compression::NAMES.iter().copied())
                    .unwrap_or_else(|| format!("use one of: {}", Compression::NAMES.join(", ")));
                self.push(
                    Diagnostic::new(v.mark, "compression", format!("unknown compression `{s}`"))
                        .with_hint(hint),
                );
            }
            c
        });
        let defaults = get("defaults")
            .map(|(_, v)| self.defaults(v))
            .unwrap_or_default();
        let mut tasks = match get("tasks") {
            Some((_, v)) => self.tasks(v, &params, &defaults),
            None => {
                self.err(root.mark, "tasks", "missing required key `tasks`");
                Vec::new()
            }
        };
        // A secret parameter's value is masked in every task's output.
        let secret_values: Vec<&String> = secret_params
            .iter()
            .filter_map(|k| params.get(k))
            .filter(|v| !v.is_empty())
            .collect();
        for t in &mut tasks {
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
        let name = name?;
        let dir = file
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        let dir = std::path::absolute(&dir).unwrap_or(dir);
        Some(Pipeline {
            name,
            description,
            schedule,
            timezone,
            catchup: catchup.unwrap_or_default(),
            max_active_runs: max_active_runs.unwrap_or(1),
            on_new_version,
            params,
            param_specs: std::mem::take(&mut self.specs),
            env_passthrough,
            secret_params,
            max_parallel,
            retention: retention.unwrap_or(DEFAULT_RETENTION),
            compression: compression.unwrap_or_default(),
            tasks,
            file: file.to_path_buf(),
            dir,
        })
    }

    fn params(
        &mut self,
        node: Option<&Node>,
        root_mark: Mark,
        secret: &mut std::collections::BTreeSet<String>,
    ) -> BTreeMap<String, String> {
        let mut params = BTreeMap::new();
        let mut marks = HashMap::new();
        if let Some(node) = node {
            let empty = BTreeMap::new();
            for (k, v) in self
                .map(node, "params", "parameter defaults")
                .unwrap_or_default()
            {
                let name = k.as_text().unwrap_or_default().to_string();
                let path = format!("params.{name}");
                if !valid_env_name(&name) {
                    self.push(
                        Diagnostic::new(k.mark, &path, format!("invalid parameter name `{name}`"))
                            .with_hint("use letters, digits and `_`, not starting with a digit"),
                    );
                    continue;
                }
                let (value_node, spec) = if v.as_map().is_some() {
                    match self.param_spec(v, &path) {
                        Some(x) => x,
                        None => continue,
                    }
                } else if v.as_seq().is_some() {
                    self.push(
                        Diagnostic::new(
                            v.mark,
                            &path,
                            format!("a parameter is a single value, found {}", v.describe()),
                        )
                        .with_hint(
                            "or a mapping: `{ default: …, api: true, pattern: \"^[a-z]+$\" }`",
                        ),
                    );
                    continue;
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
                    params: &empty,
                    env: self.opts.env,
                    shell: false,
                };
                match interpolate(raw, &scope) {
                    Ok(i) => {
                        if !i.secrets.is_empty() || is_secret_name(&name) {
                            secret.insert(name.clone());
                        }
                        params.insert(name.clone(), i.text);
                    }
                    Err(e) => {
                        self.push(Diagnostic::new(v.mark, path, e.message).with_hint_opt(e.hint))
                    }
                }
                marks.insert(name, k.mark);
            }
        }
        let mark = node.map_or(root_mark, |n| n.mark);
        for (k, v) in self.opts.params {
            if params.contains_key(k) || marks.contains_key(k) {
                let settable = self.specs.get(k).is_some_and(|s| s.api);
                if self.opts.api_params && !settable {
                    self.push(
                        Diagnostic::new(
                            marks.get(k).copied().unwrap_or(mark),
                            format!("params.{k}"),
                            format!("parameter `{k}` cannot be set through the API"),
                        )
                        .with_hint(format!(
                            "the pipeline's author may allow it: `{k}: {{ default: …, api: true, pattern: \"…\" }}`"
                        )),
                    );
                    continue;
                }
                params.insert(k.clone(), v.clone());
            } else {
                let hint = did_you_mean(k, params.keys().map(String::as_str))
                    .unwrap_or_else(|| "declare it under `params:` in the pipeline file".into());
                self.push(
                    Diagnostic::new(
                        mark,
                        "params",
                        format!("`--param {k}=…` sets a parameter the pipeline does not declare"),
                    )
                    .with_hint(hint),
                );
            }
        }
        // Every value, default or override, has the declared type and matches the pattern.
        for (name, value) in &params {
            let Some(spec) = self.specs.get(name) else {
                continue;
            };
            let shown = if spec.secret || secret.contains(name) {
                "(secret)".to_string()
            } else {
                format!("`{}`", value.chars().take(200).collect::<String>())
            };
            let m = marks.get(name).copied().unwrap_or(mark);
            let path = format!("params.{name}");
            if !spec.kind.accepts(value) {
                let d = Diagnostic::new(
                    m,
                    &path,
                    format!(
                        "parameter `{name}` must be of type {}, got {shown}",
                        spec.kind.name()
                    ),
                );
                self.push(d);
            } else if let Some(pattern) = &spec.pattern
                && !regex::Regex::new(&format!("^(?:{pattern})$")).is_ok_and(|r| r.is_match(value))
            {
                self.push(Diagnostic::new(
                    m,
                    &path,
                    format!("parameter `{name}` = {shown} does not match its pattern `{pattern}`"),
                ));
            }
        }
        params
    }

    /// A parameter's long form: its default value's node and what it declares.
    fn param_spec<'n>(
        &mut self,
        node: &'n Node,
        path: &str,
    ) -> Option<(Option<&'n Node>, ParamSpec)> {
        let mut spec = ParamSpec::default();
        let mut default = None;
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
        ok.then_some((default, spec))
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

    fn tasks(
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
        // Resolve `after:` references now that every task is known.
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
        // Tables a task reads are dependencies too.
        let table_names: Vec<String> = tasks
            .iter()
            .filter(|t| t.produces_dataset)
            .map(|t| t.name.clone())
            .collect();
        let tables: Vec<&str> = table_names.iter().map(String::as_str).collect();
        for i in 0..tasks.len() {
            let tables: Vec<&str> = tables.iter().copied().filter(|t| *t != names[i]).collect();
            for table in tasks[i].reads.clone() {
                let path = format!("tasks.{}", names[i]);
                match names.iter().position(|n| *n == table) {
                    Some(j) if j == i => self.err(
                        tasks[i].mark,
                        &path,
                        format!("task `{table}` cannot read its own dataset"),
                    ),
                    Some(j) if !tasks[j].produces_dataset => self.push(
                        Diagnostic::new(
                            tasks[i].mark,
                            path,
                            format!("task `{table}` produces no dataset to read"),
                        )
                        .with_hint(format!("tables: {}", tables.join(", "))),
                    ),
                    Some(j) => {
                        if !tasks[i].deps.contains(&j) {
                            tasks[i].deps.push(j);
                        }
                    }
                    None if declared.contains(&table.as_str()) => {}
                    None => {
                        let hint = did_you_mean(&table, tables.iter().copied())
                            .map(|h| format!("{h} tables: {}", tables.join(", ")))
                            .unwrap_or_else(|| {
                                format!(
                                    "tables: {}",
                                    if tables.is_empty() {
                                        "none".to_string()
                                    } else {
                                        tables.join(", ")
                                    }
                                )
                            });
                        self.push(
                            Diagnostic::new(
                                tasks[i].mark,
                                path,
                                format!("unknown table `{table}`"),
                            )
                            .with_hint(hint),
                        );
                    }
                }
            }
        }
        let deps: Vec<Vec<usize>> = tasks.iter().map(|t| t.deps.clone()).collect();
        if let Some(cycle) = dag::find_cycle(&deps) {
            let path: Vec<&str> = cycle.iter().map(|&i| names[i].as_str()).collect();
            let first = cycle[0];
            self.push(
                Diagnostic::new(
                    tasks[first].mark,
                    format!("tasks.{}", names[first]),
                    format!("dependency cycle: {}", path.join(" → ")),
                )
                .with_hint("remove one of these `after:` links"),
            );
        }
        tasks
    }

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
        let get = |key: &str| {
            entries
                .iter()
                .find(|(k, _)| k.as_text() == Some(key))
                .map(|(_, v)| v)
        };
        let scope = Scope {
            params,
            env: self.opts.env,
            shell: false,
        };
        let shell_scope = Scope {
            shell: true,
            ..scope
        };
        let api_set: Vec<&str> = if self.opts.api_params {
            self.opts.params.iter().map(|(k, _)| k.as_str()).collect()
        } else {
            Vec::new()
        };
        let allow_local = get("allow_local")
            .and_then(|v| self.boolean(v, &format!("{prefix}.allow_local")))
            .unwrap_or(false);
        let mut param_env: Vec<String> = Vec::new();
        let mut secrets = Vec::new();
        let mut reads: Vec<String> = Vec::new();
        let mut produces_dataset = false;
        let extra: Vec<(Node, Node)> = entries
            .iter()
            .filter(|(k, _)| !TASK_KEYS.contains(&k.as_text().unwrap_or_default()))
            .map(|e| (*e).clone())
            .collect();
        let kind = match (get("op"), get("run")) {
            (Some(_), Some(_)) => {
                self.push(
                    Diagnostic::new(mark, &prefix, "a task has either `op:` or `run:`, not both")
                        .with_hint("split it into two tasks, one after the other"),
                );
                None
            }
            (None, None) => {
                self.push(Diagnostic::new(
                    mark,
                    &prefix,
                    "a task needs `op:` (a built-in operator) or `run:` (a shell command)",
                ));
                for (k, _) in &extra {
                    let path = format!("{prefix}.{}", k.as_text().unwrap_or_default());
                    self.unknown_key(k, &path, TASK_KEYS);
                }
                None
            }
            (None, Some(run)) => {
                for (k, _) in &extra {
                    let path = format!("{prefix}.{}", k.as_text().unwrap_or_default());
                    self.unknown_key(k, &path, TASK_KEYS);
                }
                let path = format!("{prefix}.run");
                self.string(run, &path)
                    .and_then(|cmd| self.interp(&shell_scope, &cmd, run.mark, &path, &mut secrets))
                    .map(|i| {
                        param_env = i.params;
                        TaskKind::Run { command: i.text }
                    })
            }
            (Some(op), None) => {
                let path = format!("{prefix}.op");
                let op_name = self.string(op, &path)?;
                let mut config = Node {
                    kind: NodeKind::Map(extra),
                    mark: body.mark,
                };
                let mut failed = false;
                let _ = config.map_strings(&mut |text, m, key| -> Result<String, ()> {
                    let Some(i) = self.interp(&scope, text, m, &prefix, &mut secrets) else {
                        failed = true;
                        return Ok(text.to_string());
                    };
                    let from_api: Vec<&String> =
                        i.params.iter().filter(|p| api_set.contains(&p.as_str())).collect();
                    if let Some(p) = from_api.first() {
                        let key = key.unwrap_or_default();
                        let path = format!("{prefix}.{key}");
                        let why = if key.ends_with("_env") {
                            Some(format!(
                                "`{key}` names an environment variable of the server"
                            ))
                        } else if allow_local {
                            None
                        } else {
                            crate::address::local_target(key, &i.text)
                        };
                        if let Some(why) = why {
                            self.push(
                                Diagnostic::new(
                                    m,
                                    path,
                                    format!("parameter `{p}`, set through the API, cannot be used here: {why}"),
                                )
                                .with_hint(if key.ends_with("_env") {
                                    "API callers never choose which environment variable a task reads"
                                } else {
                                    "the pipeline's author may allow it with `allow_local: true` on the task"
                                }),
                            );
                            failed = true;
                        }
                    }
                    Ok(i.text)
                });
                match self.opts.catalog.check(&op_name, &config) {
                    None => {
                        let hint = did_you_mean(&op_name, self.opts.catalog.op_names())
                            .unwrap_or_else(|| {
                                format!("built-in ops: {}", self.opts.catalog.op_names().join(", "))
                            });
                        self.push(
                            Diagnostic::new(op.mark, path, format!("unknown op `{op_name}`"))
                                .with_hint(hint),
                        );
                        None
                    }
                    Some(Err(e)) => {
                        let unknown = e.unknown_key.clone();
                        let mut d = e.into_diagnostic(&prefix, body.mark);
                        if let Some(k) = unknown
                            && let Some(h) = did_you_mean(&k, TASK_KEYS.iter().copied())
                            && d.hint
                                .as_deref()
                                .is_none_or(|h| !h.starts_with("did you mean"))
                        {
                            d.hint = Some(h);
                        }
                        self.push(d);
                        None
                    }
                    Some(Ok(_)) if failed => None,
                    Some(Ok(info)) => {
                        reads = info.reads;
                        produces_dataset = info.produces_dataset;
                        Some(TaskKind::Op {
                            op: op_name,
                            config,
                        })
                    }
                }
            }
        };

        let after: Vec<&Node> = match get("after") {
            None => Vec::new(),
            Some(n) => match n.as_seq() {
                Some(items) => items.iter().collect(),
                None if n.scalar().is_some() && !n.is_null() => vec![n],
                None => {
                    self.err(
                        n.mark,
                        &format!("{prefix}.after"),
                        format!(
                            "expected a task name or a list of task names, found {}",
                            n.describe()
                        ),
                    );
                    Vec::new()
                }
            },
        };
        let retries = match get("retries") {
            Some(v) => self.retries(v, &format!("{prefix}.retries")),
            None => defaults.retries,
        };
        let retry_delay = match get("retry_delay") {
            Some(v) => self.duration(v, &format!("{prefix}.retry_delay")),
            None => defaults.retry_delay,
        };
        let timeout = match get("timeout") {
            Some(v) => self.timeout(v, &format!("{prefix}.timeout")),
            None => defaults.timeout,
        };
        let cache = get("cache").and_then(|v| self.boolean(v, &format!("{prefix}.cache")));
        let description =
            get("description").and_then(|v| self.string(v, &format!("{prefix}.description")));
        let mut env = Vec::new();
        if let Some(node) = get("env") {
            let env_path = format!("{prefix}.env");
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
                let Some(raw) = (if v.is_null() {
                    Some(String::new())
                } else {
                    self.string(v, &path)
                }) else {
                    continue;
                };
                let before = secrets.len();
                if let Some(i) = self.interp(&scope, &raw, v.mark, &path, &mut secrets) {
                    if i.params.iter().any(|p| api_set.contains(&p.as_str())) {
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
            }
        }
        let checks: Vec<crate::checks::Check> = match get("checks") {
            None => Vec::new(),
            Some(node) => match crate::de::from_node(node) {
                Ok(c) => c,
                Err(e) => {
                    self.push(e.into_diagnostic(&format!("{prefix}.checks"), node.mark));
                    Vec::new()
                }
            },
        };
        if !checks.is_empty()
            && !produces_dataset
            && kind.is_some()
            && let Some(node) = get("checks")
        {
            self.push(
                Diagnostic::new(
                    node.mark,
                    format!("{prefix}.checks"),
                    "checks need a task that produces a dataset",
                )
                .with_hint("put them on the task that writes the data (read.csv, sql…)"),
            );
        }
        // Each parameter a command names is passed as `SLUICE_PARAM_<NAME>`.
        for p in param_env {
            let secret = self.specs.get(&p).is_some_and(|s| s.secret);
            env.push(EnvVar {
                name: crate::interp::param_env_name(&p),
                value: params.get(&p).cloned().unwrap_or_default(),
                secret,
            });
        }
        let task = Task {
            name: name.to_string(),
            description,
            kind: kind?,
            produces_dataset,
            checks,
            reads,
            deps: Vec::new(),
            retries: retries.unwrap_or(0),
            retry_delay: retry_delay.unwrap_or(DEFAULT_RETRY_DELAY),
            timeout,
            env,
            cache: cache.unwrap_or(true),
            secrets,
            allow_local,
            mark,
        };
        Some((task, after))
    }
}
