//! Pipeline files, in two phases: the YAML tree (with positions) is walked once, every problem
//! is collected as a [`Diagnostic`], and only a file without problems becomes a [`Pipeline`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

mod compile;
mod tasks;

pub use compile::valid_name;

use crate::de::DeError;
use crate::diag::{Diagnostic, Diagnostics};
use crate::yaml::{self, Mark, Node};

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
    "on_failure",
    "on_success",
    "on_retry",
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
    "pool",
    "owner",
    "tags",
    "docs",
    "on_failure",
    "on_success",
    "on_retry",
];

/// Keys of a parameter's long form (`out: { default: out, api: true }`).
pub const PARAM_KEYS: &[&str] = &[
    "default",
    "by_env",
    "description",
    "api",
    "type",
    "pattern",
    "secret",
];

/// The environment variable naming the environment pipelines are loaded for (`dev`,
/// `staging`, `prod`…): it picks `schedule:` maps' entries and parameters' `by_env:` values.
pub const ENVIRONMENT_VAR: &str = "SLUICE_ENV";

/// The environment when [`ENVIRONMENT_VAR`] is not set.
pub const DEFAULT_ENVIRONMENT: &str = "dev";

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

/// Where to tell that something happened: a webhook whose URL (a secret) is in an
/// environment variable, POSTed a Slack-compatible JSON body (`{"text": …}` and the facts).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Notify {
    /// The environment variable holding the webhook's URL (read when an alert is sent).
    pub webhook_env: String,
}

/// The notifications of a pipeline (about its runs and any task) or of one task.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Alerts {
    /// When it fails (a run: once, at its end; a task: after its last attempt).
    pub on_failure: Option<Notify>,
    /// When it succeeds.
    pub on_success: Option<Notify>,
    /// When an attempt fails and another follows.
    pub on_retry: Option<Notify>,
}

impl Alerts {
    /// Whether none is set.
    pub fn is_empty(&self) -> bool {
        self.on_failure.is_none() && self.on_success.is_none() && self.on_retry.is_none()
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
    /// Notifications about its runs (and, for `on_retry`, any task's retries).
    pub alerts: Alerts,
    /// Tasks in file order.
    pub tasks: Vec<Task>,
    /// The file as given.
    pub file: PathBuf,
    /// Directory tasks run in: the file's directory.
    pub dir: PathBuf,
}

/// What a task's dataset says of itself for catalogs (`owner:`, `tags:`, `docs:`): its
/// owners and tags, and each column's description, tags and whether it holds personal data.
/// Not part of the fingerprint: changing it runs nothing again.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Docs {
    /// Who answers for the dataset (people or teams, as the catalog names them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub owners: Vec<String>,
    /// Its tags.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// Its columns, by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub columns: BTreeMap<String, ColumnDoc>,
}

impl Docs {
    /// Whether nothing is said.
    pub fn is_empty(&self) -> bool {
        self.owners.is_empty() && self.tags.is_empty() && self.columns.is_empty()
    }
}

/// What is said of one column.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ColumnDoc {
    /// What it holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Its tags.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// It holds personal data (names, addresses, identifiers of people).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub pii: bool,
}

/// One validated task.
#[derive(Debug, Clone)]
pub struct Task {
    /// Name, unique in the pipeline.
    pub name: String,
    /// Free text.
    pub description: Option<String>,
    /// Owners, tags and column descriptions for catalogs.
    pub docs: Docs,
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
    /// The label a worker must have to run it (`pool: gpu`), with `--executor workers`.
    pub pool: Option<String>,
    /// Where the task is defined.
    pub mark: Mark,
    /// The file the task comes from when it is not the pipeline's (a dbt model), relative
    /// to the pipeline's folder.
    pub source: Option<PathBuf>,
    /// Notifications about this task.
    pub alerts: Alerts,
}

impl Task {
    /// Its op's name (`sql`, `test`…), or `None` for a `run:` command.
    pub fn op(&self) -> Option<&str> {
        match &self.kind {
            TaskKind::Op { op, .. } => Some(op),
            TaskKind::Run { .. } => None,
        }
    }
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
    compile_node(&root, file, opts)
}

/// Validates a pipeline given as a YAML tree (one a tool built, such as a dbt project's);
/// `file` is used in messages and to find the directory tasks run in.
pub fn compile_node(
    root: &Node,
    file: &Path,
    opts: &LoadOptions<'_>,
) -> Result<Pipeline, Diagnostics> {
    match compile::compile(root, file, opts) {
        (Some(p), diags) if diags.is_empty() => Ok(p),
        (_, diags) => Err(Diagnostics::new(file, diags)),
    }
}
